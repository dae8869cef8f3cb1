/* clip.h — the CLIP text encoder (HF CLIPTextModel: token + position embeddings, pre-LN transformer
 * layers with causal self-attention, final layer norm) that turns 77 token ids into the UNet's
 * context. Activations in the engine's dtype: bf16 where the engine runs bf16 (diffusers commonly runs
 * it in half precision), so its weights pack to bf16, half the memory of f32 (0.7 GB less for
 * OpenCLIP-H); the f32 engine (golden tests) computes it in f32. The output is f32. */
#ifndef IG_MODELS_CLIP_H
#define IG_MODELS_CLIP_H

#include "blocks.h"

#define IG_CLIP_MAX_LAYERS 32

typedef struct ig_clip_config {
    int vocab_size, max_positions, hidden, intermediate, heads, layers;
    ig_act act; /* quick_gelu (SD 1.x, OpenAI CLIP) or gelu (erf; SD 2.x, OpenCLIP) */
    float eps;
    int projection_dim; /* > 0: CLIPTextModelWithProjection (SDXL's text_encoder_2): text_projection.weight
                           (projection_dim, hidden), no bias; 0: CLIPTextModel */
} ig_clip_config;

typedef struct ig_clip_layer {
    ig_tensor ln1g, ln1b, ln2g, ln2b;
    ig_linear q, k, v, o, fc1, fc2;
} ig_clip_layer;

typedef struct ig_clip {
    ig_clip_config cfg;
    ig_tensor tok_emb, pos_emb, lnf_g, lnf_b;
    ig_tensor proj; /* (projection_dim, hidden) text_projection.weight, when cfg.projection_dim > 0 */
    ig_clip_layer layer[IG_CLIP_MAX_LAYERS];
} ig_clip;

/* Keys under "text_model." as HF CLIPTextModel stores them. */
ig_status ig_clip_load(ig_clip *c, const ig_clip_config *cfg, ig_weights *w, ig_err *err);
/* ids (B, T) int32 -> out (B, T, hidden) f32 plain: last_hidden_state (after the final layer norm). */
ig_status ig_clip_forward(ig_fw *f, ig_clip *c, const int32_t *ids, int B, int T, ig_tensor *out);
/* The states SDXL reads (diffusers StableDiffusionXLPipeline.encode_prompt): penult (B, T, hidden) f32
 * = hidden_states[-2], the output of the second-to-last layer before final_layer_norm; final (B, T,
 * hidden) f32 = last_hidden_state (after final_layer_norm), or NULL when not wanted. */
ig_status ig_clip_forward_states(ig_fw *f, ig_clip *c, const int32_t *ids, int B, int T, ig_tensor *penult,
                                 ig_tensor *final);
/* pooled (projection_dim) f32 = text_projection(final[eot]) where eot = argmax(ids) (transformers'
 * CLIPTextModelWithProjection with eos_token_id 2: the first id 49407); final (T, hidden) f32 host
 * memory, one row of ig_clip_forward_states. Host arithmetic in double (one vector, once a prompt). */
ig_status ig_clip_pool(const ig_clip *c, const int32_t *ids, int T, const float *final, float *pooled, ig_err *err);
void ig_clip_release(ig_engine *e, ig_clip *c);

#endif
