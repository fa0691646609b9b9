/* ctl: the client side of the operator API, for pgquorumctl. A command line
 * tool may block, so this is blocking sockets with a deadline on every step
 * (connect, TLS handshake, write, read), through the transport's tsync. */
#ifndef PGQ_CTL_H
#define PGQ_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "codec.h"
#include "transport.h"

#define CTL_MAX_MONITORS 16

struct ctl
{
    char monitors[CTL_MAX_MONITORS][PGQ_ADDR_MAX];
    unsigned n_monitors;
    struct transport *transport; /* plain or TLS, with this client's certificate */
    uint64_t timeout_ms;         /* per request */
    uint64_t wait_ms;            /* writes: keep trying (elections) this long */
    bool local;                  /* reads: each monitor's own state, never the leader's */
    FILE *progress;              /* writes: where to say that it waits for a leader (NULL: not) */
    char errmsg[512];
    bool hopeless; /* the last ctl_call: connection refused, or not a monitor */
    /* A bearer token sent with every request ("": none). A secret: never
     * printed; wiped from what carried it. */
    char token[PGQ_TOKEN_MAX];
};

/* Parse "host:port[,host:port...]". */
int ctl_set_monitors(struct ctl *c, const char *list, char *errmsg, size_t errsize);

/* One request to one monitor. 0 and *res filled (api_response_close it), or
 * PGQ_UNAVAILABLE (unreachable), PGQ_TIMEOUT, PGQ_MALFORMED with errmsg. */
int ctl_call(struct ctl *c,
             const char *address,
             const struct api_request *req,
             struct api_response *res);

/* A read: the leader's answer when a monitor names a reachable leader (the
 * freshest), else the first monitor that answers, preferring one that is
 * caught up. With c->local, the first monitor that answers, as it sees it.
 * *answered is the address that answered. PGQ_UNAVAILABLE: none reachable. */
int ctl_read(struct ctl *c,
             const struct api_request *req,
             struct api_response *res,
             char *answered,
             size_t answered_size);

/* A write: find the leader (following NOT_LEADER hints), retrying through
 * elections until wait_ms, saying so once on c->progress. Returns 0 with the
 * final reply in *res, or PGQ_UNAVAILABLE when no monitor was reachable at
 * all: at once when every one refused the connection or is not a monitor. */
int ctl_write(struct ctl *c, const struct api_request *req, struct api_response *res);

#endif /* PGQ_CTL_H */
