/* Unit tests of agent/resources.c: what a monitor's descriptors must cover
 * (Raft, the API, HTTP, the log drain, the actions, one probe per node),
 * how many probes fit under an open-file limit, and the loop's lag
 * history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"
#include "resources.h"

/* A monitor of 3 voters at the defaults: TLS on, API 256 clients, no HTTP. */
static void defaults(struct config *c)
{
    config_defaults(c);
    c->n_peers = 3;
}

static void test_need_at_defaults(void **state)
{
    /* At the defaults every part is counted: the process, Raft's files, listener, two
     * connections each way to each of the two other voters over TLS (a socket and a socket
     * pair each) and the handshakes the relay allows, the API's clients, reserve and
     * refusals, the actions and the reserve; each node adds one probe. */
    struct config c;
    struct fd_need n;
    (void)state;
    defaults(&c);
    resources_need(&c, 0, 400, &n);
    assert_int_equal(n.base, RES_FD_BASE);
    assert_int_equal(n.raft,
                     RES_FD_RAFT_FILES + 1 + 2 * RES_FD_PER_PEER_TLS + RES_FD_RAFT_HANDSHAKES);
    assert_int_equal(n.api,
                     1 + RES_API_MONITOR_RESERVE + RES_FD_PEERS_OUT + 256 + RES_API_REFUSING_MAX);
    assert_int_equal(n.http, 0);
    assert_int_equal(n.drain, 0);
    assert_int_equal(n.probes, 400);
    assert_int_equal(resources_total(&n), resources_fixed(&n) + 400);
    assert_int_equal(resources_fixed(&n), n.base + n.raft + n.api + n.actions + n.reserve);
}

static void test_need_follows_the_configuration(void **state)
{
    /* HTTP, the log drain, plain TCP and the number of voters each change what is needed;
     * the voters Raft knows count over the configuration's bootstrap peers. */
    struct config c;
    struct fd_need a, b;
    (void)state;
    defaults(&c);
    resources_need(&c, 0, 0, &a);
    pgq_strlcpy(c.http_address, "127.0.0.1:8080", sizeof c.http_address);
    c.http_max_clients = 10;
    pgq_strlcpy(c.log_drain, "syslog+tcp://127.0.0.1:514", sizeof c.log_drain);
    resources_need(&c, 0, 0, &b);
    assert_int_equal(b.http, 1 + 10 + RES_HTTP_REFUSING_MAX);
    assert_int_equal(b.drain, 1);
    assert_int_equal(resources_fixed(&b), resources_fixed(&a) + b.http + 1);
    c.tls = false;
    resources_need(&c, 5, 0, &b);
    assert_int_equal(b.raft, RES_FD_RAFT_FILES + 1 + 4 * RES_FD_PER_PEER_PLAIN);
    resources_need(&c, 1, 0, &b); /* a lone voter has no peer */
    assert_int_equal(b.raft, RES_FD_RAFT_FILES + 1);
}

static void test_probe_budget(void **state)
{
    /* What is left under the limit once everything else has its descriptors goes to the
     * probes, nothing when nothing is left; the essential part (Raft, the API's reserve for
     * the monitors and a few operators) is below the whole fixed part. */
    struct config c;
    struct fd_need n;
    uint64_t fixed;
    (void)state;
    defaults(&c);
    c.api_max_clients = 8;
    resources_need(&c, 3, 60, &n);
    fixed = resources_fixed(&n);
    assert_int_equal(resources_probe_budget(&n, fixed + 33), 33);
    assert_int_equal(resources_probe_budget(&n, fixed), 0);
    assert_int_equal(resources_probe_budget(&n, 10), 0);
    assert_int_equal(resources_probe_budget(&n, 1048576), 1048576 - fixed);
    assert_true(n.essential < fixed);
    assert_true(n.essential >= n.base + n.raft + RES_API_MONITOR_RESERVE);
}

static void test_describe_names_the_numbers(void **state)
{
    /* The line a warning quotes names each part. */
    struct config c;
    struct fd_need n;
    char line[256];
    (void)state;
    defaults(&c);
    resources_need(&c, 3, 400, &n);
    resources_describe(&n, line, sizeof line);
    assert_string_equal(line,
                        "probes 400, Raft 93, API 293, HTTP 0, log drain 0, actions 16, "
                        "process and reserve 32");
}

static void test_lag_history(void **state)
{
    /* The worst lateness of each second is kept: asked since a time, the worst from its second
     * to now, nothing older than LAG_SECONDS, and a slot reused for a later second forgets
     * the earlier one. */
    struct lag_history h;
    (void)state;
    lag_init(&h);
    assert_int_equal(lag_max_since(&h, 0, 100000), 0);
    lag_note(&h, 100100, 3);
    lag_note(&h, 100900, 1200); /* same second: the worst kept */
    lag_note(&h, 101500, 40);
    lag_note(&h, 105000, 300);
    assert_int_equal(lag_max_since(&h, 100000, 105000), 1200);
    assert_int_equal(lag_max_since(&h, 100999, 105000), 1200); /* its second */
    assert_int_equal(lag_max_since(&h, 101000, 105000), 300);
    assert_int_equal(lag_max_since(&h, 105001, 105900), 300);
    assert_int_equal(lag_max_since(&h, 106000, 107000), 0);
    /* LAG_SECONDS later the slot of second 100 holds second 164: 1200 is gone. */
    lag_note(&h, 100100 + LAG_SECONDS * 1000, 7);
    assert_int_equal(lag_max_since(&h, 0, 100100 + LAG_SECONDS * 1000), 300);
    assert_int_equal(lag_max_since(&h, 100000, 100100 + LAG_SECONDS * 1000 + 10000), 7);
}

static void test_overload_lag(void **state)
{
    /* A monitor counts as overloaded from a quarter of the probe timeout, 100 ms at least. */
    struct config c;
    (void)state;
    defaults(&c);
    assert_int_equal(resources_overload_lag_ms(&c), c.timeout_ms / 4);
    c.timeout_ms = 200;
    assert_int_equal(resources_overload_lag_ms(&c), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_need_at_defaults),
        cmocka_unit_test(test_need_follows_the_configuration),
        cmocka_unit_test(test_probe_budget),
        cmocka_unit_test(test_describe_names_the_numbers),
        cmocka_unit_test(test_lag_history),
        cmocka_unit_test(test_overload_lag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
