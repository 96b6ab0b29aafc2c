// The supervisor's channel to the machine's child: a child that failed and exited is reported by the
// error it sent, even when the supervisor notices while sending, not reading.
#include <gtest/gtest.h>

#include <cerrno>

#include "nspawn/sync.hpp"

using berth::Error;
using berth::nspawn::Channel;
using berth::nspawn::Stage;

TEST(Channel, SendToAPeerThatFailedReportsThePeersError) {
    auto pair = Channel::make_pair();
    ASSERT_TRUE(pair.ok());
    auto& [parent, child] = *pair;
    ASSERT_TRUE(child.send(Stage::NetworkNamespace).ok());
    ASSERT_TRUE(child.send_error(Error{EPERM, "Failed to create the network namespace of machine \"m\""}).ok());
    child.close();
    auto s = parent.send(Stage::RootMount);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EPERM);
    EXPECT_EQ(s.error().message, "Failed to create the network namespace of machine \"m\"");
}

TEST(Channel, SendToAPeerThatExitedSilentlyIsABrokenPipeNamingTheStage) {
    auto pair = Channel::make_pair();
    ASSERT_TRUE(pair.ok());
    auto& [parent, child] = *pair;
    child.close();
    auto s = parent.send(Stage::ParentConfigured);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EPIPE);
    EXPECT_NE(s.error().message.find("parent-configured"), std::string::npos) << s.error().message;
}

TEST(Channel, ExpectTurnsAFailedMessageIntoItsError) {
    auto pair = Channel::make_pair();
    ASSERT_TRUE(pair.ok());
    auto& [parent, child] = *pair;
    ASSERT_TRUE(child.send_error(Error{ENOSPC, "no room"}).ok());
    auto m = parent.expect(Stage::NetworkNamespace);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, ENOSPC);
    EXPECT_EQ(m.error().message, "no room");
}
