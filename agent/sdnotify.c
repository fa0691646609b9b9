/* systemd notifications (see sdnotify.h), through libsystemd's sd_notify. */
#include "sdnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static void send_state(struct sdnotify *n, const char *state)
{
    int rv;
    if (!n->enabled) {
        return;
    }
    rv = sd_notify(0, state);
    if (rv < 0 && !n->warned) {
        n->warned = true;
        log_debug("systemd notification failed: %s", strerror(-rv));
    }
}

static void send_status(struct sdnotify *n, bool always)
{
    char status[sizeof n->last_status];
    char msg[sizeof status + 16];
    if (n->status_cb == NULL) {
        return;
    }
    n->status_cb(n, status, sizeof status);
    if (!always && strcmp(status, n->last_status) == 0) {
        return;
    }
    pgq_strlcpy(n->last_status, status, sizeof n->last_status);
    snprintf(msg, sizeof msg, "STATUS=%s", status);
    send_state(n, msg);
}

static void watchdog_cb(uv_timer_t *t)
{
    send_state(t->data, "WATCHDOG=1");
}

static void status_cb(uv_timer_t *t)
{
    send_status(t->data, false);
}

void sdnotify_start(struct sdnotify *n, uv_loop_t *loop, sdnotify_status_cb cb, void *data)
{
    uint64_t usec = 0;
    memset(n, 0, sizeof *n);
    n->data = data;
    n->status_cb = cb;
    n->enabled = getenv("NOTIFY_SOCKET") != NULL;
    if (!n->enabled) {
        return;
    }
    /* > 0 only when WATCHDOG_PID names this process (or is unset). */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->watchdog_ms = PGQ_MAX(usec / 2000, 1);
    }
    send_state(n, "READY=1");
    send_status(n, true);
    uv_timer_init(loop, &n->status);
    n->status.data = n;
    uv_timer_start(&n->status, status_cb, SDNOTIFY_STATUS_MS, SDNOTIFY_STATUS_MS);
    uv_timer_init(loop, &n->watchdog);
    n->watchdog.data = n;
    if (n->watchdog_ms > 0) {
        uv_timer_start(&n->watchdog, watchdog_cb, n->watchdog_ms, n->watchdog_ms);
    }
    n->running = true;
    log_debug("systemd: READY=1 sent%s", n->watchdog_ms > 0 ? ", watchdog on" : "");
}

void sdnotify_reloading(struct sdnotify *n)
{
    char msg[64];
    struct timespec ts;
    /* MONOTONIC_USEC: what Type=notify-reload units (systemd 253) expect
     * with RELOADING=1; older ones ignore it. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    send_state(n, msg);
}

void sdnotify_reloaded(struct sdnotify *n)
{
    send_state(n, "READY=1");
    send_status(n, true);
}

void sdnotify_stopping(struct sdnotify *n)
{
    if (!n->stopping) {
        n->stopping = true;
        send_state(n, "STOPPING=1");
    }
    if (n->running) {
        n->running = false;
        uv_close((uv_handle_t *)&n->status, NULL);
        uv_close((uv_handle_t *)&n->watchdog, NULL);
    }
}
