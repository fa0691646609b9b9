/* actuator: carries out the leader's actions on PostgreSQL nodes.
 *
 * The happy path is, per action, a short chain of statements on one async
 * libpq connection, each step checked before it acts:
 *   cut      in recovery? -> primary_conninfo = '' (ALTER SYSTEM + reload,
 *            unless empty already) -> wait until the walreceiver is gone and
 *            replay has settled -> its position, timeline, and the primary's
 *            end of WAL as it last heard;
 *   promote  pg_is_in_recovery()? -> writable again if it was fenced ->
 *            pg_promote(wait) -> out of recovery, new timeline -> where it
 *            forked (its history file);
 *   repoint  (with a slot: on the primary first, its slot made if missing,
 *            or made again if lost and unused) -> in recovery, and able to
 *            follow by its own WAL? -> primary_conninfo pointed at the
 *            epoch's primary and primary_slot_name set to its slot (each
 *            only when it differs) -> wait until pg_stat_wal_receiver
 *            streams from it on its timeline, with that slot;
 *   slots    on the primary: its pgq_ slots -> one made for every other node
 *            that lacks one -> those of no node dropped (once unused);
 *   fence    ALTER SYSTEM default_transaction_read_only = on -> reload ->
 *            confirm -> terminate client sessions.
 * The result is a Step command for the owner to commit: also "diverged" (a
 * standby that cannot follow), "stuck" (one that does not within
 * repoint_timeout), "gave-up" (a candidate whose pg_promote failed 3 times
 * or took promote_timeout; made read-only first unless it never started).
 *
 * Possible failure modes are: the node unreachable or refusing (the job ends
 * with the reason and is retried after a pause while still due; a repoint
 * that cannot make its slot on the primary goes on without one), leadership
 * lost or the action no longer due (the job is cancelled; right before each
 * statement with an effect the owner's is_due() is asked again, so that an
 * outdated decision is never carried out). */
#ifndef PGQ_ACTUATOR_H
#define PGQ_ACTUATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster.h"
#include "config.h"
#include "pgconn.h"
#include "policy.h"

struct actuator;

/* status 0: step is the command to commit. Otherwise errmsg says why. */
typedef void (*actuator_done_cb)(struct actuator *a,
                                 const struct action *act,
                                 int status,
                                 const struct command *step,
                                 const char *errmsg);
typedef bool (*actuator_due_cb)(struct actuator *a, const struct action *act);
/* ACT_SLOTS: the slots the primary keeps; up to max in names, returns how
 * many there are. */
typedef unsigned (*actuator_slots_cb)(struct actuator *a,
                                      const struct action *act,
                                      char (*names)[PGQ_SLOT_NAME_MAX],
                                      unsigned max);
typedef void (*actuator_close_cb)(struct actuator *a);

struct job;

struct actuator
{
    uv_loop_t *loop;
    const struct config *cfg;
    uint64_t monitor_id;
    actuator_done_cb done_cb;
    actuator_due_cb due_cb;
    actuator_slots_cb slots_cb;
    void *data;
    /* private */
    struct job *jobs;
    unsigned pending;
    bool closing;
    actuator_close_cb close_cb;
    char app_name[64];
};

void actuator_init(struct actuator *a,
                   uv_loop_t *loop,
                   const struct config *cfg,
                   uint64_t monitor_id);

/* The actions due now: start those not running (or cooling down after a
 * failure), cancel running ones that are no longer due. */
void actuator_run(struct actuator *a, const struct action *due, unsigned n);

/* How long the longest-failing promote or repoint has been unable to even
 * connect to its node (0: none). */
uint64_t actuator_unreachable_ms(const struct actuator *a);

/* Stop everything (leadership lost). */
void actuator_cancel_all(struct actuator *a);

void actuator_close(struct actuator *a, actuator_close_cb cb);

#endif /* PGQ_ACTUATOR_H */
