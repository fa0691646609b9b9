/* monitor, the report channel: this monitor's observations on their way to
 * the leader, who proposes them as CMD_REPORT so that verdicts rest on the
 * log. A report also tells the leader where this monitor's API is.
 *
 * The happy path is: at each tick, take the observations waiting in the
 * probe (all of one cluster, at most PGQ_MAX_NODES); on the ready leader,
 * propose them directly; elsewhere, send them as API_REPORT over the peer
 * channel to the leader's API, which proposes them. Once committed the probe
 * forgets them and the tick runs again for the rest.
 *
 * Possible failure modes are: no leader or its API address not known yet,
 * the leader unreachable, silent for REPORT_TIMEOUT_MS or refusing the
 * report, the proposal failing (leadership lost), the state machine refusing
 * it (logged). In each the observations stay pending in the probe and the
 * next report waits REPORT_BACKOFF_MS. */
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"

#define REPORT_TIMEOUT_MS 3000
#define REPORT_BACKOFF_MS 300

static void report_done(struct monitor *m, bool committed)
{
    probe_collect_done(&m->probe, committed);
    command_close(&m->report_cmd);
    m->report_pending = false;
    if (!committed) {
        m->report_backoff_until = uv_now(m->loop) + REPORT_BACKOFF_MS;
    } else {
        monitor_kick(m);
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

void monitor_flush_reports(struct monitor *m)
{
    const struct member *self = state_member(&m->fsm.state, m->cfg.id);
    /* Reports also tell the leader where this monitor's API is; with no
     * observation to send, an empty report does only that, once the
     * leader's generation has listed this monitor. */
    bool announce = self != NULL && (strcmp(self->api_address, m->cfg.api_address) != 0 ||
                                     self->max_level < PGQ_FEATURE_LEVEL);
    unsigned pending = probe_pending(&m->probe);
    const char *leader_api;
    uint64_t leader;
    struct obs *obs;
    unsigned n;
    if (m->report_pending || m->stopping || uv_now(m->loop) < m->report_backoff_until ||
        (pending == 0 && !announce)) {
        return;
    }
    /* Only voters' views count (Invariant 2), and the leader refuses the
     * others' reports: a monitor catching up as a standby, or removed,
     * keeps its observations until it votes. */
    if (self == NULL || !self->voter) {
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
    /* Rolling upgrades: the leader raises the state's feature level once
     * every voter said it supports it. */
    m->report_cmd.u.report.feature_level = PGQ_FEATURE_LEVEL;
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
