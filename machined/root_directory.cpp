#include "machined/root_directory.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "machined/bus_error.hpp"
#include "machined/daemon.hpp"
#include "machined/guest_fd.hpp"

namespace berth::machined {

namespace {

bool exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

}  // namespace

Result<UniqueFd> open_machine_root(const Machine& m) {
    std::string path = m.is_host() ? "/" : fmt::format("/proc/{}/root", m.leader);
    // In a child: the open may meet a guest's mount that never answers.
    auto fd = fd_from_child("open the root directory", m.name, [&]() -> Result<UniqueFd> {
        UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) return errno_error(fmt::format("Failed to open the root directory of machine \"{}\"", m.name));
        return dir;
    });
    if (!fd.ok()) return fd.error();
    if (!m.is_host() && (!m.pidfd || exited(m.pidfd.get())))
        return plain_error(fmt::format("Failed to open the root directory of machine \"{}\": its leader exited", m.name),
                           ESRCH);
    return fd;
}

int reply_root_directory(sd_bus_message* call, Daemon& d, const Machine& m) {
    d.authorize_root(call);
    auto fd = value_or_throw(open_machine_root(m));
    return sd_bus_reply_method_return(call, "h", fd.get());
}

}  // namespace berth::machined
