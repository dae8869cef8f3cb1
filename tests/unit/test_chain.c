/* test_chain.c — a diffusers ResnetBlock2D (norm1 -> SiLU -> conv1 -> + time embedding -> norm2 ->
 * SiLU -> conv2 -> + shortcut(x)) run op by op through the engine's own layouts (NHWC activations,
 * oneDNN-packed weights, fused post-ops) against one float64 implementation written here, on fresh
 * random inputs. Two blocks: same channels (identity shortcut, residual fused into conv2) and a
 * channel change (1x1 conv shortcut). Backends: "cpu" f32 and bf16, "ref".
 *
 * Tolerance, relative to max|ref|: f32 5e-5 (five ops, f32 accumulation); bf16 3e-2 (activations
 * rounded to bf16 between every op, as the bf16 path stores them). */
#include <string.h>

#include "engine/cpu/cpu.h"
#include "test.h"

typedef struct {
    int n, cin, cout, h, w, groups;
} shape;

static double silu(double x) { return x / (1 + exp(-x)); }

static void gn_f64(const double *x, int N, int C, int HW, int G, const float *gamma, const float *beta, double *y) {
    const int cg = C / G;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            double s = 0, ss = 0;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int p = 0; p < HW; p++) s += x[((size_t)n * C + c) * HW + p];
            double mean = s / (cg * HW);
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int p = 0; p < HW; p++) {
                    double d = x[((size_t)n * C + c) * HW + p] - mean;
                    ss += d * d;
                }
            double rstd = 1 / sqrt(ss / (cg * HW) + 1e-5);
            for (int c = g * cg; c < (g + 1) * cg; c++)
                for (int p = 0; p < HW; p++) {
                    size_t o = ((size_t)n * C + c) * HW + p;
                    y[o] = silu((x[o] - mean) * rstd * gamma[c] + beta[c]);
                }
        }
}

static void conv_f64(const double *x, int N, int C, int K, int H, int W, int R, const float *w, const float *b,
                     double *y) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < H; oh++)
                for (int ow = 0; ow < W; ow++) {
                    double s = b[k];
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < R; i++)
                            for (int j = 0; j < R; j++) {
                                int ih = oh + i - R / 2, iw = ow + j - R / 2;
                                if (ih >= 0 && iw >= 0 && ih < H && iw < W)
                                    s += x[(((size_t)n * C + c) * H + ih) * W + iw] * w[((k * C + c) * R + i) * R + j];
                            }
                    y[(((size_t)n * K + k) * H + oh) * W + ow] = s;
                }
}

static float *rnd(size_t n, float lo, float hi) {
    float *p = malloc(n * sizeof(float));
    test_fill(p, n, lo, hi);
    return p;
}

static void run(ig_engine *e, const shape *s, ig_dtype dt) {
    const int N = s->n, Ci = s->cin, Co = s->cout, H = s->h, W = s->w, HW = H * W;
    const size_t nx = (size_t)N * Ci * HW, ny = (size_t)N * Co * HW;
    float *xv = rnd(nx, -2, 2), *temb = rnd((size_t)N * Co, -1, 1);
    float *g1 = rnd(Ci, 0.5f, 1.5f), *b1 = rnd(Ci, -0.5f, 0.5f), *g2 = rnd(Co, 0.5f, 1.5f), *b2 = rnd(Co, -0.5f, 0.5f);
    const float s1 = 1 / sqrtf(Ci * 9.0f), s2 = 1 / sqrtf(Co * 9.0f);
    float *w1 = rnd((size_t)Co * Ci * 9, -s1, s1), *c1b = rnd(Co, -0.1f, 0.1f);
    float *w2 = rnd((size_t)Co * Co * 9, -s2, s2), *c2b = rnd(Co, -0.1f, 0.1f);
    float *ws = rnd((size_t)Co * Ci, -1 / sqrtf(Ci), 1 / sqrtf(Ci)), *wsb = rnd(Co, -0.1f, 0.1f);
    const bool shortcut = Ci != Co;
    if (dt == IG_BF16) { /* the engine sees bf16 inputs and packs weights to bf16: the reference gets the same */
        float *all[] = {xv, temb, w1, w2, ws};
        size_t cnt[] = {nx, (size_t)N * Co, (size_t)Co * Ci * 9, (size_t)Co * Co * 9, (size_t)Co * Ci};
        for (int a = 0; a < 5; a++)
            for (size_t i = 0; i < cnt[a]; i++) all[a][i] = ig_bf16_to_f32(ig_f32_to_bf16(all[a][i]));
    }

    /* float64 reference */
    double *x64 = malloc(nx * 8), *t1 = malloc(ny * 8 + nx * 8), *t2 = malloc(ny * 8), *ref = malloc(ny * 8);
    for (size_t i = 0; i < nx; i++) x64[i] = xv[i];
    gn_f64(x64, N, Ci, HW, s->groups, g1, b1, t1);
    conv_f64(t1, N, Ci, Co, H, W, 3, w1, c1b, t2);
    for (size_t i = 0; i < ny; i++) t2[i] += temb[i / HW];
    gn_f64(t2, N, Co, HW, s->groups, g2, b2, t1);
    conv_f64(t1, N, Co, Co, H, W, 3, w2, c2b, ref);
    if (shortcut) {
        conv_f64(x64, N, Ci, Co, H, W, 1, ws, wsb, t2);
        for (size_t i = 0; i < ny; i++) ref[i] += t2[i];
    } else {
        for (size_t i = 0; i < ny; i++) ref[i] += x64[i];
    }

    /* engine: NHWC activations of dtype dt */
    const size_t es = ig_dtype_size(dt);
    void *mx = malloc(nx * es), *ma = malloc(nx * es + ny * es), *mb = malloc(ny * es), *my = malloc(ny * es),
         *msc = malloc(ny * es), *mt = malloc((size_t)N * Co * es);
    int64_t xs[4] = {N, Ci, H, W}, cis[1] = {Ci}, cos_[1] = {Co}, w1s[4] = {Co, Ci, 3, 3}, w2s[4] = {Co, Co, 3, 3},
            wss[4] = {Co, Ci, 1, 1}, ts[4] = {N, Co, 1, 1};
    ig_tensor x = ig_tensor_nhwc(dt, N, Ci, H, W, mx), xsrc = ig_tensor_plain(IG_F32, 4, xs, xv);
    ig_tensor_copy(&x, &xsrc);
    ig_tensor tt = ig_tensor_plain(dt, 4, ts, mt), tsrc = ig_tensor_plain(IG_F32, 4, ts, temb);
    ig_tensor_copy(&tt, &tsrc);
    ig_tensor G1 = ig_tensor_plain(IG_F32, 1, cis, g1), B1 = ig_tensor_plain(IG_F32, 1, cis, b1);
    ig_tensor G2 = ig_tensor_plain(IG_F32, 1, cos_, g2), B2 = ig_tensor_plain(IG_F32, 1, cos_, b2);
    ig_conv2d conv1 = {.w = ig_tensor_plain(IG_F32, 4, w1s, w1), .b = ig_tensor_plain(IG_F32, 1, cos_, c1b), .stride = 1, .pad = 1};
    ig_conv2d conv2 = {.w = ig_tensor_plain(IG_F32, 4, w2s, w2), .b = ig_tensor_plain(IG_F32, 1, cos_, c2b), .stride = 1, .pad = 1};
    ig_conv2d convs = {.w = ig_tensor_plain(IG_F32, 4, wss, ws), .b = ig_tensor_plain(IG_F32, 1, cos_, wsb), .stride = 1, .pad = 0};
    ig_tensor a_in = ig_tensor_nhwc(dt, N, Ci, H, W, ma), a_out = ig_tensor_nhwc(dt, N, Co, H, W, ma);
    ig_tensor b = ig_tensor_nhwc(dt, N, Co, H, W, mb), y = ig_tensor_nhwc(dt, N, Co, H, W, my);
    ig_tensor sc = ig_tensor_nhwc(dt, N, Co, H, W, msc);
    e->err = (ig_err){0};
    ig_status st = ig_op_group_norm(e, &x, s->groups, 1e-5f, &G1, &B1, IG_ACT_SILU, &a_in);
    if (!st) st = ig_op_conv2d(e, &conv1, &a_in, NULL, &b);
    if (!st) st = ig_op_binary(e, IG_BIN_ADD, &b, &tt, &b); /* temb per (n, c), broadcast over H, W */
    if (!st) st = ig_op_group_norm(e, &b, s->groups, 1e-5f, &G2, &B2, IG_ACT_SILU, &a_out);
    if (!st && shortcut) st = ig_op_conv2d(e, &convs, &x, NULL, &sc);
    if (!st) st = ig_op_conv2d(e, &conv2, &a_out, shortcut ? &sc : &x, &y);
    char name[128];
    snprintf(name, sizeof name, "%s resblock n%d %d->%d %dx%d g%d %s", e->be->name, N, Ci, Co, H, W, s->groups,
             ig_dtype_name(dt));
    if (st) fprintf(stderr, "  %s: %s\n", name, e->err.msg);
    CHECK(st == IG_OK);
    float *got = malloc(ny * sizeof(float));
    ig_tensor gt = ig_tensor_plain(IG_F32, 4, (int64_t[]){N, Co, H, W}, got);
    ig_tensor_copy(&gt, &y);
    check_close(name, got, ref, ny, 0, dt == IG_BF16 ? 3e-2 : 5e-5);

    ig_conv2d_release(e, &conv1), ig_conv2d_release(e, &conv2), ig_conv2d_release(e, &convs);
    free(got), free(x64), free(t1), free(t2), free(ref), free(mx), free(ma), free(mb), free(my), free(msc), free(mt);
    free(xv), free(temb), free(g1), free(b1), free(g2), free(b2), free(w1), free(c1b), free(w2), free(c2b), free(ws), free(wsb);
}

int main(void) {
    test_seed();
    ig_err err = {0};
    ig_engine *cpu = NULL, *ref = NULL;
    if (ig_engine_create(&cpu, "cpu", IG_PRECISION_F32, &err) || ig_engine_create(&ref, "ref", IG_PRECISION_F32, &err)) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    const shape shapes[] = {{2, 40, 40, 12, 11, 8}, {1, 64, 32, 9, 13, 8}, {2, 96, 96, 16, 16, 32}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        run(cpu, &shapes[i], IG_F32);
        if (ig__dnnl_has_native_bf16()) run(cpu, &shapes[i], IG_BF16); /* the engine's bf16 path exists only there */
        if (i < 2) run(ref, &shapes[i], IG_F32);
    }
    ig_engine_free(cpu);
    ig_engine_free(ref);
    return test_finish("test_chain");
}
