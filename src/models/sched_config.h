/* sched_config.h — what a model's scheduler/scheduler_config.json says: the fields the samplers of
 * pipeline/sched.h read, filled in by whoever parses the file (sd.c for folders, single.c with the
 * SD defaults). A model owns one; the pipeline turns it plus a sampler into a schedule. Kept here,
 * below the pipeline, so that models/ never includes pipeline/. */
#ifndef IG_MODELS_SCHED_CONFIG_H
#define IG_MODELS_SCHED_CONFIG_H

#include <math.h>

#include "imagine.h"

/* Every enum's 0 is "unset": the class default applies. */
typedef enum ig_beta_schedule {
    IG_BETA_UNSET = 0,
    IG_BETA_LINEAR,
    IG_BETA_SCALED_LINEAR,
    IG_BETA_SQUAREDCOS_CAP_V2, /* recognised, refused (IG_ERR_UNSUPPORTED) */
} ig_beta_schedule;



typedef enum ig_final_sigmas {
    IG_FINAL_SIGMAS_UNSET = 0,
    IG_FINAL_SIGMAS_ZERO,
    IG_FINAL_SIGMAS_SIGMA_MIN,
} ig_final_sigmas;

typedef enum ig_solver_type {
    IG_SOLVER_UNSET = 0,
    IG_SOLVER_MIDPOINT,
    IG_SOLVER_HEUN,
} ig_solver_type;

/* The fields of scheduler_config.json that these samplers read. Ints marked "-1 unset" are
 * booleans or counts; doubles marked "NaN unset" also stand for JSON null (sigma_min/max).
 * Fields no sampler here supports are listed so that a config asking for them is refused with a
 * clear message instead of giving other images than diffusers. */
typedef struct ig_sched_config {
    int num_train_timesteps;       /* 0 unset */
    double beta_start, beta_end;   /* NaN unset */
    ig_beta_schedule beta_schedule;
    ig_prediction prediction_type;
    ig_spacing timestep_spacing;   /* LCM ignores it, as diffusers does */
    int steps_offset;              /* -1 unset; "leading" adds it */
    /* Euler, DPM++ */
    int use_karras_sigmas;         /* -1 unset (DPM++ 2M Karras forces 1) */
    double sigma_min, sigma_max;   /* NaN: None (Karras takes them from the schedule) */
    ig_final_sigmas final_sigmas_type;
    /* DPM++ */
    int solver_order;              /* 0 unset; the 2M sampler forces 2 */
    ig_solver_type solver_type;
    int lower_order_final;         /* -1 unset */
    int euler_at_final;            /* -1 unset */
    /* LCM */
    int set_alpha_to_one;          /* -1 unset */
    int original_inference_steps;  /* 0 unset */
    double timestep_scaling;       /* NaN unset */
    int clip_sample;               /* -1 unset */
    double clip_sample_range;      /* NaN unset */
    /* refused when set to 1 / when not the default */
    int rescale_betas_zero_snr;    /* -1 unset */
    int thresholding;              /* -1 unset */
    int trained_betas;             /* -1 unset; 1 if the config has a non-null trained_betas */
    int interpolation_log_linear;  /* -1 unset; 1 for interpolation_type "log_linear" */
    int timestep_type_continuous;  /* -1 unset; 1 for timestep_type "continuous" */
    int use_lu_lambdas;            /* -1 unset */
} ig_sched_config;

#define IG_SCHED_CONFIG_INIT                                                                         \
    {                                                                                                \
        .num_train_timesteps = 0, .beta_start = NAN, .beta_end = NAN, .steps_offset = -1,            \
        .use_karras_sigmas = -1, .sigma_min = NAN, .sigma_max = NAN, .solver_order = 0,              \
        .lower_order_final = -1, .euler_at_final = -1, .set_alpha_to_one = -1,                       \
        .original_inference_steps = 0, .timestep_scaling = NAN, .clip_sample = -1,                   \
        .clip_sample_range = NAN, .rescale_betas_zero_snr = -1, .thresholding = -1,                  \
        .trained_betas = -1, .interpolation_log_linear = -1, .timestep_type_continuous = -1,         \
        .use_lu_lambdas = -1,                                                                        \
    }

#endif
