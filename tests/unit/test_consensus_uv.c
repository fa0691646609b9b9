/* Unit tests of agent/consensus_uv.c's guard around raft_uv's send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "consensus_uv.h"

static unsigned sent;

static int uv_send_stub(struct raft_io *io,
                        struct raft_io_send *req,
                        const struct raft_message *message,
                        raft_io_send_cb cb)
{
    (void)io;
    (void)req;
    (void)message;
    (void)cb;
    sent++;
    return 0;
}

static void test_send_to_no_leader(void **ctx)
{
    /* A message to no leader (id 0, or no address: what libraft 0.15 sends when a write outlived
     * its term) is refused as a connection that cannot be made and never reaches raft_uv's
     * send, which would crash on it; a message to a monitor goes through unchanged. */
    static struct consensus_uv cu;
    struct raft_io_send req;
    struct raft_message m;
    (void)ctx;
    memset(&cu, 0, sizeof cu);
    cu.uv_send = uv_send_stub;
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    sent = 0;
    assert_int_equal(consensus_uv_send(&cu.io, &req, &m, NULL), RAFT_NOCONNECTION);
    m.server_id = 2;
    assert_int_equal(consensus_uv_send(&cu.io, &req, &m, NULL), RAFT_NOCONNECTION);
    m.server_id = 0;
    m.server_address = "127.0.0.1:7001";
    assert_int_equal(consensus_uv_send(&cu.io, &req, &m, NULL), RAFT_NOCONNECTION);
    assert_int_equal(sent, 0);
    m.server_id = 2;
    assert_int_equal(consensus_uv_send(&cu.io, &req, &m, NULL), 0);
    assert_int_equal(sent, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_to_no_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
