"""Test library for pgquorum's integration tests, demo and benchmarks.

Real parts only: PostgreSQL 15 from Debian (run as the `postgres` user when
we are root, in temporary directories it owns, on loopback ports we pick),
real pgquorumd processes, and pgquorumctl for everything an operator does.
Every wait is a condition with a deadline, never a guessed sleep.
"""

import json
import os
import pwd
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

PG_BINDIR = os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin")


def _find_builddir():
    env = os.environ.get("PGQ_BUILDDIR")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", ".."), os.path.join(here, "..", "..", "build")):
        if os.path.exists(os.path.join(cand, "pgquorumd")):
            return os.path.abspath(cand)
    return os.path.abspath(os.path.join(here, "..", ".."))


BUILDDIR = _find_builddir()
PGQUORUMD = os.path.join(BUILDDIR, "pgquorumd")
PGQUORUMCTL = os.path.join(BUILDDIR, "pgquorumctl")

# Every test runs with TLS and certificates unless PGQ_TEST_TLS=off (the
# benchmarks compare both).
TLS = os.environ.get("PGQ_TEST_TLS", "on") != "off"

T0 = time.monotonic()


def log(msg):
    sys.stdout.write("[%7.2fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


class TestFailure(Exception):
    pass


class Unreachable(Exception):
    """A command could not reach a monitor: conditions retry on this."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def one_line_error(p, code, words, what):
    """A command refused as it should be: exit `code`, one line on stderr that says `words`."""
    err = p.stderr.strip()
    check(p.returncode == code, "%s: exit %d, expected %d (%s)" % (what, p.returncode, code, err))
    check(words in err, "%s: %r does not say %r" % (what, err, words))
    check(len(err.splitlines()) == 1, "%s: not one line: %r" % (what, err))


def wait_until(cond, timeout, what, interval=0.05):
    """Poll cond() until it returns a true value; return it, or fail."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except TestFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - conditions may race with restarts
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1fs waiting for %s%s" % (
                timeout, what, " (last error: %s)" % last_exc if last_exc else ""))
        time.sleep(interval)


def holds_for(cond, seconds, what, interval=0.2):
    """Check that cond() stays true for `seconds` (a window longer than what must not happen
    takes): fail at once, naming `what` and cond's value, when it does not."""
    end = time.monotonic() + seconds
    while True:
        v = cond()
        if not v:
            raise TestFailure("%s (within %.1fs of a %.1fs window)" % (
                what, seconds - max(end - time.monotonic(), 0.0), seconds))
        if time.monotonic() >= end:
            return v
        time.sleep(interval)


# The servers a test starts listen below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range): a port the kernel picks from that range
# for a listener that then closes may be taken as the local port of an
# outgoing connection (the monitors open many) before the server binds it,
# and PostgreSQL then fails with "Address already in use" (seen in CI).
# Each test process starts at its own place in the range, so that two run
# side by side do not try the same ports.
PORT_LOW = 10000
_port_next = None


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that nothing listens on, below the ephemeral range."""
    global _port_next
    span = max(_ephemeral_low() - PORT_LOW, 1000)
    if _port_next is None:
        _port_next = (os.getpid() * 7919) % span
    ports = []
    for _ in range(span):
        if len(ports) == n:
            break
        port = PORT_LOW + _port_next % span
        _port_next += 1
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(port)
    if len(ports) < n:
        raise TestFailure("no %d free ports from %d up" % (n, PORT_LOW))
    return ports


def as_postgres(cmd):
    """PostgreSQL refuses root: run server-side tools as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def run(cmd, check_rc=True, timeout=120, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check_rc and p.returncode != 0:
        raise TestFailure("command failed (%d): %s\n%s%s" % (
            p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


class Sandbox:
    """A temporary directory every process of a test lives in; cleaning up
    kills every process started here and removes the directory."""

    def __init__(self, name="pgq"):
        self.dir = tempfile.mkdtemp(prefix="%s-" % name, dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.postgres = []
        self.keep = os.environ.get("PGQ_KEEP_SANDBOX") == "1"

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def binary_for_postgres(self):
        """pgquorumd where the postgres user can run it: a copy in the sandbox (the
        checkout may be under a directory it cannot read)."""
        path = self.path("bin", "pgquorumd")
        if not os.path.exists(path):
            os.makedirs(self.path("bin"), exist_ok=True)
            os.chmod(self.path("bin"), 0o755)
            shutil.copy2(PGQUORUMD, path)
            os.chmod(path, 0o755)
        return path

    def certs(self):
        """This sandbox's CA (made on first use)."""
        if getattr(self, "_ca", None) is None:
            import pgqtls
            d = self.path("tls")
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
            self._ca = pgqtls.make_ca(d)
            self._certs = {}
        return self._ca

    def cert(self, name, uris=(), owner=None, **kw):
        """(cert, key) for name, signed by this sandbox's CA (made once)."""
        import pgqtls
        ca = self.certs()
        if name not in self._certs:
            self._certs[name] = pgqtls.make_cert(ca, self.path("tls"), name, uris=uris,
                                                 owner=owner, **kw)
        return self._certs[name]

    def tls_section(self, name, uris=(), owner=None):
        """The [tls] keys of a daemon whose certificate names uris."""
        cert, key = self.cert(name, uris, owner)
        return {"ca_file": self.certs().cert, "cert_file": cert, "key_file": key}

    def ctl_tls_args(self, user="admin", tls=None):
        """pgquorumctl's TLS options, as operator user (an admin by default; None: no
        certificate, only the CA: anonymous unless a token is given)."""
        if not (TLS if tls is None else tls):
            return ["--plain"]
        if user is None:
            return ["--tls-ca", self.certs().cert]
        cert, key = self.cert("user-%s" % user, ["pgquorum:user:%s" % user])
        return ["--tls-ca", self.certs().cert, "--tls-cert", cert, "--tls-key", key]

    def pg_owned_dir(self, name):
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(d, 0o700)
        return d

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for pg in self.postgres:
            pg.kill9(quiet=True)
        for pg in self.postgres:
            # Marked for removal; it goes once the last backend has detached.
            pg.remove_shm()
        if self.keep:
            log("sandbox kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# The least-privilege role monitors and agents use (docs/operations.md, "A least-privilege
# role for pgquorum"): every primary a test initdb's gets it when it first starts, standbys
# get it by replication, and every node's registered conninfo uses it.
MONITOR_ROLE = "pgquorum_monitor"
MONITOR_ROLE_SQL = [
    "CREATE ROLE pgquorum_monitor LOGIN REPLICATION"
    " IN ROLE pg_monitor, pg_signal_backend, pg_checkpoint",
    "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO pgquorum_monitor",
    "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO pgquorum_monitor",
    "GRANT ALTER SYSTEM ON PARAMETER primary_conninfo, primary_slot_name,"
    " synchronous_standby_names, default_transaction_read_only TO pgquorum_monitor",
    "GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean), pg_stat_file(text, boolean),"
    " pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean),"
    " pg_read_file(text) TO pgquorum_monitor",
]


class Postgres:
    """One PostgreSQL 15 server on 127.0.0.1:port."""

    def __init__(self, sb, name, port=None):
        self.sb = sb
        self.name = name
        self.port = port or free_ports(1)[0]
        self.datadir = sb.path(name, "data")
        self.sockdir = sb.path(name, "sock")
        self.logfile = sb.path(name, "postgres.log")
        sb.pg_owned_dir(name)
        sb.postgres.append(self)

    @property
    def conninfo(self):
        """What the monitors and agents connect with: the least-privilege role."""
        return "host=127.0.0.1 port=%d user=%s dbname=postgres" % (self.port, MONITOR_ROLE)

    def _pg(self, tool, *args, timeout=120):
        return run(as_postgres([os.path.join(PG_BINDIR, tool)] + list(args)), timeout=timeout)

    def initdb(self):
        self._pg("initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8", "--locale=C")
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# pgquorum tests\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "wal_level = replica\n"
                    "max_wal_senders = 10\n"
                    "max_replication_slots = 10\n"
                    "hot_standby = on\n"
                    "wal_log_hints = on\n"
                    "wal_keep_size = '128MB'\n"
                    "shared_buffers = '16MB'\n"
                    "max_connections = 40\n"
                    "wal_receiver_status_interval = '1s'\n"
                    "wal_retrieve_retry_interval = '1s'\n"
                    "logging_collector = off\n"
                    "log_min_messages = warning\n")
        self.pin_port()
        self._needs_role = True  # created at the first start (a standby gets it replicated)
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all all 127.0.0.1/32 trust\n"
                    "host replication all 127.0.0.1/32 trust\n")
        return self

    def pin_port(self):
        """The port and socket directory in the configuration itself, not only on pg_ctl's
        command line: a node agent starts PostgreSQL with a plain `pg_ctl start`."""
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\n" % (self.port, self.sockdir))
        return self

    def basebackup(self, primary):
        self._pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", self.datadir, "-X", "stream", "-c", "fast", "-R", "--no-sync")
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            f.write("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres "
                    "application_name=%s'\n" % (primary.port, self.name))
        return self.pin_port()

    def _clear_dead_lock(self):
        """A postmaster killed with SIGKILL is reaped by PID 1, which some
        containers do lazily: PostgreSQL then sees the zombie's PID in
        postmaster.pid (and in its socket's lock file) and refuses to
        start. A zombie is dead: drop the stale lock files."""
        pid = self.pid()
        if pid is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                return  # gone: PostgreSQL handles the stale file itself
            if state == "Z":
                os.remove(os.path.join(self.datadir, "postmaster.pid"))
                lock = os.path.join(self.sockdir, ".s.PGSQL.%d.lock" % self.port)
                if os.path.exists(lock):
                    os.remove(lock)
                return
            time.sleep(0.05)

    def start(self):
        self._clear_dead_lock()
        os.makedirs(self.sockdir, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
        self._pg("pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
                 "-o", "-p %d -k %s" % (self.port, self.sockdir), "start")
        if getattr(self, "_needs_role", False):
            # One transaction, committed locally: a primary started with
            # synchronous_standby_names has no standby yet to wait for.
            self.sql("SET synchronous_commit = local; " + "; ".join(MONITOR_ROLE_SQL))
            self._needs_role = False
        return self

    def pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def shm_id(self):
        """The System V segment of the running postmaster (postmaster.pid, line 7)."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                lines = f.read().splitlines()
            return int(lines[6].split()[1])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self, quiet=False):
        """kill -9 the postmaster (children notice and exit)."""
        pid = self.pid()
        if pid is None:
            return
        self._killed_shm = self.shm_id()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not quiet:
            log("%s: postmaster %d killed with SIGKILL" % (self.name, pid))
        # The backends exit once they notice; wait for the port to close.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.accepting():
            time.sleep(0.02)

    def remove_shm(self):
        """A killed postmaster leaves its small System V segment behind."""
        shm = getattr(self, "_killed_shm", None)
        if shm is not None:
            subprocess.run(["ipcrm", "-m", str(shm)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self._killed_shm = None

    def accepting(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def sql(self, query, timeout=20, check_rc=True):
        p = run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                 "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query],
                check_rc=check_rc, timeout=timeout)
        return p.stdout.strip() if check_rc else p

    def in_recovery(self):
        return self.sql("SELECT pg_is_in_recovery()") == "t"

    def timeline(self):
        return int(self.sql("SELECT timeline_id FROM pg_control_checkpoint()"))


def make_pg_cluster(sb, n_standbys=2, sync=False):
    """A primary and n streaming standbys, named pg1 (primary), pg2, ..."""
    primary = Postgres(sb, "pg1").initdb()
    if sync and n_standbys > 0:
        names = ",".join("pg%d" % (i + 2) for i in range(n_standbys))
        with open(os.path.join(primary.datadir, "postgresql.conf"), "a") as f:
            f.write("synchronous_standby_names = 'ANY 1 (%s)'\n" % names)
    primary.start()
    nodes = [primary]
    for i in range(n_standbys):
        s = Postgres(sb, "pg%d" % (i + 2)).basebackup(primary).start()
        nodes.append(s)
    wait_until(lambda: int(primary.sql(
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) == n_standbys,
        60, "standbys streaming from pg1")
    return nodes


class Monitor:
    def __init__(self, sb, mid, raft_port, api_port, peers, settings, http_port=None):
        self.sb = sb
        self.id = mid
        self.raft_address = "127.0.0.1:%d" % raft_port
        self.api_address = "127.0.0.1:%d" % api_port
        # Every test monitor serves HTTP: each test is also one of its clients.
        self.http_address = "127.0.0.1:%d" % http_port if http_port else ""
        self.data_dir = sb.path("monitor%d" % mid)
        self.config = sb.path("monitor%d.ini" % mid)
        self.logfile = sb.path("monitor%d.log" % mid)
        self.proc = None
        self.env = {}
        # An open-file limit (soft and hard) to start it with; None: the tests' own.
        self.nofile = None
        sections = {"monitor": {}, "raft": {}, "health": {}, "failover": {}, "api": {},
                    "http": {}, "tls": {}, "auth": {}}
        if self.http_address:
            sections["monitor"]["http_address"] = self.http_address
        if TLS and settings.get("monitor.tls") != "off":
            sections["tls"] = sb.tls_section("monitor%d" % mid, ["pgquorum:monitor:%d" % mid])
        else:
            sections["monitor"]["tls"] = "off"
        for key, value in settings.items():
            section, k = key.split(".", 1)
            sections[section][k] = value
        if sections["tls"]:
            # The tests' operator: a static admin (tests of roles name their own).
            sections["auth"].setdefault("admins", "user:admin")
        with open(self.config, "w") as f:
            f.write("[monitor]\nid = %d\ndata_dir = %s\nraft_address = %s\napi_address = %s\n"
                    "peers = %s\n" % (mid, self.data_dir, self.raft_address, self.api_address,
                                      peers))
            for k, v in sections["monitor"].items():
                f.write("%s = %s\n" % (k, v))
            # [tls] before the others: a test that appends keys to the file appends them
            # to the section that was last before TLS came.
            for section in ("tls", "raft", "health", "failover", "api", "http", "auth"):
                if sections[section]:
                    f.write("[%s]\n" % section)
                    for k, v in sections[section].items():
                        f.write("%s = %s\n" % (k, v))

    def start(self, env=None):
        out = open(self.logfile, "a")
        e = dict(os.environ)
        e.update(self.env)
        e.update(env or {})
        limit = self.nofile

        def preexec():
            if limit is not None:
                # Hard too: pgquorumd raises its soft limit to the hard one.
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        self.proc = subprocess.Popen([PGQUORUMD, "--config", self.config], stdout=out,
                                     stderr=subprocess.STDOUT, env=e, preexec_fn=preexec)
        out.close()
        self.sb.procs.append(self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)
            log("monitor %d killed with SIGKILL" % self.id)

    def stop(self, timeout=20):
        """SIGTERM; returns the exit code (0 after a clean shutdown)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log_text(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except OSError:
            return ""


class Agent:
    """A pgquorumd node agent beside one Postgres, run as the postgres user."""

    def __init__(self, sb, pg, monitors, settings=None, identity=None):
        self.sb = sb
        self.pg = pg
        self.config = sb.path("agent-%s.ini" % pg.name)
        self.logfile = sb.path("agent-%s.log" % pg.name)
        self.proc = None
        sb.agents = getattr(sb, "agents", []) + [self]
        self.http_address = "127.0.0.1:%d" % free_ports(1)[0]
        node = {"name": pg.name, "pgdata": pg.datadir, "bindir": PG_BINDIR,
                "conninfo": pg.conninfo, "monitors": monitors, "http_address": self.http_address}
        node.update(settings or {})
        tls = {}
        if TLS and node.get("tls") != "off":
            # identity: the node its certificate names (default: its own).
            who = identity or "%s/%s" % (node.get("cluster", "main"), pg.name)
            tls = sb.tls_section("node-%s" % who.replace("/", "-"), ["pgquorum:node:%s" % who],
                                 owner="postgres")
        else:
            node["tls"] = "off"
        with open(self.config, "w") as f:
            # [node] last: tests append node keys to the file.
            if tls:
                f.write("[tls]\n")
                for k, v in tls.items():
                    f.write("%s = %s\n" % (k, v))
            f.write("[node]\n")
            for k, v in node.items():
                f.write("%s = %s\n" % (k, v))
        os.chmod(self.config, 0o644)

    def start(self):
        out = open(self.logfile, "a")
        cmd = [self.sb.binary_for_postgres(), "--config", self.config]
        if os.geteuid() == 0:
            # setpriv execs (runuser forks): the process is the agent itself.
            cmd = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + cmd
        # The checkout may sit where the postgres user cannot read: the agent runs a copy of
        # the binary from the sandbox, in the sandbox.
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.sb.dir)
        out.close()
        self.sb.procs.append(self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.alive(), "agent of %s not running" % self.pg.name)
        os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        log("agent of %s killed with SIGKILL" % self.pg.name)

    def log_text(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except OSError:
            return ""


FAST_RAFT = {"raft.election_timeout": "500ms", "raft.heartbeat_timeout": "50ms"}


class Quorum:
    """n real pgquorumd monitors on loopback."""

    def __init__(self, sb, n=3, settings=None, tls=None, nofile=None):
        self.sb = sb
        sb.quorums = getattr(sb, "quorums", []) + [self]
        ports = free_ports(3 * n)
        raft_ports, api_ports, http_ports = ports[:n], ports[n:2 * n], ports[2 * n:]
        peers = ",".join("%d=127.0.0.1:%d" % (i + 1, raft_ports[i]) for i in range(n))
        s = dict(FAST_RAFT)
        # tls=False: this quorum runs plain TCP whatever the tests' default.
        self.tls = TLS if tls is None else tls
        if not self.tls:
            s["monitor.tls"] = "off"
        s.update(settings or {})
        self.peers = peers
        self.settings = s
        self.monitors = [Monitor(sb, i + 1, raft_ports[i], api_ports[i], peers, s,
                                 http_ports[i]) for i in range(n)]
        for m in self.monitors:
            m.nofile = nofile

    def new_monitor(self, mid):
        """A monitor that joins this running quorum (join = on, an empty data_dir, new
        ports, its own certificate), not started; `peers` stays the bootstrap set."""
        raft, api, http = free_ports(3)
        s = dict(self.settings)
        s["monitor.join"] = "on"
        m = Monitor(self.sb, mid, raft, api, self.peers, s, http)
        self.monitors.append(m)
        return m

    @property
    def addresses(self):
        return ",".join(m.api_address for m in self.monitors)

    def start(self):
        for m in self.monitors:
            m.start()
        self.wait_leader()
        return self

    def monitor(self, mid):
        for m in self.monitors:
            if m.id == mid:
                return m
        raise KeyError(mid)

    def ctl(self, *args, check_rc=False, timeout=60, monitors=None, user="admin"):
        cmd = ([PGQUORUMCTL, "--monitors", monitors or self.addresses] +
               self.sb.ctl_tls_args(user, self.tls) + list(args))
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check_rc and p.returncode != 0:
            raise TestFailure("pgquorumctl %s failed (%d): %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def status(self, cluster=None):
        args = ["status", "--json", "--timeout", "2s"]
        if cluster:
            args += ["--cluster", cluster]
        p = self.ctl(*args)
        if p.returncode != 0:
            raise Unreachable("status failed (%d): %s" % (p.returncode, p.stderr.strip()))
        return json.loads(p.stdout)

    def events(self):
        p = self.ctl("events", "--json", check_rc=True)
        return json.loads(p.stdout)

    def leader(self):
        """The id of a ready leader that says so itself, or None."""
        st = self.status()
        for m in st["monitors"]:
            if m["role"] == "leader" and m.get("ready"):
                return m["id"]
        return None

    def wait_leader(self, timeout=20, exclude=()):
        def ok():
            lid = self.leader()
            return lid if lid is not None and lid not in exclude else None
        return wait_until(ok, timeout, "a ready Raft leader")

    def node(self, name, st=None):
        st = st or self.status()
        for n in st["nodes"]:
            if n["name"] == name:
                return n
        return None

    def stop_all(self):
        codes = {}
        for m in self.monitors:
            codes[m.id] = m.stop()
        return codes

    def dump_logs(self):
        for m in self.monitors:
            log("---- monitor %d log (tail) ----" % m.id)
            sys.stdout.write("\n".join(m.log_text().splitlines()[-60:]) + "\n")


def psql_uri(u, sql, timeout=10):
    """Run sql through a libpq URI as postgres, failing fast on connect."""
    sep = "&" if "?" in u else "?"
    return run(["psql", u + sep + "connect_timeout=2&user=postgres", "-XAtq", "-v",
                "ON_ERROR_STOP=1", "-c", sql], check_rc=False, timeout=timeout)


class PgError(Exception):
    pass


class PgSession:
    """One PostgreSQL session over the frontend/backend protocol 3.0 (trust authentication, as
    the test clusters use): a real client on one open connection, the way an application holds
    one. Statements run one at a time; `execute` returns when the server says ready, raises
    PgError with the server's message for an error, and OSError when the connection is gone."""

    def __init__(self, port, user="postgres", dbname="postgres", timeout=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(timeout)
        params = b"user\0%s\0database\0%s\0\0" % (user.encode(), dbname.encode())
        body = struct.pack("!I", 196608) + params
        self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
        self._until_ready()

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise OSError("connection closed by the server")
            buf += chunk
        return buf

    def _until_ready(self):
        error = None
        while True:
            kind = self._recv_exact(1)
            (length,) = struct.unpack("!I", self._recv_exact(4))
            payload = self._recv_exact(length - 4)
            if kind == b"R" and struct.unpack("!I", payload[:4])[0] != 0:
                raise PgError("authentication other than trust is not supported here")
            if kind == b"E":
                fields = dict((f[:1], f[1:].decode(errors="replace"))
                              for f in payload.split(b"\0") if f)
                error = fields.get(b"M", "error")
                if fields.get(b"S") == "FATAL":
                    raise OSError("FATAL: %s" % error)
            if kind == b"Z":
                if error is not None:
                    raise PgError(error)
                return

    def execute(self, sql):
        q = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!I", len(q) + 4) + q)
        self._until_ready()

    def close(self):
        try:
            self.sock.sendall(b"X" + struct.pack("!I", 4))
        except OSError:
            pass
        self.sock.close()


class SessionWriter(threading.Thread):
    """A client writing sql(i) for i = 1, 2, ... on ONE open session to a server, until the
    session ends (the server terminates it, or stop()): what it acknowledged, as (i, time)."""

    def __init__(self, port, sql):
        super().__init__(daemon=True)
        self.session = PgSession(port)
        self.sql = sql
        self.acked = []
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                self.session.execute(self.sql(i))
                self.acked.append((i, time.monotonic()))
            except PgError as exc:
                self.errors.append(str(exc))
            except OSError as exc:
                self.errors.append(str(exc))
                return

    def finish(self):
        self.stop.set()
        try:
            self.session.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(timeout=30)


class Writer(threading.Thread):
    """A client writing through a URI again and again: sql(i) for i = 1, 2, ...;
    remembers what was acknowledged, as (i, time.monotonic()). After a failed
    write it pauses `pause` seconds."""

    def __init__(self, u, sql, pause=0.05):
        super().__init__(daemon=True)
        self.uri = u
        self.sql = sql
        self.pause = pause
        self.acked = []
        self.started = {}  # i -> when its attempt began
        self.failed = 0
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            self.started[i] = time.monotonic()
            try:
                ok = psql_uri(self.uri, self.sql(i)).returncode == 0
            except Exception:  # noqa: BLE001 - a hung connection is a failed write
                ok = False
            if ok:
                self.acked.append((i, time.monotonic()))
            else:
                self.failed += 1
                time.sleep(self.pause)

    def first_after(self, t0):
        """Seconds from t0 to the first write begun and acknowledged after it, or None (a
        write in flight at t0 may be acknowledged just after it, by the old primary)."""
        later = [ts for i, ts in self.acked if self.started[i] > t0]
        return min(later) - t0 if later else None

    def finish(self):
        self.stop.set()
        self.join(timeout=30)


# ---- a standard failover setup: pg1 primary, pg2 and pg3 standbys, 3 monitors ----

FAST = {
    "health.interval": "1s",
    "health.retry_interval": "300ms",
    "health.retries": "2",
    "health.timeout": "2s",
    "health.report_refresh": "5s",
    "failover.failover_timeout": "1s",
}


def failover_setup(sb, sync=False, env3=None, settings=None, before=None):
    """pg1 primary, pg2 and pg3 standbys, three monitors watching them (FAST settings,
    updated by `settings`; env3: environment of monitor 3; before(monitor): called for each
    monitor before it starts)."""
    nodes = make_pg_cluster(sb, 2, sync=sync)
    q = Quorum(sb, 3, dict(FAST, **(settings or {})))
    if env3:
        q.monitor(3).env.update(env3)
    for m in q.monitors:
        if before:
            before(m)
    q.start()
    for n in nodes:
        # pg3 is registered by name: the monitors resolve it off their loop.
        ci = n.conninfo.replace("127.0.0.1", "localhost") if n.name == "pg3" else n.conninfo
        q.ctl("node", "add", n.name, "--conninfo", ci, check_rc=True)

    def steady():
        st = q.status()
        c = st["clusters"][0]
        roles = {n["name"]: (n["role"], n["health"], n["following_epoch"]) for n in st["nodes"]}
        return (c["primary"] == "pg1" and c["epoch"] == 1 and roles == {
            "pg1": ("primary", "up", 1), "pg2": ("standby", "up", 1),
            "pg3": ("standby", "up", 1)})
    wait_until(steady, 30, "pg1 discovered as primary of epoch 1, pg2 and pg3 as standbys")
    return nodes, q


def wait_failover(q, epoch, timeout=60):
    def done():
        c = q.status()["clusters"][0]
        return c if c["epoch"] == epoch and c["failover"]["phase"] == "done" else None
    return wait_until(done, timeout, "failover to epoch %d done" % epoch)


def uri(q):
    return q.ctl("uri", check_rc=True).stdout.strip()


def promoted_nodes(nodes):
    return [n.name for n in nodes[1:] if n.accepting() and not n.in_recovery()]


def events_of(q, kind):
    return [e for e in q.events() if e["event"] == kind]


def check_single_promotion(q, nodes, new_primary, epoch=2):
    check(promoted_nodes(nodes) == [new_primary.name],
          "promoted standbys: %s, expected only %s" % (promoted_nodes(nodes), new_primary.name))
    check(new_primary.timeline() == epoch or int(new_primary.sql(
        "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")) == 2,
        "the new primary is not on timeline 2: promoted more than once?")
    decided = events_of(q, "failover-decided")
    promoted = events_of(q, "promoted")
    check(len(decided) == 1 and decided[0]["epoch"] == epoch,
          "failover decisions: %s" % decided)
    check(len(promoted) == 1 and promoted[0]["node"] == new_primary.name,
          "promotion steps: %s" % promoted)


def check_follows(standby, primary, timeout=30, timeline=2):
    def streaming():
        p = standby.sql("SELECT status, sender_port, received_tli FROM pg_stat_wal_receiver",
                        check_rc=False)
        r = p.stdout.strip() if p.returncode == 0 else ""
        return r if r == "streaming|%d|%d" % (primary.port, timeline) else None
    wait_until(streaming, timeout, "%s streaming from %s on timeline %d" % (
        standby.name, primary.name, timeline))


def stop_streaming(standby):
    """Point a standby at a closed port: it stays up but receives no more WAL."""
    standby.sql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=%d user=postgres "
                "application_name=%s'" % (free_ports(1)[0], standby.name))
    standby.sql("SELECT pg_reload_conf()")



# ---- node agents beside every PostgreSQL ----

# Monitors at their default health and failover settings: what the agent adds must
# not depend on fast probes. Only Raft runs fast (loopback).
AGENT_DEFAULTS = {}


def agent_of(q, name, st=None):
    n = q.node(name, st)
    return n["agent"] if n else None


def agent_setup(sb, agents=("pg1", "pg2", "pg3"), settings=None, agent_settings=None,
                nodes=None):
    """pg1 primary, pg2 and pg3 standbys (`nodes`, or made here), three monitors, and an agent
    beside each PostgreSQL in `agents`, which registers its node itself."""
    nodes = nodes or make_pg_cluster(sb, 2)
    q = Quorum(sb, 3, dict(AGENT_DEFAULTS, **(settings or {}))).start()
    ags = {}
    for n in nodes:
        if n.name in agents:
            ags[n.name] = Agent(sb, n, q.addresses, agent_settings).start()
        else:
            q.ctl("node", "add", n.name, "--conninfo", n.conninfo, check_rc=True)

    def steady():
        st = q.status()
        if not st["clusters"] or st["clusters"][0]["primary"] != "pg1":
            return False
        for n in st["nodes"]:
            if n["health"] != "up" or (n["role"] not in ("primary", "standby")):
                return False
            if n["name"] in agents and (n["agent"] is None or n["agent"]["state"] != "up"):
                return False
        return agent_of(q, "pg1", st)["lease"] if "pg1" in agents else True
    wait_until(steady, 90, "nodes registered by their agents, pg1 primary holding a lease")
    return nodes, q, ags


# The nftables table of this test program: programs may run side by side (make -j2 check).
CUT_TABLE = "pgqcut%d" % os.getpid()


def nft(*rules):
    """Load nftables rules (root); "pgqcut" in them is this program's own table."""
    text = "\n".join(rules).replace("inet pgqcut", "inet " + CUT_TABLE) + "\n"
    subprocess.run(["nft", "-f", "-"], input=text, text=True, check=True)


def sb_ctl_env(sb, user="admin"):
    """Shell lines that point pgquorumctl at sb's CA and user's certificate."""
    cert, key = sb.cert("user-%s" % user, ["pgquorum:user:%s" % user])
    return ("  export PGQUORUM_TLS_CA=%s\n  export PGQUORUM_TLS_CERT=%s\n"
            "  export PGQUORUM_TLS_KEY=%s\n" % (sb.certs().cert, cert, key))


def tls_context(sb, user=None):
    """A client TLS context trusting sb's CA (with user's certificate if given), or
    None when the tests run without TLS."""
    if not TLS:
        return None
    import pgqtls
    cache = sb.__dict__.setdefault("_contexts", {})
    if user not in cache:
        cert = key = None
        if user:
            cert, key = sb.cert("user-%s" % user, ["pgquorum:user:%s" % user])
        cache[user] = pgqtls.client_context(sb.certs().cert, cert, key)
    return cache[user]


# The sandbox of the running test, for helpers that connect (http_get, connect).
CURRENT_SANDBOX = None


# The API's wire format, for tests that speak it byte by byte (protobuf
# fields: a varint field, a bytes field; a length-prefixed frame).
def api_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def api_fv(num, v):
    return api_varint(num << 3) + api_varint(v)


def api_fb(num, b):
    return api_varint(num << 3 | 2) + api_varint(len(b)) + b


def api_frame(body):
    return struct.pack(">I", len(body)) + body


def api_read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def api_parse(msg):
    """Top-level fields of a protobuf message: {num: value} (last wins)."""
    out, i = {}, 0
    while i < len(msg):
        key, i = api_read_varint(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num], i = api_read_varint(msg, i)
        elif wt == 2:
            n, i = api_read_varint(msg, i)
            out[num] = msg[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
    return out


def api_recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def api_recv_frame(s):
    """The top-level fields of one reply frame read from s, None when it closed first."""
    hdr = api_recv_exact(s, 4)
    if hdr is None:
        return None
    body = api_recv_exact(s, struct.unpack(">I", hdr)[0])
    return None if body is None else api_parse(body)


def tls_wrap(s, sb=None, user=None):
    """s, connected, after a TLS handshake when the tests run with TLS."""
    ctx = tls_context(sb or CURRENT_SANDBOX, user)
    if ctx is None:
        return s
    try:
        return ctx.wrap_socket(s)
    except Exception:
        s.close()
        raise


def connect(address, timeout=5, sb=None, user=None, source=None):
    """A socket to address (from source IP if given), TLS-wrapped when the tests run
    with TLS."""
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    # As pgquorumctl and the daemons do: else Nagle holds a request behind the
    # handshake's last flight until the server's delayed ACK (40 ms).
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return tls_wrap(s, sb, user)


def http_get(address, path, timeout=5):
    """GET http(s)://address/path: (status, body text); status 0 when nothing answered."""
    import http.client
    host, port = address.rsplit(":", 1)
    try:
        ctx = tls_context(CURRENT_SANDBOX)
        if ctx is not None:
            c = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=ctx)
        else:
            c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, body
    except OSError:
        return 0, ""


def nft_heal():
    """Drop this program's nftables table."""
    subprocess.run(["nft", "delete", "table", "inet", CUT_TABLE], check=False,
                   stderr=subprocess.DEVNULL)


def main(tests, failpoints=False):
    """Run test functions in order; each gets a fresh Sandbox. Exit 0, or 1
    with the failure; missing prerequisites are failures, never skips.
    `failpoints`: the suite arms failpoints, which only a build configured
    with --enable-failpoints has (make check says which build this is)."""
    for prereq in (PGQUORUMD, PGQUORUMCTL, os.path.join(PG_BINDIR, "postgres")):
        if not os.path.exists(prereq):
            log("FAIL: missing %s" % prereq)
            sys.exit(1)
    if failpoints and os.environ.get("PGQ_WITH_FAILPOINTS") == "no":
        log("FAIL: this suite arms failpoints: configure with --enable-failpoints "
            "(tools/quickstart check does)")
        sys.exit(1)
    failed = 0
    only = os.environ.get("PGQ_TEST_ONLY")
    for t in tests:
        if only and t.__name__ != only:
            continue
        start = time.monotonic()
        log("=== %s: %s" % (t.__name__, (t.__doc__ or "").strip().splitlines()[0]))
        sb = Sandbox(t.__name__)
        global CURRENT_SANDBOX
        CURRENT_SANDBOX = sb
        try:
            t(sb)
            log("--- PASS %s (%.1fs)" % (t.__name__, time.monotonic() - start))
        except Exception as exc:  # noqa: BLE001
            failed += 1
            log("--- FAIL %s: %s" % (t.__name__, exc))
            for q in getattr(sb, "quorums", []):
                q.dump_logs()
                try:  # the committed events say why a failover did not happen
                    for e in q.events()[-25:]:
                        log("event %s %s: %s" % (e["seq"], e["event"], e["message"]))
                except Exception as exc:  # noqa: BLE001 - the quorum may be gone
                    log("events not available: %s" % exc)
            for ag in getattr(sb, "agents", []):
                log("---- agent of %s log (tail) ----" % ag.pg.name)
                sys.stdout.write("".join(ag.log_text().splitlines(True)[-30:]))
            for pg in sb.postgres:
                try:
                    with open(pg.logfile) as f:
                        log("---- %s log (tail) ----" % pg.name)
                        sys.stdout.write("".join(f.readlines()[-20:]))
                except OSError:
                    pass
        finally:
            sb.cleanup()
    sys.exit(1 if failed else 0)
