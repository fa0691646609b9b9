/* Checks that any Raft log entry or command bytes are decoded
 * (codec_command_decode, codec_entry_decode) without a crash, leak or
 * sanitizer report; that a decoded command re-encodes to a fixpoint; and that
 * cluster_check and cluster_apply of decoded commands, alone or in sequence,
 * on a healthy state built by valid commands, never crash, leave the state
 * unchanged when they refuse, and agree with each other on client commands.
 *
 * The input is read twice: whole, as one bare command; and as a sequence of
 * log entries (4-byte big-endian length, message, zero padding to 8 bytes)
 * applied one after another, after which the leader's policy runs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static struct state base;
static struct state work, empty_work, empty_state; /* reused between inputs */

static void roundtrip(const struct command *cmd)
{
    struct command again;
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256];
    int rv = codec_command_encode(cmd, NULL, &b1, &l1);
    FZ_ASSERT(rv == 0, "re-encoding a decoded command failed: %d", rv);
    rv = codec_command_decode(b1, l1, &again, err, sizeof err);
    FZ_ASSERT(rv == 0, "re-encoded command refused: %s", err);
    rv = codec_command_encode(&again, NULL, &b2, &l2);
    FZ_ASSERT(rv == 0, "second encode failed: %d", rv);
    FZ_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0, "command encodings differ");
    command_close(&again);
    free(b1);
    free(b2);
    /* The same through the log-entry wrapping. */
    rv = codec_entry_encode(cmd, NULL, &b1, &l1);
    FZ_ASSERT(rv == 0 && l1 % 8 == 0, "entry encode: rv %d, %zu bytes", rv, l1);
    rv = codec_entry_decode(b1, l1, &again, err, sizeof err);
    FZ_ASSERT(rv == 0, "re-encoded entry refused: %s", err);
    command_close(&again);
    free(b1);
}

/* Check then apply cmd to s; returns the apply code. */
static int check_and_apply(struct state *s, const struct command *cmd)
{
    struct apply_result chk, res;
    bool client =
        cmd->kind == CMD_NODE_ADD || cmd->kind == CMD_NODE_REMOVE || cmd->kind == CMD_MAINTENANCE;
    uint8_t *before = NULL;
    size_t before_len = 0;
    int crv = cluster_check(s, cmd, &chk);
    int arv;
    fz_encode(s, &before, &before_len);
    arv = cluster_apply(s, cmd, &res);
    FZ_ASSERT(arv == res.code, "apply returned %d, result says %d", arv, res.code);
    if (arv != 0) {
        uint8_t *after;
        size_t after_len;
        fz_encode(s, &after, &after_len);
        FZ_ASSERT(after_len == before_len && memcmp(after, before, after_len) == 0,
                  "refused command %d changed the state (%s)", cmd->kind, res.message);
        free(after);
    }
    free(before);
    if (client) {
        /* check is stricter than apply for node add only. */
        if (crv == 0) {
            FZ_ASSERT(arv == 0, "check accepted command %d, apply refused: %s", cmd->kind,
                      res.message);
        }
        if (cmd->kind != CMD_NODE_ADD) {
            FZ_ASSERT(crv == arv, "check %d != apply %d for command %d", crv, arv, cmd->kind);
        }
    }
    return arv;
}

static void one_command(const uint8_t *data, size_t size)
{
    struct command cmd;
    char err[256];
    if (codec_command_decode(data, size, &cmd, err, sizeof err) != 0) {
        return;
    }
    roundtrip(&cmd);
    fz_state_reset(&work, &base);
    check_and_apply(&work, &cmd);
    fz_state_reset(&empty_work, &empty_state);
    check_and_apply(&empty_work, &cmd);
    command_close(&cmd);
}

static void entry_sequence(const uint8_t *data, size_t size)
{
    struct state *s = &work;
    size_t pos = 0;
    unsigned applied = 0, n_entries = 0;
    uint64_t now = base.time_ms;
    fz_state_reset(s, &base);
    while (size - pos >= 4 && n_entries < 64) {
        uint32_t n = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 |
                     (uint32_t)data[pos + 2] << 8 | data[pos + 3];
        size_t total = ((size_t)n + 4 + 7) / 8 * 8;
        struct command cmd;
        char err[256];
        if (total > size - pos) {
            total = size - pos;
        }
        n_entries++;
        if (codec_entry_decode(data + pos, total, &cmd, err, sizeof err) == 0) {
            if (check_and_apply(s, &cmd) == 0) {
                applied++;
            }
            if (cmd.time_ms > now) {
                now = cmd.time_ms;
            }
            command_close(&cmd);
        }
        pos += total;
    }
    if (applied > 0) {
        fz_run_policy(s, now + 60000);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_base_state(&base);
    state_init(&empty_state);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_command(data, size);
    entry_sequence(data, size);
    return 0;
}
