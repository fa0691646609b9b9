/* fakepg: a fake PostgreSQL server for the scale benchmarks (make
 * bench-scale) and nothing else: never for a behaviour test, which runs
 * real PostgreSQL.
 *
 * One process, one epoll loop, one TCP port on every loopback address: a
 * connection to 127.A.B.C (A >= 1) reaches fake node
 * i = (A - 1) * 65536 + B * 256 + C, so that thousands of nodes are
 * thousands of distinct registrations `host=127.A.B.C port=P`. The layout is
 * fixed by --per-cluster K: node i belongs to cluster i / K, the first node
 * of a cluster is its primary, the others are standbys streaming from it.
 * The harness (tools/bench_scale.py) registers node i as "n%06u" in cluster
 * "c%05u" (i / K): the names the fake uses for application_name and the
 * replication slots.
 *
 * Where one process cannot hold every connection (3 monitors x 10,000
 * nodes against an open-file limit of 20,000 that cannot be raised), S
 * processes share the nodes by cluster (--shards S --shard s: cluster k is
 * served by shard k mod S, each on its own port): a cluster's nodes, and
 * so a standby's primary, are always in one process.
 *
 * It speaks protocol 3: SSLRequest and GSSENCRequest get 'N' (no
 * encryption: sslmode prefer goes on in clear text), a StartupMessage gets
 * AuthenticationOk (any user is trusted), the ParameterStatus messages libpq
 * expects, BackendKeyData and ReadyForQuery; a CancelRequest closes its
 * connection (every query is answered at once: nothing runs to cancel);
 * Terminate closes. Only the simple query protocol is spoken.
 *
 * A statement is answered by what it asks, expression by expression of its
 * SELECT list, from the node's state: the monitors' probe (agent/probe.c,
 * PROBE_SQL) and the statements of the actuator's steps (repoint, cut,
 * fence, promote, slots: agent/actuator_steps.c, agent/actuator_slots.c)
 * get what a healthy cluster answers, and ALTER SYSTEM, pg_reload_conf(),
 * pg_promote() and the slot functions change that state, so that the
 * monitors' steps succeed as they do on PostgreSQL (a standby streams from
 * whatever its primary_conninfo names, if that is a fake primary holding
 * its slot). Anything else gets an ErrorResponse that names the statement
 * (it shows in the monitor's log); the first errors are printed here.
 *
 * The happy path is: accept, 'N', startup, one probe on the connection,
 * the connection kept until the monitor's next round opens a new one. It
 * must stay cheap next to the monitors it serves (10,000 nodes x 3 monitors
 * every 30 s): no allocation per connection beyond a small struct, none per
 * query unless a message arrives in pieces or an answer cannot be sent at
 * once.
 *
 * Possible failure modes are: too few file descriptors (the limit is
 * raised to the hard limit, then to what --nodes needs if root may),
 * a connection to an address outside the layout (closed at once), a
 * statement the fake does not know (an ErrorResponse). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LSN UINT64_C(0x3000148) /* every primary's (constant) end of WAL */
#define SYSTEM_ID_BASE UINT64_C(7300000000000000000)
#define MAX_MESSAGE (1u << 20) /* a longer message closes the connection */
#define MAX_COLS 64
#define SLOT_MAX 64
#define REPLICAS_LISTED 16 /* agent/probe.c: LIMIT 16 */
#define SYNC_LISTED 8      /* agent/probe.c: LIMIT 8 */
#define SETTING_MAX 640
#define ERRORS_SHOWN 20 /* statements answered with an error printed, at most */

/* What one fake server holds: its role and the settings the monitors read
 * and change. */
struct fnode
{
    bool in_recovery;
    bool read_only; /* default_transaction_read_only */
    uint32_t timeline;
    char primary_conninfo[SETTING_MAX];
    char primary_slot_name[SLOT_MAX];
    char sync_names[SETTING_MAX]; /* synchronous_standby_names */
    char (*slots)[SLOT_MAX];      /* owned: its replication slots */
    unsigned n_slots;
};

struct conn
{
    int fd;
    uint32_t node;
    bool started; /* StartupMessage seen */
    char *in;     /* owned: a message not complete yet */
    size_t in_len;
    char *out; /* owned: what could not be sent yet */
    size_t out_len;
};

struct buf
{
    char *p;
    size_t len, cap;
};

static struct
{
    int port;
    uint32_t n_nodes;
    uint32_t per_cluster;
    uint32_t shards, shard; /* this process serves clusters k with k % shards == shard */
    struct fnode *nodes;    /* owned */
    int epfd;
    struct buf reply; /* the answer being built */
    uint64_t conns, queries, errors, refused;
    unsigned errors_shown;
    uint32_t next_pid;
} g;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

#define PRINTF(f, a) __attribute__((format(printf, f, a)))

static void die(const char *fmt, ...) PRINTF(1, 2);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fakepg: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ---- the layout ---------------------------------------------------------- */

static void node_name(uint32_t i, char *out, size_t size)
{
    snprintf(out, size, "n%06" PRIu32, i);
}

static void node_addr(uint32_t i, char *out, size_t size)
{
    snprintf(out, size, "127.%" PRIu32 ".%" PRIu32 ".%" PRIu32, 1 + i / 65536, (i / 256) % 256,
             i % 256);
}

/* The node an IPv4 address (host order) reaches; false when none. */
static bool addr_node(uint32_t a, uint32_t *node)
{
    uint32_t b1 = (a >> 16) & 255;
    if ((a >> 24) != 127 || b1 == 0) {
        return false;
    }
    *node = (b1 - 1) * 65536 + (a & 0xffff);
    return *node < g.n_nodes && (*node / g.per_cluster) % g.shards == g.shard;
}

static uint32_t cluster_first(uint32_t i)
{
    return i - i % g.per_cluster;
}

static uint32_t cluster_end(uint32_t i)
{
    uint32_t end = cluster_first(i) + g.per_cluster;
    return end < g.n_nodes ? end : g.n_nodes;
}

static void nodes_init(void)
{
    g.nodes = calloc(g.n_nodes, sizeof *g.nodes);
    if (g.nodes == NULL) {
        die("out of memory for %" PRIu32 " nodes", g.n_nodes);
    }
    for (uint32_t i = 0; i < g.n_nodes; i++) {
        struct fnode *n = &g.nodes[i];
        n->timeline = 1;
        n->in_recovery = i != cluster_first(i);
        if (n->in_recovery) {
            char host[32], name[16];
            node_addr(cluster_first(i), host, sizeof host);
            node_name(i, name, sizeof name);
            snprintf(n->primary_conninfo, sizeof n->primary_conninfo,
                     "host=%s port=%d user=pgquorum_monitor application_name=%s", host, g.port,
                     name);
        }
    }
}

/* ---- conninfo, as far as the fake needs it -------------------------------- */

/* The value of keyword key in a "k=v k='v'" conninfo, in out ("" if none). */
static void conninfo_get(const char *ci, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *p = ci; *p != '\0';) {
        const char *k;
        size_t n = 0;
        bool match;
        while (*p == ' ') {
            p++;
        }
        k = p;
        while (*p != '\0' && *p != '=' && *p != ' ') {
            p++;
        }
        match = (size_t)(p - k) == klen && strncmp(k, key, klen) == 0;
        if (*p != '=') {
            continue;
        }
        p++;
        if (*p == '\'') {
            for (p++; *p != '\0' && *p != '\''; p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
                if (match && n + 1 < size) {
                    out[n++] = *p;
                }
            }
            if (*p == '\'') {
                p++;
            }
        } else {
            for (; *p != '\0' && *p != ' '; p++) {
                if (match && n + 1 < size) {
                    out[n++] = *p;
                }
            }
        }
        if (match) {
            out[n] = '\0';
            return;
        }
    }
}

static bool has_slot(const struct fnode *n, const char *slot)
{
    for (unsigned i = 0; i < n->n_slots; i++) {
        if (strcmp(n->slots[i], slot) == 0) {
            return true;
        }
    }
    return false;
}

/* The fake primary standby i streams from (its primary_conninfo names it,
 * on this port, and holds the slot it asks for); false when none: its
 * walreceiver is not running. */
static bool upstream_of(uint32_t i,
                        uint32_t *up,
                        char *host,
                        size_t hsize,
                        char *port,
                        size_t psize)
{
    const struct fnode *n = &g.nodes[i];
    struct in_addr a;
    if (!n->in_recovery) {
        return false;
    }
    conninfo_get(n->primary_conninfo, "host", host, hsize);
    conninfo_get(n->primary_conninfo, "port", port, psize);
    if (inet_pton(AF_INET, host, &a) != 1 || atoi(port) != g.port ||
        !addr_node(ntohl(a.s_addr), up) || *up == i || g.nodes[*up].in_recovery) {
        return false;
    }
    return n->primary_slot_name[0] == '\0' || has_slot(&g.nodes[*up], n->primary_slot_name);
}

/* Application names of the standbys streaming from primary p, sorted (the
 * layout's order is the names' order), comma-separated; only those named
 * in `among` when it is not NULL. */
static void replicas_of(uint32_t p, const char *among, unsigned limit, char *out, size_t size)
{
    size_t len = 0;
    unsigned listed = 0;
    out[0] = '\0';
    for (uint32_t i = cluster_first(p); i < cluster_end(p); i++) {
        uint32_t up;
        char host[64], port[16], app[64];
        if (!upstream_of(i, &up, host, sizeof host, port, sizeof port) || up != p) {
            continue;
        }
        conninfo_get(g.nodes[i].primary_conninfo, "application_name", app, sizeof app);
        if (app[0] == '\0' || (among != NULL && strstr(among, app) == NULL)) {
            continue;
        }
        if (listed++ == limit) {
            break;
        }
        len +=
            (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? "," : "", app);
    }
    if (len >= size) {
        out[size - 1] = '\0';
    }
}

/* ---- replies ------------------------------------------------------------- */

static void buf_need(struct buf *b, size_t more)
{
    if (b->len + more > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        if (b->p == NULL) {
            die("out of memory");
        }
        b->cap = cap;
    }
}

static void put(struct buf *b, const void *p, size_t n)
{
    buf_need(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put_u16(struct buf *b, uint16_t v)
{
    v = htons(v);
    put(b, &v, 2);
}

static void put_u32(struct buf *b, uint32_t v)
{
    v = htonl(v);
    put(b, &v, 4);
}

static void put_str(struct buf *b, const char *s)
{
    put(b, s, strlen(s) + 1);
}

/* A message: its type, then a length patched by msg_end. */
static size_t msg_begin(struct buf *b, char type)
{
    put_u8(b, (uint8_t)type);
    put_u32(b, 0);
    return b->len - 4;
}

static void msg_end(struct buf *b, size_t at)
{
    uint32_t len = htonl((uint32_t)(b->len - at));
    memcpy(b->p + at, &len, 4);
}

static void ready(struct buf *b)
{
    size_t at = msg_begin(b, 'Z');
    put_u8(b, 'I');
    msg_end(b, at);
}

static void error_reply(struct buf *b, const char *severity, const char *code, const char *fmt, ...)
    PRINTF(4, 5);
static void error_reply(struct buf *b, const char *severity, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    size_t at;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    at = msg_begin(b, 'E');
    put_u8(b, 'S');
    put_str(b, severity);
    put_u8(b, 'V');
    put_str(b, severity);
    put_u8(b, 'C');
    put_str(b, code);
    put_u8(b, 'M');
    put_str(b, msg);
    put_u8(b, 0);
    msg_end(b, at);
    g.errors++;
}

static void param(struct buf *b, const char *name, const char *value)
{
    size_t at = msg_begin(b, 'S');
    put_str(b, name);
    put_str(b, value);
    msg_end(b, at);
}

static void startup_reply(struct conn *c, struct buf *b, const char *app)
{
    const struct fnode *n = &g.nodes[c->node];
    size_t at = msg_begin(b, 'R');
    put_u32(b, 0); /* AuthenticationOk */
    msg_end(b, at);
    param(b, "application_name", app);
    param(b, "client_encoding", "UTF8");
    param(b, "DateStyle", "ISO, MDY");
    param(b, "default_transaction_read_only", n->read_only ? "on" : "off");
    param(b, "in_hot_standby", n->in_recovery ? "on" : "off");
    param(b, "integer_datetimes", "on");
    param(b, "IntervalStyle", "postgres");
    param(b, "is_superuser", "on");
    param(b, "server_encoding", "UTF8");
    param(b, "server_version", "15.10 (fakepg)");
    param(b, "session_authorization", "pgquorum_monitor");
    param(b, "standard_conforming_strings", "on");
    param(b, "TimeZone", "UTC");
    at = msg_begin(b, 'K');
    put_u32(b, ++g.next_pid);
    put_u32(b, g.next_pid * 2654435761u);
    msg_end(b, at);
    ready(b);
}

/* One result: n_cols text columns, n_rows rows of values (NULL: SQL NULL). */
static void rows_reply(struct buf *b, unsigned n_cols, unsigned n_rows, const char *const *vals)
{
    size_t at = msg_begin(b, 'T');
    char tag[32];
    put_u16(b, (uint16_t)n_cols);
    for (unsigned i = 0; i < n_cols; i++) {
        put_str(b, "?column?");
        put_u32(b, 0);  /* table */
        put_u16(b, 0);  /* column */
        put_u32(b, 25); /* text */
        put_u16(b, (uint16_t)-1);
        put_u32(b, (uint32_t)-1);
        put_u16(b, 0); /* text format */
    }
    msg_end(b, at);
    for (unsigned r = 0; r < n_rows; r++) {
        at = msg_begin(b, 'D');
        put_u16(b, (uint16_t)n_cols);
        for (unsigned i = 0; i < n_cols; i++) {
            const char *v = vals[r * n_cols + i];
            if (v == NULL) {
                put_u32(b, (uint32_t)-1);
            } else {
                put_u32(b, (uint32_t)strlen(v));
                put(b, v, strlen(v));
            }
        }
        msg_end(b, at);
    }
    at = msg_begin(b, 'C');
    snprintf(tag, sizeof tag, "SELECT %u", n_rows);
    put_str(b, tag);
    msg_end(b, at);
    ready(b);
}

static void command_reply(struct buf *b, const char *tag)
{
    size_t at = msg_begin(b, 'C');
    put_str(b, tag);
    msg_end(b, at);
    ready(b);
}

/* ---- statements ------------------------------------------------------------ */

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A SQL string literal at *p ('...' or E'...', as PQescapeLiteral writes
 * them), into out; false when there is none. */
static bool literal(const char **p, char *out, size_t size)
{
    const char *s = *p;
    bool esc = false;
    size_t n = 0;
    while (*s == ' ') {
        s++;
    }
    if (*s == 'E') {
        esc = true;
        s++;
    }
    if (*s++ != '\'') {
        return false;
    }
    for (;; s++) {
        if (*s == '\0') {
            return false;
        }
        if (*s == '\'' && s[1] == '\'') {
            s++;
        } else if (*s == '\'') {
            break;
        } else if (esc && *s == '\\' && s[1] != '\0') {
            s++;
        }
        if (n + 1 < size) {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    *p = s + 1;
    return true;
}

static void lsn_text(uint64_t lsn, char *out, size_t size)
{
    snprintf(out, size, "%" PRIX64 "/%" PRIX64, lsn >> 32, lsn & 0xffffffffu);
}

/* Where one expression's value is kept when it is not a constant. */
struct cell
{
    char text[SETTING_MAX];
};

/* One statement on one node: what it streams from (read once), and the
 * error that ends it. */
struct stmt
{
    uint32_t node;
    bool streams; /* a standby whose walreceiver streams from a fake primary */
    uint32_t up;  /* that primary */
    char host[64], port[16];
    char err_code[6];
    char err[256];
};

static bool fail(struct stmt *x, const char *code, const char *fmt, ...) PRINTF(3, 4);
static bool fail(struct stmt *x, const char *code, const char *fmt, ...)
{
    va_list ap;
    snprintf(x->err_code, sizeof x->err_code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof x->err, fmt, ap);
    va_end(ap);
    return false;
}

static const char *text(struct cell *cell, const char *fmt, ...) PRINTF(2, 3);
static const char *text(struct cell *cell, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cell->text, sizeof cell->text, fmt, ap);
    va_end(ap);
    return cell->text;
}

static bool setting(struct stmt *x, const char *name, struct cell *cell, const char **v)
{
    const struct fnode *n = &g.nodes[x->node];
    if (strcmp(name, "primary_conninfo") == 0) {
        *v = n->primary_conninfo;
    } else if (strcmp(name, "primary_slot_name") == 0) {
        *v = n->primary_slot_name;
    } else if (strcmp(name, "synchronous_standby_names") == 0) {
        *v = n->sync_names;
    } else if (strcmp(name, "default_transaction_read_only") == 0) {
        *v = n->read_only ? "on" : "off";
    } else if (strcmp(name, "max_slot_wal_keep_size") == 0) {
        *v = "-1";
    } else if (strcmp(name, "is_superuser") == 0) {
        *v = "on";
    } else if (strcmp(name, "server_version_num") == 0) {
        *v = "150010";
    } else if (strcmp(name, "port") == 0) {
        *v = text(cell, "%d", g.port);
    } else {
        return fail(x, "42704", "unrecognized configuration parameter \"%s\"", name);
    }
    return true;
}

static bool slot_create(struct stmt *x, const char *name, struct cell *cell, const char **v)
{
    struct fnode *n = &g.nodes[x->node];
    char lsn[32];
    if (n->in_recovery) {
        return fail(x, "55000", "recovery is in progress");
    }
    if (strlen(name) >= SLOT_MAX) {
        return fail(x, "42622", "replication slot name \"%s\" is too long", name);
    }
    if (has_slot(n, name)) {
        return fail(x, "42710", "replication slot \"%s\" already exists", name);
    }
    n->slots = realloc(n->slots, (n->n_slots + 1) * sizeof *n->slots);
    if (n->slots == NULL) {
        die("out of memory");
    }
    memcpy(n->slots[n->n_slots++], name, strlen(name) + 1);
    lsn_text(LSN, lsn, sizeof lsn);
    *v = text(cell, "(%s,%s)", name, lsn);
    return true;
}

static bool slot_drop(struct stmt *x, const char *name, const char **v)
{
    struct fnode *n = &g.nodes[x->node];
    for (unsigned k = 0; k < n->n_slots; k++) {
        if (strcmp(n->slots[k], name) == 0) {
            memmove(n->slots[k], n->slots[k + 1], (n->n_slots - k - 1) * sizeof *n->slots);
            n->n_slots--;
            *v = "";
            return true;
        }
    }
    return fail(x, "42704", "replication slot \"%s\" does not exist", name);
}

/* The functions that take one literal: current_setting('name'), the slot
 * functions, pg_read_file('pg_wal/N.history'). */
static bool eval_call(struct stmt *x, const char *e, struct cell *cell, const char **v)
{
    struct fnode *n = &g.nodes[x->node];
    const char *p = strchr(e, '(') + 1;
    char arg[SETTING_MAX], lsn[32];
    unsigned tli;
    if (!literal(&p, arg, sizeof arg)) {
        return fail(x, "42601", "fakepg cannot read the argument of %.120s", e);
    }
    if (starts(e, "current_setting(")) {
        return setting(x, arg, cell, v);
    }
    if (starts(e, "pg_create_physical_replication_slot(")) {
        return slot_create(x, arg, cell, v);
    }
    if (starts(e, "pg_drop_replication_slot(")) {
        return slot_drop(x, arg, v);
    }
    /* pg_read_file: only a promoted node's history files exist. */
    if (sscanf(arg, "pg_wal/%8X.history", &tli) != 1 || tli < 2 || tli > n->timeline) {
        return fail(x, "58P01", "could not open file \"%s\": No such file or directory", arg);
    }
    lsn_text(LSN, lsn, sizeof lsn);
    *v = text(cell, "%u\t%s\tno recovery target specified\n", tli - 1, lsn);
    return true;
}

/* The value of one expression of a SELECT list, as the node answers it:
 * *v (NULL for SQL NULL, else a constant or cell's text); false with x's
 * error when the fake does not know the expression or it fails. The
 * probe's columns come first, in agent/probe.c's order, then the
 * actuator's. */
static bool eval(struct stmt *x, const char *e, struct cell *cell, const char **v)
{
    struct fnode *n = &g.nodes[x->node];
    char lsn[32];
    lsn_text(LSN, lsn, sizeof lsn);
    *v = NULL;
    if (strcmp(e, "pg_is_in_recovery()") == 0) {
        *v = n->in_recovery ? "t" : "f";
    } else if (strcmp(e, "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END") ==
               0) {
        *v = n->in_recovery ? NULL : text(cell, "%s", lsn);
    } else if (strcmp(e, "pg_last_wal_receive_lsn()") == 0 ||
               strcmp(e, "pg_last_wal_replay_lsn()") == 0) {
        *v = n->in_recovery ? text(cell, "%s", lsn) : NULL;
    } else if (starts(e, "CASE WHEN pg_is_in_recovery() THEN GREATEST(") ||
               starts(e, "GREATEST(")) {
        /* The timeline: either role's when the CASE has an ELSE (the
         * probe's), else only a standby's. */
        if (n->in_recovery || strstr(e, " ELSE ") != NULL) {
            *v = text(cell, "%" PRIu32, n->timeline);
        }
    } else if (strcmp(e, "(SELECT status FROM pg_stat_wal_receiver)") == 0 ||
               strcmp(e, "w.status") == 0) {
        *v = x->streams ? "streaming" : NULL;
    } else if (strcmp(e, "(SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver)") ==
               0) {
        *v = x->streams ? text(cell, "%s:%s", x->host, x->port) : NULL;
    } else if (strcmp(e, "(SELECT latest_end_lsn FROM pg_stat_wal_receiver)") == 0) {
        *v = x->streams ? text(cell, "%s", lsn) : NULL;
    } else if (starts(e, "(SELECT sum(blks_hit)")) {
        *v = "0.99";
    } else if (starts(e, "(SELECT sum(idx_blks_hit)")) {
        *v = "0.98";
    } else if (starts(e, "(SELECT count(*) FROM pg_stat_activity")) {
        *v = "3";
    } else if (strcmp(e, "current_setting('default_transaction_read_only') = 'on'") == 0) {
        *v = n->read_only ? "t" : "f";
    } else if (strcmp(e, "current_setting('server_version_num')::int") == 0) {
        *v = "150010";
    } else if (starts(e, "CASE WHEN pg_is_in_recovery() OR") && strstr(e, "sync_state") != NULL) {
        /* The synchronous standbys: of those streaming, the ones named. */
        if (!n->in_recovery && n->sync_names[0] != '\0') {
            replicas_of(x->node, n->sync_names, SYNC_LISTED, cell->text, sizeof cell->text);
            *v = cell->text[0] != '\0' ? cell->text : NULL;
        }
    } else if (strcmp(e, "(SELECT system_identifier FROM pg_control_system())") == 0) {
        /* A standby shares its primary's. */
        *v = text(cell, "%" PRIu64, SYSTEM_ID_BASE + x->node / g.per_cluster);
    } else if (starts(e, "CASE WHEN inet_server_addr() << '127.0.0.0/8'")) {
        *v = "loopback";
    } else if (strcmp(e, "current_setting('port')::int") == 0) {
        *v = text(cell, "%d", g.port);
    } else if (strcmp(e, "(SELECT setting FROM pg_settings WHERE name = 'data_directory')") == 0) {
        /* What tells a node from its primary (same system identifier,
         * address and port). */
        *v = text(cell, "/fakepg/n%06" PRIu32, x->node);
    } else if (starts(e,
                      "CASE WHEN pg_is_in_recovery() THEN NULL ELSE (SELECT "
                      "string_agg(slot_name")) {
        *v = NULL; /* no slot lost its WAL */
    } else if (starts(e, "has_parameter_privilege(") ||
               strcmp(e, "current_setting('is_superuser') = 'on'") == 0) {
        *v = "t";
    } else if (strcmp(e, "(SELECT slot_name FROM pg_stat_wal_receiver)") == 0 ||
               strcmp(e, "w.slot_name") == 0) {
        *v = x->streams && n->primary_slot_name[0] != '\0' ? n->primary_slot_name : NULL;
    } else if (starts(e,
                      "CASE WHEN pg_is_in_recovery() THEN NULL ELSE left(current_setting("
                      "'synchronous_standby_names')")) {
        *v = n->in_recovery ? NULL : n->sync_names;
    } else if (starts(e,
                      "CASE WHEN pg_is_in_recovery() THEN NULL ELSE (SELECT "
                      "string_agg(application_name")) {
        if (!n->in_recovery) {
            replicas_of(x->node, NULL, REPLICAS_LISTED, cell->text, sizeof cell->text);
            *v = cell->text[0] != '\0' ? cell->text : NULL;
        }
    } else if (starts(e, "CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x'")) {
        *v = n->in_recovery ? NULL : text(cell, "%" PRIu32, n->timeline);
    } else if (strcmp(e, "w.sender_host") == 0) {
        *v = x->streams ? x->host : NULL;
    } else if (strcmp(e, "w.sender_port") == 0) {
        *v = x->streams ? x->port : NULL;
    } else if (strcmp(e, "w.received_tli") == 0) {
        *v = x->streams ? text(cell, "%" PRIu32, g.nodes[x->up].timeline) : NULL;
    } else if (strcmp(e, "(SELECT count(*) FROM pg_stat_wal_receiver)") == 0) {
        *v = x->streams ? "1" : "0";
    } else if (strcmp(e, "pg_has_role('pg_monitor', 'USAGE')") == 0) {
        *v = "f"; /* the actuator's statements without pg_ls_waldir() */
    } else if (strcmp(e, "pg_reload_conf()") == 0) {
        *v = "t"; /* ALTER SYSTEM took effect at once */
    } else if (starts(e, "pg_promote(")) {
        if (!n->in_recovery) {
            return fail(x, "55000", "recovery is not in progress");
        }
        n->in_recovery = false;
        n->timeline++;
        *v = "t";
    } else if (starts(e, "current_setting('") || starts(e, "pg_read_file('") ||
               starts(e, "pg_create_physical_replication_slot(") ||
               starts(e, "pg_drop_replication_slot(")) {
        return eval_call(x, e, cell, v);
    } else {
        return fail(x, "0A000", "fakepg does not know the expression %.120s", e);
    }
    return true;
}

/* The top-level expressions of a SELECT list, split in place at commas
 * outside parentheses and quotes, up to a top-level " FROM " (*from then
 * points past it, else NULL). Returns how many there are; at most max are
 * stored. */
static unsigned split(char *list, char **cols, unsigned max, char **from)
{
    unsigned n = 0, depth = 0;
    bool quoted = false;
    char *start = list;
    *from = NULL;
    for (char *p = list;; p++) {
        bool top = !quoted && depth == 0;
        bool at_from = top && starts(p, " FROM ");
        if (*p == '\0' || at_from || (top && *p == ',')) {
            bool last = *p != ',';
            if (at_from) {
                *from = p + strlen(" FROM ");
            }
            *p = '\0';
            while (*start == ' ') {
                start++;
            }
            if (n < max) {
                cols[n] = start;
            }
            n++;
            if (last) {
                return n;
            }
            start = p + 1;
        } else if (*p == '\'') {
            quoted = !quoted;
        } else if (!quoted && *p == '(') {
            depth++;
        } else if (!quoted && *p == ')' && depth > 0) {
            depth--;
        }
    }
}

/* One space for every run of white space outside quotes, none at either
 * end, no final ';': statements are matched by their words, not by how a
 * C string literal happened to break them. */
static void normalize(char *s)
{
    char *out = s;
    bool quoted = false, space = true;
    for (const char *p = s; *p != '\0'; p++) {
        bool white = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
        if (!quoted && white) {
            if (!space) {
                *out++ = ' ';
            }
            space = true;
            continue;
        }
        quoted ^= *p == '\'';
        space = false;
        *out++ = *p;
    }
    while (out > s && (out[-1] == ' ' || out[-1] == ';')) {
        out--;
    }
    *out = '\0';
}

/* ALTER SYSTEM SET name = 'value' / ALTER SYSTEM RESET name: in effect at
 * once (the reload that follows changes nothing more). */
static bool alter_system(struct stmt *x, const char *q)
{
    struct fnode *n = &g.nodes[x->node];
    char name[64], value[SETTING_MAX];
    bool reset = starts(q, "ALTER SYSTEM RESET ");
    const char *p = q + strlen(reset ? "ALTER SYSTEM RESET " : "ALTER SYSTEM SET ");
    if (sscanf(p, "%63[a-z_]", name) != 1) {
        return fail(x, "42601", "fakepg cannot read %.120s", q);
    }
    value[0] = '\0';
    if (!reset) {
        p += strlen(name);
        while (*p == ' ' || *p == '=') {
            p++;
        }
        if (starts(p, "TO ")) {
            p += 3;
        }
        if (!literal(&p, value, sizeof value)) {
            return fail(x, "42601", "fakepg cannot read the value of %.120s", q);
        }
    }
    if (strcmp(name, "primary_conninfo") == 0) {
        snprintf(n->primary_conninfo, sizeof n->primary_conninfo, "%s", value);
    } else if (strcmp(name, "primary_slot_name") == 0) {
        if (strlen(value) >= sizeof n->primary_slot_name) {
            return fail(x, "42622", "replication slot name \"%s\" is too long", value);
        }
        memcpy(n->primary_slot_name, value, strlen(value) + 1);
    } else if (strcmp(name, "synchronous_standby_names") == 0) {
        snprintf(n->sync_names, sizeof n->sync_names, "%s", value);
    } else if (strcmp(name, "default_transaction_read_only") == 0) {
        n->read_only = strcmp(value, "on") == 0 || strcmp(value, "true") == 0;
    } else {
        return fail(x, "42704", "fakepg does not keep parameter \"%s\"", name);
    }
    return true;
}

/* A standby of primary p streams with slot `slot`. */
static bool slot_active(uint32_t p, const char *slot)
{
    for (uint32_t i = cluster_first(p); i < cluster_end(p); i++) {
        uint32_t up;
        char host[64], port[16];
        if (upstream_of(i, &up, host, sizeof host, port, sizeof port) && up == p &&
            strcmp(g.nodes[i].primary_slot_name, slot) == 0) {
            return true;
        }
    }
    return false;
}

/* The primary's pgq_ slots (actuator_slots.c, ST_S_READ): name, type,
 * active, one row each. */
static void slots_reply(struct buf *b, uint32_t p)
{
    const struct fnode *n = &g.nodes[p];
    const char **vals = malloc((n->n_slots * 3 + 1) * sizeof *vals);
    if (vals == NULL) {
        die("out of memory");
    }
    for (unsigned k = 0; k < n->n_slots; k++) {
        vals[3 * k] = n->slots[k];
        vals[3 * k + 1] = "physical";
        vals[3 * k + 2] = slot_active(p, n->slots[k]) ? "t" : "f";
    }
    rows_reply(b, 3, n->n_slots, vals);
    free(vals);
}

/* One slot of this node (ST_R_SLOT_READ, asked of the primary): whether it
 * is in recovery, then the slot's type, WAL status and activity, or NULLs. */
static void slot_reply(struct buf *b, struct stmt *x, const char *lit)
{
    const struct fnode *n = &g.nodes[x->node];
    char name[SLOT_MAX];
    const char *vals[4] = {n->in_recovery ? "t" : "f", NULL, NULL, NULL};
    if (!literal(&lit, name, sizeof name)) {
        error_reply(b, "ERROR", "42601", "fakepg cannot read the slot name");
        ready(b);
        return;
    }
    if (has_slot(n, name)) {
        vals[1] = "physical";
        vals[2] = "reserved";
        vals[3] = slot_active(x->node, name) ? "t" : "f";
    }
    rows_reply(b, 4, 1, vals);
}

static void refuse(struct buf *b, const char *code, const char *what)
{
    error_reply(b, "ERROR", code, "fakepg does not know %.160s", what);
    ready(b);
}

static void answer(struct conn *c, struct buf *b, char *q);

/* A statement, answered; the first errors are printed with it. */
static void query(struct conn *c, struct buf *b, char *q)
{
    uint64_t errors = g.errors;
    char shown[400];
    snprintf(shown, sizeof shown, "%s", q);
    answer(c, b, q);
    if (g.errors != errors && g.errors_shown < ERRORS_SHOWN) {
        g.errors_shown++;
        fprintf(stderr, "fakepg: node n%06" PRIu32 ": error for: %s\n", c->node, shown);
    }
}

static void answer(struct conn *c, struct buf *b, char *q)
{
    static const char wal_receiver_join[] =
        "(SELECT 1) one LEFT JOIN pg_stat_wal_receiver w ON true";
    static const char slot_join[] =
        "SELECT pg_is_in_recovery(), s.slot_type, s.wal_status, s.active"
        " FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = ";
    static struct cell cells[MAX_COLS];
    struct stmt x = {.node = c->node};
    char *cols[MAX_COLS], *from;
    const char *vals[MAX_COLS];
    unsigned n;
    g.queries++;
    normalize(q);
    if (starts(q, "ALTER SYSTEM ")) {
        if (alter_system(&x, q)) {
            command_reply(b, "ALTER SYSTEM");
        } else {
            error_reply(b, "ERROR", x.err_code, "%s", x.err);
            ready(b);
        }
        return;
    }
    if (starts(q, "SELECT slot_name, slot_type, active FROM pg_replication_slots")) {
        slots_reply(b, c->node);
        return;
    }
    if (starts(q, slot_join)) {
        slot_reply(b, &x, q + strlen(slot_join));
        return;
    }
    if (starts(q, "SELECT count(pg_terminate_backend(")) {
        const char *zero = "0";
        rows_reply(b, 1, 1, &zero);
        return;
    }
    if (!starts(q, "SELECT ")) {
        refuse(b, "0A000", q);
        return;
    }
    n = split(q + strlen("SELECT "), cols, MAX_COLS, &from);
    if (n > MAX_COLS) {
        refuse(b, "54011", "a statement of so many columns");
        return;
    }
    if (from != NULL && strcmp(from, wal_receiver_join) != 0) {
        refuse(b, "0A000", from);
        return;
    }
    x.streams = upstream_of(c->node, &x.up, x.host, sizeof x.host, x.port, sizeof x.port);
    for (unsigned k = 0; k < n; k++) {
        if (!eval(&x, cols[k], &cells[k], &vals[k])) {
            if (strcmp(x.err_code, "0A000") == 0) {
                refuse(b, "0A000", cols[k]);
            } else {
                error_reply(b, "ERROR", x.err_code, "%s", x.err);
                ready(b);
            }
            return;
        }
    }
    rows_reply(b, n, 1, vals);
}

/* ---- connections ----------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    close(c->fd); /* leaves the epoll set with it */
    free(c->in);
    free(c->out);
    free(c);
}

static uint32_t get_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* The StartupMessage's application_name (its parameters are name\0value\0
 * pairs). */
static void startup_app(const char *p, size_t len, char *out, size_t size)
{
    const char *end = p + len;
    snprintf(out, size, "%s", "");
    while (p < end && *p != '\0') {
        const char *k = p, *v = memchr(p, '\0', (size_t)(end - p));
        if (v == NULL || ++v >= end) {
            return;
        }
        p = memchr(v, '\0', (size_t)(end - v));
        if (p == NULL) {
            return;
        }
        p++;
        if (strcmp(k, "application_name") == 0) {
            snprintf(out, size, "%s", v);
        }
    }
}

/* Handle the complete messages in data[0..len): returns the bytes used,
 * or -1 to close the connection (after sending what b holds). */
static long handle(struct conn *c, struct buf *b, char *data, size_t len)
{
    size_t used = 0;
    while (used < len) {
        char *m = data + used;
        size_t left = len - used, mlen;
        if (!c->started) {
            uint32_t code;
            if (left < 8) {
                break;
            }
            mlen = get_u32(m);
            if (mlen < 8 || mlen > MAX_MESSAGE) {
                return -1;
            }
            if (left < mlen) {
                break;
            }
            code = get_u32(m + 4);
            if (code == 80877103 || code == 80877104) { /* SSLRequest, GSSENCRequest */
                put_u8(b, 'N');
            } else if (code == 80877102) { /* CancelRequest: nothing runs */
                return -1;
            } else if (code == 196608) { /* protocol 3.0 */
                char app[64];
                startup_app(m + 8, mlen - 8, app, sizeof app);
                c->started = true;
                startup_reply(c, b, app);
            } else {
                error_reply(b, "FATAL", "0A000", "unsupported frontend protocol %u.%u", code >> 16,
                            code & 0xffff);
                return -1;
            }
            used += mlen;
            continue;
        }
        if (left < 5) {
            break;
        }
        mlen = get_u32(m + 1);
        if (mlen < 4 || mlen > MAX_MESSAGE) {
            return -1;
        }
        if (left < mlen + 1) {
            break;
        }
        switch (m[0]) {
            case 'Q':
                m[mlen] = '\0'; /* its last byte, the query's own NUL: whatever was sent */
                query(c, b, m + 5);
                break;
            case 'X':
                return -1;
            case 'S': /* Sync after an extended-protocol message */
                ready(b);
                break;
            case 'H': /* Flush */
                break;
            default:
                error_reply(b, "ERROR", "0A000", "fakepg speaks the simple query protocol only");
                break;
        }
        used += mlen + 1;
    }
    return (long)used;
}

static void want_out(struct conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send b (appended to what waits already); false when the connection
 * failed. */
static bool send_out(struct conn *c, struct buf *b)
{
    const char *p = b->p;
    size_t len = b->len;
    if (c->out_len > 0) {
        char *o = realloc(c->out, c->out_len + len);
        if (o == NULL) {
            die("out of memory");
        }
        memcpy(o + c->out_len, b->p, len);
        c->out = o;
        c->out_len += len;
        return true; /* EPOLLOUT sends it */
    }
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->out = malloc(len);
            if (c->out == NULL) {
                die("out of memory");
            }
            memcpy(c->out, p, len);
            c->out_len = len;
            want_out(c, true);
            return true;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Send what waits; false when the connection failed (and was closed). */
static bool on_writable(struct conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (n <= 0) {
            conn_close(c);
            return false;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    want_out(c, false);
    return true;
}

static void on_readable(struct conn *c)
{
    static char scratch[65536];
    struct buf *b = &g.reply;
    for (;;) {
        ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
        char *data;
        size_t len;
        long used;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            conn_close(c);
            return;
        }
        if (c->in_len > 0) {
            char *in = realloc(c->in, c->in_len + (size_t)n + 1);
            if (in == NULL) {
                die("out of memory");
            }
            memcpy(in + c->in_len, scratch, (size_t)n);
            c->in = in;
            c->in_len += (size_t)n;
            data = c->in;
            len = c->in_len;
        } else {
            data = scratch;
            len = (size_t)n;
        }
        b->len = 0;
        used = handle(c, b, data, len);
        if ((b->len > 0 && !send_out(c, b)) || used < 0) {
            conn_close(c);
            return;
        }
        if ((size_t)used < len) {
            /* A message in pieces: keep its start (one byte more for the
             * NUL the query handler writes). */
            size_t rest = len - (size_t)used;
            if (data == c->in) {
                memmove(c->in, c->in + used, rest);
            } else {
                char *in = realloc(c->in, rest + 1);
                if (in == NULL) {
                    die("out of memory");
                }
                memcpy(in, data + used, rest);
                c->in = in;
            }
            c->in_len = rest;
        } else {
            free(c->in);
            c->in = NULL;
            c->in_len = 0;
        }
        if ((size_t)n < sizeof scratch) {
            return;
        }
    }
}

static void on_accept(int lfd)
{
    for (;;) {
        struct sockaddr_in local;
        socklen_t slen = sizeof local;
        struct epoll_event ev;
        struct conn *c;
        uint32_t node;
        int one = 1;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                fprintf(stderr, "fakepg: accept: %s\n", strerror(errno));
            }
            return;
        }
        /* The address the client reached says which node it wants; only
         * loopback addresses of the layout are nodes. */
        if (getsockname(fd, (struct sockaddr *)&local, &slen) != 0 || local.sin_family != AF_INET ||
            !addr_node(ntohl(local.sin_addr.s_addr), &node)) {
            g.refused++;
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            die("out of memory");
        }
        c->fd = fd;
        c->node = node;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            fprintf(stderr, "fakepg: epoll_ctl: %s\n", strerror(errno));
            conn_close(c);
            continue;
        }
        g.conns++;
    }
}

/* As many descriptors as the hard limit allows, more if we may (root):
 * every monitor keeps one connection per node. */
static void raise_nofile(uint64_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        struct rlimit more = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) {
            return;
        }
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        fprintf(stderr, "fakepg: open-file limit %llu is below the %llu wanted\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "Usage: fakepg --port PORT --nodes N [--per-cluster K] [--monitors M]\n"
            "              [--shards S --shard s]\n"
            "A fake PostgreSQL for scale benchmarks: node i answers on\n"
            "127.(1 + i / 65536).(i / 256 %% 256).(i %% 256):PORT, node i is \"n%%06u\" in\n"
            "cluster \"c%%05u\" (i / K), the first of each cluster its primary (K: 2).\n"
            "M (3): the monitors expected, to size the open-file limit.\n"
            "S processes share the nodes: shard s (0..S-1) serves clusters k with\n"
            "k %% S == s, on its own port.\n");
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct epoll_event ev, events[256];
    int lfd, one = 1;
    unsigned monitors = 3;
    g.per_cluster = 2;
    g.shards = 1;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--port") == 0 && next != NULL) {
            g.port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--nodes") == 0 && next != NULL) {
            g.n_nodes = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--per-cluster") == 0 && next != NULL) {
            g.per_cluster = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--shards") == 0 && next != NULL) {
            g.shards = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--shard") == 0 && next != NULL) {
            g.shard = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--monitors") == 0 && next != NULL) {
            monitors = (unsigned)strtoul(argv[++i], NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (g.port <= 0 || g.port > 65535 || g.n_nodes == 0 || g.n_nodes > 254u * 65536 ||
        g.per_cluster == 0 || g.shards == 0 || g.shard >= g.shards) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    /* Every monitor keeps a connection per node, and opens the next round's
     * before the kept one closes. */
    raise_nofile((uint64_t)g.n_nodes / g.shards * monitors * 2 + 1024);
    nodes_init();
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        die("socket: %s", strerror(errno));
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Every address: 127.0.0.0/8 has no address of its own to bind, and a
     * connection that reached any other address is closed at once. */
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons((uint16_t)g.port);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        die("bind port %d: %s", g.port, strerror(errno));
    }
    if (listen(lfd, 4096) != 0) {
        die("listen: %s", strerror(errno));
    }
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g.epfd < 0) {
        die("epoll_create1: %s", strerror(errno));
    }
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(g.epfd, EPOLL_CTL_ADD, lfd, &ev);
    fprintf(stderr,
            "fakepg: listening on port %d for %" PRIu32 " nodes, %" PRIu32
            " per cluster, shard %" PRIu32 " of %" PRIu32 "\n",
            g.port, g.n_nodes, g.per_cluster, g.shard, g.shards);
    while (!stop) {
        int n = epoll_wait(g.epfd, events, 256, 1000);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait: %s", strerror(errno));
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            if (c == NULL) {
                on_accept(lfd);
                continue;
            }
            if ((events[k].events & EPOLLOUT) && !on_writable(c)) {
                continue;
            }
            if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                on_readable(c); /* reads the end of a closed connection too */
            }
        }
    }
    fprintf(stderr,
            "fakepg: %" PRIu64 " connections, %" PRIu64 " statements, %" PRIu64 " errors, %" PRIu64
            " refused connections\n",
            g.conns, g.queries, g.errors, g.refused);
    return 0;
}
