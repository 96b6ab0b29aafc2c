// machinectl's executable: a launcher without the C++ runtime, libsystemd or sdbus-c++, whose loading
// costs more than the rest of a `machinectl shell NAME CMD` (docs/machinectl.md, "Speed"). That command on
// pipes, the way scripts and tools run it, is done here over the bus directly (machinectl/bus_wire.hpp):
// one io.berth.Machine1.Execute call, then the command's status. Everything else, and anything that call
// cannot do, is left to machinectl proper, loaded from berth-machinectl.so (machinectl/module.cpp) at the
// same path relative to this program as when it was built or installed. No stdio C++ streams, exceptions,
// std::string or substr() here: that would bring the runtime back (the build links this with the C driver,
// so a dependency on it fails to link).
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string_view>

#include "common/bus_label.hpp"
#include "common/bus_names.hpp"
#include "machinectl/bus_wire.hpp"
#include "machinectl/status_report.hpp"

namespace {

using namespace berth::machinectl;

// What the fast way came to.
struct FastShell {
    enum class Kind { NotTaken, Exited, Failed } kind = Kind::NotTaken;
    const char* machine = nullptr;
    int code = 0;   // Exited: machinectl's exit status
    int error = 0;  // Failed with no report: what stopped it (errno), after the command may have started
    const char* error_text = nullptr;  // Failed: machined's (or the bus's) error answer, as sd-bus would say it
    char report[kStatusReportMax] = {};
    size_t report_size = 0;  // Failed with error 0: the status pipe's text, not a report
};

constexpr int kCallTimeoutMs = 25000;  // sd-bus's default, as sdbus-c++ calls with it

// Where the machine's name is when this is `machinectl [-q] shell NAME /PATH [ARG...]` on pipes, spelled
// so that machinectl proper would read it the same way: no other option before the command (its
// arguments are the command's own, as split_shell() has it), a plain machine name (USER@ and --uid= are
// left to it), an absolute command; 0 when it is not. -q changes nothing on pipes: nothing of ours is
// printed there (Ansible's plugins pass it).
int fast_shell_name_at(int argc, char** argv) {
    int at = 1;
    if (at < argc && (strcmp(argv[at], "-q") == 0 || strcmp(argv[at], "--quiet") == 0)) at++;
    if (argc - at < 3 || strcmp(argv[at], "shell") != 0) return 0;
    const char* name = argv[++at];
    // "self" is also the object of the caller's own machine (machined/machine_objects.cpp): only
    // GetMachine tells which is meant.
    if (!*name || name[0] == '-' || strchr(name, '@') || strcmp(name, "self") == 0) return 0;
    if (argv[at + 1][0] != '/') return 0;
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return 0;
    // A closed stream is machinectl proper's to refuse (it cannot pass what is not there); and so is a
    // string D-Bus may not carry, which sd-bus refuses before sending anything.
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) return 0;
    for (int i = at; i < argc; i++)
        if (!wire::valid_string(argv[i])) return 0;
    return at;
}

// Error answers given before machined ran anything, on which machinectl proper's way differs from a plain
// "Failed to run a command": no such machine (it asks GetMachine first and says so), a machined without
// io.berth.Machine1 (it falls back to OpenMachineShell), or no machined at all. Any other error may come
// after the command started (NoReply when machined went away, a reply it could not send): never retried.
bool answered_before_running(std::string_view name) {
    for (std::string_view n : {"org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod",
                               "org.freedesktop.DBus.Error.UnknownInterface", "org.freedesktop.DBus.Error.ServiceUnknown",
                               "org.freedesktop.DBus.Error.NameHasNoOwner", "org.freedesktop.machine1.NoSuchMachine"})
        if (name == n) return true;
    return false;
}

FastShell fast_shell(int argc, char** argv) {
    FastShell out;
    int at = fast_shell_name_at(argc, argv);
    if (at == 0) return out;
    const char* name = out.machine = argv[at];
    char** command = argv + at + 1;
    int command_size = argc - at - 1;
    const char* env = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
    wire::UnixAddress address;
    if (!wire::parse_address(env ? env : "unix:path=/run/dbus/system_bus_socket", address)) return out;
    int sock = wire::connect_and_authenticate(address, kCallTimeoutMs);
    if (sock < 0) return out;
    struct Closer {
        int fd;
        ~Closer() { close(fd); }
    } closer{sock};

    wire::Buffer hello;
    wire::MethodCall(hello, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                     nullptr)
        .end();
    wire::Buffer path;
    path.append(berth::bus::kMachinePrefix, strlen(berth::bus::kMachinePrefix));
    path.append("/", 1);
    berth::bus::bus_label_escape_each(name, [&](char c) { path.append(&c, 1); });
    path.append("", 1);
    if (path.failed()) return out;
    wire::Buffer call;
    wire::MethodCall execute(call, 2, berth::bus::kBusName, path.data(), berth::bus::kBerthMachineInterface, "Execute",
                             "ssasashhh");
    execute.add_string("");       // the user: root, as machinectl proper without USER@ or --uid=
    execute.add_string(command[0]);
    execute.begin_array();  // its argv: only when there is more than the command itself
    if (command_size > 1)
        for (int i = 0; i < command_size; i++) execute.add_string(command[i]);
    execute.end_array();
    execute.begin_array();  // no -E
    execute.end_array();
    for (int i = 0; i < 3; i++) execute.add_fd();
    execute.end();
    const int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    // Until Execute is sent whole, nothing can have run: machinectl proper starts over and says what failed.
    if (!wire::send_message(sock, hello, nullptr, 0) || !wire::send_message(sock, call, fds, 3)) return out;

    wire::Receiver receiver;
    wire::Message reply;
    out.kind = FastShell::Kind::Failed;
    if (!receiver.wait_reply(sock, 2, kCallTimeoutMs, reply)) {
        out.error = errno;
        return out;
    }
    if (reply.type == wire::MessageType::Error) {
        if (answered_before_running(reply.error_name)) {
            out.kind = FastShell::Kind::NotTaken;  // machinectl proper asks again and says what it says
            return out;
        }
        std::string_view text = wire::first_string(reply);
        if (text.empty()) text = reply.error_name;  // as bus_error_text(): the message, else the name
        out.error_text = strndup(text.data(), text.size());
        if (!out.error_text) out.error = ENOMEM;
        return out;
    }
    uint32_t index = 0;
    int status = reply.signature == "h" && wire::first_u32(reply, index) ? receiver.take_fd(index) : -1;
    if (status < 0) {
        out.error = EBADMSG;
        return out;
    }
    close(sock);  // the bus is done with: from here on the status pipe is what the closer closes
    closer.fd = status;

    // One line when the command ends, then EOF (machinectl/command_status.hpp).
    char buf[kStatusReportMax];
    for (;;) {
        ssize_t k = read(status, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        size_t room = sizeof out.report - out.report_size, take = static_cast<size_t>(k) < room ? static_cast<size_t>(k) : room;
        memcpy(out.report + out.report_size, buf, take);
        out.report_size += take;
    }
    int code = status_report_exit_code(std::string_view(out.report, out.report_size));
    if (code >= 0) {
        out.kind = FastShell::Kind::Exited;
        out.code = code;
    }
    return out;
}

// berth-machinectl.so beside this program, as built or installed (BERTH_MACHINECTL_MODULE is relative to
// the directory of the executable).
void* load_module() {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "Failed to find machinectl's own path (/proc/self/exe): %s\n", strerror(errno));
        return nullptr;
    }
    self[n] = '\0';
    char* slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    char module[PATH_MAX];
    if (snprintf(module, sizeof module, "%s/%s", self, BERTH_MACHINECTL_MODULE) >= static_cast<int>(sizeof module)) {
        fprintf(stderr, "Failed to load machinectl: the path of %s is too long\n", BERTH_MACHINECTL_MODULE);
        return nullptr;
    }
    void* handle = dlopen(module, RTLD_LAZY | RTLD_LOCAL);
    if (!handle) fprintf(stderr, "Failed to load machinectl (%s): %s\n", module, dlerror());
    return handle;
}

}  // namespace

int main(int argc, char** argv) {
    FastShell fast = fast_shell(argc, argv);
    if (fast.kind == FastShell::Kind::Exited) return fast.code;
    void* module = load_module();
    if (!module) return 1;
    if (fast.kind == FastShell::Kind::Failed) {
        // The command may have run: it is not asked for again. machinectl proper says what went wrong.
        auto finish = reinterpret_cast<int (*)(const char*, const char*, size_t, int, const char*)>(
            dlsym(module, "berth_machinectl_finish_shell"));
        if (!finish) {
            fprintf(stderr, "Failed to load machinectl: %s\n", dlerror());
            return 1;
        }
        return finish(fast.machine, fast.report, fast.report_size, fast.error, fast.error_text);
    }
    auto run = reinterpret_cast<int (*)(int, char**)>(dlsym(module, "berth_machinectl_main"));
    if (!run) {
        fprintf(stderr, "Failed to load machinectl: %s\n", dlerror());
        return 1;
    }
    return run(argc, argv);
}
