/* monitor: one pgquorumd in role monitor, wired together on one libuv loop:
 * Raft (fsm, consensus, consensus_uv), the probes, the actuator, the API
 * server and the report channel to the leader.
 *
 * The happy path is: start raft; every tick (and whenever something is
 * applied) drive the leader's duties; forward this monitor's observations to
 * the leader; answer the API. A SIGTERM or SIGINT closes every service in
 * turn until the loop has no handle left.
 *
 * Possible failure modes are: no quorum (reads are still served, marked not
 * ready; writes answer UNAVAILABLE or NOT_LEADER with the leader's address),
 * a peer or node answering nonsense (refused, logged, nothing changes). */
#ifndef PGQ_MONITOR_H
#define PGQ_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "actuator.h"
#include "api.h"
#include "authz.h"
#include "config.h"
#include "consensus.h"
#include "consensus_uv.h"
#include "fsm.h"
#include "http.h"
#include "lease.h"
#include "loadwatch.h"
#include "membership.h"
#include "metrics.h"
#include "peer.h"
#include "probe.h"
#include "resources.h"

struct monitor;
typedef void (*monitor_stopped_cb)(struct monitor *m);

/* Failovers and switchovers that ended, per cluster, since the monitor
 * started (monitor_http.c). */
struct monitor_fo_count
{
    char cluster[PGQ_NAME_MAX];
    uint64_t failovers;
    uint64_t switchovers;
};

#define MONITOR_FO_PHASES 5

struct monitor
{
    uv_loop_t *loop;
    struct config cfg;
    struct fsm fsm;
    struct consensus_uv cu;
    struct consensus cons;
    struct probe probe;
    struct actuator act;
    struct transport transport; /* under api, peer, http and raft */
    struct api_server api;
    struct peer peer;
    struct http_server http;
    uv_timer_t tick;
    /* report channel */
    bool report_pending;
    struct proposal report_p;
    struct command report_cmd;
    uint64_t report_backoff_until;
    uint64_t handed_over_at;
    /* node agents: this leader's grants and heartbeats (monitor_agents.c) */
    struct lease_book leases;
    /* online membership: the one change of the Raft voters at a time
     * (monitor_member.c), the client waiting for it and who it is */
    struct membership members;
    struct api_client *member_client;
    struct peer_id member_who;
    /* reactions to applied entries */
    uint64_t seen_gen;
    uint64_t kicked_seq;
    uint64_t seen_event_seq;
    bool nodes_changed;
    bool forget_due;    /* nodes or clusters were removed: let go of what is kept of them */
    uint64_t forget_ms; /* uv_now of the last look */
    /* who may ask (monitor_authz.c) */
    struct authz_config authz;
    struct authz_throttle throttle;
    struct audit_limiter audit_limit;
    struct peer_id caller;  /* the identity of the request being dispatched */
    struct command *audits; /* owned: refusals to record, oldest first */
    unsigned n_audits;
    struct command
        *audit_repeats; /* owned, AUDIT_KEYS: refusals recorded (or held), whose repeats count */
    struct peer audit_peer; /* a follower's refusals on their way to the leader */
    bool audit_sending;
    uint64_t audits_dropped;
    uint64_t denied; /* requests answered DENIED (metrics) */
    bool started_audit_peer;
    /* metrics (monitor_http.c) */
    uint64_t started_wall_ms;
    uint64_t leader_seen_ms; /* a leader was last known then (uv_now; 0: never) */
    uint64_t reports_applied;
    uint64_t agent_reports_applied;
    struct monitor_fo_count *fo_counts; /* owned */
    unsigned n_fo_counts;
    struct metrics_hist fo_hist[MONITOR_FO_PHASES];
    /* resources (monitor_resources.c) */
    struct loadwatch lw;
    bool started_lw;
    uint64_t fd_limit;      /* the soft open-file limit (0: unknown, no budget) */
    struct fd_need fd_need; /* as of the last change of the nodes */
    unsigned shed_logged;   /* probes shed as last logged */
    uint64_t shed_log_ms;
    uint64_t trim_ms; /* uv_now: free heap pages last given back (memory.h) */
    /* shutdown */
    bool started_peer;
    bool started_api;
    bool started_http;
    bool started_raft;
    bool stopping;
    unsigned pending;
    monitor_stopped_cb stopped_cb; /* also used when the monitor stops itself */
    int exit_code;                 /* non-zero: it stopped itself on an error */
};

int monitor_start(struct monitor *m,
                  uv_loop_t *loop,
                  const struct config *cfg,
                  char *errmsg,
                  size_t errsize);
/* A reload: run with cfg from now on. cfg differs from the running
 * configuration only in keys reload.c calls live; what was derived from them
 * (the leader's policy settings, the probes' options) is derived again, and
 * the probes start their new cadence at once. */
void monitor_reconfigure(struct monitor *m, const struct config *cfg);

/* One line for a supervisor (systemd's STATUS=): "monitor 1: leader, 3
 * voters, term 4, 1 clusters". */
void monitor_status_line(struct monitor *m, char *out, size_t size);

/* Close every service; cb (or, if NULL, the one already set) fires at the
 * end. */
void monitor_stop(struct monitor *m, monitor_stopped_cb cb);

#endif /* PGQ_MONITOR_H */
