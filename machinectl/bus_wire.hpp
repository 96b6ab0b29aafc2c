// Just enough of the D-Bus wire protocol for one method call on the system bus, free of the C++ runtime
// and of libsystemd: machinectl's launcher (machinectl/launcher.cpp) runs `machinectl shell NAME CMD` on
// pipes with it, so that the most frequent automated use pays for neither library's loading (see
// docs/machinectl.md, "Speed"). Everything else goes through sdbus-c++ (machinectl/bus.hpp).
//
// What it speaks: a "unix:path=" or "unix:abstract=" address, EXTERNAL authentication with Unix fd
// passing, little-endian messages it writes (both byte orders it reads), header fields of the types the
// specification gives them (o, s, g, u), method calls whose arguments are strings, string arrays and fds.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string_view>

namespace berth::machinectl::wire {

// A growing byte buffer on malloc; `failed()` once an allocation failed (everything after is dropped).
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer();

    void append(const void* bytes, size_t n);
    void pad_to(size_t alignment);  // zero bytes up to a multiple of `alignment`
    void put_u32_at(size_t offset, uint32_t v);
    const char* data() const { return data_; }
    size_t size() const { return size_; }
    bool failed() const { return failed_; }
    void clear() { size_ = 0; }

private:
    char* data_ = nullptr;
    size_t size_ = 0, capacity_ = 0;
    bool failed_ = false;
};

// A method call, little-endian, header and body. The body is written with the add_* calls after begin();
// end() fills in the lengths. `signature` must describe what is added; fds are counted by add_fd().
class MethodCall {
public:
    MethodCall(Buffer& out, uint32_t serial, const char* destination, const char* path, const char* interface,
               const char* member, const char* signature);
    void add_string(std::string_view s);
    // An array of strings: begin_array(), add_string() for each, end_array().
    void begin_array();
    void end_array();
    void add_fd();  // the next fd of those sent along, by index
    void end();
    uint32_t fds() const { return fds_; }

private:
    void add_u32(uint32_t v);
    Buffer& out_;
    size_t start_ = 0, fds_field_ = 0, body_start_ = 0, array_length_at_ = 0, array_start_ = 0;
    uint32_t fds_ = 0;
};

enum class MessageType : uint8_t { Invalid = 0, MethodCall = 1, MethodReturn = 2, Error = 3, Signal = 4 };

// What a received message says that a caller of one method needs.
struct Message {
    MessageType type = MessageType::Invalid;
    uint32_t reply_serial = 0;     // 0: none
    uint32_t unix_fds = 0;         // how many fds the message carries
    std::string_view error_name;   // ERROR_NAME
    std::string_view signature;    // of the body
    const char* body = nullptr;
    size_t body_size = 0;
    bool big_endian = false;
};

// The length of the message at the start of `data` once its fixed header is there (16 bytes, the field
// array's length included): 0 while fewer bytes are there, SIZE_MAX when it is no D-Bus header.
size_t message_length(const char* data, size_t size);
// Parses one whole message (`size` as message_length() said); false when it is malformed.
bool parse_message(const char* data, size_t size, Message& out);
// The first argument of a body that starts with a string (an error's text); "" when it does not.
std::string_view first_string(const Message& m);
// The first argument of a body that starts with a UNIX_FD or UINT32: its index; false when it does not.
bool first_u32(const Message& m, uint32_t& out);

// Whether a D-Bus string may hold `s`: valid UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), no NUL, and no noncharacters (which some buses refuse). What is not is left to sd-bus.
bool valid_string(std::string_view s);

// The socket of a D-Bus address ("unix:path=/run/dbus/system_bus_socket", "unix:abstract=x", with %XX
// escapes and other keys like guid= ignored): a sockaddr_un. false for anything else (another transport,
// several addresses, a path too long).
struct UnixAddress {
    char bytes[110] = {};  // sockaddr_un's sun_path; abstract names start with '\0'
    size_t length = 0;     // of sun_path's used part
};
bool parse_address(std::string_view address, UnixAddress& out);

// A connection that has authenticated (EXTERNAL, as our uid) and agreed on fd passing, or -1 (errno set).
// `timeout_ms` bounds the whole exchange.
int connect_and_authenticate(const UnixAddress& address, int timeout_ms);

// Sends `bytes` with `fds` (SCM_RIGHTS) on `sock`; false (errno set) when not everything went.
bool send_message(int sock, const Buffer& bytes, const int* fds, size_t n_fds);

// Receives messages on `sock` until the reply to `serial` (a method return or an error) is there, within
// `timeout_ms`. The fds that came with it stay in `fds` (the caller closes them); those of other messages
// are closed. false (errno set: ETIMEDOUT, ECONNRESET, EBADMSG, E2BIG...) when there is no reply.
class Receiver {
public:
    Receiver() = default;
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    ~Receiver();
    bool wait_reply(int sock, uint32_t serial, int timeout_ms, Message& reply);
    // The reply's fd number `index`, taken (-1 when there is none): the caller owns it.
    int take_fd(uint32_t index);

private:
    void drop_fds(size_t n);
    Buffer in_;
    size_t consumed_ = 0;  // bytes of in_ already returned as messages
    int fds_[16] = {};
    size_t n_fds_ = 0;
    size_t reply_fds_ = 0;  // the first reply_fds_ of fds_ are the reply's
};

}  // namespace berth::machinectl::wire
