#!/usr/bin/env python3
"""Scale through the front door, against three real pgquorumd monitors on loopback: a bulk
registration (pgquorumctl node add --file) in few Raft entries, checked whole before anything is
sent and refused whole by the leader; and the monitors' reports of many clusters batched into few
entries (feature level 6).

No PostgreSQL is needed: the nodes point at closed loopback ports, so every monitor sees them
down, which is all the reports need to carry."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

DEAD_PORTS = t.free_ports(2)
CLUSTERS = 150


def node_lines(clusters, prefix="c"):
    lines = ["# cluster node priority conninfo", ""]
    for i in range(clusters):
        for k, port in enumerate(DEAD_PORTS):
            lines.append("%s%d pg%d %d host=127.0.0.1 port=%d user=postgres" %
                         (prefix, i, k + 1, 50 + k, port))
    return "\n".join(lines) + "\n"


def write(sb, name, text):
    path = os.path.join(sb.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def leader_commit(q):
    st = q.status()
    return max(m.get("commit_index", 0) for m in st["monitors"])


def wait_level_6(q):
    t.wait_until(lambda: any(e["event"] == "feature-level" and "level 6" in e["message"]
                             for e in q.events()), 30, "feature level 6")


def test_bulk_registration(sb):
    """node add --file registers 300 nodes of 150 clusters in a handful of Raft entries, each with
    the priority its line gives; a bad line is refused before anything is sent, naming the file
    and the line, and a node listed twice is refused by the leader with nothing registered."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    bad = write(sb, "bad.txt", "c1 pg1 50 host=127.0.0.1 port=1\nc1 pg2 lots host=127.0.0.1\n")
    t.one_line_error(q.ctl("node", "add", "--file", bad), 2, "bad.txt:2: priority \"lots\"",
                   "a bad priority")
    twice = write(sb, "twice.txt", "c1 pg1 50 host=127.0.0.1 port=1\n"
                                   "c1 pg1 50 host=127.0.0.1 port=2\n")
    t.one_line_error(q.ctl("node", "add", "--file", twice), 1, "node pg1 of cluster c1 is listed twice",
                   "a node listed twice")
    t.one_line_error(q.ctl("node", "add", "--file", os.path.join(sb.dir, "none.txt")), 2,
                   "none.txt", "a missing file")
    t.check(q.status()["nodes"] == [], "a refused file registered nothing")
    before = leader_commit(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS))
    p = q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    t.check("%d nodes registered" % (2 * CLUSTERS) in p.stdout, "says what it did: %r" % p.stdout)
    st = q.status()
    nodes = {(n["cluster"], n["name"]): n for n in st["nodes"]}
    t.check(len(nodes) == 2 * CLUSTERS, "every node registered: %d" % len(nodes))
    t.check(nodes[("c7", "pg2")]["priority"] == 51, "the line's priority: %r" % nodes[("c7", "pg2")])
    t.log("registration of %d nodes: commit index %d -> %d" % (2 * CLUSTERS, before,
                                                                 leader_commit(q)))
    # status --cluster asks the monitor for that cluster only, and gets it.
    one = q.status("c7")
    t.check(sorted(n["name"] for n in one["nodes"]) == ["pg1", "pg2"] and
            all(n["cluster"] == "c7" for n in one["nodes"]), "status of c7: %r" % one["nodes"])
    t.check(len(one["monitors"]) == 3, "with the monitors: %r" % one["monitors"])
    # The same file again: every node is already there as registered, which succeeds.
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)
    t.check(len(q.status()["nodes"]) == 2 * CLUSTERS, "a repeated file changes nothing")


def test_reports_batched(sb):
    """With 150 clusters the monitors' reports go in batches: every node gets a view from each of
    the three monitors while the Raft log grows by far fewer entries than the 450 a report per
    cluster and monitor would take."""
    q = t.Quorum(sb, 3).start()
    wait_level_6(q)
    path = write(sb, "nodes.txt", node_lines(CLUSTERS, "r"))
    before = leader_commit(q)
    q.ctl("node", "add", "--file", path, check_rc=True, timeout=120)

    def all_seen():
        st = q.status()
        if len(st["nodes"]) != 2 * CLUSTERS:
            return False
        return all(len(n["views"]) == 3 and not any(v["reachable"] for v in n["views"])
                   for n in st["nodes"])
    t.wait_until(all_seen, 60, "a view of every node from every monitor", interval=0.5)
    grew = leader_commit(q) - before
    t.log("%d clusters seen down by 3 monitors in %d entries" % (CLUSTERS, grew))
    t.check(grew < CLUSTERS, "reports batched: %d entries for %d clusters x 3 monitors" %
            (grew, CLUSTERS))


if __name__ == "__main__":
    t.main([test_bulk_registration, test_reports_batched])
