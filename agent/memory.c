/* memory: the C library's allocation settings (see memory.h). */
#include "memory.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

void pgq_memory_setup(void)
{
    pgq_mem_blocks_setup();
#ifdef __GLIBC__
    /* Setting the threshold also ends glibc's dynamic one, which after the
     * first free of a large block (a snapshot's encoding) would send every
     * block below that size to the heap again. */
    mallopt(M_MMAP_THRESHOLD, (int)PGQ_MEM_MMAP_THRESHOLD);
    mallopt(M_MMAP_MAX, PGQ_MEM_MMAP_MAX);
    /* A block is mapped only when the heap has no room for it: keep no
     * room spare at its top (top_pad), and give back what is freed there
     * beyond PGQ_MEM_TRIM_THRESHOLD at once. */
    mallopt(M_TOP_PAD, 0);
    mallopt(M_TRIM_THRESHOLD, (int)PGQ_MEM_TRIM_THRESHOLD);
#endif
}

void pgq_memory_tick(uint64_t now_ms, uint64_t *last_ms)
{
    if (now_ms < *last_ms + PGQ_MEM_TRIM_MS) {
        return;
    }
    *last_ms = now_ms;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
