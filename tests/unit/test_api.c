/* test_api.c — api/: request parsing (every field, valid and invalid), error bodies, success bodies,
 * usage figures and SSE frames. Every JSON we write is parsed back with jansson and checked field by
 * field; every error is checked for status, param, code and a mention in its message. */
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "api/errors.h"
#include "api/request.h"
#include "api/response.h"
#include "test.h"

/* Two models, OpenAI names as aliases; the first is the default (issue 4). */
static const ig_api_model models_tab[] = {{"sd15", 512, 512}, {"sdxl", 0, 0}};
static const ig_api_alias aliases_tab[] = {{"gpt-image-1", 1}, {"gpt-image-1-mini", 0}, {"gpt-image-1.5", 1},
                                           {"dall-e-2", 0},     {"dall-e-3", 1},          {"sdxl", 0}};
static const ig_api_models M = {models_tab, 2, aliases_tab, 6, 0};

/* A failed CHECK inside a helper names the caller's line too. */
static int at_line;
#define AT(line) (at_line = (line))
#define CHECKL(cond)                                                                        \
    do {                                                                                    \
        test_checks++;                                                                      \
        if (!(cond)) {                                                                      \
            test_failures++;                                                                \
            fprintf(stderr, "%s:%d (called from line %d): CHECK failed: %s\n", __FILE__,    \
                    __LINE__, at_line, #cond);                                              \
        }                                                                                   \
    } while (0)

static bool streq_or_null(const json_t *v, const char *want) {
    if (!want || !*want) return json_is_null(v);
    return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* The error body must parse back and agree with the struct. */
static void check_error_body(const ig_api_error *e) {
    char buf[IG_API_ERROR_JSON_MAX];
    size_t n = ig_api_error_body_json(e, buf, sizeof buf);
    CHECKL(n < sizeof buf && strlen(buf) == n);
    json_error_t je;
    json_t *root = json_loads(buf, JSON_REJECT_DUPLICATES, &je), *err = json_object_get(root, "error");
    CHECKL(root && json_object_size(root) == 1 && json_is_object(err) && json_object_size(err) == 4);
    CHECKL(json_is_string(json_object_get(err, "message")) &&
           !strcmp(json_string_value(json_object_get(err, "message")), e->message));
    CHECKL(streq_or_null(json_object_get(err, "type"), e->type));
    CHECKL(streq_or_null(json_object_get(err, "param"), e->param));
    CHECKL(streq_or_null(json_object_get(err, "code"), e->code));
    json_decref(root);
}

static bool parse_lim(int line, const char *body, size_t len, const ig_api_limits *lim, ig_request *r) {
    ig_api_error e = {0};
    AT(line);
    ig_status st = ig_api_parse_request(body, len, lim, &M, r, &e);
    CHECKL(st == IG_OK);
    if (st != IG_OK) fprintf(stderr, "  line %d: %.120s -> %d %s (param %s)\n", line, body, e.http_status, e.message, e.param);
    CHECKL(e.http_status == 0);
    return st == IG_OK;
}
#define PARSE(body, r) parse_lim(__LINE__, body, strlen(body), NULL, r)
#define PARSE_LIM(body, lim, r) parse_lim(__LINE__, body, strlen(body), lim, r)

/* Expects a failure with this status, param ("" for null), code ("" for null) and a message that
 * contains mention. */
static void expect_err_lim(int line, const char *body, size_t len, const ig_api_limits *lim, const ig_api_models *m,
                           int status, const char *param, const char *code, const char *mention) {
    ig_request r;
    ig_api_error e = {0};
    memset(&r, 0x5a, sizeof r);
    AT(line);
    ig_status st = ig_api_parse_request(body, len, lim, m, &r, &e);
    bool ok = st != IG_OK && e.http_status == status && !strcmp(e.param, param) && !strcmp(e.code, code) &&
              strstr(e.message, mention);
    CHECKL(ok);
    if (!ok)
        fprintf(stderr, "  line %d: %.100s\n  got st=%d %d param='%s' code='%s' message: %s\n", line, body, st,
                e.http_status, e.param, e.code, e.message);
    CHECKL(st == (status == 404 ? IG_ERR_NOT_FOUND : status >= 500 ? (st == IG_ERR_NOMEM ? IG_ERR_NOMEM : IG_ERR_BACKEND)
                                                                   : IG_ERR_INVALID));
    CHECKL(r.prompt == NULL && r.n == 0 && r.model_id == NULL); /* zeroed on failure */
    check_error_body(&e);
}
#define ERR(body, status, param, code, mention) \
    expect_err_lim(__LINE__, body, strlen(body), NULL, &M, status, param, code, mention)
#define ERR_LIM(body, lim, status, param, code, mention) \
    expect_err_lim(__LINE__, body, strlen(body), lim, &M, status, param, code, mention)
#define ERR_LEN(body, len, status, param, code, mention) \
    expect_err_lim(__LINE__, body, len, NULL, &M, status, param, code, mention)

/* {"prompt":"p",<rest>} */
static const char *with(const char *rest) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"prompt\":\"p\",%s}", rest);
    return buf;
}

/* ---- request: defaults, prompt, model -------------------------------------------------------------- */

static void test_defaults(void) {
    ig_request r;
    if (!PARSE("{\"prompt\":\"A cute baby sea otter\"}", &r)) return;
    CHECK(!strcmp(r.prompt, "A cute baby sea otter") && r.prompt_bytes == 21 && r.prompt_chars == 21);
    CHECK(r.model == 0 && !strcmp(r.model_id, "sd15") && !strcmp(r.model_name, "sd15"));
    CHECK(r.family == IG_API_FAMILY_NATIVE);
    CHECK(r.n == 1 && r.size_auto && r.width == 512 && r.height == 512);
    CHECK(r.quality == IG_QUALITY_AUTO && r.quality_tier == IG_QUALITY_HIGH);
    CHECK(r.style == IG_STYLE_NONE && r.background == IG_BACKGROUND_AUTO);
    CHECK(r.output_format == IG_OUTPUT_FORMAT_PNG && r.output_compression == 100);
    CHECK(r.response_format == IG_RESPONSE_FORMAT_B64_JSON && r.moderation == IG_MODERATION_AUTO);
    CHECK(!r.stream && r.partial_images == 0 && r.user[0] == 0);
    ig_request_clear(&r);
    CHECK(r.prompt == NULL);
    ig_request_clear(&r); /* twice, and NULL, are fine */
    ig_request_clear(NULL);

    /* The spec's example body, minus response_format=url + partial_images without stream */
    if (!PARSE("{\"prompt\": \"A cute baby sea otter\", \"background\": \"transparent\", \"moderation\": \"low\", "
               "\"n\": 1, \"output_compression\": 100, \"output_format\": \"png\", \"partial_images\": 1, "
               "\"quality\": \"medium\", \"response_format\": \"url\", \"size\": \"1024x1024\", \"style\": \"vivid\", "
               "\"user\": \"user-1234\"}",
               &r))
        return;
    CHECK(r.background == IG_BACKGROUND_TRANSPARENT && r.moderation == IG_MODERATION_LOW && r.partial_images == 1);
    CHECK(r.quality == IG_QUALITY_MEDIUM && r.quality_tier == IG_QUALITY_MEDIUM);
    CHECK(r.response_format == IG_RESPONSE_FORMAT_URL && !r.size_auto && r.width == 1024 && r.height == 1024);
    CHECK(r.style == IG_STYLE_VIVID && !strcmp(r.user, "user-1234"));
    ig_request_clear(&r);

    /* every optional field null: all defaults (Gradient's types allow null everywhere) */
    if (!PARSE("{\"prompt\":\"x\",\"background\":null,\"model\":null,\"moderation\":null,\"n\":null,"
               "\"output_compression\":null,\"output_format\":null,\"partial_images\":null,\"quality\":null,"
               "\"response_format\":null,\"size\":null,\"stream\":null,\"style\":null,\"user\":null}",
               &r))
        return;
    CHECK(r.model == 0 && r.n == 1 && r.size_auto && r.width == 512 && r.quality == IG_QUALITY_AUTO);
    CHECK(r.style == IG_STYLE_NONE && r.background == IG_BACKGROUND_AUTO && r.output_format == IG_OUTPUT_FORMAT_PNG);
    CHECK(r.output_compression == 100 && r.response_format == IG_RESPONSE_FORMAT_B64_JSON && !r.stream);
    CHECK(r.partial_images == 0 && r.user[0] == 0 && r.moderation == IG_MODERATION_AUTO);
    ig_request_clear(&r);
}

/* n characters cycling through 1-, 2-, 3- and 4-byte UTF-8, raw or as \u escapes. */
static char *prompt_body(int n, bool escaped, size_t *len) {
    static const char *raw[] = {"a", "\xc3\xa9", "\xe6\xbc\xa2", "\xf0\x9f\x98\x80"};
    static const char *esc[] = {"a", "\\u00e9", "\\u6f22", "\\ud83d\\ude00"};
    char *b = malloc((size_t)n * 12 + 32), *w = b;
    w += sprintf(w, "{\"prompt\":\"");
    for (int i = 0; i < n; i++) w += sprintf(w, "%s", (escaped ? esc : raw)[i % 4]);
    w += sprintf(w, "\"}");
    *len = (size_t)(w - b);
    return b;
}

static void test_prompt(void) {
    ig_request r;
    ERR("{}", 400, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'");
    ERR("{\"n\":1}", 400, "prompt", "missing_required_parameter", "'prompt'");
    ERR("{\"prompt\":null}", 400, "prompt", "invalid_type", "expected a string, but got null");
    ERR("{\"prompt\":\"\"}", 400, "prompt", "empty_string", "empty string");
    ERR("{\"prompt\":42}", 400, "prompt", "invalid_type", "but got an integer");
    ERR("{\"prompt\":[\"a\"]}", 400, "prompt", "invalid_type", "but got an array");
    ERR("{\"prompt\":{\"text\":\"a\"}}", 400, "prompt", "invalid_type", "but got an object");
    ERR("{\"prompt\":true}", 400, "prompt", "invalid_type", "but got a boolean");

    /* escapes are decoded; whitespace-only is a valid (if odd) prompt, as minLength 1 says */
    if (PARSE("{\"prompt\":\"a\\n\\\"b\\\"\\u00e9\\ud83d\\ude00\"}", &r)) {
        CHECK(!strcmp(r.prompt, "a\n\"b\"\xc3\xa9\xf0\x9f\x98\x80") && r.prompt_chars == 7 && r.prompt_bytes == 11);
        ig_request_clear(&r);
    }
    if (PARSE("{\"prompt\":\" \"}", &r)) ig_request_clear(&r);
    /* a key written with escapes is the same key */
    if (PARSE("{\"\\u0070rompt\":\"q\"}", &r)) {
        CHECK(!strcmp(r.prompt, "q"));
        ig_request_clear(&r);
    }

    /* 32000 characters are counted as code points, not bytes: 32000 fit, 32001 do not */
    for (int escaped = 0; escaped < 2; escaped++) {
        size_t len;
        char *b = prompt_body(32000, escaped, &len);
        if (parse_lim(__LINE__, b, len, NULL, &r)) {
            CHECK(r.prompt_chars == 32000 && r.prompt_bytes == 8000 * (1 + 2 + 3 + 4));
            CHECK(r.prompt_bytes == strlen(r.prompt));
            ig_request_clear(&r);
        }
        free(b);
        b = prompt_body(32001, escaped, &len);
        expect_err_lim(__LINE__, b, len, NULL, &M, 400, "prompt", "string_above_max_length",
                       "maximum length 32000, but got a string with length 32001");
        free(b);
    }
    ig_api_limits lim = {.max_prompt_chars = 5};
    ERR_LIM("{\"prompt\":\"\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2x\"}", &lim, 400, "prompt",
            "string_above_max_length", "length 6");
    if (PARSE_LIM("{\"prompt\":\"\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\"}", &lim, &r)) ig_request_clear(&r);

    /* invalid UTF-8, raw in the JSON string: named by param */
    ERR("{\"prompt\":\"a\xff\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8");
    ERR("{\"prompt\":\"\xc0\xaf\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8");         /* overlong '/' */
    ERR("{\"prompt\":\"\xe0\x80\xaf\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8");     /* overlong, 3 bytes */
    ERR("{\"prompt\":\"\xed\xa0\x80\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8");     /* encoded surrogate */
    ERR("{\"prompt\":\"\xf4\x90\x80\x80\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8"); /* past U+10FFFF */
    ERR("{\"prompt\":\"\xe6\xbc\"}", 400, "prompt", "invalid_utf8", "byte 11");                 /* cut short */
    ERR("{\"prompt\":\"\x80\"}", 400, "prompt", "invalid_utf8", "not valid UTF-8");             /* lone continuation */
    ERR("{\"user\":\"ok\",\"prompt\":\"\xfe\"}", 400, "prompt", "invalid_utf8", "'prompt'");
    ERR("{\"user\":\"\xff\",\"prompt\":\"a\"}", 400, "user", "invalid_utf8", "'user'");
    ERR("{\"pr\xffompt\":\"a\"}", 400, "", "invalid_utf8", "not valid UTF-8"); /* in a key: no param */
    ERR("\xef\xbb\xbf{\"prompt\":\"a\"}", 400, "", "invalid_json", "could not parse");  /* a BOM is not JSON */
    /* cut short: the member the body stopped in, or none between members */
    ERR("{\"prompt\":\"x\",", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"x\", ", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"x\"", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":", 400, "prompt", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"x", 400, "prompt", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"x\",\"n\":1", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"x\",\"n\":", 400, "n", "invalid_json", "could not parse");
    /* data after the object is not a body cut short: the scan stops at jansson's token as before */
    ERR("{\"prompt\":\"x\"} {\"n\":1", 400, "", "invalid_json", "could not parse");
    /* escapes that are not Unicode */
    ERR("{\"prompt\":\"a\\ud800\"}", 400, "prompt", "invalid_utf8", "unpaired UTF-16 surrogate");
    ERR("{\"prompt\":\"a\\udc00b\"}", 400, "prompt", "invalid_utf8", "unpaired UTF-16 surrogate");
    ERR("{\"prompt\":\"\\ud800\\u0041\"}", 400, "prompt", "invalid_utf8", "surrogate");
    ERR("{\"prompt\":\"\\uD83D\"}", 400, "prompt", "invalid_utf8", "surrogate");
    ERR("{\"prompt\":\"a\\u0000b\"}", 400, "prompt", "invalid_value", "NUL character");
    ERR("{\"prompt\":\"a\\uzzzz\"}", 400, "prompt", "invalid_json", "could not parse");
    ERR("{\"pr\\u0000ompt\":\"a\"}", 400, "", "invalid_value", "A parameter name contains a NUL");
    ERR("{\"prompt\":\"a\",\"k\\ud800\":1}", 400, "", "invalid_utf8", "A parameter name contains an unpaired");
    ERR("{\"prompt\":\"a\",\"user\":[\"\\u0000\"]}", 400, "user", "invalid_value", "NUL"); /* nested: still named */
    /* raw control characters are not JSON; a raw NUL in a body that is not NUL-terminated either */
    ERR("{\"prompt\":\"a\nb\"}", 400, "prompt", "invalid_json", "could not parse");
    ERR_LEN("{\"prompt\":\"a\0b\"}", 16, 400, "prompt", "invalid_json", "could not parse");
}

static void test_model(void) {
    ig_request r;
    if (PARSE(with("\"model\":\"sdxl\""), &r)) {
        /* an id wins over an alias of the same name (the table has "sdxl" → 0 too) */
        CHECK(r.model == 1 && !strcmp(r.model_id, "sdxl") && !strcmp(r.model_name, "sdxl"));
        CHECK(r.family == IG_API_FAMILY_NATIVE && r.width == 1024 && r.height == 1024); /* no default size: 1024 */
        ig_request_clear(&r);
    }
    static const char *gpt[] = {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"};
    for (int i = 0; i < 3; i++) {
        char b[128];
        snprintf(b, sizeof b, "{\"prompt\":\"p\",\"model\":\"%s\"}", gpt[i]);
        if (!PARSE(b, &r)) continue;
        CHECK(r.model == (i == 1 ? 0u : 1u) && !strcmp(r.model_name, gpt[i]) && r.family == IG_API_FAMILY_GPT_IMAGE);
        CHECK(r.quality_tier == IG_QUALITY_HIGH && r.response_format == IG_RESPONSE_FORMAT_B64_JSON);
        CHECK(r.style == IG_STYLE_NONE);
        ig_request_clear(&r);
    }
    /* dall-e names keep their spec defaults: url, quality standard (medium), dall-e-3 style vivid */
    if (PARSE(with("\"model\":\"dall-e-3\""), &r)) {
        CHECK(r.model == 1 && r.family == IG_API_FAMILY_DALLE3 && !strcmp(r.model_id, "sdxl"));
        CHECK(r.response_format == IG_RESPONSE_FORMAT_URL && r.style == IG_STYLE_VIVID);
        CHECK(r.quality == IG_QUALITY_AUTO && r.quality_tier == IG_QUALITY_MEDIUM);
        ig_request_clear(&r);
    }
    if (PARSE(with("\"model\":\"dall-e-2\""), &r)) {
        CHECK(r.model == 0 && r.family == IG_API_FAMILY_DALLE2 && r.response_format == IG_RESPONSE_FORMAT_URL);
        CHECK(r.style == IG_STYLE_NONE && r.quality_tier == IG_QUALITY_MEDIUM && r.width == 512);
        ig_request_clear(&r);
    }
    if (PARSE(with("\"model\":\"dall-e-3\",\"style\":\"natural\",\"response_format\":\"b64_json\",\"quality\":\"hd\""), &r)) {
        CHECK(r.style == IG_STYLE_NATURAL && r.response_format == IG_RESPONSE_FORMAT_B64_JSON);
        CHECK(r.quality == IG_QUALITY_HD && r.quality_tier == IG_QUALITY_HIGH);
        ig_request_clear(&r);
    }
    /* the url default yields to streaming and to a server that stores nothing; values are not refused */
    if (PARSE(with("\"model\":\"dall-e-3\",\"stream\":true,\"n\":4"), &r)) {
        CHECK(r.response_format == IG_RESPONSE_FORMAT_B64_JSON && r.stream && r.n == 4);
        ig_request_clear(&r);
    }
    ig_api_limits nourl = {.url_unavailable = true};
    if (PARSE_LIM(with("\"model\":\"dall-e-2\""), &nourl, &r)) {
        CHECK(r.response_format == IG_RESPONSE_FORMAT_B64_JSON);
        ig_request_clear(&r);
    }

    ERR(with("\"model\":\"foo\""), 404, "model", "model_not_found", "The model 'foo' does not exist");
    ERR(with("\"model\":\"foo\""), 404, "model", "model_not_found", "'sd15', 'sdxl', 'gpt-image-1'");
    ERR(with("\"model\":\"GPT-IMAGE-1\""), 404, "model", "model_not_found", "GPT-IMAGE-1"); /* exact match */
    ERR(with("\"model\":\"dall-e-4\""), 404, "model", "model_not_found", "dall-e-4");
    ERR(with("\"model\":\"\""), 400, "model", "empty_string", "empty string");
    ERR(with("\"model\":5"), 400, "model", "invalid_type", "Invalid type for 'model': expected a string, but got an integer");
    ERR(with("\"model\":[\"sd15\"]"), 400, "model", "invalid_type", "an array");
    {
        char b[1200], name[1001];
        memset(name, 'm', 1000);
        name[1000] = 0;
        snprintf(b, sizeof b, "{\"prompt\":\"p\",\"model\":\"%s\"}", name);
        ERR(b, 404, "model", "model_not_found", "mmm..."); /* echoed, clipped */
    }
    /* a broken table is the server's fault */
    static const ig_api_alias bad_alias[] = {{"gpt-image-1", 7}};
    const ig_api_models bad = {models_tab, 2, bad_alias, 1, 0}, empty = {models_tab, 0, NULL, 0, 0};
    expect_err_lim(__LINE__, with("\"model\":\"gpt-image-1\""), strlen(with("\"model\":\"gpt-image-1\"")), NULL, &bad, 500, "",
                   "", "points to no loaded model");
    expect_err_lim(__LINE__, "{\"prompt\":\"p\"}", 14, NULL, &empty, 500, "", "", "No model");
    expect_err_lim(__LINE__, "{\"prompt\":\"p\"}", 14, NULL, NULL, 500, "", "", "No model");

    CHECK(ig_api_model_family("gpt-image-2") == IG_API_FAMILY_GPT_IMAGE);
    CHECK(ig_api_model_family("dall-e-2") == IG_API_FAMILY_DALLE2 && ig_api_model_family("dall-e-3") == IG_API_FAMILY_DALLE3);
    CHECK(ig_api_model_family("sd15") == IG_API_FAMILY_NATIVE && ig_api_model_family(NULL) == IG_API_FAMILY_NATIVE);
}

/* ---- request: numbers ------------------------------------------------------------------------ */

static void test_n(void) {
    ig_request r;
    static const struct {
        const char *v;
        int want;
    } ok[] = {{"1", 1}, {"2", 2}, {"10", 10}, {"2.0", 2}, {"1e1", 10}, {"1E0", 1}, {"10.000", 10}, {"null", 1}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char b[64];
        snprintf(b, sizeof b, "\"n\":%s", ok[i].v);
        if (PARSE(with(b), &r)) {
            CHECK(r.n == ok[i].want);
            ig_request_clear(&r);
        }
    }
    ERR(with("\"n\":0"), 400, "n", "integer_below_min_value", "Expected a value >= 1, but got 0 instead");
    ERR(with("\"n\":-1"), 400, "n", "integer_below_min_value", "but got -1 instead");
    ERR(with("\"n\":-0"), 400, "n", "integer_below_min_value", "but got 0 instead");
    ERR(with("\"n\":11"), 400, "n", "integer_above_max_value", "Expected a value <= 10, but got 11 instead");
    ERR(with("\"n\":1.5"), 400, "n", "invalid_type", "expected an integer, but got a decimal number");
    ERR(with("\"n\":-1.5"), 400, "n", "invalid_type", "decimal number");
    ERR(with("\"n\":0.5"), 400, "n", "invalid_type", "decimal number");
    ERR(with("\"n\":\"2\""), 400, "n", "invalid_type", "expected an integer, but got a string");
    ERR(with("\"n\":true"), 400, "n", "invalid_type", "but got a boolean");
    ERR(with("\"n\":[1]"), 400, "n", "invalid_type", "but got an array");
    ERR(with("\"n\":2147483648"), 400, "n", "integer_above_max_value", "2147483648");
    ERR(with("\"n\":9223372036854775807"), 400, "n", "integer_above_max_value", "9223372036854775807");
    ERR(with("\"n\":99999999999999999999"), 400, "n", "integer_above_max_value", "too large");
    ERR(with("\"n\":-99999999999999999999"), 400, "n", "integer_below_min_value", "too small");
    ERR(with("\"n\": 99999999999999999999 , \"user\":\"u\""), 400, "n", "integer_above_max_value", "too large");
    ERR(with("\"n\":1e300"), 400, "n", "integer_above_max_value", "1e+300");
    ERR(with("\"n\":-1e300"), 400, "n", "integer_below_min_value", "-1e+300");
    ERR(with("\"n\":1e400"), 400, "n", "integer_above_max_value", "too large");
    ERR(with("\"n\":1e-400"), 400, "n", "integer_below_min_value", "but got 0 instead"); /* underflows to 0 */
    ERR(with("\"n\":NaN"), 400, "n", "invalid_json", "could not parse");
    ERR(with("\"n\":Infinity"), 400, "n", "invalid_json", "could not parse");
    ERR(with("\"n\":01"), 400, "n", "invalid_json", "could not parse");
    ERR(with("\"n\":+1"), 400, "n", "invalid_json", "could not parse");
    ig_api_limits lim = {.max_n = 4};
    ERR_LIM(with("\"n\":5"), &lim, 400, "n", "integer_above_max_value", "<= 4");
    /* overflow in a string field is a type error, in an unknown field an unknown parameter */
    ERR(with("\"size\":1e999"), 400, "size", "invalid_type", "expected a string, but got a number");
    ERR(with("\"seeds\":99999999999999999999"), 400, "seeds", "unknown_parameter", "Unknown parameter: 'seeds'");
    ERR(with("\"seed\":99999999999999999999"), 400, "seed", "integer_above_max_value", "<= 9007199254740991");
    ERR(with("\"n\":[99999999999999999999]"), 400, "n", "invalid_json", "too big integer"); /* nested: plain parse error */
}

static void test_output_compression_partial_images(void) {
    ig_request r;
    for (int c = 0; c <= 100; c += 25) {
        char b[64];
        snprintf(b, sizeof b, "\"output_compression\":%d,\"output_format\":\"%s\"", c, c % 50 ? "webp" : "jpeg");
        if (PARSE(with(b), &r)) {
            CHECK(r.output_compression == c);
            ig_request_clear(&r);
        }
    }
    if (PARSE(with("\"output_compression\":50,\"output_format\":\"png\""), &r)) { /* accepted with png */
        CHECK(r.output_compression == 50 && r.output_format == IG_OUTPUT_FORMAT_PNG);
        ig_request_clear(&r);
    }
    ERR(with("\"output_compression\":-1"), 400, "output_compression", "integer_below_min_value", ">= 0, but got -1");
    ERR(with("\"output_compression\":101"), 400, "output_compression", "integer_above_max_value", "<= 100, but got 101");
    ERR(with("\"output_compression\":50.5"), 400, "output_compression", "invalid_type", "decimal number");
    ERR(with("\"output_compression\":\"50\""), 400, "output_compression", "invalid_type", "but got a string");
    ERR(with("\"output_compression\":1e20"), 400, "output_compression", "integer_above_max_value", "<= 100");
    ERR(with("\"output_compression\":-99999999999999999999"), 400, "output_compression", "integer_below_min_value", ">= 0");

    for (int k = 0; k <= 3; k++) {
        char b[64];
        snprintf(b, sizeof b, "\"partial_images\":%d,\"stream\":true", k);
        if (PARSE(with(b), &r)) {
            CHECK(r.partial_images == k && r.stream);
            ig_request_clear(&r);
        }
    }
    if (PARSE(with("\"partial_images\":2"), &r)) { /* without stream: accepted, unused */
        CHECK(r.partial_images == 2 && !r.stream);
        ig_request_clear(&r);
    }
    ERR(with("\"partial_images\":4"), 400, "partial_images", "integer_above_max_value", "<= 3, but got 4");
    ERR(with("\"partial_images\":-1"), 400, "partial_images", "integer_below_min_value", ">= 0, but got -1");
    ERR(with("\"partial_images\":1.5"), 400, "partial_images", "invalid_type", "decimal number");
    ERR(with("\"partial_images\":\"1\""), 400, "partial_images", "invalid_type", "string");
    ERR(with("\"partial_images\":99999999999999999999"), 400, "partial_images", "integer_above_max_value", "<= 3");
}

/* ---- request: size --------------------------------------------------------------------------- */

static void test_size(void) {
    ig_request r;
    static const struct {
        const char *s;
        int w, h;
    } ok[] = {{"1024x1024", 1024, 1024}, {"1536x1024", 1536, 1024}, {"1024x1536", 1024, 1536},
              {"256x256", 256, 256},     {"512x512", 512, 512},     {"1792x1024", 1792, 1024},
              {"1024x1792", 1024, 1792}, {"64x64", 64, 64},         {"2048x2048", 2048, 2048},
              {"1000x1000", 1000, 1000}, {"768x512", 768, 512},     {"2048x64", 2048, 64}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char b[64];
        snprintf(b, sizeof b, "\"size\":\"%s\"", ok[i].s);
        if (PARSE(with(b), &r)) {
            CHECK(!r.size_auto && r.width == ok[i].w && r.height == ok[i].h);
            ig_request_clear(&r);
        }
    }
    if (PARSE(with("\"size\":\"auto\""), &r)) {
        CHECK(r.size_auto && r.width == 512 && r.height == 512); /* sd15's default size */
        ig_request_clear(&r);
    }
    if (PARSE(with("\"size\":\"auto\",\"model\":\"gpt-image-1\""), &r)) {
        CHECK(r.size_auto && r.width == 1024 && r.height == 1024); /* no default in the table: 1024x1024 */
        ig_request_clear(&r);
    }
    static const char *malformed[] = {"1024X1024", "1024x",     "x1024",      "1024x1024x1", " 1024x1024",
                                      "1024x1024 ", "01024x1024", "+1024x1024", "-8x8",        "1024*1024",
                                      "",           "AUTO",      "1024 x 1024", "1024x1024\\u0000", "9999999x8",
                                      "0x0",        "1e3x1e3",   "1024.0x1024", "１０２４x1024", "large"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        char b[96];
        snprintf(b, sizeof b, "\"size\":\"%s\"", malformed[i]);
        if (strstr(malformed[i], "\\u0000")) ERR(with(b), 400, "size", "invalid_value", "NUL");
        else ERR(with(b), 400, "size", "invalid_value", "Supported values are: 'auto', '1024x1024'");
    }
    ERR(with("\"size\":\"1001x1000\""), 400, "size", "invalid_value", "multiples of 8");
    ERR(with("\"size\":\"1024x1020\""), 400, "size", "invalid_value", "multiples of 8");
    ERR(with("\"size\":\"56x64\""), 400, "size", "invalid_value", "between 64 and 2048");
    ERR(with("\"size\":\"2056x64\""), 400, "size", "invalid_value", "between 64 and 2048");
    ERR(with("\"size\":\"8x8\""), 400, "size", "invalid_value", "between 64 and 2048");
    ERR(with("\"size\":\"99992x8\""), 400, "size", "invalid_value", "between 64 and 2048");
    ERR(with("\"size\":1024"), 400, "size", "invalid_type", "expected a string, but got an integer");
    ERR(with("\"size\":[1024,1024]"), 400, "size", "invalid_type", "an array");
    ERR(with("\"size\":{\"width\":8}"), 400, "size", "invalid_type", "an object");
    ig_api_limits lim = {.max_side = 1024, .max_pixels = 512 * 1024};
    ERR_LIM(with("\"size\":\"1536x1024\""), &lim, 400, "size", "invalid_value", "between 64 and 1024");
    ERR_LIM(with("\"size\":\"1024x1024\""), &lim, 400, "size", "invalid_value", "1048576 pixels");
    if (PARSE_LIM(with("\"size\":\"1024x512\""), &lim, &r)) ig_request_clear(&r);
}

/* ---- request: enumerated strings ------------------------------------------------------------- */

typedef struct enum_case {
    const char *field;
    const char *values[7];
    int expect[7];
    const char *mention; /* part of the "Supported values" list */
} enum_case;

static int enum_value(const ig_request *r, const char *field) {
    if (!strcmp(field, "quality")) return (int)r->quality;
    if (!strcmp(field, "style")) return (int)r->style;
    if (!strcmp(field, "background")) return (int)r->background;
    if (!strcmp(field, "output_format")) return (int)r->output_format;
    if (!strcmp(field, "response_format")) return (int)r->response_format;
    if (!strcmp(field, "moderation")) return (int)r->moderation;
    return -1;
}

static void test_enums(void) {
    static const enum_case cases[] = {
        {"quality",
         {"auto", "low", "medium", "high", "standard", "hd"},
         {IG_QUALITY_AUTO, IG_QUALITY_LOW, IG_QUALITY_MEDIUM, IG_QUALITY_HIGH, IG_QUALITY_STANDARD, IG_QUALITY_HD},
         "'auto', 'low', 'medium', 'high', 'standard', and 'hd'"},
        {"style", {"vivid", "natural"}, {IG_STYLE_VIVID, IG_STYLE_NATURAL}, "'vivid' and 'natural'"},
        {"background",
         {"transparent", "opaque", "auto"},
         {IG_BACKGROUND_TRANSPARENT, IG_BACKGROUND_OPAQUE, IG_BACKGROUND_AUTO},
         "'transparent', 'opaque', and 'auto'"},
        {"output_format",
         {"png", "jpeg", "webp"},
         {IG_OUTPUT_FORMAT_PNG, IG_OUTPUT_FORMAT_JPEG, IG_OUTPUT_FORMAT_WEBP},
         "'png', 'jpeg', and 'webp'"},
        {"response_format", {"b64_json", "url"}, {IG_RESPONSE_FORMAT_B64_JSON, IG_RESPONSE_FORMAT_URL}, "'b64_json' and 'url'"},
        {"moderation", {"low", "auto"}, {IG_MODERATION_LOW, IG_MODERATION_AUTO}, "'low' and 'auto'"},
    };
    static const char *bad[] = {"\"ultra\"", "\"\"", "\"AUTO\"", "\" png\"", "\"jpg\""};
    static const char *wrong_type[][2] = {{"1", "an integer"}, {"true", "a boolean"}, {"[]", "an array"},
                                          {"{}", "an object"}, {"0.5", "a decimal number"}};
    ig_request r;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const enum_case *ec = &cases[c];
        char b[256];
        for (int v = 0; ec->values[v]; v++) {
            snprintf(b, sizeof b, "\"%s\":\"%s\"", ec->field, ec->values[v]);
            if (PARSE(with(b), &r)) {
                CHECK(enum_value(&r, ec->field) == ec->expect[v]);
                ig_request_clear(&r);
            }
        }
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            bool valid = false;
            for (int v = 0; ec->values[v]; v++) valid |= !strncmp(bad[k] + 1, ec->values[v], strlen(ec->values[v])) &&
                                                         bad[k][strlen(ec->values[v]) + 1] == '"';
            if (valid) continue;
            snprintf(b, sizeof b, "\"%s\":%s", ec->field, bad[k]);
            char mention[256];
            snprintf(mention, sizeof mention, "Supported values are: %s.", ec->mention);
            ERR(with(b), 400, ec->field, "invalid_value", mention);
            snprintf(mention, sizeof mention, "Invalid value for '%s': %s", ec->field, bad[k]);
            for (char *q = mention; *q; q++)
                if (*q == '"') *q = '\'';
            ERR(with(b), 400, ec->field, "invalid_value", mention);
        }
        for (size_t k = 0; k < sizeof wrong_type / sizeof *wrong_type; k++) {
            char mention[128];
            snprintf(b, sizeof b, "\"%s\":%s", ec->field, wrong_type[k][0]);
            snprintf(mention, sizeof mention, "Invalid type for '%s': expected a string, but got %s instead.", ec->field,
                     wrong_type[k][1]);
            ERR(with(b), 400, ec->field, "invalid_type", mention);
        }
    }
    /* quality → tier, by family */
    static const struct {
        const char *model, *quality;
        ig_quality tier;
    } tiers[] = {{"sd15", "auto", IG_QUALITY_HIGH},       {"gpt-image-1", "auto", IG_QUALITY_HIGH},
                 {"dall-e-3", "auto", IG_QUALITY_MEDIUM}, {"dall-e-2", "auto", IG_QUALITY_MEDIUM},
                 {"sd15", "low", IG_QUALITY_LOW},         {"sd15", "medium", IG_QUALITY_MEDIUM},
                 {"sd15", "high", IG_QUALITY_HIGH},       {"sd15", "standard", IG_QUALITY_MEDIUM},
                 {"sd15", "hd", IG_QUALITY_HIGH},         {"dall-e-3", "low", IG_QUALITY_LOW}};
    for (size_t i = 0; i < sizeof tiers / sizeof *tiers; i++) {
        char b[128];
        snprintf(b, sizeof b, "\"model\":\"%s\",\"quality\":\"%s\"", tiers[i].model, tiers[i].quality);
        if (PARSE(with(b), &r)) {
            CHECK(r.quality_tier == tiers[i].tier);
            ig_request_clear(&r);
        }
    }
    /* background × output_format: transparent needs alpha */
    ERR(with("\"background\":\"transparent\",\"output_format\":\"jpeg\""), 400, "background", "invalid_value",
        "'transparent' needs an output format with an alpha channel");
    ERR(with("\"output_format\":\"jpeg\",\"background\":\"transparent\""), 400, "background", "invalid_value", "jpeg");
    static const char *alpha_ok[] = {"\"background\":\"transparent\",\"output_format\":\"png\"",
                                     "\"background\":\"transparent\",\"output_format\":\"webp\"",
                                     "\"background\":\"transparent\"", "\"background\":\"opaque\",\"output_format\":\"jpeg\"",
                                     "\"background\":\"auto\",\"output_format\":\"jpeg\"",
                                     "\"background\":\"transparent\",\"output_format\":null"};
    for (size_t i = 0; i < sizeof alpha_ok / sizeof *alpha_ok; i++)
        if (PARSE(with(alpha_ok[i]), &r)) ig_request_clear(&r);
    /* response_format url: not with stream, not where nothing is stored */
    ERR(with("\"response_format\":\"url\",\"stream\":true"), 400, "response_format", "invalid_value", "'stream'");
    ig_api_limits nourl = {.url_unavailable = true};
    ERR_LIM(with("\"response_format\":\"url\""), &nourl, 400, "response_format", "invalid_value", "not available");
    if (PARSE(with("\"model\":\"gpt-image-1\",\"response_format\":\"url\""), &r)) {
        CHECK(r.response_format == IG_RESPONSE_FORMAT_URL);
        ig_request_clear(&r);
    }
    /* names for the response side */
    CHECK(!strcmp(ig_api_quality_name(IG_QUALITY_HD), "hd") && !ig_api_quality_name((ig_quality)42));
    CHECK(!strcmp(ig_api_style_name(IG_STYLE_NONE), "none") && !strcmp(ig_api_style_name(IG_STYLE_NATURAL), "natural"));
    CHECK(!strcmp(ig_api_background_name(IG_BACKGROUND_OPAQUE), "opaque"));
    CHECK(!strcmp(ig_api_output_format_name(IG_OUTPUT_FORMAT_WEBP), "webp"));
    CHECK(!strcmp(ig_api_output_format_mime(IG_OUTPUT_FORMAT_JPEG), "image/jpeg"));
    CHECK(!strcmp(ig_api_response_format_name(IG_RESPONSE_FORMAT_URL), "url"));
    CHECK(!strcmp(ig_api_moderation_name(IG_MODERATION_LOW), "low"));
}

static void test_stream_user(void) {
    ig_request r;
    if (PARSE(with("\"stream\":true"), &r)) {
        CHECK(r.stream);
        ig_request_clear(&r);
    }
    if (PARSE(with("\"stream\":false"), &r)) {
        CHECK(!r.stream);
        ig_request_clear(&r);
    }
    ERR(with("\"stream\":\"true\""), 400, "stream", "invalid_type", "expected a boolean, but got a string");
    ERR(with("\"stream\":1"), 400, "stream", "invalid_type", "expected a boolean, but got an integer");
    ERR(with("\"stream\":0"), 400, "stream", "invalid_type", "an integer");
    ERR(with("\"stream\":{}"), 400, "stream", "invalid_type", "an object");

    if (PARSE(with("\"user\":\"user-1234\""), &r)) {
        CHECK(!strcmp(r.user, "user-1234"));
        ig_request_clear(&r);
    }
    if (PARSE(with("\"user\":\"\""), &r)) {
        CHECK(r.user[0] == 0);
        ig_request_clear(&r);
    }
    char b[2048], *w;
    w = b + sprintf(b, "{\"prompt\":\"p\",\"user\":\"");
    for (int i = 0; i < 256; i++) w += sprintf(w, "\xf0\x9f\x98\x80"); /* 256 four-byte characters fill the buffer */
    sprintf(w, "\"}");
    if (PARSE(b, &r)) {
        CHECK(strlen(r.user) == 1024);
        ig_request_clear(&r);
    }
    sprintf(w, "x\"}");
    ERR(b, 400, "user", "string_above_max_length", "maximum length 256, but got a string with length 257");
    ERR(with("\"user\":5"), 400, "user", "invalid_type", "expected a string, but got an integer");
    ERR(with("\"user\":[\"u\"]"), 400, "user", "invalid_type", "an array");
}

/* ---- request: the body as a whole ------------------------------------------------------------ */

static void test_body(void) {
    ig_request r;
    /* unknown fields are refused by name, in body order */
    ERR(with("\"foo\":1"), 400, "foo", "unknown_parameter", "Unknown parameter: 'foo'.");
    ERR("{\"foo\":1,\"prompt\":\"p\"}", 400, "foo", "unknown_parameter", "'foo'");
    ERR("{\"n\":0,\"foo\":1,\"prompt\":\"p\"}", 400, "n", "integer_below_min_value", ">= 1"); /* first problem wins */
    ERR(with("\"foo\":null"), 400, "foo", "unknown_parameter", "'foo'"); /* null does not excuse an unknown name */
    ERR(with("\"Prompt\":\"x\""), 400, "Prompt", "unknown_parameter", "'Prompt'");
    ERR(with("\"strength\":0.5"), 400, "strength", "unknown_parameter", "/v1/images/generations does not take it");
    ERR(with("\"image\":\"aGk=\""), 400, "image", "unknown_parameter", "/v1/images/edits");
    ERR(with("\"mask\":\"aGk=\""), 400, "mask", "unknown_parameter", "/v1/images/edits");
    ERR(with("\"input_fidelity\":\"high\""), 400, "input_fidelity", "unknown_parameter", "/v1/images/edits");
    ERR(with("\"\":1"), 400, "", "unknown_parameter", "Unknown parameter: ''");
    ERR(with("\"we\\u00efrd\\nkey\":1"), 400, "we\xc3\xafrd\nkey", "unknown_parameter", "we\xc3\xafrd\nkey");
    {
        char b[2100], key[1001];
        memset(key, 'k', 1000);
        key[1000] = 0;
        snprintf(b, sizeof b, "{\"prompt\":\"p\",\"%s\":1}", key);
        ERR(b, 400, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...", "unknown_parameter", "kkk...");
    }
    /* duplicate keys (JSON_REJECT_DUPLICATES), named even when written with escapes */
    ERR("{\"prompt\":\"a\",\"n\":1,\"n\":2}", 400, "n", "duplicate_parameter", "'n' appears more than once");
    ERR("{\"prompt\":\"a\",\"prompt\":\"b\"}", 400, "prompt", "duplicate_parameter", "'prompt'");
    ERR("{\"prompt\":\"a\",\"n\":1,\"\\u006e\":2}", 400, "n", "duplicate_parameter", "'n'");
    ERR("{\"prompt\":\"a\",\"n\" : 1 , \"n\" : 2}", 400, "n", "duplicate_parameter", "'n'");
    ERR("{\"prompt\":\"a\",\"x\":1,\"x\":2}", 400, "x", "unknown_parameter", "'x'");
    ERR("{\"prompt\":\"a\",\"size\":{\"w\":1,\"w\":2}}", 400, "size", "invalid_json", "duplicate object key");
    /* not an object */
    ERR("[]", 400, "", "invalid_json", "must be a JSON object, but got an array");
    ERR("[{\"prompt\":\"a\"}]", 400, "", "invalid_json", "an array");
    ERR("42", 400, "", "invalid_json", "but got an integer");
    ERR("\"prompt\"", 400, "", "invalid_json", "but got a string");
    ERR("null", 400, "", "invalid_json", "but got null");
    ERR("true", 400, "", "invalid_json", "but got a boolean");
    /* not JSON */
    ERR("", 400, "", "invalid_json", "The request body is empty");
    ERR(" \r\n\t", 400, "", "invalid_json", "empty");
    ERR_LEN(NULL, 0, 400, "", "invalid_json", "empty");
    ERR("{", 400, "", "invalid_json", "could not parse the JSON body");
    ERR("{\"prompt\":}", 400, "prompt", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"a\",}", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"a\"} x", 400, "", "invalid_json", "end of file expected");
    ERR("{\"prompt\":\"a\"}{}", 400, "", "invalid_json", "could not parse");
    ERR("{'prompt':'a'}", 400, "", "invalid_json", "could not parse");
    ERR("{prompt:\"a\"}", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"a\" \"n\":1}", 400, "prompt", "invalid_json", "line 1");
    ERR("prompt=a&n=1", 400, "", "invalid_json", "could not parse");
    ERR("{\"prompt\":\"unterminated}", 400, "prompt", "invalid_json", "could not parse");
    /* whitespace anywhere JSON allows it, and a body that is not NUL-terminated */
    if (PARSE(" \n{ \"prompt\" :\t\"a\" ,\r\n \"n\" : 2 } \n", &r)) {
        CHECK(r.n == 2);
        ig_request_clear(&r);
    }
    {
        static const char text[] = "{\"prompt\":\"exact\"}";
        char *exact = malloc(sizeof text - 1); /* ASan catches a read past the end */
        memcpy(exact, text, sizeof text - 1);
        if (parse_lim(__LINE__, exact, sizeof text - 1, NULL, &r)) {
            CHECK(!strcmp(r.prompt, "exact"));
            ig_request_clear(&r);
        }
        /* a body cut short inside the prompt is an error, not an over-read */
        expect_err_lim(__LINE__, exact, 12, NULL, &M, 400, "prompt", "invalid_json", "could not parse");
        free(exact);
    }
    /* nesting: 16 levels are parsed (and then refused for their type), 17 are not parsed */
    {
        static char b[200000];
        char *w = b + sprintf(b, "{\"prompt\":\"p\",\"user\":");
        for (int i = 1; i < 16; i++) *w++ = '[';
        for (int i = 1; i < 16; i++) *w++ = ']';
        sprintf(w, "}");
        ERR(b, 400, "user", "invalid_type", "an array"); /* the object + 15 arrays: parsed */
        w = b + sprintf(b, "{\"prompt\":\"p\",\"user\":");
        for (int i = 1; i < 17; i++) *w++ = '[';
        for (int i = 1; i < 17; i++) *w++ = ']';
        sprintf(w, "}");
        ERR(b, 400, "", "invalid_json", "nests deeper than 16 levels");
        /* 100000 open brackets (jansson alone would recurse 2048 deep) */
        w = b;
        for (int i = 0; i < 100000; i++) *w++ = '[';
        *w = 0;
        ERR(b, 400, "", "invalid_json", "nests deeper than 16");
        /* brackets inside strings are text */
        w = b + sprintf(b, "{\"prompt\":\"");
        for (int i = 0; i < 1000; i++) *w++ = '[';
        sprintf(w, "\"}");
        if (PARSE(b, &r)) {
            CHECK(r.prompt_chars == 1000);
            ig_request_clear(&r);
        }
        ig_api_limits lim = {.max_depth = 1};
        ERR_LIM(with("\"user\":[]"), &lim, 400, "", "invalid_json", "deeper than 1 levels");
    }
    /* size of the body: a 413 before any parsing */
    {
        ig_api_limits lim = {.max_body_bytes = 32};
        ERR_LIM("{\"prompt\":\"this body is longer than 32 bytes\"}", &lim, 413, "", "request_too_large",
                "at most 32");
        if (PARSE_LIM("{\"prompt\":\"short\"}", &lim, &r)) ig_request_clear(&r);
        size_t big = IG_API_MAX_BODY_BYTES + 1;
        char *b = malloc(big);
        memset(b, ' ', big);
        expect_err_lim(__LINE__, b, big, NULL, &M, 413, "", "request_too_large", "1048577 bytes");
        free(b);
    }
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_errors(void) {
    static const struct {
        ig_api_error_kind kind;
        int status;
        const char *type, *code;
    } kinds[] = {
        {IG_API_ERR_INVALID_REQUEST, 400, "invalid_request_error", ""},
        {IG_API_ERR_MODERATION, 400, "image_generation_user_error", "moderation_blocked"},
        {IG_API_ERR_AUTH_MISSING, 401, "invalid_request_error", "missing_api_key"},
        {IG_API_ERR_AUTH_INVALID, 401, "invalid_request_error", "invalid_api_key"},
        {IG_API_ERR_NOT_FOUND, 404, "invalid_request_error", ""},
        {IG_API_ERR_MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found"},
        {IG_API_ERR_METHOD, 405, "invalid_request_error", "method_not_allowed"},
        {IG_API_ERR_TOO_LARGE, 413, "invalid_request_error", "request_too_large"},
        {IG_API_ERR_RATE_LIMITED, 429, "requests", "rate_limit_exceeded"},
        {IG_API_ERR_QUEUE_FULL, 429, "requests", "queue_full"},
        {IG_API_ERR_SERVER, 500, "server_error", ""},
        {IG_API_ERR_UNAVAILABLE, 503, "server_error", "server_shutting_down"},
        {IG_API_ERR_TIMEOUT, 504, "server_error", "timeout"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        ig_api_error e = {0};
        ig_status st = ig_api_error_set(&e, kinds[i].kind, NULL, NULL, "kind %d", (int)kinds[i].kind);
        AT(__LINE__);
        CHECKL(e.http_status == kinds[i].status && !strcmp(e.type, kinds[i].type) && !strcmp(e.code, kinds[i].code));
        CHECKL(e.param[0] == 0 && !strncmp(e.message, "kind ", 5));
        CHECKL(ig_api_error_kind_status(kinds[i].kind) == kinds[i].status);
        CHECKL(st == (kinds[i].status == 404 ? IG_ERR_NOT_FOUND : kinds[i].status >= 500 ? IG_ERR_BACKEND : IG_ERR_INVALID));
        check_error_body(&e);
    }
    CHECK(ig_api_error_kind_status((ig_api_error_kind)99) == 500);

    /* sticky: the first error stays; explicit codes override the kind's */
    ig_api_error e = {0};
    ig_api_error_set(&e, IG_API_ERR_INVALID_REQUEST, "n", "integer_above_max_value", "first");
    ig_api_error_set(&e, IG_API_ERR_SERVER, "x", "y", "second");
    CHECK(e.http_status == 400 && !strcmp(e.message, "first") && !strcmp(e.param, "n") &&
          !strcmp(e.code, "integer_above_max_value"));
    CHECK(ig_api_error_set(NULL, IG_API_ERR_TIMEOUT, NULL, NULL, "no struct") == IG_ERR_BACKEND);

    /* the exact body, byte for byte */
    char buf[IG_API_ERROR_JSON_MAX];
    size_t n = ig_api_error_body_json(&e, buf, sizeof buf);
    CHECK(!strcmp(buf, "{\"error\":{\"message\":\"first\",\"type\":\"invalid_request_error\",\"param\":\"n\","
                       "\"code\":\"integer_above_max_value\"}}") &&
          n == strlen(buf));
    n = ig_api_error_object_json(&e, buf, sizeof buf);
    CHECK(!strcmp(buf, "{\"message\":\"first\",\"type\":\"invalid_request_error\",\"param\":\"n\","
                       "\"code\":\"integer_above_max_value\"}") &&
          n == strlen(buf));
    /* snprintf's contract: cut and NUL-terminated, the full length returned */
    char small[16];
    size_t full = ig_api_error_body_json(&e, NULL, 0);
    CHECK(full == strlen("{\"error\":{\"message\":\"first\",\"type\":\"invalid_request_error\",\"param\":\"n\","
                         "\"code\":\"integer_above_max_value\"}}"));
    CHECK(ig_api_error_body_json(&e, small, sizeof small) == full && strlen(small) == 15 &&
          !strncmp(small, "{\"error\":{\"mess", 15));
    /* a zeroed error is written as a server error */
    ig_api_error none = {0};
    ig_api_error_body_json(&none, buf, sizeof buf);
    CHECK(strstr(buf, "\"type\":\"server_error\"") && strstr(buf, "\"param\":null,\"code\":null"));

    /* escaping: quotes, backslashes, control characters and invalid UTF-8 still give valid JSON */
    ig_api_error x = {0};
    ig_api_error_set(&x, IG_API_ERR_INVALID_REQUEST, "p\"q", NULL, "a\"b\\c\n\t\x01\x7f \xc3\xa9 \xff end");
    ig_api_error_body_json(&x, buf, sizeof buf);
    json_t *root = json_loads(buf, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    CHECK(msg && !strcmp(msg, "a\"b\\c\n\t\x01\x7f \xc3\xa9 \xef\xbf\xbd end"));
    CHECK(strstr(buf, "\\u0001") && strstr(buf, "\\n\\t"));
    json_decref(root);
    /* the longest message, all control characters, still fits IG_API_ERROR_JSON_MAX */
    ig_api_error worst = {0};
    char fill[IG_API_MESSAGE_MAX * 2], pfill[IG_API_PARAM_MAX * 2];
    memset(fill, 1, sizeof fill - 1);
    fill[sizeof fill - 1] = 0;
    memset(pfill, 2, sizeof pfill - 1);
    pfill[sizeof pfill - 1] = 0;
    ig_api_error_set(&worst, IG_API_ERR_INVALID_REQUEST, pfill, pfill, "%s", fill);
    CHECK(strlen(worst.message) == IG_API_MESSAGE_MAX - 1 && !strcmp(worst.message + IG_API_MESSAGE_MAX - 4, "..."));
    n = ig_api_error_body_json(&worst, buf, sizeof buf);
    CHECK(n < sizeof buf);
    check_error_body(&worst);
    /* clipping keeps whole UTF-8 characters */
    char clip[8];
    ig__api_clip(clip, sizeof clip, "\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2");
    CHECK(!strcmp(clip, "\xe6\xbc\xa2..."));
    ig__api_clip(clip, sizeof clip, "short");
    CHECK(!strcmp(clip, "short"));

    /* statuses after validation */
    static const struct {
        ig_status st;
        int http;
        const char *code;
    } from[] = {{IG_ERR_INVALID, 400, ""},       {IG_ERR_UNSUPPORTED, 400, "unsupported"},
                {IG_ERR_NOMEM, 500, "out_of_memory"}, {IG_ERR_IO, 500, ""},
                {IG_ERR_BACKEND, 500, ""},        {IG_ERR_NOT_FOUND, 500, ""}};
    for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
        ig_api_error f = {0};
        CHECK(ig_api_error_from_status(&f, from[i].st, "weights missing") == from[i].st);
        CHECK(f.http_status == from[i].http && !strcmp(f.code, from[i].code) && strstr(f.message, "weights missing"));
        CHECK(!strcmp(f.type, from[i].http == 400 ? "invalid_request_error" : "server_error"));
    }
    ig_api_error ok = {0};
    CHECK(ig_api_error_from_status(&ok, IG_OK, "x") == IG_OK && ok.http_status == 0);
}

/* ---- responses and events -------------------------------------------------------------------- */

static int b64_val(char c) {
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(t, c) : NULL;
    return p ? (int)(p - t) : -1;
}

/* Decodes strict, padded base64; returns the length or -1. */
static long b64_decode(const char *s, unsigned char *out) {
    size_t n = strlen(s), o = 0;
    if (n % 4) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = s[i + k] == '=' && i + 4 == n && k >= 2 ? 0 : b64_val(s[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return -1;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(x >> 16);
        if (s[i + 2] != '=') out[o++] = (unsigned char)(x >> 8);
        if (s[i + 3] != '=') out[o++] = (unsigned char)x;
    }
    return (long)o;
}

static void test_usage(void) {
    static const struct {
        ig_quality q;
        int w, h;
        int64_t tokens;
    } table[] = {
        /* OpenAI's gpt-image-1 table */
        {IG_QUALITY_LOW, 1024, 1024, 272},     {IG_QUALITY_LOW, 1024, 1536, 408},     {IG_QUALITY_LOW, 1536, 1024, 400},
        {IG_QUALITY_MEDIUM, 1024, 1024, 1056}, {IG_QUALITY_MEDIUM, 1024, 1536, 1584}, {IG_QUALITY_MEDIUM, 1536, 1024, 1568},
        {IG_QUALITY_HIGH, 1024, 1024, 4160},   {IG_QUALITY_HIGH, 1024, 1536, 6240},   {IG_QUALITY_HIGH, 1536, 1024, 6208},
        /* sizes the table lacks: the same formula, a started tile counts */
        {IG_QUALITY_LOW, 512, 512, 72},        {IG_QUALITY_HIGH, 512, 512, 1056},     {IG_QUALITY_HIGH, 1000, 1000, 64 * 63},
        {IG_QUALITY_LOW, 64, 64, 2},           {IG_QUALITY_MEDIUM, 1792, 1024, 57 * 32},
        {IG_QUALITY_HIGH, 2048, 2048, 129 * 128},
        {IG_QUALITY_HIGH, 0, 1024, 0},         {IG_QUALITY_HIGH, 1024, -8, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        int64_t got = ig_api_output_tokens(table[i].q, table[i].w, table[i].h);
        CHECK(got == table[i].tokens);
        if (got != table[i].tokens)
            fprintf(stderr, "  %s %dx%d: %lld, want %lld\n", ig_api_quality_name(table[i].q), table[i].w, table[i].h,
                    (long long)got, (long long)table[i].tokens);
    }
    ig_api_usage u = ig_api_usage_make(12, IG_QUALITY_HIGH, 1024, 1024, 1); /* Gradient's example answer */
    CHECK(u.input_tokens == 12 && u.input_text_tokens == 12 && u.input_image_tokens == 0 && u.output_tokens == 4160 &&
          u.total_tokens == 4172);
    u = ig_api_usage_make(7, IG_QUALITY_MEDIUM, 1536, 1024, 3);
    CHECK(u.input_tokens == 7 && u.output_tokens == 3 * 1568 && u.total_tokens == 7 + 3 * 1568);
    u = ig_api_usage_make(-1, IG_QUALITY_LOW, 1024, 1024, 0);
    CHECK(u.input_tokens == 0 && u.output_tokens == 0 && u.total_tokens == 0);
}

static bool json_int_is(const json_t *o, const char *key, json_int_t want) {
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) == want;
}

static bool json_str_is(const json_t *o, const char *key, const char *want) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) && !strcmp(json_string_value(v), want);
}

static void check_usage_json(const json_t *u, const ig_api_usage *want) {
    const json_t *in = json_object_get(u, "input_tokens_details"), *out = json_object_get(u, "output_tokens_details");
    CHECKL(json_is_object(u) && json_object_size(u) == 5);
    CHECKL(json_int_is(u, "input_tokens", want->input_tokens) && json_int_is(u, "output_tokens", want->output_tokens) &&
           json_int_is(u, "total_tokens", want->total_tokens));
    CHECKL(json_is_object(in) && json_object_size(in) == 2 && json_int_is(in, "text_tokens", want->input_text_tokens) &&
           json_int_is(in, "image_tokens", want->input_image_tokens));
    CHECKL(json_is_object(out) && json_int_is(out, "image_tokens", want->output_tokens) && json_int_is(out, "text_tokens", 0));
}

/* A sink that fails after a budget of bytes, and counts its calls. */
typedef struct budget {
    size_t left, calls;
} budget;
static ig_status budget_sink(void *ctx, const void *data, size_t n) {
    budget *b = ctx;
    (void)data;
    b->calls++;
    if (n > b->left) return IG_ERR_IO;
    b->left -= n;
    return IG_OK;
}

static void test_response(void) {
    unsigned char *big = malloc(100003);
    for (size_t i = 0; i < 100003; i++) big[i] = (unsigned char)(test_uniform() * 256);
    ig_api_usage u = ig_api_usage_make(12, IG_QUALITY_HIGH, 1024, 1024, 3);
    ig_api_image imgs[3] = {
        {.bytes = "foob", .n_bytes = 4, .revised_prompt = "A \"cute\" otter\n\xe6\xbc\xa2 \xf0\x9f\x98\x80"},
        {.bytes = big, .n_bytes = 100003},
        {.url = "http://127.0.0.1:8080/v1/files/abc?x=1&y=\"2\"", .revised_prompt = "r"},
    };
    ig_api_result res = {.created = 1713833628, .background = IG_BACKGROUND_TRANSPARENT,
                         .output_format = IG_OUTPUT_FORMAT_WEBP, .quality = IG_QUALITY_MEDIUM, .width = 1536,
                         .height = 1024, .images = imgs, .n_images = 3, .usage = &u};
    ig_api_buf buf = {0};
    AT(__LINE__);
    CHECK(ig_api_write_response(&res, ig_api_buf_sink, &buf) == IG_OK);
    CHECK(buf.len == strlen(buf.data) && !strchr(buf.data, '\n'));
    /* key order as the spec's example */
    const char *order[] = {"{\"created\":", "\"background\":", "\"data\":", "\"output_format\":", "\"quality\":",
                           "\"size\":", "\"usage\":"};
    const char *at = buf.data;
    for (int i = 0; i < 7; i++) {
        const char *p = strstr(at, order[i]);
        CHECK(p != NULL);
        if (p) at = p;
    }
    CHECK(!strncmp(buf.data, "{\"created\":1713833628,\"background\":\"transparent\",\"data\":[{\"b64_json\":\"Zm9vYg==\","
                             "\"revised_prompt\":",
                   96));
    json_error_t je;
    json_t *root = json_loads(buf.data, JSON_REJECT_DUPLICATES, &je);
    CHECK(root != NULL);
    CHECK(json_object_size(root) == 7 && json_int_is(root, "created", 1713833628));
    CHECK(json_str_is(root, "background", "transparent") && json_str_is(root, "output_format", "webp"));
    CHECK(json_str_is(root, "quality", "medium") && json_str_is(root, "size", "1536x1024"));
    json_t *data = json_object_get(root, "data");
    CHECK(json_is_array(data) && json_array_size(data) == 3);
    json_t *d0 = json_array_get(data, 0), *d1 = json_array_get(data, 1), *d2 = json_array_get(data, 2);
    CHECK(json_object_size(d0) == 2 && json_str_is(d0, "b64_json", "Zm9vYg==") &&
          json_str_is(d0, "revised_prompt", imgs[0].revised_prompt));
    CHECK(json_object_size(d1) == 1 && json_is_string(json_object_get(d1, "b64_json")));
    unsigned char *dec = malloc(100003 + 3);
    const char *b64 = json_string_value(json_object_get(d1, "b64_json"));
    CHECK(b64 && b64_decode(b64, dec) == 100003 && !memcmp(dec, big, 100003));
    CHECK(json_object_size(d2) == 2 && json_str_is(d2, "url", imgs[2].url) && json_str_is(d2, "revised_prompt", "r"));
    check_usage_json(json_object_get(root, "usage"), &u);
    json_decref(root);
    ig_api_buf_free(&buf);
    CHECK(buf.data == NULL && buf.len == 0);

    /* base64 padding, every remainder */
    static const char *const pad[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (int i = 0; i < 7; i++) {
        ig_api_image one = {.bytes = pad[i][0], .n_bytes = strlen(pad[i][0])};
        ig_api_result r1 = res;
        r1.images = &one, r1.n_images = 1, r1.usage = NULL;
        CHECK(ig_api_write_response(&r1, ig_api_buf_sink, &buf) == IG_OK);
        root = json_loads(buf.data, 0, NULL);
        CHECK(json_str_is(json_array_get(json_object_get(root, "data"), 0), "b64_json", pad[i][1]));
        CHECK(json_object_get(root, "usage") == NULL && json_object_size(root) == 6); /* usage NULL: left out */
        json_decref(root);
        ig_api_buf_free(&buf);
    }
    /* no images: data is [] */
    ig_api_result r0 = res;
    r0.images = NULL, r0.n_images = 0;
    CHECK(ig_api_write_response(&r0, ig_api_buf_sink, &buf) == IG_OK && strstr(buf.data, "\"data\":[]"));
    ig_api_buf_free(&buf);

    /* a caller's mistake writes nothing */
    ig_api_result bad = res;
    bad.background = IG_BACKGROUND_AUTO;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID && buf.len == 0);
    bad = res, bad.quality = IG_QUALITY_AUTO;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID);
    bad = res, bad.quality = IG_QUALITY_HD;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID);
    bad = res, bad.width = 0;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID);
    bad = res, bad.output_format = (ig_output_format)9;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID);
    bad = res, bad.images = NULL;
    CHECK(ig_api_write_response(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID);
    CHECK(ig_api_write_response(NULL, ig_api_buf_sink, &buf) == IG_ERR_INVALID && buf.len == 0);
    CHECK(ig_api_write_response(&res, NULL, &buf) == IG_ERR_INVALID);

    /* a sink that fails (client gone) stops the writer: its status comes back, no more calls */
    budget b = {.left = 10000};
    CHECK(ig_api_write_response(&res, budget_sink, &b) == IG_ERR_IO);
    CHECK(b.calls >= 2 && b.calls <= 4);
    b = (budget){.left = 0};
    CHECK(ig_api_write_response(&res, budget_sink, &b) == IG_ERR_IO && b.calls == 1);
    free(dec);
    free(big);
}

/* Splits one SSE frame into its event name and its data JSON; false when the framing is wrong. */
static json_t *parse_frame(const char *frame, const char *want_event) {
    char head[128];
    snprintf(head, sizeof head, "event: %s\ndata: ", want_event);
    size_t n = strlen(frame), h = strlen(head);
    AT(__LINE__);
    if (strncmp(frame, head, h) || n < h + 2 || strcmp(frame + n - 2, "\n\n")) return NULL;
    if (memchr(frame + h, '\n', n - h - 2)) return NULL; /* data must be one line */
    return json_loadb(frame + h, n - h - 2, JSON_REJECT_DUPLICATES, NULL);
}

static void test_events(void) {
    ig_api_buf buf = {0};
    ig_api_usage u = ig_api_usage_make(10, IG_QUALITY_LOW, 1024, 1536, 1);
    ig_api_event ev = {.type = IG_API_EVENT_PARTIAL_IMAGE, .bytes = "fo", .n_bytes = 2, .created_at = 1700000000,
                       .background = IG_BACKGROUND_OPAQUE, .output_format = IG_OUTPUT_FORMAT_PNG,
                       .quality = IG_QUALITY_LOW, .width = 1024, .height = 1536, .partial_image_index = 2, .usage = &u};
    CHECK(ig_api_write_event(&ev, ig_api_buf_sink, &buf) == IG_OK);
    CHECK(!strcmp(buf.data, "event: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\","
                            "\"b64_json\":\"Zm8=\",\"background\":\"opaque\",\"created_at\":1700000000,\"output_format\":"
                            "\"png\",\"partial_image_index\":2,\"quality\":\"low\",\"size\":\"1024x1536\"}\n\n"));
    json_t *d = parse_frame(buf.data, "image_generation.partial_image");
    CHECK(d && json_object_size(d) == 8 && json_str_is(d, "type", "image_generation.partial_image"));
    CHECK(json_str_is(d, "b64_json", "Zm8=") && json_str_is(d, "background", "opaque") &&
          json_int_is(d, "created_at", 1700000000) && json_str_is(d, "output_format", "png") &&
          json_int_is(d, "partial_image_index", 2) && json_str_is(d, "quality", "low") &&
          json_str_is(d, "size", "1024x1536") && !json_object_get(d, "usage"));
    json_decref(d);
    ig_api_buf_free(&buf);

    /* completed: no partial_image_index, usage included; a big image crosses many flushes */
    unsigned char *img = malloc(50001);
    for (int i = 0; i < 50001; i++) img[i] = (unsigned char)(i * 7 + 3);
    ev.type = IG_API_EVENT_COMPLETED, ev.bytes = img, ev.n_bytes = 50001, ev.background = IG_BACKGROUND_TRANSPARENT,
    ev.output_format = IG_OUTPUT_FORMAT_WEBP;
    CHECK(ig_api_write_event(&ev, ig_api_buf_sink, &buf) == IG_OK);
    d = parse_frame(buf.data, "image_generation.completed");
    CHECK(d && json_object_size(d) == 8 && json_str_is(d, "type", "image_generation.completed"));
    CHECK(!json_object_get(d, "partial_image_index") && json_str_is(d, "background", "transparent") &&
          json_str_is(d, "output_format", "webp") && json_str_is(d, "quality", "low") &&
          json_int_is(d, "created_at", 1700000000) && json_str_is(d, "size", "1024x1536"));
    unsigned char *dec = malloc(50001 + 3);
    const char *b64 = json_string_value(json_object_get(d, "b64_json"));
    CHECK(b64 && b64_decode(b64, dec) == 50001 && !memcmp(dec, img, 50001));
    check_usage_json(json_object_get(d, "usage"), &u);
    CHECK(json_int_is(json_object_get(d, "usage"), "output_tokens", 408));
    json_decref(d);
    ig_api_buf_free(&buf);
    /* completed without usage */
    ev.usage = NULL, ev.n_bytes = 3;
    CHECK(ig_api_write_event(&ev, ig_api_buf_sink, &buf) == IG_OK);
    d = parse_frame(buf.data, "image_generation.completed");
    CHECK(d && json_object_size(d) == 7 && !json_object_get(d, "usage"));
    json_decref(d);
    ig_api_buf_free(&buf);
    /* wrong metadata or type writes nothing */
    ig_api_event bad = ev;
    bad.background = IG_BACKGROUND_AUTO;
    CHECK(ig_api_write_event(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID && buf.len == 0);
    bad = ev, bad.type = (ig_api_event_type)7;
    CHECK(ig_api_write_event(&bad, ig_api_buf_sink, &buf) == IG_ERR_INVALID && buf.len == 0);
    budget b = {.left = 100};
    CHECK(ig_api_write_event(&ev, budget_sink, &b) == IG_ERR_IO && b.calls == 1);

    /* error event: {"type":"error","error":{...}} as both openai 6.x and 7.x throw on it */
    ig_api_error e = {0};
    ig_api_error_set(&e, IG_API_ERR_SERVER, NULL, NULL, "The sampler \"failed\"\nat step 3");
    CHECK(ig_api_write_error_event(&e, ig_api_buf_sink, &buf) == IG_OK);
    d = parse_frame(buf.data, "error");
    json_t *err = json_object_get(d, "error");
    CHECK(d && json_object_size(d) == 2 && json_str_is(d, "type", "error"));
    CHECK(json_is_object(err) && json_object_size(err) == 4 && json_str_is(err, "message", e.message) &&
          json_str_is(err, "type", "server_error") && json_is_null(json_object_get(err, "param")) &&
          json_is_null(json_object_get(err, "code")));
    json_decref(d);
    ig_api_buf_free(&buf);
    ig_api_error m = {0};
    ig_api_error_set(&m, IG_API_ERR_MODERATION, "prompt", NULL, "Your request was rejected by the safety system.");
    CHECK(ig_api_write_error_event(&m, ig_api_buf_sink, &buf) == IG_OK);
    d = parse_frame(buf.data, "error");
    err = json_object_get(d, "error");
    CHECK(json_str_is(err, "type", "image_generation_user_error") && json_str_is(err, "code", "moderation_blocked") &&
          json_str_is(err, "param", "prompt"));
    json_decref(d);
    ig_api_buf_free(&buf);
    CHECK(ig_api_write_error_event(&m, NULL, NULL) == IG_ERR_INVALID);
    b = (budget){.left = 10};
    CHECK(ig_api_write_error_event(&m, budget_sink, &b) == IG_ERR_IO && b.calls == 1);
    free(dec);
    free(img);
}

/* A request parsed, then answered: what a server does with both halves. */
static void test_round_trip(void) {
    ig_request r;
    if (!PARSE("{\"model\":\"gpt-image-1\",\"prompt\":\"A cute baby sea otter floating on its back in calm blue water\"}",
               &r))
        return;
    ig_api_usage u = ig_api_usage_make(12, r.quality_tier, r.width, r.height, r.n);
    ig_api_image img = {.bytes = "\x89PNG", .n_bytes = 4, .revised_prompt = r.prompt};
    ig_api_result res = {.created = 1677649456, .background = IG_BACKGROUND_OPAQUE, .output_format = r.output_format,
                         .quality = r.quality_tier, .width = r.width, .height = r.height, .images = &img,
                         .n_images = 1, .usage = &u};
    ig_api_buf buf = {0};
    CHECK(ig_api_write_response(&res, ig_api_buf_sink, &buf) == IG_OK);
    json_t *root = json_loads(buf.data, 0, NULL);
    /* Gradient's example answer: opaque, png, high, 1024x1024, 12 + 4160 = 4172 tokens */
    CHECK(json_str_is(root, "background", "opaque") && json_str_is(root, "output_format", "png") &&
          json_str_is(root, "quality", "high") && json_str_is(root, "size", "1024x1024"));
    json_t *usage = json_object_get(root, "usage");
    CHECK(json_int_is(usage, "input_tokens", 12) && json_int_is(usage, "output_tokens", 4160) &&
          json_int_is(usage, "total_tokens", 4172));
    CHECK(json_str_is(json_array_get(json_object_get(root, "data"), 0), "revised_prompt", r.prompt));
    json_decref(root);
    ig_api_buf_free(&buf);
    ig_request_clear(&r);
}

int main(void) {
    test_seed();
    test_defaults();
    test_prompt();
    test_model();
    test_n();
    test_output_compression_partial_images();
    test_size();
    test_enums();
    test_stream_user();
    test_body();
    test_errors();
    test_usage();
    test_response();
    test_events();
    test_round_trip();
    return test_finish("test_api");
}
