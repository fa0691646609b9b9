/* Consensus: the leader's duties on top of any `struct raft` (raft_uv in the
 * daemon, raft_fixture in the simulation).
 *
 * The happy path is: raft elects us; consensus_tick() proposes a LeaderHello
 * of our own term; once it is applied (a barrier of our term: everything
 * before it is committed, which also closes libraft 0.15's Figure-8 hole for
 * our actions) we are "ready" and every tick asks `policy` for the next
 * command to propose and for the actions due, handed to the owner.
 *
 * Possible failure modes are: losing leadership (pending proposals fail with
 * PGQ_NOTLEADER, the owner is told to cancel its actions), a proposal the
 * state machine refuses (its result says why), and a full or slow disk (raft
 * fails the proposal). Nothing here keeps state across leaders: a new leader
 * starts again from the committed state. */
#ifndef PGQ_CONSENSUS_H
#define PGQ_CONSENSUS_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "fsm.h"
#include "members.h"
#include "metrics.h"
#include "policy.h"

struct consensus;
struct proposal;

/* status 0: applied, *res says whether the state machine accepted it.
 * Otherwise PGQ_NOTLEADER or PGQ_UNAVAILABLE and res is NULL. */
typedef void (*proposal_cb)(struct proposal *p, int status, const struct apply_result *res);

/* Caller-owned request: alive until its callback fires. */
struct proposal
{
    void *data;
    proposal_cb cb;
    uint64_t index; /* its log index, once cb has fired with status 0 */
    /* private */
    struct consensus *c;
    unsigned long long term;
    uint64_t proposed_us; /* clock_mono_us at raft_apply */
    struct raft_apply req;
};

struct consensus
{
    struct raft *raft; /* borrowed */
    struct fsm *fsm;   /* borrowed */
    uint64_t id;
    char api_address[PGQ_ADDR_MAX];
    struct policy_config policy;
    uint64_t (*mono_ms)(struct consensus *c); /* monotonic: every duration */
    uint64_t (*wall_ms)(struct consensus *c); /* wall: anchors stamps, for display */
    void (*actions_cb)(struct consensus *c, const struct action *a, unsigned n);
    void (*stepped_down_cb)(struct consensus *c); /* cancel leader work */
    void (*kick_cb)(struct consensus *c);         /* run a tick soon */
    void *data;
    struct metrics_hist commit_hist; /* raft_apply to its callback, on this leader */
    /* private */
    uint64_t last_tick_ms;  /* mono */
    uint64_t stamp_base_ms; /* stamp at mono_base_ms: see leader_now() */
    uint64_t mono_base_ms;
    uint64_t tilt_until_ms; /* mono */
    unsigned long long ready_term;
    bool ready;
    bool closing; /* consensus_closing: nothing new is proposed */
    bool nudge_pending;
    struct raft_barrier nudge; /* consensus_nudge */
    bool hello_pending;
    bool policy_pending;
    struct proposal hello_p;
    struct proposal policy_p;
    struct command policy_cmd;
    struct raft_transfer transfer;
    bool transfer_pending;
    struct action *actions; /* owned: the actions due, grown as needed */
    unsigned actions_cap;
    /* Who leads, as this monitor last saw it (logged once per change), and
     * when it last heard from that leader (libraft's clock). */
    uint64_t seen_leader;
    uint64_t last_leader; /* the last one known, 0 none yet */
    uint64_t leader_contact_ms;
    char change_reason[PGQ_REASON_MAX]; /* why the leadership changed, "" unknown */
    /* A change this follower cannot explain itself (it heard from the old
     * leader until the election, e.g. it granted its vote): logged with
     * the new leader's reason once its hello is applied. */
    bool change_pending;
    uint64_t pending_from, pending_to, pending_gen, pending_since_ms;
    unsigned long long pending_term;
    /* The leader's view of the other voters: when each last answered, and
     * whether it is logged as unreachable. */
    struct
    {
        uint64_t id;
        uint64_t seen_ms;
        bool lost;
    } voters[PGQ_MAX_MONITORS];
    unsigned n_voters;
};

void consensus_init(struct consensus *c, struct raft *r, struct fsm *f, uint64_t id);

/* The monitor is stopping: nothing new is proposed (consensus_propose and
 * consensus_change refuse with PGQ_SHUTDOWN), so that the close waits only
 * for what was (consensus_uv_close). */
void consensus_closing(struct consensus *c);

/* On the leader: tell the followers the commit index now, not at the next
 * heartbeat (heartbeat_timeout, 50 ms), by appending a barrier, which
 * libraft sends at once with the commit index and never applies; for a
 * commit the followers must act on (an agent's word that its PostgreSQL
 * is down: their probes confirm it). One at a time; nothing elsewhere. */
void consensus_nudge(struct consensus *c);

/* Free what consensus owns (not the raft instance). */
void consensus_close(struct consensus *c);

/* Drive the leader's duties; call periodically and when kicked. */
void consensus_tick(struct consensus *c);

/* Stamp cmd with the leader's time and propose it. Nonzero (PGQ_NOTLEADER,
 * PGQ_NOMEM, PGQ_UNAVAILABLE, PGQ_SHUTDOWN): the callback never fires. */
int consensus_propose(struct consensus *c, struct proposal *p, struct command *cmd);

/* libraft gave up (a disk error, a log it cannot reconcile): this monitor
 * must stop and be restarted from disk. */
bool consensus_failed(const struct consensus *c);

/* libraft's own words on its last error ("" when it has none). */
const char *consensus_errmsg(const struct consensus *c);

/* Leader, and past the barrier of its own term. */
bool consensus_ready(const struct consensus *c);

/* The leader's id (0 if unknown) and API address ("" if unknown). */
uint64_t consensus_leader(const struct consensus *c, const char **api_address);

void consensus_info(const struct consensus *c, struct raft_info *out);

/* The leader's clock (stamps and every judgement of the policy): monotonic,
 * anchored once per term. */
uint64_t consensus_now(struct consensus *c);

/* The term this monitor became ready in (0: never). */
static inline unsigned long long consensus_ready_term(const struct consensus *c)
{
    return c->ready ? c->ready_term : 0;
}

/* ---- membership: libraft's configuration (membership.c drives it) -------- */

/* The leader's Raft configuration, its last index, whom it heard from
 * lately and how far each log matches. Any monitor may ask: a follower
 * has no progress (match 0, only itself live). */
void consensus_members(const struct consensus *c, struct members_conf *out);

struct consensus_change;
/* status 0: the change committed; PGQ_NOTLEADER: leadership lost first
 * (nothing of it may have committed, or all of it); PGQ_TIMEOUT: libraft
 * gave up its catch-up rounds for a promotion (nothing changed);
 * PGQ_UNAVAILABLE: another failure. */
typedef void (*consensus_change_cb)(struct consensus_change *ch, int status);

/* Caller-owned request: alive until its callback fires. */
struct consensus_change
{
    void *data;
    consensus_change_cb cb;
    /* private */
    struct consensus *c;
    struct raft_change req;
};

/* One change of the configuration: action MEMBERS_ADD (raft_add of id at
 * address: a spare), MEMBERS_STANDBY or MEMBERS_VOTER (raft_assign; a
 * promotion to voter first runs libraft's catch-up rounds), MEMBERS_REMOVE
 * (raft_remove). 0: cb fires exactly once. Else a PGQ_ code with one line
 * in why, and cb never fires: PGQ_NOTLEADER, PGQ_UNAVAILABLE (a change not
 * committed yet), PGQ_EXISTS, PGQ_NOTFOUND, PGQ_INVALID. */
int consensus_change(struct consensus *c,
                     struct consensus_change *ch,
                     int action,
                     uint64_t id,
                     const char *address,
                     char *why,
                     size_t size);

/* Hand leadership to the most up-to-date other voter (a leader that cannot
 * reach a node it must act on). 0: started, or one is under way. */
int consensus_transfer(struct consensus *c);

#endif /* PGQ_CONSENSUS_H */
