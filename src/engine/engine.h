/* engine.h — the engine object and the backend interface.
 *
 * A backend is a struct of function pointers (ggml_backend_i): "cpu" (oneDNN + our own kernels)
 * and "ref" (plain fp32 loops) today, "cuda" (cuDNN + cuBLAS) later, with nothing above this
 * header changing. ops.c validates shapes and dtypes once, so backend functions may assume
 * well-formed arguments; a fast path handed a layout it was not written for falls back to the
 * reference rather than failing.
 */
#ifndef IG_ENGINE_H
#define IG_ENGINE_H

#include "ops.h"

typedef struct ig_backend {
    const char *name;
    ig_status (*conv2d)(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
    ig_status (*linear)(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
    void (*op_release)(ig_engine *e, void *priv); /* frees ig_conv2d/ig_linear priv */
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
    IG_OPK_ACT, IG_OPK_BINARY, IG_OPK_UPSAMPLE, IG_OPK_CONCAT, IG_OPK_UPSAMPLE_CONV, IG_OPK_COUNT
} ig_op_kind;
extern const char *const ig_op_kind_names[IG_OPK_COUNT];

struct ig_engine {
    const ig_backend *be;
    ig_dtype act_dtype; /* activation dtype the engine chose: IG_BF16 only where the backend has native bf16 */
    ig_err err;         /* ops record their failure here; caller clears it */
    double flops;       /* multiply-adds x 2 of conv, linear and attention run so far (benchmarks) */
    bool profile;       /* when set, every op adds its wall time and a count to prof_s / prof_n by kind */
    double prof_s[IG_OPK_COUNT];
    long prof_n[IG_OPK_COUNT];
};

/* backend: "cpu", "ref" or NULL (cpu). precision AUTO reads IMAGINE_PRECISION (f32|bf16|auto), then
 * picks bf16 where the backend reports a native implementation. Caller frees with ig_engine_free. */
ig_status ig_engine_create(ig_engine **out, const char *backend, ig_precision precision, ig_err *err);
void ig_engine_free(ig_engine *e);

extern const ig_backend ig__backend_ref;
extern const ig_backend ig__backend_cpu;

#endif
