/* norm.c — the "cpu" backend's group norm, layer norm and softmax: AVX-512 (vec.h, chosen at run
 * time with ig__cpu_has_avx512()) with a scalar path beside it, OpenMP over pixels or rows,
 * f32 or bf16 in and out in any mix. Owns only these three kernels; layouts it does not handle go
 * to ref.c (correct, slow):
 *   group_norm  x and y NHWC (the engine's activation layout), C <= GN_MAX_C; anything else -> ref
 *   layer_norm  last dim of x and y unit-stride (any strides outside); anything else -> ref
 *   softmax     same as layer_norm
 *
 * Numerics. Statistics are taken so that a mean large against the spread does not cancel:
 *  - group norm: one pass over x with a per-channel shift K_c (the first pixel of channel c):
 *    sums of (x - K_c) and (x - K_c)^2 over 4 pixels in f32 registers, accumulated over <= 16 pixels
 *    in f32 (blocked summation, <= ~1e-6 relative) and then in double. The shifted sums of a
 *    channel are combined into its group's variance exactly (in double):
 *      sum (x - mean_g)^2 = S2_c + 2 d_c S1_c + M d_c^2,  d_c = K_c - mean_g,  M = H W.
 *  - layer norm: the row sits in L1, so a true two-pass: mean, then d = x - mean summed as d and
 *    d^2 (corrected two-pass: mean += E[d], var = E[d^2] - E[d]^2), each sum over blocks of 8
 *    vectors in f32 lanes and the blocks in double.
 *  - group norm applies y = (x - m) * a + b' with m the mean rounded to f32 (x - m is exact or
 *    nearly: same magnitude) and b' = beta - (mean - m) a taking the rounding of m back; layer norm
 *    subtracts the mean as two floats, (x - mean_hi) - mean_lo. The more usual x * a + (beta - mean a)
 *    loses |mean| * ulp(a), 1e-4 for data at 1000 +- 1.
 *  - softmax subtracts the row max of scale * x (fma, so scale * x is not rounded before the
 *    subtraction) and sums the exps the same blocked way (f32 lanes, blocks in double).
 * torch semantics (GroupNorm, LayerNorm): biased variance, eps inside the square root.
 * Memory traffic: group norm reads x twice (stats, apply) and writes y once; layer norm and softmax
 * read and write each row once from memory (their extra passes hit L1).
 */
#include "cpu.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "vec.h"

/* Channel count up to which group norm keeps its per-channel scratch on the stack (SD's largest is
 * 1280; a VAE mid block 512). Above it the ref path runs, never on SD shapes. */
#define GN_MAX_C 4096
/* Pixels summed in f32 before the partial sums go into the double accumulators. */
#define GN_BLOCK 16

static inline float silu_s(float v) { return v / (1.0f + expf(-v)); }

/* ---- group norm ---- */

/* Bytes ahead of the current pixel that group norm prefetches. Its passes stream through images of
 * up to 128 MiB (the VAE's 512x512 levels) in 4 KiB pages, where the hardware prefetcher stops at
 * every page boundary: measured on a Zen-5-class VM, the stats pass and the normalise pass read
 * at ~6 GB/s without it and about twice that with it (64 MiB bf16, 128 channels). */
#define GN_PREFETCH 4096

IG_AVX512 static inline void gn_prefetch(const void *x, int64_t i, bool xb) {
    _mm_prefetch((const char *)x + (size_t)i * ig__esz(xb) + GN_PREFETCH, _MM_HINT_T0);
}

/* Per-channel statistics of pixels [p0, p1) of one image (x points at its pixel 0): adds
 * sum (x - K_c) into s1[c] and sum (x - K_c)^2 into s2[c], K_c = x[0, c]. f1/f2: f32 scratch of
 * C rounded up to 16. Full vectors when C is a multiple of 16 (every SD shape: masked loads
 * cost more on some cores), masked ones otherwise. */
IG_AVX512 static void gn_stats_avx(const void *x, bool xb, int64_t C, int64_t p0, int64_t p1, double *s1, double *s2,
                                   float *f1, float *f2) {
    const bool full = C % 16 == 0;
    for (int64_t p = p0; p < p1; p += GN_BLOCK) {
        const int64_t pe = IG_MIN(p1, p + GN_BLOCK);
        memset(f1, 0, (size_t)((C + 15) & ~15) * sizeof *f1);
        memset(f2, 0, (size_t)((C + 15) & ~15) * sizeof *f2);
        int64_t q = p;
        for (; q + 4 <= pe; q += 4)
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 m = ig__v_tail(C - c);
                const __m512 k = ig__v_maskld(x, c, xb, m);
                __m512 v0, v1, v2, v3;
                gn_prefetch(x, q * C + c, xb);
                gn_prefetch(x, (q + 2) * C + c, xb);
                if (full) {
                    v0 = _mm512_sub_ps(ig__v_ld(x, q * C + c, xb), k);
                    v1 = _mm512_sub_ps(ig__v_ld(x, (q + 1) * C + c, xb), k);
                    v2 = _mm512_sub_ps(ig__v_ld(x, (q + 2) * C + c, xb), k);
                    v3 = _mm512_sub_ps(ig__v_ld(x, (q + 3) * C + c, xb), k);
                } else {
                    v0 = _mm512_sub_ps(ig__v_maskld(x, q * C + c, xb, m), k);
                    v1 = _mm512_sub_ps(ig__v_maskld(x, (q + 1) * C + c, xb, m), k);
                    v2 = _mm512_sub_ps(ig__v_maskld(x, (q + 2) * C + c, xb, m), k);
                    v3 = _mm512_sub_ps(ig__v_maskld(x, (q + 3) * C + c, xb, m), k);
                }
                __m512 s = _mm512_add_ps(_mm512_add_ps(v0, v1), _mm512_add_ps(v2, v3));
                __m512 sq = _mm512_fmadd_ps(v3, v3, _mm512_fmadd_ps(v2, v2, _mm512_fmadd_ps(v1, v1, _mm512_mul_ps(v0, v0))));
                _mm512_storeu_ps(f1 + c, _mm512_add_ps(_mm512_loadu_ps(f1 + c), s));
                _mm512_storeu_ps(f2 + c, _mm512_add_ps(_mm512_loadu_ps(f2 + c), sq));
            }
        for (; q < pe; q++)
            for (int64_t c = 0; c < C; c += 16) {
                const __mmask16 m = ig__v_tail(C - c);
                __m512 v = _mm512_sub_ps(ig__v_maskld(x, q * C + c, xb, m), ig__v_maskld(x, c, xb, m));
                _mm512_storeu_ps(f1 + c, _mm512_add_ps(_mm512_loadu_ps(f1 + c), v));
                _mm512_storeu_ps(f2 + c, _mm512_fmadd_ps(v, v, _mm512_loadu_ps(f2 + c)));
            }
        for (int64_t c = 0; c < C; c += 8) {
            const __mmask8 m = (__mmask8)(C - c >= 8 ? 0xff : (1u << (C - c)) - 1u);
            _mm512_mask_storeu_pd(s1 + c, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, s1 + c), _mm512_cvtps_pd(_mm256_loadu_ps(f1 + c))));
            _mm512_mask_storeu_pd(s2 + c, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, s2 + c), _mm512_cvtps_pd(_mm256_loadu_ps(f2 + c))));
        }
    }
}

static void gn_stats_scalar(const void *x, bool xb, int64_t C, int64_t p0, int64_t p1, double *s1, double *s2) {
    for (int64_t p = p0; p < p1; p++)
        for (int64_t c = 0; c < C; c++) {
            const double v = (double)ig__ldf(x, p * C + c, xb) - (double)ig__ldf(x, c, xb);
            s1[c] += v;
            s2[c] += v * v;
        }
}

/* y = act((x - m) * a + b) per channel over pixels [p0, p1). */
/* The full-vector loop with its dtypes and activation as constants (gn_apply_avx instantiates each
 * combination): two pixels' vectors per step, so two independent SiLU chains (exp, reciprocal:
 * ~25 dependent operations) overlap, and no branch on dtype or activation inside the loop. This
 * pass, not memory, was what bounded the normalisation once prefetched (~2x the stats pass). */
IG_AVX512 static inline __attribute__((always_inline)) void gn_apply_full(const void *x, const bool xb, void *y, const int yk,
                                                                           int64_t C, int64_t p0, int64_t p1, const float *mf,
                                                                           const float *a, const float *b, const bool silu) {
    int64_t p = p0;
    for (; p + 2 <= p1; p += 2)
        for (int64_t c = 0; c < C; c += 16) {
            const __m512 m = _mm512_loadu_ps(mf + c), ac = _mm512_loadu_ps(a + c), bc = _mm512_loadu_ps(b + c);
            gn_prefetch(x, p * C + c, xb);
            gn_prefetch(x, (p + 1) * C + c, xb);
            __m512 v0 = _mm512_fmadd_ps(_mm512_sub_ps(ig__v_ld(x, p * C + c, xb), m), ac, bc);
            __m512 v1 = _mm512_fmadd_ps(_mm512_sub_ps(ig__v_ld(x, (p + 1) * C + c, xb), m), ac, bc);
            if (silu) v0 = ig__v_silu(v0), v1 = ig__v_silu(v1);
            ig__v_st(y, p * C + c, yk, v0);
            ig__v_st(y, (p + 1) * C + c, yk, v1);
        }
    for (; p < p1; p++)
        for (int64_t c = 0; c < C; c += 16) {
            __m512 v = _mm512_sub_ps(ig__v_ld(x, p * C + c, xb), _mm512_loadu_ps(mf + c));
            v = _mm512_fmadd_ps(v, _mm512_loadu_ps(a + c), _mm512_loadu_ps(b + c));
            if (silu) v = ig__v_silu(v);
            ig__v_st(y, p * C + c, yk, v);
        }
}

IG_AVX512 static void gn_apply_avx(const void *x, bool xb, void *y, int yk, int64_t C, int64_t p0, int64_t p1,
                                   const float *mf, const float *a, const float *b, bool silu) {
    if (C % 16 == 0) { /* every SD shape: full vectors, no masks */
#define GN_FULL(XB, YK, SILU) gn_apply_full(x, XB, y, YK, C, p0, p1, mf, a, b, SILU)
        if (xb && yk == IG_V_BF16_HW) silu ? GN_FULL(true, IG_V_BF16_HW, true) : GN_FULL(true, IG_V_BF16_HW, false);
        else if (!xb && yk == IG_V_F32) silu ? GN_FULL(false, IG_V_F32, true) : GN_FULL(false, IG_V_F32, false);
        else silu ? GN_FULL(xb, yk, true) : GN_FULL(xb, yk, false);
#undef GN_FULL
        return;
    }
    for (int64_t p = p0; p < p1; p++)
        for (int64_t c = 0; c < C; c += 16) {
            const __mmask16 m = ig__v_tail(C - c);
            gn_prefetch(x, p * C + c, xb);
            __m512 v = _mm512_sub_ps(ig__v_maskld(x, p * C + c, xb, m), _mm512_loadu_ps(mf + c));
            v = _mm512_fmadd_ps(v, _mm512_loadu_ps(a + c), _mm512_loadu_ps(b + c));
            if (silu) v = ig__v_silu(v);
            ig__v_maskst(y, p * C + c, yk, m, v);
        }
}

static void gn_apply_scalar(const void *x, bool xb, void *y, bool yb, int64_t C, int64_t p0, int64_t p1,
                            const float *mf, const float *a, const float *b, bool silu) {
    for (int64_t p = p0; p < p1; p++)
        for (int64_t c = 0; c < C; c++) {
            float v = fmaf(ig__ldf(x, p * C + c, xb) - mf[c], a[c], b[c]);
            ig__stf(y, p * C + c, yb, silu ? silu_s(v) : v);
        }
}

/* One parallel region for all images. Per image n: each thread sums its slice of the pixels into
 * private per-channel doubles and adds them into the shared ones (critical, 2C adds per thread);
 * one thread turns them into per-channel (m, a, b') (see the top comment) and clears the sums; then every
 * thread normalises its slice. The barrier before the single also keeps image n+1's sums from
 * overwriting coefficients image n still uses. */
ig_status ig__cpu_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_act act, ig_tensor *y) {
    const int64_t N = x->ne[0], C = x->ne[1], HW = x->ne[2] * x->ne[3], Cg = C / n_groups;
    if (!ig_tensor_is_nhwc(x) || !ig_tensor_is_nhwc(y) || C > GN_MAX_C)
        return ig__ref_group_norm(e, x, n_groups, eps, gamma, beta, act, y);
    if (N * HW * C == 0) return IG_OK;
    const bool xb = x->dtype == IG_BF16, yb = y->dtype == IG_BF16, silu = act == IG_ACT_SILU;
    const bool avx = ig__cpu_has_avx512();
    const int64_t C16 = (C + 15) & ~(int64_t)15;
    double sum1[C16], sum2[C16];
    float mf[C16], a[C16], b[C16];
    memset(sum1, 0, sizeof sum1), memset(sum2, 0, sizeof sum2);
    memset(mf, 0, sizeof mf), memset(a, 0, sizeof a), memset(b, 0, sizeof b);

#pragma omp parallel if (N * HW * C > 32768)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        double s1[C16], s2[C16];
        float f1[C16], f2[C16];
        const int64_t p0 = HW * t / nt, p1 = HW * (t + 1) / nt;
        for (int64_t n = 0; n < N; n++) {
            const char *xn = (const char *)x->data + (size_t)(n * HW * C) * ig__esz(xb);
            char *yn = (char *)y->data + (size_t)(n * HW * C) * ig__esz(yb);
            memset(s1, 0, sizeof s1), memset(s2, 0, sizeof s2);
            if (avx) gn_stats_avx(xn, xb, C, p0, p1, s1, s2, f1, f2);
            else gn_stats_scalar(xn, xb, C, p0, p1, s1, s2);
#pragma omp critical(ig_group_norm)
            for (int64_t c = 0; c < C; c++) sum1[c] += s1[c], sum2[c] += s2[c];
#pragma omp barrier
#pragma omp single
            {
                const double M = (double)HW;
                for (int64_t g = 0; g < n_groups; g++) {
                    double tot = 0, ssq = 0;
                    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) tot += M * ig__ldf(xn, c, xb) + sum1[c];
                    const double mean = tot / (M * (double)Cg);
                    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) {
                        const double d = (double)ig__ldf(xn, c, xb) - mean;
                        ssq += sum2[c] + 2.0 * d * sum1[c] + M * d * d;
                    }
                    const double var = ssq > 0 ? ssq / (M * (double)Cg) : 0.0;
                    const double rstd = 1.0 / sqrt(var + (double)eps);
                    const float m = (float)mean;
                    for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) {
                        const double ac = rstd * (gamma ? ((const float *)gamma->data)[c * gamma->st[0]] : 1.0f);
                        const double bc = beta ? ((const float *)beta->data)[c * beta->st[0]] : 0.0f;
                        mf[c] = m, a[c] = (float)ac, b[c] = (float)(bc - (mean - (double)m) * ac);
                    }
                }
                memset(sum1, 0, sizeof sum1), memset(sum2, 0, sizeof sum2);
            }
            if (avx) gn_apply_avx(xn, xb, yn, ig__v_kind(yb), C, p0, p1, mf, a, b, silu);
            else gn_apply_scalar(xn, xb, yn, yb, C, p0, p1, mf, a, b, silu);
        }
    }
    return IG_OK;
}

/* ---- layer norm and softmax: rows over the leading dims, last dim unit-stride ---- */

static int64_t row_offset(const ig_tensor *t, int64_t r) {
    int64_t o = 0;
    for (int d = t->n_dims - 2; d >= 0; d--) {
        o += (r % t->ne[d]) * t->st[d];
        r /= t->ne[d];
    }
    return o;
}

static bool rows_ok(const ig_tensor *t) { return t->st[t->n_dims - 1] == 1 || t->ne[t->n_dims - 1] == 1; }

/* Layer norm and softmax read a row from memory once, then work on it in L1 for two more passes,
 * when no hardware prefetcher runs ahead: those passes prefetch the next row's x (and y, which
 * is written next), so the next row's memory traffic overlaps this row's arithmetic. */
IG_AVX512 static inline void prefetch(const char *row, size_t off) {
    if (row) _mm_prefetch(row + off, _MM_HINT_T0);
}

/* Blocks of LN_BLOCK vectors are summed in f32 lanes (<= LN_BLOCK terms each, so <= ~LN_BLOCK ulp of
 * the block's magnitude), the blocks in double. */
#define LN_BLOCK 8

IG_AVX512 static void ln_row_avx(const void *x, bool xb, void *y, int yk, int64_t C, float eps, const float *gamma,
                                 const float *beta, const char *xnext, const char *ynext) {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t c0 = 0; c0 < C; c0 += 16 * LN_BLOCK) {
        __m512 s = _mm512_setzero_ps();
        for (int64_t c = c0; c < IG_MIN(C, c0 + 16 * LN_BLOCK); c += 16) s = _mm512_add_ps(s, ig__v_maskld(x, c, xb, ig__v_tail(C - c)));
        ig__v_acc_pd(&lo, &hi, s);
    }
    const double mean = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)) / (double)C;
    const __m512 mh = _mm512_set1_ps((float)mean), ml = _mm512_set1_ps((float)(mean - (double)(float)mean));
    __m512d d_lo = _mm512_setzero_pd(), d_hi = _mm512_setzero_pd(), q_lo = _mm512_setzero_pd(), q_hi = _mm512_setzero_pd();
    for (int64_t c0 = 0; c0 < C; c0 += 16 * LN_BLOCK) {
        __m512 s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
        for (int64_t c = c0; c < IG_MIN(C, c0 + 16 * LN_BLOCK); c += 16) {
            const __mmask16 m = ig__v_tail(C - c);
            const __m512 d = _mm512_maskz_sub_ps(m, _mm512_sub_ps(ig__v_maskld(x, c, xb, m), mh), ml);
            prefetch(xnext, (size_t)c * ig__esz(xb));
            s1 = _mm512_add_ps(s1, d);
            s2 = _mm512_fmadd_ps(d, d, s2);
        }
        ig__v_acc_pd(&d_lo, &d_hi, s1);
        ig__v_acc_pd(&q_lo, &q_hi, s2);
    }
    /* corrected two-pass: E[d] is what the first mean missed (its f32 blocks round at the scale of
     * |x|, not of the spread): mean += E[d], var = E[d^2] - E[d]^2 */
    const double md = _mm512_reduce_add_pd(_mm512_add_pd(d_lo, d_hi)) / (double)C;
    double var = _mm512_reduce_add_pd(_mm512_add_pd(q_lo, q_hi)) / (double)C - md * md;
    if (var < 0) var = 0;
    const double mean2 = (double)(float)mean + (double)(float)(mean - (double)(float)mean) + md;
    const __m512 mh2 = _mm512_set1_ps((float)mean2), ml2 = _mm512_set1_ps((float)(mean2 - (double)(float)mean2));
    const __m512 rstd = _mm512_set1_ps((float)(1.0 / sqrt(var + (double)eps)));
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = ig__v_tail(C - c);
        __m512 d = _mm512_sub_ps(_mm512_sub_ps(ig__v_maskld(x, c, xb, m), mh2), ml2);
        __m512 g = gamma ? _mm512_mul_ps(rstd, _mm512_maskz_loadu_ps(m, gamma + c)) : rstd;
        __m512 v = beta ? _mm512_fmadd_ps(d, g, _mm512_maskz_loadu_ps(m, beta + c)) : _mm512_mul_ps(d, g);
        prefetch(ynext, (size_t)c * (yk == IG_V_F32 ? 4 : 2));
        ig__v_maskst(y, c, yk, m, v);
    }
}

static void ln_row_scalar(const void *x, bool xb, void *y, bool yb, int64_t C, float eps, const float *gamma,
                          const float *beta) {
    double sum = 0, ssq = 0;
    for (int64_t c = 0; c < C; c++) sum += ig__ldf(x, c, xb);
    const double mean = sum / (double)C;
    for (int64_t c = 0; c < C; c++) {
        const double d = ig__ldf(x, c, xb) - mean;
        ssq += d * d;
    }
    const double rstd = 1.0 / sqrt(ssq / (double)C + (double)eps);
    for (int64_t c = 0; c < C; c++) {
        const double v = (ig__ldf(x, c, xb) - mean) * rstd * (gamma ? gamma[c] : 1.0f) + (beta ? beta[c] : 0.0f);
        ig__stf(y, c, yb, (float)v);
    }
}

/* gamma and beta are (C) f32 (ops.c); their stride is 1 unless C == 1. */
ig_status ig__cpu_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                             const ig_tensor *beta, ig_tensor *y) {
    if (!rows_ok(x) || !rows_ok(y) || (gamma && gamma->st[0] != 1 && gamma->ne[0] > 1) ||
        (beta && beta->st[0] != 1 && beta->ne[0] > 1))
        return ig__ref_layer_norm(e, x, eps, gamma, beta, y);
    const int64_t C = x->ne[x->n_dims - 1], rows = ig_tensor_nelem(x) / (C ? C : 1);
    if (C == 0) return IG_OK;
    const bool xb = x->dtype == IG_BF16, yb = y->dtype == IG_BF16, avx = ig__cpu_has_avx512();
    const int yk = ig__v_kind(yb);
    const float *g = gamma ? gamma->data : NULL, *bt = beta ? beta->data : NULL;
#pragma omp parallel for schedule(static) if (rows * C > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const char *xr = (const char *)x->data + (size_t)row_offset(x, r) * ig__esz(xb);
        char *yr = (char *)y->data + (size_t)row_offset(y, r) * ig__esz(yb);
        if (avx) ln_row_avx(xr, xb, yr, yk, C, eps, g, bt, r + 1 < rows ? (const char *)x->data + (size_t)row_offset(x, r + 1) * ig__esz(xb) : NULL,
                            r + 1 < rows ? (const char *)y->data + (size_t)row_offset(y, r + 1) * ig__esz(yb) : NULL);
        else ln_row_scalar(xr, xb, yr, yb, C, eps, g, bt);
    }
    return IG_OK;
}

/* Three passes over a row that sits in L1: max; exp, summed (blocks of LN_BLOCK vectors in f32, then
 * double) and stored; scaled by 1/sum. exp goes to y when y is f32, else to a per-thread f32 row
 * buffer (rows longer than SM_BUF recompute exp in the last pass instead), so a bf16 y is rounded once. */
#define SM_BUF 16384

IG_AVX512 static void sm_row_avx(const void *x, bool xb, void *y, int yk, int64_t C, float scale, const char *xnext,
                                 const char *ynext) {
    float buf[yk == IG_V_F32 || C > SM_BUF ? 1 : C];
    float *e = yk == IG_V_F32 ? (float *)y : C <= SM_BUF ? buf : NULL;
    const __m512 s = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = ig__v_tail(C - c);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_mul_ps(ig__v_maskld(x, c, xb, m), s));
    }
    const __m512 nmax = _mm512_set1_ps(-_mm512_reduce_max_ps(mx));
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t c0 = 0; c0 < C; c0 += 16 * LN_BLOCK) {
        __m512 sum = _mm512_setzero_ps();
        for (int64_t c = c0; c < IG_MIN(C, c0 + 16 * LN_BLOCK); c += 16) {
            const __mmask16 m = ig__v_tail(C - c);
            const __m512 ev = _mm512_maskz_mov_ps(m, ig__v_exp(_mm512_fmadd_ps(ig__v_maskld(x, c, xb, m), s, nmax)));
            sum = _mm512_add_ps(sum, ev);
            if (e) _mm512_mask_storeu_ps(e + c, m, ev);
            prefetch(xnext, (size_t)c * ig__esz(xb));
        }
        ig__v_acc_pd(&lo, &hi, sum);
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(lo, hi))));
    for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = ig__v_tail(C - c);
        const __m512 ev = e ? _mm512_maskz_loadu_ps(m, e + c) : ig__v_exp(_mm512_fmadd_ps(ig__v_maskld(x, c, xb, m), s, nmax));
        prefetch(ynext, (size_t)c * (yk == IG_V_F32 ? 4 : 2));
        ig__v_maskst(y, c, yk, m, _mm512_mul_ps(ev, inv));
    }
}

static void sm_row_scalar(const void *x, bool xb, void *y, bool yb, int64_t C, float scale) {
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = fmaxf(mx, scale * ig__ldf(x, c, xb));
    double sum = 0;
    for (int64_t c = 0; c < C; c++) sum += expf(fmaf(ig__ldf(x, c, xb), scale, -mx));
    const float inv = (float)(1.0 / sum);
    for (int64_t c = 0; c < C; c++) ig__stf(y, c, yb, expf(fmaf(ig__ldf(x, c, xb), scale, -mx)) * inv);
}

ig_status ig__cpu_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y) {
    if (!rows_ok(x) || !rows_ok(y)) return ig__ref_softmax(e, x, scale, y);
    const int64_t C = x->ne[x->n_dims - 1];
    if (C == 0) return IG_OK;
    const int64_t rows = ig_tensor_nelem(x) / C;
    const bool xb = x->dtype == IG_BF16, yb = y->dtype == IG_BF16, avx = ig__cpu_has_avx512();
    const int yk = ig__v_kind(yb);
#pragma omp parallel for schedule(static) if (rows * C > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const char *xr = (const char *)x->data + (size_t)row_offset(x, r) * ig__esz(xb);
        char *yr = (char *)y->data + (size_t)row_offset(y, r) * ig__esz(yb);
        if (avx) sm_row_avx(xr, xb, yr, yk, C, scale, r + 1 < rows ? (const char *)x->data + (size_t)row_offset(x, r + 1) * ig__esz(xb) : NULL,
                            r + 1 < rows ? (const char *)y->data + (size_t)row_offset(y, r + 1) * ig__esz(yb) : NULL);
        else sm_row_scalar(xr, xb, yr, yb, C, scale);
    }
    return IG_OK;
}
