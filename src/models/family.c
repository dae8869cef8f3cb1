/* family.c — what every family shares: the list, the family of a text encoder, checking weights
 * against a list and the single-file key map. The SD 1.x / 2.x lists are family_sd.c's. See family.h. */
#include "family.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ig_family ig_fam_of_text(const ig_clip_config *text) {
    return text->act == IG_ACT_QUICK_GELU ? IG_FAMILY_SD1 : text->act == IG_ACT_GELU_ERF ? IG_FAMILY_SD2
                                                                                           : IG_FAMILY_UNKNOWN;
}

const char *ig_fam_part_name(ig_fam_part p) {
    static const char *const names[IG_FAM_N_PARTS_MAX] = {"text_encoder", "unet", "vae", "text_encoder_2"};
    return p >= 0 && p < IG_FAM_N_PARTS_MAX ? names[p] : "?";
}

bool ig__fam_add(ig_fam_list *l, const ig_fam_tensor *t) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        ig_fam_tensor *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = *t;
    return true;
}

void ig_fam_list_free(ig_fam_list *l) {
    if (!l) return;
    free(l->v);
    *l = (ig_fam_list){0};
}

ig_status ig_fam_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err) {
    ig_fam_list_free(out);
    if ((int)p < 0 || (int)p >= ig_fam_n_parts(a->family))
        return ig__fail(err, IG_ERR_INVALID, "model family %d has no part %d", (int)a->family, (int)p);
    ig_status st;
    switch (a->family) {
    case IG_FAMILY_SD1:
    case IG_FAMILY_SD2: st = ig__fam_sd_tensors(a, p, out, err); break;
    case IG_FAMILY_SDXL: st = ig__fam_sdxl_tensors(a, p, out, err); break;
    default: st = ig__fail(err, IG_ERR_UNSUPPORTED, "no architecture description for model family %d", (int)a->family);
    }
    if (st != IG_OK) ig_fam_list_free(out);
    return st;
}

ig_status ig_fam_check(const ig_fam_list *l, ig_weights *w, ig_err *err) {
    for (int i = 0; i < l->n; i++) {
        const ig_fam_tensor *t = &l->v[i];
        if (t->optional && !ig_weights_has(w, "%s", t->key)) continue;
        ig_tensor view;
        /* ig_weights_get names the part, the key (and the single-file key) and both shapes */
        if (ig_weights_get(w, &view, t->n_dims, t->ne, err, "%s", t->key) != IG_OK) return err->status;
    }
    return IG_OK;
}

/* ---- the single-file map: a copy of the list, sorted by diffusers key ---- */

typedef struct fam_map {
    ig_fam_tensor *v;
    int n;
} fam_map;

static int by_key(const void *a, const void *b) {
    return strcmp(((const ig_fam_tensor *)a)->key, ((const ig_fam_tensor *)b)->key);
}

static void map_free(void *ud) {
    fam_map *m = ud;
    if (m) free(m->v);
    free(m);
}

static bool map_key(void *ud, const char *key, ig_weights_src *src) {
    const fam_map *m = ud;
    ig_fam_tensor probe;
    if (strlen(key) >= sizeof probe.key) return false;
    memcpy(probe.key, key, strlen(key) + 1);
    const ig_fam_tensor *t = bsearch(&probe, m->v, (size_t)m->n, sizeof *m->v, by_key);
    if (!t) return false;
    snprintf(src->key, sizeof src->key, "%s", t->ldm_key);
    if (t->ldm_transposed) {
        src->transposed = true;
        return true;
    }
    if (t->ldm_n_rows > 0) {
        src->row0 = t->ldm_row0, src->n_rows = t->ldm_n_rows;
        return true;
    }
    bool same = t->ldm_n_dims == t->n_dims;
    for (int i = 0; same && i < t->n_dims; i++) same = t->ldm_ne[i] == t->ne[i];
    if (!same) { /* stored with other dims and the same elements: a (C, C, 1, 1) conv read as (C, C) */
        src->n_dims = t->n_dims;
        for (int i = 0; i < t->n_dims; i++) src->ne[i] = t->ne[i];
    }
    return true;
}

ig_status ig_fam_map_ldm(ig_weights *w, const ig_fam_list *l, ig_err *err) {
    fam_map *m = calloc(1, sizeof *m);
    if (m) m->v = malloc((size_t)(l->n ? l->n : 1) * sizeof *m->v);
    if (!m || !m->v) {
        map_free(m);
        return ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", w->label);
    }
    memcpy(m->v, l->v, (size_t)l->n * sizeof *m->v);
    m->n = l->n;
    qsort(m->v, (size_t)m->n, sizeof *m->v, by_key);
    if (w->map_free) w->map_free(w->map_ud);
    snprintf(w->prefix, sizeof w->prefix, "%s", l->ldm_prefix);
    w->map = map_key, w->map_ud = m, w->map_free = map_free;
    return IG_OK;
}
