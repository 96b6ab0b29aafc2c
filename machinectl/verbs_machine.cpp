// The verbs systemd's machinectl has: list, status, show, poweroff/stop, reboot, terminate, kill.
#include <net/if.h>
#include <signal.h>

#include <cstdio>

#include <fmt/format.h>

#include "common/cgroup.hpp"
#include "machinectl/bus.hpp"
#include "machinectl/output_json.hpp"
#include "machinectl/output_status.hpp"
#include "machinectl/output_table.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

void print(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string join(const std::vector<Address>& addrs) {
    std::string out;
    for (auto& a : addrs) out += (out.empty() ? "" : "\n") + a.text;
    return out;
}

Cell cell(const std::map<std::string, std::string>& m, const char* key) {
    auto it = m.find(key);
    return it == m.end() ? Cell{} : Cell{it->second};
}

Result<std::string> path_of(Bus& bus, const std::string& name) {
    BERTH_ASSIGN_CTX(std::string path, bus.machine_path(name), "Could not get path to machine {}", quote_arg(name));
    return path;
}

// Every property of the machine object, of all its interfaces (systemd's and io.berth.Machine1) in the
// object's order: Properties.GetAll with an empty interface name, as systemd's machinectl asks.
Result<std::vector<Property>> machine_properties(Bus& bus, const std::string& name, const std::string& path) {
    BERTH_ASSIGN_CTX(auto props, bus.properties(path, ""), "Could not get properties of machine {}", quote_arg(name));
    return props;
}

Status kill_each(Bus& bus, const Options& o, const std::string& whom, int sig, const char* what) {
    for (auto& name : o.args) {
        BERTH_TRY_CTX(bus.call(kManagerIface, "KillMachine", name, whom, int32_t{sig}), "Could not {} machine {}", what,
                      quote_arg(name));
    }
    return {};
}

}  // namespace

Status verb_list(Bus& bus, const Options& o) {
    BERTH_ASSIGN(auto machines, bus.list_machines());
    Table table({"machine", "class", "service", "os", "version", "addresses"});
    for (auto& m : machines) {
        if (!m.name.empty() && m.name[0] == '.' && !o.all) continue;
        // As systemd: a machine without os-release or network still gets its row.
        auto os = bus.os_release(m.name);
        auto addrs = bus.addresses(m.name);
        std::map<std::string, std::string> none;
        const auto& rel = os ? *os : none;
        table.add_row({m.name, m.cls, m.service, cell(rel, "ID"), cell(rel, "VERSION_ID"),
                       addrs ? Cell{join(*addrs)} : Cell{}});
    }
    table.sort_by_first_column();
    if (o.output != OutputMode::Table) {
        print(dump_json(table.to_json(), o.output));
        return {};
    }
    if (table.rows() > 0) print(table.render(o.legend, o.full ? 0 : 1));
    if (o.legend) print(table.rows() > 0 ? fmt::format("\n{} machines listed.\n", table.rows()) : "No machines.\n");
    return {};
}

Status verb_status(Bus& bus, const Options& o) {
    bool first = true;
    for (auto& name : o.args) {
        BERTH_ASSIGN(auto path, path_of(bus, name));
        BERTH_ASSIGN(auto props, machine_properties(bus, name, path));
        MachineStatus s;
        apply_properties(s, props);
        if (s.leader > 0) s.leader_comm = process_comm(s.leader);
        for (int ifi : s.ifindices) {
            char buf[IF_NAMESIZE] = "";
            s.ifnames.push_back(if_indextoname(static_cast<unsigned>(ifi), buf) ? buf : "");
        }
        if (auto addrs = bus.addresses(name))
            for (auto& a : *addrs) s.addresses.emplace_back(a.family, a.text);
        if (auto os = bus.os_release(name)) {
            auto it = os->find("PRETTY_NAME");
            if (it != os->end()) s.os_pretty_name = it->second;
        }
        if (auto shift = bus.uid_shift(name)) s.uid_shift = *shift;
        // The process tree: the machine's own cgroup as machined knows it (a booted guest's systemd moves
        // itself into init.scope below it: the leader's cgroup would show that alone), else the leader's.
        if (!s.cgroup.empty()) {
            auto layout = detect_cgroup_layout();
            auto tree = layout ? read_cgroup_tree(layout->unified_root, s.cgroup) : Result<CgroupNode>(layout.error());
            if (tree) s.processes = std::move(*tree);
            else if (!o.quiet) fmt::print(stderr, "Warning: {}\n", tree.error().message);
        } else if (s.leader > 0) {
            auto cg = own_unified_cgroup(s.leader);
            auto layout = detect_cgroup_layout();
            if (cg && *cg == "/") {
                // A leader in the root cgroup (registered by hand, not started by nspawn): the root is
                // not the machine's, so only the leader itself is the machine's for sure.
                s.processes = CgroupNode{"/", {{s.leader, process_cmdline(s.leader)}}, {}};
            } else if (cg && layout) {
                s.cgroup = *cg;
                auto tree = read_cgroup_tree(layout->unified_root, *cg);
                if (tree) s.processes = std::move(*tree);
                else if (!o.quiet) fmt::print(stderr, "Warning: {}\n", tree.error().message);
            }
        }
        if (o.output != OutputMode::Table) {
            print(dump_json(status_json(s, props), o.output));
            continue;
        }
        if (!first) print("\n");
        first = false;
        print(format_status(s, now_realtime_usec()));
    }
    return {};
}

Status verb_show(Bus& bus, const Options& o) {
    ShowFlags flags{o.properties, o.value_only, o.all};
    bool first = true;
    auto emit = [&](const std::vector<Property>& props) {
        if (o.output != OutputMode::Table) {
            print(dump_json(properties_json(props, flags), o.output));
            return;
        }
        if (!first) print("\n");
        first = false;
        print(format_properties(props, flags));
    };
    if (o.args.empty()) {
        BERTH_ASSIGN_CTX(auto props, bus.properties(kManagerPath, ""), "Could not get properties of the manager");
        emit(props);
    }
    for (auto& name : o.args) {
        BERTH_ASSIGN(auto path, path_of(bus, name));
        BERTH_ASSIGN(auto props, machine_properties(bus, name, path));
        emit(props);
    }
    return {};
}

// systemd's guests power off on SIGRTMIN+4 and reboot on SIGINT; SIGTERM means re-execute to them.
Status verb_poweroff(Bus& bus, const Options& o) { return kill_each(bus, o, "leader", SIGRTMIN + 4, "power off"); }
Status verb_reboot(Bus& bus, const Options& o) { return kill_each(bus, o, "leader", SIGINT, "reboot"); }

Status verb_kill(Bus& bus, const Options& o) {
    return kill_each(bus, o, o.kill_whom.empty() ? "all" : o.kill_whom, o.signal, "kill");
}

Status verb_terminate(Bus& bus, const Options& o) {
    for (auto& name : o.args) {
        BERTH_TRY_CTX(bus.call(kManagerIface, "TerminateMachine", name), "Could not terminate machine {}",
                      quote_arg(name));
    }
    return {};
}

}  // namespace berth::machinectl
