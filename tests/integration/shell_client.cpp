#include "tests/integration/shell_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

namespace berth::test {

namespace {

constexpr const char* kService = "org.freedesktop.machine1";

std::string hex_escape(const std::string& name) {
    std::string out;
    for (unsigned char c : name) {
        if (std::isalnum(c)) out += static_cast<char>(c);
        else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "_%02x", c);
            out += buf;
        }
    }
    return out;
}

// Reads all of `fd` (nonblocking) until EOF or `until`.
void drain_fd(int fd, std::string& into, std::chrono::steady_clock::time_point until) {
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 100);
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) into.append(buf, n);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
    }
}

std::unique_ptr<sdbus::IProxy> proxy(const std::string& path) {
    return sdbus::createProxy(sdbus::createSystemBusConnection(), kService, path);
}

// The D-Bus error's name ("" when the call succeeded), its message in `message`.
template <typename F>
std::string error_of(F call, std::string& message) {
    try {
        call();
        return "";
    } catch (const sdbus::Error& e) {
        message = e.getMessage();
        return e.getName();
    }
}

}  // namespace

std::string machine_object(const std::string& name) { return "/org/freedesktop/machine1/machine/" + hex_escape(name); }

Terminal::Terminal(sdbus::UnixFd master, std::string path) : master_(std::move(master)), path_(std::move(path)) {
    ::fcntl(master_.get(), F_SETFL, ::fcntl(master_.get(), F_GETFL) | O_NONBLOCK);
}

void Terminal::type(const std::string& keys) const { (void)!::write(master_.get(), keys.data(), keys.size()); }

bool Terminal::read_some(Millis wait) {
    pollfd p{master_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return true;
    char buf[4096];
    ssize_t n = ::read(master_.get(), buf, sizeof buf);
    if (n > 0) output_.append(buf, n);
    // EIO: no one has the terminal open. Before the program inside first wrote, that is a getty or a
    // command that has not opened it yet (as systemd's machinectl, ignore it then); after, its end.
    if (n < 0 && errno == EIO && output_.empty()) {
        std::this_thread::sleep_for(20ms);
        return true;
    }
    return n > 0 || (n < 0 && errno == EAGAIN);
}

bool Terminal::wait_for(const std::string& needle, Millis timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
        if (std::chrono::steady_clock::now() >= until || !read_some(100ms)) return output_.find(needle) != std::string::npos;
    }
    return true;
}

bool Terminal::wait_for_from(const std::string& needle, size_t from, Millis timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle, from) == std::string::npos && std::chrono::steady_clock::now() < until) {
        if (!read_some(100ms)) std::this_thread::sleep_for(20ms);
    }
    return output_.find(needle, from) != std::string::npos;
}

std::string Terminal::read_to_end(Millis timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until && read_some(100ms)) {
    }
    return output_;
}

std::string read_status(const sdbus::UnixFd& status, Millis timeout) {
    int fd = status.get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string text;
    drain_fd(fd, text, std::chrono::steady_clock::now() + timeout);
    return trim(text);
}

Executed execute(const std::string& machine, const std::string& user, const std::string& path,
                 const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& input) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || ::pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0)
        return {"pipe failed"};
    Executed r;
    sdbus::UnixFd status;
    {
        sdbus::UnixFd cin(in[0], sdbus::adopt_fd), cout(out[1], sdbus::adopt_fd), cerr(err[1], sdbus::adopt_fd);
        r.error = error_of([&] {
            proxy(machine_object(machine))
                ->callMethod("Execute")
                .onInterface("io.berth.Machine1")
                .withArguments(user, path, args, env, cin, cout, cerr)
                .storeResultsTo(status);
        }, r.message);
    }  // our copies of the command's ends go: EOF comes from the command alone
    (void)!::write(in[1], input.data(), input.size());
    ::close(in[1]);
    auto until = std::chrono::steady_clock::now() + 60s;
    drain_fd(out[0], r.out, until);
    drain_fd(err[0], r.err, until);
    ::close(out[0]);
    ::close(err[0]);
    if (r.error.empty()) r.status = read_status(status);
    return r;
}

Opened execute_pty(const std::string& machine, const std::string& user, const std::string& path,
                   const std::vector<std::string>& args, const std::vector<std::string>& env) {
    Opened o;
    sdbus::UnixFd master;
    std::string pty_path;
    o.error = error_of([&] {
        proxy(machine_object(machine))
            ->callMethod("ExecutePTY")
            .onInterface("io.berth.Machine1")
            .withArguments(user, path, args, env)
            .storeResultsTo(master, pty_path, o.status);
    }, o.message);
    if (o.error.empty()) o.terminal = Terminal(std::move(master), pty_path);
    return o;
}

namespace {
template <typename... A>
Opened manager_pty(const char* method, const A&... args) {
    Opened o;
    sdbus::UnixFd master;
    std::string pty_path;
    o.error = error_of([&] {
        proxy("/org/freedesktop/machine1")
            ->callMethod(method)
            .onInterface("org.freedesktop.machine1.Manager")
            .withArguments(args...)
            .storeResultsTo(master, pty_path);
    }, o.message);
    if (o.error.empty()) o.terminal = Terminal(std::move(master), pty_path);
    return o;
}
}  // namespace

Opened open_pty(const std::string& machine) { return manager_pty("OpenMachinePTY", machine); }
Opened open_login(const std::string& machine) { return manager_pty("OpenMachineLogin", machine); }
Opened open_shell(const std::string& machine, const std::string& user, const std::string& path,
                  const std::vector<std::string>& args, const std::vector<std::string>& env) {
    return manager_pty("OpenMachineShell", machine, user, path, args, env);
}

std::string confinement_script(const std::vector<std::string>& status_fields, const std::vector<std::string>& namespaces) {
    auto words = [](const std::vector<std::string>& v) {
        std::string s;
        for (auto& w : v) s += (s.empty() ? "" : " ") + w;
        return s;
    };
    return "for f in " + words(status_fields) +
           "; do "
           "  echo $f $(grep \"^$f:\" /proc/self/status | cut -f2) $(grep \"^$f:\" /proc/1/status | cut -f2); done; "
           "for n in " +
           words(namespaces) +
           "; do "
           "  echo $n $(readlink /proc/self/ns/$n) $(readlink /proc/1/ns/$n); done; "
           "echo cgroups $(cat /proc/self/cgroup | tr '\\n' ' ') / $(cat /proc/1/cgroup | tr '\\n' ' ')";
}

Confinement parse_confinement(const std::string& out) {
    Confinement c;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line); c.lines++) {
        if (line.rfind("cgroups ", 0) == 0) {
            auto slash = line.find(" / ");
            c.own_cgroups = line.substr(8, slash - 8);
            c.leader_cgroups = slash == std::string::npos ? "" : line.substr(slash + 3);
            continue;
        }
        std::istringstream f(line);
        Confinement::Field field;
        f >> field.name >> field.ours >> field.theirs;
        c.fields.push_back(field);
    }
    return c;
}

}  // namespace berth::test
