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

#endif /* PGQ_POLICY_INTERNAL_H */
