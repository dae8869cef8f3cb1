/* decode.c — PNG, JPEG and WebP files → ig_image (inputs of /v1/images/edits and variations).
 *
 * Owns: recognising the format from the first bytes, reading each format's header first and
 * refusing sizes over IG_IMAGE_MAX_DIM a side or over the caller's pixel budget before a pixel buffer
 * is allocated (a 100-byte PNG may claim 16383x16383: that is a decompression bomb, not a picture),
 * then decoding into 8-bit RGB (no alpha in the file) or RGBA (straight alpha). Thin wrappers over
 * libpng's simplified API, libjpeg-turbo and libwebp, the libraries the encoders already link.
 * Leaves to others: what the pixels are used for, resizing (resize.c), HTTP sizes (api/, server/).
 *
 * libjpeg's errors longjmp back into jpeg_decode (the setjmp pattern of jpeg.c): everything libjpeg
 * touches lives in one heap block, and the image being filled is reached through it, so nothing the
 * jump could leave indeterminate is read afterwards.
 */
#include "image/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <webp/decode.h>

#include "common.h"

static ig_status check_size(ig_format f, int w, int h, int64_t max_pixels, ig_err *err) {
    if (w <= 0 || h <= 0 || w > IG_IMAGE_MAX_DIM || h > IG_IMAGE_MAX_DIM)
        return ig__fail(err, IG_ERR_INVALID, "the %s image is %dx%d; sides of 1..%d pixels are accepted", ig_format_name(f),
                        w, h, IG_IMAGE_MAX_DIM);
    if (max_pixels > 0 && (int64_t)w * h > max_pixels)
        return ig__fail(err, IG_ERR_INVALID, "the %s image is %dx%d = %lld pixels; at most %lld are accepted",
                        ig_format_name(f), w, h, (long long)w * h, (long long)max_pixels);
    return IG_OK;
}

ig_status ig_image_sniff(const void *data, size_t len, ig_format *out, ig_err *err) {
    const uint8_t *b = data;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (b && len >= 8 && !memcmp(b, png_sig, 8)) return *out = IG_FORMAT_PNG, IG_OK;
    if (b && len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return *out = IG_FORMAT_JPEG, IG_OK;
    if (b && len >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return *out = IG_FORMAT_WEBP, IG_OK;
    return ig__fail(err, IG_ERR_INVALID, "not a PNG, JPEG or WebP file");
}

/* ---- PNG: libpng's simplified API (any bit depth, palette, grey, tRNS → 8-bit RGB(A)) ------------ */

static ig_status png_header(const void *data, size_t len, png_image *pi, ig_err *err) {
    memset(pi, 0, sizeof *pi);
    pi->version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(pi, data, len)) {
        ig__fail(err, IG_ERR_INVALID, "bad PNG file: %s", pi->message);
        png_image_free(pi);
        return err->status;
    }
    return IG_OK;
}

static ig_status png_decode(const void *data, size_t len, int64_t max_pixels, ig_image **out, ig_err *err) {
    png_image pi;
    ig_image *img = NULL;
    if (png_header(data, len, &pi, err)) return err->status;
    if (check_size(IG_FORMAT_PNG, (int)pi.width, (int)pi.height, max_pixels, err)) goto fail;
    const int ch = pi.format & PNG_FORMAT_FLAG_ALPHA ? 4 : 3;
    pi.format = ch == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    if (ig_image_new(&img, (int)pi.width, (int)pi.height, ch, err)) goto fail;
    if (!png_image_finish_read(&pi, NULL, img->pixels, (png_int_32)img->stride, NULL)) {
        ig__fail(err, IG_ERR_INVALID, "bad PNG file: %s", pi.message);
        goto fail;
    }
    png_image_free(&pi);
    *out = img;
    return IG_OK;
fail:
    png_image_free(&pi);
    ig_image_free(img);
    return err->status;
}

/* ---- JPEG ------------------------------------------------------------------------------------ */

typedef struct jdec {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    ig_image *img;
} jdec;

static void jdec_error_exit(j_common_ptr cinfo) {
    jdec *d = (jdec *)(void *)cinfo;
    (*cinfo->err->format_message)(cinfo, d->msg);
    longjmp(d->jmp, 1);
}
static void jdec_quiet(j_common_ptr cinfo) { (void)cinfo; } /* corrupt-data warnings: decode what is there */

static ig_status jpeg_decode(const void *data, size_t len, int64_t max_pixels, bool header_only, int *w, int *h,
                             ig_image **out, ig_err *err) {
    jdec *d = calloc(1, sizeof *d);
    if (!d) return ig__fail(err, IG_ERR_NOMEM, "out of memory decoding a JPEG");
    d->cinfo.err = jpeg_std_error(&d->jerr);
    d->jerr.error_exit = jdec_error_exit;
    d->jerr.output_message = jdec_quiet;
    if (setjmp(d->jmp)) {
        ig__fail(err, IG_ERR_INVALID, "bad JPEG file: %s", d->msg);
        goto done;
    }
    jpeg_create_decompress(&d->cinfo);
    /* progressive files keep every coefficient in memory: bound it (a bomb of huge DC-only scans) */
    d->cinfo.mem->max_memory_to_use = 512L << 20;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)len);
    jpeg_read_header(&d->cinfo, TRUE);
    *w = (int)d->cinfo.image_width, *h = (int)d->cinfo.image_height;
    if (check_size(IG_FORMAT_JPEG, *w, *h, max_pixels, err) || header_only) goto done;
    if (d->cinfo.jpeg_color_space == JCS_CMYK || d->cinfo.jpeg_color_space == JCS_YCCK) {
        ig__fail(err, IG_ERR_UNSUPPORTED, "CMYK JPEG files are not supported; send RGB or greyscale");
        goto done;
    }
    d->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d->cinfo);
    if (ig_image_new(&d->img, *w, *h, 3, err)) goto done;
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = d->img->pixels + (size_t)d->cinfo.output_scanline * d->img->stride;
        jpeg_read_scanlines(&d->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&d->cinfo);
    *out = d->img, d->img = NULL;
done:
    jpeg_destroy_decompress(&d->cinfo);
    ig_image_free(d->img);
    free(d);
    return err->status;
}

/* ---- WebP ------------------------------------------------------------------------------------ */

static ig_status webp_features(const void *data, size_t len, WebPBitstreamFeatures *f, ig_err *err) {
    if (WebPGetFeatures(data, len, f) != VP8_STATUS_OK) return ig__fail(err, IG_ERR_INVALID, "bad WebP file");
    if (f->has_animation) return ig__fail(err, IG_ERR_UNSUPPORTED, "animated WebP files are not supported");
    return IG_OK;
}

static ig_status webp_decode(const void *data, size_t len, int64_t max_pixels, ig_image **out, ig_err *err) {
    WebPBitstreamFeatures f;
    ig_image *img = NULL;
    if (webp_features(data, len, &f, err) || check_size(IG_FORMAT_WEBP, f.width, f.height, max_pixels, err))
        return err->status;
    const int ch = f.has_alpha ? 4 : 3;
    if (ig_image_new(&img, f.width, f.height, ch, err)) return err->status;
    const size_t size = img->stride * (size_t)img->height;
    uint8_t *ok = ch == 4 ? WebPDecodeRGBAInto(data, len, img->pixels, size, (int)img->stride)
                          : WebPDecodeRGBInto(data, len, img->pixels, size, (int)img->stride);
    if (!ok) {
        ig_image_free(img);
        return ig__fail(err, IG_ERR_INVALID, "bad WebP file: the image data is corrupt or truncated");
    }
    *out = img;
    return IG_OK;
}

/* ---- the entry points ------------------------------------------------------------------------ */

ig_status ig_image_probe(const void *data, size_t len, int64_t max_pixels, ig_format *format, int *width,
                         int *height, ig_err *err) {
    ig_format f;
    *width = *height = 0;
    if (ig_image_sniff(data, len, &f, err)) return err->status;
    *format = f;
    if (f == IG_FORMAT_PNG) {
        png_image pi;
        if (png_header(data, len, &pi, err)) return err->status;
        *width = (int)pi.width, *height = (int)pi.height;
        png_image_free(&pi);
    } else if (f == IG_FORMAT_JPEG) {
        return jpeg_decode(data, len, max_pixels, true, width, height, NULL, err);
    } else {
        WebPBitstreamFeatures wf;
        if (webp_features(data, len, &wf, err)) return err->status;
        *width = wf.width, *height = wf.height;
    }
    return check_size(f, *width, *height, max_pixels, err);
}

ig_status ig_image_decode(const void *data, size_t len, int64_t max_pixels, ig_image **out, ig_err *err) {
    ig_format f;
    int w, h;
    *out = NULL;
    if (ig_image_sniff(data, len, &f, err)) return err->status;
    switch (f) {
    case IG_FORMAT_PNG: return png_decode(data, len, max_pixels, out, err);
    case IG_FORMAT_JPEG: return jpeg_decode(data, len, max_pixels, false, &w, &h, out, err);
    case IG_FORMAT_WEBP: return webp_decode(data, len, max_pixels, out, err);
    }
    return ig__fail(err, IG_ERR_INVALID, "unknown image format");
}
