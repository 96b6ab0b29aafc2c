#include "machinectl/process_tree.hpp"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/escape.hpp"

namespace berth::machinectl {

namespace {

bool read_text(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    out = ss.str();
    return true;
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool populated(const CgroupNode& n) { return !n.processes.empty() || !n.children.empty(); }

std::string join(const std::string& a, const std::string& b) {
    if (a.empty() || a == "/") return "/" + b;
    return a + "/" + b;
}

}  // namespace

std::string process_comm(pid_t pid, const std::string& proc_root) {
    std::string comm;
    if (!read_text(fmt::format("{}/{}/comm", proc_root, pid), comm)) return "";
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

std::string process_cmdline(pid_t pid, const std::string& proc_root) {
    std::string raw;
    read_text(fmt::format("{}/{}/cmdline", proc_root, pid), raw);
    while (!raw.empty() && raw.back() == '\0') raw.pop_back();
    if (raw.empty()) {
        std::string comm = process_comm(pid, proc_root);
        return comm.empty() ? "n/a" : "[" + escape_untrusted(comm) + "]";
    }
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    return escape_untrusted(raw);
}

Result<CgroupNode> read_cgroup_tree(const std::string& root, const std::string& path, const std::string& proc_root) {
    CgroupNode node;
    node.path = path;
    std::string dir = root + (path == "/" ? "" : path);
    std::string procs;
    if (!read_text(dir + "/cgroup.procs", procs)) {
        // Gone meanwhile: a machine that stopped while we looked has no processes.
        if (errno == ENOENT) return node;
        return errno_error(fmt::format("Failed to read {}/cgroup.procs", dir));
    }
    std::istringstream in(procs);
    std::vector<pid_t> pids;
    for (pid_t pid; in >> pid;) pids.push_back(pid);
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    for (pid_t pid : pids) node.processes.emplace_back(pid, process_cmdline(pid, proc_root));

    std::vector<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (e->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
        }
        closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
        BERTH_ASSIGN(CgroupNode child, read_cgroup_tree(root, join(path, name), proc_root));
        if (populated(child)) node.children.push_back(std::move(child));
    }
    return node;
}

std::string render_cgroup_tree(const CgroupNode& node, const std::string& prefix) {
    std::string out;
    size_t pid_width = node.processes.empty() ? 0 : std::to_string(node.processes.back().first).size();
    for (size_t i = 0; i < node.processes.size(); i++) {
        bool more = i + 1 < node.processes.size() || !node.children.empty();
        out += fmt::format("{}{}{:>{}} {}\n", prefix, more ? "├─" : "└─", node.processes[i].first, pid_width,
                           node.processes[i].second);
    }
    for (size_t i = 0; i < node.children.size(); i++) {
        bool last = i + 1 == node.children.size();
        out += fmt::format("{}{}{}\n", prefix, last ? "└─" : "├─", escape_untrusted(base_name(node.children[i].path)));
        out += render_cgroup_tree(node.children[i], prefix + (last ? "  " : "│ "));
    }
    return out;
}

nlohmann::ordered_json cgroup_tree_json(const CgroupNode& node) {
    nlohmann::ordered_json j;
    j["cgroup"] = node.path;
    j["processes"] = nlohmann::ordered_json::array();
    for (auto& [pid, cmdline] : node.processes) j["processes"].push_back({{"pid", pid}, {"cmdline", cmdline}});
    j["children"] = nlohmann::ordered_json::array();
    for (auto& c : node.children) j["children"].push_back(cgroup_tree_json(c));
    return j;
}

}  // namespace berth::machinectl
