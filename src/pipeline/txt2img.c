/* txt2img.c — StableDiffusionPipeline.__call__ of diffusers 0.30 for SD 1.x / 2.x:
 *  1. encode_prompt: CLIP ids of the prompt (and of the negative prompt when guidance > 1), the text
 *     encoder's last hidden state, repeated per image; CFG batch = [negative x n, positive x n].
 *  2. prepare_latents: randn((n, C, h, w), generator) * init_noise_sigma, one draw for the batch.
 *  3. per step: x = cat([latents] * 2) if CFG; scale_model_input; eps = unet(x, t, context);
 *     eps = uncond + g * (text - uncond); latents = scheduler.step(eps, t, latents).
 *  4. image = vae.decode(latents / scaling_factor) / 2 + 0.5, clamped to [0, 1].
 * Activations come from one arena sized by a dry run of each network before the first real call,
 * so nothing is allocated inside the sampling loop. */
#include "txt2img.h"

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

ig_status ig_txt2img(ig_engine *e, ig_sd_model *m, const ig_gen_params *p, float *latents_out, float *image_out,
                     int *n_tokens, ig_err *err) {
    const ig_unet_config *uc = &m->unet.cfg;
    const int n = p->n_images, W = p->width, H = p->height, C = uc->in_channels;
    const int f = ig_sd_latent_factor(m), h = H / f, w = W / f, T = m->clip.cfg.max_positions, D = m->clip.cfg.hidden;
    const bool cfg = p->guidance > 1.0f;
    const int NB = cfg ? 2 * n : n;
    const size_t n_lat = (size_t)n * C * h * w;
    ig_arena arena = {0};
    ig_sched sched = {0};
    ig_rng_torch gen;
    int32_t *ids = NULL;
    float *latents = NULL, *x = NULL, *eps = NULL, *x0 = NULL, *text = NULL;
    ig_tensor ctx = {0};
    ig_sched_config sc = m->sched;
    e->err = (ig_err){0};

    if (n < 1 || W < f || H < f || W % f || H % f || p->n_steps < 1) {
        ig__fail(err, IG_ERR_INVALID,
                 "txt2img: need n >= 1, width and height multiples of %d, steps >= 1 (got n=%d %dx%d steps=%d)", f, n,
                 W, H, p->n_steps);
        goto fail;
    }
    if (p->spacing != IG_SPACING_UNSET) sc.timestep_spacing = p->spacing;
    TRY(ig_sched_init(&sched, &sc, p->sampler, p->n_steps, n_lat, err));

    /* 1. text */
    ids = malloc(sizeof(int32_t) * 2 * (size_t)T);
    text = malloc(sizeof(float) * 2 * (size_t)T * D);
    latents = malloc(sizeof(float) * n_lat);
    x = malloc(sizeof(float) * 2 * n_lat);
    eps = malloc(sizeof(float) * 2 * n_lat);
    x0 = malloc(sizeof(float) * n_lat);
    if (!ids || !text || !latents || !x || !eps || !x0) {
        ig__fail(err, IG_ERR_NOMEM, "txt2img: out of memory");
        goto fail;
    }
    const int32_t pad = ig_bpe_pad_id(m->bpe);
    TRY(ig_bpe_encode(m->bpe, p->prompt ? p->prompt : "", ids + T, T, pad, n_tokens, err));
    if (cfg) TRY(ig_bpe_encode(m->bpe, p->negative_prompt ? p->negative_prompt : "", ids, T, pad, NULL, err));

    ig_fw fw = {.e = e, .a = &arena, .dt = e->act_dtype};
    int64_t ts[3] = {cfg ? 2 : 1, T, D};
    ig_tensor text_t = ig_tensor_plain(IG_F32, 3, ts, text);
    /* dry runs: every network once, to size the arena for the largest */
    {
        ig_arena_begin_dry(&arena);
        int64_t cs[3] = {NB, T, D};
        ctx = ig_arena_plain(&arena, e->act_dtype, 3, cs);
        const size_t mark = ig_arena_mark(&arena);
        int64_t ls[4] = {NB, C, h, w}, zs[4] = {n, C, h, w}, is[4] = {n, 3, H, W};
        ig_tensor lt = ig_tensor_plain(IG_F32, 4, ls, NULL), zt = ig_tensor_plain(IG_F32, 4, zs, NULL);
        ig_tensor it = ig_tensor_plain(IG_F32, 4, is, NULL);
        if (ig_clip_forward(&fw, &m->clip, ids, cfg ? 2 : 1, T, &text_t) || ig_unet_forward(&fw, &m->unet, &lt, 0, &ctx, &lt))
            goto engine;
        ig_arena_reset(&arena, mark);
        if (image_out && ig_vae_decode(&fw, &m->vae, &zt, &it)) goto engine; /* latents in, pixels out */
        TRY(ig_arena_commit(&arena, e, err));
        ctx = ig_arena_plain(&arena, e->act_dtype, 3, cs);
    }
    const int tb = cfg ? 1 : 0; /* row of the positive prompt in `text` */
    if (ig_clip_forward(&fw, &m->clip, cfg ? ids : ids + T, cfg ? 2 : 1, T, &text_t)) goto engine;
    /* context rows: [negative x n, positive x n] with CFG, else [positive x n] */
    for (int b = 0; b < NB; b++) {
        const int src = cfg ? (b < n ? 0 : tb) : 0;
        int64_t one[3] = {1, T, D};
        ig_tensor s = ig_tensor_plain(IG_F32, 3, one, text + (size_t)src * T * D);
        ig_tensor d = ig_tensor_plain(e->act_dtype, 3, one, (char *)ctx.data + (size_t)b * T * D * ig_dtype_size(e->act_dtype));
        if (ig_op_upload(e, &s, &d)) goto engine;
    }
    const size_t mark = ig_arena_mark(&arena);

    /* 2. latents */
    ig_rng_torch_seed(&gen, p->seed);
    ig_sched_init_latents(&sched, &gen, latents, n_lat);

    /* 3. sampling */
    for (int i = 0; i < sched.n_steps; i++) {
        memcpy(x, latents, n_lat * sizeof(float));
        if (cfg) memcpy(x + n_lat, latents, n_lat * sizeof(float));
        ig_sched_scale_model_input(&sched, i, x, (cfg ? 2 : 1) * n_lat);
        int64_t ls[4] = {NB, C, h, w};
        ig_tensor xt = ig_tensor_plain(IG_F32, 4, ls, x), et = ig_tensor_plain(IG_F32, 4, ls, eps);
        if (ig_unet_forward(&fw, &m->unet, &xt, sched.timesteps[i], &ctx, &et)) goto engine;
        ig_arena_reset(&arena, mark);
        /* The text encoder and the UNet now hold packed copies of their weights: let the kernel drop
         * the checkpoint's pages instead of keeping the model resident twice (peak RSS). */
        if (i == 0) ig_weights_drop_pages(&m->w_text), ig_weights_drop_pages(&m->w_unet);
        if (cfg) /* noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond), f32 per op */
            for (size_t k = 0; k < n_lat; k++) {
                float d = eps[n_lat + k] - eps[k];
                float gd = p->guidance * d;
                eps[k] = eps[k] + gd;
            }
        TRY(ig_sched_step(&sched, i, eps, latents, n_lat, &gen, x0, err));
        const ig_progress pr = {.step = i + 1, .n_steps = sched.n_steps, .n_images = n, .latent_channels = C,
                                .latent_height = h, .latent_width = w, .pred_x0 = x0};
        if (p->progress && p->progress(p->progress_user, &pr)) {
            ig__fail(err, IG_ERR_CANCELLED, "cancelled after step %d of %d", i + 1, sched.n_steps);
            goto fail;
        }
    }
    if (latents_out) memcpy(latents_out, latents, n_lat * sizeof(float));

    /* 4. decode */
    if (image_out) {
        const float sf = m->vae.cfg.scaling_factor, sh = m->vae.cfg.shift_factor;
        for (size_t k = 0; k < n_lat; k++) x[k] = sh != 0 ? latents[k] / sf + sh : latents[k] / sf;
        int64_t ls[4] = {n, C, h, w};
        ig_tensor zt = ig_tensor_plain(IG_F32, 4, ls, x);
        /* NHWC f32 output == (n, H, W, 3) */
        ig_tensor it = ig_tensor_nhwc(IG_F32, n, 3, H, W, image_out);
        if (ig_vae_decode(&fw, &m->vae, &zt, &it)) goto engine;
        ig_weights_drop_pages(&m->w_vae);
        const size_t n_px = (size_t)n * H * W * 3;
        for (size_t k = 0; k < n_px; k++) { /* (image / 2 + 0.5).clamp(0, 1) */
            float v = image_out[k] / 2 + 0.5f;
            image_out[k] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    goto fail; /* the common exit: success reaches it with err untouched */
engine:
    engine_fail(e, err);
fail:
    ig_sched_free(&sched);
    ig_arena_free(&arena);
    free(ids), free(text), free(latents), free(x), free(eps), free(x0);
    return err->status;
}
