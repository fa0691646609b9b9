/* Policy: replication slots (see policy.h). The primary of the epoch keeps
 * a physical slot for every other node that may use one, so that a standby
 * that is down or behind finds the WAL it needs when it returns (up to the
 * primary's max_slot_wal_keep_size); it is made to hold them once per
 * epoch and change of members, outside failovers. A standby gets its slot
 * with its repoint, and one that says it streams without it is repointed
 * again. All of it waits for feature level 3, the level of the Step that
 * says it is done. */
#include <string.h>

#include "lib/util.h"
#include "policy_internal.h"

static bool slots_on(const struct state *s, const struct policy_config *pc)
{
    return pc != NULL && pc->replication_slots && s->feature_level >= 3;
}

bool policy_slots_due(const struct state *s,
                      const struct policy_config *pc,
                      const struct cluster *c,
                      const struct node *p)
{
    if (!slots_on(s, pc) || p->twin_of[0] != '\0' || p->verdict != PGQ_VERDICT_UP ||
        c->slots_epoch == c->epoch) {
        return false;
    }
    /* Not while a failover is under way: the primary may be replaced. A
     * promoted one is the primary its standbys are being repointed at. */
    return c->fo.phase == PGQ_FO_NONE || c->fo.phase == PGQ_FO_DONE ||
           c->fo.phase == PGQ_FO_PROMOTED;
}

bool policy_repoint_slot(const struct state *s,
                         const struct policy_config *pc,
                         const struct cluster *c,
                         const struct node *n,
                         char *buf,
                         size_t size)
{
    if (!slots_on(s, pc) || !cluster_node_slot(c, n, buf, size)) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

bool policy_streams_unslotted(const struct state *s,
                              const struct policy_config *pc,
                              const struct cluster *c,
                              const struct node *n)
{
    char slot[PGQ_SLOT_NAME_MAX];
    const struct view *v = node_latest_view(n);
    /* Only once the primary was found holding every slot in this epoch:
     * slots can be made there (a role without the REPLICATION attribute
     * cannot), or repointing a standby for its slot would repeat forever;
     * and a standby whose role may not set primary_slot_name says so
     * itself (PGQ_SLOT_USE_DENIED), not NONE. Asked of every standby on
     * every tick: the cheap tests first. */
    if (c->slots_epoch != c->epoch || v == NULL || !v->obs.reachable ||
        v->obs.slot_use != PGQ_SLOT_USE_NONE) {
        return false;
    }
    return policy_repoint_slot(s, pc, c, n, slot, sizeof slot);
}

unsigned policy_slot_names(const struct state *s,
                           const char *cluster,
                           char (*out)[PGQ_SLOT_NAME_MAX],
                           unsigned max)
{
    const struct cluster *c = state_cluster(s, cluster);
    unsigned n = 0;
    char slot[PGQ_SLOT_NAME_MAX];
    for (unsigned i = 0; c != NULL && i < c->n_nodes; i++) {
        const struct node *node = &c->nodes[i];
        if (strcmp(node->name, c->primary) == 0 || !cluster_node_slot(c, node, slot, sizeof slot)) {
            continue;
        }
        if (n < max) {
            pgq_strlcpy(out[n], slot, sizeof out[n]);
        }
        n++;
    }
    return n;
}
