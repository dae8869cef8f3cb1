/* run.h — one generation on a Stable Diffusion 1.x / 2.x model, as diffusers 0.30's
 * StableDiffusionPipeline.__call__ computes it (SDXL: StableDiffusionXLPipeline's, below), split
 * into the stages that text-to-image, image-to-image and inpainting share:
 *
 *   ig_run_begin           check the request, build the schedule, size the activation arena by a
 *                          dry run of every network that will run (no allocation after this)
 *   ig_run_encode_text     encode_prompt: CLIP ids of the prompt (and of the negative prompt when
 *                          guidance > 1), the text encoder's states, repeated per image into the
 *                          UNet's context: [negative x n, positive x n] with CFG, else [positive x n]
 *   ig_run_prepare_latents prepare_latents: randn((n, C, h, w), generator) * init_noise_sigma, one
 *                          draw for the batch
 *   ig_run_prepare_image   instead, for image to image (StableDiffusionImg2ImgPipeline) and
 *                          inpainting with a regular checkpoint (StableDiffusionInpaintPipeline,
 *                          4-channel UNet): the picture's latents (vae.encode(image).latent_dist
 *                          .sample(generator) * scaling_factor), noise = randn(generator), latents =
 *                          scheduler.add_noise(image latents, noise, timesteps[t_start]) where
 *                          t_start = n_steps - int(n_steps * strength); denoising starts there.
 *                          Inpainting: after every step, latents = (1 - m) * add_noise(image latents,
 *                          noise, next timestep) + m * latents (no noise after the last step), m the
 *                          mask at latent resolution (nearest, 1 = repaint); at strength 1 the
 *                          latents start as noise * init_noise_sigma (is_strength_max).
 *   ig_run_step            one denoising step: x = cat([latents] * 2) with CFG; scale_model_input;
 *                          eps = unet(x, t, context); eps = uncond + g (text - uncond); latents =
 *                          scheduler.step(eps, t, latents); then the progress callback (cancel)
 *   ig_run_denoise         every step left
 *   ig_run_decode          vae.decode(latents / scaling_factor) / 2 + 0.5, clamped to [0, 1]; above
 *                          IG_RUN_TILE_ABOVE latents (more than 1024x1024 pixels) the decode goes in
 *                          overlapping tiles of 64 latents (512 px), 16 apart at least, blended
 *                          linearly (models/vae.h ig_vae_decode_tiled), and the arena holds one
 *                          tile's activations; IMAGINE_VAE_TILE=T[,O] forces tiles of T latents
 *                          overlapping by O (default T/4) wherever the latents exceed T, =0 never tiles
 *                          (or, with p.decoder IG_DECODER_FAST, the model's TAESD: ig_run_decode)
 *   ig_run_end             frees everything (after any stage, or a failed begin)
 * A run may be drawn again from ig_run_encode_text or ig_run_prepare_latents on (the bench repeats
 * its stages on one arena).
 *
 * SDXL (StableDiffusionXLPipeline.encode_prompt and __call__): the context is both text encoders'
 * penultimate hidden states (hidden_states[-2], before final_layer_norm) side by side, tokenizer_2
 * padding with its own pad id; the UNet also gets text_embeds = text_encoder_2's projection of its
 * final-normed state at the EOT position, and add_time_ids = [H, W, 0, 0, H, W] (original size =
 * target size = the asked size, no crop) for every row. With guidance and no negative prompt
 * (p.negative_prompt NULL) on a model with force_zeros_for_empty_prompt, the negative context and
 * text_embeds are zeros; a negative prompt given, even "", is encoded.
 *
 * Owns: the order of the stages, the buffers between them (host latents, the arena), guidance.
 * Leaves to others: the networks (models/), the samplers (sched.c), the noise (rng_torch.c), what
 * the caller does with the pixels (lib/, server/).
 */
#ifndef IG_PIPELINE_RUN_H
#define IG_PIPELINE_RUN_H

#include "engine/arena.h"
#include "models/blocks.h"
#include "models/sd.h"
#include "pipeline/rng_torch.h"
#include "pipeline/sched.h"

#define IG_RUN_TILE_ABOVE (128 * 128) /* latents (h w) above which the VAE decodes in tiles */
#define IG_RUN_TILE 64               /* the tile's side in latents (512 px) */
#define IG_RUN_TILE_OVERLAP 16       /* at least, in latents (128 px) */

typedef struct ig_run {
    ig_engine *e;
    ig_sd_model *m;
    ig_gen_params p;
    int n, C, h, w, T, D;
    int NB;       /* UNet batch: 2n with classifier-free guidance, else n */
    bool cfg;     /* guidance > 1 */
    bool decode;  /* the VAE will run (sized in the arena) */
    size_t n_lat; /* n * C * h * w */
    ig_arena arena;
    ig_fw fw;
    ig_tensor ctx; /* (NB, T, D) the UNet's context, in the arena */
    size_t mark;   /* arena offset above ctx: each network's activations start here */
    ig_sched_config sc; /* the model's, with the request's spacing */
    ig_sched sched;
    ig_rng_torch gen;
    int32_t *ids;   /* [2 T]: negative, positive */
    float *text;    /* [2 T D] the text encoder's output, f32 */
    float *latents; /* [n_lat] */
    float *x, *eps; /* [2 n_lat] the UNet's input and output */
    float *x0;      /* [n_lat] the last step's x0 prediction */
    int n_tokens;   /* the prompt's CLIP tokens, BOS and EOS included */
    /* SDXL (m->family IG_FAMILY_SDXL): D = both encoders' widths; the UNet's added conditions */
    bool xl;
    int P;              /* pooled text width (text_encoder_2's projection_dim) */
    int32_t *ids2;      /* [2 T] tokenizer_2's ids: negative, positive */
    float *states;      /* [2 T (D1 + 2 D2)] scratch: encoder 1's and 2's penultimate, 2's final states */
    float *pooled;      /* [2 P]: negative, positive */
    float *add_text;    /* [NB P] the UNet's text_embeds rows */
    float *time_ids;    /* [NB 6] add_time_ids rows: H, W, 0, 0, H, W */
    int t_start;    /* first denoising step: 0, or later for image to image */
    float *image_latents, *noise; /* [n_lat] inpainting: the picture's latents and their noise */
    float *lat_mask;              /* [h w] inpainting: 1 = repaint, 0 = keep */
    int vae_tile, vae_overlap; /* latents; vae_tile 0: one decode of the whole picture */
    bool fast;         /* the final decode is the model's TAESD (p.decoder IG_DECODER_FAST), not the VAE */
    bool fast_preview; /* the model has a TAESD and a progress callback is set: previews through it (sized) */
    int step;       /* next denoising step */
    bool pages_dropped;
} ig_run;

/* r is overwritten. decode false: the VAE is not sized (latents only). On failure r still needs
 * ig_run_end. */
ig_status ig_run_begin(ig_run *r, ig_engine *e, ig_sd_model *m, const ig_gen_params *p, bool decode, ig_err *err);
ig_status ig_run_encode_text(ig_run *r, ig_err *err);
ig_status ig_run_prepare_latents(ig_run *r, ig_err *err);
/* image (3, H, W) f32 in [-1, 1]; mask (H, W) f32, 1 = repaint, 0 = keep (binary), or NULL for image
 * to image. Needs begin with p->init_image set (which sizes the VAE encoder). Strength p->strength:
 * without a mask, strength >= 1 draws exactly the text-to-image latents (the picture is not used),
 * and a strength that leaves no step (int(n_steps * strength) == 0) keeps the picture's latents
 * unnoised, the encoder's mean (decode(encode(image).mode()), whatever the seed; diffusers refuses
 * it). */
ig_status ig_run_prepare_image(ig_run *r, const float *image, const float *mask, ig_err *err);
ig_status ig_run_step(ig_run *r, ig_err *err); /* IG_ERR_CANCELLED when the callback says stop */
ig_status ig_run_denoise(ig_run *r, ig_err *err);
/* image (n, H, W, 3) f32 HWC in [0, 1]; needs begin(decode = true). With p.decoder IG_DECODER_FAST
 * the model's TAESD decodes the latents as they are (TAESD's latents are the UNet's: no scaling
 * factor), clamped to [0, 1], never tiled (its memory grows linearly with the picture). */
ig_status ig_run_decode(ig_run *r, float *image, ig_err *err);
/* One image's latents (C, h, w) (a step's pred_x0) through the model's TAESD into image (H, W, 3)
 * f32 in [0, 1], in the run's arena between steps (sized by begin when r->fast_preview). */
ig_status ig_run_preview_fast(ig_run *r, const float *latents, float *image, ig_err *err);
void ig_run_end(ig_run *r);

#endif
