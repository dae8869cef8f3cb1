/* vec.h — AVX-512 helpers shared by our own CPU kernels (norms, elementwise ops, attention):
 * bf16 <-> f32 loads and stores (software rounding, or the AVX512_BF16 instruction where
 * ig__cpu_has_avx512bf16()), dtype-generic loads/stores for kernels that take f32 or bf16, double
 * accumulation helpers, and vector math: exp, reciprocal, sigmoid, SiLU, tanh, erf/erfc, the GELUs.
 * Every function is static inline and carries its own target attribute, so a file including this
 * needs no -m flags; callers pick the AVX-512 path at run time with ig__cpu_has_avx512() and keep a
 * scalar path beside it (ig__ldf/ig__stf for its element access).
 *
 * Accuracy: ig__v_exp has relative error <= 2.3e-7 (about 2 ulp) on [-87, 88] (degree-6 polynomial on
 * |r| <= ln2/2, Cody-Waite range reduction; measured against exp() in double). Inputs are clamped to
 * [-87.4, 88.8]: below, the result is ~1.1e-38 rather than 0; above, +inf; NaN is not propagated. */
#ifndef IG_CPU_VEC_H
#define IG_CPU_VEC_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "../tensor.h"

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

/* ---- scalar element access for the scalar paths: element i of a bf16 (bf16 = true) or f32 row ---- */
static inline size_t ig__esz(bool bf16) { return bf16 ? 2 : 4; }
static inline float ig__ldf(const void *p, int64_t i, bool bf16) {
    return bf16 ? ig_bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}
static inline void ig__stf(void *p, int64_t i, bool bf16, float v) {
    if (bf16) ((uint16_t *)p)[i] = ig_f32_to_bf16(v);
    else ((float *)p)[i] = v;
}

/* ---- dtype-generic loads (element i of a bf16 (bf16 = true) or f32 row) and stores ---- */
IG_AVX512 static inline __m512 ig__v_ld(const void *base, int64_t i, bool bf16) {
    return bf16 ? ig__v_load_bf16((const uint16_t *)base + i) : _mm512_loadu_ps((const float *)base + i);
}
IG_AVX512 static inline __m512 ig__v_maskld(const void *base, int64_t i, bool bf16, __mmask16 m) {
    return bf16 ? ig__v_maskload_bf16((const uint16_t *)base + i, m) : _mm512_maskz_loadu_ps(m, (const float *)base + i);
}
/* bf16 stores come in two kinds: rounded in software (ig__v_cvt_bf16, any AVX-512 CPU) or by the
 * AVX512_BF16 instruction vcvtneps2bf16 (Cooper Lake, Sapphire Rapids, Zen 4): one instruction
 * instead of ~10, same round-to-nearest-even, NaN kept quiet, but f32 denormal inputs become zero.
 * The instruction is emitted with inline asm so this file needs no avx512bf16 target (binutils
 * >= 2.33 assembles it); only call it where ig__cpu_has_avx512bf16(). */
static inline bool ig__cpu_has_avx512bf16(void) { return __builtin_cpu_supports("avx512bf16"); }
IG_AVX512 static inline __m256i ig__v_cvt_bf16_hw(__m512 v) {
    __m256i r;
    __asm__("vcvtneps2bf16 %1, %0" : "=v"(r) : "v"(v));
    return r;
}
/* What a dtype-generic store writes: f32, bf16 (software rounding) or bf16 (hardware rounding). */
enum { IG_V_F32 = 0, IG_V_BF16 = 1, IG_V_BF16_HW = 2 };
static inline int ig__v_kind(bool bf16) {
    return !bf16 ? IG_V_F32 : ig__cpu_has_avx512bf16() ? IG_V_BF16_HW : IG_V_BF16;
}
IG_AVX512 static inline void ig__v_st(void *base, int64_t i, int kind, __m512 v) {
    if (kind == IG_V_F32) _mm512_storeu_ps((float *)base + i, v);
    else _mm256_storeu_si256((__m256i *)((uint16_t *)base + i), kind == IG_V_BF16_HW ? ig__v_cvt_bf16_hw(v) : ig__v_cvt_bf16(v));
}
IG_AVX512 static inline void ig__v_maskst(void *base, int64_t i, int kind, __mmask16 m, __m512 v) {
    if (kind == IG_V_F32) _mm512_mask_storeu_ps((float *)base + i, m, v);
    else _mm256_mask_storeu_epi16((uint16_t *)base + i, m, kind == IG_V_BF16_HW ? ig__v_cvt_bf16_hw(v) : ig__v_cvt_bf16(v));
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

/* ---- vector math on top of ig__v_exp. Errors against libm in double, measured by
 * tests/unit/test_ops.c over [-30, 30] and near 0: exp, sigmoid, tanh, erf, silu <= ~3e-7 relative.
 * GELUs and quick-GELU are <= ~1e-6 relative where |f(x)| > 1e-4 (gelu-tanh ~1.5e-6: its cubic inner
 * argument is rounded four times in f32, as in torch); deeper in the negative tail the
 * relative error grows like |arg| * 6e-8 (rounding of an exponent argument of size |arg|, as in
 * torch's own f32 code), while the absolute error stays below 1e-10. erfc is evaluated directly for
 * the negative side of gelu(x), so it never cancels in 1 + erf(x). ---- */

/* 1 / d for 16 floats: rcp14 plus one Newton step (~1 ulp; no vdivps, which costs 10+ cycles per
 * vector). Only for d whose reciprocal is a normal float (rcp14(inf) = 0 would make the step NaN). */
IG_AVX512 static inline __m512 ig__v_rcp(__m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}
/* 1 / (1 + exp(-x)), as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0 with e = exp(-|x|) in
 * (0, 1]: the denominator stays in [1, 2], so nothing overflows. For x < -87 the result is ~1e-38
 * (exp's clamp) rather than underflowing further; NaN is not propagated here (silu and the GELUs
 * multiply by x, which does). */
IG_AVX512 static inline __m512 ig__v_sigmoid(__m512 x) {
    __m512 e = ig__v_exp(_mm512_or_ps(x, _mm512_set1_ps(-0.0f))); /* exp(-|x|) */
    __m512 r = ig__v_rcp(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
    return _mm512_mask_mul_ps(r, _mm512_movepi32_mask(_mm512_castps_si512(x)), e, r);
}
/* SiLU x * sigmoid(x) (torch.nn.functional.silu). */
IG_AVX512 static inline __m512 ig__v_silu(__m512 x) { return _mm512_mul_ps(x, ig__v_sigmoid(x)); }
/* x * sigmoid(1.702 x): CLIP's quick_gelu. */
IG_AVX512 static inline __m512 ig__v_quick_gelu(__m512 x) {
    return _mm512_mul_ps(x, ig__v_sigmoid(_mm512_mul_ps(x, _mm512_set1_ps(1.702f))));
}

/* tanh: odd Taylor series through u^15 for |u| < 0.4 (truncation < 1e-10 relative), else
 * (1 - e) / (1 + e), e = exp(-2|u|), with the sign put back (absolute error ~2e-7 where |tanh| >= 0.38). */
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
    __m512 e = ig__v_exp(_mm512_mul_ps(a, _mm512_set1_ps(-2.0f))); /* in (0, 0.45] where this is used */
    __m512 big = _mm512_mul_ps(_mm512_sub_ps(one, e), ig__v_rcp(_mm512_add_ps(one, e)));
    big = _mm512_or_ps(big, s);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.4f), _CMP_LT_OQ), big, small);
}

/* erfc(z) for z >= 0 (NaN -> garbage, callers multiply by x): Numerical Recipes' erfcc (Chebyshev fit, fractional error < 1.2e-7 for all z >= 0):
 * t = 1 / (1 + z/2), erfc = t exp(-z^2 + P(t)), with z^2 given as zz + zz_err (zz_err the exact
 * rounding error of zz), so what remains is the rounding of the exponent, ~z^2 * 6e-8 relative. */
IG_AVX512 static inline __m512 ig__v_erfc_pos_zz(__m512 z, __m512 zz, __m512 zz_err) {
    const __m512 one = _mm512_set1_ps(1.0f);
    /* z capped at 1e4 (erfc is 0 in f32 long before) so 1 + z/2 has a normal reciprocal */
    __m512 t = ig__v_rcp(_mm512_fmadd_ps(_mm512_min_ps(z, _mm512_set1_ps(1e4f)), _mm512_set1_ps(0.5f), one));
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
    return _mm512_mul_ps(t, ig__v_exp(_mm512_sub_ps(_mm512_sub_ps(p, zz), zz_err)));
}
IG_AVX512 static inline __m512 ig__v_erfc_pos(__m512 z) {
    __m512 zz = _mm512_mul_ps(z, z);
    return ig__v_erfc_pos_zz(z, zz, _mm512_fmsub_ps(z, z, zz));
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
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 a = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
    __m512 xx = _mm512_mul_ps(x, x); /* z^2 = x^2 / 2 taken from x, not from the rounded z */
    __m512 zz = _mm512_mul_ps(xx, half), zz_err = _mm512_mul_ps(_mm512_fmsub_ps(x, x, xx), half);
    __m512 h = _mm512_mul_ps(ig__v_erfc_pos_zz(_mm512_mul_ps(a, _mm512_set1_ps(0.70710678118654752f)), zz, zz_err), half);
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
