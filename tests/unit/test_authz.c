/* Unit tests of agent/authz.c: who may do what (a table of identities,
 * roles, grants, denies and actions), the [auth] configuration, the token
 * look-up, the bound on wrong tokens and on audit records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "builders.h"
#include "lib/util.h"

static struct peer_id who(const char *name)
{
    struct peer_id id;
    memset(&id, 0, sizeof id);
    if (name[0] == '\0') {
        id.kind = PEER_ANONYMOUS;
        pgq_strlcpy(id.name, "anonymous", sizeof id.name);
    } else {
        assert_int_equal(authz_identity_of_name(name, &id), 0);
    }
    pgq_strlcpy(id.ip, "10.0.0.9", sizeof id.ip);
    return id;
}

/* A state at level 5 with bob viewer, carol operator, erin admin; dave has no
 * role but a grant of status and of maintenance on cluster east; carol is
 * denied switchover on main; erin is denied node-remove everywhere; alice is
 * a static admin denied everything she could be (it does not hold her). */
static void access_state(struct state *s, struct authz_config *ac)
{
    static const int all[] = {AUTHZ_STATUS, AUTHZ_NODE_REMOVE, AUTHZ_ROLE};
    struct command c;
    char err[256];
    b_hello(s, 1000, 1, 3);
    b_feature_level(s, 1100);
    assert_int_equal(s->feature_level, PGQ_FEATURE_LEVEL);
    c = b_cmd_role(1200, "user:bob", AUTHZ_ROLE_VIEWER);
    b_apply(s, &c);
    c = b_cmd_role(1201, "user:carol", AUTHZ_ROLE_OPERATOR);
    b_apply(s, &c);
    c = b_cmd_role(1202, "user:erin", AUTHZ_ROLE_ADMIN);
    b_apply(s, &c);
    c = b_cmd_grant(1203, "user:dave", AUTHZ_STATUS, "", false, false);
    b_apply(s, &c);
    c = b_cmd_grant(1204, "user:dave", AUTHZ_MAINTENANCE, "east", false, false);
    b_apply(s, &c);
    c = b_cmd_grant(1205, "user:carol", AUTHZ_SWITCHOVER, "main", true, false);
    b_apply(s, &c);
    c = b_cmd_grant(1206, "user:erin", AUTHZ_NODE_REMOVE, "", true, false);
    b_apply(s, &c);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(all); i++) {
        c = b_cmd_grant(1207 + i, "user:alice", all[i], "", true, false);
        b_apply(s, &c);
    }
    memset(ac, 0, sizeof *ac);
    assert_int_equal(authz_config_parse(ac, "", "user:alice", err, sizeof err), 0);
    ac->on = true;
}

struct check_case
{
    const char *who; /* "": anonymous */
    int action;
    const char *cluster;
    const char *node;
    int want; /* 0 or PGQ_DENIED */
    const char *why;
};

static void test_check_table(void **ctx)
{
    /* Deny by default; a role holds its actions and the lesser roles'; a grant adds one
     * action (on its cluster), a deny beats role and grant; a static admin is never held
     * back; monitors and node agents may do what they are for, nothing more. */
    static const struct check_case cases[] = {
        {"user:zed", AUTHZ_STATUS, "", "", PGQ_DENIED, "user:zed (no role) may not status"},
        {"user:zed", AUTHZ_WHOAMI, "", "", PGQ_DENIED, "user:zed (no role) may not whoami"},
        {"", AUTHZ_STATUS, "", "", PGQ_DENIED,
         "anonymous may not status: present a token (--token-file) or a client certificate"},
        {"user:bob", AUTHZ_STATUS, "", "", 0, ""},
        {"user:bob", AUTHZ_EVENTS, "main", "", 0, ""},
        {"user:bob", AUTHZ_WHOAMI, "", "", 0, ""},
        {"user:bob", AUTHZ_MAINTENANCE, "main", "pg1", PGQ_DENIED,
         "user:bob (viewer) may not maintenance on cluster main"},
        {"user:bob", AUTHZ_NODE_ADD, "main", "pg9", PGQ_DENIED,
         "user:bob (viewer) may not node-add on cluster main"},
        {"user:carol", AUTHZ_MAINTENANCE, "main", "pg1", 0, ""},
        {"user:carol", AUTHZ_PAUSE, "main", "", 0, ""},
        {"user:carol", AUTHZ_SYNC, "main", "", 0, ""},
        {"user:carol", AUTHZ_SWITCHOVER, "east", "", 0, ""},
        {"user:carol", AUTHZ_SWITCHOVER, "main", "", PGQ_DENIED,
         "user:carol is denied switchover on cluster main"},
        {"user:carol", AUTHZ_NODE_REMOVE, "main", "pg1", PGQ_DENIED,
         "user:carol (operator) may not node-remove on cluster main"},
        {"user:carol", AUTHZ_ALLOW_DATA_LOSS, "main", "", PGQ_DENIED,
         "user:carol (operator) may not allow-data-loss on cluster main"},
        {"user:carol", AUTHZ_ROLE, "", "", PGQ_DENIED, "user:carol (operator) may not role"},
        {"user:carol", AUTHZ_CLUSTER_REMOVE, "main", "", PGQ_DENIED,
         "user:carol (operator) may not cluster-remove on cluster main"},
        {"user:bob", AUTHZ_CLUSTER_REMOVE, "main", "", PGQ_DENIED,
         "user:bob (viewer) may not cluster-remove on cluster main"},
        {"user:dave", AUTHZ_CLUSTER_REMOVE, "east", "", PGQ_DENIED,
         "user:dave (no role) may not cluster-remove on cluster east"},
        {"user:alice", AUTHZ_CLUSTER_REMOVE, "east", "", 0, ""},
        {"node:main/pg1", AUTHZ_CLUSTER_REMOVE, "main", "", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not "
         "cluster-remove"},
        {"user:dave", AUTHZ_STATUS, "", "", 0, ""},
        {"user:dave", AUTHZ_EVENTS, "", "", PGQ_DENIED, "user:dave (no role) may not events"},
        {"user:dave", AUTHZ_MAINTENANCE, "east", "e1", 0, ""},
        {"user:dave", AUTHZ_MAINTENANCE, "main", "pg1", PGQ_DENIED,
         "user:dave (no role) may not maintenance on cluster main"},
        {"user:erin", AUTHZ_NODE_ADD, "main", "pg9", 0, ""},
        {"user:erin", AUTHZ_GRANT, "", "", 0, ""},
        /* Changing the monitors' Raft voters is an admin's (level 6). */
        {"user:erin", AUTHZ_MONITOR_CHANGE, "", "", 0, ""},
        {"user:alice", AUTHZ_MONITOR_CHANGE, "", "", 0, ""},
        {"user:carol", AUTHZ_MONITOR_CHANGE, "", "", PGQ_DENIED,
         "user:carol (operator) may not monitor-change"},
        {"user:bob", AUTHZ_MONITOR_CHANGE, "", "", PGQ_DENIED,
         "user:bob (viewer) may not monitor-change"},
        {"monitor:2", AUTHZ_MONITOR_CHANGE, "", "", PGQ_DENIED,
         "monitor:2 is a monitor: it may not monitor-change"},
        {"node:main/pg1", AUTHZ_MONITOR_CHANGE, "", "", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not "
         "monitor-change"},
        {"", AUTHZ_MONITOR_CHANGE, "", "", PGQ_DENIED,
         "anonymous may not monitor-change: present a token (--token-file) or a client "
         "certificate"},
        {"user:erin", AUTHZ_NODE_REMOVE, "main", "pg1", PGQ_DENIED,
         "user:erin is denied node-remove on cluster main"},
        {"user:erin", AUTHZ_REPORT, "main", "", PGQ_DENIED,
         "user:erin may not report: only monitors and node agents do"},
        {"user:alice", AUTHZ_NODE_REMOVE, "main", "pg1", 0, ""},
        {"user:alice", AUTHZ_ROLE, "", "", 0, ""},
        {"monitor:2", AUTHZ_REPORT, "main", "", 0, ""},
        {"monitor:2", AUTHZ_AUDIT, "main", "", 0, ""},
        {"monitor:2", AUTHZ_STATUS, "", "", 0, ""},
        {"monitor:2", AUTHZ_PAUSE, "main", "", PGQ_DENIED,
         "monitor:2 is a monitor: it may not pause"},
        {"user:alice", AUTHZ_REPORT, "main", "", PGQ_DENIED,
         "user:alice may not report: only monitors and node agents do"},
        {"node:main/pg1", AUTHZ_HEARTBEAT, "main", "pg1", 0, ""},
        {"node:main/pg1", AUTHZ_NODE_ADD, "main", "pg1", 0, ""},
        {"node:main/pg1", AUTHZ_NODE_ADD, "main", "pg2", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not for "
         "another"},
        {"node:main/pg1", AUTHZ_STATUS, "", "", 0, ""},
        {"node:main/pg1", AUTHZ_HEARTBEAT, "main", "pg2", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not for "
         "another"},
        {"node:main/pg1", AUTHZ_HEARTBEAT, "east", "pg1", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not for "
         "another"},
        {"node:main/pg1", AUTHZ_MAINTENANCE, "main", "pg1", PGQ_DENIED,
         "node:main/pg1 is a node agent: it may only send heartbeats for its own node, not "
         "maintenance"},
        {"", AUTHZ_REPORT, "main", "", 0, ""}, /* TLS off: the handler checks the host */
        {"", AUTHZ_HEARTBEAT, "main", "pg1", PGQ_DENIED,
         "anonymous may not heartbeat: present a token (--token-file) or a client certificate"},
    };
    struct state *s = *ctx;
    struct authz_config ac;
    access_state(s, &ac);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const struct check_case *k = &cases[i];
        struct peer_id id = who(k->who);
        char why[256];
        int rv = authz_check(s, &ac, &id, k->action, k->cluster, k->node, why, sizeof why);
        if (rv != k->want || strcmp(why, k->why) != 0) {
            fail_msg("case %zu (%s %s): %d \"%s\", want %d \"%s\"", i, k->who,
                     authz_action_name(k->action), rv, why, k->want, k->why);
        }
    }
    /* TLS on: an anonymous report is refused (monitors show certificates). */
    {
        struct peer_id id = who("");
        char why[256];
        ac.tls = true;
        assert_int_equal(authz_check(s, &ac, &id, AUTHZ_REPORT, "main", "", why, sizeof why),
                         PGQ_DENIED);
    }
    /* Authentication off: everything, even for nobody. */
    {
        struct peer_id id = who("");
        char why[256];
        ac.on = false;
        assert_int_equal(
            authz_check(s, &ac, &id, AUTHZ_NODE_REMOVE, "main", "pg1", why, sizeof why), 0);
    }
}

static void test_roles_are_ordered(void **ctx)
{
    /* Every grantable action is held by admin; an operator holds a viewer's; no role holds
     * report, heartbeat or audit. */
    struct state *s = *ctx;
    struct authz_config ac;
    struct command c;
    access_state(s, &ac);
    c = b_cmd_grant(2000, "user:erin", AUTHZ_NODE_REMOVE, "", false, true);
    b_apply(s, &c);
    for (int a = 1; a < AUTHZ__N_ACTIONS; a++) {
        struct peer_id erin = who("user:erin"), bob = who("user:bob"), carol = who("user:carol");
        char why[256];
        bool viewer = authz_check(s, &ac, &bob, a, "east", "", why, sizeof why) == 0;
        bool op = authz_check(s, &ac, &carol, a, "east", "", why, sizeof why) == 0;
        bool admin = authz_check(s, &ac, &erin, a, "east", "", why, sizeof why) == 0;
        assert_true(admin == authz_action_grantable(a));
        assert_true(!viewer || op);
        assert_true(!op || admin);
        assert_int_equal(authz_action_by_name(authz_action_name(a)), a);
    }
}

static void test_config_parse(void **ctx)
{
    /* [auth] tokens and admins parse into identities and digests; a bad entry is one line
     * naming it, never its digest. */
    static const char hex[] = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    struct authz_config ac;
    char text[512], err[256];
    (void)ctx;
    snprintf(text, sizeof text, " alice:sha256:%s ,node:main/pg1:sha256:%s,user:b.o-b:sha256:%s",
             hex, hex, hex);
    assert_int_equal(authz_config_parse(&ac, text, "user:alice, user:root", err, sizeof err), 0);
    assert_int_equal(ac.n_tokens, 3);
    assert_string_equal(ac.tokens[0].name, "user:alice");
    assert_string_equal(ac.tokens[1].name, "node:main/pg1");
    assert_string_equal(ac.tokens[2].name, "user:b.o-b");
    assert_int_equal(ac.tokens[0].digest[0], 0x00);
    assert_int_equal(ac.tokens[0].digest[31], 0xff);
    assert_int_equal(ac.n_admins, 2);
    assert_string_equal(ac.admins[1], "user:root");
    {
        static const struct
        {
            const char *tokens, *admins, *error;
        } bad[] = {
            {"alice", "", "a token is NAME:sha256:HEX (pgquorumctl token hash)"},
            {"alice:sha256:0011", "", "token of user:alice: the digest is 64 hex digits"},
            {"alice:sha256:zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "",
             "token of user:alice: the digest is not hexadecimal"},
            {"monitor:3:sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
             "", "token of monitor:3: not an identity (user:NAME or node:CLUSTER/NAME)"},
            {"", "alice", "admins: \"alice\" is not an identity (user:NAME)"},
            {"", "node:main/", "admins: \"node:main/\" is not an identity (user:NAME)"},
        };
        for (size_t i = 0; i < PGQ_ARRAY_SIZE(bad); i++) {
            assert_int_equal(authz_config_parse(&ac, bad[i].tokens, bad[i].admins, err, sizeof err),
                             PGQ_CONFIG);
            assert_string_equal(err, bad[i].error);
        }
    }
    assert_true(authz_mode_on(AUTH_MODE_AUTO, true, false));
    assert_true(authz_mode_on(AUTH_MODE_AUTO, false, true));
    assert_false(authz_mode_on(AUTH_MODE_AUTO, false, false));
    assert_false(authz_mode_on(AUTH_MODE_OFF, true, true));
    assert_true(authz_mode_on(AUTH_MODE_ON, false, false));
}

static void test_token_identity(void **ctx)
{
    /* A digest names the identity of the token it matches; one byte off matches none. */
    struct authz_config ac;
    uint8_t d[AUTHZ_DIGEST_LEN];
    struct peer_id id;
    char text[512], err[256], ones[65];
    (void)ctx;
    memset(ones, '1', 64);
    ones[64] = '\0';
    snprintf(text, sizeof text, "alice:sha256:%064d, node:east/e1:sha256:%s", 0, ones);
    assert_int_equal(authz_config_parse(&ac, text, "", err, sizeof err), 0);
    memset(d, 0x11, sizeof d);
    memset(&id, 0, sizeof id);
    assert_true(authz_token_identity(&ac, d, &id));
    assert_int_equal(id.kind, PEER_NODE);
    assert_string_equal(id.name, "node:east/e1");
    assert_string_equal(id.cluster, "east");
    assert_string_equal(id.node, "e1");
    d[31] = 0x10;
    assert_false(authz_token_identity(&ac, d, &id));
    memset(d, 0, sizeof d);
    assert_true(authz_token_identity(&ac, d, &id));
    assert_int_equal(id.kind, PEER_USER);
    assert_string_equal(id.name, "user:alice");
}

static void test_throttle(void **ctx)
{
    /* The fifth wrong token from one address within 10 s blocks it for 10 s (reported
     * once); another address is not held back; wrong tokens spread over more than 10 s
     * never block. */
    static struct authz_throttle t;
    (void)ctx;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 4; i++) {
        assert_false(authz_throttle_failure(&t, "10.0.0.1", 1000 + (uint64_t)i * 100));
        assert_false(authz_throttle_blocked(&t, "10.0.0.1", 1000 + (uint64_t)i * 100));
    }
    assert_true(authz_throttle_failure(&t, "10.0.0.1", 1500));
    assert_true(authz_throttle_blocked(&t, "10.0.0.1", 1600));
    assert_false(authz_throttle_failure(&t, "10.0.0.1", 1700)); /* reported once */
    assert_false(authz_throttle_blocked(&t, "10.0.0.2", 1600));
    assert_true(authz_throttle_blocked(&t, "10.0.0.1", 11499));
    assert_false(authz_throttle_blocked(&t, "10.0.0.1", 11500));
    assert_int_equal(t.refused, 2);
    for (int i = 0; i < 20; i++) {
        assert_false(authz_throttle_failure(&t, "10.0.0.3", 20000 + (uint64_t)i * 2600));
    }
    /* Many addresses: the table keeps its size, the least recently seen goes. */
    for (int i = 0; i < 3 * AUTHZ_THROTTLE_SLOTS; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.1.%d.%d", i / 250, i % 250);
        authz_throttle_failure(&t, ip, 100000 + (uint64_t)i);
    }
    assert_int_equal(t.failures, 4 + 2 + 20 + 3 * AUTHZ_THROTTLE_SLOTS);
}

static void test_audit_limiter(void **ctx)
{
    /* At most AUDIT_PER_SECOND records a second; a refusal over the bound is held in a slot
     * of its own, its repeats counted with it, and each held kind is recorded once a later
     * second has room: none is folded into another's count. */
    static struct audit_limiter l;
    unsigned more = 99, slot, due, n_due = 0, held_slot[25];
    bool seen[25] = {false};
    (void)ctx;
    memset(&l, 0, sizeof l);
    for (uint64_t i = 0; i < AUDIT_PER_SECOND; i++) {
        assert_int_equal(audit_limiter_admit(&l, 5000, 100 + i, &slot, &more), AUDIT_RECORD);
        assert_int_equal(more, 0);
    }
    for (uint64_t i = 0; i < 25; i++) {
        assert_int_equal(audit_limiter_admit(&l, 5100 + i, 200 + i, &held_slot[i], &more),
                         AUDIT_HELD);
    }
    /* Repeats of a held kind are counted with it. */
    assert_int_equal(audit_limiter_admit(&l, 5200, 200, &slot, &more), AUDIT_REPEAT);
    assert_int_equal(slot, held_slot[0]);
    assert_int_equal(audit_limiter_admit(&l, 5201, 200, &slot, &more), AUDIT_REPEAT);
    assert_false(audit_limiter_repeats_due(&l, 5900, &due, &more)); /* the same second */
    for (uint64_t t = 6000; t <= 8000; t += 1000) {
        unsigned this_second = 0;
        while (audit_limiter_repeats_due(&l, t, &due, &more)) {
            unsigned k;
            for (k = 0; k < 25 && held_slot[k] != due; k++) {
            }
            assert_true(k < 25);
            assert_false(seen[k]);
            seen[k] = true;
            assert_int_equal(more, k == 0 ? 2 : 0);
            this_second++;
            n_due++;
        }
        assert_true(this_second <= AUDIT_PER_SECOND);
    }
    assert_int_equal(n_due, 25);
    assert_int_equal(l.lost, 0);
    /* Recorded now: a repeat within the minute is counted, not recorded. */
    assert_int_equal(audit_limiter_admit(&l, 9000, 200, &slot, &more), AUDIT_REPEAT);
    assert_int_equal(audit_limiter_admit(&l, 9002, 300, &slot, &more), AUDIT_RECORD);
    assert_int_equal(more, 0);
}

static void test_audit_repeats(void **ctx)
{
    /* The same refusal is recorded once a minute: its repeats are counted, and recorded as
     * one when the minute is over; another refusal is recorded at once. */
    static struct audit_limiter l;
    uint64_t k = audit_key("anonymous", AUTHZ_STATUS, "", "", "denied: unknown token");
    unsigned more = 0, slot, first, due;
    (void)ctx;
    memset(&l, 0, sizeof l);
    assert_true(k != audit_key("anonymou", AUTHZ_STATUS, "s", "", "denied: unknown token"));
    assert_true(k != audit_key("anonymous", AUTHZ_EVENTS, "", "", "denied: unknown token"));
    /* A denial is one record whatever it was asked about (varying names buys nothing); a
     * refusal by the state machine is told by its names and reason. */
    assert_true(audit_key("anonymous", AUTHZ_NODE_REMOVE, "main", "x1", "denied: a") ==
                audit_key("anonymous", AUTHZ_NODE_REMOVE, "east", "x2", "denied: b"));
    assert_true(audit_key("user:a", AUTHZ_NODE_REMOVE, "main", "x1", "refused: no node x1") !=
                audit_key("user:a", AUTHZ_NODE_REMOVE, "main", "x2", "refused: no node x2"));
    assert_int_equal(audit_limiter_admit(&l, 1000, k, &first, &more), AUDIT_RECORD);
    for (uint64_t t = 2000; t < 61000; t += 1000) {
        assert_int_equal(audit_limiter_admit(&l, t, k, &slot, &more), AUDIT_REPEAT);
        assert_int_equal(slot, first);
    }
    assert_int_equal(audit_limiter_admit(&l, 30000, k + 1, &slot, &more), AUDIT_RECORD);
    assert_true(slot != first);
    assert_false(audit_limiter_repeats_due(&l, 60999, &due, &more));
    assert_true(audit_limiter_repeats_due(&l, 61000, &due, &more));
    assert_int_equal(due, first);
    assert_int_equal(more, 59);
    assert_false(audit_limiter_repeats_due(&l, 61000, &due, &more));
    assert_false(audit_limiter_repeats_due(&l, 90000, &due, &more)); /* k + 1: no repeat */
    assert_int_equal(audit_limiter_admit(&l, 91000, k, &slot, &more), AUDIT_RECORD);
    assert_int_equal(more, 0);
}

static void test_names(void **ctx)
{
    /* Identity names: user:NAME and node:CLUSTER/NAME may hold roles; monitors may not;
     * anything else is no name. */
    (void)ctx;
    assert_true(authz_name_valid("user:alice"));
    assert_true(authz_name_valid("user:alice@ops.example"));
    assert_true(authz_name_valid("node:main/pg1"));
    assert_false(authz_name_valid("monitor:1"));
    assert_false(authz_name_valid("alice"));
    assert_false(authz_name_valid("user:"));
    assert_false(authz_name_valid("user:a b"));
    assert_false(authz_name_valid("node:main"));
    assert_false(authz_name_valid("node:/pg1"));
    assert_int_equal(authz_role_by_name("operator"), AUTHZ_ROLE_OPERATOR);
    assert_int_equal(authz_role_by_name("root"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_table, b_setup_state, b_teardown_state),
        cmocka_unit_test_setup_teardown(test_roles_are_ordered, b_setup_state, b_teardown_state),
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_token_identity),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_audit_limiter),
        cmocka_unit_test(test_audit_repeats),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
