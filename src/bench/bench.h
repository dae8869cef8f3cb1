/* bench.h — `imagine bench` subcommands. */
#ifndef IG_BENCH_H
#define IG_BENCH_H

#include <omp.h>

static inline int omp_threads(void) { return omp_get_max_threads(); }

int ig_bench_ops(int argc, char **argv);   /* argv after "ops" */
int ig_bench_model(int argc, char **argv); /* argv after "bench": --model DIR [--width ...] */

#endif
