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
