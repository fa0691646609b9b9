/* The committed history: events, where apply keeps them and how they are
 * listed (see cluster.h).
 *
 * Below feature level 6 every event goes to one ring of PGQ_MAX_EVENTS in
 * the state, as it always did. From level 6 each cluster keeps its own
 * history, bounded by state.events_per_cluster, so that one cluster's
 * registrations or flapping never push another's failover out; the events
 * of no cluster (a leader's hello, the feature level, audit records, a
 * cluster's removal) and of clusters that do not exist (an audit record of
 * a request naming one) keep theirs in the state's ring, bounded by
 * state.events_global. The bounds are part of the replicated state: apply
 * drops the same events on every monitor.
 *
 * An event is one allocation sized to its strings (about 100 bytes and its
 * message, against 880 for the fixed arrays of the first format). The
 * recent index (state.recent, the latest PGQ_EVENTS_RECENT of all) shares
 * them by reference: the monitor finds what was applied since a seq there,
 * without a walk over every history. It is not replicated; a decode
 * rebuilds it from the histories. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cluster.h"
#include "cluster_internal.h"
#include "lib/util.h"

/* ---- events and rings ----------------------------------------------------- */

static size_t len0(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 1;
}

static const char *pack(char **at, const char *s)
{
    const char *start = *at;
    size_t n = len0(s);
    memcpy(*at, s != NULL ? s : "", n);
    *at += n;
    return start;
}

struct event *event_new(uint64_t seq,
                        uint64_t time_ms,
                        const char *cluster,
                        const char *node,
                        int kind,
                        const char *message,
                        uint64_t duration_ms,
                        uint64_t epoch,
                        const char *who,
                        const char *from,
                        int action,
                        const char *outcome)
{
    size_t text =
        len0(cluster) + len0(node) + len0(message) + len0(who) + len0(from) + len0(outcome);
    struct event *e = malloc(sizeof *e + text);
    char *at;
    if (e == NULL) {
        return NULL;
    }
    at = (char *)(e + 1);
    e->seq = seq;
    e->time_ms = time_ms;
    e->duration_ms = duration_ms;
    e->epoch = epoch;
    e->kind = kind;
    e->action = action;
    e->refs = 0;
    e->cluster = pack(&at, cluster);
    e->node = pack(&at, node);
    e->message = pack(&at, message);
    e->who = pack(&at, who);
    e->from = pack(&at, from);
    e->outcome = pack(&at, outcome);
    return e;
}

static void event_unref(struct event *e)
{
    if (e != NULL && --e->refs == 0) {
        free(e);
    }
}

const struct event *event_ring_at(const struct event_ring *r, unsigned i)
{
    return i < r->n ? r->ev[(r->head + i) % r->cap] : NULL;
}

const struct event *event_ring_last(const struct event_ring *r)
{
    return r->n > 0 ? event_ring_at(r, r->n - 1) : NULL;
}

/* Drop the oldest event. */
static void ring_drop(struct event_ring *r)
{
    event_unref(r->ev[r->head]);
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

/* Room for cap events, in order from index 0 (cap >= r->n). */
static int ring_resize(struct event_ring *r, unsigned cap)
{
    struct event **ev = cap > 0 ? malloc((size_t)cap * sizeof *ev) : NULL;
    if (cap > 0 && ev == NULL) {
        return PGQ_NOMEM;
    }
    for (unsigned i = 0; i < r->n; i++) {
        ev[i] = r->ev[(r->head + i) % r->cap];
    }
    free(r->ev);
    r->ev = ev;
    r->cap = cap;
    r->head = 0;
    return 0;
}

int event_ring_push(struct event_ring *r, struct event *e, unsigned bound)
{
    while (bound != 0 && r->n >= bound) {
        ring_drop(r);
    }
    if (r->n == r->cap) {
        /* Grown as events come, never reserved whole: most clusters keep a
         * few events, a flapping one its bound. */
        unsigned cap = r->cap < 8 ? 8 : 2 * r->cap;
        if (bound != 0 && cap > bound) {
            cap = bound;
        }
        if (ring_resize(r, cap) != 0) {
            if (e->refs == 0) {
                free(e);
            }
            return PGQ_NOMEM;
        }
    }
    r->ev[(r->head + r->n) % r->cap] = e;
    r->n++;
    e->refs++;
    return 0;
}

/* At most bound events (the oldest dropped), and no more room than that. */
static void ring_trim(struct event_ring *r, unsigned bound)
{
    while (r->n > bound) {
        ring_drop(r);
    }
    if (r->cap > bound && ring_resize(r, bound) != 0) {
        abort(); /* apply must not diverge: see cluster.c grow() */
    }
}

void event_ring_close(struct event_ring *r)
{
    while (r->n > 0) {
        ring_drop(r);
    }
    free(r->ev);
    memset(r, 0, sizeof *r);
}

int event_ring_copy(struct event_ring *dst, const struct event_ring *src)
{
    memset(dst, 0, sizeof *dst);
    if (src->n == 0) {
        return 0;
    }
    dst->ev = malloc((size_t)src->n * sizeof *dst->ev);
    if (dst->ev == NULL) {
        return PGQ_NOMEM;
    }
    for (unsigned i = 0; i < src->n; i++) {
        dst->ev[i] = src->ev[(src->head + i) % src->cap];
        dst->ev[i]->refs++;
    }
    dst->n = dst->cap = src->n;
    return 0;
}

void event_ring_filter(struct event_ring *r,
                       bool (*keep)(const struct event *e, void *arg),
                       void *arg)
{
    unsigned kept = 0;
    if (r->n == 0 || ring_resize(r, r->cap) != 0) {
        return;
    }
    for (unsigned i = 0; i < r->n; i++) {
        struct event *e = r->ev[i];
        if (keep(e, arg)) {
            r->ev[kept++] = e;
        } else {
            event_unref(e);
        }
    }
    r->n = kept;
}

/* ---- apply's side ----------------------------------------------------------- */

/* The ring an event of `cluster` goes to, and its bound. */
static struct event_ring *ring_of(struct state *s, const char *cluster, int kind, unsigned *bound)
{
    struct cluster *c;
    if (s->feature_level >= 6 && kind != PGQ_EV_AUDIT && cluster[0] != '\0' &&
        (c = state_cluster(s, cluster)) != NULL) {
        *bound = s->events_per_cluster;
        return &c->events;
    }
    *bound = s->feature_level >= 6 ? s->events_global : PGQ_MAX_EVENTS;
    return &s->events;
}

void cluster_event(struct state *s,
                   const char *cluster,
                   const char *node,
                   int kind,
                   uint64_t epoch,
                   uint64_t duration_ms,
                   const char *fmt,
                   ...)
{
    const struct command *cmd = s->applying;
    const char *who = "", *from = "", *outcome = "";
    char message[PGQ_REASON_MAX];
    struct event_ring *ring;
    struct event *e;
    unsigned bound;
    int action = AUTHZ_NONE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    cluster = cluster != NULL ? cluster : "";
    /* Level 5: the events of a client's write say who asked, from where,
     * what, and that it was done ("ok"); an audit record, how it ended. */
    if (cmd != NULL && cmd->who[0] != '\0') {
        who = cmd->who;
        from = cmd->from;
        outcome = cmd->kind == CMD_AUDIT ? cmd->u.audit.outcome
                  : cmd->kind == CMD_MEMBER && cmd->u.member.step == PGQ_MEMBER_FAILED ? "failed"
                                                                                       : "ok";
        action = authz_action_of_command(cmd);
    }
    e = event_new(++s->event_seq, s->time_ms, cluster, node, kind, message, duration_ms, epoch, who,
                  from, action, outcome);
    ring = ring_of(s, cluster, kind, &bound);
    /* Apply must give every monitor the same state: dying is the
     * deterministic outcome of an allocation that failed (cluster.c). */
    if (e == NULL || event_ring_push(ring, e, bound) != 0 ||
        event_ring_push(&s->recent, e, PGQ_EVENTS_RECENT) != 0) {
        abort();
    }
}

void events_cluster_free(struct state *s, struct cluster *c)
{
    (void)s;
    event_ring_close(&c->events); /* the recent index keeps its own references */
}

void events_level_raised(struct state *s, unsigned from)
{
    struct event_ring old = s->events;
    if (from >= 6 || s->feature_level < 6) {
        return;
    }
    /* Each cluster's events move to its own history, in order; the rest
     * stay (the same on every monitor: this is apply). */
    memset(&s->events, 0, sizeof s->events);
    for (unsigned i = 0; i < old.n; i++) {
        struct event *e = old.ev[(old.head + i) % old.cap];
        unsigned bound = 0; /* set by ring_of() */
        if (event_ring_push(ring_of(s, e->cluster, e->kind, &bound), e, bound) != 0) {
            abort();
        }
    }
    event_ring_close(&old);
}

void events_set_bounds(struct state *s, unsigned per_cluster, unsigned global)
{
    if (per_cluster != 0 && per_cluster != s->events_per_cluster) {
        s->events_per_cluster = per_cluster;
        for (unsigned i = 0; i < s->n_clusters; i++) {
            ring_trim(&s->clusters[i].events, per_cluster);
        }
    }
    if (global != 0 && global != s->events_global) {
        s->events_global = global;
        if (s->feature_level >= 6) {
            ring_trim(&s->events, global);
        }
    }
}

/* ---- listing ------------------------------------------------------------------ */

const struct event *state_event_last(const struct state *s)
{
    return event_ring_last(&s->recent);
}

void event_list_free(struct event_list *l)
{
    free(l->ev);
    l->ev = NULL;
    l->n = 0;
}

/* A cursor on one ring, from its newest event back; the global ring's skips
 * events of other clusters when one is listed. */
struct cursor
{
    const struct event_ring *r;
    unsigned left; /* events not yet taken: the next is r[left - 1] */
};

static const struct event *cursor_peek(struct cursor *k, const char *only)
{
    while (k->left > 0) {
        const struct event *e = event_ring_at(k->r, k->left - 1);
        if (only == NULL || e->cluster[0] == '\0' || strcmp(e->cluster, only) == 0) {
            return e;
        }
        k->left--;
    }
    return NULL;
}

/* A max-heap of cursors by the seq of their next event. */
static void heap_down(struct cursor *h, unsigned n, unsigned i)
{
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, m = i;
        if (l < n &&
            event_ring_at(h[l].r, h[l].left - 1)->seq > event_ring_at(h[m].r, h[m].left - 1)->seq) {
            m = l;
        }
        if (r < n &&
            event_ring_at(h[r].r, h[r].left - 1)->seq > event_ring_at(h[m].r, h[m].left - 1)->seq) {
            m = r;
        }
        if (m == i) {
            return;
        }
        struct cursor t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Take the latest `max` events of `only` (NULL: every cluster) newest
 * first: a heap of cursors, one per history with an event left to take
 * (the global ring's peeked, it alone filtered, before it goes in). */
static int merge(const struct state *s,
                 const char *only,
                 size_t max,
                 bool (*take)(void *arg, const struct event *e),
                 void *arg)
{
    const struct cluster *c = only != NULL ? state_cluster(s, only) : NULL;
    unsigned n_h = 0, n_rings = only != NULL ? (c != NULL ? 1u : 0u) : s->n_clusters;
    size_t taken = 0;
    struct cursor *h = malloc((size_t)(n_rings + 1) * sizeof *h);
    if (h == NULL) {
        return PGQ_NOMEM;
    }
    h[0].r = &s->events;
    h[0].left = s->events.n;
    if (cursor_peek(&h[0], only) != NULL) {
        n_h++;
    }
    for (unsigned i = 0; i < n_rings; i++) {
        const struct event_ring *r = only != NULL ? &c->events : &s->clusters[i].events;
        if (r->n > 0) {
            h[n_h].r = r;
            h[n_h].left = r->n;
            n_h++;
        }
    }
    for (unsigned i = n_h / 2; i-- > 0;) {
        heap_down(h, n_h, i);
    }
    while (n_h > 0 && taken < max) {
        if (!take(arg, event_ring_at(h[0].r, h[0].left - 1))) {
            break;
        }
        taken++;
        h[0].left--;
        if (h[0].r == &s->events ? cursor_peek(&h[0], only) == NULL : h[0].left == 0) {
            h[0] = h[--n_h];
        }
        heap_down(h, n_h, 0);
    }
    free(h);
    return 0;
}

static bool take_listed(void *arg, const struct event *e)
{
    struct event_list *l = arg;
    l->ev[l->n++] = e;
    return true;
}

int state_events_list(const struct state *s,
                      const char *cluster,
                      unsigned limit,
                      struct event_list *out)
{
    unsigned max = limit == 0 || limit > PGQ_EVENTS_LIST_MAX ? PGQ_EVENTS_LIST_MAX : limit;
    const char *only = cluster != NULL && cluster[0] != '\0' ? cluster : NULL;
    size_t have = s->events.n;
    out->ev = NULL;
    out->n = 0;
    if (only != NULL) {
        const struct cluster *c = state_cluster(s, only);
        have += c != NULL ? c->events.n : 0;
    } else {
        for (unsigned i = 0; i < s->n_clusters; i++) {
            have += s->clusters[i].events.n;
        }
    }
    max = (unsigned)PGQ_MIN((size_t)max, have);
    out->ev = malloc((size_t)(max + 1) * sizeof *out->ev);
    if (out->ev == NULL || merge(s, only, max, take_listed, out) != 0) {
        event_list_free(out);
        return PGQ_NOMEM;
    }
    /* Newest first so far: oldest first, as listed. */
    for (unsigned i = 0; i < out->n / 2; i++) {
        const struct event *t = out->ev[i];
        out->ev[i] = out->ev[out->n - 1 - i];
        out->ev[out->n - 1 - i] = t;
    }
    return 0;
}

struct seq_check
{
    uint64_t below; /* every seq taken so far is below this */
    uint64_t bad;   /* the first seq out of order (0: none) */
};

static bool take_checked(void *arg, const struct event *e)
{
    struct seq_check *k = arg;
    if (e->seq == 0 || e->seq >= k->below) {
        k->bad = e->seq;
        return false;
    }
    k->below = e->seq;
    return true;
}

int state_events_check(const struct state *s, uint64_t *bad)
{
    struct seq_check k = {s->event_seq + 1, 0};
    int rv = s->event_seq == UINT64_MAX ? 0 : merge(s, NULL, SIZE_MAX, take_checked, &k);
    *bad = k.bad;
    return rv != 0 ? rv : k.bad != 0 ? PGQ_MALFORMED : 0;
}

int state_events_reindex(struct state *s)
{
    struct event_list l;
    int rv;
    event_ring_close(&s->recent);
    rv = state_events_list(s, NULL, PGQ_EVENTS_RECENT, &l);
    for (unsigned i = 0; rv == 0 && i < l.n; i++) {
        rv = event_ring_push(&s->recent, (struct event *)l.ev[i], PGQ_EVENTS_RECENT);
    }
    event_list_free(&l);
    return rv;
}
