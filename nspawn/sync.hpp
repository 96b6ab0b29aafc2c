// Named sync stages between the parent (supervisor) and the child (future PID 1), over one SOCK_SEQPACKET
// socketpair. Each message is a stage, with an fd for the stages that carry one (the mounts the parent
// makes for the child, the console master and notify socket the child hands back), or an error (errno +
// text). A child that dies without a word shows up as end-of-file.
//
// In the order of a start: NetworkNamespace (private network only); RootMount and, with the host's network,
// SysMount (user namespace only); one BindMount per --bind; one OverlayMount per --overlay (user namespace
// only); ParentConfigured; ConsoleMaster (when the console is a pty); NotifySocket; ChildReady; Go.
#pragma once

#include <cstdint>
#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::nspawn {

enum class Stage : uint32_t {
    ParentConfigured = 1,  // parent -> child: cgroups, devices and maps are in place, every mount sent; go on
    RootMount,             // parent -> child (user namespace): the machine's root mount (fd)
    SysMount,              // parent -> child (user namespace, host network): the host's /sys, alone (fd)
    BindMount,             // parent -> child: one --bind/--bind-ro, in plan order (fd)
    ConsoleMaster,         // child -> parent: the console pty master (fd)
    NotifySocket,          // child -> parent: the bound notify socket (fd)
    ChildReady,            // child -> parent: the machine is built, only exec is left
    Go,                    // parent -> child: network configured, registered; exec init
    Failed,                // either way: errno + text follow
    NetworkNamespace,      // child -> parent (private network): its network namespace exists
    OverlayMount,          // parent -> child (user namespace): one --overlay/--overlay-ro, in plan order (fd)
};

const char* stage_name(Stage s);

struct Message {
    Stage stage{};
    UniqueFd fd;  // with RootMount, SysMount, BindMount, OverlayMount, ConsoleMaster, NotifySocket
    Error error;  // with Failed
};

class Channel {
public:
    static Result<std::pair<Channel, Channel>> make_pair();
    Channel() = default;
    explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}

    // A peer that failed and exited is reported by the error it sent, not as a broken pipe.
    Status send(Stage stage, int fd = -1) const;
    Status send_error(const Error& e) const;
    // Blocks for the next message; EOF (peer gone) is an error with EPIPE.
    Result<Message> recv() const;
    // Wait for `want`: a Failed message becomes its error, another stage is a protocol error.
    Result<Message> expect(Stage want) const;

    int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }

private:
    UniqueFd fd_;
};

}  // namespace berth::nspawn
