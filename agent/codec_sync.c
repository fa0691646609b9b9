/* Codec of managed synchronous replication (see codec.h): the SyncConfig
 * and SetSync commands, and the cluster's synchronous state in snapshots.
 * Every field is written only when set, so that decoding then encoding
 * gives back the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "lib/util.h"

static int set_to_pb(const struct sync_set *set, Pgq__SyncSet *m, struct scratch *sc)
{
    pgq__sync_set__init(m);
    m->seq = set->seq;
    m->epoch = set->epoch;
    m->method = (uint32_t)set->method;
    m->number = set->k;
    m->has_held_mask = set->held_mask != 0, m->held_mask = set->held_mask;
    if (set->n_names > 0) {
        m->names = codec_scratch_alloc(sc, set->n_names * sizeof *m->names);
        if (m->names == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < set->n_names; i++) {
            m->names[i] = S(set->names[i]);
        }
        m->n_names = set->n_names;
    }
    return 0;
}

static void set_from_pb(struct dec *d, const Pgq__SyncSet *m, struct sync_set *set)
{
    memset(set, 0, sizeof *set);
    if (m == NULL) {
        return;
    }
    set->seq = m->seq;
    set->epoch = m->epoch;
    set->method = (int)m->method;
    set->k = m->number;
    set->held_mask = m->held_mask;
    if (m->method >= PGQ__N_SYNC_METHODS || m->number > PGQ_SYNC_MAX) {
        codec_dec_fail(d, PGQ_MALFORMED, "sync set: method or number out of range");
        return;
    }
    codec_check_count(d, m->n_names, PGQ_SYNC_MAX, "sync_set.names");
    for (size_t i = 0; d->rv == 0 && i < m->n_names; i++) {
        codec_copy_str(d, set->names[i], sizeof set->names[i], m->names[i], "sync_set.names");
        set->n_names = (unsigned)i + 1;
    }
}

int codec_sync_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc)
{
    if (cmd->kind == CMD_SYNC_CONFIG) {
        const struct cmd_sync_config *y = &cmd->u.sync_config;
        Pgq__SyncConfig *b = codec_scratch_alloc(sc, sizeof *b);
        if (b == NULL) {
            return PGQ_NOMEM;
        }
        pgq__sync_config__init(b);
        b->cluster = S(cmd->cluster);
        b->has_mode = y->mode >= 0, b->mode = y->mode >= 0 ? (uint32_t)y->mode : 0;
        b->has_number_sync = y->number != 0, b->number_sync = y->number;
        if (cmd->node[0] != '\0') {
            b->node = S(cmd->node);
        }
        b->has_replication_quorum = y->replication_quorum >= 0;
        b->replication_quorum = y->replication_quorum == 1;
        b->has_allow_data_loss = y->allow_data_loss, b->allow_data_loss = y->allow_data_loss;
        if (y->by[0] != '\0') {
            b->by = S(y->by);
        }
        m->body_case = PGQ__COMMAND__BODY_SYNC_CONFIG;
        m->sync_config = b;
        return 0;
    }
    if (cmd->kind == CMD_SYNC_SET) {
        Pgq__SetSync *b = codec_scratch_alloc(sc, sizeof *b);
        Pgq__SyncSet *set = codec_scratch_alloc(sc, sizeof *set);
        if (b == NULL || set == NULL || set_to_pb(&cmd->u.sync_set.set, set, sc) != 0) {
            return PGQ_NOMEM;
        }
        pgq__set_sync__init(b);
        b->cluster = S(cmd->cluster);
        b->set = set;
        if (cmd->u.sync_set.reason[0] != '\0') {
            b->reason = S(cmd->u.sync_set.reason);
        }
        m->body_case = PGQ__COMMAND__BODY_SYNC_SET;
        m->sync_set = b;
        return 0;
    }
    return PGQ_UNKNOWN;
}

void codec_sync_config_from_pb(struct dec *d, const Pgq__SyncConfig *b, struct command *cmd)
{
    struct cmd_sync_config *y = &cmd->u.sync_config;
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "sync_config.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->node, "sync_config.node");
    codec_copy_str(d, y->by, sizeof y->by, b->by, "sync_config.by");
    if (b->has_mode && b->mode >= PGQ__N_SYNC_MODES) {
        codec_dec_fail(d, PGQ_MALFORMED, "sync_config.mode %u is not off, quorum or strict",
                       b->mode);
    }
    if (b->has_number_sync && (b->number_sync == 0 || b->number_sync > PGQ_SYNC_MAX)) {
        codec_dec_fail(d, PGQ_MALFORMED, "sync_config.number_sync %u is out of range 1..%d",
                       b->number_sync, PGQ_SYNC_MAX);
    }
    y->mode = b->has_mode ? (int)b->mode : -1;
    y->number = b->has_number_sync ? b->number_sync : 0;
    y->replication_quorum = b->has_replication_quorum ? (b->replication_quorum ? 1 : 0) : -1;
    y->allow_data_loss = b->has_allow_data_loss && b->allow_data_loss;
}

void codec_sync_set_from_pb(struct dec *d, const Pgq__SetSync *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "sync_set.cluster");
    codec_copy_str(d, cmd->u.sync_set.reason, sizeof cmd->u.sync_set.reason, b->reason,
                   "sync_set.reason");
    set_from_pb(d, b->set, &cmd->u.sync_set.set);
}

int codec_cluster_sync_to_pb(const struct cluster *c, Pgq__Cluster *m, struct scratch *sc)
{
    const struct cluster_sync *y = &c->sync;
    m->has_sync_mode = y->mode != 0, m->sync_mode = (uint32_t)y->mode;
    m->has_number_sync = y->number != 0, m->number_sync = y->number;
    if (y->set.seq != 0) {
        m->sync_set = codec_scratch_alloc(sc, sizeof *m->sync_set);
        if (m->sync_set == NULL || set_to_pb(&y->set, m->sync_set, sc) != 0) {
            return PGQ_NOMEM;
        }
    }
    if (y->n_retiring > 0) {
        m->sync_retiring = codec_scratch_alloc(sc, y->n_retiring * sizeof *m->sync_retiring);
        if (m->sync_retiring == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < y->n_retiring; i++) {
            m->sync_retiring[i] = codec_scratch_alloc(sc, sizeof *m->sync_retiring[i]);
            if (m->sync_retiring[i] == NULL ||
                set_to_pb(&y->retiring[i], m->sync_retiring[i], sc) != 0) {
                return PGQ_NOMEM;
            }
        }
        m->n_sync_retiring = y->n_retiring;
    }
    m->has_sync_applied_seq = y->applied_seq != 0, m->sync_applied_seq = y->applied_seq;
    m->has_sync_applied_lsn = y->applied_lsn != 0, m->sync_applied_lsn = y->applied_lsn;
    if (y->seen[0] != '\0') {
        m->sync_seen = S(y->seen);
    }
    m->has_allow_data_loss_epoch = y->allow_loss_epoch != 0;
    m->allow_data_loss_epoch = y->allow_loss_epoch;
    return 0;
}

void codec_cluster_sync_from_pb(struct dec *d, const Pgq__Cluster *m, struct cluster *c)
{
    struct cluster_sync *y = &c->sync;
    memset(y, 0, sizeof *y);
    if (m->sync_mode >= PGQ__N_SYNC_MODES || m->number_sync > PGQ_SYNC_MAX) {
        codec_dec_fail(d, PGQ_MALFORMED, "cluster %s: sync mode or number out of range", c->name);
        return;
    }
    y->mode = (int)m->sync_mode;
    y->number = m->number_sync;
    set_from_pb(d, m->sync_set, &y->set);
    codec_check_count(d, m->n_sync_retiring, PGQ_SYNC_RETIRING_MAX, "cluster.sync_retiring");
    if (d->rv == 0 && m->n_sync_retiring > 0 && y->retiring == NULL &&
        (y->retiring = calloc(PGQ_SYNC_RETIRING_MAX, sizeof *y->retiring)) == NULL) {
        codec_dec_fail(d, PGQ_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; d->rv == 0 && i < m->n_sync_retiring; i++) {
        set_from_pb(d, m->sync_retiring[i], &y->retiring[i]);
        y->n_retiring = (unsigned)i + 1;
    }
    y->applied_seq = m->sync_applied_seq;
    y->applied_lsn = m->sync_applied_lsn;
    codec_copy_str(d, y->seen, sizeof y->seen, m->sync_seen, "cluster.sync_seen");
    y->allow_loss_epoch = m->allow_data_loss_epoch;
}
