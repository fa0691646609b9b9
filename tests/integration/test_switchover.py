#!/usr/bin/env python3
"""Planned switchover with real PostgreSQL 15, real monitors and real agents: the primary
stops cleanly, the target is promoted only with everything the primary wrote, the others
follow, the old primary rejoins; scheduled ones survive leader changes and can be cancelled."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402
from test_rejoin import wait_rejoined  # noqa: E402

FAST = dict(t.FAST)


def writer(q, pg1):
    pg1.sql("CREATE TABLE w (i int PRIMARY KEY)")
    w = t.Writer(t.uri(q), lambda i: "INSERT INTO w VALUES (%d)" % i, pause=0.01)
    w.start()
    t.wait_until(lambda: len(w.acked) > 20, 30, "writes through the URI")
    return w


def unavailability(w, t0):
    """The longest time without an acknowledged write after t0."""
    times = [ts for _, ts in w.acked if ts >= t0 - 1]
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def check_nothing_lost(w, primary):
    have = set(int(x) for x in primary.sql("SELECT i FROM w").split())
    lost = [i for i, _ in w.acked if i not in have]
    t.check(not lost, "%d acknowledged writes lost: %s" % (len(lost), lost[:10]))


def test_switchover_under_writer(sb):
    """A switchover to pg2 under a steady writer loses no acknowledged write; pg2 is the only
    node promoted, pg3 follows it, pg1 rejoins as its standby without a clone."""
    nodes, q, ags = t.agent_setup(sb, settings=FAST)
    pg1, pg2, pg3 = nodes
    w = writer(q, pg1)
    t0 = time.monotonic()
    r = q.ctl("switchover", "--to", "pg2")
    t.check(r.returncode == 0, "switchover refused: %s" % r.stderr)
    c = t.wait_failover(q, 2, timeout=60)
    t.check(c["primary"] == "pg2", "switchover promoted %s, not pg2" % c["primary"])
    t.wait_until(lambda: len(w.acked) > 0 and w.acked[-1][1] > time.monotonic() - 0.5, 30,
                 "writes again")
    n_acked = len(w.acked)
    t.wait_until(lambda: len(w.acked) > n_acked + 10, 30, "10 more writes on pg2")
    w.finish()
    gap = unavailability(w, t0)
    t.log("switchover: longest time without an acknowledged write %.2f s" % gap)
    check_nothing_lost(w, pg2)
    t.check_single_promotion(q, nodes, pg2)
    t.check_follows(pg3, pg2)
    wait_rejoined(q, pg1, pg2)
    msgs = [e["message"] for e in t.events_of(q, "rejoin") if e["node"] == "pg1"]
    t.check(not any("cloned" in m for m in msgs), "pg1 was cloned: %s" % msgs)
    sw = [e["message"] for e in t.events_of(q, "switchover")]
    t.check(any("begins" in m for m in sw), "no switchover event: %s" % sw)


def test_switchover_at_and_cancel(sb):
    """A switchover scheduled for later can be cancelled and nothing happens; one scheduled with
    --at survives the monitor leader being killed before its time, and happens at its time,
    not before."""
    nodes, q, ags = t.agent_setup(sb, settings=FAST)
    pg1, pg2, pg3 = nodes
    r = q.ctl("switchover", "--at", "+60s")
    t.check(r.returncode == 0, "switchover refused: %s" % r.stderr)
    st = q.status()
    t.check(st["clusters"][0]["switchover"]["phase"] == "scheduled", "not scheduled: %s" %
            st["clusters"][0]["switchover"])
    r = q.ctl("switchover", "--to", "pg3")
    t.check(r.returncode == 1 and "already scheduled" in r.stderr,
            "a second switchover was accepted: %s %s" % (r.returncode, r.stderr))
    r = q.ctl("switchover", "--cancel")
    t.check(r.returncode == 0, "cancel refused: %s" % r.stderr)
    t.check(q.status()["clusters"][0]["switchover"] is None, "still scheduled after cancel")
    r = q.ctl("switchover", "--cancel")
    t.check(r.returncode == 1, "a second cancel succeeded")

    at = time.time() + 10
    r = q.ctl("switchover", "--to", "pg3", "--at", "+10s")
    t.check(r.returncode == 0, "switchover refused: %s" % r.stderr)
    leader = q.leader()
    q.monitor(leader).kill()
    t.log("monitor leader %d killed before the switchover's time" % leader)
    t.holds_for(lambda: q.status()["clusters"][0]["epoch"] == 1, max(at - time.time() - 1, 0.5),
                "the switchover happened before its time")
    c = t.wait_failover(q, 2, timeout=60)
    t.check(c["primary"] == "pg3", "switchover promoted %s, not pg3" % c["primary"])
    began = [e for e in t.events_of(q, "switchover") if "begins" in e["message"]]
    t.check(began, "no switchover began")
    t.check_follows(pg2, pg3)
    wait_rejoined(q, pg1, pg3)


def test_switchover_refused(sb):
    """A switchover to a node that is not a fit standby, or without the primary's agent up, is
    refused with one line saying why, and changes nothing."""
    nodes, q, ags = t.agent_setup(sb, settings=FAST)

    def refused(args, want):
        r = q.ctl("switchover", *args)
        t.check(r.returncode != 0 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1,
                "switchover %s: rc %d, %r" % (args, r.returncode, r.stderr))
    for args, want in ((("--to", "nosuch"), "no node nosuch"),
                       (("--to", "pg1"), "is the primary already"),
                       (("--at", "yesterday"), "--at"),
                       (("--to", "pg2", "--cancel"), "--cancel takes no"),
                       (("--cancel",), "no switchover is scheduled")):
        refused(args, want)
    ags["pg1"].kill()
    t.wait_until(lambda: t.agent_of(q, "pg1")["state"] != "up", 30, "pg1's agent silent")
    refused(("--to", "pg2"), "has no node agent up")
    t.check(q.status()["clusters"][0]["switchover"] is None, "something was scheduled")


if __name__ == "__main__":
    t.main([test_switchover_under_writer, test_switchover_at_and_cancel,
            test_switchover_refused])
