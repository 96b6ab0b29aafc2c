// What an image says about itself in its /etc: hostname, machine id, machine-info, os-release (the
// GetImage* methods). An image's files are whoever made it's: each is resolved inside the image's root
// (symbolic links and ".." never leave it), must be a regular file of bounded size, and is read at most
// that far (common/chase.hpp's read_untrusted_file). machined reads them in a forked worker.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::images {

using KeyValues = std::map<std::string, std::string>;

// /etc/hostname: its first line that is neither empty nor a comment, trimmed (and one trailing '.'
// dropped); "" when there is none; EBADMSG when that is no valid hostname.
Result<std::string> read_image_hostname(int rootfd);
// /etc/machine-id as 16 bytes; empty when missing, "uninitialized" or not a machine id.
Result<std::vector<uint8_t>> read_image_machine_id(int rootfd);
// /etc/machine-info (KEY=VALUE, os-release's syntax); empty when missing.
Result<KeyValues> read_image_machine_info(int rootfd);
// /etc/os-release, else /usr/lib/os-release; empty when neither is there.
Result<KeyValues> read_image_os_release(int rootfd);

// Key/value pairs through a worker's pipe: KEY\0VALUE\0..., and back (keys and values made valid UTF-8,
// which D-Bus requires).
std::string encode_pairs(const KeyValues& pairs);
KeyValues decode_pairs(const std::string& text);

}  // namespace berth::images
