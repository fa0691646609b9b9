/* Checks that conninfo_parse, conninfo_check and conninfo_validate read any
 * string without a crash or sanitizer report, that they are layered as
 * documented (validate accepts => check accepts => parse accepts, with the
 * same result), and that an accepted conninfo has one host, a port in
 * 1..65535 and no password; and that the state machine applies a node add
 * exactly when conninfo_check accepts its conninfo. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"
#include "fuzz_common.h"

static void terminated(const struct conninfo *ci)
{
    FZ_ASSERT(memchr(ci->host, '\0', sizeof ci->host) != NULL, "host unterminated");
    FZ_ASSERT(memchr(ci->hostaddr, '\0', sizeof ci->hostaddr) != NULL, "hostaddr unterminated");
    FZ_ASSERT(memchr(ci->port, '\0', sizeof ci->port) != NULL, "port unterminated");
    FZ_ASSERT(memchr(ci->dbname, '\0', sizeof ci->dbname) != NULL, "dbname unterminated");
    FZ_ASSERT(memchr(ci->user, '\0', sizeof ci->user) != NULL, "user unterminated");
    FZ_ASSERT(memchr(ci->unknown, '\0', sizeof ci->unknown) != NULL, "unknown unterminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conninfo p, c, v;
    char err[256];
    char *s;
    int prv, crv, vrv;
    if (size > 4096) {
        return 0;
    }
    s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = '\0';

    prv = conninfo_parse(s, &p, err, sizeof err);
    crv = conninfo_check(s, &c, err, sizeof err);
    vrv = conninfo_validate(s, &v, err, sizeof err);
    (void)conninfo_parse(s, &p, NULL, 0);
    if (prv == 0) {
        terminated(&p);
    }
    if (vrv == 0) {
        FZ_ASSERT(crv == 0, "validate accepted what check refused");
        FZ_ASSERT(!v.has_unknown && !v.dbname_is_connstr, "validate let through unknown/connstr");
    }
    if (crv == 0) {
        char *end;
        long port;
        FZ_ASSERT(prv == 0, "check accepted what parse refused");
        terminated(&c);
        FZ_ASSERT(memcmp(&c, &p, sizeof c) == 0, "check and parse disagree on the result");
        FZ_ASSERT(!c.has_password, "password accepted");
        FZ_ASSERT(c.host[0] != '\0', "no host");
        FZ_ASSERT(strchr(c.host, ',') == NULL, "host list");
        port = strtol(c.port, &end, 10);
        FZ_ASSERT(*end == '\0' && port >= 1 && port <= 65535, "bad port \"%s\"", c.port);
    }

    /* The state machine's side: a node add with this conninfo. */
    if (size < PGQ_CONNINFO_MAX) {
        struct state st;
        struct apply_result res;
        struct command cmd = fz_cmd(CMD_NODE_ADD, 1, FZ_CLUSTER, "n1");
        int arv;
        pgq_strlcpy(cmd.u.node_add.conninfo, s, sizeof cmd.u.node_add.conninfo);
        state_init(&st);
        arv = cluster_apply(&st, &cmd, &res);
        FZ_ASSERT((arv == 0) == (crv == 0), "apply %d but conninfo_check %d", arv, crv);
        if (arv == 0) {
            /* A second node at the same host:port is refused. */
            struct command dup = cmd;
            pgq_strlcpy(dup.node, "n2", sizeof dup.node);
            arv = cluster_apply(&st, &dup, &res);
            FZ_ASSERT(arv == PGQ_EXISTS, "duplicate host:port accepted (%d)", arv);
        }
        state_close(&st);
    }
    free(s);
    return 0;
}
