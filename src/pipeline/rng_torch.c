/* rng_torch.c — see rng_torch.h. Written from torch 1.13's sources (aten/src/ATen/core/
 * MT19937RNGEngine.h, CPUGeneratorImpl.cpp, DistributionsHelper.h, TransformationHelper.h,
 * native/cpu/DistributionTemplates.h, native/cpu/avx_mathfun.h) and checked bit for bit against
 * ../shared/golden rng_* files (tests/unit/test_rng.c).
 *
 * Rounding is the point of this file: every float operation below is one float32 operation of
 * torch's AVX2 kernel, and fmaf() marks exactly the multiply-adds that the compiler of torch's
 * AVX2 kernels fused (GCC contracts a*b+c into vfmadd under -mfma; which pairs were fused was
 * established against the golden files: every Horner step, y*z + e*q1 in log, the Cody-Waite
 * reduction and both polynomials in sincos). The rest must stay unfused: this file relies on
 * -std=c11, under which GCC does not contract (-ffp-contract=off); the golden test catches a
 * build that does. */
#include "pipeline/rng_torch.h"

#include <math.h>
#include <string.h>

#include "common.h"

/* ---- engine: at::mt19937 ------------------------------------------------------------------ */

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UMASK 0x80000000u
#define MT_LMASK 0x7fffffffu

void ig_rng_torch_seed(ig_rng_torch *g, uint64_t seed) {
    /* CPUGeneratorImpl::set_current_seed: drop both cached normals, engine_ = mt19937(seed) */
    g->seed = seed;
    g->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < IG_MT_N; j++)
        g->state[j] = 1812433253u * (g->state[j - 1] ^ (g->state[j - 1] >> 30)) + (uint32_t)j;
    g->left = 1;
    g->next = 0;
    g->has_next_normal = false;
    g->next_normal = 0;
}

static inline uint32_t twist(uint32_t u, uint32_t v) {
    return (((u & MT_UMASK) | (v & MT_LMASK)) >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

static void next_state(ig_rng_torch *g) {
    uint32_t *p = g->state;
    g->left = IG_MT_N;
    g->next = 0;
    for (int j = IG_MT_N - MT_M; j > 0; j--, p++) *p = p[MT_M] ^ twist(p[0], p[1]);
    for (int j = MT_M - 1; j > 0; j--, p++) *p = p[MT_M - IG_MT_N] ^ twist(p[0], p[1]);
    *p = p[MT_M - IG_MT_N] ^ twist(p[0], g->state[0]);
}

uint32_t ig_rng_torch_u32(ig_rng_torch *g) {
    if (--g->left == 0) next_state(g);
    uint32_t y = g->state[g->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t ig_rng_torch_u64(ig_rng_torch *g) {
    uint32_t hi = ig_rng_torch_u32(g); /* detail::make64BitsFrom32Bits(random1, random2) */
    uint32_t lo = ig_rng_torch_u32(g);
    return ((uint64_t)hi << 32) | lo;
}

/* uniform_real_distribution<float>(0, 1): the low 24 bits of one output, times 2^-24 (exact). */
static inline float uniform_f32(ig_rng_torch *g) {
    return (float)(ig_rng_torch_u32(g) & 0xffffffu) * 0x1.0p-24f;
}

/* uniform_real_distribution<double>(0, 1): the low 53 bits of random64, times 2^-53 (exact). */
static inline double uniform_f64(ig_rng_torch *g) {
    return (double)(ig_rng_torch_u64(g) & ((UINT64_C(1) << 53) - 1)) * 0x1.0p-53;
}

/* ---- the n >= 16 path: normal_fill_AVX2, one lane at a time ------------------------------ */

static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* log256_ps for one lane; x is 1 - uniform, in [2^-24, 1], so the denormal cut-off and the NaN
 * mask for x <= 0 never apply. */
static float avx_log(float x) {
    uint32_t bits = f2u(x);
    float e = (float)((int32_t)(bits >> 23) - 0x7f);
    x = u2f((bits & ~0x7f800000u) | f2u(0.5f)); /* mantissa in [0.5, 1) */
    e = e + 1.0f;
    bool small = x < 0.707106781186547524f; /* cephes_SQRTHF */
    float tmp = small ? x : 0.0f;
    x = x - 1.0f;
    e = e - (small ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    y = fmaf(y, z, e * -2.12194440e-4f); /* y*z + e*q1, fused on the y*z side */
    y = y - z * 0.5f;
    x = x + y;
    x = x + e * 0.693359375f;
    return x;
}

/* sincos256_ps for one lane; x = 2*pi*u2 is in [0, 2*pi), so the sign of x is always +. */
static void avx_sincos(float x, float *s, float *c) {
    float y = x * 1.27323954473516f; /* 4/pi */
    int32_t j = (int32_t)y;          /* cvttps: truncation */
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t sign_sin = (uint32_t)(j & 4) << 29;
    uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
    bool poly_is_sin = (j & 2) == 0;
    /* extended precision modular arithmetic: x = ((x - y*DP1) - y*DP2) - y*DP3 */
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = fmaf(yc, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = fmaf(ys, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    /* the select, written as the kernel's and/andnot/sub/add so that signed zeros come out alike */
    float ysin2 = poly_is_sin ? ys : 0.0f;
    float ysin1 = poly_is_sin ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    *s = u2f(f2u(ysin1 + ysin2) ^ sign_sin);
    *c = u2f(f2u(yc + ys) ^ sign_cos);
}

/* normal_fill_16_AVX2 with mean 0, std 1: (u1, u2) = (d[j], d[j+8]) -> (d[j], d[j+8]). */
static void normal_fill_16(float *d) {
    const float two_pi = (float)(2.0 * 3.14159265358979323846); /* _mm256_set1_ps(2.0f * pi<double>) */
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * avx_log(u1));
        float theta = two_pi * u2;
        float sn, cs;
        avx_sincos(theta, &sn, &cs);
        d[j] = radius * cs + 0.0f; /* fmadd(n, std = 1, mean = 0): turns -0 into +0 */
        d[j + 8] = radius * sn + 0.0f;
    }
}

/* ---- the n < 16 path: at::normal_distribution<double> -------------------------------------- */

static double normal_f64(ig_rng_torch *g) {
    double ret;
    if (g->has_next_normal) {
        g->has_next_normal = false;
        ret = g->next_normal;
    } else {
        double u1 = uniform_f64(g);
        double u2 = uniform_f64(g);
        double r = sqrt(-2.0 * log(1.0 - u2));
        double theta = 2.0 * 3.14159265358979323846 * u1;
        g->next_normal = r * sin(theta);
        g->has_next_normal = true;
        ret = r * cos(theta);
    }
    return ret * 1.0 + 0.0; /* transformation::normal(ret, mean, std) */
}

void ig_rng_torch_randn(ig_rng_torch *g, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_f64(g);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(g);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16 != 0) { /* recompute the last 16 from fresh uniforms */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(g);
        normal_fill_16(tail);
    }
}

void ig_rng_torch_skip_randn(ig_rng_torch *g, size_t n) {
    if (n < 16) { /* the values matter here: an odd count leaves one cached for later */
        for (size_t i = 0; i < n; i++) (void)normal_f64(g);
        return;
    }
    size_t draws = n + (n % 16 != 0 ? 16 : 0);
    for (size_t i = 0; i < draws; i++) (void)ig_rng_torch_u32(g);
}
