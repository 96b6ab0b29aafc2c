#!/usr/bin/env bash
# berth benchmarks: start latency, full boot cycle (also: the user-namespace default vs --private-users=no),
# supervisor memory, start cost against image size, terminate of a booted guest.
# shell round trip and login to the prompt (tests/bench/enter.sh).
# Not a pass/fail test. Usage (as root): tests/bench/run.sh [startup|boot|memory|imagesize|terminate|shell|login|all]
#
# Environment:
#   NSPAWN          berth's nspawn binary (default: <repo>/build/bin/nspawn)
#   MACHINED        berth's machined binary, for terminate (default: next to NSPAWN)
#   DEBIAN_ROOT     Debian 12 rootfs with systemd (default: /var/cache/berth/debian-12,
#                   else /var/cache/berth/debian-12.tmp); never written to, every boot gets a fresh copy
#   STARTUP_RUNS=30 STARTUP_WARMUP=3 (per round) STARTUP_ROUNDS=3 BOOT_RUNS=7 BOOT_WARMUP=1 MEMORY_RUNS=3
#   BOOT_TIMEOUT=60 (seconds per boot)  MEMORY_SETTLE=1 (seconds between "booted" and measuring)
#   TERMINATE_RUNS=15 TERMINATE_WARMUP=1 TERMINATE_SETTLE=1 (seconds between boot and stop)
#   MACHINECTL (default: next to NSPAWN) SHELL_RUNS=60 SHELL_ROUNDS=3 SHELL_WARMUP=3 (per round)
#   LOGIN_RUNS=15 LOGIN_WARMUP=2 LOGIN_DEBIAN=1 (0: busybox guest only) SYSTEMD_MACHINED=/lib/systemd/systemd-machined
#   SYSTEMD_NSPAWN_UNIFIED_HIERARCHY is passed through to systemd-nspawn untouched.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NSPAWN=${NSPAWN:-$REPO/build/bin/nspawn}
MACHINED=${MACHINED:-$(dirname "$NSPAWN")/machined}
TERMINATE_RUNS=${TERMINATE_RUNS:-15}
TERMINATE_WARMUP=${TERMINATE_WARMUP:-1}
TERMINATE_SETTLE=${TERMINATE_SETTLE:-1}
STARTUP_RUNS=${STARTUP_RUNS:-30}
STARTUP_WARMUP=${STARTUP_WARMUP:-3}
STARTUP_ROUNDS=${STARTUP_ROUNDS:-3}
BOOT_RUNS=${BOOT_RUNS:-7}
BOOT_WARMUP=${BOOT_WARMUP:-1}
MEMORY_RUNS=${MEMORY_RUNS:-3}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
MEMORY_SETTLE=${MEMORY_SETTLE:-1}
PROBE_UNIT=/etc/systemd/system/berth-probe.service
MARKER=var/lib/berth-probe-reached     # written by the probe unit, seen in the booted copy
TAG=bench$$                            # machine/container names, unique per run of this script

WHAT=${1:-all}
case $WHAT in startup|boot|memory|imagesize|terminate|shell|login|all) ;; -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [startup|boot|memory|imagesize|terminate|shell|login|all]" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }

die() { echo "$0: $*" >&2; exit 1; }
note() { echo "  note: $*"; }

# ---------------------------------------------------------------------------------------------
# Everything the benchmark creates is registered here and removed by cleanup (EXIT, INT, TERM).
WORK=""
PIDS=()            # supervisors started in the background
LXC_NAMES=()       # containers under $WORK/lxc
lxc_pivots() { local p; for p in /sys/fs/cgroup/*/lxc.pivot /sys/fs/cgroup/lxc.pivot; do [[ -d $p ]] && echo "$p"; done; }
PIVOTS_BEFORE=$(lxc_pivots)

descendants() {     # PID -> PID and all its descendants (any pid namespace)
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}

stop_tree() {       # PID [grace seconds]: SIGTERM, wait, then SIGKILL the whole tree
    local pid=$1 grace=${2:-10} i tree
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        tree=$(descendants "$pid")
        # shellcheck disable=SC2086
        kill -KILL $tree 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

sweep_cgroups() {   # cgroups named after our machines (left when a supervisor had to be killed)
    local top d try
    for ((try = 0; try < 20; try++)); do
        top=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "*$TAG*" -prune 2>/dev/null)
        [[ -n $top ]] || return 0
        # shellcheck disable=SC2086
        for d in $(find $top -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
            kill -KILL "$d" 2>/dev/null
        done
        # shellcheck disable=SC2086
        find $top -depth -type d -exec rmdir {} \; 2>/dev/null
        sleep 0.1
    done
    echo "warning: could not remove cgroups: $top" >&2
}

# The script and everything it starts run in a cgroup of its own, $TAG.scope, in the unified hierarchy and
# (hybrid hosts) in name=systemd: systemd-nspawn --keep-unit takes its caller's cgroup for its unit's and
# makes payload/ and supervisor/ in it, which from the root cgroup would be left at the top of the host's
# hierarchies. cleanup moves the script back and sweep_cgroups removes the rest.
OWN_CGROUPS=()
enter_own_cgroup() {
    local h rel dir
    for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
        [[ -f $h/cgroup.procs ]] || continue
        case $h in
            /sys/fs/cgroup/systemd) rel=$(awk -F: '$2 == "name=systemd" { print $3 }' /proc/self/cgroup) ;;
            *) rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup) ;;
        esac
        dir=$h/$TAG.scope
        mkdir -p "$dir" && echo $$ >"$dir/cgroup.procs" || continue
        OWN_CGROUPS+=("$h${rel%/}")
    done
}
leave_own_cgroup() {
    local from
    for from in "${OWN_CGROUPS[@]}"; do echo $$ >"$from/cgroup.procs" 2>/dev/null; done
    OWN_CGROUPS=()
}

CLEANED=0
cleanup() {
    ((CLEANED)) && return
    CLEANED=1
    local pid name m p
    for name in "${LXC_NAMES[@]}"; do
        timeout 15 lxc-stop -k -n "$name" -P "$WORK/lxc" >/dev/null 2>&1
    done
    for pid in "${PIDS[@]}"; do stop_tree "$pid" 10; done
    if [[ -n $WORK && -d $WORK ]]; then
        # Anything still mounted below $WORK (innermost first), whoever mounted it.
        for m in $(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
            umount "$m" 2>/dev/null || umount -l "$m"
        done
        mountpoint -q "$WORK" && { umount "$WORK" 2>/dev/null || umount -l "$WORK"; }
        rm -rf --one-file-system "$WORK"
    fi
    # LXC leaves an empty "lxc.pivot" cgroup in every hierarchy; remove the ones we caused.
    for p in $(lxc_pivots); do
        grep -qxF "$p" <<<"$PIVOTS_BEFORE" || rmdir "$p" 2>/dev/null
    done
    leave_own_cgroup
    sweep_cgroups
    rmdir /run/systemd/nspawn/propagate/"$TAG"* 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'echo; echo "interrupted, cleaning up" >&2; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX) || die "cannot create a temporary directory"
mount -t tmpfs -o mode=0755 berth-bench "$WORK" || die "cannot mount a tmpfs on $WORK"
mkdir -p "$WORK/lxc" "$WORK/logs"
enter_own_cgroup

# ---------------------------------------------------------------------------------------------
# Small helpers: statistics and formatting.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
    if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.6f %.6f\n", lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.3f s", s }'; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }
first_error() {     # FILE -> one line saying why a tool failed
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | grep -iE 'error|fail|denied|not |cannot|unknown|invalid' | head -n1 |
        cut -c1-150 || true
}
why() {             # FILE RC -> "exit RC: first error line (or last line)"
    local line
    line=$(first_error "$1")
    [[ -n $line ]] || line=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n1 | cut -c1-150)
    echo "exit $2${line:+: $line}"
}

have() { command -v "$1" >/dev/null 2>&1; }

# berth's binary: usable only if it exists and is executable.
BERTH_OK=1
BERTH_WHY=""
if [[ ! -e $NSPAWN ]]; then
    BERTH_OK=0; BERTH_WHY="$NSPAWN not built (cmake --build build, or set NSPAWN=...)"
elif [[ ! -x $NSPAWN ]]; then
    BERTH_OK=0; BERTH_WHY="$NSPAWN is not executable"
fi

# ---------------------------------------------------------------------------------------------
# Root filesystems.
make_busybox_root() {   # DEST: busybox rootfs that every implementation accepts
    local dest=$1 fixture=$REPO/tests/fixtures/busybox-rootfs.sh a bb
    if [[ -f $fixture ]] && bash "$fixture" "$dest" >"$WORK/logs/busybox-fixture.log" 2>&1 &&
        [[ -e $dest/bin/true || -L $dest/bin/true ]]; then
        BUSYBOX_FROM="tests/fixtures/busybox-rootfs.sh"
    else
        [[ -f $fixture ]] && note "tests/fixtures/busybox-rootfs.sh failed ($(tail -n1 "$WORK/logs/busybox-fixture.log")); using a minimal rootfs"
        rm -rf "$dest"
        bb=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
        ldd "$bb" 2>&1 | grep -q 'not a dynamic' || die "$bb is not static (apt-get install busybox-static)"
        mkdir -p "$dest"/{bin,sbin,etc,proc,sys,dev,run,tmp,var,root,usr/bin,usr/sbin}
        cp "$bb" "$dest/bin/busybox"
        for a in $("$dest/bin/busybox" --list); do
            [[ $a == busybox ]] || ln -s busybox "$dest/bin/$a"
        done
        BUSYBOX_FROM="minimal rootfs from $bb"
    fi
    # systemd-nspawn refuses a tree without usr/; an os-release makes it look like an OS.
    mkdir -p "$dest/usr" "$dest/proc" "$dest/sys" "$dest/dev" "$dest/etc"
    [[ -e $dest/etc/os-release || -e $dest/usr/lib/os-release ]] ||
        printf 'ID=busybox\nNAME=BusyBox\nPRETTY_NAME="BusyBox benchmark rootfs"\n' >"$dest/etc/os-release"
}

find_debian_root() {
    local d
    if [[ -n ${DEBIAN_ROOT:-} ]]; then d=$DEBIAN_ROOT
    elif [[ -x /var/cache/berth/debian-12/usr/lib/systemd/systemd ]]; then d=/var/cache/berth/debian-12
    else d=/var/cache/berth/debian-12.tmp; fi
    [[ -x $d/usr/lib/systemd/systemd ]] || return 1
    DEBIAN_ROOT=$d
}

ROOT_N=0
OV=""
# A fresh copy of $DEBIAN_ROOT per boot, in our tmpfs, for every implementation alike: a pool image is a
# plain directory, and tmpfs (like ext4, xfs, btrfs) takes idmapped mounts. Not an overlay: an overlayfs
# mount cannot be idmapped, so berth's user-namespace default would fall back to chowning the whole image
# at every boot, and that fallback is not what a pool image costs.
new_root() {        # sets OV: OV/root is the copy
    OV=$WORK/root.$((++ROOT_N))
    mkdir -p "$OV"
    cp -a "$DEBIAN_ROOT" "$OV/root" || die "cannot copy $DEBIAN_ROOT into $OV"
}
drop_root() {       # DIR from new_root
    rm -rf --one-file-system "$1"
}

write_probe() {     # FILE poweroff|stay: unit started by systemd.wants= once multi-user.target is up
    {
        echo "[Unit]"
        echo "Description=berth benchmark probe"
        echo "After=multi-user.target"
        echo
        echo "[Service]"
        echo "Type=oneshot"
        echo "ExecStart=/usr/bin/touch /$MARKER"
        [[ $2 == poweroff ]] && echo "ExecStart=/bin/systemctl --no-block poweroff"
    } >"$1"
}

lxc_debian_config() {   # NAME ROOT PROBE: a Debian guest as the Debian lxc template would set it up
    mkdir -p "$WORK/lxc/$1"
    cat >"$WORK/lxc/$1/config" <<EOF
lxc.include = /usr/share/lxc/config/common.conf
lxc.rootfs.path = dir:$2
lxc.uts.name = $1
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.init.cmd = /sbin/init systemd.wants=berth-probe.service
lxc.mount.entry = $3 ${PROBE_UNIT#/} none bind,ro,create=file 0 0
EOF
    LXC_NAMES+=("$1")
}

# Command lines of a Debian boot, one per implementation: IMPL ROOT PROBE NAME
boot_cmd() {
    local impl=$1 root=$2 probe=$3 name=$4
    case $impl in
        berth) echo "$NSPAWN -q --register=no -M $name -D $root --console=pipe --bind-ro=$probe:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        berth-nouserns) echo "$NSPAWN --private-users=no -q --register=no -M $name -D $root --console=pipe --bind-ro=$probe:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        systemd-nspawn) echo "systemd-nspawn -q --register=no --keep-unit -M $name -D $root --console=pipe --bind-ro=$probe:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        systemd-nspawn-U) echo "systemd-nspawn -U -q --register=no --keep-unit -M $name -D $root --console=pipe --bind-ro=$probe:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        lxc) lxc_debian_config "$name" "$root" "$probe"; echo "lxc-start -F -n $name -P $WORK/lxc" ;;
    esac
}
label() {
    case $1 in
        berth) echo "berth nspawn" ;; berth-machined) echo "berth machined" ;; berth-nouserns) echo "berth -U no" ;; systemd-nspawn-U) echo "systemd-nspawn -U" ;;
        lxc) echo "lxc-start" ;; *) echo "$1" ;;
    esac
}
# Which implementations can run at all: "" or the reason in $UNAVAILABLE.
UNAVAILABLE=""
available() {
    UNAVAILABLE=""
    case $1 in
        berth*) ((BERTH_OK)) || UNAVAILABLE=$BERTH_WHY ;;
        systemd-nspawn*) have systemd-nspawn || UNAVAILABLE="not installed" ;;
        lxc) have lxc-start || UNAVAILABLE="lxc-start not installed" ;;
    esac
    [[ -z $UNAVAILABLE ]]
}

# ---------------------------------------------------------------------------------------------
header() {
    echo "berth benchmarks  $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "  host: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), cgroups: $(
        if [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then echo v2
        elif [[ -d /sys/fs/cgroup/unified ]]; then echo hybrid; else echo v1; fi)"
    echo "  berth: $NSPAWN$( ((BERTH_OK)) || echo " (not available: $BERTH_WHY)")"
    echo "  systemd-nspawn: $(systemd-nspawn --version 2>/dev/null | head -n1 || echo missing)${SYSTEMD_NSPAWN_UNIFIED_HIERARCHY:+ (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$SYSTEMD_NSPAWN_UNIFIED_HIERARCHY)}"
    echo "  lxc: $(lxc-start --version 2>/dev/null || echo missing)"
    awk -v n="$(nproc)" '$1 > n / 2 { exit 1 }' /proc/loadavg ||
        echo "  warning: the machine is busy (load $(cut -d' ' -f1 /proc/loadavg)); expect noisy numbers"
}

row() { printf '  %-18s %-10s %-24s %-18s %s\n' "$@"; }

# ---------------------------------------------------------------------------------------------
# 1. Start latency: /bin/true in a busybox machine.
bench_startup() {
    local root=$WORK/busybox lxcname=$TAG-bb impl cmd rc log i s
    local -a impls=() cmds=()
    local -A why=() cmdof=()
    echo
    echo "1. Start latency: /bin/true in a busybox machine (median of $STARTUP_RUNS runs in $STARTUP_ROUNDS rounds, $STARTUP_WARMUP warm-up runs per round)"
    make_busybox_root "$root"
    note "rootfs: $BUSYBOX_FROM"
    mkdir -p "$WORK/lxc/$lxcname"
    cat >"$WORK/lxc/$lxcname/config" <<EOF
lxc.rootfs.path = dir:$root
lxc.uts.name = $lxcname
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.init.cmd = /bin/true
EOF
    LXC_NAMES+=("$lxcname")
    cmdof[floor]="unshare --fork --pid --mount --uts --ipc --net --mount-proc chroot $root /bin/true"
    cmdof[berth]="$NSPAWN -q --register=no -M $TAG-bb -D $root /bin/true"
    cmdof[systemd-nspawn]="systemd-nspawn -q --register=no --keep-unit -M $TAG-bb -D $root /bin/true"
    cmdof[lxc]="lxc-start -F -n $lxcname -P $WORK/lxc"

    for impl in floor berth systemd-nspawn lxc; do
        if [[ $impl == berth ]] && ! ((BERTH_OK)); then why[$impl]=$BERTH_WHY; continue; fi
        cmd=${cmdof[$impl]}
        have "${cmd%% *}" || { why[$impl]="${cmd%% *} not installed"; continue; }
        log=$WORK/logs/startup-$impl.log
        # shellcheck disable=SC2086
        timeout --foreground -k 5 30 $cmd </dev/null >"$log" 2>&1
        rc=$?
        if ((rc != 0)); then why[$impl]=$(why "$log" $rc); continue; fi
        impls+=("$impl"); cmds+=("$cmd")
    done
    [[ " ${impls[*]} " == *" floor "* ]] || { echo "  floor (unshare) failed: ${why[floor]}; skipping"; return; }

    local -A med=() lo=() hi=()
    if have hyperfine; then
        # Several rounds, each running every command, so a burst of load elsewhere hits all rows
        # alike; the samples of all rounds are pooled before taking the median.
        local round per=$(((STARTUP_RUNS + STARTUP_ROUNDS - 1) / STARTUP_ROUNDS))
        for ((round = 0; round < STARTUP_ROUNDS; round++)); do
            local -a hf=(hyperfine -N --style none --warmup "$STARTUP_WARMUP" --runs "$per"
                         --export-json "$WORK/startup.$round.json")
            for i in "${!impls[@]}"; do hf+=(-n "${impls[i]}" "${cmds[i]}"); done
            "${hf[@]}" >"$WORK/logs/hyperfine.log" 2>&1 ||
                { echo "  hyperfine failed: $(tail -n2 "$WORK/logs/hyperfine.log")"; return; }
        done
        for impl in "${impls[@]}"; do
            jq -r --arg n "$impl" '.results[] | select(.command == $n) | .times[]' \
                "$WORK"/startup.*.json >"$WORK/t.$impl"
            med[$impl]=$(median <"$WORK/t.$impl")
            read -r "lo[$impl]" "hi[$impl]" < <(minmax <"$WORK/t.$impl")
        done
        note "timed with $(hyperfine --version)"
    else
        note "hyperfine not installed (apt-get install hyperfine); timing with a shell loop"
        for i in "${!impls[@]}"; do
            impl=${impls[i]}; cmd=${cmds[i]}
            : >"$WORK/t.$impl"
            for ((s = 0; s < STARTUP_WARMUP + STARTUP_RUNS; s++)); do
                local t0 t1
                t0=$(now)
                # shellcheck disable=SC2086
                $cmd </dev/null >/dev/null 2>&1
                t1=$(now)
                ((s >= STARTUP_WARMUP)) && elapsed "$t0" "$t1" >>"$WORK/t.$impl"
            done
            med[$impl]=$(median <"$WORK/t.$impl")
            read -r "lo[$impl]" "hi[$impl]" < <(minmax <"$WORK/t.$impl")
        done
    fi

    row "implementation" "median" "range" "vs floor" ""
    for impl in floor berth systemd-nspawn lxc; do
        local name goal=""
        case $impl in floor) name="floor (unshare)" ;; *) name=$(label "$impl") ;; esac
        [[ $impl == berth ]] && goal="goal <= 1.50x"
        if [[ -n ${med[$impl]:-} ]]; then
            row "$name" "$(ms "${med[$impl]}")" "$(ms "${lo[$impl]}") .. $(ms "${hi[$impl]}")" \
                "$(ratio "${med[$impl]}" "${med[floor]}")" "$goal"
        else
            row "$name" "-" "not available (${why[$impl]})" "" ""
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# 2. Full boot cycle: Debian boot -> multi-user.target -> poweroff.
BOOT_T=""
BOOT_WHY=""
boot_once() {       # IMPL NAME -> seconds in $BOOT_T, or non-zero with the reason in $BOOT_WHY
    local impl=$1 name=$2 ov cmd t0 t1 rc log=$WORK/logs/boot-$1.log
    new_root
    ov=$OV
    cmd=$(boot_cmd "$impl" "$ov/root" "$WORK/probe-poweroff.service" "$name")
    t0=$(now)
    # shellcheck disable=SC2086
    timeout --foreground -k 10 "$BOOT_TIMEOUT" $cmd </dev/null >"$log" 2>&1
    rc=$?
    t1=$(now)
    BOOT_WHY=""
    if ((rc == 124 || rc == 137)); then BOOT_WHY="no poweroff within ${BOOT_TIMEOUT}s"
    elif ((rc != 0)); then BOOT_WHY=$(why "$log" $rc)
    elif [[ ! -e $ov/root/$MARKER ]]; then BOOT_WHY="exited 0 but the probe after multi-user.target never ran"
    fi
    drop_root "$ov"
    [[ -z $BOOT_WHY ]] || return 1
    BOOT_T=$(elapsed "$t0" "$t1")
}

bench_boot() {
    local impl r i
    local -a impls=() order=()
    local -A why=() med=() lo=() hi=()
    echo
    local -a all=(berth berth-nouserns systemd-nspawn systemd-nspawn-U lxc)
    echo "2. Full boot cycle: Debian boot -> multi-user.target -> poweroff (median of $BOOT_RUNS runs, interleaved, after $BOOT_WARMUP warm-up boot(s))"
    find_debian_root || { echo "  no Debian rootfs with systemd (set DEBIAN_ROOT=...); skipping"; return; }
    note "rootfs $DEBIAN_ROOT; every boot on a fresh copy of it in this script's tmpfs (copied before the clock starts)"
    note "berth nspawn: the default (user namespace, idmapped root); berth -U no: --private-users=no"
    write_probe "$WORK/probe-poweroff.service" poweroff

    for impl in "${all[@]}"; do
        available "$impl" || { why[$impl]=$UNAVAILABLE; continue; }
        for ((i = 0; i < BOOT_WARMUP; i++)); do
            boot_once "$impl" "$TAG-$impl" || { why[$impl]=$BOOT_WHY; break; }
        done
        [[ -n ${why[$impl]:-} ]] || { impls+=("$impl"); : >"$WORK/boot.$impl"; }
    done

    for ((r = 0; r < BOOT_RUNS; r++)); do
        order=()      # rotate the order every round so no implementation always boots first
        for i in "${!impls[@]}"; do order+=("${impls[(i + r) % ${#impls[@]}]}"); done
        for impl in "${order[@]}"; do
            [[ -n ${why[$impl]:-} ]] && continue
            if boot_once "$impl" "$TAG-$impl"; then echo "$BOOT_T" >>"$WORK/boot.$impl"
            else why[$impl]="run $((r + 1)): $BOOT_WHY"; fi
        done
    done

    for impl in "${impls[@]}"; do
        [[ -n ${why[$impl]:-} ]] && continue
        med[$impl]=$(median <"$WORK/boot.$impl")
        read -r "lo[$impl]" "hi[$impl]" < <(minmax <"$WORK/boot.$impl")
    done
    row "implementation" "median" "range" "vs systemd-nspawn" ""
    for impl in "${all[@]}"; do
        local goal=""
        [[ $impl == berth ]] && goal="goal <= 0.90x"
        if [[ -n ${med[$impl]:-} ]]; then
            row "$(label "$impl")" "$(secs "${med[$impl]}")" "$(secs "${lo[$impl]}") .. $(secs "${hi[$impl]}")" \
                "$([[ -n ${med[systemd-nspawn]:-} ]] && ratio "${med[$impl]}" "${med[systemd-nspawn]}" || echo -)" "$goal"
        else
            row "$(label "$impl")" "-" "not available (${why[$impl]})" "" ""
        fi
    done
    if [[ -n ${med[berth]:-} && -n ${med[berth-nouserns]:-} ]]; then
        echo "  the secure default vs --private-users=no: $(ratio "${med[berth]}" "${med[berth-nouserns]}")  (goal <= 1.05x)"
    fi
}

# ---------------------------------------------------------------------------------------------
# 4. Start cost against image size: /bin/true in the Debian rootfs vs the busybox rootfs, under the
# default (user namespace: the root is an idmapped mount, nothing is chowned, so size must not matter).
bench_imagesize() {
    local img size
    local -A med=()
    echo
    echo "4. Start cost against image size: true under the default, Debian rootfs vs busybox rootfs (median of $((STARTUP_RUNS * STARTUP_ROUNDS)) runs)"
    ((BERTH_OK)) || { echo "  berth: not available ($BERTH_WHY)"; return; }
    find_debian_root || { echo "  no Debian rootfs with systemd (set DEBIAN_ROOT=...); skipping"; return; }
    [[ -d $WORK/busybox ]] || make_busybox_root "$WORK/busybox"
    local bb
    bb=$(command -v busybox) || { echo "  needs busybox (busybox-static)"; return; }
    note "--read-only: the images are never written to; the Debian rootfs is $DEBIAN_ROOT"
    note "both run the same static binary ($bb bound over /bin/true), so only the image differs"
    for img in busybox debian; do
        local root=$WORK/busybox
        [[ $img == debian ]] && root=$DEBIAN_ROOT
        hyperfine -N --style none --warmup "$STARTUP_WARMUP" --runs "$((STARTUP_RUNS * STARTUP_ROUNDS))" \
            --export-json "$WORK/size-$img.json" \
            "$NSPAWN -q --register=no --read-only -M $TAG-size -D $root --bind-ro=$bb:/bin/true /bin/true" \
            >/dev/null 2>"$WORK/logs/size-$img.log" ||
            { echo "  $img: failed ($(first_error "$WORK/logs/size-$img.log"))"; return; }
        med[$img]=$(jq -r '.results[0].times[]' "$WORK/size-$img.json" | median)
    done
    size=$(du -sm --apparent-size "$DEBIAN_ROOT" 2>/dev/null | cut -f1)
    row "image" "median" "" "" ""
    row "busybox" "$(ms "${med[busybox]}")" "" "" ""
    row "Debian (${size} MB)" "$(ms "${med[debian]}")" "" "$(ratio "${med[debian]}" "${med[busybox]}")" "goal <= 1.10x"
}

# ---------------------------------------------------------------------------------------------
# 3. Supervisor memory while a Debian guest runs.
HOST_PIDNS=$(readlink /proc/self/ns/pid)
supervisor_pids() {     # PID -> PID and its descendants that live in the host's pid namespace
    local p=$1 c
    [[ $(readlink /proc/"$p"/ns/pid 2>/dev/null) == "$HOST_PIDNS" ]] || return 0
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do supervisor_pids "$c"; done
}
memory_of() {           # PIDS... -> "anon_kB pss_kB names"
    local p anon=0 pss=0 a s names=""
    for p in "$@"; do
        read -r a s < <(awk '/^Anonymous:/ { a = $2 } /^Pss:/ { s = $2 } END { print a + 0, s + 0 }' \
            /proc/"$p"/smaps_rollup 2>/dev/null) || continue
        anon=$((anon + a)); pss=$((pss + s))
        names+="${names:+,}$(cat /proc/"$p"/comm 2>/dev/null)"
    done
    echo "$anon $pss $names"
}

MEM_OUT=""
MEM_WHY=""
memory_once() {         # IMPL NAME -> "anon_kB pss_kB nprocs names" in $MEM_OUT, or the reason in $MEM_WHY
    local impl=$1 name=$2 ov cmd pid i rc log=$WORK/logs/memory-$1.log pids m
    MEM_WHY=""
    new_root
    ov=$OV
    cmd=$(boot_cmd "$impl" "$ov/root" "$WORK/probe-stay.service" "$name")
    # shellcheck disable=SC2086
    $cmd </dev/null >"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < BOOT_TIMEOUT * 10; i++)); do
        [[ -e $ov/root/$MARKER ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -e $ov/root/$MARKER ]] && kill -0 "$pid" 2>/dev/null; then
        sleep "$MEMORY_SETTLE"
        pids=$(supervisor_pids "$pid")
        # shellcheck disable=SC2086
        m=$(memory_of $pids)
        [[ -n $pids ]] || MEM_WHY="supervisor exited"
    elif kill -0 "$pid" 2>/dev/null; then
        MEM_WHY="guest did not reach multi-user.target within ${BOOT_TIMEOUT}s"
    else
        wait "$pid"; rc=$?
        MEM_WHY="supervisor exited before multi-user.target ($(why "$log" $rc))"
    fi
    # Stop the guest the way a user would: lxc-stop, or SIGTERM (halt) to the supervisor.
    if [[ $impl == lxc ]]; then timeout 30 lxc-stop -n "$name" -P "$WORK/lxc" >/dev/null 2>&1; fi
    stop_tree "$pid" 30
    for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} == "$pid" ]] && unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
    drop_root "$ov"
    [[ -z $MEM_WHY ]] || return 1
    # shellcheck disable=SC2086
    set -- $m
    MEM_OUT="$1 $2 $(wc -w <<<"$pids") $3"
}

bench_memory() {
    local impl r
    local -A why=() anon=() pss=() procs=()
    echo
    echo "3. Supervisor memory while a Debian guest runs (host-side processes of each implementation, median of $MEMORY_RUNS boots)"
    find_debian_root || { echo "  no Debian rootfs with systemd (set DEBIAN_ROOT=...); skipping"; return; }
    note "measured ${MEMORY_SETTLE}s after the guest reached multi-user.target; Anonymous and Pss from /proc/PID/smaps_rollup"
    write_probe "$WORK/probe-stay.service" stay
    for impl in berth systemd-nspawn lxc; do
        if [[ $impl == berth ]] && ! ((BERTH_OK)); then why[$impl]=$BERTH_WHY; continue; fi
        if [[ $impl == lxc ]]; then have lxc-start || { why[$impl]="lxc-start not installed"; continue; }
        elif [[ $impl == systemd-nspawn ]]; then have systemd-nspawn || { why[$impl]="not installed"; continue; }; fi
        : >"$WORK/mem.$impl"
        for ((r = 0; r < MEMORY_RUNS; r++)); do
            if memory_once "$impl" "$TAG-$impl"; then echo "$MEM_OUT" >>"$WORK/mem.$impl"
            else why[$impl]="run $((r + 1)): $MEM_WHY"; break; fi
        done
        [[ -n ${why[$impl]:-} ]] && continue
        anon[$impl]=$(cut -d' ' -f1 "$WORK/mem.$impl" | median)
        pss[$impl]=$(cut -d' ' -f2 "$WORK/mem.$impl" | median)
        procs[$impl]=$(cut -d' ' -f3- "$WORK/mem.$impl" | sort | uniq | head -n1)
    done
    printf '  %-18s %-12s %-12s %-22s %s\n' "implementation" "anonymous" "PSS" "processes" ""
    for impl in berth systemd-nspawn lxc; do
        local goal=""
        [[ $impl == berth ]] && goal="goal <= 300 kB anonymous, <= 2.0 MiB PSS"
        if [[ -n ${anon[$impl]:-} ]]; then
            printf '  %-18s %-12s %-12s %-22s %s\n' "$(label "$impl")" \
                "$(awk -v k="${anon[$impl]}" 'BEGIN { printf "%d kB", k }')" \
                "$(awk -v k="${pss[$impl]}" 'BEGIN { printf "%.1f MiB", k / 1024 }')" \
                "${procs[$impl]% *} (${procs[$impl]#* })" "$goal"
        else
            printf '  %-18s %-12s %s\n' "$(label "$impl")" "-" "not available (${why[$impl]})"
        fi
    done
    if [[ -n ${anon[berth]:-} ]]; then
        for impl in systemd-nspawn lxc; do
            [[ -n ${anon[$impl]:-} ]] || continue
            echo "  berth vs $(label "$impl"): anonymous $(ratio "${anon[berth]}" "${anon[$impl]}"), PSS $(ratio "${pss[berth]}" "${pss[$impl]}")"
        done
    fi
}

# ---------------------------------------------------------------------------------------------
# 5. Terminate: a booted Debian guest (multi-user.target reached) until it is gone.
#   berth: TerminateMachine through our machined on a private bus (machined asks nspawn, the supervisor
#          that registered the guest; nspawn sends the guest SIGRTMIN+3): from the call until nspawn exited.
#   systemd-nspawn: what `machinectl poweroff` does (KillMachine "leader" SIGRTMIN+4, which systemd-machined
#          turns into a plain kill(2) of the leader), sent straight to the guest's PID 1: no systemd-machined
#          can register a machine on a host without systemd. From the signal until systemd-nspawn exited;
#          sent by /bin/kill, a process of its own as busctl is on berth's side.
#   Both end in the guest's own clean shutdown; berth's figure also pays for the D-Bus round trip and
#   machined's work, and halts (SIGRTMIN+3) where the other powers off (SIGRTMIN+4): the same shutdown
#   transaction in a container, both end with the supervisor's exit status 0.
TERM_T=""
TERM_WHY=""
MACHINED_ADDR=""
start_bench_machined() {   # a private bus with our machined on it; sets MACHINED_ADDR
    local dir=$WORK/machined i
    mkdir -p "$dir/pool" "$dir/state" "$dir/machines"
    private_bus_config "$dir"
    printf 'machines_dir = "%s"\nenabled_dir = "%s"\nterminate_timeout_sec = 90\n' "$dir/machines" "$dir/enabled" \
        >"$dir/machined.toml"
    dbus-daemon --config-file="$dir/bus.conf" --nofork --nosyslog >"$WORK/logs/bus.log" 2>&1 &
    PIDS+=($!)
    MACHINED_ADDR=unix:path=$dir/bus.sock
    for ((i = 0; i < 100; i++)); do [[ -S $dir/bus.sock ]] && break; sleep 0.05; done
    DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR "$MACHINED" --pool="$dir/pool" --state-dir="$dir/state" \
        --config="$dir/machined.toml" >"$WORK/logs/machined.log" 2>&1 &
    PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        busctl --address="$MACHINED_ADDR" status org.freedesktop.machine1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

guest_init() {      # SUPERVISOR PID -> the guest's PID 1 (the descendant that is 1 in its own namespace)
    local p
    for p in $(descendants "$1"); do
        [[ $p != "$1" && $(awk '/^NSpid:/ { print $NF }' /proc/"$p"/status 2>/dev/null) == 1 ]] && { echo "$p"; return; }
    done
}

# systemd's machinectl VERB NAME against $MACHINED_ADDR, in a private mount namespace with /run/systemd/system
# (without it systemd's clients refuse to run: "System has not been booted with systemd"). The clock starts
# in there, just before machinectl is executed: $TERM_T0 gets the time.
sd_machinectl() {
    local verb=$1 name=$2 t0file=$WORK/term.t0
    DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR unshare -m --propagation private bash -c \
        'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && echo "$EPOCHREALTIME" >"$1" &&
         exec /usr/bin/machinectl "$2" "$3"' bash "$t0file" "$verb" "$name" || return 1
    TERM_T0=$(<"$t0file")
}

# IMPL NAME -> seconds in $TERM_T, or non-zero with the reason in $TERM_WHY. IMPL:
#   berth            nspawn registered with berth's machined, stopped by systemd's `machinectl terminate`
#   berth-poweroff   the same machine stopped by systemd's `machinectl poweroff` (SIGRTMIN+4 to its PID 1)
#   systemd-nspawn   systemd-nspawn registered with the same machined, stopped by `machinectl poweroff`
#   systemd-nspawn-kill  systemd-nspawn unregistered, SIGRTMIN+4 to its PID 1 from /bin/kill (no bus at all)
terminate_once() {
    local impl=$1 name=$2 ov cmd pid t0 t1 rc i log=$WORK/logs/terminate-$1.log
    new_root
    ov=$OV
    TERM_WHY=""
    case $impl in
        berth | berth-poweroff)
            cmd="$NSPAWN -q --register=yes -M $name -D $ov/root --console=pipe --bind-ro=$WORK/probe-stay.service:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        systemd-nspawn)
            cmd="systemd-nspawn -q --register=yes --keep-unit -M $name -D $ov/root --console=pipe --bind-ro=$WORK/probe-stay.service:$PROBE_UNIT -b systemd.wants=berth-probe.service" ;;
        systemd-nspawn-kill) cmd=$(boot_cmd systemd-nspawn "$ov/root" "$WORK/probe-stay.service" "$name") ;;
    esac
    # shellcheck disable=SC2086
    DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR $cmd </dev/null >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < BOOT_TIMEOUT * 20; i++)); do
        [[ -e $ov/root/$MARKER ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ ! -e $ov/root/$MARKER ]]; then
        TERM_WHY="did not boot: $(why "$log" 1)"
        stop_tree "$pid" 5
        drop_root "$ov"
        return 1
    fi
    local init
    init=$(guest_init "$pid")
    # Let the units the boot left under way settle, so that every run stops the same guest.
    sleep "$TERMINATE_SETTLE"
    case $impl in
        berth) sd_machinectl terminate "$name" >>"$log" 2>&1 || TERM_WHY="machinectl terminate failed: $(tail -n1 "$log")" ;;
        berth-poweroff | systemd-nspawn)
            sd_machinectl poweroff "$name" >>"$log" 2>&1 || TERM_WHY="machinectl poweroff failed: $(tail -n1 "$log")" ;;
        # A process of its own, as machinectl is for the others: /bin/kill, not the builtin.
        systemd-nspawn-kill)
            TERM_T0=$(now)
            /bin/kill -s RTMIN+4 "$init" || TERM_WHY="cannot signal the guest's PID 1 ($init)" ;;
    esac
    [[ -n $TERM_WHY ]] && stop_tree "$pid" 5
    wait "$pid"
    rc=$?
    t1=$(now)
    t0=$TERM_T0
    [[ -z $TERM_WHY ]] && ((rc != 0)) && TERM_WHY="the supervisor exited with status $rc (not a clean shutdown)"
    drop_root "$ov"
    [[ -z $TERM_WHY ]] || return 1
    TERM_T=$(elapsed "$t0" "$t1")
}

bench_terminate() {
    local impl r i
    local -a impls=() order=() all=(berth berth-poweroff systemd-nspawn systemd-nspawn-kill)
    local -A why=() med=() lo=() hi=()
    echo
    echo "5. Terminate a booted Debian guest until it is gone (median of $TERMINATE_RUNS runs, interleaved, after $TERMINATE_WARMUP warm-up run(s))"
    find_debian_root || { echo "  no Debian rootfs with systemd (set DEBIAN_ROOT=...); skipping"; return; }
    note "berth and systemd-nspawn both registered with berth's machined on a private bus (systemd-machined cannot"
    note "  run without systemd as PID 1); the clock runs from the start of systemd's machinectl until the supervisor exited"
    note "berth: machinectl terminate (machined asks nspawn, which sends SIGRTMIN+3) / machinectl poweroff (SIGRTMIN+4)"
    note "systemd-nspawn --keep-unit: machinectl poweroff; sd-nspawn kill: SIGRTMIN+4 from /bin/kill, unregistered (no bus)"
    write_probe "$WORK/probe-stay.service" stay
    local bus_why=""
    if ! [[ -d /run/systemd ]]; then
        bus_why="needs /run/systemd (to give systemd's machinectl a private view of it)"
    elif ! [[ -x /usr/bin/machinectl ]]; then
        bus_why="needs systemd's /usr/bin/machinectl (systemd-container)"
    elif ! [[ -x $MACHINED ]]; then
        bus_why="$MACHINED not built"
    elif ! start_bench_machined; then
        bus_why="machined did not come up: $(why "$WORK/logs/machined.log" 1)"
    fi
    for impl in berth berth-poweroff systemd-nspawn; do [[ -n $bus_why ]] && why[$impl]=$bus_why; done
    if ! ((BERTH_OK)); then why[berth]=$BERTH_WHY; why[berth-poweroff]=$BERTH_WHY; fi
    for impl in "${all[@]}"; do
        [[ -n ${why[$impl]:-} ]] && continue
        available "$impl" || { why[$impl]=$UNAVAILABLE; continue; }
        for ((i = 0; i < TERMINATE_WARMUP; i++)); do
            terminate_once "$impl" "$TAG-t$impl" || { why[$impl]=$TERM_WHY; break; }
        done
        [[ -n ${why[$impl]:-} ]] || { impls+=("$impl"); : >"$WORK/term.$impl"; }
    done
    for ((r = 0; r < TERMINATE_RUNS; r++)); do
        order=()
        for i in "${!impls[@]}"; do order+=("${impls[(i + r) % ${#impls[@]}]}"); done
        for impl in "${order[@]}"; do
            [[ -n ${why[$impl]:-} ]] && continue
            if terminate_once "$impl" "$TAG-t$impl"; then echo "$TERM_T" >>"$WORK/term.$impl"
            else why[$impl]="run $((r + 1)): $TERM_WHY"; fi
        done
    done
    for impl in "${impls[@]}"; do
        [[ -n ${why[$impl]:-} ]] && continue
        med[$impl]=$(median <"$WORK/term.$impl")
        read -r "lo[$impl]" "hi[$impl]" < <(minmax <"$WORK/term.$impl")
    done
    row "implementation" "median" "range" "vs systemd-nspawn" ""
    for impl in "${all[@]}"; do
        local goal="" lbl
        [[ $impl == berth ]] && goal="goal <= 1.00x"
        case $impl in
            berth) lbl="berth terminate" ;; berth-poweroff) lbl="berth poweroff" ;;
            systemd-nspawn) lbl="systemd-nspawn" ;; systemd-nspawn-kill) lbl="sd-nspawn kill" ;;
        esac
        if [[ -n ${med[$impl]:-} ]]; then
            row "$lbl" "$(secs "${med[$impl]}")" "$(secs "${lo[$impl]}") .. $(secs "${hi[$impl]}")" \
                "$([[ -n ${med[systemd-nspawn]:-} ]] && ratio "${med[$impl]}" "${med[systemd-nspawn]}" || echo -)" "$goal"
        else
            row "$lbl" "-" "not available (${why[$impl]})" "" ""
        fi
    done
    if grep -q "killing it" "$WORK/logs/machined.log" 2>/dev/null; then
        echo "  warning: machined had to kill a guest after its timeout (see its log)"
    fi
}

# shellcheck source=tests/fixtures/private-bus.sh
source "$REPO/tests/fixtures/private-bus.sh"

# shell and login
# shellcheck source=tests/bench/enter.sh
source "$REPO/tests/bench/enter.sh"

# ---------------------------------------------------------------------------------------------
header
case $WHAT in
    startup) bench_startup ;;
    boot) bench_boot ;;
    memory) bench_memory ;;
    imagesize) bench_imagesize ;;
    terminate) bench_terminate ;;
    shell) bench_shell ;;
    login) bench_login ;;
    all) bench_startup; bench_boot; bench_memory; bench_imagesize; bench_terminate; bench_shell; bench_login ;;
esac
