/* lcm.c — LCMScheduler.step of diffusers 0.30.3. Scalars are float32 0-dim tensors as in
 * diffusers (alphas_cumprod[t] and 1 - it, their sqrt, the boundary-condition scalings of
 * t * timestep_scaling with sigma_data 0.5); per element, one rounding per torch op:
 *   epsilon:      x0 = (sample - sqrt(beta_t) * eps) / sqrt(alpha_t)
 *   v_prediction: x0 = sqrt(alpha_t) * sample - sqrt(beta_t) * v
 *   (clip_sample: x0 clamped to +-clip_sample_range)
 *   denoised = c_out * x0 + c_skip * sample
 *   prev = sqrt(alpha_prev) * denoised + sqrt(beta_prev) * noise, except on the last step, where
 *   prev = denoised and no noise is drawn. Relies on -std=c11 (no contraction of a*b+c). */
#include "pipeline/sched.h"

void ig__sched_step_lcm(ig_sched *s, int i, const float *model_output, float *latents, size_t n, ig_rng_torch *g,
                        float *pred_x0) {
    const ig_sched_config *c = &s->cfg;
    const int t = (int)s->timesteps[i];
    const bool last = i == s->n_steps - 1;
    const int prev_t = last ? t : (int)s->timesteps[i + 1];
    const float final_alpha_cumprod = c->set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
    const float alpha_t = s->alphas_cumprod[t];
    const float alpha_prev = prev_t >= 0 ? s->alphas_cumprod[prev_t] : final_alpha_cumprod;
    const float beta_t = 1.0f - alpha_t, beta_prev = 1.0f - alpha_prev;
    /* get_scalings_for_boundary_condition_discrete: the int64 timestep times a Python float is float32 */
    const float scaled = (float)t * (float)c->timestep_scaling;
    const float den = scaled * scaled + 0.25f;            /* scaled**2 + sigma_data**2 */
    const float c_skip = (1.0f / den) * 0.25f;           /* 0.25 / t is t.reciprocal() * 0.25 */
    const float c_out = scaled / sqrtf(scaled * scaled + 0.25f);
    const float sqrt_alpha = sqrtf(alpha_t), sqrt_beta = sqrtf(beta_t);
    const float sqrt_alpha_prev = sqrtf(alpha_prev), sqrt_beta_prev = sqrtf(beta_prev);
    const bool v_pred = c->prediction_type == IG_PREDICTION_V;
    const bool clip = c->clip_sample;
    const float range = (float)c->clip_sample_range;
    float *noise = s->work;
    if (!last) ig_rng_torch_randn(g, noise, n);
    for (size_t k = 0; k < n; k++) {
        float x = latents[k];
        float x0 = v_pred ? sqrt_alpha * x - sqrt_beta * model_output[k] : (x - sqrt_beta * model_output[k]) / sqrt_alpha;
        if (clip) x0 = x0 < -range ? -range : x0 > range ? range : x0;
        float denoised = c_out * x0 + c_skip * x;
        if (pred_x0) pred_x0[k] = denoised;
        latents[k] = last ? denoised : sqrt_alpha_prev * denoised + sqrt_beta_prev * noise[k];
    }
}
