/* Inside the actuator: the job, its stages, and what actuator.c (the jobs)
 * and actuator_steps.c (the SQL of each action) share. Not for anyone else:
 * the contract is actuator.h. */
#ifndef PGQ_ACTUATOR_INTERNAL_H
#define PGQ_ACTUATOR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "actuator.h"
#include "lib/util.h"

#define RETRY_PAUSE_MS 1000
#define WAIT_POLL_MS 100
#define CUT_POLL_MS 10       /* a cut takes milliseconds: the failover waits on it */
#define PROMOTE_ATTEMPTS 3   /* failed pg_promote calls before the candidate is given up */
#define SLOTS_RETRY_MS 10000 /* a slots action that failed (a privilege, a limit) waits longer */
#define SLOTS_POLL_MS 5000   /* a slot to drop that a standby still uses is looked at again */

enum job_state { JOB_RUNNING, JOB_FINISHED, JOB_CLOSING };

enum stage {
    ST_CONNECT,
    ST_PRIVILEGES,
    /* promote */
    ST_P_CHECK,
    ST_P_UNFENCE,
    ST_P_UNFENCE_RELOAD,
    ST_P_PROMOTE,
    ST_P_VERIFY,
    ST_P_HISTORY,
    ST_P_GIVE_UP,
    ST_P_GIVE_UP_RELOAD,
    ST_P_SYNC,
    ST_P_SYNC_RELOAD,
    ST_P_SYNC_VERIFY,
    /* repoint */
    ST_R_READ,
    ST_R_ALTER,
    ST_R_RELOAD,
    ST_R_WAIT,
    /* fence */
    ST_F_ALTER,
    ST_F_RELOAD,
    ST_F_VERIFY,
    ST_F_TERMINATE,
    /* cut */
    ST_C_READ,
    ST_C_ALTER,
    ST_C_RELOAD,
    ST_C_WAIT,
    /* repoint, on the primary first: the standby's slot (actuator_slots.c) */
    ST_R_SLOT_CONNECT,
    ST_R_SLOT_READ,
    ST_R_SLOT_DROP,
    ST_R_SLOT_CREATE,
    /* repoint, on the standby: primary_slot_name */
    ST_R_SLOT_SET,
    /* slots (actuator_slots.c) */
    ST_S_CHECK,
    ST_S_READ,
    ST_S_CREATE,
    ST_S_DROP,
    /* sync */
    ST_Y_READ,
    ST_Y_ALTER,
    ST_Y_RELOAD,
    ST_Y_VERIFY,
};

struct slots_work;

struct job
{
    struct actuator *a;
    struct action act;
    int state;
    int stage;
    struct pgconn pc;
    uv_timer_t timer;
    uint64_t started;  /* uv_now */
    uint64_t retry_at; /* uv_now: FINISHED jobs restart after this */
    bool changed;      /* repoint: primary_conninfo was rewritten */
    bool promoted_here;
    bool acted;                 /* its statement with an effect was sent: finish, then commit */
    uint64_t unreachable_since; /* uv_now of the first of consecutive failed connects */
    uint64_t first_ms;          /* uv_now of its first attempt (the job lives while due) */
    /* promote: attempts that reached the node and failed, across restarts */
    unsigned promote_failures;
    uint64_t first_promote_ms; /* uv_now of the first of them */
    bool giving_up;            /* made read-only next, then given up */
    char promote_error[256];
    uint32_t new_tli; /* promote: the timeline it is on */
    /* repoint: a STUCK step was committed once already by this job */
    bool stuck_sent;
    bool waldir;       /* this role may list pg_wal: timelines exactly (PGQ_SQL_HAS_WALDIR) */
    bool sync_differs; /* promote: its synchronous_standby_names is not the committed set's */
    /* cut: what was read before and after it */
    bool cut_changed;
    uint32_t cut_tli;
    uint64_t cut_upstream_lsn;
    unsigned cut_polls; /* consecutive polls with no walreceiver */
    /* repoint: the standby's slot on the primary (act.slot) is there */
    bool slot_ok;
    bool slot_changed;                 /* primary_slot_name is rewritten */
    bool slot_refused;                 /* ... but the role may not: left as it is */
    char slot_want[PGQ_SLOT_NAME_MAX]; /* ... to this ("": none) */
    struct slots_work *slots;          /* owned: ACT_SLOTS, what it found and does */
    char target_host[PGQ_ADDR_MAX];
    char target_port[8];
    char new_conninfo[PGQ_CONNINFO_MAX * 2];
    unsigned pending_closes;
    struct job *next;
};

/* Go on with the job's current stage now, or after a pause. */
void job_next(struct job *j, uint64_t delay_ms);
/* The job ends: with a Step to commit (status 0), or failed, retried after a
 * pause while still due. */
void job_fail(struct job *j, int status, const char *fmt, ...) PGQ_PRINTF(3, 4);
void step_commit(struct job *j, const struct cmd_step *st, const char *detail);
void step_done(struct job *j, int kind, uint32_t timeline, const char *detail);
/* The job ends with nothing to commit (what it did shows in observations). */
void job_succeed(struct job *j, const char *what);
/* Right before a statement with an effect: is this still ours to do? (false:
 * the job was cancelled) */
bool still_due(struct job *j);
/* Column col of the first row, NULL when absent or NULL. */
const char *value(PGresult *r, int col);
bool is_true(const char *v);
/* Open the job's connection (ST_CONNECT); then ST_PRIVILEGES. */
void job_connect(struct job *j);
/* Open the job's connection to a server (conninfo, with the monitor's
 * credentials); cb goes on. Non-zero: it could not start (pc.errmsg says
 * why) and cb never fires. */
int job_connect_to(struct job *j, const char *conninfo, pgconn_cb cb);
/* Run the job's current stage (actuator_steps.c). */
void job_run_stage(struct job *j);
/* Send one statement; its answer goes to the stage (actuator_steps.c). */
void job_query(struct job *j, const char *sql, uint64_t timeout_ms);

/* Replication slots (actuator_slots.c): the statements of ACT_SLOTS and of
 * the repoint's stages on the primary, and what they conclude. */
bool slots_stage(int stage);
void slots_run_stage(struct job *j);
void slots_query_cb(struct job *j, int status, PGresult *res);
/* Start a job's slot work: ACT_SLOTS from ST_CONNECT, a repoint with a
 * slot from ST_R_SLOT_CONNECT. */
void slots_job_start(struct job *j);
void slots_job_free(struct job *j);

#endif /* PGQ_ACTUATOR_INTERNAL_H */
