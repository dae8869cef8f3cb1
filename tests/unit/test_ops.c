/* test_ops.c — every op of ops.h except the fast conv2d/linear/attention (tested by their owners),
 * held to a naive float64 version written here, on fresh random inputs (IMAGINE_TEST_SEED repeats
 * a run). Three implementations go through ig_op_* (so ops.c's validation runs too):
 *   ref     cpu/ref.c, the oracle; its conv2d, linear (with geglu) and attention are tested here
 *   cpu     norm.c and elem.c as the library built them (AVX-512 where the CPU has it)
 *   scalar  norm.c and elem.c compiled a second time below with AVX-512 switched off, so the
 *           scalar paths are tested on machines that would never take them
 * on odd sizes (C = 13, 40 with 8 groups, H = 7, W = 5) and one realistic SD size, NHWC (the fast
 * layouts) and plain NCHW (the ref fallbacks), in place where ops.h allows it (and for group and
 * layer norm, which support it without ops.h promising it), mixed dtypes, zero-sized dims.
 *
 * Tolerances (check_close: max|got - ref| <= atol + rtol * max|ref|):
 *   f32 output     rtol 1e-5: f32 arithmetic with double statistics and ~2-ulp vector exp/erf
 *                  stays within a few 1e-7 relative.
 *   bf16 output    rtol 1e-2: bf16 keeps 8 mantissa bits, so rounding the result alone costs up to
 *                  2^-9 = 0.2 % of each value.
 *   bf16 inputs are rounded to bf16 before the float64 reference sees them, so a bf16 -> f32 op is
 *   held to the f32 tolerance.
 * The end prints GB/s of group norm, layer norm and softmax on SD shapes beside memcpy's (never asserted).
 */
#include "test.h"

#include <omp.h>
#include <string.h>

#include "engine/cpu/cpu.h"
#include "engine/cpu/vec.h"

/* The scalar paths: norm.c and elem.c again, with the CPU-feature test answering no. */
#define ig__cpu_has_avx512() false
#define ig__cpu_group_norm scalar_group_norm
#define ig__cpu_layer_norm scalar_layer_norm
#define ig__cpu_softmax scalar_softmax
#define ig__cpu_act scalar_act
#define ig__cpu_binary scalar_binary
#define ig__cpu_upsample2x scalar_upsample2x
#define ig__cpu_concat scalar_concat
#define ig__cpu_copy scalar_copy
#define ig__cpu_fill scalar_fill
#define ig__cpu_embedding scalar_embedding
#include "engine/cpu/elem.c"
#include "engine/cpu/norm.c"
#undef ig__cpu_has_avx512
#undef ig__cpu_group_norm
#undef ig__cpu_layer_norm
#undef ig__cpu_softmax
#undef ig__cpu_act
#undef ig__cpu_binary
#undef ig__cpu_upsample2x
#undef ig__cpu_concat
#undef ig__cpu_copy
#undef ig__cpu_fill
#undef ig__cpu_embedding

static const ig_backend be_scalar = {
    .name = "scalar",
    .buf_alloc = ig__ref_buf_alloc,
    .buf_free = ig__ref_buf_free,
    .upload = scalar_copy,
    .download = scalar_copy,
    .copy = scalar_copy,
    .fill = scalar_fill,
    .embedding = scalar_embedding,
    .conv2d = ig__ref_conv2d,
    .linear = ig__ref_linear,
    .op_release = ig__ref_op_release,
    .group_norm = scalar_group_norm,
    .layer_norm = scalar_layer_norm,
    .softmax = scalar_softmax,
    .attention = ig__ref_attention,
    .act = scalar_act,
    .binary = scalar_binary,
    .upsample2x = scalar_upsample2x,
    .concat = scalar_concat,
};

#define N_ENG 3
static ig_engine *engines[N_ENG]; /* ref, cpu, scalar */
static ig_engine scalar_engine = {.be = &be_scalar, .act_dtype = IG_F32};

/* ---- tensors: fresh memory filled with NaN (0xff bytes), so an element an op forgets to write fails ---- */

enum { PLAIN = 0, NHWC = 1 };

static ig_tensor tnew(ig_dtype dt, int n_dims, const int64_t *ne, int layout) {
    ig_tensor t = layout == NHWC ? ig_tensor_nhwc(dt, ne[0], ne[1], ne[2], ne[3], NULL) : ig_tensor_plain(dt, n_dims, ne, NULL);
    size_t nb = ig_tensor_nbytes(&t);
    t.data = ig__alloc(nb ? nb : 1);
    memset(t.data, 0xff, nb);
    return t;
}
static void tfree(ig_tensor *t) { ig__free(t->data), t->data = NULL; }

static bool next_idx(int64_t *idx, const ig_tensor *t) {
    for (int d = t->n_dims - 1; d >= 0; d--) {
        if (++idx[d] < t->ne[d]) return true;
        idx[d] = 0;
    }
    return false;
}
/* v in logical (row-major over the shape) order, whatever the strides. */
static void tput(const ig_tensor *t, const float *v) {
    int64_t idx[IG_MAX_DIMS] = {0}, i = 0;
    do ig_tensor_set(t, idx, v[i++]);
    while (next_idx(idx, t));
}
static float *tget(const ig_tensor *t) {
    float *v = malloc((size_t)ig_tensor_nelem(t) * sizeof *v);
    int64_t idx[IG_MAX_DIMS] = {0}, i = 0;
    do v[i++] = ig_tensor_get(t, idx);
    while (next_idx(idx, t));
    return v;
}
static float round_to(ig_dtype dt, float v) {
    return dt == IG_BF16 ? ig_bf16_to_f32(ig_f32_to_bf16(v)) : dt == IG_F16 ? ig_f16_to_f32(ig_f32_to_f16(v)) : v;
}
/* n random values in [lo, hi), already rounded to dt so the reference sees what the op sees. */
static float *rnd(size_t n, float lo, float hi, ig_dtype dt) {
    float *v = malloc(n * sizeof *v);
    test_fill(v, n, lo, hi);
    for (size_t i = 0; i < n; i++) v[i] = round_to(dt, v[i]);
    return v;
}
/* A tensor holding v (rounded to its dtype). */
static ig_tensor tfrom(ig_dtype dt, int n_dims, const int64_t *ne, int layout, const float *v) {
    ig_tensor t = tnew(dt, n_dims, ne, layout);
    tput(&t, v);
    return t;
}

static double out_rtol(ig_dtype dt) { return dt == IG_BF16 ? 1e-2 : 1e-5; }

static void check_t(const char *name, const ig_tensor *y, const double *ref) {
    float *got = tget(y);
    check_close(name, got, ref, (size_t)ig_tensor_nelem(y), 0, out_rtol(y->dtype));
    free(got);
}

static bool run_ok(ig_engine *e, ig_status st) {
    CHECK(st == IG_OK);
    if (st != IG_OK) fprintf(stderr, "    %s: %s\n", e->be->name, e->err.msg);
    e->err = (ig_err){0};
    return st == IG_OK;
}

static const char *dn(ig_dtype dt) { return ig_dtype_name(dt); }
static const char *ln_(int layout) { return layout == NHWC ? "nhwc" : "nchw"; }

static const struct { ig_dtype in, out; } combos[] = {{IG_F32, IG_F32}, {IG_BF16, IG_BF16}, {IG_BF16, IG_F32}, {IG_F32, IG_BF16}};
#define N_COMBOS 4

/* ---- naive float64 versions (logical row-major arrays) ---- */

static double act_d(ig_act act, double x) {
    switch (act) {
    case IG_ACT_NONE: return x;
    case IG_ACT_SILU: return x / (1 + exp(-x));
    case IG_ACT_GELU_ERF: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case IG_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case IG_ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case IG_ACT_RELU: return x > 0 ? x : 0;
    case IG_ACT_TANH_CLAMP: return 3 * tanh(x / 3);
    }
    return NAN;
}
static const char *act_name[] = {"none", "silu", "gelu_erf", "gelu_tanh", "quick_gelu", "relu", "tanh_clamp"};

/* torch.nn.GroupNorm(G, C, eps): biased variance over (C/G, H, W), eps inside the square root. */
static void naive_group_norm(const float *x, int64_t N, int64_t C, int64_t HW, int64_t G, double eps, const float *gamma,
                             const float *beta, bool silu, double *y) {
    const int64_t Cg = C / G, cnt = Cg * HW;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (n * C + g * Cg) * HW;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < cnt; i++) mean += xg[i];
            mean /= (double)cnt;
            for (int64_t i = 0; i < cnt; i++) var += (xg[i] - mean) * (xg[i] - mean);
            var /= (double)cnt;
            for (int64_t i = 0; i < cnt; i++) {
                const int64_t c = g * Cg + i / HW;
                double v = (xg[i] - mean) / sqrt(var + eps) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
                y[(n * C + g * Cg) * HW + i] = silu ? act_d(IG_ACT_SILU, v) : v;
            }
        }
}

static void naive_layer_norm(const float *x, int64_t rows, int64_t C, double eps, const float *gamma, const float *beta,
                             double *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        double mean = 0, var = 0;
        for (int64_t c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        for (int64_t c = 0; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= (double)C;
        for (int64_t c = 0; c < C; c++)
            y[r * C + c] = (xr[c] - mean) / sqrt(var + eps) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
    }
}

static void naive_softmax(const float *x, int64_t rows, int64_t C, double scale, double *y) {
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, scale * x[r * C + c]);
        for (int64_t c = 0; c < C; c++) s += exp(scale * x[r * C + c] - m);
        for (int64_t c = 0; c < C; c++) y[r * C + c] = exp(scale * x[r * C + c] - m) / s;
    }
}

/* ---- group norm ---- */

static void gn_case(const int64_t ne[4], int G, float eps, bool affine, bool silu, float lo, float hi, bool all_combos) {
    const int64_t N = ne[0], C = ne[1], HW = ne[2] * ne[3], n = N * C * HW;
    float *gamma = rnd((size_t)C, 0.5f, 1.5f, IG_F32), *beta = rnd((size_t)C, -0.5f, 0.5f, IG_F32);
    ig_tensor tg = tfrom(IG_F32, 1, &C, PLAIN, gamma), tb = tfrom(IG_F32, 1, &C, PLAIN, beta);
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int k = 0; k < (all_combos ? N_COMBOS : 2); k++) {
        float *x = rnd((size_t)n, lo, hi, combos[k].in);
        naive_group_norm(x, N, C, HW, G, eps, affine ? gamma : NULL, affine ? beta : NULL, silu, ref);
        /* NHWC (fast), NCHW (ref fallback), x NHWC with y NCHW (fallback) */
        const int lay[3][2] = {{NHWC, NHWC}, {PLAIN, PLAIN}, {NHWC, PLAIN}};
        for (int l = 0; l < 3; l++) {
            ig_tensor tx = tfrom(combos[k].in, 4, ne, lay[l][0], x);
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_engine *e = engines[ei];
                ig_tensor ty = tnew(combos[k].out, 4, ne, lay[l][1]);
                char name[160];
                snprintf(name, sizeof name, "group_norm %s (%lld,%lld,%lld,%lld)/%d %s->%s %s->%s%s%s", e->be->name,
                         (long long)N, (long long)C, (long long)ne[2], (long long)ne[3], G, dn(combos[k].in),
                         dn(combos[k].out), ln_(lay[l][0]), ln_(lay[l][1]), silu ? " silu" : "", affine ? "" : " no-affine");
                if (run_ok(e, ig_op_group_norm(e, &tx, G, eps, affine ? &tg : NULL, affine ? &tb : NULL,
                                               silu ? IG_ACT_SILU : IG_ACT_NONE, &ty)))
                    check_t(name, &ty, ref);
                if (combos[k].in == combos[k].out && lay[l][0] == lay[l][1]) {
                    /* in place: ops.h does not promise it, but every implementation here supports it
                     * (statistics of an image are complete before any of it is written) */
                    ig_tensor tz = tfrom(combos[k].in, 4, ne, lay[l][0], x);
                    strcat(name, " in place");
                    if (run_ok(e, ig_op_group_norm(e, &tz, G, eps, affine ? &tg : NULL, affine ? &tb : NULL,
                                                   silu ? IG_ACT_SILU : IG_ACT_NONE, &tz)))
                        check_t(name, &tz, ref);
                    tfree(&tz);
                }
                tfree(&ty);
            }
            tfree(&tx);
        }
        free(x);
    }
    free(ref), free(gamma), free(beta), tfree(&tg), tfree(&tb);
}

static void test_group_norm(void) {
    printf("group_norm\n");
    gn_case((int64_t[]){2, 40, 7, 5}, 8, 1e-5f, true, false, -2, 3, true);
    gn_case((int64_t[]){2, 40, 7, 5}, 8, 1e-6f, true, true, -2, 3, true);
    gn_case((int64_t[]){1, 13, 3, 3}, 13, 1e-5f, false, true, -1, 1, true); /* one channel per group */
    gn_case((int64_t[]){1, 13, 4, 1}, 1, 1e-5f, true, false, -1, 1, true);  /* one group, W = 1 */
    gn_case((int64_t[]){2, 96, 9, 11}, 32, 1e-5f, true, true, -3, 2, true); /* 3 channels per group */
    /* Mean 1000, spread +-1: E[x^2] - E[x]^2 would lose ~7 digits here, and x * a + (beta - mean a)
     * in f32 loses |mean| ulp(a) ~ 1e-4. f32 only: bf16 cannot hold 1000 +- 1 (its ulp at 1000 is 4). */
    {
        const int64_t ne[4] = {2, 40, 7, 5}, n = 2 * 40 * 35;
        float *x = rnd((size_t)n, -1, 1, IG_F32);
        for (int64_t i = 0; i < n; i++) x[i] += 1000.0f;
        double *ref = malloc((size_t)n * sizeof *ref);
        naive_group_norm(x, 2, 40, 35, 8, 1e-5, NULL, NULL, false, ref);
        for (int l = 0; l < 2; l++) {
            ig_tensor tx = tfrom(IG_F32, 4, ne, l ? PLAIN : NHWC, x);
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_tensor ty = tnew(IG_F32, 4, ne, l ? PLAIN : NHWC);
                char name[128];
                snprintf(name, sizeof name, "group_norm %s 1000+U(-1,1) f32 %s", engines[ei]->be->name, l ? "nchw" : "nhwc");
                if (run_ok(engines[ei], ig_op_group_norm(engines[ei], &tx, 8, 1e-5f, NULL, NULL, IG_ACT_NONE, &ty)))
                    check_t(name, &ty, ref);
                tfree(&ty);
            }
            tfree(&tx);
        }
        free(x), free(ref);
    }
    /* SD 1.x UNet down block 0 (2 = CFG batch), and a VAE decoder block with 128 channels. */
    gn_case((int64_t[]){2, 320, 64, 64}, 32, 1e-5f, true, true, -2, 3, false);
    gn_case((int64_t[]){1, 128, 48, 40}, 32, 1e-6f, true, false, -2, 3, false);
}

/* ---- layer norm ---- */

static void ln_case(int n_dims, const int64_t *ne, float eps, bool affine, float lo, float hi, bool all_combos) {
    const int64_t C = ne[n_dims - 1];
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= ne[d];
    float *gamma = rnd((size_t)C, 0.5f, 1.5f, IG_F32), *beta = rnd((size_t)C, -0.5f, 0.5f, IG_F32);
    ig_tensor tg = tfrom(IG_F32, 1, &C, PLAIN, gamma), tb = tfrom(IG_F32, 1, &C, PLAIN, beta);
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int k = 0; k < (all_combos ? N_COMBOS : 2); k++) {
        float *x = rnd((size_t)n, lo, hi, combos[k].in);
        naive_layer_norm(x, n / C, C, eps, affine ? gamma : NULL, affine ? beta : NULL, ref);
        ig_tensor tx = tfrom(combos[k].in, n_dims, ne, PLAIN, x);
        for (int ei = 0; ei < N_ENG; ei++) {
            ig_engine *e = engines[ei];
            ig_tensor ty = tnew(combos[k].out, n_dims, ne, PLAIN);
            char name[160];
            snprintf(name, sizeof name, "layer_norm %s (..., %lld) n=%lld %s->%s%s", e->be->name, (long long)C,
                     (long long)n, dn(combos[k].in), dn(combos[k].out), affine ? "" : " no-affine");
            if (run_ok(e, ig_op_layer_norm(e, &tx, eps, affine ? &tg : NULL, affine ? &tb : NULL, &ty))) check_t(name, &ty, ref);
            if (combos[k].in == combos[k].out) { /* in place: not promised by ops.h, supported here (row read before written) */
                ig_tensor tz = tfrom(combos[k].in, n_dims, ne, PLAIN, x);
                strcat(name, " in place");
                if (run_ok(e, ig_op_layer_norm(e, &tz, eps, affine ? &tg : NULL, affine ? &tb : NULL, &tz))) check_t(name, &tz, ref);
                tfree(&tz);
            }
            tfree(&ty);
        }
        tfree(&tx), free(x);
    }
    free(ref), free(gamma), free(beta), tfree(&tg), tfree(&tb);
}

/* Rows with gaps (leading stride > C: the fast path's row_offset) and a transposed view (last dim
 * strided: the ref fallback). */
static void ln_strided(void) {
    const int64_t R = 5, C = 33, pad = 7;
    float *x = rnd((size_t)(R * C), -2, 2, IG_F32);
    double *ref = malloc((size_t)(R * C) * sizeof *ref);
    naive_layer_norm(x, R, C, 1e-5, NULL, NULL, ref);
    for (int ei = 0; ei < N_ENG; ei++) {
        ig_engine *e = engines[ei];
        ig_tensor tx = {.dtype = IG_F32, .n_dims = 2, .ne = {R, C, 1, 1}, .st = {C + pad, 1, 1, 1}};
        ig_tensor ty = tx;
        tx.data = ig__alloc((size_t)(R * (C + pad)) * 4), ty.data = ig__alloc((size_t)(R * (C + pad)) * 4);
        memset(ty.data, 0xff, (size_t)(R * (C + pad)) * 4);
        tput(&tx, x);
        char name[96];
        snprintf(name, sizeof name, "layer_norm %s row stride %lld", e->be->name, (long long)(C + pad));
        if (run_ok(e, ig_op_layer_norm(e, &tx, 1e-5f, NULL, NULL, &ty))) check_t(name, &ty, ref);
        /* transposed: element (r, c) at c * R + r */
        ig_tensor ux = {.dtype = IG_F32, .n_dims = 2, .ne = {R, C, 1, 1}, .st = {1, R, 1, 1}, .data = tx.data};
        ig_tensor uy = ux;
        uy.data = ty.data;
        memset(uy.data, 0xff, (size_t)(R * C) * 4);
        tput(&ux, x);
        snprintf(name, sizeof name, "layer_norm %s transposed (fallback)", e->be->name);
        if (run_ok(e, ig_op_layer_norm(e, &ux, 1e-5f, NULL, NULL, &uy))) check_t(name, &uy, ref);
        ig__free(tx.data), ig__free(ty.data);
    }
    free(x), free(ref);
}

static void test_layer_norm(void) {
    printf("layer_norm\n");
    ln_case(3, (int64_t[]){2, 7, 40}, 1e-5f, true, -2, 3, true);
    ln_case(2, (int64_t[]){3, 13}, 1e-5f, false, -1, 1, true);
    ln_case(4, (int64_t[]){1, 5, 1, 33}, 1e-6f, true, -3, 1, true);
    ln_case(1, (int64_t[]){77}, 1e-5f, true, -1, 1, true);
    ln_case(3, (int64_t[]){2, 77, 768}, 1e-5f, true, -2, 3, true); /* CLIP ViT-L hidden states */
    ln_case(3, (int64_t[]){2, 7, 40}, 1e-5f, false, 999, 1001, false); /* mean >> spread (f32 rows count) */
    ln_case(3, (int64_t[]){2, 4096, 320}, 1e-5f, true, -2, 3, false); /* SD transformer block, 64x64 latent */
    ln_strided();
}

/* ---- softmax ---- */

static void sm_case(int n_dims, const int64_t *ne, float scale, float lo, float hi) {
    const int64_t C = ne[n_dims - 1];
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= ne[d];
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int k = 0; k < N_COMBOS; k++) {
        float *x = rnd((size_t)n, lo, hi, combos[k].in);
        naive_softmax(x, n / C, C, scale, ref);
        for (int ei = 0; ei < N_ENG; ei++) {
            ig_engine *e = engines[ei];
            ig_tensor tx = tfrom(combos[k].in, n_dims, ne, PLAIN, x), ty = tnew(combos[k].out, n_dims, ne, PLAIN);
            char name[160];
            snprintf(name, sizeof name, "softmax %s (..., %lld) n=%lld scale %g %s->%s", e->be->name, (long long)C,
                     (long long)n, scale, dn(combos[k].in), dn(combos[k].out));
            if (run_ok(e, ig_op_softmax(e, &tx, scale, &ty))) check_t(name, &ty, ref);
            if (combos[k].in == combos[k].out) { /* in place */
                snprintf(name, sizeof name, "softmax %s (..., %lld) scale %g %s in place", e->be->name, (long long)C, scale,
                         dn(combos[k].in));
                if (run_ok(e, ig_op_softmax(e, &tx, scale, &tx))) check_t(name, &tx, ref);
            }
            tfree(&tx), tfree(&ty);
        }
        free(x);
    }
    free(ref);
}

static void test_softmax(void) {
    printf("softmax\n");
    sm_case(3, (int64_t[]){2, 7, 13}, 1.0f, -3, 3);
    sm_case(2, (int64_t[]){5, 77}, 0.125f, -20, 20); /* 1/sqrt(64): SD attention over 77 text tokens */
    sm_case(1, (int64_t[]){1}, 1.0f, -3, 3);
    sm_case(2, (int64_t[]){3, 33}, 50.0f, -4, 4);    /* large scale: peaked rows, exp(scale x) overflows without the max */
    sm_case(2, (int64_t[]){3, 40}, 1000.0f, -4, 4);  /* one-hot rows */
    sm_case(2, (int64_t[]){4, 17}, -3.0f, -4, 4);    /* negative scale: the max is of scale * x, not of x */
    sm_case(2, (int64_t[]){16, 4096}, 0.125f, -10, 10);
    sm_case(2, (int64_t[]){2, 16400}, 0.05f, -10, 10); /* longer than norm.c's row buffer: bf16 y recomputes exp */
    /* Transposed view: ref fallback. */
    const int64_t R = 6, C = 11;
    float *x = rnd((size_t)(R * C), -3, 3, IG_F32);
    double *ref = malloc((size_t)(R * C) * sizeof *ref);
    naive_softmax(x, R, C, 0.5, ref);
    for (int ei = 0; ei < N_ENG; ei++) {
        ig_tensor tx = {.dtype = IG_F32, .n_dims = 2, .ne = {R, C, 1, 1}, .st = {1, R, 1, 1}};
        ig_tensor ty = tx;
        tx.data = ig__alloc((size_t)(R * C) * 4), ty.data = ig__alloc((size_t)(R * C) * 4);
        tput(&tx, x);
        memset(ty.data, 0xff, (size_t)(R * C) * 4);
        char name[96];
        snprintf(name, sizeof name, "softmax %s transposed (fallback)", engines[ei]->be->name);
        if (run_ok(engines[ei], ig_op_softmax(engines[ei], &tx, 0.5f, &ty))) check_t(name, &ty, ref);
        ig__free(tx.data), ig__free(ty.data);
    }
    free(x), free(ref);
}

/* ---- act ---- */

static void test_act(void) {
    printf("act\n");
    const int64_t shapes[3][4] = {{2, 40, 7, 5}, {1, 13, 3, 1}, {2, 320, 16, 16}};
    for (int s = 0; s < 3; s++) {
        const int64_t *ne = shapes[s], n = ne[0] * ne[1] * ne[2] * ne[3];
        double *ref = malloc((size_t)n * sizeof *ref);
        for (int a = IG_ACT_NONE; a <= IG_ACT_LAST; a++)
            for (int k = 0; k < N_COMBOS; k++) {
                float *x = rnd((size_t)n, -10, 10, combos[k].in);
                for (int64_t i = 0; i < n; i++) ref[i] = act_d((ig_act)a, x[i]);
                /* (nhwc, nhwc) flat fast path, (nchw, nchw) flat fast path, (nhwc, nchw) ref fallback */
                const int lay[3][2] = {{NHWC, NHWC}, {PLAIN, PLAIN}, {NHWC, PLAIN}};
                for (int l = 0; l < 3; l++)
                    for (int ei = 0; ei < N_ENG; ei++) {
                        ig_engine *e = engines[ei];
                        ig_tensor tx = tfrom(combos[k].in, 4, ne, lay[l][0], x), ty = tnew(combos[k].out, 4, ne, lay[l][1]);
                        char name[160];
                        snprintf(name, sizeof name, "act %s %s (%lld,%lld,%lld,%lld) %s->%s %s->%s", e->be->name, act_name[a],
                                 (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3], dn(combos[k].in),
                                 dn(combos[k].out), ln_(lay[l][0]), ln_(lay[l][1]));
                        if (run_ok(e, ig_op_act(e, (ig_act)a, &tx, &ty))) check_t(name, &ty, ref);
                        if (l == 0 && combos[k].in == combos[k].out) {
                            strcat(name, " in place");
                            if (run_ok(e, ig_op_act(e, (ig_act)a, &tx, &tx))) check_t(name, &tx, ref);
                        }
                        tfree(&tx), tfree(&ty);
                    }
                free(x);
            }
        free(ref);
    }
}

/* ---- binary ---- */

static void naive_binary(ig_binary kind, const float *a, const int64_t *ne, const float *b, const int64_t *bne, double *y) {
    int64_t i = 0;
    for (int64_t n = 0; n < ne[0]; n++)
        for (int64_t c = 0; c < ne[1]; c++)
            for (int64_t h = 0; h < ne[2]; h++)
                for (int64_t w = 0; w < ne[3]; w++, i++) {
                    const int64_t bi = (((bne[0] > 1 ? n : 0) * bne[1] + (bne[1] > 1 ? c : 0)) * bne[2] + (bne[2] > 1 ? h : 0)) * bne[3] +
                                       (bne[3] > 1 ? w : 0);
                    y[i] = kind == IG_BIN_ADD ? (double)a[i] + b[bi] : (double)a[i] * b[bi];
                }
}

/* a and y share a layout; b has its own. dims are given as 4-D; n_dims < 4 views use the last ones. */
static void bin_case(const char *what, int n_dims, const int64_t *ne, int la, const int64_t *bne, int lb, int ly) {
    int64_t n = 1, nb = 1, ne4[4] = {1, 1, 1, 1}, bne4[4] = {1, 1, 1, 1};
    for (int d = 0; d < n_dims; d++) n *= ne[d], nb *= bne[d], ne4[4 - n_dims + d] = ne[d], bne4[4 - n_dims + d] = bne[d];
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int kind = IG_BIN_ADD; kind <= IG_BIN_MUL; kind++)
        for (int k = 0; k < N_COMBOS; k++) {
            const ig_dtype bdt = k == 3 ? IG_BF16 : k == 2 ? IG_F32 : combos[k].in; /* mixes: (bf16, f32) -> f32, (f32, bf16) -> bf16 */
            float *a = rnd((size_t)n, -3, 3, combos[k].in), *b = rnd((size_t)nb, -2, 2, bdt);
            naive_binary((ig_binary)kind, a, ne4, b, bne4, ref);
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_engine *e = engines[ei];
                ig_tensor ta = tfrom(combos[k].in, n_dims, ne, la, a), tb = tfrom(bdt, n_dims, bne, lb, b);
                ig_tensor ty = tnew(combos[k].out, n_dims, ne, ly);
                char name[160];
                snprintf(name, sizeof name, "binary %s %s %s %s+%s->%s", e->be->name, kind ? "mul" : "add", what, dn(combos[k].in),
                         dn(bdt), dn(combos[k].out));
                if (run_ok(e, ig_op_binary(e, (ig_binary)kind, &ta, &tb, &ty))) check_t(name, &ty, ref);
                if (combos[k].in == combos[k].out && la == ly) {
                    strcat(name, " in place");
                    if (run_ok(e, ig_op_binary(e, (ig_binary)kind, &ta, &tb, &ta))) check_t(name, &ta, ref);
                }
                tfree(&ta), tfree(&tb), tfree(&ty);
            }
            free(a), free(b);
        }
    free(ref);
}

static void test_binary(void) {
    printf("binary\n");
    const int64_t img[4] = {2, 40, 7, 5}, per_c[4] = {2, 40, 1, 1}, batch1[4] = {1, 40, 7, 5}, one[4] = {1, 1, 1, 1};
    bin_case("same nhwc", 4, img, NHWC, img, NHWC, NHWC);
    bin_case("same nchw", 4, img, PLAIN, img, PLAIN, PLAIN);
    bin_case("nhwc + nchw b (strided)", 4, img, NHWC, img, PLAIN, NHWC);
    bin_case("nhwc + (N,C,1,1)", 4, img, NHWC, per_c, PLAIN, NHWC); /* time embedding onto a resnet's h */
    bin_case("nchw + (N,C,1,1)", 4, img, PLAIN, per_c, PLAIN, PLAIN);
    bin_case("nhwc + (1,C,H,W) nhwc", 4, img, NHWC, batch1, NHWC, NHWC);
    bin_case("nhwc + (1,1,1,1)", 4, img, NHWC, one, PLAIN, NHWC);
    bin_case("nhwc -> nchw y (fallback)", 4, img, NHWC, per_c, PLAIN, PLAIN);
    bin_case("(B,T,C) + (1,1,C)", 3, (int64_t[]){2, 9, 40}, PLAIN, (int64_t[]){1, 1, 40}, PLAIN, PLAIN);
    bin_case("(B,T,C) + (B,1,C)", 3, (int64_t[]){2, 9, 13}, PLAIN, (int64_t[]){2, 1, 13}, PLAIN, PLAIN);
    bin_case("(B,T,C) + (1,T,1)", 3, (int64_t[]){2, 9, 13}, PLAIN, (int64_t[]){1, 9, 1}, PLAIN, PLAIN);
    bin_case("nhwc (2,320,64,64) + (N,C,1,1)", 4, (int64_t[]){2, 320, 64, 64}, NHWC, (int64_t[]){2, 320, 1, 1}, PLAIN, NHWC);
    bin_case("(5) + (5)", 1, (int64_t[]){5}, PLAIN, (int64_t[]){5}, PLAIN, PLAIN);
}

/* ---- upsample and concat ---- */

static void test_upsample(void) {
    printf("upsample2x\n");
    const int64_t shapes[3][4] = {{2, 40, 7, 5}, {1, 13, 1, 3}, {2, 320, 16, 16}};
    for (int s = 0; s < 3; s++) {
        const int64_t *ne = shapes[s], ne2[4] = {ne[0], ne[1], 2 * ne[2], 2 * ne[3]}, n2 = ne2[0] * ne2[1] * ne2[2] * ne2[3];
        double *ref = malloc((size_t)n2 * sizeof *ref);
        for (int k = 0; k < N_COMBOS; k++) {
            float *x = rnd((size_t)(ne[0] * ne[1] * ne[2] * ne[3]), -3, 3, combos[k].in);
            int64_t i = 0;
            for (int64_t n = 0; n < ne2[0]; n++)
                for (int64_t c = 0; c < ne2[1]; c++)
                    for (int64_t h = 0; h < ne2[2]; h++)
                        for (int64_t w = 0; w < ne2[3]; w++) ref[i++] = x[((n * ne[1] + c) * ne[2] + h / 2) * ne[3] + w / 2];
            const int lay[3][2] = {{NHWC, NHWC}, {PLAIN, PLAIN}, {PLAIN, NHWC}};
            for (int l = 0; l < 3; l++)
                for (int ei = 0; ei < N_ENG; ei++) {
                    ig_engine *e = engines[ei];
                    ig_tensor tx = tfrom(combos[k].in, 4, ne, lay[l][0], x), ty = tnew(combos[k].out, 4, ne2, lay[l][1]);
                    char name[160];
                    snprintf(name, sizeof name, "upsample2x %s (%lld,%lld,%lld,%lld) %s->%s %s->%s", e->be->name, (long long)ne[0],
                             (long long)ne[1], (long long)ne[2], (long long)ne[3], dn(combos[k].in), dn(combos[k].out),
                             ln_(lay[l][0]), ln_(lay[l][1]));
                    if (run_ok(e, ig_op_upsample2x(e, &tx, &ty))) check_t(name, &ty, ref);
                    tfree(&tx), tfree(&ty);
                }
            free(x);
        }
        free(ref);
    }
}

static void test_concat(void) {
    printf("concat\n");
    const int64_t N = 2, Ca = 40, Cb = 13, H = 7, W = 5;
    const int64_t nea[4] = {N, Ca, H, W}, neb[4] = {N, Cb, H, W}, ney[4] = {N, Ca + Cb, H, W};
    const int64_t n = N * (Ca + Cb) * H * W;
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int k = 0; k < N_COMBOS; k++) {
        const ig_dtype bdt = k == 2 ? IG_F32 : combos[k].in;
        float *a = rnd((size_t)(N * Ca * H * W), -3, 3, combos[k].in), *b = rnd((size_t)(N * Cb * H * W), -3, 3, bdt);
        for (int64_t i = 0, nn = 0; nn < N; nn++)
            for (int64_t c = 0; c < Ca + Cb; c++)
                for (int64_t p = 0; p < H * W; p++, i++) ref[i] = c < Ca ? a[(nn * Ca + c) * H * W + p] : b[(nn * Cb + c - Ca) * H * W + p];
        const int lay[3][3] = {{NHWC, NHWC, NHWC}, {PLAIN, PLAIN, PLAIN}, {NHWC, PLAIN, NHWC}};
        for (int l = 0; l < 3; l++)
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_engine *e = engines[ei];
                ig_tensor ta = tfrom(combos[k].in, 4, nea, lay[l][0], a), tb = tfrom(bdt, 4, neb, lay[l][1], b);
                ig_tensor ty = tnew(combos[k].out, 4, ney, lay[l][2]);
                char name[160];
                snprintf(name, sizeof name, "concat %s (2,40|13,7,5) %s+%s->%s %s+%s->%s", e->be->name, dn(combos[k].in), dn(bdt),
                         dn(combos[k].out), ln_(lay[l][0]), ln_(lay[l][1]), ln_(lay[l][2]));
                if (run_ok(e, ig_op_concat(e, &ta, &tb, &ty))) check_t(name, &ty, ref);
                tfree(&ta), tfree(&tb), tfree(&ty);
            }
        free(a), free(b);
    }
    free(ref);
}

/* ---- ref.c's conv2d, linear and attention (their fast versions are tested by their owners) ---- */

static void test_ref_conv2d(void) {
    printf("ref conv2d\n");
    /* eb, er: pad_extra_b / pad_extra_r, the extra zeros below and right of x */
    /* after: act_after_res, y = act(conv + b + res) (TAESD's Block) */
    struct { int64_t N, C, H, W, K, R; int stride, pad, eb, er; ig_act act; bool bias, res; ig_dtype xdt, wdt; bool after; } cs[] = {
        {2, 5, 7, 6, 4, 3, 1, 1, 0, 0, IG_ACT_SILU, true, true, IG_F32, IG_F32, false},
        {1, 3, 9, 7, 5, 3, 2, 1, 0, 0, IG_ACT_NONE, true, false, IG_F32, IG_F16, false}, /* downsample conv, f16 checkpoint weights */
        {2, 7, 5, 5, 3, 1, 1, 0, 0, 0, IG_ACT_GELU_ERF, false, true, IG_BF16, IG_BF16, false}, /* 1x1 shortcut */
        {1, 4, 6, 5, 2, 3, 1, 0, 0, 0, IG_ACT_QUICK_GELU, true, false, IG_F32, IG_F32, false}, /* no padding */
        /* diffusers' VAE encoder downsample, F.pad(x, (0, 1, 0, 1)) then stride 2: an odd H (the
         * extra row is never reached) and an even W (the last output column reads it) */
        {2, 5, 9, 8, 4, 3, 2, 0, 1, 1, IG_ACT_NONE, true, true, IG_F32, IG_F32, false},
        {1, 6, 10, 7, 3, 3, 2, 0, 1, 1, IG_ACT_NONE, true, false, IG_BF16, IG_F16, false},
        {1, 3, 5, 6, 2, 3, 1, 1, 2, 0, IG_ACT_SILU, false, true, IG_F32, IG_F32, false}, /* extra rows only, 2 of them */
        {2, 5, 7, 6, 4, 3, 1, 1, 0, 0, IG_ACT_RELU, true, true, IG_F32, IG_F32, true}, /* TAESD Block's last conv */
        {1, 6, 6, 5, 6, 3, 1, 1, 0, 0, IG_ACT_TANH_CLAMP, false, true, IG_BF16, IG_F16, true},
        {1, 4, 9, 7, 5, 3, 2, 1, 0, 0, IG_ACT_RELU, false, false, IG_F32, IG_F32, false}, /* TAESD encoder downsample + relu */
    };
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        const int64_t N = cs[t].N, C = cs[t].C, H = cs[t].H, W = cs[t].W, K = cs[t].K, R = cs[t].R;
        const int64_t Ho = (H + 2 * cs[t].pad + cs[t].eb - R) / cs[t].stride + 1;
        const int64_t Wo = (W + 2 * cs[t].pad + cs[t].er - R) / cs[t].stride + 1;
        const int64_t nx = N * C * H * W, nw = K * C * R * R, ny = N * K * Ho * Wo;
        float *x = rnd((size_t)nx, -2, 2, cs[t].xdt), *w = rnd((size_t)nw, -1, 1, cs[t].wdt), *b = rnd((size_t)K, -1, 1, IG_F32);
        float *res = rnd((size_t)ny, -1, 1, cs[t].xdt);
        double *ref = malloc((size_t)ny * sizeof *ref);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t oh = 0; oh < Ho; oh++)
                    for (int64_t ow = 0; ow < Wo; ow++) {
                        double acc = cs[t].bias ? b[k] : 0;
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t r = 0; r < R; r++)
                                for (int64_t s = 0; s < R; s++) {
                                    const int64_t ih = oh * cs[t].stride - cs[t].pad + r, iw = ow * cs[t].stride - cs[t].pad + s;
                                    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                        acc += (double)x[((n * C + c) * H + ih) * W + iw] * w[((k * C + c) * R + r) * R + s];
                                }
                        const int64_t i = ((n * K + k) * Ho + oh) * Wo + ow;
                        const double rv = cs[t].res ? res[i] : 0;
                        ref[i] = cs[t].after ? act_d(cs[t].act, acc + rv) : act_d(cs[t].act, acc) + rv;
                    }
        for (int lay = 0; lay < 2; lay++) {
            ig_conv2d op = {.stride = cs[t].stride, .pad = cs[t].pad, .pad_extra_b = cs[t].eb, .pad_extra_r = cs[t].er,
                            .act = cs[t].act, .act_after_res = cs[t].after};
            op.w = tfrom(cs[t].wdt, 4, (int64_t[]){K, C, R, R}, PLAIN, w);
            if (cs[t].bias) op.b = tfrom(IG_F32, 1, &K, PLAIN, b);
            ig_tensor tx = tfrom(cs[t].xdt, 4, (int64_t[]){N, C, H, W}, lay ? NHWC : PLAIN, x);
            ig_tensor tr = tfrom(cs[t].xdt, 4, (int64_t[]){N, K, Ho, Wo}, lay ? NHWC : PLAIN, res);
            ig_tensor ty = tnew(IG_F32, 4, (int64_t[]){N, K, Ho, Wo}, lay ? NHWC : PLAIN);
            char name[160];
            snprintf(name, sizeof name, "conv2d ref (%lld,%lld,%lld,%lld) k%lld r%lld s%d p%d+%d,%d %s x %s w %s%s%s",
                     (long long)N, (long long)C, (long long)H, (long long)W, (long long)K, (long long)R, cs[t].stride,
                     cs[t].pad, cs[t].eb, cs[t].er, dn(cs[t].xdt), dn(cs[t].wdt), act_name[cs[t].act],
                     cs[t].res ? (cs[t].after ? " +res first" : " +res") : "", lay ? " nhwc" : "");
            if (run_ok(engines[0], ig_op_conv2d(engines[0], &op, &tx, cs[t].res ? &tr : NULL, &ty))) check_t(name, &ty, ref);
            ig_conv2d_release(engines[0], &op);
            tfree(&op.w), tfree(&op.b), tfree(&tx), tfree(&tr), tfree(&ty);
        }
        free(x), free(w), free(b), free(res), free(ref);
    }
}

static void test_ref_linear(void) {
    printf("ref linear\n");
    struct { int64_t B, T, I, O; ig_act act; bool geglu, bias, res; ig_dtype xdt, wdt; } cs[] = {
        {2, 7, 13, 11, IG_ACT_GELU_TANH, false, true, true, IG_F32, IG_F32},
        {1, 5, 40, 9, IG_ACT_NONE, true, true, false, IG_F32, IG_F16},   /* GEGLU: w (18, 40) -> y (..., 9) */
        {2, 3, 16, 7, IG_ACT_NONE, true, false, true, IG_BF16, IG_BF16}, /* GEGLU + residual, no bias */
        {1, 4, 8, 5, IG_ACT_QUICK_GELU, false, false, false, IG_F32, IG_F32},
    };
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        const int64_t B = cs[t].B, T = cs[t].T, I = cs[t].I, O = cs[t].O, Ow = cs[t].geglu ? 2 * O : O, rows = B * T;
        float *x = rnd((size_t)(rows * I), -2, 2, cs[t].xdt), *w = rnd((size_t)(Ow * I), -1, 1, cs[t].wdt);
        float *b = rnd((size_t)Ow, -1, 1, IG_F32), *res = rnd((size_t)(rows * O), -1, 1, cs[t].xdt);
        double *ref = malloc((size_t)(rows * O) * sizeof *ref);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < O; o++) {
                double h = cs[t].bias ? b[o] : 0, g = cs[t].geglu && cs[t].bias ? b[O + o] : 0;
                for (int64_t i = 0; i < I; i++) {
                    h += (double)x[r * I + i] * w[o * I + i];
                    if (cs[t].geglu) g += (double)x[r * I + i] * w[(O + o) * I + i];
                }
                /* diffusers GEGLU: hidden_states, gate = proj(x).chunk(2, dim=-1); hidden_states * gelu(gate) */
                const double v = cs[t].geglu ? h * act_d(IG_ACT_GELU_ERF, g) : act_d(cs[t].act, h);
                ref[r * O + o] = v + (cs[t].res ? res[r * O + o] : 0);
            }
        ig_linear op = {.act = cs[t].act, .geglu = cs[t].geglu};
        op.w = tfrom(cs[t].wdt, 2, (int64_t[]){Ow, I}, PLAIN, w);
        if (cs[t].bias) op.b = tfrom(IG_F32, 1, &Ow, PLAIN, b);
        ig_tensor tx = tfrom(cs[t].xdt, 3, (int64_t[]){B, T, I}, PLAIN, x);
        ig_tensor tr = tfrom(cs[t].xdt, 3, (int64_t[]){B, T, O}, PLAIN, res), ty = tnew(IG_F32, 3, (int64_t[]){B, T, O}, PLAIN);
        char name[160];
        snprintf(name, sizeof name, "linear ref (%lld,%lld,%lld)->%lld %s x %s w %s%s%s", (long long)B, (long long)T, (long long)I,
                 (long long)O, dn(cs[t].xdt), dn(cs[t].wdt), cs[t].geglu ? "geglu" : act_name[cs[t].act], cs[t].bias ? " +b" : "",
                 cs[t].res ? " +res" : "");
        if (run_ok(engines[0], ig_op_linear(engines[0], &op, &tx, cs[t].res ? &tr : NULL, &ty))) check_t(name, &ty, ref);
        ig_linear_release(engines[0], &op);
        tfree(&op.w), tfree(&op.b), tfree(&tx), tfree(&tr), tfree(&ty);
        free(x), free(w), free(b), free(res), free(ref);
    }
}

static void test_ref_attention(void) {
    printf("ref attention\n");
    struct { int64_t B, Tq, Tk, H, D; float scale; ig_dtype dt; } cs[] = {
        {2, 5, 7, 3, 4, 0.5f, IG_F32}, {1, 9, 9, 1, 13, 0.27735f, IG_F32}, {2, 4, 3, 2, 8, 0.35355f, IG_BF16}, {1, 3, 1, 2, 5, 1.0f, IG_F32}};
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        const int64_t B = cs[t].B, Tq = cs[t].Tq, Tk = cs[t].Tk, Hh = cs[t].H, D = cs[t].D, HD = Hh * D;
        float *q = rnd((size_t)(B * Tq * HD), -2, 2, cs[t].dt), *k = rnd((size_t)(B * Tk * HD), -2, 2, cs[t].dt);
        float *v = rnd((size_t)(B * Tk * HD), -2, 2, cs[t].dt);
        double *ref = malloc((size_t)(B * Tq * HD) * sizeof *ref), *p = malloc((size_t)Tk * sizeof *p);
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < Hh; h++)
                for (int64_t i = 0; i < Tq; i++) {
                    double m = -INFINITY, s = 0;
                    for (int64_t j = 0; j < Tk; j++) {
                        p[j] = 0;
                        for (int64_t d = 0; d < D; d++) p[j] += (double)q[(b * Tq + i) * HD + h * D + d] * k[(b * Tk + j) * HD + h * D + d];
                        p[j] *= cs[t].scale;
                        m = fmax(m, p[j]);
                    }
                    for (int64_t j = 0; j < Tk; j++) s += p[j] = exp(p[j] - m);
                    for (int64_t d = 0; d < D; d++) {
                        double o = 0;
                        for (int64_t j = 0; j < Tk; j++) o += p[j] / s * v[(b * Tk + j) * HD + h * D + d];
                        ref[(b * Tq + i) * HD + h * D + d] = o;
                    }
                }
        ig_tensor tq = tfrom(cs[t].dt, 3, (int64_t[]){B, Tq, HD}, PLAIN, q), tk = tfrom(cs[t].dt, 3, (int64_t[]){B, Tk, HD}, PLAIN, k);
        ig_tensor tv = tfrom(cs[t].dt, 3, (int64_t[]){B, Tk, HD}, PLAIN, v), to = tnew(IG_F32, 3, (int64_t[]){B, Tq, HD}, PLAIN);
        char name[160];
        snprintf(name, sizeof name, "attention ref B%lld Tq%lld Tk%lld H%lld D%lld %s", (long long)B, (long long)Tq, (long long)Tk,
                 (long long)Hh, (long long)D, dn(cs[t].dt));
        if (run_ok(engines[0], ig_op_attention(engines[0], &tq, &tk, &tv, (int)Hh, cs[t].scale, false, &to))) check_t(name, &to, ref);
        tfree(&tq), tfree(&tk), tfree(&tv), tfree(&to);
        free(q), free(k), free(v), free(ref), free(p);
    }
}

/* ---- timestep embedding (ops.c, backend-independent) ---- */

static void test_timestep_embedding(void) {
    printf("timestep_embedding\n");
    /* SD 1.x UNet: dim 320, flip_sin_to_cos True, shift 0; plus an odd dim with the other options. */
    struct { int dim; bool flip; float shift; } cs[] = {{320, true, 0.0f}, {7, false, 1.0f}, {64, false, 1.0f}};
    float tv[8] = {0, 1, 17.5f, 500, 999, 0, 0, 0};
    for (int i = 5; i < 8; i++) tv[i] = test_randf(0, 999);
    const int64_t N = 8;
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        const int dim = cs[c].dim, half = dim / 2;
        double *ref_f32arg = calloc((size_t)(N * dim), sizeof(double)), *ref_exact = calloc((size_t)(N * dim), sizeof(double));
        for (int64_t n = 0; n < N; n++)
            for (int i = 0; i < half; i++) {
                /* diffusers get_timestep_embedding in f32: exponent = -ln(10000) * arange(half) / (half - shift),
                 * emb = t * exp(exponent), each step rounded to f32; sin/cos here in double. */
                const float expo = ((float)-log(10000.0) * (float)i) / ((float)half - cs[c].shift);
                const float arg = tv[n] * expf(expo);
                const double exact = (double)tv[n] * exp(-log(10000.0) * i / (half - (double)cs[c].shift));
                ref_f32arg[n * dim + i] = cs[c].flip ? cos((double)arg) : sin((double)arg);
                ref_f32arg[n * dim + half + i] = cs[c].flip ? sin((double)arg) : cos((double)arg);
                ref_exact[n * dim + i] = cs[c].flip ? cos(exact) : sin(exact);
                ref_exact[n * dim + half + i] = cs[c].flip ? sin(exact) : cos(exact);
            }
        ig_tensor tt = tfrom(IG_F32, 1, &N, PLAIN, tv), ty = tnew(IG_F32, 2, (int64_t[]){N, dim}, PLAIN);
        char name[128];
        if (run_ok(engines[0], ig_op_timestep_embedding(engines[0], &tt, dim, cs[c].flip, cs[c].shift, &ty))) {
            float *got = tget(&ty);
            /* Same f32 argument as torch: only sinf/cosf vs sin/cos of that float differ (< 1 ulp of a value <= 1). */
            snprintf(name, sizeof name, "timestep_embedding dim %d torch-f32 argument", dim);
            check_close(name, got, ref_f32arg, (size_t)(N * dim), 1e-6, 0);
            /* Exact math: the f32 argument t * freq (|arg| <= 999, ulp 6.1e-5) and the rounded exponent
             * (|expo| * 2^-23 relative in freq) move sin/cos by up to ~1e-4 at t = 999. */
            snprintf(name, sizeof name, "timestep_embedding dim %d exact math (f32 arg rounding)", dim);
            check_close(name, got, ref_exact, (size_t)(N * dim), 2e-4, 0);
            free(got);
        }
        tfree(&tt), tfree(&ty), free(ref_f32arg), free(ref_exact);
    }
}

/* ---- data movement: upload, download, copy (one contract, three entries), fill, embedding ---- */

typedef ig_status (*xfer_fn)(ig_engine *e, const ig_tensor *src, ig_tensor *dst);
static ig_status op_upload(ig_engine *e, const ig_tensor *s, ig_tensor *d) { return ig_op_upload(e, s, d); }
static ig_status op_download(ig_engine *e, const ig_tensor *s, ig_tensor *d) { return ig_op_download(e, s, d); }
static ig_status op_copy(ig_engine *e, const ig_tensor *s, ig_tensor *d) { return ig_op_copy(e, s, d); }

/* Every dtype pair and layout pair: the destination holds each source value rounded once to its
 * dtype, so the tolerance is 0 (f16 <-> bf16 goes through f32, where both are exact). */
static void test_transfer(void) {
    printf("upload / download / copy\n");
    const ig_dtype dts[3] = {IG_F32, IG_BF16, IG_F16};
    const xfer_fn fns[3] = {op_upload, op_download, op_copy};
    const char *fn_name[3] = {"upload", "download", "copy"};
    const int64_t ne[4] = {2, 13, 7, 5}, n = 2 * 13 * 7 * 5;
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int si = 0; si < 3; si++)
        for (int di = 0; di < 3; di++) {
            /* large magnitudes, within f16's range (65504) where f16 is on either side */
            const float hi = dts[si] == IG_F16 || dts[di] == IG_F16 ? 8000 : 70000;
            float *v = rnd((size_t)n, -hi, hi, dts[si]);
            for (int64_t i = 0; i < n; i++) ref[i] = round_to(dts[di], v[i]);
            for (int l = 0; l < 4; l++)
                for (int ei = 0; ei < N_ENG; ei++) {
                    ig_engine *e = engines[ei];
                    const int ls = l & 1 ? NHWC : PLAIN, ld = l & 2 ? NHWC : PLAIN, k = (si + di + l + ei) % 3;
                    ig_tensor ts = tfrom(dts[si], 4, ne, ls, v), td = tnew(dts[di], 4, ne, ld);
                    char name[128];
                    snprintf(name, sizeof name, "%s %s %s %s->%s %s->%s", fn_name[k], e->be->name, "(2,13,7,5)",
                             dn(dts[si]), dn(dts[di]), ln_(ls), ln_(ld));
                    if (run_ok(e, fns[k](e, &ts, &td))) {
                        float *got = tget(&td);
                        check_close(name, got, ref, (size_t)n, 0, 0);
                        free(got);
                    }
                    tfree(&ts), tfree(&td);
                }
            free(v);
        }
    /* Overlap: the same dtype and layout is a memmove, either direction (vae.c moves activations down). */
    for (int d = 0; d < 2; d++)
        for (int ei = 0; ei < N_ENG; ei++) {
            ig_engine *e = engines[ei];
            const ig_dtype dt = d ? IG_BF16 : IG_F32;
            const size_t es = ig_dtype_size(dt), shift = 7 * 13; /* overlapping by all but 91 elements */
            char *buf = ig__alloc(((size_t)n + shift) * es);
            float *v = rnd((size_t)n, -3, 3, dt);
            for (int64_t i = 0; i < n; i++) ref[i] = v[i];
            for (int dir = 0; dir < 2; dir++) {
                ig_tensor src = ig_tensor_nhwc(dt, 2, 13, 7, 5, buf + (dir ? 0 : shift * es));
                ig_tensor dst = ig_tensor_nhwc(dt, 2, 13, 7, 5, buf + (dir ? shift * es : 0));
                tput(&src, v);
                char name[96];
                snprintf(name, sizeof name, "copy %s %s nhwc overlapping, moved %s", e->be->name, dn(dt), dir ? "up" : "down");
                if (run_ok(e, ig_op_copy(e, &src, &dst))) check_t(name, &dst, ref);
            }
            free(v), ig__free(buf);
        }
    /* what ops.c refuses */
    ig_engine *e = engines[1];
    ig_tensor a = tnew(IG_F32, 4, ne, NHWC), b = tnew(IG_F32, 4, (int64_t[]){2, 13, 5, 7}, NHWC);
    CHECK(ig_op_upload(e, &a, &b) == IG_ERR_INVALID); /* shapes differ */
    e->err = (ig_err){0};
    ig_tensor nod = a;
    nod.data = NULL;
    CHECK(ig_op_download(e, &a, &nod) == IG_ERR_INVALID); /* no memory */
    e->err = (ig_err){0};
    tfree(&a), tfree(&b);
    free(ref);
}

static void test_fill_op(void) {
    printf("fill\n");
    const ig_dtype dts[3] = {IG_F32, IG_BF16, IG_F16};
    const int64_t ne[4] = {2, 13, 7, 5}, n = 2 * 13 * 7 * 5;
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int di = 0; di < 3; di++)
        for (int l = 0; l < 3; l++)
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_engine *e = engines[ei];
                const float val = test_randf(-100, 100);
                ig_tensor y = tnew(dts[di], 4, ne, l == 1 ? NHWC : PLAIN), view = y;
                if (l == 2) view.ne[3] = 3; /* every row cut short: a strided view (the ref path) */
                for (int64_t i = 0; i < n; i++) ref[i] = (l < 2 || i % 5 < 3) ? round_to(dts[di], val) : NAN;
                char name[96];
                snprintf(name, sizeof name, "fill %s %s %s", e->be->name, dn(dts[di]), l == 2 ? "strided view" : ln_(l));
                if (run_ok(e, ig_op_fill(e, val, &view))) {
                    float *got = tget(&y);
                    int untouched = 1;
                    for (int64_t i = 0; i < n; i++) /* outside the view: still the NaN tnew wrote */
                        if (isnan(ref[i])) untouched &= isnan(got[i]), got[i] = 0, ref[i] = 0;
                    CHECK(untouched);
                    check_close(name, got, ref, (size_t)n, 0, 0);
                    free(got);
                }
                tfree(&y);
            }
    free(ref);
}

/* out[b, t] = table[id] + pos[t]: the reference adds the two f32 values in double (the op in f32). */
static void test_embedding(void) {
    printf("embedding\n");
    const int64_t V = 50, D = 37, B = 2, T = 9, P = 12;
    const ig_dtype wdts[3] = {IG_F32, IG_BF16, IG_F16};
    int32_t ids[2 * 9];
    double *ref = malloc((size_t)(B * T * D) * sizeof *ref);
    for (int wi = 0; wi < 3; wi++)
        for (int oi = 0; oi < 2; oi++)
            for (int ei = 0; ei < N_ENG; ei++) {
                ig_engine *e = engines[ei];
                const ig_dtype odt = oi ? IG_BF16 : IG_F32;
                for (int i = 0; i < B * T; i++) ids[i] = (int32_t)test_randf(0, (float)V - 0.01f);
                ids[0] = 0, ids[B * T - 1] = (int32_t)V - 1;
                float *tv = rnd((size_t)(V * D), -2, 2, wdts[wi]), *pv = rnd((size_t)(P * D), -1, 1, wdts[wi]);
                ig_tensor table = tfrom(wdts[wi], 2, (int64_t[]){V, D}, PLAIN, tv);
                /* positions as a transposed view of a (D, P) block: any strides */
                ig_tensor pt = tnew(wdts[wi], 2, (int64_t[]){D, P}, PLAIN), pos = pt;
                pos.ne[0] = P, pos.ne[1] = D, pos.st[0] = 1, pos.st[1] = P;
                tput(&pos, pv);
                for (int64_t b = 0; b < B; b++)
                    for (int64_t t = 0; t < T; t++)
                        for (int64_t d = 0; d < D; d++)
                            ref[(b * T + t) * D + d] = (double)tv[ids[b * T + t] * D + d] + (double)pv[t * D + d];
                ig_tensor out = tnew(odt, 3, (int64_t[]){B, T, D}, PLAIN);
                char name[96];
                snprintf(name, sizeof name, "embedding %s (50,37) %s -> %s", e->be->name, dn(wdts[wi]), dn(odt));
                if (run_ok(e, ig_op_embedding(e, &table, ids, &pos, &out))) check_t(name, &out, ref);
                if (wi == 0 && oi == 0) { /* what ops.c refuses: an id outside [0, V), too few positions */
                    ids[3] = (int32_t)V;
                    CHECK(ig_op_embedding(e, &table, ids, &pos, &out) == IG_ERR_INVALID);
                    ids[3] = -1;
                    CHECK(ig_op_embedding(e, &table, ids, &pos, &out) == IG_ERR_INVALID);
                    ids[3] = 0;
                    ig_tensor few = pos;
                    few.ne[0] = T - 1;
                    CHECK(ig_op_embedding(e, &table, ids, &few, &out) == IG_ERR_INVALID);
                    e->err = (ig_err){0};
                }
                tfree(&table), tfree(&pt), tfree(&out), free(tv), free(pv);
            }
    free(ref);
}

/* ---- empty tensors: every op accepts a zero-sized dim and writes nothing ---- */

/* The op profile (engine.h, bench --profile): off, nothing is counted; on, each op that reaches the
 * backend adds one call and its time to its own kind (one ops.c rejects is not counted), no other kind moves. */
static void test_profile(void) {
    printf("op profile\n");
    ig_engine *e = engines[1];
    const int64_t img[4] = {1, 16, 5, 7}, big[4] = {1, 16, 10, 14}, g8 = 16;
    ig_tensor x = tnew(IG_F32, 4, img, NHWC), y = tnew(IG_F32, 4, img, NHWC), u = tnew(IG_F32, 4, big, NHWC);
    ig_tensor g = tnew(IG_F32, 1, &g8, PLAIN);
    float v[16 * 5 * 7];
    test_fill(v, 16 * 5 * 7, -1, 1);
    tput(&x, v);
    for (int i = 0; i < 16; i++) ((float *)g.data)[i] = 1.0f;
    memset(e->prof_s, 0, sizeof e->prof_s), memset(e->prof_n, 0, sizeof e->prof_n);
    run_ok(e, ig_op_group_norm(e, &x, 4, 1e-5f, &g, &g, IG_ACT_SILU, &y));
    long none = 0;
    for (int k = 0; k < IG_OPK_COUNT; k++) none += e->prof_n[k];
    CHECK(none == 0); /* profiling is off by default */
    e->profile = true;
    for (int i = 0; i < 3; i++) run_ok(e, ig_op_group_norm(e, &x, 4, 1e-5f, &g, &g, IG_ACT_SILU, &y));
    run_ok(e, ig_op_upsample2x(e, &x, &u));
    CHECK(ig_op_upsample2x(e, &x, &y) != IG_OK); /* wrong output shape: rejected before the backend */
    e->err = (ig_err){0};
    e->profile = false;
    CHECK(e->prof_n[IG_OPK_GROUP_NORM] == 3 && e->prof_s[IG_OPK_GROUP_NORM] > 0);
    CHECK(e->prof_n[IG_OPK_UPSAMPLE] == 1 && e->prof_s[IG_OPK_UPSAMPLE] > 0);
    long others = 0;
    for (int k = 0; k < IG_OPK_COUNT; k++)
        if (k != IG_OPK_GROUP_NORM && k != IG_OPK_UPSAMPLE) others += e->prof_n[k];
    CHECK(others == 0);
    CHECK(!strcmp(ig_op_kind_names[IG_OPK_CONV], "conv2d") && !strcmp(ig_op_kind_names[IG_OPK_CONCAT], "concat"));
    tfree(&x), tfree(&y), tfree(&u), tfree(&g);
}

static void test_empty(void) {
    printf("empty tensors\n");
    for (int ei = 0; ei < N_ENG; ei++) {
        ig_engine *e = engines[ei];
        const int64_t img[4] = {2, 0, 3, 3}, img2[4] = {2, 0, 6, 6}, nimg[4] = {0, 8, 3, 3}, rows[2] = {3, 0}, cols[2] = {0, 5};
        const int64_t g8 = 8, ca[4] = {1, 3, 2, 2}, cb[4] = {1, 0, 2, 2};
        ig_tensor x = tnew(IG_F32, 4, img, NHWC), y = tnew(IG_BF16, 4, img, NHWC), u = tnew(IG_F32, 4, img2, NHWC);
        ig_tensor nx = tnew(IG_F32, 4, nimg, NHWC), ny = tnew(IG_F32, 4, nimg, NHWC), g = tnew(IG_F32, 1, &g8, PLAIN);
        ig_tensor r = tnew(IG_F32, 2, rows, PLAIN), c = tnew(IG_F32, 2, cols, PLAIN);
        ig_tensor ta = tnew(IG_F32, 4, ca, NHWC), tb = tnew(IG_F32, 4, cb, NHWC), ty = tnew(IG_F32, 4, ca, NHWC);
        float v[12];
        test_fill(v, 12, -1, 1);
        tput(&ta, v);
        run_ok(e, ig_op_act(e, IG_ACT_SILU, &x, &y));
        run_ok(e, ig_op_binary(e, IG_BIN_ADD, &x, &x, &y));
        run_ok(e, ig_op_upsample2x(e, &x, &u));
        run_ok(e, ig_op_group_norm(e, &x, 1, 1e-5f, NULL, NULL, IG_ACT_NONE, &x));
        run_ok(e, ig_op_group_norm(e, &nx, 4, 1e-5f, &g, &g, IG_ACT_SILU, &ny));
        run_ok(e, ig_op_layer_norm(e, &r, 1e-5f, NULL, NULL, &r));
        run_ok(e, ig_op_softmax(e, &r, 1.0f, &r));
        run_ok(e, ig_op_softmax(e, &c, 1.0f, &c));
        if (run_ok(e, ig_op_concat(e, &ta, &tb, &ty))) { /* Cb = 0: y is a */
            double ref[12];
            for (int i = 0; i < 12; i++) ref[i] = v[i];
            char name[64];
            snprintf(name, sizeof name, "concat %s with an empty b", e->be->name);
            check_t(name, &ty, ref);
        }
        tfree(&x), tfree(&y), tfree(&u), tfree(&nx), tfree(&ny), tfree(&g), tfree(&r), tfree(&c), tfree(&ta), tfree(&tb), tfree(&ty);
    }
}

/* ---- vec.h math against libm in double (per-element relative error, with a floor for values f32 flushes) ---- */

static void vec_check(const char *name, const float *got, const double *ref, int n, double rtol, double atol) {
    double worst = 0;
    int wi = 0;
    for (int i = 0; i < n; i++) {
        const double err = fabs(got[i] - ref[i]) / fmax(fabs(ref[i]), atol / rtol);
        if (!(err <= worst)) worst = isnan(err) ? INFINITY : err, wi = i;
    }
    test_checks++;
    const bool ok = worst <= rtol;
    if (!ok) test_failures++;
    fprintf(ok ? stdout : stderr, "  %-48s max_rel_err=%.3g (tol %.3g)%s\n", name, worst, rtol, ok ? "" : "  FAIL");
    if (!ok) fprintf(stderr, "    worst at %d: got %.9g ref %.9g\n", wi, got[wi], ref[wi]);
}

IG_AVX512 static void vec_eval(int f, const float *x, float *y, int n) {
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), r;
        switch (f) {
        case 0: r = ig__v_exp(v); break;
        case 1: r = ig__v_sigmoid(v); break;
        case 2: r = ig__v_tanh(v); break;
        case 3: r = ig__v_erf(v); break;
        case 4: r = ig__v_gelu_erf(v); break;
        case 5: r = ig__v_gelu_tanh(v); break;
        case 6: r = ig__v_quick_gelu(v); break;
        default: r = ig__v_silu(v); break;
        }
        _mm512_storeu_ps(y + i, r);
    }
}

static void test_vec_math(void) {
    printf("vec.h math\n");
    if (!ig__cpu_has_avx512()) {
        printf("  (no AVX-512 here: skipped)\n");
        return;
    }
    enum { n = 1 << 16 };
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *r = malloc(n * sizeof *r);
    /* Dense near 0 (where erf and tanh switch formulas), then the range the activations see. */
    for (int i = 0; i < n; i++) x[i] = i < n / 4 ? test_randf(-1, 1) : i < n / 2 ? test_randf(-1e-3f, 1e-3f) : test_randf(-30, 30);
    /* Tolerances are about twice what vec.h states. The GELUs are held to relative accuracy where
     * |f| > 1e-4 and to 1e-10 absolute below: deep in their negative tail the f32 rounding of an
     * exponent argument of size ~x^2/2 or 1.702|x| costs ~|arg| * 6e-8 relative, as in torch's f32 code. */
    const struct { const char *name; double rtol, atol; } fs[] = {
        {"exp [-30, 30]", 5e-7, 0}, {"sigmoid", 6e-7, 0},        {"tanh", 6e-7, 0},          {"erf", 6e-7, 0},
        {"gelu_erf", 2e-6, 1e-10},  {"gelu_tanh", 3e-6, 1e-10}, {"quick_gelu", 2e-6, 1e-10}, {"silu", 6e-7, 0}};
    for (int f = 0; f < 8; f++) {
        vec_eval(f, x, y, n);
        for (int i = 0; i < n; i++) {
            const double v = x[i];
            r[i] = f == 0 ? exp(v) : f == 1 ? 1 / (1 + exp(-v)) : f == 2 ? tanh(v) : f == 3 ? erf(v)
                 : f == 4 ? 0.5 * v * erfc(-v / sqrt(2.0))
                 : f == 5 ? v / (1 + exp(-2 * sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))) /* = torch's tanh form, no cancellation */
                 : f == 6 ? act_d(IG_ACT_QUICK_GELU, v) : act_d(IG_ACT_SILU, v);
        }
        vec_check(fs[f].name, y, r, n, fs[f].rtol, fs[f].atol);
    }
    free(x), free(y), free(r);
}

/* ---- speed (printed, never asserted) ---- */

static double best_s(ig_engine *e, int what, const ig_tensor *x, ig_tensor *y, const ig_tensor *g, const ig_tensor *b) {
    double best = 1e9;
    for (int it = 0; it < 30; it++) {
        const double t0 = ig__now_s();
        ig_status st = what == 0 ? ig_op_group_norm(e, x, 32, 1e-5f, g, b, IG_ACT_SILU, y)
                     : what == 3 ? ig_op_group_norm(e, x, 32, 1e-5f, g, b, IG_ACT_NONE, y)
                     : what == 1 ? ig_op_layer_norm(e, x, 1e-5f, g, b, y)
                                 : ig_op_softmax(e, x, 0.125f, y);
        const double t = ig__now_s() - t0;
        if (st != IG_OK) return NAN;
        if (t < best) best = t;
    }
    return best;
}

static double memcpy_gbs(size_t bytes, bool par) {
    char *a = ig__alloc(bytes), *b = ig__alloc(bytes);
    memset(a, 1, bytes), memset(b, 2, bytes);
    double best = 1e9;
    for (int it = 0; it < 30; it++) {
        const double t0 = ig__now_s();
        if (par) {
#pragma omp parallel
            {
                const int nt = omp_get_num_threads(), t = omp_get_thread_num();
                const size_t lo = bytes * (size_t)t / (size_t)nt, hi = bytes * (size_t)(t + 1) / (size_t)nt;
                memcpy(b + lo, a + lo, hi - lo);
            }
        } else
            memcpy(b, a, bytes);
        const double t = ig__now_s() - t0;
        if (t < best) best = t;
    }
    ig__free(a), ig__free(b);
    return 2.0 * (double)bytes / best * 1e-9; /* read + write */
}

static void bench(void) {
    ig_engine *e = engines[1];
    /* Group norm reads x twice (statistics, then apply), so its memory traffic is 1.5x what the GB/s counts. */
    printf("speed (%d OpenMP threads, %s; GB/s = (bytes read once + written) / best of 30; not asserted; a shared machine makes these noisy)\n",
           omp_get_max_threads(), ig__cpu_has_avx512() ? "AVX-512" : "scalar");
    struct { const char *name; int what; int n_dims; int64_t ne[4]; int layout; } cs[] = {
        {"group_norm+silu (2,320,64,64) nhwc", 0, 4, {2, 320, 64, 64}, NHWC},
        {"group_norm (2,320,64,64) nhwc", 3, 4, {2, 320, 64, 64}, NHWC}, /* without SiLU's arithmetic */
        {"layer_norm (2,4096,320)", 1, 3, {2, 4096, 320}, PLAIN},
        {"softmax (10*2*64, 4096)", 2, 2, {10 * 2 * 64, 4096}, PLAIN},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++)
        for (int k = 0; k < 2; k++) {
            const ig_dtype dt = k ? IG_BF16 : IG_F32;
            const int64_t C = cs[c].what == 0 || cs[c].what == 3 ? cs[c].ne[1] : cs[c].ne[cs[c].n_dims - 1];
            ig_tensor x = tnew(dt, cs[c].n_dims, cs[c].ne, cs[c].layout), y = tnew(dt, cs[c].n_dims, cs[c].ne, cs[c].layout);
            const int64_t n = ig_tensor_nelem(&x);
            float *v = rnd((size_t)n, -2, 2, dt);
            tput(&x, v), tput(&y, v), free(v);
            float *gv = rnd((size_t)C, 0.5f, 1.5f, IG_F32);
            ig_tensor g = tfrom(IG_F32, 1, &C, PLAIN, gv), b = tfrom(IG_F32, 1, &C, PLAIN, gv);
            const double t = best_s(e, cs[c].what, &x, &y, &g, &b);
            const size_t bytes = (size_t)n * ig_dtype_size(dt);
            printf("  %-40s %-4s %8.3f ms %6.1f GB/s | memcpy of x: 1 thread %6.1f GB/s, %d threads %6.1f GB/s\n", cs[c].name,
                   dn(dt), t * 1e3, 2.0 * (double)bytes / t * 1e-9, memcpy_gbs(bytes, false), omp_get_max_threads(),
                   memcpy_gbs(bytes, true));
            free(gv), tfree(&x), tfree(&y), tfree(&g), tfree(&b);
        }
    printf("  memcpy 256 MiB (DRAM, not cache): 1 thread %.1f GB/s, %d threads %.1f GB/s\n", memcpy_gbs(256u << 20, false),
           omp_get_max_threads(), memcpy_gbs(256u << 20, true));
}

int main(void) {
    test_seed();
    ig_err err = {0};
    if (ig_engine_create(&engines[0], "ref", IG_PRECISION_F32, &err) != IG_OK ||
        ig_engine_create(&engines[1], "cpu", IG_PRECISION_F32, &err) != IG_OK) {
        fprintf(stderr, "test_ops: %s\n", err.msg);
        return 1;
    }
    engines[2] = &scalar_engine;

    test_vec_math();
    test_group_norm();
    test_layer_norm();
    test_softmax();
    test_act();
    test_binary();
    test_upsample();
    test_concat();
    test_ref_conv2d();
    test_ref_linear();
    test_ref_attention();
    test_timestep_embedding();
    test_transfer();
    test_fill_op();
    test_embedding();
    test_empty();
    test_profile();
    if (!getenv("IMAGINE_TEST_NO_BENCH")) bench();
    ig_engine_free(engines[0]), ig_engine_free(engines[1]);
    return test_finish("test_ops");
}
