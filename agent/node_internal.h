/* Inside the node agent: what node.c (its life, heartbeats and leases) and
 * node_pg.c (its hands on PostgreSQL) share. Not for anyone else: the
 * contract is node.h. */
#ifndef PGQ_NODE_INTERNAL_H
#define PGQ_NODE_INTERNAL_H

#include "clock.h"
#include "node.h"

/* The agent's clock for every duration: monotonic. */
static inline uint64_t node_now_ms(struct node_agent *a)
{
    (void)a;
    return clock_mono_ms();
}

/* node_pg.c: the pid in pgdata/postmaster.pid if that process runs (0:
 * none), and whether pgdata/name exists. */
pid_t node_read_pm_pid(const struct node_agent *a);
bool node_file_exists(const struct node_agent *a, const char *name);

/* node_pg.c: watch the postmaster pid through a pidfd (its exit moves the
 * life on), or stop watching it. */
int node_watch(struct node_agent *a, pid_t pid);
void node_unwatch(struct node_agent *a);

/* node_pg.c: fence a running PostgreSQL: SIGSTOP the postmaster, SIGKILL
 * its children, then it. */
void node_fence(struct node_agent *a, const char *why);

/* node_pg.c: pause (SIGSTOP) or resume (SIGCONT) every process of a
 * running PostgreSQL: after the agent's own stall, it acknowledges nothing
 * while the agent asks the quorum whether its lease may go on. */
void node_pause(struct node_agent *a, bool pause);

/* node_pg.c: pg_controldata (updates pg_state, timeline), and pg_ctl start
 * (LIFE_STARTING, then RUNNING or DEAD); neither while a command runs. */
void node_controldata(struct node_agent *a);
void node_start_pg(struct node_agent *a, const char *why);

/* node_pg.c: the agent stops: stop watching, stop listening to a command
 * under way (it finishes on its own; PostgreSQL keeps running). */
void node_pg_stop(struct node_agent *a);

/* node.c: the postmaster died (or a hang was fenced): the crash policy. */
void node_after_death(struct node_agent *a);

/* The commands the agent runs, one at a time. */
enum {
    PROC_NONE = 0,
    PROC_START,       /* pg_ctl start */
    PROC_CONTROLDATA, /* pg_controldata */
    PROC_STOP,        /* pg_ctl stop -m fast (a demoted standby, before its rewind) */
    PROC_WALDUMP,     /* pg_waldump: what a rewind will discard */
    PROC_REWIND,      /* pg_rewind */
    PROC_EMPTY,       /* find -delete: empty the data directory before a clone */
    PROC_CLONE_CMD,   /* the operator's clone_command */
    PROC_BASEBACKUP,  /* pg_basebackup */
    PROC_SW_STOP,     /* pg_ctl stop -m fast: a switchover */
};

/* node_pg.c: stop a running primary cleanly for a switchover (LIFE_STOPPING,
 * then DOWN once pg_controldata says where its WAL ends). */
void node_switchover_stop(struct node_agent *a);

/* node_pg.c: run args[0] (an absolute path) with args, env (NULL: the
 * agent's); with lines, its stdout and stderr go line by line to
 * node_rejoin_line(). PGQ_UNAVAILABLE while another command runs. */
int node_run(struct node_agent *a, int kind, char **args, char **env, bool lines);

/* node_rejoin.c: decide and carry out a rejoin (every tick); a line of a
 * command's output; a command of the rejoin ended. */
void node_rejoin_tick(struct node_agent *a, uint64_t now);
void node_rejoin_line(struct node_agent *a, int kind, const char *line);
void node_rejoin_done(struct node_agent *a, int kind, int64_t status);
/* node_conf.c: keep the node's own configuration files (not for an empty
 * data directory), whether they are kept, forget them; write the settings
 * of a standby of the primary rejoined (the kept files back, primary_conninfo
 * and primary_slot_name, standby.signal; why says what failed); drop the
 * pgq_ slots a former primary kept; remove the postmaster.pid of a dead
 * (zombie) postmaster. */
void node_conf_save(struct node_agent *a);
bool node_conf_kept(const struct node_agent *a);
void node_conf_free(struct node_agent *a);
int node_conf_standby(struct node_agent *a, char *why, size_t size);
void node_drop_own_slots(const struct node_agent *a);
void node_clear_stale_pid(struct node_agent *a);

/* node_rejoin.c: the agent stops (a command under way finishes on its own). */
void node_rejoin_stop(struct node_agent *a);

/* node_http.c: start the HTTP server when http_address is set. */
int node_http_start(struct node_agent *a, char *errmsg, size_t errsize);

#endif /* PGQ_NODE_INTERNAL_H */
