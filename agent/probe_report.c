/* probe: what the probes hand over for the Raft log, and what became of
 * it (see probe.h): the observations waiting, collected into a report,
 * and done once the report is committed or not. */
#include <string.h>

#include "lib/util.h"
#include "probe.h"
#include "probe_internal.h"

/* Set what a target has to report, keeping the count of those waiting
 * (dirty, not in flight) that probe_pending() answers with: the loop asks
 * every tick, and a walk of every target was a tenth of the leader's CPU
 * at thousands of nodes. A removed target counts no more. */
void probe_target_flags(struct probe_target *t, bool dirty, bool in_flight)
{
    struct probe *p = t->probe;
    bool was = !t->removed && t->dirty && !t->in_flight;
    bool is = !t->removed && dirty && !in_flight;
    t->dirty = dirty;
    t->in_flight = in_flight;
    if (was != is) {
        p->n_pending = is ? p->n_pending + 1 : p->n_pending - 1;
        if (is && p->n_pending == 1) {
            p->pending_since = uv_now(p->loop);
        }
    }
}

void probe_mark_all_dirty(struct probe *p)
{
    bool any = false;
    for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
        if (t->have_obs && !t->shed) {
            probe_target_flags(t, true, t->in_flight);
            t->urgent = true;
            any = true;
        }
    }
    p->urgent_due |= any; /* a new leader judges on fresh evidence only */
    if (any && p->dirty_cb != NULL) {
        p->dirty_cb(p);
    }
}

unsigned probe_pending(const struct probe *p)
{
    return p->n_pending;
}

bool probe_report_due(const struct probe *p, uint64_t coalesce_ms, unsigned batch)
{
    uint64_t now = uv_now(p->loop);
    if (p->n_pending == 0) {
        return false;
    }
    /* While a failover is under way (probe_hold), refreshes wait for it
     * too, as the routine rounds do: each is an entry of up to a batch of
     * observations that the failover's own commits would queue behind. */
    return p->urgent_due || (p->hold_until <= now &&
                             (p->n_pending >= batch || now >= p->pending_since + coalesce_ms));
}

/* After a collection: a change left behind (the batch was full) still goes
 * at once. */
static void collected(struct probe *p)
{
    if (p->n_pending == 0) {
        p->urgent_due = false;
    }
}

unsigned probe_collect(struct probe *p, char *cluster, struct obs *out, unsigned max)
{
    unsigned n = 0;
    cluster[0] = '\0';
    for (struct probe_target *t = p->targets; t != NULL && n < max; t = t->next) {
        if (!t->dirty || t->in_flight) {
            continue;
        }
        if (cluster[0] == '\0') {
            pgq_strlcpy(cluster, t->cluster, PGQ_NAME_MAX);
        } else if (strcmp(cluster, t->cluster) != 0) {
            continue;
        }
        probe_target_flags(t, false, true);
        t->urgent = false;
        view_obs_get(&t->obs, &out[n++]);
    }
    collected(p);
    return n;
}

/* An observation's encoded size, from above: its strings and every
 * number at its widest (protobuf tags and lengths included). */
static size_t obs_wire_bound(const struct probe_target *t, const struct view_obs *o)
{
    return 256 + strlen(t->cluster) + strlen(o->node) + strlen(o->error) + strlen(o->upstream) +
           strlen(o->sync_standbys) + strlen(o->lost_slots) + strlen(o->sync_setting) +
           strlen(o->replicas);
}

/* Take what target t has to report into out[*n], unless the report is
 * full (max observations, max_bytes). */
static bool take(struct probe_target *t,
                 struct obs *out,
                 const char **clusters,
                 unsigned *n,
                 size_t *bytes,
                 size_t max_bytes)
{
    size_t one = obs_wire_bound(t, &t->obs);
    if (*n > 0 && *bytes + one > max_bytes) {
        return false;
    }
    *bytes += one;
    probe_target_flags(t, false, true);
    t->urgent = false;
    clusters[*n] = t->cluster;
    view_obs_get(&t->obs, &out[(*n)++]);
    return true;
}

unsigned probe_collect_many(struct probe *p,
                            struct obs *out,
                            const char **clusters,
                            unsigned max,
                            size_t max_bytes)
{
    unsigned n = 0;
    size_t bytes = 0;
    bool full = false, left = false;
    /* A change goes alone, ahead of the refreshes waiting with it: a
     * report of a primary found down behind a thousand refreshes was a
     * large entry to encode, replicate and apply while a failover waited
     * on its commit. The refreshes keep their window. */
    if (p->urgent_due) {
        for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
            if (!t->dirty || t->in_flight || !t->urgent) {
                continue;
            }
            if (full || n == max || !take(t, out, clusters, &n, &bytes, max_bytes)) {
                full = true;
                left = true;
            }
        }
        if (n > 0) {
            p->urgent_due = left;
            return n;
        }
    }
    for (struct probe_target *t = p->targets; t != NULL && n < max; t = t->next) {
        if (t->dirty && !t->in_flight && !take(t, out, clusters, &n, &bytes, max_bytes)) {
            break;
        }
    }
    collected(p);
    return n;
}

static void report_done(struct probe *p, const struct command *r, uint64_t now)
{
    for (unsigned i = 0; i < r->u.report.n_obs; i++) {
        const struct obs *o = &r->u.report.obs[i];
        struct probe_target *t = probe_index_find(p, r->cluster, o->node);
        if (t != NULL && t->in_flight) {
            probe_target_flags(t, t->dirty, false);
            obs_digest_of(o, &t->reported); /* what was sent: the target's own may be newer */
            t->have_reported = true;
            t->reported_ms = now;
        }
    }
}

void probe_collect_done(struct probe *p, const struct command *sent)
{
    uint64_t now = uv_now(p->loop);
    if (sent != NULL && sent->kind == CMD_REPORT) {
        report_done(p, sent, now);
    } else if (sent != NULL && sent->kind == CMD_BATCH) {
        for (unsigned i = 0; i < sent->u.batch.n; i++) {
            if (sent->u.batch.cmds[i].kind == CMD_REPORT) {
                report_done(p, &sent->u.batch.cmds[i], now);
            }
        }
    }
    /* What is still in flight was not committed: it is due again, and at
     * once (after the report's backoff): it may hold a change. */
    for (struct probe_target *t = p->targets; t != NULL; t = t->next) {
        if (t->in_flight) {
            probe_target_flags(t, true, false);
            t->urgent = true;
            p->urgent_due = true;
        }
    }
}
