// What a pull fetches before the image and checks it with (images/pull_fetch.hpp): small files over
// libcurl (URL.sha256, SHA256SUMS, SHA256SUMS.gpg), the signature through gpgv, the SHA-256 the image
// must have; and the libcurl set-up every download of a pull shares.
#include "images/pull_fetch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/ranges.h>

#include "common/fd.hpp"

namespace berth::images::detail {
// SHA256SUMS, its signature, URL.sha256: small files (as systemd-pull, at most 1 MiB).
constexpr size_t kMaxSmallFile = 1u << 20;
constexpr long kMaxRedirects = 16;
// A download that moves less than this many bytes a second for this long is given up (as systemd-pull).
constexpr long kLowSpeedBytes = 30;
constexpr long kLowSpeedSeconds = 60;

// 164B, 10.0K, 251.3M: as systemd-pull's log lines write sizes.
std::string size_text(uint64_t n) {
    static constexpr const char* kUnits[] = {"K", "M", "G", "T"};
    if (n < 1024) return fmt::format("{}B", n);
    double v = static_cast<double>(n) / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(kUnits)) v /= 1024, u++;
    return fmt::format("{:.1f}{}", v, kUnits[u]);
}


static bool is_sha256_hex(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool is_file_url(const std::string& url) { return url.rfind("file://", 0) == 0; }

// The URL without query and fragment.
std::string url_path_part(const std::string& url) { return url.substr(0, url.find_first_of("?#")); }
// The last path component ("img.tar.gz") and what comes before it ("http://host/dir/").
std::string url_file(const std::string& url) {
    std::string p = url_path_part(url);
    return p.substr(p.rfind('/') + 1);
}
static std::string url_dir(const std::string& url) {
    std::string p = url_path_part(url);
    return p.substr(0, p.rfind('/') + 1);
}

static void curl_init_once() {
    static bool done = false;
    if (!done) done = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}


// A request with what every one of ours has: only http and https (file for a file:// URL, never reached by
// a redirect), redirects followed, a stall limit, no signals.
Result<Easy> make_easy(const std::string& url, char* errbuf) {
    curl_init_once();
    Easy e(curl_easy_init(), curl_easy_cleanup);
    if (!e) return plain_error("Failed to set up a download (libcurl)", ENOMEM);
    CURL* c = e.get();
    errbuf[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    // Never unrestricted: a libcurl that does not take these (before 7.85) is refused.
    if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, is_file_url(url) ? "file" : "http,https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return plain_error("libcurl cannot restrict the protocols of a download (7.85 or later needed)", ENOTSUP);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytes);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-pull");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    return e;
}

std::string curl_reason(CURLcode res, const char* errbuf) { return errbuf && *errbuf ? errbuf : curl_easy_strerror(res); }

bool not_there(CURLcode res, long code) {
    return code == 404 || code == 410 || res == CURLE_REMOTE_FILE_NOT_FOUND || res == CURLE_FILE_COULDNT_READ_FILE;
}

// A small file (SHA256SUMS, its signature): its content, or nothing when the server has none (404, 410).
static Result<std::optional<std::string>> fetch_small(const std::string& url, TransferReport& report) {
    char errbuf[CURL_ERROR_SIZE];
    BERTH_ASSIGN(Easy e, make_easy(url, errbuf));
    struct Sink {
        std::string body;
        bool too_big = false;
    } sink;
    curl_easy_setopt(e.get(), CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* ud) -> size_t {
        auto* s = static_cast<Sink*>(ud);
        if (s->body.size() + size * n > kMaxSmallFile) {
            s->too_big = true;
            return 0;
        }
        s->body.append(p, size * n);
        return size * n;
    });
    CURLcode res = curl_easy_perform(e.get());
    long code = 0;
    curl_easy_getinfo(e.get(), CURLINFO_RESPONSE_CODE, &code);
    if (not_there(res, code)) {
        report.info(code ? fmt::format("HTTP request to {} failed with code {}.", url, code) : fmt::format("{} does not exist.", url));
        return std::optional<std::string>();
    }
    if (sink.too_big) return plain_error(fmt::format("{} is larger than {}: not what it should be", url, size_text(kMaxSmallFile)), EFBIG);
    if (code != 0 && (code < 200 || code >= 300))
        return plain_error(fmt::format("HTTP request to {} failed with code {}.", url, code), EPROTO);
    if (res != CURLE_OK) return plain_error(fmt::format("Download of {} failed: {}", url, curl_reason(res, errbuf)), EIO);
    report.info(fmt::format("Download of {} complete.", url));
    return std::optional<std::string>(std::move(sink.body));
}

// The checksum SHA256SUMS gives `file` ("HASH  FILE" or "HASH *FILE", as sha256sum writes them).
static std::optional<std::string> find_sum(const std::string& sums, const std::string& file) {
    size_t at = 0;
    while (at < sums.size()) {
        size_t end = sums.find('\n', at);
        if (end == std::string::npos) end = sums.size();
        std::string_view line(sums.data() + at, end - at);
        at = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() < 67 || !is_sha256_hex(line.substr(0, 64))) continue;
        std::string_view sep = line.substr(64, 2);
        if ((sep == "  " || sep == " *") && line.substr(66) == file) return lower(std::string(line.substr(0, 64)));
    }
    return std::nullopt;
}

// URL.sha256: the hash, then nothing or white space (and a file name).
static std::optional<std::string> single_sum(const std::string& text) {
    if (text.size() < 64 || !is_sha256_hex(std::string_view(text).substr(0, 64))) return std::nullopt;
    if (text.size() > 64 && !std::isspace(static_cast<unsigned char>(text[64]))) return std::nullopt;
    return lower(text.substr(0, 64));
}

// `data` in a file of memory (nothing on disk to leave behind), read from its start.
static Result<UniqueFd> memory_file(const char* name, const std::string& data) {
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) return errno_error("Failed to create a memory file");
    for (size_t done = 0; done < data.size();) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_error("Failed to write a memory file");
        done += static_cast<size_t>(n);
    }
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) return errno_error("Failed to rewind a memory file");
    return fd;
}

// gpgv checks `signature` of `sums` with the first of `keyrings` that exists; its lines go to the report.
static Status check_signature(const std::string& sums, const std::string& signature, const std::vector<std::string>& keyrings,
                       const std::string& sums_url, TransferReport& report) {
    auto keyring = std::find_if(keyrings.begin(), keyrings.end(), [](const std::string& k) { return ::access(k.c_str(), R_OK) == 0; });
    if (keyring == keyrings.end())
        return plain_error(fmt::format("No keyring to check the signature of {} with ({} {}); --verify=checksum checks the "
                                       "checksum alone", sums_url, keyrings.empty() ? "none configured" : "none of",
                                       fmt::join(keyrings, ", "), keyrings.empty() ? "" : "exists"), ENOKEY);
    BERTH_ASSIGN(UniqueFd sig_fd, memory_file("SHA256SUMS.gpg", signature));
    BERTH_ASSIGN(UniqueFd sums_fd, memory_file("SHA256SUMS", sums));
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return errno_error("Failed to create a pipe");
    UniqueFd out(p[0]), in(p[1]);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return errno_error("Failed to fork gpgv");
    if (pid == 0) {
        (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // 3 and 4: the signature and the sums (dup2 clears close-on-exec); 0 nothing, 1 and 2 the pipe.
        int sig = ::fcntl(sig_fd.get(), F_DUPFD_CLOEXEC, 10), data = ::fcntl(sums_fd.get(), F_DUPFD_CLOEXEC, 10);
        if (null < 0 || sig < 0 || data < 0 || ::dup2(null, 0) < 0 || ::dup2(in.get(), 1) < 0 || ::dup2(in.get(), 2) < 0 ||
            ::dup2(sig, 3) < 0 || ::dup2(data, 4) < 0)
            ::_exit(126);
        // A home that does not exist: nothing of root's gpg configuration or trust database plays a part.
        ::execlp("gpgv", "gpgv", "--homedir", "/nonexistent/berth-gpgv", "--keyring", keyring->c_str(), "/dev/fd/3",
                 "/dev/fd/4", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    in.reset();
    std::string said;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && said.size() < 65536) said.append(buf, static_cast<size_t>(n));
    int status = -1;  // not waited for: never a good signature
    pid_t waited;
    while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
    if (waited != pid) status = -1;
    std::string last;
    for (size_t at = 0, end; at < said.size(); at = end + 1) {
        end = said.find('\n', at);
        if (end == std::string::npos) end = said.size();
        if (end > at) report.info(last = said.substr(at, end - at));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return plain_error("gpgv could not be run (Debian's package gpgv): the signature cannot be checked", ENOENT);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return plain_error(fmt::format("DOWNLOAD INVALID: Signature of {} did not check out with {}{}{}", sums_url, *keyring,
                                       last.empty() ? "" : ": ", last), EBADMSG);
    report.info(fmt::format("Signature of {} is valid.", sums_url));
    return {};
}

// What the image's SHA-256 must be, as `verify` asks: nothing for "no".
Result<std::optional<std::string>> expected_sum(const std::string& url, const PullOptions& options, TransferReport& report) {
    if (options.verify == PullVerify::No) return std::optional<std::string>();
    std::string file = url_file(url), sums_url = url_dir(url) + "SHA256SUMS";
    std::optional<std::string> sums;
    if (options.verify == PullVerify::Checksum) {
        BERTH_ASSIGN(auto single, fetch_small(url_path_part(url) + ".sha256", report));
        if (single) {
            if (auto sum = single_sum(*single)) return std::optional<std::string>(*sum);
            return plain_error(fmt::format("DOWNLOAD INVALID: {}.sha256 holds no SHA-256 checksum", url_path_part(url)), EBADMSG);
        }
    }
    BERTH_ASSIGN(sums, fetch_small(sums_url, report));
    if (!sums) return plain_error("Failed to retrieve SHA256 checksum, cannot verify. (Try --verify=no?)", ENOENT);
    if (options.verify == PullVerify::Signature) {
        BERTH_ASSIGN(auto signature, fetch_small(sums_url + ".gpg", report));
        if (!signature) return plain_error("Failed to retrieve signature file, cannot verify. (Try --verify=no?)", ENOENT);
        BERTH_TRY(check_signature(*sums, *signature, options.keyrings, sums_url, report));
    }
    auto sum = find_sum(*sums, file);
    if (!sum) return plain_error(fmt::format("DOWNLOAD INVALID: {} has no checksum of {}", sums_url, file), EBADMSG);
    return std::optional<std::string>(*sum);
}

}  // namespace berth::images::detail
