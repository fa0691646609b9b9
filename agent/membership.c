/* membership: the leader's one online change of the Raft voters at a time
 * (see membership.h). No libraft here: consensus.c makes the calls. */
#include "membership.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"

void membership_init(struct membership *m, struct consensus *c)
{
    memset(m, 0, sizeof *m);
    m->c = c;
    m->stall_ms = 30000;
}

static const char *op_text(const struct cmd_member *rq, char *buf, size_t size)
{
    if (rq->op == PGQ_MEMBER_REPLACE) {
        snprintf(buf, size, "replace of monitor %" PRIu64 " by %" PRIu64, rq->old_id,
                 rq->monitor_id);
    } else {
        snprintf(buf, size, "%s of monitor %" PRIu64, pgq_member_op_name(rq->op), rq->monitor_id);
    }
    return buf;
}

bool membership_busy(const struct membership *m, char *what, size_t size)
{
    char op[96];
    if (!m->active) {
        return false;
    }
    snprintf(what, size, "%s (%s)", op_text(&m->rq.u.member, op, sizeof op),
             m->changing    ? "libraft is carrying out a step"
             : m->recording ? "recording a step"
                            : "a standby catching up");
    return true;
}

static void kick(struct membership *m)
{
    if (m->c->kick_cb != NULL) {
        m->c->kick_cb(m->c);
    }
}

/* The change has ended: done_cb with what finish() kept. */
static void complete(struct membership *m)
{
    m->active = false;
    m->finishing = false;
    if (m->final_code != 0) {
        log_info("monitor change stopped: %s", m->final_msg);
    } else {
        log_info("monitor change done: %s", m->final_msg);
    }
    m->done_cb(m, m->final_code, m->final_msg);
}

static void finish(struct membership *m, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);
static void finish(struct membership *m, int code, const char *fmt, ...)
{
    va_list ap;
    m->final_code = code;
    va_start(ap, fmt);
    vsnprintf(m->final_msg, sizeof m->final_msg, fmt, ap);
    va_end(ap);
    if (m->recording) {
        m->finishing = true; /* once the record of the last step commits */
        return;
    }
    complete(m);
}

static void record_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct membership *m = p->data;
    m->recording = false;
    command_close(&m->record);
    if (status == 0 && res->code != 0) {
        log_warn("record of a monitor change refused: %s", res->message);
    }
    if (m->finishing) {
        complete(m);
    } else if (m->c->closing) {
        /* Committed while the monitor stops (its close waits for what was
         * proposed): no next step here, but the caller hears. */
        finish(m, PGQ_SHUTDOWN,
               "the monitor is shutting down: ask again, the next leader continues where it "
               "stopped");
    } else if (status != 0) {
        finish(m, PGQ_UNAVAILABLE,
               "leadership lost while recording the change: ask again, the next leader "
               "continues where it stopped");
    } else {
        kick(m);
    }
}

/* Commit a Member for step (the event, who asked, the voters now). false:
 * it could not be proposed, and the change has ended (done_cb fired). */
static bool record(struct membership *m, int step, const char *detail)
{
    const struct cmd_member *rq = &m->rq.u.member;
    struct members_conf conf;
    struct cmd_member *mb;
    command_init(&m->record, CMD_MEMBER);
    mb = &m->record.u.member;
    pgq_strlcpy(m->record.who, m->rq.who, sizeof m->record.who);
    pgq_strlcpy(m->record.from, m->rq.from, sizeof m->record.from);
    mb->op = rq->op;
    mb->step = step;
    mb->monitor_id = rq->monitor_id;
    mb->old_id = rq->old_id;
    pgq_strlcpy(mb->raft_address, rq->raft_address, sizeof mb->raft_address);
    pgq_strlcpy(mb->api_address, rq->api_address, sizeof mb->api_address);
    pgq_strlcpy(mb->detail, detail, sizeof mb->detail);
    consensus_members(m->c, &conf);
    for (unsigned i = 0; i < conf.n; i++) {
        if (conf.servers[i].role == MEMBERS_ROLE_VOTER) {
            mb->voters[mb->n_voters].id = conf.servers[i].id;
            mb->voters[mb->n_voters].voter = true;
            pgq_strlcpy(mb->voters[mb->n_voters].raft_address, conf.servers[i].address,
                        sizeof mb->voters[0].raft_address);
            mb->n_voters++;
        }
    }
    m->record_p.data = m;
    m->record_p.cb = record_cb;
    if (consensus_propose(m->c, &m->record_p, &m->record) != 0) {
        command_close(&m->record);
        if (m->finishing) {
            complete(m);
        } else {
            finish(m, m->c->closing ? PGQ_SHUTDOWN : PGQ_UNAVAILABLE,
                   "%s: ask again, the next "
                   "leader continues where it stopped",
                   m->c->closing ? "the monitor is shutting down"
                                 : "leadership lost while recording the change");
        }
        return false;
    }
    m->recording = true;
    return true;
}

/* The change stopped: recorded when it had changed something. */
static void stop_change(struct membership *m, const char *why)
{
    char op[96];
    op_text(&m->rq.u.member, op, sizeof op);
    if (m->steps > 0 && !record(m, PGQ_MEMBER_FAILED, why)) {
        return;
    }
    finish(m, PGQ_REFUSED, "%s stopped: %s", op, why);
}

static void change_cb(struct consensus_change *ch, int status)
{
    struct membership *m = ch->data;
    const struct cmd_member *rq = &m->rq.u.member;
    char why[PGQ_REASON_MAX];
    m->changing = false;
    switch (status) {
        case 0:
            m->steps++;
            m->wait_since_ms = 0;
            if (!record(m, m->step, "")) {
                return;
            }
            if (m->step == PGQ_MEMBER_REMOVED && rq->op == PGQ_MEMBER_REMOVE) {
                finish(m, 0, "monitor %" PRIu64 " removed from the Raft configuration",
                       rq->monitor_id);
            }
            return;
        case PGQ_NOTLEADER:
            finish(m, PGQ_UNAVAILABLE,
                   "leadership lost during the %s step: ask again, the next leader continues "
                   "where it stopped",
                   pgq_member_step_name(m->step));
            return;
        case PGQ_TIMEOUT:
            snprintf(why, sizeof why,
                     "monitor %" PRIu64
                     " did not keep up in libraft's catch-up rounds before its promotion (too "
                     "slow or unreachable): it stays a standby; run the command again",
                     rq->monitor_id);
            stop_change(m, why);
            return;
        default:
            snprintf(why, sizeof why, "libraft failed the %s step: %s",
                     pgq_member_step_name(m->step), pgq_strerror(status));
            stop_change(m, why);
            return;
    }
}

int membership_start(struct membership *m, const struct command *rq, char *why, size_t size)
{
    struct members_conf conf;
    struct members_plan plan;
    const struct state *s = &m->c->fsm->state;
    int rv;
    if (membership_busy(m, why, size)) {
        char what[PGQ_REASON_MAX];
        pgq_strlcpy(what, why, sizeof what);
        snprintf(why, size, "a monitor change is under way: %s; one at a time", what);
        return PGQ_REFUSED;
    }
    if (!consensus_ready(m->c)) {
        snprintf(why, size, "this monitor does not lead: retry");
        return PGQ_UNAVAILABLE;
    }
    if (s->feature_level < 6) {
        snprintf(why, size,
                 "monitor changes need feature level 6 (every monitor upgraded); the state is at "
                 "level %u",
                 s->feature_level);
        return PGQ_REFUSED;
    }
    consensus_members(m->c, &conf);
    rv = members_next(&conf, s, &rq->u.member, MEMBERSHIP_SLACK, &plan);
    if (rv != 0) {
        pgq_strlcpy(why, plan.why, size);
        return rv;
    }
    m->rq = *rq;
    m->active = true;
    m->finishing = false;
    m->steps = 0;
    m->asked = false;
    m->wait_since_ms = 0;
    kick(m);
    return 0;
}

void membership_tick(struct membership *m)
{
    const struct cmd_member *rq = &m->rq.u.member;
    struct members_conf conf;
    struct members_plan plan;
    char why[PGQ_REASON_MAX], list[PGQ_REASON_MAX];
    int rv;
    if (!m->active || m->changing || m->recording) {
        return;
    }
    if (!consensus_ready(m->c)) {
        finish(m, PGQ_UNAVAILABLE,
               "this monitor no longer leads: ask again, the next leader continues where it "
               "stopped");
        return;
    }
    consensus_members(m->c, &conf);
    rv = members_next(&conf, &m->c->fsm->state, rq, MEMBERSHIP_SLACK, &plan);
    if (rv == PGQ_UNAVAILABLE) {
        return; /* libraft still commits a change: the next tick */
    }
    if (rv != 0) {
        stop_change(m, plan.why);
        return;
    }
    members_describe(&conf, list, sizeof list);
    /* Who asked what goes to the log before anything changes: a step
     * libraft commits just before its leader dies leaves no record of its
     * own (the next leader's hello shows the voters). */
    if (!m->asked && plan.action != MEMBERS_DONE && plan.action != MEMBERS_TRANSFER) {
        m->asked = true;
        record(m, PGQ_MEMBER_ASKED, "");
        return;
    }
    switch (plan.action) {
        case MEMBERS_DONE:
            finish(m, 0, "%s; voters: %s", plan.why, list);
            return;
        case MEMBERS_WAIT: {
            uint64_t now = m->c->mono_ms(m->c);
            const struct members_server *sv = members_find(&conf, plan.id);
            uint64_t match = sv != NULL ? sv->match_index : 0;
            if (m->wait_since_ms == 0 || match > m->wait_match) {
                m->wait_since_ms = now;
                m->wait_match = match;
            } else if (now - m->wait_since_ms >= m->stall_ms) {
                snprintf(why, sizeof why,
                         "monitor %" PRIu64 " at %s does not catch up: its log is at index %" PRIu64
                         " of %" PRIu64 ", no progress for %" PRIu64
                         " ms (is it running with [monitor] join = on, and can the leader reach "
                         "it?); it stays a standby",
                         plan.id, sv != NULL ? sv->address : "?", match, conf.last_index,
                         now - m->wait_since_ms);
                stop_change(m, why);
            }
            return;
        }
        case MEMBERS_TRANSFER:
            consensus_transfer(m->c);
            finish(m, PGQ_UNAVAILABLE, "%s: ask again, the new leader removes it", plan.why);
            return;
        default:
            break;
    }
    m->step = plan.step;
    m->change.data = m;
    m->change.cb = change_cb;
    rv = consensus_change(m->c, &m->change, plan.action, plan.id, plan.address, why, sizeof why);
    if (rv == PGQ_UNAVAILABLE) {
        return; /* a change not committed yet: the next tick */
    }
    if (rv == PGQ_NOTLEADER) {
        finish(m, PGQ_UNAVAILABLE,
               "this monitor no longer leads: ask again, the next leader continues where it "
               "stopped");
        return;
    }
    if (rv != 0) {
        stop_change(m, why);
        return;
    }
    m->changing = true;
    log_info("monitor change: %s of monitor %" PRIu64 " (%s; voters now: %s)",
             members_action_name(plan.action), plan.id, pgq_member_step_name(plan.step), list);
}

void membership_stop(struct membership *m)
{
    if (m->active && !m->changing && !m->recording) {
        finish(m, PGQ_SHUTDOWN, "the monitor is shutting down: ask again");
    }
}
