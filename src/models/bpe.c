/* bpe.c — the CLIP tokenizer: loading, CLIP's pre-tokenizer pattern and byte-level BPE (see bpe.h
 * for the API and what it approximates).
 *
 * Owns: vocab/merges/pad-token loading, the pattern written out by hand, BPE, the id layout.
 * Leaves to bpe_text.c: the text cleanup (NFC, HTML unescape, whitespace, lower-casing) and the
 * Unicode classes. Reference: openai/CLIP clip/simple_tokenizer.py, as the golden set ran it.
 * transformers' CLIPTokenizer (what diffusers uses) gives the same ids when ftfy is installed;
 * without ftfy it skips NFC and HTML unescaping and strips control characters instead.
 *
 * BPE: simple_tokenizer.bpe() repeatedly takes the lowest-ranked adjacent pair and merges all its
 * occurrences left to right, which costs O(n^2) on a 32000-letter word. Here the pairs sit in a
 * heap keyed (rank, position): all entries of the lowest rank are popped at once, in position
 * order, and merged if still present, which is the same left-to-right pass, and new pairs go back
 * into the heap. A pair made during a pass contains the new symbol, so it cannot be the pair being
 * merged: the result equals the Python loop for any merges file, in O(n log n).
 */
#include "models/bpe.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "models/bpe_text.h"

/* simple_tokenizer.py: merges[1:49152-256-2+1], i.e. the vocabulary is 256 bytes + 256 bytes with
 * "</w>" + these merges + 2 special tokens = 49408. CLIPTokenizer reads the same slice. */
#define CLIP_MAX_MERGES (49152 - 256 - 2)
#define MSG_TOKEN_MAX 60            /* bytes of a file-provided token quoted in a message */
#define MAX_PROMPT_BYTES (256u << 20) /* far beyond any request; BPE positions are int32 */

struct ig_bpe {
    int32_t n_vocab;
    char *blob;        /* every token string, NUL-terminated, back to back */
    size_t *tok_off;   /* id -> offset in blob */
    int32_t byte_id[256];     /* bytes_to_unicode(b) as a symbol */
    int32_t byte_end_id[256]; /* the same + "</w>": a word's last symbol */
    int32_t bos_id, eos_id, pad_id;
    /* an added special token of one ASCII character (SDXL's tokenizer_2: "!" = id 0): every occurrence
     * in a prompt becomes split_id and the text between is encoded apart; split_id -1: none */
    int32_t split_id;
    char split_char;
    int32_t n_merges;
    int32_t *merge_left, *merge_right, *merge_id; /* by rank */
    int32_t *merge_slot;                          /* open addressing: rank, or -1 when empty */
    uint32_t merge_mask;
};

static uint32_t pair_hash(int32_t a, int32_t b) {
    uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static int32_t merge_rank(const ig_bpe *b, int32_t x, int32_t y) {
    for (uint32_t h = pair_hash(x, y) & b->merge_mask;; h = (h + 1) & b->merge_mask) {
        int32_t r = b->merge_slot[h];
        if (r < 0 || (b->merge_left[r] == x && b->merge_right[r] == y)) return r;
    }
}

/* A token from a file, cut for a message at a UTF-8 boundary. */
static int msg_len(const char *s, size_t n) {
    if (n <= MSG_TOKEN_MAX) return (int)n;
    n = MSG_TOKEN_MAX;
    while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80) n--;
    return (int)n;
}

static ig_status read_file(const char *path, char **out, size_t *size, ig_err *err) {
    ig_status st = IG_OK;
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    char *p = NULL;
    *out = NULL;
    if (!fp) {
        st = ig__fail(err, errno == ENOENT ? IG_ERR_NOT_FOUND : IG_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = ig__fail(err, IG_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (!(p = malloc((size_t)sb.st_size + 1))) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory for %lld bytes", path, (long long)sb.st_size);
        goto fail;
    }
    if (fread(p, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size) {
        st = ig__fail(err, IG_ERR_IO, "%s: short read", path);
        goto fail;
    }
    p[sb.st_size] = 0;
    *out = p, *size = (size_t)sb.st_size;
    p = NULL;
fail:
    free(p);
    if (fp) fclose(fp);
    return st;
}

static ig_status load_vocab(ig_bpe *b, const char *path, json_t **out, ig_err *err) {
    ig_status st = IG_OK;
    json_error_t je;
    json_t *root = NULL;
    char *text = NULL;
    const char *key;
    json_t *val;
    size_t n, size = 0, blob_size = 0, pos = 0;
    if ((st = read_file(path, &text, &size, err)) != IG_OK) goto fail;
    if (!(root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je))) {
        st = ig__fail(err, IG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        goto fail;
    }
    n = json_is_object(root) ? json_object_size(root) : 0;
    if (n == 0 || n > INT32_MAX / 2) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: expected an object of token ids, got %s", path,
                      json_is_object(root) ? "an empty object" : "another JSON type");
        goto fail;
    }
    json_object_foreach(root, key, val) blob_size += strlen(key) + 1;
    b->n_vocab = (int32_t)n;
    b->tok_off = malloc(n * sizeof *b->tok_off);
    b->blob = malloc(blob_size);
    if (!b->tok_off || !b->blob) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory for %zu tokens", path, n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) b->tok_off[i] = SIZE_MAX;
    json_object_foreach(root, key, val) {
        size_t len = strlen(key);
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= (json_int_t)n || b->tok_off[id] != SIZE_MAX) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: token \"%.*s\": id must be %s integer in [0, %zu)", path,
                          msg_len(key, len), key, id >= 0 && id < (json_int_t)n ? "a unique" : "an", n);
            goto fail;
        }
        memcpy(b->blob + pos, key, len + 1);
        b->tok_off[id] = pos;
        pos += len + 1;
    }
    *out = root;
    root = NULL;
fail:
    json_decref(root);
    free(text);
    return st;
}

static int32_t vocab_id(json_t *vocab, const char *s, size_t len) {
    json_t *v = json_object_getn(vocab, s, len);
    return v ? (int32_t)json_integer_value(v) : -1;
}

/* bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 map to 256 + k in
 * byte order, so no symbol is a space or a control character. */
static ig_status byte_symbols(ig_bpe *b, json_t *vocab, const char *path, ig_err *err) {
    uint32_t k = 0;
    for (int c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        uint8_t s[16];
        size_t n = ig__utf8_put(s, printable ? (uint32_t)c : 256 + k++);
        b->byte_id[c] = vocab_id(vocab, (const char *)s, n);
        memcpy(s + n, "</w>", 4);
        b->byte_end_id[c] = vocab_id(vocab, (const char *)s, n + 4);
        if (b->byte_id[c] < 0 || b->byte_end_id[c] < 0)
            return ig__fail(err, IG_ERR_INVALID, "%s: no symbol for byte 0x%02x (\"%.*s\" with and without </w>)",
                            path, c, (int)n, (const char *)s);
    }
    b->bos_id = vocab_id(vocab, "<|startoftext|>", 15);
    b->eos_id = vocab_id(vocab, "<|endoftext|>", 13);
    if (b->bos_id < 0 || b->eos_id < 0)
        return ig__fail(err, IG_ERR_INVALID, "%s: lacks <|startoftext|> or <|endoftext|>", path);
    b->pad_id = b->eos_id;
    b->split_id = -1;
    return IG_OK;
}

static bool is_ws_byte(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static ig_status load_merges(ig_bpe *b, json_t *vocab, const char *path, ig_err *err) {
    ig_status st = IG_OK;
    char *text = NULL, *cat = NULL;
    size_t size = 0, cap = 1, line_no = 0;
    if ((st = read_file(path, &text, &size, err)) != IG_OK) goto fail;
    for (size_t i = 0; i < size; i++) cap += text[i] == '\n';
    cap = IG_MIN(cap, (size_t)CLIP_MAX_MERGES);
    size_t slots = 1024;
    while (slots < 2 * cap) slots *= 2;
    b->merge_left = malloc(cap * sizeof(int32_t));
    b->merge_right = malloc(cap * sizeof(int32_t));
    b->merge_id = malloc(cap * sizeof(int32_t));
    b->merge_slot = malloc(slots * sizeof(int32_t));
    cat = malloc(size + 1);
    if (!b->merge_left || !b->merge_right || !b->merge_id || !b->merge_slot || !cat) {
        st = ig__fail(err, IG_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    memset(b->merge_slot, 0xFF, slots * sizeof(int32_t));
    b->merge_mask = (uint32_t)(slots - 1);
    for (char *p = text, *end = text + size; p < end && b->n_merges < CLIP_MAX_MERGES;) {
        char *eol = memchr(p, '\n', (size_t)(end - p)), *line = p;
        if (!eol) eol = end;
        p = eol + 1;
        line_no++;
        /* simple_tokenizer.py drops line 1 unconditionally; we only drop it when it is the header,
         * so a merges file without one loses nothing. */
        if (line_no == 1 && !strncmp(line, "#version", 8)) continue;
        /* tuple(merge.split()): fields separated by whitespace. */
        char *f[3];
        size_t fl[3], nf = 0;
        for (char *q = line; q < eol;) {
            while (q < eol && is_ws_byte(*q)) q++;
            if (q == eol) break;
            char *s = q;
            while (q < eol && !is_ws_byte(*q)) q++;
            if (nf < 3) f[nf] = s, fl[nf] = (size_t)(q - s);
            nf++;
        }
        if (nf == 0) {
            bool rest_blank = true; /* read().strip() drops trailing blank lines */
            for (char *q = p; q < end && rest_blank; q++) rest_blank = is_ws_byte(*q) || *q == '\n';
            if (rest_blank) break;
        }
        if (nf != 2) {
            st = ig__fail(err, IG_ERR_INVALID, "%s:%zu: expected two symbols separated by a space, got %zu fields",
                          path, line_no, nf);
            goto fail;
        }
        memcpy(cat, f[0], fl[0]);
        memcpy(cat + fl[0], f[1], fl[1]);
        int32_t r = b->n_merges, x = vocab_id(vocab, f[0], fl[0]), y = vocab_id(vocab, f[1], fl[1]),
                xy = vocab_id(vocab, cat, fl[0] + fl[1]);
        if (x < 0 || y < 0 || xy < 0) {
            const char *what = x < 0 ? f[0] : y < 0 ? f[1] : cat;
            size_t wl = x < 0 ? fl[0] : y < 0 ? fl[1] : fl[0] + fl[1];
            st = ig__fail(err, IG_ERR_INVALID, "%s:%zu: symbol \"%.*s\" is not in the vocabulary", path, line_no,
                          msg_len(what, wl), what);
            goto fail;
        }
        if (merge_rank(b, x, y) >= 0) {
            st = ig__fail(err, IG_ERR_INVALID, "%s:%zu: merge \"%.*s %.*s\" appears twice", path, line_no,
                          msg_len(f[0], fl[0]), f[0], msg_len(f[1], fl[1]), f[1]);
            goto fail;
        }
        b->merge_left[r] = x, b->merge_right[r] = y, b->merge_id[r] = xy;
        uint32_t h = pair_hash(x, y) & b->merge_mask;
        while (b->merge_slot[h] >= 0) h = (h + 1) & b->merge_mask;
        b->merge_slot[h] = r;
        b->n_merges++;
    }
fail:
    free(cat);
    free(text);
    return st;
}

ig_status ig_bpe_load(ig_bpe **out, const char *vocab_json_path, const char *merges_path, ig_err *err) {
    ig_status st = IG_OK;
    ig_bpe *b = NULL;
    json_t *vocab = NULL;
    if (!out || !vocab_json_path || !merges_path) return ig__fail(err, IG_ERR_INVALID, "ig_bpe_load: NULL argument");
    *out = NULL;
    if (!(b = calloc(1, sizeof *b))) {
        st = ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    if ((st = load_vocab(b, vocab_json_path, &vocab, err)) != IG_OK ||
        (st = byte_symbols(b, vocab, vocab_json_path, err)) != IG_OK ||
        (st = load_merges(b, vocab, merges_path, err)) != IG_OK)
        goto fail;
    *out = b;
    b = NULL;
fail:
    json_decref(vocab);
    ig_bpe_free(b);
    return st;
}

/* "pad_token" of one tokenizer JSON file: a string or {"content": string}. *found = false when the
 * file or the key is absent (or null). */
static ig_status read_pad_token(const ig_bpe *b, const char *path, int32_t *pad, bool *found, ig_err *err) {
    ig_status st = IG_OK;
    json_error_t je;
    json_t *root = NULL, *v;
    struct stat sb;
    *found = false;
    if (stat(path, &sb) != 0) goto fail; /* optional file */
    if (!(root = json_load_file(path, 0, &je))) {
        st = ig__fail(err, IG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        goto fail;
    }
    v = json_is_object(root) ? json_object_get(root, "pad_token") : NULL;
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!v || json_is_null(v)) goto fail;
    if (!json_is_string(v)) {
        st = ig__fail(err, IG_ERR_INVALID, "%s: \"pad_token\" must be a string or {\"content\": string}", path);
        goto fail;
    }
    const char *s = json_string_value(v);
    for (int32_t id = 0; id < b->n_vocab; id++) {
        if (!strcmp(b->blob + b->tok_off[id], s)) {
            *pad = id;
            *found = true;
            goto fail;
        }
    }
    st = ig__fail(err, IG_ERR_UNSUPPORTED, "%s: pad_token \"%.*s\" is not in vocab.json (added tokens are not supported)",
                  path, msg_len(s, strlen(s)), s);
fail:
    json_decref(root);
    return st;
}

/* tokenizer_config.json's "added_tokens_decoder" ({"id": {"content": ..., "special": ...}}): transformers
 * splits a prompt at every added token before BPE. Of those, CLIP tokenizers only ever add their own
 * bos/eos (which the pattern already keeps whole) and, in SDXL's tokenizer_2, "!" as id 0: that one is
 * kept (split_id); another single-character added token is refused, anything longer too. */
static ig_status read_added_tokens(ig_bpe *b, const char *path, ig_err *err) {
    ig_status st = IG_OK;
    json_error_t je;
    json_t *root = NULL, *added, *v;
    const char *key;
    struct stat sb;
    if (stat(path, &sb) != 0) goto fail; /* optional file */
    if (!(root = json_load_file(path, 0, &je))) {
        st = ig__fail(err, IG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        goto fail;
    }
    added = json_is_object(root) ? json_object_get(root, "added_tokens_decoder") : NULL;
    if (!json_is_object(added)) goto fail;
    json_object_foreach(added, key, v) {
        const char *content = json_string_value(json_object_get(v, "content"));
        char *end = NULL;
        long id = strtol(key, &end, 10);
        if (!content || !end || *end || id < 0 || id >= b->n_vocab) {
            st = ig__fail(err, IG_ERR_INVALID, "%s: added token \"%s\" needs a content string and an id in the vocabulary",
                          path, key);
            goto fail;
        }
        if (!strcmp(content, "<|startoftext|>") || !strcmp(content, "<|endoftext|>")) continue;
        if (strlen(content) == 1 && (unsigned char)content[0] < 0x80 && !isalnum((unsigned char)content[0]) &&
            !isspace((unsigned char)content[0]) && b->split_id < 0) {
            b->split_id = (int32_t)id, b->split_char = content[0];
            continue;
        }
        st = ig__fail(err, IG_ERR_UNSUPPORTED, "%s: added token \"%.*s\" (id %ld) is not supported", path,
                      msg_len(content, strlen(content)), content, id);
        goto fail;
    }
fail:
    json_decref(root);
    return st;
}

ig_status ig_bpe_load_dir(ig_bpe **out, const char *dir, ig_err *err) {
    ig_status st = IG_OK;
    ig_bpe *b = NULL;
    char *paths = NULL;
    static const char *names[4] = {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"};
    size_t len;
    bool found = false;
    if (!out || !dir) return ig__fail(err, IG_ERR_INVALID, "ig_bpe_load_dir: NULL argument");
    *out = NULL;
    len = strlen(dir) + 32;
    if (!(paths = malloc(4 * len))) {
        st = ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    for (int i = 0; i < 4; i++) snprintf(paths + i * len, len, "%s/%s", dir, names[i]);
    if ((st = ig_bpe_load(&b, paths, paths + len, err)) != IG_OK) goto fail;
    for (int i = 2; i < 4 && !found; i++)
        if ((st = read_pad_token(b, paths + i * len, &b->pad_id, &found, err)) != IG_OK) goto fail;
    if ((st = read_added_tokens(b, paths + 3 * len, err)) != IG_OK) goto fail;
    *out = b;
    b = NULL;
fail:
    ig_bpe_free(b);
    free(paths);
    return st;
}

void ig_bpe_free(ig_bpe *b) {
    if (!b) return;
    free(b->blob);
    free(b->tok_off);
    free(b->merge_left);
    free(b->merge_right);
    free(b->merge_id);
    free(b->merge_slot);
    free(b);
}

int32_t ig_bpe_bos_id(const ig_bpe *b) { return b->bos_id; }
int32_t ig_bpe_eos_id(const ig_bpe *b) { return b->eos_id; }
int32_t ig_bpe_pad_id(const ig_bpe *b) { return b->pad_id; }

ig_status ig_bpe_set_split_char(ig_bpe *b, char ch, ig_err *err) {
    for (int32_t id = 0; id < b->n_vocab; id++) {
        const char *t = b->blob + b->tok_off[id];
        if (t[0] == ch && t[1] == 0) {
            b->split_id = id, b->split_char = ch;
            return IG_OK;
        }
    }
    return ig__fail(err, IG_ERR_INVALID, "tokenizer: no token \"%c\" in the vocabulary", ch);
}
int32_t ig_bpe_vocab_size(const ig_bpe *b) { return b->n_vocab; }

ig_status ig_bpe_set_pad_id(ig_bpe *b, int32_t pad_id, ig_err *err) {
    if (pad_id < 0 || pad_id >= b->n_vocab)
        return ig__fail(err, IG_ERR_INVALID, "pad id %d outside the vocabulary [0, %d)", (int)pad_id, (int)b->n_vocab);
    b->pad_id = pad_id;
    return IG_OK;
}

const char *ig_bpe_token(const ig_bpe *b, int32_t id) {
    return (id >= 0 && id < b->n_vocab) ? b->blob + b->tok_off[id] : NULL;
}

/* ---- BPE over one piece, and the pre-tokenizer that cuts the cleaned text into pieces. */
typedef struct scratch {
    uint8_t *bytes;
    int32_t *sym, *next, *prev, *batch;
    uint64_t *heap; /* (rank << 32 | position): min-heap order is rank, then position */
    size_t cap;     /* bytes of the longest piece so far; heap holds 3 * cap */
    bool oom;
} scratch;

static bool scratch_reserve(scratch *s, size_t n) {
    if (n <= s->cap) return true;
    size_t cap = IG_MAX(n, 2 * s->cap);
    uint8_t *bytes = realloc(s->bytes, cap);
    if (bytes) s->bytes = bytes;
    int32_t **arr[4] = {&s->sym, &s->next, &s->prev, &s->batch};
    bool ok = bytes != NULL;
    for (int i = 0; i < 4 && ok; i++) {
        int32_t *p = realloc(*arr[i], cap * sizeof(int32_t));
        if (p) *arr[i] = p;
        ok = p != NULL;
    }
    uint64_t *heap = ok ? realloc(s->heap, 3 * cap * sizeof(uint64_t)) : NULL;
    if (heap) s->heap = heap;
    if (!heap) return s->oom = true, false;
    s->cap = cap;
    return true;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static void push_pair(const ig_bpe *b, scratch *s, size_t *hn, int32_t pos) {
    int32_t r = merge_rank(b, s->sym[pos], s->sym[s->next[pos]]);
    if (r >= 0) heap_push(s->heap, hn, (uint64_t)r << 32 | (uint32_t)pos);
}

/* simple_tokenizer.bpe() on the n bytes in s->bytes; appends at most limit - *n_out ids to out. */
static void bpe_piece(const ig_bpe *b, scratch *s, size_t n, int32_t *out, int *n_out, int limit) {
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        s->sym[i] = i + 1 == n ? b->byte_end_id[s->bytes[i]] : b->byte_id[s->bytes[i]];
        s->next[i] = i + 1 == n ? -1 : (int32_t)i + 1;
        s->prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, s, &hn, (int32_t)i);
    while (hn > 0) {
        uint32_t rank = (uint32_t)(s->heap[0] >> 32);
        size_t nb = 0;
        while (hn > 0 && (uint32_t)(s->heap[0] >> 32) == rank) s->batch[nb++] = (int32_t)(uint32_t)heap_pop(s->heap, &hn);
        int32_t left = b->merge_left[rank], right = b->merge_right[rank];
        for (size_t k = 0; k < nb; k++) {
            int32_t p = s->batch[k], q = s->next[p];
            if (s->sym[p] != left || q < 0 || s->sym[q] != right) continue; /* gone or changed */
            s->sym[p] = b->merge_id[rank];
            s->sym[q] = -1;
            s->next[p] = s->next[q];
            if (s->next[p] >= 0) s->prev[s->next[p]] = p;
            if (s->prev[p] >= 0) push_pair(b, s, &hn, s->prev[p]);
            if (s->next[p] >= 0) push_pair(b, s, &hn, p);
        }
    }
    for (int32_t p = 0; p >= 0 && *n_out < limit; p = s->next[p]) out[(*n_out)++] = s->sym[p];
}

/* Does the cleaned text at s[i..n) start with the ASCII literal lit, compared as re.IGNORECASE
 * would after lower(): U+017F (long s) folds to 's' and is the only non-ASCII letter that can. */
static bool match_lit(const uint32_t *s, size_t n, size_t i, const char *lit) {
    for (; *lit; lit++, i++)
        if (i >= n || (s[i] != (uint8_t)*lit && !(*lit == 's' && s[i] == 0x17F))) return false;
    return true;
}

/* re.findall(pat, text) with pat = <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|
 * [\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+, alternatives tried in that order at each position; each match
 * goes through BPE until limit ids are out. */
static void pre_tokenize(const ig_bpe *b, const ig__cps *t, scratch *s, int32_t *out, int *n_out, int limit) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    const uint32_t *p = t->p;
    size_t n = t->n, i = 0;
    while (i < n && *n_out < limit) {
        size_t e = i;
        int cl = ig__bpe_char_class(p[i]);
        for (int k = 0; k < 2 && p[i] == '<' && e == i; k++) {
            const char *lit = k ? "<|endoftext|>" : "<|startoftext|>";
            if (match_lit(p, n, i, lit)) e = i + strlen(lit);
        }
        /* bpe()'s cache turns exactly these strings into the special ids; a match spelled with a
         * long s is not in the cache and goes through BPE like any word. */
        if (e == i + 15 && p[i + 2] == 's') {
            out[(*n_out)++] = b->bos_id;
            i = e;
            continue;
        }
        if (e == i + 13) {
            out[(*n_out)++] = b->eos_id;
            i = e;
            continue;
        }
        if (p[i] == '\'' && e == i)
            for (size_t k = 0; k < sizeof contractions / sizeof *contractions && e == i; k++)
                if (match_lit(p, n, i, contractions[k])) e = i + strlen(contractions[k]);
        if (e == i) {
            if (cl == IG__CL_SKIP) {
                i++;
                continue;
            }
            e = i + 1;
            if (cl != IG__CL_NUMBER)
                while (e < n && ig__bpe_char_class(p[e]) == cl) e++;
        }
        size_t nb = 0;
        if (!scratch_reserve(s, 4 * (e - i))) return;
        for (size_t k = i; k < e; k++) nb += ig__utf8_put(s->bytes + nb, p[k]);
        bpe_piece(b, s, nb, out, n_out, limit);
        i = e;
    }
}

ig_status ig_bpe_encode(const ig_bpe *b, const char *utf8, int32_t *ids, int max_len, int32_t pad_id, int *n_tokens,
                        ig_err *err) {
    ig_status st = IG_OK;
    ig__cps text = {0}, tmp = {0};
    scratch s = {0};
    int32_t *body = NULL;
    char *chunk = NULL;
    int n = 0;
    if (n_tokens) *n_tokens = 0;
    if (!b || !utf8 || !ids) return ig__fail(err, IG_ERR_INVALID, "ig_bpe_encode: NULL argument");
    if (max_len < 2 || pad_id < 0 || pad_id >= b->n_vocab)
        return ig__fail(err, IG_ERR_INVALID, "ig_bpe_encode: max_len %d must be >= 2 and pad id %d in [0, %d)", max_len,
                        (int)pad_id, (int)b->n_vocab);
    if (strlen(utf8) >= MAX_PROMPT_BYTES) /* keeps every position inside int32 */
        return ig__fail(err, IG_ERR_INVALID, "prompt of %zu bytes is too long", strlen(utf8));
    if (!(body = malloc((size_t)max_len * sizeof *body))) {
        st = ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    body[n++] = b->bos_id;
    /* transformers splits at added tokens first, then cleans and encodes each piece between them */
    for (const char *p = utf8;;) {
        const char *q = b->split_id >= 0 ? strchr(p, b->split_char) : NULL;
        const size_t len = q ? (size_t)(q - p) : strlen(p);
        if (q) {
            if (!(chunk = realloc(chunk, len + 1))) {
                st = ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory");
                goto fail;
            }
            memcpy(chunk, p, len), chunk[len] = 0;
        }
        if ((st = ig__bpe_clean(q ? chunk : p, &text, &tmp, err)) != IG_OK) goto fail;
        pre_tokenize(b, &text, &s, body, &n, max_len - 1);
        if (!q) break;
        if (n < max_len - 1) body[n++] = b->split_id;
        p = q + 1;
    }
    if (s.oom) {
        st = ig__fail(err, IG_ERR_NOMEM, "tokenizer: out of memory for a %zu-byte prompt", strlen(utf8));
        goto fail;
    }
    body[n++] = b->eos_id;
    memcpy(ids, body, (size_t)n * sizeof *ids);
    for (int i = n; i < max_len; i++) ids[i] = pad_id;
    if (n_tokens) *n_tokens = n;
fail:
    free(text.p);
    free(tmp.p);
    free(s.bytes);
    free(s.sym);
    free(s.next);
    free(s.prev);
    free(s.batch);
    free(s.heap);
    free(body);
    free(chunk);
    return st;
}
