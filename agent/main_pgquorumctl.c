/* pgquorumctl: the operator's command line. Argument parsing, the calls to
 * the monitors, and the exit codes: 0 done; 1 refused or failed (with the
 * reason); 2 usage error; 3 no monitor reachable. */
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "conninfo.h"
#include "ctl_bulk.h"
#include "ctl.h"
#include "ctl_usage.h"
#include "ctl_access.h"
#include "ctl_member.h"
#include "ctl_monitors.h"
#include "lib/util.h"
#include "render.h"
#include "tls_internal.h"
#include "transport.h"
#include "token.h"

struct args
{
    const char *words[8];
    unsigned n_words;
    const char *monitors;
    const char *cluster;
    const char *conninfo;
    const char *file;
    const char *priority;
    const char *limit;
    const char *timeout;
    const char *wait;
    const char *allow_unfenced;
    const char *to;
    const char *at;
    bool cancel;
    bool allow_failover;
    const char *mode;
    const char *number_sync;
    const char *node;
    const char *replication_quorum;
    bool allow_data_loss;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    bool plain;
    const char *token_file;
    const char *who;
    bool json;
    bool local;
    bool help;
};

static int usage_error(const char *fmt, ...) PGQ_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "pgquorumctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see pgquorumctl --help)\n");
    return PGQ_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (strcmp(s, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(s, "--local") == 0) {
            a->local = true;
            continue;
        }
        if (strcmp(s, "--cancel") == 0) {
            a->cancel = true;
            continue;
        }
        if (strcmp(s, "--allow-failover") == 0) {
            a->allow_failover = true;
            continue;
        }
        if (strcmp(s, "--allow-data-loss") == 0) {
            a->allow_data_loss = true;
            continue;
        }
        if (strcmp(s, "--plain") == 0) {
            a->plain = true;
            continue;
        }
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            a->help = true;
            continue;
        }
        if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
            printf("pgquorumctl %s\n", PGQ_VERSION_STRING);
            exit(PGQ_EXIT_OK);
        }
        if (strcmp(s, "--monitors") == 0) {
            slot = &a->monitors;
        } else if (strcmp(s, "--cluster") == 0) {
            slot = &a->cluster;
        } else if (strcmp(s, "--conninfo") == 0) {
            slot = &a->conninfo;
        } else if (strcmp(s, "--file") == 0) {
            slot = &a->file;
        } else if (strcmp(s, "--priority") == 0) {
            slot = &a->priority;
        } else if (strcmp(s, "--allow-unfenced") == 0) {
            slot = &a->allow_unfenced;
        } else if (strcmp(s, "--to") == 0) {
            slot = &a->to;
        } else if (strcmp(s, "--at") == 0) {
            slot = &a->at;
        } else if (strcmp(s, "--mode") == 0) {
            slot = &a->mode;
        } else if (strcmp(s, "--number-sync") == 0) {
            slot = &a->number_sync;
        } else if (strcmp(s, "--node") == 0) {
            slot = &a->node;
        } else if (strcmp(s, "--replication-quorum") == 0) {
            slot = &a->replication_quorum;
        } else if (strcmp(s, "--limit") == 0) {
            slot = &a->limit;
        } else if (strcmp(s, "--timeout") == 0) {
            slot = &a->timeout;
        } else if (strcmp(s, "--wait") == 0) {
            slot = &a->wait;
        } else if (strcmp(s, "--tls-ca") == 0) {
            slot = &a->tls_ca;
        } else if (strcmp(s, "--tls-cert") == 0) {
            slot = &a->tls_cert;
        } else if (strcmp(s, "--tls-key") == 0) {
            slot = &a->tls_key;
        } else if (strcmp(s, "--token-file") == 0) {
            slot = &a->token_file;
        } else if (strcmp(s, "--who") == 0) {
            slot = &a->who;
        } else if (strcmp(s, "--token") == 0 || strncmp(s, "--token=", 8) == 0) {
            /* A token on the command line is seen by every user of the
             * host (ps, /proc) and kept in shell histories. */
            return usage_error(
                "a token is never given on the command line: use --token-file "
                "FILE or $PGQUORUM_TOKEN_FILE");
        } else if (s[0] == '-' && s[1] != '\0') {
            return usage_error("unknown option \"%s\"", s);
        }
        if (slot != NULL) {
            if (i + 1 >= argc) {
                return usage_error("option %s needs a value", s);
            }
            if (*slot != NULL) {
                return usage_error("option %s given twice", s);
            }
            *slot = argv[++i];
            continue;
        }
        if (a->n_words >= PGQ_ARRAY_SIZE(a->words)) {
            return usage_error("too many arguments at \"%s\"", s);
        }
        a->words[a->n_words++] = s;
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s[0] < '0' || s[0] > '9') {
        return PGQ_INVALID;
    }
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v > max) {
        return PGQ_INVALID;
    }
    *out = v;
    return 0;
}

static int cmd_read(struct ctl *c, const struct args *a, const char *cmd)
{
    struct api_request req;
    struct api_response res;
    char answered[PGQ_ADDR_MAX];
    const char *cluster = a->cluster != NULL ? a->cluster : "";
    int rv;
    memset(&req, 0, sizeof req);
    req.kind = strcmp(cmd, "events") == 0   ? API_EVENTS
               : strcmp(cmd, "whoami") == 0 ? API_WHOAMI
                                            : API_STATUS;
    if (req.kind == API_WHOAMI) {
        c->local = true; /* the first monitor that answers: each sees the caller alike */
    }
    if (req.kind == API_EVENTS) {
        uint64_t limit = 0;
        if (a->limit != NULL && parse_u64(a->limit, 100000, &limit) != 0) {
            return usage_error("--limit: \"%s\" is not a number", a->limit);
        }
        pgq_strlcpy(req.cluster, cluster, sizeof req.cluster);
        req.limit = (unsigned)limit;
    }
    if (req.kind == API_STATUS && a->cluster != NULL) {
        /* Only that cluster, from monitors of level 6 on: the reply costs
         * what it holds, not the whole state. */
        pgq_strlcpy(req.cluster, a->cluster, sizeof req.cluster);
    }
    /* The whole state comes in parts, which the monitor encodes a few
     * clusters at a time (an older one ignores the field and answers in
     * one frame). */
    req.stream = req.kind == API_STATUS && req.cluster[0] == '\0';
    rv = ctl_read(c, &req, &res, answered, sizeof answered);
    if (rv == 0 && res.code == API_BAD_REQUEST && req.cluster[0] != '\0' &&
        req.kind == API_STATUS) {
        /* An older monitor refuses the field: ask for everything. */
        api_response_close(&res);
        req.cluster[0] = '\0';
        req.stream = true;
        rv = ctl_read(c, &req, &res, answered, sizeof answered);
    }
    if (rv != 0) {
        fprintf(stderr, "pgquorumctl: %s\n", c->errmsg);
        return rv == PGQ_UNAVAILABLE ? PGQ_EXIT_UNREACHABLE : PGQ_EXIT_FAILED;
    }
    if (res.code != API_OK) {
        fprintf(stderr, "pgquorumctl: %s: %s\n", answered, res.message);
        api_response_close(&res);
        return PGQ_EXIT_FAILED;
    }
    if (req.kind == API_EVENTS) {
        if (a->who != NULL) {
            access_filter_events(&res.state, a->who);
        }
        rv = render_events(stdout, &res.state, a->json);
    } else if (req.kind == API_WHOAMI) {
        rv = access_print_whoami(stdout, &res.whoami, a->json);
    } else if (strcmp(cmd, "uri") == 0) {
        char uri[8192];
        const char *name = a->cluster != NULL ? a->cluster : PGQ_DEFAULT_CLUSTER;
        if (render_uri(uri, sizeof uri, &res.state, name) != 0) {
            fprintf(stderr, "pgquorumctl: cluster %s has no nodes\n", name);
            api_response_close(&res);
            return PGQ_EXIT_FAILED;
        }
        printf("%s\n", uri);
    } else {
        struct monitor_row rows[PGQ_MAX_MONITORS];
        unsigned n = ctl_monitor_rows(c, &res, answered, rows, PGQ_MAX_MONITORS);
        uint64_t leader = ctl_status_leader(rows, n, res.info.leader_id);
        rv = render_status(stdout, &res.state, rows, n, leader, cluster, clock_wall_ms(), a->json);
    }
    api_response_close(&res);
    if (rv != 0) {
        fprintf(stderr, "pgquorumctl: %s: %s\n", cmd, pgq_strerror(rv));
        return PGQ_EXIT_FAILED;
    }
    return PGQ_EXIT_OK;
}

/* A committed write that says nothing would leave the operator guessing:
 * one line on what changed, with the monitor's words (where it committed). */
static void say_done(const struct api_request *req, const char *message)
{
    const struct command *cmd = &req->cmd;
    switch (req->kind) {
        case API_NODE_ADD:
            printf("node %s added to cluster %s (priority %u): %s\n", cmd->node, cmd->cluster,
                   cmd->u.node_add.priority, message);
            break;
        case API_NODE_REMOVE:
            printf("node %s removed from cluster %s: %s\n", cmd->node, cmd->cluster, message);
            break;
        case API_CLUSTER_REMOVE:
            printf("cluster %s removed from monitoring with its nodes (PostgreSQL untouched): %s\n",
                   cmd->cluster, message);
            break;
        case API_MAINTENANCE:
            printf("node %s of cluster %s %s maintenance%s: %s\n", cmd->node, cmd->cluster,
                   cmd->u.maintenance.on ? "in" : "out of",
                   cmd->u.maintenance.allow_failover ? " (a failover is allowed)" : "", message);
            break;
        case API_ROLE:
        case API_GRANT:
            access_say_done(req, message);
            break;
        case API_MONITOR_CHANGE:
            printf("%s\n", message);
            break;
        default:
            break;
    }
}

static int cmd_write(struct ctl *c, struct api_request *req)
{
    struct api_response res;
    int rv = ctl_write(c, req, &res);
    if (rv != 0) {
        fprintf(stderr, "pgquorumctl: %s\n", c->errmsg);
        return PGQ_EXIT_UNREACHABLE;
    }
    if (res.code != API_OK) {
        fprintf(stderr, "pgquorumctl: %s\n", res.message);
        api_response_close(&res);
        return PGQ_EXIT_FAILED;
    }
    say_done(req, res.message[0] != '\0' ? res.message : "committed");
    api_response_close(&res);
    return PGQ_EXIT_OK;
}

/* --at: +DURATION from now, or YYYY-MM-DDTHH:MM:SSZ (UTC), in the future
 * (within a year); wall-clock ms. */
static int parse_at(const char *s, uint64_t *out)
{
    uint64_t now = clock_wall_ms(), ms;
    struct tm tm;
    char tail;
    if (s[0] == '+') {
        if (config_parse_duration(s + 1, &ms) != 0 || ms > UINT64_C(31536000000)) {
            return PGQ_INVALID;
        }
        *out = now + ms;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &tail) != 6 ||
        strlen(s) != 20 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return PGQ_INVALID;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    {
        time_t t = timegm(&tm);
        if (t < 0 || (uint64_t)t * 1000 <= now ||
            (uint64_t)t * 1000 > now + UINT64_C(31536000000)) {
            return PGQ_INVALID;
        }
        *out = (uint64_t)t * 1000;
    }
    return 0;
}

/* Who an audited write names: the user running pgquorumctl. */
static void operator_name(char *out, size_t size)
{
    const char *user = getenv("USER");
    snprintf(out, size, "pgquorumctl (user %s)",
             user != NULL && pgq_name_valid(user) ? user : "unknown");
}

static bool only(const struct args *a,
                 bool conninfo,
                 bool priority,
                 bool limit,
                 bool json,
                 const char **bad)
{
    bool sync = strcmp(a->words[0], "sync") == 0;
    if (a->allow_unfenced != NULL && strcmp(a->words[0], "failover") != 0) {
        *bad = "--allow-unfenced";
    } else if (a->allow_failover && strcmp(a->words[0], "maintenance") != 0) {
        *bad = "--allow-failover";
    } else if (strcmp(a->words[0], "switchover") != 0 &&
               (a->to != NULL || a->at != NULL || a->cancel)) {
        *bad = a->to != NULL ? "--to" : a->at != NULL ? "--at" : "--cancel";
    } else if (a->allow_data_loss && strcmp(a->words[0], "failover") != 0) {
        *bad = "--allow-data-loss";
    } else if (!sync && a->mode != NULL) {
        *bad = "--mode";
    } else if (!sync && a->number_sync != NULL) {
        *bad = "--number-sync";
    } else if (!sync && a->node != NULL) {
        *bad = "--node";
    } else if (!sync && a->replication_quorum != NULL) {
        *bad = "--replication-quorum";
    } else if (!conninfo && a->conninfo != NULL) {
        *bad = "--conninfo";
    } else if (a->file != NULL && (strcmp(a->words[0], "node") != 0 || a->n_words != 2)) {
        *bad = "--file";
    } else if (!priority && a->priority != NULL) {
        *bad = "--priority";
    } else if (!limit && a->limit != NULL) {
        *bad = "--limit";
    } else if (!json && a->json) {
        *bad = "--json";
    } else if (!json && a->local) {
        *bad = "--local";
    } else if (a->who != NULL && strcmp(a->words[0], "events") != 0) {
        *bad = "--who";
    } else {
        return true;
    }
    return false;
}

/* A SyncConfig for cluster, changing nothing yet; who asks. */
static void sync_request(struct api_request *req, const char *cluster)
{
    const char *user = getenv("USER");
    req->kind = API_SYNC;
    command_init(&req->cmd, CMD_SYNC_CONFIG);
    pgq_strlcpy(req->cmd.cluster, cluster, sizeof req->cmd.cluster);
    req->cmd.u.sync_config.mode = -1;
    req->cmd.u.sync_config.replication_quorum = -1;
    snprintf(req->cmd.u.sync_config.by, sizeof req->cmd.u.sync_config.by, "pgquorumctl (user %s)",
             user != NULL && pgq_name_valid(user) ? user : "unknown");
}

/* pgquorumctl sync: a cluster's mode and number, or a node's replication
 * quorum; everything checked before any monitor is asked. */
static int sync_args(const struct args *a, const char *cluster, struct api_request *req)
{
    struct cmd_sync_config *y = &req->cmd.u.sync_config;
    uint64_t v;
    sync_request(req, cluster);
    if (a->node != NULL || a->replication_quorum != NULL) {
        if (a->mode != NULL || a->number_sync != NULL) {
            return usage_error(
                "sync: --node and --replication-quorum go without --mode and "
                "--number-sync");
        }
        if (a->node == NULL || a->replication_quorum == NULL) {
            return usage_error("usage: sync --node NAME --replication-quorum true|false");
        }
        if (!pgq_name_valid(a->node)) {
            return usage_error("--node: \"%s\" is not a valid node name", a->node);
        }
        if (strcmp(a->replication_quorum, "true") != 0 &&
            strcmp(a->replication_quorum, "false") != 0) {
            return usage_error("--replication-quorum: \"%s\" is not true or false",
                               a->replication_quorum);
        }
        pgq_strlcpy(req->cmd.node, a->node, sizeof req->cmd.node);
        y->replication_quorum = strcmp(a->replication_quorum, "true") == 0;
        return 0;
    }
    if (a->mode == NULL && a->number_sync == NULL) {
        return usage_error(
            "usage: sync --mode off|quorum|strict [--number-sync N], or "
            "sync --node NAME --replication-quorum true|false");
    }
    if (a->mode != NULL) {
        for (y->mode = 0; y->mode < PGQ__N_SYNC_MODES; y->mode++) {
            if (strcmp(a->mode, pgq_sync_mode_name(y->mode)) == 0) {
                break;
            }
        }
        if (y->mode == PGQ__N_SYNC_MODES) {
            return usage_error("--mode: \"%s\" is not off, quorum or strict", a->mode);
        }
    }
    if (a->number_sync != NULL) {
        if (y->mode == PGQ_SYNC_OFF) {
            return usage_error("--number-sync does not apply to --mode off");
        }
        if (parse_u64(a->number_sync, PGQ_SYNC_MAX, &v) != 0 || v == 0) {
            return usage_error("--number-sync: \"%s\" is not a number in 1..%d", a->number_sync,
                               PGQ_SYNC_MAX);
        }
        y->number = (unsigned)v;
    }
    return 0;
}

static const char *option_or_env(const char *value, const char *env)
{
    const char *v = value != NULL ? value : getenv(env);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static struct transport *open_one;

static void close_transport(void)
{
    transport_free_contexts(open_one);
}

/* TLS with the CA (and this operator's certificate, if any), or plain TCP
 * when asked for; one of the two must be chosen. */
static int open_transport(const struct args *a, struct transport *t)
{
    struct transport_settings ts = {0};
    char err[512];
    ts.ca_file = option_or_env(a->tls_ca, "PGQUORUM_TLS_CA");
    ts.cert_file = option_or_env(a->tls_cert, "PGQUORUM_TLS_CERT");
    ts.key_file = option_or_env(a->tls_key, "PGQUORUM_TLS_KEY");
    ts.tls = !a->plain;
    ts.client_only = true; /* OpenSSL 3 contexts cost milliseconds each */
    if (a->plain && (a->tls_ca != NULL || a->tls_cert != NULL || a->tls_key != NULL)) {
        return usage_error("--plain and --tls-* options exclude each other");
    }
    if (ts.tls && ts.ca_file == NULL) {
        return usage_error(
            "no CA: give --tls-ca FILE (or set PGQUORUM_TLS_CA), or --plain for monitors "
            "configured with tls = off");
    }
    memset(t, 0, sizeof *t);
    if (transport_init_contexts(t, &ts, err, sizeof err) != 0) {
        fprintf(stderr, "pgquorumctl: %s\n", err);
        return PGQ_EXIT_USAGE;
    }
    open_one = t;
    atexit(close_transport);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a;
    struct ctl c;
    static struct transport transport; /* freed at exit */
    struct api_request req;
    const char *cmd, *monitors, *bad = NULL;
    const char *cluster;
    char err[512];
    uint64_t v;
    bool bulk = false;
    struct command *bulk_cmds = NULL;
    unsigned n_bulk = 0;
    int rv;
    /* OpenSSL writes to the socket with write(): a monitor that resets the
     * connection must be an error, not a signal that kills the CLI. */
    signal(SIGPIPE, SIG_IGN);
    rv = parse_args(argc, argv, &a);
    if (rv != 0) {
        return rv;
    }
    if (a.n_words == 0) {
        if (a.help) {
            fputs(ctl_usage_main, stdout);
            return PGQ_EXIT_OK;
        }
        fputs(ctl_usage_main, stderr);
        return PGQ_EXIT_USAGE;
    }
    cmd = a.words[0];
    if (a.help) {
        for (size_t i = 0; i < ctl_n_usage_cmds; i++) {
            if (strcmp(ctl_usage_cmds[i].cmd, cmd) == 0) {
                fputs(ctl_usage_cmds[i].text, stdout);
                return PGQ_EXIT_OK;
            }
        }
        return usage_error("unknown command \"%s\"", cmd);
    }
    memset(&c, 0, sizeof c);
    c.timeout_ms = 5000;
    c.wait_ms = 15000;
    c.progress = stderr;
    if (a.timeout != NULL &&
        (config_parse_duration(a.timeout, &c.timeout_ms) != 0 || c.timeout_ms == 0)) {
        return usage_error("--timeout: \"%s\" is not a duration like 500ms or 5s", a.timeout);
    }
    if (a.wait != NULL && config_parse_duration(a.wait, &c.wait_ms) != 0) {
        return usage_error("--wait: \"%s\" is not a duration like 500ms or 15s", a.wait);
    }
    cluster = a.cluster != NULL ? a.cluster : PGQ_DEFAULT_CLUSTER;
    if (!pgq_name_valid(cluster)) {
        return usage_error("--cluster: \"%s\" is not a valid name", cluster);
    }
    memset(&req, 0, sizeof req);

    /* Validate the command fully before contacting anyone. */
    if (strcmp(cmd, "token") == 0) {
        if (a.n_words != 2 || strcmp(a.words[1], "hash") != 0) {
            return usage_error("usage: token hash < FILE");
        }
        if (access_token_hash(stdin, stdout, err, sizeof err) != 0) {
            fprintf(stderr, "pgquorumctl: token hash: %s\n", err);
            return PGQ_EXIT_FAILED;
        }
        return PGQ_EXIT_OK;
    }
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "events") == 0 || strcmp(cmd, "uri") == 0 ||
        strcmp(cmd, "whoami") == 0) {
        bool is_events = strcmp(cmd, "events") == 0;
        if (a.n_words != 1) {
            return usage_error("unexpected argument \"%s\"", a.words[1]);
        }
        if (!only(&a, false, false, is_events, strcmp(cmd, "uri") != 0, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to %s (see --help)\n", bad, cmd);
            return PGQ_EXIT_USAGE;
        }
    } else if (strcmp(cmd, "node") == 0 && a.file != NULL) {
        if (a.n_words != 2 || strcmp(a.words[1], "add") != 0 || a.conninfo != NULL ||
            a.priority != NULL || a.cluster != NULL) {
            return usage_error(
                "usage: node add --file FILE (lines: cluster node priority "
                "conninfo)");
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to node add --file\n", bad);
            return PGQ_EXIT_USAGE;
        }
        {
            FILE *f = strcmp(a.file, "-") == 0 ? stdin : fopen(a.file, "r");
            if (f == NULL) {
                fprintf(stderr, "pgquorumctl: node add --file %s: %s\n", a.file, strerror(errno));
                return PGQ_EXIT_USAGE;
            }
            rv = ctl_bulk_parse(f, a.file, &bulk_cmds, &n_bulk, err, sizeof err);
            if (f != stdin) {
                fclose(f);
            }
            if (rv != 0) {
                fprintf(stderr, "pgquorumctl: node add --file: %s\n", err);
                return PGQ_EXIT_USAGE;
            }
        }
        bulk = true;
    } else if (strcmp(cmd, "node") == 0) {
        const char *sub = a.n_words > 1 ? a.words[1] : "";
        if (a.n_words != 3) {
            return usage_error("usage: node add|remove NAME ...");
        }
        pgq_strlcpy(req.cmd.cluster, cluster, sizeof req.cmd.cluster);
        if (!pgq_name_valid(a.words[2])) {
            return usage_error("\"%s\" is not a valid node name (1-63 of A-Z a-z 0-9 _ . -)",
                               a.words[2]);
        }
        pgq_strlcpy(req.cmd.node, a.words[2], sizeof req.cmd.node);
        if (strcmp(sub, "add") == 0) {
            struct conninfo ci;
            if (!only(&a, true, true, false, false, &bad)) {
                fprintf(stderr, "pgquorumctl: option %s does not apply to node add\n", bad);
                return PGQ_EXIT_USAGE;
            }
            if (a.conninfo == NULL) {
                return usage_error("node add needs --conninfo \"host=... port=...\"");
            }
            if (strlen(a.conninfo) >= PGQ_CONNINFO_MAX) {
                return usage_error("--conninfo is longer than 1023 bytes");
            }
            v = PGQ_DEFAULT_PRIORITY;
            if (a.priority != NULL && parse_u64(a.priority, 100, &v) != 0) {
                return usage_error("--priority: \"%s\" is not a number in 0..100", a.priority);
            }
            /* The monitors refuse it with this message too; say it without them. */
            if (conninfo_validate(a.conninfo, &ci, err, sizeof err) != 0) {
                fprintf(stderr, "pgquorumctl: node %s: %s\n", a.words[2], err);
                return PGQ_EXIT_FAILED;
            }
            req.kind = API_NODE_ADD;
            req.cmd.kind = CMD_NODE_ADD;
            pgq_strlcpy(req.cmd.u.node_add.conninfo, a.conninfo,
                        sizeof req.cmd.u.node_add.conninfo);
            req.cmd.u.node_add.priority = (unsigned)v;
        } else if (strcmp(sub, "remove") == 0) {
            if (!only(&a, false, false, false, false, &bad)) {
                fprintf(stderr, "pgquorumctl: option %s does not apply to node remove\n", bad);
                return PGQ_EXIT_USAGE;
            }
            req.kind = API_NODE_REMOVE;
            req.cmd.kind = CMD_NODE_REMOVE;
        } else {
            return usage_error("unknown node command \"%s\" (add, remove)", sub);
        }
    } else if (strcmp(cmd, "cluster") == 0) {
        const char *sub = a.n_words > 1 ? a.words[1] : "";
        if (a.n_words != 3 || strcmp(sub, "remove") != 0) {
            return usage_error("usage: cluster remove NAME");
        }
        if (!only(&a, false, false, false, false, &bad) || a.cluster != NULL) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to cluster remove\n",
                    a.cluster != NULL ? "--cluster" : bad);
            return PGQ_EXIT_USAGE;
        }
        if (!pgq_name_valid(a.words[2])) {
            return usage_error("\"%s\" is not a valid cluster name (1-63 of A-Z a-z 0-9 _ . -)",
                               a.words[2]);
        }
        req.kind = API_CLUSTER_REMOVE;
        req.cmd.kind = CMD_CLUSTER_REMOVE;
        pgq_strlcpy(req.cmd.cluster, a.words[2], sizeof req.cmd.cluster);
    } else if (strcmp(cmd, "maintenance") == 0) {
        if (a.n_words != 3 || (strcmp(a.words[1], "on") != 0 && strcmp(a.words[1], "off") != 0)) {
            return usage_error("usage: maintenance on|off NAME");
        }
        if (a.allow_failover && strcmp(a.words[1], "on") != 0) {
            return usage_error("--allow-failover goes with maintenance on");
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to maintenance\n", bad);
            return PGQ_EXIT_USAGE;
        }
        if (!pgq_name_valid(a.words[2])) {
            return usage_error("\"%s\" is not a valid node name", a.words[2]);
        }
        req.kind = API_MAINTENANCE;
        req.cmd.kind = CMD_MAINTENANCE;
        pgq_strlcpy(req.cmd.cluster, cluster, sizeof req.cmd.cluster);
        pgq_strlcpy(req.cmd.node, a.words[2], sizeof req.cmd.node);
        req.cmd.u.maintenance.on = strcmp(a.words[1], "on") == 0;
        req.cmd.u.maintenance.allow_failover = a.allow_failover;
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        if (a.n_words != 1) {
            return usage_error("unexpected argument \"%s\" (usage: %s [--cluster NAME])",
                               a.words[1], cmd);
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to %s\n", bad, cmd);
            return PGQ_EXIT_USAGE;
        }
        req.kind = API_PAUSE;
        command_init(&req.cmd, CMD_PAUSE);
        pgq_strlcpy(req.cmd.cluster, cluster, sizeof req.cmd.cluster);
        req.cmd.u.pause.on = strcmp(cmd, "pause") == 0;
        operator_name(req.cmd.u.pause.by, sizeof req.cmd.u.pause.by);
    } else if (strcmp(cmd, "switchover") == 0) {
        uint64_t at = 0;
        if (a.n_words != 1) {
            return usage_error(
                "unexpected argument \"%s\" (usage: switchover [--to NAME] "
                "[--at TIME] [--cluster NAME])",
                a.words[1]);
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to switchover\n", bad);
            return PGQ_EXIT_USAGE;
        }
        if (a.cancel && (a.to != NULL || a.at != NULL)) {
            return usage_error("--cancel takes no --to or --at");
        }
        if (a.to != NULL && !pgq_name_valid(a.to)) {
            return usage_error("\"%s\" is not a valid node name", a.to);
        }
        if (a.at != NULL && parse_at(a.at, &at) != 0) {
            return usage_error(
                "--at \"%s\": not +DURATION (+30s, +5m) or "
                "YYYY-MM-DDTHH:MM:SSZ in the future",
                a.at);
        }
        req.kind = API_SWITCHOVER;
        command_init(&req.cmd, CMD_SWITCHOVER);
        pgq_strlcpy(req.cmd.cluster, cluster, sizeof req.cmd.cluster);
        pgq_strlcpy(req.cmd.u.switchover.target, a.to != NULL ? a.to : "",
                    sizeof req.cmd.u.switchover.target);
        req.cmd.u.switchover.at_ms = at;
        req.cmd.u.switchover.cancel = a.cancel;
        operator_name(req.cmd.u.switchover.by, sizeof req.cmd.u.switchover.by);
    } else if (strcmp(cmd, "failover") == 0 && a.allow_data_loss) {
        if (a.n_words != 1 || a.allow_unfenced != NULL) {
            return usage_error("usage: failover --allow-data-loss [--cluster NAME]");
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to failover\n", bad);
            return PGQ_EXIT_USAGE;
        }
        sync_request(&req, cluster);
        req.cmd.u.sync_config.allow_data_loss = true;
    } else if (strcmp(cmd, "failover") == 0) {
        if (a.n_words != 1 || a.allow_unfenced == NULL) {
            return usage_error("usage: failover --allow-unfenced NAME | --allow-data-loss");
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to failover\n", bad);
            return PGQ_EXIT_USAGE;
        }
        if (!pgq_name_valid(a.allow_unfenced)) {
            return usage_error("\"%s\" is not a valid node name", a.allow_unfenced);
        }
        req.kind = API_ALLOW_UNFENCED;
        command_init(&req.cmd, CMD_ALLOW_UNFENCED);
        pgq_strlcpy(req.cmd.cluster, cluster, sizeof req.cmd.cluster);
        pgq_strlcpy(req.cmd.node, a.allow_unfenced, sizeof req.cmd.node);
        operator_name(req.cmd.u.allow.by, sizeof req.cmd.u.allow.by);
    } else if (strcmp(cmd, "sync") == 0) {
        if (a.n_words != 1) {
            return usage_error("unexpected argument \"%s\" (sync takes options only)", a.words[1]);
        }
        if (!only(&a, false, false, false, false, &bad)) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to sync\n", bad);
            return PGQ_EXIT_USAGE;
        }
        rv = sync_args(&a, cluster, &req);
        if (rv != 0) {
            return rv;
        }
    } else if (strcmp(cmd, "role") == 0 || strcmp(cmd, "grant") == 0 ||
               strcmp(cmd, "revoke") == 0 || strcmp(cmd, "deny") == 0) {
        if (!only(&a, false, false, false, false, &bad) || a.cluster != NULL) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to %s%s\n",
                    bad != NULL ? bad : "--cluster", cmd,
                    bad != NULL ? "" : " (say: on cluster NAME)");
            return PGQ_EXIT_USAGE;
        }
        if (access_parse(a.words, a.n_words, &req, err, sizeof err) != 0) {
            return usage_error("%s", err);
        }
    } else if (strcmp(cmd, "monitor") == 0) {
        if (!only(&a, false, false, false, false, &bad) || a.cluster != NULL) {
            fprintf(stderr, "pgquorumctl: option %s does not apply to monitor\n",
                    bad != NULL ? bad : "--cluster");
            return PGQ_EXIT_USAGE;
        }
        if (member_parse(a.words, a.n_words, &req, err, sizeof err) != 0) {
            return usage_error("%s", err);
        }
        /* The answer comes once the change is done, catch-up included. */
        if (a.timeout == NULL) {
            c.timeout_ms = MEMBER_CTL_TIMEOUT_MS;
        }
    } else if (strcmp(cmd, "debug") == 0) {
        if (a.n_words < 4 || a.n_words > 5 || strcmp(a.words[1], "failpoint") != 0) {
            return usage_error("usage: debug failpoint NAME crash|fail|off [ARG]");
        }
        req.kind = API_FAILPOINT;
        pgq_strlcpy(req.fp_name, a.words[2], sizeof req.fp_name);
        pgq_strlcpy(req.fp_action, a.words[3], sizeof req.fp_action);
        pgq_strlcpy(req.fp_arg, a.n_words == 5 ? a.words[4] : "", sizeof req.fp_arg);
    } else {
        return usage_error("unknown command \"%s\"", cmd);
    }

    monitors = a.monitors != NULL ? a.monitors : getenv("PGQUORUM_MONITORS");
    if (monitors == NULL || monitors[0] == '\0') {
        return usage_error(
            "no monitors: give --monitors HOST:PORT[,...] or set "
            "PGQUORUM_MONITORS");
    }
    c.local = a.local;
    if (ctl_set_monitors(&c, monitors, err, sizeof err) != 0) {
        fprintf(stderr, "pgquorumctl: %s\n", err);
        return PGQ_EXIT_USAGE;
    }
    rv = open_transport(&a, &transport);
    if (rv != 0) {
        return rv;
    }
    c.transport = &transport;
    {
        const char *tf = a.token_file != NULL ? a.token_file : getenv("PGQUORUM_TOKEN_FILE");
        if (tf != NULL && tf[0] != '\0' &&
            token_read_file(tf, c.token, sizeof c.token, err, sizeof err) != 0) {
            fprintf(stderr, "pgquorumctl: token file %s\n", err);
            return PGQ_EXIT_USAGE;
        }
    }

    if (req.kind == API_FAILPOINT) {
        struct api_response res;
        if (ctl_call(&c, c.monitors[0], &req, &res) != 0) {
            fprintf(stderr, "pgquorumctl: %s\n", c.errmsg);
            return PGQ_EXIT_UNREACHABLE;
        }
        rv = res.code == API_OK ? PGQ_EXIT_OK : PGQ_EXIT_FAILED;
        if (rv != 0) {
            fprintf(stderr, "pgquorumctl: %s\n", res.message);
        }
        api_response_close(&res);
        return rv;
    }
    if (bulk) {
        rv = ctl_bulk_send(&c, bulk_cmds, n_bulk);
        free(bulk_cmds);
        return rv;
    }
    if (req.kind != 0) {
        return cmd_write(&c, &req);
    }
    return cmd_read(&c, &a, cmd);
}
