#include "machined/operations.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "common/cgroup.hpp"
#include "common/clock.hpp"
#include "common/escape.hpp"
#include "common/fd.hpp"
#include "common/fileio.hpp"
#include "common/os_release.hpp"
#include "machined/procfs.hpp"

namespace berth::machined {

namespace {

constexpr int kFreezeTimeoutMs = 10000;
constexpr int kHelperTimeoutMs = 5000;         // a helper that looks into a machine, at the most
constexpr size_t kHelperOutputMax = 1 << 20;   // and what it may answer

// Runs `work` in a forked child and returns what it answered, so that whatever the child meets inside a
// machine (a namespace to enter, a file a guest controls: a FUSE mount that never answers, say) can
// neither hang nor bloat machined: the child is killed after kHelperTimeoutMs, and an answer larger than
// kHelperOutputMax is refused. `what` names the work for messages.
Result<std::string> output_of_helper(const std::function<Result<std::string>()>& work, const std::string& what) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return errno_error("Failed to create a pipe");
    UniqueFd rd(p[0]), wr(p[1]);
    pid_t child = ::fork();
    if (child < 0) return errno_error("Failed to fork");
    if (child == 0) {
        rd.reset();
        auto r = work();
        // One byte for the outcome, then the answer, or errno and the message.
        std::string out = r.ok() ? "O" + *r : "E" + std::to_string(r.error().code) + ":" + r.error().message;
        for (size_t done = 0; done < out.size();) {
            ssize_t n = ::write(wr.get(), out.data() + done, out.size() - done);
            if (n <= 0) ::_exit(1);
            done += static_cast<size_t>(n);
        }
        ::_exit(0);
    }
    wr.reset();
    std::string data;
    bool too_long = false, timed_out = false;
    struct timespec start {};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec now {};
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        pollfd pfd{rd.get(), POLLIN, 0};
        int ready = spent >= kHelperTimeoutMs ? 0 : ::poll(&pfd, 1, static_cast<int>(kHelperTimeoutMs - spent));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            timed_out = true;
            break;
        }
        char buf[16384];
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (data.size() + static_cast<size_t>(n) > kHelperOutputMax) {
            too_long = true;
            break;
        }
        data.append(buf, static_cast<size_t>(n));
    }
    if (timed_out || too_long) ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return plain_error(fmt::format("Failed to {}: no answer within {} s", what, kHelperTimeoutMs / 1000), ETIMEDOUT);
    if (too_long) return plain_error(fmt::format("Failed to {}: the answer is larger than {} bytes", what, kHelperOutputMax), EFBIG);
    if (data.empty() || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return plain_error(fmt::format("Failed to {}", what), EIO);
    if (data[0] == 'O') return data.substr(1);
    auto colon = data.find(':');
    int code = std::atoi(data.substr(1, colon == std::string::npos ? 0 : colon - 1).c_str());
    return plain_error(colon == std::string::npos ? std::string("unknown error") : data.substr(colon + 1), code ? code : EIO);
}

Result<Cgroup> machine_cgroup(const Machine& m) {
    if (m.cgroup.empty())
        return plain_error(fmt::format("Machine \"{}\" has no cgroup of its own (its leader shares one with other "
                                       "processes)",
                                       m.name),
                           EOPNOTSUPP);
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    return Cgroup(layout.unified_root, m.cgroup);
}

// Every pid in a cgroup subtree.
void collect_pids(const std::string& dir, std::vector<pid_t>& out) {
    auto procs = read_file(dir + "/cgroup.procs");
    if (procs.ok()) {
        std::istringstream in(*procs);
        for (pid_t p; in >> p;) out.push_back(p);
    }
    auto list = ::opendir(dir.c_str());
    if (!list) return;
    std::vector<std::string> subdirs;
    while (auto* e = ::readdir(list))
        if (e->d_type == DT_DIR && e->d_name[0] != '.') subdirs.push_back(dir + "/" + e->d_name);
    ::closedir(list);
    for (auto& s : subdirs) collect_pids(s, out);
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Wait until `file` in `dir` contains `want`, woken by POLLPRI (cgroup.events) or polling.
Status wait_for_content(const std::string& path, const std::string& want, const std::string& what) {
    UniqueFd events(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    long deadline = now_ms() + kFreezeTimeoutMs;
    Status result = plain_error(fmt::format("Timed out waiting for {}", what), ETIMEDOUT);
    while (now_ms() < deadline) {
        auto text = read_file(path);
        if (!text.ok()) {
            result = text.error();
            break;
        }
        if (text->find(want) != std::string::npos) {
            result = {};
            break;
        }
        pollfd p{events.get(), POLLPRI, 0};
        if (!events || ::poll(&p, 1, 20) < 0) ::usleep(20000);
    }
    return result;
}

// The v1 freezer hierarchy of hybrid hosts without cgroup.freeze.
constexpr const char* kV1Freezer = "/sys/fs/cgroup/freezer";

std::string v1_freezer_dir(const Machine& m) { return machine_v1_cgroup(kV1Freezer, m.name); }

Status set_frozen_v1(Machine& m, const Cgroup& cg, bool frozen) {
    std::string dir = v1_freezer_dir(m);
    if (!file_exists(kV1Freezer))
        return plain_error("Neither cgroup.freeze (cgroup v2) nor the v1 freezer is available", EOPNOTSUPP);
    if (frozen) {
        (void)::mkdir(machines_v1_cgroup(kV1Freezer).c_str(), 0755);
        if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) return errno_error("Failed to create " + dir);
        if (std::find(m.v1_cgroups.begin(), m.v1_cgroups.end(), dir) == m.v1_cgroups.end()) m.v1_cgroups.push_back(dir);
        std::vector<pid_t> pids;
        collect_pids(cg.path(), pids);
        for (pid_t p : pids) (void)write_file(dir + "/cgroup.procs", std::to_string(p));
    }
    BERTH_TRY(write_file(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    return wait_for_content(dir + "/freezer.state", frozen ? "FROZEN" : "THAWED",
                            fmt::format("machine \"{}\" to {}", m.name, frozen ? "freeze" : "thaw"));
}

}  // namespace

Status kill_machine(const Machine& m, const std::string& who, int32_t signal) {
    if (who != "leader" && who != "all" && !who.empty())
        return plain_error(fmt::format("Invalid kill parameter \"{}\": expected \"leader\" or \"all\"", who), EINVAL);
    if (signal <= 0 || signal >= NSIG) return plain_error(fmt::format("Invalid signal {}", signal), EINVAL);
    if (m.is_host()) return plain_error("The host cannot be signalled through machined", EINVAL);
    BERTH_TRY(pidfd_send_signal(m.pidfd.get(), signal));
    if (who == "leader" || m.cgroup.empty()) return {};
    BERTH_ASSIGN(Cgroup cg, machine_cgroup(m));
    std::vector<pid_t> pids;
    collect_pids(cg.path(), pids);
    for (pid_t p : pids)
        if (p != m.leader) (void)::kill(p, signal);
    return {};
}

Status kill_machine_hard(const Machine& m) {
    if (m.is_host()) return plain_error("The host cannot be killed through machined", EINVAL);
    if (!m.cgroup.empty()) {
        auto cg = machine_cgroup(m);
        if (cg.ok() && cg->write("cgroup.kill", "1").ok()) return {};
    }
    return pidfd_send_signal(m.pidfd.get(), SIGKILL);
}

bool is_frozen(const Machine& m) {
    if (m.cgroup.empty()) return false;
    auto cg = machine_cgroup(m);
    if (!cg.ok()) return false;
    auto freeze = cg->read("cgroup.freeze");
    if (freeze.ok()) return freeze->find('1') != std::string::npos;
    auto v1 = read_file(v1_freezer_dir(m) + "/freezer.state");
    return v1.ok() && v1->find("FROZEN") != std::string::npos;
}

Status set_frozen(Machine& m, bool frozen) {
    if (m.is_host()) return plain_error("The host cannot be frozen", EINVAL);
    BERTH_ASSIGN(Cgroup cg, machine_cgroup(m));
    if (!file_exists(cg.path() + "/cgroup.freeze")) return set_frozen_v1(m, cg, frozen);
    BERTH_TRY(cg.write("cgroup.freeze", frozen ? "1" : "0"));
    BERTH_TRY(wait_for_content(cg.path() + "/cgroup.events", frozen ? "frozen 1" : "frozen 0",
                               fmt::format("machine \"{}\" to {}", m.name, frozen ? "freeze" : "thaw")));
    m.frozen = frozen;
    return {};
}

Result<std::map<std::string, std::string>> machine_os_release(const Machine& m) {
    std::string root = m.is_host() ? "/" : fmt::format("/proc/{}/root", m.leader);
    // Read by a helper: the files are the guest's, and so is every filesystem on the way to them.
    auto text = output_of_helper(
        [&]() -> Result<std::string> {
            UniqueFd fd(::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
            if (!fd) return errno_error(fmt::format("Failed to open the root directory of machine \"{}\"", m.name));
            BERTH_ASSIGN(OsRelease os, read_os_release_at(fd.get()));
            std::string out;
            for (auto& [key, value] : os) out += key + '\0' + value + '\0';
            return out;
        },
        fmt::format("read the os-release of machine \"{}\"", m.name));
    if (!text.ok()) return text.error();
    // D-Bus carries UTF-8 only: one bad byte of the guest's would fail the whole reply.
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < text->size();) {
        size_t k = text->find('\0', i), v = k == std::string::npos ? k : text->find('\0', k + 1);
        if (v == std::string::npos) break;
        out[to_valid_utf8(text->substr(i, k - i))] = to_valid_utf8(text->substr(k + 1, v - k - 1));
        i = v + 1;
    }
    return out;
}

Result<uint32_t> machine_uid_shift(const Machine& m) {
    if (m.is_host()) return 0u;
    BERTH_ASSIGN(auto ranges, read_id_map(m.leader, "uid_map"));
    for (auto& r : ranges)
        if (r.inner == 0) return r.outer;
    return plain_error(fmt::format("Machine \"{}\" maps no user 0", m.name), ENXIO);
}

Result<uint32_t> map_from_machine(const Machine& m, uint32_t inner, bool group) {
    if (m.is_host()) return inner;
    BERTH_ASSIGN(auto ranges, read_id_map(m.leader, group ? "gid_map" : "uid_map"));
    for (auto& r : ranges)
        if (inner >= r.inner && inner - r.inner < r.count) return r.outer + (inner - r.inner);
    return plain_error(fmt::format("Machine \"{}\" maps no {} {}", m.name, group ? "group" : "user", inner), ENOENT);
}

Result<uint32_t> map_to_machine(const Machine& m, uint32_t outer, bool group) {
    if (m.is_host()) return plain_error("the host is not a user namespace", ENOENT);
    BERTH_ASSIGN(auto ranges, read_id_map(m.leader, group ? "gid_map" : "uid_map"));
    for (auto& r : ranges) {
        if (r.inner == 0 && r.outer == 0 && r.count == UINT32_MAX) break;  // the host's own namespace
        if (outer >= r.outer && outer - r.outer < r.count) return r.inner + (outer - r.outer);
    }
    return plain_error(fmt::format("Machine \"{}\" does not map {}", m.name, outer), ENOENT);
}

Result<std::vector<std::pair<int32_t, std::vector<uint8_t>>>> machine_addresses(const Machine& m) {
    std::string ns = m.is_host() ? "/proc/self/ns/net" : fmt::format("/proc/{}/ns/net", m.leader);
    struct stat ours {}, theirs {};
    if (::stat("/proc/self/ns/net", &ours) < 0 || ::stat(ns.c_str(), &theirs) < 0)
        return errno_error(fmt::format("Failed to look at the network namespace of machine \"{}\"", m.name));
    if (!m.is_host() && ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev)
        return plain_error(fmt::format("Machine \"{}\" does not use private networking", m.name), ENXIO);
    UniqueFd nsfd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!nsfd) return errno_error(fmt::format("Failed to open {}", ns));
    // A helper enters the namespace, so machined itself never leaves its own.
    auto data = output_of_helper(
        [&]() -> Result<std::string> {
            if (::setns(nsfd.get(), CLONE_NEWNET) < 0) return errno_error("Failed to enter the network namespace");
            ifaddrs* list = nullptr;
            if (::getifaddrs(&list) < 0) return errno_error("Failed to list the addresses");
            std::string out;
            for (auto* a = list; a; a = a->ifa_next) {
                if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK)) continue;
                const uint8_t* bytes = nullptr;
                uint8_t len = 0;
                int32_t family = a->ifa_addr->sa_family;
                if (family == AF_INET) {
                    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr);
                    len = 4;
                } else if (family == AF_INET6) {
                    bytes = reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr);
                    len = 16;
                } else {
                    continue;
                }
                out.append(reinterpret_cast<const char*>(&family), sizeof family);
                out.push_back(static_cast<char>(len));
                out.append(reinterpret_cast<const char*>(bytes), len);
            }
            return out;
        },
        fmt::format("read the addresses of machine \"{}\"", m.name));
    if (!data.ok()) return data.error();
    std::vector<std::pair<int32_t, std::vector<uint8_t>>> out;
    const std::string& d = *data;
    for (size_t i = 0; i + sizeof(int32_t) + 1 <= d.size();) {
        int32_t family;
        std::memcpy(&family, d.data() + i, sizeof family);
        uint8_t len = static_cast<uint8_t>(d[i + sizeof family]);
        i += sizeof family + 1;
        if (i + len > d.size()) break;
        out.push_back({family, std::vector<uint8_t>(d.begin() + i, d.begin() + i + len)});
        i += len;
    }
    return out;
}

}  // namespace berth::machined
