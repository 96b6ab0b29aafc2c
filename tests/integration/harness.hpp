// Test harness for the integration tests: run programs without a shell in between, look at the host.
// It treats nspawn as a black box on purpose and shares no code with it, so a bug in berth's own
// helpers cannot hide the same bug in the tests.
#pragma once

#include <sys/types.h>
#include <termios.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::test {

// Built with AddressSanitizer (tests/sanitize.sh): a program's memory figures (RSS, peak) then measure the
// sanitizer's shadow memory and its quarantine of freed blocks, not berth's use. The assertions on them
// hold in the normal build; the sanitizer build checks everything else those tests assert.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kMemoryFiguresMeaningful = false;
#else
inline constexpr bool kMemoryFiguresMeaningful = true;
#endif

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// Where things are: compiled in by tests/integration/CMakeLists.txt.
std::string nspawn_path();
std::string fixtures_dir();
// The cached Debian rootfs test.sh builds; BERTH_DEBIAN_ROOTFS overrides it.
std::string debian_rootfs();

struct RunOptions {
    std::optional<std::string> input;          // standard input; /dev/null when unset
    std::vector<std::string> env;              // "VAR=VALUE" added to the inherited environment (replacing VAR)
    Millis timeout = 30s;                      // then SIGTERM, and SIGKILL if that does not help
    // A terminal (a Pty's slave) for stdin, stdout and stderr, made the controlling terminal of a new
    // session, as a shell would start the program; output then goes to the terminal, not to RunResult.
    int tty = -1;
    // Descriptors passed on without close-on-exec: {number in the program, our descriptor}.
    std::vector<std::pair<int, int>> inherit_fds;
};

struct RunResult {
    int exit_code = -1;    // when it exited
    int term_signal = 0;   // when a signal killed it
    bool timed_out = false;
    std::string out, err;

    bool exited(int code) const { return !timed_out && term_signal == 0 && exit_code == code; }
    // Everything a failing assertion should show.
    std::string describe() const;
};

// A started program. Output goes to memory files, not pipes, so a quiet reader never blocks it and a
// grandchild that keeps the descriptor open never makes us wait for EOF.
class Process {
public:
    static Process start(const std::string& path, const std::vector<std::string>& args, const RunOptions& opts = {});
    Process(Process&& other) noexcept;
    Process& operator=(Process&&) = delete;
    ~Process();  // stops it (SIGTERM, then SIGKILL) if it still runs, so a failed test leaves no orphan

    pid_t pid() const { return pid_; }
    bool running() const;
    void signal(int sig) const;
    // Waits for exit; on timeout SIGTERM, 5 s grace, SIGKILL, and the result says timed_out.
    RunResult wait(Millis timeout);

private:
    Process() = default;
    pid_t pid_ = -1;
    int pidfd_ = -1, out_ = -1, err_ = -1;
    bool reaped_ = false;
    Millis timeout_{};
};

RunResult run(const std::string& path, const std::vector<std::string>& args, const RunOptions& opts = {});

// A pseudo-terminal: the program gets the slave (RunOptions::tty), the test types into and reads from
// the master. Opened 80x24 with the kernel's default (cooked, echoing) settings.
class Pty {
public:
    Pty();
    ~Pty();
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;

    int slave() const { return slave_; }
    void type(const std::string& keys) const;
    // Reads what the program wrote until `needle` shows up in it (true) or `timeout` passes (false).
    bool wait_for(const std::string& needle, Millis timeout);
    // Reads whatever arrives within `duration`.
    void drain(Millis duration);
    const std::string& output() const { return output_; }  // everything read so far
    void clear_output() { output_.clear(); }
    termios attrs() const;
    void set_size(unsigned short rows, unsigned short cols) const;

private:
    void read_available(Millis wait);
    int master_ = -1, slave_ = -1;
    std::string output_;
};
bool same_terminal_settings(const termios& a, const termios& b);

// Files.
std::string read_file(const std::string& path);  // "" when missing
void write_file(const std::string& path, const std::string& text);
bool exists(const std::string& path);            // lstat, so dangling symlinks count
std::string read_link(const std::string& path);  // "" when not a symlink
void make_dirs(const std::string& path);
std::vector<std::string> list_dir(const std::string& path);  // names, sorted; empty when missing
// Recursive description of a tree (type, mode, size, mtime, link target per path), to prove it unchanged.
std::map<std::string, std::string> tree_snapshot(const std::string& root);
std::string make_temp_dir();          // 0755 directory under /tmp
void remove_tree(const std::string&);  // never crosses into another filesystem
bool wait_for_file(const std::string& path, const Process& owner, Millis timeout);
std::string trim(std::string s);      // without trailing newlines

// Host state a machine must not leave behind.
std::vector<std::string> mount_points();  // from /proc/self/mountinfo, sorted, duplicates kept
std::string cgroup2_root();               // /sys/fs/cgroup or /sys/fs/cgroup/unified (statfs magic)
std::vector<std::string> cgroup_dirs();   // every directory in the cgroup v2 tree and name=systemd v1 tree
std::vector<std::string> run_berth_entries();  // everything below /run/berth, relative to it
// Whether a cgroup or /run/berth entry belongs to a machine that is still running (someone else's, when
// the caller's own machines are all stopped): a cgroup with processes whose path does not carry
// `own_id`, or a file that is locked (or a directory with a locked file below it), or the staging
// directory of a machine whose lock is held (and /run/berth/root while one is).
bool held_by_live_machine(const std::string& path, const std::string& own_id);

// Processes.
// Runs `fn` in a forked child (to change its credentials or namespaces, not ours) and returns the text
// it returned, "" when the child died before it said anything.
std::string text_from_child(const std::function<std::string()>& fn);
std::vector<pid_t> descendants(pid_t pid);
// The host pid of the machine's PID 1 among nspawn's descendants (NSpid ends in 1), or -1.
pid_t guest_pid1(pid_t nspawn_pid);
// Whether the process is gone or a zombie (dead, not yet reaped by whoever inherited it).
bool process_dead(pid_t pid);
// The process's cgroup in the unified hierarchy ("0::/a/b" -> "/a/b"), "" when unknown.
std::string unified_cgroup_of(pid_t pid);
// How many BPF device programs are attached to the cgroup directory `dir` itself (BPF_PROG_QUERY), -1
// when the kernel cannot say.
int device_programs(const std::string& dir);

}  // namespace berth::test
