/* monitor, the wiring: the services of one pgquorumd monitor on one loop
 * (see monitor.h), started and stopped together, the tick that drives them,
 * the reactions to applied entries and the leader's work. The API's requests
 * are in monitor_api.c, the report channel to the leader in
 * monitor_report.c. */
#include "monitor.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"

#define TICK_MS 100

static void tick_cb(uv_timer_t *t);

void monitor_kick(struct monitor *m)
{
    if (!m->stopping) {
        uv_timer_start(&m->tick, tick_cb, 0, TICK_MS);
    }
}

/* ---- reactions to the committed state ---------------------------------- */

static void note_applied(struct monitor *m, const struct command *cmd)
{
    if (cmd->kind == CMD_REPORT) {
        m->reports_applied++;
    } else if (cmd->kind == CMD_AGENT) {
        m->agent_reports_applied++;
    } else if (cmd->kind == CMD_NODE_ADD || cmd->kind == CMD_NODE_REMOVE ||
               cmd->kind == CMD_CLUSTER_REMOVE) {
        m->nodes_changed = true;
    } else if (cmd->kind == CMD_BATCH) {
        for (unsigned i = 0; i < cmd->u.batch.n; i++) {
            note_applied(m, &cmd->u.batch.cmds[i]);
        }
    }
}

static void applied_cb(struct fsm *f, const struct command *cmd, const struct apply_result *res)
{
    struct monitor *m = f->data;
    (void)res;
    if (cmd == NULL) {
        m->nodes_changed = true; /* a snapshot was restored */
    } else {
        note_applied(m, cmd);
    }
    monitor_kick(m);
}

/* Nodes or clusters were removed: what this monitor keeps of them goes
 * (the probes went in probe_sync; a job on a node no longer due is dropped
 * by the actuator's next run). A lease granted to a removed node is kept
 * until it ends; looked at again once a second until none is left. */
static void forget(struct monitor *m)
{
    uint64_t now = uv_now(m->loop);
    if (!m->forget_due || now < m->forget_ms + 1000) {
        return;
    }
    m->forget_ms = now;
    monitor_http_forget(m);
    m->forget_due = lease_book_prune(&m->leases, &m->fsm.state, consensus_now(&m->cons)) > 0;
}

static void react(struct monitor *m)
{
    const struct state *s = &m->fsm.state;
    uint64_t kicked = m->kicked_seq;
    if (m->nodes_changed) {
        m->nodes_changed = false;
        monitor_resources_check(m); /* the probes' budget, then probe_sync */
        m->forget_due = true;
    }
    forget(m);
    if (s->leader_gen != m->seen_gen) {
        /* A new leader judges on fresh evidence only: send it everything. */
        m->seen_gen = s->leader_gen;
        probe_mark_all_dirty(&m->probe);
    }
    bool under_way = false;
    uint64_t what = 0;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *p = cluster_node(c, c->primary);
        if (cluster_failover_under_way(c)) {
            /* which clusters, at which step: a change starts a new hold */
            under_way = true;
            what += pgq_fnv1a(c->name) ^ (c->epoch << 8) ^ (uint64_t)c->fo.phase ^
                    ((uint64_t)c->sw.phase << 4);
        }
        if (p != NULL && p->verdict == PGQ_VERDICT_DOWN && p->verdict_seq > m->kicked_seq) {
            /* The primary is down by verdict: probe every node again now,
             * so that the leader gets WAL positions taken after the failure. */
            log_info(
                "cluster %s: primary %s down by verdict: probing standbys for fresh "
                "WAL positions",
                c->name, p->name);
            probe_kick(&m->probe, c->name, true);
            kicked = PGQ_MAX(kicked, p->verdict_seq);
        }
    }
    m->kicked_seq = kicked;
    probe_hold(&m->probe, under_way, what);
    /* After a failover step, look at the cluster again at once rather than
     * at the next round: status then shows the new roles and timelines. At
     * a decision this matters most: a monitor that still reaches the old
     * primary and finds it writable reports that at once (it is no longer
     * the primary of the epoch: state_obs_alerts), and the leader fences it
     * from that report, without waiting for a refresh. */
    /* The recent index holds the latest events of all clusters: those
     * applied since the last look are at its end. */
    for (unsigned i = s->recent.n; i-- > 0;) {
        const struct event *e = event_ring_at(&s->recent, i);
        if (e->seq <= m->seen_event_seq) {
            break; /* older ones were seen */
        }
        if (e->kind == PGQ_EV_FAILOVER_DONE) {
            const struct cluster *c = state_cluster(s, e->cluster);
            if (c != NULL && c->fo.epoch == e->epoch && c->fo.phase == PGQ_FO_DONE) {
                monitor_http_failover_done(m, c, e->time_ms);
            }
        }
        if (e->kind == PGQ_EV_AGENT) {
            /* An agent fell silent or said its PostgreSQL is down: see for
             * ourselves now rather than at the next round; the leader tells
             * the followers now too, so that their probes confirm it (the
             * verdict wants a majority) without waiting for a heartbeat. */
            const struct node *n = cluster_node(state_cluster(s, e->cluster), e->node);
            probe_kick(&m->probe, e->cluster, true);
            if (n != NULL &&
                (n->agent.state == PGQ_AGENT_SILENT || !n->agent.pm_alive || n->agent.fenced)) {
                consensus_nudge(&m->cons); /* not for an agent up or back */
            }
            continue;
        }
        /* A synchronous set committed or seen applied: the standbys'
         * positions tell when it is in force (state_obs_sync_due). */
        if (e->kind == PGQ_EV_DECISION || e->kind == PGQ_EV_PROMOTED ||
            e->kind == PGQ_EV_REPOINTED || e->kind == PGQ_EV_FENCED ||
            e->kind == PGQ_EV_FAILOVER_DONE || e->kind == PGQ_EV_SYNC) {
            probe_kick(&m->probe, e->cluster, false);
        }
    }
    m->seen_event_seq = s->event_seq;
}

/* ---- leader work -------------------------------------------------------- */

static void actions_cb(struct consensus *c, const struct action *a, unsigned n)
{
    struct monitor *m = c->data;
    actuator_run(&m->act, a, n);
}

static void stepped_down_cb(struct consensus *c)
{
    struct monitor *m = c->data;
    actuator_cancel_all(&m->act);
}

static void kick_cb(struct consensus *c)
{
    monitor_kick(c->data);
}

static bool action_due(struct actuator *a, const struct action *act)
{
    struct monitor *m = a->data;
    return !m->stopping && consensus_ready(&m->cons) &&
           policy_action_due(&m->fsm.state, &m->cons.policy, act);
}

static unsigned action_slots(struct actuator *a,
                             const struct action *act,
                             char (*names)[PGQ_SLOT_NAME_MAX],
                             unsigned max)
{
    struct monitor *m = a->data;
    return policy_slot_names(&m->fsm.state, act->cluster, names, max);
}

static void action_done_cb(struct actuator *a,
                           const struct action *act,
                           int status,
                           const struct command *step,
                           const char *errmsg)
{
    struct monitor *m = a->data;
    (void)errmsg;
    if (status == 0 && act->kind == ACT_SYNC && !m->stopping) {
        /* The primary runs the set now: an observation of it says so (and
         * confirms it) without waiting for the next round. */
        probe_kick(&m->probe, act->cluster, false);
    }
    if (status == 0 && step != NULL && !m->stopping) {
        int rv = monitor_propose_copy(m, NULL, step);
        if (rv != 0) {
            log_warn("cannot commit %s step for %s: %s", pgq_step_name(step->u.step.kind),
                     step->node, pgq_strerror(rv));
        }
    }
}

/* A leader that cannot reach the node a committed decision needs (cut off
 * from the candidate while the other monitors see it up) would hold the
 * failover forever: after a while it hands leadership to another monitor,
 * which may reach it. */
static void hand_over(struct monitor *m)
{
    uint64_t limit = PGQ_MAX(2 * m->cfg.timeout_ms, 5000);
    uint64_t now = uv_now(m->loop);
    uint64_t stuck = actuator_unreachable_ms(&m->act);
    if (!consensus_ready(&m->cons) || stuck < limit || now < m->handed_over_at + limit) {
        return;
    }
    log_warn(
        "cannot reach a node it must act on for %llu ms: handing leadership to another "
        "monitor",
        (unsigned long long)stuck);
    m->handed_over_at = now;
    consensus_transfer(&m->cons);
}

static void probe_dirty_cb(struct probe *p)
{
    monitor_kick(p->data);
}

static void tick_cb(uv_timer_t *t)
{
    struct monitor *m = t->data;
    if (m->stopping) {
        return;
    }
    if (consensus_failed(&m->cons)) {
        /* Serving a state libraft no longer vouches for is worse than
         * stopping: a supervisor restarts the monitor from its log. */
        log_error("Raft stopped on an unrecoverable error (%s): exiting",
                  consensus_errmsg(&m->cons));
        m->exit_code = 1;
        monitor_stop(m, NULL);
        return;
    }
    {
        const char *leader_api;
        if (consensus_leader(&m->cons, &leader_api) != 0) {
            m->leader_seen_ms = uv_now(m->loop);
        }
    }
    react(m);
    monitor_agents_tick(m);
    monitor_resources_tick(m);
    consensus_tick(&m->cons);
    membership_tick(&m->members);
    hand_over(m);
    monitor_flush_reports(m);
    monitor_flush_audits(m);
}

/* ---- start and stop ----------------------------------------------------- */

/* The leader's policy settings, from m->cfg (at start and at a reload). */
static void policy_settings(struct monitor *m)
{
    const struct config *cfg = &m->cfg;
    m->cons.policy.failover_timeout_ms = cfg->failover_timeout_ms;
    m->cons.policy.max_lag_bytes = cfg->max_lag_bytes;
    m->cons.policy.cut_timeout_ms = cfg->cut_timeout_ms;
    m->cons.policy.retry_ms = cfg->promote_timeout_ms;
    /* Invariant 2: a verdict counts only live monitors. A monitor still
     * seeing a node down re-reports it every interval; its probes of a down
     * node end every retry_interval, each within timeout; a second covers
     * the report's way to the log. A down view older than that is from a
     * monitor that stopped or was cut off. */
    m->cons.policy.view_max_age_ms = config_down_view_ttl_ms(cfg);
    m->cons.policy.agent_refresh_ms = cfg->agent_refresh_ms;
    m->cons.policy.replication_slots = cfg->replication_slots;
    m->cons.policy.events_per_cluster = (unsigned)cfg->events_per_cluster;
    m->cons.policy.events_global = (unsigned)cfg->events_global;
    m->cons.policy.overload_lag_ms = resources_overload_lag_ms(cfg);
}

void monitor_status_line(struct monitor *m, char *out, size_t size)
{
    struct raft_info info;
    unsigned voters = 0;
    const struct state *s = &m->fsm.state;
    for (unsigned i = 0; i < s->n_monitors; i++) {
        voters += s->monitors[i].voter ? 1 : 0;
    }
    consensus_info(&m->cons, &info);
    snprintf(out, size, "monitor %" PRIu64 ": %s", m->cfg.id, pgq_monitor_role_name(info.role));
    if (info.role == PGQ_MON_LEADER) {
        pgq_appendf(out, size, "%s", info.ready ? "" : " (not ready)");
    } else if (info.leader_id != 0) {
        pgq_appendf(out, size, " of %" PRIu64, info.leader_id);
    }
    pgq_appendf(out, size, ", %u voters, term %" PRIu64 ", %u clusters", voters, info.term,
                s->n_clusters);
}

void monitor_reconfigure(struct monitor *m, const struct config *cfg)
{
    bool cadence = cfg->interval_ms != m->cfg.interval_ms ||
                   cfg->retry_interval_ms != m->cfg.retry_interval_ms;
    /* Only the keys reload.c calls live differ from the running ones: the
     * addresses, the ids and the Raft settings in cfg are those in use. */
    assert(cfg->id == m->cfg.id && strcmp(cfg->data_dir, m->cfg.data_dir) == 0);
    m->cfg = *cfg;
    policy_settings(m);
    probe_reconfigure(&m->probe, cadence);
    m->http.max_clients = (unsigned)cfg->http_max_clients;
    m->http.idle_ms = cfg->http_idle_timeout_ms;
    monitor_authz_reconfigure(m);
}

int monitor_start(struct monitor *m,
                  uv_loop_t *loop,
                  const struct config *cfg,
                  char *errmsg,
                  size_t errsize)
{
    int rv;
    memset(m, 0, sizeof *m);
    m->loop = loop;
    m->cfg = *cfg;
    fsm_init(&m->fsm);
    m->fsm.data = m;
    m->fsm.applied_cb = applied_cb;
    probe_init(&m->probe, loop, &m->cfg, &m->fsm.state, cfg->id);
    m->probe.data = m;
    m->probe.dirty_cb = probe_dirty_cb;
    m->probe.lw = &m->lw;
    actuator_init(&m->act, loop, &m->cfg, cfg->id);
    m->act.data = m;
    m->act.due_cb = action_due;
    m->act.slots_cb = action_slots;
    m->act.done_cb = action_done_cb;
    uv_timer_init(loop, &m->tick);
    m->tick.data = m;
    rv = monitor_resources_start(m, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    rv = transport_start(&m->transport, loop, &m->cfg, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (peer_init(&m->peer, loop, &m->transport) != 0) {
        snprintf(errmsg, errsize, "cannot create the report channel");
        return PGQ_IO;
    }
    m->peer.data = m;
    m->started_peer = true;
    rv = monitor_authz_start(m, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    rv = api_start(&m->api, loop, &m->cfg, &m->transport, monitor_handle_request, errmsg, errsize);
    m->api.data = m;
    m->api.state = &m->fsm.state;
    m->started_api = true; /* its listener handle exists even on failure */
    if (rv != 0) {
        return rv;
    }
    rv = monitor_http_start(m, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    rv = consensus_uv_start(&m->cu, loop, &m->cfg, &m->transport, &m->fsm, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    m->cu.data = m;
    m->started_raft = true;
    consensus_init(&m->cons, &m->cu.raft, &m->fsm, cfg->id);
    pgq_strlcpy(m->cons.api_address, cfg->api_address, sizeof m->cons.api_address);
    policy_settings(m);
    lease_book_init(&m->leases, cfg->lease_ms,
                    PGQ_MAX(cfg->lease_drift_ms, cfg->election_timeout_ms));
    m->cons.policy.leases = &m->leases;
    m->cons.actions_cb = actions_cb;
    m->cons.stepped_down_cb = stepped_down_cb;
    m->cons.kick_cb = kick_cb;
    m->cons.data = m;
    monitor_member_start(m);
    m->nodes_changed = true;
    monitor_kick(m);
    log_info("monitor %" PRIu64 " started: raft %s, api %s, http %s, data_dir %s%s", cfg->id,
             cfg->raft_address, cfg->api_address,
             cfg->http_address[0] != '\0' ? cfg->http_address : "off", cfg->data_dir,
             m->cu.bootstrapped ? " (bootstrapped)" : "");
    if (m->cu.joining) {
        log_info("monitor %" PRIu64
                 " joins a running group (join = on): waiting to be added "
                 "(pgquorumctl monitor add %" PRIu64 " %s %s)",
                 cfg->id, cfg->id, cfg->raft_address, cfg->api_address);
    }
    {
        char warning[256];
        if (m->cu.bootstrapped && config_voters_warning(cfg, warning, sizeof warning)) {
            log_warn("%s", warning);
        }
    }
    return 0;
}

static void part_stopped(struct monitor *m)
{
    if (--m->pending > 0) {
        return;
    }
    consensus_close(&m->cons);
    monitor_authz_close(m);
    lease_book_close(&m->leases);
    fsm_close(&m->fsm);
    free(m->fo_counts);
    m->fo_counts = NULL;
    transport_close(&m->transport, NULL);
    log_info("monitor %" PRIu64 " stopped", m->cfg.id);
    if (m->stopped_cb != NULL) {
        m->stopped_cb(m);
    }
}

static void tick_closed_cb(uv_handle_t *h)
{
    part_stopped(h->data);
}

static void api_closed_cb(struct api_server *s)
{
    part_stopped(s->data);
}

static void http_closed_cb(struct http_server *s)
{
    part_stopped(s->data);
}

static void peer_closed_cb(struct peer *p)
{
    part_stopped(p->data);
}

static void probe_closed_cb(struct probe *p)
{
    part_stopped(p->data);
}

static void actuator_closed_cb(struct actuator *a)
{
    part_stopped(a->data);
}

static void raft_closed_cb(struct consensus_uv *cu)
{
    part_stopped(cu->data);
}

static void loadwatch_closed_cb(struct loadwatch *w)
{
    part_stopped(w->data);
}

void monitor_stop(struct monitor *m, monitor_stopped_cb cb)
{
    if (m->stopping) {
        return;
    }
    m->stopping = true;
    if (cb != NULL) {
        m->stopped_cb = cb;
    }
    /* One count per part, plus one held until every close has started. */
    m->pending = 4 + (m->started_peer ? 1u : 0u) + (m->started_audit_peer ? 1u : 0u) +
                 (m->started_api ? 1u : 0u) + (m->started_http ? 1u : 0u) +
                 (m->started_raft ? 1u : 0u) + (m->started_lw ? 1u : 0u);
    uv_timer_stop(&m->tick);
    uv_close((uv_handle_t *)&m->tick, tick_closed_cb);
    consensus_closing(&m->cons); /* what is proposed is stored, nothing more */
    if (m->started_raft) {
        monitor_member_stop(m); /* its client answered before the API closes */
    }
    if (m->started_api) {
        api_close(&m->api, api_closed_cb);
    }
    if (m->started_http) {
        http_close(&m->http, http_closed_cb);
    }
    if (m->started_peer) {
        peer_close(&m->peer, peer_closed_cb);
    }
    if (m->started_audit_peer) {
        peer_close(&m->audit_peer, peer_closed_cb);
    }
    probe_close(&m->probe, probe_closed_cb);
    actuator_close(&m->act, actuator_closed_cb);
    if (m->started_raft) {
        consensus_uv_close(&m->cu, raft_closed_cb);
    }
    if (m->started_lw) {
        loadwatch_close(&m->lw, loadwatch_closed_cb);
    }
    part_stopped(m);
}
