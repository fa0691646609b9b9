/* Unit tests of the JSON renderer (agent/render_json.c): the status, node
 * and events documents of states built with builders.h parse back with
 * the documented keys, order and values; null and absent members; texts
 * that are not clean (quotes, control characters, bytes that are not
 * UTF-8); the one output format; and out of memory at any allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builders.h"
#include "members.h"
#include "cluster.h"
#include "lib/util.h"
#include "render.h"

static const char *const two_standbys[] = {"pg2", "pg3"};

/* ---- helpers ---------------------------------------------------------------------- */

/* doc as its text parsed back (what a program reading it gets); the doc
 * is consumed. */
static json_t *reparse(json_t *doc)
{
    json_error_t err;
    char *text;
    json_t *back;
    assert_non_null(doc);
    text = render_json_dumps(doc);
    assert_non_null(text);
    back = json_loads(text, 0, &err);
    if (back == NULL) {
        fail_msg("does not parse: %s: %s", err.text, text);
    }
    free(text);
    json_decref(doc);
    return back;
}

/* The keys of object o, in order, are the comma-separated list want. */
static void assert_keys(const json_t *o, const char *want)
{
    char got[2048] = "";
    const char *key;
    json_t *v;
    assert_true(json_is_object(o));
    json_object_foreach((json_t *)o, key, v)
    {
        pgq_appendf(got, sizeof got, "%s%s", got[0] ? "," : "", key);
    }
    assert_string_equal(got, want);
}

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        fail_msg("%s is not a string", key);
    }
    return json_string_value(v);
}

static long long int_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        fail_msg("%s is not an integer", key);
    }
    return json_integer_value(v);
}

static void assert_null_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_null(v)) {
        fail_msg("%s is %s, want null", key, v == NULL ? "absent" : "not null");
    }
}

static void assert_absent(const json_t *o, const char *key)
{
    if (json_object_get(o, key) != NULL) {
        fail_msg("%s is present, want it absent", key);
    }
}

/* pg1 primary, pg2 and pg3 standbys seen by monitors 1..3, feature level
 * 3, pg1's agent up. */
static void healthy(struct state *s)
{
    struct agent_facts f = b_agent_facts(true);
    b_healthy(s, 1000, 3, "pg1", 0x1000, two_standbys, 2);
    b_feature_level(s, 1000);
    b_agent(s, 1200, "pg1", &f);
}

/* Monitor 1 leading and reachable; monitor 2 never heard of (no API
 * address known), catching up as a standby. */
static void two_rows(struct monitor_row *rows)
{
    memset(rows, 0, 2 * sizeof *rows);
    rows[0].id = 1;
    rows[0].reachable = true;
    pgq_strlcpy(rows[0].api_address, "10.0.0.1:7002", sizeof rows[0].api_address);
    pgq_strlcpy(rows[0].raft_address, "10.0.0.1:7001", sizeof rows[0].raft_address);
    rows[0].info.role = PGQ_MON_LEADER;
    rows[0].info.term = 3;
    rows[0].info.commit_index = 40;
    rows[0].info.applied_index = 39;
    rows[0].info.ready = true;
    rows[0].info.rss_kb = 9000;
    pgq_strlcpy(rows[0].info.version, "0.1.0", sizeof rows[0].info.version);
    rows[0].raft_role = MEMBERS_ROLE_VOTER;
    rows[1].id = 2;
    rows[1].raft_role = MEMBERS_ROLE_STANDBY; /* on its way in */
    pgq_strlcpy(rows[1].raft_address, "10.0.0.2:7001", sizeof rows[1].raft_address);
}

static json_t *status_of(const struct state *s, const char *cluster)
{
    struct monitor_row rows[2];
    two_rows(rows);
    return reparse(render_status_doc(s, rows, 2, 1, cluster));
}

static const json_t *node_at(const json_t *st, const char *name)
{
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(st, "nodes"), i, n)
    {
        if (strcmp(str_at(n, "name"), name) == 0) {
            return n;
        }
    }
    fail_msg("no node %s", name);
    return NULL;
}

#define NODE_KEYS_HEAD                                                                   \
    "name,cluster,conninfo,priority,maintenance,maintenance_allow_failover,role,health," \
    "health_since,alert_writable,twin_of,system_id,identity_refused,rejoin,agent"
#define NODE_KEYS_TAIL                                                                \
    "slot,fenced_epoch,following_epoch,replication_quorum,sync_standbys,in_recovery," \
    "timeline,lsn,lsn_bytes,receive_lsn,replay_lsn,streaming,upstream,upstream_lsn,"  \
    "replay_lag_bytes,read_only,cache_hit_rate,index_hit_rate,connections,lag_bytes," \
    "observed_at,views"

/* ---- status ------------------------------------------------------------------------ */

static void test_status_doc_healthy(void **ctx)
{
    /* The status document of a healthy cluster has the documented members in
     * their order, with the state's values: the primary, each node's role,
     * position, lag (null for the primary), agent (null without one) and one
     * view per monitor. */
    struct state *s = *ctx;
    json_t *st, *c, *fo, *views;
    const json_t *pg1, *pg2;
    healthy(s);
    st = status_of(s, "");
    assert_keys(st, "leader,leader_generation,monitors,clusters,nodes");
    assert_int_equal(int_at(st, "leader"), 1);
    assert_int_equal(int_at(st, "leader_generation"), 1);
    assert_int_equal(json_array_size(json_object_get(st, "clusters")), 1);
    c = json_array_get(json_object_get(st, "clusters"), 0);
    assert_keys(c, "name,epoch,primary,paused,paused_since,switchover,failover,sync");
    assert_string_equal(str_at(c, "name"), "main");
    assert_int_equal(int_at(c, "epoch"), 1);
    assert_string_equal(str_at(c, "primary"), "pg1");
    assert_true(json_is_false(json_object_get(c, "paused")));
    assert_null_at(c, "paused_since");
    assert_null_at(c, "switchover");
    fo = json_object_get(c, "failover");
    assert_keys(fo,
                "phase,switchover,epoch,old_primary,candidate,blocked,down_at,decided_at,"
                "promoted_at,done_at,timeline");
    assert_string_equal(str_at(fo, "phase"), "none");
    assert_null_at(fo, "blocked");
    assert_keys(json_object_get(c, "sync"),
                "mode,number_sync,committed,applied,in_force,"
                "primary_runs,retiring,allow_data_loss_epoch");
    assert_null_at(json_object_get(c, "sync"), "committed");

    assert_int_equal(json_array_size(json_object_get(st, "nodes")), 3);
    pg1 = node_at(st, "pg1");
    assert_keys(pg1, NODE_KEYS_HEAD "," NODE_KEYS_TAIL);
    assert_string_equal(str_at(pg1, "role"), "primary");
    assert_string_equal(str_at(pg1, "health"), "up");
    assert_string_equal(str_at(pg1, "health_since"), "1970-01-01T00:00:01.000Z");
    assert_string_equal(str_at(pg1, "lsn"), "0/1000");
    assert_int_equal(int_at(pg1, "lsn_bytes"), 0x1000);
    assert_null_at(pg1, "lag_bytes");
    assert_null_at(pg1, "slot"); /* the primary keeps none for itself */
    assert_null_at(pg1, "cache_hit_rate");
    assert_keys(json_object_get(pg1, "agent"),
                "state,postmaster_alive,answering,pg_state,timeline,in_recovery,fenced,handover,"
                "lease,postmaster_pid,since,reported,version,streaming,rejoin,host");
    assert_string_equal(str_at(json_object_get(pg1, "agent"), "state"), "up");
    assert_int_equal(int_at(json_object_get(pg1, "agent"), "postmaster_pid"), 4242);
    assert_keys(json_object_get(json_object_get(pg1, "agent"), "rejoin"),
                "state,detail,epoch,duration_ms");
    views = json_object_get(pg1, "views");
    assert_int_equal(json_array_size(views), 3);
    assert_keys(json_array_get(views, 0), "monitor,reachable,error,stale,observed_at,committed_at");
    assert_int_equal(int_at(json_array_get(views, 2), "monitor"), 3);
    assert_null_at(json_array_get(views, 0), "error");

    pg2 = node_at(st, "pg2");
    assert_string_equal(str_at(pg2, "role"), "standby");
    assert_null_at(pg2, "agent");
    assert_int_equal(int_at(pg2, "lag_bytes"), 0);
    assert_string_equal(str_at(json_object_get(pg2, "slot"), "name"), "pgq_pg2");
    json_decref(st);
}

static void test_status_table_says_probes_shed_and_overload(void **ctx)
{
    /* A reachable monitor that sheds probes or whose loop runs late gets a line under the
     * monitors saying so, with the numbers; one that does neither gets none. */
    struct state *s = *ctx;
    struct monitor_row rows[2];
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    healthy(s);
    two_rows(rows);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_status(f, s, rows, 2, 1, "", 5000, false), 0);
    assert_int_equal(fclose(f), 0);
    assert_null(strstr(buf, "!! monitor 1"));
    free(buf);
    rows[0].info.probes = 60;
    rows[0].info.probes_shed = 27;
    rows[0].info.fd_limit = 240;
    rows[0].info.fd_needed = 267;
    rows[0].info.loop_lag_ms = 1300;
    rows[0].info.overloaded = true;
    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_status(f, s, rows, 2, 1, "", 5000, false), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf,
                           "  !! monitor 1 does not probe 27 of 60 nodes: open-file limit "
                           "240, 267 needed (raise LimitNOFILE)\n"));
    assert_non_null(strstr(buf,
                           "  !! monitor 1's loop runs late (up to 1300 ms): failures it "
                           "sees may be its own overload\n"));
    free(buf);
}

static void add_node(struct state *s, uint64_t t, const char *cluster, const char *node)
{
    struct command c = b_cmd_node_add(t, cluster, node, "host=10.0.9.9", 50);
    b_apply(s, &c);
    command_close(&c);
}

static void drop_east_add_north(struct state *s)
{
    struct command c = b_cmd_cluster_remove(1500, "east", "user:amy");
    b_apply(s, &c);
    command_close(&c);
    add_node(s, 1600, "north", "n1");
}

/* The document a walk writes, `nodes` nodes a step, `between` applied
 * after its first step. */
static char *walked(struct state *s,
                    const struct monitor_row *rows,
                    unsigned nodes,
                    void (*between)(struct state *s))
{
    struct render_walk w;
    char *buf = NULL;
    size_t len = 0;
    unsigned steps = 0;
    bool more = true;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_status_walk_begin(&w, s, rows, 2, 1, "", f), 0);
    while (more) {
        assert_int_equal(render_status_walk_step(&w, s, nodes, f, &more), 0);
        if (steps++ == 0 && between != NULL) {
            between(s);
        }
    }
    assert_true(steps >= 2);
    render_status_walk_end(&w);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_status_walk(void **ctx)
{
    /* /cluster written a few clusters per turn of the loop is the very document of one
     * render when nothing changes; a cluster removed between two steps is left out of the
     * rest (its nodes), one added is left to the next request, and nothing is written
     * twice: the text still parses. */
    struct state *s = *ctx;
    struct monitor_row rows[2];
    char *whole, *text;
    json_t *doc;
    healthy(s);
    add_node(s, 1100, "east", "e1");
    add_node(s, 1200, "west", "w1");
    two_rows(rows);
    doc = render_status_doc(s, rows, 2, 1, "");
    whole = render_json_dumps(doc);
    json_decref(doc);
    assert_non_null(whole);
    text = walked(s, rows, 1, NULL);
    assert_int_equal(strlen(text), strlen(whole) + 1);
    assert_memory_equal(text, whole, strlen(whole));
    assert_string_equal(text + strlen(whole), "\n");
    free(text);

    text = walked(s, rows, 1, drop_east_add_north);
    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(json_object_get(doc, "clusters")), 2); /* main, west */
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 4);    /* main's, w1 */
    assert_int_equal(b_count(text, "\"name\":\"w1\""), 1);
    assert_null(strstr(text, "\"name\":\"e1\""));
    assert_null(strstr(text, "north"));
    json_decref(doc);
    free(text);
    free(whole);
}

static void test_status_doc_monitors_and_filter(void **ctx)
{
    /* A monitor not reachable has no Raft members (absent, not null), an
     * unknown address is null, no leader is null, and a cluster filter keeps
     * every monitor but only that cluster's clusters and nodes. */
    struct state *s = *ctx;
    struct monitor_row rows[2];
    json_t *st, *m;
    healthy(s);
    two_rows(rows);
    st = reparse(render_status_doc(s, rows, 2, 0, "other"));
    assert_null_at(st, "leader");
    assert_int_equal(json_array_size(json_object_get(st, "clusters")), 0);
    assert_int_equal(json_array_size(json_object_get(st, "nodes")), 0);
    assert_int_equal(json_array_size(json_object_get(st, "monitors")), 2);
    m = json_array_get(json_object_get(st, "monitors"), 0);
    assert_keys(m,
                "id,api_address,raft_address,role,raft_role,voter,reachable,term,commit_index,"
                "applied_index,ready,rss_kb,version,probes,probes_shed,open_files_limit,"
                "open_files_needed,loop_lag_ms,overloaded");
    assert_string_equal(str_at(m, "role"), "leader");
    assert_string_equal(str_at(m, "raft_role"), "voter");
    assert_true(json_is_true(json_object_get(m, "voter")));
    assert_int_equal(int_at(m, "applied_index"), 39);
    m = json_array_get(json_object_get(st, "monitors"), 1);
    assert_keys(m, "id,api_address,raft_address,role,raft_role,voter,reachable");
    assert_string_equal(str_at(m, "raft_role"), "standby");
    assert_true(json_is_false(json_object_get(m, "voter")));
    assert_absent(m, "term");
    assert_null_at(m, "api_address");
    assert_string_equal(str_at(m, "role"), "unreachable");
    json_decref(st);

    st = status_of(s, "main");
    assert_int_equal(json_array_size(json_object_get(st, "nodes")), 3);
    json_decref(st);
}

static void test_node_doc_is_the_status_node(void **ctx)
{
    /* The document of one node (what the HTTP server returns for it) is the
     * same object as that node's entry in the status document. */
    struct state *s = *ctx;
    const struct cluster *c;
    json_t *st;
    healthy(s);
    c = b_cluster(s);
    st = status_of(s, "");
    for (unsigned i = 0; i < c->n_nodes; i++) {
        json_t *n = reparse(render_node_doc(s, c, &c->nodes[i]));
        assert_true(json_equal(n, json_array_get(json_object_get(st, "nodes"), i)));
        json_decref(n);
    }
    json_decref(st);
}

static void test_status_doc_cut_and_switchover(void **ctx)
{
    /* Members present only in some states: a scheduled switchover is an
     * object (null otherwise), and during a cut a node that reported its cut
     * position has a "cut" member after its agent, the others none. */
    struct state *s = *ctx;
    json_t *st, *sw;
    const json_t *pg2;
    healthy(s);
    b_switchover(s, 2000, "pg3", 60000);
    st = status_of(s, "");
    sw = json_object_get(json_array_get(json_object_get(st, "clusters"), 0), "switchover");
    assert_keys(sw, "phase,target,at,epoch,requested,begun");
    assert_string_equal(str_at(sw, "phase"), "scheduled");
    assert_string_equal(str_at(sw, "target"), "pg3");
    assert_string_equal(str_at(sw, "at"), "1970-01-01T00:01:00.000Z");
    assert_null_at(sw, "begun");
    assert_absent(node_at(st, "pg2"), "cut");
    json_decref(st);

    b_cut(s, 3000);
    b_cut_step(s, 3100, "pg2", 0x1000);
    st = status_of(s, "");
    pg2 = node_at(st, "pg2");
    assert_keys(pg2, NODE_KEYS_HEAD ",cut," NODE_KEYS_TAIL);
    assert_keys(json_object_get(pg2, "cut"), "lsn,timeline");
    assert_string_equal(str_at(json_object_get(pg2, "cut"), "lsn"), "0/1000");
    assert_int_equal(int_at(json_object_get(pg2, "cut"), "timeline"), 1);
    assert_absent(node_at(st, "pg3"), "cut");
    json_decref(st);
}

static void test_status_doc_rejoin_and_counters(void **ctx)
{
    /* An agent's rejoin shows the discarded commits and bytes only when they
     * were counted, and a counter saturated past what JSON integers carry
     * shows as 2^63 - 1, never as a negative number. */
    struct state *s = *ctx;
    struct agent_facts f = b_agent_facts(false);
    json_t *st, *agent;
    healthy(s);
    f.rejoin = PGQ_RJ_FAILED;
    pgq_strlcpy(f.rejoin_detail, "pg_rewind failed", sizeof f.rejoin_detail);
    f.lost_known = true;
    f.lost_commits = 3;
    f.lost_bytes = 99;
    f.host.disk_read_bps = UINT64_MAX;
    f.host.net_rx_bps = 1234;
    b_agent(s, 1300, "pg1", &f);
    st = status_of(s, "");
    agent = json_object_get(node_at(st, "pg1"), "agent");
    assert_keys(json_object_get(agent, "rejoin"),
                "state,detail,epoch,duration_ms,lost_commits,lost_bytes");
    assert_string_equal(str_at(json_object_get(agent, "rejoin"), "state"), "failed");
    assert_int_equal(int_at(json_object_get(agent, "rejoin"), "lost_bytes"), 99);
    assert_true(int_at(json_object_get(agent, "host"), "disk_read_bps") == INT64_MAX);
    assert_int_equal(int_at(json_object_get(agent, "host"), "net_rx_bps"), 1234);
    json_decref(st);
}

/* ---- events ------------------------------------------------------------------------ */

static void test_events_doc(void **ctx)
{
    /* The events document lists the events oldest first with the documented
     * members (no cluster, node or duration: null); a cluster filter keeps
     * that cluster's events and those of no cluster, and a limit the last
     * ones, as a monitor answers an events request. */
    struct state *s = *ctx;
    json_t *ev, *e;
    size_t i;
    long long prev = 0;
    unsigned n_main = 0, n_none = 0;
    healthy(s);
    ev = reparse(render_events_doc(s, "", 0));
    assert_int_equal(json_array_size(ev), b_n_events(s));
    e = json_array_get(ev, 0);
    assert_keys(
        e, "seq,time,time_ms,cluster,node,event,epoch,duration_ms,message,who,from,action,outcome");
    assert_string_equal(str_at(e, "event"), "leader");
    assert_null_at(e, "cluster");
    assert_null_at(e, "node");
    assert_null_at(e, "duration_ms");
    assert_string_equal(str_at(e, "time"), "1970-01-01T00:00:01.000Z");
    assert_int_equal(int_at(e, "time_ms"), 1000);
    json_array_foreach(ev, i, e)
    {
        assert_true(int_at(e, "seq") > prev);
        prev = int_at(e, "seq");
        if (json_is_null(json_object_get(e, "cluster"))) {
            n_none++;
        } else {
            assert_string_equal(str_at(e, "cluster"), "main");
            n_main++;
        }
    }
    assert_true(n_none > 0 && n_main > 0);
    json_decref(ev);

    ev = reparse(render_events_doc(s, "other", 0));
    assert_int_equal(json_array_size(ev), n_none);
    json_decref(ev);
    ev = reparse(render_events_doc(s, "main", 2));
    assert_int_equal(json_array_size(ev), 2);
    assert_int_equal(int_at(json_array_get(ev, 1), "seq"), b_event(s, b_n_events(s) - 1)->seq);
    json_decref(ev);
    ev = reparse(render_events_doc(s, NULL, 100000));
    assert_int_equal(json_array_size(ev), b_n_events(s));
    json_decref(ev);
}

/* ---- odd texts --------------------------------------------------------------------- */

static void test_json_string_table(void **ctx)
{
    /* Any C string becomes a JSON string: quotes, backslashes and control
     * characters are escaped, valid UTF-8 is kept, and each byte that is not
     * part of a well-formed UTF-8 sequence becomes U+FFFD. */
#define R "\xEF\xBF\xBD"
    static const struct
    {
        const char *in;
        const char *value; /* as a parser reads it back */
        const char *text;  /* as written; NULL: not checked */
    } cases[] = {
        {"plain", "plain", "\"plain\""},
        {"", "", "\"\""},
        {"a\"b\\c/d", "a\"b\\c/d", "\"a\\\"b\\\\c/d\""},
        {"nl\n tab\t cr\r", "nl\n tab\t cr\r", "\"nl\\n tab\\t cr\\r\""},
        {"\x01\x1f\x7f", "\x01\x1f\x7f", "\"\\u0001\\u001F\x7f\""},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x98", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x98",
         NULL},
        {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", NULL}, /* U+10FFFF, the last */
        {"a\x80z", "a" R "z", NULL},                    /* a lone continuation byte */
        {"\xC0\xAF", R R, NULL},                        /* overlong '/' */
        {"\xE0\x80\xAF", R R R, NULL},                  /* overlong, 3 bytes */
        {"\xED\xA0\x80", R R R, NULL},                  /* a UTF-16 surrogate */
        {"\xF4\x90\x80\x80", R R R R, NULL},            /* past U+10FFFF */
        {"\xF5\xFF", R R, NULL},                        /* never in UTF-8 */
        {"end \xE2\x82", "end " R R, NULL},             /* cut short at the end */
        {"\xE2\x82"
         "A",
         R R "A", NULL}, /* cut short before ASCII */
        {"latin1 \xE9t\xE9", "latin1 " R "t" R, "\"latin1 " R "t" R "\""},
    };
#undef R
    (void)ctx;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = render_json_string(cases[i].in), *back;
        char *text;
        assert_non_null(v);
        text = render_json_dumps(v);
        assert_non_null(text);
        if (cases[i].text != NULL) {
            assert_string_equal(text, cases[i].text);
        }
        back = json_loads(text, JSON_DECODE_ANY, NULL);
        if (back == NULL || strcmp(json_string_value(back), cases[i].value) != 0) {
            fail_msg("case %zu: %s", i, text);
        }
        json_decref(back);
        free(text);
        json_decref(v);
    }
}

static void test_odd_texts_in_documents(void **ctx)
{
    /* Texts that come from outside (a blocked reason, PostgreSQL's error of
     * a probe, the event that quotes them) with quotes, control characters
     * and bytes that are not UTF-8 still give a whole document, with every
     * other byte kept. */
    static const char reason[] = "odd \"q\" back\\slash nl\n ctl\x01 latin1 \xE9t\xE9";
    static const char fixed[] =
        "odd \"q\" back\\slash nl\n ctl\x01 latin1 \xEF\xBF\xBDt\xEF\xBF\xBD";
    struct state *s = *ctx;
    struct command c;
    struct obs o;
    json_t *st, *ev, *e;
    const json_t *view;
    char want[256];
    healthy(s);
    c = b_cmd_blocked(2000, reason);
    b_apply(s, &c);
    command_close(&c);
    o = b_unreachable(s, "pg3");
    pgq_strlcpy(o.error, reason, sizeof o.error);
    b_report(s, 2100, 1, &o);

    st = status_of(s, "");
    assert_string_equal(
        str_at(json_object_get(json_array_get(json_object_get(st, "clusters"), 0), "failover"),
               "blocked"),
        fixed);
    view = json_array_get(json_object_get(node_at(st, "pg3"), "views"), 0);
    assert_int_equal(int_at(view, "monitor"), 1);
    assert_string_equal(str_at(view, "error"), fixed);
    json_decref(st);

    ev = reparse(render_events_doc(s, "", 0));
    e = json_array_get(ev, json_array_size(ev) - 1);
    snprintf(want, sizeof want, "no failover: %s", fixed);
    assert_string_equal(str_at(e, "event"), "failover-blocked");
    assert_string_equal(str_at(e, "message"), want);
    json_decref(ev);
}

/* ---- output ------------------------------------------------------------------------ */

static void test_written_one_line(void **ctx)
{
    /* status --json and events --json write their document compact on one
     * line ending in a newline, rates with the digits a basis point needs. */
    struct state *s = *ctx;
    struct monitor_row rows[2];
    struct obs o;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    json_t *doc;
    char *text;
    healthy(s);
    o = b_recovering(s, "pg2", 0x1000);
    o.cache_hit_bp = 9950;
    o.index_hit_bp = 10000;
    b_report(s, 1300, 1, &o);
    two_rows(rows);

    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_status(f, s, rows, 2, 1, "", 5000, true), 0);
    assert_int_equal(fclose(f), 0);
    assert_true(len > 2 && buf[len - 1] == '\n');
    assert_null(memchr(buf, '\n', len - 1));
    assert_null(strstr(buf, "\": "));
    assert_non_null(strstr(buf, "\"cache_hit_rate\":0.995,\"index_hit_rate\":1.0,"));
    doc = render_status_doc(s, rows, 2, 1, "");
    text = render_json_dumps(doc);
    assert_non_null(text);
    buf[len - 1] = '\0';
    assert_string_equal(buf, text);
    free(text);
    json_decref(doc);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(render_events(f, s, true), 0);
    assert_int_equal(fclose(f), 0);
    assert_true(len > 2 && buf[0] == '[' && buf[len - 2] == ']' && buf[len - 1] == '\n');
    free(buf);
}

/* ---- out of memory ----------------------------------------------------------------- */

static long allocs_left; /* < 0: no limit */

static void *failing_malloc(size_t size)
{
    if (allocs_left == 0) {
        return NULL;
    }
    if (allocs_left > 0) {
        allocs_left--;
    }
    return malloc(size);
}

static void test_out_of_memory(void **ctx)
{
    /* Out of memory at any one of jansson's allocations gives no document
     * (NULL, nothing leaked: the sanitizer checks) and an error code from
     * the writers, never a partial document or a crash. */
    struct state *s = *ctx;
    struct monitor_row rows[2];
    long n;
    healthy(s);
    b_switchover(s, 2000, "pg3", 60000);
    two_rows(rows);
    json_set_alloc_funcs(failing_malloc, free);
    for (n = 0;; n++) {
        json_t *doc;
        allocs_left = n;
        doc = render_status_doc(s, rows, 2, 1, "");
        if (doc != NULL) {
            allocs_left = -1;
            json_decref(doc);
            break;
        }
    }
    assert_true(n > 100); /* many allocations were failed, one at a time */
    for (n = 0;; n++) {
        json_t *doc;
        allocs_left = n;
        doc = render_events_doc(s, "", 0);
        if (doc != NULL) {
            allocs_left = -1;
            json_decref(doc);
            break;
        }
    }
    assert_true(n > 10);
    for (n = 0; n < 3; n++) {
        allocs_left = n;
        assert_int_equal(render_status(stdout, s, rows, 2, 1, "", 5000, true), PGQ_NOMEM);
        assert_int_equal(render_events(stdout, s, true), PGQ_NOMEM);
    }
    allocs_left = -1;
    json_set_alloc_funcs(malloc, free);
}

#define T(f) cmocka_unit_test_setup_teardown(f, b_setup_state, b_teardown_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_status_doc_healthy),
        T(test_status_doc_monitors_and_filter),
        T(test_status_walk),
        T(test_status_table_says_probes_shed_and_overload),
        T(test_node_doc_is_the_status_node),
        T(test_status_doc_cut_and_switchover),
        T(test_status_doc_rejoin_and_counters),
        T(test_events_doc),
        T(test_json_string_table),
        T(test_odd_texts_in_documents),
        T(test_written_one_line),
        T(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
