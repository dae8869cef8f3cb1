/* sched.h — the samplers of diffusers 0.30.3, computed as diffusers computes them.
 *
 * Owns: turning a scheduler config (the fields of scheduler_config.json, filled in by whoever
 * parses it) plus a sampler choice into timesteps, sigmas and init_noise_sigma, the per-step input
 * scaling, and the per-step update, for
 *   IG_SAMPLER_EULER           EulerDiscreteScheduler
 *   IG_SAMPLER_EULER_A         EulerAncestralDiscreteScheduler
 *   IG_SAMPLER_DPMPP_2M_KARRAS DPMSolverMultistepScheduler(algorithm_type="dpmsolver++",
 *                                                           use_karras_sigmas=True), order 2
 *   IG_SAMPLER_LCM             LCMScheduler
 *   IG_SAMPLER_TURBO           EulerAncestralDiscreteScheduler(timestep_spacing="trailing"), SD-Turbo
 * Each is built like Class.from_config(folder config, **overrides): config fields left unset take
 * that class's defaults, and the sampler's own overrides (above) win over the config.
 * Leaves to others: JSON (io/config.c), the UNet and classifier-free guidance (pipeline/txt2img.c),
 * the random numbers (rng_torch.h: noise is drawn from the generator it is given, in diffusers'
 * order, so a seed gives diffusers' latents).
 *
 * Numerics: schedules are built the way diffusers builds them, through torch float32 (betas,
 * alphas_cumprod: torch 1.13's own linspace and cumprod rounding) and numpy float64 (interpolation,
 * Karras), and stored as float32 like the tensors diffusers keeps. Each step is the same float32
 * operations, in the same order, as diffusers' torch expression, one rounding per torch op.
 *
 *     ig_sched_config cfg = IG_SCHED_CONFIG_INIT;   // then set what scheduler_config.json has
 *     ig_sched s;
 *     if (ig_sched_init(&s, &cfg, IG_SAMPLER_EULER_A, 20, n, &err) != IG_OK) ...;
 *     ig_rng_torch_seed(&g, seed);
 *     ig_sched_init_latents(&s, &g, latents, n);
 *     for (int i = 0; i < s.n_steps; i++) {
 *         copy latents into the UNet input (twice for CFG), ig_sched_scale_model_input(&s, i, x, n_x);
 *         model_output = unet(x, s.timesteps[i]) after guidance;
 *         ig_sched_step(&s, i, model_output, latents, n, &g, NULL, &err);
 *     }
 *     ig_sched_free(&s);
 */
#ifndef IG_SCHED_H
#define IG_SCHED_H

#include <math.h>
#include <stddef.h>

#include "common.h"
#include "models/sched_config.h"
#include "pipeline/rng_torch.h"

typedef struct ig_sched {
    ig_sampler kind;
    ig_sched_config cfg;   /* resolved: every field set, as the diffusers object's .config shows */
    int n_steps;           /* len(scheduler.timesteps): the request, except that diffusers'
                              "trailing" (numpy arange) gives one more for some counts (61, 103..) */
    float *timesteps;      /* [n_steps] what the UNet gets (integers for DPM++ and LCM) */
    float *sigmas;         /* [n_steps + 1] Euler, Euler a, DPM++; NULL for LCM */
    float *alphas_cumprod; /* [num_train_timesteps] float32, as torch.cumprod leaves it */
    float init_noise_sigma;
    int step_index;        /* next step ig_sched_step expects */
    int lower_order_nums;  /* DPM++: model outputs stored so far (capped at 2) */
    size_t n_latent;       /* elements of the latents (batch included) */
    float *work;           /* [n_latent]: step noise (Euler a, LCM) or the previous x0 (DPM++) */
} ig_sched;

/* Builds s for n_steps inference steps over latents of n_latent floats (the whole batch: noise is
 * one randn call over it, as in diffusers). IG_ERR_INVALID for a bad count or config value,
 * IG_ERR_UNSUPPORTED for a config field none of these samplers implement, IG_ERR_NOMEM.
 * On failure s holds nothing to free (ig_sched_free is still safe). Free with ig_sched_free. */
ig_status ig_sched_init(ig_sched *s, const ig_sched_config *cfg, ig_sampler kind, int n_steps, size_t n_latent,
                        ig_err *err);
void ig_sched_free(ig_sched *s); /* accepts NULL and a zeroed or failed s */

const char *ig_sampler_name(ig_sampler kind); /* "euler", "euler_a", "dpmpp_2m_karras", "lcm", "turbo" */
/* The inverse of ig_sampler_name: 0 and *out set, or -1 for another name. */
int ig_sampler_parse(const char *name, ig_sampler *out);

/* pipeline.prepare_latents: latents = torch.randn(n, generator=g) * init_noise_sigma. */
void ig_sched_init_latents(const ig_sched *s, ig_rng_torch *g, float *latents, size_t n);

/* scheduler.scale_model_input for step i, in place over x[0..n) (any n: with CFG the UNet input is
 * the latents twice): Euler types divide by sqrt(sigma^2 + 1); DPM++ and LCM leave x alone. */
void ig_sched_scale_model_input(const ig_sched *s, int i, float *x, size_t n);

/* scheduler.step for step i (which must be s->step_index): the guided model output of n floats
 * (n == s->n_latent) moves latents in place to the next step. Noise comes from g (Euler a, LCM
 * except on its last step; Euler draws and discards it like diffusers; g may be NULL only for
 * DPM++). pred_x0, when not NULL, receives the x0 prediction of this step for previews
 * (pred_original_sample; LCM: denoised; DPM++: the converted model output).
 * IG_ERR_INVALID for a step out of order, a wrong n, or a missing generator. */
ig_status ig_sched_step(ig_sched *s, int i, const float *model_output, float *latents, size_t n, ig_rng_torch *g,
                        float *pred_x0, ig_err *err);

/* scheduler.set_begin_index(i): denoising starts at step i (image to image, inpainting: diffusers'
 * get_timesteps skips the first n_steps - int(n_steps * strength) steps). */
void ig_sched_set_begin(ig_sched *s, int i);

/* scheduler.add_noise(original, noise, timesteps[i]) into out (may alias original), n floats:
 * Euler types: original + noise * sigmas[i]; DPM++: alpha_t * original + sigma_t * noise with
 * alpha_t = 1 / (sigma^2 + 1)^0.5, sigma_t = sigma alpha_t; LCM (DDPM form): alphas_cumprod[t]^0.5 *
 * original + (1 - alphas_cumprod[t])^0.5 * noise. i in 0..n_steps-1. */
void ig_sched_add_noise(const ig_sched *s, int i, const float *original, const float *noise, float *out, size_t n);

/* ---- internal, for the per-sampler files (euler.c, euler_a.c, dpmpp2m.c, lcm.c) ------------ */

void ig__sched_step_euler(ig_sched *s, int i, const float *model_output, float *latents, size_t n, float *pred_x0);
void ig__sched_step_euler_a(ig_sched *s, int i, const float *model_output, float *latents, size_t n,
                            ig_rng_torch *g, float *pred_x0);
void ig__sched_step_dpmpp2m(ig_sched *s, int i, const float *model_output, float *latents, size_t n,
                            float *pred_x0);
void ig__sched_step_lcm(ig_sched *s, int i, const float *model_output, float *latents, size_t n, ig_rng_torch *g,
                        float *pred_x0);

#endif
