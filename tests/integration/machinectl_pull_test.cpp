// Pulls through org.freedesktop.import1, which machined serves, from the test's own HTTP server on
// 127.0.0.1 (no other address is ever contacted): systemd's machinectl and ours pull tar and raw images
// with each verify mode (a signature by a key made for the test, in the keyring machined.toml names); a
// tampered download, a missing signature and an HTTP error are refused and leave nothing in the pool; a
// running pull is listed with its URL, refused a second time, canceled leaving nothing; bad arguments and
// unprivileged callers are refused.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include <sdbus-c++/sdbus-c++.h>

#include "tests/http_server.hpp"
#include "tests/integration/machinectl_fixture.hpp"
#include "tests/signing_key.hpp"

namespace berth::test {
namespace {

class MachinectlPull : public MachinectlTest {
protected:
    void SetUp() override {
        MachinectlTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        srv_ = tmp_ + "/srv";
        make_dirs(srv_);
        server_.emplace(srv_);
        key_.emplace(tmp_ + "/gnupg", "publisher");
        // machined checks signatures with the test's keyring, never the host's.
        stop_machined();
        start_machined("import_keyrings = [\"" + key_->keyring() + "\"]");
    }
    void TearDown() override {
        server_.reset();
        key_.reset();
        MachinectlTest::TearDown();
    }

    // A small tree (a marker file holding `text`, a directory, a symlink), published as srv/FILE with GNU
    // tar (compressed as its suffix says); SHA256SUMS lists it, signed.
    void publish(const std::string& file, const std::string& text) {
        std::string tree = tmp_ + "/tree-" + text;
        make_dirs(tree + "/etc");
        write_file(tree + "/etc/marker", text);
        ASSERT_EQ(::symlink("etc/marker", (tree + "/marker-link").c_str()), 0);
        auto r = run("/usr/bin/tar", {"--numeric-owner", "-a", "-C", tree, "-cf", srv_ + "/" + file, "."});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        sums_and_signature({file});
    }
    void sums_and_signature(const std::vector<std::string>& files) {
        std::string sums;
        for (auto& f : files) {
            auto r = run("/usr/bin/sha256sum", {srv_ + "/" + f});
            ASSERT_TRUE(r.exited(0)) << r.describe();
            sums += r.out.substr(0, 64) + "  " + f + "\n";
        }
        write_file(srv_ + "/SHA256SUMS", sums);
        ASSERT_TRUE(key_->sign(srv_ + "/SHA256SUMS"));
    }
    std::string marker(const std::string& image) const { return read_file(pool_ + "/" + image + "/etc/marker"); }
    void expect_pool(const std::vector<std::string>& names) const {
        EXPECT_TRUE(eventually([&] { return list_dir(pool_) == names; })) << "pool: " << testing::PrintToString(list_dir(pool_));
    }
    long fetched(const std::string& target) const {
        auto all = server_->requests();
        return std::count(all.begin(), all.end(), target);
    }

    std::string srv_;
    std::optional<HttpServer> server_;
    std::optional<SigningKey> key_;
};

TEST_F(MachinectlPull, SystemdsMachinectlPullsTarAndRawThroughUs) {
    ASSERT_TRUE(have_systemd_machinectl()) << "systemd-container's machinectl is needed";
    publish("web.tar.gz", "from-systemd");
    // Its default is --verify=signature: the name comes from the URL.
    auto r = systemd_machinectl({"pull-tar", server_->url("web.tar.gz")});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(marker("web"), "from-systemd");
    EXPECT_EQ(fetched("/SHA256SUMS.gpg"), 1);
    EXPECT_NE(systemd_machinectl({"list-images"}).out.find("web"), std::string::npos);

    std::string raw = srv_ + "/disk.raw";
    write_file(raw, std::string(1 << 20, 'r'));
    ASSERT_TRUE(run("/usr/bin/xz", {"-T1", raw}).exited(0));
    sums_and_signature({"disk.raw.xz"});
    r = systemd_machinectl({"pull-raw", "--verify=checksum", server_->url("disk.raw.xz"), "disk"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(pool_ + "/disk.raw"), std::string(1 << 20, 'r'));
    expect_pool({"disk.raw", "web"});
}

TEST_F(MachinectlPull, OursPullsWithEachVerifyModeAndRefusesWhatDoesNotCheckOut) {
    publish("img.tar.xz", "one");
    for (const char* mode : {"no", "checksum", "signature"}) {
        std::string name = std::string("img-") + mode;
        auto r = machinectl({"pull-tar", std::string("--verify=") + mode, server_->url("img.tar.xz"), name});
        ASSERT_TRUE(r.exited(0)) << mode << ": " << r.describe();
        EXPECT_EQ(marker(name), "one");
    }
    // Another archive where the signed sums name the first: refused, nothing left.
    std::string genuine = read_file(srv_ + "/SHA256SUMS");
    publish("img.tar.xz", "two");
    write_file(srv_ + "/SHA256SUMS", genuine);
    ASSERT_TRUE(key_->sign(srv_ + "/SHA256SUMS"));
    auto r = machinectl({"pull-tar", server_->url("img.tar.xz"), "tampered"});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("DOWNLOAD INVALID: Checksum of img.tar.xz file did not check out"), std::string::npos) << r.describe();
    // Sums signed by nobody the keyring knows.
    SigningKey stranger(tmp_ + "/gnupg-stranger", "stranger");
    ASSERT_TRUE(stranger.sign(srv_ + "/SHA256SUMS"));
    r = machinectl({"pull-tar", server_->url("img.tar.xz"), "unsigned"});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("Signature of " + server_->url("SHA256SUMS") + " did not check out"), std::string::npos)
        << r.describe();
    // Nothing at that address.
    r = machinectl({"pull-tar", "--verify=no", server_->url("missing.tar"), "missing"});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("HTTP request to " + server_->url("missing.tar") + " failed with code 404."), std::string::npos)
        << r.describe();
    expect_pool({"img-checksum", "img-no", "img-signature"});
}

TEST_F(MachinectlPull, ARunningPullIsListedRefusedTwiceAndCanceledLeavingNothing) {
    std::string big = tmp_ + "/big";
    make_dirs(big);
    write_file(big + "/blob", std::string(16 << 20, 'b'));
    ASSERT_TRUE(run("/usr/bin/tar", {"-C", big, "-cf", srv_ + "/big.tar", "."}).exited(0));
    server_->set_pause(std::chrono::milliseconds(20));  // 64 KiB every 20 ms: some seconds for 16 MiB
    std::string url = server_->url("big.tar");
    Process pulling = Process::start(machinectl_path(), {"pull-tar", "--verify=no", url, "slow"},
                                     {.env = {bus_->env()}, .timeout = 120s});
    ASSERT_TRUE(eventually([&] { return machinectl({"list-transfers", "--no-legend"}).out.find("slow") != std::string::npos; }));
    auto ours = machinectl({"list-transfers"});
    EXPECT_TRUE(std::regex_search(ours.out, std::regex(R"(ID +PERCENT +TYPE +LOCAL +REMOTE +\n +1 +\d+% +pull-tar +slow +http)")))
        << ours.out;
    EXPECT_NE(ours.out.find("slow  " + url + "\n"), std::string::npos) << ours.out;
    if (have_systemd_machinectl()) {
        // The same table but the percentage, which moves meanwhile.
        auto percent = [](const std::string& t) { return std::regex_replace(t, std::regex(R"( +\d+% )"), " N% "); };
        EXPECT_EQ(percent(ours.out), percent(systemd_machinectl({"list-transfers"}).out));
    }
    auto verify = busctl({"get-property", "org.freedesktop.import1", "/org/freedesktop/import1/transfer/_1",
                          "org.freedesktop.import1.Transfer", "Verify"});
    EXPECT_EQ(verify.out, "s \"no\"\n") << verify.describe();
    // The same URL again while it runs: refused, as systemd-importd does.
    auto again = busctl({"call", "org.freedesktop.import1", "/org/freedesktop/import1", "org.freedesktop.import1.Manager",
                         "PullTar", "sssb", url.c_str(), "other", "no", "false"});
    EXPECT_FALSE(again.exited(0));
    EXPECT_NE(again.err.find("Transfer for " + url + " already in progress."), std::string::npos) << again.describe();
    ASSERT_TRUE(machinectl({"cancel-transfer", "1"}).exited(0));
    auto r = pulling.wait(60s);
    EXPECT_FALSE(r.exited(0)) << r.describe();
    EXPECT_NE(r.err.find("canceled"), std::string::npos) << r.describe();
    expect_pool({});
    EXPECT_EQ(machinectl({"list-transfers"}).out, "No transfers.\n");
}

TEST_F(MachinectlPull, BadArgumentsAndUnprivilegedCallersAreRefused) {
    auto call = [&](const std::string& url, const std::string& local, const std::string& verify) {
        return busctl({"call", "org.freedesktop.import1", "/org/freedesktop/import1", "org.freedesktop.import1.Manager",
                       "PullTar", "sssb", url.c_str(), local.c_str(), verify.c_str(), "false"});
    };
    auto r = call("ftp://127.0.0.1/x.tar", "x", "no");
    EXPECT_NE(r.err.find("URL ftp://127.0.0.1/x.tar is invalid"), std::string::npos) << r.describe();
    r = call(server_->url("x.tar"), "x", "maybe");
    EXPECT_NE(r.err.find("Unknown verification mode maybe"), std::string::npos) << r.describe();
    r = call(server_->url("x.tar"), "../x", "no");
    EXPECT_NE(r.err.find("Local name ../x is invalid"), std::string::npos) << r.describe();
    r = machinectl({"pull-tar", "--verify=maybe", server_->url("x.tar")});
    EXPECT_NE(r.err.find("Failed to parse --verify= setting: maybe"), std::string::npos) << r.describe();
    r = machinectl({"pull-tar", "ftp://127.0.0.1/x.tar"});
    EXPECT_NE(r.err.find("URL 'ftp://127.0.0.1/x.tar' is not valid."), std::string::npos) << r.describe();

    auto pull = [&](const std::string& url) {
        return [url](sdbus::IProxy& p) {
            p.callMethod("PullTar").onInterface("org.freedesktop.import1.Manager")
                .withArguments(url, std::string("x"), std::string("no"), false);
        };
    };
    EXPECT_EQ(bus_error_of(pull(server_->url("x.tar")), true, "/org/freedesktop/import1"),
              "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(bus_error_of(pull("file:///etc/shadow"), true, "/org/freedesktop/import1"),
              "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_TRUE(server_->requests().empty());
    expect_pool({});
}

}  // namespace
}  // namespace berth::test
