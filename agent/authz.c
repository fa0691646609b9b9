/* authz: identities, roles, grants and the permission check (see authz.h).
 * Pure: no clock (time comes in), no I/O, no hashing. */
#include "authz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* One row per action: its name (the CLI's and the audit's word) and the
 * least role that holds it. Report, heartbeat and audit belong to no role:
 * only monitors and node agents send them, checked by what they are. */
struct action_row
{
    int action;
    const char *name;
    int role; /* AUTHZ_ROLE_NONE: no role holds it */
    bool grantable;
};

static const struct action_row actions[] = {
    {AUTHZ_NONE, "none", AUTHZ_ROLE_NONE, false},
    {AUTHZ_STATUS, "status", AUTHZ_ROLE_VIEWER, true},
    {AUTHZ_EVENTS, "events", AUTHZ_ROLE_VIEWER, true},
    {AUTHZ_WHOAMI, "whoami", AUTHZ_ROLE_VIEWER, true},
    {AUTHZ_NODE_ADD, "node-add", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_NODE_REMOVE, "node-remove", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_MAINTENANCE, "maintenance", AUTHZ_ROLE_OPERATOR, true},
    {AUTHZ_SWITCHOVER, "switchover", AUTHZ_ROLE_OPERATOR, true},
    {AUTHZ_PAUSE, "pause", AUTHZ_ROLE_OPERATOR, true},
    {AUTHZ_SYNC, "sync", AUTHZ_ROLE_OPERATOR, true},
    {AUTHZ_ALLOW_UNFENCED, "allow-unfenced", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_ALLOW_DATA_LOSS, "allow-data-loss", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_ROLE, "role", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_GRANT, "grant", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_FAILPOINT, "failpoint", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_REPORT, "report", AUTHZ_ROLE_NONE, false},
    {AUTHZ_HEARTBEAT, "heartbeat", AUTHZ_ROLE_NONE, false},
    {AUTHZ_AUDIT, "audit", AUTHZ_ROLE_NONE, false},
    {AUTHZ_CLUSTER_REMOVE, "cluster-remove", AUTHZ_ROLE_ADMIN, true},
    {AUTHZ_MONITOR_CHANGE, "monitor-change", AUTHZ_ROLE_ADMIN, true},
};
_Static_assert(PGQ_ARRAY_SIZE(actions) == AUTHZ__N_ACTIONS, "one row per action");

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};
_Static_assert(PGQ_ARRAY_SIZE(role_names) == AUTHZ__N_ROLES, "one name per role");

const char *authz_action_name(int action)
{
    return action >= 0 && action < AUTHZ__N_ACTIONS ? actions[action].name : NULL;
}

int authz_action_by_name(const char *name)
{
    for (int i = 1; i < AUTHZ__N_ACTIONS; i++) {
        if (strcmp(actions[i].name, name) == 0) {
            return i;
        }
    }
    return AUTHZ_NONE;
}

bool authz_action_grantable(int action)
{
    return action > 0 && action < AUTHZ__N_ACTIONS && actions[action].grantable;
}

const char *authz_role_name(int role)
{
    return role >= 0 && role < AUTHZ__N_ROLES ? role_names[role] : NULL;
}

int authz_role_by_name(const char *name)
{
    for (int i = 0; i < AUTHZ__N_ROLES; i++) {
        if (strcmp(role_names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

int authz_action_of_command(const struct command *cmd)
{
    switch (cmd->kind) {
        case CMD_NODE_ADD:
            return AUTHZ_NODE_ADD;
        case CMD_NODE_REMOVE:
            return AUTHZ_NODE_REMOVE;
        case CMD_CLUSTER_REMOVE:
            return AUTHZ_CLUSTER_REMOVE;
        case CMD_MAINTENANCE:
            return AUTHZ_MAINTENANCE;
        case CMD_SWITCHOVER:
            return cmd->u.switchover.begin ? AUTHZ_NONE : AUTHZ_SWITCHOVER;
        case CMD_PAUSE:
            return AUTHZ_PAUSE;
        case CMD_SYNC_CONFIG:
            return cmd->u.sync_config.allow_data_loss ? AUTHZ_ALLOW_DATA_LOSS : AUTHZ_SYNC;
        case CMD_ALLOW_UNFENCED:
            return AUTHZ_ALLOW_UNFENCED;
        case CMD_ACCESS_ROLE:
            return AUTHZ_ROLE;
        case CMD_GRANT:
            return AUTHZ_GRANT;
        case CMD_REPORT:
            return AUTHZ_REPORT;
        case CMD_AGENT:
            return AUTHZ_HEARTBEAT;
        case CMD_AUDIT:
            return cmd->u.audit.action;
        case CMD_BATCH: /* of one kind: its first command's */
            return cmd->u.batch.n > 0 ? authz_action_of_command(&cmd->u.batch.cmds[0]) : AUTHZ_NONE;
        case CMD_MEMBER:
            return AUTHZ_MONITOR_CHANGE;
        default:
            return AUTHZ_NONE;
    }
}

static bool user_char(int c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '@' || c == '-';
}

int authz_identity_of_name(const char *name, struct peer_id *id)
{
    const char *slash;
    char tmp[PGQ_IDENTITY_MAX];
    size_t n;
    if (strlen(name) >= sizeof id->name) {
        return PGQ_INVALID;
    }
    if (strncmp(name, "user:", 5) == 0) {
        n = strlen(name + 5);
        if (n == 0 || n >= PGQ_NAME_MAX) {
            return PGQ_INVALID;
        }
        for (size_t i = 0; i < n; i++) {
            if (!user_char((unsigned char)name[5 + i])) {
                return PGQ_INVALID;
            }
        }
        id->kind = PEER_USER;
    } else if (strncmp(name, "node:", 5) == 0) {
        slash = strchr(name + 5, '/');
        if (slash == NULL || (size_t)(slash - (name + 5)) >= PGQ_NAME_MAX) {
            return PGQ_INVALID;
        }
        memcpy(tmp, name + 5, (size_t)(slash - (name + 5)));
        tmp[slash - (name + 5)] = '\0';
        if (!pgq_name_valid(tmp) || !pgq_name_valid(slash + 1)) {
            return PGQ_INVALID;
        }
        id->kind = PEER_NODE;
        pgq_strlcpy(id->cluster, tmp, sizeof id->cluster);
        pgq_strlcpy(id->node, slash + 1, sizeof id->node);
    } else if (strncmp(name, "monitor:", 8) == 0) {
        char *end;
        unsigned long long v;
        if (!isdigit((unsigned char)name[8])) {
            return PGQ_INVALID;
        }
        v = strtoull(name + 8, &end, 10);
        if (*end != '\0' || v == 0 || v > PGQ_MONITOR_ID_MAX) {
            return PGQ_INVALID;
        }
        id->kind = PEER_MONITOR;
        id->monitor_id = v;
    } else {
        return PGQ_INVALID;
    }
    pgq_strlcpy(id->name, name, sizeof id->name);
    return 0;
}

bool authz_name_valid(const char *name)
{
    struct peer_id id;
    memset(&id, 0, sizeof id);
    return authz_identity_of_name(name, &id) == 0 && id.kind != PEER_MONITOR;
}

/* ---- configuration -------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The next comma-separated item of *p, trimmed, into buf; false at the end. */
static bool next_item(const char **p, char *buf, size_t size, bool *too_long)
{
    const char *s = *p, *e;
    size_t n;
    while (*s == ' ' || *s == '\t' || *s == ',') {
        s++;
    }
    if (*s == '\0') {
        return false;
    }
    e = s + strcspn(s, ",");
    *p = e;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    n = (size_t)(e - s);
    *too_long = n >= size;
    n = n >= size ? size - 1 : n;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* "NAME:sha256:HEX" into t; the name alone in errors, never the digest. */
static int parse_token(const char *item, struct authz_token *t, char *errmsg, size_t errsize)
{
    const char *mark = strstr(item, ":sha256:");
    const char *hex;
    char name[PGQ_IDENTITY_MAX];
    size_t n;
    struct peer_id id;
    if (mark == NULL) {
        snprintf(errmsg, errsize, "a token is NAME:sha256:HEX (pgquorumctl token hash)");
        return PGQ_CONFIG;
    }
    n = (size_t)(mark - item);
    if (n == 0 || n + 5 >= sizeof name) {
        snprintf(errmsg, errsize, "a token's name is 1-%zu bytes", sizeof name - 6);
        return PGQ_CONFIG;
    }
    if (memchr(item, ':', n) == NULL) {
        memcpy(name, "user:", 5);
        memcpy(name + 5, item, n);
        name[n + 5] = '\0';
    } else {
        memcpy(name, item, n);
        name[n] = '\0';
    }
    memset(&id, 0, sizeof id);
    if (authz_identity_of_name(name, &id) != 0 || id.kind == PEER_MONITOR) {
        snprintf(errmsg, errsize,
                 "token of %.80s: not an identity (user:NAME or node:CLUSTER/NAME)", name);
        return PGQ_CONFIG;
    }
    hex = mark + 8;
    if (strlen(hex) != 2 * AUTHZ_DIGEST_LEN) {
        snprintf(errmsg, errsize, "token of %.80s: the digest is %d hex digits", name,
                 2 * AUTHZ_DIGEST_LEN);
        return PGQ_CONFIG;
    }
    for (int i = 0; i < AUTHZ_DIGEST_LEN; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(errmsg, errsize, "token of %.80s: the digest is not hexadecimal", name);
            return PGQ_CONFIG;
        }
        t->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    pgq_strlcpy(t->name, name, sizeof t->name);
    return 0;
}

int authz_config_parse(struct authz_config *ac,
                       const char *tokens,
                       const char *admins,
                       char *errmsg,
                       size_t errsize)
{
    char item[PGQ_IDENTITY_MAX + 80];
    const char *p = tokens != NULL ? tokens : "";
    bool too_long;
    ac->n_tokens = 0;
    ac->n_admins = 0;
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (too_long) {
            snprintf(errmsg, errsize, "tokens: an entry is longer than %zu bytes", sizeof item - 1);
            return PGQ_CONFIG;
        }
        if (ac->n_tokens == AUTHZ_TOKENS_MAX) {
            snprintf(errmsg, errsize, "tokens: more than %d", AUTHZ_TOKENS_MAX);
            return PGQ_CONFIG;
        }
        if (parse_token(item, &ac->tokens[ac->n_tokens], errmsg, errsize) != 0) {
            return PGQ_CONFIG;
        }
        ac->n_tokens++;
    }
    p = admins != NULL ? admins : "";
    while (next_item(&p, item, sizeof item, &too_long)) {
        if (too_long || !authz_name_valid(item)) {
            snprintf(errmsg, errsize, "admins: \"%.80s\" is not an identity (user:NAME)", item);
            return PGQ_CONFIG;
        }
        if (ac->n_admins == AUTHZ_ADMINS_MAX) {
            snprintf(errmsg, errsize, "admins: more than %d", AUTHZ_ADMINS_MAX);
            return PGQ_CONFIG;
        }
        pgq_strlcpy(ac->admins[ac->n_admins++], item, sizeof ac->admins[0]);
    }
    return 0;
}

bool authz_mode_on(int mode, bool tls, bool auth_keys_set)
{
    if (mode == AUTH_MODE_ON || mode == AUTH_MODE_OFF) {
        return mode == AUTH_MODE_ON;
    }
    return tls || auth_keys_set;
}

bool authz_token_identity(const struct authz_config *ac,
                          const uint8_t digest[AUTHZ_DIGEST_LEN],
                          struct peer_id *id)
{
    int found = -1;
    /* Every token is compared, each over all its bytes: how long the
     * check takes says nothing of which token (or how much of one) was
     * right. */
    for (unsigned i = 0; i < ac->n_tokens; i++) {
        uint8_t diff = 0;
        for (int j = 0; j < AUTHZ_DIGEST_LEN; j++) {
            diff |= (uint8_t)(ac->tokens[i].digest[j] ^ digest[j]);
        }
        found = diff == 0 && found < 0 ? (int)i : found;
    }
    if (found < 0) {
        return false;
    }
    return authz_identity_of_name(ac->tokens[found].name, id) == 0;
}

/* ---- the check ---------------------------------------------------------- */

bool authz_static_admin(const struct authz_config *ac, const char *name)
{
    for (unsigned i = 0; i < ac->n_admins; i++) {
        if (strcmp(ac->admins[i], name) == 0) {
            return true;
        }
    }
    return false;
}

int authz_role_of(const struct state *s, const struct authz_config *ac, const char *name)
{
    if (authz_static_admin(ac, name)) {
        return AUTHZ_ROLE_ADMIN;
    }
    for (unsigned i = 0; i < s->n_roles; i++) {
        if (strcmp(s->roles[i].name, name) == 0) {
            return s->roles[i].role;
        }
    }
    return AUTHZ_ROLE_NONE;
}

/* A grant (or a deny) of action to name that covers cluster. */
static bool holds(const struct state *s,
                  const char *name,
                  int action,
                  const char *cluster,
                  bool deny)
{
    for (unsigned i = 0; i < s->n_grants; i++) {
        const struct access_grant *g = &s->grants[i];
        if (g->deny == deny && g->action == action && strcmp(g->name, name) == 0 &&
            (g->cluster[0] == '\0' || strcmp(g->cluster, cluster) == 0)) {
            return true;
        }
    }
    return false;
}

static int deny(char *why, size_t whysize, const char *who, const char *verb, const char *what)
{
    snprintf(why, whysize, "%s %s%s", who, verb, what);
    return PGQ_DENIED;
}

static bool is_read(int action)
{
    return action == AUTHZ_STATUS || action == AUTHZ_EVENTS || action == AUTHZ_WHOAMI;
}

/* Monitors and node agents: what they are lets them do, nothing more. */
static int check_service(const struct authz_config *ac,
                         const struct peer_id *who,
                         int action,
                         bool own_node, /* cluster and node are who's */
                         char *why,
                         size_t whysize)
{
    const char *what = authz_action_name(action);
    if (who->kind == PEER_MONITOR) {
        if (is_read(action) || action == AUTHZ_REPORT || action == AUTHZ_AUDIT) {
            return 0;
        }
        return deny(why, whysize, who->name, "is a monitor: it may not ", what);
    }
    if (who->kind == PEER_NODE) {
        if (is_read(action)) {
            return 0;
        }
        /* Its own node: its heartbeats, and registering it when nobody
         * did (as an agent of pg_auto_failover registers its node). */
        if ((action == AUTHZ_HEARTBEAT || action == AUTHZ_NODE_ADD) && own_node) {
            return 0;
        }
        return deny(why, whysize, who->name,
                    "is a node agent: it may only send heartbeats for its own node, not ",
                    action == AUTHZ_HEARTBEAT || action == AUTHZ_NODE_ADD ? "for another" : what);
    }
    /* Anonymous, when TLS is off: monitors have no identity to show; the
     * handler holds a report (or audit) to the host of a voter with that
     * id, as before authentication. */
    if ((action == AUTHZ_REPORT || action == AUTHZ_AUDIT) && !ac->tls) {
        return 0;
    }
    snprintf(why, whysize, "%s may not %s: present a token (--token-file) or a client certificate",
             who->name[0] != '\0' ? who->name : "an anonymous caller", what);
    return PGQ_DENIED;
}

int authz_check(const struct state *s,
                const struct authz_config *ac,
                const struct peer_id *who,
                int action,
                const char *cluster,
                const char *node,
                char *why,
                size_t whysize)
{
    const char *what = authz_action_name(action);
    char whom[PGQ_IDENTITY_MAX + 32];
    int role;
    cluster = cluster != NULL ? cluster : "";
    node = node != NULL ? node : "";
    why[0] = '\0';
    if (!ac->on) {
        return 0; /* no authentication: the plain mode of old */
    }
    if (what == NULL || action == AUTHZ_NONE) {
        return deny(why, whysize, who->name, "asks for an unknown action", "");
    }
    if (who->kind != PEER_USER) {
        bool own = strcmp(who->cluster, cluster) == 0 && strcmp(who->node, node) == 0;
        /* An agent's identity can be denied what it may do: `deny node-add to
         * node:main/pg3` keeps a removed node's agent from registering it
         * again. */
        if (who->kind == PEER_NODE && holds(s, who->name, action, cluster, true)) {
            snprintf(why, whysize, "%s is denied %s%s%s", who->name, what,
                     cluster[0] != '\0' ? " on cluster " : "", cluster);
            return PGQ_DENIED;
        }
        return check_service(ac, who, action, own, why, whysize);
    }
    /* Reports, heartbeats and audit records are what monitors and agents
     * see: no operator sends them, not even an admin (an admin's forged
     * report would be a verdict no monitor saw). */
    if (!authz_action_grantable(action)) {
        snprintf(why, whysize, "%s may not %s: only monitors and node agents do", who->name, what);
        return PGQ_DENIED;
    }
    /* Invariant: the static admins are the bootstrap; nothing replicated
     * holds them back, so that a bad deny can always be undone. */
    if (authz_static_admin(ac, who->name)) {
        return 0;
    }
    /* A deny beats any role or grant. */
    if (holds(s, who->name, action, cluster, true)) {
        snprintf(why, whysize, "%s is denied %s%s%s", who->name, what,
                 cluster[0] != '\0' ? " on cluster " : "", cluster);
        return PGQ_DENIED;
    }
    role = authz_role_of(s, ac, who->name);
    if (role != AUTHZ_ROLE_NONE && role >= actions[action].role) {
        return 0;
    }
    if (holds(s, who->name, action, cluster, false)) {
        return 0;
    }
    snprintf(whom, sizeof whom, "%s (%s)", who->name,
             role == AUTHZ_ROLE_NONE ? "no role" : authz_role_name(role));
    snprintf(why, whysize, "%s may not %s%s%s", whom, what,
             cluster[0] != '\0' ? " on cluster " : "", cluster);
    return PGQ_DENIED;
}

/* ---- bounds ------------------------------------------------------------- */

static struct authz_throttle_slot *throttle_slot(struct authz_throttle *t,
                                                 const char *ip,
                                                 uint64_t now_ms,
                                                 bool create)
{
    struct authz_throttle_slot *pick = &t->slots[0];
    for (unsigned i = 0; i < AUTHZ_THROTTLE_SLOTS; i++) {
        if (t->slots[i].ip[0] != '\0' && strcmp(t->slots[i].ip, ip) == 0) {
            return &t->slots[i];
        }
    }
    /* A free slot, else the one seen least recently of those that neither
     * count failures nor block any more; else the overflow slot. */
    pick = NULL;
    for (unsigned i = 0; i < AUTHZ_THROTTLE_SLOTS; i++) {
        struct authz_throttle_slot *sl = &t->slots[i];
        bool idle = sl->ip[0] == '\0' ||
                    (now_ms >= sl->blocked_until_ms &&
                     (now_ms - sl->first_ms >= AUTHZ_FAIL_WINDOW_MS || now_ms < sl->first_ms));
        if (sl->ip[0] == '\0') {
            pick = sl;
            break;
        }
        if (idle && (pick == NULL || sl->seen_ms < pick->seen_ms)) {
            pick = sl;
        }
    }
    if (pick == NULL) {
        if (t->overflow.ip[0] == '\0') {
            pgq_strlcpy(t->overflow.ip, "*", sizeof t->overflow.ip);
            t->overflow.first_ms = now_ms;
        }
        return &t->overflow;
    }
    if (!create) {
        return NULL;
    }
    memset(pick, 0, sizeof *pick);
    pgq_strlcpy(pick->ip, ip, sizeof pick->ip);
    pick->first_ms = now_ms;
    pick->seen_ms = now_ms;
    return pick;
}

bool authz_throttle_blocked(struct authz_throttle *t, const char *ip, uint64_t now_ms)
{
    struct authz_throttle_slot *sl = throttle_slot(t, ip, now_ms, false);
    if (sl == NULL || now_ms >= sl->blocked_until_ms) {
        return false;
    }
    t->refused++;
    return true;
}

bool authz_throttle_failure(struct authz_throttle *t, const char *ip, uint64_t now_ms)
{
    struct authz_throttle_slot *sl = throttle_slot(t, ip, now_ms, true);
    t->failures++;
    sl->seen_ms = now_ms;
    if (now_ms - sl->first_ms >= AUTHZ_FAIL_WINDOW_MS || now_ms < sl->first_ms) {
        sl->first_ms = now_ms;
        sl->failures = 0;
    }
    sl->failures++;
    if (sl->failures >= AUTHZ_FAIL_MAX && now_ms >= sl->blocked_until_ms) {
        sl->blocked_until_ms = now_ms + AUTHZ_BLOCK_MS;
        sl->failures = 0;
        sl->first_ms = now_ms;
        return true;
    }
    return false;
}

static void limiter_roll(struct audit_limiter *l, uint64_t now_ms)
{
    if (now_ms - l->window_ms >= 1000 || now_ms < l->window_ms) {
        l->window_ms = now_ms;
        l->n = 0;
    }
}

static uint64_t fnv_add(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    }
    return (h ^ 0x1f) * UINT64_C(1099511628211); /* a separator: "ab","c" is not "a","bc" */
}

uint64_t audit_key(const char *who,
                   int action,
                   const char *cluster,
                   const char *node,
                   const char *outcome)
{
    uint64_t h = UINT64_C(14695981039346656037);
    h = fnv_add(h, who);
    h = fnv_add(h, authz_action_name(action) != NULL ? authz_action_name(action) : "?");
    /* A denial is the same refusal whatever names it was asked about: a
     * caller varying the node or cluster must not make each one a new
     * record and flush the history. */
    if (strncmp(outcome, "denied", 6) != 0) {
        h = fnv_add(h, cluster != NULL ? cluster : "");
        h = fnv_add(h, node != NULL ? node : "");
        h = fnv_add(h, outcome);
    }
    return h != 0 ? h : 1;
}

/* The slot of key, or (create) a free one, else the one recorded longest
 * ago (its repeats are lost: counted in no record). */
static unsigned repeat_slot(struct audit_limiter *l, uint64_t key, bool *found)
{
    unsigned pick = 0;
    for (unsigned i = 0; i < AUDIT_KEYS; i++) {
        if (l->repeats[i].key == key) {
            *found = true;
            return i;
        }
    }
    *found = false;
    for (unsigned i = 0; i < AUDIT_KEYS; i++) {
        if (l->repeats[i].key == 0) {
            return i;
        }
        if (l->repeats[i].since_ms < l->repeats[pick].since_ms) {
            pick = i;
        }
    }
    return pick;
}

int audit_limiter_admit(struct audit_limiter *l,
                        uint64_t now_ms,
                        uint64_t key,
                        unsigned *slot,
                        unsigned *more)
{
    bool found;
    unsigned i = repeat_slot(l, key, &found);
    struct audit_repeat *r = &l->repeats[i];
    limiter_roll(l, now_ms);
    *slot = i;
    *more = 0;
    if (found &&
        (r->unrecorded || (now_ms - r->since_ms < AUDIT_REPEAT_MS && now_ms >= r->since_ms))) {
        r->held++;
        return AUDIT_REPEAT;
    }
    if (!found && r->key != 0) {
        l->lost += r->held; /* its repeats, pushed out by AUDIT_KEYS other kinds */
    }
    if (l->n >= AUDIT_PER_SECOND) {
        /* Due repeats of the same kind go with it. */
        r->held = (found ? r->held : 0) + 1;
        r->key = key;
        r->since_ms = now_ms;
        r->unrecorded = true;
        return AUDIT_HELD;
    }
    l->n++;
    *more = found ? r->held : 0;
    r->key = key;
    r->since_ms = now_ms;
    r->held = 0;
    r->unrecorded = false;
    return AUDIT_RECORD;
}

bool audit_limiter_repeats_due(struct audit_limiter *l,
                               uint64_t now_ms,
                               unsigned *slot,
                               unsigned *more)
{
    limiter_roll(l, now_ms);
    for (unsigned i = 0; i < AUDIT_KEYS; i++) {
        struct audit_repeat *r = &l->repeats[i];
        if (r->key == 0) {
            continue;
        }
        if (r->unrecorded) {
            if (l->n >= AUDIT_PER_SECOND) {
                continue;
            }
            l->n++;
            *slot = i;
            *more = r->held - 1; /* the one recorded is among them */
            r->held = 0;
            r->since_ms = now_ms;
            r->unrecorded = false;
            return true;
        }
        if (now_ms - r->since_ms < AUDIT_REPEAT_MS && now_ms >= r->since_ms) {
            continue;
        }
        r->key = 0;
        if (r->held > 0) {
            *slot = i;
            *more = r->held;
            r->held = 0;
            return true;
        }
    }
    return false;
}
