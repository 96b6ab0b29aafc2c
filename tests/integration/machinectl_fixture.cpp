#include "tests/integration/machinectl_fixture.hpp"

#include <sys/stat.h>

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

Process MachinectlTest::start_registered_leader(const std::string& name, const std::string& service) const {
    Process p = start_leader();
    EXPECT_TRUE(eventually([&] { return trim(read_file("/proc/" + std::to_string(p.pid()) + "/comm")) == "sleep"; }));
    auto r = register_leader(name, p.pid(), service, tmp_);
    EXPECT_TRUE(r.exited(0)) << "RegisterMachine " << name << ": " << r.describe();
    return p;
}

Process MachinectlTest::start_registered_up(const std::string& script, const std::vector<std::string>& opts) const {
    Process p = start_registered(script, opts);
    EXPECT_TRUE(wait_up(p)) << "the machine did not come up";
    return p;
}

bool MachinectlTest::listed(const std::string& name) const {
    auto names = machine_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::string MachinectlTest::show_value(const std::string& name, const std::string& property) const {
    auto r = machinectl({"show", name, "-p", property, "--value"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    return trim(r.out);
}

void MachinectlTest::expect_refused(const std::vector<std::string>& args, const std::string& needle) const {
    auto before = machinectl({"list", "--no-legend", "--all"});
    auto r = machinectl(args);
    EXPECT_TRUE(refused_with(r, needle)) << "machinectl " << ::testing::PrintToString(args);
    EXPECT_EQ(r.out, "") << r.describe();
    auto after = machinectl({"list", "--no-legend", "--all"});
    EXPECT_TRUE(after.exited(0)) << "machined still answers: " << after.describe();
    EXPECT_EQ(before.out, after.out) << "registry unchanged";
}

std::string MachinectlTest::make_pool_image(const std::string& name) const {
    std::string dir = pool_ + "/" + name;
    auto r = make_busybox_rootfs(dir);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    write_file(dir + "/bin/init", "#!/bin/sh\nexec sleep 100000\n");
    ::chmod((dir + "/bin/init").c_str(), 0755);
    return dir;
}

}  // namespace berth::test
