/* blocks.h — the building blocks the UNet and the VAE share, as diffusers defines them:
 * ResnetBlock2D, Transformer2DModel with one BasicTransformerBlock (SD 1.x/2.x) or several (SDXL), and the
 * single-head VAE mid-block attention. Each block loads its weights by checkpoint key under a prefix
 * and runs on the engine, with activations (NHWC, the engine's dtype) from a per-generation arena.
 *
 * Arena discipline: a forward allocates its output first, then marks the arena, allocates its
 * temporaries and resets to the mark, so only outputs outlive a block. In a dry run (arena->dry)
 * nothing is computed: the same allocations are made so the arena learns its size. */
#ifndef IG_MODELS_BLOCKS_H
#define IG_MODELS_BLOCKS_H

#include "engine/arena.h"
#include "engine/engine.h"
#include "weights.h"

/* For the models' forward functions: return on failure (the engine's err holds the message), and
 * run an op only outside the dry run. */
#define IG_TRY(x)                                                                                  \
    do {                                                                                           \
        ig_status st_ = (x);                                                                       \
        if (st_ != IG_OK) return st_;                                                              \
    } while (0)
#define IG_OP(f, call)                                                                             \
    do {                                                                                           \
        if (!(f)->a->dry) IG_TRY(call);                                                            \
    } while (0)

typedef struct ig_fw {
    ig_engine *e;
    ig_arena *a;
    ig_dtype dt; /* activation dtype */
} ig_fw;

/* An arena tensor; fails (outside a dry run) when the arena is exhausted, i.e. the dry run missed it. */
ig_status ig__fw_nhwc(ig_fw *f, ig_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w);
ig_status ig__fw_plain(ig_fw *f, ig_tensor *t, int n_dims, const int64_t *ne);
/* The (N, H*W, C) token view of an NHWC image and back. */
ig_tensor ig__tokens(const ig_tensor *img);

typedef struct ig_resnet {
    int cin, cout, groups;
    float eps;
    ig_tensor n1g, n1b, n2g, n2b;
    ig_conv2d conv1, conv2, shortcut;
    bool has_shortcut, has_temb;
    ig_linear temb_proj;
} ig_resnet;

/* temb_dim 0: no time embedding (VAE). */
ig_status ig_resnet_load(ig_resnet *r, ig_weights *w, const char *prefix, int cin, int cout, int temb_dim, int groups,
                         float eps, ig_err *err);
/* out = conv2(silu(gn2(conv1(silu(gn1(x))) + temb_proj(temb_act)))) + shortcut(x); temb_act = silu(emb)
 * (N, temb_dim) or NULL. out is allocated here. */
ig_status ig_resnet_forward(ig_fw *f, ig_resnet *r, const ig_tensor *x, const ig_tensor *temb_act, ig_tensor *out);
/* x = the block of x, in x's memory (no new tensor outlives the call, and conv2 adds onto x with no copy
 * of it): only without a shortcut conv (cin == cout), for an x nothing else reads (the VAE's chain). */
ig_status ig_resnet_forward_inplace(ig_fw *f, ig_resnet *r, ig_tensor *x, const ig_tensor *temb_act);
/* As ig_resnet_forward, for an x nothing reads afterwards: x's memory serves as scratch (its contents are lost). */
ig_status ig_resnet_forward_consume(ig_fw *f, ig_resnet *r, ig_tensor *x, const ig_tensor *temb_act, ig_tensor *out);
void ig_resnet_release(ig_engine *e, ig_resnet *r);

typedef struct ig_attention { /* diffusers Attention: to_q/k/v (bias optional), to_out.0 (bias) */
    int heads, dim_head;
    ig_linear q, k, v, o;
} ig_attention;

/* SDXL's deepest blocks stack 10 BasicTransformerBlocks (transformer_layers_per_block) */
#define IG_TRANSFORMER_MAX_DEPTH 10

typedef struct ig_tblock { /* BasicTransformerBlock: transformer_blocks.k */
    ig_tensor n1g, n1b, n2g, n2b, n3g, n3b;
    ig_linear ff1, ff2;
    ig_attention attn1, attn2;
} ig_tblock;

typedef struct ig_transformer { /* Transformer2DModel: one BasicTransformerBlock in SD 1.x/2.x, depth in SDXL */
    int channels, groups, depth;
    bool linear_proj;
    ig_tensor norm_g, norm_b;
    ig_conv2d proj_in_conv, proj_out_conv;
    ig_linear proj_in, proj_out;
    ig_tblock blk[IG_TRANSFORMER_MAX_DEPTH];
} ig_transformer;

/* depth: transformer_blocks.0 .. depth-1, 1..IG_TRANSFORMER_MAX_DEPTH. */
ig_status ig_transformer_load(ig_transformer *t, ig_weights *w, const char *prefix, int channels, int heads,
                              int context_dim, int groups, bool linear_proj, int depth, ig_err *err);
/* out = x + proj_out(block(proj_in(gn(x)), context)); context (N, Tc, context_dim) in the act dtype. */
ig_status ig_transformer_forward(ig_fw *f, ig_transformer *t, const ig_tensor *x, const ig_tensor *context,
                                 ig_tensor *out);
void ig_transformer_release(ig_engine *e, ig_transformer *t);

typedef struct ig_vae_attn { /* VAE mid-block Attention: group norm, one head, residual */
    int channels, groups;
    float eps;
    ig_tensor norm_g, norm_b;
    ig_attention attn;
} ig_vae_attn;

ig_status ig_vae_attn_load(ig_vae_attn *v, ig_weights *w, const char *prefix, int channels, int groups, float eps,
                           ig_err *err);
ig_status ig_vae_attn_forward(ig_fw *f, ig_vae_attn *v, const ig_tensor *x, ig_tensor *out);
void ig_vae_attn_release(ig_engine *e, ig_vae_attn *v);

#endif
