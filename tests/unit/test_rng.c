/* test_rng.c — pipeline/rng_torch against torch itself: the golden rng_* files of ../shared/golden
 * (torch.randn(shape, generator=torch.Generator('cpu').manual_seed(S)), torch 1.13 CPU) must come
 * out bit for bit, tolerance 0. Then continuation, which the golden files pin down only through
 * torch's algorithm (rng_torch.h): the n >= 16 path maps each 16-chunk of uniforms to 16 outputs,
 * so calls whose sizes are multiples of 16 concatenate into one call's stream; a call whose size is
 * not takes 16 extra uniforms for its tail; the n < 16 path carries a cached value between calls. */
#include "pipeline/rng_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "test.h"

static float *read_f32(const char *set, const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/%s/cases/%s.bin", test_shared_dir(), set, name);
    FILE *fp = fopen(path, "rb");
    float *p = malloc(n * sizeof *p);
    size_t got = 0;
    if (fp && p) {
        got = fread(p, sizeof *p, n, fp);
        if (fgetc(fp) != EOF) got = 0; /* longer than the shape says */
    }
    if (fp) fclose(fp);
    if (got != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, path);
        free(p);
        return NULL;
    }
    return p;
}

/* Bit-exact comparison (so -0 vs +0 and NaN payloads count); prints the figure like check_close. */
static int check_bits(const char *name, const float *got, const float *ref, size_t n) {
    size_t bad = 0, first = 0;
    double max_err = 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
            if (!bad) first = i;
            bad++;
            double d = fabs((double)got[i] - ref[i]);
            if (!(d <= max_err)) max_err = d;
        }
    }
    test_checks++;
    if (bad) test_failures++;
    fprintf(bad ? stderr : stdout, "  %-48s n=%-8zu differing=%zu max_abs_err=%.3g (tol 0, bit-exact)%s\n", name, n,
            bad, max_err, bad ? "  FAIL" : "");
    if (bad) fprintf(stderr, "    first at %zu: got %.9g ref %.9g\n", first, (double)got[first], (double)ref[first]);
    return bad == 0;
}

static void test_golden(void) {
    static const char *sets[] = {"sd1-tiny", "sd2-tiny"};
    static const int seeds[] = {0, 42, 1234};
    static const struct { const char *shape; size_t n; } shapes[] = {
        {"1x4x8x8", 256}, {"2x4x64x64", 32768}, {"1x4x96x64", 24576}, {"10", 10}};
    printf("golden torch.randn (bit-exact)\n");
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 4; j++) {
                char name[64];
                snprintf(name, sizeof name, "rng_s%d_%s", seeds[k], shapes[j].shape);
                float *ref = read_f32(sets[s], name, shapes[j].n);
                float *got = malloc(shapes[j].n * sizeof *got);
                CHECK(ref && got);
                if (ref && got) {
                    ig_rng_torch g;
                    ig_rng_torch_seed(&g, (uint64_t)seeds[k]);
                    ig_rng_torch_randn(&g, got, shapes[j].n);
                    char label[96];
                    snprintf(label, sizeof label, "%s/%s", sets[s], name);
                    check_bits(label, got, ref, shapes[j].n);
                }
                free(ref);
                free(got);
            }
}

/* The engine alone: torch seeds like init_genrand, so seed 5489 must give std::mt19937's default
 * stream (first outputs 3499211612 581869302 3890346734; the 10000th is 4123659995, C++ [rand.predef]). */
static void test_engine(void) {
    ig_rng_torch g;
    ig_rng_torch_seed(&g, 5489);
    CHECK(ig_rng_torch_u32(&g) == 3499211612u);
    CHECK(ig_rng_torch_u32(&g) == 581869302u);
    CHECK(ig_rng_torch_u32(&g) == 3890346734u);
    ig_rng_torch_seed(&g, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = ig_rng_torch_u32(&g);
    CHECK(v == 4123659995u);
    /* only the low 32 bits of the seed reach the engine */
    ig_rng_torch h;
    ig_rng_torch_seed(&g, 7);
    ig_rng_torch_seed(&h, (UINT64_C(1) << 32) | 7);
    CHECK(memcmp(g.state, h.state, sizeof g.state) == 0);
}

static void test_continuation(void) {
    printf("continuation\n");
    float *ref = read_f32("sd1-tiny", "rng_s0_2x4x64x64", 32768);
    float *ref10 = read_f32("sd1-tiny", "rng_s42_10", 10);
    float *got = calloc(32768 + 64, sizeof *got);
    CHECK(ref && ref10 && got);
    if (!ref || !ref10 || !got) goto done;
    ig_rng_torch g, h;

    /* multiples of 16 concatenate: 256 + 32512, and 16 + 4080 + 28672 */
    ig_rng_torch_seed(&g, 0);
    ig_rng_torch_randn(&g, got, 256);
    ig_rng_torch_randn(&g, got + 256, 32768 - 256);
    check_bits("randn(256) then randn(32512)", got, ref, 32768);
    ig_rng_torch_seed(&g, 0);
    ig_rng_torch_randn(&g, got, 16);
    ig_rng_torch_randn(&g, got + 16, 4080);
    ig_rng_torch_randn(&g, got + 4096, 32768 - 4096);
    check_bits("randn(16) + randn(4080) + randn(28672)", got, ref, 32768);

    /* and 1x4x96x64 is the first 24576 of 2x4x64x64 at the same seed */
    float *ref24 = read_f32("sd1-tiny", "rng_s0_1x4x96x64", 24576);
    CHECK(ref24 != NULL);
    if (ref24) check_bits("rng_s0 1x4x96x64 == prefix of 2x4x64x64", ref24, ref, 24576);
    free(ref24);

    /* a call of n = 16k + r (r != 0): outputs [0, n-16) are the plain chunk stream, the last 16 come
     * from uniforms [n, n+16). Rebuild that from calls we already trust: randn(16k) covers [0, 16k);
     * the n < 16 path eats 4 engine outputs per pair, so randn(2) x (r/4) skips r uniforms exactly
     * when 4 | r; then randn(16) transforms uniforms [n, n+16). */
    static const size_t tails[] = {4, 8, 12};
    for (int t = 0; t < 3; t++) {
        size_t r = tails[t], n = 16 * 37 + r;
        float want[16];
        ig_rng_torch_seed(&g, 1234);
        ig_rng_torch_randn(&g, got, n);
        ig_rng_torch_seed(&h, 1234);
        float *head = malloc((n - r) * sizeof *head);
        CHECK(head != NULL);
        if (!head) continue;
        ig_rng_torch_randn(&h, head, n - r);
        for (size_t k = 0; k < r / 4; k++) {
            float two[2];
            ig_rng_torch_randn(&h, two, 2);
        }
        ig_rng_torch_randn(&h, want, 16);
        char label[96];
        snprintf(label, sizeof label, "randn(%zu): head = randn(%zu)", n, n - r);
        check_bits(label, got, head, n - 16); /* outputs [n-16, n-r) were overwritten by the tail */
        snprintf(label, sizeof label, "randn(%zu): tail = 16 fresh uniforms", n);
        check_bits(label, got + n - 16, want, 16);
        /* both generators now sit at engine output n + 16 */
        CHECK(ig_rng_torch_u32(&g) == ig_rng_torch_u32(&h));
        free(head);
    }

    /* the n < 16 path: randn(3), randn(1), randn(6) is randn(10) (the sine half of pair 2 is
     * cached across the call boundary), and a >= 16 call in between neither uses nor drops it */
    ig_rng_torch_seed(&g, 42);
    ig_rng_torch_randn(&g, got, 3);
    ig_rng_torch_randn(&g, got + 3, 1);
    ig_rng_torch_randn(&g, got + 4, 6);
    check_bits("randn(3) + randn(1) + randn(6) == randn(10)", got, ref10, 10);
    ig_rng_torch_seed(&g, 42);
    ig_rng_torch_randn(&g, got, 3);
    CHECK(g.has_next_normal);
    float big[32];
    ig_rng_torch_randn(&g, big, 32);
    CHECK(g.has_next_normal);
    ig_rng_torch_randn(&g, got + 3, 1); /* the cached value, no draw */
    CHECK(!g.has_next_normal);
    check_bits("randn(3) + randn(32) + randn(1): cache survives", got, ref10, 4);
    ig_rng_torch_seed(&g, 42);
    ig_rng_torch_randn(&g, got, 3);
    ig_rng_torch_seed(&g, 42); /* manual_seed drops the cache */
    CHECK(!g.has_next_normal);
    ig_rng_torch_randn(&g, got, 10);
    check_bits("manual_seed drops the cached normal", got, ref10, 10);

    /* skip_randn leaves the generator where randn leaves it, for every size class */
    static const size_t sizes[] = {0, 1, 3, 10, 15, 16, 17, 31, 32, 256, 1000};
    for (int k = 0; k < (int)(sizeof sizes / sizeof sizes[0]); k++) {
        ig_rng_torch_seed(&g, 99);
        ig_rng_torch_seed(&h, 99);
        ig_rng_torch_randn(&g, got, 1); /* leave a cached value in both */
        ig_rng_torch_randn(&h, got, 1);
        ig_rng_torch_randn(&g, got, sizes[k]);
        ig_rng_torch_skip_randn(&h, sizes[k]);
        float a[20], b[20];
        ig_rng_torch_randn(&g, a, 5); /* uses the cache state too */
        ig_rng_torch_randn(&h, b, 5);
        ig_rng_torch_randn(&g, a + 5, 15);
        ig_rng_torch_randn(&h, b + 5, 15);
        CHECK(memcmp(a, b, sizeof a) == 0 && g.left == h.left && g.next == h.next);
    }
done:
    free(ref);
    free(ref10);
    free(got);
}

int main(void) {
    test_engine();
    test_golden();
    test_continuation();
    return test_finish("test_rng");
}
