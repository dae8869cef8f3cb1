/* vae.c — AutoencoderKL as diffusers 0.30 runs it (autoencoders/vae.py Decoder and Encoder,
 * autoencoder_kl.py, DiagonalGaussianDistribution).
 * Decoder: post_quant_conv, conv_in, mid block (resnet, single-head attention, resnet), up blocks in
 * reverse channel order (layers_per_block + 1 resnets, nearest 2x + conv except the last), group
 * norm + SiLU + conv_out.
 * Encoder: conv_in, down blocks (layers_per_block resnets, then but for the last a Downsample2D with
 * padding=0: zero-pad (left 0, right 1, top 0, bottom 1) and a 3x3 stride-2 conv), the same mid
 * block, group norm + SiLU + conv_out to 2 x latent channels, quant_conv; then the moments' split.
 * Group norms have eps 1e-6 throughout the VAE. */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VAE_EPS 1e-6f

static ig_status load_conv(ig_weights *w, ig_conv2d *c, const char *name, int cout, int cin, int r, ig_err *err) {
    int64_t ws[4] = {cout, cin, r, r}, bs[1] = {cout};
    IG_TRY(ig_weights_get(w, &c->w, 4, ws, err, "%s.weight", name));
    IG_TRY(ig_weights_get(w, &c->b, 1, bs, err, "%s.bias", name));
    c->stride = 1, c->pad = r / 2;
    return IG_OK;
}

ig_status ig_vae_load(ig_vae *v, const ig_vae_config *cfg, ig_weights *w, ig_err *err) {
    *v = (ig_vae){.cfg = *cfg};
    const int nb = cfg->n_blocks, L = cfg->layers_per_block, G = cfg->norm_groups;
    if (nb < 1 || nb > IG_VAE_MAX_BLOCKS || L < 1 || L + 1 > IG_VAE_MAX_LAYERS)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "vae: %d blocks of %d layers is not a supported layout", nb, L);
    const int top = cfg->block_out[nb - 1];
    if (cfg->post_quant_conv)
        IG_TRY(load_conv(w, &v->post_quant, "post_quant_conv", cfg->latent_channels, cfg->latent_channels, 1, err));
    IG_TRY(load_conv(w, &v->conv_in, "decoder.conv_in", top, cfg->latent_channels, 3, err));
    IG_TRY(ig_resnet_load(&v->mid_res[0], w, "decoder.mid_block.resnets.0.", top, top, 0, G, VAE_EPS, err));
    if (cfg->mid_attention)
        IG_TRY(ig_vae_attn_load(&v->mid_attn, w, "decoder.mid_block.attentions.0.", top, G, VAE_EPS, err));
    IG_TRY(ig_resnet_load(&v->mid_res[1], w, "decoder.mid_block.resnets.1.", top, top, 0, G, VAE_EPS, err));
    char p[128];
    int prev = top;
    for (int i = 0; i < nb; i++) {
        const int out = cfg->block_out[nb - 1 - i];
        for (int j = 0; j < L + 1; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d.", i, j);
            IG_TRY(ig_resnet_load(&v->up[i].res[j], w, p, j ? out : prev, out, 0, G, VAE_EPS, err));
        }
        v->up[i].has_sample = i < nb - 1;
        if (v->up[i].has_sample) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            IG_TRY(load_conv(w, &v->up[i].sample, p, out, out, 3, err));
        }
        prev = out;
    }
    IG_TRY(ig_weights_vec(w, &v->norm_out_g, cfg->block_out[0], err, "decoder.conv_norm_out.weight"));
    IG_TRY(ig_weights_vec(w, &v->norm_out_b, cfg->block_out[0], err, "decoder.conv_norm_out.bias"));
    IG_TRY(load_conv(w, &v->conv_out, "decoder.conv_out", cfg->out_channels, cfg->block_out[0], 3, err));
    return IG_OK;
}

/* y, the newest allocation (at arena offset y_off), moves down to x_off once the activation there is
 * dead, and the arena is cut just above it: the up path then holds its current activation and the
 * block's temporaries, not every output of the chain (at 512x512 each is 64 MiB in bf16). ig_op_copy, a memmove:
 * y may be larger than what it replaces (after an upsample) and overlap it. */
static ig_status settle(ig_fw *f, size_t x_off, size_t y_off, ig_tensor *y) {
    const size_t n = ig_tensor_nbytes(y);
    if (!f->a->dry) {
        ig_tensor dst = *y;
        dst.data = f->a->base + x_off;
        IG_ASSERT((char *)y->data == f->a->base + y_off);
        IG_TRY(ig_op_copy(f->e, y, &dst)); /* same dtype and layout: a memmove (ops.h) */
        y->data = dst.data;
    }
    ig_arena_reset(f->a, x_off + ((n + 63) & ~(size_t)63));
    return IG_OK;
}

/* x = resnet(x) for the decoder's chain, x at x_off: in place when the block has no shortcut conv. */
static ig_status resnet_step(ig_fw *f, ig_resnet *r, size_t x_off, ig_tensor *x) {
    if (!r->has_shortcut) return ig_resnet_forward_inplace(f, r, x, NULL);
    const size_t y_off = ig_arena_mark(f->a);
    ig_tensor y;
    IG_TRY(ig_resnet_forward_consume(f, r, x, NULL, &y));
    IG_TRY(settle(f, x_off, y_off, &y));
    *x = y;
    return IG_OK;
}

ig_status ig_vae_decode(ig_fw *f, ig_vae *v, const ig_tensor *z, ig_tensor *image) {
    ig_engine *e = f->e;
    const ig_vae_config *cfg = &v->cfg;
    const int64_t N = z->ne[0];
    int64_t H = z->ne[2], W = z->ne[3];
    const int nb = cfg->n_blocks, L = cfg->layers_per_block;
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor in, x, y;
    IG_TRY(ig__fw_nhwc(f, &in, N, cfg->latent_channels, H, W));
    IG_OP(f, ig_op_upload(e, z, &in));
    if (cfg->post_quant_conv) {
        IG_TRY(ig__fw_nhwc(f, &y, N, cfg->latent_channels, H, W));
        IG_OP(f, ig_op_conv2d(e, &v->post_quant, &in, NULL, &y));
        in = y;
    }
    /* x_off: where the chain's current activation lies (the up path's slot). Resnets without a shortcut
     * conv run in place there; the others and the upsamplers write a new tensor that settles down to it. */
    size_t x_off = ig_arena_mark(f->a);
    IG_TRY(ig__fw_nhwc(f, &x, N, cfg->block_out[nb - 1], H, W));
    IG_OP(f, ig_op_conv2d(e, &v->conv_in, &in, NULL, &x));
    IG_TRY(resnet_step(f, &v->mid_res[0], x_off, &x));
    if (cfg->mid_attention) {
        x_off = ig_arena_mark(f->a);
        IG_TRY(ig_vae_attn_forward(f, &v->mid_attn, &x, &y));
        x = y;
    }
    IG_TRY(resnet_step(f, &v->mid_res[1], x_off, &x));
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < L + 1; j++) IG_TRY(resnet_step(f, &v->up[i].res[j], x_off, &x));
        if (v->up[i].has_sample) { /* Upsample2D: nearest 2x, then the 3x3 conv, as one op (ops.h) */
            H *= 2, W *= 2;
            const size_t y_off = ig_arena_mark(f->a);
            IG_TRY(ig__fw_nhwc(f, &y, N, x.ne[1], H, W));
            IG_OP(f, ig_op_upsample_conv2d(e, &v->up[i].sample, &x, &y));
            IG_TRY(settle(f, x_off, y_off, &y));
            x = y;
        }
    }
    ig_tensor g, o;
    IG_TRY(ig__fw_nhwc(f, &g, N, x.ne[1], H, W));
    IG_OP(f, ig_op_group_norm(e, &x, cfg->norm_groups, VAE_EPS, &v->norm_out_g, &v->norm_out_b, IG_ACT_SILU, &g));
    IG_TRY(ig__fw_nhwc(f, &o, N, cfg->out_channels, H, W));
    IG_OP(f, ig_op_conv2d(e, &v->conv_out, &g, NULL, &o));
    IG_OP(f, ig_op_download(e, &o, image));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

void ig_vae_release(ig_engine *e, ig_vae *v) {
    if (!v) return;
    ig_conv2d_release(e, &v->post_quant);
    ig_conv2d_release(e, &v->conv_in);
    ig_conv2d_release(e, &v->conv_out);
    ig_resnet_release(e, &v->mid_res[0]);
    ig_resnet_release(e, &v->mid_res[1]);
    ig_vae_attn_release(e, &v->mid_attn);
    for (int i = 0; i < IG_VAE_MAX_BLOCKS; i++) {
        for (int j = 0; j < IG_VAE_MAX_LAYERS; j++) ig_resnet_release(e, &v->up[i].res[j]);
        ig_conv2d_release(e, &v->up[i].sample);
    }
}

/* ---- encoder ---- */

ig_status ig_vae_encoder_load(ig_vae_encoder *enc, const ig_vae_config *cfg, ig_weights *w, ig_err *err) {
    *enc = (ig_vae_encoder){.cfg = *cfg};
    const int nb = cfg->n_blocks, L = cfg->layers_per_block, G = cfg->norm_groups, Z = 2 * cfg->latent_channels;
    if (nb < 1 || nb > IG_VAE_MAX_BLOCKS || L < 1 || L > IG_VAE_MAX_LAYERS)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "vae encoder: %d blocks of %d layers is not a supported layout", nb, L);
    if (cfg->in_channels < 1 || cfg->latent_channels < 1)
        return ig__fail(err, IG_ERR_INVALID, "vae encoder: %d image and %d latent channels", cfg->in_channels,
                        cfg->latent_channels);
    const int top = cfg->block_out[nb - 1];
    char p[128];
    ig_status st;
#define ENC_TRY(x)                                                                                 \
    do {                                                                                           \
        if ((st = (x)) != IG_OK) goto fail;                                                        \
    } while (0)
    ENC_TRY(load_conv(w, &enc->conv_in, "encoder.conv_in", cfg->block_out[0], cfg->in_channels, 3, err));
    int prev = cfg->block_out[0];
    for (int i = 0; i < nb; i++) {
        const int out = cfg->block_out[i];
        for (int j = 0; j < L; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d.", i, j);
            ENC_TRY(ig_resnet_load(&enc->down[i].res[j], w, p, j ? out : prev, out, 0, G, VAE_EPS, err));
        }
        enc->down[i].has_sample = i < nb - 1;
        if (enc->down[i].has_sample) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            ENC_TRY(load_conv(w, &enc->down[i].sample, p, out, out, 3, err));
            /* Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)) then Conv2d(3, stride=2, padding=0) */
            enc->down[i].sample.stride = 2, enc->down[i].sample.pad = 0;
            enc->down[i].sample.pad_extra_b = enc->down[i].sample.pad_extra_r = 1;
        }
        prev = out;
    }
    ENC_TRY(ig_resnet_load(&enc->mid_res[0], w, "encoder.mid_block.resnets.0.", top, top, 0, G, VAE_EPS, err));
    if (cfg->mid_attention)
        ENC_TRY(ig_vae_attn_load(&enc->mid_attn, w, "encoder.mid_block.attentions.0.", top, G, VAE_EPS, err));
    ENC_TRY(ig_resnet_load(&enc->mid_res[1], w, "encoder.mid_block.resnets.1.", top, top, 0, G, VAE_EPS, err));
    ENC_TRY(ig_weights_vec(w, &enc->norm_out_g, top, err, "encoder.conv_norm_out.weight"));
    ENC_TRY(ig_weights_vec(w, &enc->norm_out_b, top, err, "encoder.conv_norm_out.bias"));
    /* double_z: conv_out gives mean and logvar, 2 x latent_channels */
    ENC_TRY(load_conv(w, &enc->conv_out, "encoder.conv_out", Z, top, 3, err));
    if (cfg->quant_conv) ENC_TRY(load_conv(w, &enc->quant, "quant_conv", Z, Z, 1, err));
#undef ENC_TRY
    return IG_OK;
fail:
    *enc = (ig_vae_encoder){0}; /* views only so far: no backend cache exists before the first op */
    return st;
}

ig_status ig_vae_encode(ig_fw *f, ig_vae_encoder *enc, const ig_tensor *image, ig_tensor *mean, ig_tensor *logvar) {
    ig_engine *e = f->e;
    const ig_vae_config *cfg = &enc->cfg;
    const int nb = cfg->n_blocks, L = cfg->layers_per_block, Lc = cfg->latent_channels;
    const int64_t N = image->ne[0];
    int64_t H = image->ne[2], W = image->ne[3];
    const int64_t h = ig_vae_latent_size(cfg, H), w = ig_vae_latent_size(cfg, W);
    char b[96];
    if (image->n_dims != 4 || image->ne[1] != cfg->in_channels)
        return ig__fail(&e->err, IG_ERR_INVALID, "vae encode: image must be (N, %d, H, W), got %s", cfg->in_channels,
                        ig_tensor_describe(image, b, sizeof b));
    if (h < 1 || w < 1) /* each downsample needs a side of 2 or more */
        return ig__fail(&e->err, IG_ERR_INVALID, "vae encode: a %lldx%lld image is too small for %d downsamples",
                        (long long)H, (long long)W, nb - 1);
    const ig_tensor *outs[2] = {mean, logvar};
    for (int k = 0; k < 2; k++)
        if (outs[k]->n_dims != 4 || outs[k]->ne[0] != N || outs[k]->ne[1] != Lc || outs[k]->ne[2] != h ||
            outs[k]->ne[3] != w)
            return ig__fail(&e->err, IG_ERR_INVALID, "vae encode: %s must be (%lld, %d, %lld, %lld) for a %lldx%lld image, got %s",
                            k ? "logvar" : "mean", (long long)N, Lc, (long long)h, (long long)w, (long long)H,
                            (long long)W, ig_tensor_describe(outs[k], b, sizeof b));
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor in, x, y;
    IG_TRY(ig__fw_nhwc(f, &in, N, cfg->in_channels, H, W));
    IG_OP(f, ig_op_upload(e, image, &in));
    /* as in the decoder, the down path keeps one activation slot at x_off (see settle) */
    const size_t x_off = ig_arena_mark(f->a);
    IG_TRY(ig__fw_nhwc(f, &x, N, cfg->block_out[0], H, W));
    IG_OP(f, ig_op_conv2d(e, &enc->conv_in, &in, NULL, &x));
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < L; j++) {
            const size_t y_off = ig_arena_mark(f->a);
            IG_TRY(ig_resnet_forward(f, &enc->down[i].res[j], &x, NULL, &y));
            IG_TRY(settle(f, x_off, y_off, &y));
            x = y;
        }
        if (enc->down[i].has_sample) {
            H /= 2, W /= 2; /* (H + 1 - 3) / 2 + 1 */
            const size_t y_off = ig_arena_mark(f->a);
            IG_TRY(ig__fw_nhwc(f, &y, N, x.ne[1], H, W));
            IG_OP(f, ig_op_conv2d(e, &enc->down[i].sample, &x, NULL, &y));
            IG_TRY(settle(f, x_off, y_off, &y));
            x = y;
        }
    }
    IG_TRY(ig_resnet_forward(f, &enc->mid_res[0], &x, NULL, &y));
    x = y;
    if (cfg->mid_attention) {
        IG_TRY(ig_vae_attn_forward(f, &enc->mid_attn, &x, &y));
        x = y;
    }
    IG_TRY(ig_resnet_forward(f, &enc->mid_res[1], &x, NULL, &y));
    x = y;
    ig_tensor g, mom;
    IG_TRY(ig__fw_nhwc(f, &g, N, x.ne[1], H, W));
    IG_OP(f, ig_op_group_norm(e, &x, cfg->norm_groups, VAE_EPS, &enc->norm_out_g, &enc->norm_out_b, IG_ACT_SILU, &g));
    IG_TRY(ig__fw_nhwc(f, &mom, N, 2 * Lc, H, W));
    IG_OP(f, ig_op_conv2d(e, &enc->conv_out, &g, NULL, &mom));
    if (cfg->quant_conv) {
        ig_tensor q;
        IG_TRY(ig__fw_nhwc(f, &q, N, 2 * Lc, H, W));
        IG_OP(f, ig_op_conv2d(e, &enc->quant, &mom, NULL, &q));
        mom = q;
    }
    if (!f->a->dry) {
        /* moments.chunk(2, dim=1): channel views of the NHWC moments, then torch.clamp(logvar, -30, 20) */
        ig_tensor mv = mom, lv = mom;
        mv.ne[1] = lv.ne[1] = Lc;
        lv.data = (char *)mom.data + (size_t)(Lc * mom.st[1]) * ig_dtype_size(mom.dtype);
        IG_TRY(ig_op_download(e, &mv, mean));
        IG_TRY(ig_op_download(e, &lv, logvar));
        int64_t idx[4] = {0};
        for (idx[0] = 0; idx[0] < N; idx[0]++)
            for (idx[1] = 0; idx[1] < Lc; idx[1]++)
                for (idx[2] = 0; idx[2] < h; idx[2]++)
                    for (idx[3] = 0; idx[3] < w; idx[3]++) {
                        const float v = ig_tensor_get(logvar, idx);
                        if (v < -30.0f || v > 20.0f) ig_tensor_set(logvar, idx, v < -30.0f ? -30.0f : 20.0f);
                    }
    }
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

void ig_vae_encoder_release(ig_engine *e, ig_vae_encoder *enc) {
    if (!enc) return;
    ig_conv2d_release(e, &enc->conv_in);
    ig_conv2d_release(e, &enc->conv_out);
    ig_conv2d_release(e, &enc->quant);
    ig_resnet_release(e, &enc->mid_res[0]);
    ig_resnet_release(e, &enc->mid_res[1]);
    ig_vae_attn_release(e, &enc->mid_attn);
    for (int i = 0; i < IG_VAE_MAX_BLOCKS; i++) {
        for (int j = 0; j < IG_VAE_MAX_LAYERS; j++) ig_resnet_release(e, &enc->down[i].res[j]);
        ig_conv2d_release(e, &enc->down[i].sample);
    }
}

/* DiagonalGaussianDistribution: std = torch.exp(0.5 * logvar), then mean + std * sample, each op
 * rounded to f32 as torch does it (expf against torch's vectorised exp: within an ulp). */
void ig_vae_sample(const float *mean, const float *logvar, const float *noise, size_t n, float *z) {
    for (size_t i = 0; i < n; i++) {
        const float std = expf(0.5f * logvar[i]);
        const float d = std * noise[i];
        z[i] = mean[i] + d;
    }
}
