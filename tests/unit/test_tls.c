/* Unit tests of the identity a certificate names (agent/tls.c,
 * transport_identity_of): which URIs and CNs make which peer, and which are
 * refused as ambiguous or malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/util.h"
#include "transport.h"

static void test_identities(void **ctx)
{
    /* Each pgquorum URI names one kind of peer, with its id or cluster and node; without a
     * URI the subject CN is an operator; the peer's IP address is kept. */
    static const struct
    {
        const char *uri, *cn;
        int kind;
        uint64_t id;
        const char *name, *cluster, *node;
    } cases[] = {
        {"pgquorum:monitor:3", NULL, PEER_MONITOR, 3, "monitor:3", "", ""},
        {"pgquorum:monitor:1000000", NULL, PEER_MONITOR, 1000000, "monitor:1000000", "", ""},
        {"pgquorum:node:main/pg1", NULL, PEER_NODE, 0, "node:main/pg1", "main", "pg1"},
        {"pgquorum:user:alice", NULL, PEER_USER, 0, "user:alice", "", ""},
        {NULL, "bob", PEER_USER, 0, "user:bob", "", ""},
        {NULL, "ops@example.com", PEER_USER, 0, "user:ops@example.com", "", ""},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct peer_id p;
        char err[256] = "";
        memset(&p, 0, sizeof p);
        pgq_strlcpy(p.ip, "10.0.0.7", sizeof p.ip);
        if (transport_identity_of(cases[i].uri, cases[i].cn, &p, err, sizeof err) != 0) {
            fail_msg("case %zu: %s", i, err);
        }
        assert_int_equal(p.kind, cases[i].kind);
        assert_int_equal(p.monitor_id, cases[i].id);
        assert_string_equal(p.name, cases[i].name);
        assert_string_equal(p.cluster, cases[i].cluster);
        assert_string_equal(p.node, cases[i].node);
        assert_string_equal(p.ip, "10.0.0.7");
    }
}

static void test_refused(void **ctx)
{
    /* A pgquorum URI that does not parse, an id out of range, names with other characters
     * and a certificate with neither a URI nor a usable CN are refused, saying why. */
    static const struct
    {
        const char *uri, *cn, *error;
    } cases[] = {
        {"pgquorum:monitor:0", NULL,
         "certificate URI pgquorum:monitor:0: not a monitor id 1-1000000"},
        {"pgquorum:monitor:1000001", NULL,
         "certificate URI pgquorum:monitor:1000001: not a monitor id 1-1000000"},
        {"pgquorum:monitor:3x", NULL,
         "certificate URI pgquorum:monitor:3x: not a monitor id 1-1000000"},
        {"pgquorum:monitor:03", NULL,
         "certificate URI pgquorum:monitor:03: not a monitor id 1-1000000"},
        {"pgquorum:node:pg1", NULL,
         "certificate URI pgquorum:node:pg1: not pgquorum:node:CLUSTER/NAME"},
        {"pgquorum:node:main/pg 1", NULL,
         "certificate URI pgquorum:node:main/pg 1: not pgquorum:node:CLUSTER/NAME"},
        {"pgquorum:node:/pg1", NULL,
         "certificate URI pgquorum:node:/pg1: not pgquorum:node:CLUSTER/NAME"},
        {"pgquorum:user:", NULL,
         "certificate URI pgquorum:user:: not pgquorum:monitor:ID, pgquorum:node:CLUSTER/NAME "
         "or pgquorum:user:NAME"},
        {"pgquorum:admin:root", NULL,
         "certificate URI pgquorum:admin:root: not pgquorum:monitor:ID, "
         "pgquorum:node:CLUSTER/NAME or pgquorum:user:NAME"},
        {NULL, NULL, "certificate has no pgquorum URI and no usable CN"},
        {NULL, "bob smith", "certificate has no pgquorum URI and no usable CN (\"bob smith\")"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct peer_id p;
        char err[256] = "";
        memset(&p, 0, sizeof p);
        if (transport_identity_of(cases[i].uri, cases[i].cn, &p, err, sizeof err) != PGQ_INVALID) {
            fail_msg("case %zu accepted as %s", i, p.name);
        }
        assert_string_equal(err, cases[i].error);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
