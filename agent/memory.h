/* memory: how pgquorumd asks the C library for memory, so that what it
 * holds follows what it uses (see docs/architecture.md, "What a node
 * costs").
 *
 * Every kept libpq connection has an input and an output buffer of 16 KB,
 * of which a probe writes a page or two; each full round makes a new
 * connection and frees the old one. glibc serves such a block from its
 * heap whenever the heap has room, where it is nearly always wholly
 * resident (memory_blocks.c says what was measured). So blocks of
 * PGQ_MEM_BLOCK_MIN to PGQ_MEM_BLOCK_MAX bytes get slots of their own in
 * ranges reserved for them (memory_blocks.c): only the pages a block
 * writes are resident, and all of them go back when it is freed. glibc
 * serves every other size: blocks above the range from their own
 * mappings where the heap has no room (glibc maps only then, and no more
 * than a bounded number of them), the heap keeping no spare room at its
 * top and giving its free pages back every few seconds.
 *
 * In a 64-bit glibc build without a sanitizer (which brings its own
 * allocator) the replacement is linked in: malloc, calloc, realloc, free and
 * malloc_usable_size of the whole process, libraries included, go
 * through pgq_mem_*. PGQ_MEMORY_BLOCKS=off in the environment (or an
 * address-space limit, or pages larger than 16 KB) leaves every size to
 * glibc; so should a run under valgrind, whose memcheck does not see the
 * blocks. Elsewhere nothing changes. */
#ifndef PGQ_MEMORY_H
#define PGQ_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GLIBC__) && __SIZEOF_POINTER__ == 8 && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_HWADDRESS__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define PGQ_MEM_INTERPOSE 0
#endif
#endif
#ifndef PGQ_MEM_INTERPOSE
#define PGQ_MEM_INTERPOSE 1
#endif
#else
#define PGQ_MEM_INTERPOSE 0
#endif

/* Blocks of these sizes get slots of their own (memory_blocks.c). */
#define PGQ_MEM_BLOCK_MIN (16u * 1024u)
#define PGQ_MEM_BLOCK_MAX (64u * 1024u)

/* Blocks from this size up get their own mapping. */
#define PGQ_MEM_MMAP_THRESHOLD (16u * 1024u)
/* At most this many such mappings (vm.max_map_count is 65,530 by default). */
#define PGQ_MEM_MMAP_MAX 32768
/* Free memory at the heap's top beyond this goes back at once. */
#define PGQ_MEM_TRIM_THRESHOLD (64u * 1024u)
/* The heap's free pages go back at most this often. */
#define PGQ_MEM_TRIM_MS 10000u

/* At start, before the first allocation that matters. */
void pgq_memory_setup(void);

/* From the loop's tick: give free heap pages back once PGQ_MEM_TRIM_MS
 * passed since *last_ms (now_ms on the loop's clock). */
void pgq_memory_tick(uint64_t now_ms, uint64_t *last_ms);

/* The allocator of the whole process where PGQ_MEM_INTERPOSE (malloc and
 * the others are these), callable in any build: a block size gets a slot,
 * any other size and any pointer that is not a block go to glibc. A free
 * or a realloc of a pointer inside a slot that is not a block handed out
 * aborts with a message, as glibc does. */
void *pgq_mem_malloc(size_t size);
void *pgq_mem_calloc(size_t n, size_t size);
void *pgq_mem_realloc(void *p, size_t size);
void pgq_mem_free(void *p);
size_t pgq_mem_usable(void *p);
/* p is a block in a slot of its own. */
bool pgq_mem_is_block(const void *p);
/* Blocks handed out and not freed; block sizes glibc served (a class full,
 * or its range refused). */
void pgq_mem_stats(uint64_t *blocks, uint64_t *fallbacks);
/* Called by pgq_memory_setup(): blocks across fork(). */
void pgq_mem_blocks_setup(void);

#endif
