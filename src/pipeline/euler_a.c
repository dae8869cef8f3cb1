/* euler_a.c — EulerAncestralDiscreteScheduler.step of diffusers 0.30.3 (also SD-Turbo's sampler:
 * the same step over "trailing" timesteps). Per element, one float32 rounding per torch op, in
 * diffusers' order:
 *   epsilon:       x0 = sample - sigma * eps
 *   v_prediction:  x0 = v * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
 *   sigma_up   = (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
 *   sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
 *   prev = sample + (sample - x0) / sigma * (sigma_down - sigma);  prev = prev + noise * sigma_up
 * with noise = one torch.randn over the whole latents from the pipeline's generator, drawn every
 * step (also the last, where sigma_up is 0). Relies on -std=c11 (no contraction of a*b+c). */
#include "pipeline/sched.h"

void ig__sched_step_euler_a(ig_sched *s, int i, const float *model_output, float *latents, size_t n,
                            ig_rng_torch *g, float *pred_x0) {
    const float sigma = s->sigmas[i];
    const float sigma_from = sigma, sigma_to = s->sigmas[i + 1];
    const float from2 = sigma_from * sigma_from, to2 = sigma_to * sigma_to;
    const float sigma_up = sqrtf(to2 * (from2 - to2) / from2);
    const float sigma_down = sqrtf(to2 - sigma_up * sigma_up);
    const float dt = sigma_down - sigma;
    const bool v_pred = s->cfg.prediction_type == IG_PREDICTION_V;
    const float s2p1 = sigma * sigma + 1.0f;
    const float c_out = -sigma / sqrtf(s2p1);
    float *noise = s->work;
    ig_rng_torch_randn(g, noise, n); /* the only draw of the step, so drawing it first is the same */
    for (size_t k = 0; k < n; k++) {
        float x = latents[k];
        float x0 = v_pred ? model_output[k] * c_out + x / s2p1 : x - sigma * model_output[k];
        float derivative = (x - x0) / sigma;
        float prev = x + derivative * dt;
        if (pred_x0) pred_x0[k] = x0;
        latents[k] = prev + noise[k] * sigma_up;
    }
}
