// The verbs systemd's machinectl has: list, status, show, poweroff/stop, reboot, terminate, kill.
#include <net/if.h>
#include <signal.h>

#include <unistd.h>

#include <climits>
#include <cstdio>

#include <fmt/format.h>

#include "common/cgroup.hpp"
#include "common/escape.hpp"
#include "machinectl/journal_format.hpp"
#include "machinectl/journal_read.hpp"
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

// The machine's own journal since it started (see journal_read.hpp); none when machined cannot open the
// machine's root (systemd's machined for a machine without one, a machine gone meanwhile) or the guest
// keeps no journal.
std::vector<JournalEntry> machine_journal(Bus& bus, const Options& o, const std::string& name, uint64_t since) {
    if (o.lines == 0) return {};
    auto root = bus.open_root_directory(name);
    if (!root) return {};
    auto entries = read_journal_tail(root->get(), o.lines, since);
    if (!entries) {
        if (!o.quiet) fmt::print(stderr, "Warning: journal of machine {}: {}\n", quote_arg(name), entries.error().message);
        return {};
    }
    return std::move(*entries);
}

// After an empty line, as systemd's OUTPUT_BEGIN_NEWLINE. On a terminal, control characters that a mode
// passes through (cat, export, -a) are escaped: a guest's log must not drive the administrator's terminal.
void print_journal(const Options& o, const std::vector<JournalEntry>& entries) {
    JournalFormatState state;
    bool first = true, tty = isatty(STDOUT_FILENO);
    for (auto& e : entries) {
        std::string text = format_journal_entry(e, o.output, state, {.show_all = o.all});
        if (text.empty()) continue;
        if (first) print("\n");
        first = false;
        if (tty) {
            std::string safe;
            size_t pos = 0;
            while (pos < text.size()) {
                size_t nl = text.find('\n', pos);
                if (nl == std::string::npos) nl = text.size();
                safe += escape_untrusted(std::string_view(text).substr(pos, nl - pos));
                if (nl < text.size()) safe += '\n';
                pos = nl + 1;
            }
            text = std::move(safe);
        }
        print(text);
    }
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
    // As systemd: --max-addresses=0 drops the column, a number cuts each cell to that many lines with "…".
    bool with_addresses = o.max_addresses > 0;
    std::vector<std::string> columns{"machine", "class", "service", "os", "version"};
    if (with_addresses) columns.push_back("addresses");
    Table table(columns);
    for (auto& m : machines) {
        if (!m.name.empty() && m.name[0] == '.' && !o.all) continue;
        // As systemd: a machine without os-release or network still gets its row.
        auto os = bus.os_release(m.name);
        auto addrs = bus.addresses(m.name);
        std::map<std::string, std::string> none;
        const auto& rel = os ? *os : none;
        std::vector<Cell> row{m.name, m.cls, m.service, cell(rel, "ID"), cell(rel, "VERSION_ID")};
        if (with_addresses) row.push_back(addrs ? Cell{join(*addrs)} : Cell{});
        table.add_row(std::move(row));
    }
    table.sort_by_first_column();
    if (output_mode_is_json(o.output)) {
        print(dump_json(table.to_json(), o.output));
        return {};
    }
    size_t height = o.full || o.max_addresses == UINT_MAX ? 0 : o.max_addresses;
    if (table.rows() > 0) print(table.render(o.legend, height));
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
        auto journal = machine_journal(bus, o, name, s.timestamp_monotonic);
        if (output_mode_is_json(o.output)) {
            auto doc = status_json(s, props);
            doc["Journal"] = nlohmann::ordered_json::array();
            for (auto& e : journal) doc["Journal"].push_back(journal_entry_json(e, {.show_all = o.all}));
            print(dump_json(doc, o.output));
            continue;
        }
        if (!first) print("\n");
        first = false;
        print(format_status(s, now_realtime_usec()));
        print_journal(o, journal);
    }
    return {};
}

void ShowPrinter::emit(const std::vector<Property>& props) {
    ShowFlags flags{o_.properties, o_.value_only, o_.all};
    if (output_mode_is_json(o_.output)) {
        print(dump_json(properties_json(props, flags), o_.output));
        return;
    }
    if (!first_) print("\n");
    first_ = false;
    print(format_properties(props, flags));
}

Status verb_show(Bus& bus, const Options& o) {
    ShowPrinter printer(o);
    auto emit = [&](const std::vector<Property>& props) { printer.emit(props); };
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
