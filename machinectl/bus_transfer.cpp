// The client side of org.freedesktop.import1: starting a transfer and waiting for its end (as systemd's
// machinectl: its LogMessage lines shown as they come, TransferRemoved ends the wait), listing and
// canceling transfers.
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <optional>

#include "machinectl/bus.hpp"

namespace berth::machinectl {

namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

long now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1'000'000L;
}

constexpr long kProgressEveryMs = 500;

}  // namespace

// The signals of import1, matched before the method is called: a transfer that ends at once is not missed.
struct Bus::TransferWatch {
    sdbus::Slot removed, log, owner;
    bool lost = false;                    // the service left the bus: no TransferRemoved will come
    std::string path;                     // the transfer's, once known
    std::optional<std::string> result;    // TransferRemoved's, for `path`
    std::vector<std::pair<std::string, std::pair<unsigned, std::string>>> lines;  // (path, (priority, line))
};

sdbus::IProxy& Bus::import_proxy() {
    if (!import_) import_ = sdbus::createProxy(*conn_, bus::kImportBusName, bus::kImportPath);
    return *import_;
}

std::shared_ptr<Bus::TransferWatch> Bus::watch_transfers() {
    auto w = std::make_shared<TransferWatch>();
    TransferWatch* raw = w.get();
    std::string sender = bus::kImportBusName;
    w->removed = conn_->addMatch(
        fmt::format("type='signal',sender='{}',path='{}',interface='{}',member='TransferRemoved'", sender,
                    bus::kImportPath, bus::kImportManagerInterface),
        [raw](sdbus::Message& m) {
            uint32_t id = 0;
            sdbus::ObjectPath path;
            std::string result;
            m >> id >> path >> result;
            if (!raw->path.empty() && std::string(path) == raw->path) raw->result = result;
            else if (raw->path.empty()) raw->lines.push_back({std::string(path), {~0u, result}});
        });
    w->log = conn_->addMatch(fmt::format("type='signal',sender='{}',interface='{}',member='LogMessage'", sender,
                                         bus::kTransferInterface),
                             [raw](sdbus::Message& m) {
                                 uint32_t priority = 6;
                                 std::string line;
                                 m >> priority >> line;
                                 raw->lines.push_back({m.getPath(), {priority, line}});
                             });
    w->owner = conn_->addMatch(
        fmt::format("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                    "member='NameOwnerChanged',arg0='{}'", sender),
        [raw](sdbus::Message& m) {
            std::string name, old_owner, new_owner;
            m >> name >> old_owner >> new_owner;
            if (new_owner.empty()) raw->lost = true;
        });
    return w;
}

Result<std::string> Bus::wait_transfer(TransferWatch& w, const std::string& path, const TransferCallbacks& cb) {
    w.path = path;
    struct sigaction sa {}, old_int {}, old_term {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    g_interrupted = 0;
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    auto proxy = sdbus::createProxy(*conn_, bus::kImportBusName, path);
    long next_progress = now_ms() + kProgressEveryMs;
    Result<std::string> out = plain_error("Interrupted", EINTR);
    while (true) {
        process_pending();
        // What came for our transfer, in order; a TransferRemoved noted before the path was known counts too.
        for (auto& [from, entry] : w.lines) {
            if (from != path) continue;
            if (entry.first == ~0u) w.result = entry.second;
            else if (cb.log) cb.log(entry.first, entry.second);
        }
        w.lines.clear();
        if (w.result) {
            out = *w.result;
            break;
        }
        if (w.lost) {
            out = plain_error(fmt::format("{} left the bus (machined stopped?) before the transfer ended",
                                          bus::kImportBusName), EIO);
            break;
        }
        if (g_interrupted) break;
        long now = now_ms();
        if (cb.progress && now >= next_progress) {
            next_progress = now + kProgressEveryMs;
            try {
                cb.progress(proxy->getProperty("Progress").onInterface(bus::kTransferInterface).get<double>());
            } catch (const sdbus::Error&) {
                // Gone meanwhile: TransferRemoved is on its way.
            }
            continue;
        }
        auto pd = conn_->getEventLoopPollData();
        int timeout = static_cast<int>(std::max(0L, next_progress - now));
        if (pd.timeout_usec != UINT64_MAX) timeout = std::min<int>(timeout, static_cast<int>(pd.timeout_usec / 1000));
        pollfd p{pd.fd, static_cast<short>(pd.events), 0};
        if (::poll(&p, 1, cb.progress ? timeout : (pd.timeout_usec == UINT64_MAX ? -1 : timeout)) < 0 && errno != EINTR) {
            out = plain_error(fmt::format("poll: {}", std::strerror(errno)), errno);
            break;
        }
    }
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    return out;
}

Result<std::vector<TransferEntry>> Bus::list_transfers() {
    try {
        std::vector<sdbus::Struct<uint32_t, std::string, std::string, std::string, double, sdbus::ObjectPath>> list;
        import_proxy().callMethod("ListTransfers").onInterface(bus::kImportManagerInterface).storeResultsTo(list);
        std::vector<TransferEntry> out;
        for (auto& t : list)
            out.push_back({t.get<0>(), t.get<1>(), t.get<2>(), t.get<3>(), t.get<4>(), std::string(t.get<5>())});
        return out;
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

Status Bus::cancel_transfer(uint32_t id) {
    try {
        import_proxy().callMethod("CancelTransfer").onInterface(bus::kImportManagerInterface).withArguments(id);
        return {};
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

}  // namespace berth::machinectl
