/* vae.c — AutoencoderKL decoder as diffusers 0.30 runs it (autoencoders/vae.py Decoder):
 * post_quant_conv, conv_in, mid block (resnet, single-head attention, resnet), up blocks in reverse
 * channel order (layers_per_block + 1 resnets, nearest 2x + conv except the last), group norm +
 * SiLU + conv_out. Group norms have eps 1e-6 throughout the VAE. */
#include "vae.h"

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
 * block's temporaries, not every output of the chain (at 512x512 each is 64 MiB in bf16). memmove:
 * y may be larger than what it replaces (after an upsample) and overlap it. */
static void settle(ig_fw *f, size_t x_off, size_t y_off, ig_tensor *y) {
    const size_t n = ig_tensor_nbytes(y);
    if (!f->a->dry) {
        memmove(f->a->base + x_off, f->a->base + y_off, n);
        y->data = f->a->base + x_off;
    }
    ig_arena_reset(f->a, x_off + ((n + 63) & ~(size_t)63));
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
    if (!f->a->dry) ig_tensor_copy(&in, z);
    if (cfg->post_quant_conv) {
        IG_TRY(ig__fw_nhwc(f, &y, N, cfg->latent_channels, H, W));
        IG_OP(f, ig_op_conv2d(e, &v->post_quant, &in, NULL, &y));
        in = y;
    }
    IG_TRY(ig__fw_nhwc(f, &x, N, cfg->block_out[nb - 1], H, W));
    IG_OP(f, ig_op_conv2d(e, &v->conv_in, &in, NULL, &x));
    IG_TRY(ig_resnet_forward(f, &v->mid_res[0], &x, NULL, &y));
    x = y;
    if (cfg->mid_attention) {
        IG_TRY(ig_vae_attn_forward(f, &v->mid_attn, &x, &y));
        x = y;
    }
    const size_t x_off = ig_arena_mark(f->a); /* the resnet's output lands here: the up path's slot */
    IG_TRY(ig_resnet_forward(f, &v->mid_res[1], &x, NULL, &y));
    x = y;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < L + 1; j++) {
            const size_t y_off = ig_arena_mark(f->a);
            IG_TRY(ig_resnet_forward(f, &v->up[i].res[j], &x, NULL, &y));
            settle(f, x_off, y_off, &y);
            x = y;
        }
        if (v->up[i].has_sample) {
            ig_tensor upx;
            IG_TRY(ig__fw_nhwc(f, &upx, N, x.ne[1], 2 * H, 2 * W));
            IG_OP(f, ig_op_upsample2x(e, &x, &upx));
            H *= 2, W *= 2;
            const size_t y_off = ig_arena_mark(f->a);
            IG_TRY(ig__fw_nhwc(f, &y, N, x.ne[1], H, W));
            IG_OP(f, ig_op_conv2d(e, &v->up[i].sample, &upx, NULL, &y));
            settle(f, x_off, y_off, &y);
            x = y;
        }
    }
    ig_tensor g, o;
    IG_TRY(ig__fw_nhwc(f, &g, N, x.ne[1], H, W));
    IG_OP(f, ig_op_group_norm(e, &x, cfg->norm_groups, VAE_EPS, &v->norm_out_g, &v->norm_out_b, IG_ACT_SILU, &g));
    IG_TRY(ig__fw_nhwc(f, &o, N, cfg->out_channels, H, W));
    IG_OP(f, ig_op_conv2d(e, &v->conv_out, &g, NULL, &o));
    if (!f->a->dry) ig_tensor_copy(image, &o);
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
