/* Policy: what the leader should do next, as a pure function of the
 * replicated state and the time the caller passes in. It proposes and acts
 * on nothing itself: `consensus` proposes the command, `actuator` carries out
 * the action, and their results come back as commands through the log.
 *
 * Rules enforced here (quoted where they are applied):
 *   - a failover needs a majority of fresh down views of the current leader
 *     generation (views older than view_max_age_ms count for nothing), from
 *     its start to its decision (a new leader that finds a cut in progress
 *     waits for its generation's views before it abandons the cut);
 *   - the primary must stay down by verdict for failover_timeout;
 *   - cut before promote: the failover begins by cutting every standby that
 *     is up off the old primary (unless no standby could be promoted at
 *     all), and the candidate is chosen from the positions read after that
 *     cut: up by verdict, priority > 0, not in maintenance, not given up in
 *     this failover, on the primary's timeline, at least as far as the
 *     synchronous standbys of the last writable primary, within
 *     max_lag_on_failover of the most advanced position known; then the most
 *     advanced wins, then the highest priority, then the name;
 *   - with no eligible candidate nothing is promoted and the reason is
 *     committed so that operators see it;
 *   - node agents (lease.h): a primary whose agent confirmed its PostgreSQL
 *     down (fenced, or dead and handed over), or whose agent fell silent
 *     together with it, is replaced without waiting failover_timeout (the
 *     quorum's verdict is still needed); a standby is promoted over a
 *     primary with an agent only once its lease has ended for sure or its
 *     agent confirmed it down; over a primary whose agent fell silent while
 *     it kept running (unprotected), only when synchronous replication
 *     proves no acknowledged write can be lost or an operator allowed it;
 *   - a primary in maintenance is not failed over unless the operator
 *     allowed it (maintenance_allow_failover);
 *   - overload (feature level 6): a down view a monitor took while its own
 *     loop ran late (obs.overload_ms) counts neither for the verdict nor
 *     for a failover, and a primary seen down only thanks to such views is
 *     held with the reason; and while this leader's own loop runs late
 *     (loop_lag_ms >= overload_lag_ms), a failover is held when
 *     PGQ_STORM_SHARE percent of the primaries (at least PGQ_STORM_MIN)
 *     went down by verdict within failover_timeout + view_max_age_ms: that
 *     many failures at once, seen by monitors that run late, are taken for
 *     the monitors' own overload;
 *   - a paused cluster starts nothing: no cut, decision, retry or abandon,
 *     no cut of a standby and no repoint, except what a failover owes its
 *     standbys (the repoints of a promoted failover, and of a standby a cut
 *     left following no one); a decision already committed is carried out
 *     (promotion, repoints, done) and writable non-primaries are still
 *     fenced; every wait (failover_timeout, cut_timeout, a retry) counts
 *     again from the resume;
 *   - replication slots (feature level 3, replication_slots on): the
 *     primary of the epoch, up and not in the middle of a failover, holds a
 *     physical slot for every other node (policy_slot_names) and no other
 *     pgq_ slot, once per epoch and change of members; a repoint gives the
 *     standby its slot, and a standby streaming without it is repointed. */
#ifndef PGQ_POLICY_H
#define PGQ_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "lease.h"

/* A switchover whose primary has not stopped this long after it began is
 * cancelled (its lease has ended by then: its agent fenced it, if alive). */
#define PGQ_SW_STOP_MS 20000

struct policy_config
{
    uint64_t failover_timeout_ms;
    uint64_t max_lag_bytes;
    bool tilt;                /* the leader's loop stalled or its clock jumped: decide nothing */
    uint64_t view_max_age_ms; /* older down views do not count (0: no limit) */
    uint64_t cut_timeout_ms;  /* how long a cut waits for every standby that is up */
    uint64_t retry_ms;        /* a candidate given up with no other to replace it is tried again
                                 after this (promote_timeout) */
    /* Node agents: this leader's lease book (grants and heartbeats heard,
     * its clock); NULL: none, and no lease of a primary with an agent is
     * ever held for expired. */
    const struct lease_book *leases;
    uint64_t agent_refresh_ms; /* host metrics and positions are committed this often */
    bool replication_slots;    /* keep a slot on the primary for every standby (level 3) */
    /* Level 6: the event history's bounds the leader commits (0: leave them). */
    unsigned events_per_cluster;
    unsigned events_global;
    /* Overload: the worst lateness of this leader's loop over the last
     * view_max_age_ms, as the monitor measured it (loadwatch.c), and the
     * lateness from which a monitor counts as overloaded
     * (resources_overload_lag_ms; 0: never). */
    uint64_t loop_lag_ms;
    uint64_t overload_lag_ms;
};

/* Overload storm: at least this many primaries, and this share (percent)
 * of the clusters with one, down by verdict within one detection window. */
#define PGQ_STORM_MIN 2
#define PGQ_STORM_SHARE 50

/* The outcome of the candidate choice. */
struct choice
{
    const struct node *node; /* NULL: no promotion now */
    uint64_t lsn;            /* the candidate's position after the cut */
    uint64_t reference_lsn;  /* most advanced position known (primary or standby) */
    char reason[PGQ_REASON_MAX];
};

/* True when a majority of voters saw the node down in the current leader
 * generation and refreshed that view within view_max_age_ms of now: stale
 * views from earlier leaders, or from monitors that stopped reporting, do
 * not count. */
bool policy_fresh_down(const struct state *s,
                       const struct node *n,
                       const struct policy_config *pc,
                       uint64_t now_ms);

/* Choose the standby to promote in place of the cluster's primary, among
 * those cut off it in the failover in progress (phase CUTTING; otherwise
 * none is chosen). */
void policy_choose(const struct state *s,
                   const struct cluster *c,
                   const struct policy_config *pc,
                   struct choice *out);

/* The next command the leader should propose, if any (true: *out is set;
 * close it with command_close). now_ms is the leader's clock, the one its
 * stamps come from (consensus.c: monotonic, anchored per term). */
bool policy_next_command(const struct state *s,
                         const struct policy_config *pc,
                         uint64_t now_ms,
                         struct command *out);

/* Up to max of them at once, in out[0..n): a feature level or agent
 * command alone, or else the next command of each cluster that needs one
 * (they do not depend on one another: a batch, level 6). */
unsigned policy_next_commands(const struct state *s,
                              const struct policy_config *pc,
                              uint64_t now_ms,
                              struct command *out,
                              unsigned max);

/* The same, for the leader: it remembers in each cluster (quiet_memo)
 * that the cluster needs nothing and that only a command applied to it can
 * change that, and skips it until one is. Equal to policy_next_commands()
 * on a state changed only by cluster_apply(). */
unsigned policy_next_commands_memo(struct state *s,
                                   const struct policy_config *pc,
                                   uint64_t now_ms,
                                   struct command *out,
                                   unsigned max);

/* The node may be promoted over although it cannot be proven fenced: its
 * agent fell silent while it ran, and either an operator allowed it in this
 * epoch or it named synchronous standbys, every one a node of the cluster
 * (which the cut stops: it can acknowledge nothing more). */
bool policy_unfenced_allowed(const struct cluster *c, const struct node *p);

/* A standby could replace p now (up, priority > 0, not in maintenance),
 * and would (the cluster is not paused, p is not a primary in maintenance
 * the operator did not allow to be failed over): its agent then leaves a
 * crashed primary to the quorum rather than restart it. */
bool policy_standby_ready(const struct cluster *c, const struct node *p);

/* Actions on PostgreSQL nodes that the committed state calls for. */
enum action_kind {
    ACT_PROMOTE = 1, /* promote node (candidate of the epoch's decision) */
    ACT_REPOINT,     /* make standby node stream from the epoch's primary */
    ACT_FENCE,       /* make a writable non-primary read-only */
    ACT_CUT,         /* make a standby stop following the old primary; read its position */
    ACT_SLOTS,       /* make the primary hold a slot for every other node, none for others */
    ACT_SYNC,        /* make the primary run the committed synchronous set */
};

struct action
{
    int kind;
    uint64_t epoch;
    char cluster[PGQ_NAME_MAX];
    char node[PGQ_NAME_MAX];
    uint64_t reg_seq; /* the node's registration (level 6): one of a name registered again
                         is another action */
    char conninfo[PGQ_CONNINFO_MAX];
    char primary[PGQ_NAME_MAX]; /* ACT_REPOINT: the primary to follow */
    char primary_conninfo[PGQ_CONNINFO_MAX];
    uint32_t timeline;   /* ACT_REPOINT: the primary's timeline, 0 if unknown */
    uint32_t parent_tli; /* ACT_REPOINT: the one it forked off; ACT_PROMOTE: the node's */
    uint64_t lsn;        /* ACT_REPOINT: the fork point; ACT_PROMOTE: its cut position */
    uint64_t round;      /* ACT_CUT: the failover round; ACT_SLOTS: the members generation;
                            ACT_SYNC: the set's seq */
    /* ACT_REPOINT: the standby's slot on the primary, to create there if
     * missing and to stream with ("": none, and a pgq_ one is dropped from
     * its settings) */
    char slot[PGQ_SLOT_NAME_MAX];
    /* ACT_SYNC, ACT_PROMOTE: the synchronous_standby_names to run ("" with
     * ACT_PROMOTE: leave it as it is) */
    char sync_setting[PGQ_SYNC_SETTING_MAX];
    bool sync_managed; /* ACT_PROMOTE: write sync_setting before pg_promote */
};

/* The actions due, every one: returns how many there are, and writes the
 * first min(that, max) of them to out (call again with more room when the
 * count exceeds max). pc: the leader's settings (NULL: every option off). */
unsigned policy_actions(const struct state *s,
                        const struct policy_config *pc,
                        struct action *out,
                        unsigned max);

/* The same, skipping clusters with no action due and nothing applied to
 * them since (calm_memo); equal to policy_actions() on a state changed only
 * by cluster_apply(). */
unsigned policy_actions_memo(struct state *s,
                             const struct policy_config *pc,
                             struct action *out,
                             unsigned max);

const char *policy_action_name(int kind);

/* The same action: kind, epoch, round, cluster and node (what it is done to). */
bool policy_action_same(const struct action *x, const struct action *y);

/* The action is among those the committed state calls for now. */
bool policy_action_due(const struct state *s,
                       const struct policy_config *pc,
                       const struct action *a);

/* The slots the primary of `cluster` keeps (ACT_SLOTS): one for every other
 * node that has one (cluster_node_slot). Writes up to max names to out and
 * returns how many there are. */
unsigned policy_slot_names(const struct state *s,
                           const char *cluster,
                           char (*out)[PGQ_SLOT_NAME_MAX],
                           unsigned max);

#endif /* PGQ_POLICY_H */
