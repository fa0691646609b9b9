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

void monitor_heartbeat(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct api_response res;
    bool changed;
    monitor_agents_tick(m);
    api_response_init(&res);
    res.code = API_OK;
    res.body = API_HEARTBEAT;
    changed = lease_on_heartbeat(&m->leases, &m->fsm.state, req->cmd.cluster, req->cmd.node,
                                 &req->cmd.u.agent, consensus_now(&m->cons), &res.hb);
    if (!res.hb.registered) {
        snprintf(res.message, sizeof res.message, "no node %s in cluster %s", req->cmd.node,
                 req->cmd.cluster);
    }
    api_reply(cl, &res, NULL, NULL, 0);
    api_response_close(&res);
    if (changed) {
        log_info("agent %s/%s: postmaster %s%s%s, %s", req->cmd.cluster, req->cmd.node,
                 req->cmd.u.agent.pm_alive ? "running" : "down",
                 req->cmd.u.agent.fenced ? ", fenced" : "",
                 req->cmd.u.agent.handover ? ", handed over" : "",
                 pgq_pg_state_name(req->cmd.u.agent.pg_state));
        monitor_kick(m);
    }
}
