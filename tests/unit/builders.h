/* A small DSL for the unit tests of codec, cluster and policy.
 *
 * Every state is reached the way the monitors reach it: through
 * cluster_apply() of the commands a leader would commit, never by writing
 * struct fields. Builders that apply a command fail the running test when it
 * is refused. Time is a number the test passes in; basis_seq of an
 * observation is the state's seq when it is built ("probed now").
 *
 * The shape follows dqlite's RolesComputeChanges tests: BEFORE (build the
 * state with these helpers), COMPUTE (the function under test), AFTER
 * (assert on the plan or the state). */
#ifndef PGQ_TEST_BUILDERS_H
#define PGQ_TEST_BUILDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

#define B_CLUSTER "main"

/* ---- commands, not applied (B_CLUSTER unless a cluster is given) ---------- */

/* A LeaderHello from `leader` listing voters ids[0..n), raft 10.0.0.<id>:7001,
 * api 10.0.0.<leader>:7002. */
struct command b_cmd_hello(uint64_t t, uint64_t leader, const uint64_t *ids, unsigned n);
/* A Member step (level 6) of monitor id (replace: old_id replaced), leaving
 * `voters`; addresses 10.0.0.ID:7001 (Raft) and :7002 (API), asked by
 * user:admin. */
struct command b_cmd_member(uint64_t t,
                            int op,
                            int step,
                            uint64_t id,
                            uint64_t old_id,
                            const uint64_t *voters,
                            unsigned n);
struct command b_cmd_node_add(uint64_t t,
                              const char *cluster,
                              const char *node,
                              const char *conninfo,
                              unsigned priority);
struct command b_cmd_node_remove(uint64_t t, const char *node);
/* Level 6: remove cluster, as `who` from 127.0.0.1. */
struct command b_cmd_cluster_remove(uint64_t t, const char *cluster, const char *who);
struct command b_cmd_maintenance(uint64_t t, const char *node, bool on);
/* The observations are copied: command_close() the result. */
struct command b_cmd_report(uint64_t t, uint64_t monitor, const struct obs *obs, unsigned n);
struct command b_cmd_set_role(uint64_t t, const char *node, int role, uint64_t epoch);
struct command b_cmd_decide(uint64_t t,
                            const char *candidate,
                            uint64_t epoch,
                            const char *old_primary);
/* A cut of the primary of `epoch`, and one standby's report of it (round:
 * the cluster's fo.round). */
struct command b_cmd_cut(uint64_t t, uint64_t epoch, const char *old_primary);
struct command b_cmd_cut_step(uint64_t t,
                              const char *node,
                              uint64_t epoch,
                              uint64_t round,
                              uint64_t lsn,
                              uint32_t timeline);
struct command b_cmd_blocked(uint64_t t, const char *reason);
struct command b_cmd_step(uint64_t t,
                          int kind,
                          const char *node,
                          uint64_t epoch,
                          uint32_t timeline);
/* An AgentReport of node's agent saying f (f->state: UP or SILENT). */
struct command b_cmd_agent(uint64_t t, const char *node, const struct agent_facts *f);
struct command b_cmd_feature(uint64_t t, unsigned level);
struct command b_cmd_allow_unfenced(uint64_t t, const char *node, const char *by);
/* Pause (on) or resume B_CLUSTER, by `by`. */
struct command b_cmd_pause(uint64_t t, bool on, const char *by);
/* An operator schedules a switchover of B_CLUSTER to target ("": the best
 * standby) not before at_ms (0: at once), as alice. */
struct command b_cmd_switchover(uint64_t t, const char *target, uint64_t at_ms);
/* The leader begins the switchover (begin), or someone cancels it (cancel). */
struct command b_cmd_switchover_begin(uint64_t t);
struct command b_cmd_switchover_cancel(uint64_t t, const char *by);
/* Managed synchronous replication: a cluster's mode and number, a node's
 * replication quorum, an allowance to lose writes; a set for the cluster's
 * current epoch (names comma-separated, "" for none). */
struct command b_cmd_sync_mode(uint64_t t, int mode, unsigned number);
struct command b_cmd_sync_rq(uint64_t t, const char *node, bool rq);
struct command b_cmd_allow_data_loss(uint64_t t, const char *by);
/* Level 5: an identity's role; a grant, deny (deny) or revoke (revoke) of
 * an action on cluster ("": every one); a refusal recorded (who, from
 * 127.0.0.1, outcome), by monitor 2. */
struct command b_cmd_role(uint64_t t, const char *name, int role);
struct command b_cmd_grant(uint64_t t,
                           const char *name,
                           int action,
                           const char *cluster,
                           bool deny,
                           bool revoke);
struct command b_cmd_audit(uint64_t t, const char *who, int action, const char *outcome);
struct command b_cmd_sync_set(const struct state *s,
                              uint64_t t,
                              int method,
                              unsigned k,
                              const char *names);

/* ---- node agents ------------------------------------------------------------ */

/* What an agent that is up says of its node: PostgreSQL running as a primary
 * (pid 4242, in production, holding a lease) when pm_alive, else stopped
 * (shut down, fenced or handed over as the caller sets). Session 7. */
struct agent_facts b_agent_facts(bool pm_alive);
/* What the primary's agent says once it stopped it cleanly for a switchover:
 * not running, shut down, left to the quorum (handover), its WAL ending with
 * the shutdown checkpoint at stopped_lsn. */
struct agent_facts b_agent_stopped(uint64_t stopped_lsn);

/* How many times needle occurs in text (overlapping ones too). */
unsigned b_count(const char *text, const char *needle);

/* ---- applying --------------------------------------------------------------- */

/* Apply a command that must succeed. */
void b_apply(struct state *s, const struct command *cmd);

/* Apply a command that must be refused with `code` and a message containing
 * `needle`; asserts that the state's encoding did not change and, for client
 * commands, that cluster_check() gives the same code and message. */
void b_refused(struct state *s, const struct command *cmd, int code, const char *needle);

/* Applied builders: each one command, at time t. */
void b_hello(struct state *s, uint64_t t, uint64_t leader, unsigned n_voters); /* voters 1..n */
void b_add(struct state *s, uint64_t t, const char *node, unsigned priority);  /* host=<node> */
void b_remove(struct state *s, uint64_t t, const char *node);
void b_maintenance(struct state *s, uint64_t t, const char *node, bool on);
/* Pause (on) or resume B_CLUSTER, by alice (the state must be at feature level 3). */
void b_pause(struct state *s, uint64_t t, bool on);
/* Schedule a switchover (b_cmd_switchover); begin the one scheduled. */
void b_switchover(struct state *s, uint64_t t, const char *target, uint64_t at_ms);
void b_switchover_begin(struct state *s, uint64_t t);
void b_report(struct state *s, uint64_t t, uint64_t monitor, const struct obs *o);
/* Monitors first..last each report o, one command each. */
void b_report_by(struct state *s, uint64_t t, uint64_t first, uint64_t last, const struct obs *o);
/* Role change at the cluster's current epoch. */
void b_set_role(struct state *s, uint64_t t, const char *node, int role);
/* Failover decision: epoch + 1, replacing the current primary (first seen
 * down by every voter, as a decision requires). */
void b_decide(struct state *s, uint64_t t, const char *candidate);
/* A failover's first step: the cluster's primary down by every voter (not
 * needed after a candidate was given up), then its Cut. */
void b_cut(struct state *s, uint64_t t);
/* A standby's position after the cut, on timeline 1. */
void b_cut_step(struct state *s, uint64_t t, const char *node, uint64_t lsn);
/* Every standby that is up and not cut yet reports its latest position. */
void b_cut_standbys(struct state *s, uint64_t t);
/* A whole decision the way the leader reaches it: cut, every standby cut at
 * its latest position, then the candidate (at its cut position). */
void b_failover(struct state *s, uint64_t t, const char *candidate);
/* Every voter reports the cluster's primary unreachable (if not down yet). */
void b_primary_down(struct state *s, uint64_t t);
/* A step at the cluster's current epoch. */
void b_step(struct state *s, uint64_t t, int kind, const char *node, uint32_t timeline);
/* Rolling upgrade done: every voter announces PGQ_FEATURE_LEVEL (an empty
 * report each), then the state's level is raised to it. */
void b_feature_level(struct state *s, uint64_t t);
/* The same, to `level` (at most PGQ_FEATURE_LEVEL). */
void b_feature_to(struct state *s, uint64_t t, unsigned level);
/* The leader commits what node's agent said (f->state UP), or its silence. */
void b_agent(struct state *s, uint64_t t, const char *node, const struct agent_facts *f);
void b_agent_silent(struct state *s, uint64_t t, const char *node);
/* Every voter sees the cluster's primary writable at lsn, running
 * synchronous_standby_names = setting, with `replicas` streaming from it. */
void b_primary_runs(struct state *s,
                    uint64_t t,
                    uint64_t lsn,
                    const char *setting,
                    const char *replicas);

/* ---- observations, probed now (basis_seq = s->seq) --------------------------- */

struct obs b_writable(const struct state *s, const char *node, uint64_t current_lsn);
struct obs b_recovering(const struct state *s, const char *node, uint64_t lsn);
struct obs b_unreachable(const struct state *s, const char *node);

/* ---- scenarios ---------------------------------------------------------------- */

/* A healthy cluster at time t: monitor 1 leads n_voters voters; `primary` and
 * the standbys are added (priority 50), seen by every voter (primary writable
 * at lsn, standbys in recovery at lsn), discovered (epoch 1) and repointed. */
void b_healthy(struct state *s,
               uint64_t t,
               unsigned n_voters,
               const char *primary,
               uint64_t lsn,
               const char *const *standbys,
               unsigned n_standbys);

/* ---- the policy's plan ---------------------------------------------------------- */

struct policy_config;
/* policy_next_command, asserting that the state is untouched (the policy
 * only plans). */
bool b_plan(const struct state *s,
            const struct policy_config *pc,
            uint64_t now,
            struct command *out);

/* ---- cmocka fixtures: a fresh, empty state per test in *ctx --------------- */

int b_setup_state(void **ctx);
int b_teardown_state(void **ctx);

/* ---- look-ups and encodings ---------------------------------------------------- */

/* Fail the test when absent. */
struct cluster *b_cluster(const struct state *s);
struct node *b_node(const struct state *s, const char *name);

/* Snapshot encoding of s (free() it). */
void b_encode(const struct state *s, uint8_t **buf, size_t *len);
/* Assert that two states encode to identical bytes. */
void b_assert_same(const struct state *a, const struct state *b);
/* dst (initialized or empty) becomes a copy of src through a snapshot. */
void b_copy(struct state *dst, const struct state *src);

/* Assert that two agents' facts are the same, field by field. */
void b_assert_facts_equal(const struct agent_facts *a, const struct agent_facts *b);

/* The history, every cluster's merged in seq order (state_events_list):
 * how many events, the i-th oldest (NULL past the end). */
unsigned b_n_events(const struct state *s);
const struct event *b_event(const struct state *s, unsigned i);

/* Assert that hay contains needle. */
void b_assert_contains(const char *hay, const char *needle);

#endif /* PGQ_TEST_BUILDERS_H */
