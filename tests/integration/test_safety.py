#!/usr/bin/env python3
"""Failover safety with real PostgreSQL 15 and real monitors: what must never happen
(a failover on a dead monitor's word, a primary fenced for its own twin, writes
acknowledged by an old primary after a new one is promoted) and what must always
finish (a failover whose candidate cannot be promoted)."""

import datetime
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

FAST = t.FAST


def ms(s):
    """A duration of the configuration ("300ms", "2s", "1m") in seconds."""
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if s.endswith(unit) and s[:-len(unit)].isdigit():
            return int(s[:-len(unit)]) * scale
    raise ValueError(s)


def down_view_ttl(settings):
    """How long a down view counts (config_down_view_ttl_ms): interval + retry_interval +
    timeout + 1 s."""
    return (ms(settings["health.interval"]) + ms(settings["health.retry_interval"]) +
            ms(settings["health.timeout"]) + 1.0)


def committed_age(view):
    """Seconds since the view was committed (one machine: one wall clock)."""
    at = datetime.datetime.fromisoformat(view["committed_at"].replace("Z", "+00:00"))
    return time.time() - at.timestamp()


def view_of(q, node, monitor):
    for v in q.node(node)["views"]:
        if v["monitor"] == monitor:
            return v
    return None


def arm(q, monitor, *args):
    p = q.ctl("debug", "failpoint", *args, monitors=q.monitor(monitor).api_address)
    t.check(p.returncode == 0, "cannot arm %s on monitor %d: %s" % (args, monitor,
                                                                    p.stderr.strip()))


def test_dead_monitor_view_expires(sb):
    """A down view from a monitor that stopped reporting stops counting within interval +
    timeout: a killed monitor's last "down" plus one live monitor's "down" do not fail over a
    primary the leader sees writable."""
    nodes, q = t.failover_setup(sb)
    pg1 = nodes[0]
    leader = q.wait_leader()
    a, b = [m.id for m in q.monitors if m.id != leader]
    arm(q, a, "probe", "fail", "pg1")
    t.wait_until(lambda: (lambda v: v and not v["reachable"])(view_of(q, "pg1", a)), 30,
                 "monitor %d's view of pg1 down" % a)
    q.monitor(a).kill()
    ttl = down_view_ttl(FAST)
    t.wait_until(lambda: committed_age(view_of(q, "pg1", a)) > ttl, ttl + 30,
                 "monitor %d's last view to be older than %.1f s" % (a, ttl))
    arm(q, b, "probe", "fail", "pg1")
    n = t.wait_until(lambda: (lambda n: n if n["health"] == "down" else None)(q.node("pg1")), 30,
                     "pg1 down by verdict (a dead monitor's view and a live one's)")
    t.log("pg1 is %s by verdict, views %s" % (n["health"], [(v["monitor"], v["reachable"])
                                                          for v in n["views"]]))

    def held():
        c = q.status()["clusters"][0]
        return c if "fewer than a majority" in (c["failover"]["blocked"] or "") else None
    c = t.wait_until(held, 30, "the failover held for want of a live majority")
    # Watch for longer than a failover takes: failover_timeout, decision, promotion.
    t.holds_for(lambda: (lambda c: c["epoch"] == 1 and c["primary"] == "pg1")(
        q.status()["clusters"][0]), 5.0, "failed over on a dead monitor's view")
    t.check(not t.events_of(q, "failover-decided"), "a failover was decided")
    t.check(not pg1.in_recovery() and pg1.sql("SHOW default_transaction_read_only") == "off",
            "pg1 is no longer a writable primary")


def test_writable_old_primary_fenced_at_once(sb):
    """When a majority loses the primary but the leader still reaches it, the leader fences it
    from its own probe as soon as the failover is decided, not at its next report (report_refresh
    is 1 minute here)."""
    settings = {"health.report_refresh": "1m"}
    nodes, q = t.failover_setup(sb, settings=settings)
    pg1 = nodes[0]
    leader = q.wait_leader()
    for m in q.monitors:
        if m.id != leader:
            arm(q, m.id, "probe", "fail", "pg1")
    c = t.wait_failover(q, 2, timeout=60)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    t.check_single_promotion(q, nodes, new)
    t.wait_until(lambda: t.events_of(q, "fenced"), 20, "the old primary fenced")
    t.check(pg1.sql("SHOW default_transaction_read_only") == "on", "pg1 is not read-only")
    ev = q.events()
    decided = next(e for e in ev if e["event"] == "failover-decided")
    fenced = next(e for e in ev if e["event"] == "fenced")
    t.check(fenced["node"] == "pg1" and fenced["epoch"] == 2, "fenced: %s" % fenced)
    t.log("decision %s, fence %s" % (decided["time"], fenced["time"]))


def test_twin_registration(sb):
    """The same PostgreSQL server registered twice (by 127.0.0.1 and by localhost) is flagged as
    one server under two names, and the live primary is never fenced for being its own twin."""
    nodes, q = t.failover_setup(sb)
    pg1 = nodes[0]
    q.ctl("node", "add", "pg1b", "--conninfo", pg1.conninfo.replace("127.0.0.1", "localhost"),
          check_rc=True)
    t.wait_until(lambda: q.node("pg1b")["twin_of"] == "pg1", 30, "pg1b flagged as pg1's twin")
    # Every monitor's view of pg1b, each of which would have raised the writable alert.
    t.wait_until(lambda: len([v for v in q.node("pg1b")["views"] if v["reachable"]]) == 3, 30,
                 "every monitor's view of pg1b")
    alerts = [e["message"] for e in t.events_of(q, "alert")]
    t.log("alerts: %s" % alerts)
    t.check(any("pg1b is the same PostgreSQL server as node pg1" in a for a in alerts),
            "no twin alert: %s" % alerts)
    t.check(not any("writable but is not the primary" in a for a in alerts),
            "the twin was taken for a rogue primary: %s" % alerts)
    t.check(not t.events_of(q, "fenced"), "something was fenced")
    t.check(pg1.sql("SHOW default_transaction_read_only") == "off", "pg1 was fenced")
    st = q.status()
    t.check(st["clusters"][0]["primary"] == "pg1" and q.node("pg1b", st)["role"] == "unknown",
            "roles after the twin: %s" % [(n["name"], n["role"]) for n in st["nodes"]])
    table = q.ctl("status", check_rc=True).stdout
    t.check("pg1b is the same PostgreSQL server as pg1" in table, "status does not say so:\n%s"
            % table)


def ids_on(pg, table="acks"):
    return set(int(x) for x in pg.sql("SELECT id FROM %s" % table).split())


def wait_phase(q, epoch, phases, timeout=60):
    def reached():
        c = q.status()["clusters"][0]
        return c if c["epoch"] == epoch and c["failover"]["phase"] in phases else None
    return t.wait_until(reached, timeout, "epoch %d %s" % (epoch, "/".join(phases)))


def frozen_primary(sb, sync):
    """The primary's postmaster is frozen (SIGSTOP) while a client keeps writing on a session it
    already holds (its backend, and its walsenders, go on); it is thawed once a standby is
    promoted. Returns (writes acknowledged, of them lost on the new primary, the new primary,
    the other standby, the quorum)."""
    nodes, q = t.failover_setup(sb, sync=sync)
    pg1, pg2, pg3 = nodes
    for s in (pg2, pg3):
        # A setting of the operator's own in each standby's primary_conninfo: the cut and the
        # repoint must keep it (they rewrite only host and port).
        s.sql("ALTER SYSTEM SET primary_conninfo = '%s keepalives_idle=17'"
              % s.sql("SHOW primary_conninfo").replace("'", "''"))
        s.sql("SELECT pg_reload_conf()")
    t.wait_until(lambda: pg1.sql("SELECT count(*) FROM pg_stat_replication WHERE state = "
                                 "'streaming'") == "2", 30, "both standbys streaming again")
    pg1.sql("CREATE TABLE acks (id int PRIMARY KEY)")
    w = t.SessionWriter(pg1.port, lambda i: "INSERT INTO acks VALUES (%d)" % i)
    w.start()
    t.wait_until(lambda: len(w.acked) >= 50, 30, "50 acknowledged writes")
    os.kill(pg1.pid(), signal.SIGSTOP)
    frozen = time.monotonic()
    t.log("pg1: postmaster frozen (SIGSTOP) after %d acknowledged writes" % len(w.acked))
    try:
        c = wait_phase(q, 2, ("promoted", "done"))
    finally:
        os.kill(pg1.pid(), signal.SIGCONT)
    promoted = time.monotonic()
    t.log("promoted %s %.1f s after the freeze; pg1 thawed" % (c["primary"], promoted - frozen))
    new = next(n for n in nodes if n.name == c["primary"])
    other = next(n for n in nodes[1:] if n is not new)
    t.wait_until(lambda: t.events_of(q, "fenced"), 30, "the old primary fenced")
    w.finish()
    t.wait_failover(q, 2, timeout=60)
    have = ids_on(new)
    acked = [i for i, _ in w.acked]
    lost = [i for i in acked if i not in have]
    after = [i for i, ts in w.acked if ts > promoted]
    t.log("%d writes acknowledged by pg1, %d of them lost on %s (%d acknowledged after the "
          "promotion); session ended with: %s" % (len(acked), len(lost), new.name, len(after),
                                                  w.errors[-1:] or "-"))
    return acked, lost, new, other, q


def check_other_standby(q, new, other):
    """The standby that was not chosen follows the new primary on its timeline, counted as
    repointed, or is shown as needing a rejoin; never a healthy-looking standby that is not."""
    n = q.node(other.name)
    if n["role"] == "standby":
        t.check_follows(other, new)
        t.check(n["following_epoch"] == 2, "%s not counted as following: %s" % (other.name, n))
        ci = other.sql("SHOW primary_conninfo")
        t.check("keepalives_idle" in ci and "17" in ci and "port=%d" % new.port in ci,
                "%s's primary_conninfo lost the operator's settings: %s" % (other.name, ci))
    else:
        t.check(n["role"] == "demoted" and n["rejoin"], "%s is %s" % (other.name, n))


def test_frozen_primary_sync_loses_nothing(sb):
    """With synchronous replication (ANY 1 of pg2, pg3) and the primary frozen while a client
    keeps writing on its open session: the standbys are cut off the old primary before one is
    promoted, so no write it acknowledged is lost (the one not chosen acknowledged nothing past
    the cut), the other standby follows the new primary, and the failover completes."""
    acked, lost, new, other, q = frozen_primary(sb, sync=True)
    t.check(len(acked) >= 50, "too few writes: %d" % len(acked))
    t.check(not lost, "acknowledged writes lost: %s" % lost[:20])
    check_other_standby(q, new, other)
    cuts = [e for e in t.events_of(q, "failover-cut") if "stopped following" in e["message"]]
    t.check(len(cuts) == 2, "cut events: %s" % cuts)
    decided = t.events_of(q, "failover-decided")[0]
    t.check(all(e["seq"] < decided["seq"] for e in cuts), "a standby was cut after the decision")


def test_frozen_primary_async(sb):
    """The same with asynchronous replication: the standbys are cut before the promotion and the
    other one follows the new primary; the old primary, which the monitors cannot reach, keeps
    acknowledging writes on its open session until it is thawed and fenced (what leases, with
    node agents, will stop): the number lost is measured."""
    acked, lost, new, other, q = frozen_primary(sb, sync=False)
    t.check(len(acked) >= 50, "too few writes: %d" % len(acked))
    check_other_standby(q, new, other)
    t.log("asynchronous: %d of %d acknowledged writes lost" % (len(lost), len(acked)))


def test_cut_abandoned_when_primary_returns(sb):
    """A primary the monitors lose but which is alive, with no standby eligible after the cut
    (synchronous replication, the other synchronous standby down for the monitors and out of
    their reach, though it still streams): once the monitors see the primary again the failover is abandoned, in the
    same epoch, and the standby cut off it follows it again, with every setting of its
    primary_conninfo as it was."""
    nodes, q = t.failover_setup(sb, sync=True)
    pg1, pg2, pg3 = nodes
    pg2.sql("ALTER SYSTEM SET primary_conninfo = '%s keepalives_idle=17'"
            % pg2.sql("SHOW primary_conninfo").replace("'", "''"))
    pg2.sql("SELECT pg_reload_conf()")
    t.wait_until(lambda: pg1.sql("SELECT count(*) FROM pg_stat_replication WHERE state = "
                                 "'streaming'") == "2", 30, "both standbys streaming again")
    for m in q.monitors:
        arm(q, m.id, "probe", "fail", "pg3")
        arm(q, m.id, "actuator.connect", "fail", "pg3")  # not cut either: its position unknown
    t.wait_until(lambda: q.node("pg3")["health"] == "down", 30, "pg3 down by verdict")
    for m in q.monitors:
        arm(q, m.id, "probe", "fail", "pg1,pg3")
    c = wait_phase(q, 1, ("cutting",))
    try:
        t.wait_until(lambda: "synchronous standby pg3 is down" in
                     (q.status()["clusters"][0]["failover"]["blocked"] or ""), 30,
                     "the failover blocked by the lost synchronous standby")
    except t.TestFailure:
        t.log("status: %s" % q.ctl("status").stdout)
        t.log("events: %s" % q.ctl("events", "--limit", "15").stdout)
        raise
    t.wait_until(lambda: pg2.sql("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = "
                                 "'streaming'") == "0", 10, "pg2 cut off pg1")
    for m in q.monitors:
        arm(q, m.id, "probe", "fail", "pg3")  # pg1 seen again, pg3 still not
    try:
        t.wait_until(lambda: any("abandoned" in e["message"]
                                 for e in t.events_of(q, "failover-blocked")), 30,
                     "the failover abandoned")
    except t.TestFailure:
        t.log("status: %s" % q.ctl("status").stdout)
        t.log("events: %s" % q.ctl("events", "--limit", "15").stdout)
        raise
    row = t.wait_until(lambda: (lambda r: r if r.startswith("streaming|%d" % pg1.port) else None)(
        pg2.sql("SELECT status, sender_port FROM pg_stat_wal_receiver")), 30,
        "pg2 streaming from pg1 again")
    ci = pg2.sql("SHOW primary_conninfo")
    t.check("keepalives_idle" in ci and "port=%d" % pg1.port in ci,
            "pg2's primary_conninfo after the abandon: %s" % ci)
    st = q.status()
    t.check(st["clusters"][0]["epoch"] == 1 and st["clusters"][0]["primary"] == "pg1",
            "the cluster after the abandon: %s" % st["clusters"][0])
    t.check(not t.events_of(q, "failover-decided"), "a failover was decided")
    t.log("abandoned: %s; pg2 %s" % (row, ci))


def test_uncut_standby_needs_rejoin(sb):
    """A standby no leader can reach (failpoint) is not cut: it goes on following the frozen old
    primary, which goes on writing, and passes the new primary's fork point. It is never a
    candidate, is found unable to follow by its own WAL once reachable, is shown as needing a
    rejoin, and the failover completes without it."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    for m in q.monitors:
        arm(q, m.id, "actuator.connect", "fail", "pg3")
    pg1.sql("CREATE TABLE acks (id int PRIMARY KEY)")
    w = t.SessionWriter(pg1.port, lambda i: "INSERT INTO acks VALUES (%d)" % i)
    w.start()
    t.wait_until(lambda: len(w.acked) >= 50, 30, "50 acknowledged writes")
    os.kill(pg1.pid(), signal.SIGSTOP)
    try:
        c = wait_phase(q, 2, ("promoted", "done"))
        t.check(c["primary"] == "pg2", "promoted %s, not the only standby cut" % c["primary"])
        # pg3 still streams from the frozen primary: let it get past the fork point.
        fork = int(pg2.sql("SELECT pg_current_wal_lsn() - '0/0'"))
        t.wait_until(lambda: int(pg3.sql("SELECT pg_last_wal_replay_lsn() - '0/0'")) > fork, 30,
                     "pg3 to replay timeline 1 past the fork point")
    finally:
        os.kill(pg1.pid(), signal.SIGCONT)
    for m in q.monitors:
        arm(q, m.id, "actuator.connect", "off")
    t.wait_failover(q, 2, timeout=60)
    n3 = t.wait_until(lambda: (lambda n: n if n["role"] == "demoted" else None)(q.node("pg3")), 60,
                      "pg3 demoted as needing a rejoin")
    t.log("pg3: %s" % n3["rejoin"])
    t.check("past where pg2's timeline 2 forked off" in n3["rejoin"], "reason: %s" % n3["rejoin"])
    t.check(any(e["node"] == "pg3" for e in t.events_of(q, "needs-rejoin")), "no event")
    t.check(not any(e["node"] == "pg3" and e["epoch"] == 2 for e in t.events_of(q, "repointed")),
            "pg3 counted as repointed")
    table = q.ctl("status", check_rc=True).stdout
    t.check("pg3 needs a rejoin" in table, "status does not say so:\n%s" % table)
    w.finish()


def test_unpromotable_candidate_given_up(sb):
    """A candidate that answers but cannot be promoted (its role lacks EXECUTE on pg_promote) is
    given up after three attempts, with the reason in the events, and the next eligible standby
    is promoted in a new epoch."""
    nodes = t.make_pg_cluster(sb, 2)
    pg1, pg2, pg3 = nodes
    pg1.sql("CREATE ROLE pgq_limited LOGIN IN ROLE pg_read_all_stats, pg_read_all_settings")
    pg1.sql("GRANT ALTER SYSTEM ON PARAMETER primary_conninfo TO pgq_limited")
    pg1.sql("GRANT EXECUTE ON FUNCTION pg_reload_conf() TO pgq_limited")
    t.wait_until(lambda: pg2.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'pgq_limited'")
                 == "1", 30, "the role on pg2")
    q = t.Quorum(sb, 3, t.FAST).start()
    q.ctl("node", "add", "pg1", "--conninfo", pg1.conninfo, check_rc=True)
    q.ctl("node", "add", "pg2", "--priority", "100", "--conninfo",
          pg2.conninfo.replace("user=" + t.MONITOR_ROLE, "user=pgq_limited"), check_rc=True)
    q.ctl("node", "add", "pg3", "--conninfo", pg3.conninfo, check_rc=True)
    t.wait_until(lambda: all(n["health"] == "up" and n["following_epoch"] == 1
                             for n in q.status()["nodes"]), 30, "a steady cluster")
    pg1.kill9()
    c = t.wait_failover(q, 3, timeout=90)
    t.check(c["primary"] == "pg3", "promoted %s" % c["primary"])
    decided = t.events_of(q, "failover-decided")
    t.check([(e["node"], e["epoch"]) for e in decided] == [("pg2", 2), ("pg3", 3)],
            "decisions: %s" % decided)
    gave_up = [e for e in t.events_of(q, "failover-blocked") if "given up" in e["message"]]
    t.log("given up: %s" % [e["message"] for e in gave_up])
    promoted = [e for e in t.events_of(q, "promoted") if e["epoch"] == 3]
    if gave_up and promoted:
        t.log("first decision to giving up: %.2f s; giving up to the second promotion: %.2f s"
              % (gave_up[0]["duration_ms"] / 1000.0,
                 (promoted[0]["time_ms"] - gave_up[0]["time_ms"]) / 1000.0))
    t.check(len(gave_up) == 1 and "permission denied for function pg_promote" in
            gave_up[0]["message"] and "3 attempts" in gave_up[0]["message"],
            "given-up events: %s" % gave_up)
    t.check(pg2.in_recovery() and not pg3.in_recovery(), "pg2 promoted after all, or pg3 not")
    t.check(q.node("pg2")["role"] == "standby", "pg2 is %s" % q.node("pg2")["role"])
    t.check_follows(pg2, pg3)
    p = t.psql_uri(t.uri(q), "CREATE TABLE after_give_up (x int)")
    t.check(p.returncode == 0, "no write through the URI: %s" % p.stderr)


FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def decision_of(q, epoch):
    return next(e for e in q.events() if e["event"] == "failover-decided" and e["epoch"] == epoch)


def test_leader_clock_steps(sb):
    """A step of the leader's wall clock (libfaketime: -1 h, then +1 h, while the primary is down)
    changes no failover timing: each failover is decided failover_timeout after the down verdict,
    with no TILT."""
    t.check(os.path.exists(FAKETIME), "libfaketime is not installed (%s)" % FAKETIME)
    files = {}

    def faked(m):
        files[m.id] = sb.path("faketime%d" % m.id)
        with open(files[m.id], "w") as f:
            f.write("+0\n")
        # A real clock step moves CLOCK_REALTIME only. ASan wants to be the first library
        # loaded; libfaketime before it is harmless.
        asan = os.environ.get("ASAN_OPTIONS", "")
        m.env.update({"LD_PRELOAD": FAKETIME, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                      "FAKETIME_NO_CACHE": "1", "FAKETIME_TIMESTAMP_FILE": files[m.id],
                      "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
    timeout_s = 4.0
    nodes, q = t.failover_setup(sb, settings={"failover.failover_timeout": "4s"}, before=faked)
    primary, epoch = nodes[0], 1
    for step in ("-1h", "+1h"):
        leader = q.wait_leader()
        primary.kill9()
        t.wait_until(lambda: q.node(primary.name)["health"] == "down", 30,
                     "%s down by verdict" % primary.name)
        with open(files[leader], "w") as f:
            f.write(step + "\n")
        t.log("monitor %d (leader): wall clock stepped %s" % (leader, step))
        epoch += 1
        c = t.wait_failover(q, epoch, timeout=60)
        d = decision_of(q, epoch)
        t.log("epoch %d: decided %.2f s after the down verdict (failover_timeout %.0f s)"
              % (epoch, d["duration_ms"] / 1000.0, timeout_s))
        t.check(q.leader() == leader, "the leader changed: the step was not tested")
        t.check(timeout_s * 1000 <= d["duration_ms"] <= (timeout_s + 2.0) * 1000,
                "decided %s ms after the verdict, want failover_timeout (+2 s at most)"
                % d["duration_ms"])
        tilt = [e for e in t.events_of(q, "failover-blocked") if "TILT" in e["message"]]
        t.check(not tilt, "held for TILT: %s" % tilt)
        primary = next(n for n in nodes if n.name == c["primary"])


if __name__ == "__main__":
    t.main([test_frozen_primary_sync_loses_nothing, test_frozen_primary_async,
            test_cut_abandoned_when_primary_returns, test_uncut_standby_needs_rejoin, test_unpromotable_candidate_given_up,
            test_dead_monitor_view_expires, test_writable_old_primary_fenced_at_once,
            test_twin_registration, test_leader_clock_steps], failpoints=True)
