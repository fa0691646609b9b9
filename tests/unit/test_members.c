/* Unit tests of agent/members.c: what a monitor add, remove or replace
 * means for the Raft configuration as it is (a table: the configuration,
 * the request, the next step or the refusal), and that asking again after
 * each step walks a change to its end from wherever it stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "lib/util.h"
#include "members.h"

#define LAST 1000 /* the leader's last log index */

/* A configuration from "1v 2v 3v! 4s:990": id, role (v voter, s standby, p
 * spare), '!' when the leader does not hear from it, ':N' its match index
 * (default: LAST for a voter, 0 otherwise). Monitor 1 leads; addresses are
 * 10.0.0.ID:7001. */
static void conf_of(const char *spec, struct members_conf *c)
{
    const char *p = spec;
    memset(c, 0, sizeof *c);
    c->leader_id = 1;
    c->last_index = LAST;
    while (*p != '\0') {
        struct members_server *sv = &c->servers[c->n++];
        char *end;
        assert_true(c->n <= PGQ_MAX_MONITORS);
        sv->id = strtoull(p, &end, 10);
        p = end;
        sv->role = *p == 'v'   ? MEMBERS_ROLE_VOTER
                   : *p == 's' ? MEMBERS_ROLE_STANDBY
                               : MEMBERS_ROLE_SPARE;
        p++;
        sv->live = true;
        if (*p == '!') {
            sv->live = false;
            p++;
        }
        sv->match_index = sv->role == MEMBERS_ROLE_VOTER && sv->live ? LAST : 0;
        if (*p == ':') {
            sv->match_index = strtoull(p + 1, &end, 10);
            p = end;
        }
        snprintf(sv->address, sizeof sv->address, "10.0.0.%u:7001", (unsigned)sv->id);
        while (*p == ' ') {
            p++;
        }
    }
}

static struct cmd_member request(int op, uint64_t id, uint64_t old_id, const char *raft)
{
    struct cmd_member rq;
    memset(&rq, 0, sizeof rq);
    rq.op = op;
    rq.monitor_id = id;
    rq.old_id = old_id;
    if (raft != NULL) {
        pgq_strlcpy(rq.raft_address, raft, sizeof rq.raft_address);
        snprintf(rq.api_address, sizeof rq.api_address, "10.0.0.%u:7002", (unsigned)id);
    }
    return rq;
}

struct plan_case
{
    const char *conf;
    int op;
    uint64_t id, old_id;
    const char *raft; /* NULL: none (a remove) */
    int want_rv;
    int want_action; /* when want_rv is 0 */
    const char *why; /* in out->why ("": anything) */
};

#define ADD PGQ_MEMBER_ADD
#define REM PGQ_MEMBER_REMOVE
#define REP PGQ_MEMBER_REPLACE
#define A4 "10.0.0.4:7001"

static void test_next_table(void **ctx)
{
    /* One next step for each configuration a change can be in, and one clear refusal for each
     * request that cannot be carried out: unknown id, a taken address, the last voter, the
     * leader (handed over first), a 10th voter, a change stopped half-way, a lost majority. */
    static const struct plan_case cases[] = {
        /* add: spare, standby, catch up, voter, done */
        {"1v 2v 3v", ADD, 4, 0, A4, 0, MEMBERS_ADD, ""},
        {"1v 2v 3v 4p", ADD, 4, 0, A4, 0, MEMBERS_STANDBY, ""},
        {"1v 2v 3v 4s", ADD, 4, 0, A4, 0, MEMBERS_WAIT, "its log is at index 0 of 1000"},
        {"1v 2v 3v 4s:900", ADD, 4, 0, A4, 0, MEMBERS_WAIT, "at index 900 of 1000"},
        {"1v 2v 3v 4s:990", ADD, 4, 0, A4, 0, MEMBERS_VOTER, ""},
        {"1v 2v 3v 4v", ADD, 4, 0, A4, 0, MEMBERS_DONE, "monitor 4 is a voter"},
        /* a dead voter of three: the new one still makes a majority of four */
        {"1v 2v 3v! 4s:1000", ADD, 4, 0, A4, 0, MEMBERS_VOTER, ""},
        {"1v 2v! 3v! 4s:1000", ADD, 4, 0, A4, PGQ_REFUSED, 0,
         "making monitor 4 a voter would need 3 of 4 voters answering; 2 do"},
        /* addresses are one monitor's */
        {"1v 2v 3v", ADD, 4, 0, "10.0.0.2:7001", PGQ_EXISTS, 0,
         "Raft address 10.0.0.2:7001 is monitor 2's"},
        {"1v 2v 3v 4s", ADD, 4, 0, "10.0.0.9:7001", PGQ_EXISTS, 0,
         "monitor 4 is already a member at 10.0.0.4:7001, not 10.0.0.9:7001: remove it first"},
        {"1v 2v 3v", ADD, 4, 0, "localhost:7001", PGQ_INVALID, 0,
         "Raft address \"localhost:7001\" is not an IPv4 HOST:PORT"},
        {"1v 2v 3v", ADD, 4, 0, "10.0.0.4", PGQ_INVALID, 0, "is not an IPv4 HOST:PORT"},
        {"1v 2v 3v", ADD, 0, 0, A4, PGQ_INVALID, 0, "monitor id 0 is not in 1..1000000"},
        /* one change at a time */
        {"1v 2v 3v 4s", ADD, 5, 0, "10.0.0.5:7001", PGQ_REFUSED, 0,
         "monitor 4 is a standby: a change stopped half-way"},
        {"1v 2v 3v 4p", REM, 2, 0, NULL, PGQ_REFUSED, 0,
         "monitor 4 is a spare: a change stopped half-way"},
        /* at most 9 */
        {"1v 2v 3v 4v 5v 6v 7v 8v 9v", ADD, 10, 0, "10.0.0.10:7001", PGQ_LIMIT, 0,
         "the group has 9 voters, the most pgquorum supports (9): remove one first"},
        {"1v 2v 3v 4v 5v 6v 7v 8v 9v", REP, 10, 1, "10.0.0.10:7001", PGQ_LIMIT, 0,
         "(a replace adds before it removes)"},
        /* remove */
        {"1v 2v 3v", REM, 7, 0, NULL, PGQ_NOTFOUND, 0,
         "monitor 7 is not in the Raft configuration (members: 1, 2, 3)"},
        {"1v", REM, 1, 0, NULL, PGQ_REFUSED, 0,
         "monitor 1 is the only voter: the group would have none left"},
        {"1v 2v 3v", REM, 1, 0, NULL, 0, MEMBERS_TRANSFER, "monitor 1 leads: it hands leadership"},
        {"1v 2v! 3v!", REM, 1, 0, NULL, PGQ_REFUSED, 0, "fewer than a majority"},
        {"1v 2v 3v!", REM, 2, 0, NULL, PGQ_REFUSED, 0,
         "removing monitor 2 would leave 2 voters of which 1 answers, fewer than a majority (2)"},
        {"1v 2v 3v!", REM, 3, 0, NULL, 0, MEMBERS_REMOVE, ""},
        {"1v 2v 3v 4s", REM, 4, 0, NULL, 0, MEMBERS_REMOVE, ""},
        {"1v 2v 3v 4v 5v", REM, 5, 0, NULL, 0, MEMBERS_REMOVE, ""},
        {"1v 2v 3v", REM, 2, 0, "10.0.0.2:7001", PGQ_INVALID, 0, "a remove takes no address"},
        /* replace: the new one in as for an add, then the old one out */
        {"1v 2v 3v", REP, 4, 3, A4, 0, MEMBERS_ADD, ""},
        {"1v 2v 3v! 4s:1000", REP, 4, 3, A4, 0, MEMBERS_VOTER, ""},
        {"1v 2v 3v! 4v", REP, 4, 3, A4, 0, MEMBERS_REMOVE, ""},
        {"1v 2v 4v", REP, 4, 3, A4, 0, MEMBERS_DONE,
         "monitor 4 replaced monitor 3: it votes, and 3 is out of the configuration"},
        {"1v 2v 3v 4v", REP, 4, 1, A4, 0, MEMBERS_TRANSFER, ""},
        {"1v 2v 3v", REP, 8, 7, "10.0.0.8:7001", PGQ_NOTFOUND, 0,
         "monitor 7 is not in the Raft configuration: nothing to replace"},
        {"1v 2v 3v", REP, 3, 3, A4, PGQ_INVALID, 0, "monitor 3 cannot replace itself"},
        {"1v 2v 3s", REP, 4, 3, A4, PGQ_REFUSED, 0, "monitor 3 is a standby, not a voter"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const struct plan_case *k = &cases[i];
        struct members_conf conf;
        struct members_plan plan;
        struct cmd_member rq = request(k->op, k->id, k->old_id, k->raft);
        int rv;
        conf_of(k->conf, &conf);
        rv = members_next(&conf, NULL, &rq, 64, &plan);
        if (rv != k->want_rv || (rv == 0 && plan.action != k->want_action) ||
            strstr(plan.why, k->why) == NULL) {
            fail_msg("case %zu (%s, %s %" PRIu64 "): %d %s \"%s\", want %d %s \"%s\"", i, k->conf,
                     pgq_member_op_name(k->op), k->id, rv, members_action_name(plan.action),
                     plan.why, k->want_rv, members_action_name(k->want_action), k->why);
        }
        if (rv != 0 && rv != PGQ_UNAVAILABLE) {
            assert_true(plan.why[0] != '\0'); /* one line saying why */
        }
    }
}

static void test_next_api_address_taken(void **ctx)
{
    /* The new monitor's API address may not be another member's (as the state knows them). */
    struct state *s = *ctx;
    struct members_conf conf;
    struct members_plan plan;
    struct cmd_member rq = request(ADD, 4, 0, A4);
    b_hello(s, 1000, 1, 3);
    conf_of("1v 2v 3v", &conf);
    pgq_strlcpy(rq.api_address, "10.0.0.1:7002", sizeof rq.api_address); /* monitor 1's */
    assert_int_equal(members_next(&conf, s, &rq, 64, &plan), PGQ_EXISTS);
    assert_string_equal(plan.why, "API address 10.0.0.1:7002 is monitor 1's");
    pgq_strlcpy(rq.api_address, "10.0.0.4:7002", sizeof rq.api_address);
    assert_int_equal(members_next(&conf, s, &rq, 64, &plan), 0);
    assert_int_equal(plan.action, MEMBERS_ADD);
}

static void test_next_changing(void **ctx)
{
    /* While libraft commits a change, the answer is "ask again", whatever the request. */
    struct members_conf conf;
    struct members_plan plan;
    struct cmd_member rq = request(REM, 3, 0, NULL);
    (void)ctx;
    conf_of("1v 2v 3v 4s", &conf);
    conf.changing = true;
    assert_int_equal(members_next(&conf, NULL, &rq, 64, &plan), PGQ_UNAVAILABLE);
    assert_non_null(strstr(plan.why, "still being committed"));
}

/* Carry out plan on conf as libraft would (WAIT: the standby catches up;
 * TRANSFER: monitor 2 leads from now). */
static void carry_out(struct members_conf *conf, const struct members_plan *plan)
{
    struct members_server *sv = NULL;
    for (unsigned i = 0; i < conf->n; i++) {
        sv = conf->servers[i].id == plan->id ? &conf->servers[i] : sv;
    }
    switch (plan->action) {
        case MEMBERS_ADD:
            sv = &conf->servers[conf->n++];
            memset(sv, 0, sizeof *sv);
            sv->id = plan->id;
            pgq_strlcpy(sv->address, plan->address, sizeof sv->address);
            sv->role = MEMBERS_ROLE_SPARE;
            sv->live = true;
            break;
        case MEMBERS_STANDBY:
            sv->role = MEMBERS_ROLE_STANDBY;
            break;
        case MEMBERS_WAIT:
            sv->match_index = conf->last_index;
            break;
        case MEMBERS_VOTER:
            sv->role = MEMBERS_ROLE_VOTER;
            break;
        case MEMBERS_REMOVE:
            *sv = conf->servers[--conf->n];
            break;
        case MEMBERS_TRANSFER:
            conf->leader_id = 2;
            break;
        default:
            break;
    }
}

static void test_walk_to_the_end(void **ctx)
{
    /* Asking again after each step brings a replace of the leader itself to its end from any
     * point it may have stopped at: spare, standby, voter, handed over, removed. */
    static const char *const starts[] = {"1v 2v 3v", "1v 2v 3v 4p", "1v 2v 3v 4s",
                                         "1v 2v 3v 4s:1000", "1v 2v 3v 4v"};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(starts); i++) {
        struct members_conf conf;
        struct members_plan plan;
        struct cmd_member rq = request(REP, 4, 1, A4);
        unsigned steps = 0;
        char out[256];
        conf_of(starts[i], &conf);
        while (members_next(&conf, NULL, &rq, 64, &plan) == 0 && plan.action != MEMBERS_DONE) {
            carry_out(&conf, &plan);
            assert_true(++steps < 10);
        }
        assert_int_equal(plan.action, MEMBERS_DONE);
        members_describe(&conf, out, sizeof out);
        assert_string_equal(out, "4, 2, 3"); /* removing swapped 4 into 1's place */
    }
}

static void test_describe(void **ctx)
{
    /* The configuration in one line: the voters, then who is on the way in. */
    struct members_conf conf;
    char out[256];
    (void)ctx;
    conf_of("1v 2v 3v 4s 5p", &conf);
    members_describe(&conf, out, sizeof out);
    assert_string_equal(out, "1, 2, 3 (4 standby, 5 spare)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_table),
        cmocka_unit_test_setup_teardown(test_next_api_address_taken, b_setup_state,
                                        b_teardown_state),
        cmocka_unit_test(test_next_changing),
        cmocka_unit_test(test_walk_to_the_end),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
