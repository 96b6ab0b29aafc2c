# Sourced by run.sh (uses its helpers, WORK, PIDS and cleanup): the benchmarks of getting inside a machine.
#   shell: `machinectl shell NAME /bin/true` against berth's machined vs the floor `nsenter --all`.
#   login: `machinectl login NAME` until the "login: " prompt shows, berth's machinectl and systemd's.
# shellcheck shell=bash

MACHINECTL=${MACHINECTL:-$(dirname "$NSPAWN")/machinectl}
SHELL_RUNS=${SHELL_RUNS:-60}
SHELL_ROUNDS=${SHELL_ROUNDS:-3}
SHELL_WARMUP=${SHELL_WARMUP:-3}
LOGIN_RUNS=${LOGIN_RUNS:-15}
LOGIN_WARMUP=${LOGIN_WARMUP:-2}
LOGIN_DEBIAN=${LOGIN_DEBIAN:-1}
SYSTEMD_MACHINED=${SYSTEMD_MACHINED:-/lib/systemd/systemd-machined}

machine_leader() {  # ADDRESS NAME -> the machine's Leader as machined reports it (empty: not registered)
    local path
    path=$(busctl --address="$1" call org.freedesktop.machine1 /org/freedesktop/machine1 \
        org.freedesktop.machine1.Manager GetMachine s "$2" 2>/dev/null) || return 1
    path=${path#o \"}; path=${path%\"}
    busctl --address="$1" get-property org.freedesktop.machine1 "$path" org.freedesktop.machine1.Machine Leader \
        2>/dev/null | awk '{ print $2 }'
}

GUEST_PID=""
GUEST_LEADER=""
GUEST_WRAP=(env)   # a command nspawn runs under, and options for it (see login_systemd_machined)
GUEST_OPTS=()
GUEST_WHY=""
# NAME ROOT MODE(busybox|debian) -> a guest of berth's nspawn registered with machined at $MACHINED_ADDR,
# running; its supervisor in GUEST_PID (also in PIDS, for cleanup), its leader in GUEST_LEADER.
start_registered_guest() {
    local name=$1 root=$2 mode=$3 log=$WORK/logs/guest-$1.log i
    GUEST_WHY=""; GUEST_LEADER=""
    if [[ $mode == busybox ]]; then
        DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR "${GUEST_WRAP[@]}" "$NSPAWN" -q --register=yes -M "$name" -D "$root" \
            "${GUEST_OPTS[@]}" /bin/sh -c 'exec sleep 2147483647' </dev/null >"$log" 2>&1 &
    else
        DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR "${GUEST_WRAP[@]}" "$NSPAWN" -q --register=yes -M "$name" -D "$root" \
            "${GUEST_OPTS[@]}" --console=pipe \
            --bind-ro="$WORK/probe-stay.service:$PROBE_UNIT" -b systemd.wants=berth-probe.service \
            </dev/null >"$log" 2>&1 &
    fi
    GUEST_PID=$!
    PIDS+=("$GUEST_PID")
    for ((i = 0; i < BOOT_TIMEOUT * 20; i++)); do
        kill -0 "$GUEST_PID" 2>/dev/null || break
        GUEST_LEADER=$(machine_leader "$MACHINED_ADDR" "$name")
        if [[ -n $GUEST_LEADER ]] && { [[ $mode == busybox ]] || [[ -e $root/$MARKER ]]; }; then
            # busybox: the leader is up once it is sleep (sh exec'd it).
            [[ $mode == debian || $(cat /proc/"$GUEST_LEADER"/comm 2>/dev/null) == sleep ]] && return 0
        fi
        sleep 0.05
    done
    GUEST_WHY="$(why "$log" 1)"
    stop_guest
    return 1
}
stop_guest() {
    local i
    [[ -n $GUEST_PID ]] || return 0
    stop_tree "$GUEST_PID" 30
    for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} == "$GUEST_PID" ]] && unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
    GUEST_PID=""
}

enter_prerequisites() {    # -> "" or the reason berth's side cannot run, in ENTER_WHY
    ENTER_WHY=""
    if ! ((BERTH_OK)); then ENTER_WHY=$BERTH_WHY
    elif [[ ! -x $MACHINED ]]; then ENTER_WHY="$MACHINED not built"
    elif [[ ! -x $MACHINECTL ]]; then ENTER_WHY="$MACHINECTL not built"
    elif ! start_bench_machined; then ENTER_WHY="machined did not come up: $(why "$WORK/logs/machined.log" 1)"
    fi
    [[ -z $ENTER_WHY ]]
}

# ---------------------------------------------------------------------------------------------
# 6. Shell round trip in a running busybox machine.
#   floor: nsenter --all --target LEADER /bin/true (setns into every namespace, exec; no cgroup, no
#          confinement, no user lookup, no bus).
#   berth: machinectl shell NAME /bin/true: machinectl starts, asks machined over the bus (Execute, stdin
#          and stdout not a terminal: the command gets machinectl's own fds), machined forks a waiter that
#          joins the cgroups and namespaces, forks the command with the leader's confinement, and reports its
#          status on a pipe that machinectl reads.
#   The same two under `script` (a pty: machinectl takes ExecutePTY and forwards the terminal), for
#   information.
bench_shell() {
    local name=$TAG-sh root=$WORK/busybox i impl round
    local -a impls=(floor berth floor-pty berth-pty) hf
    local -A cmd=() med=() lo=() hi=()
    echo
    echo "6. Shell round trip: /bin/true in a running busybox machine (median of $SHELL_RUNS runs in $SHELL_ROUNDS rounds, $SHELL_WARMUP warm-up runs per round)"
    have hyperfine || { echo "  needs hyperfine (apt-get install hyperfine); skipping"; return; }
    enter_prerequisites || { echo "  berth: not available ($ENTER_WHY)"; return; }
    [[ -d $root ]] || make_busybox_root "$root"
    start_registered_guest "$name" "$root" busybox || { echo "  the busybox guest did not start: $GUEST_WHY"; return; }
    note "machine $name, leader $GUEST_LEADER; machinectl $MACHINECTL against machined on a private bus"
    cmd[floor]="nsenter --all --target $GUEST_LEADER /bin/true"
    cmd[berth]="$MACHINECTL shell $name /bin/true"
    cmd[floor-pty]="script -q -e -c '${cmd[floor]}' /dev/null"
    cmd[berth-pty]="script -q -e -c '$MACHINECTL -q shell $name /bin/true' /dev/null"
    for impl in "${impls[@]}"; do
        DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR bash -c "${cmd[$impl]}" </dev/null >"$WORK/logs/shell-$impl.log" 2>&1 ||
            { echo "  $impl failed: $(why "$WORK/logs/shell-$impl.log" $?)"; stop_guest; return; }
    done
    local per=$(((SHELL_RUNS + SHELL_ROUNDS - 1) / SHELL_ROUNDS))
    for ((round = 0; round < SHELL_ROUNDS; round++)); do
        hf=(hyperfine -N --style none --warmup "$SHELL_WARMUP" --runs "$per" --export-json "$WORK/shell.$round.json")
        # hyperfine -N splits the commands as a shell would (quotes included), without running one.
        for impl in "${impls[@]}"; do hf+=(-n "$impl" "${cmd[$impl]}"); done
        DBUS_SYSTEM_BUS_ADDRESS=$MACHINED_ADDR "${hf[@]}" >"$WORK/logs/hyperfine-shell.log" 2>&1 ||
            { echo "  hyperfine failed: $(tail -n2 "$WORK/logs/hyperfine-shell.log")"; stop_guest; return; }
    done
    for impl in "${impls[@]}"; do
        jq -r --arg n "$impl" '.results[] | select(.command == $n) | .times[]' "$WORK"/shell.*.json >"$WORK/sh.$impl"
        med[$impl]=$(median <"$WORK/sh.$impl")
        read -r "lo[$impl]" "hi[$impl]" < <(minmax <"$WORK/sh.$impl")
    done
    stop_guest
    row "command" "median" "range" "vs its floor" ""
    row "floor (nsenter)" "$(ms "${med[floor]}")" "$(ms "${lo[floor]}") .. $(ms "${hi[floor]}")" "1.00x" ""
    row "machinectl shell" "$(ms "${med[berth]}")" "$(ms "${lo[berth]}") .. $(ms "${hi[berth]}")" \
        "$(ratio "${med[berth]}" "${med[floor]}")" "goal <= 2.00x"
    row "floor on a pty" "$(ms "${med[floor-pty]}")" "$(ms "${lo[floor-pty]}") .. $(ms "${hi[floor-pty]}")" "1.00x" "(script -c nsenter ...)"
    row "shell on a pty" "$(ms "${med[berth-pty]}")" "$(ms "${lo[berth-pty]}") .. $(ms "${hi[berth-pty]}")" \
        "$(ratio "${med[berth-pty]}" "${med[floor-pty]}")" "(ExecutePTY, for information)"
}

# ---------------------------------------------------------------------------------------------
# 7. Login to the prompt.
SDM_ADDR=""
SDM_WHY=""
start_systemd_machined() {  # Debian's systemd-machined on a bus of its own; sets SDM_ADDR or SDM_WHY
    local dir=$WORK/sdm i
    SDM_WHY=""
    [[ -x $SYSTEMD_MACHINED ]] || { SDM_WHY="$SYSTEMD_MACHINED not installed (systemd-container)"; return 1; }
    mkdir -p "$dir"
    sed "s|$WORK/machined/bus.sock|$dir/bus.sock|" "$WORK/machined/bus.conf" >"$dir/bus.conf"
    dbus-daemon --config-file="$dir/bus.conf" --nofork --nosyslog >"$WORK/logs/sdm-bus.log" 2>&1 &
    PIDS+=($!)
    SDM_ADDR=unix:path=$dir/bus.sock
    for ((i = 0; i < 100; i++)); do [[ -S $dir/bus.sock ]] && break; sleep 0.05; done
    # Its state in /run/systemd/machines: a private /run/systemd, as tests/bench/machined.sh gives it.
    DBUS_SYSTEM_BUS_ADDRESS=$SDM_ADDR SYSTEMD_LOG_LEVEL=debug unshare -m --propagation private /bin/sh -c \
        'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec "$0"' "$SYSTEMD_MACHINED" \
        >"$WORK/logs/systemd-machined.log" 2>&1 &
    PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        busctl --address="$SDM_ADDR" status org.freedesktop.machine1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    SDM_WHY="did not come up: $(why "$WORK/logs/systemd-machined.log" 1)"
    return 1
}

LOGIN_OUT=""
# GUEST-LABEL NAME -> runs login_probe.py with both clients in a view with /run/systemd/system (what
# systemd's machinectl needs to believe it runs under systemd), against the bus in $LOGIN_ADDR; output
# appended to $LOGIN_OUT as "GUEST-LABEL/CLIENT SECONDS".
login_probe() {
    local guest=$1 name=$2 out=$WORK/login-$1.out
    local -a clients=(berth "$MACHINECTL login $name")
    [[ -x /usr/bin/machinectl ]] && clients+=(systemd "/usr/bin/machinectl login $name")
    DBUS_SYSTEM_BUS_ADDRESS=$LOGIN_ADDR unshare -m --propagation private /bin/sh -c \
        'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec "$@"' sh \
        python3 "$REPO/tests/bench/login_probe.py" "$LOGIN_RUNS" "$LOGIN_WARMUP" 30 "${clients[@]}" \
        >"$out" 2>"$WORK/logs/login-$guest.log"
    sed "s|^|$guest/|" "$out" >>"$LOGIN_OUT"
}

login_rows() {      # GUEST-LABEL BACKEND-LABEL: a row per client from $LOGIN_OUT
    local guest=$1 backend=$2 client m lo hi fail
    local -A med=()
    for client in berth systemd; do
        fail=$(awk -v k="$guest/$client" '$1 == k && $2 == "FAIL" { $1 = $2 = ""; print substr($0, 3); exit }' "$LOGIN_OUT")
        awk -v k="$guest/$client" '$1 == k && $2 != "FAIL" { print $2 }' "$LOGIN_OUT" >"$WORK/l.$client"
        if [[ -n $fail ]]; then
            row "$(printf '%-8s %s' "$client" "$backend")" "-" "failed:" "" ""
            echo "      ${fail:0:240}"
        elif [[ -s $WORK/l.$client ]]; then
            med[$client]=$(median <"$WORK/l.$client")
            read -r lo hi < <(minmax <"$WORK/l.$client")
            row "$(printf '%-8s %s' "$client" "$backend")" "$(ms "${med[$client]}")" "$(ms "$lo") .. $(ms "$hi")" \
                "$([[ -n ${med[berth]:-} ]] && ratio "${med[$client]}" "${med[berth]}")" ""
        fi
    done
}

bench_login() {
    local name=$TAG-lg root=$WORK/busybox ov
    echo
    echo "7. Login to the prompt: machinectl login NAME until \"login: \" shows (median of $LOGIN_RUNS runs, interleaved, after $LOGIN_WARMUP warm-up runs)"
    have python3 || { echo "  needs python3 (the pty driver is tests/bench/login_probe.py); skipping"; return; }
    [[ -d /run/systemd ]] || { echo "  needs /run/systemd (to give systemd's machinectl a private view of it); skipping"; return; }
    enter_prerequisites || { echo "  berth: not available ($ENTER_WHY)"; return; }
    note "each client on a fresh pty; the clock runs from its start to the prompt; left with ^]^]^]"
    note "systemd's /usr/bin/machinectl runs with a private /run/systemd/system (as the tests' systemd_tool())"
    LOGIN_OUT=$WORK/login.out
    : >"$LOGIN_OUT"
    LOGIN_ADDR=$MACHINED_ADDR
    [[ -d $root ]] || make_busybox_root "$root"
    if start_registered_guest "$name-bb" "$root" busybox; then
        login_probe busybox "$name-bb"
        stop_guest
    else
        echo "busybox/berth FAIL the busybox guest did not start: $GUEST_WHY" >>"$LOGIN_OUT"
    fi
    if ((LOGIN_DEBIAN)) && find_debian_root; then
        write_probe "$WORK/probe-stay.service" stay
        new_root; ov=$OV
        if start_registered_guest "$name-deb" "$ov/root" debian; then
            login_probe debian "$name-deb"
            stop_guest
        else
            echo "debian/berth FAIL the Debian guest did not boot: $GUEST_WHY" >>"$LOGIN_OUT"
        fi
        drop_root "$ov"
    fi
    echo "  busybox guest (no systemd: machined runs login(1) on a pty it opened in the machine):"
    row "client/machined" "median" "range" "vs berth's client" ""
    login_rows busybox "-> berth machined"
    if ((LOGIN_DEBIAN)) && [[ -n ${DEBIAN_ROOT:-} ]]; then
        echo "  booted Debian guest (machined asks the guest's systemd for container-getty@N on the pty):"
        login_rows debian "-> berth machined"
    fi
    login_systemd_machined "$name"
}

# Debian's systemd-machined, where it can run here: the same guests registered by berth's nspawn with it,
# systemd's machinectl as the client. Without systemd as PID 1 it may refuse: the row then says why.
login_systemd_machined() {
    local name=$1-sd root=$WORK/busybox ov guest why
    echo "  against Debian's systemd-machined ($SYSTEMD_MACHINED, private bus, private /run/systemd):"
    start_systemd_machined || { row "systemd-machined" "-" "not available ($SDM_WHY)" "" ""; return; }
    local MACHINED_ADDR=$SDM_ADDR LOGIN_ADDR=$SDM_ADDR   # seen by the functions called below
    # systemd-machined registers a leader only inside a unit's cgroup ("Failed to determine unit of
    # process" otherwise), and there is no systemd here to make one: nspawn --keep-unit, started in a
    # cgroup named like a scope, with /run/systemd/system in its view, puts the guest in SCOPE/payload.
    local unified=/sys/fs/cgroup/unified scope
    [[ -f /sys/fs/cgroup/cgroup.controllers ]] && unified=/sys/fs/cgroup
    scope=$unified/$TAG-sd.scope    # removed by sweep_cgroups (named after TAG)
    mkdir -p "$scope" || { row "systemd-machined" "-" "cannot create $scope" "" ""; return; }
    local -a GUEST_WRAP=(unshare -m --propagation private /bin/sh -c
        'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && echo $$ >"$0/cgroup.procs" && exec "$@"' "$scope")
    local -a GUEST_OPTS=(--keep-unit)
    for guest in busybox debian; do
        [[ $guest == debian ]] && { ((LOGIN_DEBIAN)) && [[ -n ${DEBIAN_ROOT:-} ]] || continue; }
        ov=""
        if [[ $guest == debian ]]; then new_root; ov=$OV; root=$ov/root; fi
        if start_registered_guest "$name-$guest" "$root" "$guest"; then
            login_probe "sd-$guest" "$name-$guest"
            stop_guest
            echo "    $guest guest:"
            login_rows "sd-$guest" "-> systemd-machined"
        else
            why=$(grep -v '^[[:space:]]*$' "$WORK/logs/guest-$name-$guest.log" | grep -iE 'machine|regist|fail' | head -n1 | cut -c1-160)
            row "    $guest guest" "-" "not registered: ${why:-$GUEST_WHY}" "" ""
        fi
        [[ -n $ov ]] && drop_root "$ov"
    done
}
