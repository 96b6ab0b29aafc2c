#include "common/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "common/clock.hpp"
#include "common/fileio.hpp"

namespace berth {

std::string machine_cgroup(const std::string& name) { return fmt::format("{}/{}", kMachinesCgroup, name); }

std::string machines_v1_cgroup(const std::string& v1_mount) { return fmt::format("{}{}", v1_mount, kMachinesCgroup); }

std::string machine_v1_cgroup(const std::string& v1_mount, const std::string& name) {
    return fmt::format("{}{}/{}", v1_mount, kMachinesCgroup, name);
}

namespace {

bool is_fs(const char* path, long magic) {
    struct statfs s {};
    return ::statfs(path, &s) == 0 && s.f_type == magic;
}

// Remove a cgroup directory and its children, deepest first.
Status rmdir_tree(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return errno == ENOENT ? Status{} : errno_error(fmt::format("Failed to open cgroup {}", path));
    std::vector<std::string> children;
    while (auto* e = ::readdir(d)) {
        if (e->d_type == DT_DIR && std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
            children.push_back(path + "/" + e->d_name);
    }
    ::closedir(d);
    for (auto& c : children) BERTH_TRY(rmdir_tree(c));
    // rmdir can race with the kernel still tearing down exiting tasks: retry briefly on EBUSY.
    for (int i = 0; i < 200; i++) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
        if (errno != EBUSY) break;
        ::usleep(5000);
    }
    return errno_error(fmt::format("Failed to remove cgroup {}", path));
}

}  // namespace

std::map<std::string, std::string> cgroup_v1_mounts() {
    std::map<std::string, std::string> out;
    // The kernel's controllers ("#subsys_name hierarchy num_cgroups enabled" lines): mount options that
    // are not among them (rw, xattr, name=..., ...) are options.
    auto known = read_file("/proc/cgroups");
    auto info = read_file("/proc/self/mountinfo");
    if (!known.ok() || !info.ok()) return out;
    std::set<std::string> controllers;
    std::istringstream k(*known);
    for (std::string line; std::getline(k, line);)
        if (!line.empty() && line[0] != '#') controllers.insert(line.substr(0, line.find_first_of(" \t")));
    std::istringstream in(*info);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mnt, field;
        f >> id >> parent >> dev >> root >> mnt;
        while (f >> field && field != "-") {
        }
        std::string fstype, source, opts;
        f >> fstype >> source >> opts;
        if (fstype != "cgroup") continue;
        std::istringstream o(opts);
        for (std::string opt; std::getline(o, opt, ',');)
            if (controllers.count(opt)) out.emplace(opt, mnt);
    }
    return out;
}

Result<CgroupLayout> detect_cgroup_layout() {
    if (is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)) return CgroupLayout{CgroupMode::Unified, "/sys/fs/cgroup"};
    if (is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
        return CgroupLayout{CgroupMode::Hybrid, "/sys/fs/cgroup/unified"};
    return plain_error("No cgroup v2 hierarchy is mounted (neither /sys/fs/cgroup nor /sys/fs/cgroup/unified): "
                       "berth needs the unified hierarchy",
                       EOPNOTSUPP);
}

Result<std::string> own_unified_cgroup(pid_t pid, const std::string& proc_root) {
    std::string path = pid ? fmt::format("{}/{}/cgroup", proc_root, pid) : proc_root + "/self/cgroup";
    BERTH_ASSIGN(std::string text, read_file(path));
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return plain_error(fmt::format("No unified cgroup entry in {}", path), ENOENT);
}

Result<Cgroup> Cgroup::create(const CgroupLayout& layout, const std::string& rel) {
    Cgroup cg(layout.unified_root, rel);
    std::string partial = layout.unified_root;
    size_t pos = 1;
    while (pos <= rel.size()) {
        size_t next = rel.find('/', pos);
        if (next == std::string::npos) next = rel.size();
        partial += "/" + rel.substr(pos, next - pos);
        if (::mkdir(partial.c_str(), 0755) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create cgroup {}", partial));
        pos = next + 1;
    }
    BERTH_ASSIGN(bool busy, cg.populated());
    if (busy) return plain_error(fmt::format("Cgroup {} already has processes in it", cg.path()), EBUSY);
    return cg;
}

Result<UniqueFd> Cgroup::open_dir() const {
    int fd = ::open(path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error(fmt::format("Failed to open cgroup {}", path()));
    return UniqueFd(fd);
}

Result<bool> Cgroup::populated() const {
    BERTH_ASSIGN(std::string events, read("cgroup.events"));
    return events.find("populated 1") != std::string::npos;
}

Status Cgroup::write(const std::string& file, const std::string& value) const {
    return write_file(path() + "/" + file, value);
}

Result<std::string> Cgroup::read(const std::string& file) const { return read_file(path() + "/" + file); }

Status Cgroup::kill_all(int timeout_ms) const {
    auto pop = populated();
    if (!pop.ok()) return pop.error().code == ENOENT ? Status{} : Status{pop.error()};
    if (!*pop) return {};
    if (!write("cgroup.kill", "1").ok()) {
        // Kernels before 5.14: kill what cgroup.procs lists, once; the wait below says whether that did.
        auto procs = read("cgroup.procs");
        if (procs.ok()) {
            std::istringstream in(*procs);
            for (pid_t p; in >> p;) ::kill(p, SIGKILL);
        }
    }
    // cgroup.events signals changes with POLLPRI.
    UniqueFd events(::open((path() + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
    long deadline = now_ms() + timeout_ms;
    while (true) {
        auto still = populated();
        if (!still.ok() || !*still) break;
        if (now_ms() > deadline) return plain_error(fmt::format("Processes in cgroup {} did not die", path()), EBUSY);
        if (events) {
            pollfd p{events.get(), POLLPRI, 0};
            ::poll(&p, 1, 20);
        } else {
            ::usleep(2000);
        }
    }
    return {};
}

Status Cgroup::remove() const {
    if (rel_.empty() || rel_ == "/") return {};
    BERTH_TRY(kill_all());
    return rmdir_tree(path());
}

}  // namespace berth
