/* identity: who is at the other end of a connection, as the core sees it
 * (authorization, audit) and the transport fills it (from a verified
 * certificate). Types only: no I/O, so the pure core may include it. */
#ifndef PGQ_IDENTITY_H
#define PGQ_IDENTITY_H

#include <stdint.h>

#include "pgquorum/pgquorum.h"

#define TRANSPORT_NAME_MAX 128

/* Who is at the other end, from its verified certificate (TLS) or nobody
 * (plain TCP, or TLS without a client certificate). */
enum peer_kind {
    PEER_ANONYMOUS = 0, /* no certificate: a token may still identify it */
    PEER_MONITOR,       /* URI SAN pgquorum:monitor:<id> */
    PEER_NODE,          /* URI SAN pgquorum:node:<cluster>/<name> */
    PEER_USER,          /* URI SAN pgquorum:user:<name>, or else the subject CN */
};

struct peer_id
{
    int kind;                      /* enum peer_kind */
    uint64_t monitor_id;           /* PEER_MONITOR */
    char name[TRANSPORT_NAME_MAX]; /* "monitor:3", "node:main/pg1", "user:alice", "" */
    char cluster[PGQ_NAME_MAX];    /* PEER_NODE */
    char node[PGQ_NAME_MAX];       /* PEER_NODE */
    char ip[64];                   /* the peer's IP address ("" if unknown) */
};

#endif /* PGQ_IDENTITY_H */
