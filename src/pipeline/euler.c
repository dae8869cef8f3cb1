/* euler.c — EulerDiscreteScheduler.step of diffusers 0.30.3 as the pipeline calls it (s_churn 0,
 * so gamma = 0, sigma_hat = sigma and the noise it draws is never added; sched.c advances the
 * generator past it). Per element, one float32 rounding per torch op, in diffusers' order:
 *   epsilon:       x0 = sample - sigma_hat * eps
 *   v_prediction:  x0 = v * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
 *   derivative = (sample - x0) / sigma_hat;  prev = sample + derivative * (sigma_next - sigma_hat)
 * Relies on -std=c11 (no contraction of a*b+c). */
#include "pipeline/sched.h"

void ig__sched_step_euler(ig_sched *s, int i, const float *model_output, float *latents, size_t n, float *pred_x0) {
    const float sigma = s->sigmas[i];
    const float sigma_hat = sigma; /* sigma * (gamma + 1), gamma = 0.0 */
    const float dt = s->sigmas[i + 1] - sigma_hat;
    if (s->cfg.prediction_type == IG_PREDICTION_EPSILON) {
        for (size_t k = 0; k < n; k++) {
            float x = latents[k];
            float x0 = x - sigma_hat * model_output[k];
            float derivative = (x - x0) / sigma_hat;
            if (pred_x0) pred_x0[k] = x0;
            latents[k] = x + derivative * dt;
        }
    } else {
        const float s2p1 = sigma * sigma + 1.0f;
        const float c_out = -sigma / sqrtf(s2p1);
        for (size_t k = 0; k < n; k++) {
            float x = latents[k];
            float x0 = model_output[k] * c_out + x / s2p1;
            float derivative = (x - x0) / sigma_hat;
            if (pred_x0) pred_x0[k] = x0;
            latents[k] = x + derivative * dt;
        }
    }
}
