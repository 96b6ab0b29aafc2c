#include "machined/transfers.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <optional>

#include <spdlog/spdlog.h>

#include "common/escape.hpp"
#include "common/machine_name.hpp"
#include "common/pool.hpp"
#include "common/paths.hpp"
#include "images/pull.hpp"
#include "images/transfer.hpp"
#include "machined/daemon.hpp"
#include "machined/forked_call.hpp"

namespace berth::machined {

namespace {

// As systemd-importd: at most this many at once (E2BIG, as there).
constexpr size_t kMaxTransfers = 64;
constexpr size_t kMaxLine = 8192;
// A killed import's extractor may finish the system call it is in: its temporary is removed again until
// this long has passed (what is left then, machined's next start removes).
constexpr int kCleanupTries = 50;
constexpr useconds_t kCleanupPauseUs = 100'000;


std::string object_path(uint32_t id) { return fmt::format("{}/_{}", kTransferPrefix, id); }

images::SettingsDirs settings_dirs() { return {{std::begin(paths::kSettingsDirs), std::end(paths::kSettingsDirs)}}; }

// A hidden name no other import picks: the transfer's id and random digits.
std::string temporary_for(uint32_t id) {
    uint32_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(::getpid());
    return fmt::format(".#import.{}-{:08x}", id, r);
}

}  // namespace

struct Transfers::Transfer {
    Transfers* owner = nullptr;
    uint32_t id = 0;
    std::string type, remote, local, verify, path;
    std::string temporary;  // an import's, in the pool; "" for an export
    std::optional<images::Image> image;  // an export's
    unsigned percent = 0;
    pid_t pid = 0;
    int cancels = 0;
    UniqueFd report;     // read end of the worker's report pipe
    std::string buffer;  // what it wrote after its last full line
};

// What the vtables' free functions reach of the class.
struct TransferAccess {
    using Transfer = Transfers::Transfer;
    using Work = std::function<Status(images::TransferReport&)>;

    static Daemon& daemon(Transfers& t) { return t.daemon_; }

    // Starts a transfer running `work` in a worker; answers `call` with (id, path).
    // `fd`: the descriptor the work reads or writes, kept open in the worker (every other is closed there).
    static int start(Transfers& t, sd_bus_message* call, std::string type, std::string local, int fd,
                     std::function<Work(const std::string& temporary)> make_work, bool import,
                     std::optional<images::Image> image = std::nullopt, std::string remote = {},
                     std::string verify = {}) {
        if (t.transfers_.size() >= kMaxTransfers)
            throw_bus_error("System.Error.E2BIG", fmt::format("Too many transfers at once (at most {})", kMaxTransfers));
        auto tr = std::make_unique<Transfer>();
        tr->owner = &t;
        tr->id = t.last_id_ + 1;
        tr->type = std::move(type);
        tr->local = std::move(local);
        tr->path = object_path(tr->id);
        if (import) tr->temporary = temporary_for(tr->id);
        tr->image = std::move(image);
        tr->remote = std::move(remote);
        tr->verify = std::move(verify);
        Work work = make_work(tr->temporary);

        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) throw_bus_error(kFailed, fmt::format("Failed to create a pipe: {}", std::strerror(errno)));
        tr->report.reset(p[0]);
        UniqueFd write_end(p[1]);
        (void)::fcntl(p[0], F_SETFL, O_NONBLOCK);
        int report_fd = write_end.get();
        Transfer* raw = tr.get();
        Transfers* self = &t;
        uint32_t id = tr->id;
        auto started = run_forked(
            t.daemon_.children(),
            [work = std::move(work), report_fd]() -> Result<std::string> {
                images::TransferReport report(report_fd);
                BERTH_TRY(work(report));
                return std::string();
            },
            [self, id](const Result<std::string>& outcome) { finish(*self, id, outcome); }, {fd, report_fd});
        if (!started.ok()) throw_bus_error(kFailed, fmt::format("Failed to start the transfer: {}", started.error().message));
        raw->pid = *started;
        t.last_id_ = id;
        t.transfers_.emplace(id, std::move(tr));
        spdlog::info("Transfer {} started: {} \"{}\"", id, raw->type, raw->local);
        emit_signal(t.bus_, kImportPath, kImportManagerInterface, "TransferNew", "uo", id, raw->path.c_str());
        return sd_bus_reply_method_return(call, "uo", id, raw->path.c_str());
    }

    // Every full line the worker wrote: "P PERCENT" or "L PRIORITY TEXT" (images/transfer.hpp). True at
    // the end of the pipe (the worker and whatever it forked are gone).
    static bool read_report(Transfers& t, Transfer& tr, bool flush) {
        char buf[4096];
        bool eof = false;
        while (true) {
            ssize_t n = ::read(tr.report.get(), buf, sizeof buf);
            if (n <= 0) {
                eof = n == 0;
                break;
            }
            tr.buffer.append(buf, static_cast<size_t>(n));
            if (tr.buffer.size() > (1u << 20)) break;  // a worker gone mad; the rest waits for the next round
        }
        size_t at = 0, end;
        while ((end = tr.buffer.find('\n', at)) != std::string::npos) {
            line(t, tr, tr.buffer.substr(at, end - at));
            at = end + 1;
        }
        tr.buffer.erase(0, at);
        // A line is at most some kB (images/transfer.hpp): one that never ends is dropped, not kept growing.
        if (tr.buffer.size() > kMaxLine) tr.buffer.clear();
        if ((flush || eof) && !tr.buffer.empty()) {
            line(t, tr, tr.buffer);
            tr.buffer.clear();
        }
        return eof;
    }

    static void line(Transfers& t, Transfer& tr, const std::string& text) {
        if (text.size() > 2 && text[0] == 'P' && text[1] == ' ') {
            unsigned percent = static_cast<unsigned>(std::strtoul(text.c_str() + 2, nullptr, 10));
            tr.percent = std::min(percent, 100u);
        } else if (text.size() > 4 && text[0] == 'L' && text[1] == ' ') {
            char* rest = nullptr;
            unsigned priority = static_cast<unsigned>(std::strtoul(text.c_str() + 2, &rest, 10));
            std::string message = rest && *rest == ' ' ? std::string(rest + 1) : std::string(rest ? rest : "");
            log(t, tr, std::min(priority, 7u), message);
        }
    }

    static void log(Transfers& t, Transfer& tr, unsigned priority, const std::string& message) {
        if (priority <= LOG_ERR) spdlog::error("(transfer {}) {}", tr.id, message);
        else if (priority == LOG_WARNING) spdlog::warn("(transfer {}) {}", tr.id, message);
        else spdlog::info("(transfer {}) {}", tr.id, message);
        // sd-bus sends no invalid UTF-8 (entry names in messages are the archive's bytes).
        std::string text = to_valid_utf8(message);
        int r = sd_bus_emit_signal(t.bus_, tr.path.c_str(), kTransferInterface, "LogMessage", "us", priority, text.c_str());
        if (r < 0) spdlog::debug("Could not send LogMessage of transfer {}: {}", tr.id, std::strerror(-r));
    }

    // The worker has ended (reaped): its last lines, its error, the signal, and the transfer is gone.
    static void finish(Transfers& t, uint32_t id, const Result<std::string>& outcome) {
        auto it = t.transfers_.find(id);
        if (it == t.transfers_.end()) return;
        Transfer& tr = *it->second;
        read_report(t, tr, true);
        const char* result = outcome.ok() ? "done" : tr.cancels > 0 ? "canceled" : "failed";
        if (!outcome.ok() && tr.cancels == 0) log(t, tr, LOG_ERR, outcome.error().message);
        if (!outcome.ok()) clean_up(t, tr);
        spdlog::info("Transfer {} ({} \"{}\") {}", tr.id, tr.type, tr.local, result);
        int r = sd_bus_emit_signal(t.bus_, kImportPath, kImportManagerInterface, "TransferRemoved", "uos", tr.id,
                                   tr.path.c_str(), result);
        if (r < 0) spdlog::warn("Could not send TransferRemoved of transfer {}: {}", tr.id, std::strerror(-r));
        t.transfers_.erase(it);
    }

    // What a killed transfer left, removed by a worker of its own (a tree may be large): an import's
    // temporary, and the lock files it held (the name's; an export's, the image's), which a holder that
    // was killed could not remove. A lock someone holds again meanwhile is theirs and stays.
    static void clean_up(Transfers& t, const Transfer& tr) {
        std::string pool = t.daemon_.config().pool, temporary = tr.temporary, local = tr.local;
        std::optional<images::Image> image = tr.image;
        auto started = run_forked(
            t.daemon_.children(),
            [pool, temporary, local, image]() -> Result<std::string> {
                // The locks first: a client that sees the pool clean sees no stale lock either.
                if (!temporary.empty()) (void)images::ImageLock::take_name(local);
                if (image) (void)images::ImageLock::take(*image, true);
                Status s;
                for (int i = 0; !temporary.empty() && i < kCleanupTries; i++) {
                    if (i > 0) ::usleep(kCleanupPauseUs);
                    s = images::remove_temporary(pool, temporary);
                    if (s.ok()) break;
                }
                BERTH_TRY(s);
                return std::string();
            },
            [pool, temporary](const Result<std::string>& outcome) {
                if (!outcome.ok())
                    spdlog::warn("Could not remove {}/{}: {} (removed at machined's next start)", pool, temporary,
                                 outcome.error().message);
            });
        if (!started.ok())
            spdlog::warn("Could not clean up after transfer {}: {}", tr.id, started.error().message);
    }

    static void cancel(Transfer& tr) {
        // As systemd-importd: SIGTERM three times, then SIGKILL.
        if (tr.pid > 0) ::kill(tr.pid, tr.cancels < 3 ? SIGTERM : SIGKILL);
        tr.cancels++;
    }

    static Transfer* find(Transfers& t, uint32_t id) {
        auto it = t.transfers_.find(id);
        return it == t.transfers_.end() ? nullptr : it->second.get();
    }
    static std::vector<Transfer*> all(Transfers& t) {
        std::vector<Transfer*> out;
        for (auto& [id, tr] : t.transfers_) out.push_back(tr.get());
        return out;
    }
};

namespace {

using Transfer = Transfers::Transfer;
using A = TransferAccess;

// The descriptor of a call, checked to be something to read from or write to: a regular file or a pipe.
int stream_fd(sd_bus_message* call, int fd, const char* what) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) throw_bus_error(kInvalidArgs, fmt::format("Cannot use the {}: {}", what, std::strerror(errno)));
    // As systemd-importd: no socket, over which the worker (or a process it forks) could be sent descriptors.
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
        throw_bus_error(kInvalidArgs, fmt::format("The {} must be a regular file or a pipe", what));
    (void)call;
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) throw_bus_error(kFailed, fmt::format("Failed to duplicate the {}: {}", what, std::strerror(errno)));
    return copy;
}

void check_local(const char* local) {
    if (!machine_name_is_valid(local)) throw_bus_error(kInvalidArgs, fmt::format("Local name {} is invalid", local));
}

int method_import(sd_bus_message* call, Transfers& t) {
    Daemon& d = A::daemon(t);
    // A directory is copied as root: root's alone to ask (a user of allowed_groups could otherwise have
    // files copied that only root may read, from a directory the user may open).
    if (std::string_view(sd_bus_message_get_member(call)) == "ImportFileSystem") d.authorize_root(call);
    else d.authorize(call);
    int fd = -1, force = 0, read_only = 0;
    const char* local = nullptr;
    read(call, "hsbb", &fd, &local, &force, &read_only);
    check_local(local);
    std::string member = sd_bus_message_get_member(call);
    bool fs = member == "ImportFileSystem";
    int copy;
    if (fs) {
        struct stat st {};
        if (::fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
            throw_bus_error(kInvalidArgs, "The file descriptor must be of a directory");
        copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0) throw_bus_error(kFailed, fmt::format("Failed to duplicate the directory: {}", std::strerror(errno)));
    } else {
        copy = stream_fd(call, fd, "archive's file descriptor");
    }
    auto in = std::make_shared<UniqueFd>(copy);
    // What an archive holds (setuid binaries, device nodes) lands in the pool: root's alone, as
    // systemd-importd makes it before every import.
    if (auto secured = secure_pool(d.config().pool); !secured.ok())
        throw_bus_error(kFailed, fmt::format("Cannot import into the pool: {}", secured.error().message));
    std::string type = member == "ImportTar" ? "import-tar" : member == "ImportRaw" ? "import-raw" : "import-fs";
    std::string pool = d.config().pool, name = local;
    images::ImportOptions o;
    o.force = force;
    o.read_only = read_only;
    return A::start(t, call, type, name, in->get(), [in, pool, name, o, type](const std::string& temporary) -> A::Work {
        images::ImportOptions options = o;
        options.temporary = temporary;
        return [in, pool, name, options, type](images::TransferReport& report) -> Status {
            auto settings = settings_dirs();
            if (type == "import-tar") return images::import_tar(in->get(), pool, name, options, report, settings);
            if (type == "import-raw") return images::import_raw(in->get(), pool, name, options, report, settings);
            return images::import_fs(in->get(), pool, name, options, report, settings);
        };
    }, true);
}

int method_export(sd_bus_message* call, Transfers& t) {
    Daemon& d = A::daemon(t);
    d.authorize(call);
    int fd = -1;
    const char *local = nullptr, *format = nullptr;
    read(call, "shs", &local, &fd, &format);
    check_local(local);
    if (!images::export_format_valid(format)) throw_bus_error(kInvalidArgs, fmt::format("Unknown format specified: {}", format));
    images::Image image = d.require_image(local);
    bool tar = std::string(sd_bus_message_get_member(call)) == "ExportTar";
    if (tar && image.type != images::ImageType::Directory && image.type != images::ImageType::Subvolume)
        throw_bus_error(kNotSupported, fmt::format("Image \"{}\" is a {} image: export-tar takes directories and subvolumes, "
                                                   "export-raw raw images", local, images::type_name(image.type)));
    if (!tar && image.type != images::ImageType::Raw)
        throw_bus_error(kNotSupported, fmt::format("Image \"{}\" is a {}: export-raw takes raw images, export-tar "
                                                   "directories and subvolumes", local, images::type_name(image.type)));
    auto out = std::make_shared<UniqueFd>(stream_fd(call, fd, "output file descriptor"));
    std::string f = format;
    return A::start(t, call, tar ? "export-tar" : "export-raw", local, out->get(), [out, image, f, tar](const std::string&) -> A::Work {
        return [out, image, f, tar](images::TransferReport& report) -> Status {
            return tar ? images::export_tar(image, out->get(), f, report) : images::export_raw(image, out->get(), f, report);
        };
    }, false, image);
}

int method_pull(sd_bus_message* call, Transfers& t) {
    Daemon& d = A::daemon(t);
    const char *remote = nullptr, *local = nullptr, *verify = nullptr;
    int force = 0;
    read(call, "sssb", &remote, &local, &verify, &force);
    // file:// is read as root: root's alone to ask (else a user of allowed_groups could have a file only
    // root may read copied into the pool), as ImportFileSystem.
    if (std::string_view(remote).rfind("file:", 0) == 0) d.authorize_root(call);
    else d.authorize(call);
    if (!pull_url_valid(remote, true)) throw_bus_error(kInvalidArgs, fmt::format("URL {} is invalid", remote));
    auto mode = images::parse_pull_verify(verify);
    if (!mode) throw_bus_error(kInvalidArgs, fmt::format("Unknown verification mode {}", verify));
    bool raw = std::string_view(sd_bus_message_get_member(call)) == "PullRaw";
    // No name: the one machinectl would give (the URL's file name without its suffixes).
    std::string name = *local ? std::string(local) : pull_local_name(remote, raw);
    check_local(name.c_str());
    if (auto secured = secure_pool(d.config().pool); !secured.ok())
        throw_bus_error(kFailed, fmt::format("Cannot import into the pool: {}", secured.error().message));
    std::string pool = d.config().pool, url = remote, type = raw ? "pull-raw" : "pull-tar";
    images::PullOptions o;
    o.verify = *mode;
    o.import.force = force;
    o.keyrings = d.config().import_keyrings;
    // As systemd-importd: one pull of a URL at a time.
    for (Transfer* other : A::all(t))
        if (other->type == type && other->remote == url)
            throw_bus_error(bus::kTransferInProgress, fmt::format("Transfer for {} already in progress.", url));
    return A::start(t, call, type, name, -1, [url, pool, name, o, raw](const std::string& temporary) -> A::Work {
        images::PullOptions options = o;
        options.import.temporary = temporary;
        return [url, pool, name, options, raw](images::TransferReport& report) -> Status {
            auto settings = settings_dirs();
            return raw ? images::pull_raw(url, pool, name, options, report, settings)
                       : images::pull_tar(url, pool, name, options, report, settings);
        };
    }, true, std::nullopt, url, *verify ? verify : "signature");
}

int method_list_transfers(sd_bus_message* call, Transfers& t) {
    Reply reply(call);
    append_each(reply.get(), "(usssdo)", A::all(t), [&](Transfer* tr) {
        append(reply.get(), "(usssdo)", tr->id, tr->type.c_str(), tr->remote.c_str(), tr->local.c_str(),
               static_cast<double>(tr->percent) / 100.0, tr->path.c_str());
    });
    return reply.send();
}

int method_cancel_transfer(sd_bus_message* call, Transfers& t) {
    A::daemon(t).authorize(call);
    uint32_t id = 0;
    read(call, "u", &id);
    if (id == 0) throw_bus_error(kInvalidArgs, "Invalid transfer id");
    Transfer* tr = A::find(t, id);
    if (!tr) throw_bus_error(bus::kNoSuchTransfer, fmt::format("No transfer by id {}", id));
    A::cancel(*tr);
    return reply_empty(call);
}

int method_cancel(sd_bus_message* call, Transfer& tr) {
    A::daemon(*tr.owner).authorize(call);
    A::cancel(tr);
    return reply_empty(call);
}

int prop_id(sd_bus_message* reply, sd_bus_message*, Transfer& tr) { return sd_bus_message_append(reply, "u", tr.id); }
template <std::string Transfer::*Field>
int prop_string(sd_bus_message* reply, sd_bus_message*, Transfer& tr) {
    return sd_bus_message_append(reply, "s", (tr.*Field).c_str());
}
int prop_progress(sd_bus_message* reply, sd_bus_message*, Transfer& tr) {
    return sd_bus_message_append(reply, "d", static_cast<double>(tr.percent) / 100.0);
}

const sd_bus_vtable kImportManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("ImportTar", SD_BUS_ARGS("h", fd, "s", local_name, "b", force, "b", read_only),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_import>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ImportRaw", SD_BUS_ARGS("h", fd, "s", local_name, "b", force, "b", read_only),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_import>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ImportFileSystem", SD_BUS_ARGS("h", fd, "s", local_name, "b", force, "b", read_only),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_import>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ExportTar", SD_BUS_ARGS("s", local_name, "h", fd, "s", format),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_export>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ExportRaw", SD_BUS_ARGS("s", local_name, "h", fd, "s", format),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_export>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("PullTar", SD_BUS_ARGS("s", url, "s", local_name, "s", verify_mode, "b", force),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_pull>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("PullRaw", SD_BUS_ARGS("s", url, "s", local_name, "s", verify_mode, "b", force),
                            SD_BUS_RESULT("u", transfer_id, "o", transfer_path), method<method_pull>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListTransfers", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usssdo)", transfers),
                            method<method_list_transfers>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CancelTransfer", SD_BUS_ARGS("u", transfer_id), SD_BUS_NO_RESULT,
                            method<method_cancel_transfer>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("TransferNew", SD_BUS_ARGS("u", transfer_id, "o", transfer_path), 0),
    SD_BUS_SIGNAL_WITH_ARGS("TransferRemoved", SD_BUS_ARGS("u", transfer_id, "o", transfer_path, "s", result), 0),
    SD_BUS_VTABLE_END,
};

const sd_bus_vtable kTransferVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Id", "u", property<prop_id>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Local", "s", property<prop_string<&Transfer::local>>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Remote", "s", property<prop_string<&Transfer::remote>>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Type", "s", property<prop_string<&Transfer::type>>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Verify", "s", property<prop_string<&Transfer::verify>>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Progress", "d", property<prop_progress>, 0, 0),
    SD_BUS_METHOD("Cancel", "", "", method<method_cancel>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("LogMessage", SD_BUS_ARGS("u", priority, "s", line), 0),
    SD_BUS_VTABLE_END,
};

// /org/freedesktop/import1/transfer/_ID -> the transfer; 0 (no such object) when there is none.
int find_transfer(sd_bus*, const char* path, const char*, void* userdata, void** found, sd_bus_error*) {
    std::string_view p(path), prefix = std::string_view(kTransferPrefix);
    if (p.size() <= prefix.size() + 2 || p.substr(0, prefix.size()) != prefix || p.substr(prefix.size(), 2) != "/_")
        return 0;
    std::string digits(p.substr(prefix.size() + 2));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 10) return 0;
    unsigned long id = std::stoul(digits);
    Transfer* tr = id > 0 && id <= UINT32_MAX ? A::find(*static_cast<Transfers*>(userdata), static_cast<uint32_t>(id)) : nullptr;
    if (!tr) return 0;
    *found = tr;
    return 1;
}

int enumerate_transfers(sd_bus*, const char*, void* userdata, char*** nodes, sd_bus_error*) {
    auto all = A::all(*static_cast<Transfers*>(userdata));
    char** list = static_cast<char**>(calloc(all.size() + 1, sizeof(char*)));
    if (!list) return -ENOMEM;
    size_t i = 0;
    for (auto* tr : all) list[i++] = strdup(tr->path.c_str());
    *nodes = list;
    return 0;
}

}  // namespace

Transfers::Transfers(Daemon& daemon, sd_bus* bus) : daemon_(daemon), bus_(bus) {
    slots_.push_back(add_vtable(bus, kImportPath, kImportManagerInterface, kImportManagerVtable, this));
    slots_.push_back(add_vtable(bus, kTransferPrefix, kTransferInterface, kTransferVtable, this, find_transfer));
    sd_bus_slot* slot = nullptr;
    check(sd_bus_add_node_enumerator(bus, &slot, kTransferPrefix, enumerate_transfers, this), "export the transfer list");
    slots_.emplace_back(slot);
}

// Workers still running end with machined (PR_SET_PDEATHSIG); their temporaries go at the next start.
Transfers::~Transfers() = default;

std::vector<int> Transfers::fds() const {
    std::vector<int> out;
    for (auto& [id, tr] : transfers_)
        if (tr->report) out.push_back(tr->report.get());
    return out;
}

bool Transfers::on_ready(int fd) {
    for (auto& [id, tr] : transfers_) {
        if (tr->report.get() != fd) continue;
        // At its end the pipe is no longer polled (it would be ready for ever); the worker's end is reaped
        // through Children.
        if (A::read_report(*this, *tr, false)) tr->report.reset();
        return true;
    }
    return false;
}

}  // namespace berth::machined
