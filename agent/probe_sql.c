/* probe: the query every probe runs and what its answer says (see
 * probe.h): one round trip, parsed into an observation; an answer of the
 * wrong shape, or with a value that does not parse, is refused whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "pgsql.h"
#include "probe.h"
#include "probe_internal.h"

/* One round trip learns everything. On a standby pg_current_wal_lsn() and
 * pg_walfile_name() raise "recovery is in progress", so they sit in CASE
 * branches that only a primary evaluates. The server's identity:
 * data_directory only when this role may see it (pg_settings hides it
 * then, current_setting would fail). Replication slots: a primary's pgq_
 * slots that lost WAL; whether this role may set primary_slot_name
 * (may_set_slot, below), and the slot the walreceiver uses. Managed
 * synchronous replication: what the primary runs with (cut to what an
 * observation holds: a longer value set by hand is not the quorum's
 * anyway), and who streams from it, by name. */
#define PROBE_SQL(may_set_slot)                                                                    \
    "SELECT pg_is_in_recovery(),"                                                                  \
    " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END,"                      \
    " pg_last_wal_receive_lsn(),"                                                                  \
    " pg_last_wal_replay_lsn(),"                                                                   \
    " CASE WHEN pg_is_in_recovery() THEN " PGQ_SQL_STANDBY_TLI " ELSE " PGQ_SQL_PRIMARY_TLI        \
    " END,"                                                                                        \
    " (SELECT status FROM pg_stat_wal_receiver),"                                                  \
    " (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),"                       \
    " (SELECT latest_end_lsn FROM pg_stat_wal_receiver),"                                          \
    " (SELECT sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0)"                   \
    "   FROM pg_stat_database),"                                                                   \
    " (SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0)"       \
    "   FROM pg_statio_all_indexes),"                                                              \
    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"              \
    " current_setting('default_transaction_read_only') = 'on',"                                    \
    " current_setting('server_version_num')::int,"                                                 \
    " CASE WHEN pg_is_in_recovery() OR"                                                            \
    "  current_setting('synchronous_standby_names') = '' THEN NULL"                                \
    "  ELSE (SELECT string_agg(application_name, ',' ORDER BY application_name) FROM"              \
    "   (SELECT DISTINCT application_name FROM pg_stat_replication"                                \
    "     WHERE sync_state IN ('sync', 'quorum') AND application_name ~ '^[A-Za-z0-9_.-]{1,63}$'"  \
    "     ORDER BY application_name LIMIT 8) s) END,"                                              \
    " (SELECT system_identifier FROM pg_control_system()),"                                        \
    " CASE WHEN inet_server_addr() << '127.0.0.0/8' OR inet_server_addr() = '::1' THEN 'loopback'" \
    "  ELSE host(inet_server_addr()) END,"                                                         \
    " current_setting('port')::int,"                                                               \
    " (SELECT setting FROM pg_settings WHERE name = 'data_directory'),"                            \
    " CASE WHEN pg_is_in_recovery() THEN NULL"                                                     \
    "  ELSE (SELECT string_agg(slot_name::text, ',' ORDER BY slot_name) FROM"                      \
    "   (SELECT slot_name FROM pg_replication_slots"                                               \
    "     WHERE left(slot_name::text, 4) = 'pgq_' AND wal_status = 'lost'"                         \
    "     ORDER BY slot_name LIMIT 8) l) END,"                                                     \
    " " may_set_slot                                                                               \
    ","                                                                                            \
    " (SELECT slot_name FROM pg_stat_wal_receiver),"                                               \
    " CASE WHEN pg_is_in_recovery() THEN NULL"                                                     \
    "  ELSE left(current_setting('synchronous_standby_names'), 575) END,"                          \
    " CASE WHEN pg_is_in_recovery() THEN NULL"                                                     \
    "  ELSE (SELECT string_agg(application_name, ',' ORDER BY application_name) FROM"              \
    "   (SELECT DISTINCT application_name FROM pg_stat_replication"                                \
    "     WHERE state = 'streaming' AND application_name ~ '^[A-Za-z0-9_.-]{1,63}$'"               \
    "     ORDER BY application_name LIMIT 16) r) END"

/* Whether the role may ALTER SYSTEM SET primary_slot_name: a superuser, or
 * (PostgreSQL 15) a role granted ALTER SYSTEM on the parameter, such as the
 * least-privilege role of docs/operations.md. has_parameter_privilege()
 * is unknown before 15, where the probe asks for a superuser. */
static const char probe_sql[] =
    PROBE_SQL("has_parameter_privilege('primary_slot_name', 'ALTER SYSTEM')");
static const char probe_sql_14[] = PROBE_SQL("current_setting('is_superuser') = 'on'");

/* The literals of PROBE_SQL above. */
_Static_assert(PGQ_SYNC_SETTING_MAX == 576, "probe_sql: left(..., 575)");
_Static_assert(PGQ_REPLICAS_MAX == 16, "probe_sql: LIMIT 16");

enum {
    COL_RECOVERY,
    COL_CURRENT,
    COL_RECEIVE,
    COL_REPLAY,
    COL_TIMELINE,
    COL_WR_STATUS,
    COL_UPSTREAM,
    COL_UPSTREAM_LSN,
    COL_CACHE,
    COL_INDEX,
    COL_CONNS,
    COL_READONLY,
    COL_VERSION,
    COL_SYNC,
    COL_SYSTEM_ID,
    COL_ADDR,
    COL_PORT,
    COL_DATA_DIR,
    COL_LOST_SLOTS,
    COL_MAY_SET_SLOT,
    COL_RECEIVER_SLOT,
    COL_SYNC_SETTING,
    COL_REPLICAS,
    N_COLS
};

const char *probe_query(int server_version)
{
    return server_version >= 150000 ? probe_sql : probe_sql_14;
}

static bool get_bool(PGresult *r, int col)
{
    return !PQgetisnull(r, 0, col) && PQgetvalue(r, 0, col)[0] == 't';
}

static int get_lsn(PGresult *r, int col, uint64_t *lsn)
{
    *lsn = 0;
    if (PQgetisnull(r, 0, col)) {
        return 0;
    }
    return pgq_lsn_parse(PQgetvalue(r, 0, col), lsn);
}

static int get_u32(PGresult *r, int col, uint32_t *v)
{
    char *end;
    unsigned long long x;
    *v = 0;
    if (PQgetisnull(r, 0, col)) {
        return 0;
    }
    x = strtoull(PQgetvalue(r, 0, col), &end, 10);
    if (*end != '\0' || x > UINT32_MAX) {
        return PGQ_MALFORMED;
    }
    *v = (uint32_t)x;
    return 0;
}

/* A bigint; `wrap`: a negative one is the unsigned value SQL cannot show
 * (system_identifier is an unsigned 64-bit number shown as bigint). */
static int get_u64(PGresult *r, int col, uint64_t *v, bool wrap)
{
    char *end;
    long long x;
    *v = 0;
    if (PQgetisnull(r, 0, col)) {
        return 0;
    }
    errno = 0;
    x = strtoll(PQgetvalue(r, 0, col), &end, 10);
    if (*end != '\0' || errno != 0 || (x < 0 && !wrap)) {
        return PGQ_MALFORMED;
    }
    *v = (uint64_t)x;
    return 0;
}

static int get_bp(PGresult *r, int col, uint32_t *bp)
{
    char *end;
    double v;
    *bp = PGQ_BP_NONE;
    if (PQgetisnull(r, 0, col)) {
        return 0;
    }
    v = strtod(PQgetvalue(r, 0, col), &end);
    if (*end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        return PGQ_MALFORMED;
    }
    *bp = (uint32_t)(v * 10000.0 + 0.5);
    return 0;
}

/* How the node stands with its own slot: its role may not be told to use
 * one, or it streams with it, or without it. */
static int slot_use(const struct probe_target *t, PGresult *r, const struct obs *o)
{
    char own[PGQ_SLOT_NAME_MAX];
    if (!get_bool(r, COL_MAY_SET_SLOT)) {
        return PGQ_SLOT_USE_DENIED;
    }
    if (!o->in_recovery || !o->streaming) {
        return PGQ_SLOT_USE_UNKNOWN;
    }
    pgq_slot_name(t->node, own, sizeof own);
    return !PQgetisnull(r, 0, COL_RECEIVER_SLOT) &&
                   strcmp(PQgetvalue(r, 0, COL_RECEIVER_SLOT), own) == 0
               ? PGQ_SLOT_USE_OWN
               : PGQ_SLOT_USE_NONE;
}

/* A comma-separated list of names: too long for buf is malformed. */
static int get_list(PGresult *r, int col, char *buf, size_t size)
{
    buf[0] = '\0';
    if (PQgetisnull(r, 0, col)) {
        return 0;
    }
    return pgq_strlcpy(buf, PQgetvalue(r, 0, col), size) >= size ? PGQ_MALFORMED : 0;
}

/* Turn the probe's row into an observation; a node answering nonsense is a
 * failed probe, never a crash or a guess. */
int probe_parse_row(struct probe_target *t, PGresult *r, struct obs *o, char *why, size_t size)
{
    int bad = 0;
    memset(o, 0, sizeof *o);
    if (PQntuples(r) != 1 || PQnfields(r) != N_COLS) {
        snprintf(why, size, "unexpected probe result shape (%d rows, %d columns)", PQntuples(r),
                 PQnfields(r));
        return PGQ_MALFORMED;
    }
    pgq_strlcpy(o->node, t->node, sizeof o->node);
    o->reachable = true;
    o->in_recovery = get_bool(r, COL_RECOVERY);
    bad |= get_lsn(r, COL_CURRENT, &o->current_lsn);
    bad |= get_lsn(r, COL_RECEIVE, &o->receive_lsn);
    bad |= get_lsn(r, COL_REPLAY, &o->replay_lsn);
    bad |= get_u32(r, COL_TIMELINE, &o->timeline);
    o->streaming = !PQgetisnull(r, 0, COL_WR_STATUS) &&
                   strcmp(PQgetvalue(r, 0, COL_WR_STATUS), "streaming") == 0;
    if (!PQgetisnull(r, 0, COL_UPSTREAM)) {
        pgq_strlcpy(o->upstream, PQgetvalue(r, 0, COL_UPSTREAM), sizeof o->upstream);
        pgq_one_line(o->upstream);
    }
    bad |= get_lsn(r, COL_UPSTREAM_LSN, &o->upstream_lsn);
    bad |= get_bp(r, COL_CACHE, &o->cache_hit_bp);
    bad |= get_bp(r, COL_INDEX, &o->index_hit_bp);
    bad |= get_u32(r, COL_CONNS, &o->connections);
    o->read_only = get_bool(r, COL_READONLY);
    bad |= get_u32(r, COL_VERSION, &o->server_version);
    bad |= get_list(r, COL_SYNC, o->sync_standbys, sizeof o->sync_standbys);
    bad |= get_u64(r, COL_SYSTEM_ID, &o->system_id, true);
    if (!PQgetisnull(r, 0, COL_ADDR)) {
        o->addr_hash = pgq_fnv1a(PQgetvalue(r, 0, COL_ADDR));
    }
    bad |= get_u32(r, COL_PORT, &o->port);
    if (!PQgetisnull(r, 0, COL_DATA_DIR)) {
        o->data_dir_hash = pgq_fnv1a(PQgetvalue(r, 0, COL_DATA_DIR));
    }
    bad |= get_list(r, COL_LOST_SLOTS, o->lost_slots, sizeof o->lost_slots);
    o->slot_use = slot_use(t, r, o);
    if (!PQgetisnull(r, 0, COL_SYNC_SETTING)) {
        pgq_strlcpy(o->sync_setting, PQgetvalue(r, 0, COL_SYNC_SETTING), sizeof o->sync_setting);
        pgq_one_line(o->sync_setting);
    }
    if (!PQgetisnull(r, 0, COL_REPLICAS) && pgq_strlcpy(o->replicas, PQgetvalue(r, 0, COL_REPLICAS),
                                                        sizeof o->replicas) >= sizeof o->replicas) {
        bad = 1;
    }
    o->probed_ms = t->started_ms;
    o->basis_seq = t->basis_seq;
    if (bad != 0) {
        snprintf(why, size, "node answered a malformed probe result");
        return PGQ_MALFORMED;
    }
    return 0;
}
