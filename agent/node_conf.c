/* node_conf: the files of a data directory the node agent writes around a
 * rejoin (see node_rejoin.c): the node's own configuration kept across
 * pg_rewind or pg_basebackup (which copy the primary's), the standby's
 * settings and standby.signal, the slots a former primary kept, and a
 * postmaster.pid left by a killed postmaster. Small files, read and written
 * whole on the loop (a few kB, between commands). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "lib/util.h"
#include "log.h"
#include "node_internal.h"
#include "rejoin.h"

static const char *const conf_files[4] = {"postgresql.conf", "postgresql.auto.conf", "pg_hba.conf",
                                          "pg_ident.conf"};
enum { CONF_MAIN = 0, CONF_AUTO };

void node_conf_free(struct node_agent *a)
{
    for (unsigned i = 0; i < PGQ_ARRAY_SIZE(conf_files); i++) {
        free(a->rj.conf[i]);
        a->rj.conf[i] = NULL;
        a->rj.conf_len[i] = 0;
    }
}

static void path_of(const struct node_agent *a, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", a->cfg.pgdata, name);
}

/* The whole of a small file (NULL: absent or unreadable). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Write a file whole, through a temporary file and a rename. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[PGQ_PATH_MAX + 48];
    int fd;
    ssize_t w;
    snprintf(tmp, sizeof tmp, "%s.pgquorum.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return PGQ_IO;
    }
    w = write(fd, data, len);
    if (w < 0 || (size_t)w != len || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return PGQ_IO;
    }
    close(fd);
    return rename(tmp, path) == 0 ? 0 : PGQ_IO;
}

/* Keep the node's own configuration: pg_rewind and pg_basebackup copy the
 * primary's (its port, its paths) over it. */
void node_conf_save(struct node_agent *a)
{
    char path[PGQ_PATH_MAX + 64];
    if (a->rj.was_empty || a->rj.conf[CONF_MAIN] != NULL) {
        return;
    }
    for (unsigned i = 0; i < PGQ_ARRAY_SIZE(conf_files); i++) {
        path_of(a, conf_files[i], path, sizeof path);
        a->rj.conf[i] = read_file(path, &a->rj.conf_len[i]);
    }
}

/* The primary_conninfo of this standby: the primary's registered conninfo,
 * named after the node (synchronous_standby_names lists it so). */
static void primary_conninfo(const struct node_agent *a, char *out, size_t size)
{
    PQconninfoOption *opts = PQconninfoParse(a->rj.follow_conninfo, NULL);
    bool has_app = false;
    out[0] = '\0';
    if (opts == NULL) {
        snprintf(out, size, "%s", a->rj.follow_conninfo); /* as registered: it parsed then */
        return;
    }
    /* key='value' whatever the registered form (a URI included). */
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }
        has_app |= strcmp(o->keyword, "application_name") == 0;
        pgq_appendf(out, size, "%s%s='", out[0] ? " " : "", o->keyword);
        for (const char *c = o->val; *c != '\0'; c++) {
            pgq_appendf(out, size, "%s%c", *c == '\'' || *c == '\\' ? "\\" : "", *c);
        }
        pgq_appendf(out, size, "'");
    }
    if (!has_app) {
        pgq_appendf(out, size, " application_name='%s'", a->cfg.node_name);
    }
    PQconninfoFree(opts);
}

/* The pgq_ slots a former primary kept for its standbys: pg_rewind leaves
 * pg_replslot as it was, and on a standby they would hold WAL back for
 * nobody (the new primary keeps the slots now). */
void node_drop_own_slots(const struct node_agent *a)
{
    char dir[PGQ_PATH_MAX + 32], path[PGQ_PATH_MAX + 64 + 2 * PGQ_NAME_MAX];
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof dir, "%s/pg_replslot", a->cfg.pgdata);
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        DIR *sd;
        struct dirent *f;
        if (strncmp(e->d_name, "pgq_", 4) != 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sd = opendir(path);
        while (sd != NULL && (f = readdir(sd)) != NULL) {
            char file[sizeof path + PGQ_NAME_MAX + 2];
            if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0) {
                snprintf(file, sizeof file, "%s/%s", path, f->d_name);
                unlink(file);
            }
        }
        if (sd != NULL) {
            closedir(sd);
        }
        if (rmdir(path) == 0) {
            log_info("agent %s: dropped slot %s it kept as a primary", a->cfg.node_name, e->d_name);
        }
    }
    closedir(d);
}

/* The configuration of a standby of the primary: the node's own files
 * back, then postgresql.auto.conf pointed at the primary, standby.signal. */
int node_conf_standby(struct node_agent *a, char *why, size_t size)
{
    char path[PGQ_PATH_MAX + 64], conninfo[PGQ_CONNINFO_MAX + 64], port[8], sockdir[PGQ_PATH_MAX];
    char unused_port[8], unused_dir[PGQ_PATH_MAX];
    struct conf_setting set[6];
    unsigned n = 0;
    char *auto_old = NULL, *auto_new = NULL;
    size_t auto_len = 0, cap;
    int rv = 0, fd;
    for (unsigned i = 0; i < PGQ_ARRAY_SIZE(conf_files); i++) {
        if (i == CONF_AUTO || a->rj.conf[i] == NULL) {
            continue;
        }
        path_of(a, conf_files[i], path, sizeof path);
        if (write_file(path, a->rj.conf[i], a->rj.conf_len[i]) != 0) {
            snprintf(why, size, "cannot write %s: %s", path, strerror(errno));
            return PGQ_IO;
        }
    }
    primary_conninfo(a, conninfo, sizeof conninfo);
    set[n++] = (struct conf_setting){"primary_conninfo", conninfo};
    set[n++] = (struct conf_setting){"primary_slot_name", a->rj.slot_ok ? a->rj.slot : NULL};
    if (a->cfg.restore_command[0] != '\0') {
        set[n++] = (struct conf_setting){"restore_command", a->cfg.restore_command};
    }
    if (a->rj.was_empty) {
        /* A clone into an empty directory has the primary's settings: it
         * listens where this node is registered instead. */
        rejoin_conninfo_local(a->cfg.node_conninfo, port, sizeof port, unused_dir,
                              sizeof unused_dir);
        set[n++] = (struct conf_setting){"port", port[0] ? port : NULL};
        rejoin_conninfo_local(a->cfg.local_conninfo, unused_port, sizeof unused_port, sockdir,
                              sizeof sockdir);
        if (sockdir[0] != '\0') {
            set[n++] = (struct conf_setting){"unix_socket_directories", sockdir};
        }
    }
    path_of(a, "postgresql.auto.conf", path, sizeof path);
    if (a->rj.conf[CONF_AUTO] != NULL) {
        auto_old = a->rj.conf[CONF_AUTO];
        auto_len = a->rj.conf_len[CONF_AUTO];
    } else {
        auto_old = read_file(path, &auto_len);
    }
    cap = auto_len + 2 * sizeof conninfo + 2 * PGQ_CONNINFO_MAX + 1024;
    auto_new = malloc(cap);
    if (auto_new == NULL) {
        rv = PGQ_NOMEM;
        snprintf(why, size, "out of memory");
    } else if (rejoin_conf_rewrite(auto_old, set, n, auto_new, cap) != 0) {
        rv = PGQ_INVALID;
        snprintf(why, size, "cannot rewrite postgresql.auto.conf");
    } else if (write_file(path, auto_new, strlen(auto_new)) != 0) {
        rv = PGQ_IO;
        snprintf(why, size, "cannot write %s: %s", path, strerror(errno));
    }
    if (auto_old != a->rj.conf[CONF_AUTO]) {
        free(auto_old);
    }
    free(auto_new);
    if (rv != 0) {
        return rv;
    }
    path_of(a, "standby.signal", path, sizeof path);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, size, "cannot create %s: %s", path, strerror(errno));
        return PGQ_IO;
    }
    close(fd);
    return 0;
}

/* A postmaster.pid left by a fenced (killed) postmaster that its parent
 * has not reaped yet: a zombie is dead, but pg_rewind's single-user
 * recovery and pg_ctl see its pid and refuse. */
void node_clear_stale_pid(struct node_agent *a)
{
    char path[PGQ_PATH_MAX + 64], stat_path[64], buf[512], *paren;
    long pid = 0;
    FILE *f;
    path_of(a, "postmaster.pid", path, sizeof path);
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    if (pid <= 0) {
        return;
    }
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
    f = fopen(stat_path, "r");
    if (f != NULL) {
        bool zombie = fgets(buf, sizeof buf, f) != NULL && (paren = strrchr(buf, ')')) != NULL &&
                      paren[1] == ' ' && paren[2] == 'Z';
        fclose(f);
        if (!zombie) {
            return; /* it runs: not ours to remove */
        }
    }
    log_info("agent %s: removing the postmaster.pid of dead pid %ld", a->cfg.node_name, pid);
    unlink(path);
}

bool node_conf_kept(const struct node_agent *a)
{
    return a->rj.conf[CONF_MAIN] != NULL;
}
