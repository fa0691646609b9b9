/* Failpoints: named places where a test build can crash or fail on purpose,
 * to prove that a leader dying half-way through a failover loses nothing.
 * Compiled in with ./configure --enable-failpoints; otherwise every check is
 * the constant false and arming one is refused.
 *
 * Armed by the environment at start (PGQ_FAILPOINTS="name=action[:arg];...")
 * or at run time through the API (pgquorumctl debug failpoint). Actions:
 *   crash  the process dies at once (SIGKILL), as if kill -9'd there;
 *   fail   the operation fails, for the nodes arg names (comma-separated; all,
 *          or no arg, for every node);
 *   off    disarm. */
#ifndef PGQ_FAILPOINT_H
#define PGQ_FAILPOINT_H

#include <stdbool.h>
#include <stddef.h>

int failpoint_set(const char *name,
                  const char *action,
                  const char *arg,
                  char *errmsg,
                  size_t errsize);
int failpoint_set_from_env(const char *spec, char *errmsg, size_t errsize);

#ifdef PGQ_FAILPOINTS
bool failpoint_hit(const char *name, const char *arg);
#define FAILPOINT(name, arg) failpoint_hit(name, arg)
#else
#define FAILPOINT(name, arg) ((void)(arg), false)
#endif

#endif /* PGQ_FAILPOINT_H */
