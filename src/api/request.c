/* request.c — the generations body → ig_request (rules and defaults: request.h's top comment).
 *
 * Owns: a byte scan before jansson (nesting depth, strict UTF-8, \u0000 and lone surrogate escapes,
 * and which top-level member a byte offset falls in, so even a parse error can name its param), the
 * jansson parse (JSON_REJECT_DUPLICATES), one validator per field, model resolution and the family
 * defaults. Leaves to others: HTTP, Content-Length checks before reading (server/), what the values do.
 *
 * Messages and codes copy OpenAI's wording ("Unknown parameter: 'x'.", "Invalid type for 'n': expected
 * an integer, but got a string instead.", integer_above_max_value, ...), so clients that match on
 * them behave as they do against OpenAI.
 */
#include "api/request.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- names ---------------------------------------------------------------------------------- */

typedef struct choice {
    const char *name;
    int value;
} choice;

static const choice quality_choices[] = {{"auto", IG_QUALITY_AUTO},     {"low", IG_QUALITY_LOW},
                                         {"medium", IG_QUALITY_MEDIUM}, {"high", IG_QUALITY_HIGH},
                                         {"standard", IG_QUALITY_STANDARD}, {"hd", IG_QUALITY_HD},
                                         {NULL, 0}};
static const choice style_choices[] = {{"vivid", IG_STYLE_VIVID}, {"natural", IG_STYLE_NATURAL}, {NULL, 0}};
static const choice background_choices[] = {{"transparent", IG_BACKGROUND_TRANSPARENT},
                                            {"opaque", IG_BACKGROUND_OPAQUE},
                                            {"auto", IG_BACKGROUND_AUTO},
                                            {NULL, 0}};
static const choice output_format_choices[] = {
    {"png", IG_OUTPUT_FORMAT_PNG}, {"jpeg", IG_OUTPUT_FORMAT_JPEG}, {"webp", IG_OUTPUT_FORMAT_WEBP}, {NULL, 0}};
static const choice response_format_choices[] = {
    {"b64_json", IG_RESPONSE_FORMAT_B64_JSON}, {"url", IG_RESPONSE_FORMAT_URL}, {NULL, 0}};
static const choice moderation_choices[] = {{"low", IG_MODERATION_LOW}, {"auto", IG_MODERATION_AUTO}, {NULL, 0}};

static const char *choice_name(const choice *c, int value) {
    for (; c->name; c++)
        if (c->value == value) return c->name;
    return NULL;
}

const char *ig_api_quality_name(ig_quality q) { return choice_name(quality_choices, (int)q); }
const char *ig_api_style_name(ig_style s) { return s == IG_STYLE_NONE ? "none" : choice_name(style_choices, (int)s); }
const char *ig_api_background_name(ig_background b) { return choice_name(background_choices, (int)b); }
const char *ig_api_output_format_name(ig_output_format f) { return choice_name(output_format_choices, (int)f); }
const char *ig_api_response_format_name(ig_response_format f) { return choice_name(response_format_choices, (int)f); }
const char *ig_api_moderation_name(ig_moderation m) { return choice_name(moderation_choices, (int)m); }

const char *ig_api_output_format_mime(ig_output_format f) {
    switch (f) {
    case IG_OUTPUT_FORMAT_PNG: return "image/png";
    case IG_OUTPUT_FORMAT_JPEG: return "image/jpeg";
    case IG_OUTPUT_FORMAT_WEBP: return "image/webp";
    }
    return NULL;
}

ig_api_family ig_api_model_family(const char *name) {
    if (!name) return IG_API_FAMILY_NATIVE;
    if (!strcmp(name, "dall-e-2")) return IG_API_FAMILY_DALLE2;
    if (!strcmp(name, "dall-e-3")) return IG_API_FAMILY_DALLE3;
    if (!strncmp(name, "gpt-image", 9)) return IG_API_FAMILY_GPT_IMAGE;
    return IG_API_FAMILY_NATIVE;
}

ig_quality ig_api_quality_tier(ig_quality q, ig_api_family family) {
    switch (q) {
    case IG_QUALITY_LOW: return IG_QUALITY_LOW;
    case IG_QUALITY_MEDIUM:
    case IG_QUALITY_STANDARD: return IG_QUALITY_MEDIUM;
    case IG_QUALITY_HIGH:
    case IG_QUALITY_HD: return IG_QUALITY_HIGH;
    case IG_QUALITY_AUTO: break;
    }
    /* dall-e-2/3's auto is "standard" (spec: "standard is the only option for dall-e-2"); the GPT
     * models' auto is reported as high by Gradient's example answer. */
    return family == IG_API_FAMILY_DALLE2 || family == IG_API_FAMILY_DALLE3 ? IG_QUALITY_MEDIUM : IG_QUALITY_HIGH;
}

/* ---- the byte scan -------------------------------------------------------------------------- */

typedef enum scan_problem { SCAN_OK, SCAN_DEPTH, SCAN_UTF8, SCAN_NUL, SCAN_SURROGATE } scan_problem;

/* Where the scan stands relative to the top-level object's members. */
typedef enum member_state { AT_OUTSIDE, AT_KEY_EXPECTED, AT_KEY, AT_COLON, AT_VALUE } member_state;

typedef struct scan {
    scan_problem problem;
    size_t problem_at; /* byte offset of the problem */
    int depth;         /* nesting at the stop: 1 inside the top-level object */
    member_state state;
    size_t key_at, key_len; /* raw bytes of the current top-level key, between its quotes */
    size_t value_at;        /* first byte after the current member's colon */
} scan;

static long hex4(const char *s, size_t at, size_t end) {
    long v = 0;
    if (end < at || end - at < 4) return -1;
    for (size_t i = at; i < at + 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Scans s[0..min(stop,len)) as far as JSON's lexical structure goes, without checking its grammar
 * (jansson does that next): it tracks the top-level member, and, scanning the whole body, stops at the
 * first problem jansson would report with a less useful message or not at all (depth). */
static void scan_body(const char *s, size_t len, size_t stop, int max_depth, scan *sc) {
    size_t end = IG_MIN(stop, len);
    bool in_str = false, str_is_key = false;
    memset(sc, 0, sizeof *sc);
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        scan_problem problem = SCAN_OK;
        if (in_str) {
            if (c == '"') {
                in_str = false;
                if (str_is_key) sc->key_len = i - sc->key_at, sc->state = AT_COLON;
            } else if (c == '\\') {
                long u = i + 1 < end && s[i + 1] == 'u' ? hex4(s, i + 2, end) : -1;
                if (u < 0) { /* a one-letter escape, or a malformed one that jansson will name; a
                              * non-ASCII byte after the backslash is left to be scanned as UTF-8 */
                    if (i + 1 < end && (unsigned char)s[i + 1] < 0x80) i++;
                    continue;
                }
                if (u == 0) problem = SCAN_NUL;
                else if (u >= 0xDC00 && u <= 0xDFFF) problem = SCAN_SURROGATE;
                else if (u >= 0xD800 && u <= 0xDBFF) {
                    long lo = i + 7 < end && s[i + 6] == '\\' && s[i + 7] == 'u' ? hex4(s, i + 8, end) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) problem = SCAN_SURROGATE;
                    else i += 6; /* the pair's low half */
                }
                if (!problem) i += 5;
            } else if (c >= 0x80) {
                size_t n = ig__api_utf8_char_len((const unsigned char *)s + i, end - i);
                if (!n) problem = SCAN_UTF8;
                else i += n - 1;
            }
        } else {
            switch (c) {
            case '"':
                in_str = true;
                str_is_key = sc->depth == 1 && sc->state == AT_KEY_EXPECTED;
                if (str_is_key) sc->state = AT_KEY, sc->key_at = i + 1, sc->key_len = 0;
                break;
            case '{':
            case '[':
                if (++sc->depth > max_depth) problem = SCAN_DEPTH;
                else if (sc->depth == 1) sc->state = c == '{' ? AT_KEY_EXPECTED : AT_OUTSIDE;
                break;
            case '}':
            case ']':
                if (sc->depth > 0 && --sc->depth == 0) sc->state = AT_OUTSIDE;
                break;
            case ',':
                if (sc->depth == 1 && sc->state == AT_VALUE) sc->state = AT_KEY_EXPECTED;
                break;
            case ':':
                if (sc->depth == 1 && sc->state == AT_COLON) {
                    sc->state = AT_VALUE;
                    sc->value_at = i + 1;
                    while (sc->value_at < len && strchr(" \t\r\n", s[sc->value_at]) && s[sc->value_at]) sc->value_at++;
                }
                break;
            default: break;
            }
        }
        if (problem) {
            sc->problem = problem;
            sc->problem_at = i;
            return;
        }
    }
}

static void put_utf8(char *dst, size_t *o, long u) {
    if (u < 0x80) dst[(*o)++] = (char)u;
    else if (u < 0x800) dst[(*o)++] = (char)(0xC0 | (u >> 6)), dst[(*o)++] = (char)(0x80 | (u & 0x3F));
    else if (u < 0x10000)
        dst[(*o)++] = (char)(0xE0 | (u >> 12)), dst[(*o)++] = (char)(0x80 | ((u >> 6) & 0x3F)),
        dst[(*o)++] = (char)(0x80 | (u & 0x3F));
    else
        dst[(*o)++] = (char)(0xF0 | (u >> 18)), dst[(*o)++] = (char)(0x80 | ((u >> 12) & 0x3F)),
        dst[(*o)++] = (char)(0x80 | ((u >> 6) & 0x3F)), dst[(*o)++] = (char)(0x80 | (u & 0x3F));
}

/* The current top-level key with its escapes decoded, so {"\u006e": ...} is named 'n' like jansson
 * would name it. False when the scan did not stop inside a member. */
static bool scan_key(const char *s, const scan *sc, char *dst, size_t cap) {
    char tmp[4 * IG_API_PARAM_MAX];
    size_t o = 0;
    if (sc->state != AT_KEY && sc->state != AT_COLON && sc->state != AT_VALUE) return false;
    size_t n = sc->state == AT_KEY ? 0 : sc->key_len; /* a key still being read has no end yet */
    for (size_t i = 0; i < n && o + 4 < sizeof tmp;) {
        const char *r = s + sc->key_at;
        if (r[i] != '\\' || i + 1 >= n) {
            tmp[o++] = r[i++];
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = strchr(from, r[i + 1]);
        long u = r[i + 1] == 'u' ? hex4(r, i + 2, n) : -1;
        if (e && *e) {
            tmp[o++] = to[e - from];
            i += 2;
        } else if (u >= 0xD800 && u <= 0xDBFF && i + 12 <= n && r[i + 6] == '\\' && hex4(r, i + 8, n) >= 0xDC00) {
            put_utf8(tmp, &o, 0x10000 + ((u - 0xD800) << 10) + (hex4(r, i + 8, n) - 0xDC00));
            i += 12;
        } else if (u > 0) {
            put_utf8(tmp, &o, u);
            i += 6;
        } else {
            tmp[o++] = r[i++];
        }
    }
    tmp[o] = 0;
    ig__api_clip(dst, cap, tmp);
    return true;
}

/* ---- fields --------------------------------------------------------------------------------- */

enum {
    F_PROMPT,
    F_MODEL,
    F_N,
    F_SIZE,
    F_QUALITY,
    F_STYLE,
    F_BACKGROUND,
    F_OUTPUT_FORMAT,
    F_OUTPUT_COMPRESSION,
    F_RESPONSE_FORMAT,
    F_MODERATION,
    F_STREAM,
    F_PARTIAL_IMAGES,
    F_USER,
    F_SEED,
    F_NEGATIVE_PROMPT,
    F_STEPS,
    F_GUIDANCE_SCALE,
    F_SAMPLER,
    F_STRENGTH,
    F_INPUT_FIDELITY,
    N_FIELDS
};

/* Which routes take a field (request.h: "Routes"). */
enum { G = 1 << IG_API_ROUTE_GENERATIONS, E = 1 << IG_API_ROUTE_EDITS, V = 1 << IG_API_ROUTE_VARIATIONS };

/* kind: 's' string, 'i' integer, 'n' number, 'b' boolean: what the spec declares, used for type
 * messages (and by edits.c to type multipart text). */
static const struct {
    const char *name;
    char kind;
    int routes;
} fields[N_FIELDS] = {
    [F_PROMPT] = {"prompt", 's', G | E},         [F_MODEL] = {"model", 's', G | E | V},
    [F_N] = {"n", 'i', G | E | V},               [F_SIZE] = {"size", 's', G | E | V},
    [F_QUALITY] = {"quality", 's', G | E},       [F_STYLE] = {"style", 's', G},
    [F_BACKGROUND] = {"background", 's', G | E}, [F_OUTPUT_FORMAT] = {"output_format", 's', G | E},
    [F_OUTPUT_COMPRESSION] = {"output_compression", 'i', G | E},
    [F_RESPONSE_FORMAT] = {"response_format", 's', G | E | V},
    [F_MODERATION] = {"moderation", 's', G},     [F_STREAM] = {"stream", 'b', G | E},
    [F_PARTIAL_IMAGES] = {"partial_images", 'i', G | E},
    [F_USER] = {"user", 's', G | E | V},
    [F_SEED] = {"seed", 'i', G | E | V},         [F_NEGATIVE_PROMPT] = {"negative_prompt", 's', G | E | V},
    [F_STEPS] = {"steps", 'i', G | E | V},       [F_GUIDANCE_SCALE] = {"guidance_scale", 'n', G | E | V},
    [F_SAMPLER] = {"sampler", 's', G | E | V},   [F_STRENGTH] = {"strength", 'n', E | V},
    [F_INPUT_FIDELITY] = {"input_fidelity", 's', E},
};

static const char *const route_paths[] = {"/v1/images/generations", "/v1/images/edits", "/v1/images/variations"};
static const choice input_fidelity_choices[] = {{"low", IG_INPUT_FIDELITY_LOW}, {"high", IG_INPUT_FIDELITY_HIGH}, {NULL, 0}};

/* Fields of OpenAI's other image endpoints that clients send here by mistake. */
static const char *const edit_fields[] = {"image", "mask", "input_fidelity", NULL};

static int field_index(const char *key) {
    for (int f = 0; f < N_FIELDS; f++)
        if (!strcmp(key, fields[f].name)) return f;
    return -1;
}

/* The field's index when the route takes it, else -1. */
static int route_field(const char *key, ig_api_route route) {
    int f = field_index(key);
    return f >= 0 && (fields[f].routes & (1 << route)) ? f : -1;
}

char ig__api_field_kind(const char *name, ig_api_route route) {
    int f = route_field(name, route);
    return f < 0 ? 0 : fields[f].kind;
}

static const char *expected_type(int f) {
    return fields[f].kind == 'i' ? "an integer" : fields[f].kind == 'b' ? "a boolean" : fields[f].kind == 'n' ? "a number" : "a string";
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a decimal number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown type";
}

typedef struct parser {
    ig_api_route route;
    ig_api_limits lim; /* with the defaults filled in */
    const ig_api_models *models;
    ig_request *out;
    ig_api_error *err;
    ig_status st; /* the first failure */
    bool set[N_FIELDS]; /* present and not null */
} parser;

static bool fail(parser *p, ig_api_error_kind kind, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool fail(parser *p, ig_api_error_kind kind, const char *param, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ig_status st = ig_api_error_setv(p->err, kind, param, code, fmt, ap);
    va_end(ap);
    if (p->st == IG_OK) p->st = st;
    return false;
}

static bool fail_type(parser *p, int f, const char *got) {
    return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, "invalid_type",
                "Invalid type for '%s': expected %s, but got %s instead.", fields[f].name, expected_type(f), got);
}

static bool fail_unknown(parser *p, const char *key) {
    char shown[72];
    ig__api_clip(shown, sizeof shown, key);
    for (const char *const *e = edit_fields; *e && p->route == IG_API_ROUTE_GENERATIONS; e++)
        if (!strcmp(key, *e))
            return fail(p, IG_API_ERR_INVALID_REQUEST, key, "unknown_parameter",
                        "Unknown parameter: '%s'. It belongs to /v1/images/edits (a multipart/form-data request); "
                        "/v1/images/generations makes images from a prompt alone.",
                        shown);
    if (field_index(key) >= 0)
        return fail(p, IG_API_ERR_INVALID_REQUEST, key, "unknown_parameter", "Unknown parameter: '%s' (%s does not take it).",
                    shown, route_paths[p->route]);
    return fail(p, IG_API_ERR_INVALID_REQUEST, key, "unknown_parameter", "Unknown parameter: '%s'.", shown);
}

static bool fail_range(parser *p, int f, bool below, long long lo, long long hi, const char *got) {
    return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, below ? "integer_below_min_value" : "integer_above_max_value",
                "Invalid '%s': integer %s value. Expected a value %s %lld, but got %s instead.", fields[f].name,
                below ? "below minimum" : "above maximum", below ? ">=" : "<=", below ? lo : hi, got);
}

static bool get_string(parser *p, int f, const json_t *v, const char **s) {
    if (!json_is_string(v)) return fail_type(p, f, type_name(v));
    *s = json_string_value(v);
    return true;
}

/* Integers, and floats with no fraction (2.0, 1e1): Python's json writes floats that way, and no
 * client means anything else by them. */
static bool get_int64(parser *p, int f, const json_t *v, long long lo, long long hi, long long *out) {
    char got[40];
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        snprintf(got, sizeof got, "%" JSON_INTEGER_FORMAT, x);
        if (x < lo || x > hi) return fail_range(p, f, x < lo, lo, hi, got);
        *out = x;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d)) return fail_type(p, f, "a decimal number");
        snprintf(got, sizeof got, "%.15g", d); /* 1e+300, not 1.0000000000000001e+300 */
        if (d < (double)lo || d > (double)hi) return fail_range(p, f, d < (double)lo, lo, hi, got);
        *out = (long long)d;
        return true;
    }
    return fail_type(p, f, type_name(v));
}

static bool get_int(parser *p, int f, const json_t *v, long lo, long hi, int *out) {
    long long x = 0;
    if (!get_int64(p, f, v, lo, hi, &x)) return false;
    *out = (int)x;
    return true;
}

/* Any JSON number in [lo, hi] (OpenAI's decimal_* codes for the range). */
static bool get_number(parser *p, int f, const json_t *v, double lo, double hi, float *out) {
    if (!json_is_number(v)) return fail_type(p, f, type_name(v));
    const double d = json_number_value(v);
    if (d < lo || d > hi)
        return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, d < lo ? "decimal_below_min_value" : "decimal_above_max_value",
                    "Invalid '%s': number %s value. Expected a value %s %g, but got %.15g instead.", fields[f].name,
                    d < lo ? "below minimum" : "above maximum", d < lo ? ">=" : "<=", d < lo ? lo : hi, d);
    *out = (float)d;
    return true;
}

static bool get_choice(parser *p, int f, const json_t *v, const choice *choices, int *out) {
    const char *s = NULL;
    char list[256] = "", shown[72];
    size_t n = 0, k = 0;
    if (!get_string(p, f, v, &s)) return false;
    for (const choice *c = choices; c->name; c++, n++)
        if (!strcmp(s, c->name)) {
            *out = c->value;
            return true;
        }
    for (const choice *c = choices; c->name; c++, k++) /* 'a', 'b', and 'c' as OpenAI lists them */
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", k == 0 ? "" : k + 1 == n ? (n > 2 ? ", and " : " and ") : ", ", c->name);
    ig__api_clip(shown, sizeof shown, s);
    return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, "invalid_value",
                "Invalid value for '%s': '%s'. Supported values are: %s.", fields[f].name, shown, list);
}

static int count_chars(const char *s, size_t bytes) {
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* A string of lo..hi characters; *chars gets the count. */
static bool get_text(parser *p, int f, const json_t *v, int lo, int hi, const char **s, int *chars) {
    if (!get_string(p, f, v, s)) return false;
    *chars = count_chars(*s, json_string_length(v));
    if (*chars < lo)
        return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, "empty_string",
                    "Invalid '%s': empty string. Expected a string with minimum length %d, but got an empty string instead.",
                    fields[f].name, lo);
    if (*chars > hi)
        return fail(p, IG_API_ERR_INVALID_REQUEST, fields[f].name, "string_above_max_length",
                    "Invalid '%s': string too long. Expected a string with maximum length %d, but got a string with "
                    "length %d instead.",
                    fields[f].name, hi, *chars);
    return true;
}

/* "WxH": decimal sides without sign or leading zero, lowercase x, as every listed size is written. */
static bool parse_size(parser *p, const char *s) {
    long side[2] = {0, 0};
    const char *c = s;
    char shown[72];
    bool ok = true;
    ig__api_clip(shown, sizeof shown, s);
    for (int k = 0; k < 2 && ok; k++) {
        int digits = 0;
        if (*c == '0') ok = false;
        for (; ok && *c >= '0' && *c <= '9' && digits < 6; c++, digits++) side[k] = side[k] * 10 + (*c - '0');
        if (!digits || (k == 0 ? *c++ != 'x' : *c != 0)) ok = false;
    }
    if (!ok)
        return fail(p, IG_API_ERR_INVALID_REQUEST, "size", "invalid_value",
                    "Invalid value for 'size': '%s'. Supported values are: 'auto', '1024x1024', '1536x1024', '1024x1536', "
                    "'256x256', '512x512', '1792x1024', '1024x1792', or any WIDTHxHEIGHT with both sides multiples of 8 "
                    "between %d and %d.",
                    shown, p->lim.min_side, p->lim.max_side);
    if (side[0] % 8 || side[1] % 8)
        return fail(p, IG_API_ERR_INVALID_REQUEST, "size", "invalid_value",
                    "Invalid value for 'size': '%s'. Width and height must be multiples of 8.", shown);
    if (side[0] < p->lim.min_side || side[1] < p->lim.min_side || side[0] > p->lim.max_side || side[1] > p->lim.max_side)
        return fail(p, IG_API_ERR_INVALID_REQUEST, "size", "invalid_value",
                    "Invalid value for 'size': '%s'. Width and height must be between %d and %d pixels.", shown,
                    p->lim.min_side, p->lim.max_side);
    if ((int64_t)side[0] * side[1] > p->lim.max_pixels)
        return fail(p, IG_API_ERR_INVALID_REQUEST, "size", "invalid_value",
                    "Invalid value for 'size': '%s' is %lld pixels; this server generates at most %lld per image.", shown,
                    (long long)side[0] * side[1], (long long)p->lim.max_pixels);
    p->out->width = (int)side[0];
    p->out->height = (int)side[1];
    p->out->size_auto = false;
    return true;
}

/* Ids first, then aliases: an id is what GET /v1/models lists, so it must always mean that model. */
static bool resolve_model(parser *p, const char *name) {
    const ig_api_models *m = p->models;
    char shown[72], list[600] = "";
    size_t k = 0;
    for (size_t i = 0; i < m->n_models; i++)
        if (m->models[i].id && !strcmp(name, m->models[i].id)) {
            p->out->model = i;
            return true;
        }
    for (size_t i = 0; i < m->n_aliases; i++)
        if (m->aliases[i].name && !strcmp(name, m->aliases[i].name)) {
            if (m->aliases[i].model >= m->n_models)
                return fail(p, IG_API_ERR_SERVER, NULL, NULL, "The alias '%s' points to no loaded model.", m->aliases[i].name);
            p->out->model = m->aliases[i].model;
            return true;
        }
    for (size_t i = 0; i < m->n_models + m->n_aliases; i++) {
        const char *id = i < m->n_models ? m->models[i].id : m->aliases[i - m->n_models].name;
        size_t used = strlen(list);
        if (id && used + strlen(id) + 8 < sizeof list) snprintf(list + used, sizeof list - used, "%s'%s'", k++ ? ", " : "", id);
    }
    ig__api_clip(shown, sizeof shown, name);
    return fail(p, IG_API_ERR_MODEL_NOT_FOUND, "model", NULL,
                "The model '%s' does not exist on this server. Available models: %s.", shown, list);
}

static bool parse_field(parser *p, int f, const json_t *v) {
    ig_request *r = p->out;
    const char *s = NULL;
    int chars, x;
    if (json_is_null(v)) {
        if (f != F_PROMPT) return true; /* null is the default (spec/CLIENTS.md) */
        return fail_type(p, f, "null");
    }
    p->set[f] = true;
    switch (f) {
    case F_PROMPT:
        if (!get_text(p, f, v, 1, p->lim.max_prompt_chars, &s, &chars)) return false;
        r->prompt_bytes = json_string_length(v);
        if (!(r->prompt = malloc(r->prompt_bytes + 1))) {
            fail(p, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory reading the prompt.");
            p->st = IG_ERR_NOMEM;
            return false;
        }
        memcpy(r->prompt, s, r->prompt_bytes + 1);
        r->prompt_chars = chars;
        return true;
    case F_MODEL:
        if (!get_string(p, f, v, &s)) return false;
        if (!*s)
            return fail(p, IG_API_ERR_INVALID_REQUEST, "model", "empty_string",
                        "Invalid 'model': empty string. Leave 'model' out (or null) for the default model.");
        if (!resolve_model(p, s)) return false;
        ig__api_clip(r->model_name, sizeof r->model_name, s);
        return true;
    case F_N: return get_int(p, f, v, 1, p->lim.max_n, &r->n);
    case F_SIZE:
        if (!get_string(p, f, v, &s)) return false;
        if (!strcmp(s, "auto")) {
            r->size_auto = true;
            return true;
        }
        return parse_size(p, s);
    case F_QUALITY: return get_choice(p, f, v, quality_choices, &x) && ((r->quality = (ig_quality)x), true);
    case F_STYLE: return get_choice(p, f, v, style_choices, &x) && ((r->style = (ig_style)x), true);
    case F_BACKGROUND: return get_choice(p, f, v, background_choices, &x) && ((r->background = (ig_background)x), true);
    case F_OUTPUT_FORMAT:
        return get_choice(p, f, v, output_format_choices, &x) && ((r->output_format = (ig_output_format)x), true);
    case F_OUTPUT_COMPRESSION: return get_int(p, f, v, 0, 100, &r->output_compression);
    case F_RESPONSE_FORMAT:
        if (!get_choice(p, f, v, response_format_choices, &x)) return false;
        r->response_format = (ig_response_format)x;
        if (r->response_format == IG_RESPONSE_FORMAT_URL && p->lim.url_unavailable)
            return fail(p, IG_API_ERR_INVALID_REQUEST, "response_format", "invalid_value",
                        "Invalid value for 'response_format': 'url' is not available on this server (it stores no "
                        "images); use 'b64_json'.");
        return true;
    case F_MODERATION: return get_choice(p, f, v, moderation_choices, &x) && ((r->moderation = (ig_moderation)x), true);
    case F_STREAM:
        if (!json_is_boolean(v)) return fail_type(p, f, type_name(v));
        r->stream = json_is_true(v);
        return true;
    case F_PARTIAL_IMAGES: return get_int(p, f, v, 0, 3, &r->partial_images);
    case F_USER:
        if (!get_text(p, f, v, 0, IG_API_USER_MAX_CHARS, &s, &chars)) return false;
        memcpy(r->user, s, json_string_length(v) + 1); /* ≤ 256 characters of ≤ 4 bytes fit */
        return true;
    case F_SEED: {
        long long seed = 0;
        if (!get_int64(p, f, v, 0, IG_API_SEED_MAX, &seed)) return false;
        r->has_seed = true, r->seed = (uint64_t)seed;
        return true;
    }
    case F_NEGATIVE_PROMPT:
        if (!get_text(p, f, v, 0, p->lim.max_prompt_chars, &s, &chars)) return false;
        if (!(r->negative_prompt = strdup(s))) {
            fail(p, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory reading the negative prompt.");
            p->st = IG_ERR_NOMEM;
            return false;
        }
        return true;
    case F_STEPS: return get_int(p, f, v, 1, IG_API_STEPS_MAX, &r->steps);
    case F_GUIDANCE_SCALE: return get_number(p, f, v, 0, IG_API_GUIDANCE_MAX, &r->guidance_scale) && (r->has_guidance = true);
    case F_SAMPLER: {
        choice names[IG_SAMPLER_COUNT + 1] = {{0}};
        for (int k = 0; k < IG_SAMPLER_COUNT; k++) names[k] = (choice){ig_sampler_name((ig_sampler)k), k};
        if (!get_choice(p, f, v, names, &x)) return false;
        r->has_sampler = true, r->sampler = (ig_sampler)x;
        return true;
    }
    case F_STRENGTH: return get_number(p, f, v, 0, 1, &r->strength) && (r->has_strength = true);
    case F_INPUT_FIDELITY:
        return get_choice(p, f, v, input_fidelity_choices, &x) && ((r->input_fidelity = (ig_input_fidelity)x), true);
    }
    IG_ASSERT(0);
    return false;
}

/* Turns a jansson failure into the most specific error the scan allows. */
static void fail_json(parser *p, const char *body, size_t len, const json_error_t *je) {
    enum json_error_code code = json_error_code(je);
    scan sc;
    char key[IG_API_PARAM_MAX];
    bool member, blank = true;
    int f;
    if (code == json_error_out_of_memory) {
        fail(p, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory parsing the request body.");
        p->st = IG_ERR_NOMEM;
        return;
    }
    for (size_t i = 0; i < len && blank; i++) blank = strchr(" \t\r\n", body[i]) && body[i];
    if (blank) {
        fail(p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_json",
             "The request body is empty; expected a JSON object such as {\"prompt\": \"a cute baby sea otter\"}.");
        return;
    }
    scan_body(body, len, (size_t)IG_MAX(je->position, 0), INT_MAX, &sc);
    member = scan_key(body, &sc, key, sizeof key);
    f = member ? field_index(key) : -1;
    if (member && sc.depth == 1 && (code == json_error_duplicate_key || code == json_error_numeric_overflow)) {
        if (f < 0) {
            fail_unknown(p, key);
        } else if (code == json_error_duplicate_key) {
            fail(p, IG_API_ERR_INVALID_REQUEST, key, "duplicate_parameter",
                 "Duplicate parameter: '%s' appears more than once in the request body.", key);
        } else if (fields[f].kind == 'i') {
            bool below = sc.value_at < len && body[sc.value_at] == '-';
            long long lo = f == F_N || f == F_STEPS ? 1 : 0,
                      hi = f == F_N ? p->lim.max_n : f == F_PARTIAL_IMAGES ? 3 : f == F_SEED ? IG_API_SEED_MAX
                                                     : f == F_STEPS ? IG_API_STEPS_MAX : 100;
            fail_range(p, f, below, lo, hi, below ? "a number too small to represent" : "a number too large to represent");
        } else {
            fail_type(p, f, "a number");
        }
        return;
    }
    /* jansson's position is just past the token it choked on; the token's last byte says which
     * member it belongs to ({"prompt":} names prompt, {"prompt":"a",} names nothing). At the end of
     * the input there is no such token: the whole body says where it stopped ({"prompt":"a", names
     * nothing, {"prompt": names prompt), unless the last member was complete and only the object's
     * '}' is missing ({"prompt":"a" names nothing). */
    const bool at_eof = json_error_code(je) == json_error_premature_end_of_input;
    scan_body(body, len, at_eof ? len : (size_t)IG_MAX(je->position - 1, 0), INT_MAX, &sc);
    member = scan_key(body, &sc, key, sizeof key) && !(at_eof && !strncmp(je->text, "'}' expected", 12));
    fail(p, IG_API_ERR_INVALID_REQUEST, member && *key ? key : NULL, "invalid_json",
         "We could not parse the JSON body of your request: %s (line %d, column %d).", je->text, je->line, je->column);
}

static bool parse_object(parser *p, const json_t *root);

static ig_api_limits effective_limits(const ig_api_limits *in) {
    ig_api_limits l = in ? *in : (ig_api_limits){0};
    if (!l.max_body_bytes) l.max_body_bytes = IG_API_MAX_BODY_BYTES;
    if (l.max_depth <= 0) l.max_depth = 16;
    if (l.max_prompt_chars <= 0) l.max_prompt_chars = 32000;
    if (l.max_n <= 0) l.max_n = 10;
    if (l.min_side <= 0) l.min_side = 64;
    if (l.max_side <= 0) l.max_side = 2048;
    if (l.max_pixels <= 0) l.max_pixels = (int64_t)l.max_side * l.max_side;
    return l;
}

ig_status ig_api_parse_request(const char *body, size_t len, const ig_api_limits *limits,
                               const ig_api_models *models, ig_request *out, ig_api_error *error) {
    parser p = {.lim = effective_limits(limits), .models = models, .out = out, .err = error};
    json_t *root = NULL;
    json_error_t je;
    scan sc;
    char key[IG_API_PARAM_MAX];
    IG_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!body) len = 0;
    if (!models || !models->n_models || !models->models || models->default_model >= models->n_models) {
        fail(&p, IG_API_ERR_SERVER, NULL, NULL, "No model is loaded.");
        goto fail;
    }
    if (len > p.lim.max_body_bytes) {
        fail(&p, IG_API_ERR_TOO_LARGE, NULL, NULL, "The request body is %zu bytes; this server accepts at most %zu.", len,
             p.lim.max_body_bytes);
        goto fail;
    }

    /* Before jansson: it would report these as "unable to decode byte" with no param, and it
     * recurses up to 2048 levels, more than we want to spend on a body that needs one. */
    scan_body(body ? body : "", len, len, p.lim.max_depth, &sc);
    if (sc.problem) {
        bool member = sc.problem != SCAN_DEPTH && sc.state == AT_VALUE && scan_key(body, &sc, key, sizeof key);
        switch (sc.problem) {
        case SCAN_DEPTH:
            fail(&p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_json", "The JSON body nests deeper than %d levels.",
                 p.lim.max_depth);
            break;
        case SCAN_UTF8:
            if (member)
                fail(&p, IG_API_ERR_INVALID_REQUEST, key, "invalid_utf8",
                     "Invalid '%s': the string is not valid UTF-8 (byte %zu of the body).", key, sc.problem_at);
            else
                fail(&p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_utf8", "The request body is not valid UTF-8 (byte %zu).",
                     sc.problem_at);
            break;
        case SCAN_NUL:
            if (member)
                fail(&p, IG_API_ERR_INVALID_REQUEST, key, "invalid_value",
                     "Invalid '%s': the string contains a NUL character (\\u0000), which is not allowed.", key);
            else
                fail(&p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_value",
                     "A parameter name contains a NUL character (\\u0000), which is not allowed.");
            break;
        default:
            if (member)
                fail(&p, IG_API_ERR_INVALID_REQUEST, key, "invalid_utf8",
                     "Invalid '%s': the string contains an unpaired UTF-16 surrogate escape (byte %zu of the body), "
                     "which is not valid Unicode.",
                     key, sc.problem_at);
            else
                fail(&p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_utf8",
                     "A parameter name contains an unpaired UTF-16 surrogate escape (byte %zu of the body).",
                     sc.problem_at);
            break;
        }
        goto fail;
    }

    if (!(root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je))) {
        fail_json(&p, body ? body : "", len, &je);
        goto fail;
    }
    if (!json_is_object(root)) {
        fail(&p, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_json",
             "The request body must be a JSON object, but got %s.", type_name(root));
        goto fail;
    }
    if (!parse_object(&p, root)) goto fail;
    json_decref(root);
    return IG_OK;

fail:
    json_decref(root);
    ig_request_clear(out);
    return p.st != IG_OK ? p.st : IG_ERR_INVALID;
}

ig_status ig__api_parse_fields(const json_t *root, ig_api_route route, const ig_api_limits *limits,
                               const ig_api_models *models, ig_request *out, ig_api_error *error) {
    parser p = {.route = route, .lim = effective_limits(limits), .models = models, .out = out, .err = error};
    IG_ASSERT(out && json_is_object(root));
    memset(out, 0, sizeof *out);
    if (!models || !models->n_models || !models->models || models->default_model >= models->n_models)
        fail(&p, IG_API_ERR_SERVER, NULL, NULL, "No model is loaded.");
    else if (parse_object(&p, root)) return IG_OK;
    ig_request_clear(out);
    return p.st != IG_OK ? p.st : IG_ERR_INVALID;
}

/* The fields of an object, then the defaults that depend on several of them. */
static bool parse_object(parser *p, const json_t *root) {
    ig_request *out = p->out;
    const ig_api_models *models = p->models;
    const char *k;
    json_t *v;
    out->route = p->route;
    /* Defaults first (the spec's), then the body in its own order, so the error is the first bad
     * field as the client wrote it. */
    out->n = 1;
    out->output_compression = 100;
    out->quality = IG_QUALITY_AUTO;
    out->background = IG_BACKGROUND_AUTO;
    out->output_format = IG_OUTPUT_FORMAT_PNG;
    out->response_format = IG_RESPONSE_FORMAT_B64_JSON;
    out->moderation = IG_MODERATION_AUTO;
    out->size_auto = true;
    json_object_foreach((json_t *)root, k, v) {
        int f = route_field(k, p->route);
        if (f < 0) {
            fail_unknown(p, k);
            return false;
        }
        if (!parse_field(p, f, v)) return false;
    }
    if (!p->set[F_PROMPT] && p->route != IG_API_ROUTE_VARIATIONS) {
        fail(p, IG_API_ERR_INVALID_REQUEST, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.");
        return false;
    }

    if (!p->set[F_MODEL]) {
        out->model = models->default_model;
        ig__api_clip(out->model_name, sizeof out->model_name, models->models[out->model].id ? models->models[out->model].id : "");
    }
    out->model_id = models->models[out->model].id;
    out->family = ig_api_model_family(out->model_name);
    out->quality_tier = ig_api_quality_tier(out->quality, out->family);
    if (!p->set[F_STYLE] && out->family == IG_API_FAMILY_DALLE3) out->style = IG_STYLE_VIVID;
    if (!p->set[F_RESPONSE_FORMAT] && (out->family == IG_API_FAMILY_DALLE2 || out->family == IG_API_FAMILY_DALLE3) &&
        !p->lim.url_unavailable && !out->stream)
        out->response_format = IG_RESPONSE_FORMAT_URL;
    if (out->size_auto) {
        const ig_api_model *m = &models->models[out->model];
        bool has = m->default_width > 0 && m->default_height > 0;
        out->width = has ? m->default_width : 1024;
        out->height = has ? m->default_height : 1024;
    }

    if (out->background == IG_BACKGROUND_TRANSPARENT && out->output_format == IG_OUTPUT_FORMAT_JPEG) {
        fail(p, IG_API_ERR_INVALID_REQUEST, "background", "invalid_value",
             "Invalid value for 'background': 'transparent' needs an output format with an alpha channel, but "
             "'output_format' is 'jpeg'; use 'png' or 'webp'.");
        return false;
    }
    if (out->stream && out->response_format == IG_RESPONSE_FORMAT_URL) {
        fail(p, IG_API_ERR_INVALID_REQUEST, "response_format", "invalid_value",
             "Invalid value for 'response_format': 'url' cannot be combined with 'stream': true; streamed events "
             "carry b64_json.");
        return false;
    }
    return true;
}

void ig_request_clear(ig_request *req) {
    if (!req) return;
    free(req->prompt);
    free(req->negative_prompt);
    ig_image_free(req->image);
    ig_image_free(req->mask);
    memset(req, 0, sizeof *req);
}
