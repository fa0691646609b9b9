/* probe: this monitor's view of every node (see probe.h). */
#include "probe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "failpoint.h"
#include "lib/util.h"
#include "log.h"
#include "pgsql.h"
#include "probe_internal.h"
#include "resources.h"

static void start_probe(struct probe_target *t);

/* The first probes of new targets (or of targets no longer shed), and the
 * probes of a kick of every target: PROBE_START_BURST of them at once (25
 * ms of the loop), then one every PROBE_START_SPREAD_MS. A registration of
 * thousands of nodes so starts their connections at 1,000 a second, not
 * all in one turn of the loop, which held it for seconds (libpq's
 * connection start costs about 0.1 ms) and stalled Raft past its election
 * timeout; a few hundred still start together, and their reports go in
 * one batch. */
#define PROBE_START_BURST 256u
/* Results in a row, each on a new connection, that lost a replica the one
 * before listed (query_cb): more is standbys coming and going. */
#define PROBE_CONFIRM_MAX 3u
#define PROBE_START_SPREAD_MS 1u
/* Keepalive probes, 1 s apart, before a kept connection is given up. */
#define PROBE_KEEPALIVE_COUNT 3
#define PROBE_STR_(x) #x
#define PROBE_STR(x) PROBE_STR_(x)

/* A round comes up to interval / PROBE_ROUND_JITTER early, at random: the
 * next round is due an interval after the probe ends, so targets started
 * together (a registration, a kick of all) stayed together for ever, and so
 * did their connections' keepalives. Measured at 10,000 nodes: 550 kept
 * connections lost at once every few seconds, their keepalives dropped
 * together by a full backlog. Never late: the detection bounds hold (rule 5's
 * hold of a standby's round aside: probe_hold). */
#define PROBE_ROUND_JITTER 16u

/* xorshift64: cheap, and any spread will do. */
static uint64_t next_random(struct probe *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

static uint64_t round_delay(struct probe *p)
{
    uint64_t spread = p->cfg->interval_ms / PROBE_ROUND_JITTER;
    return p->cfg->interval_ms - (spread > 0 ? next_random(p) % spread : 0);
}

/* How long routine rounds may wait for a failover (probe_hold): the hold
 * lasts PROBE_HOLD_MAX_MS from the first sign (or a change in what is under
 * way) and one tick's word extends it by PROBE_HOLD_SLICE_MS; the rounds
 * held start within PROBE_HOLD_SPREAD_MS after it. 2 s at most in all. */
#define PROBE_HOLD_MAX_MS 1500u
#define PROBE_HOLD_SLICE_MS 250u
#define PROBE_HOLD_SPREAD_MS 250u

static void timer_cb(uv_timer_t *h);

void probe_hold(struct probe *p, bool under_way, uint64_t what)
{
    uint64_t now = uv_now(p->loop);
    if (!under_way) {
        if (p->holding && p->rounds_held > 0) {
            log_info("probe: failover over: %" PRIu64 " routine rounds waited for it",
                     p->rounds_held);
        }
        p->holding = false;
        p->hold_until = 0;
        p->rounds_held = 0;
        return;
    }
    if (!p->holding || what != p->hold_what) {
        p->holding = true;
        p->hold_since = now;
        p->hold_what = what;
    }
    p->hold_until = now - p->hold_since < PROBE_HOLD_MAX_MS ? now + PROBE_HOLD_SLICE_MS : 0;
}

static uint64_t start_delay(unsigned k)
{
    return k < PROBE_START_BURST ? 0 : (uint64_t)(k - PROBE_START_BURST) * PROBE_START_SPREAD_MS;
}

/* While a failover is under way (probe_hold), a routine round of another
 * cluster's standby waits: the failover's own probes, kicks, retries, lost
 * connections and every primary's rounds do not (a round is what notices a
 * frozen primary whose agent vouches for it: a second failure is never
 * held up). */
static bool round_held(struct probe_target *t)
{
    struct probe *p = t->probe;
    uint64_t now = uv_now(p->loop);
    const struct cluster *c;
    if (!t->round || t->kicked || p->hold_until <= now) {
        return false;
    }
    c = state_cluster(p->state, t->cluster);
    if (c == NULL || strcmp(c->primary, t->node) == 0 || cluster_failover_under_way(c)) {
        return false;
    }
    p->rounds_held++;
    t->due_mono = p->hold_until + next_random(p) % PROBE_HOLD_SPREAD_MS;
    uv_timer_start(&t->timer, timer_cb, t->due_mono - now, 0);
    return true;
}

static void timer_cb(uv_timer_t *h)
{
    struct probe_target *t = h->data;
    if (!round_held(t)) {
        start_probe(t);
    }
}

static void schedule(struct probe_target *t, uint64_t delay_ms)
{
    if (!t->removed && !t->shed) {
        t->due_mono = uv_now(t->probe->loop) + delay_ms;
        uv_timer_start(&t->timer, timer_cb, delay_ms, 0);
    }
}

static void conclude(struct probe_target *t, const struct obs *o)
{
    struct probe *p = t->probe;
    uint64_t now = uv_now(p->loop);
    /* A node seen down is re-reported every interval, so that the leader
     * knows this monitor still sees it so (a down view counts only that
     * long: config_down_view_ttl_ms); so is a primary whose WAL moved, so
     * that the lag limit of a failover is measured against its position as
     * of its last probe (Invariant 4), and a server refused as not the
     * node (committed as the node down); one that would raise an alert the
     * state does not have yet is reported at once. reported_ms is when the
     * last report was committed, after its probe: a round comes up to
     * interval / PROBE_ROUND_JITTER early, and a WAL refresh waits up to
     * REPORT_COALESCE_MS before its commit, so the WAL refresh is due from
     * half an interval on (once a round), a down node's (never coalesced,
     * probed every retry_interval) from the jittered interval on. */
    bool down_again =
        now + p->cfg->interval_ms / PROBE_ROUND_JITTER >= t->reported_ms + p->cfg->interval_ms &&
        (!o->reachable || state_obs_refused(p->state, t->cluster, o));
    bool wal_again = now >= t->reported_ms + p->cfg->interval_ms / 2 && !o->in_recovery &&
                     o->current_lsn != t->reported.current_lsn;
    bool urgent = t->force || !t->have_reported || obs_digest_due(&t->reported, o, p->wal_step) ||
                  down_again || state_obs_alerts(p->state, t->cluster, o) ||
                  state_obs_sync_due(p->state, t->cluster, o);
    bool report = urgent || wal_again || now >= t->reported_ms + p->cfg->report_refresh_ms;
    if (t->have_obs && o->reachable != t->obs.reachable) {
        if (o->reachable) {
            log_info("probe %s: reachable again (%s)", t->node,
                     o->in_recovery ? "standby" : "primary");
        } else {
            log_warn("probe %s: down after %u failed probes: %s", t->node, t->fails, o->error);
        }
    }
    view_obs_set(&t->obs, o);
    t->have_obs = true;
    if (report) {
        /* A probe that began before a kick is not the fresh one the kick
         * asked for: keep the force for the rerun. */
        if (!t->rerun) {
            t->force = false;
        }
        probe_target_flags(t, true, t->in_flight);
        /* A refresh waits for the next tick and goes with others
         * (probe_report_due); a change goes now. */
        if (urgent) {
            t->urgent = true;
            p->urgent_due = true;
            if (p->dirty_cb != NULL) {
                p->dirty_cb(p);
            }
        }
    }
}

static bool agent_says_down(const struct probe *p, const struct probe_target *t)
{
    const struct cluster *c = state_cluster(p->state, t->cluster);
    const struct node *n = cluster_node(c, t->node);
    return n != NULL && (n->agent.state == PGQ_AGENT_SILENT ||
                         (n->agent.state == PGQ_AGENT_UP && !n->agent.pm_alive));
}

/* The node's agent vouches for its liveness: it is up, its postmaster runs
 * and answered the agent's last check on a fresh local connection (the
 * check a frozen postmaster fails; two failures and the agent stops it).
 * Its committed word is as old as a heartbeat plus a commit; an agent that
 * falls silent is committed so once its lease and the drift have passed. */
static bool agent_vouches(const struct probe *p, const struct probe_target *t)
{
    const struct cluster *c = state_cluster(p->state, t->cluster);
    const struct node *n = cluster_node(c, t->node);
    return n != NULL && n->agent.state == PGQ_AGENT_UP && n->agent.pm_alive && n->agent.answering &&
           !n->agent.fenced && !n->agent.handover;
}

/* The loop's lateness over the current probe, from when it was due. */
static uint64_t probe_lag(const struct probe_target *t)
{
    const struct probe *p = t->probe;
    uint64_t late = t->started_mono > t->due_mono ? t->started_mono - t->due_mono : 0;
    return p->lw != NULL ? PGQ_MAX(late, loadwatch_lag_since(p->lw, t->due_mono)) : late;
}

/* The first name in `was` (comma-separated) that o, a writable server,
 * no longer lists as streaming from it, or NULL. */
static const char *lost_replica(const char *was, const struct obs *o)
{
    static char name[PGQ_NAME_MAX];
    if (!o->reachable || o->in_recovery) {
        return NULL;
    }
    for (const char *p = was; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (!pgq_name_listed(o->replicas, name)) {
                return name;
            }
        }
        p += n + (p[n] == ',' ? 1 : 0);
    }
    return NULL;
}

static void confirm_end(struct probe_target *t)
{
    t->confirming = 0;
    free(t->confirm_replicas);
    t->confirm_replicas = NULL;
}

/* No descriptor was free for the connection: not the node's failure. It is
 * left as it was and probed again later, and the line says why. */
static void probe_no_fd(struct probe_target *t, const char *reason)
{
    struct probe *p = t->probe;
    uint64_t now = uv_now(p->loop);
    t->probing = false;
    pgconn_disconnect(&t->pc);
    if (now >= p->no_fd_log_ms + 10000 || p->no_fd_log_ms == 0) {
        log_warn(
            "probe %s: not probed now, no file descriptor free (%s): the open-file limit is "
            "reached; the node is not counted as down and is probed again in %" PRIu64 " ms",
            t->node, reason, p->cfg->retry_interval_ms);
        p->no_fd_log_ms = now;
    }
    t->rerun = false;
    schedule(t, p->cfg->retry_interval_ms);
}

static void probe_failed(struct probe_target *t, int status, const char *reason)
{
    struct probe *p = t->probe;
    char why[PGQ_ERRTEXT_MAX];
    uint64_t lag = probe_lag(t);
    pgq_strlcpy(why, reason, sizeof why); /* reason may live in t->pc */
    confirm_end(t);
    if (t->pc.no_fd) {
        probe_no_fd(t, why);
        return;
    }
    t->probing = false;
    if (t->fails++ == 0) {
        t->failing_since_ms = t->started_ms;
        t->failing_since_mono = t->started_mono;
    }
    pgconn_disconnect(&t->pc);
    log_debug("probe %s: failure %u: %s", t->node, t->fails, why);
    /* Re-check quickly; report down only after 1 + retries failures. The
     * retries tell a blip from a failure; a node whose agent said it is
     * down (or whose agent fell silent) needs no such telling: the first
     * failure after that is reported at once. */
    if (t->fails > p->cfg->retries || agent_says_down(p, t)) {
        struct obs o;
        memset(&o, 0, sizeof o);
        pgq_strlcpy(o.node, t->node, sizeof o.node);
        o.reachable = false;
        pgq_strlcpy(o.error, why, sizeof o.error);
        o.probed_ms = t->started_ms;
        o.failing_since_ms = t->failing_since_ms;
        /* How long, on this monitor's monotonic clock: the leader dates the
         * failure from it without comparing wall clocks (at least 1: 0
         * means "not said"). */
        o.failing_ms = PGQ_MAX(uv_now(p->loop) - t->failing_since_mono, 1);
        o.basis_seq = t->basis_seq;
        o.cache_hit_bp = o.index_hit_bp = PGQ_BP_NONE;
        /* A timeout while this monitor's own loop ran late may be ours:
         * said with the lateness (feature level 6; a monitor of an older
         * version would refuse the whole report). */
        if (status == PGQ_TIMEOUT && lag >= p->overload_lag_ms && p->state->feature_level >= 6) {
            o.overload_ms = lag;
            log_warn("probe %s: timed out while this monitor's loop ran %" PRIu64
                     " ms late: reported as its own overload, not counted toward a failover",
                     t->node, lag);
        }
        conclude(t, &o);
    }
    t->rerun = false;
    schedule(t, p->cfg->retry_interval_ms);
}

static void query_cb(struct pgconn *pc, int status, PGresult *res)
{
    struct probe_target *t = pc->data;
    struct obs o;
    char why[PGQ_ERRTEXT_MAX];
    const char *lost;
    if (status == PGQ_SHUTDOWN) {
        t->probing = false;
        return;
    }
    if (status != 0) {
        probe_failed(t, status, pc->errmsg);
        return;
    }
    if (probe_parse_row(t, res, &o, why, sizeof why) != 0) {
        probe_failed(t, PGQ_MALFORMED, why);
        return;
    }
    t->probing = false;
    t->fails = 0;
    /* A primary whose walsenders are gone may be a server whose postmaster
     * just died: its backends outlive it for a moment, and the one that ran
     * this query saw the walsenders exit (measured: a set lowered to '' on
     * that view, never written, then blocked the failover as "not in the
     * synchronous set"). A new connection opened after this answer proves
     * the postmaster alive after it: the loss is reported only as such a
     * connection sees it (a dead postmaster refuses it). Bounded, should
     * standbys come and go meanwhile. */
    if (t->confirming < PROBE_CONFIRM_MAX && t->have_obs && t->obs.reachable &&
        !t->obs.in_recovery &&
        (lost = lost_replica(t->confirming > 0 ? t->confirm_replicas : t->obs.replicas, &o)) !=
            NULL) {
        char *was = strdup(o.replicas);
        if (was != NULL) {
            log_info("probe %s: %s no longer streams from it: confirming on a new connection",
                     t->node, lost);
            free(t->confirm_replicas);
            t->confirm_replicas = was;
            t->confirming++;
            pgconn_disconnect(&t->pc);
            t->rerun = false;
            start_probe(t);
            return;
        }
    }
    confirm_end(t);
    conclude(t, &o);
    if (t->rerun) {
        t->rerun = false;
        schedule(t, 0);
    } else {
        t->round = true;
        schedule(t, round_delay(t->probe));
    }
}

static void run_query(struct probe_target *t)
{
    const char *sql = probe_query(PQserverVersion(t->pc.conn));
    int rv = pgconn_query(&t->pc, sql, t->probe->cfg->timeout_ms, query_cb);
    if (rv != 0) {
        probe_failed(t, rv, t->pc.errmsg);
    }
}

static void connect_cb(struct pgconn *pc, int status)
{
    struct probe_target *t = pc->data;
    if (status == PGQ_SHUTDOWN) {
        t->probing = false;
        return;
    }
    if (status != 0) {
        probe_failed(t, status, pc->errmsg);
        return;
    }
    run_query(t);
}

/* The connection kept between rounds dropped: the node may be gone, so look
 * again now rather than at the next round. */
static void lost_cb(struct pgconn *pc, int status)
{
    struct probe_target *t = pc->data;
    (void)status;
    log_info("probe %s: monitoring connection lost (%s): probing again now", t->node, pc->errmsg);
    if (!t->probing && !t->shed) {
        uv_timer_stop(&t->timer);
        start_probe(t);
    }
}

static void start_probe(struct probe_target *t)
{
    struct probe *p = t->probe;
    const char *keys[16] = {"application_name", "options",         "connect_timeout",
                            "keepalives",       "keepalives_idle", "keepalives_interval",
                            "keepalives_count", "tcp_user_timeout"};
    const char *values[16];
    unsigned n = 0;
    bool round;
    int rv;
    if (t->removed || t->shed || t->probing) {
        if (t->probing) {
            t->rerun = true;
        }
        return;
    }
    t->probing = true;
    t->kicked = false;
    t->pc.no_fd = false;
    t->basis_seq = p->state->seq;
    t->started_ms = clock_wall_ms(); /* display: when it was probed */
    t->started_mono = uv_now(p->loop);
    round = t->round;
    t->round = false;
    if (FAILPOINT("probe", t->node)) {
        probe_failed(t, PGQ_IO, "failpoint: probe failed");
        return;
    }
    /* A full round opens a new connection: a kept connection still answers
     * while the postmaster is frozen (SIGSTOP) and accepts no one else, the
     * way a server that cannot take new clients looks to applications. The
     * new connection is then kept, to notice the server dropping it. Kicks
     * and re-checks use the kept connection when there is one. Where the
     * node's agent vouches for its liveness, the agent's own check on a
     * fresh local connection is that test, and the round keeps the
     * connection: a new backend costs the server several times the query. */
    if (round && !agent_vouches(p, t) && !FAILPOINT("probe.keep", t->node)) {
        pgconn_disconnect(&t->pc);
    }
    if (pgconn_connected(&t->pc)) {
        p->probes_kept++;
        run_query(t);
        return;
    }
    p->probes_new++;
    values[n++] = p->app_name;
    values[n++] = p->options;
    values[n++] = "2";
    values[n++] = "1";
    values[n++] = p->keepalive_idle;
    values[n++] = "1";
    values[n++] = PROBE_STR(PROBE_KEEPALIVE_COUNT);
    values[n++] = p->tcp_user_timeout;
    n += config_auth_params(p->cfg, keys + n, values + n, PGQ_ARRAY_SIZE(keys) - 1 - n);
    keys[n] = NULL;
    values[n] = NULL;
    rv = pgconn_connect(&t->pc, t->conninfo, keys, values, p->cfg->timeout_ms, connect_cb);
    if (rv != 0) {
        probe_failed(t, rv, t->pc.errmsg);
    }
}

static void target_closed(struct probe_target *t)
{
    struct probe *p = t->probe;
    view_obs_clear(&t->obs);
    free(t->confirm_replicas);
    free(t->conninfo);
    free(t);
    p->pending--;
    if (p->closing && p->pending == 0 && p->close_cb != NULL) {
        p->close_cb(p);
    }
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct probe_target *t = h->data;
    if (--t->pending_closes == 0) {
        target_closed(t);
    }
}

static void pgconn_closed_cb(struct pgconn *pc)
{
    struct probe_target *t = pc->data;
    if (--t->pending_closes == 0) {
        target_closed(t);
    }
}

static void target_remove(struct probe_target *t)
{
    probe_target_flags(t, false, false);
    t->removed = true;
    t->pending_closes = 2;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, timer_closed_cb);
    pgconn_close(&t->pc, pgconn_closed_cb);
}

static struct probe_target *target_add(struct probe *p, const char *cluster, const struct node *n)
{
    struct probe_target *t = calloc(1, sizeof *t);
    if (t == NULL) {
        log_error("probe %s: out of memory", n->name);
        return NULL;
    }
    t->probe = p;
    pgq_strlcpy(t->cluster, cluster, sizeof t->cluster);
    pgq_strlcpy(t->node, n->name, sizeof t->node);
    t->reg_seq = n->reg_seq;
    if ((t->conninfo = strdup(n->conninfo)) == NULL) {
        log_error("probe %s: out of memory", n->name);
        free(t);
        return NULL;
    }
    if (pgconn_init(&t->pc, p->loop) != 0 || uv_timer_init(p->loop, &t->timer) != 0) {
        log_error("probe %s: cannot create handles", n->name);
        free(t->conninfo);
        free(t);
        return NULL;
    }
    t->pc.data = t;
    t->pc.lost_cb = lost_cb;
    t->timer.data = t;
    t->next = p->targets;
    p->targets = t;
    p->pending++;
    t->shed = true; /* until probe_sync gives it its place in the budget */
    return t;
}

/* What the probes take from the configuration once, rather than each time. */
static void derive_settings(struct probe *p)
{
    const struct config *cfg = p->cfg;
    snprintf(p->options, sizeof p->options, "-c statement_timeout=%" PRIu64, cfg->timeout_ms);
    uint64_t idle_s = PGQ_MAX(cfg->timeout_ms / 1000, 1);
    snprintf(p->keepalive_idle, sizeof p->keepalive_idle, "%" PRIu64, idle_s);
    /* Half the lag a failover tolerates, so that the primary's committed
     * position stays well within max_lag_on_failover of the truth. */
    p->wal_step = PGQ_MAX(cfg->max_lag_bytes / 2, PGQ_WAL_STEP_MIN);
    p->overload_lag_ms = resources_overload_lag_ms(cfg);
    /* Linux ends an idle connection once nothing was received for the user
     * timeout while a keepalive is unanswered: with the timeout at the
     * keepalive idle time, one lost keepalive (or its ACK) ended a live kept
     * connection a second later, and the next probe opened a new one
     * (measured: at 10,000 nodes on one loopback, whose backlog drops
     * packets in bursts, 290 kept connections lost a second, each a new
     * backend on a real server). Idle time plus one second per keepalive
     * probe: two may be lost, and a silent peer is given up 3 s after the
     * idle time. A query in flight is bounded by the probe's own timer. */
    snprintf(p->tcp_user_timeout, sizeof p->tcp_user_timeout, "%" PRIu64,
             PGQ_MAX(cfg->timeout_ms, (idle_s + PROBE_KEEPALIVE_COUNT) * 1000));
}

void probe_init(struct probe *p,
                uv_loop_t *loop,
                const struct config *cfg,
                const struct state *state,
                uint64_t monitor_id)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->cfg = cfg;
    p->state = state;
    p->monitor_id = monitor_id;
    p->budget = UINT64_MAX;
    p->rng = ((monitor_id * 0x9E3779B97F4A7C15ull) ^ uv_hrtime()) | 1u; /* never 0 */
    snprintf(p->app_name, sizeof p->app_name, "pgquorum-monitor-%" PRIu64, monitor_id);
    derive_settings(p);
}

void probe_reconfigure(struct probe *p, bool cadence_changed)
{
    derive_settings(p);
    if (cadence_changed) {
        /* The timers armed with the old cadence would wait it out. */
        probe_kick(p, NULL, false);
    }
}

static uint64_t target_key(const char *cluster, const char *node)
{
    char key[2 * PGQ_NAME_MAX + 1];
    snprintf(key, sizeof key, "%s/%s", cluster, node);
    return pgq_fnv1a(key);
}

struct probe_target *probe_index_find(const struct probe *p, const char *cluster, const char *node)
{
    if (p->index_cap == 0) {
        /* No index (out of memory for one): a walk finds the same. */
        for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
            if (strcmp(t->node, node) == 0 && strcmp(t->cluster, cluster) == 0) {
                return t;
            }
        }
        return NULL;
    }
    for (unsigned h = (unsigned)target_key(cluster, node) & (p->index_cap - 1); p->index[h] != NULL;
         h = (h + 1) & (p->index_cap - 1)) {
        struct probe_target *t = p->index[h];
        if (strcmp(t->node, node) == 0 && strcmp(t->cluster, cluster) == 0) {
            return t;
        }
    }
    return NULL;
}

/* The targets by cluster and node, rebuilt whenever they change (here
 * only): a look-up is O(1), a sync O(nodes). */
static int index_rebuild(struct probe *p, unsigned n)
{
    unsigned cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    if (cap != p->index_cap) {
        struct probe_target **grown = calloc(cap, sizeof *grown);
        if (grown == NULL) {
            free(p->index); /* it may name removed targets: walk instead */
            p->index = NULL;
            p->index_cap = 0;
            return PGQ_NOMEM;
        }
        free(p->index);
        p->index = grown;
        p->index_cap = cap;
    } else {
        memset(p->index, 0, cap * sizeof *p->index);
    }
    for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
        unsigned h = (unsigned)target_key(t->cluster, t->node) & (cap - 1);
        while (p->index[h] != NULL) {
            h = (h + 1) & (cap - 1);
        }
        p->index[h] = t;
    }
    return 0;
}

/* Within the descriptor budget or not: a target shed gives its connection
 * back and is no longer probed; one taken back is probed at once. */

static void target_budget(struct probe_target *t, bool shed, uint64_t delay_ms)
{
    if (shed == t->shed) {
        return;
    }
    t->shed = shed;
    if (shed) {
        uv_timer_stop(&t->timer);
        pgconn_disconnect(&t->pc); /* a probe under way ends with PGQ_SHUTDOWN */
        t->probing = t->rerun = false;
        t->fails = 0;
        confirm_end(t);
        return;
    }
    t->round = false;
    schedule(t, delay_ms);
}

void probe_sync(struct probe *p)
{
    unsigned n = 0, starting = 0;
    if (p->closing) {
        return;
    }
    /* Drop targets whose node is gone (its cluster with it), whose conninfo
     * changed, or whose name was registered again since (another node:
     * nothing it saw of the old one holds). */
    for (struct probe_target **pt = &p->targets; *pt != NULL;) {
        struct probe_target *t = *pt;
        const struct node *nd = cluster_node(state_cluster(p->state, t->cluster), t->node);
        if (nd == NULL || strcmp(nd->conninfo, t->conninfo) != 0 || nd->reg_seq != t->reg_seq) {
            *pt = t->next;
            target_remove(t);
            continue;
        }
        pt = &t->next;
        n++;
    }
    if (index_rebuild(p, n) != 0) {
        log_error("probe: out of memory for the index of %u targets: looking them up by a walk", n);
    }
    p->n_targets = p->n_shed = 0;
    for (unsigned i = 0; i < p->state->n_clusters; i++) {
        const struct cluster *c = &p->state->clusters[i];
        for (unsigned j = 0; j < c->n_nodes; j++) {
            struct probe_target *t = probe_index_find(p, c->name, c->nodes[j].name);
            if (t == NULL) {
                if ((t = target_add(p, c->name, &c->nodes[j])) == NULL) {
                    continue;
                }
                n++;
            }
            if (t->shed && p->n_targets < p->budget) {
                starting++;
            }
            target_budget(t, p->n_targets++ >= p->budget,
                          starting > 0 ? start_delay(starting - 1) : 0);
            p->n_shed += t->shed ? 1u : 0u;
        }
    }
    if (index_rebuild(p, n) != 0) {
        log_error("probe: out of memory for the index of %u targets", n);
    }
}

static void kick(struct probe_target *t, bool force, uint64_t delay_ms)
{
    if (t == NULL || t->shed || t->removed) {
        return;
    }
    t->force |= force;
    t->kicked = true;
    if (t->probing) {
        t->rerun = true; /* its basis is older than the kick */
    } else {
        uv_timer_stop(&t->timer);
        schedule(t, delay_ms);
    }
}

void probe_kick(struct probe *p, const char *cluster, bool force)
{
    const struct cluster *c = cluster != NULL ? state_cluster(p->state, cluster) : NULL;
    unsigned k = 0;
    if (c != NULL && p->index != NULL) {
        /* One cluster's targets through the index: a kick per event of a
         * cluster costs its nodes, not a walk of every target. */
        for (unsigned j = 0; j < c->n_nodes; j++) {
            kick(probe_index_find(p, c->name, c->nodes[j].name), force, 0);
        }
        return;
    }
    /* Every target (a new cadence): spread as first probes are. */
    for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
        if (cluster == NULL) {
            kick(t, force, start_delay(k++));
        } else if (strcmp(t->cluster, cluster) == 0) {
            kick(t, force, 0);
        }
    }
}

void probe_close(struct probe *p, probe_cb cb)
{
    p->closing = true;
    p->close_cb = cb;
    free(p->index);
    p->index = NULL;
    p->index_cap = 0;
    if (p->pending == 0) {
        if (cb != NULL) {
            cb(p);
        }
        return;
    }
    while (p->targets != NULL) {
        struct probe_target *t = p->targets;
        p->targets = t->next;
        target_remove(t);
    }
}

const struct view_obs *probe_latest(const struct probe *p, const char *cluster, const char *node)
{
    const struct probe_target *t = probe_index_find(p, cluster, node);
    return t != NULL && !t->removed && !t->shed && t->have_obs ? &t->obs : NULL;
}
