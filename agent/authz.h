/* authz: who may do what. The identities of API callers (a certificate's,
 * or a bearer token's), the roles viewer, operator and admin, per-action
 * grants and denies replicated through Raft, the static admins of the
 * configuration, and the permission check itself: a pure function of the
 * state, the configuration and the caller, table-tested.
 *
 * Also here, because they are judgements of time passed in (no clock): the
 * bound on wrong tokens from one IP address, and the bound on how many
 * refusals a monitor records per second.
 *
 * Nothing here hashes: the SHA-256 of a presented token is computed by the
 * caller (token.c, with libcrypto) and compared here in constant time. */
#ifndef PGQ_AUTHZ_H
#define PGQ_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "identity.h"

_Static_assert(PGQ_IDENTITY_MAX == TRANSPORT_NAME_MAX, "identity names fit a peer_id's name");

/* Roles (the values are in the snapshot format). */
enum authz_role {
    AUTHZ_ROLE_NONE = 0, /* nothing but what it is granted */
    AUTHZ_ROLE_VIEWER,   /* status, events, whoami */
    AUTHZ_ROLE_OPERATOR, /* viewer + maintenance, switchover, pause/resume, sync, cluster remove */
    AUTHZ_ROLE_ADMIN,    /* everything */
    AUTHZ__N_ROLES
};

/* Actions: what a request does (the values are in the snapshot format:
 * new ones go at the end). */
enum authz_action {
    AUTHZ_NONE = 0,
    AUTHZ_STATUS,
    AUTHZ_EVENTS,
    AUTHZ_WHOAMI,
    AUTHZ_NODE_ADD,
    AUTHZ_NODE_REMOVE,
    AUTHZ_MAINTENANCE,
    AUTHZ_SWITCHOVER,
    AUTHZ_PAUSE, /* pause and resume */
    AUTHZ_SYNC,  /* managed sync configuration */
    AUTHZ_ALLOW_UNFENCED,
    AUTHZ_ALLOW_DATA_LOSS,
    AUTHZ_ROLE,  /* set an identity's role */
    AUTHZ_GRANT, /* grant, revoke, deny */
    AUTHZ_FAILPOINT,
    AUTHZ_REPORT,         /* monitors only */
    AUTHZ_HEARTBEAT,      /* node agents only */
    AUTHZ_AUDIT,          /* monitors only: a follower's refusal for the leader */
    AUTHZ_CLUSTER_REMOVE, /* level 6 */
    AUTHZ_MONITOR_CHANGE, /* add, remove or replace a monitor of the Raft group (level 6) */
    AUTHZ__N_ACTIONS
};

/* "status", "node-remove", ...; NULL out of range. */
const char *authz_action_name(int action);
/* The action named name, or AUTHZ_NONE. */
int authz_action_by_name(const char *name);
/* It may be granted or denied to an identity (not report, heartbeat, audit). */
bool authz_action_grantable(int action);
/* "none", "viewer", "operator", "admin". */
const char *authz_role_name(int role);
/* The role named name, or -1. */
int authz_role_by_name(const char *name);
/* The action a client command asks for (AUTHZ_NONE for the leader's own). */
int authz_action_of_command(const struct command *cmd);

/* An identity name that roles and grants may name: "user:NAME" (NAME of
 * A-Z a-z 0-9 _ . @ -, 1-63) or "node:CLUSTER/NAME". */
bool authz_name_valid(const char *name);

/* ---- the static configuration ([auth]) ------------------------------------ */

#define AUTHZ_TOKENS_MAX 32
#define AUTHZ_ADMINS_MAX 16
#define AUTHZ_DIGEST_LEN 32 /* SHA-256 */

struct authz_token
{
    char name[PGQ_IDENTITY_MAX]; /* the identity it proves: "user:alice", "node:main/pg1" */
    uint8_t digest[AUTHZ_DIGEST_LEN];
};

struct authz_config
{
    bool on;  /* false: no authentication (everyone may do everything) */
    bool tls; /* the API runs TLS: no anonymous report is accepted */
    struct authz_token tokens[AUTHZ_TOKENS_MAX];
    unsigned n_tokens;
    char admins[AUTHZ_ADMINS_MAX][PGQ_IDENTITY_MAX];
    unsigned n_admins;
};

/* Parse [auth] tokens ("alice:sha256:<64 hex>, node:main/pg1:sha256:...";
 * a bare name is "user:NAME") and admins ("user:alice, ..."). 0, or
 * PGQ_CONFIG with one line naming the bad entry (never the digest). */
int authz_config_parse(struct authz_config *ac,
                       const char *tokens,
                       const char *admins,
                       char *errmsg,
                       size_t errsize);

/* Whether authentication is on: mode AUTH_MODE_ON/OFF as set, or with
 * AUTH_MODE_AUTO, on when TLS is on or any [auth] key is set. */
enum { AUTH_MODE_AUTO = 0, AUTH_MODE_ON, AUTH_MODE_OFF };
bool authz_mode_on(int mode, bool tls, bool auth_keys_set);

/* The identity the token whose SHA-256 is digest proves: false when none
 * (every configured token is compared, each in constant time). */
bool authz_token_identity(const struct authz_config *ac,
                          const uint8_t digest[AUTHZ_DIGEST_LEN],
                          struct peer_id *id);

/* Fill id from an identity name ("user:alice", "node:main/pg1",
 * "monitor:3"); the ip is left as it was. PGQ_INVALID when it does not
 * parse. */
int authz_identity_of_name(const char *name, struct peer_id *id);

/* ---- the check ---------------------------------------------------------- */

/* The role an identity holds: admin for a static admin, else its
 * replicated role (AUTHZ_ROLE_NONE when it has none). */
int authz_role_of(const struct state *s, const struct authz_config *ac, const char *name);
bool authz_static_admin(const struct authz_config *ac, const char *name);

/* May `who` do `action` on cluster (""/NULL: none in particular) and node
 * (heartbeats: the agent's node)? 0, or PGQ_DENIED with why ("user:bob
 * (viewer) may not node-remove on cluster main"). Pure.
 *   - authentication off: everything is allowed;
 *   - a static admin may do everything (a deny does not hold it back);
 *   - a monitor may read, report and audit; a node agent may read and send
 *     heartbeats for its own node; an anonymous caller may send a report or
 *     an audit only when TLS is off (the handler checks its address);
 *   - anyone else: a deny of the action (on every cluster or this one)
 *     beats everything; then its role; then a grant; else denied. */
int authz_check(const struct state *s,
                const struct authz_config *ac,
                const struct peer_id *who,
                int action,
                const char *cluster,
                const char *node,
                char *why,
                size_t whysize);

/* ---- bounds ------------------------------------------------------------- */

/* Wrong tokens: AUTHZ_FAIL_MAX from one IP within AUTHZ_FAIL_WINDOW_MS and
 * every request from it is refused unchecked for AUTHZ_BLOCK_MS. */
#define AUTHZ_FAIL_MAX 5
#define AUTHZ_FAIL_WINDOW_MS 10000
#define AUTHZ_BLOCK_MS 10000
#define AUTHZ_THROTTLE_SLOTS 64

struct authz_throttle_slot
{
    char ip[64]; /* "": free */
    uint64_t first_ms;
    unsigned failures;
    uint64_t blocked_until_ms;
    uint64_t seen_ms;
};

struct authz_throttle
{
    struct authz_throttle_slot slots[AUTHZ_THROTTLE_SLOTS];
    /* Every address when no slot is free: a slot is not given up while it
     * counts or blocks, so cycling through addresses buys no tries. */
    struct authz_throttle_slot overflow;
    uint64_t failures; /* wrong tokens ever (metrics) */
    uint64_t refused;  /* requests refused unchecked while blocked */
};

/* true: requests from ip are refused unchecked now (counted). */
bool authz_throttle_blocked(struct authz_throttle *t, const char *ip, uint64_t now_ms);
/* One more wrong token from ip; true when it starts a block (log it once). */
bool authz_throttle_failure(struct authz_throttle *t, const char *ip, uint64_t now_ms);

/* Audit records, so that a flood cannot fill the history nor the log: the
 * same refusal (who, action, cluster, node, outcome) is recorded once per
 * AUDIT_REPEAT_MS, its repeats counted and recorded as one ("and N more
 * refusals like it") once that time is over; and at most AUDIT_PER_SECOND
 * records a second per monitor: a refusal over that bound is held in its
 * own slot, its repeats counted with it, and recorded in a later second
 * (every refusal kind keeps a record of its own: a flood by one caller does
 * not fold another's refusals into its count). */
#define AUDIT_PER_SECOND 10
#define AUDIT_REPEAT_MS 60000
#define AUDIT_KEYS 32

struct audit_repeat
{
    uint64_t key; /* 0: free */
    uint64_t since_ms;
    unsigned held;   /* repeats since it was recorded (held: with itself) */
    bool unrecorded; /* held over the per-second bound, not recorded yet */
};

struct audit_limiter
{
    uint64_t window_ms; /* start of the current second */
    unsigned n;         /* records in it */
    unsigned lost;      /* refusals counted in a slot another kind took, since start */
    struct audit_repeat repeats[AUDIT_KEYS];
};

/* The key of a refusal (never 0). */
uint64_t audit_key(const char *who,
                   int action,
                   const char *cluster,
                   const char *node,
                   const char *outcome);

enum {
    AUDIT_RECORD, /* record it now, with *more earlier repeats; keep a copy at *slot */
    AUDIT_REPEAT, /* recorded less than AUDIT_REPEAT_MS ago: counted at *slot */
    AUDIT_HELD,   /* over the per-second bound: held (keep a copy at *slot) */
};
int audit_limiter_admit(struct audit_limiter *l,
                        uint64_t now_ms,
                        uint64_t key,
                        unsigned *slot,
                        unsigned *more);
/* true for a refusal to record now: one held over the bound, once the
 * bound allows (*more: its repeats since; its repeats count on from now),
 * or one whose AUDIT_REPEAT_MS are over with repeats counted (*more: them;
 * the slot is then free). Record the copy kept at *slot. Call until false. */
bool audit_limiter_repeats_due(struct audit_limiter *l,
                               uint64_t now_ms,
                               unsigned *slot,
                               unsigned *more);

#endif /* PGQ_AUTHZ_H */
