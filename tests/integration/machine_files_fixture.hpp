// The fixture of the tests of machined's copies and bind mounts (machined_copy_test.cpp,
// machined_bind_test.cpp): a busybox machine of our nspawn registered with machined on a private bus, in
// a user namespace of its own (nspawn's default --private-users=pick, the image idmapped), and a host
// directory for the host's side.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <sstream>
#include <string>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {

// machined with one running machine of the test's, `name`, registered by the process `supervisor`; its
// leader, and a host directory for the host's side. TearDown terminates the machine through machined.
class RunningMachine : public MachinedTest {
protected:
    void start_machine(const std::string& name, Process supervisor) {
        machine_process_.emplace(std::move(supervisor));
        running_ = name;
        ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", name}; }));
        leader_ = machine_property(name, "Leader").substr(2);  // "u PID"
        host_dir_ = tmp_ + "/host";
        make_dirs(host_dir_);
    }
    void TearDown() override {
        if (machine_process_) {
            manager("TerminateMachine", {"s", running_});
            machine_process_->wait(60s);
            machine_process_.reset();
        }
        MachinedTest::TearDown();
    }
    std::optional<Process> machine_process_;
    std::string running_, leader_, host_dir_;
};

class MachineFiles : public RunningMachine {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        start_machined();
        start_machine(machine_, start_registered("sleep 1000"));
        ASSERT_TRUE(wait_up(*machine_process_));
    }

    // A shell command inside the machine: all its namespaces, its root, as its root.
    RunResult in_machine(const std::string& script) const {
        return run("/usr/bin/nsenter", {"-t", leader_, "-a", "-r", "-w", "/bin/sh", "-c", script});
    }
    std::string in_machine_out(const std::string& script) const {
        auto r = in_machine(script);
        EXPECT_TRUE(r.exited(0)) << script << "\n" << r.describe();
        return trim(r.out);
    }
    // The first host id the machine's ids start at (its uid_map's "0 BASE COUNT").
    uint32_t uid_base() const {
        std::istringstream in(read_file("/proc/" + leader_ + "/uid_map"));
        uint32_t inner = 0, outer = 0;
        in >> inner >> outer;
        return outer;
    }
    // The machine's file as the host kernel has it: through the leader's root.
    std::string seen_from_host(const std::string& path) const { return "/proc/" + leader_ + "/root" + path; }

    RunResult copy_to(const std::string& src, const std::string& dst) const {
        return manager("CopyToMachine", {"sss", machine_, src, dst});
    }
    RunResult copy_from(const std::string& src, const std::string& dst) const {
        return manager("CopyFromMachine", {"sss", machine_, src, dst});
    }
    // CopyToMachine by busctl, not waited for.
    Process start_copy_to(const std::string& src, const std::string& dst) const {
        return Process::start("/usr/bin/busctl",
                              {"--system", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                               "org.freedesktop.machine1.Manager", "CopyToMachine", "sss", machine_, src, dst},
                              {.env = {bus_->env()}, .timeout = 120s});
    }
};

inline struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
    return st;
}

inline void make_file(const std::string& path, const std::string& text, mode_t mode, uid_t uid, gid_t gid) {
    write_file(path, text);
    ASSERT_EQ(::chown(path.c_str(), uid, gid), 0);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

}  // namespace berth::test
