// URLs of pulls (org.freedesktop.import1's PullTar, PullRaw) and the image names they suggest: shared by
// machined (images/pull.hpp) and machinectl, so that both take the same URLs and name images alike.
#pragma once

#include <string>

namespace berth {

// A URL a pull takes: http:// or https:// with a host, printable ASCII only (no white space); with
// `allow_file`, file:///ABSOLUTE too.
bool pull_url_valid(const std::string& url, bool allow_file);

// The name an image pulled from `url` gets when none is given, as machinectl makes it: the URL's last path
// component (no query or fragment, trailing slashes ignored) without its archive suffix (".tar",
// ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar.zst", ".tzst": one) for tar, without every
// image and compression suffix (".raw", ".qcow2", ".img", ".bin", ".xz", ".gz", ".bz2", ".zst") for raw.
// "" when nothing is left.
std::string pull_local_name(const std::string& url, bool raw);

// An image name without its suffixes, as machinectl takes them: one archive suffix for tar ("web.tar.xz"
// -> "web"), every image and compression suffix for raw ("disk.raw.gz" -> "disk"). A name that is
// nothing but a suffix stays as it is.
std::string strip_tar_suffix(const std::string& name);
std::string strip_raw_suffixes(std::string name);

}  // namespace berth
