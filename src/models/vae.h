/* vae.h — AutoencoderKL as diffusers builds it from its config: the decoder (latents -> pixels)
 * and, loaded on its own, the encoder (pixels -> the latent distribution) for img2img.
 *
 * The two halves share the config and the ig_weights (vae/diffusion_pytorch_model.safetensors, or a
 * single file's first_stage_model.*) but not their tensors: a process that never encodes never
 * loads, converts or pages in encoder.* and quant_conv.*. */
#ifndef IG_MODELS_VAE_H
#define IG_MODELS_VAE_H

#include "blocks.h"

#define IG_VAE_MAX_BLOCKS 4
#define IG_VAE_MAX_LAYERS 3

typedef struct ig_vae_config {
    int in_channels; /* image channels the encoder takes (3) */
    int latent_channels, out_channels;
    int n_blocks;
    int block_out[IG_VAE_MAX_BLOCKS];
    int layers_per_block;
    int norm_groups;
    bool mid_attention;
    bool quant_conv, post_quant_conv; /* use_quant_conv, use_post_quant_conv */
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

/* Tiled decode (vae_tiled.c): the latents in overlapping tiles of tile x tile latents (fewer where
 * the image is smaller), neighbours overlapping by at least `overlap` latents, tiles spread evenly so
 * all have one shape; each tile decoded on its own (ig_vae_decode), the overlaps blended with linear
 * ramps (weights normalised per pixel), so activations are bounded by one tile's. The mid block's
 * attention is global over the latent in diffusers, so the result is close to, not equal to, the
 * untiled decode (test_vae_tiled states by how much).
 * z (N, latent, h, w) f32 plain, already divided by the scaling factor; image (N, 8h, 8w, out) f32
 * (NHWC), unclamped. In a dry run (f->a->dry) only one tile is sized, and z/image are not touched.
 * Needs 1 <= tile and 0 <= overlap < tile. Host scratch (two tiles and a weight per pixel) is
 * malloc'd here: IG_ERR_NOMEM in f->e->err when it fails. */
#define IG_VAE_TILE_MAX_STARTS 4096
/* starts of the tiles along an axis of n latents; returns their count, the tile's extent in *t */
int ig_vae_tile_starts(int n, int tile, int overlap, int *t, int *starts);
ig_status ig_vae_decode_tiled(ig_fw *f, ig_vae *v, const float *z, int64_t N, int64_t h, int64_t w, int tile,
                              int overlap, float *image);

typedef struct ig_vae_down {
    ig_resnet res[IG_VAE_MAX_LAYERS];
    bool has_sample;
    ig_conv2d sample; /* Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)), then 3x3 stride 2 */
} ig_vae_down;

typedef struct ig_vae_encoder {
    ig_vae_config cfg;
    ig_conv2d conv_in, conv_out, quant;
    ig_vae_down down[IG_VAE_MAX_BLOCKS];
    ig_resnet mid_res[2];
    ig_vae_attn mid_attn;
    ig_tensor norm_out_g, norm_out_b;
} ig_vae_encoder;

/* The latent side for an image side n: each of the n_blocks - 1 downsamples maps n to
 * (n + 1 - 3) / 2 + 1 = floor(n / 2) (diffusers accepts any n >= 2 there; SD images are multiples of 8). */
static inline int64_t ig_vae_latent_size(const ig_vae_config *cfg, int64_t n) {
    for (int i = 1; i < cfg->n_blocks; i++) n /= 2;
    return n;
}

/* Reads encoder.* and quant_conv.* (when cfg->quant_conv) from w; on failure err names the missing
 * tensor or the shape that disagrees, and enc holds nothing to release. */
ig_status ig_vae_encoder_load(ig_vae_encoder *enc, const ig_vae_config *cfg, ig_weights *w, ig_err *err);
/* diffusers vae.encode(image).latent_dist: moments = quant_conv(encoder(image)) (N, 2L, h, w) split
 * into mean = moments[:, :L] and logvar = clamp(moments[:, L:], -30, 20) (DiagonalGaussianDistribution).
 * image (N, in_channels, H, W) in [-1, 1]; mean and logvar (N, L, h, w) with h, w from
 * ig_vae_latent_size; any layout/dtype for all three. The mode is the mean; for a sample see
 * ig_vae_sample. Neither is scaled: SD pipelines then use (z - shift_factor) * scaling_factor. */
ig_status ig_vae_encode(ig_fw *f, ig_vae_encoder *enc, const ig_tensor *image, ig_tensor *mean, ig_tensor *logvar);
void ig_vae_encoder_release(ig_engine *e, ig_vae_encoder *enc); /* accepts a zeroed or half-loaded enc */

/* latent_dist.sample(generator) = mean + std * noise, std = exp(0.5 logvar), with noise =
 * torch.randn(mean.shape, generator) drawn by the caller (pipeline/rng_torch.h: one randn call over
 * the whole (N, L, h, w) batch, as diffusers draws it), so models/ does not reach up into the
 * pipeline. n elements of f32 in matching order; z may alias mean. f32 roundings as torch's. */
void ig_vae_sample(const float *mean, const float *logvar, const float *noise, size_t n, float *z);

#endif
