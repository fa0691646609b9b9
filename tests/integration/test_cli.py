#!/usr/bin/env python3
"""pgquorumctl end to end against three real pgquorumd monitors on loopback:
node add and remove, maintenance, choosing a monitor from PGQUORUM_MONITORS,
the usage of every command, and the human status table.

No PostgreSQL is needed: nodes are registered with conninfos pointing at
closed loopback ports, so the monitors see them down, which is fine here."""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Closed loopback ports: registered nodes and a dead "monitor" address.
DEAD_PORTS = t.free_ports(8)


def conninfo(i):
    return "host=127.0.0.1 port=%d user=postgres dbname=postgres" % DEAD_PORTS[i]


def dead_monitor():
    return "127.0.0.1:%d" % DEAD_PORTS[-1]


def ctl_env(monitors_env, *args):
    """pgquorumctl with no --monitors, PGQUORUM_MONITORS set to monitors_env (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "PGQUORUM_MONITORS"}
    if monitors_env is not None:
        env["PGQUORUM_MONITORS"] = monitors_env
    tls = t.CURRENT_SANDBOX.ctl_tls_args()
    return subprocess.run([t.PGQUORUMCTL] + tls + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, env=env)


def by_name(st):
    return {(n["cluster"], n["name"]): n for n in st["nodes"]}


def test_node_add(sb):
    """node add registers a node with the given --priority and --cluster, and with priority 50 in
    cluster main by default, as status --json shows."""
    q = t.Quorum(sb, 3).start()
    q.ctl("node", "add", "pgo", "--conninfo", conninfo(0), "--priority", "70",
          "--cluster", "other", check_rc=True)
    q.ctl("node", "add", "pgm", "--conninfo", conninfo(1), check_rc=True)
    st = q.status()
    nodes = by_name(st)
    t.check(sorted(nodes) == [("main", "pgm"), ("other", "pgo")], "nodes: %s" % sorted(nodes))
    o, m = nodes[("other", "pgo")], nodes[("main", "pgm")]
    t.check(o["priority"] == 70, "pgo priority %s, expected 70" % o["priority"])
    t.check(m["priority"] == 50, "pgm default priority %s, expected 50" % m["priority"])
    t.check(o["conninfo"] == conninfo(0) and m["conninfo"] == conninfo(1),
            "conninfos: %r %r" % (o["conninfo"], m["conninfo"]))
    t.check(not o["maintenance"] and not m["maintenance"], "a new node is in maintenance")
    t.check(sorted(c["name"] for c in st["clusters"]) == ["main", "other"],
            "clusters: %s" % [c["name"] for c in st["clusters"]])
    only = q.status(cluster="other")
    t.check([(n["cluster"], n["name"]) for n in only["nodes"]] == [("other", "pgo")],
            "status --cluster other: %s" % [n["name"] for n in only["nodes"]])
    # A conninfo libpq would refuse, or one carrying a secret, is refused by pgquorumctl itself,
    # before any monitor is asked (exit 1 even with no monitor reachable).
    for bad, words in (("host=h PASSWORD=x", 'unknown connection option "PASSWORD"'),
                       ("host=h sslmod=require", 'unknown connection option "sslmod"'),
                       ("postgresql://u:pw@h/db", "password")):
        for monitors in (q.addresses, dead_monitor()):
            p = ctl_env(None, "--monitors", monitors, "node", "add", "pgx", "--conninfo", bad)
            t.one_line_error(p, 1, words, "node add --conninfo %r" % bad)
    t.check(len(q.status()["nodes"]) == 2, "a refused node add changed the state")


def test_maintenance(sb):
    """maintenance on/off NAME sets and clears the node's maintenance flag in status --json; on an
    unknown node it exits 1 with a one-line reason and changes nothing."""
    q = t.Quorum(sb, 3).start()
    q.ctl("node", "add", "pg1", "--conninfo", conninfo(0), check_rc=True)
    q.ctl("node", "add", "pg2", "--conninfo", conninfo(1), check_rc=True)
    flags = lambda: {n["name"]: n["maintenance"] for n in q.status()["nodes"]}  # noqa: E731
    t.check(flags() == {"pg1": False, "pg2": False}, "before: %s" % flags())
    q.ctl("maintenance", "on", "pg2", check_rc=True)
    t.check(flags() == {"pg1": False, "pg2": True}, "after maintenance on pg2: %s" % flags())
    q.ctl("maintenance", "off", "pg2", check_rc=True)
    t.check(flags() == {"pg1": False, "pg2": False}, "after maintenance off pg2: %s" % flags())
    t.one_line_error(q.ctl("maintenance", "on", "nope"), 1, "no node nope in cluster main",
                   "maintenance on nope")
    # The node exists, but not in that cluster.
    t.one_line_error(q.ctl("maintenance", "on", "pg1", "--cluster", "other"), 1,
                   "no node pg1 in cluster other", "maintenance on pg1 --cluster other")
    t.check(flags() == {"pg1": False, "pg2": False}, "after the refusals: %s" % flags())


def test_monitors_from_env(sb):
    """PGQUORUM_MONITORS replaces --monitors, --monitors wins over it, and with a dead address
    listed first reads and writes are answered by the next monitors."""
    q = t.Quorum(sb, 3).start()
    p = ctl_env(q.addresses, "node", "add", "pg1", "--conninfo", conninfo(0))
    t.check(p.returncode == 0, "node add with PGQUORUM_MONITORS: %d %s" % (p.returncode, p.stderr))
    p = ctl_env(q.addresses, "status", "--json")
    t.check(p.returncode == 0, "status with PGQUORUM_MONITORS: %d %s" % (p.returncode, p.stderr))
    t.check([n["name"] for n in json.loads(p.stdout)["nodes"]] == ["pg1"], "status: %s" % p.stdout)

    # --monitors is used, not the environment, when both are given.
    p = ctl_env(dead_monitor(), "--monitors", q.addresses, "status", "--json")
    t.check(p.returncode == 0, "--monitors over a dead PGQUORUM_MONITORS: %d %s"
            % (p.returncode, p.stderr))
    p = ctl_env(dead_monitor(), "status")
    t.one_line_error(p, 3, "no monitor reachable", "status with only a dead PGQUORUM_MONITORS")

    # The first monitor listed is a closed port: the CLI goes on to the next ones.
    listed = dead_monitor() + "," + q.addresses
    p = ctl_env(listed, "node", "add", "pg2", "--conninfo", conninfo(1), "--priority", "10")
    t.check(p.returncode == 0, "write with a dead first monitor: %d %s" % (p.returncode, p.stderr))
    p = ctl_env(listed, "status", "--json")
    t.check(p.returncode == 0, "read with a dead first monitor: %d %s" % (p.returncode, p.stderr))
    st = json.loads(p.stdout)
    t.check({n["name"]: n["priority"] for n in st["nodes"]} == {"pg1": 50, "pg2": 10},
            "status with a dead first monitor: %s" % st["nodes"])
    t.check(st["leader"] in (1, 2, 3), "no leader named: %s" % st["leader"])
    t.check([m["reachable"] for m in st["monitors"]] == [True, True, True],
            "monitor table: %s" % st["monitors"])


# Each command's --help and words its usage must show.
HELP = [
    (["--help"], "Usage: pgquorumctl [--monitors"),
    (["status", "--help"], "Usage: pgquorumctl status"),
    (["events", "--help"], "Usage: pgquorumctl events"),
    (["uri", "--help"], "Usage: pgquorumctl uri"),
    (["node", "--help"], "Usage: pgquorumctl node add NAME --conninfo"),
    (["node", "add", "--help"], "Usage: pgquorumctl node add NAME --conninfo"),
    (["node", "remove", "--help"], "pgquorumctl node remove NAME"),
    (["maintenance", "--help"], "Usage: pgquorumctl maintenance on NAME [--allow-failover]"),
    (["maintenance", "on", "--help"], "pgquorumctl maintenance off NAME"),
    (["pause", "--help"], "Usage: pgquorumctl pause [--cluster NAME]"),
    (["resume", "--help"], "Usage: pgquorumctl resume [--cluster NAME]"),
    (["debug", "failpoint", "--help"], "Usage: pgquorumctl debug failpoint NAME"),
    (["role", "--help"], "Usage: pgquorumctl role NAME viewer|operator|admin|none"),
    (["grant", "--help"], "Usage: pgquorumctl grant ACTION to NAME [on cluster CLUSTER]"),
    (["deny", "--help"], "Usage: pgquorumctl deny ACTION to NAME"),
    (["revoke", "--help"], "Usage: pgquorumctl revoke ACTION from NAME"),
    (["whoami", "--help"], "Usage: pgquorumctl whoami [--json]"),
    (["token", "--help"], "Usage: pgquorumctl token hash"),
]
COMMANDS = ["status", "events", "uri", "node add", "node remove",
            "maintenance on NAME [--allow-failover]", "maintenance off", "pause", "resume",
            "role NAME", "grant ACTION to NAME", "deny ACTION", "revoke ACTION", "whoami",
            "token hash", "debug failpoint"]


def test_help_and_version(sb):
    """--help on every command exits 0 with its usage on standard output, even with no
    monitor reachable; an unknown option exits 2; --version exits 0 with the version."""
    for args, words in HELP:
        for monitors in (None, dead_monitor()):
            p = ctl_env(monitors, *args)
            t.check(p.returncode == 0, "%s: exit %d (%s)" % (args, p.returncode, p.stderr.strip()))
            t.check(words in p.stdout, "%s: stdout %r does not show %r" % (args, p.stdout, words))
            t.check(p.stderr == "", "%s: wrote to stderr: %r" % (args, p.stderr))
    p = ctl_env(None, "--help")
    for cmd in COMMANDS:
        t.check("  " + cmd in p.stdout, "--help does not list %r" % cmd)
    for args, bad in ((["--bogus"], "--bogus"), (["status", "--bogus"], "--bogus"),
                      (["node", "add", "x", "--conninfo", "host=h", "--prio", "3"], "--prio")):
        p = ctl_env(dead_monitor(), *args)
        t.check(p.returncode == 2, "%s: exit %d, expected 2" % (args, p.returncode))
        t.check('unknown option "%s"' % bad in p.stderr, "%s: %r" % (args, p.stderr))
        t.check(p.stdout == "", "%s: wrote to stdout: %r" % (args, p.stdout))
    for args in (["--version"], ["-V"], ["status", "--version"]):
        p = ctl_env(None, *args)
        t.check(p.returncode == 0 and re.fullmatch(r"pgquorumctl \d+\.\d+\.\d+\n", p.stdout),
                "%s: exit %d, %r" % (args, p.returncode, p.stdout))


MONITOR_COLUMNS = ["ID", "API", "Raft", "Role", "Vote", "Term", "Commit", "Applied", "Reachable"]
NODE_COLUMNS = ["Node", "Role", "Health", "Prio", "Maint", "TL", "LSN", "Lag", "Cache", "Index",
                "Conns", "Observed", "Views"]


def parse_table(text):
    """The human status: (leader header, monitor header, {id: row tokens},
    {cluster: (node header, {name: row tokens})})."""
    lines = text.splitlines()
    t.check(lines and lines[0].startswith("Monitors (leader: "), "no monitors header: %r" % text)
    leader = lines[0][len("Monitors (leader: "):].rstrip(")")
    mon_header = lines[1].split()
    monitors, clusters, cluster = {}, {}, None
    for line in lines[2:]:
        if not line.strip():
            cluster = None
            continue
        if line.startswith("Cluster "):
            cluster = line.split()[1].rstrip(":")
            clusters[cluster] = (None, {})
        elif cluster is None:
            tok = line.split()
            monitors[tok[0]] = tok
        elif line.startswith("  Node "):
            clusters[cluster] = (line.split(), clusters[cluster][1])
        elif line.startswith("  ") and not line.startswith("   "):
            tok = line.split()
            clusters[cluster][1][tok[0]] = tok
    return leader, mon_header, monitors, clusters


def test_status_table(sb):
    """The human status shows the monitor table (ID, API, Raft, Role, Vote, Term, Commit,
    Applied, Reachable), one row per monitor with its role and its place in the Raft
    configuration, the node table (Node, Role, Health, Prio,
    Maint) with one row per node, and a monitor killed -9 as unreachable, not reachable."""
    q = t.Quorum(sb, 3).start()
    prio = {"pga": 70, "pgb": 50, "pgc": 0}
    for i, (name, p) in enumerate(sorted(prio.items())):
        q.ctl("node", "add", name, "--conninfo", conninfo(i), "--priority", str(p), check_rc=True)
    q.ctl("maintenance", "on", "pgc", check_rc=True)
    leader = q.wait_leader()
    text = q.ctl("status", check_rc=True).stdout
    hdr, mon_header, monitors, clusters = parse_table(text)
    t.check(hdr == str(leader), "header names leader %r, expected %d\n%s" % (hdr, leader, text))
    t.check(mon_header == MONITOR_COLUMNS, "monitor columns: %s" % mon_header)
    t.check(sorted(monitors) == ["1", "2", "3"], "monitor rows: %s\n%s" % (sorted(monitors), text))
    for m in q.monitors:
        row = monitors[str(m.id)]
        want_role = "leader" if m.id == leader else "follower"
        t.check(row[1] == m.api_address and row[2] == m.raft_address,
                "monitor %d addresses: %s" % (m.id, row))
        t.check(row[3] == want_role, "monitor %d role %s, expected %s" % (m.id, row[3], want_role))
        t.check(row[4] == "voter", "monitor %d vote: %s" % (m.id, row[4]))
        t.check(all(x.isdigit() for x in row[5:8]), "monitor %d term/indexes: %s" % (m.id, row))
        t.check(row[8] == "yes", "monitor %d reachable: %s" % (m.id, row[8:]))
    t.check(sorted(clusters) == ["main"], "clusters: %s\n%s" % (sorted(clusters), text))
    node_header, nodes = clusters["main"]
    t.check(node_header == NODE_COLUMNS, "node columns: %s" % node_header)
    t.check(sorted(nodes) == sorted(prio), "node rows: %s\n%s" % (sorted(nodes), text))
    for name, p in prio.items():
        row = nodes[name]
        t.check(row[3] == str(p), "%s Prio %s, expected %d" % (name, row[3], p))
        t.check(row[4] == ("on" if name == "pgc" else "-"), "%s Maint %s" % (name, row[4]))
        t.check(row[1] == "unknown", "%s Role %s: never reached, expected unknown" % (name, row[1]))
        t.check(row[2] in ("unknown", "down"), "%s Health %s: a closed port" % (name, row[2]))

    victim = next(m for m in q.monitors if m.id != leader)
    victim.kill()
    text = q.ctl("status", check_rc=True).stdout
    hdr, _, monitors, clusters = parse_table(text)
    t.check(hdr == str(leader), "leader after a follower died: %r\n%s" % (hdr, text))
    t.check(sorted(monitors) == ["1", "2", "3"], "monitor rows: %s\n%s" % (sorted(monitors), text))
    row = monitors[str(victim.id)]
    t.check(row[1] == victim.api_address and
            row[3:] == ["unreachable", "voter", "-", "-", "-", "no"],
            "killed monitor %d row: %s\n%s" % (victim.id, row, text))
    for m in q.monitors:
        if m is not victim:
            t.check(monitors[str(m.id)][8] == "yes", "monitor %d row: %s" % (m.id,
                                                                            monitors[str(m.id)]))
    t.check(sorted(clusters["main"][1]) == sorted(prio), "nodes after the kill:\n%s" % text)


def test_node_remove(sb):
    """node remove NAME takes the node out of status (of its cluster only); removing it
    again exits 1 with a one-line reason."""
    q = t.Quorum(sb, 3).start()
    q.ctl("node", "add", "pg1", "--conninfo", conninfo(0), check_rc=True)
    q.ctl("node", "add", "pg2", "--conninfo", conninfo(1), check_rc=True)
    q.ctl("node", "add", "pg2", "--conninfo", conninfo(2), "--cluster", "other", check_rc=True)
    t.check(sorted(by_name(q.status())) == [("main", "pg1"), ("main", "pg2"), ("other", "pg2")],
            "nodes: %s" % sorted(by_name(q.status())))
    q.ctl("node", "remove", "pg2", check_rc=True)
    nodes = by_name(q.status())
    t.check(sorted(nodes) == [("main", "pg1"), ("other", "pg2")], "after remove: %s" % sorted(nodes))
    t.one_line_error(q.ctl("node", "remove", "pg2"), 1, "no node pg2 in cluster main",
                   "second node remove pg2")
    q.ctl("node", "remove", "pg2", "--cluster", "other", check_rc=True)
    nodes = by_name(q.status())
    t.check(sorted(nodes) == [("main", "pg1")], "after remove --cluster other: %s" % sorted(nodes))
    t.one_line_error(q.ctl("node", "remove", "pg2", "--cluster", "other"), 1,
                   "no node pg2 in cluster other", "second node remove pg2 --cluster other")


def test_write_says_what_committed(sb):
    """node add, node remove and maintenance on/off print one line on standard output saying
    what was committed and at which log index, rising from one write to the next."""
    q = t.Quorum(sb, 3).start()
    steps = [
        (["node", "add", "pg1", "--conninfo", conninfo(0), "--priority", "70"],
         r"node pg1 added to cluster main \(priority 70\): committed at index (\d+)\n"),
        (["maintenance", "on", "pg1"],
         r"node pg1 of cluster main in maintenance: committed at index (\d+)\n"),
        (["maintenance", "off", "pg1"],
         r"node pg1 of cluster main out of maintenance: committed at index (\d+)\n"),
        (["node", "remove", "pg1"], r"node pg1 removed from cluster main: committed at index (\d+)\n"),
    ]
    last = 0
    for args, pattern in steps:
        p = q.ctl(*args, check_rc=True)
        m = re.fullmatch(pattern, p.stdout)
        t.check(m is not None, "%s: stdout %r, expected %r" % (" ".join(args), p.stdout, pattern))
        t.check(int(m.group(1)) > last, "%s: index %s after %d" % (args[0], m.group(1), last))
        t.check(p.stderr == "", "%s: wrote to stderr: %r" % (" ".join(args), p.stderr))
        last = int(m.group(1))


def test_write_without_monitor(sb):
    """A write with every monitor refusing the connection fails at once (exit 3, one line naming
    each address), not after --wait; with a monitor answering but no leader, it says on stderr
    that it waits, for what, and what it tried, then fails after --wait (exit 1)."""
    began = time.monotonic()
    p = ctl_env(None, "--monitors", dead_monitor() + ",127.0.0.1:%d" % DEAD_PORTS[-2], "node",
                "add", "pgx", "--conninfo", conninfo(0))
    took = time.monotonic() - began
    t.one_line_error(p, 3, "no monitor reachable: %s: connect: Connection refused; 127.0.0.1:%d: "
                   "connect: Connection refused" % (dead_monitor(), DEAD_PORTS[-2]),
                   "node add with no monitor listening")
    t.check(took < 3, "node add with no monitor listening took %.1fs (the --wait is 15s)" % took)

    q = t.Quorum(sb, 3)
    lone = q.monitor(1).start()  # one voter of three: no leader, ever
    listed = "%s,%s" % (lone.api_address, dead_monitor())

    def no_leader():
        p = ctl_env(None, "--monitors", lone.api_address, "status", "--json")
        return p.returncode == 0
    t.wait_until(no_leader, 20, "the lone monitor answering")
    began = time.monotonic()
    p = ctl_env(None, "--monitors", listed, "--wait", "2s", "node", "add", "pgx", "--conninfo",
                conninfo(0))
    took = time.monotonic() - began
    lines = p.stderr.splitlines()
    t.check(p.returncode == 1 and len(lines) == 2, "exit %d, stderr %r" % (p.returncode, p.stderr))
    t.check(lines[0].startswith("pgquorumctl: waiting up to 2s for a monitor leader (tried %s: "
                                "no leader" % lone.api_address) and
            ("%s: connect: Connection refused)" % dead_monitor()) in lines[0],
            "the waiting line: %r" % lines[0])
    t.check("no leader accepted the command in 2000 ms" in lines[1], "the end: %r" % lines[1])
    t.check(2 <= took < 6, "node add without a leader took %.1fs with --wait 2s" % took)


def test_not_a_monitor(sb):
    """Pointed at an HTTP server, pgquorumctl says that it is not a pgquorum monitor and what
    it answered (not a bogus reply length), at once, for reads and writes (exit 3)."""
    import http.server
    import threading
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    address = "127.0.0.1:%d" % httpd.server_address[1]
    try:
        for args in (["events"], ["node", "add", "pgx", "--conninfo", conninfo(0)],
                     ["maintenance", "on", "pgx"]):
            began = time.monotonic()
            p = ctl_env(None, "--monitors", address, *args)
            took = time.monotonic() - began
            if t.TLS:
                # Under TLS the handshake is where it shows.
                t.one_line_error(p, 3, "%s: TLS handshake with the monitor failed: the peer does "
                               "not speak TLS" % address, " ".join(args))
            else:
                t.one_line_error(p, 3, '%s: not a pgquorum monitor (it answered "<!DOCTYPE '
                               'HTML>")' % address, " ".join(args))
            t.check("over the limit" not in p.stderr, "%s: %r" % (args, p.stderr))
            t.check(took < 3, "%s took %.1fs" % (args, took))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_status_right_after_leader_death(sb):
    """Right after the leader is killed, before anyone notices, status does not name it in
    its header (its row says unreachable): none, until a new leader answers; then that one."""
    q = t.Quorum(sb, 3, {"raft.election_timeout": "4s", "failover.lease_time": "10s"}).start()
    old = q.wait_leader(timeout=40)

    def all_listed():
        for m in q.monitors:
            p = ctl_env(None, "--monitors", m.api_address, "status", "--json", "--local")
            if p.returncode != 0 or len(json.loads(p.stdout)["monitors"]) != 3:
                return False
        return True
    # Every monitor has applied the leader's hello: each lists the three.
    t.wait_until(all_listed, 20, "every monitor listing the three")
    q.monitor(old).kill()
    p = q.ctl("status", check_rc=True)
    hdr, _, monitors, _ = parse_table(p.stdout)
    t.check(sorted(monitors) == ["1", "2", "3"], "monitor rows: %s\n%s" % (sorted(monitors),
                                                                          p.stdout))
    t.check(monitors[str(old)][3:] == ["unreachable", "voter", "-", "-", "-", "no"],
            "the dead leader's row: %s\n%s" % (monitors[str(old)], p.stdout))
    t.check(hdr == "none", "header names leader %r, its row unreachable\n%s" % (hdr, p.stdout))
    st = json.loads(q.ctl("status", "--json", check_rc=True).stdout)
    t.check(st["leader"] is None or st["leader"] != old, "--json names the dead leader: %s"
            % st["leader"])
    new = q.wait_leader(timeout=40, exclude=(old,))
    hdr, _, monitors, _ = parse_table(q.ctl("status", check_rc=True).stdout)
    t.check(hdr == str(new) and monitors[str(new)][3] == "leader",
            "after the election: header %r, monitor %d row %s" % (hdr, new, monitors[str(new)]))


if __name__ == "__main__":
    t.main([test_node_add, test_maintenance, test_monitors_from_env, test_help_and_version,
            test_status_table, test_node_remove, test_write_says_what_committed,
            test_write_without_monitor, test_not_a_monitor, test_status_right_after_leader_death])
