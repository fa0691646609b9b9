/* health: what the HTTP health endpoints answer, with Patroni's semantics.
 * Pure: the facts of one node as one source sees them (a monitor: the
 * quorum's committed view and its own latest probe; a node agent: its
 * lease and its local checks) in, a status code and a reason out.
 *
 *   /primary, /read-write   200 on the primary of the current epoch that is
 *                           not fenced, not being failed over, and answers
 *                           out of recovery (on an agent: under its lease)
 *   /replica                200 on a standby that answers in recovery and
 *                           streams, is not in maintenance and need not
 *                           rejoin; ?lag=16MB also bounds its replay lag
 *   /read-only              /primary or /replica
 *   /synchronous, /sync     /replica, and named synchronous
 *   /asynchronous, /async   /replica, and not named synchronous
 *   /health                 200 when PostgreSQL answers
 * Everything else is 503 with the reason. */
#ifndef PGQ_HEALTH_H
#define PGQ_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

enum health_check { HC_PRIMARY = 0, HC_REPLICA, HC_READ_ONLY, HC_SYNC, HC_ASYNC, HC_HEALTH, HC__N };

/* The check an endpoint name asks for ("primary", "read-write", ...), or -1. */
int health_check_by_name(const char *name);
const char *health_check_name(int check);

struct health_facts
{
    bool primary;      /* the quorum's primary of the current epoch */
    bool failing_over; /* a failover or switchover over it has begun */
    bool fenced;       /* fenced, or found writable out of its epoch */
    bool lease_lost;   /* (agent) the lease that lets it take writes is not held */
    bool no_quorum;    /* the source has had no word of a quorum for a while: its view of
                          who is primary may be stale */
    bool running;      /* PostgreSQL answers, as this source last saw it */
    bool in_recovery;  /* ... in recovery */
    bool read_only;    /* ... with default_transaction_read_only (fenced by the quorum) */
    bool streaming;    /* a standby whose walreceiver streams */
    bool maintenance;  /* an operator put it in maintenance */
    bool must_rejoin;  /* demoted, rejoining, or on another history */
    bool sync;         /* named in the synchronous set of its primary */
    bool lag_known;    /* lag_bytes holds its replay lag */
    uint64_t lag_bytes;
    const char *unknown; /* non-NULL: nothing is known of it yet, and why */
};

/* What a query may add: ?lag=SIZE (bytes, or 16kB/16MB/1GB), and on a
 * monitor ?node=NAME, ?cluster=NAME and (/events) ?limit=N. */
struct health_query
{
    bool has_lag;
    uint64_t max_lag;
    unsigned limit; /* 0: all */
    char node[PGQ_NAME_MAX];
    char cluster[PGQ_NAME_MAX];
};

/* Parse a query string ("lag=16MB&node=pg1"); percent-encoding is decoded.
 * An unknown key, a repeated one, or a bad value: PGQ_INVALID with one line
 * in err. */
int health_parse_query(const char *query, struct health_query *q, char *err, size_t errsize);

/* 200 or 503; why says what holds or what does not. */
int health_judge(int check,
                 const struct health_facts *f,
                 const struct health_query *q,
                 char *why,
                 size_t size);

/* A monitor's facts of node n of cluster c: the committed state, with
 * `own` (this monitor's latest observation of n, NULL: none) for what
 * PostgreSQL answers, and own_primary (its latest of c's primary, NULL:
 * none) for the lag. */
void health_facts_of(const struct cluster *c,
                     const struct node *n,
                     const struct view_obs *own,
                     const struct view_obs *own_primary,
                     struct health_facts *f);

#endif /* PGQ_HEALTH_H */
