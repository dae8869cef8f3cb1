/* ops.c — the ig_op_* entry points: validate shapes and dtypes once, then dispatch to the engine's
 * backend. Backends may assume what is checked here. Owns no kernels. */
#include "engine.h"

#include <math.h>
#include <string.h>

static bool act_dtype_ok(ig_dtype dt) { return dt == IG_F32 || dt == IG_BF16; }

#define DESC(t, buf) ig_tensor_describe((t), (buf), sizeof(buf))

static ig_status bad(ig_engine *e, const char *op, const char *what, const ig_tensor *t) {
    char b[96] = "";
    if (t) DESC(t, b);
    return ig__fail(&e->err, IG_ERR_INVALID, "%s: %s%s%s", op, what, t ? " " : "", b);
}

static bool has_data(const ig_tensor *t) { return t && t->data; }

const char *const ig_op_kind_names[IG_OPK_COUNT] = {"conv2d", "linear",     "group_norm", "layer_norm",
                                                     "softmax", "attention",  "act",        "binary",
                                                     "upsample2x", "concat", "upsample_conv2d",
                                                     "transfer", "embedding"};

/* The backend call, timed into e->prof_* when profiling (benchmarks; off, it costs one branch). */
#define DISPATCH(e, kind, call)                                                                          \
    do {                                                                                                 \
        if (!(e)->profile) return (call);                                                                \
        const double t0_ = ig__now_s();                                                                  \
        const ig_status st_ = (call);                                                                    \
        const double dt_ = ig__now_s() - t0_;                                                            \
        (e)->prof_s[kind] += dt_;                                                                        \
        (e)->prof_n[kind]++;                                                                             \
        if ((e)->n_trace < (e)->cap_trace)                                                               \
            (e)->trace[(e)->n_trace++] = (ig_op_rec){kind, (e)->flops - (e)->trace_flops, dt_};           \
        (e)->trace_flops = (e)->flops;                                                                   \
        return st_;                                                                                      \
    } while (0)

static bool any_dtype_ok(ig_dtype dt) { return dt == IG_F32 || dt == IG_BF16 || dt == IG_F16; }

static ig_status check_transfer(ig_engine *e, const char *op, const ig_tensor *src, const ig_tensor *dst) {
    if (!ig_tensor_same_shape(src, dst)) return bad(e, op, "source and destination shapes differ, src", src);
    if (!any_dtype_ok(src->dtype) || !any_dtype_ok(dst->dtype)) return bad(e, op, "f32, bf16 or f16 only", src);
    if (ig_tensor_nelem(src) && (!src->data || !dst->data)) return bad(e, op, "no memory behind a tensor", NULL);
    return IG_OK;
}

ig_status ig_op_upload(ig_engine *e, const ig_tensor *host, ig_tensor *dst) {
    if (check_transfer(e, "upload", host, dst)) return e->err.status;
    DISPATCH(e, IG_OPK_TRANSFER, e->be->upload(e, host, dst));
}

ig_status ig_op_download(ig_engine *e, const ig_tensor *src, ig_tensor *host) {
    if (check_transfer(e, "download", src, host)) return e->err.status;
    DISPATCH(e, IG_OPK_TRANSFER, e->be->download(e, src, host));
}

ig_status ig_op_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst) {
    if (check_transfer(e, "copy", src, dst)) return e->err.status;
    DISPATCH(e, IG_OPK_TRANSFER, e->be->copy(e, src, dst));
}

ig_status ig_op_fill(ig_engine *e, float value, ig_tensor *y) {
    if (!any_dtype_ok(y->dtype)) return bad(e, "fill", "f32, bf16 or f16 only", y);
    DISPATCH(e, IG_OPK_TRANSFER, e->be->fill(e, value, y));
}

ig_status ig_op_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                          ig_tensor *out) {
    if (table->n_dims != 2) return bad(e, "embedding", "table must be (V, D), got", table);
    if (out->n_dims != 3 || out->ne[2] != table->ne[1]) return bad(e, "embedding", "out must be (B, T, D), got", out);
    if (pos->n_dims != 2 || pos->ne[1] != table->ne[1] || pos->ne[0] < out->ne[1])
        return bad(e, "embedding", "positions must be (P >= T, D), got", pos);
    if (!any_dtype_ok(table->dtype) || !any_dtype_ok(pos->dtype)) return bad(e, "embedding", "weights f32, bf16 or f16 only", table);
    if (!act_dtype_ok(out->dtype) || !ig_tensor_is_contiguous(out)) return bad(e, "embedding", "out must be contiguous f32 or bf16", out);
    const int64_t n = out->ne[0] * out->ne[1];
    if (n && !ids) return bad(e, "embedding", "no token ids", NULL);
    for (int64_t i = 0; i < n; i++) /* host memory: checked here once for every backend */
        if (ids[i] < 0 || ids[i] >= table->ne[0])
            return ig__fail(&e->err, IG_ERR_INVALID, "embedding: token id %d outside the vocabulary (%lld entries)",
                            (int)ids[i], (long long)table->ne[0]);
    DISPATCH(e, IG_OPK_EMBEDDING, e->be->embedding(e, table, ids, pos, out));
}

ig_status ig_op_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    const ig_tensor *w = &op->w;
    if (w->n_dims != 4 || w->ne[2] != w->ne[3]) return bad(e, "conv2d", "weight must be (K, C, R, R), got", w);
    if (x->n_dims != 4 || x->ne[1] != w->ne[1]) return bad(e, "conv2d", "input channels differ from weight, x", x);
    if (op->stride < 1 || op->pad < 0 || op->pad_extra_b < 0 || op->pad_extra_r < 0)
        return bad(e, "conv2d", "stride must be >= 1 and every padding >= 0", NULL);
    const int64_t R = w->ne[2];
    const int64_t Hp = x->ne[2] + 2 * op->pad + op->pad_extra_b, Wp = x->ne[3] + 2 * op->pad + op->pad_extra_r;
    if (Hp < R || Wp < R) return bad(e, "conv2d", "padded input smaller than kernel, x", x);
    const int64_t Ho = (Hp - R) / op->stride + 1, Wo = (Wp - R) / op->stride + 1;
    if (y->n_dims != 4 || y->ne[0] != x->ne[0] || y->ne[1] != w->ne[0] || y->ne[2] != Ho || y->ne[3] != Wo)
        return bad(e, "conv2d", "output shape wrong, y", y);
    if (has_data(&op->b) && (op->b.n_dims != 1 || op->b.ne[0] != w->ne[0])) return bad(e, "conv2d", "bias must be (K), got", &op->b);
    if (has_data(res) && !ig_tensor_same_shape(res, y)) return bad(e, "conv2d", "residual shape differs from output, res", res);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "conv2d", "activations must be f32 or bf16", x);
    e->flops += 2.0 * (double)y->ne[0] * (double)y->ne[1] * (double)x->ne[1] * (double)(R * R) * (double)(Ho * Wo);
    DISPATCH(e, IG_OPK_CONV, e->be->conv2d(e, op, x, has_data(res) ? res : NULL, y));
}

ig_status ig_op_linear(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    const ig_tensor *w = &op->w;
    if (w->n_dims != 2) return bad(e, "linear", "weight must be (O, I), got", w);
    const int64_t O = op->geglu ? w->ne[0] / 2 : w->ne[0];
    if (op->geglu && (w->ne[0] % 2 || op->act != IG_ACT_NONE)) return bad(e, "linear", "geglu needs an even row count and no act", w);
    if (x->ne[x->n_dims - 1] != w->ne[1]) return bad(e, "linear", "last dim of x differs from weight's in-features, x", x);
    if (y->n_dims != x->n_dims || y->ne[y->n_dims - 1] != O) return bad(e, "linear", "output shape wrong, y", y);
    for (int i = 0; i < x->n_dims - 1; i++)
        if (y->ne[i] != x->ne[i]) return bad(e, "linear", "output shape wrong, y", y);
    if (!ig_tensor_is_contiguous(x) || !ig_tensor_is_contiguous(y)) return bad(e, "linear", "x and y must be contiguous", x);
    if (has_data(&op->b) && (op->b.n_dims != 1 || op->b.ne[0] != w->ne[0])) return bad(e, "linear", "bias must be (O), got", &op->b);
    if (has_data(res) && (!ig_tensor_same_shape(res, y) || !ig_tensor_is_contiguous(res)))
        return bad(e, "linear", "residual must be contiguous and shaped like y, res", res);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "linear", "activations must be f32 or bf16", x);
    e->flops += 2.0 * (double)(ig_tensor_nelem(x) / w->ne[1]) * (double)w->ne[1] * (double)w->ne[0];
    DISPATCH(e, IG_OPK_LINEAR, e->be->linear(e, op, x, has_data(res) ? res : NULL, y));
}

void ig_conv2d_release(ig_engine *e, ig_conv2d *op) { ig__engine_cache_drop(e, op); }
void ig_linear_release(ig_engine *e, ig_linear *op) { ig__engine_cache_drop(e, op); }

static ig_status check_affine(ig_engine *e, const char *op, const ig_tensor *p, int64_t C) {
    if (!has_data(p)) return IG_OK;
    if (p->n_dims != 1 || p->ne[0] != C || p->dtype != IG_F32) return bad(e, op, "gamma/beta must be (C) f32, got", p);
    return IG_OK;
}

ig_status ig_op_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                           const ig_tensor *beta, ig_act act, ig_tensor *y) {
    if (x->n_dims != 4 || !ig_tensor_same_shape(x, y)) return bad(e, "group_norm", "x and y must be the same (N, C, H, W), x", x);
    if (n_groups < 1 || x->ne[1] % n_groups) return bad(e, "group_norm", "channels not divisible by groups, x", x);
    if (act != IG_ACT_NONE && act != IG_ACT_SILU) return bad(e, "group_norm", "only SiLU can be fused", NULL);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "group_norm", "f32 or bf16 only", x);
    if (check_affine(e, "group_norm", gamma, x->ne[1]) || check_affine(e, "group_norm", beta, x->ne[1])) return e->err.status;
    DISPATCH(e, IG_OPK_GROUP_NORM,
             e->be->group_norm(e, x, n_groups, eps, has_data(gamma) ? gamma : NULL, has_data(beta) ? beta : NULL, act, y));
}

ig_status ig_op_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma, const ig_tensor *beta,
                           ig_tensor *y) {
    if (!ig_tensor_same_shape(x, y)) return bad(e, "layer_norm", "x and y shapes differ, x", x);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "layer_norm", "f32 or bf16 only", x);
    const int64_t C = x->ne[x->n_dims - 1];
    if (check_affine(e, "layer_norm", gamma, C) || check_affine(e, "layer_norm", beta, C)) return e->err.status;
    DISPATCH(e, IG_OPK_LAYER_NORM, e->be->layer_norm(e, x, eps, has_data(gamma) ? gamma : NULL, has_data(beta) ? beta : NULL, y));
}

ig_status ig_op_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y) {
    if (!ig_tensor_same_shape(x, y)) return bad(e, "softmax", "x and y shapes differ, x", x);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "softmax", "f32 or bf16 only", x);
    DISPATCH(e, IG_OPK_SOFTMAX, e->be->softmax(e, x, scale, y));
}

ig_status ig_op_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                          float scale, bool causal, ig_tensor *out) {
    if (q->n_dims != 3 || k->n_dims != 3 || v->n_dims != 3) return bad(e, "attention", "q, k, v must be (B, T, H*D), q", q);
    if (n_heads < 1 || q->ne[2] % n_heads) return bad(e, "attention", "channels not divisible by heads, q", q);
    if (k->ne[0] != q->ne[0] || k->ne[2] != q->ne[2]) return bad(e, "attention", "k does not match q, k", k);
    if (!ig_tensor_same_shape(k, v)) return bad(e, "attention", "v does not match k, v", v);
    if (!ig_tensor_same_shape(q, out)) return bad(e, "attention", "out does not match q, out", out);
    if (k->ne[1] < 1) return bad(e, "attention", "no keys", k);
    if (causal && k->ne[1] != q->ne[1]) return bad(e, "attention", "causal attention needs as many keys as queries, k", k);
    if (!ig_tensor_is_contiguous(q) || !ig_tensor_is_contiguous(k) || !ig_tensor_is_contiguous(v) ||
        !ig_tensor_is_contiguous(out))
        return bad(e, "attention", "q, k, v, out must be contiguous", NULL);
    if (!act_dtype_ok(q->dtype) || k->dtype != q->dtype || v->dtype != q->dtype || !act_dtype_ok(out->dtype))
        return bad(e, "attention", "q, k, v must share one dtype, f32 or bf16", q);
    e->flops += 4.0 * (double)q->ne[0] * (double)q->ne[1] * (double)k->ne[1] * (double)q->ne[2];
    DISPATCH(e, IG_OPK_ATTENTION, e->be->attention(e, q, k, v, n_heads, scale, causal, out));
}

ig_status ig_op_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y) {
    if (!ig_tensor_same_shape(x, y)) return bad(e, "act", "x and y shapes differ, x", x);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "act", "f32 or bf16 only", x);
    DISPATCH(e, IG_OPK_ACT, e->be->act(e, act, x, y));
}

ig_status ig_op_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    if (!ig_tensor_same_shape(a, y)) return bad(e, "binary", "a and y shapes differ, a", a);
    if (b->n_dims != a->n_dims) return bad(e, "binary", "b must have a's number of dims, b", b);
    for (int i = 0; i < a->n_dims; i++)
        if (b->ne[i] != a->ne[i] && b->ne[i] != 1) return bad(e, "binary", "b does not broadcast to a, b", b);
    if (!act_dtype_ok(a->dtype) || !act_dtype_ok(b->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "binary", "f32 or bf16 only", a);
    DISPATCH(e, IG_OPK_BINARY, e->be->binary(e, kind, a, b, y));
}

ig_status ig_op_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y) {
    if (x->n_dims != 4 || y->n_dims != 4 || y->ne[0] != x->ne[0] || y->ne[1] != x->ne[1] || y->ne[2] != 2 * x->ne[2] ||
        y->ne[3] != 2 * x->ne[3])
        return bad(e, "upsample2x", "y must be (N, C, 2H, 2W), y", y);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "upsample2x", "f32 or bf16 only", x);
    DISPATCH(e, IG_OPK_UPSAMPLE, e->be->upsample2x(e, x, y));
}

ig_status ig_op_upsample_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y) {
    const ig_tensor *w = &op->w;
    if (w->n_dims != 4 || w->ne[2] != 3 || w->ne[3] != 3) return bad(e, "upsample_conv2d", "weight must be (K, C, 3, 3), got", w);
    if (op->stride != 1 || op->pad != 1 || op->pad_extra_b || op->pad_extra_r)
        return bad(e, "upsample_conv2d", "the conv must be stride 1, pad 1", NULL);
    if (x->n_dims != 4 || x->ne[1] != w->ne[1]) return bad(e, "upsample_conv2d", "input channels differ from weight, x", x);
    if (y->n_dims != 4 || y->ne[0] != x->ne[0] || y->ne[1] != w->ne[0] || y->ne[2] != 2 * x->ne[2] ||
        y->ne[3] != 2 * x->ne[3])
        return bad(e, "upsample_conv2d", "y must be (N, K, 2H, 2W), y", y);
    if (has_data(&op->b) && (op->b.n_dims != 1 || op->b.ne[0] != w->ne[0]))
        return bad(e, "upsample_conv2d", "bias must be (K), got", &op->b);
    if (!act_dtype_ok(x->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "upsample_conv2d", "f32 or bf16 only", x);
    /* The work done, not the 3x3 conv's at 2H x 2W: one 2x2 conv with 4K outputs over (H+1) x (W+1). */
    e->flops += 2.0 * (double)x->ne[0] * (double)(4 * w->ne[0]) * (double)x->ne[1] * 4.0 * (double)(x->ne[2] + 1) *
                (double)(x->ne[3] + 1);
    DISPATCH(e, IG_OPK_UPSAMPLE_CONV, e->be->upsample_conv2d(e, op, x, y));
}

ig_status ig_op_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    if (a->n_dims != 4 || b->n_dims != 4 || y->n_dims != 4) return bad(e, "concat", "a, b, y must be 4-D, a", a);
    if (b->ne[0] != a->ne[0] || b->ne[2] != a->ne[2] || b->ne[3] != a->ne[3] || y->ne[0] != a->ne[0] ||
        y->ne[1] != a->ne[1] + b->ne[1] || y->ne[2] != a->ne[2] || y->ne[3] != a->ne[3])
        return bad(e, "concat", "shapes do not concatenate along channels, y", y);
    if (!act_dtype_ok(a->dtype) || !act_dtype_ok(b->dtype) || !act_dtype_ok(y->dtype)) return bad(e, "concat", "f32 or bf16 only", a);
    DISPATCH(e, IG_OPK_CONCAT, e->be->concat(e, a, b, y));
}

/* Cheap and backend-independent (N x dim values per UNet step), so computed here in double.
 * Same formula as diffusers.models.embeddings.get_timestep_embedding. */
ig_status ig_op_timestep_embedding(ig_engine *e, const ig_tensor *t, int dim, bool flip_sin_to_cos,
                                   float downscale_freq_shift, ig_tensor *y) {
    if (t->n_dims != 1 || y->n_dims != 2 || y->ne[0] != t->ne[0] || y->ne[1] != dim || dim < 2)
        return bad(e, "timestep_embedding", "t must be (N) and y (N, dim), y", y);
    if (t->dtype != IG_F32 || y->dtype != IG_F32) return bad(e, "timestep_embedding", "f32 only", t);
    const int half = dim / 2;
    if ((double)half - downscale_freq_shift == 0) return bad(e, "timestep_embedding", "half dim equals the shift", NULL);
    for (int64_t n = 0; n < t->ne[0]; n++) {
        const double tv = ig_tensor_get(t, &n);
        for (int i = 0; i < half; i++) {
            /* torch computes exponent = -ln(max_period) * arange(half) / (half - shift) in f32, exp in f32,
             * then t * freq in f32; we mirror the f32 roundings so large t (up to 999) agree closely. */
            const float neg_log_period = (float)-log(10000.0);
            float expo = (neg_log_period * (float)i) / ((float)half - downscale_freq_shift);
            float freq = expf(expo);
            float arg = (float)tv * freq;
            float s = sinf(arg), c = cosf(arg);
            int64_t i0[2] = {n, i}, i1[2] = {n, i + half};
            ig_tensor_set(y, i0, flip_sin_to_cos ? c : s);
            ig_tensor_set(y, i1, flip_sin_to_cos ? s : c);
        }
        if (dim % 2) {
            int64_t il[2] = {n, dim - 1};
            ig_tensor_set(y, il, 0.0f);
        }
    }
    return IG_OK;
}
