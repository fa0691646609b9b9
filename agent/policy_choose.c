/* policy_choose: the candidate of a failover, Invariant 4: what the last
 * writable primary may have acknowledged (its own positions, its standbys'
 * evidence, the synchronous floor, managed or observed) and which standby
 * cut in this round holds it, plus the standbys that could be promoted at
 * all. Pure: see policy.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "policy.h"
#include "policy_internal.h"

/* The primary's last known WAL position, from any monitor, any time: the
 * views (a monitor that still reaches it) and what the state kept after the
 * views turned to "down". */
static uint64_t primary_last_lsn(const struct node *p)
{
    uint64_t lsn = p->last_write_lsn;
    for (unsigned i = 0; i < p->n_views; i++) {
        const struct view_obs *o = &p->views[i].obs;
        if (p->views[i].monitor_id != 0 && o->reachable && !o->in_recovery) {
            lsn = PGQ_MAX(lsn, o->current_lsn);
        }
    }
    return lsn;
}

/* The timeline of the primary's WAL: from its promotion, else as its
 * latest writable view says (0: unknown). */
static uint32_t primary_tli(const struct cluster *c, const struct node *p)
{
    const struct view *best = NULL;
    if (c->timeline != 0) {
        return c->timeline;
    }
    for (unsigned i = 0; i < p->n_views; i++) {
        const struct view *v = &p->views[i];
        if (v->monitor_id != 0 && v->obs.reachable && !v->obs.in_recovery &&
            (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best != NULL ? best->obs.timeline : 0;
}

/* Invariant 4, the freshest evidence of how far the primary wrote: besides
 * what its own probes saw (primary_last_lsn), every standby that streams
 * from it hears its end of WAL with every message (latest_end_lsn: within
 * a record or two of the truth while it streams) and keeps that value when
 * the stream breaks; a cut standby says what it last heard; and whatever a
 * standby received, the primary wrote. Only standbys on the primary's
 * timeline count: another timeline's positions are another history. */
static uint64_t standby_evidence(const struct cluster *c, const struct node *p, uint32_t tli)
{
    uint64_t lsn = 0;
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        if (n == p || n->role != PGQ_ROLE_STANDBY || n->twin_of[0] != '\0') {
            continue;
        }
        if (c->fo.phase == PGQ_FO_CUTTING && n->cut_round == c->fo.round && n->cut_tli == tli) {
            lsn = PGQ_MAX(lsn, n->cut_upstream_lsn);
        }
        for (unsigned k = 0; k < n->n_views; k++) {
            const struct view_obs *o = &n->views[k].obs;
            if (n->views[k].monitor_id != 0 && o->reachable && o->in_recovery &&
                o->timeline == tli) {
                lsn =
                    PGQ_MAX(lsn, PGQ_MAX(o->upstream_lsn, PGQ_MAX(o->receive_lsn, o->replay_lsn)));
            }
        }
    }
    return tli != 0 ? lsn : 0;
}

/* How far a synchronous standby may have acknowledged: what it holds once
 * cut off the primary (it can acknowledge nothing more). One that is up
 * counts with its cut of this round; one that is not, with a cut of an
 * earlier round of this failover (a candidate that died before its
 * promotion, say), since which it acknowledged nothing. */
bool policy_holder_position(const struct cluster *c, const struct node *n, uint64_t *lsn)
{
    /* The primary being replaced, when it is a candidate that never got
     * promoted, was cut as a standby earlier in the chain and has followed
     * no one since, up or not. */
    bool earlier = n->verdict != PGQ_VERDICT_UP || strcmp(n->name, c->primary) == 0;
    bool cut = !earlier ? n->cut_round == c->fo.round
                        : n->cut_round != 0 && n->cut_round >= c->fo.chain_round;
    *lsn = cut ? n->cut_lsn : 0;
    return cut;
}

/* Whose synchronous standbys set the floor: the last primary that was
 * writable. When the primary being replaced is a candidate that was never
 * promoted (it died first, or its promotion was given up), its own list is
 * empty and means nothing: the floor stays that of the primary before it. */
static const struct node *floor_primary(const struct cluster *c, const struct node *p)
{
    if (c->fo.floor_primary[0] != '\0') {
        return cluster_node(c, c->fo.floor_primary); /* NULL if removed since: nothing known */
    }
    return p;
}

/* Synchronous replication: a commit the primary acknowledged is on at least
 * one of the standbys it named synchronous (sync or quorum state), so the new
 * primary must be at least as far as the most advanced of them. Each one
 * counts with its own position when it is up (it cannot have acknowledged
 * beyond what it holds); when it is not, a standby the primary no longer
 * named counts with where the primary was then (left_lsn), and one still
 * named leaves that unknown: no failover (false, with the reason). During a
 * cut, a synchronous standby that is up but was not cut may still
 * acknowledge the old primary's commits: no failover either. A standby in
 * maintenance is not counted: the operator's way to fail over without it.
 * Names that are no registered node are not judged: pgquorum knows a
 * standby's application_name only when it is its name. */
static bool sync_floor(const struct cluster *c,
                       const struct node *fp,
                       uint64_t *floor,
                       const char **holder,
                       char *why,
                       size_t size)
{
    *floor = 0;
    *holder = NULL;
    for (unsigned i = 0; fp != NULL && i < fp->n_sync; i++) {
        const struct sync_standby *e = &fp->sync[i];
        const struct node *n = cluster_node(c, e->name);
        uint64_t lsn;
        if (n == NULL || n == fp || n->maintenance) {
            continue;
        }
        if (!policy_holder_position(c, n, &lsn)) {
            if (n->verdict == PGQ_VERDICT_UP) {
                snprintf(why, size,
                         PGQ_HELD
                         "synchronous standby %s is up but was not cut off %s: it may "
                         "still acknowledge its commits (maintenance on %s to fail over "
                         "without it)",
                         n->name, c->fo.old_primary, n->name);
                return false;
            }
            if (e->left_lsn == 0) {
                snprintf(why, size,
                         "synchronous standby %s is %s: another standby may lack commits the "
                         "primary acknowledged (maintenance on %s to fail over without it, or "
                         "pgquorumctl failover --allow-data-loss)",
                         n->name, pgq_verdict_name(n->verdict), n->name);
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

/* Its promotion was given up earlier in this failover (the chain of
 * candidates since the last primary that was writable). */
static bool given_up(const struct cluster *c, const struct node *n)
{
    return n->gave_up_round != 0 && n->gave_up_round == c->fo.chain_round;
}

/* Its agent rewinds or clones it, waits to, or has not seen it stream
 * since: never a candidate until it streams. */
static bool rejoining(const struct node *n)
{
    return n->agent.state == PGQ_AGENT_UP && n->agent.rejoin != PGQ_RJ_NONE &&
           n->agent.rejoin != PGQ_RJ_STREAMING;
}

/* Before a cut: how many standbys could be promoted at all, whatever
 * their positions (up, priority > 0, not in maintenance, not given up in
 * this failover); the reasons of the others go to why. A failover none can
 * end does not cut the primary's standbys off it. */
/* Why a node another server answers for is no candidate (node identity). */
#define IMPOSTOR "another server answers at its address (system identifier)"

unsigned policy_plausible_candidates(const struct cluster *c,
                                     const struct node *p,
                                     bool chain,
                                     char *why,
                                     size_t size)
{
    unsigned n_ok = 0;
    why[0] = '\0';
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        const char *no = NULL;
        if (n == p || n->role != PGQ_ROLE_STANDBY || n->twin_of[0] != '\0') {
            continue;
        }
        if (node_impostor(n)) {
            no = IMPOSTOR;
        } else if (n->verdict != PGQ_VERDICT_UP) {
            no = pgq_verdict_name(n->verdict);
        } else if (n->priority == 0) {
            no = "priority 0";
        } else if (n->maintenance) {
            no = "in maintenance";
        } else if (rejoining(n)) {
            no = "rejoining";
        } else if (chain && given_up(c, n)) {
            no = "its promotion was given up";
        } else if (policy_sync_last(c) != NULL && !sync_set_has(policy_sync_last(c), n->name)) {
            no = "not in the synchronous set (pgquorumctl failover --allow-data-loss)";
        }
        if (no != NULL) {
            pgq_appendf(why, size, "%s%s: %s", why[0] ? "; " : "", n->name, no);
        } else {
            n_ok++;
        }
    }
    return n_ok;
}

bool policy_standby_ready(const struct cluster *c, const struct node *p)
{
    char why[PGQ_REASON_MAX];
    /* Paused, or a primary in maintenance the operator did not allow to be
     * failed over: no standby replaces it, whatever could. */
    if (c->paused || (p->maintenance && !p->maintenance_allow_failover)) {
        return false;
    }
    return policy_plausible_candidates(c, p, false, why, sizeof why) > 0;
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

static void choose(const struct state *s,
                   const struct cluster *c,
                   const struct policy_config *pc,
                   struct cand *cands,
                   struct choice *out)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct node *fp = p != NULL ? floor_primary(c, p) : NULL;
    unsigned n_cands = 0;
    char why[PGQ_REASON_MAX] = "";
    uint32_t tli = p != NULL ? primary_tli(c, p) : 0;
    uint64_t floor = 0, mfloor = 0;
    const char *holder = NULL, *mholder = NULL;
    const struct sync_set *last = policy_sync_last(c);
    bool allowed = policy_sync_allowed(c);
    (void)s;

    memset(out, 0, sizeof *out);
    if (p == NULL || c->fo.phase != PGQ_FO_CUTTING) {
        snprintf(out->reason, sizeof out->reason, "no failover in progress");
        return;
    }
    /* Invariant 4: the writes to keep are those of the last primary that
     * was writable, as far as anyone saw it write: its own probes, what its
     * standbys heard from it, what was known when a candidate that never got
     * promoted was chosen (reference_lsn), and the standbys' own positions. */
    out->reference_lsn = PGQ_MAX(primary_last_lsn(p), standby_evidence(c, p, tli));
    out->reference_lsn = PGQ_MAX(out->reference_lsn, c->fo.reference_lsn);
    if (fp != NULL && fp != p) {
        out->reference_lsn = PGQ_MAX(out->reference_lsn, primary_last_lsn(fp));
    }

    /* First pass: positions after the cut, and the most advanced one. */
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        if (n == p || n->role != PGQ_ROLE_STANDBY || n->twin_of[0] != '\0') {
            continue;
        }
        if (node_impostor(n) || n->verdict != PGQ_VERDICT_UP) {
            pgq_appendf(why, sizeof why, "%s%s: %s", why[0] ? "; " : "", n->name,
                        node_impostor(n) ? IMPOSTOR : pgq_verdict_name(n->verdict));
            continue;
        }
        /* Cut before promote: only positions read after the standby stopped
         * following the old primary count, never one from before. */
        if (n->cut_round != c->fo.round) {
            pgq_appendf(why, sizeof why, "%s%s: not cut off %s", why[0] ? "; " : "", n->name,
                        c->fo.old_primary);
            continue;
        }
        /* A standby whose WAL is of another timeline than the primary's
         * holds another history (or too little of this one): never a
         * candidate. */
        if (tli != 0 && n->cut_tli != tli) {
            pgq_appendf(why, sizeof why, "%s%s: timeline %u, the primary's is %u",
                        why[0] ? "; " : "", n->name, n->cut_tli, tli);
            continue;
        }
        out->reference_lsn = PGQ_MAX(out->reference_lsn, n->cut_lsn);
        if (n->priority == 0) {
            pgq_appendf(why, sizeof why, "%s%s: priority 0", why[0] ? "; " : "", n->name);
            continue;
        }
        if (n->maintenance) {
            pgq_appendf(why, sizeof why, "%s%s: in maintenance", why[0] ? "; " : "", n->name);
            continue;
        }
        if (given_up(c, n)) {
            pgq_appendf(why, sizeof why, "%s%s: its promotion was given up", why[0] ? "; " : "",
                        n->name);
            continue;
        }
        if (rejoining(n)) {
            pgq_appendf(why, sizeof why, "%s%s: rejoining", why[0] ? "; " : "", n->name);
            continue;
        }
        if (c->fo.switchover && c->sw.target[0] != '\0' && strcmp(c->sw.target, n->name) != 0) {
            pgq_appendf(why, sizeof why, "%s%s: not the switchover's target", why[0] ? "; " : "",
                        n->name);
            continue;
        }
        if (c->fo.switchover && n->cut_lsn < c->fo.final_lsn) {
            char l1[32], l2[32];
            pgq_lsn_format(n->cut_lsn, l1, sizeof l1);
            pgq_lsn_format(c->fo.final_lsn, l2, sizeof l2);
            pgq_appendf(why, sizeof why, "%s%s: at %s, short of the primary's final %s",
                        why[0] ? "; " : "", n->name, l1, l2);
            continue;
        }
        /* Invariant 4, managed: never a standby outside the last set. */
        if (last != NULL && !sync_set_has(last, n->name)) {
            pgq_appendf(why, sizeof why, "%s%s: not in the synchronous set", why[0] ? "; " : "",
                        n->name);
            continue;
        }
        cands[n_cands].node = n;
        cands[n_cands].lsn = n->cut_lsn;
        n_cands++;
    }
    /* An operator's allowance to lose writes waives the synchronous rules
     * (and only them). */
    if (!allowed &&
        (!sync_floor(c, fp, &floor, &holder, out->reason, sizeof out->reason) ||
         !policy_sync_floor(c, tli, &mfloor, &mholder, out->reason, sizeof out->reason))) {
        return;
    }
    if (mholder != NULL && (holder == NULL || mfloor > floor)) {
        floor = mfloor;
        holder = mholder;
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
                 "most advanced eligible standby at %s (most advanced known %s), priority %u%s", l1,
                 l2, out->node->priority,
                 allowed ? "; synchronous rules waived by an operator (--allow-data-loss): "
                           "acknowledged writes may be lost"
                         : "");
    }
}

void policy_choose(const struct state *s,
                   const struct cluster *c,
                   const struct policy_config *pc,
                   struct choice *out)
{
    /* One candidate per node at most, however many the cluster has. */
    struct cand *cands = state_grow(NULL, c->n_nodes * sizeof *cands);
    choose(s, c, pc, cands, out);
    free(cands);
}
