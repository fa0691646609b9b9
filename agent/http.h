/* http: a small HTTP/1.1 server on the libuv loop, for load balancers'
 * health checks, Prometheus and `/cluster`. Requests are parsed by Node's
 * http-parser; the owner's handler answers each one at once from what it
 * holds (no handler waits on the network).
 *
 * The happy path is: accept, parse one request (GET, HEAD or OPTIONS, no
 * body), hand the path and query to the handler, write its reply, keep the
 * connection open if the client asked to, read the next request.
 *
 * Possible failure modes are: a request line or headers over HTTP_REQ_MAX
 * bytes (431, closed), a URL over HTTP_URL_MAX (414, closed), a body (413,
 * closed), another method (405), bytes that are not HTTP (400, closed), a
 * client that does not complete its request within idle_ms of its first
 * byte, sends nothing for idle_ms, or does not read its reply for idle_ms
 * (closed), more than max_clients connections (the one waiting longest
 * for its next request is closed to make room; when every one is busy,
 * 503 and closed, at most HTTP_REFUSING_MAX at a time, others closed
 * unanswered: a flood cannot use up the descriptors). Pipelined
 * requests are answered one at a time: nothing more is read while a reply
 * is being written. None of them affects another client or the daemon. */
#ifndef PGQ_HTTP_H
#define PGQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transport.h"

#include "lib/util.h"

#define HTTP_REQ_MAX 8192 /* request line and headers */
#define HTTP_URL_MAX 1024
#define HTTP_REFUSING_MAX 16 /* refusals (503) written at once; beyond, closed unanswered */

enum pgq_http_method { HTTP_M_GET = 0, HTTP_M_HEAD, HTTP_M_OPTIONS };

struct http_request
{
    int method; /* enum pgq_http_method */
    char path[HTTP_URL_MAX];
    char query[HTTP_URL_MAX]; /* without the '?', "" when none */
    const char *peer;         /* the client's IP address */
};

/* What the handler answers: status 200..599, body owned by the server
 * after the handler returns (malloc'ed, or NULL for none).
 *
 * A reply too large to render in one turn of the loop (/metrics of a
 * fleet) also sets `more`: after the body, the server asks
 * more(more_arg, &piece, &len) for the rest, again once a piece is written
 * or on the next turn of the loop, and sends it all chunked (to an
 * HTTP/1.0 client: delimited by the connection's close). more answers
 * HTTP_MORE_PIECE with a piece (malloc'ed, taken over), HTTP_MORE_LATER
 * (nothing yet: ask again on the next turn), HTTP_MORE_END, or
 * HTTP_MORE_FAILED (the reply is cut short: the connection is closed, and
 * the client sees no end of it). done(more_arg) is called exactly once,
 * at the end or when the client goes, and for a HEAD or OPTIONS request
 * at once. */
enum { HTTP_MORE_END = 0, HTTP_MORE_PIECE, HTTP_MORE_LATER, HTTP_MORE_FAILED };
struct http_response
{
    int status;
    const char *content_type; /* NULL: text/plain */
    char *body;
    size_t len;
    int (*more)(void *arg, char **piece, size_t *len);
    void (*done)(void *arg);
    void *more_arg;
};

struct http_server;
struct http_client;
typedef void (*http_handler)(struct http_server *s,
                             const struct http_request *req,
                             struct http_response *res);
typedef void (*http_close_cb)(struct http_server *s);

struct http_server
{
    uv_loop_t *loop;
    struct transport *transport;
    http_handler handler;
    void *data;
    unsigned max_clients;
    uint64_t idle_ms;
    uint64_t requests; /* answered, for metrics */
    uint64_t refused;  /* connections refused for being over max_clients */
    /* private */
    uv_tcp_t listener;
    struct http_client *clients;
    unsigned n_clients;
    unsigned n_refusing;
    unsigned pending;
    bool closing;
    http_close_cb close_cb;
    uint64_t refused_log_ms;
    uint64_t refused_tls_log_ms;
    uint64_t accept_err_log_ms; /* last "cannot accept" line (EMFILE) */
};

/* Listen on address (IPv4 host:port). The server's fields are set here;
 * the listener exists after a failure too (http_close() it). */
int http_start(struct http_server *s,
               uv_loop_t *loop,
               struct transport *transport,
               const char *address,
               unsigned max_clients,
               uint64_t idle_ms,
               http_handler handler,
               char *errmsg,
               size_t errsize);

void http_close(struct http_server *s, http_close_cb cb);

/* Fill res with a JSON document (the reference is taken over); a 500 when
 * doc is NULL (out of memory). */
struct json_t;
void http_json(struct http_response *res, int status, struct json_t *doc);

/* Fill res with a text body (status, "text/plain"), printf-like. */
void http_text(struct http_response *res, int status, const char *fmt, ...) PGQ_PRINTF(3, 4);

/* The process families (process_resident_memory_bytes,
 * process_cpu_seconds_total, process_start_time_seconds,
 * process_open_fds) and this server's request counters. */
struct metrics_buf;
void http_process_metrics(struct metrics_buf *b, const struct http_server *s);
/* Add the process families to b and answer with its text (b is emptied;
 * a 500 when memory ran out). */
void http_metrics(struct http_response *res, struct metrics_buf *b, const struct http_server *s);

#endif /* PGQ_HTTP_H */
