/* ref.c — the "ref" backend: plain loops for every op, the oracle every fast path is tested against.
 *
 * Any strides, f32/bf16 activations (weights also f16), elements read and written one at a time
 * through their offsets; arithmetic and every accumulation in double, rounded once to the output
 * dtype. Simple and obviously correct beats fast: no blocking, no threads, no caches (op_release
 * is a no-op). The fast kernels (norm.c, elem.c, attn.c, dnnl/) call the matching function here
 * for layouts they do not handle, so it must stay correct for every stride pattern.
 * Outputs are written element by element after everything that element depends on has been read,
 * so the in-place forms ops.h allows (y == x for softmax, act; y == a for binary) work here too.
 */
#include "cpu.h"

#include <math.h>

static double ld(const ig_tensor *t, int64_t off) {
    switch (t->dtype) {
    case IG_F32: return ((const float *)t->data)[off];
    case IG_BF16: return ig_bf16_to_f32(((const uint16_t *)t->data)[off]);
    case IG_F16: return ig_f16_to_f32(((const uint16_t *)t->data)[off]);
    }
    return NAN;
}

/* Rounds v to f32 first, then to the output dtype (bf16 via f32 is correctly rounded but for
 * double-rounding ties, which are rarer than the tolerance cares about). */
static void sto(const ig_tensor *t, int64_t off, double v) {
    switch (t->dtype) {
    case IG_F32: ((float *)t->data)[off] = (float)v; break;
    case IG_BF16: ((uint16_t *)t->data)[off] = ig_f32_to_bf16((float)v); break;
    case IG_F16: ((uint16_t *)t->data)[off] = ig_f32_to_f16((float)v); break;
    }
}

static int64_t off4(const ig_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d) {
    return a * t->st[0] + b * t->st[1] + c * t->st[2] + d * t->st[3];
}

/* Advances a multi-index over shape ne (last dim fastest); false after the last element. */
static bool next_index(int64_t *idx, const int64_t *ne, int n_dims) {
    for (int d = n_dims - 1; d >= 0; d--) {
        if (++idx[d] < ne[d]) return true;
        idx[d] = 0;
    }
    return false;
}

/* Offset of row r of a tensor seen as rows over its leading dims (all but the last). */
static int64_t row_offset(const ig_tensor *t, int64_t r) {
    int64_t o = 0;
    for (int d = t->n_dims - 2; d >= 0; d--) {
        o += (r % t->ne[d]) * t->st[d];
        r /= t->ne[d];
    }
    return o;
}

static int64_t n_rows(const ig_tensor *t) { /* product of the leading dims (not nelem / C: C may be 0) */
    int64_t r = 1;
    for (int d = 0; d < t->n_dims - 1; d++) r *= t->ne[d];
    return r;
}

static double act_d(ig_act act, double x) {
    switch (act) {
    case IG_ACT_NONE: return x;
    case IG_ACT_SILU: return x / (1.0 + exp(-x));
    case IG_ACT_GELU_ERF: return 0.5 * x * erfc(-x / sqrt(2.0)); /* = 0.5 x (1 + erf(x / sqrt 2)), no cancellation */
    case IG_ACT_GELU_TANH: { /* 0.5 x (1 + tanh u) == x / (1 + exp(-2u)), the form that does not cancel for x < 0 */
        const double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
        return x / (1.0 + exp(-2.0 * u));
    }
    case IG_ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    case IG_ACT_RELU: return x > 0 ? x : 0.0;
    case IG_ACT_TANH_CLAMP: return 3.0 * tanh(x / 3.0);
    }
    return NAN;
}

float ig__ref_act_value(ig_act act, float x) { return (float)act_d(act, x); }

/* ---- conv2d and linear ---- */

/* Zero padding is the skipped taps: above/left of x by pad, below/right by whatever the output size
 * reaches (pad + pad_extra_b / pad_extra_r, as ops.c sized y). */
ig_status ig__ref_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    const ig_tensor *w = &op->w, *b = op->b.data ? &op->b : NULL;
    const int64_t N = y->ne[0], K = y->ne[1], Ho = y->ne[2], Wo = y->ne[3];
    const int64_t C = x->ne[1], H = x->ne[2], W = x->ne[3], R = w->ne[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oh = 0; oh < Ho; oh++)
                for (int64_t ow = 0; ow < Wo; ow++) {
                    double acc = b ? ld(b, k * b->st[0]) : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t r = 0; r < R; r++) {
                            const int64_t ih = oh * op->stride - op->pad + r;
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t s = 0; s < R; s++) {
                                const int64_t iw = ow * op->stride - op->pad + s;
                                if (iw < 0 || iw >= W) continue;
                                acc += ld(x, off4(x, n, c, ih, iw)) * ld(w, off4(w, k, c, r, s));
                            }
                        }
                    const double r = res ? ld(res, off4(res, n, k, oh, ow)) : 0.0;
                    const double v = op->act_after_res ? act_d(op->act, acc + r) : act_d(op->act, acc) + r;
                    sto(y, off4(y, n, k, oh, ow), v);
                }
    return IG_OK;
}

/* The definition: the 3x3 pad-1 conv over the nearest-2x upsampled x, reading x at (u / 2, v / 2). */
ig_status ig__ref_upsample_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y) {
    (void)e;
    const ig_tensor *w = &op->w, *b = op->b.data ? &op->b : NULL;
    const int64_t N = y->ne[0], K = y->ne[1], Ho = y->ne[2], Wo = y->ne[3], C = x->ne[1];
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oh = 0; oh < Ho; oh++)
                for (int64_t ow = 0; ow < Wo; ow++) {
                    double acc = b ? ld(b, k * b->st[0]) : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t r = 0; r < 3; r++) {
                            const int64_t uh = oh - 1 + r;
                            if (uh < 0 || uh >= Ho) continue;
                            for (int64_t s = 0; s < 3; s++) {
                                const int64_t uw = ow - 1 + s;
                                if (uw < 0 || uw >= Wo) continue;
                                acc += ld(x, off4(x, n, c, uh / 2, uw / 2)) * ld(w, off4(w, k, c, r, s));
                            }
                        }
                    sto(y, off4(y, n, k, oh, ow), act_d(op->act, acc));
                }
    return IG_OK;
}

static double dot_row(const ig_tensor *x, int64_t xo, const ig_tensor *w, const ig_tensor *b, int64_t o) {
    const int64_t I = w->ne[1];
    double acc = b ? ld(b, o * b->st[0]) : 0.0;
    for (int64_t i = 0; i < I; i++) acc += ld(x, xo + i) * ld(w, o * w->st[0] + i * w->st[1]);
    return acc;
}

/* x and y are contiguous (ops.c checks), so row r of x starts at r * I and of y at r * O. */
ig_status ig__ref_linear(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    const ig_tensor *w = &op->w, *b = op->b.data ? &op->b : NULL;
    const int64_t I = w->ne[1], O = y->ne[y->n_dims - 1], rows = n_rows(x);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < O; o++) {
            double v;
            if (op->geglu) /* diffusers GEGLU: hidden, gate = proj(x).chunk(2, -1); hidden * gelu(gate) */
                v = dot_row(x, r * I, w, b, o) * act_d(IG_ACT_GELU_ERF, dot_row(x, r * I, w, b, O + o));
            else
                v = act_d(op->act, dot_row(x, r * I, w, b, o));
            if (res) v += ld(res, r * O + o);
            sto(y, r * O + o, v);
        }
    return IG_OK;
}

void ig__ref_op_release(ig_engine *e, void *priv) { (void)e, (void)priv; }

/* ---- memory and data movement: a buffer is host memory, upload and download are copies ---- */

void *ig__ref_buf_alloc(ig_engine *e, size_t size_bytes) {
    (void)e;
    return ig__alloc(size_bytes);
}

void ig__ref_buf_free(ig_engine *e, void *buf) {
    (void)e;
    ig__free(buf);
}

ig_status ig__ref_sync(ig_engine *e) {
    (void)e;
    return IG_OK;
}

/* ig_tensor_copy: element by element through f32 (exact for every dtype pair but f32 -> bf16/f16,
 * which rounds once), a memmove when the dtypes match and both sides are contiguous. */
ig_status ig__ref_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst) {
    (void)e;
    ig_tensor_copy(dst, src);
    return IG_OK;
}

ig_status ig__ref_fill(ig_engine *e, float value, ig_tensor *y) {
    (void)e;
    int64_t idx[IG_MAX_DIMS] = {0};
    const int64_t n = ig_tensor_nelem(y);
    for (int64_t i = 0; i < n; i++) {
        sto(y, ig_tensor_offset(y, idx), value);
        for (int d = y->n_dims - 1; d >= 0; d--) {
            if (++idx[d] < y->ne[d]) break;
            idx[d] = 0;
        }
    }
    return IG_OK;
}

/* The sum in f32, as torch adds two f32 embeddings (inputs_embeds + position_embeds). */
ig_status ig__ref_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                            ig_tensor *out) {
    (void)e;
    const int64_t B = out->ne[0], T = out->ne[1], D = out->ne[2];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t d = 0; d < D; d++) {
                const int64_t ti[2] = {ids[b * T + t], d}, pi[2] = {t, d}, oi[3] = {b, t, d};
                const float v = (float)ld(table, ig_tensor_offset(table, ti)) + (float)ld(pos, ig_tensor_offset(pos, pi));
                sto(out, ig_tensor_offset(out, oi), v);
            }
    return IG_OK;
}

/* ---- normalisations and softmax (two-pass statistics in double) ---- */

/* torch.nn.GroupNorm: biased variance (divide by the count), eps inside the square root. */
ig_status ig__ref_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_act act, ig_tensor *y) {
    const int64_t N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3], Cg = C / n_groups;
    const double count = (double)(Cg * H * W);
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < n_groups; g++) {
            double sum = 0, ssq = 0;
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) sum += ld(x, off4(x, n, c, h, w));
            const double mean = sum / count;
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        const double d = ld(x, off4(x, n, c, h, w)) - mean;
                        ssq += d * d;
                    }
            const double rstd = 1.0 / sqrt(ssq / count + (double)eps);
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) {
                const double ga = gamma ? ld(gamma, c * gamma->st[0]) : 1.0;
                const double be = beta ? ld(beta, c * beta->st[0]) : 0.0;
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        const double v = (ld(x, off4(x, n, c, h, w)) - mean) * rstd * ga + be;
                        sto(y, off4(y, n, c, h, w), act_d(act, v));
                    }
            }
        }
    return IG_OK;
}

/* torch.nn.LayerNorm over the last dim: biased variance, eps inside the square root. */
ig_status ig__ref_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_tensor *y) {
    const int last = x->n_dims - 1;
    const int64_t C = x->ne[last], rows = n_rows(x), sx = x->st[last], sy = y->st[last];
    for (int64_t r = 0; r < rows; r++) {
        const int64_t xo = row_offset(x, r), yo = row_offset(y, r);
        double sum = 0, ssq = 0;
        for (int64_t c = 0; c < C; c++) sum += ld(x, xo + c * sx);
        const double mean = sum / (double)C;
        for (int64_t c = 0; c < C; c++) {
            const double d = ld(x, xo + c * sx) - mean;
            ssq += d * d;
        }
        const double rstd = 1.0 / sqrt(ssq / (double)C + (double)eps);
        for (int64_t c = 0; c < C; c++) {
            const double ga = gamma ? ld(gamma, c * gamma->st[0]) : 1.0;
            const double be = beta ? ld(beta, c * beta->st[0]) : 0.0;
            sto(y, yo + c * sy, (ld(x, xo + c * sx) - mean) * rstd * ga + be);
        }
    }
    return IG_OK;
}

/* Softmax of scale * x over the last dim; the max is subtracted first (exact in real arithmetic,
 * keeps exp in range for large scales). In place works: the last pass reads x[c] before writing y[c]. */
ig_status ig__ref_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y) {
    const int last = x->n_dims - 1;
    const int64_t C = x->ne[last], rows = n_rows(x), sx = x->st[last], sy = y->st[last];
    for (int64_t r = 0; r < rows; r++) {
        const int64_t xo = row_offset(x, r), yo = row_offset(y, r);
        double m = -INFINITY, sum = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, (double)scale * ld(x, xo + c * sx));
        for (int64_t c = 0; c < C; c++) sum += exp((double)scale * ld(x, xo + c * sx) - m);
        for (int64_t c = 0; c < C; c++) sto(y, yo + c * sy, exp((double)scale * ld(x, xo + c * sx) - m) / sum);
    }
    return IG_OK;
}

/* Heads packed in channels: head h of token t is channels [h D, (h+1) D) of row t. */
ig_status ig__ref_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                            float scale, bool causal, ig_tensor *out) {
    const int64_t B = q->ne[0], Tq = q->ne[1], Tk = k->ne[1], D = q->ne[2] / n_heads;
    ig_status st = IG_OK;
    double *p = ig__alloc((size_t)Tk * sizeof *p);
    if (!p) {
        st = ig__fail(&e->err, IG_ERR_NOMEM, "attention (ref): no memory for %lld scores", (long long)Tk);
        goto fail;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < n_heads; h++)
            for (int64_t i = 0; i < Tq; i++) {
                double m = -INFINITY, sum = 0;
                const int64_t nk = causal ? i + 1 : Tk; /* causal: keys after i are masked out entirely */
                for (int64_t j = 0; j < nk; j++) {
                    double s = 0;
                    for (int64_t d = 0; d < D; d++)
                        s += ld(q, b * q->st[0] + i * q->st[1] + (h * D + d) * q->st[2]) *
                             ld(k, b * k->st[0] + j * k->st[1] + (h * D + d) * k->st[2]);
                    p[j] = s * (double)scale;
                    m = fmax(m, p[j]);
                }
                for (int64_t j = 0; j < nk; j++) sum += (p[j] = exp(p[j] - m));
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < nk; j++) acc += p[j] * ld(v, b * v->st[0] + j * v->st[1] + (h * D + d) * v->st[2]);
                    sto(out, b * out->st[0] + i * out->st[1] + (h * D + d) * out->st[2], acc / sum);
                }
            }
fail:
    ig__free(p);
    return st;
}

/* ---- elementwise and data movement ---- */

ig_status ig__ref_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y) {
    int64_t idx[IG_MAX_DIMS] = {0};
    if (ig_tensor_nelem(x) == 0) return IG_OK;
    do sto(y, ig_tensor_offset(y, idx), act_d(act, ld(x, ig_tensor_offset(x, idx))));
    while (next_index(idx, x->ne, x->n_dims));
    return IG_OK;
}

ig_status ig__ref_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    int64_t idx[IG_MAX_DIMS] = {0};
    if (ig_tensor_nelem(a) == 0) return IG_OK;
    do {
        int64_t bo = 0;
        for (int d = 0; d < a->n_dims; d++) bo += (b->ne[d] == 1 ? 0 : idx[d]) * b->st[d];
        const double va = ld(a, ig_tensor_offset(a, idx)), vb = ld(b, bo);
        sto(y, ig_tensor_offset(y, idx), kind == IG_BIN_ADD ? va + vb : va * vb);
    } while (next_index(idx, a->ne, a->n_dims));
    return IG_OK;
}

/* torch F.interpolate(scale_factor=2, mode="nearest"): y[h][w] = x[h/2][w/2]. */
ig_status ig__ref_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y) {
    int64_t i[4] = {0};
    if (ig_tensor_nelem(y) == 0) return IG_OK;
    do sto(y, off4(y, i[0], i[1], i[2], i[3]), ld(x, off4(x, i[0], i[1], i[2] / 2, i[3] / 2)));
    while (next_index(i, y->ne, 4));
    return IG_OK;
}

/* torch.cat([a, b], dim=1). */
ig_status ig__ref_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    const int64_t Ca = a->ne[1];
    int64_t i[4] = {0};
    if (ig_tensor_nelem(y) == 0) return IG_OK;
    do {
        const double v = i[1] < Ca ? ld(a, off4(a, i[0], i[1], i[2], i[3])) : ld(b, off4(b, i[0], i[1] - Ca, i[2], i[3]));
        sto(y, off4(y, i[0], i[1], i[2], i[3]), v);
    } while (next_index(i, y->ne, 4));
    return IG_OK;
}
