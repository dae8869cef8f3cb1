/* elem.c — the "cpu" backend's elementwise ops and data movement: copy (also upload and download:
 * a CPU buffer is host memory), fill, embedding lookup, activation, broadcast add/mul, nearest 2x
 * upsample, channel concat. AVX-512 (vec.h, chosen at run time) beside a scalar path,
 * OpenMP over chunks, f32/bf16 in any mix (arithmetic in f32, rounded once to the output dtype).
 * Owns only these kernels; what it does not handle goes to ref.c:
 *   copy        same dtype and identical strides over a dense block: memmove (overlap allowed,
 *               ops.h). f32/bf16 laid out alike: converted in chunks. Anything else -> ref.
 *   fill        a dense block: one flat loop. Else ref.
 *   embedding   any weight dtype and strides (rows read element by element), rows in parallel.
 *   act         x and y with identical strides covering a dense block (contiguous, NHWC, or any
 *               other permutation of dims): one flat loop. Anything else -> ref.
 *   binary      a and y with identical strides (y == a allowed), b any strides: the dims are
 *               sorted by a's strides and merged where a and b both continue, leaving one inner
 *               run and up to three outer loops. The inner run is vectorised when it is unit-stride
 *               in a and unit-stride or broadcast (stride 0) in b: same-layout operands, (N, C, 1, 1)
 *               onto NHWC, (1, ...) batch broadcast, (1, 1, C) onto (B, T, C). Other runs are
 *               strided scalar loops (still correct). a and y laid out differently -> ref.
 *   upsample2x  x and y NHWC -> one copy per input pixel, then whole output rows duplicated. Else ref.
 *   concat      a, b, y NHWC -> two copies per pixel. Else ref.
 * The vector math (sigmoid, erf, tanh, GELUs) lives in vec.h for the other kernels to reuse.
 */
#include "cpu.h"

#include <string.h>

#include "vec.h"

/* Elements per work item: large enough that a work item costs far more than scheduling it. */
#define CHUNK 16384
/* Below this many elements, one thread does it all (a parallel region costs a few microseconds). */
#define PAR_MIN 32768

static inline const char *at(const void *p, int64_t i, bool bf16) { return (const char *)p + (size_t)i * ig__esz(bf16); }

/* Copy n elements with dtype conversion (memcpy when the dtypes match). */
IG_AVX512 static void convert_avx(void *dst, bool db, const void *src, bool sb, int64_t n) {
    const int dk = ig__v_kind(db);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = ig__v_tail(n - i);
        ig__v_maskst(dst, i, dk, m, ig__v_maskld(src, i, sb, m));
    }
}
static void copy_row(void *dst, bool db, const void *src, bool sb, int64_t n, bool avx) {
    if (db == sb) memcpy(dst, src, (size_t)n * ig__esz(db));
    else if (avx) convert_avx(dst, db, src, sb, n);
    else
        for (int64_t i = 0; i < n; i++) ig__stf(dst, i, db, ig__ldf(src, i, sb));
}

/* ---- data movement ---- */


ig_status ig__cpu_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst) {
    const int64_t n = ig_tensor_nelem(src);
    if (src->dtype == dst->dtype && ig_tensor_dense_alike(src, dst)) { /* the same bytes: overlap allowed */
        memmove(dst->data, src->data, (size_t)n * ig_dtype_size(src->dtype));
        return IG_OK;
    }
    if (src->dtype == IG_F16 || dst->dtype == IG_F16 || !ig_tensor_dense_alike(src, dst)) return ig__ref_copy(e, src, dst);
    const int64_t items = (n + CHUNK - 1) / CHUNK;
    const bool sb = src->dtype == IG_BF16, db = dst->dtype == IG_BF16, avx = ig__cpu_has_avx512();
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t it = 0; it < items; it++) {
        const int64_t i0 = it * CHUNK, len = IG_MIN(CHUNK, n - i0);
        copy_row((char *)dst->data + (size_t)i0 * ig__esz(db), db, at(src->data, i0, sb), sb, len, avx);
    }
    return IG_OK;
}

ig_status ig__cpu_fill(ig_engine *e, float value, ig_tensor *y) {
    if (y->dtype == IG_F16 || !ig_tensor_dense_alike(y, y)) return ig__ref_fill(e, value, y);
    const int64_t n = ig_tensor_nelem(y);
    const bool yb = y->dtype == IG_BF16;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) ig__stf(y->data, i, yb, value);
    return IG_OK;
}

static inline float ld_any(const ig_tensor *t, int64_t off) {
    const uint16_t *h = t->data;
    switch (t->dtype) {
    case IG_F32: return ((const float *)t->data)[off];
    case IG_BF16: return ig_bf16_to_f32(h[off]);
    case IG_F16: return ig_f16_to_f32(h[off]);
    }
    return 0.0f;
}

ig_status ig__cpu_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                            ig_tensor *out) {
    (void)e;
    const int64_t T = out->ne[1], D = out->ne[2], rows = out->ne[0] * T;
    const bool yb = out->dtype == IG_BF16;
#pragma omp parallel for schedule(static) if (rows * D > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t t0 = ids[r] * table->st[0], p0 = (r % T) * pos->st[0];
        for (int64_t d = 0; d < D; d++)
            ig__stf(out->data, r * D + d, yb, ld_any(table, t0 + d * table->st[1]) + ld_any(pos, p0 + d * pos->st[1]));
    }
    return IG_OK;
}

/* ---- activation ---- */

IG_AVX512 static inline __m512 act_v(ig_act act, __m512 v) {
    switch (act) {
    case IG_ACT_NONE: return v;
    case IG_ACT_SILU: return ig__v_silu(v);
    case IG_ACT_GELU_ERF: return ig__v_gelu_erf(v);
    case IG_ACT_GELU_TANH: return ig__v_gelu_tanh(v);
    case IG_ACT_QUICK_GELU: return ig__v_quick_gelu(v);
    case IG_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case IG_ACT_TANH_CLAMP: return _mm512_mul_ps(_mm512_set1_ps(3.0f), ig__v_tanh(_mm512_mul_ps(v, _mm512_set1_ps(1.0f / 3.0f))));
    }
    return v;
}

IG_AVX512 static void act_avx(ig_act act, const void *x, bool xb, void *y, int yk, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) ig__v_st(y, i, yk, act_v(act, ig__v_ld(x, i, xb)));
    if (i < n) {
        const __mmask16 m = ig__v_tail(n - i);
        ig__v_maskst(y, i, yk, m, act_v(act, ig__v_maskld(x, i, xb, m)));
    }
}

ig_status ig__cpu_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y) {
    if (!ig_tensor_dense_alike(x, y)) return ig__ref_act(e, act, x, y);
    const int64_t n = ig_tensor_nelem(x), items = (n + CHUNK - 1) / CHUNK;
    const bool xb = x->dtype == IG_BF16, yb = y->dtype == IG_BF16, avx = ig__cpu_has_avx512();
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t it = 0; it < items; it++) {
        const int64_t i0 = it * CHUNK, len = IG_MIN(CHUNK, n - i0);
        if (avx) act_avx(act, at(x->data, i0, xb), xb, (char *)y->data + (size_t)i0 * ig__esz(yb), ig__v_kind(yb), len);
        else
            for (int64_t i = i0; i < i0 + len; i++) ig__stf(y->data, i, yb, ig__ref_act_value(act, ig__ldf(x->data, i, xb)));
    }
    return IG_OK;
}

/* ---- binary ---- */

typedef struct { int64_t ne, sa, sb; } run; /* a dim: extent, stride in a (and y), stride in b (0: broadcast) */

/* a's dims with more than one element, innermost (smallest a stride) first, merged where both a
 * and b continue from one dim into the next. Returns how many remain (>= 1). */
static int collapse(const ig_tensor *a, const ig_tensor *b, run *r) {
    int k = 0;
    for (int d = 0; d < a->n_dims; d++) {
        if (a->ne[d] == 1) continue;
        run v = {a->ne[d], a->st[d], b->ne[d] == 1 ? 0 : b->st[d]};
        int j = k++;
        for (; j > 0 && r[j - 1].sa > v.sa; j--) r[j] = r[j - 1];
        r[j] = v;
    }
    if (k == 0) {
        r[0] = (run){1, 1, 0};
        return 1;
    }
    int m = 0;
    for (int j = 1; j < k; j++) {
        if (r[j].sa == r[m].sa * r[m].ne && r[j].sb == r[m].sb * r[m].ne) r[m].ne *= r[j].ne;
        else r[++m] = r[j];
    }
    return m + 1;
}

/* y[i] = a[i] op b[i * sb] for i < n, sb 0 (broadcast) or 1. */
IG_AVX512 static void binary_avx(ig_binary kind, const void *a, bool ab, const void *b, bool bb, int64_t sb, void *y,
                                 int yk, int64_t n) {
    const __m512 bs = sb ? _mm512_setzero_ps() : _mm512_set1_ps(ig__ldf(b, 0, bb));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = ig__v_tail(n - i);
        const __m512 va = ig__v_maskld(a, i, ab, m), vb = sb ? ig__v_maskld(b, i, bb, m) : bs;
        ig__v_maskst(y, i, yk, m, kind == IG_BIN_ADD ? _mm512_add_ps(va, vb) : _mm512_mul_ps(va, vb));
    }
}

static void binary_strided(ig_binary kind, const void *a, bool ab, int64_t sa, const void *b, bool bb, int64_t sb,
                           void *y, bool yb, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float va = ig__ldf(a, i * sa, ab), vb = ig__ldf(b, i * sb, bb);
        ig__stf(y, i * sa, yb, kind == IG_BIN_ADD ? va + vb : va * vb);
    }
}

ig_status ig__cpu_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    for (int d = 0; d < a->n_dims; d++)
        if (a->ne[d] > 1 && a->st[d] != y->st[d]) return ig__ref_binary(e, kind, a, b, y);
    if (ig_tensor_nelem(a) == 0) return IG_OK;
    run r[IG_MAX_DIMS];
    const int nr = collapse(a, b, r);
    const int64_t n0 = r[0].ne, chunks = (n0 + CHUNK - 1) / CHUNK;
    int64_t rows = 1;
    for (int j = 1; j < nr; j++) rows *= r[j].ne;
    const bool ab = a->dtype == IG_BF16, bb = b->dtype == IG_BF16, yb = y->dtype == IG_BF16;
    const bool vec = ig__cpu_has_avx512() && r[0].sa == 1 && (r[0].sb == 0 || r[0].sb == 1);
#pragma omp parallel for schedule(static) if (rows * n0 > PAR_MIN)
    for (int64_t it = 0; it < rows * chunks; it++) {
        int64_t row = it / chunks, oa = 0, ob = 0;
        for (int j = 1; j < nr; j++) {
            oa += (row % r[j].ne) * r[j].sa;
            ob += (row % r[j].ne) * r[j].sb;
            row /= r[j].ne;
        }
        const int64_t i0 = (it % chunks) * CHUNK, len = IG_MIN(CHUNK, n0 - i0);
        oa += i0 * r[0].sa, ob += i0 * r[0].sb;
        if (vec) binary_avx(kind, at(a->data, oa, ab), ab, at(b->data, ob, bb), bb, r[0].sb, (char *)y->data + (size_t)oa * ig__esz(yb), ig__v_kind(yb), len);
        else binary_strided(kind, at(a->data, oa, ab), ab, r[0].sa, at(b->data, ob, bb), bb, r[0].sb, (char *)y->data + (size_t)oa * ig__esz(yb), yb, len);
    }
    return IG_OK;
}

/* ---- upsample and concat (NHWC: pixel p of an image is C contiguous elements at p * C) ---- */

ig_status ig__cpu_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y) {
    if (!ig_tensor_is_nhwc(x) || !ig_tensor_is_nhwc(y)) return ig__ref_upsample2x(e, x, y);
    const int64_t N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    const bool xb = x->dtype == IG_BF16, yb = y->dtype == IG_BF16, avx = ig__cpu_has_avx512();
    const size_t pix = (size_t)C * ig__esz(yb); /* bytes of one output pixel */
#pragma omp parallel for schedule(static) if (N * H * W * C > PAR_MIN)
    for (int64_t nh = 0; nh < N * H; nh++) { /* input row (n, h) -> output rows 2h and 2h + 1 */
        const int64_t n = nh / H, h = nh % H;
        char *y0 = (char *)y->data + (size_t)((n * 2 * H + 2 * h) * 2 * W) * pix;
        for (int64_t w = 0; w < W; w++) {
            copy_row(y0 + (size_t)(2 * w) * pix, yb, at(x->data, (nh * W + w) * C, xb), xb, C, avx);
            memcpy(y0 + (size_t)(2 * w + 1) * pix, y0 + (size_t)(2 * w) * pix, pix);
        }
        memcpy(y0 + (size_t)(2 * W) * pix, y0, (size_t)(2 * W) * pix);
    }
    return IG_OK;
}

ig_status ig__cpu_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y) {
    if (!ig_tensor_is_nhwc(a) || !ig_tensor_is_nhwc(b) || !ig_tensor_is_nhwc(y)) return ig__ref_concat(e, a, b, y);
    const int64_t P = a->ne[0] * a->ne[2] * a->ne[3], Ca = a->ne[1], Cb = b->ne[1], Cy = Ca + Cb;
    const bool ab = a->dtype == IG_BF16, bb = b->dtype == IG_BF16, yb = y->dtype == IG_BF16, avx = ig__cpu_has_avx512();
#pragma omp parallel for schedule(static) if (P * Cy > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        char *yp = (char *)y->data + (size_t)(p * Cy) * ig__esz(yb);
        copy_row(yp, yb, at(a->data, p * Ca, ab), ab, Ca, avx);
        copy_row(yp + (size_t)Ca * ig__esz(yb), yb, at(b->data, p * Cb, bb), bb, Cb, avx);
    }
    return IG_OK;
}
