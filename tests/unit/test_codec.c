/* Unit tests of agent/codec.c: commands, Raft entries, snapshots and the
 * operator API round-trip exactly; bad bytes, other format versions,
 * oversized fields and unknown bodies are refused with their code and a
 * message naming the problem. Hostile inputs are built by unpacking a good
 * encoding with protobuf-c, changing one field and packing it again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "authz.h"
#include "builders.h"
#include "codec.h"
#include "command.pb-c.h"
#include "lib/util.h"
#include "members.h"
#include "state.pb-c.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint8_t *pack_message(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;
    *len = protobuf_c_message_get_packed_size(m);
    buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void assert_obs_equal(const struct obs *a, const struct obs *b)
{
    assert_string_equal(a->node, b->node);
    assert_int_equal(a->reachable, b->reachable);
    assert_string_equal(a->error, b->error);
    assert_int_equal(a->in_recovery, b->in_recovery);
    assert_int_equal(a->timeline, b->timeline);
    assert_int_equal(a->current_lsn, b->current_lsn);
    assert_int_equal(a->receive_lsn, b->receive_lsn);
    assert_int_equal(a->replay_lsn, b->replay_lsn);
    assert_int_equal(a->streaming, b->streaming);
    assert_string_equal(a->upstream, b->upstream);
    assert_int_equal(a->cache_hit_bp, b->cache_hit_bp);
    assert_int_equal(a->index_hit_bp, b->index_hit_bp);
    assert_int_equal(a->connections, b->connections);
    assert_int_equal(a->read_only, b->read_only);
    assert_int_equal(a->probed_ms, b->probed_ms);
    assert_int_equal(a->basis_seq, b->basis_seq);
    assert_int_equal(a->server_version, b->server_version);
    assert_int_equal(a->upstream_lsn, b->upstream_lsn);
    assert_int_equal(a->failing_since_ms, b->failing_since_ms);
    assert_string_equal(a->sync_standbys, b->sync_standbys);
    assert_string_equal(a->lost_slots, b->lost_slots);
    assert_int_equal(a->slot_use, b->slot_use);
    assert_string_equal(a->sync_setting, b->sync_setting);
    assert_string_equal(a->replicas, b->replicas);
    assert_int_equal(a->overload_ms, b->overload_ms);
}

/* Agent facts with every field set to something distinctive (k varies them). */
static struct agent_facts rich_facts(unsigned k)
{
    struct agent_facts f;
    memset(&f, 0, sizeof f);
    f.state = k % 2 == 0 ? PGQ_AGENT_UP : PGQ_AGENT_SILENT;
    f.pm_alive = true;
    f.answering = true;
    f.pg_state = PGQ_PGS_IN_PRODUCTION - (int)k;
    f.timeline = 7 + k;
    f.lsn = 0x300000000ull + k;
    f.in_recovery = true;
    f.fenced = true;
    f.handover = true;
    f.lease = true;
    f.pm_pid = 0x100000001ull + k;
    f.session = 0xF123456789ABCDEFull + k;
    f.host.cpu_busy_bp = 10000 - k;
    f.host.load1_c = 101 + k;
    f.host.load5_c = 202 + k;
    f.host.load15_c = UINT32_MAX - k;
    f.host.disk_read_bps = 0x400000000ull + k;
    f.host.disk_write_bps = 0x500000000ull + k;
    f.host.disk_io_bp = 9000 + k;
    f.host.net_rx_bps = 0x600000000ull + k;
    f.host.net_tx_bps = UINT64_MAX - k;
    f.since_ms = 1700000000000ull + k;
    f.facts_ms = 1700000000500ull + k;
    f.unprotected = true;
    f.silent_seq = 0x700000000ull + k;
    f.stopped_lsn = 0x800000000ull + k;
    snprintf(f.version, sizeof f.version, "0.9.%u-test", k);
    f.rejoin = PGQ_RJ_STREAMING - (int)k;
    snprintf(f.rejoin_detail, sizeof f.rejoin_detail, "rewound from pg%u: 100%% copied", k + 2);
    f.rejoin_epoch = 0x800000000ull + k;
    f.rejoin_ms = 0x900000000ull + k;
    f.lost_commits = 0xA00000000ull + k;
    f.lost_bytes = UINT64_MAX - 1 - k;
    f.lost_known = true;
    f.streaming = true;
    return f;
}

static void assert_commands_equal(const struct command *a, const struct command *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->time_ms, b->time_ms);
    assert_string_equal(a->cluster, b->cluster);
    assert_string_equal(a->node, b->node);
    assert_string_equal(a->who, b->who);
    assert_string_equal(a->from, b->from);
    switch (a->kind) {
        case CMD_HELLO:
            assert_int_equal(a->u.hello.monitor_id, b->u.hello.monitor_id);
            assert_string_equal(a->u.hello.api_address, b->u.hello.api_address);
            assert_int_equal(a->u.hello.n_voters, b->u.hello.n_voters);
            for (unsigned i = 0; i < a->u.hello.n_voters; i++) {
                assert_int_equal(a->u.hello.voters[i].id, b->u.hello.voters[i].id);
                assert_string_equal(a->u.hello.voters[i].raft_address,
                                    b->u.hello.voters[i].raft_address);
            }
            assert_int_equal(a->u.hello.feature_level, b->u.hello.feature_level);
            assert_string_equal(a->u.hello.reason, b->u.hello.reason);
            break;
        case CMD_NODE_ADD:
            assert_string_equal(a->u.node_add.conninfo, b->u.node_add.conninfo);
            assert_int_equal(a->u.node_add.priority, b->u.node_add.priority);
            break;
        case CMD_NODE_REMOVE:
            break;
        case CMD_MAINTENANCE:
            assert_int_equal(a->u.maintenance.on, b->u.maintenance.on);
            assert_int_equal(a->u.maintenance.allow_failover, b->u.maintenance.allow_failover);
            break;
        case CMD_PAUSE:
            assert_int_equal(a->u.pause.on, b->u.pause.on);
            assert_string_equal(a->u.pause.by, b->u.pause.by);
            break;
        case CMD_CLUSTER_REMOVE:
            break; /* cluster, who: above */
        case CMD_BATCH:
            assert_int_equal(a->u.batch.n, b->u.batch.n);
            for (unsigned i = 0; i < a->u.batch.n; i++) {
                assert_commands_equal(&a->u.batch.cmds[i], &b->u.batch.cmds[i]);
            }
            break;
        case CMD_REPORT:
            assert_int_equal(a->u.report.monitor_id, b->u.report.monitor_id);
            assert_string_equal(a->u.report.api_address, b->u.report.api_address);
            assert_int_equal(a->u.report.n_obs, b->u.report.n_obs);
            for (unsigned i = 0; i < a->u.report.n_obs; i++) {
                assert_obs_equal(&a->u.report.obs[i], &b->u.report.obs[i]);
            }
            assert_int_equal(a->u.report.feature_level, b->u.report.feature_level);
            assert_int_equal(a->u.report.has_resources, b->u.report.has_resources);
            assert_int_equal(a->u.report.probes_shed, b->u.report.probes_shed);
            assert_int_equal(a->u.report.probes, b->u.report.probes);
            assert_int_equal(a->u.report.fd_limit, b->u.report.fd_limit);
            assert_int_equal(a->u.report.fd_needed, b->u.report.fd_needed);
            break;
        case CMD_SET_ROLE:
            assert_int_equal(a->u.set_role.role, b->u.set_role.role);
            assert_int_equal(a->u.set_role.epoch, b->u.set_role.epoch);
            break;
        case CMD_DECIDE:
            assert_int_equal(a->u.decide.epoch, b->u.decide.epoch);
            assert_string_equal(a->u.decide.old_primary, b->u.decide.old_primary);
            assert_int_equal(a->u.decide.candidate_lsn, b->u.decide.candidate_lsn);
            assert_int_equal(a->u.decide.down_ms, b->u.decide.down_ms);
            assert_string_equal(a->u.decide.reason, b->u.decide.reason);
            assert_int_equal(a->u.decide.round, b->u.decide.round);
            assert_int_equal(a->u.decide.reference_lsn, b->u.decide.reference_lsn);
            break;
        case CMD_CUT:
            assert_int_equal(a->u.cut.epoch, b->u.cut.epoch);
            assert_string_equal(a->u.cut.old_primary, b->u.cut.old_primary);
            assert_int_equal(a->u.cut.down_ms, b->u.cut.down_ms);
            assert_string_equal(a->u.cut.reason, b->u.cut.reason);
            break;
        case CMD_ABANDON:
            assert_int_equal(a->u.abandon.round, b->u.abandon.round);
            assert_string_equal(a->u.abandon.reason, b->u.abandon.reason);
            break;
        case CMD_BLOCKED:
            assert_string_equal(a->u.blocked.reason, b->u.blocked.reason);
            break;
        case CMD_STEP:
            assert_int_equal(a->u.step.epoch, b->u.step.epoch);
            assert_int_equal(a->u.step.kind, b->u.step.kind);
            assert_int_equal(a->u.step.timeline, b->u.step.timeline);
            assert_string_equal(a->u.step.detail, b->u.step.detail);
            assert_int_equal(a->u.step.round, b->u.step.round);
            assert_int_equal(a->u.step.lsn, b->u.step.lsn);
            assert_int_equal(a->u.step.upstream_lsn, b->u.step.upstream_lsn);
            assert_int_equal(a->u.step.parent_tli, b->u.step.parent_tli);
            break;
        case CMD_AGENT:
            b_assert_facts_equal(&a->u.agent, &b->u.agent);
            break;
        case CMD_FEATURE:
            assert_int_equal(a->u.feature.level, b->u.feature.level);
            break;
        case CMD_ALLOW_UNFENCED:
            assert_string_equal(a->u.allow.by, b->u.allow.by);
            break;
        case CMD_SWITCHOVER:
            assert_string_equal(a->u.switchover.target, b->u.switchover.target);
            assert_int_equal(a->u.switchover.at_ms, b->u.switchover.at_ms);
            assert_int_equal(a->u.switchover.cancel, b->u.switchover.cancel);
            assert_int_equal(a->u.switchover.begin, b->u.switchover.begin);
            assert_string_equal(a->u.switchover.by, b->u.switchover.by);
            break;
        case CMD_SYNC_CONFIG:
            assert_int_equal(a->u.sync_config.mode, b->u.sync_config.mode);
            assert_int_equal(a->u.sync_config.number, b->u.sync_config.number);
            assert_int_equal(a->u.sync_config.replication_quorum,
                             b->u.sync_config.replication_quorum);
            assert_int_equal(a->u.sync_config.allow_data_loss, b->u.sync_config.allow_data_loss);
            assert_string_equal(a->u.sync_config.by, b->u.sync_config.by);
            break;
        case CMD_SYNC_SET:
            assert_true(sync_set_same(&a->u.sync_set.set, &b->u.sync_set.set));
            assert_int_equal(a->u.sync_set.set.epoch, b->u.sync_set.set.epoch);
            assert_string_equal(a->u.sync_set.reason, b->u.sync_set.reason);
            break;
        case CMD_ACCESS_ROLE:
            assert_string_equal(a->u.access_role.name, b->u.access_role.name);
            assert_int_equal(a->u.access_role.role, b->u.access_role.role);
            break;
        case CMD_GRANT:
            assert_string_equal(a->u.grant.name, b->u.grant.name);
            assert_int_equal(a->u.grant.action, b->u.grant.action);
            assert_int_equal(a->u.grant.deny, b->u.grant.deny);
            assert_int_equal(a->u.grant.revoke, b->u.grant.revoke);
            break;
        case CMD_AUDIT:
            assert_int_equal(a->u.audit.action, b->u.audit.action);
            assert_string_equal(a->u.audit.outcome, b->u.audit.outcome);
            assert_int_equal(a->u.audit.more, b->u.audit.more);
            assert_int_equal(a->u.audit.monitor_id, b->u.audit.monitor_id);
            break;
        case CMD_MEMBER:
            assert_int_equal(a->u.member.op, b->u.member.op);
            assert_int_equal(a->u.member.step, b->u.member.step);
            assert_int_equal(a->u.member.monitor_id, b->u.member.monitor_id);
            assert_int_equal(a->u.member.old_id, b->u.member.old_id);
            assert_string_equal(a->u.member.raft_address, b->u.member.raft_address);
            assert_string_equal(a->u.member.api_address, b->u.member.api_address);
            assert_string_equal(a->u.member.detail, b->u.member.detail);
            assert_int_equal(a->u.member.n_voters, b->u.member.n_voters);
            for (unsigned i = 0; i < a->u.member.n_voters; i++) {
                assert_int_equal(a->u.member.voters[i].id, b->u.member.voters[i].id);
                assert_string_equal(a->u.member.voters[i].raft_address,
                                    b->u.member.voters[i].raft_address);
            }
            break;
        default:
            fail_msg("unexpected kind %d", a->kind);
    }
}

static void assert_states_equal(const struct state *a, const struct state *b)
{
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->time_ms, b->time_ms);
    assert_int_equal(a->leader_gen, b->leader_gen);
    assert_int_equal(a->leader_id, b->leader_id);
    assert_int_equal(a->gen_since_ms, b->gen_since_ms);
    assert_int_equal(a->event_seq, b->event_seq);
    assert_int_equal(a->n_monitors, b->n_monitors);
    for (unsigned i = 0; i < a->n_monitors; i++) {
        assert_int_equal(a->monitors[i].id, b->monitors[i].id);
        assert_int_equal(a->monitors[i].voter, b->monitors[i].voter);
        assert_string_equal(a->monitors[i].raft_address, b->monitors[i].raft_address);
        assert_string_equal(a->monitors[i].api_address, b->monitors[i].api_address);
        assert_int_equal(a->monitors[i].probes_shed, b->monitors[i].probes_shed);
    }
    assert_int_equal(a->n_clusters, b->n_clusters);
    for (unsigned i = 0; i < a->n_clusters; i++) {
        const struct cluster *x = &a->clusters[i], *y = &b->clusters[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->epoch, y->epoch);
        assert_string_equal(x->primary, y->primary);
        assert_int_equal(x->fo.phase, y->fo.phase);
        assert_int_equal(x->fo.epoch, y->fo.epoch);
        assert_string_equal(x->fo.old_primary, y->fo.old_primary);
        assert_string_equal(x->fo.candidate, y->fo.candidate);
        assert_int_equal(x->fo.down_ms, y->fo.down_ms);
        assert_int_equal(x->fo.decided_ms, y->fo.decided_ms);
        assert_int_equal(x->fo.promoted_ms, y->fo.promoted_ms);
        assert_int_equal(x->fo.done_ms, y->fo.done_ms);
        assert_int_equal(x->fo.timeline, y->fo.timeline);
        assert_string_equal(x->fo.blocked, y->fo.blocked);
        assert_int_equal(x->fo.candidate_lsn, y->fo.candidate_lsn);
        assert_int_equal(x->fo.switchover, y->fo.switchover);
        assert_int_equal(x->fo.final_lsn, y->fo.final_lsn);
        assert_int_equal(x->paused, y->paused);
        assert_int_equal(x->pause_ms, y->pause_ms);
        assert_int_equal(x->sw.phase, y->sw.phase);
        assert_string_equal(x->sw.target, y->sw.target);
        assert_int_equal(x->sw.at_ms, y->sw.at_ms);
        assert_int_equal(x->sw.epoch, y->sw.epoch);
        assert_int_equal(x->sw.requested_ms, y->sw.requested_ms);
        assert_int_equal(x->sw.begun_ms, y->sw.begun_ms);
        assert_int_equal(x->n_nodes, y->n_nodes);
        for (unsigned j = 0; j < x->n_nodes; j++) {
            const struct node *n = &x->nodes[j], *m = &y->nodes[j];
            assert_string_equal(n->name, m->name);
            assert_string_equal(n->conninfo, m->conninfo);
            assert_int_equal(n->priority, m->priority);
            assert_int_equal(n->maintenance, m->maintenance);
            assert_int_equal(n->maintenance_allow_failover, m->maintenance_allow_failover);
            assert_int_equal(n->role, m->role);
            assert_int_equal(n->verdict, m->verdict);
            assert_int_equal(n->verdict_since_ms, m->verdict_since_ms);
            assert_int_equal(n->verdict_seq, m->verdict_seq);
            assert_int_equal(n->following_epoch, m->following_epoch);
            assert_int_equal(n->fenced_epoch, m->fenced_epoch);
            assert_int_equal(n->alert_writable, m->alert_writable);
            assert_int_equal(n->added_ms, m->added_ms);
            assert_int_equal(n->last_write_lsn, m->last_write_lsn);
            b_assert_facts_equal(&n->agent, &m->agent);
            assert_int_equal(n->n_sync, m->n_sync);
            b_assert_facts_equal(&n->agent, &m->agent);
            for (unsigned k = 0; k < n->n_sync; k++) {
                assert_string_equal(n->sync[k].name, m->sync[k].name);
                assert_int_equal(n->sync[k].left_lsn, m->sync[k].left_lsn);
            }
            assert_int_equal(n->n_views, m->n_views);
            for (unsigned k = 0; k < n->n_views; k++) {
                assert_int_equal(n->views[k].monitor_id, m->views[k].monitor_id);
                if (n->views[k].monitor_id == 0) {
                    continue;
                }
                assert_int_equal(n->views[k].gen, m->views[k].gen);
                assert_int_equal(n->views[k].applied_ms, m->views[k].applied_ms);
                {
                    struct obs vx, vy;
                    view_obs_get(&n->views[k].obs, &vx);
                    view_obs_get(&m->views[k].obs, &vy);
                    assert_obs_equal(&vx, &vy);
                }
            }
        }
    }
    assert_int_equal(b_n_events(a), b_n_events(b));
    for (unsigned i = 0; i < b_n_events(a); i++) {
        const struct event *e = b_event(a, i), *f = b_event(b, i);
        assert_int_equal(e->seq, f->seq);
        assert_int_equal(e->time_ms, f->time_ms);
        assert_string_equal(e->cluster, f->cluster);
        assert_string_equal(e->node, f->node);
        assert_int_equal(e->kind, f->kind);
        assert_string_equal(e->message, f->message);
        assert_int_equal(e->duration_ms, f->duration_ms);
        assert_int_equal(e->epoch, f->epoch);
        assert_string_equal(e->who, f->who);
        assert_string_equal(e->from, f->from);
        assert_int_equal(e->action, f->action);
        assert_string_equal(e->outcome, f->outcome);
    }
    assert_int_equal(a->feature_level, b->feature_level);
    assert_int_equal(a->n_roles, b->n_roles);
    for (unsigned i = 0; i < a->n_roles; i++) {
        assert_string_equal(a->roles[i].name, b->roles[i].name);
        assert_int_equal(a->roles[i].role, b->roles[i].role);
    }
    assert_int_equal(a->n_grants, b->n_grants);
    for (unsigned i = 0; i < a->n_grants; i++) {
        assert_string_equal(a->grants[i].name, b->grants[i].name);
        assert_int_equal(a->grants[i].action, b->grants[i].action);
        assert_string_equal(a->grants[i].cluster, b->grants[i].cluster);
        assert_int_equal(a->grants[i].deny, b->grants[i].deny);
    }
}

/* A full observation: every field set to something distinctive. */
static struct obs rich_obs(const char *node, unsigned k)
{
    struct obs o;
    memset(&o, 0, sizeof o);
    pgq_strlcpy(o.node, node, sizeof o.node);
    o.reachable = k % 2 == 0;
    if (!o.reachable) {
        pgq_strlcpy(o.error, "connect: timeout after 5000 ms", sizeof o.error);
    }
    o.in_recovery = true;
    o.timeline = 3 + k;
    o.current_lsn = 0x100000000ull + k;
    o.receive_lsn = 0x200000000ull + k;
    o.replay_lsn = 0x1FFFFFFFFull + k;
    o.streaming = true;
    pgq_strlcpy(o.upstream, "10.0.0.1:5432", sizeof o.upstream);
    o.cache_hit_bp = 9950 + k;
    o.index_hit_bp = k == 1 ? PGQ_BP_NONE : 10000;
    o.connections = 42 + k;
    o.read_only = k == 2;
    o.probed_ms = 1700000000000ull + k;
    o.basis_seq = 77 + k;
    o.server_version = 150004;
    o.upstream_lsn = 0x200100000ull + k;
    o.failing_since_ms = 1700000000000ull + k;
    o.failing_ms = k == 0 ? 0 : 2500 + k;
    o.system_id = k == 1 ? 0 : 0xF000000000000001ull + k; /* the high bit: shown negative */
    o.addr_hash = o.system_id != 0 ? 0xABCD000000000000ull + k : 0;
    o.port = o.system_id != 0 ? 5432 + k : 0;
    o.data_dir_hash = k == 2 ? 0x1234567890ABCDEFull : 0;
    pgq_strlcpy(o.sync_standbys, k == 0 ? "" : "pg2,pg3", sizeof o.sync_standbys);
    pgq_strlcpy(o.lost_slots, k == 1 ? "pgq_pg3" : "", sizeof o.lost_slots);
    o.slot_use = (int)k; /* unknown, own, none */
    pgq_strlcpy(o.sync_setting, k == 1 ? "ANY 1 (\"pg2\", \"pg3\")" : "", sizeof o.sync_setting);
    pgq_strlcpy(o.replicas, k == 1 ? "pg2,pg3" : "", sizeof o.replicas);
    o.overload_ms = k == 1 ? 1800 : 0; /* a timeout while the monitor's loop ran late */
    return o;
}

/* One command of every kind, each field set. */
/* A SyncSet for epoch 3 without a state: names comma-separated. */
static struct command cmd_sync_set(uint64_t t, int method, unsigned k, const char *names)
{
    struct command c;
    command_init(&c, CMD_SYNC_SET);
    c.time_ms = t;
    pgq_strlcpy(c.cluster, B_CLUSTER, sizeof c.cluster);
    c.u.sync_set.set.epoch = 3;
    c.u.sync_set.set.method = method;
    c.u.sync_set.set.k = k;
    for (const char *p = names; *p != '\0';) {
        size_t len = strcspn(p, ",");
        snprintf(c.u.sync_set.set.names[c.u.sync_set.set.n_names++], PGQ_NAME_MAX, "%.*s", (int)len,
                 p);
        p += len + (p[len] == ',' ? 1 : 0);
    }
    return c;
}

static unsigned every_command(struct command *out)
{
    static const uint64_t voters[] = {1, 2, 3, 4, 5};
    struct obs obs[3];
    unsigned n = 0;
    for (unsigned k = 0; k < 3; k++) {
        obs[k] = rich_obs(k == 0 ? "pg1" : k == 1 ? "pg2" : "pg3", k);
    }
    out[n] = b_cmd_hello(1001, 3, voters, 5);
    out[n].u.hello.feature_level = 2;
    n++;
    out[n] = b_cmd_hello(1001, 2, voters, 5);
    out[n].u.hello.feature_level = 3;
    pgq_strlcpy(out[n].u.hello.reason, "monitor 3 stopped answering (nothing from it for 812 ms)",
                sizeof out[n].u.hello.reason);
    n++;
    out[n++] = b_cmd_node_add(1002, "east", "pg1", "host=10.0.0.1 port=5433 sslmode=require", 77);
    out[n++] = b_cmd_node_remove(1003, "pg2");
    out[n++] = b_cmd_maintenance(1004, "pg3", true);
    out[n++] = b_cmd_maintenance(1005, "pg3", false);
    out[n] = b_cmd_report(1006, 2, obs, 3);
    out[n].u.report.feature_level = 2;
    n++;
    out[n++] = b_cmd_report(1007, 3, NULL, 0);
    out[n] = b_cmd_report(1007, 1, NULL, 0);
    out[n].u.report.has_resources = true;
    out[n].u.report.probes_shed = 27;
    out[n].u.report.probes = 60;
    out[n].u.report.fd_limit = 240;
    out[n].u.report.fd_needed = 267;
    n++;
    out[n++] = b_cmd_set_role(1008, "pg1", PGQ_ROLE_PRIMARY, 0);
    out[n] = b_cmd_decide(1009, "pg2", 8, "pg1");
    out[n].u.decide.candidate_lsn = 0xABCDEF0123ull;
    out[n].u.decide.down_ms = 999;
    n++;
    out[n++] = b_cmd_blocked(1010, "no eligible standby: pg2: lag 2097152 bytes");
    out[n++] = b_cmd_blocked(1011, "");
    out[n] = b_cmd_step(1012, PGQ_STEP_PROMOTED, "pg2", 8, 4);
    pgq_strlcpy(out[n].u.step.detail, "pg_promote() returned true", sizeof out[n].u.step.detail);
    n++;
    out[n++] = b_cmd_step(1013, PGQ_STEP_DONE, NULL, 8, 0);
    out[n++] = b_cmd_step(UINT64_MAX, PGQ_STEP_FENCED, "pg1", UINT64_MAX, UINT32_MAX);
    out[n] = b_cmd_cut_step(1014, "pg3", 8, 41, 0x5000, 3);
    out[n].u.step.upstream_lsn = 0x5100;
    n++;
    out[n] = b_cmd_step(1015, PGQ_STEP_PROMOTED, "pg2", 9, 5);
    out[n].u.step.parent_tli = 4;
    out[n].u.step.lsn = 0x6000;
    n++;
    out[n++] = b_cmd_cut(1016, 8, "pg1");
    out[n] = b_cmd_decide(1017, "pg2", 9, "pg1");
    out[n].u.decide.round = 41;
    out[n].u.decide.reference_lsn = 0x7000;
    n++;
    command_init(&out[n], CMD_ABANDON);
    out[n].time_ms = 1018;
    pgq_strlcpy(out[n].cluster, B_CLUSTER, sizeof out[n].cluster);
    out[n].u.abandon.round = 41;
    pgq_strlcpy(out[n].u.abandon.reason, "fewer than a majority", sizeof out[n].u.abandon.reason);
    n++;
    {
        struct agent_facts f = rich_facts(0);
        out[n++] = b_cmd_agent(1019, "pg1", &f);
        f = rich_facts(1);
        out[n++] = b_cmd_agent(1020, "pg2", &f);
    }
    out[n++] = b_cmd_feature(1021, 7); /* the codec carries any level: apply judges it */
    out[n++] = b_cmd_allow_unfenced(1022, "pg1", "alice@ops");
    out[n] = b_cmd_maintenance(1023, "pg1", true);
    out[n].u.maintenance.allow_failover = true;
    n++;
    out[n++] = b_cmd_pause(1024, true, "pgquorumctl (user alice)");
    out[n++] = b_cmd_pause(1025, false, "");
    out[n++] = b_cmd_switchover(1026, "pg3", 0x1900000000ull);
    out[n++] = b_cmd_switchover_begin(1027);
    out[n++] = b_cmd_switchover_cancel(1028, "pgquorum: the primary did not stop in time");
    out[n++] = b_cmd_sync_mode(1023, PGQ_SYNC_STRICT, 2);
    out[n++] = b_cmd_sync_mode(1024, -1, 3);
    out[n++] = b_cmd_sync_rq(1025, "pg3", false);
    out[n++] = b_cmd_sync_rq(1026, "pg3", true);
    out[n++] = b_cmd_allow_data_loss(1027, "bob@ops");
    out[n] = cmd_sync_set(1028, PGQ_SYNC_ANY, 2, "pg2,pg3,pg-4");
    pgq_strlcpy(out[n].u.sync_set.reason, "pg4 joined", sizeof out[n].u.sync_set.reason);
    n++;
    out[n++] = cmd_sync_set(1029, PGQ_SYNC_NONE, 0, "");
    out[n++] = b_cmd_role(1030, "user:alice", AUTHZ_ROLE_OPERATOR);
    out[n++] = b_cmd_role(1031, "node:east/e1", AUTHZ_ROLE_NONE);
    out[n++] = b_cmd_grant(1032, "user:bob", AUTHZ_NODE_REMOVE, "east", false, false);
    out[n++] = b_cmd_grant(1033, "user:bob", AUTHZ_STATUS, "", true, false);
    out[n++] = b_cmd_grant(1034, "user:bob", AUTHZ_STATUS, "", false, true);
    out[n++] =
        b_cmd_audit(1035, "user:bob", AUTHZ_PAUSE, "denied: user:bob (viewer) may not pause");
    out[n] = b_cmd_audit(1036, "anonymous", AUTHZ_STATUS, "denied: unknown token");
    out[n].u.audit.more = 41;
    out[n].from[0] = '\0';
    out[n].node[0] = '\0';
    n++;
    /* A client's write with who asked and from where (level 5). */
    out[n] = b_cmd_pause(1037, true, "user:carol");
    pgq_strlcpy(out[n].who, "user:carol", sizeof out[n].who);
    pgq_strlcpy(out[n].from, "10.0.0.7", sizeof out[n].from);
    n++;
    /* A batch (level 6) of commands above: a report and a registration. */
    command_init(&out[n], CMD_BATCH);
    out[n].time_ms = 1038;
    out[n].u.batch.cmds = calloc(2, sizeof *out[n].u.batch.cmds);
    assert_non_null(out[n].u.batch.cmds);
    for (int want = CMD_NODE_ADD; want != 0; want = want == CMD_NODE_ADD ? CMD_REPORT : 0) {
        unsigned i = 0;
        while (i < n &&
               (out[i].kind != want || (want == CMD_REPORT && out[i].u.report.n_obs == 0))) {
            i++;
        }
        assert_true(i < n);
        assert_int_equal(command_copy(&out[n].u.batch.cmds[out[n].u.batch.n++], &out[i]), 0);
    }
    assert_int_equal(out[n].u.batch.n, 2);
    n++;
    out[n++] = b_cmd_cluster_remove(1042, "east", "user:alice"); /* level 6 */
    /* Level 6: the steps of a monitor change, one of them a stop with why. */
    {
        static const uint64_t three[] = {1, 2, 3}, four[] = {1, 2, 3, 4}, after[] = {2, 3, 4};
        out[n++] = b_cmd_member(1037, PGQ_MEMBER_REMOVE, PGQ_MEMBER_ASKED, 3, 0, three, 3);
        out[n++] = b_cmd_member(1038, PGQ_MEMBER_ADD, PGQ_MEMBER_SPARE, 4, 0, three, 3);
        out[n++] = b_cmd_member(1039, PGQ_MEMBER_REPLACE, PGQ_MEMBER_VOTER, 4, 1, four, 4);
        out[n++] = b_cmd_member(1040, PGQ_MEMBER_REPLACE, PGQ_MEMBER_REMOVED, 4, 1, after, 3);
        out[n] = b_cmd_member(1041, PGQ_MEMBER_ADD, PGQ_MEMBER_FAILED, 5, 0, after, 3);
        out[n].u.member.api_address[0] = '\0';
        pgq_strlcpy(out[n].u.member.detail, "monitor 5 does not catch up",
                    sizeof out[n].u.member.detail);
        n++;
    }
    return n;
}

/* ---- commands ------------------------------------------------------------------- */

static void test_command_round_trip(void **ctx)
{
    /* Every kind of command decodes to the same fields and re-encodes to the same bytes. */
    struct command cmds[96];
    unsigned n = every_command(cmds);
    bool kinds[CMD_MEMBER + 1] = {false};
    (void)ctx;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *buf, *again;
        size_t len, again_len;
        struct command back;
        char err[256] = "";
        kinds[cmds[i].kind] = true;
        assert_int_equal(codec_command_encode(&cmds[i], NULL, &buf, &len), 0);
        if (codec_command_decode(buf, len, &back, err, sizeof err) != 0) {
            fail_msg("command %u: %s", i, err);
        }
        assert_commands_equal(&cmds[i], &back);
        assert_int_equal(codec_command_encode(&back, NULL, &again, &again_len), 0);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(buf);
        free(again);
        command_close(&back);
    }
    for (int k = CMD_HELLO; k <= CMD_MEMBER; k++) {
        if (!kinds[k]) {
            fail_msg("command kind %d not covered", k);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        command_close(&cmds[i]);
    }
}

static size_t headroom_allocs;
static void *counting_alloc(size_t size)
{
    headroom_allocs++;
    return malloc(size);
}

static void test_command_headroom(void **ctx)
{
    /* With a codec_alloc the message starts after the requested headroom, from the caller's
     * allocator. */
    struct codec_alloc a = {counting_alloc, 4};
    struct command cmd = b_cmd_maintenance(5, "pg1", true), back;
    uint8_t *buf, *plain;
    size_t len, plain_len;
    (void)ctx;
    headroom_allocs = 0;
    assert_int_equal(codec_command_encode(&cmd, &a, &buf, &len), 0);
    assert_int_equal(headroom_allocs, 1);
    assert_int_equal(codec_command_encode(&cmd, NULL, &plain, &plain_len), 0);
    assert_int_equal(len, plain_len);
    assert_memory_equal(buf + 4, plain, len);
    assert_int_equal(codec_command_decode(buf + 4, len, &back, NULL, 0), 0);
    assert_commands_equal(&cmd, &back);
    free(buf);
    free(plain);
}

static void test_command_encode_unknown_kind(void **ctx)
{
    /* A command of no known kind cannot be encoded: PGQ_UNKNOWN. */
    struct command cmd;
    uint8_t *buf = NULL;
    size_t len = 0;
    (void)ctx;
    command_init(&cmd, 0);
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), PGQ_UNKNOWN);
    command_init(&cmd, 42);
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), PGQ_UNKNOWN);
    assert_null(buf);
}

/* Pack m (a current version) and decode it: its code, and the error in err. */
static int decode_command_pb(Pgq__Command *m, char *err, size_t size)
{
    struct command back;
    size_t len;
    uint8_t *buf;
    int rv;
    m->version = PGQ_FORMAT_VERSION;
    buf = pack_message(&m->base, &len);
    rv = codec_command_decode(buf, len, &back, err, size);
    if (rv == 0) {
        command_close(&back);
    }
    free(buf);
    return rv;
}

static void test_command_unknown_oneof(void **ctx)
{
    /* A Command whose body is unset (or from a newer build) is PGQ_UNKNOWN, naming the case. */
    Pgq__Command m = PGQ__COMMAND__INIT;
    char err[256] = "";
    (void)ctx;
    m.time_ms = 5;
    assert_int_equal(decode_command_pb(&m, err, sizeof err), PGQ_UNKNOWN);
    assert_string_equal(err, "unknown command (oneof case 0)");
}

static void test_report_resources_all_or_none(void **ctx)
{
    /* A report that says some of its probes-shed numbers and not the others is malformed,
     * naming the fields: a half-said count would be read as zero. */
    Pgq__Command m = PGQ__COMMAND__INIT;
    Pgq__Report rep = PGQ__REPORT__INIT;
    char err[256] = "";
    (void)ctx;
    rep.cluster = (char *)(uintptr_t) "";
    rep.monitor_id = 2;
    rep.has_probes_shed = true;
    rep.probes_shed = 4;
    m.body_case = PGQ__COMMAND__BODY_REPORT;
    m.report = &rep;
    assert_int_equal(decode_command_pb(&m, err, sizeof err), PGQ_MALFORMED);
    b_assert_contains(err, "probes_shed, probes, fd_limit, fd_needed: all or none");
}

static void test_command_unpack_budget(void **ctx)
{
    /* A command of many tiny elements, which would cost far more memory unpacked than its size,
     * is refused while unpacking (before its element count could be checked), saying why. */
    enum { N = 5000 };
    Pgq__Command m = PGQ__COMMAND__INIT;
    Pgq__Report rep = PGQ__REPORT__INIT;
    Pgq__Observation *obs = calloc(N, sizeof *obs);
    Pgq__Observation **ptrs = calloc(N, sizeof *ptrs);
    struct command back;
    char err[256] = "";
    uint8_t *buf;
    size_t len;
    (void)ctx;
    assert_non_null(obs);
    assert_non_null(ptrs);
    for (unsigned i = 0; i < N; i++) {
        pgq__observation__init(&obs[i]);
        obs[i].node = (char *)(uintptr_t) "";
        ptrs[i] = &obs[i];
    }
    rep.cluster = (char *)(uintptr_t)B_CLUSTER;
    rep.monitor_id = 1;
    rep.obs = ptrs;
    rep.n_obs = N;
    m.version = PGQ_FORMAT_VERSION;
    m.body_case = PGQ__COMMAND__BODY_REPORT;
    m.report = &rep;
    buf = pack_message(&m.base, &len);
    assert_true(len < 10 * N); /* a few bytes each */
    assert_int_equal(codec_command_decode(buf, len, &back, err, sizeof err), PGQ_MALFORMED);
    b_assert_contains(err, "decodes to more than 16 times its size");
    free(buf);
    free(ptrs);
    free(obs);
}

static void test_command_wrong_version(void **ctx)
{
    /* A command of another format version is PGQ_VERSION, and the message names the version. */
    struct command cmd = b_cmd_node_remove(5, "pg1"), back;
    Pgq__Command *m;
    uint8_t *buf, *bad;
    size_t len, bad_len;
    char err[256] = "";
    (void)ctx;
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    m = pgq__command__unpack(NULL, len, buf);
    assert_non_null(m);
    m->version = 2;
    bad = pack_message(&m->base, &bad_len);
    pgq__command__free_unpacked(m, NULL);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), PGQ_VERSION);
    assert_string_equal(err, "command has format version 2, this build speaks 1");
    free(buf);
    free(bad);
}

static void test_command_malformed(void **ctx)
{
    /* Bytes that are not a Command, and every truncation of a good one, are refused. */
    static const uint8_t garbage[][8] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        {0x08},
        {0x0a, 0x05, 'a'},
        {0x08, 0x01}, /* version only: time_ms is required */
    };
    static const size_t garbage_len[] = {8, 1, 3, 2};
    struct command cmds[96], back;
    unsigned n = every_command(cmds);
    char err[256];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(garbage); i++) {
        err[0] = '\0';
        assert_int_equal(codec_command_decode(garbage[i], garbage_len[i], &back, err, sizeof err),
                         PGQ_MALFORMED);
        b_assert_contains(err, "malformed command");
    }
    for (unsigned i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        assert_int_equal(codec_command_encode(&cmds[i], NULL, &buf, &len), 0);
        for (size_t cut = 0; cut < len; cut++) {
            int rv = codec_command_decode(buf, cut, &back, err, sizeof err);
            if (rv != PGQ_MALFORMED && rv != PGQ_UNKNOWN) {
                fail_msg("command %u cut at %zu of %zu: %d", i, cut, len, rv);
            }
        }
        free(buf);
        command_close(&cmds[i]);
    }
}

static void test_switchover_cancel_and_begin(void **ctx)
{
    /* A switchover that would both cancel and begin is refused by the decoder, as a Raft command
     * and as an operator's request alike. */
    struct command cmd = b_cmd_switchover_begin(5), back;
    struct api_request req, rback;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    cmd.u.switchover.cancel = true;
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    assert_int_equal(codec_command_decode(buf, len, &back, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "switchover: both cancel and begin");
    free(buf);
    memset(&req, 0, sizeof req);
    req.kind = API_SWITCHOVER;
    req.cmd = cmd;
    err[0] = '\0';
    assert_int_equal(codec_request_encode(&req, NULL, &buf, &len), 0);
    assert_int_equal(codec_request_decode(buf, len, &rback, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "switchover: both cancel and begin");
    free(buf);
}

static void test_command_corrupted_bytes(void **ctx)
{
    /* A command with any one byte corrupted is refused by the codec, or applied or refused by the
     * state machine. */
    static const char *const two[] = {"pg2", "pg3"};
    struct command cmds[96];
    unsigned n = every_command(cmds);
    struct state base;
    (void)ctx;
    state_init(&base);
    b_healthy(&base, 1000, 3, "pg1", 0x1000, two, 2);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        assert_int_equal(codec_command_encode(&cmds[i], NULL, &buf, &len), 0);
        for (size_t b = 0; b < len; b++) {
            static const uint8_t masks[] = {0xFF, 0x01, 0x80};
            for (size_t k = 0; k < PGQ_ARRAY_SIZE(masks); k++) {
                struct command back;
                char err[256];
                int rv;
                buf[b] ^= masks[k];
                rv = codec_command_decode(buf, len, &back, err, sizeof err);
                if (rv == 0) {
                    struct state s;
                    struct apply_result res;
                    uint8_t *enc;
                    size_t enc_len;
                    state_init(&s);
                    b_copy(&s, &base);
                    (void)cluster_apply(&s, &back, &res);
                    b_encode(&s, &enc, &enc_len);
                    free(enc);
                    state_close(&s);
                    command_close(&back);
                } else if (rv != PGQ_MALFORMED && rv != PGQ_TOOBIG && rv != PGQ_VERSION &&
                           rv != PGQ_UNKNOWN) {
                    fail_msg("command %u byte %zu: code %d (%s)", i, b, rv, err);
                }
                buf[b] ^= masks[k];
            }
        }
        free(buf);
        command_close(&cmds[i]);
    }
    state_close(&base);
}

static void test_command_oversized_fields(void **ctx)
{
    /* A name of 64+ bytes or a conninfo of 1024+ bytes is PGQ_TOOBIG, naming the field. */
    struct command cmd = b_cmd_node_add(5, B_CLUSTER, "pg1", "host=pg1", 50), back;
    char long_name[PGQ_NAME_MAX + 1], long_conninfo[PGQ_CONNINFO_MAX + 1];
    char ok_name[PGQ_NAME_MAX], ok_conninfo[PGQ_CONNINFO_MAX];
    Pgq__Command *m;
    uint8_t *buf, *bad;
    size_t len, bad_len;
    char err[256] = "";
    char *saved;
    (void)ctx;
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0'; /* 64 bytes */
    memset(long_conninfo, 'c', sizeof long_conninfo - 1);
    long_conninfo[sizeof long_conninfo - 1] = '\0'; /* 1024 bytes */
    memcpy(ok_name, long_name, sizeof ok_name - 1);
    ok_name[sizeof ok_name - 1] = '\0'; /* 63 bytes */
    memcpy(ok_conninfo, long_conninfo, sizeof ok_conninfo - 1);
    ok_conninfo[sizeof ok_conninfo - 1] = '\0'; /* 1023 bytes */
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    m = pgq__command__unpack(NULL, len, buf);
    assert_non_null(m);

    saved = m->node_add->name;
    m->node_add->name = long_name;
    bad = pack_message(&m->base, &bad_len);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node_add.name is longer than 63 bytes");
    free(bad);
    m->node_add->name = ok_name;
    bad = pack_message(&m->base, &bad_len);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), 0);
    assert_string_equal(back.node, ok_name);
    free(bad);
    m->node_add->name = saved;

    saved = m->node_add->conninfo;
    m->node_add->conninfo = long_conninfo;
    bad = pack_message(&m->base, &bad_len);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node_add.conninfo is longer than 1023 bytes");
    free(bad);
    m->node_add->conninfo = ok_conninfo;
    bad = pack_message(&m->base, &bad_len);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), 0);
    assert_string_equal(back.u.node_add.conninfo, ok_conninfo);
    free(bad);
    m->node_add->conninfo = saved;

    pgq__command__free_unpacked(m, NULL);
    free(buf);
}

static void test_command_too_many_entries(void **ctx)
{
    /* Repeated fields over their limit (report.obs, hello.voters) are PGQ_TOOBIG. */
    struct obs *many = calloc(PGQ_REPORT_OBS_MAX + 1, sizeof *many);
    struct command cmd, back;
    Pgq__Command *m;
    Pgq__VoterAddr extra = PGQ__VOTER_ADDR__INIT;
    Pgq__VoterAddr *voters[PGQ_MAX_MONITORS + 1];
    Pgq__VoterAddr **saved;
    size_t saved_n;
    uint8_t *buf, *bad;
    size_t len, bad_len;
    char err[256] = "";
    static const uint64_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    (void)ctx;
    assert_non_null(many);
    for (unsigned i = 0; i <= PGQ_REPORT_OBS_MAX; i++) {
        snprintf(many[i].node, sizeof many[i].node, "n%u", i);
    }
    cmd = b_cmd_report(5, 1, many, PGQ_REPORT_OBS_MAX + 1);
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    assert_int_equal(codec_command_decode(buf, len, &back, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field report.obs has 4097 entries, more than 4096");
    command_close(&cmd);
    free(buf);
    cmd = b_cmd_report(5, 1, many, PGQ_MAX_NODES);
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    assert_int_equal(codec_command_decode(buf, len, &back, err, sizeof err), 0);
    assert_int_equal(back.u.report.n_obs, PGQ_MAX_NODES);
    command_close(&back);
    command_close(&cmd);
    free(buf);
    free(many);

    cmd = b_cmd_hello(5, 1, ids, 9);
    assert_int_equal(codec_command_encode(&cmd, NULL, &buf, &len), 0);
    m = pgq__command__unpack(NULL, len, buf);
    assert_non_null(m);
    memcpy(voters, m->hello->voters, 9 * sizeof voters[0]);
    extra.id = 10;
    extra.raft_address = (char *)(uintptr_t) "10.0.0.10:7001";
    voters[9] = &extra;
    saved = m->hello->voters;
    saved_n = m->hello->n_voters;
    m->hello->voters = voters;
    m->hello->n_voters = 10;
    bad = pack_message(&m->base, &bad_len);
    m->hello->voters = saved;
    m->hello->n_voters = saved_n;
    pgq__command__free_unpacked(m, NULL);
    assert_int_equal(codec_command_decode(bad, bad_len, &back, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field hello.voters has 10 entries, more than 9");
    free(bad);
    free(buf);
}

/* ---- Raft entries --------------------------------------------------------------------- */

static void test_entry_round_trip(void **ctx)
{
    /* Log entries carry their length, are zero-padded to 8 bytes, and decode to the command. */
    struct command cmds[96];
    unsigned n = every_command(cmds);
    (void)ctx;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *entry, *plain;
        size_t len, plain_len;
        struct command back;
        char err[256] = "";
        assert_int_equal(codec_entry_encode(&cmds[i], NULL, &entry, &len), 0);
        assert_int_equal(codec_command_encode(&cmds[i], NULL, &plain, &plain_len), 0);
        assert_int_equal(len % 8, 0);
        assert_true(len >= plain_len + 4 && len < plain_len + 4 + 8);
        assert_int_equal(
            (size_t)entry[0] << 24 | (size_t)entry[1] << 16 | (size_t)entry[2] << 8 | entry[3],
            plain_len);
        assert_memory_equal(entry + 4, plain, plain_len);
        for (size_t k = 4 + plain_len; k < len; k++) {
            assert_int_equal(entry[k], 0);
        }
        if (codec_entry_decode(entry, len, &back, err, sizeof err) != 0) {
            fail_msg("entry %u: %s", i, err);
        }
        assert_commands_equal(&cmds[i], &back);
        command_close(&back);
        command_close(&cmds[i]);
        free(entry);
        free(plain);
    }
}

static void test_entry_malformed(void **ctx)
{
    /* An entry too short, announcing more than it holds, or with non-zero padding is malformed. */
    struct command cmds[96], back;
    unsigned n = every_command(cmds);
    bool padded = false;
    char err[256] = "";
    (void)ctx;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *entry;
        size_t len, msg_len;
        uint32_t too_many;
        assert_int_equal(codec_entry_encode(&cmds[i], NULL, &entry, &len), 0);
        assert_int_equal(codec_entry_decode(entry, 3, &back, err, sizeof err), PGQ_MALFORMED);
        assert_string_equal(err, "log entry of 3 bytes is too short");
        msg_len =
            (size_t)entry[0] << 24 | (size_t)entry[1] << 16 | (size_t)entry[2] << 8 | entry[3];
        if (len > 4 + msg_len) {
            padded = true;
            entry[len - 1] = 1;
            assert_int_equal(codec_entry_decode(entry, len, &back, err, sizeof err), PGQ_MALFORMED);
            assert_string_equal(err, "log entry has trailing bytes");
            entry[len - 1] = 0;
        }
        too_many = (uint32_t)(len - 4 + 1);
        entry[0] = (uint8_t)(too_many >> 24);
        entry[1] = (uint8_t)(too_many >> 16);
        entry[2] = (uint8_t)(too_many >> 8);
        entry[3] = (uint8_t)too_many;
        assert_int_equal(codec_entry_decode(entry, len, &back, err, sizeof err), PGQ_MALFORMED);
        b_assert_contains(err, "log entry announces");
        free(entry);
        command_close(&cmds[i]);
    }
    assert_true(padded);
}

/* ---- snapshots ------------------------------------------------------------------------ */

static const char *const standbys[] = {"pg2", "pg3"};

/* A state with every part filled: two clusters, views with full observations,
 * a failover half-way, a fenced node, a blocked reason, events, an agent's facts. */
static void rich_state(struct state *s)
{
    struct command c;
    struct obs o[3];
    b_healthy(s, 1000, 3, "pg1", 0x3000000, standbys, 2);
    c = b_cmd_node_add(1100, "east", "e1", "postgresql://10.0.9.1:5433/app", 100);
    b_apply(s, &c);
    for (unsigned k = 0; k < 3; k++) {
        o[k] = rich_obs(k == 0 ? "pg1" : k == 1 ? "pg2" : "pg3", k);
        o[k].basis_seq = s->seq;
    }
    o[0].reachable = false; /* the primary fails */
    o[1].reachable = true;  /* the candidate is up, as a decision requires */
    o[1].error[0] = '\0';
    o[1].overload_ms = 0; /* level 6, below: the state is at level 1 */
    c = b_cmd_report(2000, 1, o, 3);
    b_apply(s, &c);
    command_close(&c);
    c = b_cmd_report(2001, 2, o, 3);
    b_apply(s, &c);
    command_close(&c);
    c = b_cmd_blocked(2100,
                      "held: waiting for WAL positions probed after the primary failed from: pg3");
    b_apply(s, &c);
    b_maintenance(s, 2200, "pg3", true);
    b_decide(s, 9000, "pg2");
    b_step(s, 9500, PGQ_STEP_PROMOTED, "pg2", 4);
    o[0] = b_writable(s, "pg1", 0x3000100); /* the old primary comes back writable */
    pgq_strlcpy(o[0].sync_standbys, "pg2,pg3", sizeof o[0].sync_standbys);
    b_report(s, 9600, 3, &o[0]);
    o[0].current_lsn = 0x3000200;
    pgq_strlcpy(o[0].sync_standbys, "pg3", sizeof o[0].sync_standbys);
    b_report(s, 9650, 3, &o[0]);
    b_step(s, 9700, PGQ_STEP_FENCED, "pg1", 0);
    b_hello(s, 9800, 2, 3);
    b_feature_level(s, 9850);
    b_pause(s, 9900, true);
    c = b_cmd_maintenance(9950, "pg2", true);
    c.u.maintenance.allow_failover = true;
    b_apply(s, &c);
    /* An agent beside pg1 in the middle of its rejoin: every fact, at feature level 3. */
    {
        struct agent_facts f = rich_facts(0);
        b_agent(s, 9900, "pg1", &f);
    }
    /* Level 6: a down view taken while its monitor's loop ran late, and a
     * monitor that sheds probes for want of descriptors. */
    o[2] = rich_obs("pg3", 1);
    o[2].basis_seq = s->seq;
    c = b_cmd_report(9970, 1, &o[2], 1);
    b_apply(s, &c);
    command_close(&c);
    c = b_cmd_report(9971, 2, NULL, 0);
    c.u.report.has_resources = true;
    c.u.report.probes_shed = 4;
    c.u.report.probes = 9;
    c.u.report.fd_limit = 200;
    c.u.report.fd_needed = 240;
    b_apply(s, &c);
    /* Level 5: roles, grants and denies, a write with who asked, a refusal recorded. */
    c = b_cmd_role(9960, "user:carol", AUTHZ_ROLE_OPERATOR);
    b_apply(s, &c);
    c = b_cmd_role(9961, "user:bob", AUTHZ_ROLE_VIEWER);
    b_apply(s, &c);
    c = b_cmd_grant(9962, "user:bob", AUTHZ_MAINTENANCE, "east", false, false);
    b_apply(s, &c);
    c = b_cmd_grant(9963, "user:carol", AUTHZ_SWITCHOVER, "", true, false);
    b_apply(s, &c);
    c = b_cmd_maintenance(9964, "pg3", false);
    pgq_strlcpy(c.who, "user:carol", sizeof c.who);
    pgq_strlcpy(c.from, "10.0.0.7", sizeof c.from);
    b_apply(s, &c);
    c = b_cmd_audit(9965, "user:bob", AUTHZ_PAUSE, "denied: user:bob (viewer) may not pause");
    b_apply(s, &c);
}

static void test_state_round_trip(void **ctx)
{
    /* A snapshot decodes to the same state, field by field, and re-encodes to the same bytes. */
    struct state s, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    assert_int_equal(b_cluster(&s)->fo.phase, PGQ_FO_PROMOTED);
    assert_true(b_node(&s, "pg1")->alert_writable);
    assert_int_equal(b_node(&s, "pg1")->fenced_epoch, 2);
    assert_int_equal(b_node(&s, "pg1")->n_sync, 2);
    assert_int_equal(b_node(&s, "pg1")->sync[0].left_lsn, 0x3000200); /* pg2 left */
    assert_true(b_cluster(&s)->paused);
    assert_int_equal(b_cluster(&s)->pause_ms, 9900);
    assert_true(b_node(&s, "pg2")->maintenance_allow_failover);
    assert_int_equal(s.n_roles, 2);
    assert_int_equal(state_member(&s, 2)->probes_shed, 4);
    assert_int_equal(b_node(&s, "pg3")->views[0].obs.overload_ms, 1800);
    assert_string_equal(s.roles[0].name, "user:bob"); /* sorted */
    assert_int_equal(s.n_grants, 2);
    assert_string_equal(b_event(&s, b_n_events(&s) - 2)->who, "user:carol");
    assert_string_equal(b_event(&s, b_n_events(&s) - 1)->outcome,
                        "denied: user:bob (viewer) may not pause");
    b_encode(&s, &buf, &len);
    if (codec_state_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_states_equal(&s, &back);
    b_assert_same(&s, &back);
    free(buf);
    state_close(&back);
    state_close(&s);
}

/* A switchover begun and cut: pg1's agent stopped it cleanly at 0x3000100 for pg3. */
static void switchover_state(struct state *s)
{
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    b_healthy(s, 1000, 3, "pg1", 0x3000000, standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 1100, "pg1", &f);
    b_switchover(s, 2000, "pg3", 7000);
    b_switchover_begin(s, 7000);
    f = b_agent_stopped(0x3000100);
    b_agent(s, 7500, "pg1", &f);
    c = b_cmd_cut(7600, 1, "pg1");
    b_apply(s, &c);
}

static void test_state_round_trip_switchover(void **ctx)
{
    /* A snapshot keeps a switchover under way (phase, target, time, epoch, when asked and
     * begun), the failover it became (a switchover, its final position) and where the agent
     * said the primary's WAL ends. */
    struct state s, back;
    const struct cluster *c;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    state_init(&s);
    switchover_state(&s);
    b_encode(&s, &buf, &len);
    if (codec_state_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_states_equal(&s, &back);
    b_assert_same(&s, &back);
    c = b_cluster(&back);
    assert_int_equal(c->sw.phase, PGQ_SW_STOPPING);
    assert_string_equal(c->sw.target, "pg3");
    assert_int_equal(c->sw.at_ms, 7000);
    assert_int_equal(c->sw.epoch, 1);
    assert_int_equal(c->sw.requested_ms, 2000);
    assert_int_equal(c->sw.begun_ms, 7000);
    assert_int_equal(c->fo.phase, PGQ_FO_CUTTING);
    assert_true(c->fo.switchover);
    assert_int_equal(c->fo.final_lsn, 0x3000100);
    assert_int_equal(b_node(&back, "pg1")->agent.stopped_lsn, 0x3000100);
    free(buf);
    state_close(&back);
    state_close(&s);
}

static void test_state_round_trip_empty(void **ctx)
{
    /* An empty state round-trips to an empty state. */
    struct state s, back;
    uint8_t *buf;
    size_t len;
    (void)ctx;
    state_init(&s);
    b_encode(&s, &buf, &len);
    assert_int_equal(codec_state_decode(buf, len, &back, NULL, 0), 0);
    assert_states_equal(&s, &back);
    assert_null(back.clusters);
    assert_int_equal(back.events.n, 0);
    free(buf);
    state_close(&back);
}

static void test_restored_state_applies_identically(void **ctx)
{
    /* A state restored from a snapshot applies later commands exactly like the original. */
    struct state s, back;
    struct obs o;
    (void)ctx;
    state_init(&s);
    state_init(&back);
    rich_state(&s);
    b_copy(&back, &s);
    for (struct state *x = &s;; x = &back) {
        o = b_recovering(x, "pg1", 0x3000200);
        b_report(x, 10000, 1, &o);
        b_set_role(x, 10100, "pg1", PGQ_ROLE_STANDBY);
        b_step(x, 10200, PGQ_STEP_REPOINTED, "pg1", 4);
        b_maintenance(x, 10300, "pg3", false);
        b_step(x, 10400, PGQ_STEP_REPOINTED, "pg3", 4);
        b_step(x, 10500, PGQ_STEP_DONE, NULL, 0);
        if (x == &back) {
            break;
        }
    }
    assert_states_equal(&s, &back);
    b_assert_same(&s, &back);
    state_close(&s);
    state_close(&back);
}

static void test_snapshot_wrapped_round_trip(void **ctx)
{
    /* The padded snapshot for libraft decodes to the same state. */
    struct state s, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    assert_int_equal(codec_snapshot_encode(&s, NULL, &buf, &len), 0);
    assert_int_equal(len % 8, 0);
    if (codec_snapshot_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    b_assert_same(&s, &back);
    state_close(&back);
    assert_int_equal(codec_snapshot_decode(buf, 2, &back, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "snapshot of 2 bytes is too short");
    free(buf);
    state_close(&back);
    state_close(&s);
}

static void test_state_malformed(void **ctx)
{
    /* Bytes that are not a snapshot, and truncations of a good one, are PGQ_MALFORMED. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    struct state s, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    assert_int_equal(codec_state_decode(garbage, sizeof garbage, &back, err, sizeof err),
                     PGQ_MALFORMED);
    b_assert_contains(err, "malformed snapshot (7 bytes)");
    assert_int_equal(back.n_clusters, 0);
    state_init(&s);
    rich_state(&s);
    b_encode(&s, &buf, &len);
    for (size_t cut = 0; cut < len; cut += 7) {
        assert_int_equal(codec_state_decode(buf, cut, &back, err, sizeof err), PGQ_MALFORMED);
        assert_null(back.clusters);
    }
    free(buf);
    state_close(&s);
}

static void test_state_corrupted_bytes(void **ctx)
{
    /* A snapshot with any one byte corrupted decodes cleanly or is refused with a code, never
     * crashes. */
    struct state s, back;
    uint8_t *buf;
    size_t len;
    char err[256];
    unsigned decoded = 0;
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    b_encode(&s, &buf, &len);
    for (size_t i = 0; i < len; i++) {
        static const uint8_t masks[] = {0xFF, 0x01, 0x80};
        for (size_t k = 0; k < PGQ_ARRAY_SIZE(masks); k++) {
            int rv;
            buf[i] ^= masks[k];
            rv = codec_state_decode(buf, len, &back, err, sizeof err);
            if (rv == 0) {
                uint8_t *again;
                size_t again_len;
                decoded++;
                b_encode(&back, &again, &again_len); /* a decoded state is a usable state */
                free(again);
                state_close(&back);
            } else if (rv != PGQ_MALFORMED && rv != PGQ_TOOBIG && rv != PGQ_VERSION) {
                fail_msg("byte %zu ^ 0x%02x: code %d (%s)", i, masks[k], rv, err);
            }
            buf[i] ^= masks[k];
        }
    }
    assert_true(decoded > 0); /* most flips land in values, which protobuf cannot check */
    free(buf);
    state_close(&s);
}

/* Unpack a snapshot of a rich state for the tests to spoil one field. */
static Pgq__Snapshot *rich_snapshot(struct state *s, uint8_t **buf)
{
    size_t len;
    Pgq__Snapshot *m;
    state_init(s);
    rich_state(s);
    b_encode(s, buf, &len);
    m = pgq__snapshot__unpack(NULL, len, *buf);
    assert_non_null(m);
    return m;
}

static int decode_spoiled(Pgq__Snapshot *m, char *err, size_t errsize)
{
    struct state back;
    size_t len;
    uint8_t *bad = pack_message(&m->base, &len);
    int rv = codec_state_decode(bad, len, &back, err, errsize);
    free(bad);
    if (rv == 0) {
        state_close(&back);
    } else {
        assert_int_equal(back.n_clusters, 0);
        assert_int_equal(back.events.n, 0);
    }
    return rv;
}

static void test_state_wrong_version(void **ctx)
{
    /* A snapshot of another format version is PGQ_VERSION, naming the version. */
    struct state s;
    uint8_t *buf;
    Pgq__Snapshot *m = rich_snapshot(&s, &buf);
    char err[256] = "";
    (void)ctx;
    m->version = 7;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_VERSION);
    assert_string_equal(err, "snapshot has format version 7, this build speaks 1");
    m->version = 0;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_VERSION);
    assert_string_equal(err, "snapshot has format version 0, this build speaks 1");
    pgq__snapshot__free_unpacked(m, NULL);
    free(buf);
    state_close(&s);
}

static void test_state_oversized_fields(void **ctx)
{
    /* Oversized strings in a snapshot are PGQ_TOOBIG and the message names the field. */
    struct state s;
    uint8_t *buf;
    Pgq__Snapshot *m = rich_snapshot(&s, &buf);
    Pgq__Node *node = m->state->clusters[0]->nodes[0];
    char long_name[PGQ_NAME_MAX + 1], long_conninfo[PGQ_CONNINFO_MAX + 1];
    char long_reason[PGQ_REASON_MAX + 1];
    char err[256] = "";
    char *saved;
    (void)ctx;
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memset(long_conninfo, 'c', sizeof long_conninfo - 1);
    long_conninfo[sizeof long_conninfo - 1] = '\0';
    memset(long_reason, 'r', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';

    saved = node->name;
    node->name = long_name;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node.name is longer than 63 bytes");
    node->name = saved;

    saved = node->conninfo;
    node->conninfo = long_conninfo;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node.conninfo is longer than 1023 bytes");
    node->conninfo = saved;

    saved = m->state->clusters[0]->name;
    m->state->clusters[0]->name = long_name;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field cluster.name is longer than 63 bytes");
    m->state->clusters[0]->name = saved;

    saved = m->state->clusters[0]->failover->blocked;
    m->state->clusters[0]->failover->blocked = long_reason;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field failover.blocked is longer than 255 bytes");
    m->state->clusters[0]->failover->blocked = saved;

    saved = node->views[0]->obs->node;
    node->views[0]->obs->node = long_name;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field observation.node is longer than 63 bytes");
    node->views[0]->obs->node = saved;

    saved = m->state->events[0]->message;
    m->state->events[0]->message = long_reason;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field event.message is longer than 255 bytes");
    m->state->events[0]->message = saved;

    /* Unspoiled, the same message decodes. */
    assert_int_equal(decode_spoiled(m, err, sizeof err), 0);
    pgq__snapshot__free_unpacked(m, NULL);
    free(buf);
    state_close(&s);
}

static void test_state_out_of_range(void **ctx)
{
    /* Enum values (a node's agent's rejoin state, a switchover's phase too) and priorities out
     * of range, and too many views, make a snapshot invalid. */
    struct state s;
    uint8_t *buf;
    Pgq__Snapshot *m = rich_snapshot(&s, &buf);
    Pgq__Node *node = m->state->clusters[0]->nodes[0];
    Pgq__MonitorView *views[PGQ_MAX_MONITORS + 1];
    Pgq__MonitorView **saved_views;
    size_t saved_n;
    uint32_t role = node->role, verdict = node->verdict, priority = node->priority;
    uint32_t phase = m->state->clusters[0]->failover->phase;
    char err[256] = "";
    (void)ctx;
    node->role = PGQ__N_ROLES;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "node pg1: role, verdict or priority out of range");
    node->role = role;
    node->verdict = PGQ__N_VERDICTS;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "node pg1: role, verdict or priority out of range");
    node->verdict = verdict;
    node->priority = 101;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "node pg1: role, verdict or priority out of range");
    node->priority = priority;
    m->state->clusters[0]->failover->phase = PGQ__N_FO_PHASES;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "cluster main: failover phase out of range");
    m->state->clusters[0]->failover->phase = phase;
    node->agent->has_rejoin = true;
    node->agent->rejoin = PGQ__N_RJ_STATES;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    b_assert_contains(err, "agent.rejoin 7 out of range");
    node->agent->rejoin = PGQ_RJ_NONE;
    m->state->clusters[0]->has_sw_phase = true;
    m->state->clusters[0]->sw_phase = PGQ__N_SW_PHASES;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_MALFORMED);
    assert_string_equal(err, "cluster.sw_phase 3 out of range");
    m->state->clusters[0]->sw_phase = PGQ_SW_STOPPING;
    assert_int_equal(decode_spoiled(m, err, sizeof err), 0);
    m->state->clusters[0]->has_sw_phase = false;
    m->state->clusters[0]->sw_phase = 0;

    for (unsigned i = 0; i <= PGQ_MAX_MONITORS; i++) {
        views[i] = node->views[0];
    }
    saved_views = node->views;
    saved_n = node->n_views;
    node->views = views;
    node->n_views = PGQ_MAX_MONITORS + 1;
    assert_int_equal(decode_spoiled(m, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node.views has 10 entries, more than 9");
    node->views = saved_views;
    node->n_views = saved_n;

    assert_int_equal(decode_spoiled(m, err, sizeof err), 0);
    pgq__snapshot__free_unpacked(m, NULL);
    free(buf);
    state_close(&s);
}

/* ---- operator API ------------------------------------------------------------------- */

static void request_round_trip(const struct api_request *req, struct api_request *back)
{
    uint8_t *buf, *again;
    size_t len, again_len;
    char err[256] = "";
    assert_int_equal(codec_request_encode(req, NULL, &buf, &len), 0);
    if (codec_request_decode(buf, len, back, err, sizeof err) != 0) {
        fail_msg("request kind %d: %s", req->kind, err);
    }
    assert_int_equal(back->kind, req->kind);
    assert_int_equal(codec_request_encode(back, NULL, &again, &again_len), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, buf, len);
    free(buf);
    free(again);
}

static void test_request_round_trip(void **ctx)
{
    /* Every kind of API request decodes to the same fields and re-encodes to the same bytes. */
    struct api_request req, back;
    struct obs o[2];
    (void)ctx;

    memset(&req, 0, sizeof req);
    req.kind = API_STATUS;
    request_round_trip(&req, &back);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_NODE_ADD;
    req.cmd = b_cmd_node_add(0, "east", "pg7", "host=10.0.0.7 port=6432", 90);
    request_round_trip(&req, &back);
    assert_int_equal(back.cmd.kind, CMD_NODE_ADD);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_NODE_REMOVE;
    req.cmd = b_cmd_node_remove(0, "pg7");
    request_round_trip(&req, &back);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_MAINTENANCE;
    req.cmd = b_cmd_maintenance(0, "pg7", true);
    request_round_trip(&req, &back);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);
    req.cmd.u.maintenance.allow_failover = true;
    request_round_trip(&req, &back);
    assert_true(back.cmd.u.maintenance.allow_failover);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_PAUSE;
    req.cmd = b_cmd_pause(0, true, "pgquorumctl (user bob)");
    pgq_strlcpy(req.cmd.cluster, "east", sizeof req.cmd.cluster);
    request_round_trip(&req, &back);
    assert_int_equal(back.cmd.kind, CMD_PAUSE);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_SWITCHOVER;
    req.cmd = b_cmd_switchover(0, "pg3", 1800000000000ull);
    pgq_strlcpy(req.cmd.cluster, "east", sizeof req.cmd.cluster);
    request_round_trip(&req, &back);
    assert_int_equal(back.cmd.kind, CMD_SWITCHOVER);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);
    req.cmd = b_cmd_switchover(0, "", 0); /* the best standby, at once */
    request_round_trip(&req, &back);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);
    req.cmd = b_cmd_switchover_cancel(0, "pgquorumctl (user bob)");
    request_round_trip(&req, &back);
    assert_true(back.cmd.u.switchover.cancel);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_REPORT;
    o[0] = rich_obs("pg1", 0);
    o[1] = rich_obs("pg2", 1);
    req.cmd = b_cmd_report(0, 3, o, 2);
    request_round_trip(&req, &back);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);
    api_request_close(&req);

    memset(&req, 0, sizeof req);
    req.kind = API_EVENTS;
    pgq_strlcpy(req.cluster, "east", sizeof req.cluster);
    req.limit = 25;
    request_round_trip(&req, &back);
    assert_string_equal(back.cluster, "east");
    assert_int_equal(back.limit, 25);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_FAILPOINT;
    pgq_strlcpy(req.fp_name, "actuator.before_promote", sizeof req.fp_name);
    pgq_strlcpy(req.fp_action, "crash", sizeof req.fp_action);
    pgq_strlcpy(req.fp_arg, "pg2", sizeof req.fp_arg);
    request_round_trip(&req, &back);
    assert_string_equal(back.fp_name, "actuator.before_promote");
    assert_string_equal(back.fp_action, "crash");
    assert_string_equal(back.fp_arg, "pg2");
    api_request_close(&back);

    /* Level 5: a token with any request; whoami, role, grant, a forwarded audit. */
    memset(&req, 0, sizeof req);
    req.kind = API_WHOAMI;
    pgq_strlcpy(req.token, "s3cr3t token", sizeof req.token);
    request_round_trip(&req, &back);
    assert_string_equal(back.token, "s3cr3t token");
    api_request_close(&back);
    assert_string_equal(back.token, ""); /* wiped on close */
    {
        struct command cmds[3];
        const int kinds[3] = {API_ROLE, API_GRANT, API_AUDIT};
        cmds[0] = b_cmd_role(0, "user:bob", AUTHZ_ROLE_ADMIN);
        cmds[1] = b_cmd_grant(0, "node:main/pg1", AUTHZ_STATUS, "main", true, false);
        cmds[2] = b_cmd_audit(0, "user:bob", AUTHZ_NODE_ADD, "refused: node pg1 exists");
        for (int i = 0; i < 3; i++) {
            memset(&req, 0, sizeof req);
            req.kind = kinds[i];
            req.cmd = cmds[i];
            request_round_trip(&req, &back);
            assert_commands_equal(&req.cmd, &back.cmd);
            api_request_close(&back);
        }
    }

    /* Level 6: monitor add, remove, replace as pgquorumctl sends them (no step, no
     * voters: those are the leader's record; who asked is the monitor's to stamp). */
    {
        char err[256];
        uint8_t *buf;
        size_t len;
        memset(&req, 0, sizeof req);
        req.kind = API_MONITOR_CHANGE;
        req.cmd = b_cmd_member(0, PGQ_MEMBER_REPLACE, 0, 4, 1, NULL, 0);
        request_round_trip(&req, &back);
        assert_int_equal(back.cmd.kind, CMD_MEMBER);
        assert_int_equal(back.cmd.u.member.op, PGQ_MEMBER_REPLACE);
        assert_int_equal(back.cmd.u.member.monitor_id, 4);
        assert_int_equal(back.cmd.u.member.old_id, 1);
        assert_string_equal(back.cmd.u.member.raft_address, "10.0.0.4:7001");
        assert_string_equal(back.cmd.u.member.api_address, "10.0.0.4:7002");
        assert_string_equal(back.cmd.who, "");
        api_request_close(&back);
        req.cmd = b_cmd_member(0, PGQ_MEMBER_REMOVE, 0, 3, 0, NULL, 0);
        req.cmd.u.member.raft_address[0] = req.cmd.u.member.api_address[0] = '\0';
        request_round_trip(&req, &back);
        assert_int_equal(back.cmd.u.member.op, PGQ_MEMBER_REMOVE);
        assert_int_equal(back.cmd.u.member.monitor_id, 3);
        assert_string_equal(back.cmd.u.member.raft_address, "");
        api_request_close(&back);
        /* A client cannot send the leader's record of a step. */
        req.cmd.u.member.step = PGQ_MEMBER_VOTER;
        assert_int_equal(codec_request_encode(&req, NULL, &buf, &len), 0);
        assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), PGQ_MALFORMED);
        assert_non_null(strstr(err, "no step"));
        free(buf);
    }
}

static void test_status_of_one_cluster(void **ctx)
{
    /* A status reply for one cluster (level 6) carries that cluster alone, and none for an
     * unknown one; without a name, every cluster. */
    struct state st, *s = &st;
    struct api_response res, back;
    struct command c;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    const char *names[] = {"c2", "nope", ""};
    const unsigned want[] = {1, 0, 3};
    (void)ctx;
    state_init(s);
    for (unsigned i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "c%u", i + 1);
        c = b_cmd_node_add(100 + i, name, "pg1", "host=10.0.0.1", 50);
        b_apply(s, &c);
    }
    for (unsigned k = 0; k < 3; k++) {
        api_response_init(&res);
        res.body = API_STATUS;
        assert_int_equal(codec_response_encode(&res, s, names[k], 0, NULL, &buf, &len), 0);
        if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
            fail_msg("%s", err);
        }
        assert_int_equal(back.state.n_clusters, want[k]);
        if (want[k] == 1) {
            assert_string_equal(back.state.clusters[0].name, "c2");
        }
        free(buf);
        api_response_close(&back);
        api_response_close(&res);
    }
    state_close(s);
}

static void test_response_whoami(void **ctx)
{
    /* A whoami reply carries the identity, its address, role, whether it is a static admin,
     * whether authentication is on, and its grants and denies. */
    struct api_response res, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    api_response_init(&res);
    res.body = API_WHOAMI;
    pgq_strlcpy(res.whoami.name, "user:dave", sizeof res.whoami.name);
    pgq_strlcpy(res.whoami.ip, "10.0.0.9", sizeof res.whoami.ip);
    res.whoami.role = AUTHZ_ROLE_OPERATOR;
    res.whoami.static_admin = true;
    res.whoami.auth = true;
    res.whoami.n_grants = 2;
    pgq_strlcpy(res.whoami.grants[0].name, "user:dave", sizeof res.whoami.grants[0].name);
    res.whoami.grants[0].action = AUTHZ_STATUS;
    pgq_strlcpy(res.whoami.grants[1].name, "user:dave", sizeof res.whoami.grants[1].name);
    res.whoami.grants[1].action = AUTHZ_NODE_REMOVE;
    res.whoami.grants[1].deny = true;
    pgq_strlcpy(res.whoami.grants[1].cluster, "east", sizeof res.whoami.grants[1].cluster);
    assert_int_equal(codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len), 0);
    if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(back.body, API_WHOAMI);
    assert_string_equal(back.whoami.name, "user:dave");
    assert_string_equal(back.whoami.ip, "10.0.0.9");
    assert_int_equal(back.whoami.role, AUTHZ_ROLE_OPERATOR);
    assert_true(back.whoami.static_admin);
    assert_true(back.whoami.auth);
    assert_int_equal(back.whoami.n_grants, 2);
    assert_int_equal(back.whoami.grants[1].action, AUTHZ_NODE_REMOVE);
    assert_true(back.whoami.grants[1].deny);
    assert_string_equal(back.whoami.grants[1].cluster, "east");
    free(buf);
    api_response_close(&back);
    api_response_close(&res);
}

static void test_request_heartbeat_round_trip(void **ctx)
{
    /* A heartbeat request carries the agent's node, every one of its facts and what registers
     * the node; an operator's allowance carries the node and who gave it; both re-encode to the
     * same bytes. */
    struct api_request req, back;
    (void)ctx;
    memset(&req, 0, sizeof req);
    req.kind = API_HEARTBEAT;
    command_init(&req.cmd, CMD_AGENT);
    pgq_strlcpy(req.cmd.cluster, "east", sizeof req.cmd.cluster);
    pgq_strlcpy(req.cmd.node, "pg7", sizeof req.cmd.node);
    req.cmd.u.agent = rich_facts(0);
    pgq_strlcpy(req.conninfo, "host=10.0.0.7 port=6432", sizeof req.conninfo);
    req.priority = 90;
    request_round_trip(&req, &back);
    assert_int_equal(back.cmd.kind, CMD_AGENT);
    assert_string_equal(back.cmd.cluster, "east");
    assert_string_equal(back.cmd.node, "pg7");
    b_assert_facts_equal(&req.cmd.u.agent, &back.cmd.u.agent);
    assert_string_equal(back.conninfo, "host=10.0.0.7 port=6432");
    assert_int_equal(back.priority, 90);
    api_request_close(&back);

    /* Without what registers the node: nothing invented. */
    req.conninfo[0] = '\0';
    req.priority = 0;
    req.cmd.u.agent = b_agent_facts(false);
    request_round_trip(&req, &back);
    b_assert_facts_equal(&req.cmd.u.agent, &back.cmd.u.agent);
    assert_string_equal(back.conninfo, "");
    assert_int_equal(back.priority, 0);
    api_request_close(&back);

    memset(&req, 0, sizeof req);
    req.kind = API_ALLOW_UNFENCED;
    req.cmd = b_cmd_allow_unfenced(0, "pg1", "alice@ops");
    request_round_trip(&req, &back);
    assert_int_equal(back.cmd.kind, CMD_ALLOW_UNFENCED);
    assert_commands_equal(&req.cmd, &back.cmd);
    api_request_close(&back);

    /* Managed synchronous replication: mode and number, a node's quorum, an allowance. */
    {
        struct command cmds[3];
        cmds[0] = b_cmd_sync_mode(0, PGQ_SYNC_QUORUM, 2);
        cmds[1] = b_cmd_sync_rq(0, "pg2", false);
        cmds[2] = b_cmd_allow_data_loss(0, "alice@ops");
        for (unsigned i = 0; i < 3; i++) {
            memset(&req, 0, sizeof req);
            req.kind = API_SYNC;
            req.cmd = cmds[i];
            request_round_trip(&req, &back);
            assert_int_equal(back.kind, API_SYNC);
            assert_int_equal(back.cmd.kind, CMD_SYNC_CONFIG);
            assert_string_equal(back.cmd.cluster, B_CLUSTER);
            assert_string_equal(back.cmd.node, req.cmd.node);
            assert_commands_equal(&req.cmd, &back.cmd);
            api_request_close(&back);
        }
    }
}

enum { SPOIL_STATE, SPOIL_PG_STATE, SPOIL_REJOIN };

/* A heartbeat request, encoded, with one of its facts' enums (SPOIL_*) set to `value`. */
static uint8_t *spoiled_heartbeat(int field, uint32_t value, size_t *len)
{
    Pgq__Request m = PGQ__REQUEST__INIT;
    Pgq__Heartbeat hb = PGQ__HEARTBEAT__INIT;
    Pgq__AgentFacts facts = PGQ__AGENT_FACTS__INIT;
    m.version = PGQ_FORMAT_VERSION;
    m.body_case = PGQ__REQUEST__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    hb.cluster = (char *)(uintptr_t)B_CLUSTER;
    hb.name = (char *)(uintptr_t) "pg1";
    hb.facts = &facts;
    facts.has_state = true;
    facts.state = PGQ_AGENT_UP;
    facts.has_pg_state = true;
    facts.pg_state = PGQ_PGS_IN_PRODUCTION;
    if (field == SPOIL_PG_STATE) {
        facts.pg_state = value;
    } else if (field == SPOIL_REJOIN) {
        facts.has_rejoin = true;
        facts.rejoin = value;
    } else {
        facts.state = value;
    }
    return pack_message(&m.base, len);
}

static void test_heartbeat_out_of_range(void **ctx)
{
    /* A heartbeat whose agent, PostgreSQL or rejoin state is out of range is refused, naming
     * the field; the last value in range decodes. */
    static const struct
    {
        int field;
        uint32_t value;
        int code;
        const char *message;
    } cases[] = {
        {SPOIL_STATE, PGQ__N_AGENT_STATES, PGQ_MALFORMED, "agent.state 3 out of range"},
        {SPOIL_STATE, UINT32_MAX, PGQ_MALFORMED, "agent.state 4294967295 out of range"},
        {SPOIL_STATE, PGQ__N_AGENT_STATES - 1, 0, ""},
        {SPOIL_PG_STATE, PGQ__N_PG_STATES, PGQ_MALFORMED, "agent.pg_state 8 out of range"},
        {SPOIL_PG_STATE, 1000, PGQ_MALFORMED, "agent.pg_state 1000 out of range"},
        {SPOIL_PG_STATE, PGQ__N_PG_STATES - 1, 0, ""},
        {SPOIL_REJOIN, PGQ__N_RJ_STATES, PGQ_MALFORMED, "agent.rejoin 7 out of range"},
        {SPOIL_REJOIN, UINT32_MAX, PGQ_MALFORMED, "agent.rejoin 4294967295 out of range"},
        {SPOIL_REJOIN, PGQ__N_RJ_STATES - 1, 0, ""},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct api_request back;
        char err[256] = "";
        size_t len;
        uint8_t *buf = spoiled_heartbeat(cases[i].field, cases[i].value, &len);
        int rv = codec_request_decode(buf, len, &back, err, sizeof err);
        if (rv != cases[i].code) {
            fail_msg("case %zu: code %d (%s), want %d", i, rv, err, cases[i].code);
        }
        if (rv == 0) {
            assert_int_equal(back.kind, API_HEARTBEAT);
            if (cases[i].field == SPOIL_REJOIN) {
                assert_int_equal(back.cmd.u.agent.rejoin, (int)cases[i].value);
            }
            api_request_close(&back);
        } else {
            b_assert_contains(err, cases[i].message);
        }
        free(buf);
    }
}

static void test_request_refused(void **ctx)
{
    /* Requests that are garbage, of another version, of unknown kind or oversized are refused. */
    Pgq__Request m = PGQ__REQUEST__INIT;
    Pgq__NodeAdd add = PGQ__NODE_ADD__INIT;
    struct api_request req, back;
    char long_name[PGQ_NAME_MAX + 1];
    char err[256] = "";
    uint8_t *buf;
    size_t len;
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff};
    (void)ctx;
    assert_int_equal(codec_request_decode(garbage, sizeof garbage, &back, err, sizeof err),
                     PGQ_MALFORMED);
    assert_string_equal(err, "malformed request (3 bytes)");

    m.version = 2;
    m.body_case = PGQ__REQUEST__BODY__NOT_SET;
    buf = pack_message(&m.base, &len);
    assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), PGQ_VERSION);
    assert_string_equal(err, "request has format version 2, this build speaks 1");
    free(buf);

    m.version = PGQ_FORMAT_VERSION;
    buf = pack_message(&m.base, &len);
    assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), PGQ_UNKNOWN);
    assert_string_equal(err, "unknown request (oneof case 0)");
    free(buf);

    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    add.cluster = (char *)(uintptr_t)B_CLUSTER;
    add.name = long_name;
    add.conninfo = (char *)(uintptr_t) "host=x";
    m.body_case = PGQ__REQUEST__BODY_NODE_ADD;
    m.node_add = &add;
    buf = pack_message(&m.base, &len);
    assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), PGQ_TOOBIG);
    assert_string_equal(err, "field node_add.name is longer than 63 bytes");
    free(buf);

    memset(&req, 0, sizeof req);
    req.kind = 0;
    assert_int_equal(codec_request_encode(&req, NULL, &buf, &len), PGQ_UNKNOWN);
}

static void test_request_not_canonical(void **ctx)
{
    /* A request whose bytes do not encode back to themselves is refused, saying why: a NUL byte
     * inside a string (protobuf-c would cut the name short), a field sent twice, a varint padded
     * with extra bytes. */
    Pgq__Request m = PGQ__REQUEST__INIT;
    Pgq__NodeAdd add = PGQ__NODE_ADD__INIT;
    struct api_request back;
    char err[256] = "";
    uint8_t *buf, *nul, *twice;
    size_t len;
    static const uint8_t padded[] = {0x08, 0x81, 0x00, 0x52, 0x00}; /* version 1 in 2 bytes */
    (void)ctx;
    add.cluster = (char *)(uintptr_t)B_CLUSTER;
    add.name = (char *)(uintptr_t) "pgX";
    add.conninfo = (char *)(uintptr_t) "host=x";
    m.version = PGQ_FORMAT_VERSION;
    m.body_case = PGQ__REQUEST__BODY_NODE_ADD;
    m.node_add = &add;
    buf = pack_message(&m.base, &len);
    assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), 0);
    api_request_close(&back);

    nul = NULL;
    for (size_t i = 0; i + 3 <= len && nul == NULL; i++) {
        if (memcmp(buf + i, "pgX", 3) == 0) {
            nul = buf + i;
        }
    }
    assert_non_null(nul);
    nul[2] = '\0';
    assert_int_equal(codec_request_decode(buf, len, &back, err, sizeof err), PGQ_MALFORMED);
    b_assert_contains(err, "malformed request: ");
    b_assert_contains(err, "a NUL byte inside a string");

    twice = malloc(len + 2);
    assert_non_null(twice);
    nul[2] = 'X';
    memcpy(twice, buf, len);
    twice[len] = 0x08; /* version again */
    twice[len + 1] = PGQ_FORMAT_VERSION;
    assert_int_equal(codec_request_decode(twice, len + 2, &back, err, sizeof err), PGQ_MALFORMED);
    b_assert_contains(err, "malformed request: ");
    free(twice);
    free(buf);

    assert_int_equal(codec_request_decode(padded, sizeof padded, &back, err, sizeof err),
                     PGQ_MALFORMED);
    b_assert_contains(err, "malformed request: 5 bytes encode back to 4");
}

static void test_response_not_leader(void **ctx)
{
    /* A NOT_LEADER response carries the leader's API address and the message. */
    struct api_response res, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    api_response_init(&res);
    res.code = API_NOT_LEADER;
    pgq_strlcpy(res.message, "monitor 2 is not the leader; retry at 10.0.0.1:7002",
                sizeof res.message);
    pgq_strlcpy(res.leader_api, "10.0.0.1:7002", sizeof res.leader_api);
    assert_int_equal(codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len), 0);
    if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(back.code, API_NOT_LEADER);
    assert_string_equal(back.leader_api, "10.0.0.1:7002");
    assert_string_equal(back.message, res.message);
    assert_int_equal(back.body, 0);
    free(buf);
    api_response_close(&back);
    api_response_close(&res);
}

static void test_response_status(void **ctx)
{
    /* A STATUS response carries the Raft info and the whole state but its history, unchanged. */
    struct api_response res, back;
    struct state s;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    api_response_init(&res);
    res.code = API_OK;
    res.body = API_STATUS;
    res.info.id = 2;
    res.info.role = PGQ_MON_LEADER;
    res.info.term = 7;
    res.info.commit_index = 1234;
    res.info.applied_index = 1233;
    res.info.leader_id = 2;
    pgq_strlcpy(res.info.raft_address, "10.0.0.2:7001", sizeof res.info.raft_address);
    pgq_strlcpy(res.info.api_address, "10.0.0.2:7002", sizeof res.info.api_address);
    pgq_strlcpy(res.info.leader_api, "10.0.0.2:7002", sizeof res.info.leader_api);
    res.info.ready = true;
    pgq_strlcpy(res.info.version, PGQ_VERSION_STRING, sizeof res.info.version);
    res.info.rss_kb = 8192;
    res.info.probes = 60;
    res.info.probes_shed = 27;
    res.info.fd_limit = 240;
    res.info.fd_needed = 267;
    res.info.loop_lag_ms = 1300;
    res.info.overloaded = true;
    /* Its Raft configuration: three voters and a monitor catching up. */
    for (unsigned i = 0; i < 4; i++) {
        res.info.servers[i].id = i + 1;
        res.info.servers[i].role = i < 3 ? MEMBERS_ROLE_VOTER : MEMBERS_ROLE_STANDBY;
        snprintf(res.info.servers[i].address, sizeof res.info.servers[i].address, "10.0.0.%u:7001",
                 i + 1);
    }
    res.info.n_servers = 4;
    assert_int_equal(codec_response_encode(&res, &s, NULL, 0, NULL, &buf, &len), 0);
    if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(back.code, API_OK);
    assert_int_equal(back.body, API_STATUS);
    assert_int_equal(back.info.id, 2);
    assert_int_equal(back.info.role, PGQ_MON_LEADER);
    assert_int_equal(back.info.term, 7);
    assert_int_equal(back.info.commit_index, 1234);
    assert_int_equal(back.info.applied_index, 1233);
    assert_int_equal(back.info.leader_id, 2);
    assert_string_equal(back.info.raft_address, "10.0.0.2:7001");
    assert_string_equal(back.info.api_address, "10.0.0.2:7002");
    assert_string_equal(back.info.leader_api, "10.0.0.2:7002");
    assert_int_equal(back.info.n_servers, 4);
    assert_int_equal(back.info.servers[3].id, 4);
    assert_int_equal(back.info.servers[3].role, MEMBERS_ROLE_STANDBY);
    assert_string_equal(back.info.servers[3].address, "10.0.0.4:7001");
    assert_true(back.info.ready);
    assert_string_equal(back.info.version, PGQ_VERSION_STRING);
    assert_int_equal(back.info.rss_kb, 8192);
    assert_int_equal(back.info.probes, 60);
    assert_int_equal(back.info.probes_shed, 27);
    assert_int_equal(back.info.fd_limit, 240);
    assert_int_equal(back.info.fd_needed, 267);
    assert_int_equal(back.info.loop_lag_ms, 1300);
    assert_true(back.info.overloaded);
    /* Everything but the history, which has its own request. */
    assert_int_equal(b_n_events(&back.state), 0);
    {
        struct state expected;
        state_init(&expected);
        b_copy(&expected, &s);
        event_ring_close(&expected.events);
        event_ring_close(&expected.recent);
        for (unsigned i = 0; i < expected.n_clusters; i++) {
            event_ring_close(&expected.clusters[i].events);
        }
        assert_states_equal(&expected, &back.state);
        b_assert_same(&expected, &back.state);
        state_close(&expected);
    }
    free(buf);
    api_response_close(&back);
    api_response_close(&res);
    state_close(&s);
}

/* The seqs of the events of `cluster` (or global) in s, the last `limit`. */
static unsigned expected_events(const struct state *s,
                                const char *cluster,
                                unsigned limit,
                                uint64_t *seqs)
{
    unsigned n = 0, first = 0;
    for (unsigned i = 0; i < b_n_events(s); i++) {
        const struct event *e = b_event(s, i);
        if (cluster[0] == '\0' || e->cluster[0] == '\0' || strcmp(e->cluster, cluster) == 0) {
            seqs[n++] = e->seq;
        }
    }
    if (limit != 0 && n > limit) {
        first = n - limit;
    }
    memmove(seqs, seqs + first, (n - first) * sizeof *seqs);
    return n - first;
}

static void test_response_events(void **ctx)
{
    /* An EVENTS response keeps the cluster's and global events, the last `limit`, in order. */
    static const struct
    {
        const char *cluster;
        unsigned limit;
    } cases[] = {{"", 0},        {"", 5},        {"east", 0},    {"east", 2},
                 {B_CLUSTER, 0}, {B_CLUSTER, 3}, {"nowhere", 0}, {"", 100000}};
    struct state s;
    struct command add = b_cmd_node_add(9900, "east", "e2", "host=10.0.9.2", 50);
    uint64_t all[PGQ_MAX_EVENTS];
    unsigned n_east;
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    b_apply(&s, &add);
    n_east = expected_events(&s, "east", 0, all);
    assert_true(n_east > 2);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases) + 3; i++) {
        struct api_response res, back;
        uint64_t seqs[PGQ_MAX_EVENTS];
        /* After the table: limits around the number of "east" events. */
        const char *cluster = i < PGQ_ARRAY_SIZE(cases) ? cases[i].cluster : "east";
        unsigned limit = i < PGQ_ARRAY_SIZE(cases)
                             ? cases[i].limit
                             : n_east - 1 + (unsigned)(i - PGQ_ARRAY_SIZE(cases));
        unsigned n = expected_events(&s, cluster, limit, seqs);
        uint8_t *buf;
        size_t len;
        char err[256] = "";
        api_response_init(&res);
        res.body = API_EVENTS;
        assert_int_equal(codec_response_encode(&res, &s, cluster, limit, NULL, &buf, &len), 0);
        if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
            fail_msg("%s", err);
        }
        assert_int_equal(back.body, API_EVENTS);
        assert_int_equal(back.state.n_clusters, 0);
        if (b_n_events(&back.state) != n) {
            fail_msg("cluster \"%s\" limit %u: %u events, want %u", cluster, limit,
                     b_n_events(&back.state), n);
        }
        for (unsigned k = 0; k < n; k++) {
            assert_int_equal(b_event(&back.state, k)->seq, seqs[k]);
        }
        free(buf);
        api_response_close(&back);
        api_response_close(&res);
    }
    state_close(&s);
}

static void test_response_heartbeat(void **ctx)
{
    /* A heartbeat's reply carries the lease granted, the epoch and the four flags, each of them
     * on its own, whether leases are in force and their length, and whom a standby follows (its
     * conninfo, the cluster's timeline, parent timeline and fork point) whether the node must
     * rejoin first, and the switchover's order to stop. */
    static const struct lease_reply cases[] = {
        {4000, 7, true, false, true, true},
        {0, 7, true, true, false, true},
        {0, 0, false, false, false, false},
        {UINT64_MAX, UINT64_MAX, false, false, true, true},
        {.epoch = 2,
         .registered = true,
         .enforced = true,
         .length_ms = 4000,
         .follow = "pg2",
         .follow_conninfo = "host=10.0.1.2 port=5432 dbname=postgres user=pgquorum",
         .timeline = 2,
         .parent_tli = 1,
         .fork_lsn = 0x3000060},
        {.epoch = 2,
         .registered = true,
         .follow = "pg2",
         .follow_conninfo = "postgresql://10.0.1.2:5433/postgres?application_name=x",
         .rejoin = true,
         .timeline = UINT32_MAX,
         .parent_tli = UINT32_MAX - 1,
         .fork_lsn = UINT64_MAX},
        {.epoch = 3, .registered = true, .rejoin = true}, /* demoted, nothing settled to follow */
        {.epoch = 9, .primary = true, .registered = true, .enforced = true, .stop = true},
        /* The voters' API addresses, for an agent whose [node] monitors are stale. */
        {.epoch = 9,
         .registered = true,
         .monitors = {"10.0.0.1:7002", "10.0.0.4:7002"},
         .n_monitors = 2,
         .monitors_hash = 0xFEEDFACE12345678ull},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct api_response res, back;
        uint8_t *buf, *again;
        size_t len, again_len;
        char err[256] = "";
        api_response_init(&res);
        res.code = API_OK;
        res.body = API_HEARTBEAT;
        res.hb = cases[i];
        if (!cases[i].registered) {
            pgq_strlcpy(res.message, "no node pg9 in cluster main", sizeof res.message);
        }
        assert_int_equal(codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len), 0);
        if (codec_response_decode(buf, len, &back, err, sizeof err) != 0) {
            fail_msg("case %zu: %s", i, err);
        }
        assert_int_equal(back.code, API_OK);
        assert_int_equal(back.body, API_HEARTBEAT);
        assert_string_equal(back.message, res.message);
        assert_int_equal(back.hb.lease_ms, cases[i].lease_ms);
        assert_int_equal(back.hb.epoch, cases[i].epoch);
        assert_int_equal(back.hb.primary, cases[i].primary);
        assert_int_equal(back.hb.fence, cases[i].fence);
        assert_int_equal(back.hb.standby_ready, cases[i].standby_ready);
        assert_int_equal(back.hb.registered, cases[i].registered);
        assert_int_equal(back.hb.enforced, cases[i].enforced);
        assert_int_equal(back.hb.length_ms, cases[i].length_ms);
        assert_string_equal(back.hb.follow, cases[i].follow);
        assert_string_equal(back.hb.follow_conninfo, cases[i].follow_conninfo);
        assert_int_equal(back.hb.rejoin, cases[i].rejoin);
        assert_int_equal(back.hb.timeline, cases[i].timeline);
        assert_int_equal(back.hb.parent_tli, cases[i].parent_tli);
        assert_int_equal(back.hb.fork_lsn, cases[i].fork_lsn);
        assert_int_equal(back.hb.stop, cases[i].stop);
        assert_int_equal(back.hb.monitors_hash, cases[i].monitors_hash);
        assert_int_equal(back.hb.n_monitors, cases[i].n_monitors);
        for (unsigned k = 0; k < cases[i].n_monitors; k++) {
            assert_string_equal(back.hb.monitors[k], cases[i].monitors[k]);
        }
        assert_int_equal(codec_response_encode(&back, NULL, NULL, 0, NULL, &again, &again_len), 0);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(buf);
        free(again);
        api_response_close(&back);
        api_response_close(&res);
    }
}

static void test_response_refused(void **ctx)
{
    /* Responses that are garbage or of another version are refused with their code. */
    Pgq__Response m = PGQ__RESPONSE__INIT;
    struct api_response back;
    char err[256] = "";
    uint8_t *buf;
    size_t len;
    static const uint8_t garbage[] = {0x08};
    (void)ctx;
    assert_int_equal(codec_response_decode(garbage, sizeof garbage, &back, err, sizeof err),
                     PGQ_MALFORMED);
    assert_string_equal(err, "malformed response (1 bytes)");
    m.version = 3;
    m.code = PGQ__CODE__OK;
    buf = pack_message(&m.base, &len);
    assert_int_equal(codec_response_decode(buf, len, &back, err, sizeof err), PGQ_VERSION);
    assert_string_equal(err, "response has format version 3, this build speaks 1");
    free(buf);
}

/* The frames of a streamed status of s: its head, then parts of `per` clusters each, s's
 * cluster `gone` (if any) removed after the head; each frame fed to a reader in turn. */
static int stream_of(struct state *s,
                     unsigned per,
                     const char *gone,
                     struct api_response *back,
                     char *err,
                     size_t errsize)
{
    struct api_response res;
    struct codec_stream *st = NULL;
    char(*names)[PGQ_NAME_MAX] = calloc(s->n_clusters, sizeof *names);
    unsigned n = s->n_clusters;
    uint8_t *buf;
    size_t len;
    bool more;
    int rv;
    assert_non_null(names);
    for (unsigned i = 0; i < n; i++) {
        memcpy(names[i], s->clusters[i].name, PGQ_NAME_MAX);
    }
    api_response_init(&res);
    res.body = API_STATUS;
    res.info.id = 2;
    res.more = true;
    assert_int_equal(codec_response_encode(&res, s, NULL, 0, NULL, &buf, &len), 0);
    rv = codec_stream_add(&st, buf, len, &more, err, errsize);
    free(buf);
    assert_int_equal(rv, 0);
    assert_true(more);
    if (gone != NULL) {
        struct command c = b_cmd_cluster_remove(5000, gone, "alice");
        b_apply(s, &c);
    }
    for (unsigned i = 0; i < n; i += per) {
        unsigned k = PGQ_MIN(per, n - i);
        assert_true(more);
        assert_int_equal(codec_status_part_encode(s, (const char(*)[PGQ_NAME_MAX])(names + i), k,
                                                  i + k < n, NULL, &buf, &len),
                         0);
        rv = codec_stream_add(&st, buf, len, &more, err, errsize);
        free(buf);
        assert_int_equal(rv, 0);
    }
    assert_false(more);
    free(names);
    api_response_close(&res);
    return codec_stream_finish(st, back, err, errsize);
}

static void test_status_streamed(void **ctx)
{
    /* A status streamed in parts decodes to what the same status in one frame does, whatever
     * the size of the parts (up to a part a cluster, 20 frames: the reader's frames outgrow
     * their first array); a cluster removed after the head is left out, the others kept in
     * order; a reply in one frame is read as one. */
    struct state s;
    struct api_response res, whole, back;
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256] = "";
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    for (unsigned i = 0; i < 17; i++) {
        char name[8];
        struct command c;
        snprintf(name, sizeof name, "x%u", i);
        c = b_cmd_node_add(2000 + i, name, "n1", "host=10.0.3.1", 50);
        b_apply(&s, &c);
    }
    assert_true(s.n_clusters >= 19);
    api_response_init(&res);
    res.body = API_STATUS;
    res.info.id = 2;
    assert_int_equal(codec_response_encode(&res, &s, NULL, 0, NULL, &b1, &l1), 0);
    for (unsigned per = 1; per <= s.n_clusters + 1; per += 2) {
        if (stream_of(&s, per, NULL, &back, err, sizeof err) != 0) {
            fail_msg("%u a part: %s", per, err);
        }
        assert_false(back.more);
        assert_int_equal(back.state.n_clusters, s.n_clusters);
        assert_int_equal(codec_response_encode(&back, &back.state, NULL, 0, NULL, &b2, &l2), 0);
        assert_int_equal(l1, l2);
        assert_memory_equal(b1, b2, l1);
        free(b2);
        api_response_close(&back);
    }
    /* One removed after the head. */
    if (stream_of(&s, 2, "x1", &back, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(back.state.n_clusters, s.n_clusters);
    assert_null(state_cluster(&back.state, "x1"));
    for (unsigned i = 0; i < s.n_clusters; i++) {
        assert_string_equal(back.state.clusters[i].name, s.clusters[i].name);
    }
    api_response_close(&back);
    /* A reply in one frame is whole at once. */
    {
        struct codec_stream *st = NULL;
        bool more = true;
        assert_int_equal(codec_stream_add(&st, b1, l1, &more, err, sizeof err), 0);
        assert_false(more);
        assert_int_equal(codec_stream_finish(st, &whole, err, sizeof err), 0);
        assert_int_equal(whole.state.n_clusters, s.n_clusters + 1);
        api_response_close(&whole);
    }
    free(b1);
    api_response_close(&res);
    state_close(&s);
}

static void test_status_stream_refused(void **ctx)
{
    /* A reader refuses, naming the problem, a part with no head before it, a head that says
     * more but holds clusters, a frame that is no part after a head, an empty part that says
     * more follows, a frame after the last part, and a stream that ends before its last
     * part. */
    struct state s;
    struct api_response res, back;
    struct codec_stream *st;
    uint8_t *head, *part, *last, *code;
    size_t lh, lp, ll, lc;
    char names[1][PGQ_NAME_MAX];
    char err[256] = "";
    bool more;
    (void)ctx;
    state_init(&s);
    rich_state(&s);
    memcpy(names[0], s.clusters[0].name, PGQ_NAME_MAX);
    api_response_init(&res);
    res.body = API_STATUS;
    res.more = true;
    assert_int_equal(codec_response_encode(&res, &s, NULL, 0, NULL, &head, &lh), 0);
    assert_int_equal(
        codec_status_part_encode(&s, (const char(*)[PGQ_NAME_MAX])names, 1, true, NULL, &part, &lp),
        0);
    assert_int_equal(codec_status_part_encode(&s, (const char(*)[PGQ_NAME_MAX])names, 1, false,
                                              NULL, &last, &ll),
                     0);
    api_response_close(&res);
    api_response_init(&res);
    res.code = API_UNAVAILABLE;
    assert_int_equal(codec_response_encode(&res, NULL, NULL, 0, NULL, &code, &lc), 0);

    st = NULL;
    assert_int_equal(codec_stream_add(&st, part, lp, &more, err, sizeof err), PGQ_MALFORMED);
    assert_non_null(strstr(err, "not the head of a status"));
    codec_stream_free(st);

    st = NULL;
    assert_int_equal(codec_stream_add(&st, head, lh, &more, err, sizeof err), 0);
    assert_int_equal(codec_stream_add(&st, code, lc, &more, err, sizeof err), PGQ_MALFORMED);
    assert_non_null(strstr(err, "not a part of a status"));
    codec_stream_free(st);

    st = NULL;
    assert_int_equal(codec_stream_add(&st, head, lh, &more, err, sizeof err), 0);
    {
        char none[1][PGQ_NAME_MAX] = {"no-such-cluster"};
        uint8_t *empty;
        size_t le;
        assert_int_equal(codec_status_part_encode(&s, (const char(*)[PGQ_NAME_MAX])none, 1, true,
                                                  NULL, &empty, &le),
                         0);
        assert_int_equal(codec_stream_add(&st, empty, le, &more, err, sizeof err), PGQ_MALFORMED);
        assert_non_null(strstr(err, "empty, and more said to follow"));
        free(empty);
    }
    codec_stream_free(st);

    st = NULL;
    assert_int_equal(codec_stream_add(&st, head, lh, &more, err, sizeof err), 0);
    assert_int_equal(codec_stream_add(&st, last, ll, &more, err, sizeof err), 0);
    assert_false(more);
    assert_int_equal(codec_stream_add(&st, part, lp, &more, err, sizeof err), PGQ_MALFORMED);
    assert_non_null(strstr(err, "after the last"));
    codec_stream_free(st);

    st = NULL;
    assert_int_equal(codec_stream_add(&st, head, lh, &more, err, sizeof err), 0);
    assert_int_equal(codec_stream_add(&st, part, lp, &more, err, sizeof err), 0);
    assert_true(more);
    assert_int_equal(codec_stream_finish(st, &back, err, sizeof err), PGQ_MALFORMED);
    assert_non_null(strstr(err, "ended before its last part"));

    free(head);
    free(part);
    free(last);
    free(code);
    /* A head that says more and holds its clusters. */
    {
        Pgq__Response *m;
        uint8_t *whole, *bad;
        size_t lw, lb;
        api_response_close(&res);
        api_response_init(&res);
        res.body = API_STATUS;
        assert_int_equal(codec_response_encode(&res, &s, NULL, 0, NULL, &whole, &lw), 0);
        m = pgq__response__unpack(NULL, lw, whole);
        assert_non_null(m);
        m->has_more = true, m->more = true;
        bad = malloc(pgq__response__get_packed_size(m));
        lb = pgq__response__pack(m, bad);
        st = NULL;
        assert_int_equal(codec_stream_add(&st, bad, lb, &more, err, sizeof err), PGQ_MALFORMED);
        assert_non_null(strstr(err, "not the head of a status"));
        codec_stream_free(st);
        pgq__response__free_unpacked(m, NULL);
        free(whole);
        free(bad);
    }
    api_response_close(&res);
    state_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_round_trip),
        cmocka_unit_test(test_command_headroom),
        cmocka_unit_test(test_command_encode_unknown_kind),
        cmocka_unit_test(test_command_unknown_oneof),
        cmocka_unit_test(test_command_unpack_budget),
        cmocka_unit_test(test_report_resources_all_or_none),
        cmocka_unit_test(test_command_wrong_version),
        cmocka_unit_test(test_command_malformed),
        cmocka_unit_test(test_switchover_cancel_and_begin),
        cmocka_unit_test(test_command_corrupted_bytes),
        cmocka_unit_test(test_command_oversized_fields),
        cmocka_unit_test(test_command_too_many_entries),
        cmocka_unit_test(test_entry_round_trip),
        cmocka_unit_test(test_entry_malformed),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_round_trip_switchover),
        cmocka_unit_test(test_state_round_trip_empty),
        cmocka_unit_test(test_restored_state_applies_identically),
        cmocka_unit_test(test_snapshot_wrapped_round_trip),
        cmocka_unit_test(test_state_malformed),
        cmocka_unit_test(test_state_corrupted_bytes),
        cmocka_unit_test(test_state_wrong_version),
        cmocka_unit_test(test_state_oversized_fields),
        cmocka_unit_test(test_state_out_of_range),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_response_whoami),
        cmocka_unit_test(test_status_of_one_cluster),
        cmocka_unit_test(test_status_streamed),
        cmocka_unit_test(test_status_stream_refused),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_request_not_canonical),
        cmocka_unit_test(test_response_not_leader),
        cmocka_unit_test(test_response_status),
        cmocka_unit_test(test_response_events),
        cmocka_unit_test(test_response_refused),
        cmocka_unit_test(test_request_heartbeat_round_trip),
        cmocka_unit_test(test_heartbeat_out_of_range),
        cmocka_unit_test(test_response_heartbeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
