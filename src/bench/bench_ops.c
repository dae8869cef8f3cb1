/* bench_ops.c — `imagine bench ops`: each engine op on a real SD 512x512 shape, in ms, GFLOP/s (or
 * GB/s for memory-bound ops) and % of the peak measured on this machine. Asserts nothing.
 * The first call of an op creates its oneDNN primitive and packs its weights; that setup is timed
 * apart (a 1-step model pays it once per new size), the figures are the median of the later runs.
 * This VM's speed swings 2x within a minute (AMX most: its tile unit is shared with the core's other
 * hyperthread), so the arithmetic peak is read again after every op and the highest reading is the
 * yardstick; rows print at the end, against it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine/arena.h"
#include "engine/engine.h"
#include "peak.h"

typedef struct {
    ig_engine *e;
    ig_dtype dt;
    ig_conv2d conv, conv2;
    ig_linear lin;
    ig_tensor x, y, t1, t2, q, k, v, gamma, beta;
} ctx;

typedef ig_status (*op_fn)(ctx *c);

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ms over `reps` runs after one warm-up; setup_ms gets the warm-up's primitive setup time. */
static double time_op(ctx *c, op_fn f, int reps, double *setup_ms) {
    double s0 = ig_engine_setup_seconds(c->e);
    c->e->err = (ig_err){0};
    if (f(c) != IG_OK) {
        fprintf(stderr, "bench: %s\n", c->e->err.msg);
        return NAN;
    }
    *setup_ms = (ig_engine_setup_seconds(c->e) - s0) * 1e3;
    double t[32];
    if (reps > 32) reps = 32;
    for (int i = 0; i < reps; i++) {
        double t0 = ig__now_s();
        f(c);
        t[i] = (ig__now_s() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    return t[reps / 2];
}

static void fill(const ig_tensor *t, float scale) {
    int64_t n = ig_tensor_nelem(t);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float v = ((float)(s >> 40) / 16777216.0f * 2 - 1) * scale;
        if (t->dtype == IG_F32) ((float *)t->data)[i] = v;
        else ((uint16_t *)t->data)[i] = ig_f32_to_bf16(v);
    }
}

static ig_tensor alloc_nhwc(ig_dtype dt, int64_t n, int64_t c, int64_t h, int64_t w, float scale) {
    ig_tensor t = ig_tensor_nhwc(dt, n, c, h, w, ig__alloc((size_t)(n * c * h * w) * ig_dtype_size(dt)));
    fill(&t, scale);
    return t;
}

static ig_tensor alloc_plain(ig_dtype dt, int n_dims, const int64_t *ne, float scale) {
    ig_tensor t = ig_tensor_plain(dt, n_dims, ne, NULL);
    t.data = ig__alloc((size_t)ig_tensor_nelem(&t) * ig_dtype_size(dt));
    fill(&t, scale);
    return t;
}

static ig_conv2d make_conv(int64_t k, int64_t c, int r) {
    int64_t ws[4] = {k, c, r, r}, bs[1] = {k};
    ig_conv2d op = {.w = alloc_plain(IG_F32, 4, ws, 1.0f / sqrtf((float)(c * r * r))),
                    .b = alloc_plain(IG_F32, 1, bs, 0.1f), .stride = 1, .pad = r / 2};
    return op;
}

static void free_conv(ig_engine *e, ig_conv2d *op) {
    ig_conv2d_release(e, op);
    ig__free(op->w.data);
    ig__free(op->b.data);
}

static ig_status run_conv(ctx *c) { return ig_op_conv2d(c->e, &c->conv, &c->x, NULL, &c->y); }
static ig_status run_linear(ctx *c) { return ig_op_linear(c->e, &c->lin, &c->x, NULL, &c->y); }
static ig_status run_attn(ctx *c) { return ig_op_attention(c->e, &c->q, &c->k, &c->v, 10, 0.125f, false, &c->y); }
static ig_status run_gn(ctx *c) {
    return ig_op_group_norm(c->e, &c->x, 32, 1e-5f, &c->gamma, &c->beta, IG_ACT_SILU, &c->y);
}
/* diffusers ResnetBlock2D without the time embedding: norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2 + x. */
static ig_status run_resblock(ctx *c) {
    ig_engine *e = c->e;
    ig_status st = ig_op_group_norm(e, &c->x, 32, 1e-5f, &c->gamma, &c->beta, IG_ACT_SILU, &c->t1);
    if (!st) st = ig_op_conv2d(e, &c->conv, &c->t1, NULL, &c->t2);
    if (!st) st = ig_op_group_norm(e, &c->t2, 32, 1e-5f, &c->gamma, &c->beta, IG_ACT_SILU, &c->t1);
    if (!st) st = ig_op_conv2d(e, &c->conv2, &c->t1, &c->x, &c->y);
    return st;
}

typedef struct {
    double ms, setup_ms, gflops;
} fig;

typedef struct { /* one printed line, kept until the second peak reading */
    const char *name;
    ig_dtype dt;
    double ms, setup_ms, gflop, gbytes;
} row;

static row rows[32];
static int n_rows;
static ig_peak peak_seen; /* the highest readings so far */

static fig report(const char *name, ig_dtype dt, double ms, double setup_ms, double gflop, double gbytes) {
    fig f = {ms, setup_ms, 0};
    if (n_rows < (int)(sizeof rows / sizeof *rows)) rows[n_rows++] = (row){name, dt, ms, setup_ms, gflop, gbytes};
    if (!isnan(ms) && gflop > 0) f.gflops = gflop / ms * 1e3;
    ig_peak q;
    ig_peak_measure_arith(&q);
    ig_peak_max(&peak_seen, &q);
    return f;
}

static void print_rows(double peak_fp32, double peak_bf16, double copy_gbs) {
    for (int i = 0; i < n_rows; i++) {
        const row *r = &rows[i];
        if (isnan(r->ms)) {
            printf("%-44s %-5s failed\n", r->name, ig_dtype_name(r->dt));
        } else if (r->gflop > 0) {
            const double g = r->gflop / r->ms * 1e3, peak = r->dt == IG_BF16 ? peak_bf16 : peak_fp32;
            printf("%-44s %-5s %9.2f ms %8.1f GFLOP/s %5.1f %% of peak  (setup %.1f ms)\n", r->name,
                   ig_dtype_name(r->dt), r->ms, g, 100 * g / peak, r->setup_ms);
        } else {
            const double gbs = r->gbytes / r->ms * 1e3;
            printf("%-44s %-5s %9.2f ms %8.1f GB/s    %5.1f %% of copy bandwidth\n", r->name, ig_dtype_name(r->dt),
                   r->ms, gbs, 100 * gbs / copy_gbs);
        }
    }
}

int ig_bench_ops(int argc, char **argv) {
    int reps = 5;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    if (reps < 1) reps = 1;
    ig_err err = {0};
    ig_engine *e = NULL;
    if (ig_engine_create(&e, "cpu", IG_PRECISION_AUTO, &err) != IG_OK) {
        fprintf(stderr, "imagine bench: %s\n", err.msg);
        return 1;
    }
    ig_peak pk;
    ig_peak_measure(&pk);
    peak_seen = pk;
    const bool bf16 = ig_engine_native_bf16(e);
    const bool amx = pk.bf16_amx_gflops > 0 && !strcmp(ig_engine_isa(e), "avx512_core_amx");
    printf("measuring: the peak, then each op followed by the arithmetic peak again (rows print at the end)...\n");
    fflush(stdout);

    double conv_g[2] = {0}, gemm_g[2] = {0}, attn_g[2] = {0}, res_g[2] = {0};
    for (int pass = 0; pass < 2; pass++) {
        const ig_dtype dt = pass ? IG_BF16 : IG_F32;
        if (pass && !bf16) break;
        ctx c = {.e = e, .dt = dt};
        double ms, setup;
        fig f;

        struct { int n, ch, hw; const char *name; } convs[] = {
            {2, 320, 64, "conv3x3 320->320 64x64 n2 (UNet)"},
            {1, 512, 64, "conv3x3 512->512 64x64 (VAE)"},
            {1, 128, 512, "conv3x3 128->128 512x512 (VAE)"},
        };
        for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) {
            const int n = convs[i].n, ch = convs[i].ch, hw = convs[i].hw;
            c.conv = make_conv(ch, ch, 3);
            c.x = alloc_nhwc(dt, n, ch, hw, hw, 1);
            c.y = alloc_nhwc(dt, n, ch, hw, hw, 0);
            ms = time_op(&c, run_conv, reps, &setup);
            f = report(convs[i].name, dt, ms, setup, 2.0 * n * ch * ch * 9 * hw * hw * 1e-9, 0);
            if (i == 0) conv_g[pass] = f.gflops;
            free_conv(e, &c.conv);
            ig__free(c.x.data), ig__free(c.y.data);
        }

        /* 4096 tokens x 320 channels -> 1280 (the GEGLU's half at SD's 64x64 level, M x K x N; the last
         * line reports it), and the feed-forward's way back, 1280 -> 320: the same work with K = 1280,
         * where an AMX kernel spends far less of its time storing outputs. */
        struct { int64_t k, n; const char *name; } gemms[] = {
            {320, 1280, "gemm 4096x320x1280 (+bias)"},
            {1280, 320, "gemm 4096x1280x320 (+bias)"},
        };
        for (size_t i = 0; i < sizeof gemms / sizeof *gemms; i++) {
            const int64_t K = gemms[i].k, N = gemms[i].n;
            int64_t xs[2] = {4096, K}, ys[2] = {4096, N}, ws[2] = {N, K}, bs[1] = {N};
            c.lin = (ig_linear){.w = alloc_plain(IG_F32, 2, ws, 0.05f), .b = alloc_plain(IG_F32, 1, bs, 0.1f)};
            c.x = alloc_plain(dt, 2, xs, 1);
            c.y = alloc_plain(dt, 2, ys, 0);
            ms = time_op(&c, run_linear, reps, &setup);
            f = report(gemms[i].name, dt, ms, setup, 2.0 * 4096 * K * N * 1e-9, 0);
            if (i == 0) gemm_g[pass] = f.gflops;
            ig_linear_release(e, &c.lin);
            ig__free(c.lin.w.data), ig__free(c.lin.b.data), ig__free(c.x.data), ig__free(c.y.data);
        }

        {
            int64_t s[3] = {2, 4096, 640};
            c.q = alloc_plain(dt, 3, s, 1), c.k = alloc_plain(dt, 3, s, 1), c.v = alloc_plain(dt, 3, s, 1);
            c.y = alloc_plain(dt, 3, s, 0);
            ms = time_op(&c, run_attn, reps, &setup);
            f = report("attention 2x4096 tok, 10 heads x 64", dt, ms, setup, 4.0 * 2 * 10 * 4096.0 * 4096 * 64 * 1e-9, 0);
            attn_g[pass] = f.gflops;
            ig__free(c.q.data), ig__free(c.k.data), ig__free(c.v.data), ig__free(c.y.data);
        }

        {
            int64_t cs[1] = {320};
            c.gamma = alloc_plain(IG_F32, 1, cs, 1), c.beta = alloc_plain(IG_F32, 1, cs, 1);
            c.x = alloc_nhwc(dt, 2, 320, 64, 64, 1), c.y = alloc_nhwc(dt, 2, 320, 64, 64, 0);
            ms = time_op(&c, run_gn, reps, &setup);
            /* Bytes that must move: read x twice (statistics, then normalise) is our choice, the floor is
             * read once + write once; report against the floor. */
            double bytes = 2.0 * 2 * 320 * 64 * 64 * ig_dtype_size(dt);
            report("group_norm+silu 2x320x64x64, 32 groups", dt, ms, setup, 0, bytes * 1e-9);

            /* The resblock chain, activations from an arena sized by a dry run. */
            ig_arena a = {0};
            for (int dry = 1; dry >= 0; dry--) {
                if (dry) ig_arena_begin_dry(&a);
                else if (ig_arena_commit(&a, e, &err) != IG_OK) break;
                c.t1 = ig_arena_nhwc(&a, dt, 2, 320, 64, 64);
                c.t2 = ig_arena_nhwc(&a, dt, 2, 320, 64, 64);
            }
            c.conv = make_conv(320, 320, 3), c.conv2 = make_conv(320, 320, 3);
            ms = time_op(&c, run_resblock, reps, &setup);
            f = report("resblock GN+SiLU>conv>GN+SiLU>conv+skip 320", dt, ms, setup,
                       2 * 2.0 * 2 * 320 * 320 * 9 * 64 * 64 * 1e-9, 0);
            res_g[pass] = f.gflops;
            free_conv(e, &c.conv), free_conv(e, &c.conv2);
            ig_arena_free(&a);
            ig__free(c.gamma.data), ig__free(c.beta.data), ig__free(c.x.data), ig__free(c.y.data);
        }
    }
    ig_peak_max(&pk, &peak_seen);
    const double peak_bf16 = amx ? pk.bf16_amx_gflops : pk.bf16_dp_gflops;
    printf("oneDNN ISA %s; threads %d; peak (the highest of %d readings) fp32 %.1f GFLOP/s (%s FMA), bf16 %.1f "
           "GFLOP/s (%s), vdpbf16ps %.1f, copy %.1f GB/s\n",
           ig_engine_isa(e), omp_threads(), n_rows + 1, pk.fp32_gflops, pk.fp32_isa, peak_bf16,
           amx ? "AMX tdpbf16ps" : "vdpbf16ps", pk.bf16_dp_gflops, pk.copy_gbs);
    if (!bf16) printf("no native bf16 in oneDNN here: bf16 rows skipped, their figures print as 0\n");
    print_rows(pk.fp32_gflops, peak_bf16, pk.copy_gbs);
    printf("conv_f32_gflops=%.1f conv_bf16_gflops=%.1f gemm_f32_gflops=%.1f gemm_bf16_gflops=%.1f "
           "attn_bf16_gflops=%.1f resblock_bf16_gflops=%.1f peak_fp32_gflops=%.1f peak_bf16_gflops=%.1f\n",
           conv_g[0], conv_g[1], gemm_g[0], gemm_g[1], attn_g[1], res_g[1], pk.fp32_gflops, peak_bf16);
    ig_engine_free(e);
    return 0;
}
