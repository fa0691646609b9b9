/* http: the process families every HTTP server adds to its /metrics, and
 * the reply a scrape gets (see http.h). */
#include "http.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "log_drain.h"
#include "metrics.h"

/* ---- process metrics ------------------------------------------------------- */

static unsigned count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;
    if (d == NULL) {
        return 0;
    }
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n > 2 ? n - 3 : 0; /* ".", ".." and the directory's own */
}

/* The start time from /proc/self/stat (field 22, clock ticks since boot)
 * and the boot time from /proc/stat; 0 when either cannot be read. */
static double start_time(void)
{
    static double cached;
    char buf[1024], *p;
    unsigned long long ticks = 0, btime = 0;
    FILE *f;
    size_t n;
    if (cached != 0) {
        return cached;
    }
    f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                            "%*d %*d %*d %*d %llu",
                            &ticks) != 1) {
        return 0;
    }
    f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(buf, sizeof buf, f) != NULL) {
        if (sscanf(buf, "btime %llu", &btime) == 1) {
            break;
        }
    }
    fclose(f);
    if (btime == 0) {
        return 0;
    }
    cached = (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
    return cached;
}

void http_process_metrics(struct metrics_buf *b, const struct http_server *s)
{
    struct rusage ru;
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    metrics_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    metrics_sample(b, "process_resident_memory_bytes", NULL, 0,
                   (double)resident * (double)sysconf(_SC_PAGESIZE));
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        metrics_family(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.");
        metrics_sample(b, "process_cpu_seconds_total", NULL, 0,
                       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
    metrics_family(b, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.");
    metrics_sample(b, "process_start_time_seconds", NULL, 0, start_time());
    metrics_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    metrics_sample(b, "process_open_fds", NULL, 0, count_fds());
    if (s != NULL) {
        metrics_family(b, "pgquorum_http_requests_total", "counter",
                       "HTTP requests this server answered since it started.");
        metrics_sample(b, "pgquorum_http_requests_total", NULL, 0, (double)(s->requests + 1));
        metrics_family(b, "pgquorum_http_refused_total", "counter",
                       "HTTP connections refused for being over http max_clients.");
        metrics_sample(b, "pgquorum_http_refused_total", NULL, 0, (double)s->refused);
    }
}

void http_metrics(struct http_response *res, struct metrics_buf *b, const struct http_server *s)
{
    struct log_drain_stats drain;
    size_t len = 0;
    http_process_metrics(b, s);
    log_drain_stats(&drain);
    metrics_log_drain(b, &drain);
    free(res->body);
    res->body = metrics_take(b, &len);
    if (res->body == NULL) {
        http_text(res, 500, "out of memory");
        return;
    }
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    res->len = len;
}
