/* Unit tests of agent/frame.c: the 4-byte big-endian length header and the
 * reader that accumulates bytes, hands out whole frames and refuses an
 * oversized frame before buffering its body: feed says PGQ_TOOBIG, next -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "lib/util.h"
#include "pgquorum/pgquorum.h"

/* A frame of `len` bytes of body, byte i of the body being (seed + i). */
static uint8_t *make_frame(uint32_t len, uint8_t seed)
{
    uint8_t *f = malloc(FRAME_HEADER_SIZE + (size_t)len);
    assert_non_null(f);
    frame_put_header(f, len);
    for (uint32_t i = 0; i < len; i++) {
        f[FRAME_HEADER_SIZE + i] = (uint8_t)(seed + i);
    }
    return f;
}

static void assert_body(const uint8_t *msg, size_t len, size_t want_len, uint8_t seed)
{
    assert_int_equal(len, want_len);
    for (size_t i = 0; i < len; i++) {
        if (msg[i] != (uint8_t)(seed + i)) {
            fail_msg("byte %zu of the body is %u, want %u", i, msg[i], (uint8_t)(seed + i));
        }
    }
}

static void test_header_round_trip(void **ctx)
{
    /* The header is the length in 4 big-endian bytes, and reads back the same. */
    static const uint32_t lens[] = {0, 1, 255, 256, 0x01020304u, PGQ_FRAME_MAX, UINT32_MAX};
    uint8_t h[FRAME_HEADER_SIZE];
    (void)ctx;
    frame_put_header(h, 0x01020304u);
    assert_int_equal(h[0], 1);
    assert_int_equal(h[1], 2);
    assert_int_equal(h[2], 3);
    assert_int_equal(h[3], 4);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(lens); i++) {
        frame_put_header(h, lens[i]);
        assert_int_equal(frame_get_header(h), lens[i]);
    }
}

static void test_empty_reader(void **ctx)
{
    /* A new reader has nothing pending and asks for more bytes; feeding it nothing (found by
     * fuzzing: a copy into its NULL buffer) changes nothing. */
    struct frame_reader r;
    const uint8_t *msg = NULL;
    size_t len = 0;
    static const uint8_t none[1];
    (void)ctx;
    frame_reader_init(&r, 100);
    assert_int_equal(frame_reader_feed(&r, none, 0), 0);
    assert_int_equal(frame_reader_pending(&r), 0);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 0);
    frame_reader_consume(&r); /* nothing to drop: harmless */
    assert_int_equal(frame_reader_pending(&r), 0);
    frame_reader_close(&r);
}

static void test_partial_feeds(void **ctx)
{
    /* A frame fed one byte at a time is returned only once its last byte arrived. */
    struct frame_reader r;
    uint8_t *f = make_frame(300, 7);
    const uint8_t *msg = NULL;
    size_t len = 0;
    (void)ctx;
    frame_reader_init(&r, 1000);
    for (size_t i = 0; i < FRAME_HEADER_SIZE + 300; i++) {
        assert_int_equal(frame_reader_next(&r, &msg, &len), 0);
        assert_int_equal(frame_reader_feed(&r, f + i, 1), 0);
    }
    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_body(msg, len, 300, 7);
    frame_reader_consume(&r);
    assert_int_equal(frame_reader_pending(&r), 0);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 0);
    frame_reader_close(&r);
    free(f);
}

static void test_empty_frame(void **ctx)
{
    /* A frame with an empty body is a valid frame of length 0. */
    struct frame_reader r;
    uint8_t h[FRAME_HEADER_SIZE];
    const uint8_t *msg = NULL;
    size_t len = 99;
    (void)ctx;
    frame_reader_init(&r, 10);
    frame_put_header(h, 0);
    assert_int_equal(frame_reader_feed(&r, h, 3), 0);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 0);
    assert_int_equal(frame_reader_feed(&r, h + 3, 1), 0);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_int_equal(len, 0);
    frame_reader_consume(&r);
    assert_int_equal(frame_reader_pending(&r), 0);
    frame_reader_close(&r);
}

static void test_exact_max_accepted(void **ctx)
{
    /* A frame of exactly the reader's limit is accepted, in one feed or in pieces. */
    static const size_t chunks[] = {FRAME_HEADER_SIZE + PGQ_FRAME_MAX, 4096, 3, 65536 + 1};
    uint8_t *f = make_frame(PGQ_FRAME_MAX, 1);
    (void)ctx;
    for (size_t c = 0; c < PGQ_ARRAY_SIZE(chunks); c++) {
        struct frame_reader r;
        const uint8_t *msg = NULL;
        size_t len = 0, off = 0, total = FRAME_HEADER_SIZE + PGQ_FRAME_MAX;
        frame_reader_init(&r, PGQ_FRAME_MAX);
        while (off < total) {
            size_t n = PGQ_MIN(chunks[c], total - off);
            assert_int_equal(frame_reader_feed(&r, f + off, n), 0);
            off += n;
        }
        assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
        assert_body(msg, len, PGQ_FRAME_MAX, 1);
        frame_reader_consume(&r);
        assert_int_equal(frame_reader_pending(&r), 0);
        frame_reader_close(&r);
    }
    free(f);
}

static void test_max_plus_one_refused_at_header(void **ctx)
{
    /* A header announcing max+1 bytes is refused as soon as it is read, before any body. */
    struct frame_reader r;
    uint8_t h[FRAME_HEADER_SIZE];
    uint8_t body[16] = {0};
    const uint8_t *msg = NULL;
    size_t len = 0;
    (void)ctx;
    frame_reader_init(&r, PGQ_FRAME_MAX);
    frame_put_header(h, PGQ_FRAME_MAX + 1);
    assert_int_equal(frame_reader_feed(&r, h, 2), 0); /* not yet a header */
    assert_int_equal(frame_reader_feed(&r, h + 2, 2), PGQ_TOOBIG);
    assert_int_equal(frame_reader_next(&r, &msg, &len), -1);
    /* And it stays refused: no body byte is taken. */
    assert_int_equal(frame_reader_feed(&r, body, sizeof body), PGQ_TOOBIG);
    assert_int_equal(frame_reader_pending(&r), FRAME_HEADER_SIZE);
    frame_reader_close(&r);
}

static void test_oversized_in_one_feed(void **ctx)
{
    /* A header over the limit arriving with body bytes in one read is refused by that read. */
    struct frame_reader r;
    uint8_t buf[FRAME_HEADER_SIZE + 8] = {0};
    const uint8_t *msg = NULL;
    size_t len = 0;
    (void)ctx;
    frame_reader_init(&r, 100);
    frame_put_header(buf, UINT32_MAX);
    assert_int_equal(frame_reader_feed(&r, buf, sizeof buf), PGQ_TOOBIG);
    assert_int_equal(frame_reader_next(&r, &msg, &len), -1);
    frame_reader_close(&r);
}

static void test_small_limit_table(void **ctx)
{
    /* Around a limit of 10: 9 and 10 are accepted, 11 and beyond refused. */
    static const struct
    {
        uint32_t len;
        int next;
    } cases[] = {{0, 1}, {9, 1}, {10, 1}, {11, -1}, {1000, -1}};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct frame_reader r;
        uint8_t h[FRAME_HEADER_SIZE];
        uint8_t body[10] = {0};
        const uint8_t *msg = NULL;
        size_t len = 0;
        frame_reader_init(&r, 10);
        frame_put_header(h, cases[i].len);
        if (cases[i].next == 1) {
            assert_int_equal(frame_reader_feed(&r, h, sizeof h), 0);
            assert_int_equal(frame_reader_feed(&r, body, cases[i].len), 0);
        } else {
            assert_int_equal(frame_reader_feed(&r, h, sizeof h), PGQ_TOOBIG);
        }
        assert_int_equal(frame_reader_next(&r, &msg, &len), cases[i].next);
        frame_reader_close(&r);
    }
}

static void test_pipelined_frames(void **ctx)
{
    /* Several frames arriving in one read come out one by one, in order, after each consume. */
    struct frame_reader r;
    uint8_t *a = make_frame(10, 10), *b = make_frame(0, 0), *c = make_frame(50, 50);
    uint8_t buf[FRAME_HEADER_SIZE * 3 + 60 + 2];
    size_t off = 0;
    const uint8_t *msg = NULL;
    size_t len = 0;
    uint8_t h4[FRAME_HEADER_SIZE];
    (void)ctx;
    memcpy(buf + off, a, FRAME_HEADER_SIZE + 10);
    off += FRAME_HEADER_SIZE + 10;
    memcpy(buf + off, b, FRAME_HEADER_SIZE);
    off += FRAME_HEADER_SIZE;
    memcpy(buf + off, c, FRAME_HEADER_SIZE + 50);
    off += FRAME_HEADER_SIZE + 50;
    frame_put_header(h4, 5);
    memcpy(buf + off, h4, 2); /* the first 2 bytes of a fourth header */
    off += 2;
    frame_reader_init(&r, 100);
    assert_int_equal(frame_reader_feed(&r, buf, off), 0);

    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_body(msg, len, 10, 10);
    /* next without consume returns the same frame again */
    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_body(msg, len, 10, 10);
    frame_reader_consume(&r);

    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_int_equal(len, 0);
    frame_reader_consume(&r);

    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_body(msg, len, 50, 50);
    frame_reader_consume(&r);

    /* The partial fourth frame stays pending until completed. */
    assert_int_equal(frame_reader_pending(&r), 2);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 0);
    frame_reader_consume(&r); /* no whole frame: nothing dropped */
    assert_int_equal(frame_reader_pending(&r), 2);
    {
        uint8_t rest[2 + 5] = {0, 5, 'h', 'e', 'l', 'l', 'o'};
        assert_int_equal(frame_reader_feed(&r, rest, sizeof rest), 0);
    }
    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(msg, "hello", 5);
    frame_reader_consume(&r);
    assert_int_equal(frame_reader_pending(&r), 0);
    frame_reader_close(&r);
    free(a);
    free(b);
    free(c);
}

static void test_oversized_second_frame(void **ctx)
{
    /* An oversized frame behind a good one is refused when it becomes the current frame. */
    struct frame_reader r;
    uint8_t buf[FRAME_HEADER_SIZE * 2 + 3];
    const uint8_t *msg = NULL;
    size_t len = 0;
    (void)ctx;
    frame_put_header(buf, 3);
    memcpy(buf + FRAME_HEADER_SIZE, "abc", 3);
    frame_put_header(buf + FRAME_HEADER_SIZE + 3, 1000);
    frame_reader_init(&r, 100);
    assert_int_equal(frame_reader_feed(&r, buf, sizeof buf), 0);
    assert_int_equal(frame_reader_next(&r, &msg, &len), 1);
    assert_memory_equal(msg, "abc", 3);
    frame_reader_consume(&r);
    assert_int_equal(frame_reader_next(&r, &msg, &len), -1);
    assert_int_equal(frame_reader_feed(&r, buf, 1), PGQ_TOOBIG);
    frame_reader_close(&r);
}

static void test_read_slack_bounded(void **ctx)
{
    /* The reader holds at most one frame plus FRAME_READ_SLACK bytes of the next. */
    struct frame_reader r;
    uint8_t *f = make_frame(100, 0);
    uint8_t *more = calloc(1, FRAME_READ_SLACK + 1);
    (void)ctx;
    assert_non_null(more);
    frame_reader_init(&r, 100);
    assert_int_equal(frame_reader_feed(&r, f, FRAME_HEADER_SIZE + 100), 0);
    assert_int_equal(frame_reader_feed(&r, more, FRAME_READ_SLACK + 1), PGQ_TOOBIG);
    assert_int_equal(frame_reader_pending(&r), FRAME_HEADER_SIZE + 100);
    assert_int_equal(frame_reader_feed(&r, more, FRAME_READ_SLACK), 0);
    frame_reader_close(&r);
    free(more);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_empty_reader),
        cmocka_unit_test(test_partial_feeds),
        cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_exact_max_accepted),
        cmocka_unit_test(test_max_plus_one_refused_at_header),
        cmocka_unit_test(test_oversized_in_one_feed),
        cmocka_unit_test(test_small_limit_table),
        cmocka_unit_test(test_pipelined_frames),
        cmocka_unit_test(test_oversized_second_frame),
        cmocka_unit_test(test_read_slack_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
