/* Codec: proto/ formats <-> core structs (see codec.h).
 *
 * Encoders build protobuf-c messages that point into the core structs and
 * into a scratch arena, pack them, and free the arena: nothing outlives the
 * call. Decoders unpack, check the version and every limit, copy into core
 * structs, and free the unpacked message. */
#include "codec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "lib/util.h"

/* ---- commands ----------------------------------------------------------- */

/* Build the body of a command into `m`; returns 0 or PGQ_NOMEM/PGQ_UNKNOWN. */
int codec_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc)
{
    pgq__command__init(m);
    m->version = PGQ_FORMAT_VERSION;
    m->time_ms = cmd->time_ms;
    codec_who_to_pb(cmd, m);
    switch (cmd->kind) {
        case CMD_HELLO: {
            const struct cmd_hello *h = &cmd->u.hello;
            Pgq__LeaderHello *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__leader_hello__init(b);
            b->monitor_id = h->monitor_id;
            b->api_address = S(h->api_address);
            if (codec_voters_to_pb(h->voters, h->n_voters, sc, &b->voters) != 0) {
                return PGQ_NOMEM;
            }
            b->n_voters = h->n_voters;
            b->has_feature_level = cmd->u.hello.feature_level != 0;
            b->feature_level = cmd->u.hello.feature_level;
            b->reason = h->reason[0] != '\0' ? S(h->reason) : NULL;
            m->body_case = PGQ__COMMAND__BODY_HELLO;
            m->hello = b;
            return 0;
        }
        case CMD_NODE_ADD: {
            Pgq__NodeAdd *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__node_add__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->conninfo = S(cmd->u.node_add.conninfo);
            b->priority = cmd->u.node_add.priority;
            m->body_case = PGQ__COMMAND__BODY_NODE_ADD;
            m->node_add = b;
            return 0;
        }
        case CMD_CLUSTER_REMOVE: {
            Pgq__ClusterRemove *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__cluster_remove__init(b);
            b->cluster = S(cmd->cluster);
            m->body_case = PGQ__COMMAND__BODY_CLUSTER_REMOVE;
            m->cluster_remove = b;
            return 0;
        }
        case CMD_NODE_REMOVE: {
            Pgq__NodeRemove *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__node_remove__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            m->body_case = PGQ__COMMAND__BODY_NODE_REMOVE;
            m->node_remove = b;
            return 0;
        }
        case CMD_MAINTENANCE: {
            Pgq__SetMaintenance *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_maintenance__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->on = cmd->u.maintenance.on;
            /* Only when set: a command without it is the level 1 one. */
            b->has_allow_failover = cmd->u.maintenance.allow_failover;
            b->allow_failover = cmd->u.maintenance.allow_failover;
            m->body_case = PGQ__COMMAND__BODY_MAINTENANCE;
            m->maintenance = b;
            return 0;
        }
        case CMD_REPORT: {
            const struct cmd_report *r = &cmd->u.report;
            Pgq__Report *b = codec_scratch_alloc(sc, sizeof *b);
            Pgq__Observation **os = codec_scratch_alloc(sc, r->n_obs * sizeof *os);
            Pgq__Observation *arr = codec_scratch_alloc(sc, r->n_obs * sizeof *arr);
            if (b == NULL || os == NULL || arr == NULL) {
                return PGQ_NOMEM;
            }
            pgq__report__init(b);
            b->monitor_id = r->monitor_id;
            b->cluster = S(cmd->cluster);
            if (r->api_address[0] != '\0') {
                b->api_address = S(r->api_address);
            }
            for (unsigned i = 0; i < r->n_obs; i++) {
                codec_obs_to_pb(&r->obs[i], &arr[i]);
                os[i] = &arr[i];
            }
            b->n_obs = r->n_obs;
            b->obs = os;
            b->has_feature_level = r->feature_level != 0, b->feature_level = r->feature_level;
            if (r->has_resources) {
                b->has_probes_shed = b->has_probes = true;
                b->has_fd_limit = b->has_fd_needed = true;
                b->probes_shed = r->probes_shed, b->probes = r->probes;
                b->fd_limit = r->fd_limit, b->fd_needed = r->fd_needed;
            }
            m->body_case = PGQ__COMMAND__BODY_REPORT;
            m->report = b;
            return 0;
        }
        case CMD_SET_ROLE: {
            Pgq__SetRole *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_role__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->role = (uint32_t)cmd->u.set_role.role;
            b->epoch = cmd->u.set_role.epoch;
            m->body_case = PGQ__COMMAND__BODY_SET_ROLE;
            m->set_role = b;
            return 0;
        }
        case CMD_DECIDE: {
            const struct cmd_decide *dd = &cmd->u.decide;
            Pgq__Decide *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__decide__init(b);
            b->cluster = S(cmd->cluster);
            b->epoch = dd->epoch;
            b->old_primary = S(dd->old_primary);
            b->candidate = S(cmd->node);
            b->candidate_lsn = dd->candidate_lsn;
            b->down_ms = dd->down_ms;
            b->reason = S(dd->reason);
            b->has_round = dd->round != 0, b->round = dd->round;
            b->has_reference_lsn = dd->reference_lsn != 0, b->reference_lsn = dd->reference_lsn;
            m->body_case = PGQ__COMMAND__BODY_DECIDE;
            m->decide = b;
            return 0;
        }
        case CMD_CUT: {
            const struct cmd_cut *ct = &cmd->u.cut;
            Pgq__Cut *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__cut__init(b);
            b->cluster = S(cmd->cluster);
            b->epoch = ct->epoch;
            b->old_primary = S(ct->old_primary);
            b->down_ms = ct->down_ms;
            if (ct->reason[0] != '\0') {
                b->reason = S(ct->reason);
            }
            m->body_case = PGQ__COMMAND__BODY_CUT;
            m->cut = b;
            return 0;
        }
        case CMD_AGENT: {
            Pgq__AgentReport *b = codec_scratch_alloc(sc, sizeof *b);
            Pgq__AgentFacts *f = codec_scratch_alloc(sc, sizeof *f);
            if (b == NULL || f == NULL || codec_agent_to_pb(&cmd->u.agent, f, sc) != 0) {
                return PGQ_NOMEM;
            }
            pgq__agent_report__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->facts = f;
            m->body_case = PGQ__COMMAND__BODY_AGENT;
            m->agent = b;
            return 0;
        }
        case CMD_FEATURE: {
            Pgq__SetFeature *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_feature__init(b);
            b->level = cmd->u.feature.level;
            b->has_events_per_cluster = cmd->u.feature.events_per_cluster != 0;
            b->events_per_cluster = cmd->u.feature.events_per_cluster;
            b->has_events_global = cmd->u.feature.events_global != 0;
            b->events_global = cmd->u.feature.events_global;
            m->body_case = PGQ__COMMAND__BODY_FEATURE;
            m->feature = b;
            return 0;
        }
        case CMD_ALLOW_UNFENCED: {
            Pgq__AllowUnfenced *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__allow_unfenced__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            if (cmd->u.allow.by[0] != '\0') {
                b->by = S(cmd->u.allow.by);
            }
            m->body_case = PGQ__COMMAND__BODY_ALLOW_UNFENCED;
            m->allow_unfenced = b;
            return 0;
        }
        case CMD_PAUSE: {
            Pgq__SetPause *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_pause__init(b);
            b->cluster = S(cmd->cluster);
            b->on = cmd->u.pause.on;
            if (cmd->u.pause.by[0] != '\0') {
                b->by = S(cmd->u.pause.by);
            }
            m->body_case = PGQ__COMMAND__BODY_PAUSE;
            m->pause = b;
            return 0;
        }
        case CMD_SWITCHOVER: {
            const struct cmd_switchover *w = &cmd->u.switchover;
            Pgq__Switchover *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__switchover__init(b);
            b->cluster = S(cmd->cluster);
            if (w->target[0] != '\0') {
                b->target = S(w->target);
            }
            b->has_at_ms = w->at_ms != 0, b->at_ms = w->at_ms;
            b->has_cancel = w->cancel, b->cancel = w->cancel;
            b->has_begin = w->begin, b->begin = w->begin;
            if (w->by[0] != '\0') {
                b->by = S(w->by);
            }
            m->body_case = PGQ__COMMAND__BODY_SWITCHOVER;
            m->switchover = b;
            return 0;
        }
        case CMD_SYNC_CONFIG:
        case CMD_SYNC_SET:
            return codec_sync_command_to_pb(cmd, m, sc);
        case CMD_ACCESS_ROLE:
        case CMD_GRANT:
        case CMD_AUDIT:
            return codec_authz_command_to_pb(cmd, m, sc);
        case CMD_MEMBER:
            m->member = codec_member_to_pb(cmd, sc);
            m->body_case = PGQ__COMMAND__BODY_MEMBER;
            return m->member != NULL ? 0 : PGQ_NOMEM;
        case CMD_ABANDON: {
            Pgq__Abandon *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__abandon__init(b);
            b->cluster = S(cmd->cluster);
            b->round = cmd->u.abandon.round;
            if (cmd->u.abandon.reason[0] != '\0') {
                b->reason = S(cmd->u.abandon.reason);
            }
            m->body_case = PGQ__COMMAND__BODY_ABANDON;
            m->abandon = b;
            return 0;
        }
        case CMD_BLOCKED: {
            Pgq__Blocked *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__blocked__init(b);
            b->cluster = S(cmd->cluster);
            b->reason = S(cmd->u.blocked.reason);
            m->body_case = PGQ__COMMAND__BODY_BLOCKED;
            m->blocked = b;
            return 0;
        }
        case CMD_STEP: {
            const struct cmd_step *st = &cmd->u.step;
            Pgq__Step *b = codec_scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__step__init(b);
            b->cluster = S(cmd->cluster);
            b->epoch = st->epoch;
            b->kind = (uint32_t)st->kind;
            if (cmd->node[0] != '\0') {
                b->node = S(cmd->node);
            }
            b->has_timeline = st->timeline != 0;
            b->timeline = st->timeline;
            if (st->detail[0] != '\0') {
                b->detail = S(st->detail);
            }
            b->has_round = st->round != 0, b->round = st->round;
            b->has_lsn = st->lsn != 0, b->lsn = st->lsn;
            b->has_upstream_lsn = st->upstream_lsn != 0, b->upstream_lsn = st->upstream_lsn;
            b->has_parent_tli = st->parent_tli != 0, b->parent_tli = st->parent_tli;
            m->body_case = PGQ__COMMAND__BODY_STEP;
            m->step = b;
            return 0;
        }
        case CMD_BATCH: {
            const struct cmd_batch *bt = &cmd->u.batch;
            Pgq__Batch *b = codec_scratch_alloc(sc, sizeof *b);
            Pgq__Command **cs = codec_scratch_alloc(sc, bt->n * sizeof *cs);
            Pgq__Command *arr = codec_scratch_alloc(sc, bt->n * sizeof *arr);
            if (b == NULL || (bt->n > 0 && (cs == NULL || arr == NULL))) {
                return PGQ_NOMEM;
            }
            pgq__batch__init(b);
            for (unsigned i = 0; i < bt->n; i++) {
                int rv;
                if (bt->cmds[i].kind == CMD_BATCH) {
                    return PGQ_INVALID; /* a batch holds no batch */
                }
                if ((rv = codec_command_to_pb(&bt->cmds[i], &arr[i], sc)) != 0) {
                    return rv;
                }
                cs[i] = &arr[i];
            }
            b->n_commands = bt->n;
            b->commands = cs;
            m->body_case = PGQ__COMMAND__BODY_BATCH;
            m->batch = b;
            return 0;
        }
        default:
            return PGQ_UNKNOWN;
    }
}

int codec_command_encode(const struct command *cmd,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len)
{
    struct scratch sc = {0};
    Pgq__Command m;
    int rv = codec_command_to_pb(cmd, &m, &sc);
    if (rv == 0) {
        rv = codec_pack(&m.base, a, buf, len);
    }
    codec_scratch_free(&sc);
    return rv;
}

/* Decode a command body (shared by the log and the API). `kind` is the CMD_*
 * the caller expects from the oneof case. */
void codec_report_from_pb(struct dec *d, const Pgq__Report *b, struct command *cmd)
{
    struct cmd_report *r = &cmd->u.report;
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "report.cluster");
    codec_copy_str(d, r->api_address, sizeof r->api_address, b->api_address, "report.api_address");
    r->monitor_id = b->monitor_id;
    r->feature_level = b->feature_level;
    if (b->has_probes_shed != b->has_probes || b->has_probes != b->has_fd_limit ||
        b->has_fd_limit != b->has_fd_needed) {
        codec_dec_fail(d, PGQ_MALFORMED,
                       "report: probes_shed, probes, fd_limit, fd_needed: all "
                       "or none");
        return;
    }
    r->has_resources = b->has_probes_shed;
    r->probes_shed = b->probes_shed, r->probes = b->probes;
    r->fd_limit = b->fd_limit, r->fd_needed = b->fd_needed;
    codec_check_count(d, b->n_obs, PGQ_REPORT_OBS_MAX, "report.obs");
    if (d->rv != 0 || b->n_obs == 0) {
        return;
    }
    r->obs = calloc(b->n_obs, sizeof *r->obs);
    if (r->obs == NULL) {
        codec_dec_fail(d, PGQ_NOMEM, "out of memory");
        return;
    }
    r->n_obs = (unsigned)b->n_obs;
    for (size_t i = 0; i < b->n_obs; i++) {
        codec_obs_from_pb(d, b->obs[i], &r->obs[i]);
    }
}

void codec_agent_report_from_pb(struct dec *d, const Pgq__AgentReport *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "agent.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->name, "agent.name");
    codec_agent_from_pb(d, b->facts, &cmd->u.agent);
}

void codec_allow_from_pb(struct dec *d, const Pgq__AllowUnfenced *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "allow_unfenced.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->name, "allow_unfenced.name");
    codec_copy_str(d, cmd->u.allow.by, sizeof cmd->u.allow.by, b->by, "allow_unfenced.by");
}

void codec_maintenance_from_pb(struct dec *d, const Pgq__SetMaintenance *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "maintenance.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->name, "maintenance.name");
    cmd->u.maintenance.on = b->on;
    cmd->u.maintenance.allow_failover = b->has_allow_failover && b->allow_failover;
}

void codec_switchover_from_pb(struct dec *d, const Pgq__Switchover *b, struct command *cmd)
{
    struct cmd_switchover *w = &cmd->u.switchover;
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "switchover.cluster");
    codec_copy_str(d, w->target, sizeof w->target, b->target, "switchover.target");
    codec_copy_str(d, w->by, sizeof w->by, b->by, "switchover.by");
    w->at_ms = b->at_ms;
    w->cancel = b->cancel;
    w->begin = b->begin;
    if (w->cancel && w->begin) {
        codec_dec_fail(d, PGQ_MALFORMED, "switchover: both cancel and begin");
    }
}

void codec_pause_from_pb(struct dec *d, const Pgq__SetPause *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "pause.cluster");
    codec_copy_str(d, cmd->u.pause.by, sizeof cmd->u.pause.by, b->by, "pause.by");
    cmd->u.pause.on = b->on;
}

void codec_node_add_from_pb(struct dec *d, const Pgq__NodeAdd *b, struct command *cmd)
{
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "node_add.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->name, "node_add.name");
    codec_copy_str(d, cmd->u.node_add.conninfo, sizeof cmd->u.node_add.conninfo, b->conninfo,
                   "node_add.conninfo");
    cmd->u.node_add.priority = b->priority;
}

static void command_from_pb(struct dec *d, const Pgq__Command *m, struct command *cmd);

static void command_from_pb(struct dec *d, const Pgq__Command *m, struct command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->time_ms = m->time_ms;
    switch (m->body_case) {
        case PGQ__COMMAND__BODY_HELLO: {
            const Pgq__LeaderHello *b = m->hello;
            cmd->kind = CMD_HELLO;
            cmd->u.hello.monitor_id = b->monitor_id;
            codec_copy_str(d, cmd->u.hello.api_address, sizeof cmd->u.hello.api_address,
                           b->api_address, "hello.api_address");
            cmd->u.hello.n_voters = codec_voters_from_pb(d, b->voters, b->n_voters,
                                                         cmd->u.hello.voters, "hello.voters");
            if (d->rv != 0) {
                return;
            }
            cmd->u.hello.feature_level = b->feature_level;
            if (b->reason != NULL) {
                codec_copy_str(d, cmd->u.hello.reason, sizeof cmd->u.hello.reason, b->reason,
                               "hello.reason");
            }
            return;
        }
        case PGQ__COMMAND__BODY_NODE_ADD:
            cmd->kind = CMD_NODE_ADD;
            codec_node_add_from_pb(d, m->node_add, cmd);
            return;
        case PGQ__COMMAND__BODY_CLUSTER_REMOVE:
            cmd->kind = CMD_CLUSTER_REMOVE;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, m->cluster_remove->cluster,
                           "cluster_remove.cluster");
            return;
        case PGQ__COMMAND__BODY_NODE_REMOVE:
            cmd->kind = CMD_NODE_REMOVE;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, m->node_remove->cluster,
                           "node_remove.cluster");
            codec_copy_str(d, cmd->node, sizeof cmd->node, m->node_remove->name,
                           "node_remove.name");
            return;
        case PGQ__COMMAND__BODY_MAINTENANCE:
            cmd->kind = CMD_MAINTENANCE;
            codec_maintenance_from_pb(d, m->maintenance, cmd);
            return;
        case PGQ__COMMAND__BODY_REPORT:
            cmd->kind = CMD_REPORT;
            codec_report_from_pb(d, m->report, cmd);
            return;
        case PGQ__COMMAND__BODY_SET_ROLE:
            cmd->kind = CMD_SET_ROLE;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, m->set_role->cluster,
                           "set_role.cluster");
            codec_copy_str(d, cmd->node, sizeof cmd->node, m->set_role->name, "set_role.name");
            cmd->u.set_role.role = (int)m->set_role->role;
            cmd->u.set_role.epoch = m->set_role->epoch;
            return;
        case PGQ__COMMAND__BODY_DECIDE: {
            const Pgq__Decide *b = m->decide;
            cmd->kind = CMD_DECIDE;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "decide.cluster");
            codec_copy_str(d, cmd->node, sizeof cmd->node, b->candidate, "decide.candidate");
            codec_copy_str(d, cmd->u.decide.old_primary, sizeof cmd->u.decide.old_primary,
                           b->old_primary, "decide.old_primary");
            codec_copy_str(d, cmd->u.decide.reason, sizeof cmd->u.decide.reason, b->reason,
                           "decide.reason");
            cmd->u.decide.epoch = b->epoch;
            cmd->u.decide.candidate_lsn = b->candidate_lsn;
            cmd->u.decide.down_ms = b->down_ms;
            cmd->u.decide.round = b->round;
            cmd->u.decide.reference_lsn = b->reference_lsn;
            return;
        }
        case PGQ__COMMAND__BODY_AGENT:
            cmd->kind = CMD_AGENT;
            codec_agent_report_from_pb(d, m->agent, cmd);
            return;
        case PGQ__COMMAND__BODY_FEATURE:
            cmd->kind = CMD_FEATURE;
            cmd->u.feature.level = m->feature->level;
            cmd->u.feature.events_per_cluster = m->feature->events_per_cluster;
            cmd->u.feature.events_global = m->feature->events_global;
            return;
        case PGQ__COMMAND__BODY_ALLOW_UNFENCED:
            cmd->kind = CMD_ALLOW_UNFENCED;
            codec_allow_from_pb(d, m->allow_unfenced, cmd);
            return;
        case PGQ__COMMAND__BODY_SWITCHOVER:
            cmd->kind = CMD_SWITCHOVER;
            codec_switchover_from_pb(d, m->switchover, cmd);
            return;
        case PGQ__COMMAND__BODY_PAUSE:
            cmd->kind = CMD_PAUSE;
            codec_pause_from_pb(d, m->pause, cmd);
            return;
        case PGQ__COMMAND__BODY_SYNC_CONFIG:
            cmd->kind = CMD_SYNC_CONFIG;
            codec_sync_config_from_pb(d, m->sync_config, cmd);
            return;
        case PGQ__COMMAND__BODY_SYNC_SET:
            cmd->kind = CMD_SYNC_SET;
            codec_sync_set_from_pb(d, m->sync_set, cmd);
            return;
        case PGQ__COMMAND__BODY_ACCESS_ROLE:
            cmd->kind = CMD_ACCESS_ROLE;
            codec_access_role_from_pb(d, m->access_role, cmd);
            return;
        case PGQ__COMMAND__BODY_GRANT:
            cmd->kind = CMD_GRANT;
            codec_grant_from_pb(d, m->grant, cmd);
            return;
        case PGQ__COMMAND__BODY_AUDIT:
            cmd->kind = CMD_AUDIT;
            codec_audit_from_pb(d, m->audit, cmd);
            return;
        case PGQ__COMMAND__BODY_MEMBER:
            cmd->kind = CMD_MEMBER;
            codec_member_from_pb(d, m->member, cmd);
            return;
        case PGQ__COMMAND__BODY_ABANDON:
            cmd->kind = CMD_ABANDON;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, m->abandon->cluster,
                           "abandon.cluster");
            codec_copy_str(d, cmd->u.abandon.reason, sizeof cmd->u.abandon.reason,
                           m->abandon->reason, "abandon.reason");
            cmd->u.abandon.round = m->abandon->round;
            return;
        case PGQ__COMMAND__BODY_CUT: {
            const Pgq__Cut *b = m->cut;
            cmd->kind = CMD_CUT;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "cut.cluster");
            codec_copy_str(d, cmd->u.cut.old_primary, sizeof cmd->u.cut.old_primary, b->old_primary,
                           "cut.old_primary");
            codec_copy_str(d, cmd->u.cut.reason, sizeof cmd->u.cut.reason, b->reason, "cut.reason");
            cmd->u.cut.epoch = b->epoch;
            cmd->u.cut.down_ms = b->down_ms;
            return;
        }
        case PGQ__COMMAND__BODY_BLOCKED:
            cmd->kind = CMD_BLOCKED;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, m->blocked->cluster,
                           "blocked.cluster");
            codec_copy_str(d, cmd->u.blocked.reason, sizeof cmd->u.blocked.reason,
                           m->blocked->reason, "blocked.reason");
            return;
        case PGQ__COMMAND__BODY_STEP: {
            const Pgq__Step *b = m->step;
            cmd->kind = CMD_STEP;
            codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "step.cluster");
            codec_copy_str(d, cmd->node, sizeof cmd->node, b->node, "step.node");
            codec_copy_str(d, cmd->u.step.detail, sizeof cmd->u.step.detail, b->detail,
                           "step.detail");
            cmd->u.step.epoch = b->epoch;
            cmd->u.step.kind = (int)b->kind;
            cmd->u.step.timeline = b->timeline;
            cmd->u.step.round = b->round;
            cmd->u.step.lsn = b->lsn;
            cmd->u.step.upstream_lsn = b->upstream_lsn;
            cmd->u.step.parent_tli = b->parent_tli;
            return;
        }
        case PGQ__COMMAND__BODY_BATCH:
            codec_batch_from_pb(d, m->batch, cmd);
            return;
        default:
            codec_dec_fail(d, PGQ_UNKNOWN, "unknown command (oneof case %d)", (int)m->body_case);
            return;
    }
}

void codec_batch_from_pb(struct dec *d, const Pgq__Batch *b, struct command *cmd)
{
    cmd->kind = CMD_BATCH;
    codec_check_count(d, b->n_commands, PGQ_BATCH_MAX, "batch.commands");
    if (d->rv != 0) {
        return;
    }
    if (b->n_commands > 0) {
        cmd->u.batch.cmds = calloc(b->n_commands, sizeof *cmd->u.batch.cmds);
        if (cmd->u.batch.cmds == NULL) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
    }
    for (size_t i = 0; i < b->n_commands && d->rv == 0; i++) {
        struct command *sub = &cmd->u.batch.cmds[i];
        cmd->u.batch.n = (unsigned)i + 1; /* what it owns is freed on failure */
        if (b->commands[i]->body_case == PGQ__COMMAND__BODY_BATCH) {
            codec_dec_fail(d, PGQ_MALFORMED, "a batch holds a batch");
            return;
        }
        codec_check_version(d, b->commands[i]->version, "batch.commands");
        command_from_pb(d, b->commands[i], sub);
        codec_who_from_pb(d, b->commands[i], sub);
    }
}

int codec_command_decode(const uint8_t *buf,
                         size_t len,
                         struct command *cmd,
                         char *errmsg,
                         size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    struct codec_budget budget;
    Pgq__Command *m = pgq__command__unpack(codec_budget_init(&budget, len), len, buf);
    if (m == NULL) {
        memset(cmd, 0, sizeof *cmd);
        codec_unpack_failed(&d, &budget, len, "command");
        return d.rv;
    }
    codec_check_message(&d, m->version, &m->base, len, "command");
    if (d.rv == 0) {
        command_from_pb(&d, m, cmd);
        codec_who_from_pb(&d, m, cmd);
    } else {
        memset(cmd, 0, sizeof *cmd);
    }
    pgq__command__free_unpacked(m, &budget.allocator);
    if (d.rv != 0) {
        command_close(cmd);
    }
    return d.rv;
}

/* ---- Raft entries and snapshots on disk --------------------------------- */

/* libraft 0.15's encodings of entries (on disk and on the wire) assume
 * payloads whose length is a multiple of 8: a batch of odd-sized entries is
 * decoded at shifted offsets by the receiver (found with ASan: a follower
 * catching up read past the message). So entries and snapshots are padded
 * with zeros to a multiple of 8, and carry their own length: a 4-byte
 * big-endian length, the message, then only zero bytes. */
#define ENTRY_HEADER 4
#define ENTRY_ALIGN 8

static int unwrap(const uint8_t *buf,
                  size_t len,
                  const uint8_t **msg,
                  size_t *msg_len,
                  const char *what,
                  char *errmsg,
                  size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    uint32_t n;
    if (len < ENTRY_HEADER) {
        codec_dec_fail(&d, PGQ_MALFORMED, "%s of %zu bytes is too short", what, len);
        return d.rv;
    }
    n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (n > len - ENTRY_HEADER) {
        codec_dec_fail(&d, PGQ_MALFORMED, "%s announces %u bytes, holds %zu", what, n,
                       len - ENTRY_HEADER);
        return d.rv;
    }
    for (size_t i = ENTRY_HEADER + n; i < len; i++) {
        if (buf[i] != 0) {
            codec_dec_fail(&d, PGQ_MALFORMED, "%s has trailing bytes", what);
            return d.rv;
        }
    }
    *msg = buf + ENTRY_HEADER;
    *msg_len = n;
    return 0;
}

static void put_len(uint8_t *buf, size_t len)
{
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
}

/* Wrap an encoded message (at buf + headroom + ENTRY_HEADER) in place:
 * length header in front, zero padding behind. */
static int wrap(
    const struct codec_alloc *a,
    uint8_t **buf,
    size_t *len,
    int (*encode)(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len),
    const void *obj)
{
    size_t headroom = a != NULL ? a->headroom : 0;
    void *(*alloc)(size_t) = a != NULL && a->alloc != NULL ? a->alloc : malloc;
    struct codec_alloc inner = {malloc, 0};
    uint8_t *msg, *out;
    size_t n, padded;
    int rv = encode(obj, &inner, &msg, &n);
    if (rv != 0) {
        return rv;
    }
    padded = (ENTRY_HEADER + n + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
    out = alloc(headroom + padded);
    if (out == NULL) {
        free(msg);
        return PGQ_NOMEM;
    }
    put_len(out + headroom, n);
    memcpy(out + headroom + ENTRY_HEADER, msg, n);
    memset(out + headroom + ENTRY_HEADER + n, 0, padded - ENTRY_HEADER - n);
    free(msg);
    *buf = out;
    *len = padded;
    return 0;
}

static int encode_command(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    return codec_command_encode(obj, a, buf, len);
}

static int encode_state(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    return codec_state_encode(obj, a, buf, len);
}

int codec_entry_encode(const struct command *cmd,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len)
{
    return wrap(a, buf, len, encode_command, cmd);
}

int codec_entry_decode(const uint8_t *buf,
                       size_t len,
                       struct command *cmd,
                       char *errmsg,
                       size_t errsize)
{
    const uint8_t *msg;
    size_t n;
    int rv = unwrap(buf, len, &msg, &n, "log entry", errmsg, errsize);
    if (rv != 0) {
        memset(cmd, 0, sizeof *cmd);
        return rv;
    }
    return codec_command_decode(msg, n, cmd, errmsg, errsize);
}

int codec_snapshot_encode(const struct state *s,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len)
{
    return wrap(a, buf, len, encode_state, s);
}

int codec_snapshot_decode(const uint8_t *buf,
                          size_t len,
                          struct state *s,
                          char *errmsg,
                          size_t errsize)
{
    const uint8_t *msg;
    size_t n;
    int rv = unwrap(buf, len, &msg, &n, "snapshot", errmsg, errsize);
    if (rv != 0) {
        state_init(s);
        return rv;
    }
    return codec_state_decode(msg, n, s, errmsg, errsize);
}
