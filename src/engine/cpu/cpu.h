/* cpu.h — internal entry points of the CPU backends, gathered into ig__backend_ref / ig__backend_cpu
 * by cpu/backend.c. ref.c: the plain fp32 oracle for every op (any strides, f32/bf16/f16 elements).
 * dnnl/: conv and linear on oneDNN, the only code that includes dnnl.h. norm.c, elem.c, attn.c: our
 * own vectorised kernels. Arguments arrive validated by engine/ops.c.
 * Also the "cpu" backend's per-engine context (ig__cpu_ctx, ig_engine.ctx): every buffer its kernels
 * keep between calls, so two engines share none. Code above the engine does not include this. */
#ifndef IG_CPU_H
#define IG_CPU_H

#include "../engine.h"

/* Attention's paths (attn.c); tests and benches force one through ig__cpu_ctx.attn_force_path. */
enum { IG__ATTN_PATH_AUTO = 0, IG__ATTN_PATH_GEMM, IG__ATTN_PATH_AMX, IG__ATTN_PATH_AVX512BF16 };

/* The "cpu" backend's per-engine state (backend.c creates and frees it). Buffers only grow, and are
 * grown between executes, never inside one: one engine runs one op at a time. */
typedef struct ig__cpu_ctx {
    void *dnnl_stream;          /* dnnl/: this engine's oneDNN stream (a dnnl_stream_t) */
    void *scratch;              /* dnnl/: the user-mode scratchpad every primitive of this engine shares */
    size_t scratch_size;
    void *tmp;                  /* dnnl/: intermediate between the primitives of one op (geglu gate, phases) */
    size_t tmp_size;
    char *attn_buf;             /* attn.c: per-thread workspaces and packed K/V */
    size_t attn_size;
    /* attn.c settings (tests and benches): a forced path, AVX-512 off, block sizes (0: automatic) */
    int attn_force_path;
    bool attn_no_avx512;
    int64_t attn_tune_bq, attn_tune_bk;
} ig__cpu_ctx;

void *ig__cpu_ctx_new(ig_engine *e, ig_err *err); /* backend.c */
void ig__cpu_ctx_free(ig_engine *e, void *ctx);

/* ref.c */
void *ig__ref_buf_alloc(ig_engine *e, size_t size_bytes); /* host memory (ig__alloc) */
void ig__ref_buf_free(ig_engine *e, void *buf);
ig_status ig__ref_sync(ig_engine *e); /* nothing runs asynchronously */
ig_status ig__ref_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst); /* also upload and download */
ig_status ig__ref_fill(ig_engine *e, float value, ig_tensor *y);
ig_status ig__ref_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                            ig_tensor *out);
ig_status ig__ref_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
ig_status ig__ref_linear(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
void ig__ref_op_release(ig_engine *e, void *priv);
ig_status ig__ref_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_act act, ig_tensor *y);
ig_status ig__ref_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_tensor *y);
ig_status ig__ref_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y);
ig_status ig__ref_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                            float scale, bool causal, ig_tensor *out);
ig_status ig__ref_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y);
ig_status ig__ref_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);
ig_status ig__ref_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y);
ig_status ig__ref_upsample_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y);
ig_status ig__ref_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);
float ig__ref_act_value(ig_act act, float x); /* scalar activation, f32 */

/* dnnl/ */
ig_status ig__dnnl_init(ig_err *err);   /* the process's oneDNN engine, once */
ig_status ig__dnnl_ctx_init(ig__cpu_ctx *c, ig_err *err); /* c's stream */
void ig__dnnl_ctx_fini(ig__cpu_ctx *c); /* c's stream, scratchpad and intermediate */
bool ig__dnnl_has_native_bf16(void);    /* avx512_core_bf16 or AMX reported by oneDNN */
const char *ig__dnnl_isa_name(void);
ig_status ig__dnnl_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
ig_status ig__dnnl_upsample_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y);
ig_status ig__dnnl_linear(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
void ig__dnnl_op_release(ig_engine *e, void *priv);
/* Row-major C (M, N) = alpha * A (M, K) * B (K, N), A/B/C plain with leading dims; A and B f32 or
 * bf16 (same dtype), C f32. Safe to call from inside an OpenMP parallel region (runs on the
 * calling thread there). For attention's blocks, where creating a primitive per call would cost more
 * than the product. transb: B given as (N, K) with leading dim ldb. */
ig_status ig__dnnl_gemm(ig_dtype ab_dtype, bool transb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                        int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* norm.c */
ig_status ig__cpu_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_act act, ig_tensor *y);
ig_status ig__cpu_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_tensor *y);
ig_status ig__cpu_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y);

/* elem.c */
ig_status ig__cpu_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst); /* also upload and download */
ig_status ig__cpu_fill(ig_engine *e, float value, ig_tensor *y);
ig_status ig__cpu_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                            ig_tensor *out);
ig_status ig__cpu_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y);
ig_status ig__cpu_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);
ig_status ig__cpu_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y);
ig_status ig__cpu_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);

/* attn.c */
ig_status ig__cpu_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                            float scale, bool causal, ig_tensor *out);

#endif
