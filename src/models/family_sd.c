/* family_sd.c — the Stable Diffusion 1.x / 2.x description: every tensor of the text encoder (HF
 * CLIPTextModel), the UNet (UNet2DConditionModel) and the VAE (AutoencoderKL) that its configs
 * imply, walked in the order clip.c, unet.c, vae.c and blocks.c read them (the VAE encoder first,
 * as tools/make_random_model.c has always written it), each with its place in an original
 * single-file checkpoint. See family.h.
 *
 * The single-file names are the ones diffusers' scripts/convert_original_stable_diffusion_to_diffusers.py
 * (pipelines/stable_diffusion/convert_from_ckpt.py) maps from:
 *   UNet, with L = layers_per_block, level i, layer j:
 *     down_blocks.i.resnets.j / attentions.j  input_blocks.(1 + i(L+1) + j).0 / .1
 *     down_blocks.i.downsamplers.0.conv       input_blocks.(1 + i(L+1) + L).0.op
 *     mid_block.resnets.0 / attentions.0 / resnets.1   middle_block.0 / .1 / .2
 *     up_blocks.i.resnets.j / attentions.j    output_blocks.(i(L+1) + j).0 / .1   (j <= L)
 *     up_blocks.i.upsamplers.0.conv           output_blocks.(i(L+1) + L).1.conv, or .2.conv after a transformer
 *     resnet parts: norm1 in_layers.0, conv1 in_layers.2, time_emb_proj emb_layers.1, norm2
 *     out_layers.0, conv2 out_layers.3, conv_shortcut skip_connection;
 *     time_embedding.linear_1/2 time_embed.0/2, conv_in input_blocks.0.0, conv_norm_out out.0,
 *     conv_out out.2; inside a transformer the names are the same in both formats.
 *   VAE, nb levels: encoder.down_blocks.i = encoder.down.i, decoder.up_blocks.i = decoder.up.(nb-1-i)
 *     (LDM counts from the full resolution), resnets.j block.j, conv_shortcut nin_shortcut,
 *     down/upsamplers.0.conv downsample/upsample.conv, mid_block.resnets.0/1 mid.block_1/2,
 *     mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0} mid.attn_1.{norm,q,k,v,proj_out}
 *     (1x1 convs: (C, C, 1, 1) read as (C, C)), conv_norm_out norm_out; the rest unchanged.
 *   Text, SD 1.x: HF names under cond_stage_model.transformer. (old files: without "text_model.").
 *   Text, SD 2.x: OpenCLIP under cond_stage_model.model.: token_embedding.weight,
 *     positional_embedding, ln_final, transformer.resblocks.N.{ln_1, ln_2, attn.out_proj, mlp.c_fc,
 *     mlp.c_proj} for layers.N.{layer_norm1, layer_norm2, self_attn.out_proj, mlp.fc1, mlp.fc2}, and
 *     q_proj / k_proj / v_proj = rows [0, D) / [D, 2D) / [2D, 3D) of attn.in_proj_weight (3D, D) and
 *     in_proj_bias (3D) (torch.nn.MultiheadAttention's packing). The file has one resblock more
 *     than the list: SD 2.x conditions on the penultimate layer. */
#include "family.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Where a block lives in both formats: the diffusers prefix and the single-file one. */
typedef struct at {
    char hf[IG_FAM_KEY_LEN], ldm[IG_FAM_KEY_LEN];
} at;

typedef struct walk {
    ig_fam_list *l;
    bool oom, optional;
} walk;

__attribute__((format(printf, 3, 4))) static at sub(const at *a, const char *ldm, const char *hf_fmt, ...) {
    at r = *a; /* keys are far shorter than IG_FAM_KEY_LEN: the longest SD key has 70 characters */
    const size_t n = strlen(r.hf), m = strlen(r.ldm);
    va_list ap;
    va_start(ap, hf_fmt);
    vsnprintf(r.hf + n, sizeof r.hf - n, hf_fmt, ap);
    va_end(ap);
    snprintf(r.ldm + m, sizeof r.ldm - m, "%s", ldm);
    return r;
}

/* Both formats' names: sub's hf_fmt takes the arguments, ldm is literal. */
static at name2(const at *a, const char *hf, const char *ldm) { return sub(a, ldm, "%s", hf); }

static at root(const char *hf, const char *ldm) {
    at r;
    snprintf(r.hf, sizeof r.hf, "%s", hf);
    snprintf(r.ldm, sizeof r.ldm, "%s", ldm);
    return r;
}

/* One tensor `suffix` ("weight", "bias", ...) of block a; ldm_shape NULL: stored as it is. */
static void put(walk *w, const at *a, const char *suffix, ig_fam_role role, int n_dims, const int64_t *ne,
                int ldm_n_dims, const int64_t *ldm_ne, int64_t row0, int64_t n_rows) {
    ig_fam_tensor t = {.role = role, .optional = w->optional, .n_dims = n_dims, .ldm_row0 = row0, .ldm_n_rows = n_rows};
    snprintf(t.key, sizeof t.key, "%s%s", a->hf, suffix);
    snprintf(t.ldm_key, sizeof t.ldm_key, "%s%s", a->ldm, suffix);
    for (int i = 0; i < 4; i++) t.ne[i] = i < n_dims ? ne[i] : 1;
    if (!ldm_ne) ldm_n_dims = n_dims, ldm_ne = ne;
    t.ldm_n_dims = ldm_n_dims;
    for (int i = 0; i < 4; i++) t.ldm_ne[i] = i < ldm_n_dims ? ldm_ne[i] : 1;
    if (!w->oom && !ig__fam_add(w->l, &t)) w->oom = true;
}

static void conv(walk *w, const at *a, int cout, int cin, int r) {
    put(w, a, "weight", IG_FAM_WEIGHT, 4, (int64_t[]){cout, cin, r, r}, 0, NULL, 0, 0);
    put(w, a, "bias", IG_FAM_BIAS, 1, (int64_t[]){cout}, 0, NULL, 0, 0);
}

static void linear(walk *w, const at *a, int out, int in, bool bias) {
    put(w, a, "weight", IG_FAM_WEIGHT, 2, (int64_t[]){out, in}, 0, NULL, 0, 0);
    if (bias) put(w, a, "bias", IG_FAM_BIAS, 1, (int64_t[]){out}, 0, NULL, 0, 0);
}

/* A (C, C) linear the single file stores as a Conv2d(C, C, 1): (C, C, 1, 1), the same bytes. */
static void linear_1x1(walk *w, const at *a, int c) {
    put(w, a, "weight", IG_FAM_WEIGHT, 2, (int64_t[]){c, c}, 4, (int64_t[]){c, c, 1, 1}, 0, 0);
    put(w, a, "bias", IG_FAM_BIAS, 1, (int64_t[]){c}, 0, NULL, 0, 0);
}

/* Rows [k D, (k + 1) D) of a fused (3D, D) weight and (3D) bias. */
static void linear_rows(walk *w, const at *a, int d, int k) {
    const int64_t D = d;
    put(w, a, "weight", IG_FAM_WEIGHT, 2, (int64_t[]){D, D}, 2, (int64_t[]){3 * D, D}, k * D, D);
    put(w, a, "bias", IG_FAM_BIAS, 1, (int64_t[]){D}, 1, (int64_t[]){3 * D}, k * D, D);
}

static void norm(walk *w, const at *a, int c) {
    put(w, a, "weight", IG_FAM_NORM_SCALE, 1, (int64_t[]){c}, 0, NULL, 0, 0);
    put(w, a, "bias", IG_FAM_NORM_SHIFT, 1, (int64_t[]){c}, 0, NULL, 0, 0);
}

/* ResnetBlock2D (blocks.c ig_resnet_load); temb 0: the VAE's, whose single-file names are diffusers' */
static void resnet(walk *w, const at *p, int cin, int cout, int temb) {
    const bool u = temb > 0; /* the UNet's names differ in the single file */
    at a;
    a = name2(p, "norm1.", u ? "in_layers.0." : "norm1."), norm(w, &a, cin);
    a = name2(p, "conv1.", u ? "in_layers.2." : "conv1."), conv(w, &a, cout, cin, 3);
    if (u) a = name2(p, "time_emb_proj.", "emb_layers.1."), linear(w, &a, cout, temb, true);
    a = name2(p, "norm2.", u ? "out_layers.0." : "norm2."), norm(w, &a, cout);
    a = name2(p, "conv2.", u ? "out_layers.3." : "conv2."), conv(w, &a, cout, cout, 3);
    /* diffusers has a 1x1 conv_shortcut exactly when in != out channels */
    if (cin != cout) a = name2(p, "conv_shortcut.", u ? "skip_connection." : "nin_shortcut."), conv(w, &a, cout, cin, 1);
}

/* diffusers Attention in a transformer: to_q/k/v without bias, to_out.0 with one; same names in both formats */
static void attention(walk *w, const at *p, int c, int ctx) {
    at a;
    a = name2(p, "to_q.", "to_q."), linear(w, &a, c, c, false);
    a = name2(p, "to_k.", "to_k."), linear(w, &a, c, ctx, false);
    a = name2(p, "to_v.", "to_v."), linear(w, &a, c, ctx, false);
    a = name2(p, "to_out.0.", "to_out.0."), linear(w, &a, c, c, true);
}

/* Transformer2DModel with `depth` BasicTransformerBlocks (blocks.c ig_transformer_load); the same
 * names in both formats (SDXL's single files too) */
static void transformer(walk *w, const at *p, int c, int ctx, bool linear_proj, int depth) {
    at a = name2(p, "norm.", "norm."), b;
    norm(w, &a, c);
    a = name2(p, "proj_in.", "proj_in.");
    if (linear_proj) linear(w, &a, c, c, true);
    else conv(w, &a, c, c, 1);
    for (int k = 0; k < depth; k++) {
        char blk[40];
        snprintf(blk, sizeof blk, "transformer_blocks.%d.", k);
        b = name2(p, blk, blk);
        a = name2(&b, "attn1.", "attn1."), attention(w, &a, c, c);
        a = name2(&b, "attn2.", "attn2."), attention(w, &a, c, ctx);
        a = name2(&b, "norm1.", "norm1."), norm(w, &a, c);
        a = name2(&b, "norm2.", "norm2."), norm(w, &a, c);
        a = name2(&b, "norm3.", "norm3."), norm(w, &a, c);
        a = name2(&b, "ff.net.0.proj.", "ff.net.0.proj."), linear(w, &a, 8 * c, c, true); /* GEGLU: value | gate */
        a = name2(&b, "ff.net.2.", "ff.net.2."), linear(w, &a, c, 4 * c, true);
    }
    a = name2(p, "proj_out.", "proj_out.");
    if (linear_proj) linear(w, &a, c, c, true);
    else conv(w, &a, c, c, 1);
}

/* UNet2DConditionModel, walked as unet.c ig_unet_load walks it */
static void unet(walk *w, const ig_unet_config *u) {
    const int nb = u->n_blocks, L = u->layers_per_block, c0 = u->block_out[0], temb = 4 * c0, ctx = u->cross_attention_dim;
    const at top = root("", "");
    at a;
    a = name2(&top, "time_embedding.linear_1.", "time_embed.0."), linear(w, &a, temb, c0, true);
    a = name2(&top, "time_embedding.linear_2.", "time_embed.2."), linear(w, &a, temb, temb, true);
    if (u->add_time_dim > 0) { /* SDXL's text_time add_embedding: label_emb.0.0 / .2 in the single file */
        a = name2(&top, "add_embedding.linear_1.", "label_emb.0.0."), linear(w, &a, temb, u->add_in_dim, true);
        a = name2(&top, "add_embedding.linear_2.", "label_emb.0.2."), linear(w, &a, temb, temb, true);
    }
    a = name2(&top, "conv_in.", "input_blocks.0.0."), conv(w, &a, c0, u->in_channels, 3);
    char ldm[64];
    int out_ch = c0;
    for (int i = 0; i < nb; i++) {
        const int in_ch = out_ch, first = 1 + i * (L + 1); /* input_blocks index of the level's first layer */
        out_ch = u->block_out[i];
        for (int j = 0; j < L; j++) {
            snprintf(ldm, sizeof ldm, "input_blocks.%d.0.", first + j);
            a = sub(&top, ldm, "down_blocks.%d.resnets.%d.", i, j), resnet(w, &a, j ? out_ch : in_ch, out_ch, temb);
            if (u->down_attn[i]) {
                snprintf(ldm, sizeof ldm, "input_blocks.%d.1.", first + j);
                a = sub(&top, ldm, "down_blocks.%d.attentions.%d.", i, j);
                transformer(w, &a, out_ch, ctx, u->use_linear_projection, ig_unet_depth(u, i));
            }
        }
        if (i < nb - 1) {
            snprintf(ldm, sizeof ldm, "input_blocks.%d.0.op.", first + L);
            a = sub(&top, ldm, "down_blocks.%d.downsamplers.0.conv.", i), conv(w, &a, out_ch, out_ch, 3);
        }
    }
    const int cm = u->block_out[nb - 1];
    a = name2(&top, "mid_block.resnets.0.", "middle_block.0."), resnet(w, &a, cm, cm, temb);
    a = name2(&top, "mid_block.attentions.0.", "middle_block.1."), transformer(w, &a, cm, ctx, u->use_linear_projection, ig_unet_depth(u, nb - 1));
    a = name2(&top, "mid_block.resnets.1.", "middle_block.2."), resnet(w, &a, cm, cm, temb);
    int prev = cm;
    for (int i = 0; i < nb; i++) {
        const int rev = nb - 1 - i, up_out = u->block_out[rev], up_in = u->block_out[rev > 0 ? rev - 1 : 0];
        const int first = i * (L + 1); /* output_blocks index of the level's first layer */
        for (int j = 0; j < L + 1; j++) {
            const int skip = j == L ? up_in : up_out, res_in = j == 0 ? prev : up_out;
            snprintf(ldm, sizeof ldm, "output_blocks.%d.0.", first + j);
            a = sub(&top, ldm, "up_blocks.%d.resnets.%d.", i, j), resnet(w, &a, res_in + skip, up_out, temb);
            if (u->up_attn[i]) {
                snprintf(ldm, sizeof ldm, "output_blocks.%d.1.", first + j);
                a = sub(&top, ldm, "up_blocks.%d.attentions.%d.", i, j);
                transformer(w, &a, up_out, ctx, u->use_linear_projection, ig_unet_depth(u, rev));
            }
        }
        if (i < nb - 1) { /* after the last layer's resnet, and its transformer if any */
            snprintf(ldm, sizeof ldm, "output_blocks.%d.%d.conv.", first + L, u->up_attn[i] ? 2 : 1);
            a = sub(&top, ldm, "up_blocks.%d.upsamplers.0.conv.", i), conv(w, &a, up_out, up_out, 3);
        }
        prev = up_out;
    }
    a = name2(&top, "conv_norm_out.", "out.0."), norm(w, &a, c0);
    a = name2(&top, "conv_out.", "out.2."), conv(w, &a, u->out_channels, c0, 3);
}

/* The VAE mid block after "encoder." / "decoder.": resnet, single-head attention (group_norm, to_q/k/v/out
 * with biases; 1x1 convs in the single file), resnet */
static void vae_mid(walk *w, const at *half, int c, bool attention) {
    at a = name2(half, "mid_block.resnets.0.", "mid.block_1."), b;
    resnet(w, &a, c, c, 0);
    if (attention) {
        a = name2(half, "mid_block.attentions.0.", "mid.attn_1.");
        b = name2(&a, "group_norm.", "norm."), norm(w, &b, c);
        b = name2(&a, "to_q.", "q."), linear_1x1(w, &b, c);
        b = name2(&a, "to_k.", "k."), linear_1x1(w, &b, c);
        b = name2(&a, "to_v.", "v."), linear_1x1(w, &b, c);
        b = name2(&a, "to_out.0.", "proj_out."), linear_1x1(w, &b, c);
    }
    a = name2(half, "mid_block.resnets.1.", "mid.block_2."), resnet(w, &a, c, c, 0);
}

/* AutoencoderKL: the encoder and quant_conv (optional: img2img reads them), then the decoder as
 * vae.c loads it. */
static void vae(walk *w, const ig_vae_config *v) {
    const int nb = v->n_blocks, L = v->layers_per_block, top = v->block_out[nb - 1], zc = v->latent_channels;
    const at r = root("", ""), enc = root("encoder.", "encoder."), dec = root("decoder.", "decoder.");
    char ldm[64];
    at a;
    w->optional = true;
    a = name2(&enc, "conv_in.", "conv_in."), conv(w, &a, v->block_out[0], v->in_channels, 3);
    int prev = v->block_out[0];
    for (int i = 0; i < nb; i++) {
        const int out = v->block_out[i];
        for (int j = 0; j < L; j++) {
            snprintf(ldm, sizeof ldm, "down.%d.block.%d.", i, j);
            a = sub(&enc, ldm, "down_blocks.%d.resnets.%d.", i, j), resnet(w, &a, j ? out : prev, out, 0);
        }
        if (i < nb - 1) {
            snprintf(ldm, sizeof ldm, "down.%d.downsample.conv.", i);
            a = sub(&enc, ldm, "down_blocks.%d.downsamplers.0.conv.", i), conv(w, &a, out, out, 3);
        }
        prev = out;
    }
    vae_mid(w, &enc, top, v->mid_attention);
    a = name2(&enc, "conv_norm_out.", "norm_out."), norm(w, &a, top);
    a = name2(&enc, "conv_out.", "conv_out."), conv(w, &a, 2 * zc, top, 3); /* mean and logvar */
    if (v->quant_conv) a = name2(&r, "quant_conv.", "quant_conv."), conv(w, &a, 2 * zc, 2 * zc, 1);
    w->optional = false;

    if (v->post_quant_conv) a = name2(&r, "post_quant_conv.", "post_quant_conv."), conv(w, &a, zc, zc, 1);
    a = name2(&dec, "conv_in.", "conv_in."), conv(w, &a, top, zc, 3);
    vae_mid(w, &dec, top, v->mid_attention);
    prev = top;
    for (int i = 0; i < nb; i++) {
        const int out = v->block_out[nb - 1 - i], up = nb - 1 - i;
        for (int j = 0; j < L + 1; j++) {
            snprintf(ldm, sizeof ldm, "up.%d.block.%d.", up, j);
            a = sub(&dec, ldm, "up_blocks.%d.resnets.%d.", i, j), resnet(w, &a, j ? out : prev, out, 0);
        }
        if (i < nb - 1) {
            snprintf(ldm, sizeof ldm, "up.%d.upsample.conv.", up);
            a = sub(&dec, ldm, "up_blocks.%d.upsamplers.0.conv.", i), conv(w, &a, out, out, 3);
        }
        prev = out;
    }
    a = name2(&dec, "conv_norm_out.", "norm_out."), norm(w, &a, v->block_out[0]);
    a = name2(&dec, "conv_out.", "conv_out."), conv(w, &a, v->out_channels, v->block_out[0], 3);
}

/* HF CLIPTextModel(WithProjection) as clip.c loads it; the single file's names are HF's (SD 1.x, SDXL's
 * first encoder) or OpenCLIP's (SD 2.x, SDXL's second). OpenCLIP keeps the projection as a bare
 * (hidden, projection) parameter used as x @ text_projection: HF's (projection, hidden) Linear weight
 * transposed (ldm_transposed). */
static void text(walk *w, const ig_clip_config *c, bool openclip, bool flat) {
    const int D = c->hidden, F = c->intermediate;
    const at top = root("text_model.", openclip || flat ? "" : "text_model.");
    at a;
    a = name2(&top, "embeddings.token_embedding.", openclip ? "token_embedding." : "embeddings.token_embedding.");
    put(w, &a, "weight", IG_FAM_TOKEN_EMBEDDING, 2, (int64_t[]){c->vocab_size, D}, 0, NULL, 0, 0);
    if (openclip) { /* a bare parameter: "positional_embedding", no ".weight" */
        ig_fam_tensor t = {.role = IG_FAM_POSITION_EMBEDDING, .n_dims = 2, .ne = {c->max_positions, D, 1, 1},
                           .ldm_n_dims = 2, .ldm_ne = {c->max_positions, D, 1, 1}};
        snprintf(t.key, sizeof t.key, "text_model.embeddings.position_embedding.weight");
        snprintf(t.ldm_key, sizeof t.ldm_key, "positional_embedding");
        if (!w->oom && !ig__fam_add(w->l, &t)) w->oom = true;
    } else {
        a = name2(&top, "embeddings.position_embedding.", "embeddings.position_embedding.");
        put(w, &a, "weight", IG_FAM_POSITION_EMBEDDING, 2, (int64_t[]){c->max_positions, D}, 0, NULL, 0, 0);
    }
    char ldm[64];
    for (int i = 0; i < c->layers; i++) {
        snprintf(ldm, sizeof ldm, openclip ? "transformer.resblocks.%d." : "encoder.layers.%d.", i);
        const at p = sub(&top, ldm, "encoder.layers.%d.", i);
        a = name2(&p, "layer_norm1.", openclip ? "ln_1." : "layer_norm1."), norm(w, &a, D);
        static const char *const qkv[3] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
        for (int k = 0; k < 3; k++) {
            if (openclip) { /* nn.MultiheadAttention: attn.in_proj_weight / in_proj_bias hold q|k|v */
                a = name2(&p, qkv[k], "attn.in_proj_");
                linear_rows(w, &a, D, k);
            } else a = name2(&p, qkv[k], qkv[k]), linear(w, &a, D, D, true);
        }
        a = name2(&p, "self_attn.out_proj.", openclip ? "attn.out_proj." : "self_attn.out_proj."), linear(w, &a, D, D, true);
        a = name2(&p, "layer_norm2.", openclip ? "ln_2." : "layer_norm2."), norm(w, &a, D);
        a = name2(&p, "mlp.fc1.", openclip ? "mlp.c_fc." : "mlp.fc1."), linear(w, &a, F, D, true);
        a = name2(&p, "mlp.fc2.", openclip ? "mlp.c_proj." : "mlp.fc2."), linear(w, &a, D, F, true);
    }
    a = name2(&top, "final_layer_norm.", openclip ? "ln_final." : "final_layer_norm."), norm(w, &a, D);
    if (c->projection_dim > 0) {
        const int64_t P = c->projection_dim;
        ig_fam_tensor t = {.role = IG_FAM_WEIGHT, .n_dims = 2, .ne = {P, D, 1, 1}, .ldm_n_dims = 2,
                           .ldm_ne = {P, D, 1, 1}};
        snprintf(t.key, sizeof t.key, "text_projection.weight");
        if (openclip) {
            snprintf(t.ldm_key, sizeof t.ldm_key, "text_projection");
            t.ldm_ne[0] = D, t.ldm_ne[1] = P, t.ldm_transposed = true;
        } else snprintf(t.ldm_key, sizeof t.ldm_key, "text_projection.weight"); /* beside text_model. */
        if (!w->oom && !ig__fam_add(w->l, &t)) w->oom = true;
    }
}

bool ig__fam_walk_text(ig_fam_list *l, const ig_clip_config *c, ig_fam_text_names names) {
    walk w = {.l = l};
    text(&w, c, names == IG_FAM_NAMES_OPENCLIP, names == IG_FAM_NAMES_HF_FLAT);
    return !w.oom;
}

bool ig__fam_walk_unet(ig_fam_list *l, const ig_unet_config *u) {
    walk w = {.l = l};
    unet(&w, u);
    return !w.oom;
}

bool ig__fam_walk_vae(ig_fam_list *l, const ig_vae_config *v) {
    walk w = {.l = l};
    vae(&w, v);
    return !w.oom;
}

ig_status ig__fam_sd_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err) {
    const bool openclip = a->family == IG_FAMILY_SD2;
    walk w = {.l = out};
    out->part = p;
    switch (p) {
    case IG_FAM_TEXT:
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "%s",
                 openclip ? "cond_stage_model.model." : "cond_stage_model.transformer.");
        text(&w, &a->text, openclip, a->ldm_flat_text);
        break;
    case IG_FAM_UNET:
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "model.diffusion_model.");
        unet(&w, &a->unet);
        break;
    case IG_FAM_VAE:
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "first_stage_model.");
        vae(&w, &a->vae);
        break;
    default: return ig__fail(err, IG_ERR_INVALID, "no model part %d", (int)p);
    }
    if (w.oom) return ig__fail(err, IG_ERR_NOMEM, "out of memory listing the %s's tensors", ig_fam_part_name(p));
    return IG_OK;
}
