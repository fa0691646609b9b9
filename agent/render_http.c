/* render_http: the HTTP endpoints' JSON bodies (see render_http.h). */
#include "render_http.h"

#include <stdlib.h>
#include <string.h>

#include "render.h"

json_t *render_check_doc(const char *cluster,
                         const char *node,
                         int check,
                         int code,
                         const char *why,
                         const struct health_facts *f,
                         uint64_t epoch)
{
    json_t *d = json_object();
    if (d == NULL) {
        return NULL;
    }
    json_object_set_new(d, "cluster", render_json_string(cluster));
    json_object_set_new(d, "node", render_json_string(node));
    json_object_set_new(d, "check", json_string(health_check_name(check)));
    json_object_set_new(d, "ok", json_boolean(code == 200));
    json_object_set_new(d, "reason", render_json_string(why));
    json_object_set_new(d, "epoch", json_integer((json_int_t)epoch));
    json_object_set_new(d, "primary", json_boolean(f->primary));
    if (f->unknown == NULL) {
        json_object_set_new(d, "running", json_boolean(f->running));
        json_object_set_new(d, "in_recovery", json_boolean(f->in_recovery));
        json_object_set_new(d, "streaming", json_boolean(f->streaming));
        json_object_set_new(d, "synchronous", json_boolean(f->sync));
    }
    json_object_set_new(d, "maintenance", json_boolean(f->maintenance));
    json_object_set_new(d, "fenced", json_boolean(f->fenced));
    if (f->lag_known) {
        json_object_set_new(d, "lag_bytes", json_integer((json_int_t)f->lag_bytes));
    }
    return d;
}

json_t *render_error_doc(const char *message)
{
    json_t *d = json_object();
    if (d != NULL) {
        json_object_set_new(d, "error", render_json_string(message));
    }
    return d;
}

char *render_http_dumps(json_t *doc, size_t *len)
{
    char *s, *out;
    size_t n;
    if (doc == NULL) {
        return NULL;
    }
    s = render_json_dumps(doc);
    json_decref(doc);
    if (s == NULL) {
        return NULL;
    }
    n = strlen(s);
    out = realloc(s, n + 2);
    if (out == NULL) {
        free(s);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}
