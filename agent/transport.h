/* transport: the one connection layer under every network service of the
 * daemon (API server, API client, HTTP server, Raft, log drain) and of the
 * CLI: plain TCP, or TLS 1.3 with certificates of one CA, and the verified
 * identity of the peer. TLS is written here once.
 *
 * The happy path is: transport_init() once per process with the [tls]
 * files (or plain); tconn_init() + tconn_accept() on a listener, or
 * tconn_connect() to an address; open_cb once the TLS handshake is done
 * (c->peer then names who is at the other end); tconn_read_start() to get
 * plaintext, tconn_write() to send it; tconn_shutdown() for a close_notify
 * and FIN; tconn_close().
 *
 * Possible failure modes are: unreadable or mismatched certificate files,
 * a key that does not belong to its certificate (transport_init fails, one
 * line naming the file); a peer with no certificate where one is required,
 * a certificate of another CA, an expired one, a server whose certificate
 * does not hold the identity expected (open_cb with a nonzero status and
 * c->errmsg saying which); garbage instead of TLS (the same). The caller's
 * own timers bound how long a handshake may take: tconn has no timer.
 *
 * Callbacks are never called from inside the tconn_* call that caused them
 * (open_cb of a plain connection comes on the next loop iteration), so a
 * callback may close or restart the connection freely. */
#ifndef PGQ_TRANSPORT_H
#define PGQ_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "identity.h"
#include "pgquorum/pgquorum.h"

/* Parse one certificate identity: a URI SAN ("pgquorum:...") or, when the
 * certificate has none, its subject CN (uri NULL). 0, or PGQ_INVALID with
 * errmsg naming what is wrong (a pgquorum URI that does not parse). Pure. */
int transport_identity_of(const char *uri,
                          const char *cn,
                          struct peer_id *out,
                          char *errmsg,
                          size_t errsize);

struct transport_settings
{
    bool tls;              /* false: plain TCP */
    const char *ca_file;   /* the CA every certificate must chain to */
    const char *cert_file; /* this process's certificate (PEM, may hold the chain) */
    const char *key_file;  /* its key */
    bool client_only;      /* no server context (pgquorumctl) */
};

struct transport
{
    uv_loop_t *loop; /* NULL for the blocking client (tsync_*) */
    bool tls;
    int cert_days_left; /* until this process's certificate expires (TLS) */
    /* private */
    void *server_ctx; /* SSL_CTX */
    void *client_ctx; /* SSL_CTX */
    uv_idle_t idle;   /* runs deferred callbacks (open, buffered plaintext) */
    bool idle_init;
    struct tconn *deferred;
    bool closing;
    void (*close_cb)(struct transport *t);
};

int transport_init(struct transport *t,
                   uv_loop_t *loop,
                   const struct transport_settings *ts,
                   char *errmsg,
                   size_t errsize);

struct config;
/* transport_init with cfg's [tls] (a warning when tls = off). */
int transport_start(struct transport *t,
                    uv_loop_t *loop,
                    const struct config *cfg,
                    char *errmsg,
                    size_t errsize);

/* After every tconn of it is closed. cb may be NULL. */
void transport_close(struct transport *t, void (*cb)(struct transport *t));

/* ---- one connection on the loop ------------------------------------------ */

struct tconn;
/* status 0: open, c->peer is filled. Else c->errmsg says why; close it. */
typedef void (*tconn_open_cb)(struct tconn *c, int status);
/* n > 0: plaintext; n < 0: UV_EOF or an error (c->errmsg); close it. */
typedef void (*tconn_read_cb)(struct tconn *c, ssize_t n, const uint8_t *buf);
typedef void (*tconn_write_cb)(struct tconn *c, int status);
typedef void (*tconn_close_cb)(struct tconn *c);

struct tconn
{
    uv_tcp_t tcp; /* tcp.data is the tconn's own: use c->data */
    void *data;
    struct transport *t;
    struct peer_id peer;
    char errmsg[256];
    /* private */
    void *ssl; /* SSL */
    int want_kind;
    uint64_t want_id;
    bool handshaking, open, reading, closing, shut;
    bool uv_reading; /* the socket is being read */
    bool eof;        /* read_cb had its end (EOF or error) */
    tconn_open_cb open_cb;
    tconn_read_cb read_cb;
    tconn_write_cb write_cb;
    tconn_write_cb shutdown_cb;
    tconn_close_cb close_cb;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    unsigned writes; /* writes in flight */
    bool user_write; /* a tconn_write waits for its cb */
    bool deferred_open, deferred_read, in_deferred;
    struct tconn *next_deferred;
};

/* uv_tcp_init on t's loop. */
int tconn_init(struct transport *t, struct tconn *c);

/* Accept from listener (uv_accept) and begin the server handshake. With
 * require_cert, a client without a certificate is refused; a client that
 * sends one must always prove it. */
int tconn_accept(struct tconn *c, uv_stream_t *listener, bool require_cert, tconn_open_cb cb);

/* A connection its server cannot take (out of memory): accepted and closed
 * at once, so that the listener goes on (libuv stops reading a listener
 * whose connection was not accepted). One at a time; the next waits in the
 * backlog. */
void tconn_drop(uv_stream_t *listener);

/* Connect and begin the client handshake. The server's certificate must
 * name want_kind (PEER_MONITOR with want_id, 0 for any monitor; or
 * PEER_ANONYMOUS for any certificate of the CA). Plain: no check. */
int tconn_connect(struct tconn *c,
                  const struct sockaddr *sa,
                  int want_kind,
                  uint64_t want_id,
                  tconn_open_cb cb);

int tconn_read_start(struct tconn *c, tconn_read_cb cb);
void tconn_read_stop(struct tconn *c);

/* One write at a time; buf must stay valid until cb. */
int tconn_write(struct tconn *c, const uint8_t *buf, size_t len, tconn_write_cb cb);

/* close_notify (TLS) then FIN, after pending writes. */
int tconn_shutdown(struct tconn *c, tconn_write_cb cb);

/* cb once the handle is closed; then the tconn's memory is the caller's. */
void tconn_close(struct tconn *c, tconn_close_cb cb);

/* ---- the blocking client (pgquorumctl) ------------------------------------ */

struct tsync
{
    int fd;
    void *ssl;
    struct peer_id peer;
    char errmsg[256]; /* why the last tsync_read/tsync_write failed ("" : no reason known) */
};

/* On a connected non-blocking socket fd: the client handshake, done by the
 * absolute deadline (clock_mono_ms). */
int tsync_open(struct transport *t,
               struct tsync *s,
               int fd,
               int want_kind,
               uint64_t want_id,
               uint64_t deadline,
               char *errmsg,
               size_t errsize);
/* Write all of buf by deadline. */
int tsync_write(struct tsync *s, const uint8_t *buf, size_t len, uint64_t deadline);
/* Read up to len bytes by deadline: > 0 bytes, 0 at EOF, < 0 a PGQ_ code. */
ssize_t tsync_read(struct tsync *s, uint8_t *buf, size_t len, uint64_t deadline);
/* poll() fd for events until deadline: 0, PGQ_TIMEOUT or PGQ_IO. */
int tsync_wait(int fd, short events, uint64_t deadline);
/* Close the TLS session (not the fd). */
void tsync_close(struct tsync *s);

#endif /* PGQ_TRANSPORT_H */
