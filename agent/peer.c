/* peer: asynchronous API client (see peer.h). */
#include "peer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "pgquorum/pgquorum.h"

struct peer_conn
{
    struct tconn conn;
    struct peer *p;
    char address[PGQ_ADDR_MAX];
    bool connected;
    struct frame_reader reader;
    uint8_t *out;
    size_t out_len;
};

static void conn_closed_cb(struct tconn *tc)
{
    struct peer_conn *c = tc->data;
    struct peer *p = c->p;
    frame_reader_close(&c->reader);
    free(c->out);
    free(c);
    p->pending--;
    if (p->closing && p->pending == 0 && p->close_cb != NULL) {
        p->close_cb(p);
    }
}

static void conn_drop(struct peer *p)
{
    struct peer_conn *c = p->conn;
    if (c == NULL) {
        return;
    }
    p->conn = NULL;
    tconn_close(&c->conn, conn_closed_cb);
}

static void finish(struct peer *p, int status, const struct api_response *res)
{
    peer_cb cb = p->cb;
    p->cb = NULL;
    p->busy = false;
    uv_timer_stop(&p->timer);
    if (status != 0) {
        conn_drop(p);
    } else if (p->conn != NULL) {
        tconn_read_stop(&p->conn->conn);
    }
    if (cb != NULL) {
        cb(p, status, res);
    }
}

static void fail(struct peer *p, int status, const char *fmt, ...) PGQ_PRINTF(3, 4);
static void fail(struct peer *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    finish(p, status, NULL);
}

static void read_cb(struct tconn *tc, ssize_t n, const uint8_t *buf)
{
    struct peer_conn *c = tc->data;
    struct peer *p = c->p;
    const uint8_t *msg;
    size_t len;
    int rv;
    if (p->conn != c || !p->busy) {
        return;
    }
    if (n < 0) {
        /* A TLS refusal of our certificate comes with the first read. */
        fail(p, n == UV_EPROTO ? PGQ_AUTH : PGQ_IO, "peer %s: %s", c->address,
             n == UV_EPROTO ? tc->errmsg : "connection closed");
        return;
    }
    if (frame_reader_feed(&c->reader, buf, (size_t)n) != 0) {
        fail(p, PGQ_TOOBIG, "peer %s: oversized reply", c->address);
        return;
    }
    rv = frame_reader_next(&c->reader, &msg, &len);
    if (rv < 0) {
        fail(p, PGQ_TOOBIG, "peer %s: oversized reply", c->address);
        return;
    }
    if (rv == 1) {
        struct api_response res;
        char err[256];
        if (codec_response_decode(msg, len, &res, err, sizeof err) != 0) {
            frame_reader_consume(&c->reader);
            fail(p, PGQ_MALFORMED, "%s", err);
            return;
        }
        frame_reader_consume(&c->reader);
        finish(p, 0, &res);
        api_response_close(&res);
    }
}

static void write_cb(struct tconn *tc, int status)
{
    struct peer_conn *c = tc->data;
    struct peer *p = c->p;
    free(c->out);
    c->out = NULL;
    if (p->conn != c || !p->busy) {
        return;
    }
    if (status != 0) {
        fail(p, PGQ_IO, "peer write: %s", uv_strerror(status));
        return;
    }
    if (tconn_read_start(&c->conn, read_cb) != 0) {
        fail(p, PGQ_IO, "peer %s: cannot read", c->address);
    }
}

static void send_request(struct peer *p)
{
    struct peer_conn *c = p->conn;
    if (tconn_write(&c->conn, c->out, c->out_len + FRAME_HEADER_SIZE, write_cb) != 0) {
        fail(p, PGQ_IO, "peer %s: cannot write", c->address);
    }
}

static void open_cb(struct tconn *tc, int status)
{
    struct peer_conn *c = tc->data;
    struct peer *p = c->p;
    if (p->conn != c) {
        return;
    }
    if (status != 0) {
        fail(p, status == PGQ_UNAVAILABLE ? PGQ_UNAVAILABLE : PGQ_AUTH, "peer %s: %s", c->address,
             tc->errmsg);
        return;
    }
    c->connected = true;
    send_request(p);
}

static void timer_cb(uv_timer_t *t)
{
    struct peer *p = t->data;
    fail(p, PGQ_TIMEOUT, "peer %s: no reply in time", p->conn != NULL ? p->conn->address : "?");
}

int peer_init(struct peer *p, uv_loop_t *loop, struct transport *t)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->transport = t;
    if (uv_timer_init(loop, &p->timer) != 0) {
        return PGQ_IO;
    }
    p->timer.data = p;
    p->pending = 1; /* the timer */
    return 0;
}

int peer_request(struct peer *p,
                 const char *address,
                 const struct api_request *req,
                 uint64_t timeout_ms,
                 peer_cb cb)
{
    struct codec_alloc a = {malloc, FRAME_HEADER_SIZE};
    struct peer_conn *c;
    uint8_t *buf;
    size_t len;
    if (p->busy || p->closing) {
        return PGQ_UNAVAILABLE;
    }
    if (p->conn != NULL && strcmp(p->conn->address, address) != 0) {
        conn_drop(p);
    }
    if (codec_request_encode(req, &a, &buf, &len) != 0) {
        return PGQ_NOMEM;
    }
    frame_put_header(buf, (uint32_t)len);
    if (p->conn == NULL) {
        struct sockaddr_in sa;
        char host[PGQ_ADDR_MAX];
        uint16_t port;
        if (pgq_parse_hostport(address, host, sizeof host, &port) != 0 ||
            uv_ip4_addr(host, port, &sa) != 0) {
            free(buf);
            return PGQ_INVALID;
        }
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            free(buf);
            return PGQ_NOMEM;
        }
        c->p = p;
        pgq_strlcpy(c->address, address, sizeof c->address);
        frame_reader_init(&c->reader, PGQ_REPLY_FRAME_MAX);
        tconn_init(p->transport, &c->conn);
        c->conn.data = c;
        p->pending++;
        p->conn = c;
        c->out = buf;
        c->out_len = len;
        /* Whoever answers at an API address must prove it is a monitor. */
        if (tconn_connect(&c->conn, (const struct sockaddr *)&sa, PEER_MONITOR, 0, open_cb) != 0) {
            conn_drop(p);
            return PGQ_UNAVAILABLE;
        }
    } else {
        c = p->conn;
        free(c->out);
        c->out = buf;
        c->out_len = len;
    }
    p->busy = true;
    p->cb = cb;
    uv_timer_start(&p->timer, timer_cb, timeout_ms, 0);
    if (c->connected) {
        send_request(p);
    }
    return 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct peer *p = h->data;
    p->pending--;
    if (p->pending == 0 && p->close_cb != NULL) {
        p->close_cb(p);
    }
}

void peer_close(struct peer *p, peer_close_cb cb)
{
    p->closing = true;
    p->close_cb = cb;
    if (p->busy) {
        fail(p, PGQ_SHUTDOWN, "%s", "shutting down");
    }
    conn_drop(p);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
}
