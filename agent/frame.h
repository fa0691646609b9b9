/* Frames of the operator API: a 4-byte big-endian length, then that many
 * bytes of one protobuf message. The reader accumulates bytes as they come
 * and refuses a frame longer than its limit before buffering it. Pure. */
#ifndef PGQ_FRAME_H
#define PGQ_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 4
#define FRAME_READ_SLACK 65536 /* bytes of a next frame read along */

void frame_put_header(uint8_t *buf, uint32_t len);
uint32_t frame_get_header(const uint8_t *buf);

struct frame_reader
{
    uint8_t *buf; /* owned */
    size_t len;
    size_t cap;
    size_t max; /* largest message accepted */
};

void frame_reader_init(struct frame_reader *r, size_t max);
void frame_reader_close(struct frame_reader *r);

/* Append bytes. PGQ_TOOBIG when the frame being read is over the limit,
 * PGQ_NOMEM on allocation failure. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t n);

/* 1 and the message when a whole frame is buffered, 0 when more bytes are
 * needed, -1 when the announced length is over the limit. */
int frame_reader_next(struct frame_reader *r, const uint8_t **msg, size_t *len);

/* Drop the frame returned by frame_reader_next. */
void frame_reader_consume(struct frame_reader *r);

/* Bytes buffered (a partial frame when > 0 after consume). */
size_t frame_reader_pending(const struct frame_reader *r);

#endif /* PGQ_FRAME_H */
