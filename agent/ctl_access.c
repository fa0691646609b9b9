/* pgquorumctl's access commands: role, grant, revoke, deny, whoami, token
 * hash, and events --who (see ctl_access.h). */
#include "ctl_access.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "token.h"

/* "bob" is "user:bob"; an identity name stays as it is. */
static int identity_arg(const char *arg, char *out, size_t size, char *err, size_t errsize)
{
    if (strchr(arg, ':') == NULL) {
        snprintf(out, size, "user:%s", arg);
    } else {
        pgq_strlcpy(out, arg, size);
    }
    if (!authz_name_valid(out)) {
        snprintf(err, errsize, "\"%s\" is not an identity (user:NAME or node:CLUSTER/NAME)", arg);
        return PGQ_INVALID;
    }
    return 0;
}

int access_parse(const char *const *words,
                 unsigned n,
                 struct api_request *req,
                 char *err,
                 size_t errsize)
{
    const char *cmd = words[0];
    memset(req, 0, sizeof *req);
    if (strcmp(cmd, "role") == 0) {
        int role = n == 3 ? authz_role_by_name(words[2]) : -1;
        if (n != 3 || role < 0) {
            snprintf(err, errsize, "usage: role NAME viewer|operator|admin|none");
            return PGQ_INVALID;
        }
        req->kind = API_ROLE;
        command_init(&req->cmd, CMD_ACCESS_ROLE);
        req->cmd.u.access_role.role = role;
        return identity_arg(words[1], req->cmd.u.access_role.name,
                            sizeof req->cmd.u.access_role.name, err, errsize);
    }
    /* grant ACTION to NAME [on cluster C]; revoke ACTION from NAME ...;
     * deny ACTION to NAME ... */
    {
        bool revoke = strcmp(cmd, "revoke") == 0;
        const char *prep = revoke ? "from" : "to";
        int action = n >= 2 ? authz_action_by_name(words[1]) : AUTHZ_NONE;
        if ((n != 4 && n != 7) || strcmp(words[2], prep) != 0 ||
            (n == 7 && (strcmp(words[4], "on") != 0 || strcmp(words[5], "cluster") != 0))) {
            snprintf(err, errsize, "usage: %s ACTION %s NAME [on cluster CLUSTER]", cmd, prep);
            return PGQ_INVALID;
        }
        if (!authz_action_grantable(action)) {
            snprintf(err, errsize,
                     "\"%s\" is not an action (status, events, whoami, node-add, node-remove, "
                     "maintenance, switchover, pause, sync, allow-unfenced, allow-data-loss, "
                     "role, grant, failpoint, cluster-remove)",
                     words[1]);
            return PGQ_INVALID;
        }
        req->kind = API_GRANT;
        command_init(&req->cmd, CMD_GRANT);
        req->cmd.u.grant.action = action;
        req->cmd.u.grant.revoke = revoke;
        req->cmd.u.grant.deny = strcmp(cmd, "deny") == 0;
        if (n == 7) {
            if (!pgq_name_valid(words[6])) {
                snprintf(err, errsize, "\"%s\" is not a valid cluster name", words[6]);
                return PGQ_INVALID;
            }
            pgq_strlcpy(req->cmd.cluster, words[6], sizeof req->cmd.cluster);
        }
        return identity_arg(words[3], req->cmd.u.grant.name, sizeof req->cmd.u.grant.name, err,
                            errsize);
    }
}

void access_say_done(const struct api_request *req, const char *message)
{
    const struct command *cmd = &req->cmd;
    const char *on = cmd->cluster[0] != '\0' ? " on cluster " : "";
    if (req->kind == API_ROLE) {
        printf("role of %s: %s: %s\n", cmd->u.access_role.name,
               authz_role_name(cmd->u.access_role.role), message);
    } else if (req->kind == API_GRANT) {
        printf("%s %s %s %s%s%s: %s\n",
               cmd->u.grant.revoke ? "revoked"
               : cmd->u.grant.deny ? "denied"
                                   : "granted",
               authz_action_name(cmd->u.grant.action), cmd->u.grant.revoke ? "from" : "to",
               cmd->u.grant.name, on, cmd->cluster, message);
    }
}

int access_print_whoami(FILE *out, const struct whoami_reply *w, bool json)
{
    if (json) {
        json_t *doc = json_object(), *grants = json_array();
        char *text;
        for (unsigned i = 0; i < w->n_grants; i++) {
            json_array_append_new(
                grants,
                json_pack("{s:s, s:s, s:b}", "action", authz_action_name(w->grants[i].action),
                          "cluster", w->grants[i].cluster, "deny", w->grants[i].deny));
        }
        json_object_set_new(doc, "name", json_string(w->name));
        json_object_set_new(doc, "ip", json_string(w->ip));
        json_object_set_new(doc, "role", json_string(authz_role_name(w->role)));
        json_object_set_new(doc, "static_admin", json_boolean(w->static_admin));
        json_object_set_new(doc, "authentication", json_boolean(w->auth));
        json_object_set_new(doc, "grants", grants);
        text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(doc);
        if (text == NULL) {
            return PGQ_NOMEM;
        }
        fprintf(out, "%s\n", text);
        free(text);
        return 0;
    }
    fprintf(out, "identity: %s\n", w->name);
    fprintf(out, "from:     %s\n", w->ip[0] != '\0' ? w->ip : "(unknown)");
    fprintf(out, "role:     %s%s\n", authz_role_name(w->role),
            w->static_admin ? " (static admin: [auth] admins)" : "");
    for (unsigned i = 0; i < w->n_grants; i++) {
        fprintf(out, "%-9s %s%s%s\n",
                w->grants[i].deny ? "denied:" : "granted:", authz_action_name(w->grants[i].action),
                w->grants[i].cluster[0] != '\0' ? " on cluster " : "", w->grants[i].cluster);
    }
    if (!w->auth) {
        fprintf(out, "authentication is off on that monitor: anyone may do anything\n");
    }
    return 0;
}

int access_token_hash(FILE *in, FILE *out, char *err, size_t errsize)
{
    char token[PGQ_TOKEN_MAX], hash[80];
    int rv = token_read_stream(in, token, sizeof token, err, errsize);
    if (rv != 0) {
        return rv;
    }
    rv = token_hash_text(token, hash, sizeof hash);
    token_wipe(token, sizeof token);
    if (rv != 0) {
        snprintf(err, errsize, "cannot hash the token");
        return rv;
    }
    fprintf(out, "%s\n", hash);
    return 0;
}

static bool asked_by(const struct event *e, void *arg)
{
    return strcmp(e->who, arg) == 0;
}

void access_filter_events(struct state *s, const char *who)
{
    char name[PGQ_IDENTITY_MAX];
    if (strchr(who, ':') == NULL && strcmp(who, "anonymous") != 0) {
        snprintf(name, sizeof name, "user:%s", who);
    } else {
        pgq_strlcpy(name, who, sizeof name);
    }
    /* A reply's events are all in the state's own ring. */
    event_ring_filter(&s->events, asked_by, name);
    state_events_reindex(s);
}
