/* resize.c — separable resampling to an exact size: the model's native resolution to the size the
 * request asked for (64x64 → 1536x1024, 512x512 → 333x777), up or down, any aspect, each axis on
 * its own. Owns the filters and the premultiplied-alpha handling; leaves the choice of sizes to the
 * pipeline.
 *
 * Geometry (Pillow's, so results line up with PIL's resize): output pixel i of an axis has its
 * centre at input coordinate (i + 0.5) * in/out; input pixel j sits at j + 0.5. When shrinking,
 * the kernel is stretched by in/out (it must low-pass at the output's Nyquist rate, or fine detail
 * aliases into moiré); when enlarging it keeps its natural width. Weights are normalised to sum 1,
 * so flat areas stay exactly flat.
 *
 * Edges: taps that fall outside the image read the nearest edge pixel (clamp-to-edge, as libvips'
 * "copy" extend and stb_image_resize's default). The folding is done once in the weight table, so
 * the inner loops never test bounds.
 *
 * Filters: Lanczos-3 is the sharpest common filter with little aliasing, the right choice for
 * shrinking. Enlarging 8-16x (the 64 px built-in model to 1024), its second lobe turns each edge
 * into a visible ring several output pixels wide; Catmull-Rom (Keys a = -0.5, Pillow's BICUBIC)
 * has one small negative lobe and stays nearly as sharp. IG_FILTER_AUTO picks per axis.
 *
 * Values: float, on the sRGB-encoded values (as Pillow and every browser's canvas scaling do, so a
 * 0/255 checkerboard shrinks to 128, not to linear-light 188). RGBA is premultiplied first: a
 * transparent pixel's colour (often the key colour, or garbage) must not bleed into its
 * neighbours. The u8 path never holds a float copy of the output: the vertical pass writes an
 * intermediate of dst_height x src_width, and the horizontal pass rounds straight into dst. */
#include "image/image.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* One axis: output i reads count[i] consecutive inputs from first[i], weights w[i*max_taps ...]. */
typedef struct axis {
    int n_out, max_taps;
    int *first, *count;
    float *w;
} axis;

static double kernel(ig_filter f, double x) {
    x = fabs(x);
    if (f == IG_FILTER_LANCZOS3) {
        if (x >= 3.0) return 0.0;
        if (x < 1e-12) return 1.0;
        double px = M_PI * x;
        return 3.0 * sin(px) * sin(px / 3.0) / (px * px);
    }
    /* Catmull-Rom: Keys' cubic convolution with a = -0.5. */
    if (x < 1.0) return (1.5 * x - 2.5) * x * x + 1.0;
    if (x < 2.0) return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
    return 0.0;
}

static double radius(ig_filter f) { return f == IG_FILTER_LANCZOS3 ? 3.0 : 2.0; }

static void axis_free(axis *a) {
    ig__free(a->first);
    ig__free(a->count);
    ig__free(a->w);
    memset(a, 0, sizeof *a);
}

static ig_status axis_build(axis *a, int n_in, int n_out, ig_filter f, ig_err *err) {
    ig_status st = IG_OK;
    double *acc = NULL;
    if (f == IG_FILTER_AUTO) f = n_out < n_in ? IG_FILTER_LANCZOS3 : IG_FILTER_CATMULL_ROM;
    const double scale = (double)n_in / n_out, fscale = scale > 1.0 ? scale : 1.0;
    const double support = radius(f) * fscale;
    /* Taps j with |j + 0.5 - centre| < support: at most ceil(2 support) + 1 of them, fewer once
     * folded into [0, n_in). */
    int max_taps = (int)ceil(2.0 * support) + 2;
    if (max_taps > n_in) max_taps = n_in;
    memset(a, 0, sizeof *a);
    a->n_out = n_out;
    a->max_taps = max_taps;
    a->first = ig__alloc(sizeof(int) * (size_t)n_out);
    a->count = ig__alloc(sizeof(int) * (size_t)n_out);
    a->w = ig__alloc(sizeof(float) * (size_t)n_out * (size_t)max_taps);
    acc = ig__alloc(sizeof(double) * (size_t)max_taps);
    if (!a->first || !a->count || !a->w || !acc) {
        st = ig__fail(err, IG_ERR_NOMEM, "resize: out of memory for the weights of %d -> %d", n_in, n_out);
        goto fail;
    }
    for (int i = 0; i < n_out; i++) {
        const double centre = (i + 0.5) * scale;
        const int lo = (int)ceil(centre - support - 0.5), hi = (int)floor(centre + support - 0.5);
        const int first = IG_MAX(lo, 0), last = IG_MIN(hi, n_in - 1);
        IG_ASSERT(last - first + 1 <= max_taps && last >= first);
        double sum = 0.0;
        for (int k = 0; k < max_taps; k++) acc[k] = 0.0;
        for (int j = lo; j <= hi; j++) {
            double wj = kernel(f, (j + 0.5 - centre) / fscale);
            int jj = j < 0 ? 0 : j >= n_in ? n_in - 1 : j; /* clamp-to-edge, folded into the edge tap */
            acc[jj - first] += wj;
            sum += wj;
        }
        /* sum > 0 always (a kernel with positive area sampled at spacing <= 1), kept as a guard. */
        if (!(sum > 1e-12)) sum = 1.0;
        a->first[i] = first;
        a->count[i] = last - first + 1;
        for (int k = 0; k < max_taps; k++) a->w[(size_t)i * max_taps + k] = k <= last - first ? (float)(acc[k] / sum) : 0.0f;
    }
fail:
    ig__free(acc);
    if (st != IG_OK) axis_free(a);
    return st;
}

/* tmp[y][x*c + ch] = sum_k wy[y][k] * src[first_y + k][x*c + ch]: whole rows at a time, so the
 * innermost loop is a contiguous axpy the compiler vectorises. */
static void pass_v(const float *src, int sw, int c, const axis *ay, float *tmp) {
    const size_t row = (size_t)sw * c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int y = 0; y < ay->n_out; y++) {
        float *out = tmp + (size_t)y * row;
        const float *wy = ay->w + (size_t)y * ay->max_taps;
        const float *in = src + (size_t)ay->first[y] * row;
        for (size_t i = 0; i < row; i++) out[i] = wy[0] * in[i];
        for (int k = 1; k < ay->count[y]; k++) {
            const float wk = wy[k];
            const float *ink = in + (size_t)k * row;
            for (size_t i = 0; i < row; i++) out[i] += wk * ink[i];
        }
    }
}

/* Clamp and round half up; (int)(v + 0.5f) rather than lrintf, which without -fno-math-errno is
 * a library call per value. */
static inline uint8_t round_u8(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 255.0f) return 255;
    return (uint8_t)(int)(v + 0.5f);
}

/* One row of the horizontal pass: px[ch] = sum_k wx[x][k] * line[(first_x + k)*c + ch], into
 * floats (out_f) or rounded into 8 bits (out_u8, premultiplied RGBA un-premultiplied on the way).
 * Always inlined and called with a constant c, so each channel count gets its own unrolled loop
 * (a runtime c cost 3x). */
static inline __attribute__((always_inline)) void h_row(const float *line, const axis *ax, const int c, float *out_f,
                                                        uint8_t *out_u8) {
    /* Locals, not ax->: a store through uint8_t * may alias anything, which would make the
     * compiler reload every field after each output byte. */
    const int n_out = ax->n_out, max_taps = ax->max_taps;
    const int *first = ax->first, *count = ax->count;
    const float *w = ax->w;
    for (int x = 0; x < n_out; x++) {
        const float *wx = w + (size_t)x * max_taps;
        const float *in = line + (size_t)first[x] * c;
        const int n = count[x];
        float px[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int k = 0; k < n; k++)
            for (int ch = 0; ch < c; ch++) px[ch] += wx[k] * in[k * c + ch];
        if (out_f) {
            for (int ch = 0; ch < c; ch++) out_f[(size_t)x * c + ch] = px[ch];
        } else if (c == 4) {
            /* The filter may ring the alpha slightly below 0 or above 255; the colour is the ratio
             * P / A either way, so divide by A before clamping it. */
            const float a = px[3], k = a > 0.0f ? 255.0f / a : 0.0f;
            for (int ch = 0; ch < 3; ch++) out_u8[(size_t)x * 4 + ch] = round_u8(px[ch] * k);
            out_u8[(size_t)x * 4 + 3] = round_u8(a);
        } else {
            for (int ch = 0; ch < c; ch++) out_u8[(size_t)x * c + ch] = round_u8(px[ch]);
        }
    }
}

/* The horizontal pass over dh rows of tmp (each sw x c) into dst_f (dense) or dst_u8 (stride). */
static void pass_h(const float *tmp, int sw, int c, const axis *ax, int dh, float *dst_f, uint8_t *dst_u8,
                   size_t stride_u8) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int y = 0; y < dh; y++) {
        const float *line = tmp + (size_t)y * sw * c;
        float *of = dst_f ? dst_f + (size_t)y * ax->n_out * c : NULL;
        uint8_t *ou = dst_f ? NULL : dst_u8 + (size_t)y * stride_u8;
        switch (c) {
        case 1: h_row(line, ax, 1, of, ou); break;
        case 2: h_row(line, ax, 2, of, ou); break;
        case 3: h_row(line, ax, 3, of, ou); break;
        default: h_row(line, ax, 4, of, ou); break;
        }
    }
}

static ig_status check_sizes(int sw, int sh, int c, int dw, int dh, ig_err *err) {
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sw > IG_IMAGE_MAX_DIM || sh > IG_IMAGE_MAX_DIM ||
        dw > IG_IMAGE_MAX_DIM || dh > IG_IMAGE_MAX_DIM)
        return ig__fail(err, IG_ERR_INVALID, "resize: %dx%d -> %dx%d outside 1..%d", sw, sh, dw, dh,
                        IG_IMAGE_MAX_DIM);
    if (c < 1 || c > 4) return ig__fail(err, IG_ERR_INVALID, "resize: %d channels; 1..4 supported", c);
    return IG_OK;
}

ig_status ig_image_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh, ig_filter filter,
                              ig_err *err) {
    axis ax = {0}, ay = {0};
    float *tmp = NULL;
    ig_status st = check_sizes(sw, sh, c, dw, dh, err);
    if (st != IG_OK) goto fail;
    if (!src || !dst) {
        st = ig__fail(err, IG_ERR_INVALID, "resize: no source or destination");
        goto fail;
    }
    if ((st = axis_build(&ax, sw, dw, filter, err)) != IG_OK) goto fail;
    if ((st = axis_build(&ay, sh, dh, filter, err)) != IG_OK) goto fail;
    tmp = ig__alloc(sizeof(float) * (size_t)dh * (size_t)sw * (size_t)c);
    if (!tmp) {
        st = ig__fail(err, IG_ERR_NOMEM, "resize: out of memory for a %dx%d intermediate", sw, dh);
        goto fail;
    }
    pass_v(src, sw, c, &ay, tmp);
    pass_h(tmp, sw, c, &ax, dh, dst, NULL, 0);
fail:
    ig__free(tmp);
    axis_free(&ay);
    axis_free(&ax);
    return st;
}

ig_status ig_image_resize(const ig_image *src, ig_image *dst, ig_filter filter, ig_err *err) {
    axis ax = {0}, ay = {0};
    float *fsrc = NULL, *tmp = NULL;
    ig_status st = ig_image_check(src, err);
    if (st == IG_OK) st = ig_image_check(dst, err);
    if (st != IG_OK) goto fail;
    if (src->channels != dst->channels) {
        st = ig__fail(err, IG_ERR_INVALID, "resize: source has %d channels, destination %d", src->channels,
                      dst->channels);
        goto fail;
    }
    const int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height, c = src->channels;
    if (ig__image_overlap(src, dst)) {
        st = ig__fail(err, IG_ERR_INVALID, "resize: source and destination overlap");
        goto fail;
    }
    if ((st = axis_build(&ax, sw, dw, filter, err)) != IG_OK) goto fail;
    if ((st = axis_build(&ay, sh, dh, filter, err)) != IG_OK) goto fail;
    fsrc = ig__alloc(sizeof(float) * (size_t)sh * (size_t)sw * (size_t)c);
    tmp = ig__alloc(sizeof(float) * (size_t)dh * (size_t)sw * (size_t)c);
    if (!fsrc || !tmp) {
        st = ig__fail(err, IG_ERR_NOMEM, "resize: out of memory for %dx%d -> %dx%d", sw, sh, dw, dh);
        goto fail;
    }
    for (int y = 0; y < sh; y++) {
        const uint8_t *in = src->pixels + (size_t)y * src->stride;
        float *out = fsrc + (size_t)y * sw * c;
        if (c == 4) {
            /* Premultiply: a/255 is exactly 1 for opaque pixels, so they pass through unchanged. */
            for (int x = 0; x < sw; x++) {
                const float a = in[4 * x + 3], k = a / 255.0f;
                for (int ch = 0; ch < 3; ch++) out[4 * x + ch] = in[4 * x + ch] * k;
                out[4 * x + 3] = a;
            }
        } else {
            for (int i = 0; i < sw * c; i++) out[i] = in[i];
        }
    }
    pass_v(fsrc, sw, c, &ay, tmp);
    pass_h(tmp, sw, c, &ax, dh, NULL, dst->pixels, dst->stride);
fail:
    ig__free(tmp);
    ig__free(fsrc);
    axis_free(&ay);
    axis_free(&ax);
    return st;
}
