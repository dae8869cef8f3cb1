/* gemm.h — small row-major GEMMs on oneDNN for our own kernels (attention's key blocks), callable
 * from inside an OpenMP parallel region. ig__dnnl_gemm's prototype lives in cpu.h (the backends'
 * shared header); what only the CPU kernels need sits here.
 *
 * Why the BLAS-like calls and not matmul primitives: a block product runs on the calling thread
 * inside our own parallel loop, thousands of times per call with changing pointers. dnnl_sgemm and
 * dnnl_gemm_bf16bf16f32 are stateless (no primitive, no memory objects, no stream) and run
 * single-threaded when called inside a parallel region. Measured on the 2-core Sapphire Rapids
 * (attention's shapes, M=64..256, N or K = 4096, the other 64): sgemm 140-170 GFLOP/s, bf16 gemm
 * 120-540 GFLOP/s (AVX512-BF16 kernels: oneDNN 2.6 routes neither call to AMX); the matmul
 * primitive (brg:avx512_core_amx_bf16) reached only 150-460 GFLOP/s on the same shapes because it
 * repacks B on every execution. Attention's AMX path (attn.c) therefore has its own tile kernel. */
#ifndef IG_DNNL_GEMM_H
#define IG_DNNL_GEMM_H

#include "../cpu.h"

/* True when ig__dnnl_gemm runs bf16 natively (oneDNN needs AVX-512 for its bf16 GEMM). Otherwise
 * a bf16 call still works, by converting A and B to f32 into memory it allocates per call: callers
 * in hot loops should convert once themselves and call the f32 version. */
bool ig__dnnl_gemm_native_bf16(void);

#endif
