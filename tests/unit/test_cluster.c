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

#include "builders.h"
#include "cluster.h"
#include "lib/util.h"
#include "policy.h"

static const char *const two_standbys[] = {"pg2", "pg3"};

/* The last event, or fail. */
static const struct event *last_event(const struct state *s)
{
    const struct event *e = state_event(s, s->n_events - 1);
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
    /* A cluster holds at most PGQ_MAX_NODES nodes; the next one is PGQ_LIMIT. */
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

static void test_cluster_limit(void **ctx)
{
    /* At most PGQ_MAX_CLUSTERS clusters exist; a node for one more is PGQ_LIMIT. */
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
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
        for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
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
    /* The history keeps the last PGQ_MAX_EVENTS events, oldest first, and survives a snapshot. */
    struct state *s = *ctx;
    struct state copy;
    uint64_t total;
    b_healthy(s, 1000, 3, "pg1", 100, two_standbys, 2);
    for (unsigned i = 0; i < PGQ_MAX_EVENTS + 123; i++) {
        b_maintenance(s, 2000 + i, "pg2", i % 2 == 0);
    }
    total = s->event_seq;
    assert_true(total > PGQ_MAX_EVENTS);
    assert_int_equal(s->n_events, PGQ_MAX_EVENTS);
    assert_int_equal(state_event(s, 0)->seq, total - PGQ_MAX_EVENTS + 1);
    assert_int_equal(state_event(s, PGQ_MAX_EVENTS - 1)->seq, total);
    assert_null(state_event(s, PGQ_MAX_EVENTS));
    for (unsigned i = 1; i < PGQ_MAX_EVENTS; i++) {
        assert_int_equal(state_event(s, i)->seq, state_event(s, i - 1)->seq + 1);
        assert_true(state_event(s, i)->time_ms >= state_event(s, i - 1)->time_ms);
    }
    /* A restored state (ring rewound) goes on exactly like the original. */
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    b_maintenance(s, 9000, "pg3", true);
    b_maintenance(&copy, 9000, "pg3", true);
    b_assert_same(s, &copy);
    assert_string_equal(state_event(&copy, PGQ_MAX_EVENTS - 1)->message,
                        "maintenance on for node pg3");
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
    assert_int_equal(policy_actions(s, a, PGQ_ARRAY_SIZE(a)), 0); /* primary down: nothing */
    up = b_writable(s, "pg1", 100);
    b_report_by(s, 4000, 1, 2, &up);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_int_equal(b_cluster(s)->epoch, 1);
    b_assert_contains(last_event(s)->message,
                      "failover of pg1 abandoned before a standby was chosen: it is up again; the "
                      "standbys cut off it follow it again");
    assert_int_equal(policy_actions(s, a, PGQ_ARRAY_SIZE(a)), 2);
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
    events = s->n_events;
    b_apply(s, &cmd); /* once */
    assert_int_equal(s->n_events, events);
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
    assert_int_equal(state_event(s, s->n_events - 2)->kind, PGQ_EV_ALERT);
    b_assert_contains(state_event(s, s->n_events - 2)->message,
                      "node pg1b is the same PostgreSQL server as node pg1 (system identifier "
                      "7317000000000000001, port 5432): it is ignored");
    b_report_by(s, 1400, 1, 3, &o);
    assert_false(b_node(s, "pg1b")->alert_writable);
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    assert_int_equal(policy_actions(s, a, PGQ_ARRAY_SIZE(a)), 0);
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
        char msg[128];
        snprintf(msg, sizeof msg, "feature level %d is unknown to this monitor (it supports %d)",
                 PGQ_FEATURE_LEVEL + 1, PGQ_FEATURE_LEVEL);
        b_refused(s, &feature, PGQ_VERSION, msg);
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
     * over, lease, postmaster, session, timeline, recovery); positions, host metrics, the
     * version and the leader's stamps are not. */
    static const struct
    {
        const char *field;
        bool material;
    } cases[] = {
        {"state", true},        {"pm_alive", true},    {"answering", true}, {"pg_state", true},
        {"timeline", true},     {"in_recovery", true}, {"fenced", true},    {"handover", true},
        {"lease", true},        {"pm_pid", true},      {"session", true},   {"lsn", false},
        {"host", false},        {"since_ms", false},   {"facts_ms", false}, {"version", false},
        {"unprotected", false}, {"silent_seq", false},
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
    /* A snapshot keeps every agent fact (host metrics too), the silence and whether it left a
     * node unprotected, the operator's allowance, the feature level and what each monitor
     * announced. */
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
    f = b_agent_facts(false);
    f.in_recovery = true;
    f.fenced = true;
    f.handover = true;
    f.pg_state = PGQ_PGS_SHUT_DOWN_IN_RECOVERY;
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
    assert_int_not_equal(n->agent.silent_seq, 0);
    assert_int_equal(n->agent.since_ms, 7000);
    assert_int_equal(b_node(&copy, "pg3")->agent.state, PGQ_AGENT_NONE);
    state_close(&copy);
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

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
        T(test_cluster_limit),
        T(test_node_remove),
        T(test_maintenance),
        T(test_verdict_3_voters),
        T(test_verdict_5_voters),
        T(test_verdict_1_voter),
        T(test_verdict_since),
        T(test_verdict_detection_time),
        T(test_report_due),
        T(test_sync_standbys_kept),
        T(test_report_non_voter_refused),
        T(test_former_voter_no_longer_counts),
        T(test_report_cluster_and_nodes),
        T(test_view_recorded_per_monitor),
        T(test_view_slots_after_monitor_turnover),
        T(test_hello),
        T(test_hello_refused),
        T(test_hello_replaces_all_voters),
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
        T(test_agent_report),
        T(test_agent_unprotected),
        T(test_agent_unprotected_standby),
        T(test_allow_unfenced),
        T(test_agent_confirms_down),
        T(test_agent_facts_material),
        T(test_agent_snapshot_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
