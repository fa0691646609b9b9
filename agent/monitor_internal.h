/* Inside the monitor: what monitor.c (the wiring), monitor_api.c (the API's
 * requests) and monitor_report.c (the report channel to the leader) share.
 * Not for anyone else: the contract is monitor.h. */
#ifndef PGQ_MONITOR_INTERNAL_H
#define PGQ_MONITOR_INTERNAL_H

#include "api.h"
#include "codec.h"
#include "monitor.h"

/* monitor.c: run the tick now, then every tick interval; nothing once the
 * monitor is stopping. */
void monitor_kick(struct monitor *m);

/* monitor_report.c: send the observations waiting in the probe (or, with
 * none, this monitor's API address once the leader's generation lists it)
 * to the leader, unless a report is in flight, the monitor is stopping, or a
 * failed report's backoff has not passed. */
void monitor_flush_reports(struct monitor *m);

/* monitor_api.c: copy cmd (deeply) and propose it; the reply goes to cl when
 * not NULL, else a refusal is logged. Zero: the monitor is kicked once it
 * has committed or failed. Nonzero: nothing was proposed and cl got no
 * reply. */
int monitor_propose_copy(struct monitor *m, struct api_client *cl, const struct command *cmd);

/* monitor_api.c: the API server's handler (s->data is the monitor). */
void monitor_handle_request(struct api_server *s,
                            struct api_client *cl,
                            const struct api_request *req);

/* monitor_agents.c: a node agent's heartbeat (leader only). */
void monitor_heartbeat(struct monitor *m, struct api_client *cl, const struct api_request *req);
/* monitor_agents.c: a leader that just became ready starts a new lease
 * book. */
void monitor_agents_tick(struct monitor *m);

/* monitor_authz.c: who may ask. Start: parse [auth] (PGQ_CONFIG with
 * errmsg), warn once when authentication is off, open the audit channel;
 * reconfigure: [auth] again after a reload; close: free and wipe. */
int monitor_authz_start(struct monitor *m, char *errmsg, size_t errsize);
void monitor_authz_reconfigure(struct monitor *m);
void monitor_authz_close(struct monitor *m);
/* The caller of req: its connection's identity, or the one its token
 * proves. false: cl got a DENIED reply (a wrong token, or its address is
 * blocked for too many), and the refusal is audited as `action`. */
bool monitor_identify(struct monitor *m,
                      struct api_client *cl,
                      const struct api_request *req,
                      int action,
                      struct peer_id *who);
/* API_WHOAMI: m->caller, its role and grants. */
void monitor_whoami(struct monitor *m, struct api_client *cl, const struct api_request *req);
/* Record a refusal (outcome "denied: ..." or "refused: ...") through the
 * leader, within the per-second bound. */
void monitor_audit(struct monitor *m,
                   const struct peer_id *who,
                   int action,
                   const char *cluster,
                   const char *node,
                   const char *outcome);
/* At each tick: the refusals waiting, to the log (leader) or the leader. */
void monitor_flush_audits(struct monitor *m);
/* monitor_member.c: online membership. Start: wire the change machine to
 * the consensus; API_MONITOR_CHANGE (leader only): start a change, the
 * reply once it ends; stop: end a change waiting between steps. */
void monitor_member_start(struct monitor *m);
void monitor_member_change(struct monitor *m, struct api_client *cl, const struct api_request *req);
void monitor_member_stop(struct monitor *m);

/* monitor_http.c: start the HTTP server when http_address is set; a
 * failover of cluster c ended, its event stamped event_ms. */
int monitor_http_start(struct monitor *m, char *errmsg, size_t errsize);
void monitor_http_failover_done(struct monitor *m, const struct cluster *c, uint64_t event_ms);
/* Let go of the counts of clusters no longer in the state (removed). */
void monitor_http_forget(struct monitor *m);

/* monitor_resources.c: start: the open-file limit against what Raft and
 * the API need (PGQ_UNAVAILABLE with errmsg below it), the loop watch;
 * check: the need again after a change of the nodes, the probes' budget,
 * and probe_sync; tick: the loop's lateness to the policy; report: what a
 * report must say of the probes shed (false: nothing now); info: the
 * numbers for status and /metrics. */
int monitor_resources_start(struct monitor *m, char *errmsg, size_t errsize);
void monitor_resources_check(struct monitor *m);
void monitor_resources_tick(struct monitor *m);
bool monitor_resources_report(struct monitor *m, struct cmd_report *r);
void monitor_resources_info(struct monitor *m, struct raft_info *info);

#endif /* PGQ_MONITOR_INTERNAL_H */
