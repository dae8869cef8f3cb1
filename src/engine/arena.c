/* arena.c — see arena.h. */
#include "arena.h"

#include "engine.h"

void ig_arena_begin_dry(ig_arena *a) {
    a->dry = true;
    a->used = 0;
}

ig_status ig_arena_commit(ig_arena *a, ig_engine *e, ig_err *err) {
    a->dry = false;
    a->used = 0;
    if (a->peak <= a->cap && (a->eng == e || !a->base)) return IG_OK;
    if (a->base) ig_engine_buf_free(a->eng, a->base);
    a->base = e->be->buf_alloc(e, a->peak ? a->peak : 1);
    a->eng = e;
    a->cap = a->base ? a->peak : 0;
    if (!a->base) return ig__fail(err, IG_ERR_NOMEM, "out of memory: %zu MiB of activations", a->peak >> 20);
    return IG_OK;
}

void *ig_arena_alloc(ig_arena *a, size_t size_bytes) {
    size_t n = (size_bytes + 63) & ~(size_t)63;
    if (n < size_bytes) return NULL;
    size_t off = a->used;
    if (a->dry) {
        a->used += n;
        if (a->used > a->peak) a->peak = a->used;
        return NULL;
    }
    if (n > a->cap - off) return NULL;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + off;
}

void ig_arena_free(ig_arena *a) {
    if (!a) return;
    if (a->base) ig_engine_buf_free(a->eng, a->base);
    *a = (ig_arena){0};
}

ig_tensor ig_arena_nhwc(ig_arena *a, ig_dtype dt, int64_t n, int64_t c, int64_t h, int64_t w) {
    ig_tensor t = ig_tensor_nhwc(dt, n, c, h, w, NULL);
    t.data = ig_arena_alloc(a, (size_t)(n * c * h * w) * ig_dtype_size(dt));
    return t;
}

ig_tensor ig_arena_plain(ig_arena *a, ig_dtype dt, int n_dims, const int64_t *ne) {
    ig_tensor t = ig_tensor_plain(dt, n_dims, ne, NULL);
    t.data = ig_arena_alloc(a, (size_t)ig_tensor_nelem(&t) * ig_dtype_size(dt));
    return t;
}
