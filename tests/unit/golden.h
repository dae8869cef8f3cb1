/* golden.h — reading ../shared/golden for the tests: a set's manifest.json (with Python's
 * non-JSON -Infinity/Infinity/NaN turned into null first: the manifests hold json.dumps of
 * lambda_min_clipped = -inf) and its raw little-endian case files. One copy for every test. */
#ifndef IG_TEST_GOLDEN_H
#define IG_TEST_GOLDEN_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* The JSON file at path, or NULL (the reason printed). Caller frees with json_decref. */
static inline json_t *golden_load_json(const char *path) {
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    json_t *j = NULL;
    long len;
    if (!fp || fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) goto done;
    buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len) goto done;
    buf[len] = 0;
    static const char *const bad[] = {"-Infinity", "Infinity", "NaN"};
    for (int b = 0; b < 3; b++)
        for (char *p = buf; (p = strstr(p, bad[b])) != NULL;) {
            const size_t k = strlen(bad[b]);
            memcpy(p, "null", 4);
            memset(p + 4, ' ', k - 4);
            p += k;
        }
    json_error_t jerr;
    j = json_loads(buf, 0, &jerr);
    if (!j) fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
done:
    if (!fp) fprintf(stderr, "cannot open %s\n", path);
    if (fp) fclose(fp);
    free(buf);
    return j;
}

/* The manifest entry named `name`, or NULL. */
static inline json_t *golden_find_case(json_t *manifest, const char *name) {
    json_t *cases = json_object_get(manifest, "cases"), *c;
    size_t i;
    json_array_foreach(cases, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && !strcmp(n, name)) return c;
    }
    return NULL;
}

/* Case `name`'s file under dir (float32 or int32, 4-byte elements), malloc'd; *n = element count. */
static inline void *golden_read_case(json_t *manifest, const char *dir, const char *name, size_t *n) {
    json_t *c = golden_find_case(manifest, name);
    *n = 0;
    if (!c) return NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, json_string_value(json_object_get(c, "file")));
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = sz > 0 ? malloc((size_t)sz) : NULL;
    if (buf) *n = fread(buf, 1, (size_t)sz, f) / 4;
    fclose(f);
    return buf;
}

/* got against a golden float32 reference, tolerance relative to max(1, max|ref|) as the golden
 * README states it: atol = tol * max(1, max|ref|), rtol 0. Prints max-abs-err either way. */
static inline void golden_compare(const char *label, const float *got, const float *ref, size_t n, double tol) {
    double *r = malloc(n * sizeof(double)), mx = 1;
    CHECK(r != NULL);
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        r[i] = ref[i];
        if (fabs(r[i]) > mx) mx = fabs(r[i]);
    }
    check_close(label, got, r, n, tol * mx, 0);
    free(r);
}

#endif
