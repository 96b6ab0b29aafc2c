// sdbus-c++ 1.2 keeps the sd_bus_message to itself, but a property getter only sees the reply it fills
// in: to know who asked (for /machine/self) we need the call sd-bus is answering, which libsystemd gives.
#pragma once

#include <systemd/sd-bus.h>

#include <sdbus-c++/Message.h>

namespace berth::machined {

inline sd_bus_message* raw_message(const sdbus::Message& m) {
    // A derived class may name the protected member; the member pointer then works on any Message.
    struct Access : sdbus::Message {
        static void* get(const sdbus::Message& msg) { return msg.*(&Access::msg_); }
    };
    return static_cast<sd_bus_message*>(Access::get(m));
}

// The method call being processed on the bus `m` belongs to (for a property getter: the Get call).
inline sd_bus_message* current_call(const sdbus::Message& m) {
    sd_bus_message* raw = raw_message(m);
    return raw ? sd_bus_get_current_message(sd_bus_message_get_bus(raw)) : nullptr;
}

}  // namespace berth::machined
