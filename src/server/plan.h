/* plan.h — what a validated request becomes on one model: sampler, steps, guidance, the prompt
 * actually used (revised_prompt), the size generated before resizing, and the moderation verdict.
 *
 * Owns: the quality → steps and style → prompt/guidance tables, the
 * native-resolution rule, the transparent-background prompt, the prompt filter.
 * Leaves to others: parsing the body (api/), running it (job.c), HTTP (http.c).
 *
 * The tables (README "Quality, style and sizes" repeats them):
 *   preset     sampler                 low  medium  high   guidance
 *   standard   DPM++ 2M Karras          12      20    30   7.5       SD 1.x / 2.x
 *   turbo      Euler ancestral trailing  1       2     4   off       SD-Turbo (name has "turbo")
 *   lcm        LCM                       2       4     8   off       LCM-LoRA merges (name has "lcm")
 *   quality auto → high, standard → medium, hd → high (api/request.h: ig_api_quality_tier).
 *   style vivid:   prompt + ", vivid colors, dramatic lighting, high contrast", guidance x 1.25
 *   style natural: prompt + ", natural colors, soft natural light, realistic", guidance x 0.8
 *   quality words (revision on): high + ", highly detailed, sharp focus"; medium + ", detailed".
 *   background transparent: prompt + ", centered on a plain white background", keyed out after.
 * Sizes: the model draws at its native area (unet sample_size x latent factor, squared) in the
 * requested aspect, sides rounded to what the UNet takes (multiples of 64 for SD), then the centre
 * of the requested aspect is cut out (a few pixels at most, never a stretch) and resized to exactly
 * the requested pixels (Lanczos down, Catmull-Rom up).
 * Extension fields (api/request.h) override the tables: steps, guidance_scale (style's factor is then
 * not applied), sampler, negative_prompt, seed. Image to image (edits, variations) runs
 * int(n_steps * strength) steps of n_steps, as diffusers does, so without an explicit `steps` the
 * tier's steps are divided by the strength (at most 150): the denoising steps actually run stay
 * the tier's (turbo low at strength 0.5: 2 steps scheduled, 1 run).
 */
#ifndef IG_SERVER_PLAN_H
#define IG_SERVER_PLAN_H

#include <stdbool.h>

#include "api/request.h"
#include "lib/card.h"

/* The moderation word lists: built-in, plus an optional file of one term per line ("#" comments;
 * a line "low: term" applies at moderation=low too, plain lines only at auto). Terms match whole
 * words, case-insensitively, with any run of non-letters between the words of a multi-word term. */
typedef struct ig_blocklist ig_blocklist;
ig_status ig_blocklist_load(ig_blocklist **out, const char *path, ig_err *err); /* path NULL: built-in only */
void ig_blocklist_free(ig_blocklist *b);
/* The first term the prompt contains at this level, or NULL. */
const char *ig_blocklist_match(const ig_blocklist *b, const char *prompt, ig_moderation level);

typedef struct ig_plan {
    char *prompt;          /* what the model reads = revised_prompt; caller frees with ig_plan_clear */
    const char *negative;  /* the request's, else the card's; NULL when neither has one */
    int gen_width, gen_height;
    int n_steps;
    float guidance;
    ig_sampler sampler;
    bool transparent;
    uint64_t seed;
    bool seed_fixed;       /* the request's seed (then 0 is a seed, not "draw one") */
    bool img2img;          /* edits and variations: req.image is the init image, req.mask the mask */
    float strength;        /* with img2img */
    int n_partials;        /* partial previews that will be sent, <= req.partial_images */
    int partial_after[3];  /* after which step (1-based) each preview is made */
} ig_plan;

/* Fills plan for req on the model with this card. revise_global false turns prompt revision off for
 * every model. seed is the request's noise seed. Fails only for lack of memory. */
ig_status ig_plan_make(const ig_model_card *card, const ig_request *req, bool revise_global, uint64_t seed,
                       ig_plan *plan, ig_err *err);
void ig_plan_clear(ig_plan *plan);



#endif
