/* Reload: the keys a running daemon applies, and the diff of two
 * configurations (see reload.h).
 *
 * A key is live when every reader takes it from the daemon's configuration
 * at the time it needs it (a timer armed, a connection opened, a decision
 * made), or when monitor_reconfigure / node_reconfigure derive again what
 * was derived from it at start. Identities, addresses, directories and the
 * Raft settings are not: libraft, the listeners, the registration and the
 * data directories are set up once. So are the leases ([failover]
 * lease_time, lease_drift): a leader must never hold a lease granted under
 * the old length for ended under a new, shorter one. */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "pgquorum/pgquorum.h"

struct live_key
{
    int role;
    const char *section;
    const char *key;
};

static const struct live_key live_keys[] = {
    {ROLE_MONITOR, "monitor", "log_level"},
    {ROLE_MONITOR, "monitor", "log_format"},
    /* The leader commits them when they differ from the state's. */
    {ROLE_MONITOR, "monitor", "events_per_cluster"},
    {ROLE_MONITOR, "monitor", "events_global"},
    /* The probes arm their timers, and open their connections, with these. */
    {ROLE_MONITOR, "health", "interval"},
    {ROLE_MONITOR, "health", "timeout"},
    {ROLE_MONITOR, "health", "retry_interval"},
    {ROLE_MONITOR, "health", "retries"},
    {ROLE_MONITOR, "health", "report_refresh"},
    {ROLE_MONITOR, "health", "passfile"},
    {ROLE_MONITOR, "health", "sslmode"},
    {ROLE_MONITOR, "health", "sslcert"},
    {ROLE_MONITOR, "health", "sslkey"},
    {ROLE_MONITOR, "health", "sslrootcert"},
    /* The leader's policy and actuator read these at every step. */
    {ROLE_MONITOR, "failover", "failover_timeout"},
    {ROLE_MONITOR, "failover", "max_lag_on_failover"},
    {ROLE_MONITOR, "failover", "cut_timeout"},
    {ROLE_MONITOR, "failover", "promote_timeout"},
    {ROLE_MONITOR, "failover", "repoint_timeout"},
    {ROLE_MONITOR, "failover", "agent_refresh"},
    {ROLE_MONITOR, "failover", "replication_slots"},
    {ROLE_MONITOR, "api", "idle_timeout"},
    {ROLE_MONITOR, "api", "max_clients"},
    /* The HTTP server's limits (the server is given them again). */
    {ROLE_MONITOR, "http", "idle_timeout"},
    {ROLE_MONITOR, "http", "max_clients"},
    {ROLE_MONITOR, "auth", "tokens"},
    {ROLE_MONITOR, "auth", "admins"},
    {ROLE_NODE, "node", "log_level"},
    {ROLE_NODE, "node", "log_format"},
    /* Read by the agent when it runs a tool, checks, decides or beats. */
    {ROLE_NODE, "node", "bindir"},
    {ROLE_NODE, "node", "crash_policy"},
    {ROLE_NODE, "node", "restart_attempts"},
    {ROLE_NODE, "node", "heartbeat_interval"},
    {ROLE_NODE, "node", "fence_margin"},
    {ROLE_NODE, "node", "local_timeout"},
    {ROLE_NODE, "node", "start_timeout"},
    {ROLE_NODE, "node", "rejoin"},
    {ROLE_NODE, "node", "clone_command"},
    {ROLE_NODE, "node", "restore_command"},
    {ROLE_NODE, "http", "idle_timeout"},
    {ROLE_NODE, "http", "max_clients"},
};

bool reload_key_live(int role, const char *section, const char *key)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(live_keys); i++) {
        if (live_keys[i].role == role && strcmp(live_keys[i].section, section) == 0 &&
            strcmp(live_keys[i].key, key) == 0) {
            return true;
        }
    }
    return false;
}

const char *reload_unknown_live_key(void)
{
    struct config a, b;
    config_defaults(&a);
    config_defaults(&b);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(live_keys); i++) {
        if (config_copy_key(&a, &b, live_keys[i].section, live_keys[i].key) != 0) {
            return live_keys[i].key;
        }
    }
    return NULL;
}

struct diff
{
    const struct config *next;
    struct config *merged;
    struct reload_plan *plan;
};

static void changed_cb(void *arg, const char *section, const char *key)
{
    struct diff *d = arg;
    struct reload_plan *p = d->plan;
    if (reload_key_live(d->merged->role, section, key) &&
        config_copy_key(d->merged, d->next, section, key) == 0) {
        pgq_appendf(p->applied, sizeof p->applied, "%s[%s] %s", p->n_applied > 0 ? ", " : "",
                    section, key);
        p->n_applied++;
    } else {
        pgq_appendf(p->restart, sizeof p->restart, "%s[%s] %s", p->n_restart > 0 ? ", " : "",
                    section, key);
        p->n_restart++;
    }
}

int reload_plan(const struct config *running,
                const struct config *next,
                struct config *merged,
                struct reload_plan *plan,
                char *errmsg,
                size_t errsize)
{
    struct diff d = {next, merged, plan};
    memset(plan, 0, sizeof *plan);
    if (next->role != running->role) {
        snprintf(errmsg, errsize,
                 "the file now configures a %s, this daemon runs a %s: restart it to change "
                 "roles",
                 next->role == ROLE_NODE ? "node agent ([node])" : "monitor ([monitor])",
                 running->role == ROLE_NODE ? "node agent" : "monitor");
        return PGQ_CONFIG;
    }
    *merged = *running;
    config_changed_keys(running, next, changed_cb, &d);
    return 0;
}

void reload_summary(const struct reload_plan *plan, char *out, size_t size)
{
    if (plan->n_applied == 0 && plan->n_restart == 0) {
        snprintf(out, size, "no change");
        return;
    }
    snprintf(out, size, "applied %s", plan->n_applied > 0 ? plan->applied : "nothing");
    if (plan->n_restart > 0) {
        pgq_appendf(out, size, "; changed but need a restart: %s", plan->restart);
    }
}
