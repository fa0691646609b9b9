/* Unit tests of the hello of agent/relay.c: what a connecting monitor says
 * about itself inside TLS before any Raft byte, and every way a hello can be
 * wrong (refused with one line, nothing decoded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay.h"

static int decode(const uint8_t *buf,
                  size_t len,
                  size_t *used,
                  uint64_t *id,
                  char *address,
                  char *why)
{
    why[0] = '\0';
    return relay_hello_decode(buf, len, used, id, address, PGQ_ADDR_MAX, why, 160);
}

static void test_hello_round_trip(void **ctx)
{
    /* A hello decodes to the id and address it was made of, byte for byte at any split. */
    uint8_t buf[RELAY_HELLO_MAX + 8];
    char address[PGQ_ADDR_MAX], why[160];
    uint64_t id = 0;
    size_t used = 1, len;
    (void)ctx;
    len = relay_hello_encode(3, "127.0.0.1:7001", buf);
    assert_int_equal(len, RELAY_HELLO_FIXED + strlen("127.0.0.1:7001"));
    assert_memory_equal(buf, "PGQR\0\1\0\16\0\0\0\0\0\0\0\3", RELAY_HELLO_FIXED);
    for (size_t part = 0; part < len; part++) {
        assert_int_equal(decode(buf, part, &used, &id, address, why), 0);
        assert_int_equal(used, 0);
    }
    memcpy(buf + len, "raftbyte", 8); /* what follows is not the hello's */
    assert_int_equal(decode(buf, len + 8, &used, &id, address, why), 0);
    assert_int_equal(used, len);
    assert_int_equal(id, 3);
    assert_string_equal(address, "127.0.0.1:7001");
}

static void test_hello_refused(void **ctx)
{
    /* Not a hello: another magic (libraft's own handshake, TLS garbage), another version, id 0,
     * an empty or too long address. */
    uint8_t buf[RELAY_HELLO_MAX + 64];
    char address[PGQ_ADDR_MAX], why[160];
    uint64_t id;
    size_t used;
    static const uint8_t libraft[] = {1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};
    (void)ctx;
    assert_int_equal(decode(libraft, sizeof libraft, &used, &id, address, why), PGQ_INVALID);
    assert_string_equal(why, "not a pgquorum Raft hello");
    assert_int_equal(decode(libraft, 1, &used, &id, address, why), PGQ_INVALID);

    relay_hello_encode(3, "127.0.0.1:7001", buf);
    buf[5] = 2;
    assert_int_equal(decode(buf, RELAY_HELLO_FIXED, &used, &id, address, why), PGQ_INVALID);
    assert_string_equal(why, "Raft hello version 2, not 1");

    relay_hello_encode(0, "127.0.0.1:7001", buf);
    assert_int_equal(decode(buf, RELAY_HELLO_FIXED, &used, &id, address, why), PGQ_INVALID);

    relay_hello_encode(3, "127.0.0.1:7001", buf);
    buf[6] = 0xff; /* address length 0xff0e */
    assert_int_equal(decode(buf, RELAY_HELLO_FIXED, &used, &id, address, why), PGQ_INVALID);
    buf[6] = 0;
    buf[7] = 0;
    assert_int_equal(decode(buf, RELAY_HELLO_FIXED, &used, &id, address, why), PGQ_INVALID);

    {
        char longer[PGQ_ADDR_MAX + 1];
        memset(longer, 'a', PGQ_ADDR_MAX);
        longer[PGQ_ADDR_MAX] = '\0';
        assert_int_equal(relay_hello_encode(3, longer, buf), 0);
    }
    assert_int_equal(relay_hello_encode(3, "", buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_round_trip),
        cmocka_unit_test(test_hello_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
