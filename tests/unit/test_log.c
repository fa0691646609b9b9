/* Unit tests of agent/log_line.c: the plain line and the JSON object of
 * log_format = json, built from a time, the program, the id, the node, the
 * level and the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "config.h"
#include "log_line.h"
#include "pgquorum/pgquorum.h"

/* 2024-05-01T12:34:56.789Z */
#define T_MS 1714566896789ull

static void test_plain_line(void **ctx)
{
    /* The plain line is TIME PROG[ID] LEVEL: MESSAGE, in UTC with milliseconds. */
    char line[LOG_LINE_MAX];
    (void)ctx;
    log_line_plain(line, sizeof line, T_MS, "pgquorumd", 3, LOG_WARN_LEVEL, "peer 2 down");
    assert_string_equal(line, "2024-05-01T12:34:56.789Z pgquorumd[3] WARN: peer 2 down");
    log_line_plain(line, sizeof line, 1000, "pgquorumd", 0, LOG_DEBUG_LEVEL + 5, "x");
    assert_string_equal(line, "1970-01-01T00:00:01.000Z pgquorumd[0] DEBUG: x");
}

static void test_json_line_fields(void **ctx)
{
    /* A JSON line is one compact object with ts, level (as log_level spells it), prog, id and
     * msg in that order, and node only for an agent. */
    char line[LOG_LINE_MAX];
    (void)ctx;
    assert_int_equal(log_line_json(line, sizeof line, T_MS, "pgquorumd", 2, "", LOG_INFO_LEVEL,
                                   "monitor 2 started"),
                     0);
    assert_string_equal(line,
                        "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"info\",\"prog\":"
                        "\"pgquorumd\",\"id\":2,\"msg\":\"monitor 2 started\"}");
    assert_int_equal(
        log_line_json(line, sizeof line, T_MS, "pgquorumd", 0, "pg1", LOG_ERROR_LEVEL, "fenced"),
        0);
    assert_string_equal(line,
                        "{\"ts\":\"2024-05-01T12:34:56.789Z\",\"level\":\"error\",\"prog\":"
                        "\"pgquorumd\",\"id\":0,\"node\":\"pg1\",\"msg\":\"fenced\"}");
    assert_null(strchr(line, '\n'));
}

static void test_json_line_escapes(void **ctx)
{
    /* Quotes, backslashes and control characters in a message are escaped, and bytes that are
     * not UTF-8 become '?': the line always parses back to the message. */
    static const struct
    {
        const char *msg, *parsed;
    } cases[] = {
        {"say \"hi\" \\ bye", "say \"hi\" \\ bye"},
        {"tab\there\nnewline", "tab\there\nnewline"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"bad \xff\xfe utf8", "bad ?? utf8"},
    };
    (void)ctx;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[LOG_LINE_MAX];
        json_error_t jerr;
        json_t *o;
        assert_int_equal(log_line_json(line, sizeof line, T_MS, "pgquorumd", 1, "", LOG_INFO_LEVEL,
                                       cases[i].msg),
                         0);
        assert_null(strchr(line, '\n'));
        o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "msg")), cases[i].parsed);
        json_decref(o);
    }
}

static void test_json_line_too_long(void **ctx)
{
    /* A line that does not fit the buffer is refused whole (no truncated JSON), and the longest
     * message, all control characters, fits in LOG_LINE_MAX. */
    char small[32], line[LOG_LINE_MAX], msg[LOG_MSG_MAX];
    (void)ctx;
    assert_int_equal(log_line_json(small, sizeof small, T_MS, "pgquorumd", 1, "", LOG_INFO_LEVEL,
                                   "a message longer than the buffer"),
                     PGQ_NOMEM);
    assert_string_equal(small, "");
    memset(msg, '\x01', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    assert_int_equal(log_line_json(line, sizeof line, T_MS, "pgquorumd", 1, "pg-with-a-long-name",
                                   LOG_INFO_LEVEL, msg),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),
        cmocka_unit_test(test_json_line_fields),
        cmocka_unit_test(test_json_line_escapes),
        cmocka_unit_test(test_json_line_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
