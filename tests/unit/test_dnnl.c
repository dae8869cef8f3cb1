/* test_dnnl.c — oneDNN conv2d and linear (the "cpu" backend) and the reference backend's versions of
 * them, against naive float64 loops written here, on fresh random inputs with odd sizes. Then the
 * engine's op cache table, and two engines running the same op objects in two threads at once.
 *
 * Tolerances (relative to max|ref|): f32 2e-5 (f32 accumulation over <= 3*3*320 terms);
 * bf16 1.5e-2 (inputs and weights rounded to bf16 before the float64 reference, so what remains is
 * f32 accumulation plus bf16 rounding of the output, 2^-9 relative, and of the post-op inputs). */
#include <pthread.h>
#include <string.h>

#include "engine/cpu/cpu.h"
#include "test.h"

typedef struct {
    int n, c, k, h, w, r, stride, pad;
    ig_act act;
    bool bias, res, nhwc;
    ig_dtype dt;
    int pad_extra_b, pad_extra_r; /* zeros below / right of x beyond pad (the VAE encoder's downsample) */
    bool inplace; /* res is y itself (y += conv): the resnet's shortcut written into its output first */
    bool after;   /* act_after_res: y = act(conv + b + res), TAESD's Block (ReLU after the skip add) */
} conv_case;

static double act_f64(ig_act a, double x) {
    switch (a) {
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

static float round_dt(float v, ig_dtype dt) { return dt == IG_BF16 ? ig_bf16_to_f32(ig_f32_to_bf16(v)) : v; }

/* A tensor of shape ne filled with U(lo, hi) rounded to dt; values also returned as f32 (NCHW order). */
static ig_tensor make(ig_dtype dt, int n_dims, const int64_t *ne, bool nhwc, float lo, float hi, float **vals) {
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= ne[i];
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = round_dt(test_randf(lo, hi), dt);
    void *mem = malloc((size_t)n * 4);
    ig_tensor t = nhwc ? ig_tensor_nhwc(dt, ne[0], ne[1], ne[2], ne[3], mem) : ig_tensor_plain(dt, n_dims, ne, mem);
    ig_tensor src = ig_tensor_plain(IG_F32, n_dims, ne, v);
    ig_tensor_copy(&t, &src);
    *vals = v;
    return t;
}

static void read_back(const ig_tensor *t, float *out) {
    ig_tensor dst = ig_tensor_plain(IG_F32, t->n_dims, t->ne, out);
    ig_tensor_copy(&dst, t);
}

static void run_conv(ig_engine *e, const conv_case *cc) {
    const int Ho = (cc->h + 2 * cc->pad + cc->pad_extra_b - cc->r) / cc->stride + 1;
    const int Wo = (cc->w + 2 * cc->pad + cc->pad_extra_r - cc->r) / cc->stride + 1;
    int64_t xs[4] = {cc->n, cc->c, cc->h, cc->w}, ws[4] = {cc->k, cc->c, cc->r, cc->r}, bs[1] = {cc->k},
            ys[4] = {cc->n, cc->k, Ho, Wo};
    float *xv, *wv, *bv, *rv, *yv;
    const float wscale = 1.0f / sqrtf((float)(cc->c * cc->r * cc->r));
    ig_tensor x = make(cc->dt, 4, xs, cc->nhwc, -1, 1, &xv);
    /* Weights stay f32 in the "checkpoint"; the backend converts them to x's dtype, so the reference
     * uses them rounded to that dtype. */
    ig_tensor w = make(IG_F32, 4, ws, false, -wscale, wscale, &wv);
    for (int64_t i = 0; i < cc->k * cc->c * cc->r * cc->r; i++) wv[i] = round_dt(wv[i], cc->dt);
    ig_tensor b = make(IG_F32, 1, bs, false, -0.5f, 0.5f, &bv);
    ig_tensor res = make(cc->dt, 4, ys, cc->nhwc, -1, 1, &rv);
    yv = malloc((size_t)cc->n * cc->k * Ho * Wo * 4);
    ig_tensor y = cc->nhwc ? ig_tensor_nhwc(cc->dt, cc->n, cc->k, Ho, Wo, yv) : ig_tensor_plain(cc->dt, 4, ys, yv);
    ig_conv2d op = {.w = w, .stride = cc->stride, .pad = cc->pad, .pad_extra_b = cc->pad_extra_b,
                    .pad_extra_r = cc->pad_extra_r, .act = cc->act, .act_after_res = cc->after};
    if (cc->bias) op.b = b;

    const size_t ny = (size_t)cc->n * cc->k * Ho * Wo;
    double *ref = malloc(ny * sizeof(double));
    for (int n = 0; n < cc->n; n++)
        for (int k = 0; k < cc->k; k++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = cc->bias ? bv[k] : 0;
                    for (int c = 0; c < cc->c; c++)
                        for (int i = 0; i < cc->r; i++)
                            for (int j = 0; j < cc->r; j++) {
                                int ih = oh * cc->stride - cc->pad + i, iw = ow * cc->stride - cc->pad + j;
                                if (ih < 0 || iw < 0 || ih >= cc->h || iw >= cc->w) continue;
                                s += (double)xv[((n * cc->c + c) * cc->h + ih) * cc->w + iw] *
                                     wv[((k * cc->c + c) * cc->r + i) * cc->r + j];
                            }
                    size_t o = (((size_t)n * cc->k + k) * Ho + oh) * Wo + ow;
                    const double r = cc->res ? rv[o] : 0;
                    ref[o] = cc->after ? act_f64(cc->act, s + r) : act_f64(cc->act, s) + r;
                }
    /* Run twice: the second call reuses the cached primitive and packed weights. */
    float *got = malloc(ny * sizeof(float));
    char name[160];
    snprintf(name, sizeof name, "%s conv %dx%d %d->%d %dx%d s%d p%d+%d,%d act%d%s%s%s %s %s", e->be->name, cc->r, cc->r,
             cc->c, cc->k, cc->h, cc->w, cc->stride, cc->pad, cc->pad_extra_b, cc->pad_extra_r, cc->act, cc->bias ? " bias" : "", cc->inplace ? " res=y" : cc->res ? " res" : "", cc->after ? " first" : "",
             ig_dtype_name(cc->dt), cc->nhwc ? "nhwc" : "nchw");
    for (int rep = 0; rep < 2; rep++) {
        if (cc->inplace) ig_tensor_copy(&y, &res);
        else memset(yv, 0xff, ny * ig_dtype_size(cc->dt)); /* NaN: every output must be written */
        e->err = (ig_err){0};
        ig_status st = ig_op_conv2d(e, &op, &x, cc->inplace ? &y : cc->res ? &res : NULL, &y);
        if (st != IG_OK) fprintf(stderr, "  %s: %s\n", name, e->err.msg);
        CHECK(st == IG_OK);
        read_back(&y, got);
        check_close(name, got, ref, ny, 0, cc->dt == IG_BF16 ? 1.5e-2 : 2e-5);
    }
    ig_conv2d_release(e, &op);
    free(ref), free(got), free(xv), free(wv), free(bv), free(rv), free(yv);
    free(x.data), free(w.data), free(b.data), free(res.data);
}

/* ig_op_upsample_conv2d (the cpu backend's 2x2 phase conv, upconv.c; ref's direct loop) against
 * the definition in float64: nearest-2x upsample, then the 3x3 pad-1 conv. Weights f32 or f16 as a
 * checkpoint has them; the reference uses them unrounded (the phase taps are summed before any
 * rounding to the compute dtype, so bf16 rounding of the sums is part of the error, like a plain
 * conv's weight rounding). */
static void run_upconv(ig_engine *e, int N, int C, int K, int H, int W, ig_act act, bool bias, bool nhwc, ig_dtype dt,
                       ig_dtype wdt) {
    int64_t xs[4] = {N, C, H, W}, ws[4] = {K, C, 3, 3}, bs[1] = {K}, ys[4] = {N, K, 2 * H, 2 * W};
    float *xv, *wv, *bv;
    const float wscale = 1.0f / sqrtf((float)(C * 9));
    ig_tensor x = make(dt, 4, xs, nhwc, -1, 1, &xv);
    ig_tensor w = make(IG_F32, 4, ws, false, -wscale, wscale, &wv);
    uint16_t *w16 = NULL;
    if (wdt == IG_F16) { /* the checkpoint in f16: the reference takes the f16 values */
        w16 = malloc((size_t)(K * C * 9) * 2);
        for (int64_t i = 0; i < K * C * 9; i++) w16[i] = ig_f32_to_f16(wv[i]), wv[i] = ig_f16_to_f32(w16[i]);
        free(w.data);
        w = ig_tensor_plain(IG_F16, 4, ws, w16);
    }
    ig_tensor b = make(IG_F32, 1, bs, false, -0.5f, 0.5f, &bv);
    const size_t ny = (size_t)N * K * 4 * H * W;
    float *yv = malloc(ny * 4);
    ig_tensor y = nhwc ? ig_tensor_nhwc(dt, N, K, 2 * H, 2 * W, yv) : ig_tensor_plain(dt, 4, ys, yv);
    ig_conv2d op = {.w = w, .stride = 1, .pad = 1, .act = act};
    if (bias) op.b = b;
    double *ref = malloc(ny * sizeof(double));
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < 2 * H; oh++)
                for (int ow = 0; ow < 2 * W; ow++) {
                    double s = bias ? bv[k] : 0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                const int uh = oh - 1 + i, uw = ow - 1 + j; /* in the upsampled image */
                                if (uh < 0 || uw < 0 || uh >= 2 * H || uw >= 2 * W) continue;
                                s += (double)xv[((n * C + c) * H + uh / 2) * W + uw / 2] * wv[((k * C + c) * 3 + i) * 3 + j];
                            }
                    ref[(((size_t)n * K + k) * 2 * H + oh) * 2 * W + ow] = act_f64(act, s);
                }
    float *got = malloc(ny * sizeof(float));
    char name[160];
    snprintf(name, sizeof name, "%s upsample_conv %d->%d %dx%d->%dx%d act%d%s %s w%s %s", e->be->name, C, K, H, W, 2 * H,
             2 * W, act, bias ? " bias" : "", ig_dtype_name(dt), ig_dtype_name(wdt), nhwc ? "nhwc" : "nchw");
    for (int rep = 0; rep < 2; rep++) { /* the second call reuses the phase weights and the primitive */
        memset(yv, 0xff, ny * ig_dtype_size(dt));
        e->err = (ig_err){0};
        const ig_status st = ig_op_upsample_conv2d(e, &op, &x, &y);
        if (st != IG_OK) fprintf(stderr, "  %s: %s\n", name, e->err.msg);
        CHECK(st == IG_OK);
        read_back(&y, got);
        check_close(name, got, ref, ny, 0, dt == IG_BF16 ? 1.5e-2 : 2e-5);
    }
    /* what the op refuses: a stride-2 conv, and a y that is not 2H x 2W */
    ig_conv2d s2 = op;
    s2.stride = 2;
    CHECK(ig_op_upsample_conv2d(e, &s2, &x, &y) == IG_ERR_INVALID);
    ig_tensor yb = y;
    yb.ne[3] -= 1;
    CHECK(ig_op_upsample_conv2d(e, &op, &x, &yb) == IG_ERR_INVALID);
    e->err = (ig_err){0};
    ig_conv2d_release(e, &op);
    free(ref), free(got), free(xv), free(wv), free(bv), free(yv), free(w16);
    free(x.data), free(b.data);
    if (wdt != IG_F16) free(w.data); /* else w.data is w16 */
}

/* One op first in bf16, then in f32 (an engine forced to f32 sharing the model): the f32 call must
 * not inherit the bf16-rounded phase taps. Against the ref backend, which the cases above hold to
 * float64. */
static void run_upconv_dtypes(ig_engine *cpu, ig_engine *ref) {
    const int N = 1, C = 24, K = 16, H = 5, W = 7;
    int64_t xs[4] = {N, C, H, W}, ws[4] = {K, C, 3, 3}, bs[1] = {K};
    float *xv, *xv16, *wv, *bv;
    ig_tensor x = make(IG_F32, 4, xs, true, -1, 1, &xv), x16 = make(IG_BF16, 4, xs, true, -1, 1, &xv16);
    ig_tensor w = make(IG_F32, 4, ws, false, -0.1f, 0.1f, &wv), b = make(IG_F32, 1, bs, false, -0.5f, 0.5f, &bv);
    const size_t ny = (size_t)N * K * 4 * H * W;
    float *y16v = malloc(ny * 2), *yv = malloc(ny * 4), *rv = malloc(ny * 4);
    ig_tensor y16 = ig_tensor_nhwc(IG_BF16, N, K, 2 * H, 2 * W, y16v), y = ig_tensor_nhwc(IG_F32, N, K, 2 * H, 2 * W, yv),
              yr = ig_tensor_nhwc(IG_F32, N, K, 2 * H, 2 * W, rv);
    ig_conv2d op = {.w = w, .b = b, .stride = 1, .pad = 1}, opr = op;
    CHECK(ig_op_upsample_conv2d(cpu, &op, &x16, &y16) == IG_OK);
    CHECK(ig_op_upsample_conv2d(cpu, &op, &x, &y) == IG_OK);
    CHECK(ig_op_upsample_conv2d(ref, &opr, &x, &yr) == IG_OK);
    double *r = malloc(ny * sizeof *r);
    for (size_t i = 0; i < ny; i++) r[i] = rv[i];
    check_close("cpu upsample_conv f32 after bf16 on one op (vs ref)", yv, r, ny, 0, 2e-5);
    ig_conv2d_release(cpu, &op), ig_conv2d_release(ref, &opr);
    free(r), free(y16v), free(yv), free(rv), free(xv), free(xv16), free(wv), free(bv);
    free(x.data), free(x16.data), free(w.data), free(b.data);
}

static void run_linear(ig_engine *e, int B, int T, int I, int O, ig_act act, bool geglu, bool bias, bool res,
                       ig_dtype dt) {
    const int Oy = geglu ? O / 2 : O;
    int64_t xs[3] = {B, T, I}, ws[2] = {O, I}, bs[1] = {O}, ys[3] = {B, T, Oy};
    float *xv, *wv, *bv, *rv;
    const float wscale = 1.0f / sqrtf((float)I);
    ig_tensor x = make(dt, 3, xs, false, -1, 1, &xv);
    ig_tensor w = make(IG_F32, 2, ws, false, -wscale, wscale, &wv);
    for (int64_t i = 0; i < (int64_t)O * I; i++) wv[i] = round_dt(wv[i], dt);
    ig_tensor b = make(IG_F32, 1, bs, false, -0.5f, 0.5f, &bv);
    ig_tensor r = make(dt, 3, ys, false, -1, 1, &rv);
    const size_t ny = (size_t)B * T * Oy;
    void *yv = malloc(ny * 4);
    ig_tensor y = ig_tensor_plain(dt, 3, ys, yv);
    ig_linear op = {.w = w, .act = act, .geglu = geglu};
    if (bias) op.b = b;
    double *ref = malloc(ny * sizeof(double));
    for (int m = 0; m < B * T; m++)
        for (int o = 0; o < Oy; o++) {
            double h = bias ? bv[o] : 0, g = geglu && bias ? bv[o + Oy] : 0;
            for (int i = 0; i < I; i++) {
                h += (double)xv[m * I + i] * wv[o * I + i];
                if (geglu) g += (double)xv[m * I + i] * wv[(o + Oy) * I + i];
            }
            double v = geglu ? h * act_f64(IG_ACT_GELU_ERF, g) : act_f64(act, h);
            ref[(size_t)m * Oy + o] = v + (res ? rv[(size_t)m * Oy + o] : 0);
        }
    float *got = malloc(ny * sizeof(float));
    char name[160];
    snprintf(name, sizeof name, "%s linear %dx%d %d->%d act%d%s%s%s %s", e->be->name, B, T, I, O, act,
             geglu ? " geglu" : "", bias ? " bias" : "", res ? " res" : "", ig_dtype_name(dt));
    for (int rep = 0; rep < 2; rep++) {
        memset(yv, 0xff, ny * ig_dtype_size(dt));
        e->err = (ig_err){0};
        ig_status st = ig_op_linear(e, &op, &x, res ? &r : NULL, &y);
        if (st != IG_OK) fprintf(stderr, "  %s: %s\n", name, e->err.msg);
        CHECK(st == IG_OK);
        read_back(&y, got);
        check_close(name, got, ref, ny, 0, dt == IG_BF16 ? 1.5e-2 : 2e-5);
    }
    ig_linear_release(e, &op);
    free(ref), free(got), free(xv), free(wv), free(bv), free(rv), free(yv);
    free(x.data), free(w.data), free(b.data), free(r.data);
}

/* Bad shapes are refused with a message, never a crash. */
static void run_errors(ig_engine *e) {
    float buf[4096] = {0};
    int64_t xs[4] = {1, 3, 8, 8}, ws[4] = {4, 5, 3, 3};
    ig_tensor x = ig_tensor_nhwc(IG_F32, 1, 3, 8, 8, buf), y = ig_tensor_nhwc(IG_F32, 1, 4, 8, 8, buf + 1024);
    ig_conv2d op = {.w = ig_tensor_plain(IG_F32, 4, ws, buf + 2048), .stride = 1, .pad = 1};
    e->err = (ig_err){0};
    CHECK(ig_op_conv2d(e, &op, &x, NULL, &y) == IG_ERR_INVALID);
    CHECK(strstr(e->err.msg, "channels") != NULL);
    /* extra padding: negative is refused; the output must be sized with it (8 + 1 - 3) / 2 + 1 = 4 */
    int64_t ws3[4] = {4, 3, 3, 3};
    ig_conv2d down = {.w = ig_tensor_plain(IG_F32, 4, ws3, buf + 2048), .stride = 2, .pad_extra_b = -1};
    ig_tensor y4 = ig_tensor_nhwc(IG_F32, 1, 4, 4, 4, buf + 1024), y3 = ig_tensor_nhwc(IG_F32, 1, 4, 3, 4, buf + 1024);
    e->err = (ig_err){0};
    CHECK(ig_op_conv2d(e, &down, &x, NULL, &y4) == IG_ERR_INVALID && strstr(e->err.msg, "padding") != NULL);
    down.pad_extra_b = 1, down.pad_extra_r = 1;
    e->err = (ig_err){0};
    CHECK(ig_op_conv2d(e, &down, &x, NULL, &y3) == IG_ERR_INVALID && strstr(e->err.msg, "output shape") != NULL);
    ig_conv2d_release(e, &down);
    (void)xs;
    int64_t ls[2] = {6, 7}, lx[2] = {5, 8}, ly[2] = {5, 6};
    ig_linear lin = {.w = ig_tensor_plain(IG_F32, 2, ls, buf)};
    ig_tensor lxt = ig_tensor_plain(IG_F32, 2, lx, buf + 100), lyt = ig_tensor_plain(IG_F32, 2, ly, buf + 200);
    e->err = (ig_err){0};
    CHECK(ig_op_linear(e, &lin, &lxt, NULL, &lyt) == IG_ERR_INVALID);
    ig_conv2d_release(e, &op);
    ig_linear_release(e, &lin);
}

/* ---- engines share nothing: the op cache table, and two engines in two threads ---- */

/* The table from op address to cache (engine.c): inserts across several growths, deletes that
 * backward-shift runs, lookups of what is left. A "ref" engine, whose op_release frees nothing. */
static void test_cache_table(void) {
    printf("op cache table\n");
    ig_err err = {0};
    ig_engine *e = NULL;
    CHECK(ig_engine_create(&e, "ref", IG_PRECISION_F32, &err) == IG_OK);
    if (!e) return;
    enum { N = 3000 };
    static ig_conv2d ops[N]; /* addresses 80-odd bytes apart: the hash must spread them */
    int bad = 0;
    for (int i = 0; i < N; i++) {
        void **slot = ig__engine_cache(e, &ops[i], &err);
        bad += !slot || *slot != NULL;
        if (slot) *slot = (void *)(uintptr_t)(i + 1);
    }
    CHECK(bad == 0 && e->n_caches == N && e->cap_caches >= 2 * N);
    for (int i = 0; i < N; i += 3) ig_conv2d_release(e, &ops[i]);
    ig_conv2d_release(e, &ops[0]); /* twice: nothing left to drop */
    bad = 0;
    for (int i = 0; i < N; i++) {
        void **slot = ig__engine_cache(e, &ops[i], &err);
        bad += !slot || *slot != (i % 3 ? (void *)(uintptr_t)(i + 1) : NULL); /* released ones come back empty */
        if (slot) *slot = NULL;
    }
    CHECK(bad == 0 && e->n_caches == N);
    ig_engine_free(e);
}

typedef struct {
    ig_engine *e;
    ig_conv2d *conv, *up;
    ig_linear *lin;
    ig_tensor x, y, yu, t, ty, o;
    ig_status st;
} job;

static void *job_run(void *arg) {
    job *j = arg;
    for (int r = 0; r < 4 && j->st == IG_OK; r++) {
        j->st = ig_op_conv2d(j->e, j->conv, &j->x, NULL, &j->y);
        if (j->st == IG_OK) j->st = ig_op_upsample_conv2d(j->e, j->up, &j->x, &j->yu);
        if (j->st == IG_OK) j->st = ig_op_linear(j->e, j->lin, &j->t, NULL, &j->ty);
        if (j->st == IG_OK) j->st = ig_op_attention(j->e, &j->t, &j->t, &j->t, 4, 0.125f, false, &j->o);
    }
    return NULL;
}

static ig_tensor like(const ig_tensor *t) {
    ig_tensor c = *t;
    c.data = calloc(1, ig_tensor_nbytes(t));
    return c;
}

static bool same_bytes(const ig_tensor *a, const ig_tensor *b) { return !memcmp(a->data, b->data, ig_tensor_nbytes(a)); }

/* One model's op objects run by two engines in two threads at once: each engine has its own cache
 * for each object, its own oneDNN stream, scratchpad, intermediate and attention scratch, so both
 * reproduce a lone engine's numbers bit for bit. Releasing one engine's caches leaves the other's. */
static void test_two_engines(ig_dtype dt) {
    printf("two engines, two threads, %s\n", ig_dtype_name(dt));
    ig_err err = {0};
    ig_engine *e[3] = {NULL, NULL, NULL};
    const ig_precision prec = dt == IG_BF16 ? IG_PRECISION_BF16 : IG_PRECISION_F32;
    for (int i = 0; i < 3; i++) CHECK(ig_engine_create(&e[i], "cpu", prec, &err) == IG_OK);
    if (!e[0] || !e[1] || !e[2]) return;
    float *v;
    ig_tensor w = make(IG_F32, 4, (int64_t[]){24, 16, 3, 3}, false, -0.3f, 0.3f, &v);
    free(v);
    ig_tensor b = make(IG_F32, 1, (int64_t[]){24}, false, -1, 1, &v);
    free(v);
    ig_tensor lw = make(IG_F32, 2, (int64_t[]){48, 32}, false, -0.3f, 0.3f, &v);
    free(v);
    ig_tensor lb = make(IG_F32, 1, (int64_t[]){48}, false, -1, 1, &v);
    free(v);
    ig_conv2d conv = {.w = w, .b = b, .stride = 1, .pad = 1, .act = IG_ACT_SILU}, up = {.w = w, .b = b, .stride = 1, .pad = 1};
    ig_linear lin = {.w = lw, .b = lb, .geglu = true};
    job jobs[3];
    for (int i = 0; i < 3; i++) {
        job *j = &jobs[i];
        *j = (job){.e = e[i], .conv = &conv, .up = &up, .lin = &lin};
        j->x = make(dt, 4, (int64_t[]){2, 16, 9, 11}, true, -1, 1, &v);
        free(v);
        if (i) memcpy(j->x.data, jobs[0].x.data, ig_tensor_nbytes(&j->x)); /* the same input everywhere */
        j->y = ig_tensor_nhwc(dt, 2, 24, 9, 11, NULL), j->y = like(&j->y);
        j->yu = ig_tensor_nhwc(dt, 2, 24, 18, 22, NULL), j->yu = like(&j->yu);
        j->t = make(dt, 3, (int64_t[]){2, 33, 32}, false, -1, 1, &v);
        free(v);
        if (i) memcpy(j->t.data, jobs[0].t.data, ig_tensor_nbytes(&j->t));
        j->ty = ig_tensor_plain(dt, 3, (int64_t[]){2, 33, 24}, NULL), j->ty = like(&j->ty);
        j->o = like(&j->t);
    }
    job_run(&jobs[0]); /* alone first */
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, job_run, &jobs[i + 1]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(jobs[i].st == IG_OK);
        if (jobs[i].st != IG_OK) fprintf(stderr, "  engine %d: %s\n", i, e[i]->err.msg);
    }
    for (int i = 1; i < 3; i++)
        CHECK(same_bytes(&jobs[0].y, &jobs[i].y) && same_bytes(&jobs[0].yu, &jobs[i].yu) &&
              same_bytes(&jobs[0].ty, &jobs[i].ty) && same_bytes(&jobs[0].o, &jobs[i].o));
    for (int i = 0; i < 3; i++) CHECK(e[i]->n_caches == 3); /* conv, up, lin: one entry each, per engine */
    ig_conv2d_release(e[1], &conv), ig_conv2d_release(e[1], &up), ig_linear_release(e[1], &lin);
    CHECK(e[1]->n_caches == 0 && e[2]->n_caches == 3);
    memset(jobs[2].y.data, 0, ig_tensor_nbytes(&jobs[2].y));
    job_run(&jobs[2]); /* e[2] still has its caches: the same numbers */
    CHECK(jobs[2].st == IG_OK && same_bytes(&jobs[0].y, &jobs[2].y));
    for (int i = 0; i < 3; i++) { /* e[0] and e[2] keep their entries: ig_engine_free drops them */
        free(jobs[i].x.data), free(jobs[i].y.data), free(jobs[i].yu.data), free(jobs[i].t.data);
        free(jobs[i].ty.data), free(jobs[i].o.data);
        ig_engine_free(e[i]);
    }
    free(w.data), free(b.data), free(lw.data), free(lb.data);
}

int main(void) {
    test_seed();
    ig_err err = {0};
    ig_engine *cpu = NULL, *ref = NULL;
    if (ig_engine_create(&cpu, "cpu", IG_PRECISION_F32, &err) || ig_engine_create(&ref, "ref", IG_PRECISION_F32, &err)) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    const conv_case convs[] = {
        {2, 13, 7, 9, 11, 3, 1, 1, IG_ACT_NONE, true, false, true, IG_F32, 0, 0, false, false},
        {2, 13, 7, 9, 11, 3, 1, 1, IG_ACT_NONE, true, false, false, IG_F32, 0, 0, false, false},
        {1, 13, 7, 9, 11, 3, 2, 1, IG_ACT_SILU, true, true, true, IG_F32, 0, 0, false, false},  /* downsample: odd size, stride 2 */
        {2, 40, 24, 12, 10, 3, 2, 0, IG_ACT_NONE, false, false, true, IG_F32, 0, 0, false, false}, /* VAE-style pad 0, stride 2 */
        {2, 21, 17, 7, 5, 1, 1, 0, IG_ACT_GELU_ERF, true, true, true, IG_F32, 0, 0, false, false}, /* 1x1 shortcut */
        {2, 64, 48, 15, 17, 3, 1, 1, IG_ACT_NONE, true, true, true, IG_F32, 0, 0, false, false},
        {1, 96, 80, 20, 20, 3, 1, 1, IG_ACT_QUICK_GELU, true, true, true, IG_F32, 0, 0, false, false},
        {2, 13, 7, 9, 11, 3, 1, 1, IG_ACT_NONE, true, true, true, IG_BF16, 0, 0, false, false},
        {2, 64, 48, 15, 17, 3, 1, 1, IG_ACT_SILU, true, true, true, IG_BF16, 0, 0, false, false},
        {1, 40, 24, 12, 10, 3, 2, 1, IG_ACT_NONE, true, false, true, IG_BF16, 0, 0, false, false},
        {2, 33, 65, 9, 7, 1, 1, 0, IG_ACT_NONE, true, true, false, IG_BF16, 0, 0, false, false},
        /* diffusers' VAE encoder Downsample2D: F.pad(x, (0, 1, 0, 1)), 3x3 stride 2, no padding; odd and
         * even sides (an odd side never reaches the extra zeros), NHWC and NCHW, f32 and bf16 */
        {2, 13, 7, 9, 12, 3, 2, 0, IG_ACT_NONE, true, false, true, IG_F32, 1, 1, false, false},
        {1, 32, 32, 16, 11, 3, 2, 0, IG_ACT_NONE, true, false, false, IG_F32, 1, 1, false, false},
        {1, 64, 64, 24, 17, 3, 2, 0, IG_ACT_NONE, true, false, true, IG_F32, 1, 1, false, false},
        {2, 13, 11, 7, 10, 3, 1, 1, IG_ACT_SILU, true, true, true, IG_F32, 1, 0, false, false}, /* extra rows only */
        /* bottom padding 3 = R (a row of outputs sees only zeros) with act + residual: oneDNN 2.6 gets it
         * wrong, conv.c hands it to the reference */
        {2, 13, 11, 7, 10, 3, 1, 1, IG_ACT_SILU, true, true, true, IG_F32, 2, 0, false, false},
        {1, 13, 11, 7, 10, 3, 1, 3, IG_ACT_SILU, true, true, true, IG_F32, 0, 0, false, false},
        {1, 13, 7, 9, 12, 3, 2, 0, IG_ACT_NONE, true, true, true, IG_BF16, 1, 1, false, false},
        {1, 64, 64, 24, 17, 3, 2, 0, IG_ACT_NONE, true, false, true, IG_BF16, 1, 1, false, false},
        {2, 40, 24, 11, 12, 3, 2, 0, IG_ACT_NONE, false, false, false, IG_BF16, 1, 1, false, false},
        /* the residual is the output itself (blocks.c: a resnet's shortcut conv writes out, conv2 adds) */
        {2, 64, 48, 15, 17, 3, 1, 1, IG_ACT_NONE, true, true, true, IG_F32, 0, 0, true, false},
        {2, 64, 48, 15, 17, 3, 1, 1, IG_ACT_NONE, true, true, true, IG_BF16, 0, 0, true, false},
        {2, 13, 7, 9, 11, 3, 1, 1, IG_ACT_NONE, true, true, false, IG_F32, 0, 0, true, false},
        /* TAESD: ReLU convs, the Block's last conv adding the skip before its ReLU (act_after_res; a sum
         * post-op then the eltwise, or a binary add then the eltwise when res is laid out otherwise),
         * the input clamp as a fused act, the encoder's stride-2 conv without bias */
        {2, 64, 64, 15, 17, 3, 1, 1, IG_ACT_RELU, true, false, true, IG_F32, 0, 0, false, false},
        {2, 64, 64, 15, 17, 3, 1, 1, IG_ACT_RELU, true, true, true, IG_F32, 0, 0, false, true},
        {2, 64, 64, 15, 17, 3, 1, 1, IG_ACT_RELU, true, true, true, IG_F32, 0, 0, true, true},
        {2, 13, 7, 9, 11, 3, 1, 1, IG_ACT_RELU, true, true, false, IG_F32, 0, 0, false, true},
        {1, 13, 7, 9, 11, 3, 1, 1, IG_ACT_SILU, true, true, true, IG_F32, 0, 0, false, true},
        {1, 4, 16, 9, 11, 3, 1, 1, IG_ACT_TANH_CLAMP, true, false, true, IG_F32, 0, 0, false, false},
        {1, 64, 64, 16, 11, 3, 2, 1, IG_ACT_NONE, false, false, true, IG_F32, 0, 0, false, false},
        {2, 64, 64, 15, 17, 3, 1, 1, IG_ACT_RELU, true, true, true, IG_BF16, 0, 0, false, true},
        {2, 64, 64, 15, 17, 3, 1, 1, IG_ACT_RELU, true, true, true, IG_BF16, 0, 0, true, true},
        {1, 4, 16, 9, 11, 3, 1, 1, IG_ACT_TANH_CLAMP, true, false, true, IG_BF16, 0, 0, false, false},
    };
    /* bf16 runs only where oneDNN has it natively (the engine never picks it elsewhere). */
    const bool bf16 = ig__dnnl_has_native_bf16();
    if (!bf16) printf("  oneDNN reports no native bf16 here (%s): bf16 cases skipped\n", ig__dnnl_isa_name());
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) {
        if (convs[i].dt == IG_BF16 && !bf16) continue;
        run_conv(cpu, &convs[i]);
        if (convs[i].c * convs[i].h * convs[i].w < 4000) run_conv(ref, &convs[i]);
    }
    if (bf16) run_upconv_dtypes(cpu, ref);
    ig_engine *engines[2] = {cpu, ref};
    for (int k = 0; k < 2; k++) {
        ig_engine *e = engines[k];
        run_upconv(e, 2, 13, 7, 5, 6, IG_ACT_NONE, true, true, IG_F32, IG_F32);
        run_upconv(e, 1, 37, 19, 6, 9, IG_ACT_SILU, true, true, IG_F32, IG_F16);
        run_upconv(e, 2, 13, 7, 5, 6, IG_ACT_NONE, false, false, IG_F32, IG_F32); /* NCHW y: cpu hands it to ref */
        run_upconv(e, 1, 1, 3, 1, 1, IG_ACT_NONE, true, true, IG_F32, IG_F32);    /* 1x1 -> 2x2: every tap at a border */
        if (bf16 || e == ref) {
            run_upconv(e, 1, 64, 48, 8, 7, IG_ACT_NONE, true, true, IG_BF16, IG_F16);
            run_upconv(e, 2, 33, 17, 3, 4, IG_ACT_SILU, true, true, IG_BF16, IG_F32);
        }
        run_linear(e, 1, 37, 29, 19, IG_ACT_NONE, false, true, false, IG_F32);
        run_linear(e, 2, 13, 40, 24, IG_ACT_GELU_ERF, false, true, true, IG_F32);
        run_linear(e, 2, 13, 40, 24, IG_ACT_GELU_TANH, false, false, false, IG_F32);
        run_linear(e, 2, 9, 33, 46, IG_ACT_NONE, true, true, false, IG_F32);
        run_linear(e, 2, 9, 33, 46, IG_ACT_NONE, true, true, true, IG_F32);
        if (bf16 || e == ref) {
            run_linear(e, 1, 77, 64, 96, IG_ACT_QUICK_GELU, false, true, true, IG_BF16);
            run_linear(e, 2, 31, 48, 80, IG_ACT_NONE, true, true, false, IG_BF16);
        }
        run_errors(e);
    }
    ig_engine_free(cpu);
    ig_engine_free(ref);
    test_cache_table();
    test_two_engines(IG_F32);
    if (bf16) test_two_engines(IG_BF16);
    return test_finish("test_dnnl");
}
