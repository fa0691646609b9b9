/* Configuration: the INI parser and the cross-key checks (the option table
 * is config_table.c).
 * See config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "conninfo.h"
#include "log_drain_msg.h"
#include "lib/util.h"

#include "config_internal.h"

int config_parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    unsigned long long v;
    uint64_t mult;
    if (!isdigit((unsigned char)*s)) {
        return PGQ_INVALID;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        return PGQ_INVALID; /* strtoull saturates: not the number written */
    }
    if (strcmp(end, "ms") == 0) {
        mult = 1;
    } else if (strcmp(end, "s") == 0) {
        mult = 1000;
    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        mult = 60000;
    } else if (strcmp(end, "h") == 0) {
        mult = 3600000;
    } else {
        return PGQ_INVALID;
    }
    if (v > UINT64_MAX / mult) {
        return PGQ_INVALID;
    }
    *ms = v * mult;
    return 0;
}

int config_parse_size(const char *s, uint64_t *bytes)
{
    static const struct
    {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"kB", 1024},
        {"KB", 1024},
        {"KiB", 1024},
        {"MB", 1024 * 1024},
        {"MiB", 1024 * 1024},
        {"GB", 1024ull * 1024 * 1024},
        {"GiB", 1024ull * 1024 * 1024},
    };
    char *end;
    unsigned long long v;
    if (!isdigit((unsigned char)*s)) {
        return PGQ_INVALID;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE) {
        return PGQ_INVALID;
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mult) {
                return PGQ_INVALID;
            }
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return PGQ_INVALID;
}

static int parse_addr(const char *s, char *out, size_t size, char *why, size_t whysize)
{
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    if (pgq_parse_hostport(s, host, sizeof host, &port) != 0) {
        snprintf(why, whysize, "\"%.64s\" is not host:port", s);
        return PGQ_INVALID;
    }
    if (!pgq_is_ipv4(host)) {
        snprintf(why, whysize, "\"%.64s\" is not an IPv4 address (a.b.c.d:port)", s);
        return PGQ_INVALID;
    }
    if (pgq_strlcpy(out, s, size) >= size) {
        snprintf(why, whysize, "address too long");
        return PGQ_INVALID;
    }
    return 0;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return s;
}

static int parse_peers(const char *s, struct config *c, char *why, size_t whysize)
{
    const char *p = s;
    c->n_peers = 0;
    while (*p != '\0') {
        char buf[PGQ_ADDR_MAX + 32], *item;
        size_t len = strcspn(p, ",");
        char *eq, *end;
        unsigned long long id;
        struct config_peer *peer;
        if (len == 0 || len >= sizeof buf) {
            snprintf(why, whysize, "expected id=host:port[,id=host:port...]");
            return PGQ_INVALID;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        item = trim(buf); /* "1=a:1, 2=b:2" reads as well */
        p += len + (p[len] == ',' ? 1 : 0);
        eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(why, whysize, "\"%.64s\" is not id=host:port", item);
            return PGQ_INVALID;
        }
        *eq = '\0';
        errno = 0;
        id = strtoull(item, &end, 10);
        if (*end != '\0' || id == 0 || !isdigit((unsigned char)item[0])) {
            snprintf(why, whysize, "\"%.32s\" is not a monitor id > 0", item);
            return PGQ_INVALID;
        }
        /* The same range as [monitor] id, or this monitor could never match. */
        if (errno == ERANGE || id > PGQ_MONITOR_ID_MAX) {
            snprintf(why, whysize, "monitor id %.32s is out of range 1..%d", item,
                     PGQ_MONITOR_ID_MAX);
            return PGQ_INVALID;
        }
        if (c->n_peers >= PGQ_MAX_MONITORS) {
            snprintf(why, whysize, "more than %d monitors", PGQ_MAX_MONITORS);
            return PGQ_INVALID;
        }
        peer = &c->peers[c->n_peers];
        peer->id = id;
        if (parse_addr(eq + 1, peer->address, sizeof peer->address, why, whysize) != 0) {
            return PGQ_INVALID;
        }
        for (unsigned i = 0; i < c->n_peers; i++) {
            if (c->peers[i].id == id) {
                snprintf(why, whysize, "monitor id %llu listed twice", id);
                return PGQ_INVALID;
            }
            if (strcmp(c->peers[i].address, peer->address) == 0) {
                snprintf(why, whysize, "address %s listed twice", peer->address);
                return PGQ_INVALID;
            }
        }
        c->n_peers++;
    }
    if (c->n_peers == 0) {
        snprintf(why, whysize, "no monitors listed");
        return PGQ_INVALID;
    }
    return 0;
}

/* Set one option from its text; on failure write the problem to why. */

/* value is one of names (NULL-terminated): its index in *out. */
static int parse_choice(const char *value,
                        const char *const *names,
                        int *out,
                        char *why,
                        size_t whysize)
{
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    snprintf(why, whysize, "\"%.32s\" is not one of ", value);
    for (int i = 0; names[i] != NULL; i++) {
        pgq_appendf(why, whysize, "%s%s", i > 0 ? ", " : "", names[i]);
    }
    return PGQ_INVALID;
}

static int set_option(struct config *c,
                      const struct option *o,
                      const char *value,
                      char *why,
                      size_t whysize)
{
    uint64_t v;
    switch (o->type) {
        case OPT_U64: {
            char *end;
            if (!isdigit((unsigned char)value[0])) {
                snprintf(why, whysize, "\"%.64s\" is not a number", value);
                return PGQ_INVALID;
            }
            v = strtoull(value, &end, 10);
            if (*end != '\0') {
                snprintf(why, whysize, "\"%.64s\" is not a number", value);
                return PGQ_INVALID;
            }
            break;
        }
        case OPT_DURATION:
            if (config_parse_duration(value, &v) != 0) {
                snprintf(why, whysize,
                         "\"%.64s\" is not a duration (use a number and a unit: 500ms, 30s, 2m, "
                         "1h)",
                         value);
                return PGQ_INVALID;
            }
            break;
        case OPT_SIZE:
            if (config_parse_size(value, &v) != 0) {
                snprintf(why, whysize, "\"%.64s\" is not a size (use 1048576, 512kB, 1MB, 1GB)",
                         value);
                return PGQ_INVALID;
            }
            break;
        case OPT_STRING:
            if (pgq_strlcpy(config_field(c, o), value, o->size) >= o->size) {
                snprintf(why, whysize, "longer than %zu bytes", o->size - 1);
                return PGQ_INVALID;
            }
            return 0;
        case OPT_ADDR:
            return parse_addr(value, config_field(c, o), o->size, why, whysize);
        case OPT_ADDR_OFF:
            if (value[0] == '\0') {
                ((char *)config_field(c, o))[0] = '\0';
                return 0;
            }
            return parse_addr(value, config_field(c, o), o->size, why, whysize);
        case OPT_PEERS:
            return parse_peers(value, c, why, whysize);
        case OPT_LOGLEVEL: {
            static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
            return parse_choice(value, levels, &c->log_level, why, whysize);
        }
        case OPT_LOGFORMAT: {
            static const char *const formats[] = {"plain", "json", "syslog", NULL};
            return parse_choice(value, formats, &c->log_format, why, whysize);
        }
        case OPT_DRAIN: {
            struct drain_url u;
            _Static_assert(sizeof c->log_drain == DRAIN_URL_MAX, "log_drain holds a URL");
            if (value[0] != '\0' && drain_url_parse(value, &u, why, whysize) != 0) {
                return PGQ_INVALID;
            }
            pgq_strlcpy(config_field(c, o), value, o->size);
            return 0;
        }
        case OPT_FACILITY:
            if (drain_facility_parse(value, &c->log_drain_facility) != 0) {
                snprintf(why, whysize, "\"%.32s\" is not one of %s", value, drain_facility_names());
                return PGQ_INVALID;
            }
            return 0;
        case OPT_CRASH: {
            static const char *const policies[] = {"auto", "restart", "failover", NULL};
            return parse_choice(value, policies, &c->crash_policy, why, whysize);
        }
        case OPT_REJOIN: {
            static const char *const modes[] = {"rewind-or-clone", "manual", "off", NULL};
            return parse_choice(value, modes, &c->rejoin, why, whysize);
        }
        case OPT_AUTHMODE: {
            /* The order of AUTH_MODE_AUTO, _ON, _OFF (authz.h). */
            static const char *const modes[] = {"auto", "on", "off", NULL};
            return parse_choice(value, modes, &c->auth_mode, why, whysize);
        }
        case OPT_ADDRLIST: {
            char list[sizeof c->monitors_text];
            char *save = NULL;
            if (pgq_strlcpy(list, value, sizeof list) >= sizeof list) {
                snprintf(why, whysize, "longer than %zu bytes", sizeof list - 1);
                return PGQ_INVALID;
            }
            pgq_strlcpy(c->monitors_text, value, sizeof c->monitors_text);
            c->n_monitors = 0;
            for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                char *a = trim(t);
                if (c->n_monitors == PGQ_NODE_MONITORS_MAX) {
                    snprintf(why, whysize, "more than %d monitors", PGQ_NODE_MONITORS_MAX);
                    return PGQ_INVALID;
                }
                if (parse_addr(a, c->monitors[c->n_monitors], PGQ_ADDR_MAX, why, whysize) != 0) {
                    return PGQ_INVALID;
                }
                c->n_monitors++;
            }
            if (c->n_monitors == 0) {
                snprintf(why, whysize, "no monitor listed");
                return PGQ_INVALID;
            }
            return 0;
        }
        case OPT_SSLMODE: {
            static const char *const modes[] = {"",        "disable",   "allow",      "prefer",
                                                "require", "verify-ca", "verify-full"};
            for (size_t i = 0; i < PGQ_ARRAY_SIZE(modes); i++) {
                if (strcmp(value, modes[i]) == 0) {
                    pgq_strlcpy(config_field(c, o), value, o->size);
                    return 0;
                }
            }
            snprintf(why, whysize,
                     "\"%.32s\" is not a libpq sslmode (disable, allow, prefer, require, "
                     "verify-ca, verify-full)",
                     value);
            return PGQ_INVALID;
        }
        case OPT_BOOL:
            if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
                snprintf(why, whysize, "\"%.32s\" is not on or off", value);
                return PGQ_INVALID;
            }
            *(bool *)config_field(c, o) = strcmp(value, "on") == 0;
            return 0;
        default:
            snprintf(why, whysize, "internal: bad option type");
            return PGQ_INTERNAL;
    }
    if (v < o->min || v > o->max) {
        if (o->type == OPT_DURATION) {
            snprintf(why, whysize, "%.64s is out of range %" PRIu64 "ms..%" PRIu64 "ms", value,
                     o->min, o->max);
        } else {
            snprintf(why, whysize, "%.64s is out of range %" PRIu64 "..%" PRIu64, value, o->min,
                     o->max);
        }
        return PGQ_INVALID;
    }
    *(uint64_t *)config_field(c, o) = v;
    return 0;
}

void config_defaults(struct config *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < config_n_options; i++) {
        if (config_options[i].def != NULL) {
            int rv = set_option(c, &config_options[i], config_options[i].def, why, sizeof why);
            (void)rv; /* defaults are tested by the unit tests */
        }
    }
}

/* Edit distance (insertions, deletions, substitutions, transpositions of
 * neighbours) between a and b, or limit + 1 once it exceeds limit. */
static unsigned edit_distance(const char *a, const char *b, unsigned limit)
{
    enum { MAXLEN = 40 };
    unsigned d[MAXLEN + 1][MAXLEN + 1];
    size_t n = strlen(a), m = strlen(b);
    if (n > MAXLEN || m > MAXLEN || (n > m ? n - m : m - n) > limit) {
        return limit + 1;
    }
    for (size_t i = 0; i <= n; i++) {
        d[i][0] = (unsigned)i;
    }
    for (size_t j = 0; j <= m; j++) {
        d[0][j] = (unsigned)j;
    }
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = PGQ_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
            v = PGQ_MIN(v, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                v = PGQ_MIN(v, d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    return PGQ_MIN(d[n][m], limit + 1);
}

/* What an unknown key in section probably meant: "; did you mean \"K\"?"
 * for a key of the section a typo or two away (one for short keys), or
 * "; it belongs in [S]" for a key of another section; "" otherwise. */
static void suggest_key(const char *section, const char *key, char *out, size_t size)
{
    const struct option *best = NULL, *elsewhere = NULL;
    unsigned best_d = 0;
    out[0] = '\0';
    for (size_t i = 0; i < config_n_options; i++) {
        const struct option *o = &config_options[i];
        if (strcmp(o->section, section) != 0) {
            if (strcmp(o->key, key) == 0 && elsewhere == NULL) {
                elsewhere = o;
            }
            continue;
        }
        unsigned limit = strlen(o->key) <= 4 ? 1 : 2;
        unsigned d = edit_distance(key, o->key, limit);
        if (d <= limit && (best == NULL || d < best_d)) {
            best = o;
            best_d = d;
        }
    }
    if (best != NULL) {
        snprintf(out, size, "; did you mean \"%s\"?", best->key);
    } else if (elsewhere != NULL) {
        snprintf(out, size, "; it belongs in [%s]", elsewhere->section);
    }
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < config_n_options; i++) {
        if (strcmp(config_options[i].section, section) == 0) {
            return true;
        }
    }
    return false;
}

static int error_at(char *errmsg,
                    size_t errsize,
                    const char *path,
                    unsigned line,
                    const char *fmt,
                    ...) PGQ_PRINTF(5, 6);
static int error_at(char *errmsg,
                    size_t errsize,
                    const char *path,
                    unsigned line,
                    const char *fmt,
                    ...)
{
    va_list ap;
    int n = line > 0 ? snprintf(errmsg, errsize, "%s:%u: ", path, line)
                     : snprintf(errmsg, errsize, "%s: ", path);
    if (n > 0 && (size_t)n < errsize) {
        va_start(ap, fmt);
        vsnprintf(errmsg + n, errsize - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PGQ_CONFIG;
}

/* TLS is on unless configured off: then its three files are required. Checked
 * last, so that a file with other mistakes is told about those first. */
static int check_tls(const struct config *c, const char *path, char *errmsg, size_t errsize)
{
    const char *missing;
    if (!c->tls) {
        return 0;
    }
    missing = c->tls_ca_file[0] == '\0'     ? "ca_file"
              : c->tls_cert_file[0] == '\0' ? "cert_file"
              : c->tls_key_file[0] == '\0'  ? "key_file"
                                            : NULL;
    if (missing == NULL) {
        return 0;
    }
    return error_at(errmsg, errsize, path, 0,
                    "[tls] %s: required while tls is on (give ca_file, cert_file and "
                    "key_file, or set tls = off in [%s] for plain TCP)",
                    missing, c->role == ROLE_NODE ? "node" : "monitor");
}

/* [auth] tokens and admins parse (the monitor parses them again at start
 * and on SIGHUP); the error names the key's line, never a digest. */
static int check_auth(const struct config *c,
                      const char *path,
                      const unsigned *set_line,
                      char *errmsg,
                      size_t errsize)
{
    struct authz_config *ac = calloc(1, sizeof *ac);
    char why[256];
    int rv;
    if (ac == NULL) {
        return error_at(errmsg, errsize, path, 0, "out of memory");
    }
    rv = authz_config_parse(ac, c->auth_tokens, c->auth_admins, why, sizeof why);
    free(ac);
    if (rv != 0) {
        const char *key = strncmp(why, "admins", 6) == 0 ? "admins" : "tokens";
        return error_at(errmsg, errsize, path,
                        set_line[config_find_option("auth", key) - config_options], "[auth] %s",
                        why);
    }
    return 0;
}

int config_parse(struct config *c, const char *path, const char *text, char *errmsg, size_t errsize)
{
    unsigned set_line[CONFIG_OPTIONS_MAX] = {0};
    char section[32] = "";
    unsigned lineno = 0;
    const char *p = text;
    char why[256];

    config_defaults(c);
    while (*p != '\0') {
        char buf[2048];
        size_t len = strcspn(p, "\n");
        char *line, *eq, *key, *value;
        const struct option *o;
        lineno++;
        if (len >= sizeof buf) {
            return error_at(errmsg, errsize, path, lineno, "line longer than %zu bytes",
                            sizeof buf - 1);
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (p[len] == '\n' ? 1 : 0);
        line = trim(buf);
        if (*line == '\0' || *line == '#' || *line == ';') {
            continue;
        }
        if (*line == '[') {
            char *close = strchr(line, ']');
            if (close == NULL || *trim(close + 1) != '\0') {
                return error_at(errmsg, errsize, path, lineno, "expected [section]");
            }
            *close = '\0';
            line = trim(line + 1);
            if (!section_known(line)) {
                return error_at(errmsg, errsize, path, lineno,
                                "unknown section [%.31s] (known: monitor, raft, health, "
                                "failover, api, http, auth)",
                                line);
            }
            pgq_strlcpy(section, line, sizeof section);
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            return error_at(errmsg, errsize, path, lineno, "expected key = value, got \"%.40s\"",
                            line);
        }
        *eq = '\0';
        key = trim(line);
        value = trim(eq + 1);
        if (section[0] == '\0') {
            return error_at(errmsg, errsize, path, lineno, "%.40s: key outside of any [section]",
                            key);
        }
        if (*value == '"') {
            char *close = strrchr(value + 1, '"');
            if (close == NULL) {
                return error_at(errmsg, errsize, path, lineno, "[%s] %.40s: unterminated quote",
                                section, key);
            }
            *close = '\0';
            value++;
        } else {
            /* Inline comments start with whitespace then # or ;. */
            for (char *q = value; *q != '\0'; q++) {
                if ((*q == '#' || *q == ';') && q > value && isspace((unsigned char)q[-1])) {
                    *q = '\0';
                    value = trim(value);
                    break;
                }
            }
        }
        o = config_find_option(section, key);
        if (o == NULL) {
            char hint[96];
            suggest_key(section, key, hint, sizeof hint);
            return error_at(errmsg, errsize, path, lineno, "[%s] %.40s: unknown key%s", section,
                            key, hint);
        }
        if (set_line[o - config_options] != 0) {
            return error_at(errmsg, errsize, path, lineno, "[%s] %s: set twice (first on line %u)",
                            section, key, set_line[o - config_options]);
        }
        if (set_option(c, o, value, why, sizeof why) != 0) {
            return error_at(errmsg, errsize, path, lineno, "[%s] %s: %s", section, key, why);
        }
        set_line[o - config_options] = lineno;
    }

    /* One role per file: the one whose section it has. */
    {
        unsigned mon_line = 0, node_line = 0;
        for (size_t i = 0; i < config_n_options; i++) {
            if (set_line[i] != 0 && strcmp(config_options[i].section, "monitor") == 0 &&
                mon_line == 0) {
                mon_line = set_line[i];
            }
            if (set_line[i] != 0 && strcmp(config_options[i].section, "node") == 0 &&
                node_line == 0) {
                node_line = set_line[i];
            }
        }
        if (mon_line != 0 && node_line != 0) {
            return error_at(errmsg, errsize, path, PGQ_MAX(mon_line, node_line),
                            "a file configures one role: [monitor] (line %u) or [node] "
                            "(line %u), not both",
                            mon_line, node_line);
        }
        c->role = node_line != 0 ? ROLE_NODE : ROLE_MONITOR;
    }
    for (size_t i = 0; i < config_n_options; i++) {
        const char *other = c->role == ROLE_NODE ? "monitor" : "node";
        if (strcmp(config_options[i].section, other) == 0) {
            continue;
        }
        if (config_options[i].def == NULL && set_line[i] == 0) {
            return error_at(errmsg, errsize, path, 0, "[%s] %s: required key missing",
                            config_options[i].section, config_options[i].key);
        }
    }

    {
        const char *sec = c->role == ROLE_NODE ? "node" : "monitor";
        struct drain_url u;
        if (c->log_drain[0] != '\0' && drain_url_parse(c->log_drain, &u, why, sizeof why) == 0 &&
            u.scheme == DRAIN_TLS && c->log_drain_ca[0] == '\0' && c->tls_ca_file[0] == '\0') {
            return error_at(errmsg, errsize, path,
                            set_line[config_find_option(sec, "log_drain") - config_options],
                            "[%s] log_drain: syslog+tls needs a CA to verify the collector with "
                            "(set log_drain_ca, or [tls] ca_file)",
                            sec);
        }
    }
    if (c->role == ROLE_NODE) {
        if (c->local_conninfo[0] == '\0') {
            pgq_strlcpy(c->local_conninfo, c->node_conninfo, sizeof c->local_conninfo);
        }
        if (!pgq_name_valid(c->node_name)) {
            return error_at(
                errmsg, errsize, path,
                set_line[config_find_option("node", "name") - config_options],
                "[node] name: \"%.64s\" is not a valid name (1-63 of A-Z a-z 0-9 _ . -)",
                c->node_name);
        }
        if (!pgq_name_valid(c->node_cluster)) {
            return error_at(errmsg, errsize, path,
                            set_line[config_find_option("node", "cluster") - config_options],
                            "[node] cluster: \"%.64s\" is not a valid name", c->node_cluster);
        }
        {
            struct conninfo ci;
            char bad[PGQ_REASON_MAX];
            if (conninfo_validate(c->node_conninfo, &ci, bad, sizeof bad) != 0) {
                return error_at(errmsg, errsize, path,
                                set_line[config_find_option("node", "conninfo") - config_options],
                                "[node] conninfo: %s", bad);
            }
        }
        if (c->pgdata[0] != '/') {
            return error_at(errmsg, errsize, path,
                            set_line[config_find_option("node", "pgdata") - config_options],
                            "[node] pgdata: must be an absolute path");
        }
        return check_tls(c, path, errmsg, errsize);
    }
    /* Cross-key checks, reported at the line of the key that must change. */
    {
        const struct option *peers = config_find_option("monitor", "peers");
        const struct option *raft = config_find_option("monitor", "raft_address");
        const struct option *api = config_find_option("monitor", "api_address");
        const struct option *et = config_find_option("raft", "election_timeout");
        const struct option *ri = config_find_option("health", "retry_interval");
        const struct option *rr = config_find_option("health", "report_refresh");
        const struct config_peer *self = NULL;
        for (unsigned i = 0; i < c->n_peers; i++) {
            if (c->peers[i].id == c->id) {
                self = &c->peers[i];
            }
        }
        if (self == NULL && !c->join) {
            return error_at(errmsg, errsize, path, set_line[peers - config_options],
                            "[monitor] peers: does not list this monitor's id %" PRIu64
                            " (a monitor added to a running group has join = on)",
                            c->id);
        }
        for (unsigned i = 0; self == NULL && i < c->n_peers; i++) {
            if (strcmp(c->peers[i].address, c->raft_address) == 0) {
                return error_at(errmsg, errsize, path, set_line[raft - config_options],
                                "[monitor] raft_address: %s is monitor %" PRIu64
                                "'s in peers, not %" PRIu64 "'s",
                                c->raft_address, c->peers[i].id, c->id);
            }
        }
        if (self != NULL && strcmp(self->address, c->raft_address) != 0) {
            return error_at(errmsg, errsize, path, set_line[raft - config_options],
                            "[monitor] raft_address: %s differs from peers entry %" PRIu64 "=%s",
                            c->raft_address, c->id, self->address);
        }
        if (strcmp(c->api_address, c->raft_address) == 0) {
            return error_at(errmsg, errsize, path, set_line[api - config_options],
                            "[monitor] api_address: must differ from raft_address");
        }
        if (strcmp(c->http_address, c->raft_address) == 0 ||
            strcmp(c->http_address, c->api_address) == 0) {
            return error_at(
                errmsg, errsize, path,
                set_line[config_find_option("monitor", "http_address") - config_options],
                "[monitor] http_address: must differ from raft_address and "
                "api_address");
        }
        if (c->data_dir[0] == '\0') {
            return error_at(errmsg, errsize, path,
                            set_line[config_find_option("monitor", "data_dir") - config_options],
                            "[monitor] data_dir: empty path");
        }
        if (c->election_timeout_ms < 3 * c->heartbeat_timeout_ms) {
            return error_at(errmsg, errsize, path, set_line[et - config_options],
                            "[raft] election_timeout: %" PRIu64
                            "ms must be at least 3x heartbeat_timeout (%" PRIu64 "ms)",
                            c->election_timeout_ms, c->heartbeat_timeout_ms);
        }
        /* A lease must outlast a leader election, or every leader change
         * fences the primary. */
        if (c->lease_ms < 2 * c->election_timeout_ms + 1000) {
            const struct option *lt = config_find_option("failover", "lease_time");
            return error_at(errmsg, errsize, path, set_line[lt - config_options],
                            "[failover] lease_time: %" PRIu64
                            "ms must be at least 2 x election_timeout + 1s (%" PRIu64
                            "ms): a lease must outlast a leader election",
                            c->lease_ms, 2 * c->election_timeout_ms + 1000);
        }
        if (c->retry_interval_ms > c->interval_ms) {
            return error_at(errmsg, errsize, path, set_line[ri - config_options],
                            "[health] retry_interval: %" PRIu64
                            "ms is longer than interval (%" PRIu64 "ms)",
                            c->retry_interval_ms, c->interval_ms);
        }
        if (c->report_refresh_ms < c->interval_ms) {
            return error_at(errmsg, errsize, path, set_line[rr - config_options],
                            "[health] report_refresh: %" PRIu64
                            "ms is shorter than interval (%" PRIu64 "ms)",
                            c->report_refresh_ms, c->interval_ms);
        }
        if (c->snapshot_trailing > c->snapshot_threshold) {
            return error_at(
                errmsg, errsize, path,
                set_line[config_find_option("raft", "snapshot_trailing") - config_options],
                "[raft] snapshot_trailing: larger than snapshot_threshold");
        }
    }
    if (check_auth(c, path, set_line, errmsg, errsize) != 0) {
        return PGQ_CONFIG;
    }
    return check_tls(c, path, errmsg, errsize);
}

int config_voters_warning(const struct config *c, char *out, size_t size)
{
    unsigned n = c->n_peers;
    if (c->role != ROLE_MONITOR || n == 0 || (n > 1 && n % 2 == 1)) {
        return 0;
    }
    if (n == 1) {
        snprintf(out, size,
                 "[monitor] peers: 1 voter tolerates no failure: the quorum stops with this "
                 "monitor (3 voters survive the loss of 1, 5 of 2)");
    } else if (n == 2) {
        snprintf(out, size,
                 "[monitor] peers: 2 voters tolerate no more failures than 1 (none: a majority "
                 "is 2 of 2); use 3 (survives 1)");
    } else {
        snprintf(out, size,
                 "[monitor] peers: %u voters tolerate no more failures than %u (%u: a majority "
                 "is %u of %u); use %u or %u (survive %u or %u)",
                 n, n - 1, (n - 1) / 2, n / 2 + 1, n, n - 1, n + 1, (n - 1) / 2, n / 2);
    }
    return 1;
}

uint64_t config_down_view_ttl_ms(const struct config *c)
{
    return c->interval_ms + c->retry_interval_ms + c->timeout_ms + 1000;
}

unsigned config_auth_params(const struct config *c,
                            const char **keys,
                            const char **values,
                            unsigned max)
{
    const char *const names[] = {"passfile", "sslmode", "sslcert", "sslkey", "sslrootcert"};
    const char *const set[] = {c->passfile, c->sslmode, c->sslcert, c->sslkey, c->sslrootcert};
    unsigned n = 0;
    for (unsigned i = 0; i < PGQ_ARRAY_SIZE(names) && n < max; i++) {
        if (set[i][0] != '\0') {
            keys[n] = names[i];
            values[n++] = set[i];
        }
    }
    return n;
}
