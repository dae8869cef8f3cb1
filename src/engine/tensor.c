/* tensor.c — shapes, strides, element access and dtype conversion for ig_tensor (see tensor.h).
 * Owns no memory. Hot loops live in the backends; the helpers here serve reference code, tests
 * and edges (loading, golden files). */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common.h"

size_t ig_dtype_size(ig_dtype dt) { return dt == IG_F32 ? 4 : 2; }

const char *ig_dtype_name(ig_dtype dt) {
    switch (dt) {
    case IG_F32: return "f32";
    case IG_BF16: return "bf16";
    case IG_F16: return "f16";
    }
    return "?";
}

ig_tensor ig_tensor_plain(ig_dtype dt, int n_dims, const int64_t *ne, void *data) {
    IG_ASSERT(n_dims >= 1 && n_dims <= IG_MAX_DIMS);
    ig_tensor t = {.dtype = dt, .n_dims = n_dims, .data = data};
    for (int i = 0; i < IG_MAX_DIMS; i++) t.ne[i] = i < n_dims ? ne[i] : 1;
    int64_t s = 1;
    for (int i = n_dims - 1; i >= 0; i--) {
        t.st[i] = s;
        s *= t.ne[i];
    }
    for (int i = n_dims; i < IG_MAX_DIMS; i++) t.st[i] = 1;
    return t;
}

ig_tensor ig_tensor_nhwc(ig_dtype dt, int64_t n, int64_t c, int64_t h, int64_t w, void *data) {
    ig_tensor t = {.dtype = dt, .n_dims = 4, .data = data};
    t.ne[0] = n, t.ne[1] = c, t.ne[2] = h, t.ne[3] = w;
    t.st[1] = 1, t.st[3] = c, t.st[2] = w * c, t.st[0] = h * w * c;
    return t;
}

int64_t ig_tensor_nelem(const ig_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->ne[i];
    return n;
}

size_t ig_tensor_nbytes(const ig_tensor *t) {
    int64_t last = 0;
    for (int i = 0; i < t->n_dims; i++) {
        if (t->ne[i] == 0) return 0;
        last += (t->ne[i] - 1) * t->st[i];
    }
    return (size_t)(last + 1) * ig_dtype_size(t->dtype);
}

bool ig_tensor_is_contiguous(const ig_tensor *t) {
    int64_t s = 1;
    for (int i = t->n_dims - 1; i >= 0; i--) {
        if (t->ne[i] != 1 && t->st[i] != s) return false;
        s *= t->ne[i];
    }
    return true;
}

bool ig_tensor_dense_alike(const ig_tensor *a, const ig_tensor *b) {
    if (!ig_tensor_same_shape(a, b)) return false;
    int64_t st[IG_MAX_DIMS], ne[IG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < a->n_dims; d++) {
        if (a->ne[d] == 1) continue;
        if (a->st[d] != b->st[d]) return false;
        int j = k++; /* insertion sort by stride */
        for (; j > 0 && st[j - 1] > a->st[d]; j--) st[j] = st[j - 1], ne[j] = ne[j - 1];
        st[j] = a->st[d], ne[j] = a->ne[d];
    }
    int64_t expect = 1;
    for (int j = 0; j < k; j++) {
        if (st[j] != expect) return false;
        expect *= ne[j];
    }
    return true;
}

bool ig_tensor_is_nhwc(const ig_tensor *t) {
    if (t->n_dims != 4) return false;
    const int64_t C = t->ne[1], H = t->ne[2], W = t->ne[3];
    return t->st[1] == 1 && (W == 1 || t->st[3] == C) && (H == 1 || t->st[2] == W * C) &&
           (t->ne[0] == 1 || t->st[0] == H * W * C);
}

bool ig_tensor_same_shape(const ig_tensor *a, const ig_tensor *b) {
    if (a->n_dims != b->n_dims) return false;
    for (int i = 0; i < a->n_dims; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

int64_t ig_tensor_offset(const ig_tensor *t, const int64_t *idx) {
    int64_t o = 0;
    for (int i = 0; i < t->n_dims; i++) o += idx[i] * t->st[i];
    return o;
}

float ig_tensor_get(const ig_tensor *t, const int64_t *idx) {
    int64_t o = ig_tensor_offset(t, idx);
    switch (t->dtype) {
    case IG_F32: return ((const float *)t->data)[o];
    case IG_BF16: return ig_bf16_to_f32(((const uint16_t *)t->data)[o]);
    case IG_F16: return ig_f16_to_f32(((const uint16_t *)t->data)[o]);
    }
    return NAN;
}

void ig_tensor_set(const ig_tensor *t, const int64_t *idx, float v) {
    int64_t o = ig_tensor_offset(t, idx);
    switch (t->dtype) {
    case IG_F32: ((float *)t->data)[o] = v; break;
    case IG_BF16: ((uint16_t *)t->data)[o] = ig_f32_to_bf16(v); break;
    case IG_F16: ((uint16_t *)t->data)[o] = ig_f32_to_f16(v); break;
    }
}

void ig_tensor_copy(const ig_tensor *dst, const ig_tensor *src) {
    IG_ASSERT(ig_tensor_same_shape(dst, src));
    if (dst->dtype == src->dtype && ig_tensor_dense_alike(dst, src)) {
        memmove(dst->data, src->data, (size_t)ig_tensor_nelem(src) * ig_dtype_size(src->dtype));
        return;
    }
    int64_t idx[IG_MAX_DIMS] = {0};
    const int64_t n = ig_tensor_nelem(src);
    for (int64_t e = 0; e < n; e++) {
        ig_tensor_set(dst, idx, ig_tensor_get(src, idx));
        for (int d = src->n_dims - 1; d >= 0; d--) {
            if (++idx[d] < src->ne[d]) break;
            idx[d] = 0;
        }
    }
}

const char *ig_tensor_describe(const ig_tensor *t, char *buf, size_t len) {
    int o = snprintf(buf, len, "(");
    for (int i = 0; i < t->n_dims && o > 0 && (size_t)o < len; i++)
        o += snprintf(buf + o, len - (size_t)o, "%s%lld", i ? ", " : "", (long long)t->ne[i]);
    if (o > 0 && (size_t)o < len)
        snprintf(buf + o, len - (size_t)o, ") %s%s", ig_dtype_name(t->dtype),
                 ig_tensor_is_nhwc(t) && t->ne[1] > 1 ? " nhwc" : "");
    return buf;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
uint16_t ig_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = {f};
    uint32_t sign = (v.u >> 16) & 0x8000u, a = v.u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);         /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);        /* overflow to inf */
    if (a < 0x38800000u) {                                          /* subnormal or zero */
        float r = fabsf(f) * 16777216.0f;                           /* scale by 2^24 */
        return (uint16_t)(sign | (uint32_t)lrintf(r));
    }
    uint32_t m = a + 0xc8000fffu + ((a >> 13) & 1u);                /* rebias, round to even */
    return (uint16_t)(sign | (m >> 13));
}

float ig_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    union { uint32_t u; float f; } v;
    if (e == 0) {
        float r = (float)m / 16777216.0f;
        return sign ? -r : r;
    }
    if (e == 31) v.u = sign | 0x7f800000u | (m << 13);
    else v.u = sign | ((e + 112u) << 23) | (m << 13);
    return v.f;
}

void ig_convert_f32_to_bf16(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = ig_f32_to_bf16(src[i]);
}

void ig_convert_bf16_to_f32(float *dst, const uint16_t *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = ig_bf16_to_f32(src[i]);
}

void ig_convert_f16_to_f32(float *dst, const uint16_t *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = ig_f16_to_f32(src[i]);
}
