/* test_img2img.c — the image-to-image and inpainting stages (pipeline/run.h) against diffusers'
 * algorithm recomputed here in float64 from its definition (StableDiffusionImg2ImgPipeline and
 * StableDiffusionInpaintPipeline 0.30 with a 4-channel UNet):
 *   t_start = n - min(int(n * strength), n); image latents = scaling_factor * (mean + exp(logvar / 2)
 *   * e1), e1 = randn((1, C, h, w), generator) drawn first; noise e2 = randn((n, C, h, w)) next;
 *   latents = add_noise(image latents, e2, timesteps[t_start]): Euler x + sigma e2; DPM++ alpha x +
 *   sigma alpha e2 with alpha = 1 / sqrt(sigma^2 + 1); LCM sqrt(acp[t]) x + sqrt(1 - acp[t]) e2.
 *   Inpainting: the latent mask is the pixel mask sampled nearest at (8 i, 8 j); after step i,
 *   outside it latents = add_noise(image latents, e2, timesteps[i + 1]) (image latents after the
 *   last); at strength 1 latents = e2 * init_noise_sigma.
 * The encoder's moments come from ig_vae_encode (checked against its own float64 Encoder in
 * test_vae_encoder.c), the random numbers from rng_torch (checked against torch in test_rng.c).
 * Tolerance: 2e-6 x max(1, |ref|) — float32 arithmetic of a few operations. */
#include <math.h>
#include <string.h>

#include "pipeline/run.h"
#include "test.h"

static ig_engine *e;
static ig_sd_model *m;

/* The picture's moments, computed apart from the run. */
static void moments(const float *img, int H, int W, float *mean, float *logvar) {
    const int C = m->unet.cfg.in_channels, h = H / 8, w = W / 8;
    int64_t is[4] = {1, 3, H, W}, ms[4] = {1, C, h, w};
    ig_tensor it = ig_tensor_plain(IG_F32, 4, is, (void *)img), mt = ig_tensor_plain(IG_F32, 4, ms, mean),
              lt = ig_tensor_plain(IG_F32, 4, ms, logvar);
    ig_arena a = {0};
    ig_fw f = {.e = e, .a = &a, .dt = e->act_dtype};
    ig_err err = {0};
    ig_arena_begin_dry(&a);
    CHECK(ig_vae_encode(&f, &m->vae_enc, &it, &mt, &lt) == IG_OK && ig_arena_commit(&a, e, &err) == IG_OK);
    CHECK(ig_vae_encode(&f, &m->vae_enc, &it, &mt, &lt) == IG_OK);
    ig_arena_free(&a);
}

static double add_noise64(const ig_sched *s, int i, double x, double nz) {
    if (s->kind == IG_SAMPLER_LCM) {
        const double a = s->alphas_cumprod[(int)s->timesteps[i]];
        return sqrt(a) * x + sqrt(1 - a) * nz;
    }
    const double sigma = s->sigmas[i];
    if (s->kind == IG_SAMPLER_DPMPP_2M_KARRAS) {
        const double al = 1 / sqrt(sigma * sigma + 1);
        return al * x + sigma * al * nz;
    }
    return x + sigma * nz;
}

typedef struct {
    int calls;
} counter;

static int count(void *ud, const ig_progress *p) {
    ((counter *)ud)->calls++;
    return 0;
}

static void run_case(ig_sampler sampler, int n_steps, float strength, int n, bool use_mask) {
    const int H = 64, W = 64, C = m->unet.cfg.in_channels, h = H / 8, w = W / 8;
    const size_t per = (size_t)C * h * w, n_lat = (size_t)n * per, hw = (size_t)H * W;
    float *img = malloc(sizeof(float) * 3 * hw), *mask = malloc(sizeof(float) * hw);
    float *mean = malloc(sizeof(float) * per), *logvar = malloc(sizeof(float) * per);
    float *e1 = malloc(sizeof(float) * per), *e2 = malloc(sizeof(float) * n_lat);
    double *lat0 = malloc(sizeof(double) * per), *ref = malloc(sizeof(double) * n_lat);
    float *got = malloc(sizeof(float) * n_lat);
    test_fill(img, 3 * hw, -1, 1);
    for (size_t k = 0; k < hw; k++) mask[k] = test_uniform() < 0.5 ? 1.0f : 0.0f; /* pixel by pixel */
    uint8_t px[4] = {0};
    ig_image dummy = {.width = 1, .height = 1, .channels = 3, .stride = 3, .pixels = px};
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = "a photograph of an astronaut riding a horse";
    p.width = W, p.height = H, p.n_images = n, p.n_steps = n_steps, p.guidance = 3.0f, p.sampler = sampler;
    p.seed = 1234, p.init_image = &dummy, p.mask = use_mask ? &dummy : NULL, p.strength = strength;
    counter cnt = {0};
    p.progress = count, p.progress_user = &cnt;
    ig_run r;
    ig_err err = {0};
    char name[160];
    snprintf(name, sizeof name, "%s n=%d steps=%d strength %.2f%s", ig_sampler_name(sampler), n, n_steps,
             (double)strength, use_mask ? " inpaint" : "");
    CHECK(ig_run_begin(&r, e, m, &p, false, &err) == IG_OK);
    CHECK(ig_run_encode_text(&r, &err) == IG_OK);
    CHECK(ig_run_prepare_image(&r, img, use_mask ? mask : NULL, &err) == IG_OK);
    if (err.status) {
        fprintf(stderr, "  %s: %s\n", name, err.msg);
        goto done;
    }
    /* the reference, from the definition */
    moments(img, H, W, mean, logvar);
    ig_rng_torch g;
    ig_rng_torch_seed(&g, p.seed);
    ig_rng_torch_randn(&g, e1, per);
    ig_rng_torch_randn(&g, e2, n_lat);
    const double sf = m->vae.cfg.scaling_factor;
    for (size_t k = 0; k < per; k++) lat0[k] = sf * (mean[k] + exp(0.5 * logvar[k]) * e1[k]);
    int init_ts = (int)((double)n_steps * strength);
    if (init_ts > n_steps) init_ts = n_steps;
    const int t_start = n_steps - init_ts;
    CHECK(r.t_start == t_start && r.step == t_start && r.sched.step_index == t_start);
    for (size_t k = 0; k < n_lat; k++)
        ref[k] = use_mask && strength >= 1 ? (double)e2[k] * r.sched.init_noise_sigma
                                           : add_noise64(&r.sched, t_start, lat0[k % per], e2[k]);
    char what[200];
    snprintf(what, sizeof what, "%s: first latents", name);
    memcpy(got, r.latents, sizeof(float) * n_lat);
    check_close(what, got, ref, n_lat, 2e-6, 2e-6);
    if (use_mask) { /* nearest: latent (i, j) is pixel (8 i, 8 j) */
        size_t bad = 0;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) bad += r.lat_mask[i * w + j] != mask[(size_t)(8 * i) * W + 8 * j];
        CHECK(bad == 0);
    }
    /* the steps: inpainting's blend outside the mask after each one */
    double worst = 0;
    size_t n_out = 0;
    while (r.step < r.sched.n_steps) {
        const int i = r.step;
        if (ig_run_step(&r, &err) != IG_OK) {
            fprintf(stderr, "  %s: %s\n", name, err.msg);
            CHECK(0);
            break;
        }
        if (!use_mask) continue;
        for (size_t k = 0; k < n_lat; k++) {
            const size_t q = k % (size_t)(h * w);
            if (r.lat_mask[q] != 0) continue;
            const double want = i < r.sched.n_steps - 1 ? add_noise64(&r.sched, i + 1, lat0[k % per], e2[k]) : lat0[k % per];
            const double d = fabs(r.latents[k] - want) / fmax(1, fabs(want));
            if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
            n_out++;
        }
    }
    if (use_mask) {
        printf("  %-60s kept latents after each step: max rel err %.3g over %zu (tol 2e-6)\n", name, worst, n_out);
        CHECK(worst <= 2e-6 && n_out > 0);
    }
    CHECK(cnt.calls == r.sched.n_steps - t_start);
done:
    ig_run_end(&r);
    free(img), free(mask), free(mean), free(logvar), free(e1), free(e2), free(lat0), free(ref), free(got);
}

int main(void) {
    test_seed();
    ig_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/golden/sd2-tiny/model", test_shared_dir());
    CHECK(ig_engine_create(&e, "cpu", IG_PRECISION_F32, &err) == IG_OK);
    CHECK(ig_sd_open(&m, dir, NULL, &err) == IG_OK);
    CHECK(ig_sd_load_encoder(m, &err) == IG_OK);
    if (err.status) {
        fprintf(stderr, "%s\n", err.msg);
        return test_finish("test_img2img");
    }
    run_case(IG_SAMPLER_EULER, 4, 0.5f, 1, false);
    run_case(IG_SAMPLER_EULER_A, 6, 0.7f, 2, false);
    run_case(IG_SAMPLER_DPMPP_2M_KARRAS, 5, 0.6f, 1, false);
    run_case(IG_SAMPLER_LCM, 4, 0.75f, 2, false);
    run_case(IG_SAMPLER_EULER, 4, 0.75f, 2, true);
    run_case(IG_SAMPLER_DPMPP_2M_KARRAS, 6, 0.5f, 1, true);
    run_case(IG_SAMPLER_LCM, 4, 0.5f, 1, true);
    run_case(IG_SAMPLER_EULER_A, 3, 1.0f, 1, true); /* is_strength_max */
    ig_sd_close(e, m);
    ig_engine_free(e);
    return test_finish("test_img2img");
}
