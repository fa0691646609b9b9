/* node: pgquorumd in role node, the agent beside one PostgreSQL. It runs as
 * the PostgreSQL OS user on the PostgreSQL host.
 *
 * The happy path is: find the postmaster of pgdata (adopt it if it runs,
 * else start it with pg_ctl, which leaves it a child of init, so that it
 * outlives the agent), watch it through a pidfd (its death is known at
 * once), check every heartbeat that it answers a fresh local connection,
 * and send the leader a heartbeat with the local facts and host metrics;
 * a primary keeps its lease by these heartbeats.
 *
 * Possible failure modes are:
 *   - the postmaster dies: the crash policy restarts it in place (bounded)
 *     or leaves a primary to the quorum (the default when a standby could
 *     replace it), and the next heartbeat says so at once;
 *   - PostgreSQL hangs (two local checks in a row fail while the
 *     postmaster runs): the agent stops it, then the crash policy applies;
 *   - the lease cannot be renewed: the agent fences its primary (stops
 *     every process of it at once) before the lease ends; one revoked by
 *     the quorum (a failover over it began) is fenced at once; after a
 *     stall of its own (SIGSTOP, a suspended VM) past its lease the agent
 *     pauses its PostgreSQL (SIGSTOP) and tries to renew, for one
 *     heartbeat: resumed if renewed, fenced if not;
 *   - no monitor answers: heartbeats go round the list; a primary is
 *     fenced when its lease ends (as in Patroni without failsafe mode);
 *   - the agent stops or dies: PostgreSQL keeps running; a restarted agent
 *     adopts it without restarting it;
 *   - a data directory that would start writable while the quorum says the
 *     node is not the primary of the epoch is not started (Invariant 7: it
 *     needs a rejoin). */
#ifndef PGQ_NODE_H
#define PGQ_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "codec.h"
#include "config.h"
#include "hostmetrics.h"
#include "http.h"
#include "lease.h"
#include "peer.h"
#include "pgconn.h"

/* The agent's life, a state machine (table in node.c). */
enum node_life {
    LIFE_INIT = 0,  /* looking for a running postmaster */
    LIFE_WAITING,   /* PostgreSQL is down: waiting for the quorum's word to start it */
    LIFE_STARTING,  /* pg_ctl start under way */
    LIFE_RUNNING,   /* the postmaster runs and is watched */
    LIFE_FENCING,   /* every process of it is being stopped */
    LIFE_FENCED,    /* stopped by the agent: started again only on a lease as primary */
    LIFE_DEAD,      /* the postmaster died: the crash policy decides */
    LIFE_DOWN,      /* left down (handed over, or out of restarts, or needs a rejoin) */
    LIFE_REJOINING, /* rewinding or cloning the data directory from the primary */
    LIFE_STOPPING,  /* pg_ctl stop -m fast for a switchover */
    LIFE__N_STATES
};

struct node_agent;
typedef void (*node_stopped_cb)(struct node_agent *a);

/* A rejoin under way, or the last one (node_rejoin.c). */
struct node_rejoin
{
    int state;  /* enum pgq_rejoin_state, as reported */
    int action; /* enum rejoin_action under way (RJ_ACT_NONE: none) */
    int stage;  /* the command it waits for (PROC_*), 0 between commands */
    char detail[PGQ_REASON_MAX];
    char last_line[PGQ_REASON_MAX]; /* of the command under way */
    uint64_t started_ms;
    uint64_t ended_ms;
    uint64_t retry_ms; /* no new attempt before (agent clock) */
    uint64_t epoch;
    char follow[PGQ_NAME_MAX];
    char follow_conninfo[PGQ_CONNINFO_MAX];
    uint32_t parent_tli;
    uint64_t fork_lsn;
    bool rewind_failed;
    bool was_empty; /* the data directory was empty: no local configuration to keep */
    bool clone_cmd_failed;
    bool slot_ok, slot_tried;
    bool ctl_done, dump_done, emptied;
    uint64_t progress_ms; /* progress last logged */
    char slot[PGQ_NAME_MAX];
    uint64_t lost_commits, lost_bytes, last_lsn, dump_records;
    bool lost_known;
    /* the local configuration, kept across a rewind or a clone */
    char *conf[4];
    size_t conf_len[4];
    struct pgconn pc; /* to the primary: its slot */
    bool pc_busy;
};

struct node_agent
{
    uv_loop_t *loop;
    struct config cfg;
    int life; /* enum node_life: only through node_move() */
    char why[PGQ_REASON_MAX];
    char token[PGQ_TOKEN_MAX]; /* [auth] token_file's token, sent with every request ("": none) */
    struct agent_lease lease;
    uint64_t session;
    uint64_t started_ms;
    uv_timer_t tick;
    uint64_t last_tick_ms;
    uint64_t recheck_until_ms; /* after a stall: renew before judging the lease */
    bool paused;               /* its PostgreSQL is stopped (SIGSTOP) meanwhile */
    /* heartbeats */
    struct transport transport; /* under peer and http */
    struct peer peer;
    bool hb_busy;
    bool hb_now; /* send at the next tick (at once after a life change: kick_tick) */
    uint64_t next_hb_ms;
    unsigned mon_idx; /* of the configured monitors, then the learned ones */
    char leader_api[PGQ_ADDR_MAX];
    /* The voters' API addresses the leaders told (beyond [node] monitors:
     * monitors added since, or that replaced configured ones), and their
     * hash, sent with each heartbeat (0: none yet). */
    char learned[PGQ_MAX_MONITORS][PGQ_ADDR_MAX];
    unsigned n_learned;
    uint64_t learned_hash;
    bool have_reply;
    struct hb_reply reply;
    uint64_t reply_sent_ms; /* when the heartbeat that got `reply` was sent */
    uint64_t hb_sent_ms;    /* the heartbeat in flight was sent then */
    uint64_t down_ms;       /* it entered DOWN or FENCED then */
    bool old_leader;        /* the leader does not know heartbeats (an older version) */
    bool warned_short;      /* said once that the leases are too short for the heartbeats */
    bool registering;
    /* the postmaster */
    pid_t pm_pid;
    uv_poll_t *pm_poll; /* heap: closed (with its pidfd) on its own time */
    bool hung;          /* the fence under way is for a hang */
    bool handover;
    bool fenced;
    uint64_t restarts[16]; /* when the latest restarts were (agent clock) */
    unsigned n_restarts;
    /* local checks */
    struct pgconn pc;
    bool checking;
    bool answered_once;
    unsigned check_fails;
    bool answering;
    bool in_recovery;
    bool primary_seen; /* it was last seen out of recovery */
    uint64_t writable_since_ms;
    uint32_t timeline;
    uint64_t lsn;
    /* commands: pg_ctl start, pg_controldata */
    uv_process_t proc;
    uv_pipe_t proc_out;
    bool proc_busy;
    unsigned proc_open; /* handles of the last command not closed yet */
    bool proc_exited;
    bool proc_eof;
    int64_t proc_status;
    int proc_kind;
    char proc_buf[8192];
    size_t proc_len;
    bool proc_lines; /* the command's output is read line by line */
    char proc_path[PGQ_PATH_MAX + 32];
    int pg_state;
    uint64_t next_controldata_ms;
    bool controldata_ok;   /* the last pg_controldata succeeded */
    uint32_t ctl_timeline; /* its latest checkpoint's timeline */
    uint64_t wal_seg_size; /* bytes per WAL segment */
    uint64_t ckpt_lsn;     /* its latest checkpoint's location */
    uint64_t system_id;    /* its system identifier (0: not read yet): the node's identity */
    uint64_t stopped_lsn;  /* stopped cleanly for a switchover: its shutdown checkpoint */
    bool rewindable;       /* wal_log_hints or data checksums (or not known) */
    char rewind_why[PGQ_REASON_MAX];
    /* streaming (local checks) */
    bool streaming;
    uint64_t upstream_lsn; /* a standby: the end of WAL its upstream last sent (0: none) */
    uint64_t running_since_ms;
    uint64_t streamed_ms; /* last seen streaming */
    /* rejoin (node_rejoin.c) */
    struct node_rejoin rj;
    /* host metrics */
    struct host_sample hs_prev;
    uint64_t hs_prev_ms;
    struct host_metrics host;
    /* HTTP endpoints (node_http.c) */
    struct http_server http;
    bool started_http;
    /* shutdown */
    bool stopping;
    unsigned pending;
    node_stopped_cb stopped_cb;
    int exit_code;
};

int node_start(struct node_agent *a,
               uv_loop_t *loop,
               const struct config *cfg,
               char *errmsg,
               size_t errsize);
void node_stop(struct node_agent *a, node_stopped_cb cb);

/* One transition of the life cycle; asserts it is one the table allows. */
void node_move(struct node_agent *a, int next, const char *why);
/* A reload: run with cfg from now on (it differs from the running
 * configuration only in keys reload.c calls live); the fence margin applies
 * to the lease held, and a shorter heartbeat interval at once. */
void node_reconfigure(struct node_agent *a, const struct config *cfg);

/* One line for a supervisor (systemd's STATUS=): "node pg1: PostgreSQL
 * running (primary), lease held". */
void node_status_line(struct node_agent *a, char *out, size_t size);

const char *node_life_name(int life);
void node_print_table(void (*emit)(void *arg, const char *line), void *arg);

#endif /* PGQ_NODE_H */
