/* attn.h — what attn.c (the blocked loop, the gemm and amx paths, the dispatch) shares with
 * attn_bf16.c (the avx512bf16 path's kernels): the plan of one call, a thread's scratch, and the
 * softmax's vector pieces. Internal to those two files; everything else calls ig__cpu_attention
 * (cpu.h). */
#ifndef IG_CPU_ATTN_H
#define IG_CPU_ATTN_H

#include <math.h>

#include "cpu.h"
#include "vec.h"

enum {
    PATH_AUTO = IG__ATTN_PATH_AUTO,
    PATH_GEMM = IG__ATTN_PATH_GEMM,
    PATH_AMX = IG__ATTN_PATH_AMX,
    PATH_BF16 = IG__ATTN_PATH_AVX512BF16
};

static inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

typedef struct attn_plan {
    int64_t B, Tq, Tk, H, D, ld; /* ld = H * D: row stride of q, k, v and out */
    float scale;
    bool causal; /* query i sees keys j <= i (CLIP); gemm path only */
    ig_dtype in_dt, out_dt;
    const void *q, *k, *v;
    void *out;
    int path;
    bool avx512;
    int64_t bq, bk;     /* query rows per item, keys per softmax block */
    int64_t tune_bq, tune_bk; /* the engine's overrides (ig__cpu_ctx.attn_tune_*; 0: automatic) */
    int64_t n_qb;       /* query blocks per (batch, head) */
    int64_t ld_s, ld_p; /* row strides of S (f32) and P (bf16), padded off multiples of 4 KiB */
    /* amx and avx512bf16 */
    int64_t dp, dv, tkp; /* D rounded to 32 (amx: the tiles' K step) or 2 (avx512bf16: one pair), D rounded
                          * to 16 (a vector's or tile's channels), Tk rounded to 32 (amx) or 16 (avx512bf16) */
    uint16_t *kpack, *vpack; /* amx: two buffers of `group` packed heads each, used alternately */
    int64_t group;            /* heads packed together */
    /* per-thread scratch, carved from one allocation */
    size_t ws_bytes;
    char *ws;
} attn_plan;

typedef struct attn_ws { /* one thread's scratch */
    float *s, *o, *m, *alpha; /* S: two buffers (the amx path fills one while the softmax reads the other) */
    double *l;
    uint16_t *p, *qp;
    uint16_t *kp, *vp; /* avx512bf16: this thread's packed heads (a group of them) */
    int64_t ld_o;
} attn_ws;

/* ---------------------------------------------------------------------------------------------
 * Softmax pieces shared by the paths. c is the factor inside the exponent: scale (exp, f32 path)
 * or scale * log2(e) (exp2, bf16 paths). m holds max_j(c s_j) per row. */

/* 2^x for x = c s - m (below 64 wherever the result is kept): x = n + f with n = round(x) (adding
 * 1.5 * 2^23 rounds to an integer), 2^f on [-0.5, 0.5] by a degree-3 minimax polynomial (relative
 * error 1.0e-4, a fortieth of P's bf16 rounding), and vscalefps for 2^n, which needs no clamp:
 * it flushes to 0 below the range (and x far below -2^22 gives f = 0, n = x, also 0). Nine
 * instructions per 16 lanes counting the fused c s - m, against 13 for ig__v_exp. */
IG_AVX512 static inline __m512 exp2_fast(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 n = _mm512_sub_ps(_mm512_add_ps(x, magic), magic);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(0.0550089292f), f, _mm512_set1_ps(0.242210954f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(0.693282902f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

/* Lanes [0, r) of 16, r clamped to [0, 16]. */
static inline __mmask16 tail_mask(int64_t r) {
    return r <= 0 ? (__mmask16)0 : r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
}

/* max_j (c s_j) over n scores: max of s when c >= 0, min when c < 0. Four accumulators: vmaxps
 * has a latency of 4 cycles, two per cycle issue. */
#define ROW_EXTREME(OP, INIT)                                                                          \
    do {                                                                                               \
        __m512 a0 = _mm512_set1_ps(INIT), a1 = a0, a2 = a0, a3 = a0;                                   \
        int64_t j = 0;                                                                                 \
        for (; j + 64 <= n; j += 64) {                                                                 \
            a0 = OP(a0, _mm512_loadu_ps(s + j)), a1 = OP(a1, _mm512_loadu_ps(s + j + 16));             \
            a2 = OP(a2, _mm512_loadu_ps(s + j + 32)), a3 = OP(a3, _mm512_loadu_ps(s + j + 48));        \
        }                                                                                              \
        for (; j < n; j += 16) a0 = OP(a0, _mm512_mask_loadu_ps(_mm512_set1_ps(INIT), tail_mask(n - j), s + j)); \
        a0 = OP(OP(a0, a1), OP(a2, a3));                                                               \
        return c * (c >= 0 ? _mm512_reduce_max_ps(a0) : _mm512_reduce_min_ps(a0));                    \
    } while (0)
IG_AVX512 static inline float row_max_avx512(const float *s, int64_t n, float c) {
    if (c >= 0) ROW_EXTREME(_mm512_max_ps, -INFINITY);
    ROW_EXTREME(_mm512_min_ps, INFINITY);
}
#undef ROW_EXTREME

#define IG_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))

/* 2^x as exp2_fast computes it, in 6 instructions instead of 8 counting the fused c s - m:
 * vreduceps gives f = x - floor(x) in one step, and vscalefps multiplies by 2^floor(x) by itself, so
 * n is never formed. The polynomial is exp2_fast's moved to [0, 1) (sqrt(2) p(f - 1/2)): the same
 * 1.0e-4 relative error. Far below the range vscalefps flushes to 0, as before. */
IG_AVX512 static inline __m512 exp2_dp(__m512 x) {
    const __m512 f = _mm512_reduce_ps(x, 0x09); /* imm: round down (01), no precision exception (08) */
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(0.077794373f), f, _mm512_set1_ps(0.225846455f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(0.69625783f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(0.999898732f));
    return _mm512_scalef_ps(y, x);
}

/* One row of the blocked softmax, for the amx path (exp2_fast) and the avx512bf16 one (exp2_dp, dp):
 * n scores sr -> P (bf16, columns up to n rounded to 32 written, zeros past n), m fixed at the row's
 * first block, l += sum; a block whose sum reaches 2^64 moves m to the block's max (rebase, alpha). */
IG_AVX512_BF16 static inline __attribute__((always_inline)) void softmax_row(const float *sr, uint16_t *pr, int64_t n,
                                                                            float c, float *m, double *l, float *alpha,
                                                                            bool dp) {
    const __m512 vc = _mm512_set1_ps(c);
    *alpha = 1.0f;
    if (*m == -INFINITY) *m = row_max_avx512(sr, n, c), *alpha = 0.0f;
    for (;;) {
        const __m512 vm = _mm512_set1_ps(*m);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
        int64_t j = 0;
        for (; j + 32 <= n; j += 32) {
            const __m512 x0 = _mm512_fmsub_ps(_mm512_loadu_ps(sr + j), vc, vm);
            const __m512 x1 = _mm512_fmsub_ps(_mm512_loadu_ps(sr + j + 16), vc, vm);
            const __m512 y0 = dp ? exp2_dp(x0) : exp2_fast(x0), y1 = dp ? exp2_dp(x1) : exp2_fast(x1);
            acc0 = _mm512_add_ps(acc0, y0);
            acc1 = _mm512_add_ps(acc1, y1);
            _mm512_storeu_si512(pr + j, (__m512i)_mm512_cvtne2ps_pbh(y1, y0));
        }
        if (j < n) { /* last 1..31 keys; the rest of the 32 are padding, P = 0 there */
            const __mmask16 k0 = tail_mask(n - j), k1 = tail_mask(n - j - 16);
            const __m512 x0 = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(k0, sr + j), vc, vm);
            const __m512 x1 = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(k1, sr + j + 16), vc, vm);
            const __m512 y0 = _mm512_maskz_mov_ps(k0, dp ? exp2_dp(x0) : exp2_fast(x0));
            const __m512 y1 = _mm512_maskz_mov_ps(k1, dp ? exp2_dp(x1) : exp2_fast(x1));
            acc0 = _mm512_add_ps(acc0, y0);
            acc1 = _mm512_add_ps(acc1, y1);
            _mm512_storeu_si512(pr + j, (__m512i)_mm512_cvtne2ps_pbh(y1, y0));
        }
        const double sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        const float mb = sum < 0x1p64 ? *m : row_max_avx512(sr, n, c);
        if (!(mb > *m)) { /* the common case; also NaN scores, which no rebase would fix */
            *l = *l * *alpha + sum;
            return;
        }
        *alpha *= exp2f(*m - mb);
        *m = mb;
    }
}

static inline void reset_stats(attn_ws *w, int64_t rows) {
    for (int64_t r = 0; r < rows; r++) w->m[r] = -INFINITY, w->l[r] = 0;
}

/* attn.c: out rows [q0, q0 + rows) of head h = O / l, in out's dtype (AVX-512). */
void ig__attn_store_rows(const attn_plan *p, const float *o, int64_t ld_o, const double *l, int64_t rows, int64_t b,
                         int64_t h, int64_t q0);

/* attn_bf16.c: the avx512bf16 path. ig__attn_bf16_available: the CPU has AVX-512 with AVX512_BF16.
 * ig__attn_bf16_blocks: its block sizes, packed widths and head group (p->path == PATH_BF16).
 * ig__attn_bf16_thread: one thread's share of the call, inside the parallel region (omp for). */
bool ig__attn_bf16_available(void);
void ig__attn_bf16_blocks(attn_plan *p);
void ig__attn_bf16_thread(const attn_plan *p, attn_ws *w);

#endif
