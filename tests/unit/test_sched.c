/* test_sched.c — pipeline/sched against diffusers.
 * 1. Every pipeline run of ../shared/golden/{sd1-tiny,sd2-tiny}: the scheduler is built the way the
 *    pipeline will build it (the folder's scheduler_config.json + the sampler), and must resolve to
 *    the config diffusers recorded, give its timesteps exactly, its sigmas within 1e-6 relative
 *    (bit-exact is reported, and is what we get), its init_noise_sigma, and the run's initial
 *    latents randn(seed) * init_noise_sigma bit for bit (tolerance: 1 ulp, reported).
 * 2. Each step function against a float64 transcription of the diffusers formula, on random model
 *    outputs (tolerance per step 4e-6 x max(1, max|input|, max|ref|): a handful of float32 roundings
 *    of values as large as the inputs; seen: <= 3e-7), with the
 *    noise drawn from a second generator in diffusers' order, so a sampler that draws at other
 *    times or other amounts fails, and both generators must end in the same state.
 * 3. Errors: steps out of order, wrong sizes, missing generator, refused config fields. */
#include "pipeline/sched.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "test.h"
#include "golden.h"

/* ---- scheduler_config.json -> ig_sched_config, as io/config.c will do it ------------------- */

static int enum_of(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (s && strcmp(s, names[i]) == 0) return i + 1;
    return -1;
}

static ig_sched_config config_from_json(json_t *o) {
    ig_sched_config c = IG_SCHED_CONFIG_INIT;
    static const char *const betas[] = {"linear", "scaled_linear", "squaredcos_cap_v2"};
    static const char *const preds[] = {"epsilon", "v_prediction", "sample"};
    static const char *const spacings[] = {"linspace", "leading", "trailing"};
    static const char *const finals[] = {"zero", "sigma_min"};
    static const char *const solvers[] = {"midpoint", "heun"};
    json_t *v;
#define INT(key, field) if ((v = json_object_get(o, key)) && json_is_integer(v)) c.field = (int)json_integer_value(v)
#define BOOL(key, field) if ((v = json_object_get(o, key)) && json_is_boolean(v)) c.field = json_is_true(v)
#define REAL(key, field) if ((v = json_object_get(o, key)) && json_is_number(v)) c.field = json_number_value(v)
#define ENUM(key, field, names, type)                                                            \
    if ((v = json_object_get(o, key)) && json_is_string(v))                                      \
    c.field = (type)enum_of(json_string_value(v), names, (int)(sizeof names / sizeof names[0]))
    INT("num_train_timesteps", num_train_timesteps);
    REAL("beta_start", beta_start);
    REAL("beta_end", beta_end);
    ENUM("beta_schedule", beta_schedule, betas, ig_beta_schedule);
    ENUM("prediction_type", prediction_type, preds, ig_prediction);
    ENUM("timestep_spacing", timestep_spacing, spacings, ig_spacing);
    INT("steps_offset", steps_offset);
    BOOL("use_karras_sigmas", use_karras_sigmas);
    REAL("sigma_min", sigma_min);
    REAL("sigma_max", sigma_max);
    ENUM("final_sigmas_type", final_sigmas_type, finals, ig_final_sigmas);
    INT("solver_order", solver_order);
    ENUM("solver_type", solver_type, solvers, ig_solver_type);
    BOOL("lower_order_final", lower_order_final);
    BOOL("euler_at_final", euler_at_final);
    BOOL("set_alpha_to_one", set_alpha_to_one);
    INT("original_inference_steps", original_inference_steps);
    REAL("timestep_scaling", timestep_scaling);
    BOOL("clip_sample", clip_sample);
    REAL("clip_sample_range", clip_sample_range);
    BOOL("rescale_betas_zero_snr", rescale_betas_zero_snr);
    BOOL("thresholding", thresholding);
    BOOL("use_lu_lambdas", use_lu_lambdas);
    if ((v = json_object_get(o, "trained_betas"))) c.trained_betas = !json_is_null(v);
    if ((v = json_object_get(o, "interpolation_type")) && json_is_string(v))
        c.interpolation_log_linear = strcmp(json_string_value(v), "log_linear") == 0;
    if ((v = json_object_get(o, "timestep_type")) && json_is_string(v))
        c.timestep_type_continuous = strcmp(json_string_value(v), "continuous") == 0;
#undef INT
#undef BOOL
#undef REAL
#undef ENUM
    return c;
}

/* Every field the recorded config sets must equal the resolved one. */
static void check_resolved(const char *run, const ig_sched_config *got, const ig_sched_config *want) {
    int bad = 0;
#define SAME_INT(f, unset)                                                                           \
    if (want->f != (unset) && got->f != want->f) {                                                   \
        fprintf(stderr, "  %s: config %s resolved to %d, diffusers has %d\n", run, #f, (int)got->f, (int)want->f); \
        bad++;                                                                                       \
    }
#define SAME_REAL(f)                                                                                 \
    if (!isnan(want->f) && got->f != want->f) {                                                      \
        fprintf(stderr, "  %s: config %s resolved to %g, diffusers has %g\n", run, #f, got->f, want->f); \
        bad++;                                                                                       \
    }
    SAME_INT(num_train_timesteps, 0);
    SAME_REAL(beta_start);
    SAME_REAL(beta_end);
    SAME_INT(beta_schedule, IG_BETA_UNSET);
    SAME_INT(prediction_type, IG_PREDICTION_UNSET);
    SAME_INT(timestep_spacing, IG_SPACING_UNSET);
    SAME_INT(steps_offset, -1);
    SAME_INT(use_karras_sigmas, -1);
    SAME_REAL(sigma_min);
    SAME_REAL(sigma_max);
    SAME_INT(final_sigmas_type, IG_FINAL_SIGMAS_UNSET);
    SAME_INT(solver_order, 0);
    SAME_INT(solver_type, IG_SOLVER_UNSET);
    SAME_INT(lower_order_final, -1);
    SAME_INT(euler_at_final, -1);
    SAME_INT(set_alpha_to_one, -1);
    SAME_INT(original_inference_steps, 0);
    SAME_REAL(timestep_scaling);
    SAME_INT(clip_sample, -1);
    SAME_REAL(clip_sample_range);
#undef SAME_INT
#undef SAME_REAL
    test_checks++;
    if (bad) test_failures++;
}


static float *read_f32(const char *set, const char *file, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/%s/%s", test_shared_dir(), set, file);
    FILE *fp = fopen(path, "rb");
    float *p = malloc(n * sizeof *p);
    size_t got = 0;
    if (fp && p) got = fread(p, sizeof *p, n, fp);
    if (fp) fclose(fp);
    if (got != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, path);
        free(p);
        return NULL;
    }
    return p;
}

static int32_t ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return ia > ib ? ia - ib : ib - ia;
}

/* ---- 1. the golden pipeline runs ----------------------------------------------------------- */

static const char *class_of(ig_sampler k) {
    switch (k) {
    case IG_SAMPLER_EULER: return "EulerDiscreteScheduler";
    case IG_SAMPLER_EULER_A:
    case IG_SAMPLER_TURBO: return "EulerAncestralDiscreteScheduler";
    case IG_SAMPLER_DPMPP_2M_KARRAS: return "DPMSolverMultistepScheduler";
    case IG_SAMPLER_LCM: return "LCMScheduler";
    }
    return "?";
}

static int runs_checked;

static void test_golden_set(const char *set) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden/%s/manifest.json", test_shared_dir(), set);
    json_t *manifest = golden_load_json(path);
    snprintf(path, sizeof path, "%s/golden/%s/model/scheduler/scheduler_config.json", test_shared_dir(), set);
    json_t *folder = golden_load_json(path);
    CHECK(manifest && folder);
    if (!manifest || !folder) goto done;
    ig_sched_config folder_cfg = config_from_json(folder);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(manifest, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t len = name ? strlen(name) : 0;
        if (len < 19 || strncmp(name, "pipe_", 5) != 0 || strcmp(name + len - 13, "_init_latents") != 0) continue;
        char run[128];
        snprintf(run, sizeof run, "%s/%.*s", set, (int)(len - 18), name + 5);
        const char *r = name + 5;
        ig_sampler kind = strncmp(r, "turbo", 5) == 0     ? IG_SAMPLER_TURBO
                          : strncmp(r, "euler_a", 7) == 0 ? IG_SAMPLER_EULER_A
                          : strncmp(r, "euler", 5) == 0   ? IG_SAMPLER_EULER
                          : strncmp(r, "dpmpp2m", 7) == 0 ? IG_SAMPLER_DPMPP_2M_KARRAS
                                                           : IG_SAMPLER_LCM;
        printf("%s (%s)\n", run, ig_sampler_name(kind));
        CHECK(strcmp(json_string_value(json_object_get(c, "scheduler_class")), class_of(kind)) == 0);
        int n_steps = (int)json_integer_value(json_object_get(c, "num_inference_steps"));
        size_t n = 1;
        size_t k;
        json_t *d;
        json_array_foreach(json_object_get(c, "shape"), k, d) n *= (size_t)json_integer_value(d);

        ig_sched s;
        ig_err err = {0};
        if (ig_sched_init(&s, &folder_cfg, kind, n_steps, n, &err) != IG_OK) {
            fprintf(stderr, "  init failed: %s\n", err.msg);
            CHECK(0);
            continue;
        }
        ig_sched_config want = config_from_json(json_object_get(c, "scheduler_config"));
        check_resolved(run, &s.cfg, &want);

        json_t *ts = json_object_get(c, "timesteps"), *sg = json_object_get(c, "sigmas");
        CHECK((int)json_array_size(ts) == s.n_steps);
        int ts_bad = 0;
        json_array_foreach(ts, k, d) if ((int)k >= s.n_steps || (double)s.timesteps[k] != json_number_value(d)) ts_bad++;
        test_checks++;
        if (ts_bad) test_failures++;
        printf("  timesteps %-38s n=%-3d mismatches=%d (tol 0)%s\n", "", s.n_steps, ts_bad, ts_bad ? "  FAIL" : "");
        if (json_is_array(sg)) {
            CHECK(s.sigmas && (int)json_array_size(sg) == s.n_steps + 1);
            double ref[64];
            int exact = 0, m = (int)json_array_size(sg);
            json_array_foreach(sg, k, d) if (k < 64) ref[k] = json_number_value(d);
            for (int j = 0; j < m && j < 64 && s.sigmas; j++) exact += (float)ref[j] == s.sigmas[j];
            if (s.sigmas) check_close("sigmas (rtol 1e-6)", s.sigmas, ref, (size_t)IG_MIN(m, 64), 0, 1e-6);
            printf("  sigmas bit-exact: %d of %d\n", exact, m);
        } else {
            CHECK(s.sigmas == NULL); /* LCM */
        }
        double ins = json_number_value(json_object_get(c, "init_noise_sigma"));
        check_close("init_noise_sigma", &s.init_noise_sigma, &ins, 1, 0, 1e-6);
        CHECK((float)ins == s.init_noise_sigma);

        /* the run's initial latents */
        float *ref = read_f32(set, json_string_value(json_object_get(c, "file")), n);
        float *lat = malloc(n * sizeof *lat);
        CHECK(ref && lat);
        if (ref && lat) {
            ig_rng_torch g;
            ig_rng_torch_seed(&g, (uint64_t)json_integer_value(json_object_get(c, "seed")));
            ig_sched_init_latents(&s, &g, lat, n);
            int32_t worst = 0;
            size_t differ = 0;
            for (size_t j = 0; j < n; j++) {
                int32_t u = ulp_diff(lat[j], ref[j]);
                differ += u != 0;
                if (u > worst) worst = u;
            }
            test_checks++;
            if (worst > 1) test_failures++;
            printf("  init_latents = randn * init_noise_sigma     n=%-6zu differing=%zu max_ulp=%d (tol 1 ulp)%s\n", n,
                   differ, (int)worst, worst > 1 ? "  FAIL" : "");
        }
        free(ref);
        free(lat);
        ig_sched_free(&s);
        runs_checked++;
    }
done:
    json_decref(manifest);
    json_decref(folder);
}

/* ---- 2. step functions against float64 transcriptions ------------------------------------- */

typedef struct ref_state {
    double *prev_x0; /* DPM++ */
    int lower_order_nums;
} ref_state;

static void ref_alpha_sigma(double sigma, double *a, double *st) {
    *a = 1 / sqrt(sigma * sigma + 1);
    *st = sigma * *a;
}

/* One diffusers step in float64 from the float inputs (x, model output, noise drawn from h in
 * diffusers' order), writing ref[] and x0[]. */
static void ref_step(const ig_sched *s, ref_state *rs, int i, const float *x, const float *mo, size_t n,
                     ig_rng_torch *h, float *noise, double *ref, double *x0) {
    const bool v = s->cfg.prediction_type == IG_PREDICTION_V;
    const int last = s->n_steps - 1;
    switch (s->kind) {
    case IG_SAMPLER_EULER: { /* EulerDiscreteScheduler.step: noise drawn, gamma = 0 */
        ig_rng_torch_randn(h, noise, n);
        double sigma = s->sigmas[i], next = s->sigmas[i + 1];
        for (size_t k = 0; k < n; k++) {
            x0[k] = v ? mo[k] * (-sigma / sqrt(sigma * sigma + 1)) + x[k] / (sigma * sigma + 1) : x[k] - sigma * mo[k];
            ref[k] = x[k] + (x[k] - x0[k]) / sigma * (next - sigma);
        }
        break;
    }
    case IG_SAMPLER_EULER_A:
    case IG_SAMPLER_TURBO: {
        double sf = s->sigmas[i], st = s->sigmas[i + 1];
        double up = sqrt(st * st * (sf * sf - st * st) / (sf * sf));
        double down = sqrt(st * st - up * up);
        ig_rng_torch_randn(h, noise, n);
        for (size_t k = 0; k < n; k++) {
            x0[k] = v ? mo[k] * (-sf / sqrt(sf * sf + 1)) + x[k] / (sf * sf + 1) : x[k] - sf * mo[k];
            ref[k] = x[k] + (x[k] - x0[k]) / sf * (down - sf) + noise[k] * up;
        }
        break;
    }
    case IG_SAMPLER_DPMPP_2M_KARRAS: {
        bool lof = i == last && (s->cfg.euler_at_final || (s->cfg.lower_order_final && s->n_steps < 15) ||
                                 s->cfg.final_sigmas_type == IG_FINAL_SIGMAS_ZERO);
        double a_t, s_t, a_0, s_0, a_1, s_1;
        ref_alpha_sigma(s->sigmas[i + 1], &a_t, &s_t);
        ref_alpha_sigma(s->sigmas[i], &a_0, &s_0);
        double l_t = log(a_t) - log(s_t), l_0 = log(a_0) - log(s_0), h_ = l_t - l_0;
        bool first = rs->lower_order_nums < 1 || lof;
        double r0 = 1;
        if (!first) {
            ref_alpha_sigma(s->sigmas[i - 1], &a_1, &s_1);
            r0 = (l_0 - (log(a_1) - log(s_1))) / h_;
        }
        for (size_t k = 0; k < n; k++) {
            x0[k] = v ? a_0 * x[k] - s_0 * mo[k] : (x[k] - s_0 * mo[k]) / a_0;
            double y = (s_t / s_0) * x[k] - a_t * (exp(-h_) - 1) * x0[k];
            if (!first) {
                double d1 = (x0[k] - rs->prev_x0[k]) / r0;
                y = s->cfg.solver_type == IG_SOLVER_HEUN ? y + a_t * ((exp(-h_) - 1) / h_ + 1) * d1
                                                         : y - 0.5 * a_t * (exp(-h_) - 1) * d1;
            }
            ref[k] = y;
        }
        memcpy(rs->prev_x0, x0, n * sizeof *x0);
        if (rs->lower_order_nums < 2) rs->lower_order_nums++;
        break;
    }
    case IG_SAMPLER_LCM: {
        int t = (int)s->timesteps[i], tp = i == last ? t : (int)s->timesteps[i + 1];
        double at = s->alphas_cumprod[t], ap = s->alphas_cumprod[tp];
        double sc = t * s->cfg.timestep_scaling;
        double c_skip = 0.25 / (sc * sc + 0.25), c_out = sc / sqrt(sc * sc + 0.25);
        if (i != last) ig_rng_torch_randn(h, noise, n);
        for (size_t k = 0; k < n; k++) {
            double p = v ? sqrt(at) * x[k] - sqrt(1 - at) * mo[k] : (x[k] - sqrt(1 - at) * mo[k]) / sqrt(at);
            if (s->cfg.clip_sample) p = fmin(fmax(p, -s->cfg.clip_sample_range), s->cfg.clip_sample_range);
            x0[k] = c_out * p + c_skip * x[k];
            ref[k] = i == last ? x0[k] : sqrt(ap) * x0[k] + sqrt(1 - ap) * noise[k];
        }
        break;
    }
    }
}

static double max_abs(const double *p, size_t n) {
    double m = 0;
    for (size_t k = 0; k < n; k++) m = fmax(m, fabs(p[k]));
    return m;
}

static void test_steps_one(ig_sampler kind, ig_prediction pred, int n_steps, ig_solver_type solver, size_t n) {
    ig_sched_config cfg = IG_SCHED_CONFIG_INIT; /* SD's scheduler config */
    cfg.beta_start = 0.00085;
    cfg.beta_end = 0.012;
    cfg.beta_schedule = IG_BETA_SCALED_LINEAR;
    cfg.steps_offset = 1;
    cfg.set_alpha_to_one = 0;
    cfg.prediction_type = pred;
    cfg.solver_type = solver;
    ig_sched s;
    ig_err err = {0};
    if (ig_sched_init(&s, &cfg, kind, n_steps, n, &err) != IG_OK) {
        fprintf(stderr, "  init failed: %s\n", err.msg);
        CHECK(0);
        return;
    }
    float *lat = malloc(n * sizeof *lat), *mo = malloc(n * sizeof *mo), *xin = malloc(n * sizeof *xin);
    float *noise = malloc(n * sizeof *noise), *px0 = malloc(n * sizeof *px0), *scaled = malloc(n * sizeof *scaled);
    double *ref = malloc(n * sizeof *ref), *rx0 = malloc(n * sizeof *rx0);
    ref_state rs = {malloc(n * sizeof(double)), 0};
    ig_rng_torch g, h;
    CHECK(lat && mo && xin && noise && px0 && scaled && ref && rx0 && rs.prev_x0);
    if (!lat || !mo || !xin || !noise || !px0 || !scaled || !ref || !rx0 || !rs.prev_x0) goto done;
    uint64_t seed = (uint64_t)(test_uniform() * 1e9);
    ig_rng_torch_seed(&g, seed);
    ig_rng_torch_seed(&h, seed);
    ig_sched_init_latents(&s, &g, lat, n);
    ig_rng_torch_randn(&h, noise, n); /* the reference generator follows the same draws */
    double worst = 0, worst_x0 = 0, worst_scale = 0;
    for (int i = 0; i < s.n_steps; i++) {
        memcpy(scaled, lat, n * sizeof *lat);
        ig_sched_scale_model_input(&s, i, scaled, n);
        bool euler_type = kind != IG_SAMPLER_DPMPP_2M_KARRAS && kind != IG_SAMPLER_LCM;
        double den = euler_type ? sqrt((double)s.sigmas[i] * s.sigmas[i] + 1) : 1;
        for (size_t k = 0; k < n; k++) worst_scale = fmax(worst_scale, fabs(scaled[k] - lat[k] / den) / fmax(1, fabs(lat[k] / den)));
        for (size_t k = 0; k < n; k++) mo[k] = (float)(2 * test_uniform() - 1) * 1.5f;
        memcpy(xin, lat, n * sizeof *lat);
        ref_step(&s, &rs, i, xin, mo, n, &h, noise, ref, rx0);
        ig_status st = ig_sched_step(&s, i, mo, lat, n, &g, px0, &err);
        CHECK(st == IG_OK);
        /* float32 rounds intermediates as large as the inputs (Euler's x + d * dt cancels to a
         * small result), so errors are relative to the largest of inputs and outputs */
        double in_max = 1;
        for (size_t k = 0; k < n; k++) in_max = fmax(in_max, fmax(fabs(xin[k]), fabs(mo[k])));
        double scale = fmax(in_max, max_abs(ref, n)), scale_x0 = fmax(in_max, max_abs(rx0, n));
        for (size_t k = 0; k < n; k++) {
            worst = fmax(worst, fabs(lat[k] - ref[k]) / scale);
            worst_x0 = fmax(worst_x0, fabs(px0[k] - rx0[k]) / scale_x0);
        }
    }
    /* same generator state: same number and order of draws */
    bool same_state = g.left == h.left && g.next == h.next && g.has_next_normal == h.has_next_normal &&
                      memcmp(g.state, h.state, sizeof g.state) == 0;
    char label[128];
    snprintf(label, sizeof label, "%s %s %s%d steps n=%zu", ig_sampler_name(kind), pred == IG_PREDICTION_V ? "v" : "eps",
             solver == IG_SOLVER_HEUN ? "heun " : "", s.n_steps, n);
    bool ok = worst <= 4e-6 && worst_x0 <= 4e-6 && worst_scale <= 1e-6 && same_state;
    test_checks++;
    if (!ok) test_failures++;
    fprintf(ok ? stdout : stderr, "  %-44s rel_err step=%.2g x0=%.2g scale_in=%.2g (tol 4e-6) rng=%s%s\n", label, worst,
            worst_x0, worst_scale, same_state ? "same" : "DIFFERENT", ok ? "" : "  FAIL");
done:
    free(lat);
    free(mo);
    free(xin);
    free(noise);
    free(px0);
    free(scaled);
    free(ref);
    free(rx0);
    free(rs.prev_x0);
    ig_sched_free(&s);
}

static void test_steps(void) {
    printf("steps vs float64 diffusers formulas\n");
    static const ig_sampler kinds[] = {IG_SAMPLER_EULER, IG_SAMPLER_EULER_A, IG_SAMPLER_DPMPP_2M_KARRAS,
                                       IG_SAMPLER_LCM, IG_SAMPLER_TURBO};
    static const int counts[] = {1, 2, 4, 14, 15, 25};
    for (int k = 0; k < 5; k++)
        for (int p = 0; p < 2; p++)
            for (int c = 0; c < 6; c++) {
                if (kinds[k] == IG_SAMPLER_TURBO && counts[c] > 4) continue;
                test_steps_one(kinds[k], p ? IG_PREDICTION_V : IG_PREDICTION_EPSILON, counts[c], IG_SOLVER_UNSET,
                               c % 2 ? 1000 : 256); /* 1000: a randn tail (1000 % 16 != 0) */
            }
    test_steps_one(IG_SAMPLER_DPMPP_2M_KARRAS, IG_PREDICTION_EPSILON, 10, IG_SOLVER_HEUN, 256);
    test_steps_one(IG_SAMPLER_EULER_A, IG_PREDICTION_EPSILON, 3, IG_SOLVER_UNSET, 10); /* n < 16: scalar randn */
    test_steps_one(IG_SAMPLER_LCM, IG_PREDICTION_EPSILON, 3, IG_SOLVER_UNSET, 7);
}

/* ---- schedules beyond the manifests: properties diffusers' code implies --------------------- */

static void test_schedules(void) {
    printf("schedule properties\n");
    ig_sched_config cfg = IG_SCHED_CONFIG_INIT;
    cfg.beta_start = 0.00085;
    cfg.beta_end = 0.012;
    cfg.beta_schedule = IG_BETA_SCALED_LINEAR;
    cfg.steps_offset = 1;
    ig_sched s;
    ig_err err = {0};
    /* Euler, linspace, 1000 steps: every training timestep, sigmas = the table itself */
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER, 1000, 16, &err) == IG_OK);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        float ac = s.alphas_cumprod[999 - i];
        bad += s.timesteps[i] != (float)(999 - i) || s.sigmas[i] != sqrtf((1.0f - ac) / ac);
    }
    CHECK(bad == 0 && s.sigmas[1000] == 0 && s.init_noise_sigma == s.sigmas[0]);
    ig_sched_free(&s);
    /* leading: (arange(n) * (1000 // n))[::-1] + steps_offset; init_noise_sigma = sqrt(max^2 + 1) */
    cfg.timestep_spacing = IG_SPACING_LEADING;
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER_A, 3, 16, &err) == IG_OK);
    CHECK(s.n_steps == 3 && s.timesteps[0] == 667 && s.timesteps[1] == 334 && s.timesteps[2] == 1);
    CHECK(s.init_noise_sigma == sqrtf(s.sigmas[0] * s.sigmas[0] + 1.0f));
    ig_sched_free(&s);
    /* trailing: 1000 / 61 steps make numpy's arange one longer, ending at timestep -1 (diffusers too) */
    cfg.timestep_spacing = IG_SPACING_TRAILING;
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER, 61, 16, &err) == IG_OK);
    CHECK(s.n_steps == 62 && s.timesteps[0] == 999 && s.timesteps[61] == -1);
    ig_sched_free(&s);
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER, 4, 16, &err) == IG_OK);
    CHECK(s.n_steps == 4 && s.timesteps[0] == 999 && s.timesteps[1] == 749 && s.timesteps[2] == 499 &&
          s.timesteps[3] == 249);
    ig_sched_free(&s);
    /* LCM ignores spacing; 1000 // 50 = 20: [999, 979, ...]; 8 steps pick floor(linspace(0, 50, 8, endpoint=False)) */
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_LCM, 8, 16, &err) == IG_OK);
    static const float lcm8[] = {999, 879, 759, 639, 499, 379, 259, 139};
    CHECK(s.n_steps == 8 && memcmp(s.timesteps, lcm8, sizeof lcm8) == 0 && s.init_noise_sigma == 1.0f);
    ig_sched_free(&s);
    /* DPM++ Karras ends at the table's ends; timesteps descend to 0 */
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_DPMPP_2M_KARRAS, 25, 16, &err) == IG_OK);
    CHECK(s.timesteps[0] == 999 && s.timesteps[24] == 0 && s.sigmas[25] == 0 && s.init_noise_sigma == 1.0f);
    CHECK(s.sigmas[0] == sqrtf((1.0f - s.alphas_cumprod[999]) / s.alphas_cumprod[999]));
    for (int i = 0; i < 24; i++) CHECK(s.sigmas[i] > s.sigmas[i + 1] && s.timesteps[i] >= s.timesteps[i + 1]);
    ig_sched_free(&s);
    /* linear betas (the class default) also build */
    ig_sched_config lin = IG_SCHED_CONFIG_INIT;
    CHECK(ig_sched_init(&s, &lin, IG_SAMPLER_EULER, 30, 16, &err) == IG_OK && s.cfg.beta_schedule == IG_BETA_LINEAR);
    CHECK(s.sigmas[0] > 100 && s.sigmas[29] > 0 && s.sigmas[30] == 0);
    ig_sched_free(&s);
}

/* ---- 3. errors ---------------------------------------------------------------------------- */

static void test_errors(void) {
    printf("errors\n");
    ig_sched_config cfg = IG_SCHED_CONFIG_INIT;
    ig_sched s;
    ig_err err = {0};
    float x[16] = {0}, m[16] = {0};
    ig_rng_torch g;
    ig_rng_torch_seed(&g, 1);

    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER, 0, 16, &err) == IG_ERR_INVALID && s.timesteps == NULL);
    err = (ig_err){0};
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER, 1001, 16, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_LCM, 51, 16, &err) == IG_ERR_INVALID); /* > original_inference_steps */
    err = (ig_err){0};
    CHECK(ig_sched_init(&s, &cfg, (ig_sampler)99, 4, 16, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    ig_sched_config bad = cfg;
    bad.rescale_betas_zero_snr = 1;
    CHECK(ig_sched_init(&s, &bad, IG_SAMPLER_EULER, 4, 16, &err) == IG_ERR_UNSUPPORTED && strstr(err.msg, "rescale"));
    err = (ig_err){0};
    bad = cfg;
    bad.beta_schedule = IG_BETA_SQUAREDCOS_CAP_V2;
    CHECK(ig_sched_init(&s, &bad, IG_SAMPLER_DPMPP_2M_KARRAS, 4, 16, &err) == IG_ERR_UNSUPPORTED);
    err = (ig_err){0};
    bad = cfg;
    bad.beta_end = 1.5;
    CHECK(ig_sched_init(&s, &bad, IG_SAMPLER_EULER, 4, 16, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    bad = cfg;
    bad.beta_schedule = (ig_beta_schedule)42;
    CHECK(ig_sched_init(&s, &bad, IG_SAMPLER_EULER, 4, 16, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    ig_sched_free(NULL);

    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_EULER_A, 4, 16, &err) == IG_OK);
    CHECK(ig_sched_step(&s, 1, m, x, 16, &g, NULL, &err) == IG_ERR_INVALID && strstr(err.msg, "order"));
    err = (ig_err){0};
    CHECK(ig_sched_step(&s, 0, m, x, 15, &g, NULL, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    CHECK(ig_sched_step(&s, 0, m, x, 16, NULL, NULL, &err) == IG_ERR_INVALID && strstr(err.msg, "generator"));
    err = (ig_err){0};
    for (int i = 0; i < 4; i++) CHECK(ig_sched_step(&s, i, m, x, 16, &g, NULL, &err) == IG_OK);
    CHECK(ig_sched_step(&s, 4, m, x, 16, &g, NULL, &err) == IG_ERR_INVALID);
    ig_sched_free(&s);
    ig_sched_free(&s); /* twice is fine */
    err = (ig_err){0};
    /* LCM's last step and DPM++ draw nothing, so need no generator */
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_LCM, 1, 16, &err) == IG_OK);
    CHECK(ig_sched_step(&s, 0, m, x, 16, NULL, NULL, &err) == IG_OK);
    ig_sched_free(&s);
    CHECK(ig_sched_init(&s, &cfg, IG_SAMPLER_DPMPP_2M_KARRAS, 2, 16, &err) == IG_OK);
    CHECK(ig_sched_step(&s, 0, m, x, 16, NULL, NULL, &err) == IG_OK);
    ig_sched_free(&s);
    CHECK(strcmp(ig_sampler_name(IG_SAMPLER_TURBO), "turbo") == 0);
}

int main(void) {
    test_seed();
    test_golden_set("sd1-tiny");
    test_golden_set("sd2-tiny");
    CHECK(runs_checked == 13);
    test_schedules();
    test_steps();
    test_errors();
    return test_finish("test_sched");
}
