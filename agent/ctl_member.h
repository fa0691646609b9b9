/* pgquorumctl's monitor commands: monitor add|remove|replace parsed into a
 * request (checked as the leader will check it, before anyone is asked),
 * and what they print once done. No I/O. */
#ifndef PGQ_CTL_MEMBER_H
#define PGQ_CTL_MEMBER_H

#include <stddef.h>

#include "codec.h"

/* words: "monitor add ID RAFT_ADDRESS [API_ADDRESS]", "monitor remove ID",
 * "monitor replace OLD_ID NEW_ID RAFT_ADDRESS [API_ADDRESS]" (n words).
 * 0 and *req, or PGQ_INVALID with err (one line). */
int member_parse(const char *const *words,
                 unsigned n,
                 struct api_request *req,
                 char *err,
                 size_t errsize);

/* How long the leader may take over a change (its standby's catch-up
 * included) before pgquorumctl stops waiting for the answer. */
#define MEMBER_CTL_TIMEOUT_MS 120000

#endif /* PGQ_CTL_MEMBER_H */
