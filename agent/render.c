/* render: status, events and URI output for pgquorumctl (see render.h). */
#include "render.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conninfo.h"
#include "lib/util.h"

/* ---- JSON helpers ------------------------------------------------------- */

/* How status names a node's agent: up, unprotected (its PostgreSQL was
 * seen after it fell silent), silent, or none. */
static const char *agent_word(const struct agent_facts *a)
{
    if (a->state == PGQ_AGENT_SILENT) {
        return a->unprotected ? "unprotected" : "silent";
    }
    return pgq_agent_state_name(a->state);
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
            case '"':
                fputs("\\\"", out);
                break;
            case '\\':
                fputs("\\\\", out);
                break;
            case '\n':
                fputs("\\n", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            default:
                if (*p < 0x20) {
                    fprintf(out, "\\u%04x", *p);
                } else {
                    fputc(*p, out);
                }
        }
    }
    fputc('"', out);
}

static void json_key(FILE *out, bool *first, const char *key)
{
    if (!*first) {
        fputc(',', out);
    }
    *first = false;
    json_str(out, key);
    fputc(':', out);
}

static void json_kstr(FILE *out, bool *first, const char *key, const char *v)
{
    json_key(out, first, key);
    if (v == NULL || v[0] == '\0') {
        fputs("null", out);
    } else {
        json_str(out, v);
    }
}

static void json_ku64(FILE *out, bool *first, const char *key, uint64_t v)
{
    json_key(out, first, key);
    fprintf(out, "%" PRIu64, v);
}

static void json_kbool(FILE *out, bool *first, const char *key, bool v)
{
    json_key(out, first, key);
    fputs(v ? "true" : "false", out);
}

static void json_krate(FILE *out, bool *first, const char *key, uint32_t bp)
{
    json_key(out, first, key);
    if (bp == PGQ_BP_NONE) {
        fputs("null", out);
    } else {
        fprintf(out, "%.4f", bp / 10000.0);
    }
}

static void iso_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms == 0) {
        pgq_strlcpy(out, "", size);
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    pgq_appendf(out, size, ".%03" PRIu64 "Z", ms % 1000);
}

static void json_ktime(FILE *out, bool *first, const char *key, uint64_t ms)
{
    char buf[40];
    iso_time(ms, buf, sizeof buf);
    json_kstr(out, first, key, buf);
}

/* ---- node summaries ----------------------------------------------------- */

/* The freshest view of a node that reached it. */
static const struct view *freshest_up(const struct node *n)
{
    const struct view *best = NULL;
    for (unsigned i = 0; i < PGQ_MAX_MONITORS; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id != 0 && v->obs.reachable &&
            (best == NULL || v->obs.probed_ms > best->obs.probed_ms)) {
            best = v;
        }
    }
    return best;
}

static uint64_t node_lsn(const struct obs *o)
{
    return o->in_recovery ? PGQ_MAX(o->receive_lsn, o->replay_lsn) : o->current_lsn;
}

/* Bytes a standby is behind: as it measured itself while streaming (its
 * upstream's end of WAL, same probe), else behind the primary's latest
 * known position. */
static bool node_lag(const struct cluster *c, const struct node *n, uint64_t *lag)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct view *pv = p != NULL ? freshest_up(p) : NULL;
    const struct view *v = freshest_up(n);
    uint64_t plsn, lsn;
    if (p == n || v == NULL || !v->obs.in_recovery) {
        return false;
    }
    if (v->obs.streaming && v->obs.upstream_lsn != 0) {
        *lag = obs_lag(&v->obs);
        return true;
    }
    if (pv == NULL || pv->obs.in_recovery) {
        return false;
    }
    plsn = pv->obs.current_lsn;
    lsn = node_lsn(&v->obs);
    *lag = plsn > lsn ? plsn - lsn : 0;
    return true;
}

static const char *ago(uint64_t now, uint64_t then, char *buf, size_t size)
{
    if (then == 0) {
        return "-";
    }
    if (now <= then) {
        return "now";
    }
    pgq_duration_format(now - then, buf, size);
    pgq_appendf(buf, size, " ago");
    return buf;
}

static void fmt_bytes(uint64_t b, char *out, size_t size)
{
    if (b < 1024) {
        snprintf(out, size, "%" PRIu64 " B", b);
    } else if (b < 1024 * 1024) {
        snprintf(out, size, "%.1f kB", b / 1024.0);
    } else if (b < 1024ull * 1024 * 1024) {
        snprintf(out, size, "%.1f MB", b / (1024.0 * 1024));
    } else {
        snprintf(out, size, "%.1f GB", b / (1024.0 * 1024 * 1024));
    }
}

static void fmt_rate(uint32_t bp, char *out, size_t size)
{
    if (bp == PGQ_BP_NONE) {
        snprintf(out, size, "-");
    } else {
        snprintf(out, size, "%.1f%%", bp / 100.0);
    }
}

static const char *health_word(const struct node *n)
{
    return pgq_verdict_name(n->verdict);
}

/* ---- status ------------------------------------------------------------- */

static void sync_line(FILE *out, const struct cluster *c);

static void status_table(FILE *out,
                         const struct state *s,
                         const struct monitor_row *rows,
                         unsigned n_rows,
                         uint64_t leader,
                         const char *cluster,
                         uint64_t now)
{
    char b1[64], b2[64], b3[64];
    fprintf(out, "Monitors (leader: ");
    if (leader != 0) {
        fprintf(out, "%" PRIu64 ")\n", leader);
    } else {
        fprintf(out, "none)\n");
    }
    fprintf(out, "  %-3s %-21s %-21s %-11s %6s %8s %8s  %s\n", "ID", "API", "Raft", "Role", "Term",
            "Commit", "Applied", "Reachable");
    for (unsigned i = 0; i < n_rows; i++) {
        const struct monitor_row *r = &rows[i];
        if (r->reachable) {
            fprintf(out,
                    "  %-3" PRIu64 " %-21s %-21s %-11s %6" PRIu64 " %8" PRIu64 " %8" PRIu64
                    "  yes%s\n",
                    r->id, r->api_address[0] ? r->api_address : "?",
                    r->raft_address[0] ? r->raft_address : "?", pgq_monitor_role_name(r->info.role),
                    r->info.term, r->info.commit_index, r->info.applied_index,
                    r->info.ready            ? ""
                    : r->info.leader_id == 0 ? " (no leader)"
                                             : " (catching up)");
        } else {
            fprintf(out, "  %-3" PRIu64 " %-21s %-21s %-11s %6s %8s %8s  no\n", r->id,
                    r->api_address[0] ? r->api_address : "?",
                    r->raft_address[0] ? r->raft_address : "?", "unreachable", "-", "-", "-");
        }
    }
    for (unsigned ci = 0; ci < s->n_clusters; ci++) {
        const struct cluster *c = &s->clusters[ci];
        if (cluster[0] != '\0' && strcmp(cluster, c->name) != 0) {
            continue;
        }
        fprintf(out, "\nCluster %s: epoch %" PRIu64 ", primary %s", c->name, c->epoch,
                c->primary[0] ? c->primary : "(none yet)");
        if (c->fo.phase != PGQ_FO_NONE) {
            fprintf(out, ", last failover: %s %s -> %s (epoch %" PRIu64 ")",
                    pgq_fo_phase_name(c->fo.phase), c->fo.old_primary, c->fo.candidate,
                    c->fo.epoch);
        }
        fprintf(out, "\n");
        if (c->paused) {
            fprintf(out,
                    "  PAUSED (since %s): no automatic failover, cut or repoint starts; "
                    "observations, verdicts and leases go on (pgquorumctl resume --cluster %s)\n",
                    ago(now, c->pause_ms, b2, sizeof b2), c->name);
        }
        if (c->sw.phase != PGQ_SW_NONE) {
            fprintf(out, "  SWITCHOVER of %s to %s: %s", c->primary,
                    c->sw.target[0] ? c->sw.target : "the best standby",
                    pgq_sw_phase_name(c->sw.phase));
            if (c->sw.phase == PGQ_SW_PENDING && c->sw.at_ms > now) {
                fprintf(out, ", in %" PRIu64 " s", (c->sw.at_ms - now + 999) / 1000);
            } else if (c->sw.phase == PGQ_SW_STOPPING) {
                fprintf(out, " (since %s)", ago(now, c->sw.begun_ms, b2, sizeof b2));
            }
            if (c->fo.phase == PGQ_FO_CUTTING && c->fo.switchover) {
                /* Past its Cut it can no longer be cancelled. */
                fputs(": stopped cleanly, its standbys are being cut off it\n", out);
            } else {
                fprintf(out, " (pgquorumctl switchover --cancel --cluster %s)\n", c->name);
            }
        }
        sync_line(out, c);
        if (strncmp(c->fo.blocked, PGQ_HELD, PGQ_HELD_LEN) == 0) {
            fprintf(out, "  FAILOVER HELD: %s\n", c->fo.blocked + PGQ_HELD_LEN);
        } else if (c->fo.blocked[0] != '\0') {
            fprintf(out, "  FAILOVER BLOCKED: %s\n", c->fo.blocked);
        }
        fprintf(out, "  %-12s %-8s %-7s %-4s %-5s %-3s %-12s %-9s %-7s %-7s %-5s %-12s %s\n",
                "Node", "Role", "Health", "Prio", "Maint", "TL", "LSN", "Lag", "Cache", "Index",
                "Conns", "Observed", "Views");
        for (unsigned ni = 0; ni < c->n_nodes; ni++) {
            const struct node *n = &c->nodes[ni];
            const struct view *v = freshest_up(n);
            const struct view *f = node_latest_view(n);
            char lsn[32] = "-", lag[32] = "-", cache[16] = "-", idx[16] = "-", conns[16] = "-",
                 tl[16] = "-", views[256] = "";
            uint64_t lagb;
            if (v != NULL) {
                pgq_lsn_format(node_lsn(&v->obs), lsn, sizeof lsn);
                fmt_rate(v->obs.cache_hit_bp, cache, sizeof cache);
                fmt_rate(v->obs.index_hit_bp, idx, sizeof idx);
                snprintf(conns, sizeof conns, "%u", v->obs.connections);
                snprintf(tl, sizeof tl, "%u", v->obs.timeline);
            }
            if (node_lag(c, n, &lagb)) {
                fmt_bytes(lagb, lag, sizeof lag);
            }
            for (unsigned k = 0; k < PGQ_MAX_MONITORS; k++) {
                const struct view *w = &n->views[k];
                if (w->monitor_id == 0) {
                    continue;
                }
                pgq_appendf(views, sizeof views, "%s%" PRIu64 ":%s%s", views[0] ? " " : "",
                            w->monitor_id, w->obs.reachable ? "up" : "down",
                            w->gen != s->leader_gen ? "(stale)" : "");
            }
            fprintf(out, "  %-12s %-8s %-7s %-4u %-5s %-3s %-12s %-9s %-7s %-7s %-5s %-12s %s\n",
                    n->name, pgq_role_name(n->role), health_word(n), n->priority,
                    !n->maintenance                 ? "-"
                    : n->maintenance_allow_failover ? "on+fo"
                                                    : "on",
                    tl, lsn, lag, cache, idx, conns,
                    ago(now, f != NULL ? f->obs.probed_ms : 0, b1, sizeof b1),
                    views[0] ? views : "-");
            if (n->alert_writable) {
                fprintf(out,
                        "  !! %s is WRITABLE but is not the primary of epoch %" PRIu64
                        ": being fenced\n",
                        n->name, c->epoch);
            }
            if (n->role == PGQ_ROLE_DEMOTED && n->rejoin[0] != '\0') {
                fprintf(out, "  !! %s needs a rejoin: %s\n", n->name, n->rejoin);
            }
            if (cluster_slot_lost(c, n)) {
                char slot[PGQ_SLOT_NAME_MAX];
                pgq_slot_name(n->name, slot, sizeof slot);
                fprintf(out,
                        "  !! %s's replication slot %s is LOST: %s removed WAL it needed; "
                        "re-clone %s\n",
                        n->name, slot, c->primary, n->name);
            }
            if (n->agent.state != PGQ_AGENT_NONE) {
                const struct agent_facts *a = &n->agent;
                fprintf(out,
                        "     agent %s: postgres %s%s%s, %s, lease %s; cpu %u.%02u%% load "
                        "%u.%02u disk r/w %" PRIu64 "/%" PRIu64
                        " B/s io %u.%02u%% net rx/tx "
                        "%" PRIu64 "/%" PRIu64 " B/s\n",
                        agent_word(a), a->pm_alive ? "running" : "down",
                        a->fenced ? " (fenced)" : "", a->handover ? " (left to the quorum)" : "",
                        pgq_pg_state_name(a->pg_state), a->lease ? "held" : "none",
                        a->host.cpu_busy_bp / 100, a->host.cpu_busy_bp % 100, a->host.load1_c / 100,
                        a->host.load1_c % 100, a->host.disk_read_bps, a->host.disk_write_bps,
                        a->host.disk_io_bp / 100, a->host.disk_io_bp % 100, a->host.net_rx_bps,
                        a->host.net_tx_bps);
                if (a->rejoin != PGQ_RJ_NONE) {
                    fprintf(out, "     rejoin %s%s%s", pgq_rejoin_state_name(a->rejoin),
                            a->rejoin_detail[0] ? ": " : "", a->rejoin_detail);
                    if (a->lost_known) {
                        fprintf(out, "; %" PRIu64 " commit(s), %" PRIu64 " bytes discarded",
                                a->lost_commits, a->lost_bytes);
                    }
                    fprintf(out, " (%" PRIu64 ".%01" PRIu64 " s)\n", a->rejoin_ms / 1000,
                            a->rejoin_ms % 1000 / 100);
                }
                if (a->unprotected) {
                    fprintf(out,
                            "  !! %s is UNPROTECTED: its agent fell silent while it kept "
                            "running; nothing fences it\n",
                            n->name);
                }
            }
            if (n->twin_of[0] != '\0') {
                fprintf(out,
                        "  !! %s is the same PostgreSQL server as %s: ignored; remove one of "
                        "them\n",
                        n->name, n->twin_of);
            }
            if (f != NULL && !f->obs.reachable && f->obs.error[0] != '\0') {
                fprintf(out, "     %s: %s\n", n->name, f->obs.error);
            }
        }
    }
    (void)b3;
}

/* Managed synchronous replication: mode, the committed set, whether the
 * primary runs it, and the older sets that still bind a failover. */
static void sync_json(FILE *out, bool *first, const struct cluster *c)
{
    const struct cluster_sync *y = &c->sync;
    char text[PGQ_SYNC_SETTING_MAX];
    bool f2 = true, f3 = true;
    json_key(out, first, "sync");
    fputc('{', out);
    json_kstr(out, &f2, "mode", pgq_sync_mode_name(y->mode));
    json_ku64(out, &f2, "number_sync", PGQ_MAX(y->number, 1));
    json_key(out, &f2, "committed");
    if (y->set.seq == 0) {
        fputs("null", out);
    } else {
        sync_set_text(&y->set, text, sizeof text);
        fputc('{', out);
        json_kstr(out, &f3, "setting", text);
        json_kstr(out, &f3, "method", pgq_sync_method_name(y->set.method));
        json_ku64(out, &f3, "number", y->set.k);
        json_key(out, &f3, "names");
        fputc('[', out);
        for (unsigned i = 0; i < y->set.n_names; i++) {
            if (i > 0) {
                fputc(',', out);
            }
            json_str(out, y->set.names[i]);
        }
        fputc(']', out);
        json_ku64(out, &f3, "epoch", y->set.epoch);
        json_ku64(out, &f3, "seq", y->set.seq);
        fputc('}', out);
    }
    json_kbool(out, &f2, "applied", y->set.seq != 0 && y->applied_seq == y->set.seq);
    json_kbool(out, &f2, "in_force",
               y->set.seq != 0 && y->applied_seq == y->set.seq && y->n_retiring == 0);
    json_kstr(out, &f2, "primary_runs", y->seen);
    json_key(out, &f2, "retiring");
    fputc('[', out);
    for (unsigned i = 0; i < y->n_retiring; i++) {
        sync_set_text(&y->retiring[i], text, sizeof text);
        if (i > 0) {
            fputc(',', out);
        }
        json_str(out, text);
    }
    fputc(']', out);
    json_ku64(out, &f2, "allow_data_loss_epoch", y->allow_loss_epoch);
    fputc('}', out);
}

/* The same, one line for people. */
static void sync_line(FILE *out, const struct cluster *c)
{
    const struct cluster_sync *y = &c->sync;
    char text[PGQ_SYNC_SETTING_MAX];
    if (y->mode == PGQ_SYNC_OFF && y->set.seq == 0) {
        return;
    }
    sync_set_text(&y->set, text, sizeof text);
    fprintf(out, "  Sync: %s", pgq_sync_mode_name(y->mode));
    if (y->mode != PGQ_SYNC_OFF) {
        fprintf(out, ", number_sync %u", PGQ_MAX(y->number, 1));
    }
    if (y->set.seq != 0) {
        fprintf(out, "; committed '%s', %s", text,
                y->applied_seq != y->set.seq ? "not yet applied by the primary"
                : y->n_retiring > 0          ? "applied, older sets still bind a failover"
                                             : "in force");
    }
    fprintf(out, "\n");
    if (y->allow_loss_epoch != 0 && y->allow_loss_epoch == c->epoch) {
        fprintf(out, "  !! an operator allowed a failover that may lose acknowledged writes\n");
    }
}

static void agent_json(FILE *out, bool *first, const struct agent_facts *a)
{
    bool f2 = true, f3 = true;
    json_key(out, first, "agent");
    fputc('{', out);
    json_kstr(out, &f2, "state", agent_word(a));
    json_kbool(out, &f2, "postmaster_alive", a->pm_alive);
    json_kbool(out, &f2, "answering", a->answering);
    json_kstr(out, &f2, "pg_state", pgq_pg_state_name(a->pg_state));
    json_ku64(out, &f2, "timeline", a->timeline);
    json_kbool(out, &f2, "in_recovery", a->in_recovery);
    json_kbool(out, &f2, "fenced", a->fenced);
    json_kbool(out, &f2, "handover", a->handover);
    json_kbool(out, &f2, "lease", a->lease);
    json_ku64(out, &f2, "postmaster_pid", a->pm_pid);
    json_ktime(out, &f2, "since", a->since_ms);
    json_ktime(out, &f2, "reported", a->facts_ms);
    json_kstr(out, &f2, "version", a->version);
    json_kbool(out, &f2, "streaming", a->streaming);
    json_key(out, &f2, "rejoin");
    {
        bool f4 = true;
        fputc('{', out);
        json_kstr(out, &f4, "state", pgq_rejoin_state_name(a->rejoin));
        json_kstr(out, &f4, "detail", a->rejoin_detail);
        json_ku64(out, &f4, "epoch", a->rejoin_epoch);
        json_ku64(out, &f4, "duration_ms", a->rejoin_ms);
        if (a->lost_known) {
            json_ku64(out, &f4, "lost_commits", a->lost_commits);
            json_ku64(out, &f4, "lost_bytes", a->lost_bytes);
        }
        fputc('}', out);
    }
    json_key(out, &f2, "host");
    fputc('{', out);
    json_ku64(out, &f3, "cpu_busy_bp", a->host.cpu_busy_bp);
    json_ku64(out, &f3, "load1_c", a->host.load1_c);
    json_ku64(out, &f3, "load5_c", a->host.load5_c);
    json_ku64(out, &f3, "load15_c", a->host.load15_c);
    json_ku64(out, &f3, "disk_read_bps", a->host.disk_read_bps);
    json_ku64(out, &f3, "disk_write_bps", a->host.disk_write_bps);
    json_ku64(out, &f3, "disk_io_bp", a->host.disk_io_bp);
    json_ku64(out, &f3, "net_rx_bps", a->host.net_rx_bps);
    json_ku64(out, &f3, "net_tx_bps", a->host.net_tx_bps);
    fputs("}}", out);
}

/* The node's slot on the primary: its name, whether the primary lost it,
 * and how the node uses it; null when the primary keeps none for it (a
 * role that may not be told to use one: "denied"). */
static void slot_json(FILE *out, bool *first, const struct cluster *c, const struct node *n)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct view *v = freshest_up(n);
    char slot[PGQ_SLOT_NAME_MAX];
    bool f2 = true;
    json_key(out, first, "slot");
    if (p == NULL || p == n ||
        (!cluster_node_slot(c, n, slot, sizeof slot) && !node_slot_denied(n))) {
        fputs("null", out);
        return;
    }
    fputc('{', out);
    json_kstr(out, &f2, "name", node_slot_denied(n) ? "" : slot);
    json_kbool(out, &f2, "lost", cluster_slot_lost(c, n));
    json_kstr(out, &f2, "use", pgq_slot_use_name(v != NULL ? v->obs.slot_use : 0));
    fputc('}', out);
}

static void node_json(FILE *out,
                      const struct state *s,
                      const struct cluster *c,
                      const struct node *n)
{
    const struct view *v = freshest_up(n);
    const struct view *f = node_latest_view(n);
    char lsn[32];
    uint64_t lag;
    bool first = true;
    fputc('{', out);
    json_kstr(out, &first, "name", n->name);
    json_kstr(out, &first, "cluster", c->name);
    json_kstr(out, &first, "conninfo", n->conninfo);
    json_ku64(out, &first, "priority", n->priority);
    json_kbool(out, &first, "maintenance", n->maintenance);
    json_kbool(out, &first, "maintenance_allow_failover", n->maintenance_allow_failover);
    json_kstr(out, &first, "role", pgq_role_name(n->role));
    json_kstr(out, &first, "health", pgq_verdict_name(n->verdict));
    json_ktime(out, &first, "health_since", n->verdict_since_ms);
    json_kbool(out, &first, "alert_writable", n->alert_writable);
    json_kstr(out, &first, "twin_of", n->twin_of);
    json_kstr(out, &first, "rejoin", n->role == PGQ_ROLE_DEMOTED ? n->rejoin : "");
    if (n->agent.state != PGQ_AGENT_NONE) {
        agent_json(out, &first, &n->agent);
    } else {
        json_key(out, &first, "agent");
        fputs("null", out);
    }
    if (n->cut_round != 0 && n->cut_round == c->fo.round) {
        bool f2 = true;
        char l[32];
        json_key(out, &first, "cut");
        fputc('{', out);
        pgq_lsn_format(n->cut_lsn, l, sizeof l);
        json_kstr(out, &f2, "lsn", l);
        json_ku64(out, &f2, "timeline", n->cut_tli);
        fputc('}', out);
    }
    slot_json(out, &first, c, n);
    json_ku64(out, &first, "fenced_epoch", n->fenced_epoch);
    json_ku64(out, &first, "following_epoch", n->following_epoch);
    json_kbool(out, &first, "replication_quorum", n->replication_quorum);
    json_key(out, &first, "sync_standbys");
    fputc('[', out);
    for (unsigned i = 0; i < n->n_sync; i++) {
        bool f2 = true;
        char left[32];
        fputs(i > 0 ? ",{" : "{", out);
        json_kstr(out, &f2, "name", n->sync[i].name);
        json_key(out, &f2, "left_lsn");
        if (n->sync[i].left_lsn != 0) {
            pgq_lsn_format(n->sync[i].left_lsn, left, sizeof left);
            fprintf(out, "\"%s\"", left);
        } else {
            fputs("null", out);
        }
        fputc('}', out);
    }
    fputc(']', out);
    if (v != NULL) {
        json_kbool(out, &first, "in_recovery", v->obs.in_recovery);
        json_ku64(out, &first, "timeline", v->obs.timeline);
        pgq_lsn_format(node_lsn(&v->obs), lsn, sizeof lsn);
        json_kstr(out, &first, "lsn", lsn);
        json_ku64(out, &first, "lsn_bytes", node_lsn(&v->obs));
        pgq_lsn_format(v->obs.receive_lsn, lsn, sizeof lsn);
        json_kstr(out, &first, "receive_lsn", lsn);
        pgq_lsn_format(v->obs.replay_lsn, lsn, sizeof lsn);
        json_kstr(out, &first, "replay_lsn", lsn);
        json_kbool(out, &first, "streaming", v->obs.streaming);
        json_kstr(out, &first, "upstream", v->obs.upstream);
        pgq_lsn_format(v->obs.upstream_lsn, lsn, sizeof lsn);
        json_kstr(out, &first, "upstream_lsn", lsn);
        json_ku64(
            out, &first, "replay_lag_bytes",
            v->obs.receive_lsn > v->obs.replay_lsn ? v->obs.receive_lsn - v->obs.replay_lsn : 0);
        json_kbool(out, &first, "read_only", v->obs.read_only);
        json_krate(out, &first, "cache_hit_rate", v->obs.cache_hit_bp);
        json_krate(out, &first, "index_hit_rate", v->obs.index_hit_bp);
        json_ku64(out, &first, "connections", v->obs.connections);
    }
    json_key(out, &first, "lag_bytes");
    if (node_lag(c, n, &lag)) {
        fprintf(out, "%" PRIu64, lag);
    } else {
        fputs("null", out);
    }
    json_ktime(out, &first, "observed_at", f != NULL ? f->obs.probed_ms : 0);
    json_key(out, &first, "views");
    fputc('[', out);
    for (unsigned k = 0, nv = 0; k < PGQ_MAX_MONITORS; k++) {
        const struct view *w = &n->views[k];
        bool f2 = true;
        if (w->monitor_id == 0) {
            continue;
        }
        if (nv++ > 0) {
            fputc(',', out);
        }
        fputc('{', out);
        json_ku64(out, &f2, "monitor", w->monitor_id);
        json_kbool(out, &f2, "reachable", w->obs.reachable);
        json_kstr(out, &f2, "error", w->obs.error);
        json_kbool(out, &f2, "stale", w->gen != s->leader_gen);
        json_ktime(out, &f2, "observed_at", w->obs.probed_ms);
        json_ktime(out, &f2, "committed_at", w->applied_ms);
        fputc('}', out);
    }
    fputs("]}", out);
}

static void status_json(FILE *out,
                        const struct state *s,
                        const struct monitor_row *rows,
                        unsigned n_rows,
                        uint64_t leader,
                        const char *cluster)
{
    bool first = true, f2;
    unsigned nn = 0;
    fputc('{', out);
    json_key(out, &first, "leader");
    if (leader != 0) {
        fprintf(out, "%" PRIu64, leader);
    } else {
        fputs("null", out);
    }
    json_ku64(out, &first, "leader_generation", s->leader_gen);
    json_key(out, &first, "monitors");
    fputc('[', out);
    for (unsigned i = 0; i < n_rows; i++) {
        const struct monitor_row *r = &rows[i];
        f2 = true;
        if (i > 0) {
            fputc(',', out);
        }
        fputc('{', out);
        json_ku64(out, &f2, "id", r->id);
        json_kstr(out, &f2, "api_address", r->api_address);
        json_kstr(out, &f2, "raft_address", r->raft_address);
        json_kstr(out, &f2, "role",
                  r->reachable ? pgq_monitor_role_name(r->info.role) : "unreachable");
        json_kbool(out, &f2, "reachable", r->reachable);
        if (r->reachable) {
            json_ku64(out, &f2, "term", r->info.term);
            json_ku64(out, &f2, "commit_index", r->info.commit_index);
            json_ku64(out, &f2, "applied_index", r->info.applied_index);
            json_kbool(out, &f2, "ready", r->info.ready);
            json_ku64(out, &f2, "rss_kb", r->info.rss_kb);
            json_kstr(out, &f2, "version", r->info.version);
        }
        fputc('}', out);
    }
    fputc(']', out);
    json_key(out, &first, "clusters");
    fputc('[', out);
    for (unsigned ci = 0, nc = 0; ci < s->n_clusters; ci++) {
        const struct cluster *c = &s->clusters[ci];
        if (cluster[0] != '\0' && strcmp(cluster, c->name) != 0) {
            continue;
        }
        if (nc++ > 0) {
            fputc(',', out);
        }
        f2 = true;
        fputc('{', out);
        json_kstr(out, &f2, "name", c->name);
        json_ku64(out, &f2, "epoch", c->epoch);
        json_kstr(out, &f2, "primary", c->primary);
        json_kbool(out, &f2, "paused", c->paused);
        json_ktime(out, &f2, "paused_since", c->paused ? c->pause_ms : 0);
        json_key(out, &f2, "switchover");
        if (c->sw.phase == PGQ_SW_NONE) {
            fputs("null", out);
        } else {
            bool f3 = true;
            fputc('{', out);
            json_kstr(out, &f3, "phase", pgq_sw_phase_name(c->sw.phase));
            json_kstr(out, &f3, "target", c->sw.target);
            json_ktime(out, &f3, "at", c->sw.at_ms);
            json_ku64(out, &f3, "epoch", c->sw.epoch);
            json_ktime(out, &f3, "requested", c->sw.requested_ms);
            json_ktime(out, &f3, "begun", c->sw.begun_ms);
            fputc('}', out);
        }
        json_key(out, &f2, "failover");
        {
            bool f3 = true;
            fputc('{', out);
            json_kstr(out, &f3, "phase", pgq_fo_phase_name(c->fo.phase));
            json_kbool(out, &f3, "switchover", c->fo.switchover);
            json_ku64(out, &f3, "epoch", c->fo.epoch);
            json_kstr(out, &f3, "old_primary", c->fo.old_primary);
            json_kstr(out, &f3, "candidate", c->fo.candidate);
            json_kstr(out, &f3, "blocked", c->fo.blocked);
            json_ktime(out, &f3, "down_at", c->fo.down_ms);
            json_ktime(out, &f3, "decided_at", c->fo.decided_ms);
            json_ktime(out, &f3, "promoted_at", c->fo.promoted_ms);
            json_ktime(out, &f3, "done_at", c->fo.done_ms);
            json_ku64(out, &f3, "timeline", c->fo.timeline);
            fputc('}', out);
        }
        sync_json(out, &f2, c);
        fputc('}', out);
    }
    fputc(']', out);
    json_key(out, &first, "nodes");
    fputc('[', out);
    for (unsigned ci = 0; ci < s->n_clusters; ci++) {
        const struct cluster *c = &s->clusters[ci];
        if (cluster[0] != '\0' && strcmp(cluster, c->name) != 0) {
            continue;
        }
        for (unsigned ni = 0; ni < c->n_nodes; ni++) {
            if (nn++ > 0) {
                fputc(',', out);
            }
            node_json(out, s, c, &c->nodes[ni]);
        }
    }
    fputs("]}\n", out);
}

unsigned render_monitor_rows(const struct api_response *res,
                             const char *answered,
                             struct monitor_row *rows,
                             unsigned max)
{
    const struct state *s = &res->state;
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_monitors && n < max; i++) {
        const struct member *mb = &s->monitors[i];
        struct monitor_row *r;
        if (!mb->voter) {
            continue;
        }
        r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->id = mb->id;
        pgq_strlcpy(r->raft_address, mb->raft_address, sizeof r->raft_address);
        pgq_strlcpy(r->api_address, mb->api_address, sizeof r->api_address);
        if (mb->id == res->info.id) {
            r->reachable = true;
            r->info = res->info;
            if (r->api_address[0] == '\0') {
                pgq_strlcpy(r->api_address, answered, sizeof r->api_address);
            }
        }
    }
    return n;
}

void render_status(FILE *out,
                   const struct state *s,
                   const struct monitor_row *rows,
                   unsigned n,
                   uint64_t leader,
                   const char *cluster,
                   uint64_t now_ms,
                   bool json)
{
    if (json) {
        status_json(out, s, rows, n, leader, cluster);
    } else {
        status_table(out, s, rows, n, leader, cluster, now_ms);
    }
}

/* ---- events ------------------------------------------------------------- */

void render_events(FILE *out, const struct state *s, bool json)
{
    char t[40], d[32];
    if (json) {
        fputc('[', out);
    } else {
        fprintf(out, "%-24s %-8s %-10s %-17s %-5s %-9s %s\n", "Time", "Cluster", "Node", "Event",
                "Epoch", "Duration", "Message");
    }
    for (unsigned i = 0; i < s->n_events; i++) {
        const struct event *e = state_event(s, i);
        iso_time(e->time_ms, t, sizeof t);
        if (json) {
            bool first = true;
            if (i > 0) {
                fputc(',', out);
            }
            fputc('{', out);
            json_ku64(out, &first, "seq", e->seq);
            json_kstr(out, &first, "time", t);
            json_ku64(out, &first, "time_ms", e->time_ms);
            json_kstr(out, &first, "cluster", e->cluster);
            json_kstr(out, &first, "node", e->node);
            json_kstr(out, &first, "event", pgq_event_kind_name(e->kind));
            json_ku64(out, &first, "epoch", e->epoch);
            json_key(out, &first, "duration_ms");
            if (e->duration_ms != 0) {
                fprintf(out, "%" PRIu64, e->duration_ms);
            } else {
                fputs("null", out);
            }
            json_kstr(out, &first, "message", e->message);
            fputc('}', out);
        } else {
            if (e->duration_ms != 0) {
                pgq_duration_format(e->duration_ms, d, sizeof d);
            } else {
                pgq_strlcpy(d, "-", sizeof d);
            }
            fprintf(out, "%-24s %-8s %-10s %-17s %-5" PRIu64 " %-9s %s\n", t,
                    e->cluster[0] ? e->cluster : "-", e->node[0] ? e->node : "-",
                    pgq_event_kind_name(e->kind), e->epoch, d, e->message);
        }
    }
    if (json) {
        fputs("]\n", out);
    }
}

/* ---- URI ---------------------------------------------------------------- */

static void uri_host(char *out, size_t size, const struct node *n, bool *first)
{
    struct conninfo ci;
    if (conninfo_parse(n->conninfo, &ci, NULL, 0) != 0 || ci.host[0] == '\0') {
        return;
    }
    pgq_appendf(out, size, "%s%s%s%s:%s", *first ? "" : ",", strchr(ci.host, ':') ? "[" : "",
                ci.host, strchr(ci.host, ':') ? "]" : "", ci.port);
    *first = false;
}

int render_uri(char *out, size_t size, const struct state *s, const char *cluster)
{
    const struct cluster *c = state_cluster(s, cluster);
    const struct node *p;
    struct conninfo ci;
    const char *db = "postgres";
    bool first = true;
    if (c == NULL || c->n_nodes == 0) {
        return PGQ_NOTFOUND;
    }
    p = cluster_node(c, c->primary);
    if (conninfo_parse((p != NULL ? p : &c->nodes[0])->conninfo, &ci, NULL, 0) == 0 &&
        ci.dbname[0] != '\0') {
        db = ci.dbname;
    }
    snprintf(out, size, "postgresql://");
    if (p != NULL) {
        uri_host(out, size, p, &first);
    }
    for (unsigned i = 0; i < c->n_nodes; i++) {
        if (&c->nodes[i] != p) {
            uri_host(out, size, &c->nodes[i], &first);
        }
    }
    pgq_appendf(out, size, "/%s?target_session_attrs=read-write", db);
    return 0;
}
