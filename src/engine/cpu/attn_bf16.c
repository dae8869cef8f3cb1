/* attn_bf16.c — attention's avx512bf16 path: bf16 inputs on a CPU with AVX512_BF16 but no AMX
 * (Zen 4/5, Cooper Lake). Owns the K/V packing, the two register-blocked vdpbf16ps microkernels
 * (S = Q K^T and O += P V), the softmax between them and the per-thread loop. Leaves the plan,
 * the dispatch and the output rows (O / l) to attn.c, and the shared exp2 / row-max helpers to
 * attn.h.
 *
 * Why our own: oneDNN 2.6's GEMM repacks an operand on every call of these skinny products (K = 64
 * for Q K^T, N = 64 for P V) and ran attention at ~52 % of the vdpbf16ps peak. Here K and V are
 * packed once per head (per thread: a thread's items run head after head, so it repacks only when
 * its head changes; two threads on one head both pack it, O(Tk D) against O(Tq Tk D) work).
 *
 * vdpbf16ps dst, a, b: dst[i] += a[2i] b[2i] + a[2i+1] b[2i+1] (f32 lanes, bf16 pairs). Both
 * products broadcast a pair from one operand and take 16 pairs of the other from a packed panel:
 *   S[r][n..n+15] += bcast(Q[r][d], Q[r][d+1]) . kpack: keys n..n+15, each with its pair (d, d+1)
 *   O[r][c..c+15] += bcast(P[r][j], P[r][j+1]) . vpack: channels c..c+15, each with keys (j, j+1)
 * Q's pairs and P's pairs are adjacent in plain row-major bf16, so Q (copied, zero-padded to an
 * even width) and P (written by the softmax) need no reordering.
 * Layouts (bf16 elements), per head:
 *   kpack [Tk16/16][Dq/2][16][2]  Tk16 = Tk rounded to 16 (zero keys), Dq = D rounded to 2
 *   vpack [Tk16/2][Dv][2]         Dv = D rounded to 16 (zero channels): one key pair = Dv/16 vectors
 * Register blocking: 6 query rows x 4 vectors (64 keys, or 64 channels) = 24 f32 accumulators, plus
 * 4 panel vectors; the pair broadcasts are memory operands. Per step 4 + 6 loads for 24 vdpbf16ps,
 * under the two loads per cycle that keep two vdpbf16ps per cycle fed.
 *
 * One item = bq query rows (a multiple of 6) of one head; keys are visited in blocks of bk, and for
 * each block and each 6-row tile: S (6 x bk f32, L1), softmax into P (bf16), O = alpha O + P V.
 * The softmax is amx_softmax's (attn.c): the max is taken once per row in its first block, later
 * blocks exponentiate against it and only a row whose block sum reaches 2^64 is rebased. So after
 * a row's first block the max is known before the scores exist, and the exponentials are taken
 * in Q K^T's tile epilogue, on the accumulators (fuse_args), which the out-of-order core overlaps
 * with the next tile's products. P is rounded to bf16 as written (as PyTorch's bf16 SDPA does);
 * S, O and the sums stay f32 (the sums go to double per block). Results do not depend on the
 * thread count (an item is one thread's, and every thread packs a head alike).
 * Measured (one Zen 5 core, kernels alone on L1 data): both microkernels at 95-98 % of the
 * vdpbf16ps peak; the softmax adds ~16 % to their time, the rest of the gap is packing, Q's copy
 * and the output rows. */
#include "attn.h"

#include <omp.h>
#include <string.h>

#define IG_BF16DP IG_AVX512_BF16
#define ALWAYS_INLINE __attribute__((always_inline)) inline

enum { TILE_R = 6, TILE_V = 4 }; /* rows per tile; vectors (of 16 keys or channels) per tile */

bool ig__attn_bf16_available(void) { return ig__cpu_has_avx512() && ig__cpu_has_avx512bf16(); }

IG_BF16DP static inline __m512i bcast_pair(const uint16_t *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return _mm512_set1_epi32(x);
}


/* The softmax fused into Q K^T's tile (every key block but a row's first): the tile's scores, still
 * in registers, become P = 2^(c s - m) (bf16, row stride ld_p) and their sums (added to bsum, 16
 * lanes per row); keys past the block's end (lanes off `last` in the tile's last vector) get P = 0.
 * The scores are stored as well, for the rare row that must be rebased (softmax_rows). */
typedef struct fuse_args {
    uint16_t *p;
    int64_t ld_p;
    const float *m;
    float c;
    float *bsum;
    __mmask16 last;
} fuse_args;

/* S[0:R][0:16 J] = Q[0:R][0:2 n_pairs] . K^T; q rows ldq apart, kp = kpack at the first of 16 J keys,
 * kstride elements between 16-key groups. */
IG_BF16DP static ALWAYS_INLINE void qk_tile(const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t kstride,
                                           int64_t n_pairs, float *s, int64_t ld_s, const fuse_args *fa,
                                           const bool fused, const int R, const int J) {
    __m512 acc[TILE_R][TILE_V];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t d = 0; d < n_pairs; d++) {
        __m512i kv[TILE_V];
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) kv[j] = _mm512_loadu_si512(kp + j * kstride + d * 32);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const __m512bh a = (__m512bh)bcast_pair(q + r * ldq + 2 * d);
#pragma GCC unroll 4
            for (int j = 0; j < J; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, (__m512bh)kv[j]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < J; j++) _mm512_storeu_ps(s + r * ld_s + 16 * j, acc[r][j]);
    if (!fused) return;
    const __m512 vc = _mm512_set1_ps(fa->c);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        const __m512 vm = _mm512_set1_ps(fa->m[r]);
        __m512 sum = _mm512_loadu_ps(fa->bsum + 16 * r);
#pragma GCC unroll 2
        for (int j = 0; j < J; j += 2) {
            __m512 y0 = exp2_dp(_mm512_fmsub_ps(acc[r][j], vc, vm)), y1 = _mm512_setzero_ps();
            if (j + 1 < J) y1 = exp2_dp(_mm512_fmsub_ps(acc[r][j + 1], vc, vm));
            if (j + 1 == J) y0 = _mm512_maskz_mov_ps(fa->last, y0);
            if (j + 2 == J) y1 = _mm512_maskz_mov_ps(fa->last, y1);
            sum = _mm512_add_ps(sum, _mm512_add_ps(y0, y1));
            _mm512_storeu_si512(fa->p + r * fa->ld_p + 16 * j, (__m512i)_mm512_cvtne2ps_pbh(y1, y0));
        }
        _mm512_storeu_ps(fa->bsum + 16 * r, sum);
    }
}

/* O[0:R][0:16 V] = (first ? 0 : alpha O) + P[0:R][0:2 n_pairs] . vpack; p rows ld_p apart, vp = vpack
 * at the first key pair and channel, ldv elements per key pair. */
IG_BF16DP static ALWAYS_INLINE void pv_tile(const uint16_t *p, int64_t ld_p, const uint16_t *vp, int64_t ldv,
                                           int64_t n_pairs, float *o, int64_t ld_o, const float *alpha, bool first,
                                           const int R, const int V) {
    __m512 acc[TILE_R][TILE_V];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        const __m512 a = _mm512_set1_ps(first ? 0.0f : alpha[r]);
#pragma GCC unroll 4
        for (int j = 0; j < V; j++)
            acc[r][j] = first ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_loadu_ps(o + r * ld_o + 16 * j), a);
    }
    for (int64_t k = 0; k < n_pairs; k++) {
        __m512i vv[TILE_V];
#pragma GCC unroll 4
        for (int j = 0; j < V; j++) vv[j] = _mm512_loadu_si512(vp + k * ldv + j * 32);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            const __m512bh a = (__m512bh)bcast_pair(p + r * ld_p + 2 * k);
#pragma GCC unroll 4
            for (int j = 0; j < V; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], a, (__m512bh)vv[j]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < V; j++) _mm512_storeu_ps(o + r * ld_o + 16 * j, acc[r][j]);
}

/* S for 6 rows and nk keys (n_vec = nk / 16 rounded up): tiles of 4 vectors, the last 1..3 vectors
 * as a narrower tile. fa: P and its sums too (fuse_args; fa->last is set here). */
#define QK_TILE(FUSED, J)                                                                                            \
    qk_tile(q, ldq, kp + j * kstride, kstride, n_pairs, s + 16 * j, ld_s, &f, FUSED, TILE_R, J)
#define QK_TILES(FUSED)                                                                                              \
    do {                                                                                                             \
        for (; j + 4 <= n_vec; j += 4) {                                                                             \
            f.last = j + 4 == n_vec ? last : (__mmask16)0xffff;                                                      \
            f.p = p0 + 16 * j;                                                                                       \
            QK_TILE(FUSED, 4);                                                                                       \
        }                                                                                                            \
        f.last = last, f.p = p0 + 16 * j;                                                                            \
        switch (n_vec - j) {                                                                                         \
        case 3: QK_TILE(FUSED, 3); break;                                                                            \
        case 2: QK_TILE(FUSED, 2); break;                                                                            \
        case 1: QK_TILE(FUSED, 1); break;                                                                            \
        }                                                                                                            \
    } while (0)
IG_BF16DP static void qk_rows(const uint16_t *q, int64_t ldq, const uint16_t *kp, int64_t kstride, int64_t n_pairs,
                              int64_t nk, float *s, int64_t ld_s, const fuse_args *fa) {
    const int64_t n_vec = (nk + 15) / 16;
    const __mmask16 last = tail_mask(nk - 16 * (n_vec - 1));
    fuse_args f = fa ? *fa : (fuse_args){0};
    uint16_t *p0 = f.p;
    int64_t j = 0;
    if (fa) QK_TILES(true);
    else QK_TILES(false);
}
#undef QK_TILES
#undef QK_TILE

IG_BF16DP static void pv_rows(const uint16_t *p, int64_t ld_p, const uint16_t *vp, int64_t ldv, int64_t n_pairs,
                              int64_t n_vec, float *o, int64_t ld_o, const float *alpha, bool first) {
    int64_t j = 0;
    for (; j + 4 <= n_vec; j += 4) {
        if (first) pv_tile(p, ld_p, vp + 32 * j, ldv, n_pairs, o + 16 * j, ld_o, alpha, true, TILE_R, 4);
        else pv_tile(p, ld_p, vp + 32 * j, ldv, n_pairs, o + 16 * j, ld_o, alpha, false, TILE_R, 4);
    }
#define PV_TAIL(V)                                                                                                   \
    case V:                                                                                                          \
        if (first) pv_tile(p, ld_p, vp + 32 * j, ldv, n_pairs, o + 16 * j, ld_o, alpha, true, TILE_R, V);            \
        else pv_tile(p, ld_p, vp + 32 * j, ldv, n_pairs, o + 16 * j, ld_o, alpha, false, TILE_R, V);                 \
        break;
    switch (n_vec - j) {
        PV_TAIL(3)
        PV_TAIL(2)
        PV_TAIL(1)
    }
#undef PV_TAIL
}

/* amx_softmax (attn.c) without the interleaved tile work: rows of n scores S -> P (bf16, columns
 * up to n rounded to 32 written, zeros past n), m fixed at the row's first block, l += sum. */
IG_BF16DP static void softmax_rows(const float *s, int64_t ld_s, uint16_t *pb, int64_t ld_p, int64_t rows, int64_t n,
                                   float c, float *m, double *l, float *alpha) {
    for (int64_t r = 0; r < rows; r++) softmax_row(s + r * ld_s, pb + r * ld_p, n, c, m + r, l + r, alpha + r, true);
}

/* Row n's head slice (D bf16) on its way into the cache: the rows are ld apart, which the hardware
 * prefetcher follows poorly (packing waited on L3 for 5 % of a call without this). */
static inline void prefetch_row(const uint16_t *row, int64_t D) {
    for (int64_t i = 0; i < D; i += 32) __builtin_prefetch(row + i);
    __builtin_prefetch(row + D - 1);
}

/* Head (b, h) into kd (kpack) and vd (vpack); padding keys and channels are zeros. */
IG_BF16DP static void pack_head(const attn_plan *p, int64_t b, int64_t h, uint16_t *kd, uint16_t *vd) {
    const int64_t ld = p->ld, D = p->D, n_pairs = p->dp / 2, dv = p->dv, tkp = p->tkp;
    const uint16_t *ks = (const uint16_t *)p->k + b * p->Tk * ld + h * D;
    const uint16_t *vs = (const uint16_t *)p->v + b * p->Tk * ld + h * D;
    /* K: a 32-bit transpose (16 keys x Dq/2 pairs -> Dq/2 x 16), one pair at a time (vpgatherdd
     * measured 4 % of the whole call on Zen 5; plain moves are ~20 times cheaper). */
    for (int64_t g = 0; g < tkp / 16; g++) {
        uint32_t *dst = (uint32_t *)(kd + g * n_pairs * 32);
        for (int64_t i = 0; i < 16; i++) {
            const int64_t n = g * 16 + i;
            const uint16_t *src = ks + n * ld;
            if (n + 64 < p->Tk) prefetch_row(src + 64 * ld, D);
            for (int64_t d2 = 0; d2 < n_pairs; d2++) {
                uint32_t x = 0;
                if (n < p->Tk && 2 * d2 + 1 < D) memcpy(&x, src + 2 * d2, 4);
                else if (n < p->Tk) x = src[2 * d2]; /* odd D: the last pair has one element */
                dst[d2 * 16 + i] = x;
            }
        }
    }
    /* V: interleave rows n and n+1, 16 channels at a time. */
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                           21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t kp = 0; kp < tkp / 2; kp++) {
        const int64_t n0 = 2 * kp, n1 = n0 + 1;
        if (n1 + 64 < p->Tk) prefetch_row(vs + (n0 + 64) * ld, D), prefetch_row(vs + (n1 + 64) * ld, D);
        for (int64_t t = 0; t < dv / 16; t++) {
            const __mmask16 ch = tail_mask(D - t * 16);
            __m256i a = _mm256_maskz_loadu_epi16(n0 < p->Tk ? ch : 0, vs + n0 * ld + t * 16);
            __m256i c = _mm256_maskz_loadu_epi16(n1 < p->Tk ? ch : 0, vs + n1 * ld + t * 16);
            __m512i x = _mm512_permutexvar_epi16(pairs, _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1));
            _mm512_storeu_si512(vd + kp * dv * 2 + t * 32, x);
        }
    }
}

/* One item: rows [q0, q0 + bq) of head (b, h), kh / vh its packed keys and values. */
IG_BF16DP static void item(const attn_plan *p, attn_ws *w, int64_t b, int64_t h, int64_t q0, const uint16_t *kh,
                           const uint16_t *vh) {
    const int64_t rows = IG_MIN(p->bq, p->Tq - q0), rows6 = round_up(rows, TILE_R), dq = p->dp, dv = p->dv;
    /* Q rows, zero-padded to an even width and to whole tiles (padding rows give finite, unused O rows). */
    for (int64_t r = 0; r < rows6; r++) {
        uint16_t *dst = w->qp + r * dq;
        const int64_t n = r < rows ? p->D : 0;
        if (n) memcpy(dst, (const uint16_t *)p->q + (b * p->Tq + q0 + r) * p->ld + h * p->D, (size_t)n * 2);
        memset(dst + n, 0, (size_t)(dq - n) * 2);
    }
    for (int64_t r = 0; r < rows6; r++) w->m[r] = -INFINITY, w->l[r] = 0;
    const float c = p->scale * (float)M_LOG2E;
    for (int64_t k0 = 0; k0 < p->Tk; k0 += p->bk) {
        const int64_t nk = IG_MIN(p->bk, p->Tk - k0), n_kpairs = (nk + 1) / 2;
        const uint16_t *kb = kh + k0 * dq, *vb = vh + k0 * dv; /* k0 is a multiple of 16 */
        for (int64_t r0 = 0; r0 < rows6; r0 += TILE_R) {
            if (k0 == 0) { /* a row's first block sets its max m */
                qk_rows(w->qp + r0 * dq, dq, kb, 16 * dq, dq / 2, nk, w->s, p->ld_s, NULL);
                softmax_rows(w->s, p->ld_s, w->p, p->ld_p, TILE_R, nk, c, w->m + r0, w->l + r0, w->alpha + r0);
            } else {
                float bsum[TILE_R * 16] __attribute__((aligned(64))) = {0};
                const fuse_args fa = {.p = w->p, .ld_p = p->ld_p, .m = w->m + r0, .c = c, .bsum = bsum};
                qk_rows(w->qp + r0 * dq, dq, kb, 16 * dq, dq / 2, nk, w->s, p->ld_s, &fa);
                for (int64_t r = 0; r < TILE_R; r++) {
                    const double sum = _mm512_reduce_add_ps(_mm512_load_ps(bsum + 16 * r));
                    w->alpha[r0 + r] = 1.0f;
                    if (sum < 0x1p64) w->l[r0 + r] += sum;
                    else /* some score far above m (or NaN): redo the row from S, rebased */
                        softmax_rows(w->s + r * p->ld_s, p->ld_s, w->p + r * p->ld_p, p->ld_p, 1, nk, c, w->m + r0 + r,
                                     w->l + r0 + r, w->alpha + r0 + r);
                }
            }
            pv_rows(w->p, p->ld_p, vb, 2 * dv, n_kpairs, dv / 16, w->o + r0 * w->ld_o, w->ld_o, w->alpha + r0, k0 == 0);
        }
    }
    ig__attn_store_rows(p, w->o, w->ld_o, w->l, rows, b, h, q0);
}

/* Block sizes (measured on a Zen 5 core, one thread, tests/unit/test_attn.c's timings): bk = 256 keys
 * ran 4-8 % faster than 128 (half the per-block softmax work: row sums, the rebase check, O's
 * rescale) although a D = 64 block of K and V (64 KiB) then overflows L1 into L2; 64 was 10 %
 * slower. bq = 48 rows (8 tiles) and 96 measured the same; 48 gives twice the items to share out.
 * A head whose packed K and V pass 16 MiB (the VAE's 512-wide head at 16384 tokens, SDXL at
 * 1024x1024: 32 MiB) is streamed from memory by every query block: there 192 rows (4x fewer passes)
 * ran at 82 % of the peak against 65 % with 48 (2 threads; 288 and 384 the same as 192), while at
 * 4096 tokens (8 MiB) 48 stays the best (79 % against 73 % with 192).
 * Heads packed together: as many as fit 256 KiB (77 text tokens: all of them, so a query block's
 * rows serve every head from cache). */
void ig__attn_bf16_blocks(attn_plan *p) {
    p->dp = round_up(p->D, 2), p->dv = round_up(p->D, 16), p->tkp = round_up(p->Tk, 16);
    const bool big_head = p->tkp * (p->dp + p->dv) * 2 > (16 << 20);
    p->bq = p->tune_bq ? round_up(p->tune_bq, TILE_R) : big_head ? 192 : 48;
    p->bk = p->tune_bk ? round_up(p->tune_bk, 32) : 256;
    p->bq = IG_MIN(p->bq, round_up(p->Tq, TILE_R));
    p->bk = IG_MIN(p->bk, p->tkp);
    p->group = IG_MAX(1, IG_MIN(p->H, (1 << 18) / (p->tkp * (p->dp + p->dv) * 2)));
}

/* The items, in order (batch, head group, query block, head in group): with one head per group that
 * is head after head. A thread repacks when its item's group differs from its last one's. Dynamic
 * chunks of 4 (as amx_thread): a thread slowed by a neighbour does not hold up the call's end; the
 * threads then move through the heads side by side, each packing every head (1-2 % of a head's
 * work at Tk = 4096). */
void ig__attn_bf16_thread(const attn_plan *p, attn_ws *w) {
    const int64_t per_head_k = p->tkp * p->dp, per_head_v = p->tkp * p->dv, per_b = p->H * p->n_qb;
    int64_t packed_b = -1, packed_g = -1;
#pragma omp for schedule(dynamic, 4)
    for (int64_t it = 0; it < p->B * per_b; it++) {
        const int64_t b = it / per_b, r = it % per_b, g = r / (p->group * p->n_qb), h0 = g * p->group;
        const int64_t nh = IG_MIN(p->group, p->H - h0), r2 = r - g * p->group * p->n_qb;
        const int64_t qb = r2 / nh, hh = r2 % nh;
        if (b != packed_b || g != packed_g) {
            for (int64_t i = 0; i < nh; i++) pack_head(p, b, h0 + i, w->kp + i * per_head_k, w->vp + i * per_head_v);
            packed_b = b, packed_g = g;
        }
        item(p, w, b, h0 + hh, qb * p->bq, w->kp + hh * per_head_k, w->vp + hh * per_head_v);
    }
}
