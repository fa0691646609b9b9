/* cluster_identity: a node's identity in the replicated state (feature
 * level 5).
 *
 * A node is the PostgreSQL server whose system identifier the quorum
 * learned at first sight: the first committed observation (a monitor
 * reached it) or agent facts (its agent read its control file) that tell
 * one. Every standby of a cluster shares its primary's identifier (initdb
 * makes it, pg_basebackup and pg_rewind keep it), so a rejoin or a clone
 * keeps the node's identity; a new initdb makes another server.
 *
 * A server of another identifier at the node's address (a port reused, a
 * host rebuilt, a wrong DNS record) is not the node: a monitor's
 * observation of it is committed as the node unreachable, with the reason
 * and the identifier it saw; its agent's facts are not committed, only the
 * identifier they told. Either makes it an impostor (node_impostor): never
 * up, never promoted, never acted on. One IDENTITY event marks each change
 * (an impostor, or the node itself again), not each probe. An operator who
 * rebuilt the node from scratch removes and adds it again: the new node
 * learns the new identifier. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster_internal.h"
#include "lib/util.h"

/* An observation of a server with another identifier becomes one of the
 * node unreachable: the verdict, the candidates and the actions then treat
 * it as what it is for the node, a server that does not answer. */
static void refuse_foreign(const struct node *n, struct obs *o)
{
    struct obs r;
    memset(&r, 0, sizeof r);
    pgq_strlcpy(r.node, o->node, sizeof r.node);
    r.probed_ms = o->probed_ms;
    r.basis_seq = o->basis_seq;
    r.failing_since_ms = o->probed_ms;
    r.cache_hit_bp = r.index_hit_bp = PGQ_BP_NONE;
    r.system_id = o->system_id; /* what makes the view known as refused */
    snprintf(r.error, sizeof r.error,
             "system identifier %" PRIu64 ", expected %" PRIu64
             ": another server answers at this address",
             o->system_id, n->system_id);
    *o = r;
}

static void learn(struct state *s, struct cluster *c, struct node *n, uint64_t id, const char *by)
{
    n->system_id = id;
    cluster_event(s, c->name, n->name, PGQ_EV_IDENTITY, c->epoch, 0,
                  "node %s is PostgreSQL system identifier %" PRIu64 " (learned from %s)", n->name,
                  id, by);
}

bool identity_note_observation(struct state *s, struct cluster *c, struct node *n, struct obs *o)
{
    bool was = node_impostor(n);
    if (s->feature_level < 5 || !o->reachable || o->system_id == 0) {
        return was;
    }
    if (n->system_id == 0) {
        learn(s, c, n, o->system_id, "a monitor's probe");
    } else if (node_identity_foreign(n, o->system_id)) {
        refuse_foreign(n, o);
    }
    return was;
}

void identity_changed(struct state *s, struct cluster *c, struct node *n, bool was, uint64_t seen)
{
    bool now = node_impostor(n);
    if (now == was) {
        return;
    }
    if (now) {
        cluster_event(s, c->name, n->name, PGQ_EV_IDENTITY, c->epoch, 0,
                      "node %s: system identifier %" PRIu64 ", expected %" PRIu64
                      ": another server answers for it; not trusted, never promoted (rebuilt by "
                      "initdb? node remove, then node add)",
                      n->name, seen, n->system_id);
    } else {
        cluster_event(s, c->name, n->name, PGQ_EV_IDENTITY, c->epoch, 0,
                      "node %s answers with its own system identifier %" PRIu64 " again", n->name,
                      n->system_id);
    }
}

bool identity_refuse_agent(struct state *s,
                           struct cluster *c,
                           struct node *n,
                           const struct agent_facts *f)
{
    bool was;
    if (s->feature_level < 5 || f->system_id == 0) {
        return false;
    }
    if (n->system_id == 0) {
        learn(s, c, n, f->system_id, "its agent");
        return false;
    }
    if (!node_identity_foreign(n, f->system_id)) {
        return false;
    }
    /* Its facts are of another server: none is committed, but the
     * identifier, so that the refusal is known (and an event) once. */
    was = node_impostor(n);
    if (n->agent.state != PGQ_AGENT_UP) {
        n->agent.state = PGQ_AGENT_UP; /* heard: not silent, though not believed */
        n->agent.lease = false;
        n->agent.since_ms = s->time_ms;
    }
    n->agent.system_id = f->system_id;
    n->agent.session = f->session;
    n->agent.facts_ms = s->time_ms;
    identity_changed(s, c, n, was, f->system_id);
    return true;
}
