#!/usr/bin/env python3
"""The log drain against the collector people run: Debian's rsyslog with rsyslog-gnutls,
started by each test as an unprivileged collector with its own configuration (imtcp with the
gtls stream driver, TLS only) and certificates the test makes; received messages are written
one JSON object per line with the RFC 5424 fields as rsyslog parsed them."""

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402
import pgqtls  # noqa: E402

RSYSLOGD = "/usr/sbin/rsyslogd"

# Every field rsyslog parsed from the message, as JSON.
TEMPLATE = """template(name="fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
"""


class Collector:
    """rsyslogd -n -f CONF -i PIDFILE in the sandbox, listening on one loopback port with TLS
    (the gtls driver, StreamDriver.Mode 1; AuthMode anon: it does not ask the daemon for a
    certificate, x509/certvalid: the daemon must show one of the CA) or plain TCP. The daemon
    verifies the collector's certificate either way."""

    def __init__(self, sb, port, tls_files=None, auth="anon"):
        self.sb, self.port = sb, port
        self.dir = sb.path("rsyslog-%d" % port)
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        self.pidfile = os.path.join(self.dir, "rsyslogd.pid")
        self.out = os.path.join(self.dir, "received.jsonl")
        self.logfile = os.path.join(self.dir, "rsyslogd.log")
        self.proc = None
        with open(self.conf, "w") as f:
            if tls_files:
                ca, (cert, key) = tls_files
                f.write('global(workDirectory="%s/work" DefaultNetstreamDriver="gtls"\n'
                        '       DefaultNetstreamDriverCAFile="%s"\n'
                        '       DefaultNetstreamDriverCertFile="%s"\n'
                        '       DefaultNetstreamDriverKeyFile="%s")\n'
                        % (self.dir, ca.cert, cert, key))
                f.write('module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"\n'
                        '       StreamDriver.AuthMode="%s")\n' % auth)
                # gtls in anon mode offers TLS 1.2 only unless told NORMAL (see
                # docs/operations.md): the daemon speaks TLS 1.3.
                prio = ' gnutlsPriorityString="NORMAL"'
            else:
                f.write('global(workDirectory="%s/work")\nmodule(load="imtcp")\n' % self.dir)
                prio = ""
            f.write(TEMPLATE)
            f.write('ruleset(name="drain") { action(type="omfile" file="%s" template="fields") }\n'
                    % self.out)
            f.write('input(type="imtcp" port="%d" ruleset="drain"%s)\n' % (port, prio))

    def start(self):
        out = open(self.logfile, "a")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.sb.procs.append(self.proc)
        t.wait_until(self.listening, 10, "rsyslogd listening on %d" % self.port)
        return self

    def listening(self):
        check_alive = self.proc.poll() is None
        t.check(check_alive, "rsyslogd exited: %s" % self.log_text())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)

    def log_text(self):
        with open(self.logfile) as f:
            return f.read()

    def messages(self):
        try:
            with open(self.out) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def wait_msg(self, text, timeout=30, since=0):
        """The first message whose MSG contains text, of those from the since-th on."""
        def found():
            return next((m for m in self.messages()[since:] if text in m["msg"]), None)
        return t.wait_until(found, timeout, "the collector to receive \"%s\"" % text)


def tls_collector(sb, port):
    d = sb.path("tls")
    ca = pgqtls.make_ca(d, "logs-ca")
    cert = pgqtls.make_cert(ca, d, "collector", cn="collector")
    return Collector(sb, port, (ca, cert)), ca


def drain_quorum(sb, port, ca=None, scheme="syslog+tls", extra=None, host="127.0.0.1"):
    s = {"monitor.log_drain": "%s://%s:%d" % (scheme, host, port)}
    if ca is not None:
        s["monitor.log_drain_ca"] = ca.cert
    s.update(extra or {})
    return t.Quorum(sb, n=1, settings=s)


def metric(m, name):
    st, body = t.http_get(m.http_address, "/metrics")
    t.check(st == 200, "/metrics answered %d" % st)
    found = re.search(r"^%s (\S+)$" % name, body, re.M)
    t.check(found is not None, "%s not in /metrics" % name)
    return float(found.group(1))


def drain_lines(m, pattern):
    return [line for line in m.log_text().splitlines() if re.search(pattern, line)]


def test_lines_arrive_over_tls(sb):
    """A monitor's log lines reach rsyslog over TLS as RFC 5424 messages: PRI from facility
    daemon and the level, VERSION 1, an RFC 3339 TIMESTAMP with microseconds, HOSTNAME,
    APP-NAME pgquorumd, PROCID its pid, MSGID monitor, the pgquorum@32473 SD element; the drain
    is in /metrics; its last line before a clean stop arrives too."""
    port = t.free_ports(1)[0]
    coll, ca = tls_collector(sb, port)
    coll.start()
    q = drain_quorum(sb, port, ca).start()
    m = q.monitor(1)
    started = coll.wait_msg("monitor 1 started")
    t.check(started["pri"] == "30" and started["facility"] == "3" and started["severity"] == "6",
            "PRI of an INFO line with facility daemon: %s" % started)
    t.check(started["version"] == "1", "VERSION: %s" % started)
    t.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", started["timestamp"]),
            "TIMESTAMP is not RFC 3339 UTC with microseconds: %s" % started["timestamp"])
    t.check(started["hostname"] == socket.gethostname(), "HOSTNAME: %s" % started)
    t.check(started["app"] == "pgquorumd" and started["procid"] == str(m.proc.pid),
            "APP-NAME and PROCID: %s (pid %d)" % (started, m.proc.pid))
    t.check(started["msgid"] == "monitor", "MSGID: %s" % started)
    t.check(started["sd"] == '[pgquorum@32473 role="monitor" id="1"]', "SD: %s" % started)
    t.check(started["msg"].startswith("monitor 1 started: raft 127.0.0.1:"),
            "MSG: %s" % started["msg"])
    local = [line for line in m.log_text().splitlines() if "monitor 1 started" in line][0]
    t.check(local.endswith(started["msg"]), "the local line %r differs from the MSG %r" %
            (local, started["msg"]))
    warn = coll.wait_msg("1 voter tolerates no failure")
    t.check(warn["pri"] == "28", "PRI of a WARN line: %s" % warn)
    t.wait_until(lambda: metric(m, "pgquorum_log_drain_connected") == 1, 10,
                 "pgquorum_log_drain_connected 1")
    t.check(metric(m, "pgquorum_log_drain_dropped_total") == 0, "lines dropped")
    t.check(metric(m, "pgquorum_log_drain_queued") == 0, "lines still queued")
    # What the drain says about itself stays local.
    t.check(drain_lines(m, "log drain: connected to 127.0.0.1:%d" % port),
            "no local line says the drain connected")
    t.check(not [x for x in coll.messages() if x["msg"].startswith("log drain:")],
            "the drain sent lines about itself: %s" % coll.messages())
    code = m.stop()
    t.check(code == 0, "the monitor exited %s" % code)
    coll.wait_msg("monitor 1 stopped", timeout=5)
    t.check(not drain_lines(m, "log drain: 127.0.0.1:%d: |lines not sent" % port),
            "a clean stop with the collector up logged a drain failure: %s" %
            drain_lines(m, "log drain:"))
    t.check(len(coll.messages()) == len({(x["timestamp"], x["msg"]) for x in coll.messages()}),
            "a line arrived twice")
    coll.stop()


def test_node_agent_lines(sb):
    """A node agent (run as the postgres user) drains its lines too: MSGID node, the SD element
    with its role, cluster and node, PROCID its pid. Without log_drain_ca it verifies the
    collector with [tls] ca_file, and shows its [tls] certificate to a collector that requires
    one (AuthMode x509/certvalid)."""
    t.check(t.TLS, "this test needs the [tls] certificates (PGQ_TEST_TLS is off)")
    port = t.free_ports(1)[0]
    ca = sb.certs()
    coll = Collector(sb, port, (ca, sb.cert("collector")), auth="x509/certvalid").start()
    pg = t.make_pg_cluster(sb, 0)[0]
    q = t.Quorum(sb, n=1).start()
    ag = t.Agent(sb, pg, q.addresses, {"log_drain": "syslog+tls://127.0.0.1:%d" % port}).start()
    t.wait_until(lambda: (t.agent_of(q, "pg1") or {}).get("state") == "up", 60,
                 "the agent registered pg1 and reports")
    msgs = t.wait_until(lambda: [x for x in coll.messages() if x["msgid"] == "node"], 30,
                        "a line from the agent")
    for x in msgs:
        t.check(x["sd"] == '[pgquorum@32473 role="node" cluster="main" node="pg1"]',
                "SD of an agent's line: %s" % x)
        t.check(x["procid"] == str(ag.proc.pid) and x["app"] == "pgquorumd",
                "PROCID or APP-NAME of an agent's line: %s (pid %d)" % (x, ag.proc.pid))
    local = ag.log_text()
    t.check(all(x["msg"] in local for x in msgs), "a drained line is not in the agent's log")
    ag.signal(signal.SIGTERM)
    t.check(ag.proc.wait(timeout=30) == 0, "the agent did not stop cleanly")
    coll.stop()


def test_collector_down(sb):
    """With rsyslog stopped the monitor keeps running and answering, keeps at most
    log_drain_queue lines (the newest), counts the ones it drops in /metrics and says so once in
    its own log; once rsyslog is back, the first line it receives is the drop report, then the
    kept lines in order."""
    port = t.free_ports(1)[0]
    coll, ca = tls_collector(sb, port)
    coll.start()
    q = drain_quorum(sb, port, ca, extra={"monitor.log_drain_queue": "5",
                                          "monitor.log_drain_facility": "local3"}).start()
    m = q.monitor(1)
    # Any INFO line (of the first few, the oldest may have been dropped from the queue of 5
    # before the first connection).
    first = t.wait_until(lambda: next((x for x in coll.messages() if x["severity"] == "6"), None),
                         30, "an INFO line at the collector")
    t.check(first["pri"] == str(19 * 8 + 6) and first["facility"] == "19",
            "PRI of an INFO line with facility local3: %s" % first)
    t.wait_until(lambda: metric(m, "pgquorum_log_drain_connected") == 1, 10, "connected")
    # The queue of 5 may have overflowed already while the monitor started (more lines than 5
    # before its first connection): this outage's drops are counted from here.
    dropped_before = metric(m, "pgquorum_log_drain_dropped_total")
    coll.stop()
    t.wait_until(lambda: metric(m, "pgquorum_log_drain_connected") == 0, 10,
                 "the drain to notice the collector is gone")
    before = len(coll.messages())
    # Twelve log lines while the collector is down: one per SIGHUP.
    for i in range(12):
        n = len(drain_lines(m, "reload of .*: no change"))
        m.proc.send_signal(signal.SIGHUP)
        t.wait_until(lambda: len(drain_lines(m, "reload of .*: no change")) > n, 10,
                     "reload line %d" % i)
    t.check(m.alive(), "the monitor died with the collector down")
    t.check(q.leader() == 1, "the monitor does not answer status with the collector down")
    t.check(metric(m, "pgquorum_log_drain_queued") == 5, "queued is not log_drain_queue")
    dropped = metric(m, "pgquorum_log_drain_dropped_total") - dropped_before
    t.check(dropped >= 7, "only %d lines counted as dropped" % dropped)
    full = drain_lines(m, "log drain: the queue to 127.0.0.1:%d is full \\(5 lines\\)" % port)
    t.check(len(full) == 1, "the full queue logged %d times (rate-limited to one a minute): %s" %
            (len(full), full))
    coll.start()
    report = coll.wait_msg("log drain: dropped", timeout=60, since=before)
    new = coll.messages()[before:]
    t.check(new[0] == report, "the drop report is not the first line after the outage: %s" %
            [x["msg"] for x in new])
    n = int(re.search(r"dropped (\d+) lines while the collector was unreachable",
                      report["msg"]).group(1))
    t.check(n == dropped, "the report says %d, /metrics counted %d in the outage" % (n, dropped))
    t.check(report["severity"] == "4", "the report is not a WARN: %s" % report)
    kept = [x["msg"] for x in new[1:6]]
    t.check(len(kept) == 5 and all("reload of" in x for x in kept),
            "the 5 newest lines do not follow the report: %s" % [x["msg"] for x in new])
    t.check(drain_lines(m, "log drain: connected to .*; %d lines were dropped while the "
                           "collector was unreachable" % n), "no local line with the count")
    t.wait_until(lambda: metric(m, "pgquorum_log_drain_connected") == 1, 10, "reconnected")
    t.check(metric(m, "pgquorum_log_drain_queued") == 0, "lines left in the queue")
    m.proc.send_signal(signal.SIGHUP)
    coll.wait_msg("reload of", timeout=10)
    t.check(m.stop() == 0, "the monitor did not stop cleanly")
    coll.stop()


class PlainListener(threading.Thread):
    """A TCP listener that pretends to be the collector without TLS: it keeps what each
    connection sends until the client stops sending for a moment, then closes it."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.received = []
        self.running = True

    def run(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            data, chunk = b"", b"-"
            # Until the client closes, or sends nothing for half a second.
            while chunk and select.select([c], [], [], 0.5)[0]:
                chunk = c.recv(65536)
                data += chunk
            c.close()
            self.received.append(data)

    def stop(self):
        self.running = False
        self.sock.close()


def test_plain_listener_gets_nothing(sb):
    """A plain TCP listener in the collector's place gets only TLS handshake records, nothing
    readable; the handshake fails at every retry and the monitor logs it once and keeps
    running."""
    port = t.free_ports(1)[0]
    ca = pgqtls.make_ca(sb.path("tls"), "logs-ca")
    fake = PlainListener(port)
    fake.start()
    q = drain_quorum(sb, port, ca).start()
    m = q.monitor(1)
    t.wait_until(lambda: len(fake.received) >= 3, 30, "three connection attempts")
    for data in fake.received:
        t.check(data[:1] == b"\x16" and data[1:2] == b"\x03",
                "not a TLS handshake record: %r" % data[:16])
        for text in (b"pgquorumd", b"monitor 1 started", b"[pgquorum@"):
            t.check(text not in data, "%r readable in what the listener got" % text)
    failures = drain_lines(m, "log drain: 127.0.0.1:%d: " % port)
    t.check(len(failures) == 1, "the failed handshakes logged %d lines: %s" %
            (len(failures), failures))
    t.check(m.alive() and q.leader() == 1, "the monitor does not answer")
    t.check(metric(m, "pgquorum_log_drain_connected") == 0, "connected to a plain listener")
    t.check(m.stop() == 0, "the monitor did not stop cleanly")
    fake.stop()


def test_plain_tcp_and_bad_values(sb):
    """syslog+tcp:// reaches a plain rsyslog by its host name (warned once at start, the
    warning drained too);
    a log_drain without a port, or of another scheme, is refused at start with one line naming
    the key, and nothing runs."""
    port = t.free_ports(1)[0]
    coll = Collector(sb, port).start()
    q = drain_quorum(sb, port, scheme="syslog+tcp", host="localhost").start()
    m = q.monitor(1)
    coll.wait_msg("monitor 1 started")
    warn = coll.wait_msg("over plain TCP")
    t.check(warn["severity"] == "4", "the clear-text warning is not a WARN: %s" % warn)
    t.check(len(drain_lines(m, "over plain TCP \\(syslog\\+tcp\\)")) == 1,
            "the clear-text warning is not logged once")
    t.check(m.stop() == 0, "the monitor did not stop cleanly")
    coll.stop()
    for value, why in (("syslog+tls://host", "\"syslog+tls://host\": no port"),
                       ("http://x", "\"http://x\" is not syslog+tls://HOST:PORT")):
        path = sb.path("bad.ini")
        with open(m.config) as f:
            text = re.sub(r"log_drain = .*", "log_drain = %s" % value, f.read())
        with open(path, "w") as f:
            f.write(text)
        p = t.run([t.PGQUORUMD, "--check-config", path], check_rc=False)
        t.check(p.returncode == 2, "--check-config of log_drain = %s exited %d" %
                (value, p.returncode))
        lines = p.stderr.strip().splitlines()
        t.check(len(lines) == 1 and "[monitor] log_drain: " in lines[0] and why in lines[0],
                "not one line naming the key and the problem: %r" % p.stderr)


def test_unresolvable_host(sb):
    """A collector whose name does not resolve: one local line, retried with backoff, the
    monitor answers and stops cleanly."""
    port = t.free_ports(1)[0]
    ca = pgqtls.make_ca(sb.path("tls"), "logs-ca")
    q = drain_quorum(sb, port, ca, host="no-such-host.invalid").start()
    m = q.monitor(1)
    t.wait_until(lambda: drain_lines(m, "log drain: no-such-host.invalid:%d: cannot resolve "
                                        "no-such-host.invalid: " % port), 10,
                 "the line saying the name does not resolve")
    t.check(q.leader() == 1, "the monitor does not answer")
    t.check(metric(m, "pgquorum_log_drain_connected") == 0, "connected to nothing")
    # Attempts at about 0, 1 and 3 s: the same failure is not logged again.
    t.holds_for(lambda: len(drain_lines(m, "log drain: no-such-host.invalid")) == 1, 3.5,
                "the failed resolutions logged more than once")
    t.check(m.stop() == 0, "the monitor did not stop cleanly")


def test_missing_ca_refused(sb):
    """syslog+tls:// with no CA to verify the collector with (no log_drain_ca, tls = off: no
    [tls] ca_file) does not start: one line naming the key, exit 2; an unreadable log_drain_ca
    neither."""
    port = t.free_ports(1)[0]
    q = drain_quorum(sb, port, extra={"monitor.tls": "off"})
    m = q.monitor(1)
    m.start()
    code = m.proc.wait(timeout=20)
    t.check(code == 2, "the monitor exited %s" % code)
    lines = m.log_text().strip().splitlines()
    t.check(len(lines) == 1 and "[monitor] log_drain: syslog+tls needs a CA to verify the "
            "collector with (set log_drain_ca, or [tls] ca_file)" in lines[0],
            "not one line saying why: %s" % m.log_text())
    q = drain_quorum(sb, port, extra={"monitor.log_drain_ca": sb.path("nosuch.crt")})
    m = q.monitor(1)
    m.start()
    code = m.proc.wait(timeout=20)
    t.check(code == 2, "the monitor exited %s with an unreadable log_drain_ca" % code)
    t.check(re.search(r"log_drain: log_drain_ca \S*nosuch.crt: No such file or directory",
                      m.log_text()),
            "no line names the key and the file: %s" % m.log_text())


if __name__ == "__main__":
    for prereq in (RSYSLOGD, "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"):
        if not os.path.exists(prereq):
            t.log("FAIL: missing %s (apt-get install rsyslog rsyslog-gnutls)" % prereq)
            sys.exit(1)
    t.main([test_lines_arrive_over_tls, test_node_agent_lines, test_collector_down,
            test_plain_listener_gets_nothing, test_plain_tcp_and_bad_values,
            test_unresolvable_host, test_missing_ca_refused])
