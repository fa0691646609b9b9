/* render: the status and events tables for people, and the libpq URI for
 * applications (see render.h). The JSON documents are render_json.c. */
#include "render.h"

#include "members.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conninfo.h"
#include "render_internal.h"
#include "lib/util.h"

/* ---- shared with render_json.c (render_internal.h) ---------------------- */

const char *render_agent_word(const struct agent_facts *a)
{
    if (a->state == PGQ_AGENT_SILENT) {
        return a->unprotected ? "unprotected" : "silent";
    }
    return pgq_agent_state_name(a->state);
}

void render_iso_time(uint64_t ms, char *out, size_t size)
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

const struct view *render_freshest_up(const struct node *n)
{
    const struct view *best = NULL;
    for (unsigned i = 0; i < n->n_views; i++) {
        const struct view *v = &n->views[i];
        if (v->monitor_id != 0 && v->obs.reachable &&
            (best == NULL || v->obs.probed_ms > best->obs.probed_ms)) {
            best = v;
        }
    }
    return best;
}

uint64_t render_node_lsn(const struct view_obs *o)
{
    return o->in_recovery ? PGQ_MAX(o->receive_lsn, o->replay_lsn) : o->current_lsn;
}

/* As the standby measured itself while streaming (its upstream's end of
 * WAL, same probe), else behind the primary's latest known position. */
bool render_node_lag(const struct cluster *c, const struct node *n, uint64_t *lag)
{
    const struct node *p = cluster_node(c, c->primary);
    const struct view *pv = p != NULL ? render_freshest_up(p) : NULL;
    const struct view *v = render_freshest_up(n);
    uint64_t plsn, lsn;
    if (p == n || v == NULL || !v->obs.in_recovery) {
        return false;
    }
    if (v->obs.streaming && v->obs.upstream_lsn != 0) {
        *lag = view_obs_lag(&v->obs);
        return true;
    }
    if (pv == NULL || pv->obs.in_recovery) {
        return false;
    }
    plsn = pv->obs.current_lsn;
    lsn = render_node_lsn(&v->obs);
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
    char b1[64], b2[64];
    fprintf(out, "Monitors (leader: ");
    if (leader != 0) {
        fprintf(out, "%" PRIu64 ")\n", leader);
    } else {
        fprintf(out, "none)\n");
    }
    fprintf(out, "  %-3s %-21s %-21s %-11s %-7s %6s %8s %8s  %s\n", "ID", "API", "Raft", "Role",
            "Vote", "Term", "Commit", "Applied", "Reachable");
    for (unsigned i = 0; i < n_rows; i++) {
        const struct monitor_row *r = &rows[i];
        if (r->reachable) {
            fprintf(out,
                    "  %-3" PRIu64 " %-21s %-21s %-11s %-7s %6" PRIu64 " %8" PRIu64 " %8" PRIu64
                    "  yes%s\n",
                    r->id, r->api_address[0] ? r->api_address : "?",
                    r->raft_address[0] ? r->raft_address : "?", pgq_monitor_role_name(r->info.role),
                    render_raft_role(r->raft_role), r->info.term, r->info.commit_index,
                    r->info.applied_index,
                    r->info.ready            ? ""
                    : r->info.leader_id == 0 ? " (no leader)"
                                             : " (catching up)");
        } else {
            fprintf(out, "  %-3" PRIu64 " %-21s %-21s %-11s %-7s %6s %8s %8s  no\n", r->id,
                    r->api_address[0] ? r->api_address : "?",
                    r->raft_address[0] ? r->raft_address : "?", "unreachable",
                    render_raft_role(r->raft_role), "-", "-", "-");
        }
    }
    for (unsigned i = 0; i < n_rows; i++) {
        const struct monitor_row *r = &rows[i];
        if (r->reachable && r->info.probes_shed > 0) {
            fprintf(
                out,
                "  !! monitor %" PRIu64 " does not probe %u of %u nodes: open-file limit %" PRIu64
                ", %" PRIu64 " needed (raise LimitNOFILE)\n",
                r->id, r->info.probes_shed, r->info.probes, r->info.fd_limit, r->info.fd_needed);
        }
        if (r->reachable && r->info.overloaded) {
            fprintf(out,
                    "  !! monitor %" PRIu64 "'s loop runs late (up to %" PRIu64
                    " ms): failures it sees may be its own overload\n",
                    r->id, r->info.loop_lag_ms);
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
            const struct view *v = render_freshest_up(n);
            const struct view *f = node_latest_view(n);
            char lsn[32] = "-", lag[32] = "-", cache[16] = "-", idx[16] = "-", conns[16] = "-",
                 tl[16] = "-", views[256] = "";
            uint64_t lagb;
            if (v != NULL) {
                pgq_lsn_format(render_node_lsn(&v->obs), lsn, sizeof lsn);
                fmt_rate(v->obs.cache_hit_bp, cache, sizeof cache);
                fmt_rate(v->obs.index_hit_bp, idx, sizeof idx);
                snprintf(conns, sizeof conns, "%u", v->obs.connections);
                snprintf(tl, sizeof tl, "%u", v->obs.timeline);
            }
            if (render_node_lag(c, n, &lagb)) {
                fmt_bytes(lagb, lag, sizeof lag);
            }
            for (unsigned k = 0; k < n->n_views; k++) {
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
                        render_agent_word(a), a->pm_alive ? "running" : "down",
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
            if (node_impostor(n)) {
                fprintf(out,
                        "  !! %s: another server answers at its address (not system identifier "
                        "%" PRIu64 "): refused, never promoted\n",
                        n->name, n->system_id);
            }
            if (f != NULL && !f->obs.reachable && f->obs.error[0] != '\0') {
                fprintf(out, "     %s: %s\n", n->name, f->obs.error);
            }
        }
    }
}

/* Managed synchronous replication, one line for people (the JSON
 * document's "sync" object says the same for programs). */
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

const char *render_raft_role(int role)
{
    return role == MEMBERS_ROLE_VOTER     ? "voter"
           : role == MEMBERS_ROLE_STANDBY ? "standby"
           : role == MEMBERS_ROLE_SPARE   ? "spare"
                                          : "none";
}

unsigned render_monitor_rows(const struct state *s,
                             const struct raft_info *info,
                             const char *answered,
                             struct monitor_row *rows,
                             unsigned max)
{
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
        r->raft_role = info->n_servers > 0 ? MEMBERS_ROLE_NONE : MEMBERS_ROLE_VOTER;
        pgq_strlcpy(r->raft_address, mb->raft_address, sizeof r->raft_address);
        pgq_strlcpy(r->api_address, mb->api_address, sizeof r->api_address);
    }
    /* The Raft configuration itself: who votes there (the state follows it
     * one entry behind), and who is on the way in. */
    for (unsigned i = 0; i < info->n_servers; i++) {
        const struct raft_server_info *sv = &info->servers[i];
        const struct member *mb = state_member(s, sv->id);
        struct monitor_row *r = NULL;
        for (unsigned k = 0; k < n && r == NULL; k++) {
            r = rows[k].id == sv->id ? &rows[k] : NULL;
        }
        if (r == NULL) {
            if (n == max) {
                continue;
            }
            r = &rows[n++];
            memset(r, 0, sizeof *r);
            r->id = sv->id;
            pgq_strlcpy(r->raft_address, sv->address, sizeof r->raft_address);
            if (mb != NULL) {
                pgq_strlcpy(r->api_address, mb->api_address, sizeof r->api_address);
            }
        }
        r->raft_role = sv->role;
    }
    for (unsigned k = 0; k < n; k++) {
        struct monitor_row *r = &rows[k];
        if (r->id == info->id) {
            r->reachable = true;
            r->info = *info;
            if (r->api_address[0] == '\0') {
                pgq_strlcpy(r->api_address, answered, sizeof r->api_address);
            }
        }
    }
    return n;
}

int render_status(FILE *out,
                  const struct state *s,
                  const struct monitor_row *rows,
                  unsigned n,
                  uint64_t leader,
                  const char *cluster,
                  uint64_t now_ms,
                  bool json)
{
    if (!json) {
        status_table(out, s, rows, n, leader, cluster, now_ms);
        return 0;
    }
    return render_status_stream(out, s, rows, n, leader, cluster);
}

/* ---- events ------------------------------------------------------------- */

int render_events(FILE *out, const struct state *s, bool json)
{
    char t[40], d[32];
    struct event_list l;
    if (json) {
        json_t *doc = render_events_doc(s, "", 0);
        int rv = doc != NULL ? render_json_write(out, doc) : PGQ_NOMEM;
        json_decref(doc);
        return rv;
    }
    if (state_events_list(s, NULL, 0, &l) != 0) {
        return PGQ_NOMEM;
    }
    fprintf(out, "%-24s %-8s %-10s %-17s %-5s %-9s %s\n", "Time", "Cluster", "Node", "Event",
            "Epoch", "Duration", "Message");
    for (unsigned i = 0; i < l.n; i++) {
        const struct event *e = l.ev[i];
        render_iso_time(e->time_ms, t, sizeof t);
        if (e->duration_ms != 0) {
            pgq_duration_format(e->duration_ms, d, sizeof d);
        } else {
            pgq_strlcpy(d, "-", sizeof d);
        }
        fprintf(out, "%-24s %-8s %-10s %-17s %-5" PRIu64 " %-9s %s", t,
                e->cluster[0] ? e->cluster : "-", e->node[0] ? e->node : "-",
                pgq_event_kind_name(e->kind), e->epoch, d, e->message);
        /* Who asked, when the event records a request. */
        if (e->who[0] != '\0') {
            fprintf(out, " [%s%s%s]", e->who, e->from[0] != '\0' ? " from " : "", e->from);
        }
        fputc('\n', out);
    }
    event_list_free(&l);
    return 0;
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
