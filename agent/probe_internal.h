/* probe internals shared by probe.c and probe_report.c. */
#ifndef PGQ_PROBE_INTERNAL_H
#define PGQ_PROBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "probe.h"

/* The target of cluster/node (NULL: none), through the index. */
struct probe_target *probe_index_find(const struct probe *p, const char *cluster, const char *node);

/* Set what a target has to report (dirty, in flight), keeping p->n_pending. */
void probe_target_flags(struct probe_target *t, bool dirty, bool in_flight);

/* The probe's query for a server of this version (PQserverVersion). */
const char *probe_query(int server_version);

/* The observation the probe's answer r makes for t (probe_sql.c): 0, or
 * PGQ_MALFORMED with why set (the wrong shape, a value that does not
 * parse). */
int probe_parse_row(struct probe_target *t, PGresult *r, struct obs *o, char *why, size_t size);

#endif
