/* Unit tests of managed synchronous replication (agent/cluster_sync.c,
 * agent/policy_sync.c): the set the leader commits in each mode, its
 * sequencing (committed, written, confirmed, older sets retired), which
 * standbys a failover may promote, the operator's allowance to lose writes,
 * feature level 3, and the snapshot. States are reached through
 * cluster_apply with builders.h; the policy is asserted not to touch them. */
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

#define ANY1_BOTH "ANY 1 (\"pg2\", \"pg3\")"
#define ANY2_BOTH "ANY 2 (\"pg2\", \"pg3\")"

/* ---- helpers ---------------------------------------------------------------------- */

static bool next(const struct state *s, uint64_t now, struct command *out)
{
    return b_plan(s, &PC, now, out); /* the policy only plans: the state is untouched */
}

static struct command expect_cmd(const struct state *s, uint64_t now, int kind)
{
    struct command c;
    if (!next(s, now, &c)) {
        fail_msg("at %llu: no command, want kind %d", (unsigned long long)now, kind);
    }
    if (c.kind != kind) {
        fail_msg("at %llu: command kind %d (blocked \"%s\"), want kind %d", (unsigned long long)now,
                 c.kind, c.u.blocked.reason, kind);
    }
    return c;
}

static void expect_none(const struct state *s, uint64_t now)
{
    struct command c;
    if (next(s, now, &c)) {
        fail_msg("at %llu: unexpected command kind %d (blocked \"%s\")", (unsigned long long)now,
                 c.kind, c.u.blocked.reason);
    }
}

/* The next command is a set whose setting is `text`; it is applied. */
static struct command commit_set(struct state *s, uint64_t now, const char *text)
{
    struct command c = expect_cmd(s, now, CMD_SYNC_SET);
    char got[PGQ_SYNC_SETTING_MAX];
    sync_set_text(&c.u.sync_set.set, got, sizeof got);
    assert_string_equal(got, text);
    b_apply(s, &c);
    return c;
}

static const struct event *last_event(const struct state *s)
{
    assert_true(b_n_events(s) > 0);
    return b_event(s, b_n_events(s) - 1);
}

/* pg1 primary, pg2 and pg3 standbys streaming from it, level 3, the mode
 * set; the primary seen running `setting` with both standbys. */
static void sync_cluster(struct state *s, int mode, unsigned number)
{
    struct command c = b_cmd_sync_mode(1000, mode, number);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_apply(s, &c);
    b_primary_runs(s, 1100, 0x2000, "", "pg2,pg3");
}

/* A standby seen (by monitor 1) holding WAL up to lsn. */
static void standby_holds(struct state *s, uint64_t t, const char *node, uint64_t lsn)
{
    struct obs o = b_recovering(s, node, lsn);
    assert_true(state_obs_sync_due(s, B_CLUSTER, &o)); /* reported at once */
    b_report(s, t, 1, &o);
}

/* The committed set is written (one ACT_SYNC on the primary, with its
 * setting), then seen running at lsn, and held by the standbys named. */
static void confirm(struct state *s, uint64_t t, uint64_t lsn, const char *replicas)
{
    struct action acts[8];
    const struct cluster *c = b_cluster(s);
    char text[PGQ_SYNC_SETTING_MAX];
    sync_set_text(&c->sync.set, text, sizeof text);
    assert_int_equal(policy_actions(s, NULL, acts, 8), 1);
    assert_int_equal(acts[0].kind, ACT_SYNC);
    assert_string_equal(acts[0].node, "pg1");
    assert_string_equal(acts[0].sync_setting, text);
    assert_int_equal(acts[0].round, c->sync.set.seq);
    b_primary_runs(s, t, lsn, text, replicas);
    assert_int_equal(c->sync.applied_seq, c->sync.set.seq);
    assert_int_equal(c->sync.applied_lsn, lsn);
    assert_int_equal(policy_actions(s, NULL, acts, 8), 0);
    for (unsigned i = 0; i < c->sync.set.n_names && c->sync.n_retiring > 0; i++) {
        standby_holds(s, t, c->sync.set.names[i], lsn);
    }
    assert_int_equal(c->sync.n_retiring, 0);
}

/* The primary and `also` (or nobody) seen down by every voter; the other
 * standbys probed anew at their positions. */
static void lose(struct state *s, uint64_t t, const char *also, uint64_t pg2, uint64_t pg3)
{
    struct obs o = b_unreachable(s, "pg1");
    b_report_by(s, t, 1, 3, &o);
    if (also != NULL) {
        o = b_unreachable(s, also);
        b_report_by(s, t, 1, 3, &o);
    }
    if (also == NULL || strcmp(also, "pg2") != 0) {
        o = b_recovering(s, "pg2", pg2);
        b_report_by(s, t, 1, 3, &o);
    }
    if (also == NULL || strcmp(also, "pg3") != 0) {
        o = b_recovering(s, "pg3", pg3);
        b_report_by(s, t, 1, 3, &o);
    }
}

/* The leader's cut at now, every standby that is up reporting its latest
 * position; then the next command. */
static struct command cut_then_next(struct state *s, uint64_t now, int kind)
{
    struct command c = expect_cmd(s, now, CMD_CUT);
    b_apply(s, &c);
    b_cut_standbys(s, now);
    return expect_cmd(s, now + 1, kind);
}

/* ---- level and configuration ------------------------------------------------------ */

static void test_sync_refused_below_level_3(void **ctx)
{
    /* Below feature level 3 every sync command is refused as a monitor of the previous
     * version refuses it, state unchanged; an operator's request is refused before it is
     * proposed, saying why; at level 3 the same command applies. */
    struct state *s = *ctx;
    struct command mode, set, allow;
    struct apply_result res;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    mode = b_cmd_sync_mode(2000, PGQ_SYNC_QUORUM, 1);
    set = b_cmd_sync_set(s, 2000, PGQ_SYNC_ANY, 1, "pg2,pg3");
    allow = b_cmd_allow_data_loss(2000, "alice");
    b_refused(s, &mode, PGQ_VERSION, "command needs feature level 3; the cluster is at level 1");
    b_refused(s, &set, PGQ_VERSION, "command needs feature level 3; the cluster is at level 1");
    b_refused(s, &allow, PGQ_VERSION, "command needs feature level 3");
    assert_int_equal(cluster_check(s, &mode, &res), PGQ_VERSION);
    b_assert_contains(res.message, "upgrade every monitor first");
    b_feature_level(s, 2000);
    assert_int_equal(cluster_check(s, &mode, &res), 0);
    b_apply(s, &mode);
    assert_int_equal(b_cluster(s)->sync.mode, PGQ_SYNC_QUORUM);
    assert_int_equal(b_cluster(s)->sync.number, 1);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SYNC);
    assert_string_equal(last_event(s)->message,
                        "synchronous replication of cluster main: mode quorum, number_sync 1");
}

static void test_sync_config_bad_values(void **ctx)
{
    /* Bad configurations are refused with one line naming the problem and change nothing;
     * strict mode that would wait for ever is refused before it is proposed. */
    struct state *s = *ctx;
    struct command c;
    struct apply_result res;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    c = b_cmd_sync_mode(2000, PGQ_SYNC_QUORUM, PGQ_SYNC_MAX + 1);
    b_refused(s, &c, PGQ_INVALID, "number_sync 9 is out of range 1..8");
    c = b_cmd_sync_mode(2000, PGQ__N_SYNC_MODES, 1);
    b_refused(s, &c, PGQ_INVALID, "is not off, quorum or strict");
    c = b_cmd_sync_mode(2000, -1, 0);
    b_refused(s, &c, PGQ_INVALID, "one of them");
    c = b_cmd_sync_mode(2000, PGQ_SYNC_QUORUM, 1);
    pgq_strlcpy(c.cluster, "nosuch", sizeof c.cluster);
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nosuch");
    c = b_cmd_sync_rq(2000, "pg9", false);
    b_refused(s, &c, PGQ_NOTFOUND, "no node pg9 in cluster main");
    c = b_cmd_sync_rq(2000, "pg2", false);
    c.u.sync_config.allow_data_loss = true;
    b_refused(s, &c, PGQ_INVALID, "one of them");

    c = b_cmd_sync_mode(2000, PGQ_SYNC_STRICT, 3);
    assert_int_equal(cluster_check(s, &c, &res), PGQ_REFUSED);
    assert_string_equal(res.message,
                        "strict mode with number_sync 3 needs 3 standbys with replication_quorum "
                        "true; cluster main would have 2: writes would wait for ever");
    c = b_cmd_sync_mode(2000, PGQ_SYNC_STRICT, 2);
    assert_int_equal(cluster_check(s, &c, &res), 0);
    b_apply(s, &c);
    c = b_cmd_sync_rq(2100, "pg2", false);
    assert_int_equal(cluster_check(s, &c, &res), PGQ_REFUSED);
    b_assert_contains(res.message, "would have 1");
    /* A set naming the primary, or a name twice, is refused. */
    c = b_cmd_sync_set(s, 2200, PGQ_SYNC_ANY, 1, "pg1");
    b_refused(s, &c, PGQ_INVALID, "is not a valid standby name, or given twice");
    c = b_cmd_sync_set(s, 2200, PGQ_SYNC_ANY, 1, "pg2,pg2");
    b_refused(s, &c, PGQ_INVALID, "given twice");
    c = b_cmd_sync_set(s, 2200, PGQ_SYNC_ANY, 3, "pg2,pg3");
    b_refused(s, &c, PGQ_INVALID, "bad method, number or names");
    c = b_cmd_sync_set(s, 2200, PGQ_SYNC_ANY, 1, "pg2");
    c.u.sync_set.set.epoch = 7;
    b_refused(s, &c, PGQ_STALE, "synchronous set for epoch 7 is stale (epoch 1)");
}

/* ---- the set each mode calls for ------------------------------------------------- */

static void test_sync_quorum_set(void **ctx)
{
    /* Quorum mode: ANY k of the standbys streaming from the primary, committed before it is
     * written (one ACT_SYNC), confirmed by the primary's own observation; number_sync raised:
     * ANY 2; a standby that stops streaming lowers k to the healthy ones, none empties the
     * setting (writes go on asynchronously), each older set binding until the new one is in
     * force. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    c = commit_set(s, 2000, ANY1_BOTH);
    assert_string_equal(c.u.sync_set.reason,
                        "quorum mode, number_sync 1, for the primary of "
                        "epoch 1");
    assert_string_equal(last_event(s)->message,
                        "synchronous set of pg1: synchronous_standby_names = '" ANY1_BOTH
                        "' (quorum mode, number_sync 1, for the primary of epoch 1)");
    expect_none(s, 2100); /* committed: nothing more to propose */
    confirm(s, 2200, 0x3000, "pg2,pg3");
    assert_string_equal(b_cluster(s)->sync.seen, ANY1_BOTH);

    c = b_cmd_sync_mode(3000, -1, 2);
    b_apply(s, &c);
    commit_set(s, 3100, ANY2_BOTH);
    assert_int_equal(b_cluster(s)->sync.n_retiring, 1);
    confirm(s, 3200, 0x4000, "pg2,pg3");
    b_assert_contains(last_event(s)->message, "synchronous set '" ANY2_BOTH
                                              "' in force: pg1 runs it and 2 of its standbys "
                                              "hold its WAL up to 0/4000");

    /* pg3 stops streaming: ANY 1 of pg2. */
    b_primary_runs(s, 4000, 0x5000, ANY2_BOTH, "pg2");
    c = commit_set(s, 4100, "ANY 1 (\"pg2\")");
    assert_string_equal(c.u.sync_set.reason,
                        "pg3 left: not streaming from the primary; fewer healthy standbys than "
                        "number_sync 2");
    assert_int_equal(b_cluster(s)->sync.n_retiring, 1);
    /* And pg2: an empty setting. */
    b_primary_runs(s, 4200, 0x6000, "ANY 1 (\"pg2\")", "");
    c = commit_set(s, 4300, "");
    assert_string_equal(c.u.sync_set.reason,
                        "pg2 left: not streaming from the primary; no healthy synchronous "
                        "standby: writes go on asynchronously");
    confirm(s, 4400, 0x7000, "");
    b_assert_contains(last_event(s)->message, "in force");
    /* pg3 is back: it grows again. */
    b_primary_runs(s, 5000, 0x8000, "", "pg3");
    c = commit_set(s, 5100, "ANY 1 (\"pg3\")");
    assert_string_equal(c.u.sync_set.reason,
                        "pg3 joined; fewer healthy standbys than number_sync 2");
}

static void test_sync_kept_while_postmaster_dead(void **ctx)
{
    /* While the primary's agent says its postmaster is dead, an observation that still finds it
     * writable with no standby streaming (a backend that outlived the postmaster) changes no
     * set: the standbys stay in it for the failover. Once the agent says it runs again, the
     * same observation lowers the set as usual. */
    struct state *s = *ctx;
    struct agent_facts dead = b_agent_facts(false);
    struct agent_facts up = b_agent_facts(true);
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    commit_set(s, 2000, ANY1_BOTH);
    confirm(s, 2200, 0x3000, "pg2,pg3");
    dead.handover = true;
    b_agent(s, 2500, "pg1", &dead);
    b_primary_runs(s, 2600, 0x3100, ANY1_BOTH, "");
    if (next(s, 2700, &c)) {
        assert_int_not_equal(c.kind, CMD_SYNC_SET);
    }
    assert_string_equal(b_cluster(s)->sync.set.names[0], "pg2");
    b_agent(s, 2800, "pg1", &up);
    b_primary_runs(s, 2900, 0x3200, ANY1_BOTH, "");
    commit_set(s, 3000, "");
}

static void test_sync_strict_set(void **ctx)
{
    /* Strict mode: FIRST k of exactly k standbys; one that stops streaming is replaced by a
     * healthy one; with none healthy the set keeps its names (writes wait) and nothing new is
     * proposed; a standby with replication_quorum false is never named. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_STRICT, 1);
    commit_set(s, 2000, "FIRST 1 (\"pg2\")");
    confirm(s, 2100, 0x3000, "pg2,pg3");
    b_primary_runs(s, 3000, 0x4000, "FIRST 1 (\"pg2\")", "pg3");
    c = commit_set(s, 3100, "FIRST 1 (\"pg3\")");
    assert_string_equal(c.u.sync_set.reason,
                        "pg2 left: not streaming from the primary; pg3 "
                        "joined");
    confirm(s, 3200, 0x5000, "pg3");
    b_primary_runs(s, 4000, 0x6000, "FIRST 1 (\"pg3\")", "");
    expect_none(s, 4100); /* never fewer than number_sync names */
    assert_string_equal(b_cluster(s)->sync.set.names[0], "pg3");
    /* pg2 streams again, pg3 may no longer be synchronous: pg2 replaces it. */
    c = b_cmd_sync_rq(4200, "pg3", false);
    b_apply(s, &c);
    assert_string_equal(last_event(s)->message,
                        "node pg3 may no longer be a synchronous standby (replication_quorum "
                        "false)");
    b_primary_runs(s, 4300, 0x7000, "FIRST 1 (\"pg3\")", "pg2,pg3");
    c = commit_set(s, 4400, "FIRST 1 (\"pg2\")");
    assert_string_equal(c.u.sync_set.reason, "pg3 left: replication_quorum false; pg2 joined");
}

static void test_sync_off_after_managed(void **ctx)
{
    /* Mode off after managed: one empty setting is written (what cannot block writes), then
     * the setting is the operator's: a change by hand is not undone. */
    struct state *s = *ctx;
    struct command c;
    struct action acts[4];
    sync_cluster(s, PGQ_SYNC_STRICT, 1);
    commit_set(s, 2000, "FIRST 1 (\"pg2\")");
    confirm(s, 2100, 0x3000, "pg2,pg3");
    c = b_cmd_sync_mode(3000, PGQ_SYNC_OFF, 0);
    b_apply(s, &c);
    b_assert_contains(last_event(s)->message,
                      "mode off (synchronous_standby_names is set empty "
                      "once, then left alone)");
    commit_set(s, 3100, "");
    confirm(s, 3200, 0x4000, "pg2,pg3");
    b_primary_runs(s, 3300, 0x5000, "FIRST 1 (pg2)", "pg2,pg3");
    expect_none(s, 3400);
    assert_int_equal(policy_actions(s, NULL, acts, 4), 0);
}

static void test_sync_drift_rewritten(void **ctx)
{
    /* Managed, a primary seen running another setting (changed by hand, a restart) is made
     * to run the committed set again. */
    struct state *s = *ctx;
    struct action acts[4];
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    commit_set(s, 2000, ANY1_BOTH);
    confirm(s, 2100, 0x3000, "pg2,pg3");
    b_primary_runs(s, 3000, 0x4000, "", "pg2,pg3");
    assert_int_equal(policy_actions(s, NULL, acts, 4), 1);
    assert_int_equal(acts[0].kind, ACT_SYNC);
    assert_string_equal(acts[0].sync_setting, ANY1_BOTH);
}

/* ---- failovers ------------------------------------------------------------------- */

static void test_sync_strict_candidate_in_set(void **ctx)
{
    /* Strict FIRST 1 (pg2), the primary lost: pg2 is promoted, not pg3 (which holds nothing
     * acknowledged that pg2 lacks); the new primary's set (pg3, being repointed) is committed
     * before its promotion, which writes it first. */
    struct state *s = *ctx;
    struct command c;
    struct action acts[8];
    unsigned n;
    sync_cluster(s, PGQ_SYNC_STRICT, 1);
    commit_set(s, 2000, "FIRST 1 (\"pg2\")");
    confirm(s, 2100, 0x3000, "pg2,pg3");
    {
        /* pg3 further than pg2 (WAL no commit waited for): pg2 all the same. */
        struct state ahead;
        state_init(&ahead);
        b_copy(&ahead, s);
        lose(&ahead, 3000, NULL, 0x5000, 0x6000);
        c = cut_then_next(&ahead, 8100, CMD_DECIDE);
        assert_string_equal(c.node, "pg2");
        state_close(&ahead);
    }
    lose(s, 3000, NULL, 0x5000, 0x5000);
    c = cut_then_next(s, 8100, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    /* No promotion before the set for epoch 2. */
    n = policy_actions(s, NULL, acts, 8);
    for (unsigned i = 0; i < n; i++) {
        assert_int_not_equal(acts[i].kind, ACT_PROMOTE);
    }
    c = commit_set(s, 8200, "FIRST 1 (\"pg3\")");
    assert_int_equal(c.u.sync_set.set.epoch, 2);
    n = policy_actions(s, NULL, acts, 8);
    assert_true(n >= 1);
    assert_int_equal(acts[0].kind, ACT_PROMOTE);
    assert_true(acts[0].sync_managed);
    assert_string_equal(acts[0].sync_setting, "FIRST 1 (\"pg3\")");
}

static void test_sync_strict_blocked_then_allowed(void **ctx)
{
    /* Strict FIRST 1 (pg2), the primary and pg2 lost together: pg3 is not in the set, so
     * nothing is cut or promoted and the reason names the allowance; an operator's
     * --allow-data-loss (an audited event) lets pg3 be promoted, the decision saying writes
     * may be lost; the allowance ends with the promotion. */
    struct state *s = *ctx;
    struct command c;
    struct apply_result res;
    sync_cluster(s, PGQ_SYNC_STRICT, 1);
    commit_set(s, 2000, "FIRST 1 (\"pg2\")");
    confirm(s, 2100, 0x3000, "pg2,pg3");
    lose(s, 3000, "pg2", 0, 0x6000);
    c = expect_cmd(s, 8100, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "no eligible standby: pg2: down; pg3: not in the synchronous set "
                        "(pgquorumctl failover --allow-data-loss)");
    b_apply(s, &c);
    expect_none(s, 8200);

    c = b_cmd_allow_data_loss(8300, "alice");
    assert_int_equal(cluster_check(s, &c, &res), 0);
    b_apply(s, &c);
    assert_int_equal(last_event(s)->kind, PGQ_EV_SYNC);
    assert_string_equal(last_event(s)->message,
                        "alice allowed a failover of pg1 that may lose acknowledged writes: the "
                        "synchronous rules no longer hold back the choice of a standby (epoch 1)");
    c = cut_then_next(s, 8400, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    b_assert_contains(c.u.decide.reason,
                      "synchronous rules waived by an operator "
                      "(--allow-data-loss): acknowledged writes may be lost");
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->sync.allow_loss_epoch, 2); /* through the chain */
    commit_set(s, 8500, "FIRST 1 (\"pg2\")");                 /* kept although down: writes wait */
    b_step(s, 8600, PGQ_STEP_PROMOTED, "pg3", 2);
    assert_int_equal(b_cluster(s)->sync.allow_loss_epoch, 0);
}

static void test_sync_quorum_needs_enough_compared(void **ctx)
{
    /* ANY 1 (pg2, pg3): a commit may be on either one alone, so with pg3 lost with the
     * primary, pg2 alone proves nothing: blocked, saying how many were needed. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    commit_set(s, 2000, ANY1_BOTH);
    confirm(s, 2100, 0x3000, "pg2,pg3");
    lose(s, 3000, "pg3", 0x5000, 0);
    c = cut_then_next(s, 8100, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "synchronous set '" ANY1_BOTH
                        "': 1 of its standbys could be compared after the cut (pg2), 2 needed: "
                        "one that was not may hold acknowledged writes the others lack "
                        "(pgquorumctl failover --allow-data-loss to fail over anyway)");
}

static void test_sync_quorum_floor_rank(void **ctx)
{
    /* ANY 2 (pg2, pg3) still binding, both compared: every commit it made wait is on both,
     * so its floor is the lower of the two, and pg2 (of the newer ANY 1 (pg2)) may be
     * promoted although pg3 is further. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 2);
    commit_set(s, 2000, ANY2_BOTH);
    confirm(s, 2100, 0x3000, "pg2,pg3");
    c = b_cmd_maintenance(2200, "pg3", true); /* never a candidate, still compared */
    b_apply(s, &c);
    b_primary_runs(s, 2300, 0x3000, ANY2_BOTH, "pg2,pg3");
    /* pg3 in maintenance leaves the set: ANY 1 (pg2), not in force yet. */
    commit_set(s, 2400, "ANY 1 (\"pg2\")");
    assert_int_equal(b_cluster(s)->sync.n_retiring, 1);
    lose(s, 3000, NULL, 0x5000, 0x6000);
    c = cut_then_next(s, 8100, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
}

static void test_sync_empty_set_blocks(void **ctx)
{
    /* With no healthy standby the quorum-mode set is empty (writes went on asynchronously):
     * no standby is known to hold them, so no failover without an allowance. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    b_primary_runs(s, 1500, 0x2000, "", "");
    commit_set(s, 2000, "");
    confirm(s, 2100, 0x3000, "");
    b_primary_runs(s, 2200, 0x3000, "", ""); /* nobody streams: nothing to propose */
    lose(s, 3000, NULL, 0x5000, 0x6000);
    c = expect_cmd(s, 8100, CMD_BLOCKED);
    b_assert_contains(c.u.blocked.reason, "pg2: not in the synchronous set");
    c = b_cmd_allow_data_loss(8200, "bob");
    b_apply(s, &c);
    c = cut_then_next(s, 8300, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
}

static void test_sync_grow_binds_until_in_force(void **ctx)
{
    /* number_sync 2 with only pg2 streaming: ANY 1 (pg2). pg3 joins: ANY 2 (pg2, pg3) is
     * committed, but until the primary runs it and both hold its WAL, a commit may be on pg2
     * alone: with the primary and pg2 lost, pg3 is not promoted. Once the new set is in force
     * the same loss promotes pg3. */
    struct state *s = *ctx;
    struct state later;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 2);
    b_primary_runs(s, 1500, 0x2000, "", "pg2");
    commit_set(s, 2000, "ANY 1 (\"pg2\")");
    confirm(s, 2100, 0x3000, "pg2");
    b_primary_runs(s, 2200, 0x3000, "ANY 1 (\"pg2\")", "pg2,pg3");
    commit_set(s, 2300, ANY2_BOTH);
    state_init(&later);
    b_copy(&later, s);

    lose(s, 3000, "pg2", 0, 0x6000);
    c = cut_then_next(s, 8100, CMD_BLOCKED);
    assert_string_equal(c.u.blocked.reason,
                        "synchronous set 'ANY 1 (\"pg2\")': 0 of its standbys could be compared "
                        "after the cut (none), 1 needed: one that was not may hold acknowledged "
                        "writes the others lack (pgquorumctl failover --allow-data-loss to fail "
                        "over anyway)");

    confirm(&later, 2400, 0x4000, "pg2,pg3");
    lose(&later, 3000, "pg2", 0, 0x6000);
    c = cut_then_next(&later, 8100, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    state_close(&later);
}

static void test_sync_candidate_lost_before_promotion(void **ctx)
{
    /* A candidate that dies before its promotion acknowledged nothing: its own set is
     * dropped, and the next candidate must satisfy the last writable primary's set. */
    struct state *s = *ctx;
    struct command c;
    sync_cluster(s, PGQ_SYNC_QUORUM, 2);
    commit_set(s, 2000, ANY2_BOTH);
    confirm(s, 2100, 0x3000, "pg2,pg3");
    lose(s, 3000, NULL, 0x5000, 0x5000);
    c = cut_then_next(s, 8100, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    commit_set(s, 8200, "ANY 1 (\"pg3\")"); /* pg3 being repointed at pg2 */
    assert_int_equal(b_cluster(s)->sync.n_retiring, 1);
    /* pg2 dies before its promotion. */
    {
        struct obs o = b_unreachable(s, "pg2");
        b_report_by(s, 9000, 1, 3, &o);
    }
    c = cut_then_next(s, 14100, CMD_DECIDE);
    assert_string_equal(c.node, "pg3");
    b_apply(s, &c);
    /* pg2's set is dropped, pg1's still binds until pg3's is in force. */
    commit_set(s, 14200, ""); /* pg2 is down, pg1 needs a rejoin */
    assert_int_equal(b_cluster(s)->sync.n_retiring, 1);
    assert_int_equal(b_cluster(s)->sync.retiring[0].epoch, 1);
}

static void test_sync_new_primary_no_flap(void **ctx)
{
    /* After a failover, the standbys repointed at the new primary stay in its set until the
     * primary is seen again after the failover was done (its older view does not list them
     * yet); a view after that which does not list one drops it. */
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    commit_set(s, 2000, ANY1_BOTH);
    confirm(s, 2100, 0x3000, "pg2,pg3");
    lose(s, 3000, NULL, 0x5000, 0x5000);
    c = cut_then_next(s, 8100, CMD_DECIDE);
    assert_string_equal(c.node, "pg2");
    b_apply(s, &c);
    commit_set(s, 8200, "ANY 1 (\"pg3\")");
    b_step(s, 8300, PGQ_STEP_PROMOTED, "pg2", 2);
    o = b_writable(s, "pg2", 0x5100); /* seen promoted, nobody streaming from it yet */
    o.timeline = 2;
    pgq_strlcpy(o.sync_setting, "ANY 1 (\"pg3\")", sizeof o.sync_setting);
    b_report_by(s, 8300, 1, 3, &o);
    expect_none(s, 8350); /* being repointed: still healthy */
    b_step(s, 8400, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, 8400, PGQ_STEP_DONE, NULL, 0);
    expect_none(s, 8450);           /* the primary's last view is from before */
    b_report_by(s, 8500, 1, 3, &o); /* seen after: pg3 does not stream from it */
    c = commit_set(s, 8600, "");
    b_assert_contains(c.u.sync_set.reason, "pg3 left: not streaming from the primary");
}

static void test_sync_changes_bounded(void **ctx)
{
    /* A standby flapping in and out of the set while no set gets confirmed: at most 7 older
     * sets pile up (one slot stays for the next epoch's), then nothing more is proposed, and
     * nothing the state machine would refuse is ever proposed. */
    struct state *s = *ctx;
    uint64_t t = 2000;
    sync_cluster(s, PGQ_SYNC_QUORUM, 1);
    commit_set(s, t, ANY1_BOTH);
    for (unsigned i = 0; b_cluster(s)->sync.n_retiring < PGQ_SYNC_RETIRING_MAX - 1; i++) {
        assert_true(i < 2 * PGQ_SYNC_RETIRING_MAX);
        b_primary_runs(s, t += 100, 0x3000, "", i % 2 == 0 ? "pg2" : "pg2,pg3");
        commit_set(s, t += 100, i % 2 == 0 ? "ANY 1 (\"pg2\")" : ANY1_BOTH);
    }
    b_primary_runs(s, t += 100, 0x3000, "",
                   b_cluster(s)->sync.set.n_names == 2 ? "pg2" : "pg2,pg3");
    expect_none(s, t += 100);
    /* Confirmed at last: all retire, and the change goes through. */
    confirm(s, t += 100, 0x4000, b_cluster(s)->sync.set.n_names == 2 ? "pg2" : "pg2,pg3");
    expect_cmd(s, t += 100, CMD_SYNC_SET);
}

static void test_sync_snapshot_round_trip(void **ctx)
{
    /* A snapshot keeps the mode, number, the committed and retiring sets with what was held,
     * what the primary was seen applying and running, the allowance, and a node's
     * replication quorum. */
    struct state *s = *ctx;
    struct state copy;
    struct command c;
    const struct cluster *a, *b;
    sync_cluster(s, PGQ_SYNC_QUORUM, 2);
    commit_set(s, 2000, ANY2_BOTH);
    b_primary_runs(s, 2100, 0x3000, ANY2_BOTH, "pg2,pg3");
    b_primary_runs(s, 2200, 0x3000, ANY2_BOTH, "pg2");
    commit_set(s, 2300, "ANY 1 (\"pg2\")");
    b_primary_runs(s, 2400, 0x4000, "ANY 1 (\"pg2\")", "pg2");
    c = b_cmd_sync_rq(2500, "pg3", false);
    b_apply(s, &c);
    c = b_cmd_allow_data_loss(2600, "carol");
    b_apply(s, &c);
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    a = b_cluster(s);
    b = b_cluster(&copy);
    assert_int_equal(b->sync.mode, PGQ_SYNC_QUORUM);
    assert_int_equal(b->sync.number, 2);
    assert_true(sync_set_same(&a->sync.set, &b->sync.set));
    assert_int_equal(b->sync.set.seq, a->sync.set.seq);
    assert_int_equal(b->sync.n_retiring, 1);
    assert_true(sync_set_same(&a->sync.retiring[0], &b->sync.retiring[0]));
    assert_int_equal(b->sync.applied_seq, a->sync.set.seq);
    assert_int_equal(b->sync.applied_lsn, 0x4000);
    assert_string_equal(b->sync.seen, "ANY 1 (\"pg2\")");
    assert_int_equal(b->sync.allow_loss_epoch, 1);
    assert_false(b_node(&copy, "pg3")->replication_quorum);
    assert_true(b_node(&copy, "pg2")->replication_quorum);
    state_close(&copy);
}

static void test_sync_text(void **ctx)
{
    /* The setting written: names always quoted (a name with '-' or capitals needs it), an
     * empty one for none, and a strict set with no standby names one no standby has. */
    static const struct
    {
        int method;
        unsigned k;
        const char *names;
        const char *text;
    } cases[] = {
        {PGQ_SYNC_NONE, 0, "", ""},
        {PGQ_SYNC_ANY, 1, "pg-2,Pg.3", "ANY 1 (\"pg-2\", \"Pg.3\")"},
        {PGQ_SYNC_FIRST, 2, "a,b", "FIRST 2 (\"a\", \"b\")"},
        {PGQ_SYNC_FIRST, 1, "", "FIRST 1 (\"pgquorum:none\")"},
    };
    struct state *s = *ctx;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct command c = b_cmd_sync_set(s, 0, cases[i].method, cases[i].k, cases[i].names);
        char text[PGQ_SYNC_SETTING_MAX];
        sync_set_text(&c.u.sync_set.set, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)
    const struct CMUnitTest tests[] = {
        T(test_sync_refused_below_level_3),
        T(test_sync_config_bad_values),
        T(test_sync_quorum_set),
        T(test_sync_strict_set),
        T(test_sync_kept_while_postmaster_dead),
        T(test_sync_off_after_managed),
        T(test_sync_drift_rewritten),
        T(test_sync_strict_candidate_in_set),
        T(test_sync_strict_blocked_then_allowed),
        T(test_sync_quorum_needs_enough_compared),
        T(test_sync_quorum_floor_rank),
        T(test_sync_empty_set_blocks),
        T(test_sync_grow_binds_until_in_force),
        T(test_sync_candidate_lost_before_promotion),
        T(test_sync_new_primary_no_flap),
        T(test_sync_changes_bounded),
        T(test_sync_snapshot_round_trip),
        T(test_sync_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
