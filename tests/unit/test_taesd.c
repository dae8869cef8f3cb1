/* test_taesd.c — TAESD's decoder and encoder (models/taesd.c) against a float64 version of the
 * published architecture written here from taesd.py (naive loops, NCHW), on random weights and fresh
 * random inputs: latents of 8x8 and 2 x 6x10 (decoder), images of 64x64 and 50x70 (encoder, odd
 * sides through the stride-2 convs). Then the three weight layouts (taesd.py keys, diffusers'
 * AutoencoderTiny folder, its safetensors alone) giving the same numbers, tools/taesd_convert.py on
 * a synthetic .pth in torch.save's layout (tests/unit/taesd_pth.py; skipped without python3 or when
 * not run from the repository root), and the loader's refusals.
 *
 * Weights ~ U(+-sqrt(3 / fan_in)) (unit variance through every conv), biases U(+-0.1); latents
 * U(-4, 4) so the decoder's 3 tanh(x / 3) clamp bends them; images U(0, 1).
 * Tolerances (max|got - ref| <= rtol * max|ref|): f32 1e-4 (f32 accumulation through 33 convs of up
 * to 576 terms; seen ~1e-6); bf16 4e-2 (every activation and weight rounded to 8 bits through 33
 * layers; seen about 1e-2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/taesd.h"
#include "test.h"

#define RTOL_F32 1e-4
#define RTOL_BF16 4e-2

/* ---- random weights, by taesd.py key ---- */

typedef struct {
    int n;
    ig_taesd_tensor t[IG_TAESD_MAX_TENSORS];
    float *v[IG_TAESD_MAX_TENSORS];
} wset;

static void wset_make(wset *s, bool decoder) {
    s->n = ig_taesd_tensors(decoder, 4, s->t);
    for (int i = 0; i < s->n; i++) {
        const int64_t *ne = s->t[i].ne;
        const size_t n = (size_t)(ne[0] * ne[1] * ne[2] * ne[3]);
        s->v[i] = malloc(n * sizeof(float));
        const float a = s->t[i].n_dims == 1 ? 0.1f : sqrtf(3.0f / (float)(ne[1] * ne[2] * ne[3]));
        test_fill(s->v[i], n, -a, a);
    }
}

static void wset_free(wset *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
}

static const float *wget(const wset *s, const char *fmt, int idx, int part, const char *what) {
    char name[48];
    if (part < 0) snprintf(name, sizeof name, fmt, idx, what);
    else snprintf(name, sizeof name, fmt, idx, part, what);
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return s->v[i];
    fprintf(stderr, "test: no weight %s\n", name);
    abort();
}
static const float *layer_w(const wset *s, int idx) { return wget(s, "%d.%s", idx, -1, "weight"); }
static const float *layer_b(const wset *s, int idx) { return wget(s, "%d.%s", idx, -1, "bias"); }
static const float *block_w(const wset *s, int idx, int p) { return wget(s, "%d.conv.%d.%s", idx, p, "weight"); }
static const float *block_b(const wset *s, int idx, int p) { return wget(s, "%d.conv.%d.%s", idx, p, "bias"); }

/* Writes s under its keys, or diffusers' "<part>.layers.<idx - shift>..." when part is not NULL;
 * skip: one key left out (a truncated checkpoint). */
static void entries_of(const wset *s, const char *part, int shift, const char *skip, ig_weights_entry *e, char (*names)[64],
                       int *n) {
    for (int i = 0; i < s->n; i++) {
        if (skip && !strcmp(s->t[i].name, skip)) continue;
        if (part) {
            char *dot = strchr(s->t[i].name, '.');
            snprintf(names[*n], 64, "%s.layers.%d%s", part, atoi(s->t[i].name) - shift, dot);
        } else
            snprintf(names[*n], 64, "%s", s->t[i].name);
        e[*n] = (ig_weights_entry){names[*n], ig_tensor_plain(IG_F32, s->t[i].n_dims, s->t[i].ne, s->v[i])};
        (*n)++;
    }
}

static void write_set(const char *path, const wset *a, const char *pa, int sa, const wset *b, const char *pb, int sb,
                      const char *skip) {
    static ig_weights_entry e[2 * IG_TAESD_MAX_TENSORS];
    static char names[2 * IG_TAESD_MAX_TENSORS][64];
    int n = 0;
    ig_err err = {0};
    entries_of(a, pa, sa, skip, e, names, &n);
    if (b) entries_of(b, pb, sb, skip, e, names, &n);
    if (ig_weights_write(path, e, n, NULL, &err)) {
        fprintf(stderr, "write %s: %s\n", path, err.msg);
        abort();
    }
}

/* ---- the float64 reference (taesd.py, NCHW, one image) ---- */

/* y (K, Ho, Wo) = conv3x3(x (C, H, W)), padding 1, stride s, bias b or none */
static void conv3(const double *x, int C, int H, int W, const float *w, const float *b, int K, int s, double *y,
                  int *Ho_, int *Wo_) {
    const int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
    for (int k = 0; k < K; k++) {
        double *yk = y + (size_t)k * Ho * Wo;
        for (int i = 0; i < Ho * Wo; i++) yk[i] = b ? b[k] : 0.0;
        for (int c = 0; c < C; c++)
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < 3; q++) {
                    const double wv = w[((k * C + c) * 3 + r) * 3 + q];
                    for (int oh = 0; oh < Ho; oh++) {
                        const int ih = oh * s - 1 + r;
                        if (ih < 0 || ih >= H) continue;
                        const double *xr = x + ((size_t)c * H + ih) * W;
                        for (int ow = 0; ow < Wo; ow++) {
                            const int iw = ow * s - 1 + q;
                            if (iw >= 0 && iw < W) yk[oh * Wo + ow] += wv * xr[iw];
                        }
                    }
                }
    }
    if (Ho_) *Ho_ = Ho, *Wo_ = Wo;
}

static void relu(double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

/* Block(64, 64): fuse(conv(x) + x), conv = Sequential(conv, ReLU, conv, ReLU, conv); x in place */
static void block(const wset *s, int idx, double *x, int H, int W, double *t1, double *t2) {
    const size_t n = (size_t)64 * H * W;
    conv3(x, 64, H, W, block_w(s, idx, 0), block_b(s, idx, 0), 64, 1, t1, NULL, NULL);
    relu(t1, n);
    conv3(t1, 64, H, W, block_w(s, idx, 2), block_b(s, idx, 2), 64, 1, t2, NULL, NULL);
    relu(t2, n);
    conv3(t2, 64, H, W, block_w(s, idx, 4), block_b(s, idx, 4), 64, 1, t1, NULL, NULL);
    for (size_t i = 0; i < n; i++) x[i] = t1[i] + x[i] > 0 ? t1[i] + x[i] : 0;
}

/* Decoder: z (4, h, w) -> out (3, 8h, 8w) */
static void ref_decode(const wset *s, const float *z, int h, int w, double *out) {
    const size_t big = (size_t)64 * 64 * h * w;
    double *x = malloc(big * sizeof(double)), *u = malloc(big * sizeof(double)), *t1 = malloc(big * sizeof(double)),
           *t2 = malloc(big * sizeof(double)), *zc = malloc((size_t)4 * h * w * sizeof(double));
    for (int i = 0; i < 4 * h * w; i++) zc[i] = tanh(z[i] / 3.0) * 3.0; /* Clamp */
    int H = h, W = w;
    conv3(zc, 4, H, W, layer_w(s, 1), layer_b(s, 1), 64, 1, x, NULL, NULL);
    relu(x, (size_t)64 * H * W);
    static const int blocks[4][3] = {{3, 4, 5}, {8, 9, 10}, {13, 14, 15}, {18, 0, 0}};
    static const int ups[3] = {7, 12, 17};
    for (int st = 0; st < 4; st++) {
        for (int j = 0; j < 3 && blocks[st][j]; j++) block(s, blocks[st][j], x, H, W, t1, t2);
        if (st == 3) break;
        for (int c = 0; c < 64; c++) /* nn.Upsample(scale_factor=2), nearest */
            for (int i = 0; i < 2 * H; i++)
                for (int j = 0; j < 2 * W; j++)
                    u[((size_t)c * 2 * H + i) * 2 * W + j] = x[((size_t)c * H + i / 2) * W + j / 2];
        H *= 2, W *= 2;
        conv3(u, 64, H, W, layer_w(s, ups[st]), NULL, 64, 1, x, NULL, NULL);
    }
    conv3(x, 64, H, W, layer_w(s, 19), layer_b(s, 19), 3, 1, out, NULL, NULL);
    free(x), free(u), free(t1), free(t2), free(zc);
}

/* Encoder: img (3, H, W) -> out (4, h, w) */
static void ref_encode(const wset *s, const float *img, int H, int W, double *out) {
    const size_t big = (size_t)64 * H * W;
    double *x = malloc(big * sizeof(double)), *y = malloc(big * sizeof(double)), *t1 = malloc(big * sizeof(double)),
           *t2 = malloc(big * sizeof(double)), *im = malloc((size_t)3 * H * W * sizeof(double));
    for (int i = 0; i < 3 * H * W; i++) im[i] = img[i];
    conv3(im, 3, H, W, layer_w(s, 0), layer_b(s, 0), 64, 1, x, NULL, NULL);
    block(s, 1, x, H, W, t1, t2);
    static const int downs[3] = {2, 6, 10};
    for (int st = 0; st < 3; st++) {
        conv3(x, 64, H, W, layer_w(s, downs[st]), NULL, 64, 2, y, &H, &W);
        memcpy(x, y, (size_t)64 * H * W * sizeof(double));
        for (int j = 1; j <= 3; j++) block(s, downs[st] + j, x, H, W, t1, t2);
    }
    conv3(x, 64, H, W, layer_w(s, 14), layer_b(s, 14), 4, 1, out, NULL, NULL);
    free(x), free(y), free(t1), free(t2), free(im);
}

/* ---- running ours ---- */

static ig_status run_decode(ig_engine *e, ig_taesd *t, const float *z, int N, int h, int w, float *img) {
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = e->act_dtype};
    int64_t zs[4] = {N, 4, h, w}, is[4] = {N, 3, 8 * h, 8 * w};
    ig_tensor zt = ig_tensor_plain(IG_F32, 4, zs, (void *)z), it = ig_tensor_plain(IG_F32, 4, is, img);
    e->err = (ig_err){0};
    ig_arena_begin_dry(&a);
    ig_status st = ig_taesd_decode(&f, t, &zt, &it);
    if (!st) st = ig_arena_commit(&a, e, &e->err);
    if (!st) st = ig_taesd_decode(&f, t, &zt, &it);
    if (st) fprintf(stderr, "  decode: %s\n", e->err.msg);
    ig_arena_free(&a);
    return st;
}

static ig_status run_encode(ig_engine *e, ig_taesd *t, const float *img, int N, int H, int W, float *z) {
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = e->act_dtype};
    int64_t is[4] = {N, 3, H, W}, zs[4] = {N, 4, ig_taesd_latent_size(H), ig_taesd_latent_size(W)};
    ig_tensor it = ig_tensor_plain(IG_F32, 4, is, (void *)img), zt = ig_tensor_plain(IG_F32, 4, zs, z);
    e->err = (ig_err){0};
    ig_arena_begin_dry(&a);
    ig_status st = ig_taesd_encode(&f, t, &it, &zt);
    if (!st) st = ig_arena_commit(&a, e, &e->err);
    if (!st) st = ig_taesd_encode(&f, t, &it, &zt);
    if (st) fprintf(stderr, "  encode: %s\n", e->err.msg);
    ig_arena_free(&a);
    return st;
}

static ig_taesd *open_ok(const char *path) {
    ig_err err = {0};
    ig_taesd *t = NULL;
    if (ig_taesd_open(&t, path, false, &err)) fprintf(stderr, "  open %s: %s\n", path, err.msg);
    CHECK(t != NULL);
    return t;
}

static bool same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

typedef struct { int N, h, w; } dec_case;
typedef struct { int N, H, W; } enc_case;
static const dec_case dcases[] = {{1, 8, 8}, {2, 6, 10}};
static const enc_case ecases[] = {{1, 64, 64}, {1, 50, 70}};

static void test_numbers(ig_engine **eng, int n_eng, const wset *dw, const wset *ew, const char *dec_path,
                         const char *enc_path) {
    ig_taesd *dec = open_ok(dec_path), *enc = open_ok(enc_path);
    if (!dec || !enc) goto done;
    CHECK(dec->has_decoder && !dec->has_encoder && dec->latent_channels == 4);
    CHECK(enc->has_encoder && !enc->has_decoder && enc->latent_channels == 4);
    for (size_t c = 0; c < sizeof dcases / sizeof *dcases; c++) {
        const int N = dcases[c].N, h = dcases[c].h, w = dcases[c].w;
        const size_t nz = (size_t)N * 4 * h * w, per = (size_t)3 * 64 * h * w;
        float *z = malloc(nz * sizeof(float)), *got = malloc(N * per * sizeof(float));
        double *ref = malloc(N * per * sizeof(double));
        test_fill(z, nz, -4, 4);
        for (int n = 0; n < N; n++) ref_decode(dw, z + (size_t)n * 4 * h * w, h, w, ref + n * per);
        for (int k = 0; k < n_eng; k++) {
            ig_engine *e = eng[k];
            memset(got, 0xff, N * per * sizeof(float));
            char name[96];
            snprintf(name, sizeof name, "decode %dx(4,%d,%d) %s", N, h, w, ig_dtype_name(e->act_dtype));
            if (run_decode(e, dec, z, N, h, w, got) == IG_OK)
                check_close(name, got, ref, N * per, 0, e->act_dtype == IG_BF16 ? RTOL_BF16 : RTOL_F32);
            else CHECK(0);
        }
        free(z), free(got), free(ref);
    }
    for (size_t c = 0; c < sizeof ecases / sizeof *ecases; c++) {
        const int N = ecases[c].N, H = ecases[c].H, W = ecases[c].W;
        const int h = (int)ig_taesd_latent_size(H), w = (int)ig_taesd_latent_size(W);
        const size_t ni = (size_t)N * 3 * H * W, nz = (size_t)N * 4 * h * w;
        float *img = malloc(ni * sizeof(float)), *got = malloc(nz * sizeof(float));
        double *ref = malloc(nz * sizeof(double));
        test_fill(img, ni, 0, 1);
        ref_encode(ew, img, H, W, ref);
        for (int k = 0; k < n_eng; k++) {
            ig_engine *e = eng[k];
            memset(got, 0xff, nz * sizeof(float));
            char name[96];
            snprintf(name, sizeof name, "encode (3,%d,%d)->(4,%d,%d) %s", H, W, h, w, ig_dtype_name(e->act_dtype));
            if (run_encode(e, enc, img, N, H, W, got) == IG_OK)
                check_close(name, got, ref, nz, 0, e->act_dtype == IG_BF16 ? RTOL_BF16 : RTOL_F32);
            else CHECK(0);
        }
        free(img), free(got), free(ref);
    }
done:
    ig_taesd_close(eng[0], dec), ig_taesd_close(eng[0], enc);
}

/* Every layout decodes (and encodes) to the same bits as the taesd.py-keyed files. */
static void test_layouts(ig_engine *e, const char *dec_path, const char *enc_path, const char *folder,
                         const char *folder_st, const char *conv_dec, const char *conv_enc) {
    const int h = 4, w = 6, H = 40, W = 24;
    float z[4 * 4 * 6], img[3 * 40 * 24], base_i[3 * 32 * 48], base_z[4 * 5 * 3], got_i[3 * 32 * 48], got_z[4 * 5 * 3];
    test_fill(z, sizeof z / sizeof *z, -3, 3);
    test_fill(img, sizeof img / sizeof *img, 0, 1);
    ig_taesd *d = open_ok(dec_path), *en = open_ok(enc_path);
    if (!d || !en) goto done;
    CHECK(run_decode(e, d, z, 1, h, w, base_i) == IG_OK);
    CHECK(run_encode(e, en, img, 1, H, W, base_z) == IG_OK);
    const char *paths[4] = {folder, folder_st, conv_dec, conv_enc};
    for (int i = 0; i < 4; i++) {
        if (!paths[i]) continue;
        ig_taesd *t = open_ok(paths[i]);
        if (!t) continue;
        if (t->has_decoder) {
            memset(got_i, 0, sizeof got_i);
            CHECK(run_decode(e, t, z, 1, h, w, got_i) == IG_OK && same(got_i, base_i, sizeof got_i / sizeof(float)));
        }
        if (t->has_encoder) {
            memset(got_z, 0, sizeof got_z);
            CHECK(run_encode(e, t, img, 1, H, W, got_z) == IG_OK && same(got_z, base_z, sizeof got_z / sizeof(float)));
        }
        CHECK(i >= 2 || (t->has_decoder && t->has_encoder)); /* diffusers: both halves */
        CHECK(i != 2 || (t->has_decoder && !t->has_encoder));
        CHECK(i != 3 || (t->has_encoder && !t->has_decoder));
        printf("  layout %s: %s%s, same bits as taesd.py's keys\n", paths[i], t->has_decoder ? "decoder " : "",
               t->has_encoder ? "encoder" : "");
        ig_taesd_close(e, t);
    }
    /* the wrong half, and shapes that do not fit */
    float small[4];
    e->err = (ig_err){0};
    CHECK(run_encode(e, d, img, 1, H, W, small) != IG_OK && strstr(e->err.msg, "no encoder"));
    int64_t zs[4] = {1, 4, h, w}, bad[4] = {1, 3, 8 * h, 8 * w + 8};
    ig_tensor zt = ig_tensor_plain(IG_F32, 4, zs, z), it = ig_tensor_plain(IG_F32, 4, bad, got_i);
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = e->act_dtype};
    ig_arena_begin_dry(&a);
    e->err = (ig_err){0};
    CHECK(ig_taesd_decode(&f, d, &zt, &it) == IG_ERR_INVALID && strstr(e->err.msg, "the image must be"));
    ig_arena_free(&a);
done:
    ig_taesd_close(e, d), ig_taesd_close(e, en);
}

static void expect_open_fail(const char *path, ig_status want, const char *words) {
    ig_err err = {0};
    ig_taesd *t = NULL;
    const ig_status st = ig_taesd_open(&t, path, false, &err);
    printf("  refused %s: %s\n", path, err.msg);
    CHECK(st == want && t == NULL && strstr(err.msg, words));
    ig_taesd_close(NULL, t);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static const char *DIFFUSERS_CONFIG =
    "{\"_class_name\": \"AutoencoderTiny\", \"_diffusers_version\": \"0.20.0\", \"act_fn\": \"relu\",\n"
    " \"decoder_block_out_channels\": [64, 64, 64, 64], \"encoder_block_out_channels\": [64, 64, 64, 64],\n"
    " \"force_upcast\": false, \"in_channels\": 3, \"latent_channels\": 4, \"latent_magnitude\": 3,\n"
    " \"latent_shift\": 0.5, \"num_decoder_blocks\": [3, 3, 3, 1], \"num_encoder_blocks\": [1, 3, 3, 3],\n"
    " \"out_channels\": 3, \"scaling_factor\": 1.0, \"upsampling_scaling_factor\": 2}\n";

static void test_refusals(const char *dir, const wset *dw, const wset *ew) {
    char p[400], q[512];
    snprintf(p, sizeof p, "%s/missing.safetensors", dir);
    write_set(p, dw, NULL, 0, NULL, NULL, 0, "8.conv.2.weight");
    expect_open_fail(p, IG_ERR_NOT_FOUND, "8.conv.2.weight");
    snprintf(p, sizeof p, "%s/none.safetensors", dir);
    float one = 1;
    ig_weights_entry e = {"something.else", ig_tensor_plain(IG_F32, 1, (int64_t[]){1}, &one)};
    ig_err err = {0};
    CHECK(ig_weights_write(p, &e, 1, NULL, &err) == IG_OK);
    expect_open_fail(p, IG_ERR_INVALID, "no TAESD weights");
    snprintf(p, sizeof p, "%s/nope", dir);
    expect_open_fail(p, IG_ERR_NOT_FOUND, "no such");
    /* a folder whose config is another tiny autoencoder */
    snprintf(p, sizeof p, "%s/silu", dir);
    mkdir(p, 0755);
    snprintf(q, sizeof q, "%s/config.json", p);
    write_text(q, "{\"_class_name\": \"AutoencoderTiny\", \"act_fn\": \"silu\"}");
    snprintf(q, sizeof q, "%s/diffusion_pytorch_model.safetensors", p);
    write_set(q, dw, "decoder", 1, ew, "encoder", 0, NULL);
    expect_open_fail(p, IG_ERR_UNSUPPORTED, "not TAESD's layout");
    /* a Block with a skip conv */
    snprintf(p, sizeof p, "%s/skip.safetensors", dir);
    {
        static ig_weights_entry es[IG_TAESD_MAX_TENSORS + 1];
        static char names[IG_TAESD_MAX_TENSORS + 1][64];
        int n = 0;
        entries_of(dw, NULL, 0, NULL, es, names, &n);
        static float sk[64 * 64];
        es[n++] = (ig_weights_entry){"4.skip.weight", ig_tensor_plain(IG_F32, 4, (int64_t[]){64, 64, 1, 1}, sk)};
        CHECK(ig_weights_write(p, es, n, NULL, &err) == IG_OK);
    }
    expect_open_fail(p, IG_ERR_UNSUPPORTED, "skip conv");
}

/* ---- the library: --fast-decoder, ig_gen_params.decoder, imagine.json, previews ---- */

typedef struct {
    int calls, preview_w, preview_h;
    ig_status st;
} preview_seen;

static int on_step(void *user, const ig_progress *p) {
    preview_seen *ps = user;
    ig_image *img = NULL;
    ig_err err = {0};
    ps->calls++;
    ps->st = ig_progress_preview(p, 0, &img, &err);
    if (img) ps->preview_w = img->width, ps->preview_h = img->height;
    ig_image_free(img);
    return 0;
}

static ig_status gen(ig_model *m, ig_decoder d, preview_seen *ps, ig_image **out, ig_err *err) {
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = "a red apple", p.width = p.height = 64, p.n_steps = 2, p.seed = 7, p.decoder = d;
    if (ps) p.progress = on_step, p.progress_user = ps;
    return ig_generate(m, &p, out, NULL, err);
}

static bool same_image(const ig_image *a, const ig_image *b) {
    return a && b && a->width == b->width && a->height == b->height && !memcmp(a->pixels, b->pixels, (size_t)a->height * a->stride);
}

static void test_library(const char *dir, const char *dec_path) {
    char model[512], link_dir[512], q[700];
    snprintf(model, sizeof model, "%s/golden/sd2-tiny/model", test_shared_dir());
    struct stat st;
    if (stat(model, &st) != 0) {
        printf("  %s missing: library tests skipped\n", model);
        return;
    }
    ig_err err = {0};
    ig_model *plain = NULL, *fast = NULL, *card = NULL;
    ig_image *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.precision = IG_PRECISION_F32;
    CHECK(ig_model_open(&plain, model, &o, &err) == IG_OK);
    o.fast_decoder = dec_path;
    CHECK(ig_model_open(&fast, model, &o, &err) == IG_OK);
    if (!plain || !fast) {
        fprintf(stderr, "  open: %s\n", err.msg);
        goto done;
    }
    ig_model_info info;
    ig_model_describe(plain, &info);
    CHECK(!info.fast_decoder && info.default_decoder == IG_DECODER_FULL);
    ig_model_describe(fast, &info);
    CHECK(info.fast_decoder && info.default_decoder == IG_DECODER_FULL);
    /* asked for without one: refused, naming the way to configure it */
    err = (ig_err){0};
    CHECK(gen(plain, IG_DECODER_FAST, NULL, &a, &err) == IG_ERR_INVALID && strstr(err.msg, "--fast-decoder") && !a);
    printf("  fast decoder asked for, none configured: %s\n", err.msg);
    /* previews: the linear map at latent size without TAESD, TAESD at full size with it */
    preview_seen p0 = {0}, p1 = {0};
    err = (ig_err){0};
    CHECK(gen(plain, IG_DECODER_DEFAULT, &p0, &a, &err) == IG_OK);
    CHECK(gen(fast, IG_DECODER_DEFAULT, &p1, &b, &err) == IG_OK);
    CHECK(p0.calls == 2 && p0.st == IG_OK && p0.preview_w == 8 && p0.preview_h == 8);
    CHECK(p1.calls == 2 && p1.st == IG_OK && p1.preview_w == 64 && p1.preview_h == 64);
    printf("  previews: %dx%d without a fast decoder, %dx%d with it\n", p0.preview_w, p0.preview_h, p1.preview_w,
           p1.preview_h);
    CHECK(same_image(a, b)); /* the default stays the VAE: previews change nothing in the result */
    CHECK(gen(fast, IG_DECODER_FAST, NULL, &c, &err) == IG_OK && c && c->width == 64 && !same_image(a, c));
    ig_image_free(b), b = NULL;
    /* imagine.json: "fast_decoder" relative to the folder, "decoder": "fast" as the default */
    snprintf(link_dir, sizeof link_dir, "%s/sd2-tiny-fast", dir);
    mkdir(link_dir, 0755);
    static const char *const subs[] = {"model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"};
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        char from[700];
        snprintf(from, sizeof from, "%s/%s", model, subs[i]);
        snprintf(q, sizeof q, "%s/%s", link_dir, subs[i]);
        CHECK(symlink(from, q) == 0);
    }
    snprintf(q, sizeof q, "%s/taesd.safetensors", link_dir);
    CHECK(symlink(dec_path, q) == 0);
    snprintf(q, sizeof q, "%s/imagine.json", link_dir);
    write_text(q, "{\"fast_decoder\": \"taesd.safetensors\", \"decoder\": \"fast\"}");
    o.fast_decoder = NULL;
    CHECK(ig_model_open(&card, link_dir, &o, &err) == IG_OK);
    if (card) {
        ig_model_describe(card, &info);
        CHECK(info.fast_decoder && info.default_decoder == IG_DECODER_FAST);
        CHECK(gen(card, IG_DECODER_DEFAULT, NULL, &b, &err) == IG_OK && same_image(b, c));
        CHECK(gen(card, IG_DECODER_FULL, NULL, &d, &err) == IG_OK && same_image(d, a));
        printf("  imagine.json fast_decoder + decoder fast: the default decodes with TAESD, IG_DECODER_FULL with the VAE\n");
    }
    ig_model_close(card), card = NULL;
    write_text(q, "{\"decoder\": \"fast\"}");
    err = (ig_err){0};
    CHECK(ig_model_open(&card, link_dir, &o, &err) == IG_ERR_INVALID && !card && strstr(err.msg, "no fast decoder"));
    printf("  refused: %s\n", err.msg);
    write_text(q, "{\"decoder\": \"quick\"}");
    err = (ig_err){0};
    CHECK(ig_model_open(&card, link_dir, &o, &err) == IG_ERR_INVALID && !card && strstr(err.msg, "fast or full"));
done:
    ig_image_free(a), ig_image_free(b), ig_image_free(c), ig_image_free(d);
    ig_model_close(plain), ig_model_close(fast), ig_model_close(card);
}

static bool have_python(void) {
    return access("tools/taesd_convert.py", R_OK) == 0 && access("tests/unit/taesd_pth.py", R_OK) == 0 &&
           system("python3 -c 'import zipfile, pickle' >/dev/null 2>&1") == 0;
}

/* .safetensors -> synthetic .pth (torch.save's layout) -> tools/taesd_convert.py -> .safetensors:
 * every tensor comes back with the same shape and bytes. */
static bool convert_round_trip(const char *st_in, const char *pth, const char *st_out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 tests/unit/taesd_pth.py '%s' '%s' && python3 tools/taesd_convert.py '%s' '%s'",
             st_in, pth, pth, st_out);
    const int rc = system(cmd);
    CHECK(rc == 0);
    if (rc) return false;
    ig_err err = {0};
    ig_st_file *a = NULL, *b = NULL;
    CHECK(ig_st_open(&a, st_in, false, &err) == IG_OK && ig_st_open(&b, st_out, false, &err) == IG_OK);
    bool ok = a && b && ig_st_count(a) == ig_st_count(b);
    for (int i = 0; ok && i < ig_st_count(a); i++) {
        ig_st_view va, vb;
        const char *name = ig_st_name(a, i);
        ok = !ig_st_get(a, name, &va, &err) && !ig_st_get(b, name, &vb, &err) && va.n_dims == vb.n_dims &&
             !memcmp(va.ne, vb.ne, sizeof va.ne) && va.type == vb.type;
        int64_t n = 1;
        for (int d = 0; ok && d < va.n_dims; d++) n *= va.ne[d];
        ok = ok && !memcmp(va.data, vb.data, (size_t)n * ig_st_type_size(va.type));
    }
    printf("  %s -> %s -> %s: %d tensors, %s\n", st_in, pth, st_out, a ? ig_st_count(a) : 0, ok ? "identical" : "DIFFER");
    CHECK(ok);
    ig_st_close(a), ig_st_close(b);
    return ok;
}

int main(void) {
    test_seed();
    ig_err err = {0};
    ig_engine *eng[2] = {NULL, NULL};
    int n_eng = 0;
    if (ig_engine_create(&eng[n_eng++], "cpu", IG_PRECISION_F32, &err)) {
        fprintf(stderr, "engine: %s\n", err.msg);
        return 1;
    }
    if (ig_engine_native_bf16(eng[0]) && !ig_engine_create(&eng[n_eng], "cpu", IG_PRECISION_BF16, &err)) n_eng++;
    else printf("  no native bf16 here: the bf16 path is not run\n");

    char dir[] = "/tmp/test_taesd_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char dec_path[256], enc_path[256], folder[256], folder_st[512], cfg[512];
    snprintf(dec_path, sizeof dec_path, "%s/taesd_decoder.safetensors", dir);
    snprintf(enc_path, sizeof enc_path, "%s/taesd_encoder.safetensors", dir);
    snprintf(folder, sizeof folder, "%s/taesd-diffusers", dir);
    snprintf(folder_st, sizeof folder_st, "%s/diffusion_pytorch_model.safetensors", folder);
    snprintf(cfg, sizeof cfg, "%s/config.json", folder);
    static wset dw, ew;
    wset_make(&dw, true), wset_make(&ew, false);
    write_set(dec_path, &dw, NULL, 0, NULL, NULL, 0, NULL);
    write_set(enc_path, &ew, NULL, 0, NULL, NULL, 0, NULL);
    mkdir(folder, 0755);
    write_text(cfg, DIFFUSERS_CONFIG);
    write_set(folder_st, &dw, "decoder", 1, &ew, "encoder", 0, NULL); /* DecoderTiny has no Clamp layer */

    test_numbers(eng, n_eng, &dw, &ew, dec_path, enc_path);

    char pd[512], pe[512], cd[512], ce[512];
    bool conv_ok = false;
    if (have_python()) {
        snprintf(pd, sizeof pd, "%s/taesd_decoder.pth", dir), snprintf(pe, sizeof pe, "%s/taesd_encoder.pth", dir);
        snprintf(cd, sizeof cd, "%s/converted_decoder.safetensors", dir);
        snprintf(ce, sizeof ce, "%s/converted_encoder.safetensors", dir);
        conv_ok = convert_round_trip(dec_path, pd, cd) && convert_round_trip(enc_path, pe, ce);
    } else
        printf("  python3 or the scripts not reachable from here: tools/taesd_convert.py not tested\n");
    test_layouts(eng[0], dec_path, enc_path, folder, folder_st, conv_ok ? cd : NULL, conv_ok ? ce : NULL);
    test_refusals(dir, &dw, &ew);
    test_library(dir, dec_path);

    wset_free(&dw), wset_free(&ew);
    for (int k = 0; k < n_eng; k++) ig_engine_free(eng[k]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "  could not remove %s\n", dir);
    return test_finish("test_taesd");
}
