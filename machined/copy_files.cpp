// CopyFrom, CopyTo and their WithFlags forms: semantics as systemd 252's (docs/machined.md, "Copying"),
// but every step on the machine's side confined to its root, and owners mapped through its user namespace.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "common/chase.hpp"
#include "common/copy_tree.hpp"
#include "machined/bus_error.hpp"
#include "machined/forked_call.hpp"
#include "machined/file_methods.hpp"
#include "machined/machine_namespaces.hpp"
#include "machined/procfs.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

constexpr uint64_t kCopyReplace = 1;  // MACHINE_COPY_REPLACE, the only flag systemd 252 defines
constexpr uint32_t kNobody = 65534;
constexpr size_t kMaxWorkers = 64;  // systemd's OPERATIONS_MAX

std::optional<uint32_t> to_outer(const std::vector<IdRange>& map, uint32_t inner) {
    for (auto& r : map)
        if (inner >= r.inner && inner - r.inner < r.count) return r.outer + (inner - r.inner);
    return std::nullopt;
}

std::optional<uint32_t> to_inner(const std::vector<IdRange>& map, uint32_t outer) {
    for (auto& r : map)
        if (outer >= r.outer && outer - r.outer < r.count) return r.inner + (outer - r.outer);
    return std::nullopt;
}

// Host id U becomes the machine's id U; one the machine does not map, the machine's nobody (65534), or
// the kernel's overflow id where the machine has no nobody either (it shows as nobody inside then too).
uint32_t into_machine(const std::vector<IdRange>& map, uint32_t id) {
    if (auto o = to_outer(map, id)) return *o;
    if (auto o = to_outer(map, kNobody)) return *o;
    return kNobody;
}

// The machine's id U (as the kernel stores it) becomes host id U; one it does not map, 65534.
uint32_t out_of_machine(const std::vector<IdRange>& map, uint32_t id) { return to_inner(map, id).value_or(kNobody); }

// A machine without a user namespace of its own: every id is itself (the ranges, which the kernel keeps
// from overlapping, cover all 2^32-1 ids each onto itself). The copy is then given no map, and keeps file
// capabilities going into the machine (docs/machined.md, "Copying files").
bool is_identity(const std::vector<IdRange>& map) {
    uint64_t covered = 0;
    for (auto& r : map) {
        if (r.inner != r.outer) return false;
        covered += r.count;
    }
    return covered == UINT32_MAX;
}

// Files the copy creates in the machine are first owned by whoever creates them, and an idmapped mount
// (the machine's root under a user namespace) refuses an owner it cannot map (EOVERFLOW): create them as the
// machine's root, then give them their owners. Leaving fsuid 0 drops the file capabilities from the
// effective set; they are raised again from the permitted set.
Status create_as(uint32_t uid, uint32_t gid) {
    ::setfsgid(gid);
    ::setfsuid(uid);
    if (static_cast<uint32_t>(::setfsuid(static_cast<uid_t>(-1))) != uid ||
        static_cast<uint32_t>(::setfsgid(static_cast<gid_t>(-1))) != gid)
        return plain_error(fmt::format("Failed to act as user {} group {}", uid, gid), EPERM);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) < 0) return errno_error("Failed to read the capabilities");
    for (auto& d : data) d.effective = d.permitted;
    if (::syscall(SYS_capset, &header, data) < 0) return errno_error("Failed to raise the capabilities");
    return {};
}

struct CopyJob {
    bool from_machine = false;
    bool replace = false;
    std::string machine;
    std::string host_path, machine_path;  // as asked
    SplitPath host, inside;
    std::vector<IdRange> uid_map, gid_map;
    UniqueFd root;  // the machine's root directory (/proc/LEADER/root)
};

Status run_copy(const CopyJob& job) {
    // Two descriptors per directory level of the tree: the soft limit (often 1024) up to the hard one.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &files);
    }
    UniqueFd host_dir(::open(job.host.parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!host_dir) return errno_error(fmt::format("Failed to open host directory {}", job.host.parent));
    BERTH_ASSIGN_CTX(UniqueFd machine_dir, open_in_root(job.root.get(), job.inside.parent, O_PATH | O_DIRECTORY),
                     "Failed to open directory {} in machine \"{}\"", job.inside.parent, job.machine);
    CopyTreeOptions o;
    o.replace = job.replace;
    if (job.from_machine) {
        // Root inside a machine is not root on the host: no set-id program comes out of it.
        o.drop_setid = true;
        if (!is_identity(job.uid_map)) o.map_uid = [&](uint32_t id) { return out_of_machine(job.uid_map, id); };
        if (!is_identity(job.gid_map)) o.map_gid = [&](uint32_t id) { return out_of_machine(job.gid_map, id); };
        o.shown_source = job.machine_path;
        o.shown_destination = job.host_path;
        return copy_tree_at(machine_dir.get(), job.inside.name, host_dir.get(), job.host.name, o);
    }
    if (auto uid = to_outer(job.uid_map, 0), gid = to_outer(job.gid_map, 0); uid && gid)
        BERTH_TRY(create_as(*uid, *gid));
    if (!is_identity(job.uid_map)) o.map_uid = [&](uint32_t id) { return into_machine(job.uid_map, id); };
    if (!is_identity(job.gid_map)) o.map_gid = [&](uint32_t id) { return into_machine(job.gid_map, id); };
    o.shown_source = job.host_path;
    o.shown_destination = job.machine_path;
    return copy_tree_at(host_dir.get(), job.host.name, machine_dir.get(), job.inside.name, o);
}

SplitPath split_or_throw(const std::string& path) {
    auto r = split_last_component(path);
    if (!r.ok()) throw_bus_error(kInvalidArgs, fmt::format("Cannot copy {}", r.error().message));
    return *r;
}

}  // namespace

int method_copy_files(sd_bus_message* call, Daemon& d, Machine& m) {
    d.authorize_root(call);
    std::string member = sd_bus_message_get_member(call);
    const char *src = nullptr, *dst = nullptr;
    read(call, "ss", &src, &dst);
    uint64_t flags = 0;
    if (member.ends_with("WithFlags")) read(call, "t", &flags);
    if (flags & ~kCopyReplace)
        throw_bus_error(kInvalidArgs, fmt::format("Unknown copy flags 0x{:x}: only 0x1 (replace) is defined", flags));
    if (m.klass != "container")
        throw_bus_error(kNotSupported, "Copying files is only supported on container machines.");
    std::string source = src, destination = dst;
    if (source.empty() || source.front() != '/') throw_bus_error(kInvalidArgs, "Source path must be absolute.");
    if (destination.empty())
        destination = source;
    else if (destination.front() != '/')
        throw_bus_error(kInvalidArgs, "Destination path must be absolute.");
    if (d.children().size() >= kMaxWorkers)
        throw_bus_error("org.freedesktop.DBus.Error.LimitsExceeded", "Too many ongoing copies.");

    auto job = std::make_shared<CopyJob>();
    job->from_machine = member.starts_with("CopyFrom");
    job->replace = flags & kCopyReplace;
    job->machine = m.name;
    job->host_path = job->from_machine ? destination : source;
    job->machine_path = job->from_machine ? source : destination;
    job->host = split_or_throw(job->host_path);
    job->inside = split_or_throw(job->machine_path);
    job->uid_map = value_or_throw(read_id_map(m.leader, "uid_map"));
    job->gid_map = value_or_throw(read_id_map(m.leader, "gid_map"));
    // After the maps: it checks that the leader they were read from is still the machine's.
    auto ns = value_or_throw(open_machine_namespaces(m.leader, m.pidfd.get(), m.name));
    job->root = std::move(ns.root);
    std::string what =
        job->from_machine
            ? fmt::format("Failed to copy {} of machine \"{}\" to {}", job->machine_path, m.name, job->host_path)
            : fmt::format("Failed to copy {} to {} of machine \"{}\"", job->host_path, job->machine_path, m.name);
    return reply_when_done(
        d, call,
        [job, what]() -> Status {
            auto s = run_copy(*job);
            if (!s.ok()) return wrap_error(s.error(), what);
            return {};
        },
        file_error_name);
}

}  // namespace berth::machined
