/* engine.c — creating an engine: pick the backend and the activation precision.
 * bf16 is chosen only where the backend reports a native implementation (oneDNN on AVX-512 BF16
 * or AMX); IMAGINE_PRECISION=f32|bf16 or the caller's precision forces either. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

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
    if (be == &ig__backend_cpu && ig__dnnl_init(err) != IG_OK) return err->status;

    e = calloc(1, sizeof *e);
    if (!e) return ig__fail(err, IG_ERR_NOMEM, "out of memory creating the engine");
    e->be = be;
    e->act_dtype = IG_F32;
    if (precision == IG_PRECISION_BF16) e->act_dtype = IG_BF16;
    else if (precision == IG_PRECISION_AUTO && be == &ig__backend_cpu && ig__dnnl_has_native_bf16()) e->act_dtype = IG_BF16;
    *out = e;
    return IG_OK;
}

void ig_engine_free(ig_engine *e) { free(e); }
