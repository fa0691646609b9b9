/* Unit tests of agent/conninfo.c: libpq connection strings read without
 * libpq, in both forms, with libpq's keywords only, and the check that keeps
 * secrets and ambiguous addresses out of the replicated state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "conninfo.h"
#include "lib/util.h"

#define assert_contains(hay, needle)                                     \
    do {                                                                 \
        if (strstr((hay), (needle)) == NULL) {                           \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle)); \
        }                                                                \
    } while (0)

/* One parsed connection string and what must come out of it. */
struct parse_case
{
    const char *in;
    const char *host;
    const char *hostaddr;
    const char *port;
    const char *dbname;
    const char *user;
    bool has_password;
};

static void check_parse_cases(const struct parse_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct conninfo ci;
        char err[256] = "";
        int rv = conninfo_parse(cases[i].in, &ci, err, sizeof err);
        if (rv != 0) {
            fail_msg("conninfo_parse(\"%s\") failed: %s", cases[i].in, err);
        }
        if (strcmp(ci.host, cases[i].host) != 0 || strcmp(ci.hostaddr, cases[i].hostaddr) != 0 ||
            strcmp(ci.port, cases[i].port) != 0 || strcmp(ci.dbname, cases[i].dbname) != 0 ||
            strcmp(ci.user, cases[i].user) != 0 || ci.has_password != cases[i].has_password) {
            fail_msg(
                "conninfo_parse(\"%s\"): host \"%s\" hostaddr \"%s\" port \"%s\" dbname "
                "\"%s\" user \"%s\" password %d",
                cases[i].in, ci.host, ci.hostaddr, ci.port, ci.dbname, ci.user, ci.has_password);
        }
    }
}

/* A string that must be refused, and what the one-line message must contain. */
struct refusal
{
    const char *in;
    const char *msg;
};

typedef int (*conninfo_fn)(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

/* Each case is PGQ_INVALID from fn, with one line that contains its message and not the secret
 * "hunter2". */
static void check_refusals(conninfo_fn fn, const struct refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct conninfo ci;
        char err[256] = "";
        if (fn(cases[i].in, &ci, err, sizeof err) != PGQ_INVALID) {
            fail_msg("\"%s\" should be PGQ_INVALID", cases[i].in);
        }
        assert_contains(err, cases[i].msg);
        assert_null(strchr(err, '\n'));
        assert_null(strstr(err, "hunter2"));
    }
}

static void test_parse_keyword_value(void **ctx)
{
    /* key=value strings keep host, hostaddr, port, dbname and user, with quotes and escapes. */
    static const struct parse_case cases[] = {
        {"host=pg1 port=5433 dbname=app user=bob", "pg1", "", "5433", "app", "bob", false},
        {"  host = pg1   dbname =app  ", "pg1", "", "5432", "app", "", false},
        {"host='my host' user='o\\'brien'", "my host", "", "5432", "", "o'brien", false},
        {"host=pg1 user=a\\ b", "pg1", "", "5432", "", "a b", false},
        {"host=pg1 dbname='' user=x", "pg1", "", "5432", "", "x", false},
        {"host='a\\\\b'", "a\\b", "", "5432", "", "", false},
        {"hostaddr=10.0.0.7 port=6000", "10.0.0.7", "10.0.0.7", "6000", "", "", false},
        {"host=pg1 hostaddr=10.0.0.7", "pg1", "10.0.0.7", "5432", "", "", false},
        {"host=pg1 sslmode=require application_name='x y' connect_timeout=3", "pg1", "", "5432", "",
         "", false},
        {"host=pg1 password=secret", "pg1", "", "5432", "", "", true},
        {"host=pg1 password=''", "pg1", "", "5432", "", "", true},
        {"host=pg1 sslpassword=keypass", "pg1", "", "5432", "", "", true},
        {"", "", "", "5432", "", "", false},
    };
    (void)ctx;
    check_parse_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_parse_uri(void **ctx)
{
    /* postgresql:// URIs give user, host, [ipv6], port and dbname, percent-decoded. */
    static const struct parse_case cases[] = {
        {"postgresql://pg1", "pg1", "", "5432", "", "", false},
        {"postgres://bob@pg1:5433/app", "pg1", "", "5433", "app", "bob", false},
        {"postgresql://bob:secret@pg1/app", "pg1", "", "5432", "app", "bob", true},
        {"postgresql://bob:@pg1/app", "pg1", "", "5432", "app", "bob", true},
        {"postgresql://pg1/app?password=secret", "pg1", "", "5432", "app", "", true},
        {"postgresql://pg1/app?sslmode=require&password=x", "pg1", "", "5432", "app", "", true},
        {"postgresql://[::1]:5433/db", "::1", "", "5433", "db", "", false},
        {"postgresql://[fe80::1%25eth0]/db", "fe80::1%eth0", "", "5432", "db", "", false},
        {"postgresql://us%40er@pg%2D1/my%20db", "pg-1", "", "5432", "my db", "us@er", false},
        {"postgresql://pg1/app?user=carol&port=6001", "pg1", "", "6001", "app", "carol", false},
        {"postgresql:///app?host=10.0.0.9", "10.0.0.9", "", "5432", "app", "", false},
        {"postgresql://pg1:/app", "pg1", "", "5432", "app", "", false},
        {"postgresql://pg1?dbname=x", "pg1", "", "5432", "x", "", false},
    };
    (void)ctx;
    check_parse_cases(cases, PGQ_ARRAY_SIZE(cases));
}

static void test_parse_errors(void **ctx)
{
    /* Unreadable strings are PGQ_INVALID with one line saying what is wrong. */
    static const struct refusal cases[] = {
        {"host pg1", "missing \"=\" after \"host\""},
        {"=pg1", "missing \"=\""},
        {"host='pg1", "unterminated quoted string"},
        {"postgresql://pg1,pg2/app", "one host, not a list"},
        {"postgresql://[::1/app", "unterminated ["},
        {"postgresql://pg1/app%zz", "bad database name"},
        {"postgresql://pg1/app%4", "bad database name"},
        {"postgresql://pg%00x/app", "bad host"},
        {"postgresql://pg1/app?sslmode", "bad parameter"},
        {"user=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "value of \"user\" is too long"},
    };
    (void)ctx;
    check_refusals(conninfo_parse, cases, PGQ_ARRAY_SIZE(cases));
}

static void test_parse_all_keywords(void **ctx)
{
    /* Every libpq keyword of PostgreSQL 15 (the libpq the monitors use) is accepted, as key=value
     * and as a URI query parameter, by the strictest check. */
    static const char all[] =
        "host=1 hostaddr=1 port=1 dbname=1 user=1 passfile=1 channel_binding=1 connect_timeout=1 "
        "client_encoding=1 options=1 application_name=1 fallback_application_name=1 keepalives=1 "
        "keepalives_idle=1 keepalives_interval=1 keepalives_count=1 tcp_user_timeout=1 "
        "replication=1 gssencmode=1 sslmode=1 sslcompression=1 sslcert=1 sslkey=1 "
        "sslrootcert=1 sslcrl=1 sslcrldir=1 sslsni=1 requirepeer=1 ssl_min_protocol_version=1 "
        "ssl_max_protocol_version=1 krbsrvname=1 gsslib=1 service=1 target_session_attrs=1";
    char uri[sizeof all + 32];
    struct conninfo ci;
    char err[256] = "";
    (void)ctx;
    if (conninfo_validate(all, &ci, err, sizeof err) != 0) {
        fail_msg("key=value: %s", err);
    }
    snprintf(uri, sizeof uri, "postgresql://pg1/app?%s", all);
    for (char *c = uri; *c != '\0'; c++) {
        *c = *c == ' ' ? '&' : *c;
    }
    if (conninfo_validate(uri, &ci, err, sizeof err) != 0) {
        fail_msg("URI: %s", err);
    }
}

static void test_parse_unknown_keyword(void **ctx)
{
    /* An unknown keyword, in either form, is refused before a registration is proposed, with one
     * line naming it, and a keyword that differs from a known one only by case is called out as
     * such; the same strings still parse (the state machine and readers of the state accept what
     * older versions committed). */
    static const struct refusal cases[] = {
        {"host=h PASSWORD=hunter2",
         "conninfo: unknown connection option \"PASSWORD\" (keywords are case-sensitive: did "
         "you mean \"password\"?)"},
        {"Host=h", "\"Host\" (keywords are case-sensitive: did you mean \"host\"?)"},
        {"host=h SSLPassword=x", "did you mean \"sslpassword\"?"},
        {"host=h passwd=hunter2", "conninfo: unknown connection option \"passwd\""},
        {"host=h sslmod=require", "conninfo: unknown connection option \"sslmod\""},
        {"host=h database=app", "conninfo: unknown connection option \"database\""},
        {"postgresql://pg1/app?PASSWORD=hunter2",
         "unknown connection option \"PASSWORD\" (keywords"},
        {"postgresql://pg1/app?sslmode=require&timeout=3",
         "conninfo: unknown connection option \"timeout\""},
        {"postgresql://pg1/app?ssl=false", "conninfo: unknown connection option \"ssl\""},
        {"postgresql://pg1/app?x%0Ay=1", "conninfo: unknown connection option \"x?y\""},
        {"postgresql://pg1/app?=1", "conninfo: unknown connection option \"\""},
        {"host=h requiressl=1", "conninfo: unknown connection option \"requiressl\""},
        {"host=h load_balance_hosts=random", "unknown connection option \"load_balance_hosts\""},
    };
    (void)ctx;
    check_refusals(conninfo_validate, cases, PGQ_ARRAY_SIZE(cases));
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct conninfo ci;
        assert_int_equal(conninfo_parse(cases[i].in, &ci, NULL, 0), 0);
        assert_true(ci.has_unknown);
    }
}

static void test_parse_too_long(void **ctx)
{
    /* A string of PGQ_CONNINFO_MAX bytes or more is refused before it is read. */
    char s[PGQ_CONNINFO_MAX + 1];
    struct conninfo ci;
    char err[256] = "";
    (void)ctx;
    memcpy(s, "host=", 5);
    memset(s + 5, 'h', sizeof s - 5);
    s[PGQ_CONNINFO_MAX - 1] = '\0';
    assert_int_equal(conninfo_parse(s, &ci, err, sizeof err), PGQ_INVALID); /* host too long */
    s[PGQ_CONNINFO_MAX - 1] = 'h';
    s[PGQ_CONNINFO_MAX] = '\0';
    assert_int_equal(conninfo_parse(s, &ci, err, sizeof err), PGQ_INVALID);
    assert_contains(err, "longer than 1023 bytes");
    assert_int_equal(conninfo_parse(NULL, &ci, err, sizeof err), PGQ_INVALID);
}

static void test_parse_null_errmsg(void **ctx)
{
    /* A caller that wants no message may pass NULL and still gets the code. */
    struct conninfo ci;
    (void)ctx;
    assert_int_equal(conninfo_parse("host='x", &ci, NULL, 0), PGQ_INVALID);
    assert_int_equal(conninfo_check("host=x password=y", &ci, NULL, 0), PGQ_INVALID);
    assert_int_equal(conninfo_validate("host=x PASSWORD=y", &ci, NULL, 0), PGQ_INVALID);
    assert_int_equal(conninfo_validate("host=x dbname='a=b'", &ci, NULL, 0), PGQ_INVALID);
}

static void test_check_accepts(void **ctx)
{
    /* A one-host, password-free string with a valid port passes the check. */
    static const char *const cases[] = {
        "host=pg1",
        "host=10.0.0.1 port=1 dbname=postgres user=pgquorum",
        "hostaddr=10.0.0.1 port=65535",
        "postgresql://pgquorum@pg1:5433/postgres?sslmode=verify-full",
        "postgresql://[::1]/postgres",
        "host=pg1 sslmode=verify-full sslrootcert=/etc/pgq/ca.pem passfile=/etc/pgq/pgpass",
        "postgresql://pg1/app?ssl=true&application_name=pgq",
        "host=pg1 dbname='a=b' dbname=app",
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct conninfo ci;
        char err[256] = "";
        if (conninfo_check(cases[i], &ci, err, sizeof err) != 0) {
            fail_msg("conninfo_check(\"%s\") failed: %s", cases[i], err);
        }
    }
}

static void test_check_refuses(void **ctx)
{
    /* Passwords, a missing host, host lists and bad ports are refused with a clear message. */
    static const struct refusal cases[] = {
        {"host=pg1 password=secret",
         "conninfo carries a password: secrets never enter the "
         "replicated state"},
        {"postgresql://bob:secret@pg1/app", "carries a password"},
        {"postgresql://pg1/app?password=secret", "carries a password"},
        {"dbname=app user=bob", "conninfo names no host"},
        {"postgresql:///app", "conninfo names no host"},
        {"host=pg1,pg2", "one host, not a list"},
        {"host=pg1 port=1,2", "one host, not a list"},
        {"postgresql://pg1,pg2/app", "one host, not a list"},
        {"host=pg1 port=0", "port must be a number in 1..65535"},
        {"host=pg1 port=65536", "port must be a number in 1..65535"},
        {"host=pg1 port=abc", "port must be a number in 1..65535"},
        {"host=pg1 port=54x", "port must be a number in 1..65535"},
        {"host=pg1 port=-1", "port must be a number in 1..65535"},
        {"postgresql://pg1:99999/app", "port must be a number in 1..65535"},
        {"host=pg1 sslpassword=keypass", "carries a password"},
        {"postgresql://pg1/app?sslpassword=keypass", "carries a password"},
    };
    (void)ctx;
    check_refusals(conninfo_check, cases, PGQ_ARRAY_SIZE(cases));
}

static void test_check_refuses_dbname_connstr(void **ctx)
{
    /* A dbname that is itself a connection string (it may carry a password) is refused, in
     * either form, whatever its length; the last dbname given is the one judged. */
#define NOT_A_DBNAME "conninfo: dbname must be a database name, not a connection string"
    static const struct refusal cases[] = {
        {"host=pg1 dbname='host=pg2 password=hunter2'", NOT_A_DBNAME},
        {"host=pg1 dbname=postgresql://u:hunter2@pg2/db", NOT_A_DBNAME},
        {"host=pg1 dbname=postgres://pg2", NOT_A_DBNAME},
        {"host=pg1 dbname=app dbname='user=x'", NOT_A_DBNAME},
        {"host=pg1 dbname='host=pg2 port=5432 user=postgres application_name=a-long-name'",
         NOT_A_DBNAME},
        {"postgresql://pg1/a%3Db", NOT_A_DBNAME},
        {"postgresql://pg1?dbname=postgresql%3A%2F%2Fpg2%2Fdb", NOT_A_DBNAME},
    };
#undef NOT_A_DBNAME
    (void)ctx;
    check_refusals(conninfo_validate, cases, PGQ_ARRAY_SIZE(cases));
}

static void test_check_default_port(void **ctx)
{
    /* Without a port, the node's port is PostgreSQL's default 5432. */
    struct conninfo ci;
    char err[256] = "";
    (void)ctx;
    assert_int_equal(conninfo_check("host=pg1", &ci, err, sizeof err), 0);
    assert_string_equal(ci.port, "5432");
    assert_int_equal(conninfo_check("postgresql://pg1/app", &ci, err, sizeof err), 0);
    assert_string_equal(ci.port, "5432");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_keyword_value),
        cmocka_unit_test(test_parse_uri),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_all_keywords),
        cmocka_unit_test(test_parse_unknown_keyword),
        cmocka_unit_test(test_parse_too_long),
        cmocka_unit_test(test_parse_null_errmsg),
        cmocka_unit_test(test_check_accepts),
        cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_check_refuses_dbname_connstr),
        cmocka_unit_test(test_check_default_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
