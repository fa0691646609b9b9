/* actuator: promote, repoint, fence (see actuator.h). */
#include "actuator.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"
#include "failpoint.h"
#include "lib/util.h"
#include "log.h"

#define RETRY_PAUSE_MS 1000
#define WAIT_POLL_MS 100

enum job_state { JOB_RUNNING, JOB_FINISHED, JOB_CLOSING };

enum stage {
    ST_CONNECT,
    /* promote */
    ST_P_CHECK,
    ST_P_PROMOTE,
    ST_P_VERIFY,
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
};

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
    char target_host[PGQ_ADDR_MAX];
    char target_port[8];
    char new_conninfo[PGQ_CONNINFO_MAX * 2];
    unsigned pending_closes;
    struct job *next;
};

static void run_stage(struct job *j);

static void timer_cb(uv_timer_t *t)
{
    run_stage(t->data);
}

/* Go on with the job's current stage now, or after a pause. */
static void next(struct job *j, uint64_t delay_ms)
{
    if (delay_ms == 0) {
        run_stage(j);
    } else {
        uv_timer_start(&j->timer, timer_cb, delay_ms, 0);
    }
}

static void job_end(struct job *j, int status, const struct command *step, const char *errmsg)
{
    struct actuator *a = j->a;
    uv_timer_stop(&j->timer);
    pgconn_disconnect(&j->pc);
    j->state = JOB_FINISHED;
    j->retry_at = uv_now(a->loop) + (status == 0 ? 0 : RETRY_PAUSE_MS);
    if (status != 0) {
        log_warn("%s %s: %s (retrying in %d ms while still due)", policy_action_name(j->act.kind),
                 j->act.node, errmsg, RETRY_PAUSE_MS);
    }
    if (a->done_cb != NULL) {
        a->done_cb(a, &j->act, status, step, errmsg);
    }
}

static void job_fail(struct job *j, int status, const char *fmt, ...) PGQ_PRINTF(3, 4);
static void job_fail(struct job *j, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    job_end(j, status != 0 ? status : PGQ_INTERNAL, NULL, msg);
}

static void step_done(struct job *j, int kind, uint32_t timeline, const char *detail)
{
    struct command step;
    command_init(&step, CMD_STEP);
    pgq_strlcpy(step.cluster, j->act.cluster, sizeof step.cluster);
    pgq_strlcpy(step.node, j->act.node, sizeof step.node);
    step.u.step.epoch = j->act.epoch;
    step.u.step.kind = kind;
    step.u.step.timeline = timeline;
    pgq_strlcpy(step.u.step.detail, detail, sizeof step.u.step.detail);
    log_info("%s %s: done (%s)", policy_action_name(j->act.kind), j->act.node, detail);
    job_end(j, 0, &step, "");
}

/* Right before a statement with an effect: is this still ours to do? */
static bool still_due(struct job *j)
{
    if (j->a->due_cb != NULL && !j->a->due_cb(j->a, &j->act)) {
        job_fail(j, PGQ_STALE, "no longer due: cancelled before acting");
        return false;
    }
    return true;
}

static const char *value(PGresult *r, int col)
{
    return r != NULL && PQntuples(r) > 0 && PQnfields(r) > col && !PQgetisnull(r, 0, col)
               ? PQgetvalue(r, 0, col)
               : NULL;
}

static bool is_true(const char *v)
{
    return v != NULL && v[0] == 't';
}

/* Rewrite a primary_conninfo so that it points at host:port, keeping every
 * other setting (user, passfile, sslmode, application_name...). */
static int retarget(struct job *j, const char *current)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(current[0] != '\0' ? current : "", &err);
    bool has_app = false;
    char *out = j->new_conninfo;
    size_t size = sizeof j->new_conninfo;
    if (opts == NULL) {
        job_fail(j, PGQ_INVALID, "cannot parse primary_conninfo: %s", err != NULL ? err : "?");
        PQfreemem(err);
        return PGQ_INVALID;
    }
    out[0] = '\0';
    pgq_appendf(out, size, "host=%s port=%s", j->target_host, j->target_port);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "host") == 0 ||
            strcmp(o->keyword, "hostaddr") == 0 || strcmp(o->keyword, "port") == 0) {
            continue;
        }
        has_app |= strcmp(o->keyword, "application_name") == 0;
        pgq_appendf(out, size, " %s='", o->keyword);
        for (const char *c = o->val; *c != '\0'; c++) {
            if (*c == '\'' || *c == '\\') {
                pgq_appendf(out, size, "\\");
            }
            pgq_appendf(out, size, "%c", *c);
        }
        pgq_appendf(out, size, "'");
    }
    if (!has_app) {
        pgq_appendf(out, size, " application_name='%s'", j->act.node);
    }
    PQconninfoFree(opts);
    if (strlen(out) + 1 >= size) {
        job_fail(j, PGQ_TOOBIG, "primary_conninfo too long");
        return PGQ_TOOBIG;
    }
    return 0;
}

/* Same settings, whatever the spelling: only then is a reload avoidable. */
static bool same_conninfo(const char *a, const char *b)
{
    PQconninfoOption *x = PQconninfoParse(a, NULL);
    PQconninfoOption *y = PQconninfoParse(b, NULL);
    bool same = x != NULL && y != NULL;
    for (unsigned i = 0; same && x[i].keyword != NULL; i++) {
        const char *u = x[i].val, *v = y[i].val;
        same = (u == NULL && v == NULL) || (u != NULL && v != NULL && strcmp(u, v) == 0);
    }
    PQconninfoFree(x);
    PQconninfoFree(y);
    return same;
}

static void query_cb(struct pgconn *pc, int status, PGresult *res)
{
    struct job *j = pc->data;
    const struct config *cfg = j->a->cfg;
    if (status == PGQ_SHUTDOWN || j->state != JOB_RUNNING) {
        return;
    }
    if (status != 0) {
        job_fail(j, status, "%s", pc->errmsg);
        return;
    }
    switch (j->stage) {
        case ST_P_CHECK:
            if (!is_true(value(res, 0))) {
                j->stage = ST_P_VERIFY; /* promoted already: do not promote twice */
            } else {
                j->stage = ST_P_PROMOTE;
            }
            break;
        case ST_P_PROMOTE:
            if (!is_true(value(res, 0))) {
                job_fail(j, PGQ_TIMEOUT, "pg_promote did not finish within %" PRIu64 " ms",
                         cfg->promote_timeout_ms);
                return;
            }
            j->promoted_here = true;
            j->stage = ST_P_VERIFY;
            break;
        case ST_P_VERIFY: {
            const char *tli = value(res, 1);
            if (is_true(value(res, 0)) || tli == NULL) {
                job_fail(j, PGQ_REFUSED, "still in recovery after promotion");
                return;
            }
            if (FAILPOINT("actuator.after_promote", j->act.node)) {
                job_fail(j, PGQ_INTERNAL, "failpoint actuator.after_promote");
                return;
            }
            step_done(j, PGQ_STEP_PROMOTED, (uint32_t)strtoul(tli, NULL, 10),
                      j->promoted_here ? "pg_promote" : "already out of recovery");
            return;
        }
        case ST_R_READ: {
            const char *current = value(res, 1);
            if (!is_true(value(res, 0))) {
                job_fail(j, PGQ_REFUSED, "%s is not in recovery: it cannot follow %s", j->act.node,
                         j->act.primary);
                return;
            }
            if (retarget(j, current != NULL ? current : "") != 0) {
                return;
            }
            j->changed = !same_conninfo(current != NULL ? current : "", j->new_conninfo);
            j->stage = j->changed ? ST_R_ALTER : ST_R_WAIT;
            break;
        }
        case ST_R_ALTER:
            j->stage = ST_R_RELOAD;
            break;
        case ST_R_RELOAD:
            j->stage = ST_R_WAIT;
            break;
        case ST_R_WAIT: {
            const char *st = value(res, 0), *host = value(res, 1), *port = value(res, 2),
                       *tli = value(res, 3);
            bool ok = st != NULL && strcmp(st, "streaming") == 0 && host != NULL && port != NULL &&
                      strcmp(host, j->target_host) == 0 && strcmp(port, j->target_port) == 0 &&
                      (j->act.timeline == 0 ||
                       (tli != NULL && strtoul(tli, NULL, 10) >= j->act.timeline));
            if (ok) {
                step_done(j, PGQ_STEP_REPOINTED, 0,
                          j->changed ? "primary_conninfo changed" : "already following");
                return;
            }
            if (uv_now(j->a->loop) - j->started > cfg->repoint_timeout_ms) {
                job_fail(j, PGQ_TIMEOUT,
                         "not streaming from %s:%s after %" PRIu64 " ms (walreceiver %s)",
                         j->target_host, j->target_port, cfg->repoint_timeout_ms,
                         st != NULL ? st : "not running");
                return;
            }
            next(j, WAIT_POLL_MS); /* not yet: look again */
            return;
        }
        case ST_F_ALTER:
            j->stage = ST_F_RELOAD;
            break;
        case ST_F_RELOAD:
            j->stage = ST_F_VERIFY;
            break;
        case ST_F_VERIFY:
            if (value(res, 0) == NULL || strcmp(value(res, 0), "on") != 0) {
                if (uv_now(j->a->loop) - j->started > cfg->timeout_ms) {
                    job_fail(j, PGQ_TIMEOUT, "default_transaction_read_only did not turn on");
                    return;
                }
                next(j, WAIT_POLL_MS / 2); /* the reload is asynchronous */
                return;
            }
            j->stage = ST_F_TERMINATE;
            break;
        case ST_F_TERMINATE:
            step_done(j, PGQ_STEP_FENCED, 0, "default_transaction_read_only=on");
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
    next(j, 0);
}

static void query(struct job *j, const char *sql, uint64_t timeout_ms)
{
    if (pgconn_query(&j->pc, sql, timeout_ms, query_cb) != 0) {
        job_fail(j, PGQ_IO, "%s", j->pc.errmsg);
    }
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
    switch (j->act.kind) {
        case ACT_PROMOTE:
            j->stage = ST_P_CHECK;
            break;
        case ACT_REPOINT:
            j->stage = ST_R_READ;
            break;
        default:
            j->stage = ST_F_ALTER;
            break;
    }
    run_stage(j);
}

static void run_stage(struct job *j)
{
    const struct config *cfg = j->a->cfg;
    char sql[PGQ_CONNINFO_MAX * 3];
    if (j->state != JOB_RUNNING) {
        return;
    }
    switch (j->stage) {
        case ST_CONNECT: {
            if (FAILPOINT("actuator.connect", j->act.node)) {
                if (j->unreachable_since == 0) {
                    j->unreachable_since = uv_now(j->a->loop);
                }
                job_fail(j, PGQ_IO, "failpoint actuator.connect: cannot reach %s", j->act.node);
                return;
            }
            const char *keys[12] = {"application_name", "options", "connect_timeout"};
            const char *values[12];
            unsigned n = 0;
            values[n++] = j->a->app_name;
            values[n++] = "-c statement_timeout=0";
            values[n++] = "2";
            n += config_auth_params(cfg, keys + n, values + n, PGQ_ARRAY_SIZE(keys) - 1 - n);
            keys[n] = NULL;
            values[n] = NULL;
            if (pgconn_connect(&j->pc, j->act.conninfo, keys, values, cfg->timeout_ms,
                               connect_cb) != 0) {
                job_fail(j, PGQ_IO, "%s", j->pc.errmsg);
            }
            return;
        }
        case ST_P_CHECK:
            query(j, "SELECT pg_is_in_recovery()", cfg->timeout_ms);
            return;
        case ST_P_PROMOTE:
            /* Invariant 1: promote only the candidate of a committed decision
             * that this monitor, as ready leader, still holds due. */
            if (!still_due(j)) {
                return;
            }
            if (FAILPOINT("actuator.before_promote", j->act.node)) {
                job_fail(j, PGQ_INTERNAL, "failpoint actuator.before_promote");
                return;
            }
            log_info("promote %s: pg_promote (epoch %" PRIu64 ")", j->act.node, j->act.epoch);
            j->acted = true;
            snprintf(sql, sizeof sql, "SELECT pg_promote(true, %" PRIu64 ")",
                     PGQ_MAX(cfg->promote_timeout_ms / 1000, 1));
            query(j, sql, cfg->promote_timeout_ms + 5000);
            return;
        case ST_P_VERIFY:
            query(j,
                  "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE"
                  " ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
                  " END",
                  cfg->timeout_ms);
            return;
        case ST_R_READ:
            query(j, "SELECT pg_is_in_recovery(), current_setting('primary_conninfo')",
                  cfg->timeout_ms);
            return;
        case ST_R_ALTER: {
            char *lit;
            if (!still_due(j)) {
                return;
            }
            lit = PQescapeLiteral(j->pc.conn, j->new_conninfo, strlen(j->new_conninfo));
            if (lit == NULL) {
                job_fail(j, PGQ_NOMEM, "cannot quote primary_conninfo");
                return;
            }
            snprintf(sql, sizeof sql, "ALTER SYSTEM SET primary_conninfo = %s", lit);
            PQfreemem(lit);
            log_info("repoint %s: primary_conninfo -> %s:%s", j->act.node, j->target_host,
                     j->target_port);
            j->acted = true;
            query(j, sql, cfg->timeout_ms);
            return;
        }
        case ST_R_RELOAD:
        case ST_F_RELOAD:
            query(j, "SELECT pg_reload_conf()", cfg->timeout_ms);
            return;
        case ST_R_WAIT:
            query(j,
                  "SELECT status, sender_host, sender_port, received_tli"
                  " FROM pg_stat_wal_receiver",
                  cfg->timeout_ms);
            return;
        case ST_F_ALTER:
            if (!still_due(j)) {
                return;
            }
            log_warn("fence %s: default_transaction_read_only = on", j->act.node);
            j->acted = true;
            query(j, "ALTER SYSTEM SET default_transaction_read_only = on", cfg->timeout_ms);
            return;
        case ST_F_VERIFY:
            query(j, "SELECT current_setting('default_transaction_read_only')", cfg->timeout_ms);
            return;
        case ST_F_TERMINATE:
            query(j,
                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                  cfg->timeout_ms);
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
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
        if (conninfo_parse(j->act.primary_conninfo, &ci, err, sizeof err) != 0) {
            job_fail(j, PGQ_INVALID, "primary %s: %s", j->act.primary, err);
            return;
        }
        pgq_strlcpy(j->target_host, ci.host, sizeof j->target_host);
        pgq_strlcpy(j->target_port, ci.port, sizeof j->target_port);
    }
    log_info("%s %s: starting (cluster %s, epoch %" PRIu64 ")", policy_action_name(j->act.kind),
             j->act.node, j->act.cluster, j->act.epoch);
    run_stage(j);
}

static void job_closed(struct job *j)
{
    struct actuator *a = j->a;
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

void actuator_run(struct actuator *a, const struct action *due, unsigned n)
{
    uint64_t now = uv_now(a->loop);
    if (a->closing) {
        return;
    }
    /* Cancel what is no longer due, unless it has already acted: a fence
     * makes its node read-only, which ends the alert that made it due, yet
     * it must still end the client sessions and commit that it did. */
    for (struct job *j = a->jobs, *next_j; j != NULL; j = next_j) {
        bool found = false;
        next_j = j->next;
        for (unsigned i = 0; i < n && !found; i++) {
            found = policy_action_same(&j->act, &due[i]);
        }
        if (!found && !(j->state == JOB_RUNNING && j->acted)) {
            job_remove(j);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        struct job *j;
        for (j = a->jobs; j != NULL; j = j->next) {
            if (policy_action_same(&j->act, &due[i])) {
                break;
            }
        }
        if (j != NULL) {
            if (j->state == JOB_FINISHED && now >= j->retry_at) {
                job_start(j);
            }
            continue;
        }
        j = calloc(1, sizeof *j);
        if (j == NULL) {
            log_error("actuator: out of memory");
            return;
        }
        j->a = a;
        j->act = due[i];
        if (pgconn_init(&j->pc, a->loop) != 0 || uv_timer_init(a->loop, &j->timer) != 0) {
            free(j);
            log_error("actuator: cannot create handles");
            return;
        }
        j->pc.data = j;
        j->timer.data = j;
        j->next = a->jobs;
        a->jobs = j;
        a->pending++;
        job_start(j);
    }
}

uint64_t actuator_unreachable_ms(const struct actuator *a)
{
    uint64_t now = uv_now(a->loop), worst = 0;
    for (const struct job *j = a->jobs; j != NULL; j = j->next) {
        if (j->unreachable_since != 0 && j->act.kind != ACT_FENCE) {
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
