/* dnnl_int.h — shared plumbing of the oneDNN backend folder (the only code that includes dnnl.h):
 * the process-wide engine and stream, turning imagine tensors into memory descriptors, post-op
 * chains, one-time weight packing and the shared user-mode scratchpad.
 * Written against the oneDNN 2.x C API (Debian 12 ships 2.6); a 3.x port touches this folder only. */
#ifndef IG_DNNL_INT_H
#define IG_DNNL_INT_H

#include <dnnl.h>

#include "../cpu.h"

extern dnnl_engine_t ig__dnnl_eng;
extern dnnl_stream_t ig__dnnl_stream;

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
ig_status ig__dnnl_pack(const ig_tensor *src, int ndims, const dnnl_dims_t dims, const dnnl_dims_t strides,
                        const dnnl_memory_desc_t *want, void **out, ig_err *err);

/* Shared user-mode scratchpad: grown (never inside an execute) to the largest primitive's need.
 * Primitives run one at a time on the stream, so one buffer serves them all. */
ig_status ig__dnnl_scratch_reserve(const dnnl_primitive_desc_t pd, dnnl_memory_t *mem, ig_err *err);
void *ig__dnnl_scratch_buf(void); /* current base; set as the scratchpad handle before each execute */
/* A second shared buffer for intermediates between the primitives of one op (the geglu gate). */
ig_status ig__dnnl_tmp_reserve(size_t size_bytes, ig_err *err);
void *ig__dnnl_tmp_buf(void);

void ig__dnnl_setup_add(double seconds); /* adds to ig__dnnl_setup_seconds (cpu.h) */

#endif

#ifndef IG_DNNL_INT_CACHE
#define IG_DNNL_INT_CACHE
/* Per-op backend cache (ig_conv2d.priv / ig_linear.priv): weights packed once per layout the
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

typedef struct ig__dnnl_op {
    ig__dnnl_packed *packed;
    float *bias[2]; /* f32 copies; [1] is the geglu gate half */
    ig__dnnl_prim *prims;
    ig_conv2d *up;       /* upconv.c: the 2x2 phase conv derived from this 3x3 one, on first use */
    float *up_b;         /* its bias (4K); its taps exist only while a primitive is being created */
} ig__dnnl_op;

/* Finds or packs weights in the layout of `want`; src/dims/strides as for ig__dnnl_pack. */
ig_status ig__dnnl_weights_for(ig__dnnl_op *op, int part, const ig_tensor *src, int ndims, const dnnl_dims_t dims,
                               const dnnl_dims_t strides, const dnnl_memory_desc_t *want, void **data, ig_err *err);
/* Wires a created primitive: memory objects for every argument, scratchpad, weights/bias handles. */
ig_status ig__dnnl_prim_setup(ig__dnnl_prim *p, dnnl_primitive_desc_t pd, void *wei, const float *bias, ig_err *err);
/* Executes p on src -> dst; res: the residual (binary add post-op), mul: the geglu gate (binary mul). */
ig_status ig__dnnl_prim_run(ig__dnnl_prim *p, const void *src, void *dst, const void *res, const void *mul,
                            ig_err *err);
ig__dnnl_op *ig__dnnl_op_get(void **priv, ig_err *err);
void ig__dnnl_prim_free(ig__dnnl_prim *p); /* and its gate; accepts NULL */
#endif
