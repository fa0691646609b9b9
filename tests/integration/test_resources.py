#!/usr/bin/env python3
"""Monitors short of file descriptors with real PostgreSQL 15: they keep their quorum, shed the
probes beyond what their open-file limit allows and say why, fail nothing over, and refuse to
start only when Raft and the API themselves could not run."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Probe connections each monitor has room for under the limit the test gives it.
BUDGET = 20
# Nodes registered beyond the real cluster's two: clusters of one node each, every one the same
# PostgreSQL reached at its own loopback address.
BULK = 40
# Small client limits: the fixed part of the need (Raft, the API, HTTP) stays small.
SETTINGS = {"api.max_clients": "8", "http.max_clients": "4", "health.interval": "2s",
            "failover.replication_slots": "off"}


def make_primary_and_standby(sb):
    """pg1 (primary, listening on every loopback address) and pg2 streaming from it."""
    pg1 = t.Postgres(sb, "pg1").initdb()
    with open(os.path.join(pg1.datadir, "postgresql.conf"), "a") as f:
        f.write("listen_addresses = '*'\nmax_connections = 200\n")
    with open(os.path.join(pg1.datadir, "pg_hba.conf"), "a") as f:
        f.write("host all all 127.0.0.0/8 trust\n")
    pg1.start()
    pg2 = t.Postgres(sb, "pg2").basebackup(pg1).start()
    t.wait_until(lambda: pg1.sql("SELECT count(*) FROM pg_stat_replication") == "1", 60,
                 "pg2 streaming from pg1")
    return pg1, pg2


def monitor_rows(q):
    return {m["id"]: m for m in q.status()["monitors"] if m.get("reachable")}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_low_open_file_limit_sheds_probes(sb):
    """Three monitors whose open-file limit leaves room for 20 probes, with 42 nodes registered:
    Raft, the API and every monitor stay up, each sheds the last 22 nodes and says so (log line,
    status, /metrics, one overload event each), no shed node is reported down, nothing is failed
    over; and a flood of connections to a monitor's ports neither stops it nor makes it spin."""
    pg1, pg2 = make_primary_and_standby(sb)
    q = t.Quorum(sb, 3, SETTINGS).start()
    # What everything but the probes needs, as the monitors count it: then the limit that leaves
    # exactly BUDGET probes.
    fixed = monitor_rows(q)[q.leader()]["open_files_needed"]
    t.check(fixed > 0, "status does not say what the monitor needs: %s" % monitor_rows(q))
    q.stop_all()
    for m in q.monitors:
        m.nofile = fixed + BUDGET
    q.start()
    t.log("open-file limit %d: %d for Raft, the API and HTTP, %d for probes" % (
        fixed + BUDGET, fixed, BUDGET))
    q.ctl("node", "add", "pg1", "--conninfo", pg1.conninfo, check_rc=True)
    q.ctl("node", "add", "pg2", "--conninfo", pg2.conninfo, check_rc=True)
    for i in range(1, BULK + 1):
        conninfo = "host=127.0.0.%d port=%d user=%s dbname=postgres" % (
            10 + i, pg1.port, t.MONITOR_ROLE)
        q.ctl("node", "add", "b%d" % i, "--conninfo", conninfo, "--cluster", "c%d" % i,
              check_rc=True)
    shed = BULK + 2 - BUDGET

    def all_shed():
        rows = monitor_rows(q)
        return len(rows) == 3 and all(r["probes"] == BULK + 2 and r["probes_shed"] == shed
                                      for r in rows.values())
    t.wait_until(all_shed, 60, "every monitor shedding %d of %d probes" % (shed, BULK + 2))
    st = q.status()
    health = {(n["cluster"], n["name"]): n["health"] for n in st["nodes"]}
    t.wait_until(lambda: q.node("pg1")["role"] == "primary" and q.node("pg2")["health"] == "up",
                 30, "the real cluster probed: pg1 primary, pg2 up")
    for i in range(1, BULK + 1):
        h = health[("c%d" % i, "b%d" % i)]
        if i > BUDGET - 2:
            t.check(h != "down", "shed node b%d reported down" % i)
    # Why, in the log, in status and in the events; the numbers in /metrics.
    # A line at the start of shedding, then one for a change at most every 10 s.
    line = "probes shed: %d of %d nodes are not probed: the open-file limit %d" % (
        shed, BULK + 2, fixed + BUDGET)
    t.wait_until(lambda: all(line in m.log_text() for m in q.monitors), 30,
                 "every monitor logging why it sheds probes")
    # The event is of the start of shedding: the numbers then (status has them now).
    t.wait_until(lambda: sorted(e["message"].split()[1] for e in t.events_of(q, "overload")
                                if "does not probe" in e["message"]) == ["1", "2", "3"],
                 30, "an overload event for each monitor")
    table = q.ctl("status", check_rc=True).stdout
    t.check("does not probe %d of %d nodes: open-file limit %d" % (shed, BULK + 2, fixed + BUDGET)
            in table, "status does not say why probes are shed:\n%s" % table)
    code, body = t.http_get(q.monitors[0].http_address, "/metrics")
    t.check(code == 200 and 'pgquorum_probes_shed{monitor="1"} %d' % shed in body,
            "/metrics: pgquorum_probes_shed not %d" % shed)

    # The quorum keeps working: writes commit, every monitor lives, nothing fails over.
    def steady(every_row=True):
        rows = monitor_rows(q)
        main = next(c for c in q.status()["clusters"] if c["name"] == "main")
        return (all(m.alive() for m in q.monitors) and (len(rows) == 3 or not every_row) and
                any(r["role"] == "leader" and r["ready"] for r in rows.values()) and
                main["epoch"] == 1 and main["primary"] == "pg1")
    q.ctl("maintenance", "on", "pg2", check_rc=True)
    q.ctl("maintenance", "off", "pg2", check_rc=True)
    t.holds_for(steady, 10, "the quorum stays up with pg1 primary")

    # A flood of idle connections to every port of a follower (API, HTTP, Raft): each is bounded
    # by its own limit and counted in the need, so nothing runs out of descriptors. (Not the
    # leader: with its API full, status could not show it leading, which is not what this is
    # about.)
    m2 = next(m for m in q.monitors if m.id != q.leader())
    socks = []
    for address in (m2.api_address, m2.http_address, m2.raft_address):
        host, port = address.rsplit(":", 1)
        for _ in range(80):
            try:
                socks.append(socket.create_connection((host, int(port)), timeout=2))
            except OSError:
                pass
    before = cpu_seconds(m2.proc.pid)
    t.holds_for(lambda: steady(False), 4, "the quorum stays up while monitor %d's ports are flooded" % m2.id)
    used = cpu_seconds(m2.proc.pid) - before
    for s in socks:
        s.close()
    t.log("%d flood connections held; monitor %d used %.2f s of CPU in 4 s" % (
        len(socks), m2.id, used))
    t.check(used < 2.0, "monitor %d spins under the flood: %.2f s of CPU in 4 s" % (m2.id, used))
    t.wait_until(lambda: m2.id in monitor_rows(q), 30, "monitor %d answering status again" % m2.id)
    log2 = m2.log_text()
    t.check("Too many open files" not in log2, "monitor %d ran out of descriptors: %s" % (m2.id, [
        ln for ln in log2.splitlines() if "Too many open files" in ln][:3]))
    t.check(not t.events_of(q, "decision"), "a failover was decided")
    for m in q.monitors:
        t.check("Raft stopped" not in m.log_text(), "monitor %d: Raft stopped" % m.id)

    # Nodes removed: every node fits again, and the monitors say so.
    for i in range(BUDGET - 1, BULK + 1):
        q.ctl("node", "remove", "b%d" % i, "--cluster", "c%d" % i, check_rc=True)
    t.wait_until(lambda: all(r["probes_shed"] == 0 for r in monitor_rows(q).values()), 30,
                 "no probe shed once nodes are removed")
    t.wait_until(lambda: len([e for e in t.events_of(q, "overload")
                              if "probes every node again" in e["message"]]) == 3,
                 30, "an overload event for each monitor's end of shedding")


def test_limit_too_low_to_start(sb):
    """A monitor whose open-file limit cannot hold Raft and the API does not start: it exits 1
    with one line naming the limit and what they need."""
    q = t.Quorum(sb, 3)
    m = q.monitor(1)
    m.nofile = 40
    m.start()
    rc = m.proc.wait(timeout=30)
    t.check(rc == 1, "exit code %s, want 1" % rc)
    t.check("the open-file limit 40 is too low: Raft and the API alone need" in m.log_text(),
            "the line does not name the limit: %s" % m.log_text()[-600:])


if __name__ == "__main__":
    t.main([test_low_open_file_limit_sheds_probes, test_limit_too_low_to_start])
