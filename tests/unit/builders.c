/* The test DSL (see builders.h): commands built field by field, applied
 * through cluster_apply(), and snapshots compared byte for byte. */
#include "builders.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "codec.h"
#include "lib/util.h"
#include "policy.h"

/* ---- commands ------------------------------------------------------------------ */

static struct command cmd_new(int kind, uint64_t t, const char *cluster, const char *node)
{
    struct command c;
    command_init(&c, kind);
    c.time_ms = t;
    pgq_strlcpy(c.cluster, cluster != NULL ? cluster : "", sizeof c.cluster);
    pgq_strlcpy(c.node, node != NULL ? node : "", sizeof c.node);
    return c;
}

struct command b_cmd_hello(uint64_t t, uint64_t leader, const uint64_t *ids, unsigned n)
{
    struct command c = cmd_new(CMD_HELLO, t, NULL, NULL);
    assert_true(n <= PGQ_MAX_MONITORS);
    c.u.hello.monitor_id = leader;
    snprintf(c.u.hello.api_address, sizeof c.u.hello.api_address, "10.0.0.%u:7002",
             (unsigned)leader);
    for (unsigned i = 0; i < n; i++) {
        c.u.hello.voters[i].id = ids[i];
        c.u.hello.voters[i].voter = true;
        snprintf(c.u.hello.voters[i].raft_address, sizeof c.u.hello.voters[i].raft_address,
                 "10.0.0.%u:7001", (unsigned)ids[i]);
    }
    c.u.hello.n_voters = n;
    return c;
}

struct command b_cmd_member(uint64_t t,
                            int op,
                            int step,
                            uint64_t id,
                            uint64_t old_id,
                            const uint64_t *voters,
                            unsigned n)
{
    struct command c = cmd_new(CMD_MEMBER, t, NULL, NULL);
    struct cmd_member *mb = &c.u.member;
    assert_true(n <= PGQ_MAX_MONITORS);
    mb->op = op;
    mb->step = step;
    mb->monitor_id = id;
    mb->old_id = old_id;
    snprintf(mb->raft_address, sizeof mb->raft_address, "10.0.0.%u:7001", (unsigned)id);
    snprintf(mb->api_address, sizeof mb->api_address, "10.0.0.%u:7002", (unsigned)id);
    for (unsigned i = 0; i < n; i++) {
        mb->voters[i].id = voters[i];
        mb->voters[i].voter = true;
        snprintf(mb->voters[i].raft_address, sizeof mb->voters[i].raft_address, "10.0.0.%u:7001",
                 (unsigned)voters[i]);
    }
    mb->n_voters = n;
    pgq_strlcpy(c.who, "user:admin", sizeof c.who);
    pgq_strlcpy(c.from, "127.0.0.1", sizeof c.from);
    return c;
}

struct command b_cmd_node_add(uint64_t t,
                              const char *cluster,
                              const char *node,
                              const char *conninfo,
                              unsigned priority)
{
    struct command c = cmd_new(CMD_NODE_ADD, t, cluster, node);
    pgq_strlcpy(c.u.node_add.conninfo, conninfo, sizeof c.u.node_add.conninfo);
    c.u.node_add.priority = priority;
    return c;
}

struct command b_cmd_node_remove(uint64_t t, const char *node)
{
    return cmd_new(CMD_NODE_REMOVE, t, B_CLUSTER, node);
}

struct command b_cmd_cluster_remove(uint64_t t, const char *cluster, const char *who)
{
    struct command c = cmd_new(CMD_CLUSTER_REMOVE, t, cluster, NULL);
    pgq_strlcpy(c.who, who, sizeof c.who);
    pgq_strlcpy(c.from, "127.0.0.1", sizeof c.from);
    return c;
}

struct command b_cmd_maintenance(uint64_t t, const char *node, bool on)
{
    struct command c = cmd_new(CMD_MAINTENANCE, t, B_CLUSTER, node);
    c.u.maintenance.on = on;
    return c;
}

struct command b_cmd_report(uint64_t t, uint64_t monitor, const struct obs *obs, unsigned n)
{
    struct command c = cmd_new(CMD_REPORT, t, B_CLUSTER, NULL);
    c.u.report.monitor_id = monitor;
    snprintf(c.u.report.api_address, sizeof c.u.report.api_address, "10.0.0.%u:7002",
             (unsigned)monitor);
    if (n > 0) {
        c.u.report.obs = calloc(n, sizeof *c.u.report.obs);
        assert_non_null(c.u.report.obs);
        memcpy(c.u.report.obs, obs, n * sizeof *obs);
    }
    c.u.report.n_obs = n;
    return c;
}

struct command b_cmd_set_role(uint64_t t, const char *node, int role, uint64_t epoch)
{
    struct command c = cmd_new(CMD_SET_ROLE, t, B_CLUSTER, node);
    c.u.set_role.role = role;
    c.u.set_role.epoch = epoch;
    return c;
}

struct command b_cmd_decide(uint64_t t,
                            const char *candidate,
                            uint64_t epoch,
                            const char *old_primary)
{
    struct command c = cmd_new(CMD_DECIDE, t, B_CLUSTER, candidate);
    c.u.decide.epoch = epoch;
    pgq_strlcpy(c.u.decide.old_primary, old_primary, sizeof c.u.decide.old_primary);
    c.u.decide.down_ms = t;
    pgq_strlcpy(c.u.decide.reason, "test decision", sizeof c.u.decide.reason);
    return c;
}

struct command b_cmd_cut(uint64_t t, uint64_t epoch, const char *old_primary)
{
    struct command c = cmd_new(CMD_CUT, t, B_CLUSTER, NULL);
    c.u.cut.epoch = epoch;
    pgq_strlcpy(c.u.cut.old_primary, old_primary, sizeof c.u.cut.old_primary);
    c.u.cut.down_ms = t;
    pgq_strlcpy(c.u.cut.reason, "test cut", sizeof c.u.cut.reason);
    return c;
}

struct command b_cmd_cut_step(uint64_t t,
                              const char *node,
                              uint64_t epoch,
                              uint64_t round,
                              uint64_t lsn,
                              uint32_t timeline)
{
    struct command c = cmd_new(CMD_STEP, t, B_CLUSTER, node);
    c.u.step.kind = PGQ_STEP_CUT;
    c.u.step.epoch = epoch;
    c.u.step.round = round;
    c.u.step.lsn = lsn;
    c.u.step.timeline = timeline;
    return c;
}

struct command b_cmd_blocked(uint64_t t, const char *reason)
{
    struct command c = cmd_new(CMD_BLOCKED, t, B_CLUSTER, NULL);
    pgq_strlcpy(c.u.blocked.reason, reason, sizeof c.u.blocked.reason);
    return c;
}

struct command b_cmd_step(uint64_t t, int kind, const char *node, uint64_t epoch, uint32_t timeline)
{
    struct command c = cmd_new(CMD_STEP, t, B_CLUSTER, node);
    c.u.step.kind = kind;
    c.u.step.epoch = epoch;
    c.u.step.timeline = timeline;
    return c;
}

struct command b_cmd_agent(uint64_t t, const char *node, const struct agent_facts *f)
{
    struct command c = cmd_new(CMD_AGENT, t, B_CLUSTER, node);
    c.u.agent = *f;
    return c;
}

struct command b_cmd_feature(uint64_t t, unsigned level)
{
    struct command c = cmd_new(CMD_FEATURE, t, NULL, NULL);
    c.u.feature.level = level;
    return c;
}

struct command b_cmd_allow_unfenced(uint64_t t, const char *node, const char *by)
{
    struct command c = cmd_new(CMD_ALLOW_UNFENCED, t, B_CLUSTER, node);
    pgq_strlcpy(c.u.allow.by, by, sizeof c.u.allow.by);
    return c;
}

struct command b_cmd_pause(uint64_t t, bool on, const char *by)
{
    struct command c = cmd_new(CMD_PAUSE, t, B_CLUSTER, "");
    c.u.pause.on = on;
    pgq_strlcpy(c.u.pause.by, by, sizeof c.u.pause.by);
    return c;
}

struct command b_cmd_switchover(uint64_t t, const char *target, uint64_t at_ms)
{
    struct command c = cmd_new(CMD_SWITCHOVER, t, B_CLUSTER, "");
    pgq_strlcpy(c.u.switchover.target, target, sizeof c.u.switchover.target);
    c.u.switchover.at_ms = at_ms;
    pgq_strlcpy(c.u.switchover.by, "alice", sizeof c.u.switchover.by);
    return c;
}

struct command b_cmd_switchover_begin(uint64_t t)
{
    struct command c = cmd_new(CMD_SWITCHOVER, t, B_CLUSTER, "");
    c.u.switchover.begin = true;
    return c;
}

struct command b_cmd_switchover_cancel(uint64_t t, const char *by)
{
    struct command c = cmd_new(CMD_SWITCHOVER, t, B_CLUSTER, "");
    c.u.switchover.cancel = true;
    pgq_strlcpy(c.u.switchover.by, by, sizeof c.u.switchover.by);
    return c;
}

struct command b_cmd_sync_mode(uint64_t t, int mode, unsigned number)
{
    struct command c = cmd_new(CMD_SYNC_CONFIG, t, B_CLUSTER, NULL);
    c.u.sync_config.mode = mode;
    c.u.sync_config.number = number;
    c.u.sync_config.replication_quorum = -1;
    return c;
}

struct command b_cmd_sync_rq(uint64_t t, const char *node, bool rq)
{
    struct command c = cmd_new(CMD_SYNC_CONFIG, t, B_CLUSTER, node);
    c.u.sync_config.mode = -1;
    c.u.sync_config.replication_quorum = rq ? 1 : 0;
    return c;
}

struct command b_cmd_allow_data_loss(uint64_t t, const char *by)
{
    struct command c = cmd_new(CMD_SYNC_CONFIG, t, B_CLUSTER, NULL);
    c.u.sync_config.mode = -1;
    c.u.sync_config.replication_quorum = -1;
    c.u.sync_config.allow_data_loss = true;
    pgq_strlcpy(c.u.sync_config.by, by, sizeof c.u.sync_config.by);
    return c;
}

struct command b_cmd_role(uint64_t t, const char *name, int role)
{
    struct command c = cmd_new(CMD_ACCESS_ROLE, t, NULL, NULL);
    pgq_strlcpy(c.u.access_role.name, name, sizeof c.u.access_role.name);
    c.u.access_role.role = role;
    return c;
}

struct command b_cmd_grant(uint64_t t,
                           const char *name,
                           int action,
                           const char *cluster,
                           bool deny,
                           bool revoke)
{
    struct command c = cmd_new(CMD_GRANT, t, cluster, NULL);
    pgq_strlcpy(c.u.grant.name, name, sizeof c.u.grant.name);
    c.u.grant.action = action;
    c.u.grant.deny = deny;
    c.u.grant.revoke = revoke;
    return c;
}

struct command b_cmd_audit(uint64_t t, const char *who, int action, const char *outcome)
{
    struct command c = cmd_new(CMD_AUDIT, t, B_CLUSTER, "pg1");
    pgq_strlcpy(c.who, who, sizeof c.who);
    pgq_strlcpy(c.from, "127.0.0.1", sizeof c.from);
    c.u.audit.action = action;
    pgq_strlcpy(c.u.audit.outcome, outcome, sizeof c.u.audit.outcome);
    c.u.audit.monitor_id = 2;
    return c;
}

struct command b_cmd_sync_set(const struct state *s,
                              uint64_t t,
                              int method,
                              unsigned k,
                              const char *names)
{
    struct command c = cmd_new(CMD_SYNC_SET, t, B_CLUSTER, NULL);
    struct sync_set *set = &c.u.sync_set.set;
    set->epoch = b_cluster(s)->epoch;
    set->method = method;
    set->k = k;
    for (const char *p = names; *p != '\0';) {
        size_t len = strcspn(p, ",");
        assert_true(set->n_names < PGQ_SYNC_MAX);
        snprintf(set->names[set->n_names++], PGQ_NAME_MAX, "%.*s", (int)len, p);
        p += len + (p[len] == ',' ? 1 : 0);
    }
    return c;
}

/* ---- node agents ------------------------------------------------------------------ */

struct agent_facts b_agent_facts(bool pm_alive)
{
    struct agent_facts f;
    memset(&f, 0, sizeof f);
    f.state = PGQ_AGENT_UP;
    f.pm_alive = pm_alive;
    f.answering = pm_alive;
    f.pg_state = pm_alive ? PGQ_PGS_IN_PRODUCTION : PGQ_PGS_SHUT_DOWN;
    f.timeline = 1;
    f.lsn = 0x1000;
    f.lease = pm_alive;
    f.pm_pid = pm_alive ? 4242 : 0;
    f.session = 7;
    pgq_strlcpy(f.version, "0.9-test", sizeof f.version);
    return f;
}

struct agent_facts b_agent_stopped(uint64_t stopped_lsn)
{
    struct agent_facts f = b_agent_facts(false);
    f.handover = true;
    f.lsn = stopped_lsn;
    f.stopped_lsn = stopped_lsn;
    return f;
}

/* ---- applying ------------------------------------------------------------------ */

void b_apply(struct state *s, const struct command *cmd)
{
    struct apply_result res;
    int rv = cluster_apply(s, cmd, &res);
    if (rv != 0) {
        fail_msg("command kind %d (node \"%s\") refused: %s (%s)", cmd->kind, cmd->node,
                 res.message, pgq_strerror(rv));
    }
    assert_int_equal(res.code, 0);
}

/* An operator's command, checked before it is proposed; one of a level above the state's is
 * checked with other words (see test_rolling_upgrade). */
static bool client_command(const struct state *s, const struct command *cmd)
{
    return (cmd->kind == CMD_NODE_ADD || cmd->kind == CMD_NODE_REMOVE ||
            cmd->kind == CMD_MAINTENANCE || cmd->kind == CMD_PAUSE || cmd->kind == CMD_SWITCHOVER ||
            cmd->kind == CMD_SYNC_CONFIG || cmd->kind == CMD_ACCESS_ROLE ||
            cmd->kind == CMD_GRANT || cmd->kind == CMD_CLUSTER_REMOVE) &&
           cluster_command_level(cmd) <= s->feature_level;
}

void b_refused(struct state *s, const struct command *cmd, int code, const char *needle)
{
    struct apply_result res, check;
    uint8_t *before, *after;
    size_t before_len, after_len;
    int rv;
    memset(&check, 0, sizeof check);
    b_encode(s, &before, &before_len);
    if (client_command(s, cmd)) {
        rv = cluster_check(s, cmd, &check);
        if (rv != code) {
            fail_msg("cluster_check returned %d (%s), want %d", rv, check.message, code);
        }
    }
    rv = cluster_apply(s, cmd, &res);
    if (rv != code) {
        fail_msg("cluster_apply returned %d (%s), want %d", rv, res.message, code);
    }
    assert_int_equal(res.code, code);
    b_assert_contains(res.message, needle);
    if (client_command(s, cmd)) {
        assert_string_equal(check.message, res.message);
    }
    b_encode(s, &after, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
}

void b_hello(struct state *s, uint64_t t, uint64_t leader, unsigned n_voters)
{
    uint64_t ids[PGQ_MAX_MONITORS] = {0};
    struct command c;
    assert_true(n_voters <= PGQ_MAX_MONITORS);
    for (unsigned i = 0; i < n_voters; i++) {
        ids[i] = i + 1;
    }
    c = b_cmd_hello(t, leader, ids, n_voters);
    b_apply(s, &c);
}

void b_add(struct state *s, uint64_t t, const char *node, unsigned priority)
{
    char conninfo[PGQ_CONNINFO_MAX];
    struct command c;
    snprintf(conninfo, sizeof conninfo, "host=%s port=5432 dbname=postgres user=pgquorum", node);
    c = b_cmd_node_add(t, B_CLUSTER, node, conninfo, priority);
    b_apply(s, &c);
}

void b_remove(struct state *s, uint64_t t, const char *node)
{
    struct command c = b_cmd_node_remove(t, node);
    b_apply(s, &c);
}

void b_maintenance(struct state *s, uint64_t t, const char *node, bool on)
{
    struct command c = b_cmd_maintenance(t, node, on);
    b_apply(s, &c);
}

void b_pause(struct state *s, uint64_t t, bool on)
{
    struct command c = b_cmd_pause(t, on, "alice");
    b_apply(s, &c);
}

void b_switchover(struct state *s, uint64_t t, const char *target, uint64_t at_ms)
{
    struct command c = b_cmd_switchover(t, target, at_ms);
    b_apply(s, &c);
}

void b_switchover_begin(struct state *s, uint64_t t)
{
    struct command c = b_cmd_switchover_begin(t);
    b_apply(s, &c);
}

void b_report(struct state *s, uint64_t t, uint64_t monitor, const struct obs *o)
{
    struct command c = b_cmd_report(t, monitor, o, 1);
    b_apply(s, &c);
    command_close(&c);
}

void b_report_by(struct state *s, uint64_t t, uint64_t first, uint64_t last, const struct obs *o)
{
    for (uint64_t m = first; m <= last; m++) {
        b_report(s, t, m, o);
    }
}

void b_set_role(struct state *s, uint64_t t, const char *node, int role)
{
    struct command c = b_cmd_set_role(t, node, role, b_cluster(s)->epoch);
    b_apply(s, &c);
}

void b_decide(struct state *s, uint64_t t, const char *candidate)
{
    const struct cluster *cl = b_cluster(s);
    const struct node *old;
    struct command c;
    b_primary_down(s, t);
    old = cluster_node(cl, cl->primary);
    c = b_cmd_decide(t, candidate, cl->epoch + 1, cl->primary);
    /* As the policy does: the candidate's fresh position, if it has one. */
    node_fresh_position(b_node(s, candidate), old != NULL ? old->verdict_seq : 0,
                        &c.u.decide.candidate_lsn);
    b_apply(s, &c);
}

void b_cut(struct state *s, uint64_t t)
{
    const struct cluster *cl = b_cluster(s);
    struct command c;
    if (!(cl->fo.phase == PGQ_FO_GAVE_UP && cl->fo.epoch == cl->epoch)) {
        b_primary_down(s, t);
    }
    c = b_cmd_cut(t, cl->epoch, cl->primary);
    b_apply(s, &c);
}

void b_cut_step(struct state *s, uint64_t t, const char *node, uint64_t lsn)
{
    const struct cluster *cl = b_cluster(s);
    struct command c = b_cmd_cut_step(t, node, cl->epoch, cl->fo.round, lsn, 1);
    b_apply(s, &c);
}

void b_cut_standbys(struct state *s, uint64_t t)
{
    const struct cluster *cl = b_cluster(s);
    for (unsigned i = 0; i < cl->n_nodes; i++) {
        const struct node *n = &cl->nodes[i];
        const struct view *v = node_latest_view(n);
        if (n->role == PGQ_ROLE_STANDBY && n->verdict == PGQ_VERDICT_UP && v != NULL &&
            n->cut_round != cl->fo.round && strcmp(n->name, cl->primary) != 0) {
            /* Its latest position: a cut freezes it. */
            b_cut_step(s, t, n->name, PGQ_MAX(v->obs.receive_lsn, v->obs.replay_lsn));
        }
    }
}

void b_failover(struct state *s, uint64_t t, const char *candidate)
{
    const struct cluster *cl = b_cluster(s);
    const struct node *cand;
    struct command c;
    b_cut(s, t);
    b_cut_standbys(s, t);
    cand = b_node(s, candidate);
    c = b_cmd_decide(t, candidate, cl->epoch + 1, cl->primary);
    c.u.decide.round = cl->fo.round;
    c.u.decide.candidate_lsn = cand->cut_lsn;
    c.u.decide.down_ms = cl->fo.down_ms;
    b_apply(s, &c);
}

void b_primary_down(struct state *s, uint64_t t)
{
    const struct cluster *cl = b_cluster(s);
    const struct node *p = cluster_node(cl, cl->primary);
    if (p != NULL && p->verdict != PGQ_VERDICT_DOWN) {
        struct obs down = b_unreachable(s, p->name);
        b_report_by(s, t, 1, state_n_voters(s), &down);
    }
}

void b_step(struct state *s, uint64_t t, int kind, const char *node, uint32_t timeline)
{
    struct command c = b_cmd_step(t, kind, node, b_cluster(s)->epoch, timeline);
    b_apply(s, &c);
}

void b_feature_to(struct state *s, uint64_t t, unsigned level)
{
    struct command c;
    for (unsigned i = 0; i < s->n_monitors; i++) {
        if (s->monitors[i].voter) {
            c = b_cmd_report(t, s->monitors[i].id, NULL, 0);
            c.u.report.feature_level = PGQ_FEATURE_LEVEL;
            b_apply(s, &c);
        }
    }
    c = b_cmd_feature(t, level);
    b_apply(s, &c);
    assert_int_equal(s->feature_level, level);
}

void b_feature_level(struct state *s, uint64_t t)
{
    b_feature_to(s, t, PGQ_FEATURE_LEVEL);
}

void b_agent(struct state *s, uint64_t t, const char *node, const struct agent_facts *f)
{
    struct command c = b_cmd_agent(t, node, f);
    b_apply(s, &c);
}

void b_agent_silent(struct state *s, uint64_t t, const char *node)
{
    struct command c = b_cmd_agent(t, node, &b_node(s, node)->agent);
    c.u.agent.state = PGQ_AGENT_SILENT;
    b_apply(s, &c);
}

void b_primary_runs(struct state *s,
                    uint64_t t,
                    uint64_t lsn,
                    const char *setting,
                    const char *replicas)
{
    struct obs o = b_writable(s, b_cluster(s)->primary, lsn);
    pgq_strlcpy(o.sync_setting, setting, sizeof o.sync_setting);
    pgq_strlcpy(o.replicas, replicas, sizeof o.replicas);
    b_report_by(s, t, 1, state_n_voters(s), &o);
}

/* ---- observations ---------------------------------------------------------------- */

static struct obs obs_new(const struct state *s, const char *node)
{
    struct obs o;
    memset(&o, 0, sizeof o);
    pgq_strlcpy(o.node, node, sizeof o.node);
    o.cache_hit_bp = PGQ_BP_NONE;
    o.index_hit_bp = PGQ_BP_NONE;
    o.basis_seq = s->seq;
    o.probed_ms = s->time_ms;
    return o;
}

struct obs b_writable(const struct state *s, const char *node, uint64_t current_lsn)
{
    struct obs o = obs_new(s, node);
    o.reachable = true;
    o.timeline = 1;
    o.current_lsn = current_lsn;
    o.server_version = 150000;
    return o;
}

struct obs b_recovering(const struct state *s, const char *node, uint64_t lsn)
{
    struct obs o = obs_new(s, node);
    o.reachable = true;
    o.in_recovery = true;
    o.streaming = true;
    o.timeline = 1;
    o.receive_lsn = lsn;
    o.replay_lsn = lsn;
    o.server_version = 150000;
    return o;
}

struct obs b_unreachable(const struct state *s, const char *node)
{
    struct obs o = obs_new(s, node);
    pgq_strlcpy(o.error, "connect: connection refused", sizeof o.error);
    return o;
}

/* ---- scenarios ------------------------------------------------------------------ */

void b_healthy(struct state *s,
               uint64_t t,
               unsigned n_voters,
               const char *primary,
               uint64_t lsn,
               const char *const *standbys,
               unsigned n_standbys)
{
    struct obs o[PGQ_MAX_NODES];
    b_hello(s, t, 1, n_voters);
    b_add(s, t, primary, 50);
    for (unsigned i = 0; i < n_standbys; i++) {
        b_add(s, t, standbys[i], 50);
    }
    o[0] = b_writable(s, primary, lsn);
    for (unsigned i = 0; i < n_standbys; i++) {
        o[i + 1] = b_recovering(s, standbys[i], lsn);
    }
    for (unsigned m = 1; m <= n_voters; m++) {
        struct command c = b_cmd_report(t, m, o, n_standbys + 1);
        b_apply(s, &c);
        command_close(&c);
    }
    b_set_role(s, t, primary, PGQ_ROLE_PRIMARY);
    for (unsigned i = 0; i < n_standbys; i++) {
        b_set_role(s, t, standbys[i], PGQ_ROLE_STANDBY);
        b_step(s, t, PGQ_STEP_REPOINTED, standbys[i], 0);
    }
}

/* ---- look-ups and encodings ------------------------------------------------------ */

struct cluster *b_cluster(const struct state *s)
{
    struct cluster *c = state_cluster(s, B_CLUSTER);
    if (c == NULL) {
        fail_msg("no cluster %s", B_CLUSTER);
    }
    return c;
}

struct node *b_node(const struct state *s, const char *name)
{
    struct node *n = cluster_node(b_cluster(s), name);
    if (n == NULL) {
        fail_msg("no node %s", name);
    }
    return n;
}

void b_encode(const struct state *s, uint8_t **buf, size_t *len)
{
    assert_int_equal(codec_state_encode(s, NULL, buf, len), 0);
}

void b_assert_same(const struct state *a, const struct state *b)
{
    uint8_t *x, *y;
    size_t xl, yl;
    b_encode(a, &x, &xl);
    b_encode(b, &y, &yl);
    assert_int_equal(xl, yl);
    assert_memory_equal(x, y, xl);
    free(x);
    free(y);
}

void b_copy(struct state *dst, const struct state *src)
{
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    struct state tmp;
    b_encode(src, &buf, &len);
    if (codec_state_decode(buf, len, &tmp, err, sizeof err) != 0) {
        fail_msg("snapshot decode: %s", err);
    }
    free(buf);
    state_move(dst, &tmp);
}

void b_assert_facts_equal(const struct agent_facts *a, const struct agent_facts *b)
{
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->pm_alive, b->pm_alive);
    assert_int_equal(a->answering, b->answering);
    assert_int_equal(a->pg_state, b->pg_state);
    assert_int_equal(a->timeline, b->timeline);
    assert_int_equal(a->lsn, b->lsn);
    assert_int_equal(a->in_recovery, b->in_recovery);
    assert_int_equal(a->fenced, b->fenced);
    assert_int_equal(a->handover, b->handover);
    assert_int_equal(a->lease, b->lease);
    assert_int_equal(a->pm_pid, b->pm_pid);
    assert_int_equal(a->session, b->session);
    assert_int_equal(a->host.cpu_busy_bp, b->host.cpu_busy_bp);
    assert_int_equal(a->host.load1_c, b->host.load1_c);
    assert_int_equal(a->host.load5_c, b->host.load5_c);
    assert_int_equal(a->host.load15_c, b->host.load15_c);
    assert_int_equal(a->host.disk_read_bps, b->host.disk_read_bps);
    assert_int_equal(a->host.disk_write_bps, b->host.disk_write_bps);
    assert_int_equal(a->host.disk_io_bp, b->host.disk_io_bp);
    assert_int_equal(a->host.net_rx_bps, b->host.net_rx_bps);
    assert_int_equal(a->host.net_tx_bps, b->host.net_tx_bps);
    assert_int_equal(a->since_ms, b->since_ms);
    assert_int_equal(a->facts_ms, b->facts_ms);
    assert_int_equal(a->unprotected, b->unprotected);
    assert_int_equal(a->silent_seq, b->silent_seq);
    assert_int_equal(a->stopped_lsn, b->stopped_lsn);
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->rejoin, b->rejoin);
    assert_string_equal(a->rejoin_detail, b->rejoin_detail);
    assert_int_equal(a->rejoin_epoch, b->rejoin_epoch);
    assert_int_equal(a->rejoin_ms, b->rejoin_ms);
    assert_int_equal(a->lost_commits, b->lost_commits);
    assert_int_equal(a->lost_bytes, b->lost_bytes);
    assert_int_equal(a->lost_known, b->lost_known);
    assert_int_equal(a->streaming, b->streaming);
}

void b_assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
    }
}

bool b_plan(const struct state *s,
            const struct policy_config *pc,
            uint64_t now,
            struct command *out)
{
    uint8_t *before, *after;
    size_t before_len, after_len;
    bool rv;
    b_encode(s, &before, &before_len);
    rv = policy_next_command(s, pc, now, out);
    {
        /* The leader's walk, which skips the clusters it found quiet with
         * nothing applied since, finds the same. */
        struct command memo;
        bool memo_rv = policy_next_commands_memo((struct state *)s, pc, now, &memo, 1) == 1;
        assert_int_equal(memo_rv, rv);
        if (rv) {
            assert_int_equal(memo.kind, out->kind);
            assert_string_equal(memo.cluster, out->cluster);
            assert_string_equal(memo.node, out->node);
            command_close(&memo);
        }
    }
    b_encode(s, &after, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    return rv;
}

int b_setup_state(void **ctx)
{
    struct state *s = malloc(sizeof *s);
    if (s == NULL) {
        return -1;
    }
    state_init(s);
    *ctx = s;
    return 0;
}

int b_teardown_state(void **ctx)
{
    struct state *s = *ctx;
    state_close(s);
    free(s);
    return 0;
}

/* ---- the history ------------------------------------------------------------------- */

unsigned b_n_events(const struct state *s)
{
    struct event_list l;
    unsigned n;
    assert_int_equal(state_events_list(s, NULL, 0, &l), 0);
    n = l.n;
    event_list_free(&l);
    return n;
}

const struct event *b_event(const struct state *s, unsigned i)
{
    struct event_list l;
    const struct event *e;
    assert_int_equal(state_events_list(s, NULL, 0, &l), 0);
    e = i < l.n ? l.ev[i] : NULL;
    event_list_free(&l);
    return e;
}

unsigned b_count(const char *text, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}
