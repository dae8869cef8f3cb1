/* card.c — see card.h. */
#include "card.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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

static ig_status read_card_file(ig_model_card *card, const char *path, const char *dir, ig_err *err) {
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
    if (ig_config_has(c, "fast_decoder")) {
        TRY(ig_config_string(c, "fast_decoder", "", &s, err));
        if (s[0] == '/') snprintf(card->fast_decoder, sizeof card->fast_decoder, "%s", s);
        else snprintf(card->fast_decoder, sizeof card->fast_decoder, "%s/%s", dir, s);
    }
    if (ig_config_has(c, "decoder")) {
        TRY(ig_config_string(c, "decoder", "full", &s, err));
        if (!strcmp(s, "fast")) card->decoder = IG_DECODER_FAST;
        else if (!strcmp(s, "full")) card->decoder = IG_DECODER_FULL;
        else {
            ig__fail(err, IG_ERR_INVALID, "%s: \"decoder\" is \"%s\": fast or full", path, s);
            goto fail;
        }
    }
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_model_card_load(ig_model_card *card, const char *path, const char *id, const ig_sd_model *m,
                             ig_err *err) {
    memset(card, 0, sizeof *card);
    card->factor = ig_sd_latent_factor(m);
    card->multiple = m->size_multiple;
    set_preset(card, contains_ci(id, "turbo") || contains_ci(path, "turbo") ? IG_PRESET_TURBO
                     : contains_ci(id, "lcm") || contains_ci(path, "lcm")   ? IG_PRESET_LCM
                                                                            : IG_PRESET_STANDARD);
    card->revise = true;
    card->decoder = IG_DECODER_DEFAULT; /* not said: the caller's default (the VAE, or the server's rule) */
    snprintf(card->transparent_words, sizeof card->transparent_words, ", centered on a plain white background");
    if (card->preset == IG_PRESET_STANDARD)
        snprintf(card->negative_prompt, sizeof card->negative_prompt, "blurry, low quality, watermark, text");
    struct stat st;
    const bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    card->native = m->native_width; /* the loader's: unet sample_size x factor, a multiple of size_multiple */
    if (dir) {
        char cp[1200];
        snprintf(cp, sizeof cp, "%s/imagine.json", path);
        if (stat(cp, &st) == 0) return read_card_file(card, cp, path, err);
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

