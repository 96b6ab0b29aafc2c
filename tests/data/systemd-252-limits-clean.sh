#!/bin/bash
# What systemd-machined 252 (Debian 12's /lib/systemd/systemd-machined) does when asked to limit images
# and the pool (SetImageLimit, SetPoolLimit, the Image's SetLimit; systemd's machinectl set-limit) and to
# clean the pool (CleanPool; machinectl clean): the answers and errors, the Usage and Limit properties
# after, what is left on disk. First on a btrfs pool (a loop device, quota off at first), then on a tmpfs
# one. The ground truth of the limit and clean tests and docs/machined.md, "Images".
#   flock /tmp/berth-tests.lock tests/data/systemd-252-limits-clean.sh
# Everything is private, as in systemd-252-images.sh: a mount namespace of the script's own with a tmpfs
# on /run/systemd, the pool mounted on /var/lib/machines there, a dbus-daemon on a socket in its
# directory; the loop device is detached at the end.
set -euo pipefail
if [ -z "${BERTH_PROBE_NAMESPACE:-}" ]; then
    BERTH_PROBE_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
dir=$(mktemp -d /tmp/machine1-limits.XXXXXX)
bus_pid="" machined_pid="" holder_pid="" holder2_pid="" loop=""
P=/var/lib/machines
cleanup() {
    set +e  # every step, whatever one before did (a daemon already gone)
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    [ -z "$holder2_pid" ] || kill "$holder2_pid" 2>/dev/null || true
    [ -z "$machined_pid" ] || { kill "$machined_pid"; wait "$machined_pid" || true; }
    [ -z "$bus_pid" ] || kill "$bus_pid"
    umount $P 2>/dev/null || true
    [ -z "$loop" ] || losetup -d "$loop"
    rm -rf "$dir"
}
trap cleanup EXIT
mount -t tmpfs tmpfs /run/systemd
mkdir /run/systemd/system  # systemd's machinectl refuses to run without it
truncate -s 400M "$dir/btrfs.img"
mkfs.btrfs -q "$dir/btrfs.img"
loop=$(losetup --find --show "$dir/btrfs.img")
mount "$loop" $P
btrfs -q subvolume create $P/sub
btrfs -q subvolume create $P/.hiddensub
btrfs -q subvolume create $P/rosub
btrfs -q subvolume create $P/busy
mkdir $P/plain $P/.hiddendir
head -c 10M /dev/urandom >$P/sub/blob
head -c 3M /dev/urandom >$P/plain/blob
truncate -s 1M $P/disk.raw
head -c 2M /dev/urandom >$P/.hidden.raw
btrfs property set -ts $P/rosub ro true
sync
# shellcheck source=tests/fixtures/private-bus.sh
source "$(dirname "$0")/../fixtures/private-bus.sh"
start_private_machined "$dir"
ask() {
    echo "\$ $*"
    timeout 60 "$@" 2>&1 || echo "(exit status $?)"
}
M=(org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager)
image_props() {
    for i in "$@"; do
        ask busctl --system call "${M[@]}" GetImage s "$i"
        ask busctl --system get-property org.freedesktop.machine1 "/org/freedesktop/machine1/image/$i" \
            org.freedesktop.machine1.Image Usage UsageExclusive Limit LimitExclusive
    done
}
pool_props() { ask busctl --system get-property org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager PoolPath PoolUsage PoolLimit; }
echo "=== btrfs pool, quota off"
ask btrfs qgroup show $P
pool_props
image_props sub plain disk
ask busctl --system call "${M[@]}" SetImageLimit st sub 104857600
ask btrfs qgroup show -re $P
sync; sleep 1
image_props sub
ask busctl --system call "${M[@]}" SetImageLimit st sub 18446744073709551615
ask busctl --system call "${M[@]}" SetImageLimit st sub 9223372036854775808
ask busctl --system call "${M[@]}" SetImageLimit st sub 0
ask busctl --system call "${M[@]}" SetImageLimit st plain 104857600
ask busctl --system call "${M[@]}" SetImageLimit st disk 104857600
ask busctl --system call "${M[@]}" SetImageLimit st .host 104857600
ask busctl --system call "${M[@]}" SetImageLimit st nope 104857600
ask busctl --system call "${M[@]}" SetImageLimit st rosub 104857600
ask busctl --system call org.freedesktop.machine1 /org/freedesktop/machine1/image/sub org.freedesktop.machine1.Image SetLimit t 52428800
image_props sub rosub
ask busctl --system call "${M[@]}" SetPoolLimit t 209715200
ask busctl --system call "${M[@]}" SetPoolLimit t 9223372036854775808
ask btrfs qgroup show -re $P
sync; sleep 1
pool_props
SYSTEMD_COLORS=0 ask machinectl --no-pager set-limit sub 64M
SYSTEMD_COLORS=0 ask machinectl --no-pager set-limit 300M
SYSTEMD_COLORS=0 ask machinectl --no-pager set-limit sub none
SYSTEMD_COLORS=0 ask machinectl --no-pager image-status sub
SYSTEMD_COLORS=0 ask machinectl --no-pager list-images
ask btrfs qgroup show -re $P
# Writing past the limit.
ask busctl --system call "${M[@]}" SetImageLimit st sub 20971520
sync
ask dd if=/dev/urandom of=$P/sub/more bs=1M count=30 status=none conv=fsync
ls -l $P/sub
echo "=== CleanPool"
mkdir -p /run/systemd/nspawn/locks
lock=/run/systemd/nspawn/locks/inode-$(stat -c '%d:%i' $P/busy)
# The holders are the sleeps themselves (flock(1) would fork them, and killing flock leave them running).
(exec 9>"$lock" && flock -x 9 && exec sleep 600) &
holder_pid=$!
btrfs -q subvolume create $P/.hiddenbusy
lock2=/run/systemd/nspawn/locks/inode-$(stat -c '%d:%i' $P/.hiddenbusy)
(exec 9>"$lock2" && flock -x 9 && exec sleep 600) &
holder2_pid=$!
sleep 0.3
ask busctl --system call "${M[@]}" CleanPool s bogus
ask busctl --system call "${M[@]}" CleanPool s hidden
ls -a $P
SYSTEMD_COLORS=0 ask machinectl --no-pager clean
ask busctl --system call "${M[@]}" CleanPool s all
ls -a $P
kill "$holder_pid"; holder_pid=""
kill "$holder2_pid"; holder2_pid=""
btrfs -q subvolume create $P/again
btrfs -q subvolume create $P/.again
SYSTEMD_COLORS=0 ask machinectl --no-pager clean --all
ls -a $P
echo "=== tmpfs pool"
kill "$machined_pid"; wait "$machined_pid" || true; machined_pid=""
umount $P
mount -t tmpfs tmpfs $P
mkdir $P/plain $P/.hid
truncate -s 1M $P/disk.raw
/lib/systemd/systemd-machined 2>>"$dir/machined.log" &
machined_pid=$!
for _ in $(seq 100); do busctl --system status org.freedesktop.machine1 >/dev/null 2>&1 && break; sleep 0.1; done
busctl --system status org.freedesktop.machine1 >/dev/null || { echo "error: systemd-machined did not come back" >&2; exit 1; }
pool_props
ask busctl --system call "${M[@]}" SetImageLimit st plain 104857600
ask busctl --system call "${M[@]}" SetPoolLimit t 104857600
SYSTEMD_COLORS=0 ask machinectl --no-pager set-limit 100M
SYSTEMD_COLORS=0 ask machinectl --no-pager set-limit plain 100M
ask busctl --system call "${M[@]}" CleanPool s hidden
SYSTEMD_COLORS=0 ask machinectl --no-pager clean --all
ls -a $P
echo "--- machined's log:"; cat "$dir/machined.log"
