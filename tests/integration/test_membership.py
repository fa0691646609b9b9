#!/usr/bin/env python3
"""Online membership with real pgquorumd monitors: pgquorumctl monitor add, remove and
replace change the Raft voters through the leader, one change at a time; a new monitor
starts with [monitor] join = on and catches up as a standby before it votes."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Nodes here are registered, never probed successfully (closed ports): these tests are
# about the monitors, except the failover one.
DEAD_PORTS = t.free_ports(4)


def voters(st):
    return sorted(m["id"] for m in st["monitors"] if m.get("voter"))


def raft_roles(st):
    return {m["id"]: m["raft_role"] for m in st["monitors"]}


def wait_voters(q, want, timeout=30):
    return t.wait_until(lambda: voters(q.status()) == sorted(want) or None, timeout,
                        "voters %s" % sorted(want))


def member(q, *args, monitors=None):
    """pgquorumctl monitor ARGS; the process (it returns once the change is done)."""
    return q.ctl("monitor", *args, monitors=monitors)


def check_ok(p, what):
    t.check(p.returncode == 0, "%s failed (%d): %s%s" % (what, p.returncode, p.stdout, p.stderr))


def add_node(q, name, i):
    p = q.ctl("node", "add", name, "--conninfo",
              "host=127.0.0.1 port=%d user=postgres dbname=postgres" % DEAD_PORTS[i])
    check_ok(p, "node add %s" % name)


def status_from(q, m):
    """Status as monitor m itself has applied it."""
    import json
    p = q.ctl("status", "--json", "--local", "--timeout", "2s", monitors=m.api_address)
    check_ok(p, "status of monitor %d" % m.id)
    return json.loads(p.stdout)


def membership_events(q):
    return [e for e in q.events() if e["event"] == "membership"]


def test_grow_and_shrink(sb):
    """3 -> 5 -> 3 monitors online: each new monitor joins as a standby and votes once it
    caught up; with 5 voters the group survives two dead monitors; removing two brings it
    back to 3, which elect among themselves; every step is an event naming who asked."""
    q = t.Quorum(sb, 3).start()
    add_node(q, "pg1", 0)
    new = [q.new_monitor(4).start(), q.new_monitor(5).start()]
    for m in new:
        p = member(q, "add", str(m.id), m.raft_address, m.api_address)
        check_ok(p, "monitor add %d" % m.id)
        t.check("monitor %d is a voter" % m.id in p.stdout, "add said: %s" % p.stdout)
    st = q.status()
    t.check(voters(st) == [1, 2, 3, 4, 5], "voters after growing: %s" % voters(st))
    t.check(all(m["reachable"] for m in st["monitors"]), "monitors: %s" % st["monitors"])
    # A new monitor has the whole state: it caught up before it voted.
    st5 = status_from(q, new[1])
    t.check([n["name"] for n in st5["nodes"]] == ["pg1"], "monitor 5 knows %s" % st5["nodes"])
    # Five voters survive two dead ones (three of five is a majority), new ones included.
    leader = q.wait_leader()
    dead = [m for m in q.monitors if m.id != leader and m.id in (1, 2, 3)][:2]
    for m in dead:
        m.kill()
    add_node(q, "pg2", 1)
    for m in dead:
        m.start()
    wait_voters(q, [1, 2, 3, 4, 5])
    # Shrink back: the two new ones leave; the operator stops them afterwards.
    for m in new:
        check_ok(member(q, "remove", str(m.id)), "monitor remove %d" % m.id)
        m.stop()
    st = q.status()
    t.check(voters(st) == [1, 2, 3], "voters after shrinking: %s" % voters(st))
    old = q.wait_leader()
    q.monitor(old).kill()
    q.wait_leader(timeout=20, exclude=(old,))
    add_node(q, "pg3", 2)
    evs = membership_events(q)
    t.check(len([e for e in evs if "caught up and votes" in e["message"]]) == 2 and
            len([e for e in evs if "removed from the Raft configuration" in e["message"]]) == 2,
            "membership events: %s" % [e["message"] for e in evs])
    t.check(all(e.get("who") == "user:admin" for e in evs),
            "who asked: %s" % [e.get("who") for e in evs])


def test_replace_dead_monitor(sb):
    """A killed monitor is replaced by a new one on another port, with a new id and data_dir:
    the new one votes and the dead one is out; the group then survives the loss of any one
    of its three (the new one votes); monitors whose peers list is stale restart and work,
    and so does the new one."""
    q = t.Quorum(sb, 3).start()
    add_node(q, "pg1", 0)
    leader = q.wait_leader()
    dead = q.monitor(3 if leader != 3 else 2)
    dead.kill()
    m4 = q.new_monitor(4).start()
    p = member(q, "replace", str(dead.id), "4", m4.raft_address, m4.api_address)
    check_ok(p, "monitor replace")
    st = q.status()
    expect = sorted({1, 2, 3, 4} - {dead.id})
    t.check(voters(st) == expect, "voters after the replace: %s" % voters(st))
    t.check(dead.id not in raft_roles(st), "the dead monitor is still listed: %s" % raft_roles(st))
    # Run again, it says it is done (idempotent).
    p = member(q, "replace", str(dead.id), "4", m4.raft_address, m4.api_address)
    check_ok(p, "monitor replace, again")
    t.check("replaced monitor %d" % dead.id in p.stdout, "second replace said: %s" % p.stdout)
    # Kill the leader: the two left, the new one among them, elect one.
    leader = q.wait_leader()
    q.monitor(leader).kill()
    q.wait_leader(timeout=20, exclude=(leader,))
    add_node(q, "pg2", 1)
    # Every monitor restarts from its data_dir: the old ones' peers still list monitor 3,
    # the new one has join = on; the configuration is Raft's.
    for m in q.monitors:
        if m.id != dead.id:
            m.stop()
            m.start()
    wait_voters(q, expect)
    add_node(q, "pg3", 2)
    st = q.status()
    t.check(all(m["reachable"] for m in st["monitors"]), "after restarts: %s" % st["monitors"])


def test_failover_during_change(sb):
    """A primary killed -9 while a monitor is being added (the new one not started yet: the
    change waits for its catch-up) is failed over as usual, a second change asked meanwhile
    is refused, status shows the new one as a standby, and once it starts the change ends
    with it voting; a node agent whose [node] monitors are stale learns the new monitor."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    agent = t.Agent(sb, pg3, q.monitor(1).api_address).start()
    t.wait_until(lambda: (t.agent_of(q, "pg3") or {}).get("state") == "up", 30,
                 "the agent of pg3 up")
    m4 = q.new_monitor(4)  # not started: it cannot catch up yet
    cmd = [t.PGQUORUMCTL, "--monitors", q.addresses] + sb.ctl_tls_args("admin", q.tls) + [
        "monitor", "add", "4", m4.raft_address, m4.api_address]
    change = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t.wait_until(lambda: raft_roles(q.status()).get(4) == "standby", 20,
                 "monitor 4 in the configuration as a standby")
    p = member(q, "remove", "2")
    t.check(p.returncode == 1 and "a monitor change is under way" in p.stderr,
            "a second change during the first: %d %s" % (p.returncode, p.stderr))
    pg1.kill9()
    c = t.wait_failover(q, 2)
    t.check(c["primary"] in ("pg2", "pg3"), "promoted %s" % c["primary"])
    if change.poll() is not None:
        raise t.TestFailure("the change ended before monitor 4 started: %s"
                            % (change.communicate(),))
    m4.start()
    out, err = change.communicate(timeout=60)
    t.check(change.returncode == 0 and "monitor 4 is a voter" in out,
            "monitor add: %d %s%s" % (change.returncode, out, err))
    new_primary = pg2 if c["primary"] == "pg2" else pg3
    t.check_single_promotion(q, nodes, new_primary)
    t.check(voters(q.status()) == [1, 2, 3, 4], "voters: %s" % voters(q.status()))
    t.wait_until(lambda: "names 4 monitors, 3 of them not in [node] monitors" in
                 agent.log_text(), 20,
                 "the agent to learn monitor 4's API address")


def test_bad_input(sb):
    """Refused changes: one clear line, exit 1 (2 for a malformed command line), nothing
    changed, the monitors keep running: unknown id, a taken address, the last voter, a
    non-admin; and the leader asked to remove itself hands over, then is removed."""
    q = t.Quorum(sb, 3).start()
    before = q.status()
    cases = [
        (("remove", "7"), 1, "monitor 7 is not in the Raft configuration (members: 1, 2, 3)"),
        (("add", "4", q.monitor(2).raft_address), 1,
         "Raft address %s is monitor 2's" % q.monitor(2).raft_address),
        (("add", "2", "127.0.0.1:1"), 1,
         "monitor 2 is already a member at %s, not 127.0.0.1:1" % q.monitor(2).raft_address),
        (("replace", "7", "8", "127.0.0.1:1"), 1,
         "monitor 7 is not in the Raft configuration: nothing to replace"),
        (("add", "4", "localhost:7001"), 2, "Raft address \"localhost:7001\" is not an IPv4"),
        (("add", "x", "127.0.0.1:1"), 2, "\"x\" is not a monitor id"),
        (("replace", "3", "3", "127.0.0.1:1"), 2, "monitor 3 cannot replace itself"),
        (("frobnicate", "3"), 2, "usage: monitor add ID RAFT_ADDRESS"),
    ]
    for args, rc, text in cases:
        p = member(q, *args)
        lines = p.stderr.strip().splitlines()
        t.check(p.returncode == rc and len(lines) == 1 and text in lines[0],
                "monitor %s: %d %r, want %d and %r" % (" ".join(args), p.returncode, p.stderr,
                                                       rc, text))
    p = q.ctl("monitor", "remove", "3", user="viewer")
    t.check(p.returncode == 1 and "may not monitor-change" in p.stderr,
            "a non-admin: %d %s" % (p.returncode, p.stderr))
    after = q.status()
    t.check(voters(after) == voters(before) == [1, 2, 3], "voters changed: %s" % voters(after))
    t.check(not membership_events(q), "a refused change left events: %s" % membership_events(q))
    t.check(all(m.alive() for m in q.monitors), "a monitor died")
    # The leader itself: it hands leadership over, and the next leader removes it.
    leader = q.wait_leader()
    check_ok(member(q, "remove", str(leader)), "monitor remove of the leader")
    q.monitor(leader).stop()
    st = q.status()
    t.check(voters(st) == sorted({1, 2, 3} - {leader}) and st["leader"] != leader,
            "after removing the leader: voters %s, leader %s" % (voters(st), st["leader"]))
    # Down to one voter, then the last one cannot go.
    rest = voters(st)
    check_ok(member(q, "remove", str(rest[0] if st["leader"] != rest[0] else rest[1])),
             "monitor remove down to one voter")
    last = voters(q.status())
    t.check(len(last) == 1, "voters: %s" % last)
    p = member(q, "remove", str(last[0]))
    t.check(p.returncode == 1 and "is the only voter" in p.stderr,
            "removing the last voter: %d %s" % (p.returncode, p.stderr))


if __name__ == "__main__":
    t.main([test_grow_and_shrink, test_replace_dead_monitor, test_failover_during_change,
            test_bad_input])
