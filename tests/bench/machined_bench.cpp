// The client side of tests/bench/machined.sh: starts N leader processes (sleep), registers one machine
// per leader through RegisterMachine, then times ListMachines round trips. Prints key=value lines.
//   berth-machined-bench N PREFIX [CGROUP...]
// With CGROUP directories (the same path in each hierarchy: unified, name=systemd), leader i runs in
// CGROUP/PREFIXi.scope: systemd-machined wants every leader in a unit of its own.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s N PREFIX [CGROUP...]\n", argv[0]);
        return 2;
    }
    int n = std::atoi(argv[1]);
    std::string prefix = argv[2];
    std::vector<pid_t> leaders;
    for (int i = 0; i < n; i++) {
        std::vector<std::string> procs;
        for (int c = 3; c < argc; c++) {
            std::string dir = std::string(argv[c]) + "/" + prefix + std::to_string(i) + ".scope";
            ::mkdir(dir.c_str(), 0755);
            procs.push_back(dir + "/cgroup.procs");
        }
        pid_t p = ::fork();
        if (p == 0) {
            ::execl("/bin/sleep", "sleep", "100000", nullptr);
            ::_exit(127);
        }
        leaders.push_back(p);
        // Moved by us, before any timing starts (a migration is slow and serialised in the kernel).
        for (auto& f : procs) {
            FILE* out = std::fopen(f.c_str(), "w");
            if (out) {
                std::fprintf(out, "%d\n", p);
                std::fclose(out);
            }
        }
    }
    int status = 0;
    try {
        auto proxy = sdbus::createProxy(sdbus::createSystemBusConnection(), "org.freedesktop.machine1",
                                        "/org/freedesktop/machine1");
        const char* iface = "org.freedesktop.machine1.Manager";
        int registered = 0;
        std::string first_error;
        auto start = Clock::now();
        for (int i = 0; i < n; i++) {
            try {
                sdbus::ObjectPath path;
                proxy->callMethod("RegisterMachine").onInterface(iface)
                    .withArguments(prefix + std::to_string(i), std::vector<uint8_t>{}, std::string("bench"),
                                   std::string("container"), static_cast<uint32_t>(leaders[i]), std::string("/"))
                    .storeResultsTo(path);
                registered++;
            } catch (const sdbus::Error& e) {
                if (first_error.empty()) first_error = e.getName() + ": " + e.getMessage();
            }
        }
        double reg_ms = ms_since(start);
        std::printf("registered=%d\nregister_ms=%.1f\nregistrations_per_s=%.0f\n", registered, reg_ms,
                    registered ? registered * 1000.0 / reg_ms : 0.0);
        if (!first_error.empty()) std::printf("register_error=%s\n", first_error.c_str());
        if (registered > 0) {
            std::vector<double> rtt;
            size_t listed = 0;
            for (int i = 0; i < 200; i++) {
                std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> list;
                auto t = Clock::now();
                proxy->callMethod("ListMachines").onInterface(iface).storeResultsTo(list);
                rtt.push_back(ms_since(t));
                listed = list.size();
            }
            std::sort(rtt.begin(), rtt.end());
            std::printf("listed=%zu\nlist_median_ms=%.2f\nlist_p95_ms=%.2f\n", listed, rtt[rtt.size() / 2],
                        rtt[rtt.size() * 95 / 100]);
        }
        // Let the script measure the daemon's memory with every machine registered.
        std::printf("ready=1\n");
        std::fflush(stdout);
        char c;
        (void)!::read(0, &c, 1);
        // Unregistering is left to the daemon noticing the leaders die: that is measured too.
    } catch (const sdbus::Error& e) {
        std::printf("error=%s: %s\n", e.getName().c_str(), e.getMessage().c_str());
        status = 1;
    }
    for (pid_t p : leaders) ::kill(p, SIGKILL);
    for (pid_t p : leaders) ::waitpid(p, nullptr, 0);
    for (int c = 3; c < argc; c++)
        for (int i = 0; i < n; i++) ::rmdir((std::string(argv[c]) + "/" + prefix + std::to_string(i) + ".scope").c_str());
    return status;
}
