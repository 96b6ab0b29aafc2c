// What the two halves of the resources module share (resources_parse.cpp reads the values,
// resources.cpp applies them).
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <limits>
#include <string>

#include "common/values.hpp"

namespace berth::resources_detail {

// The value, or `infinity` for kInfinity ("max", "-1", "infinity", as the file wants it).
inline std::string limit_text(uint64_t v, const char* infinity) { return v == kInfinity ? infinity : std::to_string(v); }
// The kernel refuses more open files than fs.nr_open, RLIM_INFINITY included.
rlim_t nofile_max();
// "NOFILE" for RLIMIT_NOFILE.
const char* rlimit_name(int resource);

}  // namespace berth::resources_detail
