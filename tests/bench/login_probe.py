#!/usr/bin/env python3
"""Time from starting a login client on a fresh pty until its "login: " prompt shows, for several clients,
interleaved: login_probe.py RUNS WARMUP TIMEOUT LABEL COMMAND [LABEL COMMAND ...]

Every run opens a new pty, starts COMMAND (split as a shell would, no shell) on it as a session leader with
the pty as controlling terminal, and reads the master until the output contains "login: ". The clock runs
from just before the fork to the read that completed the prompt. The session is then left as a user
would leave machinectl (Ctrl-] three times), and the client is killed if it is still there after 5 s.
Prints one line per measured run: "LABEL SECONDS", or "LABEL FAIL reason" (and that client is dropped).
A benchmark helper for tests/bench/run.sh, not a test.
"""
import fcntl
import os
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time

PROMPT = b"login: "


def set_ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def reap(proc, grace):
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def once(argv, timeout):
    """Seconds to the prompt, or raises RuntimeError with the reason."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=set_ctty, close_fds=True,
                            env=dict(os.environ, TERM="vt220", SYSTEMD_COLORS="0"))
    os.close(slave)
    try:
        while PROMPT not in seen:
            left = t0 + timeout - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no prompt within {timeout}s; output: {seen[-200:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise RuntimeError(f"client ended before the prompt (status {proc.wait()}); output: {seen[-200:]!r}")
            seen += chunk
        t = time.monotonic() - t0
        # Leave as a user leaves machinectl; then drain so the client never blocks writing.
        os.write(master, b"\x1d\x1d\x1d")
        end = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    if not os.read(master, 4096):
                        break
                except OSError:
                    break
        return t
    finally:
        reap(proc, 5)
        os.close(master)


def main():
    runs, warmup, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    pairs = sys.argv[4:]
    clients = [(pairs[i], shlex.split(pairs[i + 1])) for i in range(0, len(pairs), 2)]
    failed = set()
    for r in range(warmup + runs):
        # Rotate the order every round so that no client always runs first.
        for k in range(len(clients)):
            label, argv = clients[(k + r) % len(clients)]
            if label in failed:
                continue
            try:
                t = once(argv, timeout)
            except RuntimeError as e:
                failed.add(label)
                print(f"{label} FAIL {e}", flush=True)
                continue
            if r >= warmup:
                print(f"{label} {t:.6f}", flush=True)


if __name__ == "__main__":
    main()
