#!/usr/bin/env python3
"""Authentication and authorization with three real monitors ([auth] mode on,
bearer tokens, TLS off): deny by default, roles, grants and denies replicated to
every monitor, whoami, the audit record of every refusal and write (events
--who), and the bound on wrong tokens."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgqtest as t  # noqa: E402

# Tokens as the users hold them; the monitors hold only their SHA-256.
TOKENS = {"alice": "alice-secret-token-1", "bob": "bob-secret-token-2",
          "carol": "carol-secret-token-3", "dave": "dave-secret-token-4",
          "node:main/pg1": "pg1-agent-token-5", "node:main/pg9": "pg9-agent-token-6"}
FAKE = "host=127.0.0.1 port=1 user=postgres dbname=postgres"


def token_file(sb, name, token):
    path = sb.path("%s.token" % name.replace(":", "-").replace("/", "-"))
    with open(path, "w") as f:
        f.write(token + "\n")
    # Agents run as postgres: their token files must be theirs to read.
    os.chmod(path, 0o644 if name.startswith("node:") else 0o600)
    return path


def hashed(sb, token):
    p = t.run([t.PGQUORUMCTL, "token", "hash"], input=token + "\n")
    h = p.stdout.strip()
    t.check(re.fullmatch(r"sha256:[0-9a-f]{64}", h), "token hash printed %r" % h)
    return h


class Auth:
    """A quorum with [auth]: alice is a static admin; the others have no role yet."""

    def __init__(self, sb):
        self.sb = sb
        self.files = {n: token_file(sb, n, tok) for n, tok in TOKENS.items()}
        self.files["mallory"] = token_file(sb, "mallory", "not-a-configured-token")
        tokens = ", ".join("%s:%s" % (n, hashed(sb, tok)) for n, tok in TOKENS.items())
        self.q = t.Quorum(sb, 3, {"auth.mode": "on", "auth.tokens": tokens,
                                  "auth.admins": "user:alice"})
        for m in self.q.monitors:
            m.start()
        t.wait_until(self.leader, 20, "a ready Raft leader (asked as alice)")
        # Refusals are recorded from feature level 5 on (before, they wait).
        t.wait_until(lambda: any(e["event"] == "feature-level" and
                                 int(re.search(r"level (\d+)", e["message"]).group(1)) >= 5
                                 for e in self.events()), 20, "feature level 5")

    def node(self, name, st=None):
        return self.q.node(name, st or self.status())

    def ctl(self, who, *args, monitors=None):
        # Under TLS: the CA only, no client certificate: the token is the identity.
        extra = ["--token-file", self.files[who]] if who else []
        return self.q.ctl(*(extra + list(args)), monitors=monitors, user=None)

    def ok(self, who, *args, monitors=None):
        p = self.ctl(who, *args, monitors=monitors)
        t.check(p.returncode == 0, "%s: pgquorumctl %s failed (%d): %s%s" % (
            who, " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def status(self):
        return json.loads(self.ok("alice", "status", "--json", "--timeout", "2s").stdout)

    def leader(self):
        p = self.ctl("alice", "status", "--json", "--timeout", "2s")
        if p.returncode != 0:
            return None
        for m in json.loads(p.stdout)["monitors"]:
            if m["role"] == "leader" and m.get("ready"):
                return m["id"]
        return None

    def events(self, who=None):
        args = ["events", "--json"] + (["--who", who] if who else [])
        return json.loads(self.ok("alice", *args).stdout)

    def everywhere(self, who, role):
        """Wait until every monitor applied who's role (whoami on each, as alice sees it:
        a role takes effect on a monitor once it applied the entry)."""
        def applied():
            for m in self.q.monitors:
                p = self.ctl("alice", "events", "--json", "--local", monitors=m.api_address)
                if p.returncode != 0 or not any(
                        "role of user:%s: %s" % (who, role) in e["message"]
                        for e in json.loads(p.stdout)):
                    return False
            return True
        t.wait_until(applied, 15, "user:%s %s on every monitor" % (who, role))

    def denied(self, who, *args, monitors=None):
        p = self.ctl(who, *args, monitors=monitors)
        return p.returncode == 1 and any(w in p.stderr for w in ("may not", "denied", "may only")) \
            and p

    def logs(self):
        return "".join(m.log_text() for m in self.q.monitors)


def settings(st):
    """What an operator's write would change: the nodes and their settings, each cluster's
    pause, switchover and synchronous replication."""
    nodes = [(n["name"], n["priority"], n["maintenance"]) for n in st["nodes"]]
    clusters = [(c["name"], c["paused"], json.dumps(c.get("switchover")),
                 json.dumps(c.get("sync"))) for c in st["clusters"]]
    return nodes, clusters


# What a viewer may not do: the command, and the action it audits as.
WRITES = [
    (["node", "add", "pgx", "--conninfo", FAKE], "node-add"),
    (["node", "remove", "pg1"], "node-remove"),
    (["maintenance", "on", "pg1"], "maintenance"),
    (["pause"], "pause"),
    (["switchover"], "switchover"),
    (["sync", "--mode", "quorum"], "sync"),
    (["failover", "--allow-unfenced", "pg1"], "allow-unfenced"),
    (["failover", "--allow-data-loss"], "allow-data-loss"),
    (["role", "bob", "admin"], "role"),
    (["grant", "node-remove", "to", "bob"], "grant"),
]


def test_viewer_is_refused_every_write(sb):
    """A viewer may read but each write is refused with DENIED (exit 1), changes nothing and
    is recorded as an audit event with who, from, what and the reason; an identity with no
    role may not even read, nor may a caller without a token."""
    a = Auth(sb)
    a.ok("alice", "node", "add", "pg1", "--conninfo", FAKE)
    a.ok("alice", "role", "bob", "viewer")
    a.everywhere("bob", "viewer")
    before = a.status()
    a.ok("bob", "status")
    a.ok("bob", "events")
    for args, action in WRITES:
        p = a.ctl("bob", *args)
        t.check(p.returncode == 1 and "user:bob (viewer) may not %s" % action in p.stderr,
                "bob (viewer) %s: not denied: %d %s" % (args, p.returncode, p.stderr))

        def audited():
            got = [e for e in a.events("bob") if e["event"] == "audit" and e["action"] == action]
            return got and got[-1]
        e = t.wait_until(audited, 15, "the audit event of bob's refused %s" % action)
        t.check(e["who"] == "user:bob" and e["from"] == "127.0.0.1" and
                e["outcome"].startswith("denied: user:bob (viewer) may not %s" % action),
                "audit of %s: %s" % (action, e))
    after = a.status()
    t.check(settings(after) == settings(before),
            "the state changed under a viewer's refused writes:\n%s\n%s" % (
                settings(before), settings(after)))
    t.check(a.denied("dave", "status"), "dave (no role) could read the status")
    t.check(a.denied(None, "status"), "a caller without a token could read the status")
    p = a.ctl("bob", "--token", "x", "status")
    t.check(p.returncode == 2 and "never given on the command line" in p.stderr,
            "a token on the command line was taken: %s" % p.stderr)
    logs = a.logs()
    for tok in TOKENS.values():
        t.check(tok not in logs, "a token is in the monitors' logs")
    t.check(logs.count("no authentication") == 0, "auth on, yet the monitors warn it is off")


def test_operator_and_events_who(sb):
    """An operator may put a node in maintenance and pause a cluster but not remove a node;
    the committed writes carry who asked and from where (events --who, JSON), the refused
    one is audited as refused with the reason."""
    a = Auth(sb)
    a.ok("alice", "node", "add", "pg1", "--conninfo", FAKE)
    a.ok("alice", "role", "carol", "operator")
    a.everywhere("carol", "operator")
    a.ok("carol", "maintenance", "on", "pg1")
    a.ok("carol", "pause")
    t.check(a.denied("carol", "node", "remove", "pg1"), "carol (operator) removed a node")
    st = a.status()
    t.check([n["name"] for n in st["nodes"]] == ["pg1"], "nodes: %s" % st["nodes"])
    ev = a.events("carol")
    kinds = [(e["event"], e["outcome"].split(":")[0]) for e in ev]
    t.check(("maintenance", "ok") in kinds and ("pause", "ok") in kinds,
            "carol's writes in events --who carol: %s" % ev)
    for e in ev:
        t.check(e["who"] == "user:carol" and e["from"] == "127.0.0.1", "event: %s" % e)
    paused = [e for e in ev if e["event"] == "pause"][0]
    t.check("paused by user:carol" in paused["message"],
            "the pause names the authenticated identity: %s" % paused)
    t.wait_until(lambda: any(e["event"] == "audit" and e["action"] == "node-remove" and
                             e["outcome"].startswith("denied:") for e in a.events("carol")),
                 15, "the audit of carol's node remove")
    # A refusal by the state machine (not by authorization) is audited too.
    p = a.ctl("carol", "maintenance", "on", "nosuchnode")
    t.check(p.returncode == 1, "maintenance of an unknown node: %s" % p.stderr)
    t.wait_until(lambda: any(e["event"] == "audit" and e["outcome"].startswith("refused:")
                             for e in a.events("carol")), 15, "the audit of a refused write")
    text = a.ok("alice", "events", "--who", "carol").stdout
    t.check("[user:carol from 127.0.0.1]" in text, "events text:\n%s" % text)
    all_ev = a.events()
    t.check(any(e["event"] == "audit" and e["who"] == "user:alice" and
                "role of user:carol: operator" in e["message"] for e in all_ev),
            "the role change names alice: %s" % [e for e in all_ev if e["event"] == "audit"])


def test_grant_and_deny_on_every_monitor(sb):
    """A grant lets an identity with no role do one action, and a deny beats a role, on every
    monitor once committed; revoke undoes both; whoami shows the identity, its role and
    grants as a monitor sees them."""
    a = Auth(sb)
    each = [m.api_address for m in a.q.monitors]
    t.check(a.denied("dave", "status"), "dave read the status before any grant")
    a.ok("alice", "grant", "status", "to", "dave")
    t.wait_until(lambda: all(a.ctl("dave", "status", "--local", monitors=m).returncode == 0
                             for m in each), 15, "dave's grant of status on every monitor")
    t.check(a.denied("dave", "events"), "a grant of status let dave read the events")
    a.ok("alice", "role", "bob", "operator")
    a.ok("alice", "deny", "status", "to", "bob")
    t.wait_until(lambda: all(a.denied("bob", "status", "--local", monitors=m) for m in each),
                 15, "bob's deny of status on every monitor")
    # Nobody changes their own grants; another admin may deny a static admin, who is
    # never locked out.
    p = a.ctl("alice", "deny", "status", "to", "alice")
    t.check(p.returncode == 1 and "may not change its own grants" in p.stderr,
            "alice denied herself: %d %s" % (p.returncode, p.stderr))
    a.ok("alice", "role", "carol", "admin")
    a.everywhere("carol", "admin")
    a.ok("carol", "deny", "status", "to", "alice")
    a.ok("alice", "status")
    p = a.ctl("dave", "whoami")
    t.check(p.returncode == 1 and "user:dave (no role) may not whoami" in p.stderr,
            "whoami is a viewer's: %s" % p.stderr)
    a.ok("alice", "grant", "whoami", "to", "dave", "on", "cluster", "main")
    a.ok("alice", "grant", "whoami", "to", "dave")

    def whoami():
        p = a.ctl("dave", "whoami", "--json")
        return p.returncode == 0 and json.loads(p.stdout)
    w = t.wait_until(lambda: (lambda w: w and len(w["grants"]) == 3 and w)(whoami()), 15,
                     "dave's whoami with both grants applied")
    t.check(w["name"] == "user:dave" and w["role"] == "none" and w["ip"] == "127.0.0.1" and
            w["grants"] == [{"action": "status", "cluster": "", "deny": False},
                            {"action": "whoami", "cluster": "", "deny": False},
                            {"action": "whoami", "cluster": "main", "deny": False}] and
            w["authentication"] is True, "dave's whoami: %s" % w)
    text = a.ok("alice", "whoami").stdout
    t.check("identity: user:alice" in text and "static admin" in text, "whoami:\n%s" % text)
    a.ok("alice", "revoke", "status", "from", "bob")
    a.ok("alice", "revoke", "status", "from", "dave")
    t.wait_until(lambda: all(a.ctl("bob", "status", "--local", monitors=m).returncode == 0 and
                             a.denied("dave", "status", "--local", monitors=m) for m in each),
                 15, "the revokes on every monitor")
    p = a.ctl("alice", "revoke", "status", "from", "dave")
    t.check(p.returncode == 1 and "no grant or deny" in p.stderr, "revoke again: %s" % p.stderr)


def test_wrong_tokens_are_bounded(sb):
    """Wrong tokens are refused and audited; the fifth from one address within 10 s blocks
    it for 10 s (logged once), during which wrong tokens are refused unchecked while a right
    one is still served; then wrong ones are checked again."""
    a = Auth(sb)
    one = a.q.monitor(1).api_address
    for _ in range(5):
        p = a.ctl("mallory", "status", monitors=one)
        t.check(p.returncode == 1 and "unknown token" in p.stderr, "wrong token: %s" % p.stderr)
    # A right token is taken even from the blocked address (a guesser beside a node agent
    # must not lock it out); the wrong ones are refused unchecked.
    p = a.ctl("alice", "status", monitors=one)
    t.check(p.returncode == 0, "alice's right token during the block: %d %s" % (p.returncode,
                                                                               p.stderr))
    for _ in range(3):
        p = a.ctl("mallory", "status", monitors=one)
        t.check(p.returncode == 1 and "too many wrong tokens" in p.stderr,
                "a wrong token during the block: %d %s" % (p.returncode, p.stderr))
    log = a.q.monitor(1).log_text()
    t.check(log.count("wrong tokens from 127.0.0.1") == 1,
            "the block logged %d times:\n%s" % (log.count("wrong tokens from"), log))
    t.check("not-a-configured-token" not in a.logs(), "the wrong token is in a log")
    metrics = t.http_get(a.q.monitor(1).http_address, "/metrics")[1]

    def sample(name):
        m = re.search(r"^%s\{[^}]*\} (\S+)$" % name, metrics, re.M)
        return float(m.group(1)) if m else None
    # 5 wrong tokens checked, then 3 wrong ones refused unchecked; alice's was served.
    t.check(sample("pgquorum_auth_wrong_tokens_total") == 5 and
            sample("pgquorum_auth_blocked_total") == 3 and
            sample("pgquorum_api_denied_total") == 8,
            "metrics: %s" % [l for l in metrics.splitlines() if "auth" in l or "denied" in l])
    t.wait_until(lambda: a.ctl("alice", "status", monitors=one).returncode == 0, 15,
                 "alice served again once the block is over")
    t.check(any(e["event"] == "audit" and e["outcome"] == "denied: unknown token"
                for e in a.events("anonymous")), "the wrong tokens were not audited")


def test_node_agent_token(sb):
    """A node agent whose certificate (or, over plain TCP, token) names another node is
    refused its heartbeats (audited, its node shows no agent); with its own node's its
    heartbeats are taken, and the identity may still do nothing else."""
    pg1 = t.make_pg_cluster(sb, 0)[0]
    a = Auth(sb)
    a.ok("alice", "node", "add", "pg1", "--conninfo", pg1.conninfo)
    # Under TLS the agent's certificate is its identity (one naming pg9); over plain TCP,
    # its token.
    ag = t.Agent(sb, pg1, a.q.addresses, identity="main/pg9")
    if not t.TLS:
        with open(ag.config, "a") as f:
            f.write("[auth]\ntoken_file = %s\n" % a.files["node:main/pg9"])
    ag.start()
    t.wait_until(lambda: any(e["event"] == "audit" and e["action"] == "heartbeat" and
                             "may only send heartbeats for its own node" in e["outcome"]
                             for e in a.events("node:main/pg9")), 30,
                 "the audit of a heartbeat for another node")
    st = a.status()
    t.check(a.q.node("pg1", st)["agent"] is None, "pg1 has an agent: %s" % a.q.node("pg1", st))
    ag.kill()
    ag = t.Agent(sb, pg1, a.q.addresses)
    if not t.TLS:
        with open(ag.config, "a") as f:
            f.write("[auth]\ntoken_file = %s\n" % a.files["node:main/pg1"])
    ag.start()
    t.wait_until(lambda: (t.agent_of(a, "pg1", a.status()) or {}).get("state") == "up", 30,
                 "pg1's agent up with its own token")
    t.check(a.denied("node:main/pg1", "pause"), "a node agent's identity could pause")
    t.check(TOKENS["node:main/pg1"] not in ag.log_text() + a.logs(), "the agent's token is logged")


def test_token_rotation_on_sighup(sb):
    """New [auth] tokens and admins take effect on SIGHUP: a new token works on every monitor,
    the one removed is refused, and a new static admin is admin at once."""
    a = Auth(sb)
    new = token_file(sb, "bob2", "bob-rotated-token-7")
    a.files["bob2"] = new
    line = "tokens = bob:%s\nadmins = user:alice, user:bob\n" % hashed(sb, "bob-rotated-token-7")
    for m in a.q.monitors:
        with open(m.config) as f:
            text = f.read()
        text = re.sub(r"tokens = .*\nadmins = .*\n", lambda _: line, text)
        with open(m.config, "w") as f:
            f.write(text)
        m.proc.send_signal(t.signal.SIGHUP)
    each = [m.api_address for m in a.q.monitors]
    t.wait_until(lambda: all(a.ctl("bob2", "status", "--local", monitors=m).returncode == 0
                             for m in each), 15, "bob's new token on every monitor")
    a.ok("bob2", "node", "add", "pgb", "--conninfo", FAKE)
    t.check("pgb" in [n["name"] for n in json.loads(
        a.ok("bob2", "status", "--json").stdout)["nodes"]], "bob, now a static admin, could not add")
    for m in each:
        p = a.ctl("alice", "status", "--local", monitors=m)
        t.check(p.returncode == 1 and "unknown token" in p.stderr,
                "alice's removed token still works on %s: %s" % (m, p.stderr))


def test_access_usage(sb):
    """role, grant, deny and revoke with a wrong word, action, role or name are usage errors
    (exit 2) found before any monitor is asked; token hash of nothing fails (exit 1); an
    unreadable token file is a usage error naming the file, not its content."""
    dead = "127.0.0.1:%d" % t.free_ports(1)[0]
    for args, words in ((["role", "bob", "root"], "usage: role NAME"),
                        (["role", "bob"], "usage: role NAME"),
                        (["grant", "fly", "to", "bob"], '"fly" is not an action'),
                        (["grant", "report", "to", "bob"], '"report" is not an action'),
                        (["grant", "status", "for", "bob"], "usage: grant ACTION to NAME"),
                        (["revoke", "status", "to", "bob"], "usage: revoke ACTION from NAME"),
                        (["deny", "status", "to", "bob", "on", "cluster", "a/b"],
                         '"a/b" is not a valid cluster name'),
                        (["deny", "status", "to", "a b"], '"a b" is not an identity'),
                        (["grant", "status", "to", "monitor:1"], "is not an identity"),
                        (["role", "bob", "admin", "--cluster", "main"], "--cluster")):
        p = t.run([t.PGQUORUMCTL, "--monitors", dead] + sb.ctl_tls_args(None) + args,
                  check_rc=False)
        t.check(p.returncode == 2 and words in p.stderr, "%s: %d %r" % (args, p.returncode,
                                                                       p.stderr))
    p = t.run([t.PGQUORUMCTL, "token", "hash"], input="", check_rc=False)
    t.check(p.returncode == 1 and "no token" in p.stderr, "token hash of nothing: %r" % p.stderr)
    secret = sb.path("secret")
    with open(secret, "w") as f:
        f.write("\n")
    p = t.run([t.PGQUORUMCTL, "--monitors", dead, "--token-file", secret, "status"] +
              sb.ctl_tls_args(None), check_rc=False)
    t.check(p.returncode == 2 and "the token is empty" in p.stderr and secret in p.stderr,
            "empty token file: %r" % p.stderr)


def test_no_auth_warns(sb):
    """Without [auth] and TLS, everything stays allowed as before, with one warning at
    start."""
    q = t.Quorum(sb, 1, tls=False).start()
    q.ctl("node", "add", "pg1", "--conninfo", FAKE, check_rc=True)
    log = q.monitor(1).log_text()
    t.check(log.count("no authentication: anyone who can reach api_address can change the "
                      "cluster") == 1, "the warning:\n%s" % log)
    w = q.ctl("whoami", check_rc=True).stdout
    t.check("authentication is off" in w, "whoami without auth:\n%s" % w)


if __name__ == "__main__":
    t.main([test_viewer_is_refused_every_write, test_operator_and_events_who,
            test_grant_and_deny_on_every_monitor, test_wrong_tokens_are_bounded,
            test_node_agent_token, test_token_rotation_on_sighup, test_access_usage,
            test_no_auth_warns])
