/* Configuration: the option table, the INI parser and the cross-key checks.
 * See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"
#include "lib/util.h"

enum opt_type {
    OPT_U64,
    OPT_DURATION,
    OPT_SIZE,
    OPT_STRING,
    OPT_ADDR,     /* IPv4:port */
    OPT_ADDR_OFF, /* IPv4:port, or "" (off) */
    OPT_PEERS,    /* id=IPv4:port,... */
    OPT_LOGLEVEL,
    OPT_SSLMODE,
    OPT_CRASH,    /* auto, restart, failover */
    OPT_REJOIN,   /* rewind-or-clone, manual, off */
    OPT_ADDRLIST, /* IPv4:port,... */
    OPT_BOOL,     /* on, off */
    OPT_LOGFORMAT,
};

struct option
{
    const char *section;
    const char *key;
    int type;
    size_t offset;
    size_t size; /* strings: buffer size */
    uint64_t min, max;
    const char *def; /* NULL: required */
    const char *doc;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define NOLIMIT 0, UINT64_MAX
#define LOG_FORMAT_DOC                                                                      \
    "`plain`: one line per event on standard error (`TIME pgquorumd[ID] LEVEL: MESSAGE`); " \
    "`json`: one JSON object per line on standard error (`ts`, `level`, `prog`, `id`, "     \
    "`node`, `msg`); `syslog`: to syslog(3) as `pgquorumd`, facility daemon. Applied on "   \
    "SIGHUP."

/* The option table: every key, its default and its meaning. Keys of the
 * other role's section are not required (a file configures one role). */
static const struct option options[] = {
    {"node", "name", OPT_STRING, F(node_name), NOLIMIT, NULL,
     "This node's name in its cluster. The agent registers the node under it if no operator "
     "did, or attaches to the node registered with that name."},
    {"node", "cluster", OPT_STRING, F(node_cluster), NOLIMIT, PGQ_DEFAULT_CLUSTER,
     "The cluster the node belongs to."},
    {"node", "pgdata", OPT_STRING, F(pgdata), NOLIMIT, NULL,
     "The PostgreSQL data directory the agent supervises."},
    {"node", "bindir", OPT_STRING, F(bindir), NOLIMIT, "/usr/lib/postgresql/15/bin",
     "Where pg_ctl and pg_controldata are."},
    {"node", "conninfo", OPT_STRING, F(node_conninfo), NOLIMIT, NULL,
     "libpq conninfo the monitors (and standbys) use to reach this PostgreSQL; registered "
     "with the node."},
    {"node", "local_conninfo", OPT_STRING, F(local_conninfo), NOLIMIT, "",
     "libpq conninfo the agent uses to check its PostgreSQL answers (empty: `conninfo`)."},
    {"node", "monitors", OPT_ADDRLIST, F(monitors_text), NOLIMIT, NULL,
     "The monitors' API addresses, `10.0.0.1:7002,10.0.0.2:7002,10.0.0.3:7002`: heartbeats "
     "go to the leader among them."},
    {"node", "priority", OPT_U64, F(node_priority), 0, 100, "50",
     "Priority the node is registered with (0: never promoted)."},
    {"node", "crash_policy", OPT_CRASH, F(crash_policy), NOLIMIT, "auto",
     "When the postmaster dies: `restart` restarts it in place (up to restart_attempts), "
     "`failover` leaves a primary to the quorum at once (a standby is still restarted), `auto` "
     "(default) does `failover` when the quorum says a standby could replace this primary, "
     "`restart` otherwise: the fastest safe recovery."},
    {"node", "restart_attempts", OPT_U64, F(restart_attempts), 0, 100, "3",
     "Restarts in place within 10 minutes before the agent gives up and leaves PostgreSQL "
     "down."},
    {"node", "heartbeat_interval", OPT_DURATION, F(agent_heartbeat_ms), 100, 60000, "1s",
     "How often the agent sends its facts to the leader and renews its lease."},
    {"node", "fence_margin", OPT_DURATION, F(fence_margin_ms), 50, 60000, "500ms",
     "A primary is fenced this long before its lease ends, if it could not be renewed."},
    {"node", "local_timeout", OPT_DURATION, F(local_timeout_ms), 100, 600000, "2s",
     "Limit of the agent's local check of its PostgreSQL (connect plus query). Two checks "
     "failing in a row while the postmaster runs: PostgreSQL is hung, and the agent stops it "
     "(then the crash policy applies)."},
    {"node", "start_timeout", OPT_DURATION, F(start_timeout_ms), 1000, 3600000, "5m",
     "How long the agent waits for PostgreSQL to start (crash recovery included)."},
    {"node", "rejoin", OPT_REJOIN, F(rejoin), NOLIMIT, "rewind-or-clone",
     "When this node must follow a primary its data directory has diverged from (a former "
     "primary, a standby left on another timeline) or cannot follow: `rewind-or-clone` "
     "(default) rewinds it with pg_rewind and, when that is impossible or fails, clones it "
     "again from the primary; `manual` only rewinds, and otherwise waits for an operator; "
     "`off` never touches the data directory (an operator rejoins it). An empty data "
     "directory is always cloned, except with `off`."},
    {"node", "clone_command", OPT_STRING, F(clone_command), NOLIMIT, "",
     "Shell command that fills an empty data directory from a backup instead of "
     "pg_basebackup (pgBackRest, WAL-G, Barman restore), run as the agent's user with "
     "PGDATA set; `%D` is replaced by the data directory. If it fails, the agent falls back "
     "to pg_basebackup. Empty: pg_basebackup."},
    {"node", "restore_command", OPT_STRING, F(restore_command), NOLIMIT, "",
     "restore_command the agent writes into a standby it built or rejoined, so that it can "
     "fetch WAL from an archive the primary no longer keeps (`cp /archive/%f %p`). Empty: "
     "none, streaming only."},
    {"node", "log_level", OPT_LOGLEVEL, F(log_level), NOLIMIT, "info",
     "error, warn, info or debug."},
    {"node", "http_address", OPT_ADDR_OFF, F(http_address), NOLIMIT, "",
     "IPv4 host:port of this node's HTTP endpoints: health checks for load balancers "
     "(`/primary`, `/replica`, `/read-only`, `/health`, ...) and `/metrics` for Prometheus; "
     "see docs/http.md. Empty (default): no HTTP server."},
    {"node", "log_format", OPT_LOGFORMAT, F(log_format), NOLIMIT, "plain", LOG_FORMAT_DOC},
    {"monitor", "id", OPT_U64, F(id), 1, PGQ_MONITOR_ID_MAX, NULL,
     "This monitor's Raft id, > 0, unique in the quorum and listed in `peers`."},
    {"monitor", "data_dir", OPT_STRING, F(data_dir), NOLIMIT, NULL,
     "Directory of the Raft log and snapshots. Created if missing (mode 0700). Empty: this "
     "monitor bootstraps the voters listed in `peers`; otherwise it resumes from disk."},
    {"monitor", "raft_address", OPT_ADDR, F(raft_address), NOLIMIT, NULL,
     "IPv4 host:port the Raft transport binds; must equal this monitor's entry in `peers`."},
    {"monitor", "api_address", OPT_ADDR, F(api_address), NOLIMIT, NULL,
     "IPv4 host:port of the operator API (pgquorumctl, and reports between monitors)."},
    {"monitor", "peers", OPT_PEERS, F(peers), NOLIMIT, NULL,
     "The initial voters: `1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001`. 3 or 5 "
     "voters survive the loss of 1 or 2. Used only when bootstrapping an empty data_dir."},
    {"monitor", "log_level", OPT_LOGLEVEL, F(log_level), NOLIMIT, "info",
     "error, warn, info or debug."},
    {"monitor", "http_address", OPT_ADDR_OFF, F(http_address), NOLIMIT, "",
     "IPv4 host:port of this monitor's HTTP endpoints: every node's health checks for load "
     "balancers (`/node/NAME/primary`, ...), `/metrics` for Prometheus, `/cluster` and "
     "`/events`; see docs/http.md. Empty (default): no HTTP server."},
    {"monitor", "log_format", OPT_LOGFORMAT, F(log_format), NOLIMIT, "plain", LOG_FORMAT_DOC},
    {"raft", "election_timeout", OPT_DURATION, F(election_timeout_ms), 50, 60000, "500ms",
     "Raft election timeout (randomized between 1x and 2x). With pre-vote on, a new leader "
     "is elected about 1.3-2x this after the old one dies. Raise it on slow networks or disks."},
    {"raft", "heartbeat_timeout", OPT_DURATION, F(heartbeat_timeout_ms), 10, 10000, "50ms",
     "Interval of the leader's heartbeats; keep election_timeout about 10x this."},
    {"raft", "snapshot_threshold", OPT_U64, F(snapshot_threshold), 16, 10000000, "1024",
     "Log entries between snapshots."},
    {"raft", "snapshot_trailing", OPT_U64, F(snapshot_trailing), 8, 10000000, "256",
     "Log entries kept after a snapshot, so that a lagging monitor catches up from the log."},
    {"health", "interval", OPT_DURATION, F(interval_ms), 100, 86400000, "30s",
     "A full observation of every node (role, WAL positions, replication, metrics) every "
     "`interval`. Failures are noticed sooner: a lost monitoring connection triggers a probe "
     "at once."},
    {"health", "timeout", OPT_DURATION, F(timeout_ms), 100, 600000, "5s",
     "Limit of one probe: connect plus query (also sent as statement_timeout)."},
    {"health", "retry_interval", OPT_DURATION, F(retry_interval_ms), 50, 600000, "1s",
     "Re-check cadence of a node whose probe failed, and of a node that is down."},
    {"health", "retries", OPT_U64, F(retries), 0, 100, "2",
     "Failed re-checks after a first failure before this monitor reports the node down: a node "
     "is reported down after 1 + retries consecutive failures."},
    {"health", "report_refresh", OPT_DURATION, F(report_refresh_ms), 1000, 86400000, "1m",
     "Observations go through the Raft log when something that matters changes (reachable, "
     "role, timeline, streaming, a primary's WAL moving half of max_lag_on_failover, a "
     "standby's lag crossing it); other positions and metrics are refreshed this often. A node "
     "seen down is re-reported every interval: a down view counts toward a failover only for "
     "interval + retry_interval + timeout + 1s."},
    {"health", "passfile", OPT_STRING, F(passfile), NOLIMIT, "",
     "libpq passfile the monitor uses to authenticate to nodes (secrets never enter the "
     "replicated state)."},
    {"health", "sslmode", OPT_SSLMODE, F(sslmode), NOLIMIT, "",
     "libpq sslmode for monitoring connections (empty: the conninfo's or libpq's default)."},
    {"health", "sslcert", OPT_STRING, F(sslcert), NOLIMIT, "",
     "Client certificate for monitoring connections."},
    {"health", "sslkey", OPT_STRING, F(sslkey), NOLIMIT, "", "Key of `sslcert`."},
    {"health", "sslrootcert", OPT_STRING, F(sslrootcert), NOLIMIT, "",
     "CA certificate(s) to verify nodes with (sslmode verify-ca / verify-full)."},
    {"failover", "failover_timeout", OPT_DURATION, F(failover_timeout_ms), 0, 3600000, "5s",
     "How long the primary must be down by quorum verdict before a standby is promoted."},
    {"failover", "max_lag_on_failover", OPT_SIZE, F(max_lag_bytes), NOLIMIT, "1MB",
     "A standby further behind the most advanced WAL position known is never promoted. That "
     "position is the most advanced of: the primary's as of its last probe, what every "
     "standby last heard from it (latest_end_lsn), and every standby's own after the cut. "
     "See docs/failure-modes.md for the loss bound that results."},
    {"failover", "cut_timeout", OPT_DURATION, F(cut_timeout_ms), 100, 600000, "2s",
     "Before a standby is promoted, every standby that is up stops following the old primary "
     "and reports its position (the cut): the leader waits this long at most for all of them, "
     "then chooses among those that did. A synchronous standby that could not be cut holds "
     "the failover."},
    {"failover", "promote_timeout", OPT_DURATION, F(promote_timeout_ms), 1000, 3600000, "60s",
     "Limit of one promotion attempt (pg_promote waits up to this). A candidate whose "
     "promotion fails 3 times, or does not finish within this, is given up: the next "
     "eligible standby is chosen."},
    {"failover", "repoint_timeout", OPT_DURATION, F(repoint_timeout_ms), 1000, 3600000, "30s",
     "Limit of one attempt to make a standby stream from the new primary. A standby that "
     "does not by then no longer holds the failover open (it is still repointed)."},
    {"failover", "lease_time", OPT_DURATION, F(lease_ms), 1000, 600000, "4s",
     "Length of a node agent's lease. A primary's agent renews it every heartbeat (about "
     "every second) and fences its PostgreSQL before it ends if it could not; the quorum "
     "promotes over that primary only once every lease it may hold has ended (or its agent "
     "confirmed it down). Longer than a monitor leader election (about 2x election_timeout), "
     "so that a leader change does not fence the primary."},
    {"failover", "lease_drift", OPT_DURATION, F(lease_drift_ms), 0, 60000, "500ms",
     "Added by the leader to every lease before it holds it for ended: clock rate differences "
     "between hosts and the delivery of the grant. At least election_timeout is used: a leader "
     "cut off from the others keeps granting until it steps down, about that long after its "
     "successor's count began."},
    {"failover", "agent_refresh", OPT_DURATION, F(agent_refresh_ms), 1000, 3600000, "5s",
     "What agents say goes through the Raft log at once when a fact a failover depends on "
     "changes (postmaster, fence, recovery, timeline); host metrics and positions this often."},
    {"failover", "replication_slots", OPT_BOOL, F(replication_slots), NOLIMIT, "on",
     "`on`: the primary keeps a physical replication slot (`pgq_` and the node's name) for "
     "every other node, made on the new primary after a failover, and dropped when a node is "
     "removed; every standby streams with its own. A standby that is down keeps its WAL on the "
     "primary, up to the primary's `max_slot_wal_keep_size` (set it: -1 keeps WAL without "
     "limit); a slot that lost WAL is reported. `off`: no slot is made or dropped, and a "
     "repointed standby is given none. See docs/operations.md."},
    {"api", "idle_timeout", OPT_DURATION, F(api_idle_timeout_ms), 100, 3600000, "30s",
     "An API connection is closed when it sends nothing for this long, does not complete a "
     "frame within this long of its first byte (trickling buys no time), or does not read its "
     "reply for this long."},
    {"api", "max_clients", OPT_U64, F(api_max_clients), 1, 100000, "256",
     "Concurrent API connections; more get an UNAVAILABLE reply and are closed. Connections "
     "from the hosts in `peers` have a reserve of 18 beyond this, so that monitors' reports "
     "still reach the leader."},
    {"http", "idle_timeout", OPT_DURATION, F(http_idle_timeout_ms), 100, 3600000, "10s",
     "An HTTP connection is closed when it sends nothing for this long, does not complete a "
     "request within this long of its first byte, or does not read its reply for this long."},
    {"http", "max_clients", OPT_U64, F(http_max_clients), 1, 100000, "64",
     "Concurrent HTTP connections; more get a 503 reply and are closed."},
};

#undef F
#undef NOLIMIT
#undef LOG_FORMAT_DOC

static void *field(struct config *c, const struct option *o)
{
    return (char *)c + o->offset;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    unsigned long long v;
    uint64_t mult;
    if (!isdigit((unsigned char)*s)) {
        return PGQ_INVALID;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        return PGQ_INVALID; /* strtoull saturates: not the number written */
    }
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "s") == 0) {
        mult = 1000;
    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        mult = 60000;
    } else if (strcmp(end, "h") == 0) {
        mult = 3600000;
    } else {
        return PGQ_INVALID;
    }
    if (v > UINT64_MAX / mult) {
        return PGQ_INVALID;
    }
    *ms = v * mult;
    return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct
    {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"kB", 1024},
        {"KB", 1024},
        {"KiB", 1024},
        {"MB", 1024 * 1024},
        {"MiB", 1024 * 1024},
        {"GB", 1024ull * 1024 * 1024},
        {"GiB", 1024ull * 1024 * 1024},
    };
    char *end;
    unsigned long long v;
    if (!isdigit((unsigned char)*s)) {
        return PGQ_INVALID;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        return PGQ_INVALID;
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult) {
                return PGQ_INVALID;
            }
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return PGQ_INVALID;
}

static int parse_addr(const char *s, char *out, size_t size, char *why, size_t whysize)
{
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    if (pgq_parse_hostport(s, host, sizeof host, &port) != 0) {
        snprintf(why, whysize, "\"%.64s\" is not host:port", s);
        return PGQ_INVALID;
    }
    if (!pgq_is_ipv4(host)) {
        snprintf(why, whysize, "\"%.64s\" is not an IPv4 address (a.b.c.d:port)", s);
        return PGQ_INVALID;
    }
    if (pgq_strlcpy(out, s, size) >= size) {
        snprintf(why, whysize, "address too long");
        return PGQ_INVALID;
    }
    return 0;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return s;
}

static int parse_peers(const char *s, struct config *c, char *why, size_t whysize)
{
    const char *p = s;
    c->n_peers = 0;
    while (*p != '\0') {
        char buf[PGQ_ADDR_MAX + 32], *item;
        size_t len = strcspn(p, ",");
        char *eq, *end;
        unsigned long long id;
        struct config_peer *peer;
        if (len == 0 || len >= sizeof buf) {
            snprintf(why, whysize, "expected id=host:port[,id=host:port...]");
            return PGQ_INVALID;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        item = trim(buf); /* "1=a:1, 2=b:2" reads as well */
        p += len + (p[len] == ',' ? 1 : 0);
        eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(why, whysize, "\"%.64s\" is not id=host:port", item);
            return PGQ_INVALID;
        }
        *eq = '\0';
        errno = 0;
        id = strtoull(item, &end, 10);
        if (*end != '\0' || id == 0 || !isdigit((unsigned char)item[0])) {
            snprintf(why, whysize, "\"%.32s\" is not a monitor id > 0", item);
            return PGQ_INVALID;
        }
        /* The same range as [monitor] id, or this monitor could never match. */
        if (errno == ERANGE || id > PGQ_MONITOR_ID_MAX) {
            snprintf(why, whysize, "monitor id %.32s is out of range 1..%d", item,
                     PGQ_MONITOR_ID_MAX);
            return PGQ_INVALID;
        }
        if (c->n_peers >= PGQ_MAX_MONITORS) {
            snprintf(why, whysize, "more than %d monitors", PGQ_MAX_MONITORS);
            return PGQ_INVALID;
        }
        peer = &c->peers[c->n_peers];
        peer->id = id;
        if (parse_addr(eq + 1, peer->address, sizeof peer->address, why, whysize) != 0) {
            return PGQ_INVALID;
        }
        for (unsigned i = 0; i < c->n_peers; i++) {
            if (c->peers[i].id == id) {
                snprintf(why, whysize, "monitor id %llu listed twice", id);
                return PGQ_INVALID;
            }
            if (strcmp(c->peers[i].address, peer->address) == 0) {
                snprintf(why, whysize, "address %s listed twice", peer->address);
                return PGQ_INVALID;
            }
        }
        c->n_peers++;
    }
    if (c->n_peers == 0) {
        snprintf(why, whysize, "no monitors listed");
        return PGQ_INVALID;
    }
    return 0;
}

/* Set one option from its text; on failure write the problem to why. */

/* value is one of names (NULL-terminated): its index in *out. */
static int parse_choice(const char *value,
                        const char *const *names,
                        int *out,
                        char *why,
                        size_t whysize)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    snprintf(why, whysize, "\"%.32s\" is not one of ", value);
    for (int i = 0; names[i] != NULL; i++) {
        pgq_appendf(why, whysize, "%s%s", i > 0 ? ", " : "", names[i]);
    }
    return PGQ_INVALID;
}

static int set_option(struct config *c,
                      const struct option *o,
                      const char *value,
                      char *why,
                      size_t whysize)
{
    uint64_t v;
    switch (o->type) {
        case OPT_U64: {
            char *end;
            if (!isdigit((unsigned char)value[0])) {
                snprintf(why, whysize, "\"%.64s\" is not a number", value);
                return PGQ_INVALID;
            }
            v = strtoull(value, &end, 10);
            if (*end != '\0') {
                snprintf(why, whysize, "\"%.64s\" is not a number", value);
                return PGQ_INVALID;
            }
            break;
        }
        case OPT_DURATION:
            if (config_parse_duration(value, &v) != 0) {
                snprintf(why, whysize,
                         "\"%.64s\" is not a duration (use a number and a unit: 500ms, 30s, 2m, "
                         "1h)",
                         value);
                return PGQ_INVALID;
            }
            break;
        case OPT_SIZE:
            if (config_parse_size(value, &v) != 0) {
                snprintf(why, whysize, "\"%.64s\" is not a size (use 1048576, 512kB, 1MB, 1GB)",
                         value);
                return PGQ_INVALID;
            }
            break;
        case OPT_STRING:
            if (pgq_strlcpy(field(c, o), value, o->size) >= o->size) {
                snprintf(why, whysize, "longer than %zu bytes", o->size - 1);
                return PGQ_INVALID;
            }
            return 0;
        case OPT_ADDR:
            return parse_addr(value, field(c, o), o->size, why, whysize);
        case OPT_ADDR_OFF:
            if (value[0] == '\0') {
                ((char *)field(c, o))[0] = '\0';
                return 0;
            }
            return parse_addr(value, field(c, o), o->size, why, whysize);
        case OPT_PEERS:
            return parse_peers(value, c, why, whysize);
        case OPT_LOGLEVEL: {
            static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
            return parse_choice(value, levels, &c->log_level, why, whysize);
        }
        case OPT_LOGFORMAT: {
            static const char *const formats[] = {"plain", "json", "syslog", NULL};
            return parse_choice(value, formats, &c->log_format, why, whysize);
        }
        case OPT_CRASH: {
            static const char *const policies[] = {"auto", "restart", "failover", NULL};
            return parse_choice(value, policies, &c->crash_policy, why, whysize);
        }
        case OPT_REJOIN: {
            static const char *const modes[] = {"rewind-or-clone", "manual", "off", NULL};
            return parse_choice(value, modes, &c->rejoin, why, whysize);
        }
        case OPT_ADDRLIST: {
            char list[sizeof c->monitors_text];
            char *save = NULL;
            if (pgq_strlcpy(list, value, sizeof list) >= sizeof list) {
                snprintf(why, whysize, "longer than %zu bytes", sizeof list - 1);
                return PGQ_INVALID;
            }
            pgq_strlcpy(c->monitors_text, value, sizeof c->monitors_text);
            c->n_monitors = 0;
            for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                char *a = trim(t);
                if (c->n_monitors == PGQ_NODE_MONITORS_MAX) {
                    snprintf(why, whysize, "more than %d monitors", PGQ_NODE_MONITORS_MAX);
                    return PGQ_INVALID;
                }
                if (parse_addr(a, c->monitors[c->n_monitors], PGQ_ADDR_MAX, why, whysize) != 0) {
                    return PGQ_INVALID;
                }
                c->n_monitors++;
            }
            if (c->n_monitors == 0) {
                snprintf(why, whysize, "no monitor listed");
                return PGQ_INVALID;
            }
            return 0;
        }
        case OPT_SSLMODE: {
            static const char *const modes[] = {"",        "disable",   "allow",      "prefer",
                                                "require", "verify-ca", "verify-full"};
            for (size_t i = 0; i < PGQ_ARRAY_SIZE(modes); i++) {
                if (strcmp(value, modes[i]) == 0) {
                    pgq_strlcpy(field(c, o), value, o->size);
                    return 0;
                }
            }
            snprintf(why, whysize,
                     "\"%.32s\" is not a libpq sslmode (disable, allow, prefer, require, "
                     "verify-ca, verify-full)",
                     value);
            return PGQ_INVALID;
        }
        case OPT_BOOL:
            if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
                snprintf(why, whysize, "\"%.32s\" is not on or off", value);
                return PGQ_INVALID;
            }
            *(bool *)field(c, o) = strcmp(value, "on") == 0;
            return 0;
        default:
            snprintf(why, whysize, "internal: bad option type");
            return PGQ_INTERNAL;
    }
    if (v < o->min || v > o->max) {
        if (o->type == OPT_DURATION) {
            snprintf(why, whysize, "%.64s is out of range %" PRIu64 "ms..%" PRIu64 "ms", value,
                     o->min, o->max);
        } else {
            snprintf(why, whysize, "%.64s is out of range %" PRIu64 "..%" PRIu64, value, o->min,
                     o->max);
        }
        return PGQ_INVALID;
    }
    *(uint64_t *)field(c, o) = v;
    return 0;
}

void config_defaults(struct config *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        if (options[i].def != NULL) {
            int rv = set_option(c, &options[i], options[i].def, why, sizeof why);
            (void)rv; /* defaults are tested by the unit tests */
        }
    }
}

static const struct option *find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        if (strcmp(options[i].section, section) == 0 && strcmp(options[i].key, key) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

/* Edit distance (insertions, deletions, substitutions, transpositions of
 * neighbours) between a and b, or limit + 1 once it exceeds limit. */
static unsigned edit_distance(const char *a, const char *b, unsigned limit)
{
    enum { MAXLEN = 40 };
    unsigned d[MAXLEN + 1][MAXLEN + 1];
    size_t n = strlen(a), m = strlen(b);
    if (n > MAXLEN || m > MAXLEN || (n > m ? n - m : m - n) > limit) {
        return limit + 1;
    }
    for (size_t i = 0; i <= n; i++) {
        d[i][0] = (unsigned)i;
    }
    for (size_t j = 0; j <= m; j++) {
        d[0][j] = (unsigned)j;
    }
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = PGQ_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
            v = PGQ_MIN(v, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                v = PGQ_MIN(v, d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    return PGQ_MIN(d[n][m], limit + 1);
}

/* What an unknown key in section probably meant: "; did you mean \"K\"?"
 * for a key of the section a typo or two away (one for short keys), or
 * "; it belongs in [S]" for a key of another section; "" otherwise. */
static void suggest_key(const char *section, const char *key, char *out, size_t size)
{
    const struct option *best = NULL, *elsewhere = NULL;
    unsigned best_d = 0;
    out[0] = '\0';
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        const struct option *o = &options[i];
        if (strcmp(o->section, section) != 0) {
            if (strcmp(o->key, key) == 0 && elsewhere == NULL) {
                elsewhere = o;
            }
            continue;
        }
        unsigned limit = strlen(o->key) <= 4 ? 1 : 2;
        unsigned d = edit_distance(key, o->key, limit);
        if (d <= limit && (best == NULL || d < best_d)) {
            best = o;
            best_d = d;
        }
    }
    if (best != NULL) {
        snprintf(out, size, "; did you mean \"%s\"?", best->key);
    } else if (elsewhere != NULL) {
        snprintf(out, size, "; it belongs in [%s]", elsewhere->section);
    }
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        if (strcmp(options[i].section, section) == 0) {
            return true;
        }
    }
    return false;
}

static int error_at(char *errmsg,
                    size_t errsize,
                    const char *path,
                    unsigned line,
                    const char *fmt,
                    ...) PGQ_PRINTF(5, 6);
static int error_at(char *errmsg,
                    size_t errsize,
                    const char *path,
                    unsigned line,
                    const char *fmt,
                    ...)
{
    va_list ap;
    int n = line > 0 ? snprintf(errmsg, errsize, "%s:%u: ", path, line)
                     : snprintf(errmsg, errsize, "%s: ", path);
    if (n > 0 && (size_t)n < errsize) {
        va_start(ap, fmt);
        vsnprintf(errmsg + n, errsize - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PGQ_CONFIG;
}

int config_parse(struct config *c, const char *path, const char *text, char *errmsg, size_t errsize)
{
    unsigned set_line[PGQ_ARRAY_SIZE(options)] = {0};
    char section[32] = "";
    unsigned lineno = 0;
    const char *p = text;
    char why[256];

    config_defaults(c);
    while (*p != '\0') {
        char buf[2048];
        size_t len = strcspn(p, "\n");
        char *line, *eq, *key, *value;
        const struct option *o;
        lineno++;
        if (len >= sizeof buf) {
            return error_at(errmsg, errsize, path, lineno, "line longer than %zu bytes",
                            sizeof buf - 1);
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (p[len] == '\n' ? 1 : 0);
        line = trim(buf);
        if (*line == '\0' || *line == '#' || *line == ';') {
            continue;
        }
        if (*line == '[') {
            char *close = strchr(line, ']');
            if (close == NULL || *trim(close + 1) != '\0') {
                return error_at(errmsg, errsize, path, lineno, "expected [section]");
            }
            *close = '\0';
            line = trim(line + 1);
            if (!section_known(line)) {
                return error_at(errmsg, errsize, path, lineno,
                                "unknown section [%.31s] (known: monitor, raft, health, "
                                "failover, api)",
                                line);
            }
            pgq_strlcpy(section, line, sizeof section);
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            return error_at(errmsg, errsize, path, lineno, "expected key = value, got \"%.40s\"",
                            line);
        }
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);
        if (section[0] == '\0') {
            return error_at(errmsg, errsize, path, lineno, "%.40s: key outside of any [section]",
                            key);
        }
        if (*value == '"') {
            char *close = strrchr(value + 1, '"');
            if (close == NULL) {
                return error_at(errmsg, errsize, path, lineno, "[%s] %.40s: unterminated quote",
                                section, key);
            }
            *close = '\0';
            value++;
        } else {
            /* Inline comments start with whitespace then # or ;. */
            for (char *q = value; *q != '\0'; q++) {
                if ((*q == '#' || *q == ';') && q > value && isspace((unsigned char)q[-1])) {
                    *q = '\0';
                    value = trim(value);
                    break;
                }
            }
        }
        o = find_option(section, key);
        if (o == NULL) {
            char hint[96];
            suggest_key(section, key, hint, sizeof hint);
            return error_at(errmsg, errsize, path, lineno, "[%s] %.40s: unknown key%s", section,
                            key, hint);
        }
        if (set_line[o - options] != 0) {
            return error_at(errmsg, errsize, path, lineno, "[%s] %s: set twice (first on line %u)",
                            section, key, set_line[o - options]);
        }
        if (set_option(c, o, value, why, sizeof why) != 0) {
            return error_at(errmsg, errsize, path, lineno, "[%s] %s: %s", section, key, why);
        }
        set_line[o - options] = lineno;
    }

    /* One role per file: the one whose section it has. */
    {
        unsigned mon_line = 0, node_line = 0;
        for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
            if (set_line[i] != 0 && strcmp(options[i].section, "monitor") == 0 && mon_line == 0) {
                mon_line = set_line[i];
            }
            if (set_line[i] != 0 && strcmp(options[i].section, "node") == 0 && node_line == 0) {
                node_line = set_line[i];
            }
        }
        if (mon_line != 0 && node_line != 0) {
            return error_at(errmsg, errsize, path, PGQ_MAX(mon_line, node_line),
                            "a file configures one role: [monitor] (line %u) or [node] "
                            "(line %u), not both",
                            mon_line, node_line);
        }
        c->role = node_line != 0 ? ROLE_NODE : ROLE_MONITOR;
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        const char *other = c->role == ROLE_NODE ? "monitor" : "node";
        if (strcmp(options[i].section, other) == 0) {
            continue;
        }
        if (options[i].def == NULL && set_line[i] == 0) {
            return error_at(errmsg, errsize, path, 0, "[%s] %s: required key missing",
                            options[i].section, options[i].key);
        }
    }

    if (c->role == ROLE_NODE) {
        if (c->local_conninfo[0] == '\0') {
            pgq_strlcpy(c->local_conninfo, c->node_conninfo, sizeof c->local_conninfo);
        }
        if (!pgq_name_valid(c->node_name)) {
            return error_at(
                errmsg, errsize, path, set_line[find_option("node", "name") - options],
                "[node] name: \"%.64s\" is not a valid name (1-63 of A-Z a-z 0-9 _ . -)",
                c->node_name);
        }
        if (!pgq_name_valid(c->node_cluster)) {
            return error_at(errmsg, errsize, path,
                            set_line[find_option("node", "cluster") - options],
                            "[node] cluster: \"%.64s\" is not a valid name", c->node_cluster);
        }
        {
            struct conninfo ci;
            char bad[PGQ_REASON_MAX];
            if (conninfo_validate(c->node_conninfo, &ci, bad, sizeof bad) != 0) {
                return error_at(errmsg, errsize, path,
                                set_line[find_option("node", "conninfo") - options],
                                "[node] conninfo: %s", bad);
            }
        }
        if (c->pgdata[0] != '/') {
            return error_at(errmsg, errsize, path,
                            set_line[find_option("node", "pgdata") - options],
                            "[node] pgdata: must be an absolute path");
        }
        return 0;
    }
    /* Cross-key checks, reported at the line of the key that must change. */
    {
        const struct option *peers = find_option("monitor", "peers");
        const struct option *raft = find_option("monitor", "raft_address");
        const struct option *api = find_option("monitor", "api_address");
        const struct option *et = find_option("raft", "election_timeout");
        const struct option *ri = find_option("health", "retry_interval");
        const struct option *rr = find_option("health", "report_refresh");
        const struct config_peer *self = NULL;
        for (unsigned i = 0; i < c->n_peers; i++) {
            if (c->peers[i].id == c->id) {
                self = &c->peers[i];
            }
        }
        if (self == NULL) {
            return error_at(errmsg, errsize, path, set_line[peers - options],
                            "[monitor] peers: does not list this monitor's id %" PRIu64, c->id);
        }
        if (strcmp(self->address, c->raft_address) != 0) {
            return error_at(errmsg, errsize, path, set_line[raft - options],
                            "[monitor] raft_address: %s differs from peers entry %" PRIu64 "=%s",
                            c->raft_address, c->id, self->address);
        }
        if (strcmp(c->api_address, c->raft_address) == 0) {
            return error_at(errmsg, errsize, path, set_line[api - options],
                            "[monitor] api_address: must differ from raft_address");
        }
        if (strcmp(c->http_address, c->raft_address) == 0 ||
            strcmp(c->http_address, c->api_address) == 0) {
            return error_at(errmsg, errsize, path,
                            set_line[find_option("monitor", "http_address") - options],
                            "[monitor] http_address: must differ from raft_address and "
                            "api_address");
        }
        if (c->data_dir[0] == '\0') {
            return error_at(errmsg, errsize, path,
                            set_line[find_option("monitor", "data_dir") - options],
                            "[monitor] data_dir: empty path");
        }
        if (c->election_timeout_ms < 3 * c->heartbeat_timeout_ms) {
            return error_at(errmsg, errsize, path, set_line[et - options],
                            "[raft] election_timeout: %" PRIu64
                            "ms must be at least 3x heartbeat_timeout (%" PRIu64 "ms)",
                            c->election_timeout_ms, c->heartbeat_timeout_ms);
        }
        /* A lease must outlast a leader election, or every leader change
         * fences the primary. */
        if (c->lease_ms < 2 * c->election_timeout_ms + 1000) {
            const struct option *lt = find_option("failover", "lease_time");
            return error_at(errmsg, errsize, path, set_line[lt - options],
                            "[failover] lease_time: %" PRIu64
                            "ms must be at least 2 x election_timeout + 1s (%" PRIu64
                            "ms): a lease must outlast a leader election",
                            c->lease_ms, 2 * c->election_timeout_ms + 1000);
        }
        if (c->retry_interval_ms > c->interval_ms) {
            return error_at(errmsg, errsize, path, set_line[ri - options],
                            "[health] retry_interval: %" PRIu64
                            "ms is longer than interval (%" PRIu64 "ms)",
                            c->retry_interval_ms, c->interval_ms);
        }
        if (c->report_refresh_ms < c->interval_ms) {
            return error_at(errmsg, errsize, path, set_line[rr - options],
                            "[health] report_refresh: %" PRIu64
                            "ms is shorter than interval (%" PRIu64 "ms)",
                            c->report_refresh_ms, c->interval_ms);
        }
        if (c->snapshot_trailing > c->snapshot_threshold) {
            return error_at(errmsg, errsize, path,
                            set_line[find_option("raft", "snapshot_trailing") - options],
                            "[raft] snapshot_trailing: larger than snapshot_threshold");
        }
    }
    return 0;
}

int config_voters_warning(const struct config *c, char *out, size_t size)
{
    unsigned n = c->n_peers;
    if (c->role != ROLE_MONITOR || n == 0 || (n > 1 && n % 2 == 1)) {
        return 0;
    }
    if (n == 1) {
        snprintf(out, size,
                 "[monitor] peers: 1 voter tolerates no failure: the quorum stops with this "
                 "monitor (3 voters survive the loss of 1, 5 of 2)");
    } else if (n == 2) {
        snprintf(out, size,
                 "[monitor] peers: 2 voters tolerate no more failures than 1 (none: a majority "
                 "is 2 of 2); use 3 (survives 1)");
    } else {
        snprintf(out, size,
                 "[monitor] peers: %u voters tolerate no more failures than %u (%u: a majority "
                 "is %u of %u); use %u or %u (survive %u or %u)",
                 n, n - 1, (n - 1) / 2, n / 2 + 1, n, n - 1, n + 1, (n - 1) / 2, n / 2);
    }
    return 1;
}

uint64_t config_down_view_ttl_ms(const struct config *c)
{
    return c->interval_ms + c->retry_interval_ms + c->timeout_ms + 1000;
}

unsigned config_auth_params(const struct config *c,
                            const char **keys,
                            const char **values,
                            unsigned max)
{
    const char *const names[] = {"passfile", "sslmode", "sslcert", "sslkey", "sslrootcert"};
    const char *const set[] = {c->passfile, c->sslmode, c->sslcert, c->sslkey, c->sslrootcert};
    unsigned n = 0;
    for (unsigned i = 0; i < PGQ_ARRAY_SIZE(names) && n < max; i++) {
        if (set[i][0] != '\0') {
            keys[n] = names[i];
            values[n++] = set[i];
        }
    }
    return n;
}

/* Whether key o has the same value in a and b. Strings compare as strings
 * (the bytes past the terminator are not part of the value). */
static bool option_equal(const struct config *a, const struct config *b, const struct option *o)
{
    const char *fa = (const char *)a + o->offset;
    const char *fb = (const char *)b + o->offset;
    switch (o->type) {
        case OPT_STRING:
        case OPT_ADDR:
        case OPT_SSLMODE:
        case OPT_ADDRLIST: /* monitors_text: monitors[] are parsed from it */
            return strcmp(fa, fb) == 0;
        case OPT_PEERS:
            if (a->n_peers != b->n_peers) {
                return false;
            }
            for (unsigned i = 0; i < a->n_peers; i++) {
                if (a->peers[i].id != b->peers[i].id ||
                    strcmp(a->peers[i].address, b->peers[i].address) != 0) {
                    return false;
                }
            }
            return true;
        default:
            return memcmp(fa, fb, o->size) == 0;
    }
}

void config_changed_keys(const struct config *a,
                         const struct config *b,
                         void (*fn)(void *arg, const char *section, const char *key),
                         void *arg)
{
    const char *other = a->role == ROLE_NODE ? "monitor" : "node";
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        if (strcmp(options[i].section, other) != 0 && !option_equal(a, b, &options[i])) {
            fn(arg, options[i].section, options[i].key);
        }
    }
}

int config_copy_key(struct config *dst,
                    const struct config *src,
                    const char *section,
                    const char *key)
{
    const struct option *o = find_option(section, key);
    if (o == NULL) {
        return PGQ_INVALID;
    }
    switch (o->type) {
        case OPT_PEERS:
            memcpy(dst->peers, src->peers, sizeof dst->peers);
            dst->n_peers = src->n_peers;
            break;
        case OPT_ADDRLIST:
            memcpy(dst->monitors, src->monitors, sizeof dst->monitors);
            dst->n_monitors = src->n_monitors;
            memcpy(field(dst, o), (const char *)src + o->offset, o->size);
            break;
        default:
            memcpy(field(dst, o), (const char *)src + o->offset, o->size);
            break;
    }
    return 0;
}

void config_print_reference(void (*emit)(void *arg, const char *line), void *arg)
{
    const char *section = "";
    char line[1024];
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(options); i++) {
        const struct option *o = &options[i];
        if (strcmp(section, o->section) != 0) {
            section = o->section;
            snprintf(line, sizeof line, "\n### [%s]\n\n| key | default | meaning |\n|---|---|---|",
                     section);
            emit(arg, line);
        }
        snprintf(line, sizeof line, "| `%s` | %s | %s |", o->key,
                 o->def == NULL ? "**required**" : (o->def[0] == '\0' ? "(empty)" : o->def),
                 o->doc);
        emit(arg, line);
    }
}
