// Imports and exports of images (org.freedesktop.import1's transfers, as systemd 252's systemd-import and
// systemd-export do them): a tar archive, a raw disk image or a directory tree into the pool, an image out
// to a tar archive or a raw file. Each runs in a process of its own (machined forks one per transfer) and
// reports its progress and what it has to say through a TransferReport.
//
// An import is made under a hidden temporary name in the pool (".#import.HEX", no image name: never
// listed, never an image) and renamed into place only when complete; on failure it is removed, and what a
// killed import leaves is removed by remove_leftovers() (machined, at start).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "images/image.hpp"
#include "images/operations.hpp"

namespace berth::images {

// What a transfer says while it runs, as lines written to a file descriptor (a pipe to machined):
//   "P PERCENT\n"         progress, 0..100 (written only when it changed)
//   "L PRIORITY TEXT\n"   a log message (syslog priority 0..7; TEXT one line, at most 1000 bytes)
// Each line is written with one write(2) (atomic on a pipe), so processes sharing the descriptor (an
// extractor forked by the transfer) never mix their lines. fd -1: reports nothing.
class TransferReport {
public:
    explicit TransferReport(int fd = -1) : fd_(fd) {}
    void progress(unsigned percent);
    void log(int priority, const std::string& text);
    void info(const std::string& text) { log(6, text); }
    void warning(const std::string& text) { log(4, text); }
    int fd() const { return fd_; }

private:
    int fd_;
    int last_percent_ = -1;
};

struct ImportOptions {
    // An image of that name is replaced: removed (as RemoveImage does, its settings files with it) once the
    // new one is complete, just before it takes the name; refused (EBUSY) when a machine uses it.
    bool force = false;
    bool read_only = false;  // the new image is made read-only (operations.hpp, mark_read_only)
    // The temporary's name in the pool (".#import." and a suffix of the caller's; a raw image's has ".raw"
    // added): the caller that killed a transfer (machined, on CancelTransfer) knows what to remove.
    // Empty: ".#import." and 16 random hex digits.
    std::string temporary;
    // Called once the temporary is complete, before anything else happens to it (with `force`, the old
    // image's removal; the rename): an error fails the import and the temporary goes. A pull checks its
    // download there (images/pull.hpp).
    std::function<Status()> before_finish;
};

// Removes the temporary `name` (".#import.*" only; a raw one's "NAME.raw" too) from `pool`: what an
// import killed midway left. Nothing there is no error.
Status remove_temporary(const std::string& pool, const std::string& name);

// Reads a tar archive from `in` (a regular file, a pipe or a socket; uncompressed, gzip, xz, zstd, bzip2,
// lz4, detected from its content) and makes it image `name` in `pool`: a btrfs subvolume where the pool
// is on btrfs, else a directory. Everything a root filesystem holds is restored: owners (numeric, never
// looked up by name), modes with setuid/setgid/sticky, hard links, symlinks, FIFOs, device nodes, xattrs,
// POSIX ACLs, file capabilities, sparse files (the holes the archive records), mtimes. The archive is
// contained: extracted in a child chrooted into the new image, without capabilities beyond those a tar
// extraction needs (the xattrs only CAP_SYS_ADMIN may set, trusted.* and security.* but file
// capabilities, are set by the calling process afterwards, beneath the image); absolute paths, ".." and
// writes through symlinks are refused with a message naming the entry. An entry larger than the pool's
// filesystem, or more than kMaxEntries entries, fail the import. Errors: EINVAL bad name, EEXIST name
// taken (without force), EBUSY the image to replace is in use, else the reason named. Forks the
// extractor: call it from a process with one thread (machined's worker).
inline constexpr unsigned long kMaxEntries = 50'000'000;
Status import_tar(int in, const std::string& pool, const std::string& name, const ImportOptions& options,
                  TransferReport& report, const SettingsDirs& settings);

// A raw disk image from `in` (compressed with gzip, xz, zstd, bzip2 or lz4, or not) into `pool`/NAME.raw,
// written sparse (blocks of zeros become holes).
Status import_raw(int in, const std::string& pool, const std::string& name, const ImportOptions& options,
                  TransferReport& report, const SettingsDirs& settings);

// The directory tree `dirfd` copied into the pool as image `name` (as a clone copies: common/copy_tree.hpp,
// one filesystem; into a btrfs subvolume where the pool is on btrfs, given the top's owner, mode and times).
Status import_fs(int dirfd, const std::string& pool, const std::string& name, const ImportOptions& options,
                 TransferReport& report, const SettingsDirs& settings);

// Export formats, as systemd 252 names them: "" and "uncompressed" (no compression), "gzip", "xz",
// "bzip2", "zstd". false for anything else.
bool export_format_valid(const std::string& format);

// Writes the image (a directory or subvolume) to `out` as a tar archive (pax; entries "./PATH" in GNU
// tar's order, depth-first, by name; numeric owners, no names; xattrs, ACLs, file capabilities, sparse
// files, hard links; mtimes to the second where nothing else needs a pax header, as bsdtar writes them;
// one filesystem: a directory something else is mounted on is archived empty), compressed as `format`
// says. A btrfs subvolume is exported from a read-only snapshot taken for it (next to it, ".#export.HEX",
// destroyed after); a directory under the image's shared lock where it can be had (a warning in the
// report when a running machine writes it). The process's working directory changes meanwhile and is
// put back.
Status export_tar(const Image& image, int out, const std::string& format, TransferReport& report);

// Writes a raw image's file to `out`, compressed as `format` says (uncompressed into a regular file: its
// holes stay holes).
Status export_raw(const Image& image, int out, const std::string& format, TransferReport& report);

// Removes what interrupted imports, exports and clones left in `pool` (".#import.*", ".#export.*",
// ".#clone.*"), read-only and immutable ones too, logging each; this one-step form releases stale name
// locks first too (release_stale_name_locks). Only for the one process that owns the pool (machined, once
// it owns its bus name, before it serves).
void remove_leftovers(const std::string& pool);
// The same in two steps: the names (cheap: one directory read), looked for before machined serves any
// call, so that no temporary of a new operation is among them; then the removal (slow: whole trees), in
// a worker, while machined serves.
std::vector<std::string> find_leftovers(const std::string& pool);
void remove_leftovers(const std::string& pool, const std::vector<std::string>& names);
// The name locks (/run/berth/locks/image-name-*) killed workers left that nobody holds: quick, done by
// machined before it serves (a sweep while it serves would hold a name for a moment, and an operation on
// that name would fail as busy).
void release_stale_name_locks();

}  // namespace berth::images
