/* fuzz_request.c — libFuzzer harness for api/request.c: POST /v1/images/generations bodies.
 *
 * Each input is a raw request body. It is parsed twice: with the default limits (NULL) and with tight
 * ones (small prompt, n, sides and body, shallow nesting, url unavailable), against a fixed model table
 * like tests/unit/test_api.c's plus an alias that points at no model (a 500). Checked, with abort() so
 * the fuzzer reports a violation as a crash:
 *   success: the ig_request holds only values request.h allows under the limits used (prompt 1..max
 *            code points of valid UTF-8 with no NUL, n 1..max_n, WxH multiples of 8 in [min, max] and
 *            under max_pixels or the model's "auto" size, every enum in range, the family rules);
 *   failure: *out zeroed, http_status one of 400/404/413/500 matching the returned ig_status, and the
 *            error body (also at every shorter buffer size, snprintf's contract) parses back as JSON
 *            with the same message/type/param/code.
 * A body the tight limits accept is accepted by the defaults too, with the same values. Then
 * ig_request_clear, twice. Build and run: make fuzz / make fuzz-run (tests/fuzz/fuzz.mk).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/errors.h"
#include "api/request.h"

static const ig_api_model models_tab[] = {{"sd15", 512, 512}, {"sdxl", 0, 0}, {"turbo", 768, 512}};
static const ig_api_alias aliases_tab[] = {{"gpt-image-1", 1}, {"gpt-image-1-mini", 0}, {"gpt-image-1.5", 1},
                                           {"dall-e-2", 0},     {"dall-e-3", 1},          {"sdxl", 0},
                                           {"broken", 7} /* a misconfigured alias: 500 */};
static const ig_api_models M = {models_tab, 3, aliases_tab, 7, 0};

static const ig_api_limits tight = {
    .max_body_bytes = 2048,
    .max_depth = 3,
    .max_prompt_chars = 40,
    .max_n = 4,
    .min_side = 128,
    .max_side = 1024,
    .max_pixels = 512 * 768,
    .url_unavailable = true,
};

#define REQUIRE(cond)                                                                           \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_request: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* Code points of valid UTF-8 s[0..n), or -1 when it is not valid UTF-8 (RFC 3629). */
static long utf8_chars(const char *s, size_t n) {
    long chars = 0;
    for (size_t i = 0; i < n; chars++) {
        size_t k = ig__api_utf8_char_len((const unsigned char *)s + i, n - i);
        if (!k) return -1;
        i += k;
    }
    return chars;
}

static bool str_or_null_eq(const json_t *v, const char *want) {
    if (!want || !*want) return json_is_null(v);
    return json_is_string(v) && !strcmp(json_string_value(v), want);
}

static void check_error(const ig_api_error *e, ig_status st) {
    static char buf[IG_API_ERROR_JSON_MAX], small[IG_API_ERROR_JSON_MAX];
    REQUIRE(st != IG_OK);
    switch (e->http_status) {
    case 400:
    case 413: REQUIRE(st == IG_ERR_INVALID); break;
    case 404: REQUIRE(st == IG_ERR_NOT_FOUND); break;
    case 500: REQUIRE(st == IG_ERR_BACKEND || st == IG_ERR_NOMEM); break;
    default: REQUIRE(!"http_status is not one request.h documents");
    }
    REQUIRE(e->type && *e->type && e->message[0]);
    REQUIRE(memchr(e->message, 0, sizeof e->message) && memchr(e->param, 0, sizeof e->param) &&
            memchr(e->code, 0, sizeof e->code));
    /* Not required: message and param being valid UTF-8. message may quote jansson's "near '...'" text,
     * which can end inside a UTF-8 character, and param can hold a raw byte that followed a backslash in
     * a key (request.c's scan skips the byte after '\\' unchecked); the body writer below turns such
     * bytes into U+FFFD, which is what reaches a client, and that is checked. */

    size_t n = ig_api_error_body_json(e, buf, sizeof buf);
    REQUIRE(n < sizeof buf && strlen(buf) == n);
    json_error_t je;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) fprintf(stderr, "error body is not JSON (%s): %s\n", je.text, buf);
    REQUIRE(root && json_is_object(root) && json_object_size(root) == 1);
    json_t *o = json_object_get(root, "error");
    REQUIRE(json_is_object(o) && json_object_size(o) == 4);
    REQUIRE(json_is_string(json_object_get(o, "message")));
    if (utf8_chars(e->message, strlen(e->message)) >= 0)
        REQUIRE(!strcmp(json_string_value(json_object_get(o, "message")), e->message));
    REQUIRE(str_or_null_eq(json_object_get(o, "type"), e->type));
    if (utf8_chars(e->param, strlen(e->param)) >= 0) REQUIRE(str_or_null_eq(json_object_get(o, "param"), e->param));
    else REQUIRE(json_is_string(json_object_get(o, "param")));
    REQUIRE(str_or_null_eq(json_object_get(o, "code"), e->code));
    json_decref(root);

    /* snprintf's contract at a few shorter sizes: same length returned, a NUL-terminated prefix. */
    size_t caps[] = {0, 1, 2, n / 3, n / 2, n - 1, n};
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        size_t cap = caps[i];
        memset(small, 'Z', sizeof small);
        REQUIRE(ig_api_error_body_json(e, cap ? small : NULL, cap) == n);
        if (cap) REQUIRE(strlen(small) < cap && !memcmp(small, buf, strlen(small)));
        if (cap < sizeof small) REQUIRE(small[cap] == 'Z'); /* nothing written past cap */
    }
    n = ig_api_error_object_json(e, buf, sizeof buf);
    REQUIRE(n < sizeof buf && strlen(buf) == n);
    root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    REQUIRE(root && json_is_object(root) && json_object_size(root) == 4);
    json_decref(root);
}

static void check_success(const ig_request *r, const ig_api_limits *lim) {
    int max_prompt = lim ? lim->max_prompt_chars : 32000, max_n = lim ? lim->max_n : 10;
    int min_side = lim ? lim->min_side : 64, max_side = lim ? lim->max_side : 2048;
    int64_t max_pixels = lim ? lim->max_pixels : (int64_t)max_side * max_side;
    bool url_unavailable = lim && lim->url_unavailable;

    REQUIRE(r->prompt && strlen(r->prompt) == r->prompt_bytes);
    REQUIRE(r->prompt_chars >= 1 && r->prompt_chars <= max_prompt);
    REQUIRE(utf8_chars(r->prompt, r->prompt_bytes) == r->prompt_chars);

    REQUIRE(r->model < M.n_models && r->model_id == M.models[r->model].id);
    REQUIRE(memchr(r->model_name, 0, sizeof r->model_name) && r->model_name[0]);
    REQUIRE(r->family == ig_api_model_family(r->model_name));

    REQUIRE(r->n >= 1 && r->n <= max_n);
    if (r->size_auto) {
        const ig_api_model *m = &M.models[r->model];
        bool has = m->default_width > 0 && m->default_height > 0;
        REQUIRE(r->width == (has ? m->default_width : 1024) && r->height == (has ? m->default_height : 1024));
    } else {
        REQUIRE(r->width % 8 == 0 && r->height % 8 == 0);
        REQUIRE(r->width >= min_side && r->width <= max_side && r->height >= min_side && r->height <= max_side);
        REQUIRE((int64_t)r->width * r->height <= max_pixels);
    }
    REQUIRE(r->width > 0 && r->height > 0 && r->width % 8 == 0 && r->height % 8 == 0);

    REQUIRE(ig_api_quality_name(r->quality) && ig_api_style_name(r->style) &&
            ig_api_background_name(r->background) && ig_api_output_format_name(r->output_format) &&
            ig_api_output_format_mime(r->output_format) && ig_api_response_format_name(r->response_format) &&
            ig_api_moderation_name(r->moderation));
    REQUIRE(r->quality_tier == IG_QUALITY_LOW || r->quality_tier == IG_QUALITY_MEDIUM ||
            r->quality_tier == IG_QUALITY_HIGH);
    REQUIRE(r->quality_tier == ig_api_quality_tier(r->quality, r->family));
    REQUIRE(r->output_compression >= 0 && r->output_compression <= 100);
    REQUIRE(r->partial_images >= 0 && r->partial_images <= 3);
    REQUIRE(!(r->background == IG_BACKGROUND_TRANSPARENT && r->output_format == IG_OUTPUT_FORMAT_JPEG));
    REQUIRE(!(r->stream && r->response_format == IG_RESPONSE_FORMAT_URL));
    if (url_unavailable) REQUIRE(r->response_format != IG_RESPONSE_FORMAT_URL);

    REQUIRE(memchr(r->user, 0, sizeof r->user));
    long uc = utf8_chars(r->user, strlen(r->user));
    REQUIRE(uc >= 0 && uc <= IG_API_USER_MAX_CHARS);
}

/* Parses body under lim and checks the result; keeps the request in *keep when keep is given. */
static ig_status run(const char *body, size_t len, const ig_api_limits *lim, ig_request *keep) {
    ig_request r;
    ig_api_error e = {0};
    memset(&r, 0xa5, sizeof r); /* a parse must not depend on what *out held */
    ig_status st = ig_api_parse_request(body, len, lim, &M, &r, &e);
    if (st == IG_OK) {
        REQUIRE(e.http_status == 0);
        check_success(&r, lim);
    } else {
        REQUIRE(r.prompt == NULL && r.n == 0 && r.model_id == NULL && r.width == 0); /* zeroed */
        check_error(&e, st);
    }
    if (keep) {
        *keep = r;
        return st;
    }
    ig_request_clear(&r);
    REQUIRE(r.prompt == NULL);
    ig_request_clear(&r);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy: the body need not be NUL-terminated, so ASan sees any read past len. */
    char *body = malloc(size ? size : 1);
    if (!body) return 0;
    if (size) memcpy(body, data, size);
    ig_request loose;
    ig_status st = run(body, size, NULL, &loose);
    if (run(body, size, &tight, NULL) == IG_OK) {
        /* tight is stricter in every limit, so the defaults accept the body too, with the same values
         * (response_format aside: url_unavailable changes the dall-e default) */
        REQUIRE(st == IG_OK);
        ig_request t;
        REQUIRE(ig_api_parse_request(body, size, &tight, &M, &t, &(ig_api_error){0}) == IG_OK);
        REQUIRE(!strcmp(t.prompt, loose.prompt) && t.prompt_chars == loose.prompt_chars && t.model == loose.model);
        REQUIRE(t.n == loose.n && t.width == loose.width && t.height == loose.height && t.quality == loose.quality);
        REQUIRE(t.style == loose.style && t.background == loose.background && t.stream == loose.stream);
        REQUIRE(t.output_format == loose.output_format && t.output_compression == loose.output_compression);
        REQUIRE(t.partial_images == loose.partial_images && !strcmp(t.user, loose.user));
        ig_request_clear(&t);
    }
    ig_request_clear(&loose);
    REQUIRE(loose.prompt == NULL);
    ig_request_clear(&loose);
    free(body);
    return 0;
}
