/* Unit tests of agent/consensus_uv.c: its guard around raft_uv's send, and
 * its close with the leader's appends still waiting for the disk (libraft
 * 0.15 crashed on that: a real one-voter Raft on raft_uv in a temporary
 * data_dir). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "consensus.h"
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

/* A loopback port free now (for the one voter's Raft address). */
static unsigned free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

#define N_PROPOSALS 5

static struct
{
    struct config cfg;
    struct transport tr;
    struct fsm fsm;
    struct consensus_uv cu;
    struct consensus cons;
    struct proposal props[N_PROPOSALS];
    unsigned fired[N_PROPOSALS];
    int refused; /* what a proposal after consensus_closing got */
    bool closed;
    uv_timer_t timer;
} cl;

static void prop_cb(struct proposal *p, int status, const struct apply_result *res)
{
    (void)status;
    (void)res;
    cl.fired[p - cl.props]++;
}

static void cu_closed_cb(struct consensus_uv *cu)
{
    (void)cu;
    cl.closed = true;
    transport_close(&cl.tr, NULL);
}

/* Once it leads: N_PROPOSALS in one turn of the loop, then the close as
 * monitor_stop does it. */
static void lead_cb(uv_timer_t *t)
{
    struct command cmd;
    if (raft_state(&cl.cu.raft) != RAFT_LEADER) {
        return;
    }
    uv_close((uv_handle_t *)t, NULL);
    for (unsigned i = 0; i < N_PROPOSALS; i++) {
        command_init(&cmd, CMD_HELLO);
        cmd.u.hello.monitor_id = 1;
        cl.props[i].cb = prop_cb;
        assert_int_equal(consensus_propose(&cl.cons, &cl.props[i], &cmd), 0);
    }
    consensus_closing(&cl.cons);
    command_init(&cmd, CMD_HELLO);
    cmd.u.hello.monitor_id = 1;
    cl.refused = consensus_propose(&cl.cons, &cl.props[0], &cmd);
    consensus_uv_close(&cl.cu, cu_closed_cb);
}

static void test_close_with_appends_waiting(void **ctx)
{
    /* A leader closed right after several proposals in one turn (their appends waiting behind
     * the disk's write) closes cleanly, every proposal's callback fired once, and a proposal
     * after consensus_closing is refused; libraft 0.15's raft_close alone crashed here
     * (canonical/raft#338). */
    char dir[] = "/tmp/pgq-consensus-uv-XXXXXX", text[1024], err[512], rm[64];
    uv_loop_t loop;
    unsigned port = free_port();
    (void)ctx;
    memset(&cl, 0, sizeof cl);
    assert_non_null(mkdtemp(dir));
    snprintf(text, sizeof text,
             "[monitor]\nid = 1\ndata_dir = %s\nraft_address = 127.0.0.1:%u\n"
             "api_address = 127.0.0.1:%u\npeers = 1=127.0.0.1:%u\ntls = off\n"
             "[raft]\nelection_timeout = 100ms\nheartbeat_timeout = 20ms\n",
             dir, port, free_port(), port);
    if (config_parse(&cl.cfg, "test.ini", text, err, sizeof err) != 0) {
        fail_msg("config: %s", err);
    }
    assert_int_equal(uv_loop_init(&loop), 0);
    if (transport_start(&cl.tr, &loop, &cl.cfg, err, sizeof err) != 0) {
        fail_msg("transport: %s", err);
    }
    fsm_init(&cl.fsm);
    if (consensus_uv_start(&cl.cu, &loop, &cl.cfg, &cl.tr, &cl.fsm, err, sizeof err) != 0) {
        fail_msg("raft: %s", err);
    }
    consensus_init(&cl.cons, &cl.cu.raft, &cl.fsm, 1);
    uv_timer_init(&loop, &cl.timer);
    uv_timer_start(&cl.timer, lead_cb, 5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(cl.closed);
    assert_int_equal(cl.refused, PGQ_SHUTDOWN);
    for (unsigned i = 0; i < N_PROPOSALS; i++) {
        assert_int_equal(cl.fired[i], 1);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    consensus_close(&cl.cons);
    fsm_close(&cl.fsm);
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_to_no_leader),
        cmocka_unit_test(test_close_with_appends_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
