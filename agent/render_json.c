/* render_json: the JSON documents of status, a node and the events (see
 * render.h), built with jansson; pgquorumctl prints them and the HTTP
 * server serves them, so that both say the same thing in the same shape.
 *
 * The happy path is: a builder makes a new object, adds its members in the
 * documented order (jansson keeps insertion order), and the caller writes
 * it compact on one line. Possible failure modes are: out of memory, when
 * any member is lost and the whole document is dropped (NULL), and text
 * that is not valid UTF-8 (event messages, PostgreSQL's own error texts),
 * which jansson refuses and render_json_string() repairs byte by byte. */
#include "render.h"

#include "members.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "render_internal.h"
#include "lib/util.h"

/* One format for every document: compact, and rates to as many digits as
 * a basis point needs (9950 bp is 0.995, not 0.99499999999999999556). */
#define DOC_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10))

/* ---- strings ------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at p (n > 0 bytes left), or 0:
 * RFC 3629, so no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] < 0xC2) {
        return 0; /* a continuation byte, or an overlong 2-byte form */
    } else if (p[0] < 0xE0) {
        len = 2;
    } else if (p[0] < 0xF0) {
        len = 3;
        lo = p[0] == 0xE0 ? 0xA0 : lo; /* overlong */
        hi = p[0] == 0xED ? 0x9F : hi; /* surrogates */
    } else if (p[0] < 0xF5) {
        len = 4;
        lo = p[0] == 0xF0 ? 0x90 : lo; /* overlong */
        hi = p[0] == 0xF4 ? 0x8F : hi; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

json_t *render_json_string(const char *s)
{
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), bad = 0, k, o = 0;
    char *fixed;
    json_t *v;
    for (size_t i = 0; i < n; i += k != 0 ? k : 1) {
        k = utf8_len(p + i, n - i);
        bad += k == 0;
    }
    if (bad == 0) {
        return json_stringn_nocheck(s, n);
    }
    fixed = malloc(n + 2 * bad);
    if (fixed == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i += k != 0 ? k : 1) {
        k = utf8_len(p + i, n - i);
        if (k == 0) {
            memcpy(fixed + o, replacement, 3);
            o += 3;
        } else {
            memcpy(fixed + o, s + i, k);
            o += k;
        }
    }
    v = json_stringn_nocheck(fixed, o);
    free(fixed);
    return v;
}

/* ---- members -------------------------------------------------------------
 * Each adds one member to o (or an element to an array); a member that
 * could not be made clears *ok, and the builder then drops the document.
 * jansson's setters take NULL for a value (and an object) and fail. */

static void put(json_t *o, bool *ok, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) != 0) {
        *ok = false;
    }
}

static void append(json_t *a, bool *ok, json_t *v)
{
    if (json_array_append_new(a, v) != 0) {
        *ok = false;
    }
}

/* jansson's integers are signed: a saturated counter shows as 2^63 - 1. */
static json_t *uint_value(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A name or a text: null when empty. */
static void put_str(json_t *o, bool *ok, const char *key, const char *v)
{
    put(o, ok, key, v == NULL || v[0] == '\0' ? json_null() : render_json_string(v));
}

static void put_u64(json_t *o, bool *ok, const char *key, uint64_t v)
{
    put(o, ok, key, uint_value(v));
}

/* An optional number: null when 0. */
static void put_u64_or_null(json_t *o, bool *ok, const char *key, uint64_t v)
{
    put(o, ok, key, v != 0 ? uint_value(v) : json_null());
}

static void put_bool(json_t *o, bool *ok, const char *key, bool v)
{
    put(o, ok, key, json_boolean(v));
}

/* A time stamp: ISO 8601 UTC with milliseconds, null when not known (0). */
static void put_time(json_t *o, bool *ok, const char *key, uint64_t ms)
{
    char buf[40];
    render_iso_time(ms, buf, sizeof buf);
    put_str(o, ok, key, buf);
}

static void put_lsn(json_t *o, bool *ok, const char *key, uint64_t lsn)
{
    char buf[32];
    pgq_lsn_format(lsn, buf, sizeof buf);
    put_str(o, ok, key, buf);
}

/* Basis points as a fraction (9950: 0.995), null when there is no data. */
static void put_rate(json_t *o, bool *ok, const char *key, uint32_t bp)
{
    put(o, ok, key, bp == PGQ_BP_NONE ? json_null() : json_real(bp / 10000.0));
}

/* The document, or NULL (and none) when a member was lost. */
static json_t *done(json_t *doc, bool ok)
{
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- a cluster ------------------------------------------------------------ */

static json_t *switchover_doc(const struct switchover *sw)
{
    json_t *o = json_object();
    bool ok = true;
    put_str(o, &ok, "phase", pgq_sw_phase_name(sw->phase));
    put_str(o, &ok, "target", sw->target);
    put_time(o, &ok, "at", sw->at_ms);
    put_u64(o, &ok, "epoch", sw->epoch);
    put_time(o, &ok, "requested", sw->requested_ms);
    put_time(o, &ok, "begun", sw->begun_ms);
    return done(o, ok);
}

static json_t *failover_doc(const struct failover *fo)
{
    json_t *o = json_object();
    bool ok = true;
    put_str(o, &ok, "phase", pgq_fo_phase_name(fo->phase));
    put_bool(o, &ok, "switchover", fo->switchover);
    put_u64(o, &ok, "epoch", fo->epoch);
    put_str(o, &ok, "old_primary", fo->old_primary);
    put_str(o, &ok, "candidate", fo->candidate);
    put_str(o, &ok, "blocked", fo->blocked);
    put_time(o, &ok, "down_at", fo->down_ms);
    put_time(o, &ok, "decided_at", fo->decided_ms);
    put_time(o, &ok, "promoted_at", fo->promoted_ms);
    put_time(o, &ok, "done_at", fo->done_ms);
    put_u64(o, &ok, "timeline", fo->timeline);
    return done(o, ok);
}

/* A synchronous set: its setting text, method, number and names. */
static json_t *sync_set_doc(const struct sync_set *set)
{
    char text[PGQ_SYNC_SETTING_MAX];
    json_t *o = json_object(), *names = json_array();
    bool ok = true;
    sync_set_text(set, text, sizeof text);
    put_str(o, &ok, "setting", text);
    put_str(o, &ok, "method", pgq_sync_method_name(set->method));
    put_u64(o, &ok, "number", set->k);
    for (unsigned i = 0; i < set->n_names; i++) {
        append(names, &ok, render_json_string(set->names[i]));
    }
    put(o, &ok, "names", names);
    put_u64(o, &ok, "epoch", set->epoch);
    put_u64(o, &ok, "seq", set->seq);
    return done(o, ok);
}

/* Managed synchronous replication: mode, the committed set, whether the
 * primary runs it, and the older sets that still bind a failover. */
static json_t *sync_doc(const struct cluster_sync *y)
{
    char text[PGQ_SYNC_SETTING_MAX];
    json_t *o = json_object(), *retiring = json_array();
    bool ok = true;
    bool applied = y->set.seq != 0 && y->applied_seq == y->set.seq;
    put_str(o, &ok, "mode", pgq_sync_mode_name(y->mode));
    put_u64(o, &ok, "number_sync", PGQ_MAX(y->number, 1));
    put(o, &ok, "committed", y->set.seq == 0 ? json_null() : sync_set_doc(&y->set));
    put_bool(o, &ok, "applied", applied);
    put_bool(o, &ok, "in_force", applied && y->n_retiring == 0);
    put_str(o, &ok, "primary_runs", y->seen);
    for (unsigned i = 0; i < y->n_retiring; i++) {
        sync_set_text(&y->retiring[i], text, sizeof text);
        append(retiring, &ok, render_json_string(text));
    }
    put(o, &ok, "retiring", retiring);
    put_u64(o, &ok, "allow_data_loss_epoch", y->allow_loss_epoch);
    return done(o, ok);
}

static json_t *cluster_doc(const struct cluster *c)
{
    json_t *o = json_object();
    bool ok = true;
    put_str(o, &ok, "name", c->name);
    put_u64(o, &ok, "epoch", c->epoch);
    put_str(o, &ok, "primary", c->primary);
    put_bool(o, &ok, "paused", c->paused);
    put_time(o, &ok, "paused_since", c->paused ? c->pause_ms : 0);
    put(o, &ok, "switchover", c->sw.phase == PGQ_SW_NONE ? json_null() : switchover_doc(&c->sw));
    put(o, &ok, "failover", failover_doc(&c->fo));
    put(o, &ok, "sync", sync_doc(&c->sync));
    return done(o, ok);
}

/* ---- a node ----------------------------------------------------------------- */

static json_t *rejoin_doc(const struct agent_facts *a)
{
    json_t *o = json_object();
    bool ok = true;
    put_str(o, &ok, "state", pgq_rejoin_state_name(a->rejoin));
    put_str(o, &ok, "detail", a->rejoin_detail);
    put_u64(o, &ok, "epoch", a->rejoin_epoch);
    put_u64(o, &ok, "duration_ms", a->rejoin_ms);
    if (a->lost_known) {
        put_u64(o, &ok, "lost_commits", a->lost_commits);
        put_u64(o, &ok, "lost_bytes", a->lost_bytes);
    }
    return done(o, ok);
}

static json_t *host_doc(const struct agent_host *h)
{
    json_t *o = json_object();
    bool ok = true;
    put_u64(o, &ok, "cpu_busy_bp", h->cpu_busy_bp);
    put_u64(o, &ok, "load1_c", h->load1_c);
    put_u64(o, &ok, "load5_c", h->load5_c);
    put_u64(o, &ok, "load15_c", h->load15_c);
    put_u64(o, &ok, "disk_read_bps", h->disk_read_bps);
    put_u64(o, &ok, "disk_write_bps", h->disk_write_bps);
    put_u64(o, &ok, "disk_io_bp", h->disk_io_bp);
    put_u64(o, &ok, "net_rx_bps", h->net_rx_bps);
    put_u64(o, &ok, "net_tx_bps", h->net_tx_bps);
    return done(o, ok);
}

/* What the node's agent last said; null when it has none. */
static json_t *agent_doc(const struct agent_facts *a)
{
    json_t *o;
    bool ok = true;
    if (a->state == PGQ_AGENT_NONE) {
        return json_null();
    }
    o = json_object();
    put_str(o, &ok, "state", render_agent_word(a));
    put_bool(o, &ok, "postmaster_alive", a->pm_alive);
    put_bool(o, &ok, "answering", a->answering);
    put_str(o, &ok, "pg_state", pgq_pg_state_name(a->pg_state));
    put_u64(o, &ok, "timeline", a->timeline);
    put_bool(o, &ok, "in_recovery", a->in_recovery);
    put_bool(o, &ok, "fenced", a->fenced);
    put_bool(o, &ok, "handover", a->handover);
    put_bool(o, &ok, "lease", a->lease);
    put_u64(o, &ok, "postmaster_pid", a->pm_pid);
    put_time(o, &ok, "since", a->since_ms);
    put_time(o, &ok, "reported", a->facts_ms);
    put_str(o, &ok, "version", a->version);
    put_bool(o, &ok, "streaming", a->streaming);
    put(o, &ok, "rejoin", rejoin_doc(a));
    put(o, &ok, "host", host_doc(&a->host));
    return done(o, ok);
}

/* The node's slot on the primary: its name, whether the primary lost it,
 * and how the node uses it; null when the primary keeps none for it (a
 * role that may not be told to use one: "denied"). */
static json_t *slot_doc(const struct cluster *c, const struct node *n)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct view *v = render_freshest_up(n);
    char slot[PGQ_SLOT_NAME_MAX];
    json_t *o;
    bool ok = true;
    if (p == NULL || p == n ||
        (!cluster_node_slot(c, n, slot, sizeof slot) && !node_slot_denied(n))) {
        return json_null();
    }
    o = json_object();
    put_str(o, &ok, "name", node_slot_denied(n) ? "" : slot);
    put_bool(o, &ok, "lost", cluster_slot_lost(c, n));
    put_str(o, &ok, "use", pgq_slot_use_name(v != NULL ? v->obs.slot_use : 0));
    return done(o, ok);
}

/* The standbys the node named synchronous as a primary, and where each
 * stopped being one (null while it still is). */
static json_t *sync_standbys_doc(const struct node *n)
{
    json_t *a = json_array();
    bool ok = true;
    for (unsigned i = 0; i < n->n_sync; i++) {
        json_t *o = json_object();
        bool ok2 = true;
        char left[32];
        put_str(o, &ok2, "name", n->sync[i].name);
        pgq_lsn_format(n->sync[i].left_lsn, left, sizeof left);
        put_str(o, &ok2, "left_lsn", n->sync[i].left_lsn != 0 ? left : "");
        append(a, &ok, done(o, ok2));
    }
    return done(a, ok);
}

/* What the freshest view that reached the node saw of its PostgreSQL. */
static void put_observed(json_t *o, bool *ok, const struct view_obs *b)
{
    put_bool(o, ok, "in_recovery", b->in_recovery);
    put_u64(o, ok, "timeline", b->timeline);
    put_lsn(o, ok, "lsn", render_node_lsn(b));
    put_u64(o, ok, "lsn_bytes", render_node_lsn(b));
    put_lsn(o, ok, "receive_lsn", b->receive_lsn);
    put_lsn(o, ok, "replay_lsn", b->replay_lsn);
    put_bool(o, ok, "streaming", b->streaming);
    put_str(o, ok, "upstream", b->upstream);
    put_lsn(o, ok, "upstream_lsn", b->upstream_lsn);
    put_u64(o, ok, "replay_lag_bytes",
            b->receive_lsn > b->replay_lsn ? b->receive_lsn - b->replay_lsn : 0);
    put_bool(o, ok, "read_only", b->read_only);
    put_rate(o, ok, "cache_hit_rate", b->cache_hit_bp);
    put_rate(o, ok, "index_hit_rate", b->index_hit_bp);
    put_u64(o, ok, "connections", b->connections);
}

/* Each monitor's latest view of the node. */
static json_t *views_doc(const struct state *s, const struct node *n)
{
    json_t *a = json_array();
    bool ok = true;
    for (unsigned k = 0; k < n->n_views; k++) {
        const struct view *w = &n->views[k];
        json_t *o;
        bool ok2 = true;
        if (w->monitor_id == 0) {
            continue;
        }
        o = json_object();
        put_u64(o, &ok2, "monitor", w->monitor_id);
        put_bool(o, &ok2, "reachable", w->obs.reachable);
        put_str(o, &ok2, "error", w->obs.error);
        put_bool(o, &ok2, "stale", w->gen != s->leader_gen);
        put_time(o, &ok2, "observed_at", w->obs.probed_ms);
        put_time(o, &ok2, "committed_at", w->applied_ms);
        append(a, &ok, done(o, ok2));
    }
    return done(a, ok);
}

json_t *render_node_doc(const struct state *s, const struct cluster *c, const struct node *n)
{
    const struct view *v = render_freshest_up(n);
    const struct view *f = node_latest_view(n);
    json_t *o = json_object();
    uint64_t lag;
    bool ok = true;
    char sysid[24];
    put_str(o, &ok, "name", n->name);
    put_str(o, &ok, "cluster", c->name);
    put_str(o, &ok, "conninfo", n->conninfo);
    put_u64(o, &ok, "priority", n->priority);
    put_bool(o, &ok, "maintenance", n->maintenance);
    put_bool(o, &ok, "maintenance_allow_failover", n->maintenance_allow_failover);
    put_str(o, &ok, "role", pgq_role_name(n->role));
    put_str(o, &ok, "health", pgq_verdict_name(n->verdict));
    put_time(o, &ok, "health_since", n->verdict_since_ms);
    put_bool(o, &ok, "alert_writable", n->alert_writable);
    put_str(o, &ok, "twin_of", n->twin_of);
    snprintf(sysid, sizeof sysid, "%" PRIu64, n->system_id);
    put_str(o, &ok, "system_id", n->system_id != 0 ? sysid : ""); /* a string: 64 bits */
    put_bool(o, &ok, "identity_refused", node_impostor(n));
    put_str(o, &ok, "rejoin", n->role == PGQ_ROLE_DEMOTED ? n->rejoin : "");
    put(o, &ok, "agent", agent_doc(&n->agent));
    if (n->cut_round != 0 && n->cut_round == c->fo.round) {
        json_t *cut = json_object();
        bool ok2 = true;
        put_lsn(cut, &ok2, "lsn", n->cut_lsn);
        put_u64(cut, &ok2, "timeline", n->cut_tli);
        put(o, &ok, "cut", done(cut, ok2));
    }
    put(o, &ok, "slot", slot_doc(c, n));
    put_u64(o, &ok, "fenced_epoch", n->fenced_epoch);
    put_u64(o, &ok, "following_epoch", n->following_epoch);
    put_bool(o, &ok, "replication_quorum", n->replication_quorum);
    put(o, &ok, "sync_standbys", sync_standbys_doc(n));
    if (v != NULL) {
        put_observed(o, &ok, &v->obs);
    }
    put(o, &ok, "lag_bytes", render_node_lag(c, n, &lag) ? uint_value(lag) : json_null());
    put_time(o, &ok, "observed_at", f != NULL ? f->obs.probed_ms : 0);
    put(o, &ok, "views", views_doc(s, n));
    return done(o, ok);
}

/* ---- status --------------------------------------------------------------- */

/* A monitor's probes and resources (monitor_resources.c), in this order. */
static void put_resources(json_t *o, bool *ok, const struct raft_info *ri)
{
    const struct
    {
        const char *key;
        uint64_t value;
    } nums[] = {
        {"probes", ri->probes},
        {"probes_shed", ri->probes_shed},
        {"open_files_limit", ri->fd_limit},
        {"open_files_needed", ri->fd_needed},
        {"loop_lag_ms", ri->loop_lag_ms},
    };
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(nums); i++) {
        put_u64(o, ok, nums[i].key, nums[i].value);
    }
    put_bool(o, ok, "overloaded", ri->overloaded);
}

static json_t *monitor_doc(const struct monitor_row *r)
{
    json_t *o = json_object();
    bool ok = true;
    put_u64(o, &ok, "id", r->id);
    put_str(o, &ok, "api_address", r->api_address);
    put_str(o, &ok, "raft_address", r->raft_address);
    put_str(o, &ok, "role", r->reachable ? pgq_monitor_role_name(r->info.role) : "unreachable");
    put_str(o, &ok, "raft_role", render_raft_role(r->raft_role));
    put_bool(o, &ok, "voter", r->raft_role == MEMBERS_ROLE_VOTER);
    put_bool(o, &ok, "reachable", r->reachable);
    if (r->reachable) {
        put_u64(o, &ok, "term", r->info.term);
        put_u64(o, &ok, "commit_index", r->info.commit_index);
        put_u64(o, &ok, "applied_index", r->info.applied_index);
        put_bool(o, &ok, "ready", r->info.ready);
        put_u64(o, &ok, "rss_kb", r->info.rss_kb);
        put_str(o, &ok, "version", r->info.version);
        put_resources(o, &ok, &r->info);
    }
    return done(o, ok);
}

static bool cluster_shown(const struct cluster *c, const char *cluster)
{
    return cluster == NULL || cluster[0] == '\0' || strcmp(cluster, c->name) == 0;
}

json_t *render_status_doc(const struct state *s,
                          const struct monitor_row *rows,
                          unsigned n_rows,
                          uint64_t leader,
                          const char *cluster)
{
    json_t *o = json_object(), *monitors = json_array(), *clusters = json_array(),
           *nodes = json_array();
    bool ok = true;
    put(o, &ok, "leader", leader != 0 ? uint_value(leader) : json_null());
    put_u64(o, &ok, "leader_generation", s->leader_gen);
    for (unsigned i = 0; i < n_rows; i++) {
        append(monitors, &ok, monitor_doc(&rows[i]));
    }
    put(o, &ok, "monitors", monitors);
    for (unsigned ci = 0; ci < s->n_clusters; ci++) {
        const struct cluster *c = &s->clusters[ci];
        if (!cluster_shown(c, cluster)) {
            continue;
        }
        append(clusters, &ok, cluster_doc(c));
        for (unsigned ni = 0; ni < c->n_nodes; ni++) {
            append(nodes, &ok, render_node_doc(s, c, &c->nodes[ni]));
        }
    }
    put(o, &ok, "clusters", clusters);
    put(o, &ok, "nodes", nodes);
    return done(o, ok);
}

/* One element of an array being streamed: ',' before all but the first. */
static int stream_one(FILE *out, json_t *doc, bool *first)
{
    int rv = 0;
    if (doc == NULL) {
        return PGQ_NOMEM;
    }
    if ((!*first && fputc(',', out) == EOF) || json_dumpf(doc, out, DOC_FLAGS) != 0) {
        rv = PGQ_IO;
    }
    *first = false;
    json_decref(doc);
    return rv;
}

/* The head as the document would start it, up to its clusters' array. */
static int walk_head(FILE *out,
                     const struct state *s,
                     const struct monitor_row *rows,
                     unsigned n_rows,
                     uint64_t leader)
{
    json_t *head = json_object(), *monitors = json_array();
    bool ok = true;
    char *text;
    size_t len;
    int rv = 0;
    put(head, &ok, "leader", leader != 0 ? uint_value(leader) : json_null());
    put_u64(head, &ok, "leader_generation", s->leader_gen);
    for (unsigned i = 0; i < n_rows; i++) {
        append(monitors, &ok, monitor_doc(&rows[i]));
    }
    put(head, &ok, "monitors", monitors);
    head = done(head, ok);
    text = head != NULL ? json_dumps(head, DOC_FLAGS) : NULL;
    json_decref(head);
    if (text == NULL) {
        return PGQ_NOMEM;
    }
    len = strlen(text); /* without its closing brace */
    if (fwrite(text, 1, len - 1, out) != len - 1 || fputs(",\"clusters\":[", out) == EOF) {
        rv = PGQ_IO;
    }
    free(text);
    return rv;
}

int render_status_walk_begin(struct render_walk *w,
                             const struct state *s,
                             const struct monitor_row *rows,
                             unsigned n_rows,
                             uint64_t leader,
                             const char *cluster,
                             FILE *out)
{
    memset(w, 0, sizeof *w);
    w->first = true;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        w->n += cluster_shown(&s->clusters[i], cluster);
    }
    w->names = w->n > 0 ? malloc((size_t)w->n * sizeof *w->names) : NULL;
    if (w->n > 0 && w->names == NULL) {
        return PGQ_NOMEM;
    }
    w->n = 0;
    for (unsigned i = 0; i < s->n_clusters; i++) {
        if (cluster_shown(&s->clusters[i], cluster)) {
            memcpy(w->names[w->n++], s->clusters[i].name, sizeof w->names[0]);
        }
    }
    return walk_head(out, s, rows, n_rows, leader);
}

int render_status_walk_step(struct render_walk *w,
                            const struct state *s,
                            unsigned nodes,
                            FILE *out,
                            bool *more)
{
    unsigned done_nodes = 0;
    int rv = 0;
    while (rv == 0 && w->pass < 2 && done_nodes < nodes) {
        const struct cluster *c;
        if (w->next == w->n) {
            w->pass++;
            w->next = 0;
            w->first = true;
            rv = fputs(w->pass == 1 ? "],\"nodes\":[" : "]}\n", out) == EOF ? PGQ_IO : 0;
            continue;
        }
        c = state_cluster(s, w->names[w->next++]);
        if (c == NULL) {
            continue;
        }
        if (w->pass == 0) {
            rv = stream_one(out, cluster_doc(c), &w->first);
            done_nodes++;
            continue;
        }
        for (unsigned ni = 0; ni < c->n_nodes && rv == 0; ni++) {
            rv = stream_one(out, render_node_doc(s, c, &c->nodes[ni]), &w->first);
        }
        done_nodes += c->n_nodes;
    }
    *more = rv == 0 && w->pass < 2;
    return rv;
}

void render_status_walk_end(struct render_walk *w)
{
    free(w->names);
    memset(w, 0, sizeof *w);
}

int render_status_stream(FILE *out,
                         const struct state *s,
                         const struct monitor_row *rows,
                         unsigned n_rows,
                         uint64_t leader,
                         const char *cluster)
{
    struct render_walk w;
    bool more = true;
    int rv = render_status_walk_begin(&w, s, rows, n_rows, leader, cluster, out);
    while (rv == 0 && more) {
        rv = render_status_walk_step(&w, s, UINT_MAX, out, &more);
    }
    render_status_walk_end(&w);
    return rv;
}

/* ---- events ------------------------------------------------------------------ */

static json_t *event_doc(const struct event *e)
{
    json_t *o = json_object();
    char t[40];
    bool ok = true;
    render_iso_time(e->time_ms, t, sizeof t);
    put_u64(o, &ok, "seq", e->seq);
    put_str(o, &ok, "time", t);
    put_u64(o, &ok, "time_ms", e->time_ms);
    put_str(o, &ok, "cluster", e->cluster);
    put_str(o, &ok, "node", e->node);
    put_str(o, &ok, "event", pgq_event_kind_name(e->kind));
    put_u64(o, &ok, "epoch", e->epoch);
    put_u64_or_null(o, &ok, "duration_ms", e->duration_ms);
    put_str(o, &ok, "message", e->message);
    /* Level 5: the request it records ("" when none). */
    put_str(o, &ok, "who", e->who);
    put_str(o, &ok, "from", e->from);
    put_str(o, &ok, "action", e->action != 0 ? authz_action_name(e->action) : "");
    put_str(o, &ok, "outcome", e->outcome);
    return done(o, ok);
}

json_t *render_events_doc(const struct state *s, const char *cluster, unsigned limit)
{
    json_t *a;
    struct event_list l;
    bool ok = true;
    /* Those of the cluster asked for and of none (a leader's), merged. */
    if (state_events_list(s, cluster, limit, &l) != 0) {
        return NULL;
    }
    a = json_array();
    for (unsigned i = 0; i < l.n; i++) {
        append(a, &ok, event_doc(l.ev[i]));
    }
    event_list_free(&l);
    return done(a, ok);
}

/* ---- output ------------------------------------------------------------------ */

char *render_json_dumps(const json_t *doc)
{
    return json_dumps(doc, DOC_FLAGS);
}

int render_json_write(FILE *out, const json_t *doc)
{
    char *text = render_json_dumps(doc);
    int rv = 0;
    if (text == NULL) {
        return PGQ_NOMEM;
    }
    if (fputs(text, out) == EOF || fputc('\n', out) == EOF) {
        rv = PGQ_IO;
    }
    free(text);
    return rv;
}
