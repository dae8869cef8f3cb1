/* peak.h — the machine's measured arithmetic peak and copy bandwidth, the yardsticks every bench
 * figure is reported against. */
#ifndef IG_BENCH_PEAK_H
#define IG_BENCH_PEAK_H

typedef struct ig_peak {
    double fp32_gflops;      /* FMA loop, 24 independent accumulators per thread, all threads */
    double bf16_dp_gflops;   /* AVX-512 BF16 vdpbf16ps loop (0 where absent) */
    double bf16_amx_gflops;  /* AMX tdpbf16ps loop (0 where absent or not permitted) */
    double copy_gbs;         /* memcpy of a buffer far beyond the caches, bytes read + written */
    const char *fp32_isa;    /* "avx512" or "avx2" */
} ig_peak;

void ig_peak_measure(ig_peak *p);
/* The arithmetic readings only (no copy bandwidth: 0), about 0.2 s. */
void ig_peak_measure_arith(ig_peak *p);
/* Keeps in p the higher of each reading of p and q (the machine reached at least that). */
void ig_peak_max(ig_peak *p, const ig_peak *q);

#endif
