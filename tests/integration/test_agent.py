#!/usr/bin/env python3
"""Node agents with real PostgreSQL 15 and real monitors: supervision, leases and
self-fencing, and failover from what only the agent can know."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

DEFAULTS = t.AGENT_DEFAULTS
agent_of = t.agent_of
setup = t.agent_setup


def uri_writer(q):
    """A client writing through the URI, once its writes are acknowledged."""
    w = t.Writer(t.uri(q), lambda i: "SELECT 1")
    w.start()
    t.wait_until(lambda: len(w.acked) > 3, 30, "writes through the URI")
    return w


def fail_over(q, nodes, kill, what):
    """Kill what `kill` kills while a client writes through the URI; once one standby is
    promoted (and only one), the seconds from the kill to the client's first write. Timed from
    when kill() returns (the postmaster no longer accepts): until then the old primary may
    still acknowledge a write begun after the first signal."""
    w = uri_writer(q)
    kill()
    t0 = time.monotonic()
    c = t.wait_failover(q, 2, timeout=60)
    took = w.first_after(t0)
    w.finish()
    new = next(n for n in nodes if n.name == c["primary"])
    t.check_single_promotion(q, nodes, new)
    t.check(took is not None, "no write acknowledged after the kill")
    t.log("%s -> first write through the URI: %.2f s" % (what, took))
    return took


def test_postmaster_killed_agent_alive(sb):
    """A killed postmaster whose agent lives is replaced without waiting failover_timeout: the
    agent says at once that it is dead and left to the quorum; one standby is promoted, and the
    first write through the URI comes well before failover_timeout + retries would allow."""
    nodes, q, ags = setup(sb)
    pg1 = nodes[0]
    took = fail_over(q, nodes, pg1.kill9, "killed postmaster")
    a = agent_of(q, "pg1")
    t.check(a["state"] == "up" and not a["postmaster_alive"] and a["handover"],
            "pg1's agent should report its PostgreSQL dead and handed over: %s" % a)
    t.check(took < 5.0, "first write %.2f s after the kill: the agent's word was not used" % took)
    t.check(not pg1.accepting(), "the old primary was restarted as a primary")


def monitor_backends(pg):
    """backend_start of every monitor's probe connection to pg (one per monitor)."""
    out = pg.sql("SELECT application_name || ' ' || backend_start FROM pg_stat_activity "
                 "WHERE application_name LIKE 'pgquorum-monitor-%' ORDER BY 1")
    return tuple(out.splitlines())


def wait_kept(pg, what):
    """Until the monitors' connections to pg stay the same over two rounds (1 s interval)."""
    def same():
        a = monitor_backends(pg)
        time.sleep(2.5)
        return len(a) == 3 and a == monitor_backends(pg)
    t.wait_until(same, 30, what)


def test_kept_connection_where_agent_vouches(sb):
    """Where the node's agent vouches for its PostgreSQL (up, postmaster alive, answering a
    fresh local connection), the monitors' full rounds reuse their kept connection: its
    backend_start stays the same over several rounds; a node without an agent gets a new
    connection every round."""
    nodes, q, ags = setup(sb, agents=("pg1",), settings={"health.interval": "1s"})
    pg1, pg2 = nodes[0], nodes[1]
    wait_kept(pg1, "the monitors keeping their connections to pg1")
    kept = monitor_backends(pg1)
    t.holds_for(lambda: monitor_backends(pg1) == kept, 5, "pg1's probe connections kept")
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        seen.update(monitor_backends(pg2))
        time.sleep(0.2)
    t.log("over 5 s: %d connections of the monitors to pg1, %d to pg2" % (len(kept), len(seen)))
    t.check(len(seen) >= 3 * 3, "pg2 (no agent) should get a new connection every round (1 s): "
            "%d seen in 5 s" % len(seen))


def test_postmaster_frozen(sb):
    """A postmaster frozen with SIGSTOP answers no new local connection: its agent fences it
    (every process of it stopped) before any standby is promoted, and one standby is, although
    the monitors probe it on their kept connections (which a frozen postmaster still serves)
    since its agent vouched for it."""
    nodes, q, ags = setup(sb, agent_settings={"local_timeout": "1s"},
                          settings={"health.interval": "1s"})
    pg1 = nodes[0]
    wait_kept(pg1, "the monitors keeping their connections to pg1")
    pid = pg1.pid()
    os.kill(pid, signal.SIGSTOP)
    t.log("pg1's postmaster %d stopped with SIGSTOP" % pid)
    c = t.wait_failover(q, 2, timeout=90)
    new = next(n for n in nodes if n.name == c["primary"])
    t.check_single_promotion(q, nodes, new)
    ev = q.events()
    fenced = [e for e in ev if e["event"] == "agent" and e["node"] == "pg1" and
              "fenced" in e["message"]]
    promoted = [e for e in ev if e["event"] == "promoted"]
    t.check(fenced, "no event says pg1's agent fenced it: %s" % [e["message"] for e in ev])
    t.check(fenced[0]["seq"] < promoted[0]["seq"],
            "pg1 fenced (event %d) after the promotion (event %d)" %
            (fenced[0]["seq"], promoted[0]["seq"]))
    t.check(not os.path.exists("/proc/%d" % pid) or
            open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "Z",
            "the frozen postmaster %d still exists" % pid)


def test_agent_killed_alone(sb):
    """An agent killed alone for 60 s while writes go on: no failover, nothing lost, the
    primary shown as unprotected; a restarted agent adopts the running PostgreSQL without
    restarting it."""
    nodes, q, ags = setup(sb)
    pg1 = nodes[0]
    pid = pg1.pid()
    w = t.SessionWriter(pg1.port, lambda i: "CREATE TABLE IF NOT EXISTS w (i int); "
                        "INSERT INTO w VALUES (%d)" % i)
    w.start()
    ags["pg1"].kill()
    killed = time.monotonic()
    t.wait_until(lambda: agent_of(q, "pg1")["state"] == "unprotected", 60,
                 "pg1 shown as unprotected")
    t.holds_for(lambda: q.status()["clusters"][0]["epoch"] == 1,
                max(60 - (time.monotonic() - killed), 1), "no failover")
    t.check(pg1.pid() == pid, "pg1 was restarted")
    ags["pg1"].start()
    t.wait_until(lambda: agent_of(q, "pg1")["state"] == "up", 30, "pg1's agent up again")
    t.check(pg1.pid() == pid, "the restarted agent restarted PostgreSQL")
    t.check(agent_of(q, "pg1")["postmaster_pid"] == pid, "the agent did not adopt pid %d" % pid)
    errors = list(w.errors)
    w.finish()
    n = len(w.acked)
    t.check(n > 100 and not errors, "writes: %d acknowledged, errors %s" % (n, errors[:3]))
    rows = int(pg1.sql("SELECT count(*) FROM w"))
    t.check(rows >= n, "%d writes acknowledged, %d rows" % (n, rows))
    unprot = t.events_of(q, "unprotected")
    t.check(unprot and unprot[0]["node"] == "pg1", "no unprotected event: %s" % unprot)


def test_agent_frozen_longer_than_lease(sb):
    """An agent frozen (SIGSTOP) longer than its lease while its PostgreSQL stays reachable:
    no failover (nothing proves the primary fenced), and once it runs again it pauses its
    PostgreSQL, renews its lease and resumes it: PostgreSQL is not stopped."""
    nodes, q, ags = setup(sb)
    pg1 = nodes[0]
    pid = pg1.pid()
    ags["pg1"].signal(signal.SIGSTOP)
    t.log("pg1's agent stopped with SIGSTOP")
    t.wait_until(lambda: agent_of(q, "pg1")["state"] in ("silent", "unprotected"), 30,
                 "pg1's agent silent")
    t.holds_for(lambda: q.status()["clusters"][0]["epoch"] == 1, 8, "no failover")
    ags["pg1"].signal(signal.SIGCONT)
    t.wait_until(lambda: agent_of(q, "pg1")["state"] == "up" and agent_of(q, "pg1")["lease"],
                 30, "pg1's agent up with a lease again")
    t.check("paused (SIGSTOP) until the quorum renews" in ags["pg1"].log_text(),
            "the agent did not pause its PostgreSQL while it renewed after its stall")
    t.wait_until(lambda: "resumed: the quorum renewed its lease" in ags["pg1"].log_text(), 10,
                 "pg1 resumed once its lease was renewed")
    t.check(pg1.pid() == pid and pg1.accepting(), "pg1 was fenced after the agent's stall")
    t.check(q.status()["clusters"][0]["epoch"] == 1, "a failover happened")


def test_agent_and_postmaster_killed(sb):
    """The agent and its postmaster killed together (the whole node): the quorum cannot hear
    that PostgreSQL is down from the agent, so it promotes a standby once the old primary's
    lease has ended for sure, without also waiting failover_timeout."""
    nodes, q, ags = setup(sb)
    pg1 = nodes[0]
    def kill():
        ags["pg1"].kill()
        pg1.kill9()
    fail_over(q, nodes, kill, "agent and postmaster killed")
    a = agent_of(q, "pg1")
    t.check(a["state"] == "silent", "pg1's agent should be silent (not unprotected): %s" % a)


def test_leader_killed_with_primary(sb):
    """The monitor leader killed together with the primary's postmaster: the agent finds the
    new leader, says its PostgreSQL is dead, and the new leader fails over on that word; one
    standby is promoted."""
    nodes, q, ags = setup(sb)
    pg1 = nodes[0]
    leader = q.wait_leader()

    def kill():
        q.monitor(leader).kill()
        pg1.kill9()
    fail_over(q, nodes, kill, "leader and postmaster killed")


def test_unprotected_primary_vanishes(sb):
    """A primary whose agent died and which then vanishes from the monitors cannot be proven
    fenced: no failover (the reason is committed), until an operator allows it with
    `pgquorumctl failover --allow-unfenced`, which is audited in the events."""
    nodes, q, ags = setup(sb, settings={"failover.failover_timeout": "1s"})
    pg1 = nodes[0]
    ags["pg1"].kill()
    t.wait_until(lambda: agent_of(q, "pg1")["state"] == "unprotected", 60,
                 "pg1 shown as unprotected")
    pg1.kill9()
    t.wait_until(lambda: "cannot be proven fenced" in
                 (q.status()["clusters"][0]["failover"].get("blocked") or ""), 60,
                 "the failover blocked: pg1 cannot be proven fenced")
    t.holds_for(lambda: q.status()["clusters"][0]["epoch"] == 1, 5, "no failover")
    p = q.ctl("failover", "--allow-unfenced", "pg2")
    t.check(p.returncode == 1 and "not the primary" in p.stderr,
            "allow-unfenced on a standby: %d %s" % (p.returncode, p.stderr))
    q.ctl("failover", "--allow-unfenced", "pg1", check_rc=True)
    t.wait_failover(q, 2, timeout=60)
    allowed = t.events_of(q, "allow-unfenced")
    # Who allowed it: the authenticated identity (TLS), else what pgquorumctl says.
    t.check(len(allowed) == 1 and allowed[0]["node"] == "pg1" and
            ("user:admin" if t.TLS else "pgquorumctl") in allowed[0]["message"],
            "audit event: %s" % allowed)


nft = t.nft


def test_isolated_primary_fenced_before_promotion(sb):
    """The primary's host cut off from the monitors and its standbys (packets dropped, no
    RST) while a client on its side keeps writing on an open connection: its agent fences it
    before its lease ends, the quorum promotes a standby only after that lease, and the old
    primary acknowledges no write after the promotion."""
    nodes, q, ags = setup(sb, agents=("pg1",))
    pg1 = nodes[0]
    w = t.SessionWriter(pg1.port, lambda i: "CREATE TABLE IF NOT EXISTS w (i int); "
                        "INSERT INTO w VALUES (%d)" % i)
    w.start()
    t.wait_until(lambda: len(w.acked) > 20, 20, "writes on pg1")
    client_port = w.session.sock.getsockname()[1]
    api_ports = ",".join(m.api_address.split(":")[1] for m in q.monitors)
    nft("table inet pgqcut", "delete table inet pgqcut", "table inet pgqcut {",
        " chain out { type filter hook output priority 0;",
        "  tcp dport %d tcp sport != %d drop" % (pg1.port, client_port),
        "  meta skuid postgres tcp dport { %s } drop" % api_ports,
        " }", "}")
    cut = time.monotonic()
    cut_wall = time.time()
    t.log("pg1 and its agent cut off (nftables), client port %d kept" % client_port)
    try:
        c = t.wait_failover(q, 2, timeout=90)
    finally:
        t.nft_heal()
    took = time.monotonic() - cut
    w.finish()
    promoted = t.events_of(q, "promoted")[0]
    import datetime
    at = datetime.datetime.fromisoformat(promoted["time"].replace("Z", "+00:00")).timestamp()
    last_ack = max(ts for _, ts in w.acked)
    last_ack_wall = cut_wall + (last_ack - cut)
    t.log("cut -> failover done %.2f s; old primary's last ack %.2f s after the cut, "
          "promotion %.2f s after it (gap %.2f s)" % (took, last_ack - cut, at - cut_wall,
                                                       at - last_ack_wall))
    t.check(last_ack_wall < at, "the old primary acknowledged a write %.3f s after the "
            "promotion" % (last_ack_wall - at))
    t.check(not pg1.accepting(), "the old primary still accepts connections")


if __name__ == "__main__":
    t.main([test_postmaster_killed_agent_alive, test_kept_connection_where_agent_vouches,
            test_postmaster_frozen,
            test_agent_and_postmaster_killed, test_leader_killed_with_primary,
            test_agent_killed_alone, test_agent_frozen_longer_than_lease,
            test_unprotected_primary_vanishes, test_isolated_primary_fenced_before_promotion])
