/* Logging (see log.h). */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "pgquorumd";
static uint64_t log_id;
static int log_level = LOG_INFO_LEVEL;

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

void log_msg(int level, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char msg[1024];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    if (level > log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pgq_one_line(msg);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s[%" PRIu64 "] %s: %s\n", stamp, ts.tv_nsec / 1000000, log_prog,
            log_id,
            names[level < 0   ? 0
                  : level > 3 ? 3
                              : level],
            msg);
}
