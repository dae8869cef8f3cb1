/* common.h — error reporting, assertions and aligned allocation shared by every layer.
 * Owns nothing else: no globals, no policies. */
#ifndef IG_COMMON_H
#define IG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "imagine.h"

/* Records the first failure in err (sticky: later calls keep the first message) and returns st. */
ig_status ig__fail(ig_err *err, ig_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For our own invariants only, never for bad input. */
#define IG_ASSERT(x)                                                                  \
    do {                                                                              \
        if (!(x)) ig__assert_fail(#x, __FILE__, __LINE__);                            \
    } while (0)
void ig__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* 64-byte aligned allocation (one cache line, one AVX-512 vector); free with ig__free. */
void *ig__alloc(size_t size_bytes);
void ig__free(void *p);

double ig__now_s(void); /* monotonic clock, seconds */

/* Where the files imagine ships live: $IMAGINE_ASSETS/<name>, else the first that exists of
 * <binary's folder>/../assets/<name> (the repository: build/imagine beside assets/), ../../assets
 * (build/examples/), ../share/imagine/<name> (an installed tree) and IG_DATADIR/<name> (make
 * install's PREFIX/share/imagine); else <binary's folder>/../assets/<name>. */
void ig__asset_path(const char *name, char *out, size_t len);

#define IG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IG_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
