/* node_rejoin: the agent makes its node a standby of the primary of the
 * epoch again (rejoin.h says when), one command at a time, without
 * blocking the loop.
 *
 * The happy path of a rewind is: its slot on the primary -> pg_ctl stop
 * (a demoted standby that runs) -> pg_controldata (may it be rewound?) ->
 * pg_waldump from the fork point (the commits it alone had, counted for the
 * event) -> the local configuration kept -> pg_rewind --source-server ->
 * the configuration put back, primary_conninfo and primary_slot_name
 * pointed at the primary, standby.signal -> started as a standby (node.c),
 * reported streaming once its walreceiver streams. A clone is: its slot ->
 * the data directory emptied -> clone_command or pg_basebackup -> the same
 * configuration -> started.
 *
 * Possible failure modes are: a rewind impossible (neither wal_log_hints
 * nor checksums) or failed (pg_rewind's last line says why): a clone with
 * rejoin = rewind-or-clone, an operator waited for with manual; a clone
 * that fails: reported, retried after RETRY_MS (pg_basebackup leaves the
 * directory empty; clone_command falls back to pg_basebackup); a slot that
 * cannot be made: the standby streams without one (warned); the primary
 * changing meanwhile: the standby does not stream, and a demoted one is
 * rewound again from the new primary after REJOIN_GRACE_MS. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cluster.h"
#include "lib/util.h"
#include "log.h"
#include "node_internal.h"
#include "rejoin.h"

#define RETRY_MS 15000
#define PROGRESS_LOG_MS 5000

extern char **environ;

static void step(struct node_agent *a);

static void report(struct node_agent *a, int state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The state and detail the next heartbeat carries. */
static void report(struct node_agent *a, int state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->rj.detail, sizeof a->rj.detail, fmt, ap);
    va_end(ap);
    if (a->rj.state != state) {
        log_info("agent %s: rejoin %s%s%s", a->cfg.node_name, pgq_rejoin_state_name(state),
                 a->rj.detail[0] ? ": " : "", a->rj.detail);
    }
    a->rj.state = state;
    a->hb_now = true;
}

static void end_attempt(struct node_agent *a)
{
    a->rj.action = RJ_ACT_NONE;
    a->rj.stage = PROC_NONE;
    a->rj.ended_ms = node_now_ms(a);
}

static void fail(struct node_agent *a, const char *why)
{
    end_attempt(a);
    a->rj.retry_ms = node_now_ms(a) + RETRY_MS;
    report(a, PGQ_RJ_FAILED, "%s", why);
    node_move(a, LIFE_DOWN, why);
}

static void wait_operator(struct node_agent *a, const char *why)
{
    end_attempt(a);
    report(a, PGQ_RJ_WAITING, "%s", why);
    node_move(a, LIFE_DOWN, why);
}

/* Rewound or cloned: configured as a standby of the primary, started by
 * node.c (standby.signal). */
static void finish(struct node_agent *a)
{
    char why[PGQ_REASON_MAX];
    bool rewound = a->rj.action == RJ_ACT_REWIND;
    if (rewound) {
        node_drop_own_slots(a);
    }
    if (node_conf_standby(a, why, sizeof why) != 0) {
        fail(a, why);
        return;
    }
    node_conf_free(a);
    end_attempt(a);
    a->rj.rewind_failed = false;
    a->rj.clone_cmd_failed = false;
    a->primary_seen = false;
    a->writable_since_ms = 0;
    a->handover = false;
    a->fenced = false;
    a->streaming = false;
    report(a, PGQ_RJ_STARTING, "%s from %s", rewound ? "rewound" : "cloned", a->rj.follow);
    node_move(a, LIFE_WAITING, "rejoined: starting it as a standby");
}

/* The rewind is impossible or failed: a clone, or an operator. */
static void rewind_failed(struct node_agent *a, const char *why)
{
    log_warn("agent %s: %s", a->cfg.node_name, why);
    a->rj.rewind_failed = true;
    if (a->cfg.rejoin != REJOIN_REWIND_OR_CLONE) {
        char w[PGQ_REASON_MAX];
        snprintf(w, sizeof w, "%s; rejoin = manual: waiting for an operator", why);
        wait_operator(a, w);
        return;
    }
    a->rj.action = RJ_ACT_CLONE;
    a->rj.stage = PROC_NONE;
}

/* ---- the primary's slot -------------------------------------------------------- */

static void slot_done(struct node_agent *a, bool ok, const char *err)
{
    a->rj.pc_busy = false;
    if (!ok && err[0] != '\0') {
        log_warn("agent %s: no replication slot %s on %s (%s): the standby streams without one",
                 a->cfg.node_name, a->rj.slot, a->rj.follow, err);
    }
    a->rj.slot_ok = ok;
    a->rj.stage = PROC_NONE;
}

static void checkpoint_cb(struct pgconn *pc, int status, PGresult *r)
{
    struct node_agent *a = pc->data;
    (void)r;
    if (status != 0) {
        log_warn(
            "agent %s: CHECKPOINT on %s failed (%s): pg_rewind may find nothing to do "
            "until the new primary's next checkpoint",
            a->cfg.node_name, a->rj.follow, pc->errmsg);
    }
    pgconn_disconnect(pc);
    slot_done(a, a->rj.slot_ok, "");
}

static void slot_query_cb(struct pgconn *pc, int status, PGresult *r)
{
    struct node_agent *a = pc->data;
    bool ok = status == 0 || strstr(pc->errmsg, "already exists") != NULL;
    char err[sizeof pc->errmsg];
    (void)r;
    pgq_strlcpy(err, pc->errmsg, sizeof err);
    a->rj.slot_ok = ok;
    /* A primary just promoted has its new timeline in its control file only
     * after a checkpoint: until then pg_rewind sees one timeline and finds
     * nothing to rewind. */
    if (a->rj.action == RJ_ACT_REWIND &&
        pgconn_query(pc, "CHECKPOINT", 60000, checkpoint_cb) == 0) {
        if (!ok) {
            log_warn(
                "agent %s: no replication slot %s on %s (%s): the standby streams without "
                "one",
                a->cfg.node_name, a->rj.slot, a->rj.follow, err);
        }
        return;
    }
    pgconn_disconnect(pc);
    slot_done(a, ok, err);
}

static void slot_connect_cb(struct pgconn *pc, int status)
{
    struct node_agent *a = pc->data;
    char sql[256];
    if (status != 0) {
        char err[sizeof pc->errmsg];
        pgq_strlcpy(err, pc->errmsg, sizeof err);
        slot_done(a, false, err);
        return;
    }
    /* The name is [a-z0-9_] only (pgq_slot_name). */
    snprintf(sql, sizeof sql,
             "SELECT pg_create_physical_replication_slot('%s', true) WHERE NOT EXISTS (SELECT "
             "1 FROM pg_replication_slots WHERE slot_name = '%s')",
             a->rj.slot, a->rj.slot);
    if (pgconn_query(pc, sql, 10000, slot_query_cb) != 0) {
        pgconn_disconnect(pc);
        slot_done(a, false, "cannot send the query");
    }
}

static void ensure_slot(struct node_agent *a)
{
    static const char *const keys[] = {"application_name", NULL};
    static const char *const values[] = {"pgquorum-agent", NULL};
    a->rj.pc_busy = true;
    a->rj.stage = -1; /* the slot, not a command */
    if (pgconn_connect(&a->rj.pc, a->rj.follow_conninfo, keys, values, 10000, slot_connect_cb) !=
        0) {
        slot_done(a, false, "cannot connect");
    }
}

/* ---- the commands ----------------------------------------------------------------- */

static int run_tool(struct node_agent *a, int kind, const char *tool, char **args)
{
    snprintf(a->proc_path, sizeof a->proc_path, "%s/%s", a->cfg.bindir, tool);
    args[0] = a->proc_path;
    a->rj.last_line[0] = '\0';
    if (node_run(a, kind, args, NULL, true) != 0) {
        return PGQ_IO;
    }
    a->rj.stage = kind;
    return 0;
}

static void run_or_fail(struct node_agent *a, int kind, const char *tool, char **args)
{
    char why[PGQ_REASON_MAX];
    if (run_tool(a, kind, tool, args) != 0) {
        snprintf(why, sizeof why, "cannot run %s/%s", a->cfg.bindir, tool);
        fail(a, why);
    }
}

static void run_clone_command(struct node_agent *a)
{
    static char sh[] = "/bin/sh", dash_c[] = "-c";
    char cmd[2 * PGQ_CONNINFO_MAX], pgdata_env[PGQ_PATH_MAX + 16];
    char *args[] = {sh, dash_c, cmd, NULL};
    char **env;
    size_t n_env = 0, k = 0;
    cmd[0] = '\0';
    for (const char *p = a->cfg.clone_command; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'D') {
            pgq_appendf(cmd, sizeof cmd, "%s", a->cfg.pgdata);
            p++;
        } else {
            pgq_appendf(cmd, sizeof cmd, "%c", *p);
        }
    }
    while (environ[n_env] != NULL) {
        n_env++;
    }
    env = calloc(n_env + 2, sizeof *env);
    if (env == NULL) {
        fail(a, "out of memory");
        return;
    }
    snprintf(pgdata_env, sizeof pgdata_env, "PGDATA=%s", a->cfg.pgdata);
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "PGDATA=", 7) != 0) {
            env[k++] = environ[i];
        }
    }
    env[k++] = pgdata_env;
    a->rj.last_line[0] = '\0';
    log_info("agent %s: clone_command: %s", a->cfg.node_name, cmd);
    if (node_run(a, PROC_CLONE_CMD, args, env, true) != 0) {
        free(env);
        a->rj.clone_cmd_failed = true;
        return;
    }
    free(env); /* uv_spawn copied it */
    a->rj.stage = PROC_CLONE_CMD;
}

/* The end of the last WAL segment of timeline tli in pg_wal (0: none): what
 * pg_waldump reads up to, so that it does not wait for a segment that will
 * never come. */
static uint64_t wal_end(const struct node_agent *a, uint32_t tli)
{
    char dir[PGQ_PATH_MAX + 16];
    DIR *d;
    struct dirent *e;
    uint64_t end = 0;
    snprintf(dir, sizeof dir, "%s/pg_wal", a->cfg.pgdata);
    d = opendir(dir);
    if (d == NULL || a->wal_seg_size == 0) {
        if (d != NULL) {
            closedir(d);
        }
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        uint32_t t;
        uint64_t segno;
        if (rejoin_wal_segment(e->d_name, a->wal_seg_size, &t, &segno) && t == tli) {
            end = PGQ_MAX(end, (segno + 1) * a->wal_seg_size);
        }
    }
    closedir(d);
    return end;
}

static void lsn_text(uint64_t lsn, char *out, size_t size)
{
    snprintf(out, size, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

/* The next command of the rejoin under way, from what is done. */
static void step(struct node_agent *a)
{
    struct node_rejoin *r = &a->rj;
    char source[PGQ_CONNINFO_MAX + 32];
    if (r->action == RJ_ACT_NONE || r->stage != PROC_NONE || a->stopping) {
        return;
    }
    if (!r->slot_ok && !r->slot_tried) {
        r->slot_tried = true;
        ensure_slot(a);
        return;
    }
    if (a->pm_pid > 0) {
        char *args[] = {NULL, "stop", "-D", a->cfg.pgdata, "-m", "fast", "-w", "-t", "120", NULL};
        log_info("agent %s: stopping PostgreSQL (pid %d) to rejoin it", a->cfg.node_name,
                 (int)a->pm_pid);
        run_or_fail(a, PROC_STOP, "pg_ctl", args);
        return;
    }
    node_clear_stale_pid(a);
    if (r->action == RJ_ACT_REWIND) {
        if (!r->ctl_done) {
            node_controldata(a); /* read whole by node_pg.c, which tells us when done */
            if (!a->proc_busy) {
                fail(a, "cannot run pg_controldata");
                return;
            }
            r->stage = PROC_CONTROLDATA;
            return;
        }
        if (a->controldata_ok && !a->rewindable) {
            rewind_failed(a, a->rewind_why);
            return;
        }
        if (!r->dump_done && r->fork_lsn != 0 && r->parent_tli != 0 &&
            a->ctl_timeline == r->parent_tli) {
            char tli[16], start[32], end[32], waldir[PGQ_PATH_MAX + 16];
            char *args[] = {NULL, "-p", waldir, "-t", tli, "-s", start, "-e", end, NULL};
            uint64_t end_lsn = wal_end(a, r->parent_tli);
            r->dump_done = true;
            if (end_lsn <= r->fork_lsn) {
                /* Nothing of its own past the fork point. */
                r->lost_known = true;
                r->lost_commits = r->lost_bytes = 0;
                return;
            }
            snprintf(tli, sizeof tli, "%u", r->parent_tli);
            lsn_text(r->fork_lsn, start, sizeof start);
            lsn_text(end_lsn, end, sizeof end);
            snprintf(waldir, sizeof waldir, "%s/pg_wal", a->cfg.pgdata);
            r->lost_commits = r->last_lsn = r->dump_records = 0;
            r->last_line[0] = '\0';
            run_or_fail(a, PROC_WALDUMP, "pg_waldump", args);
            return;
        }
        node_conf_save(a);
        report(a, PGQ_RJ_REWINDING, "from %s", r->follow);
        {
            char *args[] = {NULL, "-D", a->cfg.pgdata, source, "--progress", NULL};
            snprintf(source, sizeof source, "--source-server=%s", r->follow_conninfo);
            run_or_fail(a, PROC_REWIND, "pg_rewind", args);
        }
        return;
    }
    /* RJ_ACT_CLONE */
    node_conf_save(a);
    if (r->state != PGQ_RJ_CLONING) {
        report(a, PGQ_RJ_CLONING, "from %s (%s)", r->follow,
               a->cfg.clone_command[0] != '\0' && !r->clone_cmd_failed ? "clone_command"
                                                                       : "pg_basebackup");
    }
    if (!r->emptied) {
        static char find[] = "find", mindepth[] = "-mindepth", one[] = "1", del[] = "-delete";
        char *args[] = {find, a->cfg.pgdata, mindepth, one, del, NULL};
        r->last_line[0] = '\0';
        if (node_run(a, PROC_EMPTY, args, NULL, true) != 0) {
            fail(a, "cannot run find to empty the data directory");
            return;
        }
        r->stage = PROC_EMPTY;
        return;
    }
    if (a->cfg.clone_command[0] != '\0' && !r->clone_cmd_failed) {
        run_clone_command(a);
        return;
    }
    {
        char *args[] = {NULL,        "-D",     a->cfg.pgdata, "-d",   r->follow_conninfo,
                        "-X",        "stream", "-c",          "fast", "--progress",
                        "--verbose", NULL,     NULL,          NULL};
        if (r->slot_ok) {
            args[11] = "-S";
            args[12] = r->slot;
        }
        run_or_fail(a, PROC_BASEBACKUP, "pg_basebackup", args);
    }
}

void node_rejoin_line(struct node_agent *a, int kind, const char *line)
{
    struct node_rejoin *r = &a->rj;
    uint64_t now = node_now_ms(a);
    char clean[PGQ_REASON_MAX];
    size_t k = 0;
    if (kind == PROC_WALDUMP) {
        uint64_t lsn;
        bool commit;
        if (rejoin_waldump_line(line, &lsn, &commit)) {
            r->last_lsn = PGQ_MAX(r->last_lsn, lsn);
            r->lost_commits += commit;
            r->dump_records++;
        } else {
            pgq_strlcpy(r->last_line, line, sizeof r->last_line);
        }
        return;
    }
    for (const char *p = line; *p != '\0' && k + 1 < sizeof clean; p++) {
        if (*p == '\r') {
            k = 0; /* a progress line rewritten in place: its latest form */
        } else {
            clean[k++] = *p;
        }
    }
    clean[k] = '\0';
    if (k == 0) {
        return;
    }
    pgq_strlcpy(r->last_line, clean, sizeof r->last_line);
    if (strstr(clean, " kB (") != NULL && strstr(clean, "%)") != NULL) {
        /* Progress: in the detail always, in the log now and then. */
        snprintf(r->detail, sizeof r->detail, "from %s: %s", r->follow, clean);
        if (now < r->progress_ms + PROGRESS_LOG_MS) {
            return;
        }
        r->progress_ms = now;
    }
    log_info("agent %s: %s: %s", a->cfg.node_name,
             kind == PROC_REWIND       ? "pg_rewind"
             : kind == PROC_BASEBACKUP ? "pg_basebackup"
             : kind == PROC_CLONE_CMD  ? "clone_command"
             : kind == PROC_STOP       ? "pg_ctl stop"
                                       : "find",
             clean);
}

void node_rejoin_done(struct node_agent *a, int kind, int64_t status)
{
    struct node_rejoin *r = &a->rj;
    char why[PGQ_REASON_MAX];
    if (r->stage != kind || r->action == RJ_ACT_NONE) {
        return;
    }
    r->stage = PROC_NONE;
    switch (kind) {
        case PROC_STOP:
            if (status != 0 && node_read_pm_pid(a) != 0) {
                snprintf(why, sizeof why, "pg_ctl stop failed (exit %d): %s", (int)status,
                         r->last_line);
                fail(a, why);
                return;
            }
            node_unwatch(a);
            break;
        case PROC_CONTROLDATA:
            r->ctl_done = true;
            break;
        case PROC_WALDUMP:
            /* It ends with an error at the end of the WAL it has: known only
             * when that is what stopped it (not a missing segment). */
            r->lost_known = status == 0 || r->dump_records > 0 ||
                            strstr(r->last_line, "invalid record") != NULL ||
                            strstr(r->last_line, "end of WAL") != NULL;
            if (!r->lost_known) {
                log_warn("agent %s: pg_waldump could not count what a rewind discards (%s)",
                         a->cfg.node_name, r->last_line);
                break;
            }
            r->lost_bytes = r->last_lsn > r->fork_lsn ? r->last_lsn - r->fork_lsn : 0;
            log_info("agent %s: its WAL past the fork point holds %" PRIu64 " commit(s), %" PRIu64
                     " bytes: a rewind discards them",
                     a->cfg.node_name, r->lost_commits, r->lost_bytes);
            break;
        case PROC_REWIND:
            if (status != 0) {
                snprintf(why, sizeof why, "pg_rewind failed (exit %d): %s", (int)status,
                         r->last_line);
                /* The primary out of reach says nothing of this data
                 * directory: tried again, not cloned over. */
                if (strstr(r->last_line, "could not connect") != NULL ||
                    strstr(r->last_line, "connection to server") != NULL) {
                    fail(a, why);
                    return;
                }
                rewind_failed(a, why);
                return;
            }
            finish(a);
            return;
        case PROC_EMPTY:
            if (status != 0) {
                snprintf(why, sizeof why, "cannot empty %s: %s", a->cfg.pgdata, r->last_line);
                fail(a, why);
                return;
            }
            r->emptied = true;
            break;
        case PROC_CLONE_CMD:
            if (status != 0 || !node_file_exists(a, "PG_VERSION")) {
                log_warn(
                    "agent %s: clone_command failed (exit %d): %s; falling back to "
                    "pg_basebackup",
                    a->cfg.node_name, (int)status, r->last_line);
                r->clone_cmd_failed = true;
                r->emptied = false;
                break;
            }
            finish(a);
            return;
        case PROC_BASEBACKUP:
            if (status != 0) {
                snprintf(why, sizeof why, "pg_basebackup failed (exit %d): %s", (int)status,
                         r->last_line);
                r->emptied = false;
                fail(a, why);
                return;
            }
            finish(a);
            return;
        default:
            return;
    }
}

/* Begin a rejoin of the kind act, from the primary the quorum names. */
static void begin(struct node_agent *a, int act, const char *why)
{
    struct node_rejoin *r = &a->rj;
    uint64_t now = node_now_ms(a);
    if (r->epoch != a->reply.epoch || strcmp(r->follow, a->reply.follow) != 0) {
        /* Another primary: what failed against the last one may not. */
        r->rewind_failed = r->clone_cmd_failed = false;
        r->started_ms = now;
    } else if (r->state == PGQ_RJ_NONE || r->state == PGQ_RJ_STREAMING ||
               r->state == PGQ_RJ_STARTING) {
        r->started_ms = now;
    }
    r->action = act;
    r->stage = PROC_NONE;
    r->epoch = a->reply.epoch;
    pgq_strlcpy(r->follow, a->reply.follow, sizeof r->follow);
    pgq_strlcpy(r->follow_conninfo, a->reply.follow_conninfo, sizeof r->follow_conninfo);
    r->parent_tli = a->reply.parent_tli;
    r->fork_lsn = a->reply.fork_lsn;
    r->slot_ok = r->slot_tried = false;
    r->ctl_done = r->dump_done = false;
    r->lost_known = false;
    r->lost_commits = r->lost_bytes = 0;
    r->emptied = false;
    r->progress_ms = 0;
    if (act == RJ_ACT_CLONE && !node_conf_kept(a) &&
        (!node_file_exists(a, "PG_VERSION") ||
         (node_file_exists(a, "backup_label") && !node_file_exists(a, "standby.signal")))) {
        r->was_empty = true;
    } else if (act == RJ_ACT_REWIND) {
        r->was_empty = false;
    }
    pgq_slot_name(a->cfg.node_name, r->slot, sizeof r->slot);
    log_warn("agent %s: rejoining as a standby of %s (epoch %" PRIu64 "): %s", a->cfg.node_name,
             r->follow, r->epoch, why);
    node_move(a, LIFE_REJOINING, why);
}

void node_rejoin_tick(struct node_agent *a, uint64_t now)
{
    struct node_rejoin *r = &a->rj;
    struct rejoin_view v;
    char why[PGQ_REASON_MAX];
    int act;
    bool standby;
    if (a->life == LIFE_RUNNING && a->streaming) {
        a->streamed_ms = now;
    }
    if (r->state == PGQ_RJ_STARTING && a->life == LIFE_RUNNING && a->in_recovery && a->streaming) {
        r->ended_ms = now; /* the whole rejoin: until it streams */
        report(a, PGQ_RJ_STREAMING, "from %s", r->follow);
    }
    if (r->action != RJ_ACT_NONE) {
        /* The next command once the last one's handles are closed. */
        if (r->stage == PROC_NONE && !a->proc_busy && a->proc_open == 0 && !r->pc_busy) {
            step(a);
        }
        return;
    }
    if (a->proc_busy || a->stopping || now < r->retry_ms || a->life == LIFE_STARTING ||
        a->life == LIFE_FENCING || a->life == LIFE_INIT) {
        return;
    }
    standby = node_file_exists(a, "standby.signal") || node_file_exists(a, "recovery.signal");
    memset(&v, 0, sizeof v);
    v.mode = a->cfg.rejoin;
    v.have_reply = a->have_reply && !a->old_leader;
    v.registered = a->reply.registered;
    v.primary = a->reply.primary;
    v.can_follow = a->reply.follow[0] != '\0';
    v.demoted = a->reply.rejoin;
    /* A clone the agent did not finish (killed meanwhile) holds a
     * backup_label and no standby.signal: as good as empty, and none of its
     * configuration is the node's own. */
    v.empty =
        !node_file_exists(a, "PG_VERSION") || (node_file_exists(a, "backup_label") && !standby &&
                                               !a->reply.primary && a->life != LIFE_RUNNING);
    v.standby = standby;
    v.down = a->life == LIFE_DOWN || a->life == LIFE_FENCED || a->life == LIFE_DEAD ||
             (a->life == LIFE_WAITING && !standby);
    v.running_standby = a->life == LIFE_RUNNING && a->answered_once && a->in_recovery;
    if (v.running_standby) {
        v.not_streaming_ms = now - PGQ_MAX(a->running_since_ms, a->streamed_ms);
    }
    v.rewind_failed = r->rewind_failed && r->epoch == a->reply.epoch;
    /* Rejoined in this epoch and not streaming yet: it may be replaying an
     * archive (restore_command) for long; rewound again only after
     * start_timeout. */
    if (r->state == PGQ_RJ_STARTING && r->epoch == a->reply.epoch) {
        v.grace_ms = PGQ_MAX(a->cfg.start_timeout_ms, REJOIN_GRACE_MS);
    }
    act = rejoin_next(&v, why, sizeof why);
    switch (act) {
        case RJ_ACT_WAIT:
            if (r->state != PGQ_RJ_WAITING || strcmp(r->detail, why) != 0) {
                report(a, PGQ_RJ_WAITING, "%s", why);
            }
            break;
        case RJ_ACT_REWIND:
        case RJ_ACT_CLONE:
            begin(a, act, why);
            break;
        default:
            if (r->state == PGQ_RJ_WAITING || (r->state == PGQ_RJ_FAILED && !v.down)) {
                report(a, PGQ_RJ_NONE, "%s", "");
            }
            break;
    }
}

void node_rejoin_stop(struct node_agent *a)
{
    node_conf_free(a);
}
