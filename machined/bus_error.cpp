#include "machined/bus_error.hpp"

namespace berth::machined {

const char* bus_error_name(int code) {
    switch (code) {
        case EINVAL: return kInvalidArgs;
        case EEXIST: return kMachineExists;
        case EPERM:
        case EACCES: return kAccessDenied;
        case EOPNOTSUPP: return kNotSupported;
        case ESRCH: return kNoMachineForPID;
        default: return kFailed;
    }
}

}  // namespace berth::machined
