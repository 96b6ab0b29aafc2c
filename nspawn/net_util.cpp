#include "nspawn/net_util.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sstream>

#include "common/fileio.hpp"
#include "common/paths.hpp"

namespace berth::nspawn::net {

uint64_t hash64(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a splitmix finalizer to spread the bits
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

std::string ip4(uint32_t a) {
    return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

std::string field(const std::string& text, std::string_view key) {
    std::string k = std::string(key) + "=";
    size_t at = 0;
    while ((at = text.find(k, at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == ' ') {
            size_t end = text.find(' ', at);
            return text.substr(at + k.size(), end == std::string::npos ? std::string::npos : end - at - k.size());
        }
        at += k.size();
    }
    return "";
}

// Read from /proc/locks rather than by taking the lock,
// which would make a start of that machine fail with "already running" in the meantime.
bool machine_running(const std::string& machine) {
    struct stat st {};
    if (::stat(paths::machine_lock(machine).c_str(), &st) < 0) return false;
    auto locks = read_file("/proc/locks");
    if (!locks.ok()) return true;  // when in doubt, leave it alone
    std::string id = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                 static_cast<unsigned long>(st.st_ino));
    std::istringstream in(*locks);
    for (std::string line; std::getline(in, line);) {
        if (line.find("FLOCK") == std::string::npos || line.find("->") != std::string::npos) continue;
        std::istringstream words(line);
        for (std::string w; words >> w;)
            if (w == id) return true;
    }
    return false;
}

// Held while shared objects change (zone bridges, link-local subnets, the nft table and ip_forward):
// a flock on the lock directory, which exists whenever a machine runs and nobody else locks.
Result<UniqueFd> lock_network() {
    ::mkdir("/run/berth", 0755);
    ::mkdir(paths::kLocks, 0700);
    UniqueFd fd(::open(paths::kLocks, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open {}", paths::kLocks));
    while (::flock(fd.get(), LOCK_EX) < 0)
        if (errno != EINTR) return errno_error(fmt::format("Failed to lock {}", paths::kLocks));
    return fd;
}

std::string trim_nl(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace berth::nspawn::net
