/* membership: the leader's one online change of the monitors' Raft voters
 * at a time (pgquorumctl monitor add|remove|replace), on top of any
 * consensus (raft_uv in the daemon, raft_fixture in the simulation).
 *
 * The happy path is: membership_start() takes a checked request; every
 * membership_tick() asks members_next() for the next step on the Raft
 * configuration as it is now (before the first, it commits a Member
 * "asked": who asked what), starts it through consensus_change(), and
 * once libraft committed it commits a Member command (the event, with who
 * asked, and the voters the state counts from then on); when nothing is
 * left to do, done_cb says so. The new monitor catches up as a standby
 * first: the step that makes it a voter waits until its log is within
 * MEMBERSHIP_SLACK entries of the leader's.
 *
 * Possible failure modes are: the request refused at once (bad input, a
 * limit, a change already under way: one at a time); leadership lost
 * during a step (done_cb with PGQ_UNAVAILABLE: the same request on the new
 * leader continues where this one stopped, since the plan depends on the
 * configuration alone); a standby that does not catch up (no progress for
 * stall_ms, or libraft giving up its catch-up rounds: a Member "failed",
 * PGQ_REFUSED); the leader asked to remove itself (it hands leadership
 * over: PGQ_UNAVAILABLE, and the next leader removes it). Nothing here
 * outlives a leader: a new leader starts with no change under way. */
#ifndef PGQ_MEMBERSHIP_H
#define PGQ_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus.h"
#include "members.h"

/* A standby may be made a voter this close to the leader's log: libraft's
 * own catch-up rounds cover the rest within an election timeout. */
#define MEMBERSHIP_SLACK 64

struct membership;
/* code 0 (done), or PGQ_REFUSED (stopped: the configuration is as the last
 * step left it), PGQ_UNAVAILABLE (ask again: another leader continues),
 * PGQ_SHUTDOWN; message: one line for the operator. */
typedef void (*membership_done_cb)(struct membership *m, int code, const char *message);

struct membership
{
    struct consensus *c; /* borrowed */
    uint64_t stall_ms;   /* a standby whose log does not move for this long: stopped */
    membership_done_cb done_cb;
    void *data;
    /* private */
    bool active;
    struct command rq; /* CMD_MEMBER, step 0: the request, with who asked */
    bool changing;     /* a consensus_change is in flight */
    bool recording;    /* a Member is being committed */
    bool finishing;    /* done_cb once the Member commits */
    int final_code;
    char final_msg[PGQ_REASON_MAX * 2];
    int step; /* the step libraft is carrying out */
    struct consensus_change change;
    struct proposal record_p;
    struct command record;
    uint64_t wait_since_ms; /* catch-up: the standby's log last moved then */
    uint64_t wait_match;
    unsigned steps; /* steps committed by this request */
    bool asked;     /* its Member "asked" is committed */
};

void membership_init(struct membership *m, struct consensus *c);

/* Start request rq (kind CMD_MEMBER with step 0; who and from as
 * authenticated). 0: done_cb fires exactly once, never from inside this
 * call. Else a PGQ_ code with one line in why (nothing changed, done_cb
 * never fires): PGQ_INVALID, PGQ_NOTFOUND, PGQ_EXISTS, PGQ_LIMIT,
 * PGQ_REFUSED (among them another change under way), PGQ_UNAVAILABLE
 * (libraft still commits a change, or this monitor does not lead). */
int membership_start(struct membership *m, const struct command *rq, char *why, size_t size);

/* Drive the change under way; call at every tick and when kicked. */
void membership_tick(struct membership *m);

/* The monitor stops: a change between steps ends now (PGQ_SHUTDOWN); one
 * in libraft's hands ends when libraft fails it. */
void membership_stop(struct membership *m);

/* A change is under way: what it is and where, in one line. */
bool membership_busy(const struct membership *m, char *what, size_t size);

#endif /* PGQ_MEMBERSHIP_H */
