/* Policy: verdict freshness, candidate choice, and the next command or
 * action for the leader. Pure: see policy.h. */
#include "policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

bool policy_fresh_down(const struct state *s,
                       const struct node *n,
                       const struct policy_config *pc,
                       uint64_t now_ms)
{
    unsigned down = 0;
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &n->views[i];
        /* A monitor that keeps seeing a node down refreshes its view every
         * health interval; an older view is from a monitor that died or was
         * cut off, and counts for nothing (Invariant 2). */
        bool aged = pc->view_max_age_ms != 0 && now_ms > v->applied_ms + pc->view_max_age_ms;
        if (v->monitor_id != 0 && v->gen == s->leader_gen && !v->obs.reachable && !aged &&
            state_is_voter(s, v->monitor_id)) {
            down++;
        }
    }
    return down >= state_majority(s);
}

bool policy_fresh_position(const struct node *n, uint64_t seq, uint64_t *lsn)
{
    return node_fresh_position(n, seq, lsn);
}

/* The primary's last known WAL position, from any monitor, any time: the
 * views (a monitor that still reaches it) and what the state kept after the
 * views turned to "down". */
static uint64_t primary_last_lsn(const struct node *p)
{
    uint64_t lsn = p->last_write_lsn;
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct obs *o = &p->views[i].obs;
        if (p->views[i].monitor_id != 0 && o->reachable && !o->in_recovery) {
            lsn = PGQ_MAX(lsn, o->current_lsn);
        }
    }
    return lsn;
}

/* How far a synchronous standby may have acknowledged, known for sure only
 * from a fresh probe of it that saw a receive position (after a restart a
 * standby has none until it streams, and its replay position trails what it
 * had flushed and acknowledged). */
static bool sync_holder_position(const struct node *n, uint64_t since_seq, uint64_t *lsn)
{
    bool found = false;
    *lsn = 0;
    if (n->verdict != PGQ_VERDICT_UP) {
        return false;
    }
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct obs *o = &n->views[i].obs;
        if (n->views[i].monitor_id != 0 && o->reachable && o->in_recovery &&
            o->basis_seq >= since_seq && o->receive_lsn != 0) {
            *lsn = PGQ_MAX(*lsn, PGQ_MAX(o->receive_lsn, o->replay_lsn));
            found = true;
        }
    }
    return found;
}

/* Synchronous replication: a commit the primary acknowledged is on at least
 * one of the standbys it named synchronous (sync or quorum state), so the new
 * primary must be at least as far as the most advanced of them. Each one
 * counts with its own fresh position when it is up (it cannot have
 * acknowledged beyond what it holds); when it is not, a standby the primary
 * no longer named counts with where the primary was then (left_lsn), and one
 * still named leaves that unknown: no failover (false, with the reason). A
 * standby in maintenance is not counted: the operator's way to fail over
 * without it. Names that are no registered node are not judged: pgquorum
 * knows a standby's application_name only when it is its name. */
static bool sync_floor(const struct cluster *c,
                       const struct node *p,
                       uint64_t since_seq,
                       uint64_t *floor,
                       const char **holder,
                       char *why,
                       size_t size)
{
    *floor = 0;
    *holder = NULL;
    for (unsigned i = 0; i < p->n_sync; i++) {
        const struct sync_standby *e = &p->sync[i];
        const struct node *n = cluster_node(c, e->name);
        uint64_t lsn;
        if (n == NULL || n == p || n->maintenance) {
            continue;
        }
        if (!sync_holder_position(n, since_seq, &lsn)) {
            if (e->left_lsn == 0) {
                snprintf(why, size,
                         "synchronous standby %s is %s: another standby may lack commits the "
                         "primary acknowledged (maintenance on %s to fail over without it)",
                         n->name,
                         n->verdict == PGQ_VERDICT_UP ? "without a fresh position"
                                                      : pgq_verdict_name(n->verdict),
                         n->name);
                return false;
            }
            lsn = e->left_lsn;
        }
        if (*holder == NULL || lsn > *floor) {
            *floor = lsn;
            *holder = n->name;
        }
    }
    return true;
}

struct cand
{
    const struct node *node;
    uint64_t lsn;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->lsn != y->lsn) {
        return x->lsn > y->lsn ? -1 : 1;
    }
    if (x->node->priority != y->node->priority) {
        return x->node->priority > y->node->priority ? -1 : 1;
    }
    return strcmp(x->node->name, y->node->name);
}

void policy_choose(const struct state *s,
                   const struct cluster *c,
                   const struct policy_config *pc,
                   struct choice *out)
{
    const struct node *p = cluster_node(c, c->primary);
    struct cand cands[PGQ_MAX_NODES];
    unsigned n_cands = 0;
    char why[PGQ_REASON_MAX] = "";
    char waiting[PGQ_REASON_MAX] = "";
    uint64_t since_seq = p != NULL ? p->verdict_seq : 0;
    uint64_t floor = 0;
    const char *holder = NULL;

    memset(out, 0, sizeof *out);
    out->reference_lsn = p != NULL ? primary_last_lsn(p) : 0;
    /* Invariant 4: the primary of a decided epoch holds at least the position
     * it was chosen at, even if no monitor saw it writable yet; and until it
     * is promoted, the writes to keep are those of the primary it replaces. */
    if (c->fo.phase != PGQ_FO_NONE && c->fo.epoch == c->epoch) {
        const struct node *old = cluster_node(c, c->fo.old_primary);
        out->reference_lsn = PGQ_MAX(out->reference_lsn, c->fo.candidate_lsn);
        if (c->fo.phase == PGQ_FO_DECIDED && old != NULL) {
            out->reference_lsn = PGQ_MAX(out->reference_lsn, primary_last_lsn(old));
        }
    }

    /* First pass: fresh positions, and the most advanced one known. */
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        uint64_t lsn;
        if (n == p || n->role != PGQ_ROLE_STANDBY || n->twin_of[0] != '\0') {
            continue;
        }
        if (n->verdict != PGQ_VERDICT_UP) {
            pgq_appendf(why, sizeof why, "%s%s: %s", why[0] ? "; " : "", n->name,
                        pgq_verdict_name(n->verdict));
            continue;
        }
        /* Fresh positions only: probed after the primary was found down,
         * never a stale one from before the failure. */
        if (!policy_fresh_position(n, since_seq, &lsn)) {
            pgq_appendf(waiting, sizeof waiting, "%s%s", waiting[0] ? ", " : "", n->name);
            continue;
        }
        out->reference_lsn = PGQ_MAX(out->reference_lsn, lsn);
        if (n->priority == 0) {
            pgq_appendf(why, sizeof why, "%s%s: priority 0", why[0] ? "; " : "", n->name);
            continue;
        }
        if (n->maintenance) {
            pgq_appendf(why, sizeof why, "%s%s: in maintenance", why[0] ? "; " : "", n->name);
            continue;
        }
        cands[n_cands].node = n;
        cands[n_cands].lsn = lsn;
        n_cands++;
    }
    if (waiting[0] != '\0') {
        out->wait = true;
        snprintf(out->reason, sizeof out->reason,
                 PGQ_HELD "waiting for WAL positions probed after the primary failed from: %s",
                 waiting);
        return;
    }
    if (p != NULL &&
        !sync_floor(c, p, since_seq, &floor, &holder, out->reason, sizeof out->reason)) {
        return;
    }
    /* Invariant 4: no promotion of a standby behind beyond the limit, nor
     * of one behind the synchronous standbys. */
    for (unsigned i = 0; i < n_cands;) {
        if (cands[i].lsn < floor) {
            char l1[32], l2[32];
            pgq_lsn_format(cands[i].lsn, l1, sizeof l1);
            pgq_lsn_format(floor, l2, sizeof l2);
            pgq_appendf(why, sizeof why,
                        "%s%s: at %s, behind %s, which synchronous standby %s may have "
                        "acknowledged",
                        why[0] ? "; " : "", cands[i].node->name, l1, l2, holder);
            cands[i] = cands[--n_cands];
            continue;
        }
        uint64_t lag = out->reference_lsn > cands[i].lsn ? out->reference_lsn - cands[i].lsn : 0;
        if (lag > pc->max_lag_bytes) {
            pgq_appendf(why, sizeof why,
                        "%s%s: lag %" PRIu64 " bytes > max_lag_on_failover %" PRIu64,
                        why[0] ? "; " : "", cands[i].node->name, lag, pc->max_lag_bytes);
            cands[i] = cands[--n_cands];
            continue;
        }
        i++;
    }
    if (n_cands == 0) {
        snprintf(out->reason, sizeof out->reason, "no eligible standby%s%s", why[0] ? ": " : "",
                 why);
        return;
    }
    qsort(cands, n_cands, sizeof cands[0], cand_cmp);
    out->node = cands[0].node;
    out->lsn = cands[0].lsn;
    {
        char l1[32], l2[32];
        pgq_lsn_format(out->lsn, l1, sizeof l1);
        pgq_lsn_format(out->reference_lsn, l2, sizeof l2);
        snprintf(out->reason, sizeof out->reason,
                 "most advanced eligible standby at %s (most advanced known %s), priority %u", l1,
                 l2, out->node->priority);
    }
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
        if (v == NULL || !v->obs.reachable || n->twin_of[0] != '\0') {
            continue; /* a twin has the role of the node it is the twin of */
        }
        if (n->role == PGQ_ROLE_UNKNOWN && v->obs.in_recovery) {
            return set_role(c, n, PGQ_ROLE_STANDBY, out);
        }
        if (n->role == PGQ_ROLE_DEMOTED && v->obs.in_recovery && v->obs.streaming &&
            c->fo.timeline != 0 && v->obs.timeline >= c->fo.timeline) {
            return set_role(c, n, PGQ_ROLE_STANDBY, out);
        }
        if (c->primary[0] == '\0' && n->role == PGQ_ROLE_UNKNOWN && obs_writable(&v->obs)) {
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

static bool next_failover(const struct state *s,
                          const struct cluster *c,
                          const struct policy_config *pc,
                          uint64_t now_ms,
                          struct command *out)
{
    const struct node *p = cluster_node(c, c->primary);
    struct choice ch;
    uint64_t start;
    char reason[PGQ_REASON_MAX];
    if (p == NULL) {
        return false;
    }
    if (p->verdict != PGQ_VERDICT_DOWN) {
        return blocked(c, "", out);
    }
    if (p->maintenance) {
        snprintf(reason, sizeof reason, "primary %s is in maintenance", p->name);
        return blocked(c, reason, out);
    }
    start = PGQ_MAX(p->verdict_since_ms, s->gen_since_ms);
    /* A promotion committed since the verdict proves the node was up then:
     * it must stay down for the whole timeout after it. */
    if (c->fo.epoch == c->epoch && c->fo.phase >= PGQ_FO_PROMOTED) {
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
        return blocked(c,
                       PGQ_HELD
                       "fewer than a majority of monitors have seen the primary down "
                       "since the current leader took over",
                       out);
    }
    if (pc->tilt) {
        return blocked(c,
                       PGQ_HELD
                       "the leader's clock jumped or its loop stalled (TILT); "
                       "waiting for failover_timeout on a steady clock",
                       out);
    }
    policy_choose(s, c, pc, &ch);
    if (ch.node == NULL) {
        return blocked(c, ch.reason, out);
    }
    command_init(out, CMD_DECIDE);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    pgq_strlcpy(out->node, ch.node->name, sizeof out->node);
    out->u.decide.epoch = c->epoch + 1;
    pgq_strlcpy(out->u.decide.old_primary, p->name, sizeof out->u.decide.old_primary);
    out->u.decide.candidate_lsn = ch.lsn;
    out->u.decide.down_ms = p->verdict_since_ms;
    pgq_strlcpy(out->u.decide.reason, ch.reason, sizeof out->u.decide.reason);
    return true;
}

/* A promoted failover is done when every standby that is up by verdict
 * follows the new primary: those are the ones repointed (policy_actions). A
 * standby seen by too few monitors to be up is repointed once it is up. */
static bool next_done(const struct cluster *c, struct command *out)
{
    if (c->fo.phase != PGQ_FO_PROMOTED) {
        return false;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        if (n->role == PGQ_ROLE_STANDBY && n->verdict == PGQ_VERDICT_UP &&
            n->following_epoch < c->epoch && n->twin_of[0] == '\0') {
            return false;
        }
    }
    command_init(out, CMD_STEP);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    out->u.step.epoch = c->epoch;
    out->u.step.kind = PGQ_STEP_DONE;
    return true;
}

bool policy_next_command(const struct state *s,
                         const struct policy_config *pc,
                         uint64_t now_ms,
                         struct command *out)
{
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        if (next_role(c, out) || next_failover(s, c, pc, now_ms, out) || next_done(c, out)) {
            return true;
        }
    }
    return false;
}

/* The one action due on `node` of cluster c whose primary is p, or 0. A
 * node has at most one: promote (the candidate of a decision), fence (a
 * writable non-primary) or repoint (a standby not confirmed to follow). */
static int node_action(const struct cluster *c, const struct node *p, const struct node *node)
{
    if (node->twin_of[0] != '\0') {
        return 0; /* the same server as another node: acted on under that name only */
    }
    if (node == p) {
        /* Invariant 3: the committed decision is carried out by whoever
         * leads; promotion is idempotent (checked first). */
        return c->fo.phase == PGQ_FO_DECIDED ? ACT_PROMOTE : 0;
    }
    if (node->alert_writable && node->fenced_epoch < c->epoch) {
        return ACT_FENCE;
    }
    if (c->fo.phase == PGQ_FO_DECIDED || node->role != PGQ_ROLE_STANDBY ||
        node->following_epoch >= c->epoch || node->verdict != PGQ_VERDICT_UP ||
        p->verdict == PGQ_VERDICT_DOWN) {
        return 0;
    }
    return ACT_REPOINT;
}

static void action_fill(struct action *a,
                        int kind,
                        const struct cluster *c,
                        const struct node *p,
                        const struct node *node)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->epoch = c->epoch;
    pgq_strlcpy(a->cluster, c->name, sizeof a->cluster);
    pgq_strlcpy(a->node, node->name, sizeof a->node);
    pgq_strlcpy(a->conninfo, node->conninfo, sizeof a->conninfo);
    if (kind == ACT_REPOINT) {
        pgq_strlcpy(a->primary, p->name, sizeof a->primary);
        pgq_strlcpy(a->primary_conninfo, p->conninfo, sizeof a->primary_conninfo);
        a->timeline = c->fo.timeline;
    }
}

unsigned policy_actions(const struct state *s, struct action *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *p = cluster_node(c, c->primary);
        if (p == NULL) {
            continue;
        }
        /* The primary first: a promotion is the most urgent action. */
        for (unsigned k = 0; k <= c->n_nodes; k++) {
            const struct node *node = k == 0 ? p : &c->nodes[k - 1];
            int kind = k > 0 && node == p ? 0 : node_action(c, p, node);
            if (kind != 0) {
                if (n < max) {
                    action_fill(&out[n], kind, c, p, node);
                }
                n++;
            }
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
        default:
            return "?";
    }
}

bool policy_action_same(const struct action *x, const struct action *y)
{
    return x->kind == y->kind && x->epoch == y->epoch && strcmp(x->cluster, y->cluster) == 0 &&
           strcmp(x->node, y->node) == 0;
}

bool policy_action_due(const struct state *s, const struct action *a)
{
    const struct cluster *c = state_cluster(s, a->cluster);
    const struct node *p = c != NULL ? cluster_node(c, c->primary) : NULL;
    const struct node *node = cluster_node(c, a->node);
    return p != NULL && node != NULL && c->epoch == a->epoch && node_action(c, p, node) == a->kind;
}
