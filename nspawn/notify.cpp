#include "nspawn/notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/chase.hpp"

namespace berth::nspawn {

Result<UniqueFd> bind_notify_socket_in_child(const Plan& plan, int rootfd) {
    UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return errno_error("Failed to create the notify socket");
    BERTH_ASSIGN(UniqueFd dir, open_in_root(rootfd, "/run/host", O_PATH | O_DIRECTORY));
    // Bind by a short path through our own fd table: the image path may exceed sun_path.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = fmt::format("/proc/self/fd/{}/notify", dir.get());
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return errno_error(fmt::format("Failed to bind /run/host/notify in machine \"{}\"", plan.machine));
    int one = 1;
    (void)::setsockopt(s.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    return s;
}

std::string read_notify_message(int fd) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n <= 0) return {};
    return std::string(buf, n);
}

bool notify_has(const std::string& message, const std::string& assignment) {
    std::istringstream in(message);
    for (std::string line; std::getline(in, line);)
        if (line == assignment) return true;
    return false;
}

void notify_host(const std::string& state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    (void)::sendto(s.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

}  // namespace berth::nspawn
