#!/usr/bin/env python3
"""make demo DEMO_ARGS=--keep, run the way make runs it (tools/demo.py --builddir BUILDDIR):
the whole demo, then the sandbox left running, and the stop script it writes."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

SRCDIR = os.environ.get("PGQ_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "..", "..")
DEMO = os.path.join(SRCDIR, "tools", "demo.py")


def sandbox_pids(d):
    """Live processes whose command line names the sandbox directory d."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if d in cmd and int(pid) != os.getpid():
            pids.append(int(pid))
    return pids


def postmasters(d):
    """PIDs in the postmaster.pid files under d whose process is alive."""
    found = []
    for root, _, files in os.walk(d):
        if "postmaster.pid" in files:
            try:
                with open(os.path.join(root, "postmaster.pid")) as f:
                    pid = int(f.readline())
                os.kill(pid, 0)
                found.append(pid)
            except (OSError, ValueError):
                pass
    return found


def stop_leftovers(d):
    """Whatever the demo left running in d, stopped, and d removed (when the test failed)."""
    for pid in sandbox_pids(d) + postmasters(d):
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", d])


def test_demo_keep(sb):
    """The demo with --keep exits 0 after the failover, rejoin and switchover, leaving its sandbox
    up (monitors answering, every node up, the URI writable); its stop script then stops every
    process it left and removes the sandbox."""
    began = time.monotonic()
    p = subprocess.run([sys.executable, DEMO, "--builddir", t.BUILDDIR, "--keep", "--fast"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    m = re.search(r"sandbox: (/tmp/pgquorum-demo-\S+)", p.stdout)
    t.check(m is not None, "the demo names no sandbox:\n%s" % p.stdout[-3000:])
    d = m.group(1)
    try:
        t.check(p.returncode == 0, "demo --keep exited %d after %.0fs:\n%s" % (
            p.returncode, time.monotonic() - began, p.stdout[-4000:]))
        t.check(os.path.isdir(d), "sandbox %s removed by --keep" % d)
        stop = os.path.join(d, "stop")
        t.check(("sh %s" % stop) in p.stdout and os.path.exists(stop),
                "the demo does not say how to stop it:\n%s" % p.stdout[-1500:])
        monitors = re.search(r"export PGQUORUM_MONITORS=(\S+)", p.stdout)
        t.check(monitors is not None, "no PGQUORUM_MONITORS in:\n%s" % p.stdout[-1500:])
        # The TLS settings the demo printed, as a user would paste them.
        env = dict(os.environ)
        for k, v in re.findall(r"export (PGQUORUM_TLS_\w+)=(\S+)", p.stdout):
            env[k] = v
        t.check(not t.TLS or "PGQUORUM_TLS_CA" in env, "no PGQUORUM_TLS_CA in:\n%s"
                % p.stdout[-1500:])
        q = subprocess.run([t.PGQUORUMCTL, "--monitors", monitors.group(1), "status", "--json"]
                           + ([] if t.TLS else ["--plain"]), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        t.check(q.returncode == 0, "status after the demo: %d %s" % (q.returncode, q.stderr))
        uri = re.search(r"psql '(\S+)'", p.stdout).group(1)
        w = t.psql_uri(uri, "INSERT INTO demo DEFAULT VALUES")
        t.check(w.returncode == 0, "a write through the URI after the demo: %s" % w.stderr)
        # The old primary of the switchover may still be starting as a standby.
        t.wait_until(lambda: len(postmasters(d)) == 3, 90, "three PostgreSQL servers running")
        t.check(len(sandbox_pids(d)) >= 9, "left running: %s" % sandbox_pids(d))
        r = subprocess.run(["sh", stop], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
        t.check(r.returncode == 0, "sh %s exited %d: %s" % (stop, r.returncode, r.stdout))
        t.wait_until(lambda: not sandbox_pids(d), 20, "the demo's processes to stop")
        t.check(not os.path.exists(d), "the stop script left %s" % d)
    finally:
        if os.path.exists(d):
            stop_leftovers(d)


if __name__ == "__main__":
    t.main([test_demo_keep])
