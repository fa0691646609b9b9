/* Small string and number helpers. */
#include "lib/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgquorum/pgquorum.h"

size_t pgq_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

void pgq_appendf(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strnlen(buf, size);
    va_list ap;
    if (len + 1 >= size) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

bool pgq_name_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0) {
            return true;
        }
        p += n + (p[n] == ',' ? 1 : 0);
    }
    return false;
}

bool pgq_name_valid(const char *name)
{
    size_t n = 0;
    if (name == NULL || !isalnum((unsigned char)name[0])) {
        return false;
    }
    for (; name[n] != '\0'; n++) {
        unsigned char c = (unsigned char)name[n];
        if (n >= PGQ_NAME_MAX - 1) {
            return false;
        }
        if (!isalnum(c) && c != '_' && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

int pgq_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long p;
    size_t hlen;
    if (colon == NULL || colon == s) {
        return PGQ_INVALID;
    }
    hlen = (size_t)(colon - s);
    if (hlen >= host_size) {
        return PGQ_TOOBIG;
    }
    if (colon[1] == '\0' || !isdigit((unsigned char)colon[1])) {
        return PGQ_INVALID;
    }
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535) {
        return PGQ_INVALID;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    for (size_t i = 0; i < hlen; i++) {
        if (isspace((unsigned char)host[i])) {
            return PGQ_INVALID;
        }
    }
    *port = (uint16_t)p;
    return 0;
}

bool pgq_is_ipv4(const char *s)
{
    int parts = 0;
    while (parts < 4) {
        unsigned v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*s)) {
            v = v * 10 + (unsigned)(*s - '0');
            s++;
            if (++digits > 3) {
                return false;
            }
        }
        if (digits == 0 || v > 255) {
            return false;
        }
        parts++;
        if (parts < 4) {
            if (*s != '.') {
                return false;
            }
            s++;
        }
    }
    return *s == '\0';
}

void pgq_lsn_format(uint64_t lsn, char *out, size_t size)
{
    snprintf(out, size, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

int pgq_lsn_parse(const char *s, uint64_t *lsn)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    size_t len1, len2;
    unsigned long long hi, lo;
    /* As PostgreSQL's pg_lsn_in: 1..8 hex digits, '/', 1..8 hex digits.
     * strtoull alone would also take blanks, signs and "0x". */
    if (s == NULL) {
        return PGQ_INVALID;
    }
    len1 = strspn(s, hex);
    if (len1 < 1 || len1 > 8 || s[len1] != '/') {
        return PGQ_INVALID;
    }
    len2 = strspn(s + len1 + 1, hex);
    if (len2 < 1 || len2 > 8 || s[len1 + 1 + len2] != '\0') {
        return PGQ_INVALID;
    }
    hi = strtoull(s, NULL, 16);
    lo = strtoull(s + len1 + 1, NULL, 16);
    *lsn = ((uint64_t)hi << 32) | (uint64_t)lo;
    return 0;
}

void pgq_duration_format(uint64_t ms, char *out, size_t size)
{
    if (ms < 1000) {
        snprintf(out, size, "%" PRIu64 " ms", ms);
    } else if (ms < 60000) {
        snprintf(out, size, "%" PRIu64 ".%" PRIu64 " s", ms / 1000, (ms % 1000) / 100);
    } else if (ms < 3600000) {
        snprintf(out, size, "%" PRIu64 " m %" PRIu64 " s", ms / 60000, (ms % 60000) / 1000);
    } else {
        snprintf(out, size, "%" PRIu64 " h %" PRIu64 " m", ms / 3600000, (ms % 3600000) / 60000);
    }
}

void pgq_one_line(char *s)
{
    for (; *s != '\0'; s++) {
        if (iscntrl((unsigned char)*s)) {
            *s = '?';
        }
    }
}

uint64_t pgq_fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h != 0 ? h : 1;
}

void pgq_sm_print(const char *title,
                  const char *const *names,
                  const struct pgq_sm_row *rows,
                  unsigned n,
                  void (*emit)(void *arg, const char *line),
                  void *arg)
{
    char line[768];
    snprintf(line, sizeof line, "| %s | may become | meaning |", title);
    emit(arg, line);
    emit(arg, "|---|---|---|");
    for (unsigned p = 0; p < n; p++) {
        char next[192] = "";
        for (unsigned q = 0; q < n; q++) {
            if (rows[p].next & (1u << q)) {
                pgq_appendf(next, sizeof next, "%s%s", next[0] ? ", " : "", names[q]);
            }
        }
        snprintf(line, sizeof line, "| %s | %s | %s |", names[p], next, rows[p].doc);
        emit(arg, line);
    }
}
