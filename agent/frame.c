/* Frames of the operator API (see frame.h). */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "pgquorum/pgquorum.h"

void frame_put_header(uint8_t *buf, uint32_t len)
{
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
}

uint32_t frame_get_header(const uint8_t *buf)
{
    return (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
           (uint32_t)buf[3];
}

void frame_reader_init(struct frame_reader *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

void frame_reader_close(struct frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* 1: the header is buffered and *len is acceptable; 0: no header yet;
 * -1: the header announces more than the limit. */
static int announced(const struct frame_reader *r, size_t *len)
{
    if (r->len < FRAME_HEADER_SIZE) {
        return 0;
    }
    *len = frame_get_header(r->buf);
    return *len > r->max ? -1 : 1;
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t n)
{
    size_t want;
    if (announced(r, &want) < 0) {
        return PGQ_TOOBIG;
    }
    if (n == 0) {
        return 0; /* nothing to copy (memcpy into a NULL buffer is undefined) */
    }
    /* The reader holds at most one frame plus one read's worth of the next:
     * the caller stops reading while it handles a frame. */
    if (r->len + n > r->max + FRAME_HEADER_SIZE + FRAME_READ_SLACK) {
        return PGQ_TOOBIG;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        uint8_t *grown;
        while (cap < r->len + n) {
            cap *= 2;
        }
        grown = realloc(r->buf, cap);
        if (grown == NULL) {
            return PGQ_NOMEM;
        }
        r->buf = grown;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return announced(r, &want) < 0 ? PGQ_TOOBIG : 0;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **msg, size_t *len)
{
    size_t want;
    int rv = announced(r, &want);
    if (rv <= 0) {
        return rv;
    }
    if (r->len < FRAME_HEADER_SIZE + want) {
        return 0;
    }
    *msg = r->buf + FRAME_HEADER_SIZE;
    *len = want;
    return 1;
}

void frame_reader_consume(struct frame_reader *r)
{
    size_t want;
    if (announced(r, &want) != 1 || r->len < FRAME_HEADER_SIZE + want) {
        return;
    }
    memmove(r->buf, r->buf + FRAME_HEADER_SIZE + want, r->len - FRAME_HEADER_SIZE - want);
    r->len -= FRAME_HEADER_SIZE + want;
}

size_t frame_reader_pending(const struct frame_reader *r)
{
    return r->len;
}
