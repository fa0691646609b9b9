#!/usr/bin/env python3
"""Node agents heal the cluster: a former primary or a diverged standby is rewound (or
cloned again) and rejoins as a standby, an empty data directory becomes a standby, with real
PostgreSQL 15, real monitors and real agents."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Fast probes: the rejoin itself is the agent's; the monitors only have to see it.
FAST = dict(t.FAST)


def rejoin_of(q, name, st=None):
    a = t.agent_of(q, name, st)
    return a["rejoin"] if a else None


def wait_rejoined(q, pg, primary, timeout=120):
    """pg streams from primary on its timeline, the quorum lists it as a standby again, and its
    agent says it rejoined."""
    t.check_follows(pg, primary, timeout=timeout)

    def back():
        st = q.status()
        n = q.node(pg.name, st)
        return n["role"] == "standby" and n["agent"]["rejoin"]["state"] == "streaming"
    t.wait_until(back, 60, "%s listed as a standby again, its agent saying it streams" % pg.name)


def check_slot(primary, name):
    """primary holds the slot of node `name`, in use."""
    t.wait_until(lambda: primary.sql(
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'pgq_%s'" % name) == "t",
        30, "slot pgq_%s active on %s" % (name, primary.name))


def kill_primary_and_fail_over(q, nodes):
    pg1 = nodes[0]
    pg1.kill9()
    killed = time.monotonic()
    c = t.wait_failover(q, 2, timeout=90)
    new = next(n for n in nodes if n.name == c["primary"])
    t.check_single_promotion(q, nodes, new)
    return new, killed


def test_old_primary_rewound(sb):
    """A primary whose postmaster was killed is replaced; its agent then rewinds it from the
    new primary (pg_rewind), keeps its own configuration, and it streams from the new primary
    on timeline 2 with its slot; the quorum lists it as a standby again."""
    nodes, q, ags = t.agent_setup(sb, settings=FAST)
    pg1 = nodes[0]
    new, killed = kill_primary_and_fail_over(q, nodes)
    wait_rejoined(q, pg1, new)
    t.log("pg1 rejoined %.1f s after its postmaster was killed" % (time.monotonic() - killed))
    check_slot(new, "pg1")
    t.check(pg1.sql("SELECT count(*) FROM pg_replication_slots") == "0",
            "pg1 kept the slots it held as the primary: %s" % pg1.sql(
                "SELECT string_agg(slot_name, ',') FROM pg_replication_slots"))
    msgs = [e["message"] for e in t.events_of(q, "rejoin") if e["node"] == "pg1"]
    t.check(any("rewinding" in m for m in msgs) and any("rejoined" in m for m in msgs),
            "rejoin events of pg1: %s" % msgs)
    t.check(not any("cloned" in m for m in msgs), "pg1 was cloned, not rewound: %s" % msgs)


def lone_writes(w, primary):
    """What the writer w had acknowledged that primary does not hold."""
    have = set(int(x) for x in primary.sql("SELECT i FROM w").split())
    return [i for i, _ in w.acked if i not in have]


def test_partitioned_primary_rewound(sb):
    """A primary cut off from everyone keeps acknowledging writes of its own (asynchronous
    replication) until its agent fences it; once the partition heals, its agent rewinds it
    from the new primary: the writes it alone had are gone from it, and the rejoin event counts
    at least as many commits discarded."""
    nodes, q, ags = t.agent_setup(sb, agents=("pg1",), settings=FAST)
    pg1 = nodes[0]
    pg1.sql("CREATE TABLE w (i int)")
    w = t.SessionWriter(pg1.port, lambda i: "INSERT INTO w VALUES (%d)" % i)
    w.start()
    t.wait_until(lambda: len(w.acked) > 20, 20, "writes on pg1")
    client_port = w.session.sock.getsockname()[1]
    api_ports = ",".join(m.api_address.split(":")[1] for m in q.monitors)
    t.nft("table inet pgqcut", "delete table inet pgqcut", "table inet pgqcut {",
          " chain out { type filter hook output priority 0;",
          "  tcp dport %d tcp sport != %d drop" % (pg1.port, client_port),
          "  meta skuid postgres tcp dport { %s } drop" % api_ports,
          " }", "}")
    t.log("pg1 and its agent cut off (nftables), client port %d kept" % client_port)
    try:
        c = t.wait_failover(q, 2, timeout=90)
        w.finish()
    finally:
        t.nft_heal()
    healed = time.monotonic()
    new = next(n for n in nodes if n.name == c["primary"])
    lone = lone_writes(w, new)
    t.log("pg1 acknowledged %d writes that %s does not have" % (len(lone), new.name))
    t.check(lone, "pg1 took no write of its own: the test proves nothing")
    wait_rejoined(q, pg1, new)
    t.log("pg1 rejoined %.1f s after the partition healed" % (time.monotonic() - healed))
    kept = int(pg1.sql("SELECT count(*) FROM w WHERE i IN (%s)" % ",".join(map(str, lone))))
    t.check(kept == 0, "pg1 still holds %d of the writes it alone had" % kept)
    ev = [e for e in t.events_of(q, "rejoin") if e["node"] == "pg1" and "rewound" in
          e["message"]]
    t.check(ev, "no rewind event for pg1: %s" % [e["message"] for e in t.events_of(q, "rejoin")])
    counted = int(ev[-1]["message"].split(": ")[1].split(" ")[0])
    t.log("event: %s" % ev[-1]["message"])
    t.check(counted >= len(lone), "the event counts %d commits discarded, pg1 had %d of its own"
            % (counted, len(lone)))


def without_rewind(pg):
    """pg can no longer be rewound: wal_log_hints off (initdb made no checksums)."""
    pg.sql("ALTER SYSTEM SET wal_log_hints = off")
    t.run(t.as_postgres([os.path.join(t.PG_BINDIR, "pg_ctl"), "-D", pg.datadir, "-w", "-m",
                         "fast", "stop"]))
    pg.start()
    t.check(pg.sql("SHOW wal_log_hints") == "off", "wal_log_hints still on")


def test_rewind_impossible(sb):
    """A former primary that cannot be rewound (no wal_log_hints, no checksums) waits for an
    operator with rejoin = manual, saying why, and stays down; with rewind-or-clone its agent
    clones it from the new primary instead, keeping its own configuration, and it streams."""
    nodes = t.make_pg_cluster(sb, 2)
    without_rewind(nodes[0])
    nodes, q, ags = t.agent_setup(sb, settings=FAST, nodes=nodes,
                                  agent_settings={"rejoin": "manual"})
    pg1 = nodes[0]
    new, _ = kill_primary_and_fail_over(q, nodes)
    t.wait_until(lambda: rejoin_of(q, "pg1")["state"] == "waiting for an operator", 60,
                 "pg1's agent waiting for an operator")
    r = rejoin_of(q, "pg1")
    t.check("wal_log_hints" in r["detail"] and "manual" in r["detail"],
            "pg1's agent does not say why it waits: %s" % r)
    t.holds_for(lambda: not pg1.accepting(), 5, "pg1 started with rejoin = manual")
    ags["pg1"].kill()
    t.Agent(sb, pg1, q.addresses).start()
    began = time.monotonic()
    wait_rejoined(q, pg1, new)
    t.log("pg1 cloned and streaming %.1f s after its agent restarted" % (time.monotonic() - began))
    msgs = [e["message"] for e in t.events_of(q, "rejoin") if e["node"] == "pg1"]
    t.check(any("cloned" in m for m in msgs), "no clone event for pg1: %s" % msgs)
    t.check(pg1.sql("SHOW wal_log_hints") == "off", "pg1 lost its own configuration")


def test_empty_pgdata_becomes_standby(sb):
    """An agent started on an empty data directory registers its node, clones it from the
    primary with a replication slot, and it streams with its own port; after a failover every
    standby has its slot on the new primary."""
    nodes, q, ags = t.agent_setup(sb, settings=FAST)
    pg1 = nodes[0]
    pg4 = t.Postgres(sb, "pg4")
    ag4 = t.Agent(sb, pg4, q.addresses).start()
    began = time.monotonic()
    t.check_follows(pg4, pg1, timeout=120, timeline=1)
    t.wait_until(lambda: q.node("pg4")["role"] == "standby", 30, "pg4 listed as a standby")
    t.log("pg4 cloned and streaming %.1f s after its agent started" % (time.monotonic() - began))
    check_slot(pg1, "pg4")
    t.check("pg_basebackup" in ag4.log_text(), "pg4's agent did not say how it cloned")
    nodes.append(pg4)
    new, _ = kill_primary_and_fail_over(q, nodes)
    for n in nodes[1:]:
        if n is not new:
            t.check_follows(n, new, timeout=60)
            check_slot(new, n.name)


def test_clone_from_archive(sb):
    """An empty data directory is built with clone_command from a base backup in a cp-based
    archive and recovers WAL from it with restore_command, then streams from the primary."""
    archive = sb.pg_owned_dir("archive")
    os.makedirs(os.path.join(archive, "wal"))
    t.run(["chown", "-R", "postgres:postgres", archive])
    pg1 = t.Postgres(sb, "pg1").initdb()
    with open(os.path.join(pg1.datadir, "postgresql.conf"), "a") as f:
        f.write("archive_mode = on\narchive_command = 'cp %%p %s/wal/%%f'\n" % archive)
    pg1.start()
    pg2 = t.Postgres(sb, "pg2").basebackup(pg1).start()
    t.run(t.as_postgres([os.path.join(t.PG_BINDIR, "pg_basebackup"), "-h", "127.0.0.1", "-p",
                         str(pg1.port), "-U", "postgres", "-D", os.path.join(archive, "base"),
                         "-X", "none", "-c", "fast", "--no-sync"]))
    pg1.sql("CREATE TABLE after_base AS SELECT generate_series(1, 1000) AS i")
    pg1.sql("SELECT pg_switch_wal()")
    t.wait_until(lambda: len(os.listdir(os.path.join(archive, "wal"))) >= 2, 30,
                 "WAL archived")
    nodes, q, ags = t.agent_setup(sb, agents=("pg1", "pg2"), settings=FAST, nodes=[pg1, pg2])
    pg4 = t.Postgres(sb, "pg4")
    ag4 = t.Agent(sb, pg4, q.addresses, {
        "clone_command": "cp -a %s/base/. %%D" % archive,
        "restore_command": "cp %s/wal/%%f %%p" % archive}).start()
    t.check_follows(pg4, pg1, timeout=120, timeline=1)
    t.check("clone_command" in ag4.log_text() and "pg_basebackup" not in ag4.log_text(),
            "pg4 was not built by clone_command")
    t.check(pg4.sql("SELECT count(*) FROM after_base") == "1000", "pg4 lacks the later WAL")
    with open(os.path.join(pg4.datadir, "pgquorum-postmaster.log")) as f:
        t.check("restored log file" in f.read(), "pg4 restored no WAL from the archive")


def test_three_failovers_in_a_row(sb):
    """Three failovers in a row under a steady writer with sync_mode = quorum (kill the
    primary's postmaster, wait, kill the new one's, ...): after each, every node is back and
    streaming from the new primary, within a time measured here; no acknowledged write is
    lost."""
    # crash_policy failover: each kill is a failover. With auto, an agent that is not told
    # a standby could replace its primary at the moment of the kill (one just rejoined, not
    # yet caught up under a loaded machine) restarts it in place, which is right, and not
    # what this test measures (test_agent covers auto).
    nodes, q, ags = t.agent_setup(sb, settings=FAST, agent_settings={"crash_policy": "failover"})
    t.wait_until(lambda: q.ctl("sync", "--mode", "quorum", "--number-sync", "1").returncode
                 == 0, 30, "sync_mode quorum accepted")
    t.wait_until(lambda: nodes[0].sql("SHOW synchronous_standby_names").startswith("ANY 1"),
                 30, "ANY 1 (...) written on pg1")
    nodes[0].sql("CREATE TABLE acks (id int PRIMARY KEY)")
    w = t.Writer(t.uri(q), lambda i: "INSERT INTO acks VALUES (%d)" % i, pause=0.02)
    w.start()
    t.wait_until(lambda: len(w.acked) >= 30, 30, "30 acknowledged writes")
    primary = nodes[0]
    healed = []
    for epoch in (2, 3, 4):
        primary.kill9()
        killed = time.monotonic()
        c = t.wait_failover(q, epoch, timeout=90)
        new = next(n for n in nodes if n.name == c["primary"])
        t.check(new is not primary, "the killed primary is primary again")
        for n in nodes:
            if n is not new:
                t.check_follows(n, new, timeout=120, timeline=epoch)

        def all_back():
            st = q.status()
            return all(q.node(n.name, st)["role"] == ("primary" if n is new else "standby") and
                       q.node(n.name, st)["health"] == "up" for n in nodes)
        t.wait_until(all_back, 120, "every node back, %s primary" % new.name)
        healed.append(time.monotonic() - killed)
        t.log("epoch %d: %s promoted; every node back and streaming %.1f s after the kill"
              % (epoch, new.name, healed[-1]))
        # The next kill must find a standby that may replace the primary: the set naming
        # both others in force (else the agent restarts the primary in place, as its
        # crash_policy auto says).
        others = sorted(n.name for n in nodes if n is not new)
        want = 'ANY 1 (%s)' % ", ".join('"%s"' % n for n in others)

        def in_force():
            y = q.status()["clusters"][0]["sync"]
            return (y["committed"] is not None and y["committed"]["setting"] == want and
                    y["applied"] and y["in_force"] and y["primary_runs"] == want)
        t.wait_until(in_force, 60, "synchronous set %s in force on %s" % (want, new.name))
        n_acked = len(w.acked)
        t.wait_until(lambda: len(w.acked) > n_acked + 10, 30, "writes on %s" % new.name)
        primary = new
    w.finish()
    have = set(int(x) for x in primary.sql("SELECT id FROM acks").split())
    lost = [i for i, _ in w.acked if i not in have]
    t.check(not lost, "%d acknowledged writes lost: %s" % (len(lost), lost[:10]))
    t.log("three failovers: every node back in %s s; %d acknowledged writes, none lost" % (
        ", ".join("%.1f" % x for x in healed), len(w.acked)))


if __name__ == "__main__":
    t.main([test_old_primary_rewound, test_partitioned_primary_rewound, test_rewind_impossible,
            test_empty_pgdata_becomes_standby, test_clone_from_archive,
            test_three_failovers_in_a_row])
