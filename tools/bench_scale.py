#!/usr/bin/env python3
"""make bench-scale: what thousands of nodes cost three monitors (issue 12).

For each size N (BENCH_SCALE_SIZES, default 1000,5000,10000), in a fresh
sandbox:

1. A fake PostgreSQL (tools/fakepg, scale only: never a behaviour test)
   answers for N nodes on one port of every loopback address (node i at
   127.(1 + i / 65536).(i / 256 % 256).(i % 256)), clusters of
   BENCH_SCALE_PER_CLUSTER nodes (default 2: a primary and a standby). Where
   the open-file limit cannot hold 3 connections per node in one process,
   a few fakepg processes share the clusters, each on its own port.
2. Three real pgquorumd monitors at default settings (TLS on), and
   BENCH_SCALE_FAILOVER (default 3) real PostgreSQL 15 clusters among the
   fake ones (main: pg1 primary with a node agent beside it, crash_policy
   failover, pg2 standby; main2: pg3 and pg4; ...), as tools/bench.py's
   agent failover. The open-file limit is raised for the
   daemons here, as far as the hard limit (or CAP_SYS_RESOURCE) allows.
3. The N nodes registered: with `pgquorumctl node add --file` when
   pgquorumctl has it, else one NodeAdd each over BENCH_SCALE_CONNECTIONS
   (default 8) concurrent API connections to the leader; timed.
4. Wait until every node is healthy (status: up, a primary, or a standby
   confirmed following it); then, over a window of BENCH_SCALE_WINDOW seconds
   (default 180): CPU (% of one core) and RSS of the leader and of the
   followers (/proc), RSS per node beyond the monitor's RSS before the fake
   nodes, Raft entries per second (the leader's commit index), the latest
   snapshot (the monitors' "snapshot taken" log line: bytes, encode time;
   the file's size on disk), `status --json --cluster NAME` latency, the full
   `status --json` time and size, and what the fake PostgreSQL cost.
5. The real clusters' failovers, one after another: kill -9 of the
   primary's postmaster to the first write through `pgquorumctl uri` (on
   the standby, the new primary); the median printed beside the same with
   no fake node (the first run, N = 0). One time is at the mercy of two
   shared cores (0.13 to 0.36 s for the same failover); the median of three
   is steadier. A failover that nobody asked for, before, is reported with
   its events instead. A monitor
   that dies on the way is reported with its signal and started again.

Then the pure core's micro-benchmarks (tests/bench/bench_core, sizes
BENCH_SCALE_CORE_SIZES, default 1000,10000,100000), and the table, one row
per N.

BENCH_SCALE_SHORT=1: a quick check (200 nodes, a 20 s window, the core at
1000,10000 quickly). BENCH_SCALE_FAILOVER=K (default 3): K real clusters,
failed over one after another, the table giving the median; 0: none.
BENCH_SCALE_PERF=SECONDS: `perf record -g` of the leader for that long in the
window, and the top of its report. Run it from an optimized build
(configure CFLAGS="-O2 -g"), as make bench; it takes many minutes at 10,000.
"""

import argparse
import json
import os
import queue
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

import bench  # noqa: E402 - tools/bench.py: rss_of, cpu_seconds, stats

t = None  # pgqtest, imported once PGQ_BUILDDIR is known

SHORT = os.environ.get("BENCH_SCALE_SHORT", "") not in ("", "0")
REAL = "main"  # the real cluster's name


def env_int(name, default):
    return int(os.environ.get(name) or default)


def log(msg):
    t.log(msg)


# ---- the layout: as tools/fakepg.c has it ----

def node_name(i):
    return "n%06d" % i


def cluster_name(i, per_cluster):
    return "c%05d" % (i // per_cluster)


def node_host(i):
    return "127.%d.%d.%d" % (1 + i // 65536, (i // 256) % 256, i % 256)


def node_port(i, per_cluster, ports):
    """The port of node i: that of the fakepg shard serving its cluster."""
    return ports[(i // per_cluster) % len(ports)]


def node_conninfo(i, port):
    return "host=%s port=%d user=pgquorum_monitor dbname=postgres" % (node_host(i), port)


# ---- processes ----

def raise_nofile(n_nodes):
    """As many descriptors as may be had, for the daemons started from here (they inherit
    the limit; pgquorumd is not relied on to raise it): each monitor keeps one connection
    per node. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(2 * n_nodes + 4096, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        # Without CAP_SYS_RESOURCE the hard limit stands.
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < n_nodes + 2048:
        log("warning: open-file limit %d is too low for a monitor probing %d nodes" % (
            soft, n_nodes))
    return soft


def start_fakepg(sb, n_nodes, per_cluster, nofile, monitors=3):
    """fakepg for n_nodes nodes: as many processes (shards, each on its own port) as the
    open-file limit needs for `monitors` connections per node, with room for the rounds'
    reconnections. Returns (processes, ports)."""
    # Twice the kept connections, as fakepg asks for itself: a full round's new connection
    # is made before the kept one is closed. Short of that, accept() fails (EMFILE), the
    # monitors' connects wait out their timeout and the fake nodes look down.
    shards = max(1, -(-(n_nodes * monitors * 2) // max(nofile - 1024, 1)))
    shards = min(env_int("BENCH_SCALE_SHARDS", shards), -(-n_nodes // per_cluster))
    ports = t.free_ports(shards)
    procs = []
    for k, port in enumerate(ports):
        logf = open(sb.path("fakepg%d.log" % k), "w")
        p = subprocess.Popen([os.path.join(t.BUILDDIR, "tools", "fakepg"), "--port", str(port),
                              "--nodes", str(n_nodes), "--per-cluster", str(per_cluster),
                              "--monitors", str(monitors), "--shards", str(shards),
                              "--shard", str(k)], stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        sb.procs.append(p)
        procs.append(p)
    for k, (p, port) in enumerate(zip(procs, ports)):
        first = k * per_cluster  # cluster k: the first cluster of shard k

        def listening():
            if p.poll() is not None:
                raise t.TestFailure("fakepg exited: %s" % open(sb.path("fakepg%d.log" % k)).read())
            try:
                socket.create_connection((node_host(first), port), timeout=1).close()
                return True
            except OSError:
                return False
        t.wait_until(listening, 10, "fakepg shard %d listening" % k)
    return procs, ports


def cpu_ticks(pid):
    try:
        return bench.cpu_seconds(pid)
    except OSError:
        return float("nan")


def proc_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---- the monitors' API and pgquorumctl ----

def ctl(q, *args, timeout=120, check_rc=True, monitors=None):
    """pgquorumctl with a request limit for big answers."""
    return q.ctl("--timeout", "60s", *args, timeout=timeout, check_rc=check_rc,
                 monitors=monitors)


def status(q, cluster=None, local=None):
    """status --json (of `cluster`); local: that monitor's own state, rendered by it alone
    (a status sent to a follower is rendered there and again by the leader, whole: the
    cluster filter is the client's)."""
    args = ["status", "--json"] + (["--cluster", cluster] if cluster else [])
    if local is not None:
        args.append("--local")
    p = ctl(q, *args, check_rc=False, monitors=local.api_address if local else None)
    if p.returncode != 0:
        raise t.Unreachable("status failed (%d): %s" % (p.returncode, p.stderr.strip()))
    return json.loads(p.stdout)


def leader_of(st):
    for m in st["monitors"]:
        if m["role"] == "leader":
            return m
    return None


class Api:
    """One kept TLS connection to a monitor's API, as pgquorumctl's requests go."""

    def __init__(self, sb, address):
        self.sb = sb
        self.address = address
        self.s = t.connect(address, timeout=120, sb=sb, user="admin")

    def node_add(self, cluster, name, conninfo, priority=50):
        """(code, message, leader_api) of one NodeAdd (api.proto: Request.node_add = 11)."""
        add = (t.api_fb(1, cluster.encode()) + t.api_fb(2, name.encode()) +
               t.api_fb(3, conninfo.encode()) + t.api_fv(4, priority))
        self.s.sendall(t.api_frame(t.api_fv(1, 1) + t.api_fb(11, add)))
        r = t.api_recv_frame(self.s)
        if r is None:
            raise OSError("the monitor closed the connection")
        return r.get(2, 0), r.get(3, b"").decode(), r.get(4, b"").decode()

    def close(self):
        self.s.close()


OK, NOT_LEADER, UNAVAILABLE = 0, 2, 4


def register_api(sb, q, entries, connections):
    """NodeAdd of every (cluster, name, conninfo) over `connections` kept connections to the
    leader, each retried while the leadership moves (NOT_LEADER, UNAVAILABLE: "retry").
    Returns (seconds, refusals: [message])."""
    work = queue.Queue()
    for e in entries:
        work.put(e)
    refused = []
    lock = threading.Lock()
    monitors = [m.api_address for m in q.monitors]
    where = [leader_of(status(q, REAL))["api_address"]]

    def worker():
        api = None
        try:
            while True:
                try:
                    e = work.get_nowait()
                except queue.Empty:
                    return
                for attempt in range(120):
                    try:
                        if api is None:
                            api = Api(sb, where[0])
                        code, msg, leader = api.node_add(*e)
                    except OSError as exc:
                        code, msg, leader = UNAVAILABLE, str(exc), ""
                    if code == OK:
                        break
                    if code in (NOT_LEADER, UNAVAILABLE):
                        # Redirected to the leader, or no leader now: ask another monitor
                        # in a moment (any of them redirects).
                        if api is not None:
                            api.close()
                            api = None
                        with lock:
                            if leader:
                                where[0] = leader
                            elif where[0] in monitors:
                                where[0] = monitors[(monitors.index(where[0]) + 1) %
                                                    len(monitors)]
                        if not leader:
                            time.sleep(0.5)
                        continue
                    with lock:
                        refused.append("%s/%s: %s" % (e[0], e[1], msg))
                    break
                else:
                    with lock:
                        refused.append("%s/%s: gave up after 120 attempts: %s" % (
                            e[0], e[1], msg))
        finally:
            if api is not None:
                api.close()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.monotonic() - t0, refused


def bulk_supported():
    p = subprocess.run([t.PGQUORUMCTL, "node", "add", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return "--file" in p.stdout


def register_bulk(sb, q, entries):
    """`pgquorumctl node add --file FILE`, one entry per line. The file's format is the lead's
    (issue 12): adapt bulk_line() to it when it lands."""
    def bulk_line(cluster, name, conninfo):
        return "%s %s 50 %s" % (cluster, name, conninfo)  # cluster node priority conninfo
    path = sb.path("nodes.txt")
    with open(path, "w") as f:
        for e in entries:
            f.write(bulk_line(*e) + "\n")
    t0 = time.monotonic()
    p = ctl(q, "node", "add", "--file", path, timeout=3600, check_rc=False)
    took = time.monotonic() - t0
    return took, [] if p.returncode == 0 else [(p.stdout + p.stderr).strip()]


def register(sb, q, n_nodes, per_cluster, ports, connections):
    entries = [(cluster_name(i, per_cluster), node_name(i),
                node_conninfo(i, node_port(i, per_cluster, ports))) for i in range(n_nodes)]
    if bulk_supported():
        how = "node add --file"
        took, refused = register_bulk(sb, q, entries)
    else:
        how = "NodeAdd over %d connections" % connections
        took, refused = register_api(sb, q, entries, connections)
    return took, refused, how


# ---- health ----

def revive(q, row, when):
    """A monitor that died is recorded (exit code or signal) and started again, as systemd
    would: the numbers after it are of three monitors again, and the row says so."""
    for m in q.monitors:
        if not m.alive():
            rc = m.proc.returncode
            what = "killed by signal %d" % -rc if rc < 0 else "exited with %d" % rc
            log("monitor %d %s %s; its log ends:\n%s\nstarting it again" % (
                m.id, what, when, "\n".join(m.log_text().splitlines()[-5:])))
            row.setdefault("deaths", []).append("monitor %d %s %s" % (m.id, what, when))
            m.start()


def healthy_count(st):
    """Fake nodes that are up and in place: a primary, or a standby confirmed following the
    primary of its cluster's epoch."""
    epochs = {c["name"]: c["epoch"] for c in st["clusters"]}
    ok = 0
    for n in st["nodes"]:
        if n["cluster"].startswith(REAL) or n["health"] != "up":  # real: main, main2, ...
            continue
        if n["role"] == "primary" or (n["role"] == "standby" and
                                      n["following_epoch"] == epochs.get(n["cluster"]) and
                                      n["following_epoch"] > 0):
            ok += 1
    return ok


def wait_healthy(q, n_nodes, timeout, row):
    t0 = time.monotonic()
    last = -1
    while True:
        revive(q, row, "while the nodes became healthy")
        # Each monitor's own view in turn: the polls' cost (a whole document each) is
        # shared, and never doubled by a follower asking the leader again.
        polls = getattr(q, "_polls", 0)
        q._polls = polls + 1
        a = time.monotonic()
        try:
            st = status(q, local=q.monitors[polls % len(q.monitors)])
        except t.Unreachable as exc:
            log("status: %s" % exc)
            st = None
        took = time.monotonic() - a
        if st is not None:
            ok = healthy_count(st)
            if ok != last:
                log("%d of %d fake nodes healthy (status took %.2f s)" % (ok, n_nodes, took))
                last = ok
            if ok >= n_nodes:
                return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise t.TestFailure("only %d of %d fake nodes healthy after %.0f s" % (
                last, n_nodes, timeout))
        time.sleep(max(5.0, 4 * took))


# ---- the real cluster and its failover (tools/bench.py's agent_run) ----

def real_names(k):
    """The k-th real cluster (from 0): its name, its primary's and its standby's."""
    return (REAL if k == 0 else "%s%d" % (REAL, k + 1)), "pg%d" % (2 * k + 1), "pg%d" % (2 * k + 2)


def real_cluster(sb, q, k):
    """The k-th real cluster: a primary with a node agent beside it, a standby registered by
    node add; returns the primary's Postgres once steady."""
    name, p_name, s_name = real_names(k)
    pg1 = t.Postgres(sb, p_name).initdb().start()
    pg2 = t.Postgres(sb, s_name).basebackup(pg1).start()
    t.wait_until(lambda: int(pg1.sql(
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) == 1,
        60, "%s streaming from %s" % (s_name, p_name))
    ctl(q, "node", "add", s_name, "--cluster", name, "--conninfo", pg2.conninfo)
    # crash_policy failover: the agent leaves a dead primary to the quorum (with auto it may
    # restart it in place, and the first write would be the old primary's).
    t.Agent(sb, pg1, q.addresses, {"crash_policy": "failover", "cluster": name}).start()

    def steady():
        st = status(q, name)
        nodes = {n["name"]: n for n in st["nodes"] if n["cluster"] == name}
        return (len(nodes) == 2 and all(n["health"] == "up" and n["following_epoch"] == 1
                                        for n in nodes.values()) and
                nodes[p_name]["agent"] and nodes[p_name]["agent"]["lease"])
    t.wait_until(steady, 120, "cluster %s steady, %s's agent holding a lease" % (name, p_name),
                 interval=0.5)
    return pg1


def main_events(q, name=REAL):
    return json.loads(ctl(q, "events", "--json", "--cluster", name).stdout)


def main_changed(q, k):
    """"" while the k-th real cluster is as set up (its first primary, epoch 1); else what
    happened to it, from its events: the failover nobody asked for."""
    name, p_name, _ = real_names(k)
    st = status(q, name)
    c = next((c for c in st["clusters"] if c["name"] == name), None)
    if c is not None and c["primary"] == p_name and c["epoch"] == 1:
        return ""
    ev = [e for e in main_events(q, name) if e["event"] not in ("node-added", "agent")]
    # The events may be gone (a bounded history that thousands of registrations filled):
    # the monitors' own lines about the cluster say what happened, in time order.
    said = re.compile(r"verdict|down|cut|decid|promot|fenc|lease|silent|stopped|WARN")
    about = re.compile(r"\b(%s|%s)\b|cluster %s\b" % (p_name, real_names(k)[2], name))
    lines = sorted(line for m in q.monitors for line in m.log_text().splitlines()
                   if about.search(line) and said.search(line))
    return "cluster %s is at epoch %s, primary %s; its events: %s; the monitors' log: %s" % (
        name, c["epoch"] if c else "?", c["primary"] if c else "?",
        "; ".join("%s %s" % (e["event"], e["message"]) for e in ev[-8:]) or "none kept",
        " | ".join(lines[:12]) or "nothing")


def rejoined(q, k):
    """Waits until the k-th real cluster, failed over, has its old primary back as a standby of
    the new one (its agent rewinds it): pg_rewind syncing a data directory makes every fsync on
    the machine wait, the monitors' Raft log's too (700 ms measured), and the next failover
    would be timed through it. Returns the seconds waited, or None when it did not come."""
    name = real_names(k)[0]
    t0 = time.monotonic()

    def back():
        st = status(q, name)
        c = next((c for c in st["clusters"] if c["name"] == name), None)
        nodes = [n for n in st["nodes"] if n["cluster"] == name]
        return (c is not None and len(nodes) == 2 and
                all(n["health"] == "up" and n["following_epoch"] == c["epoch"] for n in nodes))
    try:
        t.wait_until(back, 120, "cluster %s whole again after its failover" % name,
                     interval=0.5)
    except t.TestFailure:
        return None
    time.sleep(2)  # the rejoined standby's own start (recovery, its first checkpoint)
    return time.monotonic() - t0


def failover(sb, q, pg1, k):
    """Seconds from kill -9 of the k-th real cluster's primary (pg1) to the first write
    through the URI, and to the promotion committed; and the new primary."""
    name = real_names(k)[0]
    uri = ctl(q, "uri", "--cluster", name).stdout.strip()
    pg1.sql("CREATE TABLE IF NOT EXISTS bench (id int)")
    w = t.Writer(uri, lambda i: "INSERT INTO bench VALUES (%d)" % i, pause=0.01)
    w.start()
    try:
        t.wait_until(lambda: len(w.acked) > 3, 30, "writes")
        kill_wall = time.time()
        killed = time.monotonic()
        pg1.kill9(quiet=True)
        first = t.wait_until(lambda: w.first_after(killed), 180, "first write after the kill")
    finally:
        w.finish()
    # The promotion's event is committed once the leader's actuator reports it, which may
    # be after the first write: wait for it (a few seconds at most).
    def promoted_event():
        return next((e for e in main_events(q, name) if e["event"] == "promoted"), None)
    try:
        e = t.wait_until(promoted_event, 10, "the promoted event of %s" % name, interval=0.2)
        promoted = e["time_ms"] / 1000.0 - kill_wall
    except t.TestFailure:
        promoted = float("nan")
    c = next(c for c in status(q, name)["clusters"] if c["name"] == name)
    return first, promoted, "%s: %s (epoch %d)" % (name, c["primary"], c["epoch"])


# ---- measurements ----

SNAP_RE = re.compile(r"snapshot taken: (\d+) bytes at seq \d+, encoded in ([0-9.]+) ms")


def snapshot_info(m):
    """(bytes, encode ms, count) of monitor m's snapshots as it logged them, and the size of
    its newest snapshot file (raft compresses it)."""
    found = SNAP_RE.findall(m.log_text())
    files = []
    try:
        for name in os.listdir(m.data_dir):
            if name.startswith("snapshot-") and not name.endswith(".meta"):
                files.append(os.path.join(m.data_dir, name))
    except OSError:
        pass
    size = os.path.getsize(max(files, key=os.path.getmtime)) if files else 0
    if not found:
        return 0, float("nan"), 0, size
    recent = found[-5:]
    return (int(recent[-1][0]), statistics.median(float(x[1]) for x in recent), len(found),
            size)


def timed_ctl(q, args, runs):
    took, size = [], 0
    for _ in range(runs):
        a = time.monotonic()
        p = ctl(q, *args, check_rc=False)
        took.append(time.monotonic() - a)
        size = len(p.stdout)
        if p.returncode != 0:
            return float("nan"), 0
    return statistics.median(took), size


def perf_top(sb, pid, seconds):
    """The top of `perf record -g` of pid for `seconds`: by self time, then pgquorumd's own
    functions by inclusive time (what they and their callees cost)."""
    out = sb.path("perf.data")
    # DWARF unwinding: the build has no frame pointers, and libc's callers are the point.
    p = subprocess.run(["perf", "record", "--call-graph", "dwarf,16384", "-F", "499", "-q", "-o",
                        out, "-p", str(pid), "--", "sleep", str(seconds)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        return "perf record failed: %s" % p.stdout.strip()

    def report(*extra):
        r = subprocess.run(["perf", "report", "-i", out, "--stdio", "-g", "none",
                            "--percent-limit", "1"] + list(extra),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [ln.rstrip() for ln in r.stdout.splitlines()
                 if ln.strip() and not ln.startswith("#")][:40]
        # Nothing: say why (perf's own words, the record's size).
        return lines or ["  (perf report: exit %d, %s; %d bytes recorded; %s)" % (
            r.returncode, r.stderr.strip()[-200:] or "no output",
            os.path.getsize(out) if os.path.exists(out) else 0, p.stdout.strip()[-200:])]
    text = ["self:"] + report("--no-children", "--sort", "dso,symbol")
    text += ["inclusive (with callees), pgquorumd's functions:"] + [
        ln for ln in report("--children", "--sort", "dso,symbol")
        if " pgquorumd " in ln and "main" not in ln.split()[-3:]]
    return "\n".join(text)


def softnet_dropped():
    """Packets the kernel dropped so far, every CPU (/proc/net/softnet_stat, column 2): on
    one loopback, a backlog of net.core.netdev_max_backlog packets per CPU overflows in
    bursts, and each drop is a retransmission somewhere (a probe, Raft, the real cluster)."""
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f if line.strip())


def cpu_times():
    """The machine's CPU times (/proc/stat's first line: user .. steal), in ticks."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def raft_timings(sb, q, mid):
    """Monitor `mid`'s /metrics: its proposals' commit time so far (sum of seconds, count)
    and its loop's worst lateness (seconds) over the detection window."""
    t.CURRENT_SANDBOX = sb
    st, text = t.http_get(q.monitor(mid).http_address, "/metrics", timeout=30)
    got = {}
    for line in text.splitlines() if st == 200 else ():
        for name in ("pgquorum_raft_commit_seconds_sum", "pgquorum_raft_commit_seconds_count",
                     "pgquorum_loop_lag_seconds"):
            if line.startswith(name + "{") or line.startswith(name + " "):
                got[name] = float(line.rsplit(" ", 1)[1])
    return (got.get("pgquorum_raft_commit_seconds_sum", float("nan")),
            got.get("pgquorum_raft_commit_seconds_count", float("nan")),
            got.get("pgquorum_loop_lag_seconds", float("nan")))


def kept_lost(q, mid):
    """Kept probe connections monitor `mid` has lost so far (its log says each)."""
    return q.monitor(mid).log_text().count("monitoring connection lost")


def http_fetch(sb, address, path, timeout=60):
    """GET path of address: (seconds, bytes of the body), the body left undecoded."""
    import http.client
    host, port = address.rsplit(":", 1)
    ctx = t.tls_context(sb)
    t0 = time.monotonic()
    c = (http.client.HTTPSConnection(host, int(port), timeout=timeout, context=ctx) if ctx
         else http.client.HTTPConnection(host, int(port), timeout=timeout))
    try:
        c.request("GET", path)
        body = c.getresponse().read()
    finally:
        c.close()
    return time.monotonic() - t0, len(body)


# Asks address's /health again and again (a process of its own: in this one the GIL would
# let the scrapes' reading delay it), printing "<monotonic> <seconds taken>" for each.
HEALTH_POLLER = r"""
import http.client, ssl, sys, time
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca) if ca else None
if ctx:
    ctx.check_hostname = False
while True:
    t0 = time.monotonic()
    c = (http.client.HTTPSConnection(host, port, timeout=30, context=ctx) if ctx
         else http.client.HTTPConnection(host, port, timeout=30))
    c.request("GET", "/health")
    c.getresponse().read()
    c.close()
    print("%.6f %.6f" % (t0, time.monotonic() - t0), flush=True)
    time.sleep(0.005)
"""


def scrape_stall(sb, q, mid):
    """A scrape of monitor mid's /metrics and a GET of its /cluster (the whole document), timed,
    while another process asks its /health again and again: the slowest /health answered over
    2 s before them and while they are served (the loop held by what the HTTP server renders)."""
    addr = q.monitor(mid).http_address
    host, port = addr.rsplit(":", 1)
    poller = subprocess.Popen([sys.executable, "-c", HEALTH_POLLER, host, port,
                               sb.certs().cert if t.TLS else ""],
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        t0 = time.monotonic()
        got = {path: http_fetch(sb, addr, path) for path in ("/metrics", "/cluster")}
        t1 = time.monotonic()
        time.sleep(0.2)
    finally:
        poller.terminate()
        out = poller.communicate(timeout=10)[0]
    idle, busy = 0.0, 0.0
    for line in out.splitlines():
        start, took = (float(x) for x in line.split())
        if start + took < t0:
            idle = max(idle, took)
        elif start < t1:
            busy = max(busy, took)
    return {"metrics": got["/metrics"], "cluster": got["/cluster"],
            "health_idle_ms": idle * 1000, "health_busy_ms": busy * 1000}


def window(sb, q, fake, seconds, perf_seconds):
    """CPU, RSS and entries over `seconds` of steady state."""
    st = status(q, REAL)
    lead = leader_of(st)
    procs = {m.id: m.proc.pid for m in q.monitors}
    c0 = {mid: cpu_ticks(pid) for mid, pid in procs.items()}
    f0 = sum(cpu_ticks(p.pid) for p in fake)
    d0, l0 = softnet_dropped(), kept_lost(q, lead["id"])
    s0 = cpu_times()
    r0 = raft_timings(sb, q, lead["id"])
    i0, w0 = lead["commit_index"], time.monotonic()
    load0 = os.getloadavg()[0]
    perf = None
    if perf_seconds:
        holder = {}
        th = threading.Thread(target=lambda: holder.setdefault(
            "top", perf_top(sb, procs[lead["id"]], perf_seconds)), daemon=True)
        th.start()
    peak = {mid: 0 for mid in procs}
    end = w0 + seconds
    while time.monotonic() < end:
        for mid, pid in procs.items():
            peak[mid] = max(peak[mid], bench.rss_of(pid))
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))
    wall = time.monotonic() - w0
    c1 = {mid: cpu_ticks(pid) for mid, pid in procs.items()}
    f1 = sum(cpu_ticks(p.pid) for p in fake)
    d1, l1 = softnet_dropped(), kept_lost(q, lead["id"])
    s1 = cpu_times()
    # One scrape of each monitor: a scrape's render runs on the loop, so a second one would
    # find the first in the lateness it reports.
    got = {mid: raft_timings(sb, q, mid) for mid in procs}
    r1 = got[lead["id"]]
    lags = [g[2] for g in got.values()]
    st = status(q, REAL)
    lead2 = leader_of(st)
    if perf_seconds:
        th.join()
        perf = holder.get("top")
    return {
        "leader": lead["id"],
        "leader_changed": lead2 is None or lead2["id"] != lead["id"],
        "cpu": {mid: (c1[mid] - c0[mid]) / wall * 100 for mid in procs},
        "rss": {mid: bench.rss_of(pid) for mid, pid in procs.items()},
        "peak": peak,
        "entries_s": (lead2["commit_index"] - i0) / wall if lead2 else float("nan"),
        "fake_cpu": (f1 - f0) / wall * 100 if fake else float("nan"),
        "fake_shards": len(fake),
        "drops_s": (d1 - d0) / wall,
        # Of the machine's two cores: busy (not idle nor waiting) and stolen by the host.
        "busy_pct": 100.0 * (sum(s1[:8]) - sum(s0[:8]) - (s1[3] - s0[3]) - (s1[4] - s0[4])) /
                    max(1, sum(s1[:8]) - sum(s0[:8])),
        "steal_pct": 100.0 * (s1[7] - s0[7]) / max(1, sum(s1[:8]) - sum(s0[:8])),
        "lost_s": (l1 - l0) / wall,
        "commit_ms": ((r1[0] - r0[0]) / (r1[1] - r0[1]) * 1000 if r1[1] > r0[1]
                      else float("nan")),
        "loop_lag_ms": max(lags) * 1000,
        "load": (load0, os.getloadavg()[0]),
        "perf": perf,
    }


def run_size(n_nodes, args):
    """One sandbox: the quorum, the real cluster, n_nodes fake nodes; a row of the table."""
    row = {"n": n_nodes}
    nofile = raise_nofile(n_nodes)
    sb = t.Sandbox("pgq-scale")
    t.CURRENT_SANDBOX = sb
    fake = []
    try:
        if n_nodes > 0:
            fake, ports = start_fakepg(sb, n_nodes, args.per_cluster, nofile)
        q = t.Quorum(sb, 3).start()
        primaries = [real_cluster(sb, q, k) for k in range(args.failover)]
        # The base: the monitors with the real cluster only, a moment after it settled.
        time.sleep(5)
        base = {m.id: bench.rss_of(m.proc.pid) for m in q.monitors}
        row["base_rss"] = base
        if n_nodes > 0:
            took, refused, how = register(sb, q, n_nodes, args.per_cluster, ports,
                                          args.connections)
            row["reg_s"], row["reg_how"] = took, how
            log("%d nodes registered in %.1f s (%.0f/s, %s)%s" % (
                n_nodes, took, n_nodes / took, how,
                "; %d refused, the first: %s" % (len(refused), refused[0]) if refused else ""))
            if refused:
                row["refused"] = "%d of %d registrations refused, the first: %s" % (
                    len(refused), n_nodes, refused[0])
                return row
            revive(q, row, "during the registration")
            row["healthy_s"] = wait_healthy(q, n_nodes, timeout=300 + n_nodes * 0.1, row=row)
            log("every fake node healthy %.1f s after the registration" % row["healthy_s"])
        settle = 5 if SHORT else 30
        log("settling %d s, then a %d s window" % (settle, args.window))
        time.sleep(settle)
        revive(q, row, "before the window")
        row.update(window(sb, q, fake, args.window, args.perf))
        revive(q, row, "in the window")
        row["scrape"] = scrape_stall(sb, q, row["leader"])
        row["status_cluster_s"], row["status_cluster_b"] = timed_ctl(
            q, ["status", "--json", "--cluster", REAL if args.failover else "c00000"], 5)
        row["status_full_s"], row["status_full_b"] = timed_ctl(q, ["status", "--json"], 3)
        row["snap"] = {m.id: snapshot_info(m) for m in q.monitors}
        # One real cluster after another: each failover on its own, the others steady.
        row["failovers"] = []
        for k, pg1 in enumerate(primaries):
            unplanned = main_changed(q, k)
            if unplanned:
                row.setdefault("unplanned", []).append(unplanned)
                log("N=%d: real cluster %s did not stay as it was: %s" % (
                    n_nodes, real_names(k)[0], unplanned))
                continue
            try:
                row["failovers"].append(failover(sb, q, pg1, k))
            except t.TestFailure as exc:
                row.setdefault("failover_error", []).append(str(exc))
                continue
            # Each failover on its own: the next waits for this one's old primary to rejoin.
            waited = rejoined(q, k)
            log("N=%d: %s %s" % (n_nodes, real_names(k)[0],
                                 "whole again %.1f s after its failover" % waited
                                 if waited is not None else
                                 "not whole again within 120 s: the next failover overlaps "
                                 "its rejoin"))
        if row["failovers"]:
            row["failover_s"] = statistics.median(f[0] for f in row["failovers"])
            row["promoted_s"] = statistics.median(f[1] for f in row["failovers"])
        return row
    except Exception as exc:  # noqa: BLE001 - one size failing does not lose the others
        row["refused"] = "failed: %s" % exc
        try:
            for m in sb.quorums[0].monitors:
                log("monitor %d log tail:\n%s" % (m.id, "\n".join(m.log_text().splitlines()[-8:])))
        except (AttributeError, IndexError):
            pass
        return row
    finally:
        for p in fake:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        row["fake_log"] = []
        for k in range(len(fake)):
            try:
                row["fake_log"].append(open(sb.path("fakepg%d.log" % k)).read().strip())
            except OSError:
                pass
        sb.cleanup()


# ---- output ----

def fmt(v, spec):
    return "-" if v is None or v != v else spec % v


def print_row_detail(r):
    """What a row's numbers were made of, as it finishes."""
    if "refused" in r:
        log("N=%d: %s" % (r["n"], r["refused"]))
        return
    lid = r["leader"]
    log("N=%d: leader %d%s; CPU %s; RSS kB %s (base %s); entries/s %.1f; load %.2f -> %.2f" % (
        r["n"], lid, " (leadership changed in the window)" if r["leader_changed"] else "",
        " ".join("m%d %.1f%%" % kv for kv in sorted(r["cpu"].items())),
        " ".join("m%d %d" % kv for kv in sorted(r["rss"].items())),
        " ".join("m%d %d" % kv for kv in sorted(r["base_rss"].items())),
        r["entries_s"], r["load"][0], r["load"][1]))
    log("N=%d: the machine over the window: %.0f %% busy, %.1f %% stolen by its host" % (
        r["n"], r.get("busy_pct", float("nan")), r.get("steal_pct", float("nan"))))
    for mid, (b, ms, count, size) in sorted(r["snap"].items()):
        log("N=%d: monitor %d: %d snapshots, the latest %d bytes encoded (median %.1f ms), "
            "%d bytes on disk" % (r["n"], mid, count, b, ms, size))
    if r.get("perf"):
        log("N=%d: perf, the leader's top symbols:\n%s" % (r["n"], r["perf"]))
    for first, promoted, now in r.get("failovers", []):
        log("N=%d: failover: first write %.3f s, promoted %.3f s after the kill; primary now "
            "%s" % (r["n"], first, promoted, now))
    for unplanned in r.get("unplanned", []):
        log("N=%d: no failover measured: %s" % (r["n"], unplanned))
    log("N=%d: status --cluster %.0f ms; full status %.2f s, %d bytes; fakepg %s%% CPU" % (
        r["n"], r["status_cluster_s"] * 1000, r["status_full_s"], r["status_full_b"],
        fmt(r.get("fake_cpu"), "%.1f")))
    log("N=%d: the leader's proposals committed in %s ms on average over the window; the "
        "worst loop lateness of a monitor %s ms; %s packets dropped a second; %s kept probe "
        "connections lost a second (the leader)" % (
            r["n"], fmt(r.get("commit_ms"), "%.1f"), fmt(r.get("loop_lag_ms"), "%.0f"),
            fmt(r.get("drops_s"), "%.0f"), fmt(r.get("lost_s"), "%.1f")))
    sc = r.get("scrape")
    if sc:
        log("N=%d: the leader's /metrics %.2f MB in %.2f s, /cluster %.2f MB in %.2f s; its "
            "/health answered within %.0f ms while they were served (%.0f ms before)" % (
                r["n"], sc["metrics"][1] / 1e6, sc["metrics"][0], sc["cluster"][1] / 1e6,
                sc["cluster"][0], sc["health_busy_ms"], sc["health_idle_ms"]))
    for d in r.get("deaths", []):
        log("N=%d: %s" % (r["n"], d))
    for k, text in enumerate(r.get("fake_log", [])):
        lines = text.splitlines()
        log("N=%d: fakepg shard %d of %d: %s" % (r["n"], k, len(r["fake_log"]),
                                                  lines[-1] if lines else "(no output)"))
        for line in lines[1:-1][:5]:
            log("N=%d:   %s" % (r["n"], line))
    for error in r.get("failover_error", []):
        log("N=%d: failover: %s" % (r["n"], error))


def print_table(rows):
    print("\nScale: 3 monitors at default settings (TLS on), fake nodes in clusters of %d, "
          "%d real clusters (a primary with an agent, a standby) among them" % (
              ARGS.per_cluster, ARGS.failover))
    head = ("%7s %8s %7s %8s | %6s %6s | %7s %7s | %6s %6s | %8s | %8s %8s | %8s %8s %7s | "
            "%7s | %6s | %7s %6s %6s | %8s %8s") % (
        "nodes", "reg s", "reg/s", "healthy", "CPU L", "CPU F", "RSS L", "RSS F", "KB/n L",
        "KB/n F", "entry/s", "snap MB", "snap ms", "st -c ms", "st s", "st MB", "http ms",
        "fake %", "drop/s", "lost/s", "commit", "failover", "promoted")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "refused" in r:
            print("%7d  %s" % (r["n"], r["refused"]))
            continue
        lid = r["leader"]
        fol = [mid for mid in r["cpu"] if mid != lid]
        kb = lambda mid: ((r["rss"][mid] - r["base_rss"][mid]) / r["n"]) if r["n"] else None
        snap = r["snap"][lid]
        print(("%7d %8s %7s %8s | %6.1f %6.1f | %7.1f %7.1f | %6s %6s | %8.1f | %8s %8s | "
               "%8s %8s %7s | %7s | %6s | %7s %6s %6s | %8s %8s") % (
            r["n"], fmt(r.get("reg_s"), "%.1f"),
            fmt(r["n"] / r["reg_s"] if r.get("reg_s") else None, "%.0f"),
            fmt(r.get("healthy_s"), "%.0f"),
            r["cpu"][lid], max(r["cpu"][m] for m in fol),
            r["rss"][lid] / 1024.0, max(r["rss"][m] for m in fol) / 1024.0,
            fmt(kb(lid), "%.1f"), fmt(max(kb(m) for m in fol) if r["n"] else None, "%.1f"),
            r["entries_s"], fmt(snap[0] / 1e6 if snap[2] else None, "%.2f"),
            fmt(snap[1], "%.1f"),
            fmt(r["status_cluster_s"] * 1000, "%.0f"), fmt(r["status_full_s"], "%.2f"),
            fmt(r["status_full_b"] / 1e6, "%.2f"),
            fmt(r["scrape"]["health_busy_ms"] if r.get("scrape") else None, "%.0f"),
            fmt(r.get("fake_cpu"), "%.1f"),
            fmt(r.get("drops_s"), "%.0f"), fmt(r.get("lost_s"), "%.1f"),
            fmt(r.get("commit_ms"), "%.1f"), fmt(r.get("failover_s"), "%.3f"),
            fmt(r.get("promoted_s"), "%.3f")))
        for d in r.get("deaths", []):
            print("%7s  %s" % ("", d))
        for unplanned in r.get("unplanned", []):
            print("%7s  no failover measured: %s" % ("", unplanned[:400]))
    print("CPU: %% of one core over the window (L the leader, F the busier follower); RSS MB; "
          "KB/n: RSS beyond the monitor's before the fake nodes, per node; entry/s: Raft "
          "entries committed; snap: the leader's latest snapshot as encoded (MB) and its encode "
          "time; st -c: `status --json --cluster %s` (median of 5, pgquorumctl end to end); st: "
          "the full `status --json` (median of 3) and its size; http: the slowest /health of the "
          "leader while its /metrics and /cluster were served; fake: fakepg's CPU; drop/s: "
          "packets the kernel dropped a second (softnet backlog: on one loopback, every "
          "retransmission's cause); lost/s: kept probe connections the leader lost a second; "
          "commit: the leader's proposals, raft_apply to applied (ms, mean over the window); "
          "failover: "
          "kill -9 of a real primary's postmaster to the first write through the URI, "
          "promoted: to the promotion committed (seconds; the median of %d real clusters, "
          "one after another)." % (REAL if ARGS.failover else "c00000", ARGS.failover))


def core_bench(args):
    exe = os.path.join(t.BUILDDIR, "tests", "bench", "bench_core")
    cmd = [exe, "--sizes", args.core_sizes, "--per-cluster", str(args.per_cluster)]
    if SHORT:
        cmd.append("--quick")
    print("\n" + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    print(p.stdout, flush=True)


ARGS = None


class Stopped(BaseException):
    """SIGTERM or SIGINT: stop, cleaning up the sandbox (a background job ignores SIGINT
    unless it is handled)."""


def on_signal(sig, frame):
    # Once: a second signal must not interrupt the cleanup the first one began.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stopped("signal %d" % sig)


def main():
    global t, ARGS
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--builddir")
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SCALE_SIZES") or
                    ("200" if SHORT else "1000,5000,10000"))
    ap.add_argument("--per-cluster", type=int, default=env_int("BENCH_SCALE_PER_CLUSTER", 2))
    ap.add_argument("--window", type=int,
                    default=env_int("BENCH_SCALE_WINDOW", 20 if SHORT else 180))
    ap.add_argument("--connections", type=int, default=env_int("BENCH_SCALE_CONNECTIONS", 8))
    ap.add_argument("--failover", type=int, default=env_int("BENCH_SCALE_FAILOVER", 3))
    ap.add_argument("--perf", type=int, default=env_int("BENCH_SCALE_PERF", 0))
    ap.add_argument("--core-sizes", default=os.environ.get("BENCH_SCALE_CORE_SIZES") or
                    ("1000,10000" if SHORT else "1000,10000,100000"))
    ap.add_argument("--only", choices=("scale", "core"), default=os.environ.get(
        "BENCH_SCALE_ONLY") or None)
    ARGS = args = ap.parse_args()
    if args.builddir:
        os.environ["PGQ_BUILDDIR"] = args.builddir
    import pgqtest
    t = pgqtest
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    print("pgquorum scale benchmark: sizes %s, clusters of %d, window %d s%s" % (
        sizes, args.per_cluster, args.window, ", short" if SHORT else ""), flush=True)
    rows = []
    if args.only != "core":
        for n in ([0] if args.failover else []) + sizes:
            log("==== %d fake nodes ====" % n)
            rows.append(run_size(n, args))
            print_row_detail(rows[-1])
    if args.only != "scale":
        core_bench(args)
    if rows:
        print_table(rows)


if __name__ == "__main__":
    main()
