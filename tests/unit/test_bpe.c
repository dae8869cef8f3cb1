/* test_bpe.c — models/bpe: every golden token case of sd1-tiny and sd2-tiny (all 77 ids and the
 * count must be exact), edge cases whose ids come from openai/CLIP simple_tokenizer.py as the
 * golden set ran it (ftfy.fix_text = NFC, Python 3.11), timings of 32000-character prompts, invalid
 * UTF-8, loader errors on small hand-made tokenizers, and a random-bytes loop (run it under
 * ASan: `make debug`). */
#include "models/bpe.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "test.h"
#include "golden.h"

#define CTX IG_BPE_CONTEXT
#define BOS 49406
#define EOS 49407

static char tmp_dir[64];

static const char *path_in(const char *dir, const char *name) {
    static char buf[4][512]; /* a few live at once in one call's arguments */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    CHECK(fputs(text, fp) >= 0);
    fclose(fp);
}

/* Encodes and compares with want (n_want ids before padding, EOS padding). */
static void check_encode(const ig_bpe *b, const char *name, const char *prompt, const int32_t *want, int n_want) {
    int32_t ids[CTX];
    int n = -1;
    ig_err err = {0};
    ig_status st = ig_bpe_encode(b, prompt, ids, CTX, EOS, &n, &err);
    int ok = st == IG_OK && n == n_want;
    for (int i = 0; ok && i < CTX; i++) ok = ids[i] == (i < n_want ? want[i] : EOS);
    test_checks++;
    if (!ok) {
        test_failures++;
        fprintf(stderr, "%s: FAIL (status %d %s), got %d ids:", name, st, err.msg, n);
        for (int i = 0; i < n && i < CTX; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
}

/* ---- The golden cases: prompts from manifest.json, ids from cases/tokens_*.bin (int32 LE). */
static void golden_set(const char *set) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/golden/%s", test_shared_dir(), set);
    json_t *m = golden_load_json(path_in(dir, "manifest.json")), *c;
    ig_bpe *b = NULL;
    ig_err err = {0};
    size_t i;
    int n_cases = 0;
    CHECK(m != NULL);
    if (!m) return;
    CHECK(ig_bpe_load_dir(&b, path_in(dir, "model/tokenizer"), &err) == IG_OK);
    if (!b) {
        fprintf(stderr, "%s\n", err.msg);
        json_decref(m);
        return;
    }
    CHECK(ig_bpe_vocab_size(b) == 49408 && ig_bpe_bos_id(b) == BOS && ig_bpe_eos_id(b) == EOS);
    CHECK(ig_bpe_pad_id(b) == EOS); /* both sets ship clip-vit-large-patch14's tokenizer config */
    json_array_foreach(json_object_get(m, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!name || strncmp(name, "tokens_", 7) != 0) continue;
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        const char *file = json_string_value(json_object_get(c, "file"));
        int n_want = (int)json_integer_value(json_object_get(c, "n_tokens_before_pad"));
        uint8_t raw[4 * CTX];
        int32_t want[CTX], got[CTX];
        FILE *fp = file ? fopen(path_in(dir, file), "rb") : NULL;
        size_t nr = fp ? fread(raw, 1, sizeof raw, fp) : 0;
        if (fp) fclose(fp);
        CHECK(prompt && nr == sizeof raw);
        if (!prompt || nr != sizeof raw) continue;
        for (int k = 0; k < CTX; k++)
            want[k] = (int32_t)((uint32_t)raw[4 * k] | (uint32_t)raw[4 * k + 1] << 8 | (uint32_t)raw[4 * k + 2] << 16 |
                                (uint32_t)raw[4 * k + 3] << 24);
        int n = -1, same = 1;
        ig_err e = {0};
        CHECK(ig_bpe_encode(b, prompt, got, CTX, ig_bpe_pad_id(b), &n, &e) == IG_OK);
        for (int k = 0; k < CTX; k++) same &= got[k] == want[k];
        CHECK(same);
        CHECK(n == n_want);
        printf("  %s %-18s %2d tokens %s\n", set, name, n, same && n == n_want ? "exact" : "MISMATCH");
        n_cases++;
    }
    CHECK(n_cases == 6);
    ig_bpe_free(b);
    json_decref(m);
}

/* ---- Edge cases; ids from simple_tokenizer.py (NFC stand-in for ftfy), bos/eos included. */
static void edge_cases(const ig_bpe *b) {
    static const int32_t empty[] = {BOS, EOS};
    check_encode(b, "empty", "", empty, 2);
    check_encode(b, "whitespace only", " \t\n\r\v\f \xe3\x80\x80\xc2\xa0\xe2\x80\x83 ", empty, 2);

    /* Control bytes stay symbols (byte-level BPE); U+200B, U+FEFF, U+00AD are "other" characters. */
    static const int32_t weird[] = {BOS, 189,   190, 215, 314, 271, 332, 477, 14724, 763,
                                    17086, 171, 119, 123, 126, 255, 256, EOS};
    check_encode(b, "control and invisible characters",
                 "\x01\x02\x1b[0m\x7f tab\there\x1c\xe2\x80\x8b\xef\xbb\xbf\xc2\xad!", weird, 18);

    /* html.unescape twice: "&amp;amp;" -> "&"; legacy names work without ';' (&eacute),
     * &notit; is &not + "it;", &#128; is the Windows-1252 euro. */
    static const int32_t html[] = {BOS, 2435, 261, 9164, 261, 283, 274, 262, 1883, 262,
                                   959, 4166, 343, 6309, 126, 361, 585, 282, EOS};
    check_encode(b, "html entities", "Tom &amp; Jerry &amp;amp; &lt;3 &#39;hi&#39; &hellip; &eacute &nbsp;x &#128; &notit;",
                 html, 19);
    static const int32_t amp[] = {BOS, 261, EOS};
    check_encode(b, "&amp;", "&amp;", amp, 3);

    static const int32_t contr[] = {BOS, 585, 568, 649, 982, 889, 1200, 328, 880, 592,
                                    1342, 797, 1896, 847, 713, 8445, 338, EOS};
    check_encode(b, "contractions", "it's we're they've I'm you'll he'd don't ''s", contr, 18);

    /* [\p{N}] takes one number at a time, Arabic-Indic digits and fractions included. */
    static const int32_t digits[] = {BOS, 272, 273, 274, 275, 276, 149, 352, 149, 353, 33613, EOS};
    check_encode(b, "digits", "12345 \xd9\xa3\xd9\xa4 \xc2\xbd", digits, 12);

    /* The special strings inside a prompt become the special ids, as bpe()'s cache makes them. */
    static const int32_t special[] = {BOS, 320, EOS, 321, BOS, EOS};
    check_encode(b, "special tokens in text", "a <|endoftext|> b<|startoftext|>", special, 6);

    /* NFD input gives the NFC ids (golden tokens_unicode). */
    static const int32_t nfc[] = {BOS, 15304, 1097, 35689, 563, 48338, 21078, 361, EOS};
    check_encode(b, "decomposed accents", "cafe\xcc\x81 nai\xcc\x88ve \xe6\x9d\xb1\xe4\xba\xac", nfc, 9);

    /* str.lower() beyond ASCII: Latin-1, Cyrillic, Greek with a final sigma, U+0130 -> "i\u0307". */
    static const int32_t lower[] = {BOS, 36149, 3459, 127,  362,   38018, 13506, 23669, 27152, 39813, 27080,
                                    138, 123,   138,  112,  139,   227,   139,   225,   139,   225,   138,
                                    113, 139,   227,  139,  480,   328,   16384, 11231, EOS};
    check_encode(b, "unicode lower-casing",
                 "\xc3\x80\xc3\x89\xc3\x8e \xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90 "
                 "\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3 \xc4\xb0stanbul",
                 lower, 31);

    static const int32_t emoji[] = {BOS, 7334, 43722, 5688, 48338, 21078, 105, 34941, 2429, 107, 30391, EOS};
    check_encode(b, "emoji and kana",
                 "\xf0\x9f\x98\x80 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xf0\x9f\x87\xba\xf0\x9f\x87\xb8 "
                 "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc",
                 emoji, 12);

    /* A 3000-letter word: the heap BPE against the Python loop (75 tokens kept). */
    static const int32_t word[] = {
        BOS, 722, 808, 9930, 698, 19432, 74, 14517, 80, 1189, 87, 1470, 37159, 31130, 74, 80, 20572, 3525, 87,
        83, 693, 89, 25617, 27794, 9962, 77, 41542, 4091, 722, 16674, 540, 3779, 73, 11926, 85, 80, 10726, 87,
        698, 67, 1013, 74, 712, 80, 3139, 87, 4525, 693, 89, 69, 74, 1849, 81, 18824, 1260, 19398, 13015, 9930,
        9962, 697, 1863, 755, 80, 85, 17672, 540, 3150, 73, 10149, 14517, 80, 1189, 87, 1470, 67, 2254, EOS};
    char *w = malloc(3001);
    for (uint32_t i = 0; i < 3000; i++) w[i] = (char)('a' + ((i * 2654435761u) >> 16) % 26);
    w[3000] = 0;
    check_encode(b, "3000-letter word", w, word, 77);
    free(w);

    /* max_len and pad_id are the caller's: truncation keeps bos ... eos. */
    int32_t ids[8];
    int n = 0;
    ig_err err = {0};
    CHECK(ig_bpe_encode(b, "a photograph of an astronaut riding a horse", ids, 5, 0, &n, &err) == IG_OK);
    CHECK(n == 5 && ids[0] == BOS && ids[1] == 320 && ids[2] == 8853 && ids[3] == 539 && ids[4] == EOS);
    CHECK(ig_bpe_encode(b, "a", ids, 8, 0, &n, &err) == IG_OK);
    CHECK(n == 3 && ids[2] == EOS && ids[3] == 0 && ids[7] == 0);
    CHECK(ig_bpe_encode(b, "a", ids, 2, 0, &n, &err) == IG_OK && n == 2 && ids[0] == BOS && ids[1] == EOS);
    CHECK(ig_bpe_encode(b, "a", ids, 8, 0, NULL, &err) == IG_OK); /* n_tokens is optional */

    /* Bad arguments are errors, not crashes. */
    ig_err e1 = {0}, e2 = {0}, e3 = {0};
    CHECK(ig_bpe_encode(b, "a", ids, 1, 0, &n, &e1) == IG_ERR_INVALID);
    CHECK(ig_bpe_encode(b, "a", ids, 8, 49408, &n, &e2) == IG_ERR_INVALID);
    CHECK(ig_bpe_encode(b, NULL, ids, 8, 0, &n, &e3) == IG_ERR_INVALID && n == 0);
}

static void invalid_utf8(const ig_bpe *b) {
    static const char *const bad[] = {
        "\xff",             "caf\xc3",          "\xc0\xaf",     "\xe0\x80\xaf",  "\xed\xa0\x80 surrogate",
        "\xf4\x90\x80\x80", "abc\x80" "def",   "\xe2\x82",     "\xf8\x88\x80\x80\x80", "ok \xc3\x28",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ids[CTX];
        for (int k = 0; k < CTX; k++) ids[k] = -7;
        int n = -1, untouched = 1;
        ig_err err = {0};
        CHECK(ig_bpe_encode(b, bad[i], ids, CTX, EOS, &n, &err) == IG_ERR_INVALID);
        CHECK(strstr(err.msg, "UTF-8") != NULL);
        for (int k = 0; k < CTX; k++) untouched &= ids[k] == -7;
        CHECK(untouched && n == 0);
        if (i == 0) printf("  invalid UTF-8: \"%s\"\n", err.msg);
    }
}

/* ---- 32000-character prompts: all linear. The bound is loose on purpose (ASan, busy CI);
 * IMAGINE_TEST_NO_TIMING=1 skips it (valgrind). */
static void long_prompts(const ig_bpe *b) {
    const size_t len = 32000;
    const char *no_timing = getenv("IMAGINE_TEST_NO_TIMING");
    char *p = malloc(len + 1);
    static const char *const kinds[] = {"repeated phrase", "one 32000-letter word", "32000 combining marks",
                                        "32000 entities",  "32000 punctuation",    "random code points"};
    for (int kind = 0; kind < 6; kind++) {
        size_t i = 0;
        if (kind == 0) {
            static const char phrase[] = "a photograph of an astronaut riding a horse, ";
            for (; i < len; i++) p[i] = phrase[i % (sizeof phrase - 1)];
        } else if (kind == 1) {
            for (; i < len; i++) p[i] = (char)('a' + ((i * 2654435761u) >> 16) % 26);
        } else if (kind == 2) { /* alternating classes 230/220 after one base: a long reorder run */
            p[i++] = 'a';
            for (; i + 2 <= len; i += 2) memcpy(p + i, (i / 2) % 2 ? "\xcc\x81" : "\xcc\xa3", 2);
        } else if (kind == 3) {
            for (; i + 5 <= len; i += 5) memcpy(p + i, "&amp;", 5);
        } else if (kind == 4) {
            for (; i < len; i++) p[i] = "!?.,;:-"[i % 7];
        } else {
            while (i + 4 <= len) {
                uint32_t c = (uint32_t)(test_uniform() * 0x10FFFF);
                if (c == 0 || (c >= 0xD800 && c <= 0xDFFF)) continue;
                char tmp[8];
                size_t k = 0;
                if (c < 0x80) tmp[k++] = (char)c;
                else if (c < 0x800) tmp[k++] = (char)(0xC0 | c >> 6), tmp[k++] = (char)(0x80 | (c & 0x3F));
                else if (c < 0x10000)
                    tmp[k++] = (char)(0xE0 | c >> 12), tmp[k++] = (char)(0x80 | (c >> 6 & 0x3F)),
                    tmp[k++] = (char)(0x80 | (c & 0x3F));
                else
                    tmp[k++] = (char)(0xF0 | c >> 18), tmp[k++] = (char)(0x80 | (c >> 12 & 0x3F)),
                    tmp[k++] = (char)(0x80 | (c >> 6 & 0x3F)), tmp[k++] = (char)(0x80 | (c & 0x3F));
                memcpy(p + i, tmp, k);
                i += k;
            }
        }
        p[i] = 0;
        int32_t ids[CTX];
        int n = 0, reps = 5;
        ig_err err = {0};
        ig_status st = IG_OK;
        double t0 = ig__now_s();
        for (int r = 0; r < reps && st == IG_OK; r++) st = ig_bpe_encode(b, p, ids, CTX, EOS, &n, &err);
        double ms = (ig__now_s() - t0) * 1e3 / reps;
        CHECK(st == IG_OK);
        CHECK(n == CTX);
        if (!no_timing) CHECK(ms < 100);
        printf("  %-24s %6zu bytes  %7.3f ms  %d tokens\n", kinds[kind], i, ms, n);
        if (kind == 0) { /* the 9 pieces of the phrase repeat: a, photograph, of, ..., horse, "," */
            static const int32_t period[9] = {320, 8853, 539, 550, 18376, 6765, 320, 4558, 267};
            int same = ids[0] == BOS && ids[CTX - 1] == EOS;
            for (int k = 1; k < CTX - 1; k++) same &= ids[k] == period[(k - 1) % 9];
            CHECK(same);
        }
    }
    free(p);
}

/* ---- Random bytes: never a crash, and either IG_ERR_INVALID or a well-formed id sequence. */
static void random_bytes(const ig_bpe *b) {
    char buf[257];
    int n_ok = 0, n_bad = 0, well_formed = 1;
    for (int it = 0; it < 3000; it++) {
        size_t len = (size_t)(test_uniform() * 256);
        for (size_t i = 0; i < len; i++) {
            double u = test_uniform();
            /* mostly ASCII and UTF-8 lead/continuation bytes, never NUL */
            buf[i] = (char)(u < 0.5 ? 1 + (int)(test_uniform() * 127) : 0x80 + (int)(test_uniform() * 128));
        }
        buf[len] = 0;
        int32_t ids[CTX];
        int n = -1;
        ig_err err = {0};
        ig_status st = ig_bpe_encode(b, buf, ids, CTX, EOS, &n, &err);
        if (st == IG_OK) {
            n_ok++;
            well_formed &= n >= 2 && n <= CTX && ids[0] == BOS && ids[n - 1] == EOS;
            for (int k = 0; k < CTX; k++) well_formed &= ids[k] >= 0 && ids[k] < 49408;
        } else {
            n_bad++;
            well_formed &= st == IG_ERR_INVALID;
        }
    }
    CHECK(well_formed);
    printf("  random bytes: %d encoded, %d refused as invalid UTF-8\n", n_ok, n_bad);
}

/* ---- A tiny hand-made tokenizer: the loader is generic, and every bad file is a clear error. */
static json_t *tiny_vocab(void) { /* CLIP's order: bytes_to_unicode's, so "!" is id 0 */
    json_t *v = json_object();
    int order[256], n_order = 0, id = 0;
    uint32_t cp_of[256];
    for (int c = 0, k = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        cp_of[c] = printable ? (uint32_t)c : 256 + (uint32_t)k++;
        if (printable) order[n_order++] = c;
    }
    for (int c = 0; c < 256; c++)
        if (cp_of[c] >= 256) order[n_order++] = c;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 256; i++) {
            uint32_t cp = cp_of[order[i]];
            char s[16];
            int n = cp < 0x80 ? snprintf(s, sizeof s, "%c", (char)cp)
                              : snprintf(s, sizeof s, "%c%c", (char)(0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F)));
            if (pass) snprintf(s + n, sizeof s - (size_t)n, "</w>");
            json_object_set_new(v, s, json_integer(id++));
        }
    }
    json_object_set_new(v, "hi</w>", json_integer(id++));
    json_object_set_new(v, "<|startoftext|>", json_integer(id++));
    json_object_set_new(v, "<|endoftext|>", json_integer(id++));
    return v; /* 515 ids */
}

static void expect_load_error(const char *what, const char *vocab, const char *merges, ig_status want,
                              const char *must_contain) {
    ig_bpe *b = (ig_bpe *)1;
    ig_err err = {0};
    ig_status st = ig_bpe_load(&b, vocab, merges, &err);
    int ok = st == want && b == NULL && strstr(err.msg, must_contain) != NULL;
    test_checks++;
    if (!ok) test_failures++;
    fprintf(ok ? stdout : stderr, "  %-30s -> %s%s\n", what, err.msg, ok ? "" : "  FAIL");
}

static void loader(void) {
    json_t *v = tiny_vocab();
    char vocab[256], merges[256];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", tmp_dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", tmp_dir);
    CHECK(json_dump_file(v, vocab, 0) == 0);
    write_text(merges, "#version: 0.2\nh i</w>\n\n");
    ig_bpe *b = NULL;
    ig_err err = {0};
    CHECK(ig_bpe_load(&b, vocab, merges, &err) == IG_OK);
    if (b) {
        int32_t ids[CTX];
        int n = 0;
        CHECK(ig_bpe_vocab_size(b) == 515 && ig_bpe_bos_id(b) == 513 && ig_bpe_eos_id(b) == 514);
        CHECK(ig_bpe_encode(b, "Hi hI", ids, CTX, 0, &n, &err) == IG_OK);
        CHECK(n == 4 && ids[1] == 512 && ids[2] == 512);
        CHECK(!strcmp(ig_bpe_token(b, 512), "hi</w>") && ig_bpe_token(b, 515) == NULL && ig_bpe_token(b, -1) == NULL);
        ig_bpe_free(b);
    }
    ig_bpe_free(NULL);

    /* A merges file without the "#version" header keeps its first merge. */
    write_text(merges, "h i</w>\n");
    b = NULL;
    CHECK(ig_bpe_load(&b, vocab, merges, &err) == IG_OK);
    if (b) {
        int32_t ids[CTX];
        int n = 0;
        CHECK(ig_bpe_encode(b, "hi", ids, CTX, 0, &n, &err) == IG_OK && n == 3 && ids[1] == 512);
        ig_bpe_free(b);
    }

    expect_load_error("missing vocab", path_in(tmp_dir, "nope.json"), merges, IG_ERR_NOT_FOUND, "nope.json");
    expect_load_error("missing merges", vocab, path_in(tmp_dir, "nope.txt"), IG_ERR_NOT_FOUND, "nope.txt");
    expect_load_error("vocab is a directory", tmp_dir, merges, IG_ERR_IO, "regular file");
    write_text(path_in(tmp_dir, "bad.json"), "{\"a\": 0,");
    expect_load_error("vocab not JSON", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "bad.json:");
    write_text(path_in(tmp_dir, "bad.json"), "[1, 2]");
    expect_load_error("vocab not an object", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "object");
    write_text(path_in(tmp_dir, "bad.json"), "{\"a\": 0, \"b\": \"1\"}");
    expect_load_error("id not an integer", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "\"b\"");
    write_text(path_in(tmp_dir, "bad.json"), "{\"a\": 0, \"b\": 0}");
    expect_load_error("duplicate id", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "unique");
    write_text(path_in(tmp_dir, "bad.json"), "{\"a\": 0, \"b\": 7}");
    expect_load_error("id out of range", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "[0, 2)");
    write_text(path_in(tmp_dir, "bad.json"), "{\"a\": 0, \"b\": 1}");
    expect_load_error("no byte symbols", path_in(tmp_dir, "bad.json"), merges, IG_ERR_INVALID, "byte 0x00");

    json_t *v2 = json_deep_copy(v);
    json_object_del(v2, "<|startoftext|>");
    json_object_set_new(v2, "zzz</w>", json_integer(513));
    CHECK(json_dump_file(v2, path_in(tmp_dir, "nospecial.json"), 0) == 0);
    expect_load_error("no special tokens", path_in(tmp_dir, "nospecial.json"), merges, IG_ERR_INVALID,
                      "<|startoftext|>");
    json_decref(v2);

    write_text(path_in(tmp_dir, "m1.txt"), "#version: 0.2\nh i</w> x\n");
    expect_load_error("three fields", vocab, path_in(tmp_dir, "m1.txt"), IG_ERR_INVALID, "m1.txt:2:");
    write_text(path_in(tmp_dir, "m2.txt"), "#version: 0.2\nh e\n");
    expect_load_error("merge result missing", vocab, path_in(tmp_dir, "m2.txt"), IG_ERR_INVALID, "\"he\"");
    write_text(path_in(tmp_dir, "m3.txt"), "#version: 0.2\nh i</w>\n\nh i</w>\n");
    expect_load_error("blank line inside", vocab, path_in(tmp_dir, "m3.txt"), IG_ERR_INVALID, "m3.txt:3:");
    write_text(path_in(tmp_dir, "m4.txt"), "#version: 0.2\nh i</w>\nh i</w>\n");
    expect_load_error("duplicate merge", vocab, path_in(tmp_dir, "m4.txt"), IG_ERR_INVALID, "twice");
    write_text(path_in(tmp_dir, "m5.txt"), "#version: 0.2\nq\xc3\xa9 x\n");
    expect_load_error("unknown symbol", vocab, path_in(tmp_dir, "m5.txt"), IG_ERR_INVALID, "m5.txt:2:");

    /* The pad token of a tokenizer folder: special_tokens_map.json wins over tokenizer_config.json,
     * a string or {"content"}; none -> eos; SD 2.x's "!" -> 0. */
    write_text(merges, "#version: 0.2\nh i</w>\n");
    struct {
        const char *map, *config;
        ig_status st;
        int32_t pad;
    } pads[] = {
        {NULL, NULL, IG_OK, 514},
        {"{\"pad_token\": \"!\"}", NULL, IG_OK, 0},
        {NULL, "{\"pad_token\": {\"content\": \"!\"}}", IG_OK, 0},
        {"{\"pad_token\": \"<|endoftext|>\"}", "{\"pad_token\": \"!\"}", IG_OK, 514},
        {"{\"bos_token\": \"x\"}", "{\"pad_token\": \"\\\"\"}", IG_OK, 1},
        {"{\"pad_token\": \"[PAD]\"}", NULL, IG_ERR_UNSUPPORTED, 0},
        {"{\"pad_token\": 5}", NULL, IG_ERR_INVALID, 0},
        {"{\"pad_token\": ", NULL, IG_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        const char *map = path_in(tmp_dir, "special_tokens_map.json"), *cfg = path_in(tmp_dir, "tokenizer_config.json");
        unlink(map);
        unlink(cfg);
        if (pads[i].map) write_text(map, pads[i].map);
        if (pads[i].config) write_text(cfg, pads[i].config);
        ig_err e = {0};
        b = NULL;
        ig_status st = ig_bpe_load_dir(&b, tmp_dir, &e);
        CHECK(st == pads[i].st);
        CHECK(st != IG_OK || ig_bpe_pad_id(b) == pads[i].pad);
        if (st != IG_OK) printf("  pad token case %zu -> %s\n", i, e.msg);
        ig_bpe_free(b);
        unlink(map);
        unlink(cfg);
    }
    ig_err e = {0};
    b = (ig_bpe *)1;
    CHECK(ig_bpe_load_dir(&b, path_in(tmp_dir, "no-such-dir"), &e) == IG_ERR_NOT_FOUND && b == NULL);
    json_decref(v);
}

int main(void) {
    test_seed();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/imagine-test-bpe-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }

    printf("golden token cases\n");
    golden_set("sd1-tiny");
    golden_set("sd2-tiny");

    /* The shared assets/clip files load the same tokenizer as the model folders. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/assets/clip", test_shared_dir());
    ig_bpe *b = NULL;
    ig_err err = {0};
    double t0 = ig__now_s();
    CHECK(ig_bpe_load(&b, path_in(dir, "vocab.json"), path_in(dir, "merges.txt"), &err) == IG_OK);
    printf("load assets/clip: %.1f ms %s\n", (ig__now_s() - t0) * 1e3, err.msg);
    if (b) {
        printf("edge cases\n");
        edge_cases(b);
        invalid_utf8(b);
        printf("long prompts (mean of 5)\n");
        long_prompts(b);
        random_bytes(b);
        ig_bpe_free(b);
    }

    printf("loader\n");
    loader();

    const char *names[] = {"vocab.json", "merges.txt", "bad.json", "nospecial.json", "m1.txt",
                           "m2.txt",     "m3.txt",     "m4.txt",   "m5.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(path_in(tmp_dir, names[i]));
    rmdir(tmp_dir);
    return test_finish("test_bpe");
}
