/* monitor_agents: the leader's side of node agents (see lease.h).
 *
 * The happy path is: an agent sends a heartbeat with its facts about every
 * second; the leader notes when it heard it (its clock), grants a lease if
 * the node is the primary of the epoch and no failover over it is under
 * way, and answers at once. What the agents said reaches the log through
 * the policy (next_agent): at once when a fact a failover depends on
 * changed, otherwise every agent_refresh; a whole lease without a
 * heartbeat is committed as silence.
 *
 * Possible failure modes are: a heartbeat to a follower (NOT_LEADER with
 * the leader's address, like every write), for a node nobody registered
 * (the reply says so: the agent registers it), with facts out of range
 * (refused by the decoder), a new leader (it knows no grant: its book
 * starts empty, and it holds every lease for running until one whole lease
 * after it took over). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"
#include "policy.h"

void monitor_agents_tick(struct monitor *m)
{
    lease_book_follow(&m->leases, consensus_ready(&m->cons) ? m->cons.ready_term : 0,
                      consensus_now(&m->cons));
}

static void heartbeat_reply(struct monitor *m,
                            struct api_client *cl,
                            const struct command *hb,
                            uint64_t monitors_seen,
                            bool kick)
{
    struct api_response res;
    bool changed;
    api_response_init(&res);
    res.code = API_OK;
    res.body = API_HEARTBEAT;
    changed = lease_on_heartbeat(&m->leases, &m->fsm.state, hb->cluster, hb->node, &hb->u.agent,
                                 consensus_now(&m->cons), &res.hb);
    /* Where the agent may look for a leader: the voters, as they are now
     * (its [node] monitors are only where it starts looking). */
    lease_reply_monitors(&m->fsm.state, monitors_seen, &res.hb);
    if (!res.hb.registered) {
        snprintf(res.message, sizeof res.message, "no node %s in cluster %s", hb->node,
                 hb->cluster);
    }
    api_reply(cl, &res, NULL, NULL, 0);
    api_response_close(&res);
    if (changed && kick) {
        log_info("agent %s/%s: postmaster %s%s%s, %s", hb->cluster, hb->node,
                 hb->u.agent.pm_alive ? "running" : "down", hb->u.agent.fenced ? ", fenced" : "",
                 hb->u.agent.handover ? ", handed over" : "",
                 pgq_pg_state_name(hb->u.agent.pg_state));
        monitor_kick(m);
    }
}

/* An agent the state does not hold up (new, or silent: its lease ended
 * meanwhile, and a failover may have been decided by another leader) gets
 * its reply only once its return is committed: that proves this monitor
 * still leads and knows the latest epoch before it grants anything. */
struct hb_pending
{
    struct proposal p;
    struct monitor *m;
    struct api_client *cl;
    struct command cmd;
    uint64_t monitors_seen;
};

static void hb_committed_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct hb_pending *h = p->data;
    struct monitor *m = h->m;
    (void)res;
    if (status != 0 || !consensus_ready(&m->cons)) {
        api_reply_code(h->cl, API_UNAVAILABLE,
                       "leadership lost before the agent's return committed: retry", NULL);
    } else {
        heartbeat_reply(m, h->cl, &h->cmd, h->monitors_seen, false);
    }
    command_close(&h->cmd);
    free(h);
    monitor_kick(m);
}

void monitor_heartbeat(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    const struct state *s = &m->fsm.state;
    const struct node *n = cluster_node(state_cluster(s, req->cmd.cluster), req->cmd.node);
    monitor_agents_tick(m);
    if (n != NULL && n->agent.state != PGQ_AGENT_UP && s->feature_level >= 2) {
        struct hb_pending *h = calloc(1, sizeof *h);
        if (h == NULL) {
            api_reply_code(cl, API_INTERNAL, "out of memory", NULL);
            return;
        }
        h->m = m;
        h->cl = cl;
        h->cmd = req->cmd;
        h->monitors_seen = req->monitors_seen;
        h->cmd.u.agent.state = PGQ_AGENT_UP;
        if (s->feature_level < 5) {
            h->cmd.u.agent.system_id = 0; /* a field older monitors do not know */
        }
        h->p.data = h;
        h->p.cb = hb_committed_cb;
        if (consensus_propose(&m->cons, &h->p, &h->cmd) != 0) {
            free(h);
            api_reply_code(cl, API_UNAVAILABLE, "cannot commit the agent's return now: retry",
                           NULL);
        }
        return;
    }
    heartbeat_reply(m, cl, &req->cmd, req->monitors_seen, true);
}
