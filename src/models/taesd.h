/* taesd.h — TAESD, the Tiny AutoEncoder for Stable Diffusion (madebyollin/taesd, MIT): a small
 * conv net that decodes SD latents to pixels (and encodes pixels to latents) far faster than the
 * VAE, at some loss of fine detail. TAESD's weights match the SD 1.x/2.x VAE, TAESDXL's the SDXL
 * VAE; the architecture is the same.
 *
 * The architecture, as the reference taesd.py builds it (nn.Sequential, so a checkpoint key is
 * "<index>.<part>"; "conv" is a 3x3 pad-1 conv, Block(64, 64) is
 * ReLU(conv(ReLU(conv(ReLU(conv(x))))) + x)):
 *   Decoder  0 Clamp (3 tanh(x / 3)), 1 conv(L, 64), 2 ReLU, 3-5 Block x3, 6 Upsample (nearest 2x),
 *            7 conv(64, 64, no bias), 8-10 Block x3, 11 Upsample, 12 conv (no bias), 13-15 Block x3,
 *            16 Upsample, 17 conv (no bias), 18 Block, 19 conv(64, 3)
 *   Encoder  0 conv(3, 64), 1 Block, 2 conv stride 2 (no bias), 3-5 Block x3, 6 conv s2, 7-9 Block x3,
 *            10 conv s2, 11-13 Block x3, 14 conv(64, L)
 * A Block whose channels change has a 1x1 skip conv; TAESD/TAESDXL have none (all 64 -> 64), and
 * a checkpoint with one is refused.
 *
 * Conventions (taesd.py and its README): latents are those the UNet sees (the SD VAE's latents
 * already multiplied by its scaling_factor: TAESD's own scaling factor is 1), and pixels are in
 * [0, 1] both ways (not the VAE's [-1, 1]). diffusers' AutoencoderTiny holds the same weights and
 * wraps them with x * 2 - 1 after the decoder and (x + 1) / 2 before the encoder; we keep TAESD's
 * [0, 1] whichever file the weights came from. The decoder's output is unclamped.
 *
 * Weights, three layouts (ig_taesd_open):
 *   - a diffusers AutoencoderTiny folder: config.json + diffusion_pytorch_model.safetensors, keys
 *     "decoder.layers.N..." (the decoder's Sequential without the Clamp: N = the index above - 1)
 *     and "encoder.layers.N..." (N as above);
 *   - that safetensors file on its own (the same keys);
 *   - a safetensors converted from taesd_decoder.pth or taesd_encoder.pth (tools/taesd_convert.py),
 *     keys as the .pth's: "1.weight", "3.conv.0.weight", ... (decoder: it has "1.weight" and no
 *     "0.weight") or "0.weight", "1.conv.0.weight", ... (encoder: "0.weight" is (64, 3, 3, 3)).
 *
 * Owns: loading and checking the weights, the two forward passes on the engine.
 * Leaves to others: when to use it (pipeline/, lib/), the latents' scaling (none needed).
 */
#ifndef IG_MODELS_TAESD_H
#define IG_MODELS_TAESD_H

#include "blocks.h"

#define IG_TAESD_CH 64        /* every hidden layer */
#define IG_TAESD_DEC_BLOCKS 10 /* 3 + 3 + 3 + 1 */
#define IG_TAESD_ENC_BLOCKS 10 /* 1 + 3 + 3 + 3 */

typedef struct ig_taesd_block {
    ig_conv2d conv[3]; /* ReLU, ReLU, then the skip added before the last ReLU (act_after_res) */
} ig_taesd_block;

typedef struct ig_taesd {
    int latent_channels;
    bool has_decoder, has_encoder;
    ig_conv2d dec_in;                              /* 1: ReLU fused */
    ig_taesd_block dec_blocks[IG_TAESD_DEC_BLOCKS]; /* 3 4 5, 8 9 10, 13 14 15, 18 */
    ig_conv2d dec_up[3];                           /* 7 12 17: nearest 2x + conv, one op */
    ig_conv2d dec_out;                             /* 19 */
    ig_conv2d enc_in;                              /* 0 */
    ig_taesd_block enc_blocks[IG_TAESD_ENC_BLOCKS]; /* 1, 3 4 5, 7 8 9, 11 12 13 */
    ig_conv2d enc_down[3];                         /* 2 6 10: stride 2 */
    ig_conv2d enc_out;                             /* 14 */
    ig_weights w;
} ig_taesd;

/* Opens path (a folder or a .safetensors file, above) and loads whatever of the decoder and the
 * encoder it holds (at least one); the weights stay mapped (private_copy: read into memory, as
 * ig_st_open). On failure *out is NULL and err names the file and the key. Caller frees with
 * ig_taesd_close. */
ig_status ig_taesd_open(ig_taesd **out, const char *path, bool private_copy, ig_err *err);
/* Releases t's op caches on e (the engine that ran it; NULL: none ran) and frees t. Accepts NULL. */
void ig_taesd_close(ig_engine *e, ig_taesd *t);

/* image = decoder(z): z (N, L, h, w) latents as the UNet sees them; image (N, 3, 8h, 8w) in about
 * [0, 1], unclamped; both host tensors of any layout and dtype. Needs t->has_decoder. In a dry run
 * only the arena is sized. */
ig_status ig_taesd_decode(ig_fw *f, ig_taesd *t, const ig_tensor *z, ig_tensor *image);
/* z = encoder(image): image (N, 3, H, W) in [0, 1]; z (N, L, h, w), h = ig_taesd_latent_size(H)
 * (each stride-2 pad-1 conv maps n to (n + 1) / 2). Needs t->has_encoder. */
ig_status ig_taesd_encode(ig_fw *f, ig_taesd *t, const ig_tensor *image, ig_tensor *z);
/* The tensors of TAESD's decoder (or encoder) for L latent channels, named with taesd.py's keys
 * ("1.weight", "3.conv.0.weight", ...) and shaped as the loader checks them: the architecture's one
 * description, for the random-weight writers (tests, tools/make_random_model.c). Returns the count. */
#define IG_TAESD_MAX_TENSORS 80
typedef struct ig_taesd_tensor {
    char name[32];
    int n_dims;
    int64_t ne[4];
} ig_taesd_tensor;
int ig_taesd_tensors(bool decoder, int latent_channels, ig_taesd_tensor out[IG_TAESD_MAX_TENSORS]);

static inline int64_t ig_taesd_latent_size(int64_t n) {
    for (int i = 0; i < 3; i++) n = (n + 1) / 2;
    return n;
}

#endif
