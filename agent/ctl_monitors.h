/* pgquorumctl's view of the quorum's monitors, for status: each one's own
 * Raft info, asked of it (a monitor that stopped answering is shown so),
 * and the leader the rows agree on. */
#ifndef PGQ_CTL_MONITORS_H
#define PGQ_CTL_MONITORS_H

#include <stdint.h>

#include "codec.h"
#include "ctl.h"
#include "render.h"

/* The rows of the monitors the state in first lists (answered: the address
 * that gave it), each asked for its own info (1.5 s at most each); a
 * monitor not listed yet is looked for among c's addresses. At most max. */
unsigned ctl_monitor_rows(struct ctl *c,
                          const struct api_response *first,
                          const char *answered,
                          struct monitor_row *rows,
                          unsigned max);

/* The leader status names, agreeing with the monitor rows: the one a
 * monitor named if it answers and says it leads itself; otherwise (it
 * stopped answering, or lost an election the answer did not know of yet)
 * the monitor that answers saying it leads, of the highest term; 0: none
 * known. A leader with no row (none listed yet) is taken on its word. */
uint64_t ctl_status_leader(const struct monitor_row *rows, unsigned n, uint64_t named);

#endif /* PGQ_CTL_MONITORS_H */
