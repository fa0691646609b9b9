/* A libpq connection string, read without libpq: the pure core needs a node's
 * address (for client URIs and for pointing standbys at a new primary) and
 * must refuse secrets before they reach the replicated state. Both libpq
 * forms are understood: "key=value ..." and "postgresql://...". */
#ifndef PGQ_CONNINFO_H
#define PGQ_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "pgquorum/pgquorum.h"

struct conninfo
{
    char host[PGQ_ADDR_MAX];     /* host, or hostaddr when host is absent */
    char hostaddr[PGQ_ADDR_MAX]; /* as given, may be empty */
    char port[8];                /* "5432" when absent */
    char dbname[PGQ_NAME_MAX];
    char user[PGQ_NAME_MAX];
    bool has_password;      /* password or sslpassword, in any form */
    bool dbname_is_connstr; /* dbname is itself a connection string (not kept) */
    bool has_unknown;       /* a keyword libpq does not know ... */
    char unknown[64];       /* ... the first one */
};

/* Parse s. Keywords libpq does not know are noted in ci->unknown, not
 * refused: strings already in the state are read with this. On failure
 * (unreadable) returns PGQ_INVALID and writes one line to errmsg. */
int conninfo_parse(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

/* The rules the state machine applies to a registered conninfo: it parses,
 * names one host and a port, and carries no password. These must not change
 * between versions: every monitor replays old log entries with them. */
int conninfo_check(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

/* conninfo_check, and what is refused before a registration is proposed
 * (pgquorumctl and the API): a keyword libpq does not know (keywords are
 * case-sensitive), a dbname that is itself a connection string. */
int conninfo_validate(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

/* Both parse and name the same host and port. */
bool conninfo_same_address(const char *a, const char *b);

#endif /* PGQ_CONNINFO_H */
