/* api: the operator API server on api_address: length-prefixed protobuf
 * frames over TCP, one request at a time per connection.
 *
 * The happy path is: accept, read one frame, decode it, hand it to the
 * owner's handler, write the reply the owner gives with api_reply(), read
 * the next frame.
 *
 * Possible failure modes are: a frame over PGQ_FRAME_MAX (refused with a
 * BAD_REQUEST reply naming the limit, connection closed), garbage or an
 * unknown request (a BAD_REQUEST reply saying why; the connection stays
 * usable), a client silent, not delivering a whole frame within idle_timeout
 * of its first byte, or not reading its reply for idle_timeout (closed), too
 * many clients (an UNAVAILABLE reply, then closed; connections from monitor
 * hosts have a reserve beyond max_clients so that reports still reach the
 * leader), a client that leaves while its request is being handled (the
 * reply is dropped). None of them affects any other client or the daemon. */
#ifndef PGQ_API_H
#define PGQ_API_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "config.h"
#include "frame.h"
#include "transport.h"

struct api_server;
struct api_client;

/* The handler owns nothing of req after it returns, except what it copied;
 * it must eventually call api_reply(cl, ...) exactly once. */
typedef void (*api_handler)(struct api_server *s,
                            struct api_client *cl,
                            const struct api_request *req);
typedef void (*api_close_cb)(struct api_server *s);

struct api_server
{
    uv_loop_t *loop;
    const struct config *cfg;
    struct transport *transport;
    api_handler handler;
    void *data;
    /* The replicated state, for the monitors it lists beyond the peers of
     * the configuration (borrowed; NULL: none). */
    const struct state *state;
    /* private */
    uv_tcp_t listener;
    struct api_client *clients;
    unsigned n_clients;
    unsigned n_refusing; /* surplus clients waiting to be told so */
    unsigned pending;
    bool closing;
    api_close_cb close_cb;
    uint64_t refused_log_ms;
    uint64_t refused_tls_log_ms;
    uint64_t accept_err_log_ms; /* last "cannot accept" line (EMFILE) */
};

int api_start(struct api_server *s,
              uv_loop_t *loop,
              const struct config *cfg,
              struct transport *transport,
              api_handler handler,
              char *errmsg,
              size_t errsize);

/* Reply to the request being handled. For API_STATUS/API_EVENTS the state
 * is encoded from `state`. */
void api_reply(struct api_client *cl,
               const struct api_response *res,
               const struct state *state,
               const char *events_cluster,
               unsigned events_limit);

/* Reply to a status of all (api_request.stream) in several frames: res as
 * the head now (`more` set, the state without its clusters), then parts of
 * a few clusters (about API_STREAM_NODES nodes), each encoded once the one
 * before is written, so that the loop never encodes the whole state at
 * once (codec_status_part_encode). Clusters are taken by name when it
 * begins and looked up in `state` (borrowed until the last frame) for each
 * part: one removed meanwhile is left out, each part is as of its turn. */
void api_reply_stream(struct api_client *cl, struct api_response *res, const struct state *state);

/* A one-line reply with no body. */
void api_reply_code(struct api_client *cl, int code, const char *message, const char *leader_api);

/* The client's IP address ("" if unknown). */
const char *api_client_peer(const struct api_client *cl);

/* Who the client proved to be with its certificate (PEER_ANONYMOUS
 * without one, and always over plain TCP); ip is its address. */
const struct peer_id *api_client_id(const struct api_client *cl);

void api_close(struct api_server *s, api_close_cb cb);

#endif /* PGQ_API_H */
