/* clip.c — HF CLIPTextModel forward (transformers models/clip/modeling_clip.py): embeddings, then per
 * layer x += out_proj(causal_attn(ln1(x))) and x += fc2(act(fc1(ln2(x)))), then final_layer_norm,
 * which writes the caller's f32 output; SDXL's
 * readers take the penultimate state and the pooled projection (ig_clip_forward_states, ig_clip_pool). Activations in the engine's dtype (see clip.h). */
#include "clip.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


static ig_status lin(ig_weights *w, ig_linear *l, int i, const char *name, int out, int in, ig_err *err) {
    int64_t ws[2] = {out, in}, bs[1] = {out};
    IG_TRY(ig_weights_get(w, &l->w, 2, ws, err, "text_model.encoder.layers.%d.%s.weight", i, name));
    IG_TRY(ig_weights_get(w, &l->b, 1, bs, err, "text_model.encoder.layers.%d.%s.bias", i, name));
    return IG_OK;
}

ig_status ig_clip_load(ig_clip *c, const ig_clip_config *cfg, ig_weights *w, ig_err *err) {
    *c = (ig_clip){.cfg = *cfg};
    const int D = cfg->hidden, F = cfg->intermediate;
    if (cfg->layers < 1 || cfg->layers > IG_CLIP_MAX_LAYERS || cfg->heads < 1 || D % cfg->heads)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "text encoder: %d layers of %d heads over %d channels is not supported",
                        cfg->layers, cfg->heads, D);
    int64_t te[2] = {cfg->vocab_size, D}, pe[2] = {cfg->max_positions, D};
    IG_TRY(ig_weights_get(w, &c->tok_emb, 2, te, err, "text_model.embeddings.token_embedding.weight"));
    IG_TRY(ig_weights_get(w, &c->pos_emb, 2, pe, err, "text_model.embeddings.position_embedding.weight"));
    for (int i = 0; i < cfg->layers; i++) {
        ig_clip_layer *L = &c->layer[i];
        IG_TRY(ig_weights_vec(w, &L->ln1g, D, err, "text_model.encoder.layers.%d.layer_norm1.weight", i));
        IG_TRY(ig_weights_vec(w, &L->ln1b, D, err, "text_model.encoder.layers.%d.layer_norm1.bias", i));
        IG_TRY(ig_weights_vec(w, &L->ln2g, D, err, "text_model.encoder.layers.%d.layer_norm2.weight", i));
        IG_TRY(ig_weights_vec(w, &L->ln2b, D, err, "text_model.encoder.layers.%d.layer_norm2.bias", i));
        IG_TRY(lin(w, &L->q, i, "self_attn.q_proj", D, D, err));
        IG_TRY(lin(w, &L->k, i, "self_attn.k_proj", D, D, err));
        IG_TRY(lin(w, &L->v, i, "self_attn.v_proj", D, D, err));
        IG_TRY(lin(w, &L->o, i, "self_attn.out_proj", D, D, err));
        IG_TRY(lin(w, &L->fc1, i, "mlp.fc1", F, D, err));
        IG_TRY(lin(w, &L->fc2, i, "mlp.fc2", D, F, err));
        L->fc1.act = cfg->act;
    }
    IG_TRY(ig_weights_vec(w, &c->lnf_g, D, err, "text_model.final_layer_norm.weight"));
    IG_TRY(ig_weights_vec(w, &c->lnf_b, D, err, "text_model.final_layer_norm.bias"));
    if (cfg->projection_dim > 0) { /* CLIPTextModelWithProjection: nn.Linear(hidden, projection_dim, bias=False) */
        int64_t ps[2] = {cfg->projection_dim, D};
        IG_TRY(ig_weights_get(w, &c->proj, 2, ps, err, "text_projection.weight"));
    }
    return IG_OK;
}

static ig_status act_plain(ig_fw *f, ig_tensor *t, int n_dims, const int64_t *ne) {
    *t = ig_arena_plain(f->a, f->dt, n_dims, ne);
    if (!t->data && !f->a->dry) return ig__fail(&f->e->err, IG_ERR_NOMEM, "activation arena exhausted");
    return IG_OK;
}

/* The layers [0, n_layers), then (when lnf) final_layer_norm; the last state is downloaded to out. */
static ig_status run_layers(ig_fw *f, ig_clip *c, const int32_t *ids, int B, int T, int n_layers, ig_tensor *penult,
                            ig_tensor *final) {
    ig_engine *e = f->e;
    const ig_clip_config *cfg = &c->cfg;
    const int64_t D = cfg->hidden;
    if (T > cfg->max_positions)
        return ig__fail(&e->err, IG_ERR_INVALID, "text encoder: %d tokens, at most %d", T, cfg->max_positions);
    const size_t mark = ig_arena_mark(f->a);
    int64_t xs[3] = {B, T, D}, hs[3] = {B, T, cfg->intermediate};
    ig_tensor x, y, n, q, k, v, a, h;
    IG_TRY(act_plain(f, &x, 3, xs));
    IG_TRY(act_plain(f, &y, 3, xs));
    IG_TRY(act_plain(f, &n, 3, xs));
    IG_TRY(act_plain(f, &q, 3, xs));
    IG_TRY(act_plain(f, &k, 3, xs));
    IG_TRY(act_plain(f, &v, 3, xs));
    IG_TRY(act_plain(f, &a, 3, xs));
    IG_TRY(act_plain(f, &h, 3, hs));
    /* embeddings: token_embedding[id] + position_embedding[position] */
    IG_OP(f, ig_op_embedding(e, &c->tok_emb, ids, &c->pos_emb, &x));
    const float scale = 1.0f / sqrtf((float)(D / cfg->heads));
    for (int i = 0; i < n_layers; i++) {
        ig_clip_layer *L = &c->layer[i];
        if (penult && i == cfg->layers - 1) IG_OP(f, ig_op_download(e, &x, penult)); /* hidden_states[-2] */
        IG_OP(f, ig_op_layer_norm(e, &x, cfg->eps, &L->ln1g, &L->ln1b, &n));
        IG_OP(f, ig_op_linear(e, &L->q, &n, NULL, &q));
        IG_OP(f, ig_op_linear(e, &L->k, &n, NULL, &k));
        IG_OP(f, ig_op_linear(e, &L->v, &n, NULL, &v));
        IG_OP(f, ig_op_attention(e, &q, &k, &v, cfg->heads, scale, true, &a)); /* CLIP's causal mask */
        IG_OP(f, ig_op_linear(e, &L->o, &a, &x, &y));
        IG_OP(f, ig_op_layer_norm(e, &y, cfg->eps, &L->ln2g, &L->ln2b, &n));
        IG_OP(f, ig_op_linear(e, &L->fc1, &n, NULL, &h));
        IG_OP(f, ig_op_linear(e, &L->fc2, &h, &y, &x));
    }
    if (penult && n_layers == cfg->layers - 1) IG_OP(f, ig_op_download(e, &x, penult));
    if (final) {
        IG_OP(f, ig_op_layer_norm(e, &x, cfg->eps, &c->lnf_g, &c->lnf_b, &n));
        IG_OP(f, ig_op_download(e, &n, final)); /* the caller's host memory */
    }
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

ig_status ig_clip_forward(ig_fw *f, ig_clip *c, const int32_t *ids, int B, int T, ig_tensor *out) {
    return run_layers(f, c, ids, B, T, c->cfg.layers, NULL, out);
}

ig_status ig_clip_forward_states(ig_fw *f, ig_clip *c, const int32_t *ids, int B, int T, ig_tensor *penult,
                                 ig_tensor *final) {
    if (c->cfg.layers < 2) return ig__fail(&f->e->err, IG_ERR_UNSUPPORTED, "text encoder: one layer has no penultimate state");
    /* without the final state, the last layer need not run at all */
    return run_layers(f, c, ids, B, T, final ? c->cfg.layers : c->cfg.layers - 1, penult, final);
}

ig_status ig_clip_pool(const ig_clip *c, const int32_t *ids, int T, const float *final, float *pooled, ig_err *err) {
    const int D = c->cfg.hidden, P = c->cfg.projection_dim;
    if (P < 1 || !c->proj.data) return ig__fail(err, IG_ERR_INVALID, "text encoder: no text_projection to pool with");
    int eot = 0; /* torch.argmax: the first maximum */
    for (int t = 1; t < T; t++)
        if (ids[t] > ids[eot]) eot = t;
    const float *x = final + (size_t)eot * D;
    for (int p = 0; p < P; p++) {
        double acc = 0;
        for (int d = 0; d < D; d++) acc += (double)ig_tensor_get(&c->proj, (int64_t[]){p, d}) * x[d];
        pooled[p] = (float)acc;
    }
    return IG_OK;
}

void ig_clip_release(ig_engine *e, ig_clip *c) {
    if (!c) return;
    for (int i = 0; i < IG_CLIP_MAX_LAYERS; i++) {
        ig_clip_layer *L = &c->layer[i];
        ig_linear *ls[] = {&L->q, &L->k, &L->v, &L->o, &L->fc1, &L->fc2};
        for (size_t j = 0; j < sizeof ls / sizeof *ls; j++) ig_linear_release(e, ls[j]);
    }
}
