/* attn.c — multi-head scaled dot-product attention on the CPU (ig__cpu_attention, cpu.h).
 *
 * Owns the blocked ("flash") loop, its online softmax, the choice of path, and an AMX tile kernel
 * for bf16 inputs. Leaves argument checks to ops.c, the portable path's GEMMs to dnnl/gemm.c, the
 * avx512bf16 path's kernels to attn_bf16.c, what both files share (plan, scratch, exp2 and row
 * max) to attn.h, the AVX-512 helpers (bf16 load/store, exp) to vec.h.
 *
 * Work items are (batch, head, block of bq query rows), shared out over the OpenMP threads head
 * after head, so the head's keys and values stay in L2 while all its query blocks use them.
 * Per item, keys are visited in blocks of bk: S = Q K^T (bq x bk f32: the only part of the score
 * matrix a thread ever holds), online softmax (max m and sum l per row; O is rescaled when m has
 * to move), O += P V; finally out = O / l. Scores stay raw, the scale is folded into the
 * exponent, so no pass multiplies S.
 *
 * Three paths, chosen per call (ig__cpu_ctx.attn_force_path forces gemm or avx512bf16):
 *  amx   bf16 inputs on a CPU with AMX-BF16 (Sapphire Rapids on): our own tile kernel. oneDNN 2.6
 *        reaches only 120-540 GFLOP/s on these skinny products (K = 64 for Q K^T, N = 64 for P V)
 *        because it repacks an operand per call (gemm.h); here K and V are packed once per head
 *        into the tile layouts, Q once per item, and the tile unit computes the next block's
 *        scores while the vector units exponentiate this one (qk_job).
 *        P is rounded to bf16 as it is written (as PyTorch's bf16 SDPA does).
 *  avx512bf16  bf16 inputs on a CPU with AVX512_BF16 but no AMX (Zen 4/5, Cooper Lake), not
 *        causal: register-blocked vdpbf16ps microkernels on K and V packed once per head per
 *        thread, the softmax fused into the Q K^T tile (attn_bf16.c). On 2 Zen 5 cores 60-75 % of
 *        the vdpbf16ps peak at D = 64, where the gemm path reached 45-53 % (oneDNN's GEMM repacks
 *        an operand per call, as above); also faster on the VAE's 512-wide head and on 77 keys.
 *  gemm  everything else (f32 inputs; causal; bf16 without AMX or AVX512_BF16): ig__dnnl_gemm
 *        on the strided head slices (leading dim H*D, no copies), our softmax between the two
 *        products: AVX-512 when present, plain C otherwise. bf16 without oneDNN's bf16 GEMM (no
 *        AVX-512) converts q, k, v to f32 once and runs the f32 version.
 *
 * Numerics: f32 path exp via ig__v_exp (2.3e-7 relative); bf16 paths a degree-3 exp2 (1e-4
 * relative, a fortieth of P's bf16 rounding; the avx512bf16 path evaluates the same polynomial
 * moved to [0, 1)). Row sums accumulate in f32 per key block (16 lanes,
 * at most bk / 16 terms each) and across blocks in double.
 *
 * State: the scratch (workspaces, packed K/V) and the settings (forced path, AVX-512 off, block
 * sizes) are the engine's (ig__cpu_ctx, cpu.h), so two engines may run attention at once; the only
 * process-wide state is the AMX permission probe. */
#include "attn.h"

#include <cpuid.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dnnl/gemm.h"
#include "vec.h"

#define IG_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16,amx-tile,amx-bf16")))

/* Lays one thread's scratch out from base (NULL: only measure); returns its size in bytes. */
static size_t ws_layout(const attn_plan *p, char *base, attn_ws *w) {
    size_t off = 0;
    const bool packed = p->path == PATH_AMX || p->path == PATH_BF16;
    w->ld_o = (packed ? p->dv : p->D) + 16; /* +64 bytes: O's rows off L1 set multiples */
#define TAKE(ptr, type, n) \
    (ptr = (type *)(base ? base + off : NULL), off += (size_t)round_up((int64_t)(n) * (int64_t)sizeof(type), 64))
    TAKE(w->s, float, 2 * p->bq * p->ld_s);
    TAKE(w->p, uint16_t, p->bq * p->ld_p);
    TAKE(w->o, float, p->bq * w->ld_o);
    TAKE(w->qp, uint16_t, packed ? p->bq * p->dp : 0);
    TAKE(w->kp, uint16_t, p->path == PATH_BF16 ? p->group * p->tkp * p->dp : 0);
    TAKE(w->vp, uint16_t, p->path == PATH_BF16 ? p->group * p->tkp * p->dv : 0);
    TAKE(w->m, float, p->bq);
    TAKE(w->alpha, float, p->bq);
    TAKE(w->l, double, p->bq);
#undef TAKE
    return (size_t)round_up((int64_t)off, 4096);
}

/* ---------------------------------------------------------------------------------------------
 * Softmax pieces of the gemm path (the shared ones are in attn.h). */

/* Lazy online-softmax max (gemm path; the amx path goes further, see amx_softmax). A row keeps
 * the max m it exponentiates against until a block's max mb exceeds it by more than `slack` (8
 * doublings: P <= 256, harmless in f32 sums and in bf16); only then are l and the row of O
 * rescaled, by alpha. Exact, since softmax is shift-invariant, and O is rescaled in a handful of
 * blocks instead of in most. First block: m = -inf, alpha = 0. Returns the max to use. */
static inline float lazy_max(float *m, float *alpha, float mb, bool base2) {
    const float slack = base2 ? 8.0f : 5.5451774f; /* 8 ln 2 */
    if (!(mb > *m + slack)) {
        *alpha = 1.0f;
        return *m;
    }
    *alpha = *m == -INFINITY ? 0.0f : base2 ? exp2f(*m - mb) : expf(*m - mb);
    return *m = mb;
}

/* One key block of the online softmax for `rows` rows of n raw scores S (row stride ld_s):
 * m by lazy_max, P = E(c s - m), l = l alpha + sum P, with E = 2^x (fast, bf16 paths) or e^x.
 * P goes to p16 (bf16, row stride ld_p, columns [n, n_pad) zeroed) or, when p16 is NULL, over S
 * in place (f32). */
IG_AVX512 static void softmax_block_avx512(float *s, int64_t ld_s, uint16_t *p16, int64_t ld_p, int64_t rows,
                                           int64_t n, int64_t n_pad, float c, bool fast, float *m, double *l,
                                           float *alpha) {
    const __m512 vc = _mm512_set1_ps(c);
    for (int64_t r = 0; r < rows; r++) {
        float *sr = s + r * ld_s;
        const __m512 vm = _mm512_set1_ps(lazy_max(&m[r], &alpha[r], row_max_avx512(sr, n, c), fast));
        __m512 acc = _mm512_setzero_ps();
        for (int64_t j = 0; j < n; j += 16) {
            const __mmask16 k = tail_mask(n - j);
            __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, sr + j), vc, vm);
            __m512 y = _mm512_maskz_mov_ps(k, fast ? exp2_fast(x) : ig__v_exp(x));
            acc = _mm512_add_ps(acc, y);
            if (p16) ig__v_maskstore_bf16(p16 + r * ld_p + j, k, y);
            else _mm512_mask_storeu_ps(sr + j, k, y);
        }
        if (p16) memset(p16 + r * ld_p + n, 0, (size_t)(n_pad - n) * 2);
        l[r] = l[r] * alpha[r] + _mm512_reduce_add_ps(acc);
    }
}

/* The same in plain C (CPUs without AVX-512): e^x always, sums in double. */
static void softmax_block_scalar(float *s, int64_t ld_s, uint16_t *p16, int64_t ld_p, int64_t rows, int64_t n,
                                 int64_t n_pad, float c, float *m, double *l, float *alpha) {
    for (int64_t r = 0; r < rows; r++) {
        float *sr = s + r * ld_s, mb = -INFINITY;
        for (int64_t j = 0; j < n; j++) mb = fmaxf(mb, c * sr[j]);
        const float mr = lazy_max(&m[r], &alpha[r], mb, false);
        double sum = 0;
        for (int64_t j = 0; j < n; j++) {
            const float y = expf(c * sr[j] - mr);
            sum += y;
            if (p16) p16[r * ld_p + j] = ig_f32_to_bf16(y);
            else sr[j] = y;
        }
        for (int64_t j = n; p16 && j < n_pad; j++) p16[r * ld_p + j] = 0;
        l[r] = l[r] * alpha[r] + sum;
    }
}

/* O rows *= alpha (the running max grew); rows whose max did not move are left alone. */
static void rescale_rows(float *o, int64_t ld_o, int64_t rows, int64_t cols, const float *alpha) {
    for (int64_t r = 0; r < rows; r++) {
        if (alpha[r] == 1.0f) continue;
        for (int64_t j = 0; j < cols; j++) o[r * ld_o + j] *= alpha[r];
    }
}

/* out rows [q0, q0 + rows) of head h = O / l, in out's dtype. */
IG_AVX512 void ig__attn_store_rows(const attn_plan *p, const float *o, int64_t ld_o, const double *l, int64_t rows,
                               int64_t b, int64_t h, int64_t q0) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t off = (b * p->Tq + q0 + r) * p->ld + h * p->D;
        const __m512 inv = _mm512_set1_ps((float)(1.0 / l[r]));
        for (int64_t j = 0; j < p->D; j += 16) {
            const __mmask16 k = tail_mask(p->D - j);
            const __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, o + r * ld_o + j), inv);
            if (p->out_dt == IG_BF16) ig__v_maskstore_bf16((uint16_t *)p->out + off + j, k, y);
            else _mm512_mask_storeu_ps((float *)p->out + off + j, k, y);
        }
    }
}

static void store_rows(const attn_plan *p, const float *o, int64_t ld_o, const double *l, int64_t rows, int64_t b,
                       int64_t h, int64_t q0) {
    if (p->avx512) {
        ig__attn_store_rows(p, o, ld_o, l, rows, b, h, q0);
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t off = (b * p->Tq + q0 + r) * p->ld + h * p->D;
        const float inv = (float)(1.0 / l[r]);
        for (int64_t j = 0; j < p->D; j++) {
            const float y = o[r * ld_o + j] * inv;
            if (p->out_dt == IG_BF16) ((uint16_t *)p->out)[off + j] = ig_f32_to_bf16(y);
            else ((float *)p->out)[off + j] = y;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * gemm path: one item = bq query rows of one head, over all keys in blocks of bk. */
static ig_status gemm_item(const attn_plan *p, attn_ws *w, int64_t b, int64_t h, int64_t q0) {
    const bool bf16 = p->in_dt == IG_BF16;
    const size_t es = ig_dtype_size(p->in_dt);
    const int64_t rows = IG_MIN(p->bq, p->Tq - q0), D = p->D, ld = p->ld;
    /* bf16: P rounded to bf16 for a bf16 product, exponent in base 2 (exp2_fast); f32: exact e^x. */
    const bool fast = bf16 && p->avx512;
    const float c = fast ? p->scale * (float)M_LOG2E : p->scale;
    const char *qb = (const char *)p->q + (size_t)((b * p->Tq + q0) * ld + h * D) * es;
    reset_stats(w, rows);
    /* causal: key blocks wholly after the last row's position are skipped */
    const int64_t k_end = p->causal ? IG_MIN(p->Tk, q0 + rows) : p->Tk;
    for (int64_t k0 = 0; k0 < k_end; k0 += p->bk) {
        const int64_t nk = IG_MIN(p->bk, k_end - k0);
        const size_t kv_off = (size_t)((b * p->Tk + k0) * ld + h * D) * es;
        ig_status st = ig__dnnl_gemm(p->in_dt, true, rows, nk, D, 1.0f, qb, ld, (const char *)p->k + kv_off, ld,
                                     0.0f, w->s, p->ld_s);
        if (st != IG_OK) return st;
        if (p->causal) /* key k0 + j is masked for query q0 + r when j > r + q0 - k0; -1e30 (not -inf) keeps the
                        * online softmax finite: its weight underflows, and key 0 is never masked, so each row's
                        * first block holds a real maximum */
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = IG_MAX(0, r + q0 - k0 + 1); j < nk; j++) w->s[r * p->ld_s + j] = -1e30f;
        uint16_t *p16 = bf16 ? w->p : NULL;
        if (p->avx512) softmax_block_avx512(w->s, p->ld_s, p16, p->ld_p, rows, nk, nk, c, fast, w->m, w->l, w->alpha);
        else softmax_block_scalar(w->s, p->ld_s, p16, p->ld_p, rows, nk, nk, c, w->m, w->l, w->alpha);
        if (k0 > 0) rescale_rows(w->o, w->ld_o, rows, D, w->alpha);
        st = ig__dnnl_gemm(p->in_dt, false, rows, D, nk, 1.0f, bf16 ? (const void *)w->p : (const void *)w->s,
                           bf16 ? p->ld_p : p->ld_s, (const char *)p->v + kv_off, ld, k0 > 0 ? 1.0f : 0.0f, w->o,
                           w->ld_o);
        if (st != IG_OK) return st;
    }
    store_rows(p, w->o, w->ld_o, w->l, rows, b, h, q0);
    return IG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * amx path. Tiles are always 16 rows x 64 bytes (16 bf16 pairs or 16 f32); padding rows and
 * columns hold zeros, so no tile ever needs a narrower shape.
 *
 * Layouts (bf16 elements), per (batch, head), packed by all threads together just before the
 * head's query blocks (amx_thread; 1 MiB for a 4096-token head of 64, which stays in L2 and L3,
 * where a whole call's packed copy, 21 MiB at 64x64 latents, would not, and would page-fault in
 * afresh on every call):
 *   kpack [Tk/16][Dp/2][16][2]: for 16 keys, the pairs (d, d+1) of each key side by side, which
 *         is the B operand of Q K^T in AMX's pair-interleaved ("VNNI") form; one B tile = 16 pairs
 *         x 16 keys = 1 KiB contiguous.
 *   vpack [Dv/16][Tk/2][16][2]: for 16 output channels, keys (n, n+1) side by side: the B operand
 *         of P V; one B tile = 32 keys x 16 channels = 1 KiB contiguous.
 * Q (bq x Dp), S (bq x bk f32), P (bq x bk bf16) and O (bq x Dv f32) are plain row-major, the A
 * and C operands' natural form. */

typedef struct tile_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

/* Linux hands out AMX state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA),
 * once per process; a refusal (old kernel, valgrind) leaves us on the gemm path. */
static bool amx_ok;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static void amx_probe(void) {
    /* CPUID leaf 7: subleaf 0 EDX bit 22 AMX-BF16, bit 24 AMX-TILE; subleaf 1 EAX bit 5 AVX512-BF16
     * (read directly: clang's __builtin_cpu_supports does not know the AMX names). */
    unsigned a0, b0, c0, d0, a1, b1, c1, d1;
    if (!ig__cpu_has_avx512() || !__get_cpuid_count(7, 0, &a0, &b0, &c0, &d0) ||
        !__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
        return;
    if (!((d0 >> 22) & 1) || !((d0 >> 24) & 1) || !((a1 >> 5) & 1)) return;
    amx_ok = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}
static bool amx_available(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_ok;
}

IG_AMX static void amx_begin(void) {
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
}

/* Keys [g0*16, g1*16) and key pairs [g0*8, g1*8) of head (b, h) into kd / vd. */
IG_AMX static void amx_pack(const attn_plan *p, int64_t b, int64_t h, int64_t g0, int64_t g1, uint16_t *kd,
                            uint16_t *vd) {
    const int64_t ld = p->ld, D = p->D, dp = p->dp, tkp = p->tkp;
    const uint16_t *ks = (const uint16_t *)p->k + b * p->Tk * ld + h * D;
    const uint16_t *vs = (const uint16_t *)p->v + b * p->Tk * ld + h * D;
    /* K: a 32-bit transpose (16 keys x Dp/2 pairs -> Dp/2 x 16): one gather per pair row. */
    const __m512i rows16 = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32((int)ld));
    for (int64_t g = g0; g < g1; g++) {
        const __mmask16 keys = tail_mask(p->Tk - g * 16);
        const uint16_t *src = ks + g * 16 * ld;
        uint16_t *dst = kd + g * dp * 16;
        for (int64_t d2 = 0; d2 < dp / 2; d2++) {
            __m512i x = _mm512_setzero_si512();
            if (2 * d2 + 1 < D) {
                x = _mm512_mask_i32gather_epi32(x, keys, rows16, src + 2 * d2, 2);
            } else if (2 * d2 < D) { /* odd D: the last pair has one element (never read past it) */
                uint32_t t[16] = {0};
                for (int i = 0; i < 16 && g * 16 + i < p->Tk; i++) t[i] = src[i * ld + 2 * d2];
                x = _mm512_loadu_si512(t);
            }
            _mm512_storeu_si512(dst + d2 * 32, x);
        }
    }
    /* V: interleave rows n and n+1, 16 channels at a time. */
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                           21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t kp = g0 * 8; kp < g1 * 8; kp++) {
        const int64_t n0 = 2 * kp, n1 = n0 + 1;
        for (int64_t t = 0; t < p->dv / 16; t++) {
            const __mmask16 ch = tail_mask(D - t * 16);
            __m256i a = _mm256_maskz_loadu_epi16(n0 < p->Tk ? ch : 0, vs + n0 * ld + t * 16);
            __m256i c = _mm256_maskz_loadu_epi16(n1 < p->Tk ? ch : 0, vs + n1 * ld + t * 16);
            __m512i x = _mm512_permutexvar_epi16(pairs, _mm512_inserti64x4(_mm512_castsi256_si512(a), c, 1));
            _mm512_storeu_si512(vd + t * tkp * 16 + kp * 32, x);
        }
    }
}

/* Q K^T for one block of keys, cut into 32 x 32 steps (2 query x 2 key tiles; tiles 0-3 C, 4-5 Q,
 * 6-7 K) that amx_softmax issues between its rows of the previous block, so the tile unit computes
 * and stores scores while the vector units exponentiate. A tile store costs about as much as the
 * two products of a D = 64 score tile (~30 cycles, measured), so Q K^T alone runs below half the
 * tile unit's peak; overlapped, part of it hides (measured +5-7 % overall: tile loads and stores
 * also occupy the front end, which caps the gain). Overlapping P V instead measured 3-7 % slower. */
typedef struct qk_job {
    const uint16_t *qp, *kp; /* Q block (rows32 x Dp), kpack at the block's first key */
    float *s;                /* S buffer being filled */
    int64_t ld_s, dp, n_kpairs, n_steps, done;
} qk_job;

IG_AMX static inline void qk_step(const qk_job *j, int64_t step) {
    const int64_t i = step / j->n_kpairs, kk = step % j->n_kpairs, group = j->dp * 16; /* bf16 per 16 keys */
    const uint16_t *q = j->qp + i * 32 * j->dp, *k0 = j->kp + 2 * kk * group, *k1 = k0 + group;
    float *s = j->s + i * 32 * j->ld_s + kk * 32;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t d = 0; d < j->dp / 32; d++) {
        _tile_loadd(4, q + d * 32, j->dp * 2);
        _tile_loadd(5, q + 16 * j->dp + d * 32, j->dp * 2);
        _tile_loadd(6, k0 + d * 512, 64);
        _tile_loadd(7, k1 + d * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, s, j->ld_s * 4);
    _tile_stored(1, s + 16, j->ld_s * 4);
    _tile_stored(2, s + 16 * j->ld_s, j->ld_s * 4);
    _tile_stored(3, s + 16 * j->ld_s + 16, j->ld_s * 4);
}

/* Issue the job's steps up to `upto` (of n_steps). */
IG_AMX static inline void qk_advance(qk_job *j, int64_t upto) {
    __asm__ volatile("" ::: "memory"); /* GCC's tileloadd asm names no memory input: order it after Q's copy */
    for (; j->done < upto; j->done++) qk_step(j, j->done);
}

/* O[0:32, 16 or 32 channels] (+)= P[0:32, 0:nkp) V (vpack at the block's first key, channel
 * tile t; the next tile sits vt elements further). Tiles: 0-3 C, 4-5 P, 6-7 V. */
IG_AMX static void amx_pv(const uint16_t *pb, int64_t ld_p, const uint16_t *vp, int64_t vt, int64_t nkp, bool two,
                          float *o, int64_t ld_o, bool accumulate) {
    __asm__ volatile("" ::: "memory"); /* after the vector stores of P and O (see qk_advance) */
    if (accumulate) {
        _tile_loadd(0, o, ld_o * 4);
        _tile_loadd(2, o + 16 * ld_o, ld_o * 4);
        if (two) {
            _tile_loadd(1, o + 16, ld_o * 4);
            _tile_loadd(3, o + 16 * ld_o + 16, ld_o * 4);
        }
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (int64_t j = 0; j < nkp; j += 32) {
        _tile_loadd(4, pb + j, ld_p * 2);
        _tile_loadd(5, pb + 16 * ld_p + j, ld_p * 2);
        _tile_loadd(6, vp + j * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(2, 5, 6);
        if (two) {
            _tile_loadd(7, vp + vt + j * 16, 64);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
        }
    }
    _tile_stored(0, o, ld_o * 4);
    _tile_stored(2, o + 16 * ld_o, ld_o * 4);
    if (two) {
        _tile_stored(1, o + 16, ld_o * 4);
        _tile_stored(3, o + 16 * ld_o + 16, ld_o * 4);
    }
}

/* softmax_block_avx512's bf16 case, with two differences that pay on the hot path.
 * - The max is taken once per row, in its first block. Later blocks exponentiate against it even
 *   if their scores are larger: softmax is shift-invariant, and f32 and bf16 keep 8 exponent bits,
 *   so P up to 2^64 loses nothing. Only a row whose sum reaches 2^64 (some score more than ~50
 *   doublings above the reference; or inf) is redone against its block's max, and O rescaled.
 *   This drops the max pass, a tenth of the vector work.
 * - AVX512-BF16 converts 2 x 16 f32 to 32 bf16 in one instruction; n_pad = the next multiple of 32.
 * Spreads the next block's Q K^T (job, may be empty) evenly over its rows. */
IG_AMX static void amx_softmax(const float *s, int64_t ld_s, uint16_t *pb, int64_t ld_p, int64_t rows, int64_t n,
                               float c, float *m, double *l, float *alpha, qk_job *job) {
    for (int64_t r = 0; r < rows; r++) {
        qk_advance(job, (r + 1) * job->n_steps / rows);
        softmax_row(s + r * ld_s, pb + r * ld_p, n, c, m + r, l + r, alpha + r, false);
    }
    qk_advance(job, job->n_steps);
}

IG_AMX static void amx_item(const attn_plan *p, attn_ws *w, int64_t b, int64_t h, int64_t q0, const uint16_t *kh,
                            const uint16_t *vh) {
    const int64_t rows = IG_MIN(p->bq, p->Tq - q0), rows32 = round_up(rows, 32), dp = p->dp;
    /* Q block, zero-padded to 32-row pairs and Dp columns (zeros add nothing to Q K^T). */
    for (int64_t r = 0; r < rows32; r++) {
        uint16_t *dst = w->qp + r * dp;
        if (r < rows) memcpy(dst, (const uint16_t *)p->q + (b * p->Tq + q0 + r) * p->ld + h * p->D, (size_t)p->D * 2);
        memset(dst + (r < rows ? p->D : 0), 0, (size_t)(dp - (r < rows ? p->D : 0)) * 2);
    }
    /* Padding rows of P are never written by the softmax: keep them finite for the tile product. */
    if (rows < rows32) memset(w->p + rows * p->ld_p, 0, (size_t)((rows32 - rows) * p->ld_p) * 2);
    reset_stats(w, rows);
    const float c = p->scale * (float)M_LOG2E;
    const int64_t vt = p->tkp * 16, n_dt = p->dv / 16;
    /* Block j's scores are in S buffer j % 2; block j+1's are computed during block j's softmax. */
    qk_job job = {.qp = w->qp, .kp = kh, .s = w->s, .ld_s = p->ld_s, .dp = dp,
                  .n_kpairs = round_up(IG_MIN(p->bk, p->Tk), 32) / 32};
    job.n_steps = rows32 / 32 * job.n_kpairs;
    qk_advance(&job, job.n_steps);
    for (int64_t k0 = 0, j = 0; k0 < p->Tk; k0 += p->bk, j++) {
        const int64_t nk = IG_MIN(p->bk, p->Tk - k0), nkp = round_up(nk, 32);
        float *s_cur = w->s + (j % 2) * p->bq * p->ld_s;
        const int64_t k1 = IG_MIN(k0 + p->bk, p->tkp), nk1 = k1 < p->Tk ? IG_MIN(p->bk, p->Tk - k1) : 0;
        job = (qk_job){.qp = w->qp, .kp = kh + k1 * dp, .s = w->s + ((j + 1) % 2) * p->bq * p->ld_s,
                       .ld_s = p->ld_s, .dp = dp, .n_kpairs = round_up(nk1, 32) / 32};
        job.n_steps = rows32 / 32 * job.n_kpairs;
        /* Wide heads: a step is 2 x Dp/32 products and 4 stores, too coarse to hide between rows
         * (the VAE's D = 512 ran 5 % faster taking turns). */
        if (dp > 128) qk_advance(&job, job.n_steps);
        amx_softmax(s_cur, p->ld_s, w->p, p->ld_p, rows, nk, c, w->m, w->l, w->alpha, &job);
        if (k0 > 0) rescale_rows(w->o, w->ld_o, rows, p->dv, w->alpha);
        for (int64_t i = 0; i < rows32; i += 32)
            for (int64_t t = 0; t < n_dt; t += 2)
                amx_pv(w->p + i * p->ld_p, p->ld_p, vh + t * vt + k0 * 16, vt, nkp, t + 1 < n_dt,
                       w->o + i * w->ld_o + t * 16, w->ld_o, k0 > 0);
    }
    ig__attn_store_rows(p, w->o, w->ld_o, w->l, rows, b, h, q0);
}

/* One thread's share, a group of heads at a time: pack a slice of the group's K and V, wait for
 * the others (the barrier also means everyone left the group two back, whose buffer is reused),
 * then take items of the group, a few at a time, without waiting. Items run head-innermost, so
 * with small Tk (several heads per group) a query block's rows serve all heads from cache. */
IG_AMX static void amx_thread(const attn_plan *p, attn_ws *w) {
    const int64_t n_kgroups = p->tkp / 16, chunk = 8; /* 128 keys per packing unit */
    const int64_t n_chunks = (n_kgroups + chunk - 1) / chunk, per_b = (p->H + p->group - 1) / p->group;
    const int64_t head_k = p->tkp * p->dp, head_v = p->tkp * p->dv;
    amx_begin();
    for (int64_t g = 0; g < p->B * per_b; g++) {
        const int64_t b = g / per_b, h0 = g % per_b * p->group, nh = IG_MIN(p->group, p->H - h0);
        uint16_t *kd = p->kpack + g % 2 * p->group * head_k, *vd = p->vpack + g % 2 * p->group * head_v;
#pragma omp for schedule(static)
        for (int64_t u = 0; u < nh * n_chunks; u++) {
            const int64_t hh = u / n_chunks, c0 = u % n_chunks * chunk;
            amx_pack(p, b, h0 + hh, c0, IG_MIN(c0 + chunk, n_kgroups), kd + hh * head_k, vd + hh * head_v);
        }
#pragma omp for schedule(dynamic, 4) nowait /* dynamic: a thread slowed by a neighbour does not hold up the barrier */
        for (int64_t it = 0; it < p->n_qb * nh; it++) {
            const int64_t hh = it % nh;
            amx_item(p, w, b, h0 + hh, it / nh * p->bq, kd + hh * head_k, vd + hh * head_v);
        }
    }
    _tile_release();
}

/* ---------------------------------------------------------------------------------------------
 * Block sizes (measured on the 2-core Sapphire Rapids; ig__cpu_ctx.attn_tune_bq/bk override, for benches).
 *  amx:  bq = 32 (one pair of row tiles) for D <= 128: a 4096-token head of 64 packs to 1 MiB of
 *        K and V that every query block reuses from L2; bq 64 or 96 measured the same. Wider heads
 *        (the VAE's single 512-wide head: 8 MiB of K and V) cannot stay in L2, so bq grows to 128
 *        to reuse each streamed key block over more rows. bk keeps S near 128 KiB: 1024 keys at
 *        D = 64 (256 and 512 measured 2-5 % slower: more blocks, more of Q K^T's first block
 *        outside the overlap).
 *  gemm: oneDNN's GEMMs want a tall M (they pack B per call): bq = 128, bk = 1024 measured 10 %
 *        faster than 64 x 512 in f32.
 */
static void choose_blocks(attn_plan *p) {
    if (p->path == PATH_BF16) {
        ig__attn_bf16_blocks(p);
    } else if (p->path == PATH_AMX) {
        p->dp = round_up(p->D, 32), p->dv = round_up(p->D, 16), p->tkp = round_up(p->Tk, 32);
        p->bq = p->dp <= 128 ? 32 : p->dp <= 256 ? 64 : 128;
        p->bk = IG_MAX(256, round_up(32768 / p->bq, 32));
        p->bk = IG_MIN(p->bk, p->tkp);
        if (p->tune_bq) p->bq = round_up(p->tune_bq, 32);
        if (p->tune_bk) p->bk = IG_MIN(round_up(p->tune_bk, 32), p->tkp);
        p->bq = IG_MIN(p->bq, round_up(p->Tq, 32));
        /* Heads packed together: as many as fit 256 KiB, so short key sequences (77 text tokens: all
         * ten heads) are packed once per query block's worth of heads and the query rows are reused
         * from cache; 1024 tokens and more take one head at a time (measured: 4 x 1024-token heads
         * together ran 8 % slower than one). */
        p->group = IG_MAX(1, IG_MIN(p->H, (1 << 18) / (p->tkp * (p->dp + p->dv) * 2)));
    } else {
        p->dp = p->dv = p->tkp = 0;
        p->bq = p->tune_bq ? p->tune_bq : 128;
        p->bk = p->tune_bk ? p->tune_bk : 1024;
        p->group = p->Tk * p->ld * (int64_t)ig_dtype_size(p->in_dt) * 2 <= (1 << 19) ? p->H : 1;
        p->bq = IG_MIN(p->bq, p->Tq);
        p->bk = IG_MIN(p->bk, p->Tk);
    }
    p->n_qb = (p->Tq + p->bq - 1) / p->bq;
    /* Row strides off multiples of 4 KiB: 16 rows of a tile at a 4 KiB stride would share one L1 set. */
    p->ld_s = round_up(p->bk, 16) + 16;
    p->ld_p = round_up(p->bk, 32) + 32;
}

/* bf16 inputs where oneDNN has no bf16 GEMM: widen q, k, v once (allocated per call). */
static ig_status widen_inputs(attn_plan *p, float **buf) {
    const size_t nq = (size_t)(p->B * p->Tq * p->ld), nk = (size_t)(p->B * p->Tk * p->ld);
    *buf = ig__alloc((nq + 2 * nk) * sizeof(float));
    if (!*buf) return IG_ERR_NOMEM;
    ig_convert_bf16_to_f32(*buf, p->q, nq);
    ig_convert_bf16_to_f32(*buf + nq, p->k, nk);
    ig_convert_bf16_to_f32(*buf + nq + nk, p->v, nk);
    p->q = *buf, p->k = *buf + nq, p->v = *buf + nq + nk;
    p->in_dt = IG_F32;
    return IG_OK;
}

/* The engine's scratch, kept between calls and only ever grown: the sampling loop calls attention
 * with the same few shapes every step, so after the first step it allocates nothing. One buffer,
 * carved into the per-thread workspaces and the packed K/V; an engine runs one op at a time. */
static char *scratch_reserve(ig__cpu_ctx *c, size_t size_bytes) {
    if (size_bytes > c->attn_size) {
        char *p = ig__alloc(size_bytes);
        if (!p) return NULL;
        ig__free(c->attn_buf);
        c->attn_buf = p, c->attn_size = size_bytes;
    }
    return c->attn_buf;
}

ig_status ig__cpu_attention(ig_engine *e, const ig_tensor *q, const ig_tensor *k, const ig_tensor *v, int n_heads,
                            float scale, bool causal, ig_tensor *out) {
    ig_err *err = &e->err;
    ig__cpu_ctx *c = e->ctx;
    IG_ASSERT(c); /* an engine of the "cpu" backend */
    attn_plan p = {.B = q->ne[0], .Tq = q->ne[1], .Tk = k->ne[1], .H = n_heads, .D = q->ne[2] / n_heads,
                   .ld = q->ne[2], .scale = scale, .causal = causal, .in_dt = q->dtype, .out_dt = out->dtype,
                   .q = q->data, .k = k->data, .v = v->data, .out = out->data};
    if (p.B == 0 || p.Tq == 0 || p.ld == 0) return IG_OK;
    p.tune_bq = c->attn_tune_bq, p.tune_bk = c->attn_tune_bk;
    p.avx512 = ig__cpu_has_avx512() && !c->attn_no_avx512;
    const bool amx = p.in_dt == IG_BF16 && p.avx512 && amx_available();
    const bool bf16dp = p.in_dt == IG_BF16 && p.avx512 && ig__attn_bf16_available();
    if (causal || c->attn_force_path == PATH_GEMM) p.path = PATH_GEMM;
    else if (c->attn_force_path == PATH_BF16) p.path = bf16dp ? PATH_BF16 : PATH_GEMM;
    else p.path = amx ? PATH_AMX : bf16dp ? PATH_BF16 : PATH_GEMM;

    ig_status st = IG_OK;
    float *wide = NULL;
    if (p.path == PATH_GEMM && p.in_dt == IG_BF16 && (!ig__dnnl_gemm_native_bf16() || !p.avx512)) {
        if ((st = widen_inputs(&p, &wide)) != IG_OK) goto fail_nomem;
    }
    choose_blocks(&p);
    const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    attn_ws probe;
    p.ws_bytes = ws_layout(&p, NULL, &probe);
    const size_t ws_all = (p.ws_bytes * (size_t)nt + 63) & ~(size_t)63;
    const size_t kp_bytes = p.path == PATH_AMX ? ((size_t)(2 * p.group * p.tkp * p.dp) * 2 + 63) & ~(size_t)63 : 0;
    const size_t vp_bytes = p.path == PATH_AMX ? (size_t)(2 * p.group * p.tkp * p.dv) * 2 : 0;
    char *scratch = scratch_reserve(c, ws_all + kp_bytes + vp_bytes);
    if (scratch) {
        p.ws = scratch;
        if (p.path == PATH_AMX) p.kpack = (uint16_t *)(scratch + ws_all), p.vpack = (uint16_t *)(scratch + ws_all + kp_bytes);
    }
    if (!scratch) {
        st = IG_ERR_NOMEM;
        goto fail_nomem;
    }

    ig_status failed = IG_OK;
#pragma omp parallel num_threads(nt)
    {
        attn_ws w;
        ws_layout(&p, p.ws + (size_t)omp_get_thread_num() * p.ws_bytes, &w);
        if (p.path == PATH_AMX) {
            amx_thread(&p, &w);
        } else if (p.path == PATH_BF16) {
            ig__attn_bf16_thread(&p, &w);
        } else {
            const int64_t n_items = p.B * p.H * p.n_qb;
#pragma omp for schedule(static)
            for (int64_t it = 0; it < n_items; it++) {
                ig_status s2;
#pragma omp atomic read
                s2 = failed;
                if (s2 != IG_OK) continue;
                /* Short key sequences: heads innermost, so a query block's rows are reused from cache. */
                const int64_t b = it / (p.n_qb * p.H), r = it % (p.n_qb * p.H);
                const int64_t h = p.group > 1 ? r % p.H : r / p.n_qb, qb = p.group > 1 ? r / p.H : r % p.n_qb;
                s2 = gemm_item(&p, &w, b, h, qb * p.bq);
                if (s2 != IG_OK) {
#pragma omp atomic write
                    failed = s2;
                }
            }
        }
    }
    if (failed != IG_OK) st = ig__fail(err, failed, "attention: oneDNN GEMM failed (status %d)", (int)failed);
    goto done;
fail_nomem:
    st = ig__fail(err, IG_ERR_NOMEM, "attention: out of memory for scratch (B=%lld T=%lld H=%lld D=%lld)",
                  (long long)p.B, (long long)p.Tq, (long long)p.H, (long long)p.D);
done:
    ig__free(wide);
    return st;
}
