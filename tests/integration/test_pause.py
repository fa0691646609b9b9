#!/usr/bin/env python3
"""Pause and maintenance of the primary with a real PostgreSQL 15 cluster (a
primary and two streaming standbys, run as `postgres`) and three real
monitors: what an operator stops, and what still happens."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402
from test_agent import agent_of, setup as agent_setup  # noqa: E402

# The primary stays down this long with no failover (failover_timeout is 1 s).
HOLD_S = 6


def cluster(q):
    return q.status()["clusters"][0]


def held(q, reason_start, nodes):
    """Status shows pg1 down, still the primary of epoch 1, the failover blocked for the
    reason given; no standby left recovery."""
    st = q.status()
    c = st["clusters"][0]
    pg1 = q.node("pg1", st)
    ok = (c["epoch"] == 1 and c["primary"] == "pg1" and pg1["health"] == "down" and
          (c["failover"]["blocked"] or "").startswith(reason_start) and
          all(n.in_recovery() for n in nodes[1:]))
    return ok and st


def test_pause_then_resume(sb):
    """A paused cluster whose primary is killed -9 fails nothing over: status shows it paused,
    the primary down and the failover blocked as paused, and events say who paused it; once
    resumed, exactly one standby is promoted and the other follows it."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    q.ctl("pause", check_rc=True)
    c = cluster(q)
    t.check(c["paused"] is True and c["paused_since"], "status --json after pause: %s" % c)
    text = q.ctl("status", check_rc=True).stdout
    t.check(re.search(r"^  PAUSED \(since .*\): no automatic failover", text, re.M),
            "the status table does not show the pause:\n%s" % text)
    ev = t.events_of(q, "pause")
    t.check(len(ev) == 1 and re.match(r"cluster main paused by (pgquorumctl \(user \S+\)|user:admin)",
                                      ev[0]["message"]), "pause events: %s" % ev)
    q.ctl("pause", check_rc=True)  # the same again: accepted, nothing new
    t.check(len(t.events_of(q, "pause")) == 1, "a second pause recorded again")

    pg1.kill9()
    t.wait_until(lambda: held(q, "paused", nodes), 30,
                 "pg1 down by verdict with the failover blocked as paused")
    t.holds_for(lambda: held(q, "paused", nodes), HOLD_S,
                "a failover while paused: %s" % cluster(q))
    text = q.ctl("status", check_rc=True).stdout
    t.check("FAILOVER BLOCKED: paused" in text and "PAUSED" in text,
            "the status table during the pause:\n%s" % text)
    blocked = [e["message"] for e in t.events_of(q, "failover-blocked")]
    t.check(len(blocked) == 1 and blocked[0].startswith("no failover: paused: "),
            "blocked events: %s" % blocked)
    t.check(not t.events_of(q, "failover-cut") and not t.events_of(q, "failover-decided"),
            "a failover step while paused: %s" % [e["message"] for e in q.events()])

    q.ctl("resume", check_rc=True)
    c = t.wait_failover(q, 2)
    t.check(c["paused"] is False and c["paused_since"] is None, "status after resume: %s" % c)
    new = pg2 if c["primary"] == "pg2" else pg3
    t.check_single_promotion(q, nodes, new)
    t.check_follows(pg3 if new is pg2 else pg2, new)
    ev = t.events_of(q, "pause")
    t.check(len(ev) == 2 and ev[1]["message"].startswith(("cluster main resumed by pgquorumctl",
                                                      "cluster main resumed by user:admin")),
            "pause events: %s" % ev)


def test_maintenance_of_the_primary(sb):
    """A primary in maintenance that is killed -9 is not failed over (blocked: in maintenance),
    however long it stays down; once the operator allows it (maintenance on --allow-failover),
    it is failed over at once, exactly once."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    q.ctl("maintenance", "on", "pg1", check_rc=True)
    p = q.ctl("maintenance", "on", "pg2", "--allow-failover")
    t.check(p.returncode == 1 and "not the primary" in p.stderr and len(p.stderr.splitlines()) == 1,
            "--allow-failover on a standby: exit %d, %r" % (p.returncode, p.stderr))
    pg1.kill9()
    t.wait_until(lambda: held(q, "primary pg1 is in maintenance", nodes), 30,
                 "pg1 down by verdict with the failover blocked by its maintenance")
    t.holds_for(lambda: held(q, "primary pg1 is in maintenance", nodes), HOLD_S,
                "a failover of a primary in maintenance: %s" % cluster(q))
    q.ctl("maintenance", "on", "pg1", "--allow-failover", check_rc=True)
    n = q.node("pg1")
    t.check(n["maintenance"] is True and n["maintenance_allow_failover"] is True,
            "pg1 after --allow-failover: %s" % {k: n[k] for k in ("maintenance",
                                                                  "maintenance_allow_failover")})
    text = q.ctl("status", check_rc=True).stdout
    t.check(re.search(r"^  pg1 +\S+ +\S+ +\d+ +on\+fo ", text, re.M),
            "the status table does not show the allowance:\n%s" % text)
    c = t.wait_failover(q, 2, timeout=30)
    new = pg2 if c["primary"] == "pg2" else pg3
    t.check_single_promotion(q, nodes, new)
    t.check_follows(pg3 if new is pg2 else pg2, new)
    msgs = [e["message"] for e in t.events_of(q, "maintenance")]
    t.check(any("may still be failed over" in m for m in msgs), "maintenance events: %s" % msgs)
    blocked = [e["message"] for e in t.events_of(q, "failover-blocked")]
    t.check(blocked[:1] == ["no failover: primary pg1 is in maintenance (pgquorumctl maintenance on "
                            "pg1 --allow-failover allows a failover)"],
            "blocked events: %s" % blocked)


def test_paused_primary_keeps_its_lease(sb):
    """With node agents, a paused cluster keeps granting its primary the lease: a primary whose
    postmaster is killed -9 is started again by its agent (at once when it was told no standby
    will replace it; or, should it have handed it over on a reply older than the pause, on the
    lease it is granted all the same), is the primary of epoch 1 again, holding a lease and
    taking writes, and nothing is failed over, before and after the resume."""
    nodes, q, ags = agent_setup(sb)
    pg1 = nodes[0]
    q.ctl("pause", check_rc=True)
    old_pid = agent_of(q, "pg1")["postmaster_pid"]
    pg1.kill9()

    def back():
        st = q.status()
        c, a = st["clusters"][0], agent_of(q, "pg1", st)
        return (c["epoch"] == 1 and c["primary"] == "pg1" and a["postmaster_alive"] and
                a["lease"] and a["postmaster_pid"] != old_pid and
                q.node("pg1", st)["health"] == "up" and st)
    t.wait_until(back, 60, "pg1 restarted in place by its agent, holding a lease")
    msgs = [e["message"] for e in t.events_of(q, "agent")]
    dead = [i for i, m in enumerate(msgs) if "pg1 reports its PostgreSQL dead" in m]
    t.check(dead and any("pg1 reports its PostgreSQL running" in m for m in msgs[dead[0]:]),
            "agent events: %s" % msgs)
    t.wait_until(lambda: pg1.accepting() and not pg1.in_recovery(), 30, "pg1 writable again")
    pg1.sql("CREATE TABLE after_restart (x int)")
    t.holds_for(back, 5, "pg1 lost its lease or its role while paused")
    q.ctl("resume", check_rc=True)
    t.holds_for(back, 5, "pg1 lost its lease or its role after the resume")
    t.check(all(n.in_recovery() for n in nodes[1:]), "a standby left recovery")
    t.check(not t.events_of(q, "failover-cut") and not t.events_of(q, "failover-decided"),
            "a failover step: %s" % [e["message"] for e in q.events()])


if __name__ == "__main__":
    t.main([test_pause_then_resume, test_maintenance_of_the_primary,
            test_paused_primary_keeps_its_lease])
