/* pgconn: async libpq on libuv (see pgconn.h). */
#include "pgconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "pgquorum/pgquorum.h"

static void poll_cb(uv_poll_t *h, int status, int events);
static void free_params(struct pgconn *pc);

/* libpq's messages span lines (a hint follows on a tab-indented line):
 * keep the first line, which says what failed. */
static void set_err(struct pgconn *pc, const char *prefix, const char *msg)
{
    size_t len = strcspn(msg != NULL ? msg : "", "\n");
    snprintf(pc->errmsg, sizeof pc->errmsg, "%s%.*s", prefix, (int)len, msg != NULL ? msg : "");
    pgq_one_line(pc->errmsg);
}

/* Server notices (e.g. "terminating connection due to unexpected postmaster
 * exit") go to our log, not raw to stderr. */
static void notice_cb(void *arg, const char *message)
{
    struct pgconn *pc = arg;
    char line[256];
    size_t len = strcspn(message, "\n");
    snprintf(line, sizeof line, "%.*s", (int)len, message);
    (void)pc;
    log_debug("server notice: %s", line);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct pgconn *pc = h->data;
    if (h != (uv_handle_t *)&pc->timer) {
        free(h);
    }
    pc->pending_closes--;
    if (pc->state == PGCONN_CLOSING && pc->pending_closes == 0) {
        pc->state = PGCONN_CLOSED;
        if (pc->close_cb != NULL) {
            pc->close_cb(pc);
        }
    }
}

/* Stop watching the current socket; the handle is freed when closed. Must
 * happen before PQfinish closes the fd. */
static void drop_poll(struct pgconn *pc)
{
    if (pc->poll != NULL) {
        uv_poll_stop(pc->poll);
        pc->pending_closes++;
        uv_close((uv_handle_t *)pc->poll, handle_closed_cb);
        pc->poll = NULL;
        pc->poll_fd = -1;
    }
}

/* Watch fd for events, replacing the handle when the socket changed. */
static int watch(struct pgconn *pc, int events)
{
    int fd = PQsocket(pc->conn);
    if (fd < 0) {
        set_err(pc, "", "no socket");
        return PGQ_IO;
    }
    if (pc->poll != NULL && pc->poll_fd != fd) {
        drop_poll(pc);
    }
    if (pc->poll == NULL) {
        pc->poll = malloc(sizeof *pc->poll);
        if (pc->poll == NULL) {
            set_err(pc, "", "out of memory");
            return PGQ_NOMEM;
        }
        if (uv_poll_init_socket(pc->loop, pc->poll, fd) != 0) {
            free(pc->poll);
            pc->poll = NULL;
            set_err(pc, "", "cannot watch socket");
            return PGQ_IO;
        }
        pc->poll->data = pc;
        pc->poll_fd = fd;
    }
    return uv_poll_start(pc->poll, events, poll_cb) == 0 ? 0 : PGQ_IO;
}

static void finish(struct pgconn *pc)
{
    uv_timer_stop(&pc->timer);
    if (pc->resolve != NULL) {
        /* A lookup under way cannot be stopped: let it finish unheard. */
        pc->resolve->data = NULL;
        uv_cancel((uv_req_t *)pc->resolve);
        pc->resolve = NULL;
    }
    free_params(pc);
    drop_poll(pc);
    if (pc->result != NULL) {
        PQclear(pc->result);
        pc->result = NULL;
    }
    if (pc->conn != NULL) {
        PQfinish(pc->conn);
        pc->conn = NULL;
    }
    if (pc->state != PGCONN_CLOSING && pc->state != PGCONN_CLOSED) {
        pc->state = PGCONN_IDLE;
    }
}

/* Whether a failed connect ran out of descriptors: errno right after
 * libpq gave up, or libpq's own words for it (it may have tried another
 * address since). */
static void note_no_fd(struct pgconn *pc, int err)
{
    pc->no_fd = err == EMFILE || err == ENFILE || strstr(pc->errmsg, strerror(EMFILE)) != NULL ||
                strstr(pc->errmsg, strerror(ENFILE)) != NULL;
}

static void connect_done(struct pgconn *pc, int status)
{
    pgconn_cb cb = pc->connect_cb;
    pc->connect_cb = NULL;
    if (status != 0) {
        finish(pc);
    } else {
        uv_timer_stop(&pc->timer);
        pc->state = PGCONN_READY;
        if (watch(pc, UV_READABLE) != 0) {
            finish(pc);
            status = PGQ_IO;
        }
    }
    if (cb != NULL) {
        cb(pc, status);
    }
}

static void query_done(struct pgconn *pc, int status)
{
    pgconn_query_cb cb = pc->query_cb;
    PGresult *res = pc->result;
    pc->query_cb = NULL;
    pc->result = NULL;
    uv_timer_stop(&pc->timer);
    if (status != 0) {
        if (res != NULL) {
            PQclear(res);
            res = NULL;
        }
        finish(pc);
    } else {
        pc->state = PGCONN_READY;
        if (watch(pc, UV_READABLE) != 0) {
            finish(pc);
        }
    }
    if (cb != NULL) {
        cb(pc, status, res);
    }
    if (res != NULL) {
        PQclear(res);
    }
}

static void step_connect(struct pgconn *pc)
{
    PostgresPollingStatusType ps = PQconnectPoll(pc->conn);
    switch (ps) {
        case PGRES_POLLING_OK:
            connect_done(pc, 0);
            return;
        case PGRES_POLLING_READING:
            if (watch(pc, UV_READABLE) != 0) {
                connect_done(pc, PGQ_IO);
            }
            return;
        case PGRES_POLLING_WRITING:
            if (watch(pc, UV_WRITABLE) != 0) {
                connect_done(pc, PGQ_IO);
            }
            return;
        default: {
            int err = errno;
            set_err(pc, "connect: ", PQerrorMessage(pc->conn));
            note_no_fd(pc, err);
            connect_done(pc, PGQ_IO);
            return;
        }
    }
}

static void step_query(struct pgconn *pc)
{
    int flush;
    if (PQconsumeInput(pc->conn) == 0) {
        set_err(pc, "query: ", PQerrorMessage(pc->conn));
        query_done(pc, PGQ_IO);
        return;
    }
    flush = PQflush(pc->conn);
    if (flush < 0) {
        set_err(pc, "query: ", PQerrorMessage(pc->conn));
        query_done(pc, PGQ_IO);
        return;
    }
    while (!PQisBusy(pc->conn)) {
        PGresult *res = PQgetResult(pc->conn);
        if (res == NULL) {
            int status = 0;
            if (pc->result == NULL) {
                set_err(pc, "query: ", "no result");
                status = PGQ_IO;
            } else if (PQresultStatus(pc->result) != PGRES_TUPLES_OK &&
                       PQresultStatus(pc->result) != PGRES_COMMAND_OK) {
                set_err(pc, "query: ", PQresultErrorMessage(pc->result));
                status = PGQ_REFUSED;
            }
            /* A refused statement leaves the connection usable. */
            if (status == PGQ_REFUSED) {
                pgconn_query_cb cb = pc->query_cb;
                PGresult *r = pc->result;
                pc->query_cb = NULL;
                pc->result = NULL;
                uv_timer_stop(&pc->timer);
                pc->state = PGCONN_READY;
                if (watch(pc, UV_READABLE) != 0) {
                    finish(pc);
                }
                cb(pc, status, r);
                PQclear(r);
                return;
            }
            query_done(pc, status);
            return;
        }
        if (pc->result == NULL) {
            pc->result = res;
        } else {
            PQclear(res); /* one statement: keep the first result */
        }
    }
    if (watch(pc, flush == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0) {
        query_done(pc, PGQ_IO);
    }
}

static void step_idle(struct pgconn *pc)
{
    PGnotify *n;
    if (PQconsumeInput(pc->conn) == 0 || PQstatus(pc->conn) == CONNECTION_BAD) {
        set_err(pc, "connection lost: ", PQerrorMessage(pc->conn));
        finish(pc);
        if (pc->lost_cb != NULL) {
            pc->lost_cb(pc, PGQ_IO);
        }
        return;
    }
    while ((n = PQnotifies(pc->conn)) != NULL) {
        PQfreemem(n);
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct pgconn *pc = h->data;
    (void)events;
    /* status < 0 (EBADF on a refused connect): let libpq say what
     * happened rather than guessing. */
    (void)status;
    if (h != pc->poll) {
        return; /* a handle being replaced */
    }
    switch (pc->state) {
        case PGCONN_CONNECTING:
            step_connect(pc);
            break;
        case PGCONN_BUSY:
            step_query(pc);
            break;
        case PGCONN_READY:
            step_idle(pc);
            break;
        default:
            break;
    }
}

/* The socket has something for us now. */
static bool socket_ready(const struct pgconn *pc)
{
    struct pollfd pfd = {.fd = pc->poll_fd, .events = POLLIN | POLLOUT};
    if (pc->poll == NULL || pc->poll_fd < 0) {
        return false;
    }
    if (pc->state == PGCONN_BUSY) {
        pfd.events = POLLIN; /* a query waits for its answer */
    }
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (pfd.events | POLLERR | POLLHUP)) != 0;
}

static void timer_cb(uv_timer_t *t)
{
    struct pgconn *pc = t->data;
    char msg[64];
    /* Timers run before the loop looks at sockets: after a stall of the
     * loop, an answer that came in time may be waiting unread. Read it
     * first; only a server that really said nothing times out. */
    if ((pc->state == PGCONN_CONNECTING || pc->state == PGCONN_BUSY) && socket_ready(pc)) {
        int state = pc->state;
        if (state == PGCONN_CONNECTING) {
            step_connect(pc);
        } else {
            step_query(pc);
        }
        if (pc->state != state) {
            return; /* it ended: connected, answered, or failed on its own */
        }
    }
    snprintf(msg, sizeof msg, "timeout after %llu ms", (unsigned long long)pc->timeout_ms);
    if (pc->state == PGCONN_CONNECTING) {
        set_err(pc, "connect: ", msg);
        connect_done(pc, PGQ_TIMEOUT);
    } else if (pc->state == PGCONN_BUSY) {
        set_err(pc, "query: ", msg);
        query_done(pc, PGQ_TIMEOUT);
    }
}

int pgconn_init(struct pgconn *pc, uv_loop_t *loop)
{
    memset(pc, 0, sizeof *pc);
    pc->loop = loop;
    pc->poll_fd = -1;
    pc->state = PGCONN_IDLE;
    if (uv_timer_init(loop, &pc->timer) != 0) {
        return PGQ_IO;
    }
    pc->timer.data = pc;
    return 0;
}

static void start_timer(struct pgconn *pc, uint64_t timeout_ms)
{
    pc->timeout_ms = timeout_ms;
    uv_timer_start(&pc->timer, timer_cb, timeout_ms, 0);
}

static void free_params(struct pgconn *pc)
{
    for (unsigned i = 0; i < pc->n_params; i++) {
        free(pc->keys[i]);
        free(pc->values[i]);
    }
    pc->n_params = 0;
}

/* Start libpq's connect; hostaddr (may be NULL) is what the name resolved
 * to, so that libpq never resolves a name on the loop. */
static int start_libpq(struct pgconn *pc, const char *hostaddr)
{
    const char *kw[PGCONN_MAX_PARAMS + 2];
    const char *val[PGCONN_MAX_PARAMS + 2];
    unsigned n = 0;
    for (unsigned i = 0; i < pc->n_params; i++) {
        kw[n] = pc->keys[i], val[n++] = pc->values[i];
    }
    if (hostaddr != NULL) {
        kw[n] = "hostaddr", val[n++] = hostaddr;
    }
    kw[n] = NULL, val[n] = NULL;
    pc->conn = PQconnectStartParams(kw, val, 1);
    free_params(pc);
    if (pc->conn == NULL) {
        set_err(pc, "connect: ", "out of memory");
        return PGQ_NOMEM;
    }
    if (PQstatus(pc->conn) == CONNECTION_BAD) {
        int err = errno;
        set_err(pc, "connect: ", PQerrorMessage(pc->conn));
        note_no_fd(pc, err);
        return PGQ_INVALID;
    }
    PQsetnonblocking(pc->conn, 1);
    PQsetNoticeProcessor(pc->conn, notice_cb, pc);
    /* libpq: behave as if PQconnectPoll had returned PGRES_POLLING_WRITING. */
    return watch(pc, UV_WRITABLE);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pgconn *pc = req->data; /* NULL: the attempt was abandoned */
    char ip[64] = "";
    if (pc != NULL) {
        pc->resolve = NULL;
        /* One address: the first IPv4 one, else the first IPv6 one. */
        for (const struct addrinfo *a = status == 0 ? res : NULL; a != NULL && ip[0] == '\0';
             a = a->ai_next) {
            if (a->ai_family == AF_INET) {
                uv_ip4_name((const struct sockaddr_in *)a->ai_addr, ip, sizeof ip);
            }
        }
        for (const struct addrinfo *a = status == 0 ? res : NULL; a != NULL && ip[0] == '\0';
             a = a->ai_next) {
            if (a->ai_family == AF_INET6) {
                uv_ip6_name((const struct sockaddr_in6 *)a->ai_addr, ip, sizeof ip);
            }
        }
        if (ip[0] == '\0') {
            set_err(pc, "connect: cannot resolve host: ",
                    status != 0 ? uv_strerror(status) : "no address");
            connect_done(pc, PGQ_IO);
        } else if (start_libpq(pc, ip) != 0) {
            connect_done(pc, PGQ_IO);
        }
    }
    uv_freeaddrinfo(res);
    free(req);
}

/* The host to resolve first, or NULL when libpq will not resolve anything:
 * an IP literal, a socket directory, hostaddr given, or several hosts. */
static char *host_to_resolve(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    const char *host = NULL, *hostaddr = NULL;
    char *out = NULL;
    unsigned char buf[sizeof(struct in6_addr)];
    if (opts == NULL) {
        return NULL; /* libpq will say what is wrong with it */
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0) {
            host = o->val;
        } else if (strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }
    }
    if (host != NULL && host[0] != '\0' && host[0] != '/' && (hostaddr == NULL || !*hostaddr) &&
        strchr(host, ',') == NULL && inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1) {
        out = strdup(host);
    }
    PQconninfoFree(opts);
    return out;
}

int pgconn_connect(struct pgconn *pc,
                   const char *conninfo,
                   const char *const *keys,
                   const char *const *values,
                   uint64_t timeout_ms,
                   pgconn_cb cb)
{
    char *host;
    int rv;
    if (pc->state != PGCONN_IDLE) {
        set_err(pc, "connect: ", "already connected");
        return PGQ_INVALID;
    }
    pc->keys[0] = strdup("dbname");
    pc->values[0] = strdup(conninfo);
    pc->n_params = 1;
    for (unsigned i = 0; keys != NULL && keys[i] != NULL; i++) {
        if (pc->n_params >= PGCONN_MAX_PARAMS) {
            free_params(pc);
            set_err(pc, "connect: ", "too many connection parameters");
            return PGQ_INVALID;
        }
        pc->keys[pc->n_params] = strdup(keys[i]);
        pc->values[pc->n_params++] = strdup(values[i]);
    }
    for (unsigned i = 0; i < pc->n_params; i++) {
        if (pc->keys[i] == NULL || pc->values[i] == NULL) {
            free_params(pc);
            set_err(pc, "connect: ", "out of memory");
            return PGQ_NOMEM;
        }
    }
    pc->state = PGCONN_CONNECTING;
    pc->connect_cb = cb;
    pc->errmsg[0] = '\0';
    pc->no_fd = false;
    /* Never resolve a name on the loop: libpq would block in getaddrinfo. */
    host = host_to_resolve(conninfo);
    if (host != NULL) {
        struct addrinfo hints;
        uv_getaddrinfo_t *req = malloc(sizeof *req);
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        rv = req == NULL ? UV_ENOMEM
                         : uv_getaddrinfo(pc->loop, req, resolved_cb, host, NULL, &hints);
        free(host);
        if (rv != 0) {
            free(req);
            free_params(pc);
            pc->connect_cb = NULL;
            pc->state = PGCONN_IDLE;
            set_err(pc, "connect: cannot resolve host: ", uv_strerror(rv));
            return PGQ_IO;
        }
        req->data = pc;
        pc->resolve = req;
        start_timer(pc, timeout_ms);
        return 0;
    }
    rv = start_libpq(pc, NULL);
    if (rv != 0) {
        pc->connect_cb = NULL;
        finish(pc);
        return rv;
    }
    start_timer(pc, timeout_ms);
    return 0;
}

int pgconn_query(struct pgconn *pc, const char *sql, uint64_t timeout_ms, pgconn_query_cb cb)
{
    if (pc->state != PGCONN_READY) {
        set_err(pc, "query: ", "not connected");
        return PGQ_INVALID;
    }
    if (PQsendQuery(pc->conn, sql) == 0) {
        set_err(pc, "query: ", PQerrorMessage(pc->conn));
        finish(pc);
        return PGQ_IO;
    }
    pc->state = PGCONN_BUSY;
    pc->query_cb = cb;
    if (watch(pc, UV_READABLE | UV_WRITABLE) != 0) {
        pc->query_cb = NULL;
        finish(pc);
        return PGQ_IO;
    }
    start_timer(pc, timeout_ms);
    return 0;
}

static void abort_pending(struct pgconn *pc)
{
    if (pc->state == PGCONN_CONNECTING || pc->state == PGCONN_BUSY) {
        set_err(pc, "", "cancelled");
    }
    if (pc->state == PGCONN_CONNECTING) {
        connect_done(pc, PGQ_SHUTDOWN);
    } else if (pc->state == PGCONN_BUSY) {
        query_done(pc, PGQ_SHUTDOWN);
    }
}

void pgconn_disconnect(struct pgconn *pc)
{
    abort_pending(pc);
    finish(pc);
}

void pgconn_close(struct pgconn *pc, pgconn_close_cb cb)
{
    abort_pending(pc);
    pc->state = PGCONN_CLOSING;
    pc->close_cb = cb;
    finish(pc);
    pc->pending_closes++;
    uv_close((uv_handle_t *)&pc->timer, handle_closed_cb);
}

bool pgconn_connected(const struct pgconn *pc)
{
    return pc->state == PGCONN_READY || pc->state == PGCONN_BUSY;
}
