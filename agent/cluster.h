/* The replicated state and apply(command): the heart of the monitors.
 *
 * Every monitor holds one `struct state`, rebuilt from snapshot plus log, and
 * changes it only through cluster_apply(). apply is deterministic: it reads no
 * clock (the leader stamps time into each command), no random number and no
 * socket, so the same log gives the same state on every monitor. A bad or
 * stale command is refused the same way everywhere and changes nothing.
 *
 * The state is keyed by cluster name, so that one quorum of monitors can
 * watch many PostgreSQL clusters. */
#ifndef PGQ_CLUSTER_H
#define PGQ_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgquorum/pgquorum.h"

/* What one monitor saw of one node in one probe. */
struct obs
{
    char node[PGQ_NAME_MAX];
    bool reachable;
    char error[PGQ_ERRTEXT_MAX];
    bool in_recovery;
    uint32_t timeline;
    uint64_t current_lsn; /* primary: pg_current_wal_lsn() */
    uint64_t receive_lsn; /* standby: last WAL received and flushed */
    uint64_t replay_lsn;  /* standby: last WAL replayed */
    bool streaming;       /* standby: walreceiver streaming */
    char upstream[PGQ_ADDR_MAX];
    uint32_t cache_hit_bp; /* basis points; PGQ_BP_NONE when no data */
    uint32_t index_hit_bp;
    uint32_t connections;
    bool read_only; /* default_transaction_read_only = on (fenced) */
    uint64_t probed_ms;
    uint64_t basis_seq; /* reporter's applied state seq when the probe began */
    uint32_t server_version;
    uint64_t upstream_lsn;     /* standby: the upstream's end of WAL as last heard */
    uint64_t failing_since_ms; /* not reachable: wall clock of the first failed probe (display) */
    uint64_t failing_ms;       /* not reachable: for how long, on the monitor's monotonic clock */
    /* primary: application_names of its synchronous (sync or quorum)
     * standbys, sorted, comma-separated; "" when none */
    char sync_standbys[PGQ_SYNC_NAMES_MAX];
    /* The server's identity, as it says itself (0: not known): standbys
     * share the system identifier with their primary, so it alone is not
     * enough; with the address the connection reached, the port and the
     * data directory it tells one server from every other, and stays the
     * same across its restarts. */
    uint64_t system_id;     /* pg_control_system().system_identifier */
    uint64_t addr_hash;     /* FNV-1a of inet_server_addr() (every loopback address is one);
                               0 over a Unix socket */
    uint32_t port;          /* the port setting */
    uint64_t data_dir_hash; /* FNV-1a of data_directory, 0 when it is not visible */
    /* Replication slots (feature level 3; cleared below it). A primary's
     * pgq_ slots whose WAL it removed (wal_status 'lost'): sorted,
     * comma-separated, at most PGQ_SLOTS_LISTED, "" when none. And how the
     * node itself stands with its own slot (enum pgq_slot_use). */
    char lost_slots[PGQ_SLOT_NAMES_MAX];
    int slot_use;
    /* Managed synchronous replication (primary only, "" otherwise): the
     * synchronous_standby_names it runs with, and the application_names
     * streaming from it (pg_stat_replication), sorted, comma-separated. */
    char sync_setting[PGQ_SYNC_SETTING_MAX];
    char replicas[PGQ_REPLICAS_NAMES_MAX];
    /* Not reachable (level 6; 0 below it, and when not said): the probe
     * timed out while the reporting monitor's own loop ran this many ms
     * late, so that the timeout may be the monitor's overload rather than
     * the server's. Such a view does not count toward a failover
     * (policy_fresh_down). */
    uint64_t overload_ms;
};

/* The same running PostgreSQL server, by what each observation says of it. */
bool obs_same_server(const struct obs *a, const struct obs *b);

#define PGQ_BP_NONE 10001u

/* A committed observation as a view holds it: the fields of struct obs, of
 * the same names, with its strings on the heap at their length (a shared ""
 * when empty), so that a node's three views take about 0.6 KB rather than
 * 9.4 (a standby's are nearly all empty strings). Strings read as those of
 * struct obs do; only view_obs_set() writes them. A field added to struct
 * obs is added here and to view_obs_set() and view_obs_get() (the codec's
 * round trip in test_cluster checks them). */
struct view_obs
{
    const char *node;
    bool reachable;
    const char *error;
    bool in_recovery;
    uint32_t timeline;
    uint64_t current_lsn;
    uint64_t receive_lsn;
    uint64_t replay_lsn;
    bool streaming;
    const char *upstream;
    uint32_t cache_hit_bp;
    uint32_t index_hit_bp;
    uint32_t connections;
    bool read_only;
    uint64_t probed_ms;
    uint64_t basis_seq;
    uint32_t server_version;
    uint64_t upstream_lsn;
    uint64_t failing_since_ms;
    uint64_t failing_ms;
    const char *sync_standbys;
    uint64_t system_id;
    uint64_t addr_hash;
    uint32_t port;
    uint64_t data_dir_hash;
    const char *lost_slots;
    int slot_use;
    const char *sync_setting;
    const char *replicas;
    uint64_t overload_ms;
};

/* v (zeroed, or set before) holds o; aborts when out of memory, as
 * state_grow() does (a monitor must not diverge from the others). */
void view_obs_set(struct view_obs *v, const struct obs *o);
/* The observation v holds, whole. */
void view_obs_get(const struct view_obs *v, struct obs *o);
/* Free v's strings; v is zeroed. */
void view_obs_clear(struct view_obs *v);
/* obs_same_server() of a view's observation and another. */
bool view_obs_same_server(const struct view_obs *a, const struct obs *b);

/* One monitor's latest observation of a node, as committed. */
struct view
{
    uint64_t monitor_id; /* 0: slot unused */
    uint64_t gen;        /* leader generation in which it was applied */
    uint64_t applied_ms; /* leader stamp when applied */
    struct view_obs obs;
};

/* A standby this node, as a writable primary, named synchronous (sync or
 * quorum). While it is named, a commit the primary acknowledged may be on it
 * alone; once it is no longer named (left_lsn: the primary's position in the
 * first observation without it), commits up to left_lsn may still be. */
struct sync_standby
{
    char name[PGQ_NAME_MAX];
    uint64_t left_lsn; /* 0: named in the latest observation */
};

/* Host metrics as an agent reports them (see hostmetrics.h). */
struct agent_host
{
    uint32_t cpu_busy_bp; /* basis points */
    uint32_t load1_c;     /* hundredths */
    uint32_t load5_c;
    uint32_t load15_c;
    uint64_t disk_read_bps;
    uint64_t disk_write_bps;
    uint32_t disk_io_bp;
    uint64_t net_rx_bps;
    uint64_t net_tx_bps;
};

/* What a node agent says (heartbeats) and what the quorum committed of it:
 * the same struct in the heartbeat, the AgentReport command and the node. */
struct agent_facts
{
    int state;      /* enum pgq_agent_state: committed by the leader */
    bool pm_alive;  /* the postmaster runs */
    bool answering; /* it answers a local connection */
    int pg_state;   /* enum pgq_pg_state, from the control file */
    uint32_t timeline;
    uint64_t lsn;
    bool in_recovery;
    bool fenced;   /* the agent stopped its PostgreSQL to fence it */
    bool handover; /* PostgreSQL is down and the agent leaves the recovery to the quorum */
    bool lease;    /* the agent holds a lease */
    uint64_t pm_pid;
    uint64_t session; /* changes each time the agent starts */
    struct agent_host host;
    uint64_t since_ms;   /* leader stamp: state, postmaster or fence last changed */
    uint64_t facts_ms;   /* leader stamp: last committed */
    bool unprotected;    /* its PostgreSQL was seen up after the agent went silent */
    uint64_t silent_seq; /* state seq of the command that found the agent silent */
    char version[32];
    /* Rejoin (level 3): where the agent is in making its node a standby of
     * the primary again, and what that cost. */
    int rejoin;                         /* enum pgq_rejoin_state */
    char rejoin_detail[PGQ_REASON_MAX]; /* what it does or why it waits or failed */
    uint64_t rejoin_epoch;              /* the epoch whose primary it rejoins */
    uint64_t rejoin_ms;                 /* how long the rejoin has taken so far (agent clock) */
    uint64_t lost_commits;              /* commits of its own WAL past the fork point, discarded */
    uint64_t lost_bytes;                /* bytes of its own WAL past the fork point, discarded */
    bool lost_known;                    /* the two above were counted */
    bool streaming;                     /* a standby whose walreceiver streams */
    uint64_t stopped_lsn; /* stopped cleanly for a switchover: its shutdown checkpoint */
    /* Its PostgreSQL's system identifier, from the control file (level 5;
     * 0: not read yet). Committed from a refused heartbeat alone: see
     * node_impostor(). */
    uint64_t system_id;
};

/* The agent's facts that a failover depends on changed (as opposed to
 * positions and host metrics, refreshed now and then). */
bool agent_facts_material(const struct agent_facts *a, const struct agent_facts *b);

/* The node's agent confirmed that its PostgreSQL is down and that it leaves
 * it down (fenced, or dead and handed over to the quorum). */
bool agent_confirms_down(const struct agent_facts *a);

struct node
{
    char name[PGQ_NAME_MAX];
    const char *conninfo; /* owned, at its length (node_set_conninfo) */
    unsigned priority;    /* 0..100, 0 = never promote */
    bool maintenance;
    bool maintenance_allow_failover; /* in maintenance, the primary may still be failed over */
    int role;                        /* enum pgq_role */
    int verdict;                     /* enum pgq_verdict */
    uint64_t verdict_since_ms;
    uint64_t verdict_seq;     /* state seq of the command that set the verdict */
    uint64_t following_epoch; /* epoch whose primary this standby was confirmed to follow */
    uint64_t fenced_epoch;    /* epoch in which it was last fenced */
    bool alert_writable;      /* writable but not the primary of the epoch */
    uint64_t last_write_lsn;  /* most advanced WAL position seen while writable */
    /* "": none; else the node registered earlier for the same server: this
     * one is ignored (never fenced, promoted, repointed) */
    char twin_of[PGQ_NAME_MAX];
    /* Cut before promote: what this standby holds once it stopped following
     * the old primary, in failover round cut_round (0: never cut). */
    uint64_t cut_round;
    uint64_t cut_lsn;            /* the end of the WAL it holds (replayed, once settled) */
    uint32_t cut_tli;            /* the timeline of that WAL */
    uint64_t cut_upstream_lsn;   /* the old primary's end of WAL as last heard (0: unknown) */
    uint64_t stuck_epoch;        /* epoch in which it was found not to follow in time */
    uint64_t gave_up_round;      /* chain_round of the failover in which its promotion was
                                    given up: no candidate again in it */
    char rejoin[PGQ_REASON_MAX]; /* why it must rejoin before following again ("": need not) */
    struct sync_standby sync[PGQ_SYNC_MAX]; /* see struct sync_standby */
    unsigned n_sync;
    uint64_t added_ms;
    struct agent_facts agent;      /* state PGQ_AGENT_NONE: no agent ever attached */
    uint64_t allow_unfenced_epoch; /* an operator allowed a failover over it in this epoch */
    bool replication_quorum;       /* managed sync: it may be a synchronous standby (default) */
    /* Its identity (level 5): the PostgreSQL system identifier learned at
     * first sight, from the first committed observation or agent facts
     * that tell one (0: not yet). A standby cloned or rewound from its
     * primary has the primary's, so a rejoin keeps it; a new initdb needs
     * node remove + node add. */
    uint64_t system_id;
    /* Level 6: the state seq of the NodeAdd that registered it (0: before
     * level 6). A name removed and registered again is another node: what
     * a monitor keeps of a node (its probe, a job on it) goes with it. */
    uint64_t reg_seq;
    /* One view per monitor that reported the node, at most
     * PGQ_MAX_MONITORS; slots with monitor_id 0 are empty. Sized to the
     * monitors that exist (owned). */
    struct view *views;
    unsigned n_views;
    uint64_t addr_key; /* node_addr_key(conninfo): derived, not replicated */
};

/* Free the strings of a node's views and the views (n->views is NULL). */
void node_views_free(struct node *n);
/* n's conninfo becomes a copy of conninfo (aborts when out of memory, as
 * state_grow() does); node_free() frees it and the views. */
void node_set_conninfo(struct node *n, const char *conninfo);
void node_free(struct node *n);

/* One committed event (cluster_events.c): a single allocation, its strings
 * packed after it and sized to their content (never NULL: "" when none).
 * A history and the recent index may share it (refs). */
struct event
{
    uint64_t seq;
    uint64_t time_ms;
    uint64_t duration_ms;
    uint64_t epoch;
    int kind;      /* enum pgq_event_kind */
    int action;    /* level 5: the request's enum authz_action (0: not a request) */
    unsigned refs; /* private: the rings holding it */
    const char *cluster;
    const char *node;
    const char *message;
    /* Level 5, the request it records ("" when none): who asked, from
     * where and how it ended ("ok", "refused: ...", "denied: ..."). */
    const char *who;
    const char *from;
    const char *outcome;
};

/* A bounded history of events, oldest first (a ring of references grown to
 * its bound as events come). */
struct event_ring
{
    struct event **ev; /* owned references */
    unsigned n;
    unsigned head;
    unsigned cap;
};

struct failover
{
    int phase; /* enum pgq_fo_phase */
    uint64_t epoch;
    char old_primary[PGQ_NAME_MAX];
    char candidate[PGQ_NAME_MAX];
    uint64_t down_ms; /* primary down by verdict since */
    uint64_t decided_ms;
    uint64_t promoted_ms;
    uint64_t done_ms;
    uint32_t timeline;
    char blocked[PGQ_REASON_MAX]; /* why no failover happens now, "" if none */
    uint64_t candidate_lsn;
    /* Cut before promote (phase CUTTING onwards). */
    uint64_t round;  /* state seq of the Cut that began this failover: its id */
    uint64_t cut_ms; /* when the cut began */
    bool unpromoted; /* the primary replaced was never promoted (a candidate lost or given
                        up): its verdict does not count, and nothing is abandoned */
    char floor_primary[PGQ_NAME_MAX]; /* the last primary that was writable: its synchronous
                                         standbys set the floor of every decision after it */
    uint64_t reference_lsn; /* most advanced WAL position known of that primary's history */
    uint64_t chain_round;   /* the round of the first cut since floor_primary was writable: a
                               standby cut since holds no commit of it beyond its cut */
    uint64_t gave_up_ms;    /* GAVE_UP: when the candidate was given up */
    bool switchover;        /* a planned switchover: the primary stopped cleanly, its agent
                               said so; nothing it acknowledged is past final_lsn */
    uint64_t final_lsn;     /* its shutdown checkpoint: the candidate holds at least this */
};

/* A planned switchover, from its scheduling until it becomes a failover
 * (the Cut) or is cancelled. */
struct switchover
{
    int phase;                 /* enum pgq_sw_phase */
    char target[PGQ_NAME_MAX]; /* the standby to promote ("": the best) */
    uint64_t at_ms;            /* not before (leader wall clock; 0: at once) */
    uint64_t epoch;            /* the epoch whose primary it replaces */
    uint64_t requested_ms;
    uint64_t begun_ms; /* STOPPING since */
};

/* A synchronous set the quorum committed for the primary of `epoch`:
 * synchronous_standby_names = method k (names). */
struct sync_set
{
    uint64_t seq;   /* state seq of the SyncSet that committed it: its id (0: none yet) */
    uint64_t epoch; /* the epoch whose primary it is for */
    int method;     /* enum pgq_sync_method; PGQ_SYNC_NONE: "" (asynchronous) */
    unsigned k;     /* acknowledgements a commit waits for */
    char names[PGQ_SYNC_MAX][PGQ_NAME_MAX];
    unsigned n_names;
    uint32_t held_mask; /* names seen holding the WAL up to where the set was confirmed applied */
};

/* Managed synchronous replication of one cluster (cluster_sync.c). */
struct cluster_sync
{
    int mode;            /* enum pgq_sync_mode */
    unsigned number;     /* number_sync: 1..PGQ_SYNC_MAX (0: never set, as 1) */
    struct sync_set set; /* the last committed */
    /* Older sets, each binding for a failover until `set` is in force: the
     * primary was seen running it (applied_seq) at applied_lsn and k of its
     * standbys were seen holding WAL up to there. */
    struct sync_set *retiring; /* owned: room for PGQ_SYNC_RETIRING_MAX once one retired
                                  (NULL before: most clusters never manage one) */
    unsigned n_retiring;
    uint64_t applied_seq;            /* set.seq once the primary was seen running it */
    uint64_t applied_lsn;            /* the primary's position in that observation */
    char seen[PGQ_SYNC_SETTING_MAX]; /* the primary's synchronous_standby_names, last seen */
    uint64_t allow_loss_epoch;       /* an operator allowed a failover that may lose writes */
};

struct cluster
{
    char name[PGQ_NAME_MAX];
    uint64_t epoch; /* fencing token: only grows; 0 = no primary known yet */
    char primary[PGQ_NAME_MAX];
    /* The primary's history, from its promotion (0: not known, as for a
     * discovered primary): its timeline, which it forked off parent_tli at
     * fork_lsn. A standby with WAL of parent_tli past fork_lsn cannot
     * follow it. */
    uint32_t timeline;
    uint32_t parent_tli;
    uint64_t fork_lsn;
    struct node *nodes; /* owned, room for nodes_cap */
    unsigned n_nodes;
    unsigned nodes_cap;
    /* Lookup by name, by address and by slot name, once the cluster is
     * large (not replicated: rebuilt from nodes; see state_reindex()): three
     * open-addressing tables of node_index_cap entries (node index + 1),
     * node_index_cap a power of two or 0. */
    uint32_t *node_index;
    unsigned node_index_cap;
    struct failover fo;
    struct failover prev_fo; /* during a cut: the failover before it, restored if abandoned */
    /* An operator paused the cluster: no automatic failover step starts
     * (see policy.h); pause_ms: when it was last paused or resumed (0:
     * never), from which a wait of the failover counts again. */
    bool paused;
    uint64_t pause_ms;
    struct switchover sw;
    /* Replication slots (feature level 3): members_gen grows with every
     * change of the nodes a slot is kept for (added, removed, found to be
     * a twin or no longer); slots_epoch is the epoch whose primary was last
     * found holding a slot for every other node and no other pgq_ slot (0
     * once the members changed since). */
    uint64_t members_gen;
    uint64_t slots_epoch;
    struct cluster_sync sync;
    /* Level 6: this cluster's own history (cluster_events.c), at most
     * state.events_per_cluster; it goes when the cluster does. */
    struct event_ring events;
    /* Not replicated: commands applied to this cluster (cluster_apply),
     * and what the leader's policy walk last found of it at that count
     * (policy.c): with nothing applied since, a quiet cluster is not walked
     * again. */
    uint64_t changes;
    struct policy_memo
    {
        bool valid;
        uint64_t changes; /* the cluster's and the state's, when found */
        uint64_t state_changes;
        bool slots; /* pc->replication_slots then */
    } quiet_memo, calm_memo;
};

struct member
{
    uint64_t id;
    char raft_address[PGQ_ADDR_MAX];
    char api_address[PGQ_ADDR_MAX];
    bool voter;
    unsigned max_level;   /* highest feature level it announced (0: none, as 1) */
    uint32_t probes_shed; /* level 6: nodes it said it does not probe (descriptors) */
};

/* An identity's name: "user:alice", "node:main/pg1", "monitor:3". */
#define PGQ_IDENTITY_MAX 128
#define PGQ_IP_MAX 64

/* Level 5: an identity's role (enum authz_role, never none: no entry). */
struct access_role
{
    char name[PGQ_IDENTITY_MAX];
    int role;
};

/* Level 5: a grant or a deny of one action (enum authz_action) to one
 * identity, on one cluster or ("") every one. */
struct access_grant
{
    char name[PGQ_IDENTITY_MAX];
    int action;
    char cluster[PGQ_NAME_MAX];
    bool deny;
};

#define PGQ_ROLES_MAX 256
#define PGQ_GRANTS_MAX 1024

struct state
{
    uint64_t seq; /* commands applied */
    /* Not replicated: commands applied that may change any cluster's
     * policy (not scoped to one cluster, or adding or removing one). */
    uint64_t changes;
    uint64_t time_ms;      /* latest leader stamp applied: never goes back */
    uint64_t leader_gen;   /* bumped by each leader's first command */
    uint64_t leader_id;    /* monitor that started the current generation */
    uint64_t gen_since_ms; /* when it did */
    struct member monitors[PGQ_MAX_MONITORS];
    unsigned n_monitors;
    struct cluster *clusters; /* owned, room for clusters_cap */
    unsigned n_clusters;
    unsigned clusters_cap;
    /* Lookup by name (not replicated: rebuilt from clusters): open
     * addressing over cluster index + 1, cluster_index_cap a power of two. */
    uint32_t *cluster_index;
    unsigned cluster_index_cap;
    /* The history (cluster_events.c). Below level 6 every event is here,
     * at most PGQ_MAX_EVENTS; from level 6 only those of no cluster (the
     * leader's, audit records, feature level, a cluster's removal), at most
     * events_global, each cluster keeping its own. */
    struct event_ring events;
    struct event_ring recent;    /* the latest PGQ_EVENTS_RECENT of all: an index, not
                                    replicated (rebuilt from the histories on decode) */
    unsigned events_per_cluster; /* level 6: the bounds, committed by the leader */
    unsigned events_global;
    uint64_t event_seq;
    /* Level 6: the highest epoch a removed cluster reached. A cluster
     * created since starts its epochs above it, so that an epoch (a fencing
     * token) never names two primaries of one name (cluster_remove.c). */
    uint64_t epoch_floor;
    const struct command *applying; /* transient: the command being applied */
    unsigned feature_level;         /* PGQ_FEATURE_LEVEL: commands above it are refused */
    /* Level 5: roles and grants, sorted by name (then action, cluster). */
    struct access_role *roles; /* owned */
    unsigned n_roles;
    struct access_grant *grants; /* owned */
    unsigned n_grants;
};

/* Commands. */
enum cmd_kind {
    CMD_HELLO = 1,
    CMD_NODE_ADD,
    CMD_NODE_REMOVE,
    CMD_MAINTENANCE,
    CMD_REPORT,
    CMD_SET_ROLE,
    CMD_DECIDE,
    CMD_BLOCKED,
    CMD_STEP,
    CMD_CUT,
    CMD_ABANDON,
    CMD_AGENT,          /* level 2 */
    CMD_FEATURE,        /* level 1: raises the level */
    CMD_ALLOW_UNFENCED, /* level 2 */
    CMD_PAUSE,          /* level 3 */
    CMD_SWITCHOVER,     /* level 3 */
    CMD_SYNC_CONFIG,    /* level 3 */
    CMD_SYNC_SET,       /* level 3 */
    CMD_ACCESS_ROLE,    /* level 5 */
    CMD_GRANT,          /* level 5 */
    CMD_AUDIT,          /* level 5 */
    CMD_BATCH,          /* level 6: commands applied in order, one entry */
    CMD_CLUSTER_REMOVE, /* level 6 */
    CMD_MEMBER,         /* level 6: a step of an online change of the Raft voters */
};

/* The feature level a command kind needs; and, for CMD_STEP, a step kind. */
unsigned cluster_cmd_level(int kind);
unsigned cluster_step_level(int step);

struct command
{
    int kind;
    uint64_t time_ms;
    char cluster[PGQ_NAME_MAX];
    char node[PGQ_NAME_MAX];
    /* Level 5: who asked for a client's write and from where, as the
     * monitor that took it authenticated it (""; for CMD_AUDIT: who was
     * refused). */
    char who[PGQ_IDENTITY_MAX];
    char from[PGQ_IP_MAX];
    union {
        struct cmd_access_role
        {
            char name[PGQ_IDENTITY_MAX];
            int role; /* enum authz_role; none removes the entry */
        } access_role;
        struct cmd_grant
        {
            char name[PGQ_IDENTITY_MAX];
            int action;  /* enum authz_action */
            bool deny;   /* a deny rather than a grant */
            bool revoke; /* remove the grant (or the deny) */
        } grant;         /* CMD_GRANT: cluster ("" every one) */
        struct cmd_audit
        {
            int action; /* enum authz_action */
            char outcome[PGQ_REASON_MAX];
            unsigned more;       /* refusals like it held back and counted into it */
            uint64_t monitor_id; /* the monitor that refused */
        } audit;                 /* CMD_AUDIT: who, from, cluster, node */
        struct cmd_hello
        {
            uint64_t monitor_id;
            char api_address[PGQ_ADDR_MAX];
            struct member voters[PGQ_MAX_MONITORS];
            unsigned n_voters;
            unsigned feature_level;      /* the highest the leader supports */
            char reason[PGQ_REASON_MAX]; /* why the leadership changed; "" unknown (level 3) */
        } hello;
        struct cmd_member
        {
            int op;              /* enum pgq_member_op */
            int step;            /* CMD_MEMBER: enum pgq_member_step; 0 in a request */
            uint64_t monitor_id; /* added, promoted or removed; replace: the new one */
            char raft_address[PGQ_ADDR_MAX];
            char api_address[PGQ_ADDR_MAX]; /* "": not told */
            uint64_t old_id;                /* replace: the monitor replaced */
            /* CMD_MEMBER: the voters once the step committed (the Raft
             * configuration's), as the state counts them from then on. */
            struct member voters[PGQ_MAX_MONITORS];
            unsigned n_voters;
            char detail[PGQ_REASON_MAX]; /* CMD_MEMBER: what happened (FAILED: why) */
        } member; /* CMD_MEMBER (level 6), and the request API_MONITOR_CHANGE */
        struct cmd_node_add
        {
            char conninfo[PGQ_CONNINFO_MAX];
            unsigned priority;
        } node_add;
        struct cmd_maintenance
        {
            bool on;
            bool allow_failover; /* on: the primary may still be failed over (level 3) */
        } maintenance;
        struct cmd_pause
        {
            bool on; /* pause; false: resume */
            char by[PGQ_NAME_MAX];
        } pause; /* CMD_PAUSE: cluster */
        struct cmd_switchover
        {
            char target[PGQ_NAME_MAX]; /* "": the best standby */
            uint64_t at_ms;            /* not before (wall clock); 0: at once */
            bool cancel;
            bool begin; /* the leader: its time came */
            char by[PGQ_NAME_MAX];
        } switchover; /* CMD_SWITCHOVER: cluster */
        struct cmd_batch
        {
            struct command *cmds; /* owned, see command_close() */
            unsigned n;
        } batch; /* CMD_BATCH: each applied in order, with the batch's time, who and from */
        struct cmd_report
        {
            uint64_t monitor_id;
            char api_address[PGQ_ADDR_MAX];
            struct obs *obs; /* owned, see command_close() */
            unsigned n_obs;
            unsigned feature_level; /* the highest the reporter supports */
            /* Level 6: the reporter's probes shed for want of descriptors
             * (has_resources: said in this report). */
            bool has_resources;
            uint32_t probes_shed; /* nodes it does not probe */
            uint32_t probes;      /* nodes registered, as it counts them */
            uint64_t fd_limit;    /* its open-file limit */
            uint64_t fd_needed;   /* what it needs for every node */
        } report;
        struct agent_facts agent; /* CMD_AGENT: node = the agent's node */
        struct cmd_feature
        {
            unsigned level; /* the level to raise to; level 6: the current one to set only */
            /* Level 6: the history's bounds (0: unchanged), see
             * state.events_per_cluster. */
            unsigned events_per_cluster;
            unsigned events_global;
        } feature;
        struct cmd_allow
        {
            char by[PGQ_NAME_MAX];
        } allow; /* CMD_ALLOW_UNFENCED: node */
        struct cmd_sync_config
        {
            int mode;               /* enum pgq_sync_mode; -1: unchanged */
            unsigned number;        /* number_sync; 0: unchanged */
            int replication_quorum; /* of node: 1 true, 0 false, -1 unchanged */
            bool allow_data_loss;   /* a failover of the current epoch may lose writes */
            char by[PGQ_NAME_MAX];
        } sync_config; /* CMD_SYNC_CONFIG: node for replication_quorum */
        struct cmd_sync_set
        {
            struct sync_set set; /* seq and held_mask are set on apply */
            char reason[PGQ_REASON_MAX];
        } sync_set;
        struct cmd_set_role
        {
            int role;
            uint64_t epoch;
        } set_role;
        struct cmd_decide
        {
            uint64_t epoch;
            char old_primary[PGQ_NAME_MAX];
            uint64_t candidate_lsn;
            uint64_t down_ms;
            char reason[PGQ_REASON_MAX];
            uint64_t round;         /* the cut round it chooses in; 0: none (older format) */
            uint64_t reference_lsn; /* most advanced position known when it was chosen */
        } decide;                   /* node = candidate */
        struct cmd_cut
        {
            uint64_t epoch; /* the epoch whose primary is being replaced */
            char old_primary[PGQ_NAME_MAX];
            uint64_t down_ms;
            char reason[PGQ_REASON_MAX];
        } cut;
        struct cmd_abandon
        {
            uint64_t round; /* the cut abandoned */
            char reason[PGQ_REASON_MAX];
        } abandon;
        struct cmd_blocked
        {
            char reason[PGQ_REASON_MAX];
        } blocked;
        struct cmd_step
        {
            uint64_t epoch;
            int kind;          /* enum pgq_step */
            uint32_t timeline; /* PROMOTED: the new one; CUT, DIVERGED: the standby's */
            char detail[PGQ_REASON_MAX];
            uint64_t round;        /* CUT: the failover round */
            uint64_t lsn;          /* CUT, DIVERGED: the standby's position; PROMOTED: fork */
            uint64_t upstream_lsn; /* CUT: the old primary's end of WAL as last heard */
            uint32_t parent_tli;   /* PROMOTED: the timeline it forked off */
        } step;
    } u;
};

/* Outcome of one apply: code 0 or PGQ_*, and a one-line message. */
struct apply_result
{
    int code;
    char message[PGQ_REASON_MAX];
    /* CMD_BATCH: how many of its commands were applied and refused; the
     * message is the first refusal's (code stays 0). */
    unsigned n_applied;
    unsigned n_refused;
    unsigned first_refused; /* its index + 1 (0: none); also cluster_check's of a batch */
};

/* Commands in one batch at most (a monitor sends far fewer). */
#define PGQ_BATCH_MAX 5000

/* The feature level a command needs: its kind's, or more when it sets a
 * field added since (SetMaintenance's allow_failover: 3). */
unsigned cluster_command_level(const struct command *cmd);

void state_init(struct state *s);
void state_close(struct state *s);
/* Move src into dst (dst is closed first); src is left empty. */
void state_move(struct state *dst, struct state *src);

/* Apply one command. Returns the result code (also in res); on failure the
 * state is unchanged. */
int cluster_apply(struct state *s, const struct command *cmd, struct apply_result *res);

/* Check a client command (node add/remove, maintenance, pause) against the state
 * without applying it, so that a bad request is refused before it is
 * proposed. Same rules, same message as cluster_apply. */
int cluster_check(const struct state *s, const struct command *cmd, struct apply_result *res);

/* Print the failover state machine (phase, the phases it may become, what
 * it means) as a Markdown table: docs/architecture.md. */
void cluster_print_fo_table(void (*emit)(void *arg, const char *line), void *arg);

void command_init(struct command *cmd, int kind);
void command_close(struct command *cmd);
/* A deep copy (observations, a batch's commands); PGQ_NOMEM leaves dst
 * owning nothing. */
int command_copy(struct command *dst, const struct command *src);

/* realloc that aborts when it cannot: see state.c. */
void *state_grow(void *p, size_t size);

/* The state's storage (state.c). Arrays grow geometrically, so adding a
 * node or a cluster costs O(1) amortized; every allocation failure aborts
 * (see cluster.c: grow). */
struct cluster *state_add_cluster(struct state *s, const char *name);
struct node *cluster_add_node(struct cluster *c, const char *name, const char *conninfo);
/* A node of c, not named `node`, whose replication slot would be node's
 * (the names differ only in case or punctuation), or NULL. */
const struct node *cluster_slot_taken(const struct cluster *c, const char *node);
/* The node of c registered for the host and port of conninfo, or NULL. */
const struct node *cluster_node_at(const struct cluster *c, const char *conninfo);
/* A hash of conninfo's host and port (0: it does not parse). */
uint64_t node_addr_key(const char *conninfo);
/* Remove node i of c (its views freed, the nodes after it move down). */
void cluster_drop_node(struct cluster *c, unsigned i);
/* Free what c owns (its nodes, their views, its index). */
void cluster_free(struct cluster *c);
/* The view slot of monitor_id in n, made when absent: an empty slot, a
 * new one while fewer than PGQ_MAX_MONITORS exist, else one of a monitor
 * that left the voters; NULL when none. */
struct view *node_view_slot(const struct state *s, struct node *n, uint64_t monitor_id);
/* Rebuild the look-up indexes from the arrays: after a restore, or after
 * clusters moved (removed). */
void state_reindex(struct state *s);
void cluster_reindex(struct cluster *c);

/* Look-ups: NULL when absent. O(1): by hash (state_reindex). */
struct cluster *state_cluster(const struct state *s, const char *name);
struct node *cluster_node(const struct cluster *c, const char *name);
const struct member *state_member(const struct state *s, uint64_t id);

/* Voters known to the state, and the size of a majority of them. */
unsigned state_n_voters(const struct state *s);
unsigned state_majority(const struct state *s);
bool state_is_voter(const struct state *s, uint64_t monitor_id);

/* The verdict of the monitors' latest views of a node: down only when a
 * majority of voters saw it down. */
int cluster_verdict(const struct state *s, const struct node *n);

/* Switchover (cluster_switchover.c): the primary p of c stopped cleanly
 * for the switchover under way, by its agent's committed word (a Cut needs
 * no verdict then); n is the primary a switchover is stopping (no lease);
 * why target ("": any standby) cannot be promoted by a switchover now ("":
 * it can). */
bool switchover_stopped(const struct cluster *c, const struct node *p);
bool switchover_stops(const struct cluster *c, const struct node *n);
void switchover_unfit(const struct cluster *c, const char *target, char *why, size_t size);

/* Node identity (level 5). A system identifier id (0: none told) is not
 * n's: n's is known and id is another. */
bool node_identity_foreign(const struct node *n, uint64_t id);

/* Another server answers for n (level 5): a committed view of a monitor
 * that reached a server of another system identifier at n's address, or
 * its agent's facts that tell another. Such a node is not up, never a
 * candidate, a switchover target nor the primary, and is never acted on;
 * its agent is granted no lease and told to follow nobody. */
bool node_impostor(const struct node *n);

/* A node is writable when it is reachable, out of recovery and not fenced. */
bool obs_writable(const struct obs *o);
bool view_obs_writable(const struct view_obs *o);

/* Invariant 1: o shows node n writable while it is not the primary of c's
 * epoch (a split brain in the making: it must be fenced). */
bool node_rogue(const struct cluster *c, const struct node *n, const struct obs *o);

/* Observation o (of a node of `cluster`) reached another server than the
 * node (another system identifier): it is committed as the node
 * unreachable, so the monitor re-reports it as often as a node seen down. */
bool state_obs_refused(const struct state *s, const char *cluster, const struct obs *o);

/* Committing observation o (of a node of `cluster`) would raise an alert the
 * state does not have yet: the monitor reports it at once. */
bool state_obs_alerts(const struct state *s, const char *cluster, const struct obs *o);

/* A blocked reason starting with this is a wait that may end by itself
 * ("failover held"); any other needs an operator ("no failover"). */
#define PGQ_HELD "held: "
#define PGQ_HELD_LEN (sizeof PGQ_HELD - 1)
/* A failover held for the monitors' own overload (policy.h). */
#define PGQ_HELD_OVERLOAD PGQ_HELD "overload: "

/* Bytes a standby is behind its upstream, measured by the standby itself in
 * one probe (0 when not streaming). */
uint64_t obs_lag(const struct obs *o);
uint64_t view_obs_lag(const struct view_obs *o);

/* Whether observation `cur` must be reported now rather than at the next
 * refresh, `prev` being the last one reported: anything a verdict, a role or
 * a fence depends on changed, a primary's WAL moved `wal_step` bytes or
 * more, or a standby's lag crossed `wal_step`. */
bool obs_report_due(const struct obs *prev, const struct obs *cur, uint64_t wal_step);

/* What obs_report_due() compares of the observation last reported: its
 * fields, and its strings by a hash, so that a probe target keeps these 48
 * bytes rather than a copy of the 3 KB observation it sent. Two different
 * strings of one hash delay a report to the refresh (report_refresh), no
 * more: the hash is 64 bits of FNV-1a over all five, separated. */
struct obs_digest
{
    bool reachable;
    bool in_recovery;
    bool streaming;
    bool read_only;
    int slot_use;
    uint32_t timeline;
    uint64_t current_lsn;
    uint64_t lag; /* obs_lag() */
    uint64_t strings;
};

void obs_digest_of(const struct obs *o, struct obs_digest *d);

/* obs_report_due() against the digest of the observation last reported. */
bool obs_digest_due(const struct obs_digest *prev, const struct obs *cur, uint64_t wal_step);

/* The node's most advanced WAL position as a standby, probed at or after
 * state seq `seq` (fresh); false when no such observation exists. */
bool node_fresh_position(const struct node *n, uint64_t seq, uint64_t *lsn);

/* The node's most recently committed view (NULL if none). */
const struct view *node_latest_view(const struct node *n);

/* A failover of c is under way: a step of one (or of a switchover) is
 * being carried out or is to be tried again, or its primary is down by
 * verdict or seen down by a monitor. False for NULL. */
bool cluster_failover_under_way(const struct cluster *c);

/* Some monitor's committed view of n says it is unreachable. */
bool node_seen_down(const struct node *n);

/* The name of node `node`'s replication slot: "pgq_" and the name in
 * lower case, every character outside [a-z0-9_] written '_', cut to fit a
 * slot name (63 bytes) and `size`. Shared by the monitors and the agents. */
void pgq_slot_name(const char *node, char *buf, size_t size);

/* The slot the primary of c keeps for n, in buf: false when it keeps none
 * (n is a twin, another node's name gives the same slot name, or its
 * latest view says its role may not set primary_slot_name). */
bool cluster_node_slot(const struct cluster *c, const struct node *n, char *buf, size_t size);

/* n's latest view that reached it says its role may not set
 * primary_slot_name: no slot is kept for it. */
bool node_slot_denied(const struct node *n);

/* n's slot on the primary of c was lost, as the primary's latest committed
 * observation says (the WAL it needed is gone). */
bool cluster_slot_lost(const struct cluster *c, const struct node *n);
/* Managed synchronous replication (cluster_sync.c). */

/* The synchronous_standby_names value of a set: "" for none, else
 * 'ANY 1 ("pg2", "pg3")'. */
void sync_set_text(const struct sync_set *set, char *buf, size_t size);

/* Two sets say the same to PostgreSQL (method, k and names, in order). */
bool sync_set_same(const struct sync_set *a, const struct sync_set *b);

/* The name is in the set. */
bool sync_set_has(const struct sync_set *set, const char *name);

/* Committing observation o (of a node of `cluster`) would advance managed
 * synchronous replication (the primary seen running the committed set, a
 * standby seen holding its WAL): the monitor reports it at once. */
bool state_obs_sync_due(const struct state *s, const char *cluster, const struct obs *o);

/* ---- the history (cluster_events.c) ---------------------------------------- */

/* The i-th event of r, oldest first (NULL past the end); its latest. */
const struct event *event_ring_at(const struct event_ring *r, unsigned i);
const struct event *event_ring_last(const struct event_ring *r);

/* The latest event of all (NULL: none). */
const struct event *state_event_last(const struct state *s);

/* Events in seq order, borrowed from the state (valid until it changes). */
struct event_list
{
    const struct event **ev; /* owned array */
    unsigned n;
};

/* The latest `limit` events (0 or more than PGQ_EVENTS_LIST_MAX: that
 * many) of cluster ("" or NULL: of every cluster, merged in seq order),
 * oldest first. A cluster's are its own history and those of the others
 * that name it or no cluster. Costs the events listed (and, for every
 * cluster, a heap over the clusters), never a walk of every history. */
int state_events_list(const struct state *s,
                      const char *cluster,
                      unsigned limit,
                      struct event_list *out);
void event_list_free(struct event_list *l);

/* Build an event (refs 0) from its parts (NULL strings as ""); NULL when
 * out of memory. */
struct event *event_new(uint64_t seq,
                        uint64_t time_ms,
                        const char *cluster,
                        const char *node,
                        int kind,
                        const char *message,
                        uint64_t duration_ms,
                        uint64_t epoch,
                        const char *who,
                        const char *from,
                        int action,
                        const char *outcome);
/* Append e to r (r takes a reference), dropping the oldest beyond bound
 * (0: no bound). PGQ_NOMEM: nothing changed (e is freed when unreferenced). */
int event_ring_push(struct event_ring *r, struct event *e, unsigned bound);
void event_ring_close(struct event_ring *r);
/* dst (empty) holds the events of src too (an event never changes once
 * made: they are shared). */
int event_ring_copy(struct event_ring *dst, const struct event_ring *src);
/* Keep only the events of r for which keep() is true. */
void event_ring_filter(struct event_ring *r,
                       bool (*keep)(const struct event *e, void *arg),
                       void *arg);
/* Every event's seq is unique across the histories and at most
 * s->event_seq (a decoded snapshot's must be: apply numbers the next from
 * it). PGQ_MALFORMED with the first seq out of place in *bad. */
int state_events_check(const struct state *s, uint64_t *bad);
/* Rebuild s->recent from the histories (after a decode). */
int state_events_reindex(struct state *s);

#endif /* PGQ_CLUSTER_H */
