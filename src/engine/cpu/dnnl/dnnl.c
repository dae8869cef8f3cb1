/* dnnl.c — oneDNN backend plumbing: the process-wide oneDNN engine (created once, the only global
 * besides the CPU-feature table), each imagine engine's stream, scratchpad and intermediate buffer
 * (its ig__cpu_ctx), ISA queries, memory descriptors from tensors, post-ops, weight packing and the
 * per-op caches. The ops themselves are in conv.c, linear.c, upconv.c and gemm.c. */
#include "dnnl_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

dnnl_engine_t ig__dnnl_eng;
static dnnl_status_t g_init_status = dnnl_success;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void) { g_init_status = dnnl_engine_create(&ig__dnnl_eng, dnnl_cpu, 0); }

ig_status ig__dnnl_init(ig_err *err) {
    pthread_once(&g_once, init_once);
    return ig__dnnl_check(err, g_init_status, "creating the oneDNN CPU engine");
}

/* A stream per imagine engine: two engines in two threads execute on their own streams. */
ig_status ig__dnnl_ctx_init(ig__cpu_ctx *c, ig_err *err) {
    dnnl_stream_t s = NULL;
    const dnnl_status_t st = dnnl_stream_create(&s, ig__dnnl_eng, dnnl_stream_default_flags);
    c->dnnl_stream = s;
    return ig__dnnl_check(err, st, "creating a oneDNN stream");
}

void ig__dnnl_ctx_fini(ig__cpu_ctx *c) {
    if (c->dnnl_stream) dnnl_stream_destroy(c->dnnl_stream);
    ig__free(c->scratch);
    ig__free(c->tmp);
    c->dnnl_stream = c->scratch = c->tmp = NULL;
    c->scratch_size = c->tmp_size = 0;
}

ig_status ig__dnnl_check(ig_err *err, dnnl_status_t st, const char *what) {
    if (st == dnnl_success) return IG_OK;
    const char *why = st == dnnl_out_of_memory       ? "out of memory"
                      : st == dnnl_invalid_arguments ? "invalid arguments"
                      : st == dnnl_unimplemented     ? "no implementation for these shapes/types"
                                                     : "runtime error";
    return ig__fail(err, st == dnnl_out_of_memory ? IG_ERR_NOMEM : IG_ERR_BACKEND, "oneDNN: %s: %s (status %d)", what,
                    why, (int)st);
}

bool ig__dnnl_has_native_bf16(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

const char *ig__dnnl_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}

dnnl_data_type_t ig__dnnl_dt(ig_dtype dt) {
    switch (dt) {
    case IG_F32: return dnnl_f32;
    case IG_BF16: return dnnl_bf16;
    case IG_F16: return dnnl_f16;
    }
    return dnnl_data_type_undef;
}

dnnl_status_t ig__dnnl_md(dnnl_memory_desc_t *md, const ig_tensor *t) {
    dnnl_dims_t dims = {0}, strides = {0};
    for (int i = 0; i < t->n_dims; i++) dims[i] = t->ne[i], strides[i] = t->st[i];
    return dnnl_memory_desc_init_by_strides(md, t->n_dims, dims, ig__dnnl_dt(t->dtype), strides);
}

dnnl_status_t ig__dnnl_append_act(dnnl_post_ops_t po, ig_act act) {
    switch (act) {
    case IG_ACT_NONE: return dnnl_success;
    case IG_ACT_SILU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
    case IG_ACT_GELU_ERF: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
    case IG_ACT_GELU_TANH: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_tanh, 0.0f, 0.0f);
    case IG_ACT_QUICK_GELU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f);
    case IG_ACT_RELU: return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    case IG_ACT_TANH_CLAMP: { /* x / 3 (linear: alpha x + beta), then tanh scaled by 3 */
        dnnl_status_t st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, 1.0f / 3.0f, 0.0f);
        return st != dnnl_success ? st : dnnl_post_ops_append_eltwise(po, 3.0f, dnnl_eltwise_tanh, 0.0f, 0.0f);
    }
    }
    return dnnl_invalid_arguments;
}

/* The packed copy is all the engine reads from now on: ask the kernel to reclaim the source's pages.
 * MADV_PAGEOUT keeps the contents whatever the memory is (a checkpoint's file mapping is dropped
 * and re-read on a later touch; anonymous memory is swapped out or left alone), unlike DONTNEED,
 * so it is safe on memory the engine does not own. Only whole pages inside the tensor; a kernel
 * without PAGEOUT (before 5.4) answers EINVAL and nothing changes. */
static void release_source(const ig_tensor *src) {
#ifdef MADV_PAGEOUT
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)src->data;
    const uintptr_t lo = (a + page - 1) & ~(page - 1), hi = (a + ig_tensor_nbytes(src)) & ~(page - 1);
    if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_PAGEOUT);
#else
    (void)src;
#endif
}

ig_status ig__dnnl_pack(ig_engine *e, const ig_tensor *src, int ndims, const dnnl_dims_t dims, const dnnl_dims_t strides,
                        const dnnl_memory_desc_t *want, void **out, ig_err *err) {
    float *plain = NULL;
    void *packed = NULL;
    dnnl_memory_t m_src = NULL, m_dst = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_desc_t md_src;
    *out = NULL;

    /* f16/bf16/strided checkpoint data -> dense f32 in the tensor's own logical order. */
    const int64_t n = ig_tensor_nelem(src);
    plain = ig__alloc((size_t)n * sizeof(float));
    if (!plain) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory packing weights");
        goto fail;
    }
    ig_tensor dense = ig_tensor_plain(IG_F32, src->n_dims, src->ne, plain);
    if (ig_tensor_is_contiguous(src) && src->dtype == IG_F16) /* checkpoints: the bulk converters, not per element */
        ig_convert_f16_to_f32(plain, src->data, (size_t)n);
    else if (ig_tensor_is_contiguous(src) && src->dtype == IG_BF16)
        ig_convert_bf16_to_f32(plain, src->data, (size_t)n);
    else
        ig_tensor_copy(&dense, src);

    DNNL_TRY(err, dnnl_memory_desc_init_by_strides(&md_src, ndims, dims, dnnl_f32, strides));
    packed = ig__alloc(dnnl_memory_desc_get_size(want));
    if (!packed) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory packing weights");
        goto fail;
    }
    DNNL_TRY(err, dnnl_memory_create(&m_src, &md_src, ig__dnnl_eng, plain));
    DNNL_TRY(err, dnnl_memory_create(&m_dst, want, ig__dnnl_eng, packed));
    DNNL_TRY(err, dnnl_reorder_primitive_desc_create(&rpd, &md_src, ig__dnnl_eng, want, ig__dnnl_eng, NULL));
    DNNL_TRY(err, dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, m_src}, {DNNL_ARG_TO, m_dst}};
    DNNL_TRY(err, dnnl_primitive_execute(r, ig__dnnl_stream(e), 2, args));
    DNNL_TRY(err, dnnl_stream_wait(ig__dnnl_stream(e)));
    *out = packed;
    packed = NULL;
    release_source(src);
fail:
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (m_dst) dnnl_memory_destroy(m_dst);
    if (m_src) dnnl_memory_destroy(m_src);
    ig__free(packed);
    ig__free(plain);
    /* timed by the callers (conv.c, linear.c create()), which include this in their setup time */
    return *out ? IG_OK : (err->status ? err->status : IG_ERR_BACKEND);
}

ig_status ig__dnnl_scratch_reserve(ig_engine *e, const dnnl_primitive_desc_t pd, dnnl_memory_t *mem, ig_err *err) {
    ig__cpu_ctx *c = ig__dnnl_ctx(e);
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = md ? dnnl_memory_desc_get_size(md) : 0;
    *mem = NULL;
    if (need > c->scratch_size) {
        void *p = ig__alloc(need);
        if (!p) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a %zu-byte oneDNN scratchpad", need);
        ig__free(c->scratch);
        c->scratch = p;
        c->scratch_size = need;
    }
    if (!need) return IG_OK;
    /* The handle is re-pointed at every execute (the buffer may have grown since). */
    return ig__dnnl_check(err, dnnl_memory_create(mem, md, ig__dnnl_eng, c->scratch), "scratchpad memory");
}

ig_status ig__dnnl_tmp_reserve(ig_engine *e, size_t size_bytes, ig_err *err) {
    ig__cpu_ctx *c = ig__dnnl_ctx(e);
    if (size_bytes <= c->tmp_size) return IG_OK;
    void *p = ig__alloc(size_bytes);
    if (!p) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a %zu-byte intermediate", size_bytes);
    ig__free(c->tmp);
    c->tmp = p;
    c->tmp_size = size_bytes;
    return IG_OK;
}

ig__dnnl_op *ig__dnnl_op_get(ig_engine *e, const void *obj, const ig__dnnl_key *key) {
    void **slot = ig__engine_cache(e, obj, &e->err);
    if (!slot) return NULL;
    ig__dnnl_op *op = *slot;
    if (op && !memcmp(&op->key, key, sizeof *key)) return op;
    ig__dnnl_op_free(op); /* built from other weights: a stale entry */
    *slot = op = calloc(1, sizeof *op);
    if (!op) {
        ig__fail(&e->err, IG_ERR_NOMEM, "out of memory for an op cache");
        return NULL;
    }
    op->key = *key;
    return op;
}

ig_status ig__dnnl_weights_for(ig_engine *e, ig__dnnl_op *op, int part, const ig_tensor *src, int ndims, const dnnl_dims_t dims,
                               const dnnl_dims_t strides, const dnnl_memory_desc_t *want, void **data, ig_err *err) {
    for (ig__dnnl_packed *p = op->packed; p; p = p->next)
        if (p->part == part && dnnl_memory_desc_equal(&p->md, want)) {
            *data = p->data;
            return IG_OK;
        }
    ig__dnnl_packed *p = calloc(1, sizeof *p);
    if (!p) return ig__fail(err, IG_ERR_NOMEM, "out of memory packing weights");
    if (ig__dnnl_pack(e, src, ndims, dims, strides, want, &p->data, err) != IG_OK) {
        free(p);
        return err->status;
    }
    p->md = *want;
    p->part = part;
    p->next = op->packed;
    op->packed = p;
    *data = p->data;
    return IG_OK;
}

ig_status ig__dnnl_prim_setup(ig_engine *e, ig__dnnl_prim *p, dnnl_primitive_desc_t pd, void *wei, const float *bias, ig_err *err) {
    DNNL_TRY(err, dnnl_primitive_create(&p->prim, pd));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
    DNNL_TRY(err, dnnl_memory_create(&p->m_src, &p->src_md, ig__dnnl_eng, DNNL_MEMORY_NONE));
    DNNL_TRY(err, dnnl_memory_create(&p->m_dst, &p->dst_md, ig__dnnl_eng, DNNL_MEMORY_NONE));
    DNNL_TRY(err, dnnl_memory_create(&p->m_wei, wmd, ig__dnnl_eng, wei));
    if (bias && bmd && bmd->ndims) DNNL_TRY(err, dnnl_memory_create(&p->m_bias, bmd, ig__dnnl_eng, (void *)bias));
    if (p->has_res && !p->res_sum)
        DNNL_TRY(err, dnnl_memory_create(&p->m_res, &p->res_md, ig__dnnl_eng, DNNL_MEMORY_NONE));
    if (p->gate) DNNL_TRY(err, dnnl_memory_create(&p->m_mul, &p->mul_md, ig__dnnl_eng, DNNL_MEMORY_NONE));
    if (ig__dnnl_scratch_reserve(e, pd, &p->m_scratch, err) != IG_OK) goto fail;
    return IG_OK;
fail:
    return err->status ? err->status : IG_ERR_BACKEND;
}

ig_status ig__dnnl_prim_run(ig_engine *e, ig__dnnl_prim *p, const void *src, void *dst, const void *res, const void *mul,
                            ig_err *err) {
    dnnl_exec_arg_t args[8];
    int n = 0;
    DNNL_TRY(err, dnnl_memory_set_data_handle(p->m_src, (void *)src));
    DNNL_TRY(err, dnnl_memory_set_data_handle(p->m_dst, dst));
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->m_src};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->m_wei};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->m_dst};
    if (p->m_bias) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->m_bias};
    if (p->m_scratch) {
        DNNL_TRY(err, dnnl_memory_set_data_handle(p->m_scratch, ig__dnnl_ctx(e)->scratch));
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->m_scratch};
    }
    if (p->m_mul) {
        DNNL_TRY(err, dnnl_memory_set_data_handle(p->m_mul, (void *)mul));
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(p->mul_idx) | DNNL_ARG_SRC_1, p->m_mul};
    }
    if (p->m_res) {
        DNNL_TRY(err, dnnl_memory_set_data_handle(p->m_res, (void *)res));
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(p->res_idx) | DNNL_ARG_SRC_1, p->m_res};
    }
    DNNL_TRY(err, dnnl_primitive_execute(p->prim, ig__dnnl_stream(e), n, args));
    DNNL_TRY(err, dnnl_stream_wait(ig__dnnl_stream(e)));
    return IG_OK;
fail:
    return err->status ? err->status : IG_ERR_BACKEND;
}

void ig__dnnl_prim_free(ig__dnnl_prim *p) {
    if (!p) return;
    ig__dnnl_prim_free(p->gate);
    dnnl_memory_t mems[] = {p->m_src, p->m_wei, p->m_bias, p->m_dst, p->m_res, p->m_mul, p->m_scratch};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    free(p);
}

void ig__dnnl_op_release(ig_engine *e, void *cache) {
    (void)e;
    ig__dnnl_op_free(cache);
}

void ig__dnnl_op_free(ig__dnnl_op *op) {
    if (!op) return;
    while (op->prims) {
        ig__dnnl_prim *n = op->prims->next;
        ig__dnnl_prim_free(op->prims);
        op->prims = n;
    }
    while (op->packed) {
        ig__dnnl_packed *n = op->packed->next;
        ig__free(op->packed->data);
        free(op->packed);
        op->packed = n;
    }
    ig__free(op->bias[0]);
    ig__free(op->bias[1]);
    for (int q = 0; q < 4; q++) ig__dnnl_op_free(op->up_op[q]);
    free(op->up);
    ig__free(op->up_b);
    free(op);
}
