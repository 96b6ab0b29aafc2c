// sd_notify towards whoever started nspawn ($NOTIFY_SOCKET): by default READY=1 as soon as the machine
// runs; with --notify-ready=yes only when the guest itself says READY=1 (systemd does once booted).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

// Our end of $NOTIFY_SOCKET: a datagram socket bound in the test's directory.
class NotifyListener {
public:
    explicit NotifyListener(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (fd_ < 0 || path.size() >= sizeof addr.sun_path) throw std::runtime_error("notify socket " + path);
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            throw std::runtime_error("bind " + path + ": " + std::strerror(errno));
    }
    ~NotifyListener() { ::close(fd_); }

    std::string env() const { return "NOTIFY_SOCKET=" + path_; }

    // Waits for a message with the line `assignment` (e.g. "READY=1"); false after `timeout`.
    bool wait_for(const std::string& assignment, Millis timeout) {
        auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (received(assignment)) return true;
            auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
            if (n >= 0) messages_.emplace_back(buf, n);
        }
    }
    bool received(const std::string& assignment) const {
        for (auto& m : messages_) {
            std::istringstream in(m);
            for (std::string line; std::getline(in, line);)
                if (line == assignment) return true;
        }
        return false;
    }
    std::string describe() const {
        std::string s = "\nnotify messages received:";
        for (auto& m : messages_) s += "\n  [" + m + "]";
        return s;
    }

private:
    std::string path_;
    int fd_ = -1;
    std::vector<std::string> messages_;
};

class Notify : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        listener_.emplace(tmp_ + "/notify");
    }
    std::optional<NotifyListener> listener_;  // in tmp_, which exists from SetUp on
};

TEST_F(Notify, ReadyIsSentOnceMachineRunsByDefault) {
    auto p = start_sh("exec sleep 1000", {}, {.env = {listener_->env()}, .timeout = 60s});
    EXPECT_TRUE(listener_->wait_for("READY=1", 10s)) << listener_->describe();
    EXPECT_TRUE(p.running()) << "READY=1 should come while the machine runs, not at its end";
}

TEST_F(Notify, NotifyReadyNoSendsReadyOnceMachineRuns) {
    auto p = start_sh("exec sleep 1000", {"--notify-ready=no"}, {.env = {listener_->env()}, .timeout = 60s});
    EXPECT_TRUE(listener_->wait_for("READY=1", 10s)) << listener_->describe();
    EXPECT_TRUE(p.running());
}

// A busybox guest never says READY=1, so with --notify-ready=yes nobody may say it for the guest.
TEST_F(Notify, NotifyReadyYesWaitsForGuestsReady) {
    auto p = start_sh("exec sleep 1000", {"--notify-ready=yes"}, {.env = {listener_->env()}, .timeout = 60s});
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    EXPECT_FALSE(listener_->wait_for("READY=1", 1s)) << "READY=1 sent before the guest was ready"
                                                     << listener_->describe();
    EXPECT_TRUE(p.running());
}

class NotifyDebian : public DebianTest {
protected:
    void SetUp() override {
        DebianTest::SetUp();
        listener_.emplace(tmp_ + "/notify");
    }
    std::optional<NotifyListener> listener_;
};

// systemd in the guest says READY=1 on /run/host/notify once its boot is done, which is after the probe
// unit (part of the boot transaction) has written its line.
TEST_F(NotifyDebian, NotifyReadyYesPassesOnGuestsReady) {
    write_file(probe_ + "/stay-up", "");
    auto p = start_nspawn(probe_args({"--notify-ready=yes"}), {.env = {listener_->env()}, .timeout = 100s});
    ASSERT_TRUE(listener_->wait_for("READY=1", 90s)) << listener_->describe() << p.wait(0ms).describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "READY=1 came before the guest finished booting";
    p.signal(SIGTERM);
    auto r = p.wait(60s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

}  // namespace
}  // namespace berth::test
