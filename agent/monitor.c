/* monitor: the services of one pgquorumd monitor on one loop (see
 * monitor.h). */
#include "monitor.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "lib/util.h"
#include "log.h"

#define TICK_MS 100
#define REPORT_TIMEOUT_MS 3000
#define REPORT_BACKOFF_MS 300

struct pending_write
{
    struct proposal p;
    struct monitor *m;
    struct api_client *cl; /* NULL for the monitor's own steps */
    struct command cmd;
};

static void tick_cb(uv_timer_t *t);

static void kick(struct monitor *m)
{
    if (!m->stopping) {
        uv_timer_start(&m->tick, tick_cb, 0, TICK_MS);
    }
}

static uint64_t rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static int api_code_of(int pgq_code)
{
    switch (pgq_code) {
        case 0:
            return API_OK;
        case PGQ_INVALID:
        case PGQ_MALFORMED:
        case PGQ_TOOBIG:
        case PGQ_VERSION:
        case PGQ_UNKNOWN:
            return API_BAD_REQUEST;
        case PGQ_NOTLEADER:
            return API_NOT_LEADER;
        case PGQ_UNAVAILABLE:
        case PGQ_SHUTDOWN:
        case PGQ_TIMEOUT:
            return API_UNAVAILABLE;
        case PGQ_NOMEM:
        case PGQ_INTERNAL:
            return API_INTERNAL;
        default:
            return API_REFUSED;
    }
}

/* ---- reactions to the committed state ---------------------------------- */

static void applied_cb(struct fsm *f, const struct command *cmd, const struct apply_result *res)
{
    struct monitor *m = f->data;
    (void)res;
    if (cmd == NULL || cmd->kind == CMD_NODE_ADD || cmd->kind == CMD_NODE_REMOVE) {
        m->nodes_changed = true;
    }
    kick(m);
}

static void react(struct monitor *m)
{
    const struct state *s = &m->fsm.state;
    uint64_t kicked = m->kicked_seq;
    if (m->nodes_changed) {
        m->nodes_changed = false;
        probe_sync(&m->probe);
    }
    if (s->leader_gen != m->seen_gen) {
        /* A new leader judges on fresh evidence only: send it everything. */
        m->seen_gen = s->leader_gen;
        probe_mark_all_dirty(&m->probe);
    }
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *p = cluster_node(c, c->primary);
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
    /* After a failover step, look at the cluster again at once rather than
     * at the next round: status then shows the new roles and timelines. At
     * a decision this matters most: a monitor that still reaches the old
     * primary and finds it writable reports that at once (it is no longer
     * the primary of the epoch: state_obs_alerts), and the leader fences it
     * from that report, without waiting for a refresh. */
    for (unsigned i = s->n_events; i-- > 0;) {
        const struct event *e = state_event(s, i);
        if (e->seq <= m->seen_event_seq) {
            break; /* older ones were seen */
        }
        if (e->kind == PGQ_EV_DECISION || e->kind == PGQ_EV_PROMOTED ||
            e->kind == PGQ_EV_REPOINTED || e->kind == PGQ_EV_FENCED ||
            e->kind == PGQ_EV_FAILOVER_DONE) {
            probe_kick(&m->probe, e->cluster, false);
        }
    }
    m->seen_event_seq = s->event_seq;
}

/* ---- the report channel to the leader ---------------------------------- */

static void report_done(struct monitor *m, bool committed)
{
    probe_collect_done(&m->probe, committed);
    command_close(&m->report_cmd);
    m->report_pending = false;
    if (!committed) {
        m->report_backoff_until = uv_now(m->loop) + REPORT_BACKOFF_MS;
    } else {
        kick(m);
    }
}

static void report_applied_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct monitor *m = p->data;
    if (status == 0 && res->code != 0) {
        log_warn("report refused: %s", res->message);
    }
    report_done(m, status == 0 && res->code == 0);
}

static void report_sent_cb(struct peer *p, int status, const struct api_response *res)
{
    struct monitor *m = p->data;
    bool ok = status == 0 && res->code == API_OK;
    if (status != 0) {
        log_debug("report to leader failed: %s", p->errmsg);
    } else if (res->code != API_OK) {
        log_debug("report to leader refused: %s", res->message);
    }
    report_done(m, ok);
}

static void flush_reports(struct monitor *m)
{
    const struct member *self = state_member(&m->fsm.state, m->cfg.id);
    /* Reports also tell the leader where this monitor's API is; with no
     * observation to send, an empty report does only that, once the
     * leader's generation has listed this monitor. */
    bool announce = self != NULL && strcmp(self->api_address, m->cfg.api_address) != 0;
    unsigned pending = probe_pending(&m->probe);
    const char *leader_api;
    uint64_t leader;
    struct obs *obs;
    unsigned n;
    if (m->report_pending || m->stopping || uv_now(m->loop) < m->report_backoff_until ||
        (pending == 0 && !announce)) {
        return;
    }
    obs = calloc(PGQ_MAX(PGQ_MIN(pending, PGQ_MAX_NODES), 1), sizeof *obs);
    if (obs == NULL) {
        return;
    }
    command_init(&m->report_cmd, CMD_REPORT);
    n = probe_collect(&m->probe, m->report_cmd.cluster, obs, PGQ_MIN(pending, PGQ_MAX_NODES));
    if (announce || self == NULL) {
        pgq_strlcpy(m->report_cmd.u.report.api_address, m->cfg.api_address,
                    sizeof m->report_cmd.u.report.api_address);
    }
    m->report_cmd.u.report.obs = obs;
    m->report_cmd.u.report.n_obs = n;
    m->report_cmd.u.report.monitor_id = m->cfg.id;
    m->report_pending = true;
    if (consensus_ready(&m->cons)) {
        m->report_p.data = m;
        m->report_p.cb = report_applied_cb;
        if (consensus_propose(&m->cons, &m->report_p, &m->report_cmd) != 0) {
            report_done(m, false);
        }
        return;
    }
    leader = consensus_leader(&m->cons, &leader_api);
    if (leader != 0 && leader != m->cfg.id && leader_api[0] != '\0') {
        struct api_request req;
        memset(&req, 0, sizeof req);
        req.kind = API_REPORT;
        req.cmd = m->report_cmd;
        if (peer_request(&m->peer, leader_api, &req, REPORT_TIMEOUT_MS, report_sent_cb) == 0) {
            return;
        }
    }
    report_done(m, false);
}

/* ---- writes: client commands and the leader's own steps ----------------- */

static void write_done_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct pending_write *w = p->data;
    if (w->cl != NULL) {
        if (status != 0) {
            api_reply_code(w->cl, api_code_of(status),
                           status == PGQ_NOTLEADER ? "leadership lost before the command "
                                                     "committed: retry"
                                                   : "the command could not be committed: retry",
                           NULL);
        } else {
            api_reply_code(w->cl, api_code_of(res->code),
                           res->code == 0 ? "committed" : res->message, NULL);
        }
    } else if (status == 0 && res->code != 0) {
        log_info("step refused: %s", res->message);
    }
    struct monitor *m = w->m;
    command_close(&w->cmd);
    free(w);
    kick(m);
}

/* Copy cmd (deeply) and propose it; the reply goes to cl when not NULL. */
static int propose_copy(struct monitor *m, struct api_client *cl, const struct command *cmd)
{
    struct pending_write *w = calloc(1, sizeof *w);
    int rv;
    if (w == NULL) {
        return PGQ_NOMEM;
    }
    w->m = m;
    w->cl = cl;
    w->cmd = *cmd;
    if (cmd->kind == CMD_REPORT && cmd->u.report.n_obs > 0) {
        w->cmd.u.report.obs = calloc(cmd->u.report.n_obs, sizeof *cmd->u.report.obs);
        if (w->cmd.u.report.obs == NULL) {
            free(w);
            return PGQ_NOMEM;
        }
        memcpy(w->cmd.u.report.obs, cmd->u.report.obs,
               cmd->u.report.n_obs * sizeof *cmd->u.report.obs);
    }
    w->p.data = w;
    w->p.cb = write_done_cb;
    rv = consensus_propose(&m->cons, &w->p, &w->cmd);
    if (rv != 0) {
        command_close(&w->cmd);
        free(w);
    }
    return rv;
}

static void handle_write(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct apply_result res;
    const char *leader_api;
    uint64_t leader;
    char msg[256];
    int rv;
    if (!consensus_ready(&m->cons)) {
        leader = consensus_leader(&m->cons, &leader_api);
        if (leader == m->cfg.id) {
            api_reply_code(cl, API_UNAVAILABLE,
                           "this monitor was just elected and is catching up with the log: retry",
                           NULL);
        } else if (leader != 0) {
            snprintf(msg, sizeof msg,
                     "monitor %" PRIu64 " is not the leader; monitor %" PRIu64 " at %s is",
                     m->cfg.id, leader, leader_api[0] != '\0' ? leader_api : "(address unknown)");
            api_reply_code(cl, API_NOT_LEADER, msg, leader_api);
        } else {
            api_reply_code(cl, API_UNAVAILABLE, "no leader: the monitors have no quorum now", NULL);
        }
        return;
    }
    /* Reports change verdicts: only a voter may send them, and only from
     * the host of its Raft address (the API has no authentication yet). */
    if (req->kind == API_REPORT) {
        const struct member *mb = state_member(&m->fsm.state, req->cmd.u.report.monitor_id);
        char host[PGQ_ADDR_MAX];
        uint16_t port;
        if (mb == NULL || !mb->voter ||
            pgq_parse_hostport(mb->raft_address, host, sizeof host, &port) != 0 ||
            strcmp(host, api_client_peer(cl)) != 0) {
            snprintf(msg, sizeof msg,
                     "report for monitor %" PRIu64
                     " refused: it comes from %s, not from the "
                     "host of a voter with that id",
                     req->cmd.u.report.monitor_id, api_client_peer(cl));
            log_warn("api: %s", msg);
            api_reply_code(cl, API_REFUSED, msg, NULL);
            return;
        }
    }
    /* Refuse a bad command before it reaches the log, with the same words
     * the state machine would use. */
    if (cluster_check(&m->fsm.state, &req->cmd, &res) != 0) {
        api_reply_code(cl, api_code_of(res.code), res.message, NULL);
        return;
    }
    rv = propose_copy(m, cl, &req->cmd);
    if (rv != 0) {
        api_reply_code(cl, api_code_of(rv), pgq_strerror(rv), NULL);
    }
}

static void handle_request(struct api_server *s,
                           struct api_client *cl,
                           const struct api_request *req)
{
    struct monitor *m = s->data;
    struct api_response res;
    char err[256];
    if (m->stopping) {
        api_reply_code(cl, API_UNAVAILABLE, "shutting down", NULL);
        return;
    }
    switch (req->kind) {
        case API_STATUS:
        case API_EVENTS:
            api_response_init(&res);
            res.body = req->kind;
            consensus_info(&m->cons, &res.info);
            res.info.rss_kb = rss_kb();
            api_reply(cl, &res, &m->fsm.state, req->cluster, req->limit);
            api_response_close(&res);
            return;
        case API_FAILPOINT:
            if (failpoint_set(req->fp_name, req->fp_action, req->fp_arg, err, sizeof err) != 0) {
                api_reply_code(cl, API_REFUSED, err, NULL);
            } else {
                api_reply_code(cl, API_OK, "armed", NULL);
            }
            return;
        case API_NODE_ADD:
        case API_NODE_REMOVE:
        case API_MAINTENANCE:
        case API_REPORT:
            handle_write(m, cl, req);
            return;
        default:
            api_reply_code(cl, API_BAD_REQUEST, "unknown request", NULL);
            return;
    }
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
    kick(c->data);
}

static bool action_due(struct actuator *a, const struct action *act)
{
    struct monitor *m = a->data;
    return !m->stopping && consensus_ready(&m->cons) && policy_action_due(&m->fsm.state, act);
}

static void action_done_cb(struct actuator *a,
                           const struct action *act,
                           int status,
                           const struct command *step,
                           const char *errmsg)
{
    struct monitor *m = a->data;
    (void)act;
    (void)errmsg;
    if (status == 0 && step != NULL && !m->stopping) {
        int rv = propose_copy(m, NULL, step);
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
    kick(p->data);
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
        log_error("Raft stopped on an unrecoverable error: exiting");
        m->exit_code = 1;
        monitor_stop(m, NULL);
        return;
    }
    react(m);
    consensus_tick(&m->cons);
    hand_over(m);
    flush_reports(m);
}

/* ---- start and stop ----------------------------------------------------- */

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
    actuator_init(&m->act, loop, &m->cfg, cfg->id);
    m->act.data = m;
    m->act.due_cb = action_due;
    m->act.done_cb = action_done_cb;
    uv_timer_init(loop, &m->tick);
    m->tick.data = m;
    if (peer_init(&m->peer, loop) != 0) {
        snprintf(errmsg, errsize, "cannot create the report channel");
        return PGQ_IO;
    }
    m->peer.data = m;
    m->started_peer = true;
    rv = api_start(&m->api, loop, &m->cfg, handle_request, errmsg, errsize);
    m->api.data = m;
    m->started_api = true; /* its listener handle exists even on failure */
    if (rv != 0) {
        return rv;
    }
    rv = consensus_uv_start(&m->cu, loop, &m->cfg, &m->fsm, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    m->cu.data = m;
    m->started_raft = true;
    consensus_init(&m->cons, &m->cu.raft, &m->fsm, cfg->id);
    pgq_strlcpy(m->cons.api_address, cfg->api_address, sizeof m->cons.api_address);
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
    m->cons.actions_cb = actions_cb;
    m->cons.stepped_down_cb = stepped_down_cb;
    m->cons.kick_cb = kick_cb;
    m->cons.data = m;
    m->nodes_changed = true;
    kick(m);
    log_info("monitor %" PRIu64 " started: raft %s, api %s, data_dir %s%s", cfg->id,
             cfg->raft_address, cfg->api_address, cfg->data_dir,
             m->cu.bootstrapped ? " (bootstrapped)" : "");
    return 0;
}

static void part_stopped(struct monitor *m)
{
    if (--m->pending > 0) {
        return;
    }
    consensus_close(&m->cons);
    fsm_close(&m->fsm);
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
    m->pending =
        4 + (m->started_peer ? 1u : 0u) + (m->started_api ? 1u : 0u) + (m->started_raft ? 1u : 0u);
    uv_timer_stop(&m->tick);
    uv_close((uv_handle_t *)&m->tick, tick_closed_cb);
    if (m->started_api) {
        api_close(&m->api, api_closed_cb);
    }
    if (m->started_peer) {
        peer_close(&m->peer, peer_closed_cb);
    }
    probe_close(&m->probe, probe_closed_cb);
    actuator_close(&m->act, actuator_closed_cb);
    if (m->started_raft) {
        consensus_uv_close(&m->cu, raft_closed_cb);
    }
    part_stopped(m);
}
