#include "common/os_release.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <optional>
#include <sstream>

#include "common/chase.hpp"
#include "common/fd.hpp"
#include "common/fileio.hpp"

namespace berth {

namespace {
constexpr size_t kOsReleaseMax = 64 << 10;

std::string unquote(std::string v) {
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
        char q = v.front();
        v = v.substr(1, v.size() - 2);
        if (q == '"') {
            std::string out;
            // As in the shell: inside double quotes a backslash escapes only the characters " \ $ `.
            for (size_t i = 0; i < v.size(); i++) {
                if (v[i] == '\\' && i + 1 < v.size() && std::string_view("\"\\$`").find(v[i + 1]) != std::string_view::npos) i++;
                out += v[i];
            }
            return out;
        }
    }
    return v;
}
}  // namespace

OsRelease parse_os_release(const std::string& text) {
    OsRelease out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = line.substr(first, eq - first);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        // A shell variable name, or not an assignment (systemd skips such lines too).
        bool name = !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0]));
        for (char c : key) name = name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
        if (!name) continue;
        std::string value = line.substr(eq + 1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
            value.pop_back();
        out[key] = unquote(value);
    }
    return out;
}

Result<OsRelease> read_os_release_at(int rootfd) {
    // The first of the two that is there; one that is there but not a sane regular file (a FIFO, a huge
    // file: a guest may plant either) is skipped, and its error is the answer when the other is missing.
    std::optional<Error> first;
    for (const char* p : {"/etc/os-release", "/usr/lib/os-release"}) {
        auto text = read_untrusted_file(rootfd, p, kOsReleaseMax);
        if (text.ok()) return parse_os_release(*text);
        if (text.error().code != ENOENT && !first) first = text.error();
    }
    if (first) return *first;
    return plain_error("No os-release file found", ENOENT);
}

}  // namespace berth
