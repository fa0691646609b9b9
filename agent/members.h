/* members: online membership, the pure part. What a request to change the
 * monitors' Raft voters (pgquorumctl monitor add|remove|replace) means for
 * the Raft configuration as it is now: refused (and why), done, or the one
 * next step. The leader (membership.c) asks again after every step it
 * took, so the plan is a function of the configuration alone: a change
 * interrupted by a leader's death is continued by asking again, on any
 * leader, and asking again once it is done says so.
 *
 * The steps, one configuration entry each, one at a time (libraft 0.15
 * changes one server per entry, and refuses a change while one is not
 * committed): ADD (raft_add: a spare, replicated nothing), STANDBY
 * (raft_assign: replicated to, no vote: it catches up), WAIT (until its log
 * is within `slack` entries of the leader's), VOTER (raft_assign: libraft
 * runs its own catch-up rounds, then commits it as a voter), REMOVE
 * (raft_remove), TRANSFER (the leader is to be removed: it hands
 * leadership over first, and the new leader removes it).
 *
 * The rules (docs/architecture.md, "Membership"): at most PGQ_MAX_MONITORS
 * servers; a server that is not a voter is a change that stopped half-way
 * and must be finished or removed before any other; the voters answering
 * the leader must stay a majority of the voters after the step; an address
 * is one monitor's. */
#ifndef PGQ_MEMBERS_H
#define PGQ_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* A server's role in the Raft configuration (libraft's RAFT_SPARE,
 * RAFT_STANDBY, RAFT_VOTER, named here so that the core needs no libraft;
 * 0: not in the configuration, or not known). */
enum members_role {
    MEMBERS_ROLE_NONE = 0,
    MEMBERS_ROLE_SPARE,
    MEMBERS_ROLE_STANDBY,
    MEMBERS_ROLE_VOTER
};

struct members_server
{
    uint64_t id;
    char address[PGQ_ADDR_MAX];
    int role;             /* enum members_role */
    bool live;            /* the leader heard from it lately (itself: true) */
    uint64_t match_index; /* how far its log is known to match the leader's */
};

/* The leader's Raft configuration (the latest entry, committed or not). */
struct members_conf
{
    struct members_server servers[PGQ_MAX_MONITORS];
    unsigned n;
    bool overflow;       /* libraft holds more servers than PGQ_MAX_MONITORS */
    uint64_t leader_id;  /* this leader */
    uint64_t last_index; /* its last log index */
    bool changing;       /* a change not committed yet, or a promotion under way */
};

enum members_action {
    MEMBERS_DONE = 0,
    MEMBERS_ADD,
    MEMBERS_STANDBY,
    MEMBERS_WAIT,
    MEMBERS_VOTER,
    MEMBERS_REMOVE,
    MEMBERS_TRANSFER,
};

struct members_plan
{
    int action;                 /* enum members_action */
    uint64_t id;                /* the monitor it is about */
    char address[PGQ_ADDR_MAX]; /* ADD: its Raft address */
    int step;                   /* the pgq_member_step it commits (0: none) */
    char why[PGQ_REASON_MAX];   /* DONE: what holds now; WAIT: what it waits for */
};

/* "add", "standby", ... */
const char *members_action_name(int action);

/* The server of id in conf, or NULL. */
const struct members_server *members_find(const struct members_conf *conf, uint64_t id);

/* Check request rq (kind CMD_MEMBER, step 0, as pgquorumctl sends it) on
 * its own: ids and addresses. 0, or PGQ_INVALID with why. */
int members_check_request(const struct cmd_member *rq, char *why, size_t size);

/* The next step of rq on conf (s: the replicated state, for the monitors'
 * API addresses). 0 with *out; PGQ_INVALID, PGQ_NOTFOUND, PGQ_EXISTS,
 * PGQ_LIMIT or PGQ_REFUSED with out->why when the request cannot be
 * carried out (nothing to do about it but change the request or the
 * group); PGQ_UNAVAILABLE when libraft is still committing a change (ask
 * again soon). Pure. */
int members_next(const struct members_conf *conf,
                 const struct state *s,
                 const struct cmd_member *rq,
                 uint64_t slack,
                 struct members_plan *out);

/* "1, 2, 3 (4 standby)": the configuration in one line. */
void members_describe(const struct members_conf *conf, char *out, size_t size);

#endif /* PGQ_MEMBERS_H */
