/* Unit tests of the HTTP endpoints' pure parts: the health checks' rules
 * (agent/health.c: a table of node facts and the code each check answers),
 * the query parser (every bad query refused with one line), a monitor's
 * facts from the committed state and its own probe, and the Prometheus text
 * writer (agent/metrics.c: escaping, values, histograms, the state's
 * families). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "health.h"
#include "lib/util.h"
#include "metrics.h"

/* ---- the rules ------------------------------------------------------------- */

static const struct health_facts primary_ok = {.primary = true, .running = true};
static const struct health_facts replica_ok = {.running = true,
                                               .in_recovery = true,
                                               .streaming = true,
                                               .lag_known = true,
                                               .lag_bytes = 4096};

struct rule_case
{
    const char *what;
    struct health_facts f;
    int check;
    bool has_lag;
    uint64_t max_lag;
    int want;
};

#define P(...)                                        \
    {                                                 \
        .primary = true, .running = true, __VA_ARGS__ \
    }
#define R(...)                                                                      \
    {                                                                               \
        .running = true, .in_recovery = true, .streaming = true, .lag_known = true, \
        .lag_bytes = 4096, __VA_ARGS__                                              \
    }

/* P() and R() are a base case with some fields changed: the later
 * designator wins, as C11 says. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct rule_case rules[] = {
    {"the primary", P(), HC_PRIMARY, false, 0, 200},
    {"the primary is not a replica", P(), HC_REPLICA, false, 0, 503},
    {"the primary is read-only-able", P(), HC_READ_ONLY, false, 0, 200},
    {"a primary not answering", P(.running = false), HC_PRIMARY, false, 0, 503},
    {"a primary being failed over", P(.failing_over = true), HC_PRIMARY, false, 0, 503},
    {"a fenced primary", P(.fenced = true), HC_PRIMARY, false, 0, 503},
    {"a primary whose agent lost its lease", P(.lease_lost = true), HC_PRIMARY, false, 0, 503},
    {"a primary seen by a source cut off from the quorum", P(.no_quorum = true), HC_PRIMARY, false,
     0, 503},
    {"a replica seen by a source cut off from the quorum", R(.no_quorum = true), HC_REPLICA, false,
     0, 200},
    {"a decided candidate still in recovery", P(.in_recovery = true), HC_PRIMARY, false, 0, 503},
    {"a primary the quorum made read-only", P(.read_only = true), HC_PRIMARY, false, 0, 503},
    {"a writable node that is not the primary", {.running = true}, HC_PRIMARY, false, 0, 503},
    {"a writable node that is not the primary is no replica",
     {.running = true},
     HC_REPLICA,
     false,
     0,
     503},
    {"a streaming standby", R(), HC_REPLICA, false, 0, 200},
    {"a streaming standby is no primary", R(), HC_PRIMARY, false, 0, 503},
    {"a streaming standby is read-only-able", R(), HC_READ_ONLY, false, 0, 200},
    {"a standby within the lag", R(), HC_REPLICA, true, 4096, 200},
    {"a standby over the lag", R(), HC_REPLICA, true, 4095, 503},
    {"a standby of unknown lag under a lag limit", R(.lag_known = false), HC_REPLICA, true, 1 << 30,
     503},
    {"a standby of unknown lag without a limit", R(.lag_known = false), HC_REPLICA, false, 0, 200},
    {"a standby not streaming", R(.streaming = false), HC_REPLICA, false, 0, 503},
    {"a standby in maintenance", R(.maintenance = true), HC_REPLICA, false, 0, 503},
    {"a standby that must rejoin", R(.must_rejoin = true), HC_REPLICA, false, 0, 503},
    {"a standby not answering", R(.running = false), HC_REPLICA, false, 0, 503},
    {"a synchronous standby", R(.sync = true), HC_SYNC, false, 0, 200},
    {"a synchronous standby is not asynchronous", R(.sync = true), HC_ASYNC, false, 0, 503},
    {"an asynchronous standby", R(), HC_ASYNC, false, 0, 200},
    {"an asynchronous standby is not synchronous", R(), HC_SYNC, false, 0, 503},
    {"health of a running node", R(), HC_HEALTH, false, 0, 200},
    {"health of a node not answering", R(.running = false), HC_HEALTH, false, 0, 503},
    {"nothing known", {.unknown = "not probed yet", .running = true}, HC_HEALTH, false, 0, 503},
};
#pragma GCC diagnostic pop

static void test_rules(void **ctx)
{
    /* Each check answers 200 or 503 on the facts exactly as the table says. */
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(rules); i++) {
        struct health_query q = {.has_lag = rules[i].has_lag, .max_lag = rules[i].max_lag};
        char why[128];
        int got = health_judge(rules[i].check, &rules[i].f, &q, why, sizeof why);
        if (got != rules[i].want) {
            fail_msg("%s: %s gave %d (%s), want %d", rules[i].what,
                     health_check_name(rules[i].check), got, why, rules[i].want);
        }
        assert_true(why[0] != '\0');
    }
    (void)primary_ok;
    (void)replica_ok;
}

static void test_names(void **ctx)
{
    /* The endpoint names map to checks, Patroni's aliases included; others are unknown. */
    (void)ctx;
    assert_int_equal(health_check_by_name("primary"), HC_PRIMARY);
    assert_int_equal(health_check_by_name("read-write"), HC_PRIMARY);
    assert_int_equal(health_check_by_name("replica"), HC_REPLICA);
    assert_int_equal(health_check_by_name("read-only"), HC_READ_ONLY);
    assert_int_equal(health_check_by_name("sync"), HC_SYNC);
    assert_int_equal(health_check_by_name("asynchronous"), HC_ASYNC);
    assert_int_equal(health_check_by_name("health"), HC_HEALTH);
    assert_int_equal(health_check_by_name(""), -1);
    assert_int_equal(health_check_by_name("Primary"), -1);
    assert_int_equal(health_check_by_name("metrics"), -1);
}

/* ---- the query ------------------------------------------------------------- */

static void test_query_good(void **ctx)
{
    /* Lag sizes in bytes or units, node and cluster names (percent-decoded), limit. */
    struct health_query q;
    char err[256];
    (void)ctx;
    assert_int_equal(health_parse_query("", &q, err, sizeof err), 0);
    assert_false(q.has_lag);
    assert_int_equal(health_parse_query("lag=16MB", &q, err, sizeof err), 0);
    assert_true(q.has_lag);
    assert_int_equal(q.max_lag, 16u << 20);
    assert_int_equal(
        health_parse_query("lag=1048576&node=pg%31&cluster=ma+in&limit=5", &q, err, sizeof err), 0);
    assert_int_equal(q.max_lag, 1048576);
    assert_string_equal(q.node, "pg1");
    assert_string_equal(q.cluster, "ma in");
    assert_int_equal(q.limit, 5);
    assert_int_equal(health_parse_query("&&lag=0&", &q, err, sizeof err), 0);
    assert_true(q.has_lag);
    assert_int_equal(q.max_lag, 0);
}

static void test_query_bad(void **ctx)
{
    /* Every bad query is refused with one line naming what is wrong. */
    static const struct
    {
        const char *query;
        const char *says;
    } bad[] = {
        {"lag=lots", "not a size"},
        {"lag=-1", "not a size"},
        {"lag=99999999999999999999", "not a size"},
        {"lag=1&lag=2", "given twice"},
        {"lagg=1", "unknown query parameter"},
        {"lag", "key=value"},
        {"node=%zz", "bad %-escape"},
        {"node=%4", "bad %-escape"},
        {"node=a%00b", "a NUL"},
        {"node=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "too long"},
        {"limit=x", "not a number"},
        {"limit=100001", "not a number of events (0..100000)"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(bad); i++) {
        struct health_query q;
        char err[256] = "";
        if (health_parse_query(bad[i].query, &q, err, sizeof err) == 0) {
            fail_msg("%s: accepted", bad[i].query);
        }
        if (strstr(err, bad[i].says) == NULL || strchr(err, '\n') != NULL) {
            fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].query, err, bad[i].says);
        }
    }
}

/* ---- a monitor's facts ----------------------------------------------------- */

/* o as a probe target holds it (v keeps its strings: view_obs_clear it). */
static const struct view_obs *V(struct view_obs *v, const struct obs *o)
{
    view_obs_set(v, o);
    return v;
}

static void test_facts_of(void **ctx)
{
    /* A monitor's facts combine the committed roles, fences, failovers, maintenance and
     * rejoins with its own latest probe (running, recovery, streaming, lag, synchronous). */
    static struct node nodes[2];
    static struct cluster c;
    struct obs p = {.reachable = true, .current_lsn = 10000};
    struct obs s = {.reachable = true, .in_recovery = true, .streaming = true, .replay_lsn = 9000};
    struct view_obs vp = {0}, vs = {0}; /* as a probe target holds them */
    struct health_facts f;
    (void)ctx;
    memset(&c, 0, sizeof c);
    memset(nodes, 0, sizeof nodes);
    pgq_strlcpy(c.name, "main", sizeof c.name);
    pgq_strlcpy(c.primary, "pg1", sizeof c.primary);
    c.epoch = 3;
    pgq_strlcpy(nodes[0].name, "pg1", sizeof nodes[0].name);
    pgq_strlcpy(nodes[1].name, "pg2", sizeof nodes[1].name);
    c.nodes = nodes;
    c.n_nodes = 2;
    pgq_strlcpy(p.sync_standbys, "pg0,pg2", sizeof p.sync_standbys);

    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_true(f.primary && f.running && !f.in_recovery && !f.fenced && !f.failing_over);
    health_facts_of(&c, &nodes[1], V(&vs, &s), V(&vp, &p), &f);
    assert_false(f.primary);
    assert_true(f.streaming && f.sync && f.lag_known);
    assert_int_equal(f.lag_bytes, 1000);
    health_facts_of(&c, &nodes[1], NULL, V(&vp, &p), &f);
    assert_non_null(f.unknown);

    /* Fenced in this epoch, a failover over it, a switchover stopping it. */
    nodes[0].fenced_epoch = 3;
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_true(f.fenced);
    nodes[0].fenced_epoch = 2;
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_false(f.fenced);
    c.fo.phase = PGQ_FO_CUTTING;
    pgq_strlcpy(c.fo.old_primary, "pg1", sizeof c.fo.old_primary);
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_true(f.failing_over);
    /* A candidate whose promotion was given up: c->primary until the next decision. */
    c.fo.phase = PGQ_FO_GAVE_UP;
    pgq_strlcpy(c.fo.candidate, "pg1", sizeof c.fo.candidate);
    pgq_strlcpy(c.fo.old_primary, "pg0", sizeof c.fo.old_primary);
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_true(f.failing_over);
    c.fo.phase = PGQ_FO_DONE;
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_false(f.failing_over);
    c.sw.phase = PGQ_SW_STOPPING;
    c.sw.epoch = 3;
    health_facts_of(&c, &nodes[0], V(&vp, &p), V(&vp, &p), &f);
    assert_true(f.failing_over);

    /* Maintenance, a rejoin the quorum asks for or the agent reports. */
    nodes[1].maintenance = true;
    pgq_strlcpy(nodes[1].rejoin, "diverged", sizeof nodes[1].rejoin);
    health_facts_of(&c, &nodes[1], V(&vs, &s), V(&vp, &p), &f);
    assert_true(f.maintenance && f.must_rejoin);
    nodes[1].rejoin[0] = '\0';
    nodes[1].agent.rejoin = PGQ_RJ_STREAMING;
    health_facts_of(&c, &nodes[1], V(&vs, &s), V(&vp, &p), &f);
    assert_false(f.must_rejoin);
    nodes[1].agent.rejoin = PGQ_RJ_REWINDING;
    health_facts_of(&c, &nodes[1], V(&vs, &s), V(&vp, &p), &f);
    assert_true(f.must_rejoin);

    /* Lag from the standby's own upstream position when the primary is not seen. */
    s.upstream_lsn = 9500;
    health_facts_of(&c, &nodes[1], V(&vs, &s), NULL, &f);
    assert_true(f.lag_known);
    assert_int_equal(f.lag_bytes, 500);
    assert_false(f.sync);
    view_obs_clear(&vp);
    view_obs_clear(&vs);
}

/* ---- the Prometheus writer --------------------------------------------------- */

static char *take(struct metrics_buf *b)
{
    size_t len;
    char *text = metrics_take(b, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_exposition(void **ctx)
{
    /* Families carry HELP and TYPE; label values escape backslash, quote and line feed;
     * integers print without a fraction, others in full, NaN and infinities by name. */
    struct metrics_buf b;
    const char *l[4] = {"node", "a\"b\\c\nd", "x", "y"};
    char *text;
    (void)ctx;
    metrics_init(&b);
    metrics_family(&b, "pgq_t", "gauge", "Help with a \\ and\na line.");
    metrics_sample(&b, "pgq_t", l, 2, 42);
    metrics_sample(&b, "pgq_t", NULL, 0, 0.25);
    metrics_sample(&b, "pgq_t", l, 1, 1e300 * 1e300);
    text = take(&b);
    assert_string_equal(text,
                        "# HELP pgq_t Help with a \\\\ and\\na line.\n"
                        "# TYPE pgq_t gauge\n"
                        "pgq_t{node=\"a\\\"b\\\\c\\nd\",x=\"y\"} 42\n"
                        "pgq_t 0.25\n"
                        "pgq_t{node=\"a\\\"b\\\\c\\nd\"} +Inf\n");
    free(text);
}

static void test_histogram(void **ctx)
{
    /* A histogram's buckets are cumulative, end with +Inf, and _sum and _count match what
     * was observed; an observation on a bound falls in that bucket. */
    struct metrics_hist h;
    struct metrics_buf b;
    char *text;
    (void)ctx;
    memset(&h, 0, sizeof h);
    metrics_observe(&h, 0.1);
    metrics_observe(&h, 3);
    metrics_observe(&h, 1000);
    metrics_init(&b);
    metrics_hist_samples(&b, "pgq_h", "phase", "total", &h);
    text = take(&b);
    assert_non_null(strstr(text, "pgq_h_bucket{phase=\"total\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "pgq_h_bucket{phase=\"total\",le=\"2.5\"} 1\n"));
    assert_non_null(strstr(text, "pgq_h_bucket{phase=\"total\",le=\"5\"} 2\n"));
    assert_non_null(strstr(text, "pgq_h_bucket{phase=\"total\",le=\"300\"} 2\n"));
    assert_non_null(strstr(text, "pgq_h_bucket{phase=\"total\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "pgq_h_sum{phase=\"total\"} 1003.1"));
    assert_non_null(strstr(text, "pgq_h_count{phase=\"total\"} 3\n"));
    free(text);
}

static const struct view_obs *no_obs(void *arg, const char *cluster, const char *node)
{
    const struct view_obs *o = arg;
    (void)cluster;
    return strcmp(node, "pg1") == 0 ? o : NULL;
}

static void test_state_families(void **ctx)
{
    /* The state's families: one family header each, per-node samples labelled by cluster and
     * node, probe-based samples only where this monitor has an observation, host samples
     * only for nodes with an agent. */
    static struct node nodes[2];
    static struct cluster c;
    static struct state s;
    struct obs o = {.reachable = true,
                    .cache_hit_bp = 9950,
                    .index_hit_bp = PGQ_BP_NONE,
                    .connections = 7,
                    .current_lsn = 1234,
                    .timeline = 2};
    struct view_obs vo = {0};
    struct metrics_buf b;
    char *text;
    (void)ctx;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    memset(nodes, 0, sizeof nodes);
    pgq_strlcpy(c.name, "main", sizeof c.name);
    pgq_strlcpy(c.primary, "pg1", sizeof c.primary);
    c.epoch = 2;
    pgq_strlcpy(nodes[0].name, "pg1", sizeof nodes[0].name);
    pgq_strlcpy(nodes[1].name, "pg2", sizeof nodes[1].name);
    nodes[0].verdict = PGQ_VERDICT_UP;
    nodes[0].agent.state = PGQ_AGENT_UP;
    nodes[0].agent.host.cpu_busy_bp = 2500;
    nodes[0].agent.host.load1_c = 150;
    c.nodes = nodes;
    c.n_nodes = 2;
    s.clusters = &c;
    s.n_clusters = 1;
    state_reindex(&s);
    metrics_init(&b);
    view_obs_set(&vo, &o);
    metrics_state(&b, &s, no_obs, &vo);
    text = take(&b);
    assert_non_null(strstr(text, "pgquorum_cluster_epoch{cluster=\"main\"} 2\n"));
    assert_non_null(strstr(text, "pgquorum_node_up{cluster=\"main\",node=\"pg1\"} 1\n"));
    assert_null(strstr(text, "pgquorum_node_up{cluster=\"main\",node=\"pg2\"}"));
    assert_non_null(strstr(text, "pgquorum_node_primary{cluster=\"main\",node=\"pg2\"} 0\n"));
    assert_non_null(
        strstr(text, "pgquorum_node_cache_hit_ratio{cluster=\"main\",node=\"pg1\"} 0.995"));
    assert_null(strstr(text, "pgquorum_node_index_hit_ratio{"));
    assert_non_null(strstr(text, "pgquorum_node_connections{cluster=\"main\",node=\"pg1\"} 7\n"));
    assert_non_null(
        strstr(text, "pgquorum_node_wal_position_bytes{cluster=\"main\",node=\"pg1\"} 1234\n"));
    assert_null(strstr(text, "node=\"pg2\"} 1234"));
    assert_non_null(
        strstr(text, "pgquorum_host_cpu_busy_ratio{cluster=\"main\",node=\"pg1\"} 0.25\n"));
    assert_non_null(strstr(text, "pgquorum_host_load1{cluster=\"main\",node=\"pg1\"} 1.5\n"));
    assert_null(strstr(text, "pgquorum_host_load1{cluster=\"main\",node=\"pg2\"}"));
    /* One TYPE line per family. */
    assert_ptr_equal(strstr(text, "# TYPE pgquorum_node_up gauge"),
                     strstr(text, "# TYPE pgquorum_node_up "));
    assert_null(strstr(strstr(text, "# TYPE pgquorum_node_up ") + 1, "# TYPE pgquorum_node_up "));
    free(text);
    free(s.cluster_index);
    view_obs_clear(&vo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_query_good), cmocka_unit_test(test_query_bad),
        cmocka_unit_test(test_facts_of),   cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_histogram),  cmocka_unit_test(test_state_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
