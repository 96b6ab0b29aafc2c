// No C++ runtime here (see bus_wire.hpp): no exceptions, no std::string, no substr() (it may throw).
#include "machinectl/bus_wire.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

namespace berth::machinectl::wire {

namespace {

enum HeaderField : uint8_t { kPath = 1, kInterface = 2, kMember = 3, kErrorName = 4, kReplySerial = 5,
                             kDestination = 6, kSender = 7, kSignature = 8, kUnixFds = 9 };

constexpr size_t kFixedHeader = 16;
constexpr size_t kMaxFds = 16;

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

uint32_t read_u32(const char* p, bool big) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    if (big) return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    return uint32_t(b[3]) << 24 | uint32_t(b[2]) << 16 | uint32_t(b[1]) << 8 | b[0];
}

void write_u32(char* p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}

long long now_ms() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<long long>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

// Waits until `sock` is readable or the deadline passed; false with errno ETIMEDOUT (or poll's).
bool wait_readable(int sock, long long deadline) {
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return false;
        }
        pollfd p{sock, POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(left));
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
}

bool write_all(int sock, const char* data, size_t n) {
    while (n > 0) {
        ssize_t k = send(sock, data, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        data += k;
        n -= static_cast<size_t>(k);
    }
    return true;
}

// A reader of a message's parts at offsets from its start (alignment is from the start).
struct Cursor {
    const char* msg;
    size_t end, at;
    bool big;

    bool align(size_t a) {
        size_t to = align_up(at, a);
        if (to > end) return false;
        for (size_t i = at; i < to; i++)
            if (msg[i] != 0) return false;
        at = to;
        return true;
    }
    bool u8(uint8_t& v) {
        if (at + 1 > end) return false;
        v = static_cast<uint8_t>(msg[at++]);
        return true;
    }
    bool u32(uint32_t& v) {
        if (!align(4) || at + 4 > end) return false;
        v = read_u32(msg + at, big);
        at += 4;
        return true;
    }
    // A string or object path: length, bytes, a terminating NUL and none inside.
    bool string(std::string_view& s) {
        uint32_t n = 0;
        if (!u32(n) || n >= end - at || msg[at + n] != 0 || memchr(msg + at, 0, n)) return false;
        s = std::string_view(msg + at, n);
        at += n + 1;
        return true;
    }
    bool signature(std::string_view& s) {
        uint8_t n = 0;
        if (!u8(n) || n >= end - at || msg[at + n] != 0 || memchr(msg + at, 0, n)) return false;
        s = std::string_view(msg + at, n);
        at += n + 1;
        return true;
    }
    // A value of a basic type with this signature character, skipped; false for any other type.
    bool skip(char type) {
        uint8_t b = 0;
        uint32_t u = 0;
        std::string_view s;
        switch (type) {
        case 'y': return u8(b);
        case 'b': case 'i': case 'u': case 'h': return u32(u);
        case 'n': case 'q':
            if (!align(2) || at + 2 > end) return false;
            at += 2;
            return true;
        case 'x': case 't': case 'd':
            if (!align(8) || at + 8 > end) return false;
            at += 8;
            return true;
        case 's': case 'o': return string(s);
        case 'g': return signature(s);
        default: return false;
        }
    }
};

}  // namespace

// ---- Buffer ----------------------------------------------------------------------------------------

Buffer::~Buffer() { free(data_); }

void Buffer::append(const void* bytes, size_t n) {
    if (failed_) return;
    if (size_ + n > capacity_) {
        size_t want = capacity_ ? capacity_ : 256;
        while (want < size_ + n) want *= 2;
        char* grown = static_cast<char*>(realloc(data_, want));
        if (!grown) {
            failed_ = true;
            return;
        }
        data_ = grown;
        capacity_ = want;
    }
    if (n) memcpy(data_ + size_, bytes, n);
    size_ += n;
}

void Buffer::pad_to(size_t alignment) {
    static const char zeros[8] = {};
    size_t to = align_up(size_, alignment);
    append(zeros, to - size_);
}

void Buffer::put_u32_at(size_t offset, uint32_t v) {
    if (!failed_ && offset + 4 <= size_) write_u32(data_ + offset, v);
}

// ---- MethodCall --------------------------------------------------------------------------------------

namespace {

void put_u32(Buffer& b, uint32_t v) {
    char bytes[4];
    write_u32(bytes, v);
    b.pad_to(4);
    b.append(bytes, 4);
}

void put_string(Buffer& b, std::string_view s) {
    put_u32(b, static_cast<uint32_t>(s.size()));
    b.append(s.data(), s.size());
    b.append("", 1);
}

void put_signature(Buffer& b, std::string_view s) {
    uint8_t n = static_cast<uint8_t>(s.size());
    b.append(&n, 1);
    b.append(s.data(), s.size());
    b.append("", 1);
}

// A header field: its code, then a variant (its type's signature, then the value).
void put_field(Buffer& b, uint8_t code, char type, std::string_view value) {
    b.pad_to(8);
    b.append(&code, 1);
    char sig[1] = {type};
    put_signature(b, std::string_view(sig, 1));
    if (type == 'g')
        put_signature(b, value);
    else
        put_string(b, value);
}

}  // namespace

MethodCall::MethodCall(Buffer& out, uint32_t serial, const char* destination, const char* path,
                       const char* interface, const char* member, const char* signature)
    : out_(out) {
    out_.clear();  // alignment counts from the message's start
    const char fixed[4] = {'l', static_cast<char>(MessageType::MethodCall), 0, 1};
    out_.append(fixed, 4);
    put_u32(out_, 0);  // the body's length, filled in by end()
    put_u32(out_, serial);
    put_u32(out_, 0);  // the header fields' length, filled in below
    put_field(out_, kPath, 'o', path);
    if (interface) put_field(out_, kInterface, 's', interface);
    put_field(out_, kMember, 's', member);
    if (destination) put_field(out_, kDestination, 's', destination);
    std::string_view sig(signature ? signature : "");
    if (!sig.empty()) put_field(out_, kSignature, 'g', sig);
    if (sig.find('h') != std::string_view::npos) {
        out_.pad_to(8);
        const char head[4] = {static_cast<char>(kUnixFds), 1, 'u', 0};
        out_.append(head, 4);
        fds_field_ = out_.size();
        put_u32(out_, 0);  // the count, filled in by end()
    }
    out_.put_u32_at(12, static_cast<uint32_t>(out_.size() - kFixedHeader));
    out_.pad_to(8);
    body_start_ = out_.size();
}

void MethodCall::add_u32(uint32_t v) { put_u32(out_, v); }
void MethodCall::add_string(std::string_view s) { put_string(out_, s); }

void MethodCall::begin_array() {
    add_u32(0);
    array_length_at_ = out_.size() - 4;
    array_start_ = out_.size();  // strings align to 4, as the length did: no padding between
}

void MethodCall::end_array() {
    out_.put_u32_at(array_length_at_, static_cast<uint32_t>(out_.size() - array_start_));
}

void MethodCall::add_fd() { add_u32(fds_++); }

void MethodCall::end() {
    out_.put_u32_at(4, static_cast<uint32_t>(out_.size() - body_start_));
    if (fds_field_) out_.put_u32_at(fds_field_, fds_);
}

// ---- receiving -----------------------------------------------------------------------------------------

size_t message_length(const char* data, size_t size) {
    if (size < kFixedHeader) return 0;
    if ((data[0] != 'l' && data[0] != 'B') || data[3] != 1) return SIZE_MAX;
    bool big = data[0] == 'B';
    uint64_t body = read_u32(data + 4, big), fields = read_u32(data + 12, big);
    return static_cast<size_t>(align_up(kFixedHeader + fields, 8) + body);  // below 2^34: fits
}

bool parse_message(const char* data, size_t size, Message& out) {
    out = Message{};
    if (size < kFixedHeader || message_length(data, size) != size) return false;
    bool big = data[0] == 'B';
    uint8_t type = static_cast<uint8_t>(data[1]);
    if (type < 1 || type > 4) return false;
    out.type = static_cast<MessageType>(type);
    out.big_endian = big;
    size_t fields_end = kFixedHeader + read_u32(data + 12, big);
    Cursor c{data, fields_end, kFixedHeader, big};
    while (c.at < fields_end) {
        uint8_t code = 0;
        std::string_view sig, text;
        if (!c.align(8) || !c.u8(code) || !c.signature(sig) || sig.size() != 1) return false;
        switch (code) {
        case kReplySerial:
            if (sig[0] != 'u' || !c.u32(out.reply_serial)) return false;
            break;
        case kUnixFds:
            if (sig[0] != 'u' || !c.u32(out.unix_fds)) return false;
            break;
        case kErrorName:
            if (sig[0] != 's' || !c.string(out.error_name)) return false;
            break;
        case kSignature:
            if (sig[0] != 'g' || !c.signature(out.signature)) return false;
            break;
        default:
            if (!c.skip(sig[0])) return false;
        }
    }
    size_t body = align_up(fields_end, 8);
    for (size_t i = fields_end; i < body; i++)
        if (data[i] != 0) return false;
    out.body = data + body;
    out.body_size = size - body;
    if (out.type == MessageType::Error && out.error_name.empty()) return false;
    if ((out.type == MessageType::MethodReturn || out.type == MessageType::Error) && out.reply_serial == 0)
        return false;
    return true;
}

std::string_view first_string(const Message& m) {
    if (m.signature.empty() || m.signature[0] != 's') return {};
    Cursor c{m.body, m.body_size, 0, m.big_endian};
    std::string_view s;
    return c.string(s) ? s : std::string_view();
}

bool first_u32(const Message& m, uint32_t& out) {
    if (m.signature.empty() || (m.signature[0] != 'h' && m.signature[0] != 'u')) return false;
    Cursor c{m.body, m.body_size, 0, m.big_endian};
    return c.u32(out);
}

bool valid_string(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == 0) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
        if (n == 0 || c > 0xf4 || i + n >= s.size()) return false;
        uint32_t cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            auto t = static_cast<unsigned char>(s[i + k]);
            if ((t & 0xc0) != 0x80) return false;
            cp = cp << 6 | (t & 0x3f);
        }
        static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) return false;  // noncharacters
        i += n + 1;
    }
    return true;
}

// ---- the address ---------------------------------------------------------------------------------------

bool parse_address(std::string_view address, UnixAddress& out) {
    out = UnixAddress{};
    constexpr std::string_view kUnix = "unix:";
    if (address.size() < kUnix.size() || memcmp(address.data(), kUnix.data(), kUnix.size()) != 0) return false;
    if (address.find(';') != std::string_view::npos) return false;
    size_t at = kUnix.size();
    bool have = false;
    while (at < address.size()) {
        size_t comma = address.find(',', at);
        if (comma == std::string_view::npos) comma = address.size();
        std::string_view pair(address.data() + at, comma - at);
        at = comma + 1;
        size_t eq = pair.find('=');
        if (eq == std::string_view::npos) return false;
        std::string_view key(pair.data(), eq), value(pair.data() + eq + 1, pair.size() - eq - 1);
        if (key == "guid") continue;
        if ((key != "path" && key != "abstract") || have || value.empty()) return false;
        have = true;
        size_t n = 0;
        if (key == "abstract") out.bytes[n++] = '\0';
        for (size_t i = 0; i < value.size(); i++) {
            char ch = value[i];
            if (ch == '%') {
                auto hex = [](char h) {
                    return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                };
                if (i + 2 >= value.size()) return false;
                int hi = hex(value[i + 1]), lo = hex(value[i + 2]);
                if (hi < 0 || lo < 0) return false;
                ch = static_cast<char>(hi << 4 | lo);
                i += 2;
            }
            if (ch == '\0' || n + 1 >= sizeof out.bytes) return false;  // room for a path's NUL
            out.bytes[n++] = ch;
        }
        out.length = n;
    }
    return have;
}

// ---- connecting ------------------------------------------------------------------------------------------

int connect_and_authenticate(const UnixAddress& address, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    if (sock < 3) {  // never where a closed stdin, stdout or stderr was: a child given those must not get the bus
        int moved = fcntl(sock, F_DUPFD_CLOEXEC, 3);
        close(sock);
        if (moved < 0) return -1;
        sock = moved;
    }
    auto fail = [&](int error) {
        close(sock);
        errno = error;
        return -1;
    };
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, address.bytes, address.length);
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.length +
                                           (address.bytes[0] == '\0' ? 0 : 1));
    while (connect(sock, reinterpret_cast<sockaddr*>(&sa), len) < 0)
        if (errno != EINTR) return fail(errno);

    // As sd-bus: every line at once; the bus answers them in order.
    char uid[16], hello[128];
    int n = snprintf(uid, sizeof uid, "%u", static_cast<unsigned>(geteuid()));
    int k = snprintf(hello, sizeof hello, "%cAUTH EXTERNAL ", '\0');
    for (int i = 0; i < n; i++) k += snprintf(hello + k, sizeof hello - static_cast<size_t>(k), "%02x", uid[i]);
    k += snprintf(hello + k, sizeof hello - static_cast<size_t>(k), "\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
    if (!write_all(sock, hello, static_cast<size_t>(k))) return fail(errno);

    // Two lines back: "OK <guid>" and "AGREE_UNIX_FD". The bus sends nothing more before our Hello.
    char lines[512];
    size_t have = 0;
    int seen = 0;
    while (seen < 2) {
        if (!wait_readable(sock, deadline)) return fail(errno);
        ssize_t r = read(sock, lines + have, sizeof lines - 1 - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return fail(r == 0 ? ECONNRESET : errno);
        have += static_cast<size_t>(r);
        lines[have] = '\0';
        seen = 0;
        for (const char* p = lines; (p = strstr(p, "\r\n")); p += 2) seen++;
        if (seen < 2 && have >= sizeof lines - 1) return fail(EPROTO);
    }
    if (strncmp(lines, "OK ", 3) != 0) return fail(EACCES);
    const char* second = strstr(lines, "\r\n") + 2;
    if (strncmp(second, "AGREE_UNIX_FD\r\n", 15) != 0) return fail(EPROTO);
    return sock;
}

bool send_message(int sock, const Buffer& bytes, const int* fds, size_t n_fds) {
    if (bytes.failed() || n_fds > kMaxFds) {
        errno = ENOMEM;
        return false;
    }
    const char* data = bytes.data();
    size_t left = bytes.size();
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    bool first = true;
    while (left > 0) {
        iovec iov{const_cast<char*>(data), left};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (first && n_fds > 0) {  // the fds go with the first byte
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ssize_t k = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        first = false;
        data += k;
        left -= static_cast<size_t>(k);
    }
    return true;
}

// ---- Receiver ------------------------------------------------------------------------------------------

Receiver::~Receiver() {
    for (size_t i = 0; i < n_fds_; i++)
        if (fds_[i] >= 0) close(fds_[i]);
}

void Receiver::drop_fds(size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fds_[i] >= 0) close(fds_[i]);
    memmove(fds_, fds_ + n, (n_fds_ - n) * sizeof fds_[0]);
    n_fds_ -= n;
}

int Receiver::take_fd(uint32_t index) {
    if (index >= reply_fds_) return -1;
    int fd = fds_[index];
    fds_[index] = -1;
    return fd;
}

bool Receiver::wait_reply(int sock, uint32_t serial, int timeout_ms, Message& reply) {
    constexpr size_t kMaxMessage = 1 << 20;  // replies to our calls are small; anything near this is wrong
    long long deadline = now_ms() + timeout_ms;
    drop_fds(reply_fds_);
    reply_fds_ = 0;
    for (;;) {
        const char* at = in_.data() + consumed_;
        size_t avail = in_.size() - consumed_;
        size_t len = message_length(at, avail);
        if (len == SIZE_MAX || len > kMaxMessage) {
            errno = len == SIZE_MAX ? EBADMSG : E2BIG;
            return false;
        }
        if (len > 0 && len <= avail) {
            Message m;
            if (!parse_message(at, len, m) || m.unix_fds > n_fds_) {
                errno = EBADMSG;
                return false;
            }
            consumed_ += len;
            if ((m.type == MessageType::MethodReturn || m.type == MessageType::Error) && m.reply_serial == serial) {
                reply = m;
                reply_fds_ = m.unix_fds;
                return true;
            }
            drop_fds(m.unix_fds);  // a signal (NameAcquired), or the reply to an earlier call
            continue;
        }
        if (!wait_readable(sock, deadline)) return false;
        char chunk[4096];
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
        iovec iov{chunk, sizeof chunk};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t k = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const char* data = reinterpret_cast<const char*>(CMSG_DATA(c));
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, data + i * sizeof(int), sizeof fd);
                if (n_fds_ < kMaxFds)
                    fds_[n_fds_++] = fd;
                else
                    close(fd);  // more than any message of ours carries: the message that has them fails
            }
        }
        if (msg.msg_flags & MSG_CTRUNC) {
            errno = EBADMSG;
            return false;
        }
        if (k == 0) {
            errno = ECONNRESET;
            return false;
        }
        in_.append(chunk, static_cast<size_t>(k));
        if (in_.failed()) {
            errno = ENOMEM;
            return false;
        }
    }
}

}  // namespace berth::machinectl::wire
