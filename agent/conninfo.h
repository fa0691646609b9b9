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
};

/* Parse s. On failure (unreadable, or a keyword that libpq does not know:
 * keywords are case-sensitive), returns PGQ_INVALID and writes one line to
 * errmsg. */
int conninfo_parse(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

/* Parse and check that s is fit for the replicated state: one host, a port,
 * no password, a dbname that is a name and not a connection string. */
int conninfo_check(const char *s, struct conninfo *ci, char *errmsg, size_t errsize);

#endif /* PGQ_CONNINFO_H */
