/* unet.c — UNet2DConditionModel forward as diffusers 0.30 runs it (unets/unet_2d_condition.py,
 * unet_2d_blocks.py): time embedding, conv_in, down blocks pushing skips, mid block, up blocks
 * concatenating skips, norm + SiLU + conv_out. Activations are NHWC in the engine's dtype. */
#include "unet.h"

#include <stdio.h>


static ig_status load_conv(ig_weights *w, ig_conv2d *c, const char *name, int cout, int cin, int r, int stride,
                           ig_err *err) {
    int64_t ws[4] = {cout, cin, r, r}, bs[1] = {cout};
    IG_TRY(ig_weights_get(w, &c->w, 4, ws, err, "%s.weight", name));
    IG_TRY(ig_weights_get(w, &c->b, 1, bs, err, "%s.bias", name));
    c->stride = stride, c->pad = r / 2;
    return IG_OK;
}

ig_status ig_unet_load(ig_unet *u, const ig_unet_config *cfg, ig_weights *w, ig_err *err) {
    *u = (ig_unet){.cfg = *cfg};
    const int nb = cfg->n_blocks, L = cfg->layers_per_block, G = cfg->norm_groups;
    const float eps = cfg->norm_eps;
    if (nb < 1 || nb > IG_UNET_MAX_BLOCKS || L < 1 || L + 1 > IG_UNET_MAX_LAYERS)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "unet: %d blocks of %d layers is not a supported layout", nb, L);
    const int c0 = cfg->block_out[0];
    u->temb_dim = 4 * c0;
    int64_t t1[2] = {u->temb_dim, c0}, t2[2] = {u->temb_dim, u->temb_dim}, tb[1] = {u->temb_dim};
    IG_TRY(ig_weights_get(w, &u->time1.w, 2, t1, err, "time_embedding.linear_1.weight"));
    IG_TRY(ig_weights_get(w, &u->time1.b, 1, tb, err, "time_embedding.linear_1.bias"));
    IG_TRY(ig_weights_get(w, &u->time2.w, 2, t2, err, "time_embedding.linear_2.weight"));
    IG_TRY(ig_weights_get(w, &u->time2.b, 1, tb, err, "time_embedding.linear_2.bias"));
    u->time1.act = IG_ACT_SILU;
    if (cfg->add_time_dim > 0) { /* TimestepEmbedding(add_in_dim, temb): linear_1, SiLU, linear_2 */
        if (ig_unet_text_embeds_dim(cfg) < 1)
            return ig__fail(err, IG_ERR_INVALID, "unet: projection_class_embeddings_input_dim %d leaves no room for "
                            "the text embeds beside %d time ids of %d", cfg->add_in_dim, IG_UNET_TIME_IDS,
                            cfg->add_time_dim);
        int64_t a1[2] = {u->temb_dim, cfg->add_in_dim};
        IG_TRY(ig_weights_get(w, &u->add1.w, 2, a1, err, "add_embedding.linear_1.weight"));
        IG_TRY(ig_weights_get(w, &u->add1.b, 1, tb, err, "add_embedding.linear_1.bias"));
        IG_TRY(ig_weights_get(w, &u->add2.w, 2, t2, err, "add_embedding.linear_2.weight"));
        IG_TRY(ig_weights_get(w, &u->add2.b, 1, tb, err, "add_embedding.linear_2.bias"));
        u->add1.act = IG_ACT_SILU;
    }
    IG_TRY(load_conv(w, &u->conv_in, "conv_in", c0, cfg->in_channels, 3, 1, err));

    char p[160];
    int out_ch = c0;
    for (int i = 0; i < nb; i++) {
        const int in_ch = out_ch;
        out_ch = cfg->block_out[i];
        ig_unet_level *lv = &u->down[i];
        lv->has_attn = cfg->down_attn[i];
        for (int j = 0; j < L; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d.", i, j);
            IG_TRY(ig_resnet_load(&lv->res[j], w, p, j ? out_ch : in_ch, out_ch, u->temb_dim, G, eps, err));
            if (lv->has_attn) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d.", i, j);
                IG_TRY(ig_transformer_load(&lv->attn[j], w, p, out_ch, cfg->heads[i], cfg->cross_attention_dim, G,
                                           cfg->use_linear_projection, ig_unet_depth(cfg, i), err));
            }
        }
        lv->has_sample = i < nb - 1;
        if (lv->has_sample) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            IG_TRY(load_conv(w, &lv->sample, p, out_ch, out_ch, 3, 2, err));
        }
    }

    const int cm = cfg->block_out[nb - 1];
    IG_TRY(ig_resnet_load(&u->mid_res[0], w, "mid_block.resnets.0.", cm, cm, u->temb_dim, G, eps, err));
    IG_TRY(ig_transformer_load(&u->mid_attn, w, "mid_block.attentions.0.", cm, cfg->heads[nb - 1],
                               cfg->cross_attention_dim, G, cfg->use_linear_projection, ig_unet_depth(cfg, nb - 1),
                               err));
    IG_TRY(ig_resnet_load(&u->mid_res[1], w, "mid_block.resnets.1.", cm, cm, u->temb_dim, G, eps, err));

    /* up blocks walk the channels in reverse; block i's resnet j takes the previous output plus a skip */
    int prev_out = cm;
    for (int i = 0; i < nb; i++) {
        const int rev = nb - 1 - i;
        const int up_out = cfg->block_out[rev], up_in = cfg->block_out[rev > 0 ? rev - 1 : 0];
        ig_unet_level *lv = &u->up[i];
        lv->has_attn = cfg->up_attn[i];
        for (int j = 0; j < L + 1; j++) {
            const int skip_ch = j == L ? up_in : up_out, res_in = j == 0 ? prev_out : up_out;
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d.", i, j);
            IG_TRY(ig_resnet_load(&lv->res[j], w, p, res_in + skip_ch, up_out, u->temb_dim, G, eps, err));
            if (lv->has_attn) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d.", i, j);
                IG_TRY(ig_transformer_load(&lv->attn[j], w, p, up_out, cfg->heads[rev], cfg->cross_attention_dim, G,
                                           cfg->use_linear_projection, ig_unet_depth(cfg, rev), err));
            }
        }
        lv->has_sample = i < nb - 1;
        if (lv->has_sample) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            IG_TRY(load_conv(w, &lv->sample, p, up_out, up_out, 3, 1, err));
        }
        prev_out = up_out;
    }
    IG_TRY(ig_weights_vec(w, &u->norm_out_g, c0, err, "conv_norm_out.weight"));
    IG_TRY(ig_weights_vec(w, &u->norm_out_b, c0, err, "conv_norm_out.bias"));
    IG_TRY(load_conv(w, &u->conv_out, "conv_out", cfg->out_channels, c0, 3, 1, err));
    return IG_OK;
}

ig_status ig_unet_forward(ig_fw *f, ig_unet *u, const ig_tensor *sample, float t, const ig_tensor *context,
                          ig_tensor *out) {
    return ig_unet_forward_cond(f, u, sample, t, context, NULL, out);
}

/* aug_emb = add_embedding(cat(text_embeds, add_time_proj(time_ids.flatten()).reshape(N, -1))) and
 * emb = emb + aug_emb (diffusers UNet2DConditionModel.get_aug_embed, "text_time"), f32. */
static ig_status add_text_time(ig_fw *f, ig_unet *u, const ig_unet_added *ad, int64_t N, ig_tensor *emb) {
    ig_engine *e = f->e;
    const ig_unet_config *cfg = &u->cfg;
    const int64_t P = ig_unet_text_embeds_dim(cfg), K = IG_UNET_TIME_IDS, A = cfg->add_time_dim;
    int64_t ids_s[1] = {N * K}, tp_s[2] = {N * K, A}, te_s[2] = {N, P}, in_s[2] = {N, cfg->add_in_dim};
    int64_t h_s[2] = {N, u->temb_dim};
    ig_tensor ids = ig_arena_plain(f->a, IG_F32, 1, ids_s), tp = ig_arena_plain(f->a, IG_F32, 2, tp_s);
    ig_tensor te = ig_arena_plain(f->a, IG_F32, 2, te_s), in = ig_arena_plain(f->a, IG_F32, 2, in_s);
    ig_tensor h = ig_arena_plain(f->a, IG_F32, 2, h_s), aug = ig_arena_plain(f->a, IG_F32, 2, h_s);
    if (!f->a->dry && (!ids.data || !tp.data || !te.data || !in.data || !h.data || !aug.data))
        return ig__fail(&e->err, IG_ERR_NOMEM, "activation arena exhausted");
    if (f->a->dry) return IG_OK;
    ig_tensor ids_h = ig_tensor_plain(IG_F32, 1, ids_s, (void *)ad->time_ids);
    ig_tensor te_h = ig_tensor_plain(IG_F32, 2, te_s, (void *)ad->text_embeds);
    IG_TRY(ig_op_upload(e, &ids_h, &ids));
    IG_TRY(ig_op_upload(e, &te_h, &te));
    IG_TRY(ig_op_timestep_embedding(e, &ids, (int)A, cfg->flip_sin_to_cos, cfg->freq_shift, &tp));
    /* (N, P) and (N, K A) side by side: channel concat of (N, C, 1, 1) images, the same bytes */
    ig_tensor a4 = ig_tensor_nhwc(IG_F32, N, P, 1, 1, te.data), b4 = ig_tensor_nhwc(IG_F32, N, K * A, 1, 1, tp.data);
    ig_tensor y4 = ig_tensor_nhwc(IG_F32, N, cfg->add_in_dim, 1, 1, in.data);
    IG_TRY(ig_op_concat(e, &a4, &b4, &y4));
    IG_TRY(ig_op_linear(e, &u->add1, &in, NULL, &h));
    IG_TRY(ig_op_linear(e, &u->add2, &h, NULL, &aug));
    if (ad->add_in) {
        ig_tensor o = ig_tensor_plain(IG_F32, 2, in_s, ad->add_in);
        IG_TRY(ig_op_download(e, &in, &o));
    }
    if (ad->aug) {
        ig_tensor o = ig_tensor_plain(IG_F32, 2, h_s, ad->aug);
        IG_TRY(ig_op_download(e, &aug, &o));
    }
    return ig_op_binary(e, IG_BIN_ADD, emb, &aug, emb); /* emb = emb + aug_emb */
}

ig_status ig_unet_forward_cond(ig_fw *f, ig_unet *u, const ig_tensor *sample, float t, const ig_tensor *context,
                               const ig_unet_added *added, ig_tensor *out) {
    ig_engine *e = f->e;
    if ((u->cfg.add_time_dim > 0) != (added != NULL && added->text_embeds && added->time_ids))
        return ig__fail(&e->err, IG_ERR_INVALID, u->cfg.add_time_dim > 0 ? "unet: this UNet needs text embeds and time "
                        "ids (addition_embed_type text_time)" : "unet: added conditions given to a UNet without them");
    const ig_unet_config *cfg = &u->cfg;
    const int64_t N = sample->ne[0];
    int64_t H = sample->ne[2], W = sample->ne[3];
    const int nb = cfg->n_blocks, L = cfg->layers_per_block;
    const int64_t min_div = (int64_t)1 << (nb - 1);
    if (H % min_div || W % min_div)
        return ig__fail(&e->err, IG_ERR_INVALID, "unet: latent %lldx%lld is not a multiple of %lld", (long long)H,
                        (long long)W, (long long)min_div);
    const size_t mark = ig_arena_mark(f->a);

    /* time embedding in f32: linear_2(silu(linear_1(sinusoid(t)))), then silu once for every resnet */
    int64_t ts[1] = {N}, es[2] = {N, cfg->block_out[0]}, ms[2] = {N, u->temb_dim};
    ig_tensor tt = ig_arena_plain(f->a, IG_F32, 1, ts), sin_emb = ig_arena_plain(f->a, IG_F32, 2, es);
    ig_tensor h1 = ig_arena_plain(f->a, IG_F32, 2, ms), emb = ig_arena_plain(f->a, IG_F32, 2, ms);
    if (!f->a->dry && (!tt.data || !sin_emb.data || !h1.data || !emb.data))
        return ig__fail(&e->err, IG_ERR_NOMEM, "activation arena exhausted");
    IG_OP(f, ig_op_fill(e, t, &tt)); /* one timestep for the whole batch */
    IG_OP(f, ig_op_timestep_embedding(e, &tt, cfg->block_out[0], cfg->flip_sin_to_cos, cfg->freq_shift, &sin_emb));
    IG_OP(f, ig_op_linear(e, &u->time1, &sin_emb, NULL, &h1));
    IG_OP(f, ig_op_linear(e, &u->time2, &h1, NULL, &emb));
    if (u->cfg.add_time_dim > 0) IG_TRY(add_text_time(f, u, added, N, &emb));
    IG_OP(f, ig_op_act(e, IG_ACT_SILU, &emb, &emb));

    ig_tensor x, y, skips[IG_UNET_MAX_BLOCKS * (IG_UNET_MAX_LAYERS + 1) + 1], in;
    int n_skips = 0;
    IG_TRY(ig__fw_nhwc(f, &in, N, cfg->in_channels, H, W));
    IG_OP(f, ig_op_upload(e, sample, &in));
    IG_TRY(ig__fw_nhwc(f, &x, N, cfg->block_out[0], H, W));
    IG_OP(f, ig_op_conv2d(e, &u->conv_in, &in, NULL, &x));
    skips[n_skips++] = x;

    for (int i = 0; i < nb; i++) {
        ig_unet_level *lv = &u->down[i];
        for (int j = 0; j < L; j++) {
            IG_TRY(ig_resnet_forward(f, &lv->res[j], &x, &emb, &y));
            x = y;
            if (lv->has_attn) {
                IG_TRY(ig_transformer_forward(f, &lv->attn[j], &x, context, &y));
                x = y;
            }
            skips[n_skips++] = x;
        }
        if (lv->has_sample) {
            H /= 2, W /= 2;
            IG_TRY(ig__fw_nhwc(f, &y, N, x.ne[1], H, W));
            IG_OP(f, ig_op_conv2d(e, &lv->sample, &x, NULL, &y));
            x = y;
            skips[n_skips++] = x;
        }
    }

    IG_TRY(ig_resnet_forward(f, &u->mid_res[0], &x, &emb, &y));
    x = y;
    IG_TRY(ig_transformer_forward(f, &u->mid_attn, &x, context, &y));
    x = y;
    IG_TRY(ig_resnet_forward(f, &u->mid_res[1], &x, &emb, &y));
    x = y;

    for (int i = 0; i < nb; i++) {
        ig_unet_level *lv = &u->up[i];
        for (int j = 0; j < L + 1; j++) {
            const ig_tensor *s = &skips[--n_skips];
            ig_tensor cat;
            IG_TRY(ig__fw_nhwc(f, &cat, N, x.ne[1] + s->ne[1], H, W));
            IG_OP(f, ig_op_concat(e, &x, s, &cat)); /* torch.cat([hidden_states, res_hidden_states], dim=1) */
            IG_TRY(ig_resnet_forward(f, &lv->res[j], &cat, &emb, &y));
            x = y;
            if (lv->has_attn) {
                IG_TRY(ig_transformer_forward(f, &lv->attn[j], &x, context, &y));
                x = y;
            }
        }
        if (lv->has_sample) { /* Upsample2D: nearest 2x, then the 3x3 conv, as one op (ops.h) */
            H *= 2, W *= 2;
            IG_TRY(ig__fw_nhwc(f, &y, N, x.ne[1], H, W));
            IG_OP(f, ig_op_upsample_conv2d(e, &lv->sample, &x, &y));
            x = y;
        }
    }

    ig_tensor g, o;
    IG_TRY(ig__fw_nhwc(f, &g, N, x.ne[1], H, W));
    IG_OP(f, ig_op_group_norm(e, &x, cfg->norm_groups, cfg->norm_eps, &u->norm_out_g, &u->norm_out_b, IG_ACT_SILU, &g));
    IG_TRY(ig__fw_nhwc(f, &o, N, cfg->out_channels, H, W));
    IG_OP(f, ig_op_conv2d(e, &u->conv_out, &g, NULL, &o));
    IG_OP(f, ig_op_download(e, &o, out));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

static void level_release(ig_engine *e, ig_unet_level *lv) {
    for (int j = 0; j < IG_UNET_MAX_LAYERS; j++) {
        ig_resnet_release(e, &lv->res[j]);
        ig_transformer_release(e, &lv->attn[j]);
    }
    ig_conv2d_release(e, &lv->sample);
}

void ig_unet_release(ig_engine *e, ig_unet *u) {
    if (!u) return;
    ig_linear_release(e, &u->time1);
    ig_linear_release(e, &u->time2);
    ig_linear_release(e, &u->add1);
    ig_linear_release(e, &u->add2);
    ig_conv2d_release(e, &u->conv_in);
    ig_conv2d_release(e, &u->conv_out);
    for (int i = 0; i < IG_UNET_MAX_BLOCKS; i++) {
        level_release(e, &u->down[i]);
        level_release(e, &u->up[i]);
    }
    ig_resnet_release(e, &u->mid_res[0]);
    ig_resnet_release(e, &u->mid_res[1]);
    ig_transformer_release(e, &u->mid_attn);
}
