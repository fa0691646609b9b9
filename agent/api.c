/* api: the operator API server (see api.h). */
#include "api.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "lib/util.h"
#include "log.h"
#include "resources.h"

struct api_client
{
    struct api_server *s;
    struct tconn conn;
    uv_timer_t idle;
    struct frame_reader reader;
    uint8_t *out;
    /* A streamed status (api_reply_stream): the clusters' names when it
     * began, the next to send, and the state they are looked up in. */
    char (*names)[PGQ_NAME_MAX];
    unsigned n_names;
    unsigned next_name;
    const struct state *stream_state;
    bool busy;        /* a request is with the handler, or its reply being written */
    bool writing;     /* the reply is being written */
    bool close_after; /* close once the reply is written */
    bool closing;
    bool counted; /* in n_clients (surplus clients are not) */
    bool refuse;  /* over max_clients: answered UNAVAILABLE once open */
    unsigned pending_closes;
    struct api_client *next;
};

/* How long a new connection may take over its TLS handshake (at most
 * idle_timeout), and how many surplus ones may wait for theirs to be told
 * they are too many; beyond, they are closed unanswered. */
#define API_HANDSHAKE_MS 5000
#define API_REFUSING_MAX 16

/* Connections from monitor hosts accepted beyond max_clients. */
#define API_MONITOR_RESERVE (2u * PGQ_MAX_MONITORS)
_Static_assert(API_MONITOR_RESERVE == RES_API_MONITOR_RESERVE &&
                   API_REFUSING_MAX == RES_API_REFUSING_MAX,
               "resources.h counts them");
_Static_assert(API_MONITOR_RESERVE == 18, "[api] max_clients in config.c documents 18");

static void client_free_if_done(struct api_client *cl)
{
    struct api_server *s = cl->s;
    if (cl->pending_closes != 0 || cl->busy) {
        return;
    }
    frame_reader_close(&cl->reader);
    free(cl->out);
    free(cl->names);
    free(cl);
    s->pending--;
    if (s->closing && s->pending == 0 && s->close_cb != NULL) {
        s->close_cb(s);
    }
}

static void client_handle_closed(uv_handle_t *h)
{
    struct api_client *cl = h->data;
    cl->pending_closes--;
    client_free_if_done(cl);
}

static void client_conn_closed(struct tconn *c)
{
    struct api_client *cl = c->data;
    cl->pending_closes--;
    client_free_if_done(cl);
}

static void client_close(struct api_client *cl)
{
    struct api_server *s = cl->s;
    if (cl->closing) {
        return;
    }
    cl->closing = true;
    for (struct api_client **p = &s->clients; *p != NULL; p = &(*p)->next) {
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    }
    if (cl->counted) {
        s->n_clients--;
    }
    if (cl->refuse) {
        s->n_refusing--;
    }
    cl->pending_closes = 2;
    tconn_close(&cl->conn, client_conn_closed);
    uv_close((uv_handle_t *)&cl->idle, client_handle_closed);
}

/* One timer bounds each thing a client owes: its next frame's first byte,
 * the rest of that frame (from its first byte: trickling bytes buys no
 * time), and reading the reply. While the handler works it owes nothing. */
static void idle_cb(uv_timer_t *t)
{
    struct api_client *cl = t->data;
    if (cl->busy && !cl->writing) {
        return; /* the handler owes a reply; the owner bounds its own waits */
    }
    log_debug("api: closing a client %s",
              cl->writing ? "that does not read its reply" : "idle or stuck in a partial frame");
    client_close(cl);
}

static void touch(struct api_client *cl)
{
    uv_timer_start(&cl->idle, idle_cb, cl->s->cfg->api_idle_timeout_ms, 0);
}

static void read_cb(struct tconn *c, ssize_t n, const uint8_t *buf);

/* Handle the next complete frame, if one is buffered. */
static void process(struct api_client *cl)
{
    const uint8_t *msg;
    size_t len;
    struct api_request req;
    char err[256];
    int rv;
    if (cl->busy || cl->closing) {
        return;
    }
    rv = frame_reader_next(&cl->reader, &msg, &len);
    if (rv == 0) {
        return;
    }
    cl->busy = true;
    tconn_read_stop(&cl->conn);
    if (rv < 0) {
        snprintf(err, sizeof err, "frame of %u bytes exceeds the limit of %u bytes",
                 frame_get_header(cl->reader.buf), PGQ_FRAME_MAX);
        log_warn("api: %s: closing the connection", err);
        cl->close_after = true;
        api_reply_code(cl, API_BAD_REQUEST, err, NULL);
        return;
    }
    rv = codec_request_decode(msg, len, &req, err, sizeof err);
    frame_reader_consume(&cl->reader);
    if (rv != 0) {
        log_info("api: bad request: %s", err);
        api_reply_code(cl, API_BAD_REQUEST, err, NULL);
        return;
    }
    cl->s->handler(cl->s, cl, &req);
    api_request_close(&req);
}

static void read_cb(struct tconn *c, ssize_t n, const uint8_t *buf)
{
    struct api_client *cl = c->data;
    if (n < 0) {
        client_close(cl);
        return;
    }
    if (frame_reader_pending(&cl->reader) == 0) {
        touch(cl); /* a new frame: it must be whole within idle_timeout */
    }
    if (frame_reader_feed(&cl->reader, buf, (size_t)n) != 0 &&
        frame_reader_pending(&cl->reader) < FRAME_HEADER_SIZE) {
        client_close(cl);
        return;
    }
    process(cl);
}

static void stream_next(struct api_client *cl);

static void write_cb(struct tconn *c, int status)
{
    struct api_client *cl = c->data;
    free(cl->out);
    cl->out = NULL;
    cl->writing = false;
    if (cl->names != NULL && status == 0 && !cl->closing) {
        stream_next(cl); /* the next part, on this turn of the loop: one at a time */
        return;
    }
    free(cl->names);
    cl->names = NULL;
    cl->busy = false;
    if (cl->closing) {
        client_free_if_done(cl);
        return;
    }
    if (status != 0 || cl->close_after) {
        client_close(cl);
        return;
    }
    touch(cl);
    if (tconn_read_start(&cl->conn, read_cb) != 0) {
        client_close(cl);
        return;
    }
    process(cl); /* a pipelined frame may already be buffered */
}

/* Write a frame encoded with room for its header (buf owned). */
static void send_frame(struct api_client *cl, uint8_t *buf, size_t len)
{
    frame_put_header(buf, (uint32_t)len);
    cl->out = buf;
    if (tconn_write(&cl->conn, buf, len + FRAME_HEADER_SIZE, write_cb) != 0) {
        free(cl->out);
        cl->out = NULL;
        free(cl->names);
        cl->names = NULL;
        cl->busy = false;
        client_close(cl);
        return;
    }
    cl->writing = true;
    touch(cl); /* the client has idle_timeout to read it */
}

void api_reply(struct api_client *cl,
               const struct api_response *res,
               const struct state *state,
               const char *events_cluster,
               unsigned events_limit)
{
    struct codec_alloc a = {malloc, FRAME_HEADER_SIZE};
    uint8_t *buf;
    size_t len;
    assert(!cl->writing); /* one reply per request */
    if (cl->closing) {
        free(cl->names);
        cl->names = NULL;
        cl->busy = false;
        client_free_if_done(cl);
        return;
    }
    if (codec_response_encode(res, state, events_cluster, events_limit, &a, &buf, &len) != 0) {
        free(cl->names);
        cl->names = NULL;
        cl->busy = false;
        client_close(cl);
        return;
    }
    send_frame(cl, buf, len);
}

/* Clusters of about this many nodes in all go in a part: at 10,000 nodes
 * the whole state took about 100 ms to encode, a part takes 2 or 3. */
#define API_STREAM_NODES 256u

static void stream_next(struct api_client *cl)
{
    struct codec_alloc a = {malloc, FRAME_HEADER_SIZE};
    unsigned first = cl->next_name, nodes = 0;
    uint8_t *buf;
    size_t len;
    bool more;
    int rv;
    while (cl->next_name < cl->n_names && nodes < API_STREAM_NODES) {
        const struct cluster *c = state_cluster(cl->stream_state, cl->names[cl->next_name++]);
        nodes += c != NULL ? PGQ_MAX(c->n_nodes, 1u) : 0;
    }
    more = cl->next_name < cl->n_names;
    rv =
        codec_status_part_encode(cl->stream_state, (const char(*)[PGQ_NAME_MAX])(cl->names + first),
                                 cl->next_name - first, more, &a, &buf, &len);
    if (!more) {
        free(cl->names);
        cl->names = NULL;
    }
    if (rv != 0) {
        log_warn("api: a streamed status cut short: %s", pgq_strerror(rv));
        free(cl->names);
        cl->names = NULL;
        cl->busy = false;
        client_close(cl); /* the client sees the stream end before its last part */
        return;
    }
    send_frame(cl, buf, len);
}

void api_reply_stream(struct api_client *cl, struct api_response *res, const struct state *state)
{
    unsigned n = state->n_clusters;
    assert(!cl->writing && cl->names == NULL);
    cl->names = n > 0 && !cl->closing ? malloc(n * sizeof *cl->names) : NULL;
    if (cl->names == NULL) {
        api_reply(cl, res, state, NULL, 0); /* nothing to stream, or no memory: at once */
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        memcpy(cl->names[i], state->clusters[i].name, PGQ_NAME_MAX);
    }
    cl->n_names = n;
    cl->next_name = 0;
    cl->stream_state = state;
    res->more = true;
    api_reply(cl, res, state, NULL, 0);
    res->more = false;
}

void api_reply_code(struct api_client *cl, int code, const char *message, const char *leader_api)
{
    struct api_response res;
    api_response_init(&res);
    res.code = code;
    pgq_strlcpy(res.message, message != NULL ? message : "", sizeof res.message);
    pgq_strlcpy(res.leader_api, leader_api != NULL ? leader_api : "", sizeof res.leader_api);
    api_reply(cl, &res, NULL, NULL, 0);
    api_response_close(&res);
}

static bool host_is(const char *address, const char *ip)
{
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    return pgq_parse_hostport(address, host, sizeof host, &port) == 0 && strcmp(host, ip) == 0;
}

/* Whether an address is the host of one of the monitors (the configured
 * peers, and those the state lists: the peers are only the bootstrap set):
 * their reports to the leader come through this port and must not be
 * starved by other clients holding every slot. */
static bool from_monitor_host(const struct api_server *s, const char *ip)
{
    for (unsigned i = 0; i < s->cfg->n_peers; i++) {
        if (host_is(s->cfg->peers[i].address, ip)) {
            return true;
        }
    }
    for (unsigned i = 0; s->state != NULL && i < s->state->n_monitors; i++) {
        if (host_is(s->state->monitors[i].raft_address, ip)) {
            return true;
        }
    }
    return false;
}

static void refuse(struct api_client *cl)
{
    struct api_server *s = cl->s;
    char msg[128];
    uint64_t now = uv_now(s->loop);
    if (now >= s->refused_log_ms + 1000) {
        log_warn("api: more than %llu clients: refusing new connections",
                 (unsigned long long)s->cfg->api_max_clients);
        s->refused_log_ms = now;
    }
    snprintf(msg, sizeof msg, "too many clients: this monitor serves at most %llu",
             (unsigned long long)s->cfg->api_max_clients);
    cl->busy = true;
    cl->close_after = true;
    api_reply_code(cl, API_UNAVAILABLE, msg, NULL);
}

static void open_cb(struct tconn *c, int status)
{
    struct api_client *cl = c->data;
    if (status != 0) {
        uint64_t now = uv_now(cl->s->loop);
        /* One line a second: a scan of the port must not flood the log. */
        if (now >= cl->s->refused_tls_log_ms + 1000) {
            log_warn("api: %s", c->errmsg);
            cl->s->refused_tls_log_ms = now;
        }
        client_close(cl);
        return;
    }
    if (cl->refuse) {
        refuse(cl);
        return;
    }
    touch(cl); /* the first frame */
    if (tconn_read_start(&cl->conn, read_cb) != 0) {
        client_close(cl);
    }
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct api_server *s = listener->data;
    struct api_client *cl;
    if (status != 0 || s->closing) {
        /* Out of descriptors (EMFILE): libuv has accepted and closed what
         * waited, with the descriptor it keeps spare for this; nothing to
         * do but say so, once a second. */
        if (status != 0 && uv_now(s->loop) >= s->accept_err_log_ms + 1000) {
            log_warn("api: cannot accept a connection: %s", uv_strerror(status));
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
    frame_reader_init(&cl->reader, PGQ_FRAME_MAX);
    tconn_init(s->transport, &cl->conn);
    uv_timer_init(s->loop, &cl->idle);
    cl->conn.data = cl;
    cl->idle.data = cl;
    cl->next = s->clients;
    s->clients = cl;
    s->n_clients++;
    cl->counted = true;
    s->pending++;
    /* The handshake has its own short bound, then idle_timeout applies. */
    uv_timer_start(&cl->idle, idle_cb, PGQ_MIN(s->cfg->api_idle_timeout_ms, API_HANDSHAKE_MS), 0);
    if (tconn_accept(&cl->conn, listener, false, open_cb) != 0) {
        client_close(cl);
        return;
    }
    if (s->n_clients > s->cfg->api_max_clients &&
        (s->n_clients > s->cfg->api_max_clients + API_MONITOR_RESERVE ||
         !from_monitor_host(s, cl->conn.peer.ip))) {
        /* Its slot is given back now, not when the reply is written: a
         * burst of connections must not use up the monitors' reserve. */
        s->n_clients--;
        cl->counted = false;
        if (s->n_refusing >= API_REFUSING_MAX) {
            client_close(cl); /* a flood: the descriptor back at once, no reply */
            return;
        }
        cl->refuse = true;
        s->n_refusing++;
    }
}

int api_start(struct api_server *s,
              uv_loop_t *loop,
              const struct config *cfg,
              struct transport *transport,
              api_handler handler,
              char *errmsg,
              size_t errsize)
{
    struct sockaddr_in sa;
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    int rv;
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->transport = transport;
    s->handler = handler;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->pending = 1;
    if (pgq_parse_hostport(cfg->api_address, host, sizeof host, &port) != 0 ||
        uv_ip4_addr(host, port, &sa) != 0) {
        snprintf(errmsg, errsize, "api_address %s: not an IPv4 host:port", cfg->api_address);
        return PGQ_CONFIG;
    }
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 128, connection_cb);
    }
    if (rv != 0) {
        snprintf(errmsg, errsize, "api_address %s: %s", cfg->api_address, uv_strerror(rv));
        return PGQ_IO;
    }
    return 0;
}

static void listener_closed_cb(uv_handle_t *h)
{
    struct api_server *s = h->data;
    s->pending--;
    if (s->pending == 0 && s->close_cb != NULL) {
        s->close_cb(s);
    }
}

const char *api_client_peer(const struct api_client *cl)
{
    return cl->conn.peer.ip;
}

const struct peer_id *api_client_id(const struct api_client *cl)
{
    return &cl->conn.peer;
}

void api_close(struct api_server *s, api_close_cb cb)
{
    s->closing = true;
    s->close_cb = cb;
    while (s->clients != NULL) {
        client_close(s->clients);
    }
    uv_close((uv_handle_t *)&s->listener, listener_closed_cb);
}
