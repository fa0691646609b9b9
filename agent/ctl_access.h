/* pgquorumctl's access commands: role, grant, revoke and deny parsed into
 * requests, what they print once committed, whoami's output, token hash,
 * and the events --who filter. No I/O but the streams given. */
#ifndef PGQ_CTL_ACCESS_H
#define PGQ_CTL_ACCESS_H

#include <stdbool.h>
#include <stdio.h>

#include "authz.h"
#include "codec.h"

/* words: "role NAME ROLE", "grant|deny ACTION to NAME [on cluster C]",
 * "revoke ACTION from NAME [on cluster C]" (n words). A bare NAME is
 * user:NAME. 0 and *req, or PGQ_INVALID with err (a usage line). */
int access_parse(const char *const *words,
                 unsigned n,
                 struct api_request *req,
                 char *err,
                 size_t errsize);

/* One line on what a committed role or grant request changed. */
void access_say_done(const struct api_request *req, const char *message);

int access_print_whoami(FILE *out, const struct whoami_reply *w, bool json);

/* Read a token from in (one line), print "sha256:<hex>" to out. */
int access_token_hash(FILE *in, FILE *out, char *err, size_t errsize);

/* Keep only the events of the request of `who` (a bare name is
 * user:NAME; "anonymous" is a caller who proved no identity). The state is a decoded reply's
 * (events from index 0). */
void access_filter_events(struct state *s, const char *who);

#endif /* PGQ_CTL_ACCESS_H */
