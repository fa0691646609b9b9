/* Logging: one line per event, with UTC time, level and the monitor's id,
 * on standard error (log_format plain or json) or to syslog, and to the
 * sink, the log drain, when one is set (log_drain.h). Messages are made
 * one-line (control characters replaced). */
#ifndef PGQ_LOG_H
#define PGQ_LOG_H

#include <stdint.h>

#include "config.h"
#include "lib/util.h"

void log_init(const char *prog, uint64_t id, int level);
void log_set_level(int level);
/* LOG_FORMAT_PLAIN (the default), LOG_FORMAT_JSON or LOG_FORMAT_SYSLOG; may
 * change at any time (a reload). */
void log_set_format(int format);
/* A node agent's name, for the "node" field of JSON lines. */
void log_set_node(const char *node);
void log_msg(int level, const char *fmt, ...) PGQ_PRINTF(2, 3);
/* The same line, but only to the local log (standard error or syslog),
 * never to the sink: what the log drain says about itself. */
void log_local(int level, const char *fmt, ...) PGQ_PRINTF(2, 3);

/* A second destination of every line that passes the level (the log
 * drain): fn gets the level, the wall clock in microseconds and the
 * one-line message, after the local line is written. A line logged from
 * inside fn goes only to the local log: the sink never recurses. NULL:
 * none. */
typedef void (*log_sink_fn)(void *arg, int level, uint64_t wall_us, const char *msg);
void log_set_sink(log_sink_fn fn, void *arg);

#define log_error(...) log_msg(LOG_ERROR_LEVEL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN_LEVEL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO_LEVEL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG_LEVEL, __VA_ARGS__)

#endif /* PGQ_LOG_H */
