/* Checks that any snapshot bytes (codec_snapshot_decode, and the bare
 * codec_state_decode) are decoded without a crash, leak or sanitizer report;
 * that a decoded state encodes to bytes which decode again and encode to the
 * identical bytes; and that the restored state survives what a monitor does
 * next with it: apply a few valid commands, run the leader's policy. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static void roundtrip(const struct state *s)
{
    struct state again;
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256];
    int rv = codec_snapshot_encode(s, NULL, &b1, &l1);
    FZ_ASSERT(rv == 0 && l1 % 8 == 0, "snapshot encode: rv %d, %zu bytes", rv, l1);
    rv = codec_snapshot_decode(b1, l1, &again, err, sizeof err);
    FZ_ASSERT(rv == 0, "re-encoded snapshot refused: %s", err);
    rv = codec_snapshot_encode(&again, NULL, &b2, &l2);
    FZ_ASSERT(rv == 0, "second snapshot encode failed: %d", rv);
    FZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0, "snapshot encodings differ (%zu vs %zu)", l1,
              l2);
    state_close(&again);
    free(b1);
    free(b2);
}

/* A few commands a leader could commit next, on whatever was restored. */
static void use(struct state *s)
{
    struct apply_result res;
    struct command c;
    uint64_t t = s->time_ms + 1000;
    fz_check_events(s);
    c = fz_hello(t, 1, 3);
    cluster_apply(s, &c, &res);
    c = fz_add(t, FZ_CLUSTER, "fz1", 50);
    cluster_check(s, &c, &res);
    cluster_apply(s, &c, &res);
    for (unsigned ci = 0; ci < s->n_clusters && ci < 4; ci++) {
        const struct cluster *cl = &s->clusters[ci];
        for (unsigned ni = 0; ni < cl->n_nodes && ni < 4; ni++) {
            struct obs o = fz_obs(s, cl->nodes[ni].name, ni % 2 == 0, ni > 0, 5000);
            c = fz_report(t, 1 + ni % 3, &o, 1);
            pgq_strlcpy(c.cluster, cl->name, sizeof c.cluster);
            cluster_apply(s, &c, &res);
            command_close(&c);
        }
    }
    fz_run_policy(s, t + 60000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state s;
    char err[256];
    if (codec_snapshot_decode(data, size, &s, err, sizeof err) == 0) {
        roundtrip(&s);
        use(&s);
        state_close(&s);
    }
    if (codec_state_decode(data, size, &s, err, sizeof err) == 0) {
        roundtrip(&s);
        use(&s);
        state_close(&s);
    }
    return 0;
}
