/* monitor, the report channel: this monitor's observations on their way to
 * the leader, who proposes them as CMD_REPORT so that verdicts rest on the
 * log. A report also tells the leader where this monitor's API is.
 *
 * The happy path is: at each tick, take the observations waiting in the
 * probe (from level 6, of every cluster, at most REPORT_BATCH_OBS, as one
 * batch of a report per cluster; below, of one cluster); on the ready leader,
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

#include "pgquorum/pgquorum.h"

#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"

#define REPORT_TIMEOUT_MS 3000
#define REPORT_BACKOFF_MS 300
/* Refreshes wait this long to go together (probe_report_due): at 10,000
 * nodes with probes spread over the interval, each monitor otherwise sent
 * an entry per commit (200 entries a second, 27 % of the leader's core). */
#define REPORT_COALESCE_MS 500

static void report_done(struct monitor *m, bool committed)
{
    probe_collect_done(&m->probe, committed ? &m->report_cmd : NULL);
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

/* Observations of one entry at most, and what they may take encoded: a
 * batch stays under PGQ_FRAME_MAX on its way from a follower whatever its
 * observations hold (a primary's may take 3 KB, a standby's 300 bytes). */
#define REPORT_BATCH_OBS 1000
#define REPORT_BATCH_BYTES (PGQ_FRAME_MAX / 2)

struct tagged
{
    const char *cluster;
    struct obs *obs;
};

static int by_cluster(const void *a, const void *b)
{
    const struct tagged *x = a, *y = b;
    int c = strcmp(x->cluster, y->cluster);
    /* Stable within a cluster: the probe's order. */
    return c != 0 ? c : (x->obs < y->obs ? -1 : x->obs > y->obs);
}

/* Level 6: what is waiting, of every cluster, as one batch of one report
 * per cluster (a single report when it is one cluster). The first report
 * says where this monitor's API is. 0, or PGQ_NOMEM with nothing taken. */
static int collect_batch(struct monitor *m, unsigned pending, bool announce)
{
    unsigned max = PGQ_MIN(pending, REPORT_BATCH_OBS), n, groups = 0;
    struct obs *obs = calloc(PGQ_MAX(max, 1), sizeof *obs);
    const char **clusters = calloc(PGQ_MAX(max, 1), sizeof *clusters);
    struct tagged *tags = calloc(PGQ_MAX(max, 1), sizeof *tags);
    struct command *subs = NULL;
    int rv = PGQ_NOMEM;
    if (obs == NULL || clusters == NULL || tags == NULL) {
        goto out;
    }
    n = probe_collect_many(&m->probe, obs, clusters, max, REPORT_BATCH_BYTES);
    for (unsigned i = 0; i < n; i++) {
        tags[i].cluster = clusters[i];
        tags[i].obs = &obs[i];
    }
    qsort(tags, n, sizeof *tags, by_cluster);
    for (unsigned i = 0; i < n; i++) {
        groups += i == 0 || strcmp(tags[i].cluster, tags[i - 1].cluster) != 0 ? 1u : 0u;
    }
    subs = calloc(PGQ_MAX(groups, 1), sizeof *subs);
    if (subs == NULL) {
        probe_collect_done(&m->probe, NULL);
        goto out;
    }
    for (unsigned i = 0, g = 0; i < n; g++) {
        struct cmd_report *r = &subs[g].u.report;
        unsigned k = i;
        while (k < n && strcmp(tags[k].cluster, tags[i].cluster) == 0) {
            k++;
        }
        command_init(&subs[g], CMD_REPORT);
        pgq_strlcpy(subs[g].cluster, tags[i].cluster, sizeof subs[g].cluster);
        r->obs = malloc((k - i) * sizeof *r->obs);
        if (r->obs == NULL) {
            for (unsigned j = 0; j < g; j++) {
                command_close(&subs[j]);
            }
            free(subs);
            subs = NULL;
            probe_collect_done(&m->probe, NULL);
            goto out;
        }
        for (unsigned j = i; j < k; j++) {
            r->obs[r->n_obs++] = *tags[j].obs;
        }
        r->monitor_id = m->cfg.id;
        r->feature_level = PGQ_FEATURE_LEVEL;
        i = k;
    }
    if (groups == 0) {
        groups = 1; /* an announcement only */
        command_init(&subs[0], CMD_REPORT);
        subs[0].u.report.monitor_id = m->cfg.id;
        subs[0].u.report.feature_level = PGQ_FEATURE_LEVEL;
    }
    if (announce) {
        pgq_strlcpy(subs[0].u.report.api_address, m->cfg.api_address,
                    sizeof subs[0].u.report.api_address);
    }
    /* The probes shed for want of descriptors, when the state does not
     * know it yet (an overload event on the leader). */
    monitor_resources_report(m, &subs[0].u.report);
    if (groups == 1) {
        m->report_cmd = subs[0];
        free(subs);
    } else {
        command_init(&m->report_cmd, CMD_BATCH);
        m->report_cmd.u.batch.cmds = subs;
        m->report_cmd.u.batch.n = groups;
    }
    rv = 0;
out:
    free(obs);
    free(clusters);
    free(tags);
    return rv;
}

/* Below level 6: the observations of one cluster, as older leaders take. */
static int collect_one(struct monitor *m, unsigned pending, bool announce)
{
    struct obs *obs = calloc(PGQ_MAX(PGQ_MIN(pending, PGQ_MAX_NODES), 1), sizeof *obs);
    unsigned n;
    if (obs == NULL) {
        return PGQ_NOMEM;
    }
    command_init(&m->report_cmd, CMD_REPORT);
    n = probe_collect(&m->probe, m->report_cmd.cluster, obs, PGQ_MIN(pending, PGQ_MAX_NODES));
    if (announce) {
        pgq_strlcpy(m->report_cmd.u.report.api_address, m->cfg.api_address,
                    sizeof m->report_cmd.u.report.api_address);
    }
    m->report_cmd.u.report.obs = obs;
    m->report_cmd.u.report.n_obs = n;
    m->report_cmd.u.report.monitor_id = m->cfg.id;
    /* Rolling upgrades: the leader raises the state's feature level once
     * every voter said it supports it. */
    m->report_cmd.u.report.feature_level = PGQ_FEATURE_LEVEL;
    return 0;
}

void monitor_flush_reports(struct monitor *m)
{
    const struct member *self = state_member(&m->fsm.state, m->cfg.id);
    /* Reports also tell the leader where this monitor's API is; with no
     * observation to send, an empty report does only that, once the
     * leader's generation has listed this monitor. */
    bool announce =
        self != NULL && (strcmp(self->api_address, m->cfg.api_address) != 0 ||
                         self->max_level < PGQ_FEATURE_LEVEL ||
                         (m->fsm.state.feature_level >= 6 && self->probes_shed != m->probe.n_shed));
    unsigned pending = probe_pending(&m->probe);
    const char *leader_api;
    uint64_t leader;
    int rv;
    if (m->report_pending || m->stopping || uv_now(m->loop) < m->report_backoff_until ||
        (pending == 0 && !announce) ||
        (!announce && !probe_report_due(&m->probe, REPORT_COALESCE_MS, REPORT_BATCH_OBS / 2))) {
        return;
    }
    /* Only voters' views count (Invariant 2), and the leader refuses the
     * others' reports: a monitor catching up as a standby, or removed,
     * keeps its observations until it votes. */
    if (self == NULL || !self->voter) {
        return;
    }
    rv = m->fsm.state.feature_level >= 6 ? collect_batch(m, pending, announce)
                                         : collect_one(m, pending, announce);
    if (rv != 0) {
        return;
    }
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
        req.kind = m->report_cmd.kind == CMD_BATCH ? API_BATCH : API_REPORT;
        req.cmd = m->report_cmd;
        if (peer_request(&m->peer, leader_api, &req, REPORT_TIMEOUT_MS, report_sent_cb) == 0) {
            return;
        }
    }
    report_done(m, false);
}
