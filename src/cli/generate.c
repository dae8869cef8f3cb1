/* generate.c — `imagine generate`: one txt2img run from the command line, written as PNG (and
 * optionally the final latents as raw little-endian float32 NCHW). A progress bar (step i/N, it/s,
 * ETA) goes to stderr when stderr is a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image/image.h"
#include "lib/lib.h"

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
               "       [--out FILE.png] [--out-latent FILE.bin] [--precision f32|bf16|auto] [--exact-size]\n"
               "       [--fast-decoder PATH] [--decoder fast|full]\n"
               "--fast-decoder loads TAESD weights (README \"Fast decoder\"); --decoder fast decodes with it\n"
               "(default: the model's imagine.json \"decoder\", else full, the model's VAE).\n"
               "The model draws at its native area in the asked aspect and the result is resized to --width x\n"
               "--height (default: the native size), as imagine serve does; --exact-size (implied by --out-latent)\n"
               "draws at exactly --width x --height (multiples of the model's size multiple, 64 for SD).\n"
               "--model is a diffusers folder (default: the built-in model, assets/imagine-emoji) or a single-file .safetensors checkpoint (SD 1.x / 2.x); for a\n"
               "single file, [--vocab DIR] names the CLIP vocab.json/merges.txt folder and\n"
               "[--prediction epsilon|v_prediction] what the UNet predicts (SD 2.1-768: v_prediction).\n");
}

int ig_cli_generate(int argc, char **argv) {
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    const char *model = NULL, *out = "out.png", *out_latent = NULL, *precision = "auto", *vocab = NULL, *fast = NULL;
    ig_prediction prediction = IG_PREDICTION_UNSET;
    bool exact = false, sized = false;
    int rc = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--exact-size")) {
            exact = true;
            continue;
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
        else if (!strcmp(a, "--width")) p.width = (int)strtol(v, &end, 10), sized = true;
        else if (!strcmp(a, "--height")) p.height = (int)strtol(v, &end, 10), sized = true;
        else if (!strcmp(a, "--n")) p.n_images = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--out-latent")) out_latent = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--vocab")) vocab = v;
        else if (!strcmp(a, "--fast-decoder")) fast = v;
        else if (!strcmp(a, "--decoder")) {
            if (!strcmp(v, "fast")) p.decoder = IG_DECODER_FAST;
            else if (!strcmp(v, "full")) p.decoder = IG_DECODER_FULL;
            else {
                fprintf(stderr, "imagine generate: --decoder is fast or full, not '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(a, "--prediction")) {
            if (!strcmp(v, "epsilon")) prediction = IG_PREDICTION_EPSILON;
            else if (!strcmp(v, "v_prediction") || !strcmp(v, "v")) prediction = IG_PREDICTION_V;
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
    if (p.n_images < 1 || p.n_images > 16 || p.width < 8 || p.height < 8 || p.width % 8 || p.height % 8 || p.width > 4096 || p.height > 4096 ||
        p.n_steps < 1 || p.n_steps > 1000) {
        fprintf(stderr, "imagine generate: need 1 <= n <= 16, width/height multiples of 8 in 8..4096, 1 <= steps <= 1000\n");
        return 2;
    }
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.precision = !strcmp(precision, "f32") ? IG_PRECISION_F32 : !strcmp(precision, "bf16") ? IG_PRECISION_BF16 : IG_PRECISION_AUTO;
    o.vocab_dir = vocab, o.prediction = prediction, o.fast_decoder = fast;
    ig_err err = {0};
    ig_model *m = NULL;
    ig_model_info info;
    float *lat = NULL;
    ig_image *img[16] = {0};
    ig_gen_info gi = {0};
    progress_state ps = {.t0 = 0, .tty = isatty(2)};
    p.progress = progress, p.progress_user = &ps;
    if (ig_model_open(&m, model, &o, &err)) goto done; /* model NULL: the built-in one */
    ig_model_describe(m, &info);
    if (out_latent) exact = true; /* latents of the asked size */
    /* as the server does: draw at the model's native area in the asked aspect, then cut and resize
     * to the asked pixels (without --width/--height: the native size itself) */
    const int want_w = sized ? p.width : info.native_width, want_h = sized ? p.height : info.native_height;
    if (!sized && exact) p.width = want_w, p.height = want_h;
    if (!exact) ig_plan_native_size(info.native_width, info.size_multiple, want_w, want_h, &p.width, &p.height);
    const size_t n_lat = (size_t)p.n_images * info.latent_channels * (p.height / info.latent_factor) *
                         (p.width / info.latent_factor);
    if (out_latent && !(lat = malloc(n_lat * sizeof(float)))) {
        ig__fail(&err, IG_ERR_NOMEM, "out of memory for the latents");
        goto done;
    }
    ps.t0 = ig__now_s();
    if (ig__generate(m, &p, img, &gi, lat, &err)) goto done;
    for (int i = 0; i < p.n_images && (p.width != want_w || p.height != want_h); i++) {
        ig_image *sized_img = NULL, view = *img[i];
        int cx, cy, cw, ch;
        ig_plan_crop(p.width, p.height, want_w, want_h, &cx, &cy, &cw, &ch);
        view.width = cw, view.height = ch, view.pixels += (size_t)cy * view.stride + (size_t)cx * 3;
        if (ig__fit_image(&view, want_w, want_h, &sized_img, &err)) goto done;
        ig_image_free(img[i]);
        img[i] = sized_img;
    }
    if (p.width != want_w || p.height != want_h)
        fprintf(stderr, "drawn at %dx%d (the model's native area), resized to %dx%d (--exact-size draws as asked)\n",
                p.width, p.height, want_w, want_h);
    fprintf(stderr, "generated %d image(s) %dx%d in %.2f s (%s, %s, %d steps, %d prompt tokens)\n", p.n_images,
            p.width, p.height, gi.seconds, info.precision == IG_PRECISION_BF16 ? "bf16" : "f32",
            ig_sampler_name(p.sampler), gi.n_steps, gi.n_prompt_tokens);
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
    for (int i = 0; i < p.n_images; i++) {
        char path[1100];
        if (p.n_images == 1) snprintf(path, sizeof path, "%s", out);
        else {
            const char *dot = strrchr(out, '.');
            int stem = dot ? (int)(dot - out) : (int)strlen(out);
            snprintf(path, sizeof path, "%.*s-%d%s", stem, out, i, dot ? dot : ".png");
        }
        FILE *f = fopen(path, "wb");
        if (!f) {
            ig__fail(&err, IG_ERR_IO, "cannot create %s", path);
            goto done;
        }
        ig_status st = ig_image_encode(img[i], IG_FORMAT_PNG, 100, write_file, f, &err);
        if (fclose(f) && !st) st = ig__fail(&err, IG_ERR_IO, "cannot write %s", path);
        if (st) goto done;
        fprintf(stderr, "wrote %s\n", path);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "imagine generate: %s\n", err.msg[0] ? err.msg : "failed");
    for (int i = 0; i < 16; i++) ig_image_free(img[i]);
    free(lat);
    ig_model_close(m);
    return rc;
}
