/* alpha.c — background keying for `background: transparent`: the pipeline prompts the model for a
 * subject on a plain background, and this file turns that background into alpha, with soft,
 * fringe-free edges. Owns the matte; leaves the prompt (and the choice of key colour) to the
 * pipeline, and resizing to resize.c (key at the native resolution, then resize the RGBA result
 * with premultiplied alpha: edges are 1-3 px wide here, 16 px after a 16x enlargement).
 *
 * Method (colours are RGB 0..255, distances Euclidean in RGB):
 *  1. Background model. A diffusion model's "plain" background is rarely flat: it has vignetting
 *     and gentle gradients. The key is modelled per channel as a quadratic surface in x, y, fitted
 *     by least squares: first the per-channel median of a border frame (min(w,h)/32 px wide, robust
 *     while the subject touches less than half of it), then a fit to the border pixels near that,
 *     then a refit to every pixel the second model calls background. A quadratic seen only on the
 *     frame still pins down a radial vignette's centre; the last fit uses the interior as well.
 *  2. Tolerance t0 = 6 + 2.5 x (median border distance to the model), clamped to 8..64: the noise
 *     of the background (the median distance of 3-channel Gaussian noise of sigma s is about
 *     1.5 s, so 2.5 x covers beyond 3.5 s) plus a margin for 8-bit rounding.
 *  3. Background = pixels within t0 of the model; in connected mode only those reachable from
 *     the border through such pixels (4-connected, so a 1 px diagonal outline seals). Connected is
 *     the default for white, grey and black keys, which subjects often contain (eyes, teeth, text);
 *     chromatic keys (green, magenta) key every matching pixel, so holes (between arm and body)
 *     clear too.
 *  4. Every other pixel within band_px of the background is an edge pixel, modelled as the usual
 *     compositing C = a F + (1 - a) B with B known (the model at that pixel) and F unknown. F is
 *     sampled from the solid subject pixels nearby (within band_px + 2): for each candidate, a is
 *     the projection of C - B on F - B, and the candidate whose segment B..F passes closest to C
 *     wins (plus 1 colour unit per pixel of distance, so the nearest of equally good ones). This is
 *     the sampling idea of Wang & Cohen's robust matting, reduced to one best sample. Then:
 *       - a pixel the best segment does not explain (e.g. a dark outline next to a light fill)
 *         is subject, not mixture: a is pushed to 1 as the residual grows from t0 to
 *         t0 + softness;
 *       - a is faded to 0 over d in [t0, 2 t0], so background noise just above t0 stays clear,
 *         and to 1 as the pixel comes within t0..2 t0 of F, so the subject's noise stays opaque;
 *       - with no solid pixel nearby (strands thinner than the band), the other edge pixels are
 *         the candidates; with none at all, a = smoothstep((d - t0) / softness).
 *     The colour is then un-premultiplied: F = B + (C - B) / a, which removes exactly the key
 *     colour's share of the pixel. That is the de-spill: no key-coloured fringe survives, whatever
 *     the key colour. Solid pixels keep their colour; spill inside the subject is left alone.
 *  5. Output: background (0, 0, 0, 0), solid pixels (C, 255), edge pixels (F, a). */
#include "image/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

enum { BG = 0, SOLID = 1, EDGE = 2 };

/* B_c(u, v) = sum_k coef[c][k] basis_k(u, v); basis 1, u, v, u^2, uv, v^2 over u, v in [-1, 1]. */
typedef struct bgmodel {
    double coef[3][6];
} bgmodel;

static void basis(int w, int h, int x, int y, double b[6]) {
    const double u = (x + 0.5) / w * 2.0 - 1.0, v = (y + 0.5) / h * 2.0 - 1.0;
    b[0] = 1.0, b[1] = u, b[2] = v, b[3] = u * u, b[4] = u * v, b[5] = v * v;
}

static void bg_at(const bgmodel *m, int w, int h, int x, int y, float out[3]) {
    double b[6];
    basis(w, h, x, y, b);
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (int k = 0; k < 6; k++) s += m->coef[c][k] * b[k];
        out[c] = (float)(s < 0 ? 0 : s > 255 ? 255 : s);
    }
}

static float dist3(const float a[3], const uint8_t *p) {
    const float d0 = p[0] - a[0], d1 = p[1] - a[1], d2 = p[2] - a[2];
    return sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
}

static float smoothstep01(float t) { return t <= 0.0f ? 0.0f : t >= 1.0f ? 1.0f : t * t * (3.0f - 2.0f * t); }

static int is_border(int w, int h, int bw, int x, int y) {
    return x < bw || y < bw || x >= w - bw || y >= h - bw;
}

/* Solves the 6x6 system a x = b for three right-hand sides by Gaussian elimination with partial
 * pivoting; returns 0 when it is (numerically) singular, i.e. too few or collinear inliers. */
static int solve6(double a[6][6], double b[6][3], double x[3][6]) {
    double scale = 0;
    for (int i = 0; i < 6; i++) scale = fmax(scale, fabs(a[i][i]));
    if (!(scale > 0)) return 0;
    for (int col = 0; col < 6; col++) {
        int piv = col;
        for (int r = col + 1; r < 6; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col])) piv = r;
        if (fabs(a[piv][col]) < 1e-9 * scale) return 0;
        for (int k = 0; k < 6; k++) {
            double t = a[col][k];
            a[col][k] = a[piv][k], a[piv][k] = t;
        }
        for (int c = 0; c < 3; c++) {
            double t = b[col][c];
            b[col][c] = b[piv][c], b[piv][c] = t;
        }
        for (int r = col + 1; r < 6; r++) {
            const double f = a[r][col] / a[col][col];
            for (int k = col; k < 6; k++) a[r][k] -= f * a[col][k];
            for (int c = 0; c < 3; c++) b[r][c] -= f * b[col][c];
        }
    }
    for (int c = 0; c < 3; c++)
        for (int r = 5; r >= 0; r--) {
            double s = b[r][c];
            for (int k = r + 1; k < 6; k++) s -= a[r][k] * x[c][k];
            x[c][r] = s / a[r][r];
        }
    return 1;
}

/* Refits m to the pixels (border only, or all) within thr of the current m. Keeps m when the
 * inliers cannot determine a quadratic; falls back to their mean when there are a few. */
static void bg_fit(const ig_image *img, int bw, int border_only, float thr, bgmodel *m) {
    const int w = img->width, h = img->height;
    double ata[6][6] = {{0}}, atb[6][3] = {{0}}, sum[3] = {0}, b[6];
    size_t n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (border_only && !is_border(w, h, bw, x, y)) continue;
            const uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * 3;
            float bg[3];
            bg_at(m, w, h, x, y, bg);
            if (dist3(bg, p) > thr) continue;
            basis(w, h, x, y, b);
            for (int i = 0; i < 6; i++) {
                for (int k = 0; k < 6; k++) ata[i][k] += b[i] * b[k];
                for (int c = 0; c < 3; c++) atb[i][c] += b[i] * p[c];
            }
            for (int c = 0; c < 3; c++) sum[c] += p[c];
            n++;
        }
    if (n == 0) return;
    bgmodel fit;
    if (n >= 24 && solve6(ata, atb, fit.coef)) {
        *m = fit;
    } else {
        memset(m, 0, sizeof *m);
        for (int c = 0; c < 3; c++) m->coef[c][0] = sum[c] / (double)n;
    }
}

/* Median distance of the border pixels to the model, from a histogram in 1/4 steps. */
static float border_median(const ig_image *img, int bw, const bgmodel *m, size_t *n_border) {
    enum { BINS = 4 * 442 };
    size_t hist[BINS] = {0}, n = 0;
    const int w = img->width, h = img->height;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (!is_border(w, h, bw, x, y)) continue;
            float bg[3];
            bg_at(m, w, h, x, y, bg);
            int bin = (int)(dist3(bg, img->pixels + (size_t)y * img->stride + (size_t)x * 3) * 4.0f);
            hist[IG_MIN(bin, BINS - 1)]++;
            n++;
        }
    *n_border = n;
    size_t acc = 0;
    for (int i = 0; i < BINS; i++)
        if ((acc += hist[i]) * 2 >= n) return (i + 0.5f) / 4.0f;
    return 0.0f;
}

/* Marks near[i] = 1 where a BG pixel lies within Chebyshev distance r: a square dilation done as
 * two running-window passes (rows, then columns), O(pixels) whatever r. */
static void dilate_bg(const uint8_t *label, int w, int h, int r, uint8_t *near, uint8_t *tmp) {
    for (int y = 0; y < h; y++) {
        const uint8_t *l = label + (size_t)y * w;
        uint8_t *t = tmp + (size_t)y * w;
        int cnt = 0;
        for (int x = 0; x < IG_MIN(r, w); x++) cnt += l[x] == BG;
        for (int x = 0; x < w; x++) {
            if (x + r < w) cnt += l[x + r] == BG;
            if (x - r - 1 >= 0) cnt -= l[x - r - 1] == BG;
            t[x] = cnt > 0;
        }
    }
    for (int x = 0; x < w; x++) {
        int cnt = 0;
        for (int y = 0; y < IG_MIN(r, h); y++) cnt += tmp[(size_t)y * w + x];
        for (int y = 0; y < h; y++) {
            if (y + r < h) cnt += tmp[(size_t)(y + r) * w + x];
            if (y - r - 1 >= 0) cnt -= tmp[(size_t)(y - r - 1) * w + x];
            near[(size_t)y * w + x] = cnt > 0;
        }
    }
}

typedef struct matte_ctx {
    const ig_image *src;
    const uint8_t *label;
    float t0, softness;
    int search;
} matte_ctx;

/* Step 4 for one edge pixel (x, y) of colour C, key B, distance d = |C - B|: writes (F, a) to o. */
static void edge_pixel(const matte_ctx *mc, int x, int y, const float B[3], float d, uint8_t o[4]) {
    const ig_image *src = mc->src;
    const int w = src->width, h = src->height, search = mc->search;
    const float t0 = mc->t0;
    const uint8_t *c = src->pixels + (size_t)y * src->stride + (size_t)x * 3;
    const float cb[3] = {c[0] - B[0], c[1] - B[1], c[2] - B[2]};
    /* Pass 0 samples the solid subject; pass 1, only when there is none nearby (strands thinner
     * than the band), the other edge pixels, whose strongest one then stands in for F. */
    float best_cost = INFINITY, best_a = 0.0f, best_res = 0.0f, best_len = 0.0f;
    for (int pass = 0; pass < 2 && best_cost == INFINITY; pass++)
        for (int yy = IG_MAX(0, y - search); yy <= IG_MIN(h - 1, y + search); yy++)
            for (int xx = IG_MAX(0, x - search); xx <= IG_MIN(w - 1, x + search); xx++) {
                if (mc->label[(size_t)yy * w + xx] != (pass ? EDGE : SOLID) || (xx == x && yy == y)) continue;
                const uint8_t *f = src->pixels + (size_t)yy * src->stride + (size_t)xx * 3;
                const float v[3] = {f[0] - B[0], f[1] - B[1], f[2] - B[2]};
                const float vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
                if (vv <= t0 * t0) continue; /* a key-coloured sample explains nothing */
                float a = (cb[0] * v[0] + cb[1] * v[1] + cb[2] * v[2]) / vv;
                a = a < 0.0f ? 0.0f : a > 1.0f ? 1.0f : a;
                const float r0 = cb[0] - a * v[0], r1 = cb[1] - a * v[1], r2 = cb[2] - a * v[2];
                const float res = sqrtf(r0 * r0 + r1 * r1 + r2 * r2);
                const float cost = res + sqrtf((float)((xx - x) * (xx - x) + (yy - y) * (yy - y)));
                if (cost < best_cost) best_cost = cost, best_a = a, best_res = res, best_len = sqrtf(vv);
            }
    float a;
    if (best_cost < INFINITY) {
        const float explained = 1.0f - smoothstep01((best_res - t0) / mc->softness);
        /* Within noise of the subject colour is subject: fade 1 - a to 0 as the pixel's distance
         * from F along the segment drops from 2 t0 to t0 (the mirror of the fade below). */
        const float to_f = (1.0f - best_a) * best_len;
        a = 1.0f - (1.0f - best_a) * smoothstep01((to_f - t0) / t0);
        a = explained * a + (1.0f - explained);
    } else {
        a = smoothstep01((d - t0) / mc->softness);
    }
    a *= smoothstep01((d - t0) / t0);
    const uint8_t a8 = (uint8_t)lrintf(a * 255.0f);
    if (a8 == 0) {
        o[0] = o[1] = o[2] = o[3] = 0;
        return;
    }
    /* Un-premultiply against the key: F = B + (C - B) / a. */
    for (int k = 0; k < 3; k++) {
        const float f = B[k] + cb[k] / a;
        o[k] = (uint8_t)lrintf(f < 0.0f ? 0.0f : f > 255.0f ? 255.0f : f);
    }
    o[3] = a8;
}

ig_status ig_image_key_background(const ig_image *src, ig_image *dst, const ig_key_params *params,
                                  ig_key_info *info, ig_err *err) {
    float *dist = NULL;
    uint8_t *label = NULL, *near = NULL, *tmp = NULL;
    uint32_t *queue = NULL;
    ig_status st = ig_image_check(src, err);
    if (st == IG_OK) st = ig_image_check(dst, err);
    if (st != IG_OK) goto fail;
    if (src->channels != 3 || dst->channels != 4 || src->width != dst->width || src->height != dst->height) {
        st = ig__fail(err, IG_ERR_INVALID, "key: needs RGB in and RGBA of the same size out (got %dx%dx%d -> %dx%dx%d)",
                      src->width, src->height, src->channels, dst->width, dst->height, dst->channels);
        goto fail;
    }
    if (ig__image_overlap(src, dst)) {
        st = ig__fail(err, IG_ERR_INVALID, "key: source and destination overlap");
        goto fail;
    }
    const ig_key_params defaults = IG_KEY_PARAMS_INIT;
    const ig_key_params *p = params ? params : &defaults;
    if (!(p->tolerance >= 0 && p->softness >= 0) || p->band_px < 0 || p->band_px > 64) {
        st = ig__fail(err, IG_ERR_INVALID, "key: tolerance %g, softness %g or band %d px out of range",
                      (double)p->tolerance, (double)p->softness, p->band_px);
        goto fail;
    }
    const int w = src->width, h = src->height, bw = IG_MAX(1, IG_MIN(w, h) / 32);
    const size_t n = (size_t)w * (size_t)h;
    const float softness = p->softness > 0 ? p->softness : 48.0f;
    const int band = p->band_px > 0 ? p->band_px : 3, search = band + 2;
    dist = ig__alloc(n * sizeof *dist);
    label = ig__alloc(n);
    near = ig__alloc(n);
    tmp = ig__alloc(n);
    queue = ig__alloc(n * sizeof *queue);
    if (!dist || !label || !near || !tmp || !queue) {
        st = ig__fail(err, IG_ERR_NOMEM, "key: out of memory for a %dx%d matte", w, h);
        goto fail;
    }

    /* 1-2: background model and tolerance. */
    bgmodel m;
    memset(&m, 0, sizeof m);
    {
        size_t hist[3][256] = {{0}}, nb = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (!is_border(w, h, bw, x, y)) continue;
                const uint8_t *px = src->pixels + (size_t)y * src->stride + (size_t)x * 3;
                for (int c = 0; c < 3; c++) hist[c][px[c]]++;
                nb++;
            }
        for (int c = 0; c < 3; c++) {
            size_t acc = 0;
            int v = 0;
            while (v < 255 && (acc += hist[c][v]) * 2 < nb) v++;
            m.coef[c][0] = v;
        }
    }
    size_t n_border = 0;
    float med = border_median(src, bw, &m, &n_border);
    bg_fit(src, bw, 1, fmaxf(32.0f, 2.5f * med + 6.0f), &m);
    med = border_median(src, bw, &m, &n_border);
    float t0 = p->tolerance > 0 ? p->tolerance : fminf(fmaxf(6.0f + 2.5f * med, 8.0f), 64.0f);
    bg_fit(src, bw, 0, t0, &m);
    med = border_median(src, bw, &m, &n_border);
    if (!(p->tolerance > 0)) t0 = fminf(fmaxf(6.0f + 2.5f * med, 8.0f), 64.0f);

    float centre[3];
    bg_at(&m, w, h, w / 2, h / 2, centre);
    int connected = p->connected;
    if (connected < 0) {
        const float mx = fmaxf(centre[0], fmaxf(centre[1], centre[2]));
        const float mn = fminf(centre[0], fminf(centre[1], centre[2]));
        connected = mx - mn < 48.0f; /* achromatic key: white, grey, black */
    }

    /* 3: background mask. */
    size_t border_match = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float bg[3];
            bg_at(&m, w, h, x, y, bg);
            const size_t i = (size_t)y * w + x;
            dist[i] = dist3(bg, src->pixels + (size_t)y * src->stride + (size_t)x * 3);
            label[i] = dist[i] <= t0 ? BG : SOLID;
            if (is_border(w, h, bw, x, y) && dist[i] <= t0) border_match++;
        }
    if (connected) {
        /* Flood fill from the frame's outermost pixels through within-tolerance pixels. */
        size_t head = 0, tail = 0;
        for (size_t i = 0; i < n; i++) tmp[i] = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const size_t i = (size_t)y * w + x;
                if ((x == 0 || y == 0 || x == w - 1 || y == h - 1) && label[i] == BG) tmp[i] = 1, queue[tail++] = (uint32_t)i;
            }
        while (head < tail) {
            const size_t i = queue[head++];
            const int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
            const size_t nb[4] = {x > 0 ? i - 1 : i, x < w - 1 ? i + 1 : i, y > 0 ? i - (size_t)w : i,
                                  y < h - 1 ? i + (size_t)w : i};
            for (int k = 0; k < 4; k++)
                if (!tmp[nb[k]] && label[nb[k]] == BG) tmp[nb[k]] = 1, queue[tail++] = (uint32_t)nb[k];
        }
        for (size_t i = 0; i < n; i++)
            if (label[i] == BG && !tmp[i]) label[i] = SOLID; /* enclosed key colour: part of the subject */
    }

    /* 4: edge band. near (from the BG labels) is computed before any pixel becomes EDGE. */
    dilate_bg(label, w, h, band, near, tmp);
    for (size_t i = 0; i < n; i++)
        if (label[i] == SOLID && near[i] && dist[i] > t0) label[i] = EDGE;

    /* 5: output. */
    const matte_ctx mc = {.src = src, .label = label, .t0 = t0, .softness = softness, .search = search};
    size_t n_clear = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src->pixels + (size_t)y * src->stride;
        uint8_t *out = dst->pixels + (size_t)y * dst->stride;
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            const uint8_t *c = row + (size_t)x * 3;
            uint8_t *o = out + (size_t)x * 4;
            if (label[i] == BG) {
                o[0] = o[1] = o[2] = o[3] = 0;
                n_clear++;
                continue;
            }
            if (label[i] == SOLID) {
                o[0] = c[0], o[1] = c[1], o[2] = c[2], o[3] = 255;
                continue;
            }
            float B[3];
            bg_at(&m, w, h, x, y, B);
            edge_pixel(&mc, x, y, B, dist[i], o);
            n_clear += o[3] == 0;
        }
    }

    if (info) {
        for (int c = 0; c < 3; c++) info->bg[c] = (uint8_t)lrintf(centre[c]);
        info->tolerance = t0;
        info->border_match = n_border ? (float)border_match / (float)n_border : 0.0f;
        info->transparent = (float)n_clear / (float)n;
    }
    st = IG_OK;
fail:
    ig__free(queue);
    ig__free(tmp);
    ig__free(near);
    ig__free(label);
    ig__free(dist);
    return st;
}
