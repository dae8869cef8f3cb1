/* test.h — the few checks our unit tests need: a failure counter, tolerance checks that print
 * max-abs-err per tensor (llm.c check_tensor), a seeded random source and the shared/ path. */
#ifndef IG_TEST_H
#define IG_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        test_checks++;                                                                   \
        if (!(cond)) {                                                                   \
            test_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

/* Compare got against ref (n floats, ref as double): passes when
 * max|got - ref| <= atol + rtol * max|ref|. Prints the figure either way. */
static inline int check_close(const char *name, const float *got, const double *ref, size_t n, double atol,
                              double rtol) {
    double max_err = 0, max_ref = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= max_err)) { /* also catches NaN */
            max_err = isnan(d) ? INFINITY : d;
            worst = i;
        }
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double tol = atol + rtol * max_ref;
    int ok = max_err <= tol;
    test_checks++;
    if (!ok) test_failures++;
    fprintf(ok ? stdout : stderr, "  %-48s n=%-8zu max_abs_err=%.3g (tol %.3g, max|ref| %.3g)%s\n", name, n,
            max_err, tol, max_ref, ok ? "" : "  FAIL");
    if (!ok)
        fprintf(stderr, "    worst at %zu: got %.8g ref %.8g\n", worst, (double)got[worst], ref[worst]);
    return ok;
}

/* xorshift64*: fresh inputs each run unless IMAGINE_TEST_SEED is set; the seed is printed. */
static uint64_t test_rng_state;
static inline void test_seed(void) {
    const char *s = getenv("IMAGINE_TEST_SEED");
    test_rng_state = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    if (!test_rng_state) test_rng_state = 88172645463325252ull;
    printf("IMAGINE_TEST_SEED=%llu\n", (unsigned long long)test_rng_state);
}
static inline double test_uniform(void) { /* [0, 1) */
    test_rng_state ^= test_rng_state >> 12;
    test_rng_state ^= test_rng_state << 25;
    test_rng_state ^= test_rng_state >> 27;
    return (double)((test_rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}
static inline float test_randf(float lo, float hi) { return lo + (hi - lo) * (float)test_uniform(); }
static inline void test_fill(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = test_randf(lo, hi);
}

static inline const char *test_shared_dir(void) {
    const char *s = getenv("IMAGINE_SHARED");
    return s ? s : "../shared";
}

static inline int test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
