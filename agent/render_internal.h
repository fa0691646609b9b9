/* render_internal: what the tables (render.c) and the JSON documents
 * (render_json.c) both say of a node, computed in one place. */
#ifndef PGQ_RENDER_INTERNAL_H
#define PGQ_RENDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* How status names a node's agent: up, unprotected (its PostgreSQL was
 * seen after it fell silent), silent, or none. */
const char *render_agent_word(const struct agent_facts *a);

/* ISO 8601 UTC with milliseconds ("2026-11-25T01:07:22.514Z"); "" for 0. */
void render_iso_time(uint64_t ms, char *out, size_t size);

/* The freshest view of a node that reached it; NULL when none did. */
const struct view *render_freshest_up(const struct node *n);

/* A node's WAL position as observed: a standby's received or replayed end,
 * whichever is further, a primary's current one. */
uint64_t render_node_lsn(const struct view_obs *o);

/* Bytes a standby is behind (false: not a standby, or not known). */
bool render_node_lag(const struct cluster *c, const struct node *n, uint64_t *lag);

#endif /* PGQ_RENDER_INTERNAL_H */
