/* edits.c — the multipart bodies of /v1/images/edits and /v1/images/variations (rules: edits.h).
 *
 * Owns: sorting parts into images, mask and text fields, typing the text fields into a JSON object for
 * request.c's validators (one set of rules and messages for both body kinds), decoding the inputs, the
 * input-dependent defaults. Leaves to others: framing (multipart.c), field rules (request.c), pixels
 * (image/).
 */
#include "api/edits.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"
#include "common.h"
#include "image/image.h"

/* Valid UTF-8 without NUL bytes (what a JSON string of the same field could hold). */
static bool valid_text(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = s[i] ? ig__api_utf8_char_len(s + i, n - i) : 0;
        if (!k) return false;
        i += k;
    }
    return true;
}

/* A text part as the JSON value its field's kind wants; a string when it does not parse (the validator
 * then names the type), NULL when out of memory. */
static json_t *typed_value(const char *text, size_t len, char kind) {
    char buf[64];
    if (kind && kind != 's' && len < sizeof buf) {
        memcpy(buf, text, len), buf[len] = 0;
        if (kind == 'b' && (!strcmp(buf, "true") || !strcmp(buf, "false"))) return json_boolean(buf[0] == 't');
        const bool numeric = len && strspn(buf, kind == 'i' ? "-0123456789" : "-+0123456789.eE") == len;
        if (numeric) {
            char *end;
            errno = 0;
            if (kind == 'i') {
                long long v = strtoll(buf, &end, 10);
                if (!*end && end != buf && !errno) return json_integer(v);
                double d = strtod(buf, &end); /* too long for 64 bits: a real, which gets the range message */
                if (!*end && end != buf && isfinite(d)) return json_real(d);
            } else {
                double d = strtod(buf, &end);
                if (!*end && end != buf && isfinite(d)) return json_real(d);
            }
        }
    }
    return json_stringn_nocheck(text, len);
}

static bool is_image_name(const char *n) { return !strcmp(n, "image") || !strcmp(n, "image[]"); }

/* The size "auto" means for an input of w x h (edits.h). */
static void auto_size(int w, int h, const ig_api_limits *lim, int *ow, int *oh) {
    const int lo = lim && lim->min_side > 0 ? lim->min_side : 64, hi = lim && lim->max_side > 0 ? lim->max_side : 2048;
    const int64_t max_px = lim && lim->max_pixels > 0 ? lim->max_pixels : (int64_t)hi * hi;
    double s = 1;
    if (IG_MAX(w, h) * s > hi) s = (double)hi / IG_MAX(w, h);
    if ((double)w * h * s * s > (double)max_px) s = sqrt((double)max_px / ((double)w * h));
    if (IG_MIN(w, h) * s < lo) s = (double)lo / IG_MIN(w, h);
    int rw = (int)(w * s / 8 + 0.5) * 8, rh = (int)(h * s / 8 + 0.5) * 8;
    *ow = IG_MIN(IG_MAX(rw, lo), hi);
    *oh = IG_MIN(IG_MAX(rh, lo), hi);
}

ig_status ig_api_parse_edit(ig_api_route route, const char *content_type, const void *body, size_t len,
                            const ig_api_limits *limits, const ig_api_models *models, ig_request *out,
                            ig_api_error *error) {
    ig_api_limits lim = limits ? *limits : (ig_api_limits){0};
    ig_multipart *mp = NULL;
    json_t *root = NULL;
    ig_status st = IG_OK;
    char boundary[IG_MP_BOUNDARY_MAX + 1];
    const ig_mp_part *images[IG_API_MAX_IMAGES], *mask = NULL;
    int n_images = 0;
    bool bracketed = false, plain = false;
    ig_err err = {0};
    IG_ASSERT(out && (route == IG_API_ROUTE_EDITS || route == IG_API_ROUTE_VARIATIONS));
    memset(out, 0, sizeof *out);
    if (!lim.max_body_bytes) lim.max_body_bytes = IG_API_MAX_EDIT_BODY_BYTES;
    if (len > lim.max_body_bytes) {
        st = ig_api_error_set(error, IG_API_ERR_TOO_LARGE, NULL, NULL,
                              "The request body is %zu bytes; this server accepts at most %zu.", len, lim.max_body_bytes);
        goto done;
    }
    if ((st = ig_multipart_boundary(content_type, boundary, error))) goto done;
    if (!(mp = malloc(sizeof *mp)) || !(root = json_object())) goto nomem;
    if ((st = ig_multipart_parse(body, len, boundary, mp, error))) goto done;

    for (int i = 0; i < mp->n_parts; i++) {
        const ig_mp_part *part = &mp->parts[i];
        const char *name = part->name;
        if (is_image_name(name)) {
            const bool br = name[5] == '[';
            if ((br && plain) || (!br && (plain || bracketed))) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "duplicate_parameter",
                                      br ? "Duplicate parameter: 'image' and 'image[]' in one request; send one "
                                           "image as 'image', or several as 'image[]'."
                                         : "Duplicate parameter: 'image' appears more than once; send several "
                                           "images as 'image[]'.");
                goto done;
            }
            bracketed |= br, plain |= !br;
            if (n_images == IG_API_MAX_IMAGES) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "too_many_images",
                                      "Invalid 'image': more than %d images; send at most %d.", IG_API_MAX_IMAGES,
                                      IG_API_MAX_IMAGES);
                goto done;
            }
            if (route == IG_API_ROUTE_VARIATIONS && br) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "invalid_value",
                                      "Invalid 'image': /v1/images/variations takes one image, as 'image'.");
                goto done;
            }
            images[n_images++] = part;
        } else if (!strcmp(name, "mask") && route == IG_API_ROUTE_EDITS) {
            if (mask) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "mask", "duplicate_parameter",
                                      "Duplicate parameter: 'mask' appears more than once in the request body.");
                goto done;
            }
            mask = part;
        } else {
            char shown[72];
            ig__api_clip(shown, sizeof shown, name);
            if (json_object_get(root, name)) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, name, "duplicate_parameter",
                                      "Duplicate parameter: '%s' appears more than once in the request body.", shown);
                goto done;
            }
            const char kind = ig__api_field_kind(name, route);
            if (!kind) { /* not taken here: request.c names it as the unknown parameter it is */
                if (json_object_set_new(root, name, json_null())) goto nomem;
                continue;
            }
            if (!valid_text(part->data, part->len)) {
                st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, name, "invalid_value",
                                      "Invalid '%s': the value is not valid UTF-8 text without NUL bytes.", shown);
                goto done;
            }
            json_t *v = typed_value(part->len ? (const char *)part->data : "", part->len, kind);
            if (!v || json_object_set_new(root, name, v)) goto nomem;
        }
    }
    if ((st = ig__api_parse_fields(root, route, &lim, models, out, error))) goto done;
    if (!n_images) {
        st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "missing_required_parameter",
                              "Missing required parameter: 'image' (a PNG, JPEG or WebP file part).");
        goto done;
    }
    for (int k = 0; k < n_images; k++) {
        ig_format f;
        int w, h;
        if (images[k]->len > IG_API_MAX_IMAGE_BYTES) {
            st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "image_too_large",
                                  "Invalid 'image': image %d is %zu bytes; each image may be at most %zu bytes (50 MiB).",
                                  k + 1, images[k]->len, IG_API_MAX_IMAGE_BYTES);
            goto done;
        }
        if (ig_image_probe(images[k]->data, images[k]->len, IG_API_MAX_INPUT_PIXELS, &f, &w, &h, &err)) {
            st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "invalid_image",
                                  "Invalid 'image'%s: %s.", n_images > 1 ? " (one of the images)" : "", err.msg);
            goto done;
        }
    }
    if (mask && mask->len > IG_API_MAX_IMAGE_BYTES) {
        st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "mask", "image_too_large",
                              "Invalid 'mask': %zu bytes; at most %zu (50 MiB).", mask->len, IG_API_MAX_IMAGE_BYTES);
        goto done;
    }
    if (ig_image_decode(images[0]->data, images[0]->len, IG_API_MAX_INPUT_PIXELS, &out->image, &err)) {
        st = err.status == IG_ERR_NOMEM
                 ? ig_api_error_set(error, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory decoding the image.")
                 : ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "image", "invalid_image", "Invalid 'image': %s.",
                                    err.msg);
        goto done;
    }
    if (mask) {
        if (ig_image_decode(mask->data, mask->len, IG_API_MAX_INPUT_PIXELS, &out->mask, &err)) {
            st = err.status == IG_ERR_NOMEM ? ig_api_error_set(error, IG_API_ERR_SERVER, NULL, "out_of_memory",
                                                               "Out of memory decoding the mask.")
                                            : ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "mask", "invalid_image",
                                                               "Invalid 'mask': %s.", err.msg);
            goto done;
        }
        if (out->mask->width != out->image->width || out->mask->height != out->image->height) {
            st = ig_api_error_set(error, IG_API_ERR_INVALID_REQUEST, "mask", "invalid_value",
                                  "Invalid 'mask': it is %dx%d, but the image is %dx%d; the mask must have the "
                                  "image's size.",
                                  out->mask->width, out->mask->height, out->image->width, out->image->height);
            goto done;
        }
    }
    out->n_input_images = n_images;
    if (!out->prompt && !(out->prompt = calloc(1, 1))) { /* variations: no prompt */
        st = ig_api_error_set(error, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory.");
        goto done;
    }
    if (!out->has_strength)
        out->strength = route == IG_API_ROUTE_VARIATIONS ? IG_API_STRENGTH_VARIATION
                        : mask ? (out->input_fidelity == IG_INPUT_FIDELITY_HIGH ? IG_API_STRENGTH_INPAINT_HIGH
                                                                               : IG_API_STRENGTH_INPAINT_LOW)
                               : (out->input_fidelity == IG_INPUT_FIDELITY_HIGH ? IG_API_STRENGTH_EDIT_HIGH
                                                                               : IG_API_STRENGTH_EDIT_LOW);
    if (out->size_auto) auto_size(out->image->width, out->image->height, &lim, &out->width, &out->height);
    goto done;
nomem:
    st = ig_api_error_set(error, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory reading the body.");
done:
    json_decref(root);
    free(mp);
    if (st) ig_request_clear(out);
    return st;
}
