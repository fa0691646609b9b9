/* Host metrics for a node agent, from the text of /proc: CPU busy share, load
 * averages, disk throughput and I/O time, network throughput. A reading is a
 * struct host_sample of raw counters; the metrics are rates between two
 * readings, computed with the elapsed time passed in (no clock is read here).
 * The parsers take the text, so that every format rule is unit-tested; only
 * hostmetrics_read() touches the file system. */
#ifndef PGQ_HOSTMETRICS_H
#define PGQ_HOSTMETRICS_H

#include <stdint.h>

#include "pgquorum/pgquorum.h"

/* Raw counters of one reading. Each parser writes only its own fields. */
struct host_sample
{
    /* /proc/stat, the first "cpu " line: user..steal (guest time is already
     * counted in user and nice); busy is total less idle and iowait. */
    uint64_t cpu_total_jiffies;
    uint64_t cpu_busy_jiffies;
    /* /proc/loadavg, in hundredths: "0.62" is 62. */
    uint32_t load1_c;
    uint32_t load5_c;
    uint32_t load15_c;
    /* /proc/diskstats, summed over whole physical disks (no partitions, no
     * loop, ram, dm-, zram, sr or md devices). Sectors are 512 bytes. */
    uint64_t disk_read_sectors;
    uint64_t disk_write_sectors;
    uint64_t disk_io_ms; /* time spent doing I/O ("io_ticks") */
    /* /proc/net/dev, summed over every interface but "lo". */
    uint64_t net_rx_bytes;
    uint64_t net_tx_bytes;
};

/* Rates between two readings. bp: basis points, 10000 is 100 %. */
struct host_metrics
{
    uint32_t cpu_busy_bp;
    uint32_t load1_c; /* the latest reading's, in hundredths */
    uint32_t load5_c;
    uint32_t load15_c;
    uint64_t disk_read_bps;  /* bytes per second */
    uint64_t disk_write_bps; /* bytes per second */
    /* Share of the time spent doing I/O. The disks' times are summed, so two
     * disks busy half the time each show 10000, as one saturated disk does;
     * capped at 10000. */
    uint32_t disk_io_bp;
    uint64_t net_rx_bps; /* bytes per second */
    uint64_t net_tx_bps; /* bytes per second */
};

/* The parsers: text is the whole file, NUL-terminated. Each sets its fields
 * of s and returns 0, or returns PGQ_INVALID on text it does not understand
 * and leaves those fields 0. A line must hold at least the fields read; more
 * are ignored (newer kernels add fields at the end). */

/* cpu_total_jiffies, cpu_busy_jiffies. A "cpu " line with at least user,
 * nice, system and idle is required. */
int hostmetrics_parse_stat(const char *text, struct host_sample *s);

/* load1_c, load5_c, load15_c. */
int hostmetrics_parse_loadavg(const char *text, struct host_sample *s);

/* disk_read_sectors, disk_write_sectors, disk_io_ms. No disk is not an error. */
int hostmetrics_parse_diskstats(const char *text, struct host_sample *s);

/* net_rx_bytes, net_tx_bytes. No interface is not an error. */
int hostmetrics_parse_netdev(const char *text, struct host_sample *s);

/* The metrics from prev to cur, elapsed_ms apart. A counter that went
 * backwards (reset, or another device set) gives a rate of 0, as does an
 * elapsed_ms of 0; the load averages are cur's in every case. */
void hostmetrics_rate(const struct host_sample *prev,
                      const struct host_sample *cur,
                      uint64_t elapsed_ms,
                      struct host_metrics *out);

/* Read /proc/stat, /proc/loadavg, /proc/diskstats and /proc/net/dev into s
 * (blocking reads of small kernel files; one 64 KiB static buffer, so one
 * caller at a time). On every return s holds all that could be read and 0
 * in the other fields. Returns 0; PGQ_IO when /proc/stat cannot be read (the
 * other files may be absent: their fields stay 0); PGQ_INVALID when a file is
 * there but not understood; PGQ_TOOBIG when /proc/diskstats or /proc/net/dev
 * is over 64 KiB. */
int hostmetrics_read(struct host_sample *s);

#endif /* PGQ_HOSTMETRICS_H */
