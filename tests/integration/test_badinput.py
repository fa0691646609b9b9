#!/usr/bin/env python3
"""Bad input gets a clear one-line error and changes nothing: broken
configurations, garbage and hostile clients on the API port, and command
line mistakes. The daemons keep serving throughout."""

import json
import os
import socket
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
    ("binary file", None, ["NUL byte"]),
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
        f.write(GOOD.format(dir=sb.dir, raft=raft, api=api))
    p = t.run([t.PGQUORUMD, "--check-config", path], check_rc=False)
    t.check(p.returncode == 0, "a good configuration is refused: %s" % p.stderr)


# ---- the API port ----------------------------------------------------------

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fv(num, v):
    return varint(num << 3) + varint(v)


def fb(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def frame(body):
    return struct.pack(">I", len(body)) + body


STATUS = fv(1, 1) + fb(10, b"")


def parse(msg):
    """Top-level fields of a protobuf message: {num: value} (last wins)."""
    out, i = {}, 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num], i = read_varint(msg, i)
        elif wt == 2:
            n, i = read_varint(msg, i)
            out[num] = msg[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
    return out


def read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def recv_frame(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    n = struct.unpack(">I", hdr)[0]
    return parse(recv_exact(s, n))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.settimeout(5)
    return s


def reply(addr, data):
    with connect(addr) as s:
        s.sendall(data)
        return recv_frame(s)


BAD_REQUEST = 1


def test_garbage_on_api(sb):
    """Garbage, oversized, unknown and malformed frames get a BAD_REQUEST reply saying why;
    slow and surplus clients are cut off; the monitors keep serving and nothing changes."""
    q = t.Quorum(sb, 3, {"api.idle_timeout": "1s", "api.max_clients": "20"}).start()
    q.ctl("node", "add", "pg1", "--conninfo", "host=127.0.0.1 port=9", check_rc=True)
    before = q.status()
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

    # More clients than max_clients: the surplus is closed, the daemon carries on.
    conns = [connect(addr) for _ in range(30)]
    closed = 0
    for c in conns:
        c.settimeout(2)
        try:
            if c.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
    for c in conns:
        c.close()
    t.check(closed >= 10, "only %d of 30 connections closed with max_clients = 20" % closed)

    # A follower answers reads and names the leader for writes.
    follower = next(m for m in q.monitors if m.id != leader.id)
    add = fb(1, b"main") + fb(2, b"pg9") + fb(3, b"host=127.0.0.1 port=9") + fv(4, 50)
    r = reply(follower.api_address, frame(fv(1, 1) + fb(11, add)))
    t.check(r[2] == 2 and r[4] == addr.encode(), "follower write: %s" % r)

    # Reports change verdicts: one that does not come from a voter's host is refused before
    # it reaches the log.
    down = fb(1, b"pg1") + fv(2, 0)
    forged = fv(1, 2) + fb(2, b"main") + fb(4, down)
    host, port = addr.rsplit(":", 1)
    with socket.socket() as s2:
        s2.bind(("127.0.0.2", 0))
        s2.settimeout(5)
        s2.connect((host, int(port)))
        s2.sendall(frame(fv(1, 1) + fb(14, forged)))
        r = recv_frame(s2)
    t.check(r[2] == 3 and b"not from the host of a voter" in r[3], "forged report: %s" % r)
    r = reply(addr, frame(fv(1, 1) + fb(14, fv(1, 99) + fb(2, b"main") + fb(4, down))))
    t.check(r[2] == 3, "report from an unknown monitor id: %s" % r)

    after = q.status()
    t.check(json.dumps(after["nodes"], sort_keys=True) == json.dumps(before["nodes"], sort_keys=True)
            or [n["name"] for n in after["nodes"]] == ["pg1"], "bad input changed the state")
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


# ---- the command line -----------------------------------------------------

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
    for cmd in (["status", "--help"], ["node", "--help"], ["--help"], ["--version"]):
        p = q.ctl(*cmd)
        t.check(p.returncode == 0 and p.stdout, "%s failed" % cmd)


if __name__ == "__main__":
    t.main([test_broken_configs, test_garbage_on_api, test_cli_errors])
