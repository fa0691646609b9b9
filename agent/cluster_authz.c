/* Inside the state machine: roles, grants and audit records (feature level
 * 5; see cluster.h and authz.h). Roles and grants are kept sorted by name
 * (then action and cluster) so that every monitor's snapshot of the same
 * log is the same bytes. Who may send these commands is the API's
 * concern (authz_check before the proposal); here only the commands'
 * own rules are checked, the same on every monitor. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "cluster_internal.h"

/* Apply must not diverge: out of memory is fatal (see cluster.c). */
static void *grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, (n == 0 ? 1 : n) * size);
    if (q == NULL) {
        abort();
    }
    return q;
}

static int grant_cmp(const struct access_grant *g, const char *name, int action, const char *cl)
{
    int c = strcmp(g->name, name);
    if (c != 0) {
        return c;
    }
    if (g->action != action) {
        return g->action < action ? -1 : 1;
    }
    return strcmp(g->cluster, cl);
}

int check_access_role(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_access_role *r = &cmd->u.access_role;
    unsigned i;
    if (!authz_name_valid(r->name)) {
        return cluster_fail(res, PGQ_INVALID,
                            "\"%.80s\" is not an identity (user:NAME or node:CLUSTER/NAME)",
                            r->name);
    }
    if (authz_role_name(r->role) == NULL) {
        return cluster_fail(res, PGQ_INVALID, "role %d does not exist", r->role);
    }
    /* Nobody raises (or drops) their own role: another admin does. */
    if (cmd->who[0] != '\0' && strcmp(cmd->who, r->name) == 0) {
        return cluster_fail(res, PGQ_REFUSED, "%s may not change its own role", r->name);
    }
    for (i = 0; i < s->n_roles && strcmp(s->roles[i].name, r->name) != 0; i++) {
    }
    if (i == s->n_roles && r->role != AUTHZ_ROLE_NONE && s->n_roles >= PGQ_ROLES_MAX) {
        return cluster_fail(res, PGQ_LIMIT, "%d identities hold a role already", PGQ_ROLES_MAX);
    }
    return 0;
}

int apply_access_role(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_access_role *r = &cmd->u.access_role;
    int rv = check_access_role(s, cmd, res);
    unsigned i;
    int old = AUTHZ_ROLE_NONE;
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < s->n_roles && strcmp(s->roles[i].name, r->name) < 0; i++) {
    }
    if (i < s->n_roles && strcmp(s->roles[i].name, r->name) == 0) {
        old = s->roles[i].role;
        if (r->role == AUTHZ_ROLE_NONE) {
            memmove(&s->roles[i], &s->roles[i + 1], (s->n_roles - i - 1) * sizeof *s->roles);
            s->n_roles--;
        } else {
            s->roles[i].role = r->role;
        }
    } else if (r->role != AUTHZ_ROLE_NONE) {
        s->roles = grow(s->roles, s->n_roles + 1, sizeof *s->roles);
        memmove(&s->roles[i + 1], &s->roles[i], (s->n_roles - i) * sizeof *s->roles);
        memset(&s->roles[i], 0, sizeof s->roles[i]);
        pgq_strlcpy(s->roles[i].name, r->name, sizeof s->roles[i].name);
        s->roles[i].role = r->role;
        s->n_roles++;
    }
    cluster_event(s, "", "", PGQ_EV_AUDIT, 0, 0, "role of %s: %s (was %s)", r->name,
                  authz_role_name(r->role), authz_role_name(old));
    return 0;
}

/* Where (name, action, cluster) is or would go in s->grants. */
static unsigned grant_find(const struct state *s, const char *name, int action, const char *cl)
{
    unsigned i;
    for (i = 0; i < s->n_grants && grant_cmp(&s->grants[i], name, action, cl) < 0; i++) {
    }
    return i;
}

int check_grant(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_grant *g = &cmd->u.grant;
    if (!authz_name_valid(g->name)) {
        return cluster_fail(res, PGQ_INVALID,
                            "\"%.80s\" is not an identity (user:NAME or node:CLUSTER/NAME)",
                            g->name);
    }
    if (!authz_action_grantable(g->action)) {
        return cluster_fail(res, PGQ_INVALID, "action %d cannot be granted or denied", g->action);
    }
    /* A holder of `grant` on a cluster may not grant itself more there, nor
     * revoke a deny an admin placed on it. */
    if (cmd->who[0] != '\0' && strcmp(cmd->who, g->name) == 0) {
        return cluster_fail(res, PGQ_REFUSED, "%s may not change its own grants and denies",
                            g->name);
    }
    if (cmd->cluster[0] != '\0' && !pgq_name_valid(cmd->cluster)) {
        return cluster_fail(res, PGQ_INVALID, "\"%.64s\" is not a cluster name", cmd->cluster);
    }
    if (g->revoke) {
        unsigned i = grant_find(s, g->name, g->action, cmd->cluster);
        if (i == s->n_grants || grant_cmp(&s->grants[i], g->name, g->action, cmd->cluster) != 0) {
            return cluster_fail(res, PGQ_NOTFOUND, "%s holds no grant or deny of %s%s%s", g->name,
                                authz_action_name(g->action),
                                cmd->cluster[0] != '\0' ? " on cluster " : "", cmd->cluster);
        }
    } else if (s->n_grants >= PGQ_GRANTS_MAX) {
        return cluster_fail(res, PGQ_LIMIT, "%d grants and denies exist already", PGQ_GRANTS_MAX);
    }
    return 0;
}

int apply_grant(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_grant *g = &cmd->u.grant;
    const char *what = authz_action_name(g->action);
    const char *on = cmd->cluster[0] != '\0' ? " on cluster " : "";
    int rv = check_grant(s, cmd, res);
    unsigned i;
    bool found;
    if (rv != 0) {
        return rv;
    }
    i = grant_find(s, g->name, g->action, cmd->cluster);
    found = i < s->n_grants && grant_cmp(&s->grants[i], g->name, g->action, cmd->cluster) == 0;
    if (g->revoke) {
        assert(found); /* check_grant refused it otherwise */
        cluster_event(s, cmd->cluster, "", PGQ_EV_AUDIT, 0, 0, "%s of %s to %s%s%s revoked",
                      s->grants[i].deny ? "deny" : "grant", what, g->name, on, cmd->cluster);
        memmove(&s->grants[i], &s->grants[i + 1], (s->n_grants - i - 1) * sizeof *s->grants);
        s->n_grants--;
        return 0;
    }
    if (!found) {
        s->grants = grow(s->grants, s->n_grants + 1, sizeof *s->grants);
        memmove(&s->grants[i + 1], &s->grants[i], (s->n_grants - i) * sizeof *s->grants);
        memset(&s->grants[i], 0, sizeof s->grants[i]);
        pgq_strlcpy(s->grants[i].name, g->name, sizeof s->grants[i].name);
        s->grants[i].action = g->action;
        pgq_strlcpy(s->grants[i].cluster, cmd->cluster, sizeof s->grants[i].cluster);
        s->n_grants++;
    }
    /* One entry per (identity, action, cluster): a deny replaces a grant
     * of the same and the other way round. */
    s->grants[i].deny = g->deny;
    cluster_event(s, cmd->cluster, "", PGQ_EV_AUDIT, 0, 0, "%s %s to %s%s%s",
                  g->deny ? "denied" : "granted", what, g->name, on, cmd->cluster);
    return 0;
}

int apply_audit(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_audit *a = &cmd->u.audit;
    const char *what = authz_action_name(a->action);
    if (what == NULL || cmd->who[0] == '\0' || a->outcome[0] == '\0') {
        return cluster_fail(res, PGQ_INVALID, "an audit record names who, what and the outcome");
    }
    if (a->more > 0) {
        cluster_event(s, cmd->cluster, cmd->node, PGQ_EV_AUDIT, 0, 0,
                      "%s by %s %s (and %u more refusals like it)", what, cmd->who, a->outcome,
                      a->more);
    } else {
        cluster_event(s, cmd->cluster, cmd->node, PGQ_EV_AUDIT, 0, 0, "%s by %s %s", what, cmd->who,
                      a->outcome);
    }
    return 0;
}

void cluster_stamp_events(struct state *s, const struct command *cmd, uint64_t first_seq)
{
    int action = authz_action_of_command(cmd);
    const char *outcome = cmd->kind == CMD_AUDIT ? cmd->u.audit.outcome
                          : cmd->kind == CMD_MEMBER && cmd->u.member.step == PGQ_MEMBER_FAILED
                              ? "failed"
                              : "ok";
    if (cmd->who[0] == '\0' || s->n_events == 0) {
        return;
    }
    /* The events this command appended are the last ones of the ring. */
    for (unsigned i = s->n_events; i > 0; i--) {
        struct event *e = &s->events[(s->events_head + i - 1) % PGQ_MAX_EVENTS];
        if (e->seq < first_seq) {
            break;
        }
        pgq_strlcpy(e->who, cmd->who, sizeof e->who);
        pgq_strlcpy(e->from, cmd->from, sizeof e->from);
        pgq_strlcpy(e->outcome, outcome, sizeof e->outcome);
        e->action = action;
    }
}
