/* plan.c — see plan.h for the tables this file implements. */
#include "plan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/config.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

static bool contains_ci(const char *hay, const char *needle) {
    const size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return false;
}

static void set_preset(ig_model_card *c, ig_preset p) {
    static const struct { ig_sampler s; int steps[3]; float g; } t[] = {
        [IG_PRESET_STANDARD] = {IG_SAMPLER_DPMPP_2M_KARRAS, {12, 20, 30}, 7.5f},
        [IG_PRESET_TURBO] = {IG_SAMPLER_TURBO, {1, 2, 4}, 0.0f},
        [IG_PRESET_LCM] = {IG_SAMPLER_LCM, {2, 4, 8}, 0.0f},
    };
    c->preset = p;
    c->sampler = t[p].s;
    memcpy(c->steps, t[p].steps, sizeof c->steps);
    c->guidance = t[p].g;
}

/* unet/config.json's sample_size, or 0 */
static int unet_sample_size(const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    ig_config *c = NULL;
    ig_err e = {0};
    int v = 0;
    if (ig_config_load(&c, path, &e) == IG_OK) ig_config_int(c, "sample_size", 0, &v, &e);
    ig_config_free(c);
    return v > 0 ? v : 0;
}

static ig_status read_card_file(ig_model_card *card, const char *path, ig_err *err) {
    ig_config *c = NULL;
    const char *s = NULL;
    double g = 0;
    bool b = false;
    TRY(ig_config_load(&c, path, err));
    if (ig_config_has(c, "preset")) {
        TRY(ig_config_string(c, "preset", "standard", &s, err));
        if (!strcmp(s, "standard")) set_preset(card, IG_PRESET_STANDARD);
        else if (!strcmp(s, "turbo")) set_preset(card, IG_PRESET_TURBO);
        else if (!strcmp(s, "lcm")) set_preset(card, IG_PRESET_LCM);
        else {
            ig__fail(err, IG_ERR_INVALID, "%s: \"preset\" is \"%s\": standard, turbo or lcm", path, s);
            goto fail;
        }
    }
    if (ig_config_has(c, "sampler")) {
        TRY(ig_config_string(c, "sampler", "", &s, err));
        if (ig_sampler_parse(s, &card->sampler)) {
            ig__fail(err, IG_ERR_INVALID, "%s: \"sampler\" \"%s\" is not euler, euler_a, dpmpp_2m_karras, lcm or turbo",
                     path, s);
            goto fail;
        }
    }
    static const char *const tiers[3] = {"steps_low", "steps_medium", "steps_high"};
    for (int i = 0; i < 3; i++)
        if (ig_config_has(c, tiers[i])) {
            TRY(ig_config_int(c, tiers[i], card->steps[i], &card->steps[i], err));
            if (card->steps[i] < 1 || card->steps[i] > 200) {
                ig__fail(err, IG_ERR_INVALID, "%s: \"%s\" must be 1..200", path, tiers[i]);
                goto fail;
            }
        }
    TRY(ig_config_float(c, "guidance", card->guidance, &g, err));
    card->guidance = (float)g;
    if (ig_config_has(c, "native")) {
        TRY(ig_config_int(c, "native", card->native, &card->native, err));
        if (card->native < 8 || card->native > 2048 || card->native % card->multiple) {
            ig__fail(err, IG_ERR_INVALID, "%s: \"native\" must be 8..2048 and a multiple of %d", path, card->multiple);
            goto fail;
        }
    }
    TRY(ig_config_bool(c, "revise_prompt", card->revise, &b, err));
    card->revise = b;
    if (ig_config_has(c, "negative_prompt")) {
        TRY(ig_config_string(c, "negative_prompt", "", &s, err));
        snprintf(card->negative_prompt, sizeof card->negative_prompt, "%s", s);
    }
    if (ig_config_has(c, "transparent_prompt")) {
        TRY(ig_config_string(c, "transparent_prompt", "", &s, err));
        snprintf(card->transparent_words, sizeof card->transparent_words, "%s", s);
    }
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_model_card_load(ig_model_card *card, const char *path, const char *id, const ig_sd_model *m,
                             ig_err *err) {
    memset(card, 0, sizeof *card);
    card->factor = ig_sd_latent_factor(m);
    card->multiple = card->factor << (m->unet.cfg.n_blocks - 1);
    set_preset(card, contains_ci(id, "turbo") || contains_ci(path, "turbo") ? IG_PRESET_TURBO
                     : contains_ci(id, "lcm") || contains_ci(path, "lcm")   ? IG_PRESET_LCM
                                                                            : IG_PRESET_STANDARD);
    card->revise = true;
    snprintf(card->transparent_words, sizeof card->transparent_words, ", centered on a plain white background");
    if (card->preset == IG_PRESET_STANDARD)
        snprintf(card->negative_prompt, sizeof card->negative_prompt, "blurry, low quality, watermark, text");
    struct stat st;
    const bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    const int ss = dir ? unet_sample_size(path) : 0;
    card->native = ss > 0 ? ss * card->factor : 512;
    if (card->native % card->multiple) card->native += card->multiple - card->native % card->multiple;
    if (dir) {
        char cp[1200];
        snprintf(cp, sizeof cp, "%s/imagine.json", path);
        if (stat(cp, &st) == 0) return read_card_file(card, cp, err);
    }
    return IG_OK;
}

void ig_plan_native_size(int native, int multiple, int width, int height, int *gen_w, int *gen_h) {
    /* keep the area native², the aspect width:height, sides multiples of `multiple` */
    const int q = multiple > 1 ? multiple : 1;
    const double aspect = (double)width / height, area = (double)native * native;
    double w = sqrt(area * aspect), h = sqrt(area / aspect);
    int gw = (int)(w / q + 0.5) * q, gh = (int)(h / q + 0.5) * q;
    *gen_w = gw < q ? q : gw;
    *gen_h = gh < q ? q : gh;
}

void ig_plan_crop(int gw, int gh, int width, int height, int *x, int *y, int *w, int *h) {
    *x = 0, *y = 0, *w = gw, *h = gh;
    if ((long)gw * height > (long)gh * width) { /* drawn wider than asked: trim the sides */
        *w = (int)(((long)gh * width + height / 2) / height);
        if (*w < 1) *w = 1;
        *x = (gw - *w) / 2;
    } else if ((long)gw * height < (long)gh * width) { /* taller: trim top and bottom */
        *h = (int)(((long)gw * height + width / 2) / width);
        if (*h < 1) *h = 1;
        *y = (gh - *h) / 2;
    }
}

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
    plan->transparent = req->background == IG_BACKGROUND_TRANSPARENT;
    const char *bg = plan->transparent ? card->transparent_words : "";
    const size_t len = strlen(req->prompt) + strlen(style) + strlen(quality) + strlen(bg) + 1;
    if (!(plan->prompt = malloc(len))) return ig__fail(err, IG_ERR_NOMEM, "out of memory for the prompt");
    snprintf(plan->prompt, len, "%s%s%s%s", req->prompt, style, quality, bg);
    plan->negative = card->negative_prompt;
    plan->n_steps = card->steps[tier];
    plan->guidance = g;
    plan->sampler = card->sampler;
    plan->seed = seed;
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
