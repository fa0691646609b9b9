/* node_pg: the node agent's hands on its PostgreSQL (see node.h): find
 * and watch the postmaster through a pidfd, fence it, and run pg_ctl start
 * and pg_controldata without blocking the loop.
 *
 * The happy path is: watch() the postmaster of postmaster.pid; run() a
 * command with its stdout collected, done once it exited and its output
 * ended. Possible failure modes are: a stale postmaster.pid (its process
 * gone: no postmaster), a pidfd that cannot be opened (the start fails and
 * the crash policy applies), a command that cannot be spawned or fails
 * (pg_ctl: the start failed; pg_controldata: the state stays unknown). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"
#include "node_internal.h"
#include "rejoin.h"

extern char **environ;

/* ---- the postmaster -------------------------------------------------------- */

/* The pid in pgdata/postmaster.pid if that process runs (0: none). */
pid_t node_read_pm_pid(const struct node_agent *a)
{
    char path[PGQ_PATH_MAX + 32];
    long pid = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/postmaster.pid", a->cfg.pgdata);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
        pid = 0;
    }
    fclose(f);
    if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno != EPERM) {
        pid = 0; /* stale file */
    }
    return (pid_t)pid;
}

bool node_file_exists(const struct node_agent *a, const char *name)
{
    char path[PGQ_PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", a->cfg.pgdata, name);
    return stat(path, &st) == 0;
}

static void pm_poll_closed_cb(uv_handle_t *h)
{
    int fd = (int)(intptr_t)h->data;
    close(fd);
    free(h);
}

void node_unwatch(struct node_agent *a)
{
    if (a->pm_poll != NULL) {
        uv_os_fd_t fd;
        uv_fileno((uv_handle_t *)a->pm_poll, &fd);
        uv_poll_stop(a->pm_poll);
        a->pm_poll->data = (void *)(intptr_t)fd;
        uv_close((uv_handle_t *)a->pm_poll, pm_poll_closed_cb);
        a->pm_poll = NULL;
    }
    a->pm_pid = 0;
    a->paused = false;
}

static void pm_exit_cb(uv_poll_t *h, int status, int events)
{
    struct node_agent *a = h->data;
    pid_t pid = a->pm_pid;
    (void)status;
    (void)events;
    node_unwatch(a);
    if (a->life == LIFE_FENCING) {
        log_warn("agent %s: PostgreSQL (pid %d) fenced: every process of it stopped",
                 a->cfg.node_name, (int)pid);
        node_move(a, LIFE_FENCED, a->why);
        if (a->hung) {
            /* Stopped for a hang: now it is a crash like any other, but
             * still said fenced until it starts again (the quorum's event
             * then says why it is down, whichever heartbeat carries it). */
            a->hung = false;
            node_after_death(a);
        }
        return;
    }
    if (a->life == LIFE_REJOINING || a->life == LIFE_STOPPING) {
        log_info("agent %s: PostgreSQL (pid %d) stopped for the %s", a->cfg.node_name, (int)pid,
                 a->life == LIFE_STOPPING ? "switchover" : "rejoin");
        return;
    }
    log_warn("agent %s: the postmaster (pid %d) died", a->cfg.node_name, (int)pid);
    if (a->life == LIFE_RUNNING) {
        node_move(a, LIFE_DEAD, "the postmaster died");
        node_after_death(a);
    }
}

int node_watch(struct node_agent *a, pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        log_error("agent %s: pidfd_open(%d): %s", a->cfg.node_name, (int)pid, strerror(errno));
        return PGQ_IO;
    }
    a->pm_poll = calloc(1, sizeof *a->pm_poll);
    if (a->pm_poll == NULL || uv_poll_init(a->loop, a->pm_poll, fd) != 0) {
        free(a->pm_poll);
        a->pm_poll = NULL;
        close(fd);
        return PGQ_NOMEM;
    }
    a->pm_pid = pid;
    a->pm_poll->data = a;
    uv_poll_start(a->pm_poll, UV_READABLE, pm_exit_cb);
    a->answered_once = false;
    a->check_fails = 0;
    return 0;
}

/* The children of pid, from /proc (the postmaster is stopped meanwhile:
 * it forks nothing more). */
static unsigned children_of(pid_t pid, pid_t *out, unsigned max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    unsigned n = 0;
    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL && n < max) {
        char path[64], buf[512], *close_paren;
        long ppid;
        FILE *f;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        if (fgets(buf, sizeof buf, f) != NULL && (close_paren = strrchr(buf, ')')) != NULL &&
            sscanf(close_paren + 2, "%*c %ld", &ppid) == 1 && ppid == pid) {
            out[n++] = (pid_t)atol(e->d_name);
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Fence: no process of this PostgreSQL runs a moment from now. SIGSTOP
 * first, so that the postmaster forks nothing while its children are
 * killed, and restarts nothing after they are. */
void node_fence(struct node_agent *a, const char *why)
{
    pid_t kids[1024];
    unsigned n;
    if (a->life != LIFE_RUNNING || a->pm_pid <= 0) {
        return;
    }
    log_warn("agent %s: fencing PostgreSQL (pid %d): %s", a->cfg.node_name, (int)a->pm_pid, why);
    node_move(a, LIFE_FENCING, why);
    a->fenced = true;
    a->paused = false; /* stopped processes die of SIGKILL all the same */
    kill(a->pm_pid, SIGSTOP);
    n = children_of(a->pm_pid, kids, PGQ_ARRAY_SIZE(kids));
    for (unsigned i = 0; i < n; i++) {
        kill(kids[i], SIGKILL);
    }
    kill(a->pm_pid, SIGKILL);
}

void node_pause(struct node_agent *a, bool pause)
{
    pid_t kids[1024];
    unsigned n;
    if (a->life != LIFE_RUNNING || a->pm_pid <= 0 || a->paused == pause) {
        return;
    }
    a->paused = pause;
    if (pause) {
        log_warn(
            "agent %s: PostgreSQL (pid %d) paused (SIGSTOP) until the quorum renews its "
            "lease",
            a->cfg.node_name, (int)a->pm_pid);
        kill(a->pm_pid, SIGSTOP);
    }
    n = children_of(a->pm_pid, kids, PGQ_ARRAY_SIZE(kids));
    for (unsigned i = 0; i < n; i++) {
        kill(kids[i], pause ? SIGSTOP : SIGCONT);
    }
    if (!pause) {
        kill(a->pm_pid, SIGCONT);
        log_info("agent %s: PostgreSQL (pid %d) resumed: the quorum renewed its lease",
                 a->cfg.node_name, (int)a->pm_pid);
    }
}

/* ---- commands: pg_ctl, pg_controldata --------------------------------------- */

static void proc_handle_closed_cb(uv_handle_t *h)
{
    struct node_agent *a = h->data;
    a->proc_open--;
}

static void parse_controldata(struct node_agent *a)
{
    static const struct
    {
        const char *text;
        int state;
    } states[] = {
        {"in production", PGQ_PGS_IN_PRODUCTION},
        {"in archive recovery", PGQ_PGS_ARCHIVE_RECOVERY},
        {"in crash recovery", PGQ_PGS_CRASH_RECOVERY},
        {"shut down in recovery", PGQ_PGS_SHUT_DOWN_IN_RECOVERY},
        {"shut down", PGQ_PGS_SHUT_DOWN},
        {"shutting down", PGQ_PGS_SHUTTING_DOWN},
        {"starting up", PGQ_PGS_STARTING},
    };
    const char *p = strstr(a->proc_buf, "Database cluster state:");
    a->pg_state = PGQ_PGS_UNKNOWN;
    if (p != NULL) {
        p += strlen("Database cluster state:");
        while (*p == ' ') {
            p++;
        }
        for (size_t i = 0; i < PGQ_ARRAY_SIZE(states); i++) {
            size_t len = strlen(states[i].text);
            if (strncmp(p, states[i].text, len) == 0 && (p[len] == '\n' || p[len] == '\0')) {
                a->pg_state = states[i].state;
                break;
            }
        }
    }
    p = strstr(a->proc_buf, "Latest checkpoint's TimeLineID:");
    if (p != NULL) {
        a->ctl_timeline =
            (uint32_t)strtoul(p + strlen("Latest checkpoint's TimeLineID:"), NULL, 10);
        if (a->timeline == 0) {
            a->timeline = a->ctl_timeline;
        }
    }
    p = strstr(a->proc_buf, "Latest checkpoint location:");
    if (p != NULL) {
        unsigned hi = 0, lo = 0;
        if (sscanf(p + strlen("Latest checkpoint location:"), " %X/%X", &hi, &lo) == 2) {
            a->ckpt_lsn = ((uint64_t)hi << 32) | lo;
        }
    }
    p = strstr(a->proc_buf, "Database system identifier:");
    if (p != NULL) {
        a->system_id = strtoull(p + strlen("Database system identifier:"), NULL, 10);
    }
    p = strstr(a->proc_buf, "Bytes per WAL segment:");
    if (p != NULL) {
        a->wal_seg_size = strtoull(p + strlen("Bytes per WAL segment:"), NULL, 10);
    }
    a->rewindable = rejoin_rewindable(a->proc_buf, a->rewind_why, sizeof a->rewind_why);
    a->controldata_ok = true;
}

static void start_done(struct node_agent *a, int64_t status);
static void switchover_stopped_cb(struct node_agent *a, int64_t status);

/* Both the exit and the end of its output: the command is done. */
static void proc_maybe_done(struct node_agent *a)
{
    int kind = a->proc_kind;
    if (!a->proc_exited || !a->proc_eof) {
        return;
    }
    a->proc_busy = false;
    a->proc_kind = PROC_NONE;
    if (a->stopping) {
        return;
    }
    if (kind == PROC_CONTROLDATA) {
        a->controldata_ok = false;
        if (a->proc_status == 0) {
            parse_controldata(a);
        }
        if (a->life == LIFE_STOPPING && a->pm_pid == 0) {
            if (a->controldata_ok && a->pg_state == PGQ_PGS_SHUT_DOWN && a->ckpt_lsn != 0) {
                char lsn[32];
                pgq_lsn_format(a->ckpt_lsn, lsn, sizeof lsn);
                a->stopped_lsn = a->ckpt_lsn;
                a->handover = true;
                log_warn(
                    "agent %s: stopped cleanly for the switchover; its WAL ends with the "
                    "shutdown checkpoint at %s",
                    a->cfg.node_name, lsn);
                node_move(a, LIFE_DOWN, "stopped cleanly for a switchover: left to the quorum");
            } else {
                a->next_controldata_ms = 0; /* read it again */
            }
        }
        if (a->life == LIFE_REJOINING) {
            node_rejoin_done(a, kind, a->proc_status);
        }
    } else if (kind == PROC_START) {
        start_done(a, a->proc_status);
    } else if (kind == PROC_SW_STOP) {
        switchover_stopped_cb(a, a->proc_status);
    } else {
        if (a->proc_len > 0) {
            node_rejoin_line(a, kind, a->proc_buf); /* a last line without its newline */
            a->proc_len = 0;
        }
        node_rejoin_done(a, kind, a->proc_status);
    }
}

static void proc_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    struct node_agent *a = p->data;
    a->proc_exited = true;
    a->proc_status = signal != 0 ? 128 + signal : status;
    uv_close((uv_handle_t *)p, proc_handle_closed_cb);
    proc_maybe_done(a);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct node_agent *a = h->data;
    (void)hint;
    buf->base = a->proc_buf + a->proc_len;
    buf->len = sizeof a->proc_buf - 1 - a->proc_len;
}

/* Line by line (pg_rewind, pg_basebackup, pg_waldump): each complete line
 * goes to the rejoin, the rest waits for its end. */
static void take_lines(struct node_agent *a)
{
    char *start = a->proc_buf, *nl;
    while ((nl = memchr(start, '\n', a->proc_len - (size_t)(start - a->proc_buf))) != NULL) {
        *nl = '\0';
        node_rejoin_line(a, a->proc_kind, start);
        start = nl + 1;
    }
    a->proc_len -= (size_t)(start - a->proc_buf);
    memmove(a->proc_buf, start, a->proc_len);
    a->proc_buf[a->proc_len] = '\0';
    if (a->proc_len + 1 >= sizeof a->proc_buf) {
        node_rejoin_line(a, a->proc_kind, a->proc_buf); /* longer than we keep: as a line */
        a->proc_len = 0;
        a->proc_buf[0] = '\0';
    }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct node_agent *a = s->data;
    (void)buf;
    if (n > 0 && a->proc_lines) {
        a->proc_len += (size_t)n;
        a->proc_buf[a->proc_len] = '\0';
        take_lines(a);
        return;
    }
    if (n > 0) {
        a->proc_len += (size_t)n;
        a->proc_buf[a->proc_len] = '\0';
        if (a->proc_len + 1 < sizeof a->proc_buf) {
            return;
        }
    }
    if (n == 0) {
        return;
    }
    /* EOF, an error, or more than we keep: the output is over for us. */
    uv_read_stop(s);
    if (!uv_is_closing((uv_handle_t *)s)) {
        uv_close((uv_handle_t *)s, proc_handle_closed_cb);
    }
    a->proc_eof = true;
    proc_maybe_done(a);
}

/* env less NOTIFY_SOCKET (a new array; the strings are env's): under
 * systemd, a PostgreSQL built with systemd support would otherwise notify
 * the agent's unit (READY=1, STOPPING=1) as if it were the agent. */
static char **child_environ(char **env)
{
    size_t n = 0, k = 0;
    char **out;
    while (env[n] != NULL) {
        n++;
    }
    out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (strncmp(env[i], "NOTIFY_SOCKET=", 14) != 0) {
            out[k++] = env[i];
        }
    }
    return out;
}

int node_run(struct node_agent *a, int kind, char **args, char **env, bool lines)
{
    const char *path = args[0];
    uv_process_options_t o;
    uv_stdio_container_t io[3];
    uv_file fds[2] = {-1, -1};
    char **child_env;
    int rv;
    if (a->proc_busy || a->proc_open > 0) {
        return PGQ_UNAVAILABLE;
    }
    child_env = child_environ(env != NULL ? env : environ);
    if (child_env == NULL) {
        log_error("agent %s: cannot run %s: out of memory", a->cfg.node_name, path);
        return PGQ_NOMEM;
    }
    a->proc_len = 0;
    a->proc_buf[0] = '\0';
    a->proc_lines = lines;
    memset(&o, 0, sizeof o);
    io[0].flags = UV_IGNORE;
    if (lines) {
        /* stdout and stderr both into one pipe, read line by line. */
        if (uv_pipe(fds, 0, 0) != 0) {
            log_error("agent %s: cannot create a pipe for %s", a->cfg.node_name, path);
            free(child_env);
            return PGQ_IO;
        }
        uv_pipe_init(a->loop, &a->proc_out, 0);
        uv_pipe_open(&a->proc_out, fds[0]);
        io[1].flags = io[2].flags = UV_INHERIT_FD;
        io[1].data.fd = io[2].data.fd = fds[1];
    } else {
        uv_pipe_init(a->loop, &a->proc_out, 0);
        io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[1].data.stream = (uv_stream_t *)&a->proc_out;
        io[2].flags = UV_INHERIT_FD;
        io[2].data.fd = 2;
    }
    a->proc_out.data = a;
    o.file = path;
    o.args = args;
    o.env = child_env;
    o.exit_cb = proc_exit_cb;
    o.stdio = io;
    o.stdio_count = 3;
    /* Its own process group: a signal to the agent's group (a terminal's
     * ^C) does not reach the postmaster pg_ctl starts. */
    o.flags = UV_PROCESS_DETACHED;
    a->proc.data = a;
    a->proc_open = 2;
    a->proc_exited = a->proc_eof = false;
    rv = uv_spawn(a->loop, &a->proc, &o);
    free(child_env); /* the child has its copy */
    if (fds[1] >= 0) {
        close(fds[1]); /* the child has its copy */
    }
    if (rv != 0) {
        log_error("agent %s: cannot run %s: %s", a->cfg.node_name, path, uv_strerror(rv));
        uv_close((uv_handle_t *)&a->proc, proc_handle_closed_cb);
        uv_close((uv_handle_t *)&a->proc_out, proc_handle_closed_cb);
        return PGQ_IO;
    }
    a->proc_busy = true;
    a->proc_kind = kind;
    uv_read_start((uv_stream_t *)&a->proc_out, alloc_cb, read_cb);
    return 0;
}

/* Run bindir/prog with args; its stdout goes to proc_buf. */
static int run(struct node_agent *a, int kind, const char *prog, char **args)
{
    snprintf(a->proc_path, sizeof a->proc_path, "%s/%s", a->cfg.bindir, prog);
    args[0] = a->proc_path;
    return node_run(a, kind, args, NULL, false);
}

void node_controldata(struct node_agent *a)
{
    char *args[] = {NULL, "-D", a->cfg.pgdata, NULL};
    run(a, PROC_CONTROLDATA, "pg_controldata", args);
}

void node_start_pg(struct node_agent *a, const char *why)
{
    char timeout[32], logfile[PGQ_PATH_MAX + 32];
    char *args[] = {NULL, "-D", a->cfg.pgdata, "-w", "-t", timeout, "-l", logfile, "start", NULL};
    snprintf(timeout, sizeof timeout, "%" PRIu64, PGQ_MAX(a->cfg.start_timeout_ms / 1000, 1));
    snprintf(logfile, sizeof logfile, "%s/pgquorum-postmaster.log", a->cfg.pgdata);
    if (a->proc_busy || a->proc_open > 0) {
        return; /* a pg_controldata: started at the next tick */
    }
    if (run(a, PROC_START, "pg_ctl", args) != 0) {
        if (a->life != LIFE_DOWN) {
            node_move(a, LIFE_DOWN, "pg_ctl could not be run");
        }
        return;
    }
    a->fenced = false;
    a->handover = false;
    a->stopped_lsn = 0;
    node_move(a, LIFE_STARTING, why);
}

static void start_done(struct node_agent *a, int64_t status)
{
    pid_t pid = node_read_pm_pid(a);
    if (a->life != LIFE_STARTING) {
        return;
    }
    if (status != 0 || pid == 0) {
        log_error("agent %s: pg_ctl start failed (exit %d): see %s/pgquorum-postmaster.log",
                  a->cfg.node_name, (int)status, a->cfg.pgdata);
        node_move(a, LIFE_DEAD, "pg_ctl start failed");
        node_after_death(a);
        return;
    }
    if (node_watch(a, pid) != 0) {
        node_move(a, LIFE_DEAD, "cannot watch the postmaster");
        node_after_death(a);
        return;
    }
    node_move(a, LIFE_RUNNING, "started");
}

void node_pg_stop(struct node_agent *a)
{
    node_unwatch(a);
    if (a->proc_busy) {
        /* pg_ctl or pg_controldata: let it finish on its own; we only
         * stop listening. */
        if (!a->proc_exited) {
            uv_close((uv_handle_t *)&a->proc, proc_handle_closed_cb);
        }
        if (!uv_is_closing((uv_handle_t *)&a->proc_out)) {
            uv_close((uv_handle_t *)&a->proc_out, proc_handle_closed_cb);
        }
    }
}

void node_switchover_stop(struct node_agent *a)
{
    char *args[] = {NULL, "stop", "-D", a->cfg.pgdata, "-m", "fast", "-w", "-t", "60", NULL};
    log_warn("agent %s: a switchover began: stopping PostgreSQL (pid %d) cleanly", a->cfg.node_name,
             (int)a->pm_pid);
    if (run(a, PROC_SW_STOP, "pg_ctl", args) != 0) {
        return; /* tried again at the next tick; without a lease it is fenced meanwhile */
    }
    a->stopped_lsn = 0;
    node_move(a, LIFE_STOPPING, "a switchover began");
}

static void switchover_stopped_cb(struct node_agent *a, int64_t status)
{
    if (a->life != LIFE_STOPPING) {
        return;
    }
    if (status != 0 && node_read_pm_pid(a) != 0) {
        log_error("agent %s: pg_ctl stop failed (exit %d): it runs on, without a lease",
                  a->cfg.node_name, (int)status);
        node_move(a, LIFE_RUNNING, "it did not stop");
        return;
    }
    node_unwatch(a);
    /* Where its WAL ends: pg_controldata, at the next tick. */
    a->next_controldata_ms = 0;
    a->hb_now = true;
}
