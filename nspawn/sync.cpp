#include "nspawn/sync.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "common/fd_passing.hpp"

namespace berth::nspawn {

namespace {
struct Header {
    Stage stage;
    int32_t err;
};
constexpr size_t kMaxText = 4096;
}  // namespace

const char* stage_name(Stage s) {
    switch (s) {
        case Stage::ParentConfigured: return "parent-configured";
        case Stage::RootMount: return "root-mount";
        case Stage::SysMount: return "sys-mount";
        case Stage::BindMount: return "bind-mount";
        case Stage::ConsoleMaster: return "console-master";
        case Stage::NotifySocket: return "notify-socket";
        case Stage::ChildReady: return "child-ready";
        case Stage::Go: return "go";
        case Stage::Failed: return "failed";
        case Stage::NetworkNamespace: return "network-namespace";
        case Stage::OverlayMount: return "overlay-mount";
    }
    return "?";
}

Result<std::pair<Channel, Channel>> Channel::make_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return errno_error("Failed to create the sync socket pair");
    return std::make_pair(Channel(UniqueFd(sv[0])), Channel(UniqueFd(sv[1])));
}

Status Channel::send(Stage stage, int fd) const {
    Header h{stage, 0};
    while (send_with_fd(fd_.get(), &h, sizeof h, fd) < 0) {
        int err = errno;
        if (err == EINTR) continue;
        Error e = sys_error(err, fmt::format("Failed to send stage {}", stage_name(stage)));
        if (err == EPIPE || err == ECONNRESET) {
            // The peer is gone; the reason may be waiting among the messages it sent before.
            for (;;) {
                pollfd p{fd_.get(), POLLIN, 0};
                if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) break;
                auto m = recv();
                if (!m.ok()) break;
                if (m->stage == Stage::Failed) return m->error;
            }
        }
        return e;
    }
    return {};
}

Status Channel::send_error(const Error& e) const {
    std::string buf(sizeof(Header), '\0');
    Header h{Stage::Failed, e.code};
    std::memcpy(buf.data(), &h, sizeof h);
    buf += e.message.substr(0, kMaxText);
    if (::send(fd_.get(), buf.data(), buf.size(), MSG_NOSIGNAL) < 0) return errno_error("Failed to send error");
    return {};
}

Result<Message> Channel::recv() const {
    char buf[sizeof(Header) + kMaxText];
    Message m;
    ssize_t n = recv_with_fd(fd_.get(), buf, sizeof buf, m.fd);
    if (n < 0) return errno_error("Failed to receive from the machine's setup");
    if (n == 0) return plain_error("the other side of the setup exited", EPIPE);
    if (static_cast<size_t>(n) < sizeof(Header)) return plain_error("short sync message", EPROTO);
    Header h;
    std::memcpy(&h, buf, sizeof h);
    m.stage = h.stage;
    if (m.stage == Stage::Failed)
        m.error = Error{h.err, std::string(buf + sizeof(Header), n - sizeof(Header))};
    return m;
}

Result<Message> Channel::expect(Stage want) const {
    BERTH_ASSIGN(Message m, recv());
    if (m.stage == Stage::Failed) return m.error;
    if (m.stage != want)
        return plain_error(fmt::format("Expected setup stage {}, got {}", stage_name(want), stage_name(m.stage)),
                           EPROTO);
    return m;
}

}  // namespace berth::nspawn
