/* Checks that any reply bytes a monitor (or something posing as one) sends
 * pgquorumctl are decoded by codec_response_decode without a crash, leak or
 * sanitizer report; that an accepted reply re-encodes (codec_response_encode)
 * to bytes that decode again and encode to the identical bytes; and that
 * what pgquorumctl prints from it (render_status as table and JSON,
 * render_events, render_uri) does not crash, and that its JSON documents
 * (status, each node, events) are built and parse back, whatever bytes the
 * reply's texts carry. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "render.h"

static FILE *devnull;

static void encode(const struct api_response *res, uint8_t **buf, size_t *len)
{
    int rv = codec_response_encode(res, &res->state, "", 0, NULL, buf, len);
    FZ_ASSERT(rv == 0, "re-encoding an accepted response failed: %d", rv);
}

static void roundtrip(const struct api_response *res)
{
    struct api_response again;
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256];
    int rv;
    encode(res, &b1, &l1);
    rv = codec_response_decode(b1, l1, &again, err, sizeof err);
    FZ_ASSERT(rv == 0, "re-encoded response refused: %s", err);
    FZ_ASSERT(again.code == res->code && again.body == res->body, "code or body differs");
    encode(&again, &b2, &l2);
    FZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0, "response encodings differ (%zu vs %zu)", l1,
              l2);
    api_response_close(&again);
    free(b1);
    free(b2);
}

/* doc was built and its text is JSON (valid UTF-8 included). */
static void parses(json_t *doc, const char *what)
{
    char *text;
    json_t *back;
    json_error_t err;
    FZ_ASSERT(doc != NULL, "%s: no document", what);
    text = render_json_dumps(doc);
    FZ_ASSERT(text != NULL, "%s: not written", what);
    back = json_loads(text, 0, &err);
    FZ_ASSERT(back != NULL, "%s does not parse back: %s", what, err.text);
    json_decref(back);
    free(text);
    json_decref(doc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_response res;
    char err[256];
    if (codec_response_decode(data, size, &res, err, sizeof err) != 0) {
        return 0;
    }
    roundtrip(&res);
    if (res.body == API_STATUS) {
        struct monitor_row rows[PGQ_MAX_MONITORS];
        unsigned n =
            render_monitor_rows(&res.state, &res.info, "127.0.0.1:1", rows, PGQ_MAX_MONITORS);
        char uri[4096];
        uint64_t now = res.state.time_ms + 5000;
        render_status(devnull, &res.state, rows, n, res.state.leader_id, "", now, false);
        render_status(devnull, &res.state, rows, n, res.state.leader_id, "", now, true);
        parses(render_status_doc(&res.state, rows, n, res.state.leader_id, ""), "status");
        for (unsigned i = 0; i < res.state.n_clusters && i < 8; i++) {
            const struct cluster *c = &res.state.clusters[i];
            for (unsigned k = 0; k < c->n_nodes && k < 8; k++) {
                parses(render_node_doc(&res.state, c, &c->nodes[k]), "node");
            }
        }
        if (res.state.n_clusters > 0) {
            const char *name = res.state.clusters[0].name;
            render_status(devnull, &res.state, rows, n, 0, name, 0, false);
            render_status(devnull, &res.state, rows, n, 0, name, 0, true);
        }
        for (unsigned i = 0; i < res.state.n_clusters && i < 8; i++) {
            if (render_uri(uri, sizeof uri, &res.state, res.state.clusters[i].name) == 0) {
                FZ_ASSERT(strlen(uri) < sizeof uri, "uri");
            }
        }
        (void)render_uri(uri, sizeof uri, &res.state, "no-such-cluster");
    } else if (res.body == API_EVENTS) {
        render_events(devnull, &res.state, false);
        render_events(devnull, &res.state, true);
        parses(render_events_doc(&res.state, "", 0), "events");
        parses(render_events_doc(&res.state, "main", 2), "events of main");
    }
    api_response_close(&res);
    return 0;
}
