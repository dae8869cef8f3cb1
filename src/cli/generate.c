/* generate.c — `imagine generate`: one txt2img run from the command line, written as PNG (and
 * optionally the final latents as raw little-endian float32 NCHW). A progress bar (step i/N, it/s,
 * ETA) goes to stderr when stderr is a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "engine/engine.h"
#include "image/image.h"
#include "models/single.h"
#include "pipeline/txt2img.h"

typedef struct {
    double t0;
    bool tty;
} progress_state;

static int progress(void *ud, const ig_progress *pr) {
    progress_state *ps = ud;
    const int step = pr->step, n_steps = pr->n_steps;
    if (!ps->tty) return 0;
    const double el = ig__now_s() - ps->t0, rate = step / (el > 0 ? el : 1e-9);
    const int width = 30, fill = step * width / n_steps;
    fprintf(stderr, "\r[%.*s%*s] step %d/%d  %.2f it/s  ETA %.1f s ", fill, "##############################",
            width - fill, "", step, n_steps, rate, (n_steps - step) / rate);
    if (step == n_steps) fputc('\n', stderr);
    return 0;
}

static int parse_spacing(const char *s, ig_spacing *out) {
    if (!strcmp(s, "leading")) *out = IG_SPACING_LEADING;
    else if (!strcmp(s, "linspace")) *out = IG_SPACING_LINSPACE;
    else if (!strcmp(s, "trailing")) *out = IG_SPACING_TRAILING;
    else return -1;
    return 0;
}

static int write_file(void *ctx, const void *data, size_t len) { return fwrite(data, 1, len, ctx) == len ? 0 : -1; }

static void usage(FILE *f) {
    fprintf(f, "usage: imagine generate [--model DIR] --prompt TEXT [--negative-prompt TEXT] [--seed N] [--steps N]\n"
               "       [--cfg F] [--sampler euler|euler_a|dpmpp_2m_karras|lcm|turbo]\n"
               "       [--timestep-spacing leading|linspace|trailing] [--width W] [--height H] [--n N]\n"
               "       [--out FILE.png] [--out-latent FILE.bin] [--precision f32|bf16|auto]\n"
               "--model is a diffusers folder (default: the built-in model, assets/imagine-emoji) or a single-file .safetensors checkpoint (SD 1.x / 2.x); for a\n"
               "single file, [--vocab DIR] names the CLIP vocab.json/merges.txt folder and\n"
               "[--prediction epsilon|v_prediction] what the UNet predicts (SD 2.1-768: v_prediction).\n");
}

int ig_cli_generate(int argc, char **argv) {
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    const char *model = NULL, *out = "out.png", *out_latent = NULL, *precision = "auto", *vocab = NULL;
    ig_sd_open_opts sopts = IG_SD_OPEN_OPTS_INIT;
    int rc = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "imagine generate: %s needs a value\n", a);
            return 2;
        }
        char *end = NULL;
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--prompt")) p.prompt = v;
        else if (!strcmp(a, "--negative-prompt")) p.negative_prompt = v;
        else if (!strcmp(a, "--seed")) p.seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--steps")) p.n_steps = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--cfg")) p.guidance = strtof(v, &end);
        else if (!strcmp(a, "--width")) p.width = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--height")) p.height = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--n")) p.n_images = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--out-latent")) out_latent = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--prediction")) {
            if (!strcmp(v, "epsilon")) sopts.prediction_type = IG_PREDICTION_EPSILON;
            else if (!strcmp(v, "v_prediction") || !strcmp(v, "v")) sopts.prediction_type = IG_PREDICTION_V;
            else {
                fprintf(stderr, "imagine generate: --prediction is epsilon or v_prediction, not '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--sampler")) {
            if (ig_sampler_parse(v, &p.sampler)) {
                fprintf(stderr, "imagine generate: unknown sampler '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--timestep-spacing")) {
            if (parse_spacing(v, &p.spacing)) {
                fprintf(stderr, "imagine generate: unknown timestep spacing '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "imagine generate: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "imagine generate: %s: not a number: '%s'\n", a, v);
            return 2;
        }
    }
    char builtin[4096];
    if (!model) { /* the built-in model */
        ig__asset_path("imagine-emoji", builtin, sizeof builtin);
        model = builtin;
    }
    if (p.n_images < 1 || p.n_images > 16 || p.width < 8 || p.height < 8 || p.width % 8 || p.height % 8 ||
        p.width > 4096 || p.height > 4096 || p.n_steps < 1 || p.n_steps > 1000) {
        fprintf(stderr, "imagine generate: need 1 <= n <= 16, width/height multiples of 8 in 8..4096, 1 <= steps <= 1000\n");
        return 2;
    }
    ig_precision prec = !strcmp(precision, "f32") ? IG_PRECISION_F32 : !strcmp(precision, "bf16") ? IG_PRECISION_BF16 : IG_PRECISION_AUTO;
    ig_err err = {0};
    ig_engine *e = NULL;
    ig_sd_model *m = NULL;
    float *lat = NULL, *img = NULL;
    ig_image *im = NULL;
    progress_state ps = {.t0 = 0, .tty = isatty(2)};
    p.progress = progress, p.progress_user = &ps;
    struct stat st;
    const bool single = stat(model, &st) == 0 && S_ISREG(st.st_mode);
    char vdir[1100];
    if (vocab) snprintf(vdir, sizeof vdir, "%s", vocab);
    else ig__asset_path("clip", vdir, sizeof vdir);
    if (ig_engine_create(&e, "cpu", prec, &err)) goto done;
    sopts.vocab_dir = vdir;
    if (single ? ig_sd_open_single(&m, model, &sopts, &err) : ig_sd_open(&m, model, &sopts, &err)) goto done;
    const int f = ig_sd_latent_factor(m);
    if (p.width % f || p.height % f) {
        ig__fail(&err, IG_ERR_INVALID, "this model needs width and height multiples of %d", f);
        goto done;
    }
    const size_t n_lat = (size_t)p.n_images * m->unet.cfg.in_channels * (p.height / f) * (p.width / f);
    const size_t n_px = (size_t)p.n_images * p.height * p.width * 3;
    lat = malloc(n_lat * sizeof(float));
    img = malloc(n_px * sizeof(float));
    if (!lat || !img) {
        ig__fail(&err, IG_ERR_NOMEM, "out of memory for %d images of %dx%d", p.n_images, p.width, p.height);
        goto done;
    }
    ps.t0 = ig__now_s();
    int n_tokens = 0;
    if (ig_txt2img(e, m, &p, lat, img, &n_tokens, &err)) goto done;
    fprintf(stderr, "generated %d image(s) %dx%d in %.2f s (%s, %s, %d steps, %d prompt tokens)\n", p.n_images,
            p.width, p.height, ig__now_s() - ps.t0, ig_dtype_name(e->act_dtype), ig_sampler_name(p.sampler),
            p.n_steps, n_tokens);
    if (out_latent) {
        FILE *f = fopen(out_latent, "wb");
        if (!f || fwrite(lat, sizeof(float), n_lat, f) != n_lat) {
            ig__fail(&err, IG_ERR_IO, "cannot write %s", out_latent);
            if (f) fclose(f);
            goto done;
        }
        if (fclose(f)) {
            ig__fail(&err, IG_ERR_IO, "cannot write %s", out_latent);
            goto done;
        }
    }
    if (ig_image_new(&im, p.width, p.height, 3, &err)) goto done;
    for (int i = 0; i < p.n_images; i++) {
        char path[1100];
        if (p.n_images == 1) snprintf(path, sizeof path, "%s", out);
        else {
            const char *dot = strrchr(out, '.');
            int stem = dot ? (int)(dot - out) : (int)strlen(out);
            snprintf(path, sizeof path, "%.*s-%d%s", stem, out, i, dot ? dot : ".png");
        }
        /* the pipeline's image is already (x/2 + 0.5).clamp(0, 1) */
        if (ig_image_from_f32(im, img + (size_t)i * p.height * p.width * 3, IG_LAYOUT_HWC, IG_RANGE_0_1, &err))
            goto done;
        FILE *f = fopen(path, "wb");
        if (!f) {
            ig__fail(&err, IG_ERR_IO, "cannot create %s", path);
            goto done;
        }
        ig_status st = ig_image_encode(im, IG_FORMAT_PNG, 100, write_file, f, &err);
        if (fclose(f) && !st) st = ig__fail(&err, IG_ERR_IO, "cannot write %s", path);
        if (st) goto done;
        fprintf(stderr, "wrote %s\n", path);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "imagine generate: %s\n", err.msg[0] ? err.msg : "failed");
    ig_image_free(im);
    free(lat), free(img);
    ig_sd_close(e, m);
    ig_engine_free(e);
    return rc;
}
