/* single_file.h — for tests: a folder model's tensors written as one single-file checkpoint where the
 * family description (models/family.h) places them (LDM keys, row slices of fused tensors,
 * transposed projections), so the single-file loader can be checked against the folder loader. */
#ifndef IG_TEST_SINGLE_FILE_H
#define IG_TEST_SINGLE_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "models/weights.h"

static const char *const test_part_file[IG_FAM_N_PARTS_MAX] = {
    "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors", "text_encoder_2/model.safetensors"};

typedef struct test_single_out {
    ig_weights_entry *e;
    char **names;
    float **bufs;
    int n, cap;
} test_single_out;

/* The f32 buffer of the stored tensor `name`, made (zeroed) on first use. */
static float *test_single_stored(test_single_out *o, const char *name, int n_dims, const int64_t *ne) {
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->names[i], name)) return o->bufs[i];
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 512;
        o->e = realloc(o->e, (size_t)o->cap * sizeof *o->e);
        o->names = realloc(o->names, (size_t)o->cap * sizeof *o->names);
        o->bufs = realloc(o->bufs, (size_t)o->cap * sizeof *o->bufs);
    }
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= ne[d];
    o->names[o->n] = strdup(name);
    o->bufs[o->n] = calloc((size_t)n, sizeof(float));
    o->e[o->n] = (ig_weights_entry){.name = o->names[o->n], .t = ig_tensor_plain(IG_F32, n_dims, ne, o->bufs[o->n])};
    return o->bufs[o->n++];
}

/* Writes model's tensors (arch a) to path as one file; skip: a part left out (-1: none). SD 2.x's
 * single files carry the text encoder's unused last layer, which the folder lacks: written as zeros. */
static bool test_write_single(const char *model, const ig_fam_arch *a, const char *path, int skip) {
    test_single_out o = {0};
    ig_err err = {0};
    bool ok = true;
    for (int part = 0; part < ig_fam_n_parts(a->family); part++) {
        if (part == skip) continue;
        ig_fam_arch w = *a;
        const bool extra_layer = part == IG_FAM_TEXT && a->family == IG_FAMILY_SD2;
        if (extra_layer) w.text.layers++;
        ig_fam_list l = {0};
        ig_st_file *f = NULL;
        char p[800], name[300];
        snprintf(p, sizeof p, "%s/%s", model, test_part_file[part]);
        ok = ok && ig_fam_tensors(&w, (ig_fam_part)part, &l, &err) == IG_OK && ig_st_open(&f, p, false, &err) == IG_OK;
        for (int i = 0; ok && i < l.n; i++) {
            const ig_fam_tensor *d = &l.v[i];
            snprintf(name, sizeof name, "%s%s", l.ldm_prefix, d->ldm_key);
            float *dst = test_single_stored(&o, name, d->ldm_n_dims, d->ldm_ne);
            const int64_t n = d->ne[0] * d->ne[1] * d->ne[2] * d->ne[3], row = n / d->ne[0];
            if (d->ldm_n_rows) dst += d->ldm_row0 * row;
            ig_tensor src;
            if (ig_weights_st_get(f, d->key, &src, &err) != IG_OK) {
                if (extra_layer) { /* the extra layer: zeros */
                    err = (ig_err){0};
                    continue;
                }
                ok = false;
                break;
            }
            ig_tensor t = ig_tensor_plain(IG_F32, src.n_dims, src.ne, dst);
            if (d->ldm_transposed) { /* stored (in, out): element (r, c) of src at (c, r) */
                const int64_t tne[2] = {src.ne[1], src.ne[0]};
                t = ig_tensor_plain(IG_F32, 2, tne, dst);
                const int64_t st0 = t.st[0];
                t.ne[0] = src.ne[0], t.ne[1] = src.ne[1], t.st[0] = t.st[1], t.st[1] = st0;
            }
            ig_tensor_copy(&t, &src);
        }
        ig_st_close(f);
        ig_fam_list_free(&l);
    }
    ok = ok && ig_weights_write(path, o.e, o.n, NULL, &err) == IG_OK;
    if (!ok) fprintf(stderr, "  test_write_single: %s\n", err.msg);
    for (int i = 0; i < o.n; i++) free(o.names[i]), free(o.bufs[i]);
    free(o.e), free(o.names), free(o.bufs);
    return ok;
}

#endif
