#include "machined/access.hpp"

#include <grp.h>

#include <algorithm>

#include "common/log.hpp"
#include "machined/bus_error.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {
constexpr size_t kCacheMax = 512;  // connections come and go; a full cache simply starts over
}

AccessControl::AccessControl(const std::vector<std::string>& allowed_groups) {
    for (auto& name : allowed_groups) {
        if (auto* g = ::getgrnam(name.c_str()))
            allowed_.push_back(g->gr_gid);
        else
            spdlog::warn("allowed_groups: no group \"{}\" on this system", name);
    }
}

Caller AccessControl::caller_of(sd_bus_message* call) {
    const char* sender = call ? sd_bus_message_get_sender(call) : nullptr;
    if (!sender) throw_bus_error(kAccessDenied, "Cannot tell who sent this call");
    if (auto it = cache_.find(sender); it != cache_.end()) return it->second;
    sd_bus_creds* raw = nullptr;
    int r = sd_bus_query_sender_creds(call,
                                      SD_BUS_CREDS_PID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_GID |
                                          SD_BUS_CREDS_SUPPLEMENTARY_GIDS | SD_BUS_CREDS_AUGMENT,
                                      &raw);
    CredsPtr creds(raw);
    if (r < 0) throw_bus_error(kAccessDenied, fmt::format("Cannot determine the caller's credentials: {}", strerror(-r)));
    Caller c;
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
    const gid_t* gids = nullptr;
    // The effective uid decides; without it (not every bus reports it) the real one.
    if (sd_bus_creds_get_euid(creds.get(), &uid) < 0 && sd_bus_creds_get_uid(creds.get(), &uid) < 0)
        throw_bus_error(kAccessDenied, "Cannot determine the caller's user");
    c.uid = uid;
    if (sd_bus_creds_get_pid(creds.get(), &pid) >= 0) c.pid = pid;
    if (sd_bus_creds_get_gid(creds.get(), &gid) >= 0) c.groups.push_back(gid);
    int n = sd_bus_creds_get_supplementary_gids(creds.get(), &gids);
    for (int i = 0; i < n; i++) c.groups.push_back(gids[i]);
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_.emplace(sender, c);
    return c;
}

Status AccessControl::authorize(const Caller& caller, const std::string& what) const {
    if (caller.uid == 0) return {};
    for (gid_t g : caller.groups)
        if (std::find(allowed_.begin(), allowed_.end(), g) != allowed_.end()) return {};
    return plain_error(fmt::format("Access denied: {} needs root or a group allowed in machined's configuration "
                                   "(caller uid {})",
                                   what, caller.uid),
                       EACCES);
}

}  // namespace berth::machined
