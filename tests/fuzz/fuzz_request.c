/* Checks that any bytes a client sends the operator API are decoded by
 * codec_request_decode without a crash, leak or sanitizer report, and that a
 * request it accepts encodes back (codec_request_encode) to bytes that decode
 * again to the same request and encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static void same_request(const struct api_request *a, const struct api_request *b)
{
    FZ_ASSERT(a->kind == b->kind, "kind %d != %d", a->kind, b->kind);
    FZ_ASSERT(strcmp(a->cluster, b->cluster) == 0, "events.cluster");
    FZ_ASSERT(a->limit == b->limit, "events.limit %u != %u", a->limit, b->limit);
    FZ_ASSERT(strcmp(a->fp_name, b->fp_name) == 0, "failpoint.name");
    FZ_ASSERT(strcmp(a->fp_action, b->fp_action) == 0, "failpoint.action");
    FZ_ASSERT(strcmp(a->fp_arg, b->fp_arg) == 0, "failpoint.arg");
    FZ_ASSERT(a->cmd.kind == b->cmd.kind, "cmd.kind");
    FZ_ASSERT(a->cmd.time_ms == b->cmd.time_ms, "cmd.time_ms");
    FZ_ASSERT(strcmp(a->cmd.cluster, b->cmd.cluster) == 0, "cmd.cluster");
    FZ_ASSERT(strcmp(a->cmd.node, b->cmd.node) == 0, "cmd.node");
    switch (a->kind) {
        case API_NODE_ADD:
            FZ_ASSERT(strcmp(a->cmd.u.node_add.conninfo, b->cmd.u.node_add.conninfo) == 0,
                      "node_add.conninfo");
            FZ_ASSERT(a->cmd.u.node_add.priority == b->cmd.u.node_add.priority,
                      "node_add.priority");
            break;
        case API_MAINTENANCE:
            FZ_ASSERT(a->cmd.u.maintenance.on == b->cmd.u.maintenance.on, "maintenance.on");
            break;
        case API_REPORT: {
            const struct cmd_report *x = &a->cmd.u.report, *y = &b->cmd.u.report;
            FZ_ASSERT(x->monitor_id == y->monitor_id, "report.monitor_id");
            FZ_ASSERT(strcmp(x->api_address, y->api_address) == 0, "report.api_address");
            FZ_ASSERT(x->n_obs == y->n_obs, "report.n_obs %u != %u", x->n_obs, y->n_obs);
            /* Both come from codec_obs_from_pb, which zeroes first. */
            for (unsigned i = 0; i < x->n_obs; i++) {
                FZ_ASSERT(memcmp(&x->obs[i], &y->obs[i], sizeof x->obs[i]) == 0,
                          "report.obs[%u] differs", i);
            }
            break;
        }
        default:
            break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_request req, again;
    char err[256];
    uint8_t *b1, *b2;
    size_t l1, l2;
    int rv;

    if (codec_request_decode(data, size, &req, err, sizeof err) != 0) {
        return 0;
    }
    rv = codec_request_encode(&req, NULL, &b1, &l1);
    FZ_ASSERT(rv == 0, "re-encoding an accepted request failed: %d", rv);
    rv = codec_request_decode(b1, l1, &again, err, sizeof err);
    FZ_ASSERT(rv == 0, "re-encoded request refused: %s", err);
    same_request(&req, &again);
    rv = codec_request_encode(&again, NULL, &b2, &l2);
    FZ_ASSERT(rv == 0, "second encode failed: %d", rv);
    FZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0, "encodings differ (%zu vs %zu bytes)", l1, l2);

    /* What the API handler does next with a client command. */
    if (req.kind == API_NODE_ADD || req.kind == API_NODE_REMOVE || req.kind == API_MAINTENANCE) {
        static struct state base;
        static bool built;
        struct apply_result res;
        if (!built) {
            fz_base_state(&base);
            built = true;
        }
        (void)cluster_check(&base, &req.cmd, &res);
    }
    free(b1);
    free(b2);
    api_request_close(&req);
    api_request_close(&again);
    return 0;
}
