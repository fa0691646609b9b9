/* apply() of the failover's commands: the cut, the decision, the steps that
 * carry it out, the reasons it is held; and the failover state machine as a
 * table. See cluster.h for the contract; apply's other commands are in
 * cluster.c. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "lib/util.h"

/* ---- the failover state machine --------------------------------------- */

#define BIT(phase) (1u << (phase))

/* One row per phase: the phases it may move to, and what it means; the
 * same table prints the diagram of docs/architecture.md. A Decide of the
 * first format (no cut) still moves any settled phase to DECIDED, so that
 * logs written before cut-before-promote replay as they did. */
static const struct pgq_sm_row fo_table[PGQ__N_FO_PHASES] = {
    [PGQ_FO_NONE] = {BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED), "no failover yet"},
    [PGQ_FO_CUTTING] = {BIT(PGQ_FO_DECIDED) | BIT(PGQ_FO_NONE) | BIT(PGQ_FO_PROMOTED) |
                            BIT(PGQ_FO_DONE) | BIT(PGQ_FO_GAVE_UP),
                        "every standby that is up stops following the old primary; the candidate "
                        "is chosen from the positions read after that cut. Should the old "
                        "primary be up again first, the failover is abandoned: back to the phase "
                        "before the cut (a candidate lost before its promotion is promoted after "
                        "all)"},
    [PGQ_FO_DECIDED] = {BIT(PGQ_FO_PROMOTED) | BIT(PGQ_FO_GAVE_UP) | BIT(PGQ_FO_CUTTING) |
                            BIT(PGQ_FO_DECIDED),
                        "a new epoch: the candidate is its primary and is being promoted"},
    [PGQ_FO_PROMOTED] = {BIT(PGQ_FO_DONE) | BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED),
                         "the candidate left recovery; the other standbys are being repointed"},
    [PGQ_FO_DONE] = {BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED),
                     "every standby that can follow the new primary does"},
    [PGQ_FO_GAVE_UP] = {BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED),
                        "the candidate could not be promoted: the next one is chosen, or, when "
                        "no other can replace it, it is tried again after promote_timeout"},
};

static bool fo_may_move(const struct cluster *c, int to)
{
    return (fo_table[c->fo.phase].next & BIT(to)) != 0;
}

/* Every change of phase goes through here. */
static void fo_move(struct cluster *c, int to)
{
    assert(c->fo.phase >= 0 && c->fo.phase < PGQ__N_FO_PHASES);
    assert(fo_may_move(c, to));
    c->fo.phase = to;
}

void cluster_print_fo_table(void (*emit)(void *arg, const char *line), void *arg)
{
    const char *names[PGQ__N_FO_PHASES];
    for (int p = 0; p < PGQ__N_FO_PHASES; p++) {
        names[p] = pgq_fo_phase_name(p);
    }
    pgq_sm_print("phase", names, fo_table, PGQ__N_FO_PHASES, emit, arg);
}

/* A node that cannot follow the primary of the epoch until it is rewound
 * (pg_rewind) or rebuilt: it is demoted, never a candidate, and the
 * reason is kept for status. */
static void needs_rejoin(struct state *s, struct cluster *c, struct node *n, const char *fmt, ...)
    PGQ_PRINTF(4, 5);
static void needs_rejoin(struct state *s, struct cluster *c, struct node *n, const char *fmt, ...)
{
    va_list ap;
    n->role = PGQ_ROLE_DEMOTED;
    va_start(ap, fmt);
    vsnprintf(n->rejoin, sizeof n->rejoin, fmt, ap);
    va_end(ap);
    cluster_event(s, c->name, n->name, PGQ_EV_REJOIN, c->epoch, 0, "node %s needs a rejoin: %s",
                  n->name, n->rejoin);
}

/* Back to the failover before the cut: the standbys cut are repointed at
 * the primary by the ordinary rule (the cut reset their following_epoch),
 * and a candidate lost before its promotion is promoted after all. */
static void fo_abandon(struct state *s, struct cluster *c, const char *why)
{
    if (c->fo.switchover) {
        cluster_event(s, c->name, c->primary, PGQ_EV_SWITCHOVER, c->epoch, 0,
                      "switchover of %s abandoned: %s; it is started again as the primary",
                      c->primary, why);
        memset(&c->sw, 0, sizeof c->sw);
    }
    fo_move(c, c->prev_fo.phase);
    c->fo = c->prev_fo;
    cluster_event(s, c->name, c->primary, PGQ_EV_BLOCKED, c->epoch, 0,
                  "failover of %s abandoned before a standby was chosen: %s; %s", c->primary, why,
                  c->fo.phase == PGQ_FO_DECIDED   ? "it is promoted after all"
                  : c->fo.phase == PGQ_FO_GAVE_UP ? "its promotion stays given up"
                                                  : "the standbys cut off it follow it again");
}

void failover_primary_up(struct state *s, struct cluster *c)
{
    /* The primary came back while its standbys were being cut off it,
     * before a candidate was chosen: the failover is abandoned. Not so a
     * candidate given up: being up is not what it lacked. */
    if (c->fo.phase == PGQ_FO_CUTTING && c->prev_fo.phase != PGQ_FO_GAVE_UP &&
        fo_may_move(c, c->prev_fo.phase)) {
        fo_abandon(s, c, "it is up again");
    }
}

int apply_abandon(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (c->fo.phase != PGQ_FO_CUTTING || cmd->u.abandon.round != c->fo.round ||
        !fo_may_move(c, c->prev_fo.phase)) {
        return cluster_fail(res, PGQ_STALE, "abandoning round %" PRIu64 ": the failover is %s",
                            cmd->u.abandon.round, pgq_fo_phase_name(c->fo.phase));
    }
    fo_abandon(s, c, cmd->u.abandon.reason[0] != '\0' ? cmd->u.abandon.reason : "abandoned");
    return 0;
}

/* ---- the cut, and the decision ------------------------------------------ */

int apply_cut(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_cut *ct = &cmd->u.cut;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *p = c != NULL ? cluster_node(c, c->primary) : NULL;
    char floor[PGQ_NAME_MAX];
    uint64_t reference, chain;
    bool unpromoted;
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (p == NULL || ct->epoch != c->epoch || strcmp(ct->old_primary, c->primary) != 0) {
        return cluster_fail(
            res, PGQ_STALE,
            "cut of epoch %" PRIu64 " replacing %s is stale (epoch %" PRIu64 ", primary %s)",
            ct->epoch, ct->old_primary, c->epoch, c->primary[0] ? c->primary : "none");
    }
    if (!fo_may_move(c, PGQ_FO_CUTTING)) {
        return cluster_fail(res, PGQ_STALE, "cut of epoch %" PRIu64 ": the failover is %s",
                            ct->epoch, pgq_fo_phase_name(c->fo.phase));
    }
    /* The primary being replaced is a candidate that was never promoted
     * (given up, or lost before its promotion): it never acknowledged a
     * write, so the floor and the reference of the failover that chose it
     * still hold; and a candidate given up is replaced whatever its verdict. */
    unpromoted =
        c->fo.epoch == c->epoch && (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP);
    if (c->fo.phase != PGQ_FO_GAVE_UP && p->verdict != PGQ_VERDICT_DOWN &&
        !switchover_stopped(c, p)) {
        return cluster_fail(res, PGQ_STALE,
                            "cut of epoch %" PRIu64 " is stale: primary %s is %s by verdict",
                            ct->epoch, p->name, pgq_verdict_name(p->verdict));
    }
    if (unpromoted) {
        pgq_strlcpy(floor, c->fo.floor_primary[0] != '\0' ? c->fo.floor_primary : c->fo.old_primary,
                    sizeof floor);
        reference = PGQ_MAX(c->fo.reference_lsn, c->fo.candidate_lsn);
        chain = c->fo.chain_round != 0 ? c->fo.chain_round : s->seq + 1;
    } else {
        pgq_strlcpy(floor, p->name, sizeof floor);
        /* A primary of this epoch's decision held at least the position it
         * was chosen at, even if no monitor saw it writable yet. */
        reference = c->fo.epoch == c->epoch ? c->fo.candidate_lsn : 0;
        chain = s->seq + 1;
    }
    /* Kept whole: should the primary be up again before a candidate is
     * chosen, the failover is abandoned and this is what it was. */
    c->prev_fo = c->fo;
    c->prev_fo.blocked[0] = '\0';
    memset(&c->fo, 0, sizeof c->fo);
    c->fo.phase = PGQ_FO_CUTTING; /* checked: fo_may_move */
    c->fo.epoch = c->epoch + 1;
    pgq_strlcpy(c->fo.old_primary, p->name, sizeof c->fo.old_primary);
    c->fo.down_ms = ct->down_ms;
    c->fo.cut_ms = s->time_ms;
    c->fo.round = s->seq + 1; /* the seq this command is applied as: unique */
    c->fo.unpromoted = unpromoted;
    pgq_strlcpy(c->fo.floor_primary, floor, sizeof c->fo.floor_primary);
    c->fo.reference_lsn = reference;
    c->fo.chain_round = chain;
    if (switchover_stopped(c, p)) {
        /* Planned: its agent stopped it cleanly and says where its WAL
         * ends; the switchover is now this failover. */
        c->fo.switchover = true;
        c->fo.final_lsn = p->agent.stopped_lsn;
    }
    cluster_event(
        s, c->name, p->name, PGQ_EV_CUT, c->fo.epoch, cluster_since(s->time_ms, ct->down_ms),
        "failover of %s (epoch %" PRIu64 "): cutting its standbys off it before choosing one%s%s",
        p->name, c->fo.epoch, ct->reason[0] != '\0' ? ": " : "", ct->reason);
    return 0;
}

int apply_decide(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_decide *d = &cmd->u.decide;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *cand = cluster_node(c, cmd->node);
    struct failover cut;
    struct node *old;
    bool unpromoted;
    if (cand == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    /* Invariant 1: epochs only grow, one primary per epoch. */
    if (d->epoch != c->epoch + 1 || strcmp(d->old_primary, c->primary) != 0 ||
        c->primary[0] == '\0') {
        return cluster_fail(res, PGQ_STALE,
                            "decision for epoch %" PRIu64 " replacing %s is stale (epoch %" PRIu64
                            ", primary %s)",
                            d->epoch, d->old_primary, c->epoch, c->primary);
    }
    if (d->round != 0 && (c->fo.phase != PGQ_FO_CUTTING || d->round != c->fo.round)) {
        return cluster_fail(res, PGQ_STALE,
                            "decision of round %" PRIu64
                            " is stale: the failover is %s (round %" PRIu64 ")",
                            d->round, pgq_fo_phase_name(c->fo.phase), c->fo.round);
    }
    if (d->round == 0 && !fo_may_move(c, PGQ_FO_DECIDED)) {
        return cluster_fail(res, PGQ_STALE, "decision for epoch %" PRIu64 ": the failover is %s",
                            d->epoch, pgq_fo_phase_name(c->fo.phase));
    }
    if (cand->role != PGQ_ROLE_STANDBY || cand->priority == 0 || cand->maintenance ||
        cand->twin_of[0] != '\0') {
        return cluster_fail(res, PGQ_REFUSED, "node %s cannot be promoted", cand->name);
    }
    if (node_impostor(cand)) {
        return cluster_fail(res, PGQ_REFUSED,
                            "node %s cannot be promoted: another server answers for it",
                            cand->name);
    }
    /* Cut before promote: the candidate is one whose position was read
     * after it stopped following the old primary. */
    if (d->round != 0 && cand->cut_round != d->round) {
        return cluster_fail(res, PGQ_REFUSED, "node %s was not cut off %s in this failover",
                            cand->name, d->old_primary);
    }
    old = cluster_node(c, d->old_primary);
    unpromoted = d->round != 0 && c->fo.unpromoted;
    if (d->round != 0 && c->fo.switchover && old != NULL && old->agent.pm_alive) {
        return cluster_fail(res, PGQ_STALE,
                            "switchover decision is stale: %s runs again, by its agent", old->name);
    }
    if (d->round != 0 && c->fo.switchover && c->sw.target[0] != '\0' &&
        strcmp(c->sw.target, cand->name) != 0) {
        return cluster_fail(res, PGQ_REFUSED, "the switchover promotes %s, not %s", c->sw.target,
                            cand->name);
    }
    /* Reports applied between the proposal and now may have changed the
     * picture: the decision holds only while the primary is still down (a
     * candidate given up excepted) and the candidate still up by verdict. */
    if ((old != NULL && old->verdict != PGQ_VERDICT_DOWN && !unpromoted &&
         !(d->round != 0 && c->fo.switchover)) ||
        cand->verdict != PGQ_VERDICT_UP) {
        return cluster_fail(
            res, PGQ_STALE,
            "decision to promote %s is stale: primary %s is %s, %s is %s by verdict", cand->name,
            d->old_primary, old != NULL ? pgq_verdict_name(old->verdict) : "gone", cand->name,
            pgq_verdict_name(cand->verdict));
    }
    if (old != NULL && unpromoted) {
        /* It never left recovery as the primary: a standby again, repointed
         * like the others (should a promotion it hung in complete after
         * all, it is writable, so fenced, and cannot follow: a rejoin). */
        old->role = PGQ_ROLE_STANDBY;
        old->following_epoch = 0;
    } else if (old != NULL) {
        old->role = PGQ_ROLE_DEMOTED;
        snprintf(old->rejoin, sizeof old->rejoin, "former primary of epoch %" PRIu64, c->epoch);
    }
    c->epoch = d->epoch;
    sync_on_decide(c, d->epoch - 1);
    pgq_strlcpy(c->primary, cand->name, sizeof c->primary);
    cand->role = PGQ_ROLE_PRIMARY;
    cand->following_epoch = c->epoch;
    cand->n_sync = 0; /* what it named in an earlier epoch does not hold now */
    cut = c->fo;
    memset(&c->fo, 0, sizeof c->fo);
    if (d->round != 0) {
        c->fo.round = cut.round;
        c->fo.cut_ms = cut.cut_ms;
        c->fo.unpromoted = cut.unpromoted;
        pgq_strlcpy(c->fo.floor_primary, cut.floor_primary, sizeof c->fo.floor_primary);
        c->fo.reference_lsn = PGQ_MAX(cut.reference_lsn, d->reference_lsn);
        c->fo.chain_round = cut.chain_round;
        c->fo.switchover = cut.switchover;
        c->fo.final_lsn = cut.final_lsn;
    }
    if (c->sw.phase != PGQ_SW_NONE) {
        if (!cut.switchover) {
            cluster_event(s, c->name, d->old_primary, PGQ_EV_SWITCHOVER, d->epoch, 0,
                          "switchover of %s cancelled: a failover replaces it", d->old_primary);
        }
        memset(&c->sw, 0, sizeof c->sw);
    }
    c->fo.phase = PGQ_FO_DECIDED; /* checked above: CUTTING, or a first-format Decide */
    c->fo.epoch = c->epoch;
    pgq_strlcpy(c->fo.old_primary, d->old_primary, sizeof c->fo.old_primary);
    pgq_strlcpy(c->fo.candidate, cand->name, sizeof c->fo.candidate);
    c->fo.down_ms = d->down_ms;
    c->fo.decided_ms = s->time_ms;
    c->fo.candidate_lsn = d->candidate_lsn;
    cluster_event(s, c->name, cand->name, PGQ_EV_DECISION, c->epoch,
                  cluster_since(s->time_ms, d->down_ms),
                  "failover: promote %s in place of %s (epoch %" PRIu64 ")%s%s", cand->name,
                  d->old_primary, c->epoch, d->reason[0] != '\0' ? ": " : "", d->reason);
    /* A standby that holds WAL beyond the new primary's position (one that
     * could not be chosen: priority 0, maintenance) cannot follow it
     * without a rewind: it needs a rejoin, like the old primary. After a
     * cut, positions are the cut ones: exact, and frozen. */
    for (unsigned i = 0; i < c->n_nodes; i++) {
        struct node *n = &c->nodes[i];
        char a[32], b[32];
        uint64_t lsn;
        if (n == cand || n->role != PGQ_ROLE_STANDBY) {
            continue;
        }
        if (d->round != 0) {
            if (n->cut_round == d->round && n->cut_lsn > d->candidate_lsn) {
                pgq_lsn_format(n->cut_lsn, a, sizeof a);
                pgq_lsn_format(d->candidate_lsn, b, sizeof b);
                needs_rejoin(s, c, n,
                             "it holds WAL up to %s, beyond the new primary %s's %s; it cannot "
                             "follow without pg_rewind",
                             a, cand->name, b);
            }
        } else if (node_fresh_position(n, old != NULL ? old->verdict_seq : 0, &lsn) &&
                   lsn > d->candidate_lsn) {
            pgq_lsn_format(lsn, a, sizeof a);
            pgq_lsn_format(d->candidate_lsn, b, sizeof b);
            n->role = PGQ_ROLE_DEMOTED;
            snprintf(n->rejoin, sizeof n->rejoin, "WAL up to %s, beyond the new primary's %s", a,
                     b);
            cluster_event(
                s, c->name, n->name, PGQ_EV_ALERT, d->epoch, 0,
                "standby %s received WAL up to %s, beyond the new primary's %s: it cannot "
                "follow without pg_rewind; rejoin it",
                n->name, a, b);
        }
    }
    return 0;
}

int apply_blocked(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (strcmp(c->fo.blocked, cmd->u.blocked.reason) == 0) {
        return 0;
    }
    pgq_strlcpy(c->fo.blocked, cmd->u.blocked.reason, sizeof c->fo.blocked);
    if (c->fo.blocked[0] != '\0') {
        /* "held: ..." is a wait that may resolve itself; anything else
         * needs an operator. */
        cluster_event(
            s, c->name, c->primary, PGQ_EV_BLOCKED, c->epoch, 0, "%s%s",
            strncmp(c->fo.blocked, PGQ_HELD, PGQ_HELD_LEN) == 0 ? "failover " : "no failover: ",
            c->fo.blocked);
    }
    return 0;
}

int apply_step(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_step *st = &cmd->u.step;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *n = cluster_node(c, cmd->node);
    char d1[32], d2[32], d3[32];
    if (cluster_step_level(st->kind) > s->feature_level) {
        return cluster_fail(res, PGQ_VERSION,
                            "command needs feature level %u; the cluster is at level %u",
                            cluster_step_level(st->kind), s->feature_level);
    }
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (st->epoch != c->epoch) {
        return cluster_fail(res, PGQ_STALE, "%s step for epoch %" PRIu64 ", cluster is at %" PRIu64,
                            pgq_step_name(st->kind), st->epoch, c->epoch);
    }
    switch (st->kind) {
        case PGQ_STEP_PROMOTED:
            if (c->fo.phase != PGQ_FO_DECIDED || n == NULL ||
                strcmp(n->name, c->fo.candidate) != 0) {
                return cluster_fail(res, PGQ_STALE, "promotion of %s does not match the decision",
                                    cmd->node);
            }
            fo_move(c, PGQ_FO_PROMOTED);
            c->fo.promoted_ms = s->time_ms;
            c->fo.timeline = st->timeline;
            c->timeline = st->timeline;
            c->parent_tli = st->parent_tli;
            c->fork_lsn = st->lsn;
            sync_on_promoted(c);
            cluster_event(s, c->name, n->name, PGQ_EV_PROMOTED, c->epoch,
                          cluster_since(s->time_ms, c->fo.decided_ms),
                          "node %s promoted (timeline %u)%s%s", n->name, st->timeline,
                          st->detail[0] != '\0' ? ": " : "", st->detail);
            return 0;
        case PGQ_STEP_REPOINTED:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY) {
                return cluster_fail(res, PGQ_STALE, "node %s is not a standby", cmd->node);
            }
            n->following_epoch = c->epoch;
            cluster_event(
                s, c->name, n->name, PGQ_EV_REPOINTED, c->epoch,
                c->fo.phase == PGQ_FO_PROMOTED ? cluster_since(s->time_ms, c->fo.promoted_ms) : 0,
                "standby %s follows %s%s%s", n->name, c->primary, st->detail[0] != '\0' ? ": " : "",
                st->detail);
            return 0;
        case PGQ_STEP_DONE:
            if (c->fo.phase != PGQ_FO_PROMOTED) {
                return cluster_fail(res, PGQ_STALE, "failover of epoch %" PRIu64 " is not promoted",
                                    c->epoch);
            }
            fo_move(c, PGQ_FO_DONE);
            c->fo.done_ms = s->time_ms;
            pgq_duration_format(cluster_since(c->fo.decided_ms, c->fo.down_ms), d1, sizeof d1);
            pgq_duration_format(cluster_since(c->fo.promoted_ms, c->fo.decided_ms), d2, sizeof d2);
            pgq_duration_format(cluster_since(c->fo.done_ms, c->fo.promoted_ms), d3, sizeof d3);
            cluster_event(s, c->name, c->primary, PGQ_EV_FAILOVER_DONE, c->epoch,
                          cluster_since(s->time_ms, c->fo.down_ms),
                          "failover to %s done: down-to-decision %s, promotion %s, repointing %s",
                          c->primary, d1, d2, d3);
            return 0;
        case PGQ_STEP_FENCED:
            if (n == NULL || strcmp(n->name, c->primary) == 0) {
                return cluster_fail(res, PGQ_REFUSED, "node %s cannot be fenced", cmd->node);
            }
            n->fenced_epoch = c->epoch;
            cluster_event(s, c->name, n->name, PGQ_EV_FENCED, c->epoch, 0,
                          "node %s fenced: read-only, client sessions terminated%s%s", n->name,
                          st->detail[0] != '\0' ? "; " : "", st->detail);
            return 0;
        case PGQ_STEP_CUT:
            if (c->fo.phase != PGQ_FO_CUTTING || st->round != c->fo.round || n == NULL ||
                n->role != PGQ_ROLE_STANDBY) {
                return cluster_fail(res, PGQ_STALE,
                                    "cut of %s does not match the failover in progress", cmd->node);
            }
            if (n->cut_round == st->round) {
                /* The first report of a round is the one read when the cut
                 * happened; a later one (a job run twice, a new leader)
                 * knows less (what the standby last heard is gone). */
                return 0;
            }
            n->cut_round = st->round;
            n->cut_lsn = st->lsn;
            n->cut_tli = st->timeline;
            n->cut_upstream_lsn = st->upstream_lsn;
            n->following_epoch = 0; /* it follows no one now */
            pgq_lsn_format(st->lsn, d1, sizeof d1);
            cluster_event(s, c->name, n->name, PGQ_EV_CUT, c->fo.epoch,
                          cluster_since(s->time_ms, c->fo.cut_ms),
                          "standby %s stopped following %s, at %s on timeline %u%s%s", n->name,
                          c->fo.old_primary, d1, st->timeline, st->detail[0] != '\0' ? "; " : "",
                          st->detail);
            return 0;
        case PGQ_STEP_DIVERGED:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY) {
                return cluster_fail(res, PGQ_STALE, "node %s is not a standby", cmd->node);
            }
            needs_rejoin(s, c, n, "%s", st->detail);
            return 0;
        case PGQ_STEP_GAVE_UP:
            if (c->fo.phase != PGQ_FO_DECIDED || n == NULL ||
                strcmp(n->name, c->fo.candidate) != 0) {
                return cluster_fail(res, PGQ_STALE, "giving up %s does not match the decision",
                                    cmd->node);
            }
            fo_move(c, PGQ_FO_GAVE_UP);
            c->fo.gave_up_ms = s->time_ms;
            n->gave_up_round = c->fo.chain_round;
            cluster_event(s, c->name, n->name, PGQ_EV_BLOCKED, c->epoch,
                          cluster_since(s->time_ms, c->fo.decided_ms),
                          "promotion of %s given up: %s; the next eligible standby is chosen",
                          n->name, st->detail);
            return 0;
        case PGQ_STEP_STUCK:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY || c->fo.phase != PGQ_FO_PROMOTED) {
                return cluster_fail(res, PGQ_STALE, "node %s is not a standby being repointed",
                                    cmd->node);
            }
            if (n->stuck_epoch != c->epoch) {
                n->stuck_epoch = c->epoch;
                cluster_event(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                              "standby %s does not follow %s yet (%s): the failover completes "
                              "without it; it is still being repointed",
                              n->name, c->primary, st->detail);
            }
            return 0;
        case PGQ_STEP_RETRY:
            if (c->fo.phase != PGQ_FO_GAVE_UP || n == NULL ||
                strcmp(n->name, c->fo.candidate) != 0) {
                return cluster_fail(res, PGQ_STALE, "retrying %s does not match the failover",
                                    cmd->node);
            }
            fo_move(c, PGQ_FO_DECIDED);
            c->fo.gave_up_ms = 0;
            cluster_event(s, c->name, n->name, PGQ_EV_DECISION, c->epoch, 0,
                          "failover: no other standby can replace %s: its promotion is tried "
                          "again (epoch %" PRIu64 ")",
                          n->name, c->epoch);
            return 0;
        case PGQ_STEP_SLOTS:
            /* Computed for the nodes of members generation `round`: one
             * added or removed since is not in it. */
            if (n == NULL || strcmp(n->name, c->primary) != 0 || st->round != c->members_gen) {
                return cluster_fail(res, PGQ_STALE,
                                    "slots of %s for members %" PRIu64
                                    " are stale (primary %s, members %" PRIu64 ")",
                                    cmd->node, st->round, c->primary[0] ? c->primary : "none",
                                    c->members_gen);
            }
            c->slots_epoch = c->epoch;
            if (st->detail[0] != '\0') {
                cluster_event(s, c->name, n->name, PGQ_EV_SLOT, c->epoch, 0,
                              "replication slots on %s: %s", n->name, st->detail);
            }
            return 0;
        default:
            return cluster_fail(res, PGQ_INVALID, "unknown step %d", st->kind);
    }
}

/* ---- pause ------------------------------------------------------------------ */

int check_pause(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    if (state_cluster(s, cmd->cluster) == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    return 0;
}

int apply_pause(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    const char *by = cmd->u.pause.by[0] != '\0' ? cmd->u.pause.by : "an operator";
    const char *in_flight = "";
    int rv = check_pause(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    if (c->paused == cmd->u.pause.on) {
        return 0; /* the same again (a client retrying a write): nothing changes */
    }
    c->paused = cmd->u.pause.on;
    c->pause_ms = s->time_ms;
    /* Whatever held the failover back is said again by the leader, if it
     * still holds. */
    c->fo.blocked[0] = '\0';
    if (!c->paused) {
        cluster_event(s, c->name, "", PGQ_EV_PAUSE, c->epoch, 0,
                      "cluster %s resumed by %s: automatic failover again (failover_timeout "
                      "and every other wait count from now)",
                      c->name, by);
        return 0;
    }
    if (c->fo.phase == PGQ_FO_CUTTING) {
        in_flight = "; the failover of the primary begun (cut) is held where it is";
    } else if (c->fo.epoch == c->epoch &&
               (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_PROMOTED)) {
        in_flight = "; the failover already decided is carried through";
    } else if (c->fo.epoch == c->epoch && c->fo.phase == PGQ_FO_GAVE_UP) {
        in_flight = "; no other candidate is tried";
    }
    cluster_event(s, c->name, "", PGQ_EV_PAUSE, c->epoch, 0,
                  "cluster %s paused by %s: no automatic failover, cut or repoint starts "
                  "(observations, verdicts and leases go on)%s",
                  c->name, by, in_flight);
    return 0;
}

bool cluster_failover_under_way(const struct cluster *c)
{
    const struct node *p = c != NULL ? cluster_node(c, c->primary) : NULL;
    if (c == NULL) {
        return false;
    }
    if ((c->fo.phase != PGQ_FO_NONE && c->fo.phase != PGQ_FO_DONE) || c->sw.phase != PGQ_SW_NONE) {
        return true;
    }
    if (p == NULL) {
        return false;
    }
    return p->verdict == PGQ_VERDICT_DOWN || node_seen_down(p);
}

bool node_seen_down(const struct node *n)
{
    for (unsigned i = 0; i < n->n_views; i++) {
        if (n->views[i].monitor_id != 0 && !n->views[i].obs.reachable) {
            return true;
        }
    }
    return false;
}
