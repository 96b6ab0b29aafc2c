// The transfer verbs: import-tar, import-raw, import-fs, export-tar, export-raw, pull-tar, pull-raw,
// list-transfers, cancel-transfer; org.freedesktop.import1, as systemd 252's machinectl drives it: the
// file is opened here and its descriptor passed, the transfer's log lines shown as they come, the verb
// ends with the transfer.
// On a terminal (and without -q) a progress bar on stderr: percentage, rate (when the size is known here)
// and the time left.
#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "common/escape.hpp"
#include "common/machine_name.hpp"
#include "common/pull_url.hpp"
#include "machinectl/bus.hpp"
#include "machinectl/journal_format.hpp"
#include "machinectl/output_table.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string base_name(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The image name a file suggests (common/pull_url.hpp strips the suffixes).
std::string name_from_tar(const std::string& file) { return strip_tar_suffix(base_name(file)); }
std::string name_from_raw(const std::string& file) { return strip_raw_suffixes(base_name(file)); }

// The compression an export's file name asks for ("" for none known), as systemd's machinectl.
std::string format_from_name(const std::string& file) {
    if (ends_with(file, ".xz")) return "xz";
    if (ends_with(file, ".gz")) return "gzip";
    if (ends_with(file, ".bz2")) return "bzip2";
    if (ends_with(file, ".zst")) return "zstd";
    return "";
}

long now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1'000'000L;
}

std::string duration_text(long seconds) {
    if (seconds >= 3600) return fmt::format("{}h{:02}m", seconds / 3600, seconds % 3600 / 60);
    if (seconds >= 60) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
    return fmt::format("{}s", seconds);
}

// One line on stderr, redrawn in place: "[#####.....]  45%  12.3M/s  7s left".
class ProgressBar {
public:
    ProgressBar(bool shown, uint64_t total) : shown_(shown), total_(total), start_(now_ms()) {}
    void update(double fraction) {
        if (!shown_) return;
        fraction = std::clamp(fraction, 0.0, 1.0);
        constexpr int kWidth = 30;
        int filled = static_cast<int>(fraction * kWidth);
        std::string line = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
        line += fmt::format(" {:3}%", static_cast<int>(fraction * 100));
        double elapsed = static_cast<double>(now_ms() - start_) / 1000.0;
        if (total_ > 0 && elapsed > 0.5)
            line += fmt::format("  {}/s", format_bytes(static_cast<uint64_t>(fraction * static_cast<double>(total_) / elapsed)));
        if (fraction > 0.01 && fraction < 1 && elapsed > 1)
            line += fmt::format("  {} left", duration_text(static_cast<long>(elapsed * (1 - fraction) / fraction)));
        fmt::print(stderr, "\r\033[K{}", line);
        drawn_ = true;
    }
    void clear() {
        if (drawn_) fmt::print(stderr, "\r\033[K");
        drawn_ = false;
    }
    ~ProgressBar() { clear(); }

private:
    bool shown_;
    uint64_t total_;
    long start_;
    bool drawn_ = false;
};

// Runs the transfer METHOD: log lines to stderr (those below LOG_INFO's importance hidden by -q), the
// bar while it runs. Its end decides the verb's.
template <typename... Args>
Status run_transfer(Bus& bus, const Options& o, const char* method, const std::string& what, uint64_t total,
                    const Args&... args) {
    ProgressBar bar(!o.quiet && ::isatty(STDERR_FILENO), total);
    TransferCallbacks cb;
    cb.log = [&](unsigned priority, const std::string& line) {
        if (o.quiet && priority >= LOG_INFO) return;
        bar.clear();
        fmt::print(stderr, "{}\n", line);
    };
    cb.progress = [&](double p) { bar.update(p); };
    uint32_t id = 0;
    auto started = [&](uint32_t transfer) {
        id = transfer;
        if (!o.quiet) fmt::print(stderr, "Enqueued transfer job {}. Press C-c to continue it in the background.\n", id);
    };
    auto result = bus.transfer(method, cb, started, args...);
    bar.clear();
    if (!result.ok()) {
        if (result.error().code == EINTR) {
            fmt::print(stderr, "Continuing the transfer in the background. Use \"machinectl cancel-transfer {}\" to "
                               "abort it.\n", id);
            return plain_error(fmt::format("{} goes on in the background (transfer {})", what, id), EINTR);
        }
        return plain_error(fmt::format("Could not {}: {}", what, result.error().message), result.error().code);
    }
    if (*result == "done") return {};
    return plain_error(fmt::format("Could not {}: the transfer {}", what, *result == "canceled" ? "was canceled" : "failed"));
}

Status check_local(const std::string& name) {
    if (!machine_name_is_valid(name))
        return plain_error(fmt::format("Local name {} is not a suitable machine name.", quote_arg(name)));
    return {};
}

// import-tar, import-raw: FILE ("-" or none: stdin) [NAME].
Status verb_import_file(Bus& bus, const Options& o, bool tar) {
    std::string file = o.args.empty() ? "-" : o.args[0];
    bool stdin_ = file == "-" || file.empty();
    std::string name = o.args.size() > 1 ? o.args[1] : stdin_ ? "" : tar ? name_from_tar(file) : name_from_raw(file);
    if (name.empty()) return plain_error("Need either path or local name.");
    BERTH_TRY(check_local(name));
    UniqueFd opened;
    if (!stdin_) {
        opened.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!opened) return errno_error(fmt::format("Failed to open {}", quote_arg(file)));
    }
    int fd = stdin_ ? STDIN_FILENO : opened.get();
    struct stat st {};
    uint64_t total = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    return run_transfer(bus, o, tar ? "ImportTar" : "ImportRaw",
                        fmt::format("import {} as image {}", stdin_ ? "standard input" : quote_arg(file), quote_arg(name)),
                        total, sdbus::UnixFd(fd), name, o.force, o.read_only);
}

}  // namespace

Status verb_import_tar(Bus& bus, const Options& o) { return verb_import_file(bus, o, true); }
Status verb_import_raw(Bus& bus, const Options& o) { return verb_import_file(bus, o, false); }

Status verb_import_fs(Bus& bus, const Options& o) {
    const std::string& dir = o.args[0];
    std::string name = o.args.size() > 1 ? o.args[1] : base_name(dir);
    BERTH_TRY(check_local(name));
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open directory {}", quote_arg(dir)));
    return run_transfer(bus, o, "ImportFileSystem", fmt::format("import {} as image {}", quote_arg(dir), quote_arg(name)),
                        0, sdbus::UnixFd(fd.get()), name, o.force, o.read_only);
}

// export-tar, export-raw: NAME [FILE] (none or "-": stdout, never a terminal).
Status verb_export(Bus& bus, const Options& o) {
    bool tar = o.verb == "export-tar";
    const std::string& name = o.args[0];
    if (!machine_name_is_valid(name)) return plain_error(fmt::format("The image name {} is not valid.", quote_arg(name)));
    std::string file = o.args.size() > 1 ? o.args[1] : "-";
    std::string format = o.format.empty() ? format_from_name(file) : o.format;
    UniqueFd opened;
    int fd = STDOUT_FILENO;
    if (file != "-" && !file.empty()) {
        opened.reset(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666));
        if (!opened) return errno_error(fmt::format("Failed to open {}", quote_arg(file)));
        fd = opened.get();
    } else if (::isatty(STDOUT_FILENO)) {
        return plain_error("Refusing to write the archive to a terminal: name a file, or redirect standard output.");
    }
    return run_transfer(bus, o, tar ? "ExportTar" : "ExportRaw",
                        fmt::format("export image {} to {}", quote_arg(name), file == "-" ? "standard output" : quote_arg(file)),
                        0, name, sdbus::UnixFd(fd), format);
}

// pull-tar, pull-raw: URL [NAME] (none: from the URL; "-" or "": machined's choice, the same).
Status verb_pull(Bus& bus, const Options& o) {
    bool tar = o.verb == "pull-tar";
    const std::string& url = o.args[0];
    if (!pull_url_valid(url, true)) return plain_error(fmt::format("URL '{}' is not valid.", escape_untrusted(url)));
    std::string name;
    if (o.args.size() > 1) {
        // As systemd's machinectl: the suffixes go from a name given too ("debian.tar.xz" is "debian").
        name = o.args[1] == "-" ? "" : tar ? strip_tar_suffix(o.args[1]) : strip_raw_suffixes(o.args[1]);
    } else {
        // The URL's last path component without its suffixes, as machined derives it.
        name = pull_local_name(url, !tar);
        if (name.empty())
            return plain_error(fmt::format("URL '{}' names no file: give the image a name.", escape_untrusted(url)));
    }
    if (!name.empty()) BERTH_TRY(check_local(name));
    return run_transfer(bus, o, tar ? "PullTar" : "PullRaw",
                        fmt::format("pull {} as image {}", quote_arg(url), name.empty() ? "named by the URL" : quote_arg(name)),
                        0, url, name, o.verify, o.force);
}

Status verb_list_transfers(Bus& bus, const Options& o) {
    BERTH_ASSIGN_CTX(auto list, bus.list_transfers(), "Could not get transfers");
    std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.id < b.id; });
    Table t({"ID", "PERCENT", "TYPE", "LOCAL", "REMOTE"});
    for (auto& tr : list)
        t.add_row({std::to_string(tr.id), fmt::format("{}%", static_cast<unsigned>(tr.progress * 100)), tr.type, tr.local,
                   tr.remote});
    t.align_right(0);
    t.align_right(1);
    t.blank_when_empty(4);  // imports have no remote: systemd's machinectl leaves it blank, padded
    t.pad_last_column();
    std::string out = list.empty() && o.legend ? "" : t.render(o.legend, 0);
    if (o.legend) out += list.empty() ? "No transfers.\n" : fmt::format("\n{} transfers listed.\n", list.size());
    fmt::print("{}", out);
    return {};
}

Status verb_cancel_transfer(Bus& bus, const Options& o) {
    for (auto& arg : o.args) {
        char* end = nullptr;
        errno = 0;
        unsigned long id = std::strtoul(arg.c_str(), &end, 10);
        if (arg.empty() || *end || errno || id == 0 || id > UINT32_MAX)
            return plain_error(fmt::format("Failed to parse transfer id {}", quote_arg(arg)));
        BERTH_TRY_CTX(bus.cancel_transfer(static_cast<uint32_t>(id)), "Could not cancel transfer {}", id);
    }
    return {};
}

}  // namespace berth::machinectl
