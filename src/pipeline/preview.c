/* preview.c — see preview.h. The fit is ridge-regularised least squares, solved by Gaussian
 * elimination with partial pivoting on the (C+1)x(C+1) normal equations. */
#include "preview.h"

#include <math.h>
#include <string.h>

void ig_preview_init(ig_preview *pv, int channels, int factor) {
    memset(pv, 0, sizeof *pv);
    pv->channels = channels < 1 ? 1 : channels > IG_PREVIEW_MAX_CH ? IG_PREVIEW_MAX_CH : channels;
    pv->factor = factor < 1 ? 1 : factor;
}

/* Solves A x = B for 3 right-hand sides; A (k x k) and B are destroyed. Returns 0 when singular. */
static int solve(int k, double a[IG_PREVIEW_MAX_CH + 1][IG_PREVIEW_MAX_CH + 1], double b[IG_PREVIEW_MAX_CH + 1][3]) {
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        if (fabs(a[p][c]) < 1e-12) return 0;
        if (p != c) {
            for (int j = 0; j < k; j++) { double t = a[c][j]; a[c][j] = a[p][j]; a[p][j] = t; }
            for (int j = 0; j < 3; j++) { double t = b[c][j]; b[c][j] = b[p][j]; b[p][j] = t; }
        }
        for (int r = 0; r < k; r++) {
            if (r == c) continue;
            const double f = a[r][c] / a[c][c];
            if (f == 0) continue;
            for (int j = c; j < k; j++) a[r][j] -= f * a[c][j];
            for (int j = 0; j < 3; j++) b[r][j] -= f * b[c][j];
        }
    }
    for (int c = 0; c < k; c++)
        for (int j = 0; j < 3; j++) b[c][j] /= a[c][c];
    return 1;
}

static void refit(ig_preview *pv) {
    const int k = pv->channels + 1;
    double a[IG_PREVIEW_MAX_CH + 1][IG_PREVIEW_MAX_CH + 1], b[IG_PREVIEW_MAX_CH + 1][3];
    memcpy(a, pv->xtx, sizeof a);
    memcpy(b, pv->xty, sizeof b);
    /* a small ridge on the latent weights (not the bias) keeps a fit from few, similar pixels tame */
    const double ridge = 1e-3 * (pv->n_obs > 0 ? pv->n_obs : 1);
    for (int i = 0; i < k - 1; i++) a[i][i] += ridge;
    if (!solve(k, a, b)) return;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < k; i++) pv->weight[c][i] = (float)b[i][c];
    pv->fitted = true;
}

void ig_preview_observe(ig_preview *pv, const float *latents, const float *image, int n, int h, int w) {
    const int C = pv->channels, f = pv->factor, W = w * f;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v[IG_PREVIEW_MAX_CH + 1], rgb[3] = {0, 0, 0};
                for (int c = 0; c < C; c++) v[c] = latents[(((size_t)b * C + c) * h + y) * w + x];
                v[C] = 1;
                /* the pixels this latent covers, averaged */
                for (int dy = 0; dy < f; dy++)
                    for (int dx = 0; dx < f; dx++) {
                        const float *p = image + (((size_t)b * h * f + y * f + dy) * W + x * f + dx) * 3;
                        rgb[0] += p[0], rgb[1] += p[1], rgb[2] += p[2];
                    }
                for (int j = 0; j < 3; j++) rgb[j] /= (double)f * f;
                for (int i = 0; i <= C; i++) {
                    for (int j = 0; j <= C; j++) pv->xtx[i][j] += v[i] * v[j];
                    for (int j = 0; j < 3; j++) pv->xty[i][j] += v[i] * rgb[j];
                }
                pv->n_obs += 1;
            }
    refit(pv);
}

void ig_preview_apply(const ig_preview *pv, const float *x0, float *rgb, int h, int w) {
    const int C = pv->channels;
    const size_t plane = (size_t)h * w;
    for (size_t p = 0; p < plane; p++) {
        float out[3];
        if (pv->fitted) {
            for (int c = 0; c < 3; c++) {
                float s = pv->weight[c][C];
                for (int i = 0; i < C; i++) s += pv->weight[c][i] * x0[i * plane + p];
                out[c] = s;
            }
        } else { /* no fit yet: channel 0 as grey, roughly scaled to [0, 1] */
            out[0] = out[1] = out[2] = 0.5f + 0.1f * x0[p];
        }
        for (int c = 0; c < 3; c++) rgb[p * 3 + c] = out[c] < 0 ? 0 : out[c] > 1 ? 1 : out[c];
    }
}
