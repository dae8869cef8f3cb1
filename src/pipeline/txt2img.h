/* txt2img.h — text to image as diffusers' StableDiffusionPipeline computes it: tokenize, encode
 * (negative and positive, for classifier-free guidance in one UNet batch), sample, decode: the stages
 * of run.h in order. */
#ifndef IG_PIPELINE_TXT2IMG_H
#define IG_PIPELINE_TXT2IMG_H

#include "models/sd.h"
#include "pipeline/sched.h"

/* ig_gen_params, ig_progress_fn: imagine.h. */

/* Runs the pipeline. latents_out (n, C, h, w) f32 NCHW, the final latents (before the VAE scaling),
 * may be NULL; image_out (n, H, W, 3) f32 in [0, 1] (diffusers output_type="np"), may be NULL (then
 * the VAE does not run). n_tokens (may be NULL) gets the prompt's CLIP token count, BOS/EOS included. */
ig_status ig_txt2img(ig_engine *e, ig_sd_model *m, const ig_gen_params *p, float *latents_out, float *image_out,
                     int *n_tokens, ig_err *err);

#endif
