/* dnnl_int.h — shared plumbing of the oneDNN backend folder (the only code that includes dnnl.h):
 * the process-wide oneDNN engine, each imagine engine's stream and user-mode scratchpad (in its
 * ig__cpu_ctx), turning imagine tensors into memory descriptors, post-op chains, one-time weight
 * packing, and the per-op caches the imagine engine holds (engine.h ig__engine_cache).
 * Written against the oneDNN 2.x C API (Debian 12 ships 2.6); a 3.x port touches this folder only. */
#ifndef IG_DNNL_INT_H
#define IG_DNNL_INT_H

#include <dnnl.h>
#include <string.h>

#include "../cpu.h"

extern dnnl_engine_t ig__dnnl_eng; /* process-wide, created once by ig__dnnl_init, read-only after */

static inline ig__cpu_ctx *ig__dnnl_ctx(ig_engine *e) { return e->ctx; }
static inline dnnl_stream_t ig__dnnl_stream(ig_engine *e) { return ((ig__cpu_ctx *)e->ctx)->dnnl_stream; }

/* dnnl_status -> ig_status with the call named in the message. */
ig_status ig__dnnl_check(ig_err *err, dnnl_status_t st, const char *what);
#define DNNL_TRY(err, call)                                                      \
    do {                                                                         \
        if (ig__dnnl_check((err), (call), #call) != IG_OK) goto fail;            \
    } while (0)

dnnl_data_type_t ig__dnnl_dt(ig_dtype dt);
/* Memory descriptor with the tensor's logical dims and element strides (any layout). */
dnnl_status_t ig__dnnl_md(dnnl_memory_desc_t *md, const ig_tensor *t);

/* Post-ops: eltwise for act (none: skipped), then optional binary ops against full tensors.
 * Appends to po; returns the index the next post-op will get. */
dnnl_status_t ig__dnnl_append_act(dnnl_post_ops_t po, ig_act act);

/* Converts a checkpoint tensor (f32/f16/bf16, any strides, logical dims `dims`) into a new buffer in
 * layout `want` (a primitive's weights md): converted to f32 plain once, then one oneDNN reorder.
 * *out is allocated with ig__alloc; counted in the setup time. */
ig_status ig__dnnl_pack(ig_engine *e, const ig_tensor *src, int ndims, const dnnl_dims_t dims, const dnnl_dims_t strides,
                        const dnnl_memory_desc_t *want, void **out, ig_err *err);

/* The engine's user-mode scratchpad: grown (never inside an execute) to the largest primitive's need.
 * An engine runs its primitives one at a time on its stream, so one buffer serves them all; its
 * current base is set as the scratchpad handle before each execute (it may have grown since). */
ig_status ig__dnnl_scratch_reserve(ig_engine *e, const dnnl_primitive_desc_t pd, dnnl_memory_t *mem, ig_err *err);
/* The engine's second buffer, for intermediates between the primitives of one op (the geglu gate,
 * the upsample conv's phases): ig__dnnl_ctx(e)->tmp once reserved. */
ig_status ig__dnnl_tmp_reserve(ig_engine *e, size_t size_bytes, ig_err *err);

static inline void ig__dnnl_setup_add(ig_engine *e, double seconds) { e->setup_s += seconds; }

#endif

#ifndef IG_DNNL_INT_CACHE
#define IG_DNNL_INT_CACHE
/* Per-op backend cache (the engine's entry for an ig_conv2d / ig_linear): weights packed once per layout the
 * primitives ask for, bias as f32, and one primitive per input/output/residual descriptor
 * (i.e. per shape, dtype and layout), created on first use with memory objects whose handles are
 * re-pointed at every call, so a repeated shape costs one execute and no allocation. */
typedef struct ig__dnnl_packed {
    int part; /* which weight of the op: 0, or 1 for the geglu gate half */
    dnnl_memory_desc_t md;
    void *data;
    struct ig__dnnl_packed *next;
} ig__dnnl_packed;

typedef struct ig__dnnl_prim {
    dnnl_memory_desc_t src_md, dst_md, res_md;
    bool has_res;
    bool res_sum; /* residual added by a sum post-op: res is copied into dst before the execute */
    int part;     /* linear geglu: 0 value half, 1 gate half */
    dnnl_primitive_t prim;
    dnnl_memory_t m_src, m_wei, m_bias, m_dst, m_res, m_mul, m_scratch;
    int res_idx, mul_idx;       /* post-op positions of the binary add (residual) / mul (geglu) */
    dnnl_memory_desc_t mul_md;
    struct ig__dnnl_prim *gate; /* geglu: the primitive producing tmp */
    struct ig__dnnl_prim *next;
} ig__dnnl_prim;

/* What the cache was built from: a new op object at a freed one's address (a caller that never
 * released it) gets a fresh cache instead of the old weights. Built zeroed, compared with memcmp. */
typedef struct ig__dnnl_key {
    const void *w, *b;
    int64_t w_ne[4], w_st[4];
    int w_dtype, b_dtype, stride, pad, pad_extra_b, pad_extra_r, act, act_after_res, geglu;
} ig__dnnl_key;

static inline ig__dnnl_key ig__dnnl_key_of(const ig_tensor *w, const ig_tensor *b) {
    ig__dnnl_key k;
    memset(&k, 0, sizeof k); /* padding too: keys are compared with memcmp */
    k.w = w->data, k.b = b->data, k.w_dtype = (int)w->dtype, k.b_dtype = (int)b->dtype;
    for (int i = 0; i < w->n_dims; i++) k.w_ne[i] = w->ne[i], k.w_st[i] = w->st[i];
    return k;
}

static inline ig__dnnl_key ig__dnnl_conv_key(const ig_conv2d *conv) {
    ig__dnnl_key k = ig__dnnl_key_of(&conv->w, &conv->b);
    k.stride = conv->stride, k.pad = conv->pad, k.pad_extra_b = conv->pad_extra_b;
    k.pad_extra_r = conv->pad_extra_r, k.act = (int)conv->act, k.act_after_res = conv->act_after_res;
    return k;
}

typedef struct ig__dnnl_op {
    ig__dnnl_key key;
    ig__dnnl_packed *packed;
    float *bias[2]; /* f32 copies; [1] is the geglu gate half */
    ig__dnnl_prim *prims;
    ig_conv2d *up;                /* upconv.c: the four 2x2 phase convs derived from this 3x3 one, on first use */
    struct ig__dnnl_op *up_op[4]; /* ... and their caches (held here, not in the engine's table) */
    float *up_b;                  /* their bias (K, shared); their taps exist only while a primitive is created */
    int skip_t, skip_l; /* a phase conv's: rows / columns of conv.pad not applied at the top / left */
} ig__dnnl_op;

/* Finds or packs weights in the layout of `want`; src/dims/strides as for ig__dnnl_pack. */
ig_status ig__dnnl_weights_for(ig_engine *e, ig__dnnl_op *op, int part, const ig_tensor *src, int ndims, const dnnl_dims_t dims,
                               const dnnl_dims_t strides, const dnnl_memory_desc_t *want, void **data, ig_err *err);
/* Wires a created primitive: memory objects for every argument, scratchpad, weights/bias handles. */
ig_status ig__dnnl_prim_setup(ig_engine *e, ig__dnnl_prim *p, dnnl_primitive_desc_t pd, void *wei, const float *bias, ig_err *err);
/* Executes p on src -> dst; res: the residual (binary add post-op), mul: the geglu gate (binary mul). */
ig_status ig__dnnl_prim_run(ig_engine *e, ig__dnnl_prim *p, const void *src, void *dst, const void *res, const void *mul,
                            ig_err *err);
/* The engine's cache for op object `obj` built from `key` (a fresh one if absent or built from
 * another key); NULL when out of memory (message in e->err). */
ig__dnnl_op *ig__dnnl_op_get(ig_engine *e, const void *obj, const ig__dnnl_key *key);
void ig__dnnl_op_free(ig__dnnl_op *op); /* accepts NULL */
/* Runs conv on x with the cache op (found by the caller): ig__dnnl_conv2d without the lookup. */
ig_status ig__dnnl_conv2d_with(ig_engine *e, ig_conv2d *conv, ig__dnnl_op *op, const ig_tensor *x,
                               const ig_tensor *res, ig_tensor *y);
void ig__dnnl_prim_free(ig__dnnl_prim *p); /* and its gate; accepts NULL */
#endif
