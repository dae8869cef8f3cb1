/* test_edits.c — api/multipart.c, api/edits.c, image/decode.c and the extension fields of request.c.
 *
 * Multipart bodies are built here by hand (CRLF framing as curl and undici write it); images come from
 * our own encoders, so a decoder is checked against pixels it must give back exactly (PNG, lossless
 * WebP) or within JPEG's error. Every refusal names its param and code, as cases.sh does over HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/edits.h"
#include "api/multipart.h"
#include "image/image.h"
#include "test.h"

static const ig_api_model models_tab[] = {{"sd15", 512, 512}};
static const ig_api_alias aliases_tab[] = {{"dall-e-2", 0}};
static const ig_api_models M = {models_tab, 1, aliases_tab, 1, 0};

/* ---- a body builder ------------------------------------------------------------------------------ */

typedef struct body {
    char *d;
    size_t n, cap;
} body;

static void put(body *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
    b->d[b->n] = 0;
}
static void puts_(body *b, const char *s) { put(b, s, strlen(s)); }
static void field(body *b, const char *name, const char *value) {
    char h[512];
    snprintf(h, sizeof h, "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", name);
    puts_(b, h);
    puts_(b, value);
    puts_(b, "\r\n");
}
static void file(body *b, const char *name, const void *data, size_t n) {
    char h[512];
    snprintf(h, sizeof h, "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n", name);
    puts_(b, h);
    put(b, data, n);
    puts_(b, "\r\n");
}
static void end(body *b) { puts_(b, "--XyZ--\r\n"); }

static ig_bytebuf encode(int w, int h, int ch, ig_format f, int q, unsigned char base) {
    ig_image *img = NULL;
    ig_err err = {0};
    ig_bytebuf out = {0};
    CHECK(ig_image_new(&img, w, h, ch, &err) == IG_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * ch; x++) img->pixels[(size_t)y * img->stride + x] = (unsigned char)(base + x * 3 + y * 7);
    CHECK(ig_image_encode(img, f, q, ig_bytebuf_sink, &out, &err) == IG_OK);
    ig_image_free(img);
    return out;
}

#define CT "multipart/form-data; boundary=XyZ"

static int edit_err(ig_api_route route, const char *ct, const body *b, int status, const char *param, const char *code) {
    ig_request r;
    ig_api_error e = {0};
    ig_status st = ig_api_parse_edit(route, ct, b->d, b->n, NULL, &M, &r, &e);
    int ok = st != IG_OK && e.http_status == status && !strcmp(e.param, param) && !strcmp(e.code, code) && !r.image;
    if (!ok) printf("  got %d param='%s' code='%s': %s\n", e.http_status, e.param, e.code, e.message);
    return ok;
}

/* ---- multipart framing --------------------------------------------------------------------------- */

static void test_boundary(void) {
    char b[IG_MP_BOUNDARY_MAX + 1];
    ig_api_error e = {0};
    CHECK(ig_multipart_boundary("multipart/form-data; boundary=abc", b, &e) == IG_OK && !strcmp(b, "abc"));
    CHECK(ig_multipart_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b, &e) == IG_OK &&
          !strcmp(b, "a b:c"));
    CHECK(ig_multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundaryq2", b, &e) == IG_OK);
    const char *bad[] = {NULL, "", "application/json", "multipart/form-data", "multipart/form-data; boundary=",
                         "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary=\"abc",
                         "multipart/form-data; boundary=a; boundary=b", "multipart/form-dataX; boundary=a",
                         "multipart/form-data; boundary=\"trailing \"",
                         "multipart/form-data; boundary=01234567890123456789012345678901234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ig_api_error e2 = {0};
        CHECK(ig_multipart_boundary(bad[i], b, &e2) == IG_ERR_INVALID && e2.http_status == 400 &&
              !strcmp(e2.code, "invalid_content_type"));
    }
}

static void test_framing(void) {
    static ig_multipart mp;
    ig_api_error e = {0};
    const char *ok = "preamble\r\n--XyZ  \r\ncontent-disposition: form-data; name=prompt\r\nX-Other: 1\r\n\r\na\r\n--b\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"we\\\"ird\"; filename=\"\"\r\nContent-Type: "
                     "text/plain\r\n\r\n\r\n--XyZ--epilogue";
    CHECK(ig_multipart_parse(ok, strlen(ok), "XyZ", &mp, &e) == IG_OK && mp.n_parts == 2);
    CHECK(!strcmp(mp.parts[0].name, "prompt") && mp.parts[0].len == 6 && !memcmp(mp.parts[0].data, "a\r\n--b", 6));
    CHECK(!strcmp(mp.parts[1].name, "we\"ird") && mp.parts[1].is_file && mp.parts[1].len == 0 &&
          !strcmp(mp.parts[1].content_type, "text/plain"));
    struct { const char *body, *param; } bad[] = {
        {"", ""},
        {"no boundary here", ""},
        {"--XyZ--\r\n", ""},                                                             /* no parts */
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxx", "a"},           /* truncated */
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxx\r\n--XyZ", ""},     /* no close */
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n", "a"},                 /* ends in headers */
        {"--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--", ""},           /* bare LF */
        {"--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", ""},
        {"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", ""},                      /* no name */
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--", ""},     /* open quote */
        {"--XyZ\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--XyZ--", "a"},
        {"--XyZ\r\nno colon\r\n\r\nx\r\n--XyZ--", ""},
        {"--XyZx\r\n", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ig_api_error e2 = {0};
        ig_status st = ig_multipart_parse(bad[i].body, strlen(bad[i].body), "XyZ", &mp, &e2);
        CHECK(st == IG_ERR_INVALID && mp.n_parts == 0 && e2.http_status == 400 && !strcmp(e2.code, "invalid_multipart") &&
              !strcmp(e2.param, bad[i].param));
        if (st != IG_ERR_INVALID || strcmp(e2.param, bad[i].param)) printf("  case %zu: %s\n", i, e2.message);
    }
    /* 65 parts */
    body b = {0};
    for (int i = 0; i < IG_MP_MAX_PARTS + 1; i++) field(&b, "x", "1");
    end(&b);
    CHECK(ig_multipart_parse(b.d, b.n, "XyZ", &mp, &e) == IG_ERR_INVALID);
    free(b.d);
}

/* ---- decoders ---------------------------------------------------------------------------------- */

static void test_decode(void) {
    const struct { ig_format f; int ch, q, tol; } cases[] = {
        {IG_FORMAT_PNG, 3, 100, 0}, {IG_FORMAT_PNG, 4, 100, 0}, {IG_FORMAT_WEBP, 3, 100, 0},
        {IG_FORMAT_WEBP, 4, 100, 0}, {IG_FORMAT_JPEG, 3, 95, 40}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ig_bytebuf f = encode(37, 21, cases[i].ch, cases[i].f, cases[i].q, 10);
        ig_image *img = NULL, *ref = NULL;
        ig_err err = {0};
        ig_format fmt;
        int w, h, maxd = 0;
        CHECK(ig_image_probe(f.data, f.len, 0, &fmt, &w, &h, &err) == IG_OK && fmt == cases[i].f && w == 37 && h == 21);
        CHECK(ig_image_decode(f.data, f.len, 0, &img, &err) == IG_OK);
        CHECK(img && img->width == 37 && img->height == 21 && img->channels == cases[i].ch);
        CHECK(ig_image_new(&ref, 37, 21, cases[i].ch, &err) == IG_OK);
        for (int y = 0; img && y < 21; y++)
            for (int x = 0; x < 37 * cases[i].ch; x++) {
                const int a = x - x % cases[i].ch + 3; /* lossless WebP may change RGB under alpha 0 */
                if (cases[i].ch == 4 && (unsigned char)(10 + a * 3 + y * 7) == 0) continue;
                int d = abs(img->pixels[(size_t)y * img->stride + x] - (unsigned char)(10 + x * 3 + y * 7));
                if (d > maxd) maxd = d;
            }
        printf("  %s %d channels: max error %d (tolerance %d)\n", ig_format_name(cases[i].f), cases[i].ch, maxd, cases[i].tol);
        CHECK(maxd <= cases[i].tol);
        ig_image *over = NULL;
        CHECK(ig_image_decode(f.data, f.len, 100, &over, &err) == IG_ERR_INVALID && over == NULL); /* over the pixel budget */
        for (size_t cut = 1; cut < f.len; cut += f.len / 7 + 1) { /* truncated files fail cleanly (or decode what is there) */
            ig_image *t = NULL;
            ig_err e2 = {0};
            ig_status st = ig_image_decode(f.data, f.len - cut, 0, &t, &e2);
            CHECK(st == IG_OK ? t != NULL : t == NULL);
            ig_image_free(t);
        }
        ig_image_free(img), ig_image_free(ref), ig_bytebuf_free(&f);
    }
    /* a PNG header claiming 16383 x 16383 (a bomb: no pixel memory may be asked for) and 20000 wide */
    ig_bytebuf f = encode(8, 8, 3, IG_FORMAT_PNG, 100, 0);
    ig_image *img = NULL;
    ig_err err = {0};
    f.data[16] = 0, f.data[17] = 0, f.data[18] = 0x3f, f.data[19] = 0xff; /* IHDR width, CRC now wrong */
    CHECK(ig_image_decode(f.data, f.len, (int64_t)8192 * 8192, &img, &err) != IG_OK && !img);
    f.data[18] = 0x4e, f.data[19] = 0x20;
    CHECK(ig_image_decode(f.data, f.len, 0, &img, &err) != IG_OK && !img);
    ig_bytebuf_free(&f);
    CHECK(ig_image_decode("GIF89a....", 10, 0, &img, &err) == IG_ERR_INVALID && !img);
    CHECK(ig_image_decode(NULL, 0, 0, &img, &err) == IG_ERR_INVALID);
}

/* ---- edits and variations --------------------------------------------------------------------------- */

static void test_edits(void) {
    ig_bytebuf png = encode(96, 64, 3, IG_FORMAT_PNG, 100, 0), mask = encode(96, 64, 4, IG_FORMAT_PNG, 100, 0),
               small = encode(32, 32, 4, IG_FORMAT_PNG, 100, 0), jpg = encode(40, 30, 3, IG_FORMAT_JPEG, 90, 0);
    ig_request r;
    ig_api_error e = {0};
    body b = {0};

    /* one image: defaults, strength from input_fidelity, size auto from the input */
    file(&b, "image", png.data, png.len), field(&b, "prompt", "a hat"), end(&b);
    CHECK(ig_api_parse_edit(IG_API_ROUTE_EDITS, CT, b.d, b.n, NULL, &M, &r, &e) == IG_OK);
    CHECK(r.route == IG_API_ROUTE_EDITS && r.image && r.image->width == 96 && !r.mask && r.n_input_images == 1);
    CHECK(r.width == 96 && r.height == 64 && r.strength == IG_API_STRENGTH_EDIT_LOW && !strcmp(r.prompt, "a hat"));
    ig_request_clear(&r);
    free(b.d), b = (body){0};

    /* image[] list, mask, typed fields, extensions */
    file(&b, "image[]", png.data, png.len), file(&b, "image[]", jpg.data, jpg.len), file(&b, "mask", mask.data, mask.len);
    field(&b, "prompt", "a hat"), field(&b, "n", "2"), field(&b, "stream", "true"), field(&b, "partial_images", "1");
    field(&b, "input_fidelity", "high"), field(&b, "seed", "0"), field(&b, "steps", "7"), field(&b, "guidance_scale", "2.5");
    field(&b, "sampler", "euler_a"), field(&b, "size", "256x128"), field(&b, "output_format", "webp"), end(&b);
    CHECK(ig_api_parse_edit(IG_API_ROUTE_EDITS, CT, b.d, b.n, NULL, &M, &r, &e) == IG_OK);
    CHECK(r.n_input_images == 2 && r.mask && r.mask->channels == 4 && r.n == 2 && r.stream && r.partial_images == 1);
    CHECK(r.strength == IG_API_STRENGTH_INPAINT_HIGH && r.has_seed && r.seed == 0 && r.steps == 7 &&
          r.guidance_scale == 2.5f && r.has_sampler && r.sampler == IG_SAMPLER_EULER_A && r.width == 256 &&
          r.output_format == IG_OUTPUT_FORMAT_WEBP);
    ig_request_clear(&r);
    free(b.d), b = (body){0};

    /* variations: no prompt, strength 0.6, dall-e-2's url default */
    file(&b, "image", jpg.data, jpg.len), field(&b, "model", "dall-e-2"), field(&b, "strength", "0.25"), end(&b);
    CHECK(ig_api_parse_edit(IG_API_ROUTE_VARIATIONS, CT, b.d, b.n, NULL, &M, &r, &e) == IG_OK);
    CHECK(r.prompt && !*r.prompt && r.strength == 0.25f && r.response_format == IG_RESPONSE_FORMAT_URL);
    CHECK(r.width == 88 && r.height == 64); /* 40x30 scaled up to a 64 short side, multiples of 8 */
    ig_request_clear(&r);
    free(b.d), b = (body){0};
    file(&b, "image", jpg.data, jpg.len), end(&b);
    CHECK(ig_api_parse_edit(IG_API_ROUTE_VARIATIONS, CT, b.d, b.n, NULL, &M, &r, &e) == IG_OK &&
          r.strength == IG_API_STRENGTH_VARIATION);
    ig_request_clear(&r);
    free(b.d), b = (body){0};

    /* refusals */
#define REFUSE(route, build, status, param, code)                     \
    do {                                                              \
        build;                                                        \
        CHECK(edit_err(route, CT, &b, status, param, code));           \
        free(b.d), b = (body){0};                                     \
    } while (0)
    const ig_api_route ED = IG_API_ROUTE_EDITS, VA = IG_API_ROUTE_VARIATIONS;
    REFUSE(ED, (field(&b, "prompt", "x"), end(&b)), 400, "image", "missing_required_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), end(&b)), 400, "prompt", "missing_required_parameter");
    REFUSE(ED, (file(&b, "image", "hello", 5), field(&b, "prompt", "x"), end(&b)), 400, "image", "invalid_image");
    REFUSE(ED, (file(&b, "image", png.data, png.len / 2), field(&b, "prompt", "x"), end(&b)), 400, "image", "invalid_image");
    REFUSE(ED, (file(&b, "image", png.data, png.len), file(&b, "mask", small.data, small.len), field(&b, "prompt", "x"), end(&b)),
           400, "mask", "invalid_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), file(&b, "mask", "x", 1), field(&b, "prompt", "x"), end(&b)), 400, "mask",
           "invalid_image");
    REFUSE(ED, (file(&b, "image", png.data, png.len), file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), end(&b)),
           400, "image", "duplicate_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), file(&b, "image[]", png.data, png.len), field(&b, "prompt", "x"), end(&b)),
           400, "image", "duplicate_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "prompt", "y"), end(&b)), 400, "prompt",
           "duplicate_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), file(&b, "mask", mask.data, mask.len), file(&b, "mask", mask.data, mask.len),
                field(&b, "prompt", "x"), end(&b)),
           400, "mask", "duplicate_parameter");
    REFUSE(ED, ({ for (int i = 0; i < 17; i++) file(&b, "image[]", png.data, png.len); field(&b, "prompt", "x"); end(&b); }), 400,
           "image", "too_many_images");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "n", "two"), end(&b)), 400, "n",
           "invalid_type");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "n", "11"), end(&b)), 400, "n",
           "integer_above_max_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "strength", "1.5"), end(&b)), 400,
           "strength", "decimal_above_max_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "input_fidelity", "max"), end(&b)), 400,
           "input_fidelity", "invalid_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "style", "vivid"), end(&b)), 400, "style",
           "unknown_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "foo", "1"), end(&b)), 400, "foo",
           "unknown_parameter");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x\xff"), end(&b)), 400, "prompt", "invalid_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), field(&b, "stream", "yes"), end(&b)), 400, "stream",
           "invalid_type");
    REFUSE(VA, (file(&b, "image", png.data, png.len), field(&b, "prompt", "x"), end(&b)), 400, "prompt", "unknown_parameter");
    REFUSE(VA, (file(&b, "image", png.data, png.len), file(&b, "mask", mask.data, mask.len), end(&b)), 400, "mask",
           "unknown_parameter");
    REFUSE(VA, (file(&b, "image[]", png.data, png.len), end(&b)), 400, "image", "invalid_value");
    REFUSE(ED, (file(&b, "image", png.data, png.len), puts_(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx")),
           400, "prompt", "invalid_multipart");
    /* no boundary, or not multipart at all */
    puts_(&b, "{\"prompt\":\"x\"}");
    CHECK(edit_err(ED, "application/json", &b, 400, "", "invalid_content_type"));
    CHECK(edit_err(ED, "multipart/form-data", &b, 400, "", "invalid_content_type"));
    CHECK(edit_err(ED, NULL, &b, 400, "", "invalid_content_type"));
    free(b.d), b = (body){0};

    /* an image over 50 MiB: 400 naming image (a body over the whole limit is a 413) */
    {
        size_t big = IG_API_MAX_IMAGE_BYTES + 1;
        char *blob = malloc(big);
        memcpy(blob, png.data, png.len);
        memset(blob + png.len, 0, big - png.len);
        file(&b, "image", blob, big), field(&b, "prompt", "x"), end(&b);
        CHECK(edit_err(ED, CT, &b, 400, "image", "image_too_large"));
        ig_api_limits lim = {.max_body_bytes = 1000};
        ig_api_error e2 = {0};
        CHECK(ig_api_parse_edit(ED, CT, b.d, b.n, &lim, &M, &r, &e2) == IG_ERR_INVALID && e2.http_status == 413);
        free(blob), free(b.d), b = (body){0};
    }
    ig_bytebuf_free(&png), ig_bytebuf_free(&mask), ig_bytebuf_free(&small), ig_bytebuf_free(&jpg);
}

/* ---- the extension fields on generations --------------------------------------------------------- */

static void test_extensions(void) {
    ig_request r;
    ig_api_error e = {0};
    const char *ok = "{\"prompt\":\"p\",\"seed\":9007199254740991,\"negative_prompt\":\"\",\"steps\":150,"
                     "\"guidance_scale\":0,\"sampler\":\"lcm\"}";
    CHECK(ig_api_parse_request(ok, strlen(ok), NULL, &M, &r, &e) == IG_OK);
    CHECK(r.has_seed && r.seed == 9007199254740991ULL && r.negative_prompt && !*r.negative_prompt && r.steps == 150 &&
          r.has_guidance && r.guidance_scale == 0 && r.has_sampler && r.sampler == IG_SAMPLER_LCM && !r.image);
    ig_request_clear(&r);
    const char *ok2 = "{\"prompt\":\"p\",\"seed\":null,\"steps\":2.0}";
    CHECK(ig_api_parse_request(ok2, strlen(ok2), NULL, &M, &r, &e) == IG_OK && !r.has_seed && r.steps == 2);
    ig_request_clear(&r);
    struct { const char *body, *param, *code; } bad[] = {
        {"{\"prompt\":\"p\",\"seed\":-1}", "seed", "integer_below_min_value"},
        {"{\"prompt\":\"p\",\"seed\":9007199254740992}", "seed", "integer_above_max_value"},
        {"{\"prompt\":\"p\",\"seed\":\"42\"}", "seed", "invalid_type"},
        {"{\"prompt\":\"p\",\"seed\":1.5}", "seed", "invalid_type"},
        {"{\"prompt\":\"p\",\"steps\":0}", "steps", "integer_below_min_value"},
        {"{\"prompt\":\"p\",\"steps\":151}", "steps", "integer_above_max_value"},
        {"{\"prompt\":\"p\",\"guidance_scale\":-0.5}", "guidance_scale", "decimal_below_min_value"},
        {"{\"prompt\":\"p\",\"guidance_scale\":30.5}", "guidance_scale", "decimal_above_max_value"},
        {"{\"prompt\":\"p\",\"guidance_scale\":\"7\"}", "guidance_scale", "invalid_type"},
        {"{\"prompt\":\"p\",\"sampler\":\"ddim\"}", "sampler", "invalid_value"},
        {"{\"prompt\":\"p\",\"negative_prompt\":5}", "negative_prompt", "invalid_type"},
        {"{\"prompt\":\"p\",\"strength\":0.5}", "strength", "unknown_parameter"},
        {"{\"prompt\":\"p\",\"input_fidelity\":\"low\"}", "input_fidelity", "unknown_parameter"},
        {"{\"prompt\":\"p\",\"seed\":1,\"seed\":2}", "seed", "duplicate_parameter"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ig_api_error e2 = {0};
        ig_status st = ig_api_parse_request(bad[i].body, strlen(bad[i].body), NULL, &M, &r, &e2);
        CHECK(st == IG_ERR_INVALID && !strcmp(e2.param, bad[i].param) && !strcmp(e2.code, bad[i].code));
        if (st != IG_ERR_INVALID || strcmp(e2.code, bad[i].code)) printf("  %s: %s %s\n", bad[i].body, e2.code, e2.message);
    }
}

int main(void) {
    test_boundary();
    test_framing();
    test_decode();
    test_edits();
    test_extensions();
    return test_finish("test_edits");
}
