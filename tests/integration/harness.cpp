#include "tests/integration/harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace berth::test {

std::string nspawn_path() { return BERTH_NSPAWN; }
std::string fixtures_dir() { return BERTH_FIXTURES; }
std::string debian_rootfs() {
    const char* env = std::getenv("BERTH_DEBIAN_ROOTFS");
    return env && *env ? env : BERTH_DEBIAN_CACHE;
}

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

int memfd(const char* name) {
    int fd = ::memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) fail("memfd_create");
    return fd;
}

std::string slurp_fd(int fd) {
    std::string s;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n <= 0) break;
        s.append(buf, n);
        off += n;
    }
    return s;
}

}  // namespace

std::string RunResult::describe() const {
    std::ostringstream o;
    if (timed_out) o << "timed out; ";
    if (term_signal) o << "killed by signal " << term_signal << " (" << strsignal(term_signal) << ")";
    else o << "exit status " << exit_code;
    o << "\n--- stdout ---\n" << out << "\n--- stderr ---\n" << err << "\n---";
    return o.str();
}

Process Process::start(const std::string& path, const std::vector<std::string>& args, const RunOptions& opts) {
    Process p;
    p.out_ = memfd("stdout");
    p.err_ = memfd("stderr");
    int in;
    if (opts.input) {
        in = memfd("stdin");
        if (::write(in, opts.input->data(), opts.input->size()) != static_cast<ssize_t>(opts.input->size()))
            fail("write stdin");
        ::lseek(in, 0, SEEK_SET);
    } else {
        in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }

    // Everything execv needs is built before fork: the child only calls async-signal-safe functions.
    std::vector<std::string> env_store;
    for (char** e = environ; *e; e++) env_store.emplace_back(*e);
    for (auto& kv : opts.env) {
        std::string name = kv.substr(0, kv.find('=') + 1);
        std::erase_if(env_store, [&](const std::string& e) { return e.rfind(name, 0) == 0; });
        env_store.push_back(kv);
    }
    std::vector<char*> argv{const_cast<char*>(path.c_str())}, envp;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = ::fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        if (opts.tty >= 0) {
            ::setsid();
            ::ioctl(opts.tty, TIOCSCTTY, 0);
            for (int i = 0; i < 3; i++) ::dup2(opts.tty, i);
        } else {
            ::dup2(in, 0);
            ::dup2(p.out_, 1);
            ::dup2(p.err_, 2);
        }
        for (auto [child_fd, our_fd] : opts.inherit_fds) {
            if (child_fd == our_fd) ::fcntl(child_fd, F_SETFD, 0);
            else ::dup2(our_fd, child_fd);
        }
        ::execve(path.c_str(), argv.data(), envp.data());
        const char msg[] = "harness: execve failed\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    ::close(in);
    p.pid_ = pid;
    p.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (p.pidfd_ < 0) fail("pidfd_open");
    p.timeout_ = opts.timeout;
    return p;
}

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), pidfd_(o.pidfd_), out_(o.out_), err_(o.err_), reaped_(o.reaped_), timeout_(o.timeout_) {
    o.pid_ = -1;
    o.pidfd_ = o.out_ = o.err_ = -1;
}

Process::~Process() {
    if (pid_ > 0 && !reaped_) wait(0ms);
    for (int fd : {pidfd_, out_, err_})
        if (fd >= 0) ::close(fd);
}

bool Process::running() const {
    if (reaped_) return false;
    pollfd p{pidfd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
}

void Process::signal(int sig) const {
    if (!reaped_) ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
}

RunResult Process::wait(Millis timeout) {
    RunResult r;
    auto wait_exit = [&](Millis t) {
        pollfd p{pidfd_, POLLIN, 0};
        int n;
        do n = ::poll(&p, 1, static_cast<int>(t.count()));
        while (n < 0 && errno == EINTR);
        return n > 0;
    };
    if (!wait_exit(timeout)) {
        r.timed_out = true;
        // A polite stop first, so nspawn gets to clean up and the leak check reports the real problem.
        signal(SIGTERM);
        if (!wait_exit(5s)) {
            signal(SIGKILL);
            wait_exit(60s);
        }
    }
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
    r.out = slurp_fd(out_);
    r.err = slurp_fd(err_);
    return r;
}

RunResult run(const std::string& path, const std::vector<std::string>& args, const RunOptions& opts) {
    auto p = Process::start(path, args, opts);
    return p.wait(opts.timeout);
}

Pty::Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master_ < 0) fail("posix_openpt");
    if (::grantpt(master_) < 0 || ::unlockpt(master_) < 0) fail("unlockpt");
    char name[64];
    if (::ptsname_r(master_, name, sizeof name) != 0) fail("ptsname");
    // Held open by us too, so the terminal's settings can be read whether or not the program runs.
    slave_ = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_ < 0) fail(std::string("open ") + name);
    set_size(24, 80);
}

Pty::~Pty() {
    for (int fd : {master_, slave_})
        if (fd >= 0) ::close(fd);
}

void Pty::type(const std::string& keys) const {
    size_t done = 0;
    while (done < keys.size()) {
        ssize_t n = ::write(master_, keys.data() + done, keys.size() - done);
        if (n < 0 && errno != EINTR && errno != EAGAIN) fail("write to pty");
        if (n > 0) done += n;
        else {
            pollfd p{master_, POLLOUT, 0};
            ::poll(&p, 1, 100);
        }
    }
}

void Pty::read_available(Millis wait) {
    pollfd p{master_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
    char buf[4096];
    for (ssize_t n; (n = ::read(master_, buf, sizeof buf)) > 0;) output_.append(buf, n);
}

bool Pty::wait_for(const std::string& needle, Millis timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
        auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        read_available(std::min(left, Millis(100)));
    }
    return true;
}

void Pty::drain(Millis duration) {
    auto until = std::chrono::steady_clock::now() + duration;
    for (auto now = std::chrono::steady_clock::now(); now < until; now = std::chrono::steady_clock::now())
        read_available(std::min(std::chrono::duration_cast<Millis>(until - now), Millis(100)));
}

termios Pty::attrs() const {
    termios t{};
    if (::tcgetattr(slave_, &t) < 0) fail("tcgetattr");
    return t;
}

void Pty::set_size(unsigned short rows, unsigned short cols) const {
    winsize ws{};
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (::ioctl(master_, TIOCSWINSZ, &ws) < 0) fail("TIOCSWINSZ");
}

bool same_terminal_settings(const termios& a, const termios& b) {
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag &&
           std::memcmp(a.c_cc, b.c_cc, sizeof a.c_cc) == 0 && ::cfgetispeed(&a) == ::cfgetispeed(&b) &&
           ::cfgetospeed(&a) == ::cfgetospeed(&b);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) fail("write " + path);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, n) : std::string();
}

void make_dirs(const std::string& path) {
    for (size_t i = 1; i <= path.size(); i++)
        if (i == path.size() || path[i] == '/')
            if (::mkdir(path.substr(0, i).c_str(), 0755) < 0 && errno != EEXIST) fail("mkdir " + path);
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) return names;
    while (auto* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

namespace {

void snapshot_into(const std::string& root, const std::string& rel, std::map<std::string, std::string>& out) {
    std::string path = root + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) return;
    std::ostringstream o;
    o << std::oct << st.st_mode << std::dec << " " << st.st_uid << ":" << st.st_gid << " size=" << st.st_size
      << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
        o << " -> " << std::string(buf, n > 0 ? n : 0);
    }
    out[rel.empty() ? "/" : rel] = o.str();
    if (S_ISDIR(st.st_mode))
        for (auto& name : list_dir(path)) snapshot_into(root, rel + "/" + name, out);
}

}  // namespace

std::map<std::string, std::string> tree_snapshot(const std::string& root) {
    std::map<std::string, std::string> out;
    snapshot_into(root, "", out);
    return out;
}

std::string make_temp_dir() {
    char tmpl[] = "/tmp/berth-it-XXXXXX";
    if (!::mkdtemp(tmpl)) fail("mkdtemp");
    ::chmod(tmpl, 0755);  // so the non-root test can reach what it needs
    return tmpl;
}

void remove_tree(const std::string& path) {
    if (path.empty() || path == "/") return;
    run("/bin/rm", {"-rf", "--one-file-system", path});
}

bool wait_for_file(const std::string& path, const Process& owner, Millis timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (exists(path)) return true;
        if (!owner.running()) return exists(path);
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

std::vector<std::string> mount_points() {
    std::vector<std::string> points;
    std::istringstream in(read_file("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        points.push_back(point);
    }
    std::sort(points.begin(), points.end());
    return points;
}

std::string cgroup2_root() {
    struct statfs fs {};
    if (::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return "/sys/fs/cgroup";
    if (::statfs("/sys/fs/cgroup/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
        return "/sys/fs/cgroup/unified";
    return "";
}

namespace {

void dirs_below(const std::string& path, std::vector<std::string>& out) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return;
    std::vector<std::string> subdirs;
    while (auto* e = ::readdir(d))
        if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
            subdirs.push_back(path + "/" + e->d_name);
    ::closedir(d);
    for (auto& s : subdirs) {
        out.push_back(s);
        dirs_below(s, out);
    }
}

}  // namespace

std::vector<std::string> cgroup_dirs() {
    // The v2 tree is where machines live. On hybrid hosts the v1 name=systemd tree is what a guest systemd
    // uses, so leftovers there are leaks too. The v1 controller trees are left out: the machinery running
    // this host creates cgroups there on its own.
    std::vector<std::string> out;
    std::string root = cgroup2_root();
    if (!root.empty()) dirs_below(root, out);
    if (root != "/sys/fs/cgroup") {
        struct statfs fs {};
        if (::statfs("/sys/fs/cgroup/systemd", &fs) == 0 && fs.f_type == CGROUP_SUPER_MAGIC)
            dirs_below("/sys/fs/cgroup/systemd", out);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> run_berth_entries() {
    std::vector<std::string> out;
    for (auto& [path, what] : tree_snapshot("/run/berth")) out.push_back(path);
    return out;
}

namespace {

bool cgroup_populated(const std::string& dir) {
    std::string events = read_file(dir + "/cgroup.events");  // v2 says it for the whole subtree
    if (!events.empty()) return events.find("populated 1") != std::string::npos;
    if (!read_file(dir + "/cgroup.procs").empty()) return true;  // v1: look at every level
    for (auto& name : list_dir(dir))
        if (struct stat st {}; ::lstat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            if (cgroup_populated(dir + "/" + name)) return true;
    return false;
}

// "MAJ:MIN:INODE" (hex device numbers) of every lock in /proc/locks; a listed lock has a live holder.
std::vector<std::string> locked_files() {
    std::vector<std::string> out;
    std::istringstream in(read_file("/proc/locks"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, kind, mode, rw, pid, file;
        f >> id >> kind;
        if (kind == "->") f >> kind;  // a waiter, listed under the lock it waits for
        f >> mode >> rw >> pid >> file;
        out.push_back(file);
    }
    return out;
}

bool locked(const std::string& path, const std::vector<std::string>& locks) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) return false;
    if (S_ISDIR(st.st_mode)) {
        for (auto& name : list_dir(path))
            if (locked(path + "/" + name, locks)) return true;
        return false;
    }
    char key[64];
    std::snprintf(key, sizeof key, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    return std::find(locks.begin(), locks.end(), key) != locks.end();
}

}  // namespace

bool held_by_live_machine(const std::string& path, const std::string& own_id) {
    if (path.rfind("/sys/fs/cgroup/", 0) == 0)
        return path.find(own_id) == std::string::npos && cgroup_populated(path);
    auto locks = locked_files();
    // A staging directory (/run/berth/root/NAME) and a system call filter record (/run/berth/seccomp/NAME)
    // hold no lock themselves: they are a running machine's while that machine's lock is held.
    auto by_live_machine = [&](const std::string& name) {
        return name.find(own_id) == std::string::npos && locked("/run/berth/locks/machine-" + name, locks);
    };
    for (const std::string dir : {"/run/berth/root", "/run/berth/seccomp"}) {
        if (path == dir) {
            auto names = list_dir(path);
            return std::any_of(names.begin(), names.end(), by_live_machine);
        }
        if (path.rfind(dir + "/", 0) == 0 && path.find('/', dir.size() + 1) == std::string::npos)
            return by_live_machine(path.substr(dir.size() + 1));
    }
    return locked(path, locks);
}

namespace {

pid_t parent_of(pid_t pid) {
    // Field 4 of /proc/PID/stat, after the parenthesised command name (which may contain spaces).
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream f(stat.substr(close + 2));
    std::string state;
    pid_t ppid = -1;
    f >> state >> ppid;
    return ppid;
}

}  // namespace

std::string text_from_child(const std::function<std::string()>& fn) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return "";
    pid_t child = ::fork();
    if (child == 0) {
        ::close(p[0]);
        std::string text = fn();
        (void)!::write(p[1], text.data(), text.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) text.append(buf, n);
    ::close(p[0]);
    ::waitpid(child, nullptr, 0);
    return text;
}

std::vector<pid_t> descendants(pid_t pid) {
    std::map<pid_t, pid_t> parent;
    for (auto& name : list_dir("/proc"))
        if (std::all_of(name.begin(), name.end(), ::isdigit)) {
            pid_t p = std::stoi(name);
            parent[p] = parent_of(p);
        }
    std::vector<pid_t> out;
    for (auto& [p, pp] : parent) {
        for (pid_t a = pp; a > 0; a = parent.count(a) ? parent[a] : -1)
            if (a == pid) {
                out.push_back(p);
                break;
            }
    }
    return out;
}

pid_t guest_pid1(pid_t nspawn_pid) {
    for (pid_t p : descendants(nspawn_pid)) {
        std::istringstream in(read_file("/proc/" + std::to_string(p) + "/status"));
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("NSpid:", 0) != 0) continue;
            std::istringstream f(line.substr(6));
            std::vector<std::string> ids;
            for (std::string id; f >> id;) ids.push_back(id);
            if (ids.size() >= 2 && ids.back() == "1") return p;
        }
    }
    return -1;
}

bool process_dead(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return true;
    char state = stat[close + 2];
    return state == 'Z' || state == 'X';
}

std::string unified_cgroup_of(pid_t pid) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return "";
}

int device_programs(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    bpf_attr attr{};
    attr.query.target_fd = static_cast<uint32_t>(fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    long r = ::syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof attr);
    ::close(fd);
    return r < 0 ? -1 : static_cast<int>(attr.query.prog_cnt);
}

}  // namespace berth::test
