// Per-machine settings files (TOML). Every option has a key; the command line wins.
//   trusted:   /etc/berth/nspawn/NAME.toml, /run/berth/nspawn/NAME.toml
//   untrusted: NAME.toml next to the image (privileged keys ignored unless --settings=trusted)
#pragma once

#include <string>
#include <vector>

#include "nspawn/options.hpp"

namespace berth::nspawn {

struct SettingsFile {
    std::string path;
    bool trusted = false;
};

// The file to use for machine `name` whose image is `directory`, if any (first match wins, as in systemd).
std::vector<SettingsFile> find_settings(const std::string& name, const std::string& directory, bool trust_image_dir);

// Fill every option the command line left unset from the file's TOML text.
// Unknown sections/keys and wrong types are errors naming the file and key; privileged keys in an untrusted
// file are skipped with a warning in `warnings`.
Status apply_settings(const std::string& toml_text, const SettingsFile& file, Options& options,
                      std::vector<std::string>& warnings);

}  // namespace berth::nspawn
