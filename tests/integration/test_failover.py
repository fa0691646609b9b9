#!/usr/bin/env python3
"""Automatic failover of a real PostgreSQL 15 cluster (a primary and two
streaming standbys, run as `postgres`) by three real monitors."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

FAST = t.FAST
setup = t.failover_setup
wait_failover = t.wait_failover
uri = t.uri
psql_uri = t.psql_uri
promoted_nodes = t.promoted_nodes
events_of = t.events_of
check_single_promotion = t.check_single_promotion
check_follows = t.check_follows
stop_streaming = t.stop_streaming


def check_least_privilege(q, nodes):
    """Every node is registered, and probed up, as the least-privilege role, which is no
    superuser (docs/operations.md)."""
    for n in nodes:
        node = q.node(n.name)
        t.check("user=%s " % t.MONITOR_ROLE in node["conninfo"] + " ",
                "%s registered as %s" % (n.name, node["conninfo"]))
        t.check(node["health"] == "up", "%s is %s" % (n.name, node["health"]))
        t.check(n.sql("SELECT rolsuper FROM pg_roles WHERE rolname = '%s'" % t.MONITOR_ROLE)
                == "f", "%s: %s is a superuser" % (n.name, t.MONITOR_ROLE))


def test_kill_primary(sb):
    """kill -9 of the primary's postmaster promotes exactly one standby, the most advanced one
    (not the first by name); the other follows it; clients write again through the URI and no
    write acknowledged with synchronous replication is lost; all of it as the least-privilege
    role, no superuser."""
    nodes, q = setup(sb, sync=True)
    pg1, pg2, pg3 = nodes
    check_least_privilege(q, nodes)
    pg1.sql("CREATE TABLE acks (id int PRIMARY KEY)")
    # pg2 stops receiving WAL: pg3 becomes the most advanced standby, and with
    # synchronous_standby_names = 'ANY 1 (pg2, pg3)' it acknowledges every commit.
    pg2.sql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=%d user=postgres "
            "application_name=pg2'" % t.free_ports(1)[0])
    pg2.sql("SELECT pg_reload_conf()")
    t.wait_until(lambda: pg1.sql("SELECT string_agg(application_name, ',') FROM "
                                 "pg_stat_replication WHERE state = 'streaming'") == "pg3",
                 30, "pg2 to stop streaming")
    w = t.Writer(uri(q), lambda i: "INSERT INTO acks VALUES (%d)" % i)
    w.start()
    t.wait_until(lambda: len(w.acked) >= 30, 30, "30 acknowledged writes")
    pg1.kill9()
    killed = time.monotonic()
    c = wait_failover(q, 2)
    t.check(c["primary"] == "pg3", "promoted %s, expected the most advanced standby pg3"
            % c["primary"])
    first_write = t.wait_until(lambda: w.first_after(killed), 30, "a write after the kill")
    w.finish()
    t.log("failover: first acknowledged write %.2fs after the kill (%d acked, %d failed)"
          % (first_write, len(w.acked), w.failed))
    check_single_promotion(q, nodes, pg3)
    check_follows(pg2, pg3)
    have = set(int(x) for x in pg3.sql("SELECT id FROM acks").split())
    lost = [i for i, _ in w.acked if i not in have]
    t.check(not lost, "acknowledged writes lost: %s" % lost[:20])
    st = q.status()
    n1 = q.node("pg1", st)
    t.check(n1["role"] == "demoted" and n1["health"] == "down", "old primary shown as %s/%s"
            % (n1["role"], n1["health"]))


def kill_primary_with_monitor_down(sb, which):
    nodes, q = setup(sb)
    pg1, pg2, pg3 = nodes
    leader = q.wait_leader()
    victim = leader if which == "leader" else next(m.id for m in q.monitors if m.id != leader)
    q.monitor(victim).kill()
    q.wait_leader(exclude=(victim,))
    pg1.kill9()
    c = wait_failover(q, 2)
    new = pg2 if c["primary"] == "pg2" else pg3
    other = pg3 if new is pg2 else pg2
    check_single_promotion(q, nodes, new)
    check_follows(other, new)
    t.wait_until(lambda: psql_uri(uri(q), "CREATE TABLE IF NOT EXISTS after (x int)")
                 .returncode == 0, 30, "a write through the URI")


def test_kill_primary_leader_monitor_down(sb):
    """With the Raft leader monitor killed beforehand, the two others fail over exactly once."""
    kill_primary_with_monitor_down(sb, "leader")


def test_kill_primary_follower_monitor_down(sb):
    """With a follower monitor killed beforehand, the two others fail over exactly once."""
    kill_primary_with_monitor_down(sb, "follower")


def test_leader_dies_mid_failover(sb):
    """The leader dies after committing the decision and before promoting (failpoint): the new
    leader finishes the same decision, with one promotion."""
    nodes, q = setup(sb)
    pg1 = nodes[0]
    leader = q.monitor(q.wait_leader())
    p = q.ctl("debug", "failpoint", "actuator.before_promote", "crash",
              monitors=leader.api_address)
    t.check(p.returncode == 0, "cannot arm the failpoint (build with --enable-failpoints): %s"
            % p.stderr.strip())
    pg1.kill9()
    t.wait_until(lambda: not leader.alive(), 30, "the leader to crash at the failpoint")
    t.check("failpoint actuator.before_promote: crashing now" in leader.log_text(),
            "the leader died elsewhere than at the failpoint")
    c = wait_failover(q, 2)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    check_single_promotion(q, nodes, new)
    decided = events_of(q, "failover-decided")[0]
    t.check(decided["node"] == c["primary"], "the new leader chose another candidate: %s vs %s"
            % (decided["node"], c["primary"]))


def test_one_monitor_cut_off(sb):
    """A monitor that alone loses sight of the primary causes no failover."""
    nodes, q = setup(sb, env3={"PGQ_FAILPOINTS": "probe=fail:pg1"})
    cut = q.monitor(3)

    def cut_sees_down():
        n = q.node("pg1")
        return any(v["monitor"] == 3 and not v["reachable"] for v in n["views"]) and n

    n = t.wait_until(cut_sees_down, 30, "monitor 3's view of pg1 to be down")
    t.check(n["health"] == "up", "pg1's verdict is %s with one monitor cut off" % n["health"])
    # Watch for longer than a failover would take: detection, failover_timeout, decision.
    window = 1.0 + 3 * 1.0 + 2.0
    t.holds_for(lambda: (lambda c: c["epoch"] == 1 and c["primary"] == "pg1")(
        q.status()["clusters"][0]), window, "failover with one monitor cut off")
    t.check(not events_of(q, "failover-decided"), "a failover was decided")
    t.check(not nodes[0].in_recovery(), "pg1 is no longer primary")
    t.check("failpoint" in cut.log_text(), "monitor 3's probes did not fail as arranged")


def test_lagging_standbys_not_promoted(sb):
    """With every standby behind the dead primary by more than max_lag_on_failover (1 MiB), no
    standby is promoted and the reason is committed; the primary's position is known from its
    WAL moving, not from the minute-long refresh."""
    nodes, q = setup(sb, settings={"health.report_refresh": "1m"})
    pg1, pg2, pg3 = nodes
    stop_streaming(pg2)
    stop_streaming(pg3)
    t.wait_until(lambda: pg1.sql("SELECT count(*) FROM pg_stat_replication") == "0", 30,
                 "the standbys to stop streaming")
    pg1.sql("CREATE TABLE filler AS SELECT repeat('x', 1000) AS pad FROM generate_series(1, 4000)")
    lsn = int(pg1.sql("SELECT pg_current_wal_lsn() - '0/0'"))
    t.wait_until(lambda: q.node("pg1").get("lsn_bytes", 0) >= lsn - 512 * 1024, 10,
                 "pg1's new WAL position committed before the refresh")
    pg1.kill9()

    def blocked():
        c = q.status()["clusters"][0]
        return c if (c["failover"]["blocked"] or "").startswith("no eligible standby") else None
    c = t.wait_until(blocked, 30, "the failover to be blocked")
    for name in ("pg2", "pg3"):
        t.check("%s: lag " % name in c["failover"]["blocked"] and
                "> max_lag_on_failover" in c["failover"]["blocked"],
                "reason does not name %s's lag: %s" % (name, c["failover"]["blocked"]))
    t.check(any("no failover: no eligible standby" in e["message"]
                for e in events_of(q, "failover-blocked")), "no failover-blocked event")
    time.sleep(3)
    c = q.status()["clusters"][0]
    t.check(c["epoch"] == 1 and c["primary"] == "pg1", "promoted a lagging standby: %s" % c)
    t.check(not events_of(q, "failover-decided"), "a failover was decided")
    t.check(promoted_nodes(nodes) == [], "promoted: %s" % promoted_nodes(nodes))


def test_sync_standby_lost_with_primary(sb):
    """With synchronous replication (ANY 1 of pg2, pg3) and pg2 no longer streaming, losing the
    primary together with pg3, the standby that acknowledged the last commits, promotes nothing,
    although pg2 is within max_lag_on_failover: it lacks acknowledged commits. The reason is
    shown; once the operator puts pg3 in maintenance (accepting that loss), pg2 is promoted, once."""
    nodes, q = setup(sb, sync=True)
    pg1, pg2, pg3 = nodes
    stop_streaming(pg2)

    def sync_entries():
        return {e["name"]: e["left_lsn"] for e in q.node("pg1")["sync_standbys"]}
    t.wait_until(lambda: (lambda e: e.get("pg3", 0) is None and e.get("pg2"))(sync_entries()),
                 30, "pg1 naming pg3 alone synchronous, pg2 gone")
    pg1.sql("CREATE TABLE acked AS SELECT repeat('x', 100) AS pad FROM generate_series(1, 500)")
    pg1.kill9()
    pg3.kill9()

    def blocked():
        c = q.status()["clusters"][0]
        return c if "synchronous standby pg3" in (c["failover"]["blocked"] or "") else None
    c = t.wait_until(blocked, 30, "the failover blocked by the lost synchronous standby")
    t.log("blocked: %s" % c["failover"]["blocked"])
    time.sleep(2)
    c = q.status()["clusters"][0]
    t.check(c["epoch"] == 1 and not events_of(q, "failover-decided"),
            "failed over without the synchronous standby: %s" % c)
    t.check(pg2.in_recovery(), "pg2 was promoted")
    q.ctl("maintenance", "on", "pg3", check_rc=True)
    c = wait_failover(q, 2)
    t.check(c["primary"] == "pg2", "promoted %s" % c["primary"])
    check_single_promotion(q, nodes, pg2)


def test_restart_all_after_failover(sb):
    """All monitors restarted after a failover come back with the same state and decide nothing
    new."""
    nodes, q = setup(sb)
    nodes[0].kill9()
    wait_failover(q, 2)
    before = q.status()
    codes = q.stop_all()
    t.check(all(c == 0 for c in codes.values()), "unclean shutdown: %s" % codes)
    for m in q.monitors:
        m.start()
    q.wait_leader()

    def fresh():
        st = q.status()
        views = [v for n in st["nodes"] for v in n["views"]]
        return st if views and not any(v["stale"] for v in views) and len(views) == 9 else None
    after = t.wait_until(fresh, 30, "every monitor to report to the new leader")
    # Wait past the failover timeout: nothing may be decided on the old primary's death.
    after = t.holds_for(lambda: (lambda st: st if st["clusters"][0]["epoch"] == 2 else None)(
        q.status()), 3.0, "a new decision after the restart")
    keys = ("name", "role", "priority", "maintenance", "following_epoch")
    t.check([{k: n[k] for k in keys} for n in before["nodes"]] ==
            [{k: n[k] for k in keys} for n in after["nodes"]],
            "nodes differ after restart:\n%s\n%s" % (before["nodes"], after["nodes"]))
    t.check(before["clusters"] == after["clusters"], "cluster state differs after restart")
    t.check(len(events_of(q, "failover-decided")) == 1, "more than one decision")


def test_old_primary_fenced(sb):
    """An old primary that comes back writable is flagged loudly and fenced: read-only, its
    client sessions terminated; it is never taken for the primary again."""
    nodes, q = setup(sb)
    pg1 = nodes[0]
    pg1.kill9()
    c = wait_failover(q, 2)
    pg1.start()  # comes back as a primary: a split brain in the making
    t.wait_until(lambda: any("writable but is not the primary" in e["message"]
                             for e in events_of(q, "alert")), 30, "the writable alert")
    t.wait_until(lambda: pg1.sql("SHOW default_transaction_read_only") == "on", 30,
                 "pg1 fenced read-only")
    t.wait_until(lambda: events_of(q, "fenced"), 30, "the fenced step")
    st = q.status()
    t.check(st["clusters"][0]["primary"] == c["primary"] and st["clusters"][0]["epoch"] == 2,
            "the old primary was taken back")
    t.check(q.node("pg1", st)["role"] == "demoted", "pg1 is %s" % q.node("pg1", st)["role"])
    p = psql_uri(uri(q), "CREATE TABLE fenced_check (x int)")
    t.check(p.returncode == 0, "write through the URI failed: %s" % p.stderr)
    t.check(pg1.sql("SELECT to_regclass('fenced_check') IS NULL") == "t",
            "the write went to the fenced old primary")


def test_leader_dies_after_promote(sb):
    """The leader dies after pg_promote succeeded and before the promotion is committed
    (failpoint): the new leader finds the candidate out of recovery and commits it without a
    second promotion."""
    nodes, q = setup(sb)
    leader = q.monitor(q.wait_leader())
    p = q.ctl("debug", "failpoint", "actuator.after_promote", "crash",
              monitors=leader.api_address)
    t.check(p.returncode == 0, "cannot arm the failpoint: %s" % p.stderr.strip())
    nodes[0].kill9()
    t.wait_until(lambda: not leader.alive(), 30, "the leader to crash at the failpoint")
    t.check("failpoint actuator.after_promote: crashing now" in leader.log_text(),
            "the leader died elsewhere than at the failpoint")
    c = wait_failover(q, 2)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    check_single_promotion(q, nodes, new)
    promoted = events_of(q, "promoted")[0]
    t.check("already out of recovery" in promoted["message"],
            "the new leader promoted again: %s" % promoted["message"])


def test_five_monitors_two_down(sb):
    """Five monitors fail over exactly once with two of them (the leader included) killed."""
    nodes = t.make_pg_cluster(sb, 2)
    q = t.Quorum(sb, 5, FAST).start()
    for n in nodes:
        q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
    t.wait_until(lambda: all(n["health"] == "up" and n["following_epoch"] == 1
                             for n in q.status()["nodes"]), 30, "a steady cluster")
    leader = q.wait_leader()
    other = next(m.id for m in q.monitors if m.id != leader)
    q.monitor(leader).kill()
    q.monitor(other).kill()
    q.wait_leader(exclude=(leader, other))
    nodes[0].kill9()
    c = wait_failover(q, 2)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    check_single_promotion(q, nodes, new)
    check_follows(nodes[2] if new is nodes[1] else nodes[1], new)


def test_leader_cannot_reach_candidate(sb):
    """A leader that cannot reach the standbys it must promote (the others can) hands its
    leadership over, and the next leader carries out the same decision."""
    nodes, q = setup(sb)
    leader = q.monitor(q.wait_leader())
    p = q.ctl("debug", "failpoint", "actuator.connect", "fail", "all",
              monitors=leader.api_address)
    t.check(p.returncode == 0, "cannot arm the failpoint: %s" % p.stderr.strip())
    nodes[0].kill9()
    c = wait_failover(q, 2, timeout=90)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    check_single_promotion(q, nodes, new)
    t.check("handing leadership to another monitor" in leader.log_text(),
            "the stuck leader did not hand over")
    t.check(q.leader() != leader.id, "the stuck monitor leads again")


def test_kept_connection_survives_lost_keepalives(sb):
    """With `timeout = 1s` (keepalives after 1 s idle), 2 s in which every packet to and
    from pg1 is dropped end no monitor's kept probe connection and leave pg1 up: lost
    keepalives are sent again rather than the connection given up at the first one."""
    pg1 = t.make_pg_cluster(sb, 0)[0]
    q = t.Quorum(sb, 3, dict(FAST, **{"health.interval": "30s", "health.report_refresh": "60s",
                                     "health.timeout": "1s"}))
    q.start()
    q.ctl("node", "add", "pg1", "--conninfo", pg1.conninfo, check_rc=True)

    def kept():
        out = pg1.sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE "
                      "'pgquorum-monitor-%' AND backend_type = 'client backend'").split()
        return sorted(out) if len(out) == 3 else None
    t.wait_until(lambda: q.node("pg1")["health"] == "up", 30, "pg1 up")
    before = t.wait_until(kept, 20, "one kept probe connection to pg1 per monitor")
    time.sleep(1.5)  # idle: keepalives flow, each answered

    def lost():
        return sum(m.log_text().count("probe pg1: monitoring connection lost")
                   for m in q.monitors)
    n_lost = lost()
    t.nft("table inet pgqcut", "delete table inet pgqcut", "table inet pgqcut {",
          " chain out { type filter hook output priority 0;",
          "  tcp dport %d drop" % pg1.port, "  tcp sport %d drop" % pg1.port, " }", "}")
    t.log("every packet to and from pg1 dropped (nftables)")
    try:
        time.sleep(2.0)
    finally:
        t.nft_heal()
    t.log("healed")
    t.holds_for(lambda: lost() == n_lost, 4, "no kept connection to pg1 lost")
    t.check(q.node("pg1")["health"] == "up", "pg1 is %s" % q.node("pg1")["health"])
    t.check(kept() == before, "the kept connections changed: %s, were %s" % (kept(), before))


if __name__ == "__main__":
    t.main([test_kill_primary, test_kill_primary_leader_monitor_down,
            test_kill_primary_follower_monitor_down, test_leader_dies_mid_failover,
            test_leader_dies_after_promote, test_leader_cannot_reach_candidate,
            test_five_monitors_two_down, test_lagging_standbys_not_promoted,
            test_sync_standby_lost_with_primary,
            test_one_monitor_cut_off, test_restart_all_after_failover, test_old_primary_fenced,
            test_kept_connection_survives_lost_keepalives],
           failpoints=True)
