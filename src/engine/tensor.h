/* tensor.h — imagine's tensor: a typed view (shape + strides) over memory it does not own.
 *
 * Shapes are logical and outermost first, as torch prints them: images are (N, C, H, W), token
 * sequences (B, T, C), weights as the checkpoint stores them. Strides are in elements. Layout is
 * a property of the strides, not of the shape: the engine keeps image activations channels-last
 * (NHWC strides), which oneDNN's AMX/AVX-512 convolutions prefer and which makes an image the same
 * memory as its token sequence (N, H*W, C) for attention, so no reorder sits between a conv and a
 * transformer block. Plain NCHW appears only at the edges (checkpoints, golden files).
 *
 * Memory: the data pointer belongs to whoever made the view (a mmapped checkpoint, an arena).
 */
#ifndef IG_TENSOR_H
#define IG_TENSOR_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define IG_MAX_DIMS 4

typedef enum ig_dtype { IG_F32 = 0, IG_BF16 = 1, IG_F16 = 2 } ig_dtype;

typedef struct ig_tensor {
    ig_dtype dtype;
    int n_dims;
    int64_t ne[IG_MAX_DIMS]; /* shape, outermost first; unused dims are 1 */
    int64_t st[IG_MAX_DIMS]; /* strides in elements */
    void *data;
} ig_tensor;

size_t ig_dtype_size(ig_dtype dt);
const char *ig_dtype_name(ig_dtype dt);

/* A contiguous row-major view: strides follow the shape (NCHW for 4-D). */
ig_tensor ig_tensor_plain(ig_dtype dt, int n_dims, const int64_t *ne, void *data);
/* A 4-D image (N, C, H, W) stored channels-last: element (n,c,h,w) at ((n*H + h)*W + w)*C + c. */
ig_tensor ig_tensor_nhwc(ig_dtype dt, int64_t n, int64_t c, int64_t h, int64_t w, void *data);

int64_t ig_tensor_nelem(const ig_tensor *t);
/* Bytes spanned by the view (max offset + 1 element), i.e. what its memory must hold. */
size_t ig_tensor_nbytes(const ig_tensor *t);
bool ig_tensor_is_contiguous(const ig_tensor *t); /* row-major, no gaps */
bool ig_tensor_is_nhwc(const ig_tensor *t);       /* 4-D with dense channels-last strides */
/* Same shape, the same strides on every dim with more than one element, and those strides tile a
 * dense block from data (contiguous, NHWC or any other permutation): a and b are the same bytes. */
bool ig_tensor_dense_alike(const ig_tensor *a, const ig_tensor *b);
bool ig_tensor_same_shape(const ig_tensor *a, const ig_tensor *b);
/* Element offset of a multi-index (n_dims entries). */
int64_t ig_tensor_offset(const ig_tensor *t, const int64_t *idx);
/* Read/write one element as float (any dtype); for reference code and tests, not hot loops. */
float ig_tensor_get(const ig_tensor *t, const int64_t *idx);
void ig_tensor_set(const ig_tensor *t, const int64_t *idx, float v);
/* Copy src into dst elementwise with dtype conversion; shapes must match, layouts may differ.
 * One memmove when the dtypes match and the two are laid out alike (ig_tensor_dense_alike). */
void ig_tensor_copy(const ig_tensor *dst, const ig_tensor *src);
/* "(2, 320, 64, 64) bf16 nhwc" into buf, for error messages. */
const char *ig_tensor_describe(const ig_tensor *t, char *buf, size_t len);

/* bf16 and f16 conversions (round to nearest even; NaN stays NaN). */
static inline uint16_t ig_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float ig_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}
uint16_t ig_f32_to_f16(float f);
float ig_f16_to_f32(uint16_t h);

/* Bulk conversions (vectorised where the CPU allows). */
void ig_convert_f32_to_bf16(uint16_t *dst, const float *src, size_t n);
void ig_convert_bf16_to_f32(float *dst, const uint16_t *src, size_t n);
void ig_convert_f16_to_f32(float *dst, const uint16_t *src, size_t n);

#endif
