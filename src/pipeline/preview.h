/* preview.h — a cheap latent → RGB decode for partial images (issue 4 item 3): a linear map from the
 * latent channels to RGB per latent pixel, fitted to what the model's own VAE decodes.
 *
 * Owns: the fit (least squares of each real decode, pooled to latent resolution, against its latents)
 * and applying it. Leaves to others: when previews are made and how they are resized and encoded.
 *
 * Why fitted, not a table of constants: the map depends on the VAE, and a server runs VAEs nobody
 * published constants for (the built-in model's). Every full generation adds its (latent, pooled
 * pixel) pairs to the normal equations, so the map sharpens as the server works; a warm-up run at
 * start gives the first fit. Until any fit exists, previews are a grey-level of channel 0.
 *
 *     ig_preview pv; ig_preview_init(&pv, 4, 8);
 *     ig_preview_observe(&pv, latents, image01, n, h, w);   // after each real decode
 *     ig_preview_apply(&pv, x0, rgb01, h, w);                // one image, HWC in [0, 1]
 */
#ifndef IG_PIPELINE_PREVIEW_H
#define IG_PIPELINE_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#define IG_PREVIEW_MAX_CH 16

typedef struct ig_preview {
    int channels; /* latent channels (4 for SD) */
    int factor;   /* pixels per latent along a side (8 for SD) */
    /* normal equations of [latent, 1] -> rgb, accumulated in double */
    double xtx[IG_PREVIEW_MAX_CH + 1][IG_PREVIEW_MAX_CH + 1];
    double xty[IG_PREVIEW_MAX_CH + 1][3];
    double n_obs;
    bool fitted;
    float weight[3][IG_PREVIEW_MAX_CH + 1]; /* rgb = weight · [latent, 1] */
} ig_preview;

void ig_preview_init(ig_preview *pv, int channels, int factor);

/* Adds n decoded images: latents (n, C, h, w) NCHW as the sampler holds them (before the VAE's
 * scaling), image (n, h*factor, w*factor, 3) HWC in [0, 1]. Refits. */
void ig_preview_observe(ig_preview *pv, const float *latents, const float *image, int n, int h, int w);

/* One image: x0 (C, h, w) → rgb (h, w, 3) in [0, 1]. */
void ig_preview_apply(const ig_preview *pv, const float *x0, float *rgb, int h, int w);

#endif
