/* rng_torch.h — torch's CPU generator, so that a seed gives diffusers' numbers bit for bit.
 *
 * Owns: the mt19937 engine as torch seeds and steps it (CPUGeneratorImpl / at::mt19937), the
 * generator's cached second Box-Muller value (next_double_normal_sample), and the standard normal
 * fill of torch.randn for float32 on CPU, both of its paths:
 *   - n >= 16 (normal_fill_AVX2, the path torch 1.13 takes on an AVX2 machine, checked against
 *     ../shared/golden rng_* files): n uniforms first, then Box-Muller on each 16-chunk (u1 from
 *     lanes 0..7, u2 from lanes 8..15) with torch's AVX2 cephes-style log/sincos; when n % 16 != 0
 *     the last 16 outputs are recomputed from 16 fresh uniforms.
 *   - n < 16 (at::normal_distribution<double>): each value takes two random64 doubles, except
 *     that every second value is the sine half cached in the generator from the call before,
 *     even across randn calls (only seeding clears it; the n >= 16 path neither uses nor clears it).
 * Leaves to others: shapes (a randn call is just n elements in C order), noise scaling, threads
 * (a generator is single-threaded state; give each job its own).
 *
 *     ig_rng_torch g;
 *     ig_rng_torch_seed(&g, 42);            // torch.Generator('cpu').manual_seed(42)
 *     ig_rng_torch_randn(&g, lat, 4*64*64); // torch.randn((1,4,64,64), generator=g)
 *     ig_rng_torch_randn(&g, noise, n);     // a later torch.randn call on the same generator
 */
#ifndef IG_RNG_TORCH_H
#define IG_RNG_TORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IG_MT_N 624

typedef struct ig_rng_torch {
    uint32_t state[IG_MT_N]; /* at::mt19937_data_pod.state_ */
    int left;                /* .left_: outputs left before the next twist, plus one */
    int next;                /* .next_: index of the next state word to temper */
    uint64_t seed;
    bool has_next_normal;    /* CPUGeneratorImpl::next_double_normal_sample_ is set */
    double next_normal;
} ig_rng_torch;

/* torch.Generator('cpu').manual_seed(seed): the engine takes the low 32 bits, the cached normal
 * is dropped. Also what a fresh generator is (torch's default seed is 67280421310721). */
void ig_rng_torch_seed(ig_rng_torch *g, uint64_t seed);

/* One engine output (CPUGeneratorImpl::random) and two of them as hi:lo (random64). */
uint32_t ig_rng_torch_u32(ig_rng_torch *g);
uint64_t ig_rng_torch_u64(ig_rng_torch *g);

/* Exactly one torch.randn(n, generator=g) call, float32, written to out[0..n). n == 0 draws
 * nothing. Two calls of n1 and n2 equal one call of n1 + n2 only when n1 and n2 are both
 * multiples of 16 (see the header comment); otherwise they are different numbers, as in torch. */
void ig_rng_torch_randn(ig_rng_torch *g, float *out, size_t n);

/* Advances g exactly as ig_rng_torch_randn(g, ., n) would, without writing anything (diffusers'
 * EulerDiscreteScheduler.step draws noise it never uses when s_churn is 0). */
void ig_rng_torch_skip_randn(ig_rng_torch *g, size_t n);

#endif
