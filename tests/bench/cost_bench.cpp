// The cost of an option, measured as the shift it causes in a command's wall time, for several
// implementations side by side (tests/bench/veth.sh: a veth link per start). Not a test.
//
//   berth-cost-bench [-n RUNS] [-k BLOCK] [-g GAP_MS] [-s SEED] NAME 'BASE' 'WITH THE OPTION' [NAME ...]
//
// Commands are split at spaces (no quoting) and run directly, stdin/stdout/stderr on /dev/null; any
// run that does not exit 0 stops the benchmark. Design:
//   - Blocks: a block runs one command BLOCK+1 times in a row and keeps the last BLOCK, so that every
//     kept run follows a run of its own command: work the kernel defers past a command's exit (network
//     namespace teardown, RCU callbacks) is charged to that command, not to whichever runs next.
//   - With -g, every run starts GAP_MS after the one before ended: long enough, and what a run leaves
//     for the kernel to finish has finished, so each run is a start on a quiet host (the latency a
//     user waits for); without it, runs follow each other at once (the cost of starts in a row).
//   - Cycles: each cycle runs one block of every command in a fresh random order, so that drift and
//     load bursts spread evenly over all commands; one cycle of warm-up is thrown away.
//   - The cost is the Hodges-Lehmann shift estimate (the median of all differences WITH_i - BASE_j),
//     robust to the outliers a start on a shared host has, with its distribution-free confidence
//     interval from the Mann-Whitney statistic (95%, and 97.5% for the ratio's bound).
//   - The ratio of the first implementation's cost to the second's is printed with a conservative
//     upper bound: the first's 97.5% upper limit over the second's 97.5% lower limit, which holds with
//     at least 95% confidence.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

extern char** environ;

namespace {

struct Command {
    std::string text;
    std::vector<std::string> argv;
    std::vector<double> times;  // seconds, kept runs only
};

struct Implementation {
    std::string name;
    Command base, with;
};

double now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::vector<std::string> split(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

int g_gap_ms = 0;

// One run (after the gap): its wall time, from before the spawn to the reaped exit.
double run_once(const Command& c) {
    if (g_gap_ms) {
        timespec gap{g_gap_ms / 1000, (g_gap_ms % 1000) * 1000000L};
        while (nanosleep(&gap, &gap) < 0 && errno == EINTR) {
        }
    }
    std::vector<char*> argv;
    for (auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    for (int fd = 0; fd <= 2; fd++) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
    pid_t pid;
    double start = now();
    int r = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        std::fprintf(stderr, "berth-cost-bench: cannot run '%s': %s\n", c.text.c_str(), std::strerror(r));
        std::exit(1);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    double t = now() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "berth-cost-bench: '%s' failed (status 0x%x)\n", c.text.c_str(), status);
        std::exit(1);
    }
    return t;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Shift {
    double estimate, lo95, hi95, lo975, hi975;
};

// Hodges-Lehmann estimate of with - base and its Mann-Whitney confidence limits.
Shift shift(const std::vector<double>& with, const std::vector<double>& base) {
    std::vector<double> d;
    d.reserve(with.size() * base.size());
    for (double w : with)
        for (double b : base) d.push_back(w - b);
    std::sort(d.begin(), d.end());
    double n = static_cast<double>(with.size()), m = static_cast<double>(base.size()), N = n * m;
    // The C-th smallest and C-th largest difference, C = floor(N/2 - z sqrt(nm(n+m+1)/12)) (1-based).
    auto limits = [&](double z) {
        double c = std::floor(N / 2 - z * std::sqrt(n * m * (n + m + 1) / 12));
        size_t k = c < 1 ? 1 : static_cast<size_t>(c);
        return std::make_pair(d[k - 1], d[d.size() - k]);
    };
    size_t h = d.size();
    Shift s{};
    s.estimate = h % 2 ? d[h / 2] : (d[h / 2 - 1] + d[h / 2]) / 2;
    std::tie(s.lo95, s.hi95) = limits(1.959964);
    std::tie(s.lo975, s.hi975) = limits(2.241403);
    return s;
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: berth-cost-bench [-n RUNS] [-k BLOCK] [-g GAP_MS] [-s SEED] NAME 'BASE' 'WITH' [NAME 'BASE' 'WITH' ...]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 600, block = 4, gap_ms = 0;
    unsigned seed = std::random_device{}();
    int opt;
    while ((opt = getopt(argc, argv, "+n:k:g:s:")) != -1) {
        if (opt == 'n') runs = std::atoi(optarg);
        else if (opt == 'g') gap_ms = std::atoi(optarg);
        else if (opt == 'k') block = std::atoi(optarg);
        else if (opt == 's') seed = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10));
        else usage();
    }
    if (runs < 20 || block < 1 || gap_ms < 0 || (argc - optind) < 3 || (argc - optind) % 3) usage();
    std::vector<Implementation> impls;
    for (int i = optind; i < argc; i += 3) {
        Implementation im;
        im.name = argv[i];
        im.base.text = argv[i + 1];
        im.with.text = argv[i + 2];
        im.base.argv = split(im.base.text);
        im.with.argv = split(im.with.text);
        if (im.base.argv.empty() || im.with.argv.empty()) usage();
        impls.push_back(std::move(im));
    }
    std::vector<Command*> cmds;
    for (auto& im : impls) {
        cmds.push_back(&im.base);
        cmds.push_back(&im.with);
    }

    g_gap_ms = gap_ms;
    std::mt19937 rng(seed);
    int cycles = (runs + block - 1) / block;
    std::printf("%d runs per command in %d cycles of blocks of %d (+1 discarded), random block order (seed %u), %s\n",
                cycles * block, cycles, block, seed,
                gap_ms ? ("each run " + std::to_string(gap_ms) + " ms after the one before").c_str() : "runs back to back");
    std::fflush(stdout);
    for (int cycle = -1; cycle < cycles; cycle++) {  // cycle -1: warm-up
        std::vector<Command*> order = cmds;
        std::shuffle(order.begin(), order.end(), rng);
        for (Command* c : order) {
            run_once(*c);  // follows another command: not kept
            for (int i = 0; i < block; i++) {
                double t = run_once(*c);
                if (cycle >= 0) c->times.push_back(t);
            }
        }
    }

    std::printf("\n%-16s %12s %12s %12s %24s\n", "", "median base", "median with", "cost (HL)", "95% confidence interval");
    std::vector<Shift> costs;
    for (auto& im : impls) {
        Shift s = shift(im.with.times, im.base.times);
        costs.push_back(s);
        std::printf("%-16s %9.3f ms %9.3f ms %9.3f ms %10.3f .. %7.3f ms\n", im.name.c_str(), median(im.base.times) * 1e3,
                    median(im.with.times) * 1e3, s.estimate * 1e3, s.lo95 * 1e3, s.hi95 * 1e3);
    }
    if (impls.size() >= 2) {
        const Shift &a = costs[0], &b = costs[1];
        std::printf("\n");
        if (b.estimate <= 0 || b.lo975 <= 0) {
            std::printf("ratio %s / %s: not resolvable (%s's cost is not above zero with 97.5%% confidence)\n",
                        impls[0].name.c_str(), impls[1].name.c_str(), impls[1].name.c_str());
        } else {
            std::printf("ratio %s / %s: %.2fx, at most %.2fx with 95%% confidence\n", impls[0].name.c_str(),
                        impls[1].name.c_str(), a.estimate / b.estimate, std::max(a.hi975, 0.0) / b.lo975);
            std::printf("RATIO=%.4f\nRATIO_BOUND=%.4f\n", a.estimate / b.estimate, std::max(a.hi975, 0.0) / b.lo975);
        }
    }
    return 0;
}
