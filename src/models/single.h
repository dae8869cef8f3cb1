/* single.h — a Stable Diffusion 1.x / 2.x or SDXL model from one original (LDM / CompVis / SGM)
 * checkpoint file, as SD 1.5, sd_turbo and sd_xl_base_1.0 ship it (SDXL: conditioner.embedders.0/1
 * and label_emb, family_sdxl.c; heads one per 64 channels, VAE scaling 0.13025, EulerDiscrete with
 * leading spacing, 1024 pixels, tokenizer_2 = vocab_dir's with pad "!" and "!" special): model.diffusion_model.* (UNet), cond_stage_model.* (text encoder:
 * HF CLIP names for SD 1.x, OpenCLIP names with a fused q|k|v in_proj for SD 2.x) and
 * first_stage_model.* (VAE), in one .safetensors.
 *
 * Owns: recognising the format, inferring the architecture from tensor shapes (there is no config in
 * the file). The family's description (family.h) says where each diffusers key lives in the file,
 * so unet.c, vae.c and clip.c ask for their diffusers keys unchanged. Weights stay mmapped: renamed
 * tensors, q/k/v row ranges of the fused in_proj and the VAE's 1x1-conv attention weights seen as
 * linears are views, not copies. Leaves to others: the networks (unet.c, vae.c, clip.c), the
 * tokenizer (bpe.c: vocab.json and merges.txt come from a folder the caller names), the diffusers
 * folder layout (sd.c), the key correspondences (family_sd.c).
 *
 * What a single file cannot say, and what is assumed (override with ig_sd_open_opts, sd.h):
 *   - prediction type: epsilon (SD 1.x, SD 2.x-base, sd-turbo). SD 2.x at 768 (v2-1_768) is
 *     v-prediction: set opts.prediction_type = IG_PREDICTION_V. diffusers guesses it from a
 *     global_step the .ckpt may carry; a .safetensors has none.
 *   - attention heads: SD 1.x (CLIP-L text encoder) 8 per transformer; SD 2.x (OpenCLIP) one per
 *     64 channels (diffusers' attention_head_dim [5, 10, 20, 20]). Text encoder: one per 64
 *     channels (CLIP-L 12, OpenCLIP-H 16).
 *   - group norms: 32 groups (UNet and VAE), eps 1e-5 in the UNet; VAE scaling factor 0.18215.
 *   - text encoder: SD 1.x runs every CLIP layer (quick_gelu); SD 2.x runs OpenCLIP's resblocks but
 *     the last, then ln_final (gelu), as ldm's FrozenOpenCLIPEmbedder(layer="penultimate") does and
 *     as diffusers' converted SD 2 text encoder (23 of 24 layers + final_layer_norm) stores it.
 *   - padding: SD 2.x pads prompts with id 0 ("!"), as open_clip.tokenize does and as SD 2.x's
 *     diffusers tokenizer says; SD 1.x with what vocab_dir's special_tokens_map.json says (eos when
 *     it has none).
 *   - scheduler: the SD one (scaled_linear 0.00085..0.012, 1000 steps, steps_offset 1,
 *     set_alpha_to_one false, clip_sample false); other fields take each sampler's defaults. m->sched
 *     may be changed after opening (sd_turbo folders also say timestep_spacing "trailing").
 * Only the non-EMA UNet weights (model.diffusion_model.*) are read, as diffusers does by default.
 * Class-conditioned UNets (label_emb without SDXL's text encoders) and transformer depth > 1 outside
 * SDXL are refused, naming what was found. */
#ifndef IG_MODELS_SINGLE_H
#define IG_MODELS_SINGLE_H

#include "sd.h"

/* Loads `file` with the tokenizer from opts->vocab_dir (NULL: assets/clip). opts NULL:
 * IG_SD_OPEN_OPTS_INIT. m->dir is the file's path. Caller frees with ig_sd_close. */
ig_status ig_sd_open_single(ig_sd_model **out, const char *file, const ig_sd_open_opts *opts, ig_err *err);

#endif
