// bind, copy-to and copy-from: the arguments as systemd 252's machinectl sends them (docs/machinectl.md).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "machinectl/bus.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

constexpr uint64_t kCopyReplace = 1;  // MACHINE_COPY_REPLACE

// A relative host path is the caller's: made absolute against the working directory, not normalized.
Result<std::string> absolute_on_host(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    std::unique_ptr<char, decltype(&std::free)> cwd(::getcwd(nullptr, 0), &std::free);
    if (!cwd) return errno_error("Failed to determine the current directory");
    std::string base = cwd.get();
    return base == "/" ? "/" + path : base + "/" + path;
}

}  // namespace

// The host path goes as given (machined wants it absolute); an absent destination is "", the source again.
Status verb_bind(Bus& bus, const Options& o) {
    BERTH_TRY(check_name(o.args[0]));
    std::string destination = o.args.size() > 2 ? o.args[2] : "";
    return bus.call(kManagerIface, "BindMountMachine", o.args[0], o.args[1], destination, o.read_only, o.mkdir);
}

// The destination defaults to the source; the host side, whichever it is, is made absolute.
Status verb_copy(Bus& bus, const Options& o) {
    BERTH_TRY(check_name(o.args[0]));
    bool from = o.verb == "copy-from";
    const std::string& source = o.args[1];
    const std::string& destination = o.args.size() > 2 ? o.args[2] : o.args[1];
    BERTH_ASSIGN(std::string host, absolute_on_host(from ? destination : source));
    const std::string& inside = from ? source : destination;
    const std::string& src = from ? inside : host;
    const std::string& dst = from ? host : inside;
    if (o.force)
        return bus.call_unbounded(kManagerIface, from ? "CopyFromMachineWithFlags" : "CopyToMachineWithFlags",
                                  o.args[0], src, dst, kCopyReplace);
    return bus.call_unbounded(kManagerIface, from ? "CopyFromMachine" : "CopyToMachine", o.args[0], src, dst);
}

}  // namespace berth::machinectl
