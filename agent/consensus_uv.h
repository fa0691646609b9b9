/* consensus_uv: libraft on libuv for the daemon: the transport (libraft's
 * plain TCP, or with tls on mutual TLS through relay.c), the on-disk log and
 * snapshots in data_dir, bootstrap of an empty data_dir and the close
 * cascade. One of the three files allowed to call libraft. */
#ifndef PGQ_CONSENSUS_UV_H
#define PGQ_CONSENSUS_UV_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "fsm.h"
#include "relay.h"
#include "transport.h"

struct consensus_uv;
typedef void (*consensus_uv_close_cb)(struct consensus_uv *cu);

struct consensus_uv
{
    struct raft_uv_transport transport;
    bool tls;           /* transport is relay's (mutual TLS), not raft_uv_tcp */
    struct relay relay; /* with tls */
    struct raft_io io;
    struct raft raft;
    bool bootstrapped; /* this start bootstrapped an empty data_dir */
    bool joining;      /* join = on and no configuration yet: waiting to be added */
    consensus_uv_close_cb close_cb;
    void *data;
    /* private */
    int stage; /* how far init got: for the cleanup */
    uv_loop_t *loop;
    struct transport *tr;
    uint64_t handshake_ms;
    raft_uv_accept_cb accept_cb;
    /* raft_uv's own send, behind consensus_uv_send(). */
    int (*uv_send)(struct raft_io *io,
                   struct raft_io_send *req,
                   const struct raft_message *message,
                   raft_io_send_cb cb);
    raft_uv_transport_close_cb transport_close_cb;
    uv_timer_t drain; /* consensus_uv_close: waiting for the log's appends */
    bool draining;
    uint64_t drain_until; /* uv_now: then raft_close whatever is left */
};

/* raft_io.send of cu->io: raft_uv's own (cu->uv_send), except for a
 * message to no leader (server id 0 or no address: libraft 0.15's
 * canonical/raft#350), refused with RAFT_NOCONNECTION (consensus_uv.c). */
int consensus_uv_send(struct raft_io *io,
                      struct raft_io_send *req,
                      const struct raft_message *message,
                      raft_io_send_cb cb);

/* Create data_dir if needed, bootstrap it if empty (unless cfg->join),
 * start raft. With
 * cfg->tls, Raft goes through tr (which must be a TLS transport). On failure
 * writes one line to errmsg and everything started is closed again (the
 * loop must still be run until it has no more handles). */
int consensus_uv_start(struct consensus_uv *cu,
                       uv_loop_t *loop,
                       const struct config *cfg,
                       struct transport *tr,
                       struct fsm *fsm,
                       char *errmsg,
                       size_t errsize);

/* Stop raft; cb fires once every raft handle is closed. */
void consensus_uv_close(struct consensus_uv *cu, consensus_uv_close_cb cb);

#endif /* PGQ_CONSENSUS_UV_H */
