#include "nspawn/sync.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

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
    iovec iov{&h, sizeof h};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    while (::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL) < 0) {
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
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n;
    while ((n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR) return errno_error("Failed to receive from the machine's setup");
    }
    if (n == 0) return plain_error("the other side of the setup exited", EPIPE);
    if (static_cast<size_t>(n) < sizeof(Header)) return plain_error("short sync message", EPROTO);
    Message m;
    Header h;
    std::memcpy(&h, buf, sizeof h);
    m.stage = h.stage;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
            m.fd.reset(fd);
        }
    }
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
