#!/usr/bin/env python3
"""Node identity with real PostgreSQL 15 and real monitors: a node is the server whose
system identifier the quorum learned at first sight; a freshly initdb'd PostgreSQL started
on a standby's port is refused (status says why, one identity event), never fenced, never
promoted, and a remove + add of the node relearns it."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402


def system_id(pg):
    return pg.sql("SELECT system_identifier FROM pg_control_system()")


def wait_identified(q, nodes):
    """Every node's identity learned (the state at feature level 5): the cluster's own."""
    want = system_id(nodes[0])

    def learned():
        st = q.status()
        return all(n["system_id"] == want for n in st["nodes"])
    t.wait_until(learned, 30, "every node identified as system identifier %s" % want)
    return want


def impostor_at(sb, victim):
    """Stop victim and start a fresh initdb'd PostgreSQL on its port."""
    victim._pg("pg_ctl", "-D", victim.datadir, "-m", "fast", "-w", "stop")
    imp = t.Postgres(sb, "impostor", port=victim.port).initdb().start()
    t.log("%s stopped; a new initdb (system identifier %s) answers on its port %d"
          % (victim.name, system_id(imp), imp.port))
    return imp


def wait_refused(q, name, imp, own):
    reason = ("system identifier %s, expected %s: another server answers at this address"
              % (system_id(imp), own))

    def refused():
        n = q.node(name)
        return (n["identity_refused"] and n["health"] == "down" and
                all(not v["reachable"] and v["error"] == reason for v in n["views"]))
    t.wait_until(refused, 30, "%s refused by every monitor: %s" % (name, reason))
    text = q.ctl("status", check_rc=True).stdout
    t.check("!! %s: another server answers at its address" % name in text,
            "status does not say %s is refused:\n%s" % (name, text))
    t.check(reason in text, "status does not give the reason:\n%s" % text)


def identity_events(q, name):
    return [e for e in t.events_of(q, "identity")
            if e["node"] == name and "another server answers for it" in e["message"]]


def test_impostor_never_promoted(sb):
    """A new initdb on pg2's port is refused with the reason and one identity event, left
    writable (not ours to fence); when pg1 dies, pg3 is promoted, never the impostor; node
    remove + add relearns pg2 as the new server."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    own = wait_identified(q, nodes)
    imp = impostor_at(sb, pg2)
    wait_refused(q, "pg2", imp, own)
    t.holds_for(lambda: len(identity_events(q, "pg2")) == 1, 3,
                "one identity event for pg2, not one per probe")
    t.check(imp.sql("SELECT pg_is_in_recovery()") == "f" and
            imp.sql("SHOW default_transaction_read_only") == "off",
            "the impostor was acted on (fenced or demoted)")
    pg1.kill9()
    c = t.wait_failover(q, 2)
    t.check(c["primary"] == "pg3", "the new primary is %s, not pg3" % c["primary"])
    decided = t.events_of(q, "failover-decided")
    t.check([e["node"] for e in decided] == ["pg3"], "decisions: %s" % decided)
    t.check(not pg3.in_recovery(), "pg3 was not promoted")
    t.check(q.node("pg2")["role"] == "standby" and q.node("pg2")["identity_refused"],
            "pg2 is no longer refused: %s" % q.node("pg2"))
    # The operator's way for a node rebuilt from scratch: remove and add it again.
    q.ctl("node", "remove", "pg2", check_rc=True)
    q.ctl("node", "add", "pg2", "--conninfo", pg2.conninfo, check_rc=True)
    t.wait_until(lambda: (q.node("pg2")["system_id"] == system_id(imp) and
                          not q.node("pg2")["identity_refused"] and
                          q.node("pg2")["health"] == "up"), 30,
                 "pg2 relearned as the new server")


def test_impostor_at_the_primary(sb):
    """A new initdb on the primary's port is the primary gone, not the primary: every monitor
    keeps reporting it refused (a down view that does not age), the quorum fails over to a
    standby (report_refresh 60 s, longer than a down view counts: the refusal is re-reported
    every interval, as a node seen down is), and the impostor is never fenced."""
    nodes, q = t.failover_setup(sb, settings={"health.report_refresh": "60s",
                                              "failover.failover_timeout": "6s"})
    pg1, pg2, pg3 = nodes
    own = wait_identified(q, nodes)
    imp = impostor_at(sb, pg1)
    wait_refused(q, "pg1", imp, own)
    c = t.wait_failover(q, 2, timeout=30)
    t.check(c["primary"] in ("pg2", "pg3"), "the new primary is %s" % c["primary"])
    new = pg2 if c["primary"] == "pg2" else pg3
    t.check_follows(pg3 if new is pg2 else pg2, new)
    t.check(imp.sql("SHOW default_transaction_read_only") == "off" and
            not any(e["node"] == "pg1" for e in t.events_of(q, "fenced")),
            "the impostor was fenced")
    t.check(q.node("pg1")["identity_refused"], "pg1 no longer refused")


def test_no_failover_to_impostor(sb):
    """With the impostor as the only other node, the death of the primary fails over to
    nobody: the failover is blocked and no decision is ever made."""
    nodes = t.make_pg_cluster(sb, 1)
    pg1, pg2 = nodes
    q = t.Quorum(sb, 3, t.FAST).start()
    for n in nodes:
        q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
    t.wait_until(lambda: q.node("pg2") and q.node("pg2")["role"] == "standby" and
                 q.node("pg1")["role"] == "primary", 30, "pg1 primary, pg2 standby")
    own = wait_identified(q, nodes)
    imp = impostor_at(sb, pg2)
    wait_refused(q, "pg2", imp, own)
    pg1.kill9()

    def blocked():
        c = q.status()["clusters"][0]
        return c["failover"]["blocked"] if c["failover"]["blocked"] else None
    why = t.wait_until(blocked, 60, "the failover blocked")
    t.log("blocked: %s" % why)
    t.check("pg2: another server answers at its address" in why,
            "the blocked reason does not name the impostor: %s" % why)
    t.holds_for(lambda: (not t.events_of(q, "failover-decided") and
                         q.status()["clusters"][0]["primary"] == "pg1"), 3,
                "no decision, pg1 still the primary of record")
    t.check(imp.sql("SELECT pg_is_in_recovery()") == "f", "the impostor was acted on")


if __name__ == "__main__":
    t.main([test_impostor_never_promoted, test_impostor_at_the_primary,
            test_no_failover_to_impostor])
