/* Inside the configuration: what config.c (the parser) and config_table.c
 * (the option table) share. Not for anyone else: the contract is config.h. */
#ifndef PGQ_CONFIG_INTERNAL_H
#define PGQ_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum opt_type {
    OPT_U64,
    OPT_DURATION,
    OPT_SIZE,
    OPT_STRING,
    OPT_ADDR,     /* IPv4:port */
    OPT_ADDR_OFF, /* IPv4:port, or "" (off) */
    OPT_PEERS,    /* id=IPv4:port,... */
    OPT_LOGLEVEL,
    OPT_SSLMODE,
    OPT_CRASH,    /* auto, restart, failover */
    OPT_REJOIN,   /* rewind-or-clone, manual, off */
    OPT_ADDRLIST, /* IPv4:port,... */
    OPT_BOOL,     /* on, off */
    OPT_LOGFORMAT,
    OPT_DRAIN,    /* syslog+tls://host:port, syslog+tcp://host:port, or "" (off) */
    OPT_FACILITY, /* a syslog facility name */
    OPT_AUTHMODE, /* auto, on, off */
};

struct option
{
    const char *section;
    const char *key;
    int type;
    size_t offset;
    size_t size; /* strings: buffer size */
    uint64_t min, max;
    const char *def; /* NULL: required */
    const char *doc;
};

/* At most this many keys (the parser keeps a line number per key). */
#define CONFIG_OPTIONS_MAX 128

extern const struct option config_options[];
extern const size_t config_n_options;

/* The option of section and key, NULL when there is none. */
const struct option *config_find_option(const char *section, const char *key);

static inline void *config_field(struct config *c, const struct option *o)
{
    return (char *)c + o->offset;
}

#endif /* PGQ_CONFIG_INTERNAL_H */
