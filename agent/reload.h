/* Reload (SIGHUP): what a new configuration file changes in a running
 * daemon. Pure: the running and the new configuration in; out, the
 * configuration to run with (the running one, with the keys that can change
 * at run time taken from the new file) and, as text, the keys applied and
 * the keys changed that need a restart. The daemon applies the result (see
 * monitor_reconfigure, node_reconfigure). */
#ifndef PGQ_RELOAD_H
#define PGQ_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct reload_plan
{
    unsigned n_applied;
    unsigned n_restart;
    char applied[1024]; /* "[health] interval, [api] idle_timeout" */
    char restart[1024]; /* "[monitor] api_address" */
};

/* Whether the daemon of `role` (ROLE_*) applies a change of key at run
 * time; the others need a restart. */
bool reload_key_live(int role, const char *section, const char *key);

/* The first live key that is not a key of the configuration table (for the
 * unit tests), or NULL. */
const char *reload_unknown_live_key(void);

/* Compare running with next (both parsed and validated) key by key; write
 * into merged the configuration to run with: running, with every key that
 * changed and is live for running's role taken from next. Returns 0, or
 * PGQ_CONFIG with one line in errmsg (merged untouched) when next configures
 * the other role. */
int reload_plan(const struct config *running,
                const struct config *next,
                struct config *merged,
                struct reload_plan *plan,
                char *errmsg,
                size_t errsize);

/* The one log line of a reload: "applied KEYS; changed but need a restart:
 * KEYS", "no change", ... */
void reload_summary(const struct reload_plan *plan, char *out, size_t size);

#endif /* PGQ_RELOAD_H */
