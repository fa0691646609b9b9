/* monitor_http: a monitor's HTTP endpoints. It answers for every node of
 * every cluster it watches, from the committed state and its own latest
 * probe: /node/NAME/CHECK or /CHECK?node=NAME (CHECK: primary, read-write,
 * replica, read-only, synchronous, asynchronous, health; ?cluster=NAME when
 * the name is in several clusters, ?lag=SIZE), /health (this monitor: 200
 * while it knows a leader), /cluster (status --json), /metrics. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "health.h"
#include "lib/util.h"
#include "log.h"
#include "metrics.h"
#include "monitor_internal.h"
#include "render.h"
#include "render_http.h"

static void error_reply(struct http_response *res, int status, const char *message)
{
    http_json(res, status, render_error_doc(message));
}

static const struct view_obs *own_obs(void *arg, const char *cluster, const char *node)
{
    struct monitor *m = arg;
    return probe_latest(&m->probe, cluster, node);
}

/* ---- /metrics ------------------------------------------------------------- */

static const char *const phase_names[MONITOR_FO_PHASES] = {"detect", "cut", "promote", "repoint",
                                                           "total"};

static const struct monitor_fo_count *fo_count(const struct monitor *m, const char *cluster)
{
    for (unsigned i = 0; i < m->n_fo_counts; i++) {
        if (strcmp(m->fo_counts[i].cluster, cluster) == 0) {
            return &m->fo_counts[i];
        }
    }
    return NULL;
}

/* A failover of cluster c ended (its event was applied at event_ms): count
 * it and, unless the event is older than this process (a replayed log),
 * observe its phases. */
void monitor_http_failover_done(struct monitor *m, const struct cluster *c, uint64_t event_ms)
{
    const struct failover *fo = &c->fo;
    struct monitor_fo_count *fc = (struct monitor_fo_count *)fo_count(m, c->name);
    uint64_t start = fo->cut_ms != 0 ? fo->cut_ms : fo->decided_ms;
    uint64_t stamps[6];
    if (event_ms < m->started_wall_ms) {
        return;
    }
    if (fc == NULL) {
        struct monitor_fo_count *more =
            realloc(m->fo_counts, (m->n_fo_counts + 1) * sizeof *m->fo_counts);
        if (more == NULL) {
            return;
        }
        m->fo_counts = more;
        fc = &m->fo_counts[m->n_fo_counts++];
        memset(fc, 0, sizeof *fc);
        pgq_strlcpy(fc->cluster, c->name, sizeof fc->cluster);
    }
    if (fo->switchover) {
        fc->switchovers++;
    } else {
        fc->failovers++;
    }
    /* detect: down by verdict to the cut; cut: to the decision; promote:
     * to the promotion; repoint: to the end. */
    stamps[0] = fo->switchover ? 0 : fo->down_ms;
    stamps[1] = start;
    stamps[2] = fo->decided_ms;
    stamps[3] = fo->promoted_ms;
    stamps[4] = fo->done_ms;
    for (unsigned i = 0; i < 4; i++) {
        if (i == 1 && fo->cut_ms == 0) {
            continue; /* decided without a cut (an older leader): no cut phase */
        }
        if (stamps[i] != 0 && stamps[i + 1] >= stamps[i]) {
            metrics_observe(&m->fo_hist[i], (double)(stamps[i + 1] - stamps[i]) / 1000.0);
        }
    }
    stamps[5] = stamps[0] != 0 ? stamps[0] : start;
    if (stamps[5] != 0 && fo->done_ms >= stamps[5]) {
        metrics_observe(&m->fo_hist[4], (double)(fo->done_ms - stamps[5]) / 1000.0);
    }
}

void monitor_http_forget(struct monitor *m)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < m->n_fo_counts; i++) {
        if (state_cluster(&m->fsm.state, m->fo_counts[i].cluster) != NULL) {
            m->fo_counts[kept++] = m->fo_counts[i];
        }
    }
    m->n_fo_counts = kept;
}

/* Its probes and resources: probes begun by connection, nodes shed for
 * want of descriptors, the open-file limit and need, the loop's lateness. */
static void resources_metrics(struct monitor *m, struct metrics_buf *b, const char *const *self)
{
    struct raft_info ri;
    memset(&ri, 0, sizeof ri);
    monitor_resources_info(m, &ri);
    metrics_family(b, "pgquorum_probes_total", "counter",
                   "Probes this monitor began since it started, by connection: new (a full round "
                   "no agent vouches for, a first probe, a reconnect) or kept (a re-check, or a "
                   "round where the node's agent vouches for its liveness).");
    {
        const char *l[4] = {"monitor", self[1], "connection", "new"};
        metrics_sample(b, "pgquorum_probes_total", l, 2, (double)m->probe.probes_new);
        l[3] = "kept";
        metrics_sample(b, "pgquorum_probes_total", l, 2, (double)m->probe.probes_kept);
    }
    metrics_family(b, "pgquorum_probes_shed", "gauge",
                   "Nodes this monitor does not probe for want of file descriptors.");
    metrics_sample(b, "pgquorum_probes_shed", self, 1, (double)ri.probes_shed);
    metrics_family(b, "pgquorum_open_files_limit", "gauge",
                   "This monitor's open-file limit (RLIMIT_NOFILE, raised to the hard limit).");
    metrics_sample(b, "pgquorum_open_files_limit", self, 1, (double)ri.fd_limit);
    metrics_family(b, "pgquorum_open_files_needed", "gauge",
                   "File descriptors Raft, the API, HTTP, the log drain, the actions and one "
                   "probe per node need.");
    metrics_sample(b, "pgquorum_open_files_needed", self, 1, (double)ri.fd_needed);
    metrics_family(b, "pgquorum_loop_lag_seconds", "gauge",
                   "Worst lateness of this monitor's event loop over the last detection window.");
    metrics_sample(b, "pgquorum_loop_lag_seconds", self, 1, (double)ri.loop_lag_ms / 1000.0);
}

/* The state's families, every node's samples, follow the rest of the
 * scrape a few clusters per turn of the loop: rendered at once, they held
 * the loop for 51 ms at 10,000 nodes, a failover's steps waiting behind
 * every Prometheus scrape. */
#define METRICS_STEP_NODES 256

struct metrics_stream
{
    struct monitor *m;
    struct metrics_walk w;
    bool rendered;
};

static int metrics_more(void *arg, char **piece, size_t *len)
{
    struct metrics_stream *x = arg;
    if (!x->rendered) {
        if (metrics_walk_step(&x->w, &x->m->fsm.state, own_obs, x->m, METRICS_STEP_NODES)) {
            return HTTP_MORE_LATER;
        }
        x->rendered = true;
    }
    if (metrics_walk_piece(&x->w, piece, len)) {
        return HTTP_MORE_PIECE;
    }
    return x->w.oom ? HTTP_MORE_FAILED : HTTP_MORE_END;
}

static void metrics_done(void *arg)
{
    struct metrics_stream *x = arg;
    metrics_walk_end(&x->w);
    free(x);
}

static void stream_state(struct monitor *m, struct http_response *res)
{
    struct metrics_stream *x = calloc(1, sizeof *x);
    if (x == NULL || metrics_walk_begin(&x->w, &m->fsm.state) != 0) {
        free(x);
        free(res->body);
        res->body = NULL;
        http_text(res, 500, "out of memory");
        return;
    }
    x->m = m;
    res->more = metrics_more;
    res->done = metrics_done;
    res->more_arg = x;
}

static void metrics_reply(struct monitor *m, struct http_response *res)
{
    struct metrics_buf b;
    struct raft_info info;
    char id[24];
    const char *self[2] = {"monitor", id};
    consensus_info(&m->cons, &info);
    snprintf(id, sizeof id, "%" PRIu64, m->cfg.id);
    metrics_init(&b);
    metrics_family(&b, "pgquorum_monitor_info", "gauge",
                   "1, with this monitor's Raft id and version as labels.");
    {
        const char *l[4] = {"monitor", id, "version", PGQ_VERSION_STRING};
        metrics_sample(&b, "pgquorum_monitor_info", l, 2, 1);
    }
    metrics_family(&b, "pgquorum_raft_term", "gauge", "This monitor's current Raft term.");
    metrics_sample(&b, "pgquorum_raft_term", self, 1, (double)info.term);
    metrics_family(&b, "pgquorum_raft_commit_index", "gauge",
                   "Index of the last Raft entry this monitor knows committed.");
    metrics_sample(&b, "pgquorum_raft_commit_index", self, 1, (double)info.commit_index);
    metrics_family(&b, "pgquorum_raft_applied_index", "gauge",
                   "Index of the last Raft entry this monitor applied.");
    metrics_sample(&b, "pgquorum_raft_applied_index", self, 1, (double)info.applied_index);
    metrics_family(&b, "pgquorum_raft_leader", "gauge",
                   "1 while this monitor is the Raft leader (and ready to act).");
    metrics_sample(&b, "pgquorum_raft_leader", self, 1, info.role == PGQ_MON_LEADER);
    metrics_family(&b, "pgquorum_raft_role", "gauge",
                   "1 for this monitor's Raft role (follower, candidate, leader).");
    {
        const char *l[4] = {"monitor", id, "role", pgq_monitor_role_name(info.role)};
        metrics_sample(&b, "pgquorum_raft_role", l, 2, 1);
    }
    metrics_family(&b, "pgquorum_raft_leader_id", "gauge",
                   "The Raft id of the leader this monitor knows (0: none).");
    metrics_sample(&b, "pgquorum_raft_leader_id", self, 1, (double)info.leader_id);
    metrics_family(&b, "pgquorum_state_commands_total", "counter",
                   "Commands applied to the replicated state since it began (the same on every "
                   "monitor).");
    metrics_sample(&b, "pgquorum_state_commands_total", self, 1, (double)m->fsm.state.seq);
    metrics_family(&b, "pgquorum_reports_committed_total", "counter",
                   "Monitors' observation reports this monitor applied since it started.");
    metrics_sample(&b, "pgquorum_reports_committed_total", self, 1, (double)m->reports_applied);
    metrics_family(&b, "pgquorum_agent_reports_committed_total", "counter",
                   "Node agents' reports this monitor applied since it started.");
    metrics_sample(&b, "pgquorum_agent_reports_committed_total", self, 1,
                   (double)m->agent_reports_applied);
    metrics_family(&b, "pgquorum_api_denied_total", "counter",
                   "API requests this monitor refused by authorization (DENIED) since it started.");
    metrics_sample(&b, "pgquorum_api_denied_total", self, 1, (double)m->denied);
    metrics_family(&b, "pgquorum_auth_wrong_tokens_total", "counter",
                   "Requests with a token no [auth] tokens entry matches, since it started.");
    metrics_sample(&b, "pgquorum_auth_wrong_tokens_total", self, 1, (double)m->throttle.failures);
    metrics_family(&b, "pgquorum_auth_blocked_total", "counter",
                   "Requests refused unchecked from an address blocked for wrong tokens.");
    metrics_sample(&b, "pgquorum_auth_blocked_total", self, 1, (double)m->throttle.refused);
    metrics_family(&b, "pgquorum_audit_dropped_total", "counter",
                   "Refusals this monitor could not record (no leader for too long, or more "
                   "kinds of refusal at once than it counts).");
    metrics_sample(&b, "pgquorum_audit_dropped_total", self, 1,
                   (double)(m->audits_dropped + m->audit_limit.lost));
    resources_metrics(m, &b, self);
    /* Every cluster has a sample, 0 until its first failover: increase()
     * sees the first one. */
    metrics_family(&b, "pgquorum_failovers_total", "counter",
                   "Failovers this monitor saw end since it started, per cluster.");
    for (unsigned i = 0; i < m->fsm.state.n_clusters; i++) {
        const char *name = m->fsm.state.clusters[i].name;
        const struct monitor_fo_count *fc = fo_count(m, name);
        const char *l[2] = {"cluster", name};
        metrics_sample(&b, "pgquorum_failovers_total", l, 1, fc ? (double)fc->failovers : 0);
    }
    metrics_family(&b, "pgquorum_switchovers_total", "counter",
                   "Planned switchovers this monitor saw end since it started, per cluster.");
    for (unsigned i = 0; i < m->fsm.state.n_clusters; i++) {
        const char *name = m->fsm.state.clusters[i].name;
        const struct monitor_fo_count *fc = fo_count(m, name);
        const char *l[2] = {"cluster", name};
        metrics_sample(&b, "pgquorum_switchovers_total", l, 1, fc ? (double)fc->switchovers : 0);
    }
    metrics_family(&b, "pgquorum_raft_commit_seconds", "histogram",
                   "Time from a proposal of this monitor, as leader, to its entry committed "
                   "and applied (a majority wrote it).");
    metrics_hist_samples(&b, "pgquorum_raft_commit_seconds", "monitor", id, &m->cons.commit_hist);
    metrics_family(&b, "pgquorum_failover_phase_seconds", "histogram",
                   "Durations of the phases of the failovers and switchovers this monitor saw "
                   "end: detect (down by verdict to the cut), cut (to the decision), promote, "
                   "repoint (to the end), total.");
    for (unsigned i = 0; i < MONITOR_FO_PHASES; i++) {
        metrics_hist_samples(&b, "pgquorum_failover_phase_seconds", "phase", phase_names[i],
                             &m->fo_hist[i]);
    }
    http_metrics(res, &b, &m->http);
    if (res->status == 200) {
        stream_state(m, res);
    }
}

/* ---- /cluster and /health -------------------------------------------------- */

/* /cluster: the status document a few clusters per turn of the loop (built
 * whole, it held the loop for 0.4 s at 10,000 nodes, and took its 15 MB
 * as jansson objects). */
#define CLUSTER_STEP_NODES 64

struct cluster_stream
{
    struct monitor *m;
    struct render_walk w;
    bool over;
};

/* What was written to the memory stream f (open_memstream(buf, len)),
 * as a piece; -1 when memory ran out. */
static int take_stream(FILE *f, char **buf, size_t *len, char **piece, size_t *plen)
{
    if (fclose(f) != 0 || *buf == NULL) {
        free(*buf);
        return -1;
    }
    *piece = *buf;
    *plen = *len;
    return 0;
}

static int cluster_more(void *arg, char **piece, size_t *len)
{
    struct cluster_stream *x = arg;
    char *buf = NULL;
    size_t n = 0;
    FILE *f;
    bool more = false;
    int rv;
    if (x->over) {
        return HTTP_MORE_END;
    }
    f = open_memstream(&buf, &n);
    if (f == NULL) {
        return HTTP_MORE_FAILED;
    }
    rv = render_status_walk_step(&x->w, &x->m->fsm.state, CLUSTER_STEP_NODES, f, &more);
    if (take_stream(f, &buf, &n, piece, len) != 0) {
        return HTTP_MORE_FAILED;
    }
    if (rv != 0) {
        free(*piece);
        *piece = NULL;
        return HTTP_MORE_FAILED;
    }
    x->over = !more;
    return HTTP_MORE_PIECE;
}

static void cluster_done(void *arg)
{
    struct cluster_stream *x = arg;
    render_status_walk_end(&x->w);
    free(x);
}

static void cluster_reply(struct monitor *m, const char *cluster, struct http_response *res)
{
    const struct state *s = &m->fsm.state;
    struct monitor_row rows[PGQ_MAX_MONITORS];
    unsigned n;
    struct raft_info info;
    const char *leader_api;
    uint64_t leader = consensus_leader(&m->cons, &leader_api);
    struct cluster_stream *x;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int rv;
    if (cluster[0] != '\0' && state_cluster(s, cluster) == NULL) {
        error_reply(res, 404, "no such cluster");
        return;
    }
    consensus_info(&m->cons, &info);
    n = render_monitor_rows(s, &info, m->cfg.api_address, rows, PGQ_MAX_MONITORS);
    x = calloc(1, sizeof *x);
    f = x != NULL ? open_memstream(&buf, &len) : NULL;
    if (f == NULL) {
        free(x);
        http_text(res, 500, "out of memory");
        return;
    }
    rv = render_status_walk_begin(&x->w, s, rows, n, leader, cluster, f);
    if (take_stream(f, &buf, &len, &res->body, &res->len) != 0 || rv != 0) {
        render_status_walk_end(&x->w);
        free(x);
        free(res->body);
        res->body = NULL;
        res->len = 0;
        http_text(res, 500, "out of memory");
        return;
    }
    x->m = m;
    res->status = 200;
    res->content_type = "application/json";
    res->more = cluster_more;
    res->done = cluster_done;
    res->more_arg = x;
}

static void events_reply(struct monitor *m, const struct health_query *q, struct http_response *res)
{
    if (q->cluster[0] != '\0' && state_cluster(&m->fsm.state, q->cluster) == NULL) {
        error_reply(res, 404, "no such cluster");
        return;
    }
    http_json(res, 200, render_events_doc(&m->fsm.state, q->cluster, q->limit));
}

static void self_health(struct monitor *m, struct http_response *res)
{
    struct raft_info info;
    json_t *d = json_object();
    consensus_info(&m->cons, &info);
    if (d != NULL) {
        json_object_set_new(d, "monitor", json_integer((json_int_t)m->cfg.id));
        json_object_set_new(d, "role", json_string(pgq_monitor_role_name(info.role)));
        json_object_set_new(
            d, "leader",
            info.leader_id != 0 ? json_integer((json_int_t)info.leader_id) : json_null());
        json_object_set_new(d, "term", json_integer((json_int_t)info.term));
        json_object_set_new(d, "applied_index", json_integer((json_int_t)info.applied_index));
    }
    http_json(res, info.leader_id != 0 ? 200 : 503, d);
}

/* ---- the health checks ----------------------------------------------------- */

/* The node named `name` (in `cluster` when given); an error reply when it
 * is not found or the name is in several clusters. */
static const struct node *find_node(const struct state *s,
                                    const char *cluster,
                                    const char *name,
                                    const struct cluster **out,
                                    struct http_response *res)
{
    const struct node *found = NULL;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        const struct cluster *c = &s->clusters[i];
        const struct node *n;
        if (cluster[0] != '\0' && strcmp(cluster, c->name) != 0) {
            continue;
        }
        n = cluster_node(c, name);
        if (n == NULL) {
            continue;
        }
        if (found != NULL) {
            error_reply(res, 400, "the node name is in several clusters: add ?cluster=NAME");
            return NULL;
        }
        found = n;
        *out = c;
    }
    if (found == NULL) {
        error_reply(res, 404, "no such node");
    }
    return found;
}

static void check_reply(struct monitor *m,
                        int check,
                        const struct health_query *q,
                        struct http_response *res)
{
    const struct cluster *c = NULL;
    const struct node *n = find_node(&m->fsm.state, q->cluster, q->node, &c, res);
    const struct view_obs *own, *own_primary;
    struct health_facts f;
    char why[PGQ_REASON_MAX];
    int code;
    if (n == NULL) {
        return;
    }
    own = probe_latest(&m->probe, c->name, n->name);
    own_primary = c->primary[0] != '\0' ? probe_latest(&m->probe, c->name, c->primary) : NULL;
    health_facts_of(c, n, own, own_primary, &f);
    /* A monitor that has known no leader for two election timeouts may be
     * the one cut off: its committed view of the primary may be stale (as
     * Patroni answers 503 on /primary once it cannot reach its DCS). */
    f.no_quorum = m->leader_seen_ms == 0 ||
                  uv_now(m->loop) - m->leader_seen_ms > 2 * m->cfg.election_timeout_ms;
    code = health_judge(check, &f, q, why, sizeof why);
    http_json(res, code, render_check_doc(c->name, n->name, check, code, why, &f, c->epoch));
}

static void handle(struct http_server *s, const struct http_request *req, struct http_response *res)
{
    struct monitor *m = s->data;
    struct health_query q;
    char err[256];
    const char *word = req->path + 1;
    int check;
    if (m->stopping) {
        error_reply(res, 503, "shutting down");
        return;
    }
    if (health_parse_query(req->query, &q, err, sizeof err) != 0) {
        error_reply(res, 400, err);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        metrics_reply(m, res);
        return;
    }
    if (strcmp(req->path, "/cluster") == 0) {
        cluster_reply(m, q.cluster, res);
        return;
    }
    if (strcmp(req->path, "/events") == 0) {
        events_reply(m, &q, res);
        return;
    }
    if (strncmp(req->path, "/node/", 6) == 0) {
        const char *slash = strchr(req->path + 6, '/');
        size_t len = slash != NULL ? (size_t)(slash - (req->path + 6)) : 0;
        if (slash == NULL || len == 0 || len >= sizeof q.node || q.node[0] != '\0') {
            error_reply(res, 404, "use /node/NAME/CHECK");
            return;
        }
        memcpy(q.node, req->path + 6, len);
        q.node[len] = '\0';
        word = slash + 1;
    } else if (strcmp(req->path, "/health") == 0 && q.node[0] == '\0') {
        self_health(m, res);
        return;
    }
    check = health_check_by_name(word);
    if (check < 0) {
        error_reply(res, 404,
                    "unknown endpoint: /metrics, /cluster, /events, /health, or /node/NAME/CHECK "
                    "(CHECK: primary, read-write, replica, read-only, synchronous, "
                    "asynchronous, health)");
        return;
    }
    if (q.node[0] == '\0') {
        error_reply(res, 400,
                    "a monitor answers for every node: name one (/node/NAME/CHECK or ?node=NAME)");
        return;
    }
    check_reply(m, check, &q, res);
}

int monitor_http_start(struct monitor *m, char *errmsg, size_t errsize)
{
    m->started_wall_ms = clock_wall_ms();
    if (m->cfg.http_address[0] == '\0') {
        return 0;
    }
    m->http.data = m;
    m->started_http = true;
    return http_start(&m->http, m->loop, &m->transport, m->cfg.http_address,
                      (unsigned)m->cfg.http_max_clients, m->cfg.http_idle_timeout_ms, handle,
                      errmsg, errsize);
}
