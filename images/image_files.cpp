#include "images/image_files.hpp"

#include "common/chase.hpp"
#include "common/escape.hpp"
#include "common/id128.hpp"
#include "common/machine_name.hpp"
#include "common/os_release.hpp"

namespace berth::images {

namespace {

constexpr size_t kSmallFileMax = 4096;       // hostname, machine-id
constexpr size_t kKeyValueFileMax = 64 << 10;  // machine-info, os-release

// The file's text, or "" when it is not there.
Result<std::string> read_optional(int rootfd, const std::string& path, size_t max) {
    auto text = read_untrusted_file(rootfd, path, max);
    if (!text.ok() && text.error().code == ENOENT) return std::string();
    return text;
}

std::string trimmed(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

Result<std::string> read_image_hostname(int rootfd) {
    BERTH_ASSIGN(std::string text, read_optional(rootfd, "/etc/hostname", kSmallFileMax));
    for (size_t i = 0; i < text.size();) {
        size_t nl = text.find('\n', i);
        std::string line = trimmed(text.substr(i, nl == std::string::npos ? std::string::npos : nl - i));
        if (!line.empty() && line[0] != '#') {
            std::string name = line.back() == '.' ? line.substr(0, line.size() - 1) : line;
            if (!machine_name_is_valid(name))
                return plain_error(fmt::format("/etc/hostname holds no valid hostname: \"{}\"", to_valid_utf8(line)), EBADMSG);
            return name;
        }
        if (nl == std::string::npos) break;
        i = nl + 1;
    }
    return std::string();
}

Result<std::vector<uint8_t>> read_image_machine_id(int rootfd) {
    BERTH_ASSIGN(std::string text, read_optional(rootfd, "/etc/machine-id", kSmallFileMax));
    auto id = parse_id128(trimmed(text));
    if (!id.ok() || id128_is_null(*id)) return std::vector<uint8_t>();
    return std::vector<uint8_t>(id->begin(), id->end());
}

Result<KeyValues> read_image_machine_info(int rootfd) {
    BERTH_ASSIGN(std::string text, read_optional(rootfd, "/etc/machine-info", kKeyValueFileMax));
    return parse_os_release(text);
}

Result<KeyValues> read_image_os_release(int rootfd) {
    auto os = read_os_release_at(rootfd);
    if (!os.ok() && os.error().code == ENOENT) return KeyValues();
    return os;
}

std::string encode_pairs(const KeyValues& pairs) {
    std::string out;
    for (auto& [k, v] : pairs) out += k + '\0' + v + '\0';
    return out;
}

KeyValues decode_pairs(const std::string& text) {
    KeyValues out;
    for (size_t i = 0; i < text.size();) {
        size_t k = text.find('\0', i), v = k == std::string::npos ? k : text.find('\0', k + 1);
        if (v == std::string::npos) break;
        out[to_valid_utf8(text.substr(i, k - i))] = to_valid_utf8(text.substr(k + 1, v - k - 1));
        i = v + 1;
    }
    return out;
}

}  // namespace berth::images
