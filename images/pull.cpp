// Pulls (images/pull.hpp): the checksum and signature fetched and checked first (pull_fetch.cpp), then the
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
#include <cctype>
#include <cstring>
#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/fd.hpp"
#include "images/discovery.hpp"
#include "images/import_landing.hpp"
#include "images/pull_fetch.hpp"

namespace berth::images {

namespace {

using namespace detail;  // pull_fetch.hpp

// What may follow an archive's end (a tar writer's padding, for one) before a download is cut off.
constexpr uint64_t kMaxTrailing = 16u << 20;

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

Status pull_tar(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings) {
    return pull(Kind::Tar, url, pool, name, options, report, settings);
}

Status pull_raw(const std::string& url, const std::string& pool, const std::string& name, const PullOptions& options,
                TransferReport& report, const SettingsDirs& settings) {
    return pull(Kind::Raw, url, pool, name, options, report, settings);
}

}  // namespace berth::images
