/* The raft_fsm glue: apply decodes a command and hands it to cluster_apply;
 * snapshot and restore are the codec over the state. No ideas live here. */
#ifndef PGQ_FSM_H
#define PGQ_FSM_H

#include <raft.h>

#include "cluster.h"

struct fsm;

/* Called after every applied entry (accepted or refused), on every monitor. */
typedef void (*fsm_applied_cb)(struct fsm *f,
                               const struct command *cmd,
                               const struct apply_result *res);

struct fsm
{
    struct raft_fsm raft; /* handed to raft_init */
    struct state state;
    struct apply_result last; /* result of the latest apply; raft_apply's cb reads it */
    fsm_applied_cb applied_cb;
    void *data;
};

void fsm_init(struct fsm *f);
void fsm_close(struct fsm *f);

#endif /* PGQ_FSM_H */
