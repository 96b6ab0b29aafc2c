// What machined's bus objects share. They are plain sd-bus (libsystemd) vtables, as systemd's own
// machined has them, because a vtable says exactly what org.freedesktop.machine1 must match: fd passing
// ('h' replies), the Privileged and EmitsChangedSignal annotations per member (SD_BUS_VTABLE_UNPRIVILEGED,
// SD_BUS_VTABLE_PROPERTY_*), fallback vtables with a node enumerator (thousands of machine objects,
// /machine/self), and the call a property getter answers (who asks). The connection is a plain sd_bus
// polled by the daemon's own loop too: with no object left on sdbus-c++ it only wrapped that sd_bus, hid
// it from the vtables, and turned return values into exceptions. machinectl, a client, keeps sdbus-c++.
#pragma once

#include <systemd/sd-bus.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "machined/bus_error.hpp"

namespace berth::machined {

// Owning pointers to libsystemd's reference-counted objects: one unref, whichever way a handler leaves.
template <typename T, T* (*Unref)(T*)>
struct SdUnref {
    void operator()(T* p) const { Unref(p); }
};
using BusPtr = std::unique_ptr<sd_bus, SdUnref<sd_bus, sd_bus_flush_close_unref>>;  // flushed, closed, unref'd
using MessagePtr = std::unique_ptr<sd_bus_message, SdUnref<sd_bus_message, sd_bus_message_unref>>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SdUnref<sd_bus_slot, sd_bus_slot_unref>>;
using CredsPtr = std::unique_ptr<sd_bus_creds, SdUnref<sd_bus_creds, sd_bus_creds_unref>>;

// A negative sd-bus return value as BusError (Failed), "Failed to WHAT: REASON"; anything else is returned.
int check(int r, const char* what);

// ---- the connection --------------------------------------------------------------------------------------

// The system bus, with the handshake done: a bus that refuses us is reported now, not in the loop.
Result<BusPtr> open_system_bus();

// What the daemon's poll() waits for on the bus.
struct BusPoll {
    int fd = -1;
    short events = 0;
    int timeout_ms = -1;  // until sd-bus wants to be called again without input; -1: never
};
// Dispatches every message waiting (the vtables' callbacks run here), then says what to poll for.
Result<BusPoll> process_bus(sd_bus* bus);

// A method call to another service, waiting for the reply. The error's message is the callee's.
template <typename... A>
Result<MessagePtr> call_method(sd_bus* bus, const char* destination, const char* path, const char* interface,
                               const char* member, const char* types, A... args) {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, destination, path, interface, member, &error, &reply, types, args...);
    MessagePtr owned(reply);
    if (r >= 0) return owned;
    Error e = plain_error(error.message ? error.message : std::strerror(-r), -r);
    sd_bus_error_free(&error);
    return e;
}

// Exports `vtable` on `path`, or with `find` on every path below it (a fallback vtable).
// Throws BusError (Failed) when sd-bus refuses.
SlotPtr add_vtable(sd_bus* bus, const char* path, const char* interface, const sd_bus_vtable* vtable,
                   void* userdata, sd_bus_object_find_t find = nullptr);

// sd_bus_emit_signal; throws BusError (Failed) when it cannot be sent.
template <typename... A>
void emit_signal(sd_bus* bus, const char* path, const char* interface, const char* member, const char* types,
                 A... args) {
    check(sd_bus_emit_signal(bus, path, interface, member, types, args...), "emit a signal");
}
// PropertiesChanged for `props`, their new values read from the getters; sd-bus's return value.
int emit_properties_changed(sd_bus* bus, const std::string& path, const char* interface,
                            const std::vector<std::string>& props);

// ---- handlers --------------------------------------------------------------------------------------------

// The one exception guard between a handler and sd-bus: a BusError becomes the error reply with its name,
// any other exception org.freedesktop.DBus.Error.Failed (sd-bus sends it when we return negative).
template <typename F>
int guard(sd_bus_error* error, F&& body) noexcept {
    try {
        return body();
    } catch (const BusError& e) {
        return sd_bus_error_set(error, e.name().c_str(), e.what());
    } catch (const std::exception& e) {
        return sd_bus_error_set(error, kFailed, e.what());
    }
}

// Vtable callbacks from handlers that may throw, their userdata typed:
//   int handler(sd_bus_message* call, T& userdata)                       SD_BUS_METHOD(..., method<handler>, ...)
//   int getter(sd_bus_message* reply, sd_bus_message* call, T& userdata) SD_BUS_PROPERTY(..., property<getter>, ...)
// A handler returns as sd_bus_reply_method_return() does, or 1 when the call is answered later. A getter
// is given the Get/GetAll call it answers too (sd-bus hands it only the reply): who asks, for /machine/self.
template <typename F>
struct UserdataOf;
template <typename T>
struct UserdataOf<int (*)(sd_bus_message*, T&)> {
    using type = T;
};
template <typename T>
struct UserdataOf<int (*)(sd_bus_message*, sd_bus_message*, T&)> {
    using type = T;
};

template <auto Handler>
int method(sd_bus_message* call, void* userdata, sd_bus_error* error) noexcept {
    using T = typename UserdataOf<decltype(Handler)>::type;
    return guard(error, [&] { return Handler(call, *static_cast<T*>(userdata)); });
}

template <auto Getter>
int property(sd_bus* bus, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
             sd_bus_error* error) noexcept {
    using T = typename UserdataOf<decltype(Getter)>::type;
    return guard(error, [&] { return Getter(reply, sd_bus_get_current_message(bus), *static_cast<T*>(userdata)); });
}

// ---- reading a call --------------------------------------------------------------------------------------
// sd-bus checked the signature before the handler runs: these fail only when memory does (Failed).

template <typename... A>
void read(sd_bus_message* call, const char* types, A*... out) {
    check(sd_bus_message_read(call, types, out...), "read the arguments");
}
std::string read_string(sd_bus_message* call);
// An array of fixed-size items: 'y' (uint8_t), 'i' (int32_t), ...
template <typename T>
std::vector<T> read_array(sd_bus_message* call, char type) {
    const void* data = nullptr;
    size_t size = 0;
    check(sd_bus_message_read_array(call, type, &data, &size), "read the arguments");
    auto* items = static_cast<const T*>(data);
    return std::vector<T>(items, items + size / sizeof(T));
}
std::vector<std::pair<std::string, std::string>> read_string_pairs(sd_bus_message* call);  // a(ss)

// ---- building a reply ------------------------------------------------------------------------------------
// Into a method's reply or a property getter's; a failure throws BusError (Failed).

template <typename... A>
void append(sd_bus_message* m, const char* types, A... args) {
    check(sd_bus_message_append(m, types, args...), "build the reply");
}
template <typename T>
void append_array(sd_bus_message* m, char type, const std::vector<T>& items) {
    check(sd_bus_message_append_array(m, type, items.data(), items.size() * sizeof(T)), "build the reply");
}
// A container ('a', 'r', 'e', 'v') of `contents`, filled by fill().
template <typename F>
void append_container(sd_bus_message* m, char type, const char* contents, F fill) {
    check(sd_bus_message_open_container(m, type, contents), "build the reply");
    fill();
    check(sd_bus_message_close_container(m), "build the reply");
}
// An array of `contents`, one each(item) per item.
template <typename Range, typename F>
void append_each(sd_bus_message* m, const char* contents, const Range& items, F each) {
    append_container(m, 'a', contents, [&] {
        for (auto& item : items) each(item);
    });
}
void append_strings(sd_bus_message* m, const std::vector<std::string>& items);           // as
void append_string_map(sd_bus_message* m, const std::map<std::string, std::string>& map);  // a{ss}

// The empty reply of a method that returns nothing.
inline int reply_empty(sd_bus_message* call) { return sd_bus_reply_method_return(call, ""); }

// A method's reply built in place: Reply reply(call); append(reply.get(), ...); return reply.send();
class Reply {
public:
    explicit Reply(sd_bus_message* call);
    sd_bus_message* get() const { return m_.get(); }
    int send();

private:
    MessagePtr m_;
};

}  // namespace berth::machined
