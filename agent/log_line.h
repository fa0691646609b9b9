/* Log lines, built from their parts: the plain line on standard error and
 * the JSON object of log_format = json. Pure (the time is passed in), so
 * that the unit tests check the exact text. */
#ifndef PGQ_LOG_LINE_H
#define PGQ_LOG_LINE_H

#include <stddef.h>
#include <stdint.h>

/* Room for any line built from a message of up to LOG_MSG_MAX - 1 bytes:
 * JSON escapes a control byte in 6. */
#define LOG_MSG_MAX 1024
#define LOG_LINE_MAX (6 * LOG_MSG_MAX + 512)

/* "ERROR", "WARN", "INFO", "DEBUG" (levels out of range are clamped). */
const char *log_level_name(int level);

/* "2024-05-01T12:00:00.123Z pgquorumd[1] INFO: msg" (no newline). */
void log_line_plain(char *out,
                    size_t size,
                    uint64_t wall_ms,
                    const char *prog,
                    uint64_t id,
                    int level,
                    const char *msg);

/* {"ts":"2024-05-01T12:00:00.123Z","level":"info","prog":"pgquorumd","id":1,
 * "node":"pg1","msg":"..."} on one line, no newline; "node" only when node
 * is not empty (a node agent). Returns 0, or PGQ_NOMEM (out left empty) when
 * jansson cannot allocate or the line does not fit in size. */
int log_line_json(char *out,
                  size_t size,
                  uint64_t wall_ms,
                  const char *prog,
                  uint64_t id,
                  const char *node,
                  int level,
                  const char *msg);

#endif /* PGQ_LOG_LINE_H */
