/* Configuration: one INI file, parsed and validated against an option table
 * (section, key, type, default, range, doc). Pure: the file's text is read
 * by the caller. A bad file gets one line naming the file, the line and the
 * key. The same table prints the configuration reference (docs). */
#ifndef PGQ_CONFIG_H
#define PGQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgquorum/pgquorum.h"

#define PGQ_PATH_MAX 512

struct config_peer
{
    uint64_t id;
    char address[PGQ_ADDR_MAX]; /* raft address, IPv4:port */
};

enum { LOG_ERROR_LEVEL = 0, LOG_WARN_LEVEL, LOG_INFO_LEVEL, LOG_DEBUG_LEVEL };
enum { LOG_FORMAT_PLAIN = 0, LOG_FORMAT_JSON, LOG_FORMAT_SYSLOG };

enum { ROLE_MONITOR = 0, ROLE_NODE };
enum { CRASH_AUTO = 0, CRASH_RESTART, CRASH_FAILOVER };
enum { REJOIN_REWIND_OR_CLONE = 0, REJOIN_MANUAL, REJOIN_OFF };

#define PGQ_NODE_MONITORS_MAX PGQ_MAX_MONITORS

struct config
{
    int role; /* ROLE_MONITOR, or ROLE_NODE when the file has a [node] section */
    /* [node] */
    char node_name[PGQ_NAME_MAX];
    char node_cluster[PGQ_NAME_MAX];
    char pgdata[PGQ_PATH_MAX];
    char bindir[PGQ_PATH_MAX];
    char node_conninfo[PGQ_CONNINFO_MAX];  /* how monitors and standbys reach it (registered) */
    char local_conninfo[PGQ_CONNINFO_MAX]; /* how the agent reaches it ("": node_conninfo) */
    char monitors_text[PGQ_NODE_MONITORS_MAX * PGQ_ADDR_MAX];
    char monitors[PGQ_NODE_MONITORS_MAX][PGQ_ADDR_MAX]; /* the monitors' API addresses */
    unsigned n_monitors;
    uint64_t node_priority;
    int crash_policy; /* CRASH_* */
    uint64_t restart_attempts;
    uint64_t agent_heartbeat_ms;
    uint64_t fence_margin_ms;
    uint64_t local_timeout_ms;
    uint64_t start_timeout_ms;
    int rejoin; /* REJOIN_* */
    char clone_command[PGQ_CONNINFO_MAX];
    char restore_command[PGQ_CONNINFO_MAX];
    /* [monitor] */
    uint64_t id;
    char data_dir[PGQ_PATH_MAX];
    char raft_address[PGQ_ADDR_MAX];
    char api_address[PGQ_ADDR_MAX];
    struct config_peer peers[PGQ_MAX_MONITORS];
    unsigned n_peers;
    bool join; /* joins a running group: never bootstraps, need not be in peers */
    int log_level;
    int log_format; /* LOG_FORMAT_* ([node] or [monitor]) */
    /* the log drain ([node] or [monitor]) */
    char log_drain[320];             /* "": off; else a URL drain_url_parse accepts */
    int log_drain_facility;          /* syslog facility code */
    uint64_t log_drain_queue;        /* lines held while the collector is unreachable */
    char log_drain_ca[PGQ_PATH_MAX]; /* "": [tls] ca_file */
    uint64_t events_per_cluster;     /* [monitor] the history's bounds, committed by the leader */
    uint64_t events_global;
    /* [raft] */
    uint64_t election_timeout_ms;
    uint64_t heartbeat_timeout_ms;
    uint64_t snapshot_threshold;
    uint64_t snapshot_trailing;
    /* [health] */
    uint64_t interval_ms;
    uint64_t timeout_ms;
    uint64_t retry_interval_ms;
    uint64_t retries;
    uint64_t report_refresh_ms;
    char passfile[PGQ_PATH_MAX];
    char sslmode[16];
    char sslcert[PGQ_PATH_MAX];
    char sslkey[PGQ_PATH_MAX];
    char sslrootcert[PGQ_PATH_MAX];
    /* [failover] */
    uint64_t failover_timeout_ms;
    uint64_t max_lag_bytes;
    uint64_t cut_timeout_ms;
    uint64_t promote_timeout_ms;
    uint64_t repoint_timeout_ms;
    uint64_t lease_ms;
    uint64_t lease_drift_ms;
    uint64_t agent_refresh_ms;
    bool replication_slots;
    /* [api] */
    uint64_t api_idle_timeout_ms;
    uint64_t api_max_clients;
    /* [tls] (and tls in [monitor] or [node]) */
    bool tls; /* false: plain TCP, explicitly configured */
    char tls_ca_file[PGQ_PATH_MAX];
    char tls_cert_file[PGQ_PATH_MAX];
    char tls_key_file[PGQ_PATH_MAX];
    /* [http] (and http_address in [monitor] or [node]) */
    char http_address[PGQ_ADDR_MAX]; /* "": off */
    uint64_t http_idle_timeout_ms;
    uint64_t http_max_clients;
    /* [auth] (monitors): who may use the API. Parsed further by
     * authz_config_parse (validated here). */
    int auth_mode;                      /* AUTH_MODE_AUTO, _ON, _OFF (authz.h) */
    char auth_tokens[2048];             /* NAME:sha256:HEX, ... */
    char auth_admins[1024];             /* user:NAME, ... */
    char auth_token_file[PGQ_PATH_MAX]; /* node agents: their own token */
};

/* Defaults for every key (required keys left empty/zero). */
void config_defaults(struct config *c);

/* Parse INI text. `path` only names the file in errors. On failure returns
 * PGQ_CONFIG and writes "PATH:LINE: [section] key: problem" to errmsg. */
int config_parse(struct config *c,
                 const char *path,
                 const char *text,
                 char *errmsg,
                 size_t errsize);

/* A voter count (peers) that is valid but not worth having: 1 (no failure
 * tolerated) or even (no more failures tolerated than one voter fewer).
 * 1 and one line in out, else 0. */
int config_voters_warning(const struct config *c, char *out, size_t size);

/* Durations "500ms", "30s", "2m", "1h"; sizes "1MB", "16kB", "512" (bytes;
 * units are 1024-based, as in PostgreSQL). */
int config_parse_duration(const char *s, uint64_t *ms);
int config_parse_size(const char *s, uint64_t *bytes);

/* The libpq credentials the operator set in [health] (passfile, sslmode,
 * sslcert, sslkey, sslrootcert), as keyword/value pairs appended to keys and
 * values (up to max); returns how many. Unset ones are left out: an empty
 * value would override the node's conninfo. */
unsigned config_auth_params(const struct config *c,
                            const char **keys,
                            const char **values,
                            unsigned max);

/* How long a monitor's down view of a node counts toward a failover: it
 * re-reports a node it keeps seeing down every interval, and its probes of
 * a down node end every retry_interval, each within timeout; one more
 * second covers the report's way to the log. */
uint64_t config_down_view_ttl_ms(const struct config *c);

/* The keys whose values differ between a and b (a and b configure the same
 * role; the other role's section is skipped), in table order: fn is called
 * with each one's section and key. */
void config_changed_keys(const struct config *a,
                         const struct config *b,
                         void (*fn)(void *arg, const char *section, const char *key),
                         void *arg);

/* Copy the value of one key (and what is derived from it alone) from src to
 * dst. Returns PGQ_INVALID, changing nothing, for a key not in the table. */
int config_copy_key(struct config *dst,
                    const struct config *src,
                    const char *section,
                    const char *key);

/* Print the reference of every key, as Markdown (docs/configuration.md). */
void config_print_reference(void (*emit)(void *arg, const char *line), void *arg);

#endif /* PGQ_CONFIG_H */
