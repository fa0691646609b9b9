/* Policy: the monitors' down views of a node, fresh or taken while their
 * own loop ran late, and the overload rules that hold a failover (see
 * policy.h and docs/failure-modes.md). Pure. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "policy.h"
#include "policy_internal.h"

/* The fresh down views of n: all of them, and those taken while the
 * reporting monitor's loop ran late (overload_ms), with the worst lateness
 * and who reported them. */
struct down_views
{
    unsigned down;
    unsigned overloaded;
    uint64_t worst_ms;
    char who[64];
};

static void fresh_down_views(const struct state *s,
                             const struct node *n,
                             const struct policy_config *pc,
                             uint64_t now_ms,
                             struct down_views *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        /* A monitor that keeps seeing a node down refreshes its view every
         * health interval; an older view is from a monitor that died or was
         * cut off, and counts for nothing (Invariant 2). */
        bool aged = pc->view_max_age_ms != 0 && now_ms > v->applied_ms + pc->view_max_age_ms;
        if (v->monitor_id != 0 && v->gen == s->leader_gen && !v->obs.reachable && !aged &&
            state_is_voter(s, v->monitor_id)) {
            out->down++;
            if (v->obs.overload_ms != 0) {
                out->overloaded++;
                out->worst_ms = PGQ_MAX(out->worst_ms, v->obs.overload_ms);
                pgq_appendf(out->who, sizeof out->who, "%s%" PRIu64, out->who[0] ? ", " : "",
                            v->monitor_id);
            }
        }
    }
}

bool policy_fresh_down(const struct state *s,
                       const struct node *n,
                       const struct policy_config *pc,
                       uint64_t now_ms)
{
    struct down_views dv;
    fresh_down_views(s, n, pc, now_ms, &dv);
    /* A view taken while its monitor's loop ran late does not count: the
     * timeout may have been the monitor's own (cluster_verdict alike). */
    return dv.down - dv.overloaded >= state_majority(s);
}

/* The primary would be down by a majority of fresh views if the monitors
 * that took some of them had not been overloaded: held, saying so. */
bool policy_overload_held_views(const struct state *s,
                                const struct node *p,
                                const struct policy_config *pc,
                                uint64_t now_ms,
                                char *reason,
                                size_t size)
{
    struct down_views dv;
    fresh_down_views(s, p, pc, now_ms, &dv);
    if (dv.overloaded == 0 || dv.down < state_majority(s) ||
        dv.down - dv.overloaded >= state_majority(s)) {
        return false;
    }
    snprintf(reason, size,
             PGQ_HELD_OVERLOAD
             "monitor%s %s saw primary %s down only in probes that timed out "
             "while their own loop ran up to %" PRIu64
             " ms late; waiting for a probe on a steady loop",
             dv.overloaded > 1 ? "s" : "", dv.who, p->name, dv.worst_ms);
    return true;
}

/* Many primaries down at once while this leader's own loop runs late: the
 * monitors' overload (probes delayed by this process) rather than as many
 * failures. Counted over the primaries whose down verdict began within
 * failover_timeout + view_max_age_ms (the time one failure takes to be
 * seen and waited out): at least PGQ_STORM_MIN, and PGQ_STORM_SHARE
 * percent of the clusters with a primary. */
bool policy_overload_storm(const struct state *s,
                           const struct policy_config *pc,
                           uint64_t now_ms,
                           char *reason,
                           size_t size)
{
    uint64_t window = pc->failover_timeout_ms + pc->view_max_age_ms;
    unsigned primaries = 0, down = 0;
    if (pc->overload_lag_ms == 0 || pc->loop_lag_ms < pc->overload_lag_ms) {
        return false;
    }
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *p = cluster_node(c, c->primary);
        if (p == NULL) {
            continue;
        }
        primaries++;
        if (p->verdict == PGQ_VERDICT_DOWN && now_ms <= p->verdict_since_ms + window) {
            down++;
        }
    }
    if (down < PGQ_STORM_MIN || (uint64_t)down * 100 < (uint64_t)primaries * PGQ_STORM_SHARE) {
        return false;
    }
    snprintf(reason, size,
             PGQ_HELD_OVERLOAD "%u of %u primaries went down within %" PRIu64
                               " s while this leader's loop ran up to %" PRIu64
                               " ms late: taken for the monitors' own overload; waiting for "
                               "its loop to run steady",
             down, primaries, window / 1000, pc->loop_lag_ms);
    return true;
}
