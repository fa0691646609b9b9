/* tls_internal: what agent/tls.c shares with agent/transport.c (and only
 * with it): OpenSSL stays behind these two files. */
#ifndef PGQ_TLS_INTERNAL_H
#define PGQ_TLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport.h"

/* Load the [tls] files into t's contexts (replacing older ones), or mark t
 * plain. No loop needed. */
int transport_init_contexts(struct transport *t,
                            const struct transport_settings *ts,
                            char *errmsg,
                            size_t errsize);
void transport_free_contexts(struct transport *t);

/* The verified peer's identity from an SSL after its handshake; out->ip
 * is kept. */
int tls_peer_identity(void *ssl, struct peer_id *out, char *errmsg, size_t errsize);

/* Whether p is who a client wanted to reach. */
int tls_check_want(const struct peer_id *p,
                   int want_kind,
                   uint64_t want_id,
                   char *errmsg,
                   size_t errsize);

/* Why a handshake (or, after it, the connection) failed, in one line. */
void tls_error(void *ssl, bool handshake, const char *who, char *errmsg, size_t errsize);

#endif /* PGQ_TLS_INTERNAL_H */
