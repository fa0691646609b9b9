/* Checks that the API frame reader, fed any byte stream in any chunking the
 * way api.c feeds it (reads of at most FRAME_READ_SLACK bytes, every whole
 * frame handled before the next read), never crashes, returns exactly the
 * frames of the stream in order, refuses only frames announced over its
 * limit, never drops accepted bytes, and keeps its buffer bounded.
 *
 * Input: byte 0 picks the limit (bit 7 set: PGQ_FRAME_MAX, else 0..127*16);
 * then commands: a byte k, then a chunk. k < 0xf0: the next k bytes are fed.
 * k >= 0xf0: a 2-byte big-endian length L follows, then min(L, rest) bytes
 * are fed (k - 0xef) times, each in one read (clipped to FRAME_READ_SLACK). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz_common.h"

struct stream
{
    uint8_t *all; /* every byte accepted so far */
    size_t len, cap;
    size_t pos; /* start of the first frame not yet consumed */
};

static void stream_add(struct stream *st, const uint8_t *d, size_t n)
{
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n) {
            cap *= 2;
        }
        st->all = realloc(st->all, cap);
        if (st->all == NULL) {
            abort();
        }
        st->cap = cap;
    }
    if (n > 0) {
        memcpy(st->all + st->len, d, n);
    }
    st->len += n;
}

/* Returns false when the connection is closed. */
static bool drain(struct frame_reader *r, struct stream *st)
{
    for (;;) {
        const uint8_t *msg;
        size_t len, avail = st->len - st->pos;
        int rv = frame_reader_next(r, &msg, &len);
        uint32_t hdr = avail >= 4 ? frame_get_header(st->all + st->pos) : 0;
        FZ_ASSERT(frame_reader_pending(r) == avail, "pending %zu, stream has %zu",
                  frame_reader_pending(r), avail);
        if (rv < 0) {
            FZ_ASSERT(avail >= 4 && hdr > r->max, "refused a frame of %u <= %zu", hdr, r->max);
            return false;
        }
        if (rv == 0) {
            FZ_ASSERT(avail < 4 || (hdr <= r->max && avail < 4 + (size_t)hdr),
                      "a whole frame is buffered but not returned");
            return true;
        }
        FZ_ASSERT(avail >= 4 && len == hdr && len <= r->max && 4 + len <= avail,
                  "frame of %zu bytes, header %u, %zu buffered", len, hdr, avail);
        FZ_ASSERT(memcmp(msg, st->all + st->pos + 4, len) == 0, "frame content differs");
        frame_reader_consume(r);
        st->pos += 4 + len;
        FZ_ASSERT(frame_reader_pending(r) == st->len - st->pos, "pending after consume");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_reader r;
    struct stream st = {0};
    size_t max, i = 1;
    bool open = true;
    if (size < 1) {
        return 0;
    }
    max = data[0] & 0x80 ? PGQ_FRAME_MAX : (size_t)(data[0] & 0x7f) * 16;
    frame_reader_init(&r, max);
    while (open && i < size) {
        unsigned k = data[i++];
        size_t n, reps = 1;
        if (k < 0xf0) {
            n = k;
        } else {
            if (size - i < 2) {
                break;
            }
            n = (size_t)data[i] << 8 | data[i + 1];
            i += 2;
            reps = k - 0xef;
        }
        if (n > size - i) {
            n = size - i;
        }
        if (n > FRAME_READ_SLACK) {
            n = FRAME_READ_SLACK;
        }
        for (size_t rep = 0; rep < reps && open; rep++) {
            size_t before = frame_reader_pending(&r);
            int rv;
            rv = frame_reader_feed(&r, data + i, n);
            if (rv == 0) {
                stream_add(&st, data + i, n);
            } else {
                size_t avail = st.len - st.pos;
                FZ_ASSERT(rv == PGQ_TOOBIG, "feed returned %d", rv);
                /* Only an over-limit announcement may be refused; the bytes
                 * that carry it are kept, so that it can be reported. */
                stream_add(&st, data + i, frame_reader_pending(&r) - before);
                avail = st.len - st.pos;
                FZ_ASSERT(avail >= 4 && frame_get_header(st.all + st.pos) > max,
                          "feed of %zu bytes refused with %zu pending, limit %zu: bytes dropped", n,
                          before, max);
            }
            FZ_ASSERT(r.cap <= 2 * (max + FRAME_HEADER_SIZE + FRAME_READ_SLACK) + 4096,
                      "buffer of %zu bytes for a limit of %zu", r.cap, max);
            open = drain(&r, &st);
        }
        i += n;
    }
    frame_reader_close(&r);
    free(st.all);
    return 0;
}
