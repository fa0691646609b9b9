/* codec, a streamed status: its parts encoded one at a time on the monitor,
 * and the frames read back as one response by the client (see codec.h). */
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "cluster.h"

/* A legitimate stream of 10,000 nodes is about 40 frames; this many parts
 * of 256 nodes would be 16 million. */
#define CODEC_STREAM_FRAMES_MAX 65536u

int codec_status_part_encode(const struct state *state,
                             const char (*names)[PGQ_NAME_MAX],
                             unsigned n,
                             bool more,
                             const struct codec_alloc *a,
                             uint8_t **buf,
                             size_t *len)
{
    struct scratch sc = {0};
    Pgq__Response m = PGQ__RESPONSE__INIT;
    Pgq__StatusPart part = PGQ__STATUS_PART__INIT;
    Pgq__Cluster **cs = codec_scratch_alloc(&sc, PGQ_MAX(n, 1u) * sizeof *cs);
    int rv = cs != NULL ? 0 : PGQ_NOMEM;
    m.version = PGQ_FORMAT_VERSION;
    m.code = PGQ__CODE__OK;
    m.has_more = more, m.more = more;
    m.body_case = PGQ__RESPONSE__BODY_PART;
    m.part = &part;
    for (unsigned i = 0; rv == 0 && i < n; i++) {
        const struct cluster *c = state_cluster(state, names[i]);
        if (c != NULL) { /* removed since the stream began: left out */
            cs[part.n_clusters] = codec_cluster_to_pb(c, false, &sc);
            rv = cs[part.n_clusters++] != NULL ? 0 : PGQ_NOMEM;
        }
    }
    part.clusters = cs;
    if (rv == 0) {
        rv = codec_pack(&m.base, a, buf, len);
    }
    codec_scratch_free(&sc);
    return rv;
}

/* Each frame unpacked, kept until the end: the combined State points into
 * them. Allocated one by one: the unpacked message's allocator points at
 * its budget, which must not move. */
struct stream_frame
{
    Pgq__Response *m;
    struct codec_budget budget;
};

struct codec_stream
{
    struct stream_frame **frames;
    unsigned n, cap;
    size_t n_clusters; /* in the parts */
    bool done;
};

void codec_stream_free(struct codec_stream *st)
{
    if (st == NULL) {
        return;
    }
    for (unsigned i = 0; i < st->n; i++) {
        if (st->frames[i]->m != NULL) {
            pgq__response__free_unpacked(st->frames[i]->m, &st->frames[i]->budget.allocator);
        }
        free(st->frames[i]);
    }
    free(st->frames);
    free(st);
}

int codec_stream_add(struct codec_stream **stp,
                     const uint8_t *buf,
                     size_t len,
                     bool *more,
                     char *errmsg,
                     size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    struct codec_stream *st = *stp;
    struct stream_frame *f;
    bool head = st == NULL;
    *more = false;
    if (head) {
        st = calloc(1, sizeof *st);
        if (st == NULL) {
            codec_dec_fail(&d, PGQ_NOMEM, "out of memory");
            return d.rv;
        }
        *stp = st;
    }
    if (st->done) {
        codec_dec_fail(&d, PGQ_MALFORMED, "response: a frame after the last of a stream");
        return d.rv;
    }
    if (st->n >= CODEC_STREAM_FRAMES_MAX) {
        codec_dec_fail(&d, PGQ_MALFORMED, "response: a stream of more than %u frames",
                       CODEC_STREAM_FRAMES_MAX);
        return d.rv;
    }
    if (st->n == st->cap) {
        unsigned cap = st->cap != 0 ? 2 * st->cap : 8;
        void *p = realloc(st->frames, cap * sizeof *st->frames);
        if (p == NULL) {
            codec_dec_fail(&d, PGQ_NOMEM, "out of memory");
            return d.rv;
        }
        st->frames = p;
        st->cap = cap;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        codec_dec_fail(&d, PGQ_NOMEM, "out of memory");
        return d.rv;
    }
    st->frames[st->n++] = f;
    f->m = pgq__response__unpack(codec_budget_init(&f->budget, len), len, buf);
    if (f->m == NULL) {
        codec_unpack_failed(&d, &f->budget, len, head ? "response" : "response part");
        return d.rv;
    }
    codec_check_message(&d, f->m->version, &f->m->base, len, head ? "response" : "response part");
    if (d.rv != 0) {
        return d.rv;
    }
    if (head) {
        /* Only a status's head says more: any other reply is whole. */
        if (!(f->m->has_more && f->m->more)) {
            st->done = true;
            return 0;
        }
        if (f->m->body_case != PGQ__RESPONSE__BODY_STATUS || f->m->code != PGQ__CODE__OK ||
            f->m->status->state->n_clusters != 0) {
            codec_dec_fail(&d, PGQ_MALFORMED,
                           "response: says more follows, but is not the head of a status");
            return d.rv;
        }
        *more = true;
        return 0;
    }
    if (f->m->body_case != PGQ__RESPONSE__BODY_PART || f->m->code != PGQ__CODE__OK) {
        codec_dec_fail(&d, PGQ_MALFORMED, "response part %u: not a part of a status (case %d)",
                       st->n - 1, (int)f->m->body_case);
        return d.rv;
    }
    st->done = !(f->m->has_more && f->m->more);
    if (!st->done && f->m->part->n_clusters == 0) {
        /* Only the last may be empty (all its clusters removed meanwhile). */
        codec_dec_fail(&d, PGQ_MALFORMED, "response part %u: empty, and more said to follow",
                       st->n - 1);
        return d.rv;
    }
    st->n_clusters += f->m->part->n_clusters;
    codec_check_count(&d, st->n_clusters, PGQ_CLUSTERS_DECODE_MAX, "state.clusters");
    *more = !st->done;
    return d.rv;
}

int codec_stream_finish(struct codec_stream *st,
                        struct api_response *res,
                        char *errmsg,
                        size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    api_response_init(res);
    if (st == NULL || st->n == 0 || !st->done) {
        codec_dec_fail(&d, PGQ_MALFORMED, "response: the stream ended before its last part");
        codec_stream_free(st);
        return d.rv;
    }
    if (st->n == 1) {
        codec_response_from_pb(&d, st->frames[0]->m, res);
    } else {
        /* The head's State with every part's clusters, in their order:
         * decoded as if they had come in it. */
        Pgq__State *head = st->frames[0]->m->status->state;
        Pgq__Cluster **all = malloc(PGQ_MAX(st->n_clusters, (size_t)1) * sizeof *all);
        size_t k = 0;
        if (all == NULL) {
            codec_dec_fail(&d, PGQ_NOMEM, "out of memory");
        } else {
            for (unsigned i = 1; i < st->n; i++) {
                const Pgq__StatusPart *p = st->frames[i]->m->part;
                if (p->n_clusters > 0) { /* the last part may be empty */
                    memcpy(all + k, p->clusters, p->n_clusters * sizeof *all);
                    k += p->n_clusters;
                }
            }
            head->clusters = all;
            head->n_clusters = k;
            codec_response_from_pb(&d, st->frames[0]->m, res);
            head->clusters = NULL; /* the parts own them */
            head->n_clusters = 0;
            free(all);
        }
        res->more = false;
    }
    codec_stream_free(st);
    if (d.rv != 0) {
        api_response_close(res);
    }
    return d.rv;
}
