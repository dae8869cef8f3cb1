/* engine.h — the engine object and the backend interface.
 *
 * A backend is a struct of function pointers (ggml_backend_i): "cpu" (oneDNN + our own kernels)
 * and "ref" (plain fp32 loops) today, "cuda" (cuDNN + cuBLAS) later, with nothing above this
 * header changing. ops.c validates shapes and dtypes once, so backend functions may assume
 * well-formed arguments; a fast path handed a layout it was not written for falls back to the
 * reference rather than failing.
 *
 * The engine owns everything a backend keeps between ops, so two engines share nothing and may run
 * in two threads at once:
 *  - memory: activation buffers come from the backend (buf_alloc/buf_free; the arena takes its block
 *    there), and bytes cross between host memory and backend tensors only through ig_op_upload /
 *    ig_op_download (ops.h). On the CPU backends a buffer is host memory.
 *  - per-op caches (packed weights, primitives), keyed by the op object's address in a hash table
 *    here, not stored in the model's ig_conv2d / ig_linear: one model's op objects may be run by two
 *    engines, each with its own cache. ig_conv2d_release / ig_linear_release drop an entry,
 *    ig_engine_free drops the rest.
 *  - the backend's context (ctx_new/ctx_free): scratchpads, streams, test and tuning knobs.
 * Only the oneDNN engine and the CPU-feature probes are process-wide (set once, read-only after).
 */
#ifndef IG_ENGINE_H
#define IG_ENGINE_H

#include "ops.h"

typedef struct ig_backend {
    const char *name;
    /* Per-engine state: created with the engine (NULL entry: the backend keeps none), freed with it. */
    void *(*ctx_new)(ig_engine *e, ig_err *err);
    void (*ctx_free)(ig_engine *e, void *ctx);
    /* Backend memory, 64-byte aligned; NULL when out of memory. */
    void *(*buf_alloc)(ig_engine *e, size_t size_bytes);
    void (*buf_free)(ig_engine *e, void *buf);
    ig_status (*sync)(ig_engine *e); /* waits until every op issued so far has finished */
    const char *(*isa)(void);        /* what the fast kernels run on, e.g. oneDNN's "avx512_core_amx" */
    bool (*native_bf16)(void);       /* bf16 arithmetic in hardware (picked by IG_PRECISION_AUTO) */

    ig_status (*upload)(ig_engine *e, const ig_tensor *host, ig_tensor *dst);
    ig_status (*download)(ig_engine *e, const ig_tensor *src, ig_tensor *host);
    ig_status (*copy)(ig_engine *e, const ig_tensor *src, ig_tensor *dst);
    ig_status (*fill)(ig_engine *e, float value, ig_tensor *y);
    ig_status (*embedding)(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                           ig_tensor *out);
    ig_status (*conv2d)(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
    ig_status (*linear)(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
    void (*op_release)(ig_engine *e, void *cache); /* frees one op's cache (ig__engine_cache) */
    ig_status (*group_norm)(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                            const ig_tensor *beta, ig_act act, ig_tensor *y);
    ig_status (*layer_norm)(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                            const ig_tensor *beta, ig_tensor *y);
    ig_status (*softmax)(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y);
    ig_status (*attention)(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                           float scale, bool causal, ig_tensor *out);
    ig_status (*act)(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y);
    ig_status (*binary)(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);
    ig_status (*upsample2x)(ig_engine *e, const ig_tensor *x, ig_tensor *y);
    ig_status (*upsample_conv2d)(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y);
    ig_status (*concat)(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);
} ig_backend;

/* Op kinds for the profile (ig_engine.prof_*): where a stage's time goes, by kind of op. */
typedef enum ig_op_kind {
    IG_OPK_CONV, IG_OPK_LINEAR, IG_OPK_GROUP_NORM, IG_OPK_LAYER_NORM, IG_OPK_SOFTMAX, IG_OPK_ATTENTION,
    IG_OPK_ACT, IG_OPK_BINARY, IG_OPK_UPSAMPLE, IG_OPK_CONCAT, IG_OPK_UPSAMPLE_CONV,
    IG_OPK_TRANSFER, /* upload, download, copy, fill */
    IG_OPK_EMBEDDING, IG_OPK_COUNT
} ig_op_kind;
extern const char *const ig_op_kind_names[IG_OPK_COUNT];

typedef struct ig_op_rec { /* one op of a profile trace */
    ig_op_kind kind;
    double flops;   /* multiply-adds x 2 it counted (0: norms, copies) */
    double seconds; /* wall time */
} ig_op_rec;

/* Open-addressed table from an op object's address to its backend cache (engine.c). */
typedef struct ig__cache_slot {
    const void *op; /* NULL: empty */
    void *cache;
} ig__cache_slot;

struct ig_engine {
    const ig_backend *be;
    void *ctx;          /* the backend's per-engine state (ctx_new) */
    ig_dtype act_dtype; /* activation dtype the engine chose: IG_BF16 only where the backend has native bf16 */
    ig_err err;         /* ops record their failure here; caller clears it */
    double flops;       /* multiply-adds x 2 of conv, linear and attention run so far (benchmarks) */
    double setup_s;     /* spent creating primitives and packing weights so far (benchmarks) */
    bool profile;       /* when set, every op adds its wall time and a count to prof_s / prof_n by kind */
    double prof_s[IG_OPK_COUNT];
    long prof_n[IG_OPK_COUNT];
    /* profiling with a trace (benchmarks): every op also appends a record while n_trace < cap_trace */
    struct ig_op_rec *trace;
    size_t n_trace, cap_trace;
    double trace_flops; /* e->flops when the last record was taken */
    ig__cache_slot *caches; /* cap_caches slots (a power of two), n_caches used */
    size_t cap_caches, n_caches;
};

/* backend: "cpu", "ref" or NULL (cpu). precision AUTO reads IMAGINE_PRECISION (f32|bf16|auto), then
 * picks bf16 where the backend reports a native implementation. Caller frees with ig_engine_free,
 * which also frees every op cache still held. */
ig_status ig_engine_create(ig_engine **out, const char *backend, ig_precision precision, ig_err *err);
void ig_engine_free(ig_engine *e); /* accepts NULL */

/* Backend buffers (device memory on a GPU backend): *out NULL and the message in err on failure.
 * Caller frees with ig_engine_buf_free on the same engine (accepts NULL). */
ig_status ig_engine_buf_alloc(ig_engine *e, size_t size_bytes, void **out, ig_err *err);
void ig_engine_buf_free(ig_engine *e, void *buf);
ig_status ig_engine_sync(ig_engine *e); /* failure recorded in e->err */

/* Queries, so that code above the engine needs no backend header. */
const char *ig_engine_isa(const ig_engine *e);        /* e.g. "avx512_core_amx" (oneDNN's name), "scalar" */
bool ig_engine_native_bf16(const ig_engine *e);       /* the backend runs bf16 in hardware */
double ig_engine_setup_seconds(const ig_engine *e);   /* creating primitives and packing weights so far */

/* The backend's cache for op object `op` (ig_conv2d, ig_linear, ...): the address of its slot,
 * created holding NULL on first use; NULL when out of memory (message in err). The slot moves when
 * a later call adds an entry: read it at once. */
void **ig__engine_cache(ig_engine *e, const void *op, ig_err *err);
void ig__engine_cache_drop(ig_engine *e, const void *op); /* frees the entry through be->op_release */

extern const ig_backend ig__backend_ref;
extern const ig_backend ig__backend_cpu;

#endif
