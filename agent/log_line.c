/* Log lines from their parts (see log_line.h). */
#include "log_line.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "lib/util.h"
#include "pgquorum/pgquorum.h"

static int clamp_level(int level)
{
    return level < LOG_ERROR_LEVEL ? LOG_ERROR_LEVEL : PGQ_MIN(level, LOG_DEBUG_LEVEL);
}

const char *log_level_name(int level)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    return names[clamp_level(level)];
}

/* RFC 3339 in UTC with milliseconds, as the plain line always had it. */
static void stamp(char *out, size_t size, uint64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    char s[32];
    gmtime_r(&secs, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03uZ", s, (unsigned)(wall_ms % 1000));
}

void log_line_plain(char *out,
                    size_t size,
                    uint64_t wall_ms,
                    const char *prog,
                    uint64_t id,
                    int level,
                    const char *msg)
{
    char ts[40];
    stamp(ts, sizeof ts, wall_ms);
    snprintf(out, size, "%s %s[%" PRIu64 "] %s: %s", ts, prog, id, log_level_name(level), msg);
}

int log_line_json(char *out,
                  size_t size,
                  uint64_t wall_ms,
                  const char *prog,
                  uint64_t id,
                  const char *node,
                  int level,
                  const char *msg)
{
    /* The names the configuration's log_level takes. */
    static const char *const lower[] = {"error", "warn", "info", "debug"};
    char ts[40];
    json_t *o, *m;
    size_t n;
    stamp(ts, sizeof ts, wall_ms);
    out[0] = '\0';
    o = json_pack("{s:s, s:s, s:s, s:I}", "ts", ts, "level", lower[clamp_level(level)], "prog",
                  prog, "id", (json_int_t)id);
    if (o == NULL) {
        return PGQ_NOMEM;
    }
    if (node != NULL && node[0] != '\0' && json_object_set_new(o, "node", json_string(node)) != 0) {
        json_decref(o);
        return PGQ_NOMEM;
    }
    /* Messages quote the world: text that is not UTF-8 (a server's error
     * in another encoding) keeps its ASCII, its other bytes become '?'. */
    m = json_string(msg);
    if (m == NULL) {
        char ascii[LOG_MSG_MAX];
        pgq_strlcpy(ascii, msg, sizeof ascii);
        for (char *p = ascii; *p != '\0'; p++) {
            if ((unsigned char)*p >= 0x80) {
                *p = '?';
            }
        }
        m = json_string(ascii);
    }
    if (m == NULL || json_object_set_new(o, "msg", m) != 0) {
        json_decref(o);
        return PGQ_NOMEM;
    }
    n = json_dumpb(o, out, size, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (n == 0 || n >= size) {
        out[0] = '\0';
        return PGQ_NOMEM;
    }
    out[n] = '\0';
    return 0;
}
