/* bench_model.c — `imagine bench --model DIR|FILE`: a whole text-to-image run on a real model (a
 * diffusers folder or a single file), timed stage by stage (text encoder, each UNet step, VAE decode)
 * in ms, GFLOP/s (from the engine's FLOP counter) and % of the peak measured on this machine, with
 * the peak RSS against the weights' size on disk. Asserts nothing.
 *
 * The model is opened with ig_model_open, and the stages are pipeline/run.h's, the same calls in the
 * same order as ig_generate makes, on one arena (sized by a dry run) reused by every run, each stage
 * timed on its own. The first run creates the oneDNN primitives and packs the weights: it is reported apart (setup_ms), and the figures are the median
 * of the --reps runs after it. The peak is measured last, after the RSS is read, so its 512 MiB copy
 * buffers never count in peak_rss_mb. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "peak.h"
#include "lib/lib.h"
#include "pipeline/run.h"

#define MAX_STEPS 100
#define MAX_REPS 32

typedef struct {
    double text_ms, vae_ms, total_ms, step_ms[MAX_STEPS];
    double text_gf, vae_gf, step_gf[MAX_STEPS]; /* GFLOP done by each stage */
    double text_setup_ms, unet_setup_ms, vae_setup_ms;
    double prof_ms[3][IG_OPK_COUNT]; /* --profile: op time by kind in text, unet (all steps), vae */
    long prof_n[3][IG_OPK_COUNT];
    size_t trace_end[3]; /* --profile: the engine's trace records of text, unet, vae end here */
} run_fig;

/* Adds the engine's op time since `from` (a copy of its counters) into stage s of r. */
static void prof_take(run_fig *r, int s, const ig_engine *e, const ig_engine *from) {
    for (int k = 0; k < IG_OPK_COUNT; k++) {
        r->prof_ms[s][k] += (e->prof_s[k] - from->prof_s[k]) * 1e3;
        r->prof_n[s][k] += e->prof_n[k] - from->prof_n[k];
    }
}

typedef struct {
    ig_model *model;
    ig_engine *e;
    ig_sd_model *m;
    ig_run r; /* one run, its arena sized once: every rep re-runs its stages */
    int n, W, H, n_steps;
    float *image;
} bench;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double rss_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void loadavg(char *buf, size_t len) {
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) {
        if (!fgets(buf, (int)len, f)) buf[0] = 0;
        fclose(f);
    }
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
}

/* MiB of a part's weights on disk (part/model.safetensors or diffusion_pytorch_model.safetensors, plain
 * or .fp16; the first found); 0 when the part is absent. */
static double folder_mib(const char *dir, const char *part) {
    static const char *const names[] = {"model.safetensors", "model.fp16.safetensors",
                                        "diffusion_pytorch_model.safetensors",
                                        "diffusion_pytorch_model.fp16.safetensors"};
    char p[1200];
    struct stat st;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", dir, part, names[i]);
        if (stat(p, &st) == 0) return (double)st.st_size / (1024.0 * 1024.0);
    }
    return 0;
}

#define TRACE_CAP 200000

/* --profile's second part: per stage, the ops grouped by kind and FLOP count (ops of one shape share
 * both), the groups that took the most time first, with their GFLOP/s against the peak. */
typedef struct op_group {
    ig_op_kind kind;
    double flops_each, seconds;
    long count;
} op_group;

static int group_cmp(const void *a, const void *b) {
    const double x = ((const op_group *)a)->seconds, y = ((const op_group *)b)->seconds;
    return (x < y) - (x > y);
}

static void print_trace(const ig_engine *e, const run_fig *rf, double peak) {
    enum { MAX_GROUPS = 512, SHOWN = 10 };
    static const char *const stage[3] = {"text encoder", "unet", "vae decode"};
    op_group *g = malloc(sizeof *g * MAX_GROUPS);
    if (!g) return;
    printf("costliest ops of the last run, grouped by kind and FLOP count (one shape each, mostly):\n");
    size_t from = 0;
    for (int st = 0; st < 3; st++) {
        int n_g = 0;
        for (size_t i = from; i < rf->trace_end[st] && i < e->n_trace; i++) {
            const ig_op_rec *o = &e->trace[i];
            int k = 0;
            while (k < n_g && !(g[k].kind == o->kind && fabs(g[k].flops_each - o->flops) <= 1e-9 * o->flops)) k++;
            if (k == n_g) {
                if (n_g == MAX_GROUPS) continue;
                g[n_g++] = (op_group){o->kind, o->flops, 0, 0};
            }
            g[k].seconds += o->seconds, g[k].count++;
        }
        from = rf->trace_end[st];
        qsort(g, (size_t)n_g, sizeof *g, group_cmp);
        printf("  %s:\n", stage[st]);
        for (int k = 0; k < n_g && k < SHOWN; k++) {
            printf("    %-16s x%-4ld %9.1f ms", ig_op_kind_names[g[k].kind], g[k].count, g[k].seconds * 1e3);
            if (g[k].flops_each > 0) {
                const double gfs = g[k].flops_each * (double)g[k].count / g[k].seconds * 1e-9;
                printf("  %8.3f GFLOP each %7.1f GFLOP/s %5.1f %% of peak", g[k].flops_each * 1e-9, gfs, 100 * gfs / peak);
            }
            printf("\n");
        }
    }
    free(g);
}

/* One text-to-image run: the stages of pipeline/run.h in order, each timed on its own. */
static ig_status run_once(bench *b, run_fig *rf, ig_err *err) {
    ig_engine *e = b->e;
    ig_run *r = &b->r;
    memset(rf, 0, sizeof *rf);
    e->err = (ig_err){0};
    const double t_start = ig__now_s();

    /* 1. text encoder (negative and positive rows in one batch with CFG) */
    ig_engine snap = *e;
    double f0 = e->flops, s0 = ig_engine_setup_seconds(e), t0 = ig__now_s();
    if (ig_run_encode_text(r, err)) return err->status;
    rf->text_ms = (ig__now_s() - t0) * 1e3;
    prof_take(rf, 0, e, &snap);
    rf->trace_end[0] = e->n_trace;
    rf->text_gf = (e->flops - f0) * 1e-9;
    rf->text_setup_ms = (ig_engine_setup_seconds(e) - s0) * 1e3;

    /* 2. latents, 3. sampling */
    if (ig_run_prepare_latents(r, err)) return err->status;
    s0 = ig_engine_setup_seconds(e);
    for (int i = 0; i < r->sched.n_steps; i++) {
        snap = *e;
        f0 = e->flops, t0 = ig__now_s();
        if (ig_run_step(r, err)) return err->status;
        rf->step_ms[i] = (ig__now_s() - t0) * 1e3;
        prof_take(rf, 1, e, &snap);
        rf->step_gf[i] = (e->flops - f0) * 1e-9;
    }
    rf->trace_end[1] = e->n_trace;
    rf->unet_setup_ms = (ig_engine_setup_seconds(e) - s0) * 1e3;

    /* 4. VAE decode */
    snap = *e;
    f0 = e->flops, s0 = ig_engine_setup_seconds(e), t0 = ig__now_s();
    if (ig_run_decode(r, b->image, err)) return err->status;
    rf->vae_ms = (ig__now_s() - t0) * 1e3;
    prof_take(rf, 2, e, &snap);
    rf->trace_end[2] = e->n_trace;
    rf->vae_gf = (e->flops - f0) * 1e-9;
    rf->vae_setup_ms = (ig_engine_setup_seconds(e) - s0) * 1e3;
    rf->total_ms = (ig__now_s() - t_start) * 1e3;
    return IG_OK;
}

/* min, max, mean and non-finite count, to show the random weights keep activations finite */
static void stats(const char *name, const float *v, size_t n) {
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            bad++;
            continue;
        }
        lo = fmin(lo, v[i]), hi = fmax(hi, v[i]), sum += v[i], sq += (double)v[i] * v[i];
    }
    const double k = n > bad ? (double)(n - bad) : 1, mean = sum / k;
    printf("  %-22s min %9.4g max %9.4g mean %9.4g std %9.4g non-finite %zu of %zu\n", name, lo, hi, mean,
           sqrt(fmax(0, sq / k - mean * mean)), bad, n);
}

static void usage(FILE *f) {
    fprintf(f, "usage: imagine bench --model DIR|FILE [--width 512] [--height 512] [--steps 1] [--n 1] [--cfg F]\n"
               "                     [--reps 3] [--seed N] [--precision f32|bf16|auto] [--profile]\n"
               "                     [--fast-decoder PATH] [--decoder fast|full]\n"
               "  --decoder fast times TAESD (--fast-decoder: its weights; random ones time the same) as the\n"
               "  decode stage instead of the VAE.\n"
               "  --cfg > 1 runs classifier-free guidance (UNet batch 2n); the default 0 is SD-Turbo's setting.\n"
               "  IMAGINE_PRECISION=f32|bf16 also picks the activation dtype (auto: bf16 where native).\n"
               "  --profile times every op and prints, per stage of the last run, the time by kind of op and\n"
               "  the time outside ops (copies, the arena's moves, the scheduler).\n");
}

int ig_bench_model(int argc, char **argv) {
    const char *dir = NULL, *precision = "auto", *fast_path = NULL, *decoder = "full";
    int W = 512, H = 512, steps = 1, n = 1, reps = 3, rc = 1;
    float guidance = 0;
    uint64_t seed = 0;
    bool profile = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        if (!strcmp(a, "--profile")) {
            profile = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "imagine bench: %s needs a value\n", a);
            return 2;
        }
        char *end = NULL;
        i++;
        if (!strcmp(a, "--model")) dir = v;
        else if (!strcmp(a, "--width")) W = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--height")) H = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--steps")) steps = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--n")) n = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--cfg")) guidance = strtof(v, &end);
        else if (!strcmp(a, "--reps")) reps = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--fast-decoder")) fast_path = v;
        else if (!strcmp(a, "--decoder") && (!strcmp(v, "fast") || !strcmp(v, "full"))) decoder = v;
        else {
            fprintf(stderr, "imagine bench: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "imagine bench: %s: not a number: '%s'\n", a, v);
            return 2;
        }
    }
    if (!dir || W < 8 || H < 8 || W % 8 || H % 8 || W > 4096 || H > 4096 || steps < 1 || steps > MAX_STEPS - 1 ||
        n < 1 || n > 16 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "imagine bench: need --model DIR, width/height multiples of 8 in 8..4096, 1 <= steps < %d, "
                        "1 <= n <= 16, 1 <= reps <= %d\n", MAX_STEPS, MAX_REPS);
        usage(stderr);
        return 2;
    }

    char load0[128], load1[128];
    loadavg(load0, sizeof load0);
    ig_err err = {0};
    ig_precision prec = !strcmp(precision, "f32")    ? IG_PRECISION_F32
                        : !strcmp(precision, "bf16") ? IG_PRECISION_BF16
                                                     : IG_PRECISION_AUTO;
    bench b = {.n = n, .W = W, .H = H};
    run_fig warm, *runs = calloc(MAX_REPS, sizeof *runs);
    if (!runs) goto done;
    double t0 = ig__now_s();
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.precision = prec, o.fast_decoder = fast_path;
    if (ig_model_open(&b.model, dir, &o, &err)) goto done; /* a folder or a single file */
    const double load_ms = (ig__now_s() - t0) * 1e3, rss_load = rss_mib();
    ig_engine *e = b.e = ig__model_engine(b.model);
    b.m = ig__model_sd(b.model);
    e->profile = profile;
    ig_gen_params gp = IG_GEN_PARAMS_INIT;
    gp.prompt = "a photograph of an astronaut riding a horse", gp.negative_prompt = "";
    gp.width = W, gp.height = H, gp.n_images = n, gp.n_steps = steps, gp.guidance = guidance, gp.seed = seed;
    ig_model_info info;
    ig_model_describe(b.model, &info);
    gp.sampler = info.default_sampler; /* the model's own setting (turbo: Euler a, trailing) */
    gp.decoder = !strcmp(decoder, "fast") ? IG_DECODER_FAST : IG_DECODER_FULL;
    /* sizes the arena by a dry run of every network, as ig_generate does */
    if (ig_run_begin(&b.r, e, b.m, &gp, true, &err)) goto done;
    steps = b.r.sched.n_steps; /* the scheduler's real step count ("trailing" may give one more than asked) */
    if (steps >= MAX_STEPS) {
        ig__fail(&err, IG_ERR_INVALID, "%d scheduler steps, at most %d", steps, MAX_STEPS - 1);
        goto done;
    }
    if (!(b.image = malloc(sizeof(float) * (size_t)n * H * W * 3))) {
        ig__fail(&err, IG_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* the token count, as encode_text will find it */
    int n_tokens = 0;
    {
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)b.r.T);
        if (!ids || ig_bpe_encode(b.m->bpe, gp.prompt, ids, b.r.T, ig_bpe_pad_id(b.m->bpe), &n_tokens, &err)) {
            free(ids);
            if (!err.status) ig__fail(&err, IG_ERR_NOMEM, "out of memory");
            goto done;
        }
        free(ids);
    }
    const ig_sched_config *sc = &b.r.sched.cfg;

    struct stat dst;
    const bool single = stat(dir, &dst) == 0 && S_ISREG(dst.st_mode);
    if (single)
        printf("model %s: %.1f MiB on disk (single file); loaded (mmap) in %.1f ms\n", dir,
               (double)dst.st_size / (1024.0 * 1024.0), load_ms);
    else
        printf("model %s: text_encoder %.1f MiB, text_encoder_2 %.1f MiB, unet %.1f MiB, vae %.1f MiB on disk; "
               "loaded (mmap) in %.1f ms\n", dir, folder_mib(dir, "text_encoder"), folder_mib(dir, "text_encoder_2"),
               folder_mib(dir, "unet"), folder_mib(dir, "vae"), load_ms);
    printf("engine cpu: activations %s (text encoder too), oneDNN ISA %s, %d threads; load average %s\n",
           ig_dtype_name(e->act_dtype), ig_engine_isa(e), omp_threads(), load0);
    printf("%s, %dx%d, n=%d, %d step(s) %s (%s spacing), guidance %.2f: UNet batch %d, prompt %d tokens\n",
           ig_family_name(info.family), W, H, n, steps, ig_sampler_name(gp.sampler), sc->timestep_spacing == IG_SPACING_TRAILING  ? "trailing"
                  : sc->timestep_spacing == IG_SPACING_LEADING ? "leading"
                                                               : "linspace/default",
           guidance, b.r.NB, n_tokens);
    printf("activation arena %.1f MiB (dry run high-water mark)\n", (double)b.r.arena.cap / (1024.0 * 1024.0));
    fflush(stdout);

    /* warm-up: primitive creation and weight packing happen here */
    const double setup0 = ig_engine_setup_seconds(e);
    if (run_once(&b, &warm, &err)) goto done;
    /* as txt2img does once the weights are packed: the checkpoint's pages need not stay resident */
    ig_weights_drop_pages(&b.m->w_text), ig_weights_drop_pages(&b.m->w_unet), ig_weights_drop_pages(&b.m->w_vae);
    const double dnnl_setup_ms = (ig_engine_setup_seconds(e) - setup0) * 1e3, rss_warm = rss_mib();
    double warm_unet = 0;
    for (int i = 0; i < steps; i++) warm_unet += warm.step_ms[i];
    printf("warm-up run: text %.1f ms, unet %.1f ms (%d step(s)), vae %.1f ms, total %.1f ms\n", warm.text_ms,
           warm_unet, steps, warm.vae_ms, warm.total_ms);
    fflush(stdout);
    for (int r = 0; r < reps; r++) {
        if (profile && r == reps - 1) { /* the last run also keeps a record per op */
            free(e->trace);
            e->cap_trace = (e->trace = malloc(sizeof *e->trace * TRACE_CAP)) ? TRACE_CAP : 0;
            e->n_trace = 0, e->trace_flops = e->flops;
        }
        if (run_once(&b, &runs[r], &err)) goto done;
        fprintf(stderr, "rep %d/%d: %.1f ms\n", r + 1, reps, runs[r].total_ms);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double peak_rss = (double)ru.ru_maxrss / 1024.0, rss_end = rss_mib();
    loadavg(load1, sizeof load1);

    ig_peak pk;
    ig_peak_measure(&pk);
    const double peak_bf16 = pk.bf16_amx_gflops > 0 && !strcmp(ig_engine_isa(e), "avx512_core_amx")
                                 ? pk.bf16_amx_gflops
                                 : pk.bf16_dp_gflops;
    const double peak = e->act_dtype == IG_BF16 ? peak_bf16 : pk.fp32_gflops;
    printf("peak: fp32 %.1f GFLOP/s (%s FMA), bf16 %.1f GFLOP/s (%s), vdpbf16ps %.1f, copy %.1f GB/s; %s path "
           "against %.1f\n",
           pk.fp32_gflops, pk.fp32_isa, peak_bf16, peak_bf16 == pk.bf16_amx_gflops && peak_bf16 > 0 ? "AMX" : "vdpbf16ps",
           pk.bf16_dp_gflops, pk.copy_gbs, ig_dtype_name(e->act_dtype), peak);

    double v[MAX_REPS * MAX_STEPS];
    for (int r = 0; r < reps; r++) v[r] = runs[r].text_ms;
    const double text_ms = median(v, reps), text_gf = runs[0].text_gf;
    for (int r = 0; r < reps; r++) v[r] = runs[r].vae_ms;
    const double vae_ms = median(v, reps), vae_gf = runs[0].vae_gf;
    for (int r = 0; r < reps; r++) v[r] = runs[r].total_ms;
    const double total_ms = median(v, reps);
    /* setup: what the first run costs beyond a warm one (primitive creation, weight packing, first
     * touch of the mapped weights). oneDNN's own counter is printed beside it: conv.c and linear.c
     * time create() around ig__dnnl_pack, which adds its own time too, so packing counts twice there. */
    double med_unet = 0;
    for (int i = 0; i < steps; i++) {
        for (int r = 0; r < reps; r++) v[r] = runs[r].step_ms[i];
        med_unet += median(v, reps);
    }
    const double setup_ms = warm.total_ms - total_ms;
    printf("setup_ms=%.1f (warm-up minus median: text %.1f, unet %.1f, vae %.1f); oneDNN setup counter %.1f ms "
           "(text %.1f, unet %.1f, vae %.1f)\n",
           setup_ms, warm.text_ms - text_ms, warm_unet - med_unet, warm.vae_ms - vae_ms, dnnl_setup_ms,
           warm.text_setup_ms, warm.unet_setup_ms, warm.vae_setup_ms);
    printf("median of %d run(s):\n", reps);
    printf("  %-16s %10.1f ms %8.1f GFLOP/s %5.1f %% of %s peak   (%.1f GFLOP)\n", "text encoder", text_ms,
           text_gf / text_ms * 1e3, 100 * text_gf / text_ms * 1e3 / peak, e->act_dtype == IG_BF16 ? "bf16" : "fp32",
           text_gf);
    double stages = text_ms + vae_ms, unet_gf = runs[0].step_gf[0];
    for (int i = 0; i < steps; i++) {
        for (int r = 0; r < reps; r++) v[r] = runs[r].step_ms[i];
        const double ms = median(v, reps), gf = runs[0].step_gf[i];
        char name[48];
        snprintf(name, sizeof name, "unet step %d/%d", i + 1, steps);
        printf("  %-16s %10.1f ms %8.1f GFLOP/s %5.1f %% of %s peak   (%.1f GFLOP)\n", name, ms, gf / ms * 1e3,
               100 * gf / ms * 1e3 / peak, ig_dtype_name(e->act_dtype), gf);
        stages += ms;
    }
    int k = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < steps; i++) v[k++] = runs[r].step_ms[i];
    const double unet_step_ms = median(v, k);
    printf("  %-16s %10.1f ms %8.1f GFLOP/s %5.1f %% of %s peak   (%.1f GFLOP)\n",
           gp.decoder == IG_DECODER_FAST ? "fast decode" : "vae decode", vae_ms,
           vae_gf / vae_ms * 1e3, 100 * vae_gf / vae_ms * 1e3 / peak, ig_dtype_name(e->act_dtype), vae_gf);
    for (int r = 0; r < reps; r++) { /* per run, so the glue is not a difference of two medians */
        v[r] = runs[r].total_ms - runs[r].text_ms - runs[r].vae_ms;
        for (int i = 0; i < steps; i++) v[r] -= runs[r].step_ms[i];
    }
    printf("  %-16s %10.1f ms (sum of the stage medians %.1f ms; scheduler, guidance, copies %.1f ms)\n", "total",
           total_ms, stages, median(v, reps));
    const double w_mib = single ? (double)dst.st_size / (1024.0 * 1024.0)
                                : folder_mib(dir, "text_encoder") + folder_mib(dir, "text_encoder_2") +
                                      folder_mib(dir, "unet") + folder_mib(dir, "vae");
    /* the issues' targets: weights + 1.5 GiB for SD 1.x/2.x at 512x512, weights + 3 GiB for SDXL at 1024x1024 */
    const double rss_target = info.family == IG_FAMILY_SDXL ? 3072 : 1536;
    printf("rss: after load %.0f MiB, after warm-up %.0f MiB, end %.0f MiB, peak %.0f MiB; weights %.0f MiB on disk: "
           "peak - weights = %.0f MiB (target <= %.0f: %s)\n", rss_load, rss_warm, rss_end, peak_rss, w_mib,
           peak_rss - w_mib, rss_target, peak_rss - w_mib <= rss_target ? "met" : "missed");
    printf("load average: before %s; after the runs %s\n", load0, load1);
    if (profile) {
        const run_fig *r = &runs[reps - 1];
        double unet_ms = 0;
        for (int i = 0; i < steps; i++) unet_ms += r->step_ms[i];
        const char *stage[3] = {"text encoder", "unet (all steps)", "vae decode"};
        const double stage_ms[3] = {r->text_ms, unet_ms, r->vae_ms};
        printf("profile of the last run (wall time of each op, by kind):\n");
        for (int st = 0; st < 3; st++) {
            double in_ops = 0;
            printf("  %s %.1f ms:", stage[st], stage_ms[st]);
            for (int k = 0; k < IG_OPK_COUNT; k++) {
                if (!r->prof_n[st][k]) continue;
                in_ops += r->prof_ms[st][k];
                printf(" %s %.1f (%ld)", ig_op_kind_names[k], r->prof_ms[st][k], r->prof_n[st][k]);
            }
            printf("; outside ops %.1f\n", stage_ms[st] - in_ops);
        }
        print_trace(e, r, peak);
    }
    printf("last run's outputs (with random weights only finiteness matters):\n");
    stats("unet output", b.r.eps, (size_t)b.r.NB * b.r.C * b.r.h * b.r.w);
    stats("vae output", b.image, (size_t)n * H * W * 3);
    /* the floor: every FLOP of the run at the fastest path's measured peak (bf16 where the CPU has it) */
    double all_gf = text_gf + vae_gf;
    for (int i = 0; i < steps; i++) all_gf += runs[0].step_gf[i];
    const double fastest = peak_bf16 > pk.fp32_gflops ? peak_bf16 : pk.fp32_gflops, floor_ms = all_gf / fastest * 1e3;
    printf("text_ms=%.1f unet_step_ms=%.1f vae_ms=%.1f total_ms=%.1f unet_gflops=%.1f vae_gflops=%.1f peak_rss_mb=%.0f "
           "bf16_peak_gflops=%.1f fp32_peak_gflops=%.1f floor_ms=%.1f pct_of_floor=%.1f isa=%s\n",
           text_ms, unet_step_ms, vae_ms, total_ms, unet_gf / unet_step_ms * 1e3, vae_gf / vae_ms * 1e3, peak_rss,
           peak_bf16, pk.fp32_gflops, floor_ms, 100 * floor_ms / total_ms, ig_engine_isa(e));
    rc = 0;
done:
    if (rc) fprintf(stderr, "imagine bench: %s\n", err.msg[0] ? err.msg : "failed");
    if (b.e) free(b.e->trace), b.e->trace = NULL, b.e->cap_trace = b.e->n_trace = 0;
    ig_run_end(&b.r);
    ig_model_close(b.model);
    free(b.image);
    free(runs);
    return rc;
}
