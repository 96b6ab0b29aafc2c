// The daemon: registry, bus objects, persistence and supervision tied together by one poll loop over
// the bus, a signalfd and a pidfd per machine leader (and per nspawn machined runs itself).
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IObject.h>

#include <map>
#include <memory>
#include <string>

#include "access.hpp"
#include "config.hpp"
#include "enabled.hpp"
#include "machine_objects.hpp"
#include "registration.hpp"
#include "registry.hpp"
#include "state.hpp"
#include "supervisor.hpp"

namespace berth::machined {

class Daemon {
public:
    Daemon(Config config, std::unique_ptr<sdbus::IConnection> bus);
    ~Daemon();

    // Picks up the machines on record, exports the objects, takes the bus name, starts enabled machines.
    Status start();
    // Until SIGTERM or SIGINT; returns the exit status.
    int run();

    // For the bus objects. The throwing ones throw sdbus::Error with the D-Bus error the API specifies.
    const Config& config() const { return config_; }
    MachineRegistry& registry() { return registry_; }
    Supervisor& supervisor() { return *supervisor_; }
    EnabledSet& enabled() { return enabled_; }
    Caller caller_of(const sdbus::Message& m);  // the sender of the call being processed
    void authorize(const sdbus::Message& m, const std::string& what);
    void authorize(sd_bus_message* call, const std::string& what);
    Machine& require(const std::string& name);        // NoSuchMachine
    Machine& require_by_pid(pid_t pid);               // NoMachineForPID
    Machine& machine_of_caller(sd_bus_message* call);  // for /machine/self: the caller's, else .host
    Machine& register_machine(const RegistrationRequest& req, const Caller& caller, bool create_cgroup);
    void unregister_machine(const std::string& name);
    void terminate_machine(Machine& m);
    void freeze_machine(Machine& m, bool frozen);
    void set_machine_limits(Machine& m, const std::vector<std::pair<std::string, std::string>>& limits);
    void start_machine(const std::string& name);
    void emit_machine_changed(Machine& m, const std::string& interface, const std::vector<std::string>& props);
    void emit_manager_changed(const std::string& interface, const std::vector<std::string>& props);

private:
    void remove_machine(const std::string& name, const char* why);
    void on_leader_exit(int pidfd);
    void check_terminations();
    void retry_rmdirs();
    int next_timeout_ms() const;

    Config config_;
    std::unique_ptr<sdbus::IConnection> bus_;
    MachineRegistry registry_;
    StateStore state_;
    AccessControl access_;
    EnabledSet enabled_;
    std::unique_ptr<Supervisor> supervisor_;
    std::unique_ptr<sdbus::IObject> manager_object_;
    std::unique_ptr<MachineObjects> machine_objects_;
    std::map<std::string, long> terminate_deadlines_;  // name -> CLOCK_MONOTONIC ms
    std::vector<std::pair<std::string, long>> pending_rmdirs_;  // cgroup, give up after (CLOCK_MONOTONIC ms)
    int signal_fd_ = -1;
};

}  // namespace berth::machined
