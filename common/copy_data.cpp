#include "common/copy_data.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace berth {

namespace {

// [from, to) of `in` to the same offsets of `out`: copy_file_range (which reflinks where the filesystem
// can), else pread and pwrite. Returns where it ended: before `to` when the file ended first.
Result<off_t> copy_range(int in, int out, off_t from, off_t to, bool& range, const std::string& src,
                         const std::string& dst) {
    char buf[65536];
    off_t pos = from;
    while (pos < to) {
        size_t want = static_cast<size_t>(std::min<off_t>(to - pos, off_t{1} << 30));
        if (range) {
            loff_t in_off = pos, out_off = pos;
            ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, want, 0);
            if (n > 0) {
                pos += n;
                continue;
            }
            if (n == 0) return pos;
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
                return errno_error(fmt::format("Failed to copy {} to {}", src, dst));
            range = false;
        }
        ssize_t n = ::pread(in, buf, std::min(sizeof buf, want), pos);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(fmt::format("Failed to read {}", src));
        if (n == 0) return pos;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::pwrite(out, buf + done, static_cast<size_t>(n - done), pos + done);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return errno_error(fmt::format("Failed to write {}", dst));
            if (w == 0) return sys_error(EIO, fmt::format("Failed to write {}: nothing written", dst));
            done += w;
        }
        pos += n;
    }
    return pos;
}

// Everything `in` holds, from where it is, as read (a /proc file's size says nothing): copy_file_range,
// else read and write.
Status copy_stream(int in, int out, const std::string& src, const std::string& dst) {
    bool range = true;
    char buf[65536];
    for (;;) {
        if (range) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
            if (n > 0) continue;
            if (n == 0) return {};
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
                return errno_error(fmt::format("Failed to copy {} to {}", src, dst));
            range = false;
        }
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(fmt::format("Failed to read {}", src));
        if (n == 0) return {};
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return errno_error(fmt::format("Failed to write {}", dst));
            if (w == 0) return sys_error(EIO, fmt::format("Failed to write {}: nothing written", dst));
            done += w;
        }
    }
}

}  // namespace

// The whole file: shared extents where the filesystem can (FICLONE: btrfs, XFS), else copied; with
// `keep_holes` its data segments alone (SEEK_DATA/SEEK_HOLE), the size set last (a hole at the end), and
// a file that shrank meanwhile copied as far as it went.
Status copy_bytes(int in, int out, bool keep_holes, const std::string& src, const std::string& dst) {
    if (::ioctl(out, FICLONE, in) == 0) return {};
    // A clone that failed halfway may have shared some ranges already: start from nothing.
    if (::ftruncate(out, 0) < 0) return errno_error(fmt::format("Failed to truncate {}", dst));
    struct stat st {};
    if (::fstat(in, &st) < 0) return errno_error(fmt::format("Failed to look at {}", src));
    if (!keep_holes || st.st_size == 0) return copy_stream(in, out, src, dst);
    bool range = true;
    off_t pos = 0, size = st.st_size;
    while (pos < size) {
        off_t data = ::lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // a hole to the end
        off_t hole = data < 0 ? -1 : ::lseek(in, data, SEEK_HOLE);
        // No SEEK_DATA here, or answers that make no sense (a FUSE server says what it likes): the rest as
        // it is, to its end.
        if (data < pos || hole <= data) {
            if (::lseek(in, pos, SEEK_SET) < 0 || ::lseek(out, pos, SEEK_SET) < 0)
                return errno_error(fmt::format("Failed to copy {} to {}", src, dst));
            return copy_stream(in, out, src, dst);
        }
        hole = std::min(hole, size);
        BERTH_ASSIGN(off_t reached, copy_range(in, out, data, hole, range, src, dst));
        if (reached < hole) {  // it shrank
            size = reached;
            break;
        }
        pos = hole;
    }
    if (::ftruncate(out, size) < 0) return errno_error(fmt::format("Failed to set the size of {}", dst));
    return {};
}

}  // namespace berth
