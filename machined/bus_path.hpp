// The API: docs/dbus-api.md, "Object paths".
// Object path labels, as sd-bus's sd_bus_path_encode(): every byte that is not an ASCII letter (or a
// digit past the first position) becomes '_' plus two lowercase hex digits; "" is "_".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/bus_names.hpp"

namespace berth::machined {

using bus::kBusName;
using bus::kImagePrefix;
using bus::kMachinePrefix;
using bus::kManagerPath;

std::string bus_label_escape(std::string_view s);
// nullopt when `label` is not something bus_label_escape() produces.
std::optional<std::string> bus_label_unescape(std::string_view label);

std::string machine_object_path(std::string_view name);
std::string image_object_path(std::string_view name);

}  // namespace berth::machined
