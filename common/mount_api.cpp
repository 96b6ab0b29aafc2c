#include "common/mount_api.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "common/chase.hpp"
#include "common/values.hpp"

namespace berth {

Result<UniqueFd> make_fs_mount(const std::string& fstype, const std::string& options, unsigned attrs,
                               const std::string& source) {
    UniqueFd fs(::fsopen(fstype.c_str(), FSOPEN_CLOEXEC));
    if (!fs) return errno_error(fmt::format("Failed to open a {} filesystem context", fstype));
    auto config = [&](unsigned cmd, const char* key, const char* value) -> Status {
        if (::fsconfig(fs.get(), cmd, key, value, 0) < 0)
            return errno_error(fmt::format("Failed to set {}{}{} on {}", key ? key : "", value ? "=" : "",
                                           value ? value : "", fstype));
        return {};
    };
    if (!source.empty()) BERTH_TRY(config(FSCONFIG_SET_STRING, "source", source.c_str()));
    for (const std::string& opt : split_items(options)) {
        auto eq = opt.find('=');
        if (eq == std::string::npos) {
            BERTH_TRY(config(FSCONFIG_SET_FLAG, opt.c_str(), nullptr));
        } else {
            std::string key = opt.substr(0, eq), value = opt.substr(eq + 1);
            BERTH_TRY(config(FSCONFIG_SET_STRING, key.c_str(), value.c_str()));
        }
    }
    if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
        return errno_error(fmt::format("Failed to create {} filesystem{}{}", fstype, options.empty() ? "" : " with ",
                                       options));
    int m = ::fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs);
    if (m < 0) return errno_error(fmt::format("Failed to mount {} filesystem", fstype));
    return UniqueFd(m);
}

std::string overlay_escape(const std::string& path) {
    std::string out;
    for (char c : path) {
        if (c == '\\' || c == ':' || c == ',') out += '\\';
        out += c;
    }
    return out;
}

Result<UniqueFd> make_overlay_mount(const std::vector<std::string>& lowers_top_first, const std::string& upper,
                                    const std::string& work, unsigned attrs) {
    for (bool one_by_one : {true, false}) {
        UniqueFd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
        if (!fs) return errno_error("Failed to open an overlay filesystem context");
        auto set = [&](const char* key, const std::string& value) -> Status {
            if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) < 0)
                return errno_error(fmt::format("Failed to set overlay layer {} {}", key, value));
            return {};
        };
        BERTH_TRY(set("source", "overlay"));
        if (one_by_one) {
            // "lowerdir+" takes the path as it is, unescaped.
            auto first = set("lowerdir+", lowers_top_first.at(0));
            if (!first.ok() && first.error().code == EINVAL) continue;  // before 6.8: one escaped "lowerdir"
            BERTH_TRY(first);
            for (size_t i = 1; i < lowers_top_first.size(); i++) BERTH_TRY(set("lowerdir+", lowers_top_first[i]));
        } else {
            std::string joined;
            for (auto& l : lowers_top_first) joined += (joined.empty() ? "" : ":") + overlay_escape(l);
            BERTH_TRY(set("lowerdir", joined));
        }
        // upperdir and workdir are unescaped by overlayfs whichever way they come.
        if (!upper.empty()) BERTH_TRY(set("upperdir", overlay_escape(upper)));
        if (!work.empty()) BERTH_TRY(set("workdir", overlay_escape(work)));
        if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
            return errno_error("Failed to create the overlay filesystem");
        int m = ::fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs);
        if (m < 0) return errno_error("Failed to mount the overlay filesystem");
        return UniqueFd(m);
    }
    return plain_error("Failed to create the overlay filesystem", EINVAL);
}

Result<UniqueFd> make_bind_mount(int dirfd, const std::string& path, bool recursive) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    if (path.empty()) flags |= AT_EMPTY_PATH;
    int m = ::open_tree(dirfd, path.c_str(), flags);
    if (m < 0) return errno_error(fmt::format("Failed to clone mount tree {}", path.empty() ? "(fd)" : path));
    return UniqueFd(m);
}

Status set_mount_attrs(int fd, unsigned set, unsigned clear, bool recursive) {
    mount_attr attr{};
    attr.attr_set = set;
    attr.attr_clr = clear;
    if (::mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
        return errno_error("Failed to change mount attributes");
    return {};
}

Status set_idmap(int fd, int userns_fd, bool recursive) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns_fd);
    if (::mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
        return errno_error("Failed to create an idmapped mount");
    return {};
}

Status attach_mount(int mfd, int target_fd) {
    if (::move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return errno_error("Failed to attach mount");
    return {};
}

Status attach_in_root(int mfd, int rootfd, const std::string& dest, bool file) {
    auto target = file ? touch_in_root(rootfd, dest) : mkdir_p_in_root(rootfd, dest);
    if (!target.ok()) return Error{target.error().code, fmt::format("Failed to create mount point {}: {}", dest,
                                                                     std::strerror(target.error().code))};
    if (::move_mount(mfd, "", target->get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return errno_error(fmt::format("Failed to mount on {}", dest));
    return {};
}

}  // namespace berth
