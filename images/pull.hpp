// Pulls of images (org.freedesktop.import1's PullTar and PullRaw, as systemd 252's systemd-pull does them):
// a tar archive or a raw disk image downloaded over HTTP or HTTPS (libcurl) and streamed into the importer
// (images/transfer.hpp) without a copy on disk, checked against the SHA-256 sums published next to it and
// their detached GPG signature when asked. Like the imports, a pull lands in a hidden temporary that is
// renamed into place only when the download is complete and verified.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/pull_url.hpp"  // pull_url_valid, pull_local_name
#include "common/result.hpp"
#include "images/operations.hpp"
#include "images/transfer.hpp"

namespace berth::images {

// --verify, as systemd names the modes: "no" (nothing checked), "checksum" (the image's SHA-256 against
// URL.sha256, else against SHA256SUMS in the same directory), "signature" (that, with SHA256SUMS signed by
// SHA256SUMS.gpg with a key of the keyring). "" is "signature", systemd's default.
enum class PullVerify { No, Checksum, Signature };
std::optional<PullVerify> parse_pull_verify(const std::string& text);

struct PullOptions {
    ImportOptions import;  // force, read_only, temporary: as for an import
    PullVerify verify = PullVerify::Signature;
    // The keyrings a signature may be made with, the first that exists used (systemd's:
    // /etc/systemd/import-pubring.gpg, then /usr/lib/systemd/import-pubring.gpg).
    std::vector<std::string> keyrings;
    // How often a download that broke off is resumed where it broke (HTTP Range, with If-Range so that a
    // file changed on the server meanwhile is never spliced), when the server supports it.
    int resume_tries = 5;
};

// Downloads `url` and makes it image `name` in `pool` as import_tar() (pull_tar) or import_raw()
// (pull_raw) would from the same bytes: the checksum and signature are fetched and checked first (a
// missing or bad signature fails before the image is downloaded), the image streamed into the importer
// while its SHA-256 is computed, and compared before the temporary takes the name. Progress from the
// server's Content-Length; log lines as systemd-pull's. Errors name the URL and the reason: EINVAL bad
// URL or name, EEXIST name taken (without force), EBUSY the image to replace is in use, EBADMSG a checksum
// or signature that does not check out, EPROTO an HTTP error (the status in the message), else the reason
// named. Forks (the download, the extractor, gpgv): call it from a process with one thread.
Status pull_tar(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings);
Status pull_raw(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings);

}  // namespace berth::images
