/* monitor, its resources: the open-file limit against what Raft, the API,
 * HTTP, the log drain, the actions and one probe per node need
 * (resources.h), the probes shed beyond it, and the loop's lateness handed
 * to the leader's policy.
 *
 * The happy path is: at start the limit (raised to the hard one by
 * main_pgquorumd.c) covers everything; at every change of the registered
 * nodes the need is computed again, and it still does.
 *
 * Possible failure modes are: the limit is below what Raft and the API need
 * (the monitor does not start, naming the limit), below what every node
 * needs (the last registered nodes are shed, a warning names the numbers,
 * the leader commits an overload event, status and /metrics show it), the
 * loop runs late (its lateness goes to the policy, which holds failovers
 * that may be the monitors' own overload). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "memory.h"
#include "monitor_internal.h"

/* Lines about shedding: at its start and end at once, changes in between at
 * most this often. */
#define SHED_LOG_MS 10000

static unsigned voters(const struct monitor *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->fsm.state.n_monitors; i++) {
        n += m->fsm.state.monitors[i].voter ? 1u : 0u;
    }
    return n;
}

static uint64_t registered_nodes(const struct monitor *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < m->fsm.state.n_clusters; i++) {
        n += m->fsm.state.clusters[i].n_nodes;
    }
    return n;
}

int monitor_resources_start(struct monitor *m, char *errmsg, size_t errsize)
{
    char what[256];
    m->fd_limit = loadwatch_nofile();
    resources_need(&m->cfg, 0, 0, &m->fd_need);
    if (m->fd_limit != 0 && m->fd_limit < m->fd_need.essential) {
        snprintf(errmsg, errsize,
                 "the open-file limit %" PRIu64 " is too low: Raft and the API alone need %" PRIu64
                 " file descriptors (raise LimitNOFILE or ulimit -n)",
                 m->fd_limit, m->fd_need.essential);
        return PGQ_UNAVAILABLE;
    }
    if (m->fd_limit != 0 && m->fd_limit < resources_fixed(&m->fd_need)) {
        resources_describe(&m->fd_need, what, sizeof what);
        log_warn("the open-file limit %" PRIu64 " is below the %" PRIu64
                 " descriptors this monitor needs before its first probe (%s): no node will be "
                 "probed; lower [api] max_clients and [http] max_clients or raise LimitNOFILE",
                 m->fd_limit, resources_fixed(&m->fd_need), what);
    }
    if (loadwatch_start(&m->lw, m->loop) != 0) {
        snprintf(errmsg, errsize, "cannot create the loop watch timer");
        return PGQ_IO;
    }
    m->lw.data = m;
    m->started_lw = true;
    return 0;
}

/* The line on shedding: at its start and end at once, a change of the
 * count at most every SHED_LOG_MS (a registration of many nodes adds them
 * one by one). */
static void log_shedding(struct monitor *m)
{
    uint64_t now = uv_now(m->loop), total;
    bool edge = (m->probe.n_shed == 0) != (m->shed_logged == 0);
    char what[256];
    if (m->probe.n_shed == m->shed_logged || (!edge && now < m->shed_log_ms + SHED_LOG_MS)) {
        return;
    }
    total = resources_total(&m->fd_need);
    resources_describe(&m->fd_need, what, sizeof what);
    if (m->probe.n_shed > 0) {
        log_warn("probes shed: %u of %u nodes are not probed: the open-file limit %" PRIu64
                 " is below the %" PRIu64
                 " descriptors they need (%s); the last registered "
                 "are shed and never reported down; raise LimitNOFILE to at least %" PRIu64,
                 m->probe.n_shed, m->probe.n_targets, m->fd_limit, total, what, total);
    } else {
        log_info("every node is probed again: %u nodes, open-file limit %" PRIu64 ", %" PRIu64
                 " needed",
                 m->probe.n_targets, m->fd_limit, total);
    }
    m->shed_logged = m->probe.n_shed;
    m->shed_log_ms = now;
}

void monitor_resources_check(struct monitor *m)
{
    resources_need(&m->cfg, voters(m), registered_nodes(m), &m->fd_need);
    m->probe.budget =
        m->fd_limit != 0 ? resources_probe_budget(&m->fd_need, m->fd_limit) : UINT64_MAX;
    probe_sync(&m->probe);
    log_shedding(m);
}

void monitor_resources_tick(struct monitor *m)
{
    uint64_t now = uv_now(m->loop), window = m->cons.policy.view_max_age_ms;
    log_shedding(m);
    pgq_memory_tick(now, &m->trim_ms);
    if (!m->started_lw) {
        return;
    }
    m->cons.policy.loop_lag_ms = loadwatch_lag_since(&m->lw, now > window ? now - window : 0);
}

bool monitor_resources_report(struct monitor *m, struct cmd_report *r)
{
    const struct member *self = state_member(&m->fsm.state, m->cfg.id);
    /* Level 6: a monitor of an older version would refuse the report. */
    if (m->fsm.state.feature_level < 6 || self == NULL || self->probes_shed == m->probe.n_shed) {
        return false;
    }
    r->has_resources = true;
    r->probes_shed = m->probe.n_shed;
    r->probes = m->probe.n_targets;
    r->fd_limit = m->fd_limit;
    r->fd_needed = resources_total(&m->fd_need);
    return true;
}

void monitor_resources_info(struct monitor *m, struct raft_info *info)
{
    uint64_t now = uv_now(m->loop), window = m->cons.policy.view_max_age_ms;
    info->probes = m->probe.n_targets;
    info->probes_shed = m->probe.n_shed;
    info->fd_limit = m->fd_limit;
    info->fd_needed = resources_total(&m->fd_need);
    info->loop_lag_ms =
        m->started_lw ? loadwatch_lag_since(&m->lw, now > window ? now - window : 0) : 0;
    info->overloaded = info->loop_lag_ms >= resources_overload_lag_ms(&m->cfg);
}
