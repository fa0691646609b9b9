/* ctl: blocking API client with deadlines (see ctl.h). */
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "lib/util.h"
#include "token.h"

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ctl_set_monitors(struct ctl *c, const char *list, char *errmsg, size_t errsize)
{
    const char *p = list;
    c->n_monitors = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        char item[PGQ_ADDR_MAX], host[PGQ_ADDR_MAX];
        uint16_t port;
        if (len == 0 || len >= sizeof item) {
            snprintf(errmsg, errsize, "--monitors: empty or overlong entry in \"%.64s\"", list);
            return PGQ_INVALID;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (pgq_parse_hostport(item, host, sizeof host, &port) != 0 || !pgq_is_ipv4(host)) {
            snprintf(errmsg, errsize, "--monitors: \"%s\" is not IPv4-address:port", item);
            return PGQ_INVALID;
        }
        if (c->n_monitors >= CTL_MAX_MONITORS) {
            snprintf(errmsg, errsize, "--monitors: more than %d monitors", CTL_MAX_MONITORS);
            return PGQ_INVALID;
        }
        pgq_strlcpy(c->monitors[c->n_monitors++], item, PGQ_ADDR_MAX);
        p += len + (p[len] == ',' ? 1 : 0);
    }
    if (c->n_monitors == 0) {
        snprintf(errmsg, errsize, "--monitors: no monitor given");
        return PGQ_INVALID;
    }
    return 0;
}

static int io_all(struct tsync *ts, uint8_t *buf, size_t len, bool writing, uint64_t deadline)
{
    size_t done = 0;
    if (writing) {
        return tsync_write(ts, buf, len, deadline);
    }
    while (done < len) {
        ssize_t n = tsync_read(ts, buf + done, len - done, deadline);
        if (n == 0) {
            return PGQ_IO;
        }
        if (n < 0) {
            return (int)-n;
        }
        done += (size_t)n;
    }
    return 0;
}

/* The reply header was no frame length a monitor sends: say what answered
 * instead, its first line when it is text ("HTTP/1.1 400 Bad Request"). */
static void not_a_monitor(struct ctl *c,
                          struct tsync *ts,
                          const char *address,
                          const uint8_t *hdr,
                          uint32_t reply_len,
                          uint64_t deadline)
{
    char text[64];
    size_t n = 0;
    bool ascii = true;
    for (size_t i = 0; i < FRAME_HEADER_SIZE; i++) {
        ascii &= hdr[i] >= 0x20 && hdr[i] < 0x7f;
        text[n++] = (char)hdr[i];
    }
    if (!ascii) {
        snprintf(c->errmsg, sizeof c->errmsg,
                 "%s: not a pgquorum monitor (it announced a reply of %u bytes, over the "
                 "%u-byte limit)",
                 address, reply_len, (unsigned)PGQ_REPLY_FRAME_MAX);
        return;
    }
    /* The rest of its first line, as far as it comes soon. */
    deadline = PGQ_MIN(deadline, clock_mono_ms() + 300);
    while (n < sizeof text - 1) {
        uint8_t b;
        if (tsync_read(ts, &b, 1, deadline) != 1 || b == '\r' || b == '\n') {
            break;
        }
        text[n++] = b >= 0x20 && b < 0x7f ? (char)b : '?';
    }
    text[n] = '\0';
    snprintf(c->errmsg, sizeof c->errmsg, "%s: not a pgquorum monitor (it answered \"%s%s\")",
             address, text, n == sizeof text - 1 ? "..." : "");
}

/* Encode req with c's token. */
static int encode_request(const struct ctl *c,
                          const struct api_request *req,
                          const struct codec_alloc *a,
                          uint8_t **out,
                          size_t *len)
{
    struct api_request *r;
    int rv;
    if (c->token[0] == '\0' || req->token[0] != '\0') {
        return codec_request_encode(req, a, out, len);
    }
    r = malloc(sizeof *r);
    if (r == NULL) {
        return PGQ_NOMEM;
    }
    *r = *req;
    pgq_strlcpy(r->token, c->token, sizeof r->token);
    rv = codec_request_encode(r, a, out, len);
    token_wipe(r->token, sizeof r->token);
    free(r);
    return rv;
}

/* A streamed reply in all, frame headers counted: beyond, the client gives
 * up on it (one frame alone is at most PGQ_REPLY_FRAME_MAX). */
#define CTL_STREAM_MAX (4ull * PGQ_REPLY_FRAME_MAX)

/* The reply, its first frame's header read (len): one frame, or a
 * streamed status's head and parts (codec_stream_add), decoded as one. */
static int read_reply(struct ctl *c,
                      struct tsync *ts,
                      const char *address,
                      uint32_t len,
                      uint64_t deadline,
                      struct api_response *res)
{
    struct codec_stream *st = NULL;
    uint64_t total = 0;
    bool more = true;
    int rv = 0;
    for (unsigned n = 1; more; n++) {
        uint8_t hdr[FRAME_HEADER_SIZE], *in;
        if (n > 1) {
            rv = io_all(ts, hdr, sizeof hdr, false, deadline);
            if (rv != 0) {
                snprintf(c->errmsg, sizeof c->errmsg, "%s: %s after %u frames of a streamed reply",
                         address, rv == PGQ_TIMEOUT ? "no reply in time" : "reply cut short",
                         n - 1);
                codec_stream_free(st);
                return rv == PGQ_TIMEOUT ? PGQ_TIMEOUT : PGQ_UNAVAILABLE;
            }
            len = frame_get_header(hdr);
        }
        total += (uint64_t)len + FRAME_HEADER_SIZE;
        if (len > PGQ_REPLY_FRAME_MAX || total > CTL_STREAM_MAX) {
            if (len > PGQ_REPLY_FRAME_MAX) {
                snprintf(c->errmsg, sizeof c->errmsg,
                         "%s: reply frame %u of %u bytes, over the limit of %u", address, n, len,
                         PGQ_REPLY_FRAME_MAX);
            } else {
                snprintf(c->errmsg, sizeof c->errmsg,
                         "%s: streamed reply over %llu bytes at frame %u", address,
                         (unsigned long long)CTL_STREAM_MAX, n);
            }
            codec_stream_free(st);
            c->hopeless = true;
            return PGQ_MALFORMED;
        }
        in = malloc(len ? len : 1);
        if (in == NULL) {
            codec_stream_free(st);
            return PGQ_NOMEM;
        }
        rv = io_all(ts, in, len, false, deadline);
        if (rv != 0) {
            snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", address,
                     rv == PGQ_TIMEOUT ? "no reply in time" : "reply cut short");
            free(in);
            codec_stream_free(st);
            return rv == PGQ_TIMEOUT ? PGQ_TIMEOUT : PGQ_UNAVAILABLE;
        }
        rv = codec_stream_add(&st, in, len, &more, c->errmsg, sizeof c->errmsg);
        free(in);
        if (rv != 0) {
            codec_stream_free(st);
            c->hopeless = true; /* asking it again gets the same reply */
            return rv;
        }
    }
    rv = codec_stream_finish(st, res, c->errmsg, sizeof c->errmsg);
    c->hopeless = rv != 0;
    return rv;
}

int ctl_call(struct ctl *c,
             const char *address,
             const struct api_request *req,
             struct api_response *res)
{
    struct codec_alloc a = {malloc, FRAME_HEADER_SIZE};
    struct sockaddr_in sa;
    char host[PGQ_ADDR_MAX];
    uint16_t port;
    uint64_t deadline = clock_mono_ms() + c->timeout_ms;
    uint8_t hdr[FRAME_HEADER_SIZE];
    uint8_t *out = NULL;
    size_t len;
    uint32_t reply_len;
    struct tsync ts;
    int fd, rv, one = 1;

    api_response_init(res);
    c->hopeless = false;
    if (pgq_parse_hostport(address, host, sizeof host, &port) != 0 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: not an IPv4 address:port", address);
        return PGQ_INVALID;
    }
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: socket: %s", address, strerror(errno));
        return PGQ_UNAVAILABLE;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: connect: %s", address, strerror(errno));
        c->hopeless = errno == ECONNREFUSED;
        close(fd);
        return PGQ_UNAVAILABLE;
    }
    rv = tsync_wait(fd, POLLOUT, deadline);
    if (rv == 0) {
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0) {
            snprintf(c->errmsg, sizeof c->errmsg, "%s: connect: %s", address, strerror(err));
            c->hopeless = err == ECONNREFUSED;
            close(fd);
            return PGQ_UNAVAILABLE;
        }
    } else {
        snprintf(c->errmsg, sizeof c->errmsg, "%s: connect: timed out", address);
        close(fd);
        return PGQ_UNAVAILABLE;
    }
    {
        char err[256];
        rv = tsync_open(c->transport, &ts, fd, PEER_MONITOR, 0, deadline, err, sizeof err);
        if (rv != 0) {
            snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", address, err);
            c->hopeless = rv == PGQ_AUTH; /* asking it again fails the same way */
            close(fd);
            return rv == PGQ_TIMEOUT ? PGQ_TIMEOUT : PGQ_UNAVAILABLE;
        }
    }
    rv = encode_request(c, req, &a, &out, &len);
    if (rv != 0) {
        snprintf(c->errmsg, sizeof c->errmsg, "cannot encode the request");
        tsync_close(&ts);
        close(fd);
        return rv;
    }
    frame_put_header(out, (uint32_t)len);
    rv = io_all(&ts, out, len + FRAME_HEADER_SIZE, true, deadline);
    token_wipe(out, len + FRAME_HEADER_SIZE);
    free(out);
    if (rv == 0) {
        rv = io_all(&ts, hdr, sizeof hdr, false, deadline);
    }
    if (rv != 0) {
        /* TLS 1.3: a monitor refuses a client certificate after the client's side of
         * the handshake is done, so the reason comes with the first read. */
        snprintf(c->errmsg, sizeof c->errmsg, "%s: %s", address,
                 rv == PGQ_TIMEOUT      ? "no reply in time"
                 : ts.errmsg[0] != '\0' ? ts.errmsg
                                        : "connection closed");
        c->hopeless = rv == PGQ_AUTH;
        tsync_close(&ts);
        close(fd);
        return rv == PGQ_TIMEOUT ? PGQ_TIMEOUT : PGQ_UNAVAILABLE;
    }
    reply_len = frame_get_header(hdr);
    if (reply_len > PGQ_REPLY_FRAME_MAX) {
        not_a_monitor(c, &ts, address, hdr, reply_len, deadline);
        c->hopeless = true;
        tsync_close(&ts);
        close(fd);
        return PGQ_MALFORMED;
    }
    rv = read_reply(c, &ts, address, reply_len, deadline, res);
    tsync_close(&ts);
    close(fd);
    return rv;
}

int ctl_read(struct ctl *c,
             const struct api_request *req,
             struct api_response *res,
             char *answered,
             size_t answered_size)
{
    struct api_response first;
    bool have_first = false;
    char errs[512] = "";
    api_response_init(res);
    /* Every monitor answers reads; the leader's answer is the freshest, so a
     * follower's answer is only kept when the leader cannot be reached. */
    for (unsigned i = 0; i < c->n_monitors; i++) {
        struct api_response r;
        int rv = ctl_call(c, c->monitors[i], req, &r);
        if (rv != 0) {
            pgq_appendf(errs, sizeof errs, "%s%s", errs[0] ? "; " : "", c->errmsg);
            continue;
        }
        /* Denied by one, denied by all: the others need not be asked (and
         * each would record the refusal). */
        if (r.code == API_DENIED ||
            (r.code == API_OK && (c->local || (r.info.role == PGQ_MON_LEADER && r.info.ready)))) {
            if (have_first) {
                api_response_close(&first);
            }
            *res = r;
            pgq_strlcpy(answered, c->monitors[i], answered_size);
            return 0;
        }
        if (!c->local && r.code == API_OK && r.info.leader_api[0] != '\0' &&
            strcmp(r.info.leader_api, c->monitors[i]) != 0) {
            struct api_response l;
            if (ctl_call(c, r.info.leader_api, req, &l) == 0 && l.code == API_OK &&
                l.info.role == PGQ_MON_LEADER) {
                if (have_first) {
                    api_response_close(&first);
                }
                api_response_close(&r);
                *res = l;
                pgq_strlcpy(answered, r.info.leader_api, answered_size);
                return 0;
            }
            api_response_close(&l);
        }
        /* Keep the best other answer: a caught-up follower over the rest. */
        if (!have_first || (r.code == API_OK && r.info.ready && !first.info.ready)) {
            if (have_first) {
                api_response_close(&first);
            }
            first = r;
            have_first = true;
            pgq_strlcpy(answered, c->monitors[i], answered_size);
        } else {
            api_response_close(&r);
        }
    }
    if (have_first) {
        *res = first;
        return 0;
    }
    snprintf(c->errmsg, sizeof c->errmsg, "no monitor reachable: %s", errs);
    return PGQ_UNAVAILABLE;
}

/* Try one monitor. 1: *res is the final answer; 0: try another (hint may
 * name the leader). */
struct write_try
{
    bool reached;     /* a monitor answered */
    bool hopeful;     /* one may yet: not every one refused the connection */
    char last[512];   /* the latest reason */
    char tried[1024]; /* the first round: every monitor and its reason */
    bool listing;     /* still in the first round */
};

static int try_write(struct ctl *c,
                     const char *addr,
                     const struct api_request *req,
                     struct api_response *res,
                     char *hint,
                     struct write_try *w)
{
    struct api_response r;
    if (ctl_call(c, addr, req, &r) != 0) {
        /* A monitor's own words say more than a failed connection. */
        if (!w->reached) {
            pgq_strlcpy(w->last, c->errmsg, sizeof w->last);
        }
        w->hopeful |= !c->hopeless;
        if (w->listing) {
            pgq_appendf(w->tried, sizeof w->tried, "%s%s", w->tried[0] ? "; " : "", c->errmsg);
        }
        return 0;
    }
    w->reached = true;
    w->hopeful = true;
    if (r.code == API_NOT_LEADER || r.code == API_UNAVAILABLE) {
        snprintf(w->last, sizeof w->last, "%s: %s", addr, r.message);
        if (w->listing) {
            pgq_appendf(w->tried, sizeof w->tried, "%s%s", w->tried[0] ? "; " : "", w->last);
        }
        if (r.code == API_NOT_LEADER && r.leader_api[0] != '\0' &&
            strcmp(r.leader_api, addr) != 0) {
            pgq_strlcpy(hint, r.leader_api, PGQ_ADDR_MAX);
        }
        api_response_close(&r);
        return 0;
    }
    *res = r;
    return 1;
}

int ctl_write(struct ctl *c, const struct api_request *req, struct api_response *res)
{
    uint64_t deadline = clock_mono_ms() + c->wait_ms;
    struct write_try w;
    memset(&w, 0, sizeof w);
    w.listing = true;
    api_response_init(res);
    for (;;) {
        for (unsigned i = 0; i < c->n_monitors; i++) {
            char hint[PGQ_ADDR_MAX] = "";
            if (try_write(c, c->monitors[i], req, res, hint, &w)) {
                return 0;
            }
            /* A follower named the leader: ask it right away. */
            if (hint[0] != '\0' && try_write(c, hint, req, res, hint, &w)) {
                return 0;
            }
        }
        /* Nothing listens where every monitor should be (or something
         * else does): waiting would not change that. */
        if (!w.hopeful) {
            snprintf(c->errmsg, sizeof c->errmsg, "no monitor reachable: %s", w.tried);
            return PGQ_UNAVAILABLE;
        }
        if (clock_mono_ms() >= deadline) {
            break;
        }
        if (w.listing && c->progress != NULL) {
            unsigned long long ms = (unsigned long long)c->wait_ms;
            fprintf(c->progress,
                    "pgquorumctl: waiting up to %llu%s for a monitor leader (tried %s)\n",
                    ms % 1000 == 0 ? ms / 1000 : ms, ms % 1000 == 0 ? "s" : "ms", w.tried);
            fflush(c->progress);
        }
        w.listing = false;
        sleep_ms(100); /* an election is probably under way */
    }
    if (!w.reached) {
        snprintf(c->errmsg, sizeof c->errmsg, "no monitor reachable: %s", w.last);
        return PGQ_UNAVAILABLE;
    }
    res->code = API_UNAVAILABLE;
    snprintf(res->message, sizeof res->message, "no leader accepted the command in %llu ms: %s",
             (unsigned long long)c->wait_ms, w.last);
    return 0;
}
