/* Logging (see log.h): the level filter, then the line in the configured
 * format (log_line.c builds it) to standard error or to syslog, then to
 * the sink (the log drain) if one is set. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "clock.h"
#include "log_line.h"

static const char *log_prog = "pgquorumd";
static uint64_t log_id;
static char log_node[PGQ_NAME_MAX];
static int log_level = LOG_INFO_LEVEL;
static int log_format = LOG_FORMAT_PLAIN;
static log_sink_fn log_sink;
static void *log_sink_arg;
static bool log_in_sink; /* inside log_sink: lines go to the local log only */

void log_init(const char *prog, uint64_t id, int level)
{
    log_prog = prog;
    log_id = id;
    log_level = level;
}

void log_set_level(int level)
{
    log_level = level;
}

void log_set_node(const char *node)
{
    pgq_strlcpy(log_node, node, sizeof log_node);
}

void log_set_format(int format)
{
    if (format == log_format) {
        return;
    }
    if (log_format == LOG_FORMAT_SYSLOG) {
        closelog();
    }
    if (format == LOG_FORMAT_SYSLOG) {
        /* The ident is the program, as journald and rsyslog filters expect;
         * LOG_NDELAY: a full /dev/log shows at the switch, not later. */
        openlog("pgquorumd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
    log_format = format;
}

void log_set_sink(log_sink_fn fn, void *arg)
{
    log_sink = fn;
    log_sink_arg = arg;
}

static void write_local(int level, uint64_t wall_us, const char *msg)
{
    static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char line[LOG_LINE_MAX];
    switch (log_format) {
        case LOG_FORMAT_SYSLOG:
            /* syslog stamps and names the line itself. */
            syslog(priorities[level < 0 ? 0 : PGQ_MIN(level, LOG_DEBUG_LEVEL)], "%s", msg);
            return;
        case LOG_FORMAT_JSON:
            if (log_line_json(line, sizeof line, wall_us / 1000, log_prog, log_id, log_node, level,
                              msg) == 0) {
                break;
            }
            /* Out of memory: the plain line still says what happened. */
            /* fall through */
        default:
            log_line_plain(line, sizeof line, wall_us / 1000, log_prog, log_id, level, msg);
            break;
    }
    fprintf(stderr, "%s\n", line);
}

static void log_va(int level, bool to_sink, const char *fmt, va_list ap) PGQ_PRINTF(3, 0);
static void log_va(int level, bool to_sink, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    uint64_t wall_us;
    if (level > log_level) {
        return;
    }
    vsnprintf(msg, sizeof msg, fmt, ap);
    pgq_one_line(msg);
    wall_us = clock_wall_us();
    write_local(level, wall_us, msg);
    if (to_sink && log_sink != NULL && !log_in_sink) {
        log_in_sink = true;
        log_sink(log_sink_arg, level, wall_us, msg);
        log_in_sink = false;
    }
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(level, true, fmt, ap);
    va_end(ap);
}

void log_local(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(level, false, fmt, ap);
    va_end(ap);
}
