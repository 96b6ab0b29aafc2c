#include "machined/guest_user.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/chase.hpp"
#include "common/values.hpp"

namespace berth::machined {

namespace {

constexpr size_t kAccountFileMax = 16 << 20;

template <typename F>
void for_each_line(std::string_view text, F each) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty() && line[0] != '#' && line[0] != '+' && line[0] != '-') each(line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

bool parse_id(std::string_view s, uint32_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out != static_cast<uint32_t>(-1);
}

bool executable_in_root(int rootfd, const std::string& path) {
    auto fd = open_in_root(rootfd, path, O_PATH | O_CLOEXEC);
    struct stat st {};
    return fd.ok() && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

}  // namespace

Result<GuestUser> find_passwd_entry(std::string_view passwd, const std::string& user) {
    std::string want = user.empty() ? "root" : user;
    uint32_t want_id = 0;
    bool by_id = parse_id(want, want_id);
    std::optional<GuestUser> found;
    for_each_line(passwd, [&](std::string_view line) {
        if (found) return;
        auto f = split_fields(line, ':');
        GuestUser u;
        if (f.size() < 7 || f[0].empty() || !parse_id(f[2], u.uid) || !parse_id(f[3], u.gid)) return;
        if (by_id ? u.uid != want_id : f[0] != want) return;
        u.name = f[0];
        if (!f[5].empty()) u.home = f[5];
        if (!f[6].empty()) u.shell = f[6];
        found = std::move(u);
    });
    if (!found) return plain_error(fmt::format("No user \"{}\"", want), ENOENT);
    return *found;
}

std::vector<gid_t> supplementary_groups(std::string_view group, const std::string& user, gid_t primary) {
    std::vector<gid_t> out{primary};
    for_each_line(group, [&](std::string_view line) {
        auto f = split_fields(line, ':');
        uint32_t gid = 0;
        if (f.size() < 4 || !parse_id(f[2], gid)) return;
        for (auto member : split_fields(f[3], ','))
            if (member == user && std::find(out.begin(), out.end(), gid) == out.end()) out.push_back(gid);
    });
    return out;
}

Result<GuestUser> resolve_guest_user(int rootfd, const std::string& user, const std::string& machine) {
    BERTH_ASSIGN_CTX(std::string passwd, read_untrusted_file(rootfd, "/etc/passwd", kAccountFileMax),
                     "Failed to read the users of machine \"{}\"", machine);
    auto u = find_passwd_entry(passwd, user);
    if (!u.ok()) return plain_error(fmt::format("Machine \"{}\" has no user \"{}\"", machine, user), ENOENT);
    // No /etc/group is no supplementary group, not an error (a minimal image).
    auto group = read_untrusted_file(rootfd, "/etc/group", kAccountFileMax);
    u->groups = supplementary_groups(group.ok() ? *group : std::string(), u->name, u->gid);
    return u;
}

bool valid_environment(const std::vector<std::string>& environment) {
    for (auto& e : environment) {
        size_t eq = e.find('=');
        if (eq == 0 || eq == std::string::npos || e.find('\0') != std::string::npos) return false;
    }
    return true;
}

Result<GuestCommand> make_guest_command(int rootfd, const GuestUser& user, const std::string& path,
                                        const std::vector<std::string>& args,
                                        const std::vector<std::string>& environment, const std::string& term,
                                        const std::string& machine) {
    if (!valid_environment(environment)) return plain_error("Invalid environment assignments");
    GuestCommand c;
    c.env = {"TERM=" + term, "HOME=" + user.home, "USER=" + user.name, "LOGNAME=" + user.name,
             "SHELL=" + user.shell, std::string("PATH=") + kDefaultPath};
    for (auto& e : environment) {
        std::string key = e.substr(0, e.find('=') + 1);
        std::erase_if(c.env, [&](const std::string& d) { return d.compare(0, key.size(), key) == 0; });
        c.env.push_back(e);
    }
    if (path.empty()) {
        // A login shell: "-" before its name, as login(1) runs it.
        c.path = user.shell;
        c.argv = {"-" + user.shell.substr(user.shell.rfind('/') + 1)};
        return c;
    }
    if (path[0] == '/') {
        c.path = path;
    } else if (path.find('/') != std::string::npos) {
        return plain_error(fmt::format("Invalid command \"{}\": neither an absolute path nor a name to look up in PATH",
                                       path));
    } else {
        std::string search = kDefaultPath;
        for (auto& e : c.env)
            if (e.rfind("PATH=", 0) == 0) search = e.substr(5);
        for (auto dir : split_fields(search, ':')) {
            if (dir.empty() || dir[0] != '/') continue;
            std::string candidate = std::string(dir) + "/" + path;
            if (executable_in_root(rootfd, candidate)) {
                c.path = candidate;
                break;
            }
        }
        if (c.path.empty())
            return plain_error(fmt::format("No command \"{}\" in the PATH of machine \"{}\"", path, machine), ENOENT);
    }
    c.argv = args.empty() ? std::vector<std::string>{path} : args;
    return c;
}

}  // namespace berth::machined
