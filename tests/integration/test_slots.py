#!/usr/bin/env python3
"""Replication slots with real PostgreSQL 15 and real monitors: the primary keeps a physical
slot for every other node and each standby streams with its own, the new primary has them
after a failover, a removed node's slot is dropped, and a slot that lost WAL is reported."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

setup = t.failover_setup
wait_failover = t.wait_failover
events_of = t.events_of


def slots(pg):
    """The primary's pgq_ slots: name -> (active, wal_status)."""
    rows = pg.sql("SELECT slot_name, active, coalesce(wal_status, '') FROM pg_replication_slots"
                  " WHERE slot_type = 'physical' AND slot_name LIKE 'pgq%' ORDER BY 1")
    out = {}
    for line in rows.splitlines():
        name, active, wal = line.split("|")
        out[name] = (active == "t", wal)
    return out


def receiver_slot(standby):
    """The slot standby's walreceiver streams with, and the port it streams from."""
    return standby.sql("SELECT coalesce(slot_name, '') || '|' || status || '|' || sender_port"
                       " FROM pg_stat_wal_receiver")


def wait_streams_with_slot(standby, primary, timeout=30):
    want = "pgq_%s|streaming|%d" % (standby.name, primary.port)
    t.wait_until(lambda: receiver_slot(standby) == want, timeout,
                 "%s streaming from %s with slot pgq_%s" % (standby.name, primary.name,
                                                           standby.name))


def wait_slots(primary, expected, timeout=30):
    """Wait until the primary's pgq_ slots are exactly `expected` (name -> active or None for
    either); return them."""
    def ok():
        have = slots(primary)
        if set(have) != set(expected):
            return None
        for name, active in expected.items():
            if active is not None and have[name][0] != active:
                return None
        return have
    return t.wait_until(ok, timeout, "slots on %s to be %s (have %s)" % (
        primary.name, expected, slots(primary) if primary.accepting() else "?"))


def stop(pg):
    """A clean shutdown of one PostgreSQL (its walreceiver goes with it)."""
    pg._pg("pg_ctl", "-D", pg.datadir, "-m", "fast", "-w", "stop")


def slot_of(q, name):
    n = q.node(name)
    return n["slot"] if n else None


def test_slots_on_the_primary(sb):
    """The primary holds a physical slot for each standby, immediately reserved, and each
    standby streams with its own; status shows them."""
    nodes, q = setup(sb)
    pg1, pg2, pg3 = nodes
    have = wait_slots(pg1, {"pgq_pg2": True, "pgq_pg3": True})
    t.check(all(wal in ("reserved", "extended") for _, wal in have.values()),
            "slots not reserving WAL: %s" % have)
    for s in (pg2, pg3):
        wait_streams_with_slot(s, pg1)
        t.check(s.sql("SHOW primary_slot_name") == "pgq_%s" % s.name,
                "%s has primary_slot_name %s" % (s.name, s.sql("SHOW primary_slot_name")))
    used = pg1.sql("SELECT string_agg(r.application_name, ',' ORDER BY r.application_name) FROM "
                   "pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
                   "WHERE s.slot_name LIKE 'pgq%'")
    t.check(used == "pg2,pg3", "standbys streaming with a pgq_ slot: %s" % used)
    t.wait_until(lambda: slot_of(q, "pg2") == {"name": "pgq_pg2", "lost": False, "use": "own"},
                 20, "status to show pg2 streaming with its slot")
    t.check(slot_of(q, "pg1") is None, "the primary shown with a slot: %s" % slot_of(q, "pg1"))


def test_slots_after_failover(sb):
    """After the primary is killed, the new primary holds a slot for every other node (the
    old primary's kept for its rejoin) and the repointed standby streams with its own."""
    nodes, q = setup(sb)
    pg1 = nodes[0]
    wait_slots(pg1, {"pgq_pg2": True, "pgq_pg3": True})
    pg1.kill9()
    c = wait_failover(q, 2)
    new = nodes[1] if c["primary"] == "pg2" else nodes[2]
    other = nodes[2] if new is nodes[1] else nodes[1]
    have = wait_slots(new, {"pgq_pg1": False, "pgq_%s" % other.name: True})
    t.check(all(wal in ("reserved", "extended") for _, wal in have.values()),
            "slots on %s not reserving WAL: %s" % (new.name, have))
    wait_streams_with_slot(other, new)
    made = [e for e in events_of(q, "slot") if e["node"] == new.name and e["epoch"] == 2]
    t.check(made and "pgq_pg1" in made[-1]["message"],
            "no event of the slots made on %s: %s" % (new.name, made))


def test_removed_node_slot_dropped(sb):
    """A node removed from the quorum loses its slot on the primary once it no longer uses it
    (the other slots stay); the drop is an event."""
    nodes, q = setup(sb)
    pg1, pg2, pg3 = nodes
    wait_slots(pg1, {"pgq_pg2": True, "pgq_pg3": True})
    q.ctl("node", "remove", "pg3", check_rc=True)
    # pg3 still streams with it: the slot stays while it is in use.
    t.holds_for(lambda: "pgq_pg3" in slots(pg1), 2.0, "the slot of pg3 dropped while in use")
    stop(pg3)
    wait_slots(pg1, {"pgq_pg2": True}, timeout=30)
    t.wait_until(lambda: any("dropped pgq_pg3" in e["message"] for e in events_of(q, "slot")),
                 20, "an event of pgq_pg3 dropped")
    wait_streams_with_slot(pg2, pg1)


def test_lost_slot_reported(sb):
    """A standby down while the primary writes more WAL than max_slot_wal_keep_size keeps has
    its slot lost: an event says so and status --json shows it on the node."""
    nodes, q = setup(sb)
    pg1, pg2, pg3 = nodes
    wait_slots(pg1, {"pgq_pg2": True, "pgq_pg3": True})
    pg1.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '16MB'")
    pg1.sql("ALTER SYSTEM SET wal_keep_size = 0")
    pg1.sql("SELECT pg_reload_conf()")
    stop(pg3)
    t.wait_until(lambda: not slots(pg1)["pgq_pg3"][0], 20, "pgq_pg3 no longer in use")
    pg1.sql("CREATE TABLE filler (x int)")

    def lost():
        for _ in range(3):
            pg1.sql("INSERT INTO filler SELECT generate_series(1, 1000)")
            pg1.sql("SELECT pg_switch_wal()")
        pg1.sql("CHECKPOINT")
        return slots(pg1)["pgq_pg3"][1] == "lost"
    t.wait_until(lost, 60, "slot pgq_pg3 lost on pg1", interval=0.2)
    t.check(slots(pg1)["pgq_pg2"][1] != "lost", "the slot of pg2, in use, was lost too")
    ev = t.wait_until(lambda: [e for e in events_of(q, "slot") if e["node"] == "pg3" and
                               "lost" in e["message"]], 30, "an event of pg3's slot lost")
    t.check(len(ev) == 1, "the loss reported more than once: %s" % ev)
    t.check("re-cloned" in ev[0]["message"], "the event does not say what to do: %s"
            % ev[0]["message"])
    t.wait_until(lambda: (slot_of(q, "pg3") or {}).get("lost"), 20, "status to show pg3's slot lost")
    t.check(not slot_of(q, "pg2")["lost"], "pg2's slot shown lost")
    table = q.ctl("status", check_rc=True).stdout
    t.check("pg3's replication slot pgq_pg3 is LOST" in table, "status table: %s" % table)


def test_slots_turned_on(sb):
    """With replication_slots off, no slot is made and standbys stream without one; once the
    monitors restart with it on, the standbys already following get their slot (they are
    repointed to take it), as after an upgrade."""
    nodes, q = setup(sb, settings={"failover.replication_slots": "off"})
    pg1, pg2, pg3 = nodes
    t.holds_for(lambda: slots(pg1) == {}, 2.0, "a slot made with replication_slots off")
    for s in (pg2, pg3):
        t.check(receiver_slot(s) == "|streaming|%d" % pg1.port,
                "%s streams with a slot: %s" % (s.name, receiver_slot(s)))
    t.wait_until(lambda: slot_of(q, "pg2")["use"] == "none", 20,
                 "status to show pg2 streaming without its slot")
    q.stop_all()
    for m in q.monitors:
        with open(m.config) as f:
            text = f.read()
        with open(m.config, "w") as f:
            f.write(text.replace("replication_slots = off", "replication_slots = on"))
        m.start()
    q.wait_leader()
    wait_slots(pg1, {"pgq_pg2": True, "pgq_pg3": True})
    for s in (pg2, pg3):
        wait_streams_with_slot(s, pg1)


if __name__ == "__main__":
    t.main([test_slots_on_the_primary, test_slots_after_failover, test_removed_node_slot_dropped,
            test_lost_slot_reported, test_slots_turned_on])
