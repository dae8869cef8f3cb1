/* ops.h — every operation Stable Diffusion needs, one prototype each, shapes in the comment.
 *
 * Callers speak imagine tensors; ig_ops_* dispatch to the engine's backend (engine.h): "cpu"
 * (oneDNN for conv/matmul, our own vectorised norms, attention and elementwise ops) or "ref"
 * (cpu/ref.c, plain fp32 loops: the oracle the tests hold every fast path to).
 *
 * Conventions
 *  - Images are (N, C, H, W); fast paths are written for NHWC strides (tensor.h) and fall back to
 *    the reference for other layouts (correct, slow). The reference accepts any strides.
 *  - Token tensors are (B, T, C), contiguous. An NHWC image is the token tensor (N, H*W, C).
 *  - Elements are f32 or bf16 (activations); weights may also be f16. Arithmetic and
 *    accumulation are f32, reductions finished in double (short f32 partial sums first, at most
 *    16 terms, where that keeps a norm bandwidth-bound), results rounded to the output dtype.
 *  - Outputs never alias inputs unless a prototype says so.
 *  - Ops with weights (conv, linear) take a long-lived op object: the backend keeps the weights
 *    converted and reordered into its preferred layout, and its primitives per input shape, in a
 *    cache the engine holds for that object (engine.h; freed by ig_conv2d_release /
 *    ig_linear_release or ig_engine_free), so the sampling loop neither converts nor allocates.
 *    The op object itself stays plain data the backend never writes: two engines may run it.
 *  - Activations live in backend memory (an arena committed on the engine): models never write it
 *    themselves. Host data goes in with ig_op_upload and comes out with ig_op_download; everything
 *    else is an op. Weights (ig_conv2d.w, gamma, embedding tables) are read where they lie.
 */
#ifndef IG_OPS_H
#define IG_OPS_H

#include "../common.h"
#include "tensor.h"

typedef struct ig_engine ig_engine;

typedef enum ig_act {
    IG_ACT_NONE = 0,
    IG_ACT_SILU,       /* x * sigmoid(x) */
    IG_ACT_GELU_ERF,   /* 0.5 x (1 + erf(x / sqrt 2))            torch gelu(approximate='none') */
    IG_ACT_GELU_TANH,  /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))  approximate='tanh' */
    IG_ACT_QUICK_GELU, /* x * sigmoid(1.702 x)                    CLIP ViT-L (SD 1.x) */
    IG_ACT_RELU,       /* max(x, 0)                               TAESD */
    IG_ACT_TANH_CLAMP, /* 3 tanh(x / 3): a soft clamp to (-3, 3)  TAESD's decoder input (its Clamp module) */
} ig_act;
#define IG_ACT_LAST IG_ACT_TANH_CLAMP /* for tests that run every activation */

/* y = act(conv2d(x, w) + b) [+ res], or with act_after_res y = act(conv2d(x, w) + b + res) (TAESD's
 * Block: ReLU(conv(x) + skip(x))). w (K, C, R, R) as in the checkpoint, b (K) or data NULL.
 * x (N, C, H, W) -> y (N, K, Ho, Wo), res like y or data NULL. x is zero-padded by pad on every
 * side, plus pad_extra_b more rows below and pad_extra_r more columns right (0 for the symmetric
 * torch Conv2d; diffusers' Downsample2D(padding=0) pads F.pad(x, (0, 1, 0, 1)), i.e. pad 0 and
 * pad_extra_b = pad_extra_r = 1): Ho = (H + 2 pad + pad_extra_b - R) / stride + 1, and
 * Wo = (W + 2 pad + pad_extra_r - R) / stride + 1. res may be y itself (y += act(conv2d(x, w) + b); with act_after_res y = act(y + conv2d(x, w) + b)). */
typedef struct ig_conv2d {
    ig_tensor w, b;
    int stride, pad;
    int pad_extra_b, pad_extra_r;
    ig_act act;
    bool act_after_res; /* the residual joins before the activation (no effect without a residual) */
} ig_conv2d;

/* y = act(x w^T + b) [+ res] over the last dim. w (O, I) as in the checkpoint (torch Linear), b (O).
 * x (..., I) contiguous -> y (..., O) contiguous.
 * geglu: w holds 2F rows; y (..., F) = h * gelu_erf(g) with h = rows [0, F), g = rows [F, 2F)
 * of the product (diffusers GEGLU: hidden_states, gate = proj(x).chunk(2, -1)); act must be NONE. */
typedef struct ig_linear {
    ig_tensor w, b;
    ig_act act;
    bool geglu;
} ig_linear;

/* Release the engine's cache for an op object (accepts a zeroed object, and one never run). */
void ig_conv2d_release(ig_engine *e, ig_conv2d *op);
void ig_linear_release(ig_engine *e, ig_linear *op);

/* ---- moving data: the only way bytes enter or leave backend memory ---- */

/* Host memory -> backend tensor: dst = host, elementwise with dtype conversion (f32, bf16, f16 on
 * either side), same shape, any strides on either side (e.g. an NCHW f32 latent into an NHWC bf16
 * activation). */
ig_status ig_op_upload(ig_engine *e, const ig_tensor *host, ig_tensor *dst);
/* Backend tensor -> host memory: host = src, as ig_op_upload the other way. */
ig_status ig_op_download(ig_engine *e, const ig_tensor *src, ig_tensor *host);
/* dst = src between backend tensors, as ig_op_upload. src and dst may overlap only when they share
 * a dtype and a dense layout (ig_tensor_dense_alike: both NHWC, both contiguous, ...): then it is a
 * memmove (the VAE moves an activation down its arena). */
ig_status ig_op_copy(ig_engine *e, const ig_tensor *src, ig_tensor *dst);
/* y = value everywhere (any dtype, any strides). */
ig_status ig_op_fill(ig_engine *e, float value, ig_tensor *y);
/* Token + position embeddings (CLIP's text embeddings): out (B, T, D) contiguous f32 or bf16,
 * out[b, t, :] = table[ids[b T + t], :] + pos[t, :], summed in f32 and rounded once. table (V, D)
 * and pos (P, D), P >= T, weights (f32, bf16 or f16, any strides). ids: B*T token ids in host
 * memory; one outside [0, V) is IG_ERR_INVALID. */
ig_status ig_op_embedding(ig_engine *e, const ig_tensor *table, const int32_t *ids, const ig_tensor *pos,
                          ig_tensor *out);

/* ---- compute ---- */

ig_status ig_op_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);
ig_status ig_op_linear(ig_engine *e, ig_linear *op, const ig_tensor *x, const ig_tensor *res, ig_tensor *y);

/* Group norm over (C/G channels x H x W) per (n, group), then y = act(xhat * gamma[c] + beta[c]).
 * x, y (N, C, H, W); gamma, beta (C) f32; act NONE or SILU. Biased variance, eps inside the root
 * (torch). In place allowed (y == x). */
ig_status ig_op_group_norm(ig_engine *e, const ig_tensor *x, int n_groups, float eps, const ig_tensor *gamma,
                           const ig_tensor *beta, ig_act act, ig_tensor *y);

/* Layer norm over the last dim C: x, y (..., C); gamma, beta (C) f32 (data NULL: 1 and 0). In place allowed. */
ig_status ig_op_layer_norm(ig_engine *e, const ig_tensor *x, float eps, const ig_tensor *gamma,
                           const ig_tensor *beta, ig_tensor *y);

/* Softmax over the last dim, y = softmax(scale * x). In place allowed (y == x). */
ig_status ig_op_softmax(ig_engine *e, const ig_tensor *x, float scale, ig_tensor *y);

/* Multi-head scaled dot-product attention, heads packed in the channel dim (diffusers layout):
 * q (B, Tq, H*D), k and v (B, Tk, H*D), out (B, Tq, H*D); out_h = softmax(q_h k_h^T * scale) v_h.
 * causal: query i sees keys j <= i only (CLIP's text encoder; needs Tq == Tk).
 * Memory-bounded: never materialises more than a block of the score matrix per thread. */
ig_status ig_op_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                          float scale, bool causal, ig_tensor *out);

/* y = act(x), any shape, same layout for x and y. In place allowed. */
ig_status ig_op_act(ig_engine *e, ig_act act, const ig_tensor *x, ig_tensor *y);

/* y = a + b or a * b with b broadcast: b has a's n_dims and each b dim is a's or 1
 * (e.g. a (N, C, H, W) + b (N, C, 1, 1): a time embedding added per channel). In place (y == a) allowed. */
typedef enum ig_binary { IG_BIN_ADD = 0, IG_BIN_MUL } ig_binary;
ig_status ig_op_binary(ig_engine *e, ig_binary kind, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);

/* Nearest-neighbour 2x upsample: x (N, C, H, W) -> y (N, C, 2H, 2W). */
ig_status ig_op_upsample2x(ig_engine *e, const ig_tensor *x, ig_tensor *y);

/* y = conv2d(upsample2x(x)) for a 3x3, stride 1, pad 1 conv (diffusers' Upsample2D with use_conv):
 * x (N, C, H, W) -> y (N, K, 2H, 2W), bias and act as in ig_op_conv2d, no residual. The same
 * numbers without the upsampled tensor: each of the four output phases (row and column parity) sees
 * a 2x2 window of x, so a backend may run one 2x2 conv with the four phases' summed taps as 4K
 * output channels (16 multiply-adds per output and input channel instead of 36). */
ig_status ig_op_upsample_conv2d(ig_engine *e, ig_conv2d *op, const ig_tensor *x, ig_tensor *y);

/* Channel concat (UNet skip connections): a (N, Ca, H, W), b (N, Cb, H, W) -> y (N, Ca+Cb, H, W). */
ig_status ig_op_concat(ig_engine *e, const ig_tensor *a, const ig_tensor *b, ig_tensor *y);

/* Sinusoidal timestep embedding as diffusers get_timestep_embedding(t, dim, flip_sin_to_cos,
 * downscale_freq_shift, scale=1, max_period=10000): t (N) f32 -> y (N, dim) f32.
 * freq_i = exp(-ln(max_period) * i / (half - shift)), half = dim / 2; emb = [sin(t f), cos(t f)],
 * flipped to [cos, sin] when flip_sin_to_cos; an odd dim is zero-padded. */
ig_status ig_op_timestep_embedding(ig_engine *e, const ig_tensor *t, int dim, bool flip_sin_to_cos,
                                   float downscale_freq_shift, ig_tensor *y);

#endif
