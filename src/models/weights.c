/* weights.c — see weights.h. */
#include "weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ig_status ig_weights_add_file(ig_weights *w, const char *path, ig_err *err) {
    if (w->n_files == IG_WEIGHTS_MAX_FILES)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: more than %d weight files", w->label, IG_WEIGHTS_MAX_FILES);
    ig_st_file *f = NULL;
    if (ig_st_open(&f, path, err) != IG_OK) return err->status;
    w->files[w->n_files++] = f;
    return IG_OK;
}

void ig_weights_close(ig_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_files; i++) ig_st_close(w->files[i]);
    for (int i = 0; i < w->n_owned; i++) ig__free(w->owned[i]);
    free(w->owned);
    const char *label = w->label;
    *w = (ig_weights){.label = label};
}

static ig_status lookup(const ig_weights *w, const char *key, ig_tensor *out, ig_err *err) {
    char full[512];
    if ((size_t)snprintf(full, sizeof full, "%s%s", w->prefix, key) >= sizeof full)
        return ig__fail(err, IG_ERR_INVALID, "%s: key too long: %s", w->label, key);
    for (int i = 0; i < w->n_files; i++) {
        if (!ig_st_dtype(w->files[i], full)) continue;
        return ig_st_get(w->files[i], full, out, err);
    }
    return ig__fail(err, IG_ERR_NOT_FOUND, "%s: tensor '%s' not found in %s%s", w->label, full,
                    w->n_files ? ig_st_path(w->files[0]) : "(no files)", w->n_files > 1 ? " and the other files" : "");
}

static ig_status get(ig_weights *w, ig_tensor *out, int n_dims, const int64_t *shape, ig_err *err, const char *key) {
    if (lookup(w, key, out, err) != IG_OK) return err->status;
    bool ok = out->n_dims == n_dims;
    for (int i = 0; ok && shape && i < n_dims; i++) ok = shape[i] < 0 || shape[i] == out->ne[i];
    if (!ok) {
        char got[96], want[96] = "(";
        ig_tensor_describe(out, got, sizeof got);
        for (int i = 0; i < n_dims; i++) {
            size_t l = strlen(want);
            if (shape && shape[i] >= 0) snprintf(want + l, sizeof want - l, "%s%lld", i ? ", " : "", (long long)shape[i]);
            else snprintf(want + l, sizeof want - l, "%s?", i ? ", " : "");
        }
        strncat(want, ")", sizeof want - strlen(want) - 1);
        return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s%s' has shape %s, the config needs %s", w->label, w->prefix,
                        key, got, want);
    }
    return IG_OK;
}

ig_status ig_weights_get(ig_weights *w, ig_tensor *out, int n_dims, const int64_t *shape, ig_err *err,
                         const char *key_fmt, ...) {
    char key[400];
    va_list ap;
    va_start(ap, key_fmt);
    vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    return get(w, out, n_dims, shape, err, key);
}

ig_status ig_weights_vec(ig_weights *w, ig_tensor *out, int64_t n, ig_err *err, const char *key_fmt, ...) {
    char key[400];
    va_list ap;
    va_start(ap, key_fmt);
    vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    if (get(w, out, 1, &n, err, key) != IG_OK) return err->status;
    if (out->dtype == IG_F32) return IG_OK;
    if (w->n_owned == w->cap_owned) {
        int cap = w->cap_owned ? 2 * w->cap_owned : 64;
        void **p = realloc(w->owned, (size_t)cap * sizeof *p);
        if (!p) return ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", w->label);
        w->owned = p, w->cap_owned = cap;
    }
    float *f = ig__alloc((size_t)n * sizeof(float));
    if (!f) return ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", w->label);
    ig_tensor t = ig_tensor_plain(IG_F32, 1, &n, f);
    ig_tensor_copy(&t, out);
    w->owned[w->n_owned++] = f;
    *out = t;
    return IG_OK;
}

bool ig_weights_has(const ig_weights *w, const char *key_fmt, ...) {
    char key[400], full[512];
    va_list ap;
    va_start(ap, key_fmt);
    vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s%s", w->prefix, key);
    for (int i = 0; i < w->n_files; i++)
        if (ig_st_dtype(w->files[i], full)) return true;
    return false;
}
