/* render: what pgquorumctl prints: tables for people, JSON for programs,
 * and the libpq URI for applications. Pure: state in, text out. */
#ifndef PGQ_RENDER_H
#define PGQ_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster.h"
#include "codec.h"

struct monitor_row
{
    uint64_t id;
    char raft_address[PGQ_ADDR_MAX];
    char api_address[PGQ_ADDR_MAX];
    bool reachable;
    struct raft_info info; /* valid when reachable */
};

/* One row per voter of the state in a status reply `res`; the monitor that
 * answered (from address `answered`) is reachable, the others are not known
 * to be yet (the caller may ask them). */
unsigned render_monitor_rows(const struct api_response *res,
                             const char *answered,
                             struct monitor_row *rows,
                             unsigned max);

/* cluster: "" for all. now_ms: the client's wall clock, for "ago". */
void render_status(FILE *out,
                   const struct state *s,
                   const struct monitor_row *rows,
                   unsigned n,
                   uint64_t leader,
                   const char *cluster,
                   uint64_t now_ms,
                   bool json);
void render_events(FILE *out, const struct state *s, bool json);

/* postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write, primary
 * first. PGQ_NOTFOUND when the cluster has no node. */
int render_uri(char *out, size_t size, const struct state *s, const char *cluster);

#endif /* PGQ_RENDER_H */
