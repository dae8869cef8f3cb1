/* arena.h — activation memory for one generation: a bump allocator sized by a dry run.
 *
 * The model runs its graph once with the arena in dry mode (allocations are counted, nothing is
 * computed), ig_arena_commit then allocates the high-water mark in one block from the engine's
 * backend (engine.h: host memory on the CPU backends, device memory on a GPU one), and the real runs
 * allocate from it with marks and resets: no malloc inside the sampling loop (ggml gallocr reserve).
 * The arena hands out backend memory: only ops read or write it (ops.h; ig_op_upload / ig_op_download
 * move bytes to and from the host).
 *
 *     ig_arena a = {0};
 *     ig_arena_begin_dry(&a);  forward(&a, dry=true);  ig_arena_commit(&a, e, &err);
 *     for each step: size_t m = ig_arena_mark(&a); forward(&a, dry=false); ig_arena_reset(&a, m);
 *     ig_arena_free(&a);
 */
#ifndef IG_ARENA_H
#define IG_ARENA_H

#include "../common.h"
#include "tensor.h"

typedef struct ig_engine ig_engine;

typedef struct ig_arena {
    ig_engine *eng; /* whose backend allocated base (set by ig_arena_commit); must outlive the arena's block */
    char *base;
    size_t cap;  /* bytes in base */
    size_t used; /* bump offset */
    size_t peak; /* high-water mark of used */
    bool dry;    /* counting only: allocations return NULL data */
} ig_arena;

void ig_arena_begin_dry(ig_arena *a);
/* Allocates the dry run's high-water mark from e's backend (no-op if cap already suffices and the
 * block is e's) and leaves dry mode. */
ig_status ig_arena_commit(ig_arena *a, ig_engine *e, ig_err *err);
/* 64-byte aligned; NULL in dry mode or when the committed block is exhausted (a dry-run mismatch:
 * the caller reports it). */
void *ig_arena_alloc(ig_arena *a, size_t size_bytes);
static inline size_t ig_arena_mark(const ig_arena *a) { return a->used; }
static inline void ig_arena_reset(ig_arena *a, size_t mark) { a->used = mark; }
void ig_arena_free(ig_arena *a); /* accepts a zeroed arena; frees the block through its engine */

/* Activation tensors from the arena (data NULL in dry mode or when exhausted). */
ig_tensor ig_arena_nhwc(ig_arena *a, ig_dtype dt, int64_t n, int64_t c, int64_t h, int64_t w);
ig_tensor ig_arena_plain(ig_arena *a, ig_dtype dt, int n_dims, const int64_t *ne);

#endif
