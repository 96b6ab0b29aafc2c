#include "machined/guest_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "common/fd_passing.hpp"

namespace berth::machined {

namespace {

constexpr int kPatienceMs = 5000;

// What the child sends: an errno (0: the fd is attached) and a message.
struct Report {
    int code = 0;
    char text[400] = {};
};

void send_report(int sock, const Report& rep, int fd) { (void)send_with_fd(sock, &rep, sizeof rep, fd); }

}  // namespace

Result<UniqueFd> fd_from_child(const std::string& what, const std::string& machine,
                               const std::function<Result<UniqueFd>()>& open) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return errno_error(fmt::format("Failed to {} in machine \"{}\"", what, machine));
    UniqueFd ours(sv[0]), theirs(sv[1]);
    pid_t pid = ::fork();
    if (pid < 0) return errno_error(fmt::format("Failed to {} in machine \"{}\"", what, machine));
    if (pid == 0) {
        ours.reset();
        Report rep;
        Result<UniqueFd> fd = open();
        if (!fd.ok()) {
            rep.code = fd.error().code ? fd.error().code : EIO;
            std::snprintf(rep.text, sizeof rep.text, "%s", fd.error().message.c_str());
        }
        send_report(theirs.get(), rep, fd.ok() ? fd->get() : -1);
        ::_exit(0);
    }
    theirs.reset();
    auto reap = [&](bool kill) {
        if (kill) ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    };
    pollfd p{ours.get(), POLLIN, 0};
    int r;
    while ((r = ::poll(&p, 1, kPatienceMs)) < 0 && errno == EINTR) {
    }
    if (r <= 0) {
        reap(true);
        return plain_error(fmt::format("Failed to {} in machine \"{}\": no answer within {} s", what, machine,
                                       kPatienceMs / 1000),
                           ETIMEDOUT);
    }
    Report rep;
    UniqueFd fd;
    ssize_t n = recv_with_fd(ours.get(), &rep, sizeof rep, fd);
    reap(false);
    if (n != static_cast<ssize_t>(sizeof rep))
        return plain_error(fmt::format("Failed to {} in machine \"{}\": the helper ended without an answer", what,
                                       machine),
                           EIO);
    if (rep.code != 0) {
        rep.text[sizeof rep.text - 1] = 0;
        return plain_error(rep.text, rep.code);
    }
    if (!fd) return plain_error(fmt::format("Failed to {} in machine \"{}\": no descriptor", what, machine), EIO);
    return fd;
}

namespace {

// The child enters the machine's user and mount namespaces (as the machine's root) and opens there.
Result<UniqueFd> fd_from_machine(const MachineNamespaces& ns, const std::string& machine, const std::string& what,
                                 const std::function<Result<UniqueFd>()>& open) {
    return fd_from_child(what, machine, [&]() -> Result<UniqueFd> {
        BERTH_TRY(enter_machine_namespaces(ns, machine, CLONE_NEWNS));
        return open();
    });
}

}  // namespace

Result<GuestPty> open_machine_pty(const MachineNamespaces& ns, const std::string& machine) {
    BERTH_ASSIGN(UniqueFd master, fd_from_machine(ns, machine, "open a pseudo terminal", [&]() -> Result<UniqueFd> {
        UniqueFd fd(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!fd || ::unlockpt(fd.get()) < 0)
            return errno_error(fmt::format("Failed to open a pseudo terminal in machine \"{}\"", machine));
        return fd;
    }));
    unsigned int n = 0;
    if (::ioctl(master.get(), TIOCGPTN, &n) < 0)
        return errno_error(fmt::format("Failed to name the pseudo terminal of machine \"{}\"", machine));
    return GuestPty{std::move(master), fmt::format("/dev/pts/{}", n)};
}

Result<UniqueFd> connect_in_machine(const MachineNamespaces& ns, const std::string& socket_path,
                                    const std::string& machine) {
    return fd_from_machine(ns, machine, "connect to " + socket_path, [&]() -> Result<UniqueFd> {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (socket_path.size() >= sizeof addr.sun_path) return plain_error("Socket path too long");
        std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size());
        if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            return errno_error(fmt::format("Failed to connect to {} in machine \"{}\"", socket_path, machine));
        return fd;
    });
}

}  // namespace berth::machined
