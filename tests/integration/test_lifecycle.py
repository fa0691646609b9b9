#!/usr/bin/env python3
"""A cluster's life against three real pgquorumd monitors (feature level 6): cluster remove
from pgquorumctl (its refusals, what it leaves), an emptied cluster freed, and a cluster rebuilt
under its old name after a failover starting clean with real PostgreSQL: discovered above the
old epochs, its standby confirmed following, nothing of the old failover left."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

DEAD_PORTS = t.free_ports(4)


def dead(i):
    return "host=127.0.0.1 port=%d user=postgres dbname=postgres" % DEAD_PORTS[i]


def events(q, cluster=None, limit=None):
    args = ["events", "--json"]
    if cluster:
        args += ["--cluster", cluster]
    if limit is not None:
        args += ["--limit", str(limit)]
    return json.loads(q.ctl(*args, check_rc=True).stdout)


def one_line(p, code, words, what):
    err = p.stderr.strip()
    t.check(p.returncode == code, "%s: exit %d, expected %d (%s)" % (what, p.returncode, code, err))
    t.check(words in err, "%s: %r does not say %r" % (what, err, words))
    t.check(len(err.splitlines()) == 1, "%s: not one line: %r" % (what, err))


def level6(q):
    t.wait_until(lambda: any(e["event"] == "feature-level" and "feature level 6" in e["message"]
                             for e in events(q)), 30, "feature level 6")


def test_cluster_remove(sb):
    """cluster remove takes a cluster and its nodes out of monitoring, says so in one line and in
    the events (kept under its name, with who asked), leaves the other clusters; an unknown
    cluster is refused in one line, exit 1; misuse is a usage error, exit 2; a cluster emptied
    by node remove goes too."""
    q = t.Quorum(sb, 3).start()
    level6(q)
    q.ctl("node", "add", "e1", "--conninfo", dead(0), "--cluster", "east", check_rc=True)
    q.ctl("node", "add", "e2", "--conninfo", dead(1), "--cluster", "east", check_rc=True)
    q.ctl("node", "add", "m1", "--conninfo", dead(2), check_rc=True)
    p = q.ctl("cluster", "remove", "east", check_rc=True)
    t.check(p.stdout.startswith("cluster east removed from monitoring with its nodes "
                                "(PostgreSQL untouched): committed at index"),
            "cluster remove said %r" % p.stdout)
    st = q.status()
    t.check([c["name"] for c in st["clusters"]] == ["main"],
            "clusters after the removal: %s" % [c["name"] for c in st["clusters"]])
    t.check([n["name"] for n in st["nodes"]] == ["m1"], "nodes: %s" % st["nodes"])
    last = events(q, "east")[-1]
    t.check(last["event"] == "cluster" and last["cluster"] == "east" and
            last["message"] == "cluster east removed from monitoring with its 2 nodes "
                               "(PostgreSQL untouched)" and last["who"] == "user:admin" and
            last["action"] == "cluster-remove" and last["outcome"] == "ok",
            "the removal's event: %s" % last)
    t.check(all(e["cluster"] != "east" for e in events(q, "main")),
            "main's events show east's removal")
    one_line(q.ctl("cluster", "remove", "east"), 1, "no cluster east", "cluster remove again")
    one_line(q.ctl("cluster", "remove"), 2, "usage: cluster remove NAME", "no name")
    one_line(q.ctl("cluster", "remove", "main", "--cluster", "main"), 2,
             "option --cluster does not apply to cluster remove", "--cluster")
    one_line(q.ctl("cluster", "drop", "main"), 2, "usage: cluster remove NAME", "cluster drop")
    q.ctl("node", "remove", "m1", check_rc=True)
    t.check(q.status()["clusters"] == [], "main emptied but still there")
    last = events(q, "main", limit=2)
    t.check([e["event"] for e in last] == ["node-removed", "cluster"] and
            last[1]["message"] == "cluster main removed: its last node m1 was removed",
            "the last events of main: %s" % last)


def test_rebuilt_after_failover(sb):
    """A cluster rebuilt under its name after a failover starts clean with real PostgreSQL: the
    old one's nodes removed (the cluster with them), the two survivors registered again are
    discovered above the old epochs, the standby is confirmed following (no 'not streaming'
    repoint loop), and status shows no failover of the old one."""
    nodes, q = t.failover_setup(sb)
    level6(q)
    pg1, pg2, pg3 = nodes
    pg1.kill9()
    c = t.wait_failover(q, 2)
    new = pg2 if c["primary"] == "pg2" else pg3
    other = pg3 if new is pg2 else pg2
    t.check_follows(other, new)
    for name in ("pg1", other.name, new.name):
        q.ctl("node", "remove", name, check_rc=True)
    t.check(q.status()["clusters"] == [], "the emptied cluster is still there")
    for n in (new, other):
        q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)

    def steady():
        st = q.status()
        if not st["clusters"]:
            return None
        c = st["clusters"][0]
        roles = {n["name"]: (n["role"], n["following_epoch"]) for n in st["nodes"]}
        want = {new.name: ("primary", 3), other.name: ("standby", 3)}
        return c if c["epoch"] == 3 and c["primary"] == new.name and roles == want else None
    c = t.wait_until(steady, 30, "%s discovered at epoch 3, %s following it" % (new.name,
                                                                              other.name))
    t.check(c["failover"]["phase"] == "none", "the rebuilt cluster's failover: %s"
            % c["failover"])
    t.check_follows(other, new)
    rep = [e for e in events(q, "main") if e["event"] == "repointed" and e["epoch"] == 3]
    t.check([e["node"] for e in rep] == [other.name], "repointed in epoch 3: %s" % rep)


if __name__ == "__main__":
    t.main([test_cluster_remove, test_rebuilt_after_failover])
