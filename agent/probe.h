/* probe: this monitor's own view of every registered PostgreSQL node.
 *
 * The happy path is: one target per node, one libpq connection each, kept
 * open between rounds; every health.interval one query learns role, timeline,
 * WAL positions, walreceiver state, the server's identity and the operator
 * metrics. An observation is handed over for the Raft log when something
 * that matters changed; when it would raise an alert the state lacks (a
 * writable node that is not the primary); once per interval for a node seen
 * down or a primary whose WAL moved; when report_refresh has passed; or when
 * forced (a new leader, the primary found down).
 *
 * A full round (every interval) opens a new connection, except where the
 * node's agent vouches for its liveness (its committed facts: agent up,
 * postmaster alive and answering a fresh local connection): the agent then
 * owns that check and the round reuses the kept connection, which costs
 * the server a fraction of a new backend (tools/bench_probe.py).
 *
 * Descriptors: at most `budget` nodes are probed (one connection each), in
 * the state's order (clusters, then nodes, as registered); the others are
 * shed: not probed, and nothing is reported of them, so that a shed node
 * never looks down to the quorum (resources.h says where the budget comes
 * from). A connect that finds no descriptor free is no failure either: the
 * node is probed again later.
 *
 * Possible failure modes are: the connection drops between rounds (noticed
 * at once: the node is probed again right away), a probe fails (re-checked
 * every retry_interval; reported down only after 1 + retries consecutive
 * failures), a node answers nonsense (a failed probe, with the reason), a
 * probe times out while this monitor's own loop ran late (reported down
 * all the same, marked with that lateness, overload_ms: the leader does not
 * count it toward a failover, see policy.h). */
#ifndef PGQ_PROBE_H
#define PGQ_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster.h"
#include "config.h"
#include "loadwatch.h"
#include "pgconn.h"

struct probe;

/* The least WAL movement reported before the refresh (64 KiB). */
#define PGQ_WAL_STEP_MIN (64u * 1024u)

struct probe_target
{
    struct probe *probe;
    char cluster[PGQ_NAME_MAX];
    char node[PGQ_NAME_MAX];
    char *conninfo;   /* owned, as long as it is */
    uint64_t reg_seq; /* the node's registration: one registered again is probed anew */
    struct pgconn pc;
    uv_timer_t timer;
    bool probing;
    bool rerun;                  /* probe again as soon as the current probe ends */
    bool round;                  /* the next probe is a full round: on a new connection */
    bool force;                  /* report the next conclusion whatever it is */
    bool kicked;                 /* the next probe is a kick's: never held (probe_hold) */
    bool urgent;                 /* what it has to report is a change: it goes first */
    unsigned confirming;         /* probes on a new connection re-checking a lost replica */
    char *confirm_replicas;      /* while confirming: the replicas the last result listed */
    bool removed;                /* closing */
    bool shed;                   /* beyond the descriptor budget: not probed */
    uint64_t due_mono;           /* uv_now: when the current or next probe is due */
    unsigned fails;              /* consecutive failed probes */
    uint64_t failing_since_ms;   /* wall, display */
    uint64_t failing_since_mono; /* uv_now */
    uint64_t basis_seq;
    uint64_t started_ms;   /* wall, display */
    uint64_t started_mono; /* uv_now */
    bool have_obs;
    struct view_obs obs; /* latest conclusion (strings owned) */
    bool dirty;          /* obs to report */
    bool in_flight;      /* sent, not yet committed (what was sent is in the report) */
    bool have_reported;
    struct obs_digest reported; /* of what was last sent and committed */
    uint64_t reported_ms;       /* uv_now */
    unsigned pending_closes;
    struct probe_target *next;
};

typedef void (*probe_cb)(struct probe *p);

struct probe
{
    uv_loop_t *loop;
    const struct config *cfg;  /* borrowed */
    const struct state *state; /* borrowed: node list and applied seq */
    uint64_t monitor_id;
    struct probe_target *targets;
    struct probe_target **index; /* open addressing by cluster/node, index_cap a power of 2 */
    unsigned index_cap;
    probe_cb dirty_cb; /* observations are waiting to be reported */
    void *data;
    const struct loadwatch *lw; /* borrowed, may be NULL: the loop's lateness */
    uint64_t budget;            /* nodes probed at most (UINT64_MAX: all) */
    uint64_t probes_new;        /* probes begun on a new connection */
    uint64_t probes_kept;       /* probes begun on the kept connection */
    unsigned n_targets;
    unsigned n_shed;
    unsigned n_pending;     /* targets dirty and not in flight (probe_pending) */
    bool urgent_due;        /* one of them is a change: report it now (probe_report_due) */
    uint64_t pending_since; /* uv_now: n_pending last went from 0 to 1 */
    /* private */
    bool closing;
    unsigned pending;
    probe_cb close_cb;
    char app_name[64];
    char options[64];
    char keepalive_idle[16];
    char tcp_user_timeout[16];
    uint64_t wal_step; /* report a primary's WAL once it moved this far */
    uint64_t overload_lag_ms;
    uint64_t no_fd_log_ms; /* uv_now: last "no descriptor free" line */
    uint64_t rng;          /* the rounds' jitter (round_delay) */
    bool holding;          /* probe_hold: a failover is under way */
    uint64_t hold_since;   /* uv_now: since when */
    uint64_t hold_what;    /* what was under way then (probe_hold's `what`) */
    uint64_t hold_until;   /* uv_now: routine rounds wait until then (0: they do not) */
    uint64_t rounds_held;  /* rounds that waited in this hold */
};

void probe_init(struct probe *p,
                uv_loop_t *loop,
                const struct config *cfg,
                const struct state *state,
                uint64_t monitor_id);

/* The configuration it borrows changed (a reload): derive again what it
 * took from it (connection options, the WAL step) for the next connections;
 * with cadence_changed (interval, retry_interval), probe every node now so
 * that the new cadence starts at once. */
void probe_reconfigure(struct probe *p, bool cadence_changed);

/* A failover is under way in some cluster (cluster_failover_under_way), as
 * the monitor's tick says at every turn, `what` a digest of which clusters
 * and phases: the routine rounds of every other cluster's standbys wait,
 * 2 s at most from the first word or from a change of `what`, so that its
 * steps do not queue for the cores behind thousands of new connections (a
 * new connection's CPU here, and its server's). Kicks, retries, lost
 * connections, primaries and the failing clusters' nodes are never held. */
void probe_hold(struct probe *p, bool under_way, uint64_t what);

/* Follow the registered nodes: start, restart or stop targets, and shed
 * those beyond p->budget (set it first). */
void probe_sync(struct probe *p);

/* Probe the nodes of a cluster (all clusters when NULL) now; with force, the
 * next conclusion of each is reported even if unchanged. */
void probe_kick(struct probe *p, const char *cluster, bool force);

/* Report every current observation again (a new leader needs them). */
void probe_mark_all_dirty(struct probe *p);

/* How many observations wait to be reported. */
unsigned probe_pending(const struct probe *p);

/* Whether the observations waiting should go now: one of them is a change
 * (reachability, role, timeline, streaming, a lag or an alert, a node's
 * first, a kick's), or at least `batch` wait, or the first has waited
 * `coalesce_ms`. Refreshes alone (report_refresh, a primary's WAL moving)
 * wait to go together: spread-out probes otherwise made an entry per
 * commit on every monitor; while a failover is under way (probe_hold),
 * they wait for it, 2 s at most, as the routine rounds do. */
bool probe_report_due(const struct probe *p, uint64_t coalesce_ms, unsigned batch);

/* Take up to max observations waiting to be reported, all of one cluster
 * (written to cluster); returns how many. They are in flight until
 * probe_collect_done(). */
unsigned probe_collect(struct probe *p, char *cluster, struct obs *out, unsigned max);
/* The same, of any clusters at once (level 6: sent as one batch): each
 * observation's cluster in clusters[i], borrowed until the next change of
 * the targets. */
unsigned probe_collect_many(struct probe *p,
                            struct obs *out,
                            const char **clusters,
                            unsigned max,
                            size_t max_bytes); /* at most about this many bytes encoded */
/* The report of what was collected ended: `sent`, the report (or batch of
 * reports) committed, or NULL when it was not; its observations are then
 * what this monitor reported, and the rest in flight is due again. */
void probe_collect_done(struct probe *p, const struct command *sent);

void probe_close(struct probe *p, probe_cb cb);

/* This monitor's latest conclusion about a node (NULL: none yet, or the
 * node is shed). */
const struct view_obs *probe_latest(const struct probe *p, const char *cluster, const char *node);

#endif /* PGQ_PROBE_H */
