#!/usr/bin/env python3
"""Bad input gets a clear one-line error and changes nothing: broken
configurations, garbage and hostile clients on the API port, and command
line mistakes. The daemons keep serving throughout."""

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# ---- configurations ------------------------------------------------------

GOOD = """[monitor]
id = 1
data_dir = {dir}/data
raft_address = 127.0.0.1:{raft}
api_address = 127.0.0.1:{api}
peers = 1=127.0.0.1:{raft}
"""

NODE = """[node]
name = pg1
pgdata = {dir}/pgdata
conninfo = host=127.0.0.1 port={raft} user=postgres
monitors = 127.0.0.1:{api}
"""

BROKEN = [
    # (what is wrong, text appended or substituted, words the error must contain)
    ("unknown key", GOOD + "[health]\nintervl = 3s\n", ["cfg.ini:8:", "[health] intervl", "unknown key"]),
    ("duration without unit", GOOD + "[health]\ninterval = 30\n",
     ["cfg.ini:8:", "[health] interval", "not a duration"]),
    ("negative duration", GOOD + "[failover]\nfailover_timeout = -1s\n",
     ["cfg.ini:8:", "failover_timeout", "not a duration"]),
    ("unknown section", GOOD + "[healthz]\n", ["cfg.ini:7:", "unknown section [healthz]"]),
    ("key set twice", GOOD + "id = 2\n", ["cfg.ini:7:", "[monitor] id", "set twice (first on line 2)"]),
    ("missing id", GOOD.replace("id = 1\n", ""), ["cfg.ini:", "[monitor] id", "required"]),
    ("id zero", GOOD.replace("id = 1\n", "id = 0\n"), ["cfg.ini:2:", "[monitor] id", "out of range"]),
    ("peers without this id", GOOD.replace("peers = 1=", "peers = 2="),
     ["cfg.ini:6:", "[monitor] peers", "does not list this monitor's id 1"]),
    ("hostname raft address", GOOD.replace("raft_address = 127.0.0.1", "raft_address = localhost"),
     ["cfg.ini:4:", "[monitor] raft_address", "not an IPv4 address"]),
    ("election below 3 heartbeats", GOOD + "[raft]\nelection_timeout = 100ms\nheartbeat_timeout = 50ms\n",
     ["cfg.ini:8:", "[raft] election_timeout", "at least 3x heartbeat_timeout"]),
    ("retry slower than interval", GOOD + "[health]\ninterval = 1s\nretry_interval = 2s\n",
     ["cfg.ini:9:", "[health] retry_interval", "longer than interval"]),
    ("bad sslmode", GOOD + "[health]\nsslmode = maybe\n", ["cfg.ini:8:", "sslmode", "not a libpq sslmode"]),
    ("garbage line", GOOD + "this is not ini\n", ["cfg.ini:7:", "expected key = value"]),
    ("both roles", GOOD + "[node]\nname = pg1\n", ["cfg.ini:8:", "one role", "not both"]),
    ("node without monitors", NODE.replace("monitors = 127.0.0.1:{api}\n", ""),
     ["cfg.ini:", "[node] monitors", "required"]),
    ("node name with a space", NODE.replace("name = pg1", "name = pg 1"),
     ["cfg.ini:2:", "[node] name", "not a valid name"]),
    ("node pgdata relative", NODE.replace("pgdata = {dir}/pgdata", "pgdata = pgdata"),
     ["cfg.ini:3:", "[node] pgdata", "absolute path"]),
    ("node conninfo with a password", NODE.replace("user=postgres", "user=postgres password=x"),
     ["cfg.ini:4:", "[node] conninfo", "password"]),
    ("node monitors not host:port", NODE.replace("monitors = 127.0.0.1:{api}", "monitors = monitor1"),
     ["cfg.ini:5:", "[node] monitors", "not host:port"]),
    ("node crash policy", NODE + "crash_policy = sometimes\n",
     ["cfg.ini:6:", "[node] crash_policy", "auto, restart, failover"]),
    ("binary file", None, ["NUL byte"]),
    ("tls on without its files", GOOD, ["[tls] ca_file", "required while tls is on",
                                        "tls = off"]),
    ("tls neither on nor off", GOOD + "tls = maybe\n",
     ["cfg.ini:7:", "[monitor] tls", "not on or off"]),
]


def test_broken_configs(sb):
    """Each broken configuration is refused with one line naming the file, the line and the
    key, exit code 2, and nothing is started (no data directory is created)."""
    raft, api = t.free_ports(2)
    path = sb.path("cfg.ini")
    for what, text, words in BROKEN:
        if text is None:
            with open(path, "wb") as f:
                f.write(GOOD.format(dir=sb.dir, raft=raft, api=api).encode() + b"\x00\x01\x02")
        else:
            with open(path, "w") as f:
                f.write(text.format(dir=sb.dir, raft=raft, api=api))
        p = t.run([t.PGQUORUMD, "--config", path], check_rc=False, timeout=10)
        err = p.stderr.strip()
        t.check(p.returncode == 2, "%s: exit code %d, expected 2 (%s)" % (what, p.returncode, err))
        t.check(len(err.splitlines()) == 1, "%s: expected one line, got: %r" % (what, err))
        for w in words:
            t.check(w in err, "%s: error %r does not contain %r" % (what, err, w))
        t.check(not os.path.exists(sb.path("data")), "%s: data_dir was created" % what)
        t.log("%-28s -> %s" % (what, err))
    p = t.run([t.PGQUORUMD, "--config", sb.path("missing.ini")], check_rc=False)
    t.check(p.returncode == 2 and "No such file" in p.stderr, "missing file: %s" % p.stderr)
    p = t.run([t.PGQUORUMD, "--bogus"], check_rc=False)
    t.check(p.returncode == 2 and "--bogus" in p.stderr, "unknown option: %s" % p.stderr)
    with open(path, "w") as f:
        f.write(GOOD.format(dir=sb.dir, raft=raft, api=api) + "tls = off\n")
    p = t.run([t.PGQUORUMD, "--check-config", path], check_rc=False)
    t.check(p.returncode == 0, "a good configuration is refused: %s" % p.stderr)


# ---- the API port ----------------------------------------------------------

varint, fv, fb, frame = t.api_varint, t.api_fv, t.api_fb, t.api_frame


STATUS = fv(1, 1) + fb(10, b"")


read_varint, parse, recv_exact = t.api_read_varint, t.api_parse, t.api_recv_exact


def recv_frame(s):
    return t.api_recv_frame(s)


def connect(addr):
    s = t.connect(addr, user="admin")
    s.settimeout(5)
    return s


def reply(addr, data):
    with connect(addr) as s:
        s.sendall(data)
        return recv_frame(s)


BAD_REQUEST = 1

# What bad input must not change in a node. observed_at and each view's
# observed_at/committed_at are left out: the monitors keep probing pg1 and
# re-commit its views every report_refresh. The rest is stable once every
# monitor has reported pg1 down (see settled()).
NODE_FIELDS = ("cluster", "name", "conninfo", "priority", "maintenance", "role", "health",
               "health_since")


def node_records(st):
    return [dict({k: n.get(k) for k in NODE_FIELDS},
                 views=sorted((v["monitor"], v["reachable"]) for v in n["views"]))
            for n in st["nodes"]]


def settled(q):
    """Status once pg1 (a closed port) is down by verdict with a view from every monitor."""
    st = q.status()
    n = q.node("pg1", st)
    if n and n["health"] == "down" and sorted(v["monitor"] for v in n["views"]) == [1, 2, 3] \
            and not any(v["reachable"] for v in n["views"]):
        return st
    return None


def test_garbage_on_api(sb):
    """Garbage, oversized, unknown and malformed frames get a BAD_REQUEST reply saying why;
    a client stuck in a partial frame is cut off; the monitors keep serving and nothing changes."""
    q = t.Quorum(sb, 3, {"api.idle_timeout": "1s", "api.max_clients": "20"}).start()
    q.ctl("node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=9", check_rc=True)
    before = node_records(t.wait_until(lambda: settled(q), 20, "pg1 down by verdict"))
    leader = q.monitor(q.wait_leader())
    addr = leader.api_address

    r = reply(addr, struct.pack(">I", 0xFFFFFFFF) + b"xxxx")
    t.check(r[2] == BAD_REQUEST and b"exceeds the limit" in r[3], "oversized frame: %s" % r)

    with connect(addr) as s:
        s.sendall(frame(b"\xff" * 10))
        r = recv_frame(s)
        t.check(r[2] == BAD_REQUEST and b"malformed request" in r[3], "garbage body: %s" % r)
        s.sendall(frame(STATUS))  # the connection stays usable after a bad frame
        r = recv_frame(s)
        t.check(r.get(2, 0) == 0 and 10 in r, "status after garbage: %s" % sorted(r))

    r = reply(addr, frame(fv(1, 2) + fb(10, b"")))
    t.check(r[2] == BAD_REQUEST and b"format version 2" in r[3], "wrong version: %s" % r)
    r = reply(addr, frame(fv(1, 1) + fb(99, b"")))
    t.check(r[2] == BAD_REQUEST and b"unknown request" in r[3], "unknown request: %s" % r)
    long_name = fb(1, b"main") + fb(2, b"x" * 100) + fb(3, b"host=h port=1") + fv(4, 50)
    r = reply(addr, frame(fv(1, 1) + fb(11, long_name)))
    t.check(r[2] == BAD_REQUEST and b"node_add.name" in r[3], "long name: %s" % r)
    nul_name = fb(1, b"main") + fb(2, b"pg\x00x") + fb(3, b"host=h port=1") + fv(4, 50)
    r = reply(addr, frame(fv(1, 1) + fb(11, nul_name)))
    t.check(r[2] == BAD_REQUEST and b"NUL byte" in r[3], "name with a NUL byte: %s" % r)
    bad_add = fb(1, b"main") + fb(2, b"pg2") + fb(3, b"host=h port=1 password=secret") + fv(4, 50)
    r = reply(addr, frame(fv(1, 1) + fb(11, bad_add)))
    t.check(r[2] == BAD_REQUEST and b"password" in r[3], "password conninfo: %s" % r)
    r = reply(addr, frame(fv(1, 1) + fb(11, fb(1, b"main"))))
    t.check(r[2] == BAD_REQUEST and b"malformed" in r[3], "missing required fields: %s" % r)

    # A request fed one byte at a time is served.
    with connect(addr) as s:
        for b in frame(STATUS):
            s.sendall(bytes([b]))
        r = recv_frame(s)
        t.check(r.get(2, 0) == 0 and 10 in r, "byte-by-byte status: %s" % sorted(r))

    # A client stuck in a partial frame is closed after idle_timeout, while others are served.
    slow = connect(addr)
    slow.sendall(b"\x00\x00")
    r = reply(addr, frame(STATUS))
    t.check(r.get(2, 0) == 0, "status while a client hangs: %s" % sorted(r))
    slow.settimeout(10)
    t.check(slow.recv(10) == b"", "the stuck client was not disconnected")
    slow.close()

    # A follower answers reads and names the leader for writes.
    follower = next(m for m in q.monitors if m.id != leader.id)
    add = fb(1, b"main") + fb(2, b"pg9") + fb(3, b"host=127.0.0.1 port=9") + fv(4, 50)
    r = reply(follower.api_address, frame(fv(1, 1) + fb(11, add)))
    t.check(r[2] == 2 and r[4] == addr.encode(), "follower write: %s" % r)

    # Reports change verdicts: one that does not come from a voter's host is refused before
    # it reaches the log. The forged report says the dead pg1 is up: accepted, it would flip
    # monitor 2's view (checked below with the node records).
    up = fb(1, b"pg1") + fv(2, 1)
    forged = fv(1, 2) + fb(2, b"main") + fb(4, up)
    with t.connect(addr, source="127.0.0.2", user="admin") as s2:
        s2.settimeout(5)
        s2.sendall(frame(fv(1, 1) + fb(14, forged)))
        r = recv_frame(s2)
    if t.TLS:
        # An operator's certificate (even an admin's) never sends reports.
        t.check(r[2] == 6 and b"only monitors and node agents" in r[3], "forged report: %s" % r)
    else:
        t.check(r[2] == 3 and b"not from the host of a voter" in r[3], "forged report: %s" % r)
    r = reply(addr, frame(fv(1, 1) + fb(14, fv(1, 99) + fb(2, b"main") + fb(4, up))))
    t.check(r[2] in (3, 6), "report from an unknown monitor id: %s" % r)

    after = node_records(q.status())
    t.check(after == before, "bad input changed the state:\n before %s\n after  %s"
            % (json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)))
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


# ---- the command line -----------------------------------------------------

def connect_from(addr, src="127.0.0.2", rcvbuf=None):
    """A connection from src; rcvbuf: a small receive buffer, so that a server writing to
    a client that reads nothing is blocked after a few replies (not megabytes later)."""
    host, port = addr.rsplit(":", 1)
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((host, int(port)))
    s = t.tls_wrap(s, user="admin")
    s.settimeout(5)
    return s

def closed_by_server(s, within):
    """True when the server closes s (EOF or reset) within `within` seconds, reading and
    discarding whatever it sent first."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            if s.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
    return False

def test_slow_clients_cut_off(sb):
    """A client that trickles a frame, one that never reads its replies, and clients beyond
    max_clients are cut off (the surplus with a reply saying why), while the monitors' own
    hosts are still served."""
    q = t.Quorum(sb, 3, {"api.idle_timeout": "1s", "api.max_clients": "4",
                         "monitor.log_level": "debug"}).start()
    leader = q.monitor(q.wait_leader())
    addr = leader.api_address
    # Trickling: a byte every 0.3 s into a frame that announces 1000 bytes.
    tricklers = [connect_from(addr) for _ in range(4)]
    for s in tricklers:
        s.sendall(struct.pack(">I", 1000))
    start = time.monotonic()
    alive = list(tricklers)
    while alive and time.monotonic() < start + 6:
        for s in list(alive):
            try:
                s.sendall(b"x")
            except OSError:
                alive.remove(s)
        time.sleep(0.3)
    t.check(not alive, "%d trickling clients still connected after 6 s (idle_timeout 1s)" % len(alive))
    # Beyond max_clients from a host that runs no monitor: an UNAVAILABLE reply naming the limit.
    held = [connect_from(addr) for _ in range(4)]
    extra = connect_from(addr)
    r = recv_frame(extra)
    t.check(r[2] == 4 and b"too many clients" in r[3], "surplus client: %s" % r)
    t.check(closed_by_server(extra, 5), "the surplus client was not closed")
    # The monitors' hosts keep a reserve: status over loopback still works.
    p = q.ctl("status", "--local", monitors=addr)
    t.check(p.returncode == 0, "status with every slot held: %s" % p.stderr.strip())
    for s in held + tricklers:
        s.close()
    # A client that pipelines requests and reads nothing is closed.
    s = connect_from(addr, rcvbuf=4096)
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        # The same buffer again after a refusal: TLS wants a write retried as it was.
        chunk = frame(STATUS) * 64
        try:
            sent += s.send(chunk)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            time.sleep(0.2)
            try:
                sent += s.send(chunk)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
        except OSError:
            break
    # Reading now would let the monitor go on writing: wait for it to say it closed the
    # client (it writes until the kernel takes no more, then waits idle_timeout), then read.
    t.wait_until(lambda: "closing a client that does not read its reply" in leader.log_text(),
                 30, "the monitor closing a client that reads nothing (%d bytes sent)" % sent)
    s.setblocking(True)
    t.check(closed_by_server(s, 15), "a client that reads nothing was not closed (%d bytes sent)" % sent)
    s.close()
    t.check(all(m.alive() for m in q.monitors), "a monitor died")
    t.check(q.ctl("status", monitors=addr).returncode == 0, "status after the abuse")


def test_cli_errors(sb):
    """pgquorumctl reports usage errors with exit 2, refusals with exit 1 and unreachable
    monitors with exit 3, each with a one-line reason; nothing is changed."""
    q = t.Quorum(sb, 3).start()
    q.ctl("node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=9", check_rc=True)
    cases = [
        ([], 2, "Usage"),
        (["frobnicate"], 2, "unknown command"),
        (["node", "add", "pg2"], 2, "--conninfo"),
        (["node", "add", "pg2", "--conninfo", "host=h", "--priority", "101"], 2, "0..100"),
        (["node", "add", "bad name!", "--conninfo", "host=h"], 2, "not a valid node name"),
        (["status", "--priority", "3"], 2, "does not apply"),
        (["status", "--timeout", "soon"], 2, "not a duration"),
        (["maintenance", "maybe", "pg1"], 2, "on|off"),
        (["node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=10"], 1, "already exists"),
        (["node", "add", "pg2", "--conninfo", "host=127.0.0.1 port=9"], 1, "already registered"),
        (["node", "add", "pg2", "--conninfo", "postgresql://u:pw@h/db"], 1, "password"),
        (["node", "remove", "nope"], 1, "no node nope"),
        (["maintenance", "on", "nope"], 1, "no node nope"),
        (["maintenance", "off", "pg1", "--allow-failover"], 2, "goes with maintenance on"),
        (["status", "--allow-failover"], 2, "does not apply"),
        (["maintenance", "on", "pg1", "--allow-failover"], 1, "not the primary"),
        (["pause", "--cluster", "nosuch"], 1, "no cluster nosuch"),
        (["resume", "--cluster", "nosuch"], 1, "no cluster nosuch"),
        (["pause", "main"], 2, "unexpected argument"),
        (["pause", "--json"], 2, "does not apply"),
        (["resume", "--allow-failover"], 2, "does not apply"),
        (["pause", "--cluster", "bad name!"], 2, "not a valid name"),
    ]
    for args, code, words in cases:
        p = q.ctl(*args)
        err = p.stderr.strip()
        t.check(p.returncode == code, "%s: exit %d, expected %d (%s)" % (args, p.returncode, code, err))
        t.check(words in err, "%s: %r does not say %r" % (args, err, words))
        if code != 2 or args:
            t.check(len(err.splitlines()) == 1, "%s: not one line: %r" % (args, err))
    closed = t.free_ports(1)[0]
    p = q.ctl("status", monitors="127.0.0.1:%d" % closed)
    t.check(p.returncode == 3 and "no monitor reachable" in p.stderr, "unreachable: %s" % p.stderr)
    p = q.ctl("status", monitors="not-an-address")
    t.check(p.returncode == 2, "bad --monitors: exit %d" % p.returncode)
    p = subprocess.run([t.PGQUORUMCTL, "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env={k: v for k, v in os.environ.items()
                                       if k != "PGQUORUM_MONITORS"})
    t.check(p.returncode == 2 and "PGQUORUM_MONITORS" in p.stderr, "no monitors: %s" % p.stderr)
    st = q.status()
    t.check([n["name"] for n in st["nodes"]] == ["pg1"], "state changed: %s" % st["nodes"])
    t.check(not st["nodes"][0]["maintenance"] and not st["clusters"][0]["paused"],
            "state changed: %s %s" % (st["nodes"][0], st["clusters"][0]))
    for cmd in (["status", "--help"], ["node", "--help"], ["--help"], ["--version"]):
        p = q.ctl(*cmd)
        t.check(p.returncode == 0 and p.stdout, "%s failed" % cmd)


if __name__ == "__main__":
    t.main([test_broken_configs, test_garbage_on_api, test_slow_clients_cut_off, test_cli_errors])
