#!/usr/bin/env python3
"""Managed synchronous replication on real PostgreSQL 15 (a primary and two
streaming standbys, run as `postgres`) with three real monitors: the quorum
writes synchronous_standby_names, lowers it in quorum mode when a standby
dies, fails over without losing an acknowledged write, and in strict mode
loses none when the primary and a standby die together (or blocks the
failover until an operator allows the loss)."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

ANY1 = 'ANY 1 ("pg2", "pg3")'
ANY2 = 'ANY 2 ("pg2", "pg3")'


def sync_status(q):
    return q.status()["clusters"][0]["sync"]


def enable(q, *args):
    """pgquorumctl sync ARGS, once the monitors reached feature level 3 (a fresh quorum
    raises it within a second)."""
    def ok():
        p = q.ctl("sync", *args)
        if p.returncode != 0 and "feature level" not in p.stderr:
            raise t.TestFailure("pgquorumctl sync %s: %d %s" % (args, p.returncode, p.stderr))
        return p.returncode == 0
    t.wait_until(ok, 20, "pgquorumctl sync %s accepted" % " ".join(args))


def wait_in_force(q, primary, setting, timeout=30):
    """The committed set is `setting`, the primary runs it (PostgreSQL says so too) and no
    older set binds a failover any more."""
    def ok():
        y = sync_status(q)
        return (y["committed"] is not None and y["committed"]["setting"] == setting and
                y["applied"] and y["in_force"] and y["primary_runs"] == setting)
    t.wait_until(ok, timeout, "synchronous set %s in force" % setting)
    got = primary.sql("SHOW synchronous_standby_names")
    t.check(got == setting, "%s runs synchronous_standby_names = %r" % (primary.name, got))


def sync_states(primary):
    return primary.sql("SELECT string_agg(application_name || ':' || sync_state, ',' ORDER BY "
                       "application_name) FROM pg_stat_replication")


def kill_together(*pgs):
    """kill -9 of several postmasters at once; then wait until none accepts."""
    pids = [(pg, pg.pid()) for pg in pgs]
    for pg, pid in pids:
        pg._killed_shm = pg.shm_id()
        os.kill(pid, signal.SIGKILL)
    t.log("postmasters of %s killed with SIGKILL" % ", ".join(pg.name for pg in pgs))
    t.wait_until(lambda: not any(pg.accepting() for pg in pgs), 20, "killed servers gone")
    return time.monotonic()


def writer(q, pg1):
    pg1.sql("CREATE TABLE acks (id int PRIMARY KEY)")
    w = t.Writer(t.uri(q), lambda i: "INSERT INTO acks VALUES (%d)" % i, pause=0.02)
    w.start()
    t.wait_until(lambda: len(w.acked) >= 30, 30, "30 acknowledged writes")
    return w


def check_nothing_lost(w, pg):
    have = set(int(x) for x in pg.sql("SELECT id FROM acks").split())
    lost = [i for i, _ in w.acked if i not in have]
    t.check(not lost, "acknowledged writes missing on %s: %s" % (pg.name, lost[:20]))
    t.log("%d acknowledged writes, all on %s" % (len(w.acked), pg.name))


def write_waits(pg):
    """A write on pg does not return within 3 s, waiting for a synchronous standby."""
    done = threading.Event()

    def go():
        try:
            pg.sql("INSERT INTO acks VALUES (-1)", timeout=3, check_rc=False)
        except Exception:  # noqa: BLE001 - a timeout is the point
            pass
        done.set()
    th = threading.Thread(target=go, daemon=True)
    th.start()
    t.wait_until(lambda: pg.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = "
                                "'SyncRep'") != "0", 3, "a write waiting for SyncRep")
    th.join(5)


def test_quorum_mode(sb):
    """Quorum mode: the quorum writes ANY 1 (pg2, pg3) on the primary (bad values refused,
    nothing changed), ANY 2 once number_sync is 2; with pg3 killed under a steady writer the
    set is lowered to ANY 1 (pg2) and writes keep flowing; nothing acknowledged is lost."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    enable(q, "--mode", "quorum")
    wait_in_force(q, pg1, ANY1)
    t.check(sync_states(pg1) == "pg2:quorum,pg3:quorum", "pg_stat_replication: %s"
            % sync_states(pg1))
    # Bad values: one line, exit 2 (usage) or 1 (refused), nothing changes.
    for args, rc, words in [
            (["--mode", "sometimes"], 2, "is not off, quorum or strict"),
            (["--mode", "quorum", "--number-sync", "0"], 2, "is not a number in 1..8"),
            (["--node", "pg9", "--replication-quorum", "false"], 1, "no node pg9"),
            (["--mode", "strict", "--number-sync", "3"], 1, "needs 3 standbys")]:
        p = q.ctl("sync", *args)
        t.check(p.returncode == rc and words in p.stderr and len(p.stderr.splitlines()) == 1,
                "sync %s: %d %r" % (args, p.returncode, p.stderr))
    y = sync_status(q)
    t.check(y["mode"] == "quorum" and y["number_sync"] == 1, "changed by bad values: %s" % y)

    q.ctl("sync", "--number-sync", "2", check_rc=True)
    wait_in_force(q, pg1, ANY2)
    w = writer(q, pg1)
    pg3.kill9()
    killed = time.monotonic()
    wait_in_force(q, pg1, 'ANY 1 ("pg2")')
    lowered = time.monotonic()
    n = len(w.acked)
    t.wait_until(lambda: len(w.acked) >= n + 30, 30, "30 more writes after the set was lowered")
    w.finish()
    gaps = [b - a for (_, a), (_, b) in zip(w.acked, w.acked[1:]) if b > killed]
    t.log("set lowered %.2fs after the kill; longest pause between writes %.2fs"
          % (lowered - killed, max(gaps)))
    ev = [e["message"] for e in t.events_of(q, "sync")]
    t.check(any("pg3 left" in m and "fewer healthy standbys than number_sync 2" in m
                for m in ev), "no event says why the set was lowered: %s" % ev)
    check_nothing_lost(w, pg1)


def test_quorum_failover(sb):
    """Quorum mode, ANY 1 (pg2, pg3): kill -9 of the primary under a steady writer promotes one
    standby, which runs its own set (ANY 1 of the other) from its first write, never an empty
    one; writes resume and no acknowledged write is lost."""
    nodes, q = t.failover_setup(sb)
    pg1, pg2, pg3 = nodes
    enable(q, "--mode", "quorum")
    wait_in_force(q, pg1, ANY1)
    w = writer(q, pg1)
    pg1.kill9()
    killed = time.monotonic()
    c = t.wait_failover(q, 2)
    new, other = (pg2, pg3) if c["primary"] == "pg2" else (pg3, pg2)
    first = t.wait_until(lambda: w.first_after(killed), 30, "a write after the kill")
    n = len(w.acked)
    t.wait_until(lambda: len(w.acked) >= n + 20, 30, "20 more writes on the new primary")
    w.finish()
    t.log("first acknowledged write %.2fs after the kill" % first)
    wait_in_force(q, new, 'ANY 1 ("%s")' % other.name)
    sets = [e["message"] for e in t.events_of(q, "sync") if e["epoch"] == 2 and
            "synchronous set of" in e["message"]]
    t.check(sets and all("synchronous_standby_names = ''" not in m for m in sets),
            "sets of epoch 2: %s" % sets)
    check_nothing_lost(w, new)


def strict_setup(sb):
    nodes, q = t.failover_setup(sb)
    pg1 = nodes[0]
    enable(q, "--mode", "strict", "--number-sync", "1")
    wait_in_force(q, pg1, 'FIRST 1 ("pg2")')
    t.check(sync_states(pg1) == "pg2:sync,pg3:async", "pg_stat_replication: %s"
            % sync_states(pg1))
    return nodes, q


def test_strict_primary_and_standby_killed(sb):
    """Strict mode, FIRST 1 (pg2): kill -9 of the primary and pg3 at the same moment under a
    steady writer: pg2, the synchronous standby, is promoted and holds every acknowledged
    write; with no standby left, writes on it wait rather than go on unprotected."""
    nodes, q = strict_setup(sb)
    pg1, pg2, pg3 = nodes
    w = writer(q, pg1)
    kill_together(pg1, pg3)
    c = t.wait_failover(q, 2)
    t.check(c["primary"] == "pg2", "promoted %s, expected the synchronous standby pg2"
            % c["primary"])
    w.finish()
    check_nothing_lost(w, pg2)
    y = sync_status(q)
    t.check(y["committed"]["epoch"] == 2 and y["committed"]["method"] == "FIRST" and
            y["committed"]["number"] == 1 and len(y["committed"]["names"]) == 1,
            "the new primary's set: %s" % y)
    t.wait_until(lambda: sync_status(q)["applied"], 10, "pg2 runs its set")
    write_waits(pg2)


def test_strict_sync_standby_lost_blocks(sb):
    """Strict mode, FIRST 1 (pg2): the primary and pg2 killed together leave pg3, which may
    lack acknowledged writes: no failover, and status says why and how to allow it; after
    pgquorumctl failover --allow-data-loss (audited) pg3 is promoted, the decision saying
    writes may be lost."""
    nodes, q = strict_setup(sb)
    pg1, pg2, pg3 = nodes
    w = writer(q, pg1)
    kill_together(pg1, pg2)
    w.finish()

    def blocked():
        # pg3 is outside the set; pg2, the synchronous standby PostgreSQL named, is down:
        # whichever the leader saw first (pg2's verdict may come after the cut began).
        b = q.status()["clusters"][0]["failover"]["blocked"] or ""
        return b if ("not in the synchronous set" in b or
                     "synchronous standby pg2 is down" in b) else None
    reason = t.wait_until(blocked, 30, "the failover blocked")
    t.check("--allow-data-loss" in reason, "the reason does not say how to allow it: %s"
            % reason)
    t.holds_for(lambda: pg3.in_recovery(), 3, "pg3 not promoted while blocked")
    p = q.ctl("failover", "--allow-data-loss")
    t.check(p.returncode == 0, "failover --allow-data-loss: %d %s" % (p.returncode, p.stderr))
    c = t.wait_until(lambda: (lambda c: c if c["epoch"] == 2 and c["primary"] == "pg3" else None)(
        q.status()["clusters"][0]), 30, "pg3 chosen")
    t.wait_until(lambda: not pg3.in_recovery(), 30, "pg3 promoted")
    allowed = [e for e in t.events_of(q, "sync") if "may lose acknowledged writes" in e["message"]]
    t.check(len(allowed) == 1 and ("user:admin" if t.TLS else "pgquorumctl (user") in
            allowed[0]["message"],
            "the allowance is not in the events: %s" % allowed)
    decided = t.events_of(q, "failover-decided")
    t.check(decided and "acknowledged writes may be lost" in decided[-1]["message"],
            "the decision does not say writes may be lost: %s" % decided)


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def rx_queued(inodes):
    """Bytes waiting to be read on the TCP sockets of these inodes (/proc/net/tcp)."""
    total = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    total += int(cols[4].split(":")[1], 16)
    return total


def walsenders(pg):
    """Pids of the walsenders of pg's postmaster (its children so named)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pg.pid() and b"walsender" in cmd:
            pids.append(int(d))
    return pids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_backend_outlives_postmaster(sb):
    """Quorum mode, ANY 1 (pg2, pg3), no agent: every monitor's probe of pg1 is answered,
    after pg1's postmaster was killed, by a backend that outlived it and saw its walsenders
    gone; no monitor reports that as the standbys leaving, no empty set is committed, and the
    failover promotes a standby of the set."""
    keep = {"PGQ_FAILPOINTS": "probe.keep=fail:pg1"}
    nodes, q = t.failover_setup(sb, before=lambda m: m.env.update(keep))
    pg1, pg2, pg3 = nodes
    enable(q, "--mode", "quorum")
    wait_in_force(q, pg1, ANY1)
    # The monitors' kept probe connections (a round keeps them: probe.keep).
    def probers():
        out = pg1.sql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE "
                      "'pgquorum-monitor-%' AND backend_type = 'client backend'").strip()
        pids = [int(x) for x in out.split()]
        return pids if len(pids) == 3 else None
    backends = t.wait_until(probers, 10, "one kept probe connection to pg1 per monitor")
    senders = walsenders(pg1)
    t.check(len(senders) == 2, "walsenders of pg1: %s" % senders)
    for pid in backends:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Each monitor's next round sends its query to a stopped backend; then the
        # postmaster dies and its walsenders exit while those backends sleep.
        inodes = [socket_inodes(pid) for pid in backends]
        t.wait_until(lambda: all(rx_queued(i) > 0 for i in inodes), 3,
                     "every monitor's probe query waiting at its stopped backend")
        pg1.kill9()
        t.wait_until(lambda: not any(alive(pid) for pid in senders), 10,
                     "pg1's walsenders gone")
    finally:
        for pid in backends:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    c = t.wait_failover(q, 2, timeout=30)
    t.check(c["primary"] in ("pg2", "pg3"), "promoted %s" % c["primary"])
    sets = [e["message"] for e in t.events_of(q, "sync") if e["epoch"] == 1]
    t.check(all("synchronous_standby_names = ''" not in m for m in sets),
            "a set of epoch 1 was lowered on the dead primary's answer: %s" % sets)
    lines = "".join(m.log_text() for m in q.monitors)
    t.check("confirming on a new connection" in lines,
            "no monitor saw a standby leave on the stopped backends' answers")


if __name__ == "__main__":
    t.main([test_quorum_mode, test_quorum_failover, test_backend_outlives_postmaster,
            test_strict_primary_and_standby_killed, test_strict_sync_standby_lost_blocks],
           failpoints=True)
