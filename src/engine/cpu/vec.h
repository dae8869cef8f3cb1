/* vec.h — AVX-512 helpers shared by our own CPU kernels (norms, elementwise ops, attention):
 * bf16 <-> f32 loads and stores and a fast exp. Every function is static inline and carries its
 * own target attribute, so a file including this needs no -m flags; callers pick the AVX-512 path
 * at run time with ig__cpu_has_avx512() and keep a scalar path beside it.
 *
 * Accuracy: ig__v_exp has relative error <= 2.3e-7 (about 2 ulp) on [-87, 88] (degree-6 polynomial on
 * |r| <= ln2/2, Cody-Waite range reduction; measured against exp() in double). Inputs are clamped to
 * [-87.4, 88.8]: below, the result is ~1.1e-38 rather than 0; above, +inf; NaN is not propagated. */
#ifndef IG_CPU_VEC_H
#define IG_CPU_VEC_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define IG_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

static inline bool ig__cpu_has_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

/* 16 bf16 -> 16 f32 (exact). */
IG_AVX512 static inline __m512 ig__v_load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
IG_AVX512 static inline __m512 ig__v_maskload_bf16(const uint16_t *p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
/* 16 f32 -> 16 bf16, round to nearest even (same as ig_f32_to_bf16; NaN kept quiet). */
IG_AVX512 static inline __m256i ig__v_cvt_bf16(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(r);
}
IG_AVX512 static inline void ig__v_store_bf16(uint16_t *p, __m512 v) {
    _mm256_storeu_si256((__m256i *)p, ig__v_cvt_bf16(v));
}
IG_AVX512 static inline void ig__v_maskstore_bf16(uint16_t *p, __mmask16 m, __m512 v) {
    _mm256_mask_storeu_epi16(p, m, ig__v_cvt_bf16(v));
}

/* exp(x) for 16 floats. */
IG_AVX512 static inline __m512 ig__v_exp(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.4f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.8f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n); /* p * 2^n, exact, handles under/overflow */
}

/* ---- dtype-generic loads and stores: element i of a row that is bf16 (bf16 = true) or f32. ---- */
IG_AVX512 static inline __m512 ig__v_ld(const void *base, int64_t i, bool bf16) {
    return bf16 ? ig__v_load_bf16((const uint16_t *)base + i) : _mm512_loadu_ps((const float *)base + i);
}
IG_AVX512 static inline __m512 ig__v_maskld(const void *base, int64_t i, bool bf16, __mmask16 m) {
    return bf16 ? ig__v_maskload_bf16((const uint16_t *)base + i, m) : _mm512_maskz_loadu_ps(m, (const float *)base + i);
}
IG_AVX512 static inline void ig__v_st(void *base, int64_t i, bool bf16, __m512 v) {
    if (bf16) ig__v_store_bf16((uint16_t *)base + i, v);
    else _mm512_storeu_ps((float *)base + i, v);
}
IG_AVX512 static inline void ig__v_maskst(void *base, int64_t i, bool bf16, __mmask16 m, __m512 v) {
    if (bf16) ig__v_maskstore_bf16((uint16_t *)base + i, m, v);
    else _mm512_mask_storeu_ps((float *)base + i, m, v);
}
/* Mask of the first n lanes (n < 16 for a tail; n >= 16 gives all lanes). */
static inline __mmask16 ig__v_tail(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* Add 16 floats into two double accumulators (lanes 0-7 and 8-15): for reductions in double. */
IG_AVX512 static inline void ig__v_acc_pd(__m512d *lo, __m512d *hi, __m512 v) {
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}
/* Add v*v into two double accumulators (squares formed in double, so exact). */
IG_AVX512 static inline void ig__v_acc_sq_pd(__m512d *lo, __m512d *hi, __m512 v) {
    __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    *lo = _mm512_fmadd_pd(a, a, *lo);
    *hi = _mm512_fmadd_pd(b, b, *hi);
}

/* ---- vector math on top of ig__v_exp. Errors measured against libm in double (tests/unit/test_ops.c
 * checks them): sigmoid, silu, quick-gelu, gelu-tanh <= ~5e-7 relative; tanh <= ~6e-7 relative;
 * erf, erfc, gelu-erf <= ~3e-7 relative (erfc relative even deep in the tail, so gelu(x) for
 * negative x keeps its relative accuracy instead of cancelling in 1 + erf). ---- */

/* 1 / (1 + exp(-x)). Large |x| saturates cleanly: exp(-x) -> inf gives 0, exp(-x) -> ~0 gives 1.
 * A true division, not rcp14 + Newton: rcp14(inf) then Newton makes NaN, and the op stays memory bound. */
IG_AVX512 static inline __m512 ig__v_sigmoid(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, ig__v_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
/* SiLU x * sigmoid(x) (torch.nn.functional.silu). */
IG_AVX512 static inline __m512 ig__v_silu(__m512 x) { return _mm512_mul_ps(x, ig__v_sigmoid(x)); }
/* x * sigmoid(1.702 x): CLIP's quick_gelu. */
IG_AVX512 static inline __m512 ig__v_quick_gelu(__m512 x) {
    return _mm512_mul_ps(x, ig__v_sigmoid(_mm512_mul_ps(x, _mm512_set1_ps(1.702f))));
}

/* tanh: odd Taylor series through u^15 for |u| < 0.4 (truncation < 1e-10 relative), else
 * 1 - 2 / (1 + exp(2|u|)) with the sign put back (absolute error ~2e-7 where |tanh| >= 0.38). */
IG_AVX512 static inline __m512 ig__v_tanh(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 a = _mm512_andnot_ps(sign, x);
    __m512 s = _mm512_and_ps(sign, x);
    __m512 u2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-929569.0f / 638512875.0f);
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(21844.0f / 6081075.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(-1382.0f / 155925.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(62.0f / 2835.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(-17.0f / 315.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(2.0f / 15.0f));
    p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(-1.0f / 3.0f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, u2), x, x);
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = ig__v_exp(_mm512_add_ps(a, a));
    __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, e)));
    big = _mm512_or_ps(big, s);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.4f), _CMP_LT_OQ), big, small);
}

/* erfc(z) for z >= 0: Numerical Recipes' erfcc (Chebyshev fit, fractional error < 1.2e-7 for all z >= 0):
 * t = 1 / (1 + z/2), erfc = t exp(-z^2 + P(t)). z^2 is carried as a rounded square plus its exact
 * error (fma), so the exponent does not lose ~z^2 * 6e-8 to rounding. */
IG_AVX512 static inline __m512 ig__v_erfc_pos(__m512 z) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), one));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    __m512 zz = _mm512_mul_ps(z, z);
    __m512 zz_err = _mm512_fmsub_ps(z, z, zz); /* z*z - zz, exact */
    __m512 arg = _mm512_sub_ps(_mm512_sub_ps(p, zz), zz_err);
    return _mm512_mul_ps(t, ig__v_exp(arg));
}
/* erf: odd Taylor series through z^15 for |z| < 0.5 (keeps relative accuracy near 0, where
 * 1 - erfc cancels), else sign(z) (1 - erfc(|z|)). */
IG_AVX512 static inline __m512 ig__v_erf(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 a = _mm512_andnot_ps(sign, x);
    __m512 z2 = _mm512_mul_ps(x, x);
    /* 2/sqrt(pi) * sum (-1)^k z^(2k+1) / (k! (2k+1)) */
    __m512 p = _mm512_set1_ps(-1.0f / 75600.0f);
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.0f / 9360.0f));
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-1.0f / 1320.0f));
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.0f / 216.0f));
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-1.0f / 42.0f));
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.0f / 10.0f));
    p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-1.0f / 3.0f));
    __m512 small = _mm512_mul_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, z2), x, x), _mm512_set1_ps(1.12837916709551257f));
    __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), ig__v_erfc_pos(a));
    big = _mm512_or_ps(big, _mm512_and_ps(sign, x));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.5f), _CMP_LT_OQ), big, small);
}
/* GELU (erf form, torch approximate='none'): x * Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2, taken as
 * 1 - erfc(|x|/sqrt 2)/2 for x >= 0 and erfc(|x|/sqrt 2)/2 for x < 0, so the negative side keeps
 * erfc's relative accuracy instead of 1 + erf(x) cancelling. */
IG_AVX512 static inline __m512 ig__v_gelu_erf(__m512 x) {
    __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
    __m512 h = _mm512_mul_ps(ig__v_erfc_pos(_mm512_mul_ps(a, _mm512_set1_ps(0.70710678118654752f))),
                             _mm512_set1_ps(0.5f));
    __m512 phi = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
                                      _mm512_sub_ps(_mm512_set1_ps(1.0f), h), h);
    return _mm512_mul_ps(x, phi);
}
/* GELU, tanh form (torch approximate='tanh'): 0.5 x (1 + tanh(u)) = x * sigmoid(2u) exactly,
 * u = sqrt(2/pi) (x + 0.044715 x^3); the sigmoid form does not cancel for negative x. */
IG_AVX512 static inline __m512 ig__v_gelu_tanh(__m512 x) {
    __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    __m512 u2 = _mm512_mul_ps(_mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x),
                              _mm512_set1_ps(2.0f * 0.79788456080286536f));
    return _mm512_mul_ps(x, ig__v_sigmoid(u2));
}

#endif
