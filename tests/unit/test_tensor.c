/* test_tensor.c — tensor views, layouts and dtype conversions, and the arena.
 * Conversions are checked exhaustively where the domain is small (all 65536 f16 / bf16 patterns)
 * and against independent oracles elsewhere: bf16 rounding against a float64 computation of
 * round-to-nearest-even, f16 against the CPU's own F16C instruction when present. */
#include <immintrin.h>
#include <string.h>

#include "engine/arena.h"
#include "engine/engine.h"
#include "engine/tensor.h"
#include "test.h"

/* Round-to-nearest-even of f to 8 mantissa bits, computed in double: the two neighbours, then the
 * nearer one (the even one on a tie). */
static float bf16_oracle(float f) {
    if (isnan(f) || isinf(f) || f == 0) return f;
    int ex;
    frexp((double)f, &ex);                       /* f = m 2^ex, 0.5 <= |m| < 1 */
    double ulp = fmax(ldexp(1.0, ex - 8), 0x1p-133); /* 8 significant bits; subnormals: fixed 2^-133 */
    double lo = floor((double)f / ulp) * ulp, hi = lo + ulp;
    double d_lo = (double)f - lo, d_hi = hi - (double)f;
    if (d_lo < d_hi) return (float)lo;
    if (d_hi < d_lo) return (float)hi;
    return fmod(lo / ulp, 2.0) == 0 ? (float)lo : (float)hi;
}

__attribute__((target("f16c"))) static uint16_t f16c_from_f32(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("f16c"))) static float f16c_to_f32(uint16_t h) { return _cvtsh_ss(h); }

static void test_conversions(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) { /* bf16 -> f32 -> bf16 is the identity on non-NaN */
        float f = ig_bf16_to_f32((uint16_t)h);
        if (!isnan(f) && ig_f32_to_bf16(f) != h) bad++;
        if (isnan(f) && !isnan(ig_bf16_to_f32(ig_f32_to_bf16(f)))) bad++;
    }
    CHECK(bad == 0);
    bad = 0;
    for (int i = 0; i < 2000000; i++) {
        union { uint32_t u; float f; } v = {(uint32_t)(test_uniform() * 4294967296.0)};
        if (isnan(v.f)) continue;
        float got = ig_bf16_to_f32(ig_f32_to_bf16(v.f)), want = bf16_oracle(v.f);
        /* Values rounding past the largest bf16 overflow to inf in both. */
        if (got != want && !(isinf(got) && fabsf(want) >= 3.389e38f)) {
            if (bad++ < 3) fprintf(stderr, "bf16(%.9g) = %.9g, want %.9g\n", v.f, got, want);
        }
    }
    CHECK(bad == 0);
    /* Ties round to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7. */
    CHECK(ig_bf16_to_f32(ig_f32_to_bf16(1.0f + 0x1p-8f)) == 1.0f);
    CHECK(ig_bf16_to_f32(ig_f32_to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);

    if (__builtin_cpu_supports("f16c")) {
        bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float a = ig_f16_to_f32((uint16_t)h), b = f16c_to_f32((uint16_t)h);
            if (!(a == b || (isnan(a) && isnan(b)))) bad++;
        }
        CHECK(bad == 0);
        bad = 0;
        for (int i = 0; i < 2000000; i++) {
            union { uint32_t u; float f; } v = {(uint32_t)(test_uniform() * 4294967296.0)};
            if (i & 1) v.f = test_randf(-70000, 70000) * (float)pow(2, -(double)(i % 40)); /* dense near f16 range */
            uint16_t a = ig_f32_to_f16(v.f), b = f16c_from_f32(v.f);
            if (a != b && !(isnan(v.f) && (a & 0x7c00) == 0x7c00 && (a & 0x3ff))) {
                if (bad++ < 3) fprintf(stderr, "f16(%.9g) = %04x, F16C %04x\n", v.f, a, b);
            }
        }
        CHECK(bad == 0);
    } else {
        printf("  no F16C on this CPU: f16 checked by round trip only\n");
        for (uint32_t h = 0; h < 0x7c00; h++) CHECK(ig_f32_to_f16(ig_f16_to_f32((uint16_t)h)) == h);
    }
}

static void test_layouts(void) {
    float buf[2 * 3 * 4 * 5];
    ig_tensor t = ig_tensor_nhwc(IG_F32, 2, 3, 4, 5, buf);
    CHECK(ig_tensor_is_nhwc(&t));
    CHECK(!ig_tensor_is_contiguous(&t));
    CHECK(ig_tensor_nbytes(&t) == sizeof buf);
    int64_t idx[4] = {1, 2, 3, 4};
    CHECK(ig_tensor_offset(&t, idx) == ((1 * 4 + 3) * 5 + 4) * 3 + 2);
    int64_t ne[4] = {2, 3, 4, 5};
    ig_tensor p = ig_tensor_plain(IG_F32, 4, ne, NULL);
    CHECK(ig_tensor_is_contiguous(&p) && !ig_tensor_is_nhwc(&p));
    /* copy NCHW f32 -> NHWC bf16 -> NCHW f32: values survive up to bf16 rounding, positions exactly */
    float src[120], back[120];
    uint16_t mid[120];
    for (int i = 0; i < 120; i++) src[i] = test_randf(-3, 3);
    p.data = src;
    ig_tensor m = ig_tensor_nhwc(IG_BF16, 2, 3, 4, 5, mid), b = ig_tensor_plain(IG_F32, 4, ne, back);
    ig_tensor_copy(&m, &p);
    ig_tensor_copy(&b, &m);
    int bad = 0;
    for (int i = 0; i < 120; i++) bad += back[i] != ig_bf16_to_f32(ig_f32_to_bf16(src[i]));
    CHECK(bad == 0);
    char d[64];
    CHECK(strcmp(ig_tensor_describe(&m, d, sizeof d), "(2, 3, 4, 5) bf16 nhwc") == 0);
}

/* dense_alike: the same bytes whatever the layout, so a copy between them may be one memmove. */
static void test_dense_alike(void) {
    int64_t ne[4] = {2, 3, 4, 5};
    ig_tensor p = ig_tensor_plain(IG_F32, 4, ne, NULL), n = ig_tensor_nhwc(IG_F32, 2, 3, 4, 5, NULL);
    CHECK(ig_tensor_dense_alike(&p, &p) && ig_tensor_dense_alike(&n, &n) && !ig_tensor_dense_alike(&p, &n));
    ig_tensor s = n; /* a channel slice of NHWC: strided, not dense */
    s.ne[1] = 2;
    CHECK(!ig_tensor_dense_alike(&s, &s));
    ig_tensor one = ig_tensor_nhwc(IG_F32, 1, 3, 1, 1, NULL), onep = ig_tensor_plain(IG_F32, 4, (int64_t[]){1, 3, 1, 1}, NULL);
    CHECK(ig_tensor_dense_alike(&one, &onep)); /* strides of size-1 dims do not matter */
    ig_tensor q = ig_tensor_plain(IG_F32, 4, (int64_t[]){2, 3, 5, 4}, NULL);
    CHECK(!ig_tensor_dense_alike(&p, &q)); /* another shape */
}

/* The arena's block comes from the engine's backend and goes back to it. */
static void test_arena(void) {
    ig_arena a = {0};
    ig_err err = {0};
    ig_engine *e = NULL;
    CHECK(ig_engine_create(&e, "ref", IG_PRECISION_F32, &err) == IG_OK);
    if (!e) return;
    ig_arena_begin_dry(&a);
    ig_tensor t1 = ig_arena_nhwc(&a, IG_F32, 1, 3, 5, 7);
    size_t m = ig_arena_mark(&a);
    ig_tensor t2 = ig_arena_nhwc(&a, IG_BF16, 2, 8, 8, 8);
    ig_arena_reset(&a, m);
    ig_tensor t3 = ig_arena_nhwc(&a, IG_F32, 1, 1, 1, 1);
    CHECK(t1.data == NULL && t2.data == NULL && t3.data == NULL); /* dry: counted only */
    CHECK(a.peak == 448 + 2 * 8 * 8 * 8 * 2);                  /* 105 floats rounded up to 64 B, then 2 KiB */
    CHECK(ig_arena_commit(&a, e, &err) == IG_OK && a.eng == e);
    t1 = ig_arena_nhwc(&a, IG_F32, 1, 3, 5, 7);
    m = ig_arena_mark(&a);
    t2 = ig_arena_nhwc(&a, IG_BF16, 2, 8, 8, 8);
    CHECK(t1.data && t2.data && ((uintptr_t)t2.data & 63) == 0);
    memset(t2.data, 1, 2048);
    CHECK(ig_arena_alloc(&a, 1) == NULL); /* beyond the dry run's peak: refused, not overrun */
    ig_arena_reset(&a, m);
    CHECK(ig_arena_alloc(&a, 1) == t2.data);
    ig_arena_free(&a);
    ig_arena_free(&a); /* a freed arena is zeroed: freeing again is harmless */
    ig_engine_free(e);
}

int main(void) {
    test_seed();
    test_conversions();
    test_layouts();
    test_dense_alike();
    test_arena();
    return test_finish("test_tensor");
}
