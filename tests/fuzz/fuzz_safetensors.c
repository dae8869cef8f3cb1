/* fuzz_safetensors.c — libFuzzer harness for io/safetensors.c's reader (header parse and views).
 *
 * Each input is a whole .safetensors file, opened with ig_st_open_memory from an exact-size heap copy
 * (so ASan catches a read one byte past the end). On success every listed tensor is looked up by
 * name (ig_st_dtype, ig_st_get) and every byte of each view that ig_st_get hands out is read, so a
 * view outside the buffer is an ASan report; the view's shape, row-major strides and size must
 * agree and lie inside [data, data + size). Names must be sorted, unique and found again;
 * __metadata__ is looked up for a few keys. Failures must leave *out NULL and a message in err.
 * Build and run: make fuzz / make fuzz-run (tests/fuzz/fuzz.mk).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define REQUIRE(cond)                                                                           \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_safetensors: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);

    ig_st_file *f = (ig_st_file *)(uintptr_t)1;
    ig_err err = {0};
    ig_status st = ig_st_open_memory(&f, size ? buf : NULL, size, "fuzz.safetensors", &err);
    if (st != IG_OK) {
        REQUIRE(f == NULL && err.status == st && err.msg[0]);
        free(buf);
        return 0;
    }
    REQUIRE(f && err.status == IG_OK && !strcmp(ig_st_path(f), "fuzz.safetensors"));

    int n = ig_st_count(f);
    REQUIRE(n >= 0);
    REQUIRE(ig_st_name(f, -1) == NULL && ig_st_name(f, n) == NULL);
    const char *prev = NULL;
    for (int i = 0; i < n; i++) {
        const char *name = ig_st_name(f, i);
        REQUIRE(name && strcmp(name, "__metadata__"));
        if (prev) REQUIRE(strcmp(prev, name) < 0); /* sorted and unique */
        prev = name;
        const char *dt = ig_st_dtype(f, name);
        REQUIRE(dt && *dt);

        ig_st_view t;
        ig_err e2 = {0};
        memset(&t, 0, sizeof t);
        ig_status gs = ig_st_get(f, name, &t, &e2);
        if (gs != IG_OK) {
            REQUIRE(gs == IG_ERR_UNSUPPORTED && e2.status == gs && e2.msg[0]);
            continue;
        }
        REQUIRE(t.type == IG_ST_F32 || t.type == IG_ST_F16 || t.type == IG_ST_BF16);
        REQUIRE(!strcmp(dt, t.type == IG_ST_F32 ? "F32" : t.type == IG_ST_F16 ? "F16" : "BF16"));
        REQUIRE(t.n_dims >= 0 && t.n_dims <= IG_ST_MAX_DIMS);
        int64_t nelem = 1;
        for (int d = 0; d < t.n_dims; d++) {
            REQUIRE(t.ne[d] >= 0);
            nelem *= t.ne[d];
        }
        size_t es = ig_st_type_size(t.type);
        size_t nbytes = (size_t)nelem * es;
        int64_t want = 1; /* row-major strides; unused dims 1 */
        for (int d = IG_ST_MAX_DIMS - 1; d >= 0; d--) {
            REQUIRE(d < t.n_dims || t.ne[d] == 1);
            REQUIRE(t.st[d] == want);
            want *= t.ne[d];
        }
        const uint8_t *p = t.data;
        if (nbytes) {
            REQUIRE(p >= buf && p <= buf + size && nbytes <= (size_t)(buf + size - p));
            REQUIRE((uintptr_t)p % es == 0);
            uint8_t x = 0;
            for (size_t k = 0; k < nbytes; k++) x ^= p[k]; /* ASan checks each byte */
            sink = x;
        }
    }
    /* Lookups of names that are not there. */
    ig_st_view t;
    ig_err e3 = {0};
    REQUIRE(ig_st_get(f, "__metadata__", &t, &e3) == IG_ERR_NOT_FOUND);
    const char *meta_keys[] = {"format", "modelspec.architecture", "", "__metadata__"};
    for (size_t i = 0; i < sizeof meta_keys / sizeof *meta_keys; i++) {
        const char *v = ig_st_metadata(f, meta_keys[i]);
        if (v) sink = (uint8_t)strlen(v);
    }
    ig_st_drop_pages(f); /* a no-op for memory files */
    ig_st_close(f);
    free(buf);
    return 0;
}
