/* model.c — the public API of include/imagine.h: opening a model (folder or single file, one path
 * for every program), describing it, generating 8-bit images through the stages of pipeline/run.h,
 * previews, versions and names. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/image.h"
#include "io/safetensors.h"
#include "lib/lib.h"
#include "pipeline/run.h"

const char *ig_version(void) { return IG_VERSION; }

const char *ig_status_name(ig_status st) {
    switch (st) {
    case IG_OK: return "IG_OK";
    case IG_ERR_INVALID: return "IG_ERR_INVALID";
    case IG_ERR_IO: return "IG_ERR_IO";
    case IG_ERR_NOMEM: return "IG_ERR_NOMEM";
    case IG_ERR_UNSUPPORTED: return "IG_ERR_UNSUPPORTED";
    case IG_ERR_BACKEND: return "IG_ERR_BACKEND";
    case IG_ERR_NOT_FOUND: return "IG_ERR_NOT_FOUND";
    case IG_ERR_CANCELLED: return "IG_ERR_CANCELLED";
    }
    return "IG_ERR_?";
}

const char *ig_family_name(ig_family f) {
    switch (f) {
    case IG_FAMILY_SD1: return "sd1";
    case IG_FAMILY_SD2: return "sd2";
    case IG_FAMILY_SDXL: return "sdxl";
    case IG_FAMILY_UNKNOWN: break;
    }
    return "unknown";
}

void ig__weights_guard_install(void) { ig_st_guard_install(); }
bool ig__weights_changed(void) { return ig_st_guard_tripped(); }

int ig__threads_enter(const ig_model *m) {
    const int prev = omp_get_max_threads();
    if (m->opt.n_threads > 0) omp_set_num_threads(m->opt.n_threads);
    return prev;
}

void ig__threads_restore(int prev) { omp_set_num_threads(prev); }

static void describe(ig_model *m) {
    const ig_sd_model *sd = m->sd;
    ig_model_info *i = &m->info;
    memset(i, 0, sizeof *i);
    i->family = sd->family;
    i->path = m->path;
    i->native_width = i->native_height = m->card.native;
    i->size_multiple = m->card.multiple;
    i->latent_channels = sd->unet.cfg.in_channels;
    i->latent_factor = m->card.factor;
    i->max_prompt_tokens = sd->clip.cfg.max_positions;
    i->prediction = sd->sched.prediction_type ? sd->sched.prediction_type : IG_PREDICTION_EPSILON;
    i->precision = m->e->act_dtype == IG_BF16 ? IG_PRECISION_BF16 : IG_PRECISION_F32;
    i->samplers = (1u << IG_SAMPLER_COUNT) - 1; /* every sampler runs on every SD 1.x / 2.x model */
    i->default_steps = m->card.steps[1];
    i->default_guidance = m->card.guidance;
    i->default_sampler = m->card.sampler;
    i->fast_decoder = sd->fast_dec != NULL;
    i->default_decoder = m->card.decoder == IG_DECODER_FAST ? IG_DECODER_FAST : IG_DECODER_FULL;
}

ig_status ig_model_open(ig_model **out, const char *path, const ig_open_options *opt, ig_err *err) {
    static const ig_open_options defaults = IG_OPEN_OPTIONS_INIT;
    ig_model *m = NULL;
    struct stat st;
    if (!out) return ig__fail(err, IG_ERR_INVALID, "ig_model_open: out is NULL");
    *out = NULL;
    if (!opt) opt = &defaults;
    if (opt->n_threads < 0) return ig__fail(err, IG_ERR_INVALID, "n_threads must be >= 0, not %d", opt->n_threads);
    if (opt->precision < IG_PRECISION_AUTO || opt->precision > IG_PRECISION_BF16)
        return ig__fail(err, IG_ERR_INVALID, "unknown precision %d", (int)opt->precision);
    m = calloc(1, sizeof *m);
    if (!m) return ig__fail(err, IG_ERR_NOMEM, "out of memory opening a model");
    m->opt = *opt;
    m->opt.vocab_dir = m->opt.fast_decoder = NULL; /* not kept: the caller's strings */
    if (path) snprintf(m->path, sizeof m->path, "%s", path);
    else ig__asset_path("imagine-emoji", m->path, sizeof m->path);
    if (stat(m->path, &st) != 0) {
        ig__fail(err, IG_ERR_NOT_FOUND, "%s: no such model folder or file%s", m->path,
                 path ? "" : " (the built-in model: set IMAGINE_ASSETS to the folder holding imagine-emoji)");
        goto fail;
    }
    if (ig_engine_create(&m->e, "cpu", opt->precision, err)) goto fail;
    ig_sd_open_opts so = IG_SD_OPEN_OPTS_INIT;
    so.copy_weights = opt->copy_weights, so.vocab_dir = opt->vocab_dir, so.prediction_type = opt->prediction;
    if (ig_sd_open_path(&m->sd, m->path, &so, err)) goto fail; /* a folder or a single file */
    const char *base = strrchr(m->path, '/');
    base = base && base[1] ? base + 1 : m->path;
    if (ig_model_card_load(&m->card, m->path, base, m->sd, err)) goto fail;
    const char *fast = opt->fast_decoder ? opt->fast_decoder : m->card.fast_decoder[0] ? m->card.fast_decoder : NULL;
    if (fast) {
        if (ig_taesd_open(&m->sd->fast_dec, fast, opt->copy_weights, err)) goto fail;
        if (!m->sd->fast_dec->has_decoder || m->sd->fast_dec->latent_channels != m->sd->vae.cfg.latent_channels) {
            ig__fail(err, IG_ERR_INVALID, "%s: %s, for a model whose VAE has %d latent channels", fast,
                     m->sd->fast_dec->has_decoder ? "a fast decoder for other latents" : "TAESD encoder weights, not a decoder",
                     m->sd->vae.cfg.latent_channels);
            goto fail;
        }
    }
    if (m->card.decoder == IG_DECODER_FAST && !m->sd->fast_dec) {
        ig__fail(err, IG_ERR_INVALID, "%s/imagine.json: \"decoder\" is \"fast\" but no fast decoder is configured "
                                      "(\"fast_decoder\" or ig_open_options.fast_decoder)", m->path);
        goto fail;
    }
    ig_preview_init(&m->preview, m->sd->unet.cfg.in_channels, m->card.factor);
    describe(m);
    *out = m;
    return IG_OK;
fail:
    ig_model_close(m);
    return err->status;
}

void ig_model_close(ig_model *m) {
    if (!m) return;
    ig_sd_close(m->e, m->sd);
    ig_engine_free(m->e);
    free(m);
}

void ig_model_describe(const ig_model *m, ig_model_info *info) { *info = m->info; }

/* The user's callback, with the model filled in for ig_progress_preview. */
typedef struct {
    const ig_model *m;
    ig_progress_fn fn;
    void *user;
} progress_wrap;

static int on_progress(void *ud, const ig_progress *p) {
    progress_wrap *w = ud;
    ig_progress q = *p;
    q.model = w->m;
    return w->fn(w->user, &q);
}

ig_status ig_progress_preview(const ig_progress *p, int index, ig_image **out, ig_err *err) {
    float *rgb = NULL;
    if (!out) return ig__fail(err, IG_ERR_INVALID, "ig_progress_preview: out is NULL");
    *out = NULL;
    if (!p || !p->model || !p->pred_x0)
        return ig__fail(err, IG_ERR_INVALID, "ig_progress_preview: only inside a progress callback");
    if (index < 0 || index >= p->n_images)
        return ig__fail(err, IG_ERR_INVALID, "preview of image %d, but the batch has %d", index, p->n_images);
    const int C = p->latent_channels;
    int h = p->latent_height, w = p->latent_width;
    ig_run *run = p->model->run;
    const float *x0 = p->pred_x0 + (size_t)index * C * h * w;
    const bool fast = run && run->fast_preview; /* TAESD at full size, in the run's arena between steps */
    if (fast) h = run->p.height, w = run->p.width;
    rgb = malloc(sizeof(float) * 3 * (size_t)h * w);
    if (!rgb) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a preview");
    if (fast) {
        if (ig_run_preview_fast(run, x0, rgb, err)) {
            free(rgb);
            return err->status;
        }
    } else
        ig_preview_apply(&p->model->preview, x0, rgb, h, w);
    if (ig_image_new(out, w, h, 3, err) == IG_OK && ig_image_from_f32(*out, rgb, IG_LAYOUT_HWC, IG_RANGE_0_1, err)) {
        ig_image_free(*out);
        *out = NULL;
    }
    free(rgb);
    return err->status;
}

/* The picture cut to the asked aspect (centred, never stretched) and resized to w x h, channels kept:
 * init images and masks of any size become the generation's size. */
ig_status ig__fit_image(const ig_image *src, int w, int h, ig_image **out, ig_err *err) {
    ig_image view = *src;
    if ((long)src->width * h > (long)src->height * w) { /* wider than asked: trim the sides */
        view.width = (int)(((long)src->height * w + h / 2) / h);
        if (view.width < 1) view.width = 1;
        view.pixels = src->pixels + (size_t)((src->width - view.width) / 2) * src->channels;
    } else if ((long)src->width * h < (long)src->height * w) { /* taller: trim top and bottom */
        view.height = (int)(((long)src->width * h + w / 2) / w);
        if (view.height < 1) view.height = 1;
        view.pixels = src->pixels + (size_t)((src->height - view.height) / 2) * src->stride;
    }
    if (ig_image_new(out, w, h, src->channels, err)) return err->status;
    if (view.width == w && view.height == h) {
        for (int y = 0; y < h; y++)
            memcpy((*out)->pixels + (size_t)y * (*out)->stride, view.pixels + (size_t)y * view.stride,
                   (size_t)w * src->channels);
        return IG_OK;
    }
    if (ig_image_resize(&view, *out, IG_FILTER_AUTO, err)) {
        ig_image_free(*out);
        *out = NULL;
    }
    return err->status;
}

/* Separable box blur of radius r over a w x h plane, twice (close to a Gaussian of sigma ~ r):
 * the feathered edge of the inpainting mask. */
static void blur(float *v, float *tmp, int w, int h, int r) {
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                int c = 0;
                for (int d = -r; d <= r; d++)
                    if (x + d >= 0 && x + d < w) s += v[(size_t)y * w + x + d], c++;
                tmp[(size_t)y * w + x] = (float)(s / c);
            }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                int c = 0;
                for (int d = -r; d <= r; d++)
                    if (y + d >= 0 && y + d < h) s += tmp[(size_t)(y + d) * w + x], c++;
                v[(size_t)y * w + x] = (float)(s / c);
            }
    }
}

ig_status ig_generate(ig_model *m, const ig_gen_params *p, ig_image **images, ig_gen_info *info, ig_err *err) {
    return ig__generate(m, p, images, info, NULL, err);
}

ig_status ig__generate(ig_model *m, const ig_gen_params *p, ig_image **images, ig_gen_info *info, float *latents_out,
                       ig_err *err) {
    ig_run r;
    float *px = NULL, *init = NULL, *mask = NULL, *feather = NULL;
    ig_image *fit = NULL, *fit_mask = NULL;
    int n = 0, threads = 0;
    bool entered = false;
    memset(&r, 0, sizeof r);
    if (!m || !p || !images) return ig__fail(err, IG_ERR_INVALID, "ig_generate: model, params and images are required");
    n = p->n_images;
    const int q = m->info.size_multiple, W = p->width, H = p->height;
    if (n < 1 || n > 16) return ig__fail(err, IG_ERR_INVALID, "n_images must be 1..16, not %d", n);
    for (int i = 0; i < n; i++) images[i] = NULL;
    if (W < q || H < q || W % q || H % q || W > 4096 || H > 4096)
        return ig__fail(err, IG_ERR_INVALID, "width and height must be multiples of %d in %d..4096 (got %dx%d)", q, q,
                        W, H);
    if (p->n_steps < 1 || p->n_steps > 1000)
        return ig__fail(err, IG_ERR_INVALID, "n_steps must be 1..1000, not %d", p->n_steps);
    if ((unsigned)p->sampler >= IG_SAMPLER_COUNT || !(m->info.samplers & (1u << p->sampler)))
        return ig__fail(err, IG_ERR_INVALID, "sampler %d is not one this model takes", (int)p->sampler);
    if (!(p->guidance >= 0 && p->guidance <= 100))
        return ig__fail(err, IG_ERR_INVALID, "guidance must be 0..100");
    if (p->mask && !p->init_image) return ig__fail(err, IG_ERR_INVALID, "a mask needs an init_image");
    if (p->init_image) {
        if (ig_image_check(p->init_image, err)) return err->status;
        if (!(p->strength >= 0 && p->strength <= 1))
            return ig__fail(err, IG_ERR_INVALID, "strength must be 0..1, not %g", (double)p->strength);
    }
    if (p->mask) {
        if (ig_image_check(p->mask, err)) return err->status;
        if (p->mask->width != p->init_image->width || p->mask->height != p->init_image->height)
            return ig__fail(err, IG_ERR_INVALID, "the mask is %dx%d, the image %dx%d: they must be the same size",
                            p->mask->width, p->mask->height, p->init_image->width, p->init_image->height);
    }
    const double t0 = ig__now_s();
    threads = ig__threads_enter(m), entered = true;
    ig_gen_params gp = *p;
    progress_wrap pw = {.m = m, .fn = p->progress, .user = p->progress_user};
    if (p->progress) gp.progress = on_progress, gp.progress_user = &pw;
    px = malloc(sizeof(float) * (size_t)n * W * H * 3);
    if (!px) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory for %d images of %dx%d", n, W, H);
        goto fail;
    }
    if (p->init_image) { /* the picture at the generation's size, as (3, H, W) in [-1, 1] */
        const size_t hw = (size_t)W * H;
        if (ig__fit_image(p->init_image, W, H, &fit, err)) goto fail;
        if (!(init = malloc(sizeof(float) * 3 * hw))) {
            ig__fail(err, IG_ERR_NOMEM, "out of memory for the init image");
            goto fail;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) /* VaeImageProcessor: x / 255, then 2x - 1 */
                    init[c * hw + (size_t)y * W + x] =
                        2.0f * (fit->pixels[(size_t)y * fit->stride + (size_t)x * fit->channels + c] / 255.0f) - 1.0f;
    }
    if (p->mask) { /* 1 = repaint: alpha 0 (RGBA) or black (RGB) */
        const size_t hw = (size_t)W * H;
        if (ig__fit_image(p->mask, W, H, &fit_mask, err)) goto fail;
        mask = malloc(sizeof(float) * hw), feather = malloc(sizeof(float) * hw);
        if (!mask || !feather) {
            ig__fail(err, IG_ERR_NOMEM, "out of memory for the mask");
            goto fail;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *q = fit_mask->pixels + (size_t)y * fit_mask->stride + (size_t)x * fit_mask->channels;
                const float keep = fit_mask->channels == 4 ? q[3] / 255.0f
                                                           : (0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2]) / 255.0f;
                mask[(size_t)y * W + x] = 1.0f - keep >= 0.5f ? 1.0f : 0.0f;
            }
    }
    if (gp.decoder == IG_DECODER_DEFAULT) gp.decoder = m->info.default_decoder;
    if ((unsigned)gp.decoder > IG_DECODER_FAST) {
        ig__fail(err, IG_ERR_INVALID, "unknown decoder %d", (int)p->decoder);
        goto fail;
    }
    m->run = &r;
    if (ig_run_begin(&r, m->e, m->sd, &gp, true, err) || ig_run_encode_text(&r, err) ||
        (p->init_image ? ig_run_prepare_image(&r, init, mask, err) : ig_run_prepare_latents(&r, err)) ||
        ig_run_denoise(&r, err) || ig_run_decode(&r, px, err))
        goto fail;
    ig_preview_observe(&m->preview, r.latents, px, n, r.h, r.w);
    if (latents_out) memcpy(latents_out, r.latents, r.n_lat * sizeof(float));
    if (mask) { /* the picture's own pixels back outside the mask, exactly; inside it the generated
                 * pixels fade in over a few pixels from its edge (the blurred mask) */
        const size_t hw = (size_t)W * H;
        memcpy(feather, mask, sizeof(float) * hw);
        float *tmp = malloc(sizeof(float) * hw);
        if (!tmp) {
            ig__fail(err, IG_ERR_NOMEM, "out of memory for the mask");
            goto fail;
        }
        blur(feather, tmp, W, H, IG_MAX(1, m->info.latent_factor / 2));
        free(tmp);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                const float a = mask[k] > 0 ? feather[k] : 0.0f; /* the edge fades inside the mask */
                const uint8_t *o = fit->pixels + (k / W) * fit->stride + (k % W) * fit->channels;
                float *g = px + ((size_t)i * hw + k) * 3;
                for (int c = 0; c < 3; c++) g[c] = a * g[c] + (1.0f - a) * (o[c] / 255.0f);
            }
    }
    for (int i = 0; i < n; i++)
        if (ig_image_new(&images[i], W, H, 3, err) ||
            ig_image_from_f32(images[i], px + (size_t)i * W * H * 3, IG_LAYOUT_HWC, IG_RANGE_0_1, err))
            goto fail;
    if (info) *info = (ig_gen_info){.n_prompt_tokens = r.n_tokens, .n_steps = r.sched.n_steps - r.t_start,
                                    .seconds = ig__now_s() - t0};
fail:
    if (err->status)
        for (int i = 0; i < n; i++) ig_image_free(images[i]), images[i] = NULL;
    m->run = NULL;
    ig_run_end(&r);
    free(px), free(init), free(mask), free(feather);
    ig_image_free(fit), ig_image_free(fit_mask);
    if (entered) ig__threads_restore(threads);
    return err->status;
}
