/* pgconn: one libpq connection driven by the libuv loop, never blocking it.
 *
 * The happy path is: pgconn_connect() starts PQconnectStartParams and polls
 * the socket until PQconnectPoll says OK; pgconn_query() sends one statement
 * and collects its result; between queries the socket stays watched, so that
 * a connection the server closes (EOF, reset, keepalive timeout) is noticed
 * at once and reported through lost_cb.
 *
 * A host name is resolved with uv_getaddrinfo (on libuv's thread pool)
 * and handed to libpq as hostaddr (the first IPv4 address, else the first
 * IPv6 one): libpq would otherwise resolve it with a blocking getaddrinfo
 * on the loop.
 *
 * Possible failure modes are: a name that does not resolve, a refused or
 * unreachable server, a server that accepts and then says nothing (our own
 * timer per connect and per query: libpq's connect_timeout does nothing in
 * async mode), an error result, and a connection lost mid-query. Each ends
 * the attempt with one line in errmsg. A connect that fails because this
 * process has no descriptor left sets no_fd: the node is not to blame. A
 * timer that fires while the answer already waits in the socket (the loop
 * was late, not the server) lets the answer through instead.
 *
 * Rules: connect_cb/query_cb fire exactly once per call that returned 0, and
 * never for one that returned non-zero. After any failure the connection is
 * closed (state IDLE) and may be connected again. */
#ifndef PGQ_PGCONN_H
#define PGQ_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define PGCONN_MAX_PARAMS 24

struct pgconn;
typedef void (*pgconn_cb)(struct pgconn *pc, int status);
/* res is owned by pgconn and valid only during the callback. */
typedef void (*pgconn_query_cb)(struct pgconn *pc, int status, PGresult *res);
typedef void (*pgconn_close_cb)(struct pgconn *pc);

enum pgconn_state {
    PGCONN_IDLE, /* not connected */
    PGCONN_CONNECTING,
    PGCONN_READY, /* connected, no query running */
    PGCONN_BUSY,  /* query running */
    PGCONN_CLOSING,
    PGCONN_CLOSED,
};

struct pgconn
{
    uv_loop_t *loop;
    int state;
    PGconn *conn;
    uv_poll_t *poll; /* heap: the socket may change during a connect */
    int poll_fd;
    uv_timer_t timer;
    char errmsg[256];
    bool no_fd; /* the last connect failed for want of a file descriptor (EMFILE, ENFILE) */
    void *data;
    pgconn_cb lost_cb; /* connection lost while READY */
    /* private */
    pgconn_cb connect_cb;
    pgconn_query_cb query_cb;
    PGresult *result;
    uv_getaddrinfo_t *resolve;     /* heap: a host name lookup under way */
    char *keys[PGCONN_MAX_PARAMS]; /* owned: parameters of the connect */
    char *values[PGCONN_MAX_PARAMS];
    unsigned n_params;
    uint64_t timeout_ms;
    unsigned pending_closes;
    pgconn_close_cb close_cb;
};

int pgconn_init(struct pgconn *pc, uv_loop_t *loop);

/* Connect with `conninfo`, overridden by the extra keywords (NULL-terminated
 * arrays, may be NULL). */
int pgconn_connect(struct pgconn *pc,
                   const char *conninfo,
                   const char *const *keys,
                   const char *const *values,
                   uint64_t timeout_ms,
                   pgconn_cb cb);

/* Run one SQL statement. */
int pgconn_query(struct pgconn *pc, const char *sql, uint64_t timeout_ms, pgconn_query_cb cb);

/* Drop the connection (PQfinish) and go IDLE; pending callbacks fire with
 * PGQ_SHUTDOWN first. */
void pgconn_disconnect(struct pgconn *pc);

/* Close for good; cb fires once every handle is closed. */
void pgconn_close(struct pgconn *pc, pgconn_close_cb cb);

bool pgconn_connected(const struct pgconn *pc);

#endif /* PGQ_PGCONN_H */
