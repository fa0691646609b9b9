/* Leases: a primary may acknowledge writes only while its agent holds an
 * unexpired lease from the quorum leader. Pure rules, as functions of the
 * state and the time the caller passes in, for both sides:
 *
 *   - the agent measures its lease from the moment it SENT the renewal, on
 *     its monotonic clock, and fences its PostgreSQL `margin` before that
 *     view ends (lease_agent_*): its view always ends before the leader's;
 *   - the leader records when it RECEIVED each renewal it granted, on its
 *     own clock, and holds a lease for expired only `drift` after the grant
 *     plus its length (lease_expired); it keeps these grants in memory
 *     only, so a new leader assumes a grant was made just before it took
 *     over (the book's `since`).
 *
 * The leader grants only to the primary of the epoch, never while a failover
 * over it is under way (lease_may_grant). The policy promotes over a primary
 * with an agent only once its lease expired or its agent confirmed its
 * PostgreSQL fenced or dead (policy.c). */
#ifndef PGQ_LEASE_H
#define PGQ_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

/* ---- the leader's side ---------------------------------------------------- */

struct lease_entry
{
    char cluster[PGQ_NAME_MAX];
    char node[PGQ_NAME_MAX];
    uint64_t heard_ms;        /* last heartbeat received (leader clock; 0: none) */
    uint64_t granted_ms;      /* last renewal granted, when received (0: none) */
    struct agent_facts facts; /* as last heard */
    uint64_t committed_ms;    /* when facts were last committed (0: never by this leader) */
};

/* The leader's answer to a heartbeat (the API's HeartbeatReply). */
struct lease_reply
{
    uint64_t lease_ms; /* 0: no lease granted */
    uint64_t epoch;
    bool primary;       /* the node is the primary of the epoch */
    bool fence;         /* a failover over it has begun: fence now */
    bool standby_ready; /* a standby could replace it now */
    bool registered;    /* false: no such node */
    bool enforced;      /* the state is at feature level 2: promotions wait for leases */
    uint64_t length_ms; /* the length of this leader's leases, granted or not */
    /* Rejoin: the primary a standby of this node follows now ("": none is
     * settled: no primary, or a failover under way), and its history. */
    char follow[PGQ_NAME_MAX];
    char follow_conninfo[PGQ_CONNINFO_MAX];
    bool rejoin; /* the node was demoted: it must rejoin before it follows */
    uint32_t timeline;
    uint32_t parent_tli;
    uint64_t fork_lsn;
    bool stop; /* a switchover began: stop cleanly */
    /* The voters' API addresses (where the agent may look for a leader),
     * sent when their hash differs from the one the agent knows. */
    char monitors[PGQ_MAX_MONITORS][PGQ_ADDR_MAX];
    unsigned n_monitors;
    uint64_t monitors_hash; /* 0: not sent */
};

/* What one leader knows of leases: nothing survives it. */
struct lease_book
{
    uint64_t lease_ms;       /* length of a grant */
    uint64_t drift_ms;       /* margin for clock rate differences and delivery */
    uint64_t since_ms;       /* this leader took over: every lease may run until since + length */
    unsigned long long term; /* the term it was last reset for (lease_book_follow) */
    struct lease_entry *entries; /* owned */
    unsigned n_entries;
    unsigned cap;
    /* Entries by a hash of cluster/node (open addressing, entry + 1, 0:
     * empty; index_cap a power of 2, at least twice n_entries): a
     * heartbeat and the leader's walk of the nodes find an agent's entry in
     * O(1), not a walk of every agent's. NULL (no memory): found by a walk. */
    unsigned *index;
    unsigned index_cap;
};

void lease_book_init(struct lease_book *b, uint64_t lease_ms, uint64_t drift_ms);
void lease_book_close(struct lease_book *b);
/* A new leader (or one that lost and regained leadership): forget every
 * grant, assume one was made just before now. */
void lease_book_reset(struct lease_book *b, uint64_t now_ms);
/* Let go of the entries of nodes no longer in s (removed, their cluster
 * with them) once a lease granted to them has expired by now_ms: until then
 * the entry stays, so that a node registered again under the name, which
 * may be the same server whose agent holds that lease, is not promoted over
 * before it ends. Returns how many such entries are left. */
unsigned lease_book_prune(struct lease_book *b, const struct state *s, uint64_t now_ms);
/* The wiring of a monitor's book, the daemon's and the simulation's: a
 * monitor ready in another term than the one its book was reset for is a
 * new leader, and resets it at now_ms, its leader clock (ready_term 0: not
 * ready, nothing changes). Call it before the policy runs and before a
 * heartbeat is answered. True when the book was reset. */
bool lease_book_follow(struct lease_book *b, unsigned long long ready_term, uint64_t now_ms);

/* The entry of a node, created if absent (NULL: out of memory). */
struct lease_entry *lease_entry_get(struct lease_book *b, const char *cluster, const char *node);
const struct lease_entry *lease_entry_find(const struct lease_book *b,
                                           const char *cluster,
                                           const char *node);

/* The quorum may grant node n of c a lease now: it is the primary of the
 * epoch and no failover over it is under way. */
bool lease_may_grant(const struct cluster *c, const struct node *n);

/* A grant the leader made at now_ms to a renewal it received then. */
void lease_granted(struct lease_entry *e, uint64_t now_ms);

/* When any lease of this node that some leader may have granted has ended
 * for sure: the later of this leader's takeover and its last grant to it
 * (with none: the last heartbeat it heard, as a node without a grant takes
 * writes for a grace bounded by it), plus the length and the drift. */
uint64_t lease_end_ms(const struct lease_book *b, const char *cluster, const char *node);
bool lease_expired(const struct lease_book *b,
                   const char *cluster,
                   const char *node,
                   uint64_t now_ms);

/* No heartbeat from this node's agent for a whole lease (plus drift) since
 * it was last heard or since this leader took over: the agent fenced, died
 * or is cut off. */
bool lease_agent_silent(const struct lease_book *b, const struct lease_entry *e, uint64_t now_ms);

/* A heartbeat from the agent of cluster/node with `facts`, received at
 * now_ms by the ready leader of state s: note it, grant a lease if one may
 * be granted, and fill the reply. Returns true when what the agent says
 * changed (the leader should run its policy at once). No such node: the
 * reply says unregistered and nothing is noted. */
bool lease_on_heartbeat(struct lease_book *b,
                        const struct state *s,
                        const char *cluster,
                        const char *node,
                        const struct agent_facts *facts,
                        uint64_t now_ms,
                        struct lease_reply *out);

/* The voters' API addresses for a heartbeat's reply: filled, with their
 * hash, when the hash differs from `seen` (what the agent said it knows);
 * left out (hash 0) otherwise, so that a steady group costs a heartbeat
 * eight bytes. */
void lease_reply_monitors(const struct state *s, uint64_t seen, struct lease_reply *out);

/* ---- the agent's side ------------------------------------------------------ */

/* The agent's lease, a state machine (table in lease.c). */
enum lease_state {
    LEASE_NONE = 0, /* never granted (or given up): a primary must not take writes */
    LEASE_HELD,     /* granted, and not yet at its end */
    LEASE_LAPSED,   /* its end passed with no renewal: the primary is fenced */
    LEASE_REVOKED,  /* the quorum began a failover over it: fenced at once */
    LEASE__N_STATES
};

struct agent_lease
{
    int state;           /* enum lease_state */
    uint64_t sent_ms;    /* when the renewal that was granted was sent (agent clock) */
    uint64_t length_ms;  /* its length */
    uint64_t margin_ms;  /* fence this long before the end */
    uint64_t pending_ms; /* a renewal in flight was sent then (0: none) */
};

void lease_agent_init(struct agent_lease *l, uint64_t margin_ms);
/* One transition; asserts it is one the table allows. */
void lease_move(struct agent_lease *l, int next);
/* A renewal is sent at now_ms. */
void lease_agent_sending(struct agent_lease *l, uint64_t now_ms);
/* The reply to the renewal in flight: granted (length > 0) or not; revoked
 * when the quorum says a failover over this node began. */
void lease_agent_reply(struct agent_lease *l, uint64_t length_ms, bool revoked);
/* The instant the agent must have fenced a primary by (its own clock):
 * sent + length - margin; 0 when it holds no lease. */
uint64_t lease_agent_deadline(const struct agent_lease *l);
/* At now_ms, whether the lease still covers writes; moves HELD to LAPSED
 * once the deadline has passed. */
bool lease_agent_valid(struct agent_lease *l, uint64_t now_ms);

/* A primary that holds no lease (new, or just promoted) may take writes
 * only for a grace: a whole lease (config_lease_ms) after it became
 * writable, and never past the end of a lease counted from the last
 * heartbeat the leader answered (sent at answered_sent_ms, 0: none): the
 * leader holds its agent silent, and may replace it, a lease after it last
 * heard it. length_ms: the leader's lease length (0: unknown). */
uint64_t lease_agent_grace_end(const struct agent_lease *l,
                               uint64_t writable_since_ms,
                               uint64_t config_lease_ms,
                               uint64_t answered_sent_ms,
                               uint64_t length_ms);

const char *lease_state_name(int state);
void lease_print_table(void (*emit)(void *arg, const char *line), void *arg);

#endif /* PGQ_LEASE_H */
