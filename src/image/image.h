/* image.h — 8-bit images and what happens to them after the VAE: float → 8-bit conversion, resize,
 * background keying, encoding to PNG, JPEG and WebP, and decoding them (the inputs of edits).
 *
 * image/ is a leaf: it knows pixels, not tensors, models or HTTP. The pipeline hands it the
 * decoder's float output; the API layer hands it a sink that writes into the response.
 *
 *     ig_image *img = NULL, *big = NULL;
 *     ig_bytebuf out = {0};
 *     if (ig_image_new(&img, 512, 512, 3, &err) != IG_OK ||
 *         ig_image_from_f32(img, vae_out_hwc, IG_LAYOUT_HWC, IG_RANGE_NEG1_1, &err) != IG_OK ||
 *         ig_image_new(&big, 1536, 1024, 3, &err) != IG_OK ||
 *         ig_image_resize(img, big, IG_FILTER_AUTO, &err) != IG_OK ||
 *         ig_image_encode(big, IG_FORMAT_WEBP, 90, ig_bytebuf_sink, &out, &err) != IG_OK) ...;
 *     ... out.data, out.len ...
 *     ig_bytebuf_free(&out); ig_image_free(big); ig_image_free(img);
 *
 * Pixels are sRGB-encoded 8-bit, rows top to bottom, channels interleaved (RGB or RGBA, alpha
 * straight, not premultiplied), as every encoder and browser expects.
 *
 * Owns: the ig_image type (convert.c), the sink type and a growable-buffer sink (convert.c), and the
 * prototypes of png.c jpeg.c webp.c resize.c alpha.c convert.c. Leaves to others: choosing sizes,
 * formats and defaults from the request (api/, pipeline/), base64 and HTTP (api/, server/).
 */
#ifndef IG_IMAGE_H
#define IG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "imagine.h"

/* Largest width or height any function here accepts: JPEG's own limit (65500) is above it, WebP's
 * (16383) equals it, and 16383^2 RGBA pixels still fit a size_t product without overflow checks
 * anywhere downstream. */
#define IG_IMAGE_MAX_DIM 16383

/* ig_image (imagine.h): width, height, channels 3 or 4, stride, pixels; width and height at most
 * IG_IMAGE_MAX_DIM here. */

/* Allocates an image and its pixels in one block (stride = width * channels, pixels 64-byte
 * aligned, contents undefined). Caller frees with ig_image_free. An ig_image the caller fills in
 * by hand over its own memory (a view) is just as good an argument everywhere else, but must not
 * be given to ig_image_free. */
ig_status ig_image_new(ig_image **out, int width, int height, int channels, ig_err *err);
void ig_image_free(ig_image *img); /* accepts NULL */

/* Checks width, height, channels, stride and pixels; IG_ERR_INVALID with the reason. */
ig_status ig_image_check(const ig_image *img, ig_err *err);

/* For image/ itself: whether the pixel memory of a and b (both checked) overlaps. */
int ig__image_overlap(const ig_image *a, const ig_image *b);

/* ---- sinks -------------------------------------------------------------------------------- */

/* Receives encoded bytes in order, possibly in many small pieces. Returns 0 to go on; anything
 * else stops the encoder, which then fails with IG_ERR_IO (a client that hung up, a full disk). */
typedef int (*ig_sink)(void *ctx, const void *data, size_t len);

/* A growable byte buffer; {0} is an empty one. */
typedef struct ig_bytebuf {
    uint8_t *data;
    size_t len, cap;
} ig_bytebuf;

/* An ig_sink that appends to the ig_bytebuf passed as ctx; returns -1 when memory runs out. */
int ig_bytebuf_sink(void *ctx, const void *data, size_t len);
/* Frees data and empties the buffer (the struct itself is the caller's); accepts NULL. */
void ig_bytebuf_free(ig_bytebuf *b);

/* ---- float ⇄ 8-bit (convert.c) ------------------------------------------------------------ */

typedef enum ig_layout {
    IG_LAYOUT_HWC, /* channels interleaved: (y*W + x)*C + c — the engine's NHWC, one image */
    IG_LAYOUT_CHW, /* planar: (c*H + y)*W + x — torch's NCHW, golden files */
} ig_layout;

typedef enum ig_range {
    IG_RANGE_NEG1_1, /* VAE decoder output: x/2 + 0.5 first */
    IG_RANGE_0_1,    /* already in [0, 1] (tiny preview decoders, latent-to-RGB previews) */
} ig_range;

/* dst (allocated by the caller; its size and channels say what src holds) ← src, one float image
 * of dst->channels channels. Rounds exactly as diffusers' VaeImageProcessor.postprocess followed
 * by numpy_to_pil does in float32: y = clamp(x/2 + 0.5, 0, 1); round-half-to-even(y * 255).
 * NaN becomes 0. */
ig_status ig_image_from_f32(ig_image *dst, const float *src, ig_layout layout, ig_range range, ig_err *err);

/* The inverse, for image inputs (img2img): dst (width*height*channels floats, caller's) ← src,
 * x/255 (then 2x - 1 for IG_RANGE_NEG1_1), as diffusers' VaeImageProcessor.preprocess does. */
ig_status ig_image_to_f32(const ig_image *src, float *dst, ig_layout layout, ig_range range, ig_err *err);

/* ---- resize (resize.c) -------------------------------------------------------------------- */

typedef enum ig_filter {
    IG_FILTER_AUTO,        /* per axis: Lanczos-3 when shrinking, Catmull-Rom when enlarging */
    IG_FILTER_LANCZOS3,    /* sinc(x) sinc(x/3), |x| < 3 */
    IG_FILTER_CATMULL_ROM, /* Keys cubic, a = -0.5, |x| < 2 (Pillow's BICUBIC) */
} ig_filter;

/* Resamples src to exactly dst->width x dst->height (any ratio, each axis on its own, up or
 * down). dst is allocated by the caller with the same channel count; src and dst must not
 * overlap. RGBA is filtered with premultiplied alpha, so transparent pixels lend no colour to
 * their neighbours. Works in float on the sRGB-encoded values, as Pillow does. */
ig_status ig_image_resize(const ig_image *src, ig_image *dst, ig_filter filter, ig_err *err);

/* The float core, for callers that want to resize before quantising: interleaved (HWC) images of
 * c channels, src sw x sh, dst dw x dh (caller's memory, not overlapping). Values are filtered as
 * given (no premultiplication, no clamping). */
ig_status ig_image_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh, ig_filter filter,
                              ig_err *err);

/* ---- background keying (alpha.c) --------------------------------------------------------- */

typedef struct ig_key_params {
    float tolerance;   /* colour distance (0..441, RGB Euclidean) under which a pixel is
                          background; 0: estimated from the noise of the border */
    float softness;    /* width of the ramps above tolerance (how far an edge pixel may stray from
                          the best background-subject mix, and the fallback alpha ramp); 0: 48 */
    int band_px;       /* how far into the subject edge pixels are re-estimated; 0: 3. Key at the
                          model's native resolution (edges 1-3 px), then resize the RGBA result */
    int connected;     /* 1: only background reachable from the border is removed; 0: every
                          background-coloured pixel; -1 (auto): 1 for white/grey/black keys, whose
                          colour subjects often contain (eyes, teeth), 0 for chromatic keys */
} ig_key_params;
#define IG_KEY_PARAMS_INIT {0, 0, 0, -1}

typedef struct ig_key_info {
    uint8_t bg[3];         /* the estimated key colour (the background model at the image centre) */
    float tolerance;       /* the tolerance used */
    float border_match;    /* fraction of border pixels that matched the background, 0..1: low
                              means the image had no plain background and the matte is a guess */
    float transparent;     /* fraction of output pixels with alpha 0 */
} ig_key_info;

/* dst (RGBA, same size, caller's) ← src (RGB) with the background made transparent: pixels of
 * the key colour get alpha 0, the subject 255, and its anti-aliased edge pixels a fractional alpha
 * with the key colour taken out of their colour (no fringe). params and info may be NULL. */
ig_status ig_image_key_background(const ig_image *src, ig_image *dst, const ig_key_params *params,
                                  ig_key_info *info, ig_err *err);

/* ---- encoders (png.c jpeg.c webp.c) -------------------------------------------------------- */

/* PNG, RGB or RGBA, 8 bits per channel, no metadata. zlib_level 0..9 (0 stored, 9 smallest);
 * -1: 4, half the time of zlib's default 6 for a file 0.5-6 % larger (figures in png.c). */
ig_status ig_png_encode(const ig_image *img, int zlib_level, ig_sink sink, void *sink_ctx, ig_err *err);

/* Baseline JPEG (JFIF, YCbCr), RGB only: RGBA is refused (IG_ERR_INVALID) since JPEG has no alpha
 * and silently dropping it would change the picture. quality 0..100 (libjpeg's scale; 0 acts as
 * 1). Chroma is kept at full resolution (4:4:4) from quality 90 up and halved (4:2:0) below. */
ig_status ig_jpeg_encode(const ig_image *img, int quality, ig_sink sink, void *sink_ctx, ig_err *err);

/* WebP, RGB or RGBA. quality 0..99: lossy VP8 at that quality (alpha, if any, stored losslessly);
 * 100: lossless VP8L, pixel-exact (RGB under fully transparent pixels may change). */
ig_status ig_webp_encode(const ig_image *img, int quality, ig_sink sink, void *sink_ctx, ig_err *err);

typedef enum ig_format { IG_FORMAT_PNG, IG_FORMAT_JPEG, IG_FORMAT_WEBP } ig_format;

/* The request's output_format and output_compression (0..100; OpenAI's default is 100):
 * JPEG and WebP quality = output_compression (so WebP at 100 is lossless); PNG ignores it, as
 * OpenAI does, and uses ig_png_encode's default level — mapping it to a zlib level would make the
 * default 100 mean either "no compression" (files 2-4 times larger for the same pixels) or
 * "slowest" (level 9: 4x the time for about 2 % fewer bytes). */
ig_status ig_image_encode(const ig_image *img, ig_format format, int output_compression, ig_sink sink,
                          void *sink_ctx, ig_err *err);

/* ---- decoders (decode.c) ------------------------------------------------------------------- */

/* The format from the file's first bytes (PNG signature, JPEG SOI, RIFF....WEBP); IG_ERR_INVALID for
 * anything else. */
ig_status ig_image_sniff(const void *data, size_t len, ig_format *out, ig_err *err);

/* Reads only the header: format and size. IG_ERR_INVALID for a file that is not one of the three or
 * whose header is bad, or whose sides exceed IG_IMAGE_MAX_DIM or whose pixels exceed max_pixels
 * (0: no budget beyond the sides); IG_ERR_UNSUPPORTED for CMYK JPEG or animated WebP (at decode). */
ig_status ig_image_probe(const void *data, size_t len, int64_t max_pixels, ig_format *format, int *width,
                         int *height, ig_err *err);

/* Decodes a PNG, JPEG or WebP file into a new 8-bit image: RGBA when the file has alpha (PNG alpha or
 * tRNS, WebP alpha), else RGB (greyscale expanded). The size is checked as ig_image_probe does before
 * any pixel memory is allocated. Caller frees with ig_image_free. */
ig_status ig_image_decode(const void *data, size_t len, int64_t max_pixels, ig_image **out, ig_err *err);

const char *ig_format_name(ig_format format); /* "png", "jpeg", "webp" */
const char *ig_format_mime(ig_format format); /* "image/png", ... */
/* "png", "jpeg" (also "jpg"), "webp", exact lower case; IG_ERR_INVALID otherwise. */
ig_status ig_format_parse(const char *name, ig_format *out, ig_err *err);

#endif
