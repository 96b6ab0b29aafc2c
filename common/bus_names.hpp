// The API: docs/dbus-api.md.
// The names machined is reached by and the errors it answers with: org.freedesktop.machine1 as systemd 252
// speaks it (machine1-api.md), and berth's own interfaces on the same objects. One list for machined,
// machinectl and nspawn's registration.
#pragma once

namespace berth::bus {

inline constexpr const char* kBusName = "org.freedesktop.machine1";
inline constexpr const char* kManagerPath = "/org/freedesktop/machine1";
inline constexpr const char* kMachinePrefix = "/org/freedesktop/machine1/machine";
inline constexpr const char* kImagePrefix = "/org/freedesktop/machine1/image";
inline constexpr const char* kManagerInterface = "org.freedesktop.machine1.Manager";
inline constexpr const char* kMachineInterface = "org.freedesktop.machine1.Machine";
inline constexpr const char* kImageInterface = "org.freedesktop.machine1.Image";
inline constexpr const char* kBerthManagerInterface = "io.berth.Manager1";
inline constexpr const char* kBerthMachineInterface = "io.berth.Machine1";
// org.freedesktop.import1 (systemd-importd's), which machined owns too.
inline constexpr const char* kImportBusName = "org.freedesktop.import1";
inline constexpr const char* kImportPath = "/org/freedesktop/import1";
inline constexpr const char* kImportManagerInterface = "org.freedesktop.import1.Manager";
inline constexpr const char* kTransferInterface = "org.freedesktop.import1.Transfer";
inline constexpr const char* kTransferPrefix = "/org/freedesktop/import1/transfer";
inline constexpr const char* kNoSuchTransfer = "org.freedesktop.import1.NoSuchTransfer";
inline constexpr const char* kTransferInProgress = "org.freedesktop.import1.TransferInProgress";

inline constexpr const char* kNoSuchMachine = "org.freedesktop.machine1.NoSuchMachine";
inline constexpr const char* kNoSuchImage = "org.freedesktop.machine1.NoSuchImage";
inline constexpr const char* kMachineExists = "org.freedesktop.machine1.MachineExists";
inline constexpr const char* kNoMachineForPID = "org.freedesktop.machine1.NoMachineForPID";
inline constexpr const char* kNoPrivateNetworking = "org.freedesktop.machine1.NoPrivateNetworking";
inline constexpr const char* kNoSuchUserMapping = "org.freedesktop.machine1.NoSuchUserMapping";
inline constexpr const char* kNoSuchGroupMapping = "org.freedesktop.machine1.NoSuchGroupMapping";
inline constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* kNotSupported = "org.freedesktop.DBus.Error.NotSupported";
inline constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";
inline constexpr const char* kLimitsExceeded = "org.freedesktop.DBus.Error.LimitsExceeded";
inline constexpr const char* kServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown";
inline constexpr const char* kNameHasNoOwner = "org.freedesktop.DBus.Error.NameHasNoOwner";

}  // namespace berth::bus
