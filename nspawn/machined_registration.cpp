// The calls: docs/dbus-api.md, "Clients".
#include "nspawn/machined_registration.hpp"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <systemd/sd-bus.h>

#include "common/bus_names.hpp"
#include "common/log.hpp"

namespace berth::nspawn {

namespace {

constexpr uint64_t kTimeoutUsec = 10'000'000;
constexpr int kNotThere = 2;  // helper exit code: no bus, or nobody owns org.freedesktop.machine1
// Helper exit code: machined does not know the machine. At exit that is the normal case: machined follows
// the leader and drops the machine as soon as it dies, usually before we get to unregister it.
constexpr int kNoSuchMachine = 3;

// The few sd-bus entry points we need, resolved at run time in the helper. Not machined's sd_bus_object.hpp
// on purpose: nspawn's supervisor maps only libc (no libsystemd, no thread of sd-bus's around the clone),
// so libsystemd is dlopen'd in a short-lived helper process that makes its one call and exits.
struct SdBus {
    decltype(&sd_bus_open_system) open_system;
    decltype(&sd_bus_new) bus_new;
    decltype(&sd_bus_set_fd) set_fd;
    decltype(&sd_bus_set_bus_client) set_bus_client;
    decltype(&sd_bus_start) start;
    decltype(&sd_bus_message_new_method_call) new_method_call;
    decltype(&sd_bus_message_append) append;
    decltype(&sd_bus_message_append_array) append_array;
    decltype(&sd_bus_call) call;
    decltype(&sd_bus_error_free) error_free;

    bool load() {
        void* h = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!h) return false;
        open_system = reinterpret_cast<decltype(open_system)>(::dlsym(h, "sd_bus_open_system"));
        bus_new = reinterpret_cast<decltype(bus_new)>(::dlsym(h, "sd_bus_new"));
        set_fd = reinterpret_cast<decltype(set_fd)>(::dlsym(h, "sd_bus_set_fd"));
        set_bus_client = reinterpret_cast<decltype(set_bus_client)>(::dlsym(h, "sd_bus_set_bus_client"));
        start = reinterpret_cast<decltype(start)>(::dlsym(h, "sd_bus_start"));
        new_method_call = reinterpret_cast<decltype(new_method_call)>(::dlsym(h, "sd_bus_message_new_method_call"));
        append = reinterpret_cast<decltype(append)>(::dlsym(h, "sd_bus_message_append"));
        append_array = reinterpret_cast<decltype(append_array)>(::dlsym(h, "sd_bus_message_append_array"));
        call = reinterpret_cast<decltype(call)>(::dlsym(h, "sd_bus_call"));
        error_free = reinterpret_cast<decltype(error_free)>(::dlsym(h, "sd_bus_error_free"));
        return open_system && bus_new && set_fd && set_bus_client && start && new_method_call && append &&
               append_array && call && error_free;
    }
};

bool bus_socket_exists() {
    const char* addr = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (addr && *addr) return true;
    struct stat st {};
    return ::stat("/run/dbus/system_bus_socket", &st) == 0;
}

// The system bus's socket when its address is one unix socket path (the system bus's default, and what
// DBUS_SYSTEM_BUS_ADDRESS says in the usual "unix:path=..." form); "" for anything else.
std::string system_bus_socket_path() {
    const char* env = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    if (!env || !*env) return "/run/dbus/system_bus_socket";
    std::string a = env;
    if (a.rfind("unix:", 0) != 0 || a.find(';') != std::string::npos) return "";
    std::string path;
    for (size_t pos = 5; pos < a.size();) {
        size_t end = a.find(',', pos);
        std::string kv = a.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        if (kv.rfind("path=", 0) == 0) path = kv.substr(5);
        else if (kv.rfind("guid=", 0) != 0) return "";  // abstract=, tmpdir=, ...: sd-bus's to resolve
        pos = end == std::string::npos ? a.size() : end + 1;
    }
    // D-Bus escapes bytes as %XX in addresses; a path that needs that is left to sd-bus.
    return path.find('%') == std::string::npos ? path : "";
}

// The connection for RegisterMachine, connected by the supervisor itself: the bus then records the
// leader's parent as the registering process (SO_PEERCRED is taken at connect()), which is how machined
// recognises the supervisor it asks to stop the machine (TerminateMachine). Plain socket calls: the
// supervisor still maps no bus library. An invalid fd when that cannot be done; the helper connects then.
UniqueFd connect_system_bus_here() {
    std::string path = system_bus_socket_path();
    sockaddr_un sa{};
    if (path.empty() || path.size() >= sizeof sa.sun_path) return {};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return {};
    return fd;
}

bool is_not_there(const sd_bus_error& e, int r) {
    if (e.name && (std::strcmp(e.name, berth::bus::kServiceUnknown) == 0 ||
                   std::strcmp(e.name, berth::bus::kNameHasNoOwner) == 0))
        return true;
    return r == -ENOENT || r == -ECONNREFUSED;
}

// Runs in the helper: one method call on the manager; the error text goes to `out`.
[[noreturn]] void helper(int out, int connected, const char* method, const Plan& plan, pid_t leader,
                         const std::vector<int>& ifindices) {
    auto fail = [&](int code, const std::string& text) {
        (void)!::write(out, text.data(), text.size());
        ::_exit(code);
    };
    SdBus b{};
    if (!b.load()) fail(1, fmt::format("cannot load libsystemd: {}", ::dlerror()));
    sd_bus* bus = nullptr;
    int r;
    if (connected >= 0) {
        r = b.bus_new(&bus);
        if (r >= 0) r = b.set_fd(bus, connected, connected);
        if (r >= 0) r = b.set_bus_client(bus, 1);
        if (r >= 0) r = b.start(bus);
    } else {
        r = b.open_system(&bus);
    }
    if (r < 0) fail(r == -ENOENT || r == -ECONNREFUSED ? kNotThere : 1,
                    fmt::format("cannot connect to the system bus: {}", std::strerror(-r)));
    sd_bus_message* m = nullptr;
    r = b.new_method_call(bus, &m, berth::bus::kBusName, berth::bus::kManagerPath, berth::bus::kManagerInterface,
                          method);
    if (r >= 0) r = b.append(m, "s", plan.machine.c_str());
    if (r >= 0 && leader > 0) {
        r = b.append_array(m, 'y', plan.uuid.data(), plan.uuid.size());
        if (r >= 0)
            r = b.append(m, "ssus", "nspawn", "container", static_cast<uint32_t>(leader), plan.directory.c_str());
        if (r >= 0) r = b.append_array(m, 'i', ifindices.data(), ifindices.size() * sizeof(int));
    }
    if (r < 0) fail(1, fmt::format("cannot build the {} call: {}", method, std::strerror(-r)));
    sd_bus_error err = SD_BUS_ERROR_NULL;
    r = b.call(bus, m, kTimeoutUsec, &err, nullptr);
    if (r < 0) {
        bool gone = err.name && std::strcmp(err.name, berth::bus::kNoSuchMachine) == 0;
        fail(is_not_there(err, r) ? kNotThere : gone ? kNoSuchMachine : 1, err.message ? err.message : std::strerror(-r));
    }
    ::_exit(0);
}

// The helper keeps only the pipe to us and the connection (-1: none), everything else the supervisor holds
// (the machine's locks, its mounts, its pidfd) closed, so that a helper still under way while the host is
// undone keeps none of it alive.
void keep_only(int out, int connected) {
    unsigned from = 3;
    for (int keep : {std::min(out, connected), std::max(out, connected)}) {
        if (keep < 0 || static_cast<unsigned>(keep) < from) continue;
        if (static_cast<unsigned>(keep) > from) ::syscall(SYS_close_range, from, static_cast<unsigned>(keep) - 1, 0U);
        from = static_cast<unsigned>(keep) + 1;
    }
    ::syscall(SYS_close_range, from, ~0U, 0U);
}

// Fork the helper; its pid (-errno if it could not be) and the read end of its message pipe.
std::pair<pid_t, UniqueFd> spawn_helper(const char* method, const Plan& plan, pid_t leader,
                                        const std::vector<int>& ifindices) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return {-errno, UniqueFd()};
    UniqueFd from_helper(p[0]), to_parent(p[1]);
    UniqueFd connected = leader > 0 ? connect_system_bus_here() : UniqueFd();
    pid_t pid = ::fork();
    if (pid < 0) return {-errno, UniqueFd()};
    if (pid == 0) {
        int out = to_parent.release(), conn = connected.release();
        keep_only(out, conn);
        helper(out, conn, method, plan, leader, ifindices);
    }
    return {pid, std::move(from_helper)};
}

// Wait for a helper from spawn_helper; returns its exit code and message.
std::pair<int, std::string> collect_helper(pid_t pid, UniqueFd from_helper) {
    if (pid < 0) return {1, fmt::format("cannot start the bus helper: {}", std::strerror(-pid))};
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(from_helper.get(), buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        text.append(buf, n);
    }
    from_helper.reset();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 1, text};
}

std::pair<int, std::string> run_helper(const char* method, const Plan& plan, pid_t leader,
                                       const std::vector<int>& ifindices) {
    auto [pid, from_helper] = spawn_helper(method, plan, leader, ifindices);
    return collect_helper(pid, std::move(from_helper));
}

}  // namespace

Result<bool> configure_registration(const Plan& plan, pid_t leader, const std::vector<int>& ifindices) {
    if (plan.register_mode == RegisterMode::No) return false;
    if (!bus_socket_exists()) {
        if (plan.register_mode == RegisterMode::Auto) return false;
        return plain_error(fmt::format("Failed to register machine \"{}\": no system bus to reach machined on",
                                       plan.machine),
                           ENOENT);
    }
    auto [code, text] = run_helper("RegisterMachineWithNetwork", plan, leader, ifindices);
    if (code == 0) return true;
    if (plan.register_mode == RegisterMode::Auto) {
        if (code != kNotThere) spdlog::warn("Could not register machine \"{}\" with machined: {}", plan.machine, text);
        return false;
    }
    return plain_error(fmt::format("Failed to register machine \"{}\" with machined: {}", plan.machine, text), EIO);
}

Unregistration Unregistration::begin(const Plan& plan) {
    Unregistration u;
    u.machine_ = plan.machine;
    auto [pid, from_helper] = spawn_helper("UnregisterMachine", plan, 0, {});
    u.pid_ = pid;
    u.from_helper_ = std::move(from_helper);
    u.started_ = true;
    return u;
}

void Unregistration::finish() {
    if (!started_) return;
    started_ = false;
    auto [code, text] = collect_helper(std::exchange(pid_, -1), std::move(from_helper_));
    if (code != 0 && code != kNotThere && code != kNoSuchMachine)
        spdlog::warn("Could not unregister machine \"{}\" from machined: {}", machine_, text);
}

Unregistration& Unregistration::operator=(Unregistration&& o) noexcept {
    if (this != &o) {
        finish();
        machine_ = std::move(o.machine_);
        pid_ = std::exchange(o.pid_, -1);
        from_helper_ = std::move(o.from_helper_);
        started_ = std::exchange(o.started_, false);
    }
    return *this;
}

}  // namespace berth::nspawn
