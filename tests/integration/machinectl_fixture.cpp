#include "tests/integration/machinectl_fixture.hpp"

#include <algorithm>

namespace berth::test {

std::string machinectl_path() { return BERTH_MACHINECTL; }

void MachinectlTest::SetUp() {
    MachinedTest::SetUp();
    if (HasFatalFailure()) return;
    start_machined();
}

RunResult MachinectlTest::machinectl(const std::vector<std::string>& args) const {
    return run(machinectl_path(), args, {.env = {bus_->env()}, .timeout = 60s});
}

Process MachinectlTest::register_sleeper(const std::string& name, const std::string& service) const {
    Process p = start_leader();
    // Registered once it is `sleep` (exec done), so that status and list see its name and command line.
    EXPECT_TRUE(eventually([&] { return trim(read_file("/proc/" + std::to_string(p.pid()) + "/comm")) == "sleep"; }));
    auto r = manager("RegisterMachine", {"sayssus", name, "0", service, "container", std::to_string(p.pid()), tmp_});
    EXPECT_TRUE(r.exited(0)) << "RegisterMachine " << name << ": " << r.describe();
    return p;
}

Process MachinectlTest::start_registered(const std::string& script, const std::vector<std::string>& opts) const {
    Process p = MachinedTest::start_registered(script, opts);
    EXPECT_TRUE(wait_up(p)) << "the machine did not come up";
    return p;
}

bool MachinectlTest::listed(const std::string& name) const {
    auto names = machine_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace berth::test
