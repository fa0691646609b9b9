/* Unit tests of the small helpers in agent/lib/util.c and of the error and
 * enum name tables in agent/err.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/util.h"
#include "pgquorum/pgquorum.h"

/* ---- pgq_strlcpy / pgq_appendf ----------------------------------------- */

static void test_strlcpy_fits(void **ctx)
{
    /* A copy that fits is complete and returns the source length. */
    char buf[8];
    (void)ctx;
    assert_int_equal(pgq_strlcpy(buf, "abc", sizeof buf), 3);
    assert_string_equal(buf, "abc");
    assert_int_equal(pgq_strlcpy(buf, "abcdefg", sizeof buf), 7);
    assert_string_equal(buf, "abcdefg");
}

static void test_strlcpy_truncates(void **ctx)
{
    /* A copy that does not fit is cut to size-1 bytes and returns a length >= size. */
    char buf[4];
    (void)ctx;
    assert_int_equal(pgq_strlcpy(buf, "abcdef", sizeof buf), 6);
    assert_string_equal(buf, "abc");
    assert_int_equal(pgq_strlcpy(buf, "abcd", sizeof buf), 4);
    assert_string_equal(buf, "abc");
}

static void test_strlcpy_size_zero(void **ctx)
{
    /* With size 0 nothing is written and the source length is still returned. */
    char buf[4] = "xyz";
    (void)ctx;
    assert_int_equal(pgq_strlcpy(buf, "abcdef", 0), 6);
    assert_string_equal(buf, "xyz");
}

static void test_appendf(void **ctx)
{
    /* Appending adds to the end and truncates silently when the buffer is full. */
    char buf[10] = "ab";
    (void)ctx;
    pgq_appendf(buf, sizeof buf, "%s-%d", "cd", 12);
    assert_string_equal(buf, "abcd-12");
    pgq_appendf(buf, sizeof buf, "%s", "XYZ");
    assert_string_equal(buf, "abcd-12XY");
    pgq_appendf(buf, sizeof buf, "%s", "more");
    assert_string_equal(buf, "abcd-12XY");
}

/* ---- pgq_name_valid ---------------------------------------------------- */

static void test_name_valid_table(void **ctx)
{
    /* Names are 1..63 of [A-Za-z0-9_.-] starting with an alphanumeric. */
    static const struct
    {
        const char *name;
        bool valid;
    } cases[] = {
        {"a", true},     {"pg1", true},         {"1pg", true},   {"pg-1.east_2", true},
        {"Z", true},     {"", false},           {"-pg", false},  {"_pg", false},
        {".pg", false},  {"pg 1", false},       {"pg/1", false}, {"pg:1", false},
        {"pg\n", false}, {"pg\xc3\xa9", false}, {"pg@x", false}, {"pg,1", false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        if (pgq_name_valid(cases[i].name) != cases[i].valid) {
            fail_msg("pgq_name_valid(\"%s\") should be %s", cases[i].name,
                     cases[i].valid ? "true" : "false");
        }
    }
    assert_false(pgq_name_valid(NULL));
}

static void test_name_valid_length(void **ctx)
{
    /* 63 characters is the longest valid name; 64 is refused. */
    char name[80];
    (void)ctx;
    memset(name, 'a', sizeof name);
    name[63] = '\0';
    assert_true(pgq_name_valid(name));
    name[63] = 'a';
    name[64] = '\0';
    assert_false(pgq_name_valid(name));
}

/* ---- pgq_parse_hostport / pgq_is_ipv4 ---------------------------------- */

static void test_parse_hostport_valid(void **ctx)
{
    /* host:port is split into a host and a port in 1..65535. */
    static const struct
    {
        const char *in;
        const char *host;
        uint16_t port;
    } cases[] = {
        {"10.0.0.1:5432", "10.0.0.1", 5432},
        {"db.example.com:1", "db.example.com", 1},
        {"h:65535", "h", 65535},
        {"[::1]:7001", "[::1]", 7001},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char host[PGQ_ADDR_MAX];
        uint16_t port = 0;
        assert_int_equal(pgq_parse_hostport(cases[i].in, host, sizeof host, &port), 0);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
    }
}

static void test_parse_hostport_invalid(void **ctx)
{
    /* A missing host, a missing or out-of-range port and blanks are refused. */
    static const char *const cases[] = {
        "",        "host",    ":5432",   "host:",   "host:0",  "host:65536",
        "host:-1", "host:+5", "host: 5", "host:5x", "ho st:5", "host:99999999999999999999",
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char host[PGQ_ADDR_MAX];
        uint16_t port = 0;
        if (pgq_parse_hostport(cases[i], host, sizeof host, &port) != PGQ_INVALID) {
            fail_msg("pgq_parse_hostport(\"%s\") should be PGQ_INVALID", cases[i]);
        }
    }
}

static void test_parse_hostport_host_too_long(void **ctx)
{
    /* A host longer than the caller's buffer is PGQ_TOOBIG, never truncated. */
    char host[8];
    uint16_t port = 0;
    (void)ctx;
    assert_int_equal(pgq_parse_hostport("abcdefg:1", host, sizeof host, &port), 0);
    assert_string_equal(host, "abcdefg");
    assert_int_equal(pgq_parse_hostport("abcdefgh:1", host, sizeof host, &port), PGQ_TOOBIG);
}

static void test_is_ipv4(void **ctx)
{
    /* Only a dotted quad of numbers 0..255 is an IPv4 address. */
    static const struct
    {
        const char *s;
        bool ipv4;
    } cases[] = {
        {"10.0.0.1", true},    {"0.0.0.0", true}, {"255.255.255.255", true}, {"127.000.0.1", true},
        {"256.0.0.1", false},  {"1.2.3", false},  {"1.2.3.4.5", false},      {"1..2.3", false},
        {"a.b.c.d", false},    {"", false},       {"1.2.3.4 ", false},       {" 1.2.3.4", false},
        {"0001.2.3.4", false}, {"1.2.3.", false}, {"localhost", false},      {"::1", false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        if (pgq_is_ipv4(cases[i].s) != cases[i].ipv4) {
            fail_msg("pgq_is_ipv4(\"%s\") should be %s", cases[i].s,
                     cases[i].ipv4 ? "true" : "false");
        }
    }
}

/* ---- LSN --------------------------------------------------------------- */

static void test_lsn_format(void **ctx)
{
    /* LSNs print as PostgreSQL does: two upper-case hex halves without padding. */
    static const struct
    {
        uint64_t lsn;
        const char *text;
    } cases[] = {
        {0, "0/0"},
        {0x16B374D48ull, "1/6B374D48"},
        {0x3000060ull, "0/3000060"},
        {UINT64_MAX, "FFFFFFFF/FFFFFFFF"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char out[32];
        pgq_lsn_format(cases[i].lsn, out, sizeof out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_lsn_round_trip(void **ctx)
{
    /* Formatting then parsing an LSN gives the same number back. */
    static const uint64_t lsns[] = {
        0, 1, 0xFFFFFFFFull, 0x100000000ull, 0x16B374D48ull, 0xDEADBEEF00C0FFEEull, UINT64_MAX};
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(lsns); i++) {
        char text[32];
        uint64_t back = 12345;
        pgq_lsn_format(lsns[i], text, sizeof text);
        assert_int_equal(pgq_lsn_parse(text, &back), 0);
        assert_int_equal(back, lsns[i]);
    }
}

static void test_lsn_parse_accepts(void **ctx)
{
    /* Lower-case hex and leading zeros are valid LSN text, as in PostgreSQL. */
    uint64_t lsn = 0;
    (void)ctx;
    assert_int_equal(pgq_lsn_parse("1/6b374d48", &lsn), 0);
    assert_int_equal(lsn, 0x16B374D48ull);
    assert_int_equal(pgq_lsn_parse("00000000/00000010", &lsn), 0);
    assert_int_equal(lsn, 0x10);
}

static void test_lsn_parse_rejects(void **ctx)
{
    /* Anything but two hex halves of at most 8 digits each is refused and leaves
     * the output alone. */
    static const char *const cases[] = {
        "",
        "/",
        "1",
        "1/",
        "/1",
        "G/1",
        "1/G",
        "1/2/3",
        "1/ 2",
        " 1/2",
        "1 /2",
        "1/2 ",
        "-1/0",
        "1/-1",
        "+1/0",
        "0x1/0",
        "1/0x10",
        "100000000/0",
        "1/100000000",
        "123456789/0",
        "0/123456789",
        "000000001/0",
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        uint64_t lsn = 777;
        if (pgq_lsn_parse(cases[i], &lsn) != PGQ_INVALID) {
            fail_msg("pgq_lsn_parse(\"%s\") should be PGQ_INVALID", cases[i]);
        }
        assert_int_equal(lsn, 777);
    }
    {
        uint64_t lsn = 777;
        assert_int_equal(pgq_lsn_parse(NULL, &lsn), PGQ_INVALID);
    }
}

/* ---- durations and one-line text -------------------------------------- */

static void test_duration_format(void **ctx)
{
    /* Durations print in the largest sensible unit, for people. */
    static const struct
    {
        uint64_t ms;
        const char *text;
    } cases[] = {
        {0, "0 ms"},          {250, "250 ms"},      {999, "999 ms"},
        {1000, "1.0 s"},      {1500, "1.5 s"},      {59999, "59.9 s"},
        {60000, "1 m 0 s"},   {200000, "3 m 20 s"}, {3599999, "59 m 59 s"},
        {3600000, "1 h 0 m"}, {3660000, "1 h 1 m"}, {90000000, "25 h 0 m"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char out[32];
        pgq_duration_format(cases[i].ms, out, sizeof out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_one_line(void **ctx)
{
    /* Control characters, newlines included, become '?' so text fits one log line. */
    char s[] =
        "a\nb\tc\rd\x1b"
        "e";
    (void)ctx;
    pgq_one_line(s);
    assert_string_equal(s, "a?b?c?d?e");
}

/* ---- error texts and enum names (err.c) -------------------------------- */

static void test_strerror(void **ctx)
{
    /* Every error code has its own text, and an unknown code says so. */
    (void)ctx;
    assert_string_equal(pgq_strerror(PGQ_OK), "success");
    assert_string_equal(pgq_strerror(PGQ_TOOBIG), "input too large");
    assert_string_equal(pgq_strerror(PGQ_VERSION), "unsupported format version");
    assert_string_equal(pgq_strerror(-1), "unknown error");
    assert_string_equal(pgq_strerror(PGQ__N_ERRORS), "unknown error");
    for (int i = 1; i < PGQ__N_ERRORS; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(pgq_strerror(i), pgq_strerror(j)) == 0) {
                fail_msg("codes %d and %d share the text \"%s\"", i, j, pgq_strerror(i));
            }
        }
    }
}

static void test_enum_names(void **ctx)
{
    /* Every shared enum value has a name, and out-of-range values print as "?". */
    (void)ctx;
    for (int i = 0; i < PGQ__N_ROLES; i++) {
        assert_string_not_equal(pgq_role_name(i), "?");
    }
    for (int i = 0; i < PGQ__N_VERDICTS; i++) {
        assert_string_not_equal(pgq_verdict_name(i), "?");
    }
    for (int i = 0; i < PGQ__N_FO_PHASES; i++) {
        assert_string_not_equal(pgq_fo_phase_name(i), "?");
    }
    for (int i = 1; i < PGQ__N_STEPS; i++) {
        assert_string_not_equal(pgq_step_name(i), "?");
    }
    for (int i = 1; i < PGQ__N_EVENT_KINDS; i++) {
        assert_string_not_equal(pgq_event_kind_name(i), "?");
    }
    for (int i = 0; i < PGQ__N_MON_ROLES; i++) {
        assert_string_not_equal(pgq_monitor_role_name(i), "?");
    }
    assert_string_equal(pgq_role_name(PGQ_ROLE_DEMOTED), "demoted");
    assert_string_equal(pgq_verdict_name(PGQ_VERDICT_DOWN), "down");
    assert_string_equal(pgq_role_name(-1), "?");
    assert_string_equal(pgq_role_name(PGQ__N_ROLES), "?");
    assert_string_equal(pgq_step_name(0), "?");
    assert_string_equal(pgq_event_kind_name(0), "?");
    assert_string_equal(pgq_event_kind_name(PGQ__N_EVENT_KINDS), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strlcpy_fits),
        cmocka_unit_test(test_strlcpy_truncates),
        cmocka_unit_test(test_strlcpy_size_zero),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_name_valid_table),
        cmocka_unit_test(test_name_valid_length),
        cmocka_unit_test(test_parse_hostport_valid),
        cmocka_unit_test(test_parse_hostport_invalid),
        cmocka_unit_test(test_parse_hostport_host_too_long),
        cmocka_unit_test(test_is_ipv4),
        cmocka_unit_test(test_lsn_format),
        cmocka_unit_test(test_lsn_round_trip),
        cmocka_unit_test(test_lsn_parse_accepts),
        cmocka_unit_test(test_lsn_parse_rejects),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
