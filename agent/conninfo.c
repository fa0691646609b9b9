/* A libpq connection string, read without libpq (see conninfo.h). Every
 * keyword libpq knows is accepted and only the ones the core needs are kept;
 * any other keyword is an error here, as it is in libpq, so that a typo (or
 * PASSWORD=) is refused at node add, not found later as a node that is down. */
#include "conninfo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static void set_error(char *errmsg, size_t errsize, const char *msg)
{
    if (errmsg != NULL && errsize > 0) {
        pgq_strlcpy(errmsg, msg, errsize);
    }
}

/* libpq's connection keywords (PQconninfoOptions in fe-connect.c) of
 * PostgreSQL 15, the libpq the monitors connect with: a keyword it does not
 * know would make every probe fail. libpq compares them case-sensitively,
 * and so do we. */
static const char *const keywords[] = {
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "service",
    "target_session_attrs",
};

static bool same_but_case(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) {
            return false;
        }
    }
    return *a == *b;
}

static bool known_keyword(const char *key)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(keywords); i++) {
        if (strcmp(key, keywords[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* PGQ_INVALID and one line naming an unknown keyword, with the keyword it
 * differs from only by case, if any. */
static int unknown_keyword(const char *key, char *errmsg, size_t errsize)
{
    const char *near = NULL;
    char shown[64];
    char msg[192];
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(keywords); i++) {
        if (same_but_case(key, keywords[i])) {
            near = keywords[i];
        }
    }
    pgq_strlcpy(shown, key, sizeof shown);
    pgq_one_line(shown);
    if (near != NULL) {
        snprintf(msg, sizeof msg,
                 "conninfo: unknown connection option \"%s\" (keywords are case-sensitive: "
                 "did you mean \"%s\"?)",
                 shown, near);
    } else {
        snprintf(msg, sizeof msg, "conninfo: unknown connection option \"%s\"", shown);
    }
    set_error(errmsg, errsize, msg);
    return PGQ_INVALID;
}

/* What libpq takes for a connection string where a dbname may be one. */
static bool is_connection_string(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 ||
           strchr(s, '=') != NULL;
}

/* Check one key/value pair and remember it if the core needs it. */
static int keep(struct conninfo *ci,
                const char *key,
                const char *value,
                char *errmsg,
                size_t errsize)
{
    char *dst = NULL;
    size_t size = 0;
    if (!known_keyword(key)) {
        if (!ci->has_unknown) {
            ci->has_unknown = true;
            pgq_strlcpy(ci->unknown, key, sizeof ci->unknown);
        }
        return 0;
    }
    if (strcmp(key, "password") == 0 || strcmp(key, "sslpassword") == 0) {
        ci->has_password = true;
        return 0;
    }
    if (strcmp(key, "host") == 0) {
        dst = ci->host, size = sizeof ci->host;
    } else if (strcmp(key, "hostaddr") == 0) {
        dst = ci->hostaddr, size = sizeof ci->hostaddr;
    } else if (strcmp(key, "port") == 0) {
        dst = ci->port, size = sizeof ci->port;
    } else if (strcmp(key, "dbname") == 0) {
        ci->dbname_is_connstr = is_connection_string(value);
        if (ci->dbname_is_connstr) {
            ci->dbname[0] = '\0';
            return 0;
        }
        dst = ci->dbname, size = sizeof ci->dbname;
    } else if (strcmp(key, "user") == 0) {
        dst = ci->user, size = sizeof ci->user;
    } else {
        return 0;
    }
    if (pgq_strlcpy(dst, value, size) >= size) {
        char msg[128];
        snprintf(msg, sizeof msg, "conninfo: value of \"%s\" is too long", key);
        set_error(errmsg, errsize, msg);
        return PGQ_INVALID;
    }
    return 0;
}

static int parse_kv(const char *s, struct conninfo *ci, char *errmsg, size_t errsize)
{
    char key[64];
    char value[PGQ_CONNINFO_MAX];
    while (*s != '\0') {
        size_t k = 0, v = 0;
        int rv;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        while (*s != '\0' && *s != '=' && !isspace((unsigned char)*s)) {
            if (k + 1 >= sizeof key) {
                set_error(errmsg, errsize, "conninfo: keyword too long");
                return PGQ_INVALID;
            }
            key[k++] = *s++;
        }
        key[k] = '\0';
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s != '=' || k == 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "conninfo: missing \"=\" after \"%.40s\"", key);
            set_error(errmsg, errsize, msg);
            return PGQ_INVALID;
        }
        s++;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '\'') {
            s++;
            for (;;) {
                if (*s == '\0') {
                    set_error(errmsg, errsize, "conninfo: unterminated quoted string");
                    return PGQ_INVALID;
                }
                if (*s == '\'') {
                    s++;
                    break;
                }
                if (*s == '\\' && s[1] != '\0') {
                    s++;
                }
                if (v + 1 >= sizeof value) {
                    set_error(errmsg, errsize, "conninfo: value too long");
                    return PGQ_INVALID;
                }
                value[v++] = *s++;
            }
        } else {
            while (*s != '\0' && !isspace((unsigned char)*s)) {
                if (*s == '\\' && s[1] != '\0') {
                    s++;
                }
                if (v + 1 >= sizeof value) {
                    set_error(errmsg, errsize, "conninfo: value too long");
                    return PGQ_INVALID;
                }
                value[v++] = *s++;
            }
        }
        value[v] = '\0';
        rv = keep(ci, key, value, errmsg, errsize);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Copy [from, to) percent-decoded into out. */
static int decode(const char *from, const char *to, char *out, size_t size)
{
    size_t n = 0;
    while (from < to) {
        int c = (unsigned char)*from++;
        if (c == '%') {
            int hi, lo;
            if (to - from < 2 || (hi = hexval(from[0])) < 0 || (lo = hexval(from[1])) < 0) {
                return PGQ_INVALID;
            }
            c = hi * 16 + lo;
            from += 2;
        }
        if (n + 1 >= size || c == 0) {
            return PGQ_INVALID;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static int parse_uri(const char *s, struct conninfo *ci, char *errmsg, size_t errsize)
{
    const char *p = strstr(s, "://") + 3;
    const char *end_authority = p + strcspn(p, "/?");
    const char *at = memchr(p, '@', (size_t)(end_authority - p));
    const char *hp, *colon;
    char buf[PGQ_CONNINFO_MAX];
    if (at != NULL) {
        const char *pw = memchr(p, ':', (size_t)(at - p));
        if (pw != NULL) {
            ci->has_password = true;
        }
        if (decode(p, pw != NULL ? pw : at, buf, sizeof buf) != 0 ||
            keep(ci, "user", buf, errmsg, errsize) != 0) {
            set_error(errmsg, errsize, "conninfo: bad user in URI");
            return PGQ_INVALID;
        }
        hp = at + 1;
    } else {
        hp = p;
    }
    if (memchr(hp, ',', (size_t)(end_authority - hp)) != NULL) {
        set_error(errmsg, errsize, "conninfo: a node has one host, not a list");
        return PGQ_INVALID;
    }
    if (*hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(end_authority - hp));
        if (close == NULL) {
            set_error(errmsg, errsize, "conninfo: unterminated [ in URI host");
            return PGQ_INVALID;
        }
        if (decode(hp + 1, close, buf, sizeof buf) != 0 ||
            keep(ci, "host", buf, errmsg, errsize) != 0) {
            set_error(errmsg, errsize, "conninfo: bad host in URI");
            return PGQ_INVALID;
        }
        colon = close + 1 < end_authority && close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(hp, ':', (size_t)(end_authority - hp));
        if (decode(hp, colon != NULL ? colon : end_authority, buf, sizeof buf) != 0 ||
            keep(ci, "host", buf, errmsg, errsize) != 0) {
            set_error(errmsg, errsize, "conninfo: bad host in URI");
            return PGQ_INVALID;
        }
    }
    if (colon != NULL) {
        if (decode(colon + 1, end_authority, buf, sizeof buf) != 0 ||
            keep(ci, "port", buf, errmsg, errsize) != 0) {
            set_error(errmsg, errsize, "conninfo: bad port in URI");
            return PGQ_INVALID;
        }
    }
    p = end_authority;
    if (*p == '/') {
        const char *q = p + 1 + strcspn(p + 1, "?");
        if (decode(p + 1, q, buf, sizeof buf) != 0 ||
            keep(ci, "dbname", buf, errmsg, errsize) != 0) {
            set_error(errmsg, errsize, "conninfo: bad database name in URI");
            return PGQ_INVALID;
        }
        p = q;
    }
    if (*p == '?') {
        p++;
        while (*p != '\0') {
            const char *amp = p + strcspn(p, "&");
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            char key[64];
            if (eq == NULL || decode(p, eq, key, sizeof key) != 0 ||
                decode(eq + 1, amp, buf, sizeof buf) != 0) {
                set_error(errmsg, errsize, "conninfo: bad parameter in URI");
                return PGQ_INVALID;
            }
            /* ssl=true is libpq's JDBC spelling of sslmode=require, in URIs only. */
            if (!(strcmp(key, "ssl") == 0 && strcmp(buf, "true") == 0) &&
                keep(ci, key, buf, errmsg, errsize) != 0) {
                return PGQ_INVALID;
            }
            p = *amp == '&' ? amp + 1 : amp;
        }
    }
    return 0;
}

int conninfo_parse(const char *s, struct conninfo *ci, char *errmsg, size_t errsize)
{
    int rv;
    memset(ci, 0, sizeof *ci);
    if (s == NULL || strlen(s) >= PGQ_CONNINFO_MAX) {
        set_error(errmsg, errsize, "conninfo: missing or longer than 1023 bytes");
        return PGQ_INVALID;
    }
    if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
        rv = parse_uri(s, ci, errmsg, errsize);
    } else {
        rv = parse_kv(s, ci, errmsg, errsize);
    }
    if (rv != 0) {
        return rv;
    }
    if (ci->host[0] == '\0' && ci->hostaddr[0] != '\0') {
        pgq_strlcpy(ci->host, ci->hostaddr, sizeof ci->host);
    }
    if (ci->port[0] == '\0') {
        pgq_strlcpy(ci->port, "5432", sizeof ci->port);
    }
    return 0;
}

int conninfo_check(const char *s, struct conninfo *ci, char *errmsg, size_t errsize)
{
    char *end = NULL;
    int rv = conninfo_parse(s, ci, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (ci->has_password) {
        set_error(errmsg, errsize,
                  "conninfo carries a password: secrets never enter the replicated state; "
                  "give monitors a passfile or a client certificate instead");
        return PGQ_INVALID;
    }
    if (ci->host[0] == '\0') {
        set_error(errmsg, errsize, "conninfo names no host: monitors need host=... (and port=...)");
        return PGQ_INVALID;
    }
    if (strchr(ci->host, ',') != NULL || strchr(ci->port, ',') != NULL) {
        set_error(errmsg, errsize, "conninfo: a node has one host, not a list");
        return PGQ_INVALID;
    }
    {
        long port = strtol(ci->port, &end, 10);
        if (end == ci->port || *end != '\0' || port < 1 || port > 65535) {
            set_error(errmsg, errsize, "conninfo: port must be a number in 1..65535");
            return PGQ_INVALID;
        }
    }
    return 0;
}

int conninfo_validate(const char *s, struct conninfo *ci, char *errmsg, size_t errsize)
{
    int rv = conninfo_parse(s, ci, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (ci->has_unknown) {
        return unknown_keyword(ci->unknown, errmsg, errsize);
    }
    if (ci->dbname_is_connstr) {
        set_error(errmsg, errsize,
                  "conninfo: dbname must be a database name, not a connection string");
        return PGQ_INVALID;
    }
    return conninfo_check(s, ci, errmsg, errsize);
}

bool conninfo_same_address(const char *a, const char *b)
{
    struct conninfo x, y;
    return conninfo_parse(a, &x, NULL, 0) == 0 && conninfo_parse(b, &y, NULL, 0) == 0 &&
           strcmp(x.host, y.host) == 0 && strcmp(x.port, y.port) == 0;
}
