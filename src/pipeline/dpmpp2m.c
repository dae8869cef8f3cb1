/* dpmpp2m.c — DPMSolverMultistepScheduler.step of diffusers 0.30.3 for algorithm_type
 * "dpmsolver++", solver_order 2 (DPM++ 2M; Karras sigmas are sched.c's business). State across
 * steps: the previous x0 prediction (s->work) and lower_order_nums.
 *   convert_model_output: alpha_t = 1 / (sigma**2 + 1) ** 0.5, sigma_t = sigma * alpha_t;
 *     epsilon: x0 = (sample - sigma_t * eps) / alpha_t;  v_prediction: x0 = alpha_t * sample - sigma_t * v
 *   lambda = log(alpha_t) - log(sigma_t);  h = lambda_t - lambda_s0
 *   first order:  x = (sigma_t / sigma_s0) * sample - (alpha_t * (exp(-h) - 1)) * x0
 *   second order: r0 = h_0 / h, D1 = (1 / r0) * (x0 - x0_prev),
 *     midpoint: x = (sigma_t / sigma_s0) * sample - (alpha_t * (exp(-h) - 1)) * x0 - 0.5 * (alpha_t * (exp(-h) - 1)) * D1
 *     heun:     ... + (alpha_t * ((exp(-h) - 1) / h + 1)) * D1
 *   first order on the first step, and on the last when lower_order_final applies (always with
 *   final sigma 0); second order otherwise.
 * The per-step scalars are float32 like diffusers' 0-dim tensors, but torch computes their log and
 * exp with SLEEF (1 ulp), glibc here (correctly rounded, nearly always): a scalar can differ by an
 * ulp, which moves the result by ~1e-7 relative. The per-element part is one rounding per torch op. */
#include "pipeline/sched.h"

/* _sigma_to_alpha_sigma_t */
static void alpha_sigma(float sigma, float *alpha_t, float *sigma_t) {
    float a = 1.0f / sqrtf(sigma * sigma + 1.0f); /* 1 / t is t.reciprocal() * 1 */
    *alpha_t = a;
    *sigma_t = sigma * a;
}

void ig__sched_step_dpmpp2m(ig_sched *s, int i, const float *model_output, float *latents, size_t n,
                            float *pred_x0) {
    const ig_sched_config *c = &s->cfg;
    const int last = s->n_steps - 1;
    const bool lower_order_final =
        i == last && (c->euler_at_final || (c->lower_order_final && s->n_steps < 15) ||
                      c->final_sigmas_type == IG_FINAL_SIGMAS_ZERO);
    /* lower_order_second (i == last - 1 with lower_order_final, < 15 steps) picks order 2 here as
     * well: with solver_order 2 it changes nothing */
    const bool first_order = c->solver_order == 1 || s->lower_order_nums < 1 || lower_order_final;

    float alpha_s0, sigma_s0, alpha_t, sigma_t;
    alpha_sigma(s->sigmas[i], &alpha_s0, &sigma_s0);
    alpha_sigma(s->sigmas[i + 1], &alpha_t, &sigma_t);
    const float lambda_s0 = logf(alpha_s0) - logf(sigma_s0);
    const float lambda_t = logf(alpha_t) - logf(sigma_t); /* +inf at sigma 0: exp(-h) = 0 */
    const float h = lambda_t - lambda_s0;
    const float c_sample = sigma_t / sigma_s0;
    const float em1 = expf(-h) - 1.0f;
    const float c_x0 = alpha_t * em1;
    const bool v_pred = c->prediction_type == IG_PREDICTION_V;
    float *prev_x0 = s->work;

    if (first_order) {
        for (size_t k = 0; k < n; k++) {
            float x = latents[k];
            float x0 = v_pred ? alpha_s0 * x - sigma_s0 * model_output[k] : (x - sigma_s0 * model_output[k]) / alpha_s0;
            if (pred_x0) pred_x0[k] = x0;
            latents[k] = c_sample * x - c_x0 * x0;
            prev_x0[k] = x0;
        }
    } else {
        float alpha_s1, sigma_s1;
        alpha_sigma(s->sigmas[i - 1], &alpha_s1, &sigma_s1);
        const float lambda_s1 = logf(alpha_s1) - logf(sigma_s1);
        const float h_0 = lambda_s0 - lambda_s1;
        const float r0 = h_0 / h;
        const float inv_r0 = 1.0f / r0;
        const bool heun = c->solver_type == IG_SOLVER_HEUN;
        const float c_d1 = heun ? alpha_t * (em1 / h + 1.0f) : 0.5f * c_x0;
        for (size_t k = 0; k < n; k++) {
            float x = latents[k];
            float x0 = v_pred ? alpha_s0 * x - sigma_s0 * model_output[k] : (x - sigma_s0 * model_output[k]) / alpha_s0;
            float d1 = inv_r0 * (x0 - prev_x0[k]);
            float y = c_sample * x - c_x0 * x0;
            if (pred_x0) pred_x0[k] = x0;
            latents[k] = heun ? y + c_d1 * d1 : y - c_d1 * d1;
            prev_x0[k] = x0;
        }
    }
    if (s->lower_order_nums < c->solver_order) s->lower_order_nums++;
}
