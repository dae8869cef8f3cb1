/* sched.c — see sched.h. Config defaults and overrides (diffusers' from_config), the schedules
 * (set_timesteps of each class), init_noise_sigma, scale_model_input, and step dispatch; the step
 * arithmetic lives in euler.c, euler_a.c, dpmpp2m.c and lcm.c.
 *
 * The schedule arithmetic copies the precision of each diffusers line: torch float32 tensor ops
 * (betas, alphas_cumprod, the sigma table, init_noise_sigma) in float, numpy float64 ops
 * (np.linspace, np.arange, np.interp, Karras, _sigma_to_t) in double, with a float32 cast wherever
 * diffusers casts. One float op per torch op: this file relies on -std=c11 (no contraction). */
#include "pipeline/sched.h"

#include <math.h>
#include <string.h>

#include "common.h"

const char *ig_sampler_name(ig_sampler kind) {
    switch (kind) {
    case IG_SAMPLER_EULER: return "euler";
    case IG_SAMPLER_EULER_A: return "euler_a";
    case IG_SAMPLER_DPMPP_2M_KARRAS: return "dpmpp_2m_karras";
    case IG_SAMPLER_LCM: return "lcm";
    case IG_SAMPLER_TURBO: return "turbo";
    }
    return "?";
}

int ig_sampler_parse(const char *name, ig_sampler *out) {
    for (int k = IG_SAMPLER_EULER; k <= IG_SAMPLER_TURBO; k++)
        if (!strcmp(name, ig_sampler_name((ig_sampler)k))) return *out = (ig_sampler)k, 0;
    return -1;
}

/* ---- config: Class.from_config(config, **overrides) --------------------------------------- */

static ig_status resolve_config(const ig_sched_config *in, ig_sampler kind, ig_sched_config *c, ig_err *err) {
    bool lcm = kind == IG_SAMPLER_LCM;
    *c = *in;
    /* the __init__ defaults of each class (LCMScheduler has SD's betas as its defaults) */
    if (c->num_train_timesteps == 0) c->num_train_timesteps = 1000;
    if (isnan(c->beta_start)) c->beta_start = lcm ? 0.00085 : 0.0001;
    if (isnan(c->beta_end)) c->beta_end = lcm ? 0.012 : 0.02;
    if (c->beta_schedule == IG_BETA_UNSET) c->beta_schedule = lcm ? IG_BETA_SCALED_LINEAR : IG_BETA_LINEAR;
    if (c->prediction_type == IG_PREDICTION_UNSET) c->prediction_type = IG_PREDICTION_EPSILON;
    if (c->timestep_spacing == IG_SPACING_UNSET) c->timestep_spacing = lcm ? IG_SPACING_LEADING : IG_SPACING_LINSPACE;
    if (c->steps_offset < 0) c->steps_offset = 0;
    if (c->use_karras_sigmas < 0) c->use_karras_sigmas = 0;
    if (c->final_sigmas_type == IG_FINAL_SIGMAS_UNSET) c->final_sigmas_type = IG_FINAL_SIGMAS_ZERO;
    if (c->solver_order == 0) c->solver_order = 2;
    if (c->solver_type == IG_SOLVER_UNSET) c->solver_type = IG_SOLVER_MIDPOINT;
    if (c->lower_order_final < 0) c->lower_order_final = 1;
    if (c->euler_at_final < 0) c->euler_at_final = 0;
    if (c->set_alpha_to_one < 0) c->set_alpha_to_one = 1;
    if (c->original_inference_steps == 0) c->original_inference_steps = 50;
    if (isnan(c->timestep_scaling)) c->timestep_scaling = 10.0;
    if (c->clip_sample < 0) c->clip_sample = 0;
    if (isnan(c->clip_sample_range)) c->clip_sample_range = 1.0;
    if (c->rescale_betas_zero_snr < 0) c->rescale_betas_zero_snr = 0;
    if (c->thresholding < 0) c->thresholding = 0;
    if (c->trained_betas < 0) c->trained_betas = 0;
    if (c->interpolation_log_linear < 0) c->interpolation_log_linear = 0;
    if (c->timestep_type_continuous < 0) c->timestep_type_continuous = 0;
    if (c->use_lu_lambdas < 0) c->use_lu_lambdas = 0;

    /* the sampler's overrides */
    if (kind == IG_SAMPLER_DPMPP_2M_KARRAS) {
        c->use_karras_sigmas = 1; /* algorithm_type="dpmsolver++" is the only one implemented */
        c->solver_order = 2;      /* "2M" */
    }
    if (kind == IG_SAMPLER_TURBO) c->timestep_spacing = IG_SPACING_TRAILING;
    if (kind == IG_SAMPLER_EULER_A || kind == IG_SAMPLER_TURBO || kind == IG_SAMPLER_LCM)
        c->use_karras_sigmas = 0; /* these classes have no Karras option; a config key is ignored */

    /* what none of these samplers implement: refuse rather than differ from diffusers */
    const char *no = NULL;
    if (c->beta_schedule == IG_BETA_SQUAREDCOS_CAP_V2) no = "beta_schedule squaredcos_cap_v2";
    else if (c->prediction_type == IG_PREDICTION_SAMPLE) no = "prediction_type sample";
    else if (c->trained_betas) no = "trained_betas";
    else if (c->rescale_betas_zero_snr) no = "rescale_betas_zero_snr";
    else if (c->thresholding && (lcm || kind == IG_SAMPLER_DPMPP_2M_KARRAS)) no = "thresholding";
    else if (c->interpolation_log_linear && kind == IG_SAMPLER_EULER) no = "interpolation_type log_linear";
    else if (c->timestep_type_continuous && kind == IG_SAMPLER_EULER && c->prediction_type == IG_PREDICTION_V)
        no = "timestep_type continuous";
    else if (c->use_lu_lambdas && kind == IG_SAMPLER_DPMPP_2M_KARRAS) no = "use_lu_lambdas";
    if (no) return ig__fail(err, IG_ERR_UNSUPPORTED, "scheduler %s: %s is not supported", ig_sampler_name(kind), no);

    int N = c->num_train_timesteps;
    if (N < 2 || N > 100000)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: num_train_timesteps %d out of range [2, 100000]", N);
    if (!(c->beta_start >= 0 && c->beta_start < 1 && c->beta_end >= 0 && c->beta_end < 1))
        return ig__fail(err, IG_ERR_INVALID, "scheduler: betas %g..%g out of range [0, 1)", c->beta_start, c->beta_end);
    if (c->steps_offset >= N)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: steps_offset %d >= num_train_timesteps %d", c->steps_offset, N);
    if (c->beta_schedule != IG_BETA_LINEAR && c->beta_schedule != IG_BETA_SCALED_LINEAR)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad beta_schedule %d", (int)c->beta_schedule);
    if (c->prediction_type != IG_PREDICTION_EPSILON && c->prediction_type != IG_PREDICTION_V)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad prediction_type %d", (int)c->prediction_type);
    if (c->timestep_spacing < IG_SPACING_LINSPACE || c->timestep_spacing > IG_SPACING_TRAILING)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad timestep_spacing %d", (int)c->timestep_spacing);
    if (c->final_sigmas_type != IG_FINAL_SIGMAS_ZERO && c->final_sigmas_type != IG_FINAL_SIGMAS_SIGMA_MIN)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad final_sigmas_type %d", (int)c->final_sigmas_type);
    if (c->solver_type != IG_SOLVER_MIDPOINT && c->solver_type != IG_SOLVER_HEUN)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad solver_type %d", (int)c->solver_type);
    if (c->original_inference_steps < 1 || c->original_inference_steps > N)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: original_inference_steps %d out of range [1, %d]",
                        c->original_inference_steps, N);
    if (!isfinite(c->timestep_scaling) || !(c->clip_sample_range > 0))
        return ig__fail(err, IG_ERR_INVALID, "scheduler: bad timestep_scaling %g or clip_sample_range %g",
                        c->timestep_scaling, c->clip_sample_range);
    if ((!isnan(c->sigma_min) && !(c->sigma_min > 0)) || (!isnan(c->sigma_max) && !(c->sigma_max > 0)))
        return ig__fail(err, IG_ERR_INVALID, "scheduler: sigma_min %g / sigma_max %g must be positive or null",
                        c->sigma_min, c->sigma_max);
    return IG_OK;
}

/* ---- torch float32: betas and alphas_cumprod ---------------------------------------------- */

/* torch.linspace(start, end, n, dtype=float32) as torch 1.13's AVX2 CPU kernel computes it
 * (native/cpu/RangeFactoriesKernel.cpp under cpu_serial_kernel_vec): step = (end - start)/(n - 1)
 * in float; the first half counts up from start, the second half down from end; whole 8-lane
 * vectors (two per loop trip, while 16 remain) take their base from their first index and add
 * k*step per lane (Vectorized<float>::arange), the rest goes element by element. The kernel's
 * compiler fused each a + b*c into one FMA; with plain multiply-adds, sigma(999) of SD's schedule
 * is two float ulps off diffusers' (checked against the golden manifests). */
static void torch_linspace_f32(float *out, float start, float end, int n) {
    if (n == 1) {
        out[0] = start;
        return;
    }
    const float step = (end - start) / (float)(n - 1);
    const int half = n / 2;
    int i = 0;
    for (; i <= n - 16; i += 16)
        for (int v = 0; v < 2; v++) {
            int idx = i + 8 * v;
            float base = idx < half ? fmaf(step, (float)idx, start) : fmaf(-step, (float)(n - idx - 1), end);
            out[idx] = base;
            for (int k = 1; k < 8; k++) out[idx + k] = fmaf((float)k, step, base);
        }
    for (; i < n; i++) out[i] = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - i - 1), end);
}

/* betas -> alphas = 1 - betas -> torch.cumprod, which on CPU accumulates in double
 * (at::acc_type<float, false>) and rounds each prefix to float. */
static ig_status make_alphas_cumprod(const ig_sched_config *c, float *ac, ig_err *err) {
    int N = c->num_train_timesteps;
    if (c->beta_schedule == IG_BETA_SCALED_LINEAR) { /* linspace(beta_start**0.5, beta_end**0.5) ** 2 */
        torch_linspace_f32(ac, (float)pow(c->beta_start, 0.5), (float)pow(c->beta_end, 0.5), N);
        for (int t = 0; t < N; t++) ac[t] = ac[t] * ac[t];
    } else {
        torch_linspace_f32(ac, (float)c->beta_start, (float)c->beta_end, N);
    }
    double cum = 1.0;
    for (int t = 0; t < N; t++) {
        float alpha = 1.0f - ac[t];
        cum *= alpha;
        ac[t] = (float)cum;
        if (!(ac[t] > 0 && ac[t] < 1))
            return ig__fail(err, IG_ERR_INVALID, "scheduler: alphas_cumprod[%d] = %g leaves (0, 1)", t, (double)ac[t]);
    }
    return IG_OK;
}

/* The sigma table ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5, float32 tensor ops. */
static inline float sigma_of(float ac) { return sqrtf((1.0f - ac) / ac); }

/* ---- numpy float64 ------------------------------------------------------------------------ */

/* np.linspace(0, stop, num, endpoint) in float64: i * (stop / div) + 0, the endpoint stored as is. */
static double np_linspace0(double stop, int num, bool endpoint, int i) {
    int div = endpoint ? num - 1 : num;
    if (div <= 0) return 0.0; /* num == 1 with endpoint: [start] */
    if (endpoint && i == num - 1) return stop;
    return (double)i * (stop / (double)div) + 0.0;
}

/* np.arange(start, 0, -step) for int start and float step: the length is
 * ceil((0 - start) / -step) (which for some counts is one more than start / step, e.g. 1000/61),
 * element 1 is start - step, and the fill is start + i * (element 1 - start) (DOUBLE_fill). */
static int np_arange_down(int start, double step, double *out, int cap) {
    double len_f = ceil((double)(0 - start) / -step);
    int len = len_f > 0 ? (int)len_f : 0;
    if (len > cap) len = cap;
    double v0 = (double)start, v1 = (double)start + -step, delta = v1 - v0;
    for (int i = 0; i < len; i++) out[i] = i == 0 ? v0 : i == 1 ? v1 : v0 + (double)i * delta;
    return len;
}

/* np.interp(x, arange(N), table) with float32 table values: left/right clamp, slope * (x - j) + fp[j]. */
static double np_interp(double x, const float *fp, int N) {
    if (isnan(x)) return x;
    if (x >= (double)(N - 1)) return fp[N - 1];
    if (x < 0) return fp[0];
    int j = (int)floor(x);
    if (x == (double)j) return fp[j];
    double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
    return slope * (x - (double)j) + (double)fp[j];
}

/* np.log on a float32 array as numpy 1.24 computes it on an AVX2 or AVX-512 machine (simd_log_FLOAT
 * in umath/loops_exponent_log.dispatch.c.src; both give the same bits, and they differ from a
 * correctly rounded log in about 1 of 5 sigma-table entries): x = m * 2^e with m in [0.5, 1),
 * m <= sqrt(1/2) -> 2m, e - 1; log = P(m - 1) / Q(m - 1) + e * ln 2, with FMAs. For positive normal x. */
static float numpy_logf(float xf) {
    uint32_t bits;
    memcpy(&bits, &xf, 4);
    float e = (float)((int32_t)(bits >> 23) - 0x7e);
    bits = (bits & 0x7fffffu) | (126u << 23);
    float x;
    memcpy(&x, &bits, 4);
    if (x <= 0.707106781186547524400844362104849039f) {
        x = x + x;
        e = e - 1.0f;
    }
    x = x - 1.0f;
    float num = fmaf(2.589979117907922693523e-02f, x, 3.808837741388407920751e-01f);
    num = fmaf(num, x, 1.480000633576506585156e+00f);
    num = fmaf(num, x, 2.112677543073053063722e+00f);
    num = fmaf(num, x, 9.999999999999998702752e-01f);
    num = fmaf(num, x, 0.0f);
    float den = fmaf(5.875095403124574342950e-03f, x, 1.546476374983906719538e-01f);
    den = fmaf(den, x, 9.864942958519418960339e-01f);
    den = fmaf(den, x, 2.453006071784736363091e+00f);
    den = fmaf(den, x, 2.612677543073109236779e+00f);
    den = fmaf(den, x, 1.0f);
    return fmaf(e, 0.693147180559945309417232121458176568f, num / den);
}

/* _convert_to_karras: (max^(1/rho) + ramp * (min^(1/rho) - max^(1/rho))) ** rho, rho = 7. */
static void karras(double sigma_min, double sigma_max, int n, double *out) {
    const double rho = 7.0;
    double min_inv_rho = pow(sigma_min, 1 / rho), max_inv_rho = pow(sigma_max, 1 / rho);
    double span = min_inv_rho - max_inv_rho;
    for (int i = 0; i < n; i++) out[i] = pow(max_inv_rho + np_linspace0(1.0, n, true, i) * span, rho);
}

/* _sigma_to_t(sigma, log_sigmas), log_sigmas = np.log(float32 sigma table) (float32), under numpy
 * 1.24's legacy promotion: log_sigma is a float64 scalar, so against the float32 arrays it is cast
 * to float32 and dists = log_sigma - log_sigmas is float32; low_idx = argmax(cumsum(dists >= 0),
 * axis=0) is a shape-(1,) array (the last index with dists >= 0, 0 if none, clipped to N - 2), so
 * low, high and w = (low - log_sigma) / (low - high) are float32 too, and only
 * (1 - w) * low_idx + w * high_idx (float32 array times int64 array) is float64. */
static double sigma_to_t(double sigma, const float *log_sigmas, int N) {
    double log_sigma = log(fmax(sigma, 1e-10));
    float log_sigma_f = (float)log_sigma;
    int low_idx = 0, count = 0, best = 0;
    for (int t = 0; t < N; t++) {
        if (log_sigma_f - log_sigmas[t] >= 0) count++;
        if (count > best) best = count, low_idx = t;
    }
    if (low_idx > N - 2) low_idx = N - 2;
    int high_idx = low_idx + 1;
    float low = log_sigmas[low_idx], high = log_sigmas[high_idx];
    float w = (low - log_sigma_f) / (low - high);
    w = w < 0 ? 0 : w > 1 ? 1 : w; /* np.clip(w, 0, 1), NaN passes */
    return (double)(1.0f - w) * (double)low_idx + (double)w * (double)high_idx;
}

/* ---- set_timesteps per class -------------------------------------------------------------- */

/* EulerDiscreteScheduler / EulerAncestralDiscreteScheduler.set_timesteps (float32 timesteps). */
static ig_status euler_timesteps(ig_sched *s, int n, const float *table, double *tmp, ig_err *err) {
    const ig_sched_config *c = &s->cfg;
    int N = c->num_train_timesteps;
    double *ts = tmp;           /* timesteps, float64 until the float32 cast */
    double *sg = tmp + N + 2;   /* sigmas, float64 until the float32 cast */
    int len = n;
    switch (c->timestep_spacing) {
    case IG_SPACING_LINSPACE: /* np.linspace(0, N - 1, n, dtype=float32)[::-1] */
        for (int i = 0; i < n; i++) ts[n - 1 - i] = (float)np_linspace0(N - 1, n, true, i);
        break;
    case IG_SPACING_LEADING: /* (arange(n) * (N // n)).round()[::-1].astype(float32) + steps_offset */
        for (int i = 0; i < n; i++) ts[i] = (float)((n - 1 - i) * (N / n)) + (float)c->steps_offset;
        break;
    case IG_SPACING_TRAILING: /* arange(N, 0, -N / n).round().astype(float32) - 1 */
        len = np_arange_down(N, (double)N / n, ts, N + 1);
        for (int i = 0; i < len; i++) ts[i] = (float)rint(ts[i]) - 1.0f;
        break;
    default: break;
    }
    if (len < 1) return ig__fail(err, IG_ERR_INVALID, "scheduler: no timesteps for %d steps", n);
    /* sigmas = np.interp(timesteps, arange(N), table) */
    for (int i = 0; i < len; i++) sg[i] = np_interp(ts[i], table, N);
    if (c->use_karras_sigmas && s->kind == IG_SAMPLER_EULER) {
        float *log_sigmas = (float *)(sg + N + 2);
        for (int t = 0; t < N; t++) log_sigmas[t] = numpy_logf(table[t]);
        double smin = isnan(c->sigma_min) ? sg[len - 1] : c->sigma_min;
        double smax = isnan(c->sigma_max) ? sg[0] : c->sigma_max;
        len = n; /* _convert_to_karras(in_sigmas, self.num_inference_steps) */
        karras(smin, smax, len, sg);
        for (int i = 0; i < len; i++) ts[i] = (float)sigma_to_t(sg[i], log_sigmas, N);
    }
    s->n_steps = len;
    for (int i = 0; i < len; i++) {
        s->timesteps[i] = (float)ts[i];
        s->sigmas[i] = (float)sg[i];
    }
    bool sigma_min_last = s->kind == IG_SAMPLER_EULER && c->final_sigmas_type == IG_FINAL_SIGMAS_SIGMA_MIN;
    s->sigmas[len] = sigma_min_last ? table[0] : 0.0f;
    /* init_noise_sigma: sigmas.max(), or (max**2 + 1) ** 0.5 unless spacing is linspace/trailing */
    float m = 0;
    for (int i = 0; i <= len; i++) m = s->sigmas[i] > m ? s->sigmas[i] : m;
    bool plain = c->timestep_spacing == IG_SPACING_LINSPACE || c->timestep_spacing == IG_SPACING_TRAILING;
    s->init_noise_sigma = plain ? m : sqrtf(m * m + 1.0f);
    return IG_OK;
}

/* DPMSolverMultistepScheduler.set_timesteps with use_karras_sigmas: Karras sigmas between the two
 * ends of the table, timesteps = _sigma_to_t(...).round() as int64 (the spacing-based timesteps
 * diffusers computes first are all replaced). */
static ig_status dpm_timesteps(ig_sched *s, int n, const float *table, double *tmp, ig_err *err) {
    const ig_sched_config *c = &s->cfg;
    int N = c->num_train_timesteps;
    double *sg = tmp;
    float *log_sigmas = (float *)(tmp + N + 2);
    for (int t = 0; t < N; t++) log_sigmas[t] = numpy_logf(table[t]);
    double smin = isnan(c->sigma_min) ? table[0] : c->sigma_min;     /* flipped table [-1] */
    double smax = isnan(c->sigma_max) ? table[N - 1] : c->sigma_max; /* flipped table [0] */
    karras(smin, smax, n, sg);
    s->n_steps = n;
    for (int i = 0; i < n; i++) {
        s->timesteps[i] = (float)(int64_t)rint(sigma_to_t(sg[i], log_sigmas, N));
        s->sigmas[i] = (float)sg[i];
    }
    s->sigmas[n] = c->final_sigmas_type == IG_FINAL_SIGMAS_SIGMA_MIN ? table[0] : 0.0f;
    s->init_noise_sigma = 1.0f;
    (void)err;
    return IG_OK;
}

/* LCMScheduler.set_timesteps (strength 1): every k-th training step of the original schedule,
 * k = N // original_inference_steps, reversed, then n picks floor(linspace(0, len, n, endpoint=False)). */
static ig_status lcm_timesteps(ig_sched *s, int n, ig_err *err) {
    const ig_sched_config *c = &s->cfg;
    int N = c->num_train_timesteps, orig = c->original_inference_steps, k = N / orig;
    if (n > orig)
        return ig__fail(err, IG_ERR_INVALID, "scheduler lcm: %d steps > original_inference_steps %d", n, orig);
    s->n_steps = n;
    for (int i = 0; i < n; i++) {
        int64_t idx = (int64_t)floor(np_linspace0((double)orig, n, false, i));
        s->timesteps[i] = (float)((orig - idx) * k - 1); /* reversed [1..orig] * k - 1 */
    }
    s->init_noise_sigma = 1.0f;
    return IG_OK;
}

/* ---- public ------------------------------------------------------------------------------- */

void ig_sched_free(ig_sched *s) {
    if (!s) return;
    ig__free(s->timesteps); /* one block: timesteps, sigmas, alphas_cumprod */
    ig__free(s->work);
    memset(s, 0, sizeof *s);
}

ig_status ig_sched_init(ig_sched *s, const ig_sched_config *cfg, ig_sampler kind, int n_steps, size_t n_latent,
                        ig_err *err) {
    double *tmp = NULL;
    ig_status st;
    memset(s, 0, sizeof *s);
    if (kind < IG_SAMPLER_EULER || kind > IG_SAMPLER_TURBO)
        return ig__fail(err, IG_ERR_INVALID, "scheduler: unknown sampler %d", (int)kind);
    s->kind = kind;
    if ((st = resolve_config(cfg, kind, &s->cfg, err)) != IG_OK) goto fail;
    int N = s->cfg.num_train_timesteps;
    if (n_steps < 1 || n_steps > N) {
        st = ig__fail(err, IG_ERR_INVALID, "scheduler %s: %d steps out of range [1, %d]", ig_sampler_name(kind),
                      n_steps, N);
        goto fail;
    }
    if (n_latent < 1 || n_latent > ((size_t)1 << 40)) {
        st = ig__fail(err, IG_ERR_INVALID, "scheduler: %zu latent elements", n_latent);
        goto fail;
    }
    /* timesteps [N + 2] (trailing may give one more than asked), sigmas [N + 3], alphas_cumprod [N] */
    size_t cap = (size_t)N + 2;
    s->timesteps = ig__alloc((cap + cap + 1 + (size_t)N) * sizeof(float));
    s->work = ig__alloc(n_latent * sizeof(float));
    tmp = ig__alloc((3 * cap + (size_t)N) * sizeof(double)); /* float64 scratch + log table + sigma table */
    if (!s->timesteps || !s->work || !tmp) {
        st = ig__fail(err, IG_ERR_NOMEM, "scheduler: out of memory for %zu latent elements", n_latent);
        goto fail;
    }
    s->alphas_cumprod = s->timesteps + 2 * cap + 1;
    s->n_latent = n_latent;
    if ((st = make_alphas_cumprod(&s->cfg, s->alphas_cumprod, err)) != IG_OK) goto fail;
    float *table = (float *)(tmp + 3 * cap); /* the float32 sigma table, index = training timestep */
    for (int t = 0; t < N; t++) {
        table[t] = sigma_of(s->alphas_cumprod[t]);
        /* _sigma_to_t interpolates between neighbours of the log table: equal ones (betas that round to
         * 0 in float32, e.g. beta_end 0) give 0/0, a NaN timestep (diffusers' too) and UB in the int cast */
        if (t > 0 && !(numpy_logf(table[t]) > numpy_logf(table[t - 1]))) {
            st = ig__fail(err, IG_ERR_INVALID, "scheduler: sigmas do not increase at training step %d (betas %g..%g "
                          "too small for float32)", t, s->cfg.beta_start, s->cfg.beta_end);
            goto fail;
        }
    }

    if (kind == IG_SAMPLER_LCM) {
        st = lcm_timesteps(s, n_steps, err);
    } else {
        s->sigmas = s->timesteps + cap;
        st = kind == IG_SAMPLER_DPMPP_2M_KARRAS ? dpm_timesteps(s, n_steps, table, tmp, err)
                                                : euler_timesteps(s, n_steps, table, tmp, err);
    }
    if (st != IG_OK) goto fail;
    ig__free(tmp);
    return IG_OK;
fail:
    ig__free(tmp);
    ig_sched_free(s);
    return st;
}

void ig_sched_init_latents(const ig_sched *s, ig_rng_torch *g, float *latents, size_t n) {
    ig_rng_torch_randn(g, latents, n);
    for (size_t i = 0; i < n; i++) latents[i] = latents[i] * s->init_noise_sigma;
}

void ig_sched_set_begin(ig_sched *s, int i) {
    IG_ASSERT(i >= 0 && i <= s->n_steps);
    s->step_index = i;
}

void ig_sched_add_noise(const ig_sched *s, int i, const float *original, const float *noise, float *out, size_t n) {
    IG_ASSERT(i >= 0 && i < s->n_steps);
    if (s->kind == IG_SAMPLER_LCM) { /* DDPM's add_noise over alphas_cumprod[t], float32 */
        const float a = s->alphas_cumprod[(int)s->timesteps[i]];
        const float sa = sqrtf(a), sb = sqrtf(1.0f - a);
        for (size_t k = 0; k < n; k++) out[k] = sa * original[k] + sb * noise[k];
    } else if (s->kind == IG_SAMPLER_DPMPP_2M_KARRAS) {
        const float sigma = s->sigmas[i], alpha_t = 1.0f / sqrtf(sigma * sigma + 1.0f), sigma_t = sigma * alpha_t;
        for (size_t k = 0; k < n; k++) out[k] = alpha_t * original[k] + sigma_t * noise[k];
    } else {
        const float sigma = s->sigmas[i];
        for (size_t k = 0; k < n; k++) out[k] = original[k] + noise[k] * sigma;
    }
}

void ig_sched_scale_model_input(const ig_sched *s, int i, float *x, size_t n) {
    if (s->kind == IG_SAMPLER_DPMPP_2M_KARRAS || s->kind == IG_SAMPLER_LCM) return;
    IG_ASSERT(i >= 0 && i < s->n_steps);
    float sigma = s->sigmas[i];
    float den = sqrtf(sigma * sigma + 1.0f); /* (sigma**2 + 1) ** 0.5, then a true division */
    for (size_t k = 0; k < n; k++) x[k] = x[k] / den;
}

ig_status ig_sched_step(ig_sched *s, int i, const float *model_output, float *latents, size_t n, ig_rng_torch *g,
                        float *pred_x0, ig_err *err) {
    if (i != s->step_index || i >= s->n_steps)
        return ig__fail(err, IG_ERR_INVALID, "scheduler %s: step %d out of order (expected %d of %d)",
                        ig_sampler_name(s->kind), i, s->step_index, s->n_steps);
    if (n != s->n_latent)
        return ig__fail(err, IG_ERR_INVALID, "scheduler %s: %zu latent elements, built for %zu",
                        ig_sampler_name(s->kind), n, s->n_latent);
    bool needs_g = s->kind == IG_SAMPLER_EULER_A || s->kind == IG_SAMPLER_TURBO ||
                   (s->kind == IG_SAMPLER_LCM && i != s->n_steps - 1);
    if (needs_g && !g)
        return ig__fail(err, IG_ERR_INVALID, "scheduler %s: step %d draws noise but has no generator",
                        ig_sampler_name(s->kind), i);
    switch (s->kind) {
    case IG_SAMPLER_EULER:
        if (g) ig_rng_torch_skip_randn(g, n); /* EulerDiscreteScheduler.step draws noise even at s_churn 0 */
        ig__sched_step_euler(s, i, model_output, latents, n, pred_x0);
        break;
    case IG_SAMPLER_EULER_A:
    case IG_SAMPLER_TURBO: ig__sched_step_euler_a(s, i, model_output, latents, n, g, pred_x0); break;
    case IG_SAMPLER_DPMPP_2M_KARRAS: ig__sched_step_dpmpp2m(s, i, model_output, latents, n, pred_x0); break;
    case IG_SAMPLER_LCM: ig__sched_step_lcm(s, i, model_output, latents, n, g, pred_x0); break;
    }
    s->step_index++;
    return IG_OK;
}
