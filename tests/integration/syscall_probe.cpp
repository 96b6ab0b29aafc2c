// syscall_probe NAME...: makes each named system call with harmless arguments and prints "NAME RESULT",
// RESULT being "ok" or the errno name (EPERM, EFAULT, ...), or "signal N" when the call killed the process.
// A name prefixed "i386:" makes the call through the 32-bit entry (int $0x80), "x32:" with the x32 bit.
// Built static, so it runs in any image (bound in with --bind-ro). The arguments are chosen so that a
// call the filter lets through still does nothing to the host: bad pointers, invalid flags, queries.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

const char* errno_name(int e) {
    switch (e) {
        case EPERM: return "EPERM";
        case ENOENT: return "ENOENT";
        case EBADF: return "EBADF";
        case EFAULT: return "EFAULT";
        case EINVAL: return "EINVAL";
        case ENOSYS: return "ENOSYS";
        case EACCES: return "EACCES";
        case ENOEXEC: return "ENOEXEC";
        case EOPNOTSUPP: return "EOPNOTSUPP";
        case ENODEV: return "ENODEV";
        case ENOTBLK: return "ENOTBLK";
        case E2BIG: return "E2BIG";
        case ENOKEY: return "ENOKEY";
        default: return nullptr;
    }
}

#if defined(__x86_64__)
long i386_call(long nr, long a, long b, long c) {
    long r;
    asm volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
    return r < 0 && r > -4096 ? (errno = static_cast<int>(-r), -1) : r;
}
constexpr long kX32 = 0x40000000;
#endif

// -2: unknown name. Otherwise the call's return value (-1 with errno set on failure).
long call(const char* name) {
    auto bad = reinterpret_cast<void*>(8);  // an address nothing is mapped at
    auto is = [&](const char* n) { return strcmp(name, n) == 0; };
    if (is("init_module")) return syscall(SYS_init_module, nullptr, 0, "");
    if (is("finit_module")) return syscall(SYS_finit_module, -1, "", 0);
    if (is("delete_module")) return syscall(SYS_delete_module, "berth_no_such_module", 04000 /* O_NONBLOCK */);
    if (is("kexec_load")) return syscall(SYS_kexec_load, 0, 0, nullptr, 0x8000 /* no such flag */);
    if (is("kexec_file_load")) return syscall(SYS_kexec_file_load, -1, -1, 0, nullptr, 0x80000 /* no such flag */);
    if (is("open_by_handle_at")) return syscall(SYS_open_by_handle_at, -1, bad, 0);
    if (is("bpf")) return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, bad, 8);
    if (is("perf_event_open")) return syscall(SYS_perf_event_open, bad, 0, -1, -1, 0);
    if (is("iopl")) return syscall(SYS_iopl, 0);        // level 0: no privilege needed, changes nothing
    if (is("ioperm")) return syscall(SYS_ioperm, 0x80, 1, 0);  // turning access off needs no privilege
    if (is("fanotify_init")) return syscall(SYS_fanotify_init, 0 /* FAN_CLASS_NOTIF */, 0);
    if (is("swapon")) return syscall(SYS_swapon, bad, 0);
    if (is("swapoff")) return syscall(SYS_swapoff, bad);
    if (is("clock_settime")) return syscall(SYS_clock_settime, CLOCK_REALTIME, bad);
    if (is("clock_adjtime")) return syscall(SYS_clock_adjtime, CLOCK_REALTIME, bad);
    if (is("settimeofday")) return syscall(SYS_settimeofday, bad, nullptr);
    if (is("adjtimex")) return syscall(SYS_adjtimex, bad);
    if (is("syslog")) return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0);
    if (is("keyctl")) return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
    if (is("add_key")) return syscall(SYS_add_key, "", "", nullptr, 0, 0);
    if (is("request_key")) return syscall(SYS_request_key, "", "", nullptr, 0);
    if (is("quotactl")) return syscall(SYS_quotactl, 0, bad, 0, nullptr);
    if (is("uselib")) return syscall(SYS_uselib, bad);
    if (is("sethostname")) return syscall(SYS_sethostname, bad, 0);
#if defined(__x86_64__)
    if (is("i386:keyctl")) return i386_call(288, 0, -3, 0);
    if (is("i386:iopl")) return i386_call(110, 0, 0, 0);
    if (is("i386:init_module")) return i386_call(128, 0, 0, 0);
    if (is("x32:keyctl")) return syscall(kX32 | SYS_keyctl, 0, -3, 0);
    if (is("x32:iopl")) return syscall(kX32 | SYS_iopl, 0);
#endif
    return -2;
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    for (int i = 1; i < argc; i++) {
        // One child per call: a call that kills (int $0x80 without ia32 emulation) ends only its probe.
        int fds[2];
        if (pipe(fds) < 0) return 2;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            errno = 0;
            long r = call(argv[i]);
            char line[128];
            if (r == -2) {
                snprintf(line, sizeof line, "%s unknown-probe\n", argv[i]);
            } else if (r == -1) {
                const char* e = errno_name(errno);
                if (e)
                    snprintf(line, sizeof line, "%s %s\n", argv[i], e);
                else
                    snprintf(line, sizeof line, "%s errno-%d\n", argv[i], errno);
            } else {
                snprintf(line, sizeof line, "%s ok\n", argv[i]);
            }
            ssize_t n = write(fds[1], line, strlen(line));
            _exit(n < 0 ? 1 : 0);
        }
        close(fds[1]);
        char buf[128];
        ssize_t n = read(fds[0], buf, sizeof buf - 1);
        close(fds[0]);
        int ws = 0;
        waitpid(pid, &ws, 0);
        if (n > 0) {
            fwrite(buf, 1, static_cast<size_t>(n), stdout);
        } else if (WIFSIGNALED(ws)) {
            printf("%s signal %d\n", argv[i], WTERMSIG(ws));
        } else {
            printf("%s no-answer\n", argv[i]);
            status = 1;
        }
        fflush(stdout);
    }
    return status;
}
