/* unet.h — UNet2DConditionModel for Stable Diffusion 1.x / 2.x and SDXL (diffusers structure): the
 * architecture comes from its config (channels, blocks with or without cross-attention, heads,
 * transformer depth per block, linear or conv projections, groups, SDXL's text_time added
 * embedding), nothing is fixed to one size. */
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
    int tdepth[IG_UNET_MAX_BLOCKS]; /* transformer_layers_per_block per down block (0 reads as 1); the mid
                                       block takes the last, up block i takes tdepth[n_blocks - 1 - i] */
    /* addition_embed_type "text_time" (SDXL): add_embedding(cat(text_embeds, add_time_proj(time_ids)))
     * is added to the timestep embedding; 0: none */
    int add_time_dim; /* addition_time_embed_dim: each of the IG_UNET_TIME_IDS ids gets this sinusoid */
    int add_in_dim;   /* projection_class_embeddings_input_dim = text_embeds dim + 6 * add_time_dim */
} ig_unet_config;

/* SDXL's add_time_ids: [orig_h, orig_w, crop_top, crop_left, target_h, target_w] */
#define IG_UNET_TIME_IDS 6

/* Transformer depth of down block i (config order), of the mid block (i = n_blocks - 1). */
static inline int ig_unet_depth(const ig_unet_config *c, int i) { return c->tdepth[i] > 0 ? c->tdepth[i] : 1; }
/* Width of SDXL's pooled text embedding the UNet takes (0 without text_time). */
static inline int ig_unet_text_embeds_dim(const ig_unet_config *c) {
    return c->add_time_dim > 0 ? c->add_in_dim - IG_UNET_TIME_IDS * c->add_time_dim : 0;
}

/* The added conditions of a text_time UNet (diffusers' added_cond_kwargs), host f32, one row per batch
 * item; add_in / aug (may be NULL) receive the intermediates add_embedding's input (N, add_in_dim) and
 * output (N, temb), for tests. */
typedef struct ig_unet_added {
    const float *text_embeds; /* (N, ig_unet_text_embeds_dim) pooled text */
    const float *time_ids;    /* (N, IG_UNET_TIME_IDS) */
    float *add_in, *aug;
} ig_unet_added;

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
    ig_linear add1, add2; /* add_embedding.linear_1 (SiLU) / linear_2, with cfg.add_time_dim */
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
/* The same with added conditions; added is required exactly when cfg.add_time_dim > 0. */
ig_status ig_unet_forward_cond(ig_fw *f, ig_unet *u, const ig_tensor *sample, float t, const ig_tensor *context,
                               const ig_unet_added *added, ig_tensor *out);
void ig_unet_release(ig_engine *e, ig_unet *u);

#endif
