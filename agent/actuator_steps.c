/* actuator, the steps: the SQL each action sends, stage by stage, and what
 * it concludes from the answers (see actuator.h for the happy path and the
 * failure modes). The jobs that run them are in actuator.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator_internal.h"
#include "conninfo.h"
#include "failpoint.h"
#include "lib/util.h"
#include "log.h"
#include "pgsql.h"

/* Rewrite a primary_conninfo so that it points at target_host:target_port,
 * keeping every other setting (user, passfile, sslmode, application_name...):
 * no replication secret ever passes through the monitors, and none is lost
 * (a cut keeps them for the repoint). */
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

/* The host of a conninfo ("" when none, or it does not parse). */
static void conninfo_host(const char *conninfo, char *host, size_t size)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    host[0] = '\0';
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0 && o->val != NULL) {
            pgq_strlcpy(host, o->val, size);
        }
    }
    PQconninfoFree(opts);
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

static uint64_t lsn_of(const char *v)
{
    uint64_t lsn = 0;
    if (v != NULL && pgq_lsn_parse(v, &lsn) != 0) {
        lsn = 0;
    }
    return lsn;
}

/* A standby that cannot follow the primary of the epoch, by its own WAL:
 * the timeline it is on (tli, a lower bound), how far it replayed, and the
 * new primary's history (it forked off parent_tli at fork). Writes why to
 * why; false when it can follow, or the history is unknown. */
static bool diverged(const struct action *a,
                     bool in_recovery,
                     uint32_t tli,
                     uint64_t replay,
                     char *why,
                     size_t size)
{
    char l1[32], l2[32];
    if (!in_recovery) {
        snprintf(why, size, "it is out of recovery (writable): it cannot follow %s", a->primary);
        return true;
    }
    if (a->parent_tli == 0 || a->timeline == 0) {
        return false;
    }
    pgq_lsn_format(replay, l1, sizeof l1);
    pgq_lsn_format(a->lsn, l2, sizeof l2);
    if (tli == a->parent_tli && replay > a->lsn) {
        snprintf(why, size,
                 "it replayed timeline %u up to %s, past where %s's timeline %u forked off it at "
                 "%s; it cannot follow without pg_rewind",
                 tli, l1, a->primary, a->timeline, l2);
        return true;
    }
    if (tli > a->parent_tli && tli != a->timeline) {
        snprintf(why, size,
                 "it is on timeline %u, which is not in the history of %s (timeline %u, forked "
                 "off %u); it cannot follow without pg_rewind",
                 tli, a->primary, a->timeline, a->parent_tli);
        return true;
    }
    return false;
}

static void diverged_done(struct job *j, uint32_t tli, uint64_t replay, const char *why)
{
    struct cmd_step st;
    memset(&st, 0, sizeof st);
    st.kind = PGQ_STEP_DIVERGED;
    st.timeline = tli;
    st.lsn = replay;
    step_commit(j, &st, why);
}

/* The history file of timeline tli says where it forked: "parent\tX/Y\t..."
 * on its last line. */
static bool parse_history(const char *text, uint32_t *parent, uint64_t *fork)
{
    const char *line = NULL;
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        if (*p >= '0' && *p <= '9') {
            line = p;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    if (line != NULL) {
        char lsn[32];
        unsigned long tli;
        if (sscanf(line, "%lu %31s", &tli, lsn) == 2 && tli > 0 && tli < UINT32_MAX &&
            pgq_lsn_parse(lsn, fork) == 0) {
            *parent = (uint32_t)tli;
            return true;
        }
    }
    return false;
}

static void promoted_done(struct job *j, uint32_t parent, uint64_t fork, const char *how)
{
    struct cmd_step st;
    char detail[PGQ_REASON_MAX];
    memset(&st, 0, sizeof st);
    st.kind = PGQ_STEP_PROMOTED;
    st.timeline = j->new_tli;
    st.parent_tli = parent;
    st.lsn = fork;
    snprintf(detail, sizeof detail, "%s; %s",
             j->promoted_here ? "pg_promote" : "already out of recovery", how);
    j->promote_failures = 0;
    j->giving_up = false;
    step_commit(j, &st, detail);
}

/* pg_promote failed on a candidate that answers: once too often, or once
 * it took promote_timeout, the candidate is given up. A promotion refused
 * for want of a privilege never started; one that did not finish in time
 * may still finish, so the candidate is first made read-only, lest it
 * become a second writable primary later. */
static void promote_failed(struct job *j, int status, PGresult *res, const char *what)
{
    const struct config *cfg = j->a->cfg;
    uint64_t now = uv_now(j->a->loop);
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool never_started = status == PGQ_REFUSED && state != NULL &&
                         (strcmp(state, "42501") == 0 || strcmp(state, "42883") == 0);
    struct cmd_step st;
    if (j->promote_failures++ == 0) {
        j->first_promote_ms = j->started;
    }
    pgq_strlcpy(j->promote_error, what, sizeof j->promote_error);
    if (j->promote_failures < PROMOTE_ATTEMPTS &&
        now - j->first_promote_ms < cfg->promote_timeout_ms) {
        job_fail(j, status != 0 ? status : PGQ_TIMEOUT, "attempt %u of %u: %s", j->promote_failures,
                 PROMOTE_ATTEMPTS, what);
        return;
    }
    if (!never_started && j->pc.state == PGCONN_READY) {
        /* Through the check first: a promotion that finished meanwhile is
         * committed as a promotion, not given up. */
        j->giving_up = true;
        j->stage = ST_P_CHECK;
        job_next(j, 0);
        return;
    }
    if (!never_started) {
        j->giving_up = true; /* made read-only once reached again */
        job_fail(j, status, "%s; giving it up once it is made read-only", what);
        return;
    }
    memset(&st, 0, sizeof st);
    st.kind = PGQ_STEP_GAVE_UP;
    {
        char detail[PGQ_REASON_MAX];
        snprintf(detail, sizeof detail, "%u attempts failed, the last: %s", j->promote_failures,
                 what);
        step_commit(j, &st, detail);
    }
}

/* The primary_slot_name a repoint leaves: the standby's slot when it is on
 * the primary; else none of ours (a pgq_ slot the new primary may not
 * have would keep the standby from streaming), and the operator's own
 * slot stays. */
static void want_slot(struct job *j, const char *current)
{
    if (j->slot_ok) {
        pgq_strlcpy(j->slot_want, j->act.slot, sizeof j->slot_want);
    } else if (strncmp(current, "pgq_", 4) == 0) {
        j->slot_want[0] = '\0';
    } else {
        pgq_strlcpy(j->slot_want, current, sizeof j->slot_want);
    }
    j->slot_changed = strcmp(j->slot_want, current) != 0;
    j->slot_refused = false;
}

static void query_cb(struct pgconn *pc, int status, PGresult *res)
{
    struct job *j = pc->data;
    const struct config *cfg = j->a->cfg;
    char why[PGQ_REASON_MAX];
    if (status == PGQ_SHUTDOWN || j->state != JOB_RUNNING) {
        return;
    }
    if (slots_stage(j->stage)) {
        slots_query_cb(j, status, res);
        return;
    }
    if (status != 0 && j->stage == ST_P_PROMOTE) {
        promote_failed(j, status, res, pc->errmsg);
        return;
    }
    if (status == PGQ_REFUSED && j->stage == ST_P_HISTORY && res != NULL &&
        PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL &&
        (strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501") == 0 ||
         strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "58P01") == 0)) {
        /* No right to read it (or no such file): where the candidate was
         * cut is where it forked, to within a record cut in the middle. */
        promoted_done(j, j->act.parent_tli, j->act.lsn, "fork point from its cut position");
        return;
    }
    if (status == PGQ_REFUSED && j->stage == ST_R_SLOT_SET && res != NULL &&
        PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL &&
        strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42501") == 0) {
        /* Not allowed (a role its probe took for a superuser, no longer
         * one): the repoint goes on with primary_slot_name as it is. */
        log_warn("repoint %s: primary_slot_name left as it is: %s", j->act.node, pc->errmsg);
        j->slot_refused = true;
        j->stage = j->changed ? ST_R_RELOAD : ST_R_WAIT;
        job_next(j, 0);
        return;
    }
    if (status != 0) {
        job_fail(j, status, "%s", pc->errmsg);
        return;
    }
    switch (j->stage) {
        case ST_PRIVILEGES:
            j->waldir = is_true(value(res, 0));
            switch (j->act.kind) {
                case ACT_PROMOTE:
                    j->stage = ST_P_CHECK;
                    break;
                case ACT_REPOINT:
                    j->stage = ST_R_READ;
                    break;
                case ACT_FENCE:
                    j->stage = ST_F_ALTER;
                    break;
                case ACT_CUT:
                    j->stage = ST_C_READ;
                    break;
                case ACT_SLOTS:
                    j->stage = ST_S_CHECK;
                    break;
                case ACT_SYNC:
                    j->stage = ST_Y_READ;
                    break;
                default:
                    job_fail(j, PGQ_INTERNAL, "unknown action %d", j->act.kind);
                    return;
            }
            break;
        case ST_P_CHECK:
            /* Managed synchronous replication: the candidate runs the set
             * committed for its epoch before its first write. */
            j->sync_differs =
                j->act.sync_managed &&
                (value(res, 2) == NULL || strcmp(value(res, 2), j->act.sync_setting) != 0);
            if (!is_true(value(res, 0))) {
                j->stage = ST_P_VERIFY; /* promoted already: do not promote twice */
            } else if (j->giving_up) {
                j->stage = ST_P_GIVE_UP;
            } else if (value(res, 1) != NULL && strcmp(value(res, 1), "on") == 0) {
                j->stage = ST_P_UNFENCE; /* fenced once: a primary must be writable */
            } else {
                j->stage = j->sync_differs ? ST_P_SYNC : ST_P_PROMOTE;
            }
            break;
        case ST_P_UNFENCE:
            j->stage = ST_P_UNFENCE_RELOAD;
            break;
        case ST_P_UNFENCE_RELOAD:
            j->stage = j->sync_differs ? ST_P_SYNC : ST_P_PROMOTE;
            break;
        case ST_P_SYNC:
            j->stage = ST_P_SYNC_RELOAD;
            break;
        case ST_P_SYNC_RELOAD:
            j->stage = ST_P_SYNC_VERIFY;
            break;
        case ST_P_SYNC_VERIFY:
            /* The reload has reached the server's processes, and the
             * startup process has had the time to handle it, before the
             * promotion is asked for: measured, a pg_promote sent within
             * about 10 ms of the reload was acted on only after a whole
             * wal_retrieve_retry_interval, one time in two; 100 ms later,
             * never. */
            if (value(res, 0) == NULL || strcmp(value(res, 0), j->act.sync_setting) != 0) {
                if (uv_now(j->a->loop) - j->started > cfg->timeout_ms) {
                    job_fail(j, PGQ_TIMEOUT, "synchronous_standby_names did not change");
                    return;
                }
                job_next(j, WAIT_POLL_MS / 10);
                return;
            }
            j->stage = ST_P_PROMOTE;
            job_next(j, WAIT_POLL_MS);
            return;
        case ST_P_PROMOTE:
            if (!is_true(value(res, 0))) {
                snprintf(why, sizeof why, "pg_promote did not finish within %" PRIu64 " ms",
                         cfg->promote_timeout_ms);
                promote_failed(j, 0, NULL, why);
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
            j->new_tli = (uint32_t)strtoul(tli, NULL, 10);
            j->stage = ST_P_HISTORY;
            break;
        }
        case ST_P_HISTORY: {
            uint32_t parent = 0;
            uint64_t fork = 0;
            if (value(res, 0) != NULL && parse_history(value(res, 0), &parent, &fork)) {
                promoted_done(j, parent, fork, "fork point from its history file");
            } else {
                promoted_done(j, j->act.parent_tli, j->act.lsn, "fork point from its cut position");
            }
            return;
        }
        case ST_P_GIVE_UP:
            j->stage = ST_P_GIVE_UP_RELOAD;
            break;
        case ST_P_GIVE_UP_RELOAD: {
            struct cmd_step st;
            memset(&st, 0, sizeof st);
            st.kind = PGQ_STEP_GAVE_UP;
            snprintf(why, sizeof why,
                     "%u attempts failed, the last: %s; made read-only, should its promotion "
                     "still complete",
                     j->promote_failures, j->promote_error);
            step_commit(j, &st, why);
            return;
        }
        case ST_R_READ: {
            const char *current = value(res, 1);
            bool in_recovery = is_true(value(res, 0));
            uint32_t tli = (uint32_t)strtoul(value(res, 3) != NULL ? value(res, 3) : "0", NULL, 10);
            uint64_t replay = lsn_of(value(res, 2));
            if (diverged(&j->act, in_recovery, tli, replay, why, sizeof why)) {
                diverged_done(j, tli, replay, why);
                return;
            }
            if (retarget(j, current != NULL ? current : "") != 0) {
                return;
            }
            j->changed = !same_conninfo(current != NULL ? current : "", j->new_conninfo);
            want_slot(j, value(res, 4) != NULL ? value(res, 4) : "");
            j->stage = j->changed ? ST_R_ALTER : j->slot_changed ? ST_R_SLOT_SET : ST_R_WAIT;
            break;
        }
        case ST_R_ALTER:
            j->stage = j->slot_changed ? ST_R_SLOT_SET : ST_R_RELOAD;
            break;
        case ST_R_SLOT_SET:
            j->stage = ST_R_RELOAD;
            break;
        case ST_R_RELOAD:
            j->stage = ST_R_WAIT;
            break;
        case ST_R_WAIT: {
            const char *st = value(res, 0), *host = value(res, 1), *port = value(res, 2),
                       *rtli = value(res, 3), *slot = value(res, 6);
            uint32_t tli = (uint32_t)strtoul(value(res, 5) != NULL ? value(res, 5) : "0", NULL, 10);
            uint64_t replay = lsn_of(value(res, 4));
            /* A standby past the fork point shows a walreceiver now and then
             * ("streaming" on the old timeline) that never gets anywhere: by
             * its own WAL it cannot follow. */
            bool ok = st != NULL && strcmp(st, "streaming") == 0 && host != NULL && port != NULL &&
                      strcmp(host, j->target_host) == 0 && strcmp(port, j->target_port) == 0 &&
                      (j->act.timeline == 0 ||
                       (rtli != NULL && strtoul(rtli, NULL, 10) >= j->act.timeline)) &&
                      (j->slot_refused || strcmp(slot != NULL ? slot : "", j->slot_want) == 0);
            if (ok) {
                snprintf(why, sizeof why, "%s%s%s%s",
                         j->changed        ? "primary_conninfo changed"
                         : j->slot_changed ? "primary_slot_name changed"
                                           : "already following",
                         j->slot_want[0] != '\0' && !j->slot_refused ? ", with slot " : "",
                         j->slot_refused ? "" : j->slot_want,
                         j->slot_refused ? ", primary_slot_name not changed (permission denied)"
                         : j->act.slot[0] != '\0' && !j->slot_ok ? ", without its slot for now"
                                                                 : "");
                step_done(j, PGQ_STEP_REPOINTED, 0, why);
                return;
            }
            if (diverged(&j->act, true, tli, replay, why, sizeof why)) {
                diverged_done(j, tli, replay, why);
                return;
            }
            if (uv_now(j->a->loop) - j->started > cfg->repoint_timeout_ms) {
                snprintf(why, sizeof why,
                         "not streaming from %s:%s after %" PRIu64 " ms (walreceiver %s)",
                         j->target_host, j->target_port, cfg->repoint_timeout_ms,
                         st != NULL ? st : "not running");
                if (!j->stuck_sent) {
                    /* Once committed, the failover completes without it; it
                     * is still repointed (the action stays due, and this job
                     * starts again). */
                    j->stuck_sent = true;
                    step_done(j, PGQ_STEP_STUCK, 0, why);
                    return;
                }
                job_fail(j, PGQ_TIMEOUT, "%s", why);
                return;
            }
            job_next(j, WAIT_POLL_MS); /* not yet: look again */
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
                job_next(j, WAIT_POLL_MS / 2); /* the reload is asynchronous */
                return;
            }
            j->stage = ST_F_TERMINATE;
            break;
        case ST_F_TERMINATE:
            step_done(j, PGQ_STEP_FENCED, 0, "default_transaction_read_only=on");
            return;
        case ST_C_READ: {
            const char *current = value(res, 1) != NULL ? value(res, 1) : "";
            char host[PGQ_ADDR_MAX];
            if (!is_true(value(res, 0))) {
                job_fail(j, PGQ_REFUSED, "%s is not in recovery: nothing to cut", j->act.node);
                return;
            }
            j->cut_tli = (uint32_t)strtoul(value(res, 3) != NULL ? value(res, 3) : "0", NULL, 10);
            j->cut_upstream_lsn = lsn_of(value(res, 2));
            j->cut_polls = 0;
            conninfo_host(current, host, sizeof host);
            j->cut_changed = strcmp(host, PGQ_CUT_HOST) != 0;
            if (j->cut_changed) {
                pgq_strlcpy(j->target_host, PGQ_CUT_HOST, sizeof j->target_host);
                pgq_strlcpy(j->target_port, "5432", sizeof j->target_port);
                if (retarget(j, current) != 0) {
                    return;
                }
            }
            j->stage = j->cut_changed ? ST_C_ALTER : ST_C_WAIT;
            break;
        }
        case ST_C_ALTER:
            j->stage = ST_C_RELOAD;
            break;
        case ST_C_RELOAD:
            j->stage = ST_C_WAIT;
            break;
        case ST_C_WAIT: {
            const char *receivers = value(res, 0);
            uint64_t receive = lsn_of(value(res, 1)), replay = lsn_of(value(res, 2));
            bool stopped = receivers != NULL && strcmp(receivers, "0") == 0;
            /* No walreceiver on two polls in a row: the one that followed
             * the old primary is gone, and what it flushed is frozen. */
            j->cut_polls = stopped ? j->cut_polls + 1 : 0;
            if (j->cut_polls < 2) {
                if (uv_now(j->a->loop) - j->started > cfg->timeout_ms) {
                    job_fail(j, PGQ_TIMEOUT, "the walreceiver did not stop within %" PRIu64 " ms",
                             cfg->timeout_ms);
                    return;
                }
                job_next(j, CUT_POLL_MS);
                return;
            }
            {
                /* Its position is what it received and flushed (what it may
                 * have acknowledged, and what it replays before a
                 * promotion), not its replay position, which a stalled
                 * replay (a conflict, recovery_min_apply_delay) holds back:
                 * of two standbys, the one that received further holds
                 * every complete record the other holds. */
                struct cmd_step st;
                memset(&st, 0, sizeof st);
                st.kind = PGQ_STEP_CUT;
                st.round = j->act.round;
                st.timeline = j->cut_tli;
                st.upstream_lsn = j->cut_upstream_lsn;
                st.lsn = PGQ_MAX(receive, replay);
                step_commit(
                    j, &st,
                    j->cut_changed ? "primary_conninfo pointed nowhere" : "it was cut off already");
            }
            return;
        }
        case ST_Y_READ:
            if (is_true(value(res, 0))) {
                job_fail(j, PGQ_REFUSED, "%s is in recovery: not a primary", j->act.node);
                return;
            }
            if (value(res, 1) != NULL && strcmp(value(res, 1), j->act.sync_setting) == 0) {
                job_succeed(j, "synchronous_standby_names is the committed set's already");
                return;
            }
            j->stage = ST_Y_ALTER;
            break;
        case ST_Y_ALTER:
            j->stage = ST_Y_RELOAD;
            break;
        case ST_Y_RELOAD:
            j->stage = ST_Y_VERIFY;
            break;
        case ST_Y_VERIFY:
            if (value(res, 0) == NULL || strcmp(value(res, 0), j->act.sync_setting) != 0) {
                if (uv_now(j->a->loop) - j->started > cfg->timeout_ms) {
                    job_fail(j, PGQ_TIMEOUT, "synchronous_standby_names did not change");
                    return;
                }
                job_next(j, WAIT_POLL_MS / 2); /* the reload is asynchronous */
                return;
            }
            job_succeed(j, "synchronous_standby_names changed and reloaded");
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
    job_next(j, 0);
}

/* ALTER SYSTEM SET synchronous_standby_names to the action's setting. */
static void alter_sync(struct job *j, char *sql, size_t size)
{
    char *lit = PQescapeLiteral(j->pc.conn, j->act.sync_setting, strlen(j->act.sync_setting));
    if (lit == NULL) {
        job_fail(j, PGQ_NOMEM, "cannot quote synchronous_standby_names");
        return;
    }
    snprintf(sql, size, "ALTER SYSTEM SET synchronous_standby_names = %s", lit);
    PQfreemem(lit);
    log_info("%s %s: synchronous_standby_names = '%s' (set %" PRIu64 ", epoch %" PRIu64 ")",
             policy_action_name(j->act.kind), j->act.node, j->act.sync_setting, j->act.round,
             j->act.epoch);
    j->acted = true;
    job_query(j, sql, j->a->cfg->timeout_ms);
}

void job_query(struct job *j, const char *sql, uint64_t timeout_ms)
{
    if (pgconn_query(&j->pc, sql, timeout_ms, query_cb) != 0) {
        job_fail(j, PGQ_IO, "%s", j->pc.errmsg);
    }
}

void job_run_stage(struct job *j)
{
    const struct config *cfg = j->a->cfg;
    char sql[PGQ_CONNINFO_MAX * 3];
    if (j->state != JOB_RUNNING) {
        return;
    }
    if (slots_stage(j->stage)) {
        slots_run_stage(j);
        return;
    }
    switch (j->stage) {
        case ST_CONNECT:
            job_connect(j);
            return;
        case ST_PRIVILEGES:
            job_query(j, PGQ_SQL_HAS_WALDIR, cfg->timeout_ms);
            return;
        case ST_P_CHECK:
            job_query(
                j,
                "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'),"
                " current_setting('synchronous_standby_names')",
                cfg->timeout_ms);
            return;
        case ST_P_SYNC:
            if (!still_due(j)) {
                return;
            }
            alter_sync(j, sql, sizeof sql);
            return;
        case ST_Y_READ:
            job_query(j, "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')",
                      cfg->timeout_ms);
            return;
        case ST_Y_ALTER:
            /* Committed before it is written: this is the set of the state
             * this monitor leads, still due. */
            if (!still_due(j)) {
                return;
            }
            alter_sync(j, sql, sizeof sql);
            return;
        case ST_Y_VERIFY:
        case ST_P_SYNC_VERIFY:
            job_query(j, "SELECT current_setting('synchronous_standby_names')", cfg->timeout_ms);
            return;
        case ST_P_UNFENCE:
            if (!still_due(j)) {
                return;
            }
            log_info("promote %s: default_transaction_read_only reset before promoting",
                     j->act.node);
            job_query(j, "ALTER SYSTEM RESET default_transaction_read_only", cfg->timeout_ms);
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
            job_query(j, sql, cfg->promote_timeout_ms + 5000);
            return;
        case ST_P_VERIFY:
            job_query(j,
                      "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL "
                      "ELSE " PGQ_SQL_PRIMARY_TLI " END",
                      cfg->timeout_ms);
            return;
        case ST_P_HISTORY:
            snprintf(sql, sizeof sql, "SELECT pg_read_file('pg_wal/%08X.history')",
                     (unsigned)j->new_tli);
            job_query(j, sql, cfg->timeout_ms);
            return;
        case ST_P_GIVE_UP:
            if (!still_due(j)) {
                return;
            }
            log_warn("promote %s: giving it up; default_transaction_read_only = on first",
                     j->act.node);
            job_query(j, "ALTER SYSTEM SET default_transaction_read_only = on", cfg->timeout_ms);
            return;
        case ST_R_READ:
            job_query(j,
                      j->waldir ? "SELECT pg_is_in_recovery(), current_setting('primary_conninfo'),"
                                  " pg_last_wal_replay_lsn(), CASE WHEN pg_is_in_recovery() "
                                  "THEN " PGQ_SQL_STANDBY_TLI_WALDIR
                                  " END, current_setting('primary_slot_name')"
                                : "SELECT pg_is_in_recovery(), current_setting('primary_conninfo'),"
                                  " pg_last_wal_replay_lsn(), CASE WHEN pg_is_in_recovery() "
                                  "THEN " PGQ_SQL_STANDBY_TLI
                                  " END, current_setting('primary_slot_name')",
                      cfg->timeout_ms);
            return;
        case ST_R_SLOT_SET:
            /* Before the one reload of the repoint: the walreceiver starts
             * again once, with both settings. */
            {
                char *lit;
                if (!still_due(j)) {
                    return;
                }
                lit = PQescapeLiteral(j->pc.conn, j->slot_want, strlen(j->slot_want));
                if (lit == NULL) {
                    job_fail(j, PGQ_NOMEM, "cannot quote primary_slot_name");
                    return;
                }
                snprintf(sql, sizeof sql, "ALTER SYSTEM SET primary_slot_name = %s", lit);
                PQfreemem(lit);
            }
            log_info("repoint %s: primary_slot_name -> '%s'", j->act.node, j->slot_want);
            j->acted = true;
            job_query(j, sql, cfg->timeout_ms);
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
            job_query(j, sql, cfg->timeout_ms);
            return;
        }
        case ST_P_UNFENCE_RELOAD:
        case ST_P_SYNC_RELOAD:
        case ST_Y_RELOAD:
        case ST_P_GIVE_UP_RELOAD:
        case ST_R_RELOAD:
        case ST_F_RELOAD:
        case ST_C_RELOAD:
            job_query(j, "SELECT pg_reload_conf()", cfg->timeout_ms);
            return;
        case ST_R_WAIT:
            job_query(j,
                      j->waldir ? "SELECT w.status, w.sender_host, w.sender_port, w.received_tli,"
                                  " pg_last_wal_replay_lsn(), " PGQ_SQL_STANDBY_TLI_WALDIR
                                  ", w.slot_name"
                                  " FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true"
                                : "SELECT w.status, w.sender_host, w.sender_port, w.received_tli,"
                                  " pg_last_wal_replay_lsn(), " PGQ_SQL_STANDBY_TLI
                                  ", w.slot_name"
                                  " FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true",
                      cfg->timeout_ms);
            return;
        case ST_F_ALTER:
            if (!still_due(j)) {
                return;
            }
            log_warn("fence %s: default_transaction_read_only = on", j->act.node);
            j->acted = true;
            job_query(j, "ALTER SYSTEM SET default_transaction_read_only = on", cfg->timeout_ms);
            return;
        case ST_F_VERIFY:
            job_query(j, "SELECT current_setting('default_transaction_read_only')",
                      cfg->timeout_ms);
            return;
        case ST_F_TERMINATE:
            /* A role that is not a superuser (pg_signal_backend) may not
             * end a superuser's session: asking would fail the fence. */
            job_query(j,
                      "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a"
                      " WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
                      " AND (current_setting('is_superuser') = 'on' OR NOT EXISTS"
                      " (SELECT 1 FROM pg_roles r WHERE r.oid = a.usesysid AND r.rolsuper))",
                      cfg->timeout_ms);
            return;
        case ST_C_READ:
            job_query(j,
                      j->waldir ? "SELECT pg_is_in_recovery(), current_setting('primary_conninfo'),"
                                  " (SELECT latest_end_lsn FROM pg_stat_wal_receiver),"
                                  " CASE WHEN pg_is_in_recovery() THEN " PGQ_SQL_STANDBY_TLI_WALDIR
                                  " END"
                                : "SELECT pg_is_in_recovery(), current_setting('primary_conninfo'),"
                                  " (SELECT latest_end_lsn FROM pg_stat_wal_receiver),"
                                  " CASE WHEN pg_is_in_recovery() THEN " PGQ_SQL_STANDBY_TLI " END",
                      cfg->timeout_ms);
            return;
        case ST_C_ALTER:
            /* Cut before promote: from here on this standby acknowledges
             * nothing more of the old primary. */
            if (!still_due(j)) {
                return;
            }
            {
                char *lit = PQescapeLiteral(j->pc.conn, j->new_conninfo, strlen(j->new_conninfo));
                if (lit == NULL) {
                    job_fail(j, PGQ_NOMEM, "cannot quote primary_conninfo");
                    return;
                }
                snprintf(sql, sizeof sql, "ALTER SYSTEM SET primary_conninfo = %s", lit);
                PQfreemem(lit);
            }
            log_info("cut %s: primary_conninfo -> %s (stop following %s)", j->act.node,
                     PGQ_CUT_HOST, j->act.primary);
            j->acted = true;
            job_query(j, sql, cfg->timeout_ms);
            return;
        case ST_C_WAIT:
            job_query(
                j,
                "SELECT (SELECT count(*) FROM pg_stat_wal_receiver), pg_last_wal_receive_lsn(),"
                " pg_last_wal_replay_lsn()",
                cfg->timeout_ms);
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
}
