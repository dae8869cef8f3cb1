/* weights.c — see weights.h. */
#include "weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ig_tensor ig_weights_from_st(const ig_st_view *v) {
    ig_tensor t = {.dtype = (ig_dtype)v->type, .n_dims = v->n_dims, .data = (void *)v->data};
    for (int i = 0; i < IG_MAX_DIMS; i++) t.ne[i] = v->ne[i], t.st[i] = v->st[i];
    return t;
}

ig_st_view ig_weights_to_st(const ig_tensor *t) {
    ig_st_view v = {.type = (ig_st_type)t->dtype, .n_dims = t->n_dims, .data = t->data};
    for (int i = 0; i < IG_MAX_DIMS; i++) v.ne[i] = t->ne[i], v.st[i] = t->st[i];
    return v;
}

ig_status ig_weights_st_get(const ig_st_file *f, const char *name, ig_tensor *out, ig_err *err) {
    ig_st_view v;
    if (ig_st_get(f, name, &v, err) != IG_OK) return err->status;
    *out = ig_weights_from_st(&v);
    return IG_OK;
}

ig_status ig_weights_write(const char *path, const ig_weights_entry *entries, int n, const char *const *metadata_kv,
                           ig_err *err) {
    ig_st_entry *e = malloc((size_t)(n > 0 ? n : 1) * sizeof *e);
    if (!e) return ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) e[i] = (ig_st_entry){entries[i].name, ig_weights_to_st(&entries[i].t)};
    const ig_status st = ig_st_write(path, n > 0 ? e : NULL, n, metadata_kv, err);
    free(e);
    return st;
}

ig_status ig_weights_add_file(ig_weights *w, const char *path, ig_err *err) {
    if (w->n_files == IG_WEIGHTS_MAX_FILES)
        return ig__fail(err, IG_ERR_UNSUPPORTED, "%s: more than %d weight files", w->label, IG_WEIGHTS_MAX_FILES);
    ig_st_file *f = NULL;
    if (ig_st_open(&f, path, w->private_copy, err) != IG_OK) return err->status;
    w->files[w->n_files++] = f;
    return IG_OK;
}

void ig_weights_drop_pages(const ig_weights *w) {
    for (int i = 0; i < w->n_files; i++) ig_st_drop_pages(w->files[i]);
}

void ig_weights_close(ig_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_files; i++) ig_st_close(w->files[i]);
    for (int i = 0; i < w->n_owned; i++) ig__free(w->owned[i]);
    free(w->owned);
    if (w->map_free) w->map_free(w->map_ud);
    const char *label = w->label;
    const bool copy = w->private_copy;
    *w = (ig_weights){.label = label, .private_copy = copy};
}

/* src for key (the map's answer, or key itself) and full = prefix + the file's key. */
static ig_status source(const ig_weights *w, const char *key, ig_weights_src *src, char *full, size_t len,
                        ig_err *err) {
    *src = (ig_weights_src){0};
    snprintf(src->key, sizeof src->key, "%s", key);
    if (w->map && !w->map(w->map_ud, key, src))
        return ig__fail(err, IG_ERR_NOT_FOUND, "%s: tensor '%s' has no counterpart in %s", w->label, key,
                        w->n_files ? ig_st_path(w->files[0]) : "(no files)");
    if ((size_t)snprintf(full, len, "%s%s", w->prefix, src->key) >= len)
        return ig__fail(err, IG_ERR_INVALID, "%s: key too long: %s", w->label, key);
    return IG_OK;
}

/* Applies src's row range and reshape to the stored tensor t (plain, from ig_st_get). */
static ig_status view(const ig_weights *w, const char *full, const ig_weights_src *src, ig_tensor *t, ig_err *err) {
    if (src->n_rows > 0) {
        if (t->n_dims < 1 || src->row0 < 0 || src->row0 + src->n_rows > t->ne[0])
            return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s' has %lld rows, rows %lld..%lld were asked for",
                            w->label, full, (long long)(t->n_dims ? t->ne[0] : 0), (long long)src->row0,
                            (long long)(src->row0 + src->n_rows - 1));
        t->data = (char *)t->data + (size_t)(src->row0 * t->st[0]) * ig_dtype_size(t->dtype);
        t->ne[0] = src->n_rows;
    }
    if (src->n_dims > 0) {
        int64_t n = 1;
        for (int i = 0; i < src->n_dims; i++) n *= src->ne[i];
        if (src->n_dims > IG_MAX_DIMS || n != ig_tensor_nelem(t))
            return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s' (%lld elements) cannot be viewed with %d dims of %lld",
                            w->label, full, (long long)ig_tensor_nelem(t), src->n_dims, (long long)n);
        *t = ig_tensor_plain(t->dtype, src->n_dims, src->ne, t->data); /* a row range of a plain tensor is plain */
    }
    if (src->transposed) { /* a strided view of the 2-D transpose: only for readers that index (ig_tensor_get) */
        if (t->n_dims != 2)
            return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s' has %d dims, a transposed view needs 2", w->label, full,
                            t->n_dims);
        int64_t ne0 = t->ne[0], st0 = t->st[0];
        t->ne[0] = t->ne[1], t->st[0] = t->st[1], t->ne[1] = ne0, t->st[1] = st0;
    }
    return IG_OK;
}

/* full gets the file key (for messages). */
static ig_status lookup(const ig_weights *w, const char *key, ig_tensor *out, char *full, size_t len, ig_err *err) {
    ig_weights_src src;
    if (source(w, key, &src, full, len, err) != IG_OK) return err->status;
    for (int i = 0; i < w->n_files; i++) {
        if (!ig_st_dtype(w->files[i], full)) continue;
        if (ig_weights_st_get(w->files[i], full, out, err) != IG_OK) return err->status;
        return view(w, full, &src, out, err);
    }
    return ig__fail(err, IG_ERR_NOT_FOUND, "%s: tensor '%s'%s%s%s not found in %s%s", w->label, full,
                    w->map ? " (for '" : "", w->map ? key : "", w->map ? "')" : "",
                    w->n_files ? ig_st_path(w->files[0]) : "(no files)", w->n_files > 1 ? " and the other files" : "");
}

static ig_status get(ig_weights *w, ig_tensor *out, int n_dims, const int64_t *shape, ig_err *err, const char *key) {
    char full[512];
    if (lookup(w, key, out, full, sizeof full, err) != IG_OK) return err->status;
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
        return ig__fail(err, IG_ERR_INVALID, "%s: tensor '%s'%s%s%s has shape %s, the config needs %s", w->label, full,
                        w->map ? " (for '" : "", w->map ? key : "", w->map ? "')" : "", got, want);
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
    ig_weights_src src;
    va_list ap;
    va_start(ap, key_fmt);
    vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    if (source(w, key, &src, full, sizeof full, &(ig_err){0}) != IG_OK) return false;
    for (int i = 0; i < w->n_files; i++)
        if (ig_st_dtype(w->files[i], full)) return true;
    return false;
}
