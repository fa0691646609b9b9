/* Codec of authorization (feature level 5; see codec.h): the SetAccessRole,
 * SetGrant and Audit commands (also API requests), who asked for a
 * command, the roles and grants of the state, and the whoami reply. Every
 * optional field is written only when set, so that decoding then encoding
 * gives back the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "codec_internal.h"
#include "lib/util.h"

static Pgq__SetAccessRole *access_role_to_pb(const struct command *cmd, struct scratch *sc)
{
    Pgq__SetAccessRole *b = codec_scratch_alloc(sc, sizeof *b);
    if (b != NULL) {
        pgq__set_access_role__init(b);
        b->name = S(cmd->u.access_role.name);
        b->role = (uint32_t)cmd->u.access_role.role;
    }
    return b;
}

static Pgq__SetGrant *grant_to_pb(const struct command *cmd, struct scratch *sc)
{
    const struct cmd_grant *g = &cmd->u.grant;
    Pgq__SetGrant *b = codec_scratch_alloc(sc, sizeof *b);
    if (b != NULL) {
        pgq__set_grant__init(b);
        b->name = S(g->name);
        b->action = (uint32_t)g->action;
        b->cluster = cmd->cluster[0] != '\0' ? S(cmd->cluster) : NULL;
        b->has_deny = g->deny, b->deny = g->deny;
        b->has_revoke = g->revoke, b->revoke = g->revoke;
    }
    return b;
}

static Pgq__Audit *audit_to_pb(const struct command *cmd, struct scratch *sc)
{
    const struct cmd_audit *a = &cmd->u.audit;
    Pgq__Audit *b = codec_scratch_alloc(sc, sizeof *b);
    if (b != NULL) {
        pgq__audit__init(b);
        b->who = S(cmd->who);
        b->from = cmd->from[0] != '\0' ? S(cmd->from) : NULL;
        b->action = (uint32_t)a->action;
        b->cluster = cmd->cluster[0] != '\0' ? S(cmd->cluster) : NULL;
        b->node = cmd->node[0] != '\0' ? S(cmd->node) : NULL;
        b->outcome = S(a->outcome);
        b->has_more = a->more != 0, b->more = a->more;
        b->has_monitor_id = a->monitor_id != 0, b->monitor_id = a->monitor_id;
    }
    return b;
}

int codec_authz_command_to_pb(const struct command *cmd, Pgq__Command *m, struct scratch *sc)
{
    switch (cmd->kind) {
        case CMD_ACCESS_ROLE:
            m->access_role = access_role_to_pb(cmd, sc);
            m->body_case = PGQ__COMMAND__BODY_ACCESS_ROLE;
            return m->access_role != NULL ? 0 : PGQ_NOMEM;
        case CMD_GRANT:
            m->grant = grant_to_pb(cmd, sc);
            m->body_case = PGQ__COMMAND__BODY_GRANT;
            return m->grant != NULL ? 0 : PGQ_NOMEM;
        case CMD_AUDIT:
            m->audit = audit_to_pb(cmd, sc);
            m->body_case = PGQ__COMMAND__BODY_AUDIT;
            return m->audit != NULL ? 0 : PGQ_NOMEM;
        default:
            return PGQ_UNKNOWN;
    }
}

void codec_who_to_pb(const struct command *cmd, Pgq__Command *m)
{
    /* An audit's who is its own field. */
    if (cmd->kind != CMD_AUDIT) {
        m->who = cmd->who[0] != '\0' ? S(cmd->who) : NULL;
        m->from = cmd->from[0] != '\0' ? S(cmd->from) : NULL;
    }
}

void codec_who_from_pb(struct dec *d, const Pgq__Command *m, struct command *cmd)
{
    if (cmd->kind != CMD_AUDIT) {
        codec_copy_str(d, cmd->who, sizeof cmd->who, m->who, "command.who");
        codec_copy_str(d, cmd->from, sizeof cmd->from, m->from, "command.from");
    } else if (m->who != NULL || m->from != NULL) {
        codec_dec_fail(d, PGQ_MALFORMED, "an audit's who is in the audit");
    }
}

void codec_access_role_from_pb(struct dec *d, const Pgq__SetAccessRole *b, struct command *cmd)
{
    codec_copy_str(d, cmd->u.access_role.name, sizeof cmd->u.access_role.name, b->name,
                   "access_role.name");
    cmd->u.access_role.role = (int)b->role;
    if (b->role >= AUTHZ__N_ROLES) {
        codec_dec_fail(d, PGQ_MALFORMED, "access_role.role %u out of range", b->role);
    }
}

void codec_grant_from_pb(struct dec *d, const Pgq__SetGrant *b, struct command *cmd)
{
    struct cmd_grant *g = &cmd->u.grant;
    codec_copy_str(d, g->name, sizeof g->name, b->name, "grant.name");
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "grant.cluster");
    g->action = (int)b->action;
    g->deny = b->has_deny && b->deny;
    g->revoke = b->has_revoke && b->revoke;
    if (b->action >= AUTHZ__N_ACTIONS) {
        codec_dec_fail(d, PGQ_MALFORMED, "grant.action %u out of range", b->action);
    }
}

void codec_audit_from_pb(struct dec *d, const Pgq__Audit *b, struct command *cmd)
{
    struct cmd_audit *a = &cmd->u.audit;
    codec_copy_str(d, cmd->who, sizeof cmd->who, b->who, "audit.who");
    codec_copy_str(d, cmd->from, sizeof cmd->from, b->from, "audit.from");
    codec_copy_str(d, cmd->cluster, sizeof cmd->cluster, b->cluster, "audit.cluster");
    codec_copy_str(d, cmd->node, sizeof cmd->node, b->node, "audit.node");
    codec_copy_str(d, a->outcome, sizeof a->outcome, b->outcome, "audit.outcome");
    a->action = (int)b->action;
    a->more = b->more;
    a->monitor_id = b->monitor_id;
    if (b->action >= AUTHZ__N_ACTIONS) {
        codec_dec_fail(d, PGQ_MALFORMED, "audit.action %u out of range", b->action);
    }
}

/* ---- the state's roles and grants ----------------------------------------- */

static Pgq__AccessGrant *access_grant_to_pb(const struct access_grant *g, struct scratch *sc)
{
    Pgq__AccessGrant *b = codec_scratch_alloc(sc, sizeof *b);
    if (b != NULL) {
        pgq__access_grant__init(b);
        b->name = S(g->name);
        b->action = (uint32_t)g->action;
        b->cluster = g->cluster[0] != '\0' ? S(g->cluster) : NULL;
        b->has_deny = g->deny, b->deny = g->deny;
    }
    return b;
}

static void access_grant_from_pb(struct dec *d, const Pgq__AccessGrant *b, struct access_grant *g)
{
    codec_copy_str(d, g->name, sizeof g->name, b->name, "grant.name");
    codec_copy_str(d, g->cluster, sizeof g->cluster, b->cluster, "grant.cluster");
    g->action = (int)b->action;
    g->deny = b->has_deny && b->deny;
    if (b->action >= AUTHZ__N_ACTIONS) {
        codec_dec_fail(d, PGQ_MALFORMED, "grant.action %u out of range", b->action);
    }
}

int codec_access_to_pb(const struct state *s, Pgq__State *m, struct scratch *sc)
{
    if (s->n_roles > 0) {
        m->roles = codec_scratch_alloc(sc, s->n_roles * sizeof *m->roles);
        if (m->roles == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < s->n_roles; i++) {
            m->roles[i] = codec_scratch_alloc(sc, sizeof *m->roles[i]);
            if (m->roles[i] == NULL) {
                return PGQ_NOMEM;
            }
            pgq__access_role__init(m->roles[i]);
            m->roles[i]->name = S(s->roles[i].name);
            m->roles[i]->role = (uint32_t)s->roles[i].role;
        }
        m->n_roles = s->n_roles;
    }
    if (s->n_grants > 0) {
        m->grants = codec_scratch_alloc(sc, s->n_grants * sizeof *m->grants);
        if (m->grants == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < s->n_grants; i++) {
            m->grants[i] = access_grant_to_pb(&s->grants[i], sc);
            if (m->grants[i] == NULL) {
                return PGQ_NOMEM;
            }
        }
        m->n_grants = s->n_grants;
    }
    return 0;
}

void codec_access_from_pb(struct dec *d, const Pgq__State *m, struct state *s)
{
    codec_check_count(d, m->n_roles, PGQ_ROLES_MAX, "state.roles");
    codec_check_count(d, m->n_grants, PGQ_GRANTS_MAX, "state.grants");
    if (d->rv != 0) {
        return;
    }
    if (m->n_roles > 0) {
        s->roles = calloc(m->n_roles, sizeof *s->roles);
        if (s->roles == NULL) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
        for (size_t i = 0; i < m->n_roles; i++) {
            codec_copy_str(d, s->roles[i].name, sizeof s->roles[i].name, m->roles[i]->name,
                           "role.name");
            s->roles[i].role = (int)m->roles[i]->role;
            if (m->roles[i]->role >= AUTHZ__N_ROLES) {
                codec_dec_fail(d, PGQ_MALFORMED, "role.role %u out of range", m->roles[i]->role);
            }
        }
        s->n_roles = (unsigned)m->n_roles;
    }
    if (m->n_grants > 0) {
        s->grants = calloc(m->n_grants, sizeof *s->grants);
        if (s->grants == NULL) {
            codec_dec_fail(d, PGQ_NOMEM, "out of memory");
            return;
        }
        for (size_t i = 0; i < m->n_grants; i++) {
            access_grant_from_pb(d, m->grants[i], &s->grants[i]);
        }
        s->n_grants = (unsigned)m->n_grants;
    }
}

/* ---- events' who, from, outcome ---------------------------------------------- */

void codec_event_who_to_pb(const struct event *e, Pgq__Event *m)
{
    m->who = e->who[0] != '\0' ? S(e->who) : NULL;
    m->from = e->from[0] != '\0' ? S(e->from) : NULL;
    m->outcome = e->outcome[0] != '\0' ? S(e->outcome) : NULL;
    m->has_action = e->action != 0, m->action = (uint32_t)e->action;
}

/* ---- whoami ------------------------------------------------------------- */

int codec_whoami_to_pb(const struct whoami_reply *w, Pgq__WhoamiReply *m, struct scratch *sc)
{
    pgq__whoami_reply__init(m);
    m->name = S(w->name);
    m->ip = w->ip[0] != '\0' ? S(w->ip) : NULL;
    m->role = (uint32_t)w->role;
    m->has_static_admin = w->static_admin, m->static_admin = w->static_admin;
    m->has_auth = true, m->auth = w->auth;
    if (w->n_grants > 0) {
        m->grants = codec_scratch_alloc(sc, w->n_grants * sizeof *m->grants);
        if (m->grants == NULL) {
            return PGQ_NOMEM;
        }
        for (unsigned i = 0; i < w->n_grants; i++) {
            m->grants[i] = access_grant_to_pb(&w->grants[i], sc);
            if (m->grants[i] == NULL) {
                return PGQ_NOMEM;
            }
        }
        m->n_grants = w->n_grants;
    }
    return 0;
}

void codec_whoami_from_pb(struct dec *d, const Pgq__WhoamiReply *m, struct whoami_reply *w)
{
    codec_copy_str(d, w->name, sizeof w->name, m->name, "whoami.name");
    codec_copy_str(d, w->ip, sizeof w->ip, m->ip, "whoami.ip");
    w->role = (int)m->role;
    w->static_admin = m->static_admin;
    w->auth = m->auth;
    codec_check_count(d, m->n_grants, WHOAMI_GRANTS_MAX, "whoami.grants");
    for (size_t i = 0; d->rv == 0 && i < m->n_grants; i++) {
        access_grant_from_pb(d, m->grants[i], &w->grants[i]);
        w->n_grants = (unsigned)i + 1;
    }
}
