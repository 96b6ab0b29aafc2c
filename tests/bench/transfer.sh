#!/usr/bin/env bash
# Imports, exports and clones of the cached Debian image (about 240 MB), side by side with GNU tar and
# cp -a on the same filesystem, in one run: berth's machinectl import-tar vs `tar -x` of the same archive,
# export-tar vs `tar -c` of the same tree, clone vs `cp -a`; then clones in pools on XFS (reflinks) and
# btrfs (snapshots), on loop devices, against the same `cp -a` on WORKDIR's filesystem. Medians of RUNS
# runs each, the rows interleaved (one of each per round), page cache warm (one warm-up round), ratios
# printed against the goals of issue 13. Not a pass/fail test. Usage (root, build first):
# tests/bench/transfer.sh
#
# Environment: MACHINECTL, MACHINED (default <repo>/build/bin/...), DEBIAN_ROOT (default
# /var/cache/berth/debian-12; never written to), RUNS=5, WORKDIR (default /var/tmp: a disk filesystem,
# as a pool is; tmpfs would measure memory copies).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MACHINECTL=${MACHINECTL:-$REPO/build/bin/machinectl}
MACHINED=${MACHINED:-$REPO/build/bin/machined}
DEBIAN_ROOT=${DEBIAN_ROOT:-/var/cache/berth/debian-12}
RUNS=${RUNS:-5}
WORKDIR=${WORKDIR:-/var/tmp}
source "$REPO/tests/fixtures/private-bus.sh"

[[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }
[[ -x $MACHINECTL && -x $MACHINED ]] || { echo "$0: build first (cmake --build build)" >&2; exit 1; }
[[ -d $DEBIAN_ROOT/etc ]] || { echo "$0: no Debian rootfs at $DEBIAN_ROOT (./boot.sh or ./test.sh makes it)" >&2; exit 1; }

WORK=$(mktemp -d "$WORKDIR/berth-bench-transfer.XXXXXX")
bus_pid="" machined_pid=""
MOUNTS=()
stop_machined() {
    [[ -n $machined_pid ]] && kill "$machined_pid" 2>/dev/null && wait "$machined_pid" 2>/dev/null
    machined_pid=""
}
cleanup() {
    stop_machined
    [[ -n $bus_pid ]] && kill "$bus_pid" 2>/dev/null
    local m
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
    [[ -d $WORK ]] && chattr -R -f -i "$WORK" 2>/dev/null
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/pool" "$WORK/state" "$WORK/bus" "$WORK/out"
private_bus_config "$WORK/bus"
bus_pid=$(start_private_bus "$WORK/bus")
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus/bus.sock
printf 'enabled_dir = "%s/enabled"\nimage_search_path = []\n' "$WORK" >"$WORK/machined.toml"
# start_machined POOL
start_machined() {
    "$MACHINED" --pool="$1" --state-dir="$WORK/state" --config="$WORK/machined.toml" 2>"$WORK/machined.log" &
    machined_pid=$!
    for _ in $(seq 100); do busctl --system status org.freedesktop.import1 >/dev/null 2>&1 && break; sleep 0.1; done
    busctl --system status org.freedesktop.import1 >/dev/null 2>&1 || { echo "$0: machined did not come up: $(cat "$WORK/machined.log")" >&2; exit 1; }
}
start_machined "$WORK/pool"

# The archive both importers read, made once by GNU tar (what a user downloads is a tar).
ARCHIVE=$WORK/debian.tar
tar --xattrs --xattrs-include='*' --numeric-owner -C "$DEBIAN_ROOT" -cf "$ARCHIVE" .
# The image both exporters and cloners read: imported once.
"$MACHINECTL" -q import-tar "$ARCHIVE" source >/dev/null || { echo "$0: import-tar failed" >&2; exit 1; }
SIZE=$(du -sh "$WORK/pool/source" | cut -f1)
echo "image: $DEBIAN_ROOT ($SIZE), archive $(du -sh "$ARCHIVE" | cut -f1), filesystem $(df -T "$WORK" | awk 'NR==2 {print $2}') at $WORKDIR, $RUNS runs"

now() { date +%s.%N; }
# time_of CMD...: seconds, after a sync so that one row's writeback is not charged to the next.
time_of() {
    sync
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>&1 || { echo "FAILED"; return; }
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

tar_x() { mkdir "$WORK/out/tarx" && tar --xattrs --xattrs-include='*' --numeric-owner -C "$WORK/out/tarx" -xpf "$ARCHIVE"; }
# import-tar ends with a syncfs of the new image (as systemd-import): tar -x with the same, for a like comparison.
tar_x_sync() { tar_x && sync -f "$WORK/out/tarx"; }
import_tar() { "$MACHINECTL" -q import-tar "$ARCHIVE" imported; }
tar_c() { tar --xattrs --xattrs-include='*' --numeric-owner -C "$WORK/pool/source" -cf "$WORK/out/c.tar" .; }
export_tar() { "$MACHINECTL" -q export-tar source "$WORK/out/e.tar"; }
cp_a() { cp -a "$WORK/pool/source" "$WORK/out/cp"; }
clone() { "$MACHINECTL" -q clone source cloned; }
reset() {
    rm -rf --one-file-system "$WORK/out/tarx" "$WORK/out/cp" "$WORK/out/c.tar" "$WORK/out/e.tar"
    "$MACHINECTL" -q remove imported cloned >/dev/null 2>&1
    rm -rf --one-file-system "$WORK/pool/imported" "$WORK/pool/cloned"
}

declare -A T
ROWS=(tar_x tar_x_sync import_tar tar_c export_tar cp_a clone)
for round in $(seq 0 "$RUNS"); do
    for row in "${ROWS[@]}"; do
        reset
        t=$(time_of "$row")
        ((round == 0)) && continue  # warm-up
        T[$row]+="$t"$'\n'
    done
done
reset

# The same image cloned RUNS times in a pool on FS (xfs, btrfs) on a loop device: T[clone_FS].
clone_on() {
    local fs=$1 img=$WORK/$1.img pool=$WORK/pool-$1
    command -v "mkfs.$fs" >/dev/null || { echo "  note: mkfs.$fs missing, no $fs row"; return; }
    truncate -s 4G "$img" && "mkfs.$fs" -q "$img" >/dev/null && mkdir -p "$pool" && mount -o loop "$img" "$pool" ||
        { echo "  note: no $fs pool could be made"; return; }
    MOUNTS+=("$pool")
    stop_machined
    start_machined "$pool"
    "$MACHINECTL" -q import-tar "$ARCHIVE" source >/dev/null || { echo "  note: import-tar into the $fs pool failed"; return; }
    for round in $(seq 0 "$RUNS"); do
        "$MACHINECTL" -q remove cloned >/dev/null 2>&1
        t=$(time_of clone)
        ((round == 0)) && continue
        T[clone_$fs]+="$t"$'\n'
    done
    "$MACHINECTL" -q remove cloned source >/dev/null 2>&1
    stop_machined
}
clone_on xfs
clone_on btrfs
ROWS+=(clone_xfs clone_btrfs)

declare -A M
for row in "${ROWS[@]}"; do M[$row]=$(printf '%s' "${T[$row]:-}" | grep -v FAILED | median); done
ratio() { echo "scale=3; $1 / $2" | bc -l; }
printf '\n%-34s %10s %10s %8s  %s\n' "benchmark" "berth (s)" "ref (s)" "ratio" "goal"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "import-tar vs tar -x" "${M[import_tar]}" "${M[tar_x]}" \
    "$(ratio "${M[import_tar]}" "${M[tar_x]}")" "time <= 1.0x (speed >= 1.0x tar)"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "import-tar vs tar -x + syncfs" "${M[import_tar]}" "${M[tar_x_sync]}" \
    "$(ratio "${M[import_tar]}" "${M[tar_x_sync]}")" "(both end with the data on disk)"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "export-tar vs tar -c" "${M[export_tar]}" "${M[tar_c]}" \
    "$(ratio "${M[export_tar]}" "${M[tar_c]}")" "time <= 1.0x (speed >= 1.0x tar)"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "clone vs cp -a" "${M[clone]}" "${M[cp_a]}" \
    "$(ratio "${M[clone]}" "${M[cp_a]}")" "<= 0.6x on ext4"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "clone on xfs (reflink) vs cp -a" "${M[clone_xfs]}" "${M[cp_a]}" \
    "$(ratio "${M[clone_xfs]}" "${M[cp_a]}")" "<= 0.05x of cp -a on ext4"
printf '%-34s %10.3f %10.3f %8.3f  %s\n' "clone on btrfs (snapshot) vs cp -a" "${M[clone_btrfs]}" "${M[cp_a]}" \
    "$(ratio "${M[clone_btrfs]}" "${M[cp_a]}")" "<= 0.05x of cp -a on ext4"
for row in "${ROWS[@]}"; do
    n=$(printf '%s' "${T[$row]:-}" | grep -c FAILED)
    ((n > 0)) && echo "  note: $row failed $n times"
done
exit 0
