/* backend.c — the two CPU backends as tables of function pointers (engine.h), and the "cpu"
 * backend's per-engine context (cpu.h ig__cpu_ctx):
 * "ref" is cpu/ref.c throughout and keeps no state; "cpu" is oneDNN for conv/matmul and our own
 * kernels for the rest. Both hand out host memory as their buffers. */
#include "cpu.h"

#include <stdlib.h>

static const char *ref_isa(void) { return "scalar"; }

void *ig__cpu_ctx_new(ig_engine *e, ig_err *err) {
    (void)e;
    if (ig__dnnl_init(err) != IG_OK) return NULL;
    ig__cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory creating the engine");
        return NULL;
    }
    if (ig__dnnl_ctx_init(c, err) != IG_OK) {
        free(c);
        return NULL;
    }
    return c;
}

void ig__cpu_ctx_free(ig_engine *e, void *ctx) {
    (void)e;
    ig__cpu_ctx *c = ctx;
    if (!c) return;
    ig__dnnl_ctx_fini(c);
    ig__free(c->attn_buf);
    free(c);
}

const ig_backend ig__backend_ref = {
    .name = "ref",
    .buf_alloc = ig__ref_buf_alloc,
    .buf_free = ig__ref_buf_free,
    .sync = ig__ref_sync,
    .isa = ref_isa,
    .upload = ig__ref_copy,
    .download = ig__ref_copy,
    .copy = ig__ref_copy,
    .fill = ig__ref_fill,
    .embedding = ig__ref_embedding,
    .conv2d = ig__ref_conv2d,
    .linear = ig__ref_linear,
    .op_release = ig__ref_op_release,
    .group_norm = ig__ref_group_norm,
    .layer_norm = ig__ref_layer_norm,
    .softmax = ig__ref_softmax,
    .attention = ig__ref_attention,
    .act = ig__ref_act,
    .binary = ig__ref_binary,
    .upsample2x = ig__ref_upsample2x,
    .upsample_conv2d = ig__ref_upsample_conv2d,
    .concat = ig__ref_concat,
};

const ig_backend ig__backend_cpu = {
    .name = "cpu",
    .ctx_new = ig__cpu_ctx_new,
    .ctx_free = ig__cpu_ctx_free,
    .buf_alloc = ig__ref_buf_alloc,
    .buf_free = ig__ref_buf_free,
    .sync = ig__ref_sync, /* every oneDNN execute is waited for; our kernels return when done */
    .isa = ig__dnnl_isa_name,
    .native_bf16 = ig__dnnl_has_native_bf16,
    .upload = ig__cpu_copy,
    .download = ig__cpu_copy,
    .copy = ig__cpu_copy,
    .fill = ig__cpu_fill,
    .embedding = ig__cpu_embedding,
    .conv2d = ig__dnnl_conv2d,
    .linear = ig__dnnl_linear,
    .op_release = ig__dnnl_op_release,
    .group_norm = ig__cpu_group_norm,
    .layer_norm = ig__cpu_layer_norm,
    .softmax = ig__cpu_softmax,
    .attention = ig__cpu_attention,
    .act = ig__cpu_act,
    .binary = ig__cpu_binary,
    .upsample2x = ig__cpu_upsample2x,
    .upsample_conv2d = ig__dnnl_upsample_conv2d,
    .concat = ig__cpu_concat,
};
