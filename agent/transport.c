/* transport: connections on the libuv loop, plain or TLS (see transport.h).
 *
 * The happy path is: TLS runs over memory BIOs. Ciphertext read from the
 * socket goes into the read BIO; SSL_do_handshake() until the handshake is
 * done, then SSL_read() hands plaintext to the owner; whatever OpenSSL
 * wants to send (handshake records, application data, alerts) is taken
 * from the write BIO and written with uv_write() at once. Plain TCP is the
 * same calls without the BIOs.
 *
 * Possible failure modes are: a handshake that fails (open_cb with the
 * reason, in the peer's and X.509's words), a peer whose certificate names
 * someone other than who was wanted, a peer that closes or resets (read_cb
 * with UV_EOF or the error), a write the kernel refuses (write_cb with its
 * status). Plaintext OpenSSL buffered while the owner was not reading is
 * delivered after tconn_read_start() from an idle callback, never from
 * inside it. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"
#include "log.h"
#include "tls_internal.h"
#include "transport.h"

struct wreq
{
    uv_write_t req;
    struct tconn *c;
    bool user; /* the last piece of the owner's tconn_write */
    size_t len;
    uint8_t data[];
};

/* What a connection may owe its peer before it stops reading from it. */
#define TCONN_OUT_MAX (256u * 1024u)

static uint8_t cipher_buf[65536];
static uint8_t plain_buf[16384];

/* ---- deferred callbacks ---------------------------------------------------- */

static void idle_cb(uv_idle_t *h);

static void defer(struct tconn *c)
{
    struct transport *t = c->t;
    if (c->in_deferred) {
        return;
    }
    c->in_deferred = true;
    c->next_deferred = t->deferred;
    t->deferred = c;
    uv_idle_start(&t->idle, idle_cb);
}

static void undefer(struct tconn *c)
{
    if (c->in_deferred) {
        for (struct tconn **p = &c->t->deferred; *p != NULL; p = &(*p)->next_deferred) {
            if (*p == c) {
                *p = c->next_deferred;
                break;
            }
        }
    }
    c->in_deferred = false;
    c->deferred_open = c->deferred_read = false;
}

static void tls_progress(struct tconn *c);

static void idle_cb(uv_idle_t *h)
{
    struct transport *t = h->data;
    struct tconn *c;
    while ((c = t->deferred) != NULL) {
        bool open = c->deferred_open, read = c->deferred_read;
        t->deferred = c->next_deferred;
        c->in_deferred = false;
        c->deferred_open = c->deferred_read = false;
        if (c->closing) {
            continue;
        }
        if (open) {
            c->open = true;
            c->open_cb(c, 0);
        } else if (read && c->reading) {
            tls_progress(c);
        }
    }
    uv_idle_stop(&t->idle);
}

/* ---- writing --------------------------------------------------------------- */

static void sync_reading(struct tconn *c);

static void write_done(uv_write_t *w, int status)
{
    struct wreq *r = w->data;
    struct tconn *c = r->c;
    bool user = r->user;
    free(r);
    c->writes--;
    if (user) {
        c->user_write = false;
        c->write_cb(c, status);
    }
    if (!c->closing) {
        sync_reading(c); /* the output that held reading back may be gone */
    }
}

static int submit(struct tconn *c, struct wreq *r, const uint8_t *data)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)r->len);
    int rv;
    r->c = c;
    r->req.data = r;
    rv = uv_write(&r->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
    if (rv != 0) {
        free(r);
        return rv;
    }
    c->writes++;
    return 0;
}

/* Plain: the owner's bytes as they are (valid until its callback). */
static int write_raw(struct tconn *c, const uint8_t *data, size_t len)
{
    struct wreq *r = malloc(sizeof *r);
    if (r == NULL) {
        return UV_ENOMEM;
    }
    r->user = true;
    r->len = len;
    return submit(c, r, data);
}

/* Send what OpenSSL has for the peer. user: the last piece completes the
 * owner's write. */
static int flush_out(struct tconn *c, bool user)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    size_t pending = BIO_ctrl_pending(wbio);
    struct wreq *r;
    if (pending == 0) {
        return 0;
    }
    r = malloc(sizeof *r + pending);
    if (r == NULL) {
        return UV_ENOMEM;
    }
    r->user = user;
    r->len = (size_t)BIO_read(wbio, r->data, (int)pending);
    return submit(c, r, r->data);
}

int tconn_write(struct tconn *c, const uint8_t *buf, size_t len, tconn_write_cb cb)
{
    int rv;
    if (c->closing || !c->open || c->user_write || len == 0 || len > INT32_MAX) {
        return UV_EINVAL;
    }
    c->write_cb = cb;
    if (c->ssl == NULL) {
        rv = write_raw(c, buf, len);
    } else if ((ERR_clear_error(), SSL_write(c->ssl, buf, (int)len)) != (int)len) {
        ERR_clear_error();
        rv = UV_EPROTO;
    } else {
        rv = flush_out(c, true);
    }
    if (rv == 0) {
        c->user_write = true;
    }
    return rv;
}

/* ---- reading --------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = (char *)cipher_buf;
    buf->len = sizeof cipher_buf;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Read the socket while the handshake needs it or the owner reads, unless
 * what we owe the peer is already TCONN_OUT_MAX: a peer that makes OpenSSL
 * answer (key updates) and reads nothing is not fed memory. */
static void sync_reading(struct tconn *c)
{
    bool on = !c->closing && !c->eof && (c->handshaking || (c->open && c->reading)) &&
              c->tcp.write_queue_size <= TCONN_OUT_MAX;
    if (on && !c->uv_reading) {
        c->uv_reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0;
    } else if (!on && c->uv_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->uv_reading = false;
    }
}

static void fail_open(struct tconn *c)
{
    c->handshaking = false;
    sync_reading(c);
    c->open_cb(c, PGQ_AUTH);
}

/* Hand the owner the plaintext OpenSSL holds, while it reads. */
static void deliver(struct tconn *c)
{
    while (c->reading && !c->closing && !c->eof) {
        int n;
        ERR_clear_error();
        n = SSL_read(c->ssl, plain_buf, (int)sizeof plain_buf);
        if (n > 0) {
            c->read_cb(c, n, plain_buf);
            continue;
        }
        switch (SSL_get_error(c->ssl, n)) {
            case SSL_ERROR_WANT_READ:
                break;
            case SSL_ERROR_ZERO_RETURN:
                c->eof = true;
                c->read_cb(c, UV_EOF, NULL);
                break;
            default:
                c->eof = true;
                tls_error(c->ssl, false, c->peer.ip, c->errmsg, sizeof c->errmsg);
                c->read_cb(c, UV_EPROTO, NULL);
                break;
        }
        break;
    }
    if (!c->closing) {
        (void)flush_out(c, false); /* alerts, key updates */
        sync_reading(c);
    }
}

static void tls_progress(struct tconn *c)
{
    if (c->handshaking) {
        int rv;
        ERR_clear_error();
        rv = SSL_do_handshake(c->ssl);
        (void)flush_out(c, false);
        if (rv != 1) {
            int e = SSL_get_error(c->ssl, rv);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                return;
            }
            tls_error(c->ssl, true, c->peer.ip, c->errmsg, sizeof c->errmsg);
            fail_open(c);
            return;
        }
        if (tls_peer_identity(c->ssl, &c->peer, c->errmsg, sizeof c->errmsg) != 0 ||
            tls_check_want(&c->peer, c->want_kind, c->want_id, c->errmsg, sizeof c->errmsg) != 0) {
            fail_open(c);
            return;
        }
        c->handshaking = false;
        c->open = true;
        sync_reading(c);
        c->open_cb(c, 0);
        if (c->closing) {
            return;
        }
    }
    deliver(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct tconn *c = st->data;
    if (n == 0 || c->closing) {
        return;
    }
    if (n < 0) {
        c->eof = true;
        sync_reading(c);
        if (c->handshaking) {
            snprintf(c->errmsg, sizeof c->errmsg, "TLS handshake with %s failed: %s",
                     c->peer.ip[0] != '\0' ? c->peer.ip : "the peer",
                     n == UV_EOF ? "connection closed" : uv_strerror((int)n));
            fail_open(c);
            return;
        }
        snprintf(c->errmsg, sizeof c->errmsg, "%s",
                 n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        c->read_cb(c, n, NULL);
        return;
    }
    if (c->ssl == NULL) {
        c->read_cb(c, n, (const uint8_t *)buf->base);
        return;
    }
    if (BIO_write(SSL_get_rbio(c->ssl), buf->base, (int)n) != (int)n) {
        ERR_clear_error();
        snprintf(c->errmsg, sizeof c->errmsg, "out of memory");
        c->eof = true;
        sync_reading(c);
        if (c->handshaking) {
            fail_open(c);
        } else {
            c->read_cb(c, UV_ENOMEM, NULL);
        }
        return;
    }
    tls_progress(c);
}

int tconn_read_start(struct tconn *c, tconn_read_cb cb)
{
    c->read_cb = cb;
    c->reading = true;
    if (c->closing || !c->open) {
        return c->closing ? UV_EINVAL : 0;
    }
    sync_reading(c);
    if (c->ssl != NULL && (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(c->ssl)) > 0)) {
        c->deferred_read = true;
        defer(c);
    }
    return c->uv_reading || c->eof || c->tcp.write_queue_size > TCONN_OUT_MAX ? 0 : UV_EIO;
}

void tconn_read_stop(struct tconn *c)
{
    c->reading = false;
    sync_reading(c);
}

/* ---- opening --------------------------------------------------------------- */

static void fill_ip(struct tconn *c)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    c->peer.ip[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET) {
            uv_ip4_name((const struct sockaddr_in *)&sa, c->peer.ip, sizeof c->peer.ip);
        } else if (sa.ss_family == AF_INET6) {
            uv_ip6_name((const struct sockaddr_in6 *)&sa, c->peer.ip, sizeof c->peer.ip);
        }
    }
}

int tconn_init(struct transport *t, struct tconn *c)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    c->tcp.data = c;
    return uv_tcp_init(t->loop, &c->tcp);
}

/* Begin TLS on an open TCP connection, or open a plain one. */
static int begin(struct tconn *c, bool server, bool require_cert)
{
    SSL *ssl;
    BIO *rbio, *wbio;
    fill_ip(c);
    uv_tcp_nodelay(&c->tcp, 1);
    if (!c->t->tls) {
        c->deferred_open = true; /* open when open_cb runs */
        defer(c);
        return 0;
    }
    ssl = SSL_new(server ? c->t->server_ctx : c->t->client_ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        ERR_clear_error();
        snprintf(c->errmsg, sizeof c->errmsg, "TLS: out of memory");
        return UV_ENOMEM;
    }
    SSL_set_bio(ssl, rbio, wbio);
    if (server) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER | (require_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       NULL);
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
    }
    c->ssl = ssl;
    c->handshaking = true;
    sync_reading(c);
    if (!c->uv_reading) {
        c->handshaking = false;
        return UV_EIO;
    }
    if (!server) {
        tls_progress(c); /* the ClientHello */
    }
    return 0;
}

static uv_tcp_t drop_spare;
static bool drop_busy;

static void drop_closed(uv_handle_t *h)
{
    (void)h;
    drop_busy = false;
}

void tconn_drop(uv_stream_t *listener)
{
    if (drop_busy) {
        return;
    }
    drop_busy = true;
    uv_tcp_init(listener->loop, &drop_spare);
    (void)uv_accept(listener, (uv_stream_t *)&drop_spare);
    uv_close((uv_handle_t *)&drop_spare, drop_closed);
}

int tconn_accept(struct tconn *c, uv_stream_t *listener, bool require_cert, tconn_open_cb cb)
{
    int rv = uv_accept(listener, (uv_stream_t *)&c->tcp);
    c->open_cb = cb;
    c->want_kind = PEER_ANONYMOUS;
    if (rv != 0) {
        return rv;
    }
    return begin(c, true, require_cert);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct tconn *c = req->data;
    int rv;
    if (c->closing) {
        return;
    }
    if (status != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "connect: %s", uv_strerror(status));
        c->open_cb(c, PGQ_UNAVAILABLE);
        return;
    }
    rv = begin(c, false, false);
    if (rv != 0 && !c->closing) {
        snprintf(c->errmsg, sizeof c->errmsg, "TLS: %s", uv_strerror(rv));
        c->open_cb(c, PGQ_IO);
    }
}

int tconn_connect(struct tconn *c,
                  const struct sockaddr *sa,
                  int want_kind,
                  uint64_t want_id,
                  tconn_open_cb cb)
{
    c->open_cb = cb;
    c->want_kind = want_kind;
    c->want_id = want_id;
    c->connect_req.data = c;
    return uv_tcp_connect(&c->connect_req, &c->tcp, sa, connect_cb);
}

/* ---- closing --------------------------------------------------------------- */

static void shutdown_done(uv_shutdown_t *req, int status)
{
    struct tconn *c = req->data;
    if (c->shutdown_cb != NULL) {
        c->shutdown_cb(c, status);
    }
}

int tconn_shutdown(struct tconn *c, tconn_write_cb cb)
{
    if (c->closing || c->shut) {
        return UV_EINVAL;
    }
    c->shut = true;
    c->shutdown_cb = cb;
    if (c->ssl != NULL && c->open) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl); /* close_notify */
        ERR_clear_error();
        (void)flush_out(c, false);
    }
    c->shutdown_req.data = c;
    return uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, shutdown_done);
}

static void closed_cb(uv_handle_t *h)
{
    struct tconn *c = h->data;
    SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->close_cb != NULL) {
        c->close_cb(c);
    }
}

void tconn_close(struct tconn *c, tconn_close_cb cb)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_cb = cb;
    undefer(c);
    uv_close((uv_handle_t *)&c->tcp, closed_cb);
}

/* ---- the transport --------------------------------------------------------- */

int transport_init(struct transport *t,
                   uv_loop_t *loop,
                   const struct transport_settings *ts,
                   char *errmsg,
                   size_t errsize)
{
    int rv;
    memset(t, 0, sizeof *t);
    t->loop = loop;
    rv = transport_init_contexts(t, ts, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (loop != NULL) {
        uv_idle_init(loop, &t->idle);
        t->idle.data = t;
        t->idle_init = true;
    }
    return 0;
}

static void idle_closed_cb(uv_handle_t *h)
{
    struct transport *t = h->data;
    if (t->close_cb != NULL) {
        t->close_cb(t);
    }
}

void transport_close(struct transport *t, void (*cb)(struct transport *t))
{
    transport_free_contexts(t);
    t->closing = true;
    t->close_cb = cb;
    if (!t->idle_init) {
        if (cb != NULL) {
            cb(t);
        }
        return;
    }
    t->idle_init = false;
    uv_close((uv_handle_t *)&t->idle, idle_closed_cb);
}

static void settings_of(const struct config *cfg, struct transport_settings *ts)
{
    ts->tls = cfg->tls;
    ts->ca_file = cfg->tls_ca_file;
    ts->cert_file = cfg->tls_cert_file;
    ts->key_file = cfg->tls_key_file;
}

#define TRANSPORT_EXPIRY_WARN_DAYS 30

int transport_start(struct transport *t,
                    uv_loop_t *loop,
                    const struct config *cfg,
                    char *errmsg,
                    size_t errsize)
{
    struct transport_settings ts = {0};
    int rv;
    settings_of(cfg, &ts);
    if (!cfg->tls) {
        log_warn(
            "tls = off: plain TCP, no identities; anyone who can reach this daemon's "
            "ports can read and change the cluster");
    }
    rv = transport_init(t, loop, &ts, errmsg, errsize);
    if (rv == 0 && t->tls && t->cert_days_left < TRANSPORT_EXPIRY_WARN_DAYS) {
        if (t->cert_days_left < 0) {
            log_warn("[tls] cert_file %s expired %d days ago: peers refuse it", cfg->tls_cert_file,
                     -t->cert_days_left);
        } else {
            log_warn(
                "[tls] cert_file %s expires in %d days: renew it before (an expired monitor "
                "is cut off the quorum, an expired agent loses its lease)",
                cfg->tls_cert_file, t->cert_days_left);
        }
    }
    return rv;
}
