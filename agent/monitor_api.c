/* monitor, the API's requests: one table row per request kind, with its
 * handler; reads are answered from this monitor's copy of the state, writes
 * go through the log. The leader's own steps are proposed here too
 * (monitor_propose_copy), so that every write ends in write_done_cb.
 *
 * The happy path is: look the kind up in `requests`; a read replies at once
 * (STATUS and EVENTS with the state, marked not ready without a quorum); a
 * write on the ready leader is checked against the state with the state
 * machine's own rule, copied, proposed, and answered once it has committed.
 *
 * Possible failure modes are: a kind with no row (BAD_REQUEST "unknown
 * request"), the monitor shutting down (UNAVAILABLE), a write on a monitor
 * that is not the ready leader (NOT_LEADER with the leader's API address, or
 * UNAVAILABLE when there is no leader or it is still catching up), a report
 * that does not come from the host of a voter with its id (REFUSED), a
 * command the state would refuse (refused before it reaches the log, in the
 * state machine's words), leadership lost before the command committed
 * (UNAVAILABLE or NOT_LEADER: retry). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conninfo.h"
#include "failpoint.h"
#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"

struct pending_write
{
    struct proposal p;
    struct monitor *m;
    struct api_client *cl; /* NULL for the monitor's own steps */
    struct peer_id who;    /* cl's identity, for the audit of a refusal */
    struct command cmd;
};

typedef void (*request_fn)(struct monitor *m, struct api_client *cl, const struct api_request *req);

struct request_row
{
    int kind; /* enum api_kind */
    request_fn handle;
    /* It goes through the log: only the ready leader takes it, the others
     * answer NOT_LEADER or UNAVAILABLE before the handler runs. */
    bool write;
    /* What the caller must be allowed (enum authz_action), checked before
     * anything else; AUTHZ_SYNC is refined by the command (an allowance to
     * lose writes is AUTHZ_ALLOW_DATA_LOSS). */
    int action;
    /* A client's write: its command carries who asked, and a refusal of it
     * by the state machine is audited. */
    bool client;
    const char *what; /* one line on what the request does, for the reader */
};

static uint64_t rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static int api_code_of(int pgq_code)
{
    switch (pgq_code) {
        case 0:
            return API_OK;
        case PGQ_INVALID:
        case PGQ_MALFORMED:
        case PGQ_TOOBIG:
        case PGQ_VERSION:
        case PGQ_UNKNOWN:
            return API_BAD_REQUEST;
        case PGQ_NOTLEADER:
            return API_NOT_LEADER;
        case PGQ_DENIED:
            return API_DENIED;
        case PGQ_UNAVAILABLE:
        case PGQ_SHUTDOWN:
        case PGQ_TIMEOUT:
            return API_UNAVAILABLE;
        case PGQ_NOMEM:
        case PGQ_INTERNAL:
            return API_INTERNAL;
        default:
            return API_REFUSED;
    }
}

/* ---- writes: client commands and the leader's own steps ----------------- */

static void write_done_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct pending_write *w = p->data;
    if (w->cl != NULL) {
        if (status != 0) {
            api_reply_code(w->cl, api_code_of(status),
                           status == PGQ_NOTLEADER ? "leadership lost before the command "
                                                     "committed: retry"
                                                   : "the command could not be committed: retry",
                           NULL);
        } else if (res->code == 0 && w->cmd.kind == CMD_BATCH && res->n_refused > 0 &&
                   authz_action_of_command(&w->cmd) != AUTHZ_REPORT) {
            /* Committed, but some of it was refused by the state it met:
             * audited as a single write refused at apply is. */
            const struct command *sub = &w->cmd.u.batch.cmds[res->first_refused - 1];
            char msg[PGQ_REASON_MAX + 96], outcome[PGQ_REASON_MAX];
            snprintf(msg, sizeof msg, "%u of %u refused, %u applied (index %" PRIu64 "); first: %s",
                     res->n_refused, w->cmd.u.batch.n, res->n_applied, p->index, res->message);
            snprintf(outcome, sizeof outcome, "refused: %s", res->message);
            monitor_audit(w->m, &w->who, authz_action_of_command(sub), sub->cluster, sub->node,
                          outcome);
            api_reply_code(w->cl, API_REFUSED, msg, NULL);
        } else if (res->code == 0) {
            /* (A report refused in a batch, its cluster gone or its monitor
             * no longer a voter, is dropped: resending it would not help.) */
            char msg[64];
            if (w->cmd.kind == CMD_BATCH) {
                snprintf(msg, sizeof msg, "%u applied, committed at index %" PRIu64, res->n_applied,
                         p->index);
            } else {
                snprintf(msg, sizeof msg, "committed at index %" PRIu64, p->index);
            }
            api_reply_code(w->cl, API_OK, msg, NULL);
        } else {
            char outcome[PGQ_REASON_MAX];
            snprintf(outcome, sizeof outcome, "refused: %s", res->message);
            /* A client's write (not a report or a forwarded audit: a refusal
             * of a refusal would loop). */
            if (w->cmd.who[0] != '\0' && w->cmd.kind != CMD_AUDIT) {
                monitor_audit(w->m, &w->who, authz_action_of_command(&w->cmd), w->cmd.cluster,
                              w->cmd.node, outcome);
            }
            api_reply_code(w->cl, api_code_of(res->code), res->message, NULL);
        }
    } else if (status == 0 && res->code != 0) {
        log_info("step refused: %s", res->message);
    }
    struct monitor *m = w->m;
    command_close(&w->cmd);
    free(w);
    monitor_kick(m);
}

int monitor_propose_copy(struct monitor *m, struct api_client *cl, const struct command *cmd)
{
    struct pending_write *w = calloc(1, sizeof *w);
    int rv;
    if (w == NULL) {
        return PGQ_NOMEM;
    }
    w->m = m;
    w->cl = cl;
    if (cl != NULL) {
        w->who = m->caller; /* proposed while its request is dispatched */
    }
    if (command_copy(&w->cmd, cmd) != 0) {
        free(w);
        return PGQ_NOMEM;
    }
    w->p.data = w;
    w->p.cb = write_done_cb;
    rv = consensus_propose(&m->cons, &w->p, &w->cmd);
    if (rv != 0) {
        command_close(&w->cmd);
        free(w);
    }
    return rv;
}

/* A write reaches the log only through the ready leader; the others say
 * where it is. True when this monitor may propose; otherwise cl has had its
 * reply. */
static bool leader_or_reply(struct monitor *m, struct api_client *cl)
{
    const char *leader_api;
    uint64_t leader;
    char msg[256];
    if (consensus_ready(&m->cons)) {
        return true;
    }
    leader = consensus_leader(&m->cons, &leader_api);
    if (leader == m->cfg.id) {
        api_reply_code(cl, API_UNAVAILABLE,
                       "this monitor was just elected and is catching up with the log: retry",
                       NULL);
    } else if (leader != 0) {
        snprintf(msg, sizeof msg,
                 "monitor %" PRIu64 " is not the leader; monitor %" PRIu64 " at %s is", m->cfg.id,
                 leader, leader_api[0] != '\0' ? leader_api : "(address unknown)");
        api_reply_code(cl, API_NOT_LEADER, msg, leader_api);
    } else {
        api_reply_code(cl, API_UNAVAILABLE, "no leader: the monitors have no quorum now", NULL);
    }
    return false;
}

/* What a node agent may register its node with: how to reach it, not the
 * monitors' own credentials or files (a stolen agent certificate must not
 * point the monitors' passfile or client key at a server of its choice,
 * nor at a socket on the monitors' hosts). */
static bool agent_conninfo_ok(const char *conninfo, char *why, size_t whysize)
{
    static const char *const refused[] = {"passfile", "sslkey",  "sslcert",    "sslcrl",
                                          "service",  "options", "requirepeer"};
    struct conninfo ci;
    char err[PGQ_REASON_MAX];
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(refused); i++) {
        if (strstr(conninfo, refused[i]) != NULL) {
            snprintf(why, whysize,
                     "a node agent may not register a conninfo with %s (an admin may: node add)",
                     refused[i]);
            return false;
        }
    }
    if (conninfo_parse(conninfo, &ci, err, sizeof err) != 0 || ci.host[0] == '/' ||
        ci.host[0] == '@') {
        snprintf(why, whysize, "a node agent registers its node by TCP host and port only");
        return false;
    }
    return true;
}

static void handle_write(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct apply_result res;
    int rv;
    /* Refuse a bad command before it reaches the log, with the same words
     * the state machine would use. */
    if (req->kind == API_NODE_ADD && m->caller.kind == PEER_NODE &&
        !agent_conninfo_ok(req->cmd.u.node_add.conninfo, res.message, sizeof res.message)) {
        char outcome[PGQ_REASON_MAX];
        snprintf(outcome, sizeof outcome, "denied: %s", res.message);
        monitor_audit(m, &m->caller, AUTHZ_NODE_ADD, req->cmd.cluster, req->cmd.node, outcome);
        api_reply_code(cl, API_DENIED, res.message, NULL);
        return;
    }
    if (cluster_check(&m->fsm.state, &req->cmd, &res) != 0) {
        char outcome[PGQ_REASON_MAX];
        /* A batch's refusal names the command of it that was refused. */
        const struct command *what = req->cmd.kind == CMD_BATCH && res.first_refused != 0
                                         ? &req->cmd.u.batch.cmds[res.first_refused - 1]
                                         : &req->cmd;
        snprintf(outcome, sizeof outcome, "refused: %s", res.message);
        if (authz_action_of_command(&req->cmd) != AUTHZ_REPORT && req->kind != API_AUDIT) {
            monitor_audit(m, &m->caller, authz_action_of_command(&req->cmd), what->cluster,
                          what->node, outcome);
        }
        api_reply_code(cl, api_code_of(res.code), res.message, NULL);
        return;
    }
    rv = monitor_propose_copy(m, cl, &req->cmd);
    if (rv != 0) {
        api_reply_code(cl, api_code_of(rv), pgq_strerror(rv), NULL);
    }
}

/* A report (or a forwarded audit) claims to come from monitor `id`: an
 * authenticated monitor must be that one; an anonymous caller (TLS off)
 * must come from the host of a voter with that id. 0, or the refusal is
 * logged and cl has its reply. */
static int check_monitor_claim(struct monitor *m,
                               struct api_client *cl,
                               uint64_t id,
                               const char *what)
{
    const struct member *mb = state_member(&m->fsm.state, id);
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    char msg[256];
    if (m->caller.kind == PEER_MONITOR) {
        if (m->caller.monitor_id == id && mb != NULL && mb->voter) {
            return 0;
        }
        snprintf(msg, sizeof msg,
                 "%s for monitor %" PRIu64
                 " refused: it comes from %s, not from a voter with "
                 "that id",
                 what, id, m->caller.name);
    } else if (mb != NULL && mb->voter &&
               pgq_parse_hostport(mb->raft_address, host, sizeof host, &port) == 0 &&
               strcmp(host, m->caller.ip) == 0) {
        return 0;
    } else {
        /* No authentication of monitors without TLS: the host of the
         * voter's Raft address is all there is to go by. */
        snprintf(msg, sizeof msg,
                 "%s for monitor %" PRIu64
                 " refused: it comes from %s, not from the "
                 "host of a voter with that id",
                 what, id, m->caller.ip);
    }
    log_warn("api: %s", msg);
    api_reply_code(cl, API_REFUSED, msg, NULL);
    return PGQ_REFUSED;
}

static void handle_report(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    if (check_monitor_claim(m, cl, req->cmd.u.report.monitor_id, "report") == 0) {
        handle_write(m, cl, req);
    }
}

static void stamp_caller(struct monitor *m, struct command *cmd);

/* Level 6: many commands in one entry, all of one kind: a monitor's reports
 * (each its own, as a single report is checked) or a bulk registration
 * (each node add authorized for its cluster and node, as a single one is,
 * and the batch refused as a whole when one is). */
static void handle_batch(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    const struct cmd_batch *b = &req->cmd.u.batch;
    int kind = b->n > 0 ? b->cmds[0].kind : 0;
    char why[PGQ_REASON_MAX];
    if (req->cmd.kind != CMD_BATCH || b->n == 0 || (kind != CMD_REPORT && kind != CMD_NODE_ADD)) {
        api_reply_code(cl, API_BAD_REQUEST, "a batch holds reports or node additions", NULL);
        return;
    }
    for (unsigned i = 0; i < b->n; i++) {
        const struct command *sub = &b->cmds[i];
        if (sub->kind != kind) {
            api_reply_code(cl, API_BAD_REQUEST, "a batch holds commands of one kind", NULL);
            return;
        }
        if (kind == CMD_REPORT &&
            check_monitor_claim(m, cl, sub->u.report.monitor_id, "report") != 0) {
            return;
        }
        if (kind == CMD_NODE_ADD) {
            if (authz_check(&m->fsm.state, &m->authz, &m->caller, AUTHZ_NODE_ADD, sub->cluster,
                            sub->node, why, sizeof why) != 0) {
                char outcome[PGQ_REASON_MAX + 16];
                snprintf(outcome, sizeof outcome, "denied: %s", why);
                monitor_audit(m, &m->caller, AUTHZ_NODE_ADD, sub->cluster, sub->node, outcome);
                m->denied++;
                api_reply_code(cl, API_DENIED, why, NULL);
                return;
            }
            if (m->caller.kind == PEER_NODE &&
                !agent_conninfo_ok(sub->u.node_add.conninfo, why, sizeof why)) {
                char outcome[PGQ_REASON_MAX + 16];
                snprintf(outcome, sizeof outcome, "denied: %s", why);
                monitor_audit(m, &m->caller, AUTHZ_NODE_ADD, sub->cluster, sub->node, outcome);
                api_reply_code(cl, API_DENIED, why, NULL);
                return;
            }
        }
    }
    if (kind == CMD_NODE_ADD) {
        struct api_request copy = *req; /* shallow: proposed as a deep copy */
        stamp_caller(m, &copy.cmd);
        handle_write(m, cl, &copy);
        return;
    }
    handle_write(m, cl, req);
}

/* A follower's refusal, recorded by the leader. Not audited when refused
 * itself: a refusal of a refusal would loop. */
static void handle_audit(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    if (check_monitor_claim(m, cl, req->cmd.u.audit.monitor_id, "audit") == 0) {
        handle_write(m, cl, req);
    }
}

/* ---- reads ---------------------------------------------------------------- */

static void handle_state(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct api_response res;
    api_response_init(&res);
    res.body = req->kind;
    consensus_info(&m->cons, &res.info);
    res.info.rss_kb = rss_kb();
    monitor_resources_info(m, &res.info);
    if (req->kind == API_STATUS && req->stream && req->cluster[0] == '\0') {
        api_reply_stream(cl, &res, &m->fsm.state); /* the whole state, a few clusters a turn */
    } else {
        api_reply(cl, &res, &m->fsm.state, req->cluster, req->limit);
    }
    api_response_close(&res);
}

static void handle_failpoint(struct monitor *m,
                             struct api_client *cl,
                             const struct api_request *req)
{
    char err[256];
    (void)m;
    if (failpoint_set(req->fp_name, req->fp_action, req->fp_arg, err, sizeof err) != 0) {
        api_reply_code(cl, API_REFUSED, err, NULL);
    } else {
        api_reply_code(cl, API_OK, "armed", NULL);
    }
}

/* ---- dispatch ------------------------------------------------------------ */

/* One row per request kind. A new kind is a row here (and its handler
 * above); a write row with handle_write needs nothing more than the
 * command's rules in cluster_check/cluster_apply. */
static const struct request_row requests[] = {
    {API_STATUS, handle_state, false, AUTHZ_STATUS, false,
     "the state, this monitor's Raft view and size"},
    {API_EVENTS, handle_state, false, AUTHZ_EVENTS, false,
     "the latest events, of one cluster or all"},
    {API_WHOAMI, monitor_whoami, false, AUTHZ_WHOAMI, false,
     "the caller's identity as this monitor sees it, its role and grants"},
    {API_FAILPOINT, handle_failpoint, false, AUTHZ_FAILPOINT, false,
     "arm or disarm a failpoint (test builds)"},
    {API_NODE_ADD, handle_write, true, AUTHZ_NODE_ADD, true, "add a node to a cluster"},
    {API_NODE_REMOVE, handle_write, true, AUTHZ_NODE_REMOVE, true,
     "remove a node from its cluster"},
    {API_CLUSTER_REMOVE, handle_write, true, AUTHZ_CLUSTER_REMOVE, true,
     "remove a cluster and its nodes from monitoring (audited)"},
    {API_MAINTENANCE, handle_write, true, AUTHZ_MAINTENANCE, true,
     "put a node in or out of maintenance"},
    {API_REPORT, handle_report, true, AUTHZ_REPORT, false,
     "another monitor's observations, for the leader"},
    {API_BATCH, handle_batch, true, AUTHZ_REPORT, false,
     "many reports, or many node additions, in one entry (each authorized as alone)"},
    {API_AUDIT, handle_audit, true, AUTHZ_AUDIT, false,
     "another monitor's refusal of a request, for the leader to record"},
    {API_HEARTBEAT, monitor_heartbeat, true, AUTHZ_HEARTBEAT, false,
     "a node agent's facts; the reply may grant a lease"},
    {API_ALLOW_UNFENCED, handle_write, true, AUTHZ_ALLOW_UNFENCED, true,
     "allow a failover over a primary that cannot be proven fenced (audited)"},
    {API_PAUSE, handle_write, true, AUTHZ_PAUSE, true,
     "pause or resume a cluster's automatic actions (audited)"},
    {API_SWITCHOVER, handle_write, true, AUTHZ_SWITCHOVER, true,
     "schedule or cancel a planned switchover (audited)"},
    {API_SYNC, handle_write, true, AUTHZ_SYNC, true,
     "managed synchronous replication: mode, number, replication quorum, or an allowance to "
     "lose writes (audited)"},
    {API_ROLE, handle_write, true, AUTHZ_ROLE, true, "set an identity's role (audited)"},
    {API_GRANT, handle_write, true, AUTHZ_GRANT, true,
     "grant, deny or revoke an action to an identity (audited)"},
    {API_MONITOR_CHANGE, monitor_member_change, true, AUTHZ_MONITOR_CHANGE, true,
     "add, remove or replace a monitor of the Raft group, one change at a time (audited)"},
};

static const struct request_row *request_row(int kind)
{
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        if (requests[i].kind == kind) {
            return &requests[i];
        }
    }
    return NULL;
}

/* The action req asks for, and the cluster and node it is about. */
static int request_action(const struct request_row *row,
                          const struct api_request *req,
                          const char **cluster,
                          const char **node)
{
    *cluster = req->cmd.cluster;
    *node = req->cmd.node;
    switch (req->kind) {
        case API_EVENTS:
            *cluster = req->cluster;
            break;
        case API_STATUS:
        case API_WHOAMI:
        case API_FAILPOINT:
        case API_ROLE: /* a role holds on every cluster */
            *cluster = "";
            *node = "";
            break;
        case API_BATCH:
            /* The first command stands for the batch here; its handler
             * checks every one (a node add for its own cluster). */
            if (req->cmd.u.batch.n > 0) {
                *cluster = req->cmd.u.batch.cmds[0].cluster;
                *node = req->cmd.u.batch.cmds[0].node;
                return req->cmd.u.batch.cmds[0].kind == CMD_NODE_ADD ? AUTHZ_NODE_ADD
                                                                     : AUTHZ_REPORT;
            }
            break;
        default:
            break;
    }
    return row->action == AUTHZ_SYNC ? authz_action_of_command(&req->cmd) : row->action;
}

/* A client's write carries who asked (level 5: below it no monitor would
 * take the field), and its "by" is that identity rather than what the
 * client says of itself. */
static void stamp_caller(struct monitor *m, struct command *cmd)
{
    const char *name = m->caller.name;
    if (m->fsm.state.feature_level < 5) {
        return;
    }
    pgq_strlcpy(cmd->who, name, sizeof cmd->who);
    pgq_strlcpy(cmd->from, m->caller.ip, sizeof cmd->from);
    if (!m->authz.on || m->caller.kind == PEER_ANONYMOUS) {
        return;
    }
    switch (cmd->kind) {
        case CMD_PAUSE:
            pgq_strlcpy(cmd->u.pause.by, name, sizeof cmd->u.pause.by);
            break;
        case CMD_SWITCHOVER:
            pgq_strlcpy(cmd->u.switchover.by, name, sizeof cmd->u.switchover.by);
            break;
        case CMD_SYNC_CONFIG:
            pgq_strlcpy(cmd->u.sync_config.by, name, sizeof cmd->u.sync_config.by);
            break;
        case CMD_ALLOW_UNFENCED:
            pgq_strlcpy(cmd->u.allow.by, name, sizeof cmd->u.allow.by);
            break;
        default:
            break;
    }
}

void monitor_handle_request(struct api_server *s,
                            struct api_client *cl,
                            const struct api_request *req)
{
    struct monitor *m = s->data;
    const struct request_row *row;
    const char *cluster, *node;
    char why[PGQ_REASON_MAX], outcome[PGQ_REASON_MAX];
    int action;
    if (m->stopping) {
        api_reply_code(cl, API_UNAVAILABLE, "shutting down", NULL);
        return;
    }
    row = request_row(req->kind);
    if (row == NULL) {
        api_reply_code(cl, API_BAD_REQUEST, "unknown request", NULL);
        return;
    }
    action = request_action(row, req, &cluster, &node);
    /* Who asks, and may they: before anything else (a follower says
     * nothing of the leader to a caller who may not ask). */
    if (!monitor_identify(m, cl, req, action, &m->caller)) {
        return;
    }
    if (authz_check(&m->fsm.state, &m->authz, &m->caller, action, cluster, node, why, sizeof why) !=
        0) {
        snprintf(outcome, sizeof outcome, "denied: %s", why);
        if (action != AUTHZ_AUDIT) {
            monitor_audit(m, &m->caller, action, cluster, node, outcome);
        }
        m->denied++;
        api_reply_code(cl, API_DENIED, why, NULL);
        return;
    }
    if (row->write && !leader_or_reply(m, cl)) {
        return;
    }
    if (row->client) {
        struct api_request *copy = malloc(sizeof *copy);
        if (copy == NULL) {
            api_reply_code(cl, API_INTERNAL, "out of memory", NULL);
            return;
        }
        *copy = *req; /* shallow: a client write holds no pointer */
        memset(copy->token, 0, sizeof copy->token);
        stamp_caller(m, &copy->cmd);
        row->handle(m, cl, copy);
        free(copy);
        return;
    }
    row->handle(m, cl, req);
}
