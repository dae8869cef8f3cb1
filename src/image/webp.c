/* webp.c — WebP encoding with libwebp's advanced API, straight into an ig_sink through libwebp's
 * writer callback. Owns the lossy/lossless decision and the encoder settings; leaves the quality
 * value to the caller.
 *
 * quality 0..99 → lossy (VP8) at that quality; 100 → lossless (VP8L). Why 100 means lossless:
 * OpenAI's output_compression defaults to 100, and a lossy file at "100" still subsamples chroma
 * to 4:2:0 and quantises, so the default would throw detail away; lossless keeps every pixel, as
 * PNG would, in typically 20-30 % fewer bytes. Any value below 100 asks for a smaller file, which
 * is what lossy is for. Alpha, where present, is always stored losslessly (alpha_quality 100,
 * libwebp's default), so a keyed matte survives lossy colour. */
#include "image/image.h"

#include <webp/encode.h>

#include "common.h"

typedef struct webp_ctx {
    ig_sink sink;
    void *sink_ctx;
    int sink_failed;
} webp_ctx;

static int on_write(const uint8_t *data, size_t size, const WebPPicture *pic) {
    webp_ctx *c = pic->custom_ptr;
    if (c->sink(c->sink_ctx, data, size) != 0) {
        c->sink_failed = 1;
        return 0; /* libwebp stops and reports VP8_ENC_ERROR_BAD_WRITE */
    }
    return 1;
}

static const char *enc_error_name(WebPEncodingError e) {
    switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory for the bitstream";
    case VP8_ENC_ERROR_NULL_PARAMETER: return "null parameter";
    case VP8_ENC_ERROR_INVALID_CONFIGURATION: return "invalid configuration";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad dimension";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW: return "partition 0 overflow (too much header data)";
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    case VP8_ENC_ERROR_BAD_WRITE: return "output sink refused the data";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "file too big";
    case VP8_ENC_ERROR_USER_ABORT: return "aborted";
    default: return "unknown error";
    }
}

ig_status ig_webp_encode(const ig_image *img, int quality, ig_sink sink, void *sink_ctx, ig_err *err) {
    webp_ctx ctx = {.sink = sink, .sink_ctx = sink_ctx};
    WebPConfig config;
    WebPPicture pic;
    int have_pic = 0;
    ig_status st = ig_image_check(img, err);
    if (st != IG_OK) goto fail;
    if (!sink) {
        st = ig__fail(err, IG_ERR_INVALID, "webp: no output sink");
        goto fail;
    }
    if (quality < 0 || quality > 100) {
        st = ig__fail(err, IG_ERR_INVALID, "webp: quality %d outside 0..100", quality);
        goto fail;
    }
    if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION) {
        st = ig__fail(err, IG_ERR_INVALID, "webp: %dx%d exceeds WebP's limit of %d pixels a side", img->width,
                      img->height, WEBP_MAX_DIMENSION);
        goto fail;
    }
    if (!WebPConfigInit(&config) || !WebPPictureInit(&pic)) {
        st = ig__fail(err, IG_ERR_BACKEND, "webp: libwebp's ABI does not match the headers built against");
        goto fail;
    }
    have_pic = 1;
    if (quality == 100) {
        /* Level 4 (method 3, effort 50): on generated 512-1024 px pictures within 0.1 % of the
         * size of libwebp's default level 6, in 25-35 % less time; level 9 is 15x slower for 1 %. */
        if (!WebPConfigLosslessPreset(&config, 4)) {
            st = ig__fail(err, IG_ERR_BACKEND, "webp: lossless preset refused");
            goto fail;
        }
    } else {
        if (!WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, (float)quality)) {
            st = ig__fail(err, IG_ERR_BACKEND, "webp: preset refused");
            goto fail;
        }
        /* The iterative RGB→YUV conversion keeps saturated edges from bleeding (the same reason
         * jpeg.c keeps 4:4:4 at high quality) for a small share of the encoding time. */
        config.use_sharp_yuv = 1;
    }
    if (!WebPValidateConfig(&config)) {
        st = ig__fail(err, IG_ERR_BACKEND, "webp: configuration refused");
        goto fail;
    }
    /* ARGB in: WebPEncode converts to YUV itself for lossy, honouring use_sharp_yuv. */
    pic.use_argb = 1;
    pic.width = img->width;
    pic.height = img->height;
    int ok = img->channels == 4 ? WebPPictureImportRGBA(&pic, img->pixels, (int)img->stride)
                                : WebPPictureImportRGB(&pic, img->pixels, (int)img->stride);
    if (!ok) {
        st = ig__fail(err, IG_ERR_NOMEM, "webp: out of memory importing a %dx%d image", img->width, img->height);
        goto fail;
    }
    pic.writer = on_write;
    pic.custom_ptr = &ctx;
    if (!WebPEncode(&config, &pic)) {
        if (ctx.sink_failed) st = ig__fail(err, IG_ERR_IO, "webp: output sink refused the data");
        else if (pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ||
                 pic.error_code == VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY)
            st = ig__fail(err, IG_ERR_NOMEM, "webp: %s", enc_error_name(pic.error_code));
        else st = ig__fail(err, IG_ERR_BACKEND, "webp: libwebp failed: %s", enc_error_name(pic.error_code));
        goto fail;
    }
    st = IG_OK;
fail:
    if (have_pic) WebPPictureFree(&pic);
    return st;
}
