/* engine.c — creating and freeing an engine: pick the backend and the activation precision, create
 * the backend's context, and keep the per-op cache table (engine.h).
 * bf16 is chosen only where the backend reports a native implementation (oneDNN on AVX-512 BF16
 * or AMX); IMAGINE_PRECISION=f32|bf16 or the caller's precision forces either. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

ig_status ig_engine_create(ig_engine **out, const char *backend, ig_precision precision, ig_err *err) {
    ig_engine *e = NULL;
    *out = NULL;
    const ig_backend *be = NULL;
    if (!backend || !strcmp(backend, "cpu")) be = &ig__backend_cpu;
    else if (!strcmp(backend, "ref")) be = &ig__backend_ref;
    else return ig__fail(err, IG_ERR_INVALID, "unknown backend '%s' (cpu, ref)", backend);

    if (precision == IG_PRECISION_AUTO) {
        const char *env = getenv("IMAGINE_PRECISION");
        if (env && !strcmp(env, "f32")) precision = IG_PRECISION_F32;
        else if (env && !strcmp(env, "bf16")) precision = IG_PRECISION_BF16;
        else if (env && *env && strcmp(env, "auto"))
            return ig__fail(err, IG_ERR_INVALID, "IMAGINE_PRECISION must be f32, bf16 or auto, not '%s'", env);
    }
    e = calloc(1, sizeof *e);
    if (!e) return ig__fail(err, IG_ERR_NOMEM, "out of memory creating the engine");
    e->be = be;
    if (be->ctx_new && !(e->ctx = be->ctx_new(e, err))) {
        free(e);
        return err->status ? err->status : IG_ERR_NOMEM;
    }
    e->act_dtype = IG_F32;
    if (precision == IG_PRECISION_BF16) e->act_dtype = IG_BF16;
    else if (precision == IG_PRECISION_AUTO && ig_engine_native_bf16(e)) e->act_dtype = IG_BF16;
    *out = e;
    return IG_OK;
}

void ig_engine_free(ig_engine *e) {
    if (!e) return;
    for (size_t i = 0; i < e->cap_caches; i++)
        if (e->caches[i].op && e->caches[i].cache) e->be->op_release(e, e->caches[i].cache);
    free(e->caches);
    if (e->be->ctx_free) e->be->ctx_free(e, e->ctx);
    free(e);
}

ig_status ig_engine_buf_alloc(ig_engine *e, size_t size_bytes, void **out, ig_err *err) {
    *out = e->be->buf_alloc(e, size_bytes);
    if (!*out) return ig__fail(err, IG_ERR_NOMEM, "out of memory: %zu MiB for a %s buffer", size_bytes >> 20, e->be->name);
    return IG_OK;
}

void ig_engine_buf_free(ig_engine *e, void *buf) {
    if (buf) e->be->buf_free(e, buf);
}

ig_status ig_engine_sync(ig_engine *e) { return e->be->sync ? e->be->sync(e) : IG_OK; }

const char *ig_engine_isa(const ig_engine *e) { return e->be->isa ? e->be->isa() : "scalar"; }
bool ig_engine_native_bf16(const ig_engine *e) { return e->be->native_bf16 && e->be->native_bf16(); }
double ig_engine_setup_seconds(const ig_engine *e) { return e->setup_s; }

/* ---- the op cache table: linear probing, at most half full, deletion by backward shift (Knuth's
 * algorithm R), so a lookup is one multiply and, almost always, one or two slot reads ---- */

static size_t slot_of(const void *op, size_t cap) {
    /* Fibonacci hashing of the address; its low bits are alignment, the multiply spreads the rest. */
    return (size_t)(((uint64_t)(uintptr_t)op * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool grow(ig_engine *e) {
    const size_t cap = e->cap_caches ? 2 * e->cap_caches : 64;
    ig__cache_slot *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < e->cap_caches; i++) {
        if (!e->caches[i].op) continue;
        size_t j = slot_of(e->caches[i].op, cap);
        while (s[j].op) j = (j + 1) & (cap - 1);
        s[j] = e->caches[i];
    }
    free(e->caches);
    e->caches = s, e->cap_caches = cap;
    return true;
}

void **ig__engine_cache(ig_engine *e, const void *op, ig_err *err) {
    if (e->cap_caches) {
        for (size_t i = slot_of(op, e->cap_caches);; i = (i + 1) & (e->cap_caches - 1)) {
            if (e->caches[i].op == op) return &e->caches[i].cache;
            if (!e->caches[i].op) break;
        }
    }
    if (2 * (e->n_caches + 1) > e->cap_caches && !grow(e)) {
        ig__fail(err, IG_ERR_NOMEM, "out of memory for an op cache");
        return NULL;
    }
    size_t i = slot_of(op, e->cap_caches);
    while (e->caches[i].op) i = (i + 1) & (e->cap_caches - 1);
    e->caches[i] = (ig__cache_slot){.op = op, .cache = NULL};
    e->n_caches++;
    return &e->caches[i].cache;
}

void ig__engine_cache_drop(ig_engine *e, const void *op) {
    if (!e || !op || !e->cap_caches) return;
    const size_t mask = e->cap_caches - 1;
    size_t i = slot_of(op, e->cap_caches);
    while (e->caches[i].op != op) {
        if (!e->caches[i].op) return;
        i = (i + 1) & mask;
    }
    void *cache = e->caches[i].cache;
    e->caches[i] = (ig__cache_slot){0};
    e->n_caches--;
    /* Backward shift: move later entries of the run into the hole when their home slot allows it. */
    for (size_t j = (i + 1) & mask; e->caches[j].op; j = (j + 1) & mask) {
        const size_t home = slot_of(e->caches[j].op, e->cap_caches);
        /* j may move to i iff home is not cyclically in (i, j] */
        const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        e->caches[i] = e->caches[j];
        e->caches[j] = (ig__cache_slot){0};
        i = j;
    }
    if (cache) e->be->op_release(e, cache);
}
