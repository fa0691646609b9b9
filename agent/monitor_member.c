/* monitor, online membership: pgquorumctl monitor add|remove|replace on
 * the leader. The change itself is membership.c's, one at a time; here it
 * meets the API: the request starts it, the client waits for its end, and
 * a refusal is audited as any other write's.
 *
 * The happy path is: the request (an admin's: authz action monitor-change,
 * on the ready leader) starts the change; its steps go through libraft and
 * the log; the client is answered once it is done.
 *
 * Possible failure modes are: refused at once (one line, nothing changed),
 * stopped half-way (REFUSED with where it stopped: status shows it, and the
 * same request continues it), leadership lost (UNAVAILABLE: pgquorumctl
 * asks the next leader, which continues), shutdown (UNAVAILABLE). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "monitor_internal.h"

static int api_code(int code)
{
    switch (code) {
        case 0:
            return API_OK;
        case PGQ_INVALID:
            return API_BAD_REQUEST;
        case PGQ_UNAVAILABLE:
        case PGQ_SHUTDOWN:
        case PGQ_NOTLEADER:
            return API_UNAVAILABLE;
        default:
            return API_REFUSED;
    }
}

/* A refusal (not a "retry elsewhere") is audited, as a refused write is. */
static void audit_refusal(struct monitor *m, const struct peer_id *who, int code, const char *why)
{
    char outcome[PGQ_REASON_MAX];
    if (api_code(code) == API_UNAVAILABLE || api_code(code) == API_OK) {
        return;
    }
    snprintf(outcome, sizeof outcome, "refused: %s", why);
    monitor_audit(m, who, AUTHZ_MONITOR_CHANGE, "", "", outcome);
}

static void done_cb(struct membership *ms, int code, const char *message)
{
    struct monitor *m = ms->data;
    struct api_client *cl = m->member_client;
    m->member_client = NULL;
    if (!m->stopping) {
        audit_refusal(m, &m->member_who, code, message);
    }
    if (cl != NULL) {
        api_reply_code(cl, api_code(code), message, NULL);
    }
}

void monitor_member_start(struct monitor *m)
{
    membership_init(&m->members, &m->cons);
    m->members.data = m;
    m->members.done_cb = done_cb;
    /* A snapshot for a new monitor may take a while to arrive, and its
     * log index moves only once it is installed. */
    m->members.stall_ms = PGQ_MAX(30000, 20 * m->cfg.election_timeout_ms);
}

void monitor_member_change(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    char why[PGQ_REASON_MAX];
    int rv = membership_start(&m->members, &req->cmd, why, sizeof why);
    if (rv != 0) {
        audit_refusal(m, &m->caller, rv, why);
        api_reply_code(cl, api_code(rv), why, NULL);
        return;
    }
    m->member_client = cl;
    m->member_who = m->caller;
    log_info("monitor change asked by %s: %s of monitor %" PRIu64, m->caller.name,
             pgq_member_op_name(req->cmd.u.member.op), req->cmd.u.member.monitor_id);
}

void monitor_member_stop(struct monitor *m)
{
    membership_stop(&m->members);
}
