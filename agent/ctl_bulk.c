/* pgquorumctl node add --file: many nodes registered in few entries (see
 * ctl_bulk.h). */
#include "ctl_bulk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"
#include "ctl.h"
#include "lib/util.h"

/* A request of at most this many bytes of node additions (the monitors
 * take frames of PGQ_FRAME_MAX), and of this many nodes. */
#define BULK_BYTES_MAX (PGQ_FRAME_MAX / 2)
#define BULK_NODES_MAX PGQ_BATCH_MAX

static char *next_field(char **p)
{
    char *s = *p, *start;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    start = s;
    while (*s != '\0' && *s != ' ' && *s != '\t') {
        s++;
    }
    if (*s != '\0') {
        *s++ = '\0';
    }
    *p = s;
    return start;
}

int ctl_bulk_parse(FILE *f,
                   const char *fname,
                   struct command **out,
                   unsigned *n_out,
                   char *err,
                   size_t errsize)
{
    char line[PGQ_CONNINFO_MAX + 3 * PGQ_NAME_MAX + 16];
    struct command *cmds = NULL;
    unsigned n = 0, cap = 0, lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line, *cluster, *node, *prio, *conninfo, *end;
        struct conninfo ci;
        char why[PGQ_REASON_MAX];
        unsigned long v;
        size_t len = strlen(line);
        lineno++;
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, errsize, "%s:%u: line longer than %zu bytes", fname, lineno,
                     sizeof line - 2);
            goto fail;
        }
        line[strcspn(line, "\r\n")] = '\0';
        cluster = next_field(&p);
        if (cluster[0] == '\0' || cluster[0] == '#') {
            continue;
        }
        node = next_field(&p);
        prio = next_field(&p);
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        conninfo = p;
        if (!pgq_name_valid(cluster) || !pgq_name_valid(node)) {
            snprintf(err, errsize,
                     "%s:%u: \"%s\" is not a valid %s name (1-63 of A-Z a-z 0-9 _ . -)", fname,
                     lineno, pgq_name_valid(cluster) ? node : cluster,
                     pgq_name_valid(cluster) ? "node" : "cluster");
            goto fail;
        }
        errno = 0;
        v = strtoul(prio, &end, 10);
        if (prio[0] == '\0' || *end != '\0' || errno != 0 || v > 100) {
            snprintf(err, errsize, "%s:%u: priority \"%s\" is not a number in 0..100", fname,
                     lineno, prio);
            goto fail;
        }
        if (conninfo[0] == '\0' || strlen(conninfo) >= PGQ_CONNINFO_MAX) {
            snprintf(err, errsize, "%s:%u: %s", fname, lineno,
                     conninfo[0] == '\0' ? "no conninfo (cluster node priority conninfo)"
                                         : "conninfo longer than 1023 bytes");
            goto fail;
        }
        if (conninfo_validate(conninfo, &ci, why, sizeof why) != 0) {
            snprintf(err, errsize, "%s:%u: node %s: %s", fname, lineno, node, why);
            goto fail;
        }
        if (n == cap) {
            struct command *grown;
            cap = cap == 0 ? 64 : 2 * cap;
            grown = realloc(cmds, cap * sizeof *cmds);
            if (grown == NULL) {
                snprintf(err, errsize, "out of memory at line %u", lineno);
                goto fail;
            }
            cmds = grown;
        }
        command_init(&cmds[n], CMD_NODE_ADD);
        pgq_strlcpy(cmds[n].cluster, cluster, sizeof cmds[n].cluster);
        pgq_strlcpy(cmds[n].node, node, sizeof cmds[n].node);
        pgq_strlcpy(cmds[n].u.node_add.conninfo, conninfo, sizeof cmds[n].u.node_add.conninfo);
        cmds[n].u.node_add.priority = (unsigned)v;
        n++;
    }
    if (ferror(f)) {
        snprintf(err, errsize, "%s: %s", fname, strerror(errno));
        goto fail;
    }
    if (n == 0) {
        snprintf(err, errsize, "%s: no node (lines: cluster node priority conninfo)", fname);
        goto fail;
    }
    *out = cmds;
    *n_out = n;
    return 0;
fail:
    free(cmds);
    return PGQ_INVALID;
}

unsigned ctl_bulk_chunk(const struct command *cmds, unsigned n)
{
    size_t bytes = 0;
    unsigned k = 0;
    while (k < n && k < BULK_NODES_MAX) {
        size_t one = strlen(cmds[k].cluster) + strlen(cmds[k].node) +
                     strlen(cmds[k].u.node_add.conninfo) + 32;
        if (k > 0 && bytes + one > BULK_BYTES_MAX) {
            break;
        }
        bytes += one;
        k++;
    }
    return k;
}

/* node add --file: the nodes in batches of one entry each, in order; the
 * first batch refused stops it (the ones before it stay registered: say so). */
int ctl_bulk_send(struct ctl *c, const struct command *cmds, unsigned n)
{
    unsigned done = 0;
    while (done < n) {
        unsigned k = ctl_bulk_chunk(cmds + done, n - done);
        struct api_request req;
        struct api_response res;
        int rv;
        memset(&req, 0, sizeof req);
        req.kind = API_BATCH;
        command_init(&req.cmd, CMD_BATCH);
        req.cmd.u.batch.cmds = (struct command *)(cmds + done); /* borrowed, not closed */
        req.cmd.u.batch.n = k;
        rv = ctl_write(c, &req, &res);
        if (rv != 0) {
            fprintf(stderr, "pgquorumctl: %s (%u of %u nodes registered)\n", c->errmsg, done, n);
            return PGQ_EXIT_UNREACHABLE;
        }
        if (res.code != API_OK) {
            fprintf(stderr, "pgquorumctl: nodes %u-%u: %s (%u of %u registered before)\n", done + 1,
                    done + k, res.message, done, n);
            api_response_close(&res);
            return PGQ_EXIT_FAILED;
        }
        api_response_close(&res);
        done += k;
    }
    printf("%u nodes registered\n", n);
    return PGQ_EXIT_OK;
}
