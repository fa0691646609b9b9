/* codec_base: the codec's tools (see codec.h): the scratch arena of the
 * encoders, packing, the unpack budget (an allocator that refuses a message
 * that unpacks to far more than its bytes), and the checks every decoder
 * makes (version, counts, strings, canonical form). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_internal.h"
#include "lib/util.h"

/* ---- scratch arena for encoders ---------------------------------------- */

void *codec_scratch_alloc(struct scratch *sc, size_t size)
{
    void *p;
    if (sc->failed) {
        return NULL;
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 64;
        void **grown = realloc(sc->ptrs, cap * sizeof *grown);
        if (grown == NULL) {
            sc->failed = true;
            return NULL;
        }
        sc->ptrs = grown;
        sc->cap = cap;
    }
    p = calloc(1, size ? size : 1);
    if (p == NULL) {
        sc->failed = true;
        return NULL;
    }
    sc->ptrs[sc->n++] = p;
    return p;
}

void codec_scratch_free(struct scratch *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->ptrs[i]);
    }
    free(sc->ptrs);
    memset(sc, 0, sizeof *sc);
}

/* Pack any message into a fresh buffer with headroom. */
int codec_pack(const ProtobufCMessage *m, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    size_t headroom = a != NULL ? a->headroom : 0;
    uint8_t *out =
        a != NULL && a->alloc != NULL ? a->alloc(headroom + size) : malloc(headroom + size);
    if (out == NULL) {
        return PGQ_NOMEM;
    }
    protobuf_c_message_pack(m, out + headroom);
    *buf = out;
    *len = size;
    return 0;
}

/* ---- decode helpers ----------------------------------------------------- */

void codec_dec_fail(struct dec *d, int code, const char *fmt, ...)
{
    va_list ap;
    if (d->rv != 0) {
        return; /* keep the first error */
    }
    d->rv = code;
    if (d->errmsg != NULL && d->errsize > 0) {
        va_start(ap, fmt);
        vsnprintf(d->errmsg, d->errsize, fmt, ap);
        va_end(ap);
    }
}

void codec_copy_str(struct dec *d, char *dst, size_t size, const char *src, const char *field)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    if (strlen(src) >= size) {
        codec_dec_fail(d, PGQ_TOOBIG, "field %s is longer than %zu bytes", field, size - 1);
        dst[0] = '\0';
        return;
    }
    memcpy(dst, src, strlen(src) + 1);
}

void codec_check_count(struct dec *d, size_t n, size_t max, const char *field)
{
    if (n > max) {
        codec_dec_fail(d, PGQ_TOOBIG, "field %s has %zu entries, more than %zu", field, n, max);
    }
}

void codec_check_version(struct dec *d, uint32_t version, const char *what)
{
    if (version != PGQ_FORMAT_VERSION) {
        codec_dec_fail(d, PGQ_VERSION, "%s has format version %" PRIu32 ", this build speaks %d",
                       what, version, PGQ_FORMAT_VERSION);
    }
}

/* Each block carries its size in front, so that what protobuf-c frees (its
 * scratch while parsing, or everything on failure) is given back: the budget
 * bounds the memory held at any time. */
union budget_head {
    size_t size;
    max_align_t align;
};

static void *budget_alloc(void *data, size_t size)
{
    struct codec_budget *b = data;
    union budget_head *h;
    if (size > b->left || size > SIZE_MAX - sizeof(union budget_head)) {
        b->exceeded = true;
        return NULL;
    }
    h = malloc(sizeof *h + size);
    if (h == NULL) {
        return NULL;
    }
    h->size = size;
    b->left -= size;
    return h + 1;
}

static void budget_free(void *data, void *p)
{
    struct codec_budget *b = data;
    union budget_head *h;
    if (p == NULL) {
        return;
    }
    h = (union budget_head *)p - 1;
    b->left += h->size;
    free(h);
}

ProtobufCAllocator *codec_budget_init(struct codec_budget *b, size_t len)
{
    b->allocator.alloc = budget_alloc;
    b->allocator.free = budget_free;
    b->allocator.allocator_data = b;
    b->exceeded = false;
    b->left = len <= (SIZE_MAX - CODEC_UNPACK_SLACK) / CODEC_UNPACK_RATIO
                  ? len * CODEC_UNPACK_RATIO + CODEC_UNPACK_SLACK
                  : SIZE_MAX;
    return &b->allocator;
}

void codec_unpack_failed(struct dec *d, const struct codec_budget *b, size_t len, const char *what)
{
    if (b->exceeded) {
        codec_dec_fail(d, PGQ_MALFORMED,
                       "malformed %s (%zu bytes): it decodes to more than %u times its size", what,
                       len, CODEC_UNPACK_RATIO);
    } else {
        codec_dec_fail(d, PGQ_MALFORMED, "malformed %s (%zu bytes)", what, len);
    }
}

void codec_check_canonical(struct dec *d, const ProtobufCMessage *m, size_t len, const char *what)
{
    size_t again = protobuf_c_message_get_packed_size(m);
    if (again != len) {
        codec_dec_fail(d, PGQ_MALFORMED,
                       "malformed %s: %zu bytes encode back to %zu (a NUL byte inside a string, or "
                       "a duplicate or non-canonical field)",
                       what, len, again);
    }
}

void codec_check_message(struct dec *d,
                         uint32_t version,
                         const ProtobufCMessage *m,
                         size_t len,
                         const char *what)
{
    codec_check_version(d, version, what);
    if (d->rv == 0) {
        codec_check_canonical(d, m, len, what);
    }
}

/* ---- observations ------------------------------------------------------- */
