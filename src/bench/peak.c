/* peak.c — measures the arithmetic peak with loops of independent multiply-adds (24 accumulators per
 * thread: fewer leave the FMA pipes idle and read ~10 % low on bf16), one per OpenMP thread, and the
 * copy bandwidth. AMX needs the kernel's permission for its tile state (arch_prctl), which oneDNN also
 * asks for; without it the AMX figure is 0. */
#include "peak.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define N_ACC 24

__attribute__((target("avx512f"), noinline)) static float fma512(long n) {
    __m512 a[N_ACC];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int i = 0; i < N_ACC; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < N_ACC; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    for (int i = 1; i < N_ACC; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma"), noinline)) static float fma256(long n) {
    __m256 a[N_ACC];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int i = 0; i < N_ACC; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < N_ACC; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    for (int i = 1; i < N_ACC; i++) a[0] = _mm256_add_ps(a[0], a[i]);
    float out[8];
    _mm256_storeu_ps(out, a[0]);
    return out[0];
}

__attribute__((target("avx512f,avx512bf16"), noinline)) static float dpbf16(long n) {
    __m512 a[N_ACC];
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3380);
    for (int i = 0; i < N_ACC; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
        for (int i = 0; i < N_ACC; i++) a[i] = _mm512_dpbf16_ps(a[i], b, c);
    }
    for (int i = 1; i < N_ACC; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    return _mm512_reduce_add_ps(a[0]);
}

/* AMX: 4 accumulator tiles (2x2 blocking over 2 A and 2 B tiles), each tdpbf16ps 16x16x32 = 16384 flops. */
struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};
__attribute__((target("amx-tile,amx-bf16"), noinline)) static float amx(long n) {
    struct tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
    uint16_t buf[16 * 32];
    for (int i = 0; i < 16 * 32; i++) buf[i] = 0x3f80;
    _tile_loadd(4, buf, 64);
    _tile_loadd(5, buf, 64);
    _tile_loadd(6, buf, 64);
    _tile_loadd(7, buf, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (long k = 0; k < n; k++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float out[256];
    _tile_stored(0, out, 64);
    _tile_release();
    return out[0];
}

static bool amx_permitted(void) {
#ifdef SYS_arch_prctl
    /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18); per process, so once is enough. */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
}

/* Runs f on every thread for n iterations; best of 3 tries, in GFLOP/s. */
static double measure(float (*f)(long), long n, double flops_per_iter) {
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = ig__now_s();
        float s = 0;
#pragma omp parallel reduction(+ : s)
        s += f(n);
        double t = ig__now_s() - t0;
        sink += s;
        double g = omp_get_max_threads() * (double)n * flops_per_iter / t * 1e-9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

void ig_peak_measure_arith(ig_peak *p) {
    memset(p, 0, sizeof *p);
    if (__builtin_cpu_supports("avx512f")) {
        p->fp32_gflops = measure(fma512, 4000000, N_ACC * 16 * 2.0);
        p->fp32_isa = "avx512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        p->fp32_gflops = measure(fma256, 4000000, N_ACC * 8 * 2.0);
        p->fp32_isa = "avx2";
    } else {
        p->fp32_isa = "none";
    }
    if (__builtin_cpu_supports("avx512bf16")) p->bf16_dp_gflops = measure(dpbf16, 2000000, N_ACC * 32 * 2.0);
    if (__builtin_cpu_supports("amx-bf16") && amx_permitted()) p->bf16_amx_gflops = measure(amx, 400000, 4 * 16384.0);
}

void ig_peak_measure(ig_peak *p) {
    ig_peak_measure_arith(p);

    const size_t n = (size_t)256 << 20;
    char *a = ig__alloc(n), *b = ig__alloc(n);
    if (a && b) {
        memset(a, 1, n);
        memset(b, 2, n);
        double best = 0;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = ig__now_s();
#pragma omp parallel
            {
                int nt = omp_get_num_threads(), id = omp_get_thread_num();
                size_t chunk = n / (size_t)nt;
                memcpy(b + chunk * (size_t)id, a + chunk * (size_t)id, chunk);
            }
            double t = ig__now_s() - t0;
            double gbs = 2.0 * (double)n / t * 1e-9;
            if (gbs > best) best = gbs;
        }
        p->copy_gbs = best;
    }
    ig__free(a);
    ig__free(b);
}

void ig_peak_max(ig_peak *p, const ig_peak *q) {
    if (q->fp32_gflops > p->fp32_gflops) p->fp32_gflops = q->fp32_gflops;
    if (q->bf16_dp_gflops > p->bf16_dp_gflops) p->bf16_dp_gflops = q->bf16_dp_gflops;
    if (q->bf16_amx_gflops > p->bf16_amx_gflops) p->bf16_amx_gflops = q->bf16_amx_gflops;
    if (q->copy_gbs > p->copy_gbs) p->copy_gbs = q->copy_gbs;
}
