// machinectl's launcher reads the bus's answers itself (machinectl/bus_wire.hpp): whatever bytes come,
// as one message or a stream of them through a socket, are parsed within their bounds or refused, never
// a crash or a read past them.
#include <sys/socket.h>
#include <unistd.h>

#include "machinectl/bus_wire.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace wire = berth::machinectl::wire;

namespace {

bool inside(const char* p, size_t n, const char* data, size_t size) { return !n || (p >= data && p + n <= data + size); }

void check_parts(const wire::Message& m, const char* data, size_t size) {
    using berth::fuzz::check;
    check(inside(m.body, m.body_size, data, size), "a body outside the message");
    check(inside(m.error_name.data(), m.error_name.size(), data, size), "an error name outside the message");
    check(inside(m.signature.data(), m.signature.size(), data, size), "a signature outside the message");
    auto s = wire::first_string(m);
    check(inside(s.data(), s.size(), m.body, m.body_size), "a first string outside the body");
    uint32_t v = 0;
    (void)wire::first_u32(m, v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
    using berth::fuzz::check;
    const char* data = reinterpret_cast<const char*>(bytes);
    size_t len = wire::message_length(data, size);
    wire::Message m;
    if (len != 0 && len != SIZE_MAX && len <= size && wire::parse_message(data, len, m)) check_parts(m, data, len);

    // The same bytes as what a bus sends, then its hangup: the reply to serial 2 is found or refused.
    if (size > 65536) return 0;  // more than a socket buffer surely takes at once
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return 0;
    if (size > 0) (void)!write(sv[1], data, size);
    close(sv[1]);
    {
        wire::Receiver r;
        wire::Message reply;
        if (r.wait_reply(sv[0], 2, 1000, reply)) {
            check(reply.reply_serial == 2, "a reply to another call");
            check(reply.type == wire::MessageType::MethodReturn || reply.type == wire::MessageType::Error,
                  "a reply that is neither a return nor an error");
            check(r.take_fd(0) == -1, "an fd no message carried");
        }
    }
    close(sv[0]);
    return 0;
}
