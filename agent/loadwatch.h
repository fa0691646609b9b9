/* loadwatch: how this process stands with its own resources, on the loop.
 *
 * The happy path is: at start the soft open-file limit is raised to the hard
 * one (loadwatch_raise_nofile); a timer that should fire every
 * LOADWATCH_PERIOD_MS measures how late it fires and keeps the worst of
 * each second (resources.h's lag history), which the probes read to tell
 * a timeout they may have caused themselves, and the leader to hold
 * failovers while its loop runs late (policy.h).
 *
 * Possible failure modes are: the hard limit cannot be read or the raise is
 * refused (the limit in force is kept, and said), the loop stalls (the
 * stall is the measurement). */
#ifndef PGQ_LOADWATCH_H
#define PGQ_LOADWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "resources.h"

#define LOADWATCH_PERIOD_MS 100

struct loadwatch;
typedef void (*loadwatch_close_cb)(struct loadwatch *w);

struct loadwatch
{
    uv_loop_t *loop;
    void *data;
    /* private */
    uv_timer_t timer;
    uint64_t due_ms; /* when the timer should fire next (uv_now's clock) */
    struct lag_history hist;
    loadwatch_close_cb close_cb;
};

/* Raise the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit in
 * force afterwards (0: it cannot be read); msg says what was done ("" when
 * nothing was). */
uint64_t loadwatch_raise_nofile(char *msg, size_t size);

/* The soft RLIMIT_NOFILE in force (0: it cannot be read). */
uint64_t loadwatch_nofile(void);

int loadwatch_start(struct loadwatch *w, uv_loop_t *loop);

/* The worst lateness of the loop from since_ms (uv_now's clock) until now,
 * a lateness under way included (the timer is overdue right now). */
uint64_t loadwatch_lag_since(const struct loadwatch *w, uint64_t since_ms);

/* The loop's clock now, read fresh (uv_now is the time the current turn
 * of the loop began). */
uint64_t loadwatch_now_ms(void);

void loadwatch_close(struct loadwatch *w, loadwatch_close_cb cb);

#endif /* PGQ_LOADWATCH_H */
