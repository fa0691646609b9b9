/* Writes the seed corpora of the harnesses: valid encodings of every request,
 * command, log entry, snapshot and response kind the codecs know, a few
 * configuration files and connection strings, and some framed streams.
 * Usage: seeds OUTDIR (creates OUTDIR/<harness>/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authz.h"
#include "frame.h"
#include "fuzz_common.h"

static const char *outdir;
static unsigned counter;

static void put(const char *harness, const void *buf, size_t len)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", outdir, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/seed-%04u", outdir, harness, counter++);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* A streamed status of s, as the wire has it: the head, then a part per
 * cluster, each frame after its 4-byte big-endian length (fuzz_stream). */
static void put_stream(struct api_response *res, const struct state *s)
{
    uint8_t *out = NULL, *buf;
    size_t n = 0, len;
    for (unsigned i = 0; i <= s->n_clusters; i++) {
        int rv;
        if (i == 0) {
            res->more = true;
            rv = codec_response_encode(res, s, NULL, 0, NULL, &buf, &len);
            res->more = false;
        } else {
            rv =
                codec_status_part_encode(s, (const char(*)[PGQ_NAME_MAX]) & s->clusters[i - 1].name,
                                         1, i < s->n_clusters, NULL, &buf, &len);
        }
        out = rv == 0 ? realloc(out, n + 4 + len) : NULL;
        if (out == NULL) {
            abort();
        }
        out[n] = (uint8_t)(len >> 24), out[n + 1] = (uint8_t)(len >> 16);
        out[n + 2] = (uint8_t)(len >> 8), out[n + 3] = (uint8_t)len;
        memcpy(out + n + 4, buf, len);
        n += 4 + len;
        free(buf);
    }
    put("fuzz_stream", out, n);
    free(out);
}

static void put_str(const char *harness, const char *s)
{
    put(harness, s, strlen(s));
}

/* A scenario's commands, kept in order. */
static struct command log_cmds[64];
static unsigned n_log, n_base_log; /* n_base_log: commands up to the healthy state */

static void commit(struct state *s, struct command c)
{
    fz_apply_ok(s, &c);
    if (n_log < 64) {
        log_cmds[n_log++] = c; /* report obs owned by the log from now on */
    } else {
        command_close(&c);
    }
}

/* base state, then a failover of a to b, a fence and a block. */
static void scenario(struct state *s)
{
    static const char *const names[] = {"a", "b", "c"};
    const uint64_t t = 1000000;
    struct obs o[3];
    commit(s, fz_hello(t, 1, 3));
    for (unsigned i = 0; i < 3; i++) {
        commit(s, fz_add(t, FZ_CLUSTER, names[i], 50));
    }
    o[0] = fz_obs(s, "a", true, false, 1000);
    o[1] = fz_obs(s, "b", true, true, 1000);
    o[2] = fz_obs(s, "c", true, true, 900);
#if defined(PGQ_SYNC_MAX)
    pgq_strlcpy(o[0].sync_standbys, "b,c", sizeof o[0].sync_standbys);
#endif
    for (uint64_t m = 1; m <= 3; m++) {
        commit(s, fz_report(t, m, o, 3));
    }
#if defined(PGQ_SYNC_MAX)
    /* c is no longer named: it keeps a floor. */
    pgq_strlcpy(o[0].sync_standbys, "b", sizeof o[0].sync_standbys);
    commit(s, fz_report(t, 1, o, 1));
#endif
    commit(s, fz_set_role(t, "a", PGQ_ROLE_PRIMARY, 0));
    for (unsigned i = 1; i < 3; i++) {
        commit(s, fz_set_role(t, names[i], PGQ_ROLE_STANDBY, 1));
        commit(s, fz_step(t, PGQ_STEP_REPOINTED, names[i], 1, 0));
    }
    n_base_log = n_log;
    {
        struct command c = fz_cmd(CMD_MAINTENANCE, t + 1, FZ_CLUSTER, "c");
        c.u.maintenance.on = true;
        commit(s, c);
        c.u.maintenance.on = false;
        c.time_ms = t + 2;
        commit(s, c);
    }
    {
        struct command c;
        /* Every voter announces level 2, then the leader raises it. */
        for (uint64_t m = 1; m <= 3; m++) {
            c = fz_report(t + 2, m, NULL, 0);
            c.u.report.feature_level = PGQ_FEATURE_LEVEL;
            commit(s, c);
        }
        c = fz_cmd(CMD_FEATURE, t + 2, "", NULL);
        c.u.feature.level = PGQ_FEATURE_LEVEL;
        commit(s, c);
        /* Level 5: a role, a cluster's grant, a deny, an audit record. */
        c = fz_cmd(CMD_ACCESS_ROLE, t + 2, "", NULL);
        pgq_strlcpy(c.u.access_role.name, "user:ops", sizeof c.u.access_role.name);
        c.u.access_role.role = AUTHZ_ROLE_OPERATOR;
        pgq_strlcpy(c.who, "user:root", sizeof c.who);
        pgq_strlcpy(c.from, "10.0.0.5", sizeof c.from);
        commit(s, c);
        c = fz_cmd(CMD_GRANT, t + 2, FZ_CLUSTER, NULL);
        pgq_strlcpy(c.u.grant.name, "user:ops", sizeof c.u.grant.name);
        c.u.grant.action = AUTHZ_NODE_REMOVE;
        commit(s, c);
        c = fz_cmd(CMD_GRANT, t + 2, "", NULL);
        pgq_strlcpy(c.u.grant.name, "node:" FZ_CLUSTER "/a", sizeof c.u.grant.name);
        c.u.grant.action = AUTHZ_STATUS;
        c.u.grant.deny = true;
        commit(s, c);
        c = fz_cmd(CMD_AUDIT, t + 2, FZ_CLUSTER, "a");
        pgq_strlcpy(c.who, "anonymous", sizeof c.who);
        pgq_strlcpy(c.from, "10.0.0.66", sizeof c.from);
        c.u.audit.action = AUTHZ_STATUS;
        c.u.audit.more = 7;
        c.u.audit.monitor_id = 2;
        pgq_strlcpy(c.u.audit.outcome, "denied: unknown token", sizeof c.u.audit.outcome);
        commit(s, c);
        /* Level 6: a monitor on its way in, as a spare, asked by an admin. */
        c = fz_cmd(CMD_MEMBER, t + 2, "", NULL);
        c.u.member.op = PGQ_MEMBER_ADD;
        c.u.member.step = PGQ_MEMBER_SPARE;
        c.u.member.monitor_id = 4;
        pgq_strlcpy(c.u.member.raft_address, "10.0.0.4:7001", sizeof c.u.member.raft_address);
        pgq_strlcpy(c.u.member.api_address, "10.0.0.4:7002", sizeof c.u.member.api_address);
        for (unsigned i = 0; i < 3; i++) {
            c.u.member.voters[i] = s->monitors[i];
        }
        c.u.member.n_voters = 3;
        pgq_strlcpy(c.who, "user:root", sizeof c.who);
        commit(s, c);
        c = fz_cmd(CMD_AGENT, t + 2, FZ_CLUSTER, "a");
        c.u.agent.state = PGQ_AGENT_UP;
        c.u.agent.pm_alive = true;
        c.u.agent.pg_state = PGQ_PGS_IN_PRODUCTION;
        c.u.agent.lease = true;
        c.u.agent.host.cpu_busy_bp = 500;
        commit(s, c);
        /* Level 3: the primary's maintenance allowing a failover, and a pause, both ended. */
        c = fz_cmd(CMD_MAINTENANCE, t + 2, FZ_CLUSTER, "a");
        c.u.maintenance.on = true;
        c.u.maintenance.allow_failover = true;
        commit(s, c);
        c.u.maintenance.on = c.u.maintenance.allow_failover = false;
        commit(s, c);
        c = fz_cmd(CMD_PAUSE, t + 2, FZ_CLUSTER, NULL);
        c.u.pause.on = true;
        pgq_strlcpy(c.u.pause.by, "pgquorumctl (user ops)", sizeof c.u.pause.by);
        commit(s, c);
        c.u.pause.on = false;
        commit(s, c);
        /* c's agent rewinds it (level 3: the rejoin facts are committed). */
        c = fz_cmd(CMD_AGENT, t + 2, FZ_CLUSTER, "c");
        c.u.agent.state = PGQ_AGENT_UP;
        c.u.agent.pg_state = PGQ_PGS_SHUT_DOWN_IN_RECOVERY;
        c.u.agent.in_recovery = true;
        c.u.agent.rejoin = PGQ_RJ_STARTING;
        pgq_strlcpy(c.u.agent.rejoin_detail, "rewound from a", sizeof c.u.agent.rejoin_detail);
        c.u.agent.rejoin_epoch = 1;
        c.u.agent.rejoin_ms = 2500;
        c.u.agent.lost_commits = 3;
        c.u.agent.lost_bytes = 4096;
        c.u.agent.lost_known = true;
        commit(s, c);
        /* Level 3: the primary's slots, and a slot it lost. */
        c = fz_step(t + 2, PGQ_STEP_SLOTS, "a", 1, 0);
        pgq_strlcpy(c.u.step.detail, "made pgq_b, pgq_c", sizeof c.u.step.detail);
        commit(s, c);
        o[0] = fz_obs(s, "a", true, false, 1000);
        pgq_strlcpy(o[0].lost_slots, "pgq_c", sizeof o[0].lost_slots);
        o[0].slot_use = PGQ_SLOT_USE_OWN;
        commit(s, fz_report(t + 2, 1, o, 1));
        /* Level 3: a switchover scheduled and cancelled, then one begun and cancelled by the
         * leader (the primary did not stop in time). */
        c = fz_cmd(CMD_SWITCHOVER, t + 2, FZ_CLUSTER, NULL);
        pgq_strlcpy(c.u.switchover.target, "b", sizeof c.u.switchover.target);
        c.u.switchover.at_ms = t + 60000;
        pgq_strlcpy(c.u.switchover.by, "pgquorumctl (user ops)", sizeof c.u.switchover.by);
        commit(s, c);
        c = fz_cmd(CMD_SWITCHOVER, t + 2, FZ_CLUSTER, NULL);
        c.u.switchover.cancel = true;
        pgq_strlcpy(c.u.switchover.by, "pgquorumctl (user ops)", sizeof c.u.switchover.by);
        commit(s, c);
        c = fz_cmd(CMD_SWITCHOVER, t + 2, FZ_CLUSTER, NULL);
        commit(s, c);
        c = fz_cmd(CMD_SWITCHOVER, t + 3, FZ_CLUSTER, NULL);
        c.u.switchover.begin = true;
        commit(s, c);
        c = fz_cmd(CMD_SWITCHOVER, t + 3, FZ_CLUSTER, NULL);
        c.u.switchover.cancel = true;
        pgq_strlcpy(c.u.switchover.by, "pgquorum: the primary did not stop in time",
                    sizeof c.u.switchover.by);
        commit(s, c);
        /* Managed synchronous replication: quorum mode, a set, the primary
         * seen running it. */
        c = fz_cmd(CMD_SYNC_CONFIG, t + 2, FZ_CLUSTER, NULL);
        c.u.sync_config.mode = PGQ_SYNC_QUORUM;
        c.u.sync_config.number = 1;
        c.u.sync_config.replication_quorum = -1;
        commit(s, c);
        c = fz_cmd(CMD_SYNC_SET, t + 2, FZ_CLUSTER, NULL);
        c.u.sync_set.set.epoch = 1;
        c.u.sync_set.set.method = PGQ_SYNC_ANY;
        c.u.sync_set.set.k = 1;
        pgq_strlcpy(c.u.sync_set.set.names[0], "b", PGQ_NAME_MAX);
        pgq_strlcpy(c.u.sync_set.set.names[1], "c", PGQ_NAME_MAX);
        c.u.sync_set.set.n_names = 2;
        commit(s, c);
        o[0] = fz_obs(s, "a", true, false, 1100);
        pgq_strlcpy(o[0].sync_setting, "ANY 1 (\"b\", \"c\")", sizeof o[0].sync_setting);
        pgq_strlcpy(o[0].replicas, "b,c", sizeof o[0].replicas);
        commit(s, fz_report(t + 2, 1, o, 1));
    }
    {
        struct command c = fz_cmd(CMD_BLOCKED, t + 3, FZ_CLUSTER, NULL);
        pgq_strlcpy(c.u.blocked.reason, "held: waiting for fresh positions",
                    sizeof c.u.blocked.reason);
        commit(s, c);
    }
    /* a goes down for every voter; b reports its position. */
    o[0] = fz_obs(s, "a", false, false, 0);
    o[1] = fz_obs(s, "b", true, true, 1200);
    o[2] = fz_obs(s, "c", true, true, 1100);
    for (uint64_t m = 1; m <= 3; m++) {
        commit(s, fz_report(t + 10000, m, o, 3));
    }
    {
        /* Cut before promote: the cut, each standby's position after it,
         * then the decision of that round. */
        struct command c = fz_cmd(CMD_CUT, t + 15000, FZ_CLUSTER, NULL);
        uint64_t round;
        c.u.cut.epoch = 1;
        pgq_strlcpy(c.u.cut.old_primary, "a", sizeof c.u.cut.old_primary);
        c.u.cut.down_ms = t + 10000;
        commit(s, c);
        round = s->seq;
        c = fz_step(t + 15100, PGQ_STEP_CUT, "b", 1, 1);
        c.u.step.round = round;
        c.u.step.lsn = 1200;
        c.u.step.upstream_lsn = 1250;
        commit(s, c);
        c = fz_step(t + 15200, PGQ_STEP_CUT, "c", 1, 1);
        c.u.step.round = round;
        c.u.step.lsn = 1100;
        commit(s, c);
        c = fz_cmd(CMD_DECIDE, t + 20000, FZ_CLUSTER, "b");
        c.u.decide.epoch = 2;
        pgq_strlcpy(c.u.decide.old_primary, "a", sizeof c.u.decide.old_primary);
        c.u.decide.candidate_lsn = 1200;
        c.u.decide.down_ms = t + 10000;
        c.u.decide.round = round;
        c.u.decide.reference_lsn = 1250;
        pgq_strlcpy(c.u.decide.reason, "primary a down", sizeof c.u.decide.reason);
        commit(s, c);
    }
    {
        struct command c = fz_step(t + 21000, PGQ_STEP_PROMOTED, "b", 2, 2);
        pgq_strlcpy(c.u.step.detail, "pg_promote() done", sizeof c.u.step.detail);
        c.u.step.parent_tli = 1;
        c.u.step.lsn = 1200;
        commit(s, c);
        commit(s, fz_step(t + 22000, PGQ_STEP_REPOINTED, "c", 2, 2));
        commit(s, fz_step(t + 23000, PGQ_STEP_DONE, "", 2, 0));
    }
    /* a comes back writable: flagged, then fenced. */
    o[0] = fz_obs(s, "a", true, false, 1000);
    commit(s, fz_report(t + 30000, 2, o, 1));
    commit(s, fz_step(t + 31000, PGQ_STEP_FENCED, "a", 2, 0));
    {
        struct command c = fz_cmd(CMD_NODE_REMOVE, t + 40000, FZ_CLUSTER, "a");
        commit(s, c);
    }
    commit(s, fz_hello(t + 50000, 2, 5));
}

static void put_entry_seq(const struct command *cmds, unsigned n)
{
    uint8_t *all = NULL;
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *buf;
        size_t l;
        if (codec_entry_encode(&cmds[i], NULL, &buf, &l) != 0) {
            abort();
        }
        all = realloc(all, len + l);
        memcpy(all + len, buf, l);
        len += l;
        free(buf);
    }
    put("fuzz_command", all, len);
    free(all);
}

static void commands_and_snapshots(void)
{
    struct state s, base;
    uint8_t *buf;
    size_t len;
    state_init(&s);
    scenario(&s);
    for (unsigned i = 0; i < n_log; i++) {
        if (codec_command_encode(&log_cmds[i], NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_command", buf, len);
        free(buf);
        if (codec_entry_encode(&log_cmds[i], NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_command", buf, len);
        free(buf);
    }
    /* The failover part, as entries to apply to the base state. */
    put_entry_seq(log_cmds + n_base_log, n_log - n_base_log);
    put_entry_seq(log_cmds, n_log);

    fz_base_state(&base);
    if (codec_snapshot_encode(&base, NULL, &buf, &len) != 0) {
        abort();
    }
    put("fuzz_snapshot", buf, len);
    free(buf);
    if (codec_snapshot_encode(&s, NULL, &buf, &len) != 0) {
        abort();
    }
    put("fuzz_snapshot", buf, len);
    free(buf);
    if (codec_state_encode(&s, NULL, &buf, &len) != 0) {
        abort();
    }
    put("fuzz_snapshot", buf, len);
    free(buf);
    {
        struct state empty;
        state_init(&empty);
        if (codec_snapshot_encode(&empty, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_snapshot", buf, len);
        free(buf);
    }

    /* Responses: status of both states, events, errors. */
    {
        struct api_response res;
        api_response_init(&res);
        res.code = API_OK;
        res.body = API_STATUS;
        res.info.id = 1;
        res.info.role = PGQ_MON_LEADER;
        res.info.term = 3;
        res.info.commit_index = 40;
        res.info.applied_index = 40;
        res.info.leader_id = 1;
        res.info.ready = true;
        res.info.rss_kb = 12345;
        pgq_strlcpy(res.info.raft_address, "10.0.0.1:7001", sizeof res.info.raft_address);
        pgq_strlcpy(res.info.api_address, "10.0.0.1:7002", sizeof res.info.api_address);
        pgq_strlcpy(res.info.leader_api, "10.0.0.1:7002", sizeof res.info.leader_api);
        pgq_strlcpy(res.info.version, PGQ_VERSION_STRING, sizeof res.info.version);
        if (codec_response_encode(&res, &s, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        if (codec_response_encode(&res, &base, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        put_stream(&res, &s);
        put_stream(&res, &base);
        res.body = API_EVENTS;
        if (codec_response_encode(&res, &s, "", 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        if (codec_response_encode(&res, &s, FZ_CLUSTER, 3, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        res.body = API_HEARTBEAT;
        res.hb.lease_ms = 4000;
        res.hb.epoch = 3;
        res.hb.primary = true;
        res.hb.standby_ready = true;
        res.hb.registered = true;
        res.hb.enforced = true;
        res.hb.length_ms = 4000;
        if (codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        /* A demoted node's: no lease, the primary to rejoin and its history. */
        res.hb.lease_ms = 0;
        res.hb.primary = false;
        res.hb.rejoin = true;
        pgq_strlcpy(res.hb.follow, "b", sizeof res.hb.follow);
        pgq_strlcpy(res.hb.follow_conninfo, "host=10.0.1.2 port=5432 user=pgquorum",
                    sizeof res.hb.follow_conninfo);
        res.hb.timeline = 2;
        res.hb.parent_tli = 1;
        res.hb.fork_lsn = 1200;
        if (codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        res.hb.rejoin = false;
        res.hb.follow[0] = res.hb.follow_conninfo[0] = '\0';
        /* A switchover began: no lease, stop. */
        res.hb.lease_ms = 0;
        res.hb.stop = true;
        if (codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
        res.hb.stop = false;
        res.body = 0;
        res.code = API_NOT_LEADER;
        pgq_strlcpy(res.message, "not the leader", sizeof res.message);
        pgq_strlcpy(res.leader_api, "10.0.0.2:7002", sizeof res.leader_api);
        if (codec_response_encode(&res, NULL, NULL, 0, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_response", buf, len);
        free(buf);
    }

    /* Requests. */
    {
        struct api_request req;
        struct obs o[2];
        memset(&req, 0, sizeof req);
        req.kind = API_STATUS;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        req.kind = API_EVENTS;
        pgq_strlcpy(req.cluster, FZ_CLUSTER, sizeof req.cluster);
        req.limit = 20;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_FAILPOINT;
        pgq_strlcpy(req.fp_name, "actuator-promote", sizeof req.fp_name);
        pgq_strlcpy(req.fp_action, "fail", sizeof req.fp_action);
        pgq_strlcpy(req.fp_arg, "3", sizeof req.fp_arg);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_NODE_ADD;
        req.cmd = fz_add(0, FZ_CLUSTER, "d", 70);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        pgq_strlcpy(req.cmd.u.node_add.conninfo,
                    "postgresql://pgquorum@d.example:5433/app?sslmode=require&connect_timeout=3",
                    sizeof req.cmd.u.node_add.conninfo);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        req.kind = API_NODE_REMOVE;
        req.cmd = fz_cmd(CMD_NODE_REMOVE, 0, FZ_CLUSTER, "b");
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        req.kind = API_MAINTENANCE;
        req.cmd = fz_cmd(CMD_MAINTENANCE, 0, FZ_CLUSTER, "b");
        req.cmd.u.maintenance.on = true;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        req.cmd.u.maintenance.allow_failover = true;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_PAUSE;
        req.cmd = fz_cmd(CMD_PAUSE, 0, FZ_CLUSTER, NULL);
        req.cmd.u.pause.on = true;
        pgq_strlcpy(req.cmd.u.pause.by, "pgquorumctl (user ops)", sizeof req.cmd.u.pause.by);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        /* A switchover to b at a given time, and its cancel. */
        for (int cancel = 0; cancel <= 1; cancel++) {
            memset(&req, 0, sizeof req);
            req.kind = API_SWITCHOVER;
            req.cmd = fz_cmd(CMD_SWITCHOVER, 0, FZ_CLUSTER, NULL);
            if (!cancel) {
                pgq_strlcpy(req.cmd.u.switchover.target, "b", sizeof req.cmd.u.switchover.target);
                req.cmd.u.switchover.at_ms = 1800000000000ull;
            }
            req.cmd.u.switchover.cancel = cancel;
            pgq_strlcpy(req.cmd.u.switchover.by, "pgquorumctl (user ops)",
                        sizeof req.cmd.u.switchover.by);
            if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
                abort();
            }
            put("fuzz_request", buf, len);
            free(buf);
        }
        memset(&req, 0, sizeof req);
        req.kind = API_HEARTBEAT;
        req.cmd = fz_cmd(CMD_AGENT, 0, FZ_CLUSTER, "a");
        req.cmd.u.agent.state = PGQ_AGENT_UP;
        req.cmd.u.agent.pm_alive = true;
        req.cmd.u.agent.answering = true;
        req.cmd.u.agent.pg_state = PGQ_PGS_IN_PRODUCTION;
        req.cmd.u.agent.timeline = 2;
        req.cmd.u.agent.lsn = 0x3000060;
        req.cmd.u.agent.lease = true;
        req.cmd.u.agent.pm_pid = 4242;
        req.cmd.u.agent.session = 77;
        req.cmd.u.agent.host.cpu_busy_bp = 1234;
        req.cmd.u.agent.host.load1_c = 42;
        req.cmd.u.agent.host.disk_write_bps = 81920;
        req.cmd.u.agent.host.net_rx_bps = 5120;
        pgq_strlcpy(req.cmd.u.agent.version, "0.1.0", sizeof req.cmd.u.agent.version);
        pgq_strlcpy(req.conninfo, "host=10.0.1.1 port=5432", sizeof req.conninfo);
        req.priority = 50;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_ALLOW_UNFENCED;
        req.cmd = fz_cmd(CMD_ALLOW_UNFENCED, 0, FZ_CLUSTER, "a");
        pgq_strlcpy(req.cmd.u.allow.by, "pgquorumctl (user ops)", sizeof req.cmd.u.allow.by);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_GRANT;
        req.cmd = fz_cmd(CMD_GRANT, 0, FZ_CLUSTER, NULL);
        pgq_strlcpy(req.token, "a-token", sizeof req.token);
        pgq_strlcpy(req.cmd.u.grant.name, "user:ops", sizeof req.cmd.u.grant.name);
        req.cmd.u.grant.action = AUTHZ_MAINTENANCE;
        req.cmd.u.grant.revoke = true;
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_MONITOR_CHANGE;
        req.cmd = fz_cmd(CMD_MEMBER, 0, "", NULL);
        req.cmd.u.member.op = PGQ_MEMBER_REPLACE;
        req.cmd.u.member.monitor_id = 4;
        req.cmd.u.member.old_id = 3;
        pgq_strlcpy(req.cmd.u.member.raft_address, "10.0.0.4:7001",
                    sizeof req.cmd.u.member.raft_address);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_WHOAMI;
        pgq_strlcpy(req.token, "another-token", sizeof req.token);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_SYNC;
        req.cmd = fz_cmd(CMD_SYNC_CONFIG, 0, FZ_CLUSTER, NULL);
        req.cmd.u.sync_config.mode = PGQ_SYNC_STRICT;
        req.cmd.u.sync_config.number = 2;
        req.cmd.u.sync_config.replication_quorum = -1;
        pgq_strlcpy(req.cmd.u.sync_config.by, "pgquorumctl (user ops)",
                    sizeof req.cmd.u.sync_config.by);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        free(buf);
        memset(&req, 0, sizeof req);
        req.kind = API_REPORT;
        o[0] = fz_obs(&base, "a", true, false, 5000);
        o[1] = fz_obs(&base, "b", false, false, 0);
        pgq_strlcpy(o[0].upstream, "10.0.0.9:5432", sizeof o[0].upstream);
#if defined(PGQ_SYNC_MAX)
        pgq_strlcpy(o[0].sync_standbys, "b,c,d", sizeof o[0].sync_standbys);
#endif
        o[0].cache_hit_bp = 9950;
        req.cmd = fz_report(0, 2, o, 2);
        if (codec_request_encode(&req, NULL, &buf, &len) != 0) {
            abort();
        }
        put("fuzz_request", buf, len);
        /* Framed streams for the frame reader: limit byte, then chunks. */
        {
            uint8_t f[600];
            size_t n = 0;
            f[n++] = 0x80; /* PGQ_FRAME_MAX */
            f[n++] = (uint8_t)(len + 4 > 0xef ? 0xef : len + 4);
            frame_put_header(f + n, (uint32_t)len);
            memcpy(f + n + 4, buf, PGQ_MIN(len, sizeof f - n - 4));
            put("fuzz_frame", f, PGQ_MIN(n + 4 + len, sizeof f));
        }
        free(buf);
        command_close(&req.cmd);
    }
    {
        /* Two frames in one read, then a header split over reads; limit 64. */
        static const uint8_t f1[] = {0x04, 14,  0,    0,    0,    2, 'h', 'i', 0, 0, 0,
                                     4,    'a', 'b',  'c',  'd',  2, 0,   0,   3, 0, 2,
                                     'x',  'y', 0xf3, 0x00, 0x04, 0, 0,   0,   0};
        static const uint8_t f2[] = {0x01, 4, 0, 0, 1, 0}; /* 256 > 16: refused */
        put("fuzz_frame", f1, sizeof f1);
        put("fuzz_frame", f2, sizeof f2);
    }
    state_close(&s);
    state_close(&base);
    for (unsigned i = 0; i < n_log; i++) {
        command_close(&log_cmds[i]);
    }
}

static void texts(void)
{
    static const char *const conf =
        "[monitor]\n"
        "id = 1\n"
        "data_dir = /var/lib/pgquorum\n"
        "raft_address = 10.0.0.1:7001\n"
        "api_address = 10.0.0.1:7002\n"
        "peers = 1=10.0.0.1:7001, 2=10.0.0.2:7001,3=10.0.0.3:7001\n"
        "log_level = debug\n"
        "\n"
        "[raft]\n"
        "election_timeout = 1s\n"
        "heartbeat_timeout = 100ms\n"
        "snapshot_threshold = 2048\n"
        "snapshot_trailing = 512\n"
        "# a comment\n"
        "[health]\n"
        "interval = 2s ; inline comment\n"
        "timeout = 1s\n"
        "retry_interval = 500ms\n"
        "retries = 3\n"
        "report_refresh = 1min\n"
        "passfile = \"/etc/pgquorum/pgpass\"\n"
        "sslmode = verify-full\n"
        "sslcert = /etc/pgquorum/client.crt\n"
        "sslkey = /etc/pgquorum/client.key\n"
        "sslrootcert = /etc/pgquorum/root.crt\n"
        "[failover]\n"
        "failover_timeout = 10s\n"
        "max_lag_on_failover = 16MB\n"
        "promote_timeout = 1m\n"
        "repoint_timeout = 30s\n"
        "[api]\n"
        "idle_timeout = 30s\n"
        "max_clients = 64\n";
    static const char *const conf_min =
        "[monitor]\nid=2\ndata_dir=/d\nraft_address=127.0.0.1:7001\napi_address=127.0.0.1:7002\n"
        "peers=2=127.0.0.1:7001\n";
    static const char *const conf_bad =
        "[monitor]\nid = 1\nid = 2\n[nope]\nkey\n[raft]\nelection_timeout = "
        "99999999999999999999h\n";
    static const char *const conninfos[] = {
        "host=10.0.0.1 port=5432 dbname=postgres user=pgquorum",
        "hostaddr=10.0.0.1 port=5433 user=pgquorum sslmode=require application_name='pg quorum'",
        "host=a dbname='x\\'y' user=u connect_timeout=3 target_session_attrs=read-write",
        "host=a password=secret",
        "host=a Port=5432",
        "host=a dbname='host=b port=1'",
        "postgresql://pgquorum@db1.example:5433/app?sslmode=require&connect_timeout=5",
        "postgres://u:pw@[::1]:5432/d%20b?application_name=x&ssl=true",
        "postgresql://%68ost/",
        "postgresql://a,b/db",
        "postgresql:///db?host=/tmp&port=5432",
        "",
        "host=",
        "host = a   port = 65535",
    };
    put_str("fuzz_config", conf);
    put_str("fuzz_config", conf_min);
    put_str("fuzz_config", conf_bad);
    /* fuzz_query: two bytes of facts (no NUL), then a query string. */
    put_str("fuzz_query",
            "\x35\x0a"
            "lag=16MB&node=pg1&cluster=main");
    put_str("fuzz_query",
            "\x91\x01"
            "node=pg%31&limit=10");
    put_str("fuzz_query",
            "\xff\xff"
            "cluster=a+b&lag=1048576");
    put_str("fuzz_query",
            "\x10\x08"
            "lag=1kB&lag=2");
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(conninfos); i++) {
        put_str("fuzz_conninfo", conninfos[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    commands_and_snapshots();
    texts();
    return 0;
}
