/* convert.c — the ig_image type (allocation, checks), the byte-buffer sink, float ⇄ 8-bit pixel
 * conversion with diffusers' exact rounding, and the format dispatcher over png.c jpeg.c webp.c.
 * Leaves to others: resampling (resize.c), keying (alpha.c), the codecs themselves. */
#include "image/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The header sits in the first cache line of the block, the pixels start at the second. */
#define HEADER_BYTES 64

ig_status ig_image_new(ig_image **out, int width, int height, int channels, ig_err *err) {
    *out = NULL;
    if (width <= 0 || height <= 0 || width > IG_IMAGE_MAX_DIM || height > IG_IMAGE_MAX_DIM)
        return ig__fail(err, IG_ERR_INVALID, "image size %dx%d outside 1..%d", width, height, IG_IMAGE_MAX_DIM);
    if (channels != 3 && channels != 4)
        return ig__fail(err, IG_ERR_INVALID, "image has %d channels; 3 (RGB) or 4 (RGBA) expected", channels);
    size_t stride = (size_t)width * (size_t)channels;
    uint8_t *block = ig__alloc(HEADER_BYTES + stride * (size_t)height);
    if (!block)
        return ig__fail(err, IG_ERR_NOMEM, "out of memory for a %dx%dx%d image", width, height, channels);
    _Static_assert(sizeof(ig_image) <= HEADER_BYTES, "ig_image header must fit before the pixels");
    ig_image *img = (ig_image *)block;
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->stride = stride;
    img->pixels = block + HEADER_BYTES;
    *out = img;
    return IG_OK;
}

void ig_image_free(ig_image *img) { ig__free(img); }

ig_status ig_image_check(const ig_image *img, ig_err *err) {
    if (!img || !img->pixels) return ig__fail(err, IG_ERR_INVALID, "no image");
    if (img->width <= 0 || img->height <= 0 || img->width > IG_IMAGE_MAX_DIM || img->height > IG_IMAGE_MAX_DIM)
        return ig__fail(err, IG_ERR_INVALID, "image size %dx%d outside 1..%d", img->width, img->height,
                        IG_IMAGE_MAX_DIM);
    if (img->channels != 3 && img->channels != 4)
        return ig__fail(err, IG_ERR_INVALID, "image has %d channels; 3 (RGB) or 4 (RGBA) expected", img->channels);
    if (img->stride < (size_t)img->width * (size_t)img->channels)
        return ig__fail(err, IG_ERR_INVALID, "image stride %zu below width %d x %d channels", img->stride,
                        img->width, img->channels);
    return IG_OK;
}

int ig__image_overlap(const ig_image *a, const ig_image *b) {
    const uint8_t *a0 = a->pixels, *a1 = a0 + a->stride * (size_t)(a->height - 1) + (size_t)a->width * a->channels;
    const uint8_t *b0 = b->pixels, *b1 = b0 + b->stride * (size_t)(b->height - 1) + (size_t)b->width * b->channels;
    return a0 < b1 && b0 < a1;
}

/* ---- byte buffer sink --------------------------------------------------------------------- */

int ig_bytebuf_sink(void *ctx, const void *data, size_t len) {
    ig_bytebuf *b = ctx;
    if (len > SIZE_MAX - b->len) return -1;
    if (b->len + len > b->cap) {
        /* Doubling keeps the copying linear; encoders hand over many pieces of a few KiB. */
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + len) cap = cap > SIZE_MAX / 2 ? b->len + len : cap * 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void ig_bytebuf_free(ig_bytebuf *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- float ⇄ 8-bit -------------------------------------------------------------------------- */

/* diffusers, float32 throughout:
 *   VaeImageProcessor.denormalize   y = (x / 2 + 0.5).clamp(0, 1)           (torch)
 *   VaeImageProcessor.numpy_to_pil  (y * 255).round().astype("uint8")       (numpy)
 * x / 2 is exact in binary floating point, so x * 0.5f + 0.5f has the same single rounding (an
 * FMA contraction could not change it either). y * 255 is rounded to float32 before numpy's
 * round, which is round-half-to-even, as is float addition in the default rounding mode. NaN: torch's
 * clamp keeps it and numpy's uint8 cast of NaN is undefined; we give 0. */
static inline uint8_t to_u8(float x, int neg1_1) {
    float y = neg1_1 ? x * 0.5f + 0.5f : x;
    if (!(y > 0.0f)) y = 0.0f; /* also NaN */
    if (y > 1.0f) y = 1.0f;
    float z = y * 255.0f;
    /* 0 <= z <= 255 here: adding 2^23 lands in [2^23, 2^24), where float's spacing is exactly 1, so
     * the sum is z rounded to an integer in the current (nearest-even) mode, and the subtraction is
     * exact. The same result as rintf, without a libm call per value. */
    return (uint8_t)(int)((z + 8388608.0f) - 8388608.0f);
}

ig_status ig_image_from_f32(ig_image *dst, const float *src, ig_layout layout, ig_range range, ig_err *err) {
    ig_status st = ig_image_check(dst, err);
    if (st != IG_OK) return st;
    if (!src) return ig__fail(err, IG_ERR_INVALID, "no source pixels");
    const int w = dst->width, h = dst->height, c = dst->channels, neg = range == IG_RANGE_NEG1_1;
    const size_t plane = (size_t)w * (size_t)h;
    for (int y = 0; y < h; y++) {
        uint8_t *row = dst->pixels + (size_t)y * dst->stride;
        if (layout == IG_LAYOUT_HWC) {
            const float *s = src + (size_t)y * (size_t)w * (size_t)c;
            for (int i = 0; i < w * c; i++) row[i] = to_u8(s[i], neg);
        } else {
            for (int ch = 0; ch < c; ch++) {
                const float *s = src + (size_t)ch * plane + (size_t)y * (size_t)w;
                for (int x = 0; x < w; x++) row[x * c + ch] = to_u8(s[x], neg);
            }
        }
    }
    return IG_OK;
}

/* diffusers VaeImageProcessor.preprocess: np.array(img).astype(np.float32) / 255.0, then
 * normalize: 2.0 * x - 1.0 (both float32; 2x is exact, so one rounding each step). */
static inline float from_u8(uint8_t v, int neg1_1) {
    float y = (float)v / 255.0f;
    return neg1_1 ? 2.0f * y - 1.0f : y;
}

ig_status ig_image_to_f32(const ig_image *src, float *dst, ig_layout layout, ig_range range, ig_err *err) {
    ig_status st = ig_image_check(src, err);
    if (st != IG_OK) return st;
    if (!dst) return ig__fail(err, IG_ERR_INVALID, "no destination buffer");
    const int w = src->width, h = src->height, c = src->channels, neg = range == IG_RANGE_NEG1_1;
    const size_t plane = (size_t)w * (size_t)h;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src->pixels + (size_t)y * src->stride;
        if (layout == IG_LAYOUT_HWC) {
            float *d = dst + (size_t)y * (size_t)w * (size_t)c;
            for (int i = 0; i < w * c; i++) d[i] = from_u8(row[i], neg);
        } else {
            for (int ch = 0; ch < c; ch++) {
                float *d = dst + (size_t)ch * plane + (size_t)y * (size_t)w;
                for (int x = 0; x < w; x++) d[x] = from_u8(row[x * c + ch], neg);
            }
        }
    }
    return IG_OK;
}

/* ---- formats -------------------------------------------------------------------------------- */

ig_status ig_image_encode(const ig_image *img, ig_format format, int output_compression, ig_sink sink,
                          void *sink_ctx, ig_err *err) {
    if (output_compression < 0 || output_compression > 100)
        return ig__fail(err, IG_ERR_INVALID, "output_compression %d outside 0..100", output_compression);
    switch (format) {
    case IG_FORMAT_PNG: return ig_png_encode(img, -1, sink, sink_ctx, err);
    case IG_FORMAT_JPEG: return ig_jpeg_encode(img, output_compression, sink, sink_ctx, err);
    case IG_FORMAT_WEBP: return ig_webp_encode(img, output_compression, sink, sink_ctx, err);
    }
    return ig__fail(err, IG_ERR_INVALID, "unknown image format %d", (int)format);
}

const char *ig_format_name(ig_format format) {
    switch (format) {
    case IG_FORMAT_PNG: return "png";
    case IG_FORMAT_JPEG: return "jpeg";
    case IG_FORMAT_WEBP: return "webp";
    }
    return "?";
}

const char *ig_format_mime(ig_format format) {
    switch (format) {
    case IG_FORMAT_PNG: return "image/png";
    case IG_FORMAT_JPEG: return "image/jpeg";
    case IG_FORMAT_WEBP: return "image/webp";
    }
    return "application/octet-stream";
}

ig_status ig_format_parse(const char *name, ig_format *out, ig_err *err) {
    if (name && !strcmp(name, "png")) *out = IG_FORMAT_PNG;
    else if (name && (!strcmp(name, "jpeg") || !strcmp(name, "jpg"))) *out = IG_FORMAT_JPEG;
    else if (name && !strcmp(name, "webp")) *out = IG_FORMAT_WEBP;
    else return ig__fail(err, IG_ERR_INVALID, "output_format '%s' is not one of png, jpeg, webp", name ? name : "");
    return IG_OK;
}
