/* resources: descriptor arithmetic and the loop's lag history (see
 * resources.h). Pure. */
#include "resources.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

void resources_need(const struct config *cfg,
                    unsigned n_voters,
                    uint64_t n_nodes,
                    struct fd_need *out)
{
    unsigned voters = n_voters != 0 ? n_voters : cfg->n_peers;
    uint64_t others = voters > 1 ? voters - 1 : 0;
    uint64_t api_fixed = 1 + RES_API_MONITOR_RESERVE + RES_FD_PEERS_OUT;
    memset(out, 0, sizeof *out);
    out->base = RES_FD_BASE;
    out->raft = RES_FD_RAFT_FILES + 1 +
                others * (cfg->tls ? RES_FD_PER_PEER_TLS : RES_FD_PER_PEER_PLAIN) +
                (cfg->tls ? RES_FD_RAFT_HANDSHAKES : 0);
    out->api = api_fixed + cfg->api_max_clients + RES_API_REFUSING_MAX;
    out->http =
        cfg->http_address[0] != '\0' ? 1 + cfg->http_max_clients + RES_HTTP_REFUSING_MAX : 0;
    out->drain = cfg->log_drain[0] != '\0' ? 1 : 0;
    out->actions = RES_FD_ACTIONS;
    out->reserve = RES_FD_RESERVE;
    out->probes = n_nodes;
    /* Raft must run, and the API must take the other monitors' reports
     * and a few operators: below that the monitor cannot do its part. */
    out->essential = out->base + out->raft + api_fixed + RES_API_MIN_CLIENTS;
}

uint64_t resources_fixed(const struct fd_need *n)
{
    return n->base + n->raft + n->api + n->http + n->drain + n->actions + n->reserve;
}

uint64_t resources_total(const struct fd_need *n)
{
    return resources_fixed(n) + n->probes;
}

uint64_t resources_probe_budget(const struct fd_need *n, uint64_t limit)
{
    uint64_t fixed = resources_fixed(n);
    return limit > fixed ? limit - fixed : 0;
}

void resources_describe(const struct fd_need *n, char *out, size_t size)
{
    snprintf(out, size,
             "probes %" PRIu64 ", Raft %" PRIu64 ", API %" PRIu64 ", HTTP %" PRIu64
             ", log drain %" PRIu64 ", actions %" PRIu64 ", process and reserve %" PRIu64,
             n->probes, n->raft, n->api, n->http, n->drain, n->actions, n->base + n->reserve);
}

/* ---- loop lag --------------------------------------------------------- */

void lag_init(struct lag_history *h)
{
    memset(h, 0, sizeof *h);
}

void lag_note(struct lag_history *h, uint64_t now_ms, uint64_t lag_ms)
{
    uint64_t sec = now_ms / 1000 + 1; /* + 1: 0 marks an empty slot */
    unsigned i = (unsigned)(sec % LAG_SECONDS);
    if (h->second[i] != sec) {
        h->second[i] = sec;
        h->max_ms[i] = 0;
    }
    h->max_ms[i] = PGQ_MAX(h->max_ms[i], lag_ms);
}

uint64_t lag_max_since(const struct lag_history *h, uint64_t since_ms, uint64_t now_ms)
{
    uint64_t from = since_ms / 1000 + 1, to = now_ms / 1000 + 1, worst = 0;
    if (to >= LAG_SECONDS && from < to - (LAG_SECONDS - 1)) {
        from = to - (LAG_SECONDS - 1);
    }
    for (unsigned i = 0; i < LAG_SECONDS; i++) {
        if (h->second[i] >= from && h->second[i] <= to) {
            worst = PGQ_MAX(worst, h->max_ms[i]);
        }
    }
    return worst;
}

uint64_t resources_overload_lag_ms(const struct config *cfg)
{
    return PGQ_MAX(cfg->timeout_ms / 4, 100);
}
