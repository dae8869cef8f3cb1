/* page.c — see page.h. The files are small (a few KiB) and fixed for the server's life, so they are
 * read whole at startup: a request never touches the disk, and an edit to assets/ needs a restart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "server/page.h"

#define PAGE_MAX_BYTES (1 << 20) /* a sanity bound: the real files are a few KiB */

static const struct {
    const char *url, *file, *type;
} page_files[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/playground", "index.html", "text/html; charset=utf-8"},
    {"/playground.css", "playground.css", "text/css; charset=utf-8"},
    {"/playground.js", "playground.js", "text/javascript; charset=utf-8"},
    {"/favicon.svg", "favicon.svg", "image/svg+xml"},
};
#define N_PAGE_FILES (sizeof page_files / sizeof *page_files)

struct ig_page {
    ig_page_file files[N_PAGE_FILES];
};

static int read_all(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0;
    int rc = -1;
    if (!f) goto done;
    if (!(b = malloc(PAGE_MAX_BYTES))) goto done;
    n = fread(b, 1, PAGE_MAX_BYTES, f);
    if (ferror(f) || n == PAGE_MAX_BYTES || n == 0) {
        errno = ferror(f) ? EIO : n ? EFBIG : ENODATA;
        goto done;
    }
    char *shrunk = realloc(b, n);
    *out = shrunk ? shrunk : b, *len = n;
    b = NULL;
    rc = 0;
done:
    free(b);
    if (f) fclose(f);
    return rc;
}

ig_page *ig__page_load(void) {
    char dir[2048], path[2200];
    ig__asset_path("playground", dir, sizeof dir);
    ig_page *p = calloc(1, sizeof *p);
    if (!p) goto fail;
    for (size_t i = 0; i < N_PAGE_FILES; i++) {
        ig_page_file *f = &p->files[i];
        snprintf(path, sizeof path, "%s/%s", dir, page_files[i].file);
        f->url = page_files[i].url, f->type = page_files[i].type;
        if (read_all(path, &f->data, &f->len)) {
            fprintf(stderr, "imagine: warning: no playground page: cannot read %s (%s); GET / answers 404\n", path,
                    strerror(errno));
            goto fail;
        }
        uint64_t h = 1469598103934665603ULL; /* FNV-1a: an ETag only needs to change when the bytes do */
        for (size_t k = 0; k < f->len; k++) h = (h ^ (unsigned char)f->data[k]) * 1099511628211ULL;
        snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)h);
    }
    return p;
fail:
    ig__page_free(p);
    return NULL;
}

void ig__page_free(ig_page *p) {
    if (!p) return;
    for (size_t i = 0; i < N_PAGE_FILES; i++) free(p->files[i].data);
    free(p);
}

const ig_page_file *ig__page_find(const ig_page *p, const char *url, int *is_page) {
    for (size_t i = 0; i < N_PAGE_FILES; i++)
        if (!strcmp(url, page_files[i].url)) {
            if (is_page) *is_page = 1;
            return p ? &p->files[i] : NULL;
        }
    if (is_page) *is_page = 0;
    return NULL;
}
