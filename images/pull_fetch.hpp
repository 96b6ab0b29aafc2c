// Internal to images/ (pull.cpp, pull_fetch.cpp): what a pull fetches and checks before the image
// itself, and the libcurl set-up and helpers its downloads share.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "images/pull.hpp"
#include "images/transfer.hpp"

namespace berth::images::detail {

// 164B, 10.0K, 251.3M: as systemd-pull's log lines write sizes.
std::string size_text(uint64_t n);
std::string lower(std::string s);
bool is_file_url(const std::string& url);
// The URL without query and fragment; its last path component ("img.tar.gz").
std::string url_path_part(const std::string& url);
std::string url_file(const std::string& url);

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
// A request with what every one of a pull's has: only http and https (file for a file:// URL, never
// reached by a redirect), redirects followed (at most 16), a stall limit, no signals; errors in `errbuf`
// (CURL_ERROR_SIZE bytes, living as long as the request).
Result<Easy> make_easy(const std::string& url, char* errbuf);
// libcurl's words for a failure: its error buffer when it wrote one.
std::string curl_reason(CURLcode res, const char* errbuf);
// Whether an answer says there is nothing at the address (404, 410, a missing file:// file).
bool not_there(CURLcode res, long code);

// What the image's SHA-256 must be (lower-case hex), as `options.verify` asks: nothing for "no"; for
// "checksum" URL.sha256, else SHA256SUMS; for "signature" SHA256SUMS checked by gpgv against
// SHA256SUMS.gpg with the first of `options.keyrings` that exists. Errors as images/pull.hpp says.
Result<std::optional<std::string>> expected_sum(const std::string& url, const PullOptions& options, TransferReport& report);

}  // namespace berth::images::detail
