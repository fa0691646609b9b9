#!/usr/bin/env python3
"""Service integration: SIGHUP reloads the configuration of a running monitor or node agent
(the live keys applied at once, the others named as needing a restart, a broken file refused
with the daemon still serving), log_format, and systemd's notification protocol spoken to a
socket of our own (READY, STATUS, WATCHDOG, RELOADING, STOPPING)."""

import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402


class NotifySocket(threading.Thread):
    """A datagram socket where a daemon sends its sd_notify messages, as systemd's would be:
    every message kept with the time it arrived."""

    def __init__(self, sb):
        super().__init__(daemon=True)
        self.path = sb.path("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)  # the agent runs as postgres
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, text)
        self.stopped = False
        self.start()

    def run(self):
        while not self.stopped:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def texts(self):
        return [m for _, m in self.messages]

    def first(self, prefix, after=0):
        for i, (_, m) in enumerate(self.messages):
            if i >= after and m.startswith(prefix):
                return i
        return None

    def close(self):
        self.stopped = True
        self.sock.close()

    def env(self, watchdog_ms=None):
        e = {"NOTIFY_SOCKET": self.path}
        if watchdog_ms is not None:
            e["WATCHDOG_USEC"] = str(watchdog_ms * 1000)
        return e


def rewrite(path, old, new):
    with open(path) as f:
        text = f.read()
    t.check(old in text, "%s does not contain %r" % (path, old))
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def wait_log(proc_owner, pattern, timeout=10, after=0):
    """The first line of the daemon's log from byte `after` on that matches pattern."""
    def found():
        text = proc_owner.log_text()[after:]
        m = re.search(pattern, text)
        return m.group(0) if m else None
    return t.wait_until(found, timeout, "log line matching %r" % pattern)


def idle_close_seconds(address, limit=10):
    """Connect to a monitor's API, send nothing, and measure how long until it closes the
    connection (None: still open after `limit` seconds)."""
    s = t.connect(address, timeout=2)
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        data = s.recv(1)
        return time.monotonic() - t0 if data == b"" else None
    except socket.timeout:
        return None
    except (ConnectionResetError, ssl.SSLError):
        return time.monotonic() - t0
    finally:
        s.close()


def test_monitor_reload(sb):
    """SIGHUP makes a running monitor apply a new [api] idle_timeout (idle API connections
    are closed after the new time) and log_format, in the same process; a changed address is
    named as needing a restart and not applied; a file that does not validate is refused with
    one line, and the monitor keeps serving with the configuration it had."""
    q = t.Quorum(sb, 1, {"api.idle_timeout": "20s"}).start()
    m = q.monitor(1)
    pid = m.proc.pid
    took = idle_close_seconds(m.api_address, limit=1.5)
    t.check(took is None, "an idle connection was closed after %.2fs with idle_timeout 20s" % (
        took or 0))
    other_api = "127.0.0.1:%d" % t.free_ports(1)[0]
    rewrite(m.config, "idle_timeout = 20s", "idle_timeout = 700ms")
    rewrite(m.config, "api_address = %s" % m.api_address, "api_address = %s" % other_api)
    rewrite(m.config, "peers = ", "log_format = json\npeers = ")
    mark = len(m.log_text())
    os.kill(pid, signal.SIGHUP)
    line = wait_log(m, r".*reload of .*", after=mark)
    t.log("reload: %s" % line)
    t.check("[api] idle_timeout" in line.split("need a restart")[0] and
            "[monitor] log_format" in line, "not applied: %s" % line)
    t.check("need a restart: [monitor] api_address" in line, "api_address not named: %s" % line)
    obj = json.loads(line)  # the reload's own line is already JSON
    t.check(obj["level"] == "info" and obj["prog"] == "pgquorumd" and obj["id"] == 1,
            "JSON line fields: %s" % obj)
    took = idle_close_seconds(m.api_address, limit=10)
    t.check(took is not None and 0.5 <= took <= 3.0,
            "an idle connection closed after %s s, expected about 0.7 s" % took)
    t.check(q.ctl("status", monitors=m.api_address).returncode == 0,
            "the API moved although api_address needs a restart")

    # A broken file changes nothing.
    with open(m.config, "a") as f:
        f.write("[health]\ninterval = 30\n")
    mark = len(m.log_text())
    os.kill(pid, signal.SIGHUP)
    line = wait_log(m, r".*reload refused.*", after=mark)
    t.check("[health] interval" in line and "not a duration" in line,
            "the refusal does not name the problem: %s" % line)
    t.check(m.alive() and m.proc.pid == pid, "the monitor did not survive a broken reload")
    took = idle_close_seconds(m.api_address, limit=10)
    t.check(took is not None and took <= 3.0, "the applied idle_timeout was lost: %s" % took)
    t.check(q.ctl("status", monitors=m.api_address).returncode == 0, "status after the refusal")
    t.check(m.stop() == 0, "clean shutdown after reloads")


def test_monitor_notify(sb):
    """Under a notify socket a monitor sends READY=1 once its API answers, a STATUS= line
    naming its role, WATCHDOG=1 at half the watchdog interval, RELOADING=1 then READY=1 around
    a reload, and STOPPING=1 at shutdown; without the socket it starts and stops as before."""
    ns = NotifySocket(sb)
    q = t.Quorum(sb, 1)
    m = q.monitor(1)
    m.start(env=ns.env(watchdog_ms=600))
    t.wait_until(lambda: ns.first("READY=1") is not None, 20, "READY=1")
    t.check(q.ctl("status", "--timeout", "2s", monitors=m.api_address).returncode == 0,
            "READY=1 sent but the API does not answer")
    t.wait_until(lambda: any(x.startswith("STATUS=monitor 1: leader") for x in ns.texts()), 20,
                 "STATUS=monitor 1: leader ...")
    t.wait_until(lambda: ns.texts().count("WATCHDOG=1") >= 5, 10, "five WATCHDOG=1")
    pings = [ts for ts, x in ns.messages if x == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    t.check(all(0.15 <= g <= 0.6 for g in gaps), "watchdog pings not every ~0.3 s: %s" % gaps)
    n = len(ns.messages)
    os.kill(m.proc.pid, signal.SIGHUP)
    t.wait_until(lambda: ns.first("READY=1", after=n) is not None, 10, "READY=1 after reload")
    reloading = ns.first("RELOADING=1", after=n)
    t.check(reloading is not None and reloading < ns.first("READY=1", after=n),
            "RELOADING=1 before READY=1: %s" % ns.texts()[n:])
    t.check(m.stop() == 0, "clean shutdown")
    t.check("STOPPING=1" in ns.texts(), "no STOPPING=1: %s" % ns.texts()[-5:])
    ns.close()
    plain = t.Quorum(sb, 1).start()  # no NOTIFY_SOCKET: nothing changes
    t.check(plain.monitor(1).stop() == 0, "a monitor without a notify socket")


def test_agent_reload_and_notify(sb):
    """A node agent under a notify socket sends READY=1 and a STATUS= line naming its node,
    PostgreSQL's state and its lease; SIGHUP applies a new heartbeat_interval and log_level in
    the same process and names a changed pgdata as needing a restart; a broken file is refused
    and the agent keeps its lease; PostgreSQL, started by the agent, does not inherit the
    socket (only the agent's own messages arrive)."""
    nodes = t.make_pg_cluster(sb, 0)
    pg1 = nodes[0]
    # Stopped cleanly: the agent starts it, so that the postmaster is its child's.
    pg1._pg("pg_ctl", "-D", pg1.datadir, "-m", "fast", "-w", "stop")
    q = t.Quorum(sb, 1).start()
    ns = NotifySocket(sb)
    ag = t.Agent(sb, pg1, q.addresses)
    # The agent is started with the socket in its environment (setpriv keeps it).
    os.environ.update(ns.env(watchdog_ms=2000))
    try:
        ag.start()
    finally:
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            os.environ.pop(k, None)
    pid = ag.proc.pid
    t.wait_until(lambda: ns.first("READY=1") is not None, 20, "READY=1 from the agent")
    t.wait_until(lambda: any(x == "STATUS=node pg1: PostgreSQL running (primary), lease held"
                             for x in ns.texts()), 30, "STATUS naming pg1 primary, lease held")
    rewrite(ag.config, "name = pg1", "name = pg1\nheartbeat_interval = 300ms\nlog_level = debug")
    rewrite(ag.config, "pgdata = %s" % pg1.datadir, "pgdata = %s/elsewhere" % sb.dir)
    mark = len(ag.log_text())
    n = len(ns.messages)
    ag.signal(signal.SIGHUP)
    line = wait_log(ag, r".*reload of .*", after=mark)
    t.check("applied [node] heartbeat_interval, [node] log_level" in line,
            "not applied: %s" % line)
    t.check("need a restart: [node] pgdata" in line, "pgdata not named: %s" % line)
    t.wait_until(lambda: ns.first("READY=1", after=n) is not None, 10, "READY=1 after reload")
    with open(ag.config, "a") as f:
        f.write("restart_attempts = many\n")
    mark = len(ag.log_text())
    ag.signal(signal.SIGHUP)
    line = wait_log(ag, r".*reload refused.*", after=mark)
    t.check("[node] restart_attempts" in line and "not a number" in line, "the refusal does not name the key: %s" % line)
    t.check(ag.alive() and ag.proc.pid == pid, "the agent did not survive a broken reload")
    t.holds_for(lambda: t.agent_of(q, "pg1")["lease"], 2.0, "pg1 lost its lease after reloads")
    # One READY=1 at start and one after each reload: none from PostgreSQL.
    t.wait_until(lambda: ns.texts().count("READY=1") >= 3, 10, "READY=1 after the refusal")
    t.check(ns.texts().count("READY=1") == 3, "READY=1 not from the agent alone: %s" % [
        x for x in ns.texts() if not x.startswith("WATCHDOG")])
    # The postmaster the agent started has no NOTIFY_SOCKET.
    pm = pg1.pid()
    t.check("waiting -> starting" in ag.log_text(), "PostgreSQL was not started by the agent")
    with open("/proc/%d/environ" % pm, "rb") as f:
        env = f.read().split(b"\0")
    t.check(not any(e.startswith(b"NOTIFY_SOCKET=") for e in env),
            "the postmaster inherited NOTIFY_SOCKET")
    n = len(ns.messages)
    ag.signal(signal.SIGTERM)
    ag.proc.wait(timeout=20)
    t.check(ag.proc.returncode == 0, "agent exit %s" % ag.proc.returncode)
    t.check(ns.first("STOPPING=1", after=n) is not None, "no STOPPING=1 from the agent")
    t.check(pg1.accepting(), "stopping the agent stopped PostgreSQL")
    ns.close()


if __name__ == "__main__":
    t.main([test_monitor_reload, test_monitor_notify, test_agent_reload_and_notify])
