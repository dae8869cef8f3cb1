/* test_image.c — src/image/: encoders checked by decoding with the same libraries (libpng,
 * libjpeg-turbo, libwebp), resize against a naive float64 version of the same filters, float →
 * 8-bit conversion against a float64 emulation of diffusers' float32 rounding, and background
 * keying on synthetic discs.
 *
 * Tolerances:
 *  PNG, lossless WebP     exact pixels (WebP: colour only where alpha > 0, see ig_webp_encode).
 *  JPEG q90, WebP q90     PSNR > 30 dB on a smooth synthetic picture (we see about 40-45).
 *  resize, float core     max|got - ref| <= 2e-3 on values in 0..255: float accumulation over at
 *                         most a few dozen taps against float64 (about 1e-5 relative).
 *  resize, 8-bit path     within 1 level of the float64 reference rounded (ties and the float
 *                         error can move a value across a .5 boundary), and exact for >= 99 %.
 *  convert                bit-exact against the float64 emulation, ties included.
 *  keying                 alpha within 0.15 of the true coverage on edge pixels; no pixel of the
 *                         matte composited over grey shows more green than 8 levels above its
 *                         red and blue (the disc itself has none).
 * Run with IMAGINE_TEST_SEED=n to repeat a run. */
#include "image/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <webp/decode.h>

#include "common.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static ig_image *new_image(int w, int h, int c) {
    ig_image *img = NULL;
    ig_err err = {0};
    if (ig_image_new(&img, w, h, c, &err) != IG_OK) {
        fprintf(stderr, "ig_image_new: %s\n", err.msg);
        exit(2);
    }
    return img;
}

static uint8_t *px(const ig_image *img, int x, int y) {
    return img->pixels + (size_t)y * img->stride + (size_t)x * img->channels;
}

static void fill_random(ig_image *img) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width * img->channels; x++) px(img, 0, y)[x] = (uint8_t)(test_uniform() * 256);
}

/* Smooth content with a few edges, like a generated picture (JPEG and lossy WebP are made for it). */
static void fill_smooth(ig_image *img) {
    const int w = img->width, h = img->height;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px(img, x, y);
            const double r2 = (x - 0.6 * w) * (x - 0.6 * w) + (y - 0.4 * h) * (y - 0.4 * h);
            const int in = r2 < 0.04 * w * h;
            p[0] = (uint8_t)(128 + 90 * sin(x / 9.0) * cos(y / 13.0));
            p[1] = (uint8_t)(in ? 200 : 255.0 * y / h);
            p[2] = (uint8_t)(in ? 40 : 255.0 * x / w);
            if (img->channels == 4) p[3] = (uint8_t)(x < w / 4 ? 0 : 255.0 * (x + y) / (w + h));
        }
}

static double psnr(const ig_image *a, const uint8_t *b, int b_channels) {
    double se = 0;
    size_t n = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++)
            for (int c = 0; c < 3; c++) {
                double d = (double)px(a, x, y)[c] - b[((size_t)y * a->width + x) * b_channels + c];
                se += d * d;
                n++;
            }
    return se == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / (se / n));
}

static ig_status encode(const ig_image *img, ig_format f, int q, ig_bytebuf *out, ig_err *err) {
    ig_bytebuf_free(out);
    return ig_image_encode(img, f, q, ig_bytebuf_sink, out, err);
}

/* Decoders: the same libraries' own readers; return malloc'd tightly packed pixels or NULL. */
static uint8_t *decode_png(const ig_bytebuf *b, int *w, int *h, int *c) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, b->data, b->len)) return NULL;
    *c = (im.format & PNG_FORMAT_FLAG_ALPHA) ? 4 : 3;
    im.format = *c == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    *w = (int)im.width, *h = (int)im.height;
    uint8_t *p = malloc(PNG_IMAGE_SIZE(im));
    if (!png_image_finish_read(&im, NULL, p, 0, NULL)) {
        free(p);
        png_image_free(&im);
        return NULL;
    }
    return p;
}

typedef struct jerr_t {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
} jerr_t;
static void jerr_exit(j_common_ptr ci) { longjmp(((jerr_t *)ci->err)->jmp, 1); }

static uint8_t *decode_jpeg(const ig_bytebuf *b, int *w, int *h, int *c) {
    struct jpeg_decompress_struct ci;
    jerr_t je;
    uint8_t *volatile p = NULL;
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jerr_exit;
    if (setjmp(je.jmp)) {
        jpeg_destroy_decompress(&ci);
        free(p);
        return NULL;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, b->data, (unsigned long)b->len);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    *w = (int)ci.output_width, *h = (int)ci.output_height, *c = ci.output_components;
    p = malloc((size_t)*w * *h * *c);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = p + (size_t)ci.output_scanline * *w * *c;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return p;
}

static uint8_t *decode_webp(const ig_bytebuf *b, int *w, int *h, int *c, int *lossless) {
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(b->data, b->len, &f) != VP8_STATUS_OK) return NULL;
    *c = f.has_alpha ? 4 : 3;
    *lossless = f.format == 2;
    uint8_t *d = f.has_alpha ? WebPDecodeRGBA(b->data, b->len, w, h) : WebPDecodeRGB(b->data, b->len, w, h);
    if (!d) return NULL;
    uint8_t *p = malloc((size_t)*w * *h * *c); /* copy, so every decoder's result is free()d */
    memcpy(p, d, (size_t)*w * *h * *c);
    WebPFree(d);
    return p;
}

static int same_pixels(const ig_image *img, const uint8_t *d, int skip_rgb_if_clear) {
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *a = px(img, x, y), *b = d + ((size_t)y * img->width + x) * img->channels;
            for (int c = 0; c < img->channels; c++) {
                if (skip_rgb_if_clear && img->channels == 4 && a[3] == 0 && c < 3) continue;
                if (a[c] != b[c]) {
                    fprintf(stderr, "  pixel (%d,%d) channel %d: %d != %d\n", x, y, c, a[c], b[c]);
                    return 0;
                }
            }
        }
    return 1;
}

/* A sink that accepts `budget` bytes, then refuses. */
typedef struct failing_sink {
    size_t budget, got;
} failing_sink;
static int fail_after(void *ctx, const void *data, size_t len) {
    (void)data;
    failing_sink *s = ctx;
    if (s->got + len > s->budget) return -1;
    s->got += len;
    return 0;
}

/* ---- encoders ----------------------------------------------------------------------------------- */

static void test_png(void) {
    printf("png\n");
    ig_err err = {0};
    ig_bytebuf buf = {0};
    for (int c = 3; c <= 4; c++) {
        ig_image *img = new_image(97, 61, c);
        fill_random(img);
        CHECK(encode(img, IG_FORMAT_PNG, 100, &buf, &err) == IG_OK);
        int w = 0, h = 0, ch = 0;
        uint8_t *d = decode_png(&buf, &w, &h, &ch);
        CHECK(d && w == 97 && h == 61 && ch == c);
        if (d) CHECK(same_pixels(img, d, 0));
        free(d);
        ig_image_free(img);
    }
    /* A view with padding between rows: the encoder must follow stride. */
    {
        ig_image *big = new_image(50, 40, 3);
        fill_random(big);
        ig_image view = {.width = 31, .height = 17, .channels = 3, .stride = big->stride, .pixels = px(big, 5, 7)};
        CHECK(ig_png_encode(&view, 9, ig_bytebuf_sink, (ig_bytebuf_free(&buf), &buf), &err) == IG_OK);
        int w, h, ch;
        uint8_t *d = decode_png(&buf, &w, &h, &ch);
        CHECK(d && w == 31 && h == 17 && ch == 3 && same_pixels(&view, d, 0));
        free(d);
        ig_image_free(big);
    }
    /* Levels: 0 stores, 1 compresses, 9 compresses at least as well. */
    {
        ig_image *img = new_image(256, 256, 3);
        fill_smooth(img);
        size_t sz[10];
        for (int level = 0; level <= 9; level += 1) {
            ig_bytebuf_free(&buf);
            CHECK(ig_png_encode(img, level, ig_bytebuf_sink, &buf, &err) == IG_OK);
            sz[level] = buf.len;
        }
        printf("  png sizes 256x256 smooth: level 0 %zu, 1 %zu, 6 %zu, 9 %zu\n", sz[0], sz[1], sz[6], sz[9]);
        CHECK(sz[0] > 256 * 256 * 3 && sz[1] < sz[0] / 2 && sz[9] <= sz[6] && sz[6] <= sz[1]);
        CHECK(ig_png_encode(img, 10, ig_bytebuf_sink, &buf, &(ig_err){0}) == IG_ERR_INVALID);
        ig_image_free(img);
    }
    ig_bytebuf_free(&buf);
}

static void test_jpeg(void) {
    printf("jpeg\n");
    ig_err err = {0};
    ig_bytebuf buf = {0};
    ig_image *img = new_image(203, 151, 3);
    fill_smooth(img);
    size_t sizes[4];
    const int qs[4] = {10, 50, 90, 100};
    for (int i = 0; i < 4; i++) {
        CHECK(encode(img, IG_FORMAT_JPEG, qs[i], &buf, &err) == IG_OK);
        sizes[i] = buf.len;
        int w = 0, h = 0, c = 0;
        uint8_t *d = decode_jpeg(&buf, &w, &h, &c);
        CHECK(d && w == 203 && h == 151 && c == 3);
        double p = d ? psnr(img, d, 3) : 0;
        printf("  jpeg q%-3d %6zu bytes  PSNR %.1f dB\n", qs[i], buf.len, p);
        if (qs[i] >= 90) CHECK(p > 30.0);
        if (qs[i] == 100) CHECK(p > 40.0);
        free(d);
    }
    CHECK(sizes[0] < sizes[1] && sizes[1] < sizes[2] && sizes[2] < sizes[3]);
    /* q 0 is libjpeg's 1, still a valid file. */
    CHECK(encode(img, IG_FORMAT_JPEG, 0, &buf, &err) == IG_OK && buf.len > 0);
    ig_image_free(img);

    ig_image *rgba = new_image(16, 16, 4);
    fill_smooth(rgba);
    ig_err e2 = {0};
    CHECK(ig_jpeg_encode(rgba, 90, ig_bytebuf_sink, &buf, &e2) == IG_ERR_INVALID);
    CHECK(strstr(e2.msg, "alpha") != NULL);
    printf("  RGBA refused: %s\n", e2.msg);
    ig_image_free(rgba);
    ig_bytebuf_free(&buf);
}

static void test_webp(void) {
    printf("webp\n");
    ig_err err = {0};
    ig_bytebuf buf = {0};
    for (int c = 3; c <= 4; c++) {
        /* Lossless at 100, exact on noise (the hardest case for a predictor). */
        ig_image *img = new_image(83, 47, c);
        fill_random(img);
        if (c == 4)
            for (int y = 0; y < 47; y += 5) px(img, y, y)[3] = 0; /* some fully transparent pixels */
        CHECK(encode(img, IG_FORMAT_WEBP, 100, &buf, &err) == IG_OK);
        int w = 0, h = 0, ch = 0, lossless = 0;
        uint8_t *d = decode_webp(&buf, &w, &h, &ch, &lossless);
        CHECK(d && w == 83 && h == 47 && ch == c && lossless);
        if (d) CHECK(same_pixels(img, d, 1));
        free(d);
        ig_image_free(img);

        /* Lossy below 100. */
        img = new_image(203, 151, c);
        fill_smooth(img);
        size_t sizes[3];
        const int qs[3] = {10, 50, 90};
        for (int i = 0; i < 3; i++) {
            CHECK(encode(img, IG_FORMAT_WEBP, qs[i], &buf, &err) == IG_OK);
            sizes[i] = buf.len;
            d = decode_webp(&buf, &w, &h, &ch, &lossless);
            CHECK(d && w == 203 && h == 151 && ch == c && !lossless);
            double p = 0;
            if (d && c == 3) p = psnr(img, d, 3);
            if (d && c == 4) {
                /* Alpha is stored losslessly; colour is compared where it is visible. */
                int alpha_exact = 1;
                double se = 0;
                size_t n = 0;
                for (int y = 0; y < 151; y++)
                    for (int x = 0; x < 203; x++) {
                        const uint8_t *a = px(img, x, y), *b = d + ((size_t)y * 203 + x) * 4;
                        alpha_exact &= a[3] == b[3];
                        if (a[3] == 255 || a[3] < 128) continue;
                        for (int k = 0; k < 3; k++) se += (a[k] - b[k]) * (double)(a[k] - b[k]), n++;
                    }
                CHECK(alpha_exact);
                p = n ? 10.0 * log10(255.0 * 255.0 / fmax(se / n, 1e-9)) : 0;
            }
            printf("  webp %s q%-3d %6zu bytes  PSNR %.1f dB\n", c == 4 ? "RGBA" : "RGB ", qs[i], buf.len, p);
            if (qs[i] == 90) CHECK(p > 30.0);
            free(d);
        }
        CHECK(sizes[0] < sizes[1] && sizes[1] < sizes[2]);
        ig_image_free(img);
    }
    ig_bytebuf_free(&buf);
}

static void test_encode_errors(void) {
    printf("encoder errors\n");
    ig_image *img = new_image(300, 200, 3);
    fill_random(img);
    for (int f = IG_FORMAT_PNG; f <= IG_FORMAT_WEBP; f++) {
        /* The sink gives up after a little: the encoder fails with IG_ERR_IO and leaks nothing. */
        ig_bytebuf whole = {0};
        ig_err e0 = {0};
        CHECK(ig_image_encode(img, (ig_format)f, f == IG_FORMAT_WEBP ? 80 : 90, ig_bytebuf_sink, &whole, &e0) == IG_OK);
        const size_t budgets[3] = {0, 100, whole.len / 2}; /* the last fails half way */
        ig_bytebuf_free(&whole);
        for (int b = 0; b < 3; b++) {
            failing_sink s = {budgets[b], 0};
            ig_err err = {0};
            ig_status st = ig_image_encode(img, (ig_format)f, f == IG_FORMAT_WEBP ? 80 : 90, fail_after, &s, &err);
            CHECK(st == IG_ERR_IO);
            if (st != IG_ERR_IO) fprintf(stderr, "  %s budget %zu: status %d (%s)\n", ig_format_name((ig_format)f), budgets[b], st, err.msg);
            if (b == 1) printf("  %s: %s\n", ig_format_name((ig_format)f), err.msg);
        }
        ig_err err = {0};
        CHECK(ig_image_encode(img, (ig_format)f, 101, ig_bytebuf_sink, &(ig_bytebuf){0}, &err) == IG_ERR_INVALID);
        ig_image bad = *img;
        bad.channels = 2;
        err = (ig_err){0};
        CHECK(ig_image_encode(&bad, (ig_format)f, 90, ig_bytebuf_sink, &(ig_bytebuf){0}, &err) == IG_ERR_INVALID);
        bad = *img;
        bad.width = 0;
        err = (ig_err){0};
        CHECK(ig_image_encode(&bad, (ig_format)f, 90, ig_bytebuf_sink, &(ig_bytebuf){0}, &err) == IG_ERR_INVALID);
        bad = *img;
        bad.stride = 10;
        err = (ig_err){0};
        CHECK(ig_image_encode(&bad, (ig_format)f, 90, ig_bytebuf_sink, &(ig_bytebuf){0}, &err) == IG_ERR_INVALID);
    }
    ig_err err = {0};
    ig_format f;
    CHECK(ig_format_parse("webp", &f, &err) == IG_OK && f == IG_FORMAT_WEBP);
    CHECK(ig_format_parse("jpg", &f, &err) == IG_OK && f == IG_FORMAT_JPEG);
    CHECK(ig_format_parse("gif", &f, &err) == IG_ERR_INVALID);
    CHECK(!strcmp(ig_format_mime(IG_FORMAT_PNG), "image/png") && !strcmp(ig_format_name(IG_FORMAT_JPEG), "jpeg"));
    ig_image *tmp = NULL;
    err = (ig_err){0};
    CHECK(ig_image_new(&tmp, 0, 5, 3, &err) == IG_ERR_INVALID && tmp == NULL);
    err = (ig_err){0};
    CHECK(ig_image_new(&tmp, 5, 5, 1, &err) == IG_ERR_INVALID && tmp == NULL);
    ig_image_free(NULL);
    ig_bytebuf_free(NULL);
    ig_image_free(img);
}

/* ---- resize ------------------------------------------------------------------------------------ */

static double ref_kernel(ig_filter f, double x) {
    x = fabs(x);
    if (f == IG_FILTER_LANCZOS3) {
        if (x >= 3) return 0;
        if (x == 0) return 1;
        return sin(M_PI * x) / (M_PI * x) * sin(M_PI * x / 3) / (M_PI * x / 3);
    }
    const double a = -0.5;
    if (x < 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
    if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
    return 0;
}

/* Weights of output i over every input (clamp-to-edge folded), the definition written plainly. */
static void ref_weights(ig_filter f, int n_in, int n_out, int i, double *w) {
    if (f == IG_FILTER_AUTO) f = n_out < n_in ? IG_FILTER_LANCZOS3 : IG_FILTER_CATMULL_ROM;
    const double scale = (double)n_in / n_out, fs = scale > 1 ? scale : 1, sup = (f == IG_FILTER_LANCZOS3 ? 3 : 2) * fs;
    const double centre = (i + 0.5) * scale;
    double sum = 0;
    for (int j = 0; j < n_in; j++) w[j] = 0;
    for (int j = (int)floor(centre - sup) - 2; j <= (int)ceil(centre + sup) + 2; j++) {
        double k = ref_kernel(f, (j + 0.5 - centre) / fs);
        w[j < 0 ? 0 : j >= n_in ? n_in - 1 : j] += k;
        sum += k;
    }
    for (int j = 0; j < n_in; j++) w[j] /= sum;
}

/* Naive 2-D resize in float64: every output pixel sums over every input pixel. */
static void ref_resize(const double *src, int sw, int sh, int c, double *dst, int dw, int dh, ig_filter f) {
    double *wx = malloc(sizeof(double) * (size_t)dw * sw), *wy = malloc(sizeof(double) * (size_t)dh * sh);
    for (int i = 0; i < dw; i++) ref_weights(f, sw, dw, i, wx + (size_t)i * sw);
    for (int i = 0; i < dh; i++) ref_weights(f, sh, dh, i, wy + (size_t)i * sh);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int j = 0; j < sh; j++) {
                    if (wy[(size_t)y * sh + j] == 0) continue;
                    for (int i = 0; i < sw; i++)
                        s += wy[(size_t)y * sh + j] * wx[(size_t)x * sw + i] * src[((size_t)j * sw + i) * c + ch];
                }
                dst[((size_t)y * dw + x) * c + ch] = s;
            }
    free(wx);
    free(wy);
}

static void test_resize_vs_ref(void) {
    printf("resize vs float64 reference\n");
    const int cases[][4] = {{17, 13, 40, 29}, {40, 29, 17, 13}, {64, 64, 150, 100}, {96, 80, 33, 77},
                            {23, 31, 23, 31}, {1, 9, 5, 3},     {50, 7, 7, 50},    {5, 5, 1, 1}};
    const ig_filter filters[3] = {IG_FILTER_LANCZOS3, IG_FILTER_CATMULL_ROM, IG_FILTER_AUTO};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int fi = 0; fi < 3; fi++) {
            const int sw = cases[k][0], sh = cases[k][1], dw = cases[k][2], dh = cases[k][3], c = 3 + (int)(k & 1);
            float *src = malloc(sizeof(float) * sw * sh * c), *got = malloc(sizeof(float) * dw * dh * c);
            double *srcd = malloc(sizeof(double) * sw * sh * c), *ref = malloc(sizeof(double) * dw * dh * c);
            test_fill(src, (size_t)sw * sh * c, 0, 255);
            for (int i = 0; i < sw * sh * c; i++) srcd[i] = src[i];
            ig_err err = {0};
            CHECK(ig_image_resize_f32(src, sw, sh, c, got, dw, dh, filters[fi], &err) == IG_OK);
            ref_resize(srcd, sw, sh, c, ref, dw, dh, filters[fi]);
            char name[96];
            snprintf(name, sizeof name, "f32 %s %dx%dx%d -> %dx%d",
                     filters[fi] == IG_FILTER_LANCZOS3 ? "lanczos3" : filters[fi] == IG_FILTER_AUTO ? "auto" : "catmull-rom",
                     sw, sh, c, dw, dh);
            check_close(name, got, ref, (size_t)dw * dh * c, 2e-3, 0);
            free(src), free(got), free(srcd), free(ref);
        }

    /* The 8-bit path, RGB and premultiplied RGBA, against the reference rounded. */
    for (int c = 3; c <= 4; c++) {
        const int sw = 45, sh = 38, dw = 101, dh = 27;
        ig_image *s = new_image(sw, sh, c), *d = new_image(dw, dh, c);
        fill_random(s);
        double *srcd = malloc(sizeof(double) * sw * sh * c), *ref = malloc(sizeof(double) * dw * dh * c);
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
                for (int ch = 0; ch < c; ch++) {
                    double v = px(s, x, y)[ch];
                    if (c == 4 && ch < 3) v *= px(s, x, y)[3] / 255.0;
                    srcd[((size_t)y * sw + x) * c + ch] = v;
                }
        ref_resize(srcd, sw, sh, c, ref, dw, dh, IG_FILTER_AUTO);
        ig_err err = {0};
        CHECK(ig_image_resize(s, d, IG_FILTER_AUTO, &err) == IG_OK);
        int worst = 0;
        size_t off = 0, n = 0;
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) {
                const double *r = ref + ((size_t)y * dw + x) * c;
                const double a = c == 4 ? r[3] : 255.0;
                for (int ch = 0; ch < c; ch++) {
                    double v = ch < 3 ? (a > 0 ? r[ch] * 255.0 / a : 0) : r[3];
                    if (c == 4 && ch < 3 && lround(fmin(fmax(a, 0), 255)) == 0) continue; /* colour invisible */
                    int want = (int)lround(fmin(fmax(v, 0), 255)), diff = abs(want - px(d, x, y)[ch]);
                    worst = IG_MAX(worst, diff);
                    off += diff != 0;
                    n++;
                }
            }
        printf("  u8 %s 45x38 -> 101x27: max level diff %d, %zu of %zu values off by one\n", c == 4 ? "RGBA" : "RGB", worst,
               off, n);
        CHECK(worst <= 1 && off * 100 <= n);
        free(srcd), free(ref);
        ig_image_free(s), ig_image_free(d);
    }
}

static void test_resize_properties(void) {
    printf("resize properties\n");
    ig_err err = {0};
    /* Exact output size and constant stays constant, odd sizes, both directions, both layouts. */
    const int sizes[][4] = {{64, 64, 1536, 1024}, {512, 512, 333, 777}, {64, 64, 1, 1}, {7, 3, 1000, 2}, {1, 1, 13, 9}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int c = 3; c <= 4; c++) {
            ig_image *s = new_image(sizes[k][0], sizes[k][1], c), *d = new_image(sizes[k][2], sizes[k][3], c);
            const uint8_t col[4] = {201, 13, 77, (uint8_t)(c == 4 ? 140 : 255)};
            for (int y = 0; y < s->height; y++)
                for (int x = 0; x < s->width; x++) memcpy(px(s, x, y), col, (size_t)c);
            memset(d->pixels, 0xAB, d->stride * d->height);
            for (int f = IG_FILTER_AUTO; f <= IG_FILTER_CATMULL_ROM; f++) {
                CHECK(ig_image_resize(s, d, (ig_filter)f, &err) == IG_OK);
                int flat = 1;
                for (int y = 0; y < d->height; y++)
                    for (int x = 0; x < d->width; x++) flat &= !memcmp(px(d, x, y), col, (size_t)c);
                if (!flat) fprintf(stderr, "  not flat: %dx%d -> %dx%d c=%d filter %d\n", s->width, s->height, d->width, d->height, c, f);
                CHECK(flat);
            }
            ig_image_free(s), ig_image_free(d);
        }

    /* A linear ramp stays linear inside (the filters reproduce linear functions away from the edges). */
    {
        ig_image *s = new_image(64, 8, 3), *d = new_image(1000, 8, 3);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 64; x++) px(s, x, y)[0] = px(s, x, y)[1] = px(s, x, y)[2] = (uint8_t)(4 * x);
        for (int f = IG_FILTER_LANCZOS3; f <= IG_FILTER_CATMULL_ROM; f++) {
            CHECK(ig_image_resize(s, d, (ig_filter)f, &err) == IG_OK);
            double worst = 0;
            for (int x = 0; x < 1000; x++) {
                const double u = (x + 0.5) * 64 / 1000.0 - 0.5; /* input coordinate in pixel units */
                if (u < 3 || u > 60) continue;
                worst = fmax(worst, fabs(px(d, x, 4)[1] - 4 * u));
            }
            printf("  ramp 64 -> 1000 %s: max deviation from linear %.2f levels\n",
                   f == IG_FILTER_LANCZOS3 ? "lanczos3   " : "catmull-rom", worst);
            CHECK(worst <= 1.0);
        }
        ig_image_free(s), ig_image_free(d);
    }

    /* A 1 px checkerboard shrinks to grey. */
    {
        ig_image *s = new_image(256, 256, 3);
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++) memset(px(s, x, y), ((x ^ y) & 1) ? 255 : 0, 3);
        const int outs[3] = {64, 75, 128};
        for (int k = 0; k < 3; k++)
            for (int f = IG_FILTER_LANCZOS3; f <= IG_FILTER_CATMULL_ROM; f++) {
                ig_image *d = new_image(outs[k], outs[k], 3);
                CHECK(ig_image_resize(s, d, (ig_filter)f, &err) == IG_OK);
                int lo = 255, hi = 0;
                for (int y = 0; y < outs[k]; y++)
                    for (int x = 0; x < outs[k]; x++) lo = IG_MIN(lo, px(d, x, y)[0]), hi = IG_MAX(hi, px(d, x, y)[0]);
                printf("  checkerboard 256 -> %d %s: %d..%d\n", outs[k], f == IG_FILTER_LANCZOS3 ? "lanczos3   " : "catmull-rom", lo, hi);
                CHECK(lo >= 120 && hi <= 136);
                ig_image_free(d);
            }
        ig_image_free(s);
    }

    /* Same size is the identity; transparent pixels lend no colour (premultiplied). */
    {
        ig_image *s = new_image(31, 17, 4), *d = new_image(31, 17, 4);
        fill_random(s);
        CHECK(ig_image_resize(s, d, IG_FILTER_AUTO, &err) == IG_OK);
        int same = 1;
        for (int y = 0; y < 17; y++)
            for (int x = 0; x < 31; x++) same &= px(s, x, y)[3] == px(d, x, y)[3] && (px(s, x, y)[3] == 0 || !memcmp(px(s, x, y), px(d, x, y), 4));
        CHECK(same);
        ig_image_free(s), ig_image_free(d);

        s = new_image(16, 16, 4), d = new_image(100, 100, 4);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                uint8_t *p = px(s, x, y);
                if (x < 8) p[0] = 250, p[1] = 20, p[2] = 20, p[3] = 255; /* opaque red */
                else p[0] = 0, p[1] = 255, p[2] = 0, p[3] = 0;         /* transparent "green" */
            }
        CHECK(ig_image_resize(s, d, IG_FILTER_AUTO, &err) == IG_OK);
        int max_green = 0;
        for (int y = 0; y < 100; y++)
            for (int x = 0; x < 100; x++)
                if (px(d, x, y)[3] > 0) max_green = IG_MAX(max_green, px(d, x, y)[1]);
        printf("  red|transparent-green 16 -> 100: max green in visible pixels %d\n", max_green);
        CHECK(max_green <= 25);
        ig_image_free(s), ig_image_free(d);
    }

    /* Refusals. */
    {
        ig_image *s = new_image(8, 8, 3), *d = new_image(8, 8, 4);
        ig_err e = {0};
        CHECK(ig_image_resize(s, d, IG_FILTER_AUTO, &e) == IG_ERR_INVALID);
        e = (ig_err){0};
        CHECK(ig_image_resize(s, s, IG_FILTER_AUTO, &e) == IG_ERR_INVALID); /* overlap */
        e = (ig_err){0};
        float f1[3] = {0};
        CHECK(ig_image_resize_f32(f1, 1, 1, 3, f1, 0, 1, IG_FILTER_AUTO, &e) == IG_ERR_INVALID);
        ig_image_free(s), ig_image_free(d);
    }
}

/* ---- convert ----------------------------------------------------------------------------------- */

/* diffusers in float32, emulated in float64: each float32 operation is the float64 result rounded
 * to float (exact for +, * of two floats here: float64 holds > 2 x 24 + 2 bits), then numpy's
 * round-half-to-even written out. */
static int ref_u8(float x, int neg) {
    double y = neg ? (double)(float)((double)x * 0.5 + 0.5) : (double)x;
    if (isnan(y)) return 0;
    y = y < 0 ? 0 : y > 1 ? 1 : y;
    double z = (double)(float)(y * 255.0);
    double r = floor(z), frac = z - r;
    if (frac > 0.5 || (frac == 0.5 && fmod(r, 2.0) != 0)) r += 1;
    return (int)r;
}

static void test_convert(void) {
    printf("convert\n");
    ig_err err = {0};
    const int w = 37, h = 23;
    for (int neg = 0; neg <= 1; neg++)
        for (int c = 3; c <= 4; c++)
            for (int lay = 0; lay <= 1; lay++) {
                float *src = malloc(sizeof(float) * w * h * c);
                test_fill(src, (size_t)w * h * c, neg ? -1.2f : -0.1f, 1.1f);
                src[0] = NAN, src[1] = INFINITY, src[2] = -INFINITY;
                ig_image *img = new_image(w, h, c);
                CHECK(ig_image_from_f32(img, src, lay ? IG_LAYOUT_CHW : IG_LAYOUT_HWC, neg ? IG_RANGE_NEG1_1 : IG_RANGE_0_1,
                                        &err) == IG_OK);
                size_t bad = 0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        for (int ch = 0; ch < c; ch++) {
                            size_t i = lay ? ((size_t)ch * h + y) * w + x : ((size_t)y * w + x) * c + ch;
                            bad += px(img, x, y)[ch] != ref_u8(src[i], neg);
                        }
                CHECK(bad == 0);
                /* And back: x/255 (2x - 1), as diffusers' preprocess. */
                float *back = malloc(sizeof(float) * w * h * c);
                CHECK(ig_image_to_f32(img, back, lay ? IG_LAYOUT_CHW : IG_LAYOUT_HWC, neg ? IG_RANGE_NEG1_1 : IG_RANGE_0_1,
                                      &err) == IG_OK);
                size_t bad_back = 0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        for (int ch = 0; ch < c; ch++) {
                            size_t i = lay ? ((size_t)ch * h + y) * w + x : ((size_t)y * w + x) * c + ch;
                            float v = (float)(px(img, x, y)[ch] / 255.0);
                            if (neg) v = (float)(2.0 * v - 1.0);
                            bad_back += back[i] != v;
                        }
                CHECK(bad_back == 0);
                free(src), free(back);
                ig_image_free(img);
            }

    /* Ties: values whose float32 product y * 255 is exactly k + 0.5 must round to even. Search the
     * floats around each (k + 0.5) / 255 (and the matching x in [-1, 1]) for them. */
    int ties = 0, tie_bad = 0, naive_diff = 0;
    for (int neg = 0; neg <= 1; neg++)
        for (int k = 0; k < 255; k++) {
            const double y0 = (k + 0.5) / 255.0;
            float x = neg ? (float)(2 * y0 - 1) : (float)y0;
            for (int step = 0; step < 16; step++) x = nextafterf(x, -INFINITY);
            for (int step = 0; step < 33; step++, x = nextafterf(x, INFINITY)) {
                float y = neg ? x * 0.5f + 0.5f : x;
                float z = y * 255.0f;
                ig_image one = {.width = 1, .height = 1, .channels = 3, .stride = 3, .pixels = (uint8_t[3]){0}};
                float v[3] = {x, x, x};
                CHECK(ig_image_from_f32(&one, v, IG_LAYOUT_HWC, neg ? IG_RANGE_NEG1_1 : IG_RANGE_0_1, &err) == IG_OK);
                const int want = ref_u8(x, neg);
                tie_bad += one.pixels[0] != want;
                if (z == k + 0.5f) {
                    ties++;
                    tie_bad += want != (k % 2 ? k + 1 : k);
                }
                /* How often a pure float64 pipeline (no float32 steps) would disagree. */
                double yd = neg ? (double)x / 2 + 0.5 : (double)x;
                naive_diff += (int)nearbyint(fmin(fmax(yd, 0), 1) * 255.0) != want;
            }
        }
    printf("  %d exact .5 ties found and rounded to even; a float64-only pipeline differs on %d of %d probes\n", ties,
           naive_diff, 2 * 255 * 33);
    CHECK(ties >= 100 && tie_bad == 0);
}

/* ---- keying ------------------------------------------------------------------------------------ */

/* Coverage of pixel (x, y) by the disc (cx, cy, r), from 16x16 sub-samples. */
static double coverage(int x, int y, double cx, double cy, double r) {
    int in = 0;
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++) {
            double u = x + (i + 0.5) / 16 - cx, v = y + (j + 0.5) / 16 - cy;
            in += u * u + v * v < r * r;
        }
    return in / 256.0;
}

static void test_key_disc(void) {
    printf("keying: red disc on a green background with vignette and noise\n");
    const int w = 96, h = 96;
    const double cx = 48.3, cy = 45.6, r = 26.0;
    const double F[3] = {210, 40, 60};
    ig_image *src = new_image(w, h, 3), *dst = new_image(w, h, 4);
    double *cov = malloc(sizeof(double) * w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double u = (x - 48.0) / 48.0, v = (y - 48.0) / 48.0, vig = 14.0 * (1 - 0.5 * (u * u + v * v));
            const double B[3] = {30 + vig, 170 + vig, 50 + vig};
            const double a = cov[y * w + x] = coverage(x, y, cx, cy, r);
            for (int c = 0; c < 3; c++) {
                double val = a * F[c] + (1 - a) * B[c] + (test_uniform() * 5 - 2.5);
                px(src, x, y)[c] = (uint8_t)lround(fmin(fmax(val, 0), 255));
            }
        }
    ig_err err = {0};
    ig_key_info info;
    CHECK(ig_image_key_background(src, dst, NULL, &info, &err) == IG_OK);
    printf("  key (%d,%d,%d) tolerance %.1f border match %.2f transparent %.2f\n", info.bg[0], info.bg[1], info.bg[2],
           (double)info.tolerance, (double)info.border_match, (double)info.transparent);
    CHECK(abs(info.bg[0] - 44) <= 4 && abs(info.bg[1] - 184) <= 4 && abs(info.bg[2] - 64) <= 4);
    CHECK(info.border_match > 0.95f);
    int inside_bad = 0, outside_bad = 0, edge_n = 0, edge_soft = 0, fringe = 0;
    double edge_err = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const double dc = hypot(x + 0.5 - cx, y + 0.5 - cy);
            const uint8_t *o = px(dst, x, y);
            if (dc < r - 2) inside_bad += o[3] != 255;
            if (dc > r + 3) outside_bad += o[3] != 0;
            const double a = cov[y * w + x];
            if (a > 0.15 && a < 0.85) {
                edge_n++;
                edge_soft += o[3] > 0 && o[3] < 255;
                edge_err = fmax(edge_err, fabs(o[3] / 255.0 - a));
            }
            /* Over mid grey, a fringe would show as green above red and blue. */
            double comp[3];
            for (int c = 0; c < 3; c++) comp[c] = (o[c] * o[3] + 128.0 * (255 - o[3])) / 255.0;
            if (comp[1] - fmax(comp[0], comp[2]) > 8) fringe++;
        }
    printf("  inside not opaque %d, outside not clear %d, edge pixels %d (soft %d, max |alpha - coverage| %.3f), "
           "green fringe pixels %d\n",
           inside_bad, outside_bad, edge_n, edge_soft, edge_err, fringe);
    CHECK(inside_bad == 0 && outside_bad == 0);
    CHECK(edge_n > 50 && edge_soft == edge_n && edge_err < 0.15);
    CHECK(fringe == 0);
    free(cov);
    ig_image_free(src), ig_image_free(dst);
}

/* A thin anti-aliased diagonal strand (1.5 px), thinner than the edge band: no solid pixel to
 * sample, so edge pixels sample each other. Still no green fringe, and the core stays nearly opaque. */
static void test_key_strand(void) {
    printf("keying: thin strand\n");
    const int w = 64, h = 64;
    ig_image *src = new_image(w, h, 3), *dst = new_image(w, h, 4);
    double *cov = malloc(sizeof(double) * w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = 0;
            for (int j = 0; j < 16; j++)
                for (int i = 0; i < 16; i++) {
                    const double u = x + (i + 0.5) / 16, v = y + (j + 0.5) / 16;
                    in += fabs(u - 0.8 * v - 12.3) / sqrt(1.64) < 0.75 && v > 8 && v < 56;
                }
            const double a = cov[y * w + x] = in / 256.0;
            const double F[3] = {235, 200, 30}, B[3] = {20, 160, 70}; /* yellow on green: a hard pair */
            for (int c = 0; c < 3; c++) px(src, x, y)[c] = (uint8_t)lround(a * F[c] + (1 - a) * B[c]);
        }
    ig_err err = {0};
    CHECK(ig_image_key_background(src, dst, NULL, NULL, &err) == IG_OK);
    int fringe = 0, core_bad = 0, clear_bad = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *o = px(dst, x, y);
            const double a = cov[y * w + x];
            /* Yellow over grey has green at most (200 - 128) a / ... below red; a green fringe
             * would push green above red. */
            double comp[3];
            for (int c = 0; c < 3; c++) comp[c] = (o[c] * o[3] + 128.0 * (255 - o[3])) / 255.0;
            if (comp[1] - comp[0] > 4) fringe++;
            if (a > 0.95 && o[3] < 200) core_bad++;
            if (a == 0 && o[3] != 0 && fabs(x - 0.8 * y - 12.3) > 3) clear_bad++;
        }
    printf("  green-over-red fringe pixels %d, weak core pixels %d, stray alpha %d\n", fringe, core_bad, clear_bad);
    CHECK(fringe == 0 && core_bad == 0 && clear_bad == 0);
    free(cov);
    ig_image_free(src), ig_image_free(dst);
}

/* A black ring with a white inside on white: connected keying (auto for white) keeps the inside
 * opaque; plain keying clears it. A red ring on green (chromatic: not connected) clears its hole. */
static void test_key_enclosed(void) {
    printf("keying: enclosed key colour\n");
    const int w = 64, h = 64;
    for (int chroma = 0; chroma <= 1; chroma++) {
        ig_image *src = new_image(w, h, 3), *dst = new_image(w, h, 4);
        const uint8_t bg[3] = {(uint8_t)(chroma ? 20 : 250), (uint8_t)(chroma ? 200 : 250), (uint8_t)(chroma ? 40 : 250)};
        const uint8_t ring[3] = {(uint8_t)(chroma ? 220 : 10), 10, 10};
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const double d = hypot(x + 0.5 - 32, y + 0.5 - 32);
                memcpy(px(src, x, y), d > 12 && d < 18 ? ring : bg, 3);
            }
        for (int conn = -1; conn <= 1; conn++) {
            ig_key_params p = IG_KEY_PARAMS_INIT;
            p.connected = conn;
            ig_err err = {0};
            CHECK(ig_image_key_background(src, dst, &p, NULL, &err) == IG_OK);
            const int centre_a = px(dst, 32, 32)[3], ring_a = px(dst, 32 + 15, 32)[3], out_a = px(dst, 2, 2)[3];
            const int want_centre = (conn == -1 ? !chroma : conn == 1) ? 255 : 0;
            printf("  %s key, connected %2d: centre alpha %3d, ring %3d, outside %3d\n", chroma ? "green" : "white", conn, centre_a,
                   ring_a, out_a);
            CHECK(centre_a == want_centre && ring_a == 255 && out_a == 0);
        }
        ig_image_free(src), ig_image_free(dst);
    }

    /* No plain background at all: noise. Must not fail; the caller learns from border_match. */
    ig_image *src = new_image(40, 30, 3), *dst = new_image(40, 30, 4);
    fill_random(src);
    ig_key_info info;
    ig_err err = {0};
    CHECK(ig_image_key_background(src, dst, NULL, &info, &err) == IG_OK);
    printf("  noise: border match %.2f, transparent %.2f\n", (double)info.border_match, (double)info.transparent);
    CHECK(info.border_match < 0.6f);
    err = (ig_err){0};
    CHECK(ig_image_key_background(dst, dst, NULL, NULL, &err) == IG_ERR_INVALID); /* RGBA in */
    ig_image_free(src), ig_image_free(dst);
}

/* Timings of the sizes the server produces (printed, not asserted). */
static void bench(void) {
    if (getenv("IMAGINE_IMAGE_BENCH") && !strcmp(getenv("IMAGINE_IMAGE_BENCH"), "0")) return;
    printf("timings (not asserted)\n");
    ig_err err = {0};
    ig_image *s = new_image(64, 64, 4), *d = new_image(1536, 1024, 4), *n = new_image(512, 512, 3), *m = new_image(1024, 1024, 3);
    fill_smooth(s), fill_smooth(n);
    double t = ig__now_s();
    ig_image_resize(s, d, IG_FILTER_AUTO, &err);
    printf("  resize RGBA 64x64 -> 1536x1024   %7.1f ms\n", (ig__now_s() - t) * 1e3);
    t = ig__now_s();
    ig_image_resize(n, m, IG_FILTER_AUTO, &err);
    printf("  resize RGB 512x512 -> 1024x1024  %7.1f ms\n", (ig__now_s() - t) * 1e3);
    ig_image *m4 = new_image(512, 512, 4);
    t = ig__now_s();
    ig_image_key_background(n, m4, NULL, NULL, &err);
    printf("  key 512x512                      %7.1f ms\n", (ig__now_s() - t) * 1e3);
    const struct { ig_format f; int q; const char *name; } encs[] = {
        {IG_FORMAT_PNG, 100, "png"}, {IG_FORMAT_JPEG, 90, "jpeg q90"}, {IG_FORMAT_JPEG, 100, "jpeg q100"},
        {IG_FORMAT_WEBP, 90, "webp q90"}, {IG_FORMAT_WEBP, 100, "webp lossless"}};
    ig_bytebuf buf = {0};
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++) {
        ig_bytebuf_free(&buf);
        t = ig__now_s();
        ig_status st = ig_image_encode(m, encs[i].f, encs[i].q, ig_bytebuf_sink, &buf, &err);
        printf("  encode 1024x1024 RGB %-13s %7.1f ms %8zu bytes%s\n", encs[i].name, (ig__now_s() - t) * 1e3, buf.len,
               st == IG_OK ? "" : " FAILED");
    }
    ig_bytebuf_free(&buf);
    ig_image_free(s), ig_image_free(d), ig_image_free(n), ig_image_free(m), ig_image_free(m4);
}

int main(void) {
    test_seed();
    test_png();
    test_jpeg();
    test_webp();
    test_encode_errors();
    test_resize_vs_ref();
    test_resize_properties();
    test_convert();
    test_key_disc();
    test_key_strand();
    test_key_enclosed();
    bench();
    return test_finish("test_image");
}
