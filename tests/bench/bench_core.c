/* bench_core: micro-benchmarks of the pure core (make bench-scale; issue
 * 12, item 3: work proportional to change).
 *
 * For states of growing size (default 1,000 / 10,000 / 100,000 nodes, in
 * clusters of a primary and standbys, seen by every voter and steady) it
 * times what the monitors do over and over: applying a report of k
 * observations, registering one more node (check and apply, the last of
 * N), looking a node up, encoding and decoding a snapshot, the leader's
 * policy evaluation (policy_next_command, policy_actions), and what the
 * HTTP server renders for /metrics and /cluster, what the API encodes for
 * a status (whole, and a part of a streamed one), and prints the
 * time per operation and how it grows with N (the exponent of N between the
 * smallest and the largest size: 0 is constant, 1 linear).
 *
 * It links the pure core like the unit tests and builds every state the
 * way the monitors do, through cluster_apply() of the commands a leader
 * commits (tests/unit/builders.c). Only the public functions are used:
 * the core is changing under it (cluster index, batched reports), and the
 * few places that would change are the bench_* adapters below. A size the
 * core refuses to build (a fixed limit) is reported as such, not hidden.
 *
 * Usage: bench_core [--sizes 1000,10000,100000] [--per-cluster K]
 *                   [--monitors M] [--quick] */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/builders.h"
#include "codec.h"
#include "lib/util.h"
#include "metrics.h"
#include "policy.h"
#include "render.h"

#define MAX_SIZES 8
#define T0 UINT64_C(1800000000000) /* leader stamps start here, 1 ms per command */

/* The operations, one row of the table each. */
enum op {
    OP_BUILD,
    OP_REPORT,
    OP_ADD_CHECK,
    OP_ADD_APPLY,
    OP_REMOVE,
    OP_LOOKUP,
    OP_ENCODE,
    OP_DECODE,
    OP_POLICY_NEXT,
    OP_POLICY_ACTIONS,
    OP_POLICY_NEXT_MEMO,
    OP_POLICY_ACTIONS_MEMO,
    OP_METRICS,
    OP_STATUS_HTTP,
    OP_STATUS_API,
    OP_STATUS_PART,
    N_OPS
};

static const char *const OP_NAMES[N_OPS] = {
    "build the state (whole, per node)",
    "apply a report of k observations",
    "node add: cluster_check",
    "node add: apply (the last of N)",
    "node remove: apply",
    "state lookup (cluster, then node)",
    "snapshot encode",
    "snapshot decode",
    "policy_next_command",
    "policy_actions",
    "the leader's tick: next commands",
    "the leader's tick: actions due",
    "/metrics: the state's samples",
    "/cluster: the whole document",
    "API status: the whole reply",
    "API status: a part (128 clusters)",
};

struct row
{
    double ns[N_OPS]; /* per operation; < 0: not measured */
    size_t snapshot_bytes;
    size_t metrics_bytes, status_bytes;
    unsigned actions_due;
    char first_action[PGQ_REASON_MAX]; /* the first action due, if any */
    int next_kind;                     /* what policy_next_command proposes (0: nothing) */
    char refused[PGQ_REASON_MAX];
};

static struct
{
    unsigned per_cluster;
    unsigned monitors;
    bool quick;
    uint64_t t; /* the next leader stamp */
} opt = {2, 3, false, T0};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- the layout, as tools/fakepg.c and tools/bench_scale.py have it ------ */

static void cluster_name(unsigned k, char *out, size_t size)
{
    snprintf(out, size, "c%05u", k);
}

static void node_name(unsigned i, char *out, size_t size)
{
    snprintf(out, size, "n%06u", i);
}

static void node_conninfo(unsigned i, char *out, size_t size)
{
    snprintf(out, size, "host=127.%u.%u.%u port=5432 user=pgquorum_monitor dbname=postgres",
             1 + i / 65536, (i / 256) % 256, i % 256);
}

/* ---- adapters: the only calls that know how commands are built ----------- */

/* Apply cmd; 0, or the refusal's code with its message in why. */
static int bench_apply(struct state *s, struct command *cmd, char *why, size_t size)
{
    struct apply_result res;
    int rv = cluster_apply(s, cmd, &res);
    if (rv != 0 && why != NULL) {
        pgq_strlcpy(why, res.message, size);
    }
    return rv;
}

static struct command bench_cmd_add(const char *cluster, unsigned i)
{
    char name[PGQ_NAME_MAX], ci[PGQ_CONNINFO_MAX];
    node_name(i, name, sizeof name);
    node_conninfo(i, ci, sizeof ci);
    return b_cmd_node_add(opt.t++, cluster, name, ci, 50);
}

static struct command bench_cmd_remove(const char *cluster, unsigned i)
{
    char name[PGQ_NAME_MAX];
    struct command c;
    node_name(i, name, sizeof name);
    c = b_cmd_node_remove(opt.t++, name);
    pgq_strlcpy(c.cluster, cluster, sizeof c.cluster);
    return c;
}

/* What monitor m saw of cluster k's nodes first..first+n: the primary
 * writable at lsn, the standbys streaming it. Today a report holds one
 * cluster's observations; with batched reports (CMD_BATCH) this is where a
 * report of many clusters would be built. */
static struct command bench_cmd_report(const struct state *s,
                                       unsigned k,
                                       unsigned first,
                                       unsigned n,
                                       uint64_t m,
                                       uint64_t lsn)
{
    static struct obs o[PGQ_MAX_NODES]; /* some 3 kB each */
    struct command c;
    assert_true(n <= PGQ_MAX_NODES);
    for (unsigned j = 0; j < n; j++) {
        char name[PGQ_NAME_MAX];
        node_name(first + j, name, sizeof name);
        o[j] = j == 0 ? b_writable(s, name, lsn) : b_recovering(s, name, lsn);
        o[j].system_id = UINT64_C(7300000000000000000) + k;
        o[j].port = 5432;
    }
    c = b_cmd_report(opt.t++, m, o, n);
    cluster_name(k, c.cluster, sizeof c.cluster);
    return c;
}

static struct command bench_cmd_role(const char *cluster, unsigned i, int role, uint64_t epoch)
{
    char name[PGQ_NAME_MAX];
    struct command c;
    node_name(i, name, sizeof name);
    c = b_cmd_set_role(opt.t++, name, role, epoch);
    pgq_strlcpy(c.cluster, cluster, sizeof c.cluster);
    return c;
}

static struct command bench_cmd_repointed(const char *cluster, unsigned i, uint64_t epoch)
{
    char name[PGQ_NAME_MAX];
    struct command c;
    node_name(i, name, sizeof name);
    c = b_cmd_step(opt.t++, PGQ_STEP_REPOINTED, name, epoch, 0);
    pgq_strlcpy(c.cluster, cluster, sizeof c.cluster);
    return c;
}

/* The primary holds a slot for every other node (ACT_SLOTS done). */
static struct command bench_cmd_slots(const struct cluster *c)
{
    struct command cmd = b_cmd_step(opt.t++, PGQ_STEP_SLOTS, c->primary, c->epoch, 0);
    pgq_strlcpy(cmd.cluster, c->name, sizeof cmd.cluster);
    cmd.u.step.round = c->members_gen;
    return cmd;
}

/* ---- building a steady state -------------------------------------------- */

/* Cluster k's nodes, from `first`, `n` of them: added, seen by every voter,
 * the primary discovered and the standbys repointed (as b_healthy does for
 * one cluster), the primary's slots made: nothing left to do. 0, or the
 * code of the first refusal. */
static int build_cluster(struct state *s,
                         unsigned k,
                         unsigned first,
                         unsigned n,
                         char *why,
                         size_t size)
{
    char cname[PGQ_NAME_MAX];
    struct command c;
    const struct cluster *cl;
    int rv;
    cluster_name(k, cname, sizeof cname);
    for (unsigned j = 0; j < n; j++) {
        c = bench_cmd_add(cname, first + j);
        if ((rv = bench_apply(s, &c, why, size)) != 0) {
            return rv;
        }
    }
    for (uint64_t m = 1; m <= opt.monitors; m++) {
        c = bench_cmd_report(s, k, first, n, m, 0x3000148);
        rv = bench_apply(s, &c, why, size);
        command_close(&c);
        if (rv != 0) {
            return rv;
        }
    }
    cl = state_cluster(s, cname);
    c = bench_cmd_role(cname, first, PGQ_ROLE_PRIMARY, cl->epoch);
    if ((rv = bench_apply(s, &c, why, size)) != 0) {
        return rv;
    }
    for (unsigned j = 1; j < n; j++) {
        c = bench_cmd_role(cname, first + j, PGQ_ROLE_STANDBY, cl->epoch);
        if ((rv = bench_apply(s, &c, why, size)) != 0) {
            return rv;
        }
        c = bench_cmd_repointed(cname, first + j, cl->epoch);
        if ((rv = bench_apply(s, &c, why, size)) != 0) {
            return rv;
        }
    }
    c = bench_cmd_slots(cl);
    return bench_apply(s, &c, why, size);
}

static int build_state(struct state *s, unsigned n_nodes, char *why, size_t size)
{
    b_hello(s, opt.t++, 1, opt.monitors);
    b_feature_level(s, opt.t++);
    for (unsigned first = 0, k = 0; first < n_nodes; first += opt.per_cluster, k++) {
        unsigned n = PGQ_MIN(opt.per_cluster, n_nodes - first);
        int rv = build_cluster(s, k, first, n, why, size);
        if (rv != 0) {
            char at[PGQ_REASON_MAX];
            snprintf(at, sizeof at, "at node %u: %s", first, why);
            pgq_strlcpy(why, at, size);
            return rv;
        }
    }
    return 0;
}

/* ---- the measurements ---------------------------------------------------- */

/* Call f(arg) until `budget_s` seconds or `max` calls have passed (at
 * least one): the mean ns per call. */
static double timed(double budget_s, unsigned max, void (*f)(void *), void *arg)
{
    double t0 = now_ns(), spent;
    unsigned runs = 0;
    do {
        f(arg);
        runs++;
        spent = now_ns() - t0;
    } while (runs < max && spent < budget_s * 1e9);
    return spent / runs;
}

static double budget(void)
{
    return opt.quick ? 0.05 : 0.3;
}

/* Reports as the monitors send them: a different cluster and monitor each
 * time, every primary's WAL a little further (a change to record). Only the
 * apply is timed. */
static double time_reports(struct state *s, unsigned n_clusters, unsigned n_nodes)
{
    enum { BATCH = 256 };
    static struct command cmds[BATCH];
    double spent = 0;
    unsigned done = 0, k = 0;
    uint64_t lsn = 0x4000000;
    double t_end = now_ns() + budget() * 1e9;
    while (now_ns() < t_end || done == 0) {
        for (unsigned b = 0; b < BATCH; b++) {
            unsigned first = k * opt.per_cluster;
            unsigned n = PGQ_MIN(opt.per_cluster, n_nodes - first);
            cmds[b] = bench_cmd_report(s, k, first, n, 1 + (done + b) % opt.monitors, lsn++);
            k = (k * 7919 + 1) % n_clusters;
        }
        {
            double t0 = now_ns();
            for (unsigned b = 0; b < BATCH; b++) {
                char why[PGQ_REASON_MAX];
                if (bench_apply(s, &cmds[b], why, sizeof why) != 0) {
                    fprintf(stderr, "bench_core: report refused: %s\n", why);
                    exit(1);
                }
            }
            spent += now_ns() - t0;
        }
        for (unsigned b = 0; b < BATCH; b++) {
            command_close(&cmds[b]);
        }
        done += BATCH;
    }
    return spent / done;
}

/* One node more in the last cluster (the last of N+1), checked as the API
 * does, applied, then removed again: each timed alone. */
static void time_add(struct state *s, unsigned n_clusters, unsigned n_nodes, struct row *r)
{
    char cname[PGQ_NAME_MAX], why[PGQ_REASON_MAX];
    double check = 0, add = 0, remove = 0;
    unsigned runs = 0, max = opt.quick ? 50 : 400;
    cluster_name(n_clusters - 1, cname, sizeof cname);
    for (double t_end = now_ns() + budget() * 1e9; runs < max && (now_ns() < t_end || runs == 0);
         runs++) {
        struct command c = bench_cmd_add(cname, n_nodes + 1);
        struct command d = bench_cmd_remove(cname, n_nodes + 1);
        struct apply_result res;
        double t0 = now_ns(), t1, t2, t3;
        int rv = cluster_check(s, &c, &res);
        t1 = now_ns();
        if (rv == 0) {
            rv = bench_apply(s, &c, why, sizeof why);
        } else {
            pgq_strlcpy(why, res.message, sizeof why);
        }
        t2 = now_ns();
        if (rv != 0) {
            snprintf(r->refused, sizeof r->refused, "node add refused: %s", why);
            r->ns[OP_ADD_CHECK] = r->ns[OP_ADD_APPLY] = r->ns[OP_REMOVE] = -1;
            return;
        }
        if (bench_apply(s, &d, why, sizeof why) != 0) {
            fprintf(stderr, "bench_core: node remove refused: %s\n", why);
            exit(1);
        }
        t3 = now_ns();
        check += t1 - t0;
        add += t2 - t1;
        remove += t3 - t2;
    }
    r->ns[OP_ADD_CHECK] = check / runs;
    r->ns[OP_ADD_APPLY] = add / runs;
    r->ns[OP_REMOVE] = remove / runs;
}

struct lookup_ctx
{
    const struct state *s;
    char cnames[1024][PGQ_NAME_MAX], nnames[1024][PGQ_NAME_MAX];
    unsigned i;
    uintptr_t sink;
};

static void lookup_one(void *arg)
{
    struct lookup_ctx *x = arg;
    const struct cluster *c = state_cluster(x->s, x->cnames[x->i % 1024]);
    x->sink += (uintptr_t)cluster_node(c, x->nnames[x->i % 1024]);
    x->i++;
}

static double time_lookup(const struct state *s, unsigned n_nodes)
{
    static struct lookup_ctx x;
    double ns;
    x.s = s;
    x.i = 0;
    for (unsigned j = 0; j < 1024; j++) {
        unsigned node = (unsigned)(((uint64_t)j * 2654435761u) % n_nodes);
        cluster_name(node / opt.per_cluster, x.cnames[j], sizeof x.cnames[j]);
        node_name(node, x.nnames[j], sizeof x.nnames[j]);
    }
    ns = timed(budget(), 1000000u, lookup_one, &x);
    if (x.sink == 0) {
        fprintf(stderr, "bench_core: no node found\n");
        exit(1);
    }
    return ns;
}

struct snap_ctx
{
    const struct state *s;
    uint8_t *buf;
    size_t len;
};

static void encode_one(void *arg)
{
    struct snap_ctx *x = arg;
    free(x->buf);
    if (codec_snapshot_encode(x->s, NULL, &x->buf, &x->len) != 0) {
        fprintf(stderr, "bench_core: snapshot encode failed\n");
        exit(1);
    }
}

static void decode_one(void *arg)
{
    struct snap_ctx *x = arg;
    struct state d;
    char err[256];
    if (codec_snapshot_decode(x->buf, x->len, &d, err, sizeof err) != 0) {
        fprintf(stderr, "bench_core: snapshot decode: %s\n", err);
        exit(1);
    }
    state_close(&d);
}

static void time_snapshot(const struct state *s, struct row *r)
{
    struct snap_ctx x = {s, NULL, 0};
    unsigned max = opt.quick ? 3 : 20;
    r->ns[OP_ENCODE] = timed(budget(), max, encode_one, &x);
    r->snapshot_bytes = x.len;
    r->ns[OP_DECODE] = timed(budget(), max, decode_one, &x);
    free(x.buf);
}

/* What a monitor's HTTP server renders for a scrape of /metrics (the
 * state's part: every node's samples) and for /cluster (the whole status
 * document), in all: it does so a few clusters per turn of the loop
 * (METRICS_STEP_NODES, CLUSTER_STEP_NODES in monitor_http.c). */
struct render_ctx
{
    const struct state *s;
    size_t bytes;
};

/* A monitor's own latest observation of a node: here its latest view. */
static const struct view_obs *own_latest(void *arg, const char *cluster, const char *node)
{
    const struct cluster *c = state_cluster(arg, cluster);
    const struct node *n = c != NULL ? cluster_node(c, node) : NULL;
    const struct view *v = n != NULL ? node_latest_view(n) : NULL;
    return v != NULL ? &v->obs : NULL;
}

static void metrics_one(void *arg)
{
    struct render_ctx *x = arg;
    struct metrics_buf b;
    metrics_init(&b);
    metrics_state(&b, x->s, own_latest, (void *)x->s);
    assert_false(b.oom);
    x->bytes = b.len;
    metrics_free(&b);
}

static void status_http_one(void *arg)
{
    struct render_ctx *x = arg;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(render_status_stream(f, x->s, NULL, 0, 1, ""), 0);
    assert_int_equal(fclose(f), 0);
    x->bytes = len;
    free(text);
}

/* The API's status of all: in one frame, as an older client asks for it,
 * and one part of a streamed one (api_reply_stream: about 256 nodes, 128
 * clusters of 2 here), which is what a turn of the loop encodes. */
static void status_api_one(void *arg)
{
    struct render_ctx *x = arg;
    struct api_response res;
    uint8_t *buf;
    size_t len;
    api_response_init(&res);
    res.body = API_STATUS;
    assert_int_equal(codec_response_encode(&res, x->s, NULL, 0, NULL, &buf, &len), 0);
    x->bytes = len;
    free(buf);
}

static void status_part_one(void *arg)
{
    struct render_ctx *x = arg;
    char names[128][PGQ_NAME_MAX];
    unsigned n = PGQ_MIN(x->s->n_clusters, 128u);
    uint8_t *buf;
    size_t len;
    for (unsigned i = 0; i < n; i++) {
        memcpy(names[i], x->s->clusters[x->s->n_clusters - n + i].name, PGQ_NAME_MAX);
    }
    assert_int_equal(codec_status_part_encode(x->s, (const char(*)[PGQ_NAME_MAX])names, n, true,
                                              NULL, &buf, &len),
                     0);
    free(buf);
}

static void time_render(const struct state *s, struct row *r)
{
    struct render_ctx x = {s, 0};
    unsigned max = opt.quick ? 3 : 20;
    r->ns[OP_METRICS] = timed(budget(), max, metrics_one, &x);
    r->metrics_bytes = x.bytes;
    r->ns[OP_STATUS_HTTP] = timed(budget(), max, status_http_one, &x);
    r->status_bytes = x.bytes;
    r->ns[OP_STATUS_API] = timed(budget(), max, status_api_one, &x);
    r->ns[OP_STATUS_PART] = timed(budget(), max, status_part_one, &x);
}

struct policy_ctx
{
    struct state *s;
    struct policy_config pc;
    uint64_t now;
    struct action *acts;
    unsigned max;
    struct row *r;
    unsigned memo_commands, memo_actions;
};

static void next_one(void *arg)
{
    struct policy_ctx *x = arg;
    struct command out;
    if (policy_next_command(x->s, &x->pc, x->now, &out)) {
        x->r->next_kind = out.kind;
        command_close(&out);
    }
}

static void actions_one(void *arg)
{
    struct policy_ctx *x = arg;
    x->r->actions_due = policy_actions(x->s, &x->pc, x->acts, x->max);
}

/* What the daemon's leader runs every tick: the walks that skip clusters
 * found quiet (or calm) with nothing applied to them since. */
static void next_memo_one(void *arg)
{
    struct policy_ctx *x = arg;
    struct command out[256];
    unsigned n = policy_next_commands_memo(x->s, &x->pc, x->now, out, 256);
    for (unsigned i = 0; i < n; i++) {
        command_close(&out[i]);
    }
    x->memo_commands = n;
}

static void actions_memo_one(void *arg)
{
    struct policy_ctx *x = arg;
    x->memo_actions = policy_actions_memo(x->s, &x->pc, x->acts, x->max);
}

static void time_policy(struct state *s, struct row *r)
{
    /* The monitors' defaults: failover_timeout 5s, max_lag_on_failover 1MB,
     * cut_timeout 2s, promote_timeout 60s, replication slots on. */
    struct policy_ctx x = {.s = s, .now = s->time_ms + 1000, .max = 1024, .r = r};
    x.pc.failover_timeout_ms = 5000;
    x.pc.max_lag_bytes = 1048576;
    x.pc.cut_timeout_ms = 2000;
    x.pc.retry_ms = 60000;
    x.pc.replication_slots = true;
    x.acts = calloc(x.max, sizeof *x.acts);
    assert_non_null(x.acts);
    r->ns[OP_POLICY_NEXT] = timed(budget(), 100000u, next_one, &x);
    r->ns[OP_POLICY_ACTIONS] = timed(budget(), 100000u, actions_one, &x);
    r->ns[OP_POLICY_NEXT_MEMO] = timed(budget(), 100000u, next_memo_one, &x);
    r->ns[OP_POLICY_ACTIONS_MEMO] = timed(budget(), 100000u, actions_memo_one, &x);
    /* The memo changes no answer (checked on every plan of the unit tests). */
    assert_true((x.memo_commands > 0) == (r->next_kind != 0));
    assert_int_equal(x.memo_actions, r->actions_due);
    if (r->actions_due > 0) {
        snprintf(r->first_action, sizeof r->first_action, "%s %s/%s",
                 policy_action_name(x.acts[0].kind), x.acts[0].cluster, x.acts[0].node);
    }
    free(x.acts);
}

static void measure(unsigned n_nodes, struct row *r)
{
    struct state s;
    double t0;
    unsigned n_clusters = (n_nodes + opt.per_cluster - 1) / opt.per_cluster;
    for (unsigned i = 0; i < N_OPS; i++) {
        r->ns[i] = -1;
    }
    state_init(&s);
    t0 = now_ns();
    if (build_state(&s, n_nodes, r->refused, sizeof r->refused) != 0) {
        state_close(&s);
        return;
    }
    r->ns[OP_BUILD] = (now_ns() - t0) / n_nodes;
    r->ns[OP_REPORT] = time_reports(&s, n_clusters, n_nodes);
    r->ns[OP_LOOKUP] = time_lookup(&s, n_nodes);
    time_snapshot(&s, r);
    time_render(&s, r);
    time_policy(&s, r);
    /* Last: a node added and removed changes the members, and the primary
     * of that cluster owes a slots step again. */
    time_add(&s, n_clusters, n_nodes, r);
    state_close(&s);
}

/* ---- output -------------------------------------------------------------- */

static void print_time(double ns)
{
    if (ns < 0) {
        printf(" %12s", "-");
    } else if (ns < 1e3) {
        printf(" %9.0f ns", ns);
    } else if (ns < 1e6) {
        printf(" %9.2f us", ns / 1e3);
    } else if (ns < 1e9) {
        printf(" %9.2f ms", ns / 1e6);
    } else {
        printf(" %9.2f s ", ns / 1e9);
    }
}

static void print_table(const unsigned *sizes, unsigned n, const struct row *rows)
{
    printf("%-36s", "per operation");
    for (unsigned j = 0; j < n; j++) {
        char head[32];
        snprintf(head, sizeof head, "N=%u", sizes[j]);
        printf(" %12s", head);
    }
    printf("   growth\n");
    for (unsigned i = 0; i < N_OPS; i++) {
        int lo = -1, hi = -1;
        printf("%-36s", OP_NAMES[i]);
        for (unsigned j = 0; j < n; j++) {
            print_time(rows[j].ns[i]);
            if (rows[j].ns[i] > 0) {
                hi = (int)j;
                lo = lo < 0 ? (int)j : lo;
            }
        }
        /* The exponent e of time ~ N^e between the smallest and the largest
         * size measured. */
        if (lo >= 0 && hi > lo) {
            double e = log(rows[hi].ns[i] / rows[lo].ns[i]) / log((double)sizes[hi] / sizes[lo]);
            printf("   N^%.2f", e);
        }
        printf("\n");
    }
    printf("%-36s", "snapshot size");
    for (unsigned j = 0; j < n; j++) {
        char b[32];
        snprintf(b, sizeof b, "%.2f MB", rows[j].snapshot_bytes / 1e6);
        printf(" %12s", rows[j].snapshot_bytes ? b : "-");
    }
    printf("\n%-36s", "/metrics, /cluster size");
    for (unsigned j = 0; j < n; j++) {
        char b[32];
        snprintf(b, sizeof b, "%.1f/%.1f MB", rows[j].metrics_bytes / 1e6,
                 rows[j].status_bytes / 1e6);
        printf(" %12s", b);
    }
    printf("\n%-36s", "actions due (policy_actions)");
    for (unsigned j = 0; j < n; j++) {
        printf(" %12u", rows[j].actions_due);
    }
    printf("\n");
    for (unsigned j = 0; j < n; j++) {
        if (rows[j].refused[0] != '\0') {
            printf("N=%u: %s\n", sizes[j], rows[j].refused);
        }
        if (rows[j].actions_due > 0) {
            printf("N=%u: %u actions due on the steady state, the first: %s\n", sizes[j],
                   rows[j].actions_due, rows[j].first_action);
        }
        if (rows[j].next_kind != 0) {
            printf("N=%u: policy_next_command proposes a command of kind %d on the steady state\n",
                   sizes[j], rows[j].next_kind);
        }
    }
}

static unsigned parse_sizes(const char *text, unsigned *sizes)
{
    unsigned n = 0;
    for (const char *p = text; *p != '\0' && n < MAX_SIZES;) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v == 0 || v > 10000000) {
            fprintf(stderr, "bench_core: bad size list \"%s\"\n", text);
            exit(2);
        }
        sizes[n++] = (unsigned)v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned sizes[MAX_SIZES] = {1000, 10000, 100000}, n_sizes = 3;
    struct row rows[MAX_SIZES];
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--sizes") == 0 && next != NULL) {
            n_sizes = parse_sizes(argv[++i], sizes);
        } else if (strcmp(argv[i], "--per-cluster") == 0 && next != NULL) {
            opt.per_cluster = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--monitors") == 0 && next != NULL) {
            opt.monitors = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--quick") == 0) {
            opt.quick = true;
        } else {
            fprintf(stderr,
                    "Usage: bench_core [--sizes 1000,10000,100000] [--per-cluster K] "
                    "[--monitors M] [--quick]\n");
            return 2;
        }
    }
    if (opt.per_cluster < 1 || opt.per_cluster > PGQ_MAX_NODES || opt.monitors < 1 ||
        opt.monitors > PGQ_MAX_MONITORS || n_sizes == 0) {
        fprintf(stderr, "bench_core: --per-cluster 1..%d, --monitors 1..%d\n", PGQ_MAX_NODES,
                PGQ_MAX_MONITORS);
        return 2;
    }
    printf(
        "core micro-benchmarks: clusters of %u nodes (a primary, %u standbys), %u voters; "
        "a report holds one cluster's k = %u observations\n",
        opt.per_cluster, opt.per_cluster - 1, opt.monitors, opt.per_cluster);
    fflush(stdout);
    for (unsigned j = 0; j < n_sizes; j++) {
        memset(&rows[j], 0, sizeof rows[j]);
        measure(sizes[j], &rows[j]);
        fprintf(stderr, "bench_core: N=%u done\n", sizes[j]);
    }
    print_table(sizes, n_sizes, rows);
    return 0;
}
