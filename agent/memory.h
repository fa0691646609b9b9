/* memory: how pgquorumd asks the C library for memory, so that what it
 * holds follows what it uses (see docs/architecture.md, "What a node
 * costs").
 *
 * Every kept libpq connection has an input and an output buffer of 16 KB,
 * of which a probe writes a page or two; each full round makes a new
 * connection and frees the old one. From the heap, those buffers and the
 * round's churn leave freed memory resident between the live objects
 * (measured: 4 to 14 KB per node at 3,000 nodes). So blocks of 16 KB and
 * more come from their own mappings where the heap has no room for them
 * (glibc maps only then), whose untouched pages cost nothing and which go
 * back whole when freed (no more than a bounded number of them, far below
 * the kernel's limit of mappings; beyond it, the heap); the heap keeps no
 * spare room at its top, and its free pages are given back every few
 * seconds. glibc only; elsewhere nothing changes. */
#ifndef PGQ_MEMORY_H
#define PGQ_MEMORY_H

#include <stdint.h>

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

#endif
