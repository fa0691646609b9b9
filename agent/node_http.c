/* node_http: a node agent's HTTP endpoints, for its own node: /primary,
 * /read-write, /replica, /read-only, /health (health.h), /metrics. Its
 * answers come from what only it knows at once: its lease (a primary whose
 * lease lapsed is fenced, so /primary says 503 before the quorum promotes
 * anyone), the quorum's last word, and its local checks. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "lib/util.h"
#include "log.h"
#include "metrics.h"
#include "node_internal.h"
#include "render_http.h"

static void facts(struct node_agent *a, struct health_facts *f)
{
    uint64_t now = node_now_ms(a);
    bool enforced = a->have_reply && a->reply.enforced && !a->old_leader;
    memset(f, 0, sizeof *f);
    if (!a->have_reply) {
        f->unknown = "no word from the quorum yet";
        return;
    }
    f->primary = a->reply.registered && a->reply.primary && a->reply.epoch > 0;
    f->failing_over = a->reply.fence || a->reply.stop || a->lease.state == LEASE_REVOKED ||
                      a->life == LIFE_STOPPING;
    f->fenced = a->fenced || a->life == LIFE_FENCING || a->life == LIFE_FENCED;
    f->lease_lost = enforced && !(a->lease.state == LEASE_HELD &&
                                  lease_agent_valid(&a->lease, now) && !a->paused);
    /* Without leases in force (monitors of an older version) only the age
     * of the quorum's last word bounds how stale "primary" may be. */
    f->no_quorum = !enforced && now > a->reply_sent_ms + a->cfg.lease_ms;
    f->running = a->life == LIFE_RUNNING && a->answering;
    f->in_recovery = a->in_recovery;
    f->streaming = a->streaming;
    f->must_rejoin = a->reply.rejoin || a->life == LIFE_REJOINING ||
                     (a->rj.state != PGQ_RJ_NONE && a->rj.state != PGQ_RJ_STREAMING);
    if (f->running && a->in_recovery && a->upstream_lsn != 0) {
        f->lag_known = true;
        f->lag_bytes = a->upstream_lsn > a->lsn ? a->upstream_lsn - a->lsn : 0;
    }
}

static void sample1(struct metrics_buf *b,
                    const char *name,
                    const char *help,
                    const char *const *labels,
                    double v)
{
    metrics_family(b, name, "gauge", help);
    metrics_sample(b, name, labels, 2, v);
}

static void metrics_reply(struct node_agent *a, struct http_response *res)
{
    struct metrics_buf b;
    struct health_facts f;
    const char *l[4] = {"cluster", a->cfg.node_cluster, "node", a->cfg.node_name};
    facts(a, &f);
    metrics_init(&b);
    metrics_family(&b, "pgquorum_agent_info", "gauge",
                   "1, with the agent's node, version and life state as labels.");
    {
        const char *li[8] = {"cluster", a->cfg.node_cluster, "node", a->cfg.node_name,
                             "version", PGQ_VERSION_STRING,  "life", node_life_name(a->life)};
        metrics_sample(&b, "pgquorum_agent_info", li, 4, 1);
    }
    sample1(&b, "pgquorum_agent_postgres_up",
            "1 when the agent's local check of PostgreSQL answers.", l, f.running);
    sample1(&b, "pgquorum_agent_in_recovery", "1 while the local PostgreSQL is in recovery.", l,
            a->in_recovery);
    sample1(&b, "pgquorum_agent_streaming", "1 while the local standby's walreceiver streams.", l,
            a->streaming);
    sample1(&b, "pgquorum_agent_quorum_primary",
            "1 when the quorum's last word is that this node is the primary of its epoch.", l,
            f.primary);
    sample1(&b, "pgquorum_agent_epoch", "The epoch of the quorum's last word.", l,
            a->have_reply ? (double)a->reply.epoch : 0);
    sample1(&b, "pgquorum_agent_lease_held",
            "1 while the agent holds a lease its primary writes under.", l,
            a->lease.state == LEASE_HELD && lease_agent_valid(&a->lease, node_now_ms(a)));
    sample1(&b, "pgquorum_agent_fenced", "1 while the agent keeps its PostgreSQL fenced.", l,
            f.fenced);
    sample1(&b, "pgquorum_agent_wal_position_bytes",
            "The local WAL position: written (primary) or replayed (standby).", l, (double)a->lsn);
    sample1(&b, "pgquorum_agent_timeline", "The local PostgreSQL's timeline.", l, a->timeline);
    if (f.lag_known) {
        sample1(&b, "pgquorum_agent_replication_lag_bytes",
                "The local standby's replay lag behind the end of WAL its upstream last sent.", l,
                (double)f.lag_bytes);
    }
    sample1(&b, "pgquorum_agent_restarts",
            "Restarts in place of the local PostgreSQL (latest 10 minutes).", l, a->n_restarts);
    {
        struct agent_host h = {
            .cpu_busy_bp = a->host.cpu_busy_bp,
            .load1_c = a->host.load1_c,
            .load5_c = a->host.load5_c,
            .load15_c = a->host.load15_c,
            .disk_read_bps = a->host.disk_read_bps,
            .disk_write_bps = a->host.disk_write_bps,
            .disk_io_bp = a->host.disk_io_bp,
            .net_rx_bps = a->host.net_rx_bps,
            .net_tx_bps = a->host.net_tx_bps,
        };
        metrics_host(&b, a->cfg.node_cluster, a->cfg.node_name, &h);
    }
    http_metrics(res, &b, &a->http);
}

static void handle(struct http_server *s, const struct http_request *req, struct http_response *res)
{
    struct node_agent *a = s->data;
    struct health_query q;
    struct health_facts f;
    char err[256], why[PGQ_REASON_MAX];
    int check, code;
    if (health_parse_query(req->query, &q, err, sizeof err) != 0) {
        http_json(res, 400, render_error_doc(err));
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        metrics_reply(a, res);
        return;
    }
    check = health_check_by_name(req->path + 1);
    if (check == HC_SYNC || check == HC_ASYNC || strcmp(req->path, "/cluster") == 0) {
        http_json(res, 404,
                  render_error_doc("a node agent answers for its own node's role and health: "
                                   "ask a monitor for /cluster and the synchronous standbys"));
        return;
    }
    if (check < 0) {
        http_json(res, 404,
                  render_error_doc("unknown endpoint: /primary, /read-write, /replica, "
                                   "/read-only, /health, /metrics"));
        return;
    }
    if ((q.node[0] != '\0' && strcmp(q.node, a->cfg.node_name) != 0) ||
        (q.cluster[0] != '\0' && strcmp(q.cluster, a->cfg.node_cluster) != 0)) {
        http_json(res, 404, render_error_doc("this agent answers for its own node only"));
        return;
    }
    facts(a, &f);
    code = health_judge(check, &f, &q, why, sizeof why);
    http_json(res, code,
              render_check_doc(a->cfg.node_cluster, a->cfg.node_name, check, code, why, &f,
                               a->have_reply ? a->reply.epoch : 0));
}

int node_http_start(struct node_agent *a, char *errmsg, size_t errsize)
{
    if (a->cfg.http_address[0] == '\0') {
        return 0;
    }
    a->http.data = a;
    a->started_http = true;
    return http_start(&a->http, a->loop, &a->transport, a->cfg.http_address,
                      (unsigned)a->cfg.http_max_clients, a->cfg.http_idle_timeout_ms, handle,
                      errmsg, errsize);
}
