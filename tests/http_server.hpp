// A test's own HTTP/1.1 server on 127.0.0.1 for pulls: serves the regular files beneath one directory on a
// port the kernel picks, one connection at a time from a background thread, with single byte ranges,
// If-Range, and injected faults (short bodies, ranges switched off, a slow server). It never listens on
// any other address and closes every connection after one response.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace berth::test {

class HttpServer {
public:
    // Serves the files beneath `root`, which is looked up per request (it may be filled after this).
    // Throws std::runtime_error when the socket or the thread cannot be set up.
    explicit HttpServer(std::string root) : root_(std::move(root)) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        stop_fd_ = eventfd(0, EFD_CLOEXEC);
        sockaddr_in addr{};  // port 0: the kernel picks
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listen_fd_ < 0 || stop_fd_ < 0 ||
            bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(listen_fd_, 16) < 0 ||
            getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
            int err = errno;
            close_fds();
            throw std::runtime_error(std::string("HttpServer: cannot listen on 127.0.0.1: ") + strerror(err));
        }
        port_ = ntohs(addr.sin_port);
        try {
            thread_ = std::thread([this] { run(); });
        } catch (...) {
            close_fds();
            throw;
        }
    }
    // Wakes the thread and joins it; a connection being served finishes first (at most the 5 s timeouts).
    ~HttpServer() {
        stopping_ = true;
        eventfd_write(stop_fd_, 1);
        thread_.join();
        close_fds();
    }
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    uint16_t port() const { return port_; }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/" + path;
    }

    // The next `times` GET responses (200 or 206) for `path` (the request path without '/' and query) send
    // their headers and only the first `after_bytes` bytes of the body, then close the connection.
    void drop_after(const std::string& path, uint64_t after_bytes, int times = 1) {
        std::lock_guard lock(mutex_);
        if (times > 0)
            drops_[path] = Drop{after_bytes, times};
        else
            drops_.erase(path);
    }
    // Off: Range headers are ignored (200, full body) and no Accept-Ranges is sent.
    void set_ranges(bool on) { ranges_on_ = on; }
    // A pause after every 64 KiB of a body: a slow server, for transfers that must still run when looked
    // at (0: none). A body under way ends early when the server is destroyed.
    void set_pause(std::chrono::milliseconds pause) { pause_ms_ = static_cast<int>(pause.count()); }

    // Each request's target as sent ("/img.tar.gz?x"), and its Range header ("" when none), in order.
    std::vector<std::string> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::vector<std::string> ranges() const {
        std::lock_guard lock(mutex_);
        return ranges_;
    }

private:
    static constexpr size_t kMaxHead = 16 * 1024;
    static constexpr size_t kChunk = 64 * 1024;

    struct Drop { uint64_t after_bytes; int times; };

    void close_fds() {
        if (listen_fd_ >= 0) close(listen_fd_);
        if (stop_fd_ >= 0) close(stop_fd_);
        listen_fd_ = stop_fd_ = -1;
    }

    void run() {
        for (;;) {
            pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[1].revents != 0) return;
            int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (conn < 0) continue;
            serve(conn);
            close(conn);
        }
    }

    // One request, one response; the caller closes `fd`.
    void serve(int fd) {
        timeval timeout{5, 0};  // a stuck client (not sending, not reading) never hangs the server
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        std::string head;
        size_t end;
        while ((end = head.find("\r\n\r\n")) == head.npos && head.size() <= kMaxHead) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;  // gone, failed or timed out
            head.append(buf, static_cast<size_t>(n));
        }
        if (end == head.npos || end > kMaxHead) return send_error(fd, "431 Request Header Fields Too Large", false);
        head.resize(end);

        // "METHOD TARGET VERSION", then "Name: value" lines.
        size_t eol = std::min(head.find("\r\n"), head.size());
        std::string_view line(head.data(), eol);
        size_t sp1 = line.find(' ');
        size_t sp2 = sp1 == line.npos ? line.npos : line.find(' ', sp1 + 1);
        std::string method(line.substr(0, sp1));
        std::string target(sp2 == line.npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1));
        std::string range, if_range;
        for (size_t pos = eol; pos < head.size();) {
            pos += 2;
            size_t next = std::min(head.find("\r\n", pos), head.size());
            std::string_view h(head.data() + pos, next - pos);
            size_t colon = h.find(':');
            if (colon != h.npos) {
                std::string name(h.substr(0, colon));
                for (char& c : name) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
                std::string_view value = trim(h.substr(colon + 1));
                if (name == "range") range = value;
                if (name == "if-range") if_range = value;
            }
            pos = next;
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(target);
            ranges_.push_back(range);
        }

        bool head_only = method == "HEAD";
        if (target.empty() || target[0] != '/' || target.find('%') != target.npos)
            return send_error(fd, "400 Bad Request", head_only);
        if (method != "GET" && !head_only)
            return send_error(fd, "405 Method Not Allowed", false, "Allow: GET, HEAD\r\n");
        std::string path = target.substr(1, target.find('?') - 1);
        int file = valid_path(path) ? open_beneath(path) : -1;
        if (file < 0) return send_error(fd, "404 Not Found", head_only);
        serve_file(fd, file, path, head_only, range, if_range);
        close(file);
    }

    void serve_file(int fd, int file, const std::string& path, bool head_only, const std::string& range,
                    const std::string& if_range) {
        struct stat st;
        if (fstat(file, &st) < 0 || !S_ISREG(st.st_mode)) return send_error(fd, "404 Not Found", head_only);
        uint64_t size = static_cast<uint64_t>(st.st_size);
        std::string etag = etag_of(st);
        std::string modified = http_date(st.st_mtim.tv_sec);
        bool ranges_on = ranges_on_;
        std::string status = "200 OK";
        std::string headers = "Content-Type: application/octet-stream\r\nLast-Modified: " + modified +
                              "\r\nETag: " + etag + "\r\n" + (ranges_on ? "Accept-Ranges: bytes\r\n" : "");
        uint64_t first = 0, last = 0, length = size;
        // If-Range names the version the client holds: any other, and the whole file is sent.
        if (ranges_on && !range.empty() && (if_range.empty() || if_range == etag || if_range == modified) &&
            parse_range(range, first, last)) {
            if (first >= size)
                return send_error(fd, "416 Range Not Satisfiable", head_only,
                                  "Content-Range: bytes */" + std::to_string(size) + "\r\n");
            last = std::min(last, size - 1);
            length = last - first + 1;
            status = "206 Partial Content";
            headers += "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
                       std::to_string(size) + "\r\n";
        }
        if (!send_head(fd, status, length, headers) || head_only) return;

        uint64_t left = length;
        if (Drop drop{}; take_drop(path, drop)) left = std::min(left, drop.after_bytes);
        std::vector<char> buf(kChunk);
        for (uint64_t offset = first; left > 0;) {
            ssize_t n = pread(file, buf.data(), std::min<uint64_t>(left, kChunk), static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || !send_all(fd, buf.data(), static_cast<size_t>(n))) return;  // shrank, or client left
            offset += static_cast<uint64_t>(n);
            left -= static_cast<uint64_t>(n);
            if (int pause = pause_ms_; pause > 0 && left > 0) {
                if (stopping_) return;
                std::this_thread::sleep_for(std::chrono::milliseconds(pause));
            }
        }
    }

    // Consumes one injected drop for `path`, if any.
    bool take_drop(const std::string& path, Drop& drop) {
        std::lock_guard lock(mutex_);
        auto it = drops_.find(path);
        if (it == drops_.end()) return false;
        drop = it->second;
        if (--it->second.times <= 0) drops_.erase(it);
        return true;
    }

    // The file at `path` beneath the root, never through a symlink nor out of the root; O_NONBLOCK so that
    // a FIFO cannot block the open (reads of regular files ignore it). -1 when it cannot be opened.
    int open_beneath(const std::string& path) const {
        int dir = open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) return -1;
        open_how how{};
        how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
        long file = syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how);
        close(dir);
        return static_cast<int>(file);
    }

    // "a/b/c": no empty, "." or ".." component, no NUL.
    static bool valid_path(std::string_view path) {
        if (path.empty() || path.find('\0') != path.npos) return false;
        for (;;) {
            size_t slash = path.find('/');
            std::string_view part = path.substr(0, slash);
            if (part.empty() || part == "." || part == "..") return false;
            if (slash == path.npos) return true;
            path.remove_prefix(slash + 1);
        }
    }

    static std::string_view trim(std::string_view s) {
        size_t first = s.find_first_not_of(" \t");
        return first == s.npos ? std::string_view() : s.substr(first, s.find_last_not_of(" \t") - first + 1);
    }

    // "bytes=N-" (last: UINT64_MAX) or "bytes=N-M" with M >= N; suffix ranges and lists are not understood.
    static bool parse_range(std::string_view r, uint64_t& first, uint64_t& last) {
        auto number = [](std::string_view s, uint64_t& v) {
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            return ec == std::errc() && end == s.data() + s.size();
        };
        if (!r.starts_with("bytes=")) return false;
        r.remove_prefix(6);
        size_t dash = r.find('-');
        if (dash == r.npos || !number(r.substr(0, dash), first)) return false;
        last = UINT64_MAX;
        return dash + 1 == r.size() || (number(r.substr(dash + 1), last) && last >= first);
    }

    // "\"<ino>-<size>-<mtime s>-<mtime ns>\"" in hex.
    static std::string etag_of(const struct stat& st) {
        char buf[96];
        snprintf(buf, sizeof buf, "\"%llx-%llx-%llx-%llx\"", static_cast<unsigned long long>(st.st_ino),
                 static_cast<unsigned long long>(st.st_size), static_cast<unsigned long long>(st.st_mtim.tv_sec),
                 static_cast<unsigned long long>(st.st_mtim.tv_nsec));
        return buf;
    }

    // RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), spelled by hand: strftime follows the locale.
    static std::string http_date(time_t t) {
        static constexpr char kDays[] = "SunMonTueWedThuFriSat", kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        struct tm g {};
        gmtime_r(&t, &g);
        char buf[96];
        snprintf(buf, sizeof buf, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", kDays + 3 * g.tm_wday, g.tm_mday,
                 kMonths + 3 * g.tm_mon, g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
        return buf;
    }

    static bool send_all(int fd, const char* p, size_t n) {
        while (n > 0) {
            ssize_t w = send(fd, p, n, MSG_NOSIGNAL);  // a client gone is an error here, never a SIGPIPE
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w;
            n -= static_cast<size_t>(w);
        }
        return true;
    }

    static bool send_head(int fd, const std::string& status, uint64_t length, const std::string& headers) {
        std::string head = "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(length) + "\r\n" +
                           headers + "Connection: close\r\n\r\n";
        return send_all(fd, head.data(), head.size());
    }

    // A short text body ("not found\n" for 404), left out for HEAD.
    static void send_error(int fd, const std::string& status, bool head_only, const std::string& headers = "") {
        std::string body = status.starts_with("404") ? "not found\n" : status.substr(4) + "\n";
        if (send_head(fd, status, body.size(), "Content-Type: text/plain\r\n" + headers) && !head_only)
            send_all(fd, body.data(), body.size());
    }

    std::string root_;
    int listen_fd_ = -1;
    int stop_fd_ = -1;  // an eventfd: written once by the destructor to end the thread's poll()
    uint16_t port_ = 0;
    std::atomic<bool> ranges_on_{true}, stopping_{false};
    std::atomic<int> pause_ms_{0};
    mutable std::mutex mutex_;  // guards drops_, requests_ and ranges_
    std::map<std::string, Drop> drops_;
    std::vector<std::string> requests_;
    std::vector<std::string> ranges_;
    std::thread thread_;
};

}  // namespace berth::test
