#!/usr/bin/env python3
"""Chaos scenarios beyond `make check` (make chaos): faults that need root
(nftables) or take longer. A frozen postmaster, a primary cut off the network
silently, and the Raft leader cut off from the other monitors."""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgqtest as t  # noqa: E402
from pgqtest import FAST, wait_failover, check_single_promotion, check_follows  # noqa: E402

setup = t.failover_setup


class Drop:
    """Silently drop every TCP packet to the given loopback ports (nftables),
    like a host or link that vanished: no RST, no ICMP, only timeouts."""

    def __init__(self, ports, name):
        self.table = "pgq_chaos_%s_%d" % (name, os.getpid())
        self.ports = ports

    def nft(self, *args):
        return t.run(["nft"] + list(args), check_rc=True)

    def __enter__(self):
        self.nft("add", "table", "inet", self.table)
        self.nft("add", "chain", "inet", self.table, "in",
                 "{ type filter hook input priority 0 ; }")
        ports = "{ %s }" % ", ".join(str(p) for p in self.ports)
        self.nft("add", "rule", "inet", self.table, "in", "tcp", "dport", ports, "drop")
        self.nft("add", "rule", "inet", self.table, "in", "tcp", "sport", ports, "drop")
        t.log("nftables: dropping TCP to and from ports %s" % ports)
        return self

    def __exit__(self, *exc):
        subprocess.run(["nft", "delete", "table", "inet", self.table],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.log("nftables: healed")
        return False


def test_frozen_postmaster(sb):
    """A primary whose postmaster is frozen (SIGSTOP) accepts no new connection: it is failed
    over, and fenced once it thaws and turns out writable."""
    nodes, q = setup(sb)
    pg1 = nodes[0]
    pid = pg1.pid()
    os.kill(pid, signal.SIGSTOP)
    t.log("pg1: postmaster %d frozen with SIGSTOP" % pid)
    try:
        c = wait_failover(q, 2, timeout=90)
        new = nodes[1] if c["primary"] == "pg2" else nodes[2]
        check_single_promotion(q, nodes, new)
    finally:
        os.kill(pid, signal.SIGCONT)
        t.log("pg1: postmaster thawed with SIGCONT")
    t.wait_until(lambda: pg1.sql("SHOW default_transaction_read_only") == "on", 60,
                 "the thawed old primary fenced")


def test_primary_cut_off(sb):
    """A primary cut off the network without a word (packets dropped) is failed over after the
    probe timeouts; when the network heals it is fenced, never taken back."""
    nodes, q = setup(sb)
    pg1 = nodes[0]
    with Drop([pg1.port], "primary"):
        c = wait_failover(q, 2, timeout=120)
        new = nodes[1] if c["primary"] == "pg2" else nodes[2]
        check_single_promotion(q, nodes, new)
        check_follows(nodes[2] if new is nodes[1] else nodes[1], new)
    t.wait_until(lambda: pg1.sql("SHOW default_transaction_read_only") == "on", 60,
                 "the old primary fenced after the heal")
    st = q.status()
    t.check(st["clusters"][0]["primary"] == c["primary"], "the old primary was taken back")


def test_leader_cut_off(sb):
    """The Raft leader cut off from the other monitors steps down; the others elect a leader and
    keep deciding; no failover happens while the primary is fine; the old leader rejoins."""
    nodes, q = setup(sb)
    leader = q.monitor(q.wait_leader())
    raft_port = int(leader.raft_address.rsplit(":", 1)[1])
    others = ",".join(m.api_address for m in q.monitors if m is not leader)
    with Drop([raft_port], "leader"):
        def new_leader():
            st = q.status()
            for m in st["monitors"]:
                if m["role"] == "leader" and m.get("ready") and m["id"] != leader.id:
                    return m["id"]
            return None
        t.wait_until(new_leader, 30, "a new leader among the other monitors")
        p = q.ctl("maintenance", "on", "pg3", monitors=others)
        t.check(p.returncode == 0, "write during the partition: %s" % p.stderr)
        # Watch for longer than a failover of a dead primary would take with these settings
        # (detection, retries, failover_timeout): nothing may be decided.
        window = 0.3 * 2 + 1.0 + 2.0
        end = time.monotonic() + window
        while time.monotonic() < end:
            st = q.status()
            t.check(st["clusters"][0]["epoch"] == 1, "a failover during a monitor partition")
            time.sleep(0.2)
    t.wait_until(lambda: any(m["id"] == leader.id and m["role"] == "follower" and m.get("ready")
                             for m in q.status()["monitors"]), 30, "the old leader to rejoin")
    t.check(q.node("pg3")["maintenance"], "the write made during the partition was lost")


if __name__ == "__main__":
    if os.geteuid() != 0 or shutil.which("nft") is None:
        t.log("FAIL: make chaos needs root and nft (apt-get install nftables)")
        sys.exit(1)
    t.main([test_frozen_postmaster, test_primary_cut_off, test_leader_cut_off])
