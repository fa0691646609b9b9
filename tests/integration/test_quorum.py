#!/usr/bin/env python3
"""The monitor quorum with real pgquorumd processes on loopback: leader loss,
catch-up, and state that survives the loss of every monitor."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Nodes are only registered here, never probed successfully: these tests are
# about the quorum, so the addresses point at closed ports.
DEAD_PORTS = t.free_ports(12)


def conninfo(i):
    return "host=127.0.0.1 port=%d user=postgres dbname=postgres" % DEAD_PORTS[i]


def add_node(q, name, i, **kw):
    return q.ctl("node", "add", name, "--conninfo", conninfo(i), **kw)


def node_names(st):
    return sorted(n["name"] for n in st["nodes"])


def status_from(q, m):
    """Status as one given monitor sees it (its own state, not the leader's)."""
    import json
    p = q.ctl("status", "--json", "--local", "--timeout", "2s", monitors=m.api_address)
    if p.returncode != 0:
        raise t.Unreachable(p.stderr)
    return json.loads(p.stdout)


def test_leader_kill(sb):
    """Killing -9 the leader leaves a quorum that elects a new leader and accepts writes; the
    killed monitor catches up when it comes back."""
    q = t.Quorum(sb, 3).start()
    add_node(q, "pg1", 0, check_rc=True)
    leader = q.wait_leader()
    start = time.monotonic()
    q.monitor(leader).kill()
    new_leader = q.wait_leader(timeout=15, exclude=(leader,))
    elected = time.monotonic() - start
    p = add_node(q, "pg2", 1)
    t.check(p.returncode == 0, "node add after leader loss failed: %s" % p.stderr)
    accepted = time.monotonic() - start
    t.log("leader %d killed: monitor %d leads after %.2fs, node add accepted after %.2fs"
          % (leader, new_leader, elected, accepted))
    st = q.status()
    t.check(node_names(st) == ["pg1", "pg2"], "nodes after failover: %s" % node_names(st))
    roles = {m["id"]: m["role"] for m in st["monitors"]}
    t.check(roles[leader] == "unreachable", "killed monitor shown as %s" % roles[leader])
    t.check(st["leader"] == new_leader, "status names leader %s, expected %d"
            % (st["leader"], new_leader))

    # The killed monitor comes back and catches up with what it missed.
    q.monitor(leader).start()
    m = q.monitor(leader)
    t.wait_until(lambda: node_names(status_from(q, m)) == ["pg1", "pg2"], 20,
                 "the restarted monitor to catch up")
    mine = status_from(q, m)
    me = [x for x in mine["monitors"] if x["id"] == leader][0]
    t.check(me["role"] == "follower", "restarted monitor is %s" % me["role"])


def test_full_restart(sb):
    """Every registered node, maintenance flag and event survives kill -9 of all monitors."""
    q = t.Quorum(sb, 3, {"raft.snapshot_threshold": "16", "raft.snapshot_trailing": "8"}).start()
    for i in range(8):
        add_node(q, "pg%d" % i, i, check_rc=True)
    q.ctl("maintenance", "on", "pg3", check_rc=True)
    q.ctl("node", "remove", "pg7", check_rc=True)
    before = q.status()
    want = node_names(before)
    events_before = len(q.events())
    for m in q.monitors:
        m.kill()
    for m in q.monitors:
        t.check(os.path.exists(os.path.join(m.data_dir, "metadata1")),
                "monitor %d has no Raft metadata on disk" % m.id)
    snapshots = [f for m in q.monitors for f in os.listdir(m.data_dir)
                 if f.startswith("snapshot-")]
    t.check(snapshots, "no snapshot was taken with snapshot_threshold = 16")
    for m in q.monitors:
        m.start()
    q.wait_leader(timeout=20)
    after = t.wait_until(lambda: (lambda s: s if node_names(s) == want else None)(q.status()),
                         20, "all nodes back after restarting every monitor")
    by_name = {n["name"]: n for n in after["nodes"]}
    t.check(by_name["pg3"]["maintenance"], "maintenance flag lost in the restart")
    t.check("pg7" not in by_name, "a removed node came back")
    t.check(len(q.events()) >= events_before, "events were lost")
    # And the quorum still takes writes.
    add_node(q, "pg9", 9, check_rc=True)


def test_five_monitors_lose_two(sb):
    """Five monitors keep deciding after losing two of them, the leader included."""
    q = t.Quorum(sb, 5).start()
    leader = q.wait_leader()
    other = next(m.id for m in q.monitors if m.id != leader)
    q.monitor(leader).kill()
    q.monitor(other).kill()
    q.wait_leader(timeout=20, exclude=(leader, other))
    p = add_node(q, "pg1", 0)
    t.check(p.returncode == 0, "node add with 3 of 5 monitors failed: %s" % p.stderr)


def test_no_quorum_refuses_writes(sb):
    """With a minority of monitors alive, reads are served and writes are refused (exit 1)."""
    q = t.Quorum(sb, 3).start()
    add_node(q, "pg1", 0, check_rc=True)
    survivor = q.monitors[0]
    # A follower may not have applied the latest entry yet: wait until it has.
    t.wait_until(lambda: node_names(status_from(q, survivor)) == ["pg1"], 10,
                 "monitor 1 to apply the node add")
    q.monitors[1].kill()
    q.monitors[2].kill()
    st = t.wait_until(lambda: (lambda s: s if s["leader"] is None else None)(
        status_from(q, survivor)), 20, "the lone monitor to lose its leadership")
    t.check(node_names(st) == ["pg1"], "reads from the lone monitor: %s" % node_names(st))
    p = q.ctl("node", "add", "pg2", "--conninfo", conninfo(1), "--wait", "1s",
              monitors=survivor.api_address)
    t.check(p.returncode == 1, "write without quorum exited %d: %s" % (p.returncode, p.stderr))
    t.check("no leader" in p.stderr or "quorum" in p.stderr,
            "unclear refusal: %s" % p.stderr.strip())


def test_clean_shutdown(sb):
    """SIGTERM stops every monitor cleanly: exit code 0, the event loop closed with no handle
    left (a sanitizer build also checks for leaks here)."""
    q = t.Quorum(sb, 3).start()
    add_node(q, "pg1", 0, check_rc=True)
    codes = q.stop_all()
    t.check(all(c == 0 for c in codes.values()), "exit codes after SIGTERM: %s" % codes)
    for m in q.monitors:
        t.check("stopped" in m.log_text(), "monitor %d did not log its stop" % m.id)


def test_monitor_loss_logged(sb):
    """A monitor that stops answering, and its return, are logged at INFO once each by the
    leader; a dead leader's successor is logged by every survivor with why, and the committed
    leader event says why too."""
    q = t.Quorum(sb, 3).start()
    leader = q.wait_leader()
    # The reason travels in the new leader's hello from feature level 4 on.
    t.wait_until(lambda: any(e["event"] == "feature-level" and
                             int(e["message"].split()[2]) >= 4 for e in q.events()), 20,
                 "feature level 4 or more")
    follower = next(m for m in q.monitors if m.id != leader)
    lost = "monitor %d is unreachable: no Raft message from it for" % follower.id
    back = "monitor %d answers again (unreachable for" % follower.id
    follower.kill()
    t.wait_until(lambda: lost in q.monitor(leader).log_text(), 10, "the leader logging the loss")
    t.holds_for(lambda: q.monitor(leader).log_text().count(lost) == 1, 2,
                "the loss logged more than once (20 ticks)")
    follower.start()
    t.wait_until(lambda: back in q.monitor(leader).log_text(), 20, "the leader logging the return")
    t.holds_for(lambda: q.monitor(leader).log_text().count(back) == 1, 1,
                "the return logged more than once")

    q.monitor(leader).kill()
    new = q.wait_leader(timeout=15, exclude=(leader,))
    why = "monitor %d stopped answering (nothing from it for" % leader
    change = "leader %d -> %d (term " % (leader, new)
    for m in q.monitors:
        if m.id != leader:
            t.wait_until(lambda: change in m.log_text(), 10, "monitor %d logging the change" % m.id)
            line = next(x for x in m.log_text().splitlines() if change in x)
            t.check(" INFO: " in line and why in line, "monitor %d: %r" % (m.id, line))
    ev = [e for e in q.events() if e["event"] == "leader"][-1]
    t.check(ev["message"].startswith("monitor %d leads (generation " % new) and why in ev["message"],
            "the leader event: %r" % ev["message"])


if __name__ == "__main__":
    t.main([test_leader_kill, test_full_restart, test_five_monitors_lose_two,
            test_no_quorum_refuses_writes, test_clean_shutdown, test_monitor_loss_logged])
