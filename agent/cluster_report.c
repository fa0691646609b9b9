/* apply(Report): a monitor's observations become its views of the nodes,
 * and what they show (verdicts, twins, the synchronous standbys a primary
 * named, slots lost, the monitor's shed probes) is noted. See cluster.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "lib/util.h"

/* Which standbys may hold commits the primary acknowledged, for the failover
 * after it is gone. A standby no longer named keeps a floor (left_lsn) rather
 * than vanishing: the observation of a dying primary may no longer name
 * standbys whose acknowledgements count. */
static void note_sync(struct node *n, const struct obs *o)
{
    for (unsigned i = 0; i < n->n_sync; i++) {
        /* The highest position known, not this report's: reports of
         * several monitors are applied in log order, not probe order. */
        if (n->sync[i].left_lsn == 0 && !pgq_name_listed(o->sync_standbys, n->sync[i].name)) {
            n->sync[i].left_lsn = PGQ_MAX(PGQ_MAX(o->current_lsn, n->last_write_lsn), 1);
        }
    }
    for (const char *p = o->sync_standbys; *p != '\0';) {
        size_t len = strcspn(p, ",");
        char name[PGQ_NAME_MAX];
        unsigned i;
        snprintf(name, sizeof name, "%.*s", (int)PGQ_MIN(len, sizeof name - 1), p);
        p += len + (p[len] == ',' ? 1 : 0);
        if (name[0] == '\0') {
            continue;
        }
        for (i = 0; i < n->n_sync && strcmp(n->sync[i].name, name) != 0; i++) {
        }
        if (i == n->n_sync && n->n_sync == PGQ_SYNC_MAX) {
            /* Full: give up the lowest floor of a standby no longer named
             * (there is one: at most PGQ_SYNC_MAX are named at once). */
            unsigned low = PGQ_SYNC_MAX;
            for (unsigned k = 0; k < n->n_sync; k++) {
                if (n->sync[k].left_lsn != 0 &&
                    (low == PGQ_SYNC_MAX || n->sync[k].left_lsn < n->sync[low].left_lsn)) {
                    low = k;
                }
            }
            if (low == PGQ_SYNC_MAX) {
                continue;
            }
            i = low;
        } else if (i == n->n_sync) {
            n->n_sync++;
        }
        pgq_strlcpy(n->sync[i].name, name, sizeof n->sync[i].name);
        n->sync[i].left_lsn = 0;
    }
}

/* The earliest first failed probe among the voters' views that see the node
 * down, but not before the verdict last changed (`floor`): an older failure,
 * such as a dead monitor's view from an earlier outage, is not this one. The
 * verdict's time when no view says. A view that says for how long its
 * monitor has seen the node failing (failing_ms, on that monitor's
 * monotonic clock) dates the failure in the leader's stamps, so that no
 * two machines' wall clocks are compared; older entries carry only the
 * monitor's wall clock of the first failure, taken as it is. */
static uint64_t first_failure(const struct state *s, const struct node *n, uint64_t floor)
{
    uint64_t first = s->time_ms;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        uint64_t began = v->obs.failing_ms != 0 ? cluster_since(v->applied_ms, v->obs.failing_ms)
                                                : v->obs.failing_since_ms;
        if (v->monitor_id != 0 && !v->obs.reachable && began >= floor && began != 0 &&
            state_is_voter(s, v->monitor_id)) {
            first = PGQ_MIN(first, began);
        }
    }
    return first;
}

/* One PostgreSQL, one node: when o shows n to be the same running server
 * as another node of the cluster (by what the server says of itself), the
 * one registered later is its twin and is ignored from then on. Both names
 * reach one server, so fencing "the other" would fence the primary. */
/* Some reachable view of m shows the same running server as o. */
static bool views_same_server(const struct node *m, const struct obs *o)
{
    for (unsigned k = 0; k < m->n_views; k++) {
        if (m->views[k].monitor_id != 0 && m->views[k].obs.reachable &&
            view_obs_same_server(&m->views[k].obs, o)) {
            return true;
        }
    }
    return false;
}

static bool views_identified(const struct node *m)
{
    for (unsigned k = 0; k < m->n_views; k++) {
        if (m->views[k].monitor_id != 0 && m->views[k].obs.reachable &&
            m->views[k].obs.system_id != 0) {
            return true;
        }
    }
    return false;
}

/* Of two names of one server, the one that keeps acting: the primary, else
 * one with a role, else the one registered first. */
static bool keeps_acting(const struct cluster *c, const struct node *a, const struct node *b)
{
    if (strcmp(c->primary, a->name) == 0 || strcmp(c->primary, b->name) == 0) {
        return strcmp(c->primary, a->name) == 0;
    }
    if ((a->role == PGQ_ROLE_UNKNOWN) != (b->role == PGQ_ROLE_UNKNOWN)) {
        return a->role != PGQ_ROLE_UNKNOWN;
    }
    return a < b;
}

static void note_twin(struct state *s, struct cluster *c, struct node *n, const struct obs *o)
{
    if (!o->reachable || o->system_id == 0) {
        return;
    }
    /* A twin whose name now reaches another server (re-pointed DNS, a
     * server moved) is a node of its own again: once the node it was the
     * twin of is seen, identified, as another server. */
    if (n->twin_of[0] != '\0') {
        const struct node *m = cluster_node(c, n->twin_of);
        if (m == NULL || (views_identified(m) && !views_same_server(m, o))) {
            cluster_event(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                          "node %s is no longer the same PostgreSQL server as node %s", n->name,
                          n->twin_of);
            n->twin_of[0] = '\0';
            cluster_members_changed(s, c);
        }
        return;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        struct node *m = &c->nodes[i];
        struct node *twin, *original;
        if (m == n || m->twin_of[0] != '\0' || !views_same_server(m, o)) {
            continue;
        }
        original = keeps_acting(c, m, n) ? m : n;
        twin = original == m ? n : m;
        pgq_strlcpy(twin->twin_of, original->name, sizeof twin->twin_of);
        twin->alert_writable = false;
        cluster_members_changed(s, c);
        cluster_event(s, c->name, twin->name, PGQ_EV_ALERT, c->epoch, 0,
                      "node %s is the same PostgreSQL server as node %s (system identifier %" PRIu64
                      ", port %u): it is ignored; remove one of them",
                      twin->name, original->name, o->system_id, o->port);
        if (twin == n) {
            return;
        }
    }
}

void node_note_verdict(struct state *s, struct cluster *c, struct node *n, const char *error)
{
    int verdict = cluster_verdict(s, n);
    uint64_t detect;
    if (verdict == n->verdict) {
        return;
    }
    detect = verdict == PGQ_VERDICT_DOWN
                 ? cluster_since(s->time_ms, first_failure(s, n, n->verdict_since_ms))
                 : 0;
    n->verdict = verdict;
    n->verdict_since_ms = s->time_ms;
    n->verdict_seq = s->seq + 1;
    /* The event's duration is detection to verdict: since the first
     * failed probe of any monitor that sees it down. */
    cluster_event(s, c->name, n->name, PGQ_EV_VERDICT, c->epoch, detect,
                  "node %s is %s by verdict%s%s", n->name, pgq_verdict_name(verdict),
                  verdict == PGQ_VERDICT_DOWN && error[0] != '\0' ? ": " : "",
                  verdict == PGQ_VERDICT_DOWN ? error : "");
    if (verdict == PGQ_VERDICT_UP && strcmp(c->primary, n->name) == 0) {
        failover_primary_up(s, c);
    }
}

void state_refresh_verdicts(struct state *s)
{
    for (unsigned i = 0; i < s->n_clusters; i++) {
        struct cluster *c = &s->clusters[i];
        for (unsigned k = 0; k < c->n_nodes; k++) {
            node_note_verdict(s, c, &c->nodes[k], "the voters changed");
        }
    }
}

static void note_observation(struct state *s,
                             struct cluster *c,
                             struct node *n,
                             const struct obs *o)
{
    bool rogue;
    note_twin(s, c, n, o);
    /* Keep the most advanced position ever seen written on this node: a
     * failed probe overwrites the view, and the lag limit of a failover
     * must still be measured against what the primary had. */
    if (o->reachable && !o->in_recovery && o->current_lsn > n->last_write_lsn) {
        n->last_write_lsn = o->current_lsn;
    }
    if (obs_writable(o)) {
        note_sync(n, o);
    }
    node_note_verdict(s, c, n, o->error);
    /* Invariant 1: only the primary of the epoch may be writable. Anything
     * else that is writable is flagged loudly, and the leader fences it. */
    rogue = node_rogue(c, n, o);
    if (rogue && !n->alert_writable) {
        n->alert_writable = true;
        n->fenced_epoch = 0; /* writable again: fence again */
        cluster_event(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                      "node %s is writable but is not the primary of epoch %" PRIu64
                      " (%s is): it will be fenced",
                      n->name, c->epoch, c->primary[0] != '\0' ? c->primary : "none");
    } else if (!rogue && n->alert_writable && o->reachable && (o->in_recovery || o->read_only)) {
        n->alert_writable = false;
        cluster_event(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                      "node %s is no longer writable", n->name);
    }
}

/* A slot the primary of the epoch lost (it removed WAL the slot's node
 * needed) is an event once: when the first view of the primary to list it
 * is committed (o, before it replaces its monitor's view). */
static void note_lost_slots(struct state *s, struct cluster *c, struct node *n, const struct obs *o)
{
    char slot[PGQ_SLOT_NAME_MAX];
    if (o->lost_slots[0] == '\0' || !o->reachable || o->in_recovery ||
        strcmp(c->primary, n->name) != 0) {
        return;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *m = &c->nodes[i];
        bool known = false;
        if (m == n || !cluster_node_slot(c, m, slot, sizeof slot) ||
            !pgq_name_listed(o->lost_slots, slot)) {
            continue;
        }
        for (unsigned k = 0; k < n->n_views && !known; k++) {
            known = n->views[k].monitor_id != 0 && n->views[k].obs.reachable &&
                    pgq_name_listed(n->views[k].obs.lost_slots, slot);
        }
        if (!known) {
            cluster_event(s, c->name, m->name, PGQ_EV_SLOT, c->epoch, 0,
                          "slot %s of node %s lost: the primary %s removed WAL it needed "
                          "(max_slot_wal_keep_size); the node must be re-cloned",
                          slot, m->name, n->name);
        }
    }
}

/* Level 6: a monitor's probes shed for want of file descriptors, an event
 * when it begins and when it ends (status shows the numbers meanwhile). */
static void note_resources(struct state *s, const struct cmd_report *r)
{
    struct member *m = state_member_slot(s, r->monitor_id);
    if (m == NULL) {
        return;
    }
    if (m->probes_shed == 0 && r->probes_shed > 0) {
        cluster_event(s, "", "", PGQ_EV_OVERLOAD, 0, 0,
                      "monitor %" PRIu64
                      " does not probe %u of %u nodes: its open-file limit %" PRIu64
                      " is below the %" PRIu64
                      " descriptors they need with Raft and the API "
                      "(raise LimitNOFILE); the nodes it sheds are not reported down",
                      r->monitor_id, r->probes_shed, r->probes, r->fd_limit, r->fd_needed);
    } else if (m->probes_shed > 0 && r->probes_shed == 0) {
        cluster_event(s, "", "", PGQ_EV_OVERLOAD, 0, 0,
                      "monitor %" PRIu64 " probes every node again (%u; open-file limit %" PRIu64
                      ", %" PRIu64 " needed)",
                      r->monitor_id, r->probes, r->fd_limit, r->fd_needed);
    }
    m->probes_shed = r->probes_shed;
}

int cluster_apply_report(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_report *r = &cmd->u.report;
    struct cluster *c = state_cluster(s, cmd->cluster);
    if (!state_is_voter(s, r->monitor_id)) {
        return cluster_fail(res, PGQ_REFUSED,
                            "report from monitor %" PRIu64 ", which is not a voter", r->monitor_id);
    }
    if (c == NULL && r->n_obs > 0) {
        return cluster_fail(res, PGQ_NOTFOUND, "report for unknown cluster %s", cmd->cluster);
    }
    /* Below level 6 an older monitor cannot even decode more: every
     * monitor refuses it alike. */
    if (s->feature_level < 6 && r->n_obs > PGQ_MAX_NODES) {
        return cluster_fail(res, PGQ_LIMIT, "report of %u observations: more than %d below level 6",
                            r->n_obs, PGQ_MAX_NODES);
    }
    /* A report also tells where the reporter's API is; an empty report
     * only does that. */
    if (r->api_address[0] != '\0') {
        struct member *m = state_member_slot(s, r->monitor_id);
        pgq_strlcpy(m->api_address, r->api_address, sizeof m->api_address);
    }
    if (r->feature_level != 0) {
        struct member *m = state_member_slot(s, r->monitor_id);
        if (m != NULL) {
            m->max_level = r->feature_level;
        }
    }
    if (r->has_resources) {
        note_resources(s, r);
    }
    for (unsigned i = 0; i < r->n_obs; i++) {
        struct obs o = r->obs[i];
        struct node *n = cluster_node(c, o.node);
        struct view *v;
        bool denied, was;
        uint64_t seen;
        if (n == NULL || (v = node_view_slot(s, n, r->monitor_id)) == NULL) {
            continue; /* removed meanwhile: nothing to record */
        }
        /* What a monitor of the previous version cannot decode, it does not
         * keep: below level 3 no monitor keeps it, so that every view is
         * the same on every monitor once the level is raised. */
        if (s->feature_level < 3) {
            o.lost_slots[0] = '\0';
            o.slot_use = PGQ_SLOT_USE_UNKNOWN;
        }
        seen = o.system_id;
        was = identity_note_observation(s, c, n, &o);
        note_lost_slots(s, c, n, &o); /* before the view it compares with is replaced */
        denied = node_slot_denied(n);
        v->monitor_id = r->monitor_id;
        v->gen = s->leader_gen;
        v->applied_ms = s->time_ms;
        view_obs_set(&v->obs, &o);
        if (node_slot_denied(n) != denied) {
            cluster_members_changed(s, c); /* it has a slot now, or no longer */
        }
        identity_changed(s, c, n, was, seen);
        note_observation(s, c, n, &o);
        agent_note_observation(s, c, n, &o);
        sync_note_observation(s, c, n, &o);
    }
    return 0;
}
