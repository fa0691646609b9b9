/* The replicated state's life cycle and read-only queries (verdicts, fresh
 * positions, events, replication slot names) and the rules for
 * observations; apply(command) is in cluster.c. See cluster.h for the
 * contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conninfo.h"
#include "lib/util.h"

void state_init(struct state *s)
{
    memset(s, 0, sizeof *s);
    s->feature_level = 1;
    s->events_per_cluster = PGQ_EVENTS_PER_CLUSTER;
    s->events_global = PGQ_EVENTS_GLOBAL;
}

void state_close(struct state *s)
{
    for (unsigned i = 0; i < s->n_clusters; i++) {
        cluster_free(&s->clusters[i]);
        event_ring_close(&s->clusters[i].events);
    }
    free(s->clusters);
    free(s->cluster_index);
    event_ring_close(&s->events);
    event_ring_close(&s->recent);
    free(s->roles);
    free(s->grants);
    state_init(s);
}

void state_move(struct state *dst, struct state *src)
{
    state_close(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

void command_init(struct command *cmd, int kind)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->kind = kind;
}

void command_close(struct command *cmd)
{
    if (cmd->kind == CMD_BATCH) {
        for (unsigned i = 0; i < cmd->u.batch.n; i++) {
            command_close(&cmd->u.batch.cmds[i]);
        }
        free(cmd->u.batch.cmds);
        cmd->u.batch.cmds = NULL;
        cmd->u.batch.n = 0;
    }
    if (cmd->kind == CMD_REPORT) {
        free(cmd->u.report.obs);
        cmd->u.report.obs = NULL;
        cmd->u.report.n_obs = 0;
    }
}

/* ---- storage ----------------------------------------------------------- */

/* Apply must give every monitor the same state: a monitor that could not
 * allocate would diverge from the others for good. Dying instead is the
 * deterministic outcome (it restarts from its log). */
void *state_grow(void *p, size_t size)
{
    void *q = realloc(p, size > 0 ? size : 1);
    if (q == NULL) {
        abort();
    }
    return q;
}

/* Room for one more of n elements of `size` bytes in *cap: doubling, so
 * that appending is O(1) amortized, from one (a cluster of two nodes holds
 * two records of 2.6 KB, not four). */
static void *room_for_one(void *p, unsigned n, unsigned *cap, size_t size)
{
    if (n < *cap) {
        return p;
    }
    *cap = *cap == 0 ? 1 : *cap * 2;
    return state_grow(p, (size_t)*cap * size);
}

/* Names in the indexes: up to a cluster of 8 nodes a walk is as fast. */
#define NODE_INDEX_FROM 8

static unsigned index_cap_for(unsigned n)
{
    unsigned cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    return cap;
}

/* Put entry i (0-based) of hash h into an open-addressing table. */
static void index_put(uint32_t *table, unsigned cap, uint64_t hash, unsigned i)
{
    unsigned h = (unsigned)hash & (cap - 1);
    while (table[h] != 0) {
        h = (h + 1) & (cap - 1);
    }
    table[h] = i + 1;
}

uint64_t node_addr_key(const char *conninfo)
{
    struct conninfo ci;
    char key[sizeof ci.host + sizeof ci.port + 1];
    if (conninfo_parse(conninfo, &ci, NULL, 0) != 0) {
        return 0;
    }
    snprintf(key, sizeof key, "%s\n%s", ci.host, ci.port);
    return pgq_fnv1a(key) | 1; /* never 0: 0 is "no address" */
}

static uint64_t slot_key(const char *node)
{
    char slot[PGQ_SLOT_NAME_MAX];
    pgq_slot_name(node, slot, sizeof slot);
    return pgq_fnv1a(slot);
}

static void node_put(struct cluster *c, unsigned i)
{
    index_put(c->node_index, c->node_index_cap, pgq_fnv1a(c->nodes[i].name), i);
    if (c->nodes[i].addr_key != 0) {
        index_put(c->node_index + c->node_index_cap, c->node_index_cap, c->nodes[i].addr_key, i);
    }
    index_put(c->node_index + 2 * c->node_index_cap, c->node_index_cap, slot_key(c->nodes[i].name),
              i);
}

const struct node *cluster_slot_taken(const struct cluster *c, const char *node)
{
    char mine[PGQ_SLOT_NAME_MAX], other[PGQ_SLOT_NAME_MAX];
    pgq_slot_name(node, mine, sizeof mine);
    if (c->node_index == NULL) {
        for (unsigned i = 0; i < c->n_nodes; i++) {
            pgq_slot_name(c->nodes[i].name, other, sizeof other);
            if (strcmp(c->nodes[i].name, node) != 0 && strcmp(mine, other) == 0) {
                return &c->nodes[i];
            }
        }
        return NULL;
    }
    {
        const uint32_t *table = c->node_index + 2 * c->node_index_cap;
        unsigned h = (unsigned)pgq_fnv1a(mine) & (c->node_index_cap - 1);
        for (uint32_t i; (i = table[h]) != 0; h = (h + 1) & (c->node_index_cap - 1)) {
            const struct node *n = &c->nodes[i - 1];
            pgq_slot_name(n->name, other, sizeof other);
            if (strcmp(n->name, node) != 0 && strcmp(mine, other) == 0) {
                return n;
            }
        }
    }
    return NULL;
}

void cluster_reindex(struct cluster *c)
{
    if (c->n_nodes <= NODE_INDEX_FROM) {
        free(c->node_index);
        c->node_index = NULL;
        c->node_index_cap = 0;
        return;
    }
    if (c->node_index_cap < 2 * c->n_nodes) {
        c->node_index_cap = index_cap_for(c->n_nodes);
        free(c->node_index);
        c->node_index = state_grow(NULL, 3 * c->node_index_cap * sizeof *c->node_index);
    }
    memset(c->node_index, 0, 3 * c->node_index_cap * sizeof *c->node_index);
    for (unsigned i = 0; i < c->n_nodes; i++) {
        node_put(c, i);
    }
}

void state_reindex(struct state *s)
{
    if (s->cluster_index_cap < 2 * s->n_clusters || s->cluster_index == NULL) {
        s->cluster_index_cap = index_cap_for(s->n_clusters);
        free(s->cluster_index);
        s->cluster_index = state_grow(NULL, s->cluster_index_cap * sizeof *s->cluster_index);
    }
    memset(s->cluster_index, 0, s->cluster_index_cap * sizeof *s->cluster_index);
    for (unsigned i = 0; i < s->n_clusters; i++) {
        struct cluster *c = &s->clusters[i];
        index_put(s->cluster_index, s->cluster_index_cap, pgq_fnv1a(c->name), i);
        for (unsigned k = 0; k < c->n_nodes; k++) {
            c->nodes[k].addr_key = node_addr_key(c->nodes[k].conninfo);
        }
        cluster_reindex(c);
    }
}

struct cluster *state_add_cluster(struct state *s, const char *name)
{
    struct cluster *c;
    s->clusters = room_for_one(s->clusters, s->n_clusters, &s->clusters_cap, sizeof *s->clusters);
    c = &s->clusters[s->n_clusters++];
    memset(c, 0, sizeof *c);
    pgq_strlcpy(c->name, name, sizeof c->name);
    if (s->cluster_index_cap < 2 * s->n_clusters || s->cluster_index == NULL) {
        state_reindex(s);
    } else {
        index_put(s->cluster_index, s->cluster_index_cap, pgq_fnv1a(c->name), s->n_clusters - 1);
    }
    return c;
}

struct node *cluster_add_node(struct cluster *c, const char *name, const char *conninfo)
{
    struct node *n;
    c->nodes = room_for_one(c->nodes, c->n_nodes, &c->nodes_cap, sizeof *c->nodes);
    n = &c->nodes[c->n_nodes++];
    memset(n, 0, sizeof *n);
    pgq_strlcpy(n->name, name, sizeof n->name);
    node_set_conninfo(n, conninfo);
    n->addr_key = node_addr_key(conninfo);
    if (c->n_nodes > NODE_INDEX_FROM && c->node_index_cap >= 2 * c->n_nodes) {
        node_put(c, c->n_nodes - 1);
    } else if (c->n_nodes > NODE_INDEX_FROM) {
        cluster_reindex(c);
    }
    return n;
}

const struct node *cluster_node_at(const struct cluster *c, const char *conninfo)
{
    uint64_t key = node_addr_key(conninfo);
    if (key == 0) {
        return NULL;
    }
    if (c->node_index == NULL) {
        for (unsigned i = 0; i < c->n_nodes; i++) {
            if (c->nodes[i].addr_key == key &&
                conninfo_same_address(c->nodes[i].conninfo, conninfo)) {
                return &c->nodes[i];
            }
        }
        return NULL;
    }
    {
        const uint32_t *table = c->node_index + c->node_index_cap;
        unsigned h = (unsigned)key & (c->node_index_cap - 1);
        for (uint32_t i; (i = table[h]) != 0; h = (h + 1) & (c->node_index_cap - 1)) {
            const struct node *n = &c->nodes[i - 1];
            if (n->addr_key == key && conninfo_same_address(n->conninfo, conninfo)) {
                return n;
            }
        }
    }
    return NULL;
}

/* ---- views ---------------------------------------------------------------- */

static const char no_text[] = "";

static void text_set(const char **dst, const char *src)
{
    size_t len = strlen(src);
    if (*dst != NULL && strcmp(*dst, src) == 0) {
        return; /* the same again: most reports change no string */
    }
    if (*dst != NULL && *dst != no_text) {
        free((char *)*dst);
    }
    if (len == 0) {
        *dst = no_text;
        return;
    }
    *dst = memcpy(state_grow(NULL, len + 1), src, len + 1);
}

static void text_free(const char **t)
{
    if (*t != NULL && *t != no_text) {
        free((char *)*t);
    }
    *t = NULL;
}

/* The strings of struct view_obs, by member: one list for set, get, clear. */
#define VIEW_TEXTS(X) \
    X(node)           \
    X(error)          \
    X(upstream)       \
    X(sync_standbys)  \
    X(lost_slots)     \
    X(sync_setting)   \
    X(replicas)

/* And its numbers. */
#define VIEW_NUMBERS(X) \
    X(reachable)        \
    X(in_recovery)      \
    X(timeline)         \
    X(current_lsn)      \
    X(receive_lsn)      \
    X(replay_lsn)       \
    X(streaming)        \
    X(cache_hit_bp)     \
    X(index_hit_bp)     \
    X(connections)      \
    X(read_only)        \
    X(probed_ms)        \
    X(basis_seq)        \
    X(server_version)   \
    X(upstream_lsn)     \
    X(failing_since_ms) \
    X(failing_ms)       \
    X(system_id)        \
    X(addr_hash)        \
    X(port)             \
    X(data_dir_hash)    \
    X(slot_use)         \
    X(overload_ms)

#if defined(__x86_64__)
_Static_assert(
    sizeof(struct obs) == 3128,
    "a member added to struct obs goes in struct view_obs, VIEW_TEXTS or VIEW_NUMBERS too");
#endif

void view_obs_set(struct view_obs *v, const struct obs *o)
{
#define SET_TEXT(f) text_set(&v->f, o->f);
#define SET_NUMBER(f) v->f = o->f;
    VIEW_TEXTS(SET_TEXT)
    VIEW_NUMBERS(SET_NUMBER)
#undef SET_TEXT
#undef SET_NUMBER
}

/* An empty slot's strings are "" as those of a zeroed struct obs were. */
static void view_obs_init(struct view_obs *v)
{
#define INIT_TEXT(f) v->f = no_text;
    VIEW_TEXTS(INIT_TEXT)
#undef INIT_TEXT
}

void view_obs_get(const struct view_obs *v, struct obs *o)
{
    memset(o, 0, sizeof *o);
#define GET_TEXT(f) pgq_strlcpy(o->f, v->f != NULL ? v->f : "", sizeof o->f);
#define GET_NUMBER(f) o->f = v->f;
    VIEW_TEXTS(GET_TEXT)
    VIEW_NUMBERS(GET_NUMBER)
#undef GET_TEXT
#undef GET_NUMBER
}

void view_obs_clear(struct view_obs *v)
{
#define CLEAR_TEXT(f) text_free(&v->f);
    VIEW_TEXTS(CLEAR_TEXT)
#undef CLEAR_TEXT
    memset(v, 0, sizeof *v);
}

void node_set_conninfo(struct node *n, const char *conninfo)
{
    text_set(&n->conninfo, conninfo);
}

void node_free(struct node *n)
{
    node_views_free(n);
    text_free(&n->conninfo);
}

void node_views_free(struct node *n)
{
    for (unsigned i = 0; i < n->n_views; i++) {
        view_obs_clear(&n->views[i].obs);
    }
    free(n->views);
    n->views = NULL;
    n->n_views = 0;
}

void cluster_drop_node(struct cluster *c, unsigned i)
{
    struct node *n = &c->nodes[i];
    node_free(n);
    memmove(n, n + 1, (size_t)(c->n_nodes - i - 1) * sizeof *n);
    c->n_nodes--;
    cluster_reindex(c);
}

void cluster_free(struct cluster *c)
{
    for (unsigned i = 0; i < c->n_nodes; i++) {
        node_free(&c->nodes[i]);
    }
    free(c->nodes);
    free(c->node_index);
    free(c->sync.retiring);
    c->nodes = NULL;
    c->node_index = NULL;
    c->sync.retiring = NULL;
    c->sync.n_retiring = 0;
    c->n_nodes = c->nodes_cap = c->node_index_cap = 0;
}

struct view *node_view_slot(const struct state *s, struct node *n, uint64_t monitor_id)
{
    struct view *empty = NULL, *departed = NULL;
    for (unsigned i = 0; i < n->n_views; i++) {
        if (n->views[i].monitor_id == monitor_id) {
            return &n->views[i];
        }
        if (n->views[i].monitor_id == 0 && empty == NULL) {
            empty = &n->views[i];
        }
        if (n->views[i].monitor_id != 0 && departed == NULL &&
            !state_is_voter(s, n->views[i].monitor_id)) {
            departed = &n->views[i];
        }
    }
    /* The slots past n_views are empty: the first of them comes after
     * every slot above, as in a fixed array of PGQ_MAX_MONITORS. */
    if (empty == NULL && n->n_views < PGQ_MAX_MONITORS) {
        n->views = state_grow(n->views, (n->n_views + 1) * sizeof *n->views);
        empty = &n->views[n->n_views++];
        memset(empty, 0, sizeof *empty);
        view_obs_init(&empty->obs);
    }
    /* Views of monitors that left the voters count for nothing; once every
     * slot is taken they make room, or a new voter's reports would be
     * dropped forever after enough monitor replacements. */
    return empty != NULL ? empty : departed;
}

/* ---- look-ups ----------------------------------------------------------- */

int command_copy(struct command *dst, const struct command *src)
{
    *dst = *src;
    if (src->kind == CMD_REPORT && src->u.report.n_obs == 0) {
        dst->u.report.obs = NULL; /* owns nothing */
    } else if (src->kind == CMD_BATCH && src->u.batch.n == 0) {
        dst->u.batch.cmds = NULL;
    }
    if (src->kind == CMD_REPORT && src->u.report.n_obs > 0) {
        dst->u.report.obs = malloc(src->u.report.n_obs * sizeof *src->u.report.obs);
        if (dst->u.report.obs == NULL) {
            dst->u.report.n_obs = 0;
            return PGQ_NOMEM;
        }
        memcpy(dst->u.report.obs, src->u.report.obs,
               src->u.report.n_obs * sizeof *src->u.report.obs);
    } else if (src->kind == CMD_BATCH && src->u.batch.n > 0) {
        dst->u.batch.cmds = calloc(src->u.batch.n, sizeof *src->u.batch.cmds);
        dst->u.batch.n = 0;
        if (dst->u.batch.cmds == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < src->u.batch.n; i++) {
            dst->u.batch.n = i + 1;
            if (command_copy(&dst->u.batch.cmds[i], &src->u.batch.cmds[i]) != 0) {
                command_close(dst);
                return PGQ_NOMEM;
            }
        }
    }
    return 0;
}

struct cluster *state_cluster(const struct state *s, const char *name)
{
    unsigned h;
    if (s->cluster_index == NULL) {
        return NULL; /* no cluster was ever added */
    }
    h = (unsigned)pgq_fnv1a(name) & (s->cluster_index_cap - 1);
    for (uint32_t i; (i = s->cluster_index[h]) != 0; h = (h + 1) & (s->cluster_index_cap - 1)) {
        if (strcmp(s->clusters[i - 1].name, name) == 0) {
            return &s->clusters[i - 1];
        }
    }
    return NULL;
}

struct node *cluster_node(const struct cluster *c, const char *name)
{
    unsigned h;
    if (c == NULL) {
        return NULL;
    }
    if (c->node_index == NULL) {
        for (unsigned i = 0; i < c->n_nodes; i++) {
            if (strcmp(c->nodes[i].name, name) == 0) {
                return &c->nodes[i];
            }
        }
        return NULL;
    }
    h = (unsigned)pgq_fnv1a(name) & (c->node_index_cap - 1); /* the first table: names */
    for (uint32_t i; (i = c->node_index[h]) != 0; h = (h + 1) & (c->node_index_cap - 1)) {
        if (strcmp(c->nodes[i - 1].name, name) == 0) {
            return &c->nodes[i - 1];
        }
    }
    return NULL;
}

const struct member *state_member(const struct state *s, uint64_t id)
{
    for (unsigned i = 0; i < s->n_monitors; i++) {
        if (s->monitors[i].id == id) {
            return &s->monitors[i];
        }
    }
    return NULL;
}

unsigned state_n_voters(const struct state *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_monitors; i++) {
        n += s->monitors[i].voter ? 1u : 0u;
    }
    return n;
}

unsigned state_majority(const struct state *s)
{
    return state_n_voters(s) / 2 + 1;
}

bool state_is_voter(const struct state *s, uint64_t monitor_id)
{
    const struct member *m = state_member(s, monitor_id);
    return m != NULL && m->voter;
}

int cluster_verdict(const struct state *s, const struct node *n)
{
    unsigned up = 0, down = 0;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id == 0 || !state_is_voter(s, v->monitor_id)) {
            continue;
        }
        /* Level 6: a probe that timed out while the monitor's own loop ran
         * late says nothing either way (its failure may be the monitor's
         * overload): neither up nor down. */
        if (!v->obs.reachable && v->obs.overload_ms != 0 && s->feature_level >= 6) {
            continue;
        }
        if (v->obs.reachable) {
            up++;
        } else {
            down++;
        }
    }
    /* Invariant 2: a node is down only when a majority of voters saw it down. */
    if (down >= state_majority(s)) {
        return PGQ_VERDICT_DOWN;
    }
    return up > 0 ? PGQ_VERDICT_UP : PGQ_VERDICT_UNKNOWN;
}

bool node_fresh_position(const struct node *n, uint64_t seq, uint64_t *lsn)
{
    bool found = false;
    *lsn = 0;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view_obs *o = &n->views[i].obs;
        uint64_t pos;
        if (n->views[i].monitor_id == 0 || !o->reachable || !o->in_recovery || o->basis_seq < seq) {
            continue;
        }
        pos = PGQ_MAX(o->receive_lsn, o->replay_lsn);
        if (!found || pos > *lsn) {
            *lsn = pos;
        }
        found = true;
    }
    return found;
}

const struct view *node_latest_view(const struct node *n)
{
    const struct view *best = NULL;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id != 0 && (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best;
}

bool obs_writable(const struct obs *o)
{
    return o->reachable && !o->in_recovery && !o->read_only;
}

bool view_obs_writable(const struct view_obs *o)
{
    return o->reachable && !o->in_recovery && !o->read_only;
}

/* The body of obs_same_server() for both kinds of observation. */
#define SAME_SERVER(a, b)                                                                 \
    ((a)->system_id != 0 && (a)->system_id == (b)->system_id && (a)->port == (b)->port && \
     ((a)->addr_hash == 0 || (b)->addr_hash == 0 || (a)->addr_hash == (b)->addr_hash) &&  \
     ((a)->data_dir_hash == 0 || (b)->data_dir_hash == 0 ||                               \
      (a)->data_dir_hash == (b)->data_dir_hash))

bool obs_same_server(const struct obs *a, const struct obs *b)
{
    return SAME_SERVER(a, b);
}

bool view_obs_same_server(const struct view_obs *a, const struct obs *b)
{
    return SAME_SERVER(a, b);
}

bool node_identity_foreign(const struct node *n, uint64_t id)
{
    return n->system_id != 0 && id != 0 && id != n->system_id;
}

bool node_impostor(const struct node *n)
{
    /* A refused view is kept unreachable with the identifier it saw
     * (cluster.c: refuse_foreign), so that it is known for what it is. */
    for (unsigned k = 0; k < n->n_views; k++) {
        if (n->views[k].monitor_id != 0 && node_identity_foreign(n, n->views[k].obs.system_id)) {
            return true;
        }
    }
    return n->agent.state != PGQ_AGENT_NONE && node_identity_foreign(n, n->agent.system_id);
}

bool node_rogue(const struct cluster *c, const struct node *n, const struct obs *o)
{
    /* Invariant 7 of the issue list: a node's twin (the same server under
     * another name) is never fenced for being the primary it is; nor is a
     * server of another system identifier that answers at a node's address:
     * it is not the node, and nothing of ours to act on. */
    return c->primary[0] != '\0' && strcmp(c->primary, n->name) != 0 && n->twin_of[0] == '\0' &&
           !node_identity_foreign(n, o->system_id) && obs_writable(o);
}

bool state_obs_refused(const struct state *s, const char *cluster, const struct obs *o)
{
    const struct node *n = cluster_node(state_cluster(s, cluster), o->node);
    return s->feature_level >= 5 && n != NULL && o->reachable &&
           node_identity_foreign(n, o->system_id);
}

bool state_obs_alerts(const struct state *s, const char *cluster, const struct obs *o)
{
    const struct cluster *c = state_cluster(s, cluster);
    const struct node *n = cluster_node(c, o->node);
    return n != NULL && node_rogue(c, n, o) && !n->alert_writable;
}

/* The body of obs_lag() for both kinds of observation. */
#define OBS_LAG(o)                                              \
    (!(o)->reachable || !(o)->in_recovery || !(o)->streaming || \
             (o)->upstream_lsn <= (o)->receive_lsn              \
         ? 0                                                    \
         : (o)->upstream_lsn - (o)->receive_lsn)

uint64_t obs_lag(const struct obs *o)
{
    return OBS_LAG(o);
}

uint64_t view_obs_lag(const struct view_obs *o)
{
    return OBS_LAG(o);
}

static uint64_t fnv_more(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= 0xffu; /* a byte no string holds: "a" + "b" is not "ab" + "" */
    return h * 0x100000001b3ULL;
}

void obs_digest_of(const struct obs *o, struct obs_digest *d)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    memset(d, 0, sizeof *d);
    d->reachable = o->reachable;
    d->in_recovery = o->in_recovery;
    d->streaming = o->streaming;
    d->read_only = o->read_only;
    d->slot_use = o->slot_use;
    d->timeline = o->timeline;
    d->current_lsn = o->current_lsn;
    d->lag = obs_lag(o);
    h = fnv_more(h, o->upstream);
    h = fnv_more(h, o->sync_standbys);
    h = fnv_more(h, o->lost_slots);
    h = fnv_more(h, o->sync_setting);
    d->strings = fnv_more(h, o->replicas);
}

bool obs_digest_due(const struct obs_digest *prev, const struct obs *cur, uint64_t wal_step)
{
    struct obs_digest c;
    obs_digest_of(cur, &c);
    if (prev->reachable != c.reachable || prev->in_recovery != c.in_recovery ||
        prev->timeline != c.timeline || prev->streaming != c.streaming ||
        prev->read_only != c.read_only || prev->slot_use != c.slot_use ||
        prev->strings != c.strings) {
        return true;
    }
    /* The primary's last committed position is what max_lag_on_failover is
     * measured against when it dies: keep it within wal_step of the truth
     * as of the last probe. */
    if (c.reachable && !c.in_recovery && c.current_lsn > prev->current_lsn &&
        c.current_lsn - prev->current_lsn >= wal_step) {
        return true;
    }
    return (prev->lag > wal_step) != (c.lag > wal_step);
}

bool obs_report_due(const struct obs *prev, const struct obs *cur, uint64_t wal_step)
{
    struct obs_digest d;
    obs_digest_of(prev, &d);
    return obs_digest_due(&d, cur, wal_step);
}

/* ---- replication slots -------------------------------------------------- */

void pgq_slot_name(const char *node, char *buf, size_t size)
{
    size_t n = 0, max = PGQ_MIN(size, (size_t)PGQ_SLOT_NAME_MAX);
    if (size == 0) {
        return;
    }
    for (const char *p = "pgq_"; *p != '\0' && n + 1 < max; p++) {
        buf[n++] = *p;
    }
    for (const char *p = node; *p != '\0' && n + 1 < max; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        buf[n++] = ok ? c : '_';
    }
    buf[n] = '\0';
}

/* The most recently committed view that reached the node (NULL if none). */
static const struct view *latest_reached(const struct node *n)
{
    const struct view *best = NULL;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id != 0 && v->obs.reachable &&
            (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best;
}

bool node_slot_denied(const struct node *n)
{
    const struct view *v = latest_reached(n);
    return v != NULL && v->obs.slot_use == PGQ_SLOT_USE_DENIED;
}

bool cluster_node_slot(const struct cluster *c, const struct node *n, char *buf, size_t size)
{
    char other[PGQ_SLOT_NAME_MAX];
    pgq_slot_name(n->name, buf, size);
    if (n->twin_of[0] != '\0' || node_slot_denied(n)) {
        return false;
    }
    /* Two nodes whose names differ only in case or punctuation would share
     * one slot, and the second standby could never stream: neither gets
     * one (node add refuses such a name; older registrations may have). */
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *m = &c->nodes[i];
        if (m == n || m->twin_of[0] != '\0' || node_slot_denied(m)) {
            continue;
        }
        pgq_slot_name(m->name, other, sizeof other);
        if (strcmp(other, buf) == 0) {
            return false;
        }
    }
    return true;
}

bool cluster_slot_lost(const struct cluster *c, const struct node *n)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct view *best = NULL;
    char slot[PGQ_SLOT_NAME_MAX];
    if (p == NULL || p == n || !cluster_node_slot(c, n, slot, sizeof slot)) {
        return false;
    }
    for (unsigned i = 0; i < p->n_views; i++) {
        const struct view *v = &p->views[i];
        if (v->monitor_id != 0 && v->obs.reachable && !v->obs.in_recovery &&
            (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best != NULL && pgq_name_listed(best->obs.lost_slots, slot);
}
