/* safetensors.h — read (mmap, zero-copy) and write .safetensors checkpoints.
 *
 * File format (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N, then N
 * bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__":
 * {str: str}}, then the data block; offsets are relative to the data block (byte 8 + N), data is
 * little-endian, C order.
 *
 * Owns: parsing and validating the header, name lookup, views into the mapping (its own ig_st_view:
 * io/ sits below the engine and knows nothing of ig_tensor), and writing.
 * Leaves to others: turning views into engine tensors, dtype conversion and packing (models/weights.c,
 * engine/), which checkpoint keys a model needs (models/family.h), and folder layouts (models/sd.c).
 *
 *     ig_st_file *f = NULL;
 *     ig_st_view w;
 *     if (ig_st_open(&f, "unet/diffusion_pytorch_model.safetensors", false, &err) != IG_OK ||
 *         ig_st_get(f, "conv_in.weight", &w, &err) != IG_OK) ...;   // w.data points into the mapping
 *     ig_st_close(f);                                                // w.data is gone now
 */
#ifndef IG_SAFETENSORS_H
#define IG_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "imagine.h"

/* The element types imagine computes in (the values match the engine's ig_dtype). */
typedef enum ig_st_type { IG_ST_F32 = 0, IG_ST_BF16 = 1, IG_ST_F16 = 2 } ig_st_type;

#define IG_ST_MAX_DIMS 4

/* A tensor's bytes: shape outermost first (unused dims 1), strides in elements. */
typedef struct ig_st_view {
    ig_st_type type;
    int n_dims;
    int64_t ne[IG_ST_MAX_DIMS];
    int64_t st[IG_ST_MAX_DIMS];
    const void *data;
} ig_st_view;

size_t ig_st_type_size(ig_st_type t); /* 4 or 2 bytes */

typedef struct ig_st_file ig_st_file;

/* Maps path read-only and validates the whole header up front (every tensor's dtype, shape and
 * offsets against the file size), so later calls cannot address memory outside the file.
 * Tensors of dtypes imagine does not compute in (I64, U8, F64, F8_*, ...) or with more than
 * IG_ST_MAX_DIMS dims are listed and do not fail the open; ig_st_get refuses them.
 * private_copy (imagine serve --copy-weights): read the file into private anonymous memory instead
 * of mapping it, so a long-running process survives its model files being truncated or rewritten
 * in place (through a mapping, the next access to a page past the new end is a SIGBUS); costs the
 * file's size in resident memory, and ig_st_drop_pages does nothing for such a file.
 * On failure *out is NULL and err names the file (and the tensor, where there is one).
 * Caller closes with ig_st_close. */
ig_status ig_st_open(ig_st_file **out, const char *path, bool private_copy, ig_err *err);

/* The same over a buffer the caller owns and keeps alive (and unmodified) until ig_st_close;
 * nothing is copied. label names the buffer in messages and in ig_st_path (NULL: "<memory>"). */
ig_status ig_st_open_memory(ig_st_file **out, const void *data, size_t size, const char *label, ig_err *err);

/* Unmaps (for ig_st_open) and frees; every view, name and metadata string from f dies with it.
 * Accepts NULL. */
void ig_st_close(ig_st_file *f);

int ig_st_count(const ig_st_file *f);
/* The i-th tensor name in strcmp order, 0 <= i < ig_st_count(f); NULL when out of range. */
const char *ig_st_name(const ig_st_file *f, int i);

/* A contiguous, row-major view of tensor `name`, type IG_ST_F32, IG_ST_BF16 or IG_ST_F16, shape
 * exactly as stored (0-d tensors have n_dims 0). out->data points into the read-only mapping and
 * lives until ig_st_close. Errors: IG_ERR_NOT_FOUND when absent; IG_ERR_UNSUPPORTED for another
 * dtype, more than IG_ST_MAX_DIMS dims, or data not aligned to its element size (a writer that
 * did not pad). */
ig_status ig_st_get(const ig_st_file *f, const char *name, ig_st_view *out, ig_err *err);

/* The safetensors dtype string of tensor `name` ("F32", "I64", ...), NULL when absent; for
 * callers that want to skip tensors ig_st_get would refuse. */
const char *ig_st_dtype(const ig_st_file *f, const char *name);

/* "__metadata__" value for key, NULL when absent. Lives until ig_st_close. */
const char *ig_st_metadata(const ig_st_file *f, const char *key);

/* Tells the kernel the mapped pages may be dropped from memory (madvise MADV_DONTNEED on the
 * read-only file mapping): views stay valid and read the file again on their next access. For
 * callers that converted the tensors they need into their own buffers (packed weights), so the
 * checkpoint does not stay resident twice. No-op for ig_st_open_memory files. */
void ig_st_drop_pages(const ig_st_file *f);

/* Makes a read through a mapping whose file shrank (SIGBUS) read zeros instead of killing the
 * process, and records it: for long-running processes (imagine serve). Installs a SIGBUS handler. */
void ig_st_guard_install(void);
/* Whether that happened since the start: the weights read since may be zeros, not the model. */
bool ig_st_guard_tripped(void);

/* The path given to ig_st_open (or the label given to ig_st_open_memory). */
const char *ig_st_path(const ig_st_file *f);

typedef struct ig_st_entry {
    const char *name; /* checkpoint key, valid UTF-8, unique, not "__metadata__" */
    ig_st_view t;     /* any strides; written contiguous (row-major) */
} ig_st_entry;

/* Writes n tensors (n >= 0) and optional metadata (NULL, or a NULL-terminated list key, value,
 * key, value, ..., NULL) to path. Layout follows the reference writer: tensors sorted by element
 * size (largest first) then name, back to back, header padded with spaces to a multiple of 8, so
 * every tensor is aligned to its element size. Writes path.tmp, fsyncs, then renames it over
 * path, so a reader never sees half a file (two writers of the same path at once collide). */
ig_status ig_st_write(const char *path, const ig_st_entry *entries, int n, const char *const *metadata_kv,
                      ig_err *err);

#endif
