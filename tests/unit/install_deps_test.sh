#!/usr/bin/env bash
# The install step of boot.sh and test.sh (tests/fixtures/common.sh), without the network: dpkg-query and
# apt-get are shims on PATH. The dpkg-query shim answers from a made-up database the way the real one
# does (a status line for each known package, "no packages found matching" on stderr and exit status 1
# for unknown ones, 2 when the database cannot be read); the apt-get shim records its arguments and
# fails when told to. Usage: install_deps_test.sh CASE (CTest runs each case as its own test).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"

cat >"$work/bin/dpkg-query" <<'EOF'
#!/usr/bin/env bash
# dpkg-query -W -f=FORMAT PACKAGE...: FORMAT with ${db:Status-Abbrev}, ${Package} and \n.
if [[ -n ${SHIM_DPKG_FATAL:-} ]]; then
    echo "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 1: corrupt" >&2
    exit 2
fi
format= status=0
packages=()
for a in "$@"; do
    case $a in
        -W) ;;
        -f=*) format=${a#-f=} ;;
        *) packages+=("$a") ;;
    esac
done
for p in "${packages[@]}"; do
    abbrev=$(awk -v p="$p" '$1 == p { print $2 }' "$SHIM_DPKG_DB")
    if [[ -z $abbrev ]]; then
        echo "dpkg-query: no packages found matching $p" >&2
        status=1
        continue
    fi
    line=${format//'${db:Status-Abbrev}'/$(printf '%-3s' "$abbrev")}
    line=${line//'${Package}'/$p}
    printf '%b' "$line"
done
exit $status
EOF

cat >"$work/bin/apt-get" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$SHIM_APT_LOG"
case $1 in
    update) [[ -z ${SHIM_APT_UPDATE_FAILS:-} ]] || { echo "E: Failed to fetch (shim)" >&2; exit 100; } ;;
    install) [[ -z ${SHIM_APT_INSTALL_FAILS:-} ]] || { echo "E: Unable to locate package (shim)" >&2; exit 100; } ;;
esac
exit 0
EOF
chmod +x "$work/bin/dpkg-query" "$work/bin/apt-get"

export SHIM_DPKG_DB=$work/dpkg-db SHIM_APT_LOG=$work/apt-log PATH=$work/bin:$PATH
: >"$SHIM_APT_LOG"

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# Every package of the real list as installed ("ii"), then the given "package status" lines on top.
make_db() {
    (source "$repo/tests/fixtures/common.sh" && printf '%s ii\n' "${BERTH_PACKAGES[@]}") >"$SHIM_DPKG_DB"
    local entry
    for entry in "$@"; do
        sed -i "/^${entry%% *} /d" "$SHIM_DPKG_DB"
        [[ ${entry#* } == unknown ]] || echo "$entry" >>"$SHIM_DPKG_DB"
    done
}

# Runs the steps as test.sh does, in a shell of their own (errexit and the ERR trap are off in a
# subshell whose status is tested): standard error lands in $work/err, the exit status in $status.
run_steps() {
    local dir=$1
    shift
    status=0
    bash -c 'cd "$1" && shift && set -euo pipefail && source "$0/tests/fixtures/common.sh" && "$@"' \
        "$repo" "$dir" "$@" 2>"$work/err" || status=$?
}
run_install_deps() { run_steps "$repo" install_deps; }

installs() { grep '^install ' "$SHIM_APT_LOG" || true; }

# One line naming the step, the command and its exit status, or the reason given by die.
expect_one_error_line() {
    local what=$1
    [[ $status == 1 ]] || fail "exit status $status, want 1; stderr: $(<"$work/err")"
    local errors
    errors=$(grep -c '^error: ' "$work/err" || true)
    [[ $errors == 1 ]] || fail "want exactly one error line, got $errors: $(<"$work/err")"
    grep -q "^error: .*$what" "$work/err" || fail "the error line does not say '$what': $(<"$work/err")"
}

case_asks_for_exactly_the_missing_packages() {
    # Unknown to dpkg, known but not installed, half-installed, unpacked and removed (config left).
    make_db "jq unknown" "lxc un" "cmake iHR" "dbus iU" "uidmap rc"
    run_install_deps
    [[ $status == 0 ]] || fail "install_deps failed: $(<"$work/err")"
    [[ $(installs) == "install -y -q --no-install-recommends cmake dbus jq lxc uidmap" ]] ||
        fail "asked for: $(installs)"
    grep -q '^update' "$SHIM_APT_LOG" || fail "no apt-get update before the install"
}

case_asks_for_every_package_on_a_pristine_machine() {
    (source "$repo/tests/fixtures/common.sh" && printf '%s\n' "${BERTH_PACKAGES[@]}") >"$work/all"
    : >"$SHIM_DPKG_DB"
    run_install_deps
    [[ $status == 0 ]] || fail "install_deps failed: $(<"$work/err")"
    local asked
    asked=$(installs | sed 's/^install -y -q --no-install-recommends //' | tr ' ' '\n' | sort)
    [[ $asked == "$(sort "$work/all")" ]] || fail "asked for: $(installs)"
}

case_asks_nothing_when_everything_is_installed() {
    make_db
    run_install_deps
    [[ $status == 0 ]] || fail "install_deps failed: $(<"$work/err")"
    [[ ! -s $SHIM_APT_LOG ]] || fail "apt-get was called: $(<"$SHIM_APT_LOG")"
}

case_failing_install_ends_with_a_message_naming_the_packages() {
    make_db "jq unknown" "hyperfine un"
    export SHIM_APT_INSTALL_FAILS=1
    run_install_deps
    expect_one_error_line "apt-get install failed (exit status 100) for: hyperfine jq"
}

case_failing_update_ends_with_a_message_naming_the_packages() {
    make_db "jq unknown"
    export SHIM_APT_UPDATE_FAILS=1
    run_install_deps
    expect_one_error_line "apt-get update failed (exit status 100).*Packages still missing: jq"
    [[ -z $(installs) ]] || fail "installed after a failed update: $(installs)"
}

case_unreadable_dpkg_database_ends_with_a_message() {
    make_db
    export SHIM_DPKG_FATAL=1
    run_install_deps
    expect_one_error_line "dpkg-query could not read dpkg's database (exit status 2)"
    [[ ! -s $SHIM_APT_LOG ]] || fail "apt-get was called: $(<"$SHIM_APT_LOG")"
}

# Any other failing command in a step: one line with the step, the command, its status and where to look.
case_failing_step_names_itself_the_command_and_its_status() {
    printf '#!/bin/sh\nexit 3\n' >"$work/bin/cmake"
    chmod +x "$work/bin/cmake"
    mkdir -p "$work/tree/build"
    : >"$work/tree/build/build.ninja"
    run_steps "$work/tree" build
    expect_one_error_line 'building failed: `cmake --build build` exited with status 3; see'
}

name=${1:?usage: install_deps_test.sh CASE}
"case_$name"
echo "PASS: $name"
