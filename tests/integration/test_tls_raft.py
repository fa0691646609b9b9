#!/usr/bin/env python3
"""Raft between monitors over mutual TLS with real pgquorumd processes: the
quorum elects and commits with tls on, and nobody but a monitor holding the
certificate of the id it claims gets a byte to libraft."""

import os
import socket
import ssl
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402
import pgqtls  # noqa: E402

DEAD_PORTS = t.free_ports(1)
HUGE_TERM = 1000000


def tls_quorum(sb, n=3, settings=None):
    """n monitors with tls on, each with the certificate of its id (pgqtest's)."""
    t.check(t.TLS, "these tests are about TLS: run them without PGQ_TEST_TLS=off")
    return t.Quorum(sb, n, settings).start()


class Plain:
    """pgqtest without TLS inside the block: monitors with tls = off, pgquorumctl --plain."""

    def __enter__(self):
        self.was = t.TLS
        t.TLS = False

    def __exit__(self, *exc):
        t.TLS = self.was
        return False


def add_node(q, name, i, pad=0):
    """Register a node at a closed port; pad: that many random characters in its conninfo."""
    conninfo = "host=127.0.%d.%d port=%d user=postgres dbname=postgres" % (
        i // 200, 1 + i % 200, DEAD_PORTS[0])
    if pad:
        conninfo += " application_name=" + os.urandom(pad // 2).hex()
    return q.ctl("node", "add", name, "--conninfo", conninfo, check_rc=True)


def raft_of(q, m):
    """(term, commit_index, role) as monitor m says of itself."""
    import json
    p = q.ctl("status", "--json", "--local", "--timeout", "2s", monitors=m.api_address)
    if p.returncode != 0:
        raise t.Unreachable(p.stderr)
    st = json.loads(p.stdout)
    for r in st["monitors"]:
        if r["id"] == m.id:
            return (r["term"], r["commit_index"], r["role"])
    raise t.TestFailure("monitor %d does not list itself: %s" % (m.id, st["monitors"]))


def views(q):
    return {m.id: raft_of(q, m) for m in q.monitors}


def settled(q):
    """The views once every monitor is at the same commit index and nothing moved for 1 s."""
    last = [None]

    def same():
        v = views(q)
        if len({c for (_, c, _) in v.values()}) == 1 and v == last[0]:
            return v
        last[0] = v
        return None
    return t.wait_until(same, 30, "a quorum at rest", interval=1.0)


# ---- what a rogue sends ---------------------------------------------------

def pgq_hello(mid, address):
    a = address.encode()
    return struct.pack(">4sHHQ", b"PGQR", 1, len(a), mid) + a


def libraft_handshake(mid, address):
    """libraft 0.15's raft_uv_tcp handshake: protocol 1, id, padded address."""
    a = address.encode() + b"\0"
    a += b"\0" * (-len(a) % 8)
    return struct.pack("<QQQ", 1, mid, len(a)) + a


def request_vote(term, candidate):
    """A RequestVote (type 3) with disrupt_leader set: a server that takes it
    moves to `term` even while it has a leader."""
    body = struct.pack("<QQQQQ", term, candidate, 1 << 40, term, 1)
    return struct.pack("<QQ", 3, len(body)) + body


def rogue(address, payload, cert=None, use_tls=True, wait=True):
    """Connect to address, send payload (inside TLS, presenting cert, a (cert, key), if any),
    read until the monitor closes (wait) or not; the local port it came from."""
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    local_port = s.getsockname()[1]
    try:
        if use_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # a rogue does not care who answers
            if cert is not None:
                ctx.load_cert_chain(*cert)
            s = ctx.wrap_socket(s)
        s.sendall(payload)
        while wait and s.recv(4096):
            pass
    except (ssl.SSLError, OSError):
        pass
    finally:
        s.close()
    return local_port


def wait_refused(m, port, why=""):
    line = "raft: connection from 127.0.0.1:%d refused: %s" % (port, why)
    return t.wait_until(lambda: any(line in x for x in m.log_text().splitlines()), 20,
                        "monitor %d logs %r" % (m.id, line))


# ---- tests ----------------------------------------------------------------

def test_tls_quorum_commits(sb):
    """With tls on, three monitors elect a leader, commit writes that every monitor applies,
    elect a new leader after kill -9 of the old one, and a restarted monitor catches up."""
    q = tls_quorum(sb)
    add_node(q, "pg1", 0)
    t.wait_until(lambda: all(raft_of(q, m)[1] == raft_of(q, q.monitors[0])[1] for m in q.monitors)
                 and q.node("pg1") is not None, 20, "pg1 committed on every monitor")
    leader = q.wait_leader()
    q.monitor(leader).kill()
    new = q.wait_leader(timeout=30, exclude=(leader,))
    add_node(q, "pg2", 1)
    q.monitor(leader).start()

    def caught_up():
        v = views(q)
        return len({c for (_, c, _) in v.values()}) == 1 and \
            [mid for mid, (_, _, role) in v.items() if role == "leader"] == [new]
    t.wait_until(caught_up, 30, "the restarted monitor %d caught up over TLS" % leader)
    for m in q.monitors:
        t.check("refused" not in m.log_text(), "monitor %d refused a peer" % m.id)
    codes = q.stop_all()
    t.check(all(c == 0 for c in codes.values()), "exit codes after SIGTERM: %s" % codes)


def test_tls_catch_up_by_snapshot(sb):
    """With tls on, a monitor that was down while the others took snapshots larger than the
    relay's 64 KiB chunks catches up through InstallSnapshot and the log over TLS."""
    n = 100
    q = tls_quorum(sb, settings={"raft.snapshot_threshold": "16", "raft.snapshot_trailing": "8"})
    leader = q.wait_leader()
    away = next(m for m in q.monitors if m.id != leader)
    away.kill()
    for i in range(n):
        add_node(q, "pg%d" % (i + 1), i, pad=900)
    snapshots = [f for f in os.listdir(q.monitor(leader).data_dir)
                 if f.startswith("snapshot-") and not f.endswith(".meta")]
    biggest = max(os.path.getsize(os.path.join(q.monitor(leader).data_dir, f))
                  for f in snapshots)
    t.check(biggest > 65536, "the leader's snapshot is only %d bytes" % biggest)
    away.start()

    def caught_up():
        t.check(away.alive(), "monitor %d exited: %s" % (away.id, away.log_text()[-2000:]))
        v = views(q)
        return len({c for (_, c, _) in v.values()}) == 1 and len(status_nodes(q, away)) == n
    t.wait_until(caught_up, 60, "monitor %d caught up" % away.id)


def status_nodes(q, m):
    import json
    p = q.ctl("status", "--json", "--local", "--timeout", "2s", monitors=m.api_address)
    return json.loads(p.stdout)["nodes"] if p.returncode == 0 else []


def test_plain_rogue_disrupts_control(sb):
    """The control: with tls off, anyone who reaches raft_address can claim to be monitor 3 and
    push a RequestVote with a huge term, and the monitor takes it."""
    with Plain():
        q = t.Quorum(sb, 3).start()
        leader = q.wait_leader()
        target = next(m for m in q.monitors if m.id != leader and m.id != 3)
        rogue(target.raft_address, libraft_handshake(3, q.monitor(3).raft_address) +
              request_vote(HUGE_TERM, 3), use_tls=False, wait=False)
        t.wait_until(lambda: raft_of(q, target)[0] >= HUGE_TERM, 20,
                     "monitor %d moved to the rogue's term" % target.id)


def test_tls_rogues_refused(sb):
    """With tls on, a connection to raft_address without a certificate, with one of another CA,
    an expired one, a valid certificate of monitor 2 claiming id 3 in its hello, libraft's plain
    handshake, a monitor's certificate with libraft's handshake instead of the hello, or one that
    says nothing, is refused and logged, and nothing it sent is applied: terms, commit indexes
    and the leader stay as they were."""
    q = tls_quorum(sb)
    leader = q.wait_leader()
    target = next(m for m in q.monitors if m.id != leader and m.id != 3)
    before = settled(q)
    d = sb.path("tls")
    foreign = pgqtls.make_cert(pgqtls.make_ca(d, "other-ca"), d, "foreign2",
                               uris=["pgquorum:monitor:2"])
    expired = sb.cert("expired2", ["pgquorum:monitor:2"], expired=True)
    valid2 = sb.cert("valid2", ["pgquorum:monitor:2"])
    addr3 = q.monitor(3).raft_address
    vote = request_vote(HUGE_TERM, 3)
    for what, payload, cert, use_tls, why in (
            ("no certificate", pgq_hello(3, addr3) + vote, None, True, ""),
            ("another CA", pgq_hello(2, addr3) + vote, foreign, True, ""),
            ("expired", pgq_hello(2, addr3) + vote, expired, True, ""),
            ("monitor 2 claiming 3", pgq_hello(3, addr3) + vote, valid2, True,
             "certificate of monitor 2 claims id 3"),
            ("plain libraft handshake", libraft_handshake(3, addr3) + vote, None, False, ""),
            ("monitor 2 with no hello", libraft_handshake(2, addr3) + vote, valid2, True,
             "not a pgquorum Raft hello"),
            ("monitor 2 silent", b"", valid2, True, "no TLS handshake and hello within")):
        t.log("rogue: %s" % what)
        port = rogue(target.raft_address, payload, cert, use_tls)
        wait_refused(target, port, why)

    def unchanged():
        now = views(q)
        return now == before or t.log("changed: %s -> %s" % (before, now))
    t.holds_for(unchanged, 3, "terms, commit indexes and the leader unchanged")
    t.check(all(term < HUGE_TERM for (term, _, _) in views(q).values()),
            "a rogue's term reached a monitor")


if __name__ == "__main__":
    t.main([test_tls_quorum_commits, test_tls_catch_up_by_snapshot,
            test_plain_rogue_disrupts_control, test_tls_rogues_refused])
