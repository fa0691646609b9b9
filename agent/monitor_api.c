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

#include "failpoint.h"
#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"

struct pending_write
{
    struct proposal p;
    struct monitor *m;
    struct api_client *cl; /* NULL for the monitor's own steps */
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
        } else if (res->code == 0) {
            char msg[64];
            snprintf(msg, sizeof msg, "committed at index %" PRIu64, p->index);
            api_reply_code(w->cl, API_OK, msg, NULL);
        } else {
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
    w->cmd = *cmd;
    if (cmd->kind == CMD_REPORT && cmd->u.report.n_obs > 0) {
        w->cmd.u.report.obs = calloc(cmd->u.report.n_obs, sizeof *cmd->u.report.obs);
        if (w->cmd.u.report.obs == NULL) {
            free(w);
            return PGQ_NOMEM;
        }
        memcpy(w->cmd.u.report.obs, cmd->u.report.obs,
               cmd->u.report.n_obs * sizeof *cmd->u.report.obs);
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

static void handle_write(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct apply_result res;
    int rv;
    /* Refuse a bad command before it reaches the log, with the same words
     * the state machine would use. */
    if (cluster_check(&m->fsm.state, &req->cmd, &res) != 0) {
        api_reply_code(cl, api_code_of(res.code), res.message, NULL);
        return;
    }
    rv = monitor_propose_copy(m, cl, &req->cmd);
    if (rv != 0) {
        api_reply_code(cl, api_code_of(rv), pgq_strerror(rv), NULL);
    }
}

static void handle_report(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    const struct member *mb = state_member(&m->fsm.state, req->cmd.u.report.monitor_id);
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    char msg[256];
    /* Reports change verdicts: only a voter may send them, and only from
     * the host of its Raft address (the API has no authentication yet). */
    if (mb == NULL || !mb->voter ||
        pgq_parse_hostport(mb->raft_address, host, sizeof host, &port) != 0 ||
        strcmp(host, api_client_peer(cl)) != 0) {
        snprintf(msg, sizeof msg,
                 "report for monitor %" PRIu64
                 " refused: it comes from %s, not from the "
                 "host of a voter with that id",
                 req->cmd.u.report.monitor_id, api_client_peer(cl));
        log_warn("api: %s", msg);
        api_reply_code(cl, API_REFUSED, msg, NULL);
        return;
    }
    handle_write(m, cl, req);
}

/* ---- reads ---------------------------------------------------------------- */

static void handle_state(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    struct api_response res;
    api_response_init(&res);
    res.body = req->kind;
    consensus_info(&m->cons, &res.info);
    res.info.rss_kb = rss_kb();
    api_reply(cl, &res, &m->fsm.state, req->cluster, req->limit);
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
    {API_STATUS, handle_state, false, "the state, this monitor's Raft view and size"},
    {API_EVENTS, handle_state, false, "the latest events, of one cluster or all"},
    {API_FAILPOINT, handle_failpoint, false, "arm or disarm a failpoint (test builds)"},
    {API_NODE_ADD, handle_write, true, "add a node to a cluster"},
    {API_NODE_REMOVE, handle_write, true, "remove a node from its cluster"},
    {API_MAINTENANCE, handle_write, true, "put a node in or out of maintenance"},
    {API_REPORT, handle_report, true, "another monitor's observations, for the leader"},
    {API_HEARTBEAT, monitor_heartbeat, true, "a node agent's facts; the reply may grant a lease"},
    {API_ALLOW_UNFENCED, handle_write, true,
     "allow a failover over a primary that cannot be proven fenced (audited)"},
    {API_PAUSE, handle_write, true, "pause or resume a cluster's automatic actions (audited)"},
    {API_SWITCHOVER, handle_write, true, "schedule or cancel a planned switchover (audited)"},
    {API_SYNC, handle_write, true,
     "managed synchronous replication: mode, number, replication quorum, or an allowance to "
     "lose writes (audited)"},
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

void monitor_handle_request(struct api_server *s,
                            struct api_client *cl,
                            const struct api_request *req)
{
    struct monitor *m = s->data;
    const struct request_row *row;
    if (m->stopping) {
        api_reply_code(cl, API_UNAVAILABLE, "shutting down", NULL);
        return;
    }
    row = request_row(req->kind);
    if (row == NULL) {
        api_reply_code(cl, API_BAD_REQUEST, "unknown request", NULL);
        return;
    }
    if (row->write && !leader_or_reply(m, cl)) {
        return;
    }
    row->handle(m, cl, req);
}
