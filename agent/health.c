/* health: the health endpoints' rules (see health.h). */
#include "health.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"

static const struct
{
    const char *name;
    int check;
} names[] = {
    {"primary", HC_PRIMARY},     {"read-write", HC_PRIMARY}, {"replica", HC_REPLICA},
    {"read-only", HC_READ_ONLY}, {"synchronous", HC_SYNC},   {"sync", HC_SYNC},
    {"asynchronous", HC_ASYNC},  {"async", HC_ASYNC},        {"health", HC_HEALTH},
};

int health_check_by_name(const char *name)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(names); i++) {
        if (strcmp(names[i].name, name) == 0) {
            return names[i].check;
        }
    }
    return -1;
}

const char *health_check_name(int check)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(names); i++) {
        if (names[i].check == check) {
            return names[i].name;
        }
    }
    return "?";
}

/* ---- the query ------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode s[0..len) into out; PGQ_INVALID on a bad escape, a NUL or a value
 * that does not fit. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return PGQ_INVALID;
            }
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= size) {
            return PGQ_INVALID;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_query(const char *query, struct health_query *q, char *err, size_t errsize)
{
    const char *p = query;
    bool seen_lag = false, seen_node = false, seen_cluster = false, seen_limit = false;
    memset(q, 0, sizeof *q);
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char key[32], value[PGQ_NAME_MAX];
        if (len == 0) {
            p += amp != NULL ? 1 : 0;
            continue;
        }
        if (eq == NULL) {
            snprintf(err, errsize, "bad query parameter \"%.*s\": use key=value",
                     (int)PGQ_MIN(len, 64), p);
            return PGQ_INVALID;
        }
        if (decode(p, (size_t)(eq - p), key, sizeof key) != 0 ||
            decode(eq + 1, len - (size_t)(eq - p) - 1, value, sizeof value) != 0) {
            snprintf(err, errsize,
                     "bad query parameter \"%.*s\": a bad %%-escape, a NUL, or a key or value "
                     "too long",
                     (int)PGQ_MIN(len, 64), p);
            return PGQ_INVALID;
        }
        if (strcmp(key, "lag") == 0 && !seen_lag) {
            seen_lag = true;
            if (config_parse_size(value, &q->max_lag) != 0) {
                snprintf(err, errsize, "lag=%s: not a size (use 1048576, 512kB, 16MB, 1GB)", value);
                return PGQ_INVALID;
            }
            q->has_lag = true;
        } else if (strcmp(key, "node") == 0 && !seen_node) {
            seen_node = true;
            pgq_strlcpy(q->node, value, sizeof q->node);
        } else if (strcmp(key, "cluster") == 0 && !seen_cluster) {
            seen_cluster = true;
            pgq_strlcpy(q->cluster, value, sizeof q->cluster);
        } else if (strcmp(key, "limit") == 0 && !seen_limit) {
            char *end;
            unsigned long v;
            seen_limit = true;
            v = strtoul(value, &end, 10);
            if (!isdigit((unsigned char)value[0]) || *end != '\0' || v > PGQ_EVENTS_LIST_MAX) {
                snprintf(err, errsize, "limit=%s: not a number of events (0..%d)", value,
                         PGQ_EVENTS_LIST_MAX);
                return PGQ_INVALID;
            }
            q->limit = (unsigned)v;
        } else if (strcmp(key, "lag") == 0 || strcmp(key, "node") == 0 ||
                   strcmp(key, "cluster") == 0 || strcmp(key, "limit") == 0) {
            snprintf(err, errsize, "query parameter %s given twice", key);
            return PGQ_INVALID;
        } else {
            snprintf(err, errsize,
                     "unknown query parameter \"%s\" (known: lag, node, cluster, limit)", key);
            return PGQ_INVALID;
        }
        p += len + (amp != NULL ? 1 : 0);
    }
    return 0;
}

int health_parse_query(const char *query, struct health_query *q, char *err, size_t errsize)
{
    int rv = parse_query(query, q, err, errsize);
    if (rv != 0) {
        pgq_one_line(err); /* a decoded %0a must not split the line */
    }
    return rv;
}

/* ---- the rules ------------------------------------------------------------- */

static int fail(char *why, size_t size, const char *text)
{
    pgq_strlcpy(why, text, size);
    return 503;
}

static int judge_primary(const struct health_facts *f, char *why, size_t size)
{
    if (!f->primary) {
        return fail(why, size, "not the primary of the current epoch");
    }
    if (f->failing_over) {
        return fail(why, size, "a failover or switchover over it has begun");
    }
    if (f->fenced) {
        return fail(why, size, "fenced");
    }
    if (f->lease_lost) {
        return fail(why, size, "its agent holds no lease: it must not take writes");
    }
    if (f->no_quorum) {
        return fail(why, size, "no word from a quorum for a while: the view may be stale");
    }
    if (!f->running) {
        return fail(why, size, "PostgreSQL does not answer");
    }
    if (f->in_recovery) {
        return fail(why, size, "in recovery (not promoted yet)");
    }
    if (f->read_only) {
        return fail(why, size, "read-only (fenced by the quorum)");
    }
    pgq_strlcpy(why, "primary", size);
    return 200;
}

static int judge_replica(const struct health_facts *f,
                         const struct health_query *q,
                         char *why,
                         size_t size)
{
    if (f->primary && f->running && !f->in_recovery) {
        return fail(why, size, "the primary, not a replica");
    }
    if (!f->running) {
        return fail(why, size, "PostgreSQL does not answer");
    }
    if (!f->in_recovery) {
        return fail(why, size, "not in recovery");
    }
    if (f->must_rejoin) {
        return fail(why, size, "it must rejoin the primary first");
    }
    if (f->maintenance) {
        return fail(why, size, "in maintenance");
    }
    if (!f->streaming) {
        return fail(why, size, "not streaming from a primary");
    }
    if (q != NULL && q->has_lag) {
        if (!f->lag_known) {
            return fail(why, size, "its replication lag is not known");
        }
        if (f->lag_bytes > q->max_lag) {
            snprintf(why, size, "replication lag %" PRIu64 " bytes over %" PRIu64, f->lag_bytes,
                     q->max_lag);
            return 503;
        }
    }
    pgq_strlcpy(why, "streaming replica", size);
    return 200;
}

int health_judge(int check,
                 const struct health_facts *f,
                 const struct health_query *q,
                 char *why,
                 size_t size)
{
    int code;
    if (f->unknown != NULL) {
        return fail(why, size, f->unknown);
    }
    switch (check) {
        case HC_PRIMARY:
            return judge_primary(f, why, size);
        case HC_REPLICA:
            return judge_replica(f, q, why, size);
        case HC_READ_ONLY:
            code = judge_primary(f, why, size);
            return code == 200 ? code : judge_replica(f, q, why, size);
        case HC_SYNC:
        case HC_ASYNC:
            code = judge_replica(f, q, why, size);
            if (code != 200) {
                return code;
            }
            if (f->sync != (check == HC_SYNC)) {
                return fail(why, size,
                            f->sync ? "a synchronous standby" : "not a synchronous standby");
            }
            pgq_strlcpy(why, f->sync ? "synchronous standby" : "asynchronous standby", size);
            return 200;
        case HC_HEALTH:
            if (!f->running) {
                return fail(why, size, "PostgreSQL does not answer");
            }
            pgq_strlcpy(why, "PostgreSQL answers", size);
            return 200;
        default:
            return fail(why, size, "unknown check");
    }
}

/* ---- a monitor's facts ----------------------------------------------------- */

static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) {
            return true;
        }
        p += len + (comma != NULL ? 1 : 0);
    }
    return false;
}

void health_facts_of(const struct cluster *c,
                     const struct node *n,
                     const struct view_obs *own,
                     const struct view_obs *own_primary,
                     struct health_facts *f)
{
    const struct failover *fo = &c->fo;
    memset(f, 0, sizeof *f);
    f->primary = c->epoch > 0 && strcmp(c->primary, n->name) == 0;
    /* Cutting: the primary being replaced. Gave up: the candidate whose
     * promotion was given up is c->primary until the next decision, and a
     * late promotion of it makes it writable: it is fenced, never routed to.
     * Stopping: the primary a switchover is stopping. */
    f->failing_over = (fo->phase == PGQ_FO_CUTTING && strcmp(fo->old_primary, n->name) == 0) ||
                      (fo->phase == PGQ_FO_GAVE_UP && strcmp(fo->candidate, n->name) == 0) ||
                      (f->primary && c->sw.phase == PGQ_SW_STOPPING && c->sw.epoch == c->epoch);
    f->fenced =
        (c->epoch > 0 && n->fenced_epoch == c->epoch) || n->alert_writable || n->agent.fenced;
    f->maintenance = n->maintenance;
    f->must_rejoin = n->rejoin[0] != '\0' ||
                     (n->agent.rejoin != PGQ_RJ_NONE && n->agent.rejoin != PGQ_RJ_STREAMING);
    if (n->twin_of[0] != '\0') {
        f->unknown = "registered twice: this name is ignored";
        return;
    }
    if (node_impostor(n)) {
        f->unknown = "another server (system identifier) answers at its address";
        return;
    }
    if (own == NULL) {
        f->unknown = "not probed by this monitor yet";
        return;
    }
    f->running = own->reachable;
    f->in_recovery = own->in_recovery;
    f->read_only = own->read_only;
    f->streaming = own->streaming;
    if (own_primary != NULL && own_primary != own) {
        f->sync = own_primary->reachable && in_list(own_primary->sync_standbys, n->name);
    }
    if (own->reachable && own->in_recovery) {
        uint64_t head = 0;
        if (own_primary != NULL && own_primary != own && own_primary->reachable &&
            !own_primary->in_recovery) {
            head = own_primary->current_lsn;
        }
        head = PGQ_MAX(head, own->upstream_lsn);
        if (head != 0) {
            f->lag_known = true;
            f->lag_bytes = head > own->replay_lsn ? head - own->replay_lsn : 0;
        }
    }
}
