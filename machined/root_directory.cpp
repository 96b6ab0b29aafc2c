#include "machined/root_directory.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "machined/bus_error.hpp"
#include "machined/daemon.hpp"

namespace berth::machined {

namespace {

constexpr int kHelperTimeoutMs = 5000;

// The child's half: open `path`, send the descriptor (or errno as the one byte of data with none).
[[noreturn]] void send_opened(int sock, const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    iovec iov{&err, sizeof err};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))]{};
    if (fd >= 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ::_exit(::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
}

Result<UniqueFd> receive_opened(int sock, const std::string& what) {
    pollfd p{sock, POLLIN, 0};
    int ready;
    while ((ready = ::poll(&p, 1, kHelperTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (ready == 0) return plain_error(fmt::format("Failed to {}: no answer within {} s", what, kHelperTimeoutMs / 1000), ETIMEDOUT);
    int err = 0;
    iovec iov{&err, sizeof err};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))]{};
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n != sizeof err) return plain_error(fmt::format("Failed to {}", what), EIO);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        return UniqueFd(fd);
    }
    return sys_error(err ? err : EIO, fmt::format("Failed to {}", what));
}

bool exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

}  // namespace

Result<UniqueFd> open_machine_root(const Machine& m) {
    std::string path = m.is_host() ? "/" : fmt::format("/proc/{}/root", m.leader);
    std::string what = fmt::format("open the root directory of machine \"{}\"", m.name);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return errno_error("Failed to create a socket pair");
    UniqueFd ours(sv[0]), theirs(sv[1]);
    pid_t child = ::fork();
    if (child < 0) return errno_error("Failed to fork");
    if (child == 0) {
        ours.reset();
        send_opened(theirs.get(), path);
    }
    theirs.reset();
    auto fd = receive_opened(ours.get(), what);
    ::kill(child, SIGKILL);  // done, or stuck in the guest's filesystem
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (!fd.ok()) return fd.error();
    if (!m.is_host() && (!m.pidfd || exited(m.pidfd.get())))
        return plain_error(fmt::format("Failed to {}: its leader exited", what), ESRCH);
    return fd;
}

int reply_root_directory(sd_bus_message* call, Daemon& d, const Machine& m) {
    d.authorize_root(call);
    auto fd = value_or_throw(open_machine_root(m));
    return sd_bus_reply_method_return(call, "h", fd.get());
}

}  // namespace berth::machined
