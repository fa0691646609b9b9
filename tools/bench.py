#!/usr/bin/env python3
"""make bench: pgquorum's speed and memory numbers.

1. Failover of a killed PostgreSQL primary: time from kill -9 of the
   postmaster to the first write acknowledged through the `pgquorumctl uri`
   multi-host URI, with its breakdown from the committed events (detect:
   first failed probe, verdict, decision, promotion, standbys repointed), at default settings and with
   1 s settings; several runs each, min / median / max.
2. The same with a node agent beside the primary, four ways: the postmaster
   killed (agent alive), the whole node killed (agent and postmaster), the
   primary's host silently cut off (nftables drops, no RST), and the monitor
   leader killed together with the postmaster; each phase from the events:
   the agent's word (its PostgreSQL dead, or the agent silent: its lease
   ended), the verdict, the cut, the decision, the promotion, the first write.
3. Healing, with an agent beside every node: a planned switchover under a
   steady writer (the longest time without an acknowledged write, and when
   the old primary streams again as a standby), and the rejoin of a former
   primary after a failover (its postmaster killed: promotion, then pg_rewind
   until it streams from the new primary).
4. Monitor failover: kill -9 of the Raft leader to a new ready leader.
5. Memory: RSS of an idle monitor watching three nodes, and of a node agent.
6. Raft between monitors (BENCH_ONLY=raft), with tls off and on: commit
   latency (the leader's pgquorum_raft_commit_seconds, raft_apply to its
   callback, over a series of writes; and the pgquorumctl round trip of each
   write) and the re-election time after kill -9 of the leader.
7. The operator surface (BENCH_ONLY=http): HAProxy's switch time (the first
   write through HAProxy, checking /primary on the agents, after kill -9 of
   the primary's postmaster) and the cost of /metrics on a monitor watching
   100 nodes (50 clusters of a primary and a standby): latency, size, and
   the CPU one scrape costs beyond the monitor's idle work.
7. TLS on and off (BENCH_ONLY=tls): the same quorum and failover with the
   transport plain and TLS 1.3: an API request's round trip on a kept
   connection and on a new one (handshake included), kill -9 of the Raft
   leader to a new ready leader, kill -9 of the primary (1 s settings) to the
   first write, and the monitors' RSS.
8. What a probe costs PostgreSQL (BENCH_ONLY=probe, tools/bench_probe.py): server CPU per
   probe on a new connection, on the kept one (where a node agent vouches for the node), and
   per agent local check, and what that makes per node and second.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

PROFILES = {
    "default": {},
    "1s": {"health.interval": "1s", "health.retry_interval": "1s", "health.retries": "1",
           "failover.failover_timeout": "1s", "failover.lease_time": "2s"},
}

SCENARIOS = ("postmaster", "node", "cutoff", "leader")
SCENARIO_TEXT = {
    "postmaster": "postmaster killed, agent alive",
    "node": "agent and postmaster killed (whole node)",
    "cutoff": "primary's host cut off (packets dropped)",
    "leader": "monitor leader killed with the postmaster",
}


def rss_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def agent_run(t, profile, scenario):
    import subprocess
    sb = t.Sandbox("pgq-bench")
    try:
        nodes = t.make_pg_cluster(sb, 2)
        q = t.Quorum(sb, 3, PROFILES[profile]).start()
        for n in nodes[1:]:
            q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
        agent = t.Agent(sb, nodes[0], q.addresses).start()

        def steady():
            st = q.status()
            return all(n["health"] == "up" and n["following_epoch"] == 1
                       for n in st["nodes"]) and len(st["nodes"]) == 3 and \
                q.node("pg1", st)["agent"] and q.node("pg1", st)["agent"]["lease"]
        t.wait_until(steady, 90, "steady cluster, pg1's agent holding a lease")
        agent_rss = rss_of(agent.proc.pid)
        uri = q.ctl("uri", check_rc=True).stdout.strip()
        nodes[0].sql("CREATE TABLE bench (id int)")
        w = t.Writer(uri, lambda i: "INSERT INTO bench VALUES (%d)" % i, pause=0.01)
        w.start()
        t.wait_until(lambda: len(w.acked) > 3, 30, "writes")
        leader = q.wait_leader()
        kill_wall = time.time()
        killed = time.monotonic()
        if scenario == "postmaster":
            nodes[0].kill9(quiet=True)
        elif scenario == "node":
            agent.kill()
            nodes[0].kill9(quiet=True)
        elif scenario == "leader":
            q.monitor(leader).kill()
            os.kill(nodes[0].pid(), 9)
            # Timed from both kills: until the postmaster is dead it still takes writes.
            kill_wall = time.time()
            killed = time.monotonic()
        else:
            api = ",".join(m.api_address.split(":")[1] for m in q.monitors)
            rules = ("table inet pgqcut\ndelete table inet pgqcut\ntable inet pgqcut {\n"
                     " chain out { type filter hook output priority 0;\n"
                     "  tcp dport %d drop\n  meta skuid postgres tcp dport { %s } drop\n }\n}\n"
                     % (nodes[0].port, api))
            subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
        try:
            first = t.wait_until(lambda: w.first_after(killed), 120, "first write after the kill")
        finally:
            subprocess.run(["nft", "delete", "table", "inet", "pgqcut"], check=False,
                           stderr=subprocess.DEVNULL)
        w.finish()

        def done():
            ev = q.events()
            return ev if any(e["event"] == "failover-done" for e in ev) else None
        ev = t.wait_until(done, 60, "failover done")

        def at(kind, pred=lambda e: True):
            for e in ev:
                if e["event"] == kind and pred(e):
                    return e["time_ms"] / 1000.0 - kill_wall
            return float("nan")
        pg1 = lambda e: e.get("node") == "pg1"
        row = {
            "agent": at("agent", lambda e: pg1(e) and ("reports its PostgreSQL" in e["message"]
                                                     or "fell silent" in e["message"])),
            "verdict": at("verdict", lambda e: pg1(e) and "down" in e["message"]),
            "cut": at("failover-cut", lambda e: "cutting its standbys" in e["message"]),
            "decided": at("failover-decided"),
            "promoted": at("promoted"),
            "first_write": first,
        }
        return row, agent_rss
    finally:
        sb.cleanup()


def healing_run(t, profile, kind):
    """A switchover to pg2 under a writer, or a killed primary's rejoin: seconds, from the
    switchover request or the kill."""
    sb = t.Sandbox("pgq-bench")
    try:
        nodes, q, ags = t.agent_setup(sb, settings=PROFILES[profile])
        pg1 = nodes[0]
        uri = q.ctl("uri", check_rc=True).stdout.strip()
        pg1.sql("CREATE TABLE bench (id int)")
        w = t.Writer(uri, lambda i: "INSERT INTO bench VALUES (%d)" % i, pause=0.01)
        w.start()
        t.wait_until(lambda: len(w.acked) > 20, 30, "writes")
        t0_wall = time.time()
        t0 = time.monotonic()
        if kind == "switchover":
            q.ctl("switchover", "--to", "pg2", check_rc=True)
        else:
            pg1.kill9(quiet=True)
        c = t.wait_failover(q, 2, timeout=120)
        new = next(n for n in nodes if n.name == c["primary"])
        t.wait_until(lambda: len(w.acked) > 0 and w.acked[-1][1] > t0 + 0.5 and
                     w.acked[-1][1] > time.monotonic() - 0.5, 60, "writes again")
        w.finish()
        t.check_follows(pg1, new, timeout=120)
        streaming = time.monotonic() - t0
        times = [ts for _, ts in w.acked if ts >= t0 - 1]
        gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
        ev = q.events()

        def at(kind_, pred=lambda e: True):
            for e in ev:
                if e["event"] == kind_ and pred(e):
                    return e["time_ms"] / 1000.0 - t0_wall
            return float("nan")
        row = {"promoted": at("promoted"),
               "rejoin": at("rejoin", lambda e: e.get("node") == "pg1"),
               "old_primary_streams": streaming,
               "no_write_for": gap}
        return row
    finally:
        sb.cleanup()


def stats(xs):
    return "%7.2f %7.2f %7.2f" % (min(xs), statistics.median(xs), max(xs))


def failover_run(t, profile):
    sb = t.Sandbox("pgq-bench")
    try:
        nodes = t.make_pg_cluster(sb, 2)
        q = t.Quorum(sb, 3, PROFILES[profile]).start()
        for n in nodes:
            q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
        t.wait_until(lambda: all(n["health"] == "up" and n["following_epoch"] == 1
                                 for n in q.status()["nodes"]), 60, "steady cluster")
        uri = q.ctl("uri", check_rc=True).stdout.strip()
        nodes[0].sql("CREATE TABLE bench (id int)")
        w = t.Writer(uri, lambda i: "INSERT INTO bench VALUES (%d)" % i, pause=0.01)
        w.start()
        t.wait_until(lambda: len(w.acked) > 3, 30, "writes")
        kill_wall = time.time()
        nodes[0].kill9()
        killed = time.monotonic()
        first = t.wait_until(lambda: w.first_after(killed), 120, "first write after the kill")
        w.finish()

        def done():
            ev = q.events()
            return ev if any(e["event"] == "failover-done" for e in ev) else None
        ev = t.wait_until(done, 60, "failover done")

        def at(kind, pred=lambda e: True, before=False):
            for e in ev:
                if e["event"] == kind and pred(e):
                    back = (e.get("duration_ms") or 0) if before else 0
                    return (e["time_ms"] - back) / 1000.0 - kill_wall
            return float("nan")
        down = lambda e: e["node"] == "pg1" and "down" in e["message"]
        row = {
            # The down verdict's duration runs from the first failed probe.
            "detect": at("verdict", down, before=True),
            "verdict": at("verdict", down),
            "cut": at("failover-cut", lambda e: "cutting its standbys" in e["message"]),
            "decided": at("failover-decided"),
            "promoted": at("promoted"),
            "repointed": at("failover-done"),
            "first_write": first,
        }
        rss = [m["rss_kb"] for m in q.status()["monitors"] if m.get("rss_kb")]
        return row, rss
    finally:
        sb.cleanup()


def leader_run(t):
    sb = t.Sandbox("pgq-bench")
    try:
        q = t.Quorum(sb, 3).start()
        leader = q.wait_leader()
        time.sleep(0.5)
        start = time.monotonic()
        q.monitor(leader).kill()
        q.wait_leader(timeout=30, exclude=(leader,))
        return time.monotonic() - start
    finally:
        sb.cleanup()


def commit_hist(m):
    """(count, sum in seconds) of monitor m's pgquorum_raft_commit_seconds."""
    import pgqtest as t
    status, body = t.http_get(m.http_address, "/metrics")
    vals = {}
    for line in body.splitlines():
        for k in ("_sum", "_count"):
            if line.startswith("pgquorum_raft_commit_seconds" + k + "{"):
                vals[k] = float(line.rsplit(" ", 1)[1])
    if status != 200 or len(vals) != 2:
        raise RuntimeError("no pgquorum_raft_commit_seconds on monitor %d" % m.id)
    return vals["_count"], vals["_sum"]


def raft_run(t, tls, writes=40):
    """Three monitors, tls on or off: the mean commit latency on the leader over `writes`
    maintenance on/off writes, their median pgquorumctl round trip, then seconds from kill -9
    of the leader to a new ready leader."""
    was = t.TLS
    t.TLS = tls  # pgqtest's monitors and pgquorumctl with TLS or plain
    sb = t.Sandbox("pgq-bench-raft")
    t.CURRENT_SANDBOX = sb  # http_get's TLS context
    try:
        q = t.Quorum(sb, 3).start()
        leader = q.wait_leader()
        m = q.monitor(leader)
        q.ctl("node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=%d" % t.free_ports(1)[0],
              check_rc=True, monitors=m.api_address)
        c0, s0 = commit_hist(m)
        rtt = []
        for i in range(writes):
            start = time.monotonic()
            q.ctl("maintenance", "on" if i % 2 == 0 else "off", "pg1", check_rc=True,
                  monitors=m.api_address)
            rtt.append(time.monotonic() - start)
        c1, s1 = commit_hist(m)
        commit_ms = (s1 - s0) / max(c1 - c0, 1) * 1000
        start = time.monotonic()
        m.kill()
        q.wait_leader(timeout=30, exclude=(leader,))
        return {"commit_ms": commit_ms, "rtt_ms": statistics.median(rtt) * 1000,
                "reelect_s": time.monotonic() - start}
    finally:
        sb.cleanup()
        t.TLS = was


def raft_bench(t, runs):
    rows = {}
    for tls in (False, True):
        rows[tls] = []
        for i in range(runs):
            rows[tls].append(raft_run(t, tls))
            print("  tls %-3s run %d: %s" % ("on" if tls else "off", i + 1, "  ".join(
                "%s %.2f" % (k, v) for k, v in rows[tls][-1].items())), flush=True)
    print("\nRaft between 3 monitors on loopback, tls off / on (election_timeout 500ms, pre-vote)")
    print("  %-48s %7s %7s %7s" % ("", "min", "median", "max"))
    for k, label in (("commit_ms", "commit on the leader, mean (ms)"),
                     ("rtt_ms", "pgquorumctl write round trip (ms)"),
                     ("reelect_s", "kill -9 leader -> new ready leader (s)")):
        for tls in (False, True):
            print("  %-48s %s" % ("%s, tls %s" % (label, "on" if tls else "off"),
                                  stats([r[k] for r in rows[tls]])))
    print(flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics_run(t, n_clusters=50, scrapes=300):
    """A quorum watching n_clusters clusters of two real PostgreSQL nodes each (every cluster's
    nodes are the same two servers): the leader's /metrics latency, size, and CPU per scrape."""
    import http.client
    sb = t.Sandbox("pgq-bench-metrics")
    try:
        pg1 = t.Postgres(sb, "pg1").initdb()
        with open(os.path.join(pg1.datadir, "postgresql.conf"), "a") as f:
            f.write("max_connections = 400\n")
        pg1.start()
        pg2 = t.Postgres(sb, "pg2").basebackup(pg1).start()
        q = t.Quorum(sb, 3, {"health.interval": "5s"}).start()
        for i in range(n_clusters):
            for pg in (pg1, pg2):
                q.ctl("node", "add", "%s-%d" % (pg.name, i), "--cluster", "c%03d" % i,
                      "--conninfo", pg.conninfo, check_rc=True)
        leader = q.monitor(q.wait_leader())
        nodes = 2 * n_clusters

        def probed():
            text = t.http_get(leader.http_address, "/metrics")[1]
            return sum(1 for line in text.splitlines()
                       if line.startswith("pgquorum_node_cache_hit_ratio{")) >= nodes
        t.wait_until(probed, 120, "every node probed")
        host, port = leader.http_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        pid = leader.proc.pid
        # The monitor's own work (probes, reports, Raft) over the same time, without scrapes.
        lat, size = [], 0
        t0 = time.monotonic()
        for _ in range(scrapes):
            a = time.monotonic()
            conn.request("GET", "/metrics")
            size = len(conn.getresponse().read())
            lat.append(time.monotonic() - a)
        busy_wall = time.monotonic() - t0
        c0 = cpu_seconds(pid)
        time.sleep(busy_wall)
        idle_cpu = cpu_seconds(pid) - c0
        c1 = cpu_seconds(pid)
        t2 = time.monotonic()
        for _ in range(scrapes):
            conn.request("GET", "/metrics")
            conn.getresponse().read()
        busy_cpu = cpu_seconds(pid) - c1
        wall2 = time.monotonic() - t2
        conn.close()
        per = max(0.0, busy_cpu - idle_cpu * (wall2 / busy_wall)) / scrapes
        lat.sort()
        return {"nodes": nodes, "bytes": size, "min_ms": lat[0] * 1000,
                "median_ms": statistics.median(lat) * 1000,
                "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000, "cpu_ms": per * 1000}
    finally:
        sb.cleanup()


def haproxy_run(t):
    """tests/integration/test_http.py's HAProxy scenario: seconds to the first write."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "test_http", os.path.join(HERE, "..", "tests", "integration", "test_http.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sb = t.Sandbox("pgq-bench-haproxy")
    try:
        return mod.switch_through_haproxy(sb, via_monitor=False)
    finally:
        sb.cleanup()


def http_bench(t, runs):
    took = []
    for i in range(runs):
        took.append(haproxy_run(t))
        print("  haproxy run %d: first write %.2f s" % (i + 1, took[-1]), flush=True)
    print("\nHAProxy (option httpchk GET /primary on the agents, inter 500ms fall 2 rise 1, "
          "option redispatch 1), kill -9 of the primary's postmaster, settings (defaults)")
    print("  %-34s %7s %7s %7s" % ("", "min", "median", "max"))
    print("  %-34s %s\n" % ("first write through HAProxy", stats(took)))
    m = metrics_run(t)
    print("/metrics on the leader of 3 monitors watching %d nodes: %d bytes; latency min %.2f ms, "
          "median %.2f ms, p99 %.2f ms; CPU %.3f ms per scrape beyond the idle monitor's" %
          (m["nodes"], m["bytes"], m["min_ms"], m["median_ms"], m["p99_ms"], m["cpu_ms"]))


def api_round_trips(t, address, n=200):
    """Median and p99 ms of n STATUS requests on one connection, then of n on a new
    connection each (the TLS handshake included when on)."""
    import struct
    req = b"\x08\x01\x52\x00"
    frame = struct.pack(">I", len(req)) + req

    def one(s):
        s.sendall(frame)
        hdr = b""
        while len(hdr) < 4:
            hdr += s.recv(4 - len(hdr))
        left = struct.unpack(">I", hdr)[0]
        while left > 0:
            left -= len(s.recv(min(left, 65536)))
    kept, fresh = [], []
    s = t.connect(address, user="admin")
    for _ in range(n):
        t0 = time.monotonic()
        one(s)
        kept.append((time.monotonic() - t0) * 1000)
    s.close()
    for _ in range(n):
        t0 = time.monotonic()
        s = t.connect(address, user="admin")
        one(s)
        fresh.append((time.monotonic() - t0) * 1000)
        s.close()

    def q(xs, f):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(f * len(xs)))]
    return q(kept, 0.5), q(kept, 0.99), q(fresh, 0.5), q(fresh, 0.99)


def tls_bench(t, runs):
    """Section 7: the same measurements with the transport plain and TLS."""
    rows = {}
    for tls in (False, True):
        t.TLS = tls
        sb = t.Sandbox("pgq-bench-tls")
        t.CURRENT_SANDBOX = sb
        try:
            q = t.Quorum(sb, 3).start()
            time.sleep(1)
            rt = api_round_trips(t, q.monitor(q.wait_leader()).api_address)
        finally:
            sb.cleanup()
        leader = [leader_run(t) for _ in range(runs)]
        fo, rss = [], []
        for _ in range(runs):
            row, r = failover_run(t, "1s")
            fo.append(row["first_write"])
            rss += r
        rows[tls] = (rt, leader, fo, rss)
        print("  tls %-3s: api %.2f/%.2f ms kept, %.2f/%.2f ms new; leader %s; failover %s"
              % ("on" if tls else "off", rt[0], rt[1], rt[2], rt[3], stats(leader), stats(fo)),
              flush=True)
    t.TLS = True
    print("\nTLS 1.3 on and off (3 monitors on loopback)")
    print("  %-44s %-24s %-24s" % ("", "plain", "TLS"))
    for label, f in (("API round trip, kept connection (p50/p99 ms)",
                      lambda r: "%.2f / %.2f" % (r[0][0], r[0][1])),
                     ("API round trip, new connection (p50/p99 ms)",
                      lambda r: "%.2f / %.2f" % (r[0][2], r[0][3])),
                     ("Raft leader killed -> new leader (s)", lambda r: stats(r[1])),
                     ("primary killed -> first write, 1s (s)", lambda r: stats(r[2])),
                     ("monitor RSS (kB, max)", lambda r: "%d" % max(r[3]))):
        print("  %-44s %-24s %-24s" % (label, f(rows[False]), f(rows[True])))
    print(flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--builddir")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    ap.add_argument("--only",
                    choices=("monitors", "agents", "healing", "http", "tls", "raft", "probe"),
                    default=os.environ.get("BENCH_ONLY") or None,
                    help="only the failovers without agents (and the rest), only with, "
                    "only the switchover and the rejoin, only HTTP, only Raft with tls off/on, "
                    "or only what a probe costs PostgreSQL (tools/bench_probe.py)")
    args = ap.parse_args()
    if args.builddir:
        os.environ["PGQ_BUILDDIR"] = args.builddir
    import pgqtest as t

    print("pgquorum benchmarks: %d runs each (seconds: min / median / max)" % args.runs)
    if args.only in (None, "probe"):
        import bench_probe
        bench_probe.bench(t, runs=3)
        print(flush=True)
        if args.only == "probe":
            return
    if args.only in (None, "raft"):
        raft_bench(t, args.runs)
        if args.only == "raft":
            return
    if args.only in (None, "tls"):
        tls_bench(t, args.runs)
        if args.only == "tls":
            return
    if args.only in (None, "http"):
        http_bench(t, args.runs)
        if args.only == "http":
            return
    rss_all = []
    for kind, text in (("switchover", "planned switchover to pg2 under a writer"),
                       ("rejoin", "primary's postmaster killed: failover, then its rejoin")) \
            if args.only in (None, "healing") else ():
        rows = []
        for i in range(args.runs):
            row = healing_run(t, "default", kind)
            rows.append(row)
            print("  %-10s run %d: %s" % (kind, i + 1, "  ".join(
                "%s %.2f" % (k, v) for k, v in row.items())), flush=True)
        print("\n%s, agents on every node, settings (defaults)" % text)
        print("  %-34s %7s %7s %7s" % ("", "min", "median", "max"))
        for k, label in (("promoted", "new primary promoted (committed)"),
                         ("rejoin", "old primary's rejoin reported"),
                         ("old_primary_streams", "old primary streams again"),
                         ("no_write_for", "longest time without a write")):
            print("  %-34s %s" % (label, stats([r[k] for r in rows])))
        print(flush=True)
    if args.only == "healing":
        return
    for profile in ("default", "1s") if args.only not in ("agents",) else ():
        rows = []
        for i in range(args.runs):
            row, rss = failover_run(t, profile)
            rss_all += rss
            rows.append(row)
            print("  %-7s run %d: %s" % (profile, i + 1, "  ".join(
                "%s %.2f" % (k, v) for k, v in row.items())), flush=True)
        print("\nkill -9 primary, settings %s %s" % (profile, PROFILES[profile] or "(defaults)"))
        print("  %-34s %7s %7s %7s" % ("", "min", "median", "max"))
        for k, label in (("detect", "first failed probe (detect)"),
                         ("verdict", "down by quorum verdict"),
                         ("cut", "cut of the standbys begun"),
                         ("decided", "failover decision committed"),
                         ("promoted", "standby promoted (committed)"),
                         ("repointed", "other standby repointed (done)"),
                         ("first_write", "first write through the URI")):
            print("  %-34s %s" % (label, stats([r[k] for r in rows])))
        print(flush=True)
    agent_rss = []
    for profile in ("default", "1s") if args.only != "monitors" else ():
        for scenario in SCENARIOS:
            rows = []
            for i in range(args.runs):
                row, rss = agent_run(t, profile, scenario)
                agent_rss.append(rss)
                rows.append(row)
                print("  %-7s %-10s run %d: %s" % (profile, scenario, i + 1, "  ".join(
                    "%s %.2f" % (k, v) for k, v in row.items())), flush=True)
            print("\nwith a node agent: %s, settings %s %s" % (
                SCENARIO_TEXT[scenario], profile, PROFILES[profile] or "(defaults)"))
            print("  %-34s %7s %7s %7s" % ("", "min", "median", "max"))
            for k, label in (("agent", "agent's word (dead, or silent)"),
                             ("verdict", "down by quorum verdict"),
                             ("cut", "cut of the standbys begun"),
                             ("decided", "decision (lease ended/fenced)"),
                             ("promoted", "standby promoted (committed)"),
                             ("first_write", "first write through the URI")):
                print("  %-34s %s" % (label, stats([r[k] for r in rows])))
            print(flush=True)
    if args.only == "agents":
        print("node agent RSS: min %d kB, max %d kB" % (min(agent_rss), max(agent_rss)))
        return
    leader = [leader_run(t) for _ in range(args.runs)]
    print("kill -9 Raft leader -> new ready leader (election_timeout 500ms, pre-vote)")
    print("  %-34s %s\n" % ("seconds", stats(leader)))
    print("idle monitor RSS (3 monitors watching 3 nodes): min %d kB, max %d kB"
          % (min(rss_all), max(rss_all)))
    if agent_rss:
        print("node agent RSS: min %d kB, max %d kB" % (min(agent_rss), max(agent_rss)))


if __name__ == "__main__":
    main()
