#!/usr/bin/env python3
"""What a probe costs PostgreSQL: server CPU per probe, on a new connection and on a kept one.

A monitor's full round opens a new connection (a frozen postmaster still answers on a kept
connection but accepts no one else) unless the node's agent vouches for its liveness (it checks
a fresh local connection every heartbeat_interval): then the round reuses the kept connection.
This measures the three costs on a real PostgreSQL 15 server:

  - a monitor's probe on a new connection (backend start, authentication, the probe query,
    the backend's exit),
  - a monitor's probe on its kept connection (the query alone),
  - a node agent's local check (a new connection and its small query),

as the CPU time of the postmaster and all its processes (utime + stime of each from
/proc/PID/stat, and cutime + cstime of the postmaster for the backends it reaped), minus the
server's idle CPU over the same time, divided by the number of probes. The SQL is the daemons'
own: a real quorum and agent run against the server first, with log_statement = 'all', and
their statements are read from the server's log; they are stopped before the measurement, which
replays each statement with psql the way the daemon runs it (a new connection with the
monitor's application_name and statement_timeout, or many statements on one connection).

Usage: tools/bench_probe.py --builddir BUILD [--probes N] [--runs N]
(`make bench BENCH_ONLY=probe`, and the scale bench, call it.)
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(ppid, utime + stime, cutime + cstime) in seconds, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, \
        (int(fields[13]) + int(fields[14])) / TICK


def server_cpu(pm_pid):
    """CPU seconds of the postmaster and its children, the exited ones included (a backend
    the postmaster reaped is in its cutime and cstime)."""
    st = proc_stat(pm_pid)
    total = st[1] + st[2]
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pm_pid:
            continue
        s = proc_stat(int(name))
        if s is not None and s[0] == pm_pid:
            total += s[1] + s[2]
    return total


def capture_sql(t, sb, pg):
    """The probe statement of a monitor and the local check of an agent, from the log of a
    server that a real quorum (interval 1 s) and an agent watched for a few seconds."""
    q = t.Quorum(sb, 3, {"health.interval": "1s"}).start()
    agent = t.Agent(sb, pg, q.addresses).start()
    t.wait_until(lambda: (t.agent_of(q, pg.name) or {}).get("state") == "up", 60,
                 "the agent of %s up" % pg.name)
    pg.sql("ALTER SYSTEM SET log_statement = 'all'")
    pg.sql("ALTER SYSTEM SET log_line_prefix = '%a|'")
    pg.sql("SELECT pg_reload_conf()")
    time.sleep(4)
    pg.sql("ALTER SYSTEM RESET log_statement")
    pg.sql("ALTER SYSTEM RESET log_line_prefix")
    pg.sql("SELECT pg_reload_conf()")
    q.stop_all()
    agent.kill()
    probe = check = None
    with open(pg.logfile, errors="replace") as f:
        for line in f:
            app, _, rest = line.partition("|")
            if "LOG:  statement: " not in rest:
                continue
            sql = rest.split("LOG:  statement: ", 1)[1].rstrip("\n")
            if app.startswith("pgquorum-monitor-") and sql.startswith("SELECT pg_is_in_recovery(),"):
                probe = sql
            elif app == "pgquorum-agent":
                check = sql
    if probe is None or check is None:
        raise RuntimeError("the daemons' statements are not in %s" % pg.logfile)
    return probe, check


def psql_cmd(pg, app):
    conninfo = "%s application_name=%s options='-c statement_timeout=5000'" % (pg.conninfo, app)
    return ["psql", conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1"]


def measure(pm_pid, idle_rate, n, run):
    """Server CPU per operation of run() (n operations), beyond the idle rate: ms."""
    t0, c0 = time.monotonic(), server_cpu(pm_pid)
    run()
    t1, c1 = time.monotonic(), server_cpu(pm_pid)
    return max(c1 - c0 - idle_rate * (t1 - t0), 0.0) * 1000.0 / n


def new_connections(pg, app, sql, n):
    def run():
        for _ in range(n):
            subprocess.run(psql_cmd(pg, app) + ["-c", sql], check=True,
                           stdout=subprocess.DEVNULL, timeout=30)
    return run


def kept_connection(pg, app, sql, n):
    def run():
        script = (sql.rstrip().rstrip(";") + ";\n") * n
        subprocess.run(psql_cmd(pg, app) + ["-f", "-"], input=script, text=True, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
    return run


def bench(t, probes=150, runs=3):
    sb = t.Sandbox("pgq-bench-probe")
    try:
        pg = t.Postgres(sb, "pg1").initdb().start()
        probe_sql, check_sql = capture_sql(t, sb, pg)
        pm = pg.pid()
        time.sleep(1)
        c0, t0 = server_cpu(pm), time.monotonic()
        time.sleep(5)
        idle_rate = (server_cpu(pm) - c0) / (time.monotonic() - t0)
        rows = {"new": [], "kept": [], "agent": []}
        for _ in range(runs):
            rows["new"].append(measure(pm, idle_rate, probes, new_connections(
                pg, "pgquorum-monitor-1", probe_sql, probes)))
            rows["kept"].append(measure(pm, idle_rate, probes * 5, kept_connection(
                pg, "pgquorum-monitor-1", probe_sql, probes * 5)))
            rows["agent"].append(measure(pm, idle_rate, probes, new_connections(
                pg, "pgquorum-agent", check_sql, probes)))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print("PostgreSQL 15 server CPU per probe (postmaster and its processes, /proc/PID/stat, "
              "idle %.2f ms/s subtracted; %d runs, ms min / median / max)" % (
                  idle_rate * 1000, runs))
        for k, label, n in (("new", "monitor probe, new connection (round, no agent)", probes),
                            ("kept", "monitor probe, kept connection (agent vouches)", probes * 5),
                            ("agent", "agent's local check (new connection)", probes)):
            v = rows[k]
            print("  %-50s %6.2f %6.2f %6.2f   (%d each run)" % (label, min(v), med[k], max(v), n))
        print("  new / kept: %.1fx" % (med["new"] / med["kept"] if med["kept"] > 0 else 0))
        print("\nServer CPU per node, ms per second, 3 monitors, agent heartbeat_interval 1 s:")
        print("  %-14s %12s %24s" % ("interval", "no agent", "agent (probes + check)"))
        for interval in (30.0, 5.0, 1.0):
            no_agent = 3 * med["new"] / interval
            kept = 3 * med["kept"] / interval
            print("  %-14s %12.2f %14.2f + %.2f = %.2f" % (
                "%gs" % interval, no_agent, kept, med["agent"], kept + med["agent"]))
        sys.stdout.flush()
        return med
    finally:
        sb.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--builddir")
    ap.add_argument("--probes", type=int, default=150)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.builddir:
        os.environ["PGQ_BUILDDIR"] = args.builddir
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    import pgqtest as t
    bench(t, args.probes, args.runs)


if __name__ == "__main__":
    main()
