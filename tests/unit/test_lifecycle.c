/* Unit tests of a cluster's life and of the history (feature level 6):
 * agent/cluster_remove.c (an emptied cluster is freed, cluster remove, the
 * epoch floor, a name registered again starts clean) and
 * agent/cluster_events.c (a bounded history per cluster, the events of no
 * cluster under their own bound, the merged listing, the recent index, the
 * snapshot's old and new formats). Every state is reached through
 * cluster_apply (builders.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "builders.h"
#include "cluster.h"
#include "codec.h"
#include "lib/util.h"
#include "metrics.h"
#include "policy.h"
#include "command.pb-c.h"
#include "state.pb-c.h"

/* failover_timeout, max_lag, tilt, view_max_age, cut_timeout */
static const struct policy_config PC = {5000, 1048576, false, 0, 2000};
static const char *const two_standbys[] = {"pg2", "pg3"};

/* ---- helpers ------------------------------------------------------------------------ */

/* A healthy cluster main (pg1 primary, pg2 and pg3 standbys) at `level`. */
static void healthy_at(struct state *s, unsigned level)
{
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    if (level > 1) {
        b_feature_to(s, 1000, level);
    }
}

/* Node `node` added to `cluster` (host=<node>). */
static void add_to(struct state *s, uint64_t t, const char *cluster, const char *node)
{
    char conninfo[PGQ_CONNINFO_MAX];
    struct command c;
    snprintf(conninfo, sizeof conninfo, "host=%s", node);
    c = b_cmd_node_add(t, cluster, node, conninfo, 50);
    b_apply(s, &c);
}

/* The failover of pg1 to pg2, promoted on timeline 2 (pg3 not repointed yet). */
static void promoted_pg2(struct state *s, uint64_t t)
{
    b_failover(s, t, "pg2");
    b_step(s, t + 100, PGQ_STEP_PROMOTED, "pg2", 2);
}

/* pg1 and pg2 registered in main again, seen (pg1 writable, pg2 in recovery) and given
 * roles the way the leader does. */
static void rebuild(struct state *s, uint64_t t)
{
    struct obs o[2];
    b_add(s, t, "pg1", 50);
    b_add(s, t, "pg2", 50);
    o[0] = b_writable(s, "pg1", 0x100);
    o[1] = b_recovering(s, "pg2", 0x100);
    for (uint64_t m = 1; m <= 3; m++) {
        struct command c = b_cmd_report(t, m, o, 2);
        b_apply(s, &c);
        command_close(&c);
    }
    b_set_role(s, t, "pg1", PGQ_ROLE_PRIMARY);
    b_set_role(s, t, "pg2", PGQ_ROLE_STANDBY);
}

/* The one repoint due on node (fails the test without one). */
static struct action repoint_of(const struct state *s, const char *node)
{
    struct action a[16];
    unsigned n = policy_actions(s, NULL, a, PGQ_ARRAY_SIZE(a));
    for (unsigned i = 0; i < n && i < PGQ_ARRAY_SIZE(a); i++) {
        if (a[i].kind == ACT_REPOINT && strcmp(a[i].node, node) == 0) {
            return a[i];
        }
    }
    fail_msg("no repoint of %s due", node);
    return a[0];
}

/* Events of cluster (NULL: all) in strictly increasing seq order; how many. */
static unsigned listed(const struct state *s, const char *cluster, unsigned limit)
{
    struct event_list l;
    unsigned n;
    assert_int_equal(state_events_list(s, cluster, limit, &l), 0);
    for (unsigned i = 1; i < l.n; i++) {
        assert_true(l.ev[i]->seq > l.ev[i - 1]->seq);
    }
    n = l.n;
    event_list_free(&l);
    return n;
}

/* The latest event of kind k in cluster's listing (NULL: none). */
static const struct event *latest_of(const struct state *s, const char *cluster, int k)
{
    struct event_list l;
    const struct event *e = NULL;
    assert_int_equal(state_events_list(s, cluster, 0, &l), 0);
    for (unsigned i = l.n; i-- > 0 && e == NULL;) {
        e = l.ev[i]->kind == k ? l.ev[i] : NULL;
    }
    event_list_free(&l);
    return e;
}

/* ---- an emptied cluster is freed ---------------------------------------------------- */

static void test_emptied_cluster_freed(void **ctx)
{
    /* At level 6 a cluster whose last node is removed goes, its removal recorded under its
     * name among the events of no cluster; creating and emptying more clusters than
     * PGQ_MAX_CLUSTERS one after the other never hits the limit. Below level 6 it stays. */
    struct state *s = *ctx;
    struct state old;
    const struct event *e;
    healthy_at(s, 6);
    b_remove(s, 2000, "pg2");
    b_remove(s, 2001, "pg3");
    b_remove(s, 2002, "pg1");
    assert_null(state_cluster(s, B_CLUSTER));
    assert_int_equal(s->n_clusters, 0);
    e = state_event_last(s);
    assert_int_equal(e->kind, PGQ_EV_CLUSTER);
    assert_string_equal(e->cluster, B_CLUSTER);
    assert_string_equal(e->message, "cluster main removed: its last node pg1 was removed");
    assert_int_equal(latest_of(s, B_CLUSTER, PGQ_EV_NODE_REMOVED)->seq, e->seq - 1);
    assert_int_equal(s->epoch_floor, 1);
    for (unsigned i = 0; i < PGQ_MAX_CLUSTERS + 44; i++) {
        char name[PGQ_NAME_MAX];
        struct command c;
        snprintf(name, sizeof name, "c%u", i);
        add_to(s, 3000 + i, name, "x");
        c = b_cmd_node_remove(3000 + i, "x");
        pgq_strlcpy(c.cluster, name, sizeof c.cluster);
        b_apply(s, &c);
    }
    assert_int_equal(s->n_clusters, 0);

    state_init(&old);
    b_healthy(&old, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_remove(&old, 2000, "pg2");
    b_remove(&old, 2001, "pg3");
    b_remove(&old, 2002, "pg1");
    assert_int_equal(b_cluster(&old)->n_nodes, 0); /* as before level 6 */
    state_close(&old);
}

/* ---- cluster remove ------------------------------------------------------------------- */

static const struct view_obs *no_own(void *arg, const char *cluster, const char *node)
{
    (void)arg;
    (void)cluster;
    (void)node;
    return NULL;
}

/* What a walk begun on s hands over, its pieces joined, with `between`
 * applied after its first step of `nodes` nodes. */
static char *walked(struct state *s, unsigned nodes, void (*between)(struct state *s))
{
    struct metrics_walk w;
    char *piece, *text = NULL;
    size_t len, total = 0;
    unsigned steps = 0;
    bool more;
    assert_int_equal(metrics_walk_begin(&w, s), 0);
    do {
        more = metrics_walk_step(&w, s, no_own, NULL, nodes);
        if (steps++ == 0 && between != NULL) {
            between(s);
        }
    } while (more);
    assert_true(steps >= 2);
    while (metrics_walk_piece(&w, &piece, &len)) {
        assert_true(len > 0 && piece[len - 1] == '\n');
        text = realloc(text, total + len + 1);
        assert_non_null(text);
        memcpy(text + total, piece, len);
        total += len;
        text[total] = '\0';
        free(piece);
    }
    assert_false(w.oom);
    metrics_walk_end(&w);
    return text;
}

static void remove_east_add_north(struct state *s)
{
    struct command c = b_cmd_cluster_remove(1500, "east", "user:amy");
    b_apply(s, &c);
    command_close(&c);
    add_to(s, 1600, "north", "n1");
}

static void test_metrics_walk(void **ctx)
{
    /* /metrics rendered a few clusters per turn of the loop gives the very bytes of one
     * render when nothing changes; a cluster removed between two steps is left out of
     * every family still to render and one added is left to the next scrape, and no
     * sample is ever written twice. */
    struct state *s = *ctx;
    struct metrics_buf b;
    char *whole, *text;
    size_t len;
    healthy_at(s, 6);
    add_to(s, 1100, "east", "e1");
    add_to(s, 1200, "west", "w1");
    metrics_init(&b);
    metrics_state(&b, s, no_own, NULL);
    whole = metrics_take(&b, &len);
    assert_non_null(whole);
    text = walked(s, 1, NULL);
    assert_string_equal(text, whole);
    free(text);

    /* The first step renders main (three nodes); east goes, north comes. */
    text = walked(s, 1, remove_east_add_north);
    assert_int_equal(b_count(text, "pgquorum_node_info{cluster=\"main\",node=\"pg1\""), 1);
    assert_int_equal(b_count(text, "pgquorum_node_up{cluster=\"main\",node=\"pg2\"}"), 1);
    assert_int_equal(b_count(text, "pgquorum_node_priority{cluster=\"west\",node=\"w1\"}"), 1);
    assert_int_equal(b_count(text, "pgquorum_cluster_epoch{cluster=\"west\"}"), 1);
    assert_null(strstr(text, "cluster=\"east\""));
    assert_null(strstr(text, "cluster=\"north\""));
    assert_int_equal(b_count(text, "# TYPE pgquorum_node_up "), 1);
    free(text);
    free(whole);
}

static void test_cluster_remove(void **ctx)
{
    /* cluster remove takes a cluster and its nodes out of the state, recorded with who asked,
     * and leaves the others; it is refused (nothing changed) for an unknown cluster, below
     * level 6, and while a switchover is scheduled or a failover is cutting, promoting or
     * repointing (invariant 3: a committed decision is carried out, never dropped); the epochs
     * it used are never given again, across a snapshot. */
    struct state *s = *ctx;
    struct state copy;
    struct agent_facts f = b_agent_facts(true);
    struct command c;
    const struct event *e;

    state_init(&copy);
    healthy_at(&copy, 5);
    c = b_cmd_cluster_remove(1500, B_CLUSTER, "user:amy");
    b_refused(&copy, &c, PGQ_VERSION, "feature level");
    state_close(&copy);

    healthy_at(s, 6);
    add_to(s, 1100, "east", "e1");
    c = b_cmd_cluster_remove(1500, "nowhere", "user:amy");
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster nowhere");

    b_agent(s, 1200, "pg1", &f);
    b_switchover(s, 1300, "pg2", 0);
    c = b_cmd_cluster_remove(1500, B_CLUSTER, "user:amy");
    b_refused(s, &c, PGQ_REFUSED,
              "cluster main cannot be removed now: a switchover of it is scheduled; cancel it "
              "first (pgquorumctl switchover --cancel --cluster main)");
    c = b_cmd_node_remove(1500, "pg2");
    b_refused(s, &c, PGQ_REFUSED,
              "node pg2 is the target of the switchover of cluster main: cancel it first");
    c = b_cmd_switchover_cancel(1600, "bob");
    b_apply(s, &c);

    b_cut(s, 2000);
    c = b_cmd_cluster_remove(2001, B_CLUSTER, "user:amy");
    b_refused(s, &c, PGQ_REFUSED,
              "cluster main cannot be removed now: a failover is cutting its standbys off the "
              "primary (epoch 2); remove it once the failover is done");
    b_cut_standbys(s, 2002);
    {
        struct command d = b_cmd_decide(2003, "pg2", 2, "pg1");
        d.u.decide.round = b_cluster(s)->fo.round;
        d.u.decide.candidate_lsn = b_node(s, "pg2")->cut_lsn;
        b_apply(s, &d);
    }
    c = b_cmd_cluster_remove(2004, B_CLUSTER, "user:amy");
    b_refused(s, &c, PGQ_REFUSED, "a failover is promoting its candidate");
    b_step(s, 2005, PGQ_STEP_PROMOTED, "pg2", 2);
    c = b_cmd_cluster_remove(2006, B_CLUSTER, "user:amy");
    b_refused(s, &c, PGQ_REFUSED, "a failover is repointing its standbys at the new primary");
    b_step(s, 2007, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, 2008, PGQ_STEP_DONE, NULL, 0);

    c = b_cmd_cluster_remove(3000, B_CLUSTER, "user:amy");
    b_apply(s, &c);
    assert_null(state_cluster(s, B_CLUSTER));
    assert_non_null(cluster_node(state_cluster(s, "east"), "e1"));
    e = state_event_last(s);
    assert_int_equal(e->kind, PGQ_EV_CLUSTER);
    assert_string_equal(e->cluster, B_CLUSTER);
    assert_string_equal(e->message,
                        "cluster main removed from monitoring with its 3 nodes (PostgreSQL "
                        "untouched)");
    assert_string_equal(e->who, "user:amy");
    assert_string_equal(e->from, "127.0.0.1");
    assert_string_equal(e->outcome, "ok");
    assert_int_equal(e->action, AUTHZ_CLUSTER_REMOVE);
    assert_int_equal(authz_action_of_command(&c), AUTHZ_CLUSTER_REMOVE);
    /* Shown for main still, not for east (it names another cluster). */
    assert_int_equal(latest_of(s, B_CLUSTER, PGQ_EV_CLUSTER)->seq, e->seq);
    assert_null(latest_of(s, "east", PGQ_EV_CLUSTER));
    assert_int_equal(s->epoch_floor, 2);
    c = b_cmd_cluster_remove(3001, B_CLUSTER, "user:amy");
    b_refused(s, &c, PGQ_NOTFOUND, "no cluster main");

    /* The floor goes through a snapshot: main registered again starts above it. */
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    assert_int_equal(copy.epoch_floor, 2);
    rebuild(&copy, 4000);
    assert_int_equal(b_cluster(&copy)->epoch, 3);
    state_close(&copy);
}

/* ---- a name registered again starts clean ----------------------------------------------- */

static void test_rebuilt_cluster_inherits_below_6(void **ctx)
{
    /* The bug of issue 12, below level 6: a cluster emptied during a failover's repointing and
     * rebuilt under its name keeps the old failover (promoted, its timeline, its names), so the
     * leader plans a "failover done" for nodes that are gone and, once the new standby
     * follows, commits one for a failover that never happened; and a node registered again
     * under a name at the same epoch is the same action to the actuator, whose job of the old
     * registration (old conninfo) then never sees it stream. */
    struct state *s = *ctx;
    struct action before, after;
    struct command c;
    const char *conninfo = "host=elsewhere port=5433";
    healthy_at(s, 5);
    promoted_pg2(s, 2000);
    before = repoint_of(s, "pg3");
    b_remove(s, 3000, "pg3");
    c = b_cmd_node_add(3001, B_CLUSTER, "pg3", conninfo, 50);
    b_apply(s, &c);
    {
        struct obs o = b_recovering(s, "pg3", 0x1000);
        b_report_by(s, 3002, 1, 3, &o);
        b_set_role(s, 3003, "pg3", PGQ_ROLE_STANDBY);
    }
    after = repoint_of(s, "pg3");
    assert_string_equal(after.conninfo, conninfo);
    assert_true(policy_action_same(&before, &after)); /* the old job would go on */

    b_remove(s, 4000, "pg1");
    b_remove(s, 4001, "pg3");
    b_remove(s, 4002, "pg2");
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_PROMOTED);
    rebuild(s, 5000);
    assert_int_equal(b_cluster(s)->epoch, 3);
    assert_int_equal(b_cluster(s)->fo.epoch, 2);
    assert_int_equal(b_cluster(s)->fo.timeline, 2);
    assert_string_equal(b_cluster(s)->fo.candidate, "pg2");
    b_step(s, 5001, PGQ_STEP_REPOINTED, "pg2", 0);
    c = b_cmd_step(5002, PGQ_STEP_DONE, NULL, 3, 0);
    b_apply(s, &c);
    b_assert_contains(state_event_last(s)->message, "failover to pg1 done");
}

static void test_rebuilt_cluster_starts_clean(void **ctx)
{
    /* At level 6 the same rebuild starts from nothing: no failover, no timeline, epochs above
     * the old ones (the floor), nothing planned for the old failover; and a node registered
     * again under its name is another action (its registration), so that no job of the old one
     * goes on, and the names it had in other nodes' synchronous lists are gone. */
    struct state *s = *ctx;
    struct action before, after;
    struct command c;
    struct command plan;
    struct obs w;
    const struct cluster *cl;
    healthy_at(s, 6);
    w = b_writable(s, "pg1", 0x1000);
    pgq_strlcpy(w.sync_standbys, "pg2,pg3", sizeof w.sync_standbys);
    b_report_by(s, 1500, 1, 3, &w);
    assert_int_equal(b_node(s, "pg1")->n_sync, 2);
    promoted_pg2(s, 2000);
    before = repoint_of(s, "pg3");
    assert_int_equal(before.reg_seq, 0); /* registered below level 6 */
    b_remove(s, 3000, "pg3");
    assert_int_equal(b_node(s, "pg1")->n_sync, 1);
    assert_string_equal(b_node(s, "pg1")->sync[0].name, "pg2");
    c = b_cmd_node_add(3001, B_CLUSTER, "pg3", "host=elsewhere port=5433", 50);
    b_apply(s, &c);
    {
        struct obs o = b_recovering(s, "pg3", 0x1000);
        b_report_by(s, 3002, 1, 3, &o);
        b_set_role(s, 3003, "pg3", PGQ_ROLE_STANDBY);
    }
    after = repoint_of(s, "pg3");
    assert_int_not_equal(after.reg_seq, 0);
    assert_false(policy_action_same(&before, &after));
    assert_false(policy_action_due(s, NULL, &before));
    assert_true(policy_action_due(s, NULL, &after));

    b_remove(s, 4000, "pg1");
    b_remove(s, 4001, "pg3");
    b_remove(s, 4002, "pg2");
    assert_null(state_cluster(s, B_CLUSTER));
    assert_false(b_plan(s, &PC, 4500, &plan)); /* nothing of the old failover */
    b_add(s, 5000, "pg1", 50);
    cl = b_cluster(s);
    assert_int_equal(cl->epoch, 0); /* no primary known yet: agents may start theirs */
    assert_int_equal(cl->fo.phase, PGQ_FO_NONE);
    assert_int_equal(cl->n_nodes, 1);
    assert_int_equal(listed(s, B_CLUSTER, 0), listed(s, NULL, 0));
    b_remove(s, 5001, "pg1");
    rebuild(s, 6000);
    cl = b_cluster(s);
    assert_int_equal(cl->epoch, 3); /* above epoch 2, the old one's last */
    assert_int_equal(cl->fo.phase, PGQ_FO_NONE);
    assert_int_equal(cl->fo.epoch, 0);
    assert_int_equal(cl->fo.timeline, 0);
    assert_int_equal(cl->timeline, 0);
    assert_string_equal(cl->fo.candidate, "");
    assert_string_equal(cl->fo.floor_primary, "");
    assert_int_equal(cl->prev_fo.phase, PGQ_FO_NONE);
    assert_int_equal(cl->sync.set.seq, 0);
    assert_int_equal(cl->members_gen, 2);
    after = repoint_of(s, "pg2");
    assert_int_equal(after.epoch, 3);
    assert_int_equal(after.timeline, 0);
    assert_int_equal(after.reg_seq, b_node(s, "pg2")->reg_seq);
    assert_false(b_plan(s, &PC, 6500, &plan) && plan.kind == CMD_STEP);
}

/* ---- the history, per cluster ------------------------------------------------------------ */

/* A failover of main to pg2, done: its events' kinds. */
static const int failover_kinds[] = {PGQ_EV_CUT, PGQ_EV_DECISION, PGQ_EV_PROMOTED, PGQ_EV_REPOINTED,
                                     PGQ_EV_FAILOVER_DONE};

static void failover_done(struct state *s, uint64_t t)
{
    promoted_pg2(s, t);
    b_step(s, t + 200, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, t + 300, PGQ_STEP_DONE, NULL, 0);
}

static void assert_failover_kept(const struct state *s)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(failover_kinds); i++) {
        const struct event *e = latest_of(s, B_CLUSTER, failover_kinds[i]);
        if (e == NULL) {
            fail_msg("no %s event of main left", pgq_event_kind_name(failover_kinds[i]));
        }
        assert_string_equal(e->cluster, B_CLUSTER);
    }
}

static void test_history_per_cluster(void **ctx)
{
    /* One cluster's flood of events (and a flood of audit records) never pushes another's
     * failover out: each cluster keeps its latest events_per_cluster, the events of no cluster
     * (audit records included, whatever cluster they name) their latest events_global; a
     * cluster's listing is its own and those of no cluster, merged in seq order; the whole
     * listing merges every history; the recent index ends with the latest event; and all of
     * it goes through a snapshot and on from there exactly alike. */
    struct state *s = *ctx;
    struct state copy;
    const struct cluster *east;
    struct event_list l;
    struct command c;
    uint64_t last_east = 0;
    healthy_at(s, 6);
    add_to(s, 1100, "east", "e1");
    failover_done(s, 2000);
    for (unsigned i = 0; i < PGQ_MAX_EVENTS + 100; i++) {
        c = b_cmd_maintenance(3000 + i, "e1", i % 2 == 0);
        pgq_strlcpy(c.cluster, "east", sizeof c.cluster);
        b_apply(s, &c);
    }
    last_east = state_event_last(s)->seq;
    for (unsigned i = 0; i < PGQ_EVENTS_GLOBAL + 200; i++) {
        c = b_cmd_audit(4000 + i, "user:mallory", AUTHZ_NODE_REMOVE, "denied: no");
        b_apply(s, &c);
    }
    east = state_cluster(s, "east");
    assert_int_equal(east->events.n, PGQ_EVENTS_PER_CLUSTER);
    assert_int_equal(event_ring_last(&east->events)->seq, last_east);
    assert_int_equal(s->events.n, PGQ_EVENTS_GLOBAL);
    assert_int_equal(event_ring_last(&s->events)->kind, PGQ_EV_AUDIT);
    assert_string_equal(event_ring_last(&s->events)->cluster, B_CLUSTER);
    assert_true(b_cluster(s)->events.n < PGQ_EVENTS_PER_CLUSTER);
    assert_failover_kept(s);

    /* Listings: main's has no event of east; east's latest 5 end with its last; all of
     * them merge to every history's size. */
    assert_int_equal(state_events_list(s, B_CLUSTER, 0, &l), 0);
    for (unsigned i = 0; i < l.n; i++) {
        assert_true(strcmp(l.ev[i]->cluster, "east") != 0);
    }
    event_list_free(&l);
    assert_int_equal(state_events_list(s, "east", 5, &l), 0);
    assert_int_equal(l.n, 5);
    event_list_free(&l);
    assert_int_equal(listed(s, NULL, 0), s->events.n + east->events.n + b_cluster(s)->events.n);
    assert_int_equal(listed(s, NULL, 7), 7);
    assert_int_equal(state_event_last(s)->seq, s->event_seq);
    assert_int_equal(s->recent.n, PGQ_EVENTS_RECENT);
    for (unsigned i = 1; i < s->recent.n; i++) {
        assert_true(event_ring_at(&s->recent, i)->seq > event_ring_at(&s->recent, i - 1)->seq);
    }

    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    assert_int_equal(listed(&copy, NULL, 0), listed(s, NULL, 0));
    assert_int_equal(state_event_last(&copy)->seq, s->event_seq);
    assert_failover_kept(&copy);
    for (unsigned i = 0; i < 50; i++) {
        c = b_cmd_maintenance(9000 + i, "e1", i % 2 == 0);
        pgq_strlcpy(c.cluster, "east", sizeof c.cluster);
        b_apply(s, &c);
        b_apply(&copy, &c);
        c = b_cmd_audit(9000 + i, "user:mallory", AUTHZ_NODE_REMOVE, "denied: no");
        b_apply(s, &c);
        b_apply(&copy, &c);
    }
    b_assert_same(s, &copy);
    state_close(&copy);
}

static void test_history_bounds(void **ctx)
{
    /* The leader commits the bounds of its configuration (policy), which apply keeps on every
     * monitor: lowered, every history is trimmed to its latest at once, with an event; a bound
     * beyond PGQ_EVENTS_BOUND_MAX or below level 6 is refused; the bounds go through a snapshot. */
    struct state *s = *ctx;
    struct state copy;
    struct policy_config pc = PC;
    struct command c, plan;
    healthy_at(s, 6);
    failover_done(s, 2000);
    assert_false(b_plan(s, &PC, 3000, &plan) && plan.kind == CMD_FEATURE);
    pc.events_per_cluster = 4;
    pc.events_global = 3;
    assert_true(b_plan(s, &pc, 3000, &plan));
    assert_int_equal(plan.kind, CMD_FEATURE);
    assert_int_equal(plan.u.feature.level, 6);
    assert_int_equal(plan.u.feature.events_per_cluster, 4);
    assert_int_equal(plan.u.feature.events_global, 3);
    assert_int_equal(cluster_command_level(&plan), 6);
    plan.time_ms = 3000;
    b_apply(s, &plan);
    assert_int_equal(s->events_per_cluster, 4);
    assert_int_equal(s->events_global, 3);
    assert_int_equal(b_cluster(s)->events.n, 4);
    assert_int_equal(s->events.n, 3);
    assert_string_equal(state_event_last(s)->message,
                        "event history: the latest 4 events of each cluster, 3 of no cluster");
    assert_int_equal(event_ring_last(&b_cluster(s)->events)->kind, PGQ_EV_FAILOVER_DONE);
    assert_false(b_plan(s, &pc, 3100, &plan) && plan.kind == CMD_FEATURE);

    c = b_cmd_feature(3200, 6);
    c.u.feature.events_per_cluster = PGQ_EVENTS_BOUND_MAX + 1;
    b_refused(s, &c, PGQ_INVALID, "event history bounds");
    state_init(&copy);
    b_copy(&copy, s);
    b_assert_same(s, &copy);
    assert_int_equal(copy.events_per_cluster, 4);
    state_close(&copy);

    state_init(&copy);
    healthy_at(&copy, 5);
    c = b_cmd_feature(3200, 5);
    c.u.feature.events_per_cluster = 10;
    b_refused(&copy, &c, PGQ_VERSION, "feature level");
    assert_false(b_plan(&copy, &pc, 3000, &plan) && plan.kind == CMD_FEATURE &&
                 plan.u.feature.events_per_cluster != 0);
    state_close(&copy);
}

static void test_history_level_raised(void **ctx)
{
    /* Below level 6 every event is in one ring of PGQ_MAX_EVENTS, as before; raising the level
     * to 6 moves each cluster's events to its own history, in order, the listing unchanged. */
    struct state *s = *ctx;
    unsigned before;
    uint64_t first, last;
    healthy_at(s, 5);
    add_to(s, 1100, "east", "e1");
    assert_int_equal(b_cluster(s)->events.n, 0);
    before = listed(s, NULL, 0);
    assert_int_equal(s->events.n, before);
    first = b_event(s, 0)->seq;
    last = state_event_last(s)->seq;
    b_feature_to(s, 1200, 6);
    assert_int_equal(listed(s, NULL, 0), before + 1);
    assert_int_equal(b_event(s, 0)->seq, first);
    assert_int_equal(b_event(s, before - 1)->seq, last);
    assert_true(b_cluster(s)->events.n > 0);
    assert_int_equal(state_cluster(s, "east")->events.n, 1);
    for (unsigned i = 0; i < s->events.n; i++) {
        const struct event *e = event_ring_at(&s->events, i);
        assert_true(e->kind == PGQ_EV_LEADER || e->kind == PGQ_EV_FEATURE);
    }
}

/* ---- the snapshot's formats ------------------------------------------------------------- */

static void test_snapshot_old_format(void **ctx)
{
    /* A snapshot of the first format (level 5: every event in State.events, with its cluster's
     * name, none in a Cluster) is read as it was written, and goes on like its original once
     * the level is raised; the new format keeps a cluster's history in its Cluster, each
     * event without the name. */
    struct state *s = *ctx;
    struct state back;
    Pgq__Snapshot *m;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    healthy_at(s, 5);
    b_encode(s, &buf, &len);
    m = pgq__snapshot__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_int_equal(m->state->n_clusters, 1);
    assert_int_equal(m->state->clusters[0]->n_events, 0);
    assert_true(m->state->n_events > 5);
    assert_false(m->state->has_events_per_cluster || m->state->has_epoch_floor);
    assert_string_equal(m->state->events[m->state->n_events - 2]->cluster, B_CLUSTER);
    pgq__snapshot__free_unpacked(m, NULL);
    assert_int_equal(codec_state_decode(buf, len, &back, err, sizeof err), 0);
    free(buf);
    assert_int_equal(listed(&back, NULL, 0), listed(s, NULL, 0));
    assert_int_equal(state_event_last(&back)->seq, state_event_last(s)->seq);
    b_feature_to(s, 2000, 6);
    b_feature_to(&back, 2000, 6);
    b_assert_same(s, &back);
    state_close(&back);

    b_encode(s, &buf, &len);
    m = pgq__snapshot__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_true(m->state->clusters[0]->n_events > 0);
    assert_string_equal(m->state->clusters[0]->events[0]->cluster, "");
    for (size_t i = 0; i < m->state->n_events; i++) {
        assert_string_equal(m->state->events[i]->cluster, "");
    }
    pgq__snapshot__free_unpacked(m, NULL);
    free(buf);
}

/* Encode s with one change made to its message by `edit`; decode it. */
static int decode_edited(const struct state *s,
                         void (*edit)(Pgq__Snapshot *m),
                         char *err,
                         size_t errsize)
{
    struct state back;
    Pgq__Snapshot *m;
    uint8_t *buf, *bad;
    size_t len;
    int rv;
    b_encode(s, &buf, &len);
    m = pgq__snapshot__unpack(NULL, len, buf);
    assert_non_null(m);
    edit(m);
    len = pgq__snapshot__get_packed_size(m);
    bad = malloc(len);
    assert_non_null(bad);
    pgq__snapshot__pack(m, bad);
    rv = codec_state_decode(bad, len, &back, err, errsize);
    if (rv == 0) {
        state_close(&back);
    }
    pgq__snapshot__free_unpacked(m, NULL);
    free(buf);
    free(bad);
    return rv;
}

static void name_another_cluster(Pgq__Snapshot *m)
{
    char *east = malloc(5);
    assert_non_null(east);
    memcpy(east, "east", 5);
    free(m->state->clusters[0]->events[0]->cluster);
    m->state->clusters[0]->events[0]->cluster = east;
}

static void lower_bound(Pgq__Snapshot *m)
{
    m->state->has_events_per_cluster = true;
    m->state->events_per_cluster = 2;
}

static void swap_events(Pgq__Snapshot *m)
{
    Pgq__Event *e = m->state->clusters[0]->events[0];
    m->state->clusters[0]->events[0] = m->state->clusters[0]->events[1];
    m->state->clusters[0]->events[1] = e;
}

static void seq_beyond(Pgq__Snapshot *m)
{
    m->state->event_seq = m->state->clusters[0]->events[0]->seq;
}

static void seq_twice(Pgq__Snapshot *m)
{
    m->state->events[0]->seq = m->state->clusters[0]->events[0]->seq;
}

static void zero_bound(Pgq__Snapshot *m)
{
    m->state->has_events_global = true;
    m->state->events_global = 0;
}

static void test_snapshot_history_checked(void **ctx)
{
    /* A snapshot whose history breaks its rules is refused with a line naming it: a cluster's
     * event naming another cluster, a history beyond its bound, events out of seq order, one
     * seq in two histories or beyond the state's event_seq (the next events would repeat it),
     * a bound of 0. */
    struct state *s = *ctx;
    static const struct
    {
        void (*edit)(Pgq__Snapshot *m);
        const char *needle;
    } rows[] = {
        {name_another_cluster, "cluster main: an event of its history names cluster east"},
        {lower_bound, "field cluster.events has 11 entries, more than 2"},
        {swap_events, "state.events: seq"},
        {seq_beyond, "beyond state.event_seq"},
        {seq_twice, "twice, or beyond"},
        {zero_bound, "event history bounds 100 and 0 out of 1..100000"},
    };
    healthy_at(s, 6);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(rows); i++) {
        char err[256] = "";
        int rv = decode_edited(s, rows[i].edit, err, sizeof err);
        if (rv == 0) {
            fail_msg("row %zu: accepted", i);
        }
        if (strstr(err, rows[i].needle) == NULL) {
            fail_msg("row %zu: \"%s\", want \"%s\"", i, err, rows[i].needle);
        }
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_emptied_cluster_freed),
        T(test_cluster_remove),
        T(test_metrics_walk),
        T(test_rebuilt_cluster_inherits_below_6),
        T(test_rebuilt_cluster_starts_clean),
        T(test_history_per_cluster),
        T(test_history_bounds),
        T(test_history_level_raised),
        T(test_snapshot_old_format),
        T(test_snapshot_history_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
