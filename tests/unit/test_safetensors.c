/* test_safetensors.c — io/safetensors: write/read round trip (exact bytes), lookup errors, one
 * corrupt file per validation rule (each must fail with the file and tensor named, never crash),
 * the real sd1-tiny checkpoints from ../shared/golden, and a mutation loop over an in-memory file
 * (run it under ASan: `make debug`, or the gcc line in the safetensors report). */
#include "io/safetensors.h"
#include "models/weights.h" /* the views as engine tensors, to compare them with ig_tensor helpers */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][256]; /* a few live at once in one call's arguments */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    uint8_t *p = NULL;
    long n;
    if (!fp) return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)n + 1)) && fread(p, 1, (size_t)n, fp) == (size_t)n)
        *size = (size_t)n;
    else
        free(p), p = NULL;
    fclose(fp);
    return p;
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    CHECK(fwrite(p, 1, n, fp) == n);
    fclose(fp);
}

/* A file whose header is `hdr` padded with spaces until (8 + length) % 8 == data_mod8, followed
 * by data_len zero bytes. data_mod8 = 0 is what a proper writer does; 1 misaligns every tensor. */
static const char *make_file_at(const char *name, const char *hdr, size_t data_len, size_t data_mod8) {
    size_t hl = strlen(hdr), pad = (data_mod8 + 8 - hl % 8) % 8, n = 8 + hl + pad + data_len;
    uint8_t *p = calloc(1, n);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)(hl + pad) >> (8 * i));
    memcpy(p + 8, hdr, hl);
    memset(p + 8 + hl, ' ', pad);
    write_raw(tmp_path(name), p, n);
    free(p);
    return tmp_path(name);
}
static const char *make_file(const char *name, const char *hdr, size_t data_len) {
    return make_file_at(name, hdr, data_len, 0);
}

/* Opening `path` must fail with `want`, and the message must name the file (by its base name)
 * and contain `must` (a tensor name or the offending value) when given. */
static void expect_open_fails(const char *path, ig_status want, const char *must) {
    ig_err err = {0};
    ig_st_file *f = (ig_st_file *)1;
    ig_status st = ig_st_open(&f, path, false, &err);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    CHECK(st == want);
    CHECK(f == NULL);
    CHECK(err.status == st);
    CHECK(strstr(err.msg, base) != NULL);
    if (must) CHECK(strstr(err.msg, must) != NULL);
    if (st != want || !strstr(err.msg, base) || (must && !strstr(err.msg, must)))
        fprintf(stderr, "  %s: status %d (want %d), msg: %s\n", base, st, want, err.msg);
    else /* the message without the leading "path: " */
        printf("  rejected %-28s %s\n", base,
               strncmp(err.msg, path, strlen(path)) == 0 ? err.msg + strlen(path) + 2 : err.msg);
    if (st == IG_OK) ig_st_close(f);
}

/* ------------------------------------------------------------------ round trip */

static void test_roundtrip(void) {
    float a[3 * 5], m[4 * 6], s = 3.25f;
    uint16_t b[2 * 3 * 4], c[7], h4[2 * 3 * 2 * 2];
    test_fill(a, 15, -2, 2);
    test_fill(m, 24, -1, 1);
    for (int i = 0; i < 24; i++) b[i] = ig_f32_to_bf16(test_randf(-3, 3));
    for (int i = 0; i < 7; i++) c[i] = ig_f32_to_f16(test_randf(-3, 3));
    for (int i = 0; i < 24; i++) h4[i] = ig_f32_to_f16(test_randf(-1, 1));
    c[3] = 0x7e00; /* NaN payload: bytes must survive, not values */

    ig_weights_entry e[7];
    e[0] = (ig_weights_entry){"down_blocks.1.attentions.0.proj_in.weight", ig_tensor_plain(IG_F32, 2, (int64_t[]){3, 5}, a)};
    e[1] = (ig_weights_entry){"b.bf16", ig_tensor_plain(IG_BF16, 3, (int64_t[]){2, 3, 4}, b)};
    e[2] = (ig_weights_entry){"c.f16", ig_tensor_plain(IG_F16, 1, (int64_t[]){7}, c)};
    /* m viewed transposed: shape (6, 4), element (i, j) = m[j*6 + i] */
    ig_tensor tr = ig_tensor_plain(IG_F32, 2, (int64_t[]){6, 4}, m);
    tr.st[0] = 1, tr.st[1] = 6;
    e[3] = (ig_weights_entry){"m.transposed", tr};
    ig_tensor sc = {.dtype = IG_F32, .n_dims = 0, .ne = {1, 1, 1, 1}, .st = {1, 1, 1, 1}, .data = &s};
    e[4] = (ig_weights_entry){"scalar", sc};
    e[5] = (ig_weights_entry){"empty", ig_tensor_plain(IG_F32, 2, (int64_t[]){0, 3}, NULL)};
    e[6] = (ig_weights_entry){"h4", ig_tensor_plain(IG_F16, 4, (int64_t[]){2, 3, 2, 2}, h4)};
    const char *meta[] = {"format", "pt", "note", "h\xc3\xa9llo \"quoted\"", NULL};

    const char *path = tmp_path("rt.safetensors");
    ig_err err = {0};
    CHECK(ig_weights_write(path, e, 7, meta, &err) == IG_OK);
    if (err.status) fprintf(stderr, "  write: %s\n", err.msg);
    CHECK(access(tmp_path("rt.safetensors.tmp"), F_OK) != 0); /* renamed away */

    /* Layout: header length a multiple of 8, data block right after. */
    size_t fsize = 0;
    uint8_t *raw = read_all(path, &fsize);
    CHECK(raw && fsize >= 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0 && raw; i--) hlen = (hlen << 8) | raw[i];
    CHECK(hlen % 8 == 0);
    CHECK(raw && raw[8] == '{' && raw[8 + hlen - 1] != 0);
    size_t expect_data = (15 + 24 + 1) * 4 + (24 + 7 + 24) * 2;
    CHECK(fsize == 8 + hlen + expect_data);
    free(raw);

    ig_st_file *f = NULL;
    CHECK(ig_st_open(&f, path, false, &err) == IG_OK);
    if (!f) {
        fprintf(stderr, "  open: %s\n", err.msg);
        return;
    }
    CHECK(strcmp(ig_st_path(f), path) == 0);
    CHECK(ig_st_count(f) == 7);
    for (int i = 1; i < ig_st_count(f); i++) CHECK(strcmp(ig_st_name(f, i - 1), ig_st_name(f, i)) < 0);
    CHECK(ig_st_name(f, -1) == NULL && ig_st_name(f, 7) == NULL);
    CHECK(ig_st_metadata(f, "format") && strcmp(ig_st_metadata(f, "format"), "pt") == 0);
    CHECK(ig_st_metadata(f, "note") && strcmp(ig_st_metadata(f, "note"), meta[3]) == 0);
    CHECK(ig_st_metadata(f, "missing") == NULL);
    CHECK(ig_st_dtype(f, "b.bf16") && strcmp(ig_st_dtype(f, "b.bf16"), "BF16") == 0);
    CHECK(ig_st_dtype(f, "nope") == NULL);

    ig_tensor t;
    /* Plain tensors: same dtype, shape and bytes; every view aligned to its element size. */
    for (int k = 0; k < 7; k++) {
        if (k == 3 || k == 4) continue;
        memset(&t, 0, sizeof t);
        err = (ig_err){0};
        CHECK(ig_weights_st_get(f, e[k].name, &t, &err) == IG_OK);
        CHECK(t.dtype == e[k].t.dtype && ig_tensor_same_shape(&t, &e[k].t) && ig_tensor_is_contiguous(&t));
        CHECK((uintptr_t)t.data % ig_dtype_size(t.dtype) == 0);
        size_t nb = (size_t)ig_tensor_nelem(&t) * ig_dtype_size(t.dtype);
        CHECK(nb == 0 || memcmp(t.data, e[k].t.data, nb) == 0);
    }
    /* The transposed view comes back as a contiguous (6, 4). */
    CHECK(ig_weights_st_get(f, "m.transposed", &t, &err) == IG_OK);
    CHECK(t.n_dims == 2 && t.ne[0] == 6 && t.ne[1] == 4 && t.st[0] == 4 && t.st[1] == 1);
    int bad = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) bad += memcmp(&((float *)t.data)[i * 4 + j], &m[j * 6 + i], 4) != 0;
    CHECK(bad == 0);
    {   /* io's own view, before any engine type: type, row-major strides, unused dims 1 */
        ig_st_view v;
        CHECK(ig_st_get(f, "b.bf16", &v, &err) == IG_OK && v.type == IG_ST_BF16 && v.n_dims == 3 && v.ne[0] == 2 &&
              v.ne[1] == 3 && v.ne[2] == 4 && v.ne[3] == 1 && v.st[0] == 12 && v.st[1] == 4 && v.st[2] == 1 &&
              v.st[3] == 1 && ig_st_type_size(v.type) == 2);
        CHECK(ig_st_get(f, "scalar", &v, &err) == IG_OK && v.type == IG_ST_F32 && v.n_dims == 0 &&
              *(const float *)v.data == 3.25f);
    }
    CHECK(ig_weights_st_get(f, "scalar", &t, &err) == IG_OK);
    CHECK(t.n_dims == 0 && ig_tensor_nelem(&t) == 1 && *(float *)t.data == 3.25f);
    CHECK(ig_weights_st_get(f, "empty", &t, &err) == IG_OK);
    CHECK(t.n_dims == 2 && t.ne[0] == 0 && t.ne[1] == 3 && ig_tensor_nelem(&t) == 0);

    /* Missing name: NOT_FOUND naming both the tensor and the file. */
    err = (ig_err){0};
    CHECK(ig_weights_st_get(f, "up_blocks.9.nothing.weight", &t, &err) == IG_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "up_blocks.9.nothing.weight") && strstr(err.msg, "rt.safetensors"));
    ig_st_close(f);
    ig_st_close(NULL);

    /* Overwriting an existing file goes through the same tmp + rename. */
    err = (ig_err){0};
    CHECK(ig_weights_write(path, e, 1, NULL, &err) == IG_OK);
    CHECK(ig_st_open(&f, path, false, &err) == IG_OK);
    if (f) CHECK(ig_st_count(f) == 1 && ig_st_metadata(f, "format") == NULL);
    ig_st_close(f);

    /* An empty file list is a valid file ({} padded to 8). */
    CHECK(ig_weights_write(tmp_path("none.safetensors"), NULL, 0, NULL, &err) == IG_OK);
    CHECK(ig_st_open(&f, tmp_path("none.safetensors"), false, &err) == IG_OK);
    if (f) CHECK(ig_st_count(f) == 0 && ig_st_name(f, 0) == NULL);
    ig_st_close(f);
}

static void test_write_errors(void) {
    float x[2] = {1, 2};
    ig_weights_entry e[2] = {{"w", ig_tensor_plain(IG_F32, 1, (int64_t[]){2}, x)},
                        {"w", ig_tensor_plain(IG_BF16, 1, (int64_t[]){1}, x)}};
    ig_err err = {0};
    CHECK(ig_weights_write(tmp_path("dup.safetensors"), e, 2, NULL, &err) == IG_ERR_INVALID);
    CHECK(strstr(err.msg, "'w'") != NULL);
    CHECK(access(tmp_path("dup.safetensors"), F_OK) != 0 && access(tmp_path("dup.safetensors.tmp"), F_OK) != 0);
    e[1].name = "__metadata__";
    err = (ig_err){0};
    CHECK(ig_weights_write(tmp_path("meta.safetensors"), e, 2, NULL, &err) == IG_ERR_INVALID);
    e[1].name = "bad\xff";
    err = (ig_err){0};
    CHECK(ig_weights_write(tmp_path("utf8.safetensors"), e, 2, NULL, &err) == IG_ERR_INVALID);
    const char *kv[] = {"key", NULL, NULL};
    err = (ig_err){0};
    CHECK(ig_weights_write(tmp_path("kv.safetensors"), e, 1, kv, &err) == IG_ERR_INVALID);
    err = (ig_err){0};
    CHECK(ig_weights_write(tmp_path("no/such/dir.safetensors"), e, 1, NULL, &err) == IG_ERR_IO);
    CHECK(strstr(err.msg, "dir.safetensors") != NULL);
}

/* ------------------------------------------------------------------ corrupt files */

static void test_corrupt(void) {
    /* A valid file to cut and patch. */
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ig_weights_entry e[2] = {{"alpha.weight", ig_tensor_plain(IG_F32, 2, (int64_t[]){2, 2}, x)},
                        {"beta.bias", ig_tensor_plain(IG_F32, 1, (int64_t[]){4}, x + 4)}};
    ig_err err = {0};
    CHECK(ig_weights_write(tmp_path("ok.safetensors"), e, 2, NULL, &err) == IG_OK);
    size_t n = 0;
    uint8_t *good = read_all(tmp_path("ok.safetensors"), &n);
    CHECK(good != NULL);
    if (!good) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | good[i];

    /* Truncations: inside the length, inside the header, inside the data. */
    const size_t cuts[] = {0, 4, 7, 8, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen + 5, n - 1};
    const char *cut_must[] = {"too short", "too short", "too short", "past the end", "past the end",
                              "past the end", "truncated", "truncated"};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%zu.safetensors", cuts[i]);
        write_raw(tmp_path(name), good, cuts[i]);
        expect_open_fails(tmp_path(name), IG_ERR_INVALID, cut_must[i]);
    }
    /* Header length absurd, and merely beyond the file. */
    uint8_t *p = malloc(n);
    memcpy(p, good, n);
    memset(p, 0xff, 8);
    write_raw(tmp_path("hlen_huge.safetensors"), p, n);
    expect_open_fails(tmp_path("hlen_huge.safetensors"), IG_ERR_INVALID, "18446744073709551615");
    memset(p, 0, 8);
    p[0] = (uint8_t)(n & 0xff), p[1] = (uint8_t)(n >> 8);
    write_raw(tmp_path("hlen_past.safetensors"), p, n);
    expect_open_fails(tmp_path("hlen_past.safetensors"), IG_ERR_INVALID, "past the end");
    free(p);
    free(good);

    /* Header contents, one rule each. */
#define T(dt, sh, off) "{\"dtype\":\"" dt "\",\"shape\":" sh ",\"data_offsets\":" off "}"
    expect_open_fails(make_file("json.safetensors", "{\"w\": {\"dtype\": \"F32\",", 16), IG_ERR_INVALID, "JSON");
    expect_open_fails(make_file("garbage.safetensors", "\x01\x02garbage", 16), IG_ERR_INVALID, "JSON");
    expect_open_fails(make_file("toplevel.safetensors", "[1, 2, 3]", 16), IG_ERR_INVALID, "not a JSON object");
    expect_open_fails(make_file("dtype.safetensors", "{\"w.weight\":" T("F128", "[1]", "[0,4]") "}", 4),
                      IG_ERR_INVALID, "F128");
    expect_open_fails(make_file("dtype2.safetensors", "{\"w.weight\":" T("F128", "[1]", "[0,4]") "}", 4),
                      IG_ERR_INVALID, "w.weight");
    expect_open_fails(make_file("nodtype.safetensors", "{\"w.weight\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                      IG_ERR_INVALID, "w.weight");
    expect_open_fails(make_file("dupfield.safetensors", "{\"w.weight\":" T("F32\",\"dtype\":\"F16", "[1]", "[0,4]") "}", 4),
                      IG_ERR_INVALID, "duplicate");
    /* u64 max does not fit jansson's int64: a JSON error, naming the file and the number. */
    expect_open_fails(make_file("off_u64.safetensors", "{\"w\":" T("F32", "[1]", "[0,18446744073709551615]") "}", 4),
                      IG_ERR_INVALID, "18446744073709551615");
    expect_open_fails(make_file("off_i64.safetensors", "{\"w.big\":" T("F32", "[1]", "[9223372036854775803,9223372036854775807]") "}", 4),
                      IG_ERR_INVALID, "w.big");
    expect_open_fails(make_file("off_big0.safetensors", "{\"w.zero\":" T("F32", "[0]", "[9223372036854775807,9223372036854775807]") "}", 4),
                      IG_ERR_INVALID, "w.zero");
    expect_open_fails(make_file("off_neg.safetensors", "{\"w.neg\":" T("F32", "[1]", "[-4,0]") "}", 4),
                      IG_ERR_INVALID, "w.neg");
    expect_open_fails(make_file("off_rev.safetensors", "{\"w.rev\":" T("F32", "[1]", "[4,0]") "}", 8),
                      IG_ERR_INVALID, "w.rev");
    expect_open_fails(make_file("off_three.safetensors", "{\"w.3\":" T("F32", "[1]", "[0,4,8]") "}", 8),
                      IG_ERR_INVALID, "w.3");
    expect_open_fails(make_file("off_str.safetensors", "{\"w.s\":" T("F32", "[1]", "[\"0\",4]") "}", 8),
                      IG_ERR_INVALID, "w.s");
    expect_open_fails(make_file("size.safetensors", "{\"w.size\":" T("F32", "[2,2]", "[0,12]") "}", 16),
                      IG_ERR_INVALID, "w.size");
    expect_open_fails(make_file("shape_neg.safetensors", "{\"w.neg\":" T("F32", "[-1,4]", "[0,16]") "}", 16),
                      IG_ERR_INVALID, "w.neg");
    expect_open_fails(make_file("shape_real.safetensors", "{\"w.real\":" T("F32", "[2.0]", "[0,8]") "}", 16),
                      IG_ERR_INVALID, "w.real");
    expect_open_fails(make_file("shape_obj.safetensors", "{\"w.obj\":" T("F32", "{}", "[0,8]") "}", 16),
                      IG_ERR_INVALID, "w.obj");
    expect_open_fails(make_file("shape_ovf.safetensors", "{\"w.ovf\":" T("F32", "[4294967296,4294967296]", "[0,0]") "}", 0),
                      IG_ERR_INVALID, "w.ovf");
    expect_open_fails(make_file("shape_ovf63.safetensors", "{\"w.ovf\":" T("U8", "[3037000500,3037000500]", "[0,0]") "}", 0),
                      IG_ERR_INVALID, "overflows");
    expect_open_fails(make_file("shape_ovf_bytes.safetensors", "{\"w.ovf\":" T("F64", "[4611686018427387904]", "[0,0]") "}", 0),
                      IG_ERR_INVALID, "overflows");
    /* zero elements, yet the other dims would overflow a view's strides */
    expect_open_fails(make_file("shape_ovf0.safetensors", "{\"w.ovf0\":" T("F32", "[0,4294967296,4294967296]", "[0,0]") "}", 0),
                      IG_ERR_INVALID, "w.ovf0");
    expect_open_fails(make_file("beyond.safetensors", "{\"w.past\":" T("F32", "[4]", "[0,16]") "}", 8),
                      IG_ERR_INVALID, "w.past");
    expect_open_fails(make_file("beyond2.safetensors", "{\"a\":" T("F32", "[1]", "[0,4]") ",\"w.past\":" T("F32", "[1]", "[8,12]") "}", 8),
                      IG_ERR_INVALID, "w.past");
    expect_open_fails(make_file("nonobj.safetensors", "{\"w.num\": 5}", 0), IG_ERR_INVALID, "w.num");
    expect_open_fails(make_file("dup.safetensors", "{\"w.dup\":" T("F32", "[1]", "[0,4]") ",\"w.dup\":" T("F32", "[1]", "[0,4]") "}", 4),
                      IG_ERR_INVALID, "duplicate");
    expect_open_fails(make_file("meta.safetensors", "{\"__metadata__\":{\"format\":1}}", 0), IG_ERR_INVALID, "format");
    expect_open_fails(make_file("meta2.safetensors", "{\"__metadata__\":[\"pt\"]}", 0), IG_ERR_INVALID, "__metadata__");
    expect_open_fails(make_file("f4.safetensors", "{\"w.f4\":" T("F4", "[3]", "[0,1]") "}", 2), IG_ERR_INVALID, "w.f4");
    expect_open_fails(make_file("nul.safetensors", "{\"w\\u0000x\":" T("F32", "[1]", "[0,4]") "}", 4), IG_ERR_INVALID, NULL);
    write_raw(tmp_path("empty.safetensors"), "", 0);
    expect_open_fails(tmp_path("empty.safetensors"), IG_ERR_INVALID, "too short");
    expect_open_fails(tmp_path("absent.safetensors"), IG_ERR_NOT_FOUND, NULL);
    expect_open_fails(tmp_dir, IG_ERR_IO, NULL);

    /* Accepted: other dtypes and ranks are listed, and ig_st_get refuses them by name. */
    ig_st_file *f = NULL;
    ig_tensor t;
    err = (ig_err){0};
    const char *ok = make_file("others.safetensors",
                               "{\"__metadata__\":{\"format\":\"pt\"},"
                               "\"text_model.embeddings.position_ids\":" T("I64", "[1,77]", "[0,616]") ","
                               "\"five\":" T("F32", "[1,1,1,1,2]", "[616,624]") ","
                               "\"overlap\":" T("F32", "[2]", "[616,624]") ","
                               "\"half.e2m1\":" T("F4", "[4]", "[0,2]") ","
                               "\"odd\":" T("F32", "[1]", "[1,5]") "}",
                               624 + 8 /* trailing bytes are tolerated */);
    CHECK(ig_st_open(&f, ok, false, &err) == IG_OK);
    if (!f) {
        fprintf(stderr, "  others: %s\n", err.msg);
        return;
    }
    CHECK(ig_st_count(f) == 5);
    CHECK(strcmp(ig_st_dtype(f, "text_model.embeddings.position_ids"), "I64") == 0);
    err = (ig_err){0};
    CHECK(ig_weights_st_get(f, "text_model.embeddings.position_ids", &t, &err) == IG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "position_ids") && strstr(err.msg, "I64") && strstr(err.msg, "others.safetensors"));
    err = (ig_err){0};
    CHECK(ig_weights_st_get(f, "five", &t, &err) == IG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "five") && strstr(err.msg, "5 dims"));
    err = (ig_err){0};
    CHECK(ig_weights_st_get(f, "overlap", &t, &err) == IG_OK && t.ne[0] == 2);
    /* Offset 1 of an 8-aligned data block: F32 data sits misaligned. */
    err = (ig_err){0};
    CHECK(ig_weights_st_get(f, "odd", &t, &err) == IG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "odd") && strstr(err.msg, "aligned"));
    ig_st_close(f);
    /* A header not padded to 8 (old writers): every F32 tensor misaligned, the file still opens. */
    err = (ig_err){0};
    CHECK(ig_st_open(&f, make_file_at("unpadded.safetensors", "{\"w\":" T("F32", "[1]", "[0,4]") "}", 4, 1), false, &err) == IG_OK);
    if (f) {
        CHECK(ig_weights_st_get(f, "w", &t, &err) == IG_ERR_UNSUPPORTED && strstr(err.msg, "aligned"));
        ig_st_close(f);
    }
#undef T
}

/* ------------------------------------------------------------------ real checkpoints */

static void test_golden(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/sd1-tiny/model/unet/diffusion_pytorch_model.safetensors",
             test_shared_dir());
    if (access(path, R_OK) != 0) {
        printf("  SKIP golden: %s not found (set IMAGINE_SHARED)\n", path);
        return;
    }
    ig_st_file *f = NULL;
    ig_err err = {0};
    ig_tensor t;
    double t0 = ig__now_s();
    CHECK(ig_st_open(&f, path, false, &err) == IG_OK);
    if (!f) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    printf("  sd1-tiny unet: %d tensors, opened in %.2f ms\n", ig_st_count(f), (ig__now_s() - t0) * 1e3);
    /* Figures from reading the header with python3 (json + struct). */
    CHECK(ig_st_count(f) == 684);
    CHECK(strcmp(ig_st_name(f, 0), "conv_in.bias") == 0);
    CHECK(ig_st_metadata(f, "format") && strcmp(ig_st_metadata(f, "format"), "pt") == 0);
    CHECK(ig_weights_st_get(f, "down_blocks.1.attentions.0.proj_in.weight", &t, &err) == IG_OK);
    CHECK(t.dtype == IG_F32 && t.n_dims == 4 && t.ne[0] == 64 && t.ne[1] == 64 && t.ne[2] == 1 && t.ne[3] == 1);
    uint32_t bits[2];
    memcpy(bits, t.data, 8);
    CHECK(bits[0] == 3167546603u && bits[1] == 1034015435u);
    CHECK(ig_weights_st_get(f, "conv_in.bias", &t, &err) == IG_OK);
    CHECK(t.n_dims == 1 && t.ne[0] == 32);
    memcpy(bits, t.data, 8);
    CHECK(bits[0] == 3166422375u && bits[1] == 1013695656u);
    /* Every tensor is a valid, aligned view. */
    int n_ok = 0;
    for (int i = 0; i < ig_st_count(f); i++) n_ok += ig_weights_st_get(f, ig_st_name(f, i), &t, &err) == IG_OK;
    CHECK(n_ok == 684);
    ig_st_close(f);

    const char *others[] = {"text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors"};
    const int counts[] = {36, 244};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/golden/sd1-tiny/model/%s", test_shared_dir(), others[k]);
        err = (ig_err){0};
        CHECK(ig_st_open(&f, path, false, &err) == IG_OK);
        if (f) CHECK(ig_st_count(f) == counts[k]);
        if (f) printf("  sd1-tiny %s: %d tensors\n", others[k], ig_st_count(f));
        ig_st_close(f);
    }
}

/* ------------------------------------------------------------------ mutation loop */

/* Tokens that push the validator's edges when spliced into a header. */
static const char *const tokens[] = {
    "18446744073709551615", "9223372036854775807", "-1", "0", "4294967296", "1e3", "2.5", "null", "\"F32\"",
    "\"I64\"", "\"F4\"", "\"X\"", "[]", "[0]", "{}", "[0,0]", ",", ":", "{", "}", "[", "]", "\"", "\\",
    "\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\xff", "\xc3",
};

static void test_mutations(void) {
    float x[16];
    uint16_t y[6];
    test_fill(x, 16, -1, 1);
    for (int i = 0; i < 6; i++) y[i] = ig_f32_to_bf16(x[i]);
    ig_weights_entry e[3] = {{"a.weight", ig_tensor_plain(IG_F32, 2, (int64_t[]){4, 4}, x)},
                        {"b", ig_tensor_plain(IG_BF16, 3, (int64_t[]){1, 2, 3}, y)},
                        {"c", ig_tensor_plain(IG_F32, 1, (int64_t[]){2}, x)}};
    const char *meta[] = {"format", "pt", NULL};
    ig_err err = {0};
    CHECK(ig_weights_write(tmp_path("fuzz.safetensors"), e, 3, meta, &err) == IG_OK);
    size_t n = 0;
    uint8_t *good = read_all(tmp_path("fuzz.safetensors"), &n);
    CHECK(good != NULL);
    if (!good) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | good[i];

    const int iters = 6000;
    int opened = 0, rejected = 0, views = 0;
    volatile uint8_t sink = 0;
    for (int it = 0; it < iters; it++) {
        size_t cap = n + 64, m = n, hcur = (size_t)hlen;
        uint8_t *p = malloc(cap);
        memcpy(p, good, n);
        int kind = (int)(test_uniform() * 4), n_mut = 1 + (int)(test_uniform() * 4);
        for (int k = 0; k < n_mut; k++) {
            size_t at = 8 + (size_t)(test_uniform() * (double)hcur); /* mostly the header */
            if (kind == 0) { /* random bytes anywhere */
                p[(size_t)(test_uniform() * (double)m)] = (uint8_t)(test_uniform() * 256);
            } else if (kind == 1) { /* splice a token into the header, keep the length field right */
                const char *tok = tokens[(size_t)(test_uniform() * (sizeof tokens / sizeof tokens[0]))];
                size_t tl = strlen(tok), del = (size_t)(test_uniform() * 4);
                if (at + del > 8 + hcur) del = 8 + hcur - at;
                if (m - del + tl > cap) continue;
                memmove(p + at + tl, p + at + del, m - at - del);
                memcpy(p + at, tok, tl);
                m = m - del + tl;
                hcur = hcur - del + tl;
                for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)hcur >> (8 * i));
            } else if (kind == 2) { /* truncate */
                m = (size_t)(test_uniform() * (double)m);
            } else { /* perturb the length field */
                p[(size_t)(test_uniform() * 8)] ^= (uint8_t)(1u << (int)(test_uniform() * 8));
            }
        }
        /* Exactly-sized heap copy, so ASan sees any read past the end. */
        uint8_t *q = malloc(m ? m : 1);
        memcpy(q, p, m);
        free(p);
        ig_st_file *f = NULL;
        err = (ig_err){0};
        if (ig_st_open_memory(&f, q, m, "fuzz", &err) == IG_OK) {
            opened++;
            for (int i = 0; i < ig_st_count(f); i++) {
                ig_tensor t;
                ig_err e2 = {0};
                if (ig_weights_st_get(f, ig_st_name(f, i), &t, &e2) != IG_OK) continue;
                size_t nb = ig_tensor_nbytes(&t);
                if (nb) sink ^= ((uint8_t *)t.data)[0] ^ ((uint8_t *)t.data)[nb - 1];
                views++;
            }
            (void)ig_st_metadata(f, "format");
            ig_st_close(f);
        } else {
            rejected++;
            CHECK(strstr(err.msg, "fuzz") != NULL);
        }
        free(q);
    }
    (void)sink;
    printf("  mutations: %d copies, %d opened (%d views read), %d rejected\n", iters, opened, views, rejected);
    CHECK(opened + rejected == iters);
    free(good);
}

int main(void) {
    test_seed();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/imagine_st_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("roundtrip\n");
    test_roundtrip();
    printf("write errors\n");
    test_write_errors();
    printf("corrupt files\n");
    test_corrupt();
    printf("golden\n");
    test_golden();
    printf("mutations\n");
    test_mutations();

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_finish("test_safetensors");
}
