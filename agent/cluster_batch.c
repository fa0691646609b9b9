/* Inside the state machine: batches (level 6), commands applied in order
 * in one entry, each as if alone (see cluster.h, CMD_BATCH). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"
#include "conninfo.h"
#include "lib/util.h"

/* Each command of a batch is applied as if it were an entry of its own,
 * at the batch's time and for whoever asked for the batch: one refused
 * changes nothing and the others still apply. */
int apply_batch(struct state *s, const struct command *cmd, struct apply_result *res)
{
    if (cmd->u.batch.n == 0) {
        return cluster_fail(res, PGQ_INVALID, "an empty batch");
    }
    for (unsigned i = 0; i < cmd->u.batch.n; i++) {
        if (cmd->u.batch.cmds[i].kind == CMD_BATCH) {
            return cluster_fail(res, PGQ_INVALID, "a batch holds a batch");
        }
    }
    for (unsigned i = 0; i < cmd->u.batch.n; i++) {
        struct command sub = cmd->u.batch.cmds[i]; /* shallow: it owns nothing here */
        struct apply_result r;
        sub.time_ms = cmd->time_ms;
        /* Who asked is who asked for the batch, whatever a command in it
         * says: the monitor that took it stamped the batch only. */
        pgq_strlcpy(sub.who, cmd->who, sizeof sub.who);
        pgq_strlcpy(sub.from, cmd->from, sizeof sub.from);
        if (cluster_apply(s, &sub, &r) == 0) {
            res->n_applied++;
        } else if (res->n_refused++ == 0) {
            res->first_refused = i + 1;
            snprintf(res->message, sizeof res->message, "%s%s%s",
                     sub.node[0] != '\0' ? sub.node : "", sub.node[0] != '\0' ? ": " : "",
                     r.message);
        }
    }
    return 0;
}

/* A node add of a batch with what it may share with another of the batch:
 * its name, its slot's name, its address. */
struct batch_add
{
    const struct command *cmd;
    unsigned index;
    char slot[PGQ_SLOT_NAME_MAX];
    uint64_t addr;
};

static int by_slot(const void *a, const void *b)
{
    const struct batch_add *x = a, *y = b;
    int c = strcmp(x->cmd->cluster, y->cmd->cluster);
    return c != 0 ? c : strcmp(x->slot, y->slot);
}

static int by_addr(const void *a, const void *b)
{
    const struct batch_add *x = a, *y = b;
    int c = strcmp(x->cmd->cluster, y->cmd->cluster);
    return c != 0 ? c : (x->addr > y->addr) - (x->addr < y->addr);
}

/* No two node adds of one batch that one cluster could not both take: the
 * same name, the same slot, the same address (what a single node add is
 * refused for against the nodes registered). Sorted: O(n log n). */
static int check_batch_twice(const struct command *cmd, struct apply_result *res)
{
    struct batch_add *adds = state_grow(NULL, cmd->u.batch.n * sizeof *adds);
    unsigned n = 0;
    int rv = 0;
    for (unsigned i = 0; i < cmd->u.batch.n; i++) {
        const struct command *sub = &cmd->u.batch.cmds[i];
        if (sub->kind == CMD_NODE_ADD) {
            adds[n].cmd = sub;
            adds[n].index = i;
            pgq_slot_name(sub->node, adds[n].slot, sizeof adds[n].slot);
            adds[n].addr = node_addr_key(sub->u.node_add.conninfo);
            n++;
        }
    }
    qsort(adds, n, sizeof *adds, by_slot);
    for (unsigned i = 1; i < n && rv == 0; i++) {
        if (by_slot(&adds[i - 1], &adds[i]) == 0) {
            const char *a = adds[i - 1].cmd->node, *b = adds[i].cmd->node;
            res->first_refused = adds[i].index + 1;
            rv = strcmp(a, b) == 0
                     ? cluster_fail(res, PGQ_EXISTS, "node %s of cluster %s is listed twice", b,
                                    adds[i].cmd->cluster)
                     : cluster_fail(res, PGQ_EXISTS,
                                    "nodes %s and %s of cluster %s would share replication slot "
                                    "%s: choose names that differ in more than case or "
                                    "punctuation",
                                    a, b, adds[i].cmd->cluster, adds[i].slot);
        }
    }
    qsort(adds, n, sizeof *adds, by_addr);
    for (unsigned i = 1; i < n && rv == 0; i++) {
        if (by_addr(&adds[i - 1], &adds[i]) == 0 &&
            conninfo_same_address(adds[i - 1].cmd->u.node_add.conninfo,
                                  adds[i].cmd->u.node_add.conninfo)) {
            res->first_refused = adds[i].index + 1;
            rv = cluster_fail(res, PGQ_EXISTS, "nodes %s and %s of cluster %s have one address",
                              adds[i - 1].cmd->node, adds[i].cmd->node, adds[i].cmd->cluster);
        }
    }
    free(adds);
    return rv;
}

/* A client's batch (a bulk registration): each command is checked against
 * the state as it is, not as the ones before it would leave it, and the
 * batch is refused as a whole when one is; apply may still refuse one that
 * those before it made wrong (counted in its result). */
int check_batch(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    if (cmd->u.batch.n == 0) {
        return cluster_fail(res, PGQ_INVALID, "an empty batch");
    }
    for (unsigned i = 0; i < cmd->u.batch.n; i++) {
        const struct command *sub = &cmd->u.batch.cmds[i];
        struct apply_result r;
        if (sub->kind == CMD_BATCH) {
            return cluster_fail(res, PGQ_INVALID, "a batch holds a batch");
        }
        if (cluster_check(s, sub, &r) != 0) {
            res->first_refused = i + 1;
            return cluster_fail(res, r.code, "%s", r.message);
        }
    }
    return check_batch_twice(cmd, res);
}
