/* names_sd.c — the checkpoint-key tables between diffusers' SD 1.x / 2.x names (what unet.c, vae.c
 * and clip.c ask for) and the original LDM / CompVis single-file names, one direction only:
 * diffusers key in, file key (+ row range / reshape) out, as ig_weights_map_fn's. See single.h.
 *
 * The correspondences are the ones diffusers' scripts/convert_original_stable_diffusion_to_diffusers.py
 * (pipelines/stable_diffusion/convert_from_ckpt.py) applies in the other direction:
 *   UNet, with L = layers_per_block, level i, layer j:
 *     down_blocks.i.resnets.j           input_blocks.(1 + i(L+1) + j).0
 *     down_blocks.i.attentions.j        input_blocks.(1 + i(L+1) + j).1
 *     down_blocks.i.downsamplers.0.conv input_blocks.(1 + i(L+1) + L).0.op
 *     mid_block.resnets.0 / .1          middle_block.0 / .2,  mid_block.attentions.0  middle_block.1
 *     up_blocks.i.resnets.j             output_blocks.(i(L+1) + j).0      (j <= L)
 *     up_blocks.i.attentions.j          output_blocks.(i(L+1) + j).1
 *     up_blocks.i.upsamplers.0.conv     output_blocks.(i(L+1) + L).1.conv, or .2.conv after a transformer
 *     resnet parts: norm1 in_layers.0, conv1 in_layers.2, time_emb_proj emb_layers.1, norm2
 *     out_layers.0, conv2 out_layers.3, conv_shortcut skip_connection
 *     time_embedding.linear_1/2 time_embed.0/2, conv_in input_blocks.0.0, conv_norm_out out.0,
 *     conv_out out.2; inside a transformer the names are the same in both formats.
 *   VAE decoder, nb levels: up_blocks.i = up.(nb-1-i) (LDM counts from the full resolution),
 *     resnets.j block.j, upsamplers.0.conv upsample.conv, conv_shortcut nin_shortcut,
 *     mid_block.resnets.0/1 mid.block_1/2, mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
 *     mid.attn_1.{norm,q,k,v,proj_out} (1x1 convs: (C, C, 1, 1) seen as (C, C)),
 *     conv_norm_out norm_out; post_quant_conv, conv_in, conv_out unchanged.
 *   VAE encoder: down_blocks.i = down.i (same order), resnets.j block.j (j < L),
 *     downsamplers.0.conv downsample.conv, and the mid block, conv_norm_out, conv_in, conv_out and
 *     quant_conv as in the decoder.
 *   OpenCLIP text encoder (SD 2.x): token_embedding.weight, positional_embedding, ln_final,
 *     transformer.resblocks.N.{ln_1, ln_2, attn.out_proj, mlp.c_fc, mlp.c_proj} for HF's
 *     layers.N.{layer_norm1, layer_norm2, self_attn.out_proj, mlp.fc1, mlp.fc2}, and
 *     q_proj / k_proj / v_proj = rows [0, D) / [D, 2D) / [2D, 3D) of attn.in_proj_weight (3D, D)
 *     and in_proj_bias (3D) (torch.nn.MultiheadAttention's packing).
 *   CLIP-L (SD 1.x): HF names already, under cond_stage_model.transformer. (no translation). */
#include "single.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Consumes lit at *p. */
static bool eat(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n)) return false;
    *p += n;
    return true;
}

/* Consumes "<decimal>." at *p into *v (0..9999). */
static bool num(const char **p, int *v) {
    const char *s = *p;
    int x = 0, n = 0;
    while (*s >= '0' && *s <= '9' && n < 4) x = 10 * x + (*s++ - '0'), n++;
    if (!n || *s != '.' || (n > 1 && **p == '0')) return false;
    *p = s + 1, *v = x;
    return true;
}

__attribute__((format(printf, 2, 3))) static bool put(ig_weights_src *src, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(src->key, sizeof src->key, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof src->key;
}

typedef struct name_pair {
    const char *from, *to;
} name_pair;

/* block + the part of rest renamed by the first table row whose `from` begins it. */
static bool renamed(ig_weights_src *src, const char *block, const char *rest, const name_pair *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *p = rest;
        if (eat(&p, t[i].from)) return put(src, "%s%s%s", block, t[i].to, p);
    }
    return false;
}

#define N_OF(a) (sizeof(a) / sizeof *(a))

static const name_pair unet_resnet[] = {
    {"norm1.", "in_layers.0."},          {"conv1.", "in_layers.2."},  {"time_emb_proj.", "emb_layers.1."},
    {"norm2.", "out_layers.0."},         {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."},
};

static bool unet_resnet_key(ig_weights_src *src, const char *fmt, int idx, const char *rest) {
    char block[64];
    snprintf(block, sizeof block, fmt, idx);
    return renamed(src, block, rest, unet_resnet, N_OF(unet_resnet));
}

bool ig__ldm_unet_key(void *ud, const char *key, ig_weights_src *src) {
    static const name_pair top[] = {
        {"time_embedding.linear_1.", "time_embed.0."}, {"time_embedding.linear_2.", "time_embed.2."},
        {"conv_in.", "input_blocks.0.0."},             {"conv_norm_out.", "out.0."},
        {"conv_out.", "out.2."},
    };
    const ig__ldm_names *n = ud;
    const int nb = n->n_blocks, L = n->layers_per_block;
    const char *p = key;
    int i, j;
    if (renamed(src, "", key, top, N_OF(top))) return true;
    if (eat(&p, "down_blocks.")) {
        if (!num(&p, &i) || i >= nb) return false;
        const int first = 1 + i * (L + 1); /* input_blocks index of the level's first layer */
        if (eat(&p, "resnets.")) return num(&p, &j) && j < L && unet_resnet_key(src, "input_blocks.%d.0.", first + j, p);
        if (eat(&p, "attentions.")) return num(&p, &j) && j < L && put(src, "input_blocks.%d.1.%s", first + j, p);
        if (eat(&p, "downsamplers.0.conv.")) return i < nb - 1 && put(src, "input_blocks.%d.0.op.%s", first + L, p);
        return false;
    }
    if (eat(&p, "mid_block.")) {
        if (eat(&p, "resnets.")) return num(&p, &j) && j < 2 && unet_resnet_key(src, "middle_block.%d.", 2 * j, p);
        if (eat(&p, "attentions.0.")) return put(src, "middle_block.1.%s", p);
        return false;
    }
    if (eat(&p, "up_blocks.")) {
        if (!num(&p, &i) || i >= nb) return false;
        const int first = i * (L + 1); /* output_blocks index of the level's first layer */
        if (eat(&p, "resnets.")) return num(&p, &j) && j <= L && unet_resnet_key(src, "output_blocks.%d.0.", first + j, p);
        if (eat(&p, "attentions.")) return num(&p, &j) && j <= L && put(src, "output_blocks.%d.1.%s", first + j, p);
        if (eat(&p, "upsamplers.0.conv."))
            return i < nb - 1 && put(src, "output_blocks.%d.%d.conv.%s", first + L, n->up_attn[i] ? 2 : 1, p);
        return false;
    }
    return false;
}

static const name_pair vae_resnet[] = {
    {"norm1.", "norm1."}, {"conv1.", "conv1."}, {"norm2.", "norm2."}, {"conv2.", "conv2."},
    {"conv_shortcut.", "nin_shortcut."},
};

/* The mid block after "decoder." or "encoder." (same layout in both halves). */
static bool vae_mid_key(const ig__ldm_names *n, const char *half, const char *p, ig_weights_src *src) {
    static const name_pair attn[] = {
        {"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."}, {"to_v.", "v."}, {"to_out.0.", "proj_out."},
    };
    char block[64];
    int j;
    if (eat(&p, "resnets.")) {
        if (!num(&p, &j) || j >= 2) return false;
        snprintf(block, sizeof block, "%smid.block_%d.", half, j + 1);
        return renamed(src, block, p, vae_resnet, N_OF(vae_resnet));
    }
    if (eat(&p, "attentions.0.")) {
        snprintf(block, sizeof block, "%smid.attn_1.", half);
        if (!renamed(src, block, p, attn, N_OF(attn))) return false;
        const size_t l = strlen(src->key);
        if (strncmp(p, "group_norm.", 11) && l > 7 && !strcmp(src->key + l - 7, ".weight")) {
            /* AttnBlock's q, k, v, proj_out are Conv2d(C, C, 1): (C, C, 1, 1), the bytes of a (C, C) linear */
            src->n_dims = 2;
            src->ne[0] = src->ne[1] = n->vae_mid_channels;
        }
        return true;
    }
    return false;
}

bool ig__ldm_vae_key(void *ud, const char *key, ig_weights_src *src) {
    static const name_pair top[] = {
        {"post_quant_conv.", "post_quant_conv."},  {"decoder.conv_in.", "decoder.conv_in."},
        {"decoder.conv_norm_out.", "decoder.norm_out."}, {"decoder.conv_out.", "decoder.conv_out."},
        {"quant_conv.", "quant_conv."},            {"encoder.conv_in.", "encoder.conv_in."},
        {"encoder.conv_norm_out.", "encoder.norm_out."}, {"encoder.conv_out.", "encoder.conv_out."},
    };
    const ig__ldm_names *n = ud;
    const int nb = n->n_blocks, L = n->layers_per_block;
    const char *p = key;
    char block[64];
    int i, j;
    if (renamed(src, "", key, top, N_OF(top))) return true;
    if (eat(&p, "decoder.mid_block.")) return vae_mid_key(n, "decoder.", p, src);
    if (eat(&p, "encoder.mid_block.")) return vae_mid_key(n, "encoder.", p, src);
    if (eat(&p, "encoder.down_blocks.")) {
        if (!num(&p, &i) || i >= nb) return false; /* LDM's encoder.down.i is diffusers' level i */
        if (eat(&p, "resnets.")) {
            if (!num(&p, &j) || j >= L) return false;
            snprintf(block, sizeof block, "encoder.down.%d.block.%d.", i, j);
            return renamed(src, block, p, vae_resnet, N_OF(vae_resnet));
        }
        if (eat(&p, "downsamplers.0.conv.")) return i < nb - 1 && put(src, "encoder.down.%d.downsample.conv.%s", i, p);
        return false;
    }
    if (eat(&p, "decoder.up_blocks.")) {
        if (!num(&p, &i) || i >= nb) return false;
        const int up = nb - 1 - i; /* LDM numbers the decoder's levels from the full resolution */
        if (eat(&p, "resnets.")) {
            if (!num(&p, &j) || j > L) return false;
            snprintf(block, sizeof block, "decoder.up.%d.block.%d.", up, j);
            return renamed(src, block, p, vae_resnet, N_OF(vae_resnet));
        }
        if (eat(&p, "upsamplers.0.conv.")) return i < nb - 1 && put(src, "decoder.up.%d.upsample.conv.%s", up, p);
        return false;
    }
    return false;
}

bool ig__ldm_openclip_key(void *ud, const char *key, ig_weights_src *src) {
    static const name_pair top[] = {
        {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
        {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
        {"text_model.final_layer_norm.", "ln_final."},
    };
    static const name_pair layer[] = {
        {"layer_norm1.", "ln_1."},   {"layer_norm2.", "ln_2."},     {"self_attn.out_proj.", "attn.out_proj."},
        {"mlp.fc1.", "mlp.c_fc."}, {"mlp.fc2.", "mlp.c_proj."},
    };
    static const char *const qkv[] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
    const ig__ldm_names *n = ud;
    const char *p = key;
    char block[64];
    int l;
    if (renamed(src, "", key, top, N_OF(top))) return true;
    if (!eat(&p, "text_model.encoder.layers.") || !num(&p, &l) || l >= n->text_layers) return false;
    snprintf(block, sizeof block, "transformer.resblocks.%d.", l);
    for (int k = 0; k < 3; k++) {
        const char *q = p;
        if (!eat(&q, qkv[k])) continue;
        /* nn.MultiheadAttention packs q|k|v as rows of in_proj_weight (3D, D) and in_proj_bias (3D) */
        src->row0 = (int64_t)k * n->text_hidden, src->n_rows = n->text_hidden;
        if (!strcmp(q, "weight")) return put(src, "%sattn.in_proj_weight", block);
        if (!strcmp(q, "bias")) return put(src, "%sattn.in_proj_bias", block);
        return false;
    }
    return renamed(src, block, p, layer, N_OF(layer));
}

bool ig__ldm_clip_flat_key(void *ud, const char *key, ig_weights_src *src) {
    const char *p = key;
    return eat(&p, "text_model.") && put(src, "%s", p);
}
