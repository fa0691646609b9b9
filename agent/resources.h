/* resources: what a monitor's file descriptors must cover, and how late its
 * loop runs. Pure: the caller passes the open-file limit, the configuration,
 * the counts and the times in (loadwatch.c measures them on the loop).
 *
 * Descriptors. Raft (its log files, its connections to the other voters),
 * the API (the operators, the other monitors' reports, the agents'
 * heartbeats), HTTP, the log drain and the actions of a failover come
 * first: a monitor that runs out of descriptors there stops answering,
 * fails its repoints and, once libraft cannot open a segment, stops Raft.
 * Probes come last: one kept connection per registered node, within what is
 * left (resources_probe_budget); the nodes beyond it are shed, not probed
 * (see probe.h).
 *
 * Loop lag. A timer that should fire every LOADWATCH_PERIOD_MS fires late
 * when the loop is busy or stalled; the worst lateness of each second is
 * kept for LAG_SECONDS. A probe that timed out while the loop ran that late
 * may have timed out because of this monitor, not of the server. */
#ifndef PGQ_RESOURCES_H
#define PGQ_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The process itself: standard streams, the loop's epoll, eventfds and
 * signal pipe, libuv's EMFILE spare, syslog, sd_notify, /proc reads. */
#define RES_FD_BASE 16
/* libraft's own files: open segments being prepared and written, a closed
 * one read for a follower, metadata, a snapshot and its .meta, the
 * directory, its AIO eventfd. */
#define RES_FD_RAFT_FILES 16
/* Per other voter: one connection each way; with TLS each is a socket and
 * the socket pair to libraft (relay.c). */
#define RES_FD_PER_PEER_PLAIN 2
#define RES_FD_PER_PEER_TLS 6
/* Raft connections in their TLS handshake, at most (relay.c refuses
 * more at once). */
#define RES_FD_RAFT_HANDSHAKES 64
/* The API's own limits beyond max_clients (api.c): the reserve for the
 * monitors' reports, and refusals being written. */
#define RES_API_MONITOR_RESERVE (2u * PGQ_MAX_MONITORS)
#define RES_API_REFUSING_MAX 16
/* HTTP refusals being written (http.h's HTTP_REFUSING_MAX). */
#define RES_HTTP_REFUSING_MAX 16
/* The monitor's own connections to the leader: reports and audits. */
#define RES_FD_PEERS_OUT 2
/* Actions of failovers under way (each job holds one connection). */
#define RES_FD_ACTIONS 16
/* Slack: name lookups, short-lived files, connections being closed. */
#define RES_FD_RESERVE 16
/* What the API needs at the least to be of use: a few operators. */
#define RES_API_MIN_CLIENTS 4

/* Descriptors, by what uses them. */
struct fd_need
{
    uint64_t base;
    uint64_t raft;    /* its files, its listener, its connections to the other voters */
    uint64_t api;     /* listener, max_clients, the monitors' reserve, refusals, own peers */
    uint64_t http;    /* 0 when off */
    uint64_t drain;   /* 1 when log_drain is set */
    uint64_t actions; /* the actuator's connections */
    uint64_t reserve;
    uint64_t probes;    /* one kept connection per node */
    uint64_t essential; /* below this, Raft and the API cannot run */
};

/* What a monitor with configuration cfg, n_voters voters (itself included;
 * 0: the configuration's peers) and n_nodes registered nodes needs. */
void resources_need(const struct config *cfg,
                    unsigned n_voters,
                    uint64_t n_nodes,
                    struct fd_need *out);

/* Everything but the probes. */
uint64_t resources_fixed(const struct fd_need *n);

/* Everything. */
uint64_t resources_total(const struct fd_need *n);

/* How many probe connections fit under limit once everything else has its
 * descriptors (0 when nothing is left). */
uint64_t resources_probe_budget(const struct fd_need *n, uint64_t limit);

/* One line naming the numbers: "probes 400, Raft 46, API 299, HTTP 81,
 * log drain 0, actions 16, reserve 32". */
void resources_describe(const struct fd_need *n, char *out, size_t size);

/* ---- loop lag --------------------------------------------------------- */

#define LAG_SECONDS 64

/* The worst lateness seen in each of the last LAG_SECONDS seconds. */
struct lag_history
{
    uint64_t second[LAG_SECONDS]; /* which second (now_ms / 1000 + 1) a slot holds; 0: none */
    uint64_t max_ms[LAG_SECONDS];
};

void lag_init(struct lag_history *h);

/* The loop was lag_ms late at now_ms (a monotonic clock). */
void lag_note(struct lag_history *h, uint64_t now_ms, uint64_t lag_ms);

/* The worst lateness noted from since_ms (rounded down to its second) to
 * now_ms; at most LAG_SECONDS back. */
uint64_t lag_max_since(const struct lag_history *h, uint64_t since_ms, uint64_t now_ms);

/* A monitor whose loop runs this late may cause its own probes to time out:
 * a quarter of the probe's timeout (at least 100 ms). A probe needs a few
 * loop turns (connect, authentication, query); late by a quarter of its
 * timeout at each, the answer may have been waiting in the socket. */
uint64_t resources_overload_lag_ms(const struct config *cfg);

#endif /* PGQ_RESOURCES_H */
