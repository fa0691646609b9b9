/* Codec of node agents' facts: the same message in heartbeats, AgentReport
 * commands and the state (see codec.h). */
#include <string.h>

#include "codec_internal.h"

#define SET(field, value) (m->has_##field = (value) != 0, m->field = (value))

int codec_agent_to_pb(const struct agent_facts *a, Pgq__AgentFacts *m, struct scratch *sc)
{
    Pgq__HostMetrics *h = codec_scratch_alloc(sc, sizeof *h);
    if (h == NULL) {
        return PGQ_NOMEM;
    }
    pgq__agent_facts__init(m);
    pgq__host_metrics__init(h);
    SET(state, (uint32_t)a->state);
    SET(pm_alive, a->pm_alive);
    SET(answering, a->answering);
    SET(pg_state, (uint32_t)a->pg_state);
    SET(timeline, a->timeline);
    SET(lsn, a->lsn);
    SET(in_recovery, a->in_recovery);
    SET(fenced, a->fenced);
    SET(handover, a->handover);
    SET(lease, a->lease);
    SET(pm_pid, a->pm_pid);
    SET(session, a->session);
    SET(since_ms, a->since_ms);
    SET(facts_ms, a->facts_ms);
    SET(unprotected, a->unprotected);
    SET(silent_seq, a->silent_seq);
    if (a->version[0] != '\0') {
        m->version = S(a->version);
    }
    SET(rejoin, (uint32_t)a->rejoin);
    if (a->rejoin_detail[0] != '\0') {
        m->rejoin_detail = S(a->rejoin_detail);
    }
    SET(rejoin_epoch, a->rejoin_epoch);
    SET(rejoin_ms, a->rejoin_ms);
    SET(lost_commits, a->lost_commits);
    SET(lost_bytes, a->lost_bytes);
    SET(lost_known, a->lost_known);
    SET(streaming, a->streaming);
    SET(stopped_lsn, a->stopped_lsn);
    SET(system_id, a->system_id);
#undef SET
#define SET(field, value) (h->has_##field = (value) != 0, h->field = (value))
    SET(cpu_busy_bp, a->host.cpu_busy_bp);
    SET(load1_c, a->host.load1_c);
    SET(load5_c, a->host.load5_c);
    SET(load15_c, a->host.load15_c);
    SET(disk_read_bps, a->host.disk_read_bps);
    SET(disk_write_bps, a->host.disk_write_bps);
    SET(disk_io_bp, a->host.disk_io_bp);
    SET(net_rx_bps, a->host.net_rx_bps);
    SET(net_tx_bps, a->host.net_tx_bps);
#undef SET
    m->host = h;
    return 0;
}

void codec_agent_from_pb(struct dec *d, const Pgq__AgentFacts *m, struct agent_facts *a)
{
    memset(a, 0, sizeof *a);
    if (m == NULL) {
        return;
    }
    if (m->state >= PGQ__N_AGENT_STATES) {
        codec_dec_fail(d, PGQ_MALFORMED, "agent.state %u out of range", m->state);
        return;
    }
    if (m->pg_state >= PGQ__N_PG_STATES) {
        codec_dec_fail(d, PGQ_MALFORMED, "agent.pg_state %u out of range", m->pg_state);
        return;
    }
    if (m->rejoin >= PGQ__N_RJ_STATES) {
        codec_dec_fail(d, PGQ_MALFORMED, "agent.rejoin %u out of range", m->rejoin);
        return;
    }
    a->state = (int)m->state;
    a->pm_alive = m->pm_alive;
    a->answering = m->answering;
    a->pg_state = (int)m->pg_state;
    a->timeline = m->timeline;
    a->lsn = m->lsn;
    a->in_recovery = m->in_recovery;
    a->fenced = m->fenced;
    a->handover = m->handover;
    a->lease = m->lease;
    a->pm_pid = m->pm_pid;
    a->session = m->session;
    a->since_ms = m->since_ms;
    a->facts_ms = m->facts_ms;
    a->unprotected = m->unprotected;
    a->silent_seq = m->silent_seq;
    codec_copy_str(d, a->version, sizeof a->version, m->version, "agent.version");
    a->rejoin = (int)m->rejoin;
    codec_copy_str(d, a->rejoin_detail, sizeof a->rejoin_detail, m->rejoin_detail,
                   "agent.rejoin_detail");
    a->rejoin_epoch = m->rejoin_epoch;
    a->rejoin_ms = m->rejoin_ms;
    a->lost_commits = m->lost_commits;
    a->lost_bytes = m->lost_bytes;
    a->lost_known = m->lost_known;
    a->streaming = m->streaming;
    a->stopped_lsn = m->stopped_lsn;
    a->system_id = m->system_id;
    if (m->host != NULL) {
        const Pgq__HostMetrics *h = m->host;
        a->host.cpu_busy_bp = h->cpu_busy_bp;
        a->host.load1_c = h->load1_c;
        a->host.load5_c = h->load5_c;
        a->host.load15_c = h->load15_c;
        a->host.disk_read_bps = h->disk_read_bps;
        a->host.disk_write_bps = h->disk_write_bps;
        a->host.disk_io_bp = h->disk_io_bp;
        a->host.net_rx_bps = h->net_rx_bps;
        a->host.net_tx_bps = h->net_tx_bps;
    }
}
