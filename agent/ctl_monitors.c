/* pgquorumctl's view of the quorum's monitors (see ctl_monitors.h). */
#include "ctl_monitors.h"

#include <string.h>

#include "lib/util.h"

/* A monitor's own Raft info: a status of a cluster no one can register
 * ("/" is not a cluster name), so that a monitor of level 6 on answers
 * with its info alone, not the whole state (15 MB at 10,000 nodes); one
 * that refuses the field is asked for everything, as before. */
static int info_call(struct ctl *c,
                     const char *address,
                     struct api_request *req,
                     struct api_response *res)
{
    int rv;
    memset(req, 0, sizeof *req);
    req->kind = API_STATUS;
    pgq_strlcpy(req->cluster, "/", sizeof req->cluster);
    rv = ctl_call(c, address, req, res);
    if (rv == 0 && res->code == API_BAD_REQUEST) {
        api_response_close(res);
        req->cluster[0] = '\0';
        req->stream = true;
        rv = ctl_call(c, address, req, res);
    }
    return rv;
}

unsigned ctl_monitor_rows(struct ctl *c,
                          const struct api_response *first,
                          const char *answered,
                          struct monitor_row *rows,
                          unsigned max)
{
    unsigned n = render_monitor_rows(&first->state, &first->info, answered, rows, max);
    uint64_t saved = c->timeout_ms;
    c->timeout_ms = PGQ_MIN(c->timeout_ms, 1500);
    for (unsigned i = 0; i < n; i++) {
        struct monitor_row *r = &rows[i];
        struct api_request req;
        struct api_response res;
        if (r->reachable || r->api_address[0] == '\0') {
            continue;
        }
        if (info_call(c, r->api_address, &req, &res) == 0 && res.code == API_OK &&
            res.info.id == r->id) {
            r->reachable = true;
            r->info = res.info;
        }
        api_response_close(&res);
    }
    /* A monitor whose API address is not yet committed: look for it among
     * the addresses given on the command line. */
    for (unsigned i = 0; i < c->n_monitors; i++) {
        bool used = false;
        bool missing = false;
        for (unsigned k = 0; k < n; k++) {
            used |= strcmp(rows[k].api_address, c->monitors[i]) == 0;
            missing |= rows[k].api_address[0] == '\0';
        }
        if (!used && missing) {
            struct api_request req;
            struct api_response res;
            if (info_call(c, c->monitors[i], &req, &res) == 0 && res.code == API_OK) {
                for (unsigned k = 0; k < n; k++) {
                    if (rows[k].id == res.info.id && rows[k].api_address[0] == '\0') {
                        rows[k].reachable = true;
                        rows[k].info = res.info;
                        pgq_strlcpy(rows[k].api_address, c->monitors[i],
                                    sizeof rows[k].api_address);
                    }
                }
            }
            api_response_close(&res);
        }
    }
    /* Before the first leader, the state knows no monitors: show the one
     * that answered. */
    if (n == 0 && max > 0) {
        memset(&rows[0], 0, sizeof rows[0]);
        rows[0].id = first->info.id;
        rows[0].reachable = true;
        rows[0].info = first->info;
        pgq_strlcpy(rows[0].raft_address, first->info.raft_address, sizeof rows[0].raft_address);
        pgq_strlcpy(rows[0].api_address, answered, sizeof rows[0].api_address);
        n = 1;
    }
    c->timeout_ms = saved;
    return n;
}

uint64_t ctl_status_leader(const struct monitor_row *rows, unsigned n, uint64_t named)
{
    uint64_t leader = 0, term = 0;
    bool listed = false;
    for (unsigned i = 0; i < n; i++) {
        listed |= rows[i].id == named;
        if (rows[i].reachable && rows[i].info.role == PGQ_MON_LEADER &&
            (leader == 0 || rows[i].info.term > term)) {
            leader = rows[i].id;
            term = rows[i].info.term;
        }
    }
    return named != 0 && !listed ? named : leader;
}
