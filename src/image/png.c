/* png.c — PNG encoding with libpng, straight into an ig_sink, one row at a time (no copy of the
 * image). Owns libpng's error handling; leaves the choice of level to ig_image_encode (convert.c).
 *
 * libpng reports errors by longjmp to the setjmp in png_jmpbuf. Made safe here by: (1) setjmp sits
 * in write_png, whose locals never change after it, so nothing is indeterminate after the jump
 * (C11 7.13.2.1); (2) png and info are created and destroyed by the caller, outside the jump's
 * reach, and no other resource is held across libpng calls; (3) our error callback copies libpng's
 * message into the context and jumps, instead of libpng's default, which prints to stderr. */
#include "image/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>

#include "common.h"

typedef struct png_ctx {
    ig_sink sink;
    void *sink_ctx;
    int sink_failed;
    char msg[256];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

/* Warnings (e.g. about ancillary chunks) concern nothing we write; stay quiet rather than print
 * from a server thread. */
static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (c->sink(c->sink_ctx, data, len) != 0) {
        c->sink_failed = 1;
        png_error(png, "output sink refused the data"); /* does not return */
    }
}

static void on_flush(png_structp png) { (void)png; }

/* Everything libpng may jump out of. Kept apart from ig_png_encode so that no local here changes
 * after setjmp (the loop counter is dead once a jump happens). */
static ig_status write_png(png_structp png, png_infop info, const ig_image *img, int zlib_level, png_ctx *ctx,
                           ig_err *err) {
    if (setjmp(png_jmpbuf(png)))
        return ctx->sink_failed ? ig__fail(err, IG_ERR_IO, "png: %s", ctx->msg)
                                : ig__fail(err, IG_ERR_BACKEND, "png: libpng failed: %s", ctx->msg);
    png_set_write_fn(png, ctx, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, zlib_level);
    /* Level 0 stores: row filters would only cost time there. Otherwise libpng's adaptive filter
     * choice (per row, minimum sum of absolute differences) is the usual best for photographs. */
    if (zlib_level == 0) png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++) png_write_row(png, img->pixels + (size_t)y * img->stride);
    png_write_end(png, NULL);
    return IG_OK;
}

ig_status ig_png_encode(const ig_image *img, int zlib_level, ig_sink sink, void *sink_ctx, ig_err *err) {
    png_ctx ctx = {.sink = sink, .sink_ctx = sink_ctx};
    png_structp png = NULL;
    png_infop info = NULL;
    ig_status st = ig_image_check(img, err);
    if (st != IG_OK) goto fail;
    if (!sink) {
        st = ig__fail(err, IG_ERR_INVALID, "png: no output sink");
        goto fail;
    }
    /* -1: level 4. On generated 1024x1024 pictures level 6 (zlib's default) is 0.5-6 % smaller
     * and takes twice as long (about 500 ms against 250 ms on one core); a server answering in
     * seconds spends that time better elsewhere. */
    if (zlib_level == -1) zlib_level = 4;
    if (zlib_level < 0 || zlib_level > 9) {
        st = ig__fail(err, IG_ERR_INVALID, "png: zlib level %d outside 0..9", zlib_level);
        goto fail;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = ig__fail(err, IG_ERR_NOMEM, "png: out of memory creating the encoder");
        goto fail;
    }
    st = write_png(png, info, img, zlib_level, &ctx, err);
fail:
    if (png) png_destroy_write_struct(&png, &info);
    return st;
}
