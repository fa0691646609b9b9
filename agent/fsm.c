/* The raft_fsm glue (see fsm.h).
 *
 * libraft 0.15 stops applying the log if fsm->apply returns non-zero, so
 * apply always returns 0: a malformed or refused command is a result, given
 * to the proposer through `*result`, and changes nothing, identically on
 * every monitor. raft_apply's callback runs right after apply, in the same
 * call, so pointing *result at f->last is safe. */
#include "fsm.h"

#include <string.h>

#include "clock.h"
#include "codec.h"
#include "log.h"

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
    struct fsm *f = rf->data;
    struct command cmd;
    char err[256];
    int rv = codec_entry_decode(buf->base, buf->len, &cmd, err, sizeof err);
    if (rv != 0) {
        f->last.code = rv;
        pgq_strlcpy(f->last.message, err, sizeof f->last.message);
        log_warn("log entry refused: %s", err);
        command_init(&cmd, 0);
    } else {
        cluster_apply(&f->state, &cmd, &f->last);
    }
    if (f->applied_cb != NULL) {
        f->applied_cb(f, &cmd, &f->last);
    }
    command_close(&cmd);
    *result = &f->last;
    return 0;
}

static void *raft_alloc(size_t size)
{
    return raft_malloc(size);
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct fsm *f = rf->data;
    struct codec_alloc a = {raft_alloc, 0};
    uint8_t *buf;
    size_t len;
    uint64_t t0 = clock_mono_us();
    int rv = codec_snapshot_encode(&f->state, &a, &buf, &len);
    uint64_t took_us = clock_mono_us() - t0;
    if (rv != 0) {
        return RAFT_NOMEM;
    }
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL) {
        raft_free(buf);
        return RAFT_NOMEM;
    }
    (*bufs)[0].base = buf;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    /* Encoded on the loop (libraft 0.15 calls this synchronously; it
     * compresses and writes in its thread pool): how long it held the loop
     * is worth seeing, once every snapshot_threshold entries. */
    log_info("snapshot taken: %zu bytes at seq %llu, encoded in %.1f ms", len,
             (unsigned long long)f->state.seq, (double)took_us / 1000.0);
    return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct fsm *f = rf->data;
    struct state s;
    char err[256];
    int rv = codec_snapshot_decode(buf->base, buf->len, &s, err, sizeof err);
    if (rv != 0) {
        log_error("snapshot refused: %s", err);
        return RAFT_MALFORMED;
    }
    state_move(&f->state, &s);
    raft_free(buf->base);
    log_info("state restored from snapshot: seq %llu, %u clusters",
             (unsigned long long)f->state.seq, f->state.n_clusters);
    if (f->applied_cb != NULL) {
        f->applied_cb(f, NULL, NULL);
    }
    return 0;
}

void fsm_init(struct fsm *f)
{
    memset(f, 0, sizeof *f);
    state_init(&f->state);
    f->raft.version = 1;
    f->raft.data = f;
    f->raft.apply = fsm_apply;
    f->raft.snapshot = fsm_snapshot;
    f->raft.restore = fsm_restore;
}

void fsm_close(struct fsm *f)
{
    state_close(&f->state);
}
