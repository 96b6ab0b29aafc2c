// hog WHAT N HOLD: takes up to N of a per-user or per-machine kernel resource, prints how many it got and
// the error that stopped it ("inotify 128 EMFILE", or "fork 200 ok" when it got all N), then holds them
// until the file HOLD exists (or 60 s pass) and gives them back. WHAT: inotify (instances) or fork
// (processes that pause). Built static, so it runs in any image (bound in with --bind-ro). Bounded by N
// and by time: a test's attack, never a real bomb.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vector>

namespace {

const char* error_name(int e) {
    switch (e) {
        case 0: return "ok";
        case EMFILE: return "EMFILE";
        case ENFILE: return "ENFILE";
        case ENOMEM: return "ENOMEM";
        case EAGAIN: return "EAGAIN";
        case ENOSPC: return "ENOSPC";
        case EPERM: return "EPERM";
        default: return strerror(e);
    }
}

void hold(const char* file) {
    struct stat st {};
    for (int i = 0; i < 600 && stat(file, &st) < 0; i++) {
        timespec ts{0, 100 * 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: hog inotify|fork N HOLDFILE\n");
        return 2;
    }
    const char* what = argv[1];
    long n = strtol(argv[2], nullptr, 10);
    // File descriptors must not be what runs out first.
    rlimit nofile{static_cast<rlim_t>(n + 64), static_cast<rlim_t>(n + 64)};
    setrlimit(RLIMIT_NOFILE, &nofile);
    long got = 0;
    int err = 0;
    if (strcmp(what, "inotify") == 0) {
        for (; got < n; got++) {
            if (inotify_init1(IN_CLOEXEC) < 0) {
                err = errno;
                break;
            }
        }
        printf("inotify %ld %s\n", got, error_name(err));
        fflush(stdout);
        hold(argv[3]);
        return 0;
    }
    if (strcmp(what, "fork") == 0) {
        std::vector<pid_t> kids;
        for (; got < n; got++) {
            pid_t pid = fork();
            if (pid < 0) {
                err = errno;
                break;
            }
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                pause();
                _exit(0);
            }
            kids.push_back(pid);
        }
        printf("fork %ld %s\n", got, error_name(err));
        fflush(stdout);
        hold(argv[3]);
        for (pid_t k : kids) kill(k, SIGKILL);
        for (pid_t k : kids) waitpid(k, nullptr, 0);
        return 0;
    }
    fprintf(stderr, "hog: unknown resource %s\n", what);
    return 2;
}
