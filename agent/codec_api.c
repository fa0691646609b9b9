/* Codec of the operator API: requests and responses (see codec.h). */
#include "codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "lib/util.h"

/* ---- API ---------------------------------------------------------------- */

int codec_request_encode(const struct api_request *req,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len)
{
    struct scratch sc = {0};
    Pgq__Request m = PGQ__REQUEST__INIT;
    Pgq__StatusRequest status = PGQ__STATUS_REQUEST__INIT;
    Pgq__EventsRequest events = PGQ__EVENTS_REQUEST__INIT;
    Pgq__FailpointRequest fp = PGQ__FAILPOINT_REQUEST__INIT;
    Pgq__Heartbeat hb = PGQ__HEARTBEAT__INIT;
    Pgq__AgentFacts facts;
    Pgq__Command cm;
    Pgq__WhoamiRequest whoami = PGQ__WHOAMI_REQUEST__INIT;
    int rv = 0;
    m.version = PGQ_FORMAT_VERSION;
    m.token = req->token[0] != '\0' ? S(req->token) : NULL;
    switch (req->kind) {
        case API_WHOAMI:
            m.body_case = PGQ__REQUEST__BODY_WHOAMI;
            m.whoami = &whoami;
            break;
        case API_AUDIT:
        case API_ROLE:
        case API_GRANT:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            if (req->kind == API_AUDIT) {
                m.body_case = PGQ__REQUEST__BODY_AUDIT;
                m.audit = cm.audit;
            } else if (req->kind == API_ROLE) {
                m.body_case = PGQ__REQUEST__BODY_ACCESS_ROLE;
                m.access_role = cm.access_role;
            } else {
                m.body_case = PGQ__REQUEST__BODY_GRANT;
                m.grant = cm.grant;
            }
            break;
        case API_STATUS:
            m.body_case = PGQ__REQUEST__BODY_STATUS;
            if (req->cluster[0] != '\0') {
                status.cluster = S(req->cluster);
            }
            status.has_stream = req->stream, status.stream = req->stream;
            m.status = &status;
            break;
        case API_EVENTS:
            m.body_case = PGQ__REQUEST__BODY_EVENTS;
            events.cluster = S(req->cluster);
            events.has_limit = req->limit != 0;
            events.limit = req->limit;
            m.events = &events;
            break;
        case API_FAILPOINT:
            m.body_case = PGQ__REQUEST__BODY_FAILPOINT;
            fp.name = S(req->fp_name);
            fp.action = S(req->fp_action);
            fp.arg = S(req->fp_arg);
            m.failpoint = &fp;
            break;
        case API_HEARTBEAT:
            rv = codec_agent_to_pb(&req->cmd.u.agent, &facts, &sc);
            hb.cluster = S(req->cmd.cluster);
            hb.name = S(req->cmd.node);
            hb.facts = &facts;
            if (req->conninfo[0] != '\0') {
                hb.conninfo = S(req->conninfo);
            }
            hb.has_priority = req->priority != 0, hb.priority = req->priority;
            hb.has_monitors_seen = req->monitors_seen != 0;
            hb.monitors_seen = req->monitors_seen;
            m.body_case = PGQ__REQUEST__BODY_HEARTBEAT;
            m.heartbeat = &hb;
            break;
        case API_ALLOW_UNFENCED:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_ALLOW_UNFENCED;
            m.allow_unfenced = cm.allow_unfenced;
            break;
        case API_PAUSE:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_PAUSE;
            m.pause = cm.pause;
            break;
        case API_SWITCHOVER:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_SWITCHOVER;
            m.switchover = cm.switchover;
            break;
        case API_SYNC:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_SYNC;
            m.sync = cm.sync_config;
            break;
        case API_BATCH:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_BATCH;
            m.batch = cm.batch;
            break;
        case API_CLUSTER_REMOVE:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            m.body_case = PGQ__REQUEST__BODY_CLUSTER_REMOVE;
            m.cluster_remove = cm.cluster_remove;
            break;
        case API_MONITOR_CHANGE:
            m.monitor_change = codec_member_to_pb(&req->cmd, &sc);
            m.body_case = PGQ__REQUEST__BODY_MONITOR_CHANGE;
            rv = m.monitor_change != NULL ? 0 : PGQ_NOMEM;
            break;
        case API_NODE_ADD:
        case API_NODE_REMOVE:
        case API_MAINTENANCE:
        case API_REPORT:
            rv = codec_command_to_pb(&req->cmd, &cm, &sc);
            if (rv != 0) {
                break;
            }
            if (req->kind == API_NODE_ADD) {
                m.body_case = PGQ__REQUEST__BODY_NODE_ADD;
                m.node_add = cm.node_add;
            } else if (req->kind == API_NODE_REMOVE) {
                m.body_case = PGQ__REQUEST__BODY_NODE_REMOVE;
                m.node_remove = cm.node_remove;
            } else if (req->kind == API_MAINTENANCE) {
                m.body_case = PGQ__REQUEST__BODY_MAINTENANCE;
                m.maintenance = cm.maintenance;
            } else {
                m.body_case = PGQ__REQUEST__BODY_REPORT;
                m.report = cm.report;
            }
            break;
        default:
            rv = PGQ_UNKNOWN;
            break;
    }
    if (rv == 0) {
        rv = codec_pack(&m.base, a, buf, len);
    }
    codec_scratch_free(&sc);
    return rv;
}

int codec_request_decode(const uint8_t *buf,
                         size_t len,
                         struct api_request *req,
                         char *errmsg,
                         size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    struct codec_budget budget;
    Pgq__Request *m = pgq__request__unpack(codec_budget_init(&budget, len), len, buf);
    memset(req, 0, sizeof *req);
    if (m == NULL) {
        codec_unpack_failed(&d, &budget, len, "request");
        return d.rv;
    }
    codec_check_message(&d, m->version, &m->base, len, "request");
    if (d.rv != 0) {
        goto out;
    }
    codec_copy_str(&d, req->token, sizeof req->token, m->token, "request.token");
    switch (m->body_case) {
        case PGQ__REQUEST__BODY_STATUS:
            req->kind = API_STATUS;
            if (m->status->cluster != NULL) {
                codec_copy_str(&d, req->cluster, sizeof req->cluster, m->status->cluster,
                               "status.cluster");
            }
            req->stream = m->status->has_stream && m->status->stream;
            break;
        case PGQ__REQUEST__BODY_WHOAMI:
            req->kind = API_WHOAMI;
            break;
        case PGQ__REQUEST__BODY_AUDIT:
            req->kind = API_AUDIT;
            req->cmd.kind = CMD_AUDIT;
            codec_audit_from_pb(&d, m->audit, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_ACCESS_ROLE:
            req->kind = API_ROLE;
            req->cmd.kind = CMD_ACCESS_ROLE;
            codec_access_role_from_pb(&d, m->access_role, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_GRANT:
            req->kind = API_GRANT;
            req->cmd.kind = CMD_GRANT;
            codec_grant_from_pb(&d, m->grant, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_EVENTS:
            req->kind = API_EVENTS;
            codec_copy_str(&d, req->cluster, sizeof req->cluster, m->events->cluster,
                           "events.cluster");
            req->limit = m->events->limit;
            break;
        case PGQ__REQUEST__BODY_FAILPOINT:
            req->kind = API_FAILPOINT;
            codec_copy_str(&d, req->fp_name, sizeof req->fp_name, m->failpoint->name,
                           "failpoint.name");
            codec_copy_str(&d, req->fp_action, sizeof req->fp_action, m->failpoint->action,
                           "failpoint.action");
            codec_copy_str(&d, req->fp_arg, sizeof req->fp_arg, m->failpoint->arg, "failpoint.arg");
            break;
        case PGQ__REQUEST__BODY_NODE_ADD:
            req->kind = API_NODE_ADD;
            req->cmd.kind = CMD_NODE_ADD;
            codec_node_add_from_pb(&d, m->node_add, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_CLUSTER_REMOVE:
            req->kind = API_CLUSTER_REMOVE;
            req->cmd.kind = CMD_CLUSTER_REMOVE;
            codec_copy_str(&d, req->cmd.cluster, sizeof req->cmd.cluster,
                           m->cluster_remove->cluster, "cluster_remove.cluster");
            break;
        case PGQ__REQUEST__BODY_NODE_REMOVE:
            req->kind = API_NODE_REMOVE;
            req->cmd.kind = CMD_NODE_REMOVE;
            codec_copy_str(&d, req->cmd.cluster, sizeof req->cmd.cluster, m->node_remove->cluster,
                           "node_remove.cluster");
            codec_copy_str(&d, req->cmd.node, sizeof req->cmd.node, m->node_remove->name,
                           "node_remove.name");
            break;
        case PGQ__REQUEST__BODY_MAINTENANCE:
            req->kind = API_MAINTENANCE;
            req->cmd.kind = CMD_MAINTENANCE;
            codec_maintenance_from_pb(&d, m->maintenance, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_BATCH:
            req->kind = API_BATCH;
            codec_batch_from_pb(&d, m->batch, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_REPORT:
            req->kind = API_REPORT;
            req->cmd.kind = CMD_REPORT;
            codec_report_from_pb(&d, m->report, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_HEARTBEAT:
            req->kind = API_HEARTBEAT;
            req->cmd.kind = CMD_AGENT;
            codec_copy_str(&d, req->cmd.cluster, sizeof req->cmd.cluster, m->heartbeat->cluster,
                           "heartbeat.cluster");
            codec_copy_str(&d, req->cmd.node, sizeof req->cmd.node, m->heartbeat->name,
                           "heartbeat.name");
            codec_agent_from_pb(&d, m->heartbeat->facts, &req->cmd.u.agent);
            codec_copy_str(&d, req->conninfo, sizeof req->conninfo, m->heartbeat->conninfo,
                           "heartbeat.conninfo");
            req->priority = m->heartbeat->priority;
            req->monitors_seen = m->heartbeat->monitors_seen;
            break;
        case PGQ__REQUEST__BODY_ALLOW_UNFENCED:
            req->kind = API_ALLOW_UNFENCED;
            req->cmd.kind = CMD_ALLOW_UNFENCED;
            codec_allow_from_pb(&d, m->allow_unfenced, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_PAUSE:
            req->kind = API_PAUSE;
            req->cmd.kind = CMD_PAUSE;
            codec_pause_from_pb(&d, m->pause, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_SWITCHOVER:
            req->kind = API_SWITCHOVER;
            req->cmd.kind = CMD_SWITCHOVER;
            codec_switchover_from_pb(&d, m->switchover, &req->cmd);
            if (req->cmd.u.switchover.begin) {
                /* The leader's own step, once the time has come: never a client's. */
                codec_dec_fail(&d, PGQ_MALFORMED,
                               "switchover.begin: only the leader begins a switchover");
            }
            break;
        case PGQ__REQUEST__BODY_SYNC:
            req->kind = API_SYNC;
            req->cmd.kind = CMD_SYNC_CONFIG;
            codec_sync_config_from_pb(&d, m->sync, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_MONITOR_CHANGE:
            req->kind = API_MONITOR_CHANGE;
            req->cmd.kind = CMD_MEMBER;
            codec_member_from_pb(&d, m->monitor_change, &req->cmd);
            if (req->cmd.u.member.step != 0 || req->cmd.u.member.n_voters != 0) {
                /* The leader's own record of a step: never a client's. */
                codec_dec_fail(&d, PGQ_MALFORMED,
                               "monitor_change: a request names no step and no voters");
            }
            break;
        default:
            codec_dec_fail(&d, PGQ_UNKNOWN, "unknown request (oneof case %d)", (int)m->body_case);
            break;
    }
out:
    pgq__request__free_unpacked(m, &budget.allocator);
    if (d.rv != 0) {
        api_request_close(req);
    }
    return d.rv;
}

void api_request_close(struct api_request *req)
{
    command_close(&req->cmd);
    /* A secret: not left behind in memory that is reused. */
    memset(req->token, 0, sizeof req->token);
}

void api_response_init(struct api_response *res)
{
    memset(res, 0, sizeof *res);
    state_init(&res->state);
}

void api_response_close(struct api_response *res)
{
    state_close(&res->state);
}

int codec_response_encode(const struct api_response *res,
                          const struct state *state,
                          const char *events_cluster,
                          unsigned events_limit,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len)
{
    struct scratch sc = {0};
    Pgq__Response m = PGQ__RESPONSE__INIT;
    Pgq__StatusReply status = PGQ__STATUS_REPLY__INIT;
    Pgq__EventsReply events = PGQ__EVENTS_REPLY__INIT;
    Pgq__RaftInfo info = PGQ__RAFT_INFO__INIT;
    Pgq__HeartbeatReply hb = PGQ__HEARTBEAT_REPLY__INIT;
    Pgq__WhoamiReply whoami;
    Pgq__State st;
    int rv = 0;
    m.version = PGQ_FORMAT_VERSION;
    m.code = (Pgq__Code)res->code;
    if (res->message[0] != '\0') {
        m.message = S(res->message);
    }
    if (res->leader_api[0] != '\0') {
        m.leader_api = S(res->leader_api);
    }
    if (res->body == API_STATUS || res->body == API_EVENTS) {
        const struct raft_info *ri = &res->info;
        info.id = ri->id;
        info.role = (uint32_t)ri->role;
        info.term = ri->term;
        info.commit_index = ri->commit_index;
        info.applied_index = ri->applied_index;
        info.leader_id = ri->leader_id;
        info.raft_address = S(ri->raft_address);
        info.api_address = S(ri->api_address);
        info.leader_api = S(ri->leader_api);
        info.ready = ri->ready;
        info.version = S(ri->version);
        info.has_rss_kb = true;
        info.rss_kb = ri->rss_kb;
        info.has_probes = info.has_probes_shed = info.has_fd_limit = true;
        info.has_fd_needed = info.has_loop_lag_ms = info.has_overloaded = true;
        info.probes = ri->probes, info.probes_shed = ri->probes_shed;
        info.fd_limit = ri->fd_limit, info.fd_needed = ri->fd_needed;
        info.loop_lag_ms = ri->loop_lag_ms, info.overloaded = ri->overloaded;
        if (ri->n_servers > 0) {
            info.servers = codec_scratch_alloc(&sc, ri->n_servers * sizeof *info.servers);
            for (unsigned i = 0; info.servers != NULL && i < ri->n_servers; i++) {
                Pgq__RaftServer *sv = codec_scratch_alloc(&sc, sizeof *sv);
                if (sv == NULL) {
                    info.servers = NULL;
                    break;
                }
                pgq__raft_server__init(sv);
                sv->id = ri->servers[i].id;
                sv->address = S(ri->servers[i].address);
                sv->role = (uint32_t)ri->servers[i].role;
                info.servers[i] = sv;
            }
            if (info.servers == NULL) {
                rv = PGQ_NOMEM;
            }
            info.n_servers = info.servers != NULL ? ri->n_servers : 0;
        }
    }
    if (res->body == API_STATUS) {
        m.has_more = res->more, m.more = res->more;
        rv = codec_state_to_pb(state, &st, &sc, res->more ? STATE_HEAD : STATE_NO_EVENTS,
                               events_cluster, 0);
        status.raft = &info;
        status.state = &st;
        m.body_case = PGQ__RESPONSE__BODY_STATUS;
        m.status = &status;
    } else if (res->body == API_EVENTS) {
        rv = codec_state_to_pb(state, &st, &sc, STATE_EVENTS_ONLY, events_cluster, events_limit);
        events.n_events = st.n_events;
        events.events = st.events;
        events.raft = &info;
        m.body_case = PGQ__RESPONSE__BODY_EVENTS;
        m.events = &events;
    } else if (res->body == API_HEARTBEAT) {
        hb.lease_ms = res->hb.lease_ms;
        hb.epoch = res->hb.epoch;
        hb.primary = res->hb.primary;
        hb.fence = res->hb.fence;
        hb.standby_ready = res->hb.standby_ready;
        hb.registered = res->hb.registered;
        hb.has_enforced = res->hb.enforced, hb.enforced = res->hb.enforced;
        hb.has_length_ms = res->hb.length_ms != 0, hb.length_ms = res->hb.length_ms;
        if (res->hb.follow[0] != '\0') {
            hb.follow = S(res->hb.follow);
            hb.follow_conninfo = S(res->hb.follow_conninfo);
        }
        hb.has_rejoin = res->hb.rejoin, hb.rejoin = res->hb.rejoin;
        hb.has_timeline = res->hb.timeline != 0, hb.timeline = res->hb.timeline;
        hb.has_parent_tli = res->hb.parent_tli != 0, hb.parent_tli = res->hb.parent_tli;
        hb.has_fork_lsn = res->hb.fork_lsn != 0, hb.fork_lsn = res->hb.fork_lsn;
        hb.has_stop = res->hb.stop, hb.stop = res->hb.stop;
        if (res->hb.monitors_hash != 0) {
            hb.monitors =
                codec_scratch_alloc(&sc, PGQ_MAX(res->hb.n_monitors, 1u) * sizeof *hb.monitors);
            if (hb.monitors == NULL) {
                rv = PGQ_NOMEM;
            } else {
                for (unsigned i = 0; i < res->hb.n_monitors; i++) {
                    hb.monitors[i] = S(res->hb.monitors[i]);
                }
                hb.n_monitors = res->hb.n_monitors;
            }
            hb.has_monitors_hash = true, hb.monitors_hash = res->hb.monitors_hash;
        }
        m.body_case = PGQ__RESPONSE__BODY_HEARTBEAT;
        m.heartbeat = &hb;
    } else if (res->body == API_WHOAMI) {
        rv = codec_whoami_to_pb(&res->whoami, &whoami, &sc);
        m.body_case = PGQ__RESPONSE__BODY_WHOAMI;
        m.whoami = &whoami;
    }
    if (rv == 0) {
        rv = codec_pack(&m.base, a, buf, len);
    }
    codec_scratch_free(&sc);
    return rv;
}

static void raft_info_from_pb(struct dec *d, const Pgq__RaftInfo *ri, struct raft_info *out)
{
    out->id = ri->id;
    out->role = (int)ri->role;
    out->term = ri->term;
    out->commit_index = ri->commit_index;
    out->applied_index = ri->applied_index;
    out->leader_id = ri->leader_id;
    out->ready = ri->ready;
    out->rss_kb = ri->rss_kb;
    out->probes = ri->probes, out->probes_shed = ri->probes_shed;
    out->fd_limit = ri->fd_limit, out->fd_needed = ri->fd_needed;
    out->loop_lag_ms = ri->loop_lag_ms, out->overloaded = ri->overloaded;
    codec_copy_str(d, out->raft_address, sizeof out->raft_address, ri->raft_address,
                   "raft.raft_address");
    codec_copy_str(d, out->api_address, sizeof out->api_address, ri->api_address,
                   "raft.api_address");
    codec_copy_str(d, out->leader_api, sizeof out->leader_api, ri->leader_api, "raft.leader_api");
    codec_copy_str(d, out->version, sizeof out->version, ri->version, "raft.version");
    codec_check_count(d, ri->n_servers, PGQ_MAX_MONITORS, "raft.servers");
    for (size_t i = 0; d->rv == 0 && i < ri->n_servers; i++) {
        out->servers[i].id = ri->servers[i]->id;
        out->servers[i].role = (int)ri->servers[i]->role;
        codec_copy_str(d, out->servers[i].address, sizeof out->servers[i].address,
                       ri->servers[i]->address, "raft.servers.address");
    }
    out->n_servers = d->rv == 0 ? (unsigned)ri->n_servers : 0;
}

void codec_response_from_pb(struct dec *d, const Pgq__Response *m, struct api_response *res)
{
    res->code = (int)m->code;
    res->more = m->has_more && m->more;
    codec_copy_str(d, res->message, sizeof res->message, m->message, "response.message");
    codec_copy_str(d, res->leader_api, sizeof res->leader_api, m->leader_api,
                   "response.leader_api");
    if (m->body_case == PGQ__RESPONSE__BODY_STATUS) {
        res->body = API_STATUS;
        raft_info_from_pb(d, m->status->raft, &res->info);
        codec_state_from_pb(d, m->status->state, &res->state);
    } else if (m->body_case == PGQ__RESPONSE__BODY_EVENTS) {
        res->body = API_EVENTS;
        if (m->events->raft != NULL) {
            raft_info_from_pb(d, m->events->raft, &res->info);
        }
        codec_events_from_pb(d, m->events->events, m->events->n_events, PGQ_EVENTS_LIST_MAX, NULL,
                             &res->state.events);
        if (d->rv == 0 && state_events_reindex(&res->state) != 0) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
        }
    } else if (m->body_case == PGQ__RESPONSE__BODY_HEARTBEAT) {
        res->body = API_HEARTBEAT;
        res->hb.lease_ms = m->heartbeat->lease_ms;
        res->hb.epoch = m->heartbeat->epoch;
        res->hb.primary = m->heartbeat->primary;
        res->hb.fence = m->heartbeat->fence;
        res->hb.standby_ready = m->heartbeat->standby_ready;
        res->hb.registered = m->heartbeat->registered;
        res->hb.enforced = m->heartbeat->enforced;
        res->hb.length_ms = m->heartbeat->length_ms;
        codec_copy_str(d, res->hb.follow, sizeof res->hb.follow, m->heartbeat->follow,
                       "heartbeat.follow");
        codec_copy_str(d, res->hb.follow_conninfo, sizeof res->hb.follow_conninfo,
                       m->heartbeat->follow_conninfo, "heartbeat.follow_conninfo");
        res->hb.rejoin = m->heartbeat->rejoin;
        res->hb.timeline = m->heartbeat->timeline;
        res->hb.parent_tli = m->heartbeat->parent_tli;
        res->hb.fork_lsn = m->heartbeat->fork_lsn;
        res->hb.stop = m->heartbeat->stop;
        res->hb.monitors_hash = m->heartbeat->monitors_hash;
        codec_check_count(d, m->heartbeat->n_monitors, PGQ_MAX_MONITORS, "heartbeat.monitors");
        for (size_t i = 0; d->rv == 0 && i < m->heartbeat->n_monitors; i++) {
            codec_copy_str(d, res->hb.monitors[i], sizeof res->hb.monitors[i],
                           m->heartbeat->monitors[i], "heartbeat.monitors");
        }
        res->hb.n_monitors = d->rv == 0 ? (unsigned)m->heartbeat->n_monitors : 0;
    } else if (m->body_case == PGQ__RESPONSE__BODY_WHOAMI) {
        res->body = API_WHOAMI;
        codec_whoami_from_pb(d, m->whoami, &res->whoami);
    }
}

int codec_response_decode(const uint8_t *buf,
                          size_t len,
                          struct api_response *res,
                          char *errmsg,
                          size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    struct codec_budget budget;
    Pgq__Response *m = pgq__response__unpack(codec_budget_init(&budget, len), len, buf);
    api_response_init(res);
    if (m == NULL) {
        codec_unpack_failed(&d, &budget, len, "response");
        return d.rv;
    }
    codec_check_message(&d, m->version, &m->base, len, "response");
    if (d.rv == 0) {
        codec_response_from_pb(&d, m, res);
    }
    pgq__response__free_unpacked(m, &budget.allocator);
    if (d.rv != 0) {
        api_response_close(res);
    }
    return d.rv;
}
