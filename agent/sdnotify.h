/* systemd's notification protocol (Type=notify units): READY=1 once the
 * daemon serves, STATUS= lines now and then, WATCHDOG=1 from the loop at
 * half the unit's WatchdogSec, RELOADING=1 and READY=1 around a reload,
 * STOPPING=1 at shutdown. Without NOTIFY_SOCKET (not run by systemd) every
 * call is a no-op and no handle is opened.
 *
 * The happy path is: sdnotify_start after the services started, then the
 * timers run until sdnotify_stopping at shutdown, which closes them.
 * Possible failure modes are: a send that fails (systemd gone, the socket
 * full) is logged at debug level once and otherwise ignored: the daemon's
 * work does not depend on its supervisor; a loop that stalls sends no
 * WATCHDOG=1, and systemd kills and restarts the daemon, as asked. */
#ifndef PGQ_SDNOTIFY_H
#define PGQ_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SDNOTIFY_STATUS_MS 5000

struct sdnotify;
/* Writes the one-line status of the daemon into out. */
typedef void (*sdnotify_status_cb)(struct sdnotify *n, char *out, size_t size);

struct sdnotify
{
    void *data;
    /* private */
    bool enabled;         /* NOTIFY_SOCKET is set */
    bool running;         /* the timers are open */
    bool warned;          /* a failed send was logged */
    bool stopping;        /* STOPPING=1 was sent */
    uint64_t watchdog_ms; /* 0: no watchdog asked */
    uv_timer_t watchdog;
    uv_timer_t status;
    sdnotify_status_cb status_cb;
    char last_status[256];
};

/* The daemon serves: READY=1 with a first STATUS=; start the watchdog (if
 * the unit asked for one) and a status line every SDNOTIFY_STATUS_MS (only
 * sent when it changed). */
void sdnotify_start(struct sdnotify *n, uv_loop_t *loop, sdnotify_status_cb cb, void *data);

/* A reload begins (RELOADING=1) / ends (READY=1 and the status). */
void sdnotify_reloading(struct sdnotify *n);
void sdnotify_reloaded(struct sdnotify *n);

/* STOPPING=1 (once), and the timers closed (nothing keeps the loop
 * alive). */
void sdnotify_stopping(struct sdnotify *n);

#endif /* PGQ_SDNOTIFY_H */
