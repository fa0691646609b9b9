/* Host metrics: reading /proc (see hostmetrics.h). The one part of host
 * metrics that does I/O, so it lives with the services, not in the pure
 * core with the parsers. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hostmetrics.h"
#include "lib/util.h"

/* ---- reading /proc ------------------------------------------------------- */

/* Kernel text files are small: /proc/stat's "intr" line is the longest line
 * on a large machine, and only the first line of that file is read. */
static char buf[64 * 1024];

/* The file at path into buf, NUL-terminated. Returns 0; PGQ_IO when it
 * cannot be opened or read; PGQ_TOOBIG when it does not fit, buf then holding
 * its first whole lines. */
static int read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n;
    int rv = 0;
    if (f == NULL) {
        buf[0] = '\0';
        return PGQ_IO;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    if (ferror(f)) {
        rv = PGQ_IO;
        n = 0;
    } else if (n == sizeof buf - 1 && fgetc(f) != EOF) {
        char *nl;
        rv = PGQ_TOOBIG;
        buf[n] = '\0';
        nl = strrchr(buf, '\n');
        n = nl != NULL ? (size_t)(nl + 1 - buf) : 0;
    }
    fclose(f);
    buf[n] = '\0';
    return rv;
}

static const struct source
{
    const char *path;
    int (*parse)(const char *text, struct host_sample *s);
    bool required;    /* not being able to read it is an error */
    bool head_enough; /* the parser reads the first lines only: a long file may be cut */
} sources[] = {
    {"/proc/stat", hostmetrics_parse_stat, true, true},
    {"/proc/loadavg", hostmetrics_parse_loadavg, false, true},
    {"/proc/diskstats", hostmetrics_parse_diskstats, false, false},
    {"/proc/net/dev", hostmetrics_parse_netdev, false, false},
};

int hostmetrics_read(struct host_sample *s)
{
    int first = 0;
    assert(s != NULL);
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(sources); i++) {
        int rv = read_file(sources[i].path);
        if (rv == PGQ_IO) {
            /* Absent (a container's /proc may lack diskstats): fields 0. */
            rv = sources[i].required ? PGQ_IO : 0;
        } else if (rv == 0 || sources[i].head_enough) {
            rv = sources[i].parse(buf, s);
        }
        if (first == 0) {
            first = rv;
        }
    }
    return first;
}
