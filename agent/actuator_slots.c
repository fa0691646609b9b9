/* actuator, replication slots: the statements of the slots action on the
 * primary, and of a repoint's first stages, which make the standby's own
 * slot on the primary before the standby is told to stream with it (see
 * actuator.h for the happy path).
 *
 * slots    pg_is_in_recovery(), max_slot_wal_keep_size -> its pgq_ slots ->
 *          pg_create_physical_replication_slot(name, true) for each node
 *          that lacks one -> pg_drop_replication_slot for each kept for no node
 *          -> Step slots, for the members generation it was computed for.
 *          A slot to drop that a standby still uses (a node removed while it
 *          streams) is looked at again every SLOTS_POLL_MS, and the Step
 *          waits for it.
 * repoint  on the primary: its slot there? made if missing; made again if
 *          lost (the WAL it held is gone: useless to anyone) and unused.
 *
 * Possible failure modes are: the primary in recovery (not promoted yet:
 * retried), a role without the REPLICATION attribute or max_replication_slots
 * reached (the slots action fails, retried every SLOTS_RETRY_MS; a repoint
 * goes on without the slot), a slot made or dropped by another job in the
 * meantime (taken as done). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actuator_internal.h"
#include "lib/util.h"
#include "log.h"

#define SQLSTATE_DUPLICATE "42710" /* the slot exists */
#define SQLSTATE_UNDEFINED "42704" /* no such slot */
#define SQLSTATE_IN_USE "55006"    /* the slot is active */

/* ACT_SLOTS: what the primary should hold, what it holds, and what the job
 * does about it. */
struct slots_work
{
    char (*want)[PGQ_SLOT_NAME_MAX]; /* owned */
    unsigned n_want;
    char (*create)[PGQ_SLOT_NAME_MAX]; /* owned: n_want at most */
    unsigned n_create;
    char (*drop)[PGQ_SLOT_NAME_MAX]; /* owned: as many as the primary's pgq_ slots */
    unsigned n_drop;
    unsigned next;  /* the next to create or drop */
    bool unlimited; /* max_slot_wal_keep_size = -1 */
    bool waited;    /* a slot to drop was in use: said once */
    char busy[PGQ_REASON_MAX];
    char created[PGQ_REASON_MAX];
    char dropped[PGQ_REASON_MAX];
};

bool slots_stage(int stage)
{
    return stage == ST_R_SLOT_CONNECT || stage == ST_R_SLOT_READ || stage == ST_R_SLOT_DROP ||
           stage == ST_R_SLOT_CREATE || stage == ST_S_CHECK || stage == ST_S_READ ||
           stage == ST_S_CREATE || stage == ST_S_DROP;
}

void slots_job_free(struct job *j)
{
    if (j->slots != NULL) {
        free(j->slots->want);
        free(j->slots->create);
        free(j->slots->drop);
        free(j->slots);
        j->slots = NULL;
    }
}

void slots_job_start(struct job *j)
{
    j->slot_ok = false;
    j->slot_changed = false;
    j->slot_want[0] = '\0';
    if (j->act.kind == ACT_REPOINT && j->act.slot[0] != '\0') {
        j->stage = ST_R_SLOT_CONNECT;
        return;
    }
    if (j->act.kind != ACT_SLOTS) {
        return;
    }
    slots_job_free(j);
    j->slots = calloc(1, sizeof *j->slots);
    if (j->slots != NULL && j->a->slots_cb != NULL) {
        unsigned n = j->a->slots_cb(j->a, &j->act, NULL, 0);
        j->slots->want = calloc(n + 1, sizeof *j->slots->want);
        j->slots->create = calloc(n + 1, sizeof *j->slots->create);
        if (j->slots->want != NULL && j->slots->create != NULL) {
            j->slots->n_want = PGQ_MIN(n, j->a->slots_cb(j->a, &j->act, j->slots->want, n));
        }
    }
    if (j->slots == NULL || j->slots->want == NULL || j->slots->create == NULL) {
        slots_job_free(j); /* job_run_stage fails it */
    }
}

static bool sqlstate_is(PGresult *res, const char *state)
{
    const char *v = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return v != NULL && strcmp(v, state) == 0;
}

/* ---- a repoint's slot, on the primary ----------------------------------- */

/* Done on the primary, with the slot or without it: on to the standby. */
static void slot_settled(struct job *j, bool ok, const char *why)
{
    j->slot_ok = ok;
    if (!ok) {
        log_warn("repoint %s: no slot %s on %s (%s): it streams without one for now", j->act.node,
                 j->act.slot, j->act.primary, why);
    }
    pgconn_disconnect(&j->pc);
    j->stage = ST_CONNECT;
    job_next(j, 0);
}

static void slot_connect_cb(struct pgconn *pc, int status)
{
    struct job *j = pc->data;
    if (status == PGQ_SHUTDOWN || j->state != JOB_RUNNING) {
        return;
    }
    if (status != 0) {
        slot_settled(j, false, pc->errmsg);
        return;
    }
    j->stage = ST_R_SLOT_READ;
    job_run_stage(j);
}

static void repoint_slot_cb(struct job *j, int status, PGresult *res)
{
    char why[PGQ_REASON_MAX];
    switch (j->stage) {
        case ST_R_SLOT_READ: {
            const char *type = value(res, 1), *wal = value(res, 2);
            if (status != 0) {
                slot_settled(j, false, j->pc.errmsg);
            } else if (is_true(value(res, 0))) {
                slot_settled(j, false, "it is in recovery");
            } else if (type == NULL) {
                j->stage = ST_R_SLOT_CREATE;
                job_next(j, 0);
            } else if (strcmp(type, "physical") != 0) {
                snprintf(why, sizeof why, "a %s slot has that name", type);
                slot_settled(j, false, why);
            } else if (wal != NULL && strcmp(wal, "lost") == 0 && !is_true(value(res, 3))) {
                /* Lost, its WAL is gone for anyone: the standby about to
                 * use it streams (or is repointed) with what it holds. */
                j->stage = ST_R_SLOT_DROP;
                job_next(j, 0);
            } else {
                slot_settled(j, true, "");
            }
            return;
        }
        case ST_R_SLOT_DROP:
            if (status != 0 && !sqlstate_is(res, SQLSTATE_UNDEFINED)) {
                slot_settled(j, false, j->pc.errmsg);
                return;
            }
            log_info("repoint %s: lost slot %s dropped on %s, to be made again", j->act.node,
                     j->act.slot, j->act.primary);
            j->stage = ST_R_SLOT_CREATE;
            job_next(j, 0);
            return;
        case ST_R_SLOT_CREATE:
            if (status != 0 && !sqlstate_is(res, SQLSTATE_DUPLICATE)) {
                slot_settled(j, false, j->pc.errmsg);
                return;
            }
            if (status == 0) {
                log_info("repoint %s: slot %s made on %s", j->act.node, j->act.slot,
                         j->act.primary);
            }
            slot_settled(j, true, "");
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
}

/* ---- the slots action ---------------------------------------------------- */

static bool wanted(const struct slots_work *w, const char *name)
{
    for (unsigned i = 0; i < w->n_want; i++) {
        if (strcmp(w->want[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* From the primary's pgq_ slots (name, type, active per row): what to make
 * and what to drop. A slot of another type with a pgq_ name is no one's to
 * drop, and keeps its node from having one. */
static int slots_plan(struct job *j, PGresult *res)
{
    struct slots_work *w = j->slots;
    int rows = PQntuples(res);
    free(w->drop);
    w->drop = calloc((size_t)rows + 1, sizeof *w->drop);
    if (w->drop == NULL) {
        return PGQ_NOMEM;
    }
    w->n_create = w->n_drop = w->next = 0;
    w->busy[0] = '\0';
    for (unsigned i = 0; i < w->n_want; i++) {
        bool present = false;
        for (int r = 0; r < rows && !present; r++) {
            present = strcmp(PQgetvalue(res, r, 0), w->want[i]) == 0;
        }
        if (!present) {
            pgq_strlcpy(w->create[w->n_create++], w->want[i], sizeof w->create[0]);
        }
    }
    for (int r = 0; r < rows; r++) {
        const char *name = PQgetvalue(res, r, 0);
        if (wanted(w, name) || strcmp(PQgetvalue(res, r, 1), "physical") != 0) {
            continue;
        }
        if (PQgetvalue(res, r, 2)[0] == 't') {
            pgq_appendf(w->busy, sizeof w->busy, "%s%s", w->busy[0] ? ", " : "", name);
        } else {
            pgq_strlcpy(w->drop[w->n_drop++], name, sizeof w->drop[0]);
        }
    }
    return 0;
}

static void slots_commit(struct job *j)
{
    struct slots_work *w = j->slots;
    struct cmd_step st;
    char detail[PGQ_REASON_MAX] = "";
    if (w->created[0] != '\0') {
        pgq_appendf(detail, sizeof detail, "made %s", w->created);
    }
    if (w->dropped[0] != '\0') {
        pgq_appendf(detail, sizeof detail, "%sdropped %s (kept for no node)", detail[0] ? "; " : "",
                    w->dropped);
    }
    if (w->created[0] != '\0' && w->unlimited) {
        pgq_appendf(detail, sizeof detail,
                    "; max_slot_wal_keep_size is -1: a node that stays down keeps WAL on the "
                    "primary without limit");
    }
    memset(&st, 0, sizeof st);
    st.kind = PGQ_STEP_SLOTS;
    st.round = j->act.round;
    step_commit(j, &st, detail);
}

/* Every slot made and every one kept for no node dropped, but for those in use:
 * done, or looked at again in a while. */
static void slots_next(struct job *j)
{
    struct slots_work *w = j->slots;
    if (w->busy[0] == '\0') {
        slots_commit(j);
        return;
    }
    if (!w->waited) {
        w->waited = true;
        log_warn(
            "slots %s: %s, kept for no node, still in use by a standby: dropped once "
            "it is not",
            j->act.node, w->busy);
    }
    j->stage = ST_S_READ;
    job_next(j, SLOTS_POLL_MS);
}

static void slots_action_cb(struct job *j, int status, PGresult *res)
{
    struct slots_work *w = j->slots;
    switch (j->stage) {
        case ST_S_CHECK:
            if (status != 0) {
                job_fail(j, status, "%s", j->pc.errmsg);
                return;
            }
            if (is_true(value(res, 0))) {
                job_fail(j, PGQ_REFUSED, "%s is in recovery: not the primary (yet)", j->act.node);
                return;
            }
            w->unlimited = value(res, 1) != NULL && strcmp(value(res, 1), "-1") == 0;
            j->stage = ST_S_READ;
            break;
        case ST_S_READ:
            if (status != 0) {
                job_fail(j, status, "%s", j->pc.errmsg);
                return;
            }
            if (slots_plan(j, res) != 0) {
                job_fail(j, PGQ_NOMEM, "out of memory");
                return;
            }
            if (w->n_create == 0 && w->n_drop == 0) {
                slots_next(j);
                return;
            }
            j->stage = w->n_create > 0 ? ST_S_CREATE : ST_S_DROP;
            break;
        case ST_S_CREATE:
            /* Made meanwhile by a repoint: as good. Any other refusal (no
             * REPLICATION attribute, max_replication_slots) is retried. */
            if (status != 0 && !sqlstate_is(res, SQLSTATE_DUPLICATE)) {
                job_fail(j, status, "slot %s: %s", w->create[w->next], j->pc.errmsg);
                return;
            }
            if (status == 0) {
                pgq_appendf(w->created, sizeof w->created, "%s%s", w->created[0] ? ", " : "",
                            w->create[w->next]);
            }
            if (++w->next < w->n_create) {
                break;
            }
            w->next = 0;
            if (w->n_drop == 0) {
                slots_next(j);
                return;
            }
            j->stage = ST_S_DROP;
            break;
        case ST_S_DROP:
            if (status != 0 && sqlstate_is(res, SQLSTATE_IN_USE)) {
                pgq_appendf(w->busy, sizeof w->busy, "%s%s", w->busy[0] ? ", " : "",
                            w->drop[w->next]);
            } else if (status != 0 && !sqlstate_is(res, SQLSTATE_UNDEFINED)) {
                job_fail(j, status, "slot %s: %s", w->drop[w->next], j->pc.errmsg);
                return;
            } else if (status == 0) {
                pgq_appendf(w->dropped, sizeof w->dropped, "%s%s", w->dropped[0] ? ", " : "",
                            w->drop[w->next]);
            }
            if (++w->next < w->n_drop) {
                break;
            }
            slots_next(j);
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
    job_next(j, 0);
}

void slots_query_cb(struct job *j, int status, PGresult *res)
{
    if (j->act.kind == ACT_REPOINT) {
        repoint_slot_cb(j, status, res);
    } else {
        slots_action_cb(j, status, res);
    }
}

/* ---- the statements ------------------------------------------------------ */

/* A statement naming one slot, quoted: head, the name, tail. */
static void query_slot(struct job *j, const char *head, const char *slot, const char *tail)
{
    char sql[512];
    char *lit = PQescapeLiteral(j->pc.conn, slot, strlen(slot));
    if (lit == NULL) {
        job_fail(j, PGQ_NOMEM, "cannot quote slot name %s", slot);
        return;
    }
    snprintf(sql, sizeof sql, "%s%s%s", head, lit, tail);
    PQfreemem(lit);
    job_query(j, sql, j->a->cfg->timeout_ms);
}

void slots_run_stage(struct job *j)
{
    struct slots_work *w = j->slots;
    switch (j->stage) {
        case ST_R_SLOT_CONNECT:
            if (job_connect_to(j, j->act.primary_conninfo, slot_connect_cb) != 0) {
                slot_settled(j, false, j->pc.errmsg);
            }
            return;
        case ST_R_SLOT_READ:
            query_slot(j,
                       "SELECT pg_is_in_recovery(), s.slot_type, s.wal_status, s.active"
                       " FROM (SELECT 1) one LEFT JOIN pg_replication_slots s"
                       " ON s.slot_name = ",
                       j->act.slot, "");
            return;
        case ST_R_SLOT_DROP:
            if (still_due(j)) {
                query_slot(j, "SELECT pg_drop_replication_slot(", j->act.slot, ")");
            }
            return;
        case ST_R_SLOT_CREATE:
            if (still_due(j)) {
                query_slot(j, "SELECT pg_create_physical_replication_slot(", j->act.slot,
                           ", true)");
            }
            return;
        case ST_S_CHECK:
            if (w == NULL) {
                /* Out of memory, or no owner to ask: never "no slot to keep",
                 * which would drop them all. */
                job_fail(j, PGQ_INTERNAL, "cannot list the slots to keep");
                return;
            }
            job_query(j, "SELECT pg_is_in_recovery(), current_setting('max_slot_wal_keep_size')",
                      j->a->cfg->timeout_ms);
            return;
        case ST_S_READ:
            job_query(j,
                      "SELECT slot_name, slot_type, active FROM pg_replication_slots"
                      " WHERE left(slot_name::text, 4) = 'pgq_' ORDER BY slot_name",
                      j->a->cfg->timeout_ms);
            return;
        case ST_S_CREATE:
            /* Immediately reserved: WAL is kept from now on, not from the
             * standby's first connection. */
            if (still_due(j)) {
                log_info("slots %s: making %s", j->act.node, w->create[w->next]);
                query_slot(j, "SELECT pg_create_physical_replication_slot(", w->create[w->next],
                           ", true)");
            }
            return;
        case ST_S_DROP:
            if (still_due(j)) {
                log_info("slots %s: dropping %s (kept for no node)", j->act.node, w->drop[w->next]);
                query_slot(j, "SELECT pg_drop_replication_slot(", w->drop[w->next], ")");
            }
            return;
        default:
            job_fail(j, PGQ_INTERNAL, "bad stage %d", j->stage);
            return;
    }
}
