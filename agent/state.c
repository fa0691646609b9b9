/* The replicated state's life cycle and read-only queries (verdicts, fresh
 * positions, events, replication slot names) and the rules for
 * observations; apply(command) is in cluster.c. See cluster.h for the
 * contract. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "lib/util.h"

void state_init(struct state *s)
{
    memset(s, 0, sizeof *s);
    s->feature_level = 1;
}

void state_close(struct state *s)
{
    for (unsigned i = 0; i < s->n_clusters; i++) {
        free(s->clusters[i].nodes);
    }
    free(s->clusters);
    free(s->events);
    free(s->roles);
    free(s->grants);
    memset(s, 0, sizeof *s);
    s->feature_level = 1;
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
    if (cmd->kind == CMD_REPORT) {
        free(cmd->u.report.obs);
        cmd->u.report.obs = NULL;
        cmd->u.report.n_obs = 0;
    }
}

struct cluster *state_cluster(const struct state *s, const char *name)
{
    for (unsigned i = 0; i < s->n_clusters; i++) {
        if (strcmp(s->clusters[i].name, name) == 0) {
            return &s->clusters[i];
        }
    }
    return NULL;
}

struct node *cluster_node(const struct cluster *c, const char *name)
{
    if (c == NULL) {
        return NULL;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (strcmp(c->nodes[i].name, name) == 0) {
            return &c->nodes[i];
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct obs *o = &n->views[i].obs;
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id != 0 && (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best;
}

const struct event *state_event(const struct state *s, unsigned i)
{
    if (i >= s->n_events || s->events == NULL) {
        return NULL;
    }
    return &s->events[(s->events_head + i) % PGQ_MAX_EVENTS];
}

bool obs_writable(const struct obs *o)
{
    return o->reachable && !o->in_recovery && !o->read_only;
}

bool obs_same_server(const struct obs *a, const struct obs *b)
{
    return a->system_id != 0 && a->system_id == b->system_id && a->port == b->port &&
           (a->addr_hash == 0 || b->addr_hash == 0 || a->addr_hash == b->addr_hash) &&
           (a->data_dir_hash == 0 || b->data_dir_hash == 0 || a->data_dir_hash == b->data_dir_hash);
}

bool node_identity_foreign(const struct node *n, uint64_t id)
{
    return n->system_id != 0 && id != 0 && id != n->system_id;
}

bool node_impostor(const struct node *n)
{
    /* A refused view is kept unreachable with the identifier it saw
     * (cluster.c: refuse_foreign), so that it is known for what it is. */
    for (unsigned k = 0; k < PGQ_MAX_MONITORS; k++) {
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

uint64_t obs_lag(const struct obs *o)
{
    if (!o->reachable || !o->in_recovery || !o->streaming || o->upstream_lsn <= o->receive_lsn) {
        return 0;
    }
    return o->upstream_lsn - o->receive_lsn;
}

bool obs_report_due(const struct obs *prev, const struct obs *cur, uint64_t wal_step)
{
    if (prev->reachable != cur->reachable || prev->in_recovery != cur->in_recovery ||
        prev->timeline != cur->timeline || prev->streaming != cur->streaming ||
        strcmp(prev->upstream, cur->upstream) != 0 || prev->read_only != cur->read_only ||
        strcmp(prev->sync_standbys, cur->sync_standbys) != 0 ||
        strcmp(prev->lost_slots, cur->lost_slots) != 0 || prev->slot_use != cur->slot_use ||
        strcmp(prev->sync_setting, cur->sync_setting) != 0 ||
        strcmp(prev->replicas, cur->replicas) != 0) {
        return true;
    }
    /* The primary's last committed position is what max_lag_on_failover is
     * measured against when it dies: keep it within wal_step of the truth
     * as of the last probe. */
    if (cur->reachable && !cur->in_recovery && cur->current_lsn > prev->current_lsn &&
        cur->current_lsn - prev->current_lsn >= wal_step) {
        return true;
    }
    return (obs_lag(prev) > wal_step) != (obs_lag(cur) > wal_step);
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &p->views[i];
        if (v->monitor_id != 0 && v->obs.reachable && !v->obs.in_recovery &&
            (best == NULL || v->applied_ms > best->applied_ms)) {
            best = v;
        }
    }
    return best != NULL && pgq_name_listed(best->obs.lost_slots, slot);
}
