/* backend.c — the two CPU backends as tables of function pointers (engine.h):
 * "ref" is cpu/ref.c throughout; "cpu" is oneDNN for conv/matmul and our own kernels for the rest. */
#include "cpu.h"

const ig_backend ig__backend_ref = {
    .name = "ref",
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
