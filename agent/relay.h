/* relay: Raft connections between monitors over the transport (mutual TLS),
 * handed to libraft as local stream handles. No libraft here: consensus_uv.c
 * turns this into a raft_uv_transport.
 *
 * Every connection is a tconn to or from another monitor. Inside it, the
 * connecting monitor first sends a hello: its Raft id and Raft address. The
 * listener takes the hello only from a client certificate naming the same
 * monitor id (URI SAN pgquorum:monitor:ID); the connecting side wants the
 * server certificate of the monitor it dials. Then both sides get one end of
 * a socketpair as a uv_pipe_t (libraft's stream), and the relay copies bytes
 * between the other end and the tconn, reading one side only while the
 * other side's write is not pending (bounded buffering). */
#ifndef PGQ_RELAY_H
#define PGQ_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pgquorum/pgquorum.h"
#include "transport.h"

/* The hello: "PGQR", version (2 bytes), address length (2 bytes), id (8
 * bytes), all big endian, then the address without its NUL. */
#define RELAY_MAGIC "PGQR"
#define RELAY_VERSION 1
#define RELAY_HELLO_FIXED 16
#define RELAY_HELLO_MAX (RELAY_HELLO_FIXED + PGQ_ADDR_MAX)

/* Encode a hello into out (RELAY_HELLO_MAX bytes); its length, or 0 when
 * the address is too long. Pure. */
size_t relay_hello_encode(uint64_t id, const char *address, uint8_t *out);

/* Decode a hello from the first len bytes of buf: 0 with *used its length
 * (id and address filled) or 0 when more bytes are needed; PGQ_INVALID with
 * errmsg when it is not a hello. Pure. */
int relay_hello_decode(const uint8_t *buf,
                       size_t len,
                       size_t *used,
                       uint64_t *id,
                       char *address,
                       size_t address_size,
                       char *errmsg,
                       size_t errsize);

struct relay;
struct relay_link;

/* A new incoming connection whose hello was accepted: stream is the
 * caller's (allocated with alloc_stream, to be uv_close()d and freed). */
typedef void (*relay_accept_cb)(struct relay *r,
                                uint64_t id,
                                const char *address,
                                uv_stream_t *stream);
/* An outgoing connection: status 0 and the stream (the caller's), or a
 * nonzero status (RELAY_CANCELED when the relay closes) and NULL. */
typedef void (*relay_connect_cb)(void *arg, uv_stream_t *stream, int status);
typedef void (*relay_close_cb)(struct relay *r);

enum { RELAY_FAILED = 1, RELAY_CANCELED = 2 };

struct relay
{
    uv_loop_t *loop;
    struct transport *t; /* borrowed */
    uint64_t id;
    char address[PGQ_ADDR_MAX];
    uint64_t handshake_ms;              /* TLS handshake plus hello, both ways */
    void *(*alloc_stream)(size_t size); /* memory of the streams handed out */
    void (*free_stream)(void *p);
    void *data;
    /* private */
    uv_tcp_t listener;
    bool listener_init;
    bool closing;
    relay_accept_cb accept_cb;
    relay_close_cb close_cb;
    struct relay_link *links;
    unsigned handles;    /* open handles: the listener and every link's */
    unsigned handshakes; /* incoming links not relaying yet */
};

void relay_init(struct relay *r,
                uv_loop_t *loop,
                struct transport *t,
                uint64_t id,
                const char *address);

/* Listen on r->address. 0, or a PGQ_ code with errmsg. */
int relay_listen(struct relay *r, relay_accept_cb cb, char *errmsg, size_t errsize);

/* Connect to monitor id at address; cb(arg, ...) exactly once, never from
 * inside this call. 0, or a PGQ_ code (cb will not be called). */
int relay_connect(struct relay *r,
                  uint64_t id,
                  const char *address,
                  relay_connect_cb cb,
                  void *arg);

/* Stop listening, cancel the connects, close every link; cb once every
 * handle is closed. */
void relay_close(struct relay *r, relay_close_cb cb);

#endif /* PGQ_RELAY_H */
