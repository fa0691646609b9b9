#!/usr/bin/env python3
"""The attacks of issue 11's "Why", replayed against a TLS quorum with real PostgreSQL: none
changes the state; and the secrets a deployment holds never reach a log, an event, the Raft
log or a snapshot."""

import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import pgqtest as t  # noqa: E402


varint, fv, fb, frame = t.api_varint, t.api_fv, t.api_fb, t.api_frame


def recv_reply(s):
    """(code, message) of one API reply."""
    r = t.api_recv_frame(s)
    t.check(r is not None, "the monitor closed the connection without a reply")
    return r.get(2, 0), r.get(3, b"").decode("utf-8", "replace")


DENIED = 6


def snapshot(q):
    """What the attacks must not change."""
    st = q.status()
    nodes = sorted((n["name"], n["conninfo"], n["maintenance"], n["role"], n["priority"])
                   for n in st["nodes"])
    clusters = [(c["name"], c["epoch"], c["primary"], c.get("paused")) for c in st["clusters"]]
    return nodes, clusters


def test_attacks_replayed(sb):
    """Against a TLS quorum watching a real primary and two standbys, each attack of the
    issue fails with a clear refusal and an audit event: through the API without an identity,
    with a viewer's certificate and with a node agent's (remove the standbys or the primary,
    register a server of the attacker's, re-add a node elsewhere, maintenance on a standby,
    switchover, pause, allow-unfenced, raise one's own role), and a forged health report from
    the monitors' own host with an admin's certificate; the state is unchanged and the
    primary keeps its role."""
    if not t.TLS:
        raise t.TestFailure("this suite needs TLS (PGQ_TEST_TLS is off)")
    nodes = t.make_pg_cluster(sb, 2)
    rogue = t.Postgres(sb, "rogue").initdb().start()  # the attacker's PostgreSQL
    q = t.Quorum(sb, 3).start()
    for n in nodes:
        q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
    t.wait_until(lambda: all(n["health"] == "up" for n in q.status()["nodes"]) or None, 60,
                 "three nodes up")
    q.ctl("role", "eve", "viewer", check_rc=True)
    before = snapshot(q)

    ca = sb.certs().cert
    eve = sb.cert("user-eve", ["pgquorum:user:eve"])
    agent = sb.cert("node-main-pg2-stolen", ["pgquorum:node:main/pg2"])
    who = {
        "anonymous": ["--tls-ca", ca],
        "user:eve": ["--tls-ca", ca, "--tls-cert", eve[0], "--tls-key", eve[1]],
        "node:main/pg2": ["--tls-ca", ca, "--tls-cert", agent[0], "--tls-key", agent[1]],
    }
    attacks = [
        ["node", "remove", "pg2"],
        ["node", "remove", "pg3"],
        ["node", "remove", "pg1"],
        ["node", "add", "evil", "--conninfo", rogue.conninfo],
        ["maintenance", "on", "pg2"],
        ["switchover", "--to", "pg2"],
        ["pause"],
        ["failover", "--allow-unfenced", "pg1"],
        ["role", "eve", "admin"],
        ["grant", "node-remove", "to", "eve"],
    ]
    for name, args in who.items():
        for attack in attacks:
            cmd = [t.PGQUORUMCTL, "--monitors", q.addresses, "--wait", "2s"] + args + attack
            p = t.run(cmd, check_rc=False)
            err = p.stderr.strip()
            t.check(p.returncode == 1 and len(err.splitlines()) == 1 and
                    ("may not" in err or "may only" in err),
                    "%s: %s: exit %d %r" % (name, " ".join(attack), p.returncode, err))
        t.log("%s: %d attacks refused, e.g. %s" % (name, len(attacks), err))

    # A forged report, from the monitors' own host, with an admin's certificate: it says
    # the primary is down as monitor 2 sees it.
    down = fb(1, b"pg1") + fv(2, 0) + fb(3, b"forged")
    forged = fv(1, 2) + fb(2, b"main") + fb(4, down)
    leader = q.monitor(q.wait_leader())
    with t.connect(leader.api_address, user="admin") as s:
        s.sendall(frame(fv(1, 1) + fb(14, forged)))
        code, msg = recv_reply(s)
    t.check(code == DENIED and "only monitors and node agents" in msg,
            "forged report: %d %r" % (code, msg))

    def audited():
        ev = q.events()
        seen = {e.get("who") for e in ev if e["event"] == "audit" and
                (e.get("outcome") or "").startswith("denied")}
        return seen if {"anonymous", "user:eve", "node:main/pg2", "user:admin"} <= seen else None
    t.wait_until(audited, 20, "audit events of every attacker")
    after = snapshot(q)
    t.check(after == before, "the attacks changed the state:\n before %s\n after  %s"
            % (json.dumps(before), json.dumps(after)))
    t.check(nodes[0].sql("SELECT pg_is_in_recovery()") == "f", "pg1 is not primary")
    t.check(all(m.alive() for m in q.monitors), "a monitor died")


def test_no_secret_anywhere(sb):
    """Planted secrets (an operator's bearer token, a wrong token guessed at a monitor, a
    password in the monitors' passfile, the daemons' private keys) appear in no log, no event,
    no status, no Raft log segment and no snapshot, after writes, refusals and snapshots."""
    token = "tok-PLANTED-4f1c9e2a7b"
    guess = "guess-PLANTED-90d1e"
    password = "pw-PLANTED-77aa31"
    tf = sb.path("alice.token")
    with open(tf, "w") as f:
        f.write(token + "\n")
    gf = sb.path("guess.token")
    with open(gf, "w") as f:
        f.write(guess + "\n")
    passfile = sb.path("pgpass")
    with open(passfile, "w") as f:
        f.write("*:*:*:pgquorum_monitor:%s\n" % password)
    os.chmod(passfile, 0o600)
    digest = t.run([t.PGQUORUMCTL, "token", "hash"], input=token + "\n").stdout.strip()
    nodes = t.make_pg_cluster(sb, 1)
    q = t.Quorum(sb, 3, {"auth.tokens": "alice:%s" % digest,
                         "auth.admins": "user:admin, user:alice",
                         "health.passfile": passfile, "raft.snapshot_threshold": "16",
                         "raft.snapshot_trailing": "8"}).start()
    for n in nodes:
        q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)
    ag = t.Agent(sb, nodes[0], q.addresses).start()
    for i in range(12):
        q.ctl("--token-file", tf, "maintenance", "on" if i % 2 == 0 else "off", "pg2",
              check_rc=True, user=None)
    p = q.ctl("--token-file", gf, "status", user=None)
    t.check(p.returncode == 1 and "unknown token" in p.stderr, "a wrong token: %r" % p.stderr)
    t.wait_until(lambda: glob.glob(os.path.join(q.monitor(1).data_dir, "snapshot-*")) or None,
                 30, "a snapshot on monitor 1")
    t.wait_until(lambda: (t.agent_of(q, "pg1") or {}).get("state") == "up", 60,
                 "pg1's agent up")
    outputs = (q.ctl("status", "--json", check_rc=True).stdout +
               q.ctl("events", "--json", check_rc=True).stdout +
               t.http_get(q.monitor(1).http_address, "/metrics")[1] +
               t.http_get(q.monitor(1).http_address, "/cluster")[1] +
               t.http_get(q.monitor(1).http_address, "/events")[1])
    keys = []
    for path in glob.glob(sb.path("tls", "*.key")):
        with open(path) as f:
            body = [ln for ln in f.read().splitlines() if not ln.startswith("-----")]
        keys += [ln for ln in body if len(ln) >= 40]
    secrets = [token, guess, password] + keys
    planted = {tf, gf, passfile} | set(glob.glob(sb.path("tls", "*.key")))
    searched = 0
    for root, _, files in os.walk(sb.dir):
        for name in files:
            path = os.path.join(root, name)
            if path in planted or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            searched += 1
            for sec in secrets:
                t.check(sec.encode() not in data, "a secret (%s...) is in %s" % (sec[:8], path))
    for sec in secrets:
        t.check(sec not in outputs, "a secret (%s...) is in status, events or HTTP" % sec[:8])
    raft_files = sum(len(glob.glob(os.path.join(m.data_dir, "*"))) for m in q.monitors)
    t.log("no secret in %d files (%d Raft log segments and snapshots), nor in status, events "
          "and HTTP" % (searched, raft_files))
    t.check(ag.alive(), "the agent died")


if __name__ == "__main__":
    t.main([test_attacks_replayed, test_no_secret_anywhere])
