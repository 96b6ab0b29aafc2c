#include "machined/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <limits>
#include <sstream>

#include "common/cgroup.hpp"
#include "common/chase.hpp"
#include "common/fd.hpp"
#include "common/fileio.hpp"
#include "common/log.hpp"
#include "common/machine_name.hpp"
#include "common/toml_text.hpp"
#include "machined/procfs.hpp"
#include "machined/register_request.hpp"

namespace berth::machined {

namespace {

std::string to_toml(const Machine& m) {
    toml::array ifs;
    for (int32_t i : m.ifindices) ifs.push_back(static_cast<int64_t>(i));
    toml::array v1;
    for (auto& d : m.v1_cgroups) v1.push_back(d);
    toml::table t{
        {"name", m.name},
        {"id", id128_to_hex(m.id)},
        {"service", m.service},
        {"class", m.klass},
        {"root_directory", m.root_directory},
        {"unit", m.unit},
        {"leader", static_cast<int64_t>(m.leader)},
        // As strings: TOML integers are signed 64-bit, these are unsigned.
        {"leader_start_time", std::to_string(m.leader_start_time)},
        {"timestamp_realtime", std::to_string(m.timestamp_realtime)},
        {"timestamp_monotonic", std::to_string(m.timestamp_monotonic)},
        {"ifindices", ifs},
        {"cgroup", m.cgroup},
        {"cgroup_created", m.cgroup_created},
        {"v1_cgroups", v1},
        {"supervisor", static_cast<int64_t>(m.supervisor)},
        {"supervisor_start_time", std::to_string(m.supervisor_start_time)},
    };
    std::ostringstream out;
    out << t << "\n";
    return out.str();
}

constexpr size_t kStateFileMax = 64 << 10;  // a record is a few hundred bytes

// Only paths machined itself makes for a machine: its unified cgroup and, on hybrid hosts, its v1 cgroups
// (common/cgroup.hpp, machine_cgroup). Anything else in a record is a forgery (removing it would rmdir a host directory).
bool valid_cgroups(const Machine& m) {
    if (m.cgroup_created && m.cgroup != machine_cgroup(m.name)) return false;
    if (!m.cgroup.empty() && (m.cgroup[0] != '/' || m.cgroup.find("/..") != std::string::npos ||
                              m.cgroup.find("//") != std::string::npos))
        return false;
    auto v1 = cgroup_v1_mounts();
    for (auto& path : m.v1_cgroups) {
        bool ours = std::any_of(v1.begin(), v1.end(), [&](auto& c) { return path == machine_v1_cgroup(c.second, m.name); });
        if (!ours) return false;
    }
    return true;
}

}  // namespace

Result<std::unique_ptr<Machine>> parse_machine_state(const std::string& text, const std::string& path) {
    BERTH_ASSIGN(std::string guarded, guard_toml_text(text, "machine state " + path));
    toml::table t;
    try {
        t = toml::parse(guarded, path);
    } catch (const toml::parse_error& e) {
        return plain_error(fmt::format("Malformed machine state {}: {}", path, e.description()));
    }
    auto m = std::make_unique<Machine>();
    m->name = t["name"].value_or(std::string());
    auto id = parse_id128(t["id"].value_or(std::string()));
    if (id.ok()) m->id = *id;
    m->service = t["service"].value_or(std::string());
    m->klass = t["class"].value_or(std::string("container"));
    m->root_directory = t["root_directory"].value_or(std::string());
    m->unit = t["unit"].value_or(std::string());
    // Integers only: toml++ converts a float to an integer unchecked (4.2e25 is undefined behaviour; found
    // by tests/fuzz, fuzz_state_file).
    auto integer = [](const toml::node* n) -> int64_t {
        auto* i = n ? n->as_integer() : nullptr;
        return i ? i->get() : 0;
    };
    int64_t leader = integer(t["leader"].node());
    m->leader = leader > 1 && leader <= std::numeric_limits<pid_t>::max() ? static_cast<pid_t>(leader) : 0;
    auto u64 = [&](const char* key) { return std::strtoull(t[key].value_or(std::string("0")).c_str(), nullptr, 10); };
    m->leader_start_time = u64("leader_start_time");
    int64_t supervisor = integer(t["supervisor"].node());
    m->supervisor = supervisor > 1 && supervisor <= std::numeric_limits<pid_t>::max() ? static_cast<pid_t>(supervisor) : 0;
    m->supervisor_start_time = u64("supervisor_start_time");
    m->timestamp_realtime = u64("timestamp_realtime");
    m->timestamp_monotonic = u64("timestamp_monotonic");
    if (auto* ifs = t["ifindices"].as_array()) {
        if (ifs->size() > kMaxInterfaces) return plain_error(fmt::format("Invalid machine state in {}", path));
        for (auto& i : *ifs) m->ifindices.push_back(static_cast<int32_t>(integer(&i)));
    }
    m->cgroup = t["cgroup"].value_or(std::string());
    m->cgroup_created = t["cgroup_created"].value_or(false);
    if (auto* v1 = t["v1_cgroups"].as_array())
        for (auto& d : *v1) m->v1_cgroups.push_back(d.value_or(std::string()));
    if (!machine_name_is_valid(m->name) || m->leader <= 1 || (m->klass != "container" && m->klass != "vm") ||
        !valid_cgroups(*m))
        return plain_error(fmt::format("Invalid machine state in {}", path));
    return m;
}

namespace {

// The supervisor on record, when the same process still runs and is still the leader's parent; forgotten
// otherwise (TerminateMachine then signals the leader itself).
void reopen_supervisor(Machine& m, const std::set<pid_t>& protected_pids) {
    pid_t pid = m.supervisor;
    m.supervisor = 0;
    if (pid <= 1 || protected_pids.count(pid)) return;
    auto fd = pidfd_open(pid);
    auto start = fd.ok() ? process_start_time(pid) : Result<uint64_t>(fd.error());
    auto parent = parent_pid(m.leader);
    if (!start.ok() || *start != m.supervisor_start_time || !parent.ok() || *parent != pid) return;
    m.supervisor = pid;
    m.supervisor_pidfd = std::move(*fd);
}

Result<std::unique_ptr<Machine>> from_toml(int dirfd, const std::string& file, const std::string& path) {
    BERTH_ASSIGN(std::string text, read_untrusted_file(dirfd, file, kStateFileMax));
    return parse_machine_state(text, path);
}

}  // namespace

Status StateStore::prepare() const { return make_directories(dir_); }

Status StateStore::save(const Machine& m) const {
    // No fsync: after a host crash no leader runs any more, and the record would be dropped unread.
    return write_file_atomic(dir_ + "/" + m.name, to_toml(m), 0644, Durability::ProcessCrash);
}

void StateStore::remove(const std::string& name) const {
    if (::unlink((dir_ + "/" + name).c_str()) < 0 && errno != ENOENT)
        spdlog::warn("Failed to remove the state of machine \"{}\": {}", name, std::strerror(errno));
}

std::vector<std::unique_ptr<Machine>> StateStore::load_live(const std::set<pid_t>& protected_leaders) const {
    std::vector<std::unique_ptr<Machine>> out;
    UniqueFd dirfd(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    DIR* d = ::opendir(dir_.c_str());
    if (!d || !dirfd) {
        if (d) ::closedir(d);
        return out;
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') names.push_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    std::set<pid_t> leaders;
    for (auto& file : names) {
        auto m = from_toml(dirfd.get(), file, dir_ + "/" + file);
        // A crash may leave write_file_atomic's NAME.tmp.XXXX behind: its name does not match its file.
        if (!m.ok() || (*m)->name != file) {
            spdlog::warn("Dropping unreadable machine state {}/{}: {}", dir_, file,
                         m.ok() ? "its name is not the machine's" : m.error().message);
            (void)::unlink((dir_ + "/" + file).c_str());
            continue;
        }
        auto& machine = *m;
        if (protected_leaders.count(machine->leader) || !leaders.insert(machine->leader).second) {
            spdlog::warn("Dropping machine state {}/{}: its leader {} is machined, the bus daemon, one of their "
                         "ancestors or another machine's",
                         dir_, file, machine->leader);
            (void)::unlink((dir_ + "/" + file).c_str());
            continue;
        }
        auto fd = pidfd_open(machine->leader);
        auto start = fd.ok() ? process_start_time(machine->leader) : Result<uint64_t>(fd.error());
        if (!fd.ok() || !start.ok() || *start != machine->leader_start_time || !process_running(machine->leader)) {
            spdlog::info("Machine \"{}\" is gone (leader {} no longer runs)", machine->name, machine->leader);
            remove(machine->name);
            continue;
        }
        machine->pidfd = std::move(*fd);
        reopen_supervisor(*machine, protected_leaders);
        out.push_back(std::move(machine));
    }
    return out;
}

}  // namespace berth::machined
