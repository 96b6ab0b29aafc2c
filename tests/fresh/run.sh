#!/usr/bin/env bash
# The README's two commands on a brand-new Debian 12: a pristine `debootstrap --variant=minbase bookworm`
# tree (nothing of ours installed), entered with pivot_root in a private mount namespace (not chroot:
# the kernel refuses new user namespaces to a chrooted process) with the host's /proc, /sys and /dev
# bound in and tmpfs on /run and /tmp. A clean clone of this repository's HEAD goes to the tree's /root
# (0700, where root naturally puts it), then:
#   test: ./test.sh -R '<unit tests, Basics, the Debian boots>' must install, build, fetch the Debian
#         rootfs and pass, then tests/sanitize.sh (some unit tests) and tests/fuzz/run.sh 5 must build and
#         pass, with the tools the install step brought;
#   boot: ./boot.sh must get to the guest's login prompt on a terminal; the script logs in as root and
#         powers the guest off. Then, in the same tree, the README's "Managing machines" blocks marked
#         for this script run as written (install, system bus, machined, enable/start/status/poweroff);
#         that part runs in a PID namespace of its own with its own /proc, so the bus and machined it
#         starts end with it.
# Usage: tests/fresh/run.sh [test|boot]... (both when none is named). Needs root and Debian's archive
# (it downloads: not part of CI). Each check runs on its own copy of the pristine tree, removed afterwards
# (BERTH_FRESH_KEEP=1 keeps it); the pristine tree itself is cached in $BERTH_FRESH_CACHE.
# Commit first: the clone takes HEAD, not the work tree. Run it while no other berth test runs (the two
# would share the host's cgroups and network links).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
cache=${BERTH_FRESH_CACHE:-/var/cache/berth/fresh-bookworm}
mirror=${BERTH_FRESH_MIRROR:-http://deb.debian.org/debian}
tests_regex='^unit\.|^machined-unit\.|\.Basics\.|Debian'
sanitize_regex='^unit\.Resource|^unit\.TomlText|^machined-unit\.'
boot_timeout=${BERTH_FRESH_BOOT_TIMEOUT:-3600}

say() { printf '==> fresh: %s\n' "$*" >&2; }
die() { printf 'error: fresh: %s\n' "$*" >&2; exit 1; }
trap 'printf "error: fresh: \`%s\` exited with status %d\n" "$BASH_COMMAND" "$?" >&2' ERR

[[ $(id -u) == 0 ]] || die "run as root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (./test.sh installs it)"

# The pristine tree, made once and renamed into place when complete.
pristine_tree() {
    [[ -x $cache/usr/bin/dpkg ]] && return 0
    say "debootstrap --variant=minbase bookworm into $cache (first use only)"
    rm -rf --one-file-system "$cache.tmp"
    mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase bookworm "$cache.tmp" "$mirror" </dev/null >"$cache.log" 2>&1 ||
        die "debootstrap failed; see $cache.log and $cache.tmp/debootstrap/debootstrap.log"
    mv "$cache.tmp" "$cache"
}

# A copy of the pristine tree with a clean clone of HEAD in /root/berth; prints its path.
fresh_copy() {
    local work
    work=$(mktemp -d /var/tmp/berth-fresh.XXXXXX)
    cp -a "$cache" "$work/root"
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    git clone -q "$repo" "$work/root/root/berth"
    printf '%s\n' "$work"
}

# Runs COMMAND (a shell command line) in /root/berth of the tree $1, entered as a new machine would be:
# its own mount namespace, pivot_root into the tree, the host's /proc, /sys and /dev, tmpfs /run, /tmp.
# With $3 = pidns: a PID namespace of its own too, with its own /proc; whatever COMMAND leaves running
# ends with it.
enter() {
    local root=$1 command=$2 pidns=${3:-}
    local how=(--mount --propagation private)
    [[ -z $pidns ]] || how+=(--pid --fork)
    unshare "${how[@]}" -- bash -euc '
        root=$1 command=$2 pidns=$3
        mount --bind "$root" "$root"
        if [[ -n $pidns ]]; then
            mount -t proc proc "$root/proc"
        else
            mount --rbind /proc "$root/proc"
        fi
        mount --rbind /sys "$root/sys"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=0755 tmpfs "$root/run"
        mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        cd "$root"
        mkdir -p .fresh-old-root
        pivot_root . .fresh-old-root
        umount -l /.fresh-old-root
        rmdir /.fresh-old-root
        cd /root/berth
        exec env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$command"
    ' fresh "$root" "$command" "$pidns"
}

# The README's blocks marked for this script, one after the other, as one script.
readme_blocks() {
    awk '/<!-- tests\/fresh\/run.sh runs this block as written -->/ { marked = 1; next }
         marked && /^```/ { if (inside) { marked = 0; inside = 0 } else inside = 1; next }
         inside { print }' "$repo/README.md"
}

finish() {
    local work=$1
    if [[ -n ${BERTH_FRESH_KEEP:-} ]]; then
        say "kept $work"
    else
        rm -rf --one-file-system "$work"
    fi
}

check_test() {
    local work start status=0
    work=$(fresh_copy)
    say "test: ./test.sh -R '$tests_regex' in a pristine tree ($work)"
    start=$SECONDS
    # Then what ./test.sh runs after the normal suite, briefly: the sanitizer build with a few of its
    # tests, every fuzz target for 5 s (their tools come with the install step above).
    enter "$work/root" "./test.sh -R '$tests_regex' && tests/sanitize.sh -R '$sanitize_regex' && tests/fuzz/run.sh 5" \
        </dev/null 2>&1 | tee "$work/test.log" || status=$?
    say "test: exit status $status after $((SECONDS - start)) s (log: $work/test.log)"
    [[ $status == 0 ]] && [[ $(grep -c '100% tests passed' "$work/test.log") == 2 ]] &&
        [[ $(grep -c 'no finding' "$work/test.log") -ge 7 ]] || status=1
    cp "$work/test.log" /var/tmp/berth-fresh-test.log
    finish "$work"
    return $status
}

# Waits until the terminal log $1 shows the pattern $2 (an extended regex), at most $3 seconds.
wait_for() {
    local log=$1 pattern=$2 limit=$3 waited=0
    until tr -d '\r' <"$log" | grep -Eq "$pattern"; do
        ((waited++ < limit)) || return 1
        kill -0 "$script_pid" 2>/dev/null || return 1
        sleep 1
    done
}

check_boot() {
    local work start status=0 log
    work=$(fresh_copy)
    log=$work/boot.log
    say "boot: ./boot.sh on a terminal in a pristine tree ($work)"
    start=$SECONDS
    mkfifo "$work/keys"
    : >"$log"
    # script(1) gives boot.sh a terminal; the keys we type come through the fifo.
    SHELL=/bin/bash script -qefc "$(declare -f enter); enter '$work/root' ./boot.sh" "$log" <"$work/keys" \
        >/dev/null 2>&1 &
    script_pid=$!
    exec {keys}>"$work/keys"
    if wait_for "$log" 'debian login:' "$boot_timeout"; then
        say "boot: login prompt after $((SECONDS - start)) s"
        sleep 1
        printf 'root\r' >&$keys
        if wait_for "$log" 'root@debian:~#' 60; then
            printf 'systemctl is-system-running --wait; poweroff\r' >&$keys
        else
            status=1
            say "boot: no shell prompt after logging in as root"
            printf '\035\035\035' >&$keys  # Ctrl-] three times: nspawn leaves the machine
        fi
    else
        status=1
        say "boot: no login prompt within $boot_timeout s"
        kill "$script_pid" 2>/dev/null || true
    fi
    exec {keys}>&-
    wait "$script_pid" || status=$?
    say "boot: exit status $status after $((SECONDS - start)) s (terminal log: $log)"
    tr -d '\r' <"$log" | tail -n 15 >&2
    cp "$log" /var/tmp/berth-fresh-boot.log
    if [[ $status == 0 ]]; then
        manage "$work" || status=1
    fi
    finish "$work"
    return $status
}

# The README's "Managing machines" as written, in the tree boot.sh built; then the machine it powered
# off must be gone (bounded wait).
manage() {
    local work=$1 script status=0
    script="set -ex
$(readme_blocks)
for i in \$(seq 120); do machinectl list | grep -q '^No machines' && exit 0; sleep 0.5; done
echo 'the machine is still there a minute after poweroff' >&2; exit 1"
    say "manage: the README's blocks, as written:"
    readme_blocks | sed 's/^/    /' >&2
    enter "$work/root" "$script" pidns </dev/null >"$work/manage.log" 2>&1 || status=$?
    cat "$work/manage.log" >&2
    cp "$work/manage.log" /var/tmp/berth-fresh-manage.log
    say "manage: exit status $status"
    return $status
}

checks=("$@")
((${#checks[@]})) || checks=(test boot)
pristine_tree
failed=0
for c in "${checks[@]}"; do
    case $c in
        test) check_test || failed=1 ;;
        boot) check_boot || failed=1 ;;
        *) die "unknown check '$c' (test or boot)" ;;
    esac
done
((failed == 0)) && say "all passed" || die "failed (logs in /var/tmp/berth-fresh-*.log)"
