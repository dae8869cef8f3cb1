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

#endif
