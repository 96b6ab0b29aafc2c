// org.freedesktop.import1, which systemd runs in systemd-importd and machined owns here too (the same pool,
// the same locks): the Manager on /org/freedesktop/import1 (ImportTar, ImportRaw, ImportFileSystem,
// ExportTar, ExportRaw, ListTransfers, CancelTransfer; TransferNew, TransferRemoved) and one object per
// transfer, /org/freedesktop/import1/transfer/_ID (org.freedesktop.import1.Transfer: Id, Local, Remote,
// Type, Verify, Progress, Cancel(), LogMessage), with systemd 252's signatures. The API: docs/dbus-api.md,
// "org.freedesktop.import1".
//
// Each transfer runs in a process machined forks (images/transfer.hpp does the work), which reports its
// progress and log lines through a pipe the daemon's loop reads; its end (reaped through Children) ends the
// transfer: TransferRemoved with "done", "failed" or "canceled". A canceled or failed import's temporary
// is removed by another worker.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/bus_names.hpp"
#include "common/fd.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

class Daemon;

using bus::kImportBusName;
using bus::kImportManagerInterface;
using bus::kImportPath;
using bus::kTransferInterface;
using bus::kTransferPrefix;

class Transfers {
public:
    // Exports the objects on `bus` (which outlives them); throws BusError when sd-bus refuses them.
    Transfers(Daemon& daemon, sd_bus* bus);
    ~Transfers();
    Transfers(const Transfers&) = delete;
    Transfers& operator=(const Transfers&) = delete;

    // The report pipes, for the daemon's poll(); on_ready() reads what is there. False: not one of ours.
    std::vector<int> fds() const;
    bool on_ready(int fd);

    struct Transfer;  // one transfer under way (transfers.cpp)

private:
    friend struct TransferAccess;
    Daemon& daemon_;
    sd_bus* bus_;
    std::vector<SlotPtr> slots_;
    uint32_t last_id_ = 0;
    std::map<uint32_t, std::unique_ptr<Transfer>> transfers_;
};

}  // namespace berth::machined
