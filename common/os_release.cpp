#include "os_release.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

#include "fd.hpp"
#include "fileio.hpp"

namespace berth {

namespace {
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
        std::string value = line.substr(eq + 1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
            value.pop_back();
        out[key] = unquote(value);
    }
    return out;
}

Result<OsRelease> read_os_release_at(int rootfd) {
    for (const char* p : {"etc/os-release", "usr/lib/os-release"}) {
        open_how how{};
        how.flags = O_RDONLY | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT;
        int fd = static_cast<int>(::syscall(SYS_openat2, rootfd, p, &how, sizeof how));
        if (fd < 0) continue;
        UniqueFd guard(fd);
        BERTH_ASSIGN(std::string text, read_fd(fd, p));
        return parse_os_release(text);
    }
    return plain_error("No os-release file found", ENOENT);
}

}  // namespace berth
