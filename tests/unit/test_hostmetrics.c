/* Unit tests of agent/hostmetrics.c: the four /proc texts read into raw
 * counters (whole disks only, every interface but lo), text of another shape
 * refused without a crash, and rates between two readings that survive
 * counter resets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hostmetrics.h"
#include "lib/util.h"

typedef int (*parse_fn)(const char *text, struct host_sample *s);

/* ---- realistic texts ----------------------------------------------------- */

static const char stat_text[] =
    "cpu  282875 0 277975 1357505 14858 0 15032 46085 0 0\n"
    "cpu0 125292 0 129643 710980 3692 0 3950 23372 0 0\n"
    "cpu1 157583 0 148332 646525 11166 0 11082 22713 0 0\n"
    "intr 40383520 0 9 0 0 0 0 0 0 0 0 0 0 156 0 0 0 0 0 0 0 0 0 0 0\n"
    "ctxt 98765432\n"
    "btime 1700000000\n"
    "processes 10829\n"
    "procs_running 2\n"
    "procs_blocked 0\n"
    "softirq 5555 0 1 2 3 4 5 6 7 8 9\n";
#define STAT_TOTAL \
    (282875ull + 0 + 277975 + 1357505 + 14858 + 0 + 15032 + 46085) /* no guest: in user */
#define STAT_BUSY (STAT_TOTAL - 1357505 - 14858)

static const char loadavg_text[] = "0.08 0.62 0.91 2/84 10829\n";

/* Kernel 5.5 and later: 17 counters after the name. */
static const char diskstats_text[] =
    "   7       0 loop0 52 0 2102 19 0 0 0 0 0 40 19 0 0 0 0 0 0\n"
    "   8       0 sda 98213 20357 6981552 45513 231874 183219 9866754 312486 0 188764 367582 0 0 "
    "0 0 10573 9582\n"
    "   8       1 sda1 97950 20357 6970840 45460 231556 183219 9866754 312373 0 188656 357833 0 "
    "0 0 0 0 0\n"
    " 259       0 nvme0n1 412345 1234 30123456 100200 512345 67890 40123456 200300 2 300400 "
    "310500 0 0 0 0 20000 10000\n"
    " 259       1 nvme0n1p1 412000 1234 30100000 100100 512000 67890 40100000 200200 2 300300 "
    "310400 0 0 0 0 0 0\n"
    " 253       0 dm-0 118000 0 6960000 50000 415000 0 9866000 330000 0 190000 380000 0 0 0 0 0 "
    "0\n";
#define DISK_READ (6981552ull + 30123456)
#define DISK_WRITE (9866754ull + 40123456)
#define DISK_IO (188764ull + 300400)

static const char netdev_text[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo: 31255310149 8284829    0    0    0     0          0         0 31255310149 8284829  "
    "  0    0    0     0       0          0\n"
    "  eth0: 1234567890  987654    0   12    0     0          0      4321 987654321  876543    "
    "0    0    0     0       0          0\n"
    "docker0:       0       0    0    0    0     0          0         0     1234      20    0  "
    "  0    0     0       0          0\n"
    "enp0s31f6:123456789012 100    0    0    0     0          0         0 210987654321 200    0 "
    "   0    0     0       0          0\n";
#define NET_RX (1234567890ull + 0 + 123456789012)
#define NET_TX (987654321ull + 1234 + 210987654321)

/* ---- /proc/stat ---------------------------------------------------------- */

struct stat_case
{
    const char *in;
    int rv;
    uint64_t total;
    uint64_t busy;
};

static void test_parse_stat(void **ctx)
{
    /* The first "cpu " line gives total (user..steal) and busy (less idle and iowait); a text
     * without a readable one is PGQ_INVALID with both 0. */
    static const struct stat_case cases[] = {
        {stat_text, 0, STAT_TOTAL, STAT_BUSY},
        {"cpu  100 20 30 400 50 6 7 8 90 10\n", 0, 621, 171}, /* guest and guest_nice ignored */
        {"cpu  1 2 3 4\n", 0, 10, 6},                         /* before Linux 2.5.41 */
        {"cpu  1 2 3 4 5", 0, 15, 6},                         /* no newline at the end */
        {"cpu\t1\t2\t3\t4\t5\n", 0, 15, 6},
        {"intr 1 2\ncpu  1 2 3 4 5\ncpu0 1 2 3 4 5\n", 0, 15, 6},
        {"cpu  1 2 3 4 5 6 7 8 9 10 11 12\n", 0, 36, 27}, /* a future kernel's extra fields */
        {"", PGQ_INVALID, 0, 0},
        {"\n\n", PGQ_INVALID, 0, 0},
        {"cpu0 1 2 3 4 5\n", PGQ_INVALID, 0, 0},
        {"cpux 1 2 3 4 5\n", PGQ_INVALID, 0, 0},
        {"cpu\n", PGQ_INVALID, 0, 0},
        {"cpu  1 2 3\n", PGQ_INVALID, 0, 0},
        {"cpu  1 2 x 4\n", PGQ_INVALID, 0, 0},
        {"cpu  -1 2 3 4\n", PGQ_INVALID, 0, 0},
        {"cpu  +1 2 3 4\n", PGQ_INVALID, 0, 0},
        {"cpu  1 2 3 4\r\n", PGQ_INVALID, 0, 0},
        {"cpu  1 2 3 4 junk\n", PGQ_INVALID, 0, 0},
        {"cpu  18446744073709551616 0 0 0\n", PGQ_INVALID, 0, 0},
        {"cpu  18446744073709551615 1 0 0\n", PGQ_INVALID, 0, 0},
        {"cpu  18446744073709551615 0 0 0\n", 0, UINT64_MAX, UINT64_MAX},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct host_sample s;
        int rv;
        memset(&s, 0xab, sizeof s);
        rv = hostmetrics_parse_stat(cases[i].in, &s);
        if (rv != cases[i].rv || s.cpu_total_jiffies != cases[i].total ||
            s.cpu_busy_jiffies != cases[i].busy) {
            fail_msg("stat case %zu: rv %d total %llu busy %llu", i, rv,
                     (unsigned long long)s.cpu_total_jiffies,
                     (unsigned long long)s.cpu_busy_jiffies);
        }
    }
}

/* ---- /proc/loadavg ------------------------------------------------------- */

struct loadavg_case
{
    const char *in;
    int rv;
    uint32_t load1_c, load5_c, load15_c;
};

static void test_parse_loadavg(void **ctx)
{
    /* The three averages in hundredths, with one or two decimals or none; anything else is
     * PGQ_INVALID with all three 0. */
    static const struct loadavg_case cases[] = {
        {loadavg_text, 0, 8, 62, 91},
        {"12.50 3.5 100.00 1/1 1\n", 0, 1250, 350, 10000},
        {"1 2 3", 0, 100, 200, 300},
        {"0.129 0.0 0.01\n", 0, 12, 0, 1},
        {"  0.08\t0.62 0.91\n", 0, 8, 62, 91},
        {"42949672.95 0 0\n", 0, 4294967295u, 0, 0},
        {"42949672.96 0 0\n", PGQ_INVALID, 0, 0, 0},
        {"99999999999999999999.00 0 0\n", PGQ_INVALID, 0, 0, 0},
        {"", PGQ_INVALID, 0, 0, 0},
        {"\n0.08 0.62 0.91\n", PGQ_INVALID, 0, 0, 0},
        {"0.08 0.62\n", PGQ_INVALID, 0, 0, 0},
        {"a b c\n", PGQ_INVALID, 0, 0, 0},
        {"-1.00 0 0\n", PGQ_INVALID, 0, 0, 0},
        {"1. 2 3\n", PGQ_INVALID, 0, 0, 0},
        {".5 1 2\n", PGQ_INVALID, 0, 0, 0},
        {"1,50 2 3\n", PGQ_INVALID, 0, 0, 0},
        {"1.5x 2 3\n", PGQ_INVALID, 0, 0, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct host_sample s;
        int rv;
        memset(&s, 0xab, sizeof s);
        rv = hostmetrics_parse_loadavg(cases[i].in, &s);
        if (rv != cases[i].rv || s.load1_c != cases[i].load1_c || s.load5_c != cases[i].load5_c ||
            s.load15_c != cases[i].load15_c) {
            fail_msg("loadavg \"%s\": rv %d load %u %u %u", cases[i].in, rv, s.load1_c, s.load5_c,
                     s.load15_c);
        }
    }
}

/* ---- /proc/diskstats ----------------------------------------------------- */

struct counters_case
{
    const char *in;
    int rv;
    uint64_t a, b, c; /* read, written, io_ms; or rx, tx, unused */
};

static void test_parse_diskstats(void **ctx)
{
    /* Sectors read, written and I/O time are summed over whole disks only: partitions, loop
     * and device-mapper devices are not counted twice; malformed text is PGQ_INVALID. */
    static const struct counters_case cases[] = {
        {diskstats_text, 0, DISK_READ, DISK_WRITE, DISK_IO},
        {"", 0, 0, 0, 0},
        {"\n  \n", 0, 0, 0, 0},
        /* Linux 2.6.25 and earlier: 11 counters, 4 for a partition. */
        {"   8    0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8    1 sda1 1 3 5 7\n", 0, 3, 7, 10},
        {"8 0 sda 1 2 3 4 5 6 7 8 9 10\n8 16 sdb 1 2 30 4 5 6 70 8 9 100\n", 0, 33, 77, 110},
        {"8 0 sda 1 2 3 4 5 6 7 8 9 10", 0, 3, 7, 10}, /* no newline at the end */
        {"garbage\n", PGQ_INVALID, 0, 0, 0},
        {"8 0\n", PGQ_INVALID, 0, 0, 0},
        {"x 0 sda 1 2 3 4 5 6 7 8 9 10\n", PGQ_INVALID, 0, 0, 0},
        {"8 0 sda 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {"8 0 sda 1 2 x 4 5 6 7 8 9 10\n", PGQ_INVALID, 0, 0, 0},
        {"7 0 loop0 a b c\n", PGQ_INVALID, 0, 0, 0},
        {"8 0 sda 1 2 3 4 5 6 7 8 9 10\nnot a disk\n", PGQ_INVALID, 0, 0, 0},
        {"8 0 sda 0 0 18446744073709551615 0 0 0 0 0 0 0\n"
         "8 16 sdb 0 0 1 0 0 0 0 0 0 0\n",
         PGQ_INVALID, 0, 0, 0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct host_sample s;
        int rv;
        memset(&s, 0xab, sizeof s);
        rv = hostmetrics_parse_diskstats(cases[i].in, &s);
        if (rv != cases[i].rv || s.disk_read_sectors != cases[i].a ||
            s.disk_write_sectors != cases[i].b || s.disk_io_ms != cases[i].c) {
            fail_msg("diskstats case %zu: rv %d read %llu written %llu io %llu", i, rv,
                     (unsigned long long)s.disk_read_sectors,
                     (unsigned long long)s.disk_write_sectors, (unsigned long long)s.disk_io_ms);
        }
    }
}

/* A device name and whether it is a whole physical disk. */
struct disk_name
{
    const char *name;
    bool counted;
};

static void test_diskstats_names(void **ctx)
{
    /* Whole disks (sda, vda, xvda, hda, nvme0n1, mmcblk0, and names of no known family) are
     * counted; their partitions and virtual devices are not. */
    static const struct disk_name names[] = {
        {"sda", true},        {"sdab", true},          {"vda", true},
        {"xvda", true},       {"hda", true},           {"nvme0n1", true},
        {"nvme12n3", true},   {"mmcblk0", true},       {"mmcblk12", true},
        {"nbd0", true},       {"dasda", true},         {"sda1", false},
        {"sdab12", false},    {"vda2", false},         {"xvda1", false},
        {"hda3", false},      {"nvme0n1p1", false},    {"nvme0n1p12", false},
        {"nvme0c0n1", false}, {"nvme0", false},        {"nvmen1", false},
        {"mmcblk0p1", false}, {"mmcblk0boot0", false}, {"mmcblk0rpmb", false},
        {"mmcblk", false},    {"sd", false},           {"loop0", false},
        {"loop12", false},    {"ram0", false},         {"dm-0", false},
        {"dm-12", false},     {"zram0", false},        {"sr0", false},
        {"md0", false},       {"md127", false},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(names); i++) {
        char line[128];
        struct host_sample s;
        snprintf(line, sizeof line, "   8       0 %s 1 2 3 4 5 6 7 8 9 10 11\n", names[i].name);
        assert_int_equal(hostmetrics_parse_diskstats(line, &s), 0);
        if ((s.disk_read_sectors == 3) != names[i].counted) {
            fail_msg("%s: counted %d, expected %d", names[i].name, s.disk_read_sectors == 3,
                     names[i].counted);
        }
    }
}

/* ---- /proc/net/dev ------------------------------------------------------- */

static void test_parse_netdev(void **ctx)
{
    /* Received and sent bytes are summed over every interface but lo, a long name glued to its
     * first number included; malformed text is PGQ_INVALID. */
    static const struct counters_case cases[] = {
        {netdev_text, 0, NET_RX, NET_TX, 0},
        {"", 0, 0, 0, 0},
        {"Inter-|   Receive |  Transmit\n face |bytes |bytes\n", 0, 0, 0, 0},
        {"lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", 0, 0, 0, 0},
        {"eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
         "eth1: 10 2 3 4 5 6 7 8 90 10 11 12 13 14 15 16",
         0, 11, 99, 0},
        {"loop: 1 2 3 4 5 6 7 8 9\n", 0, 1, 9, 0}, /* only "lo" is the loopback */
        {"garbage\n", PGQ_INVALID, 0, 0, 0},
        {"eth0: 1 2 3\n", PGQ_INVALID, 0, 0, 0},
        {"eth0 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {": 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {"   : 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {"my eth0: 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {"eth0: 1 2 x 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0, 0},
        {"eth0: 1 2 3 4 5 6 7 8 9:\n", PGQ_INVALID, 0, 0, 0},
        {"eth0: 18446744073709551615 2 3 4 5 6 7 8 9\neth1: 1 2 3 4 5 6 7 8 9\n", PGQ_INVALID, 0, 0,
         0},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        struct host_sample s;
        int rv;
        memset(&s, 0xab, sizeof s);
        rv = hostmetrics_parse_netdev(cases[i].in, &s);
        if (rv != cases[i].rv || s.net_rx_bytes != cases[i].a || s.net_tx_bytes != cases[i].b) {
            fail_msg("netdev case %zu: rv %d rx %llu tx %llu", i, rv,
                     (unsigned long long)s.net_rx_bytes, (unsigned long long)s.net_tx_bytes);
        }
    }
}

/* ---- the parsers together -------------------------------------------------- */

static void test_parsers_keep_other_fields(void **ctx)
{
    /* Each parser writes only its own fields, so the four fill one sample. */
    struct host_sample s;
    (void)ctx;
    memset(&s, 0, sizeof s);
    assert_int_equal(hostmetrics_parse_stat(stat_text, &s), 0);
    assert_int_equal(hostmetrics_parse_loadavg(loadavg_text, &s), 0);
    assert_int_equal(hostmetrics_parse_diskstats(diskstats_text, &s), 0);
    assert_int_equal(hostmetrics_parse_netdev(netdev_text, &s), 0);
    assert_true(s.cpu_total_jiffies == STAT_TOTAL && s.cpu_busy_jiffies == STAT_BUSY);
    assert_true(s.load1_c == 8 && s.load5_c == 62 && s.load15_c == 91);
    assert_true(s.disk_read_sectors == DISK_READ && s.disk_write_sectors == DISK_WRITE &&
                s.disk_io_ms == DISK_IO);
    assert_true(s.net_rx_bytes == NET_RX && s.net_tx_bytes == NET_TX);
}

/* The fields that fn writes, set to 0. */
static void clear_own_fields(parse_fn fn, struct host_sample *s)
{
    if (fn == hostmetrics_parse_stat) {
        s->cpu_total_jiffies = s->cpu_busy_jiffies = 0;
    } else if (fn == hostmetrics_parse_loadavg) {
        s->load1_c = s->load5_c = s->load15_c = 0;
    } else if (fn == hostmetrics_parse_diskstats) {
        s->disk_read_sectors = s->disk_write_sectors = s->disk_io_ms = 0;
    } else {
        s->net_rx_bytes = s->net_tx_bytes = 0;
    }
}

static bool same_sample(const struct host_sample *a, const struct host_sample *b)
{
    return a->cpu_total_jiffies == b->cpu_total_jiffies &&
           a->cpu_busy_jiffies == b->cpu_busy_jiffies && a->load1_c == b->load1_c &&
           a->load5_c == b->load5_c && a->load15_c == b->load15_c &&
           a->disk_read_sectors == b->disk_read_sectors &&
           a->disk_write_sectors == b->disk_write_sectors && a->disk_io_ms == b->disk_io_ms &&
           a->net_rx_bytes == b->net_rx_bytes && a->net_tx_bytes == b->net_tx_bytes;
}

/* fn on text returns 0 or PGQ_INVALID, leaves the other parsers' fields alone and, after
 * PGQ_INVALID, its own at 0. */
static void check_outcome(parse_fn fn, const char *text)
{
    struct host_sample s, want;
    int rv;
    memset(&s, 0xab, sizeof s);
    memset(&want, 0xab, sizeof want);
    rv = fn(text, &s);
    if (rv != 0 && rv != PGQ_INVALID) {
        fail_msg("rv %d on \"%s\"", rv, text);
    }
    clear_own_fields(fn, &want);
    if (rv == 0) {
        clear_own_fields(fn, &s);
    }
    if (!same_sample(&s, &want)) {
        fail_msg("rv %d on \"%s\": fields written that should not be", rv, text);
    }
}

static void test_parsers_truncated(void **ctx)
{
    /* Every text cut at every length parses or is PGQ_INVALID, never read past its end. */
    static const struct
    {
        parse_fn fn;
        const char *text;
    } texts[] = {
        {hostmetrics_parse_stat, stat_text},
        {hostmetrics_parse_loadavg, loadavg_text},
        {hostmetrics_parse_diskstats, diskstats_text},
        {hostmetrics_parse_netdev, netdev_text},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(texts); i++) {
        size_t len = strlen(texts[i].text);
        for (size_t cut = 0; cut <= len; cut++) {
            char buf[2048];
            assert_true(len < sizeof buf);
            memcpy(buf, texts[i].text, cut);
            buf[cut] = '\0';
            check_outcome(texts[i].fn, buf);
        }
    }
}

static void test_parsers_garbage(void **ctx)
{
    /* Random bytes, weighted toward digits, blanks, newlines and colons, never crash a parser. */
    static const parse_fn fns[] = {hostmetrics_parse_stat, hostmetrics_parse_loadavg,
                                   hostmetrics_parse_diskstats, hostmetrics_parse_netdev};
    static const char alphabet[] = "0123456789 \t\n:.|cpusdanvme-lo";
    uint32_t seed = 12345;
    (void)ctx;
    for (int round = 0; round < 4000; round++) {
        char buf[256];
        size_t len;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % (sizeof buf - 1);
        for (size_t k = 0; k < len; k++) {
            unsigned r;
            seed = seed * 1103515245u + 12345u;
            r = seed >> 16;
            buf[k] = r % 4 == 0 ? (char)(1 + r / 4 % 255) : alphabet[r / 4 % (sizeof alphabet - 1)];
        }
        buf[len] = '\0';
        check_outcome(fns[round % PGQ_ARRAY_SIZE(fns)], buf);
    }
}

/* ---- rates --------------------------------------------------------------- */

static struct host_sample sample(uint64_t cpu_total,
                                 uint64_t cpu_busy,
                                 uint64_t sectors_read,
                                 uint64_t sectors_written,
                                 uint64_t io_ms,
                                 uint64_t rx,
                                 uint64_t tx)
{
    struct host_sample s = {
        .cpu_total_jiffies = cpu_total,
        .cpu_busy_jiffies = cpu_busy,
        .load1_c = 150,
        .load5_c = 120,
        .load15_c = 90,
        .disk_read_sectors = sectors_read,
        .disk_write_sectors = sectors_written,
        .disk_io_ms = io_ms,
        .net_rx_bytes = rx,
        .net_tx_bytes = tx,
    };
    return s;
}

struct rate_case
{
    const char *what;
    struct host_sample prev, cur;
    uint64_t elapsed_ms;
    struct host_metrics want;
};

static void test_rate(void **ctx)
{
    /* Rates are deltas over the elapsed time; a counter that went backwards gives 0 (the
     * others are unaffected); elapsed 0 gives only the load; shares are capped at 10000. */
    const uint64_t big = UINT64_MAX;
    const struct rate_case cases[] = {
        {"steady",
         sample(1000, 400, 5000, 100, 10000, 1000, 2000),
         sample(2000, 650, 7000, 104, 10500, 1001000, 2001),
         2000,
         {2500, 150, 120, 90, 512000, 1024, 2500, 500000, 0}},
        {"two disks busy",
         sample(0, 0, 0, 0, 1000, 0, 0),
         sample(0, 0, 0, 0, 6000, 0, 0),
         2000,
         {0, 150, 120, 90, 0, 0, 10000, 0, 0}},
        {"all reset",
         sample(2000, 650, 7000, 104, 10500, 1001000, 2001),
         sample(10, 5, 3, 2, 1, 1, 1),
         1000,
         {0, 150, 120, 90, 0, 0, 0, 0, 0}},
        {"disks reset only",
         sample(1000, 500, 7000, 104, 10500, 1000, 1000),
         sample(1100, 550, 3, 2, 1, 3000, 1500),
         1000,
         {5000, 150, 120, 90, 0, 0, 0, 2000, 500}},
        {"cpu busy reset",
         sample(1000, 500, 0, 0, 0, 0, 0),
         sample(1100, 10, 0, 0, 0, 0, 0),
         1000,
         {0, 150, 120, 90, 0, 0, 0, 0, 0}},
        {"cpu idle",
         sample(1000, 500, 0, 0, 0, 0, 0),
         sample(1000, 500, 0, 0, 0, 0, 0),
         1000,
         {0, 150, 120, 90, 0, 0, 0, 0, 0}},
        {"iowait went backwards",
         sample(1000, 500, 0, 0, 0, 0, 0),
         sample(1100, 620, 0, 0, 0, 0, 0),
         1000,
         {10000, 150, 120, 90, 0, 0, 0, 0, 0}},
        {"elapsed 0",
         sample(1000, 400, 5000, 100, 10000, 1000, 2000),
         sample(2000, 650, 7000, 104, 10500, 1001000, 2001),
         0,
         {0, 150, 120, 90, 0, 0, 0, 0, 0}},
        {"saturated",
         sample(0, 0, 0, 0, 0, 0, 0),
         sample(0, 0, big, 1ull << 60, big, 1ull << 60, big),
         1000,
         {0, 150, 120, 90, big, big, 10000, 1ull << 60, big}},
        {"long elapsed",
         sample(0, 0, 0, 0, 0, 0, 0),
         sample(0, 0, 1, 0, 0, 1000, 0),
         big,
         {0, 150, 120, 90, 0, 0, 0, 0, 0}},
    };
    (void)ctx;
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(cases); i++) {
        const struct host_metrics *w = &cases[i].want;
        struct host_metrics m;
        memset(&m, 0xab, sizeof m);
        hostmetrics_rate(&cases[i].prev, &cases[i].cur, cases[i].elapsed_ms, &m);
        if (m.cpu_busy_bp != w->cpu_busy_bp || m.load1_c != w->load1_c || m.load5_c != w->load5_c ||
            m.load15_c != w->load15_c || m.disk_read_bps != w->disk_read_bps ||
            m.disk_write_bps != w->disk_write_bps || m.disk_io_bp != w->disk_io_bp ||
            m.net_rx_bps != w->net_rx_bps || m.net_tx_bps != w->net_tx_bps) {
            fail_msg("%s: cpu %u load %u %u %u read %llu write %llu io %u rx %llu tx %llu",
                     cases[i].what, m.cpu_busy_bp, m.load1_c, m.load5_c, m.load15_c,
                     (unsigned long long)m.disk_read_bps, (unsigned long long)m.disk_write_bps,
                     m.disk_io_bp, (unsigned long long)m.net_rx_bps,
                     (unsigned long long)m.net_tx_bps);
        }
    }
}

/* ---- this machine -------------------------------------------------------- */

static void test_read_this_machine(void **ctx)
{
    /* This machine's /proc reads without error, with CPU time counted, and two readings give
     * shares within 0..10000. */
    struct host_sample a, b;
    struct host_metrics m;
    (void)ctx;
    assert_int_equal(hostmetrics_read(&a), 0);
    assert_true(a.cpu_total_jiffies > 0);
    assert_true(a.cpu_busy_jiffies <= a.cpu_total_jiffies);
    assert_int_equal(hostmetrics_read(&b), 0);
    assert_true(b.cpu_total_jiffies >= a.cpu_total_jiffies);
    hostmetrics_rate(&a, &b, 1, &m);
    assert_true(m.cpu_busy_bp <= 10000);
    assert_true(m.disk_io_bp <= 10000);
    assert_int_equal(m.load1_c, b.load1_c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test(test_parse_loadavg),
        cmocka_unit_test(test_parse_diskstats),
        cmocka_unit_test(test_diskstats_names),
        cmocka_unit_test(test_parse_netdev),
        cmocka_unit_test(test_parsers_keep_other_fields),
        cmocka_unit_test(test_parsers_truncated),
        cmocka_unit_test(test_parsers_garbage),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_read_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
