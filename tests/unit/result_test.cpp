// Errors are values: Result<T>, Status, and the BERTH_TRY / BERTH_ASSIGN propagation macros.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "common/fd.hpp"
#include "common/result.hpp"

using berth::Error;
using berth::errno_error;
using berth::plain_error;
using berth::Result;
using berth::Status;
using berth::sys_error;

static Status fail_with(int code, const char* msg) { return Error{code, msg}; }
static Status succeed() { return {}; }
static Result<int> number(bool ok) {
    if (!ok) return plain_error("no number", ERANGE);
    return 42;
}

static bool reached_after_try = false;

static Status try_then_continue(Status s) {
    reached_after_try = false;
    BERTH_TRY(s);
    reached_after_try = true;
    return {};
}

TEST(BerthTry, ReturnsTheFirstErrorUnchanged) {
    auto r = try_then_continue(fail_with(EACCES, "Failed to open /x: Permission denied"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EACCES);
    EXPECT_EQ(r.error().message, "Failed to open /x: Permission denied");
}

TEST(BerthTry, StopsAtTheError) {
    (void)try_then_continue(fail_with(EIO, "boom"));
    EXPECT_FALSE(reached_after_try);
}

TEST(BerthTry, ContinuesOnSuccess) {
    EXPECT_TRUE(try_then_continue(succeed()).ok());
    EXPECT_TRUE(reached_after_try);
}

static Status try_a_result(bool ok) {
    BERTH_TRY(number(ok));
    return {};
}

TEST(BerthTry, PropagatesAFailedResultIntoAStatus) {
    auto r = try_a_result(false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ERANGE);
    EXPECT_EQ(r.error().message, "no number");
}

TEST(BerthTry, EvaluatesTheExpressionOnce) {
    int calls = 0;
    auto f = [&]() -> Status {
        BERTH_TRY(([&]() -> Status { calls++; return {}; })());
        return {};
    };
    ASSERT_TRUE(f().ok());
    EXPECT_EQ(calls, 1);
}

static Result<int> double_it(bool ok) {
    BERTH_ASSIGN(int n, number(ok));
    return n * 2;
}

TEST(BerthAssign, AssignsTheValueOnSuccess) {
    auto r = double_it(true);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 84);
}

TEST(BerthAssign, ReturnsTheErrorOnFailure) {
    auto r = double_it(false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ERANGE);
    EXPECT_EQ(r.error().message, "no number");
}

static Result<int> sum_of_two() {
    BERTH_ASSIGN(int a, number(true));
    BERTH_ASSIGN(int b, number(true));
    return a + b;
}

TEST(BerthAssign, CanBeUsedTwiceInOneFunction) { EXPECT_EQ(sum_of_two().value(), 84); }

static Result<int> assign_existing(bool ok) {
    int n = 0;
    BERTH_ASSIGN(n, number(ok));
    return n;
}

TEST(BerthAssign, AssignsToAnExistingVariable) { EXPECT_EQ(assign_existing(true).value(), 42); }

static Result<std::unique_ptr<int>> make_ptr() { return std::make_unique<int>(7); }
static Result<int> deref_ptr() {
    BERTH_ASSIGN(auto p, make_ptr());
    return *p;
}

TEST(BerthAssign, MovesAMoveOnlyValue) { EXPECT_EQ(deref_ptr().value(), 7); }

TEST(Result, HoldsAMoveOnlyFd) {
    Result<berth::UniqueFd> r(berth::UniqueFd(-1));
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r->valid());
}

TEST(Status, DefaultIsSuccess) { EXPECT_TRUE(Status{}.ok()); }

TEST(SysError, EndsWithStrerror) {
    auto e = sys_error(ENOENT, "Failed to open /nope");
    EXPECT_EQ(e.code, ENOENT);
    EXPECT_EQ(e.message, std::string("Failed to open /nope: ") + std::strerror(ENOENT));
}

TEST(ErrnoError, TakesTheCurrentErrno) {
    errno = EPERM;
    auto e = errno_error("Failed to mount /proc in machine \"web\"");
    EXPECT_EQ(e.code, EPERM);
    EXPECT_EQ(e.message, std::string("Failed to mount /proc in machine \"web\": ") + std::strerror(EPERM));
}

TEST(PlainError, DefaultsToEINVALAndKeepsTheMessage) {
    auto e = plain_error("Machine name is empty");
    EXPECT_EQ(e.code, EINVAL);
    EXPECT_EQ(e.text(), "Machine name is empty");
}

// --- BERTH_TRY_CTX / BERTH_ASSIGN_CTX: the caller's context before the inner message, the code kept ---

static int formatted = 0;
static std::string counted(const char* what) {
    formatted++;
    return what;
}

static Status mount_in(const char* machine, Status inner) {
    BERTH_TRY_CTX(inner, "Failed to mount /proc in machine \"{}\" ({})", machine, counted("ctx"));
    return {};
}

static Result<int> doubled(bool ok) {
    BERTH_ASSIGN_CTX(int n, number(ok), "Failed to read the number of {}", "web");
    return n * 2;
}

TEST(BerthTryCtx, PutsTheContextBeforeTheInnerMessageAndKeepsTheCode) {
    auto s = mount_in("web", Error{EPERM, "Permission denied"});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EPERM);
    EXPECT_EQ(s.error().message, "Failed to mount /proc in machine \"web\" (ctx): Permission denied");
}

TEST(BerthTryCtx, FormatsNothingOnSuccess) {
    formatted = 0;
    EXPECT_TRUE(mount_in("web", {}).ok());
    EXPECT_EQ(formatted, 0);
}

TEST(BerthAssignCtx, AssignsOnSuccessAndWrapsOnFailure) {
    EXPECT_EQ(doubled(true).value(), 84);
    auto r = doubled(false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ERANGE);
    EXPECT_EQ(r.error().message, "Failed to read the number of web: no number");
}
