/* Inside the policy: what policy.c and policy_agent.c share. Not for
 * anyone else: the contract is policy.h. */
#ifndef PGQ_POLICY_INTERNAL_H
#define PGQ_POLICY_INTERNAL_H

#include "policy.h"

/* The next feature-level raise, if due (policy_agent.c). */
bool policy_next_feature(const struct state *s, struct command *out);

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

#endif /* PGQ_POLICY_INTERNAL_H */
