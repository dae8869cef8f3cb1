/* test_lib.c — the public API (include/imagine.h) as a program sees it: no internal header.
 *  - ig_generate in f32 gives diffusers' image (the golden pipeline run, 8-bit) for the same seed;
 *  - two models open in one process generate independently: each model's images are the same
 *    alone, interleaved with the other's, and while the other runs on a second thread at once (no
 *    shared scratch, cache or state), including two opens of one model at two precisions;
 *  - a cancel from the progress callback returns IG_ERR_CANCELLED with no image left (make debug
 *    runs this under LeakSanitizer), and previews work inside the callback;
 *  - bad arguments are clear errors, never a crash. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imagine.h"
#include "test.h"

static char sd1[1024], sd2[1024];

static ig_model *open_model(const char *path, ig_precision prec) {
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.precision = prec;
    ig_model *m = NULL;
    ig_err err = {0};
    if (ig_model_open(&m, path, &o, &err) != IG_OK) fprintf(stderr, "  open %s: %s\n", path, err.msg);
    CHECK(m != NULL);
    return m;
}

static ig_gen_params astronaut(int seed, ig_sampler s, float g, int w, int h) {
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = "a photograph of an astronaut riding a horse";
    p.width = w, p.height = h, p.n_steps = 4, p.guidance = g, p.sampler = s, p.seed = (uint64_t)seed;
    return p;
}

/* The image as one malloc'd RGB buffer (NULL on failure, message printed). */
static uint8_t *draw(ig_model *m, const ig_gen_params *p) {
    ig_image *img = NULL;
    ig_err err = {0};
    if (ig_generate(m, p, &img, NULL, &err) != IG_OK) {
        fprintf(stderr, "  generate: %s\n", err.msg);
        return NULL;
    }
    uint8_t *px = malloc((size_t)img->width * img->height * 3);
    for (int y = 0; px && y < img->height; y++)
        memcpy(px + (size_t)y * img->width * 3, img->pixels + (size_t)y * img->stride, (size_t)img->width * 3);
    ig_image_free(img);
    return px;
}

static void test_golden_image(void) {
    ig_model *m = open_model(sd1, IG_PRECISION_F32);
    if (!m) return;
    ig_model_info info;
    ig_model_describe(m, &info);
    CHECK(info.family == IG_FAMILY_SD1 && !strcmp(ig_family_name(info.family), "sd1"));
    CHECK(info.latent_channels == 4 && info.latent_factor == 8 && info.size_multiple == 64);
    CHECK(info.max_prompt_tokens == 77 && info.precision == IG_PRECISION_F32);
    CHECK(info.prediction == IG_PREDICTION_EPSILON && (info.samplers & (1u << IG_SAMPLER_LCM)));
    /* pipe_euler_64x128_cfg7.5: EulerDiscreteScheduler, guidance 7.5, H 64, W 128, seed 0 */
    ig_gen_params p = astronaut(0, IG_SAMPLER_EULER, 7.5f, 128, 64);
    ig_gen_info gi = {0};
    ig_image *img = NULL;
    ig_err err = {0};
    CHECK(ig_generate(m, &p, &img, &gi, &err) == IG_OK);
    CHECK(gi.n_prompt_tokens == 10 && gi.n_steps == 4 && gi.seconds > 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/golden/sd1-tiny/cases/pipe_euler_64x128_cfg7.5_image.bin", test_shared_dir());
    float *ref = malloc(sizeof(float) * 64 * 128 * 3);
    FILE *f = fopen(path, "rb");
    CHECK(f && ref && fread(ref, sizeof(float), 64 * 128 * 3, f) == 64 * 128 * 3);
    if (f) fclose(f);
    if (img && ref) {
        CHECK(img->width == 128 && img->height == 64 && img->channels == 3);
        int worst = 0;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 128 * 3; x++) {
                const int want = (int)lrintf(ref[y * 128 * 3 + x] * 255.0f), got = img->pixels[y * img->stride + x];
                if (abs(want - got) > worst) worst = abs(want - got);
            }
        /* the golden pipeline tolerance (1e-3 of the [0, 1] image) is a quarter of one 8-bit level */
        printf("  ig_generate f32 vs diffusers pipe_euler_64x128 image: max |8-bit diff| %d (tol 1)\n", worst);
        CHECK(worst <= 1);
    }
    free(ref);
    ig_image_free(img);
    ig_model_close(m);
}

typedef struct {
    ig_model *m;
    ig_gen_params p;
    int reps;
    uint8_t *out[4];
} job;

static void *run_job(void *arg) {
    job *j = arg;
    for (int r = 0; r < j->reps; r++) j->out[r] = draw(j->m, &j->p);
    return NULL;
}

static int same(const uint8_t *a, const uint8_t *b, size_t n) { return a && b && !memcmp(a, b, n); }

static void test_independent(void) {
    /* sd1-tiny in bf16 (the default path where the CPU has it), sd2-tiny in f32, and sd1-tiny again in
     * f32: three engines, three sets of caches */
    ig_model *a = open_model(sd1, IG_PRECISION_AUTO), *b = open_model(sd2, IG_PRECISION_F32);
    ig_model *c = open_model(sd1, IG_PRECISION_F32);
    if (!a || !b || !c) goto done;
    const ig_gen_params pa = astronaut(5, IG_SAMPLER_EULER_A, 7.5f, 64, 64);
    const ig_gen_params pb = astronaut(6, IG_SAMPLER_DPMPP_2M_KARRAS, 5.0f, 128, 64);
    const ig_gen_params pc = astronaut(7, IG_SAMPLER_EULER, 1.0f, 64, 128);
    const size_t na = 64 * 64 * 3, nb = 128 * 64 * 3, nc = 64 * 128 * 3;
    /* alone, each first */
    uint8_t *ra = draw(a, &pa), *rb = draw(b, &pb), *rc = draw(c, &pc);
    /* interleaved */
    uint8_t *ia = draw(a, &pa), *ib = draw(b, &pb), *ic = draw(c, &pc), *ia2 = draw(a, &pa);
    CHECK(same(ra, ia, na) && same(ra, ia2, na) && same(rb, ib, nb) && same(rc, ic, nc));
    /* the same model at two precisions differs (bf16 vs f32) only when the CPU has bf16: no check */
    /* at once, on three threads */
    job ja = {a, pa, 3, {0}}, jb = {b, pb, 3, {0}}, jc = {c, pc, 3, {0}};
    pthread_t t[3];
    pthread_create(&t[0], NULL, run_job, &ja);
    pthread_create(&t[1], NULL, run_job, &jb);
    pthread_create(&t[2], NULL, run_job, &jc);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    int ok = 1;
    for (int r = 0; r < 3; r++) ok &= same(ra, ja.out[r], na) && same(rb, jb.out[r], nb) && same(rc, jc.out[r], nc);
    printf("  three models, alone / interleaved / three threads at once: %s\n", ok ? "identical" : "DIFFERENT");
    CHECK(ok);
    for (int r = 0; r < 3; r++) free(ja.out[r]), free(jb.out[r]), free(jc.out[r]);
    free(ra), free(rb), free(rc), free(ia), free(ib), free(ic), free(ia2);
done:
    ig_model_close(a), ig_model_close(b), ig_model_close(c);
}

typedef struct {
    int calls, cancel_at, previews_ok;
} cancel_ctx;

static int on_step(void *user, const ig_progress *p) {
    cancel_ctx *c = user;
    c->calls++;
    ig_image *pv = NULL;
    ig_err err = {0};
    /* a preview of each image of the batch, at the latents' resolution */
    for (int i = 0; i < p->n_images; i++) {
        if (ig_progress_preview(p, i, &pv, &err) == IG_OK && pv->width == p->latent_width &&
            pv->height == p->latent_height && pv->channels == 3)
            c->previews_ok++;
        ig_image_free(pv), pv = NULL;
    }
    CHECK(ig_progress_preview(p, p->n_images, &pv, &err) == IG_ERR_INVALID && pv == NULL);
    return p->step == c->cancel_at;
}

static void test_cancel(void) {
    ig_model *m = open_model(sd2, IG_PRECISION_AUTO);
    if (!m) return;
    ig_gen_params p = astronaut(3, IG_SAMPLER_EULER_A, 7.5f, 64, 64);
    p.n_images = 2;
    cancel_ctx c = {.cancel_at = 2};
    p.progress = on_step, p.progress_user = &c;
    ig_image *img[2] = {(ig_image *)1, (ig_image *)1};
    ig_err err = {0};
    CHECK(ig_generate(m, &p, img, NULL, &err) == IG_ERR_CANCELLED);
    CHECK(img[0] == NULL && img[1] == NULL && strstr(err.msg, "cancel"));
    CHECK(c.calls == 2 && c.previews_ok == 4);
    /* the model is still good after a cancel */
    c = (cancel_ctx){.cancel_at = -1};
    err = (ig_err){0};
    CHECK(ig_generate(m, &p, img, NULL, &err) == IG_OK && c.calls == 4);
    ig_image_free(img[0]), ig_image_free(img[1]);
    ig_model_close(m);
}

static void test_errors(void) {
    ig_model *m = NULL;
    ig_err err = {0};
    CHECK(ig_model_open(&m, "/nonexistent/model", NULL, &err) == IG_ERR_NOT_FOUND && m == NULL);
    CHECK(strstr(err.msg, "/nonexistent/model") != NULL);
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.n_threads = -1;
    err = (ig_err){0};
    CHECK(ig_model_open(&m, sd1, &o, &err) == IG_ERR_INVALID && m == NULL);
    o.n_threads = 1;
    err = (ig_err){0};
    CHECK(ig_model_open(&m, sd1, &o, &err) == IG_OK);
    if (!m) return;
    ig_image *img = NULL;
    ig_gen_params p = astronaut(1, IG_SAMPLER_EULER, 7.5f, 96, 64); /* 96: not a multiple of 64 */
    err = (ig_err){0};
    CHECK(ig_generate(m, &p, &img, NULL, &err) == IG_ERR_INVALID && img == NULL && strstr(err.msg, "multiples of 64"));
    p = astronaut(1, IG_SAMPLER_EULER, 7.5f, 64, 64);
    p.n_images = 0;
    err = (ig_err){0};
    CHECK(ig_generate(m, &p, &img, NULL, &err) == IG_ERR_INVALID);
    p = astronaut(1, (ig_sampler)99, 7.5f, 64, 64);
    err = (ig_err){0};
    CHECK(ig_generate(m, &p, &img, NULL, &err) == IG_ERR_INVALID && img == NULL);
    p = astronaut(1, IG_SAMPLER_EULER, 7.5f, 64, 64);
    uint8_t px[64 * 64 * 3] = {0};
    ig_image init = {.width = 64, .height = 64, .channels = 3, .stride = 64 * 3, .pixels = px};
    p.init_image = &init;
    err = (ig_err){0};
    p.strength = 1.5f;
    CHECK(ig_generate(m, &p, &img, NULL, &err) == IG_ERR_INVALID && img == NULL && strstr(err.msg, "strength"));
    ig_image small = init;
    small.width = 32;
    p.strength = 0.5f, p.mask = &small;
    err = (ig_err){0};
    CHECK(ig_generate(m, &p, &img, NULL, &err) == IG_ERR_INVALID && img == NULL && strstr(err.msg, "same size"));
    err = (ig_err){0};
    CHECK(ig_generate(m, NULL, &img, NULL, &err) == IG_ERR_INVALID && err.status == IG_ERR_INVALID);
    /* one thread works too, and gives the picture every thread count gives */
    p = astronaut(9, IG_SAMPLER_EULER, 7.5f, 64, 64);
    uint8_t *one = draw(m, &p);
    ig_model_close(m);
    ig_model *all = open_model(sd1, IG_PRECISION_AUTO);
    uint8_t *many = all ? draw(all, &p) : NULL;
    CHECK(same(one, many, sizeof px));
    free(one), free(many);
    ig_model_close(all);
    ig_sampler s;
    CHECK(ig_sampler_parse("dpmpp_2m_karras", &s) == 0 && s == IG_SAMPLER_DPMPP_2M_KARRAS);
    CHECK(ig_sampler_parse("nope", &s) == -1 && !strcmp(ig_sampler_name(IG_SAMPLER_TURBO), "turbo"));
    CHECK(!strcmp(ig_version(), IG_VERSION) && IG_VERSION_NUMBER == 300);
    CHECK(!strcmp(ig_status_name(IG_ERR_CANCELLED), "IG_ERR_CANCELLED"));
    ig_model_close(NULL);
    ig_image_free(NULL);
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

/* Image to image and inpainting on the built-in model (its VAE reconstructs; the tiny golden
 * models' random VAEs do not). */
static void test_img2img(void) {
    ig_model *m = open_model(NULL, IG_PRECISION_AUTO);
    if (!m) return;
    ig_model_info info;
    ig_model_describe(m, &info);
    const int W = info.native_width, H = info.native_height;
    const size_t n = (size_t)W * H * 3;
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = "a red apple";
    p.width = W, p.height = H, p.n_steps = info.default_steps, p.guidance = info.default_guidance;
    p.sampler = info.default_sampler, p.seed = 11;
    uint8_t *apple = draw(m, &p);
    ig_image pic = {.width = W, .height = H, .channels = 3, .stride = (size_t)W * 3, .pixels = apple};
    /* strength 1 without a mask: exactly text to image with the seed */
    ig_gen_params q = p;
    q.prompt = "a blue whale", q.seed = 12;
    uint8_t *whale = draw(m, &q);
    q.init_image = &pic, q.strength = 1.0f;
    uint8_t *s1 = draw(m, &q);
    CHECK(same(s1, whale, n));
    /* strength 0: no step runs, the picture through the VAE and back */
    q.strength = 0.0f;
    uint8_t *s0 = draw(m, &q);
    const double d0 = s0 && apple ? mean_abs(s0, apple, n) : 999, dw = whale && apple ? mean_abs(whale, apple, n) : 0;
    printf("  img2img strength 0: mean |out - input| %.2f levels (the whale: %.2f)\n", d0, dw);
    CHECK(d0 < 16 && d0 < dw / 2);
    /* strength 0.6: between the two, and the same bytes twice */
    q.strength = 0.6f;
    uint8_t *s6 = draw(m, &q), *s6b = draw(m, &q);
    CHECK(same(s6, s6b, n) && !same(s6, s0, n) && !same(s6, whale, n));
    /* a picture of another size and aspect is cut and resized, not refused */
    uint8_t *big = malloc((size_t)(W * 2 + 16) * H * 3);
    for (size_t i = 0; big && i < (size_t)(W * 2 + 16) * H * 3; i++) big[i] = (uint8_t)(i * 7 % 251);
    ig_image wide = {.width = W * 2 + 16, .height = H, .channels = 3, .stride = (size_t)(W * 2 + 16) * 3, .pixels = big};
    q.init_image = &wide;
    uint8_t *sw = draw(m, &q);
    CHECK(sw != NULL);
    /* inpainting: repaint the left half (alpha 0), keep the right half */
    uint8_t *mk = malloc((size_t)W * H * 4);
    for (int y = 0; mk && y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *px = mk + ((size_t)y * W + x) * 4;
            px[0] = px[1] = px[2] = 0, px[3] = x < W / 2 ? 0 : 255;
        }
    ig_image mask = {.width = W, .height = H, .channels = 4, .stride = (size_t)W * 4, .pixels = mk};
    q.init_image = &pic, q.mask = &mask, q.strength = 1.0f;
    uint8_t *ip = draw(m, &q);
    size_t kept_diff = 0, kept_n = 0;
    double left = 0;
    const int edge = W / 2 + info.latent_factor * 2; /* past the feathered edge */
    for (int y = 0; ip && apple && y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                const size_t k = ((size_t)y * W + x) * 3 + c;
                if (x >= edge) kept_n++, kept_diff += ip[k] != apple[k];
                if (x < W / 2) left += abs((int)ip[k] - (int)apple[k]);
            }
    left /= (double)(W / 2) * H * 3;
    printf("  inpainting: %zu of %zu kept values changed; repainted half mean |diff| %.1f levels\n", kept_diff, kept_n,
           left);
    CHECK(ip && kept_n > 0 && kept_diff == 0 && left > 10);
    free(apple), free(whale), free(s1), free(s0), free(s6), free(s6b), free(big), free(sw), free(mk), free(ip);
    ig_model_close(m);
}

int main(void) {
    snprintf(sd1, sizeof sd1, "%s/golden/sd1-tiny/model", test_shared_dir());
    snprintf(sd2, sizeof sd2, "%s/golden/sd2-tiny/model", test_shared_dir());
    test_golden_image();
    test_independent();
    test_cancel();
    test_errors();
    test_img2img();
    return test_finish("test_lib");
}
