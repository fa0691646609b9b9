/* Host metrics from the text of /proc (see hostmetrics.h). The parsers are
 * strict about what they read: every field they use must be a plain decimal
 * number that fits 64 bits, so a file of another shape is an error rather
 * than a plausible wrong number. They never read past the text's NUL, so
 * garbage or a file cut short cannot make them crash. */
#include "hostmetrics.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define SECTOR_BYTES 512u /* diskstats counts 512-byte sectors whatever the device's */
#define BP_ALL 10000u     /* basis points in 100 % */

/* ---- lines and tokens ---------------------------------------------------- */

/* One line of the text, [p, end), without its newline. */
struct line
{
    const char *p;
    const char *end;
};

/* The next line of *text into l, or false at the end of the text. */
static bool next_line(const char **text, struct line *l)
{
    const char *nl;
    if (**text == '\0') {
        return false;
    }
    nl = strchr(*text, '\n');
    l->p = *text;
    l->end = nl != NULL ? nl : *text + strlen(*text);
    *text = nl != NULL ? nl + 1 : l->end;
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next run of non-blanks of l into [*tok, *tok + *len), or false when
 * only blanks are left. */
static bool next_token(struct line *l, const char **tok, size_t *len)
{
    while (l->p < l->end && is_blank(*l->p)) {
        l->p++;
    }
    if (l->p == l->end) {
        return false;
    }
    *tok = l->p;
    while (l->p < l->end && !is_blank(*l->p)) {
        l->p++;
    }
    *len = (size_t)(l->p - *tok);
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits only (no sign, no blank: strtoull would take "-1"), fitting 64 bits. */
static bool parse_u64(const char *tok, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        uint64_t d;
        if (!is_digit(tok[i])) {
            return false;
        }
        d = (uint64_t)(tok[i] - '0');
        if (x > (UINT64_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

/* The rest of l, which must be numbers only: the first max of them into v,
 * how many there are into *n. */
static bool read_numbers(struct line *l, uint64_t *v, size_t max, size_t *n)
{
    const char *tok;
    size_t len;
    *n = 0;
    while (next_token(l, &tok, &len)) {
        uint64_t x;
        if (!parse_u64(tok, len, &x)) {
            return false;
        }
        if (*n < max) {
            v[*n] = x;
        }
        (*n)++;
    }
    return true;
}

/* *sum += x, or false when that would wrap (only garbage gets there). */
static bool add_u64(uint64_t *sum, uint64_t x)
{
    if (x > UINT64_MAX - *sum) {
        return false;
    }
    *sum += x;
    return true;
}

static bool token_is(const char *tok, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(tok, word, len) == 0;
}

/* ---- /proc/stat ---------------------------------------------------------- */

/* user nice system idle iowait irq softirq steal: the time the CPUs spent.
 * guest and guest_nice, after them, are already counted in user and nice. */
enum {
    CPU_USER,
    CPU_NICE,
    CPU_SYSTEM,
    CPU_IDLE,
    CPU_IOWAIT,
    CPU_IRQ,
    CPU_SOFTIRQ,
    CPU_STEAL,
    CPU_N
};

int hostmetrics_parse_stat(const char *text, struct host_sample *s)
{
    struct line l;
    assert(text != NULL && s != NULL);
    s->cpu_total_jiffies = 0;
    s->cpu_busy_jiffies = 0;
    while (next_line(&text, &l)) {
        uint64_t v[CPU_N] = {0};
        uint64_t total = 0;
        const char *tok;
        size_t len, n;
        if (!next_token(&l, &tok, &len) || !token_is(tok, len, "cpu")) {
            continue; /* "cpu0", "intr", "ctxt", ... */
        }
        /* Kernels before 2.5.41 stop after idle. */
        if (!read_numbers(&l, v, CPU_N, &n) || n <= CPU_IDLE) {
            return PGQ_INVALID;
        }
        for (size_t i = 0; i < CPU_N; i++) {
            if (!add_u64(&total, v[i])) {
                return PGQ_INVALID;
            }
        }
        s->cpu_total_jiffies = total;
        s->cpu_busy_jiffies = total - v[CPU_IDLE] - v[CPU_IOWAIT];
        return 0;
    }
    return PGQ_INVALID;
}

/* ---- /proc/loadavg ------------------------------------------------------- */

/* "12.34" as 1234: digits, then optionally a point and digits (past the
 * second one they are dropped; the kernel prints two). */
static bool parse_centi(const char *tok, size_t len, uint32_t *v)
{
    uint64_t x = 0, frac = 0;
    size_t i = 0, nfrac = 0;
    for (; i < len && is_digit(tok[i]); i++) {
        x = x * 10 + (uint64_t)(tok[i] - '0');
        if (x > UINT32_MAX / 100) {
            return false;
        }
    }
    if (i == 0) {
        return false;
    }
    if (i < len) {
        if (tok[i++] != '.' || i == len) {
            return false;
        }
        for (; i < len; i++, nfrac++) {
            if (!is_digit(tok[i])) {
                return false;
            }
            if (nfrac < 2) {
                frac = frac * 10 + (uint64_t)(tok[i] - '0');
            }
        }
        if (nfrac == 1) {
            frac *= 10;
        }
    }
    x = x * 100 + frac;
    if (x > UINT32_MAX) {
        return false;
    }
    *v = (uint32_t)x;
    return true;
}

int hostmetrics_parse_loadavg(const char *text, struct host_sample *s)
{
    uint32_t v[3]; /* 1, 5 and 15 minutes */
    struct line l;
    assert(text != NULL && s != NULL);
    s->load1_c = s->load5_c = s->load15_c = 0;
    /* "0.08 0.62 0.91 2/84 10829": what follows the three averages (tasks
     * running / existing, the last pid) is not used. */
    if (!next_line(&text, &l)) {
        return PGQ_INVALID;
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(v); i++) {
        const char *tok;
        size_t len;
        if (!next_token(&l, &tok, &len) || !parse_centi(tok, len, &v[i])) {
            return PGQ_INVALID;
        }
    }
    s->load1_c = v[0];
    s->load5_c = v[1];
    s->load15_c = v[2];
    return 0;
}

/* ---- /proc/diskstats ----------------------------------------------------- */

/* The fields after the device name that are used (Documentation/admin-guide/
 * iostats.rst): 1 reads completed, 2 merged, 3 sectors read, 4 ms reading,
 * 5 writes completed, 6 merged, 7 sectors written, 8 ms writing, 9 I/Os in
 * progress, 10 ms doing I/O. */
enum { DISK_SECTORS_READ = 2, DISK_SECTORS_WRITTEN = 6, DISK_IO_TICKS = 9, DISK_N };

/* Devices whose I/O is counted again on the disks under them (dm-, md, loop)
 * or is no disk's (ram, zram, the CD-ROM sr). */
static const char *const virtual_prefixes[] = {"loop", "ram", "dm-", "zram", "sr", "md"};

/* Disks named by letters ("sda", "xvdab"); their partitions add digits ("sda1"). */
static const char *const lettered_prefixes[] = {"sd", "vd", "xvd", "hd"};

static bool has_prefix(const char *name, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    return len >= plen && memcmp(name, prefix, plen) == 0;
}

/* How many digits [p, p + len) starts with. */
static size_t count_digits(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_digit(p[i])) {
        i++;
    }
    return i;
}

/* Whether [name, name + len) is a whole physical disk, whose I/O is counted:
 * not a virtual device, not a partition. A name of no family known here
 * ("nbd0", "dasda") is taken for a whole disk. */
static bool is_whole_disk(const char *name, size_t len)
{
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(virtual_prefixes); i++) {
        if (has_prefix(name, len, virtual_prefixes[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < PGQ_ARRAY_SIZE(lettered_prefixes); i++) {
        if (has_prefix(name, len, lettered_prefixes[i])) {
            size_t k = strlen(lettered_prefixes[i]), letters = 0;
            while (k < len && name[k] >= 'a' && name[k] <= 'z') {
                k++, letters++;
            }
            return letters > 0 && k == len;
        }
    }
    /* Numbered disks: "nvme0n1" (controller 0, namespace 1) and "mmcblk0";
     * anything after the number is a part of one: "nvme0n1p1", "mmcblk0p1",
     * "mmcblk0boot0". */
    if (has_prefix(name, len, "nvme")) {
        size_t k = 4, d = count_digits(name + k, len - k);
        if (d == 0 || k + d == len || name[k + d] != 'n') {
            return false;
        }
        k += d + 1;
        d = count_digits(name + k, len - k);
        return d > 0 && k + d == len;
    }
    if (has_prefix(name, len, "mmcblk")) {
        size_t d = count_digits(name + 6, len - 6);
        return d > 0 && 6 + d == len;
    }
    return true;
}

int hostmetrics_parse_diskstats(const char *text, struct host_sample *s)
{
    uint64_t read_sectors = 0, write_sectors = 0, io_ms = 0;
    struct line l;
    assert(text != NULL && s != NULL);
    s->disk_read_sectors = s->disk_write_sectors = s->disk_io_ms = 0;
    /* "   8       0 sda 5130 1234 ...": major, minor, name, counters. */
    while (next_line(&text, &l)) {
        uint64_t major, minor, v[DISK_N];
        const char *tok, *name;
        size_t len, name_len, n;
        if (!next_token(&l, &tok, &len)) {
            continue; /* a blank line */
        }
        if (!parse_u64(tok, len, &major) || !next_token(&l, &tok, &len) ||
            !parse_u64(tok, len, &minor) || !next_token(&l, &name, &name_len) ||
            !read_numbers(&l, v, DISK_N, &n)) {
            return PGQ_INVALID;
        }
        if (!is_whole_disk(name, name_len)) {
            continue; /* Linux before 2.6.25 gave partitions 4 counters only */
        }
        if (n < DISK_N || !add_u64(&read_sectors, v[DISK_SECTORS_READ]) ||
            !add_u64(&write_sectors, v[DISK_SECTORS_WRITTEN]) ||
            !add_u64(&io_ms, v[DISK_IO_TICKS])) {
            return PGQ_INVALID;
        }
    }
    s->disk_read_sectors = read_sectors;
    s->disk_write_sectors = write_sectors;
    s->disk_io_ms = io_ms;
    return 0;
}

/* ---- /proc/net/dev ------------------------------------------------------- */

/* After "name:", 8 receive counters (bytes first), then 8 transmit. */
enum { NET_RX_BYTES = 0, NET_TX_BYTES = 8, NET_N };

int hostmetrics_parse_netdev(const char *text, struct host_sample *s)
{
    uint64_t rx = 0, tx = 0;
    struct line l;
    assert(text != NULL && s != NULL);
    s->net_rx_bytes = s->net_tx_bytes = 0;
    /* Two header lines ("Inter-|   Receive ...", " face |bytes ..."), then
     * "  eth0: 1234 5 ..." (no blank after the colon once the name and the
     * number are long: "enp0s31f6:123456"). A name never holds a colon. */
    while (next_line(&text, &l)) {
        const char *colon = memchr(l.p, ':', (size_t)(l.end - l.p));
        struct line name = l, rest;
        uint64_t v[NET_N];
        const char *tok;
        size_t len, n;
        if (colon == NULL) {
            struct line blank = l;
            if (memchr(l.p, '|', (size_t)(l.end - l.p)) != NULL ||
                !next_token(&blank, &tok, &len)) {
                continue; /* a header, or a blank line */
            }
            return PGQ_INVALID;
        }
        name.end = colon;
        rest.p = colon + 1;
        rest.end = l.end;
        /* The name is one token, and all there is before the colon. */
        if (!next_token(&name, &tok, &len) || name.p != colon ||
            !read_numbers(&rest, v, NET_N, &n) || n < NET_N) {
            return PGQ_INVALID;
        }
        if (token_is(tok, len, "lo")) {
            continue;
        }
        if (!add_u64(&rx, v[NET_RX_BYTES]) || !add_u64(&tx, v[NET_TX_BYTES])) {
            return PGQ_INVALID;
        }
    }
    s->net_rx_bytes = rx;
    s->net_tx_bytes = tx;
    return 0;
}

/* ---- rates --------------------------------------------------------------- */

/* How much a counter grew; 0 when it went backwards (a reset). */
static uint64_t grown(uint64_t prev, uint64_t cur)
{
    return cur >= prev ? cur - prev : 0;
}

/* a * b / c rounded down, saturating at UINT64_MAX; c > 0. The exact
 * product fits in all but absurd cases; those go through long double. */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
    long double r;
    assert(c > 0);
    if (b == 0 || a <= UINT64_MAX / b) {
        return a * b / c;
    }
    r = (long double)a * (long double)b / (long double)c;
    return r >= (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static uint64_t per_second(uint64_t prev, uint64_t cur, uint64_t unit_bytes, uint64_t elapsed_ms)
{
    return mul_div(grown(prev, cur), unit_bytes * 1000, elapsed_ms);
}

void hostmetrics_rate(const struct host_sample *prev,
                      const struct host_sample *cur,
                      uint64_t elapsed_ms,
                      struct host_metrics *out)
{
    uint64_t total, busy;
    assert(prev != NULL && cur != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->load1_c = cur->load1_c;
    out->load5_c = cur->load5_c;
    out->load15_c = cur->load15_c;
    if (elapsed_ms == 0) {
        return;
    }
    /* busy is total less idle and iowait, so it grows no faster than total;
     * a kernel's iowait can go backwards, hence the cap. */
    total = grown(prev->cpu_total_jiffies, cur->cpu_total_jiffies);
    busy = grown(prev->cpu_busy_jiffies, cur->cpu_busy_jiffies);
    if (total > 0) {
        out->cpu_busy_bp = (uint32_t)mul_div(PGQ_MIN(busy, total), BP_ALL, total);
    }
    out->disk_read_bps =
        per_second(prev->disk_read_sectors, cur->disk_read_sectors, SECTOR_BYTES, elapsed_ms);
    out->disk_write_bps =
        per_second(prev->disk_write_sectors, cur->disk_write_sectors, SECTOR_BYTES, elapsed_ms);
    out->disk_io_bp = (uint32_t)PGQ_MIN(
        mul_div(grown(prev->disk_io_ms, cur->disk_io_ms), BP_ALL, elapsed_ms), BP_ALL);
    out->net_rx_bps = per_second(prev->net_rx_bytes, cur->net_rx_bytes, 1, elapsed_ms);
    out->net_tx_bps = per_second(prev->net_tx_bytes, cur->net_tx_bytes, 1, elapsed_ms);
}
