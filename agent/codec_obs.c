/* codec_obs: an observation <-> Pgq__Observation, for a report and for a
 * view in a snapshot (see codec.h). */
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"
#include "lib/util.h"

/* The encoder of both kinds of observation (struct obs, and struct
 * view_obs: the same members, its strings pointers). */
#define OBS_TO_PB(o, m)                                                                    \
    do {                                                                                   \
        pgq__observation__init(m);                                                         \
        m->node = S(o->node);                                                              \
        m->reachable = o->reachable;                                                       \
        if (o->error[0] != '\0') {                                                         \
            m->error = S(o->error);                                                        \
        }                                                                                  \
        m->has_in_recovery = true, m->in_recovery = o->in_recovery;                        \
        m->has_timeline = true, m->timeline = o->timeline;                                 \
        m->has_current_lsn = true, m->current_lsn = o->current_lsn;                        \
        m->has_receive_lsn = true, m->receive_lsn = o->receive_lsn;                        \
        m->has_replay_lsn = true, m->replay_lsn = o->replay_lsn;                           \
        m->has_streaming = true, m->streaming = o->streaming;                              \
        if (o->upstream[0] != '\0') {                                                      \
            m->upstream = S(o->upstream);                                                  \
        }                                                                                  \
        m->has_cache_hit_bp = true, m->cache_hit_bp = o->cache_hit_bp;                     \
        m->has_index_hit_bp = true, m->index_hit_bp = o->index_hit_bp;                     \
        m->has_connections = true, m->connections = o->connections;                        \
        m->has_read_only = true, m->read_only = o->read_only;                              \
        m->has_probed_ms = true, m->probed_ms = o->probed_ms;                              \
        m->has_basis_seq = true, m->basis_seq = o->basis_seq;                              \
        m->has_server_version = true, m->server_version = o->server_version;               \
        m->has_upstream_lsn = true, m->upstream_lsn = o->upstream_lsn;                     \
        m->has_failing_since_ms = true, m->failing_since_ms = o->failing_since_ms;         \
        if (o->failing_ms != 0) {                                                          \
            m->has_failing_ms = true, m->failing_ms = o->failing_ms;                       \
        }                                                                                  \
        /* Each only when set, each on its own: decoding then encoding gives               \
         * back the same observation. */                                                   \
        m->has_system_id = o->system_id != 0, m->system_id = o->system_id;                 \
        m->has_addr_hash = o->addr_hash != 0, m->addr_hash = o->addr_hash;                 \
        m->has_port = o->port != 0, m->port = o->port;                                     \
        m->has_data_dir_hash = o->data_dir_hash != 0, m->data_dir_hash = o->data_dir_hash; \
        if (o->sync_standbys[0] != '\0') {                                                 \
            m->sync_standbys = S(o->sync_standbys);                                        \
        }                                                                                  \
        if (o->lost_slots[0] != '\0') {                                                    \
            m->lost_slots = S(o->lost_slots);                                              \
        }                                                                                  \
        m->has_slot_use = o->slot_use != 0, m->slot_use = (uint32_t)o->slot_use;           \
        if (o->sync_setting[0] != '\0') {                                                  \
            m->sync_setting = S(o->sync_setting);                                          \
        }                                                                                  \
        if (o->replicas[0] != '\0') {                                                      \
            m->replicas = S(o->replicas);                                                  \
        }                                                                                  \
        m->has_overload_ms = o->overload_ms != 0, m->overload_ms = o->overload_ms;         \
    } while (0)

void codec_obs_to_pb(const struct obs *o, Pgq__Observation *m)
{
    OBS_TO_PB(o, m);
}

void codec_view_obs_to_pb(const struct view_obs *o, Pgq__Observation *m)
{
    OBS_TO_PB(o, m);
}

void codec_obs_from_pb(struct dec *d, const Pgq__Observation *m, struct obs *o)
{
    memset(o, 0, sizeof *o);
    codec_copy_str(d, o->node, sizeof o->node, m->node, "observation.node");
    o->reachable = m->reachable;
    codec_copy_str(d, o->error, sizeof o->error, m->error, "observation.error");
    o->in_recovery = m->in_recovery;
    o->timeline = m->timeline;
    o->current_lsn = m->current_lsn;
    o->receive_lsn = m->receive_lsn;
    o->replay_lsn = m->replay_lsn;
    o->streaming = m->streaming;
    codec_copy_str(d, o->upstream, sizeof o->upstream, m->upstream, "observation.upstream");
    o->cache_hit_bp = m->has_cache_hit_bp ? m->cache_hit_bp : PGQ_BP_NONE;
    o->index_hit_bp = m->has_index_hit_bp ? m->index_hit_bp : PGQ_BP_NONE;
    o->connections = m->connections;
    o->read_only = m->read_only;
    o->probed_ms = m->probed_ms;
    o->basis_seq = m->basis_seq;
    o->server_version = m->server_version;
    o->upstream_lsn = m->upstream_lsn;
    o->failing_since_ms = m->failing_since_ms;
    o->failing_ms = m->failing_ms;
    o->system_id = m->system_id;
    o->addr_hash = m->addr_hash;
    o->port = m->port;
    o->data_dir_hash = m->data_dir_hash;
    codec_copy_str(d, o->sync_standbys, sizeof o->sync_standbys, m->sync_standbys,
                   "observation.sync_standbys");
    codec_copy_str(d, o->lost_slots, sizeof o->lost_slots, m->lost_slots, "observation.lost_slots");
    if (m->slot_use >= PGQ__N_SLOT_USES) {
        codec_dec_fail(d, PGQ_MALFORMED, "observation.slot_use %u out of range", m->slot_use);
    }
    o->slot_use = (int)m->slot_use;
    codec_copy_str(d, o->sync_setting, sizeof o->sync_setting, m->sync_setting,
                   "observation.sync_setting");
    codec_copy_str(d, o->replicas, sizeof o->replicas, m->replicas, "observation.replicas");
    o->overload_ms = m->overload_ms;
}
