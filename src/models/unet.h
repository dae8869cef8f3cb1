/* unet.h — UNet2DConditionModel for Stable Diffusion 1.x / 2.x (diffusers structure): the
 * architecture comes from its config (channels, blocks with or without cross-attention, heads,
 * linear or conv projections, groups), nothing is fixed to one size. */
#ifndef IG_MODELS_UNET_H
#define IG_MODELS_UNET_H

#include "blocks.h"

#define IG_UNET_MAX_BLOCKS 4
#define IG_UNET_MAX_LAYERS 3

typedef struct ig_unet_config {
    int in_channels, out_channels;
    int n_blocks;
    int block_out[IG_UNET_MAX_BLOCKS];
    bool down_attn[IG_UNET_MAX_BLOCKS]; /* CrossAttnDownBlock2D (true) or DownBlock2D */
    bool up_attn[IG_UNET_MAX_BLOCKS];   /* CrossAttnUpBlock2D (true) or UpBlock2D, in up order */
    int heads[IG_UNET_MAX_BLOCKS];      /* diffusers' attention_head_dim: the number of heads per down block */
    int layers_per_block;
    int cross_attention_dim;
    int norm_groups;
    float norm_eps;
    bool use_linear_projection;
    bool flip_sin_to_cos;
    float freq_shift;
    int sample_size; /* latent side it was trained at (config "sample_size"; 0: not said) */
} ig_unet_config;

typedef struct ig_unet_level {
    ig_resnet res[IG_UNET_MAX_LAYERS];
    ig_transformer attn[IG_UNET_MAX_LAYERS];
    bool has_attn, has_sample; /* sample: downsampler (down) / upsampler (up) */
    ig_conv2d sample;
} ig_unet_level;

typedef struct ig_unet {
    ig_unet_config cfg;
    int temb_dim;
    ig_linear time1, time2;
    ig_conv2d conv_in, conv_out;
    ig_tensor norm_out_g, norm_out_b;
    ig_unet_level down[IG_UNET_MAX_BLOCKS], up[IG_UNET_MAX_BLOCKS];
    ig_resnet mid_res[2];
    ig_transformer mid_attn;
} ig_unet;

/* Loads every tensor the config asks for from w (which must outlive u). */
ig_status ig_unet_load(ig_unet *u, const ig_unet_config *cfg, ig_weights *w, ig_err *err);
/* eps/v = unet(sample, t, context): sample (N, in, H, W) and out (N, out, H, W) in any layout and
 * dtype; context (N, Tc, cross_attention_dim) in the activation dtype; t one timestep for the batch. */
ig_status ig_unet_forward(ig_fw *f, ig_unet *u, const ig_tensor *sample, float t, const ig_tensor *context,
                          ig_tensor *out);
void ig_unet_release(ig_engine *e, ig_unet *u);

#endif
