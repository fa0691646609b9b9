/* config_table: the option table (every key, its type, default, range and
 * meaning), and what works on it key by key: lookup, the keys that differ
 * between two configurations, copying one key, the reference (docs). The
 * parser is config.c. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "lib/util.h"

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define NOLIMIT 0, UINT64_MAX
#define LOG_FORMAT_DOC                                                                      \
    "`plain`: one line per event on standard error (`TIME pgquorumd[ID] LEVEL: MESSAGE`); " \
    "`json`: one JSON object per line on standard error (`ts`, `level`, `prog`, `id`, "     \
    "`node`, `msg`); `syslog`: to syslog(3) as `pgquorumd`, facility daemon. Applied on "   \
    "SIGHUP."
/* The log drain's keys, the same in [node] and [monitor]. */
#define LOG_DRAIN_DOC                                                                          \
    "Where every log line is also sent, as an RFC 5424 syslog message over TLS with RFC 5425 " \
    "octet counting: `syslog+tls://HOST:PORT` (the collector's certificate must chain to "     \
    "`log_drain_ca`); `syslog+tcp://HOST:PORT` sends in clear text (warned at start). Lines "  \
    "wait in a bounded queue while the collector is unreachable; see docs/operations.md. "     \
    "Empty (default): off. Needs a restart."
#define LOG_DRAIN_FACILITY_DOC                                                            \
    "Syslog facility of the drained lines: kern, user, mail, daemon, auth, syslog, lpr, " \
    "news, uucp, cron, authpriv, ftp, local0..local7."
#define LOG_DRAIN_QUEUE_DOC                                                                     \
    "Lines held while the collector is unreachable or slow; when the queue is full the oldest " \
    "line is dropped and counted, and a report line goes first once the collector is back."
#define LOG_DRAIN_CA_DOC                                                                  \
    "CA certificate(s) (PEM) the collector's certificate is verified with. Empty: [tls] " \
    "ca_file, the quorum's own CA."
#define TLS_DOC                                                                              \
    "on (default): every connection (API, HTTP, Raft, log drain) is TLS 1.3 with the [tls] " \
    "certificates, and peers are identified by theirs. off: plain TCP, warned at start: "    \
    "anyone who can reach the ports can then read and change the cluster."

/* The option table: every key, its default and its meaning. Keys of the
 * other role's section are not required (a file configures one role). */
const struct option config_options[] = {
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
     "go to the leader among them. Where the agent starts looking: the leader's replies name "
     "the current voters' API addresses too (monitors added or replaced since), and the agent "
     "asks them as well; keep at least one listed monitor in the group, or update the list."},
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
    {"node", "log_drain", OPT_DRAIN, F(log_drain), NOLIMIT, "", LOG_DRAIN_DOC},
    {"node", "log_drain_facility", OPT_FACILITY, F(log_drain_facility), NOLIMIT, "daemon",
     LOG_DRAIN_FACILITY_DOC},
    {"node", "log_drain_queue", OPT_U64, F(log_drain_queue), 1, 1000000, "1000",
     LOG_DRAIN_QUEUE_DOC},
    {"node", "log_drain_ca", OPT_STRING, F(log_drain_ca), NOLIMIT, "", LOG_DRAIN_CA_DOC},
    {"node", "tls", OPT_BOOL, F(tls), NOLIMIT, "on", TLS_DOC},
    {"monitor", "id", OPT_U64, F(id), 1, PGQ_MONITOR_ID_MAX, NULL,
     "This monitor's Raft id, > 0, unique in the quorum and listed in `peers` (unless "
     "`join = on`). Never reuse the id of a monitor that was removed or whose data_dir was lost."},
    {"monitor", "data_dir", OPT_STRING, F(data_dir), NOLIMIT, NULL,
     "Directory of the Raft log and snapshots. Created if missing (mode 0700). Empty: this "
     "monitor bootstraps the voters listed in `peers` (not with `join = on`); otherwise it "
     "resumes from disk."},
    {"monitor", "join", OPT_BOOL, F(join), NOLIMIT, "off",
     "on: this monitor joins a group that already runs: it never bootstraps, and waits with an "
     "empty data_dir until the leader adds it (`pgquorumctl monitor add ID RAFT_ADDRESS "
     "API_ADDRESS`, or `monitor replace`); `peers` need not list it. Start every monitor added "
     "after the first bootstrap this way."},
    {"monitor", "raft_address", OPT_ADDR, F(raft_address), NOLIMIT, NULL,
     "IPv4 host:port the Raft transport binds; must equal this monitor's entry in `peers` "
     "when it has one."},
    {"monitor", "api_address", OPT_ADDR, F(api_address), NOLIMIT, NULL,
     "IPv4 host:port of the operator API (pgquorumctl, and reports between monitors)."},
    {"monitor", "peers", OPT_PEERS, F(peers), NOLIMIT, NULL,
     "The initial voters: `1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001`. 3 or 5 "
     "voters survive the loss of 1 or 2. Only the bootstrap set: used when bootstrapping an "
     "empty data_dir; once the group runs, the voters live in Raft (`pgquorumctl status` shows "
     "them; `monitor add|remove|replace` changes them) and a stale list here does no harm."},
    {"monitor", "log_level", OPT_LOGLEVEL, F(log_level), NOLIMIT, "info",
     "error, warn, info or debug."},
    {"monitor", "http_address", OPT_ADDR_OFF, F(http_address), NOLIMIT, "",
     "IPv4 host:port of this monitor's HTTP endpoints: every node's health checks for load "
     "balancers (`/node/NAME/primary`, ...), `/metrics` for Prometheus, `/cluster` and "
     "`/events`; see docs/http.md. Empty (default): no HTTP server."},
    {"monitor", "log_format", OPT_LOGFORMAT, F(log_format), NOLIMIT, "plain", LOG_FORMAT_DOC},
    {"monitor", "log_drain", OPT_DRAIN, F(log_drain), NOLIMIT, "", LOG_DRAIN_DOC},
    {"monitor", "log_drain_facility", OPT_FACILITY, F(log_drain_facility), NOLIMIT, "daemon",
     LOG_DRAIN_FACILITY_DOC},
    {"monitor", "log_drain_queue", OPT_U64, F(log_drain_queue), 1, 1000000, "1000",
     LOG_DRAIN_QUEUE_DOC},
    {"monitor", "log_drain_ca", OPT_STRING, F(log_drain_ca), NOLIMIT, "", LOG_DRAIN_CA_DOC},
    {"monitor", "tls", OPT_BOOL, F(tls), NOLIMIT, "on", TLS_DOC},
    {"monitor", "events_per_cluster", OPT_U64, F(events_per_cluster), 1, PGQ_EVENTS_BOUND_MAX,
     "100",
     "Events of each cluster's committed history kept (the latest), so that one cluster's "
     "registrations or flapping never push another's failover out. A setting of the "
     "replicated state: the leader commits its own value (feature level 6), so keep it the "
     "same on every monitor. An event costs about 100 bytes and its message. Applied on "
     "SIGHUP."},
    {"monitor", "events_global", OPT_U64, F(events_global), 1, PGQ_EVENTS_BOUND_MAX, "1000",
     "Events of no cluster kept (leader changes, feature level, audit records, removed "
     "clusters), committed like events_per_cluster. Applied on SIGHUP."},
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
     "`interval`, on a new connection, or on the kept one where the node's agent vouches for "
     "its liveness. Failures are noticed sooner: a lost monitoring connection triggers a probe "
     "at once."},
    {"health", "timeout", OPT_DURATION, F(timeout_ms), 100, 600000, "5s",
     "Limit of one probe: connect plus query (also sent as statement_timeout). A probe that "
     "times out while the monitor's own loop ran a quarter of this late is taken for the "
     "monitor's overload and counts toward no verdict (docs/failure-modes.md)."},
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
     "still reach the leader. Each counts in the file descriptors a monitor keeps before its "
     "probes (docs/configuration.md, File descriptors)."},
    {"tls", "ca_file", OPT_STRING, F(tls_ca_file), NOLIMIT, "",
     "PEM file of the CA that signed every monitor's, node agent's and operator's "
     "certificate; a peer whose certificate does not chain to it is refused. Required while "
     "tls is on."},
    {"tls", "cert_file", OPT_STRING, F(tls_cert_file), NOLIMIT, "",
     "PEM certificate (and chain) of this process. A monitor's names it with the URI SAN "
     "`pgquorum:monitor:ID`, a node agent's with `pgquorum:node:CLUSTER/NAME`; see "
     "docs/security.md. A change needs a restart."},
    {"tls", "key_file", OPT_STRING, F(tls_key_file), NOLIMIT, "",
     "PEM private key of cert_file; keep it mode 0600. A change needs a restart."},
    {"http", "idle_timeout", OPT_DURATION, F(http_idle_timeout_ms), 100, 3600000, "10s",
     "An HTTP connection is closed when it sends nothing for this long, does not complete a "
     "request within this long of its first byte, or does not read its reply for this long."},
    {"http", "max_clients", OPT_U64, F(http_max_clients), 1, 100000, "64",
     "Concurrent HTTP connections; more get a 503 reply and are closed. Each counts in the "
     "file descriptors a monitor keeps before its probes."},
    {"auth", "mode", OPT_AUTHMODE, F(auth_mode), NOLIMIT, "auto",
     "`on`: every API request needs an identity (a token or a client certificate) whose role "
     "or grants allow it: deny by default. `off`: anyone who can reach api_address may do "
     "anything (a warning at start). `auto`: `on` when TLS is on or `tokens` or `admins` is "
     "set, else `off`. See docs/security.md."},
    {"auth", "tokens", OPT_STRING, F(auth_tokens), NOLIMIT, "",
     "Bearer tokens, hashed: `alice:sha256:HEX, node:main/pg1:sha256:HEX` (`pgquorumctl token "
     "hash` prints the `sha256:HEX` of a token read on standard input). A bare name is "
     "`user:NAME`. At most 32. Applied on SIGHUP."},
    {"auth", "admins", OPT_STRING, F(auth_admins), NOLIMIT, "",
     "Identities that are always admin, whatever the replicated roles and denies say: "
     "`user:alice, user:bob` (the bootstrap; at most 16). Applied on SIGHUP."},
    {"auth", "token_file", OPT_STRING, F(auth_token_file), NOLIMIT, "",
     "Node agents: a file whose first line is this agent's bearer token, sent with its "
     "heartbeats (configured on the monitors as `node:CLUSTER/NAME:sha256:HEX`). Read at "
     "start."},
};

#undef F
#undef NOLIMIT
#undef LOG_FORMAT_DOC
#undef LOG_DRAIN_DOC
#undef LOG_DRAIN_FACILITY_DOC
#undef LOG_DRAIN_QUEUE_DOC
#undef LOG_DRAIN_CA_DOC
#undef TLS_DOC

const size_t config_n_options = PGQ_ARRAY_SIZE(config_options);
_Static_assert(PGQ_ARRAY_SIZE(config_options) <= CONFIG_OPTIONS_MAX, "raise CONFIG_OPTIONS_MAX");

const struct option *config_find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < config_n_options; i++) {
        if (strcmp(config_options[i].section, section) == 0 &&
            strcmp(config_options[i].key, key) == 0) {
            return &config_options[i];
        }
    }
    return NULL;
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
        case OPT_ADDR_OFF:
        case OPT_SSLMODE:
        case OPT_DRAIN:
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
    for (size_t i = 0; i < config_n_options; i++) {
        if (strcmp(config_options[i].section, other) != 0 &&
            !option_equal(a, b, &config_options[i])) {
            fn(arg, config_options[i].section, config_options[i].key);
        }
    }
}

int config_copy_key(struct config *dst,
                    const struct config *src,
                    const char *section,
                    const char *key)
{
    const struct option *o = config_find_option(section, key);
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
            memcpy(config_field(dst, o), (const char *)src + o->offset, o->size);
            break;
        default:
            memcpy(config_field(dst, o), (const char *)src + o->offset, o->size);
            break;
    }
    return 0;
}

void config_print_reference(void (*emit)(void *arg, const char *line), void *arg)
{
    const char *section = "";
    char line[1024];
    for (size_t i = 0; i < config_n_options; i++) {
        const struct option *o = &config_options[i];
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
