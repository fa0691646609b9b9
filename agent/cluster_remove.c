/* A cluster's life (feature level 6): an operator removes a cluster and
 * its nodes from monitoring (ClusterRemove; PostgreSQL is not touched), and
 * a cluster whose last node was removed goes too, so that its slot, its
 * failover history and its events are freed. A cluster registered again
 * under the same name starts clean: nothing of the old one is left, and
 * its epochs start above every epoch a removed cluster reached (the epoch
 * floor), so that a node agent of the old cluster still holding a lease
 * of an old epoch can never be taken for the primary of a new one.
 * See cluster.h for the contract. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "lib/util.h"

/* What of the cluster's failover is in progress ("": nothing): a removal
 * then would drop a committed decision half carried out (invariant 3), or
 * the cut of a primary whose standbys no longer follow it. */
static const char *in_progress(const struct cluster *c)
{
    if (c->fo.phase == PGQ_FO_CUTTING) {
        return "a failover is cutting its standbys off the primary";
    }
    if (c->fo.epoch == c->epoch && c->fo.phase == PGQ_FO_DECIDED) {
        return "a failover is promoting its candidate";
    }
    if (c->fo.epoch == c->epoch && c->fo.phase == PGQ_FO_GAVE_UP) {
        return "a failover gave up its candidate and chooses another";
    }
    if (c->fo.epoch == c->epoch && c->fo.phase == PGQ_FO_PROMOTED) {
        return "a failover is repointing its standbys at the new primary";
    }
    return "";
}

int check_cluster_remove(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const char *why;
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    why = in_progress(c);
    if (why[0] != '\0') {
        return cluster_fail(res, PGQ_REFUSED,
                            "cluster %s cannot be removed now: %s (epoch %" PRIu64
                            "); remove it once the failover is done",
                            c->name, why, c->fo.epoch);
    }
    if (c->sw.phase != PGQ_SW_NONE) {
        return cluster_fail(res, PGQ_REFUSED,
                            "cluster %s cannot be removed now: a switchover of it is %s; cancel "
                            "it first (pgquorumctl switchover --cancel --cluster %s)",
                            c->name, c->sw.phase == PGQ_SW_PENDING ? "scheduled" : "under way",
                            c->name);
    }
    return 0;
}

int apply_cluster_remove(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    unsigned n_nodes;
    uint64_t epoch;
    int rv = check_cluster_remove(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    n_nodes = c->n_nodes;
    epoch = c->epoch;
    state_drop_cluster(s, c);
    /* In the history of no cluster (this one's went with it), under its
     * name: `events --cluster NAME` still shows it. */
    cluster_event(s, cmd->cluster, "", PGQ_EV_CLUSTER, epoch, 0,
                  "cluster %s removed from monitoring with its %u node%s (PostgreSQL untouched)",
                  cmd->cluster, n_nodes, n_nodes == 1 ? "" : "s");
    return 0;
}

void state_drop_cluster(struct state *s, struct cluster *c)
{
    /* The epochs it used, a cut's included, are never given again. */
    s->epoch_floor = PGQ_MAX(s->epoch_floor, PGQ_MAX(c->epoch, c->fo.epoch));
    events_cluster_free(s, c);
    cluster_free(c);
    memmove(c, c + 1, (size_t)(s->clusters + s->n_clusters - (c + 1)) * sizeof *c);
    s->n_clusters--;
    /* The clusters after it moved down: the index names them anew. */
    state_reindex(s);
}

uint64_t cluster_epoch_base(const struct state *s, const struct cluster *c)
{
    return s->feature_level >= 6 ? PGQ_MAX(c->epoch, s->epoch_floor) : c->epoch;
}
