/* Inside the state machine: what cluster.c and cluster_failover.c share.
 * Not for anyone else: the contract is cluster.h. */
#ifndef PGQ_CLUSTER_INTERNAL_H
#define PGQ_CLUSTER_INTERNAL_H

#include <stdint.h>

#include "cluster.h"
#include "lib/util.h"

/* Fill res with code and the message; returns code. */
int cluster_fail(struct apply_result *res, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);

/* Append an event (stamped with the state's time and, for a client's
 * write, with who asked) to its history (cluster_events.c). */
void cluster_event(struct state *s,
                   const char *cluster,
                   const char *node,
                   int kind,
                   uint64_t epoch,
                   uint64_t duration_ms,
                   const char *fmt,
                   ...) PGQ_PRINTF(7, 8);

/* The nodes the primary keeps a slot for changed: the slots are due again
 * (feature level 3; below it nothing of slots is in the state). */
void cluster_members_changed(struct state *s, struct cluster *c);

/* apply(Report) (cluster_report.c). */
int cluster_apply_report(struct state *s, const struct command *cmd, struct apply_result *res);

static inline uint64_t cluster_since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* The failover's commands (cluster_failover.c). */
int apply_cut(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_decide(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_blocked(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_step(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_abandon(struct state *s, const struct command *cmd, struct apply_result *res);
/* An operator pauses or resumes a cluster (cluster_failover.c). */
int check_switchover(const struct state *s, const struct command *cmd, struct apply_result *res);
int apply_switchover(struct state *s, const struct command *cmd, struct apply_result *res);
int check_pause(const struct state *s, const struct command *cmd, struct apply_result *res);
int apply_pause(struct state *s, const struct command *cmd, struct apply_result *res);

/* Node agents and feature levels (cluster_agent.c). */
int apply_agent(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_feature(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_allow_unfenced(struct state *s, const struct command *cmd, struct apply_result *res);
void agent_note_observation(struct state *s,
                            struct cluster *c,
                            struct node *n,
                            const struct obs *o);

/* Node identity (cluster_identity.c, level 5). Before observation o of n
 * is committed: learn n's identifier at first sight, or turn o into one of
 * n unreachable when it shows another server; returns node_impostor(n)
 * before. After it: one IDENTITY event if node_impostor(n) changed from
 * `was` (seen: the identifier that made it so). And agent facts f of
 * another server: only their identifier is committed (true: f is refused). */
bool identity_note_observation(struct state *s, struct cluster *c, struct node *n, struct obs *o);
void identity_changed(struct state *s, struct cluster *c, struct node *n, bool was, uint64_t seen);
bool identity_refuse_agent(struct state *s,
                           struct cluster *c,
                           struct node *n,
                           const struct agent_facts *f);

/* Managed synchronous replication (cluster_sync.c). */
int apply_sync_config(struct state *s, const struct command *cmd, struct apply_result *res);
int sync_config_check(const struct state *s, const struct command *cmd, struct apply_result *res);
int apply_sync_set(struct state *s, const struct command *cmd, struct apply_result *res);
void sync_note_observation(struct state *s, struct cluster *c, struct node *n, const struct obs *o);
/* A decision replaced the primary of old_epoch; a promotion was committed. */
void sync_on_decide(struct cluster *c, uint64_t old_epoch);
void sync_on_promoted(struct cluster *c);

/* Roles, grants, audit records (cluster_authz.c, level 5). */
int check_access_role(const struct state *s, const struct command *cmd, struct apply_result *res);
int apply_access_role(struct state *s, const struct command *cmd, struct apply_result *res);
int check_grant(const struct state *s, const struct command *cmd, struct apply_result *res);
int apply_grant(struct state *s, const struct command *cmd, struct apply_result *res);
int apply_audit(struct state *s, const struct command *cmd, struct apply_result *res);

/* The monitors (cluster.c): the slot of monitor id (added when absent;
 * NULL when every slot is taken); exactly `voters` are the voters from now
 * on (true: the set of voter ids changed). */
struct member *state_member_slot(struct state *s, uint64_t id);
bool state_set_voters(struct state *s, const struct member *voters, unsigned n);
/* Verdicts (cluster.c): n's verdict from the voters' views now (an event
 * when it changed, with error when it is down); every node's, after the
 * voters changed. */
void node_note_verdict(struct state *s, struct cluster *c, struct node *n, const char *error);
void state_refresh_verdicts(struct state *s);

/* A step of an online change of the Raft voters (cluster_member.c). */
int apply_member(struct state *s, const struct command *cmd, struct apply_result *res);

/* The primary of c is up again by verdict: a failover still cutting its
 * standbys off it is abandoned. */
void failover_primary_up(struct state *s, struct cluster *c);

/* The history (cluster_events.c): a cluster's goes with it; the level was
 * raised from `from` (at 6 each cluster's events move to its own history);
 * the leader committed new bounds (0: unchanged), the histories trimmed. */
void events_cluster_free(struct state *s, struct cluster *c);
void events_level_raised(struct state *s, unsigned from);
void events_set_bounds(struct state *s, unsigned per_cluster, unsigned global);

/* A cluster's life (cluster_remove.c, level 6): an operator removes it
 * with its nodes (refused while a failover, cut or switchover of it is in
 * progress); a cluster whose last node was removed goes too.
 * state_drop_cluster drops c from the state (c is invalid after), raising the epoch floor to
 * its epochs; cluster_epoch_base is the epoch a discovery in c counts up
 * from: never below the floor. */
int check_cluster_remove(const struct state *s,
                         const struct command *cmd,
                         struct apply_result *res);
int apply_cluster_remove(struct state *s, const struct command *cmd, struct apply_result *res);
void state_drop_cluster(struct state *s, struct cluster *c);
uint64_t cluster_epoch_base(const struct state *s, const struct cluster *c);

/* Batches (cluster_batch.c, level 6): apply each command of cmd in order,
 * counting what applied and what was refused; check a client's batch as a
 * whole before it is proposed. */
int apply_batch(struct state *s, const struct command *cmd, struct apply_result *res);
int check_batch(const struct state *s, const struct command *cmd, struct apply_result *res);

#endif /* PGQ_CLUSTER_INTERNAL_H */
