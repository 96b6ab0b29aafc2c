#!/usr/bin/env bash
# machined benchmark: N registered machines (one `sleep` leader each, in a scope-like cgroup of its own;
# one RegisterMachine call each)
# on a private dbus-daemon; berth's machined side by side with Debian's systemd-machined.
# Not a pass/fail test. Usage (as root): tests/bench/machined.sh [N]   (default 1000)
#
# Columns: registrations per second (goal >= 500/s), ListMachines round trip with N machines (median and
# 95th percentile of 200 calls, goal <= 5 ms), the daemon's RSS idle and with N machines (goal <= 20 MiB),
# and how long it takes to notice all N leaders dying.
# Environment: MACHINED (default <repo>/build/bin/machined), BENCH (default <repo>/build/tests/bench/berth-machined-bench),
#              SYSTEMD_MACHINED (default /lib/systemd/systemd-machined).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MACHINED=${MACHINED:-$REPO/build/bin/machined}
BENCH=${BENCH:-$REPO/build/tests/bench/berth-machined-bench}
SYSTEMD_MACHINED=${SYSTEMD_MACHINED:-/lib/systemd/systemd-machined}
N=${1:-1000}
[[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }
[[ -x $MACHINED && -x $BENCH ]] || { echo "$0: build first (cmake --build build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-machined-bench.XXXXXX)
BUS_PID=""
DAEMON_PID=""
cleanup() {
    [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    [[ -n $BUS_PID ]] && kill "$BUS_PID" 2>/dev/null
    [[ -n ${STATE_MOUNTED:-} ]] && umount "$WORK/state"
    rm -rf "$WORK"
    cleanup_cgroups 2>/dev/null
}
trap cleanup EXIT INT TERM

# shellcheck source=tests/fixtures/private-bus.sh
source "$REPO/tests/fixtures/private-bus.sh"
private_bus_config "$WORK" '<limit name="max_replies_per_connection">100000</limit>'
BUS_PID=$(start_private_bus "$WORK") || { echo "dbus-daemon failed" >&2; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus.sock

name_owned() {
    [[ $(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s \
        org.freedesktop.machine1 2>/dev/null) == "b true" ]]
}
machine_count() {
    busctl --system call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager \
        ListMachines 2>/dev/null | awk '{print $2}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# The daemon's own pid (under unshare it is a child of the wrapper).
owner_pid() {
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixProcessID s org.freedesktop.machine1 2>/dev/null | awk '{print $2}'
}

ROWS=()
# bench NAME COMMAND...: one row of the table.
bench() {
    local label=$1; shift
    local log=$WORK/$label.log out=$WORK/$label.out
    "$@" >"$log" 2>&1 &
    DAEMON_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do name_owned && break; kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    if ! name_owned; then
        ROWS+=("$label|not available: $(tail -n 2 "$log" | tr '\n' ' ' | cut -c1-150)")
        kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
        return
    fi
    local pid idle busy
    pid=$(owner_pid)
    idle=$(rss_kib "$pid")
    rm -f "$WORK/go"; mkfifo "$WORK/go"
    "$BENCH" "$N" "b$$-" "${CGROUPS[@]}" <"$WORK/go" >"$out" 2>&1 &
    local client=$!
    exec 3>"$WORK/go"
    for ((i = 0; i < 1200; i++)); do grep -q '^ready=1' "$out" && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
    busy=$(rss_kib "$pid")
    local t0 t1 gone=""
    t0=$(date +%s%N)
    exec 3>&-   # the client kills its leaders
    wait "$client"
    for ((i = 0; i < 600; i++)); do [[ $(machine_count) == 1 ]] && { gone=1; break; }; sleep 0.02; done
    t1=$(date +%s%N)
    local v
    v() { sed -n "s/^$1=//p" "$out"; }
    local notice="not all noticed"
    [[ $label == systemd-* ]] && notice="not all noticed (it learns of ended machines from systemd's unit signals; no systemd here)"
    [[ -n $gone ]] && notice="$(( (t1 - t0) / 1000000 )) ms"
    local err; err=$(v register_error)
    ROWS+=("$label|$(v registered)/$N|$(v registrations_per_s)/s|$(v list_median_ms) ms|$(v list_p95_ms) ms|$((idle / 1024)).$(((idle % 1024) * 10 / 1024)) MiB|$((busy / 1024)).$(((busy % 1024) * 10 / 1024)) MiB|$notice${err:+|first error: $err}")
    kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}

# Every leader in a scope-like cgroup of its own (systemd-machined refuses leaders outside a unit), in the
# unified hierarchy and, on hybrid hosts, name=systemd as well.
SLICE=berth-bench-$$.slice
CGROUPS=()
for root in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
    [[ -f $root/cgroup.procs ]] || continue
    [[ $root == /sys/fs/cgroup && ${#CGROUPS[@]} -gt 0 ]] && continue
    mkdir -p "$root/$SLICE" && CGROUPS+=("$root/$SLICE")
done
cleanup_cgroups() { local c; for c in "${CGROUPS[@]}"; do rmdir "$c" 2>/dev/null; done; }

mkdir -p "$WORK/pool" "$WORK/state"
# /run is a tmpfs on most hosts, and systemd-machined below gets one: the same for berth's state.
mount -t tmpfs tmpfs "$WORK/state" && STATE_MOUNTED=1
echo 'enabled_dir = "'"$WORK"'/enabled"' >"$WORK/machined.toml"
bench berth "$MACHINED" --pool="$WORK/pool" --state-dir="$WORK/state" --config="$WORK/machined.toml"
if [[ -x $SYSTEMD_MACHINED ]]; then
    # It refuses nothing up front but keeps state in /run/systemd/machines: give it a private /run/systemd.
    bench systemd-machined unshare -m --propagation private /bin/sh -c \
        'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec "$0"' "$SYSTEMD_MACHINED"
else
    ROWS+=("systemd-machined|not available: $SYSTEMD_MACHINED not installed (systemd-container)")
fi

echo
echo "machined with $N machines (one sleep leader each), private dbus-daemon, $(nproc) CPUs"
printf '%-17s %-10s %-12s %-14s %-12s %-10s %-12s %s\n' implementation registered "reg. rate" "ListMachines" "(p95)" "RSS idle" "RSS loaded" "deaths noticed"
printf '%-17s %-10s %-12s %-14s %-12s %-10s %-12s %s\n' goal "" ">= 500/s" "<= 5 ms" "" "" "<= 20 MiB" ""
for row in "${ROWS[@]}"; do
    IFS='|' read -r -a f <<<"$row"
    if [[ ${#f[@]} -le 2 ]]; then printf '%-17s %s\n' "${f[0]}" "${f[1]}"; continue; fi
    printf '%-17s %-10s %-12s %-14s %-12s %-10s %-12s %s\n' "${f[@]:0:8}"
    [[ ${#f[@]} -gt 8 ]] && printf '%-17s %s\n' "" "${f[8]}"
done
