/* Policy: managed synchronous replication (see policy.h and
 * docs/architecture.md, "Managed synchronous replication"): the set the
 * leader commits for the primary, when it is written there, and which
 * standbys a failover may promote given the sets that bind it. Pure. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "policy_internal.h"

bool policy_sync_managed(const struct cluster *c)
{
    return c->sync.mode != PGQ_SYNC_OFF;
}

bool policy_sync_allowed(const struct cluster *c)
{
    return c->sync.allow_loss_epoch != 0 && c->sync.allow_loss_epoch == c->epoch;
}

/* The primary's latest committed view while writable: what it runs with
 * and who streams from it. */
static const struct view *primary_view(const struct node *p)
{
    const struct view *v = node_latest_view(p);
    return v != NULL && view_obs_writable(&v->obs) ? v : NULL;
}

/* May be a synchronous standby of p at all: a standby with replication
 * quorum, up, not in maintenance, not a twin. */
static bool sync_eligible(const struct node *p, const struct node *n)
{
    return n != p && n->role == PGQ_ROLE_STANDBY && n->replication_quorum && !n->maintenance &&
           n->twin_of[0] == '\0' && n->verdict == PGQ_VERDICT_UP;
}

/* Healthy: eligible, and streaming from the primary by its name (the
 * primary says so: its application_name is what synchronous_standby_names
 * matches), or being repointed at a primary just chosen or promoted. */
static bool sync_healthy(const struct cluster *c, const struct node *p, const struct node *n)
{
    const struct view *v = primary_view(p);
    /* A failover's repointing counts until the primary was seen after it
     * was done: a first version dropped the standbys repointed at once, as
     * the primary's last view predated them, and took them back a round
     * later (an empty setting in between, measured). */
    bool repointing = c->fo.epoch == c->epoch && n->stuck_epoch != c->epoch &&
                      (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_PROMOTED ||
                       (c->fo.phase == PGQ_FO_DONE && n->following_epoch == c->epoch &&
                        (v == NULL || v->applied_ms <= c->fo.done_ms)));
    return sync_eligible(p, n) &&
           (repointing || (v != NULL && pgq_name_listed(v->obs.replicas, n->name)));
}

/* May stay in a strict set although not healthy (never fewer names than
 * number_sync because a standby died): any node but the primary that may
 * be synchronous. */
static bool sync_keepable(const struct node *p, const struct node *n)
{
    return n != p && n->replication_quorum && n->twin_of[0] == '\0';
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* At most PGQ_SYNC_MAX: every pick_more() stops at number_sync or below. */
struct pick
{
    const struct node *nodes[PGQ_SYNC_MAX];
    unsigned n;
};

static bool picked(const struct pick *pk, const struct node *n)
{
    for (unsigned i = 0; i < pk->n; i++) {
        if (pk->nodes[i] == n) {
            return true;
        }
    }
    return false;
}

/* Add nodes passing ok() until `upto`: members of the committed set first
 * (no needless change), then by priority (highest first) and name. */
static void pick_more(const struct cluster *c,
                      const struct node *p,
                      struct pick *pk,
                      unsigned upto,
                      bool (*ok)(const struct cluster *, const struct node *, const struct node *))
{
    upto = PGQ_MIN(upto, PGQ_SYNC_MAX);
    for (int member = 1; member >= 0; member--) {
        while (pk->n < upto) {
            const struct node *best = NULL;
            for (unsigned i = 0; i < c->n_nodes; i++) {
                const struct node *n = &c->nodes[i];
                if (picked(pk, n) || !ok(c, p, n) ||
                    sync_set_has(&c->sync.set, n->name) != (member == 1)) {
                    continue;
                }
                if (best == NULL || n->priority > best->priority ||
                    (n->priority == best->priority && strcmp(n->name, best->name) < 0)) {
                    best = n;
                }
            }
            if (best == NULL) {
                break;
            }
            pk->nodes[pk->n++] = best;
        }
    }
}

static bool ok_healthy(const struct cluster *c, const struct node *p, const struct node *n)
{
    return sync_healthy(c, p, n);
}

static bool ok_keepable(const struct cluster *c, const struct node *p, const struct node *n)
{
    (void)c;
    return sync_keepable(p, n);
}

/* A standby first: it may follow again without a rejoin. */
static bool ok_keepable_standby(const struct cluster *c, const struct node *p, const struct node *n)
{
    return n->role == PGQ_ROLE_STANDBY && ok_keepable(c, p, n);
}

void policy_sync_desired(const struct cluster *c, const struct node *p, struct sync_set *out)
{
    const struct cluster_sync *y = &c->sync;
    unsigned number = PGQ_MAX(y->number, 1);
    struct pick pk = {{0}, 0};
    const char *names[PGQ_SYNC_MAX];
    memset(out, 0, sizeof *out);
    out->epoch = c->epoch;
    if (y->mode == PGQ_SYNC_QUORUM) {
        /* Availability: every healthy standby may acknowledge, k of them
         * must; fewer healthy than number_sync lowers k, none empties it. */
        pick_more(c, p, &pk, PGQ_SYNC_MAX, ok_healthy);
        out->method = pk.n > 0 ? PGQ_SYNC_ANY : PGQ_SYNC_NONE;
        out->k = PGQ_MIN(number, pk.n);
    } else if (y->mode == PGQ_SYNC_STRICT) {
        /* No loss: exactly number_sync standbys, all of which acknowledge
         * every commit; a dead one is replaced by a healthy one, and kept
         * when there is none (writes wait). */
        pick_more(c, p, &pk, number, ok_healthy);
        pick_more(c, p, &pk, number, ok_keepable_standby);
        pick_more(c, p, &pk, number, ok_keepable);
        out->method = PGQ_SYNC_FIRST;
        out->k = number;
    } else {
        out->method = PGQ_SYNC_NONE; /* off: the last act is an empty setting */
    }
    for (unsigned i = 0; i < pk.n; i++) {
        names[i] = pk.nodes[i]->name;
    }
    qsort(names, pk.n, sizeof names[0], by_name);
    for (unsigned i = 0; i < pk.n; i++) {
        pgq_strlcpy(out->names[i], names[i], sizeof out->names[i]);
    }
    out->n_names = pk.n;
}

/* Why the set changes, in a few words: who joined, who left and why. */
static void change_reason(const struct cluster *c,
                          const struct node *p,
                          const struct sync_set *to,
                          char *why,
                          size_t size)
{
    const struct sync_set *from = &c->sync.set;
    why[0] = '\0';
    if (from->seq == 0 || from->epoch != c->epoch) {
        snprintf(why, size, "%s mode, number_sync %u, for the primary of epoch %" PRIu64,
                 pgq_sync_mode_name(c->sync.mode), PGQ_MAX(c->sync.number, 1), c->epoch);
        return;
    }
    for (unsigned i = 0; i < from->n_names; i++) {
        const struct node *n = cluster_node(c, from->names[i]);
        if (!sync_set_has(to, from->names[i])) {
            pgq_appendf(why, size, "%s%s left: %s", why[0] ? "; " : "", from->names[i],
                        n == NULL                      ? "removed"
                        : !n->replication_quorum       ? "replication_quorum false"
                        : n->verdict != PGQ_VERDICT_UP ? "down"
                        : n->maintenance               ? "in maintenance"
                                                       : "not streaming from the primary");
        } else if (n != NULL && c->sync.mode == PGQ_SYNC_STRICT && !sync_healthy(c, p, n)) {
            pgq_appendf(why, size, "%s%s kept although not healthy: writes wait for it",
                        why[0] ? "; " : "", from->names[i]);
        }
    }
    for (unsigned i = 0; i < to->n_names; i++) {
        if (!sync_set_has(from, to->names[i])) {
            pgq_appendf(why, size, "%s%s joined", why[0] ? "; " : "", to->names[i]);
        }
    }
    if (to->method == PGQ_SYNC_NONE && c->sync.mode != PGQ_SYNC_OFF) {
        pgq_appendf(why, size, "%sno healthy synchronous standby: writes go on asynchronously",
                    why[0] ? "; " : "");
    } else if (to->method == PGQ_SYNC_ANY && to->k < PGQ_MAX(c->sync.number, 1)) {
        pgq_appendf(why, size, "%sfewer healthy standbys than number_sync %u", why[0] ? "; " : "",
                    PGQ_MAX(c->sync.number, 1));
    } else if (why[0] == '\0') {
        snprintf(why, size, "%s mode, number_sync %u", pgq_sync_mode_name(c->sync.mode),
                 PGQ_MAX(c->sync.number, 1));
    }
}

bool policy_next_sync(const struct cluster *c, struct command *out)
{
    const struct cluster_sync *y = &c->sync;
    const struct node *p = cluster_node(c, c->primary);
    bool chosen =
        c->fo.epoch == c->epoch && (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP);
    struct sync_set want;
    if (p == NULL || c->fo.phase == PGQ_FO_CUTTING) {
        return false;
    }
    if (y->mode == PGQ_SYNC_OFF) {
        /* Off after being managed: an empty setting, once (what cannot
         * block writes), then the operator's again. */
        if (y->set.seq == 0 || y->set.method == PGQ_SYNC_NONE || chosen ||
            p->verdict != PGQ_VERDICT_UP) {
            return false;
        }
    } else if (chosen) {
        /* A candidate is chosen: its set is committed before it is
         * promoted (the promotion writes it first), once. */
        if (y->set.seq != 0 && y->set.epoch == c->epoch) {
            return false;
        }
    } else if (p->verdict != PGQ_VERDICT_UP || primary_view(p) == NULL ||
               (p->agent.state == PGQ_AGENT_UP && !p->agent.pm_alive)) {
        /* Nothing to write it on: a failover will choose. Nor while the
         * primary's agent says its postmaster is dead: a probe that still
         * finds it writable was answered by a backend that outlived its
         * postmaster, whose walsenders are gone, and lowering the set on
         * that would leave the failover no standby in it (measured:
         * test_three_failovers_in_a_row, held "not in the synchronous set"
         * until the agent restarted the old primary). */
        return false;
    }
    policy_sync_desired(c, p, &want);
    if (y->set.seq != 0 && y->set.epoch == c->epoch && sync_set_same(&y->set, &want)) {
        return false;
    }
    /* One slot stays free for the set of the next epoch; a proposal the
     * state machine would refuse is never made (it would be made again and
     * again, ahead of every other command). */
    if ((!chosen && y->set.epoch == c->epoch && y->n_retiring >= PGQ_SYNC_RETIRING_MAX - 1) ||
        !policy_sync_room(c)) {
        return false;
    }
    command_init(out, CMD_SYNC_SET);
    pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
    out->u.sync_set.set = want;
    change_reason(c, p, &want, out->u.sync_set.reason, sizeof out->u.sync_set.reason);
    return true;
}

bool policy_sync_room(const struct cluster *c)
{
    const struct cluster_sync *y = &c->sync;
    bool dropped = y->set.seq == 0 || (c->fo.unpromoted && y->set.epoch + 1 == c->epoch);
    return dropped || y->n_retiring < PGQ_SYNC_RETIRING_MAX;
}

bool policy_sync_text(const struct cluster *c, char *text, size_t size)
{
    if (text != NULL) {
        text[0] = '\0';
    }
    if (c->sync.set.seq == 0 || c->sync.set.epoch != c->epoch) {
        return false;
    }
    if (text != NULL) {
        sync_set_text(&c->sync.set, text, size);
    }
    return true;
}

bool policy_sync_apply_due(const struct cluster *c, const struct node *p)
{
    const struct cluster_sync *y = &c->sync;
    const struct view *v = primary_view(p);
    char text[PGQ_SYNC_SETTING_MAX];
    if (!policy_sync_text(c, text, sizeof text) || p->verdict != PGQ_VERDICT_UP ||
        c->fo.phase == PGQ_FO_CUTTING ||
        (c->fo.epoch == c->epoch &&
         (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP))) {
        return false;
    }
    if (y->applied_seq != y->set.seq) {
        return true;
    }
    /* Managed: the setting is the quorum's; one that drifted (changed by
     * hand, a restart with another file) is written again. Off: never. */
    return y->mode != PGQ_SYNC_OFF && v != NULL && strcmp(v->obs.sync_setting, text) != 0;
}

/* ---- Invariant 4 with managed sets ------------------------------------ */

/* The sets a failover of c's primary must respect: the committed one and
 * the older ones not retired, but not the set of a candidate that was
 * never promoted (it acknowledged nothing). Newest last. */
static unsigned binding_sets(const struct cluster *c, const struct sync_set **out)
{
    const struct cluster_sync *y = &c->sync;
    unsigned n = 0;
    for (unsigned i = 0; i <= y->n_retiring; i++) {
        const struct sync_set *set = i < y->n_retiring ? &y->retiring[i] : &y->set;
        if (set->seq != 0 && !(c->fo.unpromoted && set->epoch == c->epoch)) {
            out[n++] = set;
        }
    }
    return n;
}

/* The index of the rank-th highest of pos[0..n) (rank 1: the highest). */
static unsigned rank_at(const uint64_t *pos, unsigned n, unsigned rank)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned above = 0, equal = 0;
        for (unsigned j = 0; j < n; j++) {
            above += pos[j] > pos[i];
            equal += pos[j] == pos[i];
        }
        if (above < rank && rank <= above + equal) {
            return i;
        }
    }
    return 0;
}

const struct sync_set *policy_sync_last(const struct cluster *c)
{
    const struct sync_set *sets[PGQ_SYNC_RETIRING_MAX + 1];
    unsigned n;
    if (!policy_sync_managed(c) || policy_sync_allowed(c)) {
        return NULL;
    }
    n = binding_sets(c, sets);
    return n > 0 ? sets[n - 1] : NULL;
}

bool policy_sync_floor(const struct cluster *c,
                       uint32_t tli,
                       uint64_t *floor,
                       const char **holder,
                       char *why,
                       size_t size)
{
    const struct sync_set *sets[PGQ_SYNC_RETIRING_MAX + 1];
    unsigned n_sets;
    char text[PGQ_SYNC_SETTING_MAX];
    *floor = 0;
    *holder = NULL;
    if (policy_sync_last(c) == NULL) {
        return true;
    }
    n_sets = binding_sets(c, sets);
    for (unsigned s = 0; s < n_sets; s++) {
        const struct sync_set *set = sets[s];
        unsigned compared = 0;
        /* FIRST k of fewer than k names acknowledged nothing: any one. */
        unsigned need = set->n_names >= set->k ? set->n_names - set->k + 1 : 1;
        uint64_t pos[PGQ_SYNC_MAX];
        const char *who[PGQ_SYNC_MAX];
        sync_set_text(set, text, sizeof text);
        if (set->method == PGQ_SYNC_NONE) {
            if (s == n_sets - 1) {
                snprintf(why, size,
                         "the last synchronous set was empty (no healthy synchronous standby): "
                         "writes were acknowledged asynchronously and no standby is known to "
                         "hold them all (pgquorumctl failover --allow-data-loss to fail over "
                         "anyway)");
                return false;
            }
            continue; /* it made no promise */
        }
        /* A commit waited for k of the n standbys named: it is on at
         * least k of them. With u of them not compared, at least k - u of
         * its holders were (so n - k + 1 compared are needed), and no
         * acknowledged position is beyond the (k - u)-th highest compared
         * one: that is the floor this set sets. */
        for (unsigned i = 0; i < set->n_names; i++) {
            const struct node *n = cluster_node(c, set->names[i]);
            uint64_t lsn;
            if (n == NULL || !policy_holder_position(c, n, &lsn) ||
                (tli != 0 && n->cut_tli != tli)) {
                continue;
            }
            pos[compared] = lsn;
            who[compared++] = n->name;
        }
        if (compared < need) {
            char list[PGQ_REASON_MAX] = "";
            for (unsigned i = 0; i < compared; i++) {
                pgq_appendf(list, sizeof list, "%s%s", i > 0 ? ", " : "", who[i]);
            }
            snprintf(why, size,
                     "synchronous set '%s': %u of its standbys could be compared after the cut "
                     "(%s), %u needed: one that was not may hold acknowledged writes the others "
                     "lack (pgquorumctl failover --allow-data-loss to fail over anyway)",
                     text, compared, list[0] ? list : "none", need);
            return false;
        }
        if (set->k <= set->n_names) {
            unsigned rank = set->k - (set->n_names - compared); /* 1-based, >= 1 */
            unsigned at = rank_at(pos, compared, rank);
            if (*holder == NULL || pos[at] > *floor) {
                *floor = pos[at];
                *holder = who[at];
            }
        }
    }
    return true;
}
