// images/pull.hpp: pulls from the test's own HTTP server on 127.0.0.1 (tests/http_server.hpp) into a
// scratch pool, with each verify mode (a signature made with a key generated for the test), a tampered
// download, a connection that drops midway, HTTP errors. Root: the imports keep owners and device nodes.
#include "images/pull.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "images/discovery.hpp"
#include "tests/http_server.hpp"
#include "tests/signing_key.hpp"
#include "tests/unit/transfer_tree.hpp"

namespace berth::images {
namespace {

using namespace transfer_test;

std::string message(const Status& s) { return s.ok() ? "ok" : s.error().message; }

// The pool's entries, hidden ones too: a failed pull leaves none.
std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

std::string sha256_of(const std::string& file) {
    std::string out;
    FILE* p = ::popen(fmt::format("sha256sum '{}'", file).c_str(), "r");
    char buf[65] = {};
    if (p && std::fread(buf, 1, 64, p) == 64) out.assign(buf, 64);
    if (p) ::pclose(p);
    return out;
}

// A shell command, quiet (its own redirections inside kept).
int run(const std::string& command) { return std::system(("{ " + command + "; } >/dev/null 2>&1").c_str()); }

class Pull : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "owners and device nodes need root";
        pool_ = s_.mkdir("pool");
        srv_ = s_.mkdir("srv");
        server_ = std::make_unique<test::HttpServer>(srv_);
    }
    void TearDown() override { server_.reset(); }

    // `tree` exported to srv/FILE (compressed as `format`); the archive's path.
    std::string publish_tree(const std::string& tree, const std::string& file, const std::string& format = "gzip") {
        std::string path = srv_ + "/" + file;
        Image i;
        i.name = "source";
        i.path = tree;
        auto out = open_out(path);
        TransferReport quiet;
        EXPECT_TRUE(export_tar(i, out.get(), format, quiet).ok());
        return path;
    }
    // A tree holding `text` in "marker" (and `random_bytes` of random data in "blob"), published.
    std::string publish_small(const std::string& file, const std::string& text, size_t random_bytes = 0) {
        std::string dir = s_.mkdir("tree-" + file);
        write_file(dir + "/marker", text, 0644);
        if (random_bytes) {
            std::string blob(random_bytes, '\0');
            std::mt19937_64 rng(42);
            for (auto& c : blob) c = static_cast<char>(rng());
            write_file(dir + "/blob", blob, 0600);
        }
        // Whole seconds, as the archive keeps them.
        struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
        for (const char* f : {"/marker", "/blob", ""}) ::utimensat(AT_FDCWD, (dir + f).c_str(), times, AT_SYMLINK_NOFOLLOW);
        publish_tree(dir, file);
        return dir;
    }
    void write_sums(const std::vector<std::string>& files) {
        std::string sums;
        for (auto& f : files) sums += sha256_of(srv_ + "/" + f) + "  " + f + "\n";
        write_file(srv_ + "/SHA256SUMS", sums, 0644);
    }
    // The SHA256SUMS published, signed with `key`.
    void sign_sums(const test::SigningKey& key) { ASSERT_TRUE(key.sign(srv_ + "/SHA256SUMS")); }
    Status pull(const std::string& file, const std::string& name, PullVerify verify, std::vector<std::string> keyrings = {}) {
        PullOptions o;
        o.verify = verify;
        o.keyrings = std::move(keyrings);
        return pull_tar(server_->url(file), pool_, name, o, report_, settings_);
    }
    long fetched(const std::string& target) {
        auto all = server_->requests();
        return std::count(all.begin(), all.end(), target);
    }
    std::string marker(const std::string& name) { return read_file(pool_ + "/" + name + "/marker"); }
    static std::string read_file(const std::string& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    Scratch s_;
    std::string pool_, srv_;
    std::unique_ptr<test::HttpServer> server_;
    SettingsDirs settings_;
    TransferReport report_;
};

TEST(PullNames, VerifyModesAreSystemds) {
    EXPECT_EQ(parse_pull_verify("no"), PullVerify::No);
    EXPECT_EQ(parse_pull_verify("checksum"), PullVerify::Checksum);
    EXPECT_EQ(parse_pull_verify("signature"), PullVerify::Signature);
    EXPECT_EQ(parse_pull_verify(""), PullVerify::Signature);
    EXPECT_EQ(parse_pull_verify("yes"), std::nullopt);
}

TEST(PullNames, UrlsAreHttpOrHttpsAndFileOnlyWhenAllowed) {
    EXPECT_TRUE(pull_url_valid("http://127.0.0.1:8080/a.tar", false));
    EXPECT_TRUE(pull_url_valid("https://example.org/d/a.raw.xz?x=1", false));
    EXPECT_FALSE(pull_url_valid("http:///a.tar", false));
    EXPECT_FALSE(pull_url_valid("http://", false));
    EXPECT_FALSE(pull_url_valid("ftp://example.org/a.tar", false));
    EXPECT_FALSE(pull_url_valid("http://example.org/a b.tar", false));
    EXPECT_FALSE(pull_url_valid("http://example.org/a\n.tar", false));
    EXPECT_FALSE(pull_url_valid("http://example.org/\xc3\xa9.tar", false));
    EXPECT_FALSE(pull_url_valid("file:///srv/a.tar", false));
    EXPECT_TRUE(pull_url_valid("file:///srv/a.tar", true));
    EXPECT_FALSE(pull_url_valid("file://host/a.tar", true));
}

TEST(PullNames, LocalNamesLoseTheirSuffixesAsMachinectlsDo) {
    EXPECT_EQ(pull_local_name("http://h/d/debian-12.tar.xz?x=1#f", false), "debian-12");
    EXPECT_EQ(pull_local_name("http://h/fedora.tgz", false), "fedora");
    EXPECT_EQ(pull_local_name("http://h/plain.tar", false), "plain");
    EXPECT_EQ(pull_local_name("http://h/disk.raw.xz", true), "disk");
    EXPECT_EQ(pull_local_name("http://h/disk.qcow2.gz", true), "disk");
    EXPECT_EQ(pull_local_name("http://h/dir/", false), "dir");
    EXPECT_EQ(pull_local_name("http://h/", false), "");
    EXPECT_EQ(pull_local_name("http://h", true), "");
    EXPECT_EQ(pull_local_name("http://h/a.tar.gz.tar", false), "a.tar.gz");
}

TEST_F(Pull, WithoutVerificationTheTreeArrivesWhole) {
    std::string src = s_.mkdir("rich");
    make_rich_tree(src);
    publish_tree(src, "rich.tar.zst", "zstd");
    ASSERT_TRUE(pull("rich.tar.zst", "rich", PullVerify::No).ok());
    EXPECT_EQ(compare_trees(src, pool_ + "/rich"), "");
    EXPECT_EQ(server_->requests(), std::vector<std::string>{"/rich.tar.zst"});
}

TEST_F(Pull, AChecksumFromSha256SumsIsCheckedAfterTheImageHasNoSha256File) {
    publish_small("img.tar.gz", "one");
    write_sums({"img.tar.gz"});
    Status s = pull("img.tar.gz", "img", PullVerify::Checksum);
    ASSERT_TRUE(s.ok()) << message(s);
    EXPECT_EQ(marker("img"), "one");
    EXPECT_EQ(server_->requests(), (std::vector<std::string>{"/img.tar.gz.sha256", "/SHA256SUMS", "/img.tar.gz"}));
}

TEST_F(Pull, TheImagesOwnSha256FileComesFirst) {
    publish_small("img.tar.gz", "two");
    write_file(srv_ + "/img.tar.gz.sha256", sha256_of(srv_ + "/img.tar.gz") + "\n", 0644);
    ASSERT_TRUE(pull("img.tar.gz", "img", PullVerify::Checksum).ok());
    EXPECT_EQ(server_->requests(), (std::vector<std::string>{"/img.tar.gz.sha256", "/img.tar.gz"}));
}

TEST_F(Pull, ATamperedDownloadIsRefusedAndLeavesNothing) {
    publish_small("img.tar.gz", "genuine");
    write_sums({"img.tar.gz"});
    publish_small("img.tar.gz", "tampered");  // a valid archive, not the one the sums name
    Status s = pull("img.tar.gz", "img", PullVerify::Checksum);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EBADMSG) << message(s);
    EXPECT_NE(message(s).find("Checksum of img.tar.gz file did not check out"), std::string::npos) << message(s);
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, AnImageTheSumsDoNotListIsRefusedBeforeItIsDownloaded) {
    publish_small("img.tar.gz", "x");
    write_file(srv_ + "/SHA256SUMS", std::string(64, 'a') + "  other.tar.gz\n", 0644);
    Status s = pull("img.tar.gz", "img", PullVerify::Checksum);
    EXPECT_EQ(s.ok() ? 0 : s.error().code, EBADMSG) << message(s);
    EXPECT_EQ(fetched("/img.tar.gz"), 0);
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, NoChecksumToBeHadFailsBeforeTheDownload) {
    publish_small("img.tar.gz", "x");
    Status s = pull("img.tar.gz", "img", PullVerify::Checksum);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(message(s).find("Failed to retrieve SHA256 checksum, cannot verify. (Try --verify=no?)"), std::string::npos);
    EXPECT_EQ(server_->requests(), (std::vector<std::string>{"/img.tar.gz.sha256", "/SHA256SUMS"}));
}

TEST_F(Pull, ASignatureByAKeyOfTheKeyringPasses) {
    test::SigningKey key(s_ / "gnupg", "good");
    publish_small("img.tar.xz", "signed");
    write_sums({"img.tar.xz"});
    sign_sums(key);
    Status s = pull("img.tar.xz", "img", PullVerify::Signature, {s_ / "absent.gpg", key.keyring()});
    ASSERT_TRUE(s.ok()) << message(s);
    EXPECT_EQ(marker("img"), "signed");
    EXPECT_EQ(server_->requests(), (std::vector<std::string>{"/SHA256SUMS", "/SHA256SUMS.gpg", "/img.tar.xz"}));
}

TEST_F(Pull, ASignatureByAnotherKeyIsRefusedBeforeTheDownload) {
    test::SigningKey other(s_ / "gnupg-other", "other"), signer(s_ / "gnupg-signer", "signer");
    publish_small("img.tar.xz", "x");
    write_sums({"img.tar.xz"});
    sign_sums(signer);
    Status s = pull("img.tar.xz", "img", PullVerify::Signature, {other.keyring()});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EBADMSG) << message(s);
    EXPECT_NE(message(s).find("Signature of " + server_->url("SHA256SUMS") + " did not check out"), std::string::npos)
        << message(s);
    EXPECT_EQ(fetched("/img.tar.xz"), 0);
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, SumsChangedAfterSigningAreRefused) {
    test::SigningKey key(s_ / "gnupg", "k");
    publish_small("img.tar.gz", "x");
    write_sums({"img.tar.gz"});
    sign_sums(key);
    write_sums({"img.tar.gz", "img.tar.gz"});  // the same sums twice: not the bytes that were signed
    Status s = pull("img.tar.gz", "img", PullVerify::Signature, {key.keyring()});
    EXPECT_EQ(s.ok() ? 0 : s.error().code, EBADMSG) << message(s);
}

TEST_F(Pull, NoSignatureFileOrNoKeyringFailsClearly) {
    publish_small("img.tar.gz", "x");
    write_sums({"img.tar.gz"});
    Status s = pull("img.tar.gz", "img", PullVerify::Signature, {s_ / "absent.gpg"});
    EXPECT_NE(message(s).find("Failed to retrieve signature file, cannot verify. (Try --verify=no?)"), std::string::npos)
        << message(s);
    write_file(srv_ + "/SHA256SUMS.gpg", "not a signature", 0644);
    s = pull("img.tar.gz", "img", PullVerify::Signature, {s_ / "absent.gpg"});
    EXPECT_NE(message(s).find("No keyring to check the signature of"), std::string::npos) << message(s);
    EXPECT_NE(message(s).find(s_ / "absent.gpg"), std::string::npos) << message(s);
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, ADroppedConnectionIsResumedWhereItBroke) {
    std::string src = publish_small("img.tar.gz", "resumed", 3 << 20);
    write_sums({"img.tar.gz"});
    server_->drop_after("img.tar.gz", 200000, 2);
    ReportPipe lines;
    PullOptions o;
    o.verify = PullVerify::Checksum;
    Status s = pull_tar(server_->url("img.tar.gz"), pool_, "img", o, lines.report, settings_);
    ASSERT_TRUE(s.ok()) << message(s);
    EXPECT_EQ(compare_trees(src, pool_ + "/img"), "");
    auto ranges = server_->ranges();
    ASSERT_EQ(ranges.size(), 5u);  // .sha256, SHA256SUMS, the image, then twice resumed
    EXPECT_EQ(ranges[2], "");
    EXPECT_EQ(ranges[3], "bytes=200000-");
    EXPECT_EQ(ranges[4], "bytes=400000-");
    auto said = lines.lines();
    EXPECT_EQ(std::count_if(said.begin(), said.end(), [](const std::string& l) { return l.find("resuming") != std::string::npos; }), 2);
    // Progress rose on the way and ended at 100.
    std::vector<unsigned> progress;
    for (auto& l : said)
        if (l.rfind("P ", 0) == 0) progress.push_back(static_cast<unsigned>(std::stoul(l.substr(2))));
    ASSERT_FALSE(progress.empty());
    EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
    EXPECT_GT(std::count_if(progress.begin(), progress.end(), [](unsigned p) { return p > 0 && p < 100; }), 3);
    EXPECT_EQ(progress.back(), 100u);
}

TEST_F(Pull, ADroppedConnectionAServerCannotResumeFailsAndLeavesNothing) {
    publish_small("img.tar.gz", "x", 1 << 20);
    server_->set_ranges(false);
    server_->drop_after("img.tar.gz", 100000, 1);
    Status s = pull("img.tar.gz", "img", PullVerify::No);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(message(s).find("Download of " + server_->url("img.tar.gz") + " failed after"), std::string::npos) << message(s);
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, AnHttpErrorNamesTheUrlAndTheCode) {
    Status s = pull("missing.tar.gz", "img", PullVerify::No);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(message(s), "HTTP request to " + server_->url("missing.tar.gz") + " failed with code 404.");
    EXPECT_EQ(entries(pool_), std::vector<std::string>{});
}

TEST_F(Pull, ATakenNameIsRefusedBeforeAnythingIsFetched) {
    publish_small("img.tar.gz", "old");
    ASSERT_TRUE(pull("img.tar.gz", "img", PullVerify::No).ok());
    publish_small("img.tar.gz", "new");
    Status s = pull("img.tar.gz", "img", PullVerify::No);
    EXPECT_EQ(s.ok() ? 0 : s.error().code, EEXIST);
    EXPECT_EQ(server_->requests().size(), 1u);
    PullOptions o;
    o.verify = PullVerify::No;
    o.import.force = true;
    ASSERT_TRUE(pull_tar(server_->url("img.tar.gz"), pool_, "img", o, report_, settings_).ok());
    EXPECT_EQ(marker("img"), "new");
}

TEST_F(Pull, ARawImageArrivesAsTheSameSparseFile) {
    std::string raw = s_ / "disk.raw";
    {
        UniqueFd fd(::open(raw.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
        ASSERT_EQ(::pwrite(fd.get(), "head", 4, 0), 4);
        ASSERT_EQ(::pwrite(fd.get(), "tail", 4, (64 << 20) - 4), 4);
    }
    ASSERT_EQ(run(fmt::format("xz -T1 -c '{}' > '{}/disk.raw.xz'", raw, srv_)), 0);
    write_sums({"disk.raw.xz"});
    PullOptions o;
    o.verify = PullVerify::Checksum;
    Status s = pull_raw(server_->url("disk.raw.xz"), pool_, "disk", o, report_, settings_);
    ASSERT_TRUE(s.ok()) << message(s);
    struct stat st {};
    ASSERT_EQ(::stat((pool_ + "/disk.raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 64 << 20);
    EXPECT_TRUE(same_content(raw, pool_ + "/disk.raw", st.st_size));
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the zeros became holes";
}

TEST_F(Pull, BadUrlsAndNamesAreRefused) {
    PullOptions o;
    o.verify = PullVerify::No;
    Status s = pull_tar("gopher://127.0.0.1/x.tar", pool_, "img", o, report_, settings_);
    EXPECT_EQ(message(s), "URL gopher://127.0.0.1/x.tar is invalid");
    s = pull_tar(server_->url("x.tar"), pool_, "../img", o, report_, settings_);
    EXPECT_EQ(s.ok() ? 0 : s.error().code, EINVAL);
    EXPECT_TRUE(server_->requests().empty());
}

}  // namespace
}  // namespace berth::images
