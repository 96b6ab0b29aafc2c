// The escape suite: root in a busybox machine tries what would reach the host (kernel modules, kexec, raw
// I/O, the clock, the kernel log and keyring, host devices, /proc/sys and /sys, the host's hostname,
// processes and descriptors, symlinks in the image that point outside). Every attempt must be refused and
// the host left as it was. Each test runs under the default (a user namespace) and with
// --private-users=no, where root in the machine is root on the host and only capabilities, the system call
// filter and the device policy stand in the way.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

std::string probe_path() { return BERTH_SYSCALL_PROBE; }

std::string host_hostname() {
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

// "NAME RESULT" lines of syscall_probe -> {NAME: RESULT}.
std::map<std::string, std::string> probe_results(const std::string& out) {
    std::map<std::string, std::string> m;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        auto sp = line.find(' ');
        if (sp != std::string::npos) m[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return m;
}

// The block device the host's / lives on ("MAJOR MINOR"), or "" when it has none (a virtual fs).
std::string host_root_disk() {
    struct stat st {};
    if (::stat("/", &st) == 0 && major(st.st_dev) != 0)
        return std::to_string(major(st.st_dev)) + " " + std::to_string(minor(st.st_dev));
    for (auto& dev : list_dir("/sys/dev/block")) {  // "MAJ:MIN"; any disk but loop and ram will do
        auto colon = dev.find(':');
        auto maj = dev.substr(0, colon);
        if (maj != "7" && maj != "1") return maj + " " + dev.substr(colon + 1);
    }
    return "";
}

// Every test once per privilege mode.
class Escape : public BusyboxTest, public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        if (GetParam() == "host-root") {
            auto r = sh("true", mode());
            if (!r.exited(0)) GTEST_SKIP() << "nspawn refuses --private-users=no: " << r.describe();
        }
    }
    std::vector<std::string> mode(std::vector<std::string> extra = {}) const {
        if (GetParam() == "host-root") extra.insert(extra.begin(), "--private-users=no");
        return extra;
    }
    RunResult in_machine(const std::string& script, const std::vector<std::string>& extra = {},
                         const RunOptions& run = {}) const {
        return sh(script, mode(extra), run);
    }
    bool host_root() const { return GetParam() == "host-root"; }
    // Whether the machine's root is someone else outside (a user namespace is in effect).
    bool in_userns() const {
        auto r = in_machine("cat /proc/self/uid_map");
        std::istringstream in(r.out);
        std::string inside, outside, count;
        in >> inside >> outside >> count;
        return !(outside == "0" && count == "4294967295");
    }
    std::vector<std::string> with_probe(std::vector<std::string> extra = {}) const {
        extra.push_back("--bind-ro=" + probe_path() + ":/probe");
        return extra;
    }
    // The device policy every way: as chosen (the BPF program), the BPF program required, and the v1
    // devices controller (the fallback for kernels without cgroup BPF, where a v1 hierarchy is mounted).
    std::vector<std::pair<std::string, RunOptions>> device_policies() const {
        std::vector<std::pair<std::string, RunOptions>> out{{"default", RunOptions{}},
                                                            {"bpf", RunOptions{.env = {"BERTH_DEVICE_POLICY=bpf"}}}};
        if (exists("/sys/fs/cgroup/devices/devices.list"))
            out.push_back({"v1", RunOptions{.env = {"BERTH_DEVICE_POLICY=v1"}}});
        return out;
    }
};

// --- system calls ---

TEST_P(Escape, KernelInterfacesFailWithEperm) {
    const std::vector<std::string> calls = {
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "open_by_handle_at",
        "bpf", "perf_event_open", "iopl", "ioperm", "swapon", "swapoff", "clock_settime", "clock_adjtime",
        "settimeofday", "adjtimex", "syslog", "keyctl", "add_key", "request_key", "quotactl", "uselib",
        "fanotify_init"};
    std::string args;
    for (auto& c : calls) args += " " + c;
    auto r = in_machine("/probe" + args, with_probe());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto got = probe_results(r.out);
    for (auto& c : calls) EXPECT_EQ(got[c], "EPERM") << c << "\n" << r.out;
}

#if defined(__x86_64__)
// The same calls through the 32-bit entry and with the x32 bit reach the same kernel code.
TEST_P(Escape, CompatibilityEntriesFailWithEpermToo) {
    const std::vector<std::string> calls = {"i386:keyctl", "i386:iopl", "i386:init_module", "x32:keyctl", "x32:iopl"};
    std::vector<std::string> args = calls;
    auto host = probe_results(run(probe_path(), args).out);
    std::string list;
    for (auto& c : calls) list += " " + c;
    auto r = in_machine("/probe" + list, with_probe());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto got = probe_results(r.out);
    for (auto& c : calls) {
        if (host[c].rfind("signal", 0) == 0) continue;  // no such entry on this kernel: nothing to filter
        EXPECT_EQ(got[c], "EPERM") << c << " (on the host: " << host[c] << ")\n" << r.out;
    }
}
#endif

TEST_P(Escape, CapabilityOrFilterEntryOpensACallAndTildeClosesOne) {
    auto r = in_machine("/probe clock_settime keyctl sethostname",
                        with_probe({"--capability=CAP_SYS_TIME", "--system-call-filter=keyctl",
                                    "--system-call-filter=~sethostname"}));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto got = probe_results(r.out);
    EXPECT_EQ(got["clock_settime"], "EFAULT") << r.out;  // allowed, and fails on its bad pointer
    EXPECT_NE(got["keyctl"], "EPERM") << r.out;
    EXPECT_EQ(got["sethostname"], "EPERM") << r.out;
}

TEST_P(Escape, PayloadRunsUnderTheFilterAndNoNewPrivilegesOnRequest) {
    auto r = in_machine("grep -E '^(Seccomp|NoNewPrivs):' /proc/1/status");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("Seccomp:\t2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NoNewPrivs:\t0"), std::string::npos) << r.out;
    r = in_machine("grep '^NoNewPrivs:' /proc/1/status", {"--no-new-privileges=yes"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "NoNewPrivs:\t1\n");
}

TEST_P(Escape, CapabilityOptionsShapeTheBoundingSet) {
    auto r = in_machine("grep '^CapBnd:' /proc/1/status",
                        {"--capability=CAP_SYS_TIME", "--drop-capability=CAP_CHOWN,CAP_MKNOD"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    uint64_t bnd = std::stoull(r.out.substr(r.out.find('\t') + 1), nullptr, 16);
    EXPECT_TRUE(bnd & (1ull << 25)) << "CAP_SYS_TIME: " << r.out;
    EXPECT_FALSE(bnd & (1ull << 0)) << "CAP_CHOWN: " << r.out;
    EXPECT_FALSE(bnd & (1ull << 27)) << "CAP_MKNOD: " << r.out;
    EXPECT_FALSE(bnd & (1ull << 16)) << "CAP_SYS_MODULE: " << r.out;
    EXPECT_FALSE(bnd & (1ull << 17)) << "CAP_SYS_RAWIO: " << r.out;
}

// --drop-capability=all keeps nothing, for root and for another user (the change of user is made before
// the process's own capabilities go: setgroups and setresuid need CAP_SETGID and CAP_SETUID).
TEST_P(Escape, DroppingEveryCapabilityLeavesNoneForRootOrAnotherUser) {
    for (std::vector<std::string> opts : {std::vector<std::string>{"--drop-capability=all"},
                                          std::vector<std::string>{"--drop-capability=all", "--user=nobody"}}) {
        auto r = in_machine("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status; id -u", opts);
        ASSERT_TRUE(r.exited(0)) << r.describe();
        EXPECT_EQ(r.out, std::string("CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
                                     "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
                                     "CapAmb:\t0000000000000000\n") +
                             (opts.size() == 1 ? "0\n" : "65534\n"));
    }
}

// A machine's tmpfs mounts together stay well below the host's RAM, and its devpts has a limit of its own.
TEST_P(Escape, TmpfsBudgetsStayBelowTheHostsRamAndPtysAreLimited) {
    auto r = in_machine("cat /proc/mounts");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream in(r.out);
    unsigned long long total_kb = 0;
    bool devpts_max = false;
    for (std::string dev, dir, type, opts; in >> dev >> dir >> type >> opts;) {
        std::string rest;
        std::getline(in, rest);
        if (type == "devpts" && dir == "/dev/pts") devpts_max = opts.find("max=1024") != std::string::npos;
        // The masks on /proc and /run/host are binds of /run's tmpfs: each filesystem counted once.
        if (type != "tmpfs" || (dir != "/run" && dir != "/tmp" && dir != "/dev" && dir != "/dev/shm")) continue;
        auto at = opts.find("size=");
        ASSERT_NE(at, std::string::npos) << dir << " has no size limit: " << opts;
        total_kb += std::stoull(opts.substr(at + 5));
    }
    std::string meminfo = read_file("/proc/meminfo");
    unsigned long long ram_kb = std::stoull(meminfo.substr(meminfo.find("MemTotal:") + 9));
    EXPECT_LE(total_kb, ram_kb * 41 / 100) << "the machine's tmpfs mounts may take " << total_kb << " of " << ram_kb << " kB";
    EXPECT_TRUE(devpts_max) << r.out;
}

// --- devices ---

TEST_P(Escape, HostRootDiskCannotBeCreatedOrRead) {
    std::string disk = host_root_disk();
    if (disk.empty()) GTEST_SKIP() << "the host has no block device";
    for (auto& [policy, env] : device_policies()) {
        auto r = in_machine("for d in /dev/hostdisk /tmp/hostdisk; do\n"
                            "  mknod $d b " + disk + " 2>/dev/null && echo \"created $d\"\n"
                            "  n=$(head -c 512 $d 2>/dev/null | wc -c); [ \"$n\" = 0 ] || echo \"read $n bytes from $d\"\n"
                            "done; true",
                            {}, env);
        ASSERT_TRUE(r.exited(0)) << policy << ": " << r.describe();
        EXPECT_EQ(r.out, "") << policy << " (disk " << disk << ")";
    }
}

TEST_P(Escape, HostCharacterDevicesCannotBeCreatedOrOpened) {
    // mem, port, kmsg, the host's system console and first virtual console, fuse, kvm, loop-control.
    const std::string script = R"sh(for d in "mem 1 1" "port 1 4" "kmsg 1 11" "syscons 5 1" "tty1 4 1" "fuse 10 229" "kvm 10 232" "loopctl 10 237"; do
          set -- $d
          mknod /dev/$1 c $2 $3 2>/dev/null && echo "created $1"
          [ -e /dev/$1 ] && (: < /dev/$1) 2>/dev/null && echo "opened $1"
        done; true)sh";
    for (auto& [policy, env] : device_policies()) {
        auto r = in_machine(script, {}, env);
        ASSERT_TRUE(r.exited(0)) << policy << ": " << r.describe();
        EXPECT_EQ(r.out, "") << policy;
    }
}

TEST_P(Escape, PseudoDevicesAndPtysStillWork) {
    // Creating nodes needs the host's root (mknod is refused in a user namespace whatever the policy).
    // (In /dev: the other writable file systems are nodev.)
    std::string mknod = host_root() ? "mknod /dev/null2 c 1 3 && echo x > /dev/null2 || echo 'no null2'\n"
                                      "mknod /dev/pts5 c 136 5 || echo 'no pts node'\n"
                                    : "";
    std::string script = mknod + R"sh(echo x > /dev/null || echo 'no null'
        [ "$(head -c 4 /dev/zero | wc -c)" = 4 ] || echo 'no zero'
        [ "$(head -c 4 /dev/urandom | wc -c)" = 4 ] || echo 'no urandom'
        echo x > /dev/full 2>/dev/null && echo 'full accepted a write'
        exec 3<>/dev/ptmx || echo 'no ptmx'
        [ -c /dev/pts/0 ] || echo 'no pty allocated'
        true)sh";
    for (auto& [policy, env] : device_policies()) {
        auto r = in_machine(script, {}, env);
        ASSERT_TRUE(r.exited(0)) << policy << ": " << r.describe();
        EXPECT_EQ(r.out, "") << policy;
    }
}

// The fallback on a host with the v1 devices controller: the machine sits in devices:/berth/NAME with
// exactly the allowed list while it runs, and the cgroup is gone afterwards.
TEST_P(Escape, V1DevicesCgroupHoldsTheMachineAndGoesAway) {
    const std::string root = "/sys/fs/cgroup/devices";
    if (!exists(root + "/devices.list")) GTEST_SKIP() << "no v1 devices controller on this host";
    ::chmod(sync_.c_str(), 0777);  // a plain bind: root of a user namespace is someone else on the host
    auto p = start_sh("sleep 60", mode(), RunOptions{.env = {"BERTH_DEVICE_POLICY=v1"}, .timeout = 60s});
    ASSERT_TRUE(wait_up(p));
    std::string dir = root + "/berth/" + machine_;
    std::set<std::string> rules;
    std::istringstream in(read_file(dir + "/devices.list"));
    for (std::string l; std::getline(in, l);) rules.insert(l);
    EXPECT_EQ(rules, (std::set<std::string>{"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                                            "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"}));
    pid_t pid1 = guest_pid1(p.pid());
    EXPECT_NE(read_file(dir + "/cgroup.procs").find(std::to_string(pid1) + "\n"), std::string::npos);
    p.signal(SIGTERM);
    p.wait(30s);
    EXPECT_FALSE(exists(dir)) << dir << " left behind";
}

// By default the BPF program guards the devices, on hybrid hosts too: the machine is born in its unified
// cgroup and never moved into a v1 devices cgroup (which costs an RCU grace period per start).
TEST_P(Escape, DefaultDevicePolicyIsTheBpfProgramOnTheUnifiedCgroup) {
    ::chmod(sync_.c_str(), 0777);
    auto p = start_sh("sleep 60", mode());
    ASSERT_TRUE(wait_up(p));
    EXPECT_FALSE(exists("/sys/fs/cgroup/devices/berth/" + machine_)) << "a v1 devices cgroup was made";
    EXPECT_EQ(device_programs(cgroup2_root() + "/berth/" + machine_), 1);
    p.signal(SIGTERM);
    p.wait(30s);
}

// --- /proc and /sys ---

TEST_P(Escape, ProcSysAndSysCannotBeWritten) {
    std::string disk = host_root_disk();
    std::string ra = disk.empty() ? "" : "/sys/dev/block/" + disk.replace(disk.find(' '), 1, ":") + "/queue/read_ahead_kb";
    std::string core_before = read_file("/proc/sys/kernel/core_pattern");
    std::string ra_before = ra.empty() ? "" : read_file(ra);
    // Each file gets its own current value back: harmless should the write go through after all.
    std::string script = "for f in /proc/sys/kernel/core_pattern /proc/sys/kernel/sysrq /proc/sys/vm/overcommit_memory "
                         "/proc/sys/net/ipv4/ip_forward " + ra + "; do\n"
                         "  v=$(cat $f) && (echo \"$v\" > $f) 2>/dev/null && echo \"wrote $f\"\n"
                         "done\n"
                         "touch /sys/berth-intruder 2>/dev/null && echo 'created a file in /sys'\n"
                         "mkdir /proc/sys/berth 2>/dev/null && echo 'created a directory in /proc/sys'\n"
                         "true";
    auto r = in_machine(script);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(read_file("/proc/sys/kernel/core_pattern"), core_before);
    if (!ra.empty()) {
        EXPECT_EQ(read_file(ra), ra_before);
    }
}

// The issue: "writable /proc/sys/net only with a private network" (the machine's own network namespace).
TEST_P(Escape, ProcSysNetIsWritableWithAPrivateNetwork) {
    auto r = in_machine("v=$(cat /proc/sys/net/ipv4/ip_forward); echo $v > /proc/sys/net/ipv4/ip_forward && echo ok; "
                        "echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo 'wrote sysrq'; true",
                        {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ok\n");
}

// systemd-nspawn without -U fails this one (a fresh procfs is the host's, fully writable): the user
// namespace of the default is what stops it.
TEST_P(Escape, FreshProcOrSysfsMountExposesNothingWritable) {
    if (host_root()) GTEST_SKIP() << "root in a machine without a user namespace is host root: not a boundary";
    {
        auto r = nspawn({"-q", "--register=no", "-D", root_, "--private-users=pick", "/bin/true"});
        if (!r.exited(0)) GTEST_SKIP() << "--private-users is not supported yet: " << r.describe();
    }
    ASSERT_TRUE(in_userns()) << "the default runs the machine without a user namespace";
    std::string disk = host_root_disk();
    std::string ra = disk.empty() ? "sda" : disk.replace(disk.find(' '), 1, ":");
    std::string core_before = read_file("/proc/sys/kernel/core_pattern");
    auto r = in_machine("mkdir -p /tmp/p /tmp/s\n"
                        "if mount -t proc proc /tmp/p 2>/dev/null; then\n"
                        "  v=$(cat /tmp/p/sys/kernel/core_pattern)\n"
                        "  (echo \"$v\" > /tmp/p/sys/kernel/core_pattern) 2>/dev/null && echo 'wrote core_pattern'\n"
                        "fi\n"
                        "if mount -t sysfs sysfs /tmp/s 2>/dev/null; then\n"
                        "  f=/tmp/s/dev/block/" + ra + "/queue/read_ahead_kb\n"
                        "  v=$(cat $f 2>/dev/null) && (echo \"$v\" > $f) 2>/dev/null && echo 'wrote sysfs'\n"
                        "fi; true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(read_file("/proc/sys/kernel/core_pattern"), core_before);
}

TEST_P(Escape, KernelInternalProcFilesGiveNothing) {
    std::string files;
    for (auto* f : {"kallsyms", "kcore", "kmsg", "timer_list", "sched_debug", "sysrq-trigger"})
        if (exists(std::string("/proc/") + f)) files += std::string(" ") + f;
    auto r = in_machine("for f in" + files + "; do\n"
                        "  n=$(timeout 2 head -c 16 /proc/$f 2>/dev/null | wc -c)\n"
                        "  [ \"$n\" = 0 ] || echo \"/proc/$f readable\"\n"
                        "done; true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
}

// The physical page map (root-only, no capability check on read): host root in a machine reads it.
TEST_P(Escape, PhysicalPageInformationInProcGivesNothing) {
    auto r = in_machine("for f in kpagecount kpageflags kpagecgroup; do\n"
                        "  n=$(head -c 16 /proc/$f 2>/dev/null | wc -c)\n"
                        "  [ \"$n\" = 0 ] || echo \"/proc/$f readable\"\n"
                        "done; true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
}

// --- the host's identity, processes and descriptors ---

TEST_P(Escape, HostHostnameStaysWhenTheMachineChangesItsOwn) {
    std::string before = host_hostname();
    auto r = in_machine("hostname berth-intruder && hostname");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "berth-intruder\n");
    EXPECT_EQ(host_hostname(), before);
}

TEST_P(Escape, HostProcessesAreInvisible) {
    auto marker = Process::start("/bin/sleep", {"987654"});
    auto r = in_machine("cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]* | wc -l");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.find("987654"), std::string::npos) << r.out;
    int count = std::stoi(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1));
    EXPECT_LE(count, 4) << r.out;  // sh, cat/ls and the subshells of this script
}

TEST_P(Escape, OnlyStdioReachesTheMachine) {
    int extra = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(extra, 0);
    auto r = in_machine("ls /proc/1/fd; ls /proc/self/fd", {}, RunOptions{.inherit_fds = {{5, extra}, {9, extra}}});
    ::close(extra);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0\n1\n2\n0\n1\n2\n3\n");
}

// --- symlinks in the image ---

// Symlinks that, followed on the host, lead out of the image: absolute ones mean the machine's own paths,
// relative ones stop at its root. The bind lands inside the machine; nothing appears on the host.
TEST_P(Escape, BindDestinationThroughSymlinksStaysInTheImage) {
    std::string outside = tmp_ + "/outside";  // exists on the host only
    make_dirs(outside);
    std::string src = tmp_ + "/src";
    make_dirs(src);
    write_file(src + "/hello", "hi\n");
    ASSERT_EQ(::symlink(outside.c_str(), (root_ + "/mnt/abs").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../../../../../../../etc", (root_ + "/mnt/rel").c_str()), 0);
    auto etc_before = list_dir("/etc");
    std::string name = "berth-" + id_;
    for (auto* link : {"/mnt/abs/", "/mnt/rel/"}) {
        std::string dest = link + name;
        auto r = in_machine("cat " + dest + "/hello", {"--bind=" + src + ":" + dest});
        ASSERT_TRUE(r.exited(0)) << dest << ": " << r.describe();
        EXPECT_EQ(r.out, "hi\n") << dest;
        EXPECT_TRUE(list_dir(outside).empty()) << dest << " reached the host's " << outside;
        EXPECT_EQ(list_dir("/etc"), etc_before) << dest << " reached the host's /etc";
    }
    EXPECT_EQ(read_file(src + "/hello"), "hi\n");
    EXPECT_TRUE(exists(root_ + "/etc/" + name)) << "the relative link's destination is the image's /etc";
}

TEST_P(Escape, DevSymlinkedOutOfTheImageStaysInTheImage) {
    std::string outside = tmp_ + "/outside-dev";
    make_dirs(outside);
    auto etc_before = list_dir("/etc");
    for (std::string target : {outside, std::string("../../../../../../../../../../etc")}) {
        remove_tree(root_ + "/dev");
        ::unlink((root_ + "/dev").c_str());
        ASSERT_EQ(::symlink(target.c_str(), (root_ + "/dev").c_str()), 0);
        auto r = in_machine("echo x > /dev/null && ls /dev/pts >/dev/null && echo ok");
        if (r.exited(0)) {
            EXPECT_EQ(r.out, "ok\n") << target;
        }
        EXPECT_TRUE(list_dir(outside).empty()) << "/dev -> " << target << " reached the host's " << outside;
        EXPECT_EQ(list_dir("/etc"), etc_before) << "/dev -> " << target << " reached the host's /etc";
    }
}

// --- host files and the pool ---

// A plain (not idmapped) bind of a host directory that host root owns: root in the machine is nobody
// there, so it cannot write into it; where the directory lets anybody write, what it creates belongs to
// the machine's range, never to host root.
TEST_P(Escape, PlainBindOfAHostRootDirectoryGivesGuestRootNoHostRootFiles) {
    if (host_root()) GTEST_SKIP() << "root in a machine without a user namespace is host root: not a boundary";
    std::string closed = tmp_ + "/closed", open = tmp_ + "/open";
    make_dirs(closed);
    make_dirs(open);
    ASSERT_EQ(::chmod(closed.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(open.c_str(), 01777), 0);
    auto r = in_machine("touch /closed/intruder 2>/dev/null && echo 'created in /closed'\n"
                        "touch /open/mine && echo ok",
                        {"--bind=" + closed + ":/closed", "--bind=" + open + ":/open"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ok\n");
    EXPECT_FALSE(exists(closed + "/intruder"));
    struct stat st {};
    ASSERT_EQ(::stat((open + "/mine").c_str(), &st), 0);
    EXPECT_NE(st.st_uid, 0u) << "guest root created a file owned by host root";
    EXPECT_EQ(st.st_uid % 65536, 0u) << "owned by " << st.st_uid << ", not the base of the machine's range";
}

// The files of a pool image belong to host root on disk (idmapped mounts change nothing there), its
// set-user-ID programs too: starting an image from a pool that other users can enter closes the pool.
TEST_P(Escape, PoolOtherUsersCanEnterIsClosedBeforeTheStart) {
    std::string pool = tmp_ + "/pool";
    make_dirs(pool);
    ASSERT_EQ(::chmod(pool.c_str(), 0755), 0);
    ASSERT_EQ(::rename(root_.c_str(), (pool + "/" + machine_).c_str()), 0);
    auto r = nspawn({"-q", "--register=no", "-M", machine_, "--private-users=" + std::string(host_root() ? "no" : "pick"),
                     "/bin/true"},
                    RunOptions{.env = {"BERTH_POOL=" + pool}});
    ASSERT_EQ(::rename((pool + "/" + machine_).c_str(), root_.c_str()), 0);  // back, for the fixture
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.err.find("making it root's alone"), std::string::npos) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(pool.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    auto probe = run("/usr/bin/setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups", "/bin/ls", pool});
    EXPECT_FALSE(probe.exited(0)) << "user nobody lists the pool: " << probe.describe();
}

// Under the default, the covers over /proc belong to the machine's user namespace, so its root may take
// them off (as under systemd-nspawn -U); what lies beneath must still give it nothing of the host.
TEST_P(Escape, UncoveredProcFilesStillGiveNothingUnderTheDefault) {
    if (host_root()) GTEST_SKIP() << "root in a machine without a user namespace is host root: not a boundary";
    std::string core_before = read_file("/proc/sys/kernel/core_pattern");
    auto r = in_machine("umount /proc/sys 2>/dev/null; umount /proc/kallsyms 2>/dev/null\n"
                        "v=$(cat /proc/sys/kernel/core_pattern)\n"
                        "(echo \"$v\" > /proc/sys/kernel/core_pattern) 2>/dev/null && echo 'wrote core_pattern'\n"
                        "(echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null && echo 'wrote sysrq'\n"
                        "grep -v '^0000000000000000 ' /proc/kallsyms | head -n 1\n"
                        "true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(read_file("/proc/sys/kernel/core_pattern"), core_before);
}

// --- PID 1 under --as-pid2 ---

// The stub init only reaps and passes signals on: it keeps CAP_KILL alone, with no_new_privs and the
// filter, so guest root gains nothing by ptracing it.
TEST_P(Escape, AsPid2StubInitHoldsOnlyCapKillUnderTheFilter) {
    auto r = in_machine("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/1/status", {"--as-pid2"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out,
              "CapPrm:\t0000000000000020\nCapEff:\t0000000000000020\nCapBnd:\t0000000000000020\n"
              "NoNewPrivs:\t1\nSeccomp:\t2\n");
}

// The filter is loaded while CAP_SYS_ADMIN is still there, so dropping it keeps the filter.
TEST_P(Escape, DroppingCapSysAdminKeepsTheFilter) {
    auto r = in_machine("grep -E '^Seccomp:' /proc/self/status; /probe keyctl", with_probe({"--drop-capability=CAP_SYS_ADMIN"}));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1), "Seccomp:\t2\n");
    EXPECT_EQ(probe_results(r.out)["keyctl"], "EPERM") << r.out;
}

// Bad privilege options: one line naming option and value, before anything is created.
class PrivilegeOptions : public BusyboxTest {};

TEST_F(PrivilegeOptions, BadValuesAreRefusedNamingOptionAndValue) {
    for (auto& [opt, needle] : std::vector<std::pair<std::string, std::string>>{
             {"--capability=CAP_NET_ADMIN,CAP_FLY", "--capability=CAP_NET_ADMIN,CAP_FLY"},
             {"--drop-capability=12", "--drop-capability=12"},
             {"--system-call-filter=frobnicate", "\"frobnicate\""},
             {"--system-call-filter=~@nothing", "\"@nothing\""},
             {"--no-new-privileges=maybe", "--no-new-privileges"}}) {
        auto args = base();
        args.insert(args.end(), {opt, "/bin/true"});
        EXPECT_TRUE(refused_with(nspawn(args), needle)) << opt;
    }
}

INSTANTIATE_TEST_SUITE_P(Privileges, Escape, ::testing::Values("default", "host-root"),
                         [](const auto& info) { return info.param == "default" ? "Default" : "HostRoot"; });

}  // namespace
}  // namespace berth::test
