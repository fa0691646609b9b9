/* Policy: verdict freshness, candidate choice, and the next command or
 * action for the leader. Pure: see policy.h. */
#include "policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "policy_internal.h"

/* The earliest a wait of the failover (failover_timeout, cut_timeout, a
 * retry) counts from: the later of t, the start of the leader generation and
 * the end of a pause. A new leader and an operator who resumes both get
 * fresh evidence and the whole wait. */
static uint64_t wait_from(const struct state *s, const struct cluster *c, uint64_t t)
{
    return PGQ_MAX(t, PGQ_MAX(s->gen_since_ms, c->pause_ms));
}

static bool blocked(const struct cluster *c, const char *reason, struct command *out)
{
    if (strcmp(c->fo.blocked, reason) == 0) {
        return false;
    }
    command_init(out, CMD_BLOCKED);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    pgq_strlcpy(out->u.blocked.reason, reason, sizeof out->u.blocked.reason);
    return true;
}

static bool set_role(const struct cluster *c, const struct node *n, int role, struct command *out)
{
    command_init(out, CMD_SET_ROLE);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    pgq_strlcpy(out->node, n->name, sizeof out->node);
    out->u.set_role.role = role;
    out->u.set_role.epoch = c->epoch;
    return true;
}

/* Roles learned from observations: the first primary, standbys, rejoins. */
static bool next_role(const struct cluster *c, struct command *out)
{
    const struct node *writable = NULL;
    unsigned n_writable = 0;
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        const struct view *v = node_latest_view(n);
        if (v == NULL || !v->obs.reachable || n->twin_of[0] != '\0' || node_impostor(n)) {
            continue; /* a twin has the role of the node it is the twin of */
        }
        if (n->role == PGQ_ROLE_UNKNOWN && v->obs.in_recovery) {
            return set_role(c, n, PGQ_ROLE_STANDBY, out);
        }
        if (n->role == PGQ_ROLE_DEMOTED && v->obs.in_recovery && v->obs.streaming &&
            c->timeline != 0 && v->obs.timeline >= c->timeline) {
            return set_role(c, n, PGQ_ROLE_STANDBY, out);
        }
        /* Its agent's word is as good and sooner: it rejoined and streams
         * on the primary's timeline. */
        if (n->role == PGQ_ROLE_DEMOTED && n->agent.state == PGQ_AGENT_UP &&
            n->agent.rejoin == PGQ_RJ_STREAMING && n->agent.streaming && n->agent.in_recovery &&
            c->timeline != 0 && n->agent.timeline >= c->timeline &&
            n->agent.rejoin_epoch == c->epoch) {
            return set_role(c, n, PGQ_ROLE_STANDBY, out);
        }
        if (c->primary[0] == '\0' && n->role == PGQ_ROLE_UNKNOWN && view_obs_writable(&v->obs)) {
            writable = n;
            n_writable++;
        }
    }
    if (n_writable == 1) {
        /* Discovery: the first primary seen becomes epoch 1. */
        return set_role(c, writable, PGQ_ROLE_PRIMARY, out);
    }
    if (n_writable > 1) {
        return blocked(c,
                       "more than one node is writable and none is known as primary: "
                       "remove the node that is not the primary",
                       out);
    }
    return false;
}

/* The first step of a failover: once the primary is down for good, every
 * standby that is up stops following it (the cut) before one is chosen. */
static bool propose_cut(const struct cluster *c,
                        const struct node *p,
                        const char *reason,
                        struct command *out)
{
    command_init(out, CMD_CUT);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    out->u.cut.epoch = c->epoch;
    pgq_strlcpy(out->u.cut.old_primary, p->name, sizeof out->u.cut.old_primary);
    out->u.cut.down_ms = p->verdict_since_ms;
    pgq_strlcpy(out->u.cut.reason, reason, sizeof out->u.cut.reason);
    return true;
}

/* The agent's word that its PostgreSQL is down and stays down holds only if
 * this leader granted the node no lease since it was committed: a lease
 * granted later (to a restarted agent that knew nothing of it) may have
 * started it again. */
static bool confirmed_down(const struct policy_config *pc,
                           const struct cluster *c,
                           const struct node *p)
{
    const struct lease_entry *e;
    if (!agent_confirms_down(&p->agent)) {
        return false;
    }
    e = pc->leases != NULL ? lease_entry_find(pc->leases, c->name, p->name) : NULL;
    return e == NULL || e->granted_ms <= p->agent.facts_ms;
}

/* During the cut: wait (cut_timeout at most) for every standby that is up
 * to report its position after the cut, then choose among those that did. */
static bool next_decision(const struct state *s,
                          const struct cluster *c,
                          const struct policy_config *pc,
                          uint64_t now_ms,
                          struct command *out)
{
    uint64_t start = wait_from(s, c, c->fo.cut_ms);
    char waiting[PGQ_REASON_MAX] = "";
    char reason[PGQ_REASON_MAX];
    struct choice ch;
    const struct node *p = cluster_node(c, c->primary);
    /* Invariant 2 until the decision: should fewer than a majority see the
     * primary down any more (the monitors that did died, or a live one sees
     * it again), the cut is abandoned, and its standbys follow it again. A
     * candidate never promoted is replaced whatever it looks like. */
    if (c->fo.switchover) {
        /* Planned: no verdict is needed, only that it stays stopped. */
        if (p != NULL && p->agent.pm_alive) {
            command_init(out, CMD_ABANDON);
            pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
            out->u.abandon.round = c->fo.round;
            pgq_strlcpy(out->u.abandon.reason, "the primary runs again",
                        sizeof out->u.abandon.reason);
            return true;
        }
    } else if (!c->fo.unpromoted && !policy_fresh_down(s, p, pc, now_ms)) {
        uint64_t grace = pc->view_max_age_ms != 0 ? pc->view_max_age_ms : pc->failover_timeout_ms;
        /* A new leader counts only the views of its own generation, which
         * the monitors send again as soon as they see it begin: until they
         * could have (as long as a view lives), it waits, deciding nothing,
         * rather than abandon a cut its predecessor began for want of
         * evidence still on its way. */
        if (p != NULL && p->verdict == PGQ_VERDICT_DOWN && now_ms < s->gen_since_ms + grace) {
            return false;
        }
        command_init(out, CMD_ABANDON);
        pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
        out->u.abandon.round = c->fo.round;
        pgq_strlcpy(out->u.abandon.reason, "fewer than a majority of monitors see it down now",
                    sizeof out->u.abandon.reason);
        return true;
    }
    if (pc->tilt) {
        return blocked(c,
                       PGQ_HELD
                       "the leader's loop stalled (TILT); waiting for failover_timeout on a "
                       "steady clock",
                       out);
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        if (n->role == PGQ_ROLE_STANDBY && n->verdict == PGQ_VERDICT_UP && n->twin_of[0] == '\0' &&
            n->cut_round != c->fo.round && strcmp(n->name, c->primary) != 0) {
            pgq_appendf(waiting, sizeof waiting, "%s%s", waiting[0] ? ", " : "", n->name);
        }
    }
    if (waiting[0] != '\0' && now_ms < start + pc->cut_timeout_ms) {
        /* A cut takes milliseconds: say so only when it takes long. */
        if (now_ms < start + 1000) {
            return false;
        }
        snprintf(reason, sizeof reason, PGQ_HELD "cutting the standbys off %s: waiting for %s",
                 c->fo.old_primary, waiting);
        return blocked(c, reason, out);
    }
    policy_choose(s, c, pc, &ch);
    if (ch.node == NULL && c->fo.switchover) {
        /* Nothing lost, nothing to wait for: the old primary serves again. */
        command_init(out, CMD_ABANDON);
        pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
        out->u.abandon.round = c->fo.round;
        pgq_strlcpy(out->u.abandon.reason, ch.reason, sizeof out->u.abandon.reason);
        return true;
    }
    if (ch.node == NULL) {
        return blocked(c, ch.reason, out);
    }
    /* Invariant 7: an old primary with an agent stops acknowledging writes
     * before a new one is promoted: its agent confirmed it down, or every
     * lease any leader may have granted it has ended. */
    if (p != NULL && p->agent.state != PGQ_AGENT_NONE && !confirmed_down(pc, c, p) &&
        !(p->agent.unprotected && policy_unfenced_allowed(c, p))) {
        uint64_t end = pc->leases != NULL ? lease_end_ms(pc->leases, c->name, p->name) : UINT64_MAX;
        if (now_ms < end) {
            if (end == UINT64_MAX || now_ms + 1000 < end) {
                snprintf(reason, sizeof reason, PGQ_HELD "waiting for the lease of %s to end%s",
                         p->name, end == UINT64_MAX ? " (no lease book)" : "");
                return blocked(c, reason, out);
            }
            return false; /* less than a second: say nothing */
        }
    }
    command_init(out, CMD_DECIDE);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    pgq_strlcpy(out->node, ch.node->name, sizeof out->node);
    out->u.decide.epoch = c->epoch + 1;
    pgq_strlcpy(out->u.decide.old_primary, c->primary, sizeof out->u.decide.old_primary);
    out->u.decide.candidate_lsn = ch.lsn;
    out->u.decide.down_ms = c->fo.down_ms;
    out->u.decide.round = c->fo.round;
    out->u.decide.reference_lsn = ch.reference_lsn;
    pgq_strlcpy(out->u.decide.reason, ch.reason, sizeof out->u.decide.reason);
    return true;
}

static bool propose_switchover(const struct cluster *c,
                               bool begin,
                               const char *why,
                               struct command *out)
{
    command_init(out, CMD_SWITCHOVER);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    out->u.switchover.begin = begin;
    out->u.switchover.cancel = !begin;
    pgq_strlcpy(out->u.switchover.by, why, sizeof out->u.switchover.by);
    return true;
}

/* A planned switchover: begun at its time once the primary and a target
 * are fit; once the primary's agent said it stopped cleanly, the Cut (no
 * verdict needed); given up when it does not stop in time. */
static bool next_switchover(const struct state *s,
                            const struct cluster *c,
                            uint64_t now_ms,
                            struct command *out)
{
    const struct node *p = cluster_node(c, c->primary);
    char why[PGQ_REASON_MAX];
    if (c->sw.phase == PGQ_SW_NONE || c->fo.phase == PGQ_FO_CUTTING) {
        return false;
    }
    /* Paused: nothing automatic, and no primary left stopped meanwhile. */
    if (c->paused) {
        return propose_switchover(c, false, "pgquorum: the cluster was paused", out);
    }
    if (c->sw.phase == PGQ_SW_PENDING) {
        if (now_ms < c->sw.at_ms) {
            return false;
        }
        switchover_unfit(c, c->sw.target, why, sizeof why);
        if (why[0] == '\0') {
            return propose_switchover(c, true, "", out);
        }
        /* Unfit at its time for long: withdrawn, saying why, rather than
         * begun whenever it happens to be fit again. */
        if (now_ms >= PGQ_MAX(c->sw.at_ms, s->gen_since_ms) + PGQ_SW_STOP_MS) {
            char by[PGQ_NAME_MAX];
            snprintf(by, sizeof by, "pgquorum: %s", why);
            return propose_switchover(c, false, by, out);
        }
        return false;
    }
    if (switchover_stopped(c, p)) {
        char reason[PGQ_REASON_MAX];
        snprintf(reason, sizeof reason, "switchover to %s: %s stopped cleanly",
                 c->sw.target[0] ? c->sw.target : "the best standby", p->name);
        propose_cut(c, p, reason, out);
        out->u.cut.down_ms = c->sw.begun_ms; /* down since it was told to stop */
        return true;
    }
    /* A primary that does not stop (its agent died, an older agent) keeps
     * no lease either: its agent fences it, and the failover rules apply. */
    if (now_ms >= PGQ_MAX(c->sw.begun_ms, s->gen_since_ms) + PGQ_SW_STOP_MS) {
        return propose_switchover(c, false, "pgquorum: the primary did not stop in time", out);
    }
    return false;
}

static bool next_failover(const struct state *s,
                          const struct cluster *c,
                          const struct policy_config *pc,
                          uint64_t now_ms,
                          struct command *out)
{
    const struct node *p = cluster_node(c, c->primary);
    uint64_t start;
    char reason[PGQ_REASON_MAX];
    if (p == NULL) {
        return false;
    }
    /* Pause: no failover begins or moves on (no cut, decision, retry or
     * abandon); a decision already committed is carried out (next_done,
     * policy_actions). While one would go on, the reason says so. */
    if (c->paused) {
        bool would = p->verdict == PGQ_VERDICT_DOWN || c->fo.phase == PGQ_FO_CUTTING ||
                     (c->fo.phase == PGQ_FO_GAVE_UP && c->fo.epoch == c->epoch);
        snprintf(reason, sizeof reason,
                 "paused: no automatic failover until an operator resumes the cluster "
                 "(pgquorumctl resume --cluster %s)",
                 c->name);
        return blocked(c, would ? reason : "", out);
    }
    if (c->fo.phase == PGQ_FO_CUTTING) {
        return next_decision(s, c, pc, now_ms, out);
    }
    /* A candidate that could not be promoted is replaced at once: it is up,
     * and holds no write anyone acknowledged; when no other standby can
     * replace it, it is tried again after retry_ms. */
    if (c->fo.phase == PGQ_FO_GAVE_UP && c->fo.epoch == c->epoch) {
        char why[PGQ_REASON_MAX];
        if (policy_plausible_candidates(c, p, true, why, sizeof why) > 0) {
            snprintf(reason, sizeof reason, "the promotion of %s was given up", p->name);
            return propose_cut(c, p, reason, out);
        }
        if (now_ms >= wait_from(s, c, c->fo.gave_up_ms) + pc->retry_ms) {
            command_init(out, CMD_STEP);
            pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
            pgq_strlcpy(out->node, p->name, sizeof out->node);
            out->u.step.epoch = c->epoch;
            out->u.step.kind = PGQ_STEP_RETRY;
            return true;
        }
        snprintf(reason, sizeof reason,
                 PGQ_HELD
                 "the promotion of %s was given up and no other standby can replace it "
                 "(%s): it is tried again after promote_timeout",
                 p->name, why[0] ? why : "none");
        return blocked(c, reason, out);
    }
    if (p->verdict != PGQ_VERDICT_DOWN) {
        /* Seen down only by monitors that were overloaded: no verdict,
         * and the reason shown. */
        if (policy_overload_held_views(s, p, pc, now_ms, reason, sizeof reason)) {
            return blocked(c, reason, out);
        }
        return blocked(c, "", out);
    }
    /* A primary in maintenance is failed over only if the operator allowed it. */
    if (p->maintenance && !p->maintenance_allow_failover) {
        snprintf(reason, sizeof reason,
                 "primary %s is in maintenance (pgquorumctl maintenance on %s --allow-failover "
                 "allows a failover)",
                 p->name, p->name);
        return blocked(c, reason, out);
    }
    /* An agent that fell silent while its PostgreSQL kept running fenced
     * nothing: should that PostgreSQL vanish now, it may still be taking
     * writes where the monitors cannot see it. */
    if (p->agent.state == PGQ_AGENT_SILENT && p->agent.unprotected &&
        !policy_unfenced_allowed(c, p)) {
        snprintf(reason, sizeof reason,
                 "primary %s cannot be proven fenced: its agent fell silent while it kept "
                 "running, and it named no synchronous standby the cut would stop (allow it "
                 "with pgquorumctl failover --allow-unfenced %s)",
                 p->name, p->name);
        return blocked(c, reason, out);
    }
    start = wait_from(s, c, p->verdict_since_ms);
    /* failover_timeout tells a crash from a restart seen from outside. The
     * agent sees it from inside: it said PostgreSQL is down and stays down,
     * or it fell silent together with it (nobody is left to restart it).
     * Not so a primary it stopped cleanly for a switchover that did not
     * happen (cancelled, abandoned): it starts it again (lease.c). */
    if ((agent_confirms_down(&p->agent) && p->agent.stopped_lsn == 0) ||
        (p->agent.state == PGQ_AGENT_SILENT && !p->agent.unprotected)) {
        start = start > pc->failover_timeout_ms ? start - pc->failover_timeout_ms : 0;
    }
    /* A promotion committed since the verdict proves the node was up then:
     * it must stay down for the whole timeout after it. */
    if (c->fo.epoch == c->epoch && (c->fo.phase == PGQ_FO_PROMOTED || c->fo.phase == PGQ_FO_DONE)) {
        start = PGQ_MAX(start, c->fo.promoted_ms);
    }
    if (now_ms < start + pc->failover_timeout_ms) {
        return false;
    }
    /* From here on, whatever holds the failover back is committed, so that
     * status and events say why. Invariant 2: a failover needs a majority
     * verdict, and only views reported to the current leader count: after a
     * restart or a leader change, fresh evidence is required. */
    if (!policy_fresh_down(s, p, pc, now_ms)) {
        if (policy_overload_held_views(s, p, pc, now_ms, reason, sizeof reason)) {
            return blocked(c, reason, out);
        }
        return blocked(c,
                       PGQ_HELD
                       "fewer than a majority of monitors have seen the primary down "
                       "since the current leader took over",
                       out);
    }
    if (policy_overload_storm(s, pc, now_ms, reason, sizeof reason)) {
        return blocked(c, reason, out);
    }
    if (pc->tilt) {
        return blocked(c,
                       PGQ_HELD
                       "the leader's clock jumped or its loop stalled (TILT); "
                       "waiting for failover_timeout on a steady clock",
                       out);
    }
    /* No standby could end the failover: no cut either (the primary may
     * be alive, and its standbys keep following it). */
    {
        char why[PGQ_REASON_MAX];
        if (policy_plausible_candidates(c, p, false, why, sizeof why) == 0) {
            snprintf(reason, sizeof reason, "no eligible standby%s%s", why[0] ? ": " : "", why);
            return blocked(c, reason, out);
        }
    }
    snprintf(reason, sizeof reason, "down by verdict since %" PRIu64 " ms",
             now_ms > p->verdict_since_ms ? now_ms - p->verdict_since_ms : 0);
    return propose_cut(c, p, reason, out);
}

/* A promoted failover is done when every standby that is up by verdict
 * follows the new primary: those are the ones repointed (policy_actions). A
 * standby seen by too few monitors to be up is repointed once it is up; one
 * that cannot follow needs a rejoin (demoted), and one that does not follow
 * in time (stuck) is still repointed, but holds nothing open. */
static bool next_done(const struct cluster *c, struct command *out)
{
    if (c->fo.phase != PGQ_FO_PROMOTED) {
        return false;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        if (n->role == PGQ_ROLE_STANDBY && n->verdict == PGQ_VERDICT_UP &&
            n->following_epoch < c->epoch && n->twin_of[0] == '\0' && n->stuck_epoch != c->epoch) {
            return false;
        }
    }
    command_init(out, CMD_STEP);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    out->u.step.epoch = c->epoch;
    out->u.step.kind = PGQ_STEP_DONE;
    return true;
}

static bool next_of_cluster(const struct state *s,
                            const struct cluster *c,
                            const struct policy_config *pc,
                            uint64_t now_ms,
                            struct command *out)
{
    return next_role(c, out) || next_switchover(s, c, now_ms, out) || policy_next_sync(c, out) ||
           next_failover(s, c, pc, now_ms, out) || next_done(c, out);
}

bool policy_next_command(const struct state *s,
                         const struct policy_config *pc,
                         uint64_t now_ms,
                         struct command *out)
{
    return policy_next_commands(s, pc, now_ms, out, 1) == 1;
}

/* The memo of what the walk found of c still holds: nothing was applied
 * to c, nor to the state as a whole, since (cluster_apply counts both). */
static bool memo_holds(const struct state *s,
                       const struct cluster *c,
                       const struct policy_config *pc,
                       const struct policy_memo *m)
{
    return m->valid && m->changes == c->changes && m->state_changes == s->changes &&
           m->slots == (pc != NULL && pc->replication_slots);
}

static void memo_set(const struct state *s,
                     const struct cluster *c,
                     const struct policy_config *pc,
                     struct policy_memo *m)
{
    m->valid = true;
    m->changes = c->changes;
    m->state_changes = s->changes;
    m->slots = pc != NULL && pc->replication_slots;
}

/* A cluster that needs no command now needs none later either until
 * something is applied to it, unless time alone can change that: its
 * primary down or seen down by a monitor (failover_timeout, the age of
 * views, overload), a failover cutting or given up (cut_timeout,
 * retry_ms), a switchover under way or due (its time, PGQ_SW_STOP_MS).
 * next_of_cluster() reads the clock on those paths only. */
static bool quiet(const struct cluster *c)
{
    const struct node *p = cluster_node(c, c->primary);
    if (c->fo.phase == PGQ_FO_CUTTING || c->fo.phase == PGQ_FO_GAVE_UP ||
        c->sw.phase != PGQ_SW_NONE) {
        return false;
    }
    if (p == NULL) {
        return true;
    }
    return p->verdict != PGQ_VERDICT_DOWN && !node_seen_down(p);
}

static unsigned next_commands(struct state *memo,
                              const struct state *s,
                              const struct policy_config *pc,
                              uint64_t now_ms,
                              struct command *out,
                              unsigned max);

unsigned policy_next_commands(const struct state *s,
                              const struct policy_config *pc,
                              uint64_t now_ms,
                              struct command *out,
                              unsigned max)
{
    return next_commands(NULL, s, pc, now_ms, out, max);
}

unsigned policy_next_commands_memo(struct state *s,
                                   const struct policy_config *pc,
                                   uint64_t now_ms,
                                   struct command *out,
                                   unsigned max)
{
    return next_commands(s, s, pc, now_ms, out, max);
}

static unsigned next_commands(struct state *memo,
                              const struct state *s,
                              const struct policy_config *pc,
                              uint64_t now_ms,
                              struct command *out,
                              unsigned max)
{
    unsigned n = 0;
    if (max == 0) {
        return 0;
    }
    if (policy_next_feature(s, out) || policy_next_bounds(s, pc, out)) {
        return 1;
    }
    /* Agents first: a failover may wait on what they said. */
    if (policy_next_agent(s, pc, now_ms, out)) {
        return 1;
    }
    /* Then one command per cluster: what one cluster needs next depends on
     * its own state only, so those of different clusters do not change one
     * another and may go in one batch. */
    for (unsigned i = 0; i < s->n_clusters && n < max; i++) {
        const struct cluster *c = &s->clusters[i];
        if (memo != NULL && memo_holds(s, c, pc, &c->quiet_memo)) {
            continue;
        }
        if (next_of_cluster(s, c, pc, now_ms, &out[n])) {
            n++;
        } else if (memo != NULL && quiet(c)) {
            memo_set(s, c, pc, &memo->clusters[i].quiet_memo);
        }
    }
    return n;
}

static bool seen_out_of_recovery(const struct node *n)
{
    const struct view *v = node_latest_view(n);
    return v != NULL && v->obs.reachable && !v->obs.in_recovery;
}

/* The one action due on `node` of cluster c whose primary is p, or 0. A
 * node has at most one: promote (the candidate of a decision), fence (a
 * writable non-primary), cut (a standby, while a failover begins) or
 * repoint (a standby not confirmed to follow). */
static int node_action(const struct state *s,
                       const struct policy_config *pc,
                       const struct cluster *c,
                       const struct node *p,
                       const struct node *node)
{
    if (node->twin_of[0] != '\0') {
        return 0; /* the same server as another node: acted on under that name only */
    }
    if (node_impostor(node)) {
        return 0; /* another server answers for it: not ours to act on */
    }
    if (node == p) {
        /* Invariant 3: the committed decision is carried out by whoever
         * leads; promotion is idempotent (checked first). With managed
         * synchronous replication, once the candidate's set is committed:
         * it runs it from its first write. */
        if (c->fo.phase == PGQ_FO_DECIDED) {
            /* (A set that cannot be committed, 8 older ones unconfirmed,
             * does not hold the promotion for ever: it writes none.) */
            return !policy_sync_managed(c) || policy_sync_text(c, NULL, 0) || !policy_sync_room(c)
                       ? ACT_PROMOTE
                       : 0;
        }
        if (policy_sync_apply_due(c, p)) {
            return ACT_SYNC;
        }
        return policy_slots_due(s, pc, c, p) ? ACT_SLOTS : 0;
    }
    if (node->alert_writable && node->fenced_epoch < c->epoch) {
        return ACT_FENCE;
    }
    if (node->role != PGQ_ROLE_STANDBY) {
        return 0;
    }
    if (c->fo.phase == PGQ_FO_CUTTING) {
        /* Cut before promote: every standby that is up stops following
         * the old primary before one is chosen; not while paused (the cut
         * is held where it is). */
        return node->verdict == PGQ_VERDICT_UP && node->cut_round != c->fo.round && !c->paused
                   ? ACT_CUT
                   : 0;
    }
    /* A standby seen out of recovery (a promotion given up that completed
     * after all, read-only as it was left) follows no one, whatever it was
     * confirmed to do: the repoint finds it cannot follow (a rejoin). One
     * that follows without its slot is repointed to take it. */
    if (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP ||
        node->verdict != PGQ_VERDICT_UP || p->verdict == PGQ_VERDICT_DOWN) {
        return 0;
    }
    /* Paused: only what a failover owes its standbys is carried out, the
     * repoints of a promoted one and of a standby a cut left following no
     * one (the cut was abandoned, its primary up again); no other standby
     * is touched. */
    if (c->paused && c->fo.phase != PGQ_FO_PROMOTED &&
        !(node->following_epoch == 0 && node->cut_round != 0)) {
        return 0;
    }
    if (node->following_epoch >= c->epoch && !seen_out_of_recovery(node) &&
        !policy_streams_unslotted(s, pc, c, node)) {
        return 0;
    }
    return ACT_REPOINT;
}

static void action_fill(struct action *a,
                        int kind,
                        const struct state *s,
                        const struct policy_config *pc,
                        const struct cluster *c,
                        const struct node *p,
                        const struct node *node)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->epoch = c->epoch;
    pgq_strlcpy(a->cluster, c->name, sizeof a->cluster);
    pgq_strlcpy(a->node, node->name, sizeof a->node);
    a->reg_seq = node->reg_seq;
    pgq_strlcpy(a->conninfo, node->conninfo, sizeof a->conninfo);
    switch (kind) {
        case ACT_REPOINT:
            pgq_strlcpy(a->primary, p->name, sizeof a->primary);
            pgq_strlcpy(a->primary_conninfo, p->conninfo, sizeof a->primary_conninfo);
            a->timeline = c->timeline;
            a->parent_tli = c->parent_tli;
            a->lsn = c->fork_lsn;
            policy_repoint_slot(s, pc, c, node, a->slot, sizeof a->slot);
            break;
        case ACT_SLOTS:
            a->round = c->members_gen;
            break;
        case ACT_CUT:
            a->round = c->fo.round;
            pgq_strlcpy(a->primary, c->fo.old_primary, sizeof a->primary);
            break;
        case ACT_PROMOTE:
            /* Where it forks off, should its history file not be readable. */
            a->parent_tli = node->cut_tli;
            a->lsn = node->cut_round == c->fo.round && c->fo.round != 0 ? node->cut_lsn : 0;
            a->sync_managed = policy_sync_managed(c) &&
                              policy_sync_text(c, a->sync_setting, sizeof a->sync_setting);
            break;
        case ACT_SYNC:
            a->round = c->sync.set.seq;
            policy_sync_text(c, a->sync_setting, sizeof a->sync_setting);
            break;
        default:
            break;
    }
}

static unsigned actions(struct state *memo,
                        const struct state *s,
                        const struct policy_config *pc,
                        struct action *out,
                        unsigned max);

unsigned policy_actions(const struct state *s,
                        const struct policy_config *pc,
                        struct action *out,
                        unsigned max)
{
    return actions(NULL, s, pc, out, max);
}

unsigned policy_actions_memo(struct state *s,
                             const struct policy_config *pc,
                             struct action *out,
                             unsigned max)
{
    return actions(s, s, pc, out, max);
}

/* node_action() reads the committed state and pc->replication_slots only,
 * never the clock: a cluster with no action due has none until something
 * is applied to it (memo_holds). */
static unsigned actions(struct state *memo,
                        const struct state *s,
                        const struct policy_config *pc,
                        struct action *out,
                        unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *p;
        unsigned before = n;
        if (memo != NULL && memo_holds(s, c, pc, &c->calm_memo)) {
            continue;
        }
        p = cluster_node(c, c->primary);
        if (p == NULL) {
            if (memo != NULL) {
                memo_set(s, c, pc, &memo->clusters[i].calm_memo);
            }
            continue;
        }
        /* The primary first: a promotion is the most urgent action. */
        for (unsigned k = 0; k <= c->n_nodes; k++) {
            const struct node *node = k == 0 ? p : &c->nodes[k - 1];
            int kind = k > 0 && node == p ? 0 : node_action(s, pc, c, p, node);
            if (kind != 0) {
                if (n < max) {
                    action_fill(&out[n], kind, s, pc, c, p, node);
                }
                n++;
            }
        }
        if (memo != NULL && n == before) {
            memo_set(s, c, pc, &memo->clusters[i].calm_memo);
        }
    }
    return n;
}

const char *policy_action_name(int kind)
{
    switch (kind) {
        case ACT_PROMOTE:
            return "promote";
        case ACT_REPOINT:
            return "repoint";
        case ACT_FENCE:
            return "fence";
        case ACT_CUT:
            return "cut";
        case ACT_SLOTS:
            return "slots";
        case ACT_SYNC:
            return "sync";
        default:
            return "?";
    }
}

bool policy_action_same(const struct action *x, const struct action *y)
{
    return x->kind == y->kind && x->epoch == y->epoch && x->round == y->round &&
           x->reg_seq == y->reg_seq && strcmp(x->cluster, y->cluster) == 0 &&
           strcmp(x->node, y->node) == 0;
}

bool policy_action_due(const struct state *s,
                       const struct policy_config *pc,
                       const struct action *a)
{
    const struct cluster *c = state_cluster(s, a->cluster);
    const struct node *p = c != NULL ? cluster_node(c, c->primary) : NULL;
    const struct node *node = cluster_node(c, a->node);
    return p != NULL && node != NULL && c->epoch == a->epoch && node->reg_seq == a->reg_seq &&
           node_action(s, pc, c, p, node) == a->kind &&
           (a->kind != ACT_CUT || a->round == c->fo.round) &&
           (a->kind != ACT_SLOTS || a->round == c->members_gen) &&
           (a->kind != ACT_SYNC || a->round == c->sync.set.seq);
}
