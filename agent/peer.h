/* peer: an asynchronous API client inside the daemon, used by a follower to
 * hand its observations to the leader.
 *
 * The happy path is: connect to the leader's api_address once, then send one
 * framed request and read one framed reply at a time over that connection.
 *
 * Possible failure modes are: the leader moved (a new address closes the old
 * connection), refused or silent peer (the request fails after timeout_ms),
 * a reply that is oversized or malformed (refused, connection dropped). */
#ifndef PGQ_PEER_H
#define PGQ_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "frame.h"
#include "transport.h"

struct peer;
struct peer_conn;

/* status 0: *res is the decoded reply (owned by peer, valid during cb). */
typedef void (*peer_cb)(struct peer *p, int status, const struct api_response *res);
typedef void (*peer_close_cb)(struct peer *p);

struct peer
{
    uv_loop_t *loop;
    struct transport *transport;
    void *data;
    char errmsg[256];
    /* private */
    struct peer_conn *conn;
    uv_timer_t timer;
    peer_cb cb;
    bool busy;
    bool closing;
    unsigned pending;
    peer_close_cb close_cb;
};

int peer_init(struct peer *p, uv_loop_t *loop, struct transport *t);

/* One request at a time. Nonzero: cb never fires. */
int peer_request(struct peer *p,
                 const char *address,
                 const struct api_request *req,
                 uint64_t timeout_ms,
                 peer_cb cb);

void peer_close(struct peer *p, peer_close_cb cb);

#endif /* PGQ_PEER_H */
