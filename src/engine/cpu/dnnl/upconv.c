/* upconv.c — conv3x3(upsample2x(x)) (ops.h ig_op_upsample_conv2d) without the upsampled tensor.
 *
 * Output pixel (2i + py, 2j + px) of a 3x3 pad-1 conv over the nearest-2x upsample of x reads
 * upsampled rows 2i + py - 1 .. 2i + py + 1, which are x rows i - 1, i, i (py = 0) or i, i, i + 1
 * (py = 1); the same for columns. So each phase (py, px) is a 2x2 conv over x whose taps are sums
 * of the 3x3 taps:
 *     py = 0: tap row 0 = kernel row 0,      tap row 1 = kernel rows 1 + 2   (x rows i - 1, i)
 *     py = 1: tap row 0 = kernel rows 0 + 1, tap row 1 = kernel row 2        (x rows i, i + 1)
 * One oneDNN conv does all four: 2x2 weights (4K, C, 2, 2) with phase q = 2 py + px in output
 * channels [qK, qK + K), pad 1 on every side, output (H + 1) x (W + 1); phase q's pixel (i, j) is
 * its output at (i + py, j + px). That is 16 multiply-adds per output and input channel instead
 * of 36, and no 4x-sized upsampled input. The phases' output goes to the engine's intermediate
 * buffer (ig__cpu_ctx.tmp) and is interleaved into y (one pass, as the upsample was).
 * The phase conv lives in the 3x3 op's cache as a conv of its own, with its own cache beside it
 * (not in the engine's table: it goes when the 3x3 op's cache goes). Its taps are summed in double and
 * rounded once to the activations' dtype when one of its primitives is created, packed by conv.c like
 * a checkpoint's, and freed: only the packed copy stays (16/9 of the 3x3 conv's, which is never
 * packed). y must be dense NHWC, else the reference runs. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_int.h"

/* Kernel rows (bit r = row r) summed into tap t of phase p (the same table serves columns). */
static const int phase_rows[2][2] = {{1, 6}, {3, 4}};

/* The phase taps (4K, C, 2, 2) in dtype dt (the activations': bf16 halves what stays in memory, and
 * conv.c would round f32 taps to bf16 anyway), summed in double and rounded once. */
static float *phase_weights(const ig_conv2d *conv, ig_dtype dt, ig_err *err) {
    const int64_t K = conv->w.ne[0], C = conv->w.ne[1];
    void *w4 = ig__alloc(ig_dtype_size(dt) * (size_t)(16 * K * C));
    if (!w4) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory for an upsample conv's phase weights");
        return NULL;
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            double w9[3][3];
            for (int64_t r = 0; r < 3; r++)
                for (int64_t s = 0; s < 3; s++) w9[r][s] = ig_tensor_get(&conv->w, (const int64_t[4]){k, c, r, s});
            for (int q = 0; q < 4; q++)
                for (int ty = 0; ty < 2; ty++)
                    for (int tx = 0; tx < 2; tx++) {
                        double v = 0;
                        for (int r = 0; r < 3; r++)
                            for (int s = 0; s < 3; s++)
                                if ((phase_rows[q >> 1][ty] >> r & 1) && (phase_rows[q & 1][tx] >> s & 1)) v += w9[r][s];
                        const size_t o = (size_t)((((q * K + k) * C + c) * 2 + ty) * 2 + tx);
                        if (dt == IG_BF16) ((uint16_t *)w4)[o] = ig_f32_to_bf16((float)v);
                        else ((float *)w4)[o] = (float)v;
                    }
        }
    return w4;
}

/* The phase conv (bias replicated per phase) on first use; its taps come and go (need_taps). */
static ig_status build(const ig_conv2d *conv, ig__dnnl_op *op, ig_err *err) {
    if (op->up) return IG_OK;
    const int64_t K = conv->w.ne[0], C = conv->w.ne[1];
    const bool has_bias = conv->b.data != NULL;
    float *b4 = has_bias ? ig__alloc(sizeof(float) * (size_t)(4 * K)) : NULL;
    ig_conv2d *up = calloc(1, sizeof *up);
    ig__dnnl_op *up_op = calloc(1, sizeof *up_op);
    if ((has_bias && !b4) || !up || !up_op) {
        ig__free(b4), free(up), free(up_op);
        return ig__fail(err, IG_ERR_NOMEM, "out of memory for an upsample conv");
    }
    for (int64_t q = 0; has_bias && q < 4; q++)
        for (int64_t k = 0; k < K; k++) b4[q * K + k] = ig_tensor_get(&conv->b, (const int64_t[1]){k});
    const int64_t ws[4] = {4 * K, C, 2, 2}, bs[1] = {4 * K};
    *up = (ig_conv2d){.w = ig_tensor_plain(IG_F32, 4, ws, NULL), .stride = 1, .pad = 1, .act = conv->act};
    if (has_bias) up->b = ig_tensor_plain(IG_F32, 1, bs, b4);
    op->up = up, op->up_op = up_op, op->up_b = b4;
    return IG_OK;
}

/* Whether the phase conv already has a primitive (and so packed weights) for x -> s. */
static bool has_prim(const ig__dnnl_op *op, const ig_tensor *x, const ig_tensor *s) {
    dnnl_memory_desc_t src_md, dst_md;
    if ( ig__dnnl_md(&src_md, x) != dnnl_success || ig__dnnl_md(&dst_md, s) != dnnl_success) return false;
    for (const ig__dnnl_prim *p = op->prims; p; p = p->next)
        if (dnnl_memory_desc_equal(&p->src_md, &src_md) && dnnl_memory_desc_equal(&p->dst_md, &dst_md) && !p->has_res)
            return true;
    return false;
}

ig_status ig__dnnl_upsample_conv2d(ig_engine *e, ig_conv2d *conv, const ig_tensor *x, ig_tensor *y) {
    ig_err *err = &e->err;
    if (!ig_tensor_is_nhwc(y)) return ig__ref_upsample_conv2d(e, conv, x, y);
    const ig__dnnl_key key = ig__dnnl_conv_key(conv); /* the cache ig__dnnl_conv2d would use: the phase conv beside its prims */
    ig__dnnl_op *op = ig__dnnl_op_get(e, conv, &key);
    if (!op) return err->status;
    if (build(conv, op, err) != IG_OK) return err->status;
    const int64_t N = x->ne[0], H = x->ne[2], W = x->ne[3], K = y->ne[1];
    const size_t es = ig_dtype_size(y->dtype);
    if (ig__dnnl_tmp_reserve(e, (size_t)(N * (H + 1) * (W + 1) * 4 * K) * es, err) != IG_OK) return err->status;
    ig_tensor s = ig_tensor_nhwc(y->dtype, N, 4 * K, H + 1, W + 1, ig__dnnl_ctx(e)->tmp);
    /* A new primitive packs its weights from the taps: they exist only for that (in x's dtype, so an
     * f32 run never inherits bf16-rounded taps), and are freed once packed. */
    const bool need_taps = !has_prim(op->up_op, x, &s);
    if (need_taps) {
        const double t0 = ig__now_s();
        op->up->w.dtype = x->dtype == IG_BF16 ? IG_BF16 : IG_F32;
        op->up->w.data = phase_weights(conv, op->up->w.dtype, err);
        ig__dnnl_setup_add(e, ig__now_s() - t0);
        if (!op->up->w.data) return err->status;
    }
    const ig_status st = ig__dnnl_conv2d_with(e, op->up, op->up_op, x, NULL, &s);
    if (need_taps) {
        ig__free(op->up->w.data);
        op->up->w.data = NULL;
    }
    if (st != IG_OK) return st;
    const char *sb = s.data;
    char *yb = y->data;
    const size_t run = (size_t)K * es;
#pragma omp parallel for collapse(2) schedule(static) if (N * H * W * K > 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t oy = 0; oy < 2 * H; oy++) {
            const int64_t py = oy & 1, i = oy >> 1;
            const char *srow = sb + (size_t)((n * (H + 1) + i + py) * (W + 1) * 4 * K) * es;
            char *yrow = yb + (size_t)((n * 2 * H + oy) * 2 * W * K) * es;
            for (int64_t ox = 0; ox < 2 * W; ox++) {
                const int64_t px = ox & 1, j = ox >> 1, q = 2 * py + px;
                memcpy(yrow + (size_t)(ox * K) * es, srow + (size_t)((j + px) * 4 * K + q * K) * es, run);
            }
        }
    return IG_OK;
}
