/* token: bearer tokens outside the pure core: their SHA-256 (libcrypto),
 * and reading one from a file (pgquorumctl --token-file). A token is a
 * secret: nothing here logs or prints it, and buffers that held one are
 * wiped. */
#ifndef PGQ_TOKEN_H
#define PGQ_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "authz.h"

/* SHA-256 of the token's bytes. 0, or PGQ_INTERNAL. */
int token_digest(const char *token, uint8_t out[AUTHZ_DIGEST_LEN]);

/* "sha256:<64 hex>" of the token, for [auth] tokens. */
int token_hash_text(const char *token, char *out, size_t size);

/* Read a token from path (one line; the trailing newline dropped) into
 * buf. 0, or PGQ_IO / PGQ_INVALID with errmsg naming the file (a token that
 * is empty, too long or holds control characters), never the token. */
int token_read_file(const char *path, char *buf, size_t size, char *errmsg, size_t errsize);

/* The same for a token read from a stream (stdin). */
int token_read_stream(void *stream, char *buf, size_t size, char *errmsg, size_t errsize);

/* Overwrite a buffer that held a secret (not optimized away). */
void token_wipe(void *buf, size_t size);

#endif /* PGQ_TOKEN_H */
