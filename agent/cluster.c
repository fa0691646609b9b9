/* apply(command) on the replicated state: the state machine. See cluster.h
 * for the contract; the state's queries are in state.c.
 *
 * Every apply_* function first checks everything that can fail and only then
 * changes the state, so that a refused command changes nothing. */
#include "cluster.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "conninfo.h"
#include "lib/util.h"

int cluster_fail(struct apply_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    return code;
}

/* See state_grow(). */
#define grow state_grow

void cluster_members_changed(struct state *s, struct cluster *c)
{
    if (s->feature_level >= 3) {
        c->members_gen++;
        c->slots_epoch = 0;
    }
}

/* ---- node add / remove / maintenance ----------------------------------- */

static int check_node_add(const struct state *s,
                          const struct command *cmd,
                          struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *n;
    struct conninfo ci;
    char err[PGQ_REASON_MAX];
    if (!pgq_name_valid(cmd->cluster)) {
        return cluster_fail(res, PGQ_INVALID,
                            "invalid cluster name \"%.63s\": use 1-63 of A-Z a-z 0-9 _ . -",
                            cmd->cluster);
    }
    if (!pgq_name_valid(cmd->node)) {
        return cluster_fail(res, PGQ_INVALID,
                            "invalid node name \"%.63s\": use 1-63 of A-Z a-z 0-9 _ . -",
                            cmd->node);
    }
    if (cmd->u.node_add.priority > 100) {
        return cluster_fail(res, PGQ_INVALID, "priority %u is out of range 0..100",
                            cmd->u.node_add.priority);
    }
    if (conninfo_check(cmd->u.node_add.conninfo, &ci, err, sizeof err) != 0) {
        return cluster_fail(res, PGQ_INVALID, "node %s: %s", cmd->node, err);
    }
    if (c == NULL) {
        if (s->feature_level < 6 && s->n_clusters >= PGQ_MAX_CLUSTERS) {
            return cluster_fail(res, PGQ_LIMIT, "too many clusters (limit %d)", PGQ_MAX_CLUSTERS);
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
        return cluster_fail(res, PGQ_EXISTS, "node %s already exists in cluster %s", cmd->node,
                            cmd->cluster);
    }
    /* Level 6: sized from what exists (below, the limit of older versions
     * holds: they refuse past it, and so must this one). */
    if (s->feature_level < 6 && c->n_nodes >= PGQ_MAX_NODES) {
        return cluster_fail(res, PGQ_LIMIT, "cluster %s has too many nodes (limit %d)",
                            cmd->cluster, PGQ_MAX_NODES);
    }
    if ((n = cluster_node_at(c, cmd->u.node_add.conninfo)) != NULL) {
        return cluster_fail(res, PGQ_EXISTS, "%s:%s is already registered as node %s", ci.host,
                            ci.port, n->name);
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
        c = state_add_cluster(s, cmd->cluster);
    }
    n = cluster_add_node(c, cmd->node, cmd->u.node_add.conninfo);
    n->priority = cmd->u.node_add.priority;
    n->replication_quorum = true;
    n->added_ms = cmd->time_ms;
    if (s->feature_level >= 6) {
        n->reg_seq = s->seq + 1; /* the seq this command is applied as: unique */
    }
    cluster_members_changed(s, c);
    cluster_event(s, c->name, n->name, PGQ_EV_NODE_ADDED, c->epoch, 0,
                  "node %s added (priority %u)", n->name, n->priority);
    return 0;
}

static int check_node_remove(const struct state *s,
                             const struct command *cmd,
                             struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *n = cluster_node(c, cmd->node);
    if (n == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    if (n->role == PGQ_ROLE_PRIMARY && c->n_nodes > 1) {
        return cluster_fail(res, PGQ_REFUSED,
                            "node %s is the primary of epoch %" PRIu64
                            "; remove the standbys first or wait for a failover",
                            n->name, c->epoch);
    }
    /* Until a primary is promoted again, the synchronous standbys the last
     * writable one named are the floor of every decision: it stays. */
    if (strcmp(c->fo.floor_primary, n->name) == 0 &&
        (c->fo.phase == PGQ_FO_CUTTING ||
         (c->fo.epoch == c->epoch &&
          (c->fo.phase == PGQ_FO_DECIDED || c->fo.phase == PGQ_FO_GAVE_UP)))) {
        return cluster_fail(res, PGQ_REFUSED,
                            "node %s was the last writable primary: the failover in progress "
                            "depends on what it acknowledged; remove it once a standby is promoted",
                            n->name);
    }
    /* Level 6: a switchover names its target; the same name registered
     * again would be another server. */
    if (s->feature_level >= 6 && c->sw.phase != PGQ_SW_NONE && strcmp(c->sw.target, n->name) == 0) {
        return cluster_fail(res, PGQ_REFUSED,
                            "node %s is the target of the switchover of cluster %s: cancel it "
                            "first (pgquorumctl switchover --cancel --cluster %s)",
                            n->name, c->name, c->name);
    }
    return 0;
}

/* Level 6: nothing of a removed node stays under its name, so that a node
 * registered again under it starts clean. The synchronous standbys the
 * other nodes named: a name that is no registered node is not judged
 * (policy_choose.c), and a new node of that name has acknowledged nothing. */
static void forget_node(struct cluster *c, const char *name)
{
    for (unsigned i = 0; i < c->n_nodes; i++) {
        struct node *m = &c->nodes[i];
        unsigned kept = 0;
        for (unsigned k = 0; k < m->n_sync; k++) {
            if (strcmp(m->sync[k].name, name) != 0) {
                m->sync[kept++] = m->sync[k];
            }
        }
        m->n_sync = kept;
    }
}

static int apply_node_remove(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct cluster *c;
    struct node *n;
    uint64_t epoch;
    bool last = false;
    int rv = check_node_remove(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    n = cluster_node(c, cmd->node);
    if (strcmp(c->primary, n->name) == 0) {
        c->primary[0] = '\0';
        c->timeline = c->parent_tli = 0; /* its history goes with it */
        c->fork_lsn = 0;
    }
    cluster_drop_node(c, (unsigned)(n - c->nodes));
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (strcmp(c->nodes[i].twin_of, cmd->node) == 0) {
            c->nodes[i].twin_of[0] = '\0'; /* the server has one name again */
        }
    }
    cluster_members_changed(s, c);
    epoch = c->epoch;
    if (s->feature_level >= 6) {
        forget_node(c, cmd->node);
        last = c->n_nodes == 0;
    }
    if (last) {
        /* Level 6: an empty cluster is freed (and its history with it),
         * so its events go to the history of no cluster, under its name. */
        state_drop_cluster(s, c);
    }
    cluster_event(s, cmd->cluster, cmd->node, PGQ_EV_NODE_REMOVED, epoch, 0, "node %s removed",
                  cmd->node);
    if (last) {
        cluster_event(s, cmd->cluster, "", PGQ_EV_CLUSTER, epoch, 0,
                      "cluster %s removed: its last node %s was removed", cmd->cluster, cmd->node);
    }
    return 0;
}

static int check_maintenance(const struct state *s,
                             const struct command *cmd,
                             struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *n = cluster_node(c, cmd->node);
    if (n == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    if (cmd->u.maintenance.allow_failover && !cmd->u.maintenance.on) {
        return cluster_fail(res, PGQ_INVALID, "allow_failover needs maintenance on");
    }
    /* A standby in maintenance is never promoted, whatever it allows: the
     * allowance is a primary's. */
    if (cmd->u.maintenance.allow_failover && strcmp(c->primary, n->name) != 0) {
        return cluster_fail(res, PGQ_REFUSED,
                            "node %s is not the primary of cluster %s: only a primary in "
                            "maintenance may be allowed a failover",
                            n->name, c->name);
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
    if (n->maintenance != cmd->u.maintenance.on ||
        n->maintenance_allow_failover != cmd->u.maintenance.allow_failover) {
        n->maintenance = cmd->u.maintenance.on;
        n->maintenance_allow_failover = cmd->u.maintenance.allow_failover;
        cluster_event(s, c->name, n->name, PGQ_EV_MAINTENANCE, c->epoch, 0,
                      "maintenance %s for node %s%s", n->maintenance ? "on" : "off", n->name,
                      !n->maintenance || n->role != PGQ_ROLE_PRIMARY ? ""
                      : n->maintenance_allow_failover
                          ? ": the primary may still be failed over should it go down "
                            "(allowed by the operator)"
                          : ": no automatic failover while the primary is in maintenance");
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

struct member *state_member_slot(struct state *s, uint64_t id)
{
    return member_slot(s, id);
}

bool state_set_voters(struct state *s, const struct member *voters, unsigned n)
{
    unsigned before, kept = 0;
    /* Monitors that left the configuration stay listed, as non-voters, so
     * that their addresses remain known; no list holds more than
     * PGQ_MAX_MONITORS voters, so room is made by dropping non-voters. */
    for (unsigned i = 0; i < n; i++) {
        kept += state_is_voter(s, voters[i].id) ? 1u : 0u;
    }
    before = state_n_voters(s);
    for (unsigned i = 0; i < s->n_monitors; i++) {
        s->monitors[i].voter = false;
    }
    for (unsigned i = 0; i < n; i++) {
        struct member *m = member_slot(s, voters[i].id);
        if (m == NULL) {
            unsigned j = 0;
            for (unsigned k = 0; k < s->n_monitors; k++) {
                if (s->monitors[k].voter) {
                    s->monitors[j++] = s->monitors[k];
                }
            }
            s->n_monitors = j;
            m = member_slot(s, voters[i].id);
        }
        m->voter = true;
        pgq_strlcpy(m->raft_address, voters[i].raft_address, sizeof m->raft_address);
    }
    return kept != n || before != n;
}

static int apply_hello(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_hello *h = &cmd->u.hello;
    bool leader_listed = false, changed;
    if (h->monitor_id == 0 || h->n_voters == 0 || h->n_voters > PGQ_MAX_MONITORS) {
        return cluster_fail(res, PGQ_INVALID, "leader hello: bad monitor id or voter list");
    }
    for (unsigned i = 0; i < h->n_voters; i++) {
        if (h->voters[i].id == 0) {
            return cluster_fail(res, PGQ_INVALID, "leader hello: voter id 0");
        }
        leader_listed |= h->voters[i].id == h->monitor_id;
    }
    if (!leader_listed) {
        return cluster_fail(res, PGQ_INVALID, "leader hello: monitor %" PRIu64 " is not a voter",
                            h->monitor_id);
    }
    changed = state_set_voters(s, h->voters, h->n_voters);
    if (h->api_address[0] != '\0') {
        struct member *m = member_slot(s, h->monitor_id);
        pgq_strlcpy(m->api_address, h->api_address, sizeof m->api_address);
    }
    if (h->feature_level != 0) {
        member_slot(s, h->monitor_id)->max_level = h->feature_level;
    }
    s->leader_gen++;
    s->leader_id = h->monitor_id;
    s->gen_since_ms = s->time_ms;
    cluster_event(s, "", "", PGQ_EV_LEADER, 0, 0,
                  "monitor %" PRIu64 " leads (generation %" PRIu64 ", %u voters)%s%s",
                  h->monitor_id, s->leader_gen, h->n_voters, h->reason[0] != '\0' ? ": " : "",
                  h->reason);
    /* Level 6: the verdicts count the new voters' views from now on, not
     * at each node's next report (a removed monitor's view must not keep
     * a node up or down). */
    if (changed && s->feature_level >= 6) {
        state_refresh_verdicts(s);
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
        return cluster_fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node, cmd->cluster);
    }
    if (cmd->u.set_role.epoch != c->epoch) {
        return cluster_fail(res, PGQ_STALE,
                            "role change for epoch %" PRIu64 ", cluster is at %" PRIu64,
                            cmd->u.set_role.epoch, c->epoch);
    }
    if (role == PGQ_ROLE_PRIMARY) {
        /* Discovery: a cluster without a primary (new, or whose lone primary
         * was removed) takes the first writable node seen, in a new epoch.
         * Otherwise primaries only come from a failover decision. */
        if (c->primary[0] != '\0' || n->role != PGQ_ROLE_UNKNOWN) {
            return cluster_fail(res, PGQ_REFUSED,
                                "node %s cannot be made primary outside a failover", n->name);
        }
        if (node_impostor(n)) {
            return cluster_fail(res, PGQ_REFUSED,
                                "node %s cannot be made primary: another server answers for it",
                                n->name);
        }
        /* Level 6: never an epoch a removed cluster used (cluster_remove.c). */
        c->epoch = cluster_epoch_base(s, c) + 1;
        pgq_strlcpy(c->primary, n->name, sizeof c->primary);
        c->timeline = c->parent_tli = 0; /* not known: it was not promoted by us */
        c->fork_lsn = 0;
        n->role = PGQ_ROLE_PRIMARY;
        n->following_epoch = c->epoch;
        cluster_event(s, c->name, n->name, PGQ_EV_ROLE, c->epoch, 0,
                      "node %s is the primary (discovered, epoch %" PRIu64 ")", n->name, c->epoch);
        return 0;
    }
    if (role == PGQ_ROLE_STANDBY) {
        if (n->role != PGQ_ROLE_UNKNOWN && n->role != PGQ_ROLE_DEMOTED) {
            return cluster_fail(res, PGQ_REFUSED, "node %s is %s, not unknown or demoted", n->name,
                                pgq_role_name(n->role));
        }
        cluster_event(s, c->name, n->name, PGQ_EV_ROLE, c->epoch, 0, "node %s is a standby%s",
                      n->name, n->role == PGQ_ROLE_DEMOTED ? " again (rejoined)" : "");
        n->rejoin[0] = '\0';
        n->role = PGQ_ROLE_STANDBY;
        return 0;
    }
    return cluster_fail(res, PGQ_INVALID, "role %d cannot be set", role);
}

/* ---- dispatch ----------------------------------------------------------- */

/* Two nodes whose names differ only in case or punctuation would share a
 * replication slot: a new one is refused (apply still accepts it, as it
 * accepted it before slots). */
static int check_slot_name(const struct state *s,
                           const struct command *cmd,
                           struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct node *other = c != NULL ? cluster_slot_taken(c, cmd->node) : NULL;
    char mine[PGQ_SLOT_NAME_MAX];
    if (other != NULL) {
        pgq_slot_name(cmd->node, mine, sizeof mine);
        return cluster_fail(res, PGQ_EXISTS,
                            "node %s would share replication slot %s with node %s: choose a "
                            "name that differs in more than case or punctuation",
                            cmd->node, mine, other->name);
    }
    return 0;
}

int cluster_check(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    memset(res, 0, sizeof *res);
    if (cluster_command_level(cmd) > s->feature_level) {
        return cluster_fail(res, PGQ_VERSION,
                            "the cluster is at feature level %u: upgrade every monitor first",
                            s->feature_level);
    }
    switch (cmd->kind) {
        case CMD_NODE_ADD: {
            /* Stricter than apply, which must keep accepting what older
             * versions committed. */
            struct conninfo ci;
            char err[PGQ_REASON_MAX];
            int rv;
            if (conninfo_validate(cmd->u.node_add.conninfo, &ci, err, sizeof err) != 0) {
                return cluster_fail(res, PGQ_INVALID, "node %s: %s", cmd->node, err);
            }
            rv = check_node_add(s, cmd, res);
            return rv != 0 ? rv : check_slot_name(s, cmd, res);
        }
        case CMD_NODE_REMOVE:
            return check_node_remove(s, cmd, res);
        case CMD_MAINTENANCE:
            return check_maintenance(s, cmd, res);
        case CMD_PAUSE:
            return check_pause(s, cmd, res);
        case CMD_SWITCHOVER:
            if (cluster_cmd_level(cmd->kind) > s->feature_level) {
                return cluster_fail(res, PGQ_VERSION,
                                    "the cluster is at feature level %u: upgrade every monitor "
                                    "first",
                                    s->feature_level);
            }
            return check_switchover(s, cmd, res);
        case CMD_ALLOW_UNFENCED: {
            const struct cluster *c = state_cluster(s, cmd->cluster);
            const struct node *n = cluster_node(c, cmd->node);
            if (n == NULL) {
                return cluster_fail(res, PGQ_NOTFOUND, "unknown node %s/%s", cmd->cluster,
                                    cmd->node);
            }
            if (strcmp(c->primary, n->name) != 0) {
                return cluster_fail(res, PGQ_REFUSED, "node %s is not the primary of cluster %s",
                                    n->name, c->name);
            }
            return 0;
        }
        case CMD_SYNC_CONFIG:
            return sync_config_check(s, cmd, res);
        case CMD_ACCESS_ROLE:
            return check_access_role(s, cmd, res);
        case CMD_GRANT:
            return check_grant(s, cmd, res);
        case CMD_BATCH:
            return check_batch(s, cmd, res);
        case CMD_CLUSTER_REMOVE:
            return check_cluster_remove(s, cmd, res);
        default:
            return 0;
    }
}

/* Commands that change only the cluster they name (and cluster_apply
 * bumps the state's count when they add or remove one). Any other kind
 * (a new leader, feature level, monitors, access) counts for every
 * cluster: the policy walk looks at every one again. */
static bool cluster_scoped(int kind)
{
    switch (kind) {
        case CMD_NODE_ADD:
        case CMD_NODE_REMOVE:
        case CMD_MAINTENANCE:
        case CMD_REPORT:
        case CMD_SET_ROLE:
        case CMD_DECIDE:
        case CMD_BLOCKED:
        case CMD_STEP:
        case CMD_CUT:
        case CMD_ABANDON:
        case CMD_AGENT:
        case CMD_ALLOW_UNFENCED:
        case CMD_SWITCHOVER:
        case CMD_PAUSE:
        case CMD_SYNC_CONFIG:
        case CMD_SYNC_SET:
            return true;
        default:
            return false;
    }
}

static void note_change(struct state *s, const struct command *cmd, unsigned n_clusters)
{
    struct cluster *c = cluster_scoped(cmd->kind) && s->n_clusters == n_clusters
                            ? state_cluster(s, cmd->cluster)
                            : NULL;
    if (c != NULL) {
        c->changes++;
    } else {
        s->changes++;
    }
}

int cluster_apply(struct state *s, const struct command *cmd, struct apply_result *res)
{
    uint64_t saved_time = s->time_ms;
    unsigned n_clusters = s->n_clusters;
    const struct command *outer = s->applying;
    int rv;
    memset(res, 0, sizeof *res);
    /* Time never goes back, whatever a new leader's clock says. */
    if (cmd->time_ms > s->time_ms) {
        s->time_ms = cmd->time_ms;
    }
    /* Rolling upgrades: a command of a level the state is not at yet is
     * refused here exactly as a monitor of the previous version, which does
     * not know it, refuses it: both leave the state as it was. */
    if (s->feature_level == 0) {
        s->feature_level = 1; /* a state zeroed by hand */
    }
    if (cluster_command_level(cmd) > s->feature_level) {
        s->time_ms = saved_time;
        return cluster_fail(res, PGQ_VERSION,
                            "command needs feature level %u; the cluster is at level %u",
                            cluster_command_level(cmd), s->feature_level);
    }
    s->applying = cmd; /* its events say who asked (cluster_event) */
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
            rv = cluster_apply_report(s, cmd, res);
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
        case CMD_ABANDON:
            rv = apply_abandon(s, cmd, res);
            break;
        case CMD_AGENT:
            rv = apply_agent(s, cmd, res);
            break;
        case CMD_FEATURE:
            rv = apply_feature(s, cmd, res);
            break;
        case CMD_ALLOW_UNFENCED:
            rv = apply_allow_unfenced(s, cmd, res);
            break;
        case CMD_SWITCHOVER:
            rv = apply_switchover(s, cmd, res);
            break;
        case CMD_PAUSE:
            rv = apply_pause(s, cmd, res);
            break;
        case CMD_SYNC_CONFIG:
            rv = apply_sync_config(s, cmd, res);
            break;
        case CMD_SYNC_SET:
            rv = apply_sync_set(s, cmd, res);
            break;
        case CMD_ACCESS_ROLE:
            rv = apply_access_role(s, cmd, res);
            break;
        case CMD_GRANT:
            rv = apply_grant(s, cmd, res);
            break;
        case CMD_AUDIT:
            rv = apply_audit(s, cmd, res);
            break;
        case CMD_BATCH:
            rv = apply_batch(s, cmd, res);
            if (rv == 0 && res->n_applied == 0) {
                s->time_ms = saved_time; /* nothing of it was applied: nothing changed */
            }
            if (rv == 0) {
                return 0; /* each of its commands counted and stamped itself */
            }
            break;
        case CMD_CLUSTER_REMOVE:
            rv = apply_cluster_remove(s, cmd, res);
            break;
        case CMD_MEMBER:
            rv = apply_member(s, cmd, res);
            break;
        default:
            rv = cluster_fail(res, PGQ_UNKNOWN, "unknown command kind %d", cmd->kind);
            break;
    }
    s->applying = outer;
    if (rv != 0) {
        s->time_ms = saved_time;
        return rv;
    }
    s->seq++;
    note_change(s, cmd, n_clusters);
    return 0;
}
