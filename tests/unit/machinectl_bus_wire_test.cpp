// machinectl/bus_wire.hpp, the launcher's D-Bus client, against sd-bus itself: a peer-to-peer sd-bus
// server on a socket in a temporary directory authenticates it, reads its method calls (arguments and
// fds) and answers them. Plus the parser on messages no peer of ours would send.
#include "machinectl/bus_wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/fd_passing.hpp"
#include "tests/unit/temp_tree.hpp"

namespace wire = berth::machinectl::wire;

namespace {

// What the server saw of the client's Execute call.
struct Seen {
    std::string user, path;
    std::vector<std::string> args, env;
    std::vector<struct stat> fds;
    std::string error;
};

std::vector<std::string> read_strv(sd_bus_message* m) {
    char** strv = nullptr;
    std::vector<std::string> out;
    if (sd_bus_message_read_strv(m, &strv) < 0) return {"<unreadable>"};
    for (char** s = strv; s && *s; s++) {
        out.emplace_back(*s);
        free(*s);
    }
    free(strv);
    return out;
}

// One connection, served by sd-bus until Execute was answered: Hello with a unique name, Execute with a
// pipe's read end (its write end says "exited 7\n") or with an error when `fail` is set.
void serve(int listener, Seen& seen, bool fail) {
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 10'000) != 1) {  // the client gave up before connecting
        seen.error = "no connection within 10 s";
        return;
    }
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    sd_bus* bus = nullptr;
    sd_id128_t id;
    sd_id128_randomize(&id);
    if (fd < 0 || sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, fd, fd) < 0 || sd_bus_set_server(bus, 1, id) < 0 ||
        sd_bus_negotiate_fds(bus, 1) < 0 || sd_bus_start(bus) < 0) {
        seen.error = "the sd-bus server did not start";
        return;
    }
    bool done = false;
    while (!done) {
        sd_bus_message* m = nullptr;
        int r = sd_bus_process(bus, &m);
        if (r < 0) {
            seen.error = std::string("sd_bus_process: ") + strerror(-r);
            break;
        }
        if (!m) {
            if (r == 0 && sd_bus_wait(bus, 10'000'000) <= 0) {
                seen.error = "no call within 10 s";
                break;
            }
            continue;
        }
        if (sd_bus_message_is_method_call(m, "org.freedesktop.DBus", "Hello")) {
            sd_bus_reply_method_return(m, "s", ":1.42");
        } else if (sd_bus_message_is_method_call(m, "io.berth.Machine1", "Execute")) {
            const char *user = nullptr, *path = nullptr;
            sd_bus_message_read(m, "ss", &user, &path);
            seen.user = user ? user : "<none>";
            seen.path = path ? path : "<none>";
            seen.args = read_strv(m);
            seen.env = read_strv(m);
            int a = -1, b = -1, c = -1;
            sd_bus_message_read(m, "hhh", &a, &b, &c);
            for (int f : {a, b, c}) {
                struct stat st {};
                fstat(f, &st);
                seen.fds.push_back(st);
            }
            if (std::string(sd_bus_message_get_path(m)) != "/org/freedesktop/machine1/machine/web_2d1")
                seen.error = std::string("called on ") + sd_bus_message_get_path(m);
            if (fail) {
                sd_bus_reply_method_errorf(m, "org.freedesktop.machine1.NoSuchMachine", "No machine 'web-1' known");
            } else {
                int p[2];
                if (pipe2(p, O_CLOEXEC) == 0) {
                    (void)!write(p[1], "exited 7\n", 9);
                    close(p[1]);
                    sd_bus_reply_method_return(m, "h", p[0]);
                    close(p[0]);
                }
            }
            sd_bus_flush(bus);
            done = true;
        }
        sd_bus_message_unref(m);
    }
    sd_bus_flush_close_unref(bus);
}

class BusWire : public ::testing::Test {
protected:
    void SetUp() override {
        listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        socket_path_ = dir_.path() + "/bus";
        std::strncpy(sa.sun_path, socket_path_.c_str(), sizeof sa.sun_path - 1);
        ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ASSERT_EQ(listen(listener_, 1), 0);
    }
    void TearDown() override { close(listener_); }

    // Runs one Execute of machinectl's launcher against the server; the reply's fd (or -1) and its type.
    int execute(Seen& seen, bool fail, wire::MessageType& type) {
        std::thread server(serve, listener_, std::ref(seen), fail);
        wire::UnixAddress address;
        int status = -1;
        type = wire::MessageType::Invalid;
        if (wire::parse_address("unix:path=" + socket_path_, address)) {
            int sock = wire::connect_and_authenticate(address, 10'000);
            if (sock >= 0) {
                wire::Buffer hello, call;
                wire::MethodCall(hello, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                 "Hello", nullptr)
                    .end();
                wire::MethodCall c(call, 2, "org.freedesktop.machine1", "/org/freedesktop/machine1/machine/web_2d1",
                                   "io.berth.Machine1", "Execute", "ssasashhh");
                c.add_string("");
                c.add_string("/bin/echo");
                c.begin_array();
                for (auto a : {"/bin/echo", "two words", "", "\xc3\xa9t\xc3\xa9"}) c.add_string(a);
                c.end_array();
                c.begin_array();
                c.add_string("A=1");
                c.end_array();
                for (int i = 0; i < 3; i++) c.add_fd();
                c.end();
                int fds[3] = {in_.get(), out_.get(), err_.get()};
                wire::Receiver receiver;
                wire::Message reply;
                if (wire::send_message(sock, hello, nullptr, 0) && wire::send_message(sock, call, fds, 3) &&
                    receiver.wait_reply(sock, 2, 10'000, reply)) {
                    type = reply.type;
                    uint32_t index = 0;
                    if (reply.type == wire::MessageType::MethodReturn && reply.signature == "h" &&
                        wire::first_u32(reply, index))
                        status = receiver.take_fd(index);
                    if (reply.type == wire::MessageType::Error) {
                        error_name_ = reply.error_name;
                        error_text_ = wire::first_string(reply);
                    }
                }
                close(sock);
            }
        }
        server.join();
        return status;
    }

    struct Fd {
        int fd;
        explicit Fd(const char* path, int flags) : fd(open(path, flags | O_CLOEXEC)) {}
        ~Fd() { close(fd); }
        int get() const { return fd; }
    };
    TempTree dir_;
    std::string socket_path_;
    int listener_ = -1;
    Fd in_{"/dev/null", O_RDONLY}, out_{"/dev/zero", O_WRONLY}, err_{"/", O_RDONLY | O_DIRECTORY};
    std::string error_name_, error_text_;
};

}  // namespace

TEST_F(BusWire, SdBusReadsTheCallItsArgumentsAndFdsAndTheReplysFdComesBack) {
    Seen seen;
    wire::MessageType type;
    int status = execute(seen, false, type);
    EXPECT_EQ(seen.error, "");
    EXPECT_EQ(seen.user, "");
    EXPECT_EQ(seen.path, "/bin/echo");
    EXPECT_EQ(seen.args, (std::vector<std::string>{"/bin/echo", "two words", "", "\xc3\xa9t\xc3\xa9"}));
    EXPECT_EQ(seen.env, std::vector<std::string>{"A=1"});
    ASSERT_EQ(seen.fds.size(), 3u);
    // The very files we sent, in order.
    int ours[3] = {in_.get(), out_.get(), err_.get()};
    for (int i = 0; i < 3; i++) {
        struct stat st {};
        fstat(ours[i], &st);
        EXPECT_EQ(seen.fds[i].st_ino, st.st_ino) << i;
        EXPECT_EQ(seen.fds[i].st_dev, st.st_dev) << i;
    }
    EXPECT_EQ(type, wire::MessageType::MethodReturn);
    ASSERT_GE(status, 0);
    char buf[32] = {};
    EXPECT_EQ(read(status, buf, sizeof buf), 9);
    EXPECT_STREQ(buf, "exited 7\n");
    EXPECT_NE(fcntl(status, F_GETFD) & FD_CLOEXEC, 0);
    close(status);
}

TEST_F(BusWire, AnErrorReplyHasItsNameAndText) {
    Seen seen;
    wire::MessageType type;
    EXPECT_EQ(execute(seen, true, type), -1);
    EXPECT_EQ(type, wire::MessageType::Error);
    EXPECT_EQ(error_name_, "org.freedesktop.machine1.NoSuchMachine");
    EXPECT_EQ(error_text_, "No machine 'web-1' known");
}

TEST(BusWireAddress, UnixPathsAndAbstractNamesWithEscapes) {
    wire::UnixAddress a;
    ASSERT_TRUE(wire::parse_address("unix:path=/run/dbus/system_bus_socket", a));
    EXPECT_EQ(std::string(a.bytes, a.length), "/run/dbus/system_bus_socket");
    ASSERT_TRUE(wire::parse_address("unix:path=/tmp/a%20b%2cc,guid=0123456789abcdef0123456789abcdef", a));
    EXPECT_EQ(std::string(a.bytes, a.length), "/tmp/a b,c");
    ASSERT_TRUE(wire::parse_address("unix:abstract=/tmp/dbus-x", a));
    EXPECT_EQ(std::string(a.bytes, a.length), std::string("\0/tmp/dbus-x", 12));
}

TEST(BusWireAddress, WhatItDoesNotSpeakIsRefusedNotGuessed) {
    wire::UnixAddress a;
    for (std::string bad : std::vector<std::string>{"", "unix:", "unix:path=", "tcp:host=localhost,port=1", "unix:tmpdir=/tmp",
                            "unix:runtime=yes", "unix:path=/a;unix:path=/b", "unix:path=/a,abstract=b",
                            "unix:path=/a%2", "unix:path=/a%zz", "unix:path=/a%00b", "unix:path",
                            "unix:path=/" + std::string(200, 'x'), "x-machine-unix:machine=web"})
        EXPECT_FALSE(wire::parse_address(bad, a)) << bad;
}

TEST(BusWireMessage, ABigEndianErrorIsRead) {
    // ERROR, serial 9, REPLY_SERIAL 2, ERROR_NAME "a.B", SIGNATURE "s"; body "hi".
    std::string m("B\x03\x00\x01", 4);
    m += std::string("\x00\x00\x00\x07", 4) + std::string("\x00\x00\x00\x09", 4) + std::string("\x00\x00\x00\x1f", 4);
    m += std::string("\x05\x01u\x00\x00\x00\x00\x02", 8);                       // REPLY_SERIAL 2
    m += std::string("\x04\x01s\x00\x00\x00\x00\x03" "a.B\x00", 12);            // ERROR_NAME, then padding
    m += std::string("\x00\x00\x00\x00", 4);
    m += std::string("\x08\x01g\x00\x01s\x00", 7);                              // SIGNATURE "s"
    m += std::string(1, '\0');                                                  // to 8
    m += std::string("\x00\x00\x00\x02hi\x00", 7);
    ASSERT_EQ(wire::message_length(m.data(), m.size()), m.size());
    wire::Message msg;
    ASSERT_TRUE(wire::parse_message(m.data(), m.size(), msg));
    EXPECT_EQ(msg.type, wire::MessageType::Error);
    EXPECT_EQ(msg.reply_serial, 2u);
    EXPECT_EQ(msg.error_name, "a.B");
    EXPECT_EQ(wire::first_string(msg), "hi");
}

TEST(BusWireMessage, MalformedMessagesAreRefused) {
    wire::Buffer b;
    wire::MethodCall(b, 1, "d.e", "/p", "i.f", "M", "s").end();
    std::string good(b.data(), b.size());
    wire::Message msg;
    ASSERT_TRUE(wire::parse_message(good.data(), good.size(), msg));
    EXPECT_EQ(msg.type, wire::MessageType::MethodCall);
    EXPECT_EQ(wire::message_length(good.data(), 15), 0u);  // not all of the fixed header yet
    std::string bad_version = good;
    bad_version[3] = 2;
    EXPECT_EQ(wire::message_length(bad_version.data(), bad_version.size()), SIZE_MAX);
    // Every shorter prefix is incomplete, never parsed.
    for (size_t n = 16; n < good.size(); n++) EXPECT_FALSE(wire::parse_message(good.data(), n, msg)) << n;
    // The PATH field: code at 16, signature "o" at 17-19, length at 20, "/p" and its NUL at 24-26, padding.
    ASSERT_EQ(good[16], 1);
    ASSERT_EQ(good.substr(24, 3), std::string("/p\0", 3));
    for (auto [at, value] : {std::pair{20, 200}, {26, 'x'}, {27, 1}, {18, 'v'}}) {
        std::string broken = good;
        broken[at] = static_cast<char>(value);
        EXPECT_FALSE(wire::parse_message(broken.data(), broken.size(), msg)) << at;
    }
    // A reply without REPLY_SERIAL is no reply.
    std::string no_serial = good;
    no_serial[1] = static_cast<char>(wire::MessageType::MethodReturn);
    EXPECT_FALSE(wire::parse_message(no_serial.data(), no_serial.size(), msg));
}

namespace {

// A message the bus could send, little-endian: `type` (signal or method return), REPLY_SERIAL when not 0,
// one UNIX_FD argument (index 0), UNIX_FDS 1.
std::string message_with_fd(wire::MessageType type, uint32_t reply_serial) {
    auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    std::string fields;
    if (reply_serial) fields += std::string("\x05\x01u\x00", 4) + u32(reply_serial);
    if (type == wire::MessageType::Signal) {  // PATH, INTERFACE and MEMBER, as a signal must have
        fields += std::string("\x01\x01o\x00", 4) + u32(2) + std::string("/p\0", 3) + std::string(5, '\0');
        fields += std::string("\x02\x01s\x00", 4) + u32(3) + std::string("a.b\0", 4) + std::string(4, '\0');
        fields += std::string("\x03\x01s\x00", 4) + u32(1) + std::string("M\0", 2) + std::string(6, '\0');
    }
    fields += std::string("\x08\x01g\x00\x01h\x00", 7) + std::string(1, '\0');
    fields += std::string("\x09\x01u\x00", 4) + u32(1);
    std::string m = std::string("l") + static_cast<char>(type) + std::string("\x00\x01", 2) + u32(4) + u32(77) +
                    u32(static_cast<uint32_t>(fields.size()));
    return m + fields + u32(0);  // the fields end 8-aligned here: the body follows at once
}

bool send_with(int sock, const std::string& bytes, int fd) {
    return berth::send_with_fd(sock, bytes.data(), bytes.size(), fd) == static_cast<ssize_t>(bytes.size());
}

}  // namespace

// The fd of a signal that comes first is closed; the reply's own is the one handed out, and only once.
TEST(BusWireReceiver, EachMessageKeepsItsOwnFdsAndTheOthersAreClosed) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int pipe_fds[2];
    ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(null, 0);
    ASSERT_TRUE(send_with(sv[1], message_with_fd(wire::MessageType::Signal, 0), pipe_fds[0]));
    ASSERT_TRUE(send_with(sv[1], message_with_fd(wire::MessageType::MethodReturn, 2), null));
    close(pipe_fds[0]);  // ours: the receiver's copy is the pipe's last read end
    int taken = -1;
    {
        wire::Receiver r;
        wire::Message reply;
        ASSERT_TRUE(r.wait_reply(sv[0], 2, 5000, reply));
        EXPECT_EQ(reply.type, wire::MessageType::MethodReturn);
        EXPECT_EQ(reply.unix_fds, 1u);
        // The signal's fd went with the signal: nobody reads the pipe any more.
        signal(SIGPIPE, SIG_IGN);
        EXPECT_EQ(write(pipe_fds[1], "x", 1), -1);
        EXPECT_EQ(errno, EPIPE);
        uint32_t index = 99;
        ASSERT_TRUE(wire::first_u32(reply, index));
        EXPECT_EQ(index, 0u);
        taken = r.take_fd(index);
        EXPECT_EQ(r.take_fd(index), -1);
        EXPECT_EQ(r.take_fd(1), -1);
    }
    ASSERT_GE(taken, 0);
    struct stat a {}, b {};
    fstat(taken, &a);
    fstat(null, &b);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_rdev, b.st_rdev);
    EXPECT_NE(taken, null);
    close(taken);
    close(null);
    close(pipe_fds[1]);
    close(sv[0]);
    close(sv[1]);
}

TEST(BusWireString, OnlyWhatDBusCarriesIsValid) {
    EXPECT_TRUE(wire::valid_string(""));
    EXPECT_TRUE(wire::valid_string("/bin/echo"));
    EXPECT_TRUE(wire::valid_string("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    for (std::string bad : std::vector<std::string>{std::string("a\0b", 3), "\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf",
                                                     "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xef\xbf\xbe", "\xef\xb7\x90",
                                                     "\x80", "ab\xe2\x82"})
        EXPECT_FALSE(wire::valid_string(bad)) << testing::PrintToString(bad);
}
