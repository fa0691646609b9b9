/* Inside the state machine: managed synchronous replication (see
 * cluster.h and docs/architecture.md, "Managed synchronous replication").
 *
 * The configuration (SyncConfig) and every synchronous set (SyncSet) are
 * committed before the leader writes them on the primary; a set is in force
 * once a committed observation shows the primary running it (at a WAL
 * position L) and enough of its standbys holding WAL up to L that every
 * commit acknowledged under an older set is also covered by it. Until then
 * the older sets stay listed (retiring) and bind a failover too. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster_internal.h"
#include "lib/util.h"

/* Written for a strict set that has no standby at all: no standby has this
 * application_name (':' is not allowed in a node name), so writes wait. */
#define NO_STANDBY "pgquorum:none"

void sync_set_text(const struct sync_set *set, char *buf, size_t size)
{
    buf[0] = '\0';
    if (set->method != PGQ_SYNC_ANY && set->method != PGQ_SYNC_FIRST) {
        return;
    }
    pgq_appendf(buf, size, "%s %u (", pgq_sync_method_name(set->method), set->k);
    for (unsigned i = 0; i < set->n_names; i++) {
        pgq_appendf(buf, size, "%s\"%s\"", i > 0 ? ", " : "", set->names[i]);
    }
    pgq_appendf(buf, size, "%s)", set->n_names == 0 ? "\"" NO_STANDBY "\"" : "");
}

bool sync_set_same(const struct sync_set *a, const struct sync_set *b)
{
    if (a->method != b->method || a->k != b->k || a->n_names != b->n_names) {
        return false;
    }
    for (unsigned i = 0; i < a->n_names; i++) {
        if (strcmp(a->names[i], b->names[i]) != 0) {
            return false;
        }
    }
    return true;
}

static int sync_set_index(const struct sync_set *set, const char *name)
{
    for (unsigned i = 0; i < set->n_names; i++) {
        if (strcmp(set->names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

bool sync_set_has(const struct sync_set *set, const char *name)
{
    return sync_set_index(set, name) >= 0;
}

/* How many of the set's standbys must hold a WAL position for every commit
 * up to it to survive any failover the set allows: a commit waits for k of
 * them, and a failover compares n - k + 1 (FIRST k of fewer than k names:
 * any one, so all of them). */
static unsigned sync_need_held(const struct sync_set *set)
{
    if (set->method == PGQ_SYNC_NONE) {
        return 0;
    }
    return PGQ_MIN(set->k, set->n_names);
}

static unsigned bits(uint32_t mask)
{
    unsigned n = 0;
    for (; mask != 0; mask &= mask - 1) {
        n++;
    }
    return n;
}

/* ---- configuration ---------------------------------------------------- */

static int check_sync_config(const struct state *s,
                             const struct command *cmd,
                             struct apply_result *res)
{
    const struct cmd_sync_config *y = &cmd->u.sync_config;
    const struct cluster *c = state_cluster(s, cmd->cluster);
    unsigned parts =
        (y->mode != -1 || y->number != 0) + (cmd->node[0] != '\0') + (y->allow_data_loss ? 1u : 0u);
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (parts != 1) {
        return cluster_fail(res, PGQ_INVALID,
                            "sync: give a cluster's mode and number, a node's replication "
                            "quorum, or an allowance: one of them");
    }
    if (y->mode < -1 || y->mode >= PGQ__N_SYNC_MODES) {
        return cluster_fail(res, PGQ_INVALID, "sync: mode %d is not off, quorum or strict",
                            y->mode);
    }
    if (y->number > PGQ_SYNC_MAX) {
        return cluster_fail(res, PGQ_INVALID, "sync: number_sync %u is out of range 1..%d",
                            y->number, PGQ_SYNC_MAX);
    }
    if (cmd->node[0] != '\0') {
        if (cluster_node(c, cmd->node) == NULL) {
            return cluster_fail(res, PGQ_NOTFOUND, "no node %s in cluster %s", cmd->node,
                                cmd->cluster);
        }
        if (y->replication_quorum != 0 && y->replication_quorum != 1) {
            return cluster_fail(res, PGQ_INVALID,
                                "sync: node %s: replication_quorum must be "
                                "true or false",
                                cmd->node);
        }
    }
    if (y->allow_data_loss && c->primary[0] == '\0') {
        return cluster_fail(res, PGQ_REFUSED, "cluster %s has no primary to fail over",
                            cmd->cluster);
    }
    return 0;
}

/* Before a proposal: also refuse what would make strict mode wait for ever
 * (fewer standbys that may be synchronous than number_sync). */
int sync_config_check(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_sync_config *y = &cmd->u.sync_config;
    const struct cluster *c = state_cluster(s, cmd->cluster);
    unsigned number, able = 0;
    int mode;
    if (cluster_cmd_level(cmd->kind) > s->feature_level) {
        return cluster_fail(res, PGQ_VERSION,
                            "the cluster is at feature level %u: upgrade every monitor first "
                            "(managed synchronous replication needs level 3)",
                            s->feature_level);
    }
    if (check_sync_config(s, cmd, res) != 0 || y->allow_data_loss) {
        return res->code;
    }
    mode = y->mode != -1 ? y->mode : c->sync.mode;
    number = y->number != 0 ? y->number : PGQ_MAX(c->sync.number, 1);
    for (unsigned i = 0; i < c->n_nodes; i++) {
        const struct node *n = &c->nodes[i];
        bool rq =
            strcmp(n->name, cmd->node) == 0 ? y->replication_quorum == 1 : n->replication_quorum;
        able += rq && strcmp(n->name, c->primary) != 0 && n->twin_of[0] == '\0';
    }
    if (mode == PGQ_SYNC_STRICT && able < number) {
        return cluster_fail(res, PGQ_REFUSED,
                            "strict mode with number_sync %u needs %u standbys with "
                            "replication_quorum true; cluster %s would have %u: writes would "
                            "wait for ever",
                            number, number, c->name, able);
    }
    return 0;
}

int apply_sync_config(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_sync_config *y = &cmd->u.sync_config;
    struct cluster *c;
    struct node *n;
    char number[32] = "";
    int rv = check_sync_config(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    if (y->allow_data_loss) {
        c->sync.allow_loss_epoch = c->epoch;
        cluster_event(s, c->name, c->primary, PGQ_EV_SYNC, c->epoch, 0,
                      "%s allowed a failover of %s that may lose acknowledged writes: the "
                      "synchronous rules no longer hold back the choice of a standby (epoch "
                      "%" PRIu64 ")",
                      y->by[0] != '\0' ? y->by : "an operator", c->primary, c->epoch);
        return 0;
    }
    if (cmd->node[0] != '\0') {
        n = cluster_node(c, cmd->node);
        if (n->replication_quorum != (y->replication_quorum == 1)) {
            n->replication_quorum = y->replication_quorum == 1;
            cluster_event(s, c->name, n->name, PGQ_EV_SYNC, c->epoch, 0,
                          "node %s %s be a synchronous standby (replication_quorum %s)", n->name,
                          n->replication_quorum ? "may" : "may no longer",
                          n->replication_quorum ? "true" : "false");
        }
        return 0;
    }
    if (y->mode != -1) {
        c->sync.mode = y->mode;
    }
    if (y->number != 0) {
        c->sync.number = y->number;
    }
    if (c->sync.number == 0) {
        c->sync.number = 1;
    }
    if (c->sync.mode != PGQ_SYNC_OFF) {
        snprintf(number, sizeof number, ", number_sync %u", c->sync.number);
    }
    cluster_event(s, c->name, "", PGQ_EV_SYNC, c->epoch, 0,
                  "synchronous replication of cluster %s: mode %s%s%s", c->name,
                  pgq_sync_mode_name(c->sync.mode), number,
                  c->sync.mode == PGQ_SYNC_OFF && c->sync.set.seq != 0
                      ? " (synchronous_standby_names is set empty once, then left alone)"
                      : "");
    return 0;
}

/* ---- sets ------------------------------------------------------------- */

static int check_sync_set(const struct state *s,
                          const struct command *cmd,
                          struct apply_result *res)
{
    const struct sync_set *set = &cmd->u.sync_set.set;
    const struct cluster *c = state_cluster(s, cmd->cluster);
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (set->epoch != c->epoch || c->primary[0] == '\0') {
        return cluster_fail(res, PGQ_STALE,
                            "synchronous set for epoch %" PRIu64 " is stale (epoch %" PRIu64 ")",
                            set->epoch, c->epoch);
    }
    if (set->method < 0 || set->method >= PGQ__N_SYNC_METHODS ||
        (set->method == PGQ_SYNC_NONE) != (set->k == 0) || set->k > PGQ_SYNC_MAX ||
        set->n_names > PGQ_SYNC_MAX || (set->method == PGQ_SYNC_NONE && set->n_names != 0) ||
        (set->method == PGQ_SYNC_ANY && (set->n_names < set->k))) {
        return cluster_fail(res, PGQ_INVALID, "synchronous set: bad method, number or names");
    }
    for (unsigned i = 0; i < set->n_names; i++) {
        if (!pgq_name_valid(set->names[i]) || sync_set_index(set, set->names[i]) != (int)i ||
            strcmp(set->names[i], c->primary) == 0) {
            return cluster_fail(res, PGQ_INVALID,
                                "synchronous set: \"%.63s\" is not a valid standby name, or "
                                "given twice",
                                set->names[i]);
        }
    }
    return 0;
}

int apply_sync_set(struct state *s, const struct command *cmd, struct apply_result *res)
{
    struct sync_set set = cmd->u.sync_set.set;
    struct cluster *c;
    struct cluster_sync *y;
    char text[PGQ_SYNC_SETTING_MAX];
    bool drop;
    int rv = check_sync_set(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    y = &c->sync;
    if (y->set.seq != 0 && y->set.epoch == set.epoch && sync_set_same(&y->set, &set)) {
        return 0; /* the same set again (a retried proposal): nothing changes */
    }
    /* The set of a candidate that was never promoted bound nothing: it never
     * acknowledged a write. Any other goes on binding until this one is in
     * force. */
    drop = y->set.seq == 0 ||
           (c->fo.unpromoted && y->set.epoch + 1 == set.epoch && set.epoch == c->epoch);
    if (!drop && y->n_retiring >= PGQ_SYNC_RETIRING_MAX) {
        return cluster_fail(res, PGQ_LIMIT,
                            "cluster %s has %d synchronous sets not yet confirmed in force",
                            c->name, PGQ_SYNC_RETIRING_MAX);
    }
    if (!drop) {
        if (y->retiring == NULL) {
            y->retiring = state_grow(NULL, PGQ_SYNC_RETIRING_MAX * sizeof *y->retiring);
        }
        y->retiring[y->n_retiring++] = y->set;
    }
    set.seq = s->seq + 1; /* the seq this command is applied as: unique */
    set.held_mask = 0;
    y->set = set;
    sync_set_text(&set, text, sizeof text);
    cluster_event(s, c->name, c->primary, PGQ_EV_SYNC, c->epoch, 0,
                  "synchronous set of %s: synchronous_standby_names = '%s'%s%s%s", c->primary, text,
                  cmd->u.sync_set.reason[0] != '\0' ? " (" : "", cmd->u.sync_set.reason,
                  cmd->u.sync_set.reason[0] != '\0' ? ")" : "");
    return 0;
}

/* ---- what observations tell ------------------------------------------- */

static void maybe_retire(struct state *s, struct cluster *c)
{
    struct cluster_sync *y = &c->sync;
    char text[PGQ_SYNC_SETTING_MAX], lsn[32];
    if (y->n_retiring == 0 || y->applied_seq != y->set.seq ||
        bits(y->set.held_mask) < sync_need_held(&y->set)) {
        return;
    }
    sync_set_text(&y->set, text, sizeof text);
    pgq_lsn_format(y->applied_lsn, lsn, sizeof lsn);
    cluster_event(s, c->name, c->primary, PGQ_EV_SYNC, c->epoch, 0,
                  "synchronous set '%s' in force: %s runs it and %u of its standbys hold its WAL "
                  "up to %s; the %u older set%s no longer bind%s a failover",
                  text, c->primary, bits(y->set.held_mask), lsn, y->n_retiring,
                  y->n_retiring == 1 ? "" : "s", y->n_retiring == 1 ? "s" : "");
    y->n_retiring = 0;
}

/* Whether o, of node n, shows the committed set running on the primary
 * (first time), or a standby of it holding the WAL up to where it did. */
static bool sync_advances(const struct cluster *c, const struct node *n, const struct obs *o)
{
    const struct cluster_sync *y = &c->sync;
    char text[PGQ_SYNC_SETTING_MAX];
    int i;
    if (y->set.seq == 0 || y->set.epoch != c->epoch) {
        return false;
    }
    if (strcmp(c->primary, n->name) == 0) {
        if (y->applied_seq == y->set.seq || !obs_writable(o) || o->basis_seq < y->set.seq) {
            return false;
        }
        sync_set_text(&y->set, text, sizeof text);
        return strcmp(o->sync_setting, text) == 0;
    }
    i = sync_set_index(&y->set, n->name);
    return i >= 0 && y->applied_seq == y->set.seq && y->n_retiring > 0 &&
           (y->set.held_mask & (1u << i)) == 0 && o->reachable && o->in_recovery &&
           n->role == PGQ_ROLE_STANDBY && n->following_epoch == c->epoch &&
           o->receive_lsn >= y->applied_lsn;
}

void sync_note_observation(struct state *s, struct cluster *c, struct node *n, const struct obs *o)
{
    struct cluster_sync *y = &c->sync;
    char lsn[32];
    if (strcmp(c->primary, n->name) == 0 && obs_writable(o)) {
        pgq_strlcpy(y->seen, o->sync_setting, sizeof y->seen);
    }
    if (!sync_advances(c, n, o)) {
        return;
    }
    if (strcmp(c->primary, n->name) == 0) {
        y->applied_seq = y->set.seq;
        y->applied_lsn = o->current_lsn;
        pgq_lsn_format(o->current_lsn, lsn, sizeof lsn);
        cluster_event(s, c->name, n->name, PGQ_EV_SYNC, c->epoch, 0,
                      "%s runs synchronous_standby_names = '%s' (at %s)%s", n->name,
                      o->sync_setting, lsn,
                      y->set.method == PGQ_SYNC_NONE && y->mode != PGQ_SYNC_OFF
                          ? ": writes are acknowledged without any synchronous standby"
                          : "");
    } else {
        y->set.held_mask |= 1u << sync_set_index(&y->set, n->name);
    }
    maybe_retire(s, c);
}

bool state_obs_sync_due(const struct state *s, const char *cluster, const struct obs *o)
{
    const struct cluster *c = state_cluster(s, cluster);
    const struct node *n = cluster_node(c, o->node);
    return n != NULL && sync_advances(c, n, o);
}

/* ---- the failover's hooks --------------------------------------------- */

void sync_on_decide(struct cluster *c, uint64_t old_epoch)
{
    /* An allowance holds through the chain of candidates that replace the
     * primary it was given for, until one is promoted. */
    if (c->sync.allow_loss_epoch != 0 && c->sync.allow_loss_epoch == old_epoch) {
        c->sync.allow_loss_epoch = c->epoch;
    }
}

void sync_on_promoted(struct cluster *c)
{
    if (c->sync.allow_loss_epoch == c->epoch) {
        c->sync.allow_loss_epoch = 0;
    }
}
