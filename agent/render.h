/* render: what pgquorumctl prints and the HTTP server serves: tables for
 * people, JSON documents for programs, and the libpq URI for applications.
 * Pure: state in, text out.
 *
 * This is the one JSON renderer: every JSON document of the agent is built
 * here with jansson (render_json.c), never printed by hand; the shapes are
 * documented in docs/commands.md (status --json, events --json). */
#ifndef PGQ_RENDER_H
#define PGQ_RENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cluster.h"
#include "codec.h"

struct monitor_row
{
    uint64_t id;
    char raft_address[PGQ_ADDR_MAX];
    char api_address[PGQ_ADDR_MAX];
    bool reachable;
    struct raft_info info; /* valid when reachable */
    /* Its place in the Raft configuration of the monitor that answered
     * (enum members_role; MEMBERS_ROLE_NONE: not in it, or not told). */
    int raft_role;
};

/* One row per voter of state s, and one per server of the Raft
 * configuration `info` tells that is not (yet) a voter: a monitor on its
 * way in shows as a standby or a spare; the monitor whose Raft view is
 * `info` (it answered, from address `answered`) is reachable, the others
 * are not known to be yet (the caller may ask them). */
unsigned render_monitor_rows(const struct state *s,
                             const struct raft_info *info,
                             const char *answered,
                             struct monitor_row *rows,
                             unsigned max);

/* cluster: "" for all. now_ms: the client's wall clock, for "ago" (the
 * table only). json: the status document (render_status_doc) on one line.
 * 0, or PGQ_NOMEM / PGQ_IO (nothing or a part written). */
/* "voter", "standby", "spare", "none". */
const char *render_raft_role(int role);

int render_status(FILE *out,
                  const struct state *s,
                  const struct monitor_row *rows,
                  unsigned n,
                  uint64_t leader,
                  const char *cluster,
                  uint64_t now_ms,
                  bool json);
/* The events of s (already filtered by the monitor that answered), oldest
 * first. 0, or PGQ_NOMEM / PGQ_IO. */
int render_events(FILE *out, const struct state *s, bool json);

/* ---- JSON documents ------------------------------------------------------
 * Each builder returns a new reference (the caller json_decref()s it), or
 * NULL when out of memory. Keys keep the order they are added in. */

/* `status --json`, and the HTTP server's /cluster: the monitors (rows[0..n),
 * see render_monitor_rows), the leader (0: null), and the clusters and
 * nodes of `cluster` ("" for all). */
/* The same document, written as it is built, a node at a time: what it
 * costs in memory does not grow with the number of nodes. The bytes are
 * those of render_status_doc() written by render_json_write(). */
int render_status_stream(FILE *out,
                         const struct state *s,
                         const struct monitor_row *rows,
                         unsigned n_rows,
                         uint64_t leader,
                         const char *cluster);
/* The same bytes again, a few clusters at a time, for a server that must
 * not hold its loop for the whole fleet (the HTTP server's /cluster): the
 * clusters shown are taken by name when the walk begins (writing the head
 * to out), each step writes about `nodes` nodes' worth to out, the
 * clusters' array and then the nodes' (each cluster looked up again by
 * name: one removed since is left out, one added is left to the next
 * request; the state may change between steps). */
struct render_walk
{
    char (*names)[PGQ_NAME_MAX];
    unsigned n;
    unsigned next;
    int pass; /* 0: the clusters, 1: the nodes, 2: over */
    bool first;
};
/* 0, PGQ_NOMEM or PGQ_IO (render_status_walk_end() it either way). */
int render_status_walk_begin(struct render_walk *w,
                             const struct state *s,
                             const struct monitor_row *rows,
                             unsigned n_rows,
                             uint64_t leader,
                             const char *cluster,
                             FILE *out);
/* 0, PGQ_NOMEM or PGQ_IO; *more: true while the document is not whole. */
int render_status_walk_step(struct render_walk *w,
                            const struct state *s,
                            unsigned nodes,
                            FILE *out,
                            bool *more);
void render_status_walk_end(struct render_walk *w);
json_t *render_status_doc(const struct state *s,
                          const struct monitor_row *rows,
                          unsigned n,
                          uint64_t leader,
                          const char *cluster);
/* One node of cluster c of s, as in the status document's "nodes". */
json_t *render_node_doc(const struct state *s, const struct cluster *c, const struct node *n);
/* `events --json`: an array of the events of s, oldest first: those of
 * `cluster` and of none ("" or NULL: all), the last `limit` of them (0:
 * all), the way a monitor filters an events request. */
json_t *render_events_doc(const struct state *s, const char *cluster, unsigned limit);

/* A JSON string of any C string: bytes that are not valid UTF-8 (jansson
 * takes no other) each become U+FFFD, so that nothing is dropped; NULL
 * only when out of memory. */
json_t *render_json_string(const char *s);

/* doc compact on one line (the one format of every document), then a
 * newline. 0, PGQ_NOMEM or PGQ_IO. */
int render_json_write(FILE *out, const json_t *doc);
/* The same text without the newline, to free(); NULL when out of memory. */
char *render_json_dumps(const json_t *doc);

/* postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write, primary
 * first. PGQ_NOTFOUND when the cluster has no node. */
int render_uri(char *out, size_t size, const struct state *s, const char *cluster);

#endif /* PGQ_RENDER_H */
