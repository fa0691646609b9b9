/* pgquorumctl node add --file FILE: a bulk registration. Each line is
 *   cluster node priority conninfo...
 * (the conninfo is the rest of the line; blank lines and lines starting
 * with # are skipped). Every line is checked before anything is sent; the
 * nodes then go in batches (one Raft entry each, level 6), each checked by
 * the leader as a whole. */
#ifndef PGQ_CTL_BULK_H
#define PGQ_CTL_BULK_H

#include <stdio.h>

#include "cluster.h"
#include "ctl.h"

/* Read f (named fname in errors) into *out (n_out commands, free() it).
 * PGQ_INVALID with one line in err naming the file, the line and the
 * problem: nothing is to be sent then. */
int ctl_bulk_parse(FILE *f,
                   const char *fname,
                   struct command **out,
                   unsigned *n_out,
                   char *err,
                   size_t errsize);

/* Send cmds[0..n) to the leader in batches (ctl_bulk_chunk), in order;
 * the first batch refused stops it, saying how many were registered
 * before. An exit code (PGQ_EXIT_*). */
int ctl_bulk_send(struct ctl *c, const struct command *cmds, unsigned n);

/* How many of cmds[0..n) go in the next batch (at least 1 when n > 0). */
unsigned ctl_bulk_chunk(const struct command *cmds, unsigned n);

#endif /* PGQ_CTL_BULK_H */
