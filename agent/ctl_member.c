/* pgquorumctl's monitor commands (see ctl_member.h). */
#include "ctl_member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "members.h"

static const char usage[] =
    "usage: monitor add ID RAFT_ADDRESS [API_ADDRESS] | monitor remove ID | monitor replace "
    "OLD_ID NEW_ID RAFT_ADDRESS [API_ADDRESS]";

static int parse_id(const char *s, uint64_t *out, char *err, size_t errsize)
{
    char *end;
    unsigned long long v;
    if (s[0] < '0' || s[0] > '9' || (v = strtoull(s, &end, 10), *end != '\0') || v == 0 ||
        v > PGQ_MONITOR_ID_MAX) {
        snprintf(err, errsize, "\"%s\" is not a monitor id (1..%d)", s, PGQ_MONITOR_ID_MAX);
        return PGQ_INVALID;
    }
    *out = v;
    return 0;
}

static int copy_addr(char *dst, size_t size, const char *s, char *err, size_t errsize)
{
    if (pgq_strlcpy(dst, s, size) >= size) {
        snprintf(err, errsize, "address \"%.40s...\" is too long", s);
        return PGQ_INVALID;
    }
    return 0;
}

int member_parse(const char *const *words,
                 unsigned n,
                 struct api_request *req,
                 char *err,
                 size_t errsize)
{
    const char *sub = n > 1 ? words[1] : "";
    struct cmd_member *mb;
    unsigned first; /* the word of the id */
    memset(req, 0, sizeof *req);
    req->kind = API_MONITOR_CHANGE;
    command_init(&req->cmd, CMD_MEMBER);
    mb = &req->cmd.u.member;
    if (strcmp(sub, "add") == 0 && (n == 4 || n == 5)) {
        mb->op = PGQ_MEMBER_ADD;
        first = 2;
    } else if (strcmp(sub, "remove") == 0 && n == 3) {
        mb->op = PGQ_MEMBER_REMOVE;
        first = 2;
    } else if (strcmp(sub, "replace") == 0 && (n == 5 || n == 6)) {
        mb->op = PGQ_MEMBER_REPLACE;
        if (parse_id(words[2], &mb->old_id, err, errsize) != 0) {
            return PGQ_INVALID;
        }
        first = 3;
    } else {
        snprintf(err, errsize, "%s", usage);
        return PGQ_INVALID;
    }
    if (parse_id(words[first], &mb->monitor_id, err, errsize) != 0) {
        return PGQ_INVALID;
    }
    if (mb->op != PGQ_MEMBER_REMOVE &&
        (copy_addr(mb->raft_address, sizeof mb->raft_address, words[first + 1], err, errsize) !=
             0 ||
         (first + 2 < n && copy_addr(mb->api_address, sizeof mb->api_address, words[first + 2], err,
                                     errsize) != 0))) {
        return PGQ_INVALID;
    }
    /* The leader checks the same, in the same words. */
    return members_check_request(mb, err, errsize);
}
