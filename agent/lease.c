/* Leases: the pure rules of both sides (see lease.h). */
#include "lease.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "policy.h" /* policy_standby_ready */

#define BIT(x) (1u << (x))

/* ---- the leader's side ---------------------------------------------------- */

void lease_book_init(struct lease_book *b, uint64_t lease_ms, uint64_t drift_ms)
{
    memset(b, 0, sizeof *b);
    b->lease_ms = lease_ms;
    b->drift_ms = drift_ms;
}

void lease_book_close(struct lease_book *b)
{
    free(b->entries);
    free(b->index);
    b->entries = NULL;
    b->index = NULL;
    b->n_entries = b->cap = b->index_cap = 0;
}

static unsigned entry_hash(const char *cluster, const char *node)
{
    uint64_t h = pgq_fnv1a(cluster) * 0x100000001b3ULL ^ pgq_fnv1a(node);
    return (unsigned)(h ^ (h >> 32));
}

static void index_put(struct lease_book *b, unsigned i)
{
    unsigned mask = b->index_cap - 1;
    unsigned k = entry_hash(b->entries[i].cluster, b->entries[i].node) & mask;
    while (b->index[k] != 0) {
        k = (k + 1) & mask;
    }
    b->index[k] = i + 1;
}

/* Index every entry again, in a table at least twice their number (or
 * none, looked up by a walk, when there is no memory for it). */
static void index_rebuild(struct lease_book *b)
{
    unsigned cap = 16;
    while (cap < 2 * b->n_entries + 2) {
        cap *= 2;
    }
    if (cap != b->index_cap) {
        free(b->index);
        b->index_cap = 0;
        if ((b->index = malloc((size_t)cap * sizeof *b->index)) == NULL) {
            return;
        }
        b->index_cap = cap;
    }
    if (b->index != NULL) {
        memset(b->index, 0, (size_t)b->index_cap * sizeof *b->index);
        for (unsigned i = 0; i < b->n_entries; i++) {
            index_put(b, i);
        }
    }
}

void lease_book_reset(struct lease_book *b, uint64_t now_ms)
{
    b->n_entries = 0;
    b->since_ms = now_ms;
    index_rebuild(b);
}

/* When a lease of e ends on the leader's clock (see lease_end_ms). */
static uint64_t entry_end_ms(const struct lease_book *b, const struct lease_entry *e)
{
    uint64_t from = b->since_ms;
    if (e != NULL) {
        from = PGQ_MAX(from, e->granted_ms != 0 ? e->granted_ms : e->heard_ms);
    }
    return from + b->lease_ms + b->drift_ms;
}

unsigned lease_book_prune(struct lease_book *b, const struct state *s, uint64_t now_ms)
{
    unsigned kept = 0, left = 0;
    for (unsigned i = 0; i < b->n_entries; i++) {
        const struct lease_entry *e = &b->entries[i];
        if (cluster_node(state_cluster(s, e->cluster), e->node) == NULL) {
            if (now_ms >= entry_end_ms(b, e)) {
                continue;
            }
            left++;
        }
        b->entries[kept++] = *e;
    }
    if (kept != b->n_entries) {
        b->n_entries = kept;
        index_rebuild(b);
    }
    return left;
}

bool lease_book_follow(struct lease_book *b, unsigned long long ready_term, uint64_t now_ms)
{
    if (ready_term == 0 || ready_term == b->term) {
        return false;
    }
    /* Nothing of an earlier leader's grants is known here: assume one was
     * made just before now. */
    lease_book_reset(b, now_ms);
    b->term = ready_term;
    return true;
}

const struct lease_entry *lease_entry_find(const struct lease_book *b,
                                           const char *cluster,
                                           const char *node)
{
    if (b->index != NULL) {
        unsigned mask = b->index_cap - 1;
        for (unsigned k = entry_hash(cluster, node) & mask; b->index[k] != 0; k = (k + 1) & mask) {
            const struct lease_entry *e = &b->entries[b->index[k] - 1];
            if (strcmp(e->node, node) == 0 && strcmp(e->cluster, cluster) == 0) {
                return e;
            }
        }
        return NULL;
    }
    for (unsigned i = 0; i < b->n_entries; i++) {
        if (strcmp(b->entries[i].cluster, cluster) == 0 && strcmp(b->entries[i].node, node) == 0) {
            return &b->entries[i];
        }
    }
    return NULL;
}

struct lease_entry *lease_entry_get(struct lease_book *b, const char *cluster, const char *node)
{
    struct lease_entry *e = (struct lease_entry *)lease_entry_find(b, cluster, node);
    if (e != NULL) {
        return e;
    }
    if (b->n_entries == b->cap) {
        unsigned cap = b->cap ? 2 * b->cap : 8;
        struct lease_entry *grown = realloc(b->entries, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            return NULL;
        }
        b->entries = grown;
        b->cap = cap;
    }
    e = &b->entries[b->n_entries++];
    memset(e, 0, sizeof *e);
    pgq_strlcpy(e->cluster, cluster, sizeof e->cluster);
    pgq_strlcpy(e->node, node, sizeof e->node);
    if (b->index != NULL && 2 * b->n_entries + 2 <= b->index_cap) {
        index_put(b, b->n_entries - 1);
    } else {
        index_rebuild(b);
    }
    return e;
}

bool lease_may_grant(const struct cluster *c, const struct node *n)
{
    if (c == NULL || n == NULL || c->epoch == 0 || strcmp(c->primary, n->name) != 0 ||
        n->twin_of[0] != '\0' || node_impostor(n)) {
        return false;
    }
    /* Paused or not: a paused cluster must not fence its own primary.
     * From the cut on, the failover replaces this primary: no more writes
     * may be acknowledged there once its lease ends (also when the cluster
     * was paused since: its standbys cut no longer receive its writes). */
    if (c->fo.phase == PGQ_FO_CUTTING && strcmp(c->fo.old_primary, n->name) == 0) {
        return false;
    }
    /* A switchover stops it: no write after its last lease. */
    if (switchover_stops(c, n)) {
        return false;
    }
    return true;
}

void lease_granted(struct lease_entry *e, uint64_t now_ms)
{
    e->granted_ms = now_ms;
}

uint64_t lease_end_ms(const struct lease_book *b, const char *cluster, const char *node)
{
    /* A node this leader granted nothing (a standby just promoted) may take
     * writes for a grace bounded by a lease from the last heartbeat answered
     * (lease_agent_grace_end): count from what was last heard then. Once
     * granted, its agent's lease runs from the grant, whatever it says
     * after. */
    return entry_end_ms(b, lease_entry_find(b, cluster, node));
}

bool lease_expired(const struct lease_book *b,
                   const char *cluster,
                   const char *node,
                   uint64_t now_ms)
{
    return now_ms >= lease_end_ms(b, cluster, node);
}

bool lease_agent_silent(const struct lease_book *b, const struct lease_entry *e, uint64_t now_ms)
{
    uint64_t from = PGQ_MAX(b->since_ms, e != NULL ? e->heard_ms : 0);
    return now_ms >= from + b->lease_ms + b->drift_ms;
}

/* Whom a standby of node n follows now: the primary of the epoch, once no
 * failover is half-way (a cut or an unpromoted candidate) and the quorum
 * sees it up. A node agent rewinds or clones its node only from it. */
static void lease_follow(const struct cluster *c, const struct node *n, struct lease_reply *out)
{
    const struct node *p = cluster_node(c, c->primary);
    bool settled =
        c->fo.phase == PGQ_FO_NONE || c->fo.phase == PGQ_FO_PROMOTED || c->fo.phase == PGQ_FO_DONE;
    out->rejoin = n->role == PGQ_ROLE_DEMOTED;
    /* A paused cluster: no automatic action, no rejoin either. */
    if (c->paused || p == NULL || p == n || n->twin_of[0] != '\0' || node_impostor(n) || !settled ||
        p->role != PGQ_ROLE_PRIMARY || p->verdict != PGQ_VERDICT_UP || p->twin_of[0] != '\0') {
        return;
    }
    pgq_strlcpy(out->follow, p->name, sizeof out->follow);
    pgq_strlcpy(out->follow_conninfo, p->conninfo, sizeof out->follow_conninfo);
    out->timeline = c->timeline;
    out->parent_tli = c->parent_tli;
    out->fork_lsn = c->fork_lsn;
}

bool lease_on_heartbeat(struct lease_book *b,
                        const struct state *s,
                        const char *cluster,
                        const char *node,
                        const struct agent_facts *facts,
                        uint64_t now_ms,
                        struct lease_reply *out)
{
    const struct cluster *c = state_cluster(s, cluster);
    const struct node *n = cluster_node(c, node);
    struct lease_entry *e;
    struct agent_facts heard = *facts;
    bool changed;
    memset(out, 0, sizeof *out);
    if (n == NULL || (e = lease_entry_get(b, c->name, n->name)) == NULL) {
        return false;
    }
    /* Below level 5 the state holds no agent's system identifier: one
     * heard would make every heartbeat look changed from what is committed. */
    if (s->feature_level < 5) {
        heard.system_id = 0;
    }
    changed = e->heard_ms == 0 || agent_facts_material(&e->facts, &heard) ||
              n->agent.state != PGQ_AGENT_UP;
    e->heard_ms = now_ms;
    e->facts = heard;
    e->facts.state = PGQ_AGENT_UP;
    out->registered = true;
    out->epoch = c->epoch;
    out->primary = strcmp(c->primary, n->name) == 0;
    out->fence =
        out->primary && c->fo.phase == PGQ_FO_CUTTING && strcmp(c->fo.old_primary, n->name) == 0;
    out->standby_ready = policy_standby_ready(c, n);
    /* Invariant 7: an agent that says its PostgreSQL is down and stays down
     * (fenced, or dead and handed over) lets the policy promote over it on
     * that word alone, with no lease to wait for; a lease granted in reply
     * would start it again (node.c: "started again if the quorum still
     * grants it a lease") beside the new primary. It gets one only when no
     * standby could replace it: then no failover can follow. */
    /* Below feature level 2 nothing an agent says is committed and the
     * policy waits for no lease: none is granted, none is in force. */
    out->enforced = s->feature_level >= 2;
    out->length_ms = b->lease_ms;
    lease_follow(c, n, out);
    out->stop = out->primary && switchover_stops(c, n);
    /* An agent that stopped its primary cleanly for a switchover (its
     * final position said) handed it over for that switchover only: once
     * none stops it and no cut is over it (it was cancelled or abandoned),
     * it is granted a lease and starts it again, standbys or not. */
    if (out->enforced && lease_may_grant(c, n) &&
        !(agent_confirms_down(&e->facts) && e->facts.stopped_lsn == 0 && out->standby_ready)) {
        lease_granted(e, now_ms);
        out->lease_ms = b->lease_ms;
    }
    return changed;
}

/* ---- the agent's side ------------------------------------------------------ */

static const struct pgq_sm_row lease_table[LEASE__N_STATES] = {
    [LEASE_NONE] = {BIT(LEASE_HELD) | BIT(LEASE_REVOKED),
                    "no lease: a primary must not take writes (the agent fences it once the "
                    "grace of one lease after its start has passed)"},
    [LEASE_HELD] = {BIT(LEASE_HELD) | BIT(LEASE_LAPSED) | BIT(LEASE_REVOKED) | BIT(LEASE_NONE),
                    "granted; renewed every heartbeat; its end is the renewal's sending time "
                    "plus the length"},
    [LEASE_LAPSED] = {BIT(LEASE_HELD) | BIT(LEASE_REVOKED) | BIT(LEASE_NONE),
                      "its end minus the margin passed with no renewal: the agent fenced its "
                      "primary"},
    [LEASE_REVOKED] = {BIT(LEASE_HELD) | BIT(LEASE_NONE),
                       "the quorum began a failover over this node: fenced at once"},
};

static const char *const lease_names[LEASE__N_STATES] = {
    [LEASE_NONE] = "none",
    [LEASE_HELD] = "held",
    [LEASE_LAPSED] = "lapsed",
    [LEASE_REVOKED] = "revoked",
};

const char *lease_state_name(int state)
{
    return state >= 0 && state < LEASE__N_STATES ? lease_names[state] : "?";
}

void lease_move(struct agent_lease *l, int next)
{
    assert(l->state >= 0 && l->state < LEASE__N_STATES);
    assert(next >= 0 && next < LEASE__N_STATES);
    assert(lease_table[l->state].next & BIT(next));
    l->state = next;
    /* A held lease always has an end. */
    assert(l->state != LEASE_HELD || l->length_ms > 0);
}

void lease_agent_init(struct agent_lease *l, uint64_t margin_ms)
{
    memset(l, 0, sizeof *l);
    l->margin_ms = margin_ms;
}

void lease_agent_sending(struct agent_lease *l, uint64_t now_ms)
{
    l->pending_ms = now_ms;
}

void lease_agent_reply(struct agent_lease *l, uint64_t length_ms, bool revoked)
{
    uint64_t sent = l->pending_ms;
    l->pending_ms = 0;
    if (revoked) {
        if (l->state != LEASE_REVOKED) {
            l->length_ms = 0;
            lease_move(l, LEASE_REVOKED);
        }
        return;
    }
    if (length_ms == 0) {
        /* Not granted (not the primary): whatever it held still ends when
         * it ends; a lease never outlives its own renewal. */
        return;
    }
    if (sent == 0 || length_ms <= l->margin_ms) {
        return; /* a reply with no request in flight, or a grant too short to use */
    }
    /* A reply to an older renewal never moves the end back. */
    if (l->state == LEASE_HELD && sent + length_ms <= l->sent_ms + l->length_ms) {
        return;
    }
    l->sent_ms = sent;
    l->length_ms = length_ms;
    lease_move(l, LEASE_HELD);
}

uint64_t lease_agent_deadline(const struct agent_lease *l)
{
    if (l->state != LEASE_HELD) {
        return 0;
    }
    return l->sent_ms + l->length_ms - l->margin_ms;
}

bool lease_agent_valid(struct agent_lease *l, uint64_t now_ms)
{
    if (l->state != LEASE_HELD) {
        return false;
    }
    if (now_ms >= lease_agent_deadline(l)) {
        lease_move(l, LEASE_LAPSED);
        return false;
    }
    return true;
}

uint64_t lease_agent_grace_end(const struct agent_lease *l,
                               uint64_t writable_since_ms,
                               uint64_t config_lease_ms,
                               uint64_t answered_sent_ms,
                               uint64_t length_ms)
{
    uint64_t end = writable_since_ms + config_lease_ms;
    if (answered_sent_ms != 0) {
        uint64_t len = length_ms != 0 ? length_ms : config_lease_ms;
        uint64_t bound = answered_sent_ms + (len > l->margin_ms ? len - l->margin_ms : 0);
        end = PGQ_MIN(end, bound);
    }
    return end;
}

void lease_print_table(void (*emit)(void *arg, const char *line), void *arg)
{
    pgq_sm_print("lease", lease_names, lease_table, LEASE__N_STATES, emit, arg);
}

void lease_reply_monitors(const struct state *s, uint64_t seen, struct lease_reply *out)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_monitors && n < PGQ_MAX_MONITORS; i++) {
        const struct member *m = &s->monitors[i];
        if (!m->voter || m->api_address[0] == '\0') {
            continue;
        }
        for (const char *p = m->api_address; *p != '\0'; p++) {
            h = (h ^ (uint8_t)*p) * 1099511628211ULL;
        }
        h = (h ^ ',') * 1099511628211ULL;
        pgq_strlcpy(out->monitors[n++], m->api_address, sizeof out->monitors[0]);
    }
    h = h != 0 ? h : 1;
    if (n == 0 || h == seen) {
        out->n_monitors = 0;
        out->monitors_hash = 0;
        return;
    }
    out->n_monitors = n;
    out->monitors_hash = h;
}
