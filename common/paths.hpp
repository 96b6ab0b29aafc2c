// The host paths berth owns, spelled once: runtime state under /run/berth, configuration under /etc/berth.
// (The machines' cgroups: common/cgroup.hpp, machine_cgroup.)
#pragma once

#include <string>

namespace berth::paths {

// Locks of machine names, images, UID ranges, links and zones (flock files; nspawn's lock.hpp).
inline constexpr const char* kLocks = "/run/berth/locks";
// The lock a machine's supervisor holds for the machine's life: a machine is running while it is held.
inline std::string machine_lock(const std::string& name) { return std::string(kLocks) + "/machine-" + name; }
// Where a machine's root is staged before pivot_root, one directory per machine.
inline constexpr const char* kStaging = "/run/berth/root";
// One file per machine (named after it) listing, NUL-separated, the directories made on the host for its
// writable overlays; written before each is made, so what a killed supervisor left is found again.
inline constexpr const char* kOverlayRecords = "/run/berth/overlays";
// One root-only file per running machine (named after it): the system call filter nspawn loaded into the
// machine's PID 1, exactly as loaded (common/seccomp_record.hpp), so that machined can confine what it runs
// inside the machine the same way. Written before the payload runs, removed when the boot ends.
inline constexpr const char* kSeccompRecords = "/run/berth/seccomp";
inline std::string seccomp_record(const std::string& name) { return std::string(kSeccompRecords) + "/" + name; }
// nspawn's per-machine settings files: trusted, from the administrator (/etc) or at runtime (/run).
inline constexpr const char* kSettingsDirs[] = {"/etc/berth/nspawn", "/run/berth/nspawn"};
// machined's configuration (its pool, access, timeouts), which nspawn reads for the pool too.
inline constexpr const char* kMachinedConfig = "/etc/berth/machined.toml";
// The pool of images when machined.toml names none.
inline constexpr const char* kDefaultPool = "/var/lib/machines";
// The keyrings systemd-importd checks pulled images' signatures with, in its order.
inline constexpr const char* kImportKeyrings[] = {"/etc/systemd/import-pubring.gpg", "/usr/lib/systemd/import-pubring.gpg"};
// systemd's search path for machine images, in its order (machined looks in its pool first).
inline constexpr const char* kImageSearchPath[] = {"/etc/machines",      "/run/machines",
                                                   "/var/lib/machines",  "/var/lib/container",
                                                   "/usr/local/lib/machines", "/usr/lib/machines"};
// Where systemd's tools (systemctl -M, systemd-run -M, ...) read a machine's leader and class, one file
// per machine, as systemd-machined writes them.
inline constexpr const char* kSystemdMachines = "/run/systemd/machines";
// The machines `machinectl enable` starts at boot.
inline constexpr const char* kEnabled = "/etc/berth/enabled";

}  // namespace berth::paths
