/* consensus_uv: libraft's raft_uv I/O for the daemon (see consensus_uv.h).
 *
 * The happy path is: mkdir data_dir, the transport (raft_uv_tcp_init + bind
 * address; or with tls a raft_uv_transport over relay.c, whose streams are
 * allocated with raft_malloc: libraft uv_close()s and raft_free()s them),
 * raft_uv_init, raft_init, the tunables (pre-vote on: without it a failover
 * costs about 2.8 election timeouts instead of 1.3-2), bootstrap when the
 * directory is new (never with join = on: the leader adds it), raft_start
 * (which restores the latest snapshot).
 *
 * Possible failure modes are: an unusable data_dir (reported by raft_init,
 * not raft_uv_init, for a missing directory), an address already in use, a
 * corrupt log. Each is one line naming what failed. */
#include "consensus_uv.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

enum { STAGE_NONE, STAGE_TRANSPORT, STAGE_IO, STAGE_RAFT };

/* ---- the TLS transport: libraft's side of relay.c ---------------------- */

static void *stream_alloc(size_t size)
{
    return raft_malloc(size);
}

static void stream_free(void *p)
{
    raft_free(p);
}

static int tls_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct consensus_uv *cu = t->impl;
    relay_init(&cu->relay, cu->loop, cu->tr, id, address);
    cu->relay.data = cu;
    cu->relay.handshake_ms = cu->handshake_ms;
    cu->relay.alloc_stream = stream_alloc;
    cu->relay.free_stream = stream_free;
    return 0;
}

static void relay_accepted(struct relay *r, uint64_t id, const char *address, uv_stream_t *stream)
{
    struct consensus_uv *cu = r->data;
    cu->accept_cb(&cu->transport, id, address, stream);
}

static int tls_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct consensus_uv *cu = t->impl;
    cu->accept_cb = cb;
    return relay_listen(&cu->relay, relay_accepted, t->errmsg, sizeof t->errmsg) == 0 ? 0
                                                                                      : RAFT_IOERR;
}

static void relay_connected(void *arg, uv_stream_t *stream, int status)
{
    struct raft_uv_connect *req = arg;
    req->cb(req, stream,
            status == 0                ? 0
            : status == RELAY_CANCELED ? RAFT_CANCELED
                                       : RAFT_NOCONNECTION);
}

static int tls_connect(struct raft_uv_transport *t,
                       struct raft_uv_connect *req,
                       raft_id id,
                       const char *address,
                       raft_uv_connect_cb cb)
{
    struct consensus_uv *cu = t->impl;
    req->cb = cb;
    if (relay_connect(&cu->relay, id, address, relay_connected, req) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "cannot connect to %s", address);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void relay_closed(struct relay *r)
{
    struct consensus_uv *cu = r->data;
    cu->transport_close_cb(&cu->transport);
}

static void tls_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct consensus_uv *cu = t->impl;
    cu->transport_close_cb = cb;
    relay_close(&cu->relay, relay_closed);
}

static int raft_transport_start(struct consensus_uv *cu,
                                const struct config *cfg,
                                char *errmsg,
                                size_t errsize)
{
    int rv;
    if (cu->tls) {
        if (cu->tr == NULL || !cu->tr->tls) {
            snprintf(errmsg, errsize, "raft transport: tls is on but TLS is not set up");
            return PGQ_CONFIG;
        }
        memset(&cu->transport, 0, sizeof cu->transport);
        cu->transport.impl = cu;
        cu->transport.init = tls_init;
        cu->transport.listen = tls_listen;
        cu->transport.connect = tls_connect;
        cu->transport.close = tls_close;
        cu->handshake_ms = PGQ_MAX(4 * cfg->election_timeout_ms, 2000);
        cu->stage = STAGE_TRANSPORT;
        return 0;
    }
    rv = raft_uv_tcp_init(&cu->transport, cu->loop);
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft transport: %s", raft_strerror(rv));
        return PGQ_IO;
    }
    cu->stage = STAGE_TRANSPORT;
    rv = raft_uv_tcp_set_bind_address(&cu->transport, cfg->raft_address);
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft transport: bind address %s: %s", cfg->raft_address,
                 raft_strerror(rv));
        return PGQ_IO;
    }
    return 0;
}

/* Free the transport once libraft no longer uses it (relay's memory is
 * cu's own). */
static void raft_transport_free(struct consensus_uv *cu)
{
    if (!cu->tls) {
        raft_uv_tcp_close(&cu->transport);
    }
}

static int mkdir_p(const char *path, char *errmsg, size_t errsize)
{
    char buf[PGQ_PATH_MAX];
    struct stat st;
    if (pgq_strlcpy(buf, path, sizeof buf) >= sizeof buf) {
        snprintf(errmsg, errsize, "data_dir %s: path too long", path);
        return PGQ_CONFIG;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                snprintf(errmsg, errsize, "data_dir %s: mkdir %s: %s", path, buf, strerror(errno));
                return PGQ_IO;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        snprintf(errmsg, errsize, "data_dir %s: mkdir: %s", path, strerror(errno));
        return PGQ_IO;
    }
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errmsg, errsize, "data_dir %s: not a directory", path);
        return PGQ_IO;
    }
    return 0;
}

static void raft_closed_cb(struct raft *r)
{
    struct consensus_uv *cu = r->data;
    raft_uv_close(&cu->io);
    raft_transport_free(cu);
    cu->stage = STAGE_NONE;
    if (cu->close_cb != NULL) {
        cu->close_cb(cu);
    }
}

/* libraft 0.15 answers an AppendEntries whose entries were written after
 * the term changed to the leader it now has, which may be none: id 0 and
 * a NULL address, on which raft_uv's send crashes (strlen in
 * uvClientInit; canonical/raft#350, fixed upstream in 0.17.1, and Debian 12
 * ships 0.15). Such a message has nowhere to go: it is refused as a
 * connection that cannot be made, which libraft drops quietly (the
 * leader, once there is one, sends its entries again). */
int consensus_uv_send(struct raft_io *io,
                      struct raft_io_send *req,
                      const struct raft_message *message,
                      raft_io_send_cb cb)
{
    struct consensus_uv *cu =
        (struct consensus_uv *)(void *)((char *)io - offsetof(struct consensus_uv, io));
    if (message->server_id == 0 || message->server_address == NULL) {
        return RAFT_NOCONNECTION;
    }
    return cu->uv_send(io, req, message, cb);
}

int consensus_uv_start(struct consensus_uv *cu,
                       uv_loop_t *loop,
                       const struct config *cfg,
                       struct transport *tr,
                       struct fsm *fsm,
                       char *errmsg,
                       size_t errsize)
{
    struct raft_configuration conf;
    int rv;
    cu->stage = STAGE_NONE;
    cu->bootstrapped = false;
    cu->joining = false;
    rv = mkdir_p(cfg->data_dir, errmsg, errsize);
    if (rv != 0) {
        return rv;
    }
    cu->loop = loop;
    cu->tr = tr;
    cu->tls = cfg->tls;
    rv = raft_transport_start(cu, cfg, errmsg, errsize);
    if (rv != 0) {
        consensus_uv_close(cu, NULL);
        return rv;
    }
    rv = raft_uv_init(&cu->io, loop, cfg->data_dir, &cu->transport);
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft storage in %s: %s", cfg->data_dir, cu->io.errmsg);
        goto err;
    }
    cu->stage = STAGE_IO;
    cu->uv_send = cu->io.send;
    cu->io.send = consensus_uv_send;
    rv = raft_init(&cu->raft, &cu->io, &fsm->raft, cfg->id, cfg->raft_address);
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft: %s", raft_errmsg(&cu->raft));
        goto err;
    }
    cu->stage = STAGE_RAFT;
    cu->raft.data = cu;
    raft_set_election_timeout(&cu->raft, (unsigned)cfg->election_timeout_ms);
    raft_set_heartbeat_timeout(&cu->raft, (unsigned)cfg->heartbeat_timeout_ms);
    raft_set_pre_vote(&cu->raft, true);
    raft_set_snapshot_threshold(&cu->raft, (unsigned)cfg->snapshot_threshold);
    raft_set_snapshot_trailing(&cu->raft, (unsigned)cfg->snapshot_trailing);
    raft_uv_set_connect_retry_delay(&cu->io, (unsigned)PGQ_MAX(cfg->heartbeat_timeout_ms, 100));

    /* A monitor that joins a running group never bootstraps: a
     * configuration of its own at index 1 would not be the group's, yet
     * match it by index and term. It starts with an empty configuration and
     * waits, a follower that never campaigns, until the leader adds it. */
    if (cfg->join) {
        rv = raft_start(&cu->raft);
        if (rv != 0) {
            snprintf(errmsg, errsize, "raft start in %s: %s", cfg->data_dir,
                     raft_errmsg(&cu->raft));
            goto err;
        }
        cu->joining = cu->raft.configuration.n == 0;
        return 0;
    }
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        rv = raft_configuration_add(&conf, cfg->peers[i].id, cfg->peers[i].address, RAFT_VOTER);
        if (rv != 0) {
            raft_configuration_close(&conf);
            snprintf(errmsg, errsize, "raft configuration: %s", raft_strerror(rv));
            goto err;
        }
    }
    rv = raft_bootstrap(&cu->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == 0) {
        cu->bootstrapped = true;
        log_info("bootstrapped an empty data_dir with %u voters", cfg->n_peers);
    } else if (rv != RAFT_CANTBOOTSTRAP) {
        snprintf(errmsg, errsize, "raft bootstrap in %s: %s", cfg->data_dir,
                 raft_errmsg(&cu->raft));
        goto err;
    }
    rv = raft_start(&cu->raft);
    if (rv != 0) {
        snprintf(errmsg, errsize, "raft start in %s: %s", cfg->data_dir, raft_errmsg(&cu->raft));
        goto err;
    }
    return 0;

err:
    consensus_uv_close(cu, NULL);
    return PGQ_IO;
}

/* libraft 0.15 crashes in raft_close when two or more of the leader's
 * appends wait behind a disk write (canonical/raft#338, fixed by #352 in
 * 0.17.1; Debian 12 ships 0.15): it cancels them first to last, the first
 * one's callback truncates the log from its index, taking the later ones
 * with it, and the next one's truncates past the log's end, which wraps
 * around without the assertion Debian builds without (SIGSEGV in
 * refsDecr). Two proposals in a turn of the loop before a SIGTERM are
 * enough: seen once at the end of a failover in CI. So the close waits,
 * DRAIN_MAX_MS at most, until every entry of the log is stored (only the
 * local disk: no quorum needed); then none waits to be cancelled. */
#define DRAIN_POLL_MS 5
#define DRAIN_MAX_MS 2000

static bool appends_waiting(const struct consensus_uv *cu)
{
    return raft_state((struct raft *)&cu->raft) != RAFT_UNAVAILABLE &&
           cu->raft.last_stored < raft_last_index((struct raft *)&cu->raft);
}

static void drain_cb(uv_timer_t *t)
{
    struct consensus_uv *cu = t->data;
    bool waiting = appends_waiting(cu);
    if (!waiting || uv_now(cu->loop) >= cu->drain_until) {
        if (waiting) {
            log_warn("raft: closing with appends not yet stored after %d ms", DRAIN_MAX_MS);
        }
        /* At once: a write begun later in this turn would wait again. */
        uv_close((uv_handle_t *)t, NULL);
        raft_close(&cu->raft, raft_closed_cb);
    }
}

void consensus_uv_close(struct consensus_uv *cu, consensus_uv_close_cb cb)
{
    cu->close_cb = cb;
    switch (cu->stage) {
        case STAGE_RAFT:
            if (cu->draining) {
                return; /* closing already */
            }
            if (appends_waiting(cu) && uv_timer_init(cu->loop, &cu->drain) == 0) {
                cu->draining = true;
                cu->drain.data = cu;
                cu->drain_until = uv_now(cu->loop) + DRAIN_MAX_MS;
                uv_timer_start(&cu->drain, drain_cb, DRAIN_POLL_MS, DRAIN_POLL_MS);
                return;
            }
            raft_close(&cu->raft, raft_closed_cb);
            return;
        case STAGE_IO:
            raft_uv_close(&cu->io);
            raft_transport_free(cu);
            break;
        case STAGE_TRANSPORT:
            raft_transport_free(cu);
            break;
        default:
            break;
    }
    cu->stage = STAGE_NONE;
    if (cb != NULL) {
        cb(cu);
    }
}
