// URLs of pulls and the image names they suggest (common/pull_url.hpp).
#include "common/pull_url.hpp"

#include <algorithm>
#include <string_view>

namespace berth {

namespace {

// As machinectl's (berth's and systemd's): one archive suffix for tar, every image and compression
// suffix for raw.
constexpr std::string_view kTarSuffixes[] = {".tar", ".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tgz", ".txz", ".tzst"};
constexpr std::string_view kRawSuffixes[] = {".xz", ".gz", ".bz2", ".zst", ".raw", ".qcow2", ".img", ".bin"};

// Ends with `suffix`, and has more than it.
bool ends_with(const std::string& name, std::string_view suffix) {
    return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool pull_url_valid(const std::string& url, bool allow_file) {
    if (url.size() > 4096) return false;
    if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f; }))
        return false;
    for (const char* scheme : {"http://", "https://"}) {
        std::string_view s(scheme);
        if (url.rfind(s, 0) == 0) return url.size() > s.size() && url[s.size()] != '/' && url[s.size()] != '?' && url[s.size()] != '#';
    }
    return allow_file && url.rfind("file:///", 0) == 0 && url.size() > 8;
}

std::string strip_tar_suffix(const std::string& name) {
    for (std::string_view suffix : kTarSuffixes)
        if (ends_with(name, suffix)) return name.substr(0, name.size() - suffix.size());
    return name;
}

std::string strip_raw_suffixes(std::string name) {
    for (bool stripped = true; stripped;) {
        stripped = false;
        for (std::string_view suffix : kRawSuffixes)
            if (ends_with(name, suffix)) {
                name.resize(name.size() - suffix.size());
                stripped = true;
                break;
            }
    }
    return name;
}

std::string pull_local_name(const std::string& url, bool raw) {
    std::string path = url.substr(0, url.find_first_of("?#"));
    size_t scheme = path.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    while (path.size() > host && path.back() == '/') path.pop_back();
    size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash < host) return "";  // no path: the host names no image
    std::string name = path.substr(slash + 1);
    return raw ? strip_raw_suffixes(name) : strip_tar_suffix(name);
}

}  // namespace berth
