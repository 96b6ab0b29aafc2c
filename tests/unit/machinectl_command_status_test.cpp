// The status line machined writes for a command of machinectl shell, turned into our exit status.
#include <gtest/gtest.h>

#include <unistd.h>

#include "machinectl/command_status.hpp"

using namespace berth::machinectl;

TEST(MachinectlCommandStatus, ExitedIsTheExitStatus) {
    EXPECT_EQ(exit_code_of_status("exited 0\n", "web").value(), 0);
    EXPECT_EQ(exit_code_of_status("exited 3\n", "web").value(), 3);
    EXPECT_EQ(exit_code_of_status("exited 255\n", "web").value(), 255);
}

TEST(MachinectlCommandStatus, KilledOrDumpedIs128PlusTheSignal) {
    EXPECT_EQ(exit_code_of_status("killed 9\n", "web").value(), 137);
    EXPECT_EQ(exit_code_of_status("dumped 11\n", "web").value(), 139);
}

TEST(MachinectlCommandStatus, NoReportIsAnErrorNamingTheMachine) {
    auto r = exit_code_of_status("", "web");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "Failed to get the exit status of the command in machine \"web\": machined reported none (the machine "
              "or machined went away)");
}

TEST(MachinectlCommandStatus, MalformedReportsAreErrorsQuotingThem) {
    for (const char* bad : {"exited 256\n", "exited -1\n", "exited 1", "killed 0\n", "killed 65\n", "stopped 1\n",
                            "exited 1\nexited 2\n", "exited\n", "exited 1 \n"}) {
        auto r = exit_code_of_status(bad, "web");
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_NE(r.error().message.find("machined reported \""), std::string::npos) << r.error().message;
        }
    }
}

TEST(MachinectlCommandStatus, ReaderWaitsForTheEndOfThePipe) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    CommandStatusReader reader{berth::UniqueFd(p[0])};
    EXPECT_FALSE(reader.read_available()) << "nothing written yet";
    ASSERT_EQ(write(p[1], "exi", 3), 3);
    EXPECT_FALSE(reader.read_available()) << "a part of the line, pipe still open";
    ASSERT_EQ(write(p[1], "ted 7\n", 6), 6);
    close(p[1]);
    EXPECT_EQ(reader.wait_exit_code("web").value(), 7);
}
