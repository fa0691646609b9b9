/* Inside the state machine: a step of an online change of the monitors'
 * Raft voters (CMD_MEMBER, level 6).
 *
 * libraft holds the Raft configuration; the state mirrors its voters,
 * because verdicts need a majority of them (Invariant 2). The leader
 * commits one Member after each step libraft committed (a monitor added as
 * a spare, made a standby to catch up, made a voter, removed), one before
 * the first step (who asked what: recorded even should the leader die
 * before a step's own record) and one when a change stopped: the event
 * says what happened and who asked; the voters
 * it carries are the configuration's once that step committed. Should the
 * leader die between a step and its Member, the next leader's hello
 * carries the voters just the same. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster_internal.h"

/* The monitor a step is about: in a replace, monitor_id is the new one
 * and old_id the one replaced, which its last step removes. */
static uint64_t member_subject(const struct cmd_member *mb)
{
    return mb->op == PGQ_MEMBER_REPLACE && mb->step == PGQ_MEMBER_REMOVED ? mb->old_id
                                                                          : mb->monitor_id;
}

static int check_member(const struct cmd_member *mb, struct apply_result *res)
{
    bool listed = false;
    if (mb->op <= 0 || mb->op >= PGQ__N_MEMBER_OPS || mb->step <= 0 ||
        mb->step >= PGQ__N_MEMBER_STEPS) {
        return cluster_fail(res, PGQ_INVALID, "member: bad operation %d or step %d", mb->op,
                            mb->step);
    }
    if (mb->monitor_id == 0 || mb->monitor_id > PGQ_MONITOR_ID_MAX ||
        mb->old_id > PGQ_MONITOR_ID_MAX || (mb->op == PGQ_MEMBER_REPLACE) != (mb->old_id != 0) ||
        mb->old_id == mb->monitor_id) {
        return cluster_fail(res, PGQ_INVALID, "member: bad monitor id %" PRIu64 " or %" PRIu64,
                            mb->monitor_id, mb->old_id);
    }
    if (mb->n_voters == 0 || mb->n_voters > PGQ_MAX_MONITORS) {
        return cluster_fail(res, PGQ_INVALID, "member: %u voters", mb->n_voters);
    }
    for (unsigned i = 0; i < mb->n_voters; i++) {
        if (mb->voters[i].id == 0) {
            return cluster_fail(res, PGQ_INVALID, "member: voter id 0");
        }
        for (unsigned k = 0; k < i; k++) {
            if (mb->voters[k].id == mb->voters[i].id) {
                return cluster_fail(res, PGQ_INVALID, "member: voter %" PRIu64 " listed twice",
                                    mb->voters[i].id);
            }
        }
        listed |= mb->voters[i].id == member_subject(mb);
    }
    /* The step and the voters it left agree: a voter is listed, a monitor
     * still catching up or removed is not. */
    if (mb->step == PGQ_MEMBER_VOTER && !listed) {
        return cluster_fail(res, PGQ_INVALID, "member: voter %" PRIu64 " is not listed",
                            member_subject(mb));
    }
    if ((mb->step == PGQ_MEMBER_SPARE || mb->step == PGQ_MEMBER_STANDBY ||
         mb->step == PGQ_MEMBER_REMOVED) &&
        listed) {
        return cluster_fail(res, PGQ_INVALID, "member: %s %" PRIu64 " is listed as a voter",
                            pgq_member_step_name(mb->step), member_subject(mb));
    }
    return 0;
}

/* "1, 2, 3" */
static void voter_list(const struct cmd_member *mb, char *out, size_t size)
{
    out[0] = '\0';
    for (unsigned i = 0; i < mb->n_voters; i++) {
        pgq_appendf(out, size, "%s%" PRIu64, i > 0 ? ", " : "", mb->voters[i].id);
    }
}

int apply_member(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_member *mb = &cmd->u.member;
    char voters[PGQ_MAX_MONITORS * 24], what[96];
    int rv = check_member(mb, res);
    bool changed;
    if (rv != 0) {
        return rv;
    }
    changed = state_set_voters(s, mb->voters, mb->n_voters);
    /* A monitor on its way in is known by its addresses before it votes,
     * so that it is found once it leads. */
    if (mb->step == PGQ_MEMBER_SPARE || mb->step == PGQ_MEMBER_STANDBY ||
        mb->step == PGQ_MEMBER_VOTER) {
        struct member *m = state_member_slot(s, mb->monitor_id);
        if (m != NULL) {
            if (mb->raft_address[0] != '\0') {
                pgq_strlcpy(m->raft_address, mb->raft_address, sizeof m->raft_address);
            }
            if (mb->api_address[0] != '\0') {
                pgq_strlcpy(m->api_address, mb->api_address, sizeof m->api_address);
            }
        }
    }
    voter_list(mb, voters, sizeof voters);
    what[0] = '\0';
    if (mb->op == PGQ_MEMBER_REPLACE) {
        snprintf(what, sizeof what, "replace of monitor %" PRIu64 " by %" PRIu64 ": ", mb->old_id,
                 mb->monitor_id);
    }
    switch (mb->step) {
        case PGQ_MEMBER_SPARE:
            cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                          "%smonitor %" PRIu64
                          " at %s added to the Raft configuration, without a vote "
                          "(voters: %s)",
                          what, mb->monitor_id, mb->raft_address, voters);
            break;
        case PGQ_MEMBER_STANDBY:
            cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                          "%smonitor %" PRIu64
                          " catches up as a standby, without a vote "
                          "(voters: %s)",
                          what, mb->monitor_id, voters);
            break;
        case PGQ_MEMBER_VOTER:
            cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                          "%smonitor %" PRIu64 " caught up and votes: %u voters (%s)", what,
                          mb->monitor_id, mb->n_voters, voters);
            break;
        case PGQ_MEMBER_REMOVED:
            cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                          "%smonitor %" PRIu64
                          " removed from the Raft configuration: %u voters (%s)",
                          what, member_subject(mb), mb->n_voters, voters);
            break;
        case PGQ_MEMBER_ASKED:
            if (mb->op == PGQ_MEMBER_REMOVE) {
                cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                              "removal of monitor %" PRIu64 " asked (voters: %s)", mb->monitor_id,
                              voters);
            } else {
                cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                              "%s%s of monitor %" PRIu64 " at %s asked (voters: %s)", what,
                              mb->op == PGQ_MEMBER_ADD ? "addition" : "addition and vote",
                              mb->monitor_id, mb->raft_address, voters);
            }
            break;
        default:
            cluster_event(s, "", "", PGQ_EV_MEMBERSHIP, 0, 0,
                          "%s%s of monitor %" PRIu64 " stopped: %s; voters: %s", what,
                          pgq_member_op_name(mb->op), mb->monitor_id,
                          mb->detail[0] != '\0' ? mb->detail : "no reason given", voters);
            break;
    }
    /* Invariant 2 counts the voters' views: those of a monitor that left
     * count for nothing from this entry on, those of one that joined from
     * its first report. */
    if (changed) {
        state_refresh_verdicts(s);
    }
    return 0;
}
