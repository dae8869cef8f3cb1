/* plan.c — see plan.h for the tables this file implements. */
#include "plan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

/* ---- prompt filter ------------------------------------------------------------------------- */

typedef struct term {
    char *words; /* lower case, single spaces */
    bool low;    /* applies at moderation=low too */
} term;

struct ig_blocklist {
    term *terms;
    size_t n, cap;
};

/* Built-in lists. low: sexual content involving minors, refused at every level. auto adds explicit
 * sexual content and graphic violence. Deliberately short: the file option extends them. */
static const char *const builtin_low[] = {"child porn", "child pornography", "csam", "lolicon", "shotacon",
                                          "underage nude", "underage sex", "naked child", "nude child",
                                          "naked children", "nude children", "sexualized minor"};
static const char *const builtin_auto[] = {"nude", "nudes", "naked", "nsfw", "porn", "porno", "pornographic",
                                           "pornography", "hentai", "sex", "sexual", "explicit", "genitals",
                                           "penis", "vagina", "topless", "gore", "gory", "beheading",
                                           "beheaded", "dismembered", "disembowelled", "mutilated"};

static ig_status add_term(ig_blocklist *b, const char *text, size_t len, bool low, ig_err *err) {
    char *w = malloc(len + 1);
    if (!w) return ig__fail(err, IG_ERR_NOMEM, "blocklist: out of memory");
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        const unsigned char ch = (unsigned char)text[i];
        if (isalnum(ch) || ch >= 0x80) {
            if (space && o) w[o++] = ' ';
            space = false;
            w[o++] = (char)tolower(ch);
        } else space = true;
    }
    w[o] = 0;
    if (!o) return free(w), IG_OK;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        term *t = realloc(b->terms, cap * sizeof *t);
        if (!t) return free(w), ig__fail(err, IG_ERR_NOMEM, "blocklist: out of memory");
        b->terms = t, b->cap = cap;
    }
    b->terms[b->n++] = (term){w, low};
    return IG_OK;
}

ig_status ig_blocklist_load(ig_blocklist **out, const char *path, ig_err *err) {
    ig_blocklist *b = calloc(1, sizeof *b);
    FILE *f = NULL;
    char line[1024];
    *out = NULL;
    if (!b) return ig__fail(err, IG_ERR_NOMEM, "blocklist: out of memory");
    for (size_t i = 0; i < sizeof builtin_low / sizeof *builtin_low; i++)
        TRY(add_term(b, builtin_low[i], strlen(builtin_low[i]), true, err));
    for (size_t i = 0; i < sizeof builtin_auto / sizeof *builtin_auto; i++)
        TRY(add_term(b, builtin_auto[i], strlen(builtin_auto[i]), false, err));
    if (path) {
        if (!(f = fopen(path, "r"))) {
            ig__fail(err, IG_ERR_IO, "%s: cannot open the moderation list", path);
            goto fail;
        }
        while (fgets(line, sizeof line, f)) {
            char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            if (*s == '#' || *s == '\n' || !*s) continue;
            bool low = false;
            if (!strncmp(s, "low:", 4)) low = true, s += 4;
            TRY(add_term(b, s, strcspn(s, "\r\n"), low, err));
        }
        fclose(f), f = NULL;
    }
    *out = b;
    return IG_OK;
fail:
    if (f) fclose(f);
    ig_blocklist_free(b);
    return err->status;
}

void ig_blocklist_free(ig_blocklist *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->terms[i].words);
    free(b->terms);
    free(b);
}

/* prompt normalised as the terms are: lower case words separated by one space, with a space before
 * and after, so " term " finds whole words */
static char *normalise(const char *p) {
    const size_t len = strlen(p);
    char *w = malloc(len + 3);
    if (!w) return NULL;
    size_t o = 0;
    w[o++] = ' ';
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        const unsigned char ch = (unsigned char)p[i];
        if (isalnum(ch) || ch >= 0x80) {
            if (space && o > 1) w[o++] = ' ';
            space = false;
            w[o++] = (char)tolower(ch);
        } else space = true;
    }
    w[o++] = ' ';
    w[o] = 0;
    return w;
}

const char *ig_blocklist_match(const ig_blocklist *b, const char *prompt, ig_moderation level) {
    char *w = normalise(prompt);
    const char *hit = NULL;
    if (!w) return "(out of memory)"; /* refuse rather than let an unchecked prompt through */
    for (size_t i = 0; i < b->n && !hit; i++) {
        if (level == IG_MODERATION_LOW && !b->terms[i].low) continue;
        const size_t n = strlen(b->terms[i].words);
        for (const char *s = strstr(w, b->terms[i].words); s; s = strstr(s + 1, b->terms[i].words))
            if (s[-1] == ' ' && s[n] == ' ') {
                hit = b->terms[i].words;
                break;
            }
    }
    free(w);
    return hit;
}

/* ---- plans ----------------------------------------------------------------------------------- */

ig_status ig_plan_make(const ig_model_card *card, const ig_request *req, bool revise_global, uint64_t seed,
                       ig_plan *plan, ig_err *err) {
    memset(plan, 0, sizeof *plan);
    const int tier = req->quality_tier == IG_QUALITY_LOW ? 0 : req->quality_tier == IG_QUALITY_MEDIUM ? 1 : 2;
    const bool revise = revise_global && card->revise;
    const char *style = "", *quality = "";
    float g = card->guidance;
    if (req->style == IG_STYLE_VIVID) style = ", vivid colors, dramatic lighting, high contrast", g *= 1.25f;
    if (req->style == IG_STYLE_NATURAL) style = ", natural colors, soft natural light, realistic", g *= 0.8f;
    if (revise) quality = tier == 2 ? ", highly detailed, sharp focus" : tier == 1 ? ", detailed" : "";
    if (!revise) style = "";
    if (card->guidance <= 1.0f) g = card->guidance; /* guidance off stays off */
    if (req->has_guidance) g = req->guidance_scale;
    plan->transparent = req->background == IG_BACKGROUND_TRANSPARENT;
    const char *bg = plan->transparent ? card->transparent_words : "";
    const size_t len = strlen(req->prompt) + strlen(style) + strlen(quality) + strlen(bg) + 1;
    if (!(plan->prompt = malloc(len))) return ig__fail(err, IG_ERR_NOMEM, "out of memory for the prompt");
    snprintf(plan->prompt, len, "%s%s%s%s", req->prompt, style, quality, bg);
    /* the request's (even ""), else the card's; none at all stays NULL, diffusers' None (SDXL's
     * force_zeros_for_empty_prompt gives zero negative conditioning then, not an encoded "") */
    plan->negative = req->negative_prompt ? req->negative_prompt
                     : card->negative_prompt[0] ? card->negative_prompt
                                                : NULL;
    plan->n_steps = req->steps > 0 ? req->steps : card->steps[tier];
    plan->guidance = g;
    plan->sampler = req->has_sampler ? req->sampler : card->sampler;
    plan->seed = req->has_seed ? req->seed : seed;
    plan->seed_fixed = req->has_seed;
    plan->img2img = req->image != NULL;
    plan->strength = req->strength;
    if (plan->img2img && req->steps <= 0 && req->strength > 0) {
        const int n = (int)ceil(plan->n_steps / (double)req->strength - 1e-6);
        plan->n_steps = n > IG_API_STEPS_MAX ? IG_API_STEPS_MAX : n;
    }
    ig_plan_native_size(card->native, card->multiple, req->width, req->height, &plan->gen_width, &plan->gen_height);
    /* previews spread evenly over the steps, never after the last (that one is the final image) */
    for (int j = 0; req->stream && j < req->partial_images; j++) {
        const int after = (int)(((long)(j + 1) * plan->n_steps) / (req->partial_images + 1));
        if (after < 1 || after >= plan->n_steps) continue;
        if (plan->n_partials && plan->partial_after[plan->n_partials - 1] == after) continue;
        plan->partial_after[plan->n_partials++] = after;
    }
    return IG_OK;
}

void ig_plan_clear(ig_plan *plan) {
    if (!plan) return;
    free(plan->prompt);
    memset(plan, 0, sizeof *plan);
}
