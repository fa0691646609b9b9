/* Checks that any frames a monitor (or something posing as one) sends as a
 * streamed status (the input: frames, each a 4-byte big-endian length and
 * its bytes, as on the wire) are read by codec_stream_add and
 * codec_stream_finish without a crash, leak or sanitizer report, however
 * many frames come and whatever they hold; and that a stream accepted whole
 * re-encodes in one frame (codec_response_encode) to bytes that decode to
 * the same encoding again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct codec_stream *st = NULL;
    struct api_response res, again;
    char err[256];
    bool more = true;
    uint8_t *b1, *b2;
    size_t l1, l2, at = 0;
    while (more) {
        uint32_t len;
        if (size - at < 4) {
            codec_stream_free(st); /* cut short */
            return 0;
        }
        len = (uint32_t)data[at] << 24 | (uint32_t)data[at + 1] << 16 |
              (uint32_t)data[at + 2] << 8 | data[at + 3];
        at += 4;
        if (len > size - at) {
            codec_stream_free(st);
            return 0;
        }
        if (codec_stream_add(&st, data + at, len, &more, err, sizeof err) != 0) {
            FZ_ASSERT(err[0] != '\0', "a refused frame without a reason");
            codec_stream_free(st);
            return 0;
        }
        at += len;
    }
    if (codec_stream_finish(st, &res, err, sizeof err) != 0) {
        FZ_ASSERT(err[0] != '\0', "a refused stream without a reason");
        return 0;
    }
    FZ_ASSERT(!res.more, "a stream read whole still says more");
    FZ_ASSERT(codec_response_encode(&res, &res.state, "", 0, NULL, &b1, &l1) == 0,
              "re-encoding an accepted stream failed");
    FZ_ASSERT(codec_response_decode(b1, l1, &again, err, sizeof err) == 0,
              "an accepted stream, re-encoded, is refused: %s", err);
    FZ_ASSERT(codec_response_encode(&again, &again.state, "", 0, NULL, &b2, &l2) == 0,
              "re-encoding failed");
    FZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0, "encodings differ (%zu vs %zu)", l1, l2);
    free(b1);
    free(b2);
    api_response_close(&again);
    api_response_close(&res);
    return 0;
}
