/* cluster_switchover: a planned switchover in the replicated state.
 *
 * An operator schedules it (a target, a time); the leader begins it when
 * its time comes and the primary and a target are fit: the primary's lease
 * is no longer renewed and its agent is told to stop it cleanly (a fast
 * shutdown sends every WAL record, its shutdown checkpoint included, to the
 * standbys that stream). Once the agent says it stopped, and where its WAL
 * ends, the switchover becomes a failover (the Cut) that needs no verdict:
 * the candidate must hold everything up to that end, or the switchover is
 * abandoned and the primary started again. Either side may cancel it
 * before the Cut. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster_internal.h"
#include "lib/util.h"

bool switchover_stopped(const struct cluster *c, const struct node *p)
{
    return c->sw.phase == PGQ_SW_STOPPING && p != NULL && strcmp(c->primary, p->name) == 0 &&
           p->agent.state == PGQ_AGENT_UP && !p->agent.pm_alive && p->agent.handover &&
           p->agent.stopped_lsn != 0;
}

bool switchover_stops(const struct cluster *c, const struct node *n)
{
    return c->sw.phase == PGQ_SW_STOPPING && strcmp(c->primary, n->name) == 0;
}

/* Why target (or, "" given, any standby) cannot be promoted by a
 * switchover now ("" when it can). */
void switchover_unfit(const struct cluster *c, const char *target, char *why, size_t size)
{
    const struct node *p = cluster_node(c, c->primary);
    why[0] = '\0';
    if (p == NULL) {
        snprintf(why, size, "cluster %s has no primary", c->name);
    } else if (p->agent.state != PGQ_AGENT_UP) {
        snprintf(why, size,
                 "the primary %s has no node agent up: a switchover needs it to stop the "
                 "primary cleanly",
                 p->name);
    } else if (!p->agent.pm_alive) {
        snprintf(why, size, "the primary %s is not running", p->name);
    } else if (c->fo.phase != PGQ_FO_NONE && c->fo.phase != PGQ_FO_DONE) {
        snprintf(why, size, "a failover is under way (%s)", pgq_fo_phase_name(c->fo.phase));
    } else if (c->paused) {
        snprintf(why, size, "cluster %s is paused", c->name);
    } else if (target[0] != '\0') {
        const struct node *t = cluster_node(c, target);
        if (t == NULL) {
            snprintf(why, size, "no node %s in cluster %s", target, c->name);
        } else if (t == p) {
            snprintf(why, size, "%s is the primary already", target);
        } else if (t->role != PGQ_ROLE_STANDBY || t->twin_of[0] != '\0') {
            snprintf(why, size, "%s is not a standby", target);
        } else if (node_impostor(t)) {
            snprintf(why, size, "another server answers for %s (system identifier)", target);
        } else if (t->verdict != PGQ_VERDICT_UP) {
            snprintf(why, size, "%s is not up", target);
        } else if (t->priority == 0) {
            snprintf(why, size, "%s has priority 0", target);
        } else if (t->maintenance) {
            snprintf(why, size, "%s is in maintenance", target);
        } else if (t->following_epoch != c->epoch) {
            snprintf(why, size, "%s does not follow the primary of epoch %" PRIu64, target,
                     c->epoch);
        }
    } else {
        unsigned ok = 0;
        for (unsigned i = 0; i < c->n_nodes; i++) {
            const struct node *n = &c->nodes[i];
            ok += n != p && n->role == PGQ_ROLE_STANDBY && n->twin_of[0] == '\0' &&
                  !node_impostor(n) && n->verdict == PGQ_VERDICT_UP && n->priority > 0 &&
                  !n->maintenance && n->following_epoch == c->epoch;
        }
        if (ok == 0) {
            snprintf(why, size, "no standby that follows the primary could replace it");
        }
    }
}

int check_switchover(const struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cluster *c = state_cluster(s, cmd->cluster);
    const struct cmd_switchover *w = &cmd->u.switchover;
    char why[PGQ_REASON_MAX];
    if (c == NULL) {
        return cluster_fail(res, PGQ_NOTFOUND, "no cluster %s", cmd->cluster);
    }
    if (w->cancel) {
        if (c->sw.phase == PGQ_SW_NONE) {
            return cluster_fail(res, PGQ_STALE, "no switchover is scheduled in cluster %s",
                                c->name);
        }
        /* From the Cut on it is a failover: it ends with its target
         * promoted, or abandoned and the primary started again. */
        if (c->fo.phase == PGQ_FO_CUTTING && c->fo.switchover) {
            return cluster_fail(res, PGQ_REFUSED,
                                "the switchover of %s can no longer be cancelled: it stopped "
                                "cleanly and its standbys are being cut off it",
                                c->primary);
        }
        return 0;
    }
    if (w->begin) {
        if (c->sw.phase != PGQ_SW_PENDING || c->sw.epoch != c->epoch) {
            return cluster_fail(res, PGQ_STALE, "switchover: nothing to begin (%s)",
                                pgq_sw_phase_name(c->sw.phase));
        }
        switchover_unfit(c, c->sw.target, why, sizeof why);
        if (why[0] != '\0') {
            return cluster_fail(res, PGQ_STALE, "switchover cannot begin: %s", why);
        }
        return 0;
    }
    if (c->sw.phase != PGQ_SW_NONE) {
        return cluster_fail(res, PGQ_REFUSED,
                            "a switchover is already scheduled in cluster %s (to %s): cancel it "
                            "first (pgquorumctl switchover --cancel)",
                            c->name, c->sw.target[0] ? c->sw.target : "the best standby");
    }
    switchover_unfit(c, w->target, why, sizeof why);
    if (why[0] != '\0') {
        return cluster_fail(res, PGQ_REFUSED, "switchover refused: %s", why);
    }
    return 0;
}

int apply_switchover(struct state *s, const struct command *cmd, struct apply_result *res)
{
    const struct cmd_switchover *w = &cmd->u.switchover;
    const char *by = w->by[0] != '\0' ? w->by : "an operator";
    struct cluster *c;
    const char *to;
    int rv = check_switchover(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    c = state_cluster(s, cmd->cluster);
    if (w->cancel) {
        bool stopping = c->sw.phase == PGQ_SW_STOPPING;
        cluster_event(s, c->name, c->primary, PGQ_EV_SWITCHOVER, c->epoch, 0,
                      "switchover of %s cancelled by %s%s", c->primary, by,
                      stopping ? ": the primary is started again" : "");
        memset(&c->sw, 0, sizeof c->sw);
        c->fo.blocked[0] = '\0';
        return 0;
    }
    if (w->begin) {
        c->sw.phase = PGQ_SW_STOPPING;
        c->sw.begun_ms = s->time_ms;
        cluster_event(s, c->name, c->primary, PGQ_EV_SWITCHOVER, c->epoch, 0,
                      "switchover begins: primary %s stops cleanly (writes stop now) for %s",
                      c->primary, c->sw.target[0] ? c->sw.target : "the best standby");
        return 0;
    }
    memset(&c->sw, 0, sizeof c->sw);
    c->sw.phase = PGQ_SW_PENDING;
    pgq_strlcpy(c->sw.target, w->target, sizeof c->sw.target);
    c->sw.at_ms = w->at_ms;
    c->sw.epoch = c->epoch;
    c->sw.requested_ms = s->time_ms;
    to = w->target[0] != '\0' ? w->target : "the best standby";
    if (w->at_ms > s->time_ms) {
        cluster_event(s, c->name, c->primary, PGQ_EV_SWITCHOVER, c->epoch, 0,
                      "switchover of %s to %s scheduled by %s, in %" PRIu64 " s", c->primary, to,
                      by, (w->at_ms - s->time_ms + 999) / 1000);
    } else {
        cluster_event(s, c->name, c->primary, PGQ_EV_SWITCHOVER, c->epoch, 0,
                      "switchover of %s to %s requested by %s", c->primary, to, by);
    }
    return 0;
}
