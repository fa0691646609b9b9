/* Error texts and the names of the shared enums: one table each, so that the
 * daemon, the CLI and the docs print the same words. */
#include "pgquorum/pgquorum.h"

/* clang-format off */
static const char *const error_text[] = {
    [PGQ_OK] = "success",
#define PGQ__TEXT(code, text) [code] = text,
    PGQ_ERRORS(PGQ__TEXT)
#undef PGQ__TEXT
};
/* clang-format on */

const char *pgq_strerror(int code)
{
    if (code < 0 || code >= PGQ__N_ERRORS) {
        return "unknown error";
    }
    return error_text[code];
}

#define NAME_LOOKUP(fn, table, n)                 \
    const char *fn(int v)                         \
    {                                             \
        if (v < 0 || v >= (n) || table[v] == 0) { \
            return "?";                           \
        }                                         \
        return table[v];                          \
    }

static const char *const role_names[] = {
    [PGQ_ROLE_UNKNOWN] = "unknown",
    [PGQ_ROLE_PRIMARY] = "primary",
    [PGQ_ROLE_STANDBY] = "standby",
    [PGQ_ROLE_DEMOTED] = "demoted",
};
NAME_LOOKUP(pgq_role_name, role_names, PGQ__N_ROLES)

static const char *const verdict_names[] = {
    [PGQ_VERDICT_UNKNOWN] = "unknown",
    [PGQ_VERDICT_UP] = "up",
    [PGQ_VERDICT_DOWN] = "down",
};
NAME_LOOKUP(pgq_verdict_name, verdict_names, PGQ__N_VERDICTS)

static const char *const phase_names[] = {
    [PGQ_FO_NONE] = "none", [PGQ_FO_DECIDED] = "decided", [PGQ_FO_PROMOTED] = "promoted",
    [PGQ_FO_DONE] = "done", [PGQ_FO_CUTTING] = "cutting", [PGQ_FO_GAVE_UP] = "gave-up",
};
NAME_LOOKUP(pgq_fo_phase_name, phase_names, PGQ__N_FO_PHASES)

static const char *const step_names[] = {
    [PGQ_STEP_PROMOTED] = "promoted", [PGQ_STEP_REPOINTED] = "repointed",
    [PGQ_STEP_DONE] = "done",         [PGQ_STEP_FENCED] = "fenced",
    [PGQ_STEP_CUT] = "cut",           [PGQ_STEP_DIVERGED] = "diverged",
    [PGQ_STEP_GAVE_UP] = "gave-up",   [PGQ_STEP_STUCK] = "stuck",
    [PGQ_STEP_RETRY] = "retry",       [PGQ_STEP_SLOTS] = "slots",
};
NAME_LOOKUP(pgq_step_name, step_names, PGQ__N_STEPS)

static const char *const event_names[] = {
    [PGQ_EV_NODE_ADDED] = "node-added",
    [PGQ_EV_NODE_REMOVED] = "node-removed",
    [PGQ_EV_MAINTENANCE] = "maintenance",
    [PGQ_EV_VERDICT] = "verdict",
    [PGQ_EV_ROLE] = "role",
    [PGQ_EV_DECISION] = "failover-decided",
    [PGQ_EV_PROMOTED] = "promoted",
    [PGQ_EV_REPOINTED] = "repointed",
    [PGQ_EV_FAILOVER_DONE] = "failover-done",
    [PGQ_EV_BLOCKED] = "failover-blocked",
    [PGQ_EV_ALERT] = "alert",
    [PGQ_EV_FENCED] = "fenced",
    [PGQ_EV_LEADER] = "leader",
    [PGQ_EV_CUT] = "failover-cut",
    [PGQ_EV_REJOIN] = "needs-rejoin",
    [PGQ_EV_AGENT] = "agent",
    [PGQ_EV_UNPROTECTED] = "unprotected",
    [PGQ_EV_FEATURE] = "feature-level",
    [PGQ_EV_ALLOW] = "allow-unfenced",
    [PGQ_EV_REJOINED] = "rejoin",
    [PGQ_EV_PAUSE] = "pause",
    [PGQ_EV_SWITCHOVER] = "switchover",
    [PGQ_EV_SLOT] = "slot",
    [PGQ_EV_SYNC] = "sync",
    [PGQ_EV_IDENTITY] = "identity",
    [PGQ_EV_AUDIT] = "audit",
    [PGQ_EV_CLUSTER] = "cluster",
    [PGQ_EV_MEMBERSHIP] = "membership",
    [PGQ_EV_OVERLOAD] = "overload",
};
NAME_LOOKUP(pgq_event_kind_name, event_names, PGQ__N_EVENT_KINDS)

static const char *const monitor_role_names[] = {
    [PGQ_MON_UNREACHABLE] = "unreachable", [PGQ_MON_FOLLOWER] = "follower",
    [PGQ_MON_CANDIDATE] = "candidate",     [PGQ_MON_LEADER] = "leader",
    [PGQ_MON_UNAVAILABLE] = "unavailable",
};
NAME_LOOKUP(pgq_monitor_role_name, monitor_role_names, PGQ__N_MON_ROLES)

static const char *const agent_state_names[] = {
    [PGQ_AGENT_NONE] = "none",
    [PGQ_AGENT_UP] = "up",
    [PGQ_AGENT_SILENT] = "silent",
};
NAME_LOOKUP(pgq_agent_state_name, agent_state_names, PGQ__N_AGENT_STATES)

static const char *const slot_use_names[] = {
    [PGQ_SLOT_USE_UNKNOWN] = "unknown",
    [PGQ_SLOT_USE_OWN] = "own",
    [PGQ_SLOT_USE_NONE] = "none",
    [PGQ_SLOT_USE_DENIED] = "denied",
};
NAME_LOOKUP(pgq_slot_use_name, slot_use_names, PGQ__N_SLOT_USES)

static const char *const pg_state_names[] = {
    [PGQ_PGS_UNKNOWN] = "unknown",
    [PGQ_PGS_STARTING] = "starting up",
    [PGQ_PGS_SHUT_DOWN] = "shut down",
    [PGQ_PGS_SHUT_DOWN_IN_RECOVERY] = "shut down in recovery",
    [PGQ_PGS_SHUTTING_DOWN] = "shutting down",
    [PGQ_PGS_CRASH_RECOVERY] = "in crash recovery",
    [PGQ_PGS_ARCHIVE_RECOVERY] = "in archive recovery",
    [PGQ_PGS_IN_PRODUCTION] = "in production",
};
NAME_LOOKUP(pgq_pg_state_name, pg_state_names, PGQ__N_PG_STATES)

static const char *const rejoin_state_names[] = {
    [PGQ_RJ_NONE] = "none",           [PGQ_RJ_REWINDING] = "rewinding",
    [PGQ_RJ_CLONING] = "cloning",     [PGQ_RJ_WAITING] = "waiting for an operator",
    [PGQ_RJ_FAILED] = "failed",       [PGQ_RJ_STARTING] = "starting as a standby",
    [PGQ_RJ_STREAMING] = "streaming",
};
NAME_LOOKUP(pgq_rejoin_state_name, rejoin_state_names, PGQ__N_RJ_STATES)

static const char *const sw_phase_names[] = {
    [PGQ_SW_NONE] = "none",
    [PGQ_SW_PENDING] = "scheduled",
    [PGQ_SW_STOPPING] = "stopping the primary",
};
NAME_LOOKUP(pgq_sw_phase_name, sw_phase_names, PGQ__N_SW_PHASES)
static const char *const sync_mode_names[] = {
    [PGQ_SYNC_OFF] = "off",
    [PGQ_SYNC_QUORUM] = "quorum",
    [PGQ_SYNC_STRICT] = "strict",
};
NAME_LOOKUP(pgq_sync_mode_name, sync_mode_names, PGQ__N_SYNC_MODES)

static const char *const sync_method_names[] = {
    [PGQ_SYNC_NONE] = "none",
    [PGQ_SYNC_ANY] = "ANY",
    [PGQ_SYNC_FIRST] = "FIRST",
};
NAME_LOOKUP(pgq_sync_method_name, sync_method_names, PGQ__N_SYNC_METHODS)

static const char *const member_op_names[] = {
    [PGQ_MEMBER_ADD] = "add",
    [PGQ_MEMBER_REMOVE] = "remove",
    [PGQ_MEMBER_REPLACE] = "replace",
};
NAME_LOOKUP(pgq_member_op_name, member_op_names, PGQ__N_MEMBER_OPS)

static const char *const member_step_names[] = {
    [PGQ_MEMBER_SPARE] = "spare",   [PGQ_MEMBER_STANDBY] = "standby",
    [PGQ_MEMBER_VOTER] = "voter",   [PGQ_MEMBER_REMOVED] = "removed",
    [PGQ_MEMBER_FAILED] = "failed", [PGQ_MEMBER_ASKED] = "asked",
};
NAME_LOOKUP(pgq_member_step_name, member_step_names, PGQ__N_MEMBER_STEPS)
