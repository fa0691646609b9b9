/* Inside the state machine: node agents and feature levels (see
 * cluster.h). What an agent says is committed by the leader as an
 * AgentReport; the leader alone judges when an agent fell silent (a whole
 * lease without a heartbeat) and commits that too, so that every monitor
 * holds the same facts. */
#include <inttypes.h>
#include <string.h>

#include "cluster_internal.h"

unsigned cluster_cmd_level(int kind)
{
    /* SetFeature itself is of level 1: it is how a state gets to 2. An
     * older monitor does not know it either, but the leader proposes it only
     * once every voter announced the level. */
    switch (kind) {
        case CMD_AGENT:
        case CMD_ALLOW_UNFENCED:
            return 2;
        case CMD_PAUSE:
        case CMD_SWITCHOVER:
        case CMD_SYNC_CONFIG:
        case CMD_SYNC_SET:
            return 3;
        case CMD_ACCESS_ROLE:
        case CMD_GRANT:
        case CMD_AUDIT:
            return 5;
        case CMD_BATCH:
        case CMD_CLUSTER_REMOVE:
        case CMD_MEMBER:
            return 6;
        default:
            return 1;
    }
}

/* A report that says what only level 6 knows: an observation's overload,
 * or the monitor's probes shed. */
static bool report_level6(const struct cmd_report *r)
{
    if (r->has_resources) {
        return true;
    }
    for (unsigned i = 0; i < r->n_obs; i++) {
        if (r->obs[i].overload_ms != 0) {
            return true;
        }
    }
    return false;
}

unsigned cluster_command_level(const struct command *cmd)
{
    /* A field an older monitor does not know makes it refuse the command
     * (the codec re-encodes what it decoded and finds it shorter), so a
     * command that sets one is of the level that brought it. */
    if (cmd->kind == CMD_MAINTENANCE && cmd->u.maintenance.allow_failover) {
        return 3;
    }
    if (cmd->kind == CMD_HELLO && cmd->u.hello.reason[0] != '\0') {
        return 4;
    }
    if (cmd->kind == CMD_FEATURE &&
        (cmd->u.feature.events_per_cluster != 0 || cmd->u.feature.events_global != 0)) {
        return 6;
    }
    if (cmd->kind == CMD_AGENT && cmd->u.agent.system_id != 0) {
        return PGQ_MAX(5u, cluster_cmd_level(cmd->kind));
    }
    if (cmd->who[0] != '\0' || cmd->from[0] != '\0') {
        return PGQ_MAX(5u, cluster_cmd_level(cmd->kind));
    }
    if (cmd->kind == CMD_REPORT && report_level6(&cmd->u.report)) {
        return 6;
    }
    return cluster_cmd_level(cmd->kind);
}

unsigned cluster_step_level(int step)
{
    /* A monitor of the previous version refuses a step it does not know
     * (an unknown step kind): the ones that know it must refuse it too
     * until every voter does. */
    return step == PGQ_STEP_SLOTS ? 3 : 1;
}

bool agent_facts_material(const struct agent_facts *a, const struct agent_facts *b)
{
    return a->state != b->state || a->pm_alive != b->pm_alive || a->answering != b->answering ||
           a->pg_state != b->pg_state || a->timeline != b->timeline ||
           a->in_recovery != b->in_recovery || a->fenced != b->fenced ||
           a->handover != b->handover || a->lease != b->lease || a->pm_pid != b->pm_pid ||
           a->session != b->session || a->rejoin != b->rejoin || a->streaming != b->streaming ||
           a->stopped_lsn != b->stopped_lsn || a->system_id != b->system_id;
}

bool agent_confirms_down(const struct agent_facts *a)
{
    return a->state == PGQ_AGENT_UP && !a->pm_alive && (a->fenced || a->handover);
}

/* The agent moved on in rejoining its node: one event per step. */
static void rejoin_event(struct state *s, struct cluster *c, struct node *n)
{
    /* What each step says before the agent's detail; NULL: no event. */
    static const char *const says[PGQ__N_RJ_STATES] = {
        [PGQ_RJ_REWINDING] = "rejoins: rewinding it (pg_rewind)",
        [PGQ_RJ_CLONING] = "is being cloned",
        [PGQ_RJ_WAITING] = "needs a rejoin and waits for an operator",
        [PGQ_RJ_FAILED] = "could not rejoin",
        [PGQ_RJ_STARTING] = "is starting as a standby",
    };
    const struct agent_facts *f = &n->agent;
    const char *d = f->rejoin_detail;
    const char *sep = d[0] != '\0' ? ": " : "";
    /* Durations for the steps that end a rejoin. */
    uint64_t took = f->rejoin >= PGQ_RJ_STARTING ? f->rejoin_ms : 0;
    if (f->rejoin == PGQ_RJ_STARTING && f->lost_known) {
        cluster_event(s, c->name, n->name, PGQ_EV_REJOINED, c->epoch, took,
                      "node %s %s: %" PRIu64 " commit(s), %" PRIu64
                      " bytes of WAL it alone had were discarded; starting as a standby",
                      n->name, d[0] != '\0' ? d : "rewound", f->lost_commits, f->lost_bytes);
    } else if (f->rejoin == PGQ_RJ_STREAMING) {
        cluster_event(s, c->name, n->name, PGQ_EV_REJOINED, c->epoch, took,
                      "node %s rejoined: streaming on timeline %u%s%s", n->name, f->timeline, sep,
                      d);
    } else if (f->rejoin > PGQ_RJ_NONE && f->rejoin < PGQ__N_RJ_STATES && says[f->rejoin]) {
        cluster_event(s, c->name, n->name, PGQ_EV_REJOINED, c->epoch, took, "node %s %s%s%s",
                      n->name, says[f->rejoin], sep, d);
    }
}

int apply_agent(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *n = cluster_node(c, cmd->node);
    const struct agent_facts *f = &cmd->u.agent;
    struct agent_facts old;
    bool was;
    if (n == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "agent report for unknown node %s/%s", cmd->cluster,
                            cmd->node);
    }
    if (f->state != PGQ_AGENT_UP && f->state != PGQ_AGENT_SILENT) {
        return cluster_fail(res, PGQ_INVALID, "agent report for %s: bad agent state %d", cmd->node,
                            f->state);
    }
    if (f->rejoin < 0 || f->rejoin >= PGQ__N_RJ_STATES) {
        return cluster_fail(res, PGQ_INVALID, "agent report for %s: bad rejoin state %d", cmd->node,
                            f->rejoin);
    }
    if (f->pg_state < 0 || f->pg_state >= PGQ__N_PG_STATES) {
        return cluster_fail(res, PGQ_INVALID, "agent report for %s: bad PostgreSQL state %d",
                            cmd->node, f->pg_state);
    }
    old = n->agent;
    if (f->state == PGQ_AGENT_UP && identity_refuse_agent(s, c, n, f)) {
        return 0; /* another server's facts: only that is committed */
    }
    was = node_impostor(n);
    if (f->state == PGQ_AGENT_SILENT) {
        /* Silence keeps the last facts heard: only the state changes. */
        if (old.state == PGQ_AGENT_SILENT) {
            return 0;
        }
        n->agent.state = PGQ_AGENT_SILENT;
        n->agent.lease = false;
        n->agent.since_ms = s->time_ms;
        n->agent.facts_ms = s->time_ms;
        n->agent.silent_seq = s->seq + 1;
        n->agent.unprotected = false;
        cluster_event(s, c->name, n->name, PGQ_EV_AGENT, c->epoch, 0,
                      "the agent of %s fell silent (no heartbeat for a whole lease)%s", n->name,
                      old.state == PGQ_AGENT_NONE ? "" : ": it fenced, died or is cut off");
        return 0;
    }
    n->agent = *f;
    identity_changed(s, c, n, was, f->system_id);
    if (s->feature_level < 3) {
        /* Monitors of level 2 know none of the rejoin facts: all agree on
         * none until every monitor does. */
        n->agent.rejoin = PGQ_RJ_NONE;
        n->agent.rejoin_detail[0] = '\0';
        n->agent.rejoin_epoch = n->agent.rejoin_ms = 0;
        n->agent.lost_commits = n->agent.lost_bytes = 0;
        n->agent.lost_known = n->agent.streaming = false;
        n->agent.stopped_lsn = 0;
    } else if (old.rejoin != n->agent.rejoin) {
        rejoin_event(s, c, n);
    }
    n->agent.unprotected = false;
    n->agent.silent_seq = 0;
    n->agent.facts_ms = s->time_ms;
    /* since: when the agent, its postmaster or its fence last changed. */
    if (old.state != f->state || old.pm_alive != f->pm_alive || old.fenced != f->fenced) {
        n->agent.since_ms = s->time_ms;
    } else {
        n->agent.since_ms = old.since_ms;
    }
    if (old.state != PGQ_AGENT_UP) {
        cluster_event(s, c->name, n->name, PGQ_EV_AGENT, c->epoch, 0,
                      "the agent of %s is up (%s, PostgreSQL %s)", n->name,
                      old.state == PGQ_AGENT_NONE ? "attached" : "back",
                      f->pm_alive ? "running" : "not running");
    } else if (old.pm_alive && !f->pm_alive && f->stopped_lsn != 0) {
        cluster_event(s, c->name, n->name, PGQ_EV_AGENT, c->epoch, 0,
                      "the agent of %s stopped its PostgreSQL cleanly for the switchover "
                      "(WAL ends at %X/%X)",
                      n->name, (unsigned)(f->stopped_lsn >> 32), (unsigned)f->stopped_lsn);
    } else if (old.pm_alive && !f->pm_alive) {
        cluster_event(s, c->name, n->name, PGQ_EV_AGENT, c->epoch, 0,
                      "the agent of %s reports its PostgreSQL %s%s", n->name,
                      f->fenced ? "fenced (stopped)" : "dead",
                      f->handover ? ": left to the quorum" : ": restarting it");
    } else if (!old.pm_alive && f->pm_alive) {
        cluster_event(s, c->name, n->name, PGQ_EV_AGENT, c->epoch, 0,
                      "the agent of %s reports its PostgreSQL running (pid %" PRIu64 ")", n->name,
                      f->pm_pid);
    }
    return 0;
}

/* An observation of node n: a node seen reachable after its agent went
 * silent runs with nobody to fence it (the agent fences before its lease
 * ends, and silence is declared only once a whole lease has passed). */
void agent_note_observation(struct state *s, struct cluster *c, struct node *n, const struct obs *o)
{
    if (n->agent.state != PGQ_AGENT_SILENT || n->agent.unprotected || !o->reachable ||
        o->basis_seq < n->agent.silent_seq) {
        return;
    }
    n->agent.unprotected = true;
    cluster_event(s, c->name, n->name, PGQ_EV_UNPROTECTED, c->epoch, 0,
                  "node %s runs with no agent to fence it: its agent fell silent while it kept "
                  "running%s",
                  n->name,
                  strcmp(c->primary, n->name) == 0
                      ? "; no failover over it unless no acknowledged write can be lost or an "
                        "operator allows it"
                      : "");
}

/* Level 6: the leader commits the history's bounds of its configuration
 * (a SetFeature of the current level that sets only them). */
static int apply_bounds(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_feature *f = &cmd->u.feature;
    if (f->events_per_cluster > PGQ_EVENTS_BOUND_MAX || f->events_global > PGQ_EVENTS_BOUND_MAX) {
        return cluster_fail(res, PGQ_INVALID, "event history bounds %u and %u: at most %d each",
                            f->events_per_cluster, f->events_global, PGQ_EVENTS_BOUND_MAX);
    }
    if ((f->events_per_cluster == 0 || f->events_per_cluster == s->events_per_cluster) &&
        (f->events_global == 0 || f->events_global == s->events_global)) {
        return 0; /* the same again */
    }
    events_set_bounds(s, f->events_per_cluster, f->events_global);
    cluster_event(s, "", "", PGQ_EV_FEATURE, 0, 0,
                  "event history: the latest %u events of each cluster, %u of no cluster",
                  s->events_per_cluster, s->events_global);
    return 0;
}

int apply_feature(struct state *s, const struct command *cmd, struct apply_result *res)
{
    unsigned level = cmd->u.feature.level, from = s->feature_level;
    if (s->feature_level >= 6 && level == s->feature_level &&
        (cmd->u.feature.events_per_cluster != 0 || cmd->u.feature.events_global != 0)) {
        return apply_bounds(s, cmd, res);
    }
    if (level <= s->feature_level) {
        return cluster_fail(res, PGQ_STALE, "feature level %u: the cluster is already at %u", level,
                            s->feature_level);
    }
    if (level > PGQ_FEATURE_LEVEL) {
        return cluster_fail(res, PGQ_VERSION,
                            "feature level %u is unknown to this monitor (it supports %u)", level,
                            PGQ_FEATURE_LEVEL);
    }
    for (unsigned i = 0; i < s->n_monitors; i++) {
        const struct member *m = &s->monitors[i];
        if (m->voter && m->max_level < level) {
            return cluster_fail(res, PGQ_REFUSED,
                                "feature level %u: monitor %" PRIu64 " supports only %u", level,
                                m->id, m->max_level != 0 ? m->max_level : 1);
        }
    }
    cluster_event(s, "", "", PGQ_EV_FEATURE, 0, 0, "feature level %u (was %u)", level,
                  s->feature_level);
    s->feature_level = level;
    events_level_raised(s, from);
    return 0;
}

int apply_allow_unfenced(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c = state_cluster(s, cmd->cluster);
    struct node *n = cluster_node(c, cmd->node);
    if (n == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "unknown node %s/%s", cmd->cluster, cmd->node);
    }
    if (strcmp(c->primary, n->name) != 0) {
        return cluster_fail(res, PGQ_REFUSED, "node %s is not the primary of cluster %s", n->name,
                            c->name);
    }
    n->allow_unfenced_epoch = c->epoch;
    cluster_event(
        s, c->name, n->name, PGQ_EV_ALLOW, c->epoch, 0,
        "%s allowed a failover over %s although it cannot be proven fenced (epoch %" PRIu64 ")",
        cmd->u.allow.by[0] != '\0' ? cmd->u.allow.by : "an operator", n->name, c->epoch);
    return 0;
}
