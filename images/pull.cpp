// Pulls (images/pull.hpp): the checksum and signature fetched and checked first (libcurl, gpgv), then the
// image downloaded by a child process into a pipe that import_tar() or import_raw() reads, its SHA-256
// computed on the way (libcrypto) and compared before the temporary takes the image's name.
#include "images/pull.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <utility>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/fd.hpp"
#include "images/discovery.hpp"
#include "images/import_landing.hpp"

namespace berth::images {

namespace {

// SHA256SUMS, its signature, URL.sha256: small files (as systemd-pull, at most 1 MiB).
constexpr size_t kMaxSmallFile = 1u << 20;
constexpr long kMaxRedirects = 16;
// What may follow an archive's end (a tar writer's padding, for one) before a download is cut off.
constexpr uint64_t kMaxTrailing = 16u << 20;
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

class Sha256 {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) {
        if (ctx_) EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) return {};
        std::string out;
        for (unsigned i = 0; i < len; i++) out += fmt::format("{:02x}", md[i]);
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
};

bool is_sha256_hex(std::string_view s) {
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
std::string url_dir(const std::string& url) {
    std::string p = url_path_part(url);
    return p.substr(0, p.rfind('/') + 1);
}

void curl_init_once() {
    static bool done = false;
    if (!done) done = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

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
Result<std::optional<std::string>> fetch_small(const std::string& url, TransferReport& report) {
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
std::optional<std::string> find_sum(const std::string& sums, const std::string& file) {
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
std::optional<std::string> single_sum(const std::string& text) {
    if (text.size() < 64 || !is_sha256_hex(std::string_view(text).substr(0, 64))) return std::nullopt;
    if (text.size() > 64 && !std::isspace(static_cast<unsigned char>(text[64]))) return std::nullopt;
    return lower(text.substr(0, 64));
}

// `data` in a file of memory (nothing on disk to leave behind), read from its start.
Result<UniqueFd> memory_file(const char* name, const std::string& data) {
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
Status check_signature(const std::string& sums, const std::string& signature, const std::vector<std::string>& keyrings,
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

// ---- the download: a child process writing the image into a pipe ------------------------------------

// What the child tells the pull, in memory both share.
struct Outcome {
    int state;  // 0 running, 1 complete, 2 failed
    int code;   // errno value of the failure
    uint64_t bytes;
    char sha256[65];
    char message[1024];
};

struct Stream {
    CURL* curl = nullptr;
    std::string url;
    int out = -1;
    TransferReport* report = nullptr;
    Sha256 sha;
    uint64_t got = 0, total = 0;
    bool first_write = true, broken_pipe = false, not_resumed = false;
    long http_error = 0;
    // The headers of the response under way (reset at each status line: redirects), and what the first
    // one said (a resume goes on from it: If-Range).
    bool ranges = false;
    std::string etag, last_modified, validator;
    bool resumable = false;
};

std::string trimmed(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return std::string(v);
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
    auto* s = static_cast<Stream*>(ud);
    std::string_view h(p, size * n);
    if (h.rfind("HTTP/", 0) == 0) {
        s->ranges = false;
        s->etag.clear();
        s->last_modified.clear();
        return size * n;
    }
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name = lower(std::string(h.substr(0, colon)));
    std::string value = trimmed(h.substr(colon + 1));
    if (name == "accept-ranges") s->ranges = lower(value).find("bytes") != std::string::npos;
    else if (name == "etag") s->etag = value;
    else if (name == "last-modified") s->last_modified = value;
    return size * n;
}

size_t on_data(char* p, size_t size, size_t n, void* ud) {
    auto* s = static_cast<Stream*>(ud);
    size_t len = size * n;
    if (s->first_write) {
        s->first_write = false;
        long code = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 300) {
            s->http_error = code;
            return 0;
        }
        if (s->got > 0 && code != 206 && !is_file_url(s->url)) {
            s->not_resumed = true;
            return 0;
        }
        if (s->got == 0) {
            curl_off_t length = -1;
            curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
            s->total = length > 0 ? static_cast<uint64_t>(length) : 0;
            // A strong ETag, else the date: what a resume names in If-Range (never a weak ETag, RFC 9110).
            s->validator = !s->etag.empty() && s->etag.rfind("W/", 0) != 0 ? s->etag : s->last_modified;
            s->resumable = s->ranges && !s->validator.empty();
            s->report->info(s->total ? fmt::format("Downloading {} for {}.", size_text(s->total), s->url)
                                     : fmt::format("Downloading {}.", s->url));
        }
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = ::write(s->out, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->broken_pipe = true;  // the importer stopped reading: it failed, and says why
            return 0;
        }
        done += static_cast<size_t>(w);
    }
    s->sha.update(p, len);
    s->got += len;
    s->report->progress(detail::percent_of(s->got, s->total));
    return len;
}

bool transient(CURLcode res) {
    return res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR ||
           res == CURLE_OPERATION_TIMEDOUT || res == CURLE_GOT_NOTHING || res == CURLE_HTTP2_STREAM;
}

// Downloads `url` into `out`; the outcome in `o`. Runs in the child.
void download(const std::string& url, int out, int tries, TransferReport& report, Outcome& o) {
    auto fail = [&](int code, const std::string& message) {
        o.code = code;
        std::snprintf(o.message, sizeof o.message, "%s", message.c_str());
        o.state = 2;
    };
    Stream s;
    s.url = url;
    s.out = out;
    s.report = &report;
    for (int attempt = 0;; attempt++) {
        char errbuf[CURL_ERROR_SIZE];
        auto easy = make_easy(url, errbuf);
        if (!easy.ok()) return fail(easy.error().code, easy.error().message);
        CURL* c = easy->get();
        s.curl = c;
        s.first_write = true;
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
        if (s.got > 0) {
            curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(s.got));
            headers.reset(curl_slist_append(nullptr, ("If-Range: " + s.validator).c_str()));
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
        }
        bool resumed = s.got > 0;
        CURLcode res = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (s.broken_pipe) return fail(EPIPE, fmt::format("The import of {} stopped reading it", url));
        bool http = !is_file_url(url);
        if (s.http_error || (http && (code < 200 || code >= 300) && res == CURLE_OK) || code >= 400 || not_there(res, code)) {
            long shown = s.http_error ? s.http_error : code;
            return fail(not_there(res, shown) ? ENOENT : EPROTO,
                        shown ? fmt::format("HTTP request to {} failed with code {}.", url, shown)
                              : fmt::format("{} does not exist.", url));
        }
        // A resumed request must have been answered with the rest (206): a 200 whose length is what was
        // already there ends in libcurl as "already downloaded" without a byte written.
        if (res == CURLE_OK && http && resumed && code != 206) s.not_resumed = true;
        if (res == CURLE_OK && !s.not_resumed) {
            if (s.total && s.got != s.total)
                return fail(EIO, fmt::format("Download of {} ended after {} of {}", url, size_text(s.got), size_text(s.total)));
            break;
        }
        if (s.not_resumed || res == CURLE_RANGE_ERROR)
            return fail(ESTALE, fmt::format("Download of {} broke off after {} and could not be resumed: the file changed "
                                            "on the server, or the server cannot resume", url, size_text(s.got)));
        if (transient(res) && attempt < tries && (s.got == 0 || s.resumable)) {
            report.warning(fmt::format("Download of {} broke off after {} ({}); {} (try {} of {}).", url, size_text(s.got),
                                       curl_reason(res, errbuf), s.got ? "resuming" : "trying again", attempt + 1, tries));
            continue;
        }
        return fail(EIO, fmt::format("Download of {} failed after {}: {}", url, size_text(s.got), curl_reason(res, errbuf)));
    }
    report.info(fmt::format("Download of {} complete ({}).", url, size_text(s.got)));
    std::string hex = s.sha.hex();
    std::snprintf(o.sha256, sizeof o.sha256, "%s", hex.c_str());
    o.bytes = s.got;
    o.state = 1;
}

// The download child: started, and reaped (killed first when it still runs) whatever happens.
class Downloader {
public:
    static Result<Downloader> start(const std::string& url, int tries, int report_fd) {
        Downloader d;
        void* mem = ::mmap(nullptr, sizeof(Outcome), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return errno_error("Failed to map memory for the download");
        d.outcome_ = static_cast<Outcome*>(mem);
        *d.outcome_ = Outcome{};
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) return errno_error("Failed to create a pipe");
        d.read_.reset(p[0]);
        UniqueFd write_end(p[1]);
        pid_t parent = ::getpid();
        d.pid_ = ::fork();
        if (d.pid_ < 0) return errno_error("Failed to fork the download");
        // The outcome is the child's to write and ours to read: no process forked later (the extractor,
        // which runs on the archive's content) gets the page, so none can forge a checksum there.
        if (d.pid_ > 0 && ::madvise(d.outcome_, sizeof(Outcome), MADV_DONTFORK) < 0)
            return errno_error("Failed to keep the download's outcome from other processes");
        if (d.pid_ == 0) {
            // Gone with the pull (a canceled transfer's worker is killed).
            (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(1);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_IGN);
            d.read_.reset();
            TransferReport report(report_fd);
            download(url, write_end.get(), tries, report, *d.outcome_);
            ::_exit(d.outcome_->state == 1 ? 0 : 1);
        }
        return d;
    }

    Downloader(Downloader&& o) noexcept
        : read_(std::move(o.read_)), pid_(std::exchange(o.pid_, -1)), outcome_(std::exchange(o.outcome_, nullptr)) {}
    Downloader& operator=(Downloader&&) = delete;
    ~Downloader() {
        stop();
        if (outcome_) ::munmap(outcome_, sizeof(Outcome));
    }

    int fd() const { return read_.get(); }

    // What is left in the pipe read (the importer may stop at the archive's end, before the padding a tar
    // writer adds: the checksum is of every byte), and the child's end awaited.
    // More than kMaxTrailing after the importer is done, and the download is stopped (it fails then).
    void drain_and_wait() {
        char buf[65536];
        ssize_t n;
        uint64_t drained = 0;
        while (drained <= kMaxTrailing && ((n = ::read(read_.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
            drained += n > 0 ? static_cast<uint64_t>(n) : 0;
        if (drained > kMaxTrailing) stop();
        wait();
    }

    // Stops the download where it is (the importer failed): the pipe closed, the child killed and reaped.
    void stop() {
        read_.reset();
        if (pid_ > 0) ::kill(pid_, SIGKILL);
        wait();
    }

    const Outcome& outcome() const { return *outcome_; }

private:
    Downloader() = default;
    void wait() {
        if (pid_ <= 0) return;
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {}
        pid_ = -1;
    }

    UniqueFd read_;
    pid_t pid_ = -1;
    Outcome* outcome_ = nullptr;
};

enum class Kind { Tar, Raw };

Status pull(Kind kind, const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
            TransferReport& report, const SettingsDirs& settings) {
    if (!pull_url_valid(url, true)) return plain_error(fmt::format("URL {} is invalid", url), EINVAL);
    if (!image_name_valid(name)) return plain_error(fmt::format("Image name '{}' is invalid.", name), EINVAL);
    // Said before anything is downloaded (the import checks it again, under the name's lock).
    if (!options.import.force && find_image({pool}, name).ok())
        return plain_error(fmt::format("Image \"{}\" already exists", name), EEXIST);
    report.info(fmt::format("Pulling '{}', saving as '{}'.", url, name));
    BERTH_ASSIGN(std::optional<std::string> expected, expected_sum(url, options, report));

    BERTH_ASSIGN(Downloader download, Downloader::start(url, options.resume_tries, report.fd()));
    ImportOptions import = options.import;
    import.before_finish = [&]() -> Status {
        download.drain_and_wait();
        const Outcome& o = download.outcome();
        if (o.state == 0) return plain_error(fmt::format("The download of {} ended without a result (killed?)", url), EIO);
        if (o.state != 1) return plain_error(o.message, o.code);
        if (expected) {
            if (o.sha256 != *expected)
                return plain_error(fmt::format("DOWNLOAD INVALID: Checksum of {} file did not check out, file has been "
                                               "tampered with.", url_file(url)), EBADMSG);
            report.info(fmt::format("SHA256 checksum of {} is valid.", url));
        }
        return {};
    };
    Status made = kind == Kind::Tar ? import_tar(download.fd(), pool, name, import, report, settings)
                                    : import_raw(download.fd(), pool, name, import, report, settings);
    if (made.ok()) return {};
    // A download that failed ended the archive early (the pipe closes when the child exits, after it wrote
    // its outcome): its reason, not the importer's "truncated archive". One still running is stopped.
    download.stop();
    const Outcome& o = download.outcome();
    if (o.state == 2 && o.code != EPIPE) return plain_error(o.message, o.code);
    return made;
}

}  // namespace

std::optional<PullVerify> parse_pull_verify(const std::string& text) {
    if (text == "no") return PullVerify::No;
    if (text == "checksum") return PullVerify::Checksum;
    if (text == "signature" || text.empty()) return PullVerify::Signature;
    return std::nullopt;
}

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

std::string pull_local_name(const std::string& url, bool raw) {
    // As machinectl's (berth's and systemd's): one archive suffix, or every image and compression suffix.
    static constexpr std::string_view kTar[] = {".tar", ".tar.xz", ".tar.gz", ".tar.bz2", ".tar.zst", ".tgz", ".txz", ".tzst"};
    static constexpr std::string_view kRaw[] = {".xz", ".gz", ".bz2", ".zst", ".raw", ".qcow2", ".img", ".bin"};
    std::string path = url_path_part(url);
    size_t scheme = path.find("://");
    size_t host = scheme == std::string::npos ? 0 : scheme + 3;
    while (path.size() > host && path.back() == '/') path.pop_back();
    size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash < host) return "";  // no path: the host names no image
    std::string name = path.substr(slash + 1);
    auto ends = [&](std::string_view suffix) {
        return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (!raw) {
        for (std::string_view suffix : kTar)
            if (ends(suffix)) return name.substr(0, name.size() - suffix.size());
        return name;
    }
    for (bool stripped = true; stripped;) {
        stripped = false;
        for (std::string_view suffix : kRaw)
            if (ends(suffix)) {
                name.resize(name.size() - suffix.size());
                stripped = true;
                break;
            }
    }
    return name;
}

Status pull_tar(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings) {
    return pull(Kind::Tar, url, pool, name, options, report, settings);
}

Status pull_raw(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings) {
    return pull(Kind::Raw, url, pool, name, options, report, settings);
}

}  // namespace berth::images
