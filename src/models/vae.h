/* vae.h — AutoencoderKL's decoder (latents -> pixels) as diffusers builds it from its config. */
#ifndef IG_MODELS_VAE_H
#define IG_MODELS_VAE_H

#include "blocks.h"

#define IG_VAE_MAX_BLOCKS 4
#define IG_VAE_MAX_LAYERS 3

typedef struct ig_vae_config {
    int latent_channels, out_channels;
    int n_blocks;
    int block_out[IG_VAE_MAX_BLOCKS];
    int layers_per_block;
    int norm_groups;
    bool mid_attention;
    bool post_quant_conv;
    float scaling_factor;
    float shift_factor; /* 0 for SD 1.x/2.x */
} ig_vae_config;

typedef struct ig_vae_up {
    ig_resnet res[IG_VAE_MAX_LAYERS];
    bool has_sample;
    ig_conv2d sample;
} ig_vae_up;

typedef struct ig_vae {
    ig_vae_config cfg;
    ig_conv2d post_quant, conv_in, conv_out;
    ig_resnet mid_res[2];
    ig_vae_attn mid_attn;
    ig_vae_up up[IG_VAE_MAX_BLOCKS];
    ig_tensor norm_out_g, norm_out_b;
} ig_vae;

ig_status ig_vae_load(ig_vae *v, const ig_vae_config *cfg, ig_weights *w, ig_err *err);
/* image = decoder(post_quant_conv(z)); z (N, latent, h, w) already divided by the scaling factor;
 * image (N, out, 8h, 8w) for 4 blocks, any layout/dtype, unclamped (diffusers vae.decode().sample). */
ig_status ig_vae_decode(ig_fw *f, ig_vae *v, const ig_tensor *z, ig_tensor *image);
void ig_vae_release(ig_engine *e, ig_vae *v);

#endif
