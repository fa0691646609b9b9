/* monitor, who may ask: the identity of an API caller (its connection's
 * certificate, or a bearer token checked against [auth] tokens), the
 * answer to whoami, and the audit record of every refusal. The check itself
 * is authz_check (pure, authz.c); the dispatch table in monitor_api.c says
 * which action each request is.
 *
 * The happy path is: a request without a token keeps its connection's
 * identity; one with a token is hashed (SHA-256) and compared in constant
 * time with every configured digest, and the identity it names replaces an
 * anonymous one. A refusal becomes an Audit command: proposed at once on
 * the ready leader, sent to the leader's API (API_AUDIT) on a follower.
 *
 * Possible failure modes are: a wrong token (DENIED, counted; the fifth
 * from one IP address within 10 s blocks it for 10 s, logged once: its
 * requests are then refused unchecked), a token and a certificate naming
 * different identities (DENIED), a flood of refusals (at most
 * AUDIT_PER_SECOND records a second, the rest counted into one "and N
 * more"), no leader to record them (they wait, at most AUDIT_QUEUE_MAX,
 * then are dropped, counted, and the log line stays), a state below
 * feature level 5 (they wait for it, within the same bound). A token is never
 * logged, recorded or echoed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "log.h"
#include "monitor_internal.h"
#include "token.h"

#define AUDIT_QUEUE_MAX 32
#define AUDIT_TIMEOUT_MS 3000

static bool auth_keys_set(const struct config *cfg)
{
    return cfg->auth_tokens[0] != '\0' || cfg->auth_admins[0] != '\0';
}

static int configure(struct monitor *m, char *errmsg, size_t errsize)
{
    struct authz_config *ac = calloc(1, sizeof *ac);
    int rv;
    if (ac == NULL) {
        snprintf(errmsg, errsize, "out of memory");
        return PGQ_NOMEM;
    }
    rv = authz_config_parse(ac, m->cfg.auth_tokens, m->cfg.auth_admins, errmsg, errsize);
    if (rv == 0) {
        ac->tls = m->cfg.tls;
        ac->on = authz_mode_on(m->cfg.auth_mode, ac->tls, auth_keys_set(&m->cfg));
        m->authz = *ac;
    }
    token_wipe(ac, sizeof *ac);
    free(ac);
    return rv;
}

int monitor_authz_start(struct monitor *m, char *errmsg, size_t errsize)
{
    char why[256];
    if (configure(m, why, sizeof why) != 0) {
        snprintf(errmsg, errsize, "[auth]: %s", why);
        return PGQ_CONFIG;
    }
    m->audits = calloc(AUDIT_QUEUE_MAX, sizeof *m->audits);
    m->audit_repeats = calloc(AUDIT_KEYS, sizeof *m->audit_repeats);
    if (m->audits == NULL || m->audit_repeats == NULL ||
        peer_init(&m->audit_peer, m->loop, &m->transport) != 0) {
        snprintf(errmsg, errsize, "cannot create the audit channel");
        return PGQ_IO;
    }
    m->audit_peer.data = m;
    m->started_audit_peer = true;
    if (!m->authz.on) {
        log_warn("no authentication: anyone who can reach api_address can change the cluster");
    } else {
        log_info("authentication on: %u tokens, %u static admins", m->authz.n_tokens,
                 m->authz.n_admins);
    }
    return 0;
}

void monitor_authz_reconfigure(struct monitor *m)
{
    char why[256];
    bool was_on = m->authz.on;
    unsigned n_tokens = m->authz.n_tokens, n_admins = m->authz.n_admins;
    /* The file was validated by config_parse: this does not fail. */
    if (configure(m, why, sizeof why) != 0) {
        log_warn("[auth]: %s: the previous tokens and admins stay", why);
        return;
    }
    /* Said at info level only when it changes something worth a line. */
    if (was_on != m->authz.on || n_tokens != m->authz.n_tokens || n_admins != m->authz.n_admins) {
        log_info("auth: %u tokens, %u static admins%s", m->authz.n_tokens, m->authz.n_admins,
                 was_on != m->authz.on
                     ? (m->authz.on ? " (authentication now on)" : " (authentication now off)")
                     : "");
    } else {
        log_debug("auth: %u tokens, %u static admins", m->authz.n_tokens, m->authz.n_admins);
    }
}

void monitor_authz_close(struct monitor *m)
{
    free(m->audits);
    m->audits = NULL;
    free(m->audit_repeats);
    m->audit_repeats = NULL;
    m->n_audits = 0;
    token_wipe(&m->authz, sizeof m->authz);
}

/* ---- identity ------------------------------------------------------------ */

static void deny_reply(struct monitor *m, struct api_client *cl, const char *why)
{
    m->denied++;
    api_reply_code(cl, API_DENIED, why, NULL);
}

bool monitor_identify(struct monitor *m,
                      struct api_client *cl,
                      const struct api_request *req,
                      int action,
                      struct peer_id *who)
{
    const struct peer_id *conn = api_client_id(cl);
    uint64_t now = uv_now(m->loop);
    uint8_t digest[AUTHZ_DIGEST_LEN];
    struct peer_id tok;
    char why[256];
    *who = *conn;
    if (who->name[0] == '\0') {
        pgq_strlcpy(who->name, "anonymous", sizeof who->name);
    }
    if (req->token[0] == '\0') {
        return true;
    }
    /* A right token is taken even from an address that is blocked: a
     * guesser beside a node agent must not lock the agent out (its lease,
     * then its primary, would follow). Only wrong ones are refused
     * unchecked-for-cost while blocked. */
    memset(&tok, 0, sizeof tok);
    if (token_digest(req->token, digest) == 0 && authz_token_identity(&m->authz, digest, &tok)) {
        token_wipe(digest, sizeof digest);
        if (conn->kind != PEER_ANONYMOUS && strcmp(conn->name, tok.name) != 0) {
            snprintf(why, sizeof why, "the token names another identity than the certificate (%s)",
                     conn->name);
            deny_reply(m, cl, why);
            monitor_audit(m, who, action, req->cmd.cluster, req->cmd.node,
                          "denied: token and certificate disagree");
            return false;
        }
        pgq_strlcpy(tok.ip, conn->ip, sizeof tok.ip);
        *who = tok;
        return true;
    }
    token_wipe(digest, sizeof digest);
    if (!m->authz.on) {
        return true; /* no authentication: a token proves nothing and costs nothing */
    }
    if (authz_throttle_blocked(&m->throttle, who->ip, now)) {
        deny_reply(m, cl, "too many wrong tokens from this address: refused for a while");
        return false;
    }
    if (authz_throttle_failure(&m->throttle, who->ip, now)) {
        log_warn("auth: %d wrong tokens from %s within %d s: its requests are refused for %d s",
                 AUTHZ_FAIL_MAX, who->ip[0] != '\0' ? who->ip : "(unknown address)",
                 AUTHZ_FAIL_WINDOW_MS / 1000, AUTHZ_BLOCK_MS / 1000);
    }
    deny_reply(m, cl, "unknown token");
    monitor_audit(m, who, action, req->cmd.cluster, req->cmd.node, "denied: unknown token");
    return false;
}

void monitor_whoami(struct monitor *m, struct api_client *cl, const struct api_request *req)
{
    const struct state *s = &m->fsm.state;
    struct api_response *res = malloc(sizeof *res);
    (void)req;
    if (res == NULL) {
        api_reply_code(cl, API_INTERNAL, "out of memory", NULL);
        return;
    }
    api_response_init(res);
    res->body = API_WHOAMI;
    pgq_strlcpy(res->whoami.name, m->caller.name, sizeof res->whoami.name);
    pgq_strlcpy(res->whoami.ip, m->caller.ip, sizeof res->whoami.ip);
    res->whoami.auth = m->authz.on;
    res->whoami.static_admin = authz_static_admin(&m->authz, m->caller.name);
    res->whoami.role =
        m->caller.kind == PEER_USER ? authz_role_of(s, &m->authz, m->caller.name) : AUTHZ_ROLE_NONE;
    for (unsigned i = 0; i < s->n_grants && res->whoami.n_grants < WHOAMI_GRANTS_MAX; i++) {
        if (strcmp(s->grants[i].name, m->caller.name) == 0) {
            res->whoami.grants[res->whoami.n_grants++] = s->grants[i];
        }
    }
    api_reply(cl, res, NULL, NULL, 0);
    api_response_close(res);
    free(res);
}

/* ---- audit records ------------------------------------------------------- */

static void audit_fill(struct monitor *m,
                       struct command *cmd,
                       const struct peer_id *who,
                       int action,
                       const char *cluster,
                       const char *node,
                       const char *outcome)
{
    command_init(cmd, CMD_AUDIT);
    pgq_strlcpy(cmd->who, who->name[0] != '\0' ? who->name : "anonymous", sizeof cmd->who);
    pgq_strlcpy(cmd->from, who->ip, sizeof cmd->from);
    pgq_strlcpy(cmd->cluster, cluster != NULL ? cluster : "", sizeof cmd->cluster);
    pgq_strlcpy(cmd->node, node != NULL ? node : "", sizeof cmd->node);
    cmd->u.audit.action = action;
    pgq_strlcpy(cmd->u.audit.outcome, outcome, sizeof cmd->u.audit.outcome);
    pgq_one_line(cmd->u.audit.outcome);
    cmd->u.audit.monitor_id = m->cfg.id;
}

static void audit_enqueue(struct monitor *m, const struct command *cmd)
{
    if (m->n_audits == AUDIT_QUEUE_MAX) {
        m->audits_dropped++;
        return;
    }
    m->audits[m->n_audits++] = *cmd;
}

static void audit_pop(struct monitor *m)
{
    memmove(&m->audits[0], &m->audits[1], (m->n_audits - 1) * sizeof *m->audits);
    m->n_audits--;
}

void monitor_audit(struct monitor *m,
                   const struct peer_id *who,
                   int action,
                   const char *cluster,
                   const char *node,
                   const char *outcome)
{
    struct command cmd;
    unsigned more = 0, slot = 0;
    /* A refusal of a (forwarded) audit record is never recorded: the two
     * monitors could feed each other. */
    if (m->audits == NULL || action == AUTHZ_NONE || action == AUTHZ_AUDIT) {
        return;
    }
    audit_fill(m, &cmd, who, action, cluster, node, outcome);
    switch (audit_limiter_admit(
        &m->audit_limit, uv_now(m->loop),
        audit_key(cmd.who, action, cmd.cluster, cmd.node, cmd.u.audit.outcome), &slot, &more)) {
        case AUDIT_REPEAT:
            return;
        case AUDIT_HELD:
            m->audit_repeats[slot] = cmd; /* recorded by monitor_flush_audits */
            return;
        default:
            m->audit_repeats[slot] = cmd;
            break;
    }
    log_info("audit: %s by %s from %s %s", authz_action_name(action), cmd.who,
             cmd.from[0] != '\0' ? cmd.from : "(unknown)", cmd.u.audit.outcome);
    cmd.u.audit.more = more;
    audit_enqueue(m, &cmd);
    monitor_flush_audits(m);
}

static void audit_sent_cb(struct peer *p, int status, const struct api_response *res)
{
    struct monitor *m = p->data;
    m->audit_sending = false;
    if (status != 0) {
        log_debug("audit to leader failed: %s", p->errmsg);
        return; /* tried again at the next tick */
    }
    if (res->code == API_NOT_LEADER || res->code == API_UNAVAILABLE) {
        return;
    }
    if (res->code != API_OK) {
        log_warn("audit record refused by the leader: %s", res->message);
    }
    if (m->n_audits > 0) {
        audit_pop(m);
    }
    monitor_kick(m);
}

void monitor_flush_audits(struct monitor *m)
{
    const char *leader_api;
    uint64_t leader;
    unsigned more = 0;
    if (m->audits == NULL || m->stopping) {
        return;
    }
    for (unsigned slot;
         audit_limiter_repeats_due(&m->audit_limit, uv_now(m->loop), &slot, &more);) {
        struct command *c = &m->audit_repeats[slot];
        c->u.audit.more = more;
        if (more == 0) {
            log_info("audit: %s by %s from %s %s", authz_action_name(c->u.audit.action), c->who,
                     c->from[0] != '\0' ? c->from : "(unknown)", c->u.audit.outcome);
        } else {
            log_info("audit: %s by %s %s (and %u more refusals like it)",
                     authz_action_name(c->u.audit.action), c->who, c->u.audit.outcome, more);
        }
        audit_enqueue(m, c);
    }
    if (m->n_audits == 0 || m->audit_sending) {
        return;
    }
    /* Below feature level 5 no monitor would take an Audit: they wait
     * (a rolling upgrade, or the first seconds of a new quorum), up to
     * AUDIT_QUEUE_MAX; the log line of each is already written. */
    if (m->fsm.state.feature_level < 5) {
        return;
    }
    if (consensus_ready(&m->cons)) {
        for (unsigned i = 0; i < m->n_audits; i++) {
            if (monitor_propose_copy(m, NULL, &m->audits[i]) != 0) {
                m->audits_dropped++;
            }
        }
        m->n_audits = 0;
        return;
    }
    leader = consensus_leader(&m->cons, &leader_api);
    if (leader != 0 && leader != m->cfg.id && leader_api[0] != '\0') {
        struct api_request *req = calloc(1, sizeof *req);
        if (req == NULL) {
            return;
        }
        req->kind = API_AUDIT;
        req->cmd = m->audits[0];
        if (peer_request(&m->audit_peer, leader_api, req, AUDIT_TIMEOUT_MS, audit_sent_cb) == 0) {
            m->audit_sending = true;
        }
        free(req);
    }
}
