/* upconv.c — conv3x3(upsample2x(x)) (ops.h ig_op_upsample_conv2d) without the upsampled tensor.
 *
 * Output pixel (2i + py, 2j + px) of a 3x3 pad-1 conv over the nearest-2x upsample of x reads
 * upsampled rows 2i + py - 1 .. 2i + py + 1, which are x rows i - 1, i, i (py = 0) or i, i, i + 1
 * (py = 1); the same for columns. So each phase (py, px) is a 2x2 conv over x whose taps are sums
 * of the 3x3 taps:
 *     py = 0: tap row 0 = kernel row 0,      tap row 1 = kernel rows 1 + 2   (x rows i - 1, i)
 *     py = 1: tap row 0 = kernel rows 0 + 1, tap row 1 = kernel row 2        (x rows i, i + 1)
 * That is 16 multiply-adds per output and input channel instead of 36, and no 4x-sized upsampled
 * input. Each phase q = 2 py + px is a oneDNN conv of its own with K outputs over H x W, padded only
 * where it reads outside x: one row on top (py = 0) or below (py = 1), one column left (px = 0) or
 * right (px = 1) (conv.c's skip_t / skip_l). Its output goes to the engine's intermediate buffer
 * (ig__cpu_ctx.tmp, N H W K: a quarter of y) and is scattered into y's pixels (2i + py, 2j + px)
 * before the next phase runs. (One conv with 4K outputs over (H + 1) x (W + 1) needed a tmp of
 * about y's size, 514 MiB for SDXL's last VAE upsample, and ran slower at those odd widths.)
 * The phase convs live in the 3x3 op's cache as convs of their own, with their caches beside it
 * (not in the engine's table: they go when the 3x3 op's cache goes). Their taps are summed in double
 * and rounded once to the activations' dtype when one of their primitives is created, packed by
 * conv.c like a checkpoint's, and freed: only the packed copies stay (16/9 of the 3x3 conv's, which
 * is never packed). y must be dense NHWC, else the reference runs. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_int.h"

/* Kernel rows (bit r = row r) summed into tap t of phase p (the same table serves columns). */
static const int phase_rows[2][2] = {{1, 6}, {3, 4}};

/* Phase q's taps (K, C, 2, 2) in dtype dt (the activations': bf16 halves what stays in memory, and
 * conv.c would round f32 taps to bf16 anyway), summed in double and rounded once. */
static void *phase_weights(const ig_conv2d *conv, int q, ig_dtype dt, ig_err *err) {
    const int64_t K = conv->w.ne[0], C = conv->w.ne[1];
    void *w4 = ig__alloc(ig_dtype_size(dt) * (size_t)(4 * K * C));
    if (!w4) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory for an upsample conv's phase weights");
        return NULL;
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            double w9[3][3];
            for (int64_t r = 0; r < 3; r++)
                for (int64_t s = 0; s < 3; s++) w9[r][s] = ig_tensor_get(&conv->w, (const int64_t[4]){k, c, r, s});
            for (int ty = 0; ty < 2; ty++)
                for (int tx = 0; tx < 2; tx++) {
                    double v = 0;
                    for (int r = 0; r < 3; r++)
                        for (int s = 0; s < 3; s++)
                            if ((phase_rows[q >> 1][ty] >> r & 1) && (phase_rows[q & 1][tx] >> s & 1)) v += w9[r][s];
                    const size_t o = (size_t)(((k * C + c) * 2 + ty) * 2 + tx);
                    if (dt == IG_BF16) ((uint16_t *)w4)[o] = ig_f32_to_bf16((float)v);
                    else ((float *)w4)[o] = (float)v;
                }
        }
    return w4;
}

/* The four phase convs on first use; their taps come and go (need_taps). */
static ig_status build(const ig_conv2d *conv, ig__dnnl_op *op, ig_err *err) {
    if (op->up) return IG_OK;
    const int64_t K = conv->w.ne[0], C = conv->w.ne[1];
    const bool has_bias = conv->b.data != NULL;
    float *b = has_bias ? ig__alloc(sizeof(float) * (size_t)K) : NULL;
    ig_conv2d *up = calloc(4, sizeof *up);
    ig__dnnl_op *up_op[4];
    bool ok = (!has_bias || b) && up;
    for (int q = 0; q < 4; q++) ok &= (up_op[q] = calloc(1, sizeof **up_op)) != NULL;
    if (!ok) {
        ig__free(b), free(up);
        for (int q = 0; q < 4; q++) free(up_op[q]);
        return ig__fail(err, IG_ERR_NOMEM, "out of memory for an upsample conv");
    }
    for (int64_t k = 0; has_bias && k < K; k++) b[k] = ig_tensor_get(&conv->b, (const int64_t[1]){k});
    const int64_t ws[4] = {K, C, 2, 2}, bs[1] = {K};
    for (int q = 0; q < 4; q++) {
        up[q] = (ig_conv2d){.w = ig_tensor_plain(IG_F32, 4, ws, NULL), .stride = 1, .pad = 1, .act = conv->act};
        if (has_bias) up[q].b = ig_tensor_plain(IG_F32, 1, bs, b);
        up_op[q]->skip_t = q >> 1, up_op[q]->skip_l = q & 1;
        op->up_op[q] = up_op[q];
    }
    op->up = up, op->up_b = b;
    return IG_OK;
}

/* Whether phase conv op already has a primitive (and so packed weights) for x -> s. */
static bool has_prim(const ig__dnnl_op *op, const ig_tensor *x, const ig_tensor *s) {
    dnnl_memory_desc_t src_md, dst_md;
    if (ig__dnnl_md(&src_md, x) != dnnl_success || ig__dnnl_md(&dst_md, s) != dnnl_success) return false;
    for (const ig__dnnl_prim *p = op->prims; p; p = p->next)
        if (dnnl_memory_desc_equal(&p->src_md, &src_md) && dnnl_memory_desc_equal(&p->dst_md, &dst_md) && !p->has_res)
            return true;
    return false;
}

ig_status ig__dnnl_upsample_conv2d(ig_engine *e, ig_conv2d *conv, const ig_tensor *x, ig_tensor *y) {
    ig_err *err = &e->err;
    if (!ig_tensor_is_nhwc(y)) return ig__ref_upsample_conv2d(e, conv, x, y);
    const ig__dnnl_key key = ig__dnnl_conv_key(conv); /* the cache ig__dnnl_conv2d would use: the phase convs beside its prims */
    ig__dnnl_op *op = ig__dnnl_op_get(e, conv, &key);
    if (!op) return err->status;
    if (build(conv, op, err) != IG_OK) return err->status;
    const int64_t N = x->ne[0], H = x->ne[2], W = x->ne[3], K = y->ne[1];
    const size_t es = ig_dtype_size(y->dtype);
    if (ig__dnnl_tmp_reserve(e, (size_t)(N * H * W * K) * es, err) != IG_OK) return err->status;
    ig_tensor s = ig_tensor_nhwc(y->dtype, N, K, H, W, ig__dnnl_ctx(e)->tmp);
    for (int q = 0; q < 4; q++) {
        /* A new primitive packs its weights from the taps: they exist only for that (in x's dtype, so
         * an f32 run never inherits bf16-rounded taps), and are freed once packed. */
        ig_conv2d *pc = &op->up[q];
        const bool need_taps = !has_prim(op->up_op[q], x, &s);
        if (need_taps) {
            const double t0 = ig__now_s();
            pc->w.dtype = x->dtype == IG_BF16 ? IG_BF16 : IG_F32;
            pc->w.data = phase_weights(conv, q, pc->w.dtype, err);
            ig__dnnl_setup_add(e, ig__now_s() - t0);
            if (!pc->w.data) return err->status;
        }
        const ig_status st = ig__dnnl_conv2d_with(e, pc, op->up_op[q], x, NULL, &s);
        if (need_taps) {
            ig__free(pc->w.data);
            pc->w.data = NULL;
        }
        if (st != IG_OK) return st;
        /* phase q's pixel (i, j) is y's (2i + py, 2j + px) */
        const int64_t py = q >> 1, px = q & 1;
        const char *sb = s.data;
        char *yb = y->data;
        const size_t run = (size_t)K * es;
#pragma omp parallel for collapse(2) schedule(static) if (N * H * W * K > 65536)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < H; i++) {
                const char *srow = sb + (size_t)((n * H + i) * W * K) * es;
                char *yrow = yb + (size_t)(((n * 2 * H + 2 * i + py) * 2 * W + px) * K) * es;
                for (int64_t j = 0; j < W; j++) memcpy(yrow + (size_t)(2 * j * K) * es, srow + (size_t)(j * K) * es, run);
            }
    }
    return IG_OK;
}
