#include "common/seccomp_record.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/fileio.hpp"
#include "common/paths.hpp"

namespace berth {

namespace {
// "berth-seccomp 1 LEADER\n" and the program's instructions as the kernel takes them (native byte order:
// the record never leaves this host).
constexpr const char* kMagic = "berth-seccomp 1 ";
constexpr size_t kMaxInstructions = BPF_MAXINSNS;
}  // namespace

std::string format_seccomp_record(pid_t leader, std::span<const sock_filter> code) {
    std::string out = fmt::format("{}{}\n", kMagic, leader);
    out.append(reinterpret_cast<const char*>(code.data()), code.size_bytes());
    return out;
}

Result<SeccompRecord> parse_seccomp_record(const std::string& text, const std::string& what) {
    auto bad = [&](const char* why) { return plain_error(fmt::format("Malformed system call filter record {}: {}", what, why), EBADMSG); };
    size_t magic = std::strlen(kMagic);
    if (text.compare(0, magic, kMagic) != 0) return bad("no header");
    size_t nl = text.find('\n', magic);
    if (nl == std::string::npos) return bad("no end of header");
    SeccompRecord r;
    long leader = 0;
    for (size_t i = magic; i < nl; i++) {
        if (text[i] < '0' || text[i] > '9' || leader > 1'000'000'000) return bad("bad leader");
        leader = leader * 10 + (text[i] - '0');
    }
    if (leader <= 0) return bad("bad leader");
    r.leader = static_cast<pid_t>(leader);
    size_t bytes = text.size() - nl - 1;
    if (bytes == 0 || bytes % sizeof(sock_filter) != 0 || bytes / sizeof(sock_filter) > kMaxInstructions)
        return bad("bad program size");
    r.code.resize(bytes / sizeof(sock_filter));
    std::memcpy(r.code.data(), text.data() + nl + 1, bytes);
    return r;
}

Status write_seccomp_record(const std::string& machine, pid_t leader, std::span<const sock_filter> code) {
    std::string text = format_seccomp_record(leader, code);
    // The directory goes with its last record (nothing of berth stays in /run/berth while no machine runs):
    // another nspawn may remove it between our mkdir and our write, so try again then.
    for (int attempt = 0;; attempt++) {
        if (::mkdir(paths::kSeccompRecords, 0700) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create {}", paths::kSeccompRecords));
        auto s = write_file_atomic(paths::seccomp_record(machine), text, 0600, Durability::ProcessCrash);
        if (s.ok() || s.error().code != ENOENT || attempt == 5) return s;
    }
}

Result<SeccompRecord> read_seccomp_record(const std::string& machine) {
    std::string path = paths::seccomp_record(machine);
    BERTH_ASSIGN(std::string text, read_file(path));
    return parse_seccomp_record(text, path);
}

void remove_seccomp_record(const std::string& machine) {
    (void)::unlink(paths::seccomp_record(machine).c_str());
    (void)::rmdir(paths::kSeccompRecords);  // only when no other machine's record is in it
}

}  // namespace berth
