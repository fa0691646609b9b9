/* Codec: the wire, log and snapshot formats (proto/) <-> core structs. The
 * only core-side user of the generated *.pb-c.h: protobuf-c messages never
 * outlive a codec call. Every decoder checks the format version and every
 * limit, and names the offending field in its one-line error. */
#ifndef PGQ_CODEC_H
#define PGQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* Where encoders put their output: alloc(headroom + len); the message starts
 * at buf + headroom, so that a frame header can go in front without a copy.
 * A NULL codec_alloc means malloc and no headroom. */
struct codec_alloc
{
    void *(*alloc)(size_t size);
    size_t headroom;
};

/* Raft log commands. */
int codec_command_encode(const struct command *cmd,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len);
/* On success *cmd is owned by the caller: command_close() it. */
int codec_command_decode(const uint8_t *buf,
                         size_t len,
                         struct command *cmd,
                         char *errmsg,
                         size_t errsize);

/* Snapshots: the whole state. */
int codec_state_encode(const struct state *s,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len);
/* On success *s is a new state owned by the caller (state_close). */
int codec_state_decode(const uint8_t *buf,
                       size_t len,
                       struct state *s,
                       char *errmsg,
                       size_t errsize);

/* What goes into libraft: a command as a log entry, the state as a
 * snapshot. libraft 0.15 needs payload lengths that are multiples of 8, so
 * both are zero-padded and carry their own length; trailing zeros are
 * accepted on decode, anything else is malformed. */
int codec_entry_encode(const struct command *cmd,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len);
int codec_entry_decode(const uint8_t *buf,
                       size_t len,
                       struct command *cmd,
                       char *errmsg,
                       size_t errsize);
int codec_snapshot_encode(const struct state *s,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len);
int codec_snapshot_decode(const uint8_t *buf,
                          size_t len,
                          struct state *s,
                          char *errmsg,
                          size_t errsize);

/* Operator API. */
enum api_kind {
    API_STATUS = 1,
    API_NODE_ADD,
    API_NODE_REMOVE,
    API_MAINTENANCE,
    API_REPORT,
    API_EVENTS,
    API_FAILPOINT,
    API_HEARTBEAT,      /* a node agent's facts; the reply may grant a lease */
    API_ALLOW_UNFENCED, /* pgquorumctl failover --allow-unfenced */
    API_PAUSE,          /* pgquorumctl pause|resume */
    API_SWITCHOVER,     /* pgquorumctl switchover */
    API_SYNC,           /* pgquorumctl sync, failover --allow-data-loss: a SyncConfig */
    API_AUDIT,          /* a follower's refusal, for the leader to record (monitors only) */
    API_WHOAMI,         /* pgquorumctl whoami */
    API_ROLE,           /* pgquorumctl role: a SetAccessRole */
    API_GRANT,          /* pgquorumctl grant|revoke|deny: a SetGrant */
    API_CLUSTER_REMOVE, /* pgquorumctl cluster remove (level 6) */
    API_MONITOR_CHANGE, /* pgquorumctl monitor add|remove|replace (level 6) */
    API_BATCH,          /* one entry of many commands: a monitor's reports, or node add --file */
};

/* Response codes: the same numbers as proto/api.proto's Code. */
enum api_code {
    API_OK = 0,
    API_BAD_REQUEST,
    API_NOT_LEADER,
    API_REFUSED,
    API_UNAVAILABLE,
    API_INTERNAL,
    API_DENIED, /* the caller's identity may not do this */
};

/* A bearer token: at most this long (with the NUL). */
#define PGQ_TOKEN_MAX 256

struct api_request
{
    int kind;
    char token[PGQ_TOKEN_MAX];       /* "": none. A secret: never logged, never copied on */
    struct command cmd;              /* NODE_ADD, NODE_REMOVE, MAINTENANCE, REPORT, ALLOW_UNFENCED,
                                        PAUSE;
                                        SYNC; AUDIT, ROLE, GRANT;
                                        HEARTBEAT: a CMD_AGENT with the agent's facts */
    char conninfo[PGQ_CONNINFO_MAX]; /* HEARTBEAT: to register the node if unknown */
    unsigned priority;               /* HEARTBEAT */
    uint64_t monitors_seen;          /* HEARTBEAT: the hash of the monitors it knows */
    char cluster[PGQ_NAME_MAX];      /* EVENTS: "" for all; STATUS: "" for all */
    bool stream;                     /* STATUS of all: in several frames (codec_stream_add) */
    unsigned limit;                  /* EVENTS: 0 for all */
    char fp_name[64];                /* FAILPOINT */
    char fp_action[16];
    char fp_arg[PGQ_NAME_MAX];
};

struct raft_info
{
    uint64_t id;
    int role; /* enum pgq_monitor_role */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t leader_id;
    char raft_address[PGQ_ADDR_MAX];
    char api_address[PGQ_ADDR_MAX];
    char leader_api[PGQ_ADDR_MAX];
    bool ready;
    char version[32];
    uint64_t rss_kb;
    /* Its resources (monitor_resources.c): nodes it counts and those it
     * sheds for want of descriptors, its open-file limit and what every node
     * needs, its loop's worst lateness of late, and whether that counts as
     * overloaded. */
    uint32_t probes;
    uint32_t probes_shed;
    uint64_t fd_limit;
    uint64_t fd_needed;
    uint64_t loop_lag_ms;
    bool overloaded;
    /* Its Raft configuration, the latest entry (committed or not): who
     * votes, and who is on the way in (enum members_role). */
    struct raft_server_info
    {
        uint64_t id;
        char address[PGQ_ADDR_MAX];
        int role;
    } servers[PGQ_MAX_MONITORS];
    unsigned n_servers;
};

#include "lease.h"
/* The leader's answer to a heartbeat. */
#define hb_reply lease_reply

/* What a monitor knows of the caller (API_WHOAMI). */
#define WHOAMI_GRANTS_MAX 64
struct whoami_reply
{
    char name[PGQ_IDENTITY_MAX]; /* "user:alice", "anonymous" */
    char ip[PGQ_IP_MAX];
    int role; /* enum authz_role */
    bool static_admin;
    bool auth; /* false: authentication is off there */
    struct access_grant grants[WHOAMI_GRANTS_MAX];
    unsigned n_grants;
};

struct api_response
{
    int code; /* enum api_code */
    char message[512];
    char leader_api[PGQ_ADDR_MAX];
    int body;  /* 0, API_STATUS, API_EVENTS, API_HEARTBEAT or API_WHOAMI */
    bool more; /* API_STATUS: the head of a stream, without the clusters (codec_status_part) */
    struct whoami_reply whoami; /* API_WHOAMI */
    struct hb_reply hb;         /* API_HEARTBEAT */
    struct raft_info info;      /* API_STATUS */
    struct state state;         /* API_STATUS: all; API_EVENTS: events only. Owned. */
};

int codec_request_encode(const struct api_request *req,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len);
int codec_request_decode(const uint8_t *buf,
                         size_t len,
                         struct api_request *req,
                         char *errmsg,
                         size_t errsize);
void api_request_close(struct api_request *req);

/* Encode a response; for API_STATUS the state is taken from `state` (may be
 * NULL otherwise), for API_EVENTS its events are filtered by cluster and the
 * last `limit` kept. */
int codec_response_encode(const struct api_response *res,
                          const struct state *state,
                          const char *events_cluster,
                          unsigned events_limit,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len);
int codec_response_decode(const uint8_t *buf,
                          size_t len,
                          struct api_response *res,
                          char *errmsg,
                          size_t errsize);
/* A streamed status (api_request.stream): its head is the response of
 * codec_response_encode with `more` set, the state without its clusters;
 * each frame after it a part, the clusters named that the state still has
 * (in that order), `more` while another part follows. Each part costs what
 * it holds, so that a monitor's loop never encodes the whole state at once. */
int codec_status_part_encode(const struct state *state,
                             const char (*names)[PGQ_NAME_MAX],
                             unsigned n,
                             bool more,
                             const struct codec_alloc *a,
                             uint8_t **buf,
                             size_t *len);

/* Reading a reply that may be streamed: each frame in turn, from the first
 * (*st NULL); *more says whether another frame is due (a reply that is no
 * streamed status says no at once). Each frame is checked on its own as it
 * comes (a frame that is not a part, or a part before any head, is
 * refused). codec_stream_finish then decodes all of them as one response,
 * as if the clusters had come in the head, and frees st; codec_stream_free
 * frees an unfinished one. */
struct codec_stream;
int codec_stream_add(struct codec_stream **st,
                     const uint8_t *buf,
                     size_t len,
                     bool *more,
                     char *errmsg,
                     size_t errsize);
int codec_stream_finish(struct codec_stream *st,
                        struct api_response *res,
                        char *errmsg,
                        size_t errsize);
void codec_stream_free(struct codec_stream *st);

void api_response_init(struct api_response *res);
void api_response_close(struct api_response *res);

#endif /* PGQ_CODEC_H */
