/* card.h — a model's card: how it is best driven (sampler, steps for low / medium / high quality,
 * guidance, native size, negative prompt), from the preset its name suggests and its configs, then
 * imagine.json in the model folder. The library's ig_model_describe and the server's quality tables
 * (server/plan.h) both read it.
 *
 * The presets (README "Quality, style and sizes" repeats them):
 *   preset     sampler                 low  medium  high   guidance
 *   standard   DPM++ 2M Karras          12      20    30   7.5       SD 1.x / 2.x
 *   turbo      Euler ancestral trailing  1       2     4   off       SD-Turbo (name has "turbo")
 *   lcm        LCM                       2       4     8   off       LCM-LoRA merges (name has "lcm")
 */
#ifndef IG_LIB_CARD_H
#define IG_LIB_CARD_H

#include <stdbool.h>

#include "models/sd.h"

typedef enum ig_preset { IG_PRESET_STANDARD, IG_PRESET_TURBO, IG_PRESET_LCM } ig_preset;

#define IG_CARD_TEXT_MAX 512

typedef struct ig_model_card {
    ig_preset preset;
    ig_sampler sampler;
    int steps[3];        /* low, medium, high */
    float guidance;      /* <= 1: classifier-free guidance off */
    int native;          /* side of the native square, pixels */
    int factor;          /* pixels per latent */
    int multiple;        /* drawn sides are multiples of this: factor x 2^(UNet levels - 1) (64 for SD) */
    bool revise;         /* style and quality words added to the prompt */
    char negative_prompt[IG_CARD_TEXT_MAX];
    char transparent_words[IG_CARD_TEXT_MAX]; /* appended for background=transparent */
    char fast_decoder[4096]; /* TAESD weights, "" for none; a relative path is resolved against the folder */
    ig_decoder decoder;      /* imagine.json "decoder": FAST or FULL; DEFAULT when it says nothing */
} ig_model_card;

/* Defaults from the preset the name suggests and the configs of m; then imagine.json in the model
 * folder (when path is a folder and has one) overrides any of: "preset", "sampler" (euler, euler_a,
 * dpmpp_2m_karras, lcm, turbo), "steps_low", "steps_medium", "steps_high", "guidance", "native",
 * "revise_prompt", "negative_prompt", "transparent_prompt", "fast_decoder" (TAESD weights: a path, relative
 * to the folder unless absolute), "decoder" ("fast" or "full"). A bad imagine.json is an error naming it. */
ig_status ig_model_card_load(ig_model_card *card, const char *path, const char *id, const ig_sd_model *m,
                             ig_err *err);

/* The size drawn for a requested WxH on a model of native side `native` whose sides must be
 * multiples of `multiple`: about native² pixels, the aspect as close as the multiple allows. */
void ig_plan_native_size(int native, int multiple, int width, int height, int *gen_w, int *gen_h);

/* The centred part of a drawn gw x gh image that has the requested aspect W:H (what is resized to
 * WxH, so nothing is stretched): *x, *y, *w, *h. */
void ig_plan_crop(int gw, int gh, int width, int height, int *x, int *y, int *w, int *h);

#endif
