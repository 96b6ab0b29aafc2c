#include "machined/daemon.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "common/cgroup.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "images/discovery.hpp"
#include "images/transfer.hpp"
#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/forked_call.hpp"
#include "machined/limits.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"
#include "machined/supervision.hpp"

namespace berth::machined {

namespace {

constexpr long kRmdirPatienceMs = 10000;
constexpr int kRmdirRetryMs = 50;

// The bus daemon's pid, as it says itself (0 when it does not).
pid_t bus_daemon_pid(sd_bus* bus) {
    auto reply = call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "GetConnectionUnixProcessID", "s", "org.freedesktop.DBus");
    uint32_t pid = 0;
    if (!reply.ok() || sd_bus_message_read(reply->get(), "u", &pid) < 0) {
        spdlog::warn("Cannot tell the bus daemon's pid: {}", reply.ok() ? "unexpected reply" : reply.error().message);
        return 0;
    }
    return static_cast<pid_t>(pid);
}

bool readable_now(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

// The cgroups machined made for a machine (CreateMachine's unified one, SetMachineLimits' v1 ones), with
// their "berth" parent when no other machine uses it. Only empty ones: a machine unregistered while
// running keeps running, and a dead leader's last processes may take a moment to go.
std::vector<std::string> cgroups_to_remove(const Machine& m) {
    std::vector<std::string> out;
    if (m.cgroup_created) {
        auto layout = detect_cgroup_layout();
        if (layout.ok()) out.push_back(layout->unified_root + m.cgroup);
    }
    out.insert(out.end(), m.v1_cgroups.begin(), m.v1_cgroups.end());
    return out;
}

// true when gone (or not ours to wait for any more).
bool try_rmdir_with_parent(const std::string& dir) {
    if (::rmdir(dir.c_str()) < 0 && errno != ENOENT) return errno != EBUSY;
    std::string parent = dir.substr(0, dir.rfind('/'));
    if (parent.size() > 6 && parent.compare(parent.size() - 6, 6, "/berth") == 0) (void)::rmdir(parent.c_str());
    return true;
}

}  // namespace

Daemon::Daemon(MachinedConfig config, BusPtr bus)
    : config_(std::move(config)),
      bus_(std::move(bus)),
      state_(config_.state_dir),
      machine_files_(config_.machines_dir),
      access_(config_.allowed_groups),
      enabled_(config_.enabled_dir),
      supervisor_(std::make_unique<Supervisor>(config_, bus_.get())),
      image_path_(images::search_path(config_.pool, config_.image_search_path)),
      image_usage_(children_, config_.image_usage_refresh_sec) {}

Daemon::~Daemon() = default;

Caller Daemon::caller_of(sd_bus_message* call) { return access_.caller_of(call); }

void Daemon::authorize(sd_bus_message* call) {
    ok_or_throw(access_.authorize(access_.caller_of(call), sd_bus_message_get_member(call)));
}

void Daemon::authorize_root(sd_bus_message* call) {
    if (access_.caller_of(call).uid != 0)
        throw_bus_error(kAccessDenied, fmt::format("Access denied: {} needs root", sd_bus_message_get_member(call)));
}

Machine& Daemon::require(const std::string& name) {
    if (auto* m = registry_.find(name)) return *m;
    throw_bus_error(kNoSuchMachine, fmt::format("No machine \"{}\" known", name));
}

std::vector<images::Image> Daemon::list_images() {
    auto all = images::list_images(image_path_);
    for (auto& img : all) image_usage_.fill(img);
    return all;
}

std::optional<images::Image> Daemon::find_image(const std::string& name) {
    auto img = images::find_image(image_path_, name);
    if (!img.ok()) {
        if (img.error().code != ENOENT) spdlog::warn("{}", img.error().message);
        return std::nullopt;
    }
    image_usage_.fill(*img);
    return std::move(*img);
}

images::Image Daemon::require_image(const std::string& name) {
    auto img = images::find_image(image_path_, name);
    if (!img.ok()) {
        if (img.error().code == ENOENT) throw_bus_error(kNoSuchImage, img.error().message);
        throw_bus_error(img.error());
    }
    image_usage_.fill(*img);
    return std::move(*img);
}

Machine& Daemon::require_by_pid(pid_t pid) {
    if (pid == 1) return *registry_.find(".host");
    auto cg = own_unified_cgroup(pid);
    if (auto* m = registry_.find_by_process(pid, cg.ok() ? *cg : std::string())) return *m;
    throw_bus_error(kNoMachineForPID, fmt::format("PID {} does not belong to any known machine", pid));
}

Machine& Daemon::machine_of_caller(sd_bus_message* call) {
    Caller c = access_.caller_of(call);
    auto cg = own_unified_cgroup(c.pid);
    if (auto* m = registry_.find_by_process(c.pid, cg.ok() ? *cg : std::string())) return *m;
    return *registry_.find(".host");
}

Machine& Daemon::register_machine(const RegistrationRequest& req, const Caller& caller, bool create_cgroup) {
    auto prepared = value_or_throw(prepare_machine(req, caller, registry_, create_cgroup, protected_));
    Machine& m = registry_.add(std::move(prepared));
    if (auto s = state_.save(m); !s.ok())
        spdlog::warn("Machine \"{}\" will be forgotten if machined restarts: {}", m.name, s.error().message);
    machine_files_.write(m);
    emit_signal(bus_.get(), kManagerPath, kManagerInterface, "MachineNew", "so", m.name.c_str(),
                machine_object_path(m.name).c_str());
    spdlog::info("New machine \"{}\" (leader {}{}{})", m.name, m.leader, m.cgroup.empty() ? "" : ", cgroup ",
                 m.cgroup);
    answer_starts(m.name, nullptr);
    return m;
}

void Daemon::remove_machine(const std::string& name, const char* why) {
    auto m = registry_.remove(name);
    if (!m) return;
    state_.remove(name);
    machine_files_.remove(*m);
    terminate_deadlines_.erase(name);
    for (auto& dir : cgroups_to_remove(*m))
        if (!try_rmdir_with_parent(dir)) pending_rmdirs_.push_back({dir, now_ms() + kRmdirPatienceMs});
    emit_signal(bus_.get(), kManagerPath, kManagerInterface, "MachineRemoved", "so", name.c_str(),
                machine_object_path(name).c_str());
    spdlog::info("Machine \"{}\" removed ({})", name, why);
}

void Daemon::unregister_machine(const std::string& name) { remove_machine(name, "unregistered"); }

bool Daemon::stop_unit(const Machine& m) {
    if (m.unit.empty() || !systemd_is_running() || !unit_is_machines_own(m.unit, m.name)) return false;
    auto job = call_method(bus_.get(), "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                           "org.freedesktop.systemd1.Manager", "StopUnit", "ss", m.unit.c_str(), "replace");
    if (!job.ok()) {
        spdlog::warn("Failed to stop unit {} of machine \"{}\": {}; asking the machine itself", m.unit, m.name,
                     job.error().message);
        return false;
    }
    spdlog::info("Terminating machine \"{}\": stopping its unit {}", m.name, m.unit);
    return true;
}

void Daemon::terminate_machine(Machine& m) {
    if (m.is_host()) throw_bus_error(kInvalidArgs, "The host cannot be terminated");
    // A frozen machine would never see the request: thawed first, whoever is asked to stop it.
    if (is_frozen(m)) {
        auto thawed = set_frozen(m, false);
        if (!thawed.ok()) spdlog::warn("Failed to thaw machine \"{}\" before stopping it: {}", m.name, thawed.error().message);
    }
    if (config_.terminate_timeout_sec == 0) {
        ok_or_throw(kill_machine_hard(m));
    } else {
        if (!stop_unit(m)) {
            auto how = value_or_throw(ask_machine_to_stop(m));
            spdlog::info("Terminating machine \"{}\": {}", m.name, how);
        }
        // Asked again by a second TerminateMachine, the deadline stays the first one's.
        terminate_deadlines_.emplace(m.name, now_ms() + config_.terminate_timeout_sec * 1000L);
    }
    // No PropertiesChanged: State is declared EmitsChangedSignal=false, as systemd 252 declares it.
    m.state = "closing";
}

void Daemon::freeze_machine(Machine& m, bool frozen) {
    ok_or_throw(set_frozen(m, frozen));
    emit_machine_changed(m, kBerthMachineInterface, {"Frozen"});
}

void Daemon::set_machine_limits(Machine& m, const std::vector<std::pair<std::string, std::string>>& limits) {
    std::vector<std::string> created;
    auto s = berth::machined::set_machine_limits(m, limits, created);
    // Recorded even when a write failed after they were made: they go with the machine.
    m.v1_cgroups.insert(m.v1_cgroups.end(), created.begin(), created.end());
    if (!created.empty()) (void)state_.save(m);
    ok_or_throw(s);
}

void Daemon::start_machine(const std::string& name, sd_bus_message* call) {
    if (registry_.find(name) || supervisor_->running(name))
        throw_bus_error(kMachineExists, fmt::format("Machine \"{}\" is already running", name));
    auto s = supervisor_->start(name);
    if (!s.ok() && s.error().code == ENOENT) throw_bus_error(kNoSuchImage, s.error().message);
    ok_or_throw(s);
    if (supervisor_->running(name)) {
        // Answered by register_machine() or on nspawn's exit.
        pending_starts_[name].emplace_back(sd_bus_message_ref(call));
        if (config_.start_timeout_sec > 0)
            start_deadlines_.emplace(name, now_ms() + config_.start_timeout_sec * 1000L);
    } else {
        check(reply_empty(call), "send the reply");
    }
}

void Daemon::terminate_machine(const std::string& name) {
    if (registry_.find(name) || !supervisor_->running(name)) return terminate_machine(require(name));
    stop_unregistered(name);
}

void Daemon::stop_unregistered(const std::string& name) {
    spdlog::info("Stopping the nspawn of machine \"{}\", which has not registered", name);
    supervisor_->signal(name, SIGTERM);
    nspawn_kill_deadlines_.emplace(name, now_ms() + config_.terminate_timeout_sec * 1000L);
}

// StartMachine calls whose nspawn neither registered nor exited in time fail, and that nspawn is
// stopped; an nspawn asked to stop that is still there at its deadline is killed.
void Daemon::check_starts() {
    long now = now_ms();
    for (auto it = start_deadlines_.begin(); it != start_deadlines_.end();) {
        std::string name = it->first;
        bool due = it->second <= now;
        it = due ? start_deadlines_.erase(it) : std::next(it);
        if (!due || registry_.find(name)) continue;
        std::string why = fmt::format("nspawn did not register it within {} s; stopping it", config_.start_timeout_sec);
        answer_starts(name, &why);
        if (supervisor_->running(name)) stop_unregistered(name);
    }
    for (auto it = nspawn_kill_deadlines_.begin(); it != nspawn_kill_deadlines_.end();) {
        if (!supervisor_->running(it->first)) {
            it = nspawn_kill_deadlines_.erase(it);
        } else if (it->second <= now) {
            spdlog::info("The nspawn of machine \"{}\" did not stop after SIGTERM: killing it", it->first);
            supervisor_->signal(it->first, SIGKILL);
            it = nspawn_kill_deadlines_.erase(it);
        } else {
            ++it;
        }
    }
}

void Daemon::answer_starts(const std::string& name, const std::string* failure) {
    auto it = pending_starts_.find(name);
    if (it == pending_starts_.end()) return;
    auto calls = std::move(it->second);
    pending_starts_.erase(it);
    start_deadlines_.erase(name);
    for (auto& call : calls) {
        // A caller that went away meanwhile is no reason to fail whatever we are doing now.
        int r = failure ? sd_bus_reply_method_errorf(call.get(), kFailed, "Machine \"%s\" did not start: %s",
                                                     name.c_str(), failure->c_str())
                        : reply_empty(call.get());
        if (r < 0) spdlog::debug("Could not answer StartMachine(\"{}\"): {}", name, std::strerror(-r));
    }
}

void Daemon::emit_machine_changed(Machine& m, const std::string& interface, const std::vector<std::string>& props) {
    if (machine_objects_) machine_objects_->emit_changed(m, interface.c_str(), props);
}

void Daemon::emit_manager_changed(const std::string& interface, const std::vector<std::string>& props) {
    check(emit_properties_changed(bus_.get(), kManagerPath, interface.c_str(), props), "emit PropertiesChanged");
}

Status Daemon::start() {
    BERTH_TRY(state_.prepare());
    protected_ = protected_pids(bus_daemon_pid(bus_.get()));
    for (auto& m : state_.load_live(protected_)) {
        spdlog::info("Machine \"{}\" still runs (leader {})", m->name, m->leader);
        registry_.add(std::move(m));
    }
    try {
        // sd-bus introspects the interface added last first: org.freedesktop.machine1.Manager leads, as always.
        manager_vtables_.push_back(
            add_vtable(bus_.get(), kManagerPath, kBerthManagerInterface, kBerthManagerVtable, this));
        manager_vtables_.push_back(add_vtable(bus_.get(), kManagerPath, kManagerInterface, kManagerVtable, this));
        machine_objects_ = std::make_unique<MachineObjects>(*this, bus_.get());
        image_objects_ = std::make_unique<ImageObjects>(*this, bus_.get());
        transfers_ = std::make_unique<Transfers>(*this, bus_.get());
        // Last: whoever sees the name can use every object.
        check(sd_bus_request_name(bus_.get(), kBusName, 0), "request the name");
    } catch (const BusError& e) {
        return plain_error(fmt::format("Failed to set up {} on the system bus: {}", kBusName, e.what()), EIO);
    }
    own_import_name();
    // Ours now: systemd's -M tools see the machines we have.
    if (auto s = machine_files_.enable(registry_.all()); !s.ok())
        spdlog::warn("systemd's tools will not find machines (-M): {}", s.error().message);

    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&mask, s);
    signal_fd_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) return errno_error("Failed to create a signalfd");

    if (!systemd_is_running()) {
        for (auto& name : enabled_.list()) {
            if (registry_.find(name)) continue;
            auto s = supervisor_->start(name);
            if (!s.ok()) spdlog::warn("Enabled machine \"{}\" not started: {}", name, s.error().message);
        }
    }
    spdlog::info("Ready: {} on the system bus, pool {}", kBusName, config_.pool);
    return {};
}

// org.freedesktop.import1 too, unless another service has it (systemd-importd on a host with systemd, or a
// bus policy that does not let us): then machinectl's import-*, export-* reach that one, and machined
// goes on without. Owning it, no import of ours runs yet: what killed ones left in the pool goes now.
void Daemon::own_import_name() {
    int r = sd_bus_request_name(bus_.get(), kImportBusName, 0);
    if (r < 0) {
        spdlog::warn("Not serving {} (imports and exports): {}", kImportBusName, std::strerror(-r));
        return;
    }
    std::string pool = config_.pool;
    // Now, before any call is served: a temporary of this machined's is never among the names, and no
    // operation of its own finds a name held by the sweep of the locks.
    images::release_stale_name_locks();
    auto names = images::find_leftovers(pool);
    auto started = run_forked(
        children_,
        [pool, names]() -> Result<std::string> {
            images::remove_leftovers(pool, names);
            return std::string();
        },
        [](const Result<std::string>&) {});
    if (!started.ok()) spdlog::warn("Leftovers of imports in {} not removed: {}", pool, started.error().message);
}

void Daemon::retry_rmdirs() {
    long now = now_ms();
    std::erase_if(pending_rmdirs_, [&](const std::pair<std::string, long>& p) {
        if (try_rmdir_with_parent(p.first)) return true;
        if (now < p.second) return false;
        spdlog::warn("Cgroup {} still has processes; leaving it", p.first);
        return true;
    });
}

int Daemon::next_timeout_ms() const {
    if (!pending_rmdirs_.empty()) return kRmdirRetryMs;
    long next = -1;
    for (auto* deadlines : {&terminate_deadlines_, &start_deadlines_, &nspawn_kill_deadlines_})
        for (auto& [name, when] : *deadlines) next = next < 0 ? when : std::min(next, when);
    if (next < 0) return -1;
    return static_cast<int>(std::max(0L, next - now_ms()));
}

void Daemon::check_terminations() {
    long now = now_ms();
    for (auto it = terminate_deadlines_.begin(); it != terminate_deadlines_.end();) {
        if (it->second > now) {
            ++it;
            continue;
        }
        if (auto* m = registry_.find(it->first)) {
            spdlog::info("Machine \"{}\" did not stop within {} s: killing it", m->name, config_.terminate_timeout_sec);
            auto s = kill_machine_hard(*m);
            if (!s.ok()) spdlog::warn("Failed to kill machine \"{}\": {}", m->name, s.error().message);
        }
        it = terminate_deadlines_.erase(it);
    }
}

void Daemon::on_leader_exit(int pidfd) {
    // A pidfd number freed and reused by an earlier handler in this round would be stale: ask again.
    if (!readable_now(pidfd)) return;
    if (auto* m = registry_.find_by_pidfd(pidfd)) remove_machine(m->name, "its leader exited");
}

int Daemon::run() {
    std::vector<pollfd> fds;
    while (true) {
        auto pd = process_bus(bus_.get());
        if (!pd.ok()) {
            spdlog::error("Lost the system bus: {}", pd.error().message);
            return 1;
        }
        fds.clear();
        fds.push_back({pd->fd, pd->events, 0});
        fds.push_back({signal_fd_.get(), POLLIN, 0});
        for (auto* m : registry_.all())
            if (m->pidfd) fds.push_back({m->pidfd.get(), POLLIN, 0});
        size_t first_child = fds.size();
        for (int fd : supervisor_->fds()) fds.push_back({fd, POLLIN, 0});
        size_t first_work = fds.size();
        for (int fd : children_.fds()) fds.push_back({fd, POLLIN, 0});
        size_t first_report = fds.size();
        for (int fd : transfers_->fds()) fds.push_back({fd, POLLIN, 0});

        int timeout = pd->timeout_ms;
        int term = next_timeout_ms();
        if (term >= 0 && (timeout < 0 || term < timeout)) timeout = term;
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
            spdlog::error("poll: {}", std::strerror(errno));
            return 1;
        }
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo si{};
            while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    spdlog::info("Exiting on signal {}; machines keep running", si.ssi_signo);
                    return 0;
                }
            }
        }
        for (size_t i = 2; i < fds.size(); i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (i >= first_report) {
                transfers_->on_ready(fds[i].fd);
            } else if (i >= first_work) {
                children_.on_ready(fds[i].fd);
            } else if (i >= first_child) {
                auto ended = supervisor_->on_exit(fds[i].fd);
                if (ended) answer_starts(ended->first, &ended->second);
            } else {
                on_leader_exit(fds[i].fd);
            }
        }
        check_terminations();
        check_starts();
        retry_rmdirs();
    }
}

}  // namespace berth::machined
