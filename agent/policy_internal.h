/* Inside the policy: what policy.c and policy_agent.c share. Not for
 * anyone else: the contract is policy.h. */
#ifndef PGQ_POLICY_INTERNAL_H
#define PGQ_POLICY_INTERNAL_H

#include "policy.h"

/* The next feature-level raise, if due (policy_agent.c). */
bool policy_next_feature(const struct state *s, struct command *out);
bool policy_next_bounds(const struct state *s, const struct policy_config *pc, struct command *out);

/* The next agent report or silence to commit, if any (policy_agent.c). */
bool policy_next_agent(const struct state *s,
                       const struct policy_config *pc,
                       uint64_t now_ms,
                       struct command *out);

/* Replication slots (policy_slots.c); pc may be NULL (slots off). */
/* ACT_SLOTS is due on p, the primary of c. */
bool policy_slots_due(const struct state *s,
                      const struct policy_config *pc,
                      const struct cluster *c,
                      const struct node *p);
/* The slot a repoint of standby n gives it (false: none). */
bool policy_repoint_slot(const struct state *s,
                         const struct policy_config *pc,
                         const struct cluster *c,
                         const struct node *n,
                         char *buf,
                         size_t size);
/* Standby n streams without its slot, by its latest observation, and
 * could take it: it is repointed again, with its slot. */
bool policy_streams_unslotted(const struct state *s,
                              const struct policy_config *pc,
                              const struct cluster *c,
                              const struct node *n);
/* How far a standby of c may have acknowledged the primary being replaced:
 * its cut position (this round when it is up, an earlier round of the
 * chain when not); false when it was not cut (policy.c). */
bool policy_holder_position(const struct cluster *c, const struct node *n, uint64_t *lsn);

/* Managed synchronous replication (policy_sync.c). */
bool policy_sync_managed(const struct cluster *c);
/* An operator allowed a failover of the current epoch that may lose writes. */
bool policy_sync_allowed(const struct cluster *c);
/* The next synchronous set to commit for c, if due. */
bool policy_next_sync(const struct cluster *c, struct command *out);
/* The set the rules call for now, for the primary p of c's epoch. */
void policy_sync_desired(const struct cluster *c, const struct node *p, struct sync_set *out);
/* A set for the current epoch can be committed (room to keep the older). */
bool policy_sync_room(const struct cluster *c);
/* The committed set's setting, when it is for the current epoch. */
bool policy_sync_text(const struct cluster *c, char *text, size_t size);
/* The primary p must be made to run the committed set (ACT_SYNC). */
bool policy_sync_apply_due(const struct cluster *c, const struct node *p);
/* With managed sync (and no allowance), the set a candidate must be in:
 * the newest that binds the failover (NULL: no restriction). */
const struct sync_set *policy_sync_last(const struct cluster *c);
/* Invariant 4 with managed sets: false (why) when the standbys compared
 * after the cut cannot prove they hold every acknowledged write; else the
 * floor every candidate must reach, and who holds it. */
bool policy_sync_floor(const struct cluster *c,
                       uint32_t tli,
                       uint64_t *floor,
                       const char **holder,
                       char *why,
                       size_t size);

/* Before a cut: how many standbys of c could be promoted over p at all,
 * whatever their positions (chain: not those given up in this failover);
 * the reasons of the others go to why (policy_choose.c). */
unsigned policy_plausible_candidates(const struct cluster *c,
                                     const struct node *p,
                                     bool chain,
                                     char *why,
                                     size_t size);

/* The primary p would be down by a majority of fresh views if the monitors
 * that took some of them had not been overloaded: true, with why
 * (policy_views.c). */
bool policy_overload_held_views(const struct state *s,
                                const struct node *p,
                                const struct policy_config *pc,
                                uint64_t now_ms,
                                char *reason,
                                size_t size);

/* Many primaries down at once while this leader's own loop runs late: true,
 * with why (policy_views.c). */
bool policy_overload_storm(const struct state *s,
                           const struct policy_config *pc,
                           uint64_t now_ms,
                           char *reason,
                           size_t size);

#endif /* PGQ_POLICY_INTERNAL_H */
