/* fuzz_bpe.c — libFuzzer harness for the CLIP tokenizer (models/bpe.c, models/bpe_text.c).
 *
 * The vocabulary is loaded once, from $IMAGINE_FUZZ_CLIP, else ./assets/clip (the repo's copy: make
 * runs from the repo root), else assets/clip next to the binary's parent directory. Each input is a
 * prompt: its bytes up to the first NUL, invalid UTF-8 included. Checked, with abort() on a violation:
 *   - ig_bpe_encode succeeds exactly when the prompt is valid UTF-8 (RFC 3629, as api/errors.c's
 *     ig__api_utf8_char_len decides it); on failure ids are left as they were;
 *   - with max_len 77: 2 <= n <= 77, ids[0] = bos, ids[n-1] = eos, every id in [0, vocab), pad after n;
 *   - with a short max_len k (2..12) and pad 0: the same tokens, cut: n_k = min(n, k) and
 *     ids_k[1..n_k-1) = ids[1..n_k-1) (clip.tokenize(truncate=True) keeps a prefix).
 * Build and run: make fuzz / make fuzz-run (tests/fuzz/fuzz.mk).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/errors.h"
#include "models/bpe.h"

#define REQUIRE(cond)                                                                           \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_bpe: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static ig_bpe *tok;

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[PATH_MAX + 32] = "";
    const char *env = getenv("IMAGINE_FUZZ_CLIP");
    if (env && *env) snprintf(dir, sizeof dir, "%s", env);
    else if (is_dir("assets/clip")) snprintf(dir, sizeof dir, "assets/clip");
    else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) *slash = 0;
            snprintf(dir, sizeof dir, "%s/../assets/clip", exe);
        }
    }
    ig_err err = {0};
    if (ig_bpe_load_dir(&tok, dir, &err) != IG_OK) {
        fprintf(stderr, "fuzz_bpe: cannot load the CLIP vocabulary from '%s' (set IMAGINE_FUZZ_CLIP): %s\n", dir,
                err.msg);
        exit(1);
    }
    return 0;
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = ig__api_utf8_char_len((const unsigned char *)s + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *prompt = malloc(size + 1);
    if (!prompt) return 0;
    memcpy(prompt, data, size);
    prompt[size] = 0;
    size_t len = strlen(prompt);
    bool valid = valid_utf8(prompt, len);

    const int32_t bos = ig_bpe_bos_id(tok), eos = ig_bpe_eos_id(tok), pad = ig_bpe_pad_id(tok);
    const int32_t nv = ig_bpe_vocab_size(tok);
    int32_t ids[IG_BPE_CONTEXT + 1];
    for (int i = 0; i <= IG_BPE_CONTEXT; i++) ids[i] = -2;
    int n = -1;
    ig_err err = {0};
    ig_status st = ig_bpe_encode(tok, prompt, ids, IG_BPE_CONTEXT, pad, &n, &err);
    if (st != IG_OK) {
        if (valid) fprintf(stderr, "valid UTF-8 refused: %s\n", err.msg);
        REQUIRE(!valid);
        REQUIRE(err.status == st && err.msg[0]);
        for (int i = 0; i <= IG_BPE_CONTEXT; i++) REQUIRE(ids[i] == -2);
        free(prompt);
        return 0;
    }
    REQUIRE(valid);
    REQUIRE(n >= 2 && n <= IG_BPE_CONTEXT);
    REQUIRE(ids[0] == bos && ids[n - 1] == eos && ids[IG_BPE_CONTEXT] == -2);
    for (int i = 0; i < n; i++) REQUIRE(ids[i] >= 0 && ids[i] < nv && ig_bpe_token(tok, ids[i]));
    for (int i = n; i < IG_BPE_CONTEXT; i++) REQUIRE(ids[i] == pad);
    if (len == 0) REQUIRE(n == 2);

    /* A short context: the same tokens, cut, then eos, then pad 0 ("!", SD 2.x's). */
    int k = 2 + (int)(size % 11);
    int32_t short_ids[13];
    for (int i = 0; i < 13; i++) short_ids[i] = -2;
    int nk = -1;
    err = (ig_err){0};
    REQUIRE(ig_bpe_encode(tok, prompt, short_ids, k, 0, &nk, &err) == IG_OK);
    REQUIRE(nk == (n < k ? n : k));
    REQUIRE(short_ids[0] == bos && short_ids[nk - 1] == eos && short_ids[k] == -2);
    for (int i = 1; i < nk - 1; i++) REQUIRE(short_ids[i] == ids[i]);
    for (int i = nk; i < k; i++) REQUIRE(short_ids[i] == 0);
    free(prompt);
    return 0;
}
