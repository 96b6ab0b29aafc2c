// What the transfers share (defined in transfer.cpp): how an import lands in the pool (a hidden temporary
// made first, filled by the importer, and renamed into place only when complete; the temporary goes
// whatever failed), and what the libarchive users (tar_import.cpp, tar_export.cpp) set up alike.
// Internal to images/.
#pragma once

#include <clocale>
#include <cstdint>
#include <locale.h>
#include <string>
#include <utility>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "images/operations.hpp"
#include "images/transfer.hpp"

struct archive;

namespace berth::images::detail {

class Landing {
public:
    enum class Kind { Tree, Raw };

    // Checks the name (EINVAL), takes its lock (EBUSY while another operation makes that name), refuses a
    // name an image has already unless `force` (EEXIST), and makes the temporary: for a tree a btrfs
    // subvolume where the pool is on btrfs (else a directory, mode 0755), for a raw image an empty file,
    // mode 0644. `make_directory` false: a tree's temporary is left for the importer to create (a copy
    // that creates its top itself), except on btrfs, where it is a subvolume.
    static Result<Landing> begin(const std::string& pool, const std::string& name, const ImportOptions& options,
                                 Kind kind, bool make_directory = true);

    Landing(Landing&& o) noexcept
        : pool_(std::move(o.pool_)), name_(std::move(o.name_)), entry_(std::move(o.entry_)), tmp_(std::move(o.tmp_)),
          pool_fd_(std::move(o.pool_fd_)), fd_(std::move(o.fd_)), name_lock_(std::move(o.name_lock_)), kind_(o.kind_),
          subvolume_(o.subvolume_), pending_(std::exchange(o.pending_, false)) {}
    Landing& operator=(Landing&&) = delete;
    ~Landing();  // the temporary goes, unless finish() put it in place

    int pool_fd() const { return pool_fd_.get(); }
    const std::string& temporary() const { return tmp_; }  // its name in the pool
    std::string shown() const { return pool_ + "/" + tmp_; }
    const std::string& name() const { return name_; }
    bool subvolume() const { return subvolume_; }
    // The temporary, opened: a directory (O_RDONLY) or the raw file (O_RDWR); -1 before it exists.
    int fd() const { return fd_.get(); }
    Status open_temporary();

    // With `force`, the image of that name is removed now (remove_image(), with its settings files, under
    // its exclusive lock: EBUSY when a machine uses it); then the temporary becomes the image
    // (renameat2(RENAME_NOREPLACE): EEXIST if the name was taken meanwhile) and is made read-only when asked
    // (an immutable directory cannot be renamed: set after the rename, and tried before it).
    Status finish(const ImportOptions& options, const SettingsDirs& settings);

private:
    Landing() = default;

    std::string pool_, name_, entry_, tmp_;
    UniqueFd pool_fd_, fd_;
    ImageLock name_lock_;
    Kind kind_ = Kind::Tree;
    bool subvolume_ = false, pending_ = false;
};

// Removes `entry` of the pool `pool_fd` (a hidden temporary or leftover): a btrfs subvolume destroyed
// (its read-only flag cleared first), a tree removed without following links or leaving the pool's
// mount, immutable and append-only attributes lifted where they are in the way.
Status remove_hidden(int pool_fd, const std::string& entry, const std::string& shown);

// The compressions an import reads, detected from the content: gzip, xz (and lzma), zstd, bzip2, lz4, or
// none. Not libarchive's "all", which adds formats whose decoders are external programs (lrzip, lzop,
// grzip) that an import would run on untrusted data.
void support_compressions(struct archive* a);

// Path names in pax archives are UTF-8: libarchive converts them from and to the charset of the locale in
// use, which is ASCII in a daemon that never called setlocale(): an export would warn of every name that
// is not ASCII (and archive it as bytes), an import would refuse it ("Invalid empty pathname"). While this
// exists, the calling thread's LC_CTYPE is C.UTF-8 (glibc's, which Debian always installs; where it is
// missing, nothing changes).
class Utf8Names {
public:
    Utf8Names() : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
        if (utf8_) old_ = ::uselocale(utf8_);
    }
    Utf8Names(const Utf8Names&) = delete;
    Utf8Names& operator=(const Utf8Names&) = delete;
    ~Utf8Names() {
        if (!utf8_) return;
        ::uselocale(old_);
        ::freelocale(utf8_);
    }

private:
    locale_t utf8_, old_ = LC_GLOBAL_LOCALE;
};

// Reads and writes on `fd` wait: libarchive takes EAGAIN for an error, and a descriptor handed over by a
// client (a pipe, a socket) may be non-blocking.
void make_blocking(int fd);

// A percentage of `done` in `total` (0 when unknown), at most 99: 100 is for when the transfer is complete.
unsigned percent_of(uint64_t done, uint64_t total);

}  // namespace berth::images::detail
