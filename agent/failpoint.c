/* Failpoints (see failpoint.h). The known names are listed here so that a
 * typo in a test is an error, not a failpoint that never fires. */
#include "failpoint.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"

static const char *const known[] = {
    "actuator.before_promote", /* leader decided, about to call pg_promote */
    "actuator.after_promote",  /* promoted, step not yet committed */
    "actuator.connect", /* actions cannot reach a node (arg: names, comma-separated, or all) */
    "probe",            /* probes of a node fail (arg: names, comma-separated, or all) */
    "probe.keep",       /* rounds keep the connection to a node (arg: names, or all) */
};

#ifdef PGQ_FAILPOINTS
struct armed
{
    bool on;
    bool crash;
    char arg[64];
};
static struct armed armed[PGQ_ARRAY_SIZE(known)];
#endif

static int lookup(const char *name)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(known); i++) {
        if (strcmp(known[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int failpoint_set(const char *name,
                  const char *action,
                  const char *arg,
                  char *errmsg,
                  size_t errsize)
{
    int i = lookup(name);
    if (i < 0) {
        snprintf(errmsg, errsize, "unknown failpoint \"%.64s\"", name);
        return 1;
    }
    if (strcmp(action, "crash") != 0 && strcmp(action, "fail") != 0 && strcmp(action, "off") != 0) {
        snprintf(errmsg, errsize, "unknown failpoint action \"%.16s\" (crash, fail, off)", action);
        return 1;
    }
#ifdef PGQ_FAILPOINTS
    armed[i].on = strcmp(action, "off") != 0;
    armed[i].crash = strcmp(action, "crash") == 0;
    pgq_strlcpy(armed[i].arg, arg != NULL ? arg : "", sizeof armed[i].arg);
    log_warn("failpoint %s armed: %s%s%s", name, action, arg != NULL && arg[0] ? " " : "",
             arg != NULL ? arg : "");
    return 0;
#else
    (void)arg;
    snprintf(errmsg, errsize, "failpoints are not compiled in (configure --enable-failpoints)");
    return 1;
#endif
}

int failpoint_set_from_env(const char *spec, char *errmsg, size_t errsize)
{
    char buf[512];
    char *save = NULL;
    if (pgq_strlcpy(buf, spec, sizeof buf) >= sizeof buf) {
        snprintf(errmsg, errsize, "PGQ_FAILPOINTS is too long");
        return 1;
    }
    for (char *item = strtok_r(buf, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        char *colon;
        if (eq == NULL) {
            snprintf(errmsg, errsize, "PGQ_FAILPOINTS: \"%.64s\" is not name=action[:arg]", item);
            return 1;
        }
        *eq = '\0';
        colon = strchr(eq + 1, ':');
        if (colon != NULL) {
            *colon = '\0';
        }
        if (failpoint_set(item, eq + 1, colon != NULL ? colon + 1 : "", errmsg, errsize) != 0) {
            return 1;
        }
    }
    return 0;
}

#ifdef PGQ_FAILPOINTS
/* arg is one of the comma-separated names of list. */
static bool in_list(const char *list, const char *arg)
{
    size_t len = arg != NULL ? strlen(arg) : 0;
    for (const char *p = list; len > 0 && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, arg, len) == 0) {
            return true;
        }
        p += n + (end != NULL);
    }
    return false;
}

bool failpoint_hit(const char *name, const char *arg)
{
    int i = lookup(name);
    if (i < 0 || !armed[i].on) {
        return false;
    }
    if (armed[i].arg[0] != '\0' && strcmp(armed[i].arg, "all") != 0 &&
        !in_list(armed[i].arg, arg)) {
        return false;
    }
    if (armed[i].crash) {
        log_warn("failpoint %s: crashing now", name);
        fflush(stderr);
        raise(SIGKILL);
    }
    return true;
}
#endif
