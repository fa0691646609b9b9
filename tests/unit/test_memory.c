/* Unit tests of agent/memory_blocks.c, the allocator of pgquorumd's whole
 * process in a glibc build without a sanitizer: blocks of 16 to 64 KB in
 * slots of their own, every other size glibc's. Called here as pgq_mem_*,
 * so that a sanitizer build tests the same code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memory.h"

#ifdef __GLIBC__

/* Pages of [p, p + len) resident now (mincore). */
static size_t resident_pages(const void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
    size_t n = ((uintptr_t)p + len - start + page - 1) / page;
    unsigned char vec[64];
    size_t count = 0;
    assert_true(n <= sizeof vec);
    assert_int_equal(mincore((void *)start, n * page, vec), 0);
    for (size_t i = 0; i < n; i++) {
        count += vec[i] & 1;
    }
    return count;
}

static uint64_t blocks_now(void)
{
    uint64_t blocks;
    uint64_t fallbacks;
    pgq_mem_stats(&blocks, &fallbacks);
    return blocks;
}

static void test_block_pages_follow_writes(void **ctx)
{
    /* A 16 KB block (a libpq buffer) is resident only where it was
     * written (no huge page), none of it stays resident once freed, and
     * free() leaves errno as it was. */
    uint64_t before = blocks_now();
    char *p = pgq_mem_malloc(16384);
    (void)ctx;
    assert_non_null(p);
    assert_true(pgq_mem_is_block(p));
    assert_int_equal(blocks_now(), before + 1);
    assert_int_equal(resident_pages(p, 16384), 0);
    memset(p, 'x', 100);
    assert_int_equal(resident_pages(p, 16384), 1);
    assert_int_equal(pgq_mem_usable(p), 16384);
    errno = EINTR;
    pgq_mem_free(p);
    assert_int_equal(errno, EINTR); /* free() keeps errno */
    assert_int_equal(resident_pages(p, 16384), 0);
    assert_int_equal(blocks_now(), before);
}

static void test_block_reused_zeroed(void **ctx)
{
    /* The slot freed last is handed out next, and a calloc() of it reads
     * zeros although its last holder wrote every byte. */
    char *p = pgq_mem_malloc(20000);
    char *q;
    (void)ctx;
    assert_true(pgq_mem_is_block(p));
    memset(p, 0xab, 20000);
    pgq_mem_free(p);
    q = pgq_mem_calloc(4, 5000);
    assert_ptr_equal(q, p);
    for (size_t i = 0; i < 20000; i++) {
        if (q[i] != 0) {
            fail_msg("byte %zu of a reused calloc block is %d", i, q[i]);
        }
    }
    pgq_mem_free(q);
}

static void test_sizes_outside_glibc(void **ctx)
{
    /* Below 16 KB and above 64 KB, and from calloc, memory is glibc's;
     * free() and realloc() of it work as glibc's. */
    char *small = pgq_mem_malloc(16383);
    char *large = pgq_mem_malloc(65537);
    char *zeros = pgq_mem_calloc(1, 100);
    (void)ctx;
    assert_non_null(small);
    assert_non_null(large);
    assert_false(pgq_mem_is_block(small));
    assert_false(pgq_mem_is_block(large));
    assert_false(pgq_mem_is_block(zeros));
    assert_int_equal(zeros[99], 0);
#if PGQ_MEM_INTERPOSE
    /* glibc's answer (a sanitizer's malloc_usable_size knows nothing of
     * glibc's blocks). */
    assert_true(pgq_mem_usable(small) >= 16383);
#endif
    small = pgq_mem_realloc(small, 100);
    assert_false(pgq_mem_is_block(small));
    pgq_mem_free(small);
    pgq_mem_free(large);
    pgq_mem_free(zeros);
    pgq_mem_free(NULL);
}

static void test_block_realloc(void **ctx)
{
    /* A block grown within its slot stays where it is; grown past it, it
     * moves with its bytes to a larger class, then past 64 KB to glibc;
     * realloc to 0 frees it. */
    uint64_t before = blocks_now();
    char *p = pgq_mem_malloc(16384);
    char *q;
    (void)ctx;
    for (int i = 0; i < 16384; i++) {
        p[i] = (char)(i % 251);
    }
    assert_ptr_equal(pgq_mem_realloc(p, 16000), p);
    assert_ptr_equal(pgq_mem_realloc(p, 16384), p);
    q = pgq_mem_realloc(p, 32768);
    assert_true(pgq_mem_is_block(q));
    assert_int_equal(pgq_mem_usable(q), 32768);
    assert_ptr_equal(pgq_mem_realloc(q, 20000), q); /* shrunk within its slot */
    assert_int_equal(pgq_mem_usable(q), 20000);
    for (int i = 0; i < 16384; i++) {
        if (q[i] != (char)(i % 251)) {
            fail_msg("byte %d lost in the move", i);
        }
    }
    q = pgq_mem_realloc(q, 100000);
    assert_false(pgq_mem_is_block(q));
    assert_int_equal(q[16383], (char)(16383 % 251));
    pgq_mem_free(q);
    assert_int_equal(blocks_now(), before);
    p = pgq_mem_realloc(NULL, 40000);
    assert_true(pgq_mem_is_block(p));
    assert_null(pgq_mem_realloc(p, 0));
    assert_int_equal(blocks_now(), before);
}

static void test_class_full_falls_back(void **ctx)
{
    /* Once every 64 KB slot is taken, a block of that size comes from
     * glibc (counted), and is freed there; the slots serve again after. */
    enum { MAX = 4096 + 8 };
    static char *held[MAX];
    uint64_t blocks;
    uint64_t fallbacks_before;
    uint64_t fallbacks;
    size_t n = 0;
    (void)ctx;
    pgq_mem_stats(&blocks, &fallbacks_before);
    while (n < MAX) {
        held[n] = pgq_mem_malloc(65536);
        assert_non_null(held[n]);
        if (!pgq_mem_is_block(held[n++])) {
            break;
        }
    }
    assert_int_equal(n, 4097); /* 4,096 slots, then glibc */
    pgq_mem_stats(&blocks, &fallbacks);
    assert_int_equal(fallbacks, fallbacks_before + 1);
    memset(held[n - 1], 1, 65536);
    for (size_t i = 0; i < n; i++) {
        pgq_mem_free(held[i]);
    }
    held[0] = pgq_mem_malloc(65536);
    assert_true(pgq_mem_is_block(held[0]));
    pgq_mem_free(held[0]);
}

static void test_calloc_overflow(void **ctx)
{
    /* A calloc whose size overflows fails instead of handing out a block. */
    (void)ctx;
    /* (2^50 + 1) x 16 KB wraps to exactly 16 KB: a block size. */
    assert_null(pgq_mem_calloc((SIZE_MAX >> 14) + 2, 16384));
}

static void test_double_free_aborts(void **ctx)
{
    /* Freeing a block twice, or freeing or reallocating a pointer inside
     * one, aborts (in a child). */
    (void)ctx;
    for (int how = 0; how < 3; how++) {
        pid_t pid = fork();
        int status = 0;
        assert_true(pid >= 0);
        if (pid == 0) {
            char *p = pgq_mem_malloc(30000);
            if (!pgq_mem_is_block(p)) {
                _exit(3); /* glibc's own check would abort too: not this test */
            }
            if (how == 0) {
                pgq_mem_free(p);
                pgq_mem_free(p);
            } else if (how == 1) {
                pgq_mem_free(p + 16);
            } else {
                p = pgq_mem_realloc(p + 16, 100000);
            }
            _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
    }
}

#define THREADS 4
#define ROUNDS 2000

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char *held[8] = {NULL};
    for (int r = 0; r < ROUNDS; r++) {
        int i = (int)(rand_r(&seed) % 8);
        if (held[i] != NULL) {
            for (int k = 0; k < 16; k++) {
                if (held[i][k * 1024] != (char)i) {
                    return "a block changed under its holder";
                }
            }
            pgq_mem_free(held[i]);
        }
        held[i] = pgq_mem_malloc(16384 + (size_t)(rand_r(&seed) % 49152));
        if (held[i] == NULL) {
            return "no block";
        }
        for (int k = 0; k < 16; k++) {
            held[i][k * 1024] = (char)i;
        }
    }
    for (int i = 0; i < 8; i++) {
        pgq_mem_free(held[i]);
    }
    return NULL;
}

static void test_threads(void **ctx)
{
    /* Threads taking and giving back blocks at once never share one, and
     * every block they took is given back. */
    pthread_t t[THREADS];
    uint64_t before = blocks_now();
    (void)ctx;
    for (uintptr_t i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *err = NULL;
        assert_int_equal(pthread_join(t[i], &err), 0);
        if (err != NULL) {
            fail_msg("%s", (const char *)err);
        }
    }
    assert_int_equal(blocks_now(), before);
}

#if PGQ_MEM_INTERPOSE
static void test_address_space_limit(void **ctx)
{
    /* Under an address-space limit nothing is reserved: a process started
     * with one (this program again) gets its 16 KB blocks from glibc. */
    pid_t pid;
    int status = 0;
    (void)ctx;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit as = {(rlim_t)64 << 30, (rlim_t)64 << 30};
        if (setrlimit(RLIMIT_AS, &as) == 0) {
            execl("/proc/self/exe", "test_memory", "--as-limited", (char *)NULL);
        }
        _exit(2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_interposed(void **ctx)
{
    /* In a build without a sanitizer, the process's own malloc hands out
     * blocks, and strdup (inside the C library) goes through it too. */
    char *s = malloc(20000);
    char *d;
    (void)ctx;
    assert_non_null(s);
    memset(s, 'a', 19999);
    s[19999] = '\0';
    assert_true(pgq_mem_is_block(s));
    d = strdup(s);
    assert_true(pgq_mem_is_block(d));
    assert_int_equal(malloc_usable_size(d), 20000);
    free(s);
    free(d);
}
#endif

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_pages_follow_writes),
        cmocka_unit_test(test_block_reused_zeroed),
        cmocka_unit_test(test_sizes_outside_glibc),
        cmocka_unit_test(test_block_realloc),
        cmocka_unit_test(test_class_full_falls_back),
        cmocka_unit_test(test_calloc_overflow),
        cmocka_unit_test(test_double_free_aborts),
        cmocka_unit_test(test_threads),
#if PGQ_MEM_INTERPOSE
        cmocka_unit_test(test_address_space_limit),
        cmocka_unit_test(test_interposed),
#endif
    };
    const char *off = getenv("PGQ_MEMORY_BLOCKS");
    struct rlimit as;
    if (argc == 2 && strcmp(argv[1], "--as-limited") == 0) {
        /* test_address_space_limit's child: a block size is glibc's. */
        void *p = malloc(16384);
        int rc = p != NULL && !pgq_mem_is_block(p) ? 0 : 1;
        free(p);
        return rc;
    }
    if ((off != NULL && strcmp(off, "off") == 0) ||
        (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)) {
        fprintf(stderr,
                "test_memory: blocks are off here (PGQ_MEMORY_BLOCKS=off or an "
                "address-space limit): nothing to test them with\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void)
{
    return 77; /* not glibc: nothing replaced, nothing to test */
}
#endif
