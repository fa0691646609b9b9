/* metrics: the Prometheus text exposition format (version 0.0.4), and the
 * metric families of the replicated state. Pure: values in, text out. The
 * names are documented in docs/metrics.md.
 *
 * A family is written whole (# HELP, # TYPE, then every sample of it), as
 * the format requires. Label values are escaped (backslash, quote, line
 * feed). Out of memory: the text is dropped and metrics_take() says so. */
#ifndef PGQ_METRICS_H
#define PGQ_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "log_drain_msg.h"

struct metrics_buf
{
    char *p;
    size_t len;
    size_t cap;
    bool oom;
};

void metrics_init(struct metrics_buf *b);
/* The text (owned by the caller, NUL-terminated), or NULL when memory ran
 * out; b is empty afterwards. */
char *metrics_take(struct metrics_buf *b, size_t *len);
void metrics_free(struct metrics_buf *b);

/* # HELP and # TYPE of a family (type: gauge, counter, histogram). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);
/* One sample: labels are name/value pairs, n_labels pairs; value as a
 * decimal. */
void metrics_sample(struct metrics_buf *b,
                    const char *name,
                    const char *const *labels,
                    unsigned n_labels,
                    double value);

/* A histogram of durations in seconds, with fixed buckets. */
#define METRICS_BUCKETS 11
extern const double metrics_bucket_bounds[METRICS_BUCKETS];
struct metrics_hist
{
    uint64_t counts[METRICS_BUCKETS]; /* not cumulative: one bucket per observation */
    uint64_t count;
    double sum;
};
void metrics_observe(struct metrics_hist *h, double seconds);
/* Write the _bucket, _sum and _count samples of h with one extra label. */
void metrics_hist_samples(struct metrics_buf *b,
                          const char *name,
                          const char *label,
                          const char *value,
                          const struct metrics_hist *h);

/* The families of the committed state, as a monitor sees it: per cluster
 * (epoch, timeline, failover under way, paused) and per node (up by
 * verdict, primary, role and verdict, maintenance, this monitor's probe:
 * reachable, lag, WAL position, timeline, cache and index hit ratio,
 * connections; the agent's host metrics). own(arg, cluster, node) gives
 * this monitor's latest observation of a node (NULL: none). */
typedef const struct view_obs *(*metrics_own_fn)(void *arg, const char *cluster, const char *node);
void metrics_state(struct metrics_buf *b, const struct state *s, metrics_own_fn own, void *arg);

/* The same samples a few clusters at a time, for a scrape that must not
 * hold the loop for the whole fleet (51 ms at 10,000 nodes): the clusters
 * are taken by name when the walk begins; each step renders every family's
 * samples of the next clusters (looked up again by name: one removed since
 * is left out, one added is left to the next scrape, so no sample is ever
 * written twice), each family into a buffer of its own; once every cluster
 * is done, the families are handed over one piece each, in order, as the
 * format wants a family's samples together. The state may change between
 * steps (commands applied, a snapshot installed). */
struct metrics_walk
{
    char (*names)[PGQ_NAME_MAX];
    unsigned n;
    unsigned next;           /* the next cluster to render */
    struct metrics_buf *fam; /* one per family, its head first */
    size_t piece;            /* the next family to hand over */
    bool oom;                /* a family ran out of memory */
};
/* 0, or -1 when memory ran out. */
int metrics_walk_begin(struct metrics_walk *w, const struct state *s);
/* Render the next clusters, about `nodes` nodes' worth; true while
 * clusters remain. */
bool metrics_walk_step(struct metrics_walk *w,
                       const struct state *s,
                       metrics_own_fn own,
                       void *arg,
                       unsigned nodes);
/* The next family's text (the caller frees it); false when none remains,
 * or when a family ran out of memory (w->oom: then none is handed over). */
bool metrics_walk_piece(struct metrics_walk *w, char **text, size_t *len);
void metrics_walk_end(struct metrics_walk *w);

/* The host families (pgquorum_host_*) of one node, as its agent measured
 * them. */
void metrics_host(struct metrics_buf *b,
                  const char *cluster,
                  const char *node,
                  const struct agent_host *h);

/* The log drain's families (pgquorum_log_drain_connected, _queued,
 * _dropped_total), only when a drain is configured. */
void metrics_log_drain(struct metrics_buf *b, const struct log_drain_stats *st);

#endif /* PGQ_METRICS_H */
