/* common.c — see common.h. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

ig_status ig__fail(ig_err *err, ig_status st, const char *fmt, ...) {
    if (err && err->status == IG_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = st;
    }
    return st;
}

void ig__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "imagine: internal error: %s failed at %s:%d\n", expr, file, line);
    abort();
}

void *ig__alloc(size_t size_bytes) {
    void *p = NULL;
    size_t n = (size_bytes + 63) & ~(size_t)63;
    if (n < size_bytes || posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    return p;
}

void ig__free(void *p) { free(p); }

double ig__now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void ig__asset_path(const char *name, char *out, size_t len) {
    const char *env = getenv("IMAGINE_ASSETS");
    if (env && *env) {
        snprintf(out, len, "%s/%s", env, name);
        return;
    }
    char exe[3072];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, len, "assets/%s", name);
        return;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    /* the repository (build/imagine, build/examples/txt2img), then an installed tree (bin/ beside
     * share/imagine/), then where make install put the assets (IG_DATADIR) */
    static const char *const rel[] = {"/../assets/", "/../../assets/", "/../share/imagine/"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        snprintf(out, len, "%s%s%s", exe, rel[i], name);
        if (access(out, F_OK) == 0) return;
    }
#ifdef IG_DATADIR
    snprintf(out, len, "%s/%s", IG_DATADIR, name);
    if (access(out, F_OK) == 0) return;
#endif
    snprintf(out, len, "%s/../assets/%s", exe, name); /* missing everywhere: name the usual place */
}
