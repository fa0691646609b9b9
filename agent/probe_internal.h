/* probe internals shared by probe.c and probe_report.c. */
#ifndef PGQ_PROBE_INTERNAL_H
#define PGQ_PROBE_INTERNAL_H

#include <stdbool.h>

#include "probe.h"

/* The target of cluster/node (NULL: none), through the index. */
struct probe_target *probe_index_find(const struct probe *p, const char *cluster, const char *node);

/* Set what a target has to report (dirty, in flight), keeping p->n_pending. */
void probe_target_flags(struct probe_target *t, bool dirty, bool in_flight);

#endif
