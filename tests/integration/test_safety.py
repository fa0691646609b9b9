#!/usr/bin/env python3
"""Failover safety with real PostgreSQL 15 and real monitors: what must never happen
(a failover on a dead monitor's word, a primary fenced for its own twin, writes
acknowledged by an old primary after a new one is promoted) and what must always
finish (a failover whose candidate cannot be promoted)."""

import datetime
import os
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
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        c = q.status()["clusters"][0]
        t.check(c["epoch"] == 1 and c["primary"] == "pg1",
                "failed over on a dead monitor's view: %s" % c)
        time.sleep(0.2)
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
    t.main([test_dead_monitor_view_expires, test_writable_old_primary_fenced_at_once,
            test_twin_registration, test_leader_clock_steps], failpoints=True)
