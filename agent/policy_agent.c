/* Policy: node agents and feature levels (see policy.h): what agents said
 * goes to the log, silence is committed, an unfenced primary may be
 * promoted over only when no acknowledged write can be lost or an operator
 * allowed it, and the state's feature level rises once every voter can. */
#include <string.h>

#include "lib/util.h"
#include "policy_internal.h"

bool policy_unfenced_allowed(const struct cluster *c, const struct node *p)
{
    unsigned named = 0;
    if (p->allow_unfenced_epoch != 0 && p->allow_unfenced_epoch == c->epoch) {
        return true;
    }
    /* The cut stops only standbys that are nodes of the cluster: one the
     * primary names that is not (another application_name, an unmanaged
     * replica) is never cut and keeps acknowledging its commits. */
    for (unsigned i = 0; i < p->n_sync; i++) {
        if (p->sync[i].left_lsn == 0) {
            if (cluster_node(c, p->sync[i].name) == NULL) {
                return false;
            }
            named++;
        }
    }
    return named > 0;
}

/* Rolling upgrades: once every voter announced it supports the current
 * level, the leader raises the state's. */
bool policy_next_feature(const struct state *s, struct command *out)
{
    unsigned voters = 0;
    if (s->feature_level >= PGQ_FEATURE_LEVEL) {
        return false;
    }
    for (unsigned i = 0; i < s->n_monitors; i++) {
        if (s->monitors[i].voter) {
            if (s->monitors[i].max_level < PGQ_FEATURE_LEVEL) {
                return false;
            }
            voters++;
        }
    }
    if (voters == 0) {
        return false;
    }
    command_init(out, CMD_FEATURE);
    out->u.feature.level = PGQ_FEATURE_LEVEL;
    return true;
}

/* Level 6: the bounds of the event history are the leader's settings,
 * committed when the state's differ (apply trims to them everywhere). */
bool policy_next_bounds(const struct state *s, const struct policy_config *pc, struct command *out)
{
    unsigned per = pc != NULL ? pc->events_per_cluster : 0,
             all = pc != NULL ? pc->events_global : 0;
    if (s->feature_level < 6 ||
        ((per == 0 || per == s->events_per_cluster) && (all == 0 || all == s->events_global))) {
        return false;
    }
    command_init(out, CMD_FEATURE);
    out->u.feature.level = s->feature_level;
    out->u.feature.events_per_cluster = per;
    out->u.feature.events_global = all;
    return true;
}

/* What the leader heard from agents goes to the log when a fact a failover
 * depends on changed, and otherwise every agent_refresh_ms (host metrics,
 * positions); an agent not heard for a whole lease is committed silent. */
bool policy_next_agent(const struct state *s,
                       const struct policy_config *pc,
                       uint64_t now_ms,
                       struct command *out)
{
    const struct lease_book *b = pc->leases;
    if (b == NULL || s->feature_level < 2) {
        return false;
    }
    /* An agent committed up that has not been heard for a lease: only
     * nodes with an agent up are looked up (in the book's index). */
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        for (unsigned j = 0; j < c->n_nodes; j++) {
            const struct node *n = &c->nodes[j];
            if (n->agent.state == PGQ_AGENT_UP &&
                lease_agent_silent(b, lease_entry_find(b, c->name, n->name), now_ms)) {
                command_init(out, CMD_AGENT);
                pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
                pgq_strlcpy(out->node, n->name, sizeof out->node);
                out->u.agent = n->agent;
                out->u.agent.state = PGQ_AGENT_SILENT;
                return true;
            }
        }
    }
    /* What the agents heard say, where it differs from what is committed
     * (or is due again): a walk of the agents heard, not of every node. */
    for (unsigned i = 0; i < b->n_entries; i++) {
        const struct lease_entry *e = &b->entries[i];
        const struct cluster *c;
        const struct node *n;
        bool refused;
        if (e->heard_ms == 0 || lease_agent_silent(b, e, now_ms) ||
            (c = state_cluster(s, e->cluster)) == NULL || (n = cluster_node(c, e->node)) == NULL) {
            continue;
        }
        /* Facts of another server, already refused once, change nothing:
         * they are told again only every agent_refresh_ms. */
        refused = node_identity_foreign(n, e->facts.system_id) &&
                  n->agent.system_id == e->facts.system_id;
        if ((!refused && agent_facts_material(&e->facts, &n->agent)) ||
            now_ms >= n->agent.facts_ms + pc->agent_refresh_ms) {
            command_init(out, CMD_AGENT);
            pgq_strlcpy(out->cluster, c->name, sizeof out->cluster);
            pgq_strlcpy(out->node, n->name, sizeof out->node);
            out->u.agent = e->facts;
            out->u.agent.state = PGQ_AGENT_UP;
            if (s->feature_level < 5) {
                out->u.agent.system_id = 0; /* a field older monitors do not know */
            }
            return true;
        }
    }
    return false;
}
