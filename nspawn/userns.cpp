#include "nspawn/userns.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/mount.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

#include "common/fileio.hpp"
#include "common/log.hpp"
#include "common/mount_api.hpp"
#include "common/paths.hpp"
#include "common/values.hpp"
#include "nspawn/lock.hpp"

namespace berth::nspawn {

namespace {

constexpr uid_t kPickFirst = 0x00080000;  // as systemd-nspawn: clear of ordinary users and groups
constexpr uid_t kPickLast = 0x6FFF0000;
constexpr uint32_t kRange = 0x10000;

Result<uint64_t> parse_u32(const std::string& s, const std::string& what) {
    auto v = parse_uint(s);
    if (!v || *v > 0xFFFFFFFFull)
        return plain_error(fmt::format("Invalid --private-users \"{}\": {} is not a number", what, s));
    return *v;
}

uid_t root_owner(const std::string& directory) {
    struct stat st {};
    return ::stat(directory.c_str(), &st) == 0 ? st.st_uid : 0;
}

constexpr uint64_t kMaxLockedBlocks = 4096;  // ranges up to 256M IDs

bool overlaps(uint64_t a, uint64_t a_count, uint64_t b, uint64_t b_count) { return a < b + b_count && b < a + a_count; }

// The lines of an account file (passwd, group, subuid, subgid) as their ':'-separated fields.
std::vector<std::vector<std::string>> colon_records(const char* file) {
    std::vector<std::vector<std::string>> out;
    auto text = read_file(file);
    std::istringstream in(text.ok() ? *text : std::string());
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> fields(1);
        for (char c : line) {
            if (c == ':') fields.emplace_back();
            else fields.back().push_back(c);
        }
        out.push_back(std::move(fields));
    }
    return out;
}

bool number(const std::string& s, uint64_t& out) {
    auto v = parse_uint(s);
    if (v) out = *v;
    return v.has_value();
}

// Why the range is the host's own, or "": IDs below 65536 (the host's users and groups), a user or group
// of /etc/passwd and /etc/group (field 3), or a subordinate range of /etc/subuid and /etc/subgid (fields
// 2 and 3: rootless containers of the host's users).
std::string host_ids_in(uid_t base, uint32_t range) {
    if (overlaps(base, range, 0, kRange)) return "the host's own users and groups (IDs below 65536)";
    for (const char* file : {"/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"}) {
        bool sub = std::string_view(file).substr(0, 8) == "/etc/sub";
        for (auto& f : colon_records(file)) {
            uint64_t start = 0, count = 1;
            if (f.size() < 3 || !number(f[sub ? 1 : 2], start) || (sub && !number(f[2], count))) continue;
            if (!overlaps(base, range, start, count)) continue;
            if (sub) return fmt::format("the subordinate IDs {}-{} of {} in {}", start, start + count - 1, f[0], file);
            return fmt::format("{} {} of {}", file[5] == 'p' ? "user" : "group", start, file);
        }
    }
    return "";
}

std::string block_lock_path(uid_t block) { return fmt::format("{}/uidrange-{}", paths::kLocks, block); }

// Locks every 64K block the range touches, or fails with EWOULDBLOCK naming nothing (the caller does).
Status lock_range(UserRange& r) {
    ::mkdir("/run/berth", 0755);
    ::mkdir(paths::kLocks, 0700);
    uint64_t first = r.base - r.base % kRange, end = uint64_t{r.base} + r.range;
    if ((end - first + kRange - 1) / kRange > kMaxLockedBlocks)
        return plain_error(fmt::format("UID range {}-{} is larger than {} IDs", r.base, end - 1, kMaxLockedBlocks * kRange),
                           E2BIG);
    for (uint64_t block = first; block < end; block += kRange) {
        auto l = lock_file(block_lock_path(static_cast<uid_t>(block)), true);
        if (!l.ok()) {
            cleanup_user_range(r);
            return l.error();
        }
        r.locks.emplace_back(static_cast<uid_t>(block), std::move(*l));
    }
    return {};
}

thread_local UserRange* g_chown_range = nullptr;

int shift_one(const char* path, const struct stat* st, int, FTW*) {
    const UserRange& r = *g_chown_range;
    uid_t u = st->st_uid < r.range ? r.base + st->st_uid : st->st_uid;
    gid_t g = st->st_gid < r.range ? r.base + st->st_gid : st->st_gid;
    if ((u != st->st_uid || g != st->st_gid) && ::lchown(path, u, g) < 0) return errno;
    // chown clears set-id bits of executables: put them back.
    if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID))) (void)::chmod(path, st->st_mode & 07777);
    return 0;
}

}  // namespace

Status set_private_users(const OptionValue& value, UserNsPlan& p) {
    if (auto* b = std::get_if<bool>(&value)) {
        p.mode = *b ? UserNsMode::Pick : UserNsMode::Off;
        return {};
    }
    if (auto* i = std::get_if<int64_t>(&value)) {
        if (*i <= 0 || *i + int64_t{kRange} > 0xFFFFFFFFll)
            return plain_error(fmt::format("Invalid --private-users \"{}\": a base between 1 and {}", *i,
                                           0xFFFFFFFFll - kRange));
        p.mode = UserNsMode::Fixed;
        p.base = static_cast<uid_t>(*i);
        p.range = kRange;
        return {};
    }
    const auto* text = std::get_if<std::string>(&value);
    if (!text) return plain_error(fmt::format("Invalid --private-users \"{}\"", value_text(value)));
    const std::string& v = *text;
    auto yes_no = parse_boolean(std::string_view(v));
    if (yes_no == false) {
        p.mode = UserNsMode::Off;
    } else if (v == "pick") {
        p.mode = UserNsMode::Pick;
    } else if (yes_no == true) {
        p.mode = UserNsMode::Yes;
    } else if (v == "identity") {
        p.mode = UserNsMode::Identity;
    } else {
        auto colon = v.find(':');
        BERTH_ASSIGN(uint64_t base, parse_u32(v.substr(0, colon), v));
        uint64_t range = kRange;
        if (colon != std::string::npos) {
            BERTH_ASSIGN(range, parse_u32(v.substr(colon + 1), v));
        }
        if (base == 0)
            return plain_error(fmt::format("Invalid --private-users \"{}\": base 0 is the host's root, use identity", v));
        if (range == 0 || base + range > 0xFFFFFFFFull)
            return plain_error(fmt::format("Invalid --private-users \"{}\": the range is empty or too large", v));
        p.mode = UserNsMode::Fixed;
        p.base = static_cast<uid_t>(base);
        p.range = static_cast<uint32_t>(range);
    }
    return {};
}

Status set_private_users_ownership(const std::string& own, UserNsPlan& p) {
    if (own == "auto") p.ownership = Ownership::Auto;
    else if (own == "map") p.ownership = Ownership::Map;
    else if (own == "chown") p.ownership = Ownership::Chown;
    else if (own == "off") p.ownership = Ownership::Off;
    else
        return plain_error(fmt::format("Invalid --private-users-ownership \"{}\": expected auto, map, chown or off", own));
    return {};
}

Status finish_userns(UserNsPlan& p, const std::string& directory) {
    if (p.mode != UserNsMode::Yes) return {};
    p.base = root_owner(directory);
    if (p.base == 0)
        return plain_error(fmt::format("--private-users=yes takes the range from the owner of {}, which is root: "
                                       "use --private-users=pick",
                                       directory));
    return {};
}

Result<UserRange> prepare_user_range(const UserNsPlan& p, const std::string& directory, const std::string& machine) {
    UserRange r;
    r.range = p.range;
    auto in_use = [&] {
        return plain_error(fmt::format("UID range {}-{} for machine \"{}\" is in use by another running machine",
                                       r.base, uint64_t{r.base} + r.range - 1, machine),
                           EBUSY);
    };
    if (p.mode != UserNsMode::Pick) {
        r.base = p.mode == UserNsMode::Identity ? 0 : p.base;
        if (p.mode == UserNsMode::Yes) {
            // Taken from the owner of the image's root directory, which anyone who made the image chose: it
            // must be a possible map, and not the host's own IDs (give BASE:RANGE to mean those).
            if (uint64_t{r.base} + r.range > 0xFFFFFFFFull)
                return plain_error(fmt::format("--private-users=yes: the owner of {} is {}, and a range of {} from "
                                               "there passes the largest ID 4294967294",
                                               directory, r.base, r.range));
            if (auto host = host_ids_in(r.base, r.range); !host.empty())
                return plain_error(fmt::format("--private-users=yes: the owner of {} is {}, and the range {}-{} "
                                               "holds {}; give --private-users=BASE:RANGE to use it anyway",
                                               directory, r.base, r.base, uint64_t{r.base} + r.range - 1, host));
        }
        if (auto s = lock_range(r); !s.ok()) return s.error().code == EWOULDBLOCK ? in_use() : s.error();
        return r;
    }
    // An image chowned earlier records its range as the owner of its root directory: reuse it when it is
    // one pick would have chosen (an image made elsewhere may be owned by anyone).
    uid_t owner = root_owner(directory);
    if (owner >= kPickFirst && owner <= kPickLast && owner % kRange == 0 && host_ids_in(owner, kRange).empty()) {
        r.base = owner;
        if (lock_range(r).ok()) return r;
    }
    for (uid_t base = kPickFirst; base <= kPickLast; base += kRange) {
        r.base = base;
        if (!lock_range(r).ok()) continue;
        if (host_ids_in(base, kRange).empty()) return r;
        cleanup_user_range(r);
    }
    return plain_error(fmt::format("No free UID range left for machine \"{}\"", machine), EBUSY);
}

void cleanup_user_range(UserRange& r) {
    for (auto& [block, lock] : r.locks)
        if (lock) ::unlink(block_lock_path(block).c_str());
    r.locks.clear();
}

Status configure_id_maps(pid_t pid, const UserRange& r) {
    std::string map = fmt::format("0 {} {}\n", r.base, r.range);
    BERTH_TRY(write_file(fmt::format("/proc/{}/uid_map", pid), map));
    BERTH_TRY(write_file(fmt::format("/proc/{}/gid_map", pid), map));
    return {};
}

Status configure_cgroup_delegation(const Cgroup& cg, uid_t root) {
    for (const char* f : {"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control"}) {
        std::string p = cg.path() + f;
        if (::chown(p.c_str(), root, root) < 0 && errno != ENOENT)
            return errno_error(fmt::format("Failed to hand cgroup {} to the machine's root", p));
    }
    return {};
}

bool image_chowned_to(const std::string& directory, const UserRange& r) {
    return r.base != 0 && root_owner(directory) == r.base;
}

Status chown_image(const std::string& directory, const UserRange& r) {
    if (image_chowned_to(directory, r)) return {};  // done before, for this very range
    UserRange view;
    view.base = r.base;
    view.range = r.range;
    g_chown_range = &view;
    // Depth first: the root directory, whose owner records the chown, changes last.
    int rc = ::nftw(directory.c_str(), shift_one, 64, FTW_PHYS | FTW_MOUNT | FTW_DEPTH);
    g_chown_range = nullptr;
    if (rc != 0) return sys_error(rc > 0 ? rc : errno, fmt::format("Failed to chown image {}", directory));
    return {};
}

namespace {

// Effective again what is permitted: a change of the effective or filesystem uid away from 0 cleared it.
Status raise_permitted_capabilities() {
    cap_t caps = cap_get_proc();
    if (!caps) return errno_error("Failed to read capabilities");
    for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
        cap_flag_value_t permitted = CAP_CLEAR;
        if (cap_get_flag(caps, c, CAP_PERMITTED, &permitted) == 0 && permitted == CAP_SET)
            cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
    }
    int r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0) return errno_error("Failed to raise capabilities");
    return {};
}

}  // namespace

Result<FsIds> FsIds::assume(uid_t uid) {
    FsIds f;
    ::syscall(SYS_setfsgid, uid);
    ::syscall(SYS_setfsuid, uid);
    f.active_ = true;
    if (static_cast<uid_t>(::syscall(SYS_setfsuid, -1)) != uid)
        return plain_error(fmt::format("Failed to take {} as the filesystem user", uid), EPERM);
    BERTH_TRY(raise_permitted_capabilities());
    return f;
}

FsIds::~FsIds() {
    if (!active_) return;
    // Back to fsuid 0 makes the filesystem capabilities effective again.
    ::syscall(SYS_setfsuid, 0);
    ::syscall(SYS_setfsgid, 0);
}

// The raw system calls change this thread's credentials only (glibc's wrappers change every thread's).
Result<NamespaceOwner> NamespaceOwner::assume(uid_t base, uint64_t tasks) {
    NamespaceOwner o;
    if (base == 0) return o;
    if (::getrlimit(RLIMIT_NPROC, &o.nproc_) < 0) return errno_error("Failed to read RLIMIT_NPROC");
    rlimit ceiling = o.nproc_;
    ceiling.rlim_cur = std::min<uint64_t>(tasks, o.nproc_.rlim_max);
    if (::setrlimit(RLIMIT_NPROC, &ceiling) < 0) return errno_error("Failed to set RLIMIT_NPROC");
    o.active_ = true;  // from here on the destructor restores
    if (::syscall(SYS_setresgid, -1, base, -1) < 0)
        return errno_error(fmt::format("Failed to take group {} as the owner of the user namespace", base));
    if (::syscall(SYS_setresuid, base, base, -1) < 0)
        return errno_error(fmt::format("Failed to take user {} as the owner of the user namespace", base));
    // Leaving euid 0 cleared the effective set (the permitted set stays: the saved uid is 0).
    BERTH_TRY(raise_permitted_capabilities());
    return o;
}

NamespaceOwner::~NamespaceOwner() {
    if (!active_) return;
    // Back to euid 0 copies the permitted set to the effective set again.
    (void)::syscall(SYS_setresuid, 0, 0, -1);
    (void)::syscall(SYS_setresgid, -1, 0, -1);
    (void)::setrlimit(RLIMIT_NPROC, &nproc_);
}

void NamespaceOwner::forget() {
    if (!active_) return;
    active_ = false;
    (void)::setrlimit(RLIMIT_NPROC, &nproc_);
}

Status become_userns_root_in_child() {
    if (::setgroups(0, nullptr) < 0) return errno_error("Failed to drop supplementary groups in the user namespace");
    if (::setresgid(0, 0, 0) < 0) return errno_error("Failed to become group 0 in the user namespace");
    if (::setresuid(0, 0, 0) < 0) return errno_error("Failed to become root in the user namespace");
    return {};
}

}  // namespace berth::nspawn
