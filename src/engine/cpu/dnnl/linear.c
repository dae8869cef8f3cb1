/* linear.c — torch Linear on oneDNN matmul: y = act(x w^T + b) [+ res] over the last dim, with the
 * activation and the residual add fused as post-ops. GEGLU (diffusers' feed-forward) is two
 * matmuls over the halves of w: the gate half writes gelu(x wg^T + bg) to the engine's intermediate, the
 * value half multiplies it in as a binary post-op, so the 2F-wide product is never stored.
 * x rows are flattened: (..., I) -> (M, I); weights packed once (format_any) in x's dtype. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_int.h"

/* One matmul primitive: src (M, I) -> dst (M, cols), weights = rows [row0, row0 + cols) of w. */
static ig_status create_part(ig_engine *e, ig_linear *lin, ig__dnnl_op *op, ig__dnnl_prim *p, int part, int64_t row0,
                             int64_t cols, ig_act act) {
    ig_err *err = &e->err;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const int64_t I = lin->w.ne[1];
    dnnl_memory_desc_t wmd, bmd;
    dnnl_dims_t wdims = {I, cols}, wstr = {1, I}, bdims = {1, cols};
    dnnl_matmul_desc_t md;
    void *wei = NULL;
    const bool has_bias = lin->b.data != NULL;
    const size_t esz = ig_dtype_size(lin->b.dtype);

    DNNL_TRY(err, dnnl_memory_desc_init_by_tag(&wmd, 2, wdims, p->src_md.data_type, dnnl_format_tag_any));
    DNNL_TRY(err, dnnl_memory_desc_init_by_tag(&bmd, 2, bdims, dnnl_f32, dnnl_ab));
    DNNL_TRY(err, dnnl_matmul_desc_init(&md, &p->src_md, &wmd, has_bias ? &bmd : NULL, &p->dst_md));
    DNNL_TRY(err, dnnl_primitive_attr_create(&attr));
    DNNL_TRY(err, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    DNNL_TRY(err, dnnl_post_ops_create(&po));
    DNNL_TRY(err, ig__dnnl_append_act(po, act));
    if (p->gate) {
        p->mul_idx = dnnl_post_ops_len(po);
        DNNL_TRY(err, dnnl_post_ops_append_binary(po, dnnl_binary_mul, &p->mul_md));
    }
    if (p->has_res) {
        p->res_idx = dnnl_post_ops_len(po);
        DNNL_TRY(err, dnnl_post_ops_append_binary(po, dnnl_binary_add, &p->res_md));
    }
    DNNL_TRY(err, dnnl_primitive_attr_set_post_ops(attr, po));
    DNNL_TRY(err, dnnl_primitive_desc_create(&pd, &md, attr, ig__dnnl_eng, NULL));

    if (has_bias && !op->bias[part]) {
        op->bias[part] = ig__alloc((size_t)cols * sizeof(float));
        if (!op->bias[part]) {
            ig__fail(err, IG_ERR_NOMEM, "out of memory for a linear bias");
            goto fail;
        }
        ig_tensor bsrc = lin->b;
        bsrc.ne[0] = cols;
        bsrc.data = (char *)lin->b.data + (size_t)(row0 * lin->b.st[0]) * esz;
        ig_tensor bt = ig_tensor_plain(IG_F32, 1, &cols, op->bias[part]);
        ig_tensor_copy(&bt, &bsrc);
    }
    ig_tensor wsrc = lin->w; /* rows [row0, row0 + cols) of the checkpoint's (O, I) */
    wsrc.ne[0] = cols;
    wsrc.data = (char *)lin->w.data + (size_t)(row0 * lin->w.st[0]) * ig_dtype_size(lin->w.dtype);
    if (ig__dnnl_weights_for(e, op, part, &wsrc, 2, wdims, wstr, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                             &wei, err) != IG_OK)
        goto fail;
    if (ig__dnnl_prim_setup(e, p, pd, wei, op->bias[part], err) != IG_OK) goto fail;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return err->status;
}

static ig_status create(ig_engine *e, ig_linear *lin, ig__dnnl_op *op, ig__dnnl_prim *p) {
    ig_err *err = &e->err;
    const double t0 = ig__now_s();
    if (lin->geglu) {
        const int64_t F = lin->w.ne[0] / 2, M = p->dst_md.dims[0];
        ig__dnnl_prim *g = calloc(1, sizeof *g);
        if (!g) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a geglu primitive");
        p->gate = g;
        g->src_md = p->src_md;
        dnnl_dims_t dims = {M, F};
        DNNL_TRY(err, dnnl_memory_desc_init_by_tag(&g->dst_md, 2, dims, p->dst_md.data_type, dnnl_ab));
        p->mul_md = g->dst_md;
        if (ig__dnnl_tmp_reserve(e, dnnl_memory_desc_get_size(&g->dst_md), err) != IG_OK) goto fail;
        if (create_part(e, lin, op, g, 1, F, F, IG_ACT_GELU_ERF) != IG_OK) goto fail;
        if (create_part(e, lin, op, p, 0, 0, F, IG_ACT_NONE) != IG_OK) goto fail;
    } else if (create_part(e, lin, op, p, 0, 0, lin->w.ne[0], lin->act) != IG_OK)
        goto fail;
fail:
    ig__dnnl_setup_add(e, ig__now_s() - t0);
    return err->status;
}

static dnnl_status_t rows_md(dnnl_memory_desc_t *md, const ig_tensor *t) {
    const int64_t C = t->ne[t->n_dims - 1];
    dnnl_dims_t dims = {ig_tensor_nelem(t) / C, C};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, ig__dnnl_dt(t->dtype), dnnl_ab);
}

ig_status ig__dnnl_linear(ig_engine *e, ig_linear *lin, const ig_tensor *x, const ig_tensor *res, ig_tensor *y) {
    ig_err *err = &e->err;
    ig__dnnl_key key = ig__dnnl_key_of(&lin->w, &lin->b);
    key.act = (int)lin->act, key.geglu = lin->geglu;
    ig__dnnl_op *op = ig__dnnl_op_get(e, lin, &key);
    if (!op) return err->status;
    dnnl_memory_desc_t src_md, dst_md, res_md;
    memset(&res_md, 0, sizeof res_md);
    DNNL_TRY(err, rows_md(&src_md, x));
    DNNL_TRY(err, rows_md(&dst_md, y));
    if (res) DNNL_TRY(err, rows_md(&res_md, res));

    ig__dnnl_prim *p = op->prims;
    for (; p; p = p->next)
        if (dnnl_memory_desc_equal(&p->src_md, &src_md) && dnnl_memory_desc_equal(&p->dst_md, &dst_md) &&
            p->has_res == (res != NULL) && (!res || dnnl_memory_desc_equal(&p->res_md, &res_md)))
            break;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return ig__fail(err, IG_ERR_NOMEM, "out of memory for a linear primitive");
        p->src_md = src_md, p->dst_md = dst_md, p->res_md = res_md, p->has_res = res != NULL;
        if (create(e, lin, op, p) != IG_OK) {
            ig__dnnl_prim_free(p);
            return err->status;
        }
        p->next = op->prims;
        op->prims = p;
    }
    /* geglu: the gate half writes gelu(x wg^T + bg) into the engine's intermediate, the value half reads it */
    void *tmp = ig__dnnl_ctx(e)->tmp;
    if (p->gate && ig__dnnl_prim_run(e, p->gate, x->data, tmp, NULL, NULL, err) != IG_OK) return err->status;
    return ig__dnnl_prim_run(e, p, x->data, y->data, res ? res->data : NULL, p->gate ? tmp : NULL, err);
fail:
    return err->status;
}
