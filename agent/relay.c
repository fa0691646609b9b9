/* relay: Raft connections between monitors over the transport (see relay.h).
 *
 * The happy path is, connecting: tconn_connect wanting the certificate of
 * monitor id; once TLS is up, write the hello; then a socketpair, one end a
 * uv_pipe_t (memory from alloc_stream) handed to the connect cb, the other
 * relayed to the tconn. Listening: accept, TLS requiring a client
 * certificate that names a monitor; read the hello; its id must be the
 * certificate's; then the socketpair and accept_cb. Bytes go pipe -> tconn
 * one chunk at a time (the pipe is not read while a tconn write is
 * pending) and tconn -> pipe up to RELAY_HIGH bytes queued (the tconn is
 * not read beyond it).
 *
 * Possible failure modes are: a peer without a certificate, with one of
 * another CA, expired, or not a monitor's; garbage instead of TLS; a hello
 * that does not parse or claims another id than the certificate's; no
 * handshake within handshake_ms. Each closes the connection before any
 * byte reaches libraft, with one warning naming the peer address and why
 * (an outgoing connection only logs at debug level: libraft retries it,
 * and the listener at the other end says why). A read or write error on a
 * relayed connection closes both of its ends; libraft reconnects. */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"
#include "resources.h"

#define RELAY_CHUNK 65536
#define RELAY_HIGH (256 * 1024)
#define RELAY_MAX_HANDSHAKES 64 /* incoming connections not yet relaying */
_Static_assert(RELAY_MAX_HANDSHAKES <= RES_FD_RAFT_HANDSHAKES, "resources.h counts them");

enum { L_TLS, L_HELLO, L_RELAY, L_CLOSING };

struct relay_link
{
    struct relay *r;
    struct relay_link *next;
    bool outgoing;
    int state;
    int status;  /* for the connect cb */
    uint64_t id; /* the monitor dialled, or the one that said hello */
    char from[PGQ_ADDR_MAX];
    relay_connect_cb cb;
    void *arg;
    bool cb_pending;
    bool counted; /* in r->handshakes */
    struct tconn c;
    uv_timer_t timer;
    uv_pipe_t pipe; /* our end of the socketpair */
    bool pipe_init;
    unsigned handles;
    uint8_t hello[RELAY_HELLO_MAX];
    size_t hello_len;
    size_t down_bytes; /* queued to the pipe */
    bool tconn_reading;
    uint8_t *up; /* RELAY_CHUNK bytes read from the pipe, written to the tconn */
};

struct down_write
{
    uv_write_t req;
    struct relay_link *l;
    size_t len;
    uint8_t data[];
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

size_t relay_hello_encode(uint64_t id, const char *address, uint8_t *out)
{
    size_t alen = strlen(address);
    if (alen == 0 || alen >= PGQ_ADDR_MAX) {
        return 0;
    }
    memcpy(out, RELAY_MAGIC, 4);
    put_be(out + 4, RELAY_VERSION, 2);
    put_be(out + 6, alen, 2);
    put_be(out + 8, id, 8);
    memcpy(out + RELAY_HELLO_FIXED, address, alen);
    return RELAY_HELLO_FIXED + alen;
}

int relay_hello_decode(const uint8_t *buf,
                       size_t len,
                       size_t *used,
                       uint64_t *id,
                       char *address,
                       size_t address_size,
                       char *errmsg,
                       size_t errsize)
{
    size_t alen;
    *used = 0;
    if (memcmp(buf, RELAY_MAGIC, PGQ_MIN(len, 4)) != 0) {
        snprintf(errmsg, errsize, "not a pgquorum Raft hello");
        return PGQ_INVALID;
    }
    if (len < RELAY_HELLO_FIXED) {
        return 0;
    }
    if (get_be(buf + 4, 2) != RELAY_VERSION) {
        snprintf(errmsg, errsize, "Raft hello version %u, not %u", (unsigned)get_be(buf + 4, 2),
                 RELAY_VERSION);
        return PGQ_INVALID;
    }
    alen = (size_t)get_be(buf + 6, 2);
    *id = get_be(buf + 8, 8);
    if (alen == 0 || alen >= address_size || alen >= PGQ_ADDR_MAX || *id == 0) {
        snprintf(errmsg, errsize, "Raft hello with id %" PRIu64 " and an address of %zu bytes", *id,
                 alen);
        return PGQ_INVALID;
    }
    if (len < RELAY_HELLO_FIXED + alen) {
        return 0;
    }
    memcpy(address, buf + RELAY_HELLO_FIXED, alen);
    address[alen] = '\0';
    *used = RELAY_HELLO_FIXED + alen;
    return 0;
}

void relay_init(struct relay *r,
                uv_loop_t *loop,
                struct transport *t,
                uint64_t id,
                const char *address)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    r->t = t;
    r->id = id;
    pgq_strlcpy(r->address, address, sizeof r->address);
    r->handshake_ms = 5000;
    r->alloc_stream = malloc;
    r->free_stream = free;
}

static void maybe_closed(struct relay *r)
{
    if (r->closing && r->handles == 0 && r->close_cb != NULL) {
        relay_close_cb cb = r->close_cb;
        r->close_cb = NULL;
        cb(r);
    }
}

static void link_free(struct relay_link *l)
{
    struct relay *r = l->r;
    for (struct relay_link **p = &r->links; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    if (l->counted) {
        r->handshakes--;
    }
    if (l->cb_pending) {
        l->cb(l->arg, NULL, r->closing ? RELAY_CANCELED : l->status);
    }
    free(l->up);
    free(l);
    r->handles--;
    maybe_closed(r);
}

static void link_handle_closed(struct relay_link *l)
{
    if (--l->handles == 0) {
        link_free(l);
    }
}

static void timer_closed_cb(uv_handle_t *h)
{
    link_handle_closed(h->data);
}

static void pipe_closed_cb(uv_handle_t *h)
{
    link_handle_closed(h->data);
}

static void tconn_closed_cb(struct tconn *c)
{
    link_handle_closed(c->data);
}

static void link_close(struct relay_link *l, int status)
{
    if (l->state == L_CLOSING) {
        return;
    }
    l->state = L_CLOSING;
    l->status = status;
    uv_close((uv_handle_t *)&l->timer, timer_closed_cb);
    tconn_close(&l->c, tconn_closed_cb);
    if (l->pipe_init) {
        uv_close((uv_handle_t *)&l->pipe, pipe_closed_cb);
    }
}

/* Why a connection is refused: a warning for incoming ones. */
static void link_refuse(struct relay_link *l, const char *why)
{
    if (l->outgoing) {
        log_debug("raft: connection to monitor %" PRIu64 " at %s failed: %s", l->id, l->from, why);
    } else {
        log_warn("raft: connection from %s refused: %s", l->from, why);
    }
    link_close(l, RELAY_FAILED);
}

static void timeout_cb(uv_timer_t *timer)
{
    struct relay_link *l = timer->data;
    char why[96];
    snprintf(why, sizeof why, "no TLS handshake and hello within %" PRIu64 " ms",
             l->r->handshake_ms);
    link_refuse(l, why);
}

static struct relay_link *link_new(struct relay *r, bool outgoing)
{
    struct relay_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return NULL;
    }
    if (tconn_init(r->t, &l->c) != 0) {
        free(l);
        return NULL;
    }
    l->r = r;
    l->outgoing = outgoing;
    l->state = L_TLS;
    l->c.data = l;
    uv_timer_init(r->loop, &l->timer);
    l->timer.data = l;
    l->handles = 2;
    l->next = r->links;
    r->links = l;
    r->handles++;
    uv_timer_start(&l->timer, timeout_cb, r->handshake_ms, 0);
    return l;
}

/* ---- relaying --------------------------------------------------------- */

static void pipe_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct relay_link *l = h->data;
    (void)suggested;
    buf->base = (char *)l->up;
    buf->len = RELAY_CHUNK;
}

static void up_written_cb(struct tconn *c, int status)
{
    struct relay_link *l = c->data;
    if (l->state != L_RELAY) {
        return;
    }
    if (status != 0) {
        log_debug("raft: connection with monitor %" PRIu64 ": %s", l->id, c->errmsg);
        link_close(l, RELAY_FAILED);
        return;
    }
    uv_read_start((uv_stream_t *)&l->pipe, pipe_alloc_cb, pipe_read_cb);
}

/* libraft wrote: one chunk to the tconn, the pipe paused until it is sent. */
static void pipe_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct relay_link *l = s->data;
    (void)buf;
    if (n == 0 || l->state != L_RELAY) {
        return;
    }
    if (n < 0) {
        link_close(l, RELAY_FAILED); /* libraft closed its end */
        return;
    }
    uv_read_stop(s);
    if (tconn_write(&l->c, l->up, (size_t)n, up_written_cb) != 0) {
        link_close(l, RELAY_FAILED);
    }
}

static void tconn_relay_read_cb(struct tconn *c, ssize_t n, const uint8_t *buf);

static void down_written_cb(uv_write_t *req, int status)
{
    struct down_write *w = req->data;
    struct relay_link *l = w->l;
    l->down_bytes -= w->len;
    free(w);
    if (l->state != L_RELAY) {
        return;
    }
    if (status != 0) {
        link_close(l, RELAY_FAILED);
    } else if (!l->tconn_reading && l->down_bytes <= RELAY_HIGH / 2) {
        l->tconn_reading = tconn_read_start(&l->c, tconn_relay_read_cb) == 0;
    }
}

/* Bytes from the peer for libraft: queued to the pipe; the tconn paused
 * past RELAY_HIGH bytes queued. */
static int down_write(struct relay_link *l, const uint8_t *buf, size_t n)
{
    struct down_write *w = malloc(sizeof *w + n);
    uv_buf_t b;
    if (w == NULL) {
        return PGQ_NOMEM;
    }
    w->l = l;
    w->len = n;
    w->req.data = w;
    memcpy(w->data, buf, n);
    b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&l->pipe, &b, 1, down_written_cb) != 0) {
        free(w);
        return PGQ_IO;
    }
    l->down_bytes += n;
    if (l->down_bytes > RELAY_HIGH && l->tconn_reading) {
        tconn_read_stop(&l->c);
        l->tconn_reading = false;
    }
    return 0;
}

static void tconn_relay_read_cb(struct tconn *c, ssize_t n, const uint8_t *buf)
{
    struct relay_link *l = c->data;
    if (l->state != L_RELAY) {
        return;
    }
    if (n < 0) {
        log_debug("raft: connection with monitor %" PRIu64 " ended: %s", l->id,
                  n == UV_EOF ? "end of stream" : c->errmsg);
        link_close(l, RELAY_FAILED);
    } else if (n > 0 && down_write(l, buf, (size_t)n) != 0) {
        link_close(l, RELAY_FAILED);
    }
}

static void stream_closed_free(uv_handle_t *h)
{
    struct relay *r = h->data;
    r->free_stream(h);
}

/* The socketpair: *theirs for libraft, l->pipe for the relay. */
static int make_pair(struct relay_link *l, uv_stream_t **theirs)
{
    struct relay *r = l->r;
    uv_pipe_t *p;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return PGQ_IO;
    }
    p = r->alloc_stream(sizeof *p);
    if (p == NULL) {
        close(fds[0]);
        close(fds[1]);
        return PGQ_NOMEM;
    }
    uv_pipe_init(r->loop, p, 0);
    p->data = r;
    uv_pipe_init(r->loop, &l->pipe, 0);
    l->pipe.data = l;
    l->pipe_init = true;
    l->handles++;
    if (uv_pipe_open(p, fds[0]) != 0) {
        close(fds[0]);
        close(fds[1]);
        uv_close((uv_handle_t *)p, stream_closed_free);
        return PGQ_IO;
    }
    if (uv_pipe_open(&l->pipe, fds[1]) != 0) {
        close(fds[1]);
        uv_close((uv_handle_t *)p, stream_closed_free);
        return PGQ_IO;
    }
    *theirs = (uv_stream_t *)p;
    return 0;
}

/* The handshake is over: relay from now on. */
static int start_relay(struct relay_link *l, uv_stream_t **theirs)
{
    int rv;
    l->up = malloc(RELAY_CHUNK);
    rv = l->up != NULL ? make_pair(l, theirs) : PGQ_NOMEM;
    if (rv != 0) {
        link_refuse(l, "cannot create the local stream for libraft");
        return rv;
    }
    uv_timer_stop(&l->timer);
    l->state = L_RELAY;
    if (l->counted) {
        l->counted = false;
        l->r->handshakes--;
    }
    uv_read_start((uv_stream_t *)&l->pipe, pipe_alloc_cb, pipe_read_cb);
    return 0;
}

/* ---- connecting ------------------------------------------------------- */

static void hello_written_cb(struct tconn *c, int status)
{
    struct relay_link *l = c->data;
    uv_stream_t *theirs;
    if (l->state != L_HELLO) {
        return;
    }
    if (status != 0) {
        link_refuse(l, c->errmsg);
        return;
    }
    if (start_relay(l, &theirs) != 0) {
        return;
    }
    l->tconn_reading = tconn_read_start(c, tconn_relay_read_cb) == 0;
    l->cb_pending = false;
    l->cb(l->arg, theirs, 0);
}

static void out_open_cb(struct tconn *c, int status)
{
    struct relay_link *l = c->data;
    if (l->state != L_TLS) {
        return;
    }
    if (status != 0) {
        link_refuse(l, c->errmsg);
        return;
    }
    l->state = L_HELLO;
    l->hello_len = relay_hello_encode(l->r->id, l->r->address, l->hello);
    if (tconn_write(c, l->hello, l->hello_len, hello_written_cb) != 0) {
        link_refuse(l, "cannot send the hello");
    }
}

static int parse_ipv4(const char *address, struct sockaddr_in *sa)
{
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    if (pgq_parse_hostport(address, host, sizeof host, &port) != 0 ||
        uv_ip4_addr(host, port, sa) != 0) {
        return PGQ_INVALID;
    }
    return 0;
}

int relay_connect(struct relay *r, uint64_t id, const char *address, relay_connect_cb cb, void *arg)
{
    struct sockaddr_in sa;
    struct relay_link *l;
    if (r->closing) {
        return PGQ_UNAVAILABLE;
    }
    if (parse_ipv4(address, &sa) != 0 || r->address[0] == '\0') {
        return PGQ_INVALID;
    }
    l = link_new(r, true);
    if (l == NULL) {
        return PGQ_NOMEM;
    }
    l->id = id;
    l->cb = cb;
    l->arg = arg;
    pgq_strlcpy(l->from, address, sizeof l->from);
    if (tconn_connect(&l->c, (const struct sockaddr *)&sa, PEER_MONITOR, id, out_open_cb) != 0) {
        link_close(l, RELAY_FAILED);
        return PGQ_IO;
    }
    l->cb_pending = true;
    return 0;
}

/* ---- listening -------------------------------------------------------- */

static void hello_read_cb(struct tconn *c, ssize_t n, const uint8_t *buf)
{
    struct relay_link *l = c->data;
    struct relay *r = l->r;
    char address[PGQ_ADDR_MAX];
    char why[160];
    uv_stream_t *theirs;
    size_t old = l->hello_len, take, used;
    if (l->state == L_RELAY) {
        tconn_relay_read_cb(c, n, buf);
        return;
    }
    if (l->state != L_HELLO) {
        return;
    }
    if (n < 0) {
        link_refuse(l, n == UV_EOF ? "closed before its hello" : c->errmsg);
        return;
    }
    take = PGQ_MIN((size_t)n, sizeof l->hello - old);
    memcpy(l->hello + old, buf, take);
    l->hello_len += take;
    if (relay_hello_decode(l->hello, l->hello_len, &used, &l->id, address, sizeof address, why,
                           sizeof why) != 0) {
        link_refuse(l, why);
        return;
    }
    if (used == 0) {
        if (l->hello_len == sizeof l->hello) {
            link_refuse(l, "Raft hello too long");
        }
        return;
    }
    if (l->id != c->peer.monitor_id) {
        snprintf(why, sizeof why, "certificate of monitor %" PRIu64 " claims id %" PRIu64,
                 c->peer.monitor_id, l->id);
        link_refuse(l, why);
        return;
    }
    if (start_relay(l, &theirs) != 0) {
        return;
    }
    log_debug("raft: connection from monitor %" PRIu64 " at %s (%s)", l->id, address, l->from);
    r->accept_cb(r, l->id, address, theirs);
    /* Raft bytes that came with the hello. */
    if (used < old + (size_t)n && down_write(l, buf + (used - old), old + (size_t)n - used) != 0) {
        link_close(l, RELAY_FAILED);
    }
}

static void in_open_cb(struct tconn *c, int status)
{
    struct relay_link *l = c->data;
    char why[160];
    if (l->state != L_TLS) {
        return;
    }
    if (status != 0) {
        link_refuse(l, c->errmsg);
        return;
    }
    if (c->peer.kind != PEER_MONITOR) {
        snprintf(why, sizeof why, "certificate of %s is not a monitor's",
                 c->peer.name[0] != '\0' ? c->peer.name : "nobody");
        link_refuse(l, why);
        return;
    }
    l->state = L_HELLO;
    l->tconn_reading = true;
    if (tconn_read_start(c, hello_read_cb) != 0) {
        link_refuse(l, "cannot read its hello");
    }
}

static void peer_name(struct relay_link *l)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&l->c.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
            uv_ip4_name(sa, ip, sizeof ip);
            port = ntohs(sa->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(sa, ip, sizeof ip);
            port = ntohs(sa->sin6_port);
        }
    }
    snprintf(l->from, sizeof l->from, "%s:%d", ip, port);
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct relay *r = listener->data;
    struct relay_link *l;
    if (status < 0 || r->closing) {
        return;
    }
    l = link_new(r, false);
    if (l == NULL) {
        log_warn("raft: cannot accept a connection: out of memory");
        return;
    }
    l->counted = true;
    if (++r->handshakes > RELAY_MAX_HANDSHAKES) {
        if (tconn_accept(&l->c, listener, true, in_open_cb) == 0) {
            peer_name(l);
        }
        link_refuse(l, "too many connections in their handshake");
        return;
    }
    if (tconn_accept(&l->c, listener, true, in_open_cb) != 0) {
        snprintf(l->from, sizeof l->from, "?");
        link_refuse(l, "accept failed");
        return;
    }
    peer_name(l);
}

int relay_listen(struct relay *r, relay_accept_cb cb, char *errmsg, size_t errsize)
{
    struct sockaddr_in sa;
    int rv;
    r->accept_cb = cb;
    if (parse_ipv4(r->address, &sa) != 0) {
        snprintf(errmsg, errsize, "raft_address %s: not an IPv4 host:port", r->address);
        return PGQ_CONFIG;
    }
    uv_tcp_init(r->loop, &r->listener);
    r->listener.data = r;
    r->listener_init = true;
    r->handles++;
    rv = uv_tcp_bind(&r->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&r->listener, 128, connection_cb);
    }
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft_address %s: %s", r->address, uv_strerror(rv));
        return PGQ_IO;
    }
    return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
    struct relay *r = h->data;
    r->handles--;
    maybe_closed(r);
}

void relay_close(struct relay *r, relay_close_cb cb)
{
    r->closing = true;
    r->close_cb = cb;
    if (r->listener_init) {
        r->listener_init = false;
        uv_close((uv_handle_t *)&r->listener, listener_closed_cb);
    }
    for (struct relay_link *l = r->links; l != NULL; l = l->next) {
        link_close(l, RELAY_CANCELED);
    }
    maybe_closed(r);
}
