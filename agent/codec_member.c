/* Codec of online membership (feature level 6; see codec.h): the Member
 * command (a step of a change of the Raft voters, or, without a step, the
 * API request monitor_change). Every optional field is written only when
 * set, so that decoding then encoding gives back the same bytes. */
#include <stdio.h>
#include <string.h>

#include "codec_internal.h"

int codec_voters_to_pb(const struct member *voters,
                       unsigned n,
                       struct scratch *sc,
                       Pgq__VoterAddr ***out)
{
    Pgq__VoterAddr **vs = NULL;
    if (n > 0 && (vs = codec_scratch_alloc(sc, n * sizeof *vs)) == NULL) {
        return PGQ_NOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        vs[i] = codec_scratch_alloc(sc, sizeof *vs[i]);
        if (vs[i] == NULL) {
            return PGQ_NOMEM;
        }
        pgq__voter_addr__init(vs[i]);
        vs[i]->id = voters[i].id;
        vs[i]->raft_address = S(voters[i].raft_address);
    }
    *out = vs;
    return 0;
}

unsigned codec_voters_from_pb(struct dec *d,
                              Pgq__VoterAddr *const *vs,
                              size_t n,
                              struct member *voters,
                              const char *field)
{
    codec_check_count(d, n, PGQ_MAX_MONITORS, field);
    if (d->rv != 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        voters[i].id = vs[i]->id;
        voters[i].voter = true;
        codec_copy_str(d, voters[i].raft_address, sizeof voters[i].raft_address,
                       vs[i]->raft_address, field);
    }
    return (unsigned)n;
}

Pgq__Member *codec_member_to_pb(const struct command *cmd, struct scratch *sc)
{
    const struct cmd_member *mb = &cmd->u.member;
    Pgq__Member *b = codec_scratch_alloc(sc, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    pgq__member__init(b);
    if (codec_voters_to_pb(mb->voters, mb->n_voters, sc, &b->voters) != 0) {
        return NULL;
    }
    b->n_voters = mb->n_voters;
    b->op = (uint32_t)mb->op;
    b->has_step = mb->step != 0, b->step = (uint32_t)mb->step;
    b->monitor_id = mb->monitor_id;
    b->raft_address = mb->raft_address[0] != '\0' ? S(mb->raft_address) : NULL;
    b->api_address = mb->api_address[0] != '\0' ? S(mb->api_address) : NULL;
    b->has_old_id = mb->old_id != 0, b->old_id = mb->old_id;
    b->detail = mb->detail[0] != '\0' ? S(mb->detail) : NULL;
    return b;
}

void codec_member_from_pb(struct dec *d, const Pgq__Member *b, struct command *cmd)
{
    struct cmd_member *mb = &cmd->u.member;
    mb->op = (int)b->op;
    mb->step = (int)b->step;
    if (b->op == 0 || b->op >= PGQ__N_MEMBER_OPS || b->step >= PGQ__N_MEMBER_STEPS) {
        codec_dec_fail(d, PGQ_MALFORMED, "member: operation %u or step %u out of range", b->op,
                       b->step);
        return;
    }
    mb->monitor_id = b->monitor_id;
    mb->old_id = b->old_id;
    codec_copy_str(d, mb->raft_address, sizeof mb->raft_address, b->raft_address,
                   "member.raft_address");
    codec_copy_str(d, mb->api_address, sizeof mb->api_address, b->api_address,
                   "member.api_address");
    codec_copy_str(d, mb->detail, sizeof mb->detail, b->detail, "member.detail");
    mb->n_voters = codec_voters_from_pb(d, b->voters, b->n_voters, mb->voters, "member.voters");
}
