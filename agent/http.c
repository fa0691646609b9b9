/* http: the HTTP server (see http.h). */
#include "http.h"

#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "render_http.h"
#include "resources.h"

struct http_client
{
    struct http_server *s;
    struct tconn conn;
    uv_timer_t timer;
    http_parser parser;
    char url[HTTP_URL_MAX];
    size_t url_len;
    bool url_over;
    bool has_body;
    bool complete;    /* a whole request was parsed: it is being answered */
    bool in_request;  /* its first byte was read */
    size_t req_bytes; /* bytes of the request being read */
    char *pend;       /* bytes read past the request being answered */
    size_t pend_len;
    char *out;
    bool writing;
    /* A reply sent a piece at a time (http_response.more), until its end. */
    int (*more)(void *arg, char **piece, size_t *len);
    void (*more_done)(void *arg);
    void *more_arg;
    bool chunked; /* its pieces framed as HTTP/1.1 chunks */
    /* Asks for the next piece on the next turn of the loop. An idle handle,
     * not a timer of 0 ms: libuv 1.44 runs a timer started from a timer's
     * callback in the same pass, so each step would start the next at once
     * and the whole reply would be rendered in one turn. */
    uv_idle_t step;
    bool close_after;
    bool lingering; /* replied and shut down: discarding what it still sends */
    bool closing;
    bool counted;
    bool refusing;       /* over max_clients: its 503 is being written or lingering */
    uint64_t idle_since; /* between requests since (uv_now) */
    unsigned pending_closes;
    struct http_client *next;
};

/* ---- lifetime -------------------------------------------------------------- */

static void client_free_if_done(struct http_client *cl)
{
    struct http_server *s = cl->s;
    if (cl->pending_closes != 0 || cl->writing) {
        return;
    }
    free(cl->out);
    free(cl->pend);
    free(cl);
    s->pending--;
    if (s->closing && s->pending == 0 && s->close_cb != NULL) {
        s->close_cb(s);
    }
}

static void client_handle_closed(uv_handle_t *h)
{
    struct http_client *cl = h->data;
    cl->pending_closes--;
    client_free_if_done(cl);
}

static void client_conn_closed(struct tconn *c)
{
    struct http_client *cl = c->data;
    cl->pending_closes--;
    client_free_if_done(cl);
}

/* The reply being sent a piece at a time is over (or the client went). */
static void stream_end(struct http_client *cl)
{
    if (cl->more != NULL) {
        cl->more = NULL;
        cl->more_done(cl->more_arg);
    }
}

static void client_close(struct http_client *cl)
{
    struct http_server *s = cl->s;
    if (cl->closing) {
        return;
    }
    cl->closing = true;
    stream_end(cl);
    for (struct http_client **p = &s->clients; *p != NULL; p = &(*p)->next) {
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    }
    if (cl->counted) {
        s->n_clients--;
    }
    if (cl->refusing) {
        s->n_refusing--;
    }
    cl->pending_closes = 3;
    tconn_close(&cl->conn, client_conn_closed);
    uv_close((uv_handle_t *)&cl->timer, client_handle_closed);
    uv_close((uv_handle_t *)&cl->step, client_handle_closed);
}

/* One timer bounds what a client owes: its next request's first byte, the
 * rest of it (from that first byte: trickling buys no time), or reading
 * the reply. */
static void timer_cb(uv_timer_t *t)
{
    struct http_client *cl = t->data;
    log_debug("http: closing a client %s",
              cl->writing ? "that does not read its reply" : "idle or stuck in a request");
    client_close(cl);
}

static void touch(struct http_client *cl)
{
    uv_timer_start(&cl->timer, timer_cb, cl->s->idle_ms, 0);
}

/* ---- replies --------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Payload Too Large";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return status < 400 ? "OK" : "Error";
    }
}

void http_json(struct http_response *res, int status, json_t *doc)
{
    size_t len = 0;
    char *body = render_http_dumps(doc, &len);
    if (body == NULL) {
        http_text(res, 500, "out of memory");
        return;
    }
    free(res->body);
    res->status = status;
    res->content_type = "application/json";
    res->body = body;
    res->len = len;
}

void http_text(struct http_response *res, int status, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    if ((size_t)n > sizeof line - 2) {
        n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    line[n] = '\0';
    free(res->body);
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    res->body = strdup(line);
    res->len = res->body != NULL ? (size_t)n : 0;
}

static void read_cb(struct tconn *c, ssize_t n, const uint8_t *buf);
static void feed(struct http_client *cl, const char *data, size_t n);

#define HTTP_LINGER_MS 1000
#define HTTP_HANDSHAKE_MS 5000
_Static_assert(HTTP_REFUSING_MAX == RES_HTTP_REFUSING_MAX, "resources.h counts them");

static void shutdown_cb(struct tconn *c, int status)
{
    (void)c;
    (void)status; /* the timer or the client's EOF closes it */
}

/* Close after a reply without losing it: closing a socket that still holds
 * unread bytes of the client's sends a reset, and a reset can reach the
 * client before it has read the reply (a 400 or 503 it never sees). So send
 * FIN, read and discard what comes until the client closes too, for at
 * most HTTP_LINGER_MS. */
static void linger(struct http_client *cl)
{
    cl->lingering = true;
    uv_timer_start(&cl->timer, timer_cb, PGQ_MIN(cl->s->idle_ms, HTTP_LINGER_MS), 0);
    if (tconn_shutdown(&cl->conn, shutdown_cb) != 0 || tconn_read_start(&cl->conn, read_cb) != 0) {
        client_close(cl);
    }
}

static void write_cb(struct tconn *c, int status);

/* Write n bytes of data, as a chunk when the reply is chunked (n > 0), or
 * the last chunk (data NULL); data is freed here. */
static void write_piece(struct http_client *cl, char *data, size_t n)
{
    char head[24];
    int hn = 0;
    size_t total;
    if (cl->chunked) {
        hn = data != NULL ? snprintf(head, sizeof head, "%zx\r\n", n)
                          : snprintf(head, sizeof head, "0\r\n\r\n");
    }
    total = (size_t)hn + n + (cl->chunked && data != NULL ? 2 : 0);
    cl->out = malloc(total);
    if (cl->out == NULL) {
        free(data);
        client_close(cl);
        return;
    }
    memcpy(cl->out, head, (size_t)hn);
    if (data != NULL) {
        memcpy(cl->out + hn, data, n);
        if (cl->chunked) {
            memcpy(cl->out + hn + n, "\r\n", 2);
        }
    }
    free(data);
    cl->writing = true;
    touch(cl);
    if (tconn_write(&cl->conn, (const uint8_t *)cl->out, total, write_cb) != 0) {
        cl->writing = false;
        client_close(cl);
    }
}

static void step_cb(uv_idle_t *h);

/* The next piece of a reply sent a piece at a time. */
static void stream_next(struct http_client *cl)
{
    char *piece = NULL;
    size_t len = 0;
    switch (cl->more(cl->more_arg, &piece, &len)) {
        case HTTP_MORE_PIECE:
            if (len == 0) {
                free(piece);
                uv_idle_start(&cl->step, step_cb);
                return;
            }
            write_piece(cl, piece, len);
            return;
        case HTTP_MORE_LATER:
            touch(cl);
            uv_idle_start(&cl->step, step_cb);
            return;
        case HTTP_MORE_END:
            stream_end(cl);
            if (cl->chunked) {
                write_piece(cl, NULL, 0);
            } else {
                linger(cl); /* HTTP/1.0: the close ends the body */
            }
            return;
        default:
            log_warn("http: a reply cut short: out of memory");
            client_close(cl);
            return;
    }
}

static void step_cb(uv_idle_t *h)
{
    struct http_client *cl = h->data;
    uv_idle_stop(h);
    if (!cl->closing && !cl->writing && cl->more != NULL) {
        stream_next(cl);
    }
}

static void write_cb(struct tconn *c, int status)
{
    struct http_client *cl = c->data;
    char *pend;
    size_t len;
    cl->writing = false;
    free(cl->out);
    cl->out = NULL;
    if (cl->closing) {
        client_free_if_done(cl);
        return;
    }
    if (status != 0) {
        client_close(cl);
        return;
    }
    if (cl->more != NULL) {
        stream_next(cl);
        return;
    }
    if (cl->close_after) {
        linger(cl);
        return;
    }
    /* Ready for the next request: first those bytes already read. */
    cl->complete = false;
    cl->in_request = false;
    cl->url_len = 0;
    cl->url_over = false;
    cl->has_body = false;
    http_parser_pause(&cl->parser, 0);
    touch(cl);
    cl->idle_since = uv_now(cl->s->loop);
    pend = cl->pend;
    len = cl->pend_len;
    cl->pend = NULL;
    cl->pend_len = 0;
    if (len > 0) {
        feed(cl, pend, len);
    }
    free(pend);
    if (!cl->closing && !cl->writing && tconn_read_start(&cl->conn, read_cb) != 0) {
        client_close(cl);
    }
}

/* Write the status line, headers and (unless HEAD/OPTIONS) body; the body
 * is freed here. A reply with more to come (res->more) goes on from
 * write_cb. */
static void send_reply(struct http_client *cl, int method, struct http_response *res)
{
    char head[512], length[64];
    int hn, bn = 0;
    size_t body_len = method == HTTP_M_GET ? res->len : 0;
    bool http11 =
        cl->parser.http_major > 1 || (cl->parser.http_major == 1 && cl->parser.http_minor >= 1);
    if (method == HTTP_M_OPTIONS) {
        res->len = 0;
    }
    if (res->more != NULL && method == HTTP_M_GET) {
        /* Chunked; to HTTP/1.0, the close ends the body. */
        cl->more = res->more;
        cl->more_done = res->done;
        cl->more_arg = res->more_arg;
        cl->chunked = http11;
        cl->close_after = cl->close_after || !http11;
        snprintf(length, sizeof length, "%s", http11 ? "Transfer-Encoding: chunked\r\n" : "");
    } else if (res->more != NULL) {
        /* HEAD says what a GET would (no length is known), OPTIONS that
         * nothing follows; neither has a body. */
        res->done(res->more_arg);
        snprintf(length, sizeof length, "%s",
                 method == HTTP_M_OPTIONS ? "Content-Length: 0\r\n"
                 : http11                 ? "Transfer-Encoding: chunked\r\n"
                                          : "");
    } else {
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", res->len);
    }
    hn = snprintf(head, sizeof head,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: %s\r\n"
                  "%s"
                  "Cache-Control: no-store\r\n"
                  "%s"
                  "Connection: %s\r\n\r\n",
                  res->status, reason(res->status),
                  res->content_type != NULL ? res->content_type : "text/plain; charset=utf-8",
                  length, res->status == 405 ? "Allow: GET, HEAD, OPTIONS\r\n" : "",
                  cl->close_after ? "close" : "keep-alive");
    if (cl->more != NULL && cl->chunked && body_len > 0) {
        bn = snprintf(length, sizeof length, "%zx\r\n", body_len);
    }
    cl->out = malloc((size_t)hn + (size_t)bn + body_len + (bn > 0 ? 2 : 0));
    if (cl->out == NULL) {
        free(res->body);
        res->body = NULL;
        client_close(cl);
        return;
    }
    memcpy(cl->out, head, (size_t)hn);
    memcpy(cl->out + hn, length, (size_t)bn);
    if (body_len > 0) {
        memcpy(cl->out + hn + bn, res->body, body_len);
    }
    if (bn > 0) {
        memcpy(cl->out + hn + bn + body_len, "\r\n", 2);
    }
    free(res->body);
    res->body = NULL;
    cl->writing = true;
    tconn_read_stop(&cl->conn);
    touch(cl);
    if (tconn_write(&cl->conn, (const uint8_t *)cl->out,
                    (size_t)hn + (size_t)bn + body_len + (bn > 0 ? 2 : 0), write_cb) != 0) {
        cl->writing = false;
        client_close(cl);
    }
}

static void refuse(struct http_client *cl, int status, const char *why)
{
    struct http_response res = {0};
    cl->close_after = true;
    cl->complete = true;
    http_text(&res, status, "%s", why);
    /* A HEAD whose request line was read gets no body. */
    send_reply(cl, cl->url_len > 0 && cl->parser.method == HTTP_HEAD ? HTTP_M_HEAD : HTTP_M_GET,
               &res);
}

/* ---- requests -------------------------------------------------------------- */

static int on_message_begin(http_parser *p)
{
    struct http_client *cl = p->data;
    cl->url_len = 0;
    cl->url_over = false;
    cl->has_body = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_client *cl = p->data;
    if (cl->url_len + len >= sizeof cl->url) {
        cl->url_over = true;
        return 0;
    }
    memcpy(cl->url + cl->url_len, at, len);
    cl->url_len += len;
    cl->url[cl->url_len] = '\0';
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_client *cl = p->data;
    if ((p->flags & F_CHUNKED) != 0 || (p->content_length > 0 && p->content_length != ULLONG_MAX)) {
        cl->has_body = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_client *cl = p->data;
    cl->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

static void copy_field(const struct http_parser_url *u,
                       int f,
                       const char *url,
                       char *out,
                       size_t size)
{
    size_t len = 0;
    if ((u->field_set & (1u << f)) != 0) {
        len = PGQ_MIN((size_t)u->field_data[f].len, size - 1);
        memcpy(out, url + u->field_data[f].off, len);
    }
    out[len] = '\0';
}

/* A whole request was read: answer it. */
static void answer(struct http_client *cl)
{
    struct http_server *s = cl->s;
    struct http_request req;
    struct http_response res = {0};
    struct http_parser_url u;
    int method;
    cl->close_after = !http_should_keep_alive(&cl->parser);
    switch (cl->parser.method) {
        case HTTP_GET:
            method = HTTP_M_GET;
            break;
        case HTTP_HEAD:
            method = HTTP_M_HEAD;
            break;
        case HTTP_OPTIONS:
            method = HTTP_M_OPTIONS;
            break;
        default:
            http_text(&res, 405, "method %s not allowed: GET, HEAD or OPTIONS",
                      http_method_str((enum http_method)cl->parser.method));
            send_reply(cl, HTTP_M_GET, &res);
            return;
    }
    memset(&req, 0, sizeof req);
    req.method = method;
    req.peer = cl->conn.peer.ip;
    http_parser_url_init(&u);
    if (http_parser_parse_url(cl->url, cl->url_len, 0, &u) != 0 ||
        (u.field_set & (1u << UF_PATH)) == 0) {
        http_text(&res, 400, "bad request target");
        send_reply(cl, method, &res);
        return;
    }
    copy_field(&u, UF_PATH, cl->url, req.path, sizeof req.path);
    copy_field(&u, UF_QUERY, cl->url, req.query, sizeof req.query);
    s->handler(s, &req, &res);
    s->requests++;
    if (res.status < 100 || res.status > 599) {
        if (res.more != NULL) {
            res.done(res.more_arg);
            res.more = NULL;
        }
        http_text(&res, 500, "no reply");
    }
    send_reply(cl, method, &res);
}

/* Parse what was read; past a complete request, keep the rest for later. */
static void feed(struct http_client *cl, const char *data, size_t n)
{
    size_t done;
    enum http_errno err;
    if (!cl->in_request) {
        cl->in_request = true;
        cl->req_bytes = 0;
        touch(cl); /* the whole request within idle_ms of its first byte */
    }
    done = http_parser_execute(&cl->parser, &settings, data, n);
    cl->req_bytes += done;
    err = HTTP_PARSER_ERRNO(&cl->parser);
    if (cl->req_bytes > HTTP_REQ_MAX) {
        refuse(cl, 431, "request line and headers over 8192 bytes");
        return;
    }
    if (err == HPE_PAUSED) {
        if (cl->has_body) {
            refuse(cl, 413, "request bodies are not accepted");
            return;
        }
        if (cl->url_over) {
            refuse(cl, 414, "request target over 1023 bytes");
            return;
        }
        if (done < n) {
            cl->pend = malloc(n - done);
            if (cl->pend == NULL) {
                client_close(cl);
                return;
            }
            memcpy(cl->pend, data + done, n - done);
            cl->pend_len = n - done;
        }
        answer(cl);
        return;
    }
    if (err != HPE_OK) {
        char why[128];
        snprintf(why, sizeof why, "not an HTTP request: %s", http_errno_description(err));
        refuse(cl, 400, why);
    }
}

static void read_cb(struct tconn *c, ssize_t n, const uint8_t *buf)
{
    struct http_client *cl = c->data;
    if (n < 0) {
        client_close(cl);
        return;
    }
    if (n == 0 || cl->closing || cl->writing || cl->lingering) {
        return;
    }
    feed(cl, (const char *)buf, (size_t)n);
}

/* ---- the listener ---------------------------------------------------------- */

/* The connection that has been waiting longest for its next request (a
 * kept-alive one, or one that sent nothing yet), NULL when every one is in
 * the middle of a request or a reply. */
static struct http_client *longest_idle(struct http_server *s, const struct http_client *except)
{
    struct http_client *best = NULL;
    for (struct http_client *c = s->clients; c != NULL; c = c->next) {
        if (c == except || !c->counted || c->closing || c->in_request || c->writing ||
            c->lingering || c->complete) {
            continue;
        }
        if (best == NULL || c->idle_since < best->idle_since) {
            best = c;
        }
    }
    return best;
}

/* Out of memory for a client: accept it into a spare handle and close it,
 * so that the listener keeps being watched (libuv stops watching a listener
 * whose pending connection is never accepted). */
static void open_cb(struct tconn *c, int status)
{
    struct http_client *cl = c->data;
    struct http_server *s = cl->s;
    if (status != 0) {
        uint64_t now = uv_now(s->loop);
        if (now >= s->refused_tls_log_ms + 1000) {
            log_info("http: %s", c->errmsg);
            s->refused_tls_log_ms = now;
        }
        client_close(cl);
        return;
    }
    if (s->n_clients > s->max_clients) {
        /* Full: a connection waiting for its next request makes room (so
         * that idle keep-alive connections cannot lock out the health
         * checks); if every one is busy, this one is refused. */
        struct http_client *victim = longest_idle(s, cl);
        if (victim != NULL) {
            client_close(victim);
        } else {
            uint64_t now = uv_now(s->loop);
            char msg[128];
            s->refused++;
            if (now >= s->refused_log_ms + 1000) {
                log_warn(
                    "http: more than %u clients, all of them busy: refusing new "
                    "connections",
                    s->max_clients);
                s->refused_log_ms = now;
            }
            s->n_clients--;
            cl->counted = false;
            if (s->n_refusing >= HTTP_REFUSING_MAX) {
                /* A flood: no reply, the descriptor back at once. */
                client_close(cl);
                return;
            }
            cl->refusing = true;
            s->n_refusing++;
            snprintf(msg, sizeof msg, "too many clients: this server serves at most %u",
                     s->max_clients);
            refuse(cl, 503, msg);
            return;
        }
    }
    touch(cl);
    if (tconn_read_start(&cl->conn, read_cb) != 0) {
        client_close(cl);
    }
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    struct http_client *cl;
    if (status != 0 || s->closing) {
        /* Out of descriptors (EMFILE): libuv has accepted and closed what
         * waited, with the descriptor it keeps spare for this. */
        if (status != 0 && uv_now(s->loop) >= s->accept_err_log_ms + 1000) {
            log_warn("http: cannot accept a connection: %s", uv_strerror(status));
            s->accept_err_log_ms = uv_now(s->loop);
        }
        return;
    }
    cl = calloc(1, sizeof *cl);
    if (cl == NULL) {
        tconn_drop(listener);
        return;
    }
    cl->s = s;
    http_parser_init(&cl->parser, HTTP_REQUEST);
    cl->parser.data = cl;
    tconn_init(s->transport, &cl->conn);
    uv_timer_init(s->loop, &cl->timer);
    uv_idle_init(s->loop, &cl->step);
    cl->conn.data = cl;
    cl->timer.data = cl;
    cl->step.data = cl;
    cl->next = s->clients;
    s->clients = cl;
    s->n_clients++;
    cl->counted = true;
    cl->idle_since = uv_now(s->loop);
    s->pending++;
    /* The handshake has its own short bound; then idle_ms applies. */
    uv_timer_start(&cl->timer, timer_cb, PGQ_MIN(s->idle_ms, HTTP_HANDSHAKE_MS), 0);
    if (tconn_accept(&cl->conn, listener, false, open_cb) != 0 ||
        s->n_clients > s->max_clients + HTTP_REFUSING_MAX) {
        /* Beyond what eviction and refusals can absorb (connections still
         * in their handshakes count): closed unanswered, at once. */
        client_close(cl);
    }
}

int http_start(struct http_server *s,
               uv_loop_t *loop,
               struct transport *transport,
               const char *address,
               unsigned max_clients,
               uint64_t idle_ms,
               http_handler handler,
               char *errmsg,
               size_t errsize)
{
    struct sockaddr_in sa;
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    int rv;
    void *data = s->data;
    memset(s, 0, sizeof *s);
    s->data = data;
    s->loop = loop;
    s->transport = transport;
    s->handler = handler;
    s->max_clients = max_clients;
    s->idle_ms = idle_ms;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->pending = 1;
    if (pgq_parse_hostport(address, host, sizeof host, &port) != 0 ||
        uv_ip4_addr(host, port, &sa) != 0) {
        snprintf(errmsg, errsize, "http_address %s: not an IPv4 host:port", address);
        return PGQ_CONFIG;
    }
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 128, connection_cb);
    }
    if (rv != 0) {
        snprintf(errmsg, errsize, "http_address %s: %s", address, uv_strerror(rv));
        return PGQ_IO;
    }
    return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->pending--;
    if (s->pending == 0 && s->close_cb != NULL) {
        s->close_cb(s);
    }
}

void http_close(struct http_server *s, http_close_cb cb)
{
    s->closing = true;
    s->close_cb = cb;
    while (s->clients != NULL) {
        client_close(s->clients);
    }
    uv_close((uv_handle_t *)&s->listener, listener_closed_cb);
}
