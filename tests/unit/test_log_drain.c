/* Unit tests of agent/log_drain_msg.c: the log_drain URL and its one-line
 * errors, facility names, the RFC 5424 message, RFC 5425 octet framing,
 * and the bounded queue's drop accounting; and the log_drain keys as the
 * configuration parser takes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lib/util.h"
#include "log_drain_msg.h"
#include "metrics.h"
#include "pgquorum/pgquorum.h"

#define assert_contains(hay, needle)                                     \
    do {                                                                 \
        if (strstr((hay), (needle)) == NULL) {                           \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
        }                                                                \
    } while (0)

/* 2024-05-01T12:34:56.789012Z */
#define T_US 1714566896789012ull

/* ---- the URL ------------------------------------------------------------- */

static void test_url_accepted(void **ctx)
{
    /* TLS and plain TCP URLs with a name, an IPv4 or a bracketed IPv6 host parse into scheme,
     * host (without brackets) and port. */
    static const struct
    {
        const char *url;
        int scheme;
        const char *host;
        unsigned port;
    } cases[] = {
        {"syslog+tls://logs.example.com:6514", DRAIN_TLS, "logs.example.com", 6514},
        {"syslog+tls://127.0.0.1:1", DRAIN_TLS, "127.0.0.1", 1},
        {"syslog+tcp://10.0.0.9:514", DRAIN_TCP, "10.0.0.9", 514},
        {"syslog+tls://[::1]:6514", DRAIN_TLS, "::1", 6514},
        {"syslog+tls://collector_1:65535", DRAIN_TLS, "collector_1", 65535},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct drain_url u;
        char why[256] = "";
        assert_int_equal(drain_url_parse(cases[i].url, &u, why, sizeof why), 0);
        assert_int_equal(u.scheme, cases[i].scheme);
        assert_string_equal(u.host, cases[i].host);
        assert_int_equal(u.port, cases[i].port);
    }
}

static void test_url_errors(void **ctx)
{
    /* A bad URL is refused with one line that quotes it and says what is wrong. */
    static const struct
    {
        const char *url, *why;
    } cases[] = {
        {"syslog+tls://host", "\"syslog+tls://host\": no port (HOST:PORT; 6514 is the usual"},
        {"http://x", "\"http://x\" is not syslog+tls://HOST:PORT (or syslog+tcp://HOST:PORT"},
        {"syslog://h:514", "is not syslog+tls://HOST:PORT"},
        {"syslog+tls://:6514", "no host"},
        {"syslog+tls://h:0", "port 0 is out of range 1..65535"},
        {"syslog+tls://h:70000", "port 70000 is out of range 1..65535"},
        {"syslog+tls://h:abc", "the port is not a number"},
        {"syslog+tls://h:6514x", "the port is not a number"},
        {"syslog+tls://h:6514/logs", "a path or query after the port"},
        {"syslog+tls://[::1", "unterminated ["},
        {"syslog+tls://[::1]", "no port"},
        {"syslog+tls://a b:1", "has a character that is not allowed"},
        {"syslog+tls://h/x", "no port"},
        {"", "is not syslog+tls://"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct drain_url u;
        char why[256] = "";
        assert_int_equal(drain_url_parse(cases[i].url, &u, why, sizeof why), PGQ_INVALID);
        assert_contains(why, cases[i].why);
        assert_null(strchr(why, '\n'));
    }
}

/* ---- facilities ---------------------------------------------------------- */

static void test_facilities(void **ctx)
{
    /* Facility names map to their RFC 5424 codes and back; unknown names are refused. */
    int code = -1;
    (void)ctx;
    assert_int_equal(drain_facility_parse("daemon", &code), 0);
    assert_int_equal(code, DRAIN_FACILITY_DAEMON);
    assert_int_equal(drain_facility_parse("local7", &code), 0);
    assert_int_equal(code, 23);
    assert_int_equal(drain_facility_parse("kern", &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(drain_facility_parse("ntp", &code), PGQ_INVALID);
    assert_int_equal(drain_facility_parse("", &code), PGQ_INVALID);
    assert_string_equal(drain_facility_name(16), "local0");
    assert_string_equal(drain_facility_name(12), "?");
    assert_string_equal(drain_facility_name(99), "?");
}

/* ---- one message --------------------------------------------------------- */

static const struct drain_origin monitor_origin = {
    .facility = DRAIN_FACILITY_DAEMON,
    .hostname = "db-mon1",
    .app_name = "pgquorumd",
    .procid = 4242,
    .msgid = "monitor",
    .sd = "[pgquorum@32473 role=\"monitor\" id=\"1\"]",
};

static void test_structured_data(void **ctx)
{
    /* A monitor's SD element names its role and id, a node agent's its role, cluster and node;
     * quotes, backslashes and ] in values are escaped. */
    char sd[256];
    (void)ctx;
    drain_sd(sd, sizeof sd, "monitor", 3, NULL, NULL);
    assert_string_equal(sd, "[pgquorum@32473 role=\"monitor\" id=\"3\"]");
    drain_sd(sd, sizeof sd, "node", 0, "main", "pg1");
    assert_string_equal(sd, "[pgquorum@32473 role=\"node\" cluster=\"main\" node=\"pg1\"]");
    drain_sd(sd, sizeof sd, "node", 0, "a\"b", "c]d\\");
    assert_string_equal(sd, "[pgquorum@32473 role=\"node\" cluster=\"a\\\"b\" node=\"c\\]d\\\\\"]");
}

static void test_message_fields(void **ctx)
{
    /* A message is <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG, PRI = facility * 8 +
     * severity, the time in UTC with microseconds. */
    char m[DRAIN_MSG_MAX];
    size_t n;
    (void)ctx;
    n = drain_format(m, sizeof m, &monitor_origin, LOG_INFO_LEVEL, T_US, "monitor 1 started");
    assert_string_equal(m,
                        "<30>1 2024-05-01T12:34:56.789012Z db-mon1 pgquorumd 4242 monitor "
                        "[pgquorum@32473 role=\"monitor\" id=\"1\"] monitor 1 started");
    assert_int_equal(n, strlen(m));
    drain_format(m, sizeof m, &monitor_origin, LOG_ERROR_LEVEL, 1000000, "x");
    assert_contains(m, "<27>1 1970-01-01T00:00:01.000000Z ");
    drain_format(m, sizeof m, &monitor_origin, LOG_WARN_LEVEL, 1, "x");
    assert_contains(m, "<28>1 1970-01-01T00:00:00.000001Z ");
    drain_format(m, sizeof m, &monitor_origin, LOG_DEBUG_LEVEL + 3, T_US, "x");
    assert_contains(m, "<31>1 ");
}

static void test_message_header_nil_and_sanitized(void **ctx)
{
    /* Empty header fields are the NILVALUE "-", bytes outside printable US-ASCII become '_', and
     * each field is cut to its RFC 5424 length (APP-NAME 48, MSGID 32). */
    char m[DRAIN_MSG_MAX], longapp[80], longid[60];
    struct drain_origin o = monitor_origin;
    (void)ctx;
    o.facility = 16;
    o.hostname = "";
    o.sd = "-";
    o.msgid = "bad id\x01";
    drain_format(m, sizeof m, &o, LOG_INFO_LEVEL, T_US, "hi");
    assert_string_equal(m, "<134>1 2024-05-01T12:34:56.789012Z - pgquorumd 4242 bad_id_ - hi");
    memset(longapp, 'a', sizeof longapp - 1);
    longapp[sizeof longapp - 1] = '\0';
    memset(longid, 'm', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    o.app_name = longapp;
    o.msgid = longid;
    drain_format(m, sizeof m, &o, LOG_INFO_LEVEL, T_US, "hi");
    assert_contains(m,
                    " - aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 4242 "
                    "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm - hi");
}

static void test_message_utf8(void **ctx)
{
    /* MSG is UTF-8 without a BOM: valid sequences pass unchanged, every byte that is not part of
     * one (stray continuation, overlong, surrogate, past U+10FFFF, cut short) becomes '?'. */
    static const struct
    {
        const char *msg, *out;
    } cases[] = {
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad \xff\xfe end", "bad ?? end"},
        {"stray \x80", "stray ?"},
        {"overlong \xc0\xaf", "overlong ??"},
        {"surrogate \xed\xa0\x80", "surrogate ???"},
        {"big \xf4\x90\x80\x80", "big ????"},
        {"cut \xe2\x82", "cut ??"},
    };
    struct drain_origin o = monitor_origin;
    (void)ctx;
    o.sd = "-";
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char m[DRAIN_MSG_MAX];
        const char *msg;
        drain_format(m, sizeof m, &o, LOG_INFO_LEVEL, T_US, cases[i].msg);
        msg = strstr(m, " monitor - ");
        assert_non_null(msg);
        assert_string_equal(msg + strlen(" monitor - "), cases[i].out);
    }
}

static void test_message_too_long(void **ctx)
{
    /* A message that does not fit is refused whole (no truncated message), and the longest log
     * message with the longest header fields fits in DRAIN_MSG_MAX and its frame in
     * DRAIN_FRAME_MAX. */
    char small[40], m[DRAIN_MSG_MAX], f[DRAIN_FRAME_MAX], msg[LOG_MSG_MAX], host[300], sd[256];
    struct drain_origin o = monitor_origin;
    (void)ctx;
    assert_int_equal(drain_format(small, sizeof small, &o, LOG_INFO_LEVEL, T_US, "hello"), 0);
    assert_string_equal(small, "");
    memset(msg, '\xe2', sizeof msg - 1); /* all invalid: each byte becomes '?' */
    msg[sizeof msg - 1] = '\0';
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    drain_sd(sd, sizeof sd, "node", 0,
             "cluster-with-a-name-of-sixty-three-characters-0123456789abcd",
             "node-with-a-name-of-sixty-three-characters-0123456789abcdefghij");
    o.hostname = host;
    o.sd = sd;
    assert_true(drain_format(m, sizeof m, &o, LOG_INFO_LEVEL, T_US, msg) > 0);
    assert_true(drain_format_frame(f, sizeof f, &o, LOG_INFO_LEVEL, T_US, msg) > 0);
}

static void test_octet_framing(void **ctx)
{
    /* RFC 5425: a frame is the message's length in decimal, one space, then exactly that many
     * bytes (no terminator); too small a buffer gives 0. */
    char f[64];
    size_t n;
    (void)ctx;
    n = drain_frame(f, sizeof f, "<30>1 - - - - - hi", 18);
    assert_int_equal(n, 21);
    assert_memory_equal(f, "18 <30>1 - - - - - hi", 21);
    n = drain_frame(f, sizeof f, "", 0);
    assert_int_equal(n, 2);
    assert_memory_equal(f, "0 ", 2);
    assert_int_equal(drain_frame(f, 20, "<30>1 - - - - - hi", 18), 0);
    {
        char m[DRAIN_MSG_MAX], fr[DRAIN_FRAME_MAX];
        size_t len = drain_format(m, sizeof m, &monitor_origin, LOG_INFO_LEVEL, T_US, "x");
        char head[16];
        n = drain_format_frame(fr, sizeof fr, &monitor_origin, LOG_INFO_LEVEL, T_US, "x");
        snprintf(head, sizeof head, "%zu ", len);
        assert_int_equal(n, strlen(head) + len);
        assert_memory_equal(fr, head, strlen(head));
        assert_memory_equal(fr + strlen(head), m, len);
    }
}

/* ---- the queue ----------------------------------------------------------- */

static void push_str(struct drain_queue *q, const char *s)
{
    drain_queue_push(q, s, strlen(s));
}

static void test_queue_fifo(void **ctx)
{
    /* Lines come out oldest first, whole frames only, as many as fit the buffer; the byte and
     * line counts follow. */
    struct drain_queue q;
    char buf[64];
    size_t n_lines, n;
    (void)ctx;
    assert_int_equal(drain_queue_init(&q, 4), 0);
    push_str(&q, "aaaa");
    push_str(&q, "bbbbbb");
    push_str(&q, "cc");
    assert_int_equal(q.count, 3);
    assert_int_equal(q.bytes, 12);
    n = drain_queue_take(&q, buf, 10, &n_lines);
    assert_int_equal(n, 10);
    assert_int_equal(n_lines, 2);
    assert_memory_equal(buf, "aaaabbbbbb", 10);
    n = drain_queue_take(&q, buf, 1, &n_lines); /* "cc" does not fit: nothing taken */
    assert_int_equal(n, 0);
    assert_int_equal(n_lines, 0);
    n = drain_queue_take(&q, buf, sizeof buf, &n_lines);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "cc", 2);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(q.dropped_total, 0);
    drain_queue_close(&q);
}

static void test_queue_drops_oldest_and_counts(void **ctx)
{
    /* A full queue drops its oldest line for each new one and counts it; the count since the
     * last report resets when taken, the total does not; lines lost in flight add to both. */
    struct drain_queue q;
    char buf[64];
    size_t n_lines, n;
    (void)ctx;
    assert_int_equal(drain_queue_init(&q, 3), 0);
    for (char ch = 'a'; ch <= 'g'; ch++) {
        char s[2] = {ch, '\0'};
        push_str(&q, s);
    }
    assert_int_equal(q.count, 3);
    assert_int_equal(q.dropped, 4);
    assert_int_equal(q.dropped_total, 4);
    n = drain_queue_take(&q, buf, sizeof buf, &n_lines);
    assert_int_equal(n_lines, 3);
    assert_memory_equal(buf, "efg", n);
    assert_int_equal(drain_queue_take_dropped(&q), 4);
    assert_int_equal(drain_queue_take_dropped(&q), 0);
    assert_int_equal(q.dropped_total, 4);
    drain_queue_count_lost(&q, 2);
    assert_int_equal(drain_queue_take_dropped(&q), 2);
    assert_int_equal(q.dropped_total, 6);
    /* The ring wraps around correctly after the drops. */
    push_str(&q, "x");
    push_str(&q, "y");
    n = drain_queue_take(&q, buf, sizeof buf, &n_lines);
    assert_memory_equal(buf, "xy", n);
    drain_queue_close(&q);
}

static void test_queue_close_frees(void **ctx)
{
    /* Closing a queue with lines still in it frees them (the sanitizer's leak check). */
    struct drain_queue q;
    (void)ctx;
    assert_int_equal(drain_queue_init(&q, 2), 0);
    push_str(&q, "one");
    push_str(&q, "two");
    drain_queue_close(&q);
    assert_null(q.ring);
}

/* ---- configuration ------------------------------------------------------- */

#define MONITOR_FILE                                                                         \
    "[monitor]\nid = 1\ndata_dir = /var/lib/pgquorum\nraft_address = 10.0.0.1:7001\n"        \
    "api_address = 10.0.0.1:7002\npeers = 1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001\n" \
    "tls = off\n"

static void test_config_keys(void **ctx)
{
    /* The drain is off by default (facility daemon, 1000 lines); [monitor] and [node] both take
     * the log_drain keys. */
    struct config c;
    char err[512] = "";
    (void)ctx;
    assert_int_equal(config_parse(&c, "f", MONITOR_FILE, err, sizeof err), 0);
    assert_string_equal(c.log_drain, "");
    assert_int_equal(c.log_drain_facility, DRAIN_FACILITY_DAEMON);
    assert_int_equal(c.log_drain_queue, 1000);
    assert_string_equal(c.log_drain_ca, "");
    assert_int_equal(config_parse(&c, "f",
                                  MONITOR_FILE "log_drain = syslog+tls://logs:6514\n"
                                               "log_drain_facility = local3\n"
                                               "log_drain_queue = 50\n"
                                               "log_drain_ca = /etc/pgquorum/logs-ca.crt\n",
                                  err, sizeof err),
                     0);
    assert_string_equal(c.log_drain, "syslog+tls://logs:6514");
    assert_int_equal(c.log_drain_facility, 19);
    assert_int_equal(c.log_drain_queue, 50);
    assert_string_equal(c.log_drain_ca, "/etc/pgquorum/logs-ca.crt");
    assert_int_equal(config_parse(&c, "f",
                                  "[node]\nname = pg1\npgdata = /d\nconninfo = host=10.0.0.5\n"
                                  "tls = off\n"
                                  "monitors = 10.0.0.1:7002\n"
                                  "log_drain = syslog+tcp://10.0.0.9:514\n",
                                  err, sizeof err),
                     0);
    assert_string_equal(c.log_drain, "syslog+tcp://10.0.0.9:514");
}

static void test_config_errors(void **ctx)
{
    /* Bad drain values are one line naming the file, the line, the key and the problem. */
    static const struct
    {
        const char *line, *err;
    } cases[] = {
        {"log_drain = syslog+tls://host\n",
         "f:8: [monitor] log_drain: \"syslog+tls://host\": no port"},
        {"log_drain = http://x\n", "f:8: [monitor] log_drain: \"http://x\" is not syslog+tls://"},
        {"log_drain = syslog+tls://h:6514\n",
         "f:8: [monitor] log_drain: syslog+tls needs a CA to verify the collector with (set "
         "log_drain_ca, or [tls] ca_file)"},
        {"log_drain_facility = ntp\n",
         "f:8: [monitor] log_drain_facility: \"ntp\" is not one of kern, user"},
        {"log_drain_queue = 0\n", "f:8: [monitor] log_drain_queue: 0 is out of range 1..1000000"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct config c;
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, MONITOR_FILE "%s", cases[i].line);
        assert_int_equal(config_parse(&c, "f", text, err, sizeof err), PGQ_CONFIG);
        assert_contains(err, cases[i].err);
        assert_null(strchr(err, '\n'));
    }
}

/* ---- metrics ------------------------------------------------------------- */

static void test_metrics_families(void **ctx)
{
    /* Without a drain no family is written; with one, connected, queued and dropped_total. */
    struct metrics_buf b;
    struct log_drain_stats st = {0};
    size_t len;
    char *text;
    (void)ctx;
    metrics_init(&b);
    metrics_log_drain(&b, &st);
    text = metrics_take(&b, &len); /* nothing written: no text */
    assert_int_equal(len, 0);
    free(text);
    st.configured = true;
    st.connected = false;
    st.queued = 5;
    st.dropped_total = 12;
    metrics_log_drain(&b, &st);
    text = metrics_take(&b, &len);
    assert_non_null(text);
    assert_contains(text,
                    "# TYPE pgquorum_log_drain_connected gauge\npgquorum_log_drain_connected 0\n");
    assert_contains(text, "# TYPE pgquorum_log_drain_queued gauge\npgquorum_log_drain_queued 5\n");
    assert_contains(text,
                    "# TYPE pgquorum_log_drain_dropped_total counter\n"
                    "pgquorum_log_drain_dropped_total 12\n");
    free(text);
    metrics_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_accepted),
        cmocka_unit_test(test_url_errors),
        cmocka_unit_test(test_facilities),
        cmocka_unit_test(test_structured_data),
        cmocka_unit_test(test_message_fields),
        cmocka_unit_test(test_message_header_nil_and_sanitized),
        cmocka_unit_test(test_message_utf8),
        cmocka_unit_test(test_message_too_long),
        cmocka_unit_test(test_octet_framing),
        cmocka_unit_test(test_queue_fifo),
        cmocka_unit_test(test_queue_drops_oldest_and_counts),
        cmocka_unit_test(test_queue_close_frees),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_metrics_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
