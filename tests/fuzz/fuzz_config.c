/* Checks that config_parse reads any configuration text without a crash,
 * hang or sanitizer report, that a refused file gets one error line naming
 * the file, and that an accepted one satisfies the cross-key rules
 * config_parse promises (this monitor among the peers, every peer id one a
 * monitor can have, timeouts ordered). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

#define PATH "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char *text = malloc(size + 1);
    char *err = malloc(256);
    char *tiny = malloc(1);
    int rv;
    if (text == NULL || err == NULL || tiny == NULL) {
        abort();
    }
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    rv = config_parse(&c, PATH, text, err, 256);
    if (rv != 0) {
        FZ_ASSERT(rv == PGQ_CONFIG, "config_parse returned %d", rv);
        FZ_ASSERT(strncmp(err, PATH ":", strlen(PATH) + 1) == 0, "error does not name the file: %s",
                  err);
        FZ_ASSERT(strlen(err) < 256, "error too long");
    } else {
        const char *keys[8], *values[8];
        bool self = false;
        unsigned n;
        FZ_ASSERT(c.n_peers >= 1 && c.n_peers <= PGQ_MAX_MONITORS, "n_peers %u", c.n_peers);
        for (unsigned i = 0; i < c.n_peers; i++) {
            self |= c.peers[i].id == c.id;
            FZ_ASSERT(c.peers[i].id != 0, "peer id 0");
            /* Every peer is some monitor's own [monitor] id, which must be
             * in 1..1000000: a peer outside can never start, yet counts in
             * the quorum's size. */
            FZ_ASSERT(c.peers[i].id <= PGQ_MONITOR_ID_MAX,
                      "peer id %llu out of the range of [monitor] id",
                      (unsigned long long)c.peers[i].id);
            for (unsigned j = 0; j < i; j++) {
                FZ_ASSERT(c.peers[i].id != c.peers[j].id, "duplicate peer id");
            }
        }
        FZ_ASSERT(self, "this monitor %llu not among its peers", (unsigned long long)c.id);
        FZ_ASSERT(c.election_timeout_ms >= 3 * c.heartbeat_timeout_ms, "election timeout");
        FZ_ASSERT(c.retry_interval_ms <= c.interval_ms, "retry interval");
        FZ_ASSERT(c.snapshot_trailing <= c.snapshot_threshold, "snapshot trailing");
        FZ_ASSERT(c.data_dir[0] != '\0', "empty data_dir");
        FZ_ASSERT(strcmp(c.api_address, c.raft_address) != 0, "api == raft address");
        n = config_auth_params(&c, keys, values, 8);
        FZ_ASSERT(n <= 5, "auth params %u", n);
    }
    /* The same with no room for the error: must not write past it. */
    (void)config_parse(&c, PATH, text, tiny, 1);
    free(text);
    free(err);
    free(tiny);
    return 0;
}
