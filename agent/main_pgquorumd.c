/* pgquorumd: the monitor daemon. Arguments, configuration, signals (SIGHUP
 * reloads the configuration file), systemd notifications, and the exit codes:
 * 0 after a clean shutdown, 1 when a service cannot start, 2 for a bad
 * command line or configuration (nothing started). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "config.h"
#include "failpoint.h"
#include "lease.h"
#include "loadwatch.h"
#include "log.h"
#include "log_drain.h"
#include "memory.h"
#include "monitor.h"
#include "node.h"
#include "reload.h"
#include "sdnotify.h"

#define CONFIG_FILE_MAX (1 << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: pgquorumd --config FILE\n"
            "       pgquorumd --check-config FILE\n"
            "\n"
            "Runs one pgquorum monitor (a voting member of the Raft quorum that\n"
            "watches PostgreSQL nodes and fails over their primary) or, with a [node]\n"
            "section, the node agent beside one PostgreSQL (as its OS user).\n"
            "\n"
            "  -c, --config FILE        run with this configuration (INI)\n"
            "      --check-config FILE  validate the configuration and exit\n"
            "      --print-config-reference  print every configuration key (Markdown)\n"
            "      --print-state-machines    print the state machines (Markdown)\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n"
            "\n"
            "Exit codes: 0 clean shutdown, 1 a service failed, 2 bad usage or configuration.\n");
}

/* Read the whole file; refuse binary or huge files with one line. */
static char *read_config(const char *path, char *errmsg, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *text;
    size_t n;
    if (f == NULL) {
        snprintf(errmsg, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, errsize, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        snprintf(errmsg, errsize, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        fclose(f);
        return NULL;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL) {
        snprintf(errmsg, errsize, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    n = fread(text, 1, (size_t)st.st_size, f);
    fclose(f);
    text[n] = '\0';
    if (strlen(text) != n) {
        snprintf(errmsg, errsize, "%s: contains a NUL byte: not a configuration file", path);
        free(text);
        return NULL;
    }
    return text;
}

/* Read and validate the file; on failure one line in err. */
static int load(const char *path, struct config *cfg, char *err, size_t errsize)
{
    char *text = read_config(path, err, errsize);
    int rv;
    if (text == NULL) {
        return PGQ_CONFIG;
    }
    rv = config_parse(cfg, path, text, err, errsize);
    free(text);
    return rv;
}

static uv_signal_t sig_term, sig_int, sig_hup;
static struct monitor the_monitor;
static struct node_agent the_agent;
static bool is_agent;
static struct sdnotify notifier;
static const char *config_path;
static struct config running_cfg; /* as the services run with it */

/* The daemon's services are stopped: the process's own handles close, and
 * the log drain flushes (lines logged after go only to the local log). */
static void close_signals(void)
{
    log_drain_stop();
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void stopped_cb(struct monitor *m)
{
    (void)m;
    sdnotify_stopping(&notifier);
    close_signals();
}

static void agent_stopped_cb(struct node_agent *a)
{
    (void)a;
    sdnotify_stopping(&notifier);
    close_signals();
}

static void status_cb(struct sdnotify *n, char *out, size_t size)
{
    (void)n;
    if (is_agent) {
        node_status_line(&the_agent, out, size);
    } else {
        monitor_status_line(&the_monitor, out, size);
    }
}

/* SIGHUP: read the file again; a file that does not validate changes
 * nothing. Otherwise the keys that can change at run time are applied
 * (reload.c), and one line says which, and which need a restart. */
static void hup_cb(uv_signal_t *h, int signum)
{
    static struct config next, merged; /* large: not on the stack */
    struct reload_plan plan;
    char err[512], summary[2200];
    (void)h;
    (void)signum;
    if (is_agent ? the_agent.stopping : the_monitor.stopping) {
        return; /* shutting down: nothing to apply it to */
    }
    sdnotify_reloading(&notifier);
    if (load(config_path, &next, err, sizeof err) != 0 ||
        reload_plan(&running_cfg, &next, &merged, &plan, err, sizeof err) != 0) {
        log_error("reload refused, the running configuration is kept: %s", err);
        sdnotify_reloaded(&notifier);
        return;
    }
    running_cfg = merged;
    log_set_level(merged.log_level);
    log_set_format(merged.log_format);
    if (is_agent) {
        node_reconfigure(&the_agent, &merged);
    } else {
        monitor_reconfigure(&the_monitor, &merged);
    }
    reload_summary(&plan, summary, sizeof summary);
    log_info("reload of %s: %s", config_path, summary);
    sdnotify_reloaded(&notifier);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    (void)h;
    log_info("received %s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sdnotify_stopping(&notifier);
    if (is_agent) {
        node_stop(&the_agent, agent_stopped_cb);
    } else {
        monitor_stop(&the_monitor, stopped_cb);
    }
}

/* The log drain, before the services: their first lines are drained too
 * (lines logged before, a bad configuration, go only to standard error). */
static int start_drain(uv_loop_t *loop, const struct config *cfg, char *err, size_t errsize)
{
    /* The collector's CA: log_drain_ca, else the quorum's own; this
     * daemon's certificate for a collector that asks for one. */
    struct log_drain_tls tls = {
        .ca_file = cfg->log_drain_ca[0] != '\0' ? cfg->log_drain_ca : cfg->tls_ca_file,
        .ca_key = cfg->log_drain_ca[0] != '\0' ? "log_drain_ca" : "[tls] ca_file",
        .cert_file = cfg->tls_cert_file,
        .key_file = cfg->tls_key_file,
    };
    return log_drain_start(loop, cfg, &tls, err, errsize);
}

static void emit_line(void *arg, const char *line)
{
    (void)arg;
    puts(line);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"print-config-reference", no_argument, NULL, 'R'},
        {"print-state-machines", no_argument, NULL, 'M'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool check_only = false;
    struct config *cfg = &running_cfg;
    char err[512];
    uv_loop_t loop;
    int opt, rv, exit_code = PGQ_EXIT_OK;

    /* A peer dying mid-write must not kill us: libraft's transport does
     * not block SIGPIPE itself. */
    signal(SIGPIPE, SIG_IGN);
    pgq_memory_setup();

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (opt) {
            case 'c':
                path = optarg;
                break;
            case 'C':
                path = optarg;
                check_only = true;
                break;
            case 'R':
                config_print_reference(emit_line, NULL);
                return PGQ_EXIT_OK;
            case 'M':
                puts("### Failover (monitors)\n");
                cluster_print_fo_table(emit_line, NULL);
                puts("\n### Node agent life cycle\n");
                node_print_table(emit_line, NULL);
                puts("\n### Lease (node agent side)\n");
                lease_print_table(emit_line, NULL);
                puts("\n### Log drain (its connection to the collector)\n");
                log_drain_print_table(emit_line, NULL);
                return PGQ_EXIT_OK;
            case 'V':
                printf("pgquorumd %s\n", PGQ_VERSION_STRING);
                return PGQ_EXIT_OK;
            case 'h':
                usage(stdout);
                return PGQ_EXIT_OK;
            default:
                fprintf(stderr, "pgquorumd: unknown or incomplete option \"%s\" (see --help)\n",
                        argv[optind - 1]);
                return PGQ_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "pgquorumd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return PGQ_EXIT_USAGE;
    }
    if (path == NULL) {
        fprintf(stderr, "pgquorumd: --config FILE is required (see --help)\n");
        return PGQ_EXIT_USAGE;
    }
    if (load(path, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "pgquorumd: %s\n", err);
        return PGQ_EXIT_USAGE;
    }
    config_path = path;
    if (check_only) {
        if (config_voters_warning(cfg, err, sizeof err)) {
            fprintf(stderr, "pgquorumd: %s: warning: %s\n", path, err);
        }
        printf("%s: ok\n", path);
        return PGQ_EXIT_OK;
    }
    if (getenv("PGQ_FAILPOINTS") != NULL &&
        failpoint_set_from_env(getenv("PGQ_FAILPOINTS"), err, sizeof err) != 0) {
        fprintf(stderr, "pgquorumd: %s\n", err);
        return PGQ_EXIT_USAGE;
    }
    log_init("pgquorumd", cfg->id, cfg->log_level);
    log_set_format(cfg->log_format);
    if (cfg->role == ROLE_NODE) {
        log_set_node(cfg->node_name);
    }
    {
        /* Every probe is a connection, and so is every client: take all
         * the descriptors the hard limit allows (monitor_resources.c says
         * whether they are enough). */
        char msg[200];
        loadwatch_raise_nofile(msg, sizeof msg);
        if (msg[0] != '\0') {
            log_info("%s", msg);
        }
    }

    uv_loop_init(&loop);
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_signal_start(&sig_term, signal_cb, SIGTERM);
    uv_signal_start(&sig_int, signal_cb, SIGINT);
    uv_signal_init(&loop, &sig_hup);
    uv_signal_start(&sig_hup, hup_cb, SIGHUP);
    if (start_drain(&loop, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "pgquorumd: %s\n", err);
        close_signals();
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return PGQ_EXIT_USAGE;
    }

    if (cfg->role == ROLE_NODE) {
        is_agent = true;
        rv = node_start(&the_agent, &loop, cfg, err, sizeof err);
        if (rv != 0) {
            log_error("cannot start: %s", err);
            close_signals();
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            return rv == PGQ_CONFIG ? PGQ_EXIT_USAGE : PGQ_EXIT_FAILED;
        }
        /* Its supervisor runs: PostgreSQL is watched from here on. */
        sdnotify_start(&notifier, &loop, status_cb, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        rv = uv_loop_close(&loop);
        if (rv != 0) {
            log_error("event loop closed with handles still open: %s", uv_strerror(rv));
            return PGQ_EXIT_FAILED;
        }
        return the_agent.exit_code;
    }
    rv = monitor_start(&the_monitor, &loop, cfg, err, sizeof err);
    the_monitor.stopped_cb = stopped_cb;
    if (rv != 0) {
        log_error("cannot start: %s", err);
        exit_code = rv == PGQ_CONFIG ? PGQ_EXIT_USAGE : PGQ_EXIT_FAILED;
        monitor_stop(&the_monitor, stopped_cb);
    } else {
        /* The API listens and Raft runs. */
        sdnotify_start(&notifier, &loop, status_cb, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(&loop);
    if (rv != 0) {
        log_error("event loop closed with handles still open: %s", uv_strerror(rv));
        return PGQ_EXIT_FAILED;
    }
    return exit_code != 0 ? exit_code : the_monitor.exit_code;
}
