#include "mount_api.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "chase.hpp"

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
    size_t i = 0;
    while (i < options.size()) {
        size_t j = options.find(',', i);
        if (j == std::string::npos) j = options.size();
        std::string opt = options.substr(i, j - i);
        i = j + 1;
        if (opt.empty()) continue;
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
