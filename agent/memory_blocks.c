/* memory_blocks: blocks of 16 to 64 KB in slots of their own (see
 * memory.h).
 *
 * Why: every kept libpq connection holds an input and an output buffer of
 * 16 KB, of which a probe writes a page or two. glibc serves such a block
 * from its heap whenever the heap has a free chunk or room at its top, and
 * maps it only otherwise; a chunk of the heap has nearly always been
 * written before (by the blocks it was split from or merged with), so a
 * buffer there costs all of its five pages. Measured at 2,000 nodes: 1,869
 * of the 4,000 buffers were on the heap, every one of them wholly
 * resident, 37 MB of the leader's 72 MB. Here a block has a slot that no
 * other block ever shares: the pages it does not write are never resident,
 * and when it is freed its pages go back to the kernel at once
 * (MADV_DONTNEED), so the next block in that slot starts from zero pages
 * too.
 *
 * The happy path is: malloc(16384) takes the slot last freed in the 16 KB
 * class (or the next never used one) under a mutex and returns it; free()
 * finds the class by the pointer's address (each class is one reserved
 * range), drops the slot's pages and pushes the slot back. Every other
 * size, and every pointer outside the ranges, goes to glibc
 * (__libc_malloc and friends) unchanged.
 *
 * Possible failure modes are: the reservation of a class refused (an
 * address-space limit, or pages larger than its slots): that class is
 * served by glibc from then on; a
 * class full, or no commit left to make more of it writable (strict
 * overcommit): the block comes from glibc; a free of
 * a pointer inside a range that is not a block handed out (a double free
 * or a bad pointer): abort with a message, as glibc does. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "memory.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* glibc's own allocator, under the names it exports for replacements. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

struct block_class
{
    size_t slot;          /* bytes per slot: the largest block it holds */
    uint32_t max;         /* slots reserved */
    _Atomic(char *) base; /* the reserved slots (NULL: not yet) */
    bool refused;         /* the reservation failed: glibc serves this class */
    uint32_t mapped;      /* slots made writable: [0, mapped) */
    uint32_t map_wait;    /* blocks to serve from glibc before trying map_more() again */
    uint32_t top;         /* slots handed out at least once: [0, top) */
    uint32_t n_free;
    uint32_t *free; /* stack of slots given back (before the slots) */
    uint32_t *len;  /* bytes asked for, per slot (0: free) */
};

/* 1 GB, 256 MB and 256 MB of address space, reserved at a class's first
 * block; only what blocks write is ever resident. 65,536 slots of 16 KB
 * hold the two buffers of 32,768 connections. */
static struct block_class classes[] = {
    {16u * 1024u, 65536u, NULL, false, 0, 0, 0, 0, NULL, NULL},
    {32u * 1024u, 8192u, NULL, false, 0, 0, 0, 0, NULL, NULL},
    {64u * 1024u, 4096u, NULL, false, 0, 0, 0, 0, NULL, NULL},
};
/* Slots are made writable this many bytes at a time. */
#define MAP_STEP (4u * 1024u * 1024u)
#define MAP_RETRY 256u
#define N_CLASSES (sizeof classes / sizeof classes[0])

static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t n_blocks;    /* handed out, not yet freed */
static atomic_uint_fast64_t n_fallbacks; /* block sizes served by glibc: class full or refused */
static atomic_int blocks_mode;           /* 0: not read yet, 1: on, 2: off */

static bool blocks_on(void)
{
    int mode = atomic_load_explicit(&blocks_mode, memory_order_relaxed);
    if (mode == 0) {
        /* getenv allocates nothing: safe from inside malloc. */
        const char *env = getenv("PGQ_MEMORY_BLOCKS");
        mode = env != NULL && strcmp(env, "off") == 0 ? 2 : 1;
        atomic_store_explicit(&blocks_mode, mode, memory_order_relaxed);
    }
    return mode == 1;
}

static struct block_class *class_for(size_t size)
{
    if (size < PGQ_MEM_BLOCK_MIN || size > PGQ_MEM_BLOCK_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < N_CLASSES; i++) {
        if (size <= classes[i].slot) {
            return &classes[i];
        }
    }
    return NULL;
}

/* The class whose range holds p, and p's slot in it; NULL: not a block. */
static struct block_class *class_of(const void *p, uint32_t *slot)
{
    const char *q = p;
    for (size_t i = 0; i < N_CLASSES; i++) {
        struct block_class *c = &classes[i];
        char *base = atomic_load_explicit(&c->base, memory_order_acquire);
        if (base != NULL && q >= base && q < base + c->slot * c->max) {
            *slot = (uint32_t)((size_t)(q - base) / c->slot);
            return c;
        }
    }
    return NULL;
}

static void die(const char *what)
{
    static const char prefix[] = "pgquorumd: memory blocks: ";
    ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    ignored = write(STDERR_FILENO, what, strlen(what));
    ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
    abort();
}

/* Under blocks_lock. One mapping: the free stack and the lengths, then the
 * slots. The range is reserved inaccessible, and made writable MAP_STEP at
 * a time as blocks need it: under vm.overcommit_memory = 2 (common on
 * PostgreSQL's hosts, where node agents run) only the writable part is
 * charged, as much as the most blocks ever held at once. Only what is
 * written becomes resident. */
static bool reserve(struct block_class *c)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t meta;
    size_t total;
    struct rlimit as;
    char *map;
    int saved = errno; /* a failure here is no failure of malloc */
    if (c->refused) {
        return false;
    }
    /* A slot must be whole pages: madvise drops pages, not bytes (a kernel
     * of 64 KB pages would drop a freed slot's live neighbours). Under an
     * address-space limit the reservation would take room that thread
     * stacks and glibc's own mappings count on. */
    if (page <= 0 || c->slot % (size_t)page != 0 ||
        (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)) {
        c->refused = true;
        return false;
    }
    meta = (2 * sizeof(uint32_t) * c->max + (size_t)page - 1) / (size_t)page * (size_t)page;
    total = meta + c->slot * c->max;
    map = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        c->refused = true;
        errno = saved;
        return false;
    }
    /* No transparent huge page here: one would make 2 MB resident for a
     * block's written page (the flag stays on the parts mprotect splits). */
    (void)madvise(map, total, MADV_NOHUGEPAGE);
    if (mprotect(map, meta, PROT_READ | PROT_WRITE) != 0) {
        munmap(map, total);
        c->refused = true;
        errno = saved;
        return false;
    }
    errno = saved;
    c->free = (uint32_t *)(void *)map;
    c->len = c->free + c->max;
    atomic_store_explicit(&c->base, map + meta, memory_order_release);
    return true;
}

/* Under blocks_lock: the next MAP_STEP of slots made writable. Once that
 * failed (no commit left), it is tried again only every MAP_RETRY blocks. */
static bool map_more(struct block_class *c, char *base)
{
    uint32_t n = (uint32_t)(MAP_STEP / c->slot);
    int saved = errno;
    if (n > c->max - c->mapped) {
        n = c->max - c->mapped;
    }
    if (n == 0) {
        return false; /* full: glibc serves the block */
    }
    if (c->map_wait > 0) {
        c->map_wait--;
        return false;
    }
    if (mprotect(base + (size_t)c->mapped * c->slot, (size_t)n * c->slot, PROT_READ | PROT_WRITE) !=
        0) {
        c->map_wait = MAP_RETRY;
        errno = saved;
        return false;
    }
    c->mapped += n;
    return true;
}

static void *block_get(struct block_class *c, size_t size)
{
    uint32_t slot;
    char *base;
    pthread_mutex_lock(&blocks_lock);
    if (atomic_load_explicit(&c->base, memory_order_relaxed) == NULL && !reserve(c)) {
        pthread_mutex_unlock(&blocks_lock);
        return NULL;
    }
    base = atomic_load_explicit(&c->base, memory_order_relaxed);
    if (c->n_free > 0) {
        slot = c->free[--c->n_free];
    } else if (c->top < c->mapped || map_more(c, base)) {
        slot = c->top++;
    } else {
        pthread_mutex_unlock(&blocks_lock);
        return NULL;
    }
    c->len[slot] = (uint32_t)size;
    pthread_mutex_unlock(&blocks_lock);
    atomic_fetch_add_explicit(&n_blocks, 1, memory_order_relaxed);
    return base + (size_t)slot * c->slot;
}

static void check_start(const struct block_class *c, uint32_t slot, const void *p, const char *what)
{
    const char *base = atomic_load_explicit(&c->base, memory_order_relaxed);
    if ((const char *)p != base + (size_t)slot * c->slot) {
        die(what);
    }
}

static void block_put(struct block_class *c, uint32_t slot, void *p)
{
    int saved = errno; /* free() keeps errno (glibc since 2.33) */
    check_start(c, slot, p, "free(): a pointer inside a block");
    pthread_mutex_lock(&blocks_lock);
    if (slot >= c->top || c->len[slot] == 0) {
        pthread_mutex_unlock(&blocks_lock);
        die("free(): a block freed twice or never handed out");
    }
    c->len[slot] = 0; /* freed: a second free() or a realloc() of it aborts */
    pthread_mutex_unlock(&blocks_lock);
    /* Its pages go back now (outside the lock: the slot is nobody's until
     * it is pushed), and read as zeros when next written: a block from
     * calloc() needs no memset. */
    if (madvise(p, c->slot, MADV_DONTNEED) != 0) {
        memset(p, 0, c->slot);
    }
    pthread_mutex_lock(&blocks_lock);
    c->free[c->n_free++] = slot;
    pthread_mutex_unlock(&blocks_lock);
    atomic_fetch_sub_explicit(&n_blocks, 1, memory_order_relaxed);
    errno = saved;
}

void *pgq_mem_malloc(size_t size)
{
    struct block_class *c = blocks_on() ? class_for(size) : NULL;
    if (c != NULL) {
        void *p = block_get(c, size);
        if (p != NULL) {
            return p;
        }
        atomic_fetch_add_explicit(&n_fallbacks, 1, memory_order_relaxed);
    }
    return __libc_malloc(size);
}

void *pgq_mem_calloc(size_t n, size_t size)
{
    size_t bytes;
    struct block_class *c;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    c = blocks_on() ? class_for(bytes) : NULL;
    if (c != NULL) {
        void *p = block_get(c, bytes); /* zeros: never written, or dropped when freed */
        if (p != NULL) {
            return p;
        }
        atomic_fetch_add_explicit(&n_fallbacks, 1, memory_order_relaxed);
    }
    return __libc_calloc(n, size);
}

void pgq_mem_free(void *p)
{
    uint32_t slot;
    struct block_class *c;
    if (p == NULL) {
        return;
    }
    c = class_of(p, &slot);
    if (c == NULL) {
        __libc_free(p);
        return;
    }
    block_put(c, slot, p);
}

void *pgq_mem_realloc(void *p, size_t size)
{
    uint32_t slot;
    uint32_t had;
    struct block_class *c;
    void *q;
    if (p == NULL) {
        return pgq_mem_malloc(size);
    }
    c = class_of(p, &slot);
    if (c == NULL) {
        return __libc_realloc(p, size);
    }
    check_start(c, slot, p, "realloc(): a pointer inside a block");
    if (size == 0) {
        pgq_mem_free(p); /* as glibc's realloc(p, 0) */
        return NULL;
    }
    pthread_mutex_lock(&blocks_lock);
    had = c->len[slot];
    if (size <= c->slot) {
        c->len[slot] = (uint32_t)size;
    }
    pthread_mutex_unlock(&blocks_lock);
    if (had == 0) {
        die("realloc(): a block freed or never handed out");
    }
    if (size <= c->slot) {
        return p;
    }
    q = pgq_mem_malloc(size);
    if (q == NULL) {
        return NULL; /* p stays as it was */
    }
    memcpy(q, p, had);
    pgq_mem_free(p);
    return q;
}

size_t pgq_mem_usable(void *p)
{
    static size_t (*libc_usable)(void *);
    uint32_t slot;
    struct block_class *c;
    if (p == NULL) {
        return 0;
    }
    c = class_of(p, &slot);
    if (c != NULL) {
        /* What was asked for, not the slot: realloc() keeps that much, and
         * a caller may write all that this says it may. */
        size_t len;
        pthread_mutex_lock(&blocks_lock);
        len = c->len[slot];
        pthread_mutex_unlock(&blocks_lock);
        return len;
    }
    if (libc_usable == NULL) {
        /* POSIX's way to take a function from dlsym(). */
        *(void **)&libc_usable = dlsym(RTLD_NEXT, "malloc_usable_size");
    }
    return libc_usable != NULL ? libc_usable(p) : 0;
}

bool pgq_mem_is_block(const void *p)
{
    uint32_t slot;
    return p != NULL && class_of(p, &slot) != NULL;
}

void pgq_mem_stats(uint64_t *blocks, uint64_t *fallbacks)
{
    *blocks = atomic_load_explicit(&n_blocks, memory_order_relaxed);
    *fallbacks = atomic_load_explicit(&n_fallbacks, memory_order_relaxed);
}

/* A child of fork() must not inherit the lock held by another thread. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&blocks_lock);
}

static void fork_done(void)
{
    pthread_mutex_unlock(&blocks_lock);
}

void pgq_mem_blocks_setup(void)
{
    static bool done;
    if (!done) {
        done = true;
        pthread_atfork(fork_prepare, fork_done, fork_done);
    }
}

#if PGQ_MEM_INTERPOSE
/* The replacement glibc documents ("Replacing malloc"): these four, and
 * malloc_usable_size because it is given our pointers too. memalign,
 * posix_memalign, aligned_alloc and valloc stay glibc's: they never return
 * a block, and free() hands their pointers back to glibc. */
void *malloc(size_t size)
{
    return pgq_mem_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return pgq_mem_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return pgq_mem_realloc(p, size);
}

void free(void *p)
{
    pgq_mem_free(p);
}

size_t malloc_usable_size(void *p)
{
    return pgq_mem_usable(p);
}
#endif

#else /* not glibc: the C library's allocator, unchanged */

void *pgq_mem_malloc(size_t size)
{
    return malloc(size);
}

void *pgq_mem_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void *pgq_mem_realloc(void *p, size_t size)
{
    return realloc(p, size);
}

void pgq_mem_free(void *p)
{
    free(p);
}

size_t pgq_mem_usable(void *p)
{
    (void)p;
    return 0;
}

bool pgq_mem_is_block(const void *p)
{
    (void)p;
    return false;
}

void pgq_mem_stats(uint64_t *blocks, uint64_t *fallbacks)
{
    *blocks = 0;
    *fallbacks = 0;
}

void pgq_mem_blocks_setup(void)
{
}
#endif
