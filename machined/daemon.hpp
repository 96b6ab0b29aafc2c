// The daemon: registry, bus objects, persistence and supervision tied together by one poll loop over
// the bus, a signalfd and a pidfd per machine leader (and per nspawn machined runs itself).
#pragma once

#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>

#include "common/machined_config.hpp"
#include "images/image.hpp"
#include "machined/access.hpp"
#include "machined/children.hpp"
#include "machined/enabled.hpp"
#include "machined/image_objects.hpp"
#include "machined/image_usage.hpp"
#include "machined/machine_files.hpp"
#include "machined/machine_objects.hpp"
#include "machined/machine_starter.hpp"
#include "machined/register_request.hpp"
#include "machined/registry.hpp"
#include "machined/sd_bus_object.hpp"
#include "machined/state.hpp"
#include "machined/transfers.hpp"

namespace berth::machined {

class Daemon {
public:
    Daemon(MachinedConfig config, BusPtr bus);
    ~Daemon();

    // Picks up the machines on record, exports the objects, takes the bus name, starts enabled machines.
    Status start();
    // Until SIGTERM or SIGINT; returns the exit status.
    int run();

    // For the bus objects. The throwing ones throw BusError with the D-Bus error the API specifies.
    const MachinedConfig& config() const { return config_; }
    MachineRegistry& registry() { return registry_; }
    Supervisor& supervisor() { return *supervisor_; }
    EnabledSet& enabled() { return enabled_; }
    Children& children() { return children_; }  // work forked off that outlives a call
    Caller caller_of(sd_bus_message* call);  // who sent it
    void authorize(sd_bus_message* call);    // AccessDenied; the message names the call's member
    // Root alone, whatever allowed_groups says: what reaches inside a machine past its file permissions and
    // its users (pty, shell, Execute, copy, bind, root directory). AccessDenied naming the call's member.
    void authorize_root(sd_bus_message* call);
    Machine& require(const std::string& name);        // NoSuchMachine
    Machine& require_by_pid(pid_t pid);               // NoMachineForPID
    Machine& machine_of_caller(sd_bus_message* call);  // for /machine/self: the caller's, else .host
    Machine& register_machine(const RegistrationRequest& req, const Caller& caller, bool create_cgroup);
    void unregister_machine(const std::string& name);
    void terminate_machine(Machine& m);
    // TerminateMachine by name: a registered machine, or one whose nspawn machined runs and that has not
    // registered (yet): that nspawn is stopped (SIGTERM, SIGKILL after terminate_timeout_sec).
    void terminate_machine(const std::string& name);
    void freeze_machine(Machine& m, bool frozen);
    void set_machine_limits(Machine& m, const std::vector<std::pair<std::string, std::string>>& limits);
    // Replies to `call` once the machine registered (or nspawn failed); under systemd once the job is queued.
    void start_machine(const std::string& name, sd_bus_message* call);
    // The images of the search path (the pool first, .host too), usage from the cache (image_usage.hpp).
    std::vector<images::Image> list_images();
    // The image `name` as on disk now; nullopt when there is none (or the name cannot be one).
    std::optional<images::Image> find_image(const std::string& name);
    images::Image require_image(const std::string& name);  // NoSuchImage, "No image 'NAME' known"
    const std::vector<std::string>& image_search_path() const { return image_path_; }
    void emit_machine_changed(Machine& m, const std::string& interface, const std::vector<std::string>& props);
    void emit_manager_changed(const std::string& interface, const std::vector<std::string>& props);

private:
    void remove_machine(const std::string& name, const char* why);
    // Under systemd, StopUnit of the machine's own unit; false when there is none or systemd refused.
    bool stop_unit(const Machine& m);
    void on_leader_exit(int pidfd);
    void check_terminations();
    void answer_starts(const std::string& name, const std::string* failure);  // nullptr: it registered
    void stop_unregistered(const std::string& name);  // SIGTERM to its nspawn, SIGKILL at the deadline
    void check_starts();
    void retry_rmdirs();
    void own_import_name();
    int next_timeout_ms() const;

    MachinedConfig config_;
    BusPtr bus_;
    MachineRegistry registry_;
    StateStore state_;
    SystemdMachineFiles machine_files_;  // /run/systemd/machines, for systemd's -M tools
    AccessControl access_;
    EnabledSet enabled_;
    std::unique_ptr<Supervisor> supervisor_;
    Children children_;
    std::vector<std::string> image_path_;  // the pool, then config_.image_search_path
    ImageUsage image_usage_;
    std::vector<SlotPtr> manager_vtables_;  // the interfaces of /org/freedesktop/machine1
    std::unique_ptr<MachineObjects> machine_objects_;
    std::unique_ptr<ImageObjects> image_objects_;
    std::unique_ptr<Transfers> transfers_;  // org.freedesktop.import1
    std::map<std::string, long> terminate_deadlines_;  // name -> CLOCK_MONOTONIC ms
    std::vector<std::pair<std::string, long>> pending_rmdirs_;  // cgroup, give up after (CLOCK_MONOTONIC ms)
    std::map<std::string, std::vector<MessagePtr>> pending_starts_;  // StartMachine calls to answer
    std::map<std::string, long> start_deadlines_;    // name -> CLOCK_MONOTONIC ms: registered by then, or stopped
    std::map<std::string, long> nspawn_kill_deadlines_;  // name -> CLOCK_MONOTONIC ms: SIGKILL to its nspawn
    std::set<pid_t> protected_;  // never a machine's leader: machined, the bus daemon, their ancestors
    UniqueFd signal_fd_;
};

}  // namespace berth::machined
