/* render_http: the JSON bodies of the HTTP endpoints (the renderer's part
 * for HTTP; /cluster is render.h's status document). Built with jansson;
 * each returns a new reference (NULL: out of memory). */
#ifndef PGQ_RENDER_HTTP_H
#define PGQ_RENDER_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "cluster.h"
#include "health.h"

/* One health check's answer on one node. lag: only when f->lag_known. */
json_t *render_check_doc(const char *cluster,
                         const char *node,
                         int check,
                         int code,
                         const char *why,
                         const struct health_facts *f,
                         uint64_t epoch);

/* A body that says only what went wrong: {"error": ...}. */
json_t *render_error_doc(const char *message);

/* The text of a document (malloc'ed, with a final line feed); NULL: out of
 * memory. The reference is taken over. */
char *render_http_dumps(json_t *doc, size_t *len);

#endif /* PGQ_RENDER_HTTP_H */
