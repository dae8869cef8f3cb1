/* weights.h — a model component's tensors, looked up by checkpoint key with their shapes checked;
 * and where io/safetensors' views become engine tensors (io/ knows nothing of ig_tensor).
 *
 * Keys stay the checkpoint's own ("down_blocks.1.attentions.0.proj_in.weight"), so grep finds them.
 * Views point into the mmapped files (no copy); small vectors the engine wants in f32 (norm scales
 * and shifts) are converted once and owned here. A missing tensor or a shape that disagrees is an
 * error naming the component, the key and both shapes. */
#ifndef IG_MODELS_WEIGHTS_H
#define IG_MODELS_WEIGHTS_H

#include "common.h"
#include "engine/tensor.h"
#include "io/safetensors.h"

#define IG_WEIGHTS_MAX_FILES 8

/* Where a requested key's tensor is stored, for checkpoints that name or lay it out otherwise
 * (single-file LDM checkpoints): under another key, as rows of a fused tensor (OpenCLIP's
 * attn.in_proj_weight holds q|k|v), or with other dims (a 1x1 conv stored for a linear). */
typedef struct ig_weights_src {
    char key[400];           /* the file's key; prefix is prepended as for any key */
    int64_t row0, n_rows;    /* n_rows > 0: only rows [row0, row0 + n_rows) of dim 0 */
    int n_dims;              /* > 0: then viewed with shape ne[0..n_dims), same element count */
    int64_t ne[IG_MAX_DIMS];
    bool transposed;         /* a 2-D tensor stored transposed (OpenCLIP's text_projection): the view gets
                                swapped shape and strides, so it is not contiguous */
} ig_weights_src;

/* Called with src->key = key and the rest zeroed (so returning true alone keeps the key as it is);
 * fills src and returns true, or returns false when the checkpoint has no such tensor. The view
 * stays inside the stored tensor (the row range is checked) and is contiguous, so it is as good as
 * a stored tensor: no copy. */
typedef bool (*ig_weights_map_fn)(void *ud, const char *key, ig_weights_src *src);

typedef struct ig_weights {
    const char *label;                       /* "unet", "vae", ... for messages */
    bool private_copy;                       /* files added later are read into memory, not mapped (ig_st_open) */
    ig_st_file *files[IG_WEIGHTS_MAX_FILES]; /* searched in order */
    int n_files;
    char prefix[96]; /* prepended to every key (single-file checkpoints: "model.diffusion_model.") */
    ig_weights_map_fn map;         /* NULL: keys are looked up as asked */
    void *map_ud;                  /* map's argument */
    void (*map_free)(void *ud);    /* called on map_ud by ig_weights_close; NULL: not owned */
    void **owned;    /* f32 conversions made by ig_weights_vec */
    int n_owned, cap_owned;
} ig_weights;

/* The engine's tensor over a safetensors view and back: the same bytes and strides, no copy. A view
 * from ig_st_get points into a read-only mapping: the tensor must not be written (it is only
 * non-const because ig_tensor is). */
ig_tensor ig_weights_from_st(const ig_st_view *v);
ig_st_view ig_weights_to_st(const ig_tensor *t);
/* ig_st_get as an ig_tensor. */
ig_status ig_weights_st_get(const ig_st_file *f, const char *name, ig_tensor *out, ig_err *err);
/* ig_st_write of engine tensors (any strides). */
typedef struct ig_weights_entry {
    const char *name;
    ig_tensor t;
} ig_weights_entry;
ig_status ig_weights_write(const char *path, const ig_weights_entry *entries, int n, const char *const *metadata_kv,
                           ig_err *err);

/* Opens one more safetensors file into w (w zeroed or already holding files). */
ig_status ig_weights_add_file(ig_weights *w, const char *path, ig_err *err);
/* Drops the files' resident pages (ig_st_drop_pages) once the engine holds packed copies. */
void ig_weights_drop_pages(const ig_weights *w);
/* Closes the files, frees the conversions and map_ud (with map_free); every view from w dies.
 * Accepts a zeroed w. */
void ig_weights_close(ig_weights *w);

/* The tensor named by the printf-style key, checked to have n_dims dims and, where shape[i] >= 0,
 * that size (shape NULL: any). */
ig_status ig_weights_get(ig_weights *w, ig_tensor *out, int n_dims, const int64_t *shape, ig_err *err,
                         const char *key_fmt, ...) __attribute__((format(printf, 6, 7)));
/* A 1-D tensor of n elements as f32 (converted once when stored as f16/bf16). */
ig_status ig_weights_vec(ig_weights *w, ig_tensor *out, int64_t n, ig_err *err, const char *key_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Whether the key exists (for optional tensors such as conv_shortcut). */
bool ig_weights_has(const ig_weights *w, const char *key_fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
