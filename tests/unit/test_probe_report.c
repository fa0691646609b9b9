/* Unit tests of agent/probe_report.c: when the observations waiting go to
 * the leader. A change goes at once; refreshes wait to go together, until
 * the window passes or a batch is full; a change goes ahead of the
 * refreshes waiting with it; what was not committed goes again at once;
 * while a failover is under way, refreshes wait for it (2 s at most). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "probe.h"
#include "probe_internal.h"

#define N_TARGETS 4

struct fixture
{
    uv_loop_t loop;
    struct probe probe;
    struct probe_target *t[N_TARGETS];
};

static int setup(void **ctx)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct obs o;
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->probe.loop = &f->loop;
    memset(&o, 0, sizeof o);
    o.reachable = true;
    for (unsigned i = 0; i < N_TARGETS; i++) {
        struct probe_target *t = calloc(1, sizeof *t);
        assert_non_null(t);
        t->probe = &f->probe;
        snprintf(t->cluster, sizeof t->cluster, "c");
        snprintf(t->node, sizeof t->node, "n%u", i);
        snprintf(o.node, sizeof o.node, "n%u", i);
        view_obs_set(&t->obs, &o);
        t->have_obs = true;
        t->next = f->probe.targets;
        f->probe.targets = t;
        f->t[i] = t;
    }
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    struct fixture *f = *ctx;
    for (unsigned i = 0; i < N_TARGETS; i++) {
        view_obs_clear(&f->t[i]->obs);
        free(f->t[i]);
    }
    uv_loop_close(&f->loop);
    free(f);
    return 0;
}

/* Let `ms` pass on the loop's clock. */
static void wait_ms(struct fixture *f, uint64_t ms)
{
    uint64_t until = uv_now(&f->loop) + ms;
    while (uv_now(&f->loop) < until) {
        uv_sleep(1);
        uv_update_time(&f->loop);
    }
}

static unsigned collect(struct fixture *f)
{
    struct obs out[N_TARGETS];
    const char *clusters[N_TARGETS];
    return probe_collect_many(&f->probe, out, clusters, N_TARGETS, 1u << 20);
}

static void test_refresh_waits_for_the_window(void **ctx)
{
    /* A refresh alone is not due until the first has waited the window; then all go at once. */
    struct fixture *f = *ctx;
    assert_false(probe_report_due(&f->probe, 50, 100)); /* nothing waits */
    probe_target_flags(f->t[0], true, false);
    probe_target_flags(f->t[1], true, false);
    assert_int_equal(probe_pending(&f->probe), 2);
    assert_false(probe_report_due(&f->probe, 50, 100));
    wait_ms(f, 20);
    probe_target_flags(f->t[2], true, false); /* a later one does not restart the window */
    assert_false(probe_report_due(&f->probe, 50, 100));
    wait_ms(f, 35);
    assert_true(probe_report_due(&f->probe, 50, 100));
    assert_int_equal(collect(f), 3);
    assert_false(probe_report_due(&f->probe, 50, 100));
    probe_collect_done(&f->probe, NULL); /* not committed: due again, at once */
    assert_int_equal(probe_pending(&f->probe), 3);
    assert_true(probe_report_due(&f->probe, 50, 100));
}

static void test_change_goes_at_once(void **ctx)
{
    /* A change makes every waiting observation due at once, until they are collected. */
    struct fixture *f = *ctx;
    probe_target_flags(f->t[0], true, false);
    f->probe.urgent_due = true; /* what conclude() sets for a change */
    assert_true(probe_report_due(&f->probe, 60000, 100));
    assert_int_equal(collect(f), 1);
    assert_false(f->probe.urgent_due);
    probe_target_flags(f->t[1], true, false); /* a refresh after it waits again */
    assert_false(probe_report_due(&f->probe, 60000, 100));
}

static void test_full_batch_goes(void **ctx)
{
    /* As many waiting as a batch takes go without waiting for the window. */
    struct fixture *f = *ctx;
    for (unsigned i = 0; i < 3; i++) {
        probe_target_flags(f->t[i], true, false);
    }
    assert_false(probe_report_due(&f->probe, 60000, 4));
    probe_target_flags(f->t[3], true, false);
    assert_true(probe_report_due(&f->probe, 60000, 4));
}

static void test_change_left_behind_still_due(void **ctx)
{
    /* A change that a full report left behind is still due at once. */
    struct fixture *f = *ctx;
    struct obs out[1];
    const char *clusters[1];
    for (unsigned i = 0; i < N_TARGETS; i++) {
        probe_target_flags(f->t[i], true, false);
    }
    f->probe.urgent_due = true;
    assert_int_equal(probe_collect_many(&f->probe, out, clusters, 1, 1u << 20), 1);
    assert_true(probe_report_due(&f->probe, 60000, 100));
}

static void test_change_goes_before_refreshes(void **ctx)
{
    /* A change goes alone, ahead of the refreshes that waited with it (even those first in the
     * list), and they keep waiting for their window; a change the report had no room for is
     * still due at once. */
    struct fixture *f = *ctx;
    struct obs out[N_TARGETS];
    const char *clusters[N_TARGETS];
    for (unsigned i = 2; i < N_TARGETS; i++) {
        probe_target_flags(f->t[i], true, false); /* refreshes, first in the list */
    }
    for (unsigned i = 0; i < 2; i++) {
        probe_target_flags(f->t[i], true, false);
        f->t[i]->urgent = true; /* what conclude() sets for a change */
    }
    f->probe.urgent_due = true;
    assert_true(probe_report_due(&f->probe, 60000, 100));
    assert_int_equal(probe_collect_many(&f->probe, out, clusters, 1, 1u << 20), 1);
    assert_string_equal(out[0].node, "n1");
    assert_true(probe_report_due(&f->probe, 60000, 100)); /* the other change */
    assert_int_equal(probe_collect_many(&f->probe, out, clusters, N_TARGETS, 1u << 20), 1);
    assert_string_equal(out[0].node, "n0");
    assert_int_equal(probe_pending(&f->probe), 2);
    assert_false(probe_report_due(&f->probe, 60000, 100)); /* the refreshes wait */
    assert_true(probe_report_due(&f->probe, 0, 100));
    assert_int_equal(collect(f), 2);
}

static void test_refreshes_wait_for_a_failover(void **ctx)
{
    /* While a failover is under way refreshes wait, past their window and a full batch, while a
     * change still goes at once; they go once it is over, or once the hold ran out. */
    struct fixture *f = *ctx;
    for (unsigned i = 0; i < N_TARGETS; i++) {
        probe_target_flags(f->t[i], true, false);
    }
    assert_true(probe_report_due(&f->probe, 0, 100));
    probe_hold(&f->probe, true, 1);
    assert_false(probe_report_due(&f->probe, 0, 100));
    assert_false(probe_report_due(&f->probe, 0, 2)); /* a full batch waits too */
    f->probe.urgent_due = true;
    assert_true(probe_report_due(&f->probe, 0, 100));
    f->probe.urgent_due = false;
    probe_hold(&f->probe, false, 0); /* over */
    assert_true(probe_report_due(&f->probe, 0, 100));
    /* A failover that lasts: the hold ends 2 s after it began, whatever the tick says. */
    probe_hold(&f->probe, true, 2);
    assert_false(probe_report_due(&f->probe, 0, 100));
    for (unsigned waited = 0; waited < 1500; waited += 100) {
        wait_ms(f, 100);
        probe_hold(&f->probe, true, 2);
    }
    wait_ms(f, 1);
    probe_hold(&f->probe, true, 2);
    assert_true(probe_report_due(&f->probe, 0, 100));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refresh_waits_for_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_goes_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_batch_goes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_left_behind_still_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_goes_before_refreshes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refreshes_wait_for_a_failover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
