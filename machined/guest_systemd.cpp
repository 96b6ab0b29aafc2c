#include "machined/guest_systemd.hpp"

#include <fcntl.h>
#include <time.h>

#include <cstdlib>

#include <systemd/sd-bus.h>

#include <fmt/format.h>

#include "common/bus_names.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

uint64_t now_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

GuestOutcome no_systemd(const std::string& machine, const std::string& why) {
    return {GuestOutcome::Kind::NoSystemd, bus::kFailed,
            fmt::format("No service manager reachable on the system bus of machine \"{}\": {}", machine, why)};
}

// The bus on `fd`, ready (authenticated, Hello answered) before `deadline`; null with `why` else.
BusPtr open_guest_bus(UniqueFd fd, uint64_t deadline, std::string& why) {
    sd_bus* raw = nullptr;
    if (int r = sd_bus_new(&raw); r < 0) {
        why = std::strerror(-r);
        return nullptr;
    }
    BusPtr bus(raw);
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0) (void)::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
    int r = sd_bus_set_fd(bus.get(), fd.get(), fd.get());
    if (r >= 0) {
        (void)fd.release();  // the bus owns it now
        r = sd_bus_set_bus_client(bus.get(), 1);
    }
    if (r >= 0) r = sd_bus_set_trusted(bus.get(), 0);
    if (r >= 0) r = sd_bus_start(bus.get());
    while (r >= 0 && (r = sd_bus_is_ready(bus.get())) == 0) {
        r = sd_bus_process(bus.get(), nullptr);
        if (r != 0) continue;
        uint64_t now = now_us();
        if (now >= deadline) {
            why = "its bus did not answer in time";
            return nullptr;
        }
        r = sd_bus_wait(bus.get(), deadline - now);
    }
    if (r < 0) {
        why = std::strerror(-r);
        return nullptr;
    }
    return bus;
}

bool means_no_systemd(const char* name) {
    return name && (std::string_view(name) == bus::kServiceUnknown || std::string_view(name) == bus::kNameHasNoOwner);
}

// Sends `call` and waits for the answer until `deadline`.
GuestOutcome call_guest(sd_bus* bus, sd_bus_message* call, uint64_t deadline, const std::string& machine) {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    uint64_t now = now_us();
    int r = sd_bus_call(bus, call, deadline > now ? deadline - now : 1, &error, nullptr);
    GuestOutcome out;
    if (r < 0) {
        out.kind = means_no_systemd(error.name) ? GuestOutcome::Kind::NoSystemd : GuestOutcome::Kind::Failed;
        out.error_name = error.name ? error.name : bus::kFailed;
        out.message = error.message ? error.message
                                    : fmt::format("Failed to ask the service manager of machine \"{}\": {}", machine,
                                                  std::strerror(-r));
    }
    sd_bus_error_free(&error);
    return out;
}

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
constexpr const char* kSystemdManager = "org.freedesktop.systemd1.Manager";

std::string pts_number(const std::string& pty_path) { return pty_path.substr(std::string("/dev/pts/").size()); }

}  // namespace

std::string encode_guest_outcome(const GuestOutcome& out) {
    return fmt::format("{}\n{}\n{}", static_cast<int>(out.kind), out.error_name, out.message);
}

GuestOutcome decode_guest_outcome(const std::string& text) {
    GuestOutcome out;
    size_t a = text.find('\n'), b = a == std::string::npos ? a : text.find('\n', a + 1);
    int kind = b == std::string::npos ? -1 : std::atoi(text.substr(0, a).c_str());
    if (kind < static_cast<int>(GuestOutcome::Kind::Done) || kind > static_cast<int>(GuestOutcome::Kind::Failed))
        return {GuestOutcome::Kind::Failed, bus::kFailed, "The worker that asked the guest answered nonsense"};
    out.kind = static_cast<GuestOutcome::Kind>(kind);
    out.error_name = text.substr(a + 1, b - a - 1);
    out.message = text.substr(b + 1);
    if (out.kind == GuestOutcome::Kind::Failed && out.error_name.empty()) out.error_name = bus::kFailed;
    return out;
}

GuestOutcome start_guest_getty(UniqueFd bus_socket, const std::string& pty_path, const std::string& machine) {
    uint64_t deadline = now_us() + kGuestBusTimeoutMs * 1000ULL;
    std::string why;
    BusPtr bus = open_guest_bus(std::move(bus_socket), deadline, why);
    if (!bus) return no_systemd(machine, why);
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus.get(), &raw, kSystemd, kSystemdPath, kSystemdManager, "StartUnit");
    MessagePtr call(raw);
    std::string unit = fmt::format("container-getty@{}.service", pts_number(pty_path));
    if (r >= 0) r = sd_bus_message_append(call.get(), "ss", unit.c_str(), "replace");
    if (r < 0) return {GuestOutcome::Kind::Failed, bus::kFailed, std::strerror(-r)};
    return call_guest(bus.get(), call.get(), deadline, machine);
}

ShellUnit default_shell_command(ShellUnit unit) {
    unit.path = "/bin/sh";
    unit.args = {"sh", "-c",
                 fmt::format("shell=$(getent passwd {} 2>/dev/null | {{ IFS=: read _ _ _ _ _ _ x; echo \"$x\"; }})\n"
                             "exec \"${{shell:-/bin/sh}}\" -l",
                             unit.user)};
    return unit;
}

GuestOutcome start_guest_shell(UniqueFd bus_socket, const ShellUnit& u, const std::string& machine) {
    uint64_t deadline = now_us() + kGuestBusTimeoutMs * 1000ULL;
    std::string why;
    BusPtr bus = open_guest_bus(std::move(bus_socket), deadline, why);
    if (!bus) return no_systemd(machine, why);
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus.get(), &raw, kSystemd, kSystemdPath, kSystemdManager,
                                           "StartTransientUnit");
    MessagePtr m(raw);
    std::string unit = fmt::format("container-shell@{}.service", pts_number(u.pty_path));
    std::string description = "Shell for User " + u.user;
    std::string utmp_id = u.pty_path.substr(std::string("/dev/").size());
    auto strv = [](const std::vector<std::string>& v) {
        std::vector<char*> out;
        for (auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
        out.push_back(nullptr);
        return out;
    };
    auto args = strv(u.args), env = strv(u.environment);
    // The properties and their order as systemd-machined 252 sends them.
    if (r >= 0) r = sd_bus_message_append(m.get(), "ss", unit.c_str(), "fail");
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "(sv)");
    if (r >= 0)
        r = sd_bus_message_append(m.get(), "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)", "Description", "s",
                                  description.c_str(), "StandardInputFileDescriptor", "h", u.terminal,
                                  "StandardOutputFileDescriptor", "h", u.terminal, "StandardErrorFileDescriptor", "h",
                                  u.terminal, "SendSIGHUP", "b", 1, "IgnoreSIGPIPE", "b", 0, "KillMode", "s", "mixed",
                                  "TTYPath", "s", u.pty_path.c_str(), "TTYReset", "b", 1, "UtmpIdentifier", "s",
                                  utmp_id.c_str(), "UtmpMode", "s", "user", "PAMName", "s", "login",
                                  "WorkingDirectory", "s", "-~");
    if (r >= 0) r = sd_bus_message_append(m.get(), "(sv)", "User", "s", u.user.c_str());
    if (r >= 0 && !u.environment.empty()) {
        r = sd_bus_message_open_container(m.get(), 'r', "sv");
        if (r >= 0) r = sd_bus_message_append(m.get(), "s", "Environment");
        if (r >= 0) r = sd_bus_message_open_container(m.get(), 'v', "as");
        if (r >= 0) r = sd_bus_message_append_strv(m.get(), env.data());
        if (r >= 0) r = sd_bus_message_close_container(m.get());
        if (r >= 0) r = sd_bus_message_close_container(m.get());
    }
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'r', "sv");
    if (r >= 0) r = sd_bus_message_append(m.get(), "s", "ExecStart");
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'v', "a(sasb)");
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "(sasb)");
    if (r >= 0) r = sd_bus_message_open_container(m.get(), 'r', "sasb");
    if (r >= 0) r = sd_bus_message_append(m.get(), "s", u.path.c_str());
    if (r >= 0) r = sd_bus_message_append_strv(m.get(), args.data());
    if (r >= 0) r = sd_bus_message_append(m.get(), "b", 1);
    for (int i = 0; i < 5 && r >= 0; i++) r = sd_bus_message_close_container(m.get());
    if (r >= 0) r = sd_bus_message_append(m.get(), "a(sa(sv))", 0);
    if (r < 0) return {GuestOutcome::Kind::Failed, bus::kFailed, std::strerror(-r)};
    return call_guest(bus.get(), m.get(), deadline, machine);
}

}  // namespace berth::machined
