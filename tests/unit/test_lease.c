/* Unit tests of agent/lease.c: the agent's lease state machine (measured
 * from the moment the renewal was sent, fenced `margin` before its end) and
 * the leader's lease book (grants and heartbeats on its own clock, nothing
 * kept across leaders). Time is a number the test passes in; the states the
 * leader's rules read are reached through cluster_apply (builders.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "cluster.h"
#include "lease.h"
#include "lib/util.h"

#define LEASE_MS 4000
#define DRIFT_MS 500
#define MARGIN_MS 500

static const char *const two_standbys[] = {"pg2", "pg3"};

/* ---- the agent's side ---------------------------------------------------------------- */

/* A lease granted to the renewal sent at `sent`. */
static void granted(struct agent_lease *l, uint64_t sent, uint64_t length)
{
    lease_agent_sending(l, sent);
    lease_agent_reply(l, length, false);
}

static void test_agent_lease_from_send_time(void **ctx)
{
    /* A grant runs from the moment its renewal was SENT, however late the reply arrives: the
     * agent must have fenced by sent + length - margin, and its lease lapses right then. */
    static const struct
    {
        uint64_t sent, length, margin, deadline;
    } cases[] = {
        {1000, 4000, 500, 4500},
        {1000, 4000, 50, 4950},
        {0x100000000ull, 4000, 500, 0x100000000ull + 3500},
        {7, 1000, 999, 8},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct agent_lease l;
        lease_agent_init(&l, cases[i].margin);
        assert_int_equal(l.state, LEASE_NONE);
        assert_int_equal(lease_agent_deadline(&l), 0);
        lease_agent_sending(&l, cases[i].sent);
        /* The reply takes most of the lease to arrive: nothing of that moves the end. */
        lease_agent_reply(&l, cases[i].length, false);
        assert_int_equal(l.state, LEASE_HELD);
        assert_int_equal(l.pending_ms, 0);
        assert_int_equal(lease_agent_deadline(&l), cases[i].deadline);
        assert_true(lease_agent_valid(&l, cases[i].sent));
        assert_true(lease_agent_valid(&l, cases[i].deadline - 1));
        assert_int_equal(l.state, LEASE_HELD);
        assert_false(lease_agent_valid(&l, cases[i].deadline));
        assert_int_equal(l.state, LEASE_LAPSED);
        assert_int_equal(lease_agent_deadline(&l), 0);
        /* Lapsed stays lapsed, even asked about an earlier instant. */
        assert_false(lease_agent_valid(&l, cases[i].sent));
        assert_int_equal(l.state, LEASE_LAPSED);
    }
}

static void test_agent_lease_renewed_after_lapse(void **ctx)
{
    /* A lapsed lease is held again by the next grant, from that renewal's sending time. */
    struct agent_lease l;
    (void)ctx;
    lease_agent_init(&l, MARGIN_MS);
    granted(&l, 1000, LEASE_MS);
    assert_false(lease_agent_valid(&l, 4500));
    assert_int_equal(l.state, LEASE_LAPSED);
    granted(&l, 6000, LEASE_MS);
    assert_int_equal(l.state, LEASE_HELD);
    assert_int_equal(lease_agent_deadline(&l), 9500);
    assert_true(lease_agent_valid(&l, 9499));
}

static void test_agent_lease_revoked(void **ctx)
{
    /* The quorum saying a failover over the node began revokes the lease from any state, at
     * once and whatever length comes with it; a later grant (the failover abandoned) holds it
     * again. */
    static const int from[] = {LEASE_NONE, LEASE_HELD, LEASE_LAPSED, LEASE_REVOKED};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(from); i++) {
        struct agent_lease l;
        lease_agent_init(&l, MARGIN_MS);
        if (from[i] != LEASE_NONE) {
            granted(&l, 1000, LEASE_MS);
        }
        if (from[i] == LEASE_LAPSED) {
            assert_false(lease_agent_valid(&l, 4500));
        }
        if (from[i] == LEASE_REVOKED) {
            lease_agent_sending(&l, 1500);
            lease_agent_reply(&l, 0, true);
        }
        assert_int_equal(l.state, from[i]);
        lease_agent_sending(&l, 2000);
        lease_agent_reply(&l, LEASE_MS, true);
        assert_int_equal(l.state, LEASE_REVOKED);
        assert_int_equal(l.pending_ms, 0);
        assert_int_equal(lease_agent_deadline(&l), 0);
        assert_false(lease_agent_valid(&l, 2000));
        assert_int_equal(l.state, LEASE_REVOKED);
        /* A reply that grants nothing leaves it revoked. */
        lease_agent_sending(&l, 2500);
        lease_agent_reply(&l, 0, false);
        assert_int_equal(l.state, LEASE_REVOKED);
        granted(&l, 3000, LEASE_MS);
        assert_int_equal(l.state, LEASE_HELD);
        assert_int_equal(lease_agent_deadline(&l), 6500);
    }
}

static void test_agent_lease_end_never_moves_back(void **ctx)
{
    /* A grant that would end the lease earlier than the one held (a shorter renewal of a new
     * leader, or one ending at the same instant) never moves its end back; one that ends later
     * moves it on. */
    static const struct
    {
        uint64_t sent, length; /* the second renewal */
        uint64_t deadline;     /* after its reply */
    } cases[] = {
        {2000, 2500, 4500}, /* would end at 4500 < 5000 */
        {2000, 3000, 4500}, /* the same end */
        {1000, 1000, 4500}, /* sent at the same time, shorter */
        {2000, 3001, 4501}, /* later by 1 ms */
        {3000, 4000, 6500},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct agent_lease l;
        lease_agent_init(&l, MARGIN_MS);
        granted(&l, 1000, LEASE_MS); /* ends at 5000, fenced by 4500 */
        granted(&l, cases[i].sent, cases[i].length);
        assert_int_equal(l.state, LEASE_HELD);
        if (lease_agent_deadline(&l) != cases[i].deadline) {
            fail_msg("case %zu: deadline %llu, want %llu", i,
                     (unsigned long long)lease_agent_deadline(&l),
                     (unsigned long long)cases[i].deadline);
        }
        assert_true(lease_agent_valid(&l, 4499));
    }
}

static void test_agent_lease_unusable_grants(void **ctx)
{
    /* A grant no longer than the fence margin, a reply that grants nothing and a reply with no
     * renewal in flight change nothing: a lease never outlives its own renewal. */
    static const struct
    {
        bool in_flight;
        uint64_t length;
        int state; /* after the reply, from none */
    } cases[] = {
        {true, 0, LEASE_NONE},         {true, 1, LEASE_NONE},
        {true, MARGIN_MS, LEASE_NONE}, {true, MARGIN_MS + 1, LEASE_HELD},
        {false, LEASE_MS, LEASE_NONE},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct agent_lease l, held;
        lease_agent_init(&l, MARGIN_MS);
        if (cases[i].in_flight) {
            lease_agent_sending(&l, 1000);
        }
        lease_agent_reply(&l, cases[i].length, false);
        if (l.state != cases[i].state) {
            fail_msg("case %zu: %s, want %s", i, lease_state_name(l.state),
                     lease_state_name(cases[i].state));
        }
        assert_int_equal(l.pending_ms, 0);
        if (l.state == LEASE_HELD) {
            assert_int_equal(lease_agent_deadline(&l), 1000 + cases[i].length - MARGIN_MS);
            continue;
        }
        /* The same reply to a held lease leaves it as it was. */
        granted(&l, 1000, LEASE_MS);
        held = l;
        if (cases[i].in_flight) {
            lease_agent_sending(&l, 2000);
        }
        lease_agent_reply(&l, cases[i].length, false);
        assert_int_equal(l.state, LEASE_HELD);
        assert_int_equal(l.sent_ms, held.sent_ms);
        assert_int_equal(l.length_ms, held.length_ms);
        assert_int_equal(lease_agent_deadline(&l), 4500);
    }
}

struct table_lines
{
    unsigned n;
    char lines[16][512];
};

static void collect_line(void *arg, const char *line)
{
    struct table_lines *t = arg;
    if (t->n < PGQ_ARRAY_SIZE(t->lines)) {
        pgq_strlcpy(t->lines[t->n], line, sizeof t->lines[0]);
    }
    t->n++;
}

static void test_agent_lease_table(void **ctx)
{
    /* The lease state machine prints as a table: a header, a rule and one row per state, in
     * order, each naming the states it may become. */
    struct table_lines t;
    (void)ctx;
    memset(&t, 0, sizeof t);
    lease_print_table(collect_line, &t);
    assert_int_equal(t.n, 2 + LEASE__N_STATES);
    assert_string_equal(t.lines[0], "| lease | may become | meaning |");
    assert_string_equal(t.lines[1], "|---|---|---|");
    for (int k = 0; k < LEASE__N_STATES; k++) {
        char head[64];
        snprintf(head, sizeof head, "| %s | ", lease_state_name(k));
        if (strncmp(t.lines[2 + k], head, strlen(head)) != 0) {
            fail_msg("row %d \"%s\" does not start with \"%s\"", k, t.lines[2 + k], head);
        }
    }
    b_assert_contains(t.lines[2 + LEASE_HELD], "| held | none, held, lapsed, revoked |");
    b_assert_contains(t.lines[2 + LEASE_REVOKED], "| revoked | none, held |");
    assert_string_equal(lease_state_name(LEASE__N_STATES), "?");
    assert_string_equal(lease_state_name(-1), "?");
}

/* ---- the leader's side ------------------------------------------------------------------ */

static void test_lease_end(void **ctx)
{
    /* A lease has ended for sure at the later of the last grant and the leader's takeover, plus
     * the length and the drift margin; expired from that instant on. */
    static const struct
    {
        uint64_t since;   /* this leader took over */
        uint64_t granted; /* 0: no grant */
        uint64_t end;
    } cases[] = {
        {10000, 0, 14500}, {10000, 10000, 14500}, {10000, 12000, 16500}, {0, 0, 4500}, {0, 1, 4501},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct lease_book b;
        lease_book_init(&b, LEASE_MS, DRIFT_MS);
        lease_book_reset(&b, cases[i].since);
        if (cases[i].granted != 0) {
            lease_granted(lease_entry_get(&b, B_CLUSTER, "pg1"), cases[i].granted);
        }
        if (lease_end_ms(&b, B_CLUSTER, "pg1") != cases[i].end) {
            fail_msg("case %zu: end %llu, want %llu", i,
                     (unsigned long long)lease_end_ms(&b, B_CLUSTER, "pg1"),
                     (unsigned long long)cases[i].end);
        }
        assert_false(lease_expired(&b, B_CLUSTER, "pg1", cases[i].end - 1));
        assert_true(lease_expired(&b, B_CLUSTER, "pg1", cases[i].end));
        /* Another node's grant is another lease. */
        assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg2"), cases[i].since + 4500);
        assert_int_equal(lease_end_ms(&b, "other", "pg1"), cases[i].since + 4500);
        lease_book_close(&b);
    }
}

static void test_lease_new_leader(void **ctx)
{
    /* A new leader knows no grant of its predecessors: it forgets its own, and holds every lease
     * for running until one whole lease (plus drift) after it took over. */
    struct lease_book b;
    (void)ctx;
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    lease_book_reset(&b, 1000);
    lease_granted(lease_entry_get(&b, B_CLUSTER, "pg1"), 5000);
    lease_entry_get(&b, B_CLUSTER, "pg2")->heard_ms = 5000;
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 9500);
    lease_book_reset(&b, 20000);
    assert_int_equal(b.n_entries, 0);
    assert_null(lease_entry_find(&b, B_CLUSTER, "pg1"));
    assert_null(lease_entry_find(&b, B_CLUSTER, "pg2"));
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 24500);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "never-heard"), 24500);
    assert_false(lease_expired(&b, B_CLUSTER, "pg1", 24499));
    assert_true(lease_expired(&b, B_CLUSTER, "pg1", 24500));
    lease_book_close(&b);
}

static void test_lease_book_follow(void **ctx)
{
    /* The book follows the monitor's leadership: ready in a term it was not reset for, it is a
     * new leader's book (reset at now); in the same term, or not ready, nothing changes. */
    static const struct
    {
        unsigned long long term; /* 0: not ready */
        uint64_t now;
        bool reset;
        uint64_t since; /* after */
    } steps[] = {
        {0, 1000, false, 0},    {3, 2000, true, 2000}, {3, 9000, false, 2000},
        {0, 9500, false, 2000}, {5, 9900, true, 9900}, {3, 12000, true, 12000},
    };
    struct lease_book b;
    (void)ctx;
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(steps); i++) {
        bool reset;
        lease_granted(lease_entry_get(&b, B_CLUSTER, "pg1"), steps[i].now - 1);
        reset = lease_book_follow(&b, steps[i].term, steps[i].now);
        if (reset != steps[i].reset || b.since_ms != steps[i].since) {
            fail_msg("step %zu: reset %d since %llu, want %d %llu", i, reset,
                     (unsigned long long)b.since_ms, steps[i].reset,
                     (unsigned long long)steps[i].since);
        }
        /* A reset forgets the grant just made; otherwise it stands. */
        assert_int_equal(b.n_entries, reset ? 0 : 1);
    }
    lease_book_close(&b);
}

static void test_lease_entries(void **ctx)
{
    /* Each node of each cluster has one entry, found again by name through the book's index as
     * it grows to thousands, and none after a new leader's reset. */
    enum { N = 3000 };
    struct lease_book b;
    char name[PGQ_NAME_MAX];
    (void)ctx;
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    for (unsigned i = 0; i < N; i++) {
        snprintf(name, sizeof name, "pg%u", i);
        lease_granted(lease_entry_get(&b, i % 2 ? "east" : "west", name), 1000 + i);
    }
    assert_int_equal(b.n_entries, N);
    assert_non_null(b.index);
    assert_true(b.index_cap >= 2 * N);
    for (unsigned i = 0; i < N; i++) {
        const struct lease_entry *e;
        snprintf(name, sizeof name, "pg%u", i);
        e = lease_entry_find(&b, i % 2 ? "east" : "west", name);
        assert_non_null(e);
        assert_int_equal(e->granted_ms, 1000 + i);
        assert_ptr_equal(lease_entry_get(&b, e->cluster, e->node), e);
        assert_null(lease_entry_find(&b, i % 2 ? "west" : "east", name));
    }
    assert_int_equal(b.n_entries, N);
    lease_book_reset(&b, 5000);
    assert_null(lease_entry_find(&b, "west", "pg0"));
    assert_null(lease_entry_find(&b, "east", "pg1"));
    lease_granted(lease_entry_get(&b, "east", "pg1"), 6000);
    assert_int_equal(lease_entry_find(&b, "east", "pg1")->granted_ms, 6000);
    assert_int_equal(b.n_entries, 1);
    lease_book_close(&b);
    assert_int_equal(b.n_entries, 0);
}

static void test_lease_agent_silent(void **ctx)
{
    /* An agent is silent once a whole lease plus drift passed without a heartbeat, counted from
     * the last one heard or, when none was heard, from the leader's takeover. */
    static const struct
    {
        uint64_t since;
        bool entry;
        uint64_t heard; /* 0: none heard */
        uint64_t silent_at;
    } cases[] = {
        {10000, false, 0, 14500},
        {10000, true, 0, 14500},
        {10000, true, 12000, 16500},
        {10000, true, 10000, 14500},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct lease_book b;
        const struct lease_entry *e = NULL;
        lease_book_init(&b, LEASE_MS, DRIFT_MS);
        lease_book_reset(&b, cases[i].since);
        if (cases[i].entry) {
            struct lease_entry *w = lease_entry_get(&b, B_CLUSTER, "pg1");
            w->heard_ms = cases[i].heard;
            e = w;
        }
        assert_false(lease_agent_silent(&b, e, cases[i].silent_at - 1));
        assert_true(lease_agent_silent(&b, e, cases[i].silent_at));
        lease_book_close(&b);
    }
}

static void test_lease_may_grant(void **ctx)
{
    /* Only the primary of the epoch may hold a lease: not a standby, not a node never seen as
     * primary, not a twin, and not the primary a failover is cutting off. */
    struct state *s = *ctx;
    struct node twin;
    b_hello(s, 1000, 1, 3);
    b_add(s, 1000, "pg1", 50);
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg1"))); /* epoch 0: no primary */
    state_close(s);
    state_init(s);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg2")));
    assert_false(lease_may_grant(b_cluster(s), NULL));
    assert_false(lease_may_grant(NULL, b_node(s, "pg1")));
    /* The apply rules never make a twin the primary (test_cluster: test_twin_never_the_primary);
     * should the primary's name ever be flagged a twin, it is refused a lease all the same. */
    twin = *b_node(s, "pg1");
    pgq_strlcpy(twin.twin_of, "pg3", sizeof twin.twin_of);
    assert_false(lease_may_grant(b_cluster(s), &twin));
    /* The cut: no more leases for the old primary; once abandoned, it is the primary again. */
    b_cut(s, 2000);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_CUTTING);
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    {
        struct obs up = b_writable(s, "pg1", 0x1100);
        b_report_by(s, 3000, 1, 3, &up);
    }
    assert_int_not_equal(b_cluster(s)->fo.phase, PGQ_FO_CUTTING);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
}

static void test_lease_may_grant_twin(void **ctx)
{
    /* A second name of the primary's server (its twin) gets no lease. */
    struct state *s = *ctx;
    struct obs o;
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_add(s, 1100, "pg1b", 50);
    o = b_writable(s, "pg1", 0x1000);
    o.system_id = 7317000000000000001ULL;
    o.addr_hash = 1;
    o.port = 5432;
    b_report_by(s, 1200, 1, 3, &o);
    pgq_strlcpy(o.node, "pg1b", sizeof o.node);
    b_report(s, 1300, 1, &o);
    assert_string_equal(b_node(s, "pg1b")->twin_of, "pg1");
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg1b")));
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
}

/* A healthy cluster at feature level 2 (pg1 primary of epoch 1, pg2 and pg3 standbys) and the
 * book of a leader that took over at 1000. */
static void healthy_book(struct state *s, struct lease_book *b)
{
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    lease_book_init(b, LEASE_MS, DRIFT_MS);
    lease_book_reset(b, 1000);
}

static void test_heartbeat_unregistered(void **ctx)
{
    /* A heartbeat for a node or cluster nobody registered is answered "unregistered", grants
     * nothing and leaves the book as it was. */
    struct state *s = *ctx;
    struct lease_book b;
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    healthy_book(s, &b);
    memset(&r, 0xAB, sizeof r);
    assert_false(lease_on_heartbeat(&b, s, B_CLUSTER, "pg9", &f, 2000, &r));
    assert_false(r.registered);
    assert_int_equal(r.lease_ms, 0);
    assert_int_equal(r.epoch, 0);
    assert_false(r.primary);
    assert_false(r.fence);
    assert_false(r.standby_ready);
    assert_false(lease_on_heartbeat(&b, s, "other", "pg1", &f, 2000, &r));
    assert_false(r.registered);
    assert_int_equal(b.n_entries, 0);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 5500);
    lease_book_close(&b);
}

static void test_lease_book_prune(void **ctx)
{
    /* A removed node's entry goes once a lease granted to it has surely ended, not before; the
     * entries kept are still found by name afterwards (the index follows the compaction). */
    struct state *s = *ctx;
    struct lease_book b;
    healthy_book(s, &b);
    lease_granted(lease_entry_get(&b, B_CLUSTER, "gone"), 2000);
    lease_granted(lease_entry_get(&b, B_CLUSTER, "pg1"), 2000);
    lease_granted(lease_entry_get(&b, B_CLUSTER, "pg2"), 2100);
    assert_int_equal(lease_book_prune(&b, s, 2000 + LEASE_MS + DRIFT_MS - 1), 1); /* not yet */
    assert_int_equal(b.n_entries, 3);
    assert_int_equal(lease_book_prune(&b, s, 2000 + LEASE_MS + DRIFT_MS), 0);
    assert_int_equal(b.n_entries, 2);
    assert_null(lease_entry_find(&b, B_CLUSTER, "gone"));
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 2000);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg2")->granted_ms, 2100);
    lease_book_close(&b);
}

static void test_heartbeat_primary_and_standby(void **ctx)
{
    /* The primary's heartbeat is granted a lease measured from its arrival, and told its epoch
     * and that a standby could replace it; a standby's is noted but granted nothing. The first
     * heartbeat, and every one saying something a failover depends on, counts as a change; the
     * same facts again, once committed, do not. */
    struct state *s = *ctx;
    struct lease_book b;
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    const struct lease_entry *e;
    healthy_book(s, &b);

    assert_true(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 3000, &r));
    assert_true(r.registered);
    assert_true(r.primary);
    assert_false(r.fence);
    assert_true(r.standby_ready);
    assert_int_equal(r.epoch, 1);
    assert_int_equal(r.lease_ms, LEASE_MS);
    e = lease_entry_find(&b, B_CLUSTER, "pg1");
    assert_non_null(e);
    assert_int_equal(e->heard_ms, 3000);
    assert_int_equal(e->granted_ms, 3000);
    assert_int_equal(e->facts.state, PGQ_AGENT_UP);
    assert_int_equal(e->facts.pm_pid, 4242);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 7500);

    /* Not committed yet: still a change. Committed: the same facts are none. */
    assert_true(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 3500, &r));
    b_agent(s, 3600, "pg1", &e->facts);
    assert_false(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4000, &r));
    assert_int_equal(r.lease_ms, LEASE_MS);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 8500);
    f.lsn = 0x2000; /* positions and metrics are no change */
    f.host.cpu_busy_bp = 5000;
    assert_false(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4100, &r));
    f.pm_alive = false;
    assert_true(lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4200, &r));
    assert_int_equal(e->heard_ms, 4200);
    assert_false(e->facts.pm_alive);
    /* Whatever state the agent puts in its facts, the leader notes it up: it heard it. */
    f.state = PGQ_AGENT_NONE;
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4250, &r);
    assert_int_equal(e->facts.state, PGQ_AGENT_UP);

    /* A standby. */
    f = b_agent_facts(true);
    f.in_recovery = true;
    assert_true(lease_on_heartbeat(&b, s, B_CLUSTER, "pg2", &f, 4300, &r));
    assert_true(r.registered);
    assert_false(r.primary);
    assert_false(r.fence);
    assert_int_equal(r.epoch, 1);
    assert_int_equal(r.lease_ms, 0);
    e = lease_entry_find(&b, B_CLUSTER, "pg2");
    assert_non_null(e);
    assert_int_equal(e->heard_ms, 4300);
    assert_int_equal(e->granted_ms, 0);
    lease_book_close(&b);
}

static void test_grace_without_a_lease(void **ctx)
{
    /* A primary with no lease takes writes for a grace that ends a whole lease after it became
     * writable, and never later than a lease (minus the margin) after the last heartbeat a
     * leader answered: the leader, which never granted it anything, holds its lease for ended
     * a lease and the drift after it last heard it. */
    static const struct
    {
        uint64_t answered, length, want;
    } cases[] = {
        {0, 0, 5000},       /* no answer yet: writable_since + config */
        {2000, 4000, 5000}, /* answered lately: the config bound is earlier */
        {500, 4000, 4000},  /* answered long ago: 500 + 4000 - 500 */
        {500, 0, 4000},     /* the leader's length unknown: the config's */
        {500, 2000, 2000},  /* shorter leases on the monitors: theirs */
        {500, 300, 500},    /* a length under the margin: no grace past the answer */
    };
    struct agent_lease l;
    (void)ctx;
    lease_agent_init(&l, MARGIN_MS);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(
            lease_agent_grace_end(&l, 1000, LEASE_MS, cases[i].answered, cases[i].length),
            cases[i].want);
    }
}

static void test_lease_end_of_a_node_never_granted(void **ctx)
{
    /* A node this leader never granted a lease is held to a lease from when it was last heard
     * (its grace is bounded by that); once granted, from the grant alone. */
    struct lease_book b;
    struct lease_entry *e;
    (void)ctx;
    lease_book_init(&b, LEASE_MS, DRIFT_MS);
    lease_book_reset(&b, 1000);
    e = lease_entry_get(&b, "main", "pg2");
    e->heard_ms = 7000;
    assert_int_equal(lease_end_ms(&b, "main", "pg2"), 7000 + LEASE_MS + DRIFT_MS);
    lease_granted(e, 8000);
    e->heard_ms = 9000;
    assert_int_equal(lease_end_ms(&b, "main", "pg2"), 8000 + LEASE_MS + DRIFT_MS);
    lease_book_close(&b);
}

static void test_heartbeat_during_cut(void **ctx)
{
    /* Once a failover over it is cutting its standbys off, the primary's agent is told to fence
     * and granted nothing: the leader's lease keeps ending where the last grant put it. */
    struct state *s = *ctx;
    struct lease_book b;
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    healthy_book(s, &b);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 9000, &r);
    assert_int_equal(r.lease_ms, LEASE_MS);
    assert_false(r.fence);
    b_cut(s, 10000);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 10500, &r);
    assert_true(r.registered);
    assert_true(r.primary);
    assert_true(r.fence);
    assert_int_equal(r.lease_ms, 0);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 9000);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->heard_ms, 10500);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 13500);
    /* A standby's agent is not told to fence. */
    f.in_recovery = true;
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg2", &f, 10500, &r);
    assert_false(r.fence);
    assert_int_equal(r.lease_ms, 0);
    lease_book_close(&b);
}

static void test_heartbeat_while_paused(void **ctx)
{
    /* A paused cluster must not fence its own primary: the primary's heartbeats are still
     * granted leases, and its agent is told no standby will replace it, so that one saying its
     * PostgreSQL is down (fenced or handed over) is granted a lease too (and starts it again,
     * the only way back while nothing fails over), which it is not once resumed. A cut under
     * way when the pause came still revokes it: its standbys no longer receive its writes. */
    struct state *s = *ctx;
    struct lease_book b;
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    healthy_book(s, &b);
    b_pause(s, 2000, true);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 3000, &r);
    assert_true(r.primary);
    assert_false(r.fence);
    assert_false(r.standby_ready);
    assert_int_equal(r.lease_ms, LEASE_MS);
    f.pm_alive = false;
    f.handover = true;
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4000, &r);
    assert_false(r.standby_ready);
    assert_int_equal(r.lease_ms, LEASE_MS);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 4000);
    b_pause(s, 5000, false);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 5000, &r);
    assert_true(r.standby_ready);
    assert_int_equal(r.lease_ms, 0);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 4000);

    f = b_agent_facts(true);
    b_cut(s, 10000);
    b_pause(s, 10100, true);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 10500, &r);
    assert_true(r.fence);
    assert_int_equal(r.lease_ms, 0);
    lease_book_close(&b);
}

/* ---- whom a node follows: the reply's rejoin fields -------------------------------------------
 */

#define PG1_CONNINFO "host=pg1 port=5432 dbname=postgres user=pgquorum"
#define PG2_CONNINFO "host=pg2 port=5432 dbname=postgres user=pgquorum"

/* What the leader of s answers node's agent now. */
static struct lease_reply follow_reply(struct lease_book *b,
                                       const struct state *s,
                                       const char *node)
{
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    memset(&r, 0xAB, sizeof r); /* nothing of an earlier reply survives */
    lease_on_heartbeat(b, s, B_CLUSTER, node, &f, 2000, &r);
    assert_true(r.registered);
    return r;
}

/* The reply names no primary to follow and no history; rejoin as given. */
static void expect_no_follow(struct lease_book *b,
                             const struct state *s,
                             const char *node,
                             bool rejoin,
                             const char *when)
{
    struct lease_reply r = follow_reply(b, s, node);
    if (r.follow[0] != '\0' || r.follow_conninfo[0] != '\0' || r.rejoin != rejoin ||
        r.timeline != 0 || r.parent_tli != 0 || r.fork_lsn != 0) {
        fail_msg(
            "%s: %s follows \"%s\" (\"%s\") rejoin %d timeline %u/%u fork %llx, want none, "
            "rejoin %d",
            when, node, r.follow, r.follow_conninfo, r.rejoin, r.timeline, r.parent_tli,
            (unsigned long long)r.fork_lsn, rejoin);
    }
}

/* The reply names `primary` (with its registered conninfo) and the cluster's history. */
static void expect_follow(struct lease_book *b,
                          const struct state *s,
                          const char *node,
                          const char *primary,
                          const char *conninfo,
                          bool rejoin,
                          const char *when)
{
    const struct cluster *c = b_cluster(s);
    struct lease_reply r = follow_reply(b, s, node);
    if (strcmp(r.follow, primary) != 0 || strcmp(r.follow_conninfo, conninfo) != 0 ||
        r.rejoin != rejoin) {
        fail_msg("%s: %s follows \"%s\" (\"%s\") rejoin %d, want %s (\"%s\") rejoin %d", when, node,
                 r.follow, r.follow_conninfo, r.rejoin, primary, conninfo, rejoin);
    }
    assert_int_equal(r.timeline, c->timeline);
    assert_int_equal(r.parent_tli, c->parent_tli);
    assert_int_equal(r.fork_lsn, c->fork_lsn);
}

static void test_heartbeat_follow_settled(void **ctx)
{
    /* A standby is told the primary of the epoch to follow, with its registered conninfo, and the
     * cluster's timeline, parent timeline and fork point, while no failover is half-way (none
     * yet, promoted, done); the primary itself follows no one. */
    struct state *s = *ctx;
    struct lease_book b;
    struct command c;
    healthy_book(s, &b);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    expect_follow(&b, s, "pg2", "pg1", PG1_CONNINFO, false, "discovered");
    expect_follow(&b, s, "pg3", "pg1", PG1_CONNINFO, false, "discovered");
    expect_no_follow(&b, s, "pg1", false, "the primary itself");

    b_failover(s, 10000, "pg2");
    c = b_cmd_step(11000, PGQ_STEP_PROMOTED, "pg2", 2, 2);
    c.u.step.parent_tli = 1;
    c.u.step.lsn = 0x3000060;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_PROMOTED);
    assert_int_equal(b_node(s, "pg1")->role, PGQ_ROLE_DEMOTED);
    {
        struct obs up = b_writable(s, "pg2", 0x3000100);
        up.timeline = 2;
        b_report_by(s, 11100, 1, 3, &up);
    }
    expect_follow(&b, s, "pg3", "pg2", PG2_CONNINFO, false, "promoted");
    expect_follow(&b, s, "pg1", "pg2", PG2_CONNINFO, true, "promoted, the old primary");
    expect_no_follow(&b, s, "pg2", false, "promoted, the new primary itself");
    {
        struct lease_reply r = follow_reply(&b, s, "pg3");
        assert_int_equal(r.timeline, 2);
        assert_int_equal(r.parent_tli, 1);
        assert_int_equal(r.fork_lsn, 0x3000060);
    }
    b_step(s, 11200, PGQ_STEP_REPOINTED, "pg3", 0);
    b_step(s, 11300, PGQ_STEP_DONE, NULL, 0);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DONE);
    expect_follow(&b, s, "pg3", "pg2", PG2_CONNINFO, false, "done");
    expect_follow(&b, s, "pg1", "pg2", PG2_CONNINFO, true, "done, the old primary");
    lease_book_close(&b);
}

static void test_heartbeat_follow_unsettled(void **ctx)
{
    /* No primary is named while a failover is half-way (the cut, a candidate decided but not
     * promoted, its promotion given up) or while the primary is down by verdict; a demoted node
     * is told it must rejoin all the same. */
    struct state *s = *ctx;
    struct lease_book b;
    struct command c;
    healthy_book(s, &b);
    b_primary_down(s, 5000);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_NONE);
    expect_no_follow(&b, s, "pg2", false, "the primary down by verdict");

    b_cut(s, 10000);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_CUTTING);
    expect_no_follow(&b, s, "pg2", false, "cutting");
    expect_no_follow(&b, s, "pg1", false, "cutting, the old primary");

    b_cut_standbys(s, 10100);
    c = b_cmd_decide(10200, "pg2", 2, "pg1");
    c.u.decide.round = b_cluster(s)->fo.round;
    c.u.decide.candidate_lsn = b_node(s, "pg2")->cut_lsn;
    b_apply(s, &c);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_DECIDED);
    assert_int_equal(b_node(s, "pg2")->role, PGQ_ROLE_PRIMARY);
    expect_no_follow(&b, s, "pg3", false, "decided");
    expect_no_follow(&b, s, "pg1", true, "decided, the old primary demoted");

    b_step(s, 11000, PGQ_STEP_GAVE_UP, "pg2", 0);
    assert_int_equal(b_cluster(s)->fo.phase, PGQ_FO_GAVE_UP);
    expect_no_follow(&b, s, "pg3", false, "gave up");
    expect_no_follow(&b, s, "pg1", true, "gave up, the old primary");
    lease_book_close(&b);
}

static void test_heartbeat_follow_twin_primary(void **ctx)
{
    /* The apply rules never make a twin the primary (test_cluster: test_twin_never_the_primary);
     * should the primary's name ever be flagged a twin, no standby is told to follow it. */
    struct state *s = *ctx;
    struct lease_book b;
    healthy_book(s, &b);
    expect_follow(&b, s, "pg2", "pg1", PG1_CONNINFO, false, "before");
    pgq_strlcpy(b_node(s, "pg1")->twin_of, "pg3", sizeof b_node(s, "pg1")->twin_of);
    expect_no_follow(&b, s, "pg2", false, "the primary a twin");
    lease_book_close(&b);
}

static void test_heartbeat_during_switchover(void **ctx)
{
    /* A switchover scheduled changes no lease. Once begun, the primary's agent is told to stop
     * (not to fence) and granted nothing, whether it still runs or says it stopped; a standby's
     * agent is told nothing. Cancelled, the primary is granted leases again and told nothing,
     * also when its agent stopped it cleanly already and a standby could replace it: the agent
     * starts it again. */
    struct state *s = *ctx;
    struct lease_book b;
    struct lease_reply r;
    struct agent_facts f = b_agent_facts(true);
    struct agent_facts stopped = b_agent_stopped(0x1000);
    struct command c;
    healthy_book(s, &b);
    b_agent(s, 1500, "pg1", &f);
    b_switchover(s, 2000, "pg2", 0);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 3000, &r);
    assert_false(r.stop);
    assert_int_equal(r.lease_ms, LEASE_MS);

    b_switchover_begin(s, 3500);
    assert_false(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 4000, &r);
    assert_true(r.primary);
    assert_true(r.stop);
    assert_false(r.fence);
    assert_int_equal(r.lease_ms, 0);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 3000);
    assert_int_equal(lease_end_ms(&b, B_CLUSTER, "pg1"), 3000 + LEASE_MS + DRIFT_MS);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &stopped, 4500, &r);
    assert_true(r.stop);
    assert_int_equal(r.lease_ms, 0);
    f.in_recovery = true;
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg2", &f, 4500, &r);
    assert_false(r.stop);
    assert_int_equal(r.lease_ms, 0);

    c = b_cmd_switchover_cancel(5000, "bob");
    b_apply(s, &c);
    assert_true(lease_may_grant(b_cluster(s), b_node(s, "pg1")));
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &stopped, 5500, &r);
    assert_false(r.stop);
    assert_true(r.standby_ready);
    assert_int_equal(r.lease_ms, LEASE_MS);
    f = b_agent_facts(true);
    lease_on_heartbeat(&b, s, B_CLUSTER, "pg1", &f, 6000, &r);
    assert_false(r.stop);
    assert_int_equal(r.lease_ms, LEASE_MS);
    assert_int_equal(lease_entry_find(&b, B_CLUSTER, "pg1")->granted_ms, 6000);
    lease_book_close(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

static void test_reply_names_the_voters(void **ctx)
{
    /* A heartbeat's reply names the voters' API addresses when the agent knows another list
     * (by its hash), and nothing when it knows this one: a steady group costs eight bytes;
     * a monitor that leaves the voters leaves the list. */
    static const uint64_t four[] = {1, 2, 3, 4}, three[] = {1, 2, 4};
    struct state s;
    struct lease_reply r;
    struct command c;
    uint64_t known;
    (void)ctx;
    state_init(&s);
    c = b_cmd_hello(1000, 1, four, 4);
    b_apply(&s, &c);
    memset(&r, 0, sizeof r);
    lease_reply_monitors(&s, 0, &r);
    assert_int_equal(r.n_monitors, 1); /* only the leader told its API address so far */
    assert_string_equal(r.monitors[0], "10.0.0.1:7002");
    known = r.monitors_hash;
    assert_true(known != 0);
    memset(&r, 0, sizeof r);
    lease_reply_monitors(&s, known, &r);
    assert_int_equal(r.monitors_hash, 0);
    assert_int_equal(r.n_monitors, 0);
    c = b_cmd_hello(2000, 4, four, 4); /* monitor 4 leads and says where its API is */
    b_apply(&s, &c);
    lease_reply_monitors(&s, known, &r);
    assert_int_equal(r.n_monitors, 2);
    assert_string_equal(r.monitors[1], "10.0.0.4:7002");
    known = r.monitors_hash;
    c = b_cmd_hello(3000, 1, three, 3); /* 3 left; 4 still votes */
    b_apply(&s, &c);
    lease_reply_monitors(&s, known, &r);
    assert_int_equal(r.monitors_hash, 0);
    c = b_cmd_hello(4000, 1, three, 2); /* 4 left too */
    b_apply(&s, &c);
    lease_reply_monitors(&s, known, &r);
    assert_int_equal(r.n_monitors, 1);
    assert_true(r.monitors_hash != known && r.monitors_hash != 0);
    state_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_lease_from_send_time),
        cmocka_unit_test(test_reply_names_the_voters),
        cmocka_unit_test(test_agent_lease_renewed_after_lapse),
        cmocka_unit_test(test_agent_lease_revoked),
        cmocka_unit_test(test_agent_lease_end_never_moves_back),
        cmocka_unit_test(test_agent_lease_unusable_grants),
        cmocka_unit_test(test_agent_lease_table),
        cmocka_unit_test(test_lease_end),
        cmocka_unit_test(test_lease_new_leader),
        cmocka_unit_test(test_lease_book_follow),
        cmocka_unit_test(test_lease_entries),
        T(test_lease_book_prune),
        cmocka_unit_test(test_lease_agent_silent),
        T(test_lease_may_grant),
        T(test_lease_may_grant_twin),
        T(test_heartbeat_unregistered),
        T(test_heartbeat_primary_and_standby),
        T(test_heartbeat_during_cut),
        T(test_heartbeat_while_paused),
        T(test_heartbeat_during_switchover),
        T(test_grace_without_a_lease),
        T(test_lease_end_of_a_node_never_granted),
        T(test_heartbeat_follow_settled),
        T(test_heartbeat_follow_unsettled),
        T(test_heartbeat_follow_twin_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
