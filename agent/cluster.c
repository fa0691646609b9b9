/* apply(command) on the replicated state: the state machine. See cluster.h
 * for the contract; the state's queries are in state.c.
 *
 * Every apply_* function first checks everything that can fail and only then
 * changes the state, so that a refused command changes nothing. */
#include "cluster.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"
#include "lib/util.h"

static int fail(struct apply_result *res, int code, const char *fmt, ...) PGQ_PRINTF(3, 4);
static int fail(struct apply_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    return code;
}

/* Apply must give every monitor the same state: a monitor that could not
 * allocate would diverge from the others for good. Dying instead is the
 * deterministic outcome (it restarts from its log). */
static void *grow(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (q == NULL) {
        abort();
    }
    return q;
}

static void event_add(struct state *s,
                      const char *cluster,
                      const char *node,
                      int kind,
                      uint64_t epoch,
                      uint64_t duration_ms,
                      const char *fmt,
                      ...) PGQ_PRINTF(7, 8);
static void event_add(struct state *s,
                      const char *cluster,
                      const char *node,
                      int kind,
                      uint64_t epoch,
                      uint64_t duration_ms,
                      const char *fmt,
                      ...)
{
    struct event *e;
    va_list ap;
    if (s->events == NULL) {
        s->events = grow(NULL, PGQ_MAX_EVENTS * sizeof *s->events);
        memset(s->events, 0, PGQ_MAX_EVENTS * sizeof *s->events);
    }
    if (s->n_events < PGQ_MAX_EVENTS) {
        e = &s->events[(s->events_head + s->n_events) % PGQ_MAX_EVENTS];
        s->n_events++;
    } else {
        e = &s->events[s->events_head];
        s->events_head = (s->events_head + 1) % PGQ_MAX_EVENTS;
    }
    memset(e, 0, sizeof *e);
    e->seq = ++s->event_seq;
    e->time_ms = s->time_ms;
    pgq_strlcpy(e->cluster, cluster != NULL ? cluster : "", sizeof e->cluster);
    pgq_strlcpy(e->node, node != NULL ? node : "", sizeof e->node);
    e->kind = kind;
    e->epoch = epoch;
    e->duration_ms = duration_ms;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* ---- the failover state machine --------------------------------------- */

#define BIT(phase) (1u << (phase))

/* One row per phase: the phases it may move to, and what it means; the
 * same table prints the diagram of docs/architecture.md. A Decide of the
 * first format (no cut) still moves any settled phase to DECIDED, so that
 * logs written before cut-before-promote replay as they did. */
static const struct fo_row
{
    unsigned next;
    const char *doc;
} fo_table[PGQ__N_FO_PHASES] = {
    [PGQ_FO_NONE] = {BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED), "no failover yet"},
    [PGQ_FO_CUTTING] = {BIT(PGQ_FO_DECIDED) | BIT(PGQ_FO_NONE) | BIT(PGQ_FO_PROMOTED) |
                            BIT(PGQ_FO_DONE),
                        "every standby that is up stops following the old primary; the candidate "
                        "is chosen from the positions read after that cut. Should the old "
                        "primary be up again first, the failover is abandoned: back to the phase "
                        "before the cut (a candidate lost before its promotion is promoted after "
                        "all)"},
    [PGQ_FO_DECIDED] = {BIT(PGQ_FO_PROMOTED) | BIT(PGQ_FO_GAVE_UP) | BIT(PGQ_FO_CUTTING) |
                            BIT(PGQ_FO_DECIDED),
                        "a new epoch: the candidate is its primary and is being promoted"},
    [PGQ_FO_PROMOTED] = {BIT(PGQ_FO_DONE) | BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED),
                         "the candidate left recovery; the other standbys are being repointed"},
    [PGQ_FO_DONE] = {BIT(PGQ_FO_CUTTING) | BIT(PGQ_FO_DECIDED),
                     "every standby that can follow the new primary does"},
    [PGQ_FO_GAVE_UP] = {BIT(PGQ_FO_CUTTING),
                        "the candidate could not be promoted: the next one is chosen"},
};

static bool fo_may_move(const struct cluster *c, int to)
{
    return (fo_table[c->fo.phase].next & BIT(to)) != 0;
}

/* Every change of phase goes through here. */
static void fo_move(struct cluster *c, int to)
{
    assert(c->fo.phase >= 0 && c->fo.phase < PGQ__N_FO_PHASES);
    assert(fo_may_move(c, to));
    c->fo.phase = to;
}

void cluster_print_fo_table(void (*emit)(void *arg, const char *line), void *arg)
{
    char line[512];
    emit(arg, "| phase | may become | meaning |");
    emit(arg, "|---|---|---|");
    for (int p = 0; p < PGQ__N_FO_PHASES; p++) {
        char next[128] = "";
        for (int q = 0; q < PGQ__N_FO_PHASES; q++) {
            if (fo_table[p].next & BIT(q)) {
                pgq_appendf(next, sizeof next, "%s%s", next[0] ? ", " : "", pgq_fo_phase_name(q));
            }
        }
        snprintf(line, sizeof line, "| %s | %s | %s |", pgq_fo_phase_name(p), next,
                 fo_table[p].doc);
        emit(arg, line);
    }
}

/* A node that cannot follow the primary of the epoch until it is rewound
 * (pg_rewind) or rebuilt: it is demoted, never a candidate, and the
 * reason is kept for status. */
static void needs_rejoin(struct state *s, struct cluster *c, struct node *n, const char *fmt, ...)
    PGQ_PRINTF(4, 5);
static void needs_rejoin(struct state *s, struct cluster *c, struct node *n, const char *fmt, ...)
{
    va_list ap;
    n->role = PGQ_ROLE_DEMOTED;
    va_start(ap, fmt);
    vsnprintf(n->rejoin, sizeof n->rejoin, fmt, ap);
    va_end(ap);
    event_add(s, c->name, n->name, PGQ_EV_REJOIN, c->epoch, 0, "node %s needs a rejoin: %s",
              n->name, n->rejoin);
}

/* ---- node add / remove / maintenance ----------------------------------- */

static int check_node_add(const struct state *s,
                          const struct command *cmd,
                          struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *n;
    struct conninfo ci, other;
    char err[PGQ_REASON_MAX];
    if (!pgq_name_valid(cmd->cluster)) {
        return fail(res, PGQ_INVALID,
                    "invalid cluster name \"%.63s\": use 1-63 of A-Z a-z 0-9 _ . -", cmd->cluster);
    }
    if (!pgq_name_valid(cmd->node)) {
        return fail(res, PGQ_INVALID, "invalid node name \"%.63s\": use 1-63 of A-Z a-z 0-9 _ . -",
                    cmd->node);
    }
    if (cmd->u.node_add.priority > 100) {
        return fail(res, PGQ_INVALID, "priority %u is out of range 0..100",
                    cmd->u.node_add.priority);
    }
    if (conninfo_check(cmd->u.node_add.conninfo, &ci, err, sizeof err) != 0) {
        return fail(res, PGQ_INVALID, "node %s: %s", cmd->node, err);
    }
    if (c == NULL) {
        if (s->n_clusters >= PGQ_MAX_CLUSTERS) {
            return fail(res, PGQ_LIMIT, "too many clusters (limit %d)", PGQ_MAX_CLUSTERS);
        }
        return 0;
    }
    if ((n = cluster_node(c, cmd->node)) != NULL) {
        /* The same registration again (a client retrying a write whose
         * reply it lost) succeeds and changes nothing. */
        if (strcmp(n->conninfo, cmd->u.node_add.conninfo) == 0 &&
            n->priority == cmd->u.node_add.priority) {
            return 0;
        }
        return fail(res, PGQ_EXISTS, "node %s already exists in cluster %s", cmd->node,
                    cmd->cluster);
    }
    if (c->n_nodes >= PGQ_MAX_NODES) {
        return fail(res, PGQ_LIMIT, "cluster %s has too many nodes (limit %d)", cmd->cluster,
                    PGQ_MAX_NODES);
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (conninfo_parse(c->nodes[i].conninfo, &other, NULL, 0) == 0 &&
            strcmp(other.host, ci.host) == 0 && strcmp(other.port, ci.port) == 0) {
            return fail(res, PGQ_EXISTS, "%s:%s is already registered as node %s", ci.host, ci.port,
                        c->nodes[i].name);
        }
    }
    return 0;
}

static int apply_node_add(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    struct node *n;
    int rv = check_node_add(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    if (cluster_node(c, cmd->node) != NULL) {
        return 0; /* identical to the registered node: nothing to do */
    }
    if (c == NULL) {
        s->clusters = grow(s->clusters, (s->n_clusters + 1) * sizeof *s->clusters);
        c = &s->clusters[s->n_clusters];
        memset(c, 0, sizeof *c);
        pgq_strlcpy(c->name, cmd->cluster, sizeof c->name);
        s->n_clusters++;
    }
    c->nodes = grow(c->nodes, (c->n_nodes + 1) * sizeof *c->nodes);
    n = &c->nodes[c->n_nodes++];
    memset(n, 0, sizeof *n);
    pgq_strlcpy(n->name, cmd->node, sizeof n->name);
    pgq_strlcpy(n->conninfo, cmd->u.node_add.conninfo, sizeof n->conninfo);
    n->priority = cmd->u.node_add.priority;
    n->added_ms = cmd->time_ms;
    event_add(s, c->name, n->name, PGQ_EV_NODE_ADDED, c->epoch, 0, "node %s added (priority %u)",
              n->name, n->priority);
    return 0;
}

static int check_node_remove(const struct state *s,
                             const struct command *cmd,
                             struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *n = cluster_node(c, cmd->node);
    if (n == NULL) {
        return fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    if (n->role == PGQ_ROLE_PRIMARY && c->n_nodes > 1) {
        return fail(res, PGQ_REFUSED,
                    "node %s is the primary of epoch %" PRIu64
                    "; remove the standbys first or wait for a failover",
                    n->name, c->epoch);
    }
    return 0;
}

static int apply_node_remove(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    struct node *n;
    int rv = check_node_remove(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    n = cluster_node(c, cmd->node);
    if (strcmp(c->primary, n->name) == 0) {
        c->primary[0] = '\0';
    }
    memmove(n, n + 1, (size_t)(c->nodes + c->n_nodes - (n + 1)) * sizeof *n);
    c->n_nodes--;
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (strcmp(c->nodes[i].twin_of, cmd->node) == 0) {
            c->nodes[i].twin_of[0] = '\0'; /* the server has one name again */
        }
    }
    event_add(s, c->name, cmd->node, PGQ_EV_NODE_REMOVED, c->epoch, 0, "node %s removed",
              cmd->node);
    return 0;
}

static int check_maintenance(const struct state *s,
                             const struct command *cmd,
                             struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    if (cluster_node(c, cmd->node) == NULL) {
        return fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    return 0;
}

static int apply_maintenance(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    struct node *n;
    int rv = check_maintenance(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    n = cluster_node(c, cmd->node);
    if (n->maintenance != cmd->u.maintenance.on) {
        n->maintenance = cmd->u.maintenance.on;
        event_add(s, c->name, n->name, PGQ_EV_MAINTENANCE, c->epoch, 0,
                  "maintenance %s for node %s%s", n->maintenance ? "on" : "off", n->name,
                  n->maintenance && n->role == PGQ_ROLE_PRIMARY
                      ? ": no automatic failover while the primary is in maintenance"
                      : "");
    }
    return 0;
}

/* ---- leader hello and reports ------------------------------------------ */

static struct member *member_slot(struct state *s, uint64_t id)
{
    for (unsigned i = 0; i < s->n_monitors; i++) {
        if (s->monitors[i].id == id) {
            return &s->monitors[i];
        }
    }
    if (s->n_monitors >= PGQ_MAX_MONITORS) {
        return NULL;
    }
    memset(&s->monitors[s->n_monitors], 0, sizeof s->monitors[0]);
    s->monitors[s->n_monitors].id = id;
    return &s->monitors[s->n_monitors++];
}

static int apply_hello(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_hello *h = &cmd->u.hello;
    bool leader_listed = false;
    if (h->monitor_id == 0 || h->n_voters == 0 || h->n_voters > PGQ_MAX_MONITORS) {
        return fail(res, PGQ_INVALID, "leader hello: bad monitor id or voter list");
    }
    for (unsigned i = 0; i < h->n_voters; i++) {
        if (h->voters[i].id == 0) {
            return fail(res, PGQ_INVALID, "leader hello: voter id 0");
        }
        leader_listed |= h->voters[i].id == h->monitor_id;
    }
    if (!leader_listed) {
        return fail(res, PGQ_INVALID, "leader hello: monitor %" PRIu64 " is not a voter",
                    h->monitor_id);
    }
    /* Monitors that left the configuration stay listed, as non-voters, so
     * that their addresses remain known; a hello never lists more than
     * PGQ_MAX_MONITORS voters, so room is made by dropping non-voters. */
    for (unsigned i = 0; i < s->n_monitors; i++) {
        s->monitors[i].voter = false;
    }
    for (unsigned i = 0; i < h->n_voters; i++) {
        struct member *m = member_slot(s, h->voters[i].id);
        if (m == NULL) {
            unsigned j = 0;
            for (unsigned k = 0; k < s->n_monitors; k++) {
                if (s->monitors[k].voter) {
                    s->monitors[j++] = s->monitors[k];
                }
            }
            s->n_monitors = j;
            m = member_slot(s, h->voters[i].id);
        }
        m->voter = true;
        pgq_strlcpy(m->raft_address, h->voters[i].raft_address, sizeof m->raft_address);
    }
    if (h->api_address[0] != '\0') {
        struct member *m = member_slot(s, h->monitor_id);
        pgq_strlcpy(m->api_address, h->api_address, sizeof m->api_address);
    }
    s->leader_gen++;
    s->leader_id = h->monitor_id;
    s->gen_since_ms = s->time_ms;
    event_add(s, "", "", PGQ_EV_LEADER, 0, 0,
              "monitor %" PRIu64 " leads (generation %" PRIu64 ", %u voters)", h->monitor_id,
              s->leader_gen, h->n_voters);
    return 0;
}

static struct view *view_slot(const struct state *s, struct node *n, uint64_t monitor_id)
{
    struct view *empty = NULL, *departed = NULL;
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
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
    /* Views of monitors that left the voters count for nothing; once every
     * slot is taken they make room, or a new voter's reports would be
     * dropped forever after enough monitor replacements. */
    return empty != NULL ? empty : departed;
}

static bool name_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0) {
            return true;
        }
        p += n + (p[n] == ',' ? 1 : 0);
    }
    return false;
}

/* Which standbys may hold commits the primary acknowledged, for the failover
 * after it is gone. A standby no longer named keeps a floor (left_lsn) rather
 * than vanishing: the observation of a dying primary may no longer name
 * standbys whose acknowledgements count. */
static void note_sync(struct node *n, const struct obs *o)
{
    for (unsigned i = 0; i < n->n_sync; i++) {
        /* The highest position known, not this report's: reports of
         * several monitors are applied in log order, not probe order. */
        if (n->sync[i].left_lsn == 0 && !name_listed(o->sync_standbys, n->sync[i].name)) {
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
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &n->views[i];
        uint64_t began = v->obs.failing_ms != 0 ? since(v->applied_ms, v->obs.failing_ms)
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
static void note_twin(struct state *s, struct cluster *c, struct node *n, const struct obs *o)
{
    if (!o->reachable || o->system_id == 0) {
        return;
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        struct node *m = &c->nodes[i];
        struct node *later = m > n ? m : n, *earlier = m > n ? n : m;
        bool same = false;
        if (m == n || later->twin_of[0] != '\0') {
            continue;
        }
        for (unsigned k = 0; k < PGQ_MAX_MONITORS && !same; k++) {
            same = m->views[k].monitor_id != 0 && m->views[k].obs.reachable &&
                   obs_same_server(&m->views[k].obs, o);
        }
        if (!same) {
            continue;
        }
        pgq_strlcpy(later->twin_of, earlier->name, sizeof later->twin_of);
        later->alert_writable = false;
        event_add(s, c->name, later->name, PGQ_EV_ALERT, c->epoch, 0,
                  "node %s is the same PostgreSQL server as node %s (system identifier %" PRIu64
                  ", port %u): it is ignored; remove one of them",
                  later->name, earlier->name, o->system_id, o->port);
    }
}

static void note_observation(struct state *s,
                             struct cluster *c,
                             struct node *n,
                             const struct obs *o)
{
    int verdict;
    bool rogue;
    note_twin(s, c, n, o);
    verdict = cluster_verdict(s, n);
    /* Keep the most advanced position ever seen written on this node: a
     * failed probe overwrites the view, and the lag limit of a failover
     * must still be measured against what the primary had. */
    if (o->reachable && !o->in_recovery && o->current_lsn > n->last_write_lsn) {
        n->last_write_lsn = o->current_lsn;
    }
    if (obs_writable(o)) {
        note_sync(n, o);
    }
    if (verdict != n->verdict) {
        uint64_t detect = verdict == PGQ_VERDICT_DOWN
                              ? since(s->time_ms, first_failure(s, n, n->verdict_since_ms))
                              : 0;
        n->verdict = verdict;
        n->verdict_since_ms = s->time_ms;
        n->verdict_seq = s->seq + 1;
        /* The event's duration is detection to verdict: since the first
         * failed probe of any monitor that sees it down. */
        event_add(s, c->name, n->name, PGQ_EV_VERDICT, c->epoch, detect,
                  "node %s is %s by verdict%s%s", n->name, pgq_verdict_name(verdict),
                  verdict == PGQ_VERDICT_DOWN && o->error[0] != '\0' ? ": " : "",
                  verdict == PGQ_VERDICT_DOWN ? o->error : "");
        /* The primary came back while its standbys were being cut off it,
         * before a candidate was chosen: the failover is abandoned, and
         * the standbys it cut are repointed at it (they hold no WAL it
         * lacks). A candidate lost before its promotion that comes back
         * so is promoted after all: it was chosen, and still is the most
         * advanced of them (they are cut). */
        if (verdict == PGQ_VERDICT_UP && c->fo.phase == PGQ_FO_CUTTING &&
            strcmp(c->primary, n->name) == 0 && c->prev_fo.phase != PGQ_FO_GAVE_UP) {
            fo_move(c, c->prev_fo.phase);
            c->fo = c->prev_fo;
            event_add(s, c->name, n->name, PGQ_EV_BLOCKED, c->epoch, 0,
                      "failover of %s abandoned: it is up again before a standby was chosen; "
                      "%s",
                      n->name,
                      c->fo.phase == PGQ_FO_DECIDED ? "it is promoted after all"
                                                    : "the standbys cut off it follow it again");
        }
    }
    /* Invariant 1: only the primary of the epoch may be writable. Anything
     * else that is writable is flagged loudly, and the leader fences it. */
    rogue = node_rogue(c, n, o);
    if (rogue && !n->alert_writable) {
        n->alert_writable = true;
        n->fenced_epoch = 0; /* writable again: fence again */
        event_add(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                  "node %s is writable but is not the primary of epoch %" PRIu64
                  " (%s is): it will be fenced",
                  n->name, c->epoch, c->primary[0] != '\0' ? c->primary : "none");
    } else if (!rogue && n->alert_writable && o->reachable && (o->in_recovery || o->read_only)) {
        n->alert_writable = false;
        event_add(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0, "node %s is no longer writable",
                  n->name);
    }
}

static int apply_report(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_report *r = &cmd->u.report;
    struct cluster *c = state_cluster(s, cmd->cluster);
    if (!state_is_voter(s, r->monitor_id)) {
        return fail(res, PGQ_REFUSED, "report from monitor %" PRIu64 ", which is not a voter",
                    r->monitor_id);
    }
    if (c == NULL && r->n_obs > 0) {
        return fail(res, PGQ_NOTFOUND, "report for unknown cluster %s", cmd->cluster);
    }
    /* A report also tells where the reporter's API is; an empty report
     * only does that. */
    if (r->api_address[0] != '\0') {
        struct member *m = member_slot(s, r->monitor_id);
        pgq_strlcpy(m->api_address, r->api_address, sizeof m->api_address);
    }
    for (unsigned i = 0; i < r->n_obs; i++) {
        const struct obs *o = &r->obs[i];
        struct node *n = cluster_node(c, o->node);
        struct view *v;
        if (n == NULL || (v = view_slot(s, n, r->monitor_id)) == NULL) {
            continue; /* removed meanwhile: nothing to record */
        }
        v->monitor_id = r->monitor_id;
        v->gen = s->leader_gen;
        v->applied_ms = s->time_ms;
        v->obs = *o;
        note_observation(s, c, n, o);
    }
    return 0;
}

/* ---- roles, decisions and steps ---------------------------------------- */

static int apply_set_role(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *n = cluster_node(c, cmd->node);
    int role = cmd->u.set_role.role;
    if (n == NULL) {
        return fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    if (cmd->u.set_role.epoch != c->epoch) {
        return fail(res, PGQ_STALE, "role change for epoch %" PRIu64 ", cluster is at %" PRIu64,
                    cmd->u.set_role.epoch, c->epoch);
    }
    if (role == PGQ_ROLE_PRIMARY) {
        /* Discovery: a cluster without a primary (new, or whose lone primary
         * was removed) takes the first writable node seen, in a new epoch.
         * Otherwise primaries only come from a failover decision. */
        if (c->primary[0] != '\0' || n->role != PGQ_ROLE_UNKNOWN) {
            return fail(res, PGQ_REFUSED, "node %s cannot be made primary outside a failover",
                        n->name);
        }
        c->epoch++;
        pgq_strlcpy(c->primary, n->name, sizeof c->primary);
        n->role = PGQ_ROLE_PRIMARY;
        n->following_epoch = c->epoch;
        event_add(s, c->name, n->name, PGQ_EV_ROLE, c->epoch, 0,
                  "node %s is the primary (discovered, epoch %" PRIu64 ")", n->name, c->epoch);
        return 0;
    }
    if (role == PGQ_ROLE_STANDBY) {
        if (n->role != PGQ_ROLE_UNKNOWN && n->role != PGQ_ROLE_DEMOTED) {
            return fail(res, PGQ_REFUSED, "node %s is %s, not unknown or demoted", n->name,
                        pgq_role_name(n->role));
        }
        event_add(s, c->name, n->name, PGQ_EV_ROLE, c->epoch, 0, "node %s is a standby%s", n->name,
                  n->role == PGQ_ROLE_DEMOTED ? " again (rejoined)" : "");
        n->rejoin[0] = '\0';
        n->role = PGQ_ROLE_STANDBY;
        return 0;
    }
    return fail(res, PGQ_INVALID, "role %d cannot be set", role);
}

/* ---- the cut, and the decision ------------------------------------------ */

static int apply_cut(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_cut *ct = &cmd->u.cut;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *p = c != NULL ? cluster_node(c, c->primary) : NULL;
    char floor[PGQ_NAME_MAX];
    uint64_t reference, chain;
    bool unpromoted;
    if (c == NULL) {
        return fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (p == NULL || ct->epoch != c->epoch || strcmp(ct->old_primary, c->primary) != 0) {
        return fail(res, PGQ_STALE,
                    "cut of epoch %" PRIu64 " replacing %s is stale (epoch %" PRIu64
                    ", primary %s)",
                    ct->epoch, ct->old_primary, c->epoch, c->primary[0] ? c->primary : "none");
    }
    if (!fo_may_move(c, PGQ_FO_CUTTING)) {
        return fail(res, PGQ_STALE, "cut of epoch %" PRIu64 ": the failover is %s", ct->epoch,
                    pgq_fo_phase_name(c->fo.phase));
    }
    /* The primary being replaced is a candidate that was never promoted
     * (given up, or lost before its promotion): it never acknowledged a
     * write, so the floor and the reference of the failover that chose it
     * still hold; and a candidate given up is replaced whatever its verdict. */
    unpromoted =
        c->fo.epoch == c->epoch && (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP);
    if (c->fo.phase != PGQ_FO_GAVE_UP && p->verdict != PGQ_VERDICT_DOWN) {
        return fail(res, PGQ_STALE,
                    "cut of epoch %" PRIu64 " is stale: primary %s is %s by verdict", ct->epoch,
                    p->name, pgq_verdict_name(p->verdict));
    }
    if (unpromoted) {
        pgq_strlcpy(floor, c->fo.floor_primary[0] != '\0' ? c->fo.floor_primary : c->fo.old_primary,
                    sizeof floor);
        reference = PGQ_MAX(c->fo.reference_lsn, c->fo.candidate_lsn);
        chain = c->fo.chain_round != 0 ? c->fo.chain_round : s->seq + 1;
    } else {
        pgq_strlcpy(floor, p->name, sizeof floor);
        /* A primary of this epoch's decision held at least the position it
         * was chosen at, even if no monitor saw it writable yet. */
        reference = c->fo.epoch == c->epoch ? c->fo.candidate_lsn : 0;
        chain = s->seq + 1;
    }
    /* Kept whole: should the primary be up again before a candidate is
     * chosen, the failover is abandoned and this is what it was. */
    c->prev_fo = c->fo;
    c->prev_fo.blocked[0] = '\0';
    memset(&c->fo, 0, sizeof c->fo);
    c->fo.phase = PGQ_FO_CUTTING; /* checked: fo_may_move */
    c->fo.epoch = c->epoch + 1;
    pgq_strlcpy(c->fo.old_primary, p->name, sizeof c->fo.old_primary);
    c->fo.down_ms = ct->down_ms;
    c->fo.cut_ms = s->time_ms;
    c->fo.round = s->seq + 1; /* the seq this command is applied as: unique */
    c->fo.unpromoted = unpromoted;
    pgq_strlcpy(c->fo.floor_primary, floor, sizeof c->fo.floor_primary);
    c->fo.reference_lsn = reference;
    c->fo.chain_round = chain;
    event_add(s, c->name, p->name, PGQ_EV_CUT, c->fo.epoch, since(s->time_ms, ct->down_ms),
              "failover of %s (epoch %" PRIu64
              "): cutting its standbys off it before choosing one%s%s",
              p->name, c->fo.epoch, ct->reason[0] != '\0' ? ": " : "", ct->reason);
    return 0;
}

static int apply_decide(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_decide *d = &cmd->u.decide;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *cand = cluster_node(c, cmd->node);
    struct failover cut;
    struct node *old;
    bool unpromoted;
    if (cand == NULL) {
        return fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    /* Invariant 1: epochs only grow, one primary per epoch. */
    if (d->epoch != c->epoch + 1 || strcmp(d->old_primary, c->primary) != 0 ||
        c->primary[0] == '\0') {
        return fail(res, PGQ_STALE,
                    "decision for epoch %" PRIu64 " replacing %s is stale (epoch %" PRIu64
                    ", primary %s)",
                    d->epoch, d->old_primary, c->epoch, c->primary);
    }
    if (d->round != 0 && (c->fo.phase != PGQ_FO_CUTTING || d->round != c->fo.round)) {
        return fail(res, PGQ_STALE,
                    "decision of round %" PRIu64 " is stale: the failover is %s (round %" PRIu64
                    ")",
                    d->round, pgq_fo_phase_name(c->fo.phase), c->fo.round);
    }
    if (d->round == 0 && !fo_may_move(c, PGQ_FO_DECIDED)) {
        return fail(res, PGQ_STALE, "decision for epoch %" PRIu64 ": the failover is %s", d->epoch,
                    pgq_fo_phase_name(c->fo.phase));
    }
    if (cand->role != PGQ_ROLE_STANDBY || cand->priority == 0 || cand->maintenance ||
        cand->twin_of[0] != '\0') {
        return fail(res, PGQ_REFUSED, "node %s cannot be promoted", cand->name);
    }
    /* Cut before promote: the candidate is one whose position was read
     * after it stopped following the old primary. */
    if (d->round != 0 && cand->cut_round != d->round) {
        return fail(res, PGQ_REFUSED, "node %s was not cut off %s in this failover", cand->name,
                    d->old_primary);
    }
    old = cluster_node(c, d->old_primary);
    unpromoted = d->round != 0 && c->fo.unpromoted;
    /* Reports applied between the proposal and now may have changed the
     * picture: the decision holds only while the primary is still down (a
     * candidate given up excepted) and the candidate still up by verdict. */
    if ((old != NULL && old->verdict != PGQ_VERDICT_DOWN && !unpromoted) ||
        cand->verdict != PGQ_VERDICT_UP) {
        return fail(res, PGQ_STALE,
                    "decision to promote %s is stale: primary %s is %s, %s is %s by verdict",
                    cand->name, d->old_primary,
                    old != NULL ? pgq_verdict_name(old->verdict) : "gone", cand->name,
                    pgq_verdict_name(cand->verdict));
    }
    if (old != NULL && unpromoted) {
        /* It never left recovery as the primary: a standby again, repointed
         * like the others (should a promotion it hung in complete after
         * all, it is writable, so fenced, and cannot follow: a rejoin). */
        old->role = PGQ_ROLE_STANDBY;
        old->following_epoch = 0;
    } else if (old != NULL) {
        old->role = PGQ_ROLE_DEMOTED;
        snprintf(old->rejoin, sizeof old->rejoin, "former primary of epoch %" PRIu64, c->epoch);
    }
    c->epoch = d->epoch;
    pgq_strlcpy(c->primary, cand->name, sizeof c->primary);
    cand->role = PGQ_ROLE_PRIMARY;
    cand->following_epoch = c->epoch;
    cand->n_sync = 0; /* what it named in an earlier epoch does not hold now */
    cut = c->fo;
    memset(&c->fo, 0, sizeof c->fo);
    if (d->round != 0) {
        c->fo.round = cut.round;
        c->fo.cut_ms = cut.cut_ms;
        c->fo.unpromoted = cut.unpromoted;
        pgq_strlcpy(c->fo.floor_primary, cut.floor_primary, sizeof c->fo.floor_primary);
        c->fo.reference_lsn = PGQ_MAX(cut.reference_lsn, d->reference_lsn);
        c->fo.chain_round = cut.chain_round;
    }
    c->fo.phase = PGQ_FO_DECIDED; /* checked above: CUTTING, or a first-format Decide */
    c->fo.epoch = c->epoch;
    pgq_strlcpy(c->fo.old_primary, d->old_primary, sizeof c->fo.old_primary);
    pgq_strlcpy(c->fo.candidate, cand->name, sizeof c->fo.candidate);
    c->fo.down_ms = d->down_ms;
    c->fo.decided_ms = s->time_ms;
    c->fo.candidate_lsn = d->candidate_lsn;
    event_add(s, c->name, cand->name, PGQ_EV_DECISION, c->epoch, since(s->time_ms, d->down_ms),
              "failover: promote %s in place of %s (epoch %" PRIu64 ")%s%s", cand->name,
              d->old_primary, c->epoch, d->reason[0] != '\0' ? ": " : "", d->reason);
    /* A standby that holds WAL beyond the new primary's position (one that
     * could not be chosen: priority 0, maintenance) cannot follow it
     * without a rewind: it needs a rejoin, like the old primary. After a
     * cut, positions are the cut ones: exact, and frozen. */
    for (unsigned i = 0; i < c->n_nodes; i++) {
        struct node *n = &c->nodes[i];
        char a[32], b[32];
        uint64_t lsn;
        if (n == cand || n->role != PGQ_ROLE_STANDBY) {
            continue;
        }
        if (d->round != 0) {
            if (n->cut_round == d->round && n->cut_lsn > d->candidate_lsn) {
                pgq_lsn_format(n->cut_lsn, a, sizeof a);
                pgq_lsn_format(d->candidate_lsn, b, sizeof b);
                needs_rejoin(s, c, n,
                             "it holds WAL up to %s, beyond the new primary %s's %s; it cannot "
                             "follow without pg_rewind",
                             a, cand->name, b);
            }
        } else if (node_fresh_position(n, old != NULL ? old->verdict_seq : 0, &lsn) &&
                   lsn > d->candidate_lsn) {
            pgq_lsn_format(lsn, a, sizeof a);
            pgq_lsn_format(d->candidate_lsn, b, sizeof b);
            n->role = PGQ_ROLE_DEMOTED;
            snprintf(n->rejoin, sizeof n->rejoin, "WAL up to %s, beyond the new primary's %s", a,
                     b);
            event_add(s, c->name, n->name, PGQ_EV_ALERT, d->epoch, 0,
                      "standby %s received WAL up to %s, beyond the new primary's %s: it cannot "
                      "follow without pg_rewind; rejoin it",
                      n->name, a, b);
        }
    }
    return 0;
}

static int apply_blocked(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    if (c == NULL) {
        return fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (strcmp(c->fo.blocked, cmd->u.blocked.reason) == 0) {
        return 0;
    }
    pgq_strlcpy(c->fo.blocked, cmd->u.blocked.reason, sizeof c->fo.blocked);
    if (c->fo.blocked[0] != '\0') {
        /* "held: ..." is a wait that may resolve itself; anything else
         * needs an operator. */
        event_add(
            s, c->name, c->primary, PGQ_EV_BLOCKED, c->epoch, 0, "%s%s",
            strncmp(c->fo.blocked, PGQ_HELD, PGQ_HELD_LEN) == 0 ? "failover " : "no failover: ",
            c->fo.blocked);
    }
    return 0;
}

static int apply_step(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_step *st = &cmd->u.step;
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *n = cluster_node(c, cmd->node);
    char d1[32], d2[32], d3[32];
    if (c == NULL) {
        return fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (st->epoch != c->epoch) {
        return fail(res, PGQ_STALE, "%s step for epoch %" PRIu64 ", cluster is at %" PRIu64,
                    pgq_step_name(st->kind), st->epoch, c->epoch);
    }
    switch (st->kind) {
        case PGQ_STEP_PROMOTED:
            if (c->fo.phase != PGQ_FO_DECIDED || n == NULL ||
                strcmp(n->name, c->fo.candidate) != 0) {
                return fail(res, PGQ_STALE, "promotion of %s does not match the decision",
                            cmd->node);
            }
            fo_move(c, PGQ_FO_PROMOTED);
            c->fo.promoted_ms = s->time_ms;
            c->fo.timeline = st->timeline;
            c->timeline = st->timeline;
            c->parent_tli = st->parent_tli;
            c->fork_lsn = st->lsn;
            event_add(s, c->name, n->name, PGQ_EV_PROMOTED, c->epoch,
                      since(s->time_ms, c->fo.decided_ms), "node %s promoted (timeline %u)%s%s",
                      n->name, st->timeline, st->detail[0] != '\0' ? ": " : "", st->detail);
            return 0;
        case PGQ_STEP_REPOINTED:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY) {
                return fail(res, PGQ_STALE, "node %s is not a standby", cmd->node);
            }
            n->following_epoch = c->epoch;
            event_add(s, c->name, n->name, PGQ_EV_REPOINTED, c->epoch,
                      c->fo.phase == PGQ_FO_PROMOTED ? since(s->time_ms, c->fo.promoted_ms) : 0,
                      "standby %s follows %s%s%s", n->name, c->primary,
                      st->detail[0] != '\0' ? ": " : "", st->detail);
            return 0;
        case PGQ_STEP_DONE:
            if (c->fo.phase != PGQ_FO_PROMOTED) {
                return fail(res, PGQ_STALE, "failover of epoch %" PRIu64 " is not promoted",
                            c->epoch);
            }
            fo_move(c, PGQ_FO_DONE);
            c->fo.done_ms = s->time_ms;
            pgq_duration_format(since(c->fo.decided_ms, c->fo.down_ms), d1, sizeof d1);
            pgq_duration_format(since(c->fo.promoted_ms, c->fo.decided_ms), d2, sizeof d2);
            pgq_duration_format(since(c->fo.done_ms, c->fo.promoted_ms), d3, sizeof d3);
            event_add(s, c->name, c->primary, PGQ_EV_FAILOVER_DONE, c->epoch,
                      since(s->time_ms, c->fo.down_ms),
                      "failover to %s done: down-to-decision %s, promotion %s, repointing %s",
                      c->primary, d1, d2, d3);
            return 0;
        case PGQ_STEP_FENCED:
            if (n == NULL || strcmp(n->name, c->primary) == 0) {
                return fail(res, PGQ_REFUSED, "node %s cannot be fenced", cmd->node);
            }
            n->fenced_epoch = c->epoch;
            event_add(s, c->name, n->name, PGQ_EV_FENCED, c->epoch, 0,
                      "node %s fenced: read-only, client sessions terminated%s%s", n->name,
                      st->detail[0] != '\0' ? "; " : "", st->detail);
            return 0;
        case PGQ_STEP_CUT:
            if (c->fo.phase != PGQ_FO_CUTTING || st->round != c->fo.round || n == NULL ||
                n->role != PGQ_ROLE_STANDBY) {
                return fail(res, PGQ_STALE, "cut of %s does not match the failover in progress",
                            cmd->node);
            }
            n->cut_round = st->round;
            n->cut_lsn = st->lsn;
            n->cut_tli = st->timeline;
            n->cut_upstream_lsn = st->upstream_lsn;
            n->following_epoch = 0; /* it follows no one now */
            pgq_lsn_format(st->lsn, d1, sizeof d1);
            event_add(s, c->name, n->name, PGQ_EV_CUT, c->fo.epoch, since(s->time_ms, c->fo.cut_ms),
                      "standby %s stopped following %s, at %s on timeline %u%s%s", n->name,
                      c->fo.old_primary, d1, st->timeline, st->detail[0] != '\0' ? "; " : "",
                      st->detail);
            return 0;
        case PGQ_STEP_DIVERGED:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY) {
                return fail(res, PGQ_STALE, "node %s is not a standby", cmd->node);
            }
            needs_rejoin(s, c, n, "%s", st->detail);
            return 0;
        case PGQ_STEP_GAVE_UP:
            if (c->fo.phase != PGQ_FO_DECIDED || n == NULL ||
                strcmp(n->name, c->fo.candidate) != 0) {
                return fail(res, PGQ_STALE, "giving up %s does not match the decision", cmd->node);
            }
            fo_move(c, PGQ_FO_GAVE_UP);
            event_add(s, c->name, n->name, PGQ_EV_BLOCKED, c->epoch,
                      since(s->time_ms, c->fo.decided_ms),
                      "promotion of %s given up: %s; the next eligible standby is chosen", n->name,
                      st->detail);
            return 0;
        case PGQ_STEP_STUCK:
            if (n == NULL || n->role != PGQ_ROLE_STANDBY || c->fo.phase != PGQ_FO_PROMOTED) {
                return fail(res, PGQ_STALE, "node %s is not a standby being repointed", cmd->node);
            }
            if (n->stuck_epoch != c->epoch) {
                n->stuck_epoch = c->epoch;
                event_add(s, c->name, n->name, PGQ_EV_ALERT, c->epoch, 0,
                          "standby %s does not follow %s yet (%s): the failover completes "
                          "without it; it is still being repointed",
                          n->name, c->primary, st->detail);
            }
            return 0;
        default:
            return fail(res, PGQ_INVALID, "unknown step %d", st->kind);
    }
}

/* ---- dispatch ----------------------------------------------------------- */

int cluster_check(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    memset(res, 0, sizeof *res);
    switch (cmd->kind) {
        case CMD_NODE_ADD: {
            /* Stricter than apply, which must keep accepting what older
             * versions committed. */
            struct conninfo ci;
            char err[PGQ_REASON_MAX];
            if (conninfo_validate(cmd->u.node_add.conninfo, &ci, err, sizeof err) != 0) {
                return fail(res, PGQ_INVALID, "node %s: %s", cmd->node, err);
            }
            return check_node_add(s, cmd, res);
        }
        case CMD_NODE_REMOVE:
            return check_node_remove(s, cmd, res);
        case CMD_MAINTENANCE:
            return check_maintenance(s, cmd, res);
        default:
            return 0;
    }
}

int cluster_apply(struct state *s, const struct command *cmd, struct apply_result *res)
{
    uint64_t saved_time = s->time_ms;
    int rv;
    memset(res, 0, sizeof *res);
    /* Time never goes back, whatever a new leader's clock says. */
    if (cmd->time_ms > s->time_ms) {
        s->time_ms = cmd->time_ms;
    }
    switch (cmd->kind) {
        case CMD_HELLO:
            rv = apply_hello(s, cmd, res);
            break;
        case CMD_NODE_ADD:
            rv = apply_node_add(s, cmd, res);
            break;
        case CMD_NODE_REMOVE:
            rv = apply_node_remove(s, cmd, res);
            break;
        case CMD_MAINTENANCE:
            rv = apply_maintenance(s, cmd, res);
            break;
        case CMD_REPORT:
            rv = apply_report(s, cmd, res);
            break;
        case CMD_SET_ROLE:
            rv = apply_set_role(s, cmd, res);
            break;
        case CMD_DECIDE:
            rv = apply_decide(s, cmd, res);
            break;
        case CMD_BLOCKED:
            rv = apply_blocked(s, cmd, res);
            break;
        case CMD_STEP:
            rv = apply_step(s, cmd, res);
            break;
        case CMD_CUT:
            rv = apply_cut(s, cmd, res);
            break;
        default:
            rv = fail(res, PGQ_UNKNOWN, "unknown command kind %d", cmd->kind);
            break;
    }
    if (rv != 0) {
        s->time_ms = saved_time;
        return rv;
    }
    s->seq++;
    return 0;
}
