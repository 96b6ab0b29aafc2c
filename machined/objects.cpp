#include "objects.hpp"

#include "bus_error.hpp"

namespace berth::machined {

sdbus::method_callback guarded(std::function<void(sdbus::MethodCall&)> handler) {
    return [handler = std::move(handler)](sdbus::MethodCall call) {
        try {
            handler(call);
        } catch (const sdbus::Error&) {
            throw;
        } catch (const std::exception& e) {
            throw sdbus::Error(kFailed, e.what());
        }
    };
}

sdbus::property_get_callback guarded_get(std::function<void(sdbus::PropertyGetReply&)> getter) {
    return [getter = std::move(getter)](sdbus::PropertyGetReply& reply) {
        try {
            getter(reply);
        } catch (const sdbus::Error&) {
            throw;
        } catch (const std::exception& e) {
            throw sdbus::Error(kFailed, e.what());
        }
    };
}

}  // namespace berth::machined
