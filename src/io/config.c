/* config.c — JSON config files with typed, defaulted, sticky getters (see config.h).
 *
 * Owns: reading the file, turning Python's non-JSON number tokens into something jansson parses,
 * and one type check per getter with a message naming the file and the key. Leaves to others:
 * what the keys mean.
 */
#include "io/config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

/* A config is a few KB; anything past this is not a config, and we would rather say so than
 * parse it. */
#define CONFIG_MAX_BYTES (16u << 20)

/* Python's bare -Infinity / Infinity / NaN become JSON strings starting with this byte (a control
 * character no real config carries in a string), so only the float getters read them as numbers. */
#define PY_FLOAT_MARK '\x1f'

struct ig_config {
    json_t *root;
    char *path;
};

/* Copies json[0..len) with every bare -Infinity, Infinity or NaN outside strings replaced by the
 * string "\u001f<token>". Returns NULL when out of memory; *out_len is the new length. */
static char *quote_py_floats(const char *json, size_t len, size_t *out_len) {
    static const char *const tokens[] = {"-Infinity", "Infinity", "NaN"};
    char *o = len < SIZE_MAX / 4 ? malloc(4 * len + 1) : NULL, *w = o; /* "NaN" (3) becomes 11 bytes */
    bool in_string = false;
    if (!o) return NULL;
    for (size_t i = 0; i < len;) {
        char ch = json[i];
        if (in_string) {
            if (ch == '\\' && i + 1 < len) *w++ = json[i++];
            else if (ch == '"') in_string = false;
            *w++ = json[i++];
            continue;
        }
        if (ch == '"') in_string = true;
        int t = 0;
        for (; t < 3; t++)
            if (len - i >= strlen(tokens[t]) && !memcmp(json + i, tokens[t], strlen(tokens[t]))) break;
        if (t < 3) {
            w += sprintf(w, "\"\\u001f%s\"", tokens[t]);
            i += strlen(tokens[t]);
        } else {
            *w++ = json[i++];
        }
    }
    *w = 0;
    *out_len = (size_t)(w - o);
    return o;
}

ig_status ig_config_parse(ig_config **out, const char *json, size_t len, const char *label, ig_err *err) {
    ig_status st = IG_OK;
    ig_config *c = NULL;
    char *text = NULL;
    size_t text_len = 0;
    json_error_t je;
    if (!out || (!json && len)) return ig__fail(err, IG_ERR_INVALID, "ig_config_parse: NULL argument");
    *out = NULL;
    if (!label) label = "<memory>";
    if (!(c = calloc(1, sizeof *c)) || !(c->path = strdup(label)) || !(text = quote_py_floats(json ? json : "", len, &text_len))) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", label);
        goto fail;
    }
    if (!(c->root = json_loadb(text, text_len, 0, &je))) {
        st = ig__fail(err, IG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", label, je.line, je.column, je.text);
        goto fail;
    }
    if (!json_is_object(c->root)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: expected a JSON object at the top level", label);
        goto fail;
    }
    *out = c;
    c = NULL;
fail:
    free(text);
    ig_config_free(c);
    return st;
}

ig_status ig_config_load(ig_config **out, const char *path, ig_err *err) {
    ig_status st = IG_OK;
    FILE *fp = NULL;
    char *buf = NULL;
    long n = 0;
    struct stat sb;
    if (!out || !path) return ig__fail(err, IG_ERR_INVALID, "ig_config_load: NULL argument");
    *out = NULL;
    if (!(fp = fopen(path, "rb"))) {
        st = ig__fail(err, errno == ENOENT ? IG_ERR_NOT_FOUND : IG_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ig__fail(err, IG_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    n = (long)sb.st_size;
    if ((unsigned long)n > CONFIG_MAX_BYTES) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: %ld bytes is too large for a config file", path, n);
        goto fail;
    }
    if (!(buf = malloc((size_t)n + 1))) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        st = ig__fail(err, IG_ERR_IO, "%s: short read", path);
        goto fail;
    }
    st = ig_config_parse(out, buf, (size_t)n, path, err);
fail:
    free(buf);
    if (fp) fclose(fp);
    return st;
}

void ig_config_free(ig_config *c) {
    if (!c) return;
    json_decref(c->root);
    free(c->path);
    free(c);
}

const char *ig_config_path(const ig_config *c) { return c ? c->path : NULL; }

static json_t *get(const ig_config *c, const char *key) {
    json_t *v = (c && key) ? json_object_get(c->root, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

bool ig_config_has(const ig_config *c, const char *key) { return get(c, key) != NULL; }

/* -Infinity / Infinity / NaN as marked by quote_py_floats. */
static bool py_float(const json_t *v, double *out) {
    const char *s = json_string_value(v);
    if (!s || s[0] != PY_FLOAT_MARK) return false;
    if (!strcmp(s + 1, "-Infinity")) *out = -INFINITY;
    else if (!strcmp(s + 1, "Infinity")) *out = INFINITY;
    else if (!strcmp(s + 1, "NaN")) *out = NAN;
    else return false;
    return true;
}

/* What v is, for messages: a type and a short rendering of scalars. */
static const char *describe(const json_t *v, char *buf, size_t n) {
    double d;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: snprintf(buf, n, "an array of %zu", json_array_size(v)); return buf;
    case JSON_INTEGER: snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return buf;
    case JSON_REAL: snprintf(buf, n, "%.17g", json_real_value(v)); return buf;
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    case JSON_STRING:
        if (py_float(v, &d)) return json_string_value(v) + 1;
        snprintf(buf, n, "the string \"%.40s%s\"", json_string_value(v), json_string_length(v) > 40 ? "..." : "");
        return buf;
    }
    return "?";
}

/* The type error for key (or key[index] when index >= 0). */
static ig_status type_error(const ig_config *c, const char *key, long index, const char *expected, const json_t *v,
                            ig_err *err) {
    char what[96], idx[32] = "";
    if (index >= 0) snprintf(idx, sizeof idx, "[%ld]", index);
    return ig__fail(err, IG_ERR_INVALID, "%s: \"%s\"%s: expected %s, got %s", c->path, key, idx, expected,
                    describe(v, what, sizeof what));
}

/* Shared by ig_config_int and the int lists. */
static bool as_int(const json_t *v, int *out) {
    double d;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < INT_MIN || x > INT_MAX) return false;
        *out = (int)x;
        return true;
    }
    if (!json_is_real(v)) return false;
    d = json_real_value(v);
    if (!(d >= INT_MIN && d <= INT_MAX) || d != floor(d)) return false;
    *out = (int)d;
    return true;
}

static bool as_float(const json_t *v, double *out) {
    if (json_is_number(v)) return *out = json_number_value(v), true;
    return py_float(v, out);
}

/* Common prologue: no c or key is a caller bug reported as such; a sticky error short-cuts. */
#define GETTER_START(c, key, err)                                                                  \
    do {                                                                                           \
        if ((err) && (err)->status != IG_OK) return (err)->status;                                 \
        if (!(c) || !(key)) return ig__fail((err), IG_ERR_INVALID, "ig_config: NULL config or key"); \
    } while (0)

ig_status ig_config_int(const ig_config *c, const char *key, int def, int *out, ig_err *err) {
    *out = def;
    GETTER_START(c, key, err);
    json_t *v = get(c, key);
    if (v && !as_int(v, out)) return *out = def, type_error(c, key, -1, "an integer (int range)", v, err);
    return IG_OK;
}

ig_status ig_config_float(const ig_config *c, const char *key, double def, double *out, ig_err *err) {
    *out = def;
    GETTER_START(c, key, err);
    json_t *v = get(c, key);
    if (v && !as_float(v, out)) return *out = def, type_error(c, key, -1, "a number", v, err);
    return IG_OK;
}

ig_status ig_config_bool(const ig_config *c, const char *key, bool def, bool *out, ig_err *err) {
    *out = def;
    GETTER_START(c, key, err);
    json_t *v = get(c, key);
    if (!v) return IG_OK;
    if (!json_is_boolean(v)) return type_error(c, key, -1, "true or false", v, err);
    *out = json_is_true(v);
    return IG_OK;
}

ig_status ig_config_string(const ig_config *c, const char *key, const char *def, const char **out, ig_err *err) {
    double d;
    *out = def;
    GETTER_START(c, key, err);
    json_t *v = get(c, key);
    if (!v) return IG_OK;
    if (!json_is_string(v) || py_float(v, &d)) return type_error(c, key, -1, "a string", v, err);
    *out = json_string_value(v);
    return IG_OK;
}

/* The array at key with at most max_n elements, or NULL with *n = 0 when missing or null. */
static ig_status get_list(const ig_config *c, const char *key, int max_n, int *n, json_t **arr, const char *expected,
                          ig_err *err) {
    *n = 0;
    *arr = get(c, key);
    if (!*arr) return IG_OK;
    if (!json_is_array(*arr)) return type_error(c, key, -1, expected, *arr, err);
    if (json_array_size(*arr) > (size_t)IG_MAX(max_n, 0))
        return ig__fail(err, IG_ERR_INVALID, "%s: \"%s\": expected at most %d elements, got %zu", c->path, key, max_n,
                        json_array_size(*arr));
    return IG_OK;
}

ig_status ig_config_int_list(const ig_config *c, const char *key, int *out, int max_n, int *n, ig_err *err) {
    json_t *arr, *v;
    size_t i;
    *n = 0;
    GETTER_START(c, key, err);
    ig_status st = get_list(c, key, max_n, n, &arr, "an array of integers", err);
    if (st != IG_OK || !arr) return st;
    json_array_foreach(arr, i, v) {
        if (!as_int(v, &out[i])) return type_error(c, key, (long)i, "an integer (int range)", v, err);
    }
    *n = (int)json_array_size(arr);
    return IG_OK;
}

ig_status ig_config_float_list(const ig_config *c, const char *key, double *out, int max_n, int *n, ig_err *err) {
    json_t *arr, *v;
    size_t i;
    *n = 0;
    GETTER_START(c, key, err);
    ig_status st = get_list(c, key, max_n, n, &arr, "an array of numbers", err);
    if (st != IG_OK || !arr) return st;
    json_array_foreach(arr, i, v) {
        if (!as_float(v, &out[i])) return type_error(c, key, (long)i, "a number", v, err);
    }
    *n = (int)json_array_size(arr);
    return IG_OK;
}

ig_status ig_config_string_list(const ig_config *c, const char *key, const char **out, int max_n, int *n,
                                ig_err *err) {
    json_t *arr, *v;
    size_t i;
    double d;
    *n = 0;
    GETTER_START(c, key, err);
    ig_status st = get_list(c, key, max_n, n, &arr, "an array of strings", err);
    if (st != IG_OK || !arr) return st;
    json_array_foreach(arr, i, v) {
        if (json_is_null(v)) out[i] = NULL;
        else if (json_is_string(v) && !py_float(v, &d)) out[i] = json_string_value(v);
        else return type_error(c, key, (long)i, "a string or null", v, err);
    }
    *n = (int)json_array_size(arr);
    return IG_OK;
}

ig_status ig_config_int_or_list(const ig_config *c, const char *key, int def, int n, int *out, ig_err *err) {
    int x = def;
    for (int i = 0; i < n; i++) out[i] = def;
    GETTER_START(c, key, err);
    json_t *v = get(c, key);
    if (!v) return IG_OK;
    if (json_is_array(v)) {
        json_t *e;
        size_t i;
        if (json_array_size(v) != (size_t)IG_MAX(n, 0))
            return ig__fail(err, IG_ERR_INVALID, "%s: \"%s\": expected one integer or a list of %d, got a list of %zu",
                            c->path, key, n, json_array_size(v));
        json_array_foreach(v, i, e) {
            if (!as_int(e, &x)) {
                for (int k = 0; k < n; k++) out[k] = def;
                return type_error(c, key, (long)i, "an integer (int range)", e, err);
            }
            out[i] = x;
        }
        return IG_OK;
    }
    if (!as_int(v, &x)) return type_error(c, key, -1, "an integer or a list of integers", v, err);
    for (int i = 0; i < n; i++) out[i] = x;
    return IG_OK;
}
