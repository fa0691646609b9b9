/* The small public surface shared by pgquorumd, pgquorumctl and the tests:
 * error codes (one X-macro table with their text), the enums that travel in
 * the wire formats, limits, and the exit codes of the commands. */
#ifndef PGQUORUM_H
#define PGQUORUM_H

#include <stdint.h>

#define PGQ_VERSION_STRING "0.1.0"

/* Format version carried by API frames, Raft commands and snapshots. */
#define PGQ_FORMAT_VERSION 1

/* Feature levels of the replicated state (rolling upgrades): a command of a
 * level above the state's is refused by every monitor, so that one of an
 * older version, which does not know it, never diverges from the others.
 * The leader raises the level once every voter announced it supports it.
 *   1: the commands of 0.1 (no node agents)
 *   2: node agents: AgentReport, SetFeature, AllowUnfenced
 *   3: SetPause; SetMaintenance with allow_failover; the agents' rejoin facts;
 *      Switchover; replication slots: Step slots, and what observations say
 *      of slots; managed synchronous replication: SyncConfig, SyncSet
 *   4: Hello's reason (why the leadership changed)
 *   5: security (issue 11): a node's identity (its PostgreSQL system
 *      identifier, learned at first sight; AgentReport's system_id); roles
 *      and grants (SetAccessRole, SetGrant), Audit, and who asked for a write
 *      (Command.who, Command.from)
 *   6: scale and membership (issue 12): Batch; ClusterRemove; events kept
 *      per cluster; a name registered again starts a fresh history;
 *      Member (a step of an online change of the monitors' Raft voters) */
#define PGQ_FEATURE_LEVEL 6

/* Limits, checked when decoding: none is a silent ceiling. */
#define PGQ_NAME_MAX 64       /* node and cluster names, with the NUL */
#define PGQ_CONNINFO_MAX 1024 /* a node's monitoring conninfo */
#define PGQ_ADDR_MAX 128      /* host:port */
#define PGQ_ERRTEXT_MAX 160   /* one line saying why a probe failed */
#define PGQ_REASON_MAX 256    /* why a failover was (not) done */
#define PGQ_SYNC_MAX 8        /* synchronous standbys a primary's observation names */
#define PGQ_SYNC_NAMES_MAX (PGQ_SYNC_MAX * PGQ_NAME_MAX) /* their names, comma-separated */
#define PGQ_SLOT_NAME_MAX 64 /* a replication slot's name, with the NUL (NAMEDATALEN) */
#define PGQ_SLOTS_LISTED 8   /* slots (or standbys) a primary's observation names at most */
#define PGQ_SLOT_NAMES_MAX (PGQ_SLOTS_LISTED * PGQ_SLOT_NAME_MAX) /* comma-separated */
#define PGQ_MAX_MONITORS 9                                        /* voters of the Raft group */
/* Managed synchronous replication: a synchronous_standby_names value the
 * quorum writes ("FIRST 8 (\"a\", ...)": 8 quoted names and the method),
 * and the older sets kept until the newest one is confirmed in force. */
#define PGQ_SYNC_SETTING_MAX (PGQ_SYNC_MAX * (PGQ_NAME_MAX + 4) + 32)
#define PGQ_SYNC_RETIRING_MAX 8
#define PGQ_REPLICAS_MAX 16 /* standbys a primary's observation names as streaming from it */
#define PGQ_REPLICAS_NAMES_MAX (PGQ_REPLICAS_MAX * PGQ_NAME_MAX)
#define PGQ_MAX_MONITORS 9         /* voters of the Raft group */
#define PGQ_MONITOR_ID_MAX 1000000 /* monitor (Raft) ids are 1..this */
#define PGQ_MAX_CLUSTERS 256       /* below feature level 6 only: sized from what exists since */
#define PGQ_MAX_NODES 128          /* per cluster, below feature level 6 only */
/* What a snapshot, a report or a registration may hold, as a bound on
 * decoding (its bytes are bounded too): not a limit anyone reaches. */
#define PGQ_CLUSTERS_DECODE_MAX (1u << 22)
#define PGQ_NODES_DECODE_MAX (1u << 22) /* per cluster */
#define PGQ_REPORT_OBS_MAX 4096         /* observations in one report (a monitor sends fewer) */
#define PGQ_MAX_EVENTS 1000             /* below level 6: the committed history kept */
/* Level 6: the history is kept per cluster (a bound each), events of no
 * cluster under a bound of their own; both are settings the leader commits
 * ([monitor] events_per_cluster, events_global), within 1..PGQ_EVENTS_BOUND_MAX. */
#define PGQ_EVENTS_PER_CLUSTER 100
#define PGQ_EVENTS_GLOBAL 1000
#define PGQ_EVENTS_BOUND_MAX 100000
#define PGQ_EVENTS_RECENT 1024          /* the latest events of all, indexed for the monitor */
#define PGQ_EVENTS_LIST_MAX 100000      /* events one events request lists at most */
#define PGQ_FRAME_MAX (1u << 20)        /* largest request frame a monitor accepts */
#define PGQ_REPLY_FRAME_MAX (64u << 20) /* largest reply a client accepts */
#define PGQ_DEFAULT_CLUSTER "main"
#define PGQ_DEFAULT_PRIORITY 50

/* Error codes: 0 is success, every failure a positive PGQ_* code. */
#define PGQ_ERRORS(X)                            \
    X(PGQ_NOMEM, "out of memory")                \
    X(PGQ_INVALID, "invalid argument")           \
    X(PGQ_MALFORMED, "malformed input")          \
    X(PGQ_TOOBIG, "input too large")             \
    X(PGQ_VERSION, "unsupported format version") \
    X(PGQ_UNKNOWN, "unknown command")            \
    X(PGQ_NOTFOUND, "not found")                 \
    X(PGQ_EXISTS, "already exists")              \
    X(PGQ_REFUSED, "refused")                    \
    X(PGQ_LIMIT, "limit reached")                \
    X(PGQ_STALE, "stale command")                \
    X(PGQ_NOTLEADER, "not the leader")           \
    X(PGQ_UNAVAILABLE, "unavailable")            \
    X(PGQ_TIMEOUT, "timed out")                  \
    X(PGQ_IO, "I/O error")                       \
    X(PGQ_CONFIG, "bad configuration")           \
    X(PGQ_SHUTDOWN, "shutting down")             \
    X(PGQ_INTERNAL, "internal error")            \
    X(PGQ_AUTH, "not authenticated")             \
    X(PGQ_DENIED, "permission denied")

enum {
    PGQ_OK = 0,
#define PGQ__ENUM(code, text) code,
    PGQ_ERRORS(PGQ__ENUM)
#undef PGQ__ENUM
        PGQ__N_ERRORS
};

const char *pgq_strerror(int code);

/* A node's role as committed in the replicated state. */
enum pgq_role {
    PGQ_ROLE_UNKNOWN = 0, /* registered, not yet observed */
    PGQ_ROLE_PRIMARY,     /* the primary of the cluster's current epoch */
    PGQ_ROLE_STANDBY,     /* a standby of the current primary */
    PGQ_ROLE_DEMOTED,     /* a former primary: needs rejoin, never primary again */
    PGQ__N_ROLES
};

/* Quorum verdict on a node's health. */
enum pgq_verdict { PGQ_VERDICT_UNKNOWN = 0, PGQ_VERDICT_UP, PGQ_VERDICT_DOWN, PGQ__N_VERDICTS };

/* Progress of the cluster's latest failover (the values are in the
 * snapshot format: new ones go at the end). */
enum pgq_fo_phase {
    PGQ_FO_NONE = 0, /* no failover ever decided */
    PGQ_FO_DECIDED,  /* epoch bumped, candidate chosen, not yet promoted */
    PGQ_FO_PROMOTED, /* candidate left recovery; standbys being repointed */
    PGQ_FO_DONE,     /* every standby that can follow the new primary does */
    PGQ_FO_CUTTING,  /* standbys being cut off the old primary, before a candidate is chosen */
    PGQ_FO_GAVE_UP,  /* the candidate could not be promoted: another one is to be chosen */
    PGQ__N_FO_PHASES
};

/* Steps the leader commits while carrying out a decision or reconciling. */
enum pgq_step {
    PGQ_STEP_PROMOTED = 1, /* the candidate left recovery */
    PGQ_STEP_REPOINTED,    /* a standby streams from the primary of the epoch */
    PGQ_STEP_DONE,         /* all reachable standbys repointed */
    PGQ_STEP_FENCED,       /* a writable non-primary was made read-only */
    PGQ_STEP_CUT,          /* a standby stopped following the old primary; its position after */
    PGQ_STEP_DIVERGED,     /* a standby cannot follow the new primary: it needs a rejoin */
    PGQ_STEP_GAVE_UP,      /* the candidate could not be promoted */
    PGQ_STEP_STUCK,        /* a standby does not follow the new primary yet: done without it */
    PGQ_STEP_RETRY,        /* a candidate given up, with no other to replace it: tried again */
    PGQ_STEP_SLOTS,        /* the primary holds a slot for every other node, none for others */
    PGQ__N_STEPS
};

enum pgq_event_kind {
    PGQ_EV_NODE_ADDED = 1,
    PGQ_EV_NODE_REMOVED,
    PGQ_EV_MAINTENANCE,
    PGQ_EV_VERDICT,
    PGQ_EV_ROLE,
    PGQ_EV_DECISION,
    PGQ_EV_PROMOTED,
    PGQ_EV_REPOINTED,
    PGQ_EV_FAILOVER_DONE,
    PGQ_EV_BLOCKED,
    PGQ_EV_ALERT,
    PGQ_EV_FENCED,
    PGQ_EV_LEADER,
    PGQ_EV_CUT,         /* a failover began: standbys cut off the old primary */
    PGQ_EV_REJOIN,      /* a node needs a rejoin (pg_rewind) before it can follow again */
    PGQ_EV_AGENT,       /* a node agent attached, went silent or reported its PostgreSQL */
    PGQ_EV_UNPROTECTED, /* a primary runs with no agent to fence it */
    PGQ_EV_FEATURE,     /* the cluster's feature level was raised */
    PGQ_EV_ALLOW,       /* an operator allowed a failover over an unfenced primary */
    PGQ_EV_REJOINED,    /* a node agent rewinds, clones or rejoined its node (level 3) */
    PGQ_EV_PAUSE,       /* an operator paused or resumed a cluster's automatic actions */
    PGQ_EV_SWITCHOVER,  /* a planned switchover was scheduled, began, ended or was cancelled */
    PGQ_EV_SLOT,        /* replication slots changed on the primary, or a node's slot was lost */
    PGQ_EV_SYNC,        /* managed synchronous replication: configuration, set, allowance */
    PGQ_EV_IDENTITY,    /* another server answers for a node, or its own again (level 5) */
    PGQ_EV_AUDIT,       /* a role, grant or deny changed, or a request was refused (level 5) */
    PGQ_EV_CLUSTER,     /* a cluster was removed, or registered again under an old name (level 6) */
    PGQ_EV_MEMBERSHIP,  /* a monitor was added, promoted to voter, removed or replaced (level 6) */
    PGQ_EV_OVERLOAD,    /* the monitors shed probes or held failovers for their own overload */
    PGQ__N_EVENT_KINDS
};

/* How a node stands with its replication slot, as its own probe tells
 * (feature level 3; the values are in the snapshot format). */
enum pgq_slot_use {
    PGQ_SLOT_USE_UNKNOWN = 0, /* not a streaming standby, or not known */
    PGQ_SLOT_USE_OWN,         /* streams with its own slot (pgq_ and its name) */
    PGQ_SLOT_USE_NONE,        /* streams without it; its role may set primary_slot_name */
    PGQ_SLOT_USE_DENIED,      /* its role may not set primary_slot_name: it is given no slot */
    PGQ__N_SLOT_USES
};

/* A node agent as the quorum sees it. */
enum pgq_agent_state {
    PGQ_AGENT_NONE = 0, /* no agent ever attached: the monitors alone watch the node */
    PGQ_AGENT_UP,       /* heartbeats arrive */
    PGQ_AGENT_SILENT,   /* no heartbeat for a whole lease: it fenced, died or is cut off */
    PGQ__N_AGENT_STATES
};

/* The control file's state (pg_controldata "Database cluster state"). */
enum pgq_pg_state {
    PGQ_PGS_UNKNOWN = 0,
    PGQ_PGS_STARTING,
    PGQ_PGS_SHUT_DOWN,
    PGQ_PGS_SHUT_DOWN_IN_RECOVERY,
    PGQ_PGS_SHUTTING_DOWN,
    PGQ_PGS_CRASH_RECOVERY,
    PGQ_PGS_ARCHIVE_RECOVERY,
    PGQ_PGS_IN_PRODUCTION,
    PGQ__N_PG_STATES
};

/* Where a node agent is in rejoining its node as a standby of the primary
 * (rewind or clone), as it reports it. */
enum pgq_rejoin_state {
    PGQ_RJ_NONE = 0,  /* nothing to rejoin */
    PGQ_RJ_REWINDING, /* pg_rewind from the primary under way */
    PGQ_RJ_CLONING,   /* pg_basebackup (or clone_command) under way */
    PGQ_RJ_WAITING,   /* it must rejoin but waits for an operator (rejoin = manual, off) */
    PGQ_RJ_FAILED,    /* the last attempt failed: tried again later */
    PGQ_RJ_STARTING,  /* rewound or cloned: starting as a standby */
    PGQ_RJ_STREAMING, /* rejoined: streams from the primary */
    PGQ__N_RJ_STATES
};

/* A planned switchover (the failover it becomes has its own phases). */
enum pgq_sw_phase {
    PGQ_SW_NONE = 0, /* none scheduled */
    PGQ_SW_PENDING,  /* scheduled: begun at its time, once the primary and a target are fit */
    PGQ_SW_STOPPING, /* the primary is told to stop cleanly; cut once its agent says it did */
    PGQ__N_SW_PHASES
};

/* Managed synchronous replication, per cluster (the values are in the
 * snapshot format: new ones go at the end). */
enum pgq_sync_mode {
    PGQ_SYNC_OFF = 0, /* not managed: synchronous_standby_names is the operator's */
    PGQ_SYNC_QUORUM,  /* ANY k of the healthy standbys, k lowered when fewer: availability */
    PGQ_SYNC_STRICT,  /* FIRST k of k standbys, never fewer: writes block rather than go on */
    PGQ__N_SYNC_MODES
};

/* How a committed synchronous set counts acknowledgements. */
enum pgq_sync_method {
    PGQ_SYNC_NONE = 0, /* an empty setting: asynchronous */
    PGQ_SYNC_ANY,      /* ANY k (names) */
    PGQ_SYNC_FIRST,    /* FIRST k (names) */
    PGQ__N_SYNC_METHODS
};

/* A monitor's Raft role as shown by status. */
enum pgq_monitor_role {
    PGQ_MON_UNREACHABLE = 0,
    PGQ_MON_FOLLOWER,
    PGQ_MON_CANDIDATE,
    PGQ_MON_LEADER,
    PGQ_MON_UNAVAILABLE,
    PGQ__N_MON_ROLES
};

/* Online membership (level 6): what an operator asks of the monitors' Raft
 * group, and the steps the leader takes through libraft, one at a time
 * (docs/architecture.md, "Membership"). */
enum pgq_member_op {
    PGQ_MEMBER_ADD = 1, /* a new monitor: spare, standby (catch-up), voter */
    PGQ_MEMBER_REMOVE,  /* a monitor out of the configuration */
    PGQ_MEMBER_REPLACE, /* add the new one as above, then remove the old one */
    PGQ__N_MEMBER_OPS
};
enum pgq_member_step {
    PGQ_MEMBER_SPARE = 1, /* in the configuration, nothing replicated to it yet (raft_add) */
    PGQ_MEMBER_STANDBY,   /* replicated to, no vote: catching up (raft_assign STANDBY) */
    PGQ_MEMBER_VOTER,     /* caught up, votes (raft_assign VOTER) */
    PGQ_MEMBER_REMOVED,   /* out of the configuration (raft_remove) */
    PGQ_MEMBER_FAILED,    /* the change stopped there: why in the detail */
    PGQ_MEMBER_ASKED,     /* recorded before its first step: who asked what (nothing changed) */
    PGQ__N_MEMBER_STEPS
};

const char *pgq_role_name(int role);
const char *pgq_verdict_name(int verdict);
const char *pgq_fo_phase_name(int phase);
const char *pgq_step_name(int step);
const char *pgq_event_kind_name(int kind);
const char *pgq_monitor_role_name(int role);
const char *pgq_agent_state_name(int state);
const char *pgq_pg_state_name(int state);
const char *pgq_rejoin_state_name(int state);
const char *pgq_sw_phase_name(int phase);
const char *pgq_slot_use_name(int use);
const char *pgq_sync_mode_name(int mode);
const char *pgq_sync_method_name(int method);
const char *pgq_member_op_name(int op);
const char *pgq_member_step_name(int step);

/* Exit codes of pgquorumctl (and of pgquorumd for a bad configuration). */
enum {
    PGQ_EXIT_OK = 0,
    PGQ_EXIT_FAILED = 1,      /* refused or failed, with the reason */
    PGQ_EXIT_USAGE = 2,       /* usage error or bad configuration */
    PGQ_EXIT_UNREACHABLE = 3, /* no monitor reachable */
};

#endif /* PGQUORUM_H */
