/* Codec of the replicated state: snapshots, and the state in status and
 * events replies (see codec.h). */
#include "codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"
#include "lib/util.h"

/* ---- state -------------------------------------------------------------- */

/* An event; in a cluster's history (own: true) without the cluster's name. */
static Pgq__Event *event_to_pb(const struct event *e, bool own, struct scratch *sc)
{
    Pgq__Event *m = codec_scratch_alloc(sc, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    pgq__event__init(m);
    m->seq = e->seq;
    m->time_ms = e->time_ms;
    m->cluster = S(own ? "" : e->cluster);
    if (e->node[0] != '\0') {
        m->node = S(e->node);
    }
    m->kind = (uint32_t)e->kind;
    m->message = S(e->message);
    m->has_duration_ms = e->duration_ms != 0;
    m->duration_ms = e->duration_ms;
    m->has_epoch = true;
    m->epoch = e->epoch;
    codec_event_who_to_pb(e, m);
    return m;
}

/* The events of a ring, oldest first. */
static int ring_to_pb(const struct event_ring *r,
                      bool own,
                      struct scratch *sc,
                      Pgq__Event ***out,
                      size_t *n_out)
{
    Pgq__Event **evs;
    *n_out = 0;
    *out = NULL;
    if (r->n == 0) {
        return 0;
    }
    evs = codec_scratch_alloc(sc, r->n * sizeof *evs);
    if (evs == NULL) {
        return PGQ_NOMEM;
    }
    for (unsigned i = 0; i < r->n; i++) {
        evs[i] = event_to_pb(event_ring_at(r, i), own, sc);
        if (evs[i] == NULL) {
            return PGQ_NOMEM;
        }
    }
    *out = evs;
    *n_out = r->n;
    return 0;
}

static Pgq__Node *node_to_pb(const struct node *n, struct scratch *sc)
{
    Pgq__Node *m = codec_scratch_alloc(sc, sizeof *m);
    Pgq__MonitorView **vs = codec_scratch_alloc(sc, PGQ_MAX_MONITORS * sizeof *vs);
    size_t nv = 0;
    if (m == NULL || vs == NULL) {
        return NULL;
    }
    pgq__node__init(m);
    m->name = S(n->name);
    m->conninfo = S(n->conninfo);
    m->priority = n->priority;
    m->maintenance = n->maintenance;
    m->role = (uint32_t)n->role;
    m->verdict = (uint32_t)n->verdict;
    m->verdict_since_ms = n->verdict_since_ms;
    m->verdict_seq = n->verdict_seq;
    m->following_epoch = n->following_epoch;
    m->fenced_epoch = n->fenced_epoch;
    m->alert_writable = n->alert_writable;
    m->added_ms = n->added_ms;
    m->has_last_write_lsn = true;
    m->last_write_lsn = n->last_write_lsn;
    if (n->twin_of[0] != '\0') {
        m->twin_of = S(n->twin_of);
    }
    /* New fields: each only when set, each on its own (decode then encode
     * is the identity). */
    m->has_cut_round = n->cut_round != 0, m->cut_round = n->cut_round;
    m->has_cut_lsn = n->cut_lsn != 0, m->cut_lsn = n->cut_lsn;
    m->has_cut_tli = n->cut_tli != 0, m->cut_tli = n->cut_tli;
    m->has_cut_upstream_lsn = n->cut_upstream_lsn != 0, m->cut_upstream_lsn = n->cut_upstream_lsn;
    m->has_stuck_epoch = n->stuck_epoch != 0, m->stuck_epoch = n->stuck_epoch;
    m->has_gave_up_round = n->gave_up_round != 0, m->gave_up_round = n->gave_up_round;
    if (n->rejoin[0] != '\0') {
        m->rejoin = S(n->rejoin);
    }
    m->has_allow_unfenced_epoch = n->allow_unfenced_epoch != 0,
    m->allow_unfenced_epoch = n->allow_unfenced_epoch;
    m->has_maintenance_allow_failover = n->maintenance_allow_failover;
    m->maintenance_allow_failover = n->maintenance_allow_failover;
    m->has_replication_quorum = !n->replication_quorum, m->replication_quorum = false;
    m->has_system_id = n->system_id != 0, m->system_id = n->system_id;
    m->has_reg_seq = n->reg_seq != 0, m->reg_seq = n->reg_seq;
    if (n->agent.state != PGQ_AGENT_NONE) {
        m->agent = codec_scratch_alloc(sc, sizeof *m->agent);
        if (m->agent == NULL || codec_agent_to_pb(&n->agent, m->agent, sc) != 0) {
            return NULL;
        }
    }
    if (n->n_sync > 0) {
        m->sync = codec_scratch_alloc(sc, n->n_sync * sizeof *m->sync);
        if (m->sync == NULL) {
            return NULL;
        }
        for (unsigned i = 0; i < n->n_sync; i++) {
            Pgq__SyncStandby *e = codec_scratch_alloc(sc, sizeof *e);
            if (e == NULL) {
                return NULL;
            }
            pgq__sync_standby__init(e);
            e->name = S(n->sync[i].name);
            e->left_lsn = n->sync[i].left_lsn;
            m->sync[i] = e;
        }
        m->n_sync = n->n_sync;
    }
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        Pgq__MonitorView *mv;
        Pgq__Observation *o;
        if (v->monitor_id == 0) {
            continue;
        }
        mv = codec_scratch_alloc(sc, sizeof *mv);
        o = codec_scratch_alloc(sc, sizeof *o);
        if (mv == NULL || o == NULL) {
            return NULL;
        }
        pgq__monitor_view__init(mv);
        codec_view_obs_to_pb(&v->obs, o);
        mv->monitor_id = v->monitor_id;
        mv->gen = v->gen;
        mv->applied_ms = v->applied_ms;
        mv->obs = o;
        vs[nv++] = mv;
    }
    m->n_views = nv;
    m->views = vs;
    return m;
}

static void failover_to_pb(const struct failover *f, Pgq__Failover *fo)
{
    pgq__failover__init(fo);
    fo->phase = (uint32_t)f->phase;
    fo->epoch = f->epoch;
    fo->old_primary = S(f->old_primary);
    fo->candidate = S(f->candidate);
    fo->has_down_ms = true, fo->down_ms = f->down_ms;
    fo->has_decided_ms = true, fo->decided_ms = f->decided_ms;
    fo->has_promoted_ms = true, fo->promoted_ms = f->promoted_ms;
    fo->has_done_ms = true, fo->done_ms = f->done_ms;
    fo->has_timeline = true, fo->timeline = f->timeline;
    fo->blocked = S(f->blocked);
    fo->has_candidate_lsn = true, fo->candidate_lsn = f->candidate_lsn;
    fo->has_round = f->round != 0, fo->round = f->round;
    fo->has_cut_ms = f->cut_ms != 0, fo->cut_ms = f->cut_ms;
    fo->has_unpromoted = f->unpromoted, fo->unpromoted = f->unpromoted;
    fo->has_chain_round = f->chain_round != 0, fo->chain_round = f->chain_round;
    if (f->floor_primary[0] != '\0') {
        fo->floor_primary = S(f->floor_primary);
    }
    fo->has_reference_lsn = f->reference_lsn != 0, fo->reference_lsn = f->reference_lsn;
    fo->has_gave_up_ms = f->gave_up_ms != 0, fo->gave_up_ms = f->gave_up_ms;
    fo->has_switchover = f->switchover, fo->switchover = f->switchover;
    fo->has_final_lsn = f->final_lsn != 0, fo->final_lsn = f->final_lsn;
}

Pgq__Cluster *codec_cluster_to_pb(const struct cluster *c, bool events, struct scratch *sc)
{
    Pgq__Cluster *m = codec_scratch_alloc(sc, sizeof *m);
    Pgq__Failover *fo = codec_scratch_alloc(sc, sizeof *fo);
    Pgq__Node **ns = codec_scratch_alloc(sc, c->n_nodes * sizeof *ns);
    if (m == NULL || fo == NULL || ns == NULL) {
        return NULL;
    }
    pgq__cluster__init(m);
    m->name = S(c->name);
    m->epoch = c->epoch;
    if (c->primary[0] != '\0') {
        m->primary = S(c->primary);
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        ns[i] = node_to_pb(&c->nodes[i], sc);
        if (ns[i] == NULL) {
            return NULL;
        }
    }
    m->n_nodes = c->n_nodes;
    m->nodes = ns;
    failover_to_pb(&c->fo, fo);
    if (c->fo.phase == PGQ_FO_CUTTING) {
        Pgq__Failover *prev = codec_scratch_alloc(sc, sizeof *prev);
        if (prev == NULL) {
            return NULL;
        }
        failover_to_pb(&c->prev_fo, prev);
        m->prev_failover = prev;
    }
    m->has_timeline = c->timeline != 0, m->timeline = c->timeline;
    m->has_parent_tli = c->parent_tli != 0, m->parent_tli = c->parent_tli;
    m->has_fork_lsn = c->fork_lsn != 0, m->fork_lsn = c->fork_lsn;
    m->has_paused = c->paused, m->paused = c->paused;
    m->has_pause_ms = c->pause_ms != 0, m->pause_ms = c->pause_ms;
    m->has_sw_phase = c->sw.phase != 0, m->sw_phase = (uint32_t)c->sw.phase;
    if (c->sw.target[0] != '\0') {
        m->sw_target = S(c->sw.target);
    }
    m->has_sw_at_ms = c->sw.at_ms != 0, m->sw_at_ms = c->sw.at_ms;
    m->has_sw_epoch = c->sw.epoch != 0, m->sw_epoch = c->sw.epoch;
    m->has_sw_requested_ms = c->sw.requested_ms != 0, m->sw_requested_ms = c->sw.requested_ms;
    m->has_sw_begun_ms = c->sw.begun_ms != 0, m->sw_begun_ms = c->sw.begun_ms;
    m->has_slots_epoch = c->slots_epoch != 0, m->slots_epoch = c->slots_epoch;
    m->has_members_gen = c->members_gen != 0, m->members_gen = c->members_gen;
    m->failover = fo;
    if (codec_cluster_sync_to_pb(c, m, sc) != 0 ||
        (events && ring_to_pb(&c->events, true, sc, &m->events, &m->n_events) != 0)) {
        return NULL;
    }
    return m;
}

/* Fill a State message; events filtered by cluster ("" or NULL: all) and
 * limited to the last `limit` (0: all); with STATE_NO_EVENTS, the clusters
 * too (only that one, when it is named). */
int codec_state_to_pb(const struct state *s,
                      Pgq__State *m,
                      struct scratch *sc,
                      int what,
                      const char *cluster,
                      unsigned limit)
{
    bool events_only = what == STATE_EVENTS_ONLY;
    struct event_list l;
    Pgq__Event **evs;
    pgq__state__init(m);
    m->seq = s->seq;
    m->time_ms = s->time_ms;
    m->leader_gen = s->leader_gen;
    m->leader_id = s->leader_id;
    m->gen_since_ms = s->gen_since_ms;
    m->event_seq = s->event_seq;
    m->has_feature_level = s->feature_level > 1, m->feature_level = s->feature_level;
    m->has_epoch_floor = s->epoch_floor != 0, m->epoch_floor = s->epoch_floor;
    m->has_events_per_cluster = s->events_per_cluster != PGQ_EVENTS_PER_CLUSTER;
    m->events_per_cluster = s->events_per_cluster;
    m->has_events_global = s->events_global != PGQ_EVENTS_GLOBAL;
    m->events_global = s->events_global;
    if (!events_only) {
        Pgq__Monitor **ms = codec_scratch_alloc(sc, PGQ_MAX_MONITORS * sizeof *ms);
        Pgq__Cluster **cs = codec_scratch_alloc(sc, PGQ_MAX(s->n_clusters, 1) * sizeof *cs);
        if (ms == NULL || cs == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < s->n_monitors; i++) {
            ms[i] = codec_scratch_alloc(sc, sizeof *ms[i]);
            if (ms[i] == NULL) {
                return PGQ_NOMEM;
            }
            pgq__monitor__init(ms[i]);
            ms[i]->id = s->monitors[i].id;
            ms[i]->raft_address = S(s->monitors[i].raft_address);
            ms[i]->api_address = S(s->monitors[i].api_address);
            ms[i]->voter = s->monitors[i].voter;
            ms[i]->has_max_level = s->monitors[i].max_level != 0;
            ms[i]->max_level = s->monitors[i].max_level;
            ms[i]->has_probes_shed = s->monitors[i].probes_shed != 0;
            ms[i]->probes_shed = s->monitors[i].probes_shed;
        }
        m->n_monitors = s->n_monitors;
        m->monitors = ms;
        /* A status of one cluster (level 6) holds that cluster only: found
         * by its index, its encoding costs what it holds. */
        if (what == STATE_HEAD) {
            m->n_clusters = 0; /* they follow in parts (codec_status_part_encode) */
        } else if (what == STATE_NO_EVENTS && cluster != NULL && cluster[0] != '\0') {
            const struct cluster *c = state_cluster(s, cluster);
            m->n_clusters = 0;
            if (c != NULL && (cs[0] = codec_cluster_to_pb(c, false, sc)) == NULL) {
                return PGQ_NOMEM;
            }
            m->n_clusters = c != NULL ? 1 : 0;
        } else {
            for (unsigned i = 0; i < s->n_clusters; i++) {
                cs[i] = codec_cluster_to_pb(&s->clusters[i], what == STATE_ALL, sc);
                if (cs[i] == NULL) {
                    return PGQ_NOMEM;
                }
            }
            m->n_clusters = s->n_clusters;
        }
        m->clusters = cs;
        if (codec_access_to_pb(s, m, sc) != 0) {
            return PGQ_NOMEM;
        }
    }
    if (what == STATE_NO_EVENTS || what == STATE_HEAD) {
        return sc->failed ? PGQ_NOMEM : 0;
    }
    if (what == STATE_ALL) {
        /* A snapshot: the rest of the history, each cluster's is in it. */
        if (ring_to_pb(&s->events, false, sc, &m->events, &m->n_events) != 0) {
            return PGQ_NOMEM;
        }
        return sc->failed ? PGQ_NOMEM : 0;
    }
    if (state_events_list(s, cluster, limit, &l) != 0) {
        return PGQ_NOMEM;
    }
    evs = codec_scratch_alloc(sc, (l.n + 1) * sizeof *evs);
    for (unsigned i = 0; evs != NULL && i < l.n; i++) {
        evs[i] = event_to_pb(l.ev[i], false, sc);
        if (evs[i] == NULL) {
            evs = NULL;
        }
    }
    m->n_events = evs != NULL ? l.n : 0;
    m->events = evs;
    event_list_free(&l);
    return sc->failed || evs == NULL ? PGQ_NOMEM : 0;
}

int codec_state_encode(const struct state *s,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len)
{
    struct scratch sc = {0};
    Pgq__Snapshot snap = PGQ__SNAPSHOT__INIT;
    Pgq__State m;
    int rv = codec_state_to_pb(s, &m, &sc, STATE_ALL, NULL, 0);
    if (rv == 0) {
        snap.version = PGQ_FORMAT_VERSION;
        snap.state = &m;
        rv = codec_pack(&snap.base, a, buf, len);
    }
    codec_scratch_free(&sc);
    return rv;
}

void codec_events_from_pb(struct dec *d,
                          Pgq__Event *const *evs,
                          size_t n,
                          size_t max,
                          const char *cluster,
                          struct event_ring *r)
{
    codec_check_count(d, n, max, cluster != NULL ? "cluster.events" : "state.events");
    for (size_t i = 0; d->rv == 0 && i < n; i++) {
        const Pgq__Event *m = evs[i];
        char name[PGQ_NAME_MAX], node[PGQ_NAME_MAX], message[PGQ_REASON_MAX];
        char who[PGQ_IDENTITY_MAX], from[PGQ_IP_MAX], outcome[PGQ_REASON_MAX];
        struct event *e;
        codec_copy_str(d, name, sizeof name, m->cluster, "event.cluster");
        codec_copy_str(d, node, sizeof node, m->node, "event.node");
        codec_copy_str(d, message, sizeof message, m->message, "event.message");
        codec_copy_str(d, who, sizeof who, m->who, "event.who");
        codec_copy_str(d, from, sizeof from, m->from, "event.from");
        codec_copy_str(d, outcome, sizeof outcome, m->outcome, "event.outcome");
        if (d->rv != 0) {
            return;
        }
        if (cluster != NULL && name[0] != '\0') {
            codec_dec_fail(d, PGQ_MALFORMED, "cluster %s: an event of its history names cluster %s",
                           cluster, name);
            return;
        }
        if (i > 0 && m->seq <= evs[i - 1]->seq) {
            codec_dec_fail(d, PGQ_MALFORMED, "state.events: seq %" PRIu64 " after %" PRIu64, m->seq,
                           evs[i - 1]->seq);
            return;
        }
        e = event_new(m->seq, m->time_ms, cluster != NULL ? cluster : name, node, (int)m->kind,
                      message, m->duration_ms, m->epoch, who, from, (int)m->action, outcome);
        if (e == NULL || event_ring_push(r, e, 0) != 0) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
    }
}

static void failover_from_pb(struct dec *d,
                             const Pgq__Failover *m,
                             const char *cluster,
                             struct failover *f)
{
    f->phase = (int)m->phase;
    if (f->phase < 0 || f->phase >= PGQ__N_FO_PHASES) {
        codec_dec_fail(d, PGQ_MALFORMED, "cluster %s: failover phase out of range", cluster);
    }
    f->epoch = m->epoch;
    codec_copy_str(d, f->old_primary, sizeof f->old_primary, m->old_primary,
                   "failover.old_primary");
    codec_copy_str(d, f->candidate, sizeof f->candidate, m->candidate, "failover.candidate");
    codec_copy_str(d, f->blocked, sizeof f->blocked, m->blocked, "failover.blocked");
    f->down_ms = m->down_ms;
    f->decided_ms = m->decided_ms;
    f->promoted_ms = m->promoted_ms;
    f->done_ms = m->done_ms;
    f->timeline = m->timeline;
    f->candidate_lsn = m->candidate_lsn;
    f->round = m->round;
    f->cut_ms = m->cut_ms;
    f->unpromoted = m->unpromoted;
    f->chain_round = m->chain_round;
    codec_copy_str(d, f->floor_primary, sizeof f->floor_primary, m->floor_primary,
                   "failover.floor_primary");
    f->reference_lsn = m->reference_lsn;
    f->gave_up_ms = m->gave_up_ms;
    f->switchover = m->switchover;
    f->final_lsn = m->final_lsn;
}

static void node_from_pb(struct dec *d, const Pgq__Node *m, struct node *n)
{
    struct obs o;
    memset(n, 0, sizeof *n);
    codec_copy_str(d, n->name, sizeof n->name, m->name, "node.name");
    {
        char conninfo[PGQ_CONNINFO_MAX];
        codec_copy_str(d, conninfo, sizeof conninfo, m->conninfo, "node.conninfo");
        node_set_conninfo(n, d->rv == 0 ? conninfo : "");
    }
    n->priority = m->priority;
    n->maintenance = m->maintenance;
    n->role = (int)m->role;
    n->verdict = (int)m->verdict;
    n->verdict_since_ms = m->verdict_since_ms;
    n->verdict_seq = m->verdict_seq;
    n->following_epoch = m->following_epoch;
    n->fenced_epoch = m->fenced_epoch;
    n->alert_writable = m->alert_writable;
    n->added_ms = m->added_ms;
    n->last_write_lsn = m->last_write_lsn;
    codec_copy_str(d, n->twin_of, sizeof n->twin_of, m->twin_of, "node.twin_of");
    n->cut_round = m->cut_round;
    n->allow_unfenced_epoch = m->allow_unfenced_epoch;
    n->maintenance_allow_failover =
        m->has_maintenance_allow_failover && m->maintenance_allow_failover;
    n->replication_quorum = m->replication_quorum; /* absent: the default, true */
    n->system_id = m->system_id;
    n->reg_seq = m->reg_seq;
    codec_agent_from_pb(d, m->agent, &n->agent);
    n->cut_lsn = m->cut_lsn;
    n->cut_tli = m->cut_tli;
    n->cut_upstream_lsn = m->cut_upstream_lsn;
    n->stuck_epoch = m->stuck_epoch;
    n->gave_up_round = m->gave_up_round;
    codec_copy_str(d, n->rejoin, sizeof n->rejoin, m->rejoin, "node.rejoin");
    codec_check_count(d, m->n_sync, PGQ_SYNC_MAX, "node.sync");
    for (size_t i = 0; d->rv == 0 && i < m->n_sync; i++) {
        codec_copy_str(d, n->sync[i].name, sizeof n->sync[i].name, m->sync[i]->name,
                       "node.sync.name");
        n->sync[i].left_lsn = m->sync[i]->left_lsn;
        n->n_sync = (unsigned)i + 1;
    }
    if (n->role < 0 || n->role >= PGQ__N_ROLES || n->verdict < 0 || n->verdict >= PGQ__N_VERDICTS ||
        n->priority > 100) {
        codec_dec_fail(d, PGQ_MALFORMED, "node %s: role, verdict or priority out of range",
                       n->name);
    }
    codec_check_count(d, m->n_views, PGQ_MAX_MONITORS, "node.views");
    if (d->rv != 0) {
        return;
    }
    if (m->n_views > 0) {
        n->views = calloc(m->n_views, sizeof *n->views);
        if (n->views == NULL) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
        n->n_views = (unsigned)m->n_views;
    }
    for (size_t i = 0; i < m->n_views; i++) {
        n->views[i].monitor_id = m->views[i]->monitor_id;
        n->views[i].gen = m->views[i]->gen;
        n->views[i].applied_ms = m->views[i]->applied_ms;
        codec_obs_from_pb(d, m->views[i]->obs, &o);
        view_obs_set(&n->views[i].obs, &o);
    }
}

void codec_state_from_pb(struct dec *d, const Pgq__State *m, struct state *s)
{
    state_init(s);
    s->seq = m->seq;
    s->time_ms = m->time_ms;
    s->leader_gen = m->leader_gen;
    s->leader_id = m->leader_id;
    s->gen_since_ms = m->gen_since_ms;
    s->event_seq = m->event_seq;
    s->feature_level = m->has_feature_level ? m->feature_level : 1;
    s->epoch_floor = m->epoch_floor;
    if (m->has_events_per_cluster) {
        s->events_per_cluster = m->events_per_cluster;
    }
    if (m->has_events_global) {
        s->events_global = m->events_global;
    }
    if (s->events_per_cluster == 0 || s->events_per_cluster > PGQ_EVENTS_BOUND_MAX ||
        s->events_global == 0 || s->events_global > PGQ_EVENTS_BOUND_MAX) {
        codec_dec_fail(d, PGQ_MALFORMED, "state: event history bounds %u and %u out of 1..%d",
                       s->events_per_cluster, s->events_global, PGQ_EVENTS_BOUND_MAX);
        return;
    }
    if (s->feature_level == 0 || s->feature_level > PGQ_FEATURE_LEVEL) {
        codec_dec_fail(d, PGQ_VERSION, "state.feature_level %u: this monitor supports 1 to %u",
                       s->feature_level, PGQ_FEATURE_LEVEL);
        return;
    }
    codec_check_count(d, m->n_monitors, PGQ_MAX_MONITORS, "state.monitors");
    codec_check_count(d, m->n_clusters, PGQ_CLUSTERS_DECODE_MAX, "state.clusters");
    if (d->rv != 0) {
        return;
    }
    for (size_t i = 0; i < m->n_monitors; i++) {
        struct member *mon = &s->monitors[i];
        mon->id = m->monitors[i]->id;
        mon->voter = m->monitors[i]->voter;
        mon->max_level = m->monitors[i]->max_level;
        mon->probes_shed = m->monitors[i]->probes_shed;
        codec_copy_str(d, mon->raft_address, sizeof mon->raft_address, m->monitors[i]->raft_address,
                       "monitor.raft_address");
        codec_copy_str(d, mon->api_address, sizeof mon->api_address, m->monitors[i]->api_address,
                       "monitor.api_address");
    }
    s->n_monitors = (unsigned)m->n_monitors;
    if (m->n_clusters > 0) {
        s->clusters = calloc(m->n_clusters, sizeof *s->clusters);
        if (s->clusters == NULL) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
        s->clusters_cap = (unsigned)m->n_clusters;
    }
    for (size_t i = 0; i < m->n_clusters && d->rv == 0; i++) {
        const Pgq__Cluster *mc = m->clusters[i];
        struct cluster *c = &s->clusters[i];
        s->n_clusters++;
        codec_copy_str(d, c->name, sizeof c->name, mc->name, "cluster.name");
        codec_copy_str(d, c->primary, sizeof c->primary, mc->primary, "cluster.primary");
        c->epoch = mc->epoch;
        codec_check_count(d, mc->n_nodes, PGQ_NODES_DECODE_MAX, "cluster.nodes");
        if (d->rv != 0) {
            return;
        }
        if (mc->n_nodes > 0) {
            c->nodes = calloc(mc->n_nodes, sizeof *c->nodes);
            if (c->nodes == NULL) {
                codec_dec_fail(d, PGQ_NOMEM, "out of memory");
                return;
            }
            c->nodes_cap = (unsigned)mc->n_nodes;
        }
        for (size_t j = 0; j < mc->n_nodes; j++) {
            node_from_pb(d, mc->nodes[j], &c->nodes[j]);
            c->n_nodes = (unsigned)j + 1; /* what it owns is freed on failure */
        }
        failover_from_pb(d, mc->failover, c->name, &c->fo);
        if (mc->prev_failover != NULL) {
            failover_from_pb(d, mc->prev_failover, c->name, &c->prev_fo);
        }
        c->timeline = mc->timeline;
        c->parent_tli = mc->parent_tli;
        c->fork_lsn = mc->fork_lsn;
        c->paused = mc->has_paused && mc->paused;
        c->pause_ms = mc->pause_ms;
        if (mc->sw_phase >= PGQ__N_SW_PHASES) {
            codec_dec_fail(d, PGQ_MALFORMED, "cluster.sw_phase %u out of range", mc->sw_phase);
            return;
        }
        c->sw.phase = (int)mc->sw_phase;
        codec_copy_str(d, c->sw.target, sizeof c->sw.target, mc->sw_target, "cluster.sw_target");
        c->sw.at_ms = mc->sw_at_ms;
        c->sw.epoch = mc->sw_epoch;
        c->sw.requested_ms = mc->sw_requested_ms;
        c->sw.begun_ms = mc->sw_begun_ms;
        c->slots_epoch = mc->slots_epoch;
        c->members_gen = mc->members_gen;
        codec_cluster_sync_from_pb(d, mc, c);
        codec_events_from_pb(d, mc->events, mc->n_events, s->events_per_cluster, c->name,
                             &c->events);
    }
    codec_access_from_pb(d, m, s);
    /* Below level 6 (an older snapshot, or a reply) every event is here. */
    codec_events_from_pb(d, m->events, m->n_events,
                         PGQ_MAX(PGQ_MAX(s->events_global, PGQ_MAX_EVENTS), PGQ_EVENTS_LIST_MAX),
                         NULL, &s->events);
    if (d->rv == 0) {
        state_reindex(s); /* before the events: they find their cluster by name */
    }
    if (d->rv == 0 && state_events_reindex(s) != 0) {
        codec_dec_fail(d, PGQ_NOMEM, "out of memory");
    }
}

int codec_state_decode(const uint8_t *buf,
                       size_t len,
                       struct state *s,
                       char *errmsg,
                       size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    struct codec_budget budget;
    Pgq__Snapshot *m = pgq__snapshot__unpack(codec_budget_init(&budget, len), len, buf);
    state_init(s);
    if (m == NULL) {
        codec_unpack_failed(&d, &budget, len, "snapshot");
        return d.rv;
    }
    codec_check_message(&d, m->version, &m->base, len, "snapshot");
    if (d.rv == 0) {
        codec_state_from_pb(&d, m->state, s);
    }
    /* A snapshot's history: seqs unique and none past event_seq, since
     * apply numbers the next event from it. */
    if (d.rv == 0) {
        uint64_t bad;
        int rv = state_events_check(s, &bad);
        if (rv == PGQ_MALFORMED) {
            codec_dec_fail(
                &d, rv, "snapshot: event seq %" PRIu64 " twice, or beyond state.event_seq %" PRIu64,
                bad, s->event_seq);
        } else if (rv != 0) {
            codec_dec_fail(&d, rv, "out of memory");
        }
    }
    /* A snapshot's history is within its bounds (a reply's need not be). */
    if (d.rv == 0 &&
        s->events.n >
            (s->feature_level >= 6 ? PGQ_MAX(s->events_global, PGQ_MAX_EVENTS) : PGQ_MAX_EVENTS)) {
        codec_dec_fail(&d, PGQ_MALFORMED, "snapshot: %u events of no cluster, beyond the bound",
                       s->events.n);
    }
    pgq__snapshot__free_unpacked(m, &budget.allocator);
    if (d.rv != 0) {
        state_close(s);
    }
    return d.rv;
}
