#!/usr/bin/env bash
# veth setup and teardown cost per start (issue 3, benchmark 3): the wall time of
#     nspawn -q --register=no -D BUSYBOX --network-veth /bin/true
# minus the same without --network-veth, against systemd-nspawn measured the same way
# (systemd-nspawn -q --register=no --keep-unit -D BUSYBOX [--network-veth] /bin/true). Goal: berth's
# cost <= 0.5x systemd-nspawn's. Not a pass/fail test. Usage (as root): tests/bench/veth.sh
#
# The cost is a small difference of two noisy totals, so the four commands run interleaved: ROUNDS
# rounds, each a hyperfine run of all four (RUNS runs each after WARMUP warm-up runs). Each round gives
# one cost per implementation (median with the link minus median without, measured side by side, so
# that drift between rounds cancels), and the figure is the median of those per-round costs. The pooled
# medians over all runs are printed too; they mix rounds and are thrown off by drift.
#
# Environment: NSPAWN (default <repo>/build/bin/nspawn), ROUNDS=5 RUNS=150 WARMUP=3 (systemd-nspawn's own
# start varies by +-10 ms: fewer runs cannot resolve a cost of a few ms), and FIFO=PRIO to run
# everything under SCHED_FIFO at that priority (chrt): on a host busy with other work, the only way to
# see a few milliseconds at all; kernel threads doing deferred work still compete with that work.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NSPAWN=${NSPAWN:-$REPO/build/bin/nspawn}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-150}
WARMUP=${WARMUP:-3}
FIFO=${FIFO:-}

case ${1:-} in -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; "") ;; *) echo "usage: $0" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }
die() { echo "$0: $*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "needs hyperfine"
command -v jq >/dev/null || die "needs jq"
[[ -x $NSPAWN ]] || die "$NSPAWN not built (cmake --build build, or set NSPAWN=...)"
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

NAMES=("berth" "berth --network-veth" "systemd-nspawn" "systemd-nspawn --network-veth")
CMDS=("$NSPAWN -q --register=no -D $ROOT /bin/true"
      "$NSPAWN -q --register=no -D $ROOT --network-veth /bin/true")
if [[ -n $SD ]]; then
    CMDS+=("$SD -q --register=no --keep-unit -D $ROOT /bin/true"
           "$SD -q --register=no --keep-unit -D $ROOT --network-veth /bin/true")
fi
# Each must work before it is timed (hyperfine would time a failure just as well).
for c in "${CMDS[@]}"; do
    $c >"$WORK/check.log" 2>&1 || die "'$c' failed: $(tail -n1 "$WORK/check.log")"
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%7.2f ms", s * 1000 }'; }

echo "veth setup + teardown per start, $ROUNDS rounds x $RUNS runs, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)${FIFO:+, SCHED_FIFO $FIFO}"
for ((r = 1; r <= ROUNDS; r++)); do
    # Rotate the order per round so that a load burst does not always hit the same command.
    order=()
    for ((i = 0; i < ${#CMDS[@]}; i++)); do order+=($(((i + r) % ${#CMDS[@]}))); done
    args=()
    for i in "${order[@]}"; do args+=(-n "$i" "${CMDS[i]}"); done
    ${FIFO:+chrt -f "$FIFO"} hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$WORK/round$r.json" "${args[@]}" >/dev/null 2>"$WORK/hf.log" ||
        die "hyperfine failed: $(tail -n2 "$WORK/hf.log")"
    for ((i = 0; i < ${#CMDS[@]}; i++)); do
        jq -r --arg n "$i" '.results[] | select(.command == $n) | .times[]' "$WORK/round$r.json" >>"$WORK/all.$i"
        jq -r --arg n "$i" '.results[] | select(.command == $n) | .times[]' "$WORK/round$r.json" | median >"$WORK/r$r.$i"
    done
    line="  round $r:"
    awk -v a="$(cat "$WORK/r$r.1")" -v b="$(cat "$WORK/r$r.0")" 'BEGIN { print a - b }' >>"$WORK/cost.berth"
    line+=" berth $(ms "$(tail -n1 "$WORK/cost.berth")")"
    if [[ -n $SD ]]; then
        awk -v a="$(cat "$WORK/r$r.3")" -v b="$(cat "$WORK/r$r.2")" 'BEGIN { print a - b }' >>"$WORK/cost.sd"
        line+="  systemd-nspawn $(ms "$(tail -n1 "$WORK/cost.sd")")"
    fi
    echo "$line"
done

echo
printf '%-34s %12s\n' "command (median of all runs)" "time"
for ((i = 0; i < ${#CMDS[@]}; i++)); do
    M[i]=$(median <"$WORK/all.$i")
    printf '%-34s %12s\n' "${NAMES[i]}" "$(ms "${M[i]}")"
done
printf '%-34s %12s\n' "pooled veth cost, berth" "$(ms "$(awk -v a="${M[1]}" -v b="${M[0]}" 'BEGIN { print a - b }')")"
[[ -n $SD ]] && printf '%-34s %12s\n' "pooled veth cost, systemd-nspawn" \
    "$(ms "$(awk -v a="${M[3]}" -v b="${M[2]}" 'BEGIN { print a - b }')")"
BERTH=$(median <"$WORK/cost.berth")
echo
printf '%-34s %12s\n' "veth cost, berth (median of rounds)" "$(ms "$BERTH")"
if [[ -n $SD ]]; then
    SYSD=$(median <"$WORK/cost.sd")
    printf '%-34s %12s\n' "veth cost, systemd-nspawn (ditto)" "$(ms "$SYSD")"
    awk -v a="$BERTH" -v b="$SYSD" 'BEGIN {
        if (b <= 0) { printf "ratio: -- (systemd-nspawn shows no measurable cost)\n"; exit }
        printf "ratio berth / systemd-nspawn: %.2fx   (goal <= 0.50x)\n", a / b }'
else
    echo "systemd-nspawn: not available (apt-get install systemd-container)"
fi
