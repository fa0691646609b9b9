/* rejoin: pure rules and text of a node agent's rejoin (see rejoin.h). */
#include "rejoin.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "conninfo.h"
#include "lib/util.h"

static const char *reason(const struct rejoin_view *v)
{
    if (!v->standby) {
        return "a former primary: it would start writable but is not the primary";
    }
    return "its WAL diverged from the primary's";
}

int rejoin_next(const struct rejoin_view *v, char *why, size_t size)
{
    bool needs;
    why[0] = '\0';
    /* Only the quorum's word moves a data directory, and never that of the
     * primary of the epoch. */
    if (!v->have_reply || !v->registered || v->primary) {
        return RJ_ACT_NONE;
    }
    if (v->empty) {
        if (v->mode == REJOIN_OFF) {
            snprintf(why, size, "the data directory is empty and rejoin = off");
            return RJ_ACT_WAIT;
        }
        if (!v->can_follow) {
            snprintf(why, size, "the data directory is empty: waiting for a primary to clone");
            return RJ_ACT_NONE;
        }
        snprintf(why, size, "the data directory is empty");
        return RJ_ACT_CLONE;
    }
    needs = (v->down && !v->standby) || (v->demoted && v->down) ||
            (v->demoted && v->running_standby &&
             v->not_streaming_ms >= (v->grace_ms != 0 ? v->grace_ms : REJOIN_GRACE_MS));
    if (!needs) {
        return RJ_ACT_NONE;
    }
    if (v->mode == REJOIN_OFF) {
        snprintf(why, size, "%s; rejoin = off", reason(v));
        return RJ_ACT_WAIT;
    }
    if (!v->can_follow) {
        snprintf(why, size, "waiting for a primary to follow (none settled)");
        return RJ_ACT_NONE;
    }
    if (v->rewind_failed) {
        if (v->mode == REJOIN_MANUAL) {
            snprintf(why, size, "it cannot be rewound and rejoin = manual");
            return RJ_ACT_WAIT;
        }
        snprintf(why, size, "it cannot be rewound");
        return RJ_ACT_CLONE;
    }
    snprintf(why, size, "%s", reason(v));
    return RJ_ACT_REWIND;
}

/* The key a configuration line sets ("" for none), lowercased. */
static void line_key(const char *line, size_t len, char *key, size_t size)
{
    size_t i = 0, k = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    while (i < len && k + 1 < size &&
           (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == '.')) {
        key[k++] = (char)tolower((unsigned char)line[i++]);
    }
    key[k] = '\0';
}

int rejoin_conf_rewrite(const char *old,
                        const struct conf_setting *set,
                        unsigned n,
                        char *out,
                        size_t size)
{
    size_t used = 0;
    if (size == 0) {
        return PGQ_TOOBIG;
    }
    out[0] = '\0';
#define PUT(p, l)                     \
    do {                              \
        if (used + (l) + 1 > size) {  \
            return PGQ_TOOBIG;        \
        }                             \
        memcpy(out + used, (p), (l)); \
        used += (l);                  \
        out[used] = '\0';             \
    } while (0)
    for (const char *p = old != NULL ? old : ""; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char key[64];
        bool drop = false;
        line_key(p, len, key, sizeof key);
        for (unsigned i = 0; i < n && key[0] != '\0'; i++) {
            drop |= strcasecmp(key, set[i].key) == 0;
        }
        if (!drop) {
            PUT(p, len);
            PUT("\n", 1);
        }
        p += len + (nl != NULL ? 1 : 0);
    }
    for (unsigned i = 0; i < n; i++) {
        if (set[i].value == NULL) {
            continue;
        }
        PUT(set[i].key, strlen(set[i].key));
        PUT(" = '", 4);
        for (const char *c = set[i].value; *c != '\0'; c++) {
            if (*c == '\'') {
                PUT("''", 2);
            } else if (*c == '\n' || *c == '\r') {
                return PGQ_INVALID; /* a setting is one line */
            } else {
                PUT(c, 1);
            }
        }
        PUT("'\n", 2);
    }
#undef PUT
    return 0;
}

/* The value of "label:   value" in pg_controldata's text ("" if absent). */
static void controldata_value(const char *text, const char *label, char *out, size_t size)
{
    const char *p = strstr(text, label);
    size_t k = 0;
    out[0] = '\0';
    if (p == NULL) {
        return;
    }
    p += strlen(label);
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    while (*p != '\0' && *p != '\n' && k + 1 < size) {
        out[k++] = *p++;
    }
    out[k] = '\0';
}

bool rejoin_rewindable(const char *controldata, char *why, size_t size)
{
    char hints[16], sums[16];
    controldata_value(controldata, "wal_log_hints setting:", hints, sizeof hints);
    controldata_value(controldata, "Data page checksum version:", sums, sizeof sums);
    why[0] = '\0';
    if (strcmp(hints, "off") == 0 && strcmp(sums, "0") == 0) {
        snprintf(why, size,
                 "pg_rewind is impossible: wal_log_hints is off and the data directory has no "
                 "data checksums");
        return false;
    }
    return true;
}

bool rejoin_waldump_line(const char *line, uint64_t *lsn, bool *commit)
{
    const char *p = strstr(line, "lsn: ");
    unsigned hi, lo;
    if (strncmp(line, "rmgr: ", 6) != 0 || p == NULL || sscanf(p + 5, "%X/%X", &hi, &lo) != 2) {
        return false;
    }
    *lsn = ((uint64_t)hi << 32) | lo;
    *commit = strstr(line, "desc: COMMIT") != NULL;
    return true;
}

bool rejoin_wal_segment(const char *name, uint64_t seg_size, uint32_t *tli, uint64_t *segno)
{
    unsigned t, hi, lo;
    uint64_t per_id;
    if (strlen(name) != 24 || strspn(name, "0123456789ABCDEF") != 24 || seg_size == 0 ||
        sscanf(name, "%8X%8X%8X", &t, &hi, &lo) != 3) {
        return false;
    }
    per_id = UINT64_C(0x100000000) / seg_size;
    if (per_id == 0 || lo >= per_id) {
        return false;
    }
    *tli = t;
    *segno = (uint64_t)hi * per_id + lo;
    return true;
}

void rejoin_conninfo_local(const char *conninfo,
                           char *port,
                           size_t port_size,
                           char *sockdir,
                           size_t sockdir_size)
{
    struct conninfo ci;
    char err[PGQ_REASON_MAX];
    port[0] = sockdir[0] = '\0';
    if (conninfo_parse(conninfo, &ci, err, sizeof err) != 0) {
        return;
    }
    pgq_strlcpy(port, ci.port, port_size);
    if (ci.host[0] == '/') {
        pgq_strlcpy(sockdir, ci.host, sockdir_size);
    }
}
