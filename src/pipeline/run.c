/* run.c — the stages of one generation (run.h). Activations come from one arena sized by a dry run
 * of each network before the first real call, so nothing is allocated inside the sampling loop. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

/* Engine failures are recorded in e->err; copy them to the caller's err. */
static ig_status engine_fail(ig_engine *e, ig_err *err) {
    return ig__fail(err, e->err.status ? e->err.status : IG_ERR_BACKEND, "%s", e->err.msg);
}

/* Whether and how the VAE decodes in tiles (run.h): r->vae_tile 0 for one whole decode. */
static void pick_tiles(ig_run *r) {
    const char *s = getenv("IMAGINE_VAE_TILE");
    int tile = 0, overlap = -1;
    if (s && *s) {
        if (sscanf(s, "%d,%d", &tile, &overlap) < 1) tile = 0;
        if (overlap < 0) overlap = tile / 4;
    } else if ((int64_t)r->h * r->w > IG_RUN_TILE_ABOVE)
        tile = IG_RUN_TILE, overlap = IG_RUN_TILE_OVERLAP;
    if (tile < 1 || (r->h <= tile && r->w <= tile)) return;
    r->vae_tile = tile, r->vae_overlap = overlap < tile ? overlap : tile - 1;
}

ig_status ig_run_begin(ig_run *r, ig_engine *e, ig_sd_model *m, const ig_gen_params *p, bool decode, ig_err *err) {
    memset(r, 0, sizeof *r);
    r->e = e, r->m = m, r->p = *p, r->decode = decode;
    const ig_unet_config *uc = &m->unet.cfg;
    const int f = ig_sd_latent_factor(m), W = p->width, H = p->height;
    r->n = p->n_images, r->C = uc->in_channels, r->h = H / f, r->w = W / f;
    r->T = m->clip.cfg.max_positions, r->D = m->clip.cfg.hidden;
    r->xl = m->family == IG_FAMILY_SDXL;
    if (r->xl) r->D = m->clip.cfg.hidden + m->clip2.cfg.hidden, r->P = m->clip2.cfg.projection_dim;
    const int D1 = m->clip.cfg.hidden, D2 = r->xl ? m->clip2.cfg.hidden : 0;
    r->cfg = p->guidance > 1.0f;
    r->NB = r->cfg ? 2 * r->n : r->n;
    e->err = (ig_err){0};
    if (r->n < 1 || W < f || H < f || W % f || H % f || p->n_steps < 1)
        return ig__fail(err, IG_ERR_INVALID,
                        "txt2img: need n >= 1, width and height multiples of %d, steps >= 1 (got n=%d %dx%d steps=%d)",
                        f, r->n, W, H, p->n_steps);
    if (p->mask && !p->init_image) return ig__fail(err, IG_ERR_INVALID, "a mask needs an init image");
    if (p->init_image && !(p->strength >= 0 && p->strength <= 1))
        return ig__fail(err, IG_ERR_INVALID, "strength must be 0..1, not %g", (double)p->strength);
    if (p->decoder == IG_DECODER_FAST && !m->fast_dec)
        return ig__fail(err, IG_ERR_INVALID, "the fast decoder was asked for, but this model has none configured "
                                             "(--fast-decoder PATH, or \"fast_decoder\" in the model's imagine.json)");
    r->fast = decode && p->decoder == IG_DECODER_FAST;
    r->fast_preview = m->fast_dec && m->fast_dec->has_decoder && p->progress;
    if (m->fast_dec && (r->fast || r->fast_preview) &&
        (!m->fast_dec->has_decoder || m->fast_dec->latent_channels != m->vae.cfg.latent_channels))
        return ig__fail(err, IG_ERR_INVALID, "the fast decoder %s (the model's VAE has %d latent channels)",
                        m->fast_dec->has_decoder ? "takes other latents" : "holds no decoder, only an encoder",
                        m->vae.cfg.latent_channels);
    if (p->init_image) TRY(ig_sd_load_encoder(m, err)); /* on demand: txt2img never reads encoder.* */
    r->n_lat = (size_t)r->n * r->C * r->h * r->w;
    r->sc = m->sched;
    if (p->spacing != IG_SPACING_UNSET) r->sc.timestep_spacing = p->spacing;
    TRY(ig_sched_init(&r->sched, &r->sc, p->sampler, p->n_steps, r->n_lat, err));

    const int T = r->T, D = r->D;
    r->ids = malloc(sizeof(int32_t) * 2 * (size_t)T);
    r->text = malloc(sizeof(float) * 2 * (size_t)T * D);
    r->latents = malloc(sizeof(float) * r->n_lat);
    r->x = malloc(sizeof(float) * 2 * r->n_lat);
    r->eps = malloc(sizeof(float) * 2 * r->n_lat);
    r->x0 = malloc(sizeof(float) * r->n_lat);
    if (p->mask) {
        r->image_latents = malloc(sizeof(float) * r->n_lat);
        r->noise = malloc(sizeof(float) * r->n_lat);
        r->lat_mask = malloc(sizeof(float) * (size_t)r->h * r->w);
    }
    if (r->xl) {
        r->ids2 = malloc(sizeof(int32_t) * 2 * (size_t)T);
        r->states = malloc(sizeof(float) * 2 * (size_t)T * (D1 + 2 * D2));
        r->pooled = malloc(sizeof(float) * 2 * (size_t)r->P);
        r->add_text = malloc(sizeof(float) * (size_t)r->NB * r->P);
        r->time_ids = malloc(sizeof(float) * (size_t)r->NB * IG_UNET_TIME_IDS);
        if (!r->ids2 || !r->states || !r->pooled || !r->add_text || !r->time_ids) {
            ig__fail(err, IG_ERR_NOMEM, "txt2img: out of memory");
            goto fail;
        }
        /* _get_add_time_ids(original_size, crops_coords_top_left, target_size), height first */
        const float tid[IG_UNET_TIME_IDS] = {(float)H, (float)W, 0, 0, (float)H, (float)W};
        for (int b = 0; b < r->NB; b++) memcpy(r->time_ids + (size_t)b * IG_UNET_TIME_IDS, tid, sizeof tid);
    }
    if (!r->ids || !r->text || !r->latents || !r->x || !r->eps || !r->x0 ||
        (p->mask && (!r->image_latents || !r->noise || !r->lat_mask))) {
        ig__fail(err, IG_ERR_NOMEM, "txt2img: out of memory");
        goto fail;
    }
    r->fw = (ig_fw){.e = e, .a = &r->arena, .dt = e->act_dtype};
    /* dry runs: every network once, to size the arena for the largest */
    ig_arena_begin_dry(&r->arena);
    int64_t cs[3] = {r->NB, T, D};
    r->ctx = ig_arena_plain(&r->arena, e->act_dtype, 3, cs);
    const size_t mark = ig_arena_mark(&r->arena);
    int64_t ts[3] = {r->cfg ? 2 : 1, T, D}, ls[4] = {r->NB, r->C, r->h, r->w}, zs[4] = {r->n, r->C, r->h, r->w},
            is[4] = {r->n, 3, H, W};
    ig_tensor text_t = ig_tensor_plain(IG_F32, 3, ts, NULL), lt = ig_tensor_plain(IG_F32, 4, ls, NULL);
    ig_tensor zt = ig_tensor_plain(IG_F32, 4, zs, NULL), it = ig_tensor_plain(IG_F32, 4, is, NULL);
    const ig_unet_added added = {.text_embeds = r->add_text, .time_ids = r->time_ids};
    if (r->xl) {
        int64_t s1[3] = {r->cfg ? 2 : 1, T, D1}, s2[3] = {r->cfg ? 2 : 1, T, D2};
        ig_tensor p1 = ig_tensor_plain(IG_F32, 3, s1, NULL), p2 = ig_tensor_plain(IG_F32, 3, s2, NULL), f2 = p2;
        if (ig_clip_forward_states(&r->fw, &m->clip, r->ids, r->cfg ? 2 : 1, T, &p1, NULL) ||
            ig_clip_forward_states(&r->fw, &m->clip2, r->ids2, r->cfg ? 2 : 1, T, &p2, &f2))
            return engine_fail(e, err);
    } else if (ig_clip_forward(&r->fw, &m->clip, r->ids, r->cfg ? 2 : 1, T, &text_t))
        return engine_fail(e, err);
    if (ig_unet_forward_cond(&r->fw, &m->unet, &lt, 0, &r->ctx, r->xl ? &added : NULL, &lt)) return engine_fail(e, err);
    ig_arena_reset(&r->arena, mark);
    if (decode && r->fast && ig_taesd_decode(&r->fw, m->fast_dec, &zt, &it)) return engine_fail(e, err);
    ig_arena_reset(&r->arena, mark);
    if (r->fast_preview) { /* one image's preview, between steps */
        int64_t z1[4] = {1, r->C, r->h, r->w}, i1[4] = {1, 3, H, W};
        ig_tensor z1t = ig_tensor_plain(IG_F32, 4, z1, NULL), i1t = ig_tensor_plain(IG_F32, 4, i1, NULL);
        if (ig_taesd_decode(&r->fw, m->fast_dec, &z1t, &i1t)) return engine_fail(e, err);
        ig_arena_reset(&r->arena, mark);
    }
    if (decode && !r->fast) pick_tiles(r);
    if (decode && !r->fast && !r->vae_tile && ig_vae_decode(&r->fw, &m->vae, &zt, &it)) return engine_fail(e, err); /* latents in, pixels out */
    if (decode && !r->fast && r->vae_tile && /* one tile's activations */
        ig_vae_decode_tiled(&r->fw, &m->vae, NULL, r->n, r->h, r->w, r->vae_tile, r->vae_overlap, NULL))
        return engine_fail(e, err);
    ig_arena_reset(&r->arena, mark);
    if (p->init_image) { /* the encoder: one picture in, its moments out (host) */
        int64_t ps[4] = {1, 3, H, W}, ms[4] = {1, r->C, r->h, r->w};
        ig_tensor pt = ig_tensor_plain(IG_F32, 4, ps, NULL), mt = ig_tensor_plain(IG_F32, 4, ms, NULL);
        if (ig_vae_encode(&r->fw, &m->vae_enc, &pt, &mt, &mt)) return engine_fail(e, err);
    }
    TRY(ig_arena_commit(&r->arena, e, err));
    r->ctx = ig_arena_plain(&r->arena, e->act_dtype, 3, cs);
    r->mark = ig_arena_mark(&r->arena);
fail:
    return err->status;
}

/* SDXL's encode_prompt: rows [negative, positive] (or [positive]) of r->text (T, D1 + D2) and r->pooled. */
static ig_status encode_xl(ig_run *r, ig_err *err) {
    ig_engine *e = r->e;
    ig_sd_model *m = r->m;
    const int T = r->T, D = r->D, D1 = m->clip.cfg.hidden, D2 = m->clip2.cfg.hidden, P = r->P, B = r->cfg ? 2 : 1;
    const int32_t pad = ig_bpe_pad_id(m->bpe), pad2 = ig_bpe_pad_id(m->bpe2);
    const char *prompt = r->p.prompt ? r->p.prompt : "", *neg = r->p.negative_prompt;
    /* force_zeros_for_empty_prompt: negative_prompt None gives zero negative embeddings */
    const bool zero_neg = r->cfg && !neg && m->force_zeros_for_empty_prompt;
    TRY(ig_bpe_encode(m->bpe, prompt, r->ids + T, T, pad, &r->n_tokens, err));
    TRY(ig_bpe_encode(m->bpe2, prompt, r->ids2 + T, T, pad2, NULL, err));
    if (r->cfg) {
        TRY(ig_bpe_encode(m->bpe, neg ? neg : "", r->ids, T, pad, NULL, err));
        TRY(ig_bpe_encode(m->bpe2, neg ? neg : "", r->ids2, T, pad2, NULL, err));
    }
    float *pen1 = r->states, *pen2 = pen1 + (size_t)B * T * D1, *fin2 = pen2 + (size_t)B * T * D2;
    int64_t s1[3] = {B, T, D1}, s2[3] = {B, T, D2};
    ig_tensor p1 = ig_tensor_plain(IG_F32, 3, s1, pen1), p2 = ig_tensor_plain(IG_F32, 3, s2, pen2);
    ig_tensor f2 = ig_tensor_plain(IG_F32, 3, s2, fin2);
    const int32_t *ids = r->cfg ? r->ids : r->ids + T, *ids2 = r->cfg ? r->ids2 : r->ids2 + T;
    if (ig_clip_forward_states(&r->fw, &m->clip, ids, B, T, &p1, NULL)) return engine_fail(e, err);
    ig_arena_reset(&r->arena, r->mark);
    if (ig_clip_forward_states(&r->fw, &m->clip2, ids2, B, T, &p2, &f2)) return engine_fail(e, err);
    ig_arena_reset(&r->arena, r->mark);
    for (int b = 0; b < B; b++) { /* torch.concat(prompt_embeds_list, dim=-1) */
        for (int t = 0; t < T; t++) {
            float *dst = r->text + ((size_t)b * T + t) * D;
            memcpy(dst, pen1 + ((size_t)b * T + t) * D1, sizeof(float) * D1);
            memcpy(dst + D1, pen2 + ((size_t)b * T + t) * D2, sizeof(float) * D2);
        }
        TRY(ig_clip_pool(&m->clip2, ids2 + (size_t)b * T, T, fin2 + (size_t)b * T * D2, r->pooled + (size_t)b * P, err));
    }
    if (zero_neg) { /* row 0 is the negative one */
        memset(r->text, 0, sizeof(float) * T * D);
        memset(r->pooled, 0, sizeof(float) * P);
    }
    for (int b = 0; b < r->NB; b++) { /* text_embeds rows as the context's */
        const int src = r->cfg && b >= r->n ? 1 : 0;
        memcpy(r->add_text + (size_t)b * P, r->pooled + (size_t)src * P, sizeof(float) * P);
    }
fail:
    return err->status;
}

ig_status ig_run_encode_text(ig_run *r, ig_err *err) {
    ig_engine *e = r->e;
    const int T = r->T, D = r->D, n = r->n;
    const int32_t pad = ig_bpe_pad_id(r->m->bpe);
    if (r->xl) TRY(encode_xl(r, err));
    else {
        TRY(ig_bpe_encode(r->m->bpe, r->p.prompt ? r->p.prompt : "", r->ids + T, T, pad, &r->n_tokens, err));
        if (r->cfg)
            TRY(ig_bpe_encode(r->m->bpe, r->p.negative_prompt ? r->p.negative_prompt : "", r->ids, T, pad, NULL, err));
        int64_t ts[3] = {r->cfg ? 2 : 1, T, D};
        ig_tensor text_t = ig_tensor_plain(IG_F32, 3, ts, r->text);
        if (ig_clip_forward(&r->fw, &r->m->clip, r->cfg ? r->ids : r->ids + T, r->cfg ? 2 : 1, T, &text_t))
            return engine_fail(e, err);
    }
    ig_arena_reset(&r->arena, r->mark);
    /* context rows: [negative x n, positive x n] with CFG (text rows 0 and 1), else [positive x n] */
    for (int b = 0; b < r->NB; b++) {
        const int src = r->cfg && b >= n ? 1 : 0;
        int64_t one[3] = {1, T, D};
        ig_tensor s = ig_tensor_plain(IG_F32, 3, one, r->text + (size_t)src * T * D);
        ig_tensor d = ig_tensor_plain(e->act_dtype, 3, one,
                                      (char *)r->ctx.data + (size_t)b * T * D * ig_dtype_size(e->act_dtype));
        if (ig_op_upload(e, &s, &d)) return engine_fail(e, err);
    }
fail:
    return err->status;
}

ig_status ig_run_prepare_latents(ig_run *r, ig_err *err) {
    if (r->step > 0) { /* the run is drawn again (the bench's repetitions): a fresh schedule */
        ig_sched_free(&r->sched);
        if (ig_sched_init(&r->sched, &r->sc, r->p.sampler, r->p.n_steps, r->n_lat, err)) return err->status;
    }
    ig_rng_torch_seed(&r->gen, r->p.seed);
    ig_sched_init_latents(&r->sched, &r->gen, r->latents, r->n_lat);
    r->step = r->t_start = 0;
    return err->status;
}

ig_status ig_run_prepare_image(ig_run *r, const float *image, const float *mask, ig_err *err) {
    const size_t per = (size_t)r->C * r->h * r->w;
    float *z = NULL, *lv = NULL, *noise = r->noise;
    if (!r->p.init_image) return ig__fail(err, IG_ERR_INVALID, "ig_run_prepare_image: the run was begun without an image");
    if (!mask && r->p.strength >= 1.0f) return ig_run_prepare_latents(r, err); /* the picture plays no part */
    if (r->step > 0) {
        ig_sched_free(&r->sched);
        TRY(ig_sched_init(&r->sched, &r->sc, r->p.sampler, r->p.n_steps, r->n_lat, err));
    }
    /* get_timesteps: init_timestep = min(int(n * strength), n), t_start = max(n - init_timestep, 0) */
    const int n_req = r->p.n_steps;
    int init_ts = (int)((double)n_req * (double)r->p.strength);
    if (init_ts > n_req) init_ts = n_req;
    r->t_start = n_req - init_ts;
    if (r->t_start > r->sched.n_steps) r->t_start = r->sched.n_steps;
    z = malloc(sizeof(float) * per), lv = malloc(sizeof(float) * per);
    if (!noise) noise = malloc(sizeof(float) * r->n_lat);
    if (!z || !lv || !noise) {
        ig__fail(err, IG_ERR_NOMEM, "image to image: out of memory");
        goto fail;
    }
    /* the picture's latents: mean + std * randn(generator), times the scaling factor */
    int64_t ps[4] = {1, 3, r->p.height, r->p.width}, ms[4] = {1, r->C, r->h, r->w};
    ig_tensor pt = ig_tensor_plain(IG_F32, 4, ps, (void *)image);
    ig_tensor mt = ig_tensor_plain(IG_F32, 4, ms, z), lt = ig_tensor_plain(IG_F32, 4, ms, lv);
    if (ig_vae_encode(&r->fw, &r->m->vae_enc, &pt, &mt, &lt)) {
        engine_fail(r->e, err);
        goto fail;
    }
    ig_arena_reset(&r->arena, r->mark);
    ig_rng_torch_seed(&r->gen, r->p.seed);
    ig_rng_torch_randn(&r->gen, r->latents, per); /* the sample's noise: one draw over (1, C, h, w) */
    const bool no_step = r->t_start >= r->sched.n_steps && !(mask && r->p.strength >= 1.0f);
    if (!no_step) ig_vae_sample(z, lv, r->latents, per, z); /* no step left: the mean, the picture itself */
    const float sf = r->m->vae.cfg.scaling_factor, sh = r->m->vae.cfg.shift_factor;
    for (size_t k = 0; k < per; k++) z[k] = sh != 0 ? (z[k] - sh) * sf : sf * z[k];
    ig_rng_torch_randn(&r->gen, noise, r->n_lat); /* randn((n, C, h, w), generator) */
    for (int i = 0; i < r->n; i++) { /* the picture's latents repeated per image */
        float *dst = r->image_latents ? r->image_latents + (size_t)i * per : r->latents + (size_t)i * per;
        memcpy(dst, z, per * sizeof(float));
    }
    const float *il = r->image_latents ? r->image_latents : r->latents;
    if (mask && r->p.strength >= 1.0f) /* is_strength_max: pure noise */
        for (size_t k = 0; k < r->n_lat; k++) r->latents[k] = noise[k] * r->sched.init_noise_sigma;
    else if (r->t_start < r->sched.n_steps)
        ig_sched_add_noise(&r->sched, r->t_start, il, noise, r->latents, r->n_lat);
    else if (il != r->latents) /* no step left: the picture's latents as they are */
        memcpy(r->latents, il, r->n_lat * sizeof(float));
    ig_sched_set_begin(&r->sched, r->t_start);
    r->step = r->t_start;
    if (mask) /* F.interpolate(mask, size=(h, w)), mode nearest: source pixel (f i, f j) */
        for (int i = 0; i < r->h; i++)
            for (int j = 0; j < r->w; j++) {
                const int f = r->p.height / r->h;
                r->lat_mask[i * r->w + j] = mask[(size_t)(f * i) * r->p.width + (size_t)f * j] >= 0.5f ? 1.0f : 0.0f;
            }
fail:
    free(z), free(lv);
    if (noise != r->noise) free(noise);
    return err->status;
}

ig_status ig_run_step(ig_run *r, ig_err *err) {
    const int i = r->step;
    const size_t n_lat = r->n_lat;
    if (i >= r->sched.n_steps) return ig__fail(err, IG_ERR_INVALID, "no denoising step left (%d)", i);
    memcpy(r->x, r->latents, n_lat * sizeof(float));
    if (r->cfg) memcpy(r->x + n_lat, r->latents, n_lat * sizeof(float));
    ig_sched_scale_model_input(&r->sched, i, r->x, (r->cfg ? 2 : 1) * n_lat);
    int64_t ls[4] = {r->NB, r->C, r->h, r->w};
    ig_tensor xt = ig_tensor_plain(IG_F32, 4, ls, r->x), et = ig_tensor_plain(IG_F32, 4, ls, r->eps);
    const ig_unet_added added = {.text_embeds = r->add_text, .time_ids = r->time_ids};
    if (ig_unet_forward_cond(&r->fw, &r->m->unet, &xt, r->sched.timesteps[i], &r->ctx, r->xl ? &added : NULL, &et))
        return engine_fail(r->e, err);
    ig_arena_reset(&r->arena, r->mark);
    /* The text encoder and the UNet now hold packed copies of their weights: let the kernel drop the
     * checkpoint's pages instead of keeping the model resident twice (peak RSS). */
    if (!r->pages_dropped) {
        ig_weights_drop_pages(&r->m->w_text), ig_weights_drop_pages(&r->m->w_unet);
        ig_weights_drop_pages(&r->m->w_text2); /* the projection is read from the file at each prompt: it pages back in */
        r->pages_dropped = true;
    }
    if (r->cfg) { /* noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond), f32 per op */
        float *eps = r->eps;
        for (size_t k = 0; k < n_lat; k++) {
            float d = eps[n_lat + k] - eps[k];
            float gd = r->p.guidance * d;
            eps[k] = eps[k] + gd;
        }
    }
    TRY(ig_sched_step(&r->sched, i, r->eps, r->latents, n_lat, &r->gen, r->x0, err));
    r->step = i + 1;
    if (r->lat_mask) { /* inpainting: outside the mask the picture, noised to the next step's level */
        float *proper = r->x; /* free until the next step */
        if (i < r->sched.n_steps - 1) ig_sched_add_noise(&r->sched, i + 1, r->image_latents, r->noise, proper, n_lat);
        else memcpy(proper, r->image_latents, n_lat * sizeof(float));
        const size_t hw = (size_t)r->h * r->w;
        for (size_t k = 0; k < n_lat; k++) {
            const float m = r->lat_mask[k % hw];
            r->latents[k] = (1.0f - m) * proper[k] + m * r->latents[k];
        }
    }
    const int done = i + 1 - r->t_start, total = r->sched.n_steps - r->t_start;
    const ig_progress pr = {.step = done, .n_steps = total, .n_images = r->n, .latent_channels = r->C,
                            .latent_height = r->h, .latent_width = r->w, .pred_x0 = r->x0};
    if (r->p.progress && r->p.progress(r->p.progress_user, &pr))
        ig__fail(err, IG_ERR_CANCELLED, "cancelled after step %d of %d", done, total);
fail:
    return err->status;
}

ig_status ig_run_denoise(ig_run *r, ig_err *err) {
    while (r->step < r->sched.n_steps)
        if (ig_run_step(r, err)) return err->status;
    return IG_OK;
}

/* TAESD on n latents (scaled, as the UNet sees them) into image (n, H, W, 3) f32, clamped to [0, 1]
 * (taesd.py: decoder(latents).clamp(0, 1)); activations above r->mark. */
static ig_status fast_decode(ig_run *r, const float *latents, int n, float *image, ig_err *err) {
    const int H = r->p.height, W = r->p.width;
    int64_t ls[4] = {n, r->C, r->h, r->w};
    ig_tensor zt = ig_tensor_plain(IG_F32, 4, ls, (void *)latents);
    ig_tensor it = ig_tensor_nhwc(IG_F32, n, 3, H, W, image); /* NHWC f32 == (n, H, W, 3) */
    ig_arena_reset(&r->arena, r->mark);
    if (ig_taesd_decode(&r->fw, r->m->fast_dec, &zt, &it)) return engine_fail(r->e, err);
    ig_arena_reset(&r->arena, r->mark);
    const size_t n_px = (size_t)n * H * W * 3;
    for (size_t k = 0; k < n_px; k++) image[k] = image[k] < 0 ? 0 : image[k] > 1 ? 1 : image[k];
    return IG_OK;
}

ig_status ig_run_preview_fast(ig_run *r, const float *latents, float *image, ig_err *err) {
    if (!r->fast_preview) return ig__fail(err, IG_ERR_INVALID, "ig_run_preview_fast: the run has no fast decoder sized");
    return fast_decode(r, latents, 1, image, err);
}

ig_status ig_run_decode(ig_run *r, float *image, ig_err *err) {
    if (!r->decode) return ig__fail(err, IG_ERR_INVALID, "ig_run_decode: the run was begun without the VAE");
    if (r->fast) return fast_decode(r, r->latents, r->n, image, err);
    const ig_vae_config *vc = &r->m->vae.cfg;
    const float sf = vc->scaling_factor, sh = vc->shift_factor;
    const int H = r->p.height, W = r->p.width;
    for (size_t k = 0; k < r->n_lat; k++) r->x[k] = sh != 0 ? r->latents[k] / sf + sh : r->latents[k] / sf;
    int64_t ls[4] = {r->n, r->C, r->h, r->w};
    ig_tensor zt = ig_tensor_plain(IG_F32, 4, ls, r->x);
    ig_tensor it = ig_tensor_nhwc(IG_F32, r->n, 3, H, W, image); /* NHWC f32 == (n, H, W, 3) */
    if (r->vae_tile ? ig_vae_decode_tiled(&r->fw, &r->m->vae, r->x, r->n, r->h, r->w, r->vae_tile, r->vae_overlap, image)
                    : ig_vae_decode(&r->fw, &r->m->vae, &zt, &it))
        return engine_fail(r->e, err);
    ig_arena_reset(&r->arena, r->mark);
    ig_weights_drop_pages(&r->m->w_vae);
    const size_t n_px = (size_t)r->n * H * W * 3;
    for (size_t k = 0; k < n_px; k++) { /* (image / 2 + 0.5).clamp(0, 1) */
        float v = image[k] / 2 + 0.5f;
        image[k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return IG_OK;
}

void ig_run_end(ig_run *r) {
    if (!r) return;
    ig_sched_free(&r->sched);
    ig_arena_free(&r->arena);
    free(r->ids), free(r->text), free(r->latents), free(r->x), free(r->eps), free(r->x0);
    free(r->image_latents), free(r->noise), free(r->lat_mask);
    free(r->ids2), free(r->states), free(r->pooled), free(r->add_text), free(r->time_ids);
    memset(r, 0, sizeof *r);
}
