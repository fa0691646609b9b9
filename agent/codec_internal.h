/* Shared internals of the codec (codec.c, codec_state.c, codec_api.c): the
 * scratch arena of encoders, the decode context, and the converters used by
 * more than one format. Not for use outside the codec. */
#ifndef PGQ_CODEC_INTERNAL_H
#define PGQ_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "codec.h"
#include "command.pb-c.h"
#include "lib/util.h"
#include "state.pb-c.h"

/* Encoders allocate the messages they build here, and free all at once. */
struct scratch
{
    void **ptrs;
    size_t n, cap;
    bool failed;
};

void *codec_scratch_alloc(struct scratch *sc, size_t size);
void codec_scratch_free(struct scratch *sc);

/* Pack any message into a fresh buffer with the allocator's headroom. */
int codec_pack(const ProtobufCMessage *m, const struct codec_alloc *a, uint8_t **buf, size_t *len);

/* Unpacking: protobuf-c allocates every element of a repeated field before
 * any limit of ours is checked, so a frame of tiny elements could cost many
 * times its size. The budget caps what one unpack may allocate at
 * CODEC_UNPACK_RATIO times the input (plus some slack) held at once; beyond,
 * the unpack fails (a malformed message). Free the message with the same
 * budget's allocator. */
#define CODEC_UNPACK_RATIO 16u
#define CODEC_UNPACK_SLACK (64u * 1024u)

struct codec_budget
{
    ProtobufCAllocator allocator;
    size_t left;
    bool exceeded;
};

/* An allocator for unpacking `len` bytes. */
ProtobufCAllocator *codec_budget_init(struct codec_budget *b, size_t len);

/* Record why unpacking `what` of `len` bytes failed. */
struct dec;
void codec_unpack_failed(struct dec *d, const struct codec_budget *b, size_t len, const char *what);

/* Protobuf-c wants char * even for strings it only reads. */
static inline char *S(const char *s)
{
    return (char *)(uintptr_t)s;
}

/* Decoding: the first error wins and names the field. */
struct dec
{
    char *errmsg;
    size_t errsize;
    int rv;
};

void codec_dec_fail(struct dec *d, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);
void codec_copy_str(struct dec *d, char *dst, size_t size, const char *src, const char *field);
void codec_check_count(struct dec *d, size_t n, size_t max, const char *field);
void codec_check_version(struct dec *d, uint32_t version, const char *what);

/* protobuf-c hands strings over NUL-terminated, so a string with a NUL byte
 * inside would be cut short without a word: a decoded message must encode
 * back to exactly `len` bytes, or it is refused. This also refuses
 * duplicate and non-canonical fields, which no pgquorum encoder writes. */
void codec_check_canonical(struct dec *d, const ProtobufCMessage *m, size_t len, const char *what);

/* Both checks of a top-level message: its format version, then its bytes. */
void codec_check_message(struct dec *d,
                         uint32_t version,
                         const ProtobufCMessage *m,
                         size_t len,
                         const char *what);

int codec_agent_to_pb(const struct agent_facts *a, Pgq__AgentFacts *m, struct scratch *sc);
void codec_agent_from_pb(struct dec *d, const Pgq__AgentFacts *m, struct agent_facts *a);
void codec_obs_to_pb(const struct obs *o, Pgq__Observation *m);
void codec_view_obs_to_pb(const struct view_obs *o, Pgq__Observation *m);
void codec_obs_from_pb(struct dec *d, const Pgq__Observation *m, struct obs *o);
int codec_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc);
void codec_report_from_pb(struct dec *d, const Pgq__Report *b, struct command *cmd);
void codec_batch_from_pb(struct dec *d, const Pgq__Batch *b, struct command *cmd);
void codec_node_add_from_pb(struct dec *d, const Pgq__NodeAdd *b, struct command *cmd);
void codec_agent_report_from_pb(struct dec *d, const Pgq__AgentReport *b, struct command *cmd);
void codec_allow_from_pb(struct dec *d, const Pgq__AllowUnfenced *b, struct command *cmd);
void codec_maintenance_from_pb(struct dec *d, const Pgq__SetMaintenance *b, struct command *cmd);
void codec_pause_from_pb(struct dec *d, const Pgq__SetPause *b, struct command *cmd);
void codec_switchover_from_pb(struct dec *d, const Pgq__Switchover *b, struct command *cmd);

/* Managed synchronous replication (codec_sync.c). */
int codec_sync_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc);
void codec_sync_config_from_pb(struct dec *d, const Pgq__SyncConfig *b, struct command *cmd);
void codec_sync_set_from_pb(struct dec *d, const Pgq__SetSync *b, struct command *cmd);
int codec_cluster_sync_to_pb(const struct cluster *c, Pgq__Cluster *m, struct scratch *sc);
void codec_cluster_sync_from_pb(struct dec *d, const Pgq__Cluster *m, struct cluster *c);

/* Authorization (codec_authz.c, level 5). */
int codec_authz_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc);
void codec_who_to_pb(const struct command *cmd, Pgq__Command *m);
void codec_who_from_pb(struct dec *d, const Pgq__Command *m, struct command *cmd);
void codec_access_role_from_pb(struct dec *d, const Pgq__SetAccessRole *b, struct command *cmd);
void codec_grant_from_pb(struct dec *d, const Pgq__SetGrant *b, struct command *cmd);
void codec_audit_from_pb(struct dec *d, const Pgq__Audit *b, struct command *cmd);
int codec_access_to_pb(const struct state *s, Pgq__State *m, struct scratch *sc);
void codec_access_from_pb(struct dec *d, const Pgq__State *m, struct state *s);
void codec_event_who_to_pb(const struct event *e, Pgq__Event *m);
int codec_whoami_to_pb(const struct whoami_reply *w, Pgq__WhoamiReply *m, struct scratch *sc);
void codec_whoami_from_pb(struct dec *d, const Pgq__WhoamiReply *m, struct whoami_reply *w);

/* Online membership (codec_member.c, level 6); and the voter lists of
 * LeaderHello and Member (decoded: their count, each marked a voter). */
int codec_voters_to_pb(const struct member *voters,
                       unsigned n,
                       struct scratch *sc,
                       Pgq__VoterAddr ***out);
unsigned codec_voters_from_pb(struct dec *d,
                              Pgq__VoterAddr *const *vs,
                              size_t n,
                              struct member *voters,
                              const char *field);
Pgq__Member *codec_member_to_pb(const struct command *cmd, struct scratch *sc);
void codec_member_from_pb(struct dec *d, const Pgq__Member *b, struct command *cmd);

/* What of the state a message carries: a snapshot needs everything, a
 * status reply everything but the history (events have their own request),
 * an events reply only the history. */
enum { STATE_ALL, STATE_NO_EVENTS, STATE_EVENTS_ONLY, STATE_HEAD };

/* Fill a State message. A snapshot (STATE_ALL) holds each cluster's
 * history in it and the rest in State.events; a reply (STATE_EVENTS_ONLY)
 * the latest `limit` (0: PGQ_EVENTS_LIST_MAX) events of cluster ("" or
 * NULL: of all), merged in State.events. */
int codec_state_to_pb(const struct state *s,
                      Pgq__State *m,
                      struct scratch *sc,
                      int what,
                      const char *cluster,
                      unsigned limit);
void codec_state_from_pb(struct dec *d, const Pgq__State *m, struct state *s);
/* A response's fields into res (initialized), the first error in d. */
void codec_response_from_pb(struct dec *d, const Pgq__Response *m, struct api_response *res);
/* A cluster as a status reply holds it (with its history: a snapshot's). */
Pgq__Cluster *codec_cluster_to_pb(const struct cluster *c, bool events, struct scratch *sc);
/* Events of a message into r, oldest first, at most max; those of a
 * cluster's history carry no name (cluster: its name), others their own. */
void codec_events_from_pb(struct dec *d,
                          Pgq__Event *const *evs,
                          size_t n,
                          size_t max,
                          const char *cluster,
                          struct event_ring *r);

#endif /* PGQ_CODEC_INTERNAL_H */
