#!/usr/bin/env python3
"""The HTTP endpoints of monitors and node agents, with real PostgreSQL 15, real monitors and
agents, and the tools users put in front and behind: HAProxy routing on /primary, Prometheus
scraping /metrics (checked with promtool)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

agent_of = t.agent_of


def get(address, path):
    return t.http_get(address, path)


def code(address, path):
    return get(address, path)[0]


def agents_by_name(ags):
    return {name: ag.http_address for name, ag in ags.items()}


def test_health_endpoints(sb):
    """Agents answer /primary, /replica, /read-only and /health for their own node and monitors
    for every node, with Patroni's codes (200 or 503, 404 for an unknown node or endpoint, 400
    for a bad query); /cluster is status --json; after the primary is killed, /primary moves to
    the promoted standby on its agent and on every monitor."""
    nodes, q, ags = t.agent_setup(sb)
    http = agents_by_name(ags)
    mon = q.monitors[1].http_address
    # The agents: each for its own node.
    t.wait_until(lambda: code(http["pg1"], "/primary") == 200, 20, "pg1's agent says primary")
    for name in ("pg2", "pg3"):
        t.wait_until(lambda: code(http[name], "/replica") == 200, 20,
                     "%s's agent says streaming replica" % name)
        t.check(code(http[name], "/primary") == 503, "%s's agent says primary" % name)
    st, body = get(http["pg1"], "/primary")
    doc = json.loads(body)
    t.check(doc["node"] == "pg1" and doc["ok"] and doc["primary"], "pg1 /primary body: %s" % doc)
    t.check(code(http["pg1"], "/replica") == 503, "the primary's agent says replica")
    t.check(code(http["pg1"], "/read-write") == 200, "/read-write is not /primary")
    for name in ("pg1", "pg2", "pg3"):
        t.check(code(http[name], "/read-only") == 200, "%s /read-only" % name)
        t.check(code(http[name], "/health") == 200, "%s /health" % name)
    st, body = get(http["pg2"], "/replica?lag=1GB")
    t.check(st == 200 and "lag_bytes" in json.loads(body), "pg2 /replica?lag=1GB: %d %s" %
            (st, body))
    t.check(code(http["pg2"], "/replica?lag=lots") == 400, "a bad lag is not refused")
    t.check(code(http["pg2"], "/replica?lagg=1") == 400, "an unknown parameter is not refused")
    t.check(code(http["pg2"], "/nosuch") == 404, "an unknown endpoint is not 404")
    t.check(code(http["pg2"], "/primary?node=pg1") == 404, "an agent answered for another node")
    # A monitor: for every node.
    t.wait_until(lambda: code(mon, "/node/pg1/primary") == 200, 20, "a monitor says pg1 primary")
    t.check(code(mon, "/primary?node=pg1") == 200, "?node= is not /node/NAME/")
    t.wait_until(lambda: code(mon, "/node/pg2/replica") == 200, 20, "a monitor says pg2 replica")
    t.check(code(mon, "/node/pg2/primary") == 503, "a monitor says pg2 primary")
    t.check(code(mon, "/node/nosuch/primary") == 404, "an unknown node is not 404")
    t.check(code(mon, "/primary") == 400, "a monitor answered /primary for no node")
    t.check(code(mon, "/health") == 200, "a monitor with a leader is not healthy")
    st, body = get(mon, "/cluster")
    doc = json.loads(body)
    status = q.status()
    t.check(st == 200 and [c["name"] for c in doc["clusters"]] == ["main"] and
            sorted(n["name"] for n in doc["nodes"]) == sorted(n["name"] for n in status["nodes"]),
            "/cluster is not the status document: %s" % body[:300])
    # The primary dies: /primary follows the promotion.
    nodes[0].kill9()
    c = t.wait_failover(q, 2, timeout=60)
    new = c["primary"]
    t.wait_until(lambda: code(http[new], "/primary") == 200, 20, "%s's agent says primary" % new)
    t.check(code(http["pg1"], "/primary") == 503, "the killed primary's agent says primary")
    t.wait_until(lambda: code(mon, "/node/%s/primary" % new) == 200, 20,
                 "a monitor says %s primary" % new)
    t.check(code(mon, "/node/pg1/primary") == 503, "a monitor says the killed pg1 is primary")
    for m in q.monitors:
        t.check(code(m.http_address, "/node/pg1/health") == 503,
                "monitor %d says the killed pg1 is healthy" % m.id)


def raw(address, data, read=True, timeout=5):
    """Send raw bytes; the reply's bytes until the server closes (or timeout)."""
    s = t.connect(address, timeout=timeout)
    s.sendall(data)
    out = b""
    if read:
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    s.close()
    return out


def test_hostile_clients(sb):
    """Bad HTTP gets a clear status and a closed connection (garbage 400, oversized headers 431,
    a body 413, another method 405), pipelined requests are answered in order, a client that
    trickles its request is closed after idle_timeout, idle connections make room for new ones
    over max_clients, connections over max_clients while every slot is busy get 503 (at most
    16 at a time, a flood beyond is closed unanswered), and the monitor answers others all
    along."""
    q = t.Quorum(sb, 3, {"http.idle_timeout": "1s", "http.max_clients": "8"}).start()
    mon = q.monitors[0].http_address
    t.check(raw(mon, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").startswith(b"HTTP/1.1 400"),
            "garbage is not a 400")
    t.check(raw(mon, b"GET /health HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
            .startswith(b"HTTP/1.1 431"), "oversized headers are not a 431")
    t.check(raw(mon, b"POST /health HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
            .startswith(b"HTTP/1.1 413"), "a body is not a 413")
    t.check(raw(mon, b"DELETE /health HTTP/1.1\r\nConnection: close\r\n\r\n")
            .startswith(b"HTTP/1.1 405"), "DELETE is not a 405")
    two = raw(mon, b"GET /health HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close"
                   b"\r\n\r\n")
    t.check(two.count(b"HTTP/1.1 200") == 2 and b"pgquorum_raft_term" in two,
            "two pipelined requests were not both answered: %r" % two[:200])
    head = raw(mon, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    t.check(head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n"),
            "HEAD returned a body: %r" % head[-100:])
    # A trickling client is closed within idle_timeout of its first byte.
    s = t.connect(mon, timeout=None)
    t0 = time.monotonic()
    closed = None
    for ch in b"GET /health HTTP/1.1\r\nX-Slow: " + b"x" * 100:
        try:
            s.sendall(bytes([ch]))
        except OSError:
            closed = time.monotonic() - t0
            break
        s.settimeout(0.05)
        try:
            if s.recv(1) == b"":
                closed = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except OSError:
            closed = time.monotonic() - t0
            break
    s.close()
    t.check(closed is not None and closed < 3, "a trickling client was not closed: %s" % closed)
    # Idle keep-alive connections cannot lock the health checks out: over max_clients, the
    # one waiting longest for its next request makes room.
    # The kernel hands connections over in order: the ninth is accepted after the eight.
    idle = [t.connect(mon, timeout=None) for _ in range(8)]
    t.check(code(mon, "/health") == 200, "idle connections locked out a health check")

    def closed_by_server(s):
        s.settimeout(0.05)
        try:
            return s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True
    evicted = t.wait_until(lambda: sum(closed_by_server(s) for s in idle) or None, 5,
                           "an idle connection closed to make room")
    t.check(evicted == 1, "%d idle connections closed for one newcomer" % evicted)
    for s in idle:
        s.close()
    # Over max_clients with every slot mid-request: 503; a flood of more gets at most 16
    # replies at a time, the rest closed unanswered; then service resumes.
    busy = [t.connect(mon, timeout=None) for _ in range(8)]
    for s in busy:
        s.sendall(b"GET /health HTTP/1.1\r\n")
    # What the server has read is not visible from outside: give its loop a moment to read
    # the eight partial requests (else the ninth finds one not yet busy and takes its slot).
    time.sleep(0.2)
    t.check(raw(mon, b"GET /health HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 503"),
            "the ninth client was not refused while every slot was busy")
    flood = []
    for _ in range(60):
        try:
            flood.append(t.connect(mon, timeout=5))
        except OSError:
            pass  # closed at once (under TLS: before its handshake ended)
    answered = 0
    for s in flood:
        s.settimeout(2)
        try:
            if s.recv(64).startswith(b"HTTP/1.1 503"):
                answered += 1
        except OSError:
            pass
        s.close()
    t.check(answered <= 16, "%d refusals written at once (at most 16)" % answered)
    t.log("a flood of 60 connections over max_clients: %d refused with a 503" % answered)
    for s in busy:
        s.close()
    t.wait_until(lambda: code(mon, "/health") == 200, 5, "service once the busy ones are gone")
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


def promtool_check(text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                       capture_output=True)
    t.check(r.returncode == 0, "promtool check metrics of %s: %s%s" % (what, r.stdout, r.stderr))


def sample(text, name, **labels):
    """The value of the sample of `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all('%s="%s"' % kv in line for kv in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics(sb):
    """Every monitor's and agent's /metrics passes promtool check metrics and holds the
    families docs/metrics.md names: per node up, role, lag, WAL position, cache and index hit
    ratio, connections and host metrics, per monitor Raft term and role, RSS; and a failover
    counts in pgquorum_failovers_total and the phase histogram."""
    nodes, q, ags = t.agent_setup(sb)
    http = agents_by_name(ags)
    mon = q.monitors[0].http_address

    def ready():
        text = get(mon, "/metrics")[1]
        return (sample(text, "pgquorum_node_cache_hit_ratio", node="pg1") is not None and
                sample(text, "pgquorum_host_cpu_busy_ratio", node="pg1") is not None and
                sample(text, "pgquorum_node_replication_lag_bytes", node="pg2") is not None)
    t.wait_until(ready, 60, "a monitor's metrics with a probe and an agent report")
    for m in q.monitors:
        st, text = get(m.http_address, "/metrics")
        t.check(st == 200, "monitor %d /metrics: %d" % (m.id, st))
        promtool_check(text, "monitor %d" % m.id)
        for name in ("pgquorum_raft_term", "pgquorum_raft_commit_index",
                     "pgquorum_raft_applied_index", "process_resident_memory_bytes",
                     "pgquorum_reports_committed_total", "pgquorum_state_commands_total"):
            t.check(sample(text, name) is not None, "monitor %d has no %s" % (m.id, name))
        t.check(sample(text, "process_resident_memory_bytes") > 1e6, "RSS under 1 MB")
    text = get(mon, "/metrics")[1]
    t.check(sample(text, "pgquorum_node_primary", node="pg1") == 1, "pg1 not primary in metrics")
    t.check(sample(text, "pgquorum_node_up", node="pg2") == 1, "pg2 not up in metrics")
    t.check(sample(text, "pgquorum_node_info", node="pg1", role="primary") == 1,
            "no pgquorum_node_info with role primary")
    ratio = sample(text, "pgquorum_node_cache_hit_ratio", node="pg1")
    t.check(0 < ratio <= 1, "cache hit ratio %s" % ratio)
    t.check(sample(text, "pgquorum_node_connections", node="pg1") >= 1, "no connections")
    t.check(sample(text, "pgquorum_node_wal_position_bytes", node="pg1") > 0, "no WAL position")
    leaders = sum(sample(get(m.http_address, "/metrics")[1], "pgquorum_raft_leader")
                  for m in q.monitors)
    t.check(leaders == 1, "%s monitors say they lead" % leaders)
    for name, address in http.items():
        st, text = get(address, "/metrics")
        t.check(st == 200, "agent %s /metrics: %d" % (name, st))
        promtool_check(text, "agent %s" % name)
        t.check(sample(text, "pgquorum_host_load1", node=name) is not None,
                "agent %s has no host load" % name)
        t.check(sample(text, "pgquorum_agent_postgres_up", node=name) == 1,
                "agent %s: PostgreSQL not up" % name)
    t.check(sample(get(http["pg1"], "/metrics")[1], "pgquorum_agent_lease_held") == 1,
            "the primary's agent holds no lease in its metrics")
    nodes[0].kill9()
    t.wait_failover(q, 2, timeout=60)

    def counted():
        text = get(mon, "/metrics")[1]
        return (sample(text, "pgquorum_failovers_total", cluster="main") == 1 and
                sample(text, "pgquorum_failover_phase_seconds_count", phase="total") == 1)
    t.wait_until(counted, 20, "the failover counted in a monitor's metrics")
    text = get(mon, "/metrics")[1]
    total = sample(text, "pgquorum_failover_phase_seconds_sum", phase="total")
    t.check(0 < total < 60, "failover total %s s" % total)
    promtool_check(text, "monitor after a failover")


HAPROXY_CHECK = "inter 500ms fall 2 rise 1"


def start_haproxy(sb, nodes, ags, q, via_monitor=False):
    """HAProxy in TCP mode in front of the nodes, each checked with GET /primary on its agent
    (or, via_monitor, GET /node/NAME/primary on monitor 1): the port clients write to."""
    port = t.free_ports(1)[0]
    cfg = sb.path("haproxy.cfg")
    sock = sb.path("haproxy.sock")
    lines = ["global", "    maxconn 200", "    stats socket %s mode 600 level admin" % sock,
             "defaults", "    mode tcp", "    timeout connect 1s",
             "    timeout client 60s", "    timeout server 60s", "    timeout check 1s",
             # A connection accepted while the old primary is still held up is retried
             # (after a 1 s turn-around each): on another server, once one is up.
             "    retries 3", "    option redispatch 1",
             "listen pg", "    bind 127.0.0.1:%d" % port]
    if via_monitor:
        mon = q.monitors[0].http_address
        lines += ["    option httpchk",
                  "    http-check send meth GET uri-lf /node/%[srv_name]/primary",
                  "    http-check expect status 200"]
    else:
        lines += ["    option httpchk GET /primary", "    http-check expect status 200"]
    check = HAPROXY_CHECK
    if t.TLS:
        # The checks speak TLS to the agents' (or monitor's) HTTP port, verifying its
        # certificate against the cluster's CA; the PostgreSQL traffic stays as it is.
        check += " check-ssl verify required ca-file %s" % sb.certs().cert
    lines.append("    default-server %s on-marked-down shutdown-sessions" % check)
    for n in nodes:
        check_at = mon if via_monitor else ags[n.name].http_address
        host, cport = check_at.rsplit(":", 1)
        lines.append("    server %s 127.0.0.1:%d check addr %s port %s" %
                     (n.name, n.port, host, cport))
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(sb.path("haproxy.log"), "a")
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sb.procs.append(proc)
    # HAProxy holds every server up until its checks say otherwise (fall x inter after a
    # start or reload): clients begin once it has judged them all.
    t.wait_until(lambda: haproxy_up(sock) == ["pg1"], 20, "HAProxy: only pg1 up")
    return port, sock


def haproxy_up(sock):
    """The servers HAProxy holds up, from its stats socket."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sock)
        s.sendall(b"show stat\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        return None
    finally:
        s.close()
    up = []
    for line in out.decode().splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0] == "pg" and f[1] not in ("FRONTEND", "BACKEND") and \
                f[17].startswith("UP"):
            up.append(f[1])
    return sorted(up)


class ProxyWriter(threading.Thread):
    """Writes row i through the proxy on a new session each time, recording which server
    (its port) acknowledged it and every error a server returned."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.acked = []   # (i, time): writes begun after `time` of the previous one
        self.errors = []  # server errors (not connection failures)
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            begun = time.monotonic()
            try:
                s = t.PgSession(self.port, timeout=5)
                try:
                    s.execute("INSERT INTO w VALUES (%d, current_setting('port')::int)" % i)
                    self.acked.append((i, begun, time.monotonic()))
                finally:
                    s.close()
            except t.PgError as exc:
                self.errors.append("%s (at %.3f)" % (exc, time.monotonic()))
            except OSError:
                time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.join(timeout=30)


def switch_through_haproxy(sb, via_monitor):
    nodes, q, ags = t.agent_setup(sb)
    nodes[0].sql("CREATE TABLE w (i int PRIMARY KEY, port int)")
    port, sock = start_haproxy(sb, nodes, ags, q, via_monitor)
    w = ProxyWriter(port)
    w.start()
    t.wait_until(lambda: len(w.acked) > 20, 30, "writes through HAProxy")
    nodes[0].kill9()
    t0 = time.monotonic()
    c = t.wait_failover(q, 2, timeout=60)
    new = next(n for n in nodes if n.name == c["primary"])
    # A write begun before the kill may still be acknowledged by the old primary just after
    # it: what counts is writes begun after the kill.
    t.wait_until(lambda: any(b > t0 for _, b, _ in w.acked), 30, "a write after the kill")
    t.wait_until(lambda: haproxy_up(sock) == [new.name], 20, "HAProxy: only %s up" % new.name)
    t.wait_until(lambda: sum(b > t0 for _, b, _ in w.acked) >= 20, 30,
                 "20 writes through HAProxy after the kill")
    w.finish()
    took = min(ts for _, b, ts in w.acked if b > t0) - t0
    t.log("HAProxy (%s, %s): first write %.2f s after the primary was killed" %
          ("checks on monitor 1" if via_monitor else "checks on the agents", HAPROXY_CHECK, took))
    bad = [e for e in w.errors if "read-only" in e or "recovery" in e]
    t.check(not bad, "writes reached a standby through HAProxy (killed at %.3f): %s" %
            (t0, bad[:3]))
    rows = dict((int(i), int(p)) for i, p in
                (line.split("|") for line in new.sql("SELECT i, port FROM w").split()))
    after = [i for i, b, _ in w.acked if b > t0]
    t.check(after and all(rows.get(i) == new.port for i in after),
            "a write acknowledged after the kill is not on the new primary %s" % new.name)
    return took


def test_haproxy_agents(sb):
    """HAProxy in front of the nodes with option httpchk GET /primary on each node's agent: a
    client writing through it writes again soon after the primary is killed, every write after
    the kill lands on the promoted standby, and none ever reaches a standby."""
    switch_through_haproxy(sb, via_monitor=False)


def test_haproxy_monitor(sb):
    """HAProxy checking each node on a monitor (GET /node/NAME/primary, the server's name in the
    URI) routes the same way: writes resume on the promoted standby and never reach a
    standby."""
    switch_through_haproxy(sb, via_monitor=True)


def prom_query(address, query):
    import urllib.parse
    import urllib.request
    url = "http://%s/api/v1/query?query=%s" % (address, urllib.parse.quote(query))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
    except OSError:
        return None
    res = doc.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if res else None


def test_prometheus(sb):
    """Debian's Prometheus scrapes every monitor and agent; queries through its HTTP API return
    a real node's cache hit ratio (from the monitors) and its host CPU and load (from its
    agent), and every target is up."""
    nodes, q, ags = t.agent_setup(sb)
    port = t.free_ports(1)[0]
    cfg = sb.path("prometheus.yml")
    with open(cfg, "w") as f:
        tls = ("    scheme: https\n    tls_config:\n      ca_file: %s\n" % sb.certs().cert
               if t.TLS else "")
        f.write(("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                 "scrape_configs:\n"
                 "  - job_name: pgquorum-monitors\n" + tls + "    static_configs:\n"
                 "      - targets: [%s]\n"
                 "  - job_name: pgquorum-agents\n" + tls + "    static_configs:\n"
                 "      - targets: [%s]\n") %
                (", ".join('"%s"' % m.http_address for m in q.monitors),
                 ", ".join('"%s"' % a.http_address for a in ags.values())))
    r = subprocess.run(["promtool", "check", "config", cfg], capture_output=True, text=True)
    t.check(r.returncode == 0, "promtool check config: %s%s" % (r.stdout, r.stderr))
    log = open(sb.path("prometheus.log"), "a")
    proc = subprocess.Popen(["prometheus", "--config.file", cfg,
                             "--storage.tsdb.path", sb.path("prometheus-data"),
                             "--web.listen-address", "127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    sb.procs.append(proc)
    prom = "127.0.0.1:%d" % port
    t.wait_until(lambda: prom_query(prom, 'count(up == 1)') == 6, 60,
                 "Prometheus scraping 3 monitors and 3 agents")
    cache = t.wait_until(lambda: prom_query(
        prom, 'max(pgquorum_node_cache_hit_ratio{node="pg1",job="pgquorum-monitors"})'),
        30, "pg1's cache hit ratio in Prometheus")
    t.check(0 < cache <= 1, "cache hit ratio %s" % cache)
    load = t.wait_until(lambda: prom_query(
        prom, 'pgquorum_host_load1{node="pg1",job="pgquorum-agents"}') is not None, 30,
        "pg1's host load from its agent in Prometheus")
    t.check(load, "no host load")
    busy = prom_query(prom, 'pgquorum_host_cpu_busy_ratio{node="pg1",job="pgquorum-agents"}')
    t.check(busy is not None and 0 <= busy <= 1, "host CPU busy ratio %s" % busy)
    leaders = prom_query(prom, "sum(pgquorum_raft_leader)")
    t.check(leaders == 1, "%s leaders in Prometheus" % leaders)


if __name__ == "__main__":
    t.main([test_health_endpoints, test_hostile_clients, test_metrics, test_haproxy_agents,
            test_haproxy_monitor, test_prometheus])
