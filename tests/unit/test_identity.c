/* Unit tests of a node's identity (agent/cluster_identity.c, feature level
 * 5): the PostgreSQL system identifier learned at first sight, another
 * server at a node's address refused (never up, never a candidate, a
 * switchover target nor the primary, never fenced), one event per change,
 * node remove + add relearning it, the snapshot keeping it, and agent facts
 * of another server refused. States are reached through cluster_apply with
 * builders.h; the policy's plans through b_plan. */
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
#include "lease.h"
#include "lib/util.h"
#include "policy.h"

#define ID_A 7317000000000000001ULL /* the cluster's: initdb of pg1, cloned to the standbys */
#define ID_B 7400000000000000002ULL /* a fresh initdb on pg2's port */

/* failover_timeout, max_lag, tilt, view_max_age, cut_timeout */
static const struct policy_config PC = {5000, 1048576, false, 0, 2000};
static const char *const two_standbys[] = {"pg2", "pg3"};

/* What monitors first..last see of node at t: a server of identifier id,
 * writable or in recovery at lsn, on a host of its own (no twin). */
static void seen(struct state *s,
                 uint64_t t,
                 uint64_t first,
                 uint64_t last,
                 const char *node,
                 bool writable,
                 uint64_t lsn,
                 uint64_t id)
{
    struct obs o = writable ? b_writable(s, node, lsn) : b_recovering(s, node, lsn);
    o.system_id = id;
    o.port = 5432;
    o.addr_hash = 100 + (uint64_t)(unsigned char)node[strlen(node) - 1];
    b_report_by(s, t, first, last, &o);
}

static unsigned identity_events(const struct state *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b_n_events(s); i++) {
        n += b_event(s, i)->kind == PGQ_EV_IDENTITY;
    }
    return n;
}

static const struct event *last_identity_event(const struct state *s)
{
    for (unsigned i = b_n_events(s); i-- > 0;) {
        if (b_event(s, i)->kind == PGQ_EV_IDENTITY) {
            return b_event(s, i);
        }
    }
    fail_msg("no identity event");
    return NULL;
}

/* A healthy cluster at level 5 (pg1 primary, pg2 and pg3 standbys) whose
 * nodes every monitor saw with the cluster's identifier. */
static void identify(struct state *s)
{
    b_feature_level(s, 1100);
    seen(s, 1200, 1, 3, "pg1", true, 0x1000, ID_A);
    seen(s, 1200, 1, 3, "pg2", false, 0x1000, ID_A);
    seen(s, 1200, 1, 3, "pg3", false, 0x1000, ID_A);
}

static void identified_cluster(struct state *s)
{
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    identify(s);
}

/* Every monitor finds a freshly initdb'd server at pg2's address: writable,
 * and further than anyone (its own WAL). */
static void impostor_at_pg2(struct state *s, uint64_t t)
{
    seen(s, t, 1, 3, "pg2", true, 0x900000, ID_B);
}

static void test_learned_at_first_sight(void **ctx)
{
    /* A node's identity is the system identifier of the first committed observation that
     * tells one, with one event; the same again says nothing more; below level 5 nothing is
     * learned (older monitors know no identity). */
    struct state *s = *ctx;
    struct state old;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    state_init(&old);
    b_copy(&old, s);
    b_feature_level(s, 1100);
    assert_int_equal(b_node(s, "pg2")->system_id, 0);
    seen(s, 1200, 1, 1, "pg2", false, 0x1000, ID_A);
    assert_true(b_node(s, "pg2")->system_id == ID_A);
    assert_int_equal(identity_events(s), 1);
    assert_string_equal(last_identity_event(s)->message,
                        "node pg2 is PostgreSQL system identifier 7317000000000000001 (learned "
                        "from a monitor's probe)");
    assert_string_equal(last_identity_event(s)->node, "pg2");
    seen(s, 1300, 1, 3, "pg2", false, 0x1000, ID_A);
    assert_int_equal(identity_events(s), 1);
    assert_false(node_impostor(b_node(s, "pg2")));

    seen(&old, 1200, 1, 3, "pg2", false, 0x1000, ID_A);
    assert_int_equal(b_node(&old, "pg2")->system_id, 0);
    assert_int_equal(identity_events(&old), 0);
    state_close(&old);
}

static void test_another_server_refused(void **ctx)
{
    /* A server of another system identifier at a node's address is not the node: each
     * observation of it is committed as the node unreachable, with the reason; it is down by
     * verdict, never fenced for being writable, and one event says so, not one per report. */
    struct state *s = *ctx;
    const struct node *n;
    const struct view *v;
    struct obs o;
    identified_cluster(s);
    unsigned before = identity_events(s);
    seen(s, 2000, 1, 1, "pg2", true, 0x900000, ID_B);
    n = b_node(s, "pg2");
    v = node_latest_view(n);
    assert_false(v->obs.reachable);
    assert_string_equal(v->obs.error,
                        "system identifier 7400000000000000002, expected 7317000000000000001: "
                        "another server answers at this address");
    assert_true(node_impostor(n));
    assert_int_equal(identity_events(s), before + 1);
    b_assert_contains(last_identity_event(s)->message,
                      "node pg2: system identifier 7400000000000000002, expected "
                      "7317000000000000001: another server answers for it; not trusted, never "
                      "promoted");
    impostor_at_pg2(s, 2100);
    impostor_at_pg2(s, 2200);
    assert_int_equal(identity_events(s), before + 1);
    n = b_node(s, "pg2");
    assert_int_equal(n->verdict, PGQ_VERDICT_DOWN);
    assert_true(n->system_id == ID_A); /* the identity stays the node's */
    assert_false(n->alert_writable);
    o = b_writable(s, "pg2", 0x900000);
    o.system_id = ID_B;
    assert_false(state_obs_alerts(s, B_CLUSTER, &o));
    assert_false(node_rogue(b_cluster(s), n, &o));
    assert_true(state_obs_refused(s, B_CLUSTER, &o)); /* re-reported every interval */
    o.system_id = ID_A;
    assert_false(state_obs_refused(s, B_CLUSTER, &o));
}

static void test_impostor_never_candidate(void **ctx)
{
    /* After the primary fails, the standby whose address answers with another system
     * identifier (and the most WAL of all) is never chosen: the real standby is; a decision
     * for it is refused by apply; it is no switchover target either. */
    struct state *s = *ctx;
    struct command c;
    char why[PGQ_REASON_MAX];
    struct agent_facts f = b_agent_facts(true);
    identified_cluster(s);
    f.system_id = ID_A;
    b_agent(s, 1900, "pg1", &f); /* a switchover stops the primary through its agent */
    impostor_at_pg2(s, 2000);
    switchover_unfit(b_cluster(s), "pg2", why, sizeof why);
    assert_string_equal(why, "another server answers for pg2 (system identifier)");
    f = b_agent_facts(false);
    f.fenced = true;
    f.system_id = ID_A;
    b_agent(s, 3000, "pg1", &f); /* its agent fenced it: no lease to wait for */
    b_primary_down(s, 3000);
    assert_true(b_plan(s, &PC, 9000, &c));
    assert_int_equal(c.kind, CMD_CUT);
    c.time_ms = 9000;
    b_apply(s, &c);
    b_cut_standbys(s, 9000);
    assert_true(b_plan(s, &PC, 9000, &c));
    if (c.kind != CMD_DECIDE) {
        fail_msg("command %d: %s", c.kind, c.u.blocked.reason);
    }
    assert_string_equal(c.node, "pg3");
    pgq_strlcpy(c.node, "pg2", sizeof c.node);
    b_refused(s, &c, PGQ_REFUSED, "node pg2 cannot be promoted: another server answers for it");
}

static void test_impostor_alone_blocks(void **ctx)
{
    /* With the impostor as the only standby, the primary's failure fails over to nobody, and
     * the blocked reason names it. */
    struct state *s = *ctx;
    struct command c;
    static const char *const one_standby[] = {"pg2"};
    b_healthy(s, 1000, 3, "pg1", 0x1000, one_standby, 1);
    identify(s);
    impostor_at_pg2(s, 2000);
    b_primary_down(s, 3000);
    assert_true(b_plan(s, &PC, 9000, &c));
    assert_int_equal(c.kind, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "no eligible standby: pg2: another server answers at its address (system "
                        "identifier)");
}

static void test_impostor_never_discovered_primary(void **ctx)
{
    /* A new cluster's first writable node becomes the primary by discovery, but not while
     * another server answers at its address: nothing is proposed, and the role is refused. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_feature_level(s, 1000);
    b_add(s, 1000, "pg1", 50);
    seen(s, 1100, 1, 3, "pg1", false, 0x1000, ID_A); /* seen first in recovery */
    seen(s, 1200, 1, 3, "pg1", true, 0x2000, ID_B);
    assert_true(node_impostor(b_node(s, "pg1")));
    assert_false(b_plan(s, &PC, 1300, &c) && c.kind == CMD_SET_ROLE);
    c = b_cmd_set_role(1300, "pg1", PGQ_ROLE_PRIMARY, 0);
    b_refused(s, &c, PGQ_REFUSED, "node pg1 cannot be made primary: another server answers");
}

static void test_own_server_again_one_event(void **ctx)
{
    /* The node's own server back at its address (the impostor stopped, the standby started
     * again) ends the refusal once no monitor's view is of the other server: one event. */
    struct state *s = *ctx;
    unsigned before;
    identified_cluster(s);
    impostor_at_pg2(s, 2000);
    before = identity_events(s);
    seen(s, 3000, 1, 2, "pg2", false, 0x1000, ID_A);
    assert_true(node_impostor(b_node(s, "pg2")));
    assert_int_equal(identity_events(s), before);
    seen(s, 3000, 3, 3, "pg2", false, 0x1000, ID_A);
    assert_false(node_impostor(b_node(s, "pg2")));
    assert_int_equal(identity_events(s), before + 1);
    assert_string_equal(last_identity_event(s)->message,
                        "node pg2 answers with its own system identifier 7317000000000000001 "
                        "again");
    assert_int_equal(b_node(s, "pg2")->verdict, PGQ_VERDICT_UP);
}

static void test_remove_add_relearns(void **ctx)
{
    /* An operator who rebuilt a node from scratch (a new initdb) removes and adds it again:
     * the new node learns the new identifier and is trusted. */
    struct state *s = *ctx;
    const struct node *n;
    identified_cluster(s);
    impostor_at_pg2(s, 2000);
    b_remove(s, 3000, "pg2");
    b_add(s, 3100, "pg2", 50);
    assert_int_equal(b_node(s, "pg2")->system_id, 0);
    seen(s, 3200, 1, 3, "pg2", false, 0x1000, ID_B);
    n = b_node(s, "pg2");
    assert_true(n->system_id == ID_B);
    assert_false(node_impostor(n));
    assert_true(node_latest_view(n)->obs.reachable);
    assert_int_equal(n->verdict, PGQ_VERDICT_UP);
}

static void test_snapshot_keeps_identity(void **ctx)
{
    /* The identity, the refused views and a refused agent's identifier survive a snapshot:
     * a monitor restored from it refuses the same server. */
    struct state *s = *ctx;
    struct state copy;
    struct agent_facts f = b_agent_facts(true);
    identified_cluster(s);
    impostor_at_pg2(s, 2000);
    f.system_id = ID_B;
    b_agent(s, 2100, "pg3", &f);
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    assert_true(b_node(&copy, "pg1")->system_id == ID_A);
    assert_true(b_node(&copy, "pg3")->agent.system_id == ID_B);
    assert_true(node_impostor(b_node(&copy, "pg2")));
    assert_true(node_impostor(b_node(&copy, "pg3")));
    state_close(&copy);
}

static void test_agent_facts_of_another_server(void **ctx)
{
    /* An agent whose PostgreSQL has another system identifier speaks of another server: its
     * facts are not committed, only the identifier (one event, not one per heartbeat); the
     * node is refused as for a monitor's view, its primary is granted no lease; its own
     * identifier again is believed again (one event). Below level 5 the field is refused. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    unsigned before;
    c = b_cmd_agent(1000, "pg1", &f);
    c.u.agent.system_id = ID_A;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_refused(s, &c, PGQ_VERSION, "command needs feature level 5");
    identify(s);
    f.system_id = ID_A;
    b_agent(s, 2000, "pg1", &f);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    before = identity_events(s);
    f.system_id = ID_B;
    f.pm_pid = 999;
    f.timeline = 7;
    b_agent(s, 2100, "pg1", &f);
    b_agent(s, 2200, "pg1", &f);
    assert_int_equal(identity_events(s), before + 1);
    assert_int_equal(b_node(s, "pg1")->agent.pm_pid, 4242);
    assert_int_equal(b_node(s, "pg1")->agent.timeline, 1);
    assert_true(node_impostor(b_node(s, "pg1")));
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    f.system_id = ID_A;
    b_agent(s, 2300, "pg1", &f);
    assert_false(node_impostor(b_node(s, "pg1")));
    assert_int_equal(b_node(s, "pg1")->agent.pm_pid, 999);
    assert_int_equal(identity_events(s), before + 2);
}

static void test_agent_learns_first(void **ctx)
{
    /* An agent that tells its identifier before any monitor reached the node teaches it; a
     * monitor that then reaches another server there refuses it. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(false);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1100);
    f.system_id = ID_A;
    b_agent(s, 1200, "pg2", &f);
    assert_true(b_node(s, "pg2")->system_id == ID_A);
    b_assert_contains(last_identity_event(s)->message, "(learned from its agent)");
    impostor_at_pg2(s, 1300);
    assert_true(node_impostor(b_node(s, "pg2")));
}

static void test_agent_identity_below_level_5(void **ctx)
{
    /* Below level 5 (a rolling upgrade under way) the leader keeps no agent's system
     * identifier: a heartbeat that tells one is not a change from what is committed, and
     * nothing it proposes carries it. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    for (uint64_t m = 1; m <= 3; m++) {
        c = b_cmd_report(1100, m, NULL, 0);
        c.u.report.feature_level = PGQ_FEATURE_LEVEL;
        b_apply(s, &c);
    }
    c = b_cmd_feature(1100, 4);
    b_apply(s, &c);
    b_agent(s, 1200, "pg1", &f);
    lease_book_init(&b, 10000, 500);
    f.system_id = ID_A;
    assert_true(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 2000, &(struct lease_reply){0}));
    assert_false(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 2100, &(struct lease_reply){0}));
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->facts.system_id, 0);
    lease_book_close(&b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)
    const struct CMUnitTest tests[] = {
        T(test_learned_at_first_sight),
        T(test_another_server_refused),
        T(test_impostor_never_candidate),
        T(test_impostor_alone_blocks),
        T(test_impostor_never_discovered_primary),
        T(test_own_server_again_one_event),
        T(test_remove_add_relearns),
        T(test_snapshot_keeps_identity),
        T(test_agent_facts_of_another_server),
        T(test_agent_learns_first),
        T(test_agent_identity_below_level_5),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
