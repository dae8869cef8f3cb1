/* safetensors.c — the .safetensors reader (mmap + validated header + sorted name table) and
 * writer (see safetensors.h for the format and the API).
 *
 * Owns: the header parse (jansson), every check that keeps a bad file from making us read outside
 * it, and byte-exact writing. Leaves to others: dtype conversion, which tensors a model wants.
 *
 * Trust: every number in the header is checked before use, in uint64 with overflow checks, and
 * each tensor's [begin, end) must lie inside the data block, so after ig_st_open succeeds any view
 * it hands out is inside the buffer. Compared with the reference reader we are more tolerant in
 * two ways that cannot lead outside the file: gaps, overlaps and trailing bytes in the data block
 * are accepted (the reference demands tensors back to back up to the last byte), and tensors of
 * dtypes we do not compute in, or with more than IG_ST_MAX_DIMS dims, are listed rather than failing
 * the open (real checkpoints carry int64 position_ids).
 * A file truncated by someone else while mapped makes the next read of a page past its new end a
 * SIGBUS. ig_st_guard_install (imagine serve calls it) turns that into a flag instead of a crash:
 * the page is replaced by zeros and ig_st_guard_tripped() says the weights can no longer be trusted.
 * --copy-weights (ig_st_open's private_copy) avoids the mapping altogether.
 */
#include "io/safetensors.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* Views hand out the file's bytes as they are, and the format is little-endian. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors views are zero-copy little-endian data; a big-endian host needs a byte-swapping path"
#endif

/* Same limit as the reference reader (MAX_HEADER_SIZE = 100_000_000): a real header is a few
 * hundred KB even for 1200 tensors, so anything bigger is a wrong file, not a big model. */
#define MAX_HEADER_BYTES 100000000ull
#define NAME_MAX_PRINT 200 /* names come from the file; bound what goes into a 512-byte message */

/* Every dtype the reference implementation knows, so real checkpoints open; only the first three
 * become ig_st_view views. Sizes are in bits because of the sub-byte float formats. */
static const struct {
    const char *name;
    unsigned bits;
    int ig; /* ig_st_type, or -1 when imagine does not compute in it */
} dtypes[] = {
    {"F32", 32, IG_ST_F32},  {"F16", 16, IG_ST_F16},  {"BF16", 16, IG_ST_BF16}, {"F64", 64, -1},
    {"I64", 64, -1},         {"U64", 64, -1},         {"I32", 32, -1},         {"U32", 32, -1},
    {"I16", 16, -1},         {"U16", 16, -1},         {"I8", 8, -1},           {"U8", 8, -1},
    {"BOOL", 8, -1},         {"F8_E4M3", 8, -1},      {"F8_E5M2", 8, -1},      {"F8_E8M0", 8, -1},
    {"F6_E2M3", 6, -1},      {"F6_E3M2", 6, -1},      {"F4", 4, -1},           {"C64", 64, -1},
};

typedef struct st_tensor {
    const char *name;  /* a key of f->root: jansson keeps it alive until json_decref */
    const char *dtype; /* points into dtypes[] */
    int ig;            /* ig_st_type, or -1 */
    unsigned bits;
    int n_dims;                /* may exceed IG_ST_MAX_DIMS; only the first IG_ST_MAX_DIMS are kept */
    int64_t ne[IG_ST_MAX_DIMS];
    uint64_t begin, nbytes; /* relative to the data block; begin + nbytes <= data_size */
} st_tensor;

struct ig_st_file {
    char *path;
    const uint8_t *base; /* the whole file */
    size_t size;
    bool mapped;          /* base came from mmap in ig_st_open: munmap on close */
    bool copied;          /* ... an anonymous copy (private_copy), not the file's pages */
    const uint8_t *data;  /* data block, base + 8 + header length */
    uint64_t data_size;
    json_t *root;         /* parsed header; names and metadata strings point into it */
    json_t *meta;         /* borrowed from root, or NULL */
    st_tensor *t;         /* sorted by name (strcmp) for bsearch */
    int n;
};

/* ---------------------------------------------------------------- reader */

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* "[64, 64, 1, 1]" from the JSON array (already checked to hold integers), for messages. */
static const char *shape_str(const json_t *shape, char *buf, size_t len) {
    size_t o = 0, i;
    json_t *d;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    json_array_foreach(shape, i, d) {
        if (o >= len) break;
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)json_integer_value(d));
    }
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* Reads one integer field that must be >= 0 (shape dims, offsets). */
static bool get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static ig_status parse_entry(const ig_st_file *f, const char *name, json_t *v, st_tensor *out, ig_err *err) {
    ig_status st = IG_OK;
    const char *F = f->path;
    const int NP = NAME_MAX_PRINT;
    char sbuf[96];
    json_t *jdt, *jshape, *joff, *d;
    size_t i;
    uint64_t span = 1, nelem = 1, nbits, begin, end;

    memset(out, 0, sizeof *out);
    out->name = name;
    if (!json_is_object(v)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': header entry is not an object", F, NP, name);
        goto fail;
    }
    jdt = json_object_get(v, "dtype");
    jshape = json_object_get(v, "shape");
    joff = json_object_get(v, "data_offsets");
    if (!json_is_string(jdt)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': \"dtype\" missing or not a string", F, NP, name);
        goto fail;
    }
    for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (strcmp(json_string_value(jdt), dtypes[i].name) == 0) {
            out->dtype = dtypes[i].name, out->bits = dtypes[i].bits, out->ig = dtypes[i].ig;
            break;
        }
    }
    if (!out->dtype) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': unknown dtype '%.32s'", F, NP, name,
                      json_string_value(jdt));
        goto fail;
    }

    if (!json_is_array(jshape)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': \"shape\" missing or not an array", F, NP, name);
        goto fail;
    }
    /* span = product of the non-zero dims must fit in int64, not only the element count: a
     * 0-element tensor with huge other dims would otherwise overflow the strides of its view. */
    json_array_foreach(jshape, i, d) {
        uint64_t dim;
        if (!get_u64(d, &dim)) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': shape[%zu] is not a non-negative integer", F,
                          NP, name, i);
            goto fail;
        }
        if (dim == 0) nelem = 0;
        else if (__builtin_mul_overflow(span, dim, &span) || span > (uint64_t)INT64_MAX) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': shape %s overflows when multiplied", F, NP,
                          name, shape_str(jshape, sbuf, sizeof sbuf));
            goto fail;
        }
        if (i < IG_ST_MAX_DIMS) out->ne[i] = (int64_t)dim;
    }
    out->n_dims = (int)IG_MIN(json_array_size(jshape), (size_t)INT32_MAX);
    if (nelem) nelem = span;
    if (__builtin_mul_overflow(nelem, (uint64_t)out->bits, &nbits)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': shape %s x %s overflows", F, NP, name,
                      shape_str(jshape, sbuf, sizeof sbuf), out->dtype);
        goto fail;
    }
    if (nbits % 8) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s': shape %s of %s does not fill whole bytes", F, NP,
                      name, shape_str(jshape, sbuf, sizeof sbuf), out->dtype);
        goto fail;
    }
    out->nbytes = nbits / 8;

    if (!json_is_array(joff) || json_array_size(joff) != 2 || !get_u64(json_array_get(joff, 0), &begin) ||
        !get_u64(json_array_get(joff, 1), &end) || begin > end) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "%s: tensor '%.*s': \"data_offsets\" must be [begin, end] with 0 <= begin <= end", F, NP,
                      name);
        goto fail;
    }
    if (end - begin != out->nbytes) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "%s: tensor '%.*s': data_offsets [%llu, %llu] hold %llu bytes but shape %s x %s needs %llu",
                      F, NP, name, (unsigned long long)begin, (unsigned long long)end,
                      (unsigned long long)(end - begin), shape_str(jshape, sbuf, sizeof sbuf), out->dtype,
                      (unsigned long long)out->nbytes);
        goto fail;
    }
    if (end > f->data_size) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "%s: tensor '%.*s': data ends at byte %llu of the data block, which has only %llu bytes "
                      "(file truncated?)",
                      F, NP, name, (unsigned long long)end, (unsigned long long)f->data_size);
        goto fail;
    }
    out->begin = begin;
fail:
    return st;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static ig_status parse_header(ig_st_file *f, ig_err *err) {
    ig_status st = IG_OK;
    const char *F = f->path, *key;
    json_error_t je;
    json_t *v;
    uint64_t hlen;
    size_t n_entries;
    int k = 0;

    if (f->size < 8) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: %zu bytes is too short for a safetensors file (no header length)",
                      F, f->size);
        goto fail;
    }
    hlen = read_le64(f->base);
    if (hlen > MAX_HEADER_BYTES) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "%s: header length %llu is over the %llu-byte limit (not a safetensors file?)", F,
                      (unsigned long long)hlen, MAX_HEADER_BYTES);
        goto fail;
    }
    if (hlen > f->size - 8) {
        st = ig__fail(err, IG_ERR_INVALID,
                      "%s: header length %llu runs past the end of the %zu-byte file (truncated?)", F,
                      (unsigned long long)hlen, f->size);
        goto fail;
    }
    f->data = f->base + 8 + hlen;
    f->data_size = f->size - 8 - hlen;

    /* Duplicate names would make lookups ambiguous: refuse them at parse time. */
    f->root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!f->root) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: header is not valid JSON (at byte %d of the header: %s)", F,
                      je.position, je.text);
        goto fail;
    }
    if (!json_is_object(f->root)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: header is not a JSON object", F);
        goto fail;
    }

    f->meta = json_object_get(f->root, "__metadata__");
    if (f->meta) {
        if (!json_is_object(f->meta)) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: \"__metadata__\" is not an object", F);
            goto fail;
        }
        json_object_foreach(f->meta, key, v) {
            if (!json_is_string(v)) {
                st = ig__fail(err, IG_ERR_INVALID, "%s: \"__metadata__\" value of '%.*s' is not a string", F,
                              NAME_MAX_PRINT, key);
                goto fail;
            }
        }
    }

    n_entries = json_object_size(f->root) - (f->meta ? 1 : 0);
    if (n_entries > INT32_MAX) { /* cannot happen under the 100 MB header limit; keeps int counts exact */
        st = ig__fail(err, IG_ERR_INVALID, "%s: too many tensors (%zu)", F, n_entries);
        goto fail;
    }
    f->t = calloc(n_entries ? n_entries : 1, sizeof *f->t);
    if (!f->t) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory for %zu tensor entries", F, n_entries);
        goto fail;
    }
    json_object_foreach(f->root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        IG_ASSERT((size_t)k < n_entries);
        st = parse_entry(f, key, v, &f->t[k], err);
        if (st != IG_OK) goto fail;
        k++;
    }
    f->n = k;
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_tensor);
fail:
    return st;
}

ig_status ig_st_open_memory(ig_st_file **out, const void *data, size_t size, const char *label, ig_err *err) {
    ig_status st = IG_OK;
    ig_st_file *f = NULL;

    IG_ASSERT(out);
    *out = NULL;
    f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(label ? label : "<memory>"))) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", label ? label : "<memory>");
        goto fail;
    }
    f->base = data;
    f->size = data ? size : 0;
    st = parse_header(f, err);
    if (st != IG_OK) goto fail;
    *out = f;
    f = NULL;
fail:
    ig_st_close(f);
    return st;
}


/* ---- the SIGBUS guard ----------------------------------------------------------------------------
 * The mapped files' ranges, for the signal handler: a fixed table of atomics, so the handler reads it
 * without locks. A process-wide table is unavoidable here (a signal handler has no context pointer). */
#define GUARD_SLOTS 256
static _Atomic uintptr_t guard_base[GUARD_SLOTS];
static _Atomic size_t guard_size[GUARD_SLOTS];
static volatile sig_atomic_t guard_flag;
static long guard_page;

static void guard_add(const void *base, size_t size) {
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t zero = 0;
        if (atomic_compare_exchange_strong(&guard_base[i], &zero, (uintptr_t)1)) { /* claimed */
            atomic_store(&guard_size[i], size);
            atomic_store(&guard_base[i], (uintptr_t)base);
            return;
        }
    }
    /* full: this file is simply unguarded */
}

static void guard_remove(const void *base) {
    for (int i = 0; i < GUARD_SLOTS; i++)
        if (atomic_load(&guard_base[i]) == (uintptr_t)base) {
            atomic_store(&guard_size[i], 0);
            atomic_store(&guard_base[i], 0);
            return;
        }
}

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    const uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        const uintptr_t b = atomic_load(&guard_base[i]);
        const size_t n = atomic_load(&guard_size[i]);
        if (b > 1 && a >= b && a < b + n) {
            void *page = (void *)(a & ~(uintptr_t)(guard_page - 1));
            if (mmap(page, (size_t)guard_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
                guard_flag = 1;
                return; /* the read is retried and finds zeros */
            }
        }
    }
    signal(sig, SIG_DFL); /* not one of ours: die as we would have */
    raise(sig);
}

void ig_st_guard_install(void) {
    guard_page = sysconf(_SC_PAGESIZE);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

bool ig_st_guard_tripped(void) { return guard_flag != 0; }

ig_status ig_st_open(ig_st_file **out, const char *path, bool private_copy, ig_err *err) {
    ig_status st = IG_OK;
    int fd = -1;
    void *map = MAP_FAILED;
    size_t size = 0;
    struct stat sb;
    ig_st_file *f = NULL;

    IG_ASSERT(out && path);
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = ig__fail(err, errno == ENOENT ? IG_ERR_NOT_FOUND : IG_ERR_IO, "%s: cannot open: %s", path,
                      strerror(errno));
        goto fail;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ig__fail(err, IG_ERR_IO, "%s: not a readable regular file", path);
        goto fail;
    }
    size = (size_t)sb.st_size;
    /* mmap refuses length 0; an empty file goes on to the "too short" message with no mapping. */
    const bool copy = private_copy;
    if (size > 0 && copy) {
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
            st = ig__fail(err, IG_ERR_NOMEM, "%s: cannot allocate %zu bytes for a copy: %s", path, size, strerror(errno));
            goto fail;
        }
        for (size_t got = 0; got < size;) {
            const ssize_t k = pread(fd, (char *)map + got, size - got, (off_t)got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                st = ig__fail(err, IG_ERR_IO, "%s: read failed at byte %zu of %zu: %s", path, got, size,
                              k < 0 ? strerror(errno) : "the file shrank");
                goto fail;
            }
            got += (size_t)k;
        }
        (void)mprotect(map, size, PROT_READ);
    } else if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            st = ig__fail(err, IG_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, size, strerror(errno));
            goto fail;
        }
    }
    close(fd); /* the mapping keeps the file */
    fd = -1;
    st = ig_st_open_memory(&f, map == MAP_FAILED ? NULL : map, size, path, err);
    if (st != IG_OK) goto fail;
    f->mapped = true;
    f->copied = copy;
    if (!copy && f->base) guard_add(f->base, f->size);
    map = MAP_FAILED; /* owned by f now */
    *out = f;
fail:
    if (map != MAP_FAILED) munmap(map, size);
    if (fd >= 0) close(fd);
    return st;
}

void ig_st_close(ig_st_file *f) {
    if (!f) return;
    json_decref(f->root);
    free(f->t);
    if (f->mapped && f->base) {
        if (!f->copied) guard_remove(f->base);
        munmap((void *)f->base, f->size);
    }
    free(f->path);
    free(f);
}

void ig_st_drop_pages(const ig_st_file *f) {
    /* File-backed, MAP_PRIVATE, never written: DONTNEED only unmaps the page-cache pages from this
     * process; the contents are unchanged when touched again. */
    if (f && f->mapped && !f->copied && f->base && f->size) (void)madvise((void *)f->base, f->size, MADV_DONTNEED);
}

int ig_st_count(const ig_st_file *f) { return f->n; }

const char *ig_st_name(const ig_st_file *f, int i) { return i >= 0 && i < f->n ? f->t[i].name : NULL; }

const char *ig_st_path(const ig_st_file *f) { return f->path; }

static const st_tensor *find(const ig_st_file *f, const char *name) {
    st_tensor key = {.name = name};
    return f->n ? bsearch(&key, f->t, (size_t)f->n, sizeof *f->t, cmp_tensor) : NULL;
}

const char *ig_st_dtype(const ig_st_file *f, const char *name) {
    const st_tensor *t = find(f, name);
    return t ? t->dtype : NULL;
}

const char *ig_st_metadata(const ig_st_file *f, const char *key) {
    return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}

size_t ig_st_type_size(ig_st_type t) { return t == IG_ST_F32 ? 4 : 2; }

ig_status ig_st_get(const ig_st_file *f, const char *name, ig_st_view *out, ig_err *err) {
    ig_status st = IG_OK;
    const st_tensor *t = find(f, name);
    const uint8_t *p;

    if (!t) {
        st = ig__fail(err, IG_ERR_NOT_FOUND, "%s: no tensor named '%.*s'", f->path, NAME_MAX_PRINT, name);
        goto fail;
    }
    if (t->ig < 0) {
        st = ig__fail(err, IG_ERR_UNSUPPORTED, "%s: tensor '%.*s' has dtype %s; imagine loads F32, F16 and BF16",
                      f->path, NAME_MAX_PRINT, name, t->dtype);
        goto fail;
    }
    if (t->n_dims > IG_ST_MAX_DIMS) {
        st = ig__fail(err, IG_ERR_UNSUPPORTED, "%s: tensor '%.*s' has %d dims; imagine tensors have at most %d",
                      f->path, NAME_MAX_PRINT, name, t->n_dims, IG_ST_MAX_DIMS);
        goto fail;
    }
    p = f->data + t->begin;
    /* Reference writers pad the header so every tensor is aligned; a float* that is not would be
     * undefined behaviour in C (and a trap under UBSan), so such a file needs a copying loader. */
    if (t->nbytes && (uintptr_t)p % (t->bits / 8)) {
        st = ig__fail(err, IG_ERR_UNSUPPORTED,
                      "%s: tensor '%.*s': data at file offset %llu is not aligned to its %u-byte elements", f->path,
                      NAME_MAX_PRINT, name, (unsigned long long)(p - f->base), t->bits / 8);
        goto fail;
    }
    /* row-major: unused dims 1, strides the product of the dims after */
    *out = (ig_st_view){.type = (ig_st_type)t->ig, .n_dims = t->n_dims, .data = p};
    for (int i = IG_ST_MAX_DIMS - 1; i >= 0; i--) {
        out->ne[i] = i < t->n_dims ? t->ne[i] : 1;
        out->st[i] = i == IG_ST_MAX_DIMS - 1 ? 1 : out->st[i + 1] * out->ne[i + 1];
    }
fail:
    return st;
}

/* ---------------------------------------------------------------- writer */

static const char *st_dtype_name(ig_st_type dt) {
    switch (dt) {
    case IG_ST_F32: return "F32";
    case IG_ST_BF16: return "BF16";
    case IG_ST_F16: return "F16";
    }
    return NULL;
}

/* Reference order: larger elements first (keeps every tensor aligned with no padding between
 * them, which the reference reader would reject), then by name for a reproducible file. */
static int cmp_entry(const void *a, const void *b) {
    const ig_st_entry *x = *(const ig_st_entry *const *)a, *y = *(const ig_st_entry *const *)b;
    size_t sx = ig_st_type_size(x->t.type), sy = ig_st_type_size(y->t.type);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Element count of a tensor we are asked to write, or -1 when its shape is not writable. */
static int64_t entry_nelem(const ig_st_view *t) {
    int64_t n = 1;
    if (t->n_dims < 0 || t->n_dims > IG_ST_MAX_DIMS) return -1;
    for (int i = 0; i < t->n_dims; i++)
        if (t->ne[i] < 0 || __builtin_mul_overflow(n, t->ne[i], &n)) return -1;
    return n <= INT64_MAX / 8 ? n : -1; /* so that n x element size and the offsets fit too */
}

static bool write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

/* Contiguous tensors go out in one write; strided ones are gathered element by element through a
 * small buffer so that writing never needs a second copy of a big tensor. */
static bool write_tensor(FILE *fp, const ig_st_view *t, int64_t nelem, uint8_t *buf, size_t buf_size) {
    const size_t es = ig_st_type_size(t->type);
    int64_t idx[IG_ST_MAX_DIMS] = {0}, want = 1;
    size_t used = 0;
    bool contiguous = true; /* row-major over the dims larger than 1 */
    for (int d = t->n_dims - 1; d >= 0; d--) {
        if (t->ne[d] != 1 && t->st[d] != want) contiguous = false;
        want *= t->ne[d];
    }

    if (nelem == 0) return true;
    if (contiguous) return write_all(fp, t->data, (size_t)nelem * es);
    for (int64_t e = 0; e < nelem; e++) {
        int64_t off = 0;
        for (int d = 0; d < t->n_dims; d++) off += idx[d] * t->st[d];
        memcpy(buf + used, (const uint8_t *)t->data + off * (int64_t)es, es);
        used += es;
        if (used + es > buf_size) {
            if (!write_all(fp, buf, used)) return false;
            used = 0;
        }
        for (int d = t->n_dims - 1; d >= 0; d--) {
            if (++idx[d] < t->ne[d]) break;
            idx[d] = 0;
        }
    }
    return write_all(fp, buf, used);
}

ig_status ig_st_write(const char *path, const ig_st_entry *entries, int n, const char *const *metadata_kv,
                      ig_err *err) {
    enum { BUF_SIZE = 1 << 16 };
    ig_status st = IG_OK;
    const ig_st_entry **sorted = NULL;
    json_t *root = NULL, *meta = NULL, *info;
    char *header = NULL, *tmp = NULL;
    uint8_t *buf = NULL, len8[8];
    FILE *fp = NULL;
    bool tmp_made = false;
    uint64_t offset = 0, hlen;
    static const char spaces[8] = "       ";

    IG_ASSERT(path);
    if (n < 0 || (n > 0 && !entries)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: bad tensor list (n = %d)", path, n);
        goto fail;
    }
    sorted = malloc(sizeof *sorted * (size_t)(n ? n : 1));
    root = json_object();
    buf = malloc(BUF_SIZE);
    if (!sorted || !root || !buf) goto nomem;
    for (int i = 0; i < n; i++) {
        const ig_st_entry *e = &entries[i];
        int64_t ne = entry_nelem(&e->t);
        if (!e->name || strcmp(e->name, "__metadata__") == 0 || !st_dtype_name(e->t.type) || ne < 0 ||
            (ne > 0 && !e->t.data)) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: entry %d ('%.*s'): need a name other than __metadata__, "
                          "dtype f32/bf16/f16, 0..%d non-negative dims and data",
                          path, i, NAME_MAX_PRINT, e->name ? e->name : "(null)", IG_ST_MAX_DIMS);
            goto fail;
        }
        sorted[i] = e;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);

    /* __metadata__ first, as the reference writer does; jansson dumps in insertion order. */
    if (metadata_kv && metadata_kv[0]) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) goto nomem;
        for (int i = 0; metadata_kv[i]; i += 2) {
            if (!metadata_kv[i + 1] || json_object_set_new(meta, metadata_kv[i], json_string(metadata_kv[i + 1]))) {
                st = ig__fail(err, IG_ERR_INVALID, "%s: metadata '%.*s' has no value or is not valid UTF-8", path,
                              NAME_MAX_PRINT, metadata_kv[i]);
                goto fail;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const ig_st_view *t = &sorted[i]->t;
        uint64_t nbytes = (uint64_t)entry_nelem(t) * ig_st_type_size(t->type);
        json_t *shape = json_array();
        if (!shape) goto nomem;
        for (int d = 0; d < t->n_dims; d++)
            if (json_array_append_new(shape, json_integer(t->ne[d])) != 0) {
                json_decref(shape);
                goto nomem;
            }
        if (json_object_get(root, sorted[i]->name)) {
            json_decref(shape);
            st = ig__fail(err, IG_ERR_INVALID, "%s: tensor '%.*s' given twice", path, NAME_MAX_PRINT,
                          sorted[i]->name);
            goto fail;
        }
        info = json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_name(t->type), "shape", shape,
                         "data_offsets", (json_int_t)offset, (json_int_t)(offset + nbytes));
        if (!info) goto nomem; /* json_pack released shape */
        if (json_object_set_new(root, sorted[i]->name, info) != 0) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: tensor name '%.*s' is not valid UTF-8", path, NAME_MAX_PRINT,
                          sorted[i]->name);
            goto fail;
        }
        offset += nbytes;
    }
    header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    tmp = malloc(strlen(path) + 5);
    if (!header || !tmp) goto nomem;
    sprintf(tmp, "%s.tmp", path);

    /* Padding the header with spaces to a multiple of 8 puts the data block at an 8-byte boundary
     * of the file (and of a page-aligned mapping), so every tensor is aligned for its type. */
    hlen = strlen(header);
    hlen += (8 - hlen % 8) % 8;
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hlen >> (8 * i));
    fp = fopen(tmp, "wb");
    if (!fp) {
        st = ig__fail(err, IG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    tmp_made = true;
    if (!write_all(fp, len8, 8) || !write_all(fp, header, strlen(header)) ||
        !write_all(fp, spaces, hlen - strlen(header)))
        goto io;
    for (int i = 0; i < n; i++)
        if (!write_tensor(fp, &sorted[i]->t, entry_nelem(&sorted[i]->t), buf, BUF_SIZE)) goto io;
    /* fsync before rename: otherwise a crash can leave the new name pointing at unwritten data. */
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) goto io;
    if (fclose(fp) != 0) {
        fp = NULL;
        goto io;
    }
    fp = NULL;
    if (rename(tmp, path) != 0) {
        st = ig__fail(err, IG_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    tmp_made = false;
    goto fail; /* success: fall into the shared cleanup with st == IG_OK */
io:
    st = ig__fail(err, IG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    goto fail;
nomem:
    st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory building the header", path);
fail:
    if (fp) fclose(fp);
    if (tmp_made) unlink(tmp);
    free(tmp);
    free(header);
    free(buf);
    json_decref(root);
    free(sorted);
    return st;
}
