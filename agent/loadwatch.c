/* loadwatch: the open-file limit and the loop's lateness (see loadwatch.h). */
#include "loadwatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/util.h"

uint64_t loadwatch_raise_nofile(char *msg, size_t size)
{
    struct rlimit rl;
    uint64_t before;
    msg[0] = '\0';
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(msg, size, "cannot read the open-file limit: %s", strerror(errno));
        return 0;
    }
    before = (uint64_t)rl.rlim_cur;
    if (rl.rlim_cur >= rl.rlim_max) {
        return before;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(msg, size, "cannot raise the open-file limit from %" PRIu64 " to %" PRIu64 ": %s",
                 before, (uint64_t)rl.rlim_max, strerror(errno));
        return before;
    }
    snprintf(msg, size, "open-file limit raised from %" PRIu64 " to the hard limit %" PRIu64,
             before, (uint64_t)rl.rlim_max);
    return (uint64_t)rl.rlim_cur;
}

uint64_t loadwatch_nofile(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
}

uint64_t loadwatch_now_ms(void)
{
    return uv_hrtime() / 1000000; /* the clock uv_now() reads at each turn */
}

static void timer_cb(uv_timer_t *t)
{
    struct loadwatch *w = t->data;
    uint64_t now = loadwatch_now_ms();
    lag_note(&w->hist, now, now > w->due_ms ? now - w->due_ms : 0);
    w->due_ms = uv_now(w->loop) + LOADWATCH_PERIOD_MS;
    uv_timer_start(&w->timer, timer_cb, LOADWATCH_PERIOD_MS, 0);
}

int loadwatch_start(struct loadwatch *w, uv_loop_t *loop)
{
    memset(w, 0, sizeof *w);
    w->loop = loop;
    lag_init(&w->hist);
    if (uv_timer_init(loop, &w->timer) != 0) {
        return PGQ_IO;
    }
    w->timer.data = w;
    w->due_ms = uv_now(loop) + LOADWATCH_PERIOD_MS;
    uv_timer_start(&w->timer, timer_cb, LOADWATCH_PERIOD_MS, 0);
    return 0;
}

uint64_t loadwatch_lag_since(const struct loadwatch *w, uint64_t since_ms)
{
    uint64_t now = loadwatch_now_ms();
    uint64_t under_way = now > w->due_ms ? now - w->due_ms : 0;
    return PGQ_MAX(lag_max_since(&w->hist, since_ms, now), under_way);
}

static void closed_cb(uv_handle_t *h)
{
    struct loadwatch *w = h->data;
    if (w->close_cb != NULL) {
        w->close_cb(w);
    }
}

void loadwatch_close(struct loadwatch *w, loadwatch_close_cb cb)
{
    w->close_cb = cb;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, closed_cb);
}
