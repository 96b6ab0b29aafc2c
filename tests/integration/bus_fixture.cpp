#include "tests/integration/bus_fixture.hpp"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace berth::test {

std::string machined_path() { return BERTH_MACHINED; }

namespace {

constexpr const char* kSetpriv = "/usr/bin/setpriv";
const std::vector<std::string> kNobody = {"--reuid=65534", "--regid=65534", "--clear-groups", "--"};

}  // namespace

// The system bus's default policy (Debian's system.conf) plus the policy file machined ships.
PrivateSystemBus::PrivateSystemBus(const std::string& dir)
    : DbusDaemon(dir,
                 "  <policy context=\"default\">\n"
                 "    <allow user=\"*\"/>\n"
                 "    <deny own=\"*\"/>\n"
                 "    <deny send_type=\"method_call\"/>\n"
                 "    <allow send_type=\"signal\"/>\n"
                 "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                 "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                 "    <allow receive_type=\"method_call\"/>\n"
                 "    <allow receive_type=\"method_return\"/>\n"
                 "    <allow receive_type=\"error\"/>\n"
                 "    <allow receive_type=\"signal\"/>\n"
                 "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
                 "    <allow send_destination=\"org.freedesktop.DBus\" "
                 "send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
                 "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
                 "  </policy>\n"
                 "  <include>" BERTH_UNITS "/org.freedesktop.machine1.conf</include>\n") {}

void MachinedTest::SetUp() {
    leak_check_.emplace();
    auto where = busybox_scratch();
    tmp_ = where.tmp, id_ = where.id, root_ = where.root, machine_ = where.machine, sync_ = where.sync;
    ASSERT_TRUE(make_busybox_image(root_, sync_));
    pool_ = tmp_ + "/pool";
    state_dir_ = tmp_ + "/state";
    enabled_dir_ = tmp_ + "/enabled";
    machines_dir_ = tmp_ + "/machines";
    config_ = tmp_ + "/machined.toml";
    make_dirs(pool_);
    bus_.emplace(tmp_);
    ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
}

void MachinedTest::TearDown() {
    // The test's leaders are gone by now; machined notices that asynchronously.
    if (machined_running()) {
        EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }))
            << "machines still registered at the end of the test";
    }
    if (machined_running()) stop_machined();
    machined_.reset();
    bus_.reset();
    ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
    auto left = list_dir(state_dir_ + "/machines");
    EXPECT_TRUE(left.empty()) << "machine state left behind: " << (left.empty() ? "" : left[0]);
    auto files = list_dir(machines_dir_);
    EXPECT_TRUE(files.empty()) << "machines file left behind: " << (files.empty() ? "" : files[0]);
    // The v1 controller hierarchies of hybrid hosts (SetMachineLimits, the v1 freezer) are not in the
    // HostLeakCheck: this test's machines (named after id_) must have left none there.
    for (auto& controller : list_dir("/sys/fs/cgroup"))
        for (auto& entry : list_dir("/sys/fs/cgroup/" + controller + "/berth"))
            EXPECT_EQ(entry.find(id_), std::string::npos) << "cgroup left behind: /sys/fs/cgroup/" << controller << "/berth/" << entry;
    leak_check_->expect_nothing_left(id_);
    remove_tree(tmp_);
}

void MachinedTest::start_machined(const std::string& config, bool as_if_under_systemd) {
    std::string text = config.empty() ? "" : config + "\n";
    if (text.find("enabled_dir") == std::string::npos) text += "enabled_dir = \"" + enabled_dir_ + "\"\n";
    if (text.find("terminate_timeout_sec") == std::string::npos) text += "terminate_timeout_sec = 2\n";
    if (text.find("machines_dir") == std::string::npos) text += "machines_dir = \"" + machines_dir_ + "\"\n";
    // Images only from the test's own pool, never the host's /var/lib/machines and the rest of systemd's path.
    if (text.find("image_search_path") == std::string::npos) text += "image_search_path = []\n";
    write_file(config_, text);
    std::vector<std::string> args = {"--pool=" + pool_, "--state-dir=" + state_dir_, "--config=" + config_};
    if (!as_if_under_systemd) {
        machined_.emplace(Process::start(machined_path(), args, {.env = {bus_->env()}, .timeout = 600s}));
    } else {
        std::string setup =
            "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && "
            "mount -t tmpfs tmpfs /etc/systemd/system && cp " BERTH_UNITS "/nspawn@.service /etc/systemd/system/ && "
            "exec \"$@\"";
        std::vector<std::string> all = {"-m", "--propagation", "private", "/bin/sh", "-c", setup, "sh", machined_path()};
        all.insert(all.end(), args.begin(), args.end());
        machined_.emplace(Process::start("/usr/bin/unshare", all, {.env = {bus_->env()}, .timeout = 600s}));
    }
    // Up when machined itself answers: the bus daemon shows the name as soon as it is requested, but
    // machined reads its loop (and answers Peer.Ping) only once its start is done, the stale
    // /run/systemd/machines files removed and the enabled machines started.
    bool up = eventually([&] {
        auto r = busctl({"call", "org.freedesktop.machine1", "/org/freedesktop/machine1", "org.freedesktop.DBus.Peer",
                         "Ping"});
        return r.exited(0) || !machined_->running();
    });
    ASSERT_TRUE(up && machined_->running()) << "machined did not come up: " << machined_->wait(5s).describe();
}

RunResult MachinedTest::stop_machined(int sig) {
    machined_->signal(sig);
    return machined_->wait(30s);
}

RunResult MachinedTest::busctl(const std::vector<std::string>& args, const RunOptions& opts) const {
    std::vector<std::string> all = {"--system", "--no-pager"};
    all.insert(all.end(), args.begin(), args.end());
    RunOptions o = opts;
    o.env.push_back(bus_->env());
    return run("/usr/bin/busctl", all, o);
}

RunResult MachinedTest::manager(const std::string& method, const std::vector<std::string>& sig_and_args) const {
    std::vector<std::string> args = {"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                     "org.freedesktop.machine1.Manager", method};
    args.insert(args.end(), sig_and_args.begin(), sig_and_args.end());
    return busctl(args);
}

RunResult MachinedTest::berth_manager(const std::string& method, const std::vector<std::string>& sig_and_args) const {
    std::vector<std::string> args = {"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                     "io.berth.Manager1", method};
    args.insert(args.end(), sig_and_args.begin(), sig_and_args.end());
    return busctl(args);
}

RunResult MachinedTest::busctl_as_nobody(const std::vector<std::string>& args) const {
    std::vector<std::string> all = kNobody;
    all.insert(all.end(), {"/usr/bin/busctl", "--system", "--no-pager"});
    all.insert(all.end(), args.begin(), args.end());
    return run(kSetpriv, all, {.env = {bus_->env()}});
}

namespace {

// systemd's tools insist on running under systemd: give them a /run/systemd/system of their own, and this
// machined's machines where they look for them. unshare's arguments to run `tool args`.
std::vector<std::string> in_systemd_view(const std::string& machines_dir, const std::string& tool,
                                         const std::vector<std::string>& args) {
    std::string script =
        "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system /run/systemd/machines && "
        "{ [ ! -d \"$0\" ] || mount --bind \"$0\" /run/systemd/machines; } && exec \"$@\"";
    std::vector<std::string> all = {"-m", "--propagation", "private", "/bin/sh", "-c", script, machines_dir, tool};
    all.insert(all.end(), args.begin(), args.end());
    return all;
}

}  // namespace

RunResult MachinedTest::systemd_tool(const std::string& tool, const std::vector<std::string>& args, Millis timeout,
                                     const std::optional<std::string>& input) const {
    return run("/usr/bin/unshare", in_systemd_view(machines_dir_, tool, args),
               {.input = input, .env = {bus_->env(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, .timeout = timeout});
}

Process MachinedTest::start_systemd_tool_on(const Pty& pty, const std::string& tool,
                                            const std::vector<std::string>& args, Millis timeout) const {
    return Process::start("/usr/bin/unshare", in_systemd_view(machines_dir_, tool, args),
                          {.env = {bus_->env(), "SYSTEMD_COLORS=0", "TERM=vt220"}, .timeout = timeout,
                           .tty = pty.slave()});
}

bool MachinedTest::require_debian_rootfs() {
    if (exists(debian_rootfs() + "/usr/lib/systemd/systemd")) return true;
    const char* allow = std::getenv("BERTH_ALLOW_SKIP");
    if (allow && *allow) {
        [] { GTEST_SKIP() << "no Debian rootfs at " << debian_rootfs(); }();  // GTEST_SKIP returns void
        return false;
    }
    ADD_FAILURE() << "no Debian rootfs at " << debian_rootfs() << " (test.sh builds it)";
    return false;
}

Process MachinedTest::boot_registered_debian(const std::string& name, const std::string& probe_dir) const {
    make_dirs(probe_dir);
    write_file(probe_dir + "/stay-up", "");
    Process guest = start_nspawn(
        {"-q", "--register=yes", "-D", debian_rootfs(), "-M", name, "-x",
         "--bind-ro=" + fixtures_dir() + "/berth-probe.service:/etc/systemd/system/berth-probe.service",
         "--bind=" + probe_dir + ":/berth-probe:idmap", "-b", "systemd.wants=berth-probe.service"},
        {.env = {bus_->env()}, .timeout = 300s});
    EXPECT_TRUE(wait_for_file(probe_dir + "/boots", guest, 120s)) << guest.wait(0ms).describe();
    // The probe creates the file before systemctl's answer is in it.
    EXPECT_TRUE(eventually([&] { return read_file(probe_dir + "/boots") == "active\n"; }, 10s))
        << read_file(probe_dir + "/boots");
    return guest;
}

std::vector<std::string> MachinedTest::machine_names() const {
    auto r = manager("ListMachines");
    std::vector<std::string> names;
    // a(ssso) N "name" "class" "service" "path" ...
    std::istringstream in(r.out);
    std::string sig, word;
    size_t n = 0;
    in >> sig >> n;
    for (size_t i = 0; i < n; i++) {
        std::string fields[4];
        for (auto& f : fields) in >> f;
        names.push_back(fields[0].substr(1, fields[0].size() - 2));
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string MachinedTest::machine_property(const std::string& name, const std::string& property,
                                           const std::string& interface) const {
    auto path = manager("GetMachine", {"s", name});
    if (!path.exited(0)) return "";
    std::string p = trim(path.out).substr(3, trim(path.out).size() - 4);  // o "/..."
    return trim(busctl({"get-property", "org.freedesktop.machine1", p, interface, property}).out);
}

Process MachinedTest::start_registered(const std::string& script, const std::vector<std::string>& opts) const {
    std::vector<std::string> all{"--register=yes"};
    all.insert(all.end(), opts.begin(), opts.end());
    return start_nspawn(busybox_sh_args(root_, sync_, script, all), {.env = {bus_->env()}, .timeout = 600s});
}

Process MachinedTest::start_leader() { return Process::start("/bin/sleep", {"1000"}, {.timeout = 600s}); }

RunResult MachinedTest::register_leader(const std::string& name, pid_t leader, const std::string& service,
                                        const std::string& root) const {
    return manager("RegisterMachine", {"sayssus", name, "0", service, "container", std::to_string(leader), root});
}

bool MachinedTest::eventually(const std::function<bool()>& pred, Millis limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

std::string bus_error_of(const std::function<void(sdbus::IProxy&)>& call, bool as_nobody, const std::string& path) {
    auto attempt = [&]() -> std::string {
        try {
            auto proxy = sdbus::createProxy(sdbus::createSystemBusConnection(), "org.freedesktop.machine1", path);
            call(*proxy);
            return "";
        } catch (const sdbus::Error& e) {
            return e.getName();
        }
    };
    if (!as_nobody) return attempt();
    std::string out = text_from_child([&]() -> std::string {
        gid_t none[0];
        if (::setgroups(0, none) < 0 || ::setresgid(65534, 65534, 65534) < 0 || ::setresuid(65534, 65534, 65534) < 0)
            return "";
        std::string e = attempt();
        return e.empty() ? "ok" : e;
    });
    if (out == "ok") return "";
    return out.empty() ? "child failed" : out;
}

}  // namespace berth::test
