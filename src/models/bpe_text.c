/* bpe_text.c — CLIP's prompt cleanup and pattern classes (see bpe_text.h).
 *
 * Each step names the Python it reproduces: openai/CLIP simple_tokenizer.py basic_clean() and
 * whitespace_clean(), with ftfy.fix_text replaced by unicodedata.normalize("NFC") as in the golden
 * reference, on Python 3.11. The data (bpe_text_data.h) was measured on that Python, so the
 * classes are Python's own, not a re-derivation from the Unicode files.
 */
#include "models/bpe_text.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "models/bpe_text_data.h"

#define N_ROWS(a, per) (sizeof(a) / sizeof((a)[0]) / (per))

/* Row of a flat table (per values a row, first value = start, rows sorted) whose range holds c:
 * c in [row[0], row[1]]; -1 when none. */
static long find_row(const uint32_t *t, size_t n_rows, size_t per, uint32_t c) {
    long lo = 0, hi = (long)n_rows - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (t[mid * per] > c) hi = mid - 1;
        else if (t[mid * per + 1] < c) lo = mid + 1;
        else return mid;
    }
    return -1;
}
#define IN_TABLE(t, per, c) (find_row((t), N_ROWS(t, per), (per), (c)) >= 0)

/* Python's str.isspace(): what re's \s in whitespace_clean() and str.strip() use. */
static bool py_isspace(uint32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

int ig__bpe_char_class(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return IG__CL_LETTER;
        if (c >= '0' && c <= '9') return IG__CL_NUMBER;
        return (c == ' ' || (c >= 0x09 && c <= 0x0D)) ? IG__CL_SKIP : IG__CL_OTHER; /* the regex module's \s */
    }
    if (IN_TABLE(letter_ranges, 2, c)) return IG__CL_LETTER;
    if (IN_TABLE(number_ranges, 2, c)) return IG__CL_NUMBER;
    /* Unicode \s, and U+0345: it folds to an iota, so under IGNORECASE [^\s\p{L}\p{N}] rejects it
     * while [\p{L}] does not take it either, and findall steps over it. */
    if (IN_TABLE(skip_ranges, 2, c)) return IG__CL_SKIP;
    return IG__CL_OTHER;
}

static uint32_t lower_cp(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    long lo = 0, hi = (long)N_ROWS(lower_runs, 4) - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        const int32_t *r = &lower_runs[4 * mid];
        if ((uint32_t)r[0] > c) hi = mid - 1;
        else if ((uint32_t)r[1] < c) lo = mid + 1;
        else return (c - (uint32_t)r[0]) % (uint32_t)r[3] ? c : (uint32_t)((int32_t)c + r[2]);
    }
    return c;
}

static int case_kind(uint32_t c) { /* 1 Case_Ignorable, 2 Cased (and not ignorable), 0 neither */
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 2;
        return (c == '\'' || c == '.' || c == ':' || c == '^' || c == '`') ? 1 : 0;
    }
    long i = find_row(case_ranges, N_ROWS(case_ranges, 3), 3, c);
    return i < 0 ? 0 : (int)case_ranges[3 * i + 2];
}

static int ccc(uint32_t c) {
    if (c < 0x300) return 0;
    long i = find_row(ccc_ranges, N_ROWS(ccc_ranges, 3), 3, c);
    return i < 0 ? 0 : (int)ccc_ranges[3 * i + 2];
}

/* ---- Code point buffers: pushes never fail on the spot; oom is checked once at the end. */
static bool cps_reserve(ig__cps *v, size_t need) {
    if (need <= v->cap) return true;
    if (v->oom) return false;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 8 ? need : cap * 2;
    uint32_t *p = cap <= SIZE_MAX / sizeof *p ? realloc(v->p, cap * sizeof *p) : NULL;
    if (!p) return v->oom = true, false;
    v->p = p;
    v->cap = cap;
    return true;
}

static inline void push(ig__cps *v, uint32_t c) {
    if (v->n < v->cap || cps_reserve(v, v->n + 1)) v->p[v->n++] = c;
}

/* ---- Step 0: strict UTF-8 (RFC 3629). Python never hands simple_tokenizer such text: a JSON
 * body with a lone surrogate fails at .encode("utf-8"), so refusing is the faithful answer. */
static ig_status utf8_decode(const char *s, ig__cps *out, ig_err *err) {
    const uint8_t *p = (const uint8_t *)s;
    size_t len = strlen(s), i = 0;
    out->n = 0;
    if (!cps_reserve(out, len + 1)) return ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory for %zu bytes", len);
    while (i < len) {
        uint32_t c = p[i], min;
        size_t n;
        if (c < 0x80) {
            out->p[out->n++] = c, i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) n = 1, c &= 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) n = 2, c &= 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) n = 3, c &= 0x07, min = 0x10000;
        else goto bad;
        if (len - i <= n) goto bad;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) goto bad;
            c = c << 6 | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto bad;
        out->p[out->n++] = c;
        i += n + 1;
    }
    return IG_OK;
bad:
    return ig__fail(err, IG_ERR_INVALID, "prompt is not valid UTF-8 (byte %zu: 0x%02x)", i, p[i]);
}

size_t ig__utf8_put(uint8_t *o, uint32_t c) {
    if (c < 0x80) return o[0] = (uint8_t)c, 1;
    if (c < 0x800) return o[0] = (uint8_t)(0xC0 | c >> 6), o[1] = (uint8_t)(0x80 | (c & 0x3F)), 2;
    size_t n = c < 0x10000 ? 3 : 4;
    o[0] = (uint8_t)(n == 3 ? 0xE0 | c >> 12 : 0xF0 | c >> 18);
    for (size_t k = 1; k < n; k++) o[k] = (uint8_t)(0x80 | (c >> 6 * (n - 1 - k) & 0x3F));
    return n;
}

/* ---- Step 1: NFC (the reference's ftfy.fix_text): full canonical decomposition, canonical
 * ordering, canonical composition (UAX #15; the loop is Unicode's sample Normalizer), Hangul by
 * arithmetic. CJK compatibility ideographs are not in the tables and stay as they are. */
enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7 };
enum { H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28, H_NCOUNT = 21 * 28, H_SCOUNT = 19 * 21 * 28 };

/* Row of a table sorted by its first column whose first value is c; -1 when none. */
static long find_key(const uint32_t *t, size_t n_rows, size_t per, uint32_t c) {
    long lo = 0, hi = (long)n_rows - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (t[mid * per] == c) return mid;
        if (t[mid * per] < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static bool find_decomp(uint32_t c, uint32_t d[2]) {
    const uint32_t *t = compose_table;
    long i = find_key(t, N_ROWS(compose_table, 3), 3, c);
    if (i < 0) t = decompose_only_table, i = find_key(t, N_ROWS(decompose_only_table, 3), 3, c);
    if (i < 0) return false;
    d[0] = t[3 * i + 1], d[1] = t[3 * i + 2];
    return true;
}

static void decompose(uint32_t c, ig__cps *out, int depth) {
    uint32_t d[2];
    if (c >= H_SBASE && c < H_SBASE + H_SCOUNT) {
        uint32_t s = c - H_SBASE;
        push(out, H_LBASE + s / H_NCOUNT);
        push(out, H_VBASE + s % H_NCOUNT / H_TCOUNT);
        if (s % H_TCOUNT) push(out, H_TBASE + s % H_TCOUNT);
    } else if (c >= 0xC0 && depth < 8 && find_decomp(c, d)) { /* nothing below U+00C0 decomposes */
        decompose(d[0], out, depth + 1);
        if (d[1]) decompose(d[1], out, depth + 1);
    } else {
        push(out, c);
    }
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b > H_TBASE &&
        b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    long lo = 0, hi = (long)N_ROWS(compose_by_pair, 1) - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        const uint32_t *e = &compose_table[3 * compose_by_pair[mid]];
        if (e[1] == a && e[2] == b) return e[0];
        if (e[1] < a || (e[1] == a && e[2] < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

/* Stable sort of n entries (class in bits 24..31) by class; sets out->oom when it cannot. */
static void counting_sort_by_class(uint32_t *s, size_t n, ig__cps *out) {
    size_t start[257] = {0};
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {
        out->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) start[(s[i] >> 24) + 1]++;
    for (int c = 1; c <= 256; c++) start[c] += start[c - 1];
    for (size_t i = 0; i < n; i++) tmp[start[s[i] >> 24]++] = s[i];
    memcpy(s, tmp, n * sizeof *s);
    free(tmp);
}

static void nfc(const ig__cps *in, ig__cps *out) {
    size_t i = 0;
    out->n = 0;
    while (i < in->n && in->p[i] < 0x300) i++;
    if (i == in->n) { /* below U+0300 nothing combines and nothing changes */
        if (in->n && cps_reserve(out, in->n)) memcpy(out->p, in->p, in->n * sizeof *in->p), out->n = in->n;
        return;
    }
    cps_reserve(out, in->n + in->n / 2);
    for (i = 0; i < in->n; i++) decompose(in->p[i], out, 0);
    if (out->oom || out->n == 0) return;
    /* While ordering and composing, each entry carries its combining class in bits 24..31. */
    uint32_t *s = out->p;
    for (i = 0; i < out->n; i++) s[i] |= (uint32_t)ccc(s[i]) << 24;
    /* Canonical ordering: a stable sort by class inside each run of non-starters; insertion sort
     * for the usual short runs, a counting sort for long ones (a prompt of 30000 alternating marks
     * must not cost n^2). */
    for (i = 0; i < out->n;) {
        size_t e = i;
        while (e < out->n && s[e] >> 24) e++;
        if (e - i > 32) {
            counting_sort_by_class(s + i, e - i, out);
        } else {
            for (size_t k = i + 1; k < e; k++)
                for (size_t j = k; j > i && s[j - 1] >> 24 > s[j] >> 24; j--) {
                    uint32_t t = s[j];
                    s[j] = s[j - 1], s[j - 1] = t;
                }
        }
        i = e + 1;
    }
    size_t starter = 0, w = 1;
    uint32_t last = s[0] >> 24 ? 256 : 0; /* a leading non-starter composes with nothing */
    for (size_t r = 1; r < out->n; r++) {
        uint32_t c = s[r] & 0xFFFFFF, cc = s[r] >> 24, comp;
        if ((last < cc || last == 0) && (comp = compose(s[starter] & 0xFFFFFF, c)) != 0) {
            s[starter] = comp; /* primary composites are starters (class 0) */
        } else {
            if (cc == 0) starter = w;
            last = cc;
            s[w++] = s[r];
        }
    }
    out->n = w;
    for (i = 0; i < w; i++) s[i] &= 0xFFFFFF;
}

/* ---- Step 2: html.unescape (Python 3.11 html/__init__.py), applied twice as basic_clean() does. */
static const uint32_t win1252[32] = { /* _invalid_charrefs for &#128; .. &#159; */
    0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
    0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178,
};

static void push_charref(ig__cps *out, uint32_t num /* saturated at 0x110000 */) {
    if (num == 0) push(out, 0xFFFD);
    else if (num == 0x0D) push(out, '\r');
    else if (num >= 0x80 && num <= 0x9F) push(out, win1252[num - 0x80]);
    else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) push(out, 0xFFFD);
    else if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || num == 0x7F ||
             (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        ; /* _invalid_codepoints: dropped */
    else push(out, num);
}

/* The entity named exactly by the n code points at s, or NULL. */
static const struct html_entity *find_entity(const uint32_t *s, size_t n) {
    long lo = 0, hi = (long)N_ROWS(html_entities, 1) - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        const char *name = html_entities[mid].name;
        int r = 0;
        for (size_t k = 0; k < n && r == 0; k++) { /* name's NUL sorts before any s[k] */
            uint32_t c = (uint8_t)name[k];
            r = c < s[k] ? -1 : c > s[k] ? 1 : 0;
        }
        if (r == 0 && name[n]) r = 1;
        if (r == 0) return &html_entities[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static void html_unescape(const ig__cps *in, ig__cps *out) {
    const uint32_t *s = in->p;
    size_t n = in->n, i = 0;
    out->n = 0;
    cps_reserve(out, n); /* never grows: a reference is longer than what replaces it */
    while (i < n) {
        if (s[i] != '&') {
            push(out, s[i++]);
            continue;
        }
        size_t j = i + 1, k;
        /* &#[0-9]+;? then &#[xX][0-9a-fA-F]+;? — Python's int() takes any number of digits. */
        if (j + 1 < n && s[j] == '#') {
            bool hex = (s[j + 1] | 0x20) == 'x';
            uint32_t num = 0, d;
            for (k = j + 1 + hex; k < n; k++) {
                uint32_t c = s[k];
                if (c >= '0' && c <= '9') d = c - '0';
                else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
                else break;
                num = num > 0x10FFFF ? 0x110000 : num * (hex ? 16 : 10) + d;
            }
            if (k > j + 1 + hex) {
                push_charref(out, num > 0x10FFFF ? 0x110000 : num);
                i = k + (k < n && s[k] == ';');
                continue;
            }
        }
        /* [^\t\n\f <&#;]{1,32};? then _replace_charref: the text with its ';' if that is a name,
         * else the longest prefix (>= 2) that is a legacy name, the rest kept as text. */
        for (k = j; k < n && k - j < 32; k++)
            if (s[k] == '\t' || s[k] == '\n' || s[k] == '\f' || s[k] == ' ' || s[k] == '<' || s[k] == '&' ||
                s[k] == '#' || s[k] == ';')
                break;
        if (k == j) {
            push(out, s[i++]);
            continue;
        }
        size_t len = k - j + (k < n && s[k] == ';'), x = len - 1; /* len: the match after '&' */
        const struct html_entity *e = find_entity(&s[j], k - j);
        if (e && (len > k - j || e->legacy)) {
            push(out, e->cp);
        } else {
            for (; x >= 2; x--)
                if ((e = find_entity(&s[j], x)) && e->legacy) break;
            if (x >= 2) push(out, e->cp);
            for (size_t t = x >= 2 ? j + x : i; t < j + len; t++) push(out, s[t]);
        }
        i = j + len;
    }
}

/* ---- Step 3: strip() and whitespace_clean(): runs of str.isspace() become one ' ', both ends
 * stripped. In place: it only shrinks. */
static void clean_whitespace(ig__cps *v) {
    size_t w = 0;
    bool gap = false;
    for (size_t i = 0; i < v->n; i++) {
        if (py_isspace(v->p[i])) {
            gap = w > 0;
        } else {
            if (gap) v->p[w++] = ' ';
            gap = false;
            v->p[w++] = v->p[i];
        }
    }
    v->n = w;
}

/* ---- Step 4: str.lower(): the full mapping (U+0130 -> "i\u0307") and Python's
 * handle_capital_sigma(): Σ -> ς after a cased letter (case-ignorables skipped) unless a cased
 * letter follows. */
static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i, k = i + 1;
    while (j > 0 && case_kind(s[j - 1]) == 1) j--;
    if (j == 0 || case_kind(s[j - 1]) != 2) return false;
    while (k < n && case_kind(s[k]) == 1) k++;
    return k == n || case_kind(s[k]) != 2;
}

static void lower(const ig__cps *in, ig__cps *out) {
    out->n = 0;
    cps_reserve(out, in->n);
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c == 0x130) {
            push(out, 'i');
            push(out, 0x307);
        } else {
            push(out, c == 0x3A3 ? (final_sigma(in->p, in->n, i) ? 0x3C2 : 0x3C3) : lower_cp(c));
        }
    }
}

static void swap(ig__cps *a, ig__cps *b) {
    ig__cps t = *a;
    *a = *b, *b = t;
}

static bool has_amp(const ig__cps *v) {
    for (size_t i = 0; i < v->n; i++)
        if (v->p[i] == '&') return true;
    return false;
}

ig_status ig__bpe_clean(const char *text, ig__cps *out, ig__cps *tmp, ig_err *err) {
    ig_status st = utf8_decode(text, tmp, err);
    if (st != IG_OK) return st;
    nfc(tmp, out);
    for (int k = 0; k < 2 && has_amp(out); k++) {
        swap(out, tmp);
        html_unescape(tmp, out);
    }
    clean_whitespace(out);
    swap(out, tmp);
    lower(tmp, out);
    if (out->oom || tmp->oom)
        return ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory for a %zu-byte prompt", strlen(text));
    return IG_OK;
}
