// Errors are values: an errno plus a message a user can act on.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace berth {

struct Error {
    int code = 0;         // errno value, 0 when not from a syscall
    std::string message;  // names the thing and the reason

    std::string text() const { return message; }
};

// An error whose message ends with strerror(code): "Failed to mount /proc in machine "web": Permission denied".
inline Error sys_error(int code, std::string what) {
    return Error{code, fmt::format("{}: {}", what, std::strerror(code))};
}
inline Error errno_error(std::string what) { return sys_error(errno, std::move(what)); }
inline Error plain_error(std::string what, int code = EINVAL) { return Error{code, std::move(what)}; }
// `inner` seen from the caller's step: "Failed to bind /srv in machine "web": <inner message>", its errno
// kept (callers decide on it: EPIPE from a dead child, EWOULDBLOCK from a lock).
inline Error wrap_error(const Error& inner, std::string what) {
    return Error{inner.code, std::move(what) + ": " + inner.message};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T& operator*() & { return value(); }
    T* operator->() { return &value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error e) : err_(std::move(e)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return err_; }

private:
    Error err_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace berth

// Propagate an error from an expression returning Result/Status.
#define BERTH_TRY(expr)                                   \
    do {                                                  \
        auto berth_try_r_ = (expr);                       \
        if (!berth_try_r_.ok()) return berth_try_r_.error(); \
    } while (0)

#define BERTH_CONCAT_(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_(a, b)
#define BERTH_ASSIGN_(tmp, lhs, expr)            \
    auto tmp = (expr);                           \
    if (!tmp.ok()) return tmp.error();           \
    lhs = std::move(tmp).value()
// BERTH_ASSIGN(auto fd, open_thing());
#define BERTH_ASSIGN(lhs, expr) BERTH_ASSIGN_(BERTH_CONCAT(berth_assign_r_, __LINE__), lhs, expr)

// The same, with the caller's context before the inner message (see wrap_error); the format and its
// arguments are evaluated only on failure.
// BERTH_TRY_CTX(mount_proc(), "Failed to mount /proc in machine \"{}\"", name);
#define BERTH_TRY_CTX(expr, ...)                                                                            \
    do {                                                                                                    \
        auto berth_try_r_ = (expr);                                                                         \
        if (!berth_try_r_.ok()) return ::berth::wrap_error(berth_try_r_.error(), fmt::format(__VA_ARGS__)); \
    } while (0)

#define BERTH_ASSIGN_CTX_(tmp, lhs, expr, ...)                                        \
    auto tmp = (expr);                                                                \
    if (!tmp.ok()) return ::berth::wrap_error(tmp.error(), fmt::format(__VA_ARGS__)); \
    lhs = std::move(tmp).value()
// BERTH_ASSIGN_CTX(auto fd, open_thing(), "Failed to open {}", path);
#define BERTH_ASSIGN_CTX(lhs, expr, ...) \
    BERTH_ASSIGN_CTX_(BERTH_CONCAT(berth_assign_r_, __LINE__), lhs, expr, __VA_ARGS__)
