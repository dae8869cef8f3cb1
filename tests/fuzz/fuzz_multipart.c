/* fuzz_multipart.c — libFuzzer harness for api/multipart.c and api/edits.c: edits/variations bodies.
 *
 * Each input is "CONTENT-TYPE\n" + body (so the boundary parameter is fuzzed too; without a newline the
 * whole input is the body under "multipart/form-data; boundary=XyZ"). It is framed by
 * ig_multipart_parse, then parsed as an edits and as a variations request. Checked, with abort():
 *   framing: on success 1..IG_MP_MAX_PARTS parts, each inside the body, names NUL-terminated and
 *            non-empty; on failure n_parts 0 and a 400 invalid_multipart error;
 *   requests: on success a decoded image within IG_IMAGE_MAX_DIM and the pixel budget, a mask of the
 *            image's size, 1..16 input images, strength in [0, 1], a prompt; on failure *out zeroed
 *            and a 400/404/413/500 error whose body is JSON-serialisable.
 * Build and run: make fuzz / make fuzz-run FUZZ_ONLY=multipart (tests/fuzz/fuzz.mk).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/edits.h"
#include "api/multipart.h"
#include "image/image.h"

static const ig_api_model models_tab[] = {{"sd15", 512, 512}};
static const ig_api_alias aliases_tab[] = {{"dall-e-2", 0}};
static const ig_api_models M = {models_tab, 1, aliases_tab, 1, 0};

#define REQUIRE(cond)                                                                                     \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "fuzz_multipart: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                                      \
        }                                                                                                 \
    } while (0)

static void check_request(ig_api_route route, const char *ct, const uint8_t *body, size_t len) {
    ig_request r;
    ig_api_error e = {0};
    ig_status st = ig_api_parse_edit(route, ct, body, len, NULL, &M, &r, &e);
    if (st == IG_OK) {
        REQUIRE(e.http_status == 0);
        REQUIRE(r.image && r.image->width >= 1 && r.image->width <= IG_IMAGE_MAX_DIM && r.image->height >= 1);
        REQUIRE((int64_t)r.image->width * r.image->height <= IG_API_MAX_INPUT_PIXELS);
        REQUIRE(!r.mask || (r.mask->width == r.image->width && r.mask->height == r.image->height));
        REQUIRE(!r.mask || route == IG_API_ROUTE_EDITS);
        REQUIRE(r.n_input_images >= 1 && r.n_input_images <= IG_API_MAX_IMAGES);
        REQUIRE(r.strength >= 0 && r.strength <= 1 && r.prompt);
        REQUIRE(r.width >= 64 && r.width <= 2048 && r.height >= 64 && r.height <= 2048 && r.width % 8 == 0 && r.height % 8 == 0);
        REQUIRE(r.n >= 1 && r.n <= 10 && r.route == route);
        ig_request_clear(&r);
    } else {
        static const ig_request zero;
        REQUIRE(!memcmp(&r, &zero, sizeof r));
        REQUIRE(e.http_status == 400 || e.http_status == 404 || e.http_status == 413 || e.http_status == 500);
        char buf[IG_API_ERROR_JSON_MAX];
        REQUIRE(ig_api_error_body_json(&e, buf, sizeof buf) < sizeof buf);
    }
    ig_request_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ig_multipart mp;
    char ct[256] = "multipart/form-data; boundary=XyZ", boundary[IG_MP_BOUNDARY_MAX + 1];
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200), *body = data;
    size_t len = size;
    if (nl) {
        memcpy(ct, data, (size_t)(nl - data));
        ct[nl - data] = 0;
        body = nl + 1, len = size - (size_t)(nl - data) - 1;
    }
    ig_api_error e = {0};
    if (ig_multipart_boundary(ct, boundary, &e) == IG_OK) {
        REQUIRE(boundary[0] && strlen(boundary) <= IG_MP_BOUNDARY_MAX);
        ig_api_error e2 = {0};
        if (ig_multipart_parse(body, len, boundary, &mp, &e2) == IG_OK) {
            REQUIRE(mp.n_parts >= 1 && mp.n_parts <= IG_MP_MAX_PARTS);
            for (int i = 0; i < mp.n_parts; i++) {
                const ig_mp_part *p = &mp.parts[i];
                REQUIRE(p->name[0] && memchr(p->name, 0, sizeof p->name));
                REQUIRE(p->data >= body && p->data + p->len <= body + len);
            }
        } else {
            REQUIRE(mp.n_parts == 0 && e2.http_status == 400 && !strcmp(e2.code, "invalid_multipart"));
        }
    } else {
        REQUIRE(e.http_status == 400);
    }
    check_request(IG_API_ROUTE_EDITS, ct, body, len);
    check_request(IG_API_ROUTE_VARIATIONS, ct, body, len);
    return 0;
}
