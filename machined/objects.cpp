#include "objects.hpp"

#include "daemon.hpp"

namespace berth::machined {

Machine& MachineRef::resolve(const sdbus::Message& m) const {
    return name.empty() ? daemon->machine_of_caller(m) : daemon->require(name);
}

}  // namespace berth::machined
