/* actuator, the jobs: one per action due, started, retried after a pause,
 * cancelled when no longer due, closed (see actuator.h). What each action
 * sends and concludes is in actuator_steps.c. */
#include "actuator.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator_internal.h"
#include "conninfo.h"
#include "failpoint.h"
#include "lib/util.h"
#include "log.h"

static void timer_cb(uv_timer_t *t)
{
    job_run_stage(t->data);
}

/* Go on with the job's current stage now, or after a pause. */
void job_next(struct job *j, uint64_t delay_ms)
{
    if (delay_ms == 0) {
        job_run_stage(j);
    } else {
        uv_timer_start(&j->timer, timer_cb, delay_ms, 0);
    }
}

static void job_end(struct job *j, int status, const struct command *step, const char *errmsg)
{
    struct actuator *a = j->a;
    uint64_t pause = status != 0 && j->act.kind == ACT_SLOTS ? SLOTS_RETRY_MS : RETRY_PAUSE_MS;
    uv_timer_stop(&j->timer);
    pgconn_disconnect(&j->pc);
    j->state = JOB_FINISHED;
    /* After a success too: its Step is on its way to the log, and the
     * action stays due until it is applied; running it again meanwhile
     * would report a second time, with less to say (a cut standby no longer
     * knows what it last heard from the primary). */
    j->retry_at = uv_now(a->loop) + pause;
    if (status != 0) {
        log_warn("%s %s: %s (retrying in %" PRIu64 " ms while still due)",
                 policy_action_name(j->act.kind), j->act.node, errmsg, pause);
    }
    if (a->done_cb != NULL) {
        a->done_cb(a, &j->act, status, step, errmsg);
    }
}

void job_fail(struct job *j, int status, const char *fmt, ...) PGQ_PRINTF(3, 4);
void job_fail(struct job *j, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    job_end(j, status != 0 ? status : PGQ_INTERNAL, NULL, msg);
}

/* The job ends with a Step to commit: st's kind and fields, and detail. */
void step_commit(struct job *j, const struct cmd_step *st, const char *detail)
{
    struct command step;
    command_init(&step, CMD_STEP);
    pgq_strlcpy(step.cluster, j->act.cluster, sizeof step.cluster);
    pgq_strlcpy(step.node, j->act.node, sizeof step.node);
    step.u.step = *st;
    step.u.step.epoch = j->act.epoch;
    pgq_strlcpy(step.u.step.detail, detail, sizeof step.u.step.detail);
    log_info("%s %s: %s%s%s%s", policy_action_name(j->act.kind), j->act.node,
             pgq_step_name(st->kind), detail[0] != '\0' ? " (" : "", detail,
             detail[0] != '\0' ? ")" : "");
    job_end(j, 0, &step, "");
}

void step_done(struct job *j, int kind, uint32_t timeline, const char *detail)
{
    struct cmd_step st;
    memset(&st, 0, sizeof st);
    st.kind = kind;
    st.timeline = timeline;
    step_commit(j, &st, detail);
}

void job_succeed(struct job *j, const char *what)
{
    log_info("%s %s: %s", policy_action_name(j->act.kind), j->act.node, what);
    job_end(j, 0, NULL, "");
}

/* Right before a statement with an effect: is this still ours to do? */
bool still_due(struct job *j)
{
    if (j->a->due_cb != NULL && !j->a->due_cb(j->a, &j->act)) {
        job_fail(j, PGQ_STALE, "no longer due: cancelled before acting");
        return false;
    }
    return true;
}

const char *value(PGresult *r, int col)
{
    return r != NULL && PQntuples(r) > 0 && PQnfields(r) > col && !PQgetisnull(r, 0, col)
               ? PQgetvalue(r, 0, col)
               : NULL;
}

bool is_true(const char *v)
{
    return v != NULL && v[0] == 't';
}

static void connect_cb(struct pgconn *pc, int status)
{
    struct job *j = pc->data;
    if (status == PGQ_SHUTDOWN || j->state != JOB_RUNNING) {
        return;
    }
    if (status != 0) {
        if (j->unreachable_since == 0) {
            j->unreachable_since = uv_now(j->a->loop);
        }
        job_fail(j, status, "%s", pc->errmsg);
        return;
    }
    j->unreachable_since = 0;
    j->stage = ST_PRIVILEGES;
    job_run_stage(j);
}

/* Open the job's connection; connect_cb goes on. */
void job_connect(struct job *j)
{
    if (FAILPOINT("actuator.connect", j->act.node)) {
        if (j->unreachable_since == 0) {
            j->unreachable_since = uv_now(j->a->loop);
        }
        job_fail(j, PGQ_IO, "failpoint actuator.connect: cannot reach %s", j->act.node);
        return;
    }
    if (job_connect_to(j, j->act.conninfo, connect_cb) != 0) {
        job_fail(j, PGQ_IO, "%s", j->pc.errmsg);
    }
}

int job_connect_to(struct job *j, const char *conninfo, pgconn_cb cb)
{
    const struct config *cfg = j->a->cfg;
    const char *keys[12] = {"application_name", "options", "connect_timeout"};
    const char *values[12];
    unsigned n = 0;
    values[n++] = j->a->app_name;
    values[n++] = "-c statement_timeout=0";
    values[n++] = "2";
    n += config_auth_params(cfg, keys + n, values + n, PGQ_ARRAY_SIZE(keys) - 1 - n);
    keys[n] = NULL;
    values[n] = NULL;
    return pgconn_connect(&j->pc, conninfo, keys, values, cfg->timeout_ms, cb) != 0 ? PGQ_IO : 0;
}

static void job_start(struct job *j)
{
    j->state = JOB_RUNNING;
    j->stage = ST_CONNECT;
    j->changed = false;
    j->promoted_here = false;
    j->acted = false;
    j->started = uv_now(j->a->loop);
    if (j->act.kind == ACT_REPOINT) {
        struct conninfo ci;
        char err[PGQ_REASON_MAX];
        if (!j->stuck_sent && j->started - j->first_ms > j->a->cfg->repoint_timeout_ms) {
            /* Its attempts keep failing before they could even wait (the
             * node answers nothing, or refuses): the failover no longer
             * waits for it, and it is still repointed. */
            j->stuck_sent = true;
            step_done(j, PGQ_STEP_STUCK, 0, "no attempt to repoint it succeeded");
            return;
        }
        if (conninfo_parse(j->act.primary_conninfo, &ci, err, sizeof err) != 0) {
            job_fail(j, PGQ_INVALID, "primary %s: %s", j->act.primary, err);
            return;
        }
        pgq_strlcpy(j->target_host, ci.host, sizeof j->target_host);
        pgq_strlcpy(j->target_port, ci.port, sizeof j->target_port);
    }
    log_info("%s %s: starting (cluster %s, epoch %" PRIu64 ")", policy_action_name(j->act.kind),
             j->act.node, j->act.cluster, j->act.epoch);
    slots_job_start(j);
    job_run_stage(j);
}

static void job_closed(struct job *j)
{
    struct actuator *a = j->a;
    slots_job_free(j);
    free(j);
    a->pending--;
    if (a->closing && a->pending == 0 && a->close_cb != NULL) {
        a->close_cb(a);
    }
}

static void job_timer_closed(uv_handle_t *h)
{
    struct job *j = h->data;
    if (--j->pending_closes == 0) {
        job_closed(j);
    }
}

static void job_pgconn_closed(struct pgconn *pc)
{
    struct job *j = pc->data;
    if (--j->pending_closes == 0) {
        job_closed(j);
    }
}

/* Unlink and close a job; its callbacks never fire again. */
static void job_remove(struct job *j)
{
    struct actuator *a = j->a;
    for (struct job **pj = &a->jobs; *pj != NULL; pj = &(*pj)->next) {
        if (*pj == j) {
            *pj = j->next;
            break;
        }
    }
    if (j->state == JOB_RUNNING) {
        log_info("%s %s: cancelled", policy_action_name(j->act.kind), j->act.node);
    }
    j->state = JOB_CLOSING;
    j->pending_closes = 2;
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, job_timer_closed);
    pgconn_close(&j->pc, job_pgconn_closed);
}

void actuator_init(struct actuator *a,
                   uv_loop_t *loop,
                   const struct config *cfg,
                   uint64_t monitor_id)
{
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = cfg;
    a->monitor_id = monitor_id;
    snprintf(a->app_name, sizeof a->app_name, "pgquorum-actuator-%" PRIu64, monitor_id);
}

/* A hash of what policy_action_same() compares. */
static unsigned action_hash(const struct action *x)
{
    uint64_t h = pgq_fnv1a(x->cluster) * 0x100000001b3ULL ^ pgq_fnv1a(x->node);
    h = (h ^ (uint64_t)x->kind) * 0x100000001b3ULL;
    h = (h ^ x->epoch ^ (x->round << 21) ^ (x->reg_seq << 42)) * 0x100000001b3ULL;
    return (unsigned)(h ^ (h >> 32));
}

/* Open addressing over pointers to actions (a due one, or a job's), cap a
 * power of two, at least twice what it holds. */
struct action_index
{
    const struct action **slot;
    unsigned cap;
};

static bool index_init(struct action_index *x, unsigned n)
{
    x->cap = 16;
    while (x->cap < 2 * n + 2) {
        x->cap *= 2;
    }
    x->slot = calloc(x->cap, sizeof *x->slot);
    return x->slot != NULL;
}

static void index_add(struct action_index *x, const struct action *act)
{
    unsigned k = action_hash(act) & (x->cap - 1);
    while (x->slot[k] != NULL) {
        k = (k + 1) & (x->cap - 1);
    }
    x->slot[k] = act;
}

static const struct action *index_get(const struct action_index *x, const struct action *act)
{
    for (unsigned k = action_hash(act) & (x->cap - 1); x->slot[k] != NULL;
         k = (k + 1) & (x->cap - 1)) {
        if (policy_action_same(x->slot[k], act)) {
            return x->slot[k];
        }
    }
    return NULL;
}

static struct job *job_of(const struct actuator *a,
                          const struct action_index *jobs,
                          const struct action *act)
{
    if (jobs->slot != NULL) {
        const struct action *found = index_get(jobs, act);
        return found != NULL ? (struct job *)(void *)((char *)found - offsetof(struct job, act))
                             : NULL;
    }
    for (struct job *j = a->jobs; j != NULL; j = j->next) {
        if (policy_action_same(&j->act, act)) {
            return j;
        }
    }
    return NULL;
}

static bool is_due(const struct action_index *due_index,
                   const struct action *due,
                   unsigned n,
                   const struct action *act)
{
    if (due_index->slot != NULL) {
        return index_get(due_index, act) != NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        if (policy_action_same(act, &due[i])) {
            return true;
        }
    }
    return false;
}

/* Jobs and due actions are paired through hash indexes (a walk of each
 * when there is no memory for them): pairing every job with every due
 * action was O(jobs x due) each tick, which at thousands of actions (the
 * repoints after a registration) held the loop for long. */
void actuator_run(struct actuator *a, const struct action *due, unsigned n)
{
    uint64_t now = uv_now(a->loop);
    struct action_index due_index = {NULL, 0}, jobs = {NULL, 0};
    unsigned n_jobs = 0;
    if (a->closing) {
        return;
    }
    if (n > 0 && !index_init(&due_index, n)) {
        due_index.slot = NULL;
    }
    for (unsigned i = 0; due_index.slot != NULL && i < n; i++) {
        index_add(&due_index, &due[i]);
    }
    /* Cancel what is no longer due, unless it has already acted: a fence
     * makes its node read-only, which ends the alert that made it due, yet
     * it must still end the client sessions and commit that it did. */
    for (struct job *j = a->jobs, *next_j; j != NULL; j = next_j) {
        next_j = j->next;
        if (!is_due(&due_index, due, n, &j->act) && !(j->state == JOB_RUNNING && j->acted)) {
            job_remove(j);
        }
    }
    free(due_index.slot);
    for (const struct job *j = a->jobs; j != NULL; j = j->next) {
        n_jobs++;
    }
    if (n > 0 && index_init(&jobs, n_jobs + n)) {
        for (const struct job *j = a->jobs; j != NULL; j = j->next) {
            index_add(&jobs, &j->act);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        struct job *j = job_of(a, &jobs, &due[i]);
        if (j != NULL) {
            if (j->state == JOB_FINISHED && now >= j->retry_at) {
                job_start(j);
            }
            continue;
        }
        j = calloc(1, sizeof *j);
        if (j == NULL) {
            log_error("actuator: out of memory");
            break;
        }
        j->a = a;
        j->act = due[i];
        j->first_ms = now;
        if (pgconn_init(&j->pc, a->loop) != 0 || uv_timer_init(a->loop, &j->timer) != 0) {
            free(j);
            log_error("actuator: cannot create handles");
            break;
        }
        j->pc.data = j;
        j->timer.data = j;
        j->next = a->jobs;
        a->jobs = j;
        a->pending++;
        if (jobs.slot != NULL) {
            index_add(&jobs, &j->act);
        }
        job_start(j);
    }
    free(jobs.slot);
}

uint64_t actuator_unreachable_ms(const struct actuator *a)
{
    uint64_t now = uv_now(a->loop), worst = 0;
    for (const struct job *j = a->jobs; j != NULL; j = j->next) {
        /* A fence or the slots wait for no failover: no reason to hand over. */
        if (j->unreachable_since != 0 && j->act.kind != ACT_FENCE && j->act.kind != ACT_SLOTS) {
            worst = PGQ_MAX(worst, now - j->unreachable_since);
        }
    }
    return worst;
}

void actuator_cancel_all(struct actuator *a)
{
    while (a->jobs != NULL) {
        job_remove(a->jobs);
    }
}

void actuator_close(struct actuator *a, actuator_close_cb cb)
{
    a->closing = true;
    a->close_cb = cb;
    if (a->pending == 0) {
        if (cb != NULL) {
            cb(a);
        }
        return;
    }
    actuator_cancel_all(a);
}
