/* members: online membership, the pure part (see members.h). */
#include "members.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static const char *const action_names[] = {
    [MEMBERS_DONE] = "done",         [MEMBERS_ADD] = "add",     [MEMBERS_STANDBY] = "standby",
    [MEMBERS_WAIT] = "wait",         [MEMBERS_VOTER] = "voter", [MEMBERS_REMOVE] = "remove",
    [MEMBERS_TRANSFER] = "transfer",
};

const char *members_action_name(int action)
{
    return action >= 0 && action < (int)PGQ_ARRAY_SIZE(action_names) ? action_names[action] : "?";
}

const struct members_server *members_find(const struct members_conf *conf, uint64_t id)
{
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id == id) {
            return &conf->servers[i];
        }
    }
    return NULL;
}

static const char *role_name(int role)
{
    return role == MEMBERS_ROLE_VOTER     ? "voter"
           : role == MEMBERS_ROLE_STANDBY ? "standby"
                                          : "spare";
}

void members_describe(const struct members_conf *conf, char *out, size_t size)
{
    bool others = false;
    out[0] = '\0';
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].role == MEMBERS_ROLE_VOTER) {
            pgq_appendf(out, size, "%s%" PRIu64, out[0] ? ", " : "", conf->servers[i].id);
        }
    }
    for (unsigned i = 0; i < conf->n; i++) {
        const struct members_server *sv = &conf->servers[i];
        if (sv->role != MEMBERS_ROLE_VOTER) {
            pgq_appendf(out, size, "%s%" PRIu64 " %s", others ? ", " : " (", sv->id,
                        role_name(sv->role));
            others = true;
        }
    }
    if (others) {
        pgq_appendf(out, size, ")");
    }
}

static int fail(struct members_plan *out, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);
static int fail(struct members_plan *out, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
    return code;
}

static int check_address(const char *what,
                         const char *address,
                         bool required,
                         char *why,
                         size_t size)
{
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    if (address[0] == '\0' && !required) {
        return 0;
    }
    if (pgq_parse_hostport(address, host, sizeof host, &port) != 0 || !pgq_is_ipv4(host)) {
        snprintf(why, size, "%s \"%.128s\" is not an IPv4 HOST:PORT", what, address);
        return PGQ_INVALID;
    }
    return 0;
}

int members_check_request(const struct cmd_member *rq, char *why, size_t size)
{
    int rv;
    why[0] = '\0';
    if (rq->op <= 0 || rq->op >= PGQ__N_MEMBER_OPS) {
        snprintf(why, size, "unknown monitor change %d", rq->op);
        return PGQ_INVALID;
    }
    if (rq->monitor_id == 0 || rq->monitor_id > PGQ_MONITOR_ID_MAX) {
        snprintf(why, size, "monitor id %" PRIu64 " is not in 1..%d", rq->monitor_id,
                 PGQ_MONITOR_ID_MAX);
        return PGQ_INVALID;
    }
    if (rq->op == PGQ_MEMBER_REPLACE) {
        if (rq->old_id == 0 || rq->old_id > PGQ_MONITOR_ID_MAX) {
            snprintf(why, size, "monitor id %" PRIu64 " is not in 1..%d", rq->old_id,
                     PGQ_MONITOR_ID_MAX);
            return PGQ_INVALID;
        }
        if (rq->old_id == rq->monitor_id) {
            snprintf(why, size,
                     "monitor %" PRIu64 " cannot replace itself: give the new one its own id",
                     rq->monitor_id);
            return PGQ_INVALID;
        }
    } else if (rq->old_id != 0) {
        snprintf(why, size, "only a replace names the monitor it replaces");
        return PGQ_INVALID;
    }
    if (rq->op == PGQ_MEMBER_REMOVE) {
        if (rq->raft_address[0] != '\0' || rq->api_address[0] != '\0') {
            snprintf(why, size, "a remove takes no address");
            return PGQ_INVALID;
        }
        return 0;
    }
    rv = check_address("Raft address", rq->raft_address, true, why, size);
    if (rv == 0) {
        rv = check_address("API address", rq->api_address, false, why, size);
    }
    if (rv == 0 && strcmp(rq->raft_address, rq->api_address) == 0) {
        snprintf(why, size, "the API address must differ from the Raft address");
        rv = PGQ_INVALID;
    }
    return rv;
}

static unsigned n_voters(const struct members_conf *conf, unsigned *live, uint64_t except)
{
    unsigned n = 0;
    *live = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct members_server *sv = &conf->servers[i];
        if (sv->role == MEMBERS_ROLE_VOTER && sv->id != except) {
            n++;
            *live += sv->live ? 1u : 0u;
        }
    }
    return n;
}

/* A server that is not a voter and not the one the request is about: a
 * change that stopped half-way (one at a time). */
static int check_leftover(const struct members_conf *conf, uint64_t id, struct members_plan *out)
{
    for (unsigned i = 0; i < conf->n; i++) {
        const struct members_server *sv = &conf->servers[i];
        if (sv->role != MEMBERS_ROLE_VOTER && sv->id != id) {
            return fail(out, PGQ_REFUSED,
                        "monitor %" PRIu64
                        " is a %s: a change stopped half-way; finish it (run it again) or "
                        "remove it (pgquorumctl monitor remove %" PRIu64
                        ") first: one change at a time",
                        sv->id, role_name(sv->role), sv->id);
        }
    }
    return 0;
}

/* The next step to bring monitor rq->monitor_id in as a voter. */
static int plan_add(const struct members_conf *conf,
                    const struct state *s,
                    const struct cmd_member *rq,
                    uint64_t slack,
                    struct members_plan *out)
{
    const struct members_server *sv = members_find(conf, rq->monitor_id);
    unsigned live, voters = n_voters(conf, &live, 0);
    int rv;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct members_server *o = &conf->servers[i];
        if (o->id != rq->monitor_id && strcmp(o->address, rq->raft_address) == 0) {
            return fail(out, PGQ_EXISTS, "Raft address %s is monitor %" PRIu64 "'s",
                        rq->raft_address, o->id);
        }
    }
    for (unsigned i = 0; s != NULL && rq->api_address[0] != '\0' && i < s->n_monitors; i++) {
        const struct member *m = &s->monitors[i];
        if (m->id != rq->monitor_id && members_find(conf, m->id) != NULL &&
            strcmp(m->api_address, rq->api_address) == 0) {
            return fail(out, PGQ_EXISTS, "API address %s is monitor %" PRIu64 "'s", rq->api_address,
                        m->id);
        }
    }
    if (sv != NULL && strcmp(sv->address, rq->raft_address) != 0) {
        return fail(out, PGQ_EXISTS,
                    "monitor %" PRIu64 " is already a member at %s, not %s: remove it first",
                    sv->id, sv->address, rq->raft_address);
    }
    rv = check_leftover(conf, rq->monitor_id, out);
    if (rv != 0) {
        return rv;
    }
    out->id = rq->monitor_id;
    if (sv == NULL) {
        if (voters >= PGQ_MAX_MONITORS) {
            return fail(out, PGQ_LIMIT,
                        "the group has %u voters, the most pgquorum supports (%d): remove one "
                        "first%s",
                        voters, PGQ_MAX_MONITORS,
                        rq->op == PGQ_MEMBER_REPLACE ? " (a replace adds before it removes)" : "");
        }
        if (conf->n >= PGQ_MAX_MONITORS || conf->overflow) {
            return fail(out, PGQ_LIMIT,
                        "the Raft configuration has %u monitors, the most pgquorum supports "
                        "(%d): remove one first",
                        conf->n, PGQ_MAX_MONITORS);
        }
        out->action = MEMBERS_ADD;
        out->step = PGQ_MEMBER_SPARE;
        pgq_strlcpy(out->address, rq->raft_address, sizeof out->address);
        return 0;
    }
    if (sv->role == MEMBERS_ROLE_SPARE) {
        out->action = MEMBERS_STANDBY;
        out->step = PGQ_MEMBER_STANDBY;
        return 0;
    }
    if (sv->role == MEMBERS_ROLE_STANDBY) {
        /* The catch-up rule: it votes only once its log is about the
         * leader's, or a majority that needs it would wait for it. */
        if (sv->match_index == 0 || sv->match_index + slack < conf->last_index) {
            out->action = MEMBERS_WAIT;
            snprintf(out->why, sizeof out->why,
                     "monitor %" PRIu64 " catches up as a standby: its log is at index %" PRIu64
                     " of %" PRIu64,
                     sv->id, sv->match_index, conf->last_index);
            return 0;
        }
        /* Invariant: the voters the leader hears from stay a majority. */
        if (live + 1 < (voters + 1) / 2 + 1) {
            return fail(out, PGQ_REFUSED,
                        "making monitor %" PRIu64
                        " a voter would need %u of %u voters answering; "
                        "%u do",
                        sv->id, (voters + 1) / 2 + 1, voters + 1, live + 1);
        }
        out->action = MEMBERS_VOTER;
        out->step = PGQ_MEMBER_VOTER;
        return 0;
    }
    out->action = MEMBERS_DONE;
    snprintf(out->why, sizeof out->why, "monitor %" PRIu64 " is a voter", sv->id);
    return 0;
}

/* The next step to take monitor id out. */
static int plan_remove(const struct members_conf *conf, uint64_t id, struct members_plan *out)
{
    const struct members_server *sv = members_find(conf, id);
    unsigned live, rest;
    char list[PGQ_REASON_MAX / 2];
    int rv;
    if (sv == NULL) {
        members_describe(conf, list, sizeof list);
        return fail(out, PGQ_NOTFOUND,
                    "monitor %" PRIu64 " is not in the Raft configuration (members: %s)", id, list);
    }
    rv = check_leftover(conf, id, out);
    if (rv != 0) {
        return rv;
    }
    out->id = id;
    out->step = PGQ_MEMBER_REMOVED;
    if (sv->role != MEMBERS_ROLE_VOTER) {
        out->action = MEMBERS_REMOVE;
        return 0;
    }
    rest = n_voters(conf, &live, id);
    if (rest == 0) {
        return fail(out, PGQ_REFUSED,
                    "monitor %" PRIu64 " is the only voter: the group would have none left", id);
    }
    /* Invariant: the voters the leader hears from stay a majority. */
    if (live < rest / 2 + 1) {
        return fail(out, PGQ_REFUSED,
                    "removing monitor %" PRIu64
                    " would leave %u voters of which %u answer%s, fewer than a majority (%u): "
                    "bring the others back or remove a dead one first",
                    id, rest, live, live == 1 ? "s" : "", rest / 2 + 1);
    }
    if (id == conf->leader_id) {
        /* Decision: a leader is not removed under itself; it hands over,
         * and the next leader removes it (libraft would let it lead until
         * the entry commits and then step down with nobody taking over at
         * once). */
        if (live == 0) {
            return fail(out, PGQ_REFUSED,
                        "monitor %" PRIu64 " leads and no other voter answers: it cannot hand over",
                        id);
        }
        out->action = MEMBERS_TRANSFER;
        out->step = 0;
        snprintf(out->why, sizeof out->why,
                 "monitor %" PRIu64
                 " leads: it hands leadership to another voter, which removes it",
                 id);
        return 0;
    }
    out->action = MEMBERS_REMOVE;
    return 0;
}

int members_next(const struct members_conf *conf,
                 const struct state *s,
                 const struct cmd_member *rq,
                 uint64_t slack,
                 struct members_plan *out)
{
    int rv;
    memset(out, 0, sizeof *out);
    rv = members_check_request(rq, out->why, sizeof out->why);
    if (rv != 0) {
        return rv;
    }
    if (conf->changing) {
        return fail(out, PGQ_UNAVAILABLE,
                    "a change of the Raft configuration is still being committed: retry");
    }
    switch (rq->op) {
        case PGQ_MEMBER_ADD:
            return plan_add(conf, s, rq, slack, out);
        case PGQ_MEMBER_REMOVE:
            return plan_remove(conf, rq->monitor_id, out);
        default: {
            const struct members_server *nw = members_find(conf, rq->monitor_id);
            const struct members_server *old = members_find(conf, rq->old_id);
            if (nw == NULL && old == NULL) {
                return fail(out, PGQ_NOTFOUND,
                            "monitor %" PRIu64
                            " is not in the Raft configuration: nothing to replace",
                            rq->old_id);
            }
            if (nw == NULL || nw->role != MEMBERS_ROLE_VOTER) {
                /* First the new one in, as for an add; an old one that is
                 * not a voter is no change of its own to finish. */
                if (old != NULL && old->role != MEMBERS_ROLE_VOTER) {
                    return fail(out, PGQ_REFUSED,
                                "monitor %" PRIu64
                                " is a %s, not a voter: remove it (pgquorumctl monitor remove "
                                "%" PRIu64 ") and add the new one",
                                old->id, role_name(old->role), old->id);
                }
                return plan_add(conf, s, rq, slack, out);
            }
            if (strcmp(nw->address, rq->raft_address) != 0) {
                return fail(out, PGQ_EXISTS,
                            "monitor %" PRIu64 " is already a member at %s, not %s", nw->id,
                            nw->address, rq->raft_address);
            }
            if (old == NULL) {
                out->action = MEMBERS_DONE;
                snprintf(out->why, sizeof out->why,
                         "monitor %" PRIu64 " replaced monitor %" PRIu64 ": it votes, and %" PRIu64
                         " is out of the configuration",
                         rq->monitor_id, rq->old_id, rq->old_id);
                return 0;
            }
            return plan_remove(conf, rq->old_id, out);
        }
    }
}
