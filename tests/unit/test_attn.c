/* test_attn.c — ig__cpu_attention (cpu/attn.c, cpu/attn_bf16.c) and ig__dnnl_gemm (cpu/dnnl/gemm.c)
 * against naive float64 loops on fresh random inputs, on every path this machine has (AMX tiles,
 * vdpbf16ps microkernels, oneDNN GEMMs with AVX-512 softmax, plain-C softmax; the avx512bf16 path
 * is forced on every case where the CPU has AVX512_BF16, AMX or not), the avx512bf16 path's
 * thread-count independence (bit-identical), then timings of Stable Diffusion's shapes (printed,
 * not asserted). Includes attn.c and gemm.c to reach their path switches and fallbacks.
 *
 * Tolerances (max|got - ref| against max|ref|):
 *  f32 in, f32 out   1e-5 relative (+ 2.4e-7 max|scaled score|: a score's own f32 rounding, about
 *                    4 x 2^-24 |s|, perturbs its weight as much; matters only in the case with
 *                    scores near 200): exact-ish exp (2.3e-7) and f32 GEMMs over <= 1024 terms.
 *  f32 in, bf16 out  5e-3 relative: the output rounding dominates (half an ulp: at most 2^-8 of a value).
 *  bf16 in           1e-2 relative, reference computed on the bf16-rounded inputs: P is rounded to
 *                    bf16 before P V (up to 2^-9 per term; a peaky softmax averages few terms),
 *                    the exp2 polynomial (1e-4), bf16 output rounding (up to 2^-8). Same bound for
 *                    every bf16 path (amx, avx512bf16, gemm).
 *  gemm              1e-5 relative to max|ref| for both dtypes (bf16 products are exact in f32;
 *                    only f32 accumulation differs from the float64 sum).
 * Run with IMAGINE_TEST_SEED=n to repeat a run; IMAGINE_ATTN_BENCH=0 skips the timings,
 * IMAGINE_ATTN_BENCH_ONLY=text times only the shapes whose label contains it, IMAGINE_ATTN_TUNE=
 * "bq,bk;bq,bk" adds the last path again with those block sizes (OMP_NUM_THREADS=1 for kernel
 * tuning on a shared machine). */
#include "../../src/engine/cpu/attn.c"
#include "../../src/engine/cpu/dnnl/gemm.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>

#include "bench/peak.h"
#include "engine/engine.h"
#include "test.h"

/* A "cpu" engine in f32 (its attention settings live in its context); aborts the test if none. */
static ig_engine *new_engine(void) {
    ig_err err = {0};
    ig_engine *e = NULL;
    if (ig_engine_create(&e, "cpu", IG_PRECISION_F32, &err) != IG_OK) {
        fprintf(stderr, "test_attn: %s\n", err.msg);
        exit(1);
    }
    return e;
}

static void round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = ig_bf16_to_f32(ig_f32_to_bf16(x[i]));
}

/* Copies f32 values into a buffer of dtype dt (caller frees). */
static void *to_dtype(const float *x, size_t n, ig_dtype dt) {
    void *p = ig__alloc(n * ig_dtype_size(dt));
    if (dt == IG_F32) memcpy(p, x, n * 4);
    else
        for (size_t i = 0; i < n; i++) ((uint16_t *)p)[i] = ig_f32_to_bf16(x[i]);
    return p;
}

static void from_dtype(float *dst, const void *src, size_t n, ig_dtype dt) {
    if (dt == IG_F32) memcpy(dst, src, n * 4);
    else
        for (size_t i = 0; i < n; i++) dst[i] = ig_bf16_to_f32(((const uint16_t *)src)[i]);
}

/* ------------------------------------------------------------------------------------------- */
static void test_gemm_case(ig_dtype dt, bool transb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    const int64_t lda = K + 3, ldb = (transb ? K : N) + 5, ldc = N + 7, b_rows = transb ? N : K;
    float *a = malloc((size_t)(M * lda) * 4), *b = malloc((size_t)(b_rows * ldb) * 4);
    float *c = malloc((size_t)(M * ldc) * 4), *c0 = malloc((size_t)(M * ldc) * 4);
    double *ref = malloc((size_t)(M * N) * 8);
    float *got = malloc((size_t)(M * N) * 4);
    test_fill(a, (size_t)(M * lda), -1, 1);
    test_fill(b, (size_t)(b_rows * ldb), -1, 1);
    test_fill(c0, (size_t)(M * ldc), -1, 1);
    if (beta == 0)
        for (int64_t i = 0; i < M * ldc; i++) c0[i] = NAN; /* beta 0 must overwrite, not scale */
    if (dt == IG_BF16) round_bf16(a, (size_t)(M * lda)), round_bf16(b, (size_t)(b_rows * ldb));
    memcpy(c, c0, (size_t)(M * ldc) * 4);
    void *ad = to_dtype(a, (size_t)(M * lda), dt), *bd = to_dtype(b, (size_t)(b_rows * ldb), dt);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t kk = 0; kk < K; kk++)
                s += (double)a[i * lda + kk] * (transb ? b[j * ldb + kk] : b[kk * ldb + j]);
            ref[i * N + j] = alpha * s + (beta == 0 ? 0.0 : (double)beta * c0[i * ldc + j]);
        }
    ig_status st = ig__dnnl_gemm(dt, transb, M, N, K, alpha, ad, lda, bd, ldb, beta, c, ldc);
    CHECK(st == IG_OK);
    bool pad_ok = true; /* columns past N keep their old contents */
    for (int64_t i = 0; i < M; i++) {
        memcpy(got + i * N, c + i * ldc, (size_t)N * 4);
        for (int64_t j = N; j < ldc; j++)
            if (memcmp(&c[i * ldc + j], &c0[i * ldc + j], 4)) pad_ok = false;
    }
    CHECK(pad_ok);
    char name[128];
    snprintf(name, sizeof name, "gemm %s %s M=%lld N=%lld K=%lld a=%g b=%g", ig_dtype_name(dt), transb ? "NT" : "NN",
             (long long)M, (long long)N, (long long)K, alpha, beta);
    check_close(name, got, ref, (size_t)(M * N), 0, 1e-5);
    ig__free(bd), ig__free(ad);
    free(got), free(ref), free(c0), free(c), free(b), free(a);
}

static void test_gemm(void) {
    printf("ig__dnnl_gemm (native bf16: %s)\n", ig__dnnl_gemm_native_bf16() ? "yes" : "no");
    for (int dt = 0; dt < 2; dt++)
        for (int tb = 0; tb < 2; tb++) {
            test_gemm_case((ig_dtype)dt, tb, 37, 53, 24, 1.0f, 0.0f);
            test_gemm_case((ig_dtype)dt, tb, 5, 77, 131, 0.5f, 1.0f);
            test_gemm_case((ig_dtype)dt, tb, 64, 64, 77, 1.0f, -0.25f);
            test_gemm_case((ig_dtype)dt, tb, 1, 1, 1, 2.0f, 0.0f);
        }
    /* Widened fallback (machines without AVX-512) called directly. */
    {
        float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, -1, 2, 0.5f, 0.25f}, c[4];
        uint16_t a16[6], b16[6];
        for (int i = 0; i < 6; i++) a16[i] = ig_f32_to_bf16(a[i]), b16[i] = ig_f32_to_bf16(b[i]);
        CHECK(gemm_bf16_widened(false, 2, 2, 3, 1.0f, a16, 3, b16, 2, 0.0f, c, 2) == IG_OK);
        double ref[4] = {1 * 1 + 2 * -1 + 3 * 0.5, 1 * 0 + 2 * 2 + 3 * 0.25, 4 * 1 + 5 * -1 + 6 * 0.5,
                         4 * 0 + 5 * 2 + 6 * 0.25};
        check_close("gemm bf16 widened fallback", c, ref, 4, 0, 1e-6);
    }
    CHECK(ig__dnnl_gemm(IG_F32, false, 2, 2, 3, 1, NULL, 2 /* lda < K */, NULL, 2, 0, NULL, 2) == IG_ERR_INVALID);
    { /* K = 0: C = beta C, and beta 0 overwrites (NaN included) */
        float c[4] = {NAN, NAN, 2, 2};
        CHECK(ig__dnnl_gemm(IG_F32, false, 1, 2, 0, 1, c, 0, c, 2, 0, c, 2) == IG_OK && c[0] == 0 && c[1] == 0);
        CHECK(ig__dnnl_gemm(IG_BF16, true, 1, 2, 0, 1, c, 0, c, 0, 0.5f, c + 2, 2) == IG_OK && c[2] == 1 && c[3] == 1);
    }
}

/* ------------------------------------------------------------------------------------------- */
/* Returns max |scale q.k|, which sets how precisely any f32 implementation can get the weights. */
static double attn_ref(const float *q, const float *k, const float *v, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                       int64_t D, double scale, bool causal, double *out) {
    const int64_t ld = H * D;
    double smax = 0;
    double *s = malloc((size_t)Tk * 8);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const float *qi = q + (b * Tq + i) * ld + h * D;
                double mx = -INFINITY, sum = 0;
                const int64_t nk = causal ? i + 1 : Tk; /* causal: keys after i do not exist for query i */
                for (int64_t j = 0; j < nk; j++) {
                    const float *kj = k + (b * Tk + j) * ld + h * D;
                    double d = 0;
                    for (int64_t c = 0; c < D; c++) d += (double)qi[c] * kj[c];
                    s[j] = d * scale;
                    if (s[j] > mx) mx = s[j];
                    if (fabs(s[j]) > smax) smax = fabs(s[j]);
                }
                for (int64_t j = 0; j < nk; j++) sum += (s[j] = exp(s[j] - mx));
                double *o = out + (b * Tq + i) * ld + h * D;
                for (int64_t c = 0; c < D; c++) o[c] = 0;
                for (int64_t j = 0; j < nk; j++) {
                    const float *vj = v + (b * Tk + j) * ld + h * D;
                    for (int64_t c = 0; c < D; c++) o[c] += s[j] / sum * vj[c];
                }
            }
    free(s);
    return smax;
}

typedef struct attn_case {
    int64_t B, Tq, Tk, H, D;
    float scale, range; /* inputs uniform in [-range, range] */
    int64_t bk;         /* attn_tune_bk for this case (0: automatic), to force several key blocks */
    float boost;        /* keys from Tk/2 on are multiplied by this (0: not): scores jump between blocks */
    bool causal;        /* CLIP's mask (Tq == Tk) */
} attn_case;

static const char *path_name[] = {"auto", "gemm", "amx", "scalar", "avx512bf16"};

static void run_case(const attn_case *tc, ig_dtype in_dt, ig_dtype out_dt, int path) {
    const int64_t ld = tc->H * tc->D, nq = tc->B * tc->Tq * ld, nk = tc->B * tc->Tk * ld;
    float *q = malloc((size_t)nq * 4), *k = malloc((size_t)nk * 4), *v = malloc((size_t)nk * 4);
    float *got = malloc((size_t)nq * 4);
    double *ref = malloc((size_t)nq * 8);
    test_fill(q, (size_t)nq, -tc->range, tc->range);
    test_fill(k, (size_t)nk, -tc->range, tc->range);
    test_fill(v, (size_t)nk, -1, 1);
    if (tc->boost) /* later keys dominate: the running max jumps by far more than the kernels' slack */
        for (int64_t b = 0; b < tc->B; b++)
            for (int64_t j = tc->Tk / 2; j < tc->Tk; j++)
                for (int64_t c = 0; c < ld; c++) k[(b * tc->Tk + j) * ld + c] *= tc->boost;
    if (in_dt == IG_BF16) round_bf16(q, (size_t)nq), round_bf16(k, (size_t)nk), round_bf16(v, (size_t)nk);
    const double smax = attn_ref(q, k, v, tc->B, tc->Tq, tc->Tk, tc->H, tc->D, tc->scale, tc->causal, ref);

    void *qd = to_dtype(q, (size_t)nq, in_dt), *kd = to_dtype(k, (size_t)nk, in_dt);
    void *vd = to_dtype(v, (size_t)nk, in_dt);
    void *od = ig__alloc((size_t)nq * ig_dtype_size(out_dt));
    memset(od, 0xff, (size_t)nq * ig_dtype_size(out_dt)); /* NaN everywhere: every element must be written */
    int64_t sq[3] = {tc->B, tc->Tq, ld}, sk[3] = {tc->B, tc->Tk, ld};
    ig_tensor tq = ig_tensor_plain(in_dt, 3, sq, qd), tk = ig_tensor_plain(in_dt, 3, sk, kd);
    ig_tensor tv = ig_tensor_plain(in_dt, 3, sk, vd), to = ig_tensor_plain(out_dt, 3, sq, od);
    /* the path switches are the engine's settings: a fresh engine per case, so none leaks into the next */
    ig_engine *eng = new_engine();
    ig__cpu_ctx *cx = eng->ctx;
    cx->attn_force_path = path == 1 || path == 3 ? PATH_GEMM : path == 4 ? PATH_BF16 : PATH_AUTO;
    cx->attn_no_avx512 = path == 3;
    cx->attn_tune_bk = tc->bk;
    ig_status st = ig__cpu_attention(eng, &tq, &tk, &tv, (int)tc->H, tc->scale, tc->causal, &to);
    if (st != IG_OK) fprintf(stderr, "  attention: %s\n", eng->err.msg);
    ig_engine_free(eng);
    CHECK(st == IG_OK);
    from_dtype(got, od, (size_t)nq, out_dt);

    /* f32: a score s carries a rounding error of a few 2^-24 |s|, and so does its weight e^s. */
    const double rtol = in_dt == IG_BF16 ? 1e-2 : out_dt == IG_BF16 ? 5e-3 : 1e-5 + 2.4e-7 * smax;
    char name[160];
    snprintf(name, sizeof name, "%s %s->%s B%lld Tq%lld Tk%lld H%lld D%lld s%g%s%s", path_name[path],
             ig_dtype_name(in_dt), ig_dtype_name(out_dt), (long long)tc->B, (long long)tc->Tq, (long long)tc->Tk,
             (long long)tc->H, (long long)tc->D, tc->scale, tc->bk ? " bk" : "", tc->causal ? " causal" : "");
    check_close(name, got, ref, (size_t)nq, 0, rtol);
    ig__free(od), ig__free(vd), ig__free(kd), ig__free(qd);
    free(ref), free(got), free(v), free(k), free(q);
}

static void test_attention(void) {
    const bool amx = ig__cpu_has_avx512() && amx_available(), bf16dp = ig__attn_bf16_available();
    printf("attention (AVX-512: %s, AMX: %s, AVX512_BF16: %s)\n", ig__cpu_has_avx512() ? "yes" : "no",
           amx ? "yes" : "no", bf16dp ? "yes" : "no");
    const attn_case cases[] = {
        {2, 37, 53, 3, 24, 0.2041f, 1, 0, 0, false},      /* odd everything */
        {2, 37, 53, 3, 24, 0.2041f, 1, 32, 0, false},     /* several key blocks: online rescaling */
        {1, 70, 77, 2, 64, 0.125f, 2, 0, 0, false},       /* cross attention: 77 text tokens */
        {1, 100, 300, 2, 40, 0.158f, 2, 64, 0, false},    /* SD 1.x head width, Tq off the block, 5 key blocks */
        {1, 33, 45, 2, 80, 0.1118f, 2, 0, 0, false},      /* 80: Dp 96, an odd number of 16-channel tiles */
        {1, 40, 40, 1, 512, 0.0442f, 1, 0, 0, false},     /* VAE mid-block: one 512-wide head */
        {2, 9, 7, 3, 5, 0.4472f, 1, 0, 0, false},         /* odd D: the packing's half pair */
        {1, 48, 96, 2, 64, 1.0f, 2, 32, 0, false},        /* peaky softmax, max moving between blocks */
        {1, 20, 33, 2, 16, -0.25f, 1, 0, 0, false},       /* negative scale */
        {1, 40, 128, 2, 64, 1.0f, 1, 32, 12, false},   /* scores jump by hundreds of doublings mid-row */
        {1, 40, 600, 2, 64, 0.125f, 1, 0, 0, false},   /* K and V past the kernels' cache budgets: head-major order */
        {1, 103, 700, 2, 72, 0.118f, 2, 0, 0, false},  /* default key blocks with a 188-key tail, 36 pairs, 5 vectors */
        {1, 50, 600, 1, 64, 1.0f, 1, 0, 12, false},    /* a jump inside a default-sized later block (fused softmax rebases) */
        {2, 77, 77, 4, 16, 0.25f, 2, 0, 0, true},  /* CLIP: causal over 77 tokens */
        {1, 90, 90, 2, 24, 0.2f, 2, 32, 0, true},  /* causal over several key blocks and query blocks */
    };
    const int paths[] = {0, 1, 3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int pi = 0; pi < 3; pi++) {
            const int path = paths[pi];
            run_case(&cases[i], IG_F32, IG_F32, path);
            run_case(&cases[i], IG_BF16, IG_F32, path == 0 && amx ? 2 : path);
            run_case(&cases[i], IG_BF16, IG_BF16, path == 0 && amx ? 2 : path);
            if (path == 0) run_case(&cases[i], IG_F32, IG_BF16, path);
            if (path == 0 && bf16dp) { /* forced, so AMX machines test it too */
                run_case(&cases[i], IG_BF16, IG_F32, 4);
                run_case(&cases[i], IG_BF16, IG_BF16, 4);
            }
        }
}

/* The avx512bf16 path gives the same bits on any number of threads: an item is one thread's, and a
 * thread's own packing of K and V is the same as any other's. */
static void test_bf16_threads(void) {
    if (!ig__attn_bf16_available()) return;
    static const struct {
        int64_t Tq, Tk, H, D;
    } shapes[] = {{200, 600, 3, 64}, {150, 77, 4, 40}}; /* head after head; heads packed together */
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t Tq = shapes[i].Tq, Tk = shapes[i].Tk, H = shapes[i].H, D = shapes[i].D, ld = H * D;
        float *f = malloc((size_t)(IG_MAX(Tq, Tk) * ld) * 4);
        test_fill(f, (size_t)(IG_MAX(Tq, Tk) * ld), -2, 2);
        void *q = to_dtype(f, (size_t)(Tq * ld), IG_BF16), *k = to_dtype(f + 7, (size_t)(Tk * ld - 7), IG_BF16);
        void *v = to_dtype(f + 3, (size_t)(Tk * ld - 3), IG_BF16);
        uint16_t *o[3];
        int64_t sq[3] = {1, Tq, ld}, sk[3] = {1, Tk, ld};
        ig_tensor tq = ig_tensor_plain(IG_BF16, 3, sq, q), tk = ig_tensor_plain(IG_BF16, 3, sk, k);
        ig_tensor tv = ig_tensor_plain(IG_BF16, 3, sk, v);
        const int nt = omp_get_max_threads();
        for (int t = 0; t < 3; t++) { /* 1 thread; all threads; all threads with 192-row query blocks */
            o[t] = ig__alloc((size_t)(Tq * ld) * 2);
            ig_tensor to = ig_tensor_plain(IG_BF16, 3, sq, o[t]);
            ig_engine *eng = new_engine();
            ((ig__cpu_ctx *)eng->ctx)->attn_force_path = PATH_BF16;
            if (t == 2) ((ig__cpu_ctx *)eng->ctx)->attn_tune_bq = 192; /* what a large head gets (attn_bf16.c) */
            omp_set_num_threads(t == 0 ? 1 : IG_MAX(nt, 2));
            CHECK(ig__cpu_attention(eng, &tq, &tk, &tv, (int)H, 0.125f, false, &to) == IG_OK);
            ig_engine_free(eng);
        }
        omp_set_num_threads(nt);
        const bool same = memcmp(o[0], o[1], (size_t)(Tq * ld) * 2) == 0;
        printf("  avx512bf16 Tq%lld Tk%lld H%lld D%lld: 1 thread and %d threads bit-identical: %s\n", (long long)Tq,
               (long long)Tk, (long long)H, (long long)D, IG_MAX(nt, 2), same ? "yes" : "NO");
        CHECK(same);
        /* a row's result does not depend on which query block holds it */
        const bool same_bq = memcmp(o[0], o[2], (size_t)(Tq * ld) * 2) == 0;
        printf("  avx512bf16 Tq%lld Tk%lld H%lld D%lld: 48- and 192-row query blocks bit-identical: %s\n", (long long)Tq,
               (long long)Tk, (long long)H, (long long)D, same_bq ? "yes" : "NO");
        CHECK(same_bq);
        ig__free(o[0]), ig__free(o[1]), ig__free(o[2]), ig__free(v), ig__free(k), ig__free(q);
        free(f);
    }
}

/* Through the public op on engines: "cpu" (this file's kernel) against "ref" (cpu/ref.c), and
 * ops.c's validation in front of it. */
static void test_engine(void) {
    ig_err err = {0};
    ig_engine *cpu = NULL, *ref = NULL;
    CHECK(ig_engine_create(&cpu, "cpu", IG_PRECISION_F32, &err) == IG_OK);
    CHECK(ig_engine_create(&ref, "ref", IG_PRECISION_F32, &err) == IG_OK);
    if (!cpu || !ref) {
        fprintf(stderr, "engine: %s\n", err.msg);
        goto done;
    }
    printf("engine: ig_op_attention, cpu against ref\n");
    const int64_t B = 2, Tq = 45, Tk = 77, H = 4, D = 40, ld = H * D;
    const size_t nq = (size_t)(B * Tq * ld), nk = (size_t)(B * Tk * ld);
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o1 = malloc(nq * 4), *o2 = malloc(nq * 4);
    double *o2d = malloc(nq * 8);
    test_fill(q, nq, -2, 2);
    test_fill(k, nk, -2, 2);
    test_fill(v, nk, -1, 1);
    for (int dt = 0; dt < 2; dt++) {
        const ig_dtype in = (ig_dtype)dt;
        if (in == IG_BF16) round_bf16(q, nq), round_bf16(k, nk), round_bf16(v, nk);
        void *qd = to_dtype(q, nq, in), *kd = to_dtype(k, nk, in), *vd = to_dtype(v, nk, in);
        int64_t sq[3] = {B, Tq, ld}, sk[3] = {B, Tk, ld};
        ig_tensor tq = ig_tensor_plain(in, 3, sq, qd), tk = ig_tensor_plain(in, 3, sk, kd);
        ig_tensor tv = ig_tensor_plain(in, 3, sk, vd);
        ig_tensor t1 = ig_tensor_plain(IG_F32, 3, sq, o1), t2 = ig_tensor_plain(IG_F32, 3, sq, o2);
        CHECK(ig_op_attention(cpu, &tq, &tk, &tv, (int)H, 0.158f, false, &t1) == IG_OK);
        CHECK(ig_op_attention(ref, &tq, &tk, &tv, (int)H, 0.158f, false, &t2) == IG_OK);
        for (size_t i = 0; i < nq; i++) o2d[i] = o2[i];
        check_close(in == IG_F32 ? "engine cpu vs ref, f32" : "engine cpu vs ref, bf16 in", o1, o2d, nq, 0,
                    in == IG_F32 ? 1e-5 : 1e-2);
        if (in == IG_F32) { /* ops.c refuses a head count that does not divide the channels */
            CHECK(ig_op_attention(cpu, &tq, &tk, &tv, 3, 0.158f, false, &t1) == IG_ERR_INVALID);
            cpu->err = (ig_err){0};
        }
        ig__free(vd), ig__free(kd), ig__free(qd);
    }
    { /* causal (CLIP): the ref engine and the cpu engine against the float64 reference */
        const int64_t T = 23, Hc = 3, Dc = 8, ldc = Hc * Dc;
        int64_t sh[3] = {2, T, ldc};
        ig_tensor tq = ig_tensor_plain(IG_F32, 3, sh, q), tk = ig_tensor_plain(IG_F32, 3, sh, k);
        ig_tensor tv = ig_tensor_plain(IG_F32, 3, sh, v);
        ig_tensor t1 = ig_tensor_plain(IG_F32, 3, sh, o1), t2 = ig_tensor_plain(IG_F32, 3, sh, o2);
        attn_ref(q, k, v, 2, T, T, Hc, Dc, 0.35, true, o2d);
        CHECK(ig_op_attention(ref, &tq, &tk, &tv, (int)Hc, 0.35f, true, &t2) == IG_OK);
        CHECK(ig_op_attention(cpu, &tq, &tk, &tv, (int)Hc, 0.35f, true, &t1) == IG_OK);
        check_close("engine ref causal vs float64", o2, o2d, (size_t)(2 * T * ldc), 0, 1e-6);
        check_close("engine cpu causal vs float64", o1, o2d, (size_t)(2 * T * ldc), 0, 1e-5);
        int64_t sk2[3] = {2, T - 1, ldc}; /* causal needs Tq == Tk */
        ig_tensor tk2 = ig_tensor_plain(IG_F32, 3, sk2, k), tv2 = ig_tensor_plain(IG_F32, 3, sk2, v);
        CHECK(ig_op_attention(cpu, &tq, &tk2, &tv2, (int)Hc, 0.35f, true, &t1) == IG_ERR_INVALID);
        cpu->err = (ig_err){0};
    }
    free(o2d), free(o2), free(o1), free(v), free(k), free(q);
done:
    ig_engine_free(ref);
    ig_engine_free(cpu);
}

/* ------------------------------------------------------------------------------------------- */
/* Timings: for each shape the paths run in turn, call after call (a neighbour's load hits them
 * alike), medians are printed against the peak measured before and after each shape (the highest
 * reading: the machine reached at least that). IMAGINE_ATTN_TUNE=bq,bk sets the block sizes. */
typedef struct bench_in {
    ig_tensor q, k, v, o;
    void *buf[4];
} bench_in;

static void bench_setup(bench_in *b, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, ig_dtype dt) {
    const int64_t ld = H * D, nq = B * Tq * ld, nk = B * Tk * ld;
    float *tmp = malloc((size_t)IG_MAX(nq, nk) * 4);
    test_fill(tmp, (size_t)IG_MAX(nq, nk), -1, 1);
    b->buf[0] = to_dtype(tmp, (size_t)nq, dt), b->buf[1] = to_dtype(tmp, (size_t)nk, dt);
    b->buf[2] = to_dtype(tmp, (size_t)nk, dt), b->buf[3] = ig__alloc((size_t)nq * ig_dtype_size(dt));
    int64_t sq[3] = {B, Tq, ld}, sk[3] = {B, Tk, ld};
    b->q = ig_tensor_plain(dt, 3, sq, b->buf[0]), b->k = ig_tensor_plain(dt, 3, sk, b->buf[1]);
    b->v = ig_tensor_plain(dt, 3, sk, b->buf[2]), b->o = ig_tensor_plain(dt, 3, sq, b->buf[3]);
    free(tmp);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double peak_now(ig_dtype dt) {
    ig_peak pk;
    ig_peak_measure_arith(&pk);
    return dt == IG_F32 ? pk.fp32_gflops : pk.bf16_amx_gflops > 0 ? pk.bf16_amx_gflops : pk.bf16_dp_gflops;
}

typedef struct bench_cfg {
    int path;
    int64_t bq, bk; /* 0: automatic */
} bench_cfg;

static void bench_shape(const char *label, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t D, ig_dtype dt,
                        const bench_cfg *cfg, int n_paths) {
    enum { MAX_REPS = 15, MAX_CFG = 8 };
    bench_in in;
    bench_setup(&in, B, Tq, Tk, H, D, dt);
    ig_engine *eng[MAX_CFG];
    double t[MAX_CFG][MAX_REPS];
    for (int i = 0; i < n_paths; i++) {
        eng[i] = new_engine();
        ig__cpu_ctx *cx = eng[i]->ctx;
        cx->attn_force_path = cfg[i].path, cx->attn_tune_bq = cfg[i].bq, cx->attn_tune_bk = cfg[i].bk;
        ig__cpu_attention(eng[i], &in.q, &in.k, &in.v, (int)H, 1.0f / sqrtf((float)D), false, &in.o); /* warm-up */
    }
    double peak = peak_now(dt);
    const double flop = 4.0 * B * H * Tq * Tk * D;
    int reps = 0;
    for (double t_end = ig__now_s() + 4.0; reps < 3 || (ig__now_s() < t_end && reps < MAX_REPS); reps++)
        for (int i = 0; i < n_paths; i++) {
            const double t0 = ig__now_s();
            ig__cpu_attention(eng[i], &in.q, &in.k, &in.v, (int)H, 1.0f / sqrtf((float)D), false, &in.o);
            t[i][reps] = ig__now_s() - t0;
        }
    peak = fmax(peak, peak_now(dt));
    for (int i = 0; i < n_paths; i++) {
        qsort(t[i], (size_t)reps, sizeof(double), cmp_double);
        const double med = t[i][reps / 2], gf = flop / med * 1e-9;
        char tune[32] = "";
        if (cfg[i].bq || cfg[i].bk) snprintf(tune, sizeof tune, " %lld,%lld", (long long)cfg[i].bq, (long long)cfg[i].bk);
        printf("  %-30s %-4s %-10s%-8s %8.2f ms %7.1f GFLOP/s %5.1f %% of %.0f (median of %d; best %.1f %%)\n",
               label, ig_dtype_name(dt), path_name[cfg[i].path == PATH_BF16 ? 4 : cfg[i].path], tune, med * 1e3, gf,
               100 * gf / peak, peak, reps, 100 * flop / t[i][0] * 1e-9 / peak);
        ig_engine_free(eng[i]);
    }
    for (int i = 0; i < 4; i++) ig__free(in.buf[i]);
}

static void bench(void) {
    const char *s = getenv("IMAGINE_ATTN_BENCH");
    if (s && !strcmp(s, "0")) return;
    const bool amx = ig__cpu_has_avx512() && amx_available();
    bench_cfg cfg[8] = {{PATH_GEMM, 0, 0}};
    int n = 1;
    if (amx) cfg[n++] = (bench_cfg){PATH_AMX, 0, 0};
    if (ig__attn_bf16_available()) cfg[n++] = (bench_cfg){PATH_BF16, 0, 0};
    if ((s = getenv("IMAGINE_ATTN_TUNE"))) /* "bq,bk;bq,bk;...": the last path again with these block sizes */
        for (int64_t bq, bk; n < 8 && sscanf(s, "%" SCNd64 ",%" SCNd64, &bq, &bk) == 2; s = strchr(s, ';') + 1) {
            cfg[n] = cfg[n - 1], cfg[n].bq = bq, cfg[n].bk = bk, n++;
            if (!strchr(s, ';')) break;
        }
    printf("timings (%d threads; FLOPs = 4 B H Tq Tk D; %% of the measured peak: fp32 FMA, or bf16 %s)\n",
           omp_get_max_threads(), amx ? "AMX" : "vdpbf16ps");
    const char *only = getenv("IMAGINE_ATTN_BENCH_ONLY"); /* a substring of the labels */
    static const struct {
        const char *label;
        int64_t B, Tq, Tk, H, D;
    } shapes[] = {
        {"SD2 64x64 self T4096 H5 D64", 1, 4096, 4096, 5, 64},  {"SD2 32x32 self T1024 H10 D64", 1, 1024, 1024, 10, 64},
        {"SD2 16x16 self T256 H20 D64", 1, 256, 256, 20, 64},   {"SD2 cross Tq4096 Tk77 H5 D64", 1, 4096, 77, 5, 64},
        {"SD2 cross Tq1024 Tk77 H10 D64", 1, 1024, 77, 10, 64}, {"XL 64x64 self T4096 H10 D64", 1, 4096, 4096, 10, 64},
        {"XL 32x32 self T1024 H20 D64", 1, 1024, 1024, 20, 64}, {"XL cross Tq4096 Tk77 H10 D64", 1, 4096, 77, 10, 64},
        {"ops B2 T4096 H10 D64", 2, 4096, 4096, 10, 64},        {"SD1 T4096 H8 D40", 1, 4096, 4096, 8, 40},
        {"VAE T4096 H1 D512", 1, 4096, 4096, 1, 512},           {"VAE T16384 H1 D512 (SDXL 1024)", 1, 16384, 16384, 1, 512},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (only && !strstr(shapes[i].label, only)) continue;
        if (!only && shapes[i].Tq > 8192) continue; /* seconds a run: only when asked for (IMAGINE_ATTN_BENCH_ONLY) */
        bench_shape(shapes[i].label, shapes[i].B, shapes[i].Tq, shapes[i].Tk, shapes[i].H, shapes[i].D, IG_BF16, cfg, n);
    }
    if (!only || strstr("f32", only)) {
        const bench_cfg gemm = {PATH_GEMM, 0, 0};
        bench_shape("SD2 64x64 self T4096 H5 D64", 1, 4096, 4096, 5, 64, IG_F32, &gemm, 1);
    }
}

int main(void) {
    test_seed();
    test_gemm();
    test_attention();
    test_bf16_threads();
    test_engine();
    bench();
    return test_finish("test_attn");
}
