/* metrics: Prometheus text and the state's families (see metrics.h). */
#include "metrics.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* ---- the writer ------------------------------------------------------------ */

void metrics_init(struct metrics_buf *b)
{
    memset(b, 0, sizeof *b);
}

void metrics_free(struct metrics_buf *b)
{
    free(b->p);
    metrics_init(b);
}

char *metrics_take(struct metrics_buf *b, size_t *len)
{
    char *p = b->oom ? NULL : b->p;
    *len = p != NULL ? b->len : 0;
    if (p == NULL) {
        free(b->p);
    }
    metrics_init(b);
    return p;
}

static bool reserve(struct metrics_buf *b, size_t more)
{
    size_t cap;
    char *p;
    if (b->oom) {
        return false;
    }
    if (b->len + more + 1 <= b->cap) {
        return true;
    }
    cap = PGQ_MAX(b->cap * 2, b->len + more + 1);
    cap = PGQ_MAX(cap, (size_t)4096);
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) {
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf(struct metrics_buf *b, const char *fmt, ...) PGQ_PRINTF(2, 3);
static void putf(struct metrics_buf *b, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) {
        put(b, line, PGQ_MIN((size_t)n, sizeof line - 1));
    }
}

/* HELP text escapes backslash and line feed; label values also quotes. */
static void escaped(struct metrics_buf *b, const char *s, bool quotes)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            puts_(b, "\\\\");
        } else if (*s == '\n') {
            puts_(b, "\\n");
        } else if (*s == '"' && quotes) {
            puts_(b, "\\\"");
        } else {
            put(b, s, 1);
        }
    }
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    putf(b, "# HELP %s ", name);
    escaped(b, help, false);
    putf(b, "\n# TYPE %s %s\n", name, type);
}

static void value(struct metrics_buf *b, double v)
{
    if (isnan(v)) {
        puts_(b, " NaN\n");
    } else if (isinf(v)) {
        puts_(b, v > 0 ? " +Inf\n" : " -Inf\n");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        putf(b, " %.0f\n", v);
    } else {
        putf(b, " %.17g\n", v);
    }
}

static void labels_(struct metrics_buf *b, const char *const *labels, unsigned n)
{
    if (n == 0) {
        return;
    }
    puts_(b, "{");
    for (unsigned i = 0; i < n; i++) {
        putf(b, "%s%s=\"", i > 0 ? "," : "", labels[2 * i]);
        escaped(b, labels[2 * i + 1], true);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

void metrics_sample(struct metrics_buf *b,
                    const char *name,
                    const char *const *labels,
                    unsigned n_labels,
                    double v)
{
    puts_(b, name);
    labels_(b, labels, n_labels);
    value(b, v);
}

/* ---- histograms ------------------------------------------------------------ */

const double metrics_bucket_bounds[METRICS_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                                       10,  30,   60,  120, 300};

void metrics_observe(struct metrics_hist *h, double seconds)
{
    unsigned i = 0;
    while (i < METRICS_BUCKETS && seconds > metrics_bucket_bounds[i]) {
        i++;
    }
    if (i < METRICS_BUCKETS) {
        h->counts[i]++;
    }
    h->count++;
    h->sum += seconds;
}

void metrics_hist_samples(struct metrics_buf *b,
                          const char *name,
                          const char *label,
                          const char *lvalue,
                          const struct metrics_hist *h)
{
    uint64_t cum = 0;
    char le[32];
    const char *labels[4] = {label, lvalue, "le", le};
    for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
        cum += h->counts[i];
        snprintf(le, sizeof le, "%g", metrics_bucket_bounds[i]);
        putf(b, "%s_bucket", name);
        labels_(b, labels, 2);
        value(b, (double)cum);
    }
    pgq_strlcpy(le, "+Inf", sizeof le);
    putf(b, "%s_bucket", name);
    labels_(b, labels, 2);
    value(b, (double)h->count);
    putf(b, "%s_sum", name);
    labels_(b, labels, 1);
    value(b, h->sum);
    putf(b, "%s_count", name);
    labels_(b, labels, 1);
    value(b, (double)h->count);
}

/* ---- host families --------------------------------------------------------- */

struct host_family
{
    const char *name;
    const char *help;
    double (*get)(const struct agent_host *h);
};

static double h_cpu(const struct agent_host *h)
{
    return h->cpu_busy_bp / 10000.0;
}
static double h_load1(const struct agent_host *h)
{
    return h->load1_c / 100.0;
}
static double h_load5(const struct agent_host *h)
{
    return h->load5_c / 100.0;
}
static double h_load15(const struct agent_host *h)
{
    return h->load15_c / 100.0;
}
static double h_disk_read(const struct agent_host *h)
{
    return (double)h->disk_read_bps;
}
static double h_disk_write(const struct agent_host *h)
{
    return (double)h->disk_write_bps;
}
static double h_disk_io(const struct agent_host *h)
{
    return h->disk_io_bp / 10000.0;
}
static double h_net_rx(const struct agent_host *h)
{
    return (double)h->net_rx_bps;
}
static double h_net_tx(const struct agent_host *h)
{
    return (double)h->net_tx_bps;
}

static const struct host_family host_families[] = {
    {"pgquorum_host_cpu_busy_ratio", "Share of the node host's CPU time busy (0..1).", h_cpu},
    {"pgquorum_host_load1", "The node host's 1-minute load average.", h_load1},
    {"pgquorum_host_load5", "The node host's 5-minute load average.", h_load5},
    {"pgquorum_host_load15", "The node host's 15-minute load average.", h_load15},
    {"pgquorum_host_disk_read_bytes_per_second", "The node host's disk reads.", h_disk_read},
    {"pgquorum_host_disk_write_bytes_per_second", "The node host's disk writes.", h_disk_write},
    {"pgquorum_host_disk_io_busy_ratio",
     "Share of the time the node host's disks were doing I/O (summed over disks, at most 1).",
     h_disk_io},
    {"pgquorum_host_network_receive_bytes_per_second",
     "The node host's network receive (every interface but lo).", h_net_rx},
    {"pgquorum_host_network_transmit_bytes_per_second",
     "The node host's network transmit (every interface but lo).", h_net_tx},
};

void metrics_host(struct metrics_buf *b,
                  const char *cluster,
                  const char *node,
                  const struct agent_host *h)
{
    const char *labels[4] = {"cluster", cluster, "node", node};
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(host_families); i++) {
        metrics_family(b, host_families[i].name, "gauge", host_families[i].help);
        metrics_sample(b, host_families[i].name, labels, 2, host_families[i].get(h));
    }
}

/* ---- the state's families -------------------------------------------------- */

/* What a node family reads: the node, and this monitor's latest
 * observations of it and of its cluster's primary. */
struct node_ctx
{
    const struct cluster *c;
    const struct node *n;
    const struct view_obs *own;
    const struct view_obs *own_primary;
};

struct node_family
{
    const char *name;
    const char *help;
    bool (*get)(const struct node_ctx *x, double *v);
};

static bool n_up(const struct node_ctx *x, double *v)
{
    if (x->n->verdict == PGQ_VERDICT_UNKNOWN) {
        return false;
    }
    *v = x->n->verdict == PGQ_VERDICT_UP;
    return true;
}

static bool n_primary(const struct node_ctx *x, double *v)
{
    *v = x->c->epoch > 0 && strcmp(x->c->primary, x->n->name) == 0;
    return true;
}

static bool n_maintenance(const struct node_ctx *x, double *v)
{
    *v = x->n->maintenance;
    return true;
}

static bool n_priority(const struct node_ctx *x, double *v)
{
    *v = x->n->priority;
    return true;
}

static bool n_reachable(const struct node_ctx *x, double *v)
{
    if (x->own == NULL) {
        return false;
    }
    *v = x->own->reachable;
    return true;
}

static bool n_in_recovery(const struct node_ctx *x, double *v)
{
    if (x->own == NULL || !x->own->reachable) {
        return false;
    }
    *v = x->own->in_recovery;
    return true;
}

static bool n_streaming(const struct node_ctx *x, double *v)
{
    if (x->own == NULL || !x->own->reachable || !x->own->in_recovery) {
        return false;
    }
    *v = x->own->streaming;
    return true;
}

static bool n_wal(const struct node_ctx *x, double *v)
{
    if (x->own == NULL || !x->own->reachable) {
        return false;
    }
    *v = (double)(x->own->in_recovery ? x->own->replay_lsn : x->own->current_lsn);
    return true;
}

static bool n_lag(const struct node_ctx *x, double *v)
{
    const struct view_obs *o = x->own, *p = x->own_primary;
    uint64_t head = 0;
    if (o == NULL || !o->reachable || !o->in_recovery) {
        return false;
    }
    if (p != NULL && p != o && p->reachable && !p->in_recovery) {
        head = p->current_lsn;
    }
    head = PGQ_MAX(head, o->upstream_lsn);
    if (head == 0) {
        return false;
    }
    *v = head > o->replay_lsn ? (double)(head - o->replay_lsn) : 0;
    return true;
}

static bool n_timeline(const struct node_ctx *x, double *v)
{
    if (x->own == NULL || !x->own->reachable || x->own->timeline == 0) {
        return false;
    }
    *v = x->own->timeline;
    return true;
}

static bool ratio(const struct view_obs *o, uint32_t bp, double *v)
{
    if (o == NULL || !o->reachable || bp == PGQ_BP_NONE) {
        return false;
    }
    *v = bp / 10000.0;
    return true;
}

static bool n_cache(const struct node_ctx *x, double *v)
{
    return ratio(x->own, x->own != NULL ? x->own->cache_hit_bp : 0, v);
}

static bool n_index(const struct node_ctx *x, double *v)
{
    return ratio(x->own, x->own != NULL ? x->own->index_hit_bp : 0, v);
}

static bool n_connections(const struct node_ctx *x, double *v)
{
    if (x->own == NULL || !x->own->reachable) {
        return false;
    }
    *v = x->own->connections;
    return true;
}

static bool n_agent_up(const struct node_ctx *x, double *v)
{
    if (x->n->agent.state == PGQ_AGENT_NONE) {
        return false;
    }
    *v = x->n->agent.state == PGQ_AGENT_UP;
    return true;
}

static bool n_lease(const struct node_ctx *x, double *v)
{
    if (x->n->agent.state == PGQ_AGENT_NONE) {
        return false;
    }
    *v = x->n->agent.lease;
    return true;
}

static const struct node_family node_families[] = {
    {"pgquorum_node_up", "1 when the quorum's verdict on the node is up, 0 when down.", n_up},
    {"pgquorum_node_primary", "1 on the primary of the cluster's current epoch.", n_primary},
    {"pgquorum_node_maintenance", "1 while an operator holds the node in maintenance.",
     n_maintenance},
    {"pgquorum_node_priority", "The node's failover priority (0: never promoted).", n_priority},
    {"pgquorum_node_reachable", "1 when this monitor's latest probe reached the node.",
     n_reachable},
    {"pgquorum_node_in_recovery", "1 when the node is in recovery (a standby), as last probed.",
     n_in_recovery},
    {"pgquorum_node_streaming", "1 on a standby whose walreceiver streams, as last probed.",
     n_streaming},
    {"pgquorum_node_wal_position_bytes",
     "The node's WAL position as last probed: written (primary) or replayed (standby).", n_wal},
    {"pgquorum_node_replication_lag_bytes",
     "A standby's replay lag behind its primary's WAL position, as last probed.", n_lag},
    {"pgquorum_node_timeline", "The node's timeline, as last probed.", n_timeline},
    {"pgquorum_node_cache_hit_ratio",
     "Share of block reads served from shared buffers (pg_stat_database), as last probed.",
     n_cache},
    {"pgquorum_node_index_hit_ratio",
     "Share of index block reads served from shared buffers (pg_statio_user_indexes).", n_index},
    {"pgquorum_node_connections", "Backends connected to the node, as last probed.", n_connections},
    {"pgquorum_node_agent_up", "1 when the node's agent sends heartbeats (absent: no agent).",
     n_agent_up},
    {"pgquorum_node_lease_held", "1 while the node's agent says it holds a lease.", n_lease},
};

static bool fo_running(const struct failover *fo)
{
    return fo->phase == PGQ_FO_CUTTING || fo->phase == PGQ_FO_DECIDED ||
           fo->phase == PGQ_FO_PROMOTED || fo->phase == PGQ_FO_GAVE_UP;
}

static double c_epoch(const struct cluster *c)
{
    return (double)c->epoch;
}

static double c_failover(const struct cluster *c)
{
    return fo_running(&c->fo);
}

static double c_paused(const struct cluster *c)
{
    return c->paused;
}

static const struct
{
    const char *name;
    const char *help;
    double (*get)(const struct cluster *c);
} cluster_families[] = {
    {"pgquorum_cluster_epoch",
     "The cluster's epoch: the fencing token, one more at every failover.", c_epoch},
    {"pgquorum_cluster_failover_in_progress",
     "1 while a failover or switchover is between its cut and its end.", c_failover},
    {"pgquorum_cluster_paused", "1 while an operator paused the cluster's automatic actions.",
     c_paused},
};

/* The families of the walk, in order: those of a cluster, node_info, those
 * of a node's observations, those of its agent's host. */
#define N_CLUSTER_FAMILIES PGQ_ARRAY_SIZE(cluster_families)
#define N_NODE_FAMILIES PGQ_ARRAY_SIZE(node_families)
#define N_WALK_FAMILIES (N_CLUSTER_FAMILIES + 1 + N_NODE_FAMILIES + PGQ_ARRAY_SIZE(host_families))

static void walk_head(struct metrics_buf *b, size_t f)
{
    if (f < N_CLUSTER_FAMILIES) {
        metrics_family(b, cluster_families[f].name, "gauge", cluster_families[f].help);
    } else if (f == N_CLUSTER_FAMILIES) {
        metrics_family(b, "pgquorum_node_info", "gauge",
                       "1 per node, with its role and the quorum's verdict as labels.");
    } else if (f < N_CLUSTER_FAMILIES + 1 + N_NODE_FAMILIES) {
        f -= N_CLUSTER_FAMILIES + 1;
        metrics_family(b, node_families[f].name, "gauge", node_families[f].help);
    } else {
        f -= N_CLUSTER_FAMILIES + 1 + N_NODE_FAMILIES;
        metrics_family(b, host_families[f].name, "gauge", host_families[f].help);
    }
}

/* Every family's samples of cluster c, each into its own buffer: the
 * observations are looked up once per node, not once per family. */
static void walk_cluster(struct metrics_buf *fam,
                         const struct cluster *c,
                         metrics_own_fn own,
                         void *arg)
{
    const struct view_obs *op = c->primary[0] != '\0' ? own(arg, c->name, c->primary) : NULL;
    const char *cl[2] = {"cluster", c->name};
    for (size_t f = 0; f < N_CLUSTER_FAMILIES; f++) {
        metrics_sample(&fam[f], cluster_families[f].name, cl, 1, cluster_families[f].get(c));
    }
    fam += N_CLUSTER_FAMILIES;
    for (unsigned j = 0; j < c->n_nodes; j++) {
        const struct node *n = &c->nodes[j];
        struct node_ctx x = {c, n, own(arg, c->name, n->name), op};
        const char *info[8] = {"cluster", c->name,
                               "node",    n->name,
                               "role",    pgq_role_name(n->role),
                               "verdict", pgq_verdict_name(n->verdict)};
        const char *l[4] = {"cluster", c->name, "node", n->name};
        double v;
        metrics_sample(&fam[0], "pgquorum_node_info", info, 4, 1);
        for (size_t f = 0; f < N_NODE_FAMILIES; f++) {
            if (node_families[f].get(&x, &v)) {
                metrics_sample(&fam[1 + f], node_families[f].name, l, 2, v);
            }
        }
        if (n->agent.state == PGQ_AGENT_NONE) {
            continue;
        }
        for (size_t f = 0; f < PGQ_ARRAY_SIZE(host_families); f++) {
            metrics_sample(&fam[1 + N_NODE_FAMILIES + f], host_families[f].name, l, 2,
                           host_families[f].get(&n->agent.host));
        }
    }
}

int metrics_walk_begin(struct metrics_walk *w, const struct state *s)
{
    memset(w, 0, sizeof *w);
    w->fam = calloc(N_WALK_FAMILIES, sizeof *w->fam);
    w->names = s->n_clusters > 0 ? malloc((size_t)s->n_clusters * sizeof *w->names) : NULL;
    if (w->fam == NULL || (s->n_clusters > 0 && w->names == NULL)) {
        metrics_walk_end(w);
        return -1;
    }
    for (unsigned i = 0; i < s->n_clusters; i++) {
        memcpy(w->names[i], s->clusters[i].name, sizeof w->names[i]);
    }
    w->n = s->n_clusters;
    for (size_t f = 0; f < N_WALK_FAMILIES; f++) {
        walk_head(&w->fam[f], f);
    }
    return 0;
}

bool metrics_walk_step(struct metrics_walk *w,
                       const struct state *s,
                       metrics_own_fn own,
                       void *arg,
                       unsigned nodes)
{
    unsigned done = 0;
    while (w->next < w->n && done < nodes) {
        const struct cluster *c = state_cluster(s, w->names[w->next++]);
        if (c != NULL) {
            walk_cluster(w->fam, c, own, arg);
            done += c->n_nodes + 1;
        }
    }
    return w->next < w->n;
}

bool metrics_walk_piece(struct metrics_walk *w, char **text, size_t *len)
{
    /* Nothing is handed over unless every family was rendered whole: a
     * scrape missing a family would look complete to a client that knows
     * the end of a body only by its connection's close (HTTP/1.0). */
    for (size_t f = 0; w->piece == 0 && f < N_WALK_FAMILIES; f++) {
        w->oom = w->oom || w->fam[f].oom;
    }
    if (w->oom) {
        return false;
    }
    if (w->piece == N_WALK_FAMILIES) {
        return false;
    }
    *text = metrics_take(&w->fam[w->piece++], len); /* each holds its head at least */
    return *text != NULL;
}

void metrics_walk_end(struct metrics_walk *w)
{
    if (w->fam != NULL) {
        for (size_t f = 0; f < N_WALK_FAMILIES; f++) {
            metrics_free(&w->fam[f]);
        }
    }
    free(w->fam);
    free(w->names);
    memset(w, 0, sizeof *w);
}

void metrics_state(struct metrics_buf *b, const struct state *s, metrics_own_fn own, void *arg)
{
    struct metrics_walk w;
    char *text;
    size_t len;
    if (metrics_walk_begin(&w, s) != 0) {
        b->oom = true;
        return;
    }
    while (metrics_walk_step(&w, s, own, arg, UINT_MAX)) {
    }
    while (metrics_walk_piece(&w, &text, &len)) {
        put(b, text, len);
        free(text);
    }
    if (w.oom) {
        b->oom = true;
    }
    metrics_walk_end(&w);
}

void metrics_log_drain(struct metrics_buf *b, const struct log_drain_stats *st)
{
    if (!st->configured) {
        return;
    }
    metrics_family(b, "pgquorum_log_drain_connected", "gauge",
                   "1 while the connection to the log_drain collector is open.");
    metrics_sample(b, "pgquorum_log_drain_connected", NULL, 0, st->connected ? 1 : 0);
    metrics_family(b, "pgquorum_log_drain_queued", "gauge",
                   "Log lines waiting to be sent to the log_drain collector.");
    metrics_sample(b, "pgquorum_log_drain_queued", NULL, 0, (double)st->queued);
    metrics_family(b, "pgquorum_log_drain_dropped_total", "counter",
                   "Log lines never sent to the log_drain collector (the queue was full, or "
                   "the connection broke with them in flight) since the daemon started.");
    metrics_sample(b, "pgquorum_log_drain_dropped_total", NULL, 0, (double)st->dropped_total);
}
