/* Unit tests of agent/reload.c and the key-by-key diff of agent/config.c: a
 * reload applies the keys that can change at run time, keeps the others as
 * they run and names them, and refuses a file of the other role. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"
#include "reload.h"

static const char monitor_base[] =
    "[monitor]\n"
    "id = 1\n"
    "data_dir = /var/lib/pgquorum/m1\n"
    "raft_address = 10.0.0.1:7001\n"
    "api_address = 10.0.0.1:7002\n"
    "peers = 1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001\n";

static const char node_base[] =
    "[node]\n"
    "name = pg1\n"
    "pgdata = /var/lib/postgresql/15/main\n"
    "conninfo = host=10.0.0.5 port=5432 user=postgres\n"
    "monitors = 10.0.0.1:7002,10.0.0.2:7002\n";

static void parse_ok(struct config *c, const char *base, const char *tail)
{
    char text[4096], err[512];
    /* TLS is on unless a test says otherwise: its files come last. */
    snprintf(text, sizeof text, "%s%s%s", base, tail,
             strstr(tail, "[tls]") != NULL ? ""
                                           : "[tls]\nca_file = /ca.crt\ncert_file = /c.crt\n"
                                             "key_file = /c.key\n");
    if (config_parse(c, "test.conf", text, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
}

struct plan_case
{
    const char *what;
    const char *base;
    const char *before, *after; /* appended to base */
    const char *applied, *restart;
};

static void test_plans(void **ctx)
{
    /* Each change is applied or named as needing a restart, in table order, and the summary
     * says which. */
    static const struct plan_case cases[] = {
        {"nothing changed", monitor_base, "", "", "", ""},
        {"comments and spelling only", monitor_base, "[health]\ninterval = 30s\n",
         "# a comment\n[health]\ninterval = 30000ms\n", "", ""},
        {"a default written out", monitor_base, "", "[health]\ninterval = 30s\n", "", ""},
        {"probe timings", monitor_base, "",
         "[health]\ninterval = 10s\ntimeout = 2s\nretry_interval = 500ms\nretries = 4\n",
         "[health] interval, [health] timeout, [health] retry_interval, [health] retries", ""},
        {"log level and format", monitor_base, "", "log_level = debug\nlog_format = json\n",
         "[monitor] log_level, [monitor] log_format", ""},
        {"leader's timeouts and api limits", monitor_base, "",
         "[failover]\nfailover_timeout = 9s\ncut_timeout = 3s\nreplication_slots = off\n"
         "[api]\nidle_timeout = 5s\nmax_clients = 10\n",
         "[failover] failover_timeout, [failover] cut_timeout, [failover] replication_slots, "
         "[api] idle_timeout, [api] max_clients",
         ""},
        {"identities, addresses, raft and leases", monitor_base, "",
         "[raft]\nelection_timeout = 1s\n[failover]\nlease_time = 5s\nlease_drift = 1s\n", "",
         "[raft] election_timeout, [failover] lease_time, [failover] lease_drift"},
        {"both kinds", monitor_base, "[health]\ntimeout = 5s\n",
         "[raft]\nsnapshot_threshold = 2048\n[health]\ntimeout = 3s\n", "[health] timeout",
         "[raft] snapshot_threshold"},
        {"node: timings live, identity not", node_base, "",
         "heartbeat_interval = 500ms\nfence_margin = 1s\ncrash_policy = restart\n"
         "priority = 10\n",
         "[node] crash_policy, [node] heartbeat_interval, [node] fence_margin", "[node] priority"},
        {"node: log level", node_base, "log_level = debug\n", "", "[node] log_level", ""},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const struct plan_case *k = &cases[i];
        struct config before, after, merged;
        struct reload_plan plan;
        char err[256];
        parse_ok(&before, k->base, k->before);
        parse_ok(&after, k->base, k->after);
        assert_int_equal(reload_plan(&before, &after, &merged, &plan, err, sizeof err), 0);
        if (strcmp(plan.applied, k->applied) != 0 || strcmp(plan.restart, k->restart) != 0) {
            fail_msg("%s: applied \"%s\" restart \"%s\"", k->what, plan.applied, plan.restart);
        }
    }
}

static void test_node_restart_keys(void **ctx)
{
    /* Changing what a node agent is (its name, data directory, conninfo, monitors) needs a
     * restart. */
    static const char other[] =
        "[node]\n"
        "name = pg2\n"
        "pgdata = /srv/pg\n"
        "conninfo = host=10.0.0.6 port=5432 user=postgres\n"
        "monitors = 10.0.0.1:7002\n";
    struct config before, after, merged;
    struct reload_plan plan;
    char err[256];
    (void)ctx;
    parse_ok(&before, node_base, "");
    parse_ok(&after, other, "");
    assert_int_equal(reload_plan(&before, &after, &merged, &plan, err, sizeof err), 0);
    assert_string_equal(plan.applied, "");
    assert_string_equal(plan.restart,
                        "[node] name, [node] pgdata, [node] conninfo, [node] local_conninfo, "
                        "[node] monitors");
    assert_string_equal(merged.node_name, "pg1");
    assert_int_equal(merged.n_monitors, 2);
}

static void test_merged_takes_live_keys_only(void **ctx)
{
    /* The configuration to run with has the new values of the live keys and the running values
     * of the others, peers included. */
    struct config before, after, merged;
    struct reload_plan plan;
    char err[256], summary[512];
    (void)ctx;
    parse_ok(&before, monitor_base, "[health]\ninterval = 30s\n");
    parse_ok(
        &after,
        "[monitor]\nid = 1\ndata_dir = /srv/other\nraft_address = 10.0.0.1:7001\n"
        "api_address = 10.0.0.1:7003\npeers = 1=10.0.0.1:7001,2=10.0.0.2:7001\n"
        "log_format = syslog\n",
        "[health]\ninterval = 5s\nsslmode = require\n[failover]\nmax_lag_on_failover = 16MB\n");
    assert_int_equal(reload_plan(&before, &after, &merged, &plan, err, sizeof err), 0);
    assert_int_equal(merged.interval_ms, 5000);
    assert_string_equal(merged.sslmode, "require");
    assert_int_equal(merged.max_lag_bytes, 16 * 1024 * 1024);
    assert_int_equal(merged.log_format, LOG_FORMAT_SYSLOG);
    assert_string_equal(merged.data_dir, "/var/lib/pgquorum/m1");
    assert_string_equal(merged.api_address, "10.0.0.1:7002");
    assert_int_equal(merged.n_peers, 3);
    assert_string_equal(merged.peers[2].address, "10.0.0.3:7001");
    reload_summary(&plan, summary, sizeof summary);
    assert_string_equal(summary,
                        "applied [monitor] log_format, [health] interval, [health] sslmode, "
                        "[failover] max_lag_on_failover; changed but need a restart: "
                        "[monitor] data_dir, [monitor] api_address, [monitor] peers");
}

static void test_summaries(void **ctx)
{
    /* The summary line says "no change", or what was applied and what needs a restart. */
    struct reload_plan plan;
    char out[256];
    (void)ctx;
    memset(&plan, 0, sizeof plan);
    reload_summary(&plan, out, sizeof out);
    assert_string_equal(out, "no change");
    plan.n_restart = 1;
    snprintf(plan.restart, sizeof plan.restart, "[monitor] peers");
    reload_summary(&plan, out, sizeof out);
    assert_string_equal(out, "applied nothing; changed but need a restart: [monitor] peers");
}

static void test_other_role_refused(void **ctx)
{
    /* A file that now configures the other role is refused and changes nothing. */
    struct config before, after, merged;
    struct reload_plan plan;
    char err[256];
    (void)ctx;
    parse_ok(&before, monitor_base, "");
    parse_ok(&after, node_base, "");
    memset(&merged, 0x5A, sizeof merged);
    assert_int_equal(reload_plan(&before, &after, &merged, &plan, err, sizeof err), PGQ_CONFIG);
    assert_string_equal(err,
                        "the file now configures a node agent ([node]), this daemon runs a "
                        "monitor: restart it to change roles");
    assert_int_equal(((unsigned char *)&merged)[0], 0x5A);
}

static void test_live_keys_exist(void **ctx)
{
    /* Every live key is a key of the configuration table (a renamed key cannot silently stop
     * being applied), and only its role applies it. */
    struct config a, b;
    (void)ctx;
    assert_null(reload_unknown_live_key());
    config_defaults(&a);
    config_defaults(&b);
    assert_int_equal(config_copy_key(&a, &b, "health", "intervl"), PGQ_INVALID);
    assert_true(reload_key_live(ROLE_MONITOR, "health", "interval"));
    assert_false(reload_key_live(ROLE_NODE, "health", "interval"));
    assert_false(reload_key_live(ROLE_MONITOR, "monitor", "peers"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_node_restart_keys),
        cmocka_unit_test(test_merged_takes_live_keys_only),
        cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_other_role_refused),
        cmocka_unit_test(test_live_keys_exist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
