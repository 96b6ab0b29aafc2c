#include "machined/sd_bus_object.hpp"

#include <time.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include <fmt/format.h>

namespace berth::machined {

int check(int r, const char* what) {
    if (r < 0) throw BusError(kFailed, fmt::format("Failed to {}: {}", what, std::strerror(-r)));
    return r;
}

Result<BusPtr> open_system_bus() {
    sd_bus* raw = nullptr;
    int r = sd_bus_open_system(&raw);
    BusPtr bus(raw);
    if (r >= 0) r = sd_bus_flush(bus.get());
    if (r < 0) return sys_error(-r, "Cannot connect to the system bus");
    return bus;
}

Result<BusPoll> process_bus(sd_bus* bus) {
    int r;
    while ((r = sd_bus_process(bus, nullptr)) > 0) {
    }
    if (r < 0) return sys_error(-r, "Failed to process its messages");
    BusPoll p;
    uint64_t until = UINT64_MAX;  // CLOCK_MONOTONIC µs
    int fd = sd_bus_get_fd(bus), events = sd_bus_get_events(bus);
    r = fd < 0 ? fd : events < 0 ? events : sd_bus_get_timeout(bus, &until);
    if (r < 0) return sys_error(-r, "Failed to poll it");
    p.fd = fd;
    p.events = static_cast<short>(events);
    if (until != UINT64_MAX) {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
        uint64_t ms = until <= now ? 0 : (until - now + 999) / 1000;
        p.timeout_ms = static_cast<int>(std::min<uint64_t>(ms, INT_MAX));
    }
    return p;
}

SlotPtr add_vtable(sd_bus* bus, const char* path, const char* interface, const sd_bus_vtable* vtable,
                   void* userdata, sd_bus_object_find_t find) {
    sd_bus_slot* slot = nullptr;
    int r = find ? sd_bus_add_fallback_vtable(bus, &slot, path, interface, vtable, find, userdata)
                 : sd_bus_add_object_vtable(bus, &slot, path, interface, vtable, userdata);
    if (r < 0) throw BusError(kFailed, fmt::format("Failed to export {}: {}", interface, std::strerror(-r)));
    return SlotPtr(slot);
}

int emit_properties_changed(sd_bus* bus, const std::string& path, const char* interface,
                            const std::vector<std::string>& props) {
    std::vector<char*> names;
    for (auto& p : props) names.push_back(const_cast<char*>(p.c_str()));
    names.push_back(nullptr);
    return sd_bus_emit_properties_changed_strv(bus, path.c_str(), interface, names.data());
}

std::string read_string(sd_bus_message* call) {
    const char* s = nullptr;
    read(call, "s", &s);
    return s;
}

std::vector<std::pair<std::string, std::string>> read_string_pairs(sd_bus_message* call) {
    std::vector<std::pair<std::string, std::string>> pairs;
    check(sd_bus_message_enter_container(call, 'a', "(ss)"), "read the arguments");
    const char *k = nullptr, *v = nullptr;
    while (check(sd_bus_message_read(call, "(ss)", &k, &v), "read the arguments") > 0) pairs.emplace_back(k, v);
    check(sd_bus_message_exit_container(call), "read the arguments");
    return pairs;
}

void append_strings(sd_bus_message* m, const std::vector<std::string>& items) {
    append_each(m, "s", items, [&](const std::string& s) { append(m, "s", s.c_str()); });
}

void append_string_map(sd_bus_message* m, const std::map<std::string, std::string>& map) {
    append_each(m, "{ss}", map, [&](const auto& kv) { append(m, "{ss}", kv.first.c_str(), kv.second.c_str()); });
}

Reply::Reply(sd_bus_message* call) {
    sd_bus_message* m = nullptr;
    check(sd_bus_message_new_method_return(call, &m), "build the reply");
    m_.reset(m);
}

int Reply::send() {
    check(sd_bus_send(nullptr, m_.get(), nullptr), "send the reply");
    return 1;
}

}  // namespace berth::machined
