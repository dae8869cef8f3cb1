/* test_vae_encoder.c — the AutoencoderKL encoder (vae.c: ig_vae_encode, ig_vae_sample, and
 * ig_sd_load_encoder) against a float64 version of diffusers 0.30's Encoder written here.
 *
 * There is no diffusers golden output for the encoder, so the oracle is this file's own plain loops,
 * built from the facts of diffusers' source (autoencoders/vae.py Encoder, unet_2d_blocks.py
 * DownEncoderBlock2D / UNetMidBlock2D, resnet.py ResnetBlock2D, downsampling.py Downsample2D,
 * attention_processor.py Attention, autoencoder_kl.py, vae.py DiagonalGaussianDistribution):
 *   conv_in 3x3 pad 1; per level i, layers_per_block ResnetBlock2D (group norm eps 1e-6 + SiLU,
 *   conv1 3x3, group norm + SiLU, conv2 3x3, plus x or conv_shortcut(x) 1x1 when channels change),
 *   then, but for the last level, Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) and a 3x3 stride-2
 *   conv; mid: resnet, single-head attention (group norm, q/k/v/out linears, softmax(q k^T / sqrt C),
 *   residual), resnet; group norm + SiLU; conv_out 3x3 to 2L; quant_conv 1x1; mean = moments[:L],
 *   logvar = clamp(moments[L:], -30, 20); sample = mean + exp(0.5 logvar) * randn.
 * It reads the architecture from vae/config.json (jansson) and the weights by diffusers key with the
 * safetensors reader, nothing of models/. Weights: the tiny golden VAEs (../shared/golden/
 * sd{1,2}-tiny/model/vae, random weights, 32/32/64/64 channels, 2 resnets per level, 32 groups),
 * read in place, and the built-in model's trained one (assets/imagine-emoji/vae: 16/32/64/128
 * channels, 1 resnet per level, 8 groups, 8 latent channels), which also gets an encode -> decode
 * round trip.
 * Inputs: fresh uniform [-1, 1] images each run (IMAGINE_TEST_SEED repeats one) of 1x3x64x64, the
 * non-square 1x3x48x80, a batch of 2x3x32x40, and 1x3x36x44, whose third level has odd sides (9 x 11:
 * the stride-2 conv then never reaches the extra zero row and column).
 *
 * Metric (the golden README's): max|got - ref| / max(1, max|ref|), for mean and logvar.
 * Tolerances: f32 1e-4 (f32 convs over <= 9 x 64 terms, ~35 layers deep: a correct f32 run lands
 * near 2e-6); bf16 5e-2, as the UNet's bf16 golden case (weights and every activation rounded to 8
 * mantissa bits through the same depth: 0.019 to 0.028 over 16 seeds, the decoder's bf16 path
 * 0.025 to 0.043 against its f32 one on the same model), and logvar in bf16 also to 0.25 absolute
 * (std within 13 %; measured <= 0.1). The ref backend is held to 1e-4 too.
 * ig_vae_sample: 1e-6 (f32 rounding of exp, product and sum against float64).
 * Also: logvar's clamp (a quant_conv bias pushed to +-60), a checkpoint missing an encoder tensor or
 * with a wrong shape (a clear error naming the key; the decoder and the model still work), bad
 * shapes handed to ig_vae_encode.
 * IMAGINE_TEST_QUICK=1: one 1x3x16x24 image and no ref backend (for valgrind). */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/cpu/cpu.h"
#include "models/sd.h"
#include "pipeline/rng_torch.h"
#include "test.h"
#include "golden.h"

static char g_tmp[256];

/* ---- the float64 oracle ---- */

typedef struct oracle {
    ig_st_file *f;
    int in_ch, lat, nb, L, G;
    int block_out[8];
    bool mid_attn, quant;
    const double *last_bias_add; /* 2L values added to the last conv's bias (the clamp test), or NULL */
} oracle;

#define EPS 1e-6 /* every group norm of the VAE */

/* Tensor `name` as n doubles (malloc'd); zeros and a failed check when absent or of another size. */
static double *wget(const oracle *o, const char *name, int64_t n) {
    double *d = calloc((size_t)n, sizeof *d);
    ig_tensor t;
    ig_err err = {0};
    if (ig_weights_st_get(o->f, name, &t, &err) != IG_OK || ig_tensor_nelem(&t) != n) {
        fprintf(stderr, "  oracle: tensor %s: %s\n", name, err.status ? err.msg : "wrong size");
        CHECK(0);
        return d;
    }
    float *v = malloc((size_t)n * sizeof *v);
    ig_tensor dst = ig_tensor_plain(IG_F32, t.n_dims, t.ne, v);
    ig_tensor_copy(&dst, &t);
    for (int64_t i = 0; i < n; i++) d[i] = v[i];
    free(v);
    return d;
}

/* y (K, Ho, Wo) = conv(x (C, H, W)) + b with zeros padded pad_tl above and left, pad_br below and
 * right; Ho = (H + pad_tl + pad_br - R) / stride + 1. */
static double *nconv(const oracle *o, const char *name, const double *x, int C, int H, int W, int K, int R, int stride,
                     int pad_tl, int pad_br, int *Ho_, int *Wo_, const double *bias_add) {
    char k1[160], k2[160];
    snprintf(k1, sizeof k1, "%s.weight", name), snprintf(k2, sizeof k2, "%s.bias", name);
    double *w = wget(o, k1, (int64_t)K * C * R * R), *b = wget(o, k2, K);
    const int Ho = (H + pad_tl + pad_br - R) / stride + 1, Wo = (W + pad_tl + pad_br - R) / stride + 1;
    double *y = malloc((size_t)K * Ho * Wo * sizeof *y);
    for (int k = 0; k < K; k++) {
        double *yk = y + (size_t)k * Ho * Wo;
        for (int i = 0; i < Ho * Wo; i++) yk[i] = b[k] + (bias_add ? bias_add[k] : 0);
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < R; s++) {
                    const double wv = w[(((size_t)k * C + c) * R + r) * R + s];
                    for (int oh = 0; oh < Ho; oh++) {
                        const int ih = oh * stride - pad_tl + r;
                        if (ih < 0 || ih >= H) continue; /* a zero of the padding */
                        for (int ow = 0; ow < Wo; ow++) {
                            const int iw = ow * stride - pad_tl + s;
                            if (iw >= 0 && iw < W) yk[oh * Wo + ow] += wv * x[((size_t)c * H + ih) * W + iw];
                        }
                    }
                }
    }
    free(w), free(b);
    if (Ho_) *Ho_ = Ho;
    if (Wo_) *Wo_ = Wo;
    return y;
}

/* torch GroupNorm (biased variance, eps inside the root), then SiLU when asked; a new buffer. */
static double *ngn(const oracle *o, const char *name, const double *x, int C, int HW, bool silu) {
    char k1[160], k2[160];
    snprintf(k1, sizeof k1, "%s.weight", name), snprintf(k2, sizeof k2, "%s.bias", name);
    double *g = wget(o, k1, C), *b = wget(o, k2, C), *y = malloc((size_t)C * HW * sizeof *y);
    const int Cg = C / o->G;
    for (int grp = 0; grp < o->G; grp++) {
        const double *xg = x + (size_t)grp * Cg * HW;
        const size_t n = (size_t)Cg * HW;
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++) mean += xg[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) var += (xg[i] - mean) * (xg[i] - mean);
        var /= (double)n;
        const double inv = 1.0 / sqrt(var + EPS);
        for (int c = grp * Cg; c < (grp + 1) * Cg; c++)
            for (int p = 0; p < HW; p++) {
                double v = (x[(size_t)c * HW + p] - mean) * inv * g[c] + b[c];
                y[(size_t)c * HW + p] = silu ? v / (1.0 + exp(-v)) : v;
            }
    }
    free(g), free(b);
    return y;
}

/* ResnetBlock2D without a time embedding, output_scale_factor 1. */
static double *nresnet(const oracle *o, const char *p, const double *x, int cin, int cout, int H, int W) {
    char k[160];
    snprintf(k, sizeof k, "%snorm1", p);
    double *h = ngn(o, k, x, cin, H * W, true), *t;
    snprintf(k, sizeof k, "%sconv1", p);
    t = nconv(o, k, h, cin, H, W, cout, 3, 1, 1, 1, NULL, NULL, NULL), free(h);
    snprintf(k, sizeof k, "%snorm2", p);
    h = ngn(o, k, t, cout, H * W, true), free(t);
    snprintf(k, sizeof k, "%sconv2", p);
    t = nconv(o, k, h, cout, H, W, cout, 3, 1, 1, 1, NULL, NULL, NULL), free(h);
    if (cin != cout) {
        snprintf(k, sizeof k, "%sconv_shortcut", p);
        double *sc = nconv(o, k, x, cin, H, W, cout, 1, 1, 0, 0, NULL, NULL, NULL);
        for (size_t i = 0; i < (size_t)cout * H * W; i++) t[i] += sc[i];
        free(sc);
    } else {
        for (size_t i = 0; i < (size_t)cout * H * W; i++) t[i] += x[i];
    }
    return t;
}

/* out[t][o] = sum_i w[o][i] in[t][i] + b[o] over T tokens (a torch Linear). */
static double *nlinear(const oracle *o, const char *p, const char *name, const double *in, int T, int C) {
    char k1[160], k2[160];
    snprintf(k1, sizeof k1, "%s%s.weight", p, name), snprintf(k2, sizeof k2, "%s%s.bias", p, name);
    double *w = wget(o, k1, (int64_t)C * C), *b = wget(o, k2, C), *y = malloc((size_t)T * C * sizeof *y);
    for (int t = 0; t < T; t++)
        for (int oc = 0; oc < C; oc++) {
            double acc = b[oc];
            for (int i = 0; i < C; i++) acc += w[(size_t)oc * C + i] * in[(size_t)t * C + i];
            y[(size_t)t * C + oc] = acc;
        }
    free(w), free(b);
    return y;
}

/* The mid block's Attention: one head of C channels, group norm first, residual added. */
static double *nattn(const oracle *o, const char *p, const double *x, int C, int H, int W) {
    const int T = H * W;
    char k[160];
    snprintf(k, sizeof k, "%sgroup_norm", p);
    double *g = ngn(o, k, x, C, T, false), *tok = malloc((size_t)T * C * sizeof *tok);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++) tok[(size_t)t * C + c] = g[(size_t)c * T + t];
    double *q = nlinear(o, p, "to_q", tok, T, C), *kk = nlinear(o, p, "to_k", tok, T, C),
           *v = nlinear(o, p, "to_v", tok, T, C), *a = calloc((size_t)T * C, sizeof *a), *s = malloc((size_t)T * sizeof *s);
    const double scale = 1.0 / sqrt((double)C);
    for (int t = 0; t < T; t++) {
        double mx = -INFINITY, sum = 0;
        for (int u = 0; u < T; u++) {
            double d = 0;
            for (int c = 0; c < C; c++) d += q[(size_t)t * C + c] * kk[(size_t)u * C + c];
            s[u] = d * scale;
            if (s[u] > mx) mx = s[u];
        }
        for (int u = 0; u < T; u++) sum += s[u] = exp(s[u] - mx);
        for (int u = 0; u < T; u++)
            for (int c = 0; c < C; c++) a[(size_t)t * C + c] += s[u] / sum * v[(size_t)u * C + c];
    }
    double *out = nlinear(o, p, "to_out.0", a, T, C), *y = malloc((size_t)C * T * sizeof *y);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++) y[(size_t)c * T + t] = out[(size_t)t * C + c] + x[(size_t)c * T + t];
    free(g), free(tok), free(q), free(kk), free(v), free(a), free(s), free(out);
    return y;
}

/* One image (in_ch, H, W) -> mean and logvar (lat, h, w), written at mean / logvar. */
static void nencode(const oracle *o, const double *img, int H, int W, double *mean, double *logvar) {
    char p[160];
    int C = o->block_out[0];
    double *x = nconv(o, "encoder.conv_in", img, o->in_ch, H, W, C, 3, 1, 1, 1, NULL, NULL, NULL), *y;
    for (int i = 0; i < o->nb; i++) {
        for (int j = 0; j < o->L; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d.", i, j);
            y = nresnet(o, p, x, C, o->block_out[i], H, W), free(x), x = y;
            C = o->block_out[i];
        }
        if (i < o->nb - 1) { /* F.pad(x, (0, 1, 0, 1)), then Conv2d(3, stride 2, padding 0) */
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            y = nconv(o, p, x, C, H, W, C, 3, 2, 0, 1, &H, &W, NULL), free(x), x = y;
        }
    }
    y = nresnet(o, "encoder.mid_block.resnets.0.", x, C, C, H, W), free(x), x = y;
    if (o->mid_attn) y = nattn(o, "encoder.mid_block.attentions.0.", x, C, H, W), free(x), x = y;
    y = nresnet(o, "encoder.mid_block.resnets.1.", x, C, C, H, W), free(x), x = y;
    y = ngn(o, "encoder.conv_norm_out", x, C, H * W, true), free(x), x = y;
    const int Z = 2 * o->lat;
    y = nconv(o, "encoder.conv_out", x, C, H, W, Z, 3, 1, 1, 1, NULL, NULL, o->quant ? NULL : o->last_bias_add);
    free(x), x = y;
    if (o->quant) y = nconv(o, "quant_conv", x, Z, H, W, Z, 1, 1, 0, 0, NULL, NULL, o->last_bias_add), free(x), x = y;
    const size_t hw = (size_t)H * W;
    for (size_t i = 0; i < (size_t)o->lat * hw; i++) {
        mean[i] = x[i];
        logvar[i] = fmin(fmax(x[o->lat * hw + i], -30.0), 20.0);
    }
    free(x);
}

static bool oracle_open(oracle *o, const char *vae_dir) {
    char p[800];
    *o = (oracle){0};
    snprintf(p, sizeof p, "%s/config.json", vae_dir);
    json_t *j = golden_load_json(p);
    if (!j) return false;
    json_t *bo = json_object_get(j, "block_out_channels");
    o->nb = (int)json_array_size(bo);
    for (int i = 0; i < o->nb && i < 8; i++) o->block_out[i] = (int)json_integer_value(json_array_get(bo, i));
    o->in_ch = (int)json_integer_value(json_object_get(j, "in_channels"));
    o->lat = (int)json_integer_value(json_object_get(j, "latent_channels"));
    o->L = (int)json_integer_value(json_object_get(j, "layers_per_block"));
    o->G = (int)json_integer_value(json_object_get(j, "norm_num_groups"));
    json_t *ma = json_object_get(j, "mid_block_add_attention"), *qc = json_object_get(j, "use_quant_conv");
    o->mid_attn = !ma || json_is_true(ma), o->quant = !qc || json_is_true(qc);
    json_decref(j);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", vae_dir);
    ig_err err = {0};
    if (ig_st_open(&o->f, p, false, &err) != IG_OK) fprintf(stderr, "  %s\n", err.msg);
    return o->f && o->nb > 0 && o->nb <= 8 && o->L > 0 && o->G > 0;
}

/* ---- the engine ---- */

/* mean and logvar (N, L, h, w) plain f32 of enc on img (N, C, H, W) plain f32, activations in dt. */
static ig_status run_encode(ig_engine *e, ig_dtype dt, ig_vae_encoder *enc, const float *img, int N, int H, int W,
                            float *mean, float *logvar) {
    const ig_vae_config *c = &enc->cfg;
    int64_t is[4] = {N, c->in_channels, H, W},
            ls[4] = {N, c->latent_channels, ig_vae_latent_size(c, H), ig_vae_latent_size(c, W)};
    ig_tensor it = ig_tensor_plain(IG_F32, 4, is, (void *)img), mt = ig_tensor_plain(IG_F32, 4, ls, mean),
              lt = ig_tensor_plain(IG_F32, 4, ls, logvar);
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = dt};
    ig_err err = {0};
    e->err = (ig_err){0};
    ig_arena_begin_dry(&a);
    ig_status st = ig_vae_encode(&f, enc, &it, &mt, &lt);
    if (st == IG_OK) st = ig_arena_commit(&a, f.e, &err);
    if (st == IG_OK) st = ig_vae_encode(&f, enc, &it, &mt, &lt);
    if (st != IG_OK) fprintf(stderr, "  encode: %s\n", err.status ? err.msg : e->err.msg);
    ig_arena_free(&a);
    return st;
}

/* The golden README's metric: max|got - ref| <= tol * max(1, max|ref|). */
/* tol relative to max(1, max|ref|); abs_cap > 0 also bounds the absolute error (logvar in bf16:
 * logvar reaches ~18 on the built-in VAE, where 5e-2 of it would allow 0.9, std off by 1.6x). */
static void compare(const char *label, const float *got, const double *ref, size_t n, double tol, double abs_cap) {
    double mx = 1;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    check_close(label, got, ref, n, abs_cap > 0 ? fmin(tol * mx, abs_cap) : tol * mx, 0);
}

typedef struct engines {
    ig_engine *f32, *bf16, *ref; /* bf16 NULL without a native bf16 oneDNN */
} engines;

/* One image shape: oracle, then f32 / bf16 / ref engines, each against it. */
static void check_shape(const engines *E, const oracle *o, ig_vae_encoder *enc, const char *set, int N, int H, int W,
                        bool with_ref, float **mean_out, float **logvar_out, size_t *n_out) {
    const int h = (int)ig_vae_latent_size(&enc->cfg, H), w = (int)ig_vae_latent_size(&enc->cfg, W);
    const size_t n_img = (size_t)N * o->in_ch * H * W, per = (size_t)o->lat * h * w, n = (size_t)N * per;
    float *img = malloc(n_img * sizeof *img), *mean = malloc(n * sizeof *mean), *logvar = malloc(n * sizeof *logvar);
    double *dimg = malloc((size_t)o->in_ch * H * W * sizeof *dimg), *rm = malloc(n * sizeof *rm),
           *rl = malloc(n * sizeof *rl);
    test_fill(img, n_img, -1, 1);
    for (int b = 0; b < N; b++) {
        for (size_t i = 0; i < (size_t)o->in_ch * H * W; i++) dimg[i] = img[(size_t)b * o->in_ch * H * W + i];
        nencode(o, dimg, H, W, rm + b * per, rl + b * per);
    }
    struct { ig_engine *e; ig_dtype dt; double tol; } runs[3] = {
        {E->f32, IG_F32, 1e-4}, {E->bf16, IG_BF16, 5e-2}, {with_ref ? E->ref : NULL, IG_F32, 1e-4}};
    for (int r = 0; r < 3; r++) {
        if (!runs[r].e) continue;
        char label[160];
        memset(mean, 0xff, n * sizeof *mean), memset(logvar, 0xff, n * sizeof *logvar);
        const double t0 = ig__now_s();
        CHECK(run_encode(runs[r].e, runs[r].dt, enc, img, N, H, W, mean, logvar) == IG_OK);
        const double ms = (ig__now_s() - t0) * 1e3;
        snprintf(label, sizeof label, "%s %dx%dx%dx%d %s %s mean (%.0f ms)", set, N, o->in_ch, H, W, runs[r].e->be->name,
                 ig_dtype_name(runs[r].dt), ms);
        compare(label, mean, rm, n, runs[r].tol, 0);
        snprintf(label, sizeof label, "%s %dx%dx%dx%d %s %s logvar", set, N, o->in_ch, H, W, runs[r].e->be->name,
                 ig_dtype_name(runs[r].dt));
        compare(label, logvar, rl, n, runs[r].tol, runs[r].dt == IG_BF16 ? 0.25 : 0);
        if (r == 0 && mean_out) { /* keep the f32 result for the sampling test */
            *mean_out = malloc(n * sizeof(float)), *logvar_out = malloc(n * sizeof(float)), *n_out = n;
            memcpy(*mean_out, mean, n * sizeof(float)), memcpy(*logvar_out, logvar, n * sizeof(float));
        }
    }
    free(img), free(mean), free(logvar), free(dimg), free(rm), free(rl);
}

/* latent_dist.sample(generator): mean + exp(0.5 logvar) * torch.randn(mean.shape, generator). */
static void test_sample(const float *mean, const float *logvar, size_t n) {
    float *noise = malloc(n * sizeof *noise), *z = malloc(n * sizeof *z), *z2 = malloc(n * sizeof *z2);
    double *ref = malloc(n * sizeof *ref);
    ig_rng_torch g;
    ig_rng_torch_seed(&g, 1234); /* torch.Generator('cpu').manual_seed(1234); randn((N, L, h, w)) */
    ig_rng_torch_randn(&g, noise, n);
    for (size_t i = 0; i < n; i++) ref[i] = mean[i] + exp(0.5 * logvar[i]) * noise[i];
    ig_vae_sample(mean, logvar, noise, n, z);
    compare("sample = mean + exp(0.5 logvar) randn(1234)", z, ref, n, 1e-6, 0);
    memcpy(z2, mean, n * sizeof *z2); /* in place, z == mean */
    ig_vae_sample(z2, logvar, noise, n, z2);
    CHECK(!memcmp(z, z2, n * sizeof *z));
    /* the same seed gives the same draw; the draw is not the mode */
    ig_rng_torch_seed(&g, 1234);
    ig_rng_torch_randn(&g, noise, n);
    ig_vae_sample(mean, logvar, noise, n, z2);
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) moved += z[i] != mean[i];
    CHECK(!memcmp(z, z2, n * sizeof *z) && moved > n / 2);
    free(noise), free(z), free(z2), free(ref);
}

/* logvar's clamp to [-30, 20]: the last conv's bias pushed by +-60 on the logvar channels. */
static void test_clamp(ig_engine *e, ig_sd_model *m, oracle *o) {
    ig_vae_encoder enc;
    ig_err err = {0};
    CHECK(ig_vae_encoder_load(&enc, &m->vae.cfg, &m->w_vae, &err) == IG_OK);
    const int Z = 2 * o->lat, H = 24, W = 16;
    ig_conv2d *last = o->quant ? &enc.quant : &enc.conv_out;
    double *add = calloc((size_t)Z, sizeof *add);
    float *bias = malloc((size_t)Z * sizeof *bias);
    for (int c = o->lat; c < Z; c++) add[c] = c % 2 ? 60 : -60;
    for (int c = 0; c < Z; c++) bias[c] = ig_tensor_get(&last->b, (int64_t[]){c}) + (float)add[c];
    last->b = ig_tensor_plain(IG_F32, 1, (int64_t[]){Z}, bias); /* before the first run caches it */
    o->last_bias_add = add;
    const int h = (int)ig_vae_latent_size(&enc.cfg, H), w = (int)ig_vae_latent_size(&enc.cfg, W);
    const size_t n = (size_t)o->lat * h * w;
    float *img = malloc((size_t)o->in_ch * H * W * sizeof *img), *mean = malloc(n * sizeof *mean),
          *logvar = malloc(n * sizeof *logvar);
    double *dimg = malloc((size_t)o->in_ch * H * W * sizeof *dimg), *rm = malloc(n * sizeof *rm), *rl = malloc(n * sizeof *rl);
    test_fill(img, (size_t)o->in_ch * H * W, -1, 1);
    for (int i = 0; i < o->in_ch * H * W; i++) dimg[i] = img[i];
    nencode(o, dimg, H, W, rm, rl);
    CHECK(run_encode(e, IG_F32, &enc, img, 1, H, W, mean, logvar) == IG_OK);
    size_t clamped = 0;
    for (size_t i = 0; i < n; i++) clamped += logvar[i] == 20.0f || logvar[i] == -30.0f;
    compare("clamp: mean", mean, rm, n, 1e-4, 0);
    compare("clamp: logvar in [-30, 20]", logvar, rl, n, 1e-4, 0);
    CHECK(clamped == n);
    printf("  clamp: %zu of %zu logvar values at -30 or 20\n", clamped, n);
    o->last_bias_add = NULL;
    ig_vae_encoder_release(e, &enc);
    free(add), free(bias), free(img), free(mean), free(logvar), free(dimg), free(rm), free(rl);
}

/* Bad shapes are refused with a message, never a crash. */
static void test_bad_input(ig_engine *e, ig_vae_encoder *enc) {
    float buf[4 * 3 * 16 * 16] = {0}, m[64], l[64];
    const int Lc = enc->cfg.latent_channels;
    struct { int64_t img[4], lat[4]; const char *want; } cs[] = {
        {{1, 4, 16, 16}, {1, Lc, 2, 2}, "image must be"},
        {{1, 3, 16, 16}, {1, Lc, 2, 3}, "mean must be"},
        {{1, 3, 4, 4}, {1, Lc, 0, 0}, "too small"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        ig_tensor it = ig_tensor_plain(IG_F32, 4, cs[i].img, buf), mt = ig_tensor_plain(IG_F32, 4, cs[i].lat, m),
                  lt = ig_tensor_plain(IG_F32, 4, cs[i].lat, l);
        ig_arena a = {0};
        ig_fw f = {.e = e, .a = &a, .dt = IG_F32};
        e->err = (ig_err){0};
        ig_arena_begin_dry(&a);
        const ig_status st = ig_vae_encode(&f, enc, &it, &mt, &lt);
        CHECK(st == IG_ERR_INVALID && strstr(e->err.msg, cs[i].want));
        printf("  bad input: %s\n", e->err.msg);
        ig_arena_free(&a);
    }
    e->err = (ig_err){0};
}

/* A copy of the golden VAE file with `skip` left out and `reshape` (if set) stored as its first
 * 6 output channels (a shape the config disagrees with). */
static bool write_vae(const oracle *o, const char *path, const char *skip, const char *reshape) {
    const int n = ig_st_count(o->f);
    ig_weights_entry *ents = calloc((size_t)n, sizeof *ents);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ig_st_name(o->f, i);
        ig_err err = {0};
        if (skip && !strcmp(name, skip)) continue;
        ents[k].name = name;
        CHECK(ig_weights_st_get(o->f, name, &ents[k].t, &err) == IG_OK);
        if (reshape && !strcmp(name, reshape)) ents[k].t.ne[0] = 6;
        k++;
    }
    ig_err err = {0};
    const bool ok = ig_weights_write(path, ents, k, NULL, &err) == IG_OK;
    if (!ok) fprintf(stderr, "  %s\n", err.msg);
    free(ents);
    return ok;
}

/* Missing tensor / wrong shape: ig_vae_encoder_load names the key, the decoder still loads from the
 * same file; through a model folder (the golden one, vae/ swapped by symlinks) ig_sd_load_encoder
 * fails the same way and the model still decodes. */
static void test_broken(ig_engine *e, const oracle *o, const char *shared_model_dir) {
    char file[400], model_dir[PATH_MAX];
    /* the links below live in g_tmp: they need an absolute target (../shared is relative by default) */
    if (!realpath(shared_model_dir, model_dir)) {
        fprintf(stderr, "  cannot resolve %s\n", shared_model_dir);
        CHECK(0);
        return;
    }
    snprintf(file, sizeof file, "%s/vae.safetensors", g_tmp);
    const char *miss = "encoder.down_blocks.1.downsamplers.0.conv.weight", *bad = "encoder.conv_out.weight";
    ig_vae_config cfg;
    ig_err err = {0};
    char cp[PATH_MAX + 32];
    snprintf(cp, sizeof cp, "%s/vae/config.json", model_dir);
    CHECK(ig_sd_vae_config(cp, &cfg, &err) == IG_OK);
    for (int pass = 0; pass < 2; pass++) {
        CHECK(write_vae(o, file, pass ? NULL : miss, pass ? bad : NULL));
        ig_weights w = {.label = "vae"};
        ig_vae dec;
        ig_vae_encoder enc;
        err = (ig_err){0};
        CHECK(ig_weights_add_file(&w, file, &err) == IG_OK);
        CHECK(ig_vae_load(&dec, &cfg, &w, &err) == IG_OK); /* a decoder-only checkpoint is fine */
        err = (ig_err){0};
        const ig_status st = ig_vae_encoder_load(&enc, &cfg, &w, &err);
        const bool ok = pass ? st == IG_ERR_INVALID && strstr(err.msg, bad) && strstr(err.msg, "shape")
                             : st == IG_ERR_NOT_FOUND && strstr(err.msg, miss);
        CHECK(ok);
        printf("  %s: %s\n", pass ? "wrong shape" : "missing tensor", err.msg);
        ig_vae_encoder_release(e, &enc);
        ig_vae_release(e, &dec);
        ig_weights_close(&w);
    }
    /* the model folder: everything but vae/ linked to the golden one */
    char d[300], p[PATH_MAX + 32], q[400];
    snprintf(d, sizeof d, "%s/model", g_tmp);
    CHECK(mkdir(d, 0700) == 0);
    static const char *const links[] = {"model_index.json", "scheduler", "text_encoder", "tokenizer", "unet"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", model_dir, links[i]), snprintf(q, sizeof q, "%s/%s", d, links[i]);
        CHECK(symlink(p, q) == 0);
    }
    snprintf(q, sizeof q, "%s/vae", d);
    CHECK(mkdir(q, 0700) == 0);
    snprintf(q, sizeof q, "%s/vae/config.json", d);
    CHECK(symlink(cp, q) == 0);
    snprintf(q, sizeof q, "%s/vae/diffusion_pytorch_model.safetensors", d);
    CHECK(write_vae(o, q, miss, NULL));
    ig_sd_model *m = NULL;
    err = (ig_err){0};
    CHECK(ig_sd_open(&m, d, NULL, &err) == IG_OK);
    if (!m) fprintf(stderr, "  cannot open the linked model folder: %s\n", err.msg);
    if (m) {
        CHECK(!m->has_vae_enc);
        for (int k = 0; k < 2; k++) { /* twice: a failed load leaves nothing behind */
            err = (ig_err){0};
            CHECK(ig_sd_load_encoder(m, &err) == IG_ERR_NOT_FOUND && strstr(err.msg, miss) && !m->has_vae_enc);
        }
        printf("  ig_sd_load_encoder on a folder without %s: %s\n", miss, err.msg);
        float lat[4 * 8 * 8] = {0}, *img = malloc(3 * 64 * 64 * sizeof *img);
        int64_t ls[4] = {1, 4, 8, 8}, is[4] = {1, 3, 64, 64};
        ig_tensor lt = ig_tensor_plain(IG_F32, 4, ls, lat), it = ig_tensor_plain(IG_F32, 4, is, img);
        ig_arena a = {0};
        ig_fw f = {.e = e, .a = &a, .dt = IG_F32};
        ig_arena_begin_dry(&a);
        CHECK(ig_vae_decode(&f, &m->vae, &lt, &it) == IG_OK && ig_arena_commit(&a, f.e, &err) == IG_OK);
        CHECK(ig_vae_decode(&f, &m->vae, &lt, &it) == IG_OK);
        ig_arena_free(&a);
        free(img);
    }
    ig_sd_close(e, m);
    unlink(q);
    snprintf(q, sizeof q, "%s/vae/config.json", d), unlink(q);
    snprintf(q, sizeof q, "%s/vae", d), rmdir(q);
    for (int i = 0; i < 5; i++) snprintf(q, sizeof q, "%s/%s", d, links[i]), unlink(q);
    rmdir(d);
    unlink(file);
}

/* Round trip through the built-in model's trained VAE: decode(encode(x).mode()) of an emoji-like
 * picture (a coloured disc on white) comes back close to x. A sanity check of the encoder's purpose,
 * not of its numbers (those are the oracle's): mean |x' - x| 0.073 at the time of writing, held to
 * 0.15 (a broken encoder gives ~1, as the random golden VAEs do). */
static void test_round_trip(ig_engine *e, ig_sd_model *m) {
    const int H = 64, W = 64, Lc = m->vae.cfg.latent_channels;
    const int64_t h = ig_vae_latent_size(&m->vae.cfg, H), w = ig_vae_latent_size(&m->vae.cfg, W);
    const size_t n_img = (size_t)3 * H * W, n_lat = (size_t)(Lc * h * w);
    float *img = malloc(n_img * sizeof *img), *out = malloc(n_img * sizeof *out), *mean = malloc(n_lat * sizeof *mean),
          *logvar = malloc(n_lat * sizeof *logvar);
    static const float rgb[3] = {0.9f, 0.6f, -0.8f};
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) img[(c * H + y) * W + x] = hypot(x - 32, y - 30) < 20 ? rgb[c] : 1.0f;
    int64_t is[4] = {1, 3, H, W}, ls[4] = {1, Lc, h, w};
    ig_tensor mt = ig_tensor_plain(IG_F32, 4, ls, mean), ot = ig_tensor_plain(IG_F32, 4, is, out);
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = IG_F32};
    ig_err err = {0};
    CHECK(run_encode(e, IG_F32, &m->vae_enc, img, 1, H, W, mean, logvar) == IG_OK);
    ig_arena_begin_dry(&a);
    CHECK(ig_vae_decode(&f, &m->vae, &mt, &ot) == IG_OK && ig_arena_commit(&a, f.e, &err) == IG_OK);
    CHECK(ig_vae_decode(&f, &m->vae, &mt, &ot) == IG_OK);
    double sum = 0;
    for (size_t i = 0; i < n_img; i++) sum += fabs((double)out[i] - img[i]);
    const double mae = sum / (double)n_img;
    test_checks++;
    if (!(mae <= 0.15)) test_failures++;
    printf("  round trip decode(encode(disc).mode()): mean |x' - x| %.4f (tol 0.15)%s\n", mae, mae <= 0.15 ? "" : "  FAIL");
    ig_arena_free(&a);
    free(img), free(out), free(mean), free(logvar);
}

/* set: a golden set under ../shared/golden, or NULL for the built-in model (assets/imagine-emoji,
 * read from the repository root: 16..128 channels, 1 resnet per level, 8 groups, 8 latent channels). */
static void test_set(const engines *E, const char *set, bool quick) {
    char mdir[600], vdir[700];
    if (set) snprintf(mdir, sizeof mdir, "%s/golden/%s/model", test_shared_dir(), set);
    else snprintf(mdir, sizeof mdir, "assets/imagine-emoji"), set = "built-in";
    snprintf(vdir, sizeof vdir, "%s/vae", mdir);
    oracle o;
    ig_sd_model *m = NULL;
    ig_err err = {0};
    if (!oracle_open(&o, vdir) || ig_sd_open(&m, mdir, NULL, &err) != IG_OK) {
        fprintf(stderr, "  %s: cannot open (%s)\n", set, err.msg);
        CHECK(0);
        ig_st_close(o.f);
        return;
    }
    printf("%s: encoder %d levels x %d resnets, channels %d..%d, %d groups, attention %s, quant_conv %s\n", set, o.nb,
           o.L, o.block_out[0], o.block_out[o.nb - 1], o.G, o.mid_attn ? "yes" : "no", o.quant ? "yes" : "no");
    CHECK(!m->has_vae_enc); /* opening a model never loads the encoder */
    CHECK(ig_sd_load_encoder(m, &err) == IG_OK && m->has_vae_enc);
    CHECK(ig_sd_load_encoder(m, &err) == IG_OK); /* once */
    CHECK(m->vae_enc.cfg.in_channels == o.in_ch && m->vae_enc.cfg.quant_conv == o.quant);
    float *mean = NULL, *logvar = NULL;
    size_t n = 0;
    if (quick) {
        check_shape(E, &o, &m->vae_enc, set, 1, 16, 24, false, &mean, &logvar, &n);
    } else {
        check_shape(E, &o, &m->vae_enc, set, 1, 64, 64, false, &mean, &logvar, &n);
        check_shape(E, &o, &m->vae_enc, set, 1, 48, 80, false, NULL, NULL, NULL);
        check_shape(E, &o, &m->vae_enc, set, 2, 32, 40, true, NULL, NULL, NULL);
        check_shape(E, &o, &m->vae_enc, set, 1, 36, 44, false, NULL, NULL, NULL); /* odd sides (9, 11) downsampled */
    }
    if (mean) test_sample(mean, logvar, n);
    if (!strcmp(set, "built-in")) test_round_trip(E->f32, m);
    if (!strcmp(set, "sd1-tiny")) {
        test_clamp(E->f32, m, &o);
        test_bad_input(E->f32, &m->vae_enc);
        test_broken(E->f32, &o, mdir);
    }
    free(mean), free(logvar);
    ig_sd_close(E->f32, m); /* f32, bf16 and ref caches: one cpu release frees what either cpu engine made;
                             * ref keeps none */
    ig_st_close(o.f);
}

int main(void) {
    test_seed();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/imagine_vae_enc_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    const bool quick = getenv("IMAGINE_TEST_QUICK") && strcmp(getenv("IMAGINE_TEST_QUICK"), "0");
    ig_err err = {0};
    engines E = {0};
    if (ig_engine_create(&E.f32, "cpu", IG_PRECISION_F32, &err) || ig_engine_create(&E.ref, "ref", IG_PRECISION_F32, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ig__dnnl_has_native_bf16()) CHECK(ig_engine_create(&E.bf16, "cpu", IG_PRECISION_BF16, &err) == IG_OK);
    else printf("  oneDNN reports no native bf16 here (%s): bf16 runs skipped\n", ig__dnnl_isa_name());
    test_set(&E, "sd1-tiny", quick);
    test_set(&E, "sd2-tiny", quick);
    test_set(&E, NULL, quick);
    ig_engine_free(E.f32);
    ig_engine_free(E.bf16);
    ig_engine_free(E.ref);
    rmdir(g_tmp);
    return test_finish("test_vae_encoder");
}
