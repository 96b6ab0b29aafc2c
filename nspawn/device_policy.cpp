#include "nspawn/device_policy.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "common/fileio.hpp"

namespace berth::nspawn {

namespace {

// Character devices the machine may create and open (read, write, mknod); minor -1: every minor.
struct Allowed {
    uint32_t major;
    int minor;
};
constexpr Allowed kAllowed[] = {
    {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9},  // null zero full random urandom
    // tty (the caller's own terminal) and ptmx. Not 5:1: the machine's /dev/console is a pty of its own
    // (136:N), and 5:1 is the host's system console.
    {5, 0}, {5, 2},
    {136, -1},                               // the machine's ptys (its own devpts instance)
};

// Where the v1 devices controller is mounted, "" on hosts without it (pure v2).
std::string v1_devices_root() {
    auto mounts = cgroup_v1_mounts();
    auto it = mounts.find("devices");
    return it == mounts.end() ? "" : it->second;
}

Status write_rule(const std::string& dir, const char* file, const std::string& rule) {
    UniqueFd fd(::open((dir + "/" + file).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), rule.data(), rule.size()) != static_cast<ssize_t>(rule.size()))
        return errno_error(fmt::format("Failed to write \"{}\" to {}/{}", rule, dir, file));
    return {};
}

void remove_v1(const std::string& path) {
    // The machine's processes may still be exiting (its PID 1 just died) or, after a failed start, alive.
    for (int i = 0; i < 400; i++) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) break;
        if (errno != EBUSY) return;
        if (auto procs = read_file(path + "/cgroup.procs"); procs.ok()) {
            std::istringstream in(*procs);
            for (pid_t pid; in >> pid;) ::kill(pid, SIGKILL);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::string base = path.substr(0, path.rfind('/'));
    (void)::rmdir(base.c_str());  // only succeeds when no other machine uses it
}

Result<DeviceGuard> restrict_v1(const std::string& root, const std::string& name) {
    DeviceGuard g;
    std::string base = root + "/berth";
    std::string path = base + "/" + name;
    // Another supervisor may remove an empty berth/ between our mkdirs: retry. A leftover of a killed
    // supervisor is reused, its rules rewritten below.
    for (int attempt = 0;; attempt++) {
        if (::mkdir(base.c_str(), 0755) < 0 && errno != EEXIST) return errno_error(fmt::format("Failed to create {}", base));
        if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) break;
        if (errno != ENOENT || attempt > 5) return errno_error(fmt::format("Failed to create {}", path));
    }
    g.v1_path = path;
    auto rules = [&]() -> Status {
        BERTH_TRY(write_rule(path, "devices.deny", "a"));
        for (auto a : kAllowed) {
            std::string minor = a.minor < 0 ? "*" : std::to_string(a.minor);
            BERTH_TRY(write_rule(path, "devices.allow", fmt::format("c {}:{} rwm", a.major, minor)));
        }
        return {};
    }();
    if (!rules.ok()) {
        remove_v1(path);
        return rules.error();
    }
    return g;
}

// BPF_PROG_TYPE_CGROUP_DEVICE: r1 points at struct bpf_cgroup_dev_ctx {access_type, major, minor};
// return 1 to allow, 0 to deny.
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
bpf_insn load_ctx_u32(uint8_t dst, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, BPF_REG_1, off, 0); }
bpf_insn and_imm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn jump_if_not(uint8_t reg, int32_t imm, int16_t skip) { return insn(BPF_JMP | BPF_JNE | BPF_K, reg, 0, skip, imm); }
void emit_return(std::vector<bpf_insn>& p, int32_t v) {
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, v));
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

std::vector<bpf_insn> device_program() {
    // One block per allowed device: compare major (and minor), allow on a match, else fall to the next.
    std::vector<bpf_insn> rules;
    for (auto a : kAllowed) {
        int16_t len = a.minor < 0 ? 3 : 4;  // the instructions after the major check
        rules.push_back(jump_if_not(BPF_REG_4, static_cast<int32_t>(a.major), len - 1));
        if (a.minor >= 0) rules.push_back(jump_if_not(BPF_REG_5, a.minor, 2));
        emit_return(rules, 1);
    }
    std::vector<bpf_insn> p;
    p.push_back(load_ctx_u32(BPF_REG_2, offsetof(bpf_cgroup_dev_ctx, access_type)));
    p.push_back(and_imm(BPF_REG_2, 0xffff));  // low half: the device type; high half: the access
    p.push_back(load_ctx_u32(BPF_REG_4, offsetof(bpf_cgroup_dev_ctx, major)));
    p.push_back(load_ctx_u32(BPF_REG_5, offsetof(bpf_cgroup_dev_ctx, minor)));
    // Every allowed device is a character device, with every access.
    p.push_back(jump_if_not(BPF_REG_2, BPF_DEVCG_DEV_CHAR, static_cast<int16_t>(rules.size())));
    p.insert(p.end(), rules.begin(), rules.end());
    emit_return(p, 0);
    return p;
}

long bpf(int cmd, bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

Result<DeviceGuard> restrict_v2(const Cgroup& machine) {
    auto code = device_program();
    char license[] = "GPL";
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<uint64_t>(code.data());
    load.insn_cnt = static_cast<uint32_t>(code.size());
    load.license = reinterpret_cast<uint64_t>(license);
    UniqueFd prog(static_cast<int>(bpf(BPF_PROG_LOAD, load)));
    if (!prog) return errno_error("Failed to load the BPF device program");

    BERTH_ASSIGN(UniqueFd cg, machine.open_dir());
    bpf_attr attach{};
    attach.target_fd = static_cast<uint32_t>(cg.get());
    attach.attach_bpf_fd = static_cast<uint32_t>(prog.get());
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;  // the guest's systemd may attach programs of its own below
    if (bpf(BPF_PROG_ATTACH, attach) < 0)
        return errno_error(fmt::format("Failed to attach the BPF device program to {}", machine.path()));
    DeviceGuard g;
    g.bpf_link = std::move(prog);
    return g;
}

}  // namespace

Result<DeviceGuard> configure_device_policy(const Cgroup& machine, const std::string& name) {
    // The BPF program on the machine's unified cgroup, on hybrid hosts too: the kernel runs it whatever
    // v1 controllers are mounted, and the machine is born in that cgroup (CLONE_INTO_CGROUP), whereas
    // moving it into a v1 devices cgroup waits for an RCU grace period at nearly every start (the
    // cgroup threadgroup lock is taken for writing). The v1 devices controller is the fallback for kernels
    // without cgroup BPF. BERTH_DEVICE_POLICY=v1 takes the fallback, =bpf forbids it (for the tests).
    const char* env = std::getenv("BERTH_DEVICE_POLICY");
    std::string_view policy = env ? env : "";
    Result<DeviceGuard> g = Error{ENOTSUP, "the v1 devices controller was asked for"};
    if (policy != "v1") g = restrict_v2(machine);
    if (!g.ok() && policy != "bpf") {
        std::string v1 = v1_devices_root();
        if (!v1.empty()) g = restrict_v1(v1, name);
    }
    if (!g.ok()) return wrap_error(g.error(), fmt::format("Failed to restrict the devices of machine \"{}\"", name));
    return g;
}

Status configure_device_cgroup(const DeviceGuard& g, pid_t pid) {
    if (g.v1_path.empty()) return {};  // v2: the child was born in the machine's cgroup
    BERTH_TRY_CTX(write_rule(g.v1_path, "cgroup.procs", std::to_string(pid)),
                  "Failed to move the machine into its devices cgroup");
    return {};
}

void cleanup_device_policy(DeviceGuard& g) {
    // v2: the program stays attached until the machine's cgroup is removed, so nothing outlives the
    // policy; only our reference goes.
    g.bpf_link.reset();
    if (!g.v1_path.empty()) remove_v1(g.v1_path);
}

}  // namespace berth::nspawn
