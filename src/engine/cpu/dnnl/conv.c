/* conv.c — 2-D convolution on oneDNN: y = act(conv(x, w) + b) [+ res] in one primitive, the
 * activation and the residual add fused as post-ops (eltwise, then binary add; the other way round
 * for act_after_res: y = act(conv(x, w) + b + res)).
 *
 * Activations keep whatever strides they come with (the engine's NHWC); oneDNN's brgemm convolutions
 * (AMX bf16, AVX-512 fp32) run on NHWC directly, so there is no reorder between consecutive convs or
 * between a conv and the norms/attention around it. Weights are declared format_any and packed once
 * into the layout the chosen implementation wants (compute dtype = x's dtype). */
#include <stdlib.h>
#include <string.h>

#include "dnnl_int.h"

static bool md_eq(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) { return dnnl_memory_desc_equal(a, b); }

static ig_status create(ig_engine *e, ig_conv2d *conv, ig__dnnl_op *op, ig__dnnl_prim *p, const ig_tensor *x) {
    ig_err *err = &e->err;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const double t0 = ig__now_s();
    const ig_tensor *w = &conv->w;
    const dnnl_data_type_t cdt = ig__dnnl_dt(x->dtype);
    dnnl_memory_desc_t wmd, bmd;
    dnnl_dims_t wdims = {w->ne[0], w->ne[1], w->ne[2], w->ne[3]};
    dnnl_dims_t wstr = {w->ne[1] * w->ne[2] * w->ne[3], w->ne[2] * w->ne[3], w->ne[3], 1};
    dnnl_dims_t bdims = {w->ne[0]};
    /* top / left: pad, less what an upsample phase conv leaves off (upconv.c; 0 for every other conv) */
    dnnl_dims_t strides = {conv->stride, conv->stride}, pad = {conv->pad - op->skip_t, conv->pad - op->skip_l};
    /* oneDNN pads left/top by padding_l and right/bottom by padding_r, and wants the padding_r that
     * makes the output size come out: pad + pad_extra_b (ops.c sized the output with it; diffusers'
     * Downsample2D pads (0, 1, 0, 1)), less the rows a stride > 1 never reaches, so it can be
     * smaller than pad (even negative) when (H + 2 pad + pad_extra_b - R) is not a multiple of the
     * stride. */
    dnnl_dims_t pad_r = {
        (p->dst_md.dims[2] - 1) * conv->stride + w->ne[2] - x->ne[2] - pad[0],
        (p->dst_md.dims[3] - 1) * conv->stride + w->ne[3] - x->ne[3] - pad[1],
    };
    dnnl_convolution_desc_t cd;
    void *wei = NULL;
    const bool has_bias = conv->b.data != NULL;

    DNNL_TRY(err, dnnl_memory_desc_init_by_tag(&wmd, 4, wdims, cdt, dnnl_format_tag_any));
    DNNL_TRY(err, dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_x));
    DNNL_TRY(err, dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &p->src_md,
                                                     &wmd, has_bias ? &bmd : NULL, &p->dst_md, strides, pad, pad_r));
    DNNL_TRY(err, dnnl_primitive_attr_create(&attr));
    DNNL_TRY(err, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    DNNL_TRY(err, dnnl_post_ops_create(&po));
    /* act_after_res (TAESD's ReLU(conv + skip)): the residual's post-op first, then the eltwise. */
    const bool res_first = p->has_res && conv->act_after_res;
    if (!res_first) DNNL_TRY(err, ig__dnnl_append_act(po, conv->act));
    /* The residual: with no activation after it and the residual laid out like dst, a sum post-op
     * (dst += conv) over a copy of it. oneDNN 2.6 runs that in its brgemm AMX convolution, while a
     * binary-add post-op sends the same shape to an older jit kernel about 1.5x slower (57 vs 37 ms
     * for 128->128 at 512x512 in the VAE); the copy costs a few ms. Otherwise a binary add. A sum
     * followed by an eltwise (conv + sum + relu, the ResNet pattern) stays in the brgemm kernel too. */
    p->res_sum = p->has_res && (conv->act == IG_ACT_NONE || res_first) &&
                 dnnl_memory_desc_equal(&p->res_md, &p->dst_md);
    if (p->res_sum) {
        DNNL_TRY(err, dnnl_post_ops_append_sum(po, 1.0f));
    } else if (p->has_res) {
        p->res_idx = dnnl_post_ops_len(po);
        DNNL_TRY(err, dnnl_post_ops_append_binary(po, dnnl_binary_add, &p->res_md));
    }
    if (res_first) DNNL_TRY(err, ig__dnnl_append_act(po, conv->act));
    DNNL_TRY(err, dnnl_primitive_attr_set_post_ops(attr, po));
    DNNL_TRY(err, dnnl_primitive_desc_create(&pd, &cd, attr, ig__dnnl_eng, NULL));

    if (has_bias && !op->bias[0]) {
        op->bias[0] = ig__alloc((size_t)w->ne[0] * sizeof(float));
        if (!op->bias[0]) {
            ig__fail(err, IG_ERR_NOMEM, "out of memory for a conv bias");
            goto fail;
        }
        ig_tensor bt = ig_tensor_plain(IG_F32, 1, bdims, op->bias[0]);
        ig_tensor_copy(&bt, &conv->b);
    }
    if (ig__dnnl_weights_for(e, op, 0, w, 4, wdims, wstr, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wei,
                             err) != IG_OK)
        goto fail;
    if (ig__dnnl_prim_setup(e, p, pd, wei, op->bias[0], err) != IG_OK) goto fail;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    ig__dnnl_setup_add(e, ig__now_s() - t0);
    return err->status;
}

ig_status ig__dnnl_conv2d(ig_engine *e, ig_conv2d *conv, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    ig_err *err = &e->err;
    /* oneDNN 2.6 gets every output wrong when a side's zero padding reaches the kernel size (an output
     * row or column that sees only zeros) with an activation and a binary residual add both fused
     * (3x3, pad 3, SiLU + res: errors ~1 in test_dnnl). No model pads that much (torch's "same" is
     * R / 2; diffusers' downsample adds one zero row and column), so the reference takes every conv
     * padded that much, fused or not: broader than the bug on purpose, as no caller needs speed there. */
    const int64_t R = conv->w.ne[2];
    if (conv->pad >= R || conv->pad + conv->pad_extra_b >= R || conv->pad + conv->pad_extra_r >= R)
        return ig__ref_conv2d(e, conv, x, res, y);
    const ig__dnnl_key key = ig__dnnl_conv_key(conv);
    ig__dnnl_op *op = ig__dnnl_op_get(e, conv, &key);
    if (!op) return err->status;
    return ig__dnnl_conv2d_with(e, conv, op, x, res, y);
}

ig_status ig__dnnl_conv2d_with(ig_engine *e, ig_conv2d *conv, ig__dnnl_op *op, const ig_tensor *x,
                               const ig_tensor *res, ig_tensor *y) {
    ig_err *err = &e->err;
    dnnl_memory_desc_t src_md, dst_md, res_md;
    memset(&res_md, 0, sizeof res_md);
    DNNL_TRY(err, ig__dnnl_md(&src_md, x));
    DNNL_TRY(err, ig__dnnl_md(&dst_md, y));
    if (res) DNNL_TRY(err, ig__dnnl_md(&res_md, res));

    ig__dnnl_prim *p = op->prims;
    for (; p; p = p->next)
        if (md_eq(&p->src_md, &src_md) && md_eq(&p->dst_md, &dst_md) && p->has_res == (res != NULL) &&
            (!res || md_eq(&p->res_md, &res_md)))
            break;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a conv primitive");
        p->src_md = src_md, p->dst_md = dst_md, p->res_md = res_md, p->has_res = res != NULL;
        if (create(e, conv, op, p, x) != IG_OK) {
            ig__dnnl_prim_free(p);
            return err->status;
        }
        p->next = op->prims;
        op->prims = p;
    }
    if (p->res_sum) {
        if (res->data != y->data) memcpy(y->data, res->data, ig_tensor_nbytes(y));
        return ig__dnnl_prim_run(e, p, x->data, y->data, NULL, NULL, err);
    }
    return ig__dnnl_prim_run(e, p, x->data, y->data, res ? res->data : NULL, NULL, err);
fail:
    return err->status;
}
