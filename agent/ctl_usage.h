/* ctl_usage: pgquorumctl's help texts: the general usage (--help) and one
 * text per command (pgquorumctl COMMAND --help). Text only. */
#ifndef PGQ_CTL_USAGE_H
#define PGQ_CTL_USAGE_H

#include <stddef.h>

struct ctl_usage
{
    const char *cmd;
    const char *text;
};

extern const char ctl_usage_main[];
extern const struct ctl_usage ctl_usage_cmds[];
extern const size_t ctl_n_usage_cmds;

#endif /* PGQ_CTL_USAGE_H */
