/* SQL fragments shared by the probe and the actuator: one wording of what
 * a PostgreSQL server is asked, wherever it is asked. */
#ifndef PGQ_PGSQL_H
#define PGQ_PGSQL_H

/* The timeline of a standby's WAL, as well as SQL can tell. Every source is
 * a lower bound of the truth: the walreceiver's timeline (only while it
 * runs), the last restartpoint's and the minimum recovery point's (they can
 * stay on the old timeline for minutes after a switch). Their greatest is
 * the best lower bound any role may read. */
#define PGQ_SQL_STANDBY_TLI                                     \
    "GREATEST((SELECT received_tli FROM pg_stat_wal_receiver)," \
    " (pg_control_checkpoint()).timeline_id,"                   \
    " (pg_control_recovery()).min_recovery_end_timeline)"

/* The same, exact: with the newest timeline among the WAL segments in
 * pg_wal. pg_ls_waldir needs pg_monitor (superusers have it), and a
 * statement that names it fails for other roles even where it would not
 * run it: ask only when PGQ_SQL_HAS_WALDIR said yes. */
#define PGQ_SQL_STANDBY_TLI_WALDIR                                                \
    "GREATEST(" PGQ_SQL_STANDBY_TLI                                               \
    ","                                                                           \
    " (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir()" \
    "   WHERE name ~ '^[0-9A-F]{24}$'))"
#define PGQ_SQL_HAS_WALDIR "SELECT pg_has_role('pg_monitor', 'USAGE')"

/* Where a cut standby's primary_conninfo points: a Unix-socket directory
 * that does not exist, so that its walreceiver fails at once (and says why
 * in its log) while every other setting of the conninfo (user, passfile,
 * sslmode, application_name...) stays for the repoint to keep. */
#define PGQ_CUT_HOST "/pgquorum-cut-off-the-old-primary"

/* The timeline a primary writes: from its current WAL file's name. */
#define PGQ_SQL_PRIMARY_TLI \
    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"

#endif /* PGQ_PGSQL_H */
