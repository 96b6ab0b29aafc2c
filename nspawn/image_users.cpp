#include "nspawn/image_users.hpp"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <climits>
#include <sstream>

#include "common/chase.hpp"
#include "common/fileio.hpp"
#include "common/values.hpp"

namespace berth::nspawn {

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : line) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

bool parse_id(const std::string& s, unsigned& out) {
    auto v = parse_uint(s);
    if (!v || *v > UINT_MAX) return false;
    out = static_cast<unsigned>(*v);
    return true;
}

constexpr size_t kAccountFileMax = 16 << 20;  // /etc/passwd, /etc/group: hundreds of thousands of entries

// The image's account file, "" when it has none; one it controls in any other way (a FIFO, a device, a
// huge sparse file) is an error, never a hang.
Result<std::string> read_account_file(int rootfd, const char* path, const std::string& machine) {
    auto text = read_untrusted_file(rootfd, path, kAccountFileMax);
    if (!text.ok() && text.error().code == ENOENT) return std::string{};
    if (!text.ok()) return wrap_error(text.error(), fmt::format("Failed to read the users of machine \"{}\"", machine));
    return text;
}

}  // namespace

Result<UserInfo> lookup_user(int rootfd, const std::string& user, const std::string& machine) {
    unsigned numeric = 0;
    bool by_id = parse_id(user, numeric);
    BERTH_ASSIGN(std::string passwd, read_account_file(rootfd, "/etc/passwd", machine));
    std::istringstream in(passwd);
    UserInfo u;
    bool found = false;
    for (std::string line; std::getline(in, line);) {
        auto f = split(line, ':');
        if (f.size() < 7) continue;
        unsigned uid = 0, gid = 0;
        if (!parse_id(f[2], uid) || !parse_id(f[3], gid)) continue;
        if (by_id ? uid != numeric : f[0] != user) continue;
        u = UserInfo{f[0], uid, gid, {}, f[5].empty() ? "/" : f[5], f[6].empty() ? "/bin/sh" : f[6]};
        found = true;
        break;
    }
    if (!found) {
        if (user == "root" || (by_id && numeric == 0)) return UserInfo{};
        return plain_error(fmt::format("User \"{}\" not found in machine \"{}\" (its /etc/passwd)", user, machine),
                           ESRCH);
    }
    BERTH_ASSIGN(std::string group, read_account_file(rootfd, "/etc/group", machine));
    std::istringstream gin(group);
    for (std::string line; std::getline(gin, line);) {
        auto f = split(line, ':');
        if (f.size() < 4) continue;
        unsigned gid = 0;
        if (!parse_id(f[2], gid) || gid == u.gid) continue;
        for (auto& member : split(f[3], ','))
            if (member == u.name) u.groups.push_back(gid);
    }
    return u;
}

Status become_user_in_child(const UserInfo& u) {
    if (::setgroups(u.groups.size(), u.groups.data()) < 0) return errno_error("Failed to set supplementary groups");
    if (::setresgid(u.gid, u.gid, u.gid) < 0) return errno_error(fmt::format("Failed to change to group {}", u.gid));
    if (::setresuid(u.uid, u.uid, u.uid) < 0) return errno_error(fmt::format("Failed to change to user {}", u.name));
    return {};
}

}  // namespace berth::nspawn
