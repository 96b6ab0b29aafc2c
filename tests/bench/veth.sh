#!/usr/bin/env bash
# veth setup and teardown cost per start (issue 3, benchmark 3): how much longer
#     nspawn -q --register=no -D BUSYBOX --network-veth /bin/true
# takes than the same without --network-veth, against systemd-nspawn measured the same way
# (systemd-nspawn -q --register=no --keep-unit -D BUSYBOX [--network-veth] /bin/true). Goal: berth's
# cost <= 0.5x systemd-nspawn's. Not a pass/fail test. Usage (as root): tests/bench/veth.sh
#
# The cost is a small shift in two noisy totals (systemd-nspawn's own start varies by +-10 ms, most of
# it compiling its seccomp filter), so the timing is done by build/tests/bench/berth-cost-bench (see
# cost_bench.cpp): the four commands run in blocks (one discarded run, then BLOCK kept ones), the blocks
# in random order; the cost is the Hodges-Lehmann shift with its distribution-free 95% confidence
# interval, and the ratio comes with a conservative bound that holds with 95% confidence. Two designs:
#   1. single starts (the goal's figure): each run begins GAP_MS after the one before ended, when what
#      the kernel does after a machine is gone (tearing its network namespace down) is done: the time a
#      user waits for a start with a link, more than for one without;
#   2. starts in a row (for information): each run begins as the one before ended, so that it also
#      pays for its predecessor's deferred kernel work. This charges that work to a fast start but lets
#      a slow one hide it (systemd-nspawn spends ~55 ms compiling its filter meanwhile), so it compares
#      start speeds as much as veth costs.
#
# Environment: NSPAWN (default <repo>/build/bin/nspawn), COST_BENCH (default
# <repo>/build/tests/bench/berth-cost-bench), RUNS=600 kept runs per command and design, BLOCK=4,
# GAP_MS=100, SEED (random), DESIGNS="single row" (either or both), FIFO=PRIO to run everything under
# SCHED_FIFO at that priority (chrt).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NSPAWN=${NSPAWN:-$REPO/build/bin/nspawn}
COST_BENCH=${COST_BENCH:-$REPO/build/tests/bench/berth-cost-bench}
RUNS=${RUNS:-600}
BLOCK=${BLOCK:-4}
GAP_MS=${GAP_MS:-100}
SEED=${SEED:-}
DESIGNS=${DESIGNS:-single row}
FIFO=${FIFO:-}

case ${1:-} in -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; "") ;; *) echo "usage: $0" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }
die() { echo "$0: $*" >&2; exit 1; }
[[ -x $NSPAWN ]] || die "$NSPAWN not built (cmake --build build, or set NSPAWN=...)"
[[ -x $COST_BENCH ]] || die "$COST_BENCH not built (cmake --build build, or set COST_BENCH=...)"
SD=$(command -v systemd-nspawn) || SD=""

WORK=$(mktemp -d /tmp/berth-veth-bench.XXXXXX) || die "cannot create a temporary directory"
chmod 0755 "$WORK"   # the machine's root (a user namespace by default) must reach the image
cleanup() {
    rmdir /run/systemd/nspawn/propagate/vb"$$" 2>/dev/null
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

ROOT=$WORK/vb$$   # its basename is the machine name: host link ve-vb$$
bash "$REPO/tests/fixtures/busybox-rootfs.sh" "$ROOT" >/dev/null || die "busybox rootfs failed"
mkdir -p "$ROOT/usr"

CMDS=("$NSPAWN -q --register=no -D $ROOT /bin/true"
      "$NSPAWN -q --register=no -D $ROOT --network-veth /bin/true")
if [[ -n $SD ]]; then
    CMDS+=("$SD -q --register=no --keep-unit -D $ROOT /bin/true"
           "$SD -q --register=no --keep-unit -D $ROOT --network-veth /bin/true")
fi
# Each must work before it is timed.
for c in "${CMDS[@]}"; do
    $c >"$WORK/check.log" 2>&1 || die "'$c' failed: $(tail -n1 "$WORK/check.log")"
done

echo "veth setup + teardown per start, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)${FIFO:+, SCHED_FIFO $FIFO}"
[[ -n $SD ]] || echo "systemd-nspawn: not available (apt-get install systemd-container); berth alone"
pairs=(berth "${CMDS[0]}" "${CMDS[1]}")
[[ -n $SD ]] && pairs+=(systemd-nspawn "${CMDS[2]}" "${CMDS[3]}")
for design in $DESIGNS; do
    case $design in
        single) echo; echo "== 1. single starts (each ${GAP_MS} ms after the one before): the goal's figure"; gap=$GAP_MS ;;
        row) echo; echo "== 2. starts in a row (each paying for its predecessor's deferred kernel work): for information"; gap=0 ;;
        *) die "unknown design '$design' in DESIGNS (single, row)" ;;
    esac
    ${FIFO:+chrt -f "$FIFO"} "$COST_BENCH" -n "$RUNS" -k "$BLOCK" -g "$gap" ${SEED:+-s "$SEED"} "${pairs[@]}" >"$WORK/out" ||
        die "timing failed: $(tail -n1 "$WORK/out")"
    grep -v '^RATIO' "$WORK/out"
    bound=$(sed -n 's/^RATIO_BOUND=//p' "$WORK/out")
    [[ $design == single && -n $bound ]] && awk -v b="$bound" 'BEGIN {
        printf "goal <= 0.50x: %s\n", b <= 0.5 ? "met, even at the 95% bound" : "not shown at the 95% bound" }'
done
exit 0
