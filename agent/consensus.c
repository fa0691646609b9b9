/* Consensus: the leader's duties (see consensus.h). One of the three files
 * allowed to call libraft. */
#include "consensus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "lib/util.h"
#include "log.h"

static uint64_t wall_ms(struct consensus *c)
{
    (void)c;
    return clock_wall_ms();
}

static uint64_t mono_ms(struct consensus *c)
{
    (void)c;
    return clock_mono_ms();
}

/* Invariant 8: durations on a monotonic clock. The leader's clock for
 * stamps and judgements is its monotonic clock, anchored once per term to
 * its wall clock (so that stamps still read as dates), or to the state's
 * time if an earlier leader's stamps are ahead. A wall clock step during
 * the term moves neither the stamps nor any duration; every duration the
 * policy measures starts at a stamp of the current term (at the latest at
 * the term's LeaderHello), so it is a difference of this clock alone. */
static uint64_t leader_now(struct consensus *c)
{
    return c->stamp_base_ms + (c->mono_ms(c) - c->mono_base_ms);
}

static void anchor_clock(struct consensus *c)
{
    uint64_t wall = c->wall_ms(c), then = c->fsm->state.time_ms;
    c->stamp_base_ms = PGQ_MAX(wall, then);
    c->mono_base_ms = c->mono_ms(c);
    if (then > wall + 1000) {
        log_warn(
            "the cluster's time is %llu ms ahead of this monitor's clock (an earlier "
            "leader's clock ran fast): stamping from the cluster's time",
            (unsigned long long)(then - wall));
    }
}

uint64_t consensus_now(struct consensus *c)
{
    return leader_now(c);
}

void consensus_init(struct consensus *c, struct raft *r, struct fsm *f, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->raft = r;
    c->fsm = f;
    c->id = id;
    c->wall_ms = wall_ms;
    c->mono_ms = mono_ms;
    c->policy.failover_timeout_ms = 5000;
    c->policy.max_lag_bytes = 1 << 20;
    c->policy.cut_timeout_ms = 2000;
    c->policy.retry_ms = 60000;
}

void consensus_close(struct consensus *c)
{
    free(c->actions);
    c->actions = NULL;
    c->actions_cap = 0;
}

static void *raft_alloc(size_t size)
{
    return raft_malloc(size);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    if (status != 0) {
        p->cb(p,
              status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST ? PGQ_NOTLEADER
                                                                        : PGQ_UNAVAILABLE,
              NULL);
        return;
    }
    p->index = req->index;
    metrics_observe(&p->c->commit_hist, (double)(clock_mono_us() - p->proposed_us) / 1e6);
    p->cb(p, 0, result);
}

static void nudge_cb(struct raft_barrier *req, int status)
{
    struct consensus *c = req->data;
    (void)status;
    c->nudge_pending = false;
}

void consensus_nudge(struct consensus *c)
{
    if (c->closing || c->nudge_pending || !consensus_ready(c)) {
        return;
    }
    c->nudge.data = c;
    if (raft_barrier(c->raft, &c->nudge, nudge_cb) == 0) {
        c->nudge_pending = true;
    }
}

void consensus_closing(struct consensus *c)
{
    c->closing = true;
}

int consensus_propose(struct consensus *c, struct proposal *p, struct command *cmd)
{
    struct codec_alloc a = {raft_alloc, 0};
    struct raft_buffer buf;
    uint8_t *data;
    size_t len;
    int rv;
    if (c->closing) {
        return PGQ_SHUTDOWN;
    }
    if (raft_state(c->raft) != RAFT_LEADER) {
        return PGQ_NOTLEADER;
    }
    /* Time-based judgements are stamped by the leader; the FSM never reads
     * a clock. */
    cmd->time_ms = leader_now(c);
    rv = codec_entry_encode(cmd, &a, &data, &len);
    if (rv != 0) {
        return rv;
    }
    buf.base = data;
    buf.len = len;
    p->c = c;
    p->term = c->raft->current_term;
    p->req.data = p;
    p->proposed_us = clock_mono_us();
    rv = raft_apply(c->raft, &p->req, &buf, 1, apply_cb);
    if (rv != 0) {
        raft_free(data);
        return rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST ? PGQ_NOTLEADER : PGQ_UNAVAILABLE;
    }
    return 0;
}

bool consensus_failed(const struct consensus *c)
{
    return raft_state(c->raft) == RAFT_UNAVAILABLE;
}

const char *consensus_errmsg(const struct consensus *c)
{
    const char *msg = raft_errmsg(c->raft);
    return msg != NULL && msg[0] != '\0' ? msg : "libraft said nothing more";
}

bool consensus_ready(const struct consensus *c)
{
    return c->ready && raft_state(c->raft) == RAFT_LEADER && c->ready_term == c->raft->current_term;
}

uint64_t consensus_leader(const struct consensus *c, const char **api_address)
{
    raft_id id = 0;
    const char *address = NULL;
    const struct member *m;
    raft_leader(c->raft, &id, &address);
    *api_address = "";
    if (id == 0) {
        return 0;
    }
    if (id == c->id) {
        *api_address = c->api_address;
    } else if ((m = state_member(&c->fsm->state, id)) != NULL) {
        *api_address = m->api_address;
    }
    return id;
}

static void hello_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct consensus *c = p->data;
    c->hello_pending = false;
    if (status != 0 || res->code != 0) {
        log_warn("leader barrier failed: %s", status != 0 ? pgq_strerror(status) : res->message);
        return;
    }
    if (raft_state(c->raft) == RAFT_LEADER && c->raft->current_term == p->term) {
        uint64_t now = leader_now(c), then = c->fsm->state.time_ms;
        c->ready = true;
        c->ready_term = p->term;
        /* Time in the state never goes back: if entries applied since the
         * anchor carry an earlier leader's stamps from our future, every
         * "down since" would look young to us for as long as its clock ran
         * ahead. Measure from the state's time instead, at our own pace. */
        if (then > now) {
            c->stamp_base_ms += then - now;
            if (then - now > 1000) {
                log_warn(
                    "the cluster's time is %llu ms ahead of this monitor's clock (an earlier "
                    "leader's clock ran fast): stamping from the cluster's time",
                    (unsigned long long)(then - now));
            }
        }
        log_info("leading term %llu: log caught up, acting on committed state", p->term);
        if (c->kick_cb != NULL) {
            c->kick_cb(c);
        }
    }
}

static void propose_hello(struct consensus *c)
{
    struct command cmd;
    const struct raft_configuration *conf = &c->raft->configuration;
    int rv;
    command_init(&cmd, CMD_HELLO);
    cmd.u.hello.monitor_id = c->id;
    cmd.u.hello.feature_level = PGQ_FEATURE_LEVEL;
    /* Why, for the event: only once every voter knows the field (feature
     * level 4; the level never goes down, so the state this hello is
     * applied to is at 4 too). */
    if (c->fsm->state.feature_level >= 4) {
        pgq_strlcpy(cmd.u.hello.reason, c->change_reason, sizeof cmd.u.hello.reason);
    }
    pgq_strlcpy(cmd.u.hello.api_address, c->api_address, sizeof cmd.u.hello.api_address);
    for (unsigned i = 0; i < conf->n && cmd.u.hello.n_voters < PGQ_MAX_MONITORS; i++) {
        if (conf->servers[i].role != RAFT_VOTER) {
            continue;
        }
        cmd.u.hello.voters[cmd.u.hello.n_voters].id = conf->servers[i].id;
        pgq_strlcpy(cmd.u.hello.voters[cmd.u.hello.n_voters].raft_address, conf->servers[i].address,
                    sizeof cmd.u.hello.voters[0].raft_address);
        cmd.u.hello.n_voters++;
    }
    anchor_clock(c);
    c->hello_p.data = c;
    c->hello_p.cb = hello_cb;
    rv = consensus_propose(c, &c->hello_p, &cmd);
    if (rv == 0) {
        c->hello_pending = true;
    }
}

static void policy_cb(struct proposal *p, int status, const struct apply_result *res)
{
    struct consensus *c = p->data;
    c->policy_pending = false;
    if (status == 0 && res->code != 0) {
        log_info("proposal refused: %s", res->message);
    } else if (status == 0 && res->n_refused > 0) {
        log_info("proposals refused: %u of %u, the first: %s", res->n_refused,
                 res->n_refused + res->n_applied, res->message);
    }
    command_close(&c->policy_cmd);
    /* A refused proposal is not proposed again at once: the next tick. */
    if (status == 0 && res->code == 0 && res->n_refused == 0 && c->kick_cb != NULL) {
        c->kick_cb(c); /* the next step may be due at once */
    }
}

/* TILT (after redis Sentinel): when ticks arrive far apart (the process
 * was stopped, the machine suspended or starved) or the clock runs
 * backwards (a monotonic clock does not; kept as a guard), this leader's
 * sense of "down for how long" cannot be trusted; it keeps committing
 * reports but decides no failover until failover_timeout has passed on a
 * steady clock. */
static void check_tilt(struct consensus *c, uint64_t now)
{
    uint64_t gap_limit = PGQ_MAX(2000, c->policy.failover_timeout_ms);
    if (c->last_tick_ms != 0 && (now < c->last_tick_ms || now - c->last_tick_ms > gap_limit)) {
        if (c->tilt_until_ms <= now) {
            log_warn("TILT: %s; no failover decision for %llu ms",
                     now < c->last_tick_ms ? "the clock went backwards" : "the loop stalled",
                     (unsigned long long)PGQ_MAX(c->policy.failover_timeout_ms, 2000));
        }
        c->tilt_until_ms = now + PGQ_MAX(c->policy.failover_timeout_ms, 2000);
    }
    c->last_tick_ms = now;
    c->policy.tilt = now < c->tilt_until_ms;
}

/* Every action due, however many: the buffer grows to the count. */
static unsigned due_actions(struct consensus *c)
{
    unsigned n = policy_actions_memo(&c->fsm->state, &c->policy, c->actions, c->actions_cap);
    if (n > c->actions_cap) {
        unsigned cap = PGQ_MAX(n, 2 * c->actions_cap);
        struct action *grown = realloc(c->actions, (size_t)cap * sizeof *grown);
        if (grown == NULL) {
            log_error("out of memory for %u due actions: carrying out %u", n, c->actions_cap);
            return c->actions_cap;
        }
        c->actions = grown;
        c->actions_cap = cap;
        n = policy_actions_memo(&c->fsm->state, &c->policy, c->actions, c->actions_cap);
    }
    return n;
}

/* Room for due actions kept however quiet the cluster (an action is 2.9 KB). */
#define PGQ_ACTIONS_KEPT 64

/* After a tick with far fewer actions than room for them (a registration
 * of thousands of nodes makes an action of each, 2.9 KB apiece), give the
 * room back: the buffer holds what a tick needs, not what the busiest one
 * needed. n = 0 on a monitor no longer leading. */
static void shrink_actions(struct consensus *c, unsigned n)
{
    unsigned cap = PGQ_MAX(2 * n, PGQ_ACTIONS_KEPT);
    struct action *shrunk;
    if (c->actions_cap <= PGQ_ACTIONS_KEPT || n > c->actions_cap / 4) {
        return;
    }
    shrunk = realloc(c->actions, (size_t)cap * sizeof *shrunk);
    if (shrunk != NULL) {
        c->actions = shrunk;
        c->actions_cap = cap;
    }
}

/* libraft's clock (the one its election timer runs on). */
static uint64_t raft_now(const struct consensus *c)
{
    return c->raft->io->time(c->raft->io);
}

/* Why the leadership moved away from c->last_leader, as this monitor saw
 * it: it had heard nothing from it for an election timeout, or it was in
 * touch until the change (the leader handed over or stepped down). */
static void note_reason(struct consensus *c)
{
    uint64_t quiet = raft_now(c) - c->leader_contact_ms;
    c->change_reason[0] = '\0';
    if (c->last_leader == 0 || c->last_leader == c->id) {
        return;
    }
    if (quiet >= c->raft->election_timeout) {
        snprintf(c->change_reason, sizeof c->change_reason,
                 "monitor %" PRIu64 " stopped answering (nothing from it for %" PRIu64 " ms)",
                 c->last_leader, quiet);
    } else {
        snprintf(c->change_reason, sizeof c->change_reason,
                 "monitor %" PRIu64 " gave up leading (handed over, or lost its majority)",
                 c->last_leader);
    }
}

/* A change of leader, logged once when this monitor first sees it, with
 * why when it knows. */
static void watch_leader(struct consensus *c)
{
    raft_id id = 0;
    const char *address = NULL;
    raft_leader(c->raft, &id, &address);
    if (raft_state(c->raft) == RAFT_FOLLOWER && id != 0) {
        c->leader_contact_ms = c->raft->election_timer_start;
    }
    if (id == c->seen_leader) {
        return;
    }
    if (id == 0) {
        note_reason(c);
        if (c->seen_leader != c->id) {
            log_info("no leader (term %llu)%s%s: electing one", c->raft->current_term,
                     c->change_reason[0] ? ": " : "", c->change_reason);
        }
    } else {
        if (c->seen_leader != 0) {
            note_reason(c); /* a leader replaced without an election seen in between */
        }
        if (c->last_leader != 0 && c->last_leader != id && id != c->id &&
            strstr(c->change_reason, "stopped answering") == NULL) {
            /* It heard from the old leader until the election (a vote it
             * granted restarts its timer): the new leader knows why. */
            c->change_pending = true;
            c->pending_from = c->last_leader;
            c->pending_to = id;
            c->pending_term = c->raft->current_term;
            c->pending_gen = c->fsm->state.leader_gen;
            c->pending_since_ms = raft_now(c);
        } else if (c->last_leader != 0 && c->last_leader != id) {
            log_info("leader %" PRIu64 " -> %" PRIu64 " (term %llu)%s%s", c->last_leader,
                     (uint64_t)id, c->raft->current_term, c->change_reason[0] ? ": " : "",
                     c->change_reason);
        } else {
            log_info("leader: monitor %" PRIu64 " (term %llu)", (uint64_t)id,
                     c->raft->current_term);
        }
        c->last_leader = id;
        c->leader_contact_ms = raft_now(c);
    }
    c->seen_leader = id;
}

/* A pending change is logged with the reason of the new leader's hello
 * (its committed event), or with this monitor's guess when none comes. */
static void log_pending_change(struct consensus *c)
{
    const struct state *s = &c->fsm->state;
    const char *reason = c->change_reason;
    if (!c->change_pending) {
        return;
    }
    if (s->leader_gen > c->pending_gen && s->leader_id == c->pending_to) {
        /* A leader's hello is an event of no cluster. */
        for (unsigned i = s->events.n; i-- > 0;) {
            const struct event *e = event_ring_at(&s->events, i);
            const char *colon;
            if (e->kind != PGQ_EV_LEADER) {
                continue;
            }
            colon = strstr(e->message, "): ");
            reason = colon != NULL ? colon + 3 : c->change_reason;
            break;
        }
    } else if (raft_now(c) - c->pending_since_ms < 5000) {
        return;
    }
    log_info("leader %" PRIu64 " -> %" PRIu64 " (term %llu)%s%s", c->pending_from, c->pending_to,
             c->pending_term, reason[0] ? ": " : "", reason);
    c->change_pending = false;
}

/* On the leader: each other voter lost (no Raft message from it for an
 * election timeout) or back, logged once per change. libraft marks a
 * voter that sent anything since its last quorum check; it clears the
 * marks every election timeout and a live voter answers every heartbeat. */
static void watch_voters(struct consensus *c)
{
    const struct raft_configuration *conf = &c->raft->configuration;
    uint64_t now = raft_now(c);
    if (raft_state(c->raft) != RAFT_LEADER) {
        c->n_voters = 0;
        return;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *srv = &conf->servers[i];
        unsigned k;
        if (srv->id == c->id || srv->role != RAFT_VOTER) {
            continue;
        }
        for (k = 0; k < c->n_voters && c->voters[k].id != srv->id; k++) {
        }
        if (k == c->n_voters) {
            if (k == PGQ_ARRAY_SIZE(c->voters)) {
                continue;
            }
            /* Newly led: heard from until shown otherwise. */
            c->voters[k].id = srv->id;
            c->voters[k].seen_ms = now;
            c->voters[k].lost = false;
            c->n_voters++;
        }
        if (c->raft->leader_state.progress[i].recent_recv) {
            if (c->voters[k].lost) {
                log_info("monitor %" PRIu64 " answers again (unreachable for %" PRIu64 " ms)",
                         (uint64_t)srv->id, now - c->voters[k].seen_ms);
            }
            c->voters[k].seen_ms = now;
            c->voters[k].lost = false;
        } else if (!c->voters[k].lost && now - c->voters[k].seen_ms > c->raft->election_timeout) {
            c->voters[k].lost = true;
            log_info("monitor %" PRIu64 " is unreachable: no Raft message from it for %" PRIu64
                     " ms (term %llu)",
                     (uint64_t)srv->id, now - c->voters[k].seen_ms, c->raft->current_term);
        }
    }
}

/* The leader's next proposal: from level 6, what every cluster needs next
 * as one batch (after a registration of thousands of clusters, discovery
 * takes a few entries, not one round trip each); below, one command. */
#define POLICY_BATCH_MAX 256

static bool next_policy_command(struct consensus *c)
{
    struct command *cmds;
    unsigned n;
    if (c->fsm->state.feature_level < 6) {
        return policy_next_command(&c->fsm->state, &c->policy, leader_now(c), &c->policy_cmd);
    }
    cmds = calloc(POLICY_BATCH_MAX, sizeof *cmds);
    if (cmds == NULL) {
        return policy_next_command(&c->fsm->state, &c->policy, leader_now(c), &c->policy_cmd);
    }
    n = policy_next_commands_memo(&c->fsm->state, &c->policy, leader_now(c), cmds,
                                  POLICY_BATCH_MAX);
    if (n <= 1) {
        if (n == 1) {
            c->policy_cmd = cmds[0];
        }
        free(cmds);
        return n == 1;
    }
    command_init(&c->policy_cmd, CMD_BATCH);
    c->policy_cmd.u.batch.cmds = cmds;
    c->policy_cmd.u.batch.n = n;
    return true;
}

void consensus_tick(struct consensus *c)
{
    unsigned n;
    check_tilt(c, c->mono_ms(c));
    watch_leader(c);
    log_pending_change(c);
    watch_voters(c);
    if (raft_state(c->raft) != RAFT_LEADER || c->ready_term != c->raft->current_term) {
        if (c->ready) {
            c->ready = false;
            log_info("no longer leading: leader work stopped");
            if (c->stepped_down_cb != NULL) {
                c->stepped_down_cb(c);
            }
            shrink_actions(c, 0);
        }
        if (raft_state(c->raft) == RAFT_LEADER && !c->hello_pending) {
            propose_hello(c);
        }
        return;
    }
    if (!c->policy_pending && next_policy_command(c)) {
        c->policy_p.data = c;
        c->policy_p.cb = policy_cb;
        if (consensus_propose(c, &c->policy_p, &c->policy_cmd) == 0) {
            c->policy_pending = true;
        } else {
            command_close(&c->policy_cmd);
        }
    }
    n = due_actions(c);
    if (c->actions_cb != NULL) {
        c->actions_cb(c, c->actions, n);
    }
    shrink_actions(c, n);
}

static int role_of(int raft_role);

void consensus_info(const struct consensus *c, struct raft_info *out)
{
    const char *leader_api;
    int st = raft_state(c->raft);
    memset(out, 0, sizeof *out);
    out->id = c->id;
    out->role = st == RAFT_LEADER      ? PGQ_MON_LEADER
                : st == RAFT_CANDIDATE ? PGQ_MON_CANDIDATE
                : st == RAFT_FOLLOWER  ? PGQ_MON_FOLLOWER
                                       : PGQ_MON_UNAVAILABLE;
    out->term = c->raft->current_term;
    out->commit_index = c->raft->commit_index;
    out->applied_index = raft_last_applied(c->raft);
    out->leader_id = consensus_leader(c, &leader_api);
    pgq_strlcpy(out->leader_api, leader_api, sizeof out->leader_api);
    pgq_strlcpy(out->raft_address, c->raft->address != NULL ? c->raft->address : "",
                sizeof out->raft_address);
    pgq_strlcpy(out->api_address, c->api_address, sizeof out->api_address);
    if (st == RAFT_LEADER) {
        out->ready = consensus_ready(c);
    } else {
        /* A follower serves reads once it has seen a leader and applied
         * everything it knows to be committed. */
        out->ready = out->leader_id != 0 && c->fsm->state.leader_gen > 0 &&
                     out->applied_index >= out->commit_index;
    }
    pgq_strlcpy(out->version, PGQ_VERSION_STRING, sizeof out->version);
    {
        const struct raft_configuration *conf = &c->raft->configuration;
        for (unsigned i = 0; i < conf->n && out->n_servers < PGQ_MAX_MONITORS; i++) {
            struct raft_server_info *sv = &out->servers[out->n_servers++];
            sv->id = conf->servers[i].id;
            sv->role = role_of(conf->servers[i].role);
            pgq_strlcpy(sv->address, conf->servers[i].address, sizeof sv->address);
        }
    }
}

static void transfer_cb(struct raft_transfer *req)
{
    struct consensus *c = req->data;
    c->transfer_pending = false;
}

int consensus_transfer(struct consensus *c)
{
    int rv;
    if (raft_state(c->raft) != RAFT_LEADER) {
        return PGQ_NOTLEADER;
    }
    if (c->transfer_pending) {
        return 0;
    }
    c->transfer.data = c;
    rv = raft_transfer(c->raft, &c->transfer, 0, transfer_cb);
    if (rv != 0) {
        log_warn("leadership transfer failed: %s", raft_strerror(rv));
        return PGQ_UNAVAILABLE;
    }
    c->transfer_pending = true;
    return 0;
}

/* ---- membership ------------------------------------------------------------ */

static int role_of(int raft_role)
{
    return raft_role == RAFT_VOTER     ? MEMBERS_ROLE_VOTER
           : raft_role == RAFT_STANDBY ? MEMBERS_ROLE_STANDBY
                                       : MEMBERS_ROLE_SPARE;
}

void consensus_members(const struct consensus *c, struct members_conf *out)
{
    const struct raft *r = c->raft;
    const struct raft_configuration *conf = &r->configuration;
    bool leader = raft_state(c->raft) == RAFT_LEADER;
    memset(out, 0, sizeof *out);
    out->leader_id = c->id;
    out->last_index = raft_last_index(c->raft);
    out->overflow = conf->n > PGQ_MAX_MONITORS;
    /* libraft refuses another change while one is not committed, or while
     * it runs the catch-up rounds of a promotion. */
    out->changing =
        r->configuration_uncommitted_index != 0 || (leader && r->leader_state.promotee_id != 0);
    for (unsigned i = 0; i < conf->n && out->n < PGQ_MAX_MONITORS; i++) {
        const struct raft_server *srv = &conf->servers[i];
        struct members_server *m = &out->servers[out->n++];
        m->id = srv->id;
        pgq_strlcpy(m->address, srv->address, sizeof m->address);
        m->role = role_of(srv->role);
        if (srv->id == c->id) {
            m->live = true;
            m->match_index = out->last_index;
            continue;
        }
        if (!leader) {
            continue;
        }
        m->match_index = r->leader_state.progress[i].match_index;
        m->live = r->leader_state.progress[i].recent_recv;
        /* A voter answers every heartbeat; watch_voters keeps whether it
         * went an election timeout without (libraft clears recent_recv at
         * each of its quorum checks). */
        for (unsigned k = 0; k < c->n_voters; k++) {
            if (c->voters[k].id == srv->id) {
                m->live = !c->voters[k].lost;
            }
        }
    }
}

static void change_cb(struct raft_change *req, int status)
{
    struct consensus_change *ch = req->data;
    ch->cb(ch, status == 0                                                 ? 0
               : status == RAFT_LEADERSHIPLOST || status == RAFT_NOTLEADER ? PGQ_NOTLEADER
               : status == RAFT_NOCONNECTION                               ? PGQ_TIMEOUT
                                                                           : PGQ_UNAVAILABLE);
}

int consensus_change(struct consensus *c,
                     struct consensus_change *ch,
                     int action,
                     uint64_t id,
                     const char *address,
                     char *why,
                     size_t size)
{
    int rv;
    ch->c = c;
    ch->req.data = ch;
    if (c->closing) {
        snprintf(why, size, "the monitor is shutting down");
        return PGQ_SHUTDOWN;
    }
    switch (action) {
        case MEMBERS_ADD:
            rv = raft_add(c->raft, &ch->req, id, address, change_cb);
            break;
        case MEMBERS_STANDBY:
            rv = raft_assign(c->raft, &ch->req, id, RAFT_STANDBY, change_cb);
            break;
        case MEMBERS_VOTER:
            rv = raft_assign(c->raft, &ch->req, id, RAFT_VOTER, change_cb);
            break;
        case MEMBERS_REMOVE:
            rv = raft_remove(c->raft, &ch->req, id, change_cb);
            break;
        default:
            snprintf(why, size, "no such change of the configuration (%d)", action);
            return PGQ_INVALID;
    }
    if (rv == 0) {
        return 0;
    }
    snprintf(why, size, "libraft refused to %s monitor %" PRIu64 ": %s",
             members_action_name(action), id, raft_errmsg(c->raft));
    switch (rv) {
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
            return PGQ_NOTLEADER;
        case RAFT_CANTCHANGE:
            return PGQ_UNAVAILABLE;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
            return PGQ_EXISTS;
        case RAFT_BADID:
        case RAFT_NOTFOUND:
            return PGQ_NOTFOUND;
        case RAFT_BADROLE:
            return PGQ_INVALID;
        default:
            return PGQ_UNAVAILABLE;
    }
}
