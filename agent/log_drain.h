/* log_drain: every log line the daemon writes, also sent to a syslog
 * collector as an RFC 5424 message with RFC 5425 octet counting over TLS
 * (`log_drain = syslog+tls://HOST:PORT`), or plain TCP (syslog+tcp://).
 * One per process, like the log itself: log.c hands it each line through
 * its sink.
 *
 * The happy path is: log_drain_start() once the loop exists (lines logged
 * before go only to the local log); each line is formatted and queued at
 * once, and written to the collector as soon as the connection is open;
 * log_drain_stop() when the daemon stops: what is queued is sent within
 * one second, then close_notify and close (lines logged after go only to
 * the local log).
 *
 * Possible failure modes are: a collector that cannot be resolved, refuses
 * the connection, is not TLS, or whose certificate does not chain to the
 * CA (one local line per outage, or when the reason changes; reconnects
 * after 1 s, doubling to 30 s); a collector that stops reading (a write
 * not done within 30 s closes the connection); a queue that is full (the
 * oldest line is dropped and counted; one local line a minute at most).
 * When the connection is back, the first line sent reports how many lines
 * were dropped. Nothing here blocks the loop, and nothing it says about
 * itself goes to the drain (log_local). */
#ifndef PGQ_LOG_DRAIN_H
#define PGQ_LOG_DRAIN_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "log_drain_msg.h"

/* The TLS files the drain connects with: ca_file verifies the collector
 * (required for syslog+tls); cert_file and key_file, if set, are this
 * daemon's certificate for a collector that asks for one. */
struct log_drain_tls
{
    const char *ca_file;
    const char *ca_key;    /* the key that named ca_file, for errors ("log_drain_ca") */
    const char *cert_file; /* NULL or "": none */
    const char *key_file;
};

/* Start with c's log_drain keys (c->log_drain "": nothing is started, 0).
 * 0, or a PGQ_ code with one line in errmsg (nothing started). */
int log_drain_start(uv_loop_t *loop,
                    const struct config *c,
                    const struct log_drain_tls *tls,
                    char *errmsg,
                    size_t errsize);

/* Flush for up to a second, then close every handle (the loop ends once
 * they are). Idempotent; nothing when it was not started. */
void log_drain_stop(void);

/* The connection's state machine as Markdown (--print-state-machines). */
void log_drain_print_table(void (*emit)(void *arg, const char *line), void *arg);

/* For /metrics. */
void log_drain_stats(struct log_drain_stats *out);

#endif /* PGQ_LOG_DRAIN_H */
