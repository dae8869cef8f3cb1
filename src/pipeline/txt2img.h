/* txt2img.h — text to image as diffusers' StableDiffusionPipeline computes it: tokenize, encode
 * (negative and positive, for classifier-free guidance in one UNet batch), sample, decode. */
#ifndef IG_PIPELINE_TXT2IMG_H
#define IG_PIPELINE_TXT2IMG_H

#include "models/sd.h"

/* Called after each sampling step; return non-zero to cancel (the generation stops with
 * IG_ERR_CANCELLED). pred_x0 is the step's x0 prediction (n, C, h, w) f32, for previews. */
typedef int (*ig_progress_fn)(void *ud, int step, int n_steps, const float *pred_x0);

typedef struct ig_gen_params {
    const char *prompt;
    const char *negative_prompt; /* NULL: "" (what diffusers uses when guidance is on) */
    int width, height;           /* pixels, multiples of 8 */
    int n_images;
    int n_steps;
    float guidance; /* classifier-free guidance scale; <= 1 disables it (diffusers: > 1.0) */
    uint64_t seed;
    ig_sampler sampler;
    ig_spacing spacing; /* IG_SPACING_UNSET: the folder's config / the sampler's default */
    ig_progress_fn progress;
    void *progress_ud;
} ig_gen_params;

#define IG_GEN_PARAMS_INIT                                                                                      \
    {.prompt = "", .width = 512, .height = 512, .n_images = 1, .n_steps = 20, .guidance = 7.5f, .seed = 0,     \
     .sampler = IG_SAMPLER_EULER}

/* Runs the pipeline. latents_out (n, C, h, w) f32 NCHW, the final latents (before the VAE scaling),
 * may be NULL; image_out (n, H, W, 3) f32 in [0, 1] (diffusers output_type="np"), may be NULL (then
 * the VAE does not run). n_tokens (may be NULL) gets the prompt's CLIP token count, BOS/EOS included. */
ig_status ig_txt2img(ig_engine *e, ig_sd_model *m, const ig_gen_params *p, float *latents_out, float *image_out,
                     int *n_tokens, ig_err *err);

#endif
