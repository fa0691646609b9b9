/* log_drain (see log_drain.h): the queue, the connection to the collector
 * and its state machine, the report of dropped lines. The bytes on the
 * wire are built by log_drain_msg.c. */
#include "log_drain.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lib/util.h"
#include "log.h"
#include "transport.h"

#define BIT(s) (1u << (s))
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_MS 10000 /* resolve excluded: TCP connect plus TLS handshake */
#define WRITE_TIMEOUT_MS 30000   /* a collector that stops reading */
#define FLUSH_TIMEOUT_MS 1000    /* at stop */
#define FULL_LOG_EVERY_MS 60000  /* "queue full" at most this often */
#define SEND_MAX 16384           /* bytes per write: a batch of frames */

enum drain_state {
    DRAIN_WAITING = 0, /* the backoff timer runs */
    DRAIN_RESOLVING,   /* uv_getaddrinfo */
    DRAIN_CONNECTING,  /* TCP connect and TLS handshake */
    DRAIN_OPEN,        /* lines are written */
    DRAIN_CLOSING,     /* tconn_close (or shutdown then close) in flight */
    DRAIN_STOPPED,     /* every handle closed or closing: lines go to the local log only */
    DRAIN__N_STATES
};

static const struct pgq_sm_row drain_table[DRAIN__N_STATES] = {
    [DRAIN_WAITING] = {BIT(DRAIN_RESOLVING) | BIT(DRAIN_STOPPED),
                       "no connection; the next attempt after the backoff (1 s doubling to 30 s)"},
    [DRAIN_RESOLVING] = {BIT(DRAIN_CONNECTING) | BIT(DRAIN_WAITING) | BIT(DRAIN_STOPPED),
                         "the collector's host name is resolved (off the loop)"},
    [DRAIN_CONNECTING] = {BIT(DRAIN_OPEN) | BIT(DRAIN_CLOSING),
                          "TCP connect and TLS handshake, within 10 s"},
    [DRAIN_OPEN] = {BIT(DRAIN_CLOSING),
                    "queued lines are written, the drop report first; a write must complete "
                    "within 30 s"},
    [DRAIN_CLOSING] = {BIT(DRAIN_WAITING) | BIT(DRAIN_STOPPED), "the connection is being closed"},
    [DRAIN_STOPPED] = {0, "the daemon stopped: lines go to the local log only"},
};

static const char *const drain_names[DRAIN__N_STATES] = {
    [DRAIN_WAITING] = "waiting", [DRAIN_RESOLVING] = "resolving", [DRAIN_CONNECTING] = "connecting",
    [DRAIN_OPEN] = "open",       [DRAIN_CLOSING] = "closing",     [DRAIN_STOPPED] = "stopped",
};

void log_drain_print_table(void (*emit)(void *arg, const char *line), void *arg)
{
    pgq_sm_print("drain", drain_names, drain_table, DRAIN__N_STATES, emit, arg);
}

static struct
{
    bool started;
    bool stopping;
    int state;
    uv_loop_t *loop;
    struct drain_url url;
    char where[DRAIN_HOST_MAX + 16]; /* "host:port", for log lines */
    struct transport t;
    bool t_init;
    struct tconn c;
    bool c_init; /* tconn_init done: closed before reuse */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool gai_busy;
    struct drain_queue q;
    struct drain_origin origin;
    char hostname[256];
    char sd[256];
    char send[SEND_MAX]; /* the batch in flight: it stays valid until write_cb */
    size_t send_lines;   /* frames in it (lost if the connection breaks) */
    bool writing;
    bool fresh; /* no batch sent yet on this connection */
    uint64_t backoff_ms;
    char last_err[256]; /* the failure logged last (one line per outage or reason) */
    uint64_t full_logged_ms, full_logged_total;
} d;

static void move(int next)
{
    assert(d.state >= 0 && d.state < DRAIN__N_STATES);
    assert(next >= 0 && next < DRAIN__N_STATES);
    assert(drain_table[d.state].next & BIT(next));
    d.state = next;
    /* Invariant: a batch is in flight only on an open connection. */
    assert(!d.writing || d.state == DRAIN_OPEN);
}

static void send_next(void);
static void close_conn(void);
static void timer_cb(uv_timer_t *h);

static void arm_backoff(void)
{
    uv_timer_start(&d.timer, timer_cb, d.backoff_ms, 0);
    d.backoff_ms = PGQ_MIN(d.backoff_ms * 2, BACKOFF_MAX_MS);
}

/* ---- stopping ---------------------------------------------------------- */

static void transport_closed_cb(struct transport *t)
{
    (void)t;
}

/* Every handle closed or closing: the lines still queued are lost. */
static void finish_stop(void)
{
    uint64_t left = d.q.count;
    move(DRAIN_STOPPED);
    log_set_sink(NULL, NULL);
    if (left > 0) {
        drain_queue_count_lost(&d.q, left);
        log_local(LOG_WARN_LEVEL, "log drain: stopped with %" PRIu64 " lines not sent to %s", left,
                  d.where);
    }
    drain_queue_close(&d.q);
    uv_close((uv_handle_t *)&d.timer, NULL);
    transport_close(&d.t, transport_closed_cb);
}

/* ---- failures and backoff ---------------------------------------------- */

/* One line per outage, or when the reason changes. */
static void report_failure(const char *why)
{
    if (strcmp(why, d.last_err) == 0) {
        return;
    }
    pgq_strlcpy(d.last_err, why, sizeof d.last_err);
    log_local(LOG_WARN_LEVEL,
              "log drain: %s: %s; lines are queued (up to %zu) and the connection is retried",
              d.where, why, d.q.cap);
}

static void conn_closed_cb(struct tconn *c)
{
    (void)c;
    d.c_init = false;
    if (d.stopping) {
        finish_stop();
        return;
    }
    move(DRAIN_WAITING);
    arm_backoff();
}

/* The connection is gone or never came: the batch in flight is lost. */
static void fail(const char *why)
{
    if (d.writing) {
        drain_queue_count_lost(&d.q, d.send_lines);
        d.writing = false;
        d.send_lines = 0;
    }
    if (!d.stopping) {
        report_failure(why); /* at a stop, the collector closing first is no news */
    }
    close_conn();
}

static void close_conn(void)
{
    uv_timer_stop(&d.timer);
    move(DRAIN_CLOSING);
    tconn_close(&d.c, conn_closed_cb);
}

/* ---- connecting -------------------------------------------------------- */

static void read_cb(struct tconn *c, ssize_t n, const uint8_t *buf)
{
    (void)buf;
    if (n >= 0 || d.state != DRAIN_OPEN) {
        return; /* a collector has nothing to say (RFC 5425); whatever it says is ignored */
    }
    fail(n == UV_EOF ? "the collector closed the connection" : c->errmsg);
}

static void open_cb(struct tconn *c, int status)
{
    if (d.state != DRAIN_CONNECTING) {
        return; /* closed meanwhile (stop) */
    }
    if (status != 0) {
        fail(c->errmsg[0] != '\0' ? c->errmsg : uv_strerror(status));
        return;
    }
    uv_timer_stop(&d.timer);
    move(DRAIN_OPEN);
    if (d.stopping) {
        close_conn();
        return;
    }
    if (tconn_read_start(c, read_cb) != 0) {
        fail("cannot read from the connection");
        return;
    }
    d.backoff_ms = BACKOFF_FIRST_MS;
    d.last_err[0] = '\0';
    d.fresh = true;
    if (d.q.dropped > 0) {
        log_local(LOG_INFO_LEVEL,
                  "log drain: connected to %s; %" PRIu64
                  " lines were dropped while the collector was unreachable",
                  d.where, d.q.dropped);
    } else {
        log_local(LOG_INFO_LEVEL, "log drain: connected to %s", d.where);
    }
    send_next();
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    char why[300];
    (void)req;
    d.gai_busy = false;
    if (d.stopping) {
        uv_freeaddrinfo(res);
        finish_stop();
        return;
    }
    if (status != 0 || res == NULL) {
        snprintf(why, sizeof why, "cannot resolve %s: %s", d.url.host,
                 status != 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(res);
        report_failure(why);
        move(DRAIN_WAITING);
        arm_backoff();
        return;
    }
    memset(&d.c, 0, sizeof d.c);
    if (tconn_init(&d.t, &d.c) != 0) {
        uv_freeaddrinfo(res);
        report_failure("cannot create a socket");
        move(DRAIN_WAITING);
        arm_backoff();
        return;
    }
    d.c_init = true;
    move(DRAIN_CONNECTING);
    uv_timer_start(&d.timer, timer_cb, CONNECT_TIMEOUT_MS, 0);
    if (tconn_connect(&d.c, res->ai_addr, PEER_ANONYMOUS, 0, open_cb) != 0) {
        uv_freeaddrinfo(res);
        fail("cannot connect");
        return;
    }
    uv_freeaddrinfo(res);
}

static void resolve(void)
{
    struct addrinfo hints;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", d.url.port);
    move(DRAIN_RESOLVING);
    if (uv_getaddrinfo(d.loop, &d.gai, gai_cb, d.url.host, port, &hints) != 0) {
        report_failure("cannot resolve (no resolver)");
        move(DRAIN_WAITING);
        arm_backoff();
        return;
    }
    d.gai_busy = true;
}

static void timer_cb(uv_timer_t *h)
{
    (void)h;
    switch (d.state) {
        case DRAIN_WAITING:
            resolve();
            break;
        case DRAIN_CONNECTING:
            fail("no TLS handshake within 10 s");
            break;
        case DRAIN_OPEN:
            if (d.stopping) {
                close_conn(); /* the flush took too long */
            } else {
                fail("a write did not complete within 30 s (the collector does not read)");
            }
            break;
        default:
            break;
    }
}

/* ---- writing ----------------------------------------------------------- */

static void shutdown_cb(struct tconn *c, int status)
{
    (void)c;
    (void)status;
    if (d.state == DRAIN_OPEN) {
        close_conn();
    }
}

static void write_cb(struct tconn *c, int status)
{
    if (d.state != DRAIN_OPEN || !d.writing) {
        return; /* counted as lost when the connection failed */
    }
    d.writing = false;
    if (status != 0) {
        d.writing = true; /* so that fail() counts the batch */
        fail(c->errmsg[0] != '\0' ? c->errmsg : uv_strerror(status));
        return;
    }
    d.send_lines = 0;
    if (!d.stopping) {
        uv_timer_stop(&d.timer);
    }
    send_next();
}

/* The report line of lines dropped, as a frame at the start of the batch. */
static size_t drop_report(char *out, size_t size)
{
    char msg[160];
    uint64_t n = drain_queue_take_dropped(&d.q);
    if (n == 0) {
        return 0;
    }
    snprintf(msg, sizeof msg, "log drain: dropped %" PRIu64 " lines while the collector was %s", n,
             d.fresh ? "unreachable" : "slow");
    return drain_format_frame(out, size, &d.origin, LOG_WARN_LEVEL, clock_wall_us(), msg);
}

static void send_next(void)
{
    size_t len, n_lines = 0;
    if (d.state != DRAIN_OPEN || d.writing) {
        return;
    }
    len = drop_report(d.send, sizeof d.send);
    d.send_lines = len > 0 ? 1 : 0;
    len += drain_queue_take(&d.q, d.send + len, sizeof d.send - len, &n_lines);
    d.send_lines += n_lines;
    if (len == 0) {
        if (d.stopping && tconn_shutdown(&d.c, shutdown_cb) != 0) {
            close_conn();
        }
        return;
    }
    d.fresh = false;
    if (tconn_write(&d.c, (const uint8_t *)d.send, len, write_cb) != 0) {
        d.writing = true;
        fail("cannot write");
        return;
    }
    d.writing = true;
    if (!d.stopping) {
        uv_timer_start(&d.timer, timer_cb, WRITE_TIMEOUT_MS, 0);
    }
}

/* ---- the sink ---------------------------------------------------------- */

static void note_full(void)
{
    uint64_t now = clock_mono_ms();
    if (d.q.dropped_total == d.full_logged_total ||
        (d.full_logged_ms != 0 && now - d.full_logged_ms < FULL_LOG_EVERY_MS)) {
        return;
    }
    d.full_logged_ms = now;
    d.full_logged_total = d.q.dropped_total;
    log_local(LOG_WARN_LEVEL,
              "log drain: the queue to %s is full (%zu lines): %" PRIu64
              " lines dropped since start, the oldest first",
              d.where, d.q.cap, d.q.dropped_total);
}

static void sink(void *arg, int level, uint64_t wall_us, const char *msg)
{
    char frame[DRAIN_FRAME_MAX];
    size_t len;
    (void)arg;
    if (d.state == DRAIN_STOPPED) {
        return;
    }
    len = drain_format_frame(frame, sizeof frame, &d.origin, level, wall_us, msg);
    if (len == 0) {
        drain_queue_count_lost(&d.q, 1);
        return;
    }
    drain_queue_push(&d.q, frame, len);
    note_full();
    send_next();
}

/* ---- start, stop, stats ------------------------------------------------ */

static int init_transport(const struct log_drain_tls *tls, char *errmsg, size_t errsize)
{
    struct transport_settings ts = {0};
    char why[256];
    memset(&ts, 0, sizeof ts);
    ts.tls = d.url.scheme == DRAIN_TLS;
    ts.client_only = true; /* it only connects */
    if (ts.tls) {
        if (tls == NULL || tls->ca_file == NULL || tls->ca_file[0] == '\0') {
            snprintf(errmsg, errsize,
                     "log_drain: syslog+tls needs a CA to verify the collector with "
                     "(log_drain_ca, or [tls] ca_file)");
            return PGQ_CONFIG;
        }
        ts.ca_file = tls->ca_file;
        /* OpenSSL says "system lib" for a missing file: say it here. */
        if (access(ts.ca_file, R_OK) != 0) {
            snprintf(errmsg, errsize, "log_drain: %s %s: %s",
                     tls->ca_key != NULL ? tls->ca_key : "CA", ts.ca_file, strerror(errno));
            return PGQ_CONFIG;
        }
        if (tls->cert_file != NULL && tls->cert_file[0] != '\0') {
            ts.cert_file = tls->cert_file;
            ts.key_file = tls->key_file;
        }
    }
    if (transport_init(&d.t, d.loop, &ts, why, sizeof why) != 0) {
        /* The transport names [tls] ca_file; the file may be log_drain_ca's. */
        static const char tls_ca[] = "[tls] ca_file ";
        bool other =
            tls != NULL && tls->ca_key != NULL && strncmp(why, tls_ca, strlen(tls_ca)) == 0;
        snprintf(errmsg, errsize, "log_drain: %s%s%s", other ? tls->ca_key : "", other ? " " : "",
                 other ? why + strlen(tls_ca) : why);
        return PGQ_CONFIG;
    }
    d.t_init = true;
    return 0;
}

static void init_origin(const struct config *c)
{
    if (gethostname(d.hostname, sizeof d.hostname) != 0) {
        d.hostname[0] = '\0';
    }
    d.hostname[sizeof d.hostname - 1] = '\0';
    if (c->role == ROLE_NODE) {
        drain_sd(d.sd, sizeof d.sd, "node", 0, c->node_cluster, c->node_name);
    } else {
        drain_sd(d.sd, sizeof d.sd, "monitor", c->id, NULL, NULL);
    }
    d.origin.facility = c->log_drain_facility;
    d.origin.hostname = d.hostname;
    d.origin.app_name = "pgquorumd";
    d.origin.procid = (long)getpid();
    d.origin.msgid = c->role == ROLE_NODE ? "node" : "monitor";
    d.origin.sd = d.sd;
}

int log_drain_start(uv_loop_t *loop,
                    const struct config *c,
                    const struct log_drain_tls *tls,
                    char *errmsg,
                    size_t errsize)
{
    char why[256];
    int rv;
    if (c->log_drain[0] == '\0') {
        return 0;
    }
    assert(!d.started);
    memset(&d, 0, sizeof d);
    d.loop = loop;
    if (drain_url_parse(c->log_drain, &d.url, why, sizeof why) != 0) {
        snprintf(errmsg, errsize, "log_drain: %s", why);
        return PGQ_CONFIG;
    }
    snprintf(d.where, sizeof d.where, strchr(d.url.host, ':') != NULL ? "[%s]:%u" : "%s:%u",
             d.url.host, d.url.port);
    rv = init_transport(tls, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (drain_queue_init(&d.q, (size_t)c->log_drain_queue) != 0) {
        transport_close(&d.t, transport_closed_cb);
        snprintf(errmsg, errsize, "log_drain: out of memory for a queue of %" PRIu64 " lines",
                 c->log_drain_queue);
        return PGQ_NOMEM;
    }
    init_origin(c);
    uv_timer_init(loop, &d.timer);
    d.backoff_ms = BACKOFF_FIRST_MS;
    d.state = DRAIN_WAITING;
    d.started = true;
    log_set_sink(sink, NULL);
    /* The first attempt on the loop's first turn. */
    uv_timer_start(&d.timer, timer_cb, 0, 0);
    if (d.url.scheme == DRAIN_TCP) {
        log_warn(
            "log drain: %s over plain TCP (syslog+tcp): log lines cross the network in "
            "clear text; use syslog+tls://",
            d.where);
    }
    return 0;
}

void log_drain_stop(void)
{
    if (!d.started || d.stopping) {
        return;
    }
    d.stopping = true;
    switch (d.state) {
        case DRAIN_WAITING:
            uv_timer_stop(&d.timer);
            finish_stop();
            break;
        case DRAIN_RESOLVING:
            uv_cancel((uv_req_t *)&d.gai); /* gai_cb finishes, canceled or not */
            break;
        case DRAIN_CONNECTING:
            close_conn();
            break;
        case DRAIN_OPEN:
            /* Flush what is queued (the last lines of the daemon), then close. */
            uv_timer_start(&d.timer, timer_cb, FLUSH_TIMEOUT_MS, 0);
            send_next();
            break;
        default:
            break; /* CLOSING: conn_closed_cb finishes */
    }
}

void log_drain_stats(struct log_drain_stats *out)
{
    memset(out, 0, sizeof *out);
    out->configured = d.started && d.state != DRAIN_STOPPED;
    out->connected = d.started && d.state == DRAIN_OPEN;
    out->queued = d.started ? d.q.count : 0;
    out->dropped_total = d.q.dropped_total;
}
