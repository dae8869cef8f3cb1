/* jpeg.c — JPEG encoding with libjpeg-turbo through the classic libjpeg API, straight into an
 * ig_sink through a 64 KiB staging buffer. Owns libjpeg's error handling and the encoder settings
 * (quality, chroma subsampling, Huffman optimisation); leaves the quality value to the caller.
 *
 * libjpeg reports errors through error_exit, which must not return: ours formats the message and
 * longjmps back into compress(), whose locals never change after its setjmp. Everything libjpeg
 * touches (cinfo, managers, buffer) lives in one heap block allocated by the caller, so its
 * contents are well defined after the jump (C11 7.13.2.1 only leaves changed non-volatile
 * automatic objects indeterminate), and cinfo starts zeroed so jpeg_destroy_compress is safe
 * however early the jump came. */
#include "image/image.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "common.h"

#define STAGE_BYTES (64 * 1024)

typedef struct jpeg_ctx {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_destination_mgr dest;
    jmp_buf jmp;
    ig_sink sink;
    void *sink_ctx;
    int sink_failed;
    char msg[JMSG_LENGTH_MAX];
    JOCTET stage[STAGE_BYTES];
} jpeg_ctx;

/* cinfo is the first member, so the library's j_common_ptr leads back to our context. */
static jpeg_ctx *ctx_of(j_common_ptr cinfo) { return (jpeg_ctx *)(void *)cinfo; }

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_ctx *c = ctx_of(cinfo);
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jmp, 1);
}

/* Warnings (corrupt-data notices) belong to decoding; an encoder server stays quiet. */
static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void dest_init(j_compress_ptr cinfo) {
    jpeg_ctx *c = ctx_of((j_common_ptr)cinfo);
    c->dest.next_output_byte = c->stage;
    c->dest.free_in_buffer = STAGE_BYTES;
}

static void flush_stage(jpeg_ctx *c, size_t n) {
    if (n && c->sink(c->sink_ctx, c->stage, n) != 0) {
        c->sink_failed = 1;
        snprintf(c->msg, sizeof c->msg, "output sink refused the data");
        longjmp(c->jmp, 1);
    }
}

/* Called when the whole staging buffer is full (libjpeg ignores free_in_buffer here). */
static boolean dest_empty(j_compress_ptr cinfo) {
    jpeg_ctx *c = ctx_of((j_common_ptr)cinfo);
    flush_stage(c, STAGE_BYTES);
    c->dest.next_output_byte = c->stage;
    c->dest.free_in_buffer = STAGE_BYTES;
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo) {
    jpeg_ctx *c = ctx_of((j_common_ptr)cinfo);
    flush_stage(c, STAGE_BYTES - c->dest.free_in_buffer);
}

/* Everything libjpeg may jump out of. Kept apart from ig_jpeg_encode so that no local here changes
 * after setjmp (c is a parameter, never assigned). */
static ig_status compress(jpeg_ctx *c, const ig_image *img, int quality, ig_err *err) {
    if (setjmp(c->jmp))
        return c->sink_failed ? ig__fail(err, IG_ERR_IO, "jpeg: %s", c->msg)
                              : ig__fail(err, IG_ERR_BACKEND, "jpeg: libjpeg failed: %s", c->msg);
    jpeg_create_compress(&c->cinfo);
    c->dest.init_destination = dest_init;
    c->dest.empty_output_buffer = dest_empty;
    c->dest.term_destination = dest_term;
    c->cinfo.dest = &c->dest;

    c->cinfo.image_width = (JDIMENSION)img->width;
    c->cinfo.image_height = (JDIMENSION)img->height;
    c->cinfo.input_components = 3;
    c->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c->cinfo);
    /* force_baseline: quantisers stay <= 255 below quality 25, so every decoder reads the file. */
    jpeg_set_quality(&c->cinfo, quality, TRUE);
    /* Generated images are full of saturated colour edges, which 4:2:0 smears over two pixels. At
     * the qualities people pick for fidelity (>= 90, and OpenAI's default 100) keep chroma at full
     * resolution, as ImageMagick does; below, halving it is the better use of the bytes. */
    if (quality >= 90) c->cinfo.comp_info[0].h_samp_factor = c->cinfo.comp_info[0].v_samp_factor = 1;
    /* Optimal Huffman tables: a few percent smaller for one extra pass over the coefficients,
     * and lossless. */
    c->cinfo.optimize_coding = TRUE;
    jpeg_start_compress(&c->cinfo, TRUE);
    while (c->cinfo.next_scanline < c->cinfo.image_height) {
        /* libjpeg's API is not const-correct: it only reads the rows it is given. */
        JSAMPROW row = (JSAMPROW)(uintptr_t)(img->pixels + (size_t)c->cinfo.next_scanline * img->stride);
        jpeg_write_scanlines(&c->cinfo, &row, 1);
    }
    jpeg_finish_compress(&c->cinfo);
    return IG_OK;
}

ig_status ig_jpeg_encode(const ig_image *img, int quality, ig_sink sink, void *sink_ctx, ig_err *err) {
    jpeg_ctx *c = NULL;
    ig_status st = ig_image_check(img, err);
    if (st != IG_OK) goto fail;
    if (img->channels != 3) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "jpeg: the image has an alpha channel and JPEG cannot store one; use png or webp "
                      "for transparent backgrounds");
        goto fail;
    }
    if (!sink) {
        st = ig__fail(err, IG_ERR_INVALID, "jpeg: no output sink");
        goto fail;
    }
    if (quality < 0 || quality > 100) {
        st = ig__fail(err, IG_ERR_INVALID, "jpeg: quality %d outside 0..100", quality);
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        st = ig__fail(err, IG_ERR_NOMEM, "jpeg: out of memory creating the encoder");
        goto fail;
    }
    c->sink = sink;
    c->sink_ctx = sink_ctx;
    c->cinfo.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = on_error_exit;
    c->jerr.output_message = on_output_message;
    st = compress(c, img, quality, err);
fail:
    /* Safe at any point of compress(): cinfo started zeroed, and destroy skips what was never made. */
    if (c) jpeg_destroy_compress(&c->cinfo);
    free(c);
    return st;
}
