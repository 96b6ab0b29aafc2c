// Build step: writes seccomp_builtin.cpp, the system call filter of the default privileges compiled by
// the very code nspawn runs, so that nspawn need not compile it at every start (see builtin_seccomp()).
// Usage: berth-seccomp-gen OUTPUT.cpp
#include <cstdio>

#include "nspawn/caps.hpp"
#include "nspawn/seccomp.hpp"

using namespace berth::nspawn;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT.cpp\n", argv[0]);
        return 2;
    }
    Privileges p;
    p.capabilities = default_capabilities(false);  // NET_ADMIN (private network) changes no entry
    auto deny = denied_calls(p);
    auto prog = compile_denied(deny);
    if (!prog.ok()) {
        std::fprintf(stderr, "%s\n", prog.error().message.c_str());
        return 1;
    }
    FILE* out = std::fopen(argv[1], "w");
    if (!out) {
        std::perror(argv[1]);
        return 1;
    }
    std::fprintf(out,
                 "// Generated at build time by berth-seccomp-gen (nspawn/seccomp_gen.cpp): do not edit.\n"
                 "#include \"nspawn/seccomp.hpp\"\n\nnamespace berth::nspawn {\nnamespace {\n\n"
                 "constexpr std::string_view kDenied[] = {\n");
    for (auto& d : deny) std::fprintf(out, "    \"%s\",\n", d.c_str());
    std::fprintf(out, "};\n\nconstexpr sock_filter kCode[] = {\n");
    for (auto& i : prog->code) std::fprintf(out, "    {0x%x, %u, %u, 0x%x},\n", i.code, i.jt, i.jf, i.k);
    std::fprintf(out,
                 "};\n\nconst BuiltinSeccomp kBuiltin{kDenied, kCode};\n\n}  // namespace\n\n"
                 "const BuiltinSeccomp* builtin_seccomp() { return &kBuiltin; }\n\n}  // namespace berth::nspawn\n");
    return std::fclose(out) == 0 ? 0 : 1;
}
