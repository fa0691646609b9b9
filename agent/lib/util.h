/* Small string and number helpers shared by the core and the services. No
 * I/O, no allocation. */
#ifndef PGQ_UTIL_H
#define PGQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PGQ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PGQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PGQ_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define PGQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PGQ_PRINTF(f, a)
#endif

/* Copy at most size-1 bytes and terminate; returns strlen(src), so that a
 * result >= size means the copy was truncated. */
size_t pgq_strlcpy(char *dst, const char *src, size_t size);

/* Append to a NUL-terminated buffer, truncating silently. */
void pgq_appendf(char *buf, size_t size, const char *fmt, ...) PGQ_PRINTF(3, 4);

/* Names of nodes and clusters: 1..63 of [A-Za-z0-9_.-], first alphanumeric. */
bool pgq_name_valid(const char *name);

/* The comma-separated list holds name as one of its items. */
bool pgq_name_listed(const char *list, const char *name);

/* "host:port" with a non-empty host and a port in 1..65535. */
int pgq_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port);

/* True when s is a dotted-quad IPv4 address. */
bool pgq_is_ipv4(const char *s);

/* PostgreSQL LSN text "X/Y" <-> integer. */
void pgq_lsn_format(uint64_t lsn, char *out, size_t size);
int pgq_lsn_parse(const char *s, uint64_t *lsn);

/* "1.5 s", "250 ms", "3 m 20 s": for people. */
void pgq_duration_format(uint64_t ms, char *out, size_t size);

/* Replace control characters (newlines included) by '?', so that text from
 * the world fits on one log line. */
void pgq_one_line(char *s);

/* One row of a state machine's table: the states it may move to (a bit per
 * state) and what it means. */
struct pgq_sm_row
{
    unsigned next;
    const char *doc;
};

/* Print a state machine's table as Markdown (`| title | may become |
 * meaning |`), the names of its n states in `names`. */
void pgq_sm_print(const char *title,
                  const char *const *names,
                  const struct pgq_sm_row *rows,
                  unsigned n,
                  void (*emit)(void *arg, const char *line),
                  void *arg);

/* 64-bit FNV-1a of a string (never 0: 0 means "none" where it is stored). */
uint64_t pgq_fnv1a(const char *s);

#endif /* PGQ_UTIL_H */
