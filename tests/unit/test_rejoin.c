/* Unit tests of agent/rejoin.c: when a node agent rewinds or clones its
 * node (rejoin_next), the postgresql.auto.conf it writes, what it reads from
 * pg_controldata and pg_waldump (real PostgreSQL 15 output), WAL segment
 * names, the local settings of a clone, and the name of a node's slot
 * (pgq_slot_name, agent/cluster.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "lib/util.h"
#include "rejoin.h"

/* ---- rejoin_next ---------------------------------------------------------------------- */

enum {
    V_REPLY = 1 << 0,      /* have_reply */
    V_REG = 1 << 1,        /* registered */
    V_PRIMARY = 1 << 2,    /* the quorum says it is the primary */
    V_FOLLOW = 1 << 3,     /* a settled primary to follow */
    V_DEMOTED = 1 << 4,    /* demoted */
    V_EMPTY = 1 << 5,      /* no PG_VERSION */
    V_STANDBY = 1 << 6,    /* standby.signal */
    V_DOWN = 1 << 7,       /* down, not started as it is */
    V_RUNNING_SB = 1 << 8, /* runs, in recovery */
    V_FAILED = 1 << 9,     /* this rejoin's rewind failed */
};

/* Heard from the leader, registered, a primary to follow. */
#define V_OK (V_REPLY | V_REG | V_FOLLOW)

struct next_case
{
    const char *behaviour;
    int mode;
    unsigned flags;
    uint64_t not_streaming_ms;
    int action;
    const char *why;
};

#define FORMER "a former primary: it would start writable but is not the primary"
#define DIVERGED "its WAL diverged from the primary's"

static void test_rejoin_next(void **ctx)
{
    /* The agent moves its data directory only on the word of the quorum, never as the primary of
     * the epoch, only from a settled primary: an empty one is cloned, a former primary that is
     * down or a demoted standby that is down or does not stream is rewound, one that cannot be
     * rewound is cloned (or left to an operator), and `off` leaves everything to an operator. */
    static const struct next_case cases[] = {
        {"No reply from a leader: nothing, whatever the data directory.", REJOIN_REWIND_OR_CLONE,
         V_REG | V_FOLLOW | V_DOWN, 0, RJ_ACT_NONE, ""},
        {"A reply from no leader of the node (unregistered): nothing.", REJOIN_REWIND_OR_CLONE,
         V_REPLY | V_FOLLOW | V_DOWN | V_DEMOTED, 0, RJ_ACT_NONE, ""},
        {"The primary of the epoch, down and writable, is never rewound.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_PRIMARY | V_DOWN, 0, RJ_ACT_NONE, ""},
        {"The primary of the epoch, empty, is never cloned.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_PRIMARY | V_EMPTY, 0, RJ_ACT_NONE, ""},
        {"An empty data directory is cloned from the primary.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_EMPTY, 0, RJ_ACT_CLONE, "the data directory is empty"},
        {"An empty data directory is cloned with rejoin = manual too.", REJOIN_MANUAL,
         V_OK | V_EMPTY, 0, RJ_ACT_CLONE, "the data directory is empty"},
        {"An empty data directory waits for an operator with rejoin = off.", REJOIN_OFF,
         V_OK | V_EMPTY, 0, RJ_ACT_WAIT, "the data directory is empty and rejoin = off"},
        {"With rejoin = off an empty one waits for an operator even with no primary.", REJOIN_OFF,
         V_REPLY | V_REG | V_EMPTY, 0, RJ_ACT_WAIT, "the data directory is empty and rejoin = off"},
        {"An empty data directory with no primary to follow waits for one.", REJOIN_REWIND_OR_CLONE,
         V_REPLY | V_REG | V_EMPTY, 0, RJ_ACT_NONE,
         "the data directory is empty: waiting for a primary to clone"},
        {"A former primary that is down is rewound.", REJOIN_REWIND_OR_CLONE, V_OK | V_DOWN, 0,
         RJ_ACT_REWIND, FORMER},
        {"A former primary that is down is rewound with rejoin = manual.", REJOIN_MANUAL,
         V_OK | V_DOWN, 0, RJ_ACT_REWIND, FORMER},
        {"A former primary, demoted, down: rewound, the reason its own.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_DOWN | V_DEMOTED, 0, RJ_ACT_REWIND, FORMER},
        {"A demoted standby that is down is rewound.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_DEMOTED | V_STANDBY | V_DOWN, 0, RJ_ACT_REWIND, DIVERGED},
        {"A standby that is down but not demoted is left to start as it is.",
         REJOIN_REWIND_OR_CLONE, V_OK | V_STANDBY | V_DOWN, 0, RJ_ACT_NONE, ""},
        {"A demoted standby that runs is given REJOIN_GRACE_MS to stream.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_DEMOTED | V_STANDBY | V_RUNNING_SB, REJOIN_GRACE_MS - 1, RJ_ACT_NONE, ""},
        {"A demoted standby that ran REJOIN_GRACE_MS without streaming is rewound.",
         REJOIN_REWIND_OR_CLONE, V_OK | V_DEMOTED | V_STANDBY | V_RUNNING_SB, REJOIN_GRACE_MS,
         RJ_ACT_REWIND, DIVERGED},
        {"A standby not demoted is never rewound for not streaming.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_STANDBY | V_RUNNING_SB, 100 * REJOIN_GRACE_MS, RJ_ACT_NONE, ""},
        {"A node that runs out of recovery (not a running standby) is not touched.",
         REJOIN_REWIND_OR_CLONE, V_OK | V_DEMOTED, 100 * REJOIN_GRACE_MS, RJ_ACT_NONE, ""},
        {"One that cannot be rewound is cloned with rewind-or-clone.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_DOWN | V_FAILED, 0, RJ_ACT_CLONE, "it cannot be rewound"},
        {"One that cannot be rewound waits for an operator with rejoin = manual.", REJOIN_MANUAL,
         V_OK | V_DOWN | V_FAILED, 0, RJ_ACT_WAIT, "it cannot be rewound and rejoin = manual"},
        {"A failed rewind of a node that needs none any more: nothing.", REJOIN_REWIND_OR_CLONE,
         V_OK | V_STANDBY | V_DOWN | V_FAILED, 0, RJ_ACT_NONE, ""},
        {"With rejoin = off a former primary waits for an operator, saying why.", REJOIN_OFF,
         V_OK | V_DOWN, 0, RJ_ACT_WAIT, FORMER "; rejoin = off"},
        {"With rejoin = off a diverged standby waits even with no primary to follow.", REJOIN_OFF,
         V_REPLY | V_REG | V_DEMOTED | V_STANDBY | V_DOWN, 0, RJ_ACT_WAIT,
         DIVERGED "; rejoin = off"},
        {"A former primary with no settled primary waits for one.", REJOIN_REWIND_OR_CLONE,
         V_REPLY | V_REG | V_DOWN, 0, RJ_ACT_NONE,
         "waiting for a primary to follow (none settled)"},
        {"A failed rewind with no settled primary waits for one, clones nothing.",
         REJOIN_REWIND_OR_CLONE, V_REPLY | V_REG | V_DOWN | V_FAILED, 0, RJ_ACT_NONE,
         "waiting for a primary to follow (none settled)"},
        {"A demoted standby not streaming, with no settled primary: waits.", REJOIN_REWIND_OR_CLONE,
         V_REPLY | V_REG | V_DEMOTED | V_STANDBY | V_RUNNING_SB, REJOIN_GRACE_MS, RJ_ACT_NONE,
         "waiting for a primary to follow (none settled)"},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const struct next_case *k = &cases[i];
        struct rejoin_view v;
        char why[PGQ_REASON_MAX];
        int act;
        memset(&v, 0, sizeof v);
        v.mode = k->mode;
        v.have_reply = (k->flags & V_REPLY) != 0;
        v.registered = (k->flags & V_REG) != 0;
        v.primary = (k->flags & V_PRIMARY) != 0;
        v.can_follow = (k->flags & V_FOLLOW) != 0;
        v.demoted = (k->flags & V_DEMOTED) != 0;
        v.empty = (k->flags & V_EMPTY) != 0;
        v.standby = (k->flags & V_STANDBY) != 0;
        v.down = (k->flags & V_DOWN) != 0;
        v.running_standby = (k->flags & V_RUNNING_SB) != 0;
        v.rewind_failed = (k->flags & V_FAILED) != 0;
        v.not_streaming_ms = k->not_streaming_ms;
        memset(why, 'x', sizeof why);
        why[sizeof why - 1] = '\0'; /* what an earlier call left */
        act = rejoin_next(&v, why, sizeof why);
        if (act != k->action || strcmp(why, k->why) != 0) {
            fail_msg("%s\n  action %d \"%s\"\n  want   %d \"%s\"", k->behaviour, act, why,
                     k->action, k->why);
        }
    }
}

static void test_rejoin_next_why_fits(void **ctx)
{
    /* The reason is cut to the buffer it is given, never past it. */
    struct rejoin_view v;
    char why[12];
    (void)ctx;
    memset(&v, 0, sizeof v);
    v.have_reply = v.registered = v.can_follow = v.down = true;
    memset(why, 'x', sizeof why);
    assert_int_equal(rejoin_next(&v, why, 8), RJ_ACT_REWIND);
    assert_string_equal(why, "a forme");
    assert_int_equal(why[8], 'x');
}

/* ---- rejoin_conf_rewrite ------------------------------------------------------------------ */

#define AUTO_HEAD                         \
    "# Do not edit this file manually!\n" \
    "# It will be overwritten by the ALTER SYSTEM command.\n"

static void test_conf_rewrite(void **ctx)
{
    /* Every line that sets one of the keys goes, whatever its case and indentation; every other
     * line stays byte for byte (comments, keys that merely begin alike, commented-out settings);
     * each setting with a value is appended once, its quotes doubled; a setting without a value
     * is only removed. */
    static const struct conf_setting set[] = {
        {"primary_conninfo", "host=10.0.1.2 port=5432 user=rep application_name='pg1'"},
        {"primary_slot_name", NULL},
        {"restore_command", "cp /archive/%f %p"},
    };
    static const struct
    {
        const char *behaviour;
        const char *old;
        unsigned n;
        const char *want;
    } cases[] = {
        {"A file written by ALTER SYSTEM and pg_basebackup: the old settings replaced.",
         AUTO_HEAD "primary_conninfo = 'host=10.0.1.1 port=5432 user=rep'\n"
                   "primary_slot_name = 'pgq_pg1'\n"
                   "default_transaction_read_only = 'on'\n",
         3,
         AUTO_HEAD "default_transaction_read_only = 'on'\n"
                   "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep "
                   "application_name=''pg1'''\n"
                   "restore_command = 'cp /archive/%f %p'\n"},
        {"Keys in any case, after spaces or tabs, without spaces around '=': removed.",
         "  PRIMARY_CONNINFO = 'a'\n\tPrimary_Slot_Name='b'\nrestore_command='c'\n", 3,
         "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep application_name=''pg1'''\n"
         "restore_command = 'cp /archive/%f %p'\n"},
        {"Keys that only begin like one, comments and blank lines stay exactly.",
         "# primary_conninfo = 'commented out'\n"
         "primary_conninfo_x = 1\n"
         "\n"
         "  # restore_command = 'x'\n"
         "primary_slot_names = 'y'  # trailing comment\n",
         2,
         "# primary_conninfo = 'commented out'\n"
         "primary_conninfo_x = 1\n"
         "\n"
         "  # restore_command = 'x'\n"
         "primary_slot_names = 'y'  # trailing comment\n"
         "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep application_name=''pg1'''\n"},
        {"A last line without its newline is kept, ended.", "work_mem = '8MB'", 1,
         "work_mem = '8MB'\n"
         "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep application_name=''pg1'''\n"},
        {"A line ending in CR LF (edited elsewhere) that sets a key is removed too.",
         "primary_slot_name = 'old'\r\nport = 5433\r\n", 2,
         "port = 5433\r\n"
         "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep application_name=''pg1'''\n"},
        {"No old file: the settings alone.", NULL, 3,
         "primary_conninfo = 'host=10.0.1.2 port=5432 user=rep application_name=''pg1'''\n"
         "restore_command = 'cp /archive/%f %p'\n"},
        {"No settings: the old file as it was.", AUTO_HEAD "port = '5433'\n", 0,
         AUTO_HEAD "port = '5433'\n"},
        {"An empty old file and only removals: empty.", "", 0, ""},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char out[1024];
        int rv = rejoin_conf_rewrite(cases[i].old, set, cases[i].n, out, sizeof out);
        if (rv != 0 || strcmp(out, cases[i].want) != 0) {
            fail_msg("%s\n  rv %d\n  got  \"%s\"\n  want \"%s\"", cases[i].behaviour, rv, out,
                     cases[i].want);
        }
    }
}

static void test_conf_rewrite_refused(void **ctx)
{
    /* A value with a newline or a carriage return would set another key than its own: refused;
     * a result that does not fit is refused as too big, one that fits exactly is written. */
    static const char *const bad[] = {"host=a\nport = 1", "x\r", "\n"};
    static const char old[] = "work_mem = '8MB'\n";
    static const char want[] = "work_mem = '8MB'\nport = '5433'\n";
    struct conf_setting s;
    char out[64];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(bad); i++) {
        s = (struct conf_setting){"primary_conninfo", bad[i]};
        assert_int_equal(rejoin_conf_rewrite(old, &s, 1, out, sizeof out), PGQ_INVALID);
    }
    s = (struct conf_setting){"port", "5433"};
    assert_int_equal(rejoin_conf_rewrite(old, &s, 1, out, sizeof want), 0);
    assert_string_equal(out, want);
    for (size_t size = 1; size < sizeof want; size++) {
        memset(out, 'x', sizeof out);
        if (rejoin_conf_rewrite(old, &s, 1, out, size) != PGQ_TOOBIG) {
            fail_msg("size %zu: not refused as too big", size);
        }
        /* Never a byte past the buffer, and what is in it is a string. */
        assert_int_equal(out[size], 'x');
        assert_true(memchr(out, '\0', size) != NULL);
    }
}

/* ---- rejoin_rewindable: pg_controldata of PostgreSQL 15 ------------------------------------ */

/* The lines of `pg_controldata -D` around the two that matter (initdb of PostgreSQL 15.x). */
#define CTL_HEAD                                                  \
    "pg_control version number:            1300\n"                \
    "Catalog version number:               202209061\n"           \
    "Database system identifier:           7714564609886861830\n" \
    "Database cluster state:               shut down\n"           \
    "Latest checkpoint's TimeLineID:       1\n"                   \
    "Latest checkpoint's PrevTimeLineID:   1\n"                   \
    "wal_level setting:                    replica\n"
#define CTL_MID                                               \
    "max_connections setting:              100\n"             \
    "Bytes per WAL segment:                16777216\n"        \
    "Date/time type storage:               64-bit integers\n" \
    "Float8 argument passing:              by value\n"
#define CTL_TAIL                             \
    "Mock authentication nonce:            " \
    "c4cbee48b0a95df131620d0e8d96e902fcaf2aafefdf359127dd0be693702800\n"
#define CTL(hints, sums)                                                 \
    CTL_HEAD "wal_log_hints setting:                " hints "\n" CTL_MID \
             "Data page checksum version:           " sums "\n" CTL_TAIL

static void test_rewindable(void **ctx)
{
    /* pg_rewind is refused only when pg_controldata says both that wal_log_hints is off and
     * that the data directory has no checksums (the reason is given); what it does not say is
     * no reason to refuse. */
    static const struct
    {
        const char *text;
        bool rewindable;
    } cases[] = {
        {CTL("on", "0"), true},
        {CTL("off", "1"), true},
        {CTL("on", "1"), true},
        {CTL("off", "0"), false},
        {CTL_HEAD CTL_MID CTL_TAIL, true},                                      /* neither */
        {CTL_HEAD "wal_log_hints setting:                off\n" CTL_MID, true}, /* no checksums */
        {CTL_HEAD CTL_MID "Data page checksum version:           0\n", true},   /* no hints */
        {"", true},
        {"pg_controldata: fatal: could not open file \"global/pg_control\" for reading: No such "
         "file or directory\n",
         true},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char why[PGQ_REASON_MAX];
        memset(why, 'x', sizeof why);
        why[sizeof why - 1] = '\0';
        if (rejoin_rewindable(cases[i].text, why, sizeof why) != cases[i].rewindable) {
            fail_msg("case %zu: %s", i, cases[i].rewindable ? "not rewindable" : "rewindable");
        }
        if (cases[i].rewindable) {
            assert_string_equal(why, "");
        } else {
            assert_string_equal(why,
                                "pg_rewind is impossible: wal_log_hints is off and the data "
                                "directory has no data checksums");
        }
    }
}

/* ---- rejoin_waldump_line: pg_waldump of PostgreSQL 15 -------------------------------------- */

static void test_waldump_line(void **ctx)
{
    /* A record line of pg_waldump gives its position and whether it commits a transaction;
     * pg_waldump's other lines (its notices and errors) are no record. */
    static const struct
    {
        const char *line;
        bool record;
        uint64_t lsn;
        bool commit;
    } cases[] = {
        {"rmgr: Transaction len (rec/tot):     34/    34, tx:        725, lsn: 0/015168E8, prev "
         "0/01516828, desc: COMMIT 2026-12-02 04:50:53.560883 UTC",
         true, 0x015168E8, true},
        {"rmgr: Transaction len (rec/tot):    405/   405, tx:        724, lsn: 0/01516618, prev "
         "0/015165D8, desc: COMMIT 2026-12-02 04:50:49.301521 UTC; inval msgs: catcache 80 "
         "catcache 79 snapshot 2608 relcache 16384",
         true, 0x01516618, true},
        {"rmgr: Heap        len (rec/tot):     54/   186, tx:        725, lsn: 0/01516828, prev "
         "0/015167B0, desc: INSERT off 3 flags 0x00, blkref #0: rel 1663/5/16384 blk 0 FPW",
         true, 0x01516828, false},
        {"rmgr: Transaction len (rec/tot):     34/    34, tx:        726, lsn: 0/01516950, prev "
         "0/01516910, desc: ABORT 2026-12-02 04:50:53.561746 UTC",
         true, 0x01516950, false},
        {"rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/01516978, prev "
         "0/01516950, desc: CHECKPOINT_SHUTDOWN redo 0/1516978; tli 1; prev tli 1; fpw true; xid "
         "0:727; oid 16387; multi 1; offset 0; oldest xid 716 in DB 1; oldest multi 1 in DB 1; "
         "oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown",
         true, 0x01516978, false},
        /* The same record beyond 4 GB of WAL: both halves of the position. */
        {"rmgr: Transaction len (rec/tot):     34/    34, tx:        725, lsn: 1A/FF0168E8, prev "
         "1A/FF016828, desc: COMMIT 2026-12-02 04:50:53.560883 UTC",
         true, 0x1AFF0168E8ull, true},
        {"first record is after 0/1500700, at 0/1500718, skipping over 24 bytes", false, 0, false},
        {"pg_waldump: error: error in WAL record at 0/1516978: invalid record length at "
         "0/15169F0: wanted 24, got 0",
         false, 0, false},
        {"pg_waldump: error: could not find file \"000000010000000000000003\": No such file or "
         "directory",
         false, 0, false},
        {"rmgr: Heap len (rec/tot): 54/186, tx: 725, prev 0/015167B0, desc: INSERT", false, 0,
         false},
        {"", false, 0, false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        uint64_t lsn = 7;
        bool commit = false;
        bool record = rejoin_waldump_line(cases[i].line, &lsn, &commit);
        if (record != cases[i].record) {
            fail_msg("case %zu: %s \"%s\"", i, record ? "a record:" : "no record:", cases[i].line);
        }
        if (record) {
            assert_int_equal(lsn, cases[i].lsn);
            assert_int_equal(commit, cases[i].commit);
        } else {
            assert_int_equal(lsn, 7); /* untouched */
        }
    }
}

/* ---- rejoin_wal_segment ------------------------------------------------------------------------
 */

static void test_wal_segment(void **ctx)
{
    /* A WAL segment file's name gives its timeline and segment number for the segment size;
     * anything else in pg_wal (history files, partial segments, archive_status, lowercase hex, a
     * segment number the size does not allow) is no segment. */
    static const struct
    {
        const char *name;
        uint64_t seg_size;
        bool ok;
        uint32_t tli;
        uint64_t segno;
    } cases[] = {
        {"000000010000000000000003", 16u << 20, true, 1, 3},
        {"00000002000000010000000A", 16u << 20, true, 2, 256 + 10},
        {"0000000A00000000000000FF", 16u << 20, true, 10, 255},
        {"FFFFFFFF0000FFFF000000FF", 16u << 20, true, 0xFFFFFFFFu, 0xFFFFull * 256 + 255},
        {"000000010000000000000100", 16u << 20, false, 0, 0}, /* 256 segments per id */
        {"0000000100000000FFFFFFFF", 16u << 20, false, 0, 0},
        {"000000010000000200000003", 1u << 30, true, 1, 2 * 4 + 3},
        {"000000010000000000000004", 1u << 30, false, 0, 0}, /* 4 segments of 1 GB per id */
        {"000000010000000000000003", 1u << 20, true, 1, 3},
        {"000000010000000000000003", 0, false, 0, 0},
        {"00000001000000000000000a", 16u << 20, false, 0, 0},
        {"00000001000000000000000", 16u << 20, false, 0, 0},
        {"0000000100000000000000030", 16u << 20, false, 0, 0},
        {"000000010000000000000003.partial", 16u << 20, false, 0, 0},
        {"00000002.history", 16u << 20, false, 0, 0},
        {"archive_status", 16u << 20, false, 0, 0},
        {"0000000100000000000000G3", 16u << 20, false, 0, 0},
        {" 00000001000000000000003", 16u << 20, false, 0, 0},
        {"", 16u << 20, false, 0, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        uint32_t tli = 77;
        uint64_t segno = 77;
        bool ok = rejoin_wal_segment(cases[i].name, cases[i].seg_size, &tli, &segno);
        if (ok != cases[i].ok) {
            fail_msg("case %zu \"%s\": %s", i, cases[i].name, ok ? "a segment" : "no segment");
        }
        if (ok) {
            assert_int_equal(tli, cases[i].tli);
            assert_int_equal(segno, cases[i].segno);
        } else {
            assert_int_equal(tli, 77);
            assert_int_equal(segno, 77);
        }
    }
}

/* ---- rejoin_conninfo_local --------------------------------------------------------------------
 */

static void test_conninfo_local(void **ctx)
{
    /* A clone listens where its node is registered: the port of a conninfo (5432 when it names
     * none), and its host only when that is a socket directory; a conninfo that does not parse
     * gives neither. */
    static const struct
    {
        const char *conninfo;
        const char *port, *sockdir;
    } cases[] = {
        {"host=10.0.0.21 port=5433 user=pgquorum dbname=postgres", "5433", ""},
        {"host=10.0.0.21 user=pgquorum dbname=postgres", "5432", ""},
        {"host=/var/run/postgresql port=6000 user=pgquorum", "6000", "/var/run/postgresql"},
        {"host=/tmp user=pgquorum", "5432", "/tmp"},
        {"host=db1.example.com port=5434", "5434", ""},
        {"postgresql://10.0.0.1:5444/app", "5444", ""},
        {"postgresql://%2Fvar%2Frun%2Fpostgresql:5435/app", "5435", "/var/run/postgresql"},
        {"port=5436", "5436", ""},
        {"host='unterminated", "", ""},
        {"nonsense", "", ""},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        char port[8], sockdir[PGQ_PATH_MAX];
        memset(port, 'x', sizeof port);
        memset(sockdir, 'x', sizeof sockdir);
        rejoin_conninfo_local(cases[i].conninfo, port, sizeof port, sockdir, sizeof sockdir);
        if (strcmp(port, cases[i].port) != 0 || strcmp(sockdir, cases[i].sockdir) != 0) {
            fail_msg("\"%s\": port \"%s\" socket directory \"%s\", want \"%s\" \"%s\"",
                     cases[i].conninfo, port, sockdir, cases[i].port, cases[i].sockdir);
        }
    }
    {
        /* Cut to small buffers, never past them. */
        char port[3], sockdir[6];
        rejoin_conninfo_local("host=/var/run/postgresql port=6000", port, sizeof port, sockdir,
                              sizeof sockdir);
        assert_string_equal(port, "60");
        assert_string_equal(sockdir, "/var/");
    }
}

/* ---- pgq_slot_name ------------------------------------------------------------------------------
 */

static void test_slot_name(void **ctx)
{
    /* A node's slot is "pgq_" and its name lowercased, every character outside [a-z0-9_] as '_',
     * at most 63 bytes (a slot name's limit), cut to the buffer given. */
    static const struct
    {
        const char *node;
        size_t size;
        const char *slot;
    } cases[] = {
        {"pg1", PGQ_NAME_MAX, "pgq_pg1"},
        {"PG1", PGQ_NAME_MAX, "pgq_pg1"},
        {"db-east.2", PGQ_NAME_MAX, "pgq_db_east_2"},
        {"Node_Z9", PGQ_NAME_MAX, "pgq_node_z9"},
        {"a b\xc3\xa9", PGQ_NAME_MAX, "pgq_a_b__"}, /* bytes of a UTF-8 letter, one '_' each */
        {"", PGQ_NAME_MAX, "pgq_"},
        /* 63 characters, a node name's longest: the slot keeps its first 59. */
        {"n23456789012345678901234567890123456789012345678901234567890123", PGQ_NAME_MAX,
         "pgq_n2345678901234567890123456789012345678901234567890123456789"},
        {"n23456789012345678901234567890123456789012345678901234567890123", 128,
         "pgq_n2345678901234567890123456789012345678901234567890123456789"},
        {"pg1", 6, "pgq_p"},
        {"pg1", 5, "pgq_"},
        {"pg1", 3, "pg"},
        {"pg1", 1, ""},
    };
    char out[160];
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        memset(out, 'x', sizeof out);
        pgq_slot_name(cases[i].node, out, cases[i].size);
        if (strcmp(out, cases[i].slot) != 0) {
            fail_msg("\"%s\" in %zu bytes: \"%s\", want \"%s\"", cases[i].node, cases[i].size, out,
                     cases[i].slot);
        }
        assert_int_equal(out[cases[i].size], 'x');
    }
    assert_int_equal(strlen("pgq_n2345678901234567890123456789012345678901234567890123456789"), 63);
    memset(out, 'x', sizeof out);
    pgq_slot_name("pg1", out, 0); /* nothing to write into */
    assert_int_equal(out[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejoin_next),  cmocka_unit_test(test_rejoin_next_why_fits),
        cmocka_unit_test(test_conf_rewrite), cmocka_unit_test(test_conf_rewrite_refused),
        cmocka_unit_test(test_rewindable),   cmocka_unit_test(test_waldump_line),
        cmocka_unit_test(test_wal_segment),  cmocka_unit_test(test_conninfo_local),
        cmocka_unit_test(test_slot_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
