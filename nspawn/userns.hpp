// User namespaces, on by default: the machine's root is an unprivileged UID range on the host.
// pick: a free 65536-id range aligned to 64K, locked under /run/berth/locks for the machine's life.
// Image files get the machine's IDs through idmapped mounts (nothing on disk changes, start cost
// independent of image size); a one-time chown, recorded as the owner of the image's root directory,
// only where the filesystem cannot idmap.
#pragma once

#include <utility>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/cgroup.hpp"
#include "common/fd.hpp"
#include "common/result.hpp"
#include "common/values.hpp"

namespace berth::nspawn {

enum class UserNsMode { Off, Pick, Yes, Identity, Fixed };
enum class Ownership { Auto, Map, Chown, Off };

struct UserNsPlan {
    UserNsMode mode = UserNsMode::Pick;
    uid_t base = 0;  // Fixed: given; Identity: 0; Yes: the owner of the image's root directory
    uint32_t range = 0x10000;
    Ownership ownership = Ownership::Auto;
    bool enabled() const { return mode != UserNsMode::Off; }
};

// --private-users: no, pick, yes, identity, BASE[:RANGE] (a settings file may say true/false or a number).
Status set_private_users(const OptionValue& value, UserNsPlan& p);
// --private-users-ownership: auto, map, chown, off.
Status set_private_users_ownership(const std::string& value, UserNsPlan& p);
// Once the image is known: "yes" takes the range from the owner of its root directory.
Status finish_userns(UserNsPlan& p, const std::string& directory);

// The range a running machine holds: a lock on every 64K block of host IDs it touches
// (/run/berth/locks/uidrange-BLOCKSTART), so that no two running machines ever share a host ID.
struct UserRange {
    uid_t base = 0;
    uint32_t range = 0;
    std::vector<std::pair<uid_t, UniqueFd>> locks;  // block start, lock
};

// Supervisor, before clone: choose and lock the range (pick prefers the range an earlier chown recorded).
Result<UserRange> prepare_user_range(const UserNsPlan& p, const std::string& directory, const std::string& machine);

// Supervisor, at exit: give the range back (the lock file goes; we hold it exclusively).
void cleanup_user_range(UserRange& r);

// Supervisor, after clone: the child's uid_map and gid_map.
Status configure_id_maps(pid_t pid, const UserRange& r);

// Supervisor, after clone: the machine's cgroup (directory and the files its init writes) to the machine's root.
Status configure_cgroup_delegation(const Cgroup& cg, uid_t root);

// Shift every file's owner below `directory` into the range (uid -> base + uid), once; recorded by the
// root directory's owner, so a second call with the same base does nothing.
Status chown_image(const std::string& directory, const UserRange& r);
// Whether chown_image() shifted the image into this range already.
bool image_chowned_to(const std::string& directory, const UserRange& r);

// Supervisor, around the clone that makes the machine's user namespace: the calling thread's real and
// effective uid and its effective gid become the range's base (its capabilities stay effective, its saved
// uid stays 0), and RLIMIT_NPROC is `tasks`. So:
// - the namespace is owned by the machine's own root, not by host root. The kernel charges the per-user
//   counts a guest uses (inotify instances and watches, namespaces, ...) to the namespace's owner on the
//   host: each machine has the host's per-user limits to itself, and no guest can exhaust host root's or
//   another machine's;
// - the kernel records `tasks` as the namespace's own process limit (taken from its creator, when that is
//   not root), which counts every process and thread of every user of the machine together, at no cost
//   at start: a fork bomb stops there.
// Back to root and the old limit when it goes out of scope; the cloned child takes back the old limit
// too (forget). Base 0 (--private-users=identity) changes nothing.
class NamespaceOwner {
public:
    static Result<NamespaceOwner> assume(uid_t base, uint64_t tasks);
    NamespaceOwner(NamespaceOwner&& o) noexcept : active_(std::exchange(o.active_, false)), nproc_(o.nproc_) {}
    NamespaceOwner& operator=(NamespaceOwner&&) = delete;
    ~NamespaceOwner();
    // In the cloned child: keep the owner's credentials (the new namespace maps them to its root), take
    // back the old RLIMIT_NPROC (the namespace keeps `tasks`).
    void forget();

private:
    NamespaceOwner() = default;
    bool active_ = false;
    rlimit nproc_{};
};

// Supervisor: the calling thread's filesystem uid and gid are `uid` (its capabilities stay effective)
// until this goes out of scope. What a filesystem records of its creator (overlayfs) is then `uid`.
class FsIds {
public:
    static Result<FsIds> assume(uid_t uid);
    FsIds(FsIds&& o) noexcept : active_(std::exchange(o.active_, false)) {}
    FsIds& operator=(FsIds&&) = delete;
    ~FsIds();

private:
    FsIds() = default;
    bool active_ = false;
};

// Child, first thing after the maps exist: become root (uid/gid 0, no groups) of the new namespace.
Status become_userns_root_in_child();

}  // namespace berth::nspawn
