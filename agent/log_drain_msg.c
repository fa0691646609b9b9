/* The log drain's pure parts (see log_drain_msg.h): URL, facilities, the
 * RFC 5424 message and its RFC 5425 frame, the bounded queue. */
#include "log_drain_msg.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "lib/util.h"
#include "pgquorum/pgquorum.h"

/* ---- the URL ------------------------------------------------------------- */

static const struct
{
    const char *prefix;
    int scheme;
} schemes[] = {
    {"syslog+tls://", DRAIN_TLS},
    {"syslog+tcp://", DRAIN_TCP},
};

/* HOST:PORT after the scheme: host a name, IPv4, or [IPv6]. */
static int parse_authority(const char *s, struct drain_url *u, char *why, size_t whysize)
{
    const char *host = s, *colon;
    size_t hlen;
    char *end;
    unsigned long port;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            snprintf(why, whysize, "unterminated [ in the host");
            return PGQ_INVALID;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (colon == NULL && close[1] != '\0') {
            snprintf(why, whysize, "expected :PORT after [%.*s]", (int)PGQ_MIN(hlen, 64), host);
            return PGQ_INVALID;
        }
    } else {
        colon = strchr(s, ':');
        hlen = colon != NULL ? (size_t)(colon - s) : strcspn(s, "/");
    }
    if (hlen == 0) {
        snprintf(why, whysize, "no host");
        return PGQ_INVALID;
    }
    if (hlen >= sizeof u->host) {
        snprintf(why, whysize, "host longer than %zu bytes", sizeof u->host - 1);
        return PGQ_INVALID;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_' && ch != ':') {
            snprintf(why, whysize, "host \"%.*s\" has a character that is not allowed",
                     (int)PGQ_MIN(hlen, 64), host);
            return PGQ_INVALID;
        }
    }
    if (colon == NULL) {
        snprintf(why, whysize, "no port (HOST:PORT; 6514 is the usual one for syslog over TLS)");
        return PGQ_INVALID;
    }
    if (!isdigit((unsigned char)colon[1])) {
        snprintf(why, whysize, "the port is not a number");
        return PGQ_INVALID;
    }
    port = strtoul(colon + 1, &end, 10);
    if (*end == '/' || *end == '?') {
        snprintf(why, whysize, "a path or query after the port (only HOST:PORT)");
        return PGQ_INVALID;
    }
    if (*end != '\0') {
        snprintf(why, whysize, "the port is not a number");
        return PGQ_INVALID;
    }
    if (port == 0 || port > 65535) {
        snprintf(why, whysize, "port %lu is out of range 1..65535", port);
        return PGQ_INVALID;
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    u->port = (uint16_t)port;
    return 0;
}

int drain_url_parse(const char *s, struct drain_url *u, char *why, size_t whysize)
{
    char inner[160];
    memset(u, 0, sizeof *u);
    if (strlen(s) >= DRAIN_URL_MAX) {
        snprintf(why, whysize, "longer than %d bytes", DRAIN_URL_MAX - 1);
        return PGQ_INVALID;
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(schemes); i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(s, schemes[i].prefix, n) == 0) {
            u->scheme = schemes[i].scheme;
            if (parse_authority(s + n, u, inner, sizeof inner) != 0) {
                snprintf(why, whysize, "\"%.64s\": %s", s, inner);
                return PGQ_INVALID;
            }
            return 0;
        }
    }
    snprintf(why, whysize,
             "\"%.64s\" is not syslog+tls://HOST:PORT (or syslog+tcp://HOST:PORT, without TLS)", s);
    return PGQ_INVALID;
}

/* ---- facilities ---------------------------------------------------------- */

/* RFC 5424 section 6.2.1, the codes syslog(3) names. */
static const char *const facility_names[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    NULL,     NULL,     NULL,     NULL,
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

int drain_facility_parse(const char *name, int *code)
{
    for (int i = 0; i < (int)PGQ_ARRAY_SIZE(facility_names); i++) {
        if (facility_names[i] != NULL && strcmp(name, facility_names[i]) == 0) {
            *code = i;
            return 0;
        }
    }
    return PGQ_INVALID;
}

const char *drain_facility_name(int code)
{
    if (code < 0 || code >= (int)PGQ_ARRAY_SIZE(facility_names) || facility_names[code] == NULL) {
        return "?";
    }
    return facility_names[code];
}

const char *drain_facility_names(void)
{
    return "kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, "
           "local0..local7";
}

/* ---- one message --------------------------------------------------------- */

/* The private enterprise number of RFC 5612, reserved for documentation
 * and examples: the SD-ID stays "pgquorum@32473" until one is assigned. */
#define DRAIN_SD_ID "pgquorum@32473"

static void sd_param(char *out, size_t size, const char *name, const char *value)
{
    pgq_appendf(out, size, " %s=\"", name);
    for (const char *p = value; *p != '\0'; p++) {
        /* RFC 5424 6.3.3: ", \ and ] are escaped in a PARAM-VALUE. */
        if (*p == '"' || *p == '\\' || *p == ']') {
            pgq_appendf(out, size, "\\%c", *p);
        } else {
            pgq_appendf(out, size, "%c", *p);
        }
    }
    pgq_appendf(out, size, "\"");
}

void drain_sd(char *out,
              size_t size,
              const char *role,
              uint64_t id,
              const char *cluster,
              const char *node)
{
    char num[24];
    snprintf(out, size, "[%s", DRAIN_SD_ID);
    sd_param(out, size, "role", role);
    if (node != NULL) {
        sd_param(out, size, "cluster", cluster != NULL ? cluster : "");
        sd_param(out, size, "node", node);
    } else {
        snprintf(num, sizeof num, "%" PRIu64, id);
        sd_param(out, size, "id", num);
    }
    pgq_appendf(out, size, "]");
}

int drain_severity(int level)
{
    static const int severities[] = {3, 4, 6, 7};
    return severities[level < LOG_ERROR_LEVEL ? 0 : PGQ_MIN(level, LOG_DEBUG_LEVEL)];
}

/* A header field: PRINTUSASCII (33..126) cut to max, "-" when empty. */
static void header_field(char *out, size_t size, const char *s, size_t max)
{
    size_t n = 0;
    for (; s != NULL && s[n] != '\0' && n < max && n + 1 < size; n++) {
        unsigned char ch = (unsigned char)s[n];
        out[n] = ch >= 33 && ch <= 126 ? (char)ch : '_';
    }
    if (n == 0 && size > 1) {
        out[n++] = '-';
    }
    out[n] = '\0';
}

/* The length of the UTF-8 sequence at p (1..4), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *p)
{
    size_t n;
    uint32_t cp;
    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

size_t drain_format(char *out,
                    size_t size,
                    const struct drain_origin *o,
                    int level,
                    uint64_t wall_us,
                    const char *msg)
{
    char host[256], app[49], procid[24], msgid[33], ts[40];
    time_t secs = (time_t)(wall_us / 1000000);
    struct tm tm;
    int n;
    size_t len;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    /* RFC 5424 6.2: HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32. */
    header_field(host, sizeof host, o->hostname, 255);
    header_field(app, sizeof app, o->app_name, 48);
    snprintf(procid, sizeof procid, "%ld", o->procid);
    header_field(msgid, sizeof msgid, o->msgid, 32);
    n = snprintf(out, size, "<%d>1 %s.%06uZ %s %s %s %s %s ",
                 o->facility * 8 + drain_severity(level), ts, (unsigned)(wall_us % 1000000), host,
                 app, procid, msgid, o->sd != NULL && o->sd[0] != '\0' ? o->sd : "-");
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return 0;
    }
    len = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0';) {
        size_t k = utf8_seq(p);
        if (len + PGQ_MAX(k, 1) >= size) {
            out[0] = '\0';
            return 0;
        }
        if (k == 0) {
            out[len++] = '?';
            p++;
            continue;
        }
        memcpy(out + len, p, k);
        len += k;
        p += k;
    }
    out[len] = '\0';
    return len;
}

size_t drain_frame(char *out, size_t size, const char *msg, size_t len)
{
    int n = snprintf(out, size, "%zu ", len);
    if (n < 0 || (size_t)n + len > size) {
        return 0;
    }
    memmove(out + n, msg, len);
    return (size_t)n + len;
}

size_t drain_format_frame(char *out,
                          size_t size,
                          const struct drain_origin *o,
                          int level,
                          uint64_t wall_us,
                          const char *msg)
{
    char m[DRAIN_MSG_MAX];
    size_t len = drain_format(m, sizeof m, o, level, wall_us, msg);
    return len == 0 ? 0 : drain_frame(out, size, m, len);
}

/* ---- the queue ----------------------------------------------------------- */

struct drain_item
{
    size_t len;
    char data[];
};

int drain_queue_init(struct drain_queue *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->ring = calloc(cap, sizeof *q->ring);
    if (q->ring == NULL) {
        return PGQ_NOMEM;
    }
    q->cap = cap;
    return 0;
}

static struct drain_item *pop(struct drain_queue *q)
{
    struct drain_item *it = q->ring[q->head];
    q->ring[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= it->len;
    return it;
}

void drain_queue_close(struct drain_queue *q)
{
    while (q->count > 0) {
        free(pop(q));
    }
    free(q->ring);
    q->ring = NULL;
}

void drain_queue_count_lost(struct drain_queue *q, uint64_t n)
{
    q->dropped += n;
    q->dropped_total += n;
}

void drain_queue_push(struct drain_queue *q, const char *frame, size_t len)
{
    struct drain_item *it;
    if (q->count == q->cap) {
        free(pop(q));
        drain_queue_count_lost(q, 1);
    }
    it = malloc(sizeof *it + len);
    if (it == NULL) {
        drain_queue_count_lost(q, 1);
        return;
    }
    it->len = len;
    memcpy(it->data, frame, len);
    q->ring[(q->head + q->count) % q->cap] = it;
    q->count++;
    q->bytes += len;
}

size_t drain_queue_take(struct drain_queue *q, char *buf, size_t size, size_t *n_lines)
{
    size_t used = 0;
    *n_lines = 0;
    while (q->count > 0 && q->ring[q->head]->len <= size - used) {
        struct drain_item *it = pop(q);
        memcpy(buf + used, it->data, it->len);
        used += it->len;
        (*n_lines)++;
        free(it);
    }
    return used;
}

uint64_t drain_queue_take_dropped(struct drain_queue *q)
{
    uint64_t n = q->dropped;
    q->dropped = 0;
    return n;
}
