/* test_golden.c — the whole model stack against diffusers' own numbers (../shared/golden, read its
 * README): text encoder states, UNet outputs, VAE decode, and every pipeline run (initial latents,
 * latents after each step, final latents, image) for sd1-tiny and sd2-tiny, on the fp32 path.
 *
 * Metric (the golden README's): max|got - ref| / max(1, max|ref|). Tolerances: single networks
 * 1e-4 (a correct float32 implementation lands near 1e-5: different but correct rounding orders);
 * pipeline latents and images 1e-3 (the aim; acceptance allows 2e-3 on final latents).
 * One bf16 UNet case per set checks the bf16 path end to end, at 5e-2: bf16 keeps 8 mantissa bits
 * in every activation of ~30 chained layers. */
#include <jansson.h>
#include <string.h>

#include "engine/cpu/cpu.h"
#include "models/sd.h"
#include "pipeline/txt2img.h"
#include "test.h"
#include "golden.h"

static char g_dir[512];
static json_t *g_manifest;

static json_t *load_manifest(const char *set) {
    char p[600];
    snprintf(p, sizeof p, "%s/golden/%s/manifest.json", test_shared_dir(), set);
    return golden_load_json(p);
}

static json_t *find_case(const char *name) { return golden_find_case(g_manifest, name); }

/* Reads case `name` (float32 or int32 raw); n gets the element count. */
static void *read_case(const char *name, size_t *n) { return golden_read_case(g_manifest, g_dir, name, n); }

static void test_text(ig_engine *e, ig_sd_model *m, const char *set) {
    const char *names[] = {"empty", "astronaut", "long"};
    for (int k = 0; k < 3; k++) {
        char tn[64], sn[64], label[128];
        snprintf(tn, sizeof tn, "tokens_%s", names[k]);
        snprintf(sn, sizeof sn, "text_%s", names[k]);
        size_t nt, ns;
        int32_t *tok = read_case(tn, &nt);
        float *ref = read_case(sn, &ns);
        CHECK(tok && ref && nt == 77);
        if (!tok || !ref) continue;
        ig_arena a = {0};
        ig_fw f = {.e = e, .a = &a, .dt = IG_F32};
        int64_t s[3] = {1, 77, m->clip.cfg.hidden};
        ig_tensor out = ig_tensor_plain(IG_F32, 3, s, NULL);
        ig_err err = {0};
        ig_arena_begin_dry(&a);
        CHECK(ig_clip_forward(&f, &m->clip, tok, 1, 77, &out) == IG_OK);
        CHECK(ig_arena_commit(&a, f.e, &err) == IG_OK);
        float *got = malloc(ns * sizeof(float));
        out.data = got;
        e->err = (ig_err){0};
        if (ig_clip_forward(&f, &m->clip, tok, 1, 77, &out)) fprintf(stderr, "  clip: %s\n", e->err.msg);
        snprintf(label, sizeof label, "%s %s", set, sn);
        golden_compare(label, got, ref, ns, 1e-4);
        ig_arena_free(&a);
        free(got), free(tok), free(ref);
    }
}

static void test_unet(ig_engine *e, ig_sd_model *m, const char *set, const char *which, float t, ig_dtype dt) {
    char ln[64], cn[64], on[64], label[128];
    snprintf(ln, sizeof ln, "unet_%s_in_latent", which);
    snprintf(cn, sizeof cn, "unet_%s_in_context", which);
    snprintf(on, sizeof on, "unet_%s_out", which);
    size_t nl, nc, no;
    float *lat = read_case(ln, &nl), *ctx = read_case(cn, &nc), *ref = read_case(on, &no);
    CHECK(lat && ctx && ref);
    if (!lat || !ctx || !ref) return;
    json_t *shape = json_object_get(find_case(ln), "shape");
    int64_t ls[4];
    for (int i = 0; i < 4; i++) ls[i] = json_integer_value(json_array_get(shape, i));
    const int64_t D = m->clip.cfg.hidden, N = ls[0];
    int64_t cs[3] = {N, (int64_t)(nc / (size_t)(N * D)), D};
    ig_arena a = {0};
    ig_err err = {0};
    ig_fw f = {.e = e, .a = &a, .dt = dt};
    ig_tensor lt = ig_tensor_plain(IG_F32, 4, ls, lat), ct32 = ig_tensor_plain(IG_F32, 3, cs, ctx);
    float *got = malloc(no * sizeof(float));
    ig_tensor ot = ig_tensor_plain(IG_F32, 4, ls, got);
    ig_arena_begin_dry(&a);
    ig_tensor ct = ig_arena_plain(&a, dt, 3, cs);
    CHECK(ig_unet_forward(&f, &m->unet, &lt, t, &ct, &ot) == IG_OK);
    CHECK(ig_arena_commit(&a, f.e, &err) == IG_OK);
    ct = ig_arena_plain(&a, dt, 3, cs);
    ig_tensor_copy(&ct, &ct32);
    e->err = (ig_err){0};
    double t0 = ig__now_s();
    if (ig_unet_forward(&f, &m->unet, &lt, t, &ct, &ot)) fprintf(stderr, "  unet: %s\n", e->err.msg);
    snprintf(label, sizeof label, "%s unet_%s t=%g %s (%.0f ms)", set, which, t, ig_dtype_name(dt),
             (ig__now_s() - t0) * 1e3);
    golden_compare(label, got, ref, no, dt == IG_BF16 ? 5e-2 : 1e-4);
    ig_arena_free(&a);
    free(got), free(lat), free(ctx), free(ref);
}

static void test_vae(ig_engine *e, ig_sd_model *m, const char *set) {
    size_t no;
    float *ref = read_case("vae_decode_out", &no);
    CHECK(ref != NULL);
    if (!ref) return;
    float lat[256];
    ig_rng_torch g;
    ig_rng_torch_seed(&g, 200); /* vae_in_latent = torch.randn((1,4,8,8), generator=manual_seed(200)) */
    ig_rng_torch_randn(&g, lat, 256);
    int64_t ls[4] = {1, 4, 8, 8}, is[4] = {1, 3, 64, 64};
    ig_arena a = {0};
    ig_err err = {0};
    ig_fw f = {.e = e, .a = &a, .dt = IG_F32};
    float *got = malloc(no * sizeof(float));
    ig_tensor lt = ig_tensor_plain(IG_F32, 4, ls, lat), it = ig_tensor_plain(IG_F32, 4, is, got);
    ig_arena_begin_dry(&a);
    CHECK(ig_vae_decode(&f, &m->vae, &lt, &it) == IG_OK);
    CHECK(ig_arena_commit(&a, f.e, &err) == IG_OK);
    e->err = (ig_err){0};
    if (ig_vae_decode(&f, &m->vae, &lt, &it)) fprintf(stderr, "  vae: %s\n", e->err.msg);
    char label[96];
    snprintf(label, sizeof label, "%s vae_decode_out", set);
    golden_compare(label, got, ref, no, 1e-4);
    ig_arena_free(&a);
    free(got), free(ref);
}

typedef struct {
    const char *set, *run;
    int step;
    float *steps[8];
} progress_ctx;

static void test_pipelines(ig_engine *e, ig_sd_model *m, const char *set) {
    json_t *cases = json_object_get(g_manifest, "cases"), *c;
    size_t i;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t l = strlen(name);
        if (l < 13 || strcmp(name + l - 13, "_init_latents")) continue;
        char run[128];
        snprintf(run, sizeof run, "%.*s", (int)(l - 13), name);
        const char *cls = json_string_value(json_object_get(c, "scheduler_class"));
        json_t *scfg = json_object_get(c, "scheduler_config");
        ig_gen_params p = IG_GEN_PARAMS_INIT;
        p.prompt = json_string_value(json_object_get(c, "prompt"));
        p.negative_prompt = "";
        p.width = (int)json_integer_value(json_object_get(c, "width"));
        p.height = (int)json_integer_value(json_object_get(c, "height"));
        p.n_steps = (int)json_integer_value(json_object_get(c, "num_inference_steps"));
        p.guidance = (float)json_number_value(json_object_get(c, "guidance_scale"));
        p.seed = (uint64_t)json_integer_value(json_object_get(c, "seed"));
        const char *spacing = json_string_value(json_object_get(scfg, "timestep_spacing"));
        if (!strcmp(cls, "EulerDiscreteScheduler")) p.sampler = IG_SAMPLER_EULER;
        else if (!strcmp(cls, "EulerAncestralDiscreteScheduler"))
            p.sampler = spacing && !strcmp(spacing, "trailing") ? IG_SAMPLER_TURBO : IG_SAMPLER_EULER_A;
        else if (!strcmp(cls, "DPMSolverMultistepScheduler")) p.sampler = IG_SAMPLER_DPMPP_2M_KARRAS;
        else if (!strcmp(cls, "LCMScheduler")) p.sampler = IG_SAMPLER_LCM;
        else {
            fprintf(stderr, "  %s: unknown scheduler %s\n", run, cls);
            CHECK(0);
            continue;
        }
        const size_t n_lat = (size_t)4 * (p.height / 8) * (p.width / 8), n_img = (size_t)3 * p.height * p.width;
        float *lat = malloc(n_lat * sizeof(float)), *img = malloc(n_img * sizeof(float));
        ig_err err = {0};
        double t0 = ig__now_s();
        ig_status st = ig_txt2img(e, m, &p, lat, img, NULL, &err);
        if (st) fprintf(stderr, "  %s %s: %s\n", set, run, err.msg);
        CHECK(st == IG_OK);
        char cn[160], label[200];
        size_t nr;
        snprintf(cn, sizeof cn, "%s_final_latents", run);
        float *ref = read_case(cn, &nr);
        CHECK(ref && nr == n_lat);
        snprintf(label, sizeof label, "%s %s final latents (%.0f ms)", set, run, (ig__now_s() - t0) * 1e3);
        if (ref && nr == n_lat) golden_compare(label, lat, ref, n_lat, 1e-3);
        free(ref);
        snprintf(cn, sizeof cn, "%s_image", run);
        ref = read_case(cn, &nr);
        CHECK(ref && nr == n_img);
        snprintf(label, sizeof label, "%s %s image", set, run);
        if (ref && nr == n_img) golden_compare(label, img, ref, n_img, 1e-3);
        free(ref), free(lat), free(img);
    }
}

/* The progress callback sees steps 1..k in order with a finite x0 preview, and a non-zero return
 * stops the run with IG_ERR_CANCELLED; a batch of n = 2 gives two finite, different images. */
typedef struct {
    int calls, last_step, cancel_at;
    bool finite;
    size_t n_x0;
} cancel_ctx;

static int on_step(void *ud, const ig_progress *pr) {
    cancel_ctx *c = ud;
    const int step = pr->step, n_steps = pr->n_steps;
    const float *x0 = pr->pred_x0;
    c->calls++;
    if (step != c->last_step + 1 || n_steps != 4) c->finite = false;
    c->last_step = step;
    for (size_t i = 0; i < c->n_x0; i++)
        if (!isfinite(x0[i])) c->finite = false;
    return step == c->cancel_at;
}

static void test_progress_and_batch(ig_engine *e, ig_sd_model *m) {
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = "a photograph of an astronaut riding a horse";
    p.width = p.height = 64, p.n_steps = 4, p.seed = 3, p.sampler = IG_SAMPLER_EULER_A;
    cancel_ctx c = {.cancel_at = 2, .finite = true, .n_x0 = 256};
    p.progress = on_step, p.progress_user = &c;
    ig_err err = {0};
    CHECK(ig_txt2img(e, m, &p, NULL, NULL, NULL, &err) == IG_ERR_CANCELLED);
    CHECK(c.calls == 2 && c.last_step == 2 && c.finite);
    p.progress = NULL;
    p.n_images = 2;
    float *img = malloc(sizeof(float) * 2 * 64 * 64 * 3);
    err = (ig_err){0};
    CHECK(ig_txt2img(e, m, &p, NULL, img, NULL, &err) == IG_OK);
    size_t differ = 0, bad = 0;
    for (size_t i = 0; i < 64 * 64 * 3; i++) {
        differ += img[i] != img[i + 64 * 64 * 3];
        bad += !(img[i] >= 0 && img[i] <= 1) + !(img[i + 64 * 64 * 3] >= 0 && img[i + 64 * 64 * 3] <= 1);
    }
    CHECK(bad == 0 && differ > 1000);
    free(img);
}

static void test_set(ig_engine *e, ig_engine *e_bf16, const char *set) {
    snprintf(g_dir, sizeof g_dir, "%s/golden/%s", test_shared_dir(), set);
    g_manifest = load_manifest(set);
    if (!g_manifest) {
        fprintf(stderr, "cannot read %s/manifest.json\n", g_dir);
        CHECK(0);
        return;
    }
    char mdir[600];
    snprintf(mdir, sizeof mdir, "%s/model", g_dir);
    ig_sd_model *m = NULL;
    ig_err err = {0};
    if (ig_sd_open(&m, mdir, NULL, &err) != IG_OK) {
        fprintf(stderr, "  %s: %s\n", set, err.msg);
        CHECK(0);
    } else {
        test_text(e, m, set);
        test_unet(e, m, set, "a", 999, IG_F32);
        test_unet(e, m, set, "b", 500, IG_F32);
        test_vae(e, m, set);
        test_pipelines(e, m, set);
        test_progress_and_batch(e, m);
        /* Both engines use the cpu backend, whose per-op caches are keyed by dtype and layout, so one
         * release below frees what either created. */
        if (e_bf16) test_unet(e_bf16, m, set, "a", 999, IG_BF16);
        ig_sd_close(e, m);
    }
    json_decref(g_manifest);
}

int main(void) {
    ig_err err = {0};
    ig_engine *e = NULL, *eb = NULL;
    if (ig_engine_create(&e, "cpu", IG_PRECISION_F32, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ig__dnnl_has_native_bf16()) ig_engine_create(&eb, "cpu", IG_PRECISION_BF16, &err);
    test_set(e, eb, "sd1-tiny");
    test_set(e, eb, "sd2-tiny");
    ig_engine_free(e);
    ig_engine_free(eb);
    return test_finish("test_golden");
}
