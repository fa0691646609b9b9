/* Codec: proto/ formats <-> core structs (see codec.h).
 *
 * Encoders build protobuf-c messages that point into the core structs and
 * into a scratch arena, pack them, and free the arena: nothing outlives the
 * call. Decoders unpack, check the version and every limit, copy into core
 * structs, and free the unpacked message. */
#include "codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "command.pb-c.h"
#include "lib/util.h"
#include "state.pb-c.h"

/* ---- scratch arena for encoders ---------------------------------------- */

struct scratch
{
    void **ptrs;
    size_t n, cap;
    bool failed;
};

static void *scratch_alloc(struct scratch *sc, size_t size)
{
    void *p;
    if (sc->failed) {
        return NULL;
    }
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 64;
        void **grown = realloc(sc->ptrs, cap * sizeof *grown);
        if (grown == NULL) {
            sc->failed = true;
            return NULL;
        }
        sc->ptrs = grown;
        sc->cap = cap;
    }
    p = calloc(1, size ? size : 1);
    if (p == NULL) {
        sc->failed = true;
        return NULL;
    }
    sc->ptrs[sc->n++] = p;
    return p;
}

static void scratch_free(struct scratch *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->ptrs[i]);
    }
    free(sc->ptrs);
    memset(sc, 0, sizeof *sc);
}

/* Pack any message into a fresh buffer with headroom. */
static int pack(const ProtobufCMessage *m, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    size_t headroom = a != NULL ? a->headroom : 0;
    uint8_t *out =
        a != NULL && a->alloc != NULL ? a->alloc(headroom + size) : malloc(headroom + size);
    if (out == NULL) {
        return PGQ_NOMEM;
    }
    protobuf_c_message_pack(m, out + headroom);
    *buf = out;
    *len = size;
    return 0;
}

/* Protobuf-c wants char * even for strings it only reads. */
static char *S(const char *s)
{
    return (char *)(uintptr_t)s;
}

/* ---- decode helpers ----------------------------------------------------- */

struct dec
{
    char *errmsg;
    size_t errsize;
    int rv;
};

static void dec_fail(struct dec *d, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);
static void dec_fail(struct dec *d, int code, const char *fmt, ...)
{
    va_list ap;
    if (d->rv != 0) {
        return; /* keep the first error */
    }
    d->rv = code;
    if (d->errmsg != NULL && d->errsize > 0) {
        va_start(ap, fmt);
        vsnprintf(d->errmsg, d->errsize, fmt, ap);
        va_end(ap);
    }
}

static void copy_str(struct dec *d, char *dst, size_t size, const char *src, const char *field)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    if (strlen(src) >= size) {
        dec_fail(d, PGQ_TOOBIG, "field %s is longer than %zu bytes", field, size - 1);
        dst[0] = '\0';
        return;
    }
    memcpy(dst, src, strlen(src) + 1);
}

static void check_count(struct dec *d, size_t n, size_t max, const char *field)
{
    if (n > max) {
        dec_fail(d, PGQ_TOOBIG, "field %s has %zu entries, more than %zu", field, n, max);
    }
}

static void check_version(struct dec *d, uint32_t version, const char *what)
{
    if (version != PGQ_FORMAT_VERSION) {
        dec_fail(d, PGQ_VERSION, "%s has format version %" PRIu32 ", this build speaks %d", what,
                 version, PGQ_FORMAT_VERSION);
    }
}

/* ---- observations ------------------------------------------------------- */

static void obs_to_pb(const struct obs *o, Pgq__Observation *m)
{
    pgq__observation__init(m);
    m->node = S(o->node);
    m->reachable = o->reachable;
    if (o->error[0] != '\0') {
        m->error = S(o->error);
    }
    m->has_in_recovery = true, m->in_recovery = o->in_recovery;
    m->has_timeline = true, m->timeline = o->timeline;
    m->has_current_lsn = true, m->current_lsn = o->current_lsn;
    m->has_receive_lsn = true, m->receive_lsn = o->receive_lsn;
    m->has_replay_lsn = true, m->replay_lsn = o->replay_lsn;
    m->has_streaming = true, m->streaming = o->streaming;
    if (o->upstream[0] != '\0') {
        m->upstream = S(o->upstream);
    }
    m->has_cache_hit_bp = true, m->cache_hit_bp = o->cache_hit_bp;
    m->has_index_hit_bp = true, m->index_hit_bp = o->index_hit_bp;
    m->has_connections = true, m->connections = o->connections;
    m->has_read_only = true, m->read_only = o->read_only;
    m->has_probed_ms = true, m->probed_ms = o->probed_ms;
    m->has_basis_seq = true, m->basis_seq = o->basis_seq;
    m->has_server_version = true, m->server_version = o->server_version;
}

static void obs_from_pb(struct dec *d, const Pgq__Observation *m, struct obs *o)
{
    memset(o, 0, sizeof *o);
    copy_str(d, o->node, sizeof o->node, m->node, "observation.node");
    o->reachable = m->reachable;
    copy_str(d, o->error, sizeof o->error, m->error, "observation.error");
    o->in_recovery = m->in_recovery;
    o->timeline = m->timeline;
    o->current_lsn = m->current_lsn;
    o->receive_lsn = m->receive_lsn;
    o->replay_lsn = m->replay_lsn;
    o->streaming = m->streaming;
    copy_str(d, o->upstream, sizeof o->upstream, m->upstream, "observation.upstream");
    o->cache_hit_bp = m->has_cache_hit_bp ? m->cache_hit_bp : PGQ_BP_NONE;
    o->index_hit_bp = m->has_index_hit_bp ? m->index_hit_bp : PGQ_BP_NONE;
    o->connections = m->connections;
    o->read_only = m->read_only;
    o->probed_ms = m->probed_ms;
    o->basis_seq = m->basis_seq;
    o->server_version = m->server_version;
}

/* ---- commands ----------------------------------------------------------- */

/* Build the body of a command into `m`; returns 0 or PGQ_NOMEM/PGQ_UNKNOWN. */
static int command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc)
{
    pgq__command__init(m);
    m->version = PGQ_FORMAT_VERSION;
    m->time_ms = cmd->time_ms;
    switch (cmd->kind) {
        case CMD_HELLO: {
            const struct cmd_hello *h = &cmd->u.hello;
            Pgq__LeaderHello *b = scratch_alloc(sc, sizeof *b);
            Pgq__VoterAddr **vs = scratch_alloc(sc, h->n_voters * sizeof *vs);
            if (b == NULL || vs == NULL) {
                return PGQ_NOMEM;
            }
            pgq__leader_hello__init(b);
            b->monitor_id = h->monitor_id;
            b->api_address = S(h->api_address);
            for (unsigned i = 0; i < h->n_voters; i++) {
                vs[i] = scratch_alloc(sc, sizeof *vs[i]);
                if (vs[i] == NULL) {
                    return PGQ_NOMEM;
                }
                pgq__voter_addr__init(vs[i]);
                vs[i]->id = h->voters[i].id;
                vs[i]->raft_address = S(h->voters[i].raft_address);
            }
            b->n_voters = h->n_voters;
            b->voters = vs;
            m->body_case = PGQ__COMMAND__BODY_HELLO;
            m->hello = b;
            return 0;
        }
        case CMD_NODE_ADD: {
            Pgq__NodeAdd *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__node_add__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->conninfo = S(cmd->u.node_add.conninfo);
            b->priority = cmd->u.node_add.priority;
            m->body_case = PGQ__COMMAND__BODY_NODE_ADD;
            m->node_add = b;
            return 0;
        }
        case CMD_NODE_REMOVE: {
            Pgq__NodeRemove *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__node_remove__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            m->body_case = PGQ__COMMAND__BODY_NODE_REMOVE;
            m->node_remove = b;
            return 0;
        }
        case CMD_MAINTENANCE: {
            Pgq__SetMaintenance *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_maintenance__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->on = cmd->u.maintenance.on;
            m->body_case = PGQ__COMMAND__BODY_MAINTENANCE;
            m->maintenance = b;
            return 0;
        }
        case CMD_REPORT: {
            const struct cmd_report *r = &cmd->u.report;
            Pgq__Report *b = scratch_alloc(sc, sizeof *b);
            Pgq__Observation **os = scratch_alloc(sc, r->n_obs * sizeof *os);
            Pgq__Observation *arr = scratch_alloc(sc, r->n_obs * sizeof *arr);
            if (b == NULL || os == NULL || arr == NULL) {
                return PGQ_NOMEM;
            }
            pgq__report__init(b);
            b->monitor_id = r->monitor_id;
            b->cluster = S(cmd->cluster);
            if (r->api_address[0] != '\0') {
                b->api_address = S(r->api_address);
            }
            for (unsigned i = 0; i < r->n_obs; i++) {
                obs_to_pb(&r->obs[i], &arr[i]);
                os[i] = &arr[i];
            }
            b->n_obs = r->n_obs;
            b->obs = os;
            m->body_case = PGQ__COMMAND__BODY_REPORT;
            m->report = b;
            return 0;
        }
        case CMD_SET_ROLE: {
            Pgq__SetRole *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__set_role__init(b);
            b->cluster = S(cmd->cluster);
            b->name = S(cmd->node);
            b->role = (uint32_t)cmd->u.set_role.role;
            b->epoch = cmd->u.set_role.epoch;
            m->body_case = PGQ__COMMAND__BODY_SET_ROLE;
            m->set_role = b;
            return 0;
        }
        case CMD_DECIDE: {
            const struct cmd_decide *dd = &cmd->u.decide;
            Pgq__Decide *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__decide__init(b);
            b->cluster = S(cmd->cluster);
            b->epoch = dd->epoch;
            b->old_primary = S(dd->old_primary);
            b->candidate = S(cmd->node);
            b->candidate_lsn = dd->candidate_lsn;
            b->down_ms = dd->down_ms;
            b->reason = S(dd->reason);
            m->body_case = PGQ__COMMAND__BODY_DECIDE;
            m->decide = b;
            return 0;
        }
        case CMD_BLOCKED: {
            Pgq__Blocked *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__blocked__init(b);
            b->cluster = S(cmd->cluster);
            b->reason = S(cmd->u.blocked.reason);
            m->body_case = PGQ__COMMAND__BODY_BLOCKED;
            m->blocked = b;
            return 0;
        }
        case CMD_STEP: {
            const struct cmd_step *st = &cmd->u.step;
            Pgq__Step *b = scratch_alloc(sc, sizeof *b);
            if (b == NULL) {
                return PGQ_NOMEM;
            }
            pgq__step__init(b);
            b->cluster = S(cmd->cluster);
            b->epoch = st->epoch;
            b->kind = (uint32_t)st->kind;
            if (cmd->node[0] != '\0') {
                b->node = S(cmd->node);
            }
            b->has_timeline = st->timeline != 0;
            b->timeline = st->timeline;
            if (st->detail[0] != '\0') {
                b->detail = S(st->detail);
            }
            m->body_case = PGQ__COMMAND__BODY_STEP;
            m->step = b;
            return 0;
        }
        default:
            return PGQ_UNKNOWN;
    }
}

int codec_command_encode(const struct command *cmd,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len)
{
    struct scratch sc = {0};
    Pgq__Command m;
    int rv = command_to_pb(cmd, &m, &sc);
    if (rv == 0) {
        rv = pack(&m.base, a, buf, len);
    }
    scratch_free(&sc);
    return rv;
}

/* Decode a command body (shared by the log and the API). `kind` is the CMD_*
 * the caller expects from the oneof case. */
static void report_from_pb(struct dec *d, const Pgq__Report *b, struct command *cmd)
{
    struct cmd_report *r = &cmd->u.report;
    copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "report.cluster");
    copy_str(d, r->api_address, sizeof r->api_address, b->api_address, "report.api_address");
    r->monitor_id = b->monitor_id;
    check_count(d, b->n_obs, PGQ_MAX_NODES, "report.obs");
    if (d->rv != 0 || b->n_obs == 0) {
        return;
    }
    r->obs = calloc(b->n_obs, sizeof *r->obs);
    if (r->obs == NULL) {
        dec_fail(d, PGQ_NOMEM, "out of memory");
        return;
    }
    r->n_obs = (unsigned)b->n_obs;
    for (size_t i = 0; i < b->n_obs; i++) {
        obs_from_pb(d, b->obs[i], &r->obs[i]);
    }
}

static void node_add_from_pb(struct dec *d, const Pgq__NodeAdd *b, struct command *cmd)
{
    copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "node_add.cluster");
    copy_str(d, cmd->node, sizeof cmd->node, b->name, "node_add.name");
    copy_str(d, cmd->u.node_add.conninfo, sizeof cmd->u.node_add.conninfo, b->conninfo,
             "node_add.conninfo");
    cmd->u.node_add.priority = b->priority;
}

static void command_from_pb(struct dec *d, const Pgq__Command *m, struct command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    check_version(d, m->version, "command");
    if (d->rv != 0) {
        return;
    }
    cmd->time_ms = m->time_ms;
    switch (m->body_case) {
        case PGQ__COMMAND__BODY_HELLO: {
            const Pgq__LeaderHello *b = m->hello;
            cmd->kind = CMD_HELLO;
            cmd->u.hello.monitor_id = b->monitor_id;
            copy_str(d, cmd->u.hello.api_address, sizeof cmd->u.hello.api_address, b->api_address,
                     "hello.api_address");
            check_count(d, b->n_voters, PGQ_MAX_MONITORS, "hello.voters");
            if (d->rv != 0) {
                return;
            }
            for (size_t i = 0; i < b->n_voters; i++) {
                cmd->u.hello.voters[i].id = b->voters[i]->id;
                cmd->u.hello.voters[i].voter = true;
                copy_str(d, cmd->u.hello.voters[i].raft_address,
                         sizeof cmd->u.hello.voters[i].raft_address, b->voters[i]->raft_address,
                         "hello.voters.raft_address");
            }
            cmd->u.hello.n_voters = (unsigned)b->n_voters;
            return;
        }
        case PGQ__COMMAND__BODY_NODE_ADD:
            cmd->kind = CMD_NODE_ADD;
            node_add_from_pb(d, m->node_add, cmd);
            return;
        case PGQ__COMMAND__BODY_NODE_REMOVE:
            cmd->kind = CMD_NODE_REMOVE;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, m->node_remove->cluster,
                     "node_remove.cluster");
            copy_str(d, cmd->node, sizeof cmd->node, m->node_remove->name, "node_remove.name");
            return;
        case PGQ__COMMAND__BODY_MAINTENANCE:
            cmd->kind = CMD_MAINTENANCE;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, m->maintenance->cluster,
                     "maintenance.cluster");
            copy_str(d, cmd->node, sizeof cmd->node, m->maintenance->name, "maintenance.name");
            cmd->u.maintenance.on = m->maintenance->on;
            return;
        case PGQ__COMMAND__BODY_REPORT:
            cmd->kind = CMD_REPORT;
            report_from_pb(d, m->report, cmd);
            return;
        case PGQ__COMMAND__BODY_SET_ROLE:
            cmd->kind = CMD_SET_ROLE;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, m->set_role->cluster,
                     "set_role.cluster");
            copy_str(d, cmd->node, sizeof cmd->node, m->set_role->name, "set_role.name");
            cmd->u.set_role.role = (int)m->set_role->role;
            cmd->u.set_role.epoch = m->set_role->epoch;
            return;
        case PGQ__COMMAND__BODY_DECIDE: {
            const Pgq__Decide *b = m->decide;
            cmd->kind = CMD_DECIDE;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "decide.cluster");
            copy_str(d, cmd->node, sizeof cmd->node, b->candidate, "decide.candidate");
            copy_str(d, cmd->u.decide.old_primary, sizeof cmd->u.decide.old_primary, b->old_primary,
                     "decide.old_primary");
            copy_str(d, cmd->u.decide.reason, sizeof cmd->u.decide.reason, b->reason,
                     "decide.reason");
            cmd->u.decide.epoch = b->epoch;
            cmd->u.decide.candidate_lsn = b->candidate_lsn;
            cmd->u.decide.down_ms = b->down_ms;
            return;
        }
        case PGQ__COMMAND__BODY_BLOCKED:
            cmd->kind = CMD_BLOCKED;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, m->blocked->cluster, "blocked.cluster");
            copy_str(d, cmd->u.blocked.reason, sizeof cmd->u.blocked.reason, m->blocked->reason,
                     "blocked.reason");
            return;
        case PGQ__COMMAND__BODY_STEP: {
            const Pgq__Step *b = m->step;
            cmd->kind = CMD_STEP;
            copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "step.cluster");
            copy_str(d, cmd->node, sizeof cmd->node, b->node, "step.node");
            copy_str(d, cmd->u.step.detail, sizeof cmd->u.step.detail, b->detail, "step.detail");
            cmd->u.step.epoch = b->epoch;
            cmd->u.step.kind = (int)b->kind;
            cmd->u.step.timeline = b->timeline;
            return;
        }
        default:
            dec_fail(d, PGQ_UNKNOWN, "unknown command (oneof case %d)", (int)m->body_case);
            return;
    }
}

int codec_command_decode(const uint8_t *buf,
                         size_t len,
                         struct command *cmd,
                         char *errmsg,
                         size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    Pgq__Command *m = pgq__command__unpack(NULL, len, buf);
    if (m == NULL) {
        memset(cmd, 0, sizeof *cmd);
        dec_fail(&d, PGQ_MALFORMED, "malformed command (%zu bytes)", len);
        return d.rv;
    }
    command_from_pb(&d, m, cmd);
    pgq__command__free_unpacked(m, NULL);
    if (d.rv != 0) {
        command_close(cmd);
    }
    return d.rv;
}

/* ---- state -------------------------------------------------------------- */

static Pgq__Event *event_to_pb(const struct event *e, struct scratch *sc)
{
    Pgq__Event *m = scratch_alloc(sc, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    pgq__event__init(m);
    m->seq = e->seq;
    m->time_ms = e->time_ms;
    m->cluster = S(e->cluster);
    if (e->node[0] != '\0') {
        m->node = S(e->node);
    }
    m->kind = (uint32_t)e->kind;
    m->message = S(e->message);
    m->has_duration_ms = e->duration_ms != 0;
    m->duration_ms = e->duration_ms;
    m->has_epoch = true;
    m->epoch = e->epoch;
    return m;
}

static Pgq__Node *node_to_pb(const struct node *n, struct scratch *sc)
{
    Pgq__Node *m = scratch_alloc(sc, sizeof *m);
    Pgq__MonitorView **vs = scratch_alloc(sc, PGQ_MAX_MONITORS * sizeof *vs);
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &n->views[i];
        Pgq__MonitorView *mv;
        Pgq__Observation *o;
        if (v->monitor_id == 0) {
            continue;
        }
        mv = scratch_alloc(sc, sizeof *mv);
        o = scratch_alloc(sc, sizeof *o);
        if (mv == NULL || o == NULL) {
            return NULL;
        }
        pgq__monitor_view__init(mv);
        obs_to_pb(&v->obs, o);
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

static Pgq__Cluster *cluster_to_pb(const struct cluster *c, struct scratch *sc)
{
    Pgq__Cluster *m = scratch_alloc(sc, sizeof *m);
    Pgq__Failover *fo = scratch_alloc(sc, sizeof *fo);
    Pgq__Node **ns = scratch_alloc(sc, c->n_nodes * sizeof *ns);
    if (m == NULL || fo == NULL || ns == NULL) {
        return NULL;
    }
    pgq__cluster__init(m);
    pgq__failover__init(fo);
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
    fo->phase = (uint32_t)c->fo.phase;
    fo->epoch = c->fo.epoch;
    fo->old_primary = S(c->fo.old_primary);
    fo->candidate = S(c->fo.candidate);
    fo->has_down_ms = true, fo->down_ms = c->fo.down_ms;
    fo->has_decided_ms = true, fo->decided_ms = c->fo.decided_ms;
    fo->has_promoted_ms = true, fo->promoted_ms = c->fo.promoted_ms;
    fo->has_done_ms = true, fo->done_ms = c->fo.done_ms;
    fo->has_timeline = true, fo->timeline = c->fo.timeline;
    fo->blocked = S(c->fo.blocked);
    fo->has_candidate_lsn = true, fo->candidate_lsn = c->fo.candidate_lsn;
    m->failover = fo;
    return m;
}

/* What of the state a message carries: a snapshot needs everything, a
 * status reply everything but the history (events have their own request),
 * an events reply only the history. */
enum { STATE_ALL, STATE_NO_EVENTS, STATE_EVENTS_ONLY };

/* Fill a State message; events filtered by cluster ("" or NULL: all) and
 * limited to the last `limit` (0: all). */
static int state_to_pb(const struct state *s,
                       Pgq__State *m,
                       struct scratch *sc,
                       int what,
                       const char *cluster,
                       unsigned limit)
{
    bool events_only = what == STATE_EVENTS_ONLY;
    unsigned n_ev = 0, first = 0;
    Pgq__Event **evs;
    pgq__state__init(m);
    m->seq = s->seq;
    m->time_ms = s->time_ms;
    m->leader_gen = s->leader_gen;
    m->leader_id = s->leader_id;
    m->gen_since_ms = s->gen_since_ms;
    m->event_seq = s->event_seq;
    if (!events_only) {
        Pgq__Monitor **ms = scratch_alloc(sc, PGQ_MAX_MONITORS * sizeof *ms);
        Pgq__Cluster **cs = scratch_alloc(sc, s->n_clusters * sizeof *cs);
        if (ms == NULL || cs == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < s->n_monitors; i++) {
            ms[i] = scratch_alloc(sc, sizeof *ms[i]);
            if (ms[i] == NULL) {
                return PGQ_NOMEM;
            }
            pgq__monitor__init(ms[i]);
            ms[i]->id = s->monitors[i].id;
            ms[i]->raft_address = S(s->monitors[i].raft_address);
            ms[i]->api_address = S(s->monitors[i].api_address);
            ms[i]->voter = s->monitors[i].voter;
        }
        m->n_monitors = s->n_monitors;
        m->monitors = ms;
        for (unsigned i = 0; i < s->n_clusters; i++) {
            cs[i] = cluster_to_pb(&s->clusters[i], sc);
            if (cs[i] == NULL) {
                return PGQ_NOMEM;
            }
        }
        m->n_clusters = s->n_clusters;
        m->clusters = cs;
    }
    if (what == STATE_NO_EVENTS) {
        return sc->failed ? PGQ_NOMEM : 0;
    }
    evs = scratch_alloc(sc, (s->n_events + 1) * sizeof *evs);
    if (evs == NULL) {
        return PGQ_NOMEM;
    }
    for (unsigned i = 0; i < s->n_events; i++) {
        const struct event *e = state_event(s, i);
        if (cluster != NULL && cluster[0] != '\0' && e->cluster[0] != '\0' &&
            strcmp(e->cluster, cluster) != 0) {
            continue;
        }
        evs[n_ev] = event_to_pb(e, sc);
        if (evs[n_ev] == NULL) {
            return PGQ_NOMEM;
        }
        n_ev++;
    }
    if (limit != 0 && n_ev > limit) {
        first = n_ev - limit;
    }
    m->n_events = n_ev - first;
    m->events = evs + first;
    return sc->failed ? PGQ_NOMEM : 0;
}

int codec_state_encode(const struct state *s,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len)
{
    struct scratch sc = {0};
    Pgq__Snapshot snap = PGQ__SNAPSHOT__INIT;
    Pgq__State m;
    int rv = state_to_pb(s, &m, &sc, STATE_ALL, NULL, 0);
    if (rv == 0) {
        snap.version = PGQ_FORMAT_VERSION;
        snap.state = &m;
        rv = pack(&snap.base, a, buf, len);
    }
    scratch_free(&sc);
    return rv;
}

static void events_from_pb(struct dec *d, Pgq__Event *const *evs, size_t n, struct state *s)
{
    check_count(d, n, PGQ_MAX_EVENTS, "state.events");
    if (d->rv != 0 || n == 0) {
        return;
    }
    s->events = calloc(PGQ_MAX_EVENTS, sizeof *s->events);
    if (s->events == NULL) {
        dec_fail(d, PGQ_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct event *e = &s->events[i];
        e->seq = evs[i]->seq;
        e->time_ms = evs[i]->time_ms;
        copy_str(d, e->cluster, sizeof e->cluster, evs[i]->cluster, "event.cluster");
        copy_str(d, e->node, sizeof e->node, evs[i]->node, "event.node");
        e->kind = (int)evs[i]->kind;
        copy_str(d, e->message, sizeof e->message, evs[i]->message, "event.message");
        e->duration_ms = evs[i]->duration_ms;
        e->epoch = evs[i]->epoch;
    }
    s->n_events = (unsigned)n;
    s->events_head = 0;
}

static void node_from_pb(struct dec *d, const Pgq__Node *m, struct node *n)
{
    memset(n, 0, sizeof *n);
    copy_str(d, n->name, sizeof n->name, m->name, "node.name");
    copy_str(d, n->conninfo, sizeof n->conninfo, m->conninfo, "node.conninfo");
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
    if (n->role < 0 || n->role >= PGQ__N_ROLES || n->verdict < 0 || n->verdict >= PGQ__N_VERDICTS ||
        n->priority > 100) {
        dec_fail(d, PGQ_MALFORMED, "node %s: role, verdict or priority out of range", n->name);
    }
    check_count(d, m->n_views, PGQ_MAX_MONITORS, "node.views");
    if (d->rv != 0) {
        return;
    }
    for (size_t i = 0; i < m->n_views; i++) {
        n->views[i].monitor_id = m->views[i]->monitor_id;
        n->views[i].gen = m->views[i]->gen;
        n->views[i].applied_ms = m->views[i]->applied_ms;
        obs_from_pb(d, m->views[i]->obs, &n->views[i].obs);
    }
}

static void state_from_pb(struct dec *d, const Pgq__State *m, struct state *s)
{
    state_init(s);
    s->seq = m->seq;
    s->time_ms = m->time_ms;
    s->leader_gen = m->leader_gen;
    s->leader_id = m->leader_id;
    s->gen_since_ms = m->gen_since_ms;
    s->event_seq = m->event_seq;
    check_count(d, m->n_monitors, PGQ_MAX_MONITORS, "state.monitors");
    check_count(d, m->n_clusters, PGQ_MAX_CLUSTERS, "state.clusters");
    if (d->rv != 0) {
        return;
    }
    for (size_t i = 0; i < m->n_monitors; i++) {
        struct member *mon = &s->monitors[i];
        mon->id = m->monitors[i]->id;
        mon->voter = m->monitors[i]->voter;
        copy_str(d, mon->raft_address, sizeof mon->raft_address, m->monitors[i]->raft_address,
                 "monitor.raft_address");
        copy_str(d, mon->api_address, sizeof mon->api_address, m->monitors[i]->api_address,
                 "monitor.api_address");
    }
    s->n_monitors = (unsigned)m->n_monitors;
    if (m->n_clusters > 0) {
        s->clusters = calloc(m->n_clusters, sizeof *s->clusters);
        if (s->clusters == NULL) {
            dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
    }
    for (size_t i = 0; i < m->n_clusters && d->rv == 0; i++) {
        const Pgq__Cluster *mc = m->clusters[i];
        struct cluster *c = &s->clusters[i];
        s->n_clusters++;
        copy_str(d, c->name, sizeof c->name, mc->name, "cluster.name");
        copy_str(d, c->primary, sizeof c->primary, mc->primary, "cluster.primary");
        c->epoch = mc->epoch;
        check_count(d, mc->n_nodes, PGQ_MAX_NODES, "cluster.nodes");
        if (d->rv != 0) {
            return;
        }
        if (mc->n_nodes > 0) {
            c->nodes = calloc(mc->n_nodes, sizeof *c->nodes);
            if (c->nodes == NULL) {
                dec_fail(d, PGQ_NOMEM, "out of memory");
                return;
            }
        }
        for (size_t j = 0; j < mc->n_nodes; j++) {
            node_from_pb(d, mc->nodes[j], &c->nodes[j]);
        }
        c->n_nodes = (unsigned)mc->n_nodes;
        c->fo.phase = (int)mc->failover->phase;
        if (c->fo.phase < 0 || c->fo.phase >= PGQ__N_FO_PHASES) {
            dec_fail(d, PGQ_MALFORMED, "cluster %s: failover phase out of range", c->name);
        }
        c->fo.epoch = mc->failover->epoch;
        copy_str(d, c->fo.old_primary, sizeof c->fo.old_primary, mc->failover->old_primary,
                 "failover.old_primary");
        copy_str(d, c->fo.candidate, sizeof c->fo.candidate, mc->failover->candidate,
                 "failover.candidate");
        copy_str(d, c->fo.blocked, sizeof c->fo.blocked, mc->failover->blocked, "failover.blocked");
        c->fo.down_ms = mc->failover->down_ms;
        c->fo.decided_ms = mc->failover->decided_ms;
        c->fo.promoted_ms = mc->failover->promoted_ms;
        c->fo.done_ms = mc->failover->done_ms;
        c->fo.timeline = mc->failover->timeline;
        c->fo.candidate_lsn = mc->failover->candidate_lsn;
    }
    events_from_pb(d, m->events, m->n_events, s);
}

int codec_state_decode(const uint8_t *buf,
                       size_t len,
                       struct state *s,
                       char *errmsg,
                       size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    Pgq__Snapshot *m = pgq__snapshot__unpack(NULL, len, buf);
    state_init(s);
    if (m == NULL) {
        dec_fail(&d, PGQ_MALFORMED, "malformed snapshot (%zu bytes)", len);
        return d.rv;
    }
    check_version(&d, m->version, "snapshot");
    if (d.rv == 0) {
        state_from_pb(&d, m->state, s);
    }
    pgq__snapshot__free_unpacked(m, NULL);
    if (d.rv != 0) {
        state_close(s);
    }
    return d.rv;
}

/* ---- API ---------------------------------------------------------------- */

int codec_request_encode(const struct api_request *req,
                         const struct codec_alloc *a,
                         uint8_t **buf,
                         size_t *len)
{
    struct scratch sc = {0};
    Pgq__Request m = PGQ__REQUEST__INIT;
    Pgq__StatusRequest status = PGQ__STATUS_REQUEST__INIT;
    Pgq__EventsRequest events = PGQ__EVENTS_REQUEST__INIT;
    Pgq__FailpointRequest fp = PGQ__FAILPOINT_REQUEST__INIT;
    Pgq__Command cm;
    int rv = 0;
    m.version = PGQ_FORMAT_VERSION;
    switch (req->kind) {
        case API_STATUS:
            m.body_case = PGQ__REQUEST__BODY_STATUS;
            m.status = &status;
            break;
        case API_EVENTS:
            m.body_case = PGQ__REQUEST__BODY_EVENTS;
            events.cluster = S(req->cluster);
            events.has_limit = req->limit != 0;
            events.limit = req->limit;
            m.events = &events;
            break;
        case API_FAILPOINT:
            m.body_case = PGQ__REQUEST__BODY_FAILPOINT;
            fp.name = S(req->fp_name);
            fp.action = S(req->fp_action);
            fp.arg = S(req->fp_arg);
            m.failpoint = &fp;
            break;
        case API_NODE_ADD:
        case API_NODE_REMOVE:
        case API_MAINTENANCE:
        case API_REPORT:
            rv = command_to_pb(&req->cmd, &cm, &sc);
            if (rv != 0) {
                break;
            }
            if (req->kind == API_NODE_ADD) {
                m.body_case = PGQ__REQUEST__BODY_NODE_ADD;
                m.node_add = cm.node_add;
            } else if (req->kind == API_NODE_REMOVE) {
                m.body_case = PGQ__REQUEST__BODY_NODE_REMOVE;
                m.node_remove = cm.node_remove;
            } else if (req->kind == API_MAINTENANCE) {
                m.body_case = PGQ__REQUEST__BODY_MAINTENANCE;
                m.maintenance = cm.maintenance;
            } else {
                m.body_case = PGQ__REQUEST__BODY_REPORT;
                m.report = cm.report;
            }
            break;
        default:
            rv = PGQ_UNKNOWN;
            break;
    }
    if (rv == 0) {
        rv = pack(&m.base, a, buf, len);
    }
    scratch_free(&sc);
    return rv;
}

int codec_request_decode(const uint8_t *buf,
                         size_t len,
                         struct api_request *req,
                         char *errmsg,
                         size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    Pgq__Request *m = pgq__request__unpack(NULL, len, buf);
    memset(req, 0, sizeof *req);
    if (m == NULL) {
        dec_fail(&d, PGQ_MALFORMED, "malformed request (%zu bytes)", len);
        return d.rv;
    }
    check_version(&d, m->version, "request");
    if (d.rv != 0) {
        goto out;
    }
    switch (m->body_case) {
        case PGQ__REQUEST__BODY_STATUS:
            req->kind = API_STATUS;
            break;
        case PGQ__REQUEST__BODY_EVENTS:
            req->kind = API_EVENTS;
            copy_str(&d, req->cluster, sizeof req->cluster, m->events->cluster, "events.cluster");
            req->limit = m->events->limit;
            break;
        case PGQ__REQUEST__BODY_FAILPOINT:
            req->kind = API_FAILPOINT;
            copy_str(&d, req->fp_name, sizeof req->fp_name, m->failpoint->name, "failpoint.name");
            copy_str(&d, req->fp_action, sizeof req->fp_action, m->failpoint->action,
                     "failpoint.action");
            copy_str(&d, req->fp_arg, sizeof req->fp_arg, m->failpoint->arg, "failpoint.arg");
            break;
        case PGQ__REQUEST__BODY_NODE_ADD:
            req->kind = API_NODE_ADD;
            req->cmd.kind = CMD_NODE_ADD;
            node_add_from_pb(&d, m->node_add, &req->cmd);
            break;
        case PGQ__REQUEST__BODY_NODE_REMOVE:
            req->kind = API_NODE_REMOVE;
            req->cmd.kind = CMD_NODE_REMOVE;
            copy_str(&d, req->cmd.cluster, sizeof req->cmd.cluster, m->node_remove->cluster,
                     "node_remove.cluster");
            copy_str(&d, req->cmd.node, sizeof req->cmd.node, m->node_remove->name,
                     "node_remove.name");
            break;
        case PGQ__REQUEST__BODY_MAINTENANCE:
            req->kind = API_MAINTENANCE;
            req->cmd.kind = CMD_MAINTENANCE;
            copy_str(&d, req->cmd.cluster, sizeof req->cmd.cluster, m->maintenance->cluster,
                     "maintenance.cluster");
            copy_str(&d, req->cmd.node, sizeof req->cmd.node, m->maintenance->name,
                     "maintenance.name");
            req->cmd.u.maintenance.on = m->maintenance->on;
            break;
        case PGQ__REQUEST__BODY_REPORT:
            req->kind = API_REPORT;
            req->cmd.kind = CMD_REPORT;
            report_from_pb(&d, m->report, &req->cmd);
            break;
        default:
            dec_fail(&d, PGQ_UNKNOWN, "unknown request (oneof case %d)", (int)m->body_case);
            break;
    }
out:
    pgq__request__free_unpacked(m, NULL);
    if (d.rv != 0) {
        api_request_close(req);
    }
    return d.rv;
}

void api_request_close(struct api_request *req)
{
    command_close(&req->cmd);
}

void api_response_init(struct api_response *res)
{
    memset(res, 0, sizeof *res);
    state_init(&res->state);
}

void api_response_close(struct api_response *res)
{
    state_close(&res->state);
}

int codec_response_encode(const struct api_response *res,
                          const struct state *state,
                          const char *events_cluster,
                          unsigned events_limit,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len)
{
    struct scratch sc = {0};
    Pgq__Response m = PGQ__RESPONSE__INIT;
    Pgq__StatusReply status = PGQ__STATUS_REPLY__INIT;
    Pgq__EventsReply events = PGQ__EVENTS_REPLY__INIT;
    Pgq__RaftInfo info = PGQ__RAFT_INFO__INIT;
    Pgq__State st;
    int rv = 0;
    m.version = PGQ_FORMAT_VERSION;
    m.code = (Pgq__Code)res->code;
    if (res->message[0] != '\0') {
        m.message = S(res->message);
    }
    if (res->leader_api[0] != '\0') {
        m.leader_api = S(res->leader_api);
    }
    if (res->body == API_STATUS) {
        const struct raft_info *ri = &res->info;
        info.id = ri->id;
        info.role = (uint32_t)ri->role;
        info.term = ri->term;
        info.commit_index = ri->commit_index;
        info.applied_index = ri->applied_index;
        info.leader_id = ri->leader_id;
        info.raft_address = S(ri->raft_address);
        info.api_address = S(ri->api_address);
        info.leader_api = S(ri->leader_api);
        info.ready = ri->ready;
        info.version = S(ri->version);
        info.has_rss_kb = true;
        info.rss_kb = ri->rss_kb;
        rv = state_to_pb(state, &st, &sc, STATE_NO_EVENTS, NULL, 0);
        status.raft = &info;
        status.state = &st;
        m.body_case = PGQ__RESPONSE__BODY_STATUS;
        m.status = &status;
    } else if (res->body == API_EVENTS) {
        rv = state_to_pb(state, &st, &sc, STATE_EVENTS_ONLY, events_cluster, events_limit);
        events.n_events = st.n_events;
        events.events = st.events;
        m.body_case = PGQ__RESPONSE__BODY_EVENTS;
        m.events = &events;
    }
    if (rv == 0) {
        rv = pack(&m.base, a, buf, len);
    }
    scratch_free(&sc);
    return rv;
}

int codec_response_decode(const uint8_t *buf,
                          size_t len,
                          struct api_response *res,
                          char *errmsg,
                          size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    Pgq__Response *m = pgq__response__unpack(NULL, len, buf);
    api_response_init(res);
    if (m == NULL) {
        dec_fail(&d, PGQ_MALFORMED, "malformed response (%zu bytes)", len);
        return d.rv;
    }
    check_version(&d, m->version, "response");
    if (d.rv != 0) {
        goto out;
    }
    res->code = (int)m->code;
    copy_str(&d, res->message, sizeof res->message, m->message, "response.message");
    copy_str(&d, res->leader_api, sizeof res->leader_api, m->leader_api, "response.leader_api");
    if (m->body_case == PGQ__RESPONSE__BODY_STATUS) {
        const Pgq__RaftInfo *ri = m->status->raft;
        res->body = API_STATUS;
        res->info.id = ri->id;
        res->info.role = (int)ri->role;
        res->info.term = ri->term;
        res->info.commit_index = ri->commit_index;
        res->info.applied_index = ri->applied_index;
        res->info.leader_id = ri->leader_id;
        res->info.ready = ri->ready;
        res->info.rss_kb = ri->rss_kb;
        copy_str(&d, res->info.raft_address, sizeof res->info.raft_address, ri->raft_address,
                 "raft.raft_address");
        copy_str(&d, res->info.api_address, sizeof res->info.api_address, ri->api_address,
                 "raft.api_address");
        copy_str(&d, res->info.leader_api, sizeof res->info.leader_api, ri->leader_api,
                 "raft.leader_api");
        copy_str(&d, res->info.version, sizeof res->info.version, ri->version, "raft.version");
        state_from_pb(&d, m->status->state, &res->state);
    } else if (m->body_case == PGQ__RESPONSE__BODY_EVENTS) {
        res->body = API_EVENTS;
        events_from_pb(&d, m->events->events, m->events->n_events, &res->state);
    }
out:
    pgq__response__free_unpacked(m, NULL);
    if (d.rv != 0) {
        api_response_close(res);
    }
    return d.rv;
}

/* ---- Raft entries and snapshots on disk --------------------------------- */

/* libraft 0.15's encodings of entries (on disk and on the wire) assume
 * payloads whose length is a multiple of 8: a batch of odd-sized entries is
 * decoded at shifted offsets by the receiver (found with ASan: a follower
 * catching up read past the message). So entries and snapshots are padded
 * with zeros to a multiple of 8, and carry their own length: a 4-byte
 * big-endian length, the message, then only zero bytes. */
#define ENTRY_HEADER 4
#define ENTRY_ALIGN 8

static int unwrap(const uint8_t *buf,
                  size_t len,
                  const uint8_t **msg,
                  size_t *msg_len,
                  const char *what,
                  char *errmsg,
                  size_t errsize)
{
    struct dec d = {errmsg, errsize, 0};
    uint32_t n;
    if (len < ENTRY_HEADER) {
        dec_fail(&d, PGQ_MALFORMED, "%s of %zu bytes is too short", what, len);
        return d.rv;
    }
    n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (n > len - ENTRY_HEADER) {
        dec_fail(&d, PGQ_MALFORMED, "%s announces %u bytes, holds %zu", what, n,
                 len - ENTRY_HEADER);
        return d.rv;
    }
    for (size_t i = ENTRY_HEADER + n; i < len; i++) {
        if (buf[i] != 0) {
            dec_fail(&d, PGQ_MALFORMED, "%s has trailing bytes", what);
            return d.rv;
        }
    }
    *msg = buf + ENTRY_HEADER;
    *msg_len = n;
    return 0;
}

static void put_len(uint8_t *buf, size_t len)
{
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
}

/* Wrap an encoded message (at buf + headroom + ENTRY_HEADER) in place:
 * length header in front, zero padding behind. */
static int wrap(
    const struct codec_alloc *a,
    uint8_t **buf,
    size_t *len,
    int (*encode)(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len),
    const void *obj)
{
    size_t headroom = a != NULL ? a->headroom : 0;
    void *(*alloc)(size_t) = a != NULL && a->alloc != NULL ? a->alloc : malloc;
    struct codec_alloc inner = {malloc, 0};
    uint8_t *msg, *out;
    size_t n, padded;
    int rv = encode(obj, &inner, &msg, &n);
    if (rv != 0) {
        return rv;
    }
    padded = (ENTRY_HEADER + n + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
    out = alloc(headroom + padded);
    if (out == NULL) {
        free(msg);
        return PGQ_NOMEM;
    }
    put_len(out + headroom, n);
    memcpy(out + headroom + ENTRY_HEADER, msg, n);
    memset(out + headroom + ENTRY_HEADER + n, 0, padded - ENTRY_HEADER - n);
    free(msg);
    *buf = out;
    *len = padded;
    return 0;
}

static int encode_command(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    return codec_command_encode(obj, a, buf, len);
}

static int encode_state(const void *obj, const struct codec_alloc *a, uint8_t **buf, size_t *len)
{
    return codec_state_encode(obj, a, buf, len);
}

int codec_entry_encode(const struct command *cmd,
                       const struct codec_alloc *a,
                       uint8_t **buf,
                       size_t *len)
{
    return wrap(a, buf, len, encode_command, cmd);
}

int codec_entry_decode(const uint8_t *buf,
                       size_t len,
                       struct command *cmd,
                       char *errmsg,
                       size_t errsize)
{
    const uint8_t *msg;
    size_t n;
    int rv = unwrap(buf, len, &msg, &n, "log entry", errmsg, errsize);
    if (rv != 0) {
        memset(cmd, 0, sizeof *cmd);
        return rv;
    }
    return codec_command_decode(msg, n, cmd, errmsg, errsize);
}

int codec_snapshot_encode(const struct state *s,
                          const struct codec_alloc *a,
                          uint8_t **buf,
                          size_t *len)
{
    return wrap(a, buf, len, encode_state, s);
}

int codec_snapshot_decode(const uint8_t *buf,
                          size_t len,
                          struct state *s,
                          char *errmsg,
                          size_t errsize)
{
    const uint8_t *msg;
    size_t n;
    int rv = unwrap(buf, len, &msg, &n, "snapshot", errmsg, errsize);
    if (rv != 0) {
        state_init(s);
        return rv;
    }
    return codec_state_decode(msg, n, s, errmsg, errsize);
}
