#!/usr/bin/env python3
"""make demo: a pgquorum sandbox on loopback.

Three monitors, a PostgreSQL 15 primary and two standbys (pg_basebackup), a
node agent beside each PostgreSQL (it registers its node), all in a temporary
directory. It shows the status, kills the primary with SIGKILL, shows the
failover as it happens, then the old primary rejoining as a standby (its
agent rewinds it), then a planned switchover back to it under the same
writer, prints status and events, and cleans up; with --keep it leaves the
sandbox running, says how to play with it, and writes a script that stops
everything and removes the sandbox (sh SANDBOX/stop).
"""

import argparse
import os
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))


STOP_SCRIPT = """#!/bin/sh
# Stops what the pgquorum demo left running (its node agents, monitors and
# PostgreSQL servers) and removes its sandbox %(dir)s.
dir=%(qdir)s
ours() {  # a live process whose command line names the sandbox (not a reused PID)
    [ -r "/proc/$1/cmdline" ] && tr '\\0' ' ' < "/proc/$1/cmdline" | grep -qF "$dir"
}
for pid in %(pids)s; do
    ours "$pid" && kill -9 "$pid"
done
for data in %(datadirs)s; do
    [ -f "$data/postmaster.pid" ] || continue
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- %(pg_ctl)s -D "$data" -m immediate -w stop >/dev/null 2>&1
    else
        %(pg_ctl)s -D "$data" -m immediate -w stop >/dev/null 2>&1
    fi
done
for shm in %(shms)s; do  # left by a postmaster killed during the demo
    ipcrm -m "$shm" 2>/dev/null
done
rm -rf "$dir"
echo "pgquorum demo stopped; $dir removed"
"""


def write_stop_script(t, sb):
    """SANDBOX/stop: what Sandbox.cleanup does, for after this program has exited."""
    path = sb.path("stop")
    with open(path, "w") as f:
        f.write(STOP_SCRIPT % {
            "dir": sb.dir, "qdir": shlex.quote(sb.dir),
            "pids": " ".join(str(p.pid) for p in sb.procs),
            "datadirs": " ".join(shlex.quote(pg.datadir) for pg in sb.postgres),
            "shms": " ".join(str(pg._killed_shm) for pg in sb.postgres
                             if getattr(pg, "_killed_shm", None) is not None),
            "pg_ctl": shlex.quote(os.path.join(t.PG_BINDIR, "pg_ctl"))})
    os.chmod(path, 0o755)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--builddir", help="where pgquorumd and pgquorumctl were built")
    ap.add_argument("--keep", action="store_true", help="stay up after the demo until Ctrl-C")
    ap.add_argument("--fast", action="store_true", help="1 s health and failover settings")
    args = ap.parse_args()
    if args.builddir:
        os.environ["PGQ_BUILDDIR"] = args.builddir
    import pgqtest as t

    settings = {}
    if args.fast:
        settings = {"health.interval": "1s", "health.retry_interval": "1s",
                    "health.retries": "1", "failover.failover_timeout": "1s"}
    sb = t.Sandbox("pgquorum-demo")
    t.CURRENT_SANDBOX = sb  # http_get speaks TLS with the demo's CA
    scheme = "https" if t.TLS else "http"
    # With --keep a failed demo stops its processes but leaves the logs.
    sb.keep = args.keep
    kept = False
    try:
        t.log("sandbox: %s" % sb.dir)
        t.log("starting PostgreSQL: pg1 (primary), pg2 and pg3 (standbys, pg_basebackup)")
        nodes = t.make_pg_cluster(sb, 2, sync=False)
        q = t.Quorum(sb, 3, settings)
        if t.TLS:
            t.log("TLS on: a CA in %s signs each monitor's, agent's and the operator's "
                  "certificate (openssl)" % sb.path("tls"))
        t.log("starting 3 monitors (Raft quorum)")
        q.start()
        for n in nodes:
            t.Agent(sb, n, q.addresses).start()
            t.log("node agent beside %s: pgquorumd --config %s (as postgres)" % (
                n.name, sb.path("agent-%s.ini" % n.name)))

        def up():
            st = q.status()
            return (len(st["nodes"]) == 3 and st["clusters"][0]["primary"] == "pg1" and
                    all(n["health"] == "up" and n["agent"] and n["agent"]["state"] == "up"
                        for n in st["nodes"]))
        t.wait_until(up, 90, "nodes registered by their agents and up")
        print()
        print(q.ctl("status").stdout)
        ags = {a.pg.name: a for a in sb.agents}
        t.log("HTTP health checks, as a load balancer asks them (Patroni's endpoints):")
        for n in nodes:
            a = ags[n.name]
            for path in ("/primary", "/replica"):
                st, _ = t.http_get(a.http_address, path)
                t.log("  GET %s://%s%s (agent of %s) -> %d" % (scheme, a.http_address, path, n.name,
                                                               st))
        mon = q.monitors[0].http_address
        st, _ = t.http_get(mon, "/node/pg1/primary")
        t.log("  GET %s://%s/node/pg1/primary (monitor 1) -> %d" % (scheme, mon, st))
        text = t.http_get(mon, "/metrics")[1]
        t.log("Prometheus metrics: %s://%s/metrics, for example:" % (scheme, mon))
        for line in text.splitlines():
            if line.startswith(("pgquorum_node_cache_hit_ratio{", "pgquorum_node_replication_lag",
                                "pgquorum_raft_term")):
                t.log("  " + line)
        uri = q.ctl("uri", check_rc=True).stdout.strip()
        t.log("application URI: %s" % uri)
        nodes[0].sql("CREATE TABLE demo (id serial PRIMARY KEY, at timestamptz DEFAULT now())")

        w = t.Writer(uri, lambda i: "INSERT INTO demo DEFAULT VALUES")
        w.start()
        t.wait_until(lambda: len(w.acked) > 5, 30, "writes through the URI")
        print()
        t.log("a client writes through the URI; now: kill -9 the primary's postmaster")
        nodes[0].kill9()
        killed = time.monotonic()
        seen = set(e["seq"] for e in q.events())

        def show_until(pred, limit=120):
            began = time.monotonic()
            done = False
            while not done and time.monotonic() - began < limit:
                for e in q.events():
                    if e["seq"] in seen:
                        continue
                    seen.add(e["seq"])
                    dur = " (%d ms)" % e["duration_ms"] if e["duration_ms"] else ""
                    t.log("event: %-17s %s%s" % (e["event"], e["message"], dur))
                    done |= pred(e)
                time.sleep(0.1)
        show_until(lambda e: e["event"] == "failover-done")
        first = t.wait_until(lambda: w.first_after(killed), 60, "a write on the new primary")
        t.log("first acknowledged write %.2f s after the kill" % first)
        print()
        t.log("the old primary's agent rejoins it as a standby (pg_rewind)")
        show_until(lambda e: e["event"] == "rejoin" and "rejoined" in e["message"])
        print()
        t.log("planned switchover back to pg1 under the same writer: pgquorumctl switchover "
              "--to pg1")
        q.ctl("switchover", "--to", "pg1", check_rc=True)
        asked = time.monotonic()
        show_until(lambda e: e["event"] == "failover-done")
        t.wait_until(lambda: w.first_after(asked + 0.5), 60, "writes after the switchover")
        w.finish()
        times = [ts for _, ts in w.acked if ts >= asked - 1]
        t.log("switchover: the longest time without an acknowledged write %.2f s" % max(
            (b - a for a, b in zip(times, times[1:])), default=0.0))
        print()
        print(q.ctl("status").stdout)
        print(q.ctl("events").stdout)
        if args.keep:
            stop = write_stop_script(t, sb)
            tls = t.sb_ctl_env(sb) if t.TLS else "  (tls = off: add --plain)\n"
            print(("The sandbox %s stays up (3 monitors, 3 PostgreSQL, 3 node agents). Try:\n"
                   "  export PGQUORUM_MONITORS=%s\n" + tls +
                   "  %s status\n  %s events\n  psql '%s'\n"
                   "Logs: %s/monitor*.log, agent-*.log, pg*/postgres.log.\n"
                   "To stop everything and remove the sandbox: sh %s")
                  % (sb.dir, q.addresses, t.PGQUORUMCTL, t.PGQUORUMCTL, uri, sb.dir, stop))
            kept = True
    finally:
        if not kept:
            t.log("cleaning up")
            sb.cleanup()


if __name__ == "__main__":
    main()
