/* Unit tests of agent/config.c: defaults, value syntax, the INI reader, the
 * cross-key checks and their one-line errors "FILE:LINE: [section] key: ...",
 * and the reference printed from the option table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"

#define assert_contains(hay, needle)                                     \
    do {                                                                 \
        if (strstr((hay), (needle)) == NULL) {                           \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
        }                                                                \
    } while (0)

#define PATH "pgquorum.conf"
#define TLS_TAIL                                                                          \
    "[tls]\nca_file = /etc/pgquorum/ca.crt\ncert_file = /etc/pgquorum/m.crt\nkey_file = " \
    "/etc/pgquorum/m.key\n"

/* The [monitor] section every test file starts from: lines 1 to 6. */
static const char *const monitor_lines[][2] = {
    {"id", "1"},
    {"data_dir", "/var/lib/pgquorum"},
    {"raft_address", "10.0.0.1:7001"},
    {"api_address", "10.0.0.1:7002"},
    {"peers", "1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001"},
};

/* Build a file: [monitor] with `key` set to `value` (NULL: key left out; a
 * key not in monitor_lines goes on line 7), then `tail`. */
static void build(char *out, size_t size, const char *key, const char *value, const char *tail)
{
    bool found = false;
    snprintf(out, size, "[monitor]\n");
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(monitor_lines); i++) {
        const char *v = monitor_lines[i][1];
        if (key != NULL && strcmp(key, monitor_lines[i][0]) == 0) {
            found = true;
            if (value == NULL) {
                continue;
            }
            v = value;
        }
        pgq_appendf(out, size, "%s = %s\n", monitor_lines[i][0], v);
    }
    if (key != NULL && !found && value != NULL) {
        pgq_appendf(out, size, "%s = %s\n", key, value);
    }
    pgq_appendf(out, size, "%s", tail != NULL ? tail : "");
    /* TLS is on unless said otherwise: its files come last, so that the
     * line numbers the tests expect stay those of the keys above. */
    if (tail == NULL || (strstr(tail, "[tls]") == NULL && strstr(tail, "tls =") == NULL)) {
        pgq_appendf(out, size, "%s", TLS_TAIL);
    }
}

static int parse(struct config *c, const char *text, char *err, size_t errsize)
{
    err[0] = '\0';
    return config_parse(c, PATH, text, err, errsize);
}

/* ---- defaults ------------------------------------------------------------ */

static void check_defaults(const struct config *c)
{
    assert_int_equal(c->log_level, LOG_INFO_LEVEL);
    assert_int_equal(c->log_format, LOG_FORMAT_PLAIN);
    assert_int_equal(c->election_timeout_ms, 500);
    assert_int_equal(c->heartbeat_timeout_ms, 50);
    assert_int_equal(c->snapshot_threshold, 1024);
    assert_int_equal(c->snapshot_trailing, 256);
    assert_int_equal(c->interval_ms, 30000);
    assert_int_equal(c->timeout_ms, 5000);
    assert_int_equal(c->retry_interval_ms, 1000);
    assert_int_equal(c->retries, 2);
    assert_int_equal(c->report_refresh_ms, 60000);
    assert_string_equal(c->passfile, "");
    assert_string_equal(c->sslmode, "");
    assert_string_equal(c->sslcert, "");
    assert_string_equal(c->sslkey, "");
    assert_string_equal(c->sslrootcert, "");
    assert_int_equal(c->failover_timeout_ms, 5000);
    assert_int_equal(c->max_lag_bytes, 1048576);
    assert_int_equal(c->promote_timeout_ms, 60000);
    assert_int_equal(c->repoint_timeout_ms, 30000);
    assert_true(c->replication_slots);
    assert_int_equal(c->api_idle_timeout_ms, 30000);
    assert_int_equal(c->api_max_clients, 256);
}

static void test_defaults(void **ctx)
{
    /* config_defaults sets every optional key to its documented default and leaves required ones
     * empty. */
    struct config c;
    (void)ctx;
    memset(&c, 0xA5, sizeof c);
    config_defaults(&c);
    check_defaults(&c);
    assert_int_equal(c.id, 0);
    assert_string_equal(c.data_dir, "");
    assert_string_equal(c.raft_address, "");
    assert_int_equal(c.n_peers, 0);
}

static void test_minimal_file(void **ctx)
{
    /* A file with only the required keys parses to them plus every default. */
    struct config c;
    char text[2048], err[512];
    (void)ctx;
    build(text, sizeof text, NULL, NULL, NULL);
    assert_int_equal(parse(&c, text, err, sizeof err), 0);
    check_defaults(&c);
    assert_int_equal(c.id, 1);
    assert_string_equal(c.data_dir, "/var/lib/pgquorum");
    assert_string_equal(c.raft_address, "10.0.0.1:7001");
    assert_string_equal(c.api_address, "10.0.0.1:7002");
    assert_int_equal(c.n_peers, 3);
    assert_int_equal(c.peers[0].id, 1);
    assert_string_equal(c.peers[0].address, "10.0.0.1:7001");
    assert_int_equal(c.peers[2].id, 3);
    assert_string_equal(c.peers[2].address, "10.0.0.3:7001");
}

static void test_full_file(void **ctx)
{
    /* Every section and key is read, with comments, blank lines and CRLF line ends. */
    static const char text[] =
        "# pgquorum monitor 2\r\n"
        "; another comment style\r\n"
        "\r\n"
        "[ monitor ]\r\n"
        "id = 2\r\n"
        "data_dir = /srv/pgq\r\n"
        "raft_address = 10.0.0.2:7001\r\n"
        "api_address = 10.0.0.2:7002\r\n"
        "peers = 1=10.0.0.1:7001, 2=10.0.0.2:7001,3=10.0.0.3:7001 ,\t4=10.0.0.4:7001,"
        "5=10.0.0.5:7001\r\n"
        "log_level = debug\r\n"
        "[raft]\r\n"
        "election_timeout = 1s\r\n"
        "heartbeat_timeout = 100ms\r\n"
        "snapshot_threshold = 4096\r\n"
        "snapshot_trailing = 512\r\n"
        "[health]\r\n"
        "interval = 10s\r\n"
        "timeout = 3s\r\n"
        "retry_interval = 500ms\r\n"
        "retries = 0\r\n"
        "report_refresh = 1h\r\n"
        "passfile = /srv/pgq/.pgpass\r\n"
        "sslmode = verify-full\r\n"
        "sslcert = /srv/pgq/client.crt\r\n"
        "sslkey = /srv/pgq/client.key\r\n"
        "sslrootcert = /srv/pgq/ca.crt\r\n"
        "[failover]\r\n"
        "failover_timeout = 0s\r\n"
        "max_lag_on_failover = 16kB\r\n"
        "promote_timeout = 2m\r\n"
        "repoint_timeout = 90s\r\n"
        "replication_slots = off\r\n"
        "[api]\r\n"
        "idle_timeout = 1min\r\n"
        "max_clients = 8\r\n"
        "[tls]\r\n"
        "ca_file = /etc/pgquorum/ca.crt\r\n"
        "cert_file = /etc/pgquorum/monitor2.crt\r\n"
        "key_file = /etc/pgquorum/monitor2.key"; /* no newline at the end */
    struct config c;
    char err[512];
    (void)ctx;
    if (parse(&c, text, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(c.id, 2);
    assert_string_equal(c.data_dir, "/srv/pgq");
    assert_int_equal(c.n_peers, 5); /* blanks around the commas are allowed */
    assert_int_equal(c.peers[1].id, 2);
    assert_string_equal(c.peers[2].address, "10.0.0.3:7001");
    assert_int_equal(c.peers[3].id, 4);
    assert_int_equal(c.log_level, LOG_DEBUG_LEVEL);
    assert_int_equal(c.election_timeout_ms, 1000);
    assert_int_equal(c.heartbeat_timeout_ms, 100);
    assert_int_equal(c.snapshot_threshold, 4096);
    assert_int_equal(c.snapshot_trailing, 512);
    assert_int_equal(c.interval_ms, 10000);
    assert_int_equal(c.timeout_ms, 3000);
    assert_int_equal(c.retry_interval_ms, 500);
    assert_int_equal(c.retries, 0);
    assert_int_equal(c.report_refresh_ms, 3600000);
    assert_string_equal(c.passfile, "/srv/pgq/.pgpass");
    assert_string_equal(c.sslmode, "verify-full");
    assert_string_equal(c.sslcert, "/srv/pgq/client.crt");
    assert_string_equal(c.sslkey, "/srv/pgq/client.key");
    assert_string_equal(c.sslrootcert, "/srv/pgq/ca.crt");
    assert_true(c.tls);
    assert_string_equal(c.tls_ca_file, "/etc/pgquorum/ca.crt");
    assert_string_equal(c.tls_cert_file, "/etc/pgquorum/monitor2.crt");
    assert_string_equal(c.tls_key_file, "/etc/pgquorum/monitor2.key");
    assert_int_equal(c.failover_timeout_ms, 0);
    assert_int_equal(c.max_lag_bytes, 16384);
    assert_int_equal(c.promote_timeout_ms, 120000);
    assert_int_equal(c.repoint_timeout_ms, 90000);
    assert_false(c.replication_slots);
    assert_int_equal(c.api_idle_timeout_ms, 60000);
    assert_int_equal(c.api_max_clients, 8);
}

/* ---- value syntax ---------------------------------------------------------- */

static void test_durations(void **ctx)
{
    /* Durations need a number and a unit (ms, s, m/min, h); anything else is refused. */
    static const struct
    {
        const char *s;
        int rv;
        uint64_t ms;
    } cases[] = {
        {"500ms", 0, 500},
        {"30s", 0, 30000},
        {"2m", 0, 120000},
        {"2min", 0, 120000},
        {"1h", 0, 3600000},
        {"0s", 0, 0},
        {"007s", 0, 7000},
        {"30", PGQ_INVALID, 0},
        {"5 s", PGQ_INVALID, 0},
        {"-1s", PGQ_INVALID, 0},
        {"+1s", PGQ_INVALID, 0},
        {" 1s", PGQ_INVALID, 0},
        {"1s ", PGQ_INVALID, 0},
        {"", PGQ_INVALID, 0},
        {"s", PGQ_INVALID, 0},
        {"1.5s", PGQ_INVALID, 0},
        {"1d", PGQ_INVALID, 0},
        {"1S", PGQ_INVALID, 0},
        {"1sec", PGQ_INVALID, 0},
        {"0x10s", PGQ_INVALID, 0},
        {"18446744073709551615h", PGQ_INVALID, 0},
        {"18446744073709551616ms", PGQ_INVALID, 0},
        {"99999999999999999999999s", PGQ_INVALID, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        uint64_t ms = 424242;
        int rv = config_parse_duration(cases[i].s, &ms);
        if (rv != cases[i].rv) {
            fail_msg("config_parse_duration(\"%s\") returned %d, want %d", cases[i].s, rv,
                     cases[i].rv);
        }
        assert_int_equal(ms, rv == 0 ? cases[i].ms : 424242);
    }
}

static void test_sizes(void **ctx)
{
    /* Sizes are bytes or 1024-based kB/MB/GB, as in PostgreSQL; anything else is refused. */
    static const struct
    {
        const char *s;
        int rv;
        uint64_t bytes;
    } cases[] = {
        {"512", 0, 512},
        {"512B", 0, 512},
        {"16kB", 0, 16384},
        {"16KB", 0, 16384},
        {"16KiB", 0, 16384},
        {"1MB", 0, 1048576},
        {"1MiB", 0, 1048576},
        {"2GB", 0, 2147483648ull},
        {"0", 0, 0},
        {"18446744073709551615", 0, UINT64_MAX},
        {"1 MB", PGQ_INVALID, 0},
        {"1mb", PGQ_INVALID, 0},
        {"1TB", PGQ_INVALID, 0},
        {"-1", PGQ_INVALID, 0},
        {"MB", PGQ_INVALID, 0},
        {"", PGQ_INVALID, 0},
        {"1.5MB", PGQ_INVALID, 0},
        {"17179869184GB", PGQ_INVALID, 0},
        {"18446744073709551616", PGQ_INVALID, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        uint64_t bytes = 424242;
        int rv = config_parse_size(cases[i].s, &bytes);
        if (rv != cases[i].rv) {
            fail_msg("config_parse_size(\"%s\") returned %d, want %d", cases[i].s, rv, cases[i].rv);
        }
        assert_int_equal(bytes, rv == 0 ? cases[i].bytes : 424242);
    }
}

static void test_inline_comments_and_quotes(void **ctx)
{
    /* " #" and " ;" start an inline comment; quotes keep them, and '#' inside a word stays. */
    static const char tail[] =
        "[health]\n"
        "interval = 10s # ten seconds\n"
        "retries = 3 ; three\n"
        "passfile = /etc/pgq#1/pass\n"
        "sslcert = \"/path with # hash ; and spaces \"\n"
        "sslkey = \"\"\n"
        "sslrootcert = /ca.crt\t# tab before the comment\n";
    struct config c;
    char text[2048], err[512];
    (void)ctx;
    build(text, sizeof text, NULL, NULL, tail);
    if (parse(&c, text, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(c.interval_ms, 10000);
    assert_int_equal(c.retries, 3);
    assert_string_equal(c.passfile, "/etc/pgq#1/pass");
    assert_string_equal(c.sslcert, "/path with # hash ; and spaces ");
    assert_string_equal(c.sslkey, "");
    assert_string_equal(c.sslrootcert, "/ca.crt");
}

static void test_cross_key_limits_accepted(void **ctx)
{
    /* Cross-key rules accept their limits: election = 3x heartbeat, retry = interval = refresh. */
    static const char tail[] =
        "[raft]\n"
        "election_timeout = 150ms\n"
        "heartbeat_timeout = 50ms\n"
        "snapshot_threshold = 100\n"
        "snapshot_trailing = 100\n"
        "[health]\n"
        "interval = 2s\n"
        "retry_interval = 2s\n"
        "report_refresh = 2s\n";
    struct config c;
    char text[2048], err[512];
    (void)ctx;
    build(text, sizeof text, NULL, NULL, tail);
    if (parse(&c, text, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(c.election_timeout_ms, 150);
    assert_int_equal(c.retry_interval_ms, 2000);
}

/* ---- errors ------------------------------------------------------------------ */

/* One bad file: [monitor] with key=value replaced (value NULL: removed), then
 * tail, and the whole error line expected (or its start, when prefix). */
struct error_case
{
    const char *key;
    const char *value;
    const char *tail;
    const char *error;
    bool prefix;
};

static void check_error_cases(const struct error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct config c;
        char text[4096], err[512];
        int rv;
        build(text, sizeof text, cases[i].key, cases[i].value, cases[i].tail);
        rv = parse(&c, text, err, sizeof err);
        if (rv != PGQ_CONFIG) {
            fail_msg("case %zu (%s): config_parse returned %d, want PGQ_CONFIG", i, cases[i].error,
                     rv);
        }
        if (cases[i].prefix ? strncmp(err, cases[i].error, strlen(cases[i].error)) != 0
                            : strcmp(err, cases[i].error) != 0) {
            fail_msg("case %zu: error\n  \"%s\"\nwant%s\n  \"%s\"", i, err,
                     cases[i].prefix ? " a line starting with" : "", cases[i].error);
        }
    }
}

static void test_errors_structure(void **ctx)
{
    /* Errors in the file's structure name the file, the line and the [section] key. */
    static const struct error_case cases[] = {
        {NULL, NULL, "[foo]\nx = 1\n",
         PATH
         ":7: unknown section [foo] (known: monitor, raft, health, failover, api, http, auth)"},
        /* An unknown key close to one of its section's is named; one of another section
         * is sent there; a key like none gets no guess. */
        {NULL, NULL, "[health]\nintervall = 30s\n",
         PATH ":8: [health] intervall: unknown key; did you mean \"interval\"?"},
        {NULL, NULL, "[health]\nitnerval = 30s\n",
         PATH ":8: [health] itnerval: unknown key; did you mean \"interval\"?"},
        {NULL, NULL, "[health]\nretrys = 3\n",
         PATH ":8: [health] retrys: unknown key; did you mean \"retries\"?"},
        {NULL, NULL, "[raft]\ninterval = 30s\n",
         PATH ":8: [raft] interval: unknown key; it belongs in [health]"},
        {NULL, NULL, "[health]\nfrequency = 30s\n", PATH ":8: [health] frequency: unknown key"},
        {NULL, NULL, "[monitor]\nix = 1\n",
         PATH ":8: [monitor] ix: unknown key; did you mean \"id\"?"},
        {NULL, NULL, "[monitor]\nxy = 1\n", PATH ":8: [monitor] xy: unknown key"},
        {NULL, NULL, "[health]\ninterval = 30s\n\ninterval = 10s\n",
         PATH ":10: [health] interval: set twice (first on line 8)"},
        {"id", "1\nid = 1", NULL, PATH ":3: [monitor] id: set twice (first on line 2)"},
        {NULL, NULL, "[health\n", PATH ":7: expected [section]"},
        {NULL, NULL, "[health] x\n", PATH ":7: expected [section]"},
        {NULL, NULL, "[health]\njust words\n", PATH ":8: expected key = value, got \"just words\""},
        {NULL, NULL, "[health]\npassfile = \"/unterminated\n",
         PATH ":8: [health] passfile: unterminated quote"},
        {"id", NULL, NULL, PATH ": [monitor] id: required key missing"},
        {"data_dir", NULL, NULL, PATH ": [monitor] data_dir: required key missing"},
        {"peers", NULL, NULL, PATH ": [monitor] peers: required key missing"},
    };
    (void)ctx;
    check_error_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_voters_warning(void **ctx)
{
    /* 1 voter and an even number of voters are accepted with a warning saying what they
     * tolerate; 3 and 5 are accepted silently, and a node agent's file never warns. */
    static const struct
    {
        const char *peers;
        const char *warning; /* NULL: none */
    } cases[] = {
        {"1=10.0.0.1:7001",
         "[monitor] peers: 1 voter tolerates no failure: the quorum stops with this monitor (3 "
         "voters survive the loss of 1, 5 of 2)"},
        {"1=10.0.0.1:7001,2=10.0.0.2:7001",
         "[monitor] peers: 2 voters tolerate no more failures than 1 (none: a majority is 2 of "
         "2); use 3 (survives 1)"},
        {"1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001", NULL},
        {"1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001,4=10.0.0.4:7001",
         "[monitor] peers: 4 voters tolerate no more failures than 3 (1: a majority is 3 of 4); "
         "use 3 or 5 (survive 1 or 2)"},
        {"1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001,4=10.0.0.4:7001,5=10.0.0.5:7001", NULL},
    };
    struct config c;
    char text[2048], err[512], warning[256];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        build(text, sizeof text, "peers", cases[i].peers, NULL);
        if (parse(&c, text, err, sizeof err) != 0) {
            fail_msg("case %zu: %s", i, err);
        }
        warning[0] = '\0';
        if (config_voters_warning(&c, warning, sizeof warning) != (cases[i].warning != NULL)) {
            fail_msg("case %zu: warning \"%s\", want %s", i, warning,
                     cases[i].warning ? cases[i].warning : "none");
        }
        if (cases[i].warning != NULL) {
            assert_string_equal(warning, cases[i].warning);
        }
    }
    if (parse(&c,
              "[node]\nname = pg1\npgdata = /pg\nconninfo = host=10.0.0.9 port=5432\n"
              "monitors = 10.0.0.1:7002\ntls = off\n",
              err, sizeof err) != 0) {
        fail_msg("node file: %s", err);
    }
    assert_int_equal(config_voters_warning(&c, warning, sizeof warning), 0);
}

static void test_error_key_outside_section(void **ctx)
{
    /* A key before any [section] is refused at its line. */
    struct config c;
    char err[512];
    (void)ctx;
    assert_int_equal(parse(&c, "# comment\nid = 1\n[monitor]\n", err, sizeof err), PGQ_CONFIG);
    assert_string_equal(err, PATH ":2: id: key outside of any [section]");
}

static void test_errors_values(void **ctx)
{
    /* Bad values name the file, the line, the [section] key and what is expected. */
    static const struct error_case cases[] = {
        {NULL, NULL, "[health]\ninterval = 30\n",
         PATH ":8: [health] interval: \"30\" is not a duration (use a number and a unit: 500ms, "
              "30s, 2m, 1h)"},
        {NULL, NULL, "[health]\ninterval = 5 s\n",
         PATH ":8: [health] interval: \"5 s\" is not a duration", true},
        {NULL, NULL, "[health]\ninterval = -1s\n",
         PATH ":8: [health] interval: \"-1s\" is not a duration", true},
        {NULL, NULL, "[health]\ninterval = 50ms\n",
         PATH ":8: [health] interval: 50ms is out of range 100ms..86400000ms"},
        {NULL, NULL, "[raft]\nelection_timeout = 61s\n",
         PATH ":8: [raft] election_timeout: 61s is out of range 50ms..60000ms"},
        {NULL, NULL, "[health]\nretries = 101\n",
         PATH ":8: [health] retries: 101 is out of range 0..100"},
        {NULL, NULL, "[health]\nretries = two\n",
         PATH ":8: [health] retries: \"two\" is not a number"},
        {NULL, NULL, "[health]\nretries = 2x\n",
         PATH ":8: [health] retries: \"2x\" is not a number"},
        {NULL, NULL, "[health]\nretries =\n", PATH ":8: [health] retries: \"\" is not a number"},
        {"id", "0", NULL, PATH ":2: [monitor] id: 0 is out of range 1..1000000"},
        {NULL, NULL, "[failover]\nmax_lag_on_failover = 1 MB\n",
         PATH ":8: [failover] max_lag_on_failover: \"1 MB\" is not a size", true},
        {NULL, NULL, "[health]\nsslmode = verify\n",
         PATH ":8: [health] sslmode: \"verify\" is not a libpq sslmode (disable, allow, prefer, "
              "require, verify-ca, verify-full)"},
        {"log_level", "loud", NULL,
         PATH ":7: [monitor] log_level: \"loud\" is not one of error, warn, info, debug"},
        {"log_format", "xml", NULL,
         PATH ":7: [monitor] log_format: \"xml\" is not one of plain, json, syslog"},
        {NULL, NULL, "[failover]\nreplication_slots = yes\n",
         PATH ":8: [failover] replication_slots: \"yes\" is not on or off"},
        {"api_address", "localhost:7002", NULL,
         PATH
         ":5: [monitor] api_address: \"localhost:7002\" is not an IPv4 address (a.b.c.d:port)"},
        {"api_address", "10.0.0.1", NULL,
         PATH ":5: [monitor] api_address: \"10.0.0.1\" is not host:port"},
        {"raft_address", "10.0.0.1:70001", NULL,
         PATH ":4: [monitor] raft_address: \"10.0.0.1:70001\" is not host:port"},
        {"peers", "1=10.0.0.1:7001,1=10.0.0.2:7001", NULL,
         PATH ":6: [monitor] peers: monitor id 1 listed twice"},
        {"peers", "1=10.0.0.1:7001,2=10.0.0.1:7001", NULL,
         PATH ":6: [monitor] peers: address 10.0.0.1:7001 listed twice"},
        {"peers", "1=10.0.0.1:7001,,2=10.0.0.2:7001", NULL,
         PATH ":6: [monitor] peers: expected id=host:port[,id=host:port...]"},
        {"peers", "10.0.0.1:7001", NULL,
         PATH ":6: [monitor] peers: \"10.0.0.1:7001\" is not id=host:port"},
        {"peers", "0=10.0.0.1:7001", NULL,
         PATH ":6: [monitor] peers: \"0\" is not a monitor id > 0"},
        {"peers", "x=10.0.0.1:7001", NULL,
         PATH ":6: [monitor] peers: \"x\" is not a monitor id > 0"},
        {"peers", "1=10.0.0.1:7001,1000001=10.0.0.2:7001", NULL,
         PATH ":6: [monitor] peers: monitor id 1000001 is out of range 1..1000000"},
        {"peers", "1=10.0.0.1:7001,99999999999999999999=10.0.0.2:7001", NULL,
         PATH ":6: [monitor] peers: monitor id 99999999999999999999 is out of range 1..1000000"},
        {"peers", "", NULL, PATH ":6: [monitor] peers: no monitors listed"},
        {"peers",
         "1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001,4=10.0.0.4:7001,5=10.0.0.5:7001,"
         "6=10.0.0.6:7001,7=10.0.0.7:7001,8=10.0.0.8:7001,9=10.0.0.9:7001,10=10.0.0.10:7001",
         NULL, PATH ":6: [monitor] peers: more than 9 monitors"},
    };
    (void)ctx;
    check_error_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_join(void **ctx)
{
    /* A monitor joining a running group (join = on) need not be in peers: the peers are only
     * the bootstrap set; without join it must be, and join is off by default. */
    struct config c;
    char text[2048], err[512];
    (void)ctx;
    build(text, sizeof text, "raft_address", "10.0.0.4:7001\njoin = on", NULL);
    {
        char *p = strstr(text, "id = 1");
        assert_non_null(p);
        p[5] = '4';
    }
    if (parse(&c, text, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_true(c.join);
    assert_int_equal(c.id, 4);
    build(text, sizeof text, NULL, NULL, NULL);
    assert_int_equal(parse(&c, text, err, sizeof err), 0);
    assert_false(c.join);
}

static void test_errors_cross_key(void **ctx)
{
    /* Rules between keys are reported at the line of the key that must change. */
    static const struct error_case cases[] = {
        {"id", "4", NULL,
         PATH ":6: [monitor] peers: does not list this monitor's id 4 (a monitor added to a "
              "running group has join = on)"},
        /* A joining monitor need not be listed, but may not take another's address. */
        {"id", "4\njoin = on", NULL,
         PATH ":5: [monitor] raft_address: 10.0.0.1:7001 is monitor 1's in peers, not 4's"},
        {"raft_address", "10.0.0.1:7005", NULL,
         PATH ":4: [monitor] raft_address: 10.0.0.1:7005 differs from peers entry 1=10.0.0.1:7001"},
        {"api_address", "10.0.0.1:7001", NULL,
         PATH ":5: [monitor] api_address: must differ from raft_address"},
        {"data_dir", "\"\"", NULL, PATH ":3: [monitor] data_dir: empty path"},
        {NULL, NULL, "[raft]\nelection_timeout = 100ms\nheartbeat_timeout = 50ms\n",
         PATH ":8: [raft] election_timeout: 100ms must be at least 3x heartbeat_timeout (50ms)"},
        {NULL, NULL, "[health]\ninterval = 1s\nretry_interval = 2s\n",
         PATH ":9: [health] retry_interval: 2000ms is longer than interval (1000ms)"},
        {NULL, NULL, "[health]\ninterval = 5m\nreport_refresh = 2m\n",
         PATH ":9: [health] report_refresh: 120000ms is shorter than interval (300000ms)"},
        {NULL, NULL, "[raft]\nsnapshot_threshold = 100\nsnapshot_trailing = 101\n",
         PATH ":9: [raft] snapshot_trailing: larger than snapshot_threshold"},
    };
    (void)ctx;
    check_error_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_error_long_line(void **ctx)
{
    /* A line longer than the reader's buffer is refused at its number, not cut. */
    struct config c;
    char text[4096], err[512];
    char tail[3000];
    (void)ctx;
    snprintf(tail, sizeof tail, "[health]\npassfile = ");
    memset(tail + strlen(tail), 'p', 2100);
    tail[sizeof "[health]\npassfile = " - 1 + 2100] = '\0';
    build(text, sizeof text, NULL, NULL, tail);
    assert_int_equal(parse(&c, text, err, sizeof err), PGQ_CONFIG);
    assert_string_equal(err, PATH ":8: line longer than 2047 bytes");
}

static void test_error_string_too_long(void **ctx)
{
    /* A path longer than its field is refused, never truncated. */
    struct config c;
    char text[4096], err[512];
    char tail[1000];
    (void)ctx;
    snprintf(tail, sizeof tail, "[health]\npassfile = /");
    memset(tail + strlen(tail), 'p', PGQ_PATH_MAX);
    tail[sizeof "[health]\npassfile = /" - 1 + PGQ_PATH_MAX] = '\0';
    build(text, sizeof text, NULL, NULL, tail);
    assert_int_equal(parse(&c, text, err, sizeof err), PGQ_CONFIG);
    assert_string_equal(err, PATH ":8: [health] passfile: longer than 511 bytes");
}

/* ---- reference ----------------------------------------------------------------- */

struct lines
{
    unsigned n_keys;
    unsigned n_required;
    unsigned n_sections;
    char all[16384];
};

static void collect(void *arg, const char *line)
{
    struct lines *l = arg;
    if (strncmp(line, "| `", 3) == 0) {
        l->n_keys++;
        if (strstr(line, "**required**") != NULL) {
            l->n_required++;
        }
    }
    if (strstr(line, "### [") != NULL) {
        l->n_sections++;
    }
    pgq_appendf(l->all, sizeof l->all, "%s\n", line);
}

static void test_print_reference(void **ctx)
{
    /* The reference prints one table row per key, with its default or **required**. */
    static const char *const rows[] = {
        "| `id` | **required** |",
        "| `peers` | **required** |",
        "| `log_level` | info |",
        "| `election_timeout` | 500ms |",
        "| `heartbeat_timeout` | 50ms |",
        "| `interval` | 30s |",
        "| `retries` | 2 |",
        "| `report_refresh` | 1m |",
        "| `passfile` | (empty) |",
        "| `failover_timeout` | 5s |",
        "| `max_lag_on_failover` | 1MB |",
        "| `cut_timeout` | 2s |",
        "| `max_clients` | 256 |",
        "| `crash_policy` | auto |",
        "| `lease_time` | 4s |",
        "| `replication_slots` | on |",
        "| `http_address` | (empty) |",
        "| `max_clients` | 64 |",
    };
    static const char *const sections[] = {"### [monitor]",  "### [raft]", "### [health]",
                                           "### [failover]", "### [api]",  "### [tls]",
                                           "### [http]",     "### [auth]", "### [node]"};
    static struct lines l;
    (void)ctx;
    memset(&l, 0, sizeof l);
    config_print_reference(collect, &l);
    assert_int_equal(l.n_keys, 75);
    assert_int_equal(l.n_required, 9);
    assert_int_equal(l.n_sections, 9);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(rows); i++) {
        assert_contains(l.all, rows[i]);
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(sections); i++) {
        assert_contains(l.all, sections[i]);
    }
    assert_contains(l.all, "| `log_format` | plain |");
}

static void test_tls_required(void **ctx)
{
    /* TLS is on by default: a file without its [tls] files is refused, naming the missing
     * key and the way to plain TCP; tls = off is the explicit way there. */
    static const struct
    {
        const char *tail;
        const char *error; /* NULL: accepted */
    } cases[] = {
        {"[tls]\n", PATH ": [tls] ca_file: required while tls is on (give ca_file, cert_file "
                         "and key_file, or set tls = off in [monitor] for plain TCP)"},
        {"[tls]\nca_file = /ca.crt\nkey_file = /k\n",
         PATH ": [tls] cert_file: required while tls is on (give ca_file, cert_file and "
              "key_file, or set tls = off in [monitor] for plain TCP)"},
        {"[tls]\nca_file = /ca.crt\ncert_file = /c\n",
         PATH ": [tls] key_file: required while tls is on (give ca_file, cert_file and "
              "key_file, or set tls = off in [monitor] for plain TCP)"},
        {"tls = off\n", NULL},
        {"tls = maybe\n", PATH ":7: [monitor] tls: \"maybe\" is not on or off"},
    };
    struct config c;
    char text[2048], err[512];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        build(text, sizeof text, NULL, NULL, cases[i].tail);
        int rv = parse(&c, text, err, sizeof err);
        if (cases[i].error == NULL) {
            if (rv != 0) {
                fail_msg("case %zu: %s", i, err);
            }
            assert_false(c.tls);
        } else {
            assert_int_equal(rv, PGQ_CONFIG);
            assert_string_equal(err, cases[i].error);
        }
    }
}

static void test_auth_params(void **state)
{
    /* Only the credentials the operator set are handed to libpq, in a fixed order and within
     * the room given: an empty value would override the node's own conninfo. */
    struct config c;
    const char *keys[8], *values[8];
    (void)state;
    config_defaults(&c);
    assert_int_equal(config_auth_params(&c, keys, values, 8), 0);
    strcpy(c.passfile, "/etc/pgquorum/pgpass");
    strcpy(c.sslmode, "verify-full");
    strcpy(c.sslrootcert, "/etc/pgquorum/ca.crt");
    assert_int_equal(config_auth_params(&c, keys, values, 8), 3);
    assert_string_equal(keys[0], "passfile");
    assert_string_equal(values[0], "/etc/pgquorum/pgpass");
    assert_string_equal(keys[1], "sslmode");
    assert_string_equal(values[1], "verify-full");
    assert_string_equal(keys[2], "sslrootcert");
    assert_string_equal(values[2], "/etc/pgquorum/ca.crt");
    assert_int_equal(config_auth_params(&c, keys, values, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_minimal_file),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_inline_comments_and_quotes),
        cmocka_unit_test(test_cross_key_limits_accepted),
        cmocka_unit_test(test_errors_structure),
        cmocka_unit_test(test_voters_warning),
        cmocka_unit_test(test_error_key_outside_section),
        cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_errors_cross_key),
        cmocka_unit_test(test_error_long_line),
        cmocka_unit_test(test_error_string_too_long),
        cmocka_unit_test(test_print_reference),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_tls_required),
        cmocka_unit_test(test_auth_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
