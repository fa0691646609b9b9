/* The log drain's pure parts: the `log_drain` URL, syslog facility names,
 * one log line as an RFC 5424 syslog message framed with RFC 5425 octet
 * counting ("LEN SP MSG"), and the bounded queue of framed lines with its
 * drop accounting. No I/O and no clock (the time is passed in), so that the
 * unit tests check the exact bytes; the service is log_drain.c. */
#ifndef PGQ_LOG_DRAIN_MSG_H
#define PGQ_LOG_DRAIN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log_line.h"

/* ---- the URL ------------------------------------------------------------- */

#define DRAIN_HOST_MAX 256
#define DRAIN_URL_MAX 320

enum { DRAIN_TLS = 0, DRAIN_TCP };

struct drain_url
{
    int scheme;                /* DRAIN_TLS (syslog+tls://) or DRAIN_TCP (syslog+tcp://) */
    char host[DRAIN_HOST_MAX]; /* a name, an IPv4 address, or an IPv6 one without [] */
    uint16_t port;
};

/* "syslog+tls://HOST:PORT" or "syslog+tcp://HOST:PORT" (HOST may be
 * [IPv6]). 0, or PGQ_INVALID with one line in why naming what is wrong
 * ("no port", "not syslog+tls://..."). */
int drain_url_parse(const char *s, struct drain_url *u, char *why, size_t whysize);

/* ---- facilities ---------------------------------------------------------- */

#define DRAIN_FACILITY_DAEMON 3

/* "daemon" -> 3, "local0" -> 16, ...: 0, or PGQ_INVALID. */
int drain_facility_parse(const char *name, int *code);
/* The name of a code drain_facility_parse accepts ("daemon"), else "?". */
const char *drain_facility_name(int code);
/* The accepted names, comma-separated (for errors and docs). */
const char *drain_facility_names(void);

/* ---- one message --------------------------------------------------------- */

/* Room for a message with the longest fields and a LOG_MSG_MAX message,
 * and for its frame. */
#define DRAIN_MSG_MAX (LOG_MSG_MAX + 1024)
#define DRAIN_FRAME_MAX (DRAIN_MSG_MAX + 8)

/* The header fields that do not change from line to line. */
struct drain_origin
{
    int facility;         /* 0..23 */
    const char *hostname; /* gethostname(); "" -> "-" */
    const char *app_name; /* "pgquorumd" */
    long procid;          /* getpid() */
    const char *msgid;    /* "monitor" or "node" */
    const char *sd;       /* STRUCTURED-DATA from drain_sd(), or "-" */
};

/* STRUCTURED-DATA naming the daemon: [pgquorum@32473 role="monitor" id="1"]
 * for a monitor, [pgquorum@32473 role="node" cluster="main" node="pg1"]
 * for a node agent (cluster, node NULL for a monitor). Values are escaped
 * (", \ and ]). */
void drain_sd(char *out,
              size_t size,
              const char *role,
              uint64_t id,
              const char *cluster,
              const char *node);

/* RFC 5424 severity of a log level: ERROR 3 (err), WARN 4 (warning), INFO 6
 * (info), DEBUG 7 (debug); out of range is clamped. */
int drain_severity(int level);

/* One RFC 5424 message:
 * "<PRI>1 2024-05-01T12:34:56.789012Z HOST APP PROCID MSGID SD MSG"
 * (TIMESTAMP in UTC with microseconds, from wall_us). Header fields are
 * printable US-ASCII (other bytes become '_', empty ones "-", each cut to
 * its RFC limit); MSG is UTF-8 without a BOM (bytes that are not UTF-8
 * become '?'). Returns the length, or 0 (out empty) when it does not fit. */
size_t drain_format(char *out,
                    size_t size,
                    const struct drain_origin *o,
                    int level,
                    uint64_t wall_us,
                    const char *msg);

/* RFC 5425 octet counting: "LEN SP" then the len bytes of msg. Returns the
 * frame's length, or 0 when it does not fit in size. */
size_t drain_frame(char *out, size_t size, const char *msg, size_t len);

/* drain_format then drain_frame, into out (at least DRAIN_FRAME_MAX). */
size_t drain_format_frame(char *out,
                          size_t size,
                          const struct drain_origin *o,
                          int level,
                          uint64_t wall_us,
                          const char *msg);

/* ---- the queue ----------------------------------------------------------- */

struct drain_item;

/* At most cap framed lines, oldest first. When it is full, a new line
 * pushes out the oldest one: the lines nearest to the outage are the ones
 * kept. Every line lost is counted (dropped: since the last report;
 * dropped_total: since start). */
struct drain_queue
{
    struct drain_item **ring; /* owned, cap slots */
    size_t cap;
    size_t head;  /* the oldest line */
    size_t count; /* lines queued */
    size_t bytes; /* their frames' bytes */
    uint64_t dropped;
    uint64_t dropped_total;
};

/* 0, or PGQ_NOMEM. cap >= 1. */
int drain_queue_init(struct drain_queue *q, size_t cap);
void drain_queue_close(struct drain_queue *q);

/* Append one frame (copied). Full: the oldest line is dropped first. Out
 * of memory: this line is dropped. Either way counted. */
void drain_queue_push(struct drain_queue *q, const char *frame, size_t len);

/* Move whole frames, oldest first, into buf while they fit in size; return
 * the bytes written and in *n_lines how many frames. */
size_t drain_queue_take(struct drain_queue *q, char *buf, size_t size, size_t *n_lines);

/* Lines lost elsewhere (a batch in flight when the connection broke):
 * counted as dropped. */
void drain_queue_count_lost(struct drain_queue *q, uint64_t n);

/* The lines dropped since the last call (for the report line); resets it. */
uint64_t drain_queue_take_dropped(struct drain_queue *q);

/* ---- what /metrics shows ------------------------------------------------- */

struct log_drain_stats
{
    bool configured;        /* a drain runs: the families are written */
    bool connected;         /* the collector's connection is open */
    uint64_t queued;        /* lines waiting */
    uint64_t dropped_total; /* lines lost since start */
};

#endif /* PGQ_LOG_DRAIN_MSG_H */
