/* gemm.c — ig__dnnl_gemm (cpu.h): row-major C = alpha A op(B) + beta C on oneDNN's BLAS-like calls,
 * for our own kernels' blocks. Owns no oneDNN state: these calls need no engine or stream (the
 * convolutions' engine and stream are dnnl.c's). Why not matmul primitives: see gemm.h. */
#include "gemm.h"

#include <dnnl.h>

#include "../vec.h"

/* Exported by libdnnl 2.x (src/cpu/gemm/gemm.cpp, extern "C", used by its own tests and benchdnn)
 * but not declared in the public headers. Row-major like dnnl_sgemm; bfloat16_t there is a struct
 * holding one uint16_t, so the pointers below have the same ABI. */
dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                    float alpha, const uint16_t *A, dnnl_dim_t lda, const uint16_t *B,
                                    dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);

bool ig__dnnl_gemm_native_bf16(void) {
    /* oneDNN's bf16 GEMM driver needs avx512_core (it emulates the bf16 dot product without
     * AVX512-BF16); below that it returns dnnl_unimplemented. */
    return ig__cpu_has_avx512();
}

/* Copy rows x cols bf16 (leading dim ld) into dense f32. */
static void widen(float *dst, const uint16_t *src, int64_t rows, int64_t cols, int64_t ld) {
    for (int64_t r = 0; r < rows; r++) ig_convert_bf16_to_f32(dst + r * cols, src + r * ld, (size_t)cols);
}

/* bf16 without a native oneDNN path: widen both operands (allocated per call; slow by design). */
static ig_status gemm_bf16_widened(bool transb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t *A,
                                   int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    ig_status st = IG_ERR_NOMEM;
    const int64_t b_rows = transb ? N : K, b_cols = transb ? K : N;
    float *a32 = ig__alloc((size_t)(M * K) * sizeof(float));
    float *b32 = ig__alloc((size_t)(b_rows * b_cols) * sizeof(float));
    if (!a32 || !b32) goto fail;
    widen(a32, A, M, K, lda);
    widen(b32, B, b_rows, b_cols, ldb);
    st = dnnl_sgemm('N', transb ? 'T' : 'N', M, N, K, alpha, a32, K, b32, b_cols, beta, C, ldc) == dnnl_success
             ? IG_OK
             : IG_ERR_BACKEND;
fail:
    ig__free(b32);
    ig__free(a32);
    return st;
}

ig_status ig__dnnl_gemm(ig_dtype ab_dtype, bool transb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                        int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0 || lda < K || ldb < (transb ? K : N) || ldc < N) return IG_ERR_INVALID;
    if (M == 0 || N == 0) return IG_OK;
    if (K == 0) { /* oneDNN accepts it, but say what happens: C = beta C (beta 0 overwrites, NaN included) */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return IG_OK;
    }
    const char tb = transb ? 'T' : 'N';
    dnnl_status_t s;
    switch (ab_dtype) {
    case IG_F32:
        s = dnnl_sgemm('N', tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        break;
    case IG_BF16:
        s = ig__dnnl_gemm_native_bf16() ? dnnl_gemm_bf16bf16f32('N', tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
                                         : dnnl_unimplemented;
        if (s == dnnl_unimplemented) /* no AVX-512 (or oneDNN capped below it) */
            return gemm_bf16_widened(transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        break;
    default:
        return IG_ERR_UNSUPPORTED;
    }
    return s == dnnl_success ? IG_OK : IG_ERR_BACKEND;
}
