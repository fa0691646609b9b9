/* Unit tests of agent/cluster.c: the replicated state and cluster_apply().
 * Every state is reached through cluster_apply (builders.h); a refused
 * command must leave the snapshot encoding byte for byte unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "builders.h"
#include "codec.h"
#include "cluster.h"
#include "lib/util.h"
#include "policy.h"

static const char *const two_standbys[] = {"pg2", "pg3"};

/* The last event, or fail. */
static const struct event *last_event(const struct state *s)
{
    const struct event *e = b_event(s, b_n_events(s) - 1);
    assert_non_null(e);
    return e;
}

/* ---- determinism ------------------------------------------------------------- */

/* A script of every kind of command, with a failover in the middle. */
static unsigned script(struct command *out)
{
    static const uint64_t voters[] = {1, 2, 3};
    struct state probe; /* only for basis_seq/probed_ms of observations */
    struct obs o[3];
    unsigned n = 0;
    state_init(&probe);
    out[n++] = b_cmd_hello(1000, 1, voters, 3);
    out[n++] = b_cmd_node_add(1100, B_CLUSTER, "pg1", "host=10.0.1.1", 50);
    out[n++] = b_cmd_node_add(1200, B_CLUSTER, "pg2", "host=10.0.1.2 port=5433", 70);
    out[n++] = b_cmd_node_add(1300, "other", "pg1", "postgresql://10.0.2.1/app", 0);
    probe.seq = 4;
    o[0] = b_writable(&probe, "pg1", 0x1000);
    o[1] = b_recovering(&probe, "pg2", 0x1000);
    out[n++] = b_cmd_report(2000, 1, o, 2);
    out[n++] = b_cmd_report(2001, 2, o, 2);
    out[n++] = b_cmd_report(2002, 3, o, 2);
    out[n++] = b_cmd_set_role(2100, "pg1", PGQ_ROLE_PRIMARY, 0);
    out[n++] = b_cmd_set_role(2200, "pg2", PGQ_ROLE_STANDBY, 1);
    out[n++] = b_cmd_step(2300, PGQ_STEP_REPOINTED, "pg2", 1, 0);
    out[n++] = b_cmd_maintenance(2400, "pg2", true);
    out[n++] = b_cmd_maintenance(2500, "pg2", false);
    probe.seq = 12;
    o[2] = b_unreachable(&probe, "pg1");
    out[n++] = b_cmd_report(3000, 1, &o[2], 1);
    out[n++] = b_cmd_report(3001, 2, &o[2], 1);
    out[n++] = b_cmd_blocked(3100, "waiting for something");
    out[n++] = b_cmd_decide(9000, "pg2", 2, "pg1");
    out[n++] = b_cmd_step(9500, PGQ_STEP_PROMOTED, "pg2", 2, 2);
    out[n++] = b_cmd_step(9600, PGQ_STEP_DONE, NULL, 2, 0);
    out[n++] = b_cmd_hello(9700, 2, voters, 3);
    out[n++] = b_cmd_node_remove(9800, "pg1");
    state_close(&probe);
    return n;
}

static void test_apply_deterministic(void **ctx)
{
    /* Two states applying the same commands encode to identical bytes, also when one restarts from
     * a snapshot half-way. */
    struct command cmds[32];
    unsigned n = script(cmds);
    struct state a, b, half;
    (void)ctx;
    state_init(&a);
    state_init(&b);
    state_init(&half);
    for (unsigned i = 0; i < n; i++) {
        b_apply(&a, &cmds[i]);
    }
    for (unsigned i = 0; i < n; i++) {
        b_apply(&b, &cmds[i]);
        if (i == n / 2) {
            b_copy(&half, &b);
            state_close(&b);
            state_move(&b, &half);
        }
    }
    b_assert_same(&a, &b);
    assert_int_equal(a.seq, n);
    assert_int_equal(b_cluster(&a)->epoch, 2);
    assert_string_equal(b_cluster(&a)->primary, "pg2");
    assert_int_equal(b_cluster(&a)->fo.phase, PGQ_FO_DONE);
    for (unsigned i = 0; i < n; i++) {
        command_close(&cmds[i]);
    }
    state_close(&a);
    state_close(&b);
    state_close(&half);
}

static void test_unknown_command(void **ctx)
{
    /* A command of unknown kind is PGQ_UNKNOWN and changes nothing. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    command_init(&c, 99);
    c.time_ms = 5000;
    b_refused(s, &c, PGQ_UNKNOWN, "unknown command kind 99");
}

/* ---- node add / remove / maintenance ------------------------------------------ */

static void test_node_add(void **ctx)
{
    /* Adding a node creates its cluster on first use and records the node with its priority. */
    struct state *s = *ctx;
    struct command c = b_cmd_node_add(1234, "east", "pg1", "host=10.0.0.1 port=5433", 70);
    const struct node *n;
    b_apply(s, &c);
    assert_int_equal(s->n_clusters, 1);
    n = cluster_node(state_cluster(s, "east"), "pg1");
    assert_non_null(n);
    assert_string_equal(n->conninfo, "host=10.0.0.1 port=5433");
    assert_int_equal(n->priority, 70);
    assert_int_equal(n->role, PGQ_ROLE_UNKNOWN);
    assert_int_equal(n->verdict, PGQ_VERDICT_UNKNOWN);
    assert_int_equal(n->added_ms, 1234);
    assert_int_equal(last_event(s)->kind, PGQ_EV_NODE_ADDED);
    assert_string_equal(last_event(s)->message, "node pg1 added (priority 70)");
    /* The same host on another port is another node. */
    c = b_cmd_node_add(1300, "east", "pg2", "host=10.0.0.1 port=5434", 0);
    b_apply(s, &c);
    assert_int_equal(state_cluster(s, "east")->n_nodes, 2);
    /* The same name in another cluster is another node. */
    c = b_cmd_node_add(1400, "west", "pg1", "host=10.0.0.9", 100);
    b_apply(s, &c);
    assert_int_equal(s->n_clusters, 2);
    assert_int_equal(s->seq, 3);
}

static void test_node_add_repeated(void **ctx)
{
    /* The same registration sent again (a client retrying a write whose reply it lost) is
     * accepted and changes nothing but the command count; a different one is refused. */
    struct state *s = *ctx;
    struct command c = b_cmd_node_add(1000, B_CLUSTER, "pg1", "host=10.0.0.1 port=5433", 70);
    uint64_t events;
    b_apply(s, &c);
    events = s->event_seq;
    c = b_cmd_node_add(2000, B_CLUSTER, "pg1", "host=10.0.0.1 port=5433", 70);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->n_nodes, 1);
    assert_int_equal(s->event_seq, events);
    assert_int_equal(b_node(s, "pg1")->added_ms, 1000);
    c = b_cmd_node_add(3000, B_CLUSTER, "pg1", "host=10.0.0.1 port=5433", 60);
    b_refused(s, &c, PGQ_EXISTS, "node pg1 already exists in cluster main");
}

static void test_node_add_refused(void **ctx)
{
    /* A bad or duplicate node is refused with its code and message and changes nothing. */
    static const struct
    {
        const char *cluster;
        const char *node;
        const char *conninfo;
        unsigned priority;
        int code;
        const char *message;
    } cases[] = {
        {B_CLUSTER, "pg2", "host=pg9", 50, PGQ_EXISTS, "node pg2 already exists in cluster main"},
        {B_CLUSTER, "pg9", "host=pg9 password=secret", 50, PGQ_INVALID,
         "node pg9: conninfo carries a password"},
        {B_CLUSTER, "pg9", "postgresql://u:secret@pg9/db", 50, PGQ_INVALID,
         "conninfo carries a password"},
        {"bad name", "pg9", "host=pg9", 50, PGQ_INVALID,
         "invalid cluster name \"bad name\": use 1-63 of A-Z a-z 0-9 _ . -"},
        {"", "pg9", "host=pg9", 50, PGQ_INVALID, "invalid cluster name \"\""},
        {B_CLUSTER, "-pg9", "host=pg9", 50, PGQ_INVALID, "invalid node name \"-pg9\""},
        {B_CLUSTER, "pg/9", "host=pg9", 50, PGQ_INVALID, "invalid node name \"pg/9\""},
        {B_CLUSTER, "", "host=pg9", 50, PGQ_INVALID, "invalid node name \"\""},
        {B_CLUSTER, "pg9", "host=pg9", 101, PGQ_INVALID, "priority 101 is out of range 0..100"},
        {B_CLUSTER, "pg9", "host=pg1 port=5432", 50, PGQ_EXISTS,
         "pg1:5432 is already registered as node pg1"},
        {B_CLUSTER, "pg9", "postgresql://pg2", 50, PGQ_EXISTS,
         "pg2:5432 is already registered as node pg2"},
        {B_CLUSTER, "pg9", "dbname=postgres", 50, PGQ_INVALID, "conninfo names no host"},
        {B_CLUSTER, "pg9", "host=pg9,pg8", 50, PGQ_INVALID, "one host, not a list"},
        {B_CLUSTER, "pg9", "host=pg9 port=0", 50, PGQ_INVALID, "port must be a number"},
        {B_CLUSTER, "pg9", "host='pg9", 50, PGQ_INVALID, "unterminated quoted string"},
    };
    struct state *s = *ctx;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct command c = b_cmd_node_add(5000, cases[i].cluster, cases[i].node, cases[i].conninfo,
                                          cases[i].priority);
        b_refused(s, &c, cases[i].code, cases[i].message);
    }
    assert_int_equal(b_cluster(s)->n_nodes, 3);
}

static void test_node_add_checked_before_proposal(void **ctx)
{
    /* A conninfo with a keyword libpq does not know, or a dbname that is a connection string, is
     * refused before it is proposed; the state machine itself still applies such an entry, as
     * older versions committed it, so that every monitor replays the log to the same state. */
    static const struct
    {
        const char *conninfo;
        const char *message;
    } cases[] = {
        {"host=pg9 PASSWORD=secret", "node pg9: conninfo: unknown connection option \"PASSWORD\""},
        {"host=pg9 dbname='host=pg8 password=x'",
         "node pg9: conninfo: dbname must be a database name, not a connection string"},
    };
    struct state *s = *ctx;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct command c = b_cmd_node_add(5000, B_CLUSTER, "pg9", cases[i].conninfo, 50);
        struct apply_result res;
        assert_int_equal(cluster_check(s, &c, &res), PGQ_INVALID);
        b_assert_contains(res.message, cases[i].message);
        assert_int_equal(cluster_apply(s, &c, &res), 0);
        assert_non_null(b_node(s, "pg9"));
        b_remove(s, 6000, "pg9");
    }
}

static void test_node_add_limits(void **ctx)
{
    /* Below feature level 6 a cluster holds at most PGQ_MAX_NODES nodes, as older versions
     * do; the next one is PGQ_LIMIT. */
    struct state *s = *ctx;
    struct command c;
    char name[16], conninfo[64];
    for (unsigned i = 0; i < PGQ_MAX_NODES; i++) {
        snprintf(name, sizeof name, "n%u", i);
        snprintf(conninfo, sizeof conninfo, "host=10.1.%u.%u", i / 200, i % 200);
        c = b_cmd_node_add(1000 + i, B_CLUSTER, name, conninfo, 50);
        b_apply(s, &c);
    }
    c = b_cmd_node_add(9000, B_CLUSTER, "extra", "host=10.9.9.9", 50);
    b_refused(s, &c, PGQ_LIMIT, "cluster main has too many nodes (limit 128)");
}

static void test_no_ceiling_at_level_6(void **ctx)
{
    /* From feature level 6 a cluster takes any number of nodes and the state any number of
     * clusters: each is found by name, and a second registration of an address is refused in a
     * large cluster as in a small one. */
    struct state *s = *ctx;
    struct command c;
    char name[16], conninfo[64];
    b_hello(s, 500, 1, 3);
    b_feature_level(s, 600);
    for (unsigned i = 0; i < 3 * PGQ_MAX_NODES; i++) {
        snprintf(name, sizeof name, "n%u", i);
        snprintf(conninfo, sizeof conninfo, "host=10.1.%u.%u port=%u", i / 200, i % 200,
                 5432 + i % 3);
        c = b_cmd_node_add(1000 + i, B_CLUSTER, name, conninfo, 50);
        b_apply(s, &c);
    }
    for (unsigned i = 0; i < 2 * PGQ_MAX_CLUSTERS; i++) {
        snprintf(name, sizeof name, "c%u", i);
        c = b_cmd_node_add(5000 + i, name, "pg1", "host=10.0.0.1", 50);
        b_apply(s, &c);
    }
    assert_int_equal(state_cluster(s, B_CLUSTER)->n_nodes, 3 * PGQ_MAX_NODES);
    assert_int_equal(s->n_clusters, 2 * PGQ_MAX_CLUSTERS + 1);
    for (unsigned i = 0; i < 3 * PGQ_MAX_NODES; i++) {
        snprintf(name, sizeof name, "n%u", i);
        assert_string_equal(cluster_node(state_cluster(s, B_CLUSTER), name)->name, name);
    }
    for (unsigned i = 0; i < 2 * PGQ_MAX_CLUSTERS; i++) {
        snprintf(name, sizeof name, "c%u", i);
        assert_string_equal(state_cluster(s, name)->name, name);
    }
    assert_null(state_cluster(s, "c9999"));
    assert_null(cluster_node(state_cluster(s, B_CLUSTER), "n9999"));
    c = b_cmd_node_add(9000, B_CLUSTER, "again", "host=10.1.1.7 port=5432", 50);
    b_refused(s, &c, PGQ_EXISTS, "10.1.1.7:5432 is already registered as node n207");
    /* A removal moves the nodes after it: every one is still found, the removed one not. */
    b_remove(s, 9100, "n5");
    assert_null(cluster_node(state_cluster(s, B_CLUSTER), "n5"));
    assert_string_equal(cluster_node(state_cluster(s, B_CLUSTER), "n300")->name, "n300");
    c = b_cmd_node_add(9200, B_CLUSTER, "n5b", "host=10.1.0.5 port=5434", 50);
    b_apply(s, &c);
    /* And so does a snapshot: the indexes are rebuilt from what it holds. */
    {
        struct state copy;
        uint8_t *buf;
        size_t len;
        char err[256];
        b_encode(s, &buf, &len);
        assert_int_equal(codec_state_decode(buf, len, &copy, err, sizeof err), 0);
        free(buf);
        assert_string_equal(cluster_node(state_cluster(&copy, B_CLUSTER), "n300")->name, "n300");
        assert_string_equal(state_cluster(&copy, "c511")->name, "c511");
        c = b_cmd_node_add(9300, B_CLUSTER, "dup", "host=10.1.0.5 port=5434", 50);
        b_refused(&copy, &c, PGQ_EXISTS, "already registered as node n5b");
        state_close(&copy);
    }
}

static void test_cluster_limit(void **ctx)
{
    /* Below feature level 6 at most PGQ_MAX_CLUSTERS clusters exist, as older versions
     * allow; a node for one more is PGQ_LIMIT. */
    struct state *s = *ctx;
    struct command c;
    char name[16];
    for (unsigned i = 0; i < PGQ_MAX_CLUSTERS; i++) {
        snprintf(name, sizeof name, "c%u", i);
        c = b_cmd_node_add(1000 + i, name, "pg1", "host=10.0.0.1", 50);
        b_apply(s, &c);
    }
    c = b_cmd_node_add(9000, "c0", "pg2", "host=10.0.0.2", 50); /* existing cluster: fine */
    b_apply(s, &c);
    c = b_cmd_node_add(9001, "one-more", "pg1", "host=10.0.0.1", 50);
    b_refused(s, &c, PGQ_LIMIT, "too many clusters (limit 256)");
}

/* A batch of n commands (taken: the batch owns them now). */
static struct command batch_of(uint64_t t, const struct command *cmds, unsigned n)
{
    struct command b;
    command_init(&b, CMD_BATCH);
    b.time_ms = t;
    b.u.batch.cmds = calloc(n, sizeof *cmds);
    assert_non_null(b.u.batch.cmds);
    memcpy(b.u.batch.cmds, cmds, n * sizeof *cmds);
    b.u.batch.n = n;
    return b;
}

static void test_batch_of_reports(void **ctx)
{
    /* A batch applies each report as if it were an entry of its own (its own seq, at the
     * batch's time): one refused changes nothing and the others still apply, counted in the
     * result; below level 6 a batch is refused whole, and a batch in a batch always is. */
    struct state *s = *ctx;
    struct command subs[3], b, inner;
    struct apply_result res;
    struct obs o;
    uint64_t seq;
    b_hello(s, 500, 1, 3);
    b_add(s, 600, "pg1", 50);
    {
        struct command add = b_cmd_node_add(610, "other", "pg9", "host=10.9.9.9", 50);
        b_apply(s, &add);
    }
    o = b_writable(s, "pg1", 0x100);
    subs[0] = b_cmd_report(0, 2, &o, 1);
    memset(&o, 0, sizeof o);
    pgq_strlcpy(o.node, "pg9", sizeof o.node);
    o.reachable = true;
    o.in_recovery = true;
    subs[1] = b_cmd_report(0, 2, &o, 1);
    pgq_strlcpy(subs[1].cluster, "other", sizeof subs[1].cluster);
    subs[2] = b_cmd_report(0, 2, &o, 1);
    pgq_strlcpy(subs[2].cluster, "gone", sizeof subs[2].cluster); /* an unknown cluster */
    b = batch_of(7000, subs, 3);
    /* Below level 6: refused whole, nothing changed. */
    seq = s->seq;
    assert_int_equal(cluster_apply(s, &b, &res), PGQ_VERSION);
    assert_int_equal(s->seq, seq);
    assert_int_equal(b_node(s, "pg1")->n_views, 0);
    b_feature_level(s, 800);
    seq = s->seq;
    assert_int_equal(cluster_apply(s, &b, &res), 0);
    assert_int_equal(res.n_applied, 2);
    assert_int_equal(res.n_refused, 1);
    assert_non_null(strstr(res.message, "report for unknown cluster gone"));
    assert_int_equal(s->seq, seq + 2);
    assert_int_equal(node_latest_view(b_node(s, "pg1"))->applied_ms, 7000);
    assert_int_equal(node_latest_view(b_node(s, "pg1"))->obs.current_lsn, 0x100);
    assert_true(node_latest_view(cluster_node(state_cluster(s, "other"), "pg9"))->obs.in_recovery);
    /* A batch holding a batch: refused whole. */
    inner = batch_of(0, &b, 1);
    memset(&b, 0, sizeof b); /* inner owns it now */
    seq = s->seq;
    assert_int_equal(cluster_apply(s, &inner, &res), PGQ_INVALID);
    assert_int_equal(s->seq, seq);
    command_close(&inner);
}

static void test_batch_of_registrations(void **ctx)
{
    /* A bulk registration is checked as a whole before it is proposed: a node listed twice or
     * one bad node refuses all of it; a good one registers every node, each with its event. */
    struct state *s = *ctx;
    struct command subs[3], b;
    struct apply_result res;
    unsigned events;
    b_hello(s, 500, 1, 3);
    b_feature_level(s, 600);
    subs[0] = b_cmd_node_add(0, "c1", "a", "host=10.0.0.1", 50);
    subs[1] = b_cmd_node_add(0, "c2", "a", "host=10.0.0.1", 50);
    subs[2] = b_cmd_node_add(0, "c1", "a", "host=10.0.0.2", 50);
    b = batch_of(7000, subs, 3);
    assert_int_equal(cluster_check(s, &b, &res), PGQ_EXISTS);
    assert_string_equal(res.message, "node a of cluster c1 is listed twice");
    pgq_strlcpy(b.u.batch.cmds[2].node, "b", sizeof b.u.batch.cmds[2].node);
    b.u.batch.cmds[2].u.node_add.priority = 101;
    assert_int_equal(cluster_check(s, &b, &res), PGQ_INVALID);
    assert_string_equal(res.message, "priority 101 is out of range 0..100");
    b.u.batch.cmds[2].u.node_add.priority = 10;
    /* Two names of one slot, or one address under two names: refused whole too, naming the
     * second (the first refused, for the audit). */
    pgq_strlcpy(b.u.batch.cmds[2].node, "A", sizeof b.u.batch.cmds[2].node);
    assert_int_equal(cluster_check(s, &b, &res), PGQ_EXISTS);
    b_assert_contains(res.message, "would share replication slot pgq_a");
    assert_true(res.first_refused == 1 || res.first_refused == 3);
    pgq_strlcpy(b.u.batch.cmds[2].node, "b", sizeof b.u.batch.cmds[2].node);
    pgq_strlcpy(b.u.batch.cmds[2].u.node_add.conninfo, "host=10.0.0.1",
                sizeof b.u.batch.cmds[2].u.node_add.conninfo);
    assert_int_equal(cluster_check(s, &b, &res), PGQ_EXISTS);
    b_assert_contains(res.message, "have one address");
    pgq_strlcpy(b.u.batch.cmds[2].u.node_add.conninfo, "host=10.0.0.2",
                sizeof b.u.batch.cmds[2].u.node_add.conninfo);
    /* Who asked is the batch's, whatever a command in it claims. */
    pgq_strlcpy(b.who, "user:carol", sizeof b.who);
    pgq_strlcpy(b.u.batch.cmds[1].who, "user:admin", sizeof b.u.batch.cmds[1].who);
    assert_int_equal(cluster_check(s, &b, &res), 0);
    events = (unsigned)s->event_seq;
    assert_int_equal(cluster_apply(s, &b, &res), 0);
    assert_int_equal(res.n_applied, 3);
    assert_int_equal(s->event_seq, events + 3);
    assert_int_equal(cluster_node(state_cluster(s, "c1"), "b")->priority, 10);
    assert_int_equal(cluster_node(state_cluster(s, "c2"), "a")->added_ms, 7000);
    for (unsigned i = 0; i < b_n_events(s); i++) {
        if (b_event(s, i)->kind == PGQ_EV_NODE_ADDED) {
            assert_string_equal(b_event(s, i)->who, "user:carol");
        }
    }
    command_close(&b);
    /* An empty batch, or one all refused, changes nothing, time included. */
    {
        uint64_t t = s->time_ms, seq = s->seq;
        command_init(&b, CMD_BATCH);
        b.time_ms = 90000;
        assert_int_equal(cluster_apply(s, &b, &res), PGQ_INVALID);
        subs[0] = b_cmd_node_add(0, "c1", "a", "host=10.9.0.1", 50); /* a exists, elsewhere */
        b = batch_of(91000, subs, 1);
        assert_int_equal(cluster_apply(s, &b, &res), 0);
        assert_int_equal(res.n_refused, 1);
        assert_int_equal(s->time_ms, t);
        assert_int_equal(s->seq, seq);
        command_close(&b);
    }
}

static void test_node_remove(void **ctx)
{
    /* The primary cannot be removed while standbys exist; standbys and a lone primary can. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    c = b_cmd_node_remove(2000, "pg1");
    b_refused(s, &c, PGQ_REFUSED,
              "node pg1 is the primary of epoch 1; remove the standbys first or wait for a "
              "failover");
    c = b_cmd_node_remove(2000, "pg9");
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg9 in cluster main");
    c = b_cmd_node_remove(2000, "pg2");
    pgq_strlcpy(c.cluster, "nowhere", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg2 in cluster nowhere");

    b_remove(s, 2100, "pg2");
    assert_null(cluster_node(b_cluster(s), "pg2"));
    assert_non_null(cluster_node(b_cluster(s), "pg3"));
    assert_int_equal(last_event(s)->kind, PGQ_EV_NODE_REMOVED);
    b_remove(s, 2200, "pg3");
    b_remove(s, 2300, "pg1");
    assert_int_equal(b_cluster(s)->n_nodes, 0);
    assert_string_equal(b_cluster(s)->primary, "");
    assert_int_equal(b_cluster(s)->epoch, 1); /* epochs never go back */
}

static void test_maintenance(void **ctx)
{
    /* Maintenance toggles record an event only on change, and warn for the primary. */
    struct state *s = *ctx;
    struct command c;
    uint64_t events;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    c = b_cmd_maintenance(2000, "pg9", true);
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg9 in cluster main");

    b_maintenance(s, 2000, "pg2", true);
    assert_true(b_node(s, "pg2")->maintenance);
    assert_string_equal(last_event(s)->message, "maintenance on for node pg2");
    events = s->event_seq;
    b_maintenance(s, 2100, "pg2", true); /* no change: accepted, no event */
    assert_int_equal(s->event_seq, events);
    b_maintenance(s, 2200, "pg2", false);
    assert_false(b_node(s, "pg2")->maintenance);
    assert_string_equal(last_event(s)->message, "maintenance off for node pg2");

    b_maintenance(s, 2300, "pg1", true);
    assert_string_equal(last_event(s)->message,
                        "maintenance on for node pg1: no automatic failover while the primary is "
                        "in maintenance");
}

/* A healthy cluster (pg1 primary, pg2 and pg3 standbys) at feature level 3. */
static void healthy_level3(struct state *s)
{
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_feature_level(s, 1000);
}

/* copy: a new state, s through a snapshot, encoding to the same bytes. */
static void snapshot_copy(struct state *copy, const struct state *s)
{
    state_init(copy);
    b_copy(copy, s);
    b_assert_same(s, copy);
}

static void test_maintenance_allow_failover(void **ctx)
{
    /* The primary's maintenance may allow a failover: set and cleared with an event each time it
     * changes (maintenance on without it takes it back, off clears both); it is refused on a
     * standby (never promoted in maintenance anyway) and without maintenance on, and it survives
     * a snapshot. */
    struct state *s = *ctx;
    struct state copy;
    struct command c;
    uint64_t events;
    healthy_level3(s);
    c = b_cmd_maintenance(2000, "pg2", true);
    c.u.maintenance.allow_failover = true;
    b_refused(s, &c, PGQ_REFUSED,
              "node pg2 is not the primary of cluster main: only a primary in maintenance may be "
              "allowed a failover");
    c = b_cmd_maintenance(2000, "pg1", false);
    c.u.maintenance.allow_failover = true;
    b_refused(s, &c, PGQ_INVALID, "allow_failover needs maintenance on");

    c = b_cmd_maintenance(2100, "pg1", true);
    c.u.maintenance.allow_failover = true;
    b_apply(s, &c);
    assert_true(b_node(s, "pg1")->maintenance);
    assert_true(b_node(s, "pg1")->maintenance_allow_failover);
    assert_int_equal(last_event(s)->kind, PGQ_EV_MAINTENANCE);
    assert_string_equal(last_event(s)->message,
                        "maintenance on for node pg1: the primary may still be failed over should "
                        "it go down (allowed by the operator)");
    events = s->event_seq;
    b_apply(s, &c); /* the same again: no event */
    assert_int_equal(s->event_seq, events);

    snapshot_copy(&copy, s);
    assert_true(b_node(&copy, "pg1")->maintenance_allow_failover);
    state_close(&copy);

    b_maintenance(s, 2200, "pg1", true); /* without the allowance: taken back */
    assert_true(b_node(s, "pg1")->maintenance);
    assert_false(b_node(s, "pg1")->maintenance_allow_failover);
    assert_string_equal(last_event(s)->message,
                        "maintenance on for node pg1: no automatic failover while the primary is "
                        "in maintenance");
    b_apply(s, &c);
    b_maintenance(s, 2300, "pg1", false);
    assert_false(b_node(s, "pg1")->maintenance);
    assert_false(b_node(s, "pg1")->maintenance_allow_failover);
    assert_string_equal(last_event(s)->message, "maintenance off for node pg1");
}

/* ---- pause ------------------------------------------------------------------------ */

static void test_pause(void **ctx)
{
    /* Pause and resume set the cluster's flag and when it changed, clear the reason a failover
     * was held (the leader says it again if it still holds), and are events naming who did it;
     * the same again changes nothing; an unknown cluster is refused before and at apply; a
     * snapshot keeps both fields. */
    struct state *s = *ctx;
    struct state copy;
    struct command c;
    uint64_t events;
    healthy_level3(s);
    c = b_cmd_pause(2000, true, "alice");
    pgq_strlcpy(c.cluster, "nosuch", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nosuch");
    c = b_cmd_blocked(2000, "held: something");
    b_apply(s, &c);

    c = b_cmd_pause(2100, true, "pgquorumctl (user alice)");
    b_apply(s, &c);
    assert_true(b_cluster(s)->paused);
    assert_int_equal(b_cluster(s)->pause_ms, 2100);
    assert_string_equal(b_cluster(s)->fo.blocked, "");
    assert_int_equal(last_event(s)->kind, PGQ_EV_PAUSE);
    assert_string_equal(last_event(s)->cluster, "main");
    assert_string_equal(last_event(s)->node, "");
    assert_string_equal(last_event(s)->message,
                        "cluster main paused by pgquorumctl (user alice): no automatic failover, "
                        "cut or repoint starts (observations, verdicts and leases go on)");
    events = s->event_seq;
    c.time_ms = 2200;
    b_apply(s, &c); /* the same again (a retried write): accepted, nothing changes */
    assert_int_equal(s->event_seq, events);
    assert_int_equal(b_cluster(s)->pause_ms, 2100);

    snapshot_copy(&copy, s);
    assert_true(b_cluster(&copy)->paused);
    assert_int_equal(b_cluster(&copy)->pause_ms, 2100);
    state_close(&copy);

    c = b_cmd_blocked(2300, "paused: no automatic failover");
    b_apply(s, &c);
    c = b_cmd_pause(2400, false, "");
    b_apply(s, &c);
    assert_false(b_cluster(s)->paused);
    assert_int_equal(b_cluster(s)->pause_ms, 2400);
    assert_string_equal(b_cluster(s)->fo.blocked, "");
    assert_string_equal(last_event(s)->message,
                        "cluster main resumed by an operator: automatic failover again "
                        "(failover_timeout and every other wait count from now)");
}

static void test_pause_says_what_is_in_flight(void **ctx)
{
    /* A pause during a failover says what becomes of it: a cut is held, a decision is carried
     * through, a candidate given up is not replaced. */
    static const char *const tail[] = {
        "; the failover of the primary begun (cut) is held where it is",
        "; the failover already decided is carried through",
        "; no other candidate is tried",
    };
    for (unsigned i = 0; i < 3; i++) {
        struct state s;
        char want[PGQ_REASON_MAX];
        state_init(&s);
        healthy_level3(&s);
        if (i == 0) {
            b_cut(&s, 2000);
        } else {
            b_failover(&s, 2000, "pg2");
        }
        if (i == 2) {
            b_step(&s, 2500, PGQ_STEP_GAVE_UP, "pg2", 0);
        }
        b_pause(&s, 3000, true);
        snprintf(want, sizeof want,
                 "cluster main paused by alice: no automatic failover, cut or repoint starts "
                 "(observations, verdicts and leases go on)%s",
                 tail[i]);
        assert_string_equal(last_event(&s)->message, want);
        state_close(&s);
    }
}

/* ---- switchover ------------------------------------------------------------------ */

/* healthy_level3, and the primary's agent up, its PostgreSQL running. */
static void switchover_ready(struct state *s)
{
    struct agent_facts f = b_agent_facts(true);
    healthy_level3(s);
    b_agent(s, 1000, "pg1", &f);
}

/* The last event of kind k, or fail. */
static const struct event *last_event_of(const struct state *s, int k)
{
    for (unsigned i = b_n_events(s); i > 0; i--) {
        const struct event *e = b_event(s, i - 1);
        if (e->kind == k) {
            return e;
        }
    }
    fail_msg("no event of kind %s", pgq_event_kind_name(k));
    return NULL;
}

static void test_switchover_schedule(void **ctx)
{
    /* An operator's switchover is scheduled (target, time, the epoch it replaces, when it was
     * asked) with an event saying to whom and when, and survives a snapshot; a second one is
     * refused until the first is cancelled; so is one of an unknown cluster. */
    struct state *s = *ctx;
    struct state copy;
    struct command c;
    switchover_ready(s);
    b_switchover(s, 2000, "pg2", 0);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_PENDING);
    assert_string_equal(b_cluster(s)->sw.target, "pg2");
    assert_int_equal(b_cluster(s)->sw.at_ms, 0);
    assert_int_equal(b_cluster(s)->sw.epoch, 1);
    assert_int_equal(b_cluster(s)->sw.requested_ms, 2000);
    assert_int_equal(b_cluster(s)->sw.begun_ms, 0);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SWITCHOVER);
    assert_string_equal(last_event(s)->message, "switchover of pg1 to pg2 requested by alice");

    c = b_cmd_switchover(2100, "pg3", 0);
    b_refused(s, &c, PGQ_REFUSED,
              "a switchover is already scheduled in cluster main (to pg2): cancel it first "
              "(pgquorumctl switchover --cancel)");
    c = b_cmd_switchover_cancel(2200, "bob");
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);

    b_switchover(s, 3000, "", 63500);
    assert_string_equal(last_event(s)->message,
                        "switchover of pg1 to the best standby scheduled by alice, in 61 s");
    snapshot_copy(&copy, s);
    assert_int_equal(b_cluster(&copy)->sw.phase, PGQ_SW_PENDING);
    assert_string_equal(b_cluster(&copy)->sw.target, "");
    assert_int_equal(b_cluster(&copy)->sw.at_ms, 63500);
    assert_int_equal(b_cluster(&copy)->sw.epoch, 1);
    assert_int_equal(b_cluster(&copy)->sw.requested_ms, 3000);
    state_close(&copy);
    c = b_cmd_switchover(3100, "", 0);
    b_refused(s, &c, PGQ_REFUSED, "(to the best standby)");
    pgq_strlcpy(c.cluster, "nosuch", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nosuch");
}

/* How the state is made unfit for a switchover, and what it says then. */
enum {
    UNFIT_NO_PRIMARY = 1,
    UNFIT_NO_AGENT,
    UNFIT_AGENT_SILENT,
    UNFIT_NOT_RUNNING,
    UNFIT_FAILOVER,
    UNFIT_PAUSED,
    UNFIT_UNKNOWN_TARGET,
    UNFIT_TARGET_PRIMARY,
    UNFIT_NOT_STANDBY,
    UNFIT_NOT_UP,
    UNFIT_PRIORITY_0,
    UNFIT_MAINTENANCE,
    UNFIT_NOT_FOLLOWING,
    UNFIT_NONE_FIT,
};

/* pg4 added (priority prio), seen in recovery by every voter, a standby, repointed if follow. */
static void add_pg4(struct state *s, unsigned prio, bool standby, bool follow)
{
    struct obs o;
    b_add(s, 1500, "pg4", prio);
    if (!standby) {
        return;
    }
    o = b_recovering(s, "pg4", 100);
    b_report_by(s, 1500, 1, 3, &o);
    b_set_role(s, 1500, "pg4", PGQ_ROLE_STANDBY);
    if (follow) {
        b_step(s, 1500, PGQ_STEP_REPOINTED, "pg4", 0);
    }
}

static void make_unfit(struct state *s, int how)
{
    struct agent_facts f = b_agent_facts(false);
    struct obs o;
    switch (how) {
        case UNFIT_NO_PRIMARY:
            b_hello(s, 1000, 1, 3);
            b_add(s, 1000, "pg1", 50);
            b_feature_level(s, 1000);
            return;
        case UNFIT_NO_AGENT:
            healthy_level3(s);
            return;
        case UNFIT_AGENT_SILENT:
            switchover_ready(s);
            b_agent_silent(s, 1500, "pg1");
            return;
        case UNFIT_NOT_RUNNING:
            healthy_level3(s);
            b_agent(s, 1500, "pg1", &f);
            return;
        case UNFIT_FAILOVER:
            switchover_ready(s);
            b_cut(s, 1500);
            return;
        case UNFIT_PAUSED:
            switchover_ready(s);
            b_pause(s, 1500, true);
            return;
        case UNFIT_NOT_UP:
            switchover_ready(s);
            o = b_unreachable(s, "pg3");
            b_report_by(s, 1500, 1, 3, &o);
            return;
        case UNFIT_MAINTENANCE:
            switchover_ready(s);
            b_maintenance(s, 1500, "pg3", true);
            return;
        case UNFIT_NOT_STANDBY:
            switchover_ready(s);
            add_pg4(s, 50, false, false);
            return;
        case UNFIT_PRIORITY_0:
            switchover_ready(s);
            add_pg4(s, 0, true, true);
            return;
        case UNFIT_NOT_FOLLOWING:
            switchover_ready(s);
            add_pg4(s, 50, true, false);
            return;
        case UNFIT_NONE_FIT:
            switchover_ready(s);
            b_maintenance(s, 1500, "pg2", true);
            b_maintenance(s, 1500, "pg3", true);
            return;
        default:
            switchover_ready(s);
            return;
    }
}

static void test_switchover_refused(void **ctx)
{
    /* A switchover is refused, before it is proposed and at apply alike, changing nothing, for
     * each reason a primary or a target is unfit, and says which. */
    static const struct
    {
        int how;
        const char *target;
        const char *why;
    } cases[] = {
        {UNFIT_NO_PRIMARY, "", "cluster main has no primary"},
        {UNFIT_NO_AGENT, "pg2",
         "the primary pg1 has no node agent up: a switchover needs it to stop the primary "
         "cleanly"},
        {UNFIT_AGENT_SILENT, "", "the primary pg1 has no node agent up"},
        {UNFIT_NOT_RUNNING, "pg2", "the primary pg1 is not running"},
        {UNFIT_FAILOVER, "pg2", "a failover is under way (cutting)"},
        {UNFIT_PAUSED, "", "cluster main is paused"},
        {UNFIT_UNKNOWN_TARGET, "pg9", "no node pg9 in cluster main"},
        {UNFIT_TARGET_PRIMARY, "pg1", "pg1 is the primary already"},
        {UNFIT_NOT_STANDBY, "pg4", "pg4 is not a standby"},
        {UNFIT_NOT_UP, "pg3", "pg3 is not up"},
        {UNFIT_PRIORITY_0, "pg4", "pg4 has priority 0"},
        {UNFIT_MAINTENANCE, "pg3", "pg3 is in maintenance"},
        {UNFIT_NOT_FOLLOWING, "pg4", "pg4 does not follow the primary of epoch 1"},
        {UNFIT_NONE_FIT, "", "no standby that follows the primary could replace it"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        struct command c = b_cmd_switchover(2000, cases[i].target, 0);
        char want[PGQ_REASON_MAX];
        state_init(&s);
        make_unfit(&s, cases[i].how);
        snprintf(want, sizeof want, "switchover refused: %s", cases[i].why);
        b_refused(&s, &c, PGQ_REFUSED, want);
        assert_int_equal(b_cluster(&s)->sw.phase, PGQ_SW_NONE);
        state_close(&s);
    }
}

static void test_switchover_cancel(void **ctx)
{
    /* A cancel with nothing scheduled is stale; one of a switchover scheduled, or begun (the
     * primary told to stop), clears it with an event naming who cancelled and, once begun,
     * that the primary is started again; the reason a failover was held is cleared too. */
    struct state *s = *ctx;
    struct command c;
    switchover_ready(s);
    c = b_cmd_switchover_cancel(2000, "bob");
    b_refused(s, &c, PGQ_STALE, "no switchover is scheduled in cluster main");

    b_switchover(s, 2100, "pg2", 90000);
    c = b_cmd_blocked(2150, "held: something");
    b_apply(s, &c);
    c = b_cmd_switchover_cancel(2200, "bob");
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_string_equal(b_cluster(s)->sw.target, "");
    assert_int_equal(b_cluster(s)->sw.at_ms, 0);
    assert_string_equal(b_cluster(s)->fo.blocked, "");
    assert_int_equal(last_event(s)->kind, PGQ_EV_SWITCHOVER);
    assert_string_equal(last_event(s)->message, "switchover of pg1 cancelled by bob");
    b_refused(s, &c, PGQ_STALE, "no switchover is scheduled");

    b_switchover(s, 3000, "pg2", 0);
    b_switchover_begin(s, 3100);
    c = b_cmd_switchover_cancel(3200, "");
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_int_equal(b_cluster(s)->sw.begun_ms, 0);
    assert_string_equal(last_event(s)->message,
                        "switchover of pg1 cancelled by an operator: the primary is started again");
}

static void test_switchover_begin(void **ctx)
{
    /* Only a scheduled switchover begins, and only while it is still fit: beginning one that is
     * not scheduled, begun already, or replaced by a failover is stale, and so is one whose
     * target became unfit; once begun it is STOPPING since the leader's time, with an event. */
    struct state *s = *ctx;
    struct command c = b_cmd_switchover_begin(2000);
    switchover_ready(s);
    b_refused(s, &c, PGQ_STALE, "switchover: nothing to begin (none)");

    b_switchover(s, 2000, "pg3", 5000);
    b_maintenance(s, 2500, "pg3", true);
    c.time_ms = 5000;
    b_refused(s, &c, PGQ_STALE, "switchover cannot begin: pg3 is in maintenance");
    b_maintenance(s, 2600, "pg3", false);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_STOPPING);
    assert_int_equal(b_cluster(s)->sw.begun_ms, 5000);
    assert_int_equal(b_cluster(s)->sw.requested_ms, 2000);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SWITCHOVER);
    assert_string_equal(last_event(s)->message,
                        "switchover begins: primary pg1 stops cleanly (writes stop now) for pg3");
    assert_true(switchover_stops(b_cluster(s), b_node(s, "pg1")));
    assert_false(switchover_stops(b_cluster(s), b_node(s, "pg2")));
    c.time_ms = 5100;
    b_refused(s, &c, PGQ_STALE, "switchover: nothing to begin (stopping the primary)");
}

static void test_switchover_replaced_by_failover(void **ctx)
{
    /* A failover decided while a switchover is scheduled (the primary failed first) clears the
     * switchover, with an event saying so; it can no longer begin. */
    struct state *s = *ctx;
    struct command c;
    const struct event *e;
    switchover_ready(s);
    b_switchover(s, 2000, "pg3", 60000);
    b_failover(s, 3000, "pg2");
    assert_int_equal(b_cluster(s)->epoch, 2);
    assert_string_equal(b_cluster(s)->primary, "pg2");
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_false(b_cluster(s)->fo.switchover);
    e = last_event_of(s, PGQ_EV_SWITCHOVER);
    assert_string_equal(e->message, "switchover of pg1 cancelled: a failover replaces it");
    assert_int_equal(e->epoch, 2);
    c = b_cmd_switchover_begin(60000);
    b_refused(s, &c, PGQ_STALE, "switchover: nothing to begin (none)");
}

/* switchover_ready, a switchover to target begun at 5000 and, once its agent said so, pg1
 * stopped cleanly at final (by verdict still up). */
static void switchover_stopped_at(struct state *s, const char *target, uint64_t final)
{
    struct agent_facts f = b_agent_stopped(final);
    switchover_ready(s);
    b_switchover(s, 2000, target, 0);
    b_switchover_begin(s, 5000);
    b_agent(s, 5500, "pg1", &f);
}

static void test_switchover_cut(void **ctx)
{
    /* The Cut of a switchover needs no verdict, only the agent's word that the primary stopped
     * cleanly (not running, handed over, where its WAL ends) while the switchover stops it: the
     * failover it becomes is marked a switchover and keeps that final position, and can no
     * longer be cancelled. Without that word, or with a switchover only scheduled, a cut of a
     * primary up by verdict is stale. */
    static const struct
    {
        int phase;     /* the switchover: scheduled or begun */
        bool pm_alive; /* what the agent says */
        bool handover;
        uint64_t final;
        bool accepted;
    } cases[] = {
        {PGQ_SW_STOPPING, false, true, 0x1000, true},
        {PGQ_SW_STOPPING, true, false, 0, false},       /* it still runs */
        {PGQ_SW_STOPPING, false, false, 0x1000, false}, /* not handed over */
        {PGQ_SW_STOPPING, false, true, 0, false},       /* no final position */
        {PGQ_SW_PENDING, false, true, 0x1000, false},   /* not begun */
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        struct agent_facts f = b_agent_stopped(cases[i].final);
        struct command c;
        state_init(&s);
        switchover_ready(&s);
        b_switchover(&s, 2000, "pg2", cases[i].phase == PGQ_SW_PENDING ? 90000 : 0);
        if (cases[i].phase == PGQ_SW_STOPPING) {
            b_switchover_begin(&s, 5000);
        }
        f.pm_alive = cases[i].pm_alive;
        f.pm_pid = f.pm_alive ? 4242 : 0;
        f.handover = cases[i].handover;
        b_agent(&s, 5500, "pg1", &f);
        assert_int_equal(b_node(&s, "pg1")->verdict, PGQ_VERDICT_UP);
        c = b_cmd_cut(6000, 1, "pg1");
        if (!cases[i].accepted) {
            b_refused(&s, &c, PGQ_STALE, "cut of epoch 1 is stale: primary pg1 is up by verdict");
            state_close(&s);
            continue;
        }
        b_apply(&s, &c);
        assert_int_equal(b_cluster(&s)->fo.phase, PGQ_FO_CUTTING);
        assert_true(b_cluster(&s)->fo.switchover);
        assert_int_equal(b_cluster(&s)->fo.final_lsn, 0x1000);
        assert_int_equal(b_cluster(&s)->fo.epoch, 2);
        assert_string_equal(b_cluster(&s)->fo.old_primary, "pg1");
        /* Still stopping: the primary gets no lease until it is decided or abandoned; nor
         * can the switchover be cancelled from here on. */
        assert_int_equal(b_cluster(&s)->sw.phase, PGQ_SW_STOPPING);
        c = b_cmd_switchover_cancel(6100, "bob");
        b_refused(&s, &c, PGQ_REFUSED,
                  "the switchover of pg1 can no longer be cancelled: it stopped cleanly and its "
                  "standbys are being cut off it");
        state_close(&s);
    }
}

static void test_switchover_decide(void **ctx)
{
    /* The decision of a switchover's cut promotes its target only (another candidate is
     * refused), over an old primary that is up by verdict; it clears the switchover without a
     * cancellation event, keeps the final position in the failover, and demotes the old
     * primary for a rejoin. */
    struct state *s = *ctx;
    struct command c;
    uint64_t events;
    switchover_stopped_at(s, "pg3", 0x1000);
    c = b_cmd_cut(6000, 1, "pg1");
    b_apply(s, &c);
    b_cut_standbys(s, 6100);
    c = b_cmd_decide(6200, "pg2", 2, "pg1");
    c.u.decide.round = b_cluster(s)->fo.round;
    c.u.decide.candidate_lsn = 0x1000;
    b_refused(s, &c, PGQ_REFUSED, "the switchover promotes pg3, not pg2");
    events = s->event_seq;
    pgq_strlcpy(c.node, "pg3", sizeof c.node);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
    assert_int_equal(b_cluster(s)->epoch, 2);
    assert_string_equal(b_cluster(s)->primary, "pg3");
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DECIDED);
    assert_true(b_cluster(s)->fo.switchover);
    assert_int_equal(b_cluster(s)->fo.final_lsn, 0x1000);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
    for (unsigned i = 0; i < b_n_events(s); i++) {
        const struct event *e = b_event(s, i);
        if (e->seq > events) {
            assert_int_not_equal(e->kind, PGQ_EV_SWITCHOVER);
        }
    }
}

static void test_switchover_abandoned(void **ctx)
{
    /* A switchover's cut abandoned (its target short, or the primary running again) goes back
     * to the failover before it and clears the switchover, with an event saying the primary is
     * started again: same epoch, same primary, no failover under way. */
    struct state *s = *ctx;
    struct command c;
    const struct event *e;
    switchover_stopped_at(s, "pg2", 0x1000);
    c = b_cmd_cut(6000, 1, "pg1");
    b_apply(s, &c);
    command_init(&c, CMD_ABANDON);
    c.time_ms = 6500;
    pgq_strlcpy(c.cluster, B_CLUSTER, sizeof c.cluster);
    c.u.abandon.round = b_cluster(s)->fo.round;
    pgq_strlcpy(c.u.abandon.reason, "pg2: short", sizeof c.u.abandon.reason);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_false(b_cluster(s)->fo.switchover);
    assert_int_equal(b_cluster(s)->fo.final_lsn, 0);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_int_equal(b_cluster(s)->epoch, 1);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    e = last_event_of(s, PGQ_EV_SWITCHOVER);
    assert_string_equal(e->message,
                        "switchover of pg1 abandoned: pg2: short; it is started again as the "
                        "primary");
    b_assert_contains(last_event(s)->message,
                      "failover of pg1 abandoned before a standby was "
                      "chosen: pg2: short");
}

/* ---- verdicts and reports --------------------------------------------------------- */

struct verdict_case
{
    unsigned voters;
    unsigned down; /* monitors 1..down report the node unreachable */
    unsigned up;   /* the next `up` monitors report it reachable */
    int verdict;
};

static void check_verdict_cases(const struct verdict_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct state s;
        struct obs down, up;
        state_init(&s);
        b_hello(&s, 1000, 1, cases[i].voters);
        b_add(&s, 1000, "pg1", 50);
        down = b_unreachable(&s, "pg1");
        up = b_writable(&s, "pg1", 100);
        if (cases[i].down > 0) {
            b_report_by(&s, 2000, 1, cases[i].down, &down);
        }
        if (cases[i].up > 0) {
            b_report_by(&s, 2000, cases[i].down + 1, cases[i].down + cases[i].up, &up);
        }
        if (b_node(&s, "pg1")->verdict != cases[i].verdict ||
            cluster_verdict(&s, b_node(&s, "pg1")) != cases[i].verdict) {
            fail_msg("%u voters, %u down, %u up: verdict %s, want %s", cases[i].voters,
                     cases[i].down, cases[i].up, pgq_verdict_name(b_node(&s, "pg1")->verdict),
                     pgq_verdict_name(cases[i].verdict));
        }
        state_close(&s);
    }
}

static void test_verdict_3_voters(void **ctx)
{
    /* With 3 voters a node is down only when 2 of them report it unreachable. */
    static const struct verdict_case cases[] = {
        {3, 0, 0, PGQ_VERDICT_UNKNOWN}, {3, 1, 0, PGQ_VERDICT_UNKNOWN}, {3, 0, 1, PGQ_VERDICT_UP},
        {3, 1, 2, PGQ_VERDICT_UP},      {3, 1, 1, PGQ_VERDICT_UP},      {3, 2, 0, PGQ_VERDICT_DOWN},
        {3, 2, 1, PGQ_VERDICT_DOWN},    {3, 3, 0, PGQ_VERDICT_DOWN},
    };
    (void)ctx;
    check_verdict_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_verdict_5_voters(void **ctx)
{
    /* With 5 voters a node is down only when 3 of them report it unreachable. */
    static const struct verdict_case cases[] = {
        {5, 1, 0, PGQ_VERDICT_UNKNOWN}, {5, 2, 0, PGQ_VERDICT_UNKNOWN}, {5, 2, 3, PGQ_VERDICT_UP},
        {5, 1, 4, PGQ_VERDICT_UP},      {5, 3, 0, PGQ_VERDICT_DOWN},    {5, 3, 2, PGQ_VERDICT_DOWN},
        {5, 4, 1, PGQ_VERDICT_DOWN},    {5, 5, 0, PGQ_VERDICT_DOWN},
    };
    (void)ctx;
    check_verdict_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_verdict_1_voter(void **ctx)
{
    /* A single voter is its own majority. */
    static const struct verdict_case cases[] = {
        {1, 1, 0, PGQ_VERDICT_DOWN},
        {1, 0, 1, PGQ_VERDICT_UP},
    };
    (void)ctx;
    check_verdict_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_verdict_since(void **ctx)
{
    /* The verdict's time and seq are those of the report that changed it, not of later ones. */
    struct state *s = *ctx;
    struct obs down;
    const struct node *n;
    uint64_t seq;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    n = b_node(s, "pg1");
    assert_int_equal(n->verdict, PGQ_VERDICT_UP);
    down = b_unreachable(s, "pg1");
    b_report(s, 5000, 1, &down);
    assert_int_equal(n->verdict, PGQ_VERDICT_UP);
    seq = s->seq;
    b_report(s, 6000, 2, &down);
    assert_int_equal(n->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(n->verdict_since_ms, 6000);
    assert_int_equal(n->verdict_seq, seq + 1);
    assert_int_equal(n->verdict_seq, s->seq);
    assert_int_equal(last_event(s)->kind, PGQ_EV_VERDICT);
    assert_string_equal(last_event(s)->message,
                        "node pg1 is down by verdict: connect: connection refused");
    b_report(s, 7000, 3, &down);
    assert_int_equal(n->verdict_since_ms, 6000);
    assert_int_equal(n->verdict_seq, seq + 1);
}

static void test_verdict_detection_time(void **ctx)
{
    /* A down verdict's event lasts from the earliest first failed probe among the voters that see
     * the node down (detection) to the verdict; without that stamp it lasts nothing. */
    struct state *s = *ctx;
    struct obs down;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    down = b_unreachable(s, "pg1");
    down.failing_since_ms = 4200;
    b_report(s, 5000, 1, &down);
    down.failing_since_ms = 3900;
    b_report(s, 6000, 2, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(last_event(s)->kind, PGQ_EV_VERDICT);
    assert_int_equal(last_event(s)->duration_ms, 6000 - 3900);

    down = b_unreachable(s, "pg2");
    b_report_by(s, 7000, 1, 3, &down);
    assert_int_equal(b_node(s, "pg2")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(last_event(s)->duration_ms, 0);

    /* pg1 comes back, then fails again: a down view whose first failure predates the return
     * (a monitor that kept an old failure) does not count; the outage is timed from its own
     * first failure. */
    {
        struct obs up = b_writable(s, "pg1", 0x2000);
        b_report_by(s, 8000, 1, 2, &up);
    }
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
    down = b_unreachable(s, "pg1");
    down.failing_since_ms = 3000; /* monitor 3: stale, before the node was up again */
    b_report(s, 8100, 3, &down);
    down.failing_since_ms = 9500;
    b_report(s, 10000, 1, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(last_event(s)->duration_ms, 10000 - 9500);

    /* A view that says for how long its monitor has seen the node failing (on its own
     * monotonic clock) is dated from the leader's stamp of that view, whatever the
     * monitor's wall clock says: no two machines' wall clocks are compared. */
    {
        struct obs up = b_writable(s, "pg1", 0x3000);
        b_report_by(s, 11000, 1, 3, &up);
    }
    down = b_unreachable(s, "pg1");
    down.failing_since_ms = 3600000; /* a monitor whose wall clock is an hour off */
    down.failing_ms = 700;
    b_report(s, 12000, 2, &down);
    down.failing_since_ms = 1;
    down.failing_ms = 400;
    b_report(s, 12500, 3, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(last_event(s)->duration_ms, 12500 - (12000 - 700));
}

static void test_sync_standbys_kept(void **ctx)
{
    /* The standbys a writable primary names synchronous are kept; one no longer named keeps the
     * primary's position at that first observation as its floor; named again, it is a member
     * again; a standby's or an unreachable observation changes nothing; with the table full, the
     * lowest floor gives way to a new name. */
    struct state *s = *ctx;
    struct node *p;
    struct obs w, o;
    char names[PGQ_SYNC_NAMES_MAX] = "";
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    p = b_node(s, "pg1");
    w = b_writable(s, "pg1", 0x1000);
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report(s, 2000, 1, &w);
    assert_int_equal(p->n_sync, 2);
    assert_string_equal(p->sync[0].name, "pg2");
    assert_string_equal(p->sync[1].name, "pg3");
    assert_int_equal(p->sync[0].left_lsn + p->sync[1].left_lsn, 0);
    w.current_lsn = 0x2000;
    pgq_strlcpy(w.sync_standbys, "pg2", sizeof w.sync_standbys);
    b_report(s, 3000, 2, &w);
    assert_int_equal(p->sync[1].left_lsn, 0x2000);
    w.current_lsn = 0x3000;
    b_report(s, 3100, 3, &w);
    assert_int_equal(p->sync[1].left_lsn, 0x2000); /* the first observation without it counts */
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report(s, 3150, 1, &w);
    w.current_lsn = 0x2800; /* probed before the report above, applied after it */
    pgq_strlcpy(w.sync_standbys, "pg2", sizeof w.sync_standbys);
    b_report(s, 3160, 2, &w);
    assert_int_equal(p->sync[1].left_lsn, 0x3000); /* the highest position known, not 0x2800 */
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    w.current_lsn = 0x3000;
    o = b_unreachable(s, "pg1");
    b_report(s, 3200, 1, &o);
    o = b_recovering(s, "pg2", 0x3000);
    pgq_strlcpy(o.sync_standbys, "pg9", sizeof o.sync_standbys);
    b_report(s, 3300, 1, &o);
    assert_int_equal(p->n_sync, 2);
    assert_int_equal(b_node(s, "pg2")->n_sync, 0);
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report(s, 3400, 1, &w);
    assert_int_equal(p->sync[1].left_lsn, 0);
    /* Eight new names: pg2 and pg3 leave (floors 0x4000), six fill the table, then two more
     * take the places of the lowest floors. */
    for (unsigned i = 0; i < PGQ_SYNC_MAX; i++) {
        char one[16];
        snprintf(one, sizeof one, "%sn%u", i ? "," : "", i);
        pgq_appendf(names, sizeof names, "%s", one);
    }
    w.current_lsn = 0x4000;
    pgq_strlcpy(w.sync_standbys, names, sizeof w.sync_standbys);
    b_report(s, 3500, 2, &w);
    assert_int_equal(p->n_sync, PGQ_SYNC_MAX);
    for (unsigned i = 0; i < p->n_sync; i++) {
        assert_int_equal(p->sync[i].left_lsn, 0);
        assert_int_equal(p->sync[i].name[0], 'n');
    }
}

static void test_view_obs_round_trip(void **ctx)
{
    /* A view holds every member of an observation: set then got back, it is the same bytes; set
     * again with other strings, and with the same, it follows; its empty strings are "". */
    struct obs a, b;
    struct view_obs v;
    (void)ctx;
    memset(&a, 0, sizeof a);
    pgq_strlcpy(a.node, "pg1", sizeof a.node);
    a.reachable = a.in_recovery = a.streaming = a.read_only = true;
    pgq_strlcpy(a.error, "boom", sizeof a.error);
    a.timeline = 2, a.current_lsn = 3, a.receive_lsn = 4, a.replay_lsn = 5;
    pgq_strlcpy(a.upstream, "10.0.0.1:5432", sizeof a.upstream);
    a.cache_hit_bp = 6, a.index_hit_bp = 7, a.connections = 8, a.probed_ms = 9, a.basis_seq = 10;
    a.server_version = 11, a.upstream_lsn = 12, a.failing_since_ms = 13, a.failing_ms = 14;
    pgq_strlcpy(a.sync_standbys, "pg2,pg3", sizeof a.sync_standbys);
    a.system_id = 15, a.addr_hash = 16, a.port = 17, a.data_dir_hash = 18;
    pgq_strlcpy(a.lost_slots, "pgq_pg4", sizeof a.lost_slots);
    a.slot_use = 19;
    pgq_strlcpy(a.sync_setting, "ANY 1 (pg2, pg3)", sizeof a.sync_setting);
    memset(a.replicas, 'r', sizeof a.replicas - 1); /* the longest a probe takes */
    a.overload_ms = 20;
    memset(&v, 0, sizeof v);
    view_obs_set(&v, &a);
    view_obs_get(&v, &b);
    assert_memory_equal(&a, &b, sizeof a);
    memset(a.error, 0, sizeof a.error);
    pgq_strlcpy(a.upstream, "10.0.0.2:5432", sizeof a.upstream);
    view_obs_set(&v, &a);
    view_obs_set(&v, &a);
    view_obs_get(&v, &b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_string_equal(v.error, "");
    assert_string_equal(v.upstream, "10.0.0.2:5432");
    view_obs_clear(&v);
    assert_null(v.replicas);
}

static void test_report_due(void **ctx)
{
    /* An observation is reported before the refresh exactly when a field that verdicts, roles or
     * fences depend on changed, a primary's WAL moved at least wal_step, or a standby's lag
     * crossed wal_step. */
    enum { STEP = 1000 };
    struct obs p, s1;
    (void)ctx;
    memset(&p, 0, sizeof p);
    p.reachable = true;
    p.timeline = 1;
    p.current_lsn = 50000;
    memset(&s1, 0, sizeof s1);
    s1.reachable = s1.in_recovery = s1.streaming = true;
    s1.timeline = 1;
    s1.receive_lsn = 50000;
    s1.upstream_lsn = 50000;
    pgq_strlcpy(s1.upstream, "10.0.0.1:5432", sizeof s1.upstream);
    {
        struct obs o = p;
        assert_false(obs_report_due(&p, &o, STEP)); /* same */
        o.current_lsn = 50000 + STEP - 1;
        o.cache_hit_bp = 1234;
        o.connections = 99;
        assert_false(obs_report_due(&p, &o, STEP)); /* small move, metrics */
        o.current_lsn = 50000 + STEP;
        assert_true(obs_report_due(&p, &o, STEP)); /* WAL moved a step */
        o.current_lsn = 10;
        assert_false(obs_report_due(&p, &o, STEP)); /* backwards is no step */
        o.current_lsn = UINT64_MAX;
        assert_true(obs_report_due(&p, &o, STEP)); /* no overflow */
        o = p;
        o.read_only = true;
        assert_true(obs_report_due(&p, &o, STEP));
        o = p;
        o.timeline = 2;
        assert_true(obs_report_due(&p, &o, STEP));
        o = p;
        o.reachable = false;
        assert_true(obs_report_due(&p, &o, STEP));
        o = p;
        o.in_recovery = true;
        assert_true(obs_report_due(&p, &o, STEP));
    }
    {
        struct obs o = s1;
        o.receive_lsn = o.upstream_lsn = 50000 + 10 * STEP; /* standby WAL alone waits */
        assert_false(obs_report_due(&s1, &o, STEP));
        o.upstream_lsn = o.receive_lsn + STEP; /* lag at the step: not beyond */
        assert_int_equal(obs_lag(&o), STEP);
        assert_false(obs_report_due(&s1, &o, STEP));
        o.upstream_lsn = o.receive_lsn + STEP + 1; /* lag crossed the step */
        assert_true(obs_report_due(&s1, &o, STEP));
        assert_false(obs_report_due(&o, &o, STEP));
        assert_true(obs_report_due(&o, &s1, STEP)); /* and back */
        o = s1;
        o.streaming = false;
        o.upstream_lsn = o.receive_lsn + 100 * STEP;
        assert_int_equal(obs_lag(&o), 0); /* not streaming: no lag measured */
        assert_true(obs_report_due(&s1, &o, STEP));
        o = s1;
        pgq_strlcpy(o.upstream, "10.0.0.2:5432", sizeof o.upstream);
        assert_true(obs_report_due(&s1, &o, STEP));
    }
    {
        /* What a node says of slots: a slot lost, how it uses its own. */
        struct obs o = p;
        pgq_strlcpy(o.lost_slots, "pgq_pg3", sizeof o.lost_slots);
        assert_true(obs_report_due(&p, &o, STEP));
        o = p;
        o.slot_use = PGQ_SLOT_USE_DENIED;
        assert_true(obs_report_due(&p, &o, STEP));
        assert_false(obs_report_due(&o, &o, STEP));
    }
    {
        /* A probe target keeps a digest of what it sent: the strings compared by one hash, each
         * ended, so that moving a name from one field to the next is a change. */
        struct obs a = p, b = p;
        struct obs_digest d;
        pgq_strlcpy(a.sync_standbys, "n2", sizeof a.sync_standbys);
        pgq_strlcpy(b.lost_slots, "n2", sizeof b.lost_slots);
        obs_digest_of(&a, &d);
        assert_false(obs_digest_due(&d, &a, STEP));
        assert_true(obs_digest_due(&d, &b, STEP));
        pgq_strlcpy(b.lost_slots, "", sizeof b.lost_slots);
        pgq_strlcpy(b.sync_setting, "n2", sizeof b.sync_setting);
        assert_true(obs_digest_due(&d, &b, STEP));
        b = a;
        pgq_strlcpy(b.replicas, "n3", sizeof b.replicas);
        assert_true(obs_digest_due(&d, &b, STEP));
        b = a;
        b.cache_hit_bp = 42; /* metrics alone wait for the refresh */
        b.error[0] = 'x';
        assert_false(obs_digest_due(&d, &b, STEP));
    }
}

static void test_report_non_voter_refused(void **ctx)
{
    /* Reports from a monitor that is not a voter are refused and change nothing. */
    struct state *s = *ctx;
    struct obs down;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    down = b_unreachable(s, "pg1");
    c = b_cmd_report(2000, 4, &down, 1);
    b_refused(s, &c, PGQ_REFUSED, "report from monitor 4, which is not a voter");
    command_close(&c);
    c = b_cmd_report(2000, 0, &down, 1);
    b_refused(s, &c, PGQ_REFUSED, "report from monitor 0, which is not a voter");
    command_close(&c);
}

static void test_former_voter_no_longer_counts(void **ctx)
{
    /* A monitor dropped from the voters can no longer report, and its old view no longer counts. */
    static const uint64_t new_voters[] = {1, 2, 4};
    struct state *s = *ctx;
    struct obs down, up;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    down = b_unreachable(s, "pg1");
    b_report_by(s, 2000, 2, 3, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    c = b_cmd_hello(3000, 1, new_voters, 3);
    b_apply(s, &c);
    assert_false(state_is_voter(s, 3));
    assert_non_null(state_member(s, 3)); /* still known, as a non-voter */
    c = b_cmd_report(3100, 3, &down, 1);
    b_refused(s, &c, PGQ_REFUSED, "not a voter");
    command_close(&c);
    up = b_writable(s, "pg1", 200);
    b_report(s, 3200, 1, &up);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
}

static void test_report_cluster_and_nodes(void **ctx)
{
    /* A report for an unknown cluster is refused; unknown nodes are skipped; an empty report
     * records the API address. */
    struct state *s = *ctx;
    struct obs o;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    o = b_writable(s, "pg1", 100);
    c = b_cmd_report(2000, 2, &o, 1);
    pgq_strlcpy(c.cluster, "nowhere", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "report for unknown cluster nowhere");
    command_close(&c);

    o = b_writable(s, "ghost", 100);
    c = b_cmd_report(2000, 2, &o, 1);
    b_apply(s, &c);
    command_close(&c);
    assert_null(cluster_node(b_cluster(s), "ghost"));

    c = b_cmd_report(2100, 3, NULL, 0);
    pgq_strlcpy(c.cluster, "", sizeof c.cluster);
    pgq_strlcpy(c.u.report.api_address, "10.9.9.3:7002", sizeof c.u.report.api_address);
    b_apply(s, &c);
    assert_string_equal(state_member(s, 3)->api_address, "10.9.9.3:7002");
}

static void test_view_recorded_per_monitor(void **ctx)
{
    /* Each voter's latest observation of a node is kept in its own view, with gen and time. */
    struct state *s = *ctx;
    struct obs o;
    const struct node *n;
    const struct view *v;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    o = b_writable(s, "pg1", 0x5000);
    b_report(s, 4000, 2, &o);
    n = b_node(s, "pg1");
    v = node_latest_view(n);
    assert_non_null(v);
    assert_int_equal(v->monitor_id, 2);
    assert_int_equal(v->applied_ms, 4000);
    assert_int_equal(v->gen, s->leader_gen);
    assert_int_equal(v->obs.current_lsn, 0x5000);
    for (unsigned i = 0; i < n->n_views; i++) {
        if (n->views[i].monitor_id == 1) {
            assert_int_equal(n->views[i].obs.current_lsn, 100);
        }
    }
}

static void test_view_slots_after_monitor_turnover(void **ctx)
{
    /* A new voter's reports are recorded even after departed monitors used every view slot. */
    struct state *s = *ctx;
    struct obs up, down;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    up = b_writable(s, "pg1", 100);
    b_report_by(s, 1100, 1, 3, &up);
    /* Monitors 4..9 replace each other as the third voter, each reporting. */
    for (uint64_t m = 4; m <= PGQ_MAX_MONITORS; m++) {
        uint64_t ids[3] = {1, 2, m};
        c = b_cmd_hello(1000 + m * 100, 1, ids, 3);
        b_apply(s, &c);
        b_report(s, 1000 + m * 100 + 1, m, &up);
    }
    /* Monitor 10 joins in place of 1 and 2 (voters 9, 10 and 2). */
    {
        uint64_t ids[3] = {2, 9, 10};
        c = b_cmd_hello(3000, 2, ids, 3);
        b_apply(s, &c);
    }
    down = b_unreachable(s, "pg1");
    b_report(s, 3100, 10, &down);
    b_report(s, 3200, 9, &down);
    {
        bool found = false;
        for (unsigned i = 0; i < b_node(s, "pg1")->n_views; i++) {
            found |= b_node(s, "pg1")->views[i].monitor_id == 10;
        }
        assert_true(found);
    }
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
}

/* ---- leader hello and time ---------------------------------------------------------- */

static void test_hello(void **ctx)
{
    /* A hello starts a new leader generation at the state's time and lists the voters. */
    struct state *s = *ctx;
    b_hello(s, 1000, 2, 3);
    assert_int_equal(s->leader_gen, 1);
    assert_int_equal(s->leader_id, 2);
    assert_int_equal(s->gen_since_ms, 1000);
    assert_int_equal(state_n_voters(s), 3);
    assert_int_equal(state_majority(s), 2);
    assert_string_equal(state_member(s, 3)->raft_address, "10.0.0.3:7001");
    assert_string_equal(state_member(s, 2)->api_address, "10.0.0.2:7002");
    assert_int_equal(last_event(s)->kind, PGQ_EV_LEADER);
    assert_string_equal(last_event(s)->message, "monitor 2 leads (generation 1, 3 voters)");
    b_hello(s, 500, 1, 5); /* a leader whose clock is behind */
    assert_int_equal(s->leader_gen, 2);
    assert_int_equal(s->gen_since_ms, 1000);
    assert_int_equal(state_n_voters(s), 5);
    assert_int_equal(state_majority(s), 3);
}

static void test_hello_refused(void **ctx)
{
    /* A hello without a valid voter list including its leader is refused. */
    static const uint64_t ok[] = {1, 2, 3};
    static const uint64_t zero[] = {1, 0, 3};
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    c = b_cmd_hello(2000, 0, ok, 3);
    b_refused(s, &c, PGQ_INVALID, "leader hello: bad monitor id or voter list");
    c = b_cmd_hello(2000, 1, ok, 0);
    b_refused(s, &c, PGQ_INVALID, "leader hello: bad monitor id or voter list");
    c = b_cmd_hello(2000, 4, ok, 3);
    b_refused(s, &c, PGQ_INVALID, "leader hello: monitor 4 is not a voter");
    c = b_cmd_hello(2000, 1, zero, 3);
    b_refused(s, &c, PGQ_INVALID, "leader hello: voter id 0");
    c = b_cmd_hello(2000, 1, ok, 3);
    c.u.hello.n_voters = PGQ_MAX_MONITORS + 1;
    b_refused(s, &c, PGQ_INVALID, "bad monitor id or voter list");
}

static void test_hello_replaces_all_voters(void **ctx)
{
    /* When the member table is full, non-voters make room for new voters. */
    static const uint64_t first[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const uint64_t second[] = {10, 11, 12, 13, 14, 15, 16, 17, 18};
    struct state *s = *ctx;
    struct command c = b_cmd_hello(1000, 1, first, 9);
    b_apply(s, &c);
    c = b_cmd_hello(2000, 10, second, 9);
    b_apply(s, &c);
    assert_int_equal(s->n_monitors, PGQ_MAX_MONITORS);
    assert_int_equal(state_n_voters(s), 9);
    for (uint64_t id = 10; id <= 18; id++) {
        assert_true(state_is_voter(s, id));
    }
    assert_null(state_member(s, 1));
}

static void test_time_never_goes_back(void **ctx)
{
    /* The state's time is the latest stamp applied; older stamps and refused commands do not move
     * it. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 5000, 1, 3);
    assert_int_equal(s->time_ms, 5000);
    b_add(s, 3000, "pg1", 50);
    assert_int_equal(s->time_ms, 5000);
    assert_int_equal(last_event(s)->time_ms, 5000);
    assert_int_equal(b_node(s, "pg1")->added_ms, 3000);
    c = b_cmd_node_remove(9000, "pg9");
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg9");
    assert_int_equal(s->time_ms, 5000);
    b_add(s, 6000, "pg2", 50);
    assert_int_equal(s->time_ms, 6000);
}

static void test_events_ring(void **ctx)
{
    /* Below level 6 the history keeps the last PGQ_MAX_EVENTS events of all, oldest first, and
     * survives a snapshot (test_lifecycle.c: from level 6, per cluster). */
    struct state *s = *ctx;
    struct state copy;
    uint64_t total;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    for (unsigned i = 0; i < PGQ_MAX_EVENTS + 123; i++) {
        b_maintenance(s, 2000 + i, "pg2", i % 2 == 0);
    }
    total = s->event_seq;
    assert_true(total > PGQ_MAX_EVENTS);
    assert_int_equal(b_n_events(s), PGQ_MAX_EVENTS);
    assert_int_equal(b_event(s, 0)->seq, total - PGQ_MAX_EVENTS + 1);
    assert_int_equal(b_event(s, PGQ_MAX_EVENTS - 1)->seq, total);
    assert_null(b_event(s, PGQ_MAX_EVENTS));
    for (unsigned i = 1; i < PGQ_MAX_EVENTS; i++) {
        assert_int_equal(b_event(s, i)->seq, b_event(s, i - 1)->seq + 1);
        assert_true(b_event(s, i)->time_ms >= b_event(s, i - 1)->time_ms);
    }
    /* A restored state (ring rewound) goes on exactly like the original. */
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    b_maintenance(s, 9000, "pg3", true);
    b_maintenance(&copy, 9000, "pg3", true);
    b_assert_same(s, &copy);
    assert_string_equal(b_event(&copy, PGQ_MAX_EVENTS - 1)->message, "maintenance on for node pg3");
    state_close(&copy);
}

/* ---- roles, decisions, steps ----------------------------------------------------------- */

static void test_discovery(void **ctx)
{
    /* The first primary is set at epoch 0 and becomes epoch 1; later SetRole primary is refused. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    b_add(s, 1000, "pg3", 50);
    c = b_cmd_set_role(2000, "pg1", PGQ_ROLE_PRIMARY, 1);
    b_refused(s, &c, PGQ_STALE, "role change for epoch 1, cluster is at 0");
    c = b_cmd_set_role(2000, "pg9", PGQ_ROLE_PRIMARY, 0);
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg9 in cluster main");

    b_set_role(s, 2000, "pg1", PGQ_ROLE_PRIMARY);
    assert_int_equal(b_cluster(s)->epoch, 1);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_PRIMARY);
    assert_int_equal(b_node(s, "pg1")->following_epoch, 1);
    assert_string_equal(last_event(s)->message, "node pg1 is the primary (discovered, epoch 1)");

    c = b_cmd_set_role(2100, "pg2", PGQ_ROLE_PRIMARY, 1);
    b_refused(s, &c, PGQ_REFUSED, "node pg2 cannot be made primary outside a failover");
    c = b_cmd_set_role(2100, "pg2", PGQ_ROLE_PRIMARY, 0);
    b_refused(s, &c, PGQ_STALE, "role change for epoch 0, cluster is at 1");

    b_set_role(s, 2200, "pg2", PGQ_ROLE_STANDBY);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_STANDBY);
    assert_string_equal(last_event(s)->message, "node pg2 is a standby");
    c = b_cmd_set_role(2300, "pg2", PGQ_ROLE_STANDBY, 1);
    b_refused(s, &c, PGQ_REFUSED, "node pg2 is standby, not unknown or demoted");
    c = b_cmd_set_role(2300, "pg1", PGQ_ROLE_STANDBY, 1);
    b_refused(s, &c, PGQ_REFUSED, "node pg1 is primary, not unknown or demoted");
    c = b_cmd_set_role(2300, "pg3", PGQ_ROLE_DEMOTED, 1);
    b_refused(s, &c, PGQ_INVALID, "role 3 cannot be set");
    c = b_cmd_set_role(2300, "pg3", PGQ_ROLE_UNKNOWN, 1);
    b_refused(s, &c, PGQ_INVALID, "role 0 cannot be set");
}

static void test_failover_under_way(void **ctx)
{
    /* A failover is under way from the first monitor that sees the primary down, through
     * its cut, and not once the primary is seen up again; nothing is of no cluster. */
    struct state *s = *ctx;
    struct obs o;
    struct command cmd;
    assert_false(cluster_failover_under_way(NULL));
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    assert_false(cluster_failover_under_way(b_cluster(s)));
    o = b_unreachable(s, "pg1");
    b_report_by(s, 2000, 2, 2, &o); /* one monitor: no verdict yet */
    assert_int_not_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_true(cluster_failover_under_way(b_cluster(s)));
    o = b_writable(s, "pg1", 200);
    b_report_by(s, 2100, 2, 2, &o);
    assert_false(cluster_failover_under_way(b_cluster(s)));
    b_primary_down(s, 3000);
    assert_true(cluster_failover_under_way(b_cluster(s)));
    cmd = b_cmd_cut(3100, 1, "pg1");
    b_apply(s, &cmd);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_CUTTING);
    assert_true(cluster_failover_under_way(b_cluster(s)));
}

static void test_cut(void **ctx)
{
    /* A failover begins with the cut of the primary: only for the current epoch and primary,
     * while it is down by verdict, once; each standby then reports its position after the cut,
     * for this round only. The decision picks a standby cut in this round; a standby cut ahead
     * of it needs a rejoin, and so does the old primary. */
    struct state *s = *ctx;
    const struct cluster *c;
    struct command cmd;
    uint64_t round;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    cmd = b_cmd_cut(2000, 1, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "cut of epoch 1 is stale: primary pg1 is up by verdict");
    b_primary_down(s, 3000);
    cmd = b_cmd_cut(3100, 2, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "cut of epoch 2 replacing pg1 is stale (epoch 1, primary pg1)");
    cmd = b_cmd_cut(3100, 1, "pg2");
    b_refused(s, &cmd, PGQ_STALE, "cut of epoch 1 replacing pg2 is stale");
    cmd = b_cmd_cut(3100, 1, "pg1");
    b_apply(s, &cmd);
    c = b_cluster(s);
    round = s->seq;
    assert_int_equal(c->fo.phase, PGQ_FO_CUTTING);
    assert_int_equal(c->fo.round, round);
    assert_int_equal(c->fo.chain_round, round);
    assert_int_equal(c->fo.epoch, 2);
    assert_int_equal(c->epoch, 1); /* no new epoch before a candidate is chosen */
    assert_string_equal(c->primary, "pg1");
    assert_string_equal(c->fo.floor_primary, "pg1");
    assert_int_equal(c->fo.cut_ms, 3100);
    assert_int_equal(last_event(s)->kind, PGQ_EV_CUT);
    b_assert_contains(last_event(s)->message, "failover of pg1 (epoch 2): cutting its standbys");
    cmd = b_cmd_cut(3200, 1, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "cut of epoch 1: the failover is cutting");

    cmd = b_cmd_cut_step(3300, "pg2", 1, round + 7, 0x900, 1);
    b_refused(s, &cmd, PGQ_STALE, "cut of pg2 does not match the failover in progress");
    cmd = b_cmd_cut_step(3300, "pg1", 1, round, 0x900, 1);
    b_refused(s, &cmd, PGQ_STALE, "cut of pg1 does not match the failover in progress");
    b_cut_step(s, 3300, "pg2", 0x900);
    assert_int_equal(b_node(s, "pg2")->cut_round, round);
    assert_int_equal(b_node(s, "pg2")->cut_lsn, 0x900);
    assert_int_equal(b_node(s, "pg2")->cut_tli, 1);
    assert_int_equal(b_node(s, "pg2")->following_epoch, 0);
    b_assert_contains(last_event(s)->message, "standby pg2 stopped following pg1, at 0/900");

    cmd = b_cmd_decide(3400, "pg3", 2, "pg1");
    cmd.u.decide.round = round;
    b_refused(s, &cmd, PGQ_REFUSED, "node pg3 was not cut off pg1 in this failover");
    b_cut_step(s, 3400, "pg3", 0xA00);
    cmd = b_cmd_decide(3500, "pg2", 2, "pg1");
    cmd.u.decide.round = round + 1;
    b_refused(s, &cmd, PGQ_STALE, "decision of round");
    cmd.u.decide.round = round;
    cmd.u.decide.candidate_lsn = 0x900;
    b_apply(s, &cmd);
    assert_int_equal(c->epoch, 2);
    assert_string_equal(c->primary, "pg2");
    assert_int_equal(c->fo.phase, PGQ_FO_DECIDED);
    assert_int_equal(c->fo.round, round); /* kept through the decision */
    assert_string_equal(c->fo.floor_primary, "pg1");
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
    assert_string_equal(b_node(s, "pg1")->rejoin, "former primary of epoch 1");
    assert_int_equal(b_node(s, "pg3")->role, PGQ_ROLE_DEMOTED);
    b_assert_contains(b_node(s, "pg3")->rejoin,
                      "it holds WAL up to 0/A00, beyond the new primary pg2's 0/900");
    assert_int_equal(last_event(s)->kind, PGQ_EV_REJOIN);

    /* The promotion records where the new timeline forked off. */
    cmd = b_cmd_step(3600, PGQ_STEP_PROMOTED, "pg2", 2, 2);
    cmd.u.step.parent_tli = 1;
    cmd.u.step.lsn = 0x900;
    b_apply(s, &cmd);
    assert_int_equal(c->timeline, 2);
    assert_int_equal(c->parent_tli, 1);
    assert_int_equal(c->fork_lsn, 0x900);
}

static void test_cut_abandoned(void **ctx)
{
    /* The primary back up by verdict while its standbys are being cut: the failover is abandoned,
     * in the same epoch, back to what it was before the cut, and the standbys cut are repointed
     * at it. */
    struct state *s = *ctx;
    struct action a[8];
    struct obs up;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_cut(s, 3000);
    b_cut_standbys(s, 3100);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0); /* primary down: nothing */
    up = b_writable(s, "pg1", 100);
    b_report_by(s, 4000, 1, 2, &up);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_int_equal(b_cluster(s)->epoch, 1);
    b_assert_contains(last_event(s)->message,
                      "failover of pg1 abandoned before a standby was chosen: it is up again; the "
                      "standbys cut off it follow it again");
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 2);
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_string_equal(a[0].primary, "pg1");
    assert_int_equal(a[1].kind, ACT_REPOINT);
    /* A later failure starts a new round. */
    b_cut(s, 5000);
    assert_int_equal(b_cluster(s)->fo.round, s->seq);
    assert_int_equal(b_node(s, "pg2")->cut_round == b_cluster(s)->fo.round, false);
}

static void test_gave_up(void **ctx)
{
    /* A candidate that could not be promoted is given up: a new cut follows at once, whatever
     * its verdict, and the next decision makes it a standby again (it never acknowledged a
     * write: no rejoin), with the floor and the reference of the primary before it. */
    struct state *s = *ctx;
    const struct cluster *c = NULL;
    struct command cmd;
    b_healthy(s, 1000, 3, "pg1", 0x100, two_standbys, 2);
    b_failover(s, 3000, "pg2");
    c = b_cluster(s);
    cmd = b_cmd_step(3100, PGQ_STEP_GAVE_UP, "pg3", 2, 0);
    b_refused(s, &cmd, PGQ_STALE, "giving up pg3 does not match the decision");
    cmd = b_cmd_step(3100, PGQ_STEP_GAVE_UP, "pg2", 2, 0);
    pgq_strlcpy(cmd.u.step.detail, "permission denied", sizeof cmd.u.step.detail);
    b_apply(s, &cmd);
    assert_int_equal(c->fo.phase, PGQ_FO_GAVE_UP);
    b_assert_contains(last_event(s)->message, "promotion of pg2 given up: permission denied");
    assert_int_equal(b_node(s, "pg2")->verdict, PGQ_VERDICT_UP);
    b_cut(s, 3200);
    assert_true(c->fo.unpromoted);
    assert_string_equal(c->fo.floor_primary, "pg1");
    b_cut_standbys(s, 3300);
    cmd = b_cmd_decide(3400, "pg3", 3, "pg2");
    cmd.u.decide.round = c->fo.round;
    b_apply(s, &cmd);
    assert_int_equal(c->epoch, 3);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_STANDBY);
    assert_string_equal(b_node(s, "pg2")->rejoin, "");
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
}

static void test_diverged_and_stuck(void **ctx)
{
    /* A standby that cannot follow the new primary needs a rejoin; one that does not follow in
     * time is flagged once (stuck), which lets the failover complete without it. */
    struct state *s = *ctx;
    struct command cmd;
    unsigned events;
    b_healthy(s, 1000, 3, "pg1", 0x100, two_standbys, 2);
    b_failover(s, 3000, "pg2");
    b_step(s, 3100, PGQ_STEP_PROMOTED, "pg2", 2);
    cmd = b_cmd_step(3200, PGQ_STEP_STUCK, "pg3", 2, 0);
    pgq_strlcpy(cmd.u.step.detail, "not streaming after 30000 ms", sizeof cmd.u.step.detail);
    b_apply(s, &cmd);
    assert_int_equal(b_node(s, "pg3")->stuck_epoch, 2);
    events = b_n_events(s);
    b_apply(s, &cmd); /* once */
    assert_int_equal(b_n_events(s), events);
    cmd = b_cmd_step(3300, PGQ_STEP_DIVERGED, "pg3", 2, 1);
    pgq_strlcpy(cmd.u.step.detail, "it replayed timeline 1 past the fork",
                sizeof cmd.u.step.detail);
    b_apply(s, &cmd);
    assert_int_equal(b_node(s, "pg3")->role, PGQ_ROLE_DEMOTED);
    assert_string_equal(b_node(s, "pg3")->rejoin, "it replayed timeline 1 past the fork");
    assert_string_equal(last_event(s)->message,
                        "node pg3 needs a rejoin: it replayed timeline 1 past the fork");
    b_refused(s, &cmd, PGQ_STALE, "node pg3 is not a standby");
}

static void test_cut_report_once_and_floor_kept(void **ctx)
{
    /* A standby's first report of a round is the one kept (a second one, from a job run twice or
     * a new leader, knows less); while no primary was promoted since, the last writable primary
     * cannot be removed (its synchronous standbys are the floor); rediscovery forgets the old
     * primary's history. */
    struct state *s = *ctx;
    struct command cmd;
    b_healthy(s, 1000, 3, "pg1", 0x100, two_standbys, 2);
    b_cut(s, 3000);
    cmd = b_cmd_cut_step(3100, "pg2", 1, b_cluster(s)->fo.round, 0x900, 1);
    cmd.u.step.upstream_lsn = 0x950;
    b_apply(s, &cmd);
    cmd = b_cmd_cut_step(3200, "pg2", 1, b_cluster(s)->fo.round, 0x900, 1);
    b_apply(s, &cmd);
    assert_int_equal(b_node(s, "pg2")->cut_upstream_lsn, 0x950);
    b_cut_step(s, 3400, "pg3", 0x900);
    cmd = b_cmd_decide(3500, "pg2", 2, "pg1");
    cmd.u.decide.round = b_cluster(s)->fo.round;
    cmd.u.decide.candidate_lsn = 0x900;
    b_apply(s, &cmd);
    cmd = b_cmd_node_remove(3550, "pg1");
    b_refused(s, &cmd, PGQ_REFUSED, "node pg1 was the last writable primary");

    /* A promotion: its history is kept, and the old primary may go. */
    b_step(s, 3600, PGQ_STEP_PROMOTED, "pg2", 2);
    assert_int_equal(b_cluster(s)->timeline, 2);
    b_remove(s, 3700, "pg1");
    b_remove(s, 3800, "pg3");
    b_remove(s, 3900, "pg2");
    assert_int_equal(b_cluster(s)->timeline, 0);
}

static void emit_line(void *arg, const char *line)
{
    unsigned *n = arg;
    (void)line;
    (*n)++;
}

static void test_fo_table(void **ctx)
{
    /* The failover state machine prints as a table: a header, a rule and one row per phase. */
    unsigned n = 0;
    (void)ctx;
    cluster_print_fo_table(emit_line, &n);
    assert_int_equal(n, 2 + PGQ__N_FO_PHASES);
}

static void test_decide(void **ctx)
{
    /* A decision takes epoch+1: the old primary is demoted and the candidate becomes primary,
     * forgetting the synchronous standbys it named as a primary of an earlier epoch. */
    struct state *s = *ctx;
    const struct cluster *c;
    struct command cmd;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    pgq_strlcpy(b_node(s, "pg2")->sync[0].name, "pg3", sizeof b_node(s, "pg2")->sync[0].name);
    b_node(s, "pg2")->n_sync = 1;
    cmd = b_cmd_blocked(1500, "no eligible standby");
    b_apply(s, &cmd);
    b_primary_down(s, 3000);
    cmd = b_cmd_decide(5000, "pg2", 2, "pg1");
    cmd.u.decide.down_ms = 3000;
    cmd.u.decide.candidate_lsn = 0x9000;
    b_apply(s, &cmd);
    c = b_cluster(s);
    assert_int_equal(c->epoch, 2);
    assert_string_equal(c->primary, "pg2");
    assert_int_equal(b_node(s, "pg2")->n_sync, 0);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_PRIMARY);
    assert_int_equal(b_node(s, "pg2")->following_epoch, 2);
    assert_int_equal(b_node(s, "pg3")->role, PGQ_ROLE_STANDBY);
    assert_int_equal(c->fo.phase, PGQ_FO_DECIDED);
    assert_int_equal(c->fo.epoch, 2);
    assert_string_equal(c->fo.old_primary, "pg1");
    assert_string_equal(c->fo.candidate, "pg2");
    assert_int_equal(c->fo.down_ms, 3000);
    assert_int_equal(c->fo.decided_ms, 5000);
    assert_int_equal(c->fo.candidate_lsn, 0x9000);
    assert_string_equal(c->fo.blocked, "");
    assert_int_equal(last_event(s)->kind, PGQ_EV_DECISION);
    assert_int_equal(last_event(s)->duration_ms, 2000);
    assert_int_equal(last_event(s)->epoch, 2);
    assert_string_equal(last_event(s)->message,
                        "failover: promote pg2 in place of pg1 (epoch 2): test decision");

    /* The same decision again is stale: one primary per epoch. */
    cmd = b_cmd_decide(5100, "pg3", 2, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "decision for epoch 2 replacing pg1 is stale (epoch 2");
}

static void test_decide_needs_current_verdicts(void **ctx)
{
    /* A decision proposed while the primary was down is refused if, by the time it applies, the
     * primary is back up or the candidate went down: reports may land in between. */
    struct state *s = *ctx;
    struct command cmd;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    cmd = b_cmd_decide(5000, "pg2", 2, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "primary pg1 is up, pg2 is up by verdict");
    b_primary_down(s, 6000);
    o = b_unreachable(s, "pg2");
    b_report_by(s, 6100, 1, 3, &o);
    cmd = b_cmd_decide(7000, "pg2", 2, "pg1");
    b_refused(s, &cmd, PGQ_STALE, "primary pg1 is down, pg2 is down by verdict");
    o = b_recovering(s, "pg2", 100);
    b_report_by(s, 7100, 1, 3, &o);
    cmd = b_cmd_decide(8000, "pg2", 2, "pg1");
    b_apply(s, &cmd);
    assert_int_equal(b_cluster(s)->epoch, 2);
}

static void test_decide_demotes_standbys_ahead(void **ctx)
{
    /* A standby that received WAL beyond the chosen candidate (it could not be chosen: in
     * maintenance) cannot follow the new primary: the decision marks it for a rejoin, with an
     * alert, so that the failover is not left waiting for it. */
    struct state *s = *ctx;
    struct command cmd;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_maintenance(s, 1100, "pg3", true);
    b_primary_down(s, 2000);
    o = b_recovering(s, "pg2", 0x1800);
    b_report_by(s, 2100, 1, 3, &o);
    o = b_recovering(s, "pg3", 0x2000);
    b_report_by(s, 2100, 1, 3, &o);
    cmd = b_cmd_decide(3000, "pg2", 2, "pg1");
    cmd.u.decide.candidate_lsn = 0x1800;
    b_apply(s, &cmd);
    assert_int_equal(b_node(s, "pg3")->role, PGQ_ROLE_DEMOTED);
    assert_int_equal(last_event(s)->kind, PGQ_EV_ALERT);
    b_assert_contains(last_event(s)->message,
                      "standby pg3 received WAL up to 0/2000, beyond "
                      "the new primary's 0/1800");
}

static void test_decide_refused(void **ctx)
{
    /* Decisions for a wrong epoch or primary are stale; unfit candidates are refused. */
    static const struct
    {
        const char *candidate;
        uint64_t epoch;
        const char *old_primary;
        int code;
        const char *message;
    } cases[] = {
        {"pg2", 1, "pg1", PGQ_STALE,
         "decision for epoch 1 replacing pg1 is stale (epoch 1, "
         "primary pg1)"},
        {"pg2", 3, "pg1", PGQ_STALE, "decision for epoch 3 replacing pg1 is stale"},
        {"pg2", 0, "pg1", PGQ_STALE, "is stale"},
        {"pg2", 2, "pg3", PGQ_STALE, "decision for epoch 2 replacing pg3 is stale"},
        {"pg2", 2, "", PGQ_STALE, "is stale"},
        {"pg9", 2, "pg1", PGQ_NOTFOUND, "no node pg9 in cluster main"},
        {"pg1", 2, "pg1", PGQ_REFUSED, "node pg1 cannot be promoted"},
        {"pg3", 2, "pg1", PGQ_REFUSED, "node pg3 cannot be promoted"}, /* in maintenance */
        {"pg4", 2, "pg1", PGQ_REFUSED, "node pg4 cannot be promoted"}, /* priority 0 */
        {"pg5", 2, "pg1", PGQ_REFUSED, "node pg5 cannot be promoted"}, /* role unknown */
    };
    struct state *s = *ctx;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_maintenance(s, 1000, "pg3", true);
    b_add(s, 1000, "pg4", 0);
    o = b_recovering(s, "pg4", 100);
    b_report(s, 1000, 1, &o);
    b_set_role(s, 1000, "pg4", PGQ_ROLE_STANDBY);
    b_add(s, 1000, "pg5", 50);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct command c =
            b_cmd_decide(5000, cases[i].candidate, cases[i].epoch, cases[i].old_primary);
        b_refused(s, &c, cases[i].code, cases[i].message);
    }
}

static void test_decide_needs_a_primary(void **ctx)
{
    /* Without a known primary (epoch 0) no decision is accepted. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    b_set_role(s, 1000, "pg2", PGQ_ROLE_STANDBY);
    c = b_cmd_decide(2000, "pg2", 1, "");
    b_refused(s, &c, PGQ_STALE, "is stale");
}

static void test_steps(void **ctx)
{
    /* Steps follow the decision: PROMOTED by the candidate, REPOINTED by standbys, then DONE. */
    struct state *s = *ctx;
    const struct cluster *c;
    struct command cmd;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_decide(s, 5000, "pg2");
    c = b_cluster(s);

    b_step(s, 6000, PGQ_STEP_PROMOTED, "pg2", 2);
    assert_int_equal(c->fo.phase, PGQ_FO_PROMOTED);
    assert_int_equal(c->fo.promoted_ms, 6000);
    assert_int_equal(c->fo.timeline, 2);
    assert_int_equal(last_event(s)->kind, PGQ_EV_PROMOTED);
    assert_int_equal(last_event(s)->duration_ms, 1000);

    assert_int_equal(b_node(s, "pg3")->following_epoch, 1);
    b_step(s, 6500, PGQ_STEP_REPOINTED, "pg3", 0);
    assert_int_equal(b_node(s, "pg3")->following_epoch, 2);
    assert_string_equal(last_event(s)->message, "standby pg3 follows pg2");
    assert_int_equal(last_event(s)->duration_ms, 500);

    b_step(s, 7000, PGQ_STEP_DONE, NULL, 0);
    assert_int_equal(c->fo.phase, PGQ_FO_DONE);
    assert_int_equal(c->fo.done_ms, 7000);
    assert_int_equal(last_event(s)->kind, PGQ_EV_FAILOVER_DONE);
    assert_string_equal(last_event(s)->message,
                        "failover to pg2 done: down-to-decision 0 ms, promotion 1.0 s, "
                        "repointing 1.0 s");

    cmd = b_cmd_step(7100, PGQ_STEP_DONE, NULL, 2, 0);
    b_refused(s, &cmd, PGQ_STALE, "failover of epoch 2 is not promoted");
}

static void test_steps_refused(void **ctx)
{
    /* Steps that do not match the epoch or the phase are refused and change nothing. */
    static const struct
    {
        int kind;
        const char *node;
        uint64_t epoch;
        int code;
        const char *message;
    } cases[] = {
        {PGQ_STEP_PROMOTED, "pg2", 1, PGQ_STALE, "promoted step for epoch 1, cluster is at 2"},
        {PGQ_STEP_PROMOTED, "pg2", 3, PGQ_STALE, "promoted step for epoch 3, cluster is at 2"},
        {PGQ_STEP_PROMOTED, "pg3", 2, PGQ_STALE, "promotion of pg3 does not match the decision"},
        {PGQ_STEP_PROMOTED, "", 2, PGQ_STALE, "does not match the decision"},
        {PGQ_STEP_DONE, "", 2, PGQ_STALE, "failover of epoch 2 is not promoted"},
        {PGQ_STEP_DONE, "", 1, PGQ_STALE, "done step for epoch 1, cluster is at 2"},
        {PGQ_STEP_REPOINTED, "pg1", 2, PGQ_STALE, "node pg1 is not a standby"},
        {PGQ_STEP_REPOINTED, "pg2", 2, PGQ_STALE, "node pg2 is not a standby"},
        {PGQ_STEP_REPOINTED, "pg9", 2, PGQ_STALE, "node pg9 is not a standby"},
        {PGQ_STEP_REPOINTED, "pg3", 1, PGQ_STALE, "repointed step for epoch 1, cluster is at 2"},
        {PGQ_STEP_FENCED, "pg2", 2, PGQ_REFUSED, "node pg2 cannot be fenced"},
        {PGQ_STEP_FENCED, "pg9", 2, PGQ_REFUSED, "node pg9 cannot be fenced"},
        {PGQ_STEP_FENCED, "pg1", 1, PGQ_STALE, "fenced step for epoch 1, cluster is at 2"},
        {99, "pg3", 2, PGQ_INVALID, "unknown step 99"},
    };
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_decide(s, 5000, "pg2");
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        c = b_cmd_step(6000, cases[i].kind, cases[i].node, cases[i].epoch, 2);
        b_refused(s, &c, cases[i].code, cases[i].message);
    }
    c = b_cmd_step(6000, PGQ_STEP_PROMOTED, "pg2", 2, 2);
    pgq_strlcpy(c.cluster, "nowhere", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nowhere");
    /* After the promotion, a second PROMOTED is stale. */
    b_step(s, 6000, PGQ_STEP_PROMOTED, "pg2", 2);
    c = b_cmd_step(6100, PGQ_STEP_PROMOTED, "pg2", 2, 2);
    b_refused(s, &c, PGQ_STALE, "promotion of pg2 does not match the decision");
}

static void test_rejoin_as_standby(void **ctx)
{
    /* A demoted former primary can become a standby again, never primary. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_decide(s, 5000, "pg2");
    c = b_cmd_set_role(6000, "pg1", PGQ_ROLE_PRIMARY, 2);
    b_refused(s, &c, PGQ_REFUSED, "cannot be made primary outside a failover");
    b_set_role(s, 6000, "pg1", PGQ_ROLE_STANDBY);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_STANDBY);
    assert_string_equal(last_event(s)->message, "node pg1 is a standby again (rejoined)");
}

/* An observation of node by a server of the given identity: the address the connection
 * reached (one per host here) and its data directory's (0: hidden). */
static struct obs identified(const struct state *s,
                             const char *node,
                             bool writable,
                             uint64_t addr_hash,
                             uint64_t data_dir_hash)
{
    struct obs o = writable ? b_writable(s, node, 0x1000) : b_recovering(s, node, 0x1000);
    o.system_id = 7317000000000000001ULL;
    o.addr_hash = addr_hash;
    o.port = 5432;
    o.data_dir_hash = data_dir_hash;
    return o;
}

static void test_twin_node(void **ctx)
{
    /* One PostgreSQL registered twice (by two names) is one node: the later name is flagged as
     * its twin, with an alert, and is never fenced, promoted or repointed, so the live primary
     * is not fenced for being itself. A standby on another host shares the system identifier
     * (and, cloned, the data directory's path) but not the address: no twin. Identity survives
     * a restart; a twin whose name reaches another server is a node again; removing one name
     * ends it. */
    struct state *s = *ctx;
    struct action a[8];
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    o = identified(s, "pg1", true, 1, 11);
    b_report_by(s, 1100, 1, 3, &o);
    o = identified(s, "pg2", false, 2, 11);
    b_report_by(s, 1100, 1, 3, &o);
    assert_string_equal(b_node(s, "pg2")->twin_of, "");
    b_add(s, 1200, "pg1b", 50);
    o = identified(s, "pg1b", true, 1, 11);
    b_report(s, 1300, 2, &o);
    assert_string_equal(b_node(s, "pg1b")->twin_of, "pg1");
    assert_false(b_node(s, "pg1b")->alert_writable);
    assert_int_equal(b_event(s, b_n_events(s) - 2)->kind, PGQ_EV_ALERT);
    b_assert_contains(b_event(s, b_n_events(s) - 2)->message,
                      "node pg1b is the same PostgreSQL server as node pg1 (system identifier "
                      "7317000000000000001, port 5432): it is ignored");
    b_report_by(s, 1400, 1, 3, &o);
    assert_false(b_node(s, "pg1b")->alert_writable);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    /* The twin's name now reaches another server: a node of its own, writable, fenced. */
    o = identified(s, "pg1b", true, 9, 11);
    b_report(s, 1450, 1, &o);
    assert_string_equal(b_node(s, "pg1b")->twin_of, "");
    assert_true(b_node(s, "pg1b")->alert_writable);

    /* A standby's twin, observed before the standby's identity was known: found from the
     * standby's later observation; data_directory hidden on one side still matches; the one
     * with a role keeps acting. */
    b_add(s, 1500, "pg3b", 50);
    o = identified(s, "pg3b", false, 3, 0);
    b_report(s, 1600, 1, &o);
    assert_string_equal(b_node(s, "pg3b")->twin_of, "");
    o = identified(s, "pg3", false, 3, 33);
    b_report(s, 1700, 3, &o);
    assert_string_equal(b_node(s, "pg3b")->twin_of, "pg3");
    b_remove(s, 1800, "pg3");
    assert_string_equal(b_node(s, "pg3b")->twin_of, "");
}

static void test_twin_never_the_primary(void **ctx)
{
    /* Whichever name was discovered as the primary keeps acting: the other, registered first
     * but observed later, is its twin (a primary fenced for its twin is what twins prevent). */
    struct state *s = *ctx;
    struct obs o;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg9", 50);
    b_add(s, 1000, "pg9b", 50);
    o = identified(s, "pg9b", true, 1, 99);
    b_report_by(s, 1100, 1, 3, &o);
    b_set_role(s, 1200, "pg9b", PGQ_ROLE_PRIMARY);
    o = identified(s, "pg9", true, 1, 99);
    b_report(s, 1300, 1, &o);
    assert_string_equal(b_node(s, "pg9")->twin_of, "pg9b");
    assert_string_equal(b_node(s, "pg9b")->twin_of, "");
    assert_false(b_node(s, "pg9")->alert_writable);
}

static void test_obs_alerts(void **ctx)
{
    /* A monitor reports at once an observation that would raise an alert the state does not
     * have yet: a node writable while it is not the primary of the epoch, as an old primary is
     * right after a decision; once the alert is committed, the same observation is not urgent. */
    struct state *s = *ctx;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    o = b_writable(s, "pg1", 100);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o)); /* the primary */
    o = b_recovering(s, "pg2", 100);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    o = b_writable(s, "nobody", 100);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    assert_false(state_obs_alerts(s, "other", &o));
    b_decide(s, 2000, "pg2");
    o = b_writable(s, "pg1", 100);
    assert_true(state_obs_alerts(s, B_CLUSTER, &o));
    o.read_only = true;
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    o.read_only = false;
    b_report(s, 2100, 1, &o);
    assert_true(b_node(s, "pg1")->alert_writable);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
}

static void test_alert_writable(void **ctx)
{
    /* A writable non-primary raises alert_writable until it is seen read-only or in recovery. */
    struct state *s = *ctx;
    struct obs o;
    const struct node *n;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    n = b_node(s, "pg2");
    assert_false(n->alert_writable);

    o = b_writable(s, "pg2", 100);
    b_report(s, 2000, 1, &o);
    assert_true(n->alert_writable);
    assert_int_equal(n->fenced_epoch, 0);
    assert_int_equal(last_event(s)->kind, PGQ_EV_ALERT);
    assert_string_equal(last_event(s)->message,
                        "node pg2 is writable but is not the primary of epoch 1 (pg1 is): it "
                        "will be fenced");

    b_step(s, 2100, PGQ_STEP_FENCED, "pg2", 0);
    assert_int_equal(n->fenced_epoch, 1);
    assert_true(n->alert_writable);
    assert_int_equal(last_event(s)->kind, PGQ_EV_FENCED);

    o = b_unreachable(s, "pg2"); /* unreachable: neither raises nor clears */
    b_report(s, 2200, 1, &o);
    assert_true(n->alert_writable);
    o.in_recovery = true; /* whatever else an unreachable observation says */
    o.read_only = true;
    b_report(s, 2250, 1, &o);
    assert_true(n->alert_writable);

    o = b_writable(s, "pg2", 100);
    o.read_only = true;
    b_report(s, 2300, 1, &o);
    assert_false(n->alert_writable);
    assert_string_equal(last_event(s)->message, "node pg2 is no longer writable");

    o = b_writable(s, "pg2", 100); /* writable again: fenced again */
    b_report(s, 2400, 2, &o);
    assert_true(n->alert_writable);
    assert_int_equal(n->fenced_epoch, 0);

    o = b_recovering(s, "pg2", 100);
    b_report(s, 2500, 2, &o);
    assert_false(n->alert_writable);
}

static void test_no_alert_before_discovery(void **ctx)
{
    /* Before a primary is known (epoch 0) a writable node is not an alert, and the primary never
     * is. */
    struct state *s = *ctx;
    struct obs o;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    o = b_writable(s, "pg1", 100);
    b_report(s, 1100, 1, &o);
    o = b_writable(s, "pg2", 100);
    b_report(s, 1100, 1, &o);
    assert_false(b_node(s, "pg1")->alert_writable);
    assert_false(b_node(s, "pg2")->alert_writable);
    b_set_role(s, 1200, "pg1", PGQ_ROLE_PRIMARY);
    o = b_writable(s, "pg1", 200);
    b_report(s, 1300, 2, &o);
    assert_false(b_node(s, "pg1")->alert_writable);
}

static void test_blocked(void **ctx)
{
    /* A blocked reason is recorded with an event only when it changes, and cleared silently. */
    struct state *s = *ctx;
    struct command c;
    uint64_t events;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    c = b_cmd_blocked(2000, "primary pg1 is in maintenance");
    b_apply(s, &c);
    assert_string_equal(b_cluster(s)->fo.blocked, "primary pg1 is in maintenance");
    assert_int_equal(last_event(s)->kind, PGQ_EV_BLOCKED);
    assert_string_equal(last_event(s)->message, "no failover: primary pg1 is in maintenance");
    events = s->event_seq;
    b_apply(s, &c);
    assert_int_equal(s->event_seq, events);
    c = b_cmd_blocked(2100, "");
    b_apply(s, &c);
    assert_string_equal(b_cluster(s)->fo.blocked, "");
    assert_int_equal(s->event_seq, events);
    c = b_cmd_blocked(2150,
                      "held: waiting for WAL positions probed after the primary failed "
                      "from: pg2");
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message,
                        "failover held: waiting for WAL positions probed after the primary failed "
                        "from: pg2");
    c = b_cmd_blocked(2200, "x");
    pgq_strlcpy(c.cluster, "nowhere", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nowhere");
}

/* ---- node agents and feature levels ------------------------------------------------ */

/* Monitor `id` announces the feature level it supports (an empty report). */
static void announce(struct state *s, uint64_t t, uint64_t id, unsigned level)
{
    struct command c = b_cmd_report(t, id, NULL, 0);
    c.u.report.feature_level = level;
    b_apply(s, &c);
}

static void test_rolling_upgrade(void **ctx)
{
    /* A state at feature level 1 refuses the commands of level 2 exactly as a monitor that does
     * not know them, leaving every byte as it was (seq and time too); the level is raised only
     * once every voter announced it, and the same commands then apply. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct command agent, allow, feature;
    struct apply_result res;
    uint64_t seq, time_ms;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    assert_int_equal(s->feature_level, 1);
    feature = b_cmd_feature(5000, 2);
    agent = b_cmd_agent(5100, "pg1", &f);
    allow = b_cmd_allow_unfenced(5200, "pg1", "alice");
    seq = s->seq;
    time_ms = s->time_ms;
    b_refused(s, &agent, PGQ_VERSION, "command needs feature level 2; the cluster is at level 1");
    b_refused(s, &allow, PGQ_VERSION, "command needs feature level 2; the cluster is at level 1");
    assert_int_equal(s->seq, seq);
    assert_int_equal(s->time_ms, time_ms);
    /* An operator's request is refused before it is proposed, saying why. */
    assert_int_equal(cluster_check(s, &allow, &res), PGQ_VERSION);
    assert_string_equal(res.message,
                        "the cluster is at feature level 1: upgrade every monitor first");

    /* Raising the level waits for every voter: by report, or by a leader's hello. */
    b_refused(s, &feature, PGQ_REFUSED, "feature level 2: monitor 1 supports only 1");
    announce(s, 2000, 1, 2);
    announce(s, 2000, 2, 1);
    b_refused(s, &feature, PGQ_REFUSED, "feature level 2: monitor 2 supports only 1");
    announce(s, 2100, 2, 2);
    b_refused(s, &feature, PGQ_REFUSED, "feature level 2: monitor 3 supports only 1");
    {
        static const uint64_t voters[] = {1, 2, 3};
        struct command hello = b_cmd_hello(2200, 3, voters, 3);
        hello.u.hello.feature_level = 2;
        b_apply(s, &hello);
    }
    assert_int_equal(state_member(s, 3)->max_level, 2);
    b_apply(s, &feature);
    assert_int_equal(s->feature_level, 2);
    assert_int_equal(last_event(s)->kind, PGQ_EV_FEATURE);
    assert_string_equal(last_event(s)->message, "feature level 2 (was 1)");
    b_refused(s, &feature, PGQ_STALE, "feature level 2: the cluster is already at 2");
    feature.u.feature.level = PGQ_FEATURE_LEVEL + 1;
    {
        char want[PGQ_REASON_MAX];
        snprintf(want, sizeof want, "feature level %d is unknown to this monitor (it supports %d)",
                 PGQ_FEATURE_LEVEL + 1, PGQ_FEATURE_LEVEL);
        b_refused(s, &feature, PGQ_VERSION, want);
    }

    /* The same commands apply now. */
    b_apply(s, &agent);
    assert_int_equal(b_node(s, "pg1")->agent.state, PGQ_AGENT_UP);
    assert_int_equal(b_node(s, "pg1")->agent.facts_ms, 5100);
    assert_int_equal(last_event(s)->kind, PGQ_EV_AGENT);
    assert_string_equal(last_event(s)->message,
                        "the agent of pg1 is up (attached, PostgreSQL running)");
    assert_int_equal(cluster_check(s, &allow, &res), 0);
    b_apply(s, &allow);
    assert_int_equal(b_node(s, "pg1")->allow_unfenced_epoch, 1);
}

static void test_feature_level_voters_only(void **ctx)
{
    /* Only voters hold the level back: a monitor that left the configuration does not. */
    static const uint64_t four[] = {1, 2, 3, 4};
    struct state *s = *ctx;
    struct command c = b_cmd_hello(1000, 1, four, 4);
    b_apply(s, &c);
    b_hello(s, 1100, 1, 3); /* monitor 4 is no longer a voter */
    assert_non_null(state_member(s, 4));
    assert_false(state_is_voter(s, 4));
    for (uint64_t id = 1; id <= 3; id++) {
        announce(s, 1200, id, 2);
    }
    c = b_cmd_feature(1300, 2);
    b_apply(s, &c);
    assert_int_equal(s->feature_level, 2);
}

/* A healthy cluster (pg1 primary, pg2 and pg3 standbys) whose every voter supports level 2 only,
 * at feature level 2. */
static void healthy_level2(struct state *s)
{
    struct command feature = b_cmd_feature(1200, 2);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    for (uint64_t id = 1; id <= 3; id++) {
        announce(s, 1100, id, 2);
    }
    b_apply(s, &feature);
    assert_int_equal(s->feature_level, 2);
}

/* Each command of cmds[0..n) is refused at level 2 as a monitor of the previous version refuses
 * it, leaving every byte as it was, and before it is proposed with the reason. */
static void refused_below_level_3(struct state *s, const struct command *cmds, unsigned n)
{
    struct apply_result res;
    uint8_t *before, *after;
    size_t before_len, after_len;
    b_encode(s, &before, &before_len);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(cluster_apply(s, &cmds[i], &res), PGQ_VERSION);
        assert_string_equal(res.message,
                            "command needs feature level 3; the cluster is at level 2");
        assert_int_equal(cluster_check(s, &cmds[i], &res), PGQ_VERSION);
        assert_string_equal(res.message,
                            "the cluster is at feature level 2: upgrade every monitor first");
    }
    b_encode(s, &after, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
}

static void test_pause_needs_level_3(void **ctx)
{
    /* At feature level 2 a pause, and a maintenance that allows a failover, are refused exactly as
     * a monitor of the previous version refuses them (every byte unchanged), and before they are
     * proposed with the reason; a maintenance without the allowance applies. At level 3 they
     * apply. */
    struct state *s = *ctx;
    struct command cmds[2];
    healthy_level2(s);
    cmds[0] = b_cmd_pause(2000, true, "alice");
    cmds[1] = b_cmd_maintenance(2000, "pg1", true);
    cmds[1].u.maintenance.allow_failover = true;
    refused_below_level_3(s, cmds, 2);
    b_maintenance(s, 2100, "pg1", true);
    assert_true(b_node(s, "pg1")->maintenance);

    b_feature_level(s, 3000);
    assert_int_equal(s->feature_level, PGQ_FEATURE_LEVEL);
    b_apply(s, &cmds[0]);
    assert_true(b_cluster(s)->paused);
    b_apply(s, &cmds[1]);
    assert_true(b_node(s, "pg1")->maintenance_allow_failover);
}

/* ---- roles, grants, audit (level 5) ------------------------------------------------------- */

static void test_roles_and_grants(void **ctx)
{
    /* A role is set, changed and removed (none); a grant, then a deny of the same replace each
     * other, a revoke removes it; each is an audit event naming it; both lists stay sorted; a
     * bad name, role or action, and a revoke of nothing, are refused and change nothing. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_feature_level(s, 1100);
    c = b_cmd_role(1200, "user:zoe", AUTHZ_ROLE_VIEWER);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message, "role of user:zoe: viewer (was none)");
    assert_int_equal(last_event(s)->kind, PGQ_EV_AUDIT);
    c = b_cmd_role(1201, "user:amy", AUTHZ_ROLE_ADMIN);
    b_apply(s, &c);
    c = b_cmd_role(1202, "user:zoe", AUTHZ_ROLE_OPERATOR);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message, "role of user:zoe: operator (was viewer)");
    assert_int_equal(s->n_roles, 2);
    assert_string_equal(s->roles[0].name, "user:amy");
    assert_int_equal(s->roles[1].role, AUTHZ_ROLE_OPERATOR);
    c = b_cmd_role(1203, "user:amy", AUTHZ_ROLE_NONE);
    b_apply(s, &c);
    assert_int_equal(s->n_roles, 1);
    assert_string_equal(s->roles[0].name, "user:zoe");

    c = b_cmd_grant(1300, "user:zoe", AUTHZ_NODE_REMOVE, "main", false, false);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message, "granted node-remove to user:zoe on cluster main");
    assert_string_equal(last_event(s)->cluster, "main");
    c = b_cmd_grant(1301, "node:main/pg1", AUTHZ_STATUS, "", false, false);
    b_apply(s, &c);
    c = b_cmd_grant(1302, "user:zoe", AUTHZ_NODE_REMOVE, "main", true, false);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message, "denied node-remove to user:zoe on cluster main");
    assert_int_equal(s->n_grants, 2);
    assert_string_equal(s->grants[0].name, "node:main/pg1");
    assert_true(s->grants[1].deny);
    c = b_cmd_grant(1303, "user:zoe", AUTHZ_NODE_REMOVE, "main", false, true);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message,
                        "deny of node-remove to user:zoe on cluster main revoked");
    assert_int_equal(s->n_grants, 1);

    c = b_cmd_grant(1400, "user:zoe", AUTHZ_NODE_REMOVE, "main", false, true);
    b_refused(s, &c, PGQ_NOTFOUND,
              "user:zoe holds no grant or deny of node-remove on cluster main");
    c = b_cmd_grant(1401, "zoe", AUTHZ_STATUS, "", false, false);
    b_refused(s, &c, PGQ_INVALID, "\"zoe\" is not an identity");
    c = b_cmd_grant(1402, "user:zoe", AUTHZ_REPORT, "", false, false);
    b_refused(s, &c, PGQ_INVALID, "cannot be granted or denied");
    c = b_cmd_role(1403, "monitor:2", AUTHZ_ROLE_ADMIN);
    b_refused(s, &c, PGQ_INVALID, "is not an identity");
    c = b_cmd_role(1404, "user:zoe", 9);
    b_refused(s, &c, PGQ_INVALID, "role 9 does not exist");
}

static void test_who_asked_is_recorded(void **ctx)
{
    /* A client's write names who asked and from where in the events it makes, with the
     * action and "ok"; an audit record is an event with its outcome; the leader's own steps
     * name nobody. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_feature_level(s, 1100);
    c = b_cmd_node_add(1200, B_CLUSTER, "pg1", "host=pg1 port=5432", 50);
    pgq_strlcpy(c.who, "user:amy", sizeof c.who);
    pgq_strlcpy(c.from, "10.1.2.3", sizeof c.from);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->who, "user:amy");
    assert_string_equal(last_event(s)->from, "10.1.2.3");
    assert_int_equal(last_event(s)->action, AUTHZ_NODE_ADD);
    assert_string_equal(last_event(s)->outcome, "ok");
    c = b_cmd_audit(1300, "user:bob", AUTHZ_NODE_REMOVE,
                    "denied: user:bob (viewer) may not node-remove on cluster main");
    c.u.audit.more = 3;
    b_apply(s, &c);
    assert_int_equal(last_event(s)->kind, PGQ_EV_AUDIT);
    assert_string_equal(last_event(s)->message,
                        "node-remove by user:bob denied: user:bob (viewer) may not node-remove "
                        "on cluster main (and 3 more refusals like it)");
    assert_string_equal(last_event(s)->who, "user:bob");
    assert_string_equal(last_event(s)->outcome,
                        "denied: user:bob (viewer) may not node-remove on cluster main");
    assert_int_equal(last_event(s)->action, AUTHZ_NODE_REMOVE);
    c = b_cmd_audit(1400, "", AUTHZ_NODE_REMOVE, "denied: x");
    b_refused(s, &c, PGQ_INVALID, "an audit record names who, what and the outcome");
    b_hello(s, 1500, 2, 3);
    assert_string_equal(last_event(s)->who, "");
}

static void test_access_needs_level_5(void **ctx)
{
    /* Below level 5, roles, grants, audits and a write naming who asked are refused as a
     * monitor of the previous version refuses them, leaving every byte as it was. */
    struct state *s = *ctx;
    struct command cmds[4];
    b_hello(s, 1000, 1, 3);
    cmds[0] = b_cmd_role(1100, "user:zoe", AUTHZ_ROLE_VIEWER);
    cmds[1] = b_cmd_grant(1101, "user:zoe", AUTHZ_STATUS, "", false, false);
    cmds[2] = b_cmd_audit(1102, "user:zoe", AUTHZ_STATUS, "denied: no");
    cmds[3] = b_cmd_node_add(1103, B_CLUSTER, "pg1", "host=pg1 port=5432", 50);
    pgq_strlcpy(cmds[3].who, "user:zoe", sizeof cmds[3].who);
    for (int i = 0; i < 4; i++) {
        b_refused(s, &cmds[i], PGQ_VERSION, "feature level");
    }
    b_feature_level(s, 1200);
    for (int i = 0; i < 4; i++) {
        cmds[i].time_ms = 1300 + (uint64_t)i;
        b_apply(s, &cmds[i]);
    }
}

static void test_snapshot_keeps_access(void **ctx)
{
    /* Roles, grants, denies and who asked survive a snapshot, and the restored state applies
     * the next grant exactly like the original. */
    struct state *s = *ctx, copy;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_feature_level(s, 1100);
    c = b_cmd_role(1200, "user:zoe", AUTHZ_ROLE_OPERATOR);
    pgq_strlcpy(c.who, "user:amy", sizeof c.who);
    b_apply(s, &c);
    c = b_cmd_grant(1201, "user:zoe", AUTHZ_SWITCHOVER, "east", true, false);
    b_apply(s, &c);
    state_init(&copy);
    b_copy(&copy, s);
    assert_int_equal(copy.n_roles, 1);
    assert_int_equal(copy.roles[0].role, AUTHZ_ROLE_OPERATOR);
    assert_int_equal(copy.n_grants, 1);
    assert_true(copy.grants[0].deny);
    assert_string_equal(copy.grants[0].cluster, "east");
    c = b_cmd_grant(1300, "user:yan", AUTHZ_STATUS, "", false, false);
    b_apply(s, &c);
    b_apply(&copy, &c);
    b_assert_same(s, &copy);
    state_close(&copy);
}

static void test_hello_reason_needs_level_4(void **ctx)
{
    /* A hello that says why the leadership changed is refused at feature level 3 as a monitor of
     * the previous version refuses it (every byte unchanged: it does not know the field); at
     * level 4 its event says why. */
    struct state *s = *ctx;
    const uint64_t voters[] = {1, 2, 3};
    struct command cmds[1], c;
    struct apply_result res;
    uint8_t *before, *after;
    size_t before_len, after_len;
    healthy_level2(s);
    for (unsigned i = 0; i < s->n_monitors; i++) {
        c = b_cmd_report(2500, s->monitors[i].id, NULL, 0);
        c.u.report.feature_level = 3;
        b_apply(s, &c);
    }
    c = b_cmd_feature(2600, 3);
    b_apply(s, &c);
    assert_int_equal(s->feature_level, 3);
    cmds[0] = b_cmd_hello(2700, 2, voters, 3);
    pgq_strlcpy(cmds[0].u.hello.reason, "monitor 1 stopped answering (nothing from it for 700 ms)",
                sizeof cmds[0].u.hello.reason);
    b_encode(s, &before, &before_len);
    assert_int_equal(cluster_apply(s, &cmds[0], &res), PGQ_VERSION);
    assert_string_equal(res.message, "command needs feature level 4; the cluster is at level 3");
    b_encode(s, &after, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
    b_feature_level(s, 3000);
    assert_int_equal(s->feature_level, PGQ_FEATURE_LEVEL);
    cmds[0].time_ms = 3100;
    b_apply(s, &cmds[0]);
    assert_int_equal(s->leader_id, 2);
    assert_int_equal(last_event(s)->kind, PGQ_EV_LEADER);
    assert_string_equal(last_event(s)->message,
                        "monitor 2 leads (generation 2, 3 voters): monitor 1 stopped answering "
                        "(nothing from it for 700 ms)");
}

static void test_switchover_needs_level_3(void **ctx)
{
    /* At feature level 2 a switchover, and its begin and cancel, are refused exactly as a monitor
     * of the previous version refuses them (every byte unchanged), and before they are proposed
     * with the reason; an agent's final position is not committed (no monitor of level 2 knows
     * it); at level 3 it is scheduled. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct command cmds[3];
    healthy_level2(s);
    b_agent(s, 1300, "pg1", &f);
    f = b_agent_stopped(0x5000);
    b_agent(s, 1300, "pg2", &f);
    assert_int_equal(b_node(s, "pg2")->agent.stopped_lsn, 0);
    cmds[0] = b_cmd_switchover(2000, "pg2", 0);
    cmds[1] = b_cmd_switchover_begin(2000);
    cmds[2] = b_cmd_switchover_cancel(2000, "bob");
    refused_below_level_3(s, cmds, 3);

    b_feature_level(s, 3000);
    b_apply(s, &cmds[0]);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_PENDING);
}

static void test_agent_report(void **ctx)
{
    /* An AgentReport commits what the agent says, stamped with the leader's time; `since` moves
     * only when the agent's state, its postmaster or its fence changed, and each such change is
     * an event. Reports for an unknown node or with states out of range are refused. */
    static const struct
    {
        uint64_t t;
        bool pm_alive, fenced, handover;
        uint64_t lsn;
        uint64_t since;    /* after */
        const char *event; /* NULL: none */
    } rows[] = {
        {2000, true, false, false, 0x1000, 2000,
         "the agent of pg1 is up (attached, PostgreSQL running)"},
        {3000, true, false, false, 0x2000, 2000, NULL},
        {4000, false, false, false, 0x2000, 4000,
         "the agent of pg1 reports its PostgreSQL dead: restarting it"},
        {5000, false, false, true, 0x2000, 4000, NULL},
        {6000, false, true, true, 0x2000, 6000, NULL},
        {7000, true, false, false, 0x2000, 7000,
         "the agent of pg1 reports its PostgreSQL running (pid 4242)"},
        {8000, false, true, false, 0x2000, 8000,
         "the agent of pg1 reports its PostgreSQL fenced (stopped): restarting it"},
    };
    struct state *s = *ctx;
    struct agent_facts f;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(rows); i++) {
        uint64_t events = s->event_seq;
        const struct agent_facts *a = &b_node(s, "pg1")->agent;
        f = b_agent_facts(rows[i].pm_alive);
        f.fenced = rows[i].fenced;
        f.handover = rows[i].handover;
        f.lsn = rows[i].lsn;
        b_agent(s, rows[i].t, "pg1", &f);
        assert_int_equal(a->state, PGQ_AGENT_UP);
        assert_int_equal(a->facts_ms, rows[i].t);
        assert_int_equal(a->lsn, rows[i].lsn);
        if (a->since_ms != rows[i].since) {
            fail_msg("row %zu: since %llu, want %llu", i, (unsigned long long)a->since_ms,
                     (unsigned long long)rows[i].since);
        }
        if (rows[i].event == NULL) {
            assert_int_equal(s->event_seq, events);
        } else {
            assert_int_equal(s->event_seq, events + 1);
            assert_int_equal(last_event(s)->kind, PGQ_EV_AGENT);
            assert_string_equal(last_event(s)->message, rows[i].event);
        }
    }
    f = b_agent_facts(true);
    c = b_cmd_agent(9000, "pg9", &f);
    b_refused(s, &c, PGQ_NOTFOUND, "agent report for unknown node main/pg9");
    f.state = PGQ_AGENT_NONE;
    c = b_cmd_agent(9000, "pg1", &f);
    b_refused(s, &c, PGQ_INVALID, "agent report for pg1: bad agent state 0");
    f.state = PGQ__N_AGENT_STATES;
    c = b_cmd_agent(9000, "pg1", &f);
    b_refused(s, &c, PGQ_INVALID, "agent report for pg1: bad agent state 3");
    f.state = PGQ_AGENT_UP;
    f.pg_state = PGQ__N_PG_STATES;
    c = b_cmd_agent(9000, "pg1", &f);
    b_refused(s, &c, PGQ_INVALID, "agent report for pg1: bad PostgreSQL state 8");
    f.pg_state = -1;
    c = b_cmd_agent(9000, "pg1", &f);
    b_refused(s, &c, PGQ_INVALID, "agent report for pg1: bad PostgreSQL state -1");
}

/* Facts of an agent in the middle of a rejoin: every rejoin field set. */
static struct agent_facts rejoin_facts(int rejoin, const char *detail)
{
    struct agent_facts f = b_agent_facts(true);
    f.in_recovery = true;
    f.lease = false;
    f.timeline = 2;
    f.rejoin = rejoin;
    pgq_strlcpy(f.rejoin_detail, detail, sizeof f.rejoin_detail);
    f.rejoin_epoch = 2;
    f.rejoin_ms = 2500;
    f.lost_commits = 3;
    f.lost_bytes = 4096;
    f.lost_known = true;
    f.streaming = true;
    return f;
}

/* The state at feature level 2: every voter announced it, the leader raised it. */
static void level_2(struct state *s, uint64_t t)
{
    struct command c;
    for (uint64_t id = 1; id <= state_n_voters(s); id++) {
        announce(s, t, id, 2);
    }
    c = b_cmd_feature(t, 2);
    b_apply(s, &c);
    assert_int_equal(s->feature_level, 2);
}

/* How many events of `kind` since seq `from`. */
static unsigned events_of(const struct state *s, uint64_t from, int kind)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b_n_events(s); i++) {
        const struct event *e = b_event(s, i);
        n += e->seq > from && e->kind == kind;
    }
    return n;
}

static void test_agent_rejoin_below_level_3(void **ctx)
{
    /* Below feature level 3 no monitor knows the rejoin facts: an AgentReport commits none of
     * them (all alike: none), whatever the agent says, and no rejoin event; a rejoin state out of
     * range is refused all the same. */
    struct state *s = *ctx;
    struct agent_facts f = rejoin_facts(PGQ_RJ_REWINDING, "from pg2");
    const struct agent_facts *a;
    uint64_t seq;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    a = &b_node(s, "pg1")->agent;
    level_2(s, 1000);
    seq = s->event_seq;
    for (int st = PGQ_RJ_REWINDING; st < PGQ__N_RJ_STATES; st++) {
        f.rejoin = st;
        b_agent(s, 2000 + (uint64_t)st, "pg1", &f);
        assert_int_equal(a->rejoin, PGQ_RJ_NONE);
        assert_string_equal(a->rejoin_detail, "");
        assert_int_equal(a->rejoin_epoch, 0);
        assert_int_equal(a->rejoin_ms, 0);
        assert_int_equal(a->lost_commits, 0);
        assert_int_equal(a->lost_bytes, 0);
        assert_false(a->lost_known);
        assert_false(a->streaming);
        /* The facts of level 2 are committed as ever. */
        assert_int_equal(a->state, PGQ_AGENT_UP);
        assert_true(a->in_recovery);
        assert_int_equal(a->timeline, 2);
    }
    assert_int_equal(events_of(s, seq, PGQ_EV_REJOINED), 0);
    f.rejoin = PGQ__N_RJ_STATES;
    c = b_cmd_agent(3000, "pg1", &f);
    b_refused(s, &c, PGQ_INVALID, "agent report for pg1: bad rejoin state 7");
}

static void test_agent_rejoin_events(void **ctx)
{
    /* At feature level 3 an AgentReport commits the rejoin facts as said, and each change of the
     * rejoin state is one event saying where the rejoin is (with the commits a rewind discarded,
     * and its duration once it is over); the same state again, whatever its detail, is none. */
    static const struct
    {
        int rejoin;
        const char *detail;
        bool lost_known;
        const char *event; /* NULL: none */
        uint64_t duration_ms;
    } rows[] = {
        {PGQ_RJ_NONE, "", false, NULL, 0},
        {PGQ_RJ_REWINDING, "from pg2", false,
         "node pg1 rejoins: rewinding it (pg_rewind): from pg2", 0},
        {PGQ_RJ_REWINDING, "from pg2: 1024/4096 kB (25%) copied", false, NULL, 0},
        {PGQ_RJ_FAILED, "pg_rewind failed (exit 1): could not connect to server", false,
         "node pg1 could not rejoin: pg_rewind failed (exit 1): could not connect to server", 0},
        {PGQ_RJ_CLONING, "from pg2 (pg_basebackup)", false,
         "node pg1 is being cloned: from pg2 (pg_basebackup)", 0},
        {PGQ_RJ_STARTING, "cloned from pg2", false,
         "node pg1 is starting as a standby: cloned from pg2", 2500},
        {PGQ_RJ_STREAMING, "from pg2", false,
         "node pg1 rejoined: streaming on timeline 2: from pg2", 2500},
        {PGQ_RJ_STREAMING, "from pg2", false, NULL, 0},
        {PGQ_RJ_WAITING, "it cannot be rewound and rejoin = manual", false,
         "node pg1 needs a rejoin and waits for an operator: it cannot be rewound and rejoin = "
         "manual",
         0},
        {PGQ_RJ_NONE, "", false, NULL, 0},
        {PGQ_RJ_WAITING, "", false, "node pg1 needs a rejoin and waits for an operator", 0},
        {PGQ_RJ_REWINDING, "", false, "node pg1 rejoins: rewinding it (pg_rewind)", 0},
        {PGQ_RJ_STARTING, "rewound from pg2", true,
         "node pg1 rewound from pg2: 3 commit(s), 4096 bytes of WAL it alone had were discarded; "
         "starting as a standby",
         2500},
        {PGQ_RJ_STARTING, "rewound from pg2", true, NULL, 0},
        {PGQ_RJ_STREAMING, "", true, "node pg1 rejoined: streaming on timeline 2", 2500},
    };
    struct state *s = *ctx;
    const struct agent_facts *a;
    struct agent_facts f = b_agent_facts(true);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    assert_int_equal(s->feature_level, PGQ_FEATURE_LEVEL);
    b_agent(s, 1500, "pg1", &f); /* attached: the agent's own event */
    a = &b_node(s, "pg1")->agent;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(rows); i++) {
        uint64_t seq = s->event_seq;
        f = rejoin_facts(rows[i].rejoin, rows[i].detail);
        f.lost_known = rows[i].lost_known;
        b_agent(s, 2000 + 100 * i, "pg1", &f);
        assert_int_equal(a->rejoin, rows[i].rejoin);
        assert_string_equal(a->rejoin_detail, rows[i].detail);
        assert_int_equal(a->rejoin_epoch, 2);
        assert_int_equal(a->rejoin_ms, 2500);
        assert_int_equal(a->lost_commits, 3);
        assert_int_equal(a->lost_bytes, 4096);
        assert_int_equal(a->lost_known, rows[i].lost_known);
        assert_true(a->streaming);
        if (rows[i].event == NULL) {
            if (s->event_seq != seq) {
                fail_msg("row %zu: an event \"%s\"", i, b_event(s, b_n_events(s) - 1)->message);
            }
            continue;
        }
        if (s->event_seq != seq + 1) {
            fail_msg("row %zu: %llu events, want one", i, (unsigned long long)(s->event_seq - seq));
        }
        assert_int_equal(last_event(s)->kind, PGQ_EV_REJOINED);
        assert_string_equal(pgq_event_kind_name(last_event(s)->kind), "rejoin");
        assert_string_equal(last_event(s)->node, "pg1");
        assert_string_equal(last_event(s)->message, rows[i].event);
        assert_int_equal(last_event(s)->duration_ms, rows[i].duration_ms);
        assert_int_equal(last_event(s)->epoch, 1);
    }
}

static void test_agent_rejoin_refused(void **ctx)
{
    /* A rejoin state out of range is refused, naming it, and changes nothing (the state stays as
     * the last report left it). */
    static const int bad[] = {PGQ__N_RJ_STATES, -1, 1000};
    struct state *s = *ctx;
    struct agent_facts f = rejoin_facts(PGQ_RJ_CLONING, "from pg2");
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 2000, "pg1", &f);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(bad); i++) {
        char want[64];
        struct command c;
        f.rejoin = bad[i];
        c = b_cmd_agent(3000, "pg1", &f);
        snprintf(want, sizeof want, "agent report for pg1: bad rejoin state %d", bad[i]);
        b_refused(s, &c, PGQ_INVALID, want);
        assert_int_equal(b_node(s, "pg1")->agent.rejoin, PGQ_RJ_CLONING);
    }
}

static void test_agent_unprotected(void **ctx)
{
    /* A node seen reachable by a probe that began after its agent was found silent runs with
     * nobody to fence it (unprotected, with an event); a probe from before, or one that finds it
     * down, does not say so; the agent heard again clears it. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct obs before, down, after;
    const struct node *p;
    uint64_t silent_seq;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 2000, "pg1", &f);
    before = b_writable(s, "pg1", 0x1100); /* probed before the silence was committed */
    b_agent_silent(s, 7000, "pg1");
    p = b_node(s, "pg1");
    silent_seq = s->seq;
    assert_int_equal(p->agent.state, PGQ_AGENT_SILENT);
    assert_int_equal(p->agent.silent_seq, silent_seq);
    assert_int_equal(before.basis_seq, silent_seq - 1);
    assert_false(p->agent.unprotected);
    assert_false(p->agent.lease);
    assert_true(p->agent.pm_alive); /* the last facts heard stay */
    assert_int_equal(p->agent.since_ms, 7000);
    assert_int_equal(last_event(s)->kind, PGQ_EV_AGENT);
    assert_string_equal(last_event(s)->message,
                        "the agent of pg1 fell silent (no heartbeat for a whole lease): it "
                        "fenced, died or is cut off");
    /* Silence found again changes nothing. */
    {
        uint64_t events = s->event_seq;
        b_agent_silent(s, 7500, "pg1");
        assert_int_equal(p->agent.silent_seq, silent_seq);
        assert_int_equal(p->agent.since_ms, 7000);
        assert_int_equal(s->event_seq, events);
    }

    b_report(s, 8000, 1, &before);
    assert_false(p->agent.unprotected);
    down = b_unreachable(s, "pg1");
    b_report(s, 8100, 2, &down);
    assert_false(p->agent.unprotected);
    after = b_writable(s, "pg1", 0x1200);
    after.basis_seq = silent_seq; /* the reporter had applied the silence when it probed */
    b_report(s, 8200, 3, &after);
    assert_true(p->agent.unprotected);
    assert_int_equal(last_event(s)->kind, PGQ_EV_UNPROTECTED);
    assert_string_equal(last_event(s)->message,
                        "node pg1 runs with no agent to fence it: its agent fell silent while it "
                        "kept running; no failover over it unless no acknowledged write can be "
                        "lost or an operator allows it");
    {
        uint64_t events = s->event_seq;
        b_report(s, 8300, 1, &after);
        assert_int_equal(s->event_seq, events); /* said once */
    }

    /* Heard again: what the quorum judged (silence, unprotected) is the leader's, whatever the
     * report carries. */
    f = p->agent;
    f.state = PGQ_AGENT_UP;
    f.lsn = 0x1300;
    b_agent(s, 9000, "pg1", &f);
    assert_int_equal(p->agent.state, PGQ_AGENT_UP);
    assert_false(p->agent.unprotected);
    assert_int_equal(p->agent.silent_seq, 0);
    assert_int_equal(p->agent.since_ms, 9000);
    assert_string_equal(last_event(s)->message,
                        "the agent of pg1 is up (back, PostgreSQL running)");
    b_report(s, 9100, 1, &after);
    assert_false(p->agent.unprotected); /* its agent is up: it fences */
}

static void test_agent_unprotected_standby(void **ctx)
{
    /* A standby whose agent fell silent while it kept running is unprotected too, without the
     * words about a failover over it. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    f.in_recovery = true;
    b_agent(s, 2000, "pg2", &f);
    b_agent_silent(s, 7000, "pg2");
    o = b_recovering(s, "pg2", 0x1000);
    b_report(s, 8000, 1, &o);
    assert_true(b_node(s, "pg2")->agent.unprotected);
    assert_string_equal(last_event(s)->message,
                        "node pg2 runs with no agent to fence it: its agent fell silent while it "
                        "kept running");
}

static void test_allow_unfenced(void **ctx)
{
    /* An operator may allow a failover over the primary of the epoch that cannot be proven
     * fenced, once per epoch, with an event naming who; not over another node. */
    struct state *s = *ctx;
    struct command c;
    struct apply_result res;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    c = b_cmd_allow_unfenced(2000, "pg2", "alice");
    assert_int_equal(cluster_check(s, &c, &res), PGQ_REFUSED);
    assert_string_equal(res.message, "node pg2 is not the primary of cluster main");
    b_refused(s, &c, PGQ_REFUSED, "node pg2 is not the primary of cluster main");
    c = b_cmd_allow_unfenced(2000, "pg9", "alice");
    assert_int_equal(cluster_check(s, &c, &res), PGQ_NOTFOUND);
    b_refused(s, &c, PGQ_NOTFOUND, "unknown node main/pg9");
    c = b_cmd_allow_unfenced(2000, "pg1", "alice");
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->allow_unfenced_epoch, 1);
    assert_int_equal(last_event(s)->kind, PGQ_EV_ALLOW);
    assert_string_equal(last_event(s)->message,
                        "alice allowed a failover over pg1 although it cannot be proven fenced "
                        "(epoch 1)");
    c = b_cmd_allow_unfenced(2100, "pg1", "");
    b_apply(s, &c);
    b_assert_contains(last_event(s)->message, "an operator allowed a failover over pg1");
}

static void test_agent_confirms_down(void **ctx)
{
    /* An agent confirms its PostgreSQL down only while it is up itself, the postmaster is gone
     * and it said it leaves it down (fenced, or handed over to the quorum). */
    static const struct
    {
        int state;
        bool pm_alive, fenced, handover;
        bool down;
    } cases[] = {
        {PGQ_AGENT_UP, false, true, false, true},     {PGQ_AGENT_UP, false, false, true, true},
        {PGQ_AGENT_UP, false, true, true, true},      {PGQ_AGENT_UP, false, false, false, false},
        {PGQ_AGENT_UP, true, true, false, false},     {PGQ_AGENT_UP, true, false, true, false},
        {PGQ_AGENT_SILENT, false, true, true, false}, {PGQ_AGENT_NONE, false, true, true, false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct agent_facts f = b_agent_facts(cases[i].pm_alive);
        f.state = cases[i].state;
        f.fenced = cases[i].fenced;
        f.handover = cases[i].handover;
        if (agent_confirms_down(&f) != cases[i].down) {
            fail_msg("case %zu: %s", i, cases[i].down ? "not down" : "down");
        }
    }
}

static void test_agent_facts_material(void **ctx)
{
    /* What a failover depends on is material (the agent's and PostgreSQL's states, fence, hand
     * over, lease, postmaster, session, timeline, recovery, the rejoin state, streaming);
     * positions, host metrics, the version, the leader's stamps and the rejoin's details (its
     * progress, epoch, duration and cost) are not. */
    static const struct
    {
        const char *field;
        bool material;
    } cases[] = {
        {"state", true},         {"pm_alive", true},     {"answering", true},
        {"pg_state", true},      {"timeline", true},     {"in_recovery", true},
        {"fenced", true},        {"handover", true},     {"lease", true},
        {"pm_pid", true},        {"session", true},      {"lsn", false},
        {"host", false},         {"since_ms", false},    {"facts_ms", false},
        {"version", false},      {"unprotected", false}, {"silent_seq", false},
        {"rejoin", true},        {"streaming", true},    {"rejoin_detail", false},
        {"rejoin_epoch", false}, {"rejoin_ms", false},   {"lost", false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct agent_facts a = b_agent_facts(true), b = a;
        const char *f = cases[i].field;
        if (strcmp(f, "state") == 0) {
            b.state = PGQ_AGENT_SILENT;
        } else if (strcmp(f, "pm_alive") == 0) {
            b.pm_alive = false;
        } else if (strcmp(f, "answering") == 0) {
            b.answering = false;
        } else if (strcmp(f, "pg_state") == 0) {
            b.pg_state = PGQ_PGS_SHUTTING_DOWN;
        } else if (strcmp(f, "timeline") == 0) {
            b.timeline = 2;
        } else if (strcmp(f, "in_recovery") == 0) {
            b.in_recovery = true;
        } else if (strcmp(f, "fenced") == 0) {
            b.fenced = true;
        } else if (strcmp(f, "handover") == 0) {
            b.handover = true;
        } else if (strcmp(f, "lease") == 0) {
            b.lease = false;
        } else if (strcmp(f, "pm_pid") == 0) {
            b.pm_pid = 4343;
        } else if (strcmp(f, "session") == 0) {
            b.session = 8;
        } else if (strcmp(f, "lsn") == 0) {
            b.lsn = 0x9000;
        } else if (strcmp(f, "host") == 0) {
            b.host.cpu_busy_bp = 9999;
            b.host.net_rx_bps = 1;
        } else if (strcmp(f, "since_ms") == 0) {
            b.since_ms = 5;
        } else if (strcmp(f, "facts_ms") == 0) {
            b.facts_ms = 5;
        } else if (strcmp(f, "version") == 0) {
            pgq_strlcpy(b.version, "1.0", sizeof b.version);
        } else if (strcmp(f, "unprotected") == 0) {
            b.unprotected = true;
        } else if (strcmp(f, "rejoin") == 0) {
            b.rejoin = PGQ_RJ_REWINDING;
        } else if (strcmp(f, "streaming") == 0) {
            b.streaming = true;
        } else if (strcmp(f, "rejoin_detail") == 0) {
            pgq_strlcpy(b.rejoin_detail, "from pg2: 10% copied", sizeof b.rejoin_detail);
        } else if (strcmp(f, "rejoin_epoch") == 0) {
            b.rejoin_epoch = 2;
        } else if (strcmp(f, "rejoin_ms") == 0) {
            b.rejoin_ms = 1500;
        } else if (strcmp(f, "lost") == 0) {
            b.lost_commits = 3;
            b.lost_bytes = 4096;
            b.lost_known = true;
        } else {
            b.silent_seq = 5;
        }
        if (agent_facts_material(&a, &b) != cases[i].material ||
            agent_facts_material(&b, &a) != cases[i].material) {
            fail_msg("%s: %s", f, cases[i].material ? "not material" : "material");
        }
    }
}

static void test_agent_snapshot_round_trip(void **ctx)
{
    /* A snapshot keeps every agent fact (host metrics and the rejoin's too), the silence and
     * whether it left a node unprotected, the operator's allowance, the feature level and what
     * each monitor announced. */
    struct state *s = *ctx;
    struct state copy;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    struct obs o;
    const struct node *n, *m;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    f.timeline = 3;
    f.lsn = 0x123456789ull;
    f.pm_pid = 0xFFFFFFFF1ull;
    f.session = 0xF00000000000000Full;
    f.host = (struct agent_host){1234, 56, 78, 90, 1000001, 2000002, 3333, 4000004, 5000005};
    b_agent(s, 2000, "pg1", &f);
    f = rejoin_facts(PGQ_RJ_STARTING, "rewound from pg1");
    f.rejoin_epoch = 0xA00000001ull;
    f.rejoin_ms = 0xB00000002ull;
    f.lost_commits = 0xC00000003ull;
    f.lost_bytes = 0xD00000004ull;
    b_agent(s, 2050, "pg3", &f);
    f = b_agent_facts(false);
    f.in_recovery = true;
    f.fenced = true;
    f.handover = true;
    f.pg_state = PGQ_PGS_SHUT_DOWN_IN_RECOVERY;
    f.stopped_lsn = 0x2345;
    b_agent(s, 2100, "pg2", &f);
    b_agent_silent(s, 7000, "pg2");
    o = b_recovering(s, "pg2", 0x1000);
    b_report(s, 8000, 1, &o);
    assert_true(b_node(s, "pg2")->agent.unprotected);
    c = b_cmd_allow_unfenced(8100, "pg1", "bob");
    b_apply(s, &c);

    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    assert_int_equal(copy.feature_level, PGQ_FEATURE_LEVEL);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(state_member(&copy, id)->max_level, PGQ_FEATURE_LEVEL);
    }
    for (unsigned i = 0; i < b_cluster(s)->n_nodes; i++) {
        n = &b_cluster(s)->nodes[i];
        m = b_node(&copy, n->name);
        assert_int_equal(m->allow_unfenced_epoch, n->allow_unfenced_epoch);
        b_assert_facts_equal(&m->agent, &n->agent);
    }
    /* And the values are the ones applied, not merely equal on both sides. */
    n = b_node(&copy, "pg1");
    assert_int_equal(n->allow_unfenced_epoch, 1);
    assert_int_equal(n->agent.state, PGQ_AGENT_UP);
    assert_int_equal(n->agent.pm_pid, 0xFFFFFFFF1ull);
    assert_int_equal(n->agent.session, 0xF00000000000000Full);
    assert_int_equal(n->agent.host.net_tx_bps, 5000005);
    assert_int_equal(n->agent.host.cpu_busy_bp, 1234);
    assert_string_equal(n->agent.version, "0.9-test");
    n = b_node(&copy, "pg2");
    assert_int_equal(n->agent.state, PGQ_AGENT_SILENT);
    assert_true(n->agent.unprotected);
    assert_true(n->agent.handover);
    assert_int_equal(n->agent.pg_state, PGQ_PGS_SHUT_DOWN_IN_RECOVERY);
    assert_int_equal(n->agent.stopped_lsn, 0x2345);
    assert_int_not_equal(n->agent.silent_seq, 0);
    assert_int_equal(n->agent.since_ms, 7000);
    n = b_node(&copy, "pg3");
    assert_int_equal(n->agent.rejoin, PGQ_RJ_STARTING);
    assert_string_equal(n->agent.rejoin_detail, "rewound from pg1");
    assert_int_equal(n->agent.rejoin_epoch, 0xA00000001ull);
    assert_int_equal(n->agent.rejoin_ms, 0xB00000002ull);
    assert_int_equal(n->agent.lost_commits, 0xC00000003ull);
    assert_int_equal(n->agent.lost_bytes, 0xD00000004ull);
    assert_true(n->agent.lost_known);
    assert_true(n->agent.streaming);
    state_close(&copy);
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

/* ---- overload: probes shed for want of descriptors ------------------------------------ */

static struct command shed_report(uint64_t t, uint64_t monitor, uint32_t shed)
{
    struct command c = b_cmd_report(t, monitor, NULL, 0);
    c.u.report.has_resources = true;
    c.u.report.probes_shed = shed;
    c.u.report.probes = 60;
    c.u.report.fd_limit = 240;
    c.u.report.fd_needed = 267;
    return c;
}

static void test_shedding_is_an_overload_event(void **ctx)
{
    /* A monitor that begins to shed probes is an overload event naming the numbers; a change
     * of the count is kept without another event; the end of shedding is one more event. */
    struct state *s = *ctx;
    struct command c;
    unsigned events;
    b_healthy(s, 1000, 3, "pg1", 0x1000, NULL, 0);
    b_feature_level(s, 1000);
    c = shed_report(2000, 2, 27);
    b_apply(s, &c);
    assert_int_equal(state_member(s, 2)->probes_shed, 27);
    assert_int_equal(b_event(s, b_n_events(s) - 1)->kind, PGQ_EV_OVERLOAD);
    assert_string_equal(b_event(s, b_n_events(s) - 1)->message,
                        "monitor 2 does not probe 27 of 60 nodes: its open-file limit 240 is "
                        "below the 267 descriptors they need with Raft and the API (raise "
                        "LimitNOFILE); the nodes it sheds are not reported down");
    events = b_n_events(s);
    c = shed_report(3000, 2, 30);
    b_apply(s, &c);
    assert_int_equal(state_member(s, 2)->probes_shed, 30);
    assert_int_equal(b_n_events(s), events);
    c = shed_report(4000, 2, 0);
    b_apply(s, &c);
    assert_int_equal(state_member(s, 2)->probes_shed, 0);
    assert_int_equal(b_event(s, b_n_events(s) - 1)->kind, PGQ_EV_OVERLOAD);
    assert_string_equal(b_event(s, b_n_events(s) - 1)->message,
                        "monitor 2 probes every node again (60; open-file limit 240, 267 needed)");
}

static void test_shedding_needs_level_6(void **ctx)
{
    /* Below feature level 6 a report saying its probes are shed is refused whole: a monitor of
     * the previous version would refuse it too. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, NULL, 0);
    c = shed_report(2000, 2, 27);
    b_refused(s, &c, PGQ_VERSION, "feature level 6");
    assert_int_equal(state_member(s, 2)->probes_shed, 0);
}

/* ---- replication slots --------------------------------------------------------------- */

static void test_slot_name(void **ctx)
{
    /* A node's slot is "pgq_" and its name in lower case, every character outside [a-z0-9_]
     * written '_', cut to a slot name's 63 bytes and to the buffer. */
    static const struct
    {
        const char *node;
        size_t size;
        const char *slot;
    } cases[] = {
        {"pg1", 64, "pgq_pg1"},
        {"PG-1.East", 64, "pgq_pg_1_east"},
        {"db_2", 64, "pgq_db_2"},
        {"Z9", 64, "pgq_z9"},
        {"pg1", 6, "pgq_p"},
        {"pg1", 3, "pg"},
        {"pg1", 1, ""},
        {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0", 128,
         "pgq_abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvw"},
    };
    char buf[128];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        memset(buf, 'X', sizeof buf);
        pgq_slot_name(cases[i].node, buf, cases[i].size);
        assert_string_equal(buf, cases[i].slot);
        assert_true(strlen(buf) < PGQ_SLOT_NAME_MAX);
    }
    buf[0] = 'X';
    pgq_slot_name("pg1", buf, 0);
    assert_int_equal(buf[0], 'X'); /* no room: nothing written */
}

/* Step slots of the cluster's primary at its epoch, for members generation gen. */
static struct command slots_step(const struct state *s, uint64_t t, uint64_t gen, const char *d)
{
    struct command c = b_cmd_step(t, PGQ_STEP_SLOTS, b_cluster(s)->primary, b_cluster(s)->epoch, 0);
    c.u.step.round = gen;
    pgq_strlcpy(c.u.step.detail, d, sizeof c.u.step.detail);
    return c;
}

static void test_slots_members_gen(void **ctx)
{
    /* From feature level 3, every change of the nodes a slot is kept for (a node added or
     * removed, one found to be a twin) bumps members_gen and makes the slots due again; the
     * same registration again changes nothing. Below level 3 nothing of slots changes. */
    struct state *s = *ctx;
    struct cluster *c;
    struct command step;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    c = b_cluster(s);
    b_add(s, 1100, "pg4", 50);
    assert_int_equal(c->members_gen, 0); /* level 1 */
    b_feature_level(s, 1200);
    step = slots_step(s, 1300, 0, "");
    b_apply(s, &step);
    assert_int_equal(c->slots_epoch, 1);
    b_add(s, 1400, "pg5", 50);
    assert_int_equal(c->members_gen, 1);
    assert_int_equal(c->slots_epoch, 0);
    b_add(s, 1500, "pg5", 50); /* a retried registration */
    assert_int_equal(c->members_gen, 1);
    step = slots_step(s, 1600, 1, "");
    b_apply(s, &step);
    b_remove(s, 1700, "pg5");
    assert_int_equal(c->members_gen, 2);
    assert_int_equal(c->slots_epoch, 0);
    step = slots_step(s, 1800, 2, "");
    b_apply(s, &step);
    /* pg4 turns out to be pg1 under another name. */
    {
        struct obs o = b_writable(s, "pg1", 0x1000);
        o.system_id = 77, o.port = 5432, o.addr_hash = 5;
        b_report_by(s, 1900, 1, 3, &o);
        o = b_writable(s, "pg4", 0x1000);
        o.system_id = 77, o.port = 5432, o.addr_hash = 5;
        b_report(s, 1900, 1, &o);
    }
    assert_string_equal(b_node(s, "pg4")->twin_of, "pg1");
    assert_int_equal(c->members_gen, 3);
    assert_int_equal(c->slots_epoch, 0);
}

static void test_slots_step(void **ctx)
{
    /* Step slots is of feature level 3: refused below it (as a monitor that does not know the
     * step refuses it), then accepted only from the primary of the epoch for the current
     * members generation: it sets slots_epoch, and says what it changed as an event (nothing
     * changed, no event). */
    struct state *s = *ctx;
    struct command step;
    unsigned n_events;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    step = slots_step(s, 1100, 0, "");
    b_refused(s, &step, PGQ_VERSION, "command needs feature level 3; the cluster is at level 1");
    b_feature_level(s, 1200);
    step = slots_step(s, 1300, 1, "");
    b_refused(s, &step, PGQ_STALE, "slots of pg1 for members 1 are stale (primary pg1, members 0)");
    step = slots_step(s, 1300, 0, "");
    pgq_strlcpy(step.node, "pg2", sizeof step.node);
    b_refused(s, &step, PGQ_STALE, "slots of pg2 for members 0 are stale");
    step = slots_step(s, 1300, 0, "");
    step.u.step.epoch = 2;
    b_refused(s, &step, PGQ_STALE, "slots step for epoch 2, cluster is at 1");
    n_events = b_n_events(s);
    step = slots_step(s, 1300, 0, "");
    b_apply(s, &step);
    assert_int_equal(b_cluster(s)->slots_epoch, 1);
    assert_int_equal(b_n_events(s), n_events);
    step = slots_step(s, 1400, 0, "made pgq_pg2, pgq_pg3");
    b_apply(s, &step);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SLOT);
    assert_string_equal(last_event(s)->node, "pg1");
    assert_string_equal(last_event(s)->message, "replication slots on pg1: made pgq_pg2, pgq_pg3");
    /* Kept by snapshots. */
    {
        struct state copy;
        state_init(&copy);
        b_copy(&copy, s);
        b_assert_same(s, &copy);
        assert_int_equal(b_cluster(&copy)->slots_epoch, 1);
        state_close(&copy);
    }
}

static void test_slots_lost(void **ctx)
{
    /* A slot the primary lost is an event once, when the first monitor's view of the primary
     * says so, and status sees it on the node; below feature level 3 no view keeps what an
     * observation says of slots. */
    struct state *s = *ctx;
    struct obs o;
    unsigned n_events;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    o = b_writable(s, "pg1", 0x2000);
    pgq_strlcpy(o.lost_slots, "pgq_pg3", sizeof o.lost_slots);
    o.slot_use = PGQ_SLOT_USE_DENIED;
    n_events = b_n_events(s);
    b_report(s, 1100, 1, &o);
    assert_int_equal(b_n_events(s), n_events);
    assert_string_equal(b_node(s, "pg1")->views[0].obs.lost_slots, "");
    assert_int_equal(b_node(s, "pg1")->views[0].obs.slot_use, PGQ_SLOT_USE_UNKNOWN);
    o.slot_use = PGQ_SLOT_USE_UNKNOWN;
    assert_false(cluster_slot_lost(b_cluster(s), b_node(s, "pg3")));

    b_feature_level(s, 1200);
    b_report(s, 1300, 1, &o);
    assert_int_equal(b_n_events(s), n_events + 2); /* the level, the slot */
    assert_int_equal(last_event(s)->kind, PGQ_EV_SLOT);
    assert_string_equal(last_event(s)->node, "pg3");
    assert_string_equal(last_event(s)->message,
                        "slot pgq_pg3 of node pg3 lost: the primary pg1 removed WAL it needed "
                        "(max_slot_wal_keep_size); the node must be re-cloned");
    b_report(s, 1400, 2, &o);
    b_report(s, 1500, 1, &o);
    assert_int_equal(b_n_events(s), n_events + 2);
    assert_true(cluster_slot_lost(b_cluster(s), b_node(s, "pg3")));
    assert_false(cluster_slot_lost(b_cluster(s), b_node(s, "pg2")));
    assert_false(cluster_slot_lost(b_cluster(s), b_node(s, "pg1")));
    /* A standby's observation says nothing of slots that counts. */
    o = b_recovering(s, "pg2", 0x2000);
    pgq_strlcpy(o.lost_slots, "pgq_pg2", sizeof o.lost_slots);
    b_report(s, 1600, 1, &o);
    assert_int_equal(b_n_events(s), n_events + 2);
    assert_false(cluster_slot_lost(b_cluster(s), b_node(s, "pg2")));
    /* Once no view lists it (the slot was dropped), a new loss is a new event. */
    o = b_writable(s, "pg1", 0x3000);
    b_report_by(s, 1700, 1, 3, &o);
    assert_false(cluster_slot_lost(b_cluster(s), b_node(s, "pg3")));
    pgq_strlcpy(o.lost_slots, "pgq_pg3", sizeof o.lost_slots);
    b_report(s, 1800, 3, &o);
    assert_int_equal(b_n_events(s), n_events + 3);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SLOT);
}

static void test_slots_shared_name(void **ctx)
{
    /* Two names differing only in case or punctuation would share a slot: a new one is refused
     * before it is proposed, one already in the log is still accepted, and neither then has a
     * slot. */
    struct state *s = *ctx;
    struct command add;
    struct apply_result res;
    char slot[PGQ_SLOT_NAME_MAX];
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    assert_true(cluster_node_slot(b_cluster(s), b_node(s, "pg2"), slot, sizeof slot));
    assert_string_equal(slot, "pgq_pg2");
    b_add(s, 1050, "db.1", 50);
    add = b_cmd_node_add(1100, B_CLUSTER, "db-1", "host=10.0.9.8", 50);
    assert_int_equal(cluster_check(s, &add, &res), PGQ_EXISTS);
    assert_string_equal(res.message,
                        "node db-1 would share replication slot pgq_db_1 with node db.1: choose a "
                        "name that differs in more than case or punctuation");
    add = b_cmd_node_add(1100, B_CLUSTER, "PG.2", "host=10.0.9.8", 50);
    assert_int_equal(cluster_check(s, &add, &res), 0); /* pgq_pg_2 */
    add = b_cmd_node_add(1100, B_CLUSTER, "PG2", "host=10.0.9.9", 50);
    assert_int_equal(cluster_check(s, &add, &res), PGQ_EXISTS);
    b_apply(s, &add);
    assert_false(cluster_node_slot(b_cluster(s), b_node(s, "pg2"), slot, sizeof slot));
    assert_false(cluster_node_slot(b_cluster(s), b_node(s, "PG2"), slot, sizeof slot));
    assert_true(cluster_node_slot(b_cluster(s), b_node(s, "pg3"), slot, sizeof slot));
}

static void test_slots_denied(void **ctx)
{
    /* A node whose probe says its role may not set primary_slot_name (not a superuser) gets no
     * slot, and the change of that, either way, makes the slots due again; a view that did not
     * reach the node (down) changes nothing of it. */
    struct state *s = *ctx;
    struct cluster *c;
    struct obs o;
    struct command step;
    char slot[PGQ_SLOT_NAME_MAX];
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1100);
    c = b_cluster(s);
    step = slots_step(s, 1200, 0, "");
    b_apply(s, &step);
    o = b_recovering(s, "pg2", 0x1000);
    o.slot_use = PGQ_SLOT_USE_OWN;
    b_report(s, 1300, 1, &o);
    assert_int_equal(c->members_gen, 0);
    assert_true(cluster_node_slot(c, b_node(s, "pg2"), slot, sizeof slot));
    o.slot_use = PGQ_SLOT_USE_DENIED;
    b_report(s, 1400, 1, &o);
    assert_true(node_slot_denied(b_node(s, "pg2")));
    assert_false(cluster_node_slot(c, b_node(s, "pg2"), slot, sizeof slot));
    assert_int_equal(c->members_gen, 1);
    assert_int_equal(c->slots_epoch, 0);
    o = b_unreachable(s, "pg2");
    b_report(s, 1500, 2, &o);
    assert_true(node_slot_denied(b_node(s, "pg2")));
    assert_int_equal(c->members_gen, 1);
    o = b_recovering(s, "pg2", 0x1000);
    o.slot_use = PGQ_SLOT_USE_NONE;
    b_report(s, 1600, 3, &o);
    assert_false(node_slot_denied(b_node(s, "pg2")));
    assert_int_equal(c->members_gen, 2);
    assert_string_equal(pgq_slot_use_name(PGQ_SLOT_USE_DENIED), "denied");
}

/* ---- online membership (Member, level 6) ---------------------------------------- */

/* The event of the Member just applied, by kind. */
static const struct event *membership_event(const struct state *s)
{
    for (unsigned i = b_n_events(s); i-- > 0;) {
        const struct event *e = b_event(s, i);
        if (e->kind == PGQ_EV_MEMBERSHIP) {
            return e;
        }
    }
    fail_msg("no membership event");
    return NULL;
}

static void test_member_steps(void **ctx)
{
    /* Each step of a replace is an event with who asked; the state's voters follow the
     * configuration's, a monitor on its way in is known by its addresses before it votes, and
     * the one replaced stays listed as a non-voter. */
    static const uint64_t three[] = {1, 2, 3}, four[] = {1, 2, 3, 4}, after[] = {2, 3, 4};
    struct state *s = *ctx;
    struct command c;
    const struct event *e;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_feature_level(s, 1100);
    c = b_cmd_member(1900, PGQ_MEMBER_REPLACE, PGQ_MEMBER_ASKED, 4, 1, three, 3);
    b_apply(s, &c);
    b_assert_contains(membership_event(s)->message,
                      "replace of monitor 1 by 4: addition and vote of monitor 4 at 10.0.0.4:7001 "
                      "asked (voters: 1, 2, 3)");
    assert_null(state_member(s, 4)); /* nothing changed yet */
    c = b_cmd_member(2000, PGQ_MEMBER_REPLACE, PGQ_MEMBER_SPARE, 4, 1, three, 3);
    b_apply(s, &c);
    assert_non_null(state_member(s, 4));
    assert_false(state_is_voter(s, 4));
    assert_string_equal(state_member(s, 4)->api_address, "10.0.0.4:7002");
    assert_int_equal(state_n_voters(s), 3);
    e = membership_event(s);
    b_assert_contains(e->message, "replace of monitor 1 by 4: monitor 4 at 10.0.0.4:7001 added");
    assert_string_equal(e->who, "user:admin");
    assert_int_equal(e->action, AUTHZ_MONITOR_CHANGE);
    assert_string_equal(e->outcome, "ok");
    c = b_cmd_member(2100, PGQ_MEMBER_REPLACE, PGQ_MEMBER_STANDBY, 4, 1, three, 3);
    b_apply(s, &c);
    b_assert_contains(membership_event(s)->message, "catches up as a standby");
    c = b_cmd_member(2200, PGQ_MEMBER_REPLACE, PGQ_MEMBER_VOTER, 4, 1, four, 4);
    b_apply(s, &c);
    assert_true(state_is_voter(s, 4));
    assert_int_equal(state_majority(s), 3);
    b_assert_contains(membership_event(s)->message, "votes: 4 voters (1, 2, 3, 4)");
    c = b_cmd_member(2300, PGQ_MEMBER_REPLACE, PGQ_MEMBER_REMOVED, 4, 1, after, 3);
    b_apply(s, &c);
    assert_false(state_is_voter(s, 1));
    assert_non_null(state_member(s, 1));
    assert_int_equal(state_majority(s), 2);
    b_assert_contains(membership_event(s)->message,
                      "monitor 1 removed from the Raft configuration: 3 voters (2, 3, 4)");
    /* A change that stopped says why, and is recorded as failed. */
    c = b_cmd_member(2400, PGQ_MEMBER_ADD, PGQ_MEMBER_FAILED, 5, 0, after, 3);
    pgq_strlcpy(c.u.member.detail, "monitor 5 does not catch up", sizeof c.u.member.detail);
    b_apply(s, &c);
    e = membership_event(s);
    b_assert_contains(e->message, "add of monitor 5 stopped: monitor 5 does not catch up");
    assert_string_equal(e->outcome, "failed");
    assert_false(state_is_voter(s, 5));
}

static void test_member_refused(void **ctx)
{
    /* A Member whose step and voters disagree, or out of range, is refused and changes
     * nothing; below feature level 6 every Member is. */
    static const uint64_t three[] = {1, 2, 3}, four[] = {1, 2, 3, 4}, twice[] = {1, 1, 2};
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, PGQ_MEMBER_SPARE, 4, 0, three, 3);
    b_refused(s, &c, PGQ_VERSION, "needs feature level 6");
    b_feature_level(s, 1100);
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, PGQ_MEMBER_VOTER, 4, 0, three, 3);
    b_refused(s, &c, PGQ_INVALID, "voter 4 is not listed");
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, PGQ_MEMBER_STANDBY, 4, 0, four, 4);
    b_refused(s, &c, PGQ_INVALID, "standby 4 is listed as a voter");
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, PGQ_MEMBER_SPARE, 4, 0, three, 0);
    b_refused(s, &c, PGQ_INVALID, "0 voters");
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, PGQ_MEMBER_SPARE, 4, 0, twice, 3);
    b_refused(s, &c, PGQ_INVALID, "voter 1 listed twice");
    c = b_cmd_member(2000, PGQ_MEMBER_REPLACE, PGQ_MEMBER_SPARE, 4, 0, three, 3);
    b_refused(s, &c, PGQ_INVALID, "bad monitor id");
    c = b_cmd_member(2000, PGQ_MEMBER_REPLACE, PGQ_MEMBER_SPARE, 4, 4, three, 3);
    b_refused(s, &c, PGQ_INVALID, "bad monitor id");
    c = b_cmd_member(2000, 9, PGQ_MEMBER_SPARE, 4, 0, three, 3);
    b_refused(s, &c, PGQ_INVALID, "bad operation");
    c = b_cmd_member(2000, PGQ_MEMBER_ADD, 0, 4, 0, three, 3);
    b_refused(s, &c, PGQ_INVALID, "bad operation");
}

static void test_member_views_follow_voters(void **ctx)
{
    /* Invariant 2 across a change of voters: the verdict is judged again from the new voters'
     * views at the Member entry itself, so a removed monitor's view neither keeps a node down
     * nor up, and a new voter's view counts from its first report. */
    static const uint64_t four[] = {1, 2, 3, 4}, without3[] = {1, 2, 4}, without1[] = {2, 4};
    struct state *s = *ctx;
    struct command c;
    struct obs down;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    b_feature_level(s, 1100);
    down = b_unreachable(s, "pg1");
    b_report_by(s, 2000, 1, 2, &down); /* 1 and 2 see it down, 3 up */
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    /* A fourth voter that has not reported yet: 2 of 4 is no majority. */
    c = b_cmd_member(2100, PGQ_MEMBER_ADD, PGQ_MEMBER_VOTER, 4, 0, four, 4);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
    assert_int_equal(last_event(s)->kind, PGQ_EV_VERDICT);
    b_report(s, 2200, 4, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    /* Monitor 3 saw it up: removed, its view keeps nothing up (3 of 3 down). */
    c = b_cmd_member(2300, PGQ_MEMBER_REMOVE, PGQ_MEMBER_REMOVED, 3, 0, without3, 3);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    /* Monitor 1 saw it down: removed, its view keeps nothing down (1 of 2). */
    c = b_cmd_member(2400, PGQ_MEMBER_REMOVE, PGQ_MEMBER_REMOVED, 1, 0, without1, 2);
    b_apply(s, &c);
    assert_int_equal(state_majority(s), 2);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN); /* 2 and 4: 2 of 2 */
}

/* pg1 seen down by monitors 2 and 3 of 3 (level 6 or not), then a hello
 * of voters 1, 2, 4: monitor 1 sees it up, 4 has not reported. */
static void hello_drops_a_monitor(struct state *s, bool level6)
{
    static const uint64_t without3[] = {1, 2, 4};
    struct command c;
    struct obs down;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    if (level6) {
        b_feature_level(s, 1100);
    }
    down = b_unreachable(s, "pg1");
    b_report_by(s, 2000, 2, 3, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    c = b_cmd_hello(3000, 1, without3, 3);
    b_apply(s, &c);
}

static void test_hello_judges_verdicts_again(void **ctx)
{
    /* At level 6, a new leader's hello that changes the voters (the leader died between a step
     * and its Member) judges every verdict again from the new voters' views. */
    struct state *s = *ctx;
    hello_drops_a_monitor(s, true);
    /* 1 sees it up, 2 down, 4 has not reported: no majority down. */
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
    assert_int_equal(last_event(s)->kind, PGQ_EV_VERDICT);
}

static void test_hello_below_level_6_waits(void **ctx)
{
    /* Below level 6 a hello changes no verdict (a monitor of level 5 would not): the next
     * report of the node does. */
    struct state *s = *ctx;
    struct obs down;
    hello_drops_a_monitor(s, false);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    down = b_unreachable(s, "pg1");
    b_report(s, 3100, 2, &down);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_apply_deterministic),
        T(test_unknown_command),
        T(test_node_add),
        T(test_node_add_repeated),
        T(test_node_add_refused),
        T(test_node_add_checked_before_proposal),
        T(test_node_add_limits),
        T(test_no_ceiling_at_level_6),
        T(test_batch_of_reports),
        T(test_batch_of_registrations),
        T(test_cluster_limit),
        T(test_node_remove),
        T(test_maintenance),
        T(test_maintenance_allow_failover),
        T(test_pause),
        T(test_pause_says_what_is_in_flight),
        T(test_switchover_schedule),
        T(test_switchover_refused),
        T(test_switchover_cancel),
        T(test_switchover_begin),
        T(test_switchover_replaced_by_failover),
        T(test_switchover_cut),
        T(test_switchover_decide),
        T(test_switchover_abandoned),
        T(test_verdict_3_voters),
        T(test_verdict_5_voters),
        T(test_verdict_1_voter),
        T(test_verdict_since),
        T(test_verdict_detection_time),
        T(test_report_due),
        T(test_view_obs_round_trip),
        T(test_sync_standbys_kept),
        T(test_report_non_voter_refused),
        T(test_former_voter_no_longer_counts),
        T(test_report_cluster_and_nodes),
        T(test_view_recorded_per_monitor),
        T(test_view_slots_after_monitor_turnover),
        T(test_hello),
        T(test_hello_refused),
        T(test_hello_replaces_all_voters),
        T(test_member_steps),
        T(test_member_refused),
        T(test_member_views_follow_voters),
        T(test_hello_judges_verdicts_again),
        T(test_hello_below_level_6_waits),
        T(test_time_never_goes_back),
        T(test_events_ring),
        T(test_discovery),
        T(test_decide),
        T(test_decide_needs_current_verdicts),
        T(test_decide_demotes_standbys_ahead),
        T(test_decide_refused),
        T(test_decide_needs_a_primary),
        T(test_steps),
        T(test_steps_refused),
        T(test_rejoin_as_standby),
        T(test_twin_node),
        T(test_twin_never_the_primary),
        T(test_cut),
        T(test_failover_under_way),
        T(test_cut_abandoned),
        T(test_gave_up),
        T(test_diverged_and_stuck),
        T(test_fo_table),
        T(test_cut_report_once_and_floor_kept),
        T(test_obs_alerts),
        T(test_alert_writable),
        T(test_no_alert_before_discovery),
        T(test_blocked),
        T(test_rolling_upgrade),
        T(test_feature_level_voters_only),
        T(test_shedding_is_an_overload_event),
        T(test_shedding_needs_level_6),
        T(test_pause_needs_level_3),
        T(test_hello_reason_needs_level_4),
        T(test_roles_and_grants),
        T(test_who_asked_is_recorded),
        T(test_access_needs_level_5),
        T(test_snapshot_keeps_access),
        T(test_switchover_needs_level_3),
        T(test_agent_report),
        T(test_agent_rejoin_below_level_3),
        T(test_agent_rejoin_events),
        T(test_agent_rejoin_refused),
        T(test_agent_unprotected),
        T(test_agent_unprotected_standby),
        T(test_allow_unfenced),
        T(test_agent_confirms_down),
        T(test_agent_facts_material),
        T(test_agent_snapshot_round_trip),
        T(test_slot_name),
        T(test_slots_members_gen),
        T(test_slots_step),
        T(test_slots_lost),
        T(test_slots_shared_name),
        T(test_slots_denied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
