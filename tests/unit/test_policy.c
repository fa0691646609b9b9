/* Unit tests of agent/policy.c: the candidate choice, the next command the
 * leader proposes and the actions it carries out, as pure functions of the
 * state and the time passed in. Table-driven in the manner of dqlite's
 * RolesComputeChanges tests: BEFORE (a state reached through cluster_apply
 * with builders.h), COMPUTE (the policy function), AFTER (the plan). */
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

/* failover_timeout, max_lag, tilt, view_max_age, cut_timeout */
static const struct policy_config PC = {5000, 1048576, false, 0, 2000};
static const char *const two_standbys[] = {"pg2", "pg3"};

/* ---- helpers ---------------------------------------------------------------------- */

/* Monitors first..last see the primary pg1 unreachable at t. */
static void lose_primary(struct state *s, uint64_t t, uint64_t first, uint64_t last)
{
    struct obs down = b_unreachable(s, "pg1");
    b_report_by(s, t, first, last, &down);
}

/* Every voter probes a standby anew (basis_seq = now) at lsn. */
static void reprobe(struct state *s, uint64_t t, const char *node, uint64_t lsn)
{
    struct obs o = b_recovering(s, node, lsn);
    b_report_by(s, t, 1, state_n_voters(s), &o);
}

static bool next_with(const struct state *s,
                      const struct policy_config *pc,
                      uint64_t now,
                      struct command *out)
{
    return b_plan(s, pc, now, out); /* the policy only plans: the state is untouched */
}

static bool next(const struct state *s, uint64_t now, struct command *out)
{
    return next_with(s, &PC, now, out);
}

#define HELD_NOT_FRESH                                                                      \
    "held: fewer than a majority of monitors have seen the primary down since the current " \
    "leader took over"

static void expect_none_with(const struct state *s, const struct policy_config *pc, uint64_t now)
{
    struct command c;
    if (next_with(s, pc, now, &c)) {
        fail_msg(
            "at %llu: unexpected command kind %d node \"%s\" (blocked \"%s\", decide "
            "reason \"%s\")",
            (unsigned long long)now, c.kind, c.node, c.u.blocked.reason, c.u.decide.reason);
    }
}

static void expect_none(const struct state *s, uint64_t now)
{
    expect_none_with(s, &PC, now);
}

static struct command expect_cmd_with(const struct state *s,
                                      const struct policy_config *pc,
                                      uint64_t now,
                                      int kind)
{
    struct command c;
    if (!next_with(s, pc, now, &c)) {
        fail_msg("at %llu: no command, want kind %d", (unsigned long long)now, kind);
    }
    if (c.kind != kind) {
        fail_msg("at %llu: command kind %d node \"%s\", want kind %d", (unsigned long long)now,
                 c.kind, c.node, kind);
    }
    assert_string_equal(c.cluster, B_CLUSTER);
    return c;
}

static struct command expect_cmd(const struct state *s, uint64_t now, int kind)
{
    return expect_cmd_with(s, &PC, now, kind);
}

static void expect_blocked(const struct state *s, uint64_t now, const char *reason)
{
    struct command c = expect_cmd(s, now, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, reason);
}

/* The leader's way to a failover: at now it proposes the cut of the primary, which is
 * committed; every standby that is up reports its position after it; the next command it
 * proposes is returned. */
static struct command cut_then_next(struct state *s, uint64_t now, int kind)
{
    struct command c = expect_cmd(s, now, CMD_CUT);
    assert_int_equal(c.u.cut.epoch, b_cluster(s)->epoch);
    assert_string_equal(c.u.cut.old_primary, b_cluster(s)->primary);
    c.time_ms = now; /* as the leader stamps it */
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_CUTTING);
    b_cut_standbys(s, now);
    return expect_cmd(s, now, kind);
}

/* ---- policy_choose: the table -------------------------------------------------------- */

enum { S_DOWN = 1, S_STALE = 2, S_MAINT = 4 };

struct standby_row
{
    const char *name;
    unsigned priority;
    uint64_t lsn;
    unsigned flags; /* S_DOWN: reported unreachable after the failure; S_STALE: up, but
                     * not cut off the primary; S_MAINT: in maintenance */
};

struct choose_case
{
    const char *behaviour;
    uint64_t primary_lsn; /* last position of pg1, still seen by monitor 3 */
    struct standby_row standbys[4];
    uint64_t max_lag;
    const char *chosen; /* NULL: none */
    const char *reason; /* the whole reason */
};

static void run_choose_case(const struct choose_case *k)
{
    struct policy_config pc = {5000, k->max_lag};
    struct state s;
    struct choice ch;
    unsigned n = 0;
    state_init(&s);

    /* BEFORE: pg1 primary and the standbys at their positions, seen by 3 voters. */
    b_hello(&s, 1000, 1, 3);
    b_add(&s, 1000, "pg1", 50);
    for (; n < PGQ_ARRAY_SIZE(k->standbys) && k->standbys[n].name != NULL; n++) {
        b_add(&s, 1000, k->standbys[n].name, k->standbys[n].priority);
    }
    {
        struct obs o = b_writable(&s, "pg1", k->primary_lsn);
        b_report_by(&s, 1100, 1, 3, &o);
    }
    for (unsigned i = 0; i < n; i++) {
        reprobe(&s, 1100, k->standbys[i].name, k->standbys[i].lsn);
    }
    b_set_role(&s, 1200, "pg1", PGQ_ROLE_PRIMARY);
    for (unsigned i = 0; i < n; i++) {
        b_set_role(&s, 1200, k->standbys[i].name, PGQ_ROLE_STANDBY);
        if (k->standbys[i].flags & S_MAINT) {
            b_maintenance(&s, 1200, k->standbys[i].name, true);
        }
    }
    /* The primary fails for monitors 1 and 2; the standbys are cut off it and report their
     * positions, but those down and those not cut (S_STALE). */
    lose_primary(&s, 2000, 1, 2);
    assert_int_equal(b_node(&s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    for (unsigned i = 0; i < n; i++) {
        if (k->standbys[i].flags & S_DOWN) {
            struct obs o = b_unreachable(&s, k->standbys[i].name);
            b_report_by(&s, 2100, 1, 3, &o);
        }
    }
    b_cut(&s, 2200);
    for (unsigned i = 0; i < n; i++) {
        if (!(k->standbys[i].flags & (S_DOWN | S_STALE))) {
            b_cut_step(&s, 2300, k->standbys[i].name, k->standbys[i].lsn);
        }
    }

    /* COMPUTE */
    policy_choose(&s, b_cluster(&s), &pc, &ch);

    /* AFTER */
    if (k->chosen == NULL && ch.node != NULL) {
        fail_msg("%s\n  chose %s, want none (%s)", k->behaviour, ch.node->name, ch.reason);
    }
    if (k->chosen != NULL && (ch.node == NULL || strcmp(ch.node->name, k->chosen) != 0)) {
        fail_msg("%s\n  chose %s, want %s (%s)", k->behaviour,
                 ch.node != NULL ? ch.node->name : "none", k->chosen, ch.reason);
    }
    if (strcmp(ch.reason, k->reason) != 0) {
        fail_msg("%s\n  reason \"%s\"\n  want   \"%s\"", k->behaviour, ch.reason, k->reason);
    }
    if (ch.node != NULL) {
        for (unsigned i = 0; i < n; i++) {
            if (strcmp(k->standbys[i].name, k->chosen) == 0) {
                assert_int_equal(ch.lsn, k->standbys[i].lsn);
            }
        }
    }
    state_close(&s);
}

static void test_choose_table(void **ctx)
{
    /* The candidate is the most advanced eligible standby cut off the primary, within max_lag,
     * then priority, then name. */
    static const struct choose_case cases[] = {
        {"The most advanced fresh standby wins.",
         0x5000,
         {{"pga", 50, 0x4000, 0}, {"pgb", 50, 0x5000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 50"},
        {"On equal positions the higher priority wins.",
         0x5000,
         {{"pga", 50, 0x5000, 0}, {"pgb", 90, 0x5000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 90"},
        {"On equal positions and priorities the first name wins.",
         0x5000,
         {{"pgb", 50, 0x5000, 0}, {"pga", 50, 0x5000, 0}, {"pgc", 50, 0x5000, 0}},
         1048576,
         "pga",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 50"},
        {"Priority does not beat a more advanced position.",
         0x5000,
         {{"pga", 100, 0x4000, 0}, {"pgb", 1, 0x5000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 1"},
        {"A standby of priority 0 is never promoted, even when most advanced.",
         0x5000,
         {{"pga", 0, 0x9000, 0}, {"pgb", 50, 0x8000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/8000 (most advanced known 0/9000), priority 50"},
        {"A standby in maintenance is never promoted.",
         0x5000,
         {{"pga", 50, 0x9000, S_MAINT}, {"pgb", 50, 0x8000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/8000 (most advanced known 0/9000), priority 50"},
        {"A standby down by verdict is never promoted.",
         0x5000,
         {{"pga", 50, 0x9000, S_DOWN}, {"pgb", 50, 0x4000, 0}},
         1048576,
         "pgb",
         "most advanced eligible standby at 0/4000 (most advanced known 0/5000), priority 50"},
        {"With only ineligible standbys nothing is promoted, and each one's reason is given.",
         0x5000,
         {{"pga", 0, 0x5000, 0}, {"pgb", 50, 0x5000, S_MAINT}, {"pgc", 50, 0x5000, S_DOWN}},
         1048576,
         NULL,
         "no eligible standby: pga: priority 0; pgb: in maintenance; pgc: down"},
        {"A standby further behind the primary's last position than max_lag is excluded.",
         0x300000,
         {{"pga", 50, 0x100000, 0}},
         1048576,
         NULL,
         "no eligible standby: pga: lag 2097152 bytes > max_lag_on_failover 1048576"},
        {"A lag of exactly max_lag is allowed.",
         0x200000,
         {{"pga", 50, 0x100000, 0}},
         1048576,
         "pga",
         "most advanced eligible standby at 0/100000 (most advanced known 0/200000), priority 50"},
        {"Lag counts from the most advanced standby when it is ahead of the primary.",
         0x1000,
         {{"pga", 0, 0x300000, 0}, {"pgb", 50, 0x100000, 0}},
         1048576,
         NULL,
         "no eligible standby: pga: priority 0; pgb: lag 2097152 bytes > max_lag_on_failover "
         "1048576"},
        {"A standby in maintenance still counts as the most advanced position known.",
         0x1000,
         {{"pga", 50, 0x300000, S_MAINT}, {"pgb", 50, 0x100000, 0}, {"pgc", 50, 0x2F0000, 0}},
         1048576,
         "pgc",
         "most advanced eligible standby at 0/2F0000 (most advanced known 0/300000), priority 50"},
        {"With max_lag 0 only a standby at the most advanced position qualifies.",
         0x5000,
         {{"pga", 90, 0x4FFF, 0}, {"pgb", 10, 0x5000, 0}},
         0,
         "pgb",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 10"},
        {"A standby not cut off the primary is no candidate.",
         0x5000,
         {{"pga", 50, 0x5000, 0}, {"pgb", 90, 0x5000, S_STALE}},
         1048576,
         "pga",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 50"},
        {"A standby not cut off the primary is no candidate, however far it was, but what it "
         "held counts as written by the primary.",
         0x5000,
         {{"pga", 50, 0x4000, 0}, {"pgb", 50, 0x120000, S_STALE}, {"pgc", 0, 0x1, S_STALE}},
         1048576,
         NULL,
         "no eligible standby: pgb: not cut off pg1; pgc: not cut off pg1; pga: lag 1163264 "
         "bytes > max_lag_on_failover 1048576"},
        {"A standby down by verdict is not waited for.",
         0x5000,
         {{"pga", 50, 0x5000, 0}, {"pgb", 50, 0x9000, S_DOWN}},
         1048576,
         "pga",
         "most advanced eligible standby at 0/5000 (most advanced known 0/5000), priority 50"},
        {"Without standbys nothing is promoted.",
         0x5000,
         {{NULL, 0, 0, 0}},
         1048576,
         NULL,
         "no eligible standby"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        run_choose_case(&cases[i]);
    }
}

static void test_fresh_position(void **ctx)
{
    /* A standby's fresh position is the most advanced of the views probed since the given seq. */
    struct state *s = *ctx;
    struct obs o;
    const struct node *n;
    uint64_t lsn = 1, seq;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    o = b_recovering(s, "pg2", 0x9000); /* monitor 3: high but old */
    b_report(s, 1100, 3, &o);
    seq = s->seq + 1;
    o = b_recovering(s, "pg2", 0x5000);
    o.basis_seq = seq;
    b_report(s, 1200, 1, &o);
    o = b_recovering(s, "pg2", 0x6000);
    o.replay_lsn = 0x5500; /* receive ahead of replay: the received position counts */
    o.basis_seq = seq;
    b_report(s, 1300, 2, &o);
    n = b_node(s, "pg2");
    assert_true(node_fresh_position(n, seq, &lsn));
    assert_int_equal(lsn, 0x6000);
    assert_true(node_fresh_position(n, 0, &lsn));
    assert_int_equal(lsn, 0x9000);
    assert_false(node_fresh_position(n, seq + 1, &lsn));
    assert_int_equal(lsn, 0);
    /* A writable or unreachable view has no standby position. */
    assert_false(node_fresh_position(b_node(s, "pg1"), 0, &lsn));
}

static void test_fresh_down(void **ctx)
{
    /* Only views of the current leader generation count toward a fresh down verdict. */
    struct state *s = *ctx;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
    lose_primary(s, 2000, 1, 1);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
    lose_primary(s, 2000, 2, 2);
    assert_true(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
    b_hello(s, 3000, 2, 3);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
    lose_primary(s, 3100, 3, 3);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
    lose_primary(s, 3200, 1, 1);
    assert_true(policy_fresh_down(s, b_node(s, "pg1"), &PC, 0));
}

/* ---- policy_next_command ------------------------------------------------------------------ */

/* BEFORE for the failover tests: pg1 primary, pg2 and pg3 standbys at 0x1000
 * with n_voters voters; the first n_down voters lose pg1 at 10000 and every
 * voter probes the standbys again (pg2 ahead of pg3). */
static void failed_primary(struct state *s, unsigned n_voters, unsigned n_down)
{
    b_healthy(s, 1000, n_voters, "pg1", 0x1000, two_standbys, 2);
    lose_primary(s, 10000, 1, n_down);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x0F00);
}

/* pg1 failed; pg2 decided at 15000 and promoted (timeline 2) at 16000. */
static void promoted_pg2(struct state *s)
{
    failed_primary(s, 3, 2);
    b_decide(s, 15000, "pg2");
    b_step(s, 16000, PGQ_STEP_PROMOTED, "pg2", 2);
}

static void test_decision_after_failover_timeout(void **ctx)
{
    /* No failover before failover_timeout from the down verdict; at and after it, the cut of the
     * primary, then, once every standby that is up reported its position after the cut, one
     * decision among them. */
    static const struct
    {
        uint64_t now;
        bool decide;
    } cases[] = {{0, false},    {9999, false}, {10000, false}, {14999, false},
                 {15000, true}, {15001, true}, {99999, true}};
    struct state *s = *ctx;
    failed_primary(s, 3, 2);
    assert_int_equal(b_node(s, "pg1")->verdict_since_ms, 10000);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        if (!cases[i].decide) {
            expect_none(s, cases[i].now);
            continue;
        }
        {
            struct command c = expect_cmd(s, cases[i].now, CMD_CUT);
            assert_int_equal(c.u.cut.epoch, 1);
            assert_string_equal(c.u.cut.old_primary, "pg1");
            assert_int_equal(c.u.cut.down_ms, 10000);
        }
    }
    /* The cut proposed is one the state accepts; the decision waits for the standbys' positions
     * after it, and is one the state accepts. */
    {
        struct command c = expect_cmd(s, 15000, CMD_CUT);
        c.time_ms = 15000;
        b_apply(s, &c);
    }
    expect_none(s, 15100);
    b_cut_step(s, 15100, "pg2", 0x1000);
    expect_none(s, 15200); /* pg3 is up: waited for */
    b_cut_step(s, 15200, "pg3", 0x0F00);
    {
        struct command c = expect_cmd(s, 15300, CMD_DECIDE);
        assert_string_equal(c.node, "pg2");
        assert_int_equal(c.u.decide.epoch, 2);
        assert_string_equal(c.u.decide.old_primary, "pg1");
        assert_int_equal(c.u.decide.candidate_lsn, 0x1000);
        assert_int_equal(c.u.decide.down_ms, 10000);
        assert_int_equal(c.u.decide.round, b_cluster(s)->fo.round);
        assert_string_equal(c.u.decide.reason,
                            "most advanced eligible standby at 0/1000 "
                            "(most advanced known 0/1000), priority 50");
        c.time_ms = 15300;
        b_apply(s, &c);
    }
    assert_string_equal(b_cluster(s)->primary, "pg2");
    assert_int_equal(b_cluster(s)->epoch, 2);
    /* No second decision for the same failure. */
    expect_none(s, 99999);
}

static void test_zero_failover_timeout(void **ctx)
{
    /* With failover_timeout 0 the decision comes as soon as the verdict is fresh. */
    struct state *s = *ctx;
    struct policy_config pc = {0, 1048576};
    struct command c;
    failed_primary(s, 3, 2);
    assert_true(policy_next_command(s, &pc, 10000, &c));
    assert_int_equal(c.kind, CMD_CUT);
}

static void test_next_commands_one_per_cluster(void **ctx)
{
    /* The leader's batch holds the next command of every cluster that needs one (here the
     * discovery of 40 primaries), at most max, and applying it settles them all. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command out[64], b;
    struct apply_result res;
    char name[16];
    unsigned n;
    b_hello(s, 500, 1, 3);
    for (unsigned i = 0; i < 40; i++) {
        struct command add, rep;
        struct obs o;
        snprintf(name, sizeof name, "c%u", i);
        add = b_cmd_node_add(600 + i, name, "pg1", "host=10.0.0.1", 50);
        b_apply(s, &add);
        o = b_writable(s, "pg1", 0x100);
        rep = b_cmd_report(700 + i, 1, &o, 1);
        pgq_strlcpy(rep.cluster, name, sizeof rep.cluster);
        b_apply(s, &rep);
        command_close(&rep);
    }
    b_feature_level(s, 900); /* a batch is of level 6 */
    n = policy_next_commands(s, &pc, 1000, out, 64);
    assert_int_equal(n, 40);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(out[i].kind, CMD_SET_ROLE);
    }
    assert_int_equal(policy_next_commands(s, &pc, 1000, out, 7), 7);
    n = policy_next_commands(s, &pc, 1000, out, 64);
    command_init(&b, CMD_BATCH);
    b.time_ms = 2000;
    b.u.batch.cmds = calloc(n, sizeof *b.u.batch.cmds);
    assert_non_null(b.u.batch.cmds);
    memcpy(b.u.batch.cmds, out, n * sizeof *out);
    b.u.batch.n = n;
    assert_int_equal(cluster_apply(s, &b, &res), 0);
    assert_int_equal(res.n_applied, 40);
    command_close(&b);
    for (unsigned i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "c%u", i);
        assert_string_equal(state_cluster(s, name)->primary, "pg1");
    }
    assert_int_equal(policy_next_commands(s, &pc, 1000, out, 64), 0);
}

static void test_tilt_decides_nothing(void **ctx)
{
    /* A leader in TILT (stalled loop or clock jump) proposes no failover, however long the primary
     * is down, and says why. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command c;
    failed_primary(s, 3, 2);
    pc.tilt = true;
    assert_true(policy_next_command(s, &pc, 1000000, &c));
    assert_int_equal(c.kind, CMD_BLOCKED);
    b_assert_contains(c.u.blocked.reason, "held: ");
    b_assert_contains(c.u.blocked.reason, "(TILT)");
    b_apply(s, &c);
    assert_false(policy_next_command(s, &pc, 1000001, &c)); /* said once */
    pc.tilt = false;
    assert_true(policy_next_command(s, &pc, 1000000, &c));
    assert_int_equal(c.kind, CMD_CUT);
}

/* ---- overload: the monitors' own lateness ------------------------------------------- */

/* pg1 unreachable in a probe that timed out while the monitor's loop ran lag_ms late. */
static struct obs late_down(const struct state *s, uint64_t lag_ms)
{
    struct obs down = b_unreachable(s, "pg1");
    pgq_strlcpy(down.error, "connect: timeout after 2000 ms", sizeof down.error);
    down.overload_ms = lag_ms;
    return down;
}

/* Monitors first..last report late_down(lag_ms) at t. */
static void lose_primary_late(struct state *s,
                              uint64_t t,
                              uint64_t first,
                              uint64_t last,
                              uint64_t lag_ms)
{
    struct obs down = late_down(s, lag_ms);
    b_report_by(s, t, first, last, &down);
}

static void test_overloaded_views_make_no_verdict(void **ctx)
{
    /* A primary seen down only in probes that timed out while each monitor's own loop ran late
     * is not down by verdict and is not failed over: the failover is held with the reason, and
     * once two monitors see it down on a steady loop the verdict and, failover_timeout later,
     * the cut follow. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    lose_primary_late(s, 10000, 1, 3, 2300);
    assert_int_not_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &PC, 10000));
    expect_blocked(s, 1000000,
                   "held: overload: monitors 1, 2, 3 saw primary pg1 down only in probes that "
                   "timed out while their own loop ran up to 2300 ms late; waiting for a probe "
                   "on a steady loop");
    c = expect_cmd(s, 1000000, CMD_BLOCKED); /* committed: said once */
    b_apply(s, &c);
    expect_none(s, 1000001);
    /* Monitor 3 still late, 1 and 2 steady: a majority of steady views. */
    lose_primary(s, 20000, 1, 2);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(b_node(s, "pg1")->verdict_since_ms, 20000);
    reprobe(s, 20000, "pg2", 0x1000);
    reprobe(s, 20000, "pg3", 0x1000);
    expect_none(s, 24999); /* failover_timeout counts from the steady verdict */
    expect_cmd(s, 25000, CMD_CUT);
}

static void test_overloaded_view_breaks_a_majority(void **ctx)
{
    /* One steady down view and one taken on a late loop make no majority (a verdict needs two
     * monitors that could tell); a third, steady, does. */
    struct state *s = *ctx;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    lose_primary(s, 10000, 1, 1);
    lose_primary_late(s, 10000, 2, 2, 900);
    assert_int_not_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    expect_blocked(s, 100000,
                   "held: overload: monitor 2 saw primary pg1 down only in probes that timed "
                   "out while their own loop ran up to 900 ms late; waiting for a probe on a "
                   "steady loop");
    lose_primary(s, 11000, 3, 3);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_true(policy_fresh_down(s, b_node(s, "pg1"), &PC, 11000));
}

static void test_overload_mark_below_level_6_is_refused(void **ctx)
{
    /* Below feature level 6 a report that marks a view overloaded is refused whole, as a
     * monitor of the previous version refuses it (it would not keep the field): nothing
     * changes. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    {
        struct obs down[1] = {late_down(s, 1500)};
        c = b_cmd_report(10000, 1, down, 1);
    }
    b_refused(s, &c, PGQ_VERSION, "feature level 6");
    command_close(&c);
    assert_true(b_node(s, "pg1")->views[0].obs.reachable);
}

/* A second cluster `name` with primary p (writable) and standby sb, discovered and repointed,
 * seen by monitors 1..3 at t. */
static void add_cluster(struct state *s,
                        uint64_t t,
                        const char *name,
                        const char *p,
                        const char *sb)
{
    struct obs o[2];
    struct command c;
    char ci[64];
    snprintf(ci, sizeof ci, "host=%s", p);
    c = b_cmd_node_add(t, name, p, ci, 50);
    b_apply(s, &c);
    snprintf(ci, sizeof ci, "host=%s", sb);
    c = b_cmd_node_add(t, name, sb, ci, 50);
    b_apply(s, &c);
    o[0] = b_writable(s, p, 0x1000);
    o[1] = b_recovering(s, sb, 0x1000);
    for (uint64_t m = 1; m <= 3; m++) {
        c = b_cmd_report(t, m, o, 2);
        pgq_strlcpy(c.cluster, name, sizeof c.cluster);
        b_apply(s, &c);
        command_close(&c);
    }
    c = b_cmd_set_role(t, p, PGQ_ROLE_PRIMARY, 0);
    pgq_strlcpy(c.cluster, name, sizeof c.cluster);
    b_apply(s, &c);
    c = b_cmd_set_role(t, sb, PGQ_ROLE_STANDBY, 1);
    pgq_strlcpy(c.cluster, name, sizeof c.cluster);
    b_apply(s, &c);
}

/* Monitors 1..3 see node of cluster `name` unreachable at t. */
static void lose_node_of(struct state *s, uint64_t t, const char *name, const char *node)
{
    struct obs down = b_unreachable(s, node);
    for (uint64_t m = 1; m <= 3; m++) {
        struct command c = b_cmd_report(t, m, &down, 1);
        pgq_strlcpy(c.cluster, name, sizeof c.cluster);
        b_apply(s, &c);
        command_close(&c);
    }
}

/* pg1's cluster and `extra` more (east, west, north: a primary and a standby each), at level 6,
 * under a leader whose loop ran lag_ms late (overloaded from 500 ms; views live 10 s). */
static struct policy_config storm_setup(struct state *s, unsigned extra, uint64_t lag_ms)
{
    static const char *const names[][3] = {
        {"east", "e1", "e2"}, {"west", "w1", "w2"}, {"north", "n1", "n2"}};
    struct policy_config pc = PC;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    for (unsigned i = 0; i < extra; i++) {
        add_cluster(s, 1000, names[i][0], names[i][1], names[i][2]);
    }
    pc.view_max_age_ms = 10000;
    pc.overload_lag_ms = 500;
    pc.loop_lag_ms = lag_ms;
    return pc;
}

/* Every monitor sees pg1 down at t, its standbys up at its position. */
static void lose_pg1(struct state *s, uint64_t t)
{
    lose_primary(s, t, 1, 3);
    reprobe(s, t, "pg2", 0x1000);
    reprobe(s, t, "pg3", 0x1000);
}

static void test_storm_while_leader_late_holds(void **ctx)
{
    /* Half the primaries or more (at least 2) down by verdict within one detection window while
     * the leader's own loop runs late are taken for the monitors' own overload: no cut, the
     * reason says so; with the leader's loop steady, the same state is failed over. */
    struct state *s = *ctx;
    struct policy_config pc = storm_setup(s, 3, 1900);
    struct command c;
    lose_pg1(s, 10000);
    lose_node_of(s, 10500, "east", "e1");
    c = expect_cmd_with(s, &pc, 16000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "held: overload: 2 of 4 primaries went down within 15 s while this "
                        "leader's loop ran up to 1900 ms late: taken for the monitors' own "
                        "overload; waiting for its loop to run steady");
    pc.loop_lag_ms = 400; /* below overload_lag_ms: steady */
    expect_cmd_with(s, &pc, 16000, CMD_CUT);
}

static void test_one_failure_while_leader_late_is_failed_over(void **ctx)
{
    /* A single primary down (one of four) is failed over even while the leader's loop runs
     * late: one failure is no storm, and the monitors that saw it were steady. */
    struct state *s = *ctx;
    struct policy_config pc = storm_setup(s, 3, 5000);
    lose_pg1(s, 10000);
    expect_cmd_with(s, &pc, 16000, CMD_CUT);
}

static void test_storm_is_counted_within_one_window(void **ctx)
{
    /* Primaries that went down longer ago than failover_timeout + view_max_age do not make a
     * storm with a new failure. */
    struct state *s = *ctx;
    struct policy_config pc = storm_setup(s, 1, 1900);
    lose_node_of(s, 2000, "east", "e1"); /* long ago: 2000 + 15000 < 30000 */
    lose_pg1(s, 24000);
    expect_cmd_with(s, &pc, 30000, CMD_CUT);
}

static void test_aged_down_view_does_not_count(void **ctx)
{
    /* A down view that its monitor stopped refreshing (it died) does not make a majority with
     * one other monitor's view: a monitor that alone loses sight of the primary causes no
     * failover. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    pc.view_max_age_ms = 120000;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    lose_primary(s, 10000, 3, 3);  /* monitor 3 sees it down, then dies */
    lose_primary(s, 200000, 2, 2); /* much later, monitor 2 alone */
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &pc, 200000));
    /* Within the age limit both views count. */
    assert_true(policy_fresh_down(s, b_node(s, "pg1"), &pc, 10000 + 120000));
}

static void test_minority_causes_no_failover(void **ctx)
{
    /* A minority of monitors losing the primary causes no failover; a majority does (3 and 5
     * voters). */
    static const struct
    {
        unsigned voters;
        unsigned down;
        bool decide;
    } cases[] = {{3, 1, false}, {3, 2, true}, {3, 3, true}, {5, 1, false},
                 {5, 2, false}, {5, 3, true}, {5, 5, true}};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        state_init(&s);
        failed_primary(&s, cases[i].voters, cases[i].down);
        if (cases[i].decide) {
            struct command c = cut_then_next(&s, 1000000, CMD_DECIDE);
            assert_string_equal(c.node, "pg2");
        } else {
            assert_int_equal(b_node(&s, "pg1")->verdict, PGQ_VERDICT_UP);
            expect_none(&s, 1000000);
        }
        state_close(&s);
    }
}

static void test_new_generation_needs_fresh_views(void **ctx)
{
    /* After a new leader's hello, down views of the old generation count only once reported again,
     * and the timeout restarts. */
    struct state *s = *ctx;
    struct command c;
    failed_primary(s, 3, 2);
    b_hello(s, 12000, 2, 3);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    expect_none(s, 16999); /* the timeout restarted with the generation */
    expect_blocked(s, 17000, HELD_NOT_FRESH);
    lose_primary(s, 12500, 1, 1); /* one fresh view: not yet a majority */
    expect_blocked(s, 100000, HELD_NOT_FRESH);
    lose_primary(s, 12600, 3, 3);
    expect_none(s, 16999); /* 12000 (generation start) + 5000 */
    c = expect_cmd(s, 17000, CMD_CUT);
    assert_int_equal(c.u.cut.down_ms, 10000); /* the primary is down since 10000 */
    c = cut_then_next(s, 17000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    assert_int_equal(c.u.decide.down_ms, 10000);
}

#define MAINT_PG1                                                                              \
    "primary pg1 is in maintenance (pgquorumctl maintenance on pg1 --allow-failover allows a " \
    "failover)"

static void test_primary_in_maintenance_blocks(void **ctx)
{
    /* A primary in maintenance is not failed over: the reason is proposed once, and cleared when it
     * is back. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_maintenance(s, 1500, "pg1", true);
    lose_primary(s, 10000, 1, 3);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x1000);
    c = expect_cmd(s, 10000, CMD_BLOCKED); /* no need to wait for the timeout to say so */
    assert_string_equal(c.u.blocked.reason, MAINT_PG1);
    b_apply(s, &c);
    expect_none(s, 100000);
    {
        struct obs up = b_writable(s, "pg1", 0x1100);
        b_report_by(s, 100000, 1, 2, &up);
    }
    expect_blocked(s, 100000, "");
    c = expect_cmd(s, 100000, CMD_BLOCKED);
    b_apply(s, &c);
    expect_none(s, 200000);
}

/* ---- pause and maintenance of the primary ------------------------------------------------- */

#define PAUSED                                                                                 \
    "paused: no automatic failover until an operator resumes the cluster (pgquorumctl resume " \
    "--cluster main)"

/* The actions due now, as "kind:node" words separated by spaces. */
static const char *actions_of(const struct state *s)
{
    static char out[256];
    struct action a[16];
    unsigned n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    out[0] = '\0';
    for (unsigned i = 0; i < n && i < PGQ_ARRAY_SIZE(a); i++) {
        pgq_appendf(out, sizeof out, "%s%s:%s", out[0] ? " " : "", policy_action_name(a[i].kind),
                    a[i].node);
    }
    return out;
}

/* failed_primary (3 voters, n_down of them see pg1 down), at feature level 3 (pause). */
static void failed_primary_level3(struct state *s, unsigned n_down)
{
    failed_primary(s, 3, n_down);
    b_feature_level(s, 12000);
}

static void test_pause_holds_failover(void **ctx)
{
    /* A paused cluster whose primary goes down proposes no cut, however long it stays down:
     * the reason (paused) is committed as soon as the verdict is, and nothing is done to the
     * standbys. Once resumed, the primary still down gets the whole failover_timeout from the
     * resume, then the cut and the decision follow as usual. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_pause(s, 1500, true);
    expect_none(s, 2000); /* the primary is up: nothing to say */
    lose_primary(s, 10000, 1, 3);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x1000);
    c = expect_cmd(s, 10000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, PAUSED);
    b_apply(s, &c);
    assert_string_equal(b_event(s, b_n_events(s) - 1)->message, "no failover: " PAUSED);
    expect_none(s, 15000);
    expect_none(s, 1000000);
    assert_string_equal(actions_of(s), "");
    assert_false(policy_standby_ready(b_cluster(s), b_node(s, "pg1")));

    b_pause(s, 1000000, false);
    assert_string_equal(b_cluster(s)->fo.blocked, "");
    assert_true(policy_standby_ready(b_cluster(s), b_node(s, "pg1")));
    expect_none(s, 1004999); /* failover_timeout counts from the resume */
    c = expect_cmd(s, 1005000, CMD_CUT);
    assert_int_equal(c.u.cut.down_ms, 10000);
    c = cut_then_next(s, 1005000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_pause_holds_cut(void **ctx)
{
    /* A cut under way when the pause is committed is held where it is: the standby not cut yet
     * is not cut, no candidate is chosen among those that were, and the cut is not abandoned; on
     * resume the cut goes on and cut_timeout counts from the resume. */
    struct state *s = *ctx;
    struct command c;
    failed_primary_level3(s, 3);
    c = expect_cmd(s, 15000, CMD_CUT);
    c.time_ms = 15000;
    b_apply(s, &c);
    b_cut_step(s, 15100, "pg2", 0x1000);
    assert_string_equal(actions_of(s), "cut:pg3");
    b_pause(s, 15200, true);
    assert_string_equal(actions_of(s), "");
    c = expect_cmd(s, 15300, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, PAUSED);
    b_apply(s, &c);
    expect_none(s, 100000); /* no decision, though cut_timeout passed long ago */
    {
        /* Nor an abandon when the views that saw the primary down are gone. */
        struct policy_config pc = PC;
        pc.view_max_age_ms = 1000;
        expect_none_with(s, &pc, 100000);
    }
    b_pause(s, 100000, false);
    assert_string_equal(actions_of(s), "cut:pg3");
    expect_none(s, 100999); /* waiting for pg3: cut_timeout from the resume */
    expect_blocked(s, 101000, "held: cutting the standbys off pg1: waiting for pg3");
    c = expect_cmd(s, 102000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_pause_carries_decision_through(void **ctx)
{
    /* A failover already decided when the pause is committed is carried out: the promotion, the
     * repoints and done; after it, a standby that does not follow the primary (one just added)
     * is left as it is until the resume. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    failed_primary_level3(s, 2);
    b_failover(s, 15000, "pg2");
    b_pause(s, 15100, true);
    assert_string_equal(actions_of(s), "promote:pg2");
    expect_none(s, 15200);
    b_step(s, 16000, PGQ_STEP_PROMOTED, "pg2", 2);
    assert_string_equal(actions_of(s), "repoint:pg3");
    b_step(s, 16500, PGQ_STEP_REPOINTED, "pg3", 0);
    c = expect_cmd(s, 16600, CMD_STEP);
    assert_int_equal(c.u.step.kind, PGQ_STEP_DONE);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DONE);
    b_add(s, 17000, "pg4", 50);
    o = b_recovering(s, "pg4", 0x1000);
    b_report_by(s, 17100, 1, 3, &o);
    b_set_role(s, 17200, "pg4", PGQ_ROLE_STANDBY);
    assert_string_equal(actions_of(s), "");
    b_pause(s, 18000, false);
    assert_string_equal(actions_of(s), "repoint:pg4");
}

static void test_pause_keeps_fencing_and_undoing_a_cut(void **ctx)
{
    /* While paused, a writable node that is not the primary is still fenced (Invariant 1), and
     * a cut abandoned because the primary is up again still has its standbys repointed at it
     * (they follow no one): what pause stops is what starts or moves a failover. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    failed_primary_level3(s, 3);
    c = expect_cmd(s, 15000, CMD_CUT);
    c.time_ms = 15000;
    b_apply(s, &c);
    b_cut_standbys(s, 15100);
    b_pause(s, 15200, true);
    assert_string_equal(actions_of(s), "");
    c = expect_cmd(s, 15300, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, PAUSED);
    b_apply(s, &c);
    o = b_writable(s, "pg1", 0x1000); /* the primary is up again: the cut is abandoned */
    b_report_by(s, 16000, 1, 3, &o);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_string_equal(actions_of(s), "repoint:pg2 repoint:pg3");
    b_step(s, 16100, PGQ_STEP_REPOINTED, "pg2", 0);
    b_step(s, 16100, PGQ_STEP_REPOINTED, "pg3", 0);
    assert_string_equal(actions_of(s), "");
    assert_string_equal(b_cluster(s)->fo.blocked, ""); /* the abandon restored it */
    expect_none(s, 16200);
    o = b_writable(s, "pg3", 0x1000);
    b_report(s, 17000, 1, &o);
    assert_string_equal(actions_of(s), "fence:pg3");
}

static void test_pause_holds_given_up(void **ctx)
{
    /* A candidate given up while paused is neither replaced by a new cut nor tried again. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command c;
    pc.retry_ms = 1000;
    failed_primary_level3(s, 2);
    b_failover(s, 15000, "pg2");
    b_pause(s, 15100, true);
    c = b_cmd_step(16000, PGQ_STEP_GAVE_UP, "pg2", 2, 0);
    b_apply(s, &c);
    c = expect_cmd_with(s, &pc, 16100, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, PAUSED);
    b_apply(s, &c);
    expect_none_with(s, &pc, 100000);
    b_pause(s, 100000, false);
    c = expect_cmd_with(s, &pc, 100000, CMD_CUT); /* pg3 can replace it */
    assert_string_equal(c.u.cut.old_primary, "pg2");
}

static void test_primary_in_maintenance_allowed(void **ctx)
{
    /* A primary in maintenance whose operator allowed a failover is failed over as if it were
     * not in maintenance (after failover_timeout, cut then decision), and its agent is told a
     * standby could replace it; without the allowance it is held, and its agent is told none
     * will. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_maintenance(s, 1500, "pg1", true);
    assert_false(policy_standby_ready(b_cluster(s), b_node(s, "pg1")));
    c = b_cmd_maintenance(1600, "pg1", true);
    c.u.maintenance.allow_failover = true;
    b_apply(s, &c);
    assert_true(policy_standby_ready(b_cluster(s), b_node(s, "pg1")));
    lose_primary(s, 10000, 1, 3);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x0F00);
    expect_none(s, 14999);
    c = cut_then_next(s, 15000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_no_candidate_blocks(void **ctx)
{
    /* With no standby that could be promoted after the timeout, the reason is proposed instead
     * of a cut: the standbys keep following the primary (it may be alive). Once one could be,
     * the cut, then the decision. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_maintenance(s, 1100, "pg2", true);
    b_maintenance(s, 1100, "pg3", true);
    lose_primary(s, 10000, 1, 2);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x1000);
    expect_none(s, 14999);
    c = expect_cmd(s, 15000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "no eligible standby: pg2: in maintenance; pg3: in maintenance");
    b_apply(s, &c);
    expect_none(s, 20000);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    /* An operator ends the maintenance of pg3: it is chosen, from its position after the cut. */
    b_maintenance(s, 21000, "pg3", false);
    c = cut_then_next(s, 21000, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
}

static void test_cut_waits_for_standbys(void **ctx)
{
    /* A standby that is up and has not reported its position after the cut holds the decision
     * back for cut_timeout, and is named once it takes more than a second; then the decision is
     * made among those cut, without it. A standby down is not waited for. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    lose_primary(s, 10000, 1, 2);
    c = expect_cmd(s, 15000, CMD_CUT);
    c.time_ms = 15000; /* as the leader stamps it */
    b_apply(s, &c);
    b_cut_step(s, 15100, "pg2", 0x1000);
    expect_none(s, 15999);
    c = expect_cmd(s, 16000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, "held: cutting the standbys off pg1: waiting for pg3");
    b_apply(s, &c);
    expect_none(s, 16999);
    c = expect_cmd(s, 17000, CMD_DECIDE); /* 15000 + cut_timeout */
    assert_string_equal(c.node, "pg2");
    b_assert_contains(c.u.decide.reason, "most advanced eligible standby at 0/1000");

    /* The same, with pg3 down by verdict: nothing is waited for. */
    state_close(s);
    state_init(s);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    lose_primary(s, 10000, 1, 2);
    {
        struct obs down = b_unreachable(s, "pg3");
        b_report_by(s, 10000, 1, 3, &down);
    }
    c = expect_cmd(s, 15000, CMD_CUT);
    c.time_ms = 15000;
    b_apply(s, &c);
    b_cut_step(s, 15100, "pg2", 0x1000);
    c = expect_cmd(s, 15100, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_lag_limit_after_every_monitor_lost_primary(void **ctx)
{
    /* A standby behind the primary's last known position by more than max_lag_on_failover is
     * not promoted, even once every monitor's view of the primary says down. */
    struct state *s = *ctx;
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    {
        struct obs up = b_writable(s, "pg1", 10 * 1048576);
        b_report_by(s, 2000, 1, 3, &up);
    }
    lose_primary(s, 10000, 1, 3);
    reprobe(s, 10000, "pg2", 1048576);
    reprobe(s, 10000, "pg3", 1048576);
    c = cut_then_next(s, 15000, CMD_BLOCKED);
    b_assert_contains(c.u.blocked.reason, "no eligible standby");
    b_assert_contains(c.u.blocked.reason, "lag 9437184 bytes > max_lag_on_failover 1048576");
    command_close(&c);
}

static void test_rediscovery_after_lone_primary_removed(void **ctx)
{
    /* A cluster whose lone primary was removed discovers the next writable node as primary in
     * a new epoch, instead of flagging it as an unexpected writable node. */
    struct state *s = *ctx;
    struct command c;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    {
        struct obs up = b_writable(s, "pg1", 0x1000);
        b_report_by(s, 1100, 1, 3, &up);
    }
    c = expect_cmd(s, 1200, CMD_SET_ROLE);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->epoch, 1);
    b_remove(s, 2000, "pg1");
    b_add(s, 2100, "pg9", 50);
    {
        struct obs up = b_writable(s, "pg9", 0x2000);
        b_report_by(s, 2200, 1, 3, &up);
    }
    assert_false(b_node(s, "pg9")->alert_writable);
    c = expect_cmd(s, 2300, CMD_SET_ROLE);
    assert_string_equal(c.node, "pg9");
    assert_int_equal(c.u.set_role.role, PGQ_ROLE_PRIMARY);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->epoch, 2);
    assert_string_equal(b_cluster(s)->primary, "pg9");
}

static void test_discovery(void **ctx)
{
    /* Discovery proposes standby for nodes in recovery and primary for the single writable node. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    unsigned steps = 0;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    b_add(s, 1000, "pg3", 50);
    b_add(s, 1000, "pg4", 50); /* never observed: left alone */
    expect_none(s, 1000);
    o = b_writable(s, "pg1", 0x1000);
    b_report(s, 1100, 1, &o);
    o = b_recovering(s, "pg2", 0x1000);
    b_report(s, 1100, 2, &o);
    o = b_recovering(s, "pg3", 0x1000);
    b_report(s, 1100, 3, &o);

    c = expect_cmd(s, 1200, CMD_SET_ROLE);
    assert_string_equal(c.node, "pg2");
    assert_int_equal(c.u.set_role.role, PGQ_ROLE_STANDBY);
    assert_int_equal(c.u.set_role.epoch, 0);
    /* Drive the policy to its fixed point, applying what it proposes. */
    while (next(s, 1200, &c)) {
        assert_true(++steps < 10);
        assert_int_equal(c.kind, CMD_SET_ROLE);
        b_apply(s, &c);
    }
    assert_int_equal(steps, 3);
    assert_int_equal(b_cluster(s)->epoch, 1);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_PRIMARY);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_STANDBY);
    assert_int_equal(b_node(s, "pg3")->role, PGQ_ROLE_STANDBY);
    assert_int_equal(b_node(s, "pg4")->role, PGQ_ROLE_UNKNOWN);
}

static void test_discovery_unreachable_ignored(void **ctx)
{
    /* A node last seen unreachable is not given a role. */
    struct state *s = *ctx;
    struct obs o;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    o = b_unreachable(s, "pg1");
    b_report_by(s, 1100, 1, 3, &o);
    expect_none(s, 100000);
}

static void test_two_writable_blocked(void **ctx)
{
    /* Two writable nodes and no known primary block discovery with a reason, proposed once. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    o = b_writable(s, "pg1", 0x1000);
    b_report(s, 1100, 1, &o);
    o = b_writable(s, "pg2", 0x2000);
    b_report(s, 1100, 1, &o);
    c = expect_cmd(s, 1200, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "more than one node is writable and none is known as primary: remove "
                        "the node that is not the primary");
    b_apply(s, &c);
    expect_none(s, 1300);
    /* The operator removes pg2: pg1 is discovered. */
    b_remove(s, 1400, "pg2");
    c = expect_cmd(s, 1500, CMD_SET_ROLE);
    assert_string_equal(c.node, "pg1");
    assert_int_equal(c.u.set_role.role, PGQ_ROLE_PRIMARY);
}

/* pg1 primary naming `sync` as its synchronous standbys, then lost; pg2 and pg3 reprobed at
 * lsn2 and lsn3 after the verdict. */
static void sync_primary_lost(struct state *s, const char *sync, uint64_t lsn2, uint64_t lsn3)
{
    struct obs w;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    w = b_writable(s, "pg1", 0x1000);
    pgq_strlcpy(w.sync_standbys, sync, sizeof w.sync_standbys);
    b_report_by(s, 2000, 1, 3, &w);
    lose_primary(s, 10000, 1, 2);
    reprobe(s, 10000, "pg2", lsn2);
    reprobe(s, 10000, "pg3", lsn3);
}

/* pg1 primary naming pg2 and pg3 synchronous at 0x1000, then only `remaining` at 0x1100. */
static void stops_naming(struct state *s, const char *remaining)
{
    struct obs w;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    w = b_writable(s, "pg1", 0x1000);
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report_by(s, 2000, 1, 3, &w);
    w.current_lsn = 0x1100;
    pgq_strlcpy(w.sync_standbys, remaining, sizeof w.sync_standbys);
    b_report(s, 3000, 2, &w);
}

static void test_sync_standbys(void **ctx)
{
    /* With synchronous replication, the new primary is at least as far as the most advanced of
     * the standbys the primary last named synchronous (it holds every acknowledged commit): a
     * standby behind them is not promoted, names that are no node are not judged, and without
     * synchronous standbys the rule does nothing. */
    static const struct
    {
        const char *what;
        const char *sync;
        uint64_t lsn2, lsn3;
        unsigned prio3;
        const char *chosen;
        const char *reason;
    } cases[] = {
        {"no synchronous standby", "", 0x0F00, 0x1000, 50, "pg3", "most advanced"},
        {"the sync standby is the most advanced", "pg3", 0x0F00, 0x1000, 50, "pg3",
         "most advanced"},
        {"a standby ahead of the sync one also holds every ack", "pg3", 0x1000, 0x0F00, 50, "pg2",
         "most advanced"},
        {"names that are no node are not judged", "pg9,walreceiver", 0x0F00, 0x0F80, 50, "pg3",
         "most advanced"},
        {"the sync standby cannot be promoted: the others are behind it", "pg3", 0x0F00, 0x1000, 0,
         NULL,
         "no eligible standby: pg3: priority 0; pg2: at 0/F00, behind 0/1000, which synchronous "
         "standby pg3 may have acknowledged"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        struct choice ch;
        struct policy_config pc = PC;
        state_init(&s);
        sync_primary_lost(&s, cases[i].sync, cases[i].lsn2, cases[i].lsn3);
        b_node(&s, "pg3")->priority = cases[i].prio3;
        b_cut(&s, 11000);
        b_cut_standbys(&s, 11000);
        policy_choose(&s, b_cluster(&s), &pc, &ch);
        if (cases[i].chosen == NULL) {
            if (ch.node != NULL) {
                fail_msg("%s: chose %s", cases[i].what, ch.node->name);
            }
        } else if (ch.node == NULL || strcmp(ch.node->name, cases[i].chosen) != 0) {
            fail_msg("%s: chose %s (%s), want %s", cases[i].what,
                     ch.node != NULL ? ch.node->name : "none", ch.reason, cases[i].chosen);
        }
        b_assert_contains(ch.reason, cases[i].reason);
        state_close(&s);
    }
}

static void test_sync_standby_down_blocks(void **ctx)
{
    /* A synchronous standby that is down may hold commits no other standby has: no promotion, and
     * the reason says so, until it is back or the operator puts it in maintenance. */
    struct state *s = *ctx;
    struct command c;
    struct obs down;
    sync_primary_lost(s, "pg2,pg3", 0x1000, 0x0F00);
    down = b_unreachable(s, "pg2");
    b_report_by(s, 11000, 1, 2, &down);
    assert_int_equal(b_node(s, "pg2")->verdict, PGQ_VERDICT_DOWN);
    c = cut_then_next(s, 15000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "synchronous standby pg2 is down: another standby may lack commits the "
                        "primary acknowledged (maintenance on pg2 to fail over without it, or "
                        "pgquorumctl failover --allow-data-loss)");
    b_apply(s, &c);
    expect_none(s, 15500);
    b_maintenance(s, 16000, "pg2", true);
    c = expect_cmd(s, 16000, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
}

static void test_sync_standby_left(void **ctx)
{
    /* A synchronous standby the primary stopped naming (as a dying primary's last observation may
     * show) and that is down still sets a floor: where the primary was when it first went
     * unnamed. A standby behind it is not promoted; one at it is. */
    static const struct
    {
        uint64_t lsn2;
        const char *chosen;
    } cases[] = {{0x1000, NULL}, {0x10FF, NULL}, {0x1100, "pg2"}, {0x1200, "pg2"}};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        struct choice ch;
        struct policy_config pc = PC;
        struct obs down;
        state_init(&s);
        stops_naming(&s, "pg2"); /* pg3's walsender is gone */
        assert_int_equal(b_node(&s, "pg1")->sync[1].left_lsn, 0x1100);
        lose_primary(&s, 10000, 1, 2);
        down = b_unreachable(&s, "pg3");
        b_report_by(&s, 10000, 1, 3, &down);
        reprobe(&s, 10000, "pg2", cases[i].lsn2);
        b_cut(&s, 11000);
        b_cut_standbys(&s, 11000);
        policy_choose(&s, b_cluster(&s), &pc, &ch);
        if (cases[i].chosen == NULL) {
            assert_null(ch.node);
            b_assert_contains(ch.reason,
                              "behind 0/1100, which synchronous standby pg3 may have "
                              "acknowledged");
        } else {
            assert_non_null(ch.node);
            assert_string_equal(ch.node->name, cases[i].chosen);
        }
        state_close(&s);
    }
}

static void test_sync_standbys_left_but_up(void **ctx)
{
    /* Standbys a dying primary stopped naming, but that are up, count with their own positions
     * after the cut (none can have acknowledged beyond what it holds), not with the primary's:
     * the most advanced is promoted. */
    struct state *s = *ctx;
    struct choice ch;
    struct policy_config pc = PC;
    stops_naming(s, ""); /* the dying primary's walsenders are gone */
    assert_int_equal(b_node(s, "pg1")->sync[0].left_lsn, 0x1100);
    assert_int_equal(b_node(s, "pg1")->sync[1].left_lsn, 0x1100);
    lose_primary(s, 10000, 1, 2);
    reprobe(s, 10000, "pg2", 0x1080);
    reprobe(s, 10000, "pg3", 0x1040);
    b_cut(s, 11000);
    b_cut_standbys(s, 11000);
    policy_choose(s, b_cluster(s), &pc, &ch);
    assert_non_null(ch.node);
    assert_string_equal(ch.node->name, "pg2");
}

static void test_sync_standby_not_cut_holds(void **ctx)
{
    /* A synchronous standby that is up but was not cut off the old primary may still acknowledge
     * its commits: the failover is held (it ends once it is cut, or is put in maintenance). */
    struct state *s = *ctx;
    struct choice ch;
    struct policy_config pc = PC;
    sync_primary_lost(s, "pg3", 0x1000, 0x1000);
    b_cut(s, 11000);
    b_cut_step(s, 11000, "pg2", 0x1000);
    policy_choose(s, b_cluster(s), &pc, &ch);
    assert_null(ch.node);
    assert_string_equal(ch.reason,
                        "held: synchronous standby pg3 is up but was not cut off pg1: it may "
                        "still acknowledge its commits (maintenance on pg3 to fail over without "
                        "it)");
    b_cut_step(s, 11100, "pg3", 0x1000);
    policy_choose(s, b_cluster(s), &pc, &ch);
    assert_non_null(ch.node);
}

static void test_cut_abandoned_without_fresh_majority(void **ctx)
{
    /* While the standbys are being cut, the failover still needs a fresh majority that sees the
     * primary down: once the down views age (the monitors that reported them died, or see it
     * again), the cut is abandoned and the standbys follow the primary again. TILT holds the
     * decision instead. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command c;
    pc.view_max_age_ms = 4000;
    failed_primary(s, 3, 2);
    c = expect_cmd(s, 15000, CMD_CUT);
    c.time_ms = 10500;
    b_apply(s, &c);
    pc.tilt = true;
    assert_true(policy_next_command(s, &pc, 11000, &c));
    assert_int_equal(c.kind, CMD_BLOCKED);
    b_assert_contains(c.u.blocked.reason, "(TILT)");
    pc.tilt = false;
    assert_true(policy_next_command(s, &pc, 15000, &c)); /* the views of 10000 aged */
    assert_int_equal(c.kind, CMD_ABANDON);
    assert_int_equal(c.u.abandon.round, b_cluster(s)->fo.round);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_int_equal(b_cluster(s)->epoch, 1);
    b_assert_contains(b_event(s, b_n_events(s) - 1)->message,
                      "failover of pg1 abandoned before a standby was chosen: fewer than a "
                      "majority of monitors see it down now");
}

static void test_cut_survives_new_leader(void **ctx)
{
    /* A new leader in the middle of a cut counts only the down views of its own generation: it
     * neither abandons the cut nor decides until the monitors sent theirs again, then decides in
     * the same round; should they never, it abandons once a view could have arrived. */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command c;
    uint64_t round;
    pc.view_max_age_ms = 4000;
    failed_primary(s, 3, 2);
    c = expect_cmd(s, 15000, CMD_CUT);
    b_apply(s, &c);
    round = b_cluster(s)->fo.round;
    b_cut_standbys(s, 15100);
    b_hello(s, 16000, 2, 3);
    assert_false(policy_fresh_down(s, b_node(s, "pg1"), &pc, 16000));
    assert_false(policy_next_command(s, &pc, 16000, &c));
    assert_false(policy_next_command(s, &pc, 19999, &c));
    assert_true(policy_next_command(s, &pc, 20000, &c)); /* should no view come: abandoned */
    assert_int_equal(c.kind, CMD_ABANDON);
    lose_primary(s, 16100, 2, 3);
    assert_true(policy_next_command(s, &pc, 16200, &c));
    assert_int_equal(c.kind, CMD_DECIDE);
    assert_int_equal(c.u.decide.round, round);
    assert_string_equal(c.node, "pg2");
}

static void test_given_up_with_sync(void **ctx)
{
    /* With synchronous replication, a candidate given up (up, never promoted) does not hold the
     * next choice as a synchronous standby that was not cut: it was cut earlier in the failover
     * and followed no one since. */
    struct state *s = *ctx;
    struct command c;
    sync_primary_lost(s, "pg2,pg3", 0x1000, 0x1000);
    b_node(s, "pg2")->priority = 90;
    c = cut_then_next(s, 15000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    c = b_cmd_step(15500, PGQ_STEP_GAVE_UP, "pg2", 2, 0);
    b_apply(s, &c);
    c = cut_then_next(s, 16000, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
}

static void test_given_up_alone_is_retried(void **ctx)
{
    /* A candidate given up with no other standby to replace it (the only other one was given up
     * in the same failover) is not replaced by a cut that cannot end: the failover is held,
     * saying so, and the candidate is tried again after retry_ms (promote_timeout). */
    struct state *s = *ctx;
    struct policy_config pc = PC;
    struct command c;
    pc.retry_ms = 60000;
    failed_primary(s, 3, 2);
    c = cut_then_next(s, 15000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    c = b_cmd_step(16000, PGQ_STEP_GAVE_UP, "pg2", 2, 0);
    b_apply(s, &c);
    c = cut_then_next(s, 16000, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    b_apply(s, &c);
    c = b_cmd_step(17000, PGQ_STEP_GAVE_UP, "pg3", 3, 0);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg2")->gave_up_round, b_cluster(s)->fo.chain_round);
    assert_true(policy_next_command(s, &pc, 20000, &c));
    assert_int_equal(c.kind, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "held: the promotion of pg3 was given up and no other standby can replace "
                        "it (pg2: its promotion was given up): it is tried again after "
                        "promote_timeout");
    b_apply(s, &c);
    assert_false(policy_next_command(s, &pc, 76999, &c));
    assert_true(policy_next_command(s, &pc, 77000, &c));
    assert_int_equal(c.kind, CMD_STEP);
    assert_int_equal(c.u.step.kind, PGQ_STEP_RETRY);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DECIDED);
    assert_string_equal(b_cluster(s)->primary, "pg3");
}

static void test_reference_from_standbys(void **ctx)
{
    /* The lag limit is measured against the freshest evidence of how far the primary wrote, not
     * only its own last reported position: what a standby last heard from it (latest_end_lsn)
     * counts, even from a standby that cannot be promoted. Here the primary was last reported at
     * 0/1000, pg3 (priority 0) heard it at 0/201000 and pg2 holds 0/1000 after the cut: pg2 is
     * 2 MiB behind, not promoted (it once was, measured against 0/1000). Another timeline's
     * evidence is another history and does not count. */
    struct state *s = *ctx;
    struct choice ch;
    struct policy_config pc = PC;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_node(s, "pg3")->priority = 0;
    o = b_recovering(s, "pg3", 0x1000);
    o.upstream_lsn = 0x201000;
    o.timeline = 2;
    b_report_by(s, 2000, 1, 3, &o);
    lose_primary(s, 10000, 1, 2);
    b_cut(s, 11000);
    b_cut_standbys(s, 11000);
    policy_choose(s, b_cluster(s), &pc, &ch);
    assert_non_null(ch.node); /* timeline 2: not evidence of pg1's timeline 1 */
    assert_string_equal(ch.node->name, "pg2");

    state_close(s);
    state_init(s);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_node(s, "pg3")->priority = 0;
    o = b_recovering(s, "pg3", 0x1000);
    o.upstream_lsn = 0x201000;
    b_report_by(s, 2000, 1, 3, &o);
    lose_primary(s, 10000, 1, 2);
    b_cut(s, 11000);
    b_cut_standbys(s, 11000);
    policy_choose(s, b_cluster(s), &pc, &ch);
    assert_null(ch.node);
    assert_string_equal(ch.reason,
                        "no eligible standby: pg3: priority 0; pg2: lag 2097152 bytes "
                        "> max_lag_on_failover 1048576");
}

static void test_sync_floor_survives_lost_candidate(void **ctx)
{
    /* The synchronous floor of a failover is that of the last primary that was writable, however
     * many candidates are lost before a promotion: pg1 names pg2 and pg3 (ANY 1); pg2, the most
     * advanced, is chosen and dies before its promotion. pg3 and pg4 (asynchronous, ahead of pg3)
     * remain: pg4 is no candidate, for pg2 may hold commits only it acknowledged, as far as its
     * cut position; and the failover is held until pg2 is back or in maintenance. (The floor once
     * came from the lost candidate, whose list is empty, and pg4 was promoted.) */
    static const char *const three[] = {"pg2", "pg3", "pg4"};
    struct state *s = *ctx;
    struct command c;
    struct obs w, down;
    b_healthy(s, 1000, 3, "pg1", 0x1000, three, 3);
    w = b_writable(s, "pg1", 0x3000);
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report_by(s, 2000, 1, 3, &w);
    lose_primary(s, 10000, 1, 2);
    reprobe(s, 10000, "pg2", 0x3000);
    reprobe(s, 10000, "pg3", 0x1000);
    reprobe(s, 10000, "pg4", 0x2000);
    c = cut_then_next(s, 15000, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DECIDED);
    /* pg2 dies before pg_promote. */
    down = b_unreachable(s, "pg2");
    b_report_by(s, 16000, 1, 2, &down);
    assert_int_equal(b_node(s, "pg2")->verdict, PGQ_VERDICT_DOWN);
    c = cut_then_next(s, 21000, CMD_BLOCKED);
    assert_string_equal(b_cluster(s)->fo.floor_primary, "pg1");
    assert_string_equal(
        c.u.blocked.reason,
        "no eligible standby: pg3: at 0/1000, behind 0/3000, which synchronous standby pg2 may "
        "have acknowledged; pg4: at 0/2000, behind 0/3000, which synchronous standby pg2 may have "
        "acknowledged");
    b_apply(s, &c);
    /* The operator accepts pg2's loss: the most advanced of the others is promoted. */
    b_maintenance(s, 22000, "pg2", true);
    c = expect_cmd(s, 22000, CMD_DECIDE);
    assert_string_equal(c.node, "pg4");
    assert_int_equal(c.u.decide.epoch, 3);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_STANDBY); /* never promoted: no rejoin */
}

static void test_done_when_standbys_follow(void **ctx)
{
    /* A promoted failover is done once every standby that is not down follows the new primary. */
    struct state *s = *ctx;
    struct command c;
    failed_primary(s, 3, 2);
    b_decide(s, 15000, "pg2");
    expect_none(s, 15100); /* decided, not promoted */
    b_step(s, 16000, PGQ_STEP_PROMOTED, "pg2", 2);
    expect_none(s, 16100); /* pg3 still follows epoch 1 */
    b_step(s, 17000, PGQ_STEP_REPOINTED, "pg3", 0);
    c = expect_cmd(s, 17100, CMD_STEP);
    assert_int_equal(c.u.step.kind, PGQ_STEP_DONE);
    assert_int_equal(c.u.step.epoch, 2);
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DONE);
    expect_none(s, 17200);
}

static void test_done_without_unknown_standby(void **ctx)
{
    /* A standby no longer up by verdict (no monitor of the current voters sees it up, too few see
     * it down) does not hold back the end of a failover: only standbys up by verdict are
     * repointed, so only they are waited for. */
    static const uint64_t new_voters[] = {4, 5, 6};
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    promoted_pg2(s);
    c = b_cmd_hello(16100, 4, new_voters, 3);
    b_apply(s, &c);
    o = b_unreachable(s, "pg3");
    b_report(s, 16500, 4, &o);
    assert_int_equal(b_node(s, "pg3")->verdict, PGQ_VERDICT_UNKNOWN);
    {
        struct action acts[8];
        unsigned n = policy_actions(s, NULL, acts, 8);
        for (unsigned i = 0; i < n; i++) {
            assert_false(acts[i].kind == ACT_REPOINT);
        }
    }
    c = expect_cmd(s, 17000, CMD_STEP);
    assert_int_equal(c.u.step.kind, PGQ_STEP_DONE);
}

static void test_done_without_down_standby(void **ctx)
{
    /* A standby down by verdict does not hold back the end of a failover. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    promoted_pg2(s);
    o = b_unreachable(s, "pg3");
    b_report_by(s, 16500, 1, 2, &o);
    c = expect_cmd(s, 17000, CMD_STEP);
    assert_int_equal(c.u.step.kind, PGQ_STEP_DONE);
}

static void test_rejoin_demoted(void **ctx)
{
    /* A demoted old primary streaming on the new timeline is proposed as a standby again. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    promoted_pg2(s);
    b_step(s, 16100, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, 16200, PGQ_STEP_DONE, NULL, 0);
    o = b_recovering(s, "pg1", 0x1000); /* rewound, but still on timeline 1 */
    b_report(s, 17000, 1, &o);
    expect_none(s, 17100);
    o.timeline = 2;
    o.streaming = false;
    b_report(s, 17200, 1, &o);
    expect_none(s, 17300);
    o.streaming = true;
    b_report(s, 17400, 1, &o);
    c = expect_cmd(s, 17500, CMD_SET_ROLE);
    assert_string_equal(c.node, "pg1");
    assert_int_equal(c.u.set_role.role, PGQ_ROLE_STANDBY);
    assert_int_equal(c.u.set_role.epoch, 2);
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_STANDBY);
}

/* ---- rejoins by node agents ------------------------------------------------------------- */

static const char *const one_standby[] = {"pg2"};

/* What the agent of a standby says in the middle of (or after) a rejoin. */
static struct agent_facts standby_facts(int rejoin)
{
    struct agent_facts f = b_agent_facts(true);
    f.in_recovery = true;
    f.lease = false;
    f.pg_state = PGQ_PGS_ARCHIVE_RECOVERY;
    f.rejoin = rejoin;
    f.rejoin_epoch = 1;
    f.streaming = rejoin == PGQ_RJ_STREAMING;
    return f;
}

static void test_rejoining_not_a_candidate(void **ctx)
{
    /* A standby whose agent rewinds or clones it, is starting it, waits for an operator or
     * failed to rejoin it is no candidate, and does not count as a standby that could replace
     * the primary; once it streams (or had nothing to rejoin) it is one again. A silent agent's
     * last word does not hold it back. */
    static const struct
    {
        int rejoin;
        bool silent;
        bool candidate;
    } cases[] = {
        {PGQ_RJ_NONE, false, true},      {PGQ_RJ_REWINDING, false, false},
        {PGQ_RJ_CLONING, false, false},  {PGQ_RJ_WAITING, false, false},
        {PGQ_RJ_FAILED, false, false},   {PGQ_RJ_STARTING, false, false},
        {PGQ_RJ_STREAMING, false, true}, {PGQ_RJ_REWINDING, true, true},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const char *name = pgq_rejoin_state_name(cases[i].rejoin);
        struct agent_facts f = standby_facts(cases[i].rejoin);
        struct state s;
        struct choice ch;
        struct command c;
        state_init(&s);
        b_healthy(&s, 1000, 3, "pg1", 0x1000, one_standby, 1);
        b_feature_level(&s, 1000);
        b_agent(&s, 1100, "pg2", &f);
        if (cases[i].silent) {
            b_agent_silent(&s, 1200, "pg2");
        }
        assert_int_equal(b_node(&s, "pg2")->agent.rejoin, cases[i].rejoin);
        if (policy_standby_ready(b_cluster(&s), b_node(&s, "pg1")) != cases[i].candidate) {
            fail_msg("%s%s: standby ready %d", name, cases[i].silent ? " (silent)" : "",
                     !cases[i].candidate);
        }
        /* The failover: blocked before any cut, or the cut. */
        lose_primary(&s, 10000, 1, 3);
        reprobe(&s, 10000, "pg2", 0x1000);
        if (!next(&s, 15000, &c)) {
            fail_msg("%s: no command after the primary's failure", name);
        }
        if (cases[i].candidate) {
            assert_int_equal(c.kind, CMD_CUT);
        } else {
            assert_int_equal(c.kind, CMD_BLOCKED);
            assert_string_equal(c.u.blocked.reason, "no eligible standby: pg2: rejoining");
        }
        /* And should the cut be under way: chosen, or not with the reason. */
        b_cut(&s, 15000);
        b_cut_step(&s, 15100, "pg2", 0x1000);
        policy_choose(&s, b_cluster(&s), &PC, &ch);
        if (cases[i].candidate) {
            assert_non_null(ch.node);
            assert_string_equal(ch.node->name, "pg2");
        } else {
            if (ch.node != NULL) {
                fail_msg("%s: %s chosen", name, ch.node->name);
            }
            assert_string_equal(ch.reason, "no eligible standby: pg2: rejoining");
        }
        state_close(&s);
    }
}

/* pg1 failed and was replaced by pg2 (timeline 2, epoch 2); pg3 repointed, the failover done;
 * pg1, demoted, seen in recovery on timeline 1 and not streaming (its monitors' word alone does
 * not make it a standby); the cluster at feature level 3. */
static void demoted_pg1(struct state *s)
{
    struct obs o;
    promoted_pg2(s);
    b_step(s, 16100, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, 16200, PGQ_STEP_DONE, NULL, 0);
    b_feature_level(s, 16300);
    o = b_recovering(s, "pg1", 0x1000);
    o.streaming = false;
    b_report_by(s, 17000, 1, 3, &o);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
    assert_int_equal(b_cluster(s)->timeline, 2);
    assert_int_equal(b_cluster(s)->epoch, 2);
}

static void test_rejoined_by_its_agent(void **ctx)
{
    /* A demoted node becomes a standby again on its agent's word alone once the agent is up and
     * says it rejoined in this epoch and streams, in recovery, on the primary's timeline or later;
     * each condition missing, it stays demoted. */
    static const struct
    {
        const char *broken; /* NULL: none */
        bool standby;
    } cases[] = {
        {NULL, true},
        {"timeline 3", true},
        {"silent", false},
        {"rejoin STARTING", false},
        {"rejoin NONE", false},
        {"not streaming", false},
        {"not in recovery", false},
        {"timeline 1", false},
        {"epoch 1", false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const char *k = cases[i].broken != NULL ? cases[i].broken : "";
        struct agent_facts f = standby_facts(PGQ_RJ_STREAMING);
        struct state s;
        struct command c;
        state_init(&s);
        demoted_pg1(&s);
        expect_none(&s, 17100); /* the monitors' word: not streaming */
        f.timeline = 2;
        f.rejoin_epoch = 2;
        if (strcmp(k, "timeline 3") == 0) {
            f.timeline = 3;
        } else if (strcmp(k, "rejoin STARTING") == 0) {
            f.rejoin = PGQ_RJ_STARTING;
        } else if (strcmp(k, "rejoin NONE") == 0) {
            f.rejoin = PGQ_RJ_NONE;
        } else if (strcmp(k, "not streaming") == 0) {
            f.streaming = false;
        } else if (strcmp(k, "not in recovery") == 0) {
            f.in_recovery = false;
        } else if (strcmp(k, "timeline 1") == 0) {
            f.timeline = 1;
        } else if (strcmp(k, "epoch 1") == 0) {
            f.rejoin_epoch = 1;
        }
        b_agent(&s, 17200, "pg1", &f);
        if (strcmp(k, "silent") == 0) {
            b_agent_silent(&s, 17300, "pg1");
        }
        if (!cases[i].standby) {
            if (next(&s, 17400, &c) && c.kind == CMD_SET_ROLE) {
                fail_msg("%s: set-role %s of %s", k, pgq_role_name(c.u.set_role.role), c.node);
            }
            assert_int_equal(b_node(&s, "pg1")->role, PGQ_ROLE_DEMOTED);
            state_close(&s);
            continue;
        }
        c = expect_cmd(&s, 17400, CMD_SET_ROLE);
        assert_string_equal(c.node, "pg1");
        assert_int_equal(c.u.set_role.role, PGQ_ROLE_STANDBY);
        assert_int_equal(c.u.set_role.epoch, 2);
        b_apply(&s, &c);
        assert_int_equal(b_node(&s, "pg1")->role, PGQ_ROLE_STANDBY);
        state_close(&s);
    }
}

static void test_healthy_cluster_quiet(void **ctx)
{
    /* A healthy cluster gets no command and no action, whatever the time. */
    struct state *s = *ctx;
    struct action a[8];
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    expect_none(s, 1000);
    expect_none(s, UINT64_MAX - PC.failover_timeout_ms);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
}

/* ---- policy_actions ---------------------------------------------------------------------- */

static void test_actions_promote_when_decided(void **ctx)
{
    /* During DECIDED the candidate is promoted and no standby is repointed yet. */
    struct state *s = *ctx;
    struct action a[8];
    unsigned n;
    failed_primary(s, 3, 2);
    b_decide(s, 15000, "pg2");
    n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, ACT_PROMOTE);
    assert_int_equal(a[0].epoch, 2);
    assert_string_equal(a[0].cluster, B_CLUSTER);
    assert_string_equal(a[0].node, "pg2");
    assert_string_equal(a[0].conninfo, b_node(s, "pg2")->conninfo);
    assert_string_equal(policy_action_name(a[0].kind), "promote");
    /* It stays due until the promotion is committed; the same promotion for another epoch
     * or node never is. */
    assert_true(policy_action_due(s, NULL, &a[0]));
    a[1] = a[0];
    a[1].epoch = 3;
    assert_false(policy_action_due(s, NULL, &a[1]));
    a[1] = a[0];
    strcpy(a[1].node, "pg3");
    assert_false(policy_action_due(s, NULL, &a[1]));
    b_step(s, 16000, PGQ_STEP_PROMOTED, "pg2", 2);
    assert_false(policy_action_due(s, NULL, &a[0]));
}

static void test_actions_repoint_after_promotion(void **ctx)
{
    /* After the promotion, standbys following an older epoch are repointed at the new primary. */
    struct state *s = *ctx;
    struct action a[8];
    unsigned n;
    promoted_pg2(s);
    n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_int_equal(a[0].epoch, 2);
    assert_string_equal(a[0].node, "pg3");
    assert_string_equal(a[0].conninfo, b_node(s, "pg3")->conninfo);
    assert_string_equal(a[0].primary, "pg2");
    assert_string_equal(a[0].primary_conninfo, b_node(s, "pg2")->conninfo);
    assert_int_equal(a[0].timeline, 2);
    assert_string_equal(policy_action_name(a[0].kind), "repoint");
    b_step(s, 16500, PGQ_STEP_REPOINTED, "pg3", 0);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
}

static void test_actions_repoint_after_discovery(void **ctx)
{
    /* Discovered standbys are repointed once (timeline unknown), and not while they or the primary
     * are down. */
    struct state *s = *ctx;
    struct action a[8];
    struct obs o;
    unsigned n;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    b_add(s, 1000, "pg2", 50);
    b_add(s, 1000, "pg3", 50);
    o = b_writable(s, "pg1", 0x1000);
    b_report_by(s, 1100, 1, 3, &o);
    o = b_recovering(s, "pg2", 0x1000);
    b_report_by(s, 1100, 1, 3, &o);
    o = b_unreachable(s, "pg3");
    b_report_by(s, 1100, 1, 3, &o);
    b_set_role(s, 1200, "pg1", PGQ_ROLE_PRIMARY);
    b_set_role(s, 1200, "pg2", PGQ_ROLE_STANDBY);
    b_set_role(s, 1200, "pg3", PGQ_ROLE_STANDBY);
    n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    assert_int_equal(n, 1); /* pg3 is down */
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_string_equal(a[0].node, "pg2");
    assert_string_equal(a[0].primary, "pg1");
    assert_int_equal(a[0].timeline, 0);
    assert_int_equal(a[0].epoch, 1);
    lose_primary(s, 2000, 1, 2);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
}

static void test_actions_fence(void **ctx)
{
    /* A writable node that is not the primary is fenced once per epoch; a standby seen out of
     * recovery then follows no one, whatever it was confirmed to do: it is repointed, which
     * finds that it cannot follow (a rejoin). */
    struct state *s = *ctx;
    struct action a[8];
    struct obs o;
    unsigned n;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    o = b_writable(s, "pg3", 0x1000);
    b_report(s, 2000, 1, &o);
    n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, ACT_FENCE);
    assert_string_equal(a[0].node, "pg3");
    assert_int_equal(a[0].epoch, 1);
    assert_string_equal(a[0].conninfo, b_node(s, "pg3")->conninfo);
    assert_string_equal(policy_action_name(a[0].kind), "fence");
    b_step(s, 2100, PGQ_STEP_FENCED, "pg3", 0);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_string_equal(a[0].node, "pg3");
    o = b_recovering(s, "pg3", 0x1000); /* rejoined, following again */
    b_report(s, 2200, 1, &o);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
}

static void test_actions_fence_old_primary(void **ctx)
{
    /* An old primary that comes back writable after a decision is fenced in the new epoch. */
    struct state *s = *ctx;
    struct action a[8];
    struct obs o;
    unsigned n;
    failed_primary(s, 3, 2);
    b_decide(s, 15000, "pg2");
    o = b_writable(s, "pg1", 0x1100);
    b_report(s, 15500, 3, &o);
    n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    assert_int_equal(n, 2);
    assert_int_equal(a[0].kind, ACT_PROMOTE);
    assert_string_equal(a[0].node, "pg2");
    assert_int_equal(a[1].kind, ACT_FENCE);
    assert_string_equal(a[1].node, "pg1");
    assert_int_equal(a[1].epoch, 2);
}

static void test_actions_capacity(void **ctx)
{
    /* policy_actions counts every due action but never writes more than the room it
     * is given. */
    struct state *s = *ctx;
    struct action a[2];
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    o = b_writable(s, "pg2", 0x1000);
    b_report(s, 2000, 1, &o);
    o = b_writable(s, "pg3", 0x1000);
    b_report(s, 2000, 1, &o);
    memset(a, 0xEE, sizeof a);
    assert_int_equal(policy_actions(s, NULL, a, 1), 2);
    assert_int_equal(a[0].kind, ACT_FENCE);
    assert_int_equal(a[1].kind, (int)0xEEEEEEEE);
    assert_int_equal(policy_actions(s, NULL, a, 0), 2);
    assert_int_equal(policy_actions(s, NULL, a, 2), 2);
    assert_string_equal(policy_action_name(0), "?");
}

static void test_actions_no_ceiling(void **ctx)
{
    /* Every due action is listed and due, however many: 100 discovered standbys are 100
     * repoints (a fixed table of 64 once dropped the rest without a word). */
    struct state *s = *ctx;
    struct obs o[101];
    struct action *a = calloc(128, sizeof *a);
    char names[101][PGQ_NAME_MAX];
    assert_non_null(a);
    b_hello(s, 1000, 1, 3);
    for (unsigned i = 0; i <= 100; i++) {
        snprintf(names[i], sizeof names[i], "pg%u", i + 1);
        b_add(s, 1000, names[i], 50);
        o[i] = i == 0 ? b_writable(s, names[i], 0x1000) : b_recovering(s, names[i], 0x1000);
    }
    for (unsigned m = 1; m <= 3; m++) {
        struct command c = b_cmd_report(1000, m, o, 101);
        b_apply(s, &c);
        command_close(&c);
    }
    b_set_role(s, 1000, "pg1", PGQ_ROLE_PRIMARY);
    for (unsigned i = 1; i <= 100; i++) {
        b_set_role(s, 1000, names[i], PGQ_ROLE_STANDBY);
    }
    assert_int_equal(policy_actions(s, NULL, a, 10), 100);
    assert_int_equal(policy_actions(s, NULL, a, 128), 100);
    for (unsigned i = 0; i < 100; i++) {
        assert_int_equal(a[i].kind, ACT_REPOINT);
        assert_true(policy_action_due(s, NULL, &a[i]));
    }
    assert_string_equal(a[99].node, "pg101");
    b_step(s, 2000, PGQ_STEP_REPOINTED, "pg101", 0);
    assert_false(policy_action_due(s, NULL, &a[99]));
    assert_int_equal(policy_actions(s, NULL, a, 128), 99);
    free(a);
}

/* ---- node agents and leases --------------------------------------------------------------- */

#define LEASE_MS 4000
#define DRIFT_MS 500

/* PC with this leader's lease book; host metrics and positions refreshed every `refresh`. */
static struct policy_config lease_pc(const struct lease_book *b, uint64_t refresh)
{
    struct policy_config pc = PC;
    pc.leases = b;
    pc.agent_refresh_ms = refresh;
    return pc;
}

/* BEFORE for the lease tests: pg1 primary, pg2 and pg3 standbys at 0x1000 with 3 voters, at
 * feature level 2; pg1's agent committed up saying f; the leader took over at 500 (lease 4000,
 * drift 500) and has heard no heartbeat yet. */
static void agent_primary(struct state *s, struct lease_book *b, const struct agent_facts *f)
{
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 1000, "pg1", f);
    lease_book_init(b, LEASE_MS, DRIFT_MS);
    lease_book_reset(b, 500);
}

/* The leader hears pg1's agent at now; returns its reply. */
static struct lease_reply hear(struct lease_book *b,
                               const struct state *s,
                               const struct agent_facts *f,
                               uint64_t now)
{
    struct lease_reply r;
    lease_on_heartbeat(b, s, B_CLUSTER, "pg1", f, now, &r);
    return r;
}

/* Monitors 1 and 2 lose pg1 at 10000; every voter probes the standbys again (pg2 ahead). */
static void agent_primary_lost(struct state *s)
{
    lose_primary(s, 10000, 1, 2);
    reprobe(s, 10000, "pg2", 0x1000);
    reprobe(s, 10000, "pg3", 0x0F00);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    assert_int_equal(b_node(s, "pg1")->verdict_since_ms, 10000);
}

/* agent_primary, pg1's agent last heard at `heard`, then agent_primary_lost: the config of this
 * leader. */
static struct policy_config agent_primary_heard_then_lost(struct state *s,
                                                          struct lease_book *b,
                                                          const struct agent_facts *f,
                                                          uint64_t heard)
{
    agent_primary(s, b, f);
    hear(b, s, f, heard);
    agent_primary_lost(s);
    return lease_pc(b, 1000000);
}

/* The cut proposed at now is committed, and every standby that is up reports after it. */
static void apply_cut(struct state *s, const struct policy_config *pc, uint64_t now)
{
    struct command c = expect_cmd_with(s, pc, now, CMD_CUT);
    assert_string_equal(c.u.cut.old_primary, "pg1");
    c.time_ms = now;
    b_apply(s, &c);
    b_cut_standbys(s, now);
}

static void expect_decide_pg2(const struct state *s, const struct policy_config *pc, uint64_t now)
{
    struct command c = expect_cmd_with(s, pc, now, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    assert_int_equal(c.u.decide.epoch, 2);
    assert_string_equal(c.u.decide.old_primary, "pg1");
}

#define HELD_LEASE "held: waiting for the lease of pg1 to end"

static void test_decide_waits_for_the_lease(void **ctx)
{
    /* Invariant 7: a standby is promoted over a primary with an agent only once every lease a
     * leader may have granted it has ended for sure: the decision is held (and says so) until
     * lease_end_ms, then proposed; the agent is refused renewals from the cut on. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct policy_config pc = agent_primary_heard_then_lost(s, &b, &f, 9000);
    struct lease_reply r;
    struct command c;
    r = hear(&b, s, &f, 14000); /* its agent still reaches the leader */
    assert_int_equal(r.lease_ms, LEASE_MS);
    expect_none_with(s, &pc, 14999);
    apply_cut(s, &pc, 15000);
    r = hear(&b, s, &f, 15000);
    assert_true(r.fence);
    assert_int_equal(r.lease_ms, 0);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 18500);
    /* Within a second of the end, nothing is said; before, the wait is committed once. */
    expect_none_with(s, &pc, 17501);
    c = expect_cmd_with(s, &pc, 15000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, HELD_LEASE);
    b_apply(s, &c);
    expect_none_with(s, &pc, 15001);
    expect_none_with(s, &pc, 18499);
    expect_decide_pg2(s, &pc, 18500);
    lease_book_close(&b);
}

static void test_fenced_agent_ends_the_wait(void **ctx)
{
    /* An agent told to fence that reports its PostgreSQL stopped is committed at once, and the
     * decision follows without waiting for the lease. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct policy_config pc = agent_primary_heard_then_lost(s, &b, &f, 14900);
    struct command c;
    apply_cut(s, &pc, 15000);
    expect_cmd_with(s, &pc, 15000, CMD_BLOCKED);
    f = b_agent_facts(false);
    f.fenced = true;
    assert_true(hear(&b, s, &f, 15100).fence);
    c = expect_cmd_with(s, &pc, 15100, CMD_AGENT);
    assert_string_equal(c.node, "pg1");
    assert_int_equal(c.u.agent.state, PGQ_AGENT_UP);
    assert_true(c.u.agent.fenced);
    assert_false(c.u.agent.pm_alive);
    b_apply(s, &c);
    assert_true(lease_end_ms(&b, B_CLUSTER, "pg1") > 15100 + 1000);
    expect_decide_pg2(s, &pc, 15100);
    lease_book_close(&b);
}

enum { AG_RUNNING = 1, AG_RESTARTING, AG_FENCED, AG_HANDOVER, AG_SILENT, AG_UNPROTECTED };

struct agent_case
{
    const char *behaviour;
    int agent;
    uint64_t cut_at;    /* 0: no cut */
    uint64_t decide_at; /* a wait for the lease in between */
};

static void run_agent_case(const struct agent_case *k)
{
    struct state s;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(k->agent == AG_RUNNING || k->agent >= AG_SILENT);
    struct policy_config pc;
    bool heard = k->agent < AG_SILENT;
    f.fenced = k->agent == AG_FENCED;
    f.handover = k->agent == AG_HANDOVER;
    state_init(&s);
    agent_primary(&s, &b, &f);
    pc = lease_pc(&b, 1000000);
    if (heard) {
        hear(&b, &s, &f, 9000);
    } else {
        /* Not heard since the leader took over at 500: silent from 5000. */
        struct command c = expect_cmd_with(&s, &pc, 6000, CMD_AGENT);
        assert_int_equal(c.u.agent.state, PGQ_AGENT_SILENT);
        c.time_ms = 6000;
        b_apply(&s, &c);
    }
    if (k->agent == AG_UNPROTECTED) {
        /* Seen writable after the silence: nobody fences it. */
        struct obs o = b_writable(&s, "pg1", 0x1000);
        b_report(&s, 7000, 3, &o);
        assert_true(b_node(&s, "pg1")->agent.unprotected);
    }
    agent_primary_lost(&s);
    if (k->cut_at == 0) {
        struct command c = expect_cmd_with(&s, &pc, 10000, CMD_BLOCKED);
        if (strstr(c.u.blocked.reason, "primary pg1 cannot be proven fenced") == NULL) {
            fail_msg("%s\n  blocked \"%s\"", k->behaviour, c.u.blocked.reason);
        }
        b_apply(&s, &c);
        expect_none_with(&s, &pc, 1000000);
    } else {
        if (k->cut_at > 10000) {
            hear(&b, &s, &f, k->cut_at - 1);
            expect_none_with(&s, &pc, k->cut_at - 1);
        }
        if (heard) {
            hear(&b, &s, &f, k->cut_at);
        }
        apply_cut(&s, &pc, k->cut_at);
        if (k->decide_at > k->cut_at) {
            struct command c = expect_cmd_with(&s, &pc, k->cut_at, CMD_BLOCKED);
            assert_string_equal(c.u.blocked.reason, HELD_LEASE);
            b_apply(&s, &c);
            /* It still sends heartbeats: refused, they do not make it silent either. */
            assert_int_equal(hear(&b, &s, &f, k->decide_at - 1).lease_ms, 0);
            expect_none_with(&s, &pc, k->decide_at - 1);
        }
        expect_decide_pg2(&s, &pc, k->decide_at);
    }
    lease_book_close(&b);
    state_close(&s);
}

static void test_agent_and_failover_timeout(void **ctx)
{
    /* failover_timeout tells a crash from a restart seen from outside; an agent that says from
     * inside that its PostgreSQL is down and stays down (fenced, or handed over), or that fell
     * silent together with it, is believed at once, and the lease it held is not waited for. */
    static const struct agent_case cases[] = {
        {"An agent whose PostgreSQL runs changes nothing: failover_timeout, then the lease",
         AG_RUNNING, 15000, 19500},
        {"An agent restarting its dead PostgreSQL leaves failover_timeout to decide, and holds "
         "its lease",
         AG_RESTARTING, 15000, 19500},
        {"An agent that fenced its PostgreSQL: the cut and the decision come with the verdict",
         AG_FENCED, 10000, 10000},
        {"An agent that hands its dead PostgreSQL over: the cut and the decision come with the "
         "verdict",
         AG_HANDOVER, 10000, 10000},
        {"An agent silent together with its PostgreSQL leaves nobody to restart it", AG_SILENT,
         10000, 10000},
        {"An agent silent while its PostgreSQL kept running: no failover", AG_UNPROTECTED, 0, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        run_agent_case(&cases[i]);
    }
}

/* pg1's agent fell silent (committed at 6000) while pg1 kept running, seen by monitor 3 with
 * these synchronous standbys; then monitors 1 and 2 lose it at 10000. */
static void unprotected_primary(struct state *s, struct lease_book *b, const char *sync)
{
    struct agent_facts f = b_agent_facts(true);
    struct obs o;
    agent_primary(s, b, &f);
    b_agent_silent(s, 6000, "pg1");
    o = b_writable(s, "pg1", 0x1000);
    pgq_strlcpy(o.sync_standbys, sync, sizeof o.sync_standbys);
    b_report(s, 7000, 3, &o);
    assert_true(b_node(s, "pg1")->agent.unprotected);
    agent_primary_lost(s);
}

static void test_unprotected_primary_blocked(void **ctx)
{
    /* A primary whose agent fell silent while it kept running cannot be proven fenced: no
     * failover over it, said at once, for as long as it lasts. */
    struct state *s = *ctx;
    struct lease_book b;
    struct policy_config pc;
    struct command c;
    unprotected_primary(s, &b, "");
    pc = lease_pc(&b, 1000000);
    assert_false(policy_unfenced_allowed(b_cluster(s), b_node(s, "pg1")));
    c = expect_cmd_with(s, &pc, 10000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "primary pg1 cannot be proven fenced: its agent fell silent while it kept "
                        "running, and it named no synchronous standby the cut would stop (allow "
                        "it with pgquorumctl failover --allow-unfenced pg1)");
    b_apply(s, &c);
    expect_none_with(s, &pc, 10000000);
    lease_book_close(&b);
}

static void test_unprotected_primary_allowed(void **ctx)
{
    /* An operator's allowance in this epoch lets the failover go, after the whole
     * failover_timeout, and stands for the lease: a new leader's doubt is not waited for. */
    struct state *s = *ctx;
    struct lease_book b;
    struct policy_config pc;
    struct command c;
    unprotected_primary(s, &b, "");
    pc = lease_pc(&b, 1000000);
    c = b_cmd_allow_unfenced(10000, "pg1", "alice");
    b_apply(s, &c);
    assert_true(policy_unfenced_allowed(b_cluster(s), b_node(s, "pg1")));
    expect_none_with(s, &pc, 14999);
    lease_book_reset(&b, 14000); /* a new leader: any lease may run until 18500 */
    apply_cut(s, &pc, 15000);
    expect_decide_pg2(s, &pc, 15000);
    lease_book_close(&b);
}

static void test_allowance_is_for_one_epoch(void **ctx)
{
    /* An operator's allowance covers the epoch it was given in: a node that is the primary again
     * in a later epoch, unprotected again, is blocked again. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct policy_config pc;
    struct command c;
    struct obs o;
    agent_primary(s, &b, &f);
    pc = lease_pc(&b, 1000000);
    c = b_cmd_allow_unfenced(1500, "pg1", "alice");
    b_apply(s, &c);
    /* pg2 replaces pg1 (epoch 2), pg1 rejoins and replaces pg2 (epoch 3). */
    b_decide(s, 2000, "pg2");
    b_step(s, 2100, PGQ_STEP_PROMOTED, "pg2", 2);
    b_set_role(s, 2200, "pg1", PGQ_ROLE_STANDBY);
    reprobe(s, 2300, "pg1", 0x1000);
    b_decide(s, 3000, "pg1");
    b_step(s, 3100, PGQ_STEP_PROMOTED, "pg1", 3);
    assert_int_equal(b_cluster(s)->epoch, 3);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    assert_int_equal(b_node(s, "pg1")->allow_unfenced_epoch, 1);
    b_agent_silent(s, 6000, "pg1");
    o = b_writable(s, "pg1", 0x2000);
    b_report_by(s, 7000, 1, 3, &o);
    assert_true(b_node(s, "pg1")->agent.unprotected);
    assert_false(policy_unfenced_allowed(b_cluster(s), b_node(s, "pg1")));
    lose_primary(s, 10000, 1, 2);
    c = expect_cmd_with(s, &pc, 20000, CMD_BLOCKED);
    b_assert_contains(c.u.blocked.reason, "primary pg1 cannot be proven fenced");
    lease_book_close(&b);
}

static void test_unprotected_primary_with_sync_standby(void **ctx)
{
    /* A primary that named a synchronous standby acknowledges nothing once that standby is cut
     * off it: the failover goes without an operator, the synchronous standby chosen. */
    struct state *s = *ctx;
    struct lease_book b;
    struct policy_config pc;
    unprotected_primary(s, &b, "pg2");
    pc = lease_pc(&b, 1000000);
    assert_true(policy_unfenced_allowed(b_cluster(s), b_node(s, "pg1")));
    expect_none_with(s, &pc, 14999);
    lease_book_reset(&b, 14000);
    apply_cut(s, &pc, 15000);
    expect_decide_pg2(s, &pc, 15000);
    lease_book_close(&b);
}

static void test_unprotected_sync_standby_not_a_node(void **ctx)
{
    /* A synchronous standby that is no node of the cluster is not cut, and keeps acknowledging
     * the unprotected primary's commits: naming it proves nothing, alone or beside one that is
     * cut. */
    static const char *const named[] = {"pgx", "pg2,pgx", "pgx,pg3"};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(named); i++) {
        struct state s;
        struct lease_book b;
        struct policy_config pc;
        struct command c;
        state_init(&s);
        unprotected_primary(&s, &b, named[i]);
        pc = lease_pc(&b, 1000000);
        if (policy_unfenced_allowed(b_cluster(&s), b_node(&s, "pg1"))) {
            fail_msg("sync standbys \"%s\": allowed", named[i]);
        }
        c = expect_cmd_with(&s, &pc, 10000, CMD_BLOCKED);
        b_assert_contains(c.u.blocked.reason, "primary pg1 cannot be proven fenced");
        lease_book_close(&b);
        state_close(&s);
    }
}

static void test_no_lease_book_never_decides(void **ctx)
{
    /* With an agent on the primary and no lease book, its lease is never known to have ended:
     * the failover begins but no standby is promoted. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    agent_primary(s, &b, &f);
    agent_primary_lost(s);
    apply_cut(s, &PC, 15000);
    c = expect_cmd(s, 15000, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason, HELD_LEASE " (no lease book)");
    b_apply(s, &c);
    expect_none(s, UINT64_MAX / 2);
    lease_book_close(&b);
}

static void test_next_agent(void **ctx)
{
    /* What the leader heard goes to the log: at once when a fact a failover depends on changed,
     * otherwise every agent_refresh; nothing before the cluster is at feature level 2. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct policy_config pc = lease_pc(&b, 5000);
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    lease_book_reset(&b, 500);
    hear(&b, s, &f, 2000);
    expect_none_with(s, &pc, 2000); /* level 1 */
    b_feature_level(s, 2000);

    c = expect_cmd_with(s, &pc, 2000, CMD_AGENT);
    assert_string_equal(c.node, "pg1");
    assert_int_equal(c.u.agent.state, PGQ_AGENT_UP);
    assert_true(c.u.agent.pm_alive);
    assert_int_equal(c.u.agent.pm_pid, 4242);
    assert_int_equal(c.u.agent.session, 7);
    c.time_ms = 2000;
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->agent.state, PGQ_AGENT_UP);
    expect_none_with(s, &pc, 2000);

    /* Positions and metrics: at the next refresh. */
    f.lsn = 0x2000;
    f.host.cpu_busy_bp = 4200;
    hear(&b, s, &f, 3000);
    expect_none_with(s, &pc, 6999);
    c = expect_cmd_with(s, &pc, 7000, CMD_AGENT);
    assert_int_equal(c.u.agent.lsn, 0x2000);
    assert_int_equal(c.u.agent.host.cpu_busy_bp, 4200);
    c.time_ms = 7000;
    b_apply(s, &c);
    expect_none_with(s, &pc, 7000);

    /* A fact a failover depends on: at once. */
    f.pm_alive = false;
    f.pm_pid = 0;
    hear(&b, s, &f, 7100);
    c = expect_cmd_with(s, &pc, 7100, CMD_AGENT);
    assert_false(c.u.agent.pm_alive);
    lease_book_close(&b);
}

static void test_next_agent_silent(void **ctx)
{
    /* An agent committed up but not heard for a whole lease (plus drift) is committed silent,
     * keeping its last facts; heard again, it is up again. A new leader counts the silence from
     * its takeover. */
    struct state *s = *ctx;
    struct lease_book b;
    struct agent_facts f = b_agent_facts(true);
    struct policy_config pc = lease_pc(&b, 1000000);
    struct command c;
    agent_primary(s, &b, &f);
    hear(&b, s, &f, 2000);
    expect_none_with(s, &pc, 6499);
    c = expect_cmd_with(s, &pc, 6500, CMD_AGENT);
    assert_string_equal(c.node, "pg1");
    assert_int_equal(c.u.agent.state, PGQ_AGENT_SILENT);
    assert_int_equal(c.u.agent.pm_pid, 4242);
    c.time_ms = 6500;
    b_apply(s, &c);
    assert_int_equal(b_node(s, "pg1")->agent.state, PGQ_AGENT_SILENT);
    expect_none_with(s, &pc, 100000);
    hear(&b, s, &f, 100000);
    c = expect_cmd_with(s, &pc, 100000, CMD_AGENT);
    assert_int_equal(c.u.agent.state, PGQ_AGENT_UP);
    c.time_ms = 100000;
    b_apply(s, &c);
    expect_none_with(s, &pc, 100000);

    lease_book_reset(&b, 200000); /* a new leader, which has heard nothing yet */
    expect_none_with(s, &pc, 204499);
    c = expect_cmd_with(s, &pc, 204500, CMD_AGENT);
    assert_int_equal(c.u.agent.state, PGQ_AGENT_SILENT);
    lease_book_close(&b);
}

/* ---- switchover ----------------------------------------------------------------------------- */

#define SW_BEGIN_MS 10000

/* pg1 primary, pg2 and pg3 standbys at 0x1000 (3 voters, feature level 3), pg1's agent up with
 * PostgreSQL running; a switchover to target scheduled at 2000 for SW_BEGIN_MS. */
static void switchover_scheduled(struct state *s, const char *target)
{
    struct agent_facts f = b_agent_facts(true);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 1000, "pg1", &f);
    b_switchover(s, 2000, target, SW_BEGIN_MS);
}

/* The leader's next command at now is the begin of the switchover: it is committed. */
static void begin_switchover(struct state *s, uint64_t now)
{
    struct command c = expect_cmd(s, now, CMD_SWITCHOVER);
    assert_true(c.u.switchover.begin);
    assert_false(c.u.switchover.cancel);
    c.time_ms = now;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_STOPPING);
}

/* switchover_scheduled, begun at its time, pg1's agent saying at 11000 it stopped cleanly at
 * final, the Cut the leader proposes then committed, and pg2 and pg3 cut at lsn2 and lsn3. */
static void switchover_cut(struct state *s,
                           const char *target,
                           uint64_t final,
                           uint64_t lsn2,
                           uint64_t lsn3)
{
    struct agent_facts f = b_agent_stopped(final);
    struct command c;
    switchover_scheduled(s, target);
    begin_switchover(s, SW_BEGIN_MS);
    b_agent(s, 11000, "pg1", &f);
    c = expect_cmd(s, 11000, CMD_CUT);
    c.time_ms = 11000;
    b_apply(s, &c);
    assert_true(b_cluster(s)->fo.switchover);
    b_cut_step(s, 11100, "pg2", lsn2);
    b_cut_step(s, 11100, "pg3", lsn3);
}

static void test_switchover_begins_at_its_time(void **ctx)
{
    /* A scheduled switchover is begun by the leader at its time, not a millisecond before, and
     * only while the primary and its target are fit: with the target in maintenance at its time
     * nothing is proposed, and it begins once the target is fit again (within PGQ_SW_STOP_MS of
     * its time); one unfit for that long is withdrawn, saying why. */
    struct state *s = *ctx;
    struct command c;
    uint64_t fit = SW_BEGIN_MS + PGQ_SW_STOP_MS / 2;
    switchover_scheduled(s, "pg2");
    expect_none(s, 3000);
    expect_none(s, SW_BEGIN_MS - 1);
    b_maintenance(s, SW_BEGIN_MS - 500, "pg2", true);
    expect_none(s, SW_BEGIN_MS);
    expect_none(s, fit);
    b_maintenance(s, fit, "pg2", false);
    begin_switchover(s, fit);
    assert_int_equal(b_cluster(s)->sw.begun_ms, fit);
    /* Begun: nothing more until the primary's agent says it stopped. */
    expect_none(s, fit + 1);
    expect_none(s, fit + PGQ_SW_STOP_MS - 1);

    c = b_cmd_switchover_cancel(fit + 100, "bob");
    b_apply(s, &c);
    b_switchover(s, fit + 200, "pg2", fit + 1000);
    b_maintenance(s, fit + 300, "pg2", true);
    expect_none(s, fit + 1000 + PGQ_SW_STOP_MS - 1);
    c = expect_cmd(s, fit + 1000 + PGQ_SW_STOP_MS, CMD_SWITCHOVER);
    assert_true(c.u.switchover.cancel);
    assert_string_equal(c.u.switchover.by, "pgquorum: pg2 is in maintenance");
}

static void test_switchover_at_once(void **ctx)
{
    /* A switchover asked for now (no time) is begun at once. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 1000, "pg1", &f);
    b_switchover(s, 2000, "", 0);
    begin_switchover(s, 2000);
}

static void test_switchover_cut_once_stopped(void **ctx)
{
    /* Once the primary's agent says it stopped cleanly (not running, handed over, where its WAL
     * ends), the leader proposes the Cut of the primary at once, though it is up by verdict; a
     * word that it stopped without its final position is not enough. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_stopped(0);
    struct command c;
    switchover_scheduled(s, "pg2");
    begin_switchover(s, SW_BEGIN_MS);
    b_agent(s, 10500, "pg1", &f);
    expect_none(s, 10500);
    f = b_agent_stopped(0x1000);
    b_agent(s, 11000, "pg1", &f);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_UP);
    c = expect_cmd(s, 11000, CMD_CUT);
    assert_int_equal(c.u.cut.epoch, 1);
    assert_string_equal(c.u.cut.old_primary, "pg1");
    assert_string_equal(c.u.cut.reason, "switchover to pg2: pg1 stopped cleanly");
    c.time_ms = 11000;
    b_apply(s, &c);
    assert_true(b_cluster(s)->fo.switchover);
    assert_int_equal(b_cluster(s)->fo.final_lsn, 0x1000);
    /* Cutting: every standby is cut; past the stop limit, it is the decision that follows, not
     * a cancel. */
    assert_string_equal(actions_of(s), "cut:pg2 cut:pg3");
    b_cut_standbys(s, 11100);
    c = expect_cmd(s, SW_BEGIN_MS + PGQ_SW_STOP_MS, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_switchover_stop_limit(void **ctx)
{
    /* A primary that does not stop within PGQ_SW_STOP_MS of the begin has its switchover
     * cancelled by the leader; a new leader counts the limit from its own takeover. */
    struct state *s = *ctx;
    struct command c;
    switchover_scheduled(s, "pg2");
    begin_switchover(s, SW_BEGIN_MS);
    expect_none(s, SW_BEGIN_MS + PGQ_SW_STOP_MS - 1);
    c = expect_cmd(s, SW_BEGIN_MS + PGQ_SW_STOP_MS, CMD_SWITCHOVER);
    assert_true(c.u.switchover.cancel);
    assert_false(c.u.switchover.begin);
    assert_string_equal(c.u.switchover.by, "pgquorum: the primary did not stop in time");

    b_hello(s, 15000, 2, 3); /* monitor 2 leads from 15000 */
    expect_none(s, 15000 + PGQ_SW_STOP_MS - 1);
    c = expect_cmd(s, 15000 + PGQ_SW_STOP_MS, CMD_SWITCHOVER);
    assert_true(c.u.switchover.cancel);
    c.time_ms = 15000 + PGQ_SW_STOP_MS;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_string_equal(b_event(s, b_n_events(s) - 1)->message,
                        "switchover of pg1 cancelled by pgquorum: the primary did not stop in "
                        "time: the primary is started again");
    expect_none(s, 60000);
}

static void test_switchover_decides_its_target(void **ctx)
{
    /* The switchover's decision promotes its target, even where the ordinary choice would be
     * another standby (pg2: same position, first by name), once the target holds the primary's
     * final position; the old primary is up by verdict, and its agent's word ends the wait for
     * its lease. */
    struct state *s = *ctx;
    struct command c;
    switchover_cut(s, "pg3", 0x1000, 0x1000, 0x1000);
    c = expect_cmd(s, 11200, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    assert_int_equal(c.u.decide.epoch, 2);
    assert_string_equal(c.u.decide.old_primary, "pg1");
    assert_int_equal(c.u.decide.candidate_lsn, 0x1000);
    c.time_ms = 11200;
    b_apply(s, &c);
    assert_string_equal(b_cluster(s)->primary, "pg3");
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_string_equal(actions_of(s), "promote:pg3");
}

static void test_switchover_best_standby(void **ctx)
{
    /* A switchover without a target promotes the most advanced standby holding the final
     * position; when none holds it, nothing is promoted (a failover would take one within
     * max_lag_on_failover): the switchover is abandoned. */
    struct state *s = *ctx;
    struct state short_all;
    struct command c;
    switchover_cut(s, "", 0x1000, 0x0F00, 0x1000);
    c = expect_cmd(s, 11200, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    state_init(&short_all);
    switchover_cut(&short_all, "", 0x1000, 0x0F00, 0x0F80);
    c = expect_cmd(&short_all, 11200, CMD_ABANDON);
    assert_string_equal(c.u.abandon.reason,
                        "no eligible standby: pg2: at 0/F00, short of the primary's final 0/1000; "
                        "pg3: at 0/F80, short of the primary's final 0/1000");
    state_close(&short_all);
}

static void test_switchover_target_short(void **ctx)
{
    /* A target short of the primary's final position is not promoted, nor is any other standby
     * (pg2 holds it all): the switchover is abandoned, not blocked, saying why; afterwards no
     * switchover or failover is under way, the primary and its epoch are unchanged, the standbys
     * are repointed at it, and its agent, which stopped it cleanly, is granted a lease again to
     * start it. Should the monitors see it down meanwhile, that agent's word is no confirmation
     * that it stays down: the failover waits failover_timeout in full. */
    struct state *s = *ctx;
    struct agent_facts stopped = b_agent_stopped(0x1000);
    struct lease_book b;
    struct lease_reply r;
    struct command c;
    switchover_cut(s, "pg3", 0x1000, 0x1000, 0x0F00);
    c = expect_cmd(s, 11200, CMD_ABANDON);
    assert_int_equal(c.u.abandon.round, b_cluster(s)->fo.round);
    b_assert_contains(c.u.abandon.reason, "pg2: not the switchover's target");
    b_assert_contains(c.u.abandon.reason, "pg3: at 0/F00, short of the primary's final 0/1000");
    c.time_ms = 11200;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_false(b_cluster(s)->fo.switchover);
    assert_int_equal(b_cluster(s)->epoch, 1);
    assert_string_equal(b_cluster(s)->primary, "pg1");
    assert_string_equal(actions_of(s), "repoint:pg2 repoint:pg3");
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    lease_book_reset(&b, 500);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &stopped, 11300, &r);
    assert_true(r.primary);
    assert_true(r.standby_ready);
    assert_false(r.stop);
    assert_false(r.fence);
    assert_int_equal(r.lease_ms, LEASE_MS);
    lose_primary(s, 12000, 1, 3);
    assert_int_equal(b_node(s, "pg1")->verdict, PGQ_VERDICT_DOWN);
    expect_none(s, 12000 + PC.failover_timeout_ms - 1);
    c = expect_cmd(s, 12000 + PC.failover_timeout_ms, CMD_CUT);
    b_assert_contains(c.u.cut.reason, "down by verdict since");
    lease_book_close(&b);
}

static void test_switchover_primary_runs_again(void **ctx)
{
    /* Should the primary's agent say it runs again during the switchover's cut, the cut is
     * abandoned: no verdict is needed either way. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    switchover_cut(s, "pg2", 0x1000, 0x1000, 0x1000);
    b_agent(s, 11150, "pg1", &f);
    c = expect_cmd(s, 11200, CMD_ABANDON);
    assert_string_equal(c.u.abandon.reason, "the primary runs again");
    c.time_ms = 11200;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    assert_int_equal(b_cluster(s)->sw.phase, PGQ_SW_NONE);
    assert_string_equal(b_cluster(s)->primary, "pg1");
}

static void test_next_feature(void **ctx)
{
    /* The leader raises the feature level once every voter announced it supports it (a monitor
     * that left the voters does not count), and only once. */
    static const struct
    {
        unsigned levels[3]; /* announced by voters 1..3 (0: nothing) */
        bool former_voter;  /* monitor 4 left the voters, announcing nothing */
        bool raise;
    } cases[] = {
#define L PGQ_FEATURE_LEVEL
        {{L, L, L}, false, true}, {{L, L, 0}, false, false},    {{L, L - 1, L}, false, false},
        {{L, L, L}, true, true},  {{L + 1, L, 9}, false, true}, {{0, 0, 0}, false, false},
#undef L
    };
    struct state empty;
    struct command c;
    (void)ctx;
    /* No voter known yet (no leader's hello applied): nobody announced anything. */
    state_init(&empty);
    assert_false(next(&empty, 1000, &c));
    state_close(&empty);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct state s;
        bool rv;
        state_init(&s);
        if (cases[i].former_voter) {
            static const uint64_t four[] = {1, 2, 3, 4};
            c = b_cmd_hello(1000, 1, four, 4);
            b_apply(&s, &c);
        }
        b_hello(&s, 1000, 1, 3);
        for (unsigned m = 0; m < 3; m++) {
            if (cases[i].levels[m] != 0) {
                c = b_cmd_report(1100, m + 1, NULL, 0);
                c.u.report.feature_level = cases[i].levels[m];
                b_apply(&s, &c);
            }
        }
        rv = next(&s, 2000, &c);
        if (rv != cases[i].raise) {
            fail_msg("case %zu: %s", i, rv ? "raised" : "not raised");
        }
        if (rv) {
            assert_int_equal(c.kind, CMD_FEATURE);
            assert_int_equal(c.u.feature.level, PGQ_FEATURE_LEVEL);
            b_apply(&s, &c);
            assert_int_equal(s.feature_level, PGQ_FEATURE_LEVEL);
            assert_false(next(&s, 3000, &c));
        }
        state_close(&s);
    }
}

/* ---- replication slots ------------------------------------------------------------ */

/* PC with replication_slots on. */
static struct policy_config slots_pc(void)
{
    struct policy_config pc = PC;
    pc.replication_slots = true;
    return pc;
}

/* The primary of the epoch commits that it holds every slot, for the current members. */
static void slots_done(struct state *s, uint64_t t)
{
    struct command c = b_cmd_step(t, PGQ_STEP_SLOTS, b_cluster(s)->primary, b_cluster(s)->epoch, 0);
    c.u.step.round = b_cluster(s)->members_gen;
    b_apply(s, &c);
}

static void test_slots_due(void **ctx)
{
    /* With replication_slots on and the cluster at feature level 3, the primary of the epoch is
     * made to hold its slots once per epoch and change of members (the action names the members
     * generation, and one of an older generation is no longer due), never while a failover is
     * under way or the primary is down; off, or below level 3, never. */
    struct state *s = *ctx;
    struct policy_config pc = slots_pc();
    struct action a[8], old;
    char names[4][PGQ_SLOT_NAME_MAX];
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 0); /* level 1 */
    b_feature_level(s, 1100);
    assert_int_equal(policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a)), 0);
    assert_int_equal(policy_actions(s, &PC, a, PGQ_ARRAY_SIZE(a)), 0);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_SLOTS);
    assert_string_equal(a[0].node, "pg1");
    assert_int_equal(a[0].epoch, 1);
    assert_int_equal(a[0].round, 0);
    assert_string_equal(a[0].conninfo, b_node(s, "pg1")->conninfo);
    assert_string_equal(policy_action_name(a[0].kind), "slots");
    assert_true(policy_action_due(s, &pc, &a[0]));
    assert_false(policy_action_due(s, NULL, &a[0]));
    assert_int_equal(policy_slot_names(s, B_CLUSTER, names, 4), 2);
    assert_string_equal(names[0], "pgq_pg2");
    assert_string_equal(names[1], "pgq_pg3");
    assert_int_equal(policy_slot_names(s, B_CLUSTER, names, 1), 2);
    assert_int_equal(policy_slot_names(s, "nosuch", names, 4), 0);
    slots_done(s, 1200);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 0);
    assert_false(policy_action_due(s, &pc, &a[0]));

    /* A node added: due again, for the new generation only. */
    old = a[0];
    b_add(s, 1300, "pg4", 50);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_SLOTS);
    assert_int_equal(a[0].round, 1);
    assert_false(policy_action_due(s, &pc, &old));
    assert_int_equal(policy_slot_names(s, B_CLUSTER, names, 4), 3);
    assert_string_equal(names[2], "pgq_pg4");
    slots_done(s, 1400);
    b_remove(s, 1500, "pg4");
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_SLOTS);
    assert_int_equal(a[0].round, 2);
    slots_done(s, 1600);

    /* The primary down, its failover: nothing until the new primary is promoted; then its
     * slots, for every other node (the old primary too), while its standby is repointed with
     * its own slot. */
    lose_primary(s, 10000, 1, 3);
    b_add(s, 10100, "pg5", 50);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 0);
    reprobe(s, 10200, "pg2", 0x1000);
    reprobe(s, 10200, "pg3", 0x1000);
    b_failover(s, 15000, "pg2");
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_PROMOTE);
    b_step(s, 16000, PGQ_STEP_PROMOTED, "pg2", 2);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 2);
    assert_int_equal(a[0].kind, ACT_SLOTS);
    assert_string_equal(a[0].node, "pg2");
    assert_int_equal(a[0].epoch, 2);
    assert_int_equal(a[1].kind, ACT_REPOINT);
    assert_string_equal(a[1].node, "pg3");
    assert_string_equal(a[1].slot, "pgq_pg3");
    assert_int_equal(policy_slot_names(s, B_CLUSTER, names, 4), 3);
    assert_string_equal(names[0], "pgq_pg1");
    assert_string_equal(names[1], "pgq_pg3");
    assert_string_equal(names[2], "pgq_pg5");
    /* Slots off: the repoint gives no slot. */
    assert_int_equal(policy_actions(s, &PC, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_string_equal(a[0].slot, "");
}

static void test_slots_unslotted_repointed(void **ctx)
{
    /* A standby that says it streams without its slot is repointed to take it, but only once the
     * primary was found holding every slot in this epoch (slots can be made there), only with
     * replication_slots on, and never one whose role may not set primary_slot_name (it is kept
     * no slot). */
    struct state *s = *ctx;
    struct policy_config pc = slots_pc();
    struct action a[8];
    struct obs o;
    char names[4][PGQ_SLOT_NAME_MAX];
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1100);
    o = b_recovering(s, "pg3", 0x1000);
    o.slot_use = PGQ_SLOT_USE_DENIED;
    b_report(s, 1200, 1, &o);
    assert_int_equal(policy_slot_names(s, B_CLUSTER, names, 4), 1);
    assert_string_equal(names[0], "pgq_pg2");
    o = b_recovering(s, "pg2", 0x1000);
    o.slot_use = PGQ_SLOT_USE_NONE;
    b_report(s, 1200, 1, &o);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_SLOTS);
    slots_done(s, 1300);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    assert_int_equal(a[0].kind, ACT_REPOINT);
    assert_string_equal(a[0].node, "pg2");
    assert_string_equal(a[0].slot, "pgq_pg2");
    assert_true(policy_action_due(s, &pc, &a[0]));
    assert_int_equal(policy_actions(s, &PC, a, PGQ_ARRAY_SIZE(a)), 0);
    /* Repointed, and seen streaming with it. */
    b_step(s, 1400, PGQ_STEP_REPOINTED, "pg2", 0);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 1);
    o.slot_use = PGQ_SLOT_USE_OWN;
    b_report(s, 1500, 1, &o);
    assert_int_equal(policy_actions(s, &pc, a, PGQ_ARRAY_SIZE(a)), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_choose_table),
        T(test_slots_due),
        T(test_slots_unslotted_repointed),
        T(test_fresh_position),
        T(test_fresh_down),
        T(test_decision_after_failover_timeout),
        T(test_zero_failover_timeout),
        T(test_tilt_decides_nothing),
        T(test_next_commands_one_per_cluster),
        T(test_overloaded_views_make_no_verdict),
        T(test_overloaded_view_breaks_a_majority),
        T(test_overload_mark_below_level_6_is_refused),
        T(test_storm_while_leader_late_holds),
        T(test_one_failure_while_leader_late_is_failed_over),
        T(test_storm_is_counted_within_one_window),
        T(test_aged_down_view_does_not_count),
        T(test_minority_causes_no_failover),
        T(test_new_generation_needs_fresh_views),
        T(test_primary_in_maintenance_blocks),
        T(test_primary_in_maintenance_allowed),
        T(test_pause_holds_failover),
        T(test_pause_holds_cut),
        T(test_pause_carries_decision_through),
        T(test_pause_keeps_fencing_and_undoing_a_cut),
        T(test_pause_holds_given_up),
        T(test_no_candidate_blocks),
        T(test_cut_waits_for_standbys),
        T(test_lag_limit_after_every_monitor_lost_primary),
        T(test_rediscovery_after_lone_primary_removed),
        T(test_discovery),
        T(test_discovery_unreachable_ignored),
        T(test_two_writable_blocked),
        T(test_done_when_standbys_follow),
        T(test_sync_standbys),
        T(test_sync_standby_down_blocks),
        T(test_sync_standby_left),
        T(test_sync_standbys_left_but_up),
        T(test_sync_standby_not_cut_holds),
        T(test_sync_floor_survives_lost_candidate),
        T(test_reference_from_standbys),
        T(test_cut_abandoned_without_fresh_majority),
        T(test_cut_survives_new_leader),
        T(test_given_up_with_sync),
        T(test_given_up_alone_is_retried),
        T(test_done_without_unknown_standby),
        T(test_done_without_down_standby),
        T(test_rejoin_demoted),
        T(test_rejoining_not_a_candidate),
        T(test_rejoined_by_its_agent),
        T(test_healthy_cluster_quiet),
        T(test_actions_promote_when_decided),
        T(test_actions_repoint_after_promotion),
        T(test_actions_repoint_after_discovery),
        T(test_actions_fence),
        T(test_actions_fence_old_primary),
        T(test_actions_capacity),
        T(test_actions_no_ceiling),
        T(test_decide_waits_for_the_lease),
        T(test_fenced_agent_ends_the_wait),
        T(test_agent_and_failover_timeout),
        T(test_unprotected_primary_blocked),
        T(test_unprotected_primary_allowed),
        T(test_allowance_is_for_one_epoch),
        T(test_unprotected_primary_with_sync_standby),
        T(test_unprotected_sync_standby_not_a_node),
        T(test_no_lease_book_never_decides),
        T(test_next_agent),
        T(test_next_agent_silent),
        T(test_next_feature),
        T(test_switchover_begins_at_its_time),
        T(test_switchover_at_once),
        T(test_switchover_cut_once_stopped),
        T(test_switchover_stop_limit),
        T(test_switchover_decides_its_target),
        T(test_switchover_best_standby),
        T(test_switchover_target_short),
        T(test_switchover_primary_runs_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
