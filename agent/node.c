/* node: the agent beside one PostgreSQL (see node.h). */
#include "node.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "lib/util.h"
#include "log.h"
#include "token.h"
#include "node_internal.h"
#include "pgsql.h"
#include "rejoin.h"

#define TICK_MS 100
#define HB_RETRY_MS 200
#define STALL_MS 1000
#define RESTART_WINDOW_MS 600000
#define ESCALATE_MS 1000

#define BIT(x) (1u << (x))

static const struct pgq_sm_row life_table[LIFE__N_STATES] = {
    [LIFE_INIT] = {BIT(LIFE_RUNNING) | BIT(LIFE_WAITING),
                   "the agent started: it adopts a running postmaster of pgdata, or waits to "
                   "start one"},
    [LIFE_WAITING] = {BIT(LIFE_STARTING) | BIT(LIFE_DOWN) | BIT(LIFE_RUNNING) | BIT(LIFE_REJOINING),
                      "PostgreSQL is down; a standby is started at once, a data directory that "
                      "would start writable only once the quorum says it is the primary (or "
                      "knows no primary yet)"},
    [LIFE_STARTING] = {BIT(LIFE_RUNNING) | BIT(LIFE_DEAD),
                       "pg_ctl start -w under way (crash recovery included)"},
    [LIFE_RUNNING] = {BIT(LIFE_FENCING) | BIT(LIFE_DEAD) | BIT(LIFE_REJOINING) | BIT(LIFE_STOPPING),
                      "the postmaster runs, watched through a pidfd and a local check every "
                      "heartbeat; a primary renews its lease"},
    [LIFE_FENCING] = {BIT(LIFE_FENCED),
                      "every process of it is stopped (SIGSTOP the postmaster, SIGKILL its "
                      "children, then it): the lease ended or was revoked, or it hung"},
    [LIFE_FENCED] = {BIT(LIFE_STARTING) | BIT(LIFE_DOWN) | BIT(LIFE_WAITING) | BIT(LIFE_REJOINING),
                     "stopped by the agent; a primary fenced for its lease is started again "
                     "when the quorum grants it a lease as primary of the same epoch"},
    [LIFE_DEAD] = {BIT(LIFE_WAITING) | BIT(LIFE_DOWN) | BIT(LIFE_FENCED),
                   "the postmaster died: the crash policy restarts it or leaves it to the quorum"},
    [LIFE_DOWN] = {BIT(LIFE_WAITING) | BIT(LIFE_STARTING) | BIT(LIFE_REJOINING),
                   "left down: handed over to the quorum, out of restarts, or it needs a "
                   "rejoin; started again if the quorum still grants it a lease as primary"},
    [LIFE_STOPPING] = {BIT(LIFE_DOWN) | BIT(LIFE_RUNNING),
                       "a switchover began: the primary is stopped cleanly (pg_ctl stop -m fast, "
                       "which sends the standbys every WAL record); down, and left to the quorum "
                       "with where its WAL ends, once stopped; running on (and fenced, without a "
                       "lease) if it does not stop"},
    [LIFE_REJOINING] = {BIT(LIFE_WAITING) | BIT(LIFE_DOWN),
                        "not the primary and unable to follow it as it is: stopped, rewound "
                        "(pg_rewind) or cloned (pg_basebackup) from the primary of the epoch, "
                        "then started as its standby; left down to wait for an operator when "
                        "it cannot be (rejoin = manual, off) or failed (retried)"},
};

static const char *const life_names[LIFE__N_STATES] = {
    [LIFE_INIT] = "init",         [LIFE_WAITING] = "waiting", [LIFE_STARTING] = "starting",
    [LIFE_RUNNING] = "running",   [LIFE_FENCING] = "fencing", [LIFE_FENCED] = "fenced",
    [LIFE_DEAD] = "dead",         [LIFE_DOWN] = "down",       [LIFE_REJOINING] = "rejoining",
    [LIFE_STOPPING] = "stopping",
};

const char *node_life_name(int life)
{
    return life >= 0 && life < LIFE__N_STATES ? life_names[life] : "?";
}

static void tick_cb(uv_timer_t *t);

/* The next tick now, not up to TICK_MS later: a heartbeat that tells the
 * leader of a change (the postmaster died: the failover starts from it)
 * leaves at once. */
static void kick_tick(struct node_agent *a)
{
    if (!a->stopping && uv_is_active((uv_handle_t *)&a->tick)) {
        uv_timer_start(&a->tick, tick_cb, 0, TICK_MS);
    }
}

void node_move(struct node_agent *a, int next, const char *why)
{
    assert(a->life >= 0 && a->life < LIFE__N_STATES);
    assert(next >= 0 && next < LIFE__N_STATES);
    assert(life_table[a->life].next & BIT(next));
    /* Only a watched postmaster is running. */
    assert(next != LIFE_RUNNING || a->pm_pid > 0);
    log_info("agent %s: %s -> %s%s%s", a->cfg.node_name, life_names[a->life], life_names[next],
             why != NULL && why[0] ? ": " : "", why != NULL ? why : "");
    a->life = next;
    if (next == LIFE_DOWN || next == LIFE_FENCED) {
        a->down_ms = node_now_ms(a);
    }
    if (next == LIFE_RUNNING) {
        a->running_since_ms = node_now_ms(a);
        a->streaming = false;
    }
    pgq_strlcpy(a->why, why != NULL ? why : "", sizeof a->why);
    a->hb_now = true; /* tell the leader at once */
    kick_tick(a);
}

void node_print_table(void (*emit)(void *arg, const char *line), void *arg)
{
    pgq_sm_print("agent", life_names, life_table, LIFE__N_STATES, emit, arg);
}

/* ---- decisions -------------------------------------------------------------- */

static bool may_restart(struct node_agent *a)
{
    uint64_t now = node_now_ms(a);
    unsigned recent = 0;
    for (unsigned i = 0; i < a->n_restarts; i++) {
        if (now < a->restarts[i] + RESTART_WINDOW_MS) {
            recent++;
        }
    }
    return recent < a->cfg.restart_attempts;
}

static void note_restart(struct node_agent *a)
{
    if (a->n_restarts == PGQ_ARRAY_SIZE(a->restarts)) {
        memmove(a->restarts, a->restarts + 1, sizeof a->restarts - sizeof a->restarts[0]);
        a->n_restarts--;
    }
    a->restarts[a->n_restarts++] = node_now_ms(a);
}

/* The postmaster died (not fenced by us): the crash policy. */
void node_after_death(struct node_agent *a)
{
    bool primary = a->primary_seen || (a->have_reply && a->reply.primary);
    bool hand = false;
    if (primary) {
        hand = a->cfg.crash_policy == CRASH_FAILOVER ||
               (a->cfg.crash_policy == CRASH_AUTO && a->have_reply && a->reply.standby_ready);
    }
    if (hand) {
        a->handover = true;
        node_move(a, LIFE_DOWN, "the primary died: left to the quorum (a standby can replace it)");
        return;
    }
    if (!may_restart(a)) {
        node_move(a, LIFE_DOWN, "out of restarts");
        return;
    }
    note_restart(a);
    node_move(a, LIFE_WAITING, "restarting in place");
}

/* PostgreSQL is down: start it if it may start. */
static void maybe_start(struct node_agent *a)
{
    bool standby = node_file_exists(a, "standby.signal") || node_file_exists(a, "recovery.signal");
    if (a->proc_busy) {
        return;
    }
    if (!node_file_exists(a, "PG_VERSION")) {
        return; /* empty: cloned once the quorum names a primary (node_rejoin.c) */
    }
    if (standby) {
        node_start_pg(a, "as a standby");
        return;
    }
    /* Invariant 7: a data directory that starts writable only where the
     * quorum says this node is the primary, or knows none yet. */
    if (!a->have_reply) {
        return;
    }
    if (!a->reply.registered || a->reply.epoch == 0 || (a->reply.primary && !a->reply.fence)) {
        node_start_pg(a, "as the primary");
        return;
    }
    node_move(a, LIFE_DOWN,
              "it would start writable but is not the primary of the epoch: it needs a rejoin");
}

/* ---- local checks --------------------------------------------------------------- */

static void check_done(struct node_agent *a, bool ok)
{
    a->checking = false;
    a->answering = ok;
    if (ok) {
        a->check_fails = 0;
        a->answered_once = true;
        return;
    }
    /* A hang is a check that timed out; a refusal (too many clients, an
     * authentication change) is an answer. */
    if (strstr(a->pc.errmsg, "timeout") == NULL) {
        a->check_fails = 0;
        return;
    }
    if (a->life == LIFE_RUNNING && a->answered_once && ++a->check_fails >= 2) {
        char why[PGQ_REASON_MAX];
        snprintf(why, sizeof why, "it stopped answering locally (%s)", a->pc.errmsg);
        a->hung = true;
        node_fence(a, why);
    }
}

static void query_cb(struct pgconn *pc, int status, PGresult *r)
{
    struct node_agent *a = pc->data;
    if (status == 0 && PQntuples(r) == 1 && PQnfields(r) == 5) {
        a->streaming = PQgetvalue(r, 0, 3)[0] == 't';
        a->in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
        if (!a->in_recovery && !a->primary_seen) {
            /* Writable from now on: it needs a lease, ask at once. */
            a->writable_since_ms = node_now_ms(a);
            a->hb_now = true;
        }
        a->primary_seen = !a->in_recovery;
        a->timeline = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        {
            unsigned hi = 0, lo = 0;
            if (sscanf(PQgetvalue(r, 0, 2), "%X/%X", &hi, &lo) == 2) {
                a->lsn = ((uint64_t)hi << 32) | lo;
            }
            a->upstream_lsn = 0;
            if (a->in_recovery && sscanf(PQgetvalue(r, 0, 4), "%X/%X", &hi, &lo) == 2) {
                a->upstream_lsn = ((uint64_t)hi << 32) | lo;
            }
        }
        pgconn_disconnect(pc);
        check_done(a, true);
        return;
    }
    pgconn_disconnect(pc);
    check_done(a, false);
}

static void connect_cb(struct pgconn *pc, int status)
{
    struct node_agent *a = pc->data;
    if (status != 0) {
        check_done(a, false);
        return;
    }
    if (pgconn_query(
            pc,
            "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN " PGQ_SQL_STANDBY_TLI
            " ELSE (SELECT timeline_id FROM pg_control_checkpoint()) END, CASE WHEN "
            "pg_is_in_recovery() THEN "
            "COALESCE(pg_last_wal_replay_lsn(), '0/0') ELSE pg_current_wal_lsn() END, "
            "COALESCE((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false), "
            "COALESCE((SELECT latest_end_lsn FROM pg_stat_wal_receiver), '0/0')",
            a->cfg.local_timeout_ms, query_cb) != 0) {
        pgconn_disconnect(pc);
        check_done(a, false);
    }
}

/* A fresh connection every time: a hung postmaster answers nothing new,
 * even while the backends it forked earlier still do. */
static void local_check(struct node_agent *a)
{
    static const char *const keys[] = {"application_name", NULL};
    static const char *const values[] = {"pgquorum-agent", NULL};
    if (a->checking || a->life != LIFE_RUNNING) {
        return;
    }
    a->checking = true;
    if (pgconn_connect(&a->pc, a->cfg.local_conninfo, keys, values, a->cfg.local_timeout_ms,
                       connect_cb) != 0) {
        check_done(a, false);
    }
}

/* ---- heartbeats -------------------------------------------------------------------- */

static void fill_facts(struct node_agent *a, struct agent_facts *f)
{
    memset(f, 0, sizeof *f);
    f->state = PGQ_AGENT_UP;
    /* Stopping for a switchover: alive until it is known stopped cleanly
     * (DOWN, with where its WAL ends), not dead meanwhile. */
    f->pm_alive = (a->pm_pid > 0 && a->life == LIFE_RUNNING) || a->life == LIFE_STOPPING;
    f->answering = f->pm_alive && a->answering;
    f->pg_state = a->pg_state;
    f->timeline = a->timeline;
    f->lsn = a->lsn;
    f->in_recovery = a->in_recovery;
    f->fenced = a->fenced && !f->pm_alive;
    f->handover = a->handover && !f->pm_alive;
    f->lease = a->lease.state == LEASE_HELD && node_now_ms(a) < lease_agent_deadline(&a->lease) &&
               f->pm_alive && !a->paused;
    f->pm_pid = f->pm_alive ? (uint64_t)a->pm_pid : 0;
    f->session = a->session;
    f->system_id = a->system_id;
    f->host.cpu_busy_bp = a->host.cpu_busy_bp;
    f->host.load1_c = a->host.load1_c;
    f->host.load5_c = a->host.load5_c;
    f->host.load15_c = a->host.load15_c;
    f->host.disk_read_bps = a->host.disk_read_bps;
    f->host.disk_write_bps = a->host.disk_write_bps;
    f->host.disk_io_bp = a->host.disk_io_bp;
    f->host.net_rx_bps = a->host.net_rx_bps;
    f->host.net_tx_bps = a->host.net_tx_bps;
    pgq_strlcpy(f->version, PGQ_VERSION_STRING, sizeof f->version);
    f->rejoin = a->rj.state;
    pgq_strlcpy(f->rejoin_detail, a->rj.detail, sizeof f->rejoin_detail);
    f->rejoin_epoch = a->rj.epoch;
    if (a->rj.state != PGQ_RJ_NONE && a->rj.started_ms != 0) {
        f->rejoin_ms =
            (a->rj.action != RJ_ACT_NONE || a->rj.state == PGQ_RJ_STARTING ? node_now_ms(a)
                                                                           : a->rj.ended_ms) -
            a->rj.started_ms;
    }
    f->lost_commits = a->rj.lost_commits;
    f->lost_bytes = a->rj.lost_bytes;
    f->lost_known = a->rj.lost_known;
    f->streaming = f->pm_alive && a->streaming;
    f->stopped_lsn = a->life == LIFE_DOWN && a->handover ? a->stopped_lsn : 0;
}

/* The monitors it may ask: its configured ones, then those the leaders
 * told that are not among them. */
static const char *monitor_at(const struct node_agent *a, unsigned i)
{
    return i < a->cfg.n_monitors ? a->cfg.monitors[i] : a->learned[i - a->cfg.n_monitors];
}

static unsigned n_known_monitors(const struct node_agent *a)
{
    return a->cfg.n_monitors + a->n_learned;
}

static const char *current_monitor(const struct node_agent *a)
{
    return monitor_at(a, a->mon_idx % n_known_monitors(a));
}

static void next_monitor(struct node_agent *a)
{
    a->leader_api[0] = '\0';
    a->mon_idx = (a->mon_idx + 1) % n_known_monitors(a);
}

/* A leader told the voters' API addresses: keep those the configuration
 * does not list. Safe when stale: a removed monitor answers nothing or
 * NOT_LEADER with the leader's address, and the configured ones stay. */
static void learn_monitors(struct node_agent *a, const struct hb_reply *r)
{
    unsigned n = 0;
    if (r->monitors_hash == 0) {
        return;
    }
    for (unsigned i = 0; i < r->n_monitors && n < PGQ_MAX_MONITORS; i++) {
        bool configured = false;
        for (unsigned k = 0; k < a->cfg.n_monitors; k++) {
            configured |= strcmp(a->cfg.monitors[k], r->monitors[i]) == 0;
        }
        if (!configured) {
            pgq_strlcpy(a->learned[n++], r->monitors[i], sizeof a->learned[0]);
        }
    }
    if (n != a->n_learned) {
        log_info("agent %s: the leader names %u monitors, %u of them not in [node] monitors",
                 a->cfg.node_name, r->n_monitors, n);
    }
    a->n_learned = n;
    a->learned_hash = r->monitors_hash;
    a->mon_idx %= n_known_monitors(a);
}

static void heartbeat(struct node_agent *a);

static void register_cb(struct peer *p, int status, const struct api_response *res)
{
    struct node_agent *a = p->data;
    a->hb_busy = false;
    a->registering = false;
    if (status == 0 && (res->code == API_OK || res->code == API_REFUSED)) {
        log_info("agent %s: registration: %s", a->cfg.node_name, res->message);
    } else {
        next_monitor(a);
    }
    a->hb_now = true;
}

static void register_node(struct node_agent *a, const char *address)
{
    struct api_request req;
    memset(&req, 0, sizeof req);
    req.kind = API_NODE_ADD;
    command_init(&req.cmd, CMD_NODE_ADD);
    pgq_strlcpy(req.cmd.cluster, a->cfg.node_cluster, sizeof req.cmd.cluster);
    pgq_strlcpy(req.cmd.node, a->cfg.node_name, sizeof req.cmd.node);
    pgq_strlcpy(req.cmd.u.node_add.conninfo, a->cfg.node_conninfo,
                sizeof req.cmd.u.node_add.conninfo);
    req.cmd.u.node_add.priority = (unsigned)a->cfg.node_priority;
    pgq_strlcpy(req.token, a->token, sizeof req.token);
    if (peer_request(&a->peer, address, &req, 3000, register_cb) == 0) {
        a->hb_busy = true;
        a->registering = true;
    }
    token_wipe(req.token, sizeof req.token);
}

static void hb_cb(struct peer *p, int status, const struct api_response *res)
{
    struct node_agent *a = p->data;
    uint64_t now = node_now_ms(a);
    a->hb_busy = false;
    if (status != 0) {
        log_debug("agent %s: heartbeat failed: %s", a->cfg.node_name, p->errmsg);
        lease_agent_reply(&a->lease, 0, false);
        next_monitor(a);
        a->next_hb_ms = now + HB_RETRY_MS;
        return;
    }
    if (res->code == API_NOT_LEADER) {
        lease_agent_reply(&a->lease, 0, false);
        if (res->leader_api[0] != '\0') {
            pgq_strlcpy(a->leader_api, res->leader_api, sizeof a->leader_api);
            a->hb_now = true;
        } else {
            next_monitor(a);
            a->next_hb_ms = now + HB_RETRY_MS;
        }
        return;
    }
    if (res->code == API_BAD_REQUEST) {
        /* A leader of an older version, which knows no heartbeat: the
         * state is below feature level 2, and no lease is in force. */
        if (!a->old_leader) {
            log_warn(
                "agent %s: the leader does not know heartbeats (%s): no lease is in force "
                "until every monitor is upgraded",
                a->cfg.node_name, res->message);
        }
        a->old_leader = true;
    }
    if (res->code != API_OK || res->body != API_HEARTBEAT) {
        lease_agent_reply(&a->lease, 0, false);
        log_debug("agent %s: heartbeat refused: %s", a->cfg.node_name, res->message);
        a->next_hb_ms = now + HB_RETRY_MS;
        return;
    }
    if (!res->hb.registered) {
        lease_agent_reply(&a->lease, 0, false);
        log_info("agent %s: %s: registering it", a->cfg.node_name, res->message);
        a->have_reply = false;
        register_node(a, a->leader_api[0] ? a->leader_api : current_monitor(a));
        return;
    }
    if (a->leader_api[0] == '\0') {
        pgq_strlcpy(a->leader_api, current_monitor(a), sizeof a->leader_api);
    }
    learn_monitors(a, &res->hb);
    if (res->hb.lease_ms != 0 &&
        res->hb.lease_ms <= a->cfg.fence_margin_ms + a->cfg.agent_heartbeat_ms + HB_RETRY_MS &&
        !a->warned_short) {
        a->warned_short = true;
        log_warn("agent %s: leases of %" PRIu64
                 " ms leave no room for a renewal (heartbeat_interval "
                 "%" PRIu64 " ms, fence_margin %" PRIu64
                 " ms): lower them or raise the monitors' lease_time",
                 a->cfg.node_name, res->hb.lease_ms, a->cfg.agent_heartbeat_ms,
                 a->cfg.fence_margin_ms);
    }
    lease_agent_reply(&a->lease, res->hb.lease_ms, res->hb.fence);
    /* A lease that lapsed or was revoked while this node was the primary
     * says nothing once it is not: should it be promoted again, it starts
     * from none (and its grace), not fenced at once. */
    if (!res->hb.primary && (a->lease.state == LEASE_LAPSED || a->lease.state == LEASE_REVOKED)) {
        lease_move(&a->lease, LEASE_NONE);
    }
    a->reply = res->hb;
    a->old_leader = false;
    a->reply_sent_ms = a->hb_sent_ms;
    a->have_reply = true;
    a->recheck_until_ms = 0;
    if (a->hb_now) {
        kick_tick(a); /* something changed while this one was on its way */
    }
}

static void heartbeat(struct node_agent *a)
{
    struct api_request req;
    int rv;
    uint64_t now = node_now_ms(a);
    const char *to = a->leader_api[0] != '\0' ? a->leader_api : current_monitor(a);
    if (a->hb_busy || a->stopping) {
        return;
    }
    memset(&req, 0, sizeof req);
    req.kind = API_HEARTBEAT;
    command_init(&req.cmd, CMD_AGENT);
    pgq_strlcpy(req.cmd.cluster, a->cfg.node_cluster, sizeof req.cmd.cluster);
    pgq_strlcpy(req.cmd.node, a->cfg.node_name, sizeof req.cmd.node);
    fill_facts(a, &req.cmd.u.agent);
    req.monitors_seen = a->learned_hash;
    /* The lease is measured from now, before the request leaves. */
    lease_agent_sending(&a->lease, now);
    a->hb_sent_ms = now;
    pgq_strlcpy(req.token, a->token, sizeof req.token);
    rv = peer_request(&a->peer, to, &req, PGQ_MAX(a->cfg.agent_heartbeat_ms / 2, 300), hb_cb);
    token_wipe(req.token, sizeof req.token);
    if (rv == 0) {
        a->hb_busy = true;
        a->hb_now = false;
        a->next_hb_ms = now + a->cfg.agent_heartbeat_ms;
    } else {
        lease_agent_reply(&a->lease, 0, false);
        next_monitor(a);
        a->next_hb_ms = now + HB_RETRY_MS;
    }
}

/* ---- the tick ----------------------------------------------------------------------- */

static void sample_host(struct node_agent *a, uint64_t now)
{
    struct host_sample cur;
    memset(&cur, 0, sizeof cur);
    hostmetrics_read(&cur);
    if (a->hs_prev_ms != 0) {
        hostmetrics_rate(&a->hs_prev, &cur, now - a->hs_prev_ms, &a->host);
    }
    a->hs_prev = cur;
    a->hs_prev_ms = now;
}

/* Invariant 7 on the node: a primary takes writes only under a lease. */
static void enforce_lease(struct node_agent *a, uint64_t now)
{
    bool writable = a->life == LIFE_RUNNING && a->primary_seen;
    if (!writable) {
        return;
    }
    /* Monitors below feature level 2 do not wait for leases before they
     * promote: none is in force, and none is enforced here. */
    if ((a->have_reply && !a->reply.enforced) || a->old_leader) {
        return;
    }
    if (a->lease.state == LEASE_REVOKED) {
        node_fence(a, "the quorum began a failover over it (lease revoked)");
        return;
    }
    if (a->paused && a->lease.state == LEASE_HELD && lease_agent_valid(&a->lease, now)) {
        node_pause(a, false);
    }
    if (now < a->recheck_until_ms) {
        return; /* after our own stall: paused until one renewal */
    }
    if (a->lease.state == LEASE_HELD) {
        if (!lease_agent_valid(&a->lease, now)) {
            node_fence(a, "its lease ended before the quorum renewed it");
        }
        return;
    }
    if (a->lease.state == LEASE_NONE &&
        now >= lease_agent_grace_end(&a->lease, PGQ_MAX(a->started_ms, a->writable_since_ms),
                                     a->cfg.lease_ms, a->have_reply ? a->reply_sent_ms : 0,
                                     a->have_reply ? a->reply.length_ms : 0)) {
        node_fence(a, "it is writable and holds no lease");
    } else if (a->lease.state == LEASE_LAPSED) {
        node_fence(a, "its lease ended before the quorum renewed it");
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct node_agent *a = t->data;
    uint64_t now = node_now_ms(a);
    if (a->stopping) {
        return;
    }
    /* Our own stall (SIGSTOP, a suspended VM): the lease we held may have
     * ended meanwhile, but so may the quorum have renewed nothing because
     * no failover happened. Ask once before fencing. */
    if (a->last_tick_ms != 0 && now > a->last_tick_ms + STALL_MS &&
        lease_agent_deadline(&a->lease) != 0 && now >= lease_agent_deadline(&a->lease)) {
        log_warn("agent %s: stalled for %" PRIu64 " ms past its lease: renewing before fencing",
                 a->cfg.node_name, now - a->last_tick_ms);
        a->recheck_until_ms = now + PGQ_MAX(a->cfg.agent_heartbeat_ms, STALL_MS);
        a->hb_now = true;
        /* Meanwhile it acknowledges nothing: a standby may have been
         * promoted while this host was frozen. */
        if (a->life == LIFE_RUNNING && a->primary_seen) {
            node_pause(a, true);
        }
        if (a->hb_busy) {
            a->recheck_until_ms += 1000;
        }
    }
    a->last_tick_ms = now;
    if (a->hb_now || now >= a->next_hb_ms) {
        if (now >= a->next_controldata_ms && !a->proc_busy && a->proc_open == 0 &&
            a->life != LIFE_STARTING && a->life != LIFE_REJOINING) {
            node_controldata(a);
            a->next_controldata_ms = now + PGQ_MAX(a->cfg.agent_heartbeat_ms, 1000);
        }
        if (now >= a->hs_prev_ms + 1000) {
            sample_host(a, now);
        }
        local_check(a);
        heartbeat(a);
    }
    enforce_lease(a, now);
    if (a->life == LIFE_RUNNING && a->primary_seen && a->have_reply && a->reply.stop &&
        a->reply.primary && !a->proc_busy && a->proc_open == 0) {
        node_switchover_stop(a);
    }
    node_rejoin_tick(a, now);
    switch (a->life) {
        case LIFE_WAITING:
            maybe_start(a);
            break;
        case LIFE_FENCED:
        case LIFE_DOWN:
            /* Still the primary, no failover under way, a lease granted:
             * nothing replaced it, so it serves again. */
            /* Only on a grant made to a heartbeat sent after it went down,
             * that is, one that knew it was down: a reply from before
             * would start it beside a standby promoted meanwhile. */
            if (a->have_reply && a->reply_sent_ms > a->down_ms && a->reply.primary &&
                a->reply.lease_ms > 0 && !a->reply.fence && a->lease.state == LEASE_HELD &&
                lease_agent_valid(&a->lease, now) && !a->proc_busy && node_read_pm_pid(a) == 0) {
                if (!may_restart(a)) {
                    break;
                }
                note_restart(a);
                node_start_pg(a, "the quorum grants it a lease as the primary again");
            }
            break;
        default:
            break;
    }
}

/* ---- start and stop -------------------------------------------------------------------- */

int node_start(struct node_agent *a,
               uv_loop_t *loop,
               const struct config *cfg,
               char *errmsg,
               size_t errsize)
{
    pid_t pid;
    int rv;
    memset(a, 0, sizeof *a);
    a->loop = loop;
    a->cfg = *cfg;
    a->started_ms = node_now_ms(a);
    a->session = clock_wall_ms() ^ ((uint64_t)getpid() << 40);
    lease_agent_init(&a->lease, cfg->fence_margin_ms);
    if (geteuid() == 0) {
        snprintf(
            errmsg, errsize,
            "the node agent runs as the PostgreSQL OS user, not as root (runuser -u postgres)");
        return PGQ_CONFIG;
    }
    if (access(cfg->pgdata, F_OK) != 0 && errno == ENOENT && mkdir(cfg->pgdata, 0700) == 0) {
        log_info("agent %s: created the empty data directory %s", cfg->node_name, cfg->pgdata);
    }
    if (access(cfg->pgdata, R_OK | X_OK) != 0) {
        snprintf(errmsg, errsize, "[node] pgdata %s: %s", cfg->pgdata, strerror(errno));
        return PGQ_CONFIG;
    }
    rv = transport_start(&a->transport, loop, &a->cfg, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    if (cfg->auth_token_file[0] != '\0') {
        char why[256];
        if (token_read_file(cfg->auth_token_file, a->token, sizeof a->token, why, sizeof why) !=
            0) {
            snprintf(errmsg, errsize, "[auth] token_file %s", why);
            transport_close(&a->transport, NULL);
            return PGQ_CONFIG;
        }
    }
    rv = node_http_start(a, errmsg, errsize);
    if (rv != 0) {
        http_close(&a->http, NULL);
        transport_close(&a->transport, NULL);
        return rv;
    }
    if (peer_init(&a->peer, loop, &a->transport) != 0 || pgconn_init(&a->pc, loop) != 0 ||
        pgconn_init(&a->rj.pc, loop) != 0) {
        snprintf(errmsg, errsize, "cannot create the agent's connections");
        if (a->started_http) {
            http_close(&a->http, NULL); /* the loop then ends */
        }
        transport_close(&a->transport, NULL);
        return PGQ_IO;
    }
    a->peer.data = a;
    a->pc.data = a;
    a->rj.pc.data = a;
    uv_timer_init(loop, &a->tick);
    a->tick.data = a;
    pid = node_read_pm_pid(a);
    if (pid > 0 && node_watch(a, pid) == 0) {
        node_move(a, LIFE_RUNNING, "adopted the running postmaster");
    } else {
        node_move(a, LIFE_WAITING, "PostgreSQL is not running");
    }
    uv_timer_start(&a->tick, tick_cb, 0, TICK_MS);
    log_info("node agent %s (cluster %s) started: pgdata %s, %u monitor(s), http %s",
             cfg->node_name, cfg->node_cluster, cfg->pgdata, cfg->n_monitors,
             cfg->http_address[0] != '\0' ? cfg->http_address : "off");
    return 0;
}

void node_reconfigure(struct node_agent *a, const struct config *cfg)
{
    uint64_t now = node_now_ms(a);
    assert(strcmp(cfg->node_name, a->cfg.node_name) == 0 &&
           strcmp(cfg->pgdata, a->cfg.pgdata) == 0);
    a->cfg = *cfg;
    a->lease.margin_ms = cfg->fence_margin_ms;
    a->http.max_clients = (unsigned)cfg->http_max_clients;
    a->http.idle_ms = cfg->http_idle_timeout_ms;
    /* A heartbeat due later than the new interval allows is due then. */
    a->next_hb_ms = PGQ_MIN(a->next_hb_ms, now + cfg->agent_heartbeat_ms);
}

void node_status_line(struct node_agent *a, char *out, size_t size)
{
    snprintf(out, size, "node %s: PostgreSQL %s%s, lease %s", a->cfg.node_name,
             node_life_name(a->life),
             a->life == LIFE_RUNNING ? (a->primary_seen ? " (primary)" : " (standby)") : "",
             lease_state_name(a->lease.state));
}

static void part_closed(struct node_agent *a)
{
    if (--a->pending != 0) {
        return;
    }
    transport_close(&a->transport, NULL);
    if (a->stopped_cb != NULL) {
        a->stopped_cb(a);
    }
}

static void tick_closed_cb(uv_handle_t *h)
{
    part_closed(h->data);
}

static void peer_closed_cb(struct peer *p)
{
    part_closed(p->data);
}

static void pc_closed_cb(struct pgconn *pc)
{
    part_closed(pc->data);
}

static void http_closed_cb(struct http_server *s)
{
    part_closed(s->data);
}

/* The agent stops; its PostgreSQL keeps running (a restarted agent adopts
 * it). */
void node_stop(struct node_agent *a, node_stopped_cb cb)
{
    if (a->stopping) {
        return;
    }
    a->stopping = true;
    a->stopped_cb = cb;
    a->pending = 5 + (a->started_http ? 1u : 0u);
    if (a->life == LIFE_RUNNING) {
        log_info("agent %s: stopping; PostgreSQL (pid %d) keeps running", a->cfg.node_name,
                 (int)a->pm_pid);
    }
    if (a->paused) {
        node_pause(a, false); /* it runs on without its agent, as it would have */
    }
    node_pg_stop(a);
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, tick_closed_cb);
    peer_close(&a->peer, peer_closed_cb);
    pgconn_close(&a->pc, pc_closed_cb);
    pgconn_close(&a->rj.pc, pc_closed_cb);
    node_rejoin_stop(a);
    if (a->started_http) {
        http_close(&a->http, http_closed_cb);
    }
    part_closed(a);
}
