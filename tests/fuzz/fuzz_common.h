/* Helpers shared by the libFuzzer harnesses and their seed generator: valid
 * commands built field by field, a small healthy state reached through
 * cluster_apply() only (as tests/unit/builders.c does, without cmocka), a
 * deep copy of a state, and snapshot-byte comparison. Header-only so that
 * each harness stays one .c file plus this. Not part of make check. */
#ifndef PGQ_FUZZ_COMMON_H
#define PGQ_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "codec.h"
#include "lib/util.h"
#include "policy.h"

#define FZ_CLUSTER "main"

/* A broken property: say which and abort, so that libFuzzer keeps the input. */
#define FZ_ASSERT(cond, ...)                                        \
    do {                                                            \
        if (!(cond)) {                                              \
            fprintf(stderr, "fuzz property violated: %s: ", #cond); \
            fprintf(stderr, __VA_ARGS__);                           \
            fprintf(stderr, "\n");                                  \
            abort();                                                \
        }                                                           \
    } while (0)

static inline struct command fz_cmd(int kind, uint64_t t, const char *cluster, const char *node)
{
    struct command c;
    command_init(&c, kind);
    c.time_ms = t;
    pgq_strlcpy(c.cluster, cluster != NULL ? cluster : "", sizeof c.cluster);
    pgq_strlcpy(c.node, node != NULL ? node : "", sizeof c.node);
    return c;
}

static inline struct command fz_hello(uint64_t t, uint64_t leader, unsigned n_voters)
{
    struct command c = fz_cmd(CMD_HELLO, t, NULL, NULL);
    c.u.hello.monitor_id = leader;
    snprintf(c.u.hello.api_address, sizeof c.u.hello.api_address, "10.0.0.%u:7002",
             (unsigned)leader);
    for (unsigned i = 0; i < n_voters && i < PGQ_MAX_MONITORS; i++) {
        c.u.hello.voters[i].id = i + 1;
        c.u.hello.voters[i].voter = true;
        snprintf(c.u.hello.voters[i].raft_address, sizeof c.u.hello.voters[i].raft_address,
                 "10.0.0.%u:7001", i + 1);
    }
    c.u.hello.n_voters = n_voters;
    return c;
}

static inline struct command fz_add(uint64_t t,
                                    const char *cluster,
                                    const char *node,
                                    unsigned prio)
{
    struct command c = fz_cmd(CMD_NODE_ADD, t, cluster, node);
    snprintf(c.u.node_add.conninfo, sizeof c.u.node_add.conninfo,
             "host=%s port=5432 dbname=postgres user=pgquorum", node);
    c.u.node_add.priority = prio;
    return c;
}

static inline struct obs fz_obs(const struct state *s,
                                const char *node,
                                bool reachable,
                                bool rec,
                                uint64_t lsn)
{
    struct obs o;
    memset(&o, 0, sizeof o);
    pgq_strlcpy(o.node, node, sizeof o.node);
    o.cache_hit_bp = PGQ_BP_NONE;
    o.index_hit_bp = PGQ_BP_NONE;
    o.basis_seq = s->seq;
    o.probed_ms = s->time_ms;
    o.reachable = reachable;
    if (reachable) {
        o.timeline = 1;
        o.in_recovery = rec;
        o.streaming = rec;
        o.server_version = 150000;
        if (rec) {
            o.receive_lsn = lsn;
            o.replay_lsn = lsn;
        } else {
            o.current_lsn = lsn;
        }
    } else {
        pgq_strlcpy(o.error, "connect: connection refused", sizeof o.error);
        o.failing_since_ms = s->time_ms;
    }
    return o;
}

/* The observations are copied: command_close() the result. */
static inline struct command fz_report(uint64_t t,
                                       uint64_t monitor,
                                       const struct obs *o,
                                       unsigned n)
{
    struct command c = fz_cmd(CMD_REPORT, t, FZ_CLUSTER, NULL);
    c.u.report.monitor_id = monitor;
    snprintf(c.u.report.api_address, sizeof c.u.report.api_address, "10.0.0.%u:7002",
             (unsigned)monitor);
    if (n > 0) {
        c.u.report.obs = calloc(n, sizeof *o);
        if (c.u.report.obs == NULL) {
            abort();
        }
        memcpy(c.u.report.obs, o, n * sizeof *o);
    }
    c.u.report.n_obs = n;
    return c;
}

static inline struct command fz_set_role(uint64_t t, const char *node, int role, uint64_t epoch)
{
    struct command c = fz_cmd(CMD_SET_ROLE, t, FZ_CLUSTER, node);
    c.u.set_role.role = role;
    c.u.set_role.epoch = epoch;
    return c;
}

static inline struct command fz_step(uint64_t t,
                                     int kind,
                                     const char *node,
                                     uint64_t epoch,
                                     uint32_t tl)
{
    struct command c = fz_cmd(CMD_STEP, t, FZ_CLUSTER, node);
    c.u.step.kind = kind;
    c.u.step.epoch = epoch;
    c.u.step.timeline = tl;
    return c;
}

static inline void fz_apply_ok(struct state *s, const struct command *cmd)
{
    struct apply_result res;
    if (cluster_apply(s, cmd, &res) != 0) {
        fprintf(stderr, "fuzz: building the base state: command %d refused: %s\n", cmd->kind,
                res.message);
        abort();
    }
}

/* Monitor 1 leads voters 1..3; cluster "main" has primary a (lsn 1000) and
 * standbys b, c, seen by every voter and repointed (epoch 1); cluster "side"
 * has one unobserved node x. */
static inline void fz_base_state(struct state *s)
{
    static const char *const names[] = {"a", "b", "c"};
    const uint64_t t = 1000000;
    struct command c;
    struct obs o[3];
    state_init(s);
    c = fz_hello(t, 1, 3);
    fz_apply_ok(s, &c);
    for (unsigned i = 0; i < 3; i++) {
        c = fz_add(t, FZ_CLUSTER, names[i], 50);
        fz_apply_ok(s, &c);
    }
    c = fz_add(t, "side", "x", 10);
    fz_apply_ok(s, &c);
    o[0] = fz_obs(s, "a", true, false, 1000);
    o[1] = fz_obs(s, "b", true, true, 1000);
    o[2] = fz_obs(s, "c", true, true, 900);
    for (uint64_t m = 1; m <= 3; m++) {
        c = fz_report(t, m, o, 3);
        fz_apply_ok(s, &c);
        command_close(&c);
    }
    c = fz_set_role(t, "a", PGQ_ROLE_PRIMARY, 0);
    fz_apply_ok(s, &c);
    for (unsigned i = 1; i < 3; i++) {
        c = fz_set_role(t, names[i], PGQ_ROLE_STANDBY, 1);
        fz_apply_ok(s, &c);
        c = fz_step(t, PGQ_STEP_REPOINTED, names[i], 1, 0);
        fz_apply_ok(s, &c);
    }
}

/* dst (not initialized) becomes a deep copy of src: through its encoding,
 * which holds everything replicated (views and indexes are owned pointers,
 * so a copy of the structs would share them). */
static inline void fz_state_copy(struct state *dst, const struct state *src)
{
    uint8_t *buf;
    size_t len;
    char err[256];
    FZ_ASSERT(codec_state_encode(src, NULL, &buf, &len) == 0, "encoding a state failed");
    FZ_ASSERT(codec_state_decode(buf, len, dst, err, sizeof err) == 0,
              "a state's own encoding "
              "does not decode");
    free(buf);
}

/* dst (a state previously set by this function, or zeroed) becomes a deep
 * copy of src. */
static inline void fz_state_reset(struct state *dst, const struct state *src)
{
    state_close(dst);
    fz_state_copy(dst, src);
}

static inline void fz_encode(const struct state *s, uint8_t **buf, size_t *len)
{
    FZ_ASSERT(codec_state_encode(s, NULL, buf, len) == 0, "encoding a state failed");
}

static inline bool fz_same_state(const struct state *a, const struct state *b)
{
    uint8_t *x, *y;
    size_t xl, yl;
    bool same;
    fz_encode(a, &x, &xl);
    fz_encode(b, &y, &yl);
    same = xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    return same;
}

/* The history lists in seq order, every event there, the latest last. */
static inline void fz_check_events(const struct state *s)
{
    struct event_list l;
    FZ_ASSERT(state_events_list(s, NULL, 0, &l) == 0, "listing the events failed");
    for (unsigned i = 0; i < l.n; i++) {
        FZ_ASSERT(l.ev[i] != NULL && (i == 0 || l.ev[i]->seq > l.ev[i - 1]->seq),
                  "event %u of %u out of order", i, l.n);
    }
    FZ_ASSERT(l.n == 0 || l.ev[l.n - 1] == state_event_last(s), "the latest event is not last");
    event_list_free(&l);
}

/* What the leader does on its tick: ask the policy for commands and apply
 * them (up to a few), and list the actions. Must not crash on any state. */
static inline void fz_run_policy(struct state *s, uint64_t now)
{
    struct policy_config pc = {5000, 1 << 20, false, 0};
    struct action acts[16];
    pc.replication_slots = true; /* every action there is */
    for (int round = 0; round < 4; round++) {
        struct command cmd;
        struct apply_result res;
        struct command memo;
        bool rv = policy_next_command(s, &pc, now, &cmd);
        /* The leader's walk (quiet clusters skipped until something is
         * applied to them) finds the same. */
        bool memo_rv = policy_next_commands_memo(s, &pc, now, &memo, 1) == 1;
        FZ_ASSERT(memo_rv == rv &&
                      (!rv || (memo.kind == cmd.kind && strcmp(memo.cluster, cmd.cluster) == 0 &&
                               strcmp(memo.node, cmd.node) == 0)),
                  "the memo walk differs");
        if (memo_rv) {
            command_close(&memo);
        }
        if (!rv) {
            break;
        }
        cluster_apply(s, &cmd, &res);
        command_close(&cmd);
        now += 10000;
    }
    {
        unsigned n = PGQ_MIN(policy_actions(s, &pc, acts, 16), 16u);
        FZ_ASSERT(policy_actions_memo(s, &pc, acts, 16) == policy_actions(s, &pc, acts, 16),
                  "the memo walk finds other actions");
        for (unsigned i = 0; i < n; i++) {
            (void)policy_action_name(acts[i].kind);
            (void)policy_action_due(s, &pc, &acts[i]);
        }
    }
    fz_check_events(s);
}

#endif /* PGQ_FUZZ_COMMON_H */
