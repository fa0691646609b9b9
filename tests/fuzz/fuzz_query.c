/* Checks that health_parse_query reads any query string an HTTP client can
 * send without a crash or sanitizer report, that a refusal always says why
 * on one line, that an accepted query's names are NUL-terminated and within
 * their limits, and that health_judge answers 200 or 503 with a reason for
 * every check on facts derived from the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct health_query q;
    struct health_facts f;
    char err[256], why[256];
    char *s;
    if (size > 2048 || size < 2) {
        return 0;
    }
    s = malloc(size);
    if (s == NULL) {
        abort();
    }
    /* The first two bytes set the facts; the rest is the query. */
    memcpy(s, data + 2, size - 2);
    s[size - 2] = '\0';
    err[0] = '\0';
    if (health_parse_query(s, &q, err, sizeof err) != 0) {
        FZ_ASSERT(err[0] != '\0' && strchr(err, '\n') == NULL, "refusal without one line");
        free(s);
        return 0;
    }
    FZ_ASSERT(memchr(q.node, '\0', sizeof q.node) != NULL, "node unterminated");
    FZ_ASSERT(memchr(q.cluster, '\0', sizeof q.cluster) != NULL, "cluster unterminated");
    FZ_ASSERT(q.limit <= PGQ_EVENTS_LIST_MAX, "limit over the events listed");
    memset(&f, 0, sizeof f);
    f.primary = data[0] & 1;
    f.failing_over = data[0] & 2;
    f.fenced = data[0] & 4;
    f.lease_lost = data[0] & 8;
    f.running = data[0] & 16;
    f.in_recovery = data[0] & 32;
    f.read_only = data[0] & 64;
    f.streaming = data[0] & 128;
    f.maintenance = data[1] & 1;
    f.must_rejoin = data[1] & 2;
    f.sync = data[1] & 4;
    f.lag_known = data[1] & 8;
    f.lag_bytes = (uint64_t)data[1] << 20;
    for (int c = 0; c < HC__N; c++) {
        int code = health_judge(c, &f, &q, why, sizeof why);
        FZ_ASSERT(code == 200 || code == 503, "a code other than 200 or 503");
        FZ_ASSERT(why[0] != '\0', "an answer without a reason");
    }
    free(s);
    return 0;
}
