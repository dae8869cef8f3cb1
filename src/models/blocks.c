/* blocks.c — ResnetBlock2D, Transformer2DModel (+ BasicTransformerBlock, Attention) and the VAE
 * attention, same structure and order as diffusers 0.30 (models/resnet.py, transformers/
 * transformer_2d.py, attention.py, attention_processor.py). See blocks.h for the arena discipline. */
#include "blocks.h"

#include <math.h>
#include <stdio.h>


ig_status ig__fw_nhwc(ig_fw *f, ig_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
    *t = ig_arena_nhwc(f->a, f->dt, n, c, h, w);
    if (!t->data && !f->a->dry)
        return ig__fail(&f->e->err, IG_ERR_NOMEM, "activation arena exhausted (the dry run sized it smaller)");
    return IG_OK;
}

ig_status ig__fw_plain(ig_fw *f, ig_tensor *t, int n_dims, const int64_t *ne) {
    *t = ig_arena_plain(f->a, f->dt, n_dims, ne);
    if (!t->data && !f->a->dry)
        return ig__fail(&f->e->err, IG_ERR_NOMEM, "activation arena exhausted (the dry run sized it smaller)");
    return IG_OK;
}

ig_tensor ig__tokens(const ig_tensor *img) {
    int64_t ne[3] = {img->ne[0], img->ne[2] * img->ne[3], img->ne[1]};
    return ig_tensor_plain(img->dtype, 3, ne, img->data);
}

static ig_status load_conv(ig_weights *w, ig_conv2d *c, const char *prefix, const char *name, int cout, int cin, int r,
                           int stride, int pad, ig_err *err) {
    int64_t ws[4] = {cout, cin, r, r}, bs[1] = {cout};
    IG_TRY(ig_weights_get(w, &c->w, 4, ws, err, "%s%s.weight", prefix, name));
    IG_TRY(ig_weights_get(w, &c->b, 1, bs, err, "%s%s.bias", prefix, name));
    c->stride = stride, c->pad = pad, c->act = IG_ACT_NONE;
    return IG_OK;
}

/* bias: 1 required, 0 absent, -1 optional (SD's to_q/k/v have none; some fine-tunes add them). */
static ig_status load_linear(ig_weights *w, ig_linear *l, const char *prefix, const char *name, int out, int in,
                             int bias, ig_err *err) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    IG_TRY(ig_weights_get(w, &l->w, 2, ws, err, "%s%s.weight", prefix, name));
    if (bias == 1 || (bias == -1 && ig_weights_has(w, "%s%s.bias", prefix, name)))
        IG_TRY(ig_weights_get(w, &l->b, 1, bs, err, "%s%s.bias", prefix, name));
    return IG_OK;
}

/* ---- ResnetBlock2D ---- */

ig_status ig_resnet_load(ig_resnet *r, ig_weights *w, const char *p, int cin, int cout, int temb_dim, int groups,
                         float eps, ig_err *err) {
    *r = (ig_resnet){.cin = cin, .cout = cout, .groups = groups, .eps = eps, .has_temb = temb_dim > 0};
    IG_TRY(ig_weights_vec(w, &r->n1g, cin, err, "%snorm1.weight", p));
    IG_TRY(ig_weights_vec(w, &r->n1b, cin, err, "%snorm1.bias", p));
    IG_TRY(ig_weights_vec(w, &r->n2g, cout, err, "%snorm2.weight", p));
    IG_TRY(ig_weights_vec(w, &r->n2b, cout, err, "%snorm2.bias", p));
    IG_TRY(load_conv(w, &r->conv1, p, "conv1", cout, cin, 3, 1, 1, err));
    IG_TRY(load_conv(w, &r->conv2, p, "conv2", cout, cout, 3, 1, 1, err));
    if (temb_dim > 0) IG_TRY(load_linear(w, &r->temb_proj, p, "time_emb_proj", cout, temb_dim, 1, err));
    /* diffusers uses a 1x1 conv_shortcut exactly when in != out channels */
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) IG_TRY(load_conv(w, &r->shortcut, p, "conv_shortcut", cout, cin, 1, 1, 0, err));
    return IG_OK;
}

/* The block into out, which is allocated already and may be x itself (no shortcut: conv2 adds onto x,
 * which nothing reads after gn1). consume: x's memory is scratch (nothing reads x afterwards), so with a
 * shortcut conv that runs first, into out, and gn1 normalises x in place: the block then holds x, out
 * and one temporary instead of x, out and two (SDXL's VAE at 1024x1024: 1.0 instead of 1.5 GiB). */
static ig_status resnet_run(ig_fw *f, ig_resnet *r, const ig_tensor *x, const ig_tensor *temb_act, ig_tensor *out,
                            bool consume) {
    ig_engine *e = f->e;
    const int64_t N = x->ne[0], H = x->ne[2], W = x->ne[3];
    const bool shortcut_first = consume && r->has_shortcut;
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor t1 = *x, t2; /* t1: silu(gn1(x)), in x's memory when shortcut_first */
    if (shortcut_first) {
        IG_OP(f, ig_op_conv2d(e, &r->shortcut, x, NULL, out));
    } else {
        IG_TRY(ig__fw_nhwc(f, &t1, N, IG_MAX(r->cin, r->cout), H, W));
        t1 = ig_tensor_nhwc(f->dt, N, r->cin, H, W, t1.data);
    }
    IG_TRY(ig__fw_nhwc(f, &t2, N, r->cout, H, W));
    IG_OP(f, ig_op_group_norm(e, x, r->groups, r->eps, &r->n1g, &r->n1b, IG_ACT_SILU, &t1));
    IG_OP(f, ig_op_conv2d(e, &r->conv1, &t1, NULL, &t2));
    if (r->has_temb && temb_act) {
        /* h += time_emb_proj(silu(temb))[:, :, None, None], f32 (N, cout) broadcast over H, W */
        int64_t ts[2] = {N, r->cout};
        ig_tensor tp = ig_arena_plain(f->a, IG_F32, 2, ts);
        if (!tp.data && !f->a->dry) return ig__fail(&e->err, IG_ERR_NOMEM, "activation arena exhausted");
        IG_OP(f, ig_op_linear(e, &r->temb_proj, temb_act, NULL, &tp));
        int64_t bs[4] = {N, r->cout, 1, 1};
        ig_tensor tb = ig_tensor_plain(IG_F32, 4, bs, tp.data);
        IG_OP(f, ig_op_binary(e, IG_BIN_ADD, &t2, &tb, &t2));
    }
    /* t1 is free again: gn2 writes into it, or in place when t1 is x's memory (it may be smaller) */
    ig_tensor t3 = shortcut_first ? t2 : ig_tensor_nhwc(f->dt, N, r->cout, H, W, t1.data);
    IG_OP(f, ig_op_group_norm(e, &t2, r->groups, r->eps, &r->n2g, &r->n2b, IG_ACT_SILU, &t3));
    /* output_scale_factor is 1 in SD: out = shortcut(x) + conv2(h), the add fused into conv2. With a
     * shortcut conv, its output goes straight to out and conv2 adds onto it in place (res == y): no
     * tensor for it and no copy of it. */
    const ig_tensor *skip = r->has_shortcut ? out : x;
    if (r->has_shortcut && !shortcut_first) IG_OP(f, ig_op_conv2d(e, &r->shortcut, x, NULL, out));
    IG_OP(f, ig_op_conv2d(e, &r->conv2, &t3, skip, out));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

ig_status ig_resnet_forward(ig_fw *f, ig_resnet *r, const ig_tensor *x, const ig_tensor *temb_act, ig_tensor *out) {
    IG_TRY(ig__fw_nhwc(f, out, x->ne[0], r->cout, x->ne[2], x->ne[3]));
    return resnet_run(f, r, x, temb_act, out, false);
}

ig_status ig_resnet_forward_consume(ig_fw *f, ig_resnet *r, ig_tensor *x, const ig_tensor *temb_act, ig_tensor *out) {
    IG_TRY(ig__fw_nhwc(f, out, x->ne[0], r->cout, x->ne[2], x->ne[3]));
    return resnet_run(f, r, x, temb_act, out, true);
}

ig_status ig_resnet_forward_inplace(ig_fw *f, ig_resnet *r, ig_tensor *x, const ig_tensor *temb_act) {
    if (r->has_shortcut)
        return ig__fail(&f->e->err, IG_ERR_INVALID, "resnet: %d -> %d channels cannot run in place", r->cin, r->cout);
    return resnet_run(f, r, x, temb_act, x, false);
}

void ig_resnet_release(ig_engine *e, ig_resnet *r) {
    ig_conv2d_release(e, &r->conv1);
    ig_conv2d_release(e, &r->conv2);
    ig_conv2d_release(e, &r->shortcut);
    ig_linear_release(e, &r->temb_proj);
}

/* ---- Attention ---- */

static ig_status attention_load(ig_attention *at, ig_weights *w, const char *p, int dim, int ctx_dim, int heads,
                                ig_err *err) {
    at->heads = heads;
    at->dim_head = dim / heads;
    if (dim % heads) return ig__fail(err, IG_ERR_INVALID, "%s: %d channels not divisible by %d heads", p, dim, heads);
    IG_TRY(load_linear(w, &at->q, p, "to_q", dim, dim, -1, err));
    IG_TRY(load_linear(w, &at->k, p, "to_k", dim, ctx_dim, -1, err));
    IG_TRY(load_linear(w, &at->v, p, "to_v", dim, ctx_dim, -1, err));
    IG_TRY(load_linear(w, &at->o, p, "to_out.0", dim, dim, 1, err));
    return IG_OK;
}

/* out = to_out(attention(to_q(x), to_k(ctx), to_v(ctx))) + res; x (N, T, C), ctx (N, Tc, Cc) or x. */
static ig_status attention_forward(ig_fw *f, ig_attention *at, const ig_tensor *x, const ig_tensor *ctx,
                                   const ig_tensor *res, ig_tensor *out) {
    ig_engine *e = f->e;
    const int64_t N = x->ne[0], T = x->ne[1], C = at->heads * at->dim_head, Tc = ctx->ne[1];
    const size_t mark = ig_arena_mark(f->a);
    int64_t qs[3] = {N, T, C}, ks[3] = {N, Tc, C};
    ig_tensor q, k, v, a;
    IG_TRY(ig__fw_plain(f, &q, 3, qs));
    IG_TRY(ig__fw_plain(f, &k, 3, ks));
    IG_TRY(ig__fw_plain(f, &v, 3, ks));
    IG_TRY(ig__fw_plain(f, &a, 3, qs));
    IG_OP(f, ig_op_linear(e, &at->q, x, NULL, &q));
    IG_OP(f, ig_op_linear(e, &at->k, ctx, NULL, &k));
    IG_OP(f, ig_op_linear(e, &at->v, ctx, NULL, &v));
    IG_OP(f, ig_op_attention(e, &q, &k, &v, at->heads, 1.0f / sqrtf((float)at->dim_head), false, &a));
    IG_OP(f, ig_op_linear(e, &at->o, &a, res, out));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

static void attention_release(ig_engine *e, ig_attention *at) {
    ig_linear_release(e, &at->q);
    ig_linear_release(e, &at->k);
    ig_linear_release(e, &at->v);
    ig_linear_release(e, &at->o);
}

/* ---- Transformer2DModel ---- */

ig_status ig_transformer_load(ig_transformer *t, ig_weights *w, const char *p, int C, int heads, int ctx_dim,
                              int groups, bool linear_proj, int depth, ig_err *err) {
    char b[320];
    *t = (ig_transformer){.channels = C, .groups = groups, .linear_proj = linear_proj, .depth = depth};
    if (depth < 1 || depth > IG_TRANSFORMER_MAX_DEPTH)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: %d transformer layers, 1 to %d are supported", p, depth,
                        IG_TRANSFORMER_MAX_DEPTH);
    IG_TRY(ig_weights_vec(w, &t->norm_g, C, err, "%snorm.weight", p));
    IG_TRY(ig_weights_vec(w, &t->norm_b, C, err, "%snorm.bias", p));
    if (linear_proj) {
        IG_TRY(load_linear(w, &t->proj_in, p, "proj_in", C, C, 1, err));
        IG_TRY(load_linear(w, &t->proj_out, p, "proj_out", C, C, 1, err));
    } else {
        IG_TRY(load_conv(w, &t->proj_in_conv, p, "proj_in", C, C, 1, 1, 0, err));
        IG_TRY(load_conv(w, &t->proj_out_conv, p, "proj_out", C, C, 1, 1, 0, err));
    }
    for (int k = 0; k < depth; k++) {
        ig_tblock *B = &t->blk[k];
        snprintf(b, sizeof b, "%stransformer_blocks.%d.", p, k);
        IG_TRY(ig_weights_vec(w, &B->n1g, C, err, "%snorm1.weight", b));
        IG_TRY(ig_weights_vec(w, &B->n1b, C, err, "%snorm1.bias", b));
        IG_TRY(ig_weights_vec(w, &B->n2g, C, err, "%snorm2.weight", b));
        IG_TRY(ig_weights_vec(w, &B->n2b, C, err, "%snorm2.bias", b));
        IG_TRY(ig_weights_vec(w, &B->n3g, C, err, "%snorm3.weight", b));
        IG_TRY(ig_weights_vec(w, &B->n3b, C, err, "%snorm3.bias", b));
        char a1[340], a2[340];
        snprintf(a1, sizeof a1, "%sattn1.", b);
        snprintf(a2, sizeof a2, "%sattn2.", b);
        IG_TRY(attention_load(&B->attn1, w, a1, C, C, heads, err));
        IG_TRY(attention_load(&B->attn2, w, a2, C, ctx_dim, heads, err));
        /* FeedForward: GEGLU C -> 2 * 4C (value | gate), then 4C -> C */
        IG_TRY(load_linear(w, &B->ff1, b, "ff.net.0.proj", 8 * C, C, 1, err));
        B->ff1.geglu = true;
        IG_TRY(load_linear(w, &B->ff2, b, "ff.net.2", C, 4 * C, 1, err));
    }
    return IG_OK;
}

ig_status ig_transformer_forward(ig_fw *f, ig_transformer *t, const ig_tensor *x, const ig_tensor *context,
                                 ig_tensor *out) {
    ig_engine *e = f->e;
    const int64_t N = x->ne[0], C = t->channels, H = x->ne[2], W = x->ne[3], T = H * W;
    IG_TRY(ig__fw_nhwc(f, out, N, C, H, W));
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor g, h0, h1, n, ffh;
    IG_TRY(ig__fw_nhwc(f, &g, N, C, H, W));
    IG_TRY(ig__fw_nhwc(f, &h0, N, C, H, W));
    IG_TRY(ig__fw_nhwc(f, &h1, N, C, H, W));
    IG_TRY(ig__fw_nhwc(f, &n, N, C, H, W));
    int64_t fs[3] = {N, T, 4 * C};
    IG_TRY(ig__fw_plain(f, &ffh, 3, fs));
    /* Transformer2DModel's group norm has eps 1e-6 */
    IG_OP(f, ig_op_group_norm(e, x, t->groups, 1e-6f, &t->norm_g, &t->norm_b, IG_ACT_NONE, &g));
    ig_tensor gt = ig__tokens(&g), h0t = ig__tokens(&h0), h1t = ig__tokens(&h1), nt = ig__tokens(&n);
    if (t->linear_proj) IG_OP(f, ig_op_linear(e, &t->proj_in, &gt, NULL, &h0t));
    else IG_OP(f, ig_op_conv2d(e, &t->proj_in_conv, &g, NULL, &h0));
    /* each BasicTransformerBlock takes hs[i] and leaves its output in hs[1 - i] (the next one's input):
     * h = attn1(norm1(h)) + h; h = attn2(norm2(h), ctx) + h; h = ff(norm3(h)) + h */
    ig_tensor hs[2] = {h0, h1}, ht[2] = {h0t, h1t};
    int i = 0;
    for (int k = 0; k < t->depth; k++, i = 1 - i) {
        ig_tblock *B = &t->blk[k];
        ig_tensor *a = &ht[i], *b = &ht[1 - i];
        IG_OP(f, ig_op_layer_norm(e, a, 1e-5f, &B->n1g, &B->n1b, &nt));
        IG_TRY(attention_forward(f, &B->attn1, &nt, &nt, a, b));
        IG_OP(f, ig_op_layer_norm(e, b, 1e-5f, &B->n2g, &B->n2b, &nt));
        IG_TRY(attention_forward(f, &B->attn2, &nt, context, b, a));
        IG_OP(f, ig_op_layer_norm(e, a, 1e-5f, &B->n3g, &B->n3b, &nt));
        IG_OP(f, ig_op_linear(e, &B->ff1, &nt, NULL, &ffh));
        IG_OP(f, ig_op_linear(e, &B->ff2, &ffh, a, b));
    }
    /* proj_out, plus the block's input */
    if (t->linear_proj) {
        ig_tensor xt = ig__tokens(x), ot = ig__tokens(out);
        IG_OP(f, ig_op_linear(e, &t->proj_out, &ht[i], &xt, &ot));
    } else {
        IG_OP(f, ig_op_conv2d(e, &t->proj_out_conv, &hs[i], x, out));
    }
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

void ig_transformer_release(ig_engine *e, ig_transformer *t) {
    ig_conv2d_release(e, &t->proj_in_conv);
    ig_conv2d_release(e, &t->proj_out_conv);
    ig_linear_release(e, &t->proj_in);
    ig_linear_release(e, &t->proj_out);
    for (int k = 0; k < IG_TRANSFORMER_MAX_DEPTH; k++) {
        ig_linear_release(e, &t->blk[k].ff1);
        ig_linear_release(e, &t->blk[k].ff2);
        attention_release(e, &t->blk[k].attn1);
        attention_release(e, &t->blk[k].attn2);
    }
}

/* ---- VAE attention (UNetMidBlock2D's Attention with group norm, one head, residual) ---- */

ig_status ig_vae_attn_load(ig_vae_attn *v, ig_weights *w, const char *p, int C, int groups, float eps, ig_err *err) {
    *v = (ig_vae_attn){.channels = C, .groups = groups, .eps = eps};
    IG_TRY(ig_weights_vec(w, &v->norm_g, C, err, "%sgroup_norm.weight", p));
    IG_TRY(ig_weights_vec(w, &v->norm_b, C, err, "%sgroup_norm.bias", p));
    v->attn.heads = 1, v->attn.dim_head = C;
    IG_TRY(load_linear(w, &v->attn.q, p, "to_q", C, C, 1, err));
    IG_TRY(load_linear(w, &v->attn.k, p, "to_k", C, C, 1, err));
    IG_TRY(load_linear(w, &v->attn.v, p, "to_v", C, C, 1, err));
    IG_TRY(load_linear(w, &v->attn.o, p, "to_out.0", C, C, 1, err));
    return IG_OK;
}

ig_status ig_vae_attn_forward(ig_fw *f, ig_vae_attn *v, const ig_tensor *x, ig_tensor *out) {
    const int64_t N = x->ne[0], C = v->channels, H = x->ne[2], W = x->ne[3];
    IG_TRY(ig__fw_nhwc(f, out, N, C, H, W));
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor g;
    IG_TRY(ig__fw_nhwc(f, &g, N, C, H, W));
    IG_OP(f, ig_op_group_norm(f->e, x, v->groups, v->eps, &v->norm_g, &v->norm_b, IG_ACT_NONE, &g));
    ig_tensor gt = ig__tokens(&g), xt = ig__tokens(x), ot = ig__tokens(out);
    /* residual_connection=True, rescale_output_factor=1: out = to_out(attn(gn(x))) + x */
    IG_TRY(attention_forward(f, &v->attn, &gt, &gt, &xt, &ot));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

void ig_vae_attn_release(ig_engine *e, ig_vae_attn *v) { attention_release(e, &v->attn); }
