/* rejoin: the node agent's pure rules for making its node a standby of
 * the primary again, and the text it reads and writes on the way. No I/O:
 * node_rejoin.c runs the commands these rules ask for.
 *
 * A node must rejoin when its data directory cannot follow the primary of
 * the epoch as it is: a former primary (it would start writable, and the
 * quorum says it is not the primary), a standby the quorum demoted (its
 * WAL diverged) that does not stream, or an empty data directory. It
 * rejoins only from a primary the quorum names as settled (no failover
 * half-way), never while the quorum says it is the primary itself. */
#ifndef PGQ_REJOIN_H
#define PGQ_REJOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A demoted standby that runs but has not streamed for this long is
 * rewound (a rejoined one gets this long to start streaming). */
#define REJOIN_GRACE_MS 10000

enum rejoin_action {
    RJ_ACT_NONE = 0, /* nothing to do (or nothing can be done yet) */
    RJ_ACT_WAIT,     /* it must rejoin but the mode leaves it to an operator */
    RJ_ACT_REWIND,   /* pg_rewind from the primary */
    RJ_ACT_CLONE,    /* empty the data directory and clone it from the primary */
};

/* What the agent knows when it decides. */
struct rejoin_view
{
    int mode; /* REJOIN_* (config.h) */
    bool have_reply;
    bool registered;
    bool primary;              /* the quorum says it is the primary of the epoch */
    bool can_follow;           /* the quorum names a settled primary to follow */
    bool demoted;              /* the quorum demoted it: it must rejoin */
    bool empty;                /* the data directory holds none (no PG_VERSION) */
    bool standby;              /* standby.signal or recovery.signal */
    bool down;                 /* PostgreSQL is down and the agent does not start it as it is */
    bool running_standby;      /* it runs, in recovery */
    uint64_t not_streaming_ms; /* for how long it has run without streaming */
    uint64_t grace_ms;         /* how long it may (0: REJOIN_GRACE_MS) */
    bool rewind_failed;        /* this rejoin's rewind was impossible or failed */
};

/* The next thing to do; why says it in a few words (for the log, the
 * agent's facts and the events). */
int rejoin_next(const struct rejoin_view *v, char *why, size_t size);

/* One setting of postgresql.auto.conf; value NULL: removed only. */
struct conf_setting
{
    const char *key;
    const char *value;
};

/* old (NULL: none) with every line that sets one of the keys removed and
 * each setting with a value appended, quoted; into out. PGQ_TOOBIG when it
 * does not fit. */
int rejoin_conf_rewrite(const char *old,
                        const struct conf_setting *set,
                        unsigned n,
                        char *out,
                        size_t size);

/* pg_controldata's text: may pg_rewind run on this data directory
 * (wal_log_hints on or data checksums)? False only when both are known to
 * be off. */
bool rejoin_rewindable(const char *controldata, char *why, size_t size);

/* One line of pg_waldump: the record's position (false: not a record
 * line) and whether it is a commit. */
bool rejoin_waldump_line(const char *line, uint64_t *lsn, bool *commit);

/* A WAL segment file's name ("000000010000000000000003"): its timeline
 * and segment number, given the segment size (false: not one). */
bool rejoin_wal_segment(const char *name, uint64_t seg_size, uint32_t *tli, uint64_t *segno);

/* The port of a conninfo ("" when absent), and its host when it is a
 * directory (Unix socket; "" otherwise). */
void rejoin_conninfo_local(const char *conninfo,
                           char *port,
                           size_t port_size,
                           char *sockdir,
                           size_t sockdir_size);

#endif /* PGQ_REJOIN_H */
