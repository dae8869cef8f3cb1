/* bpe.h — the CLIP text tokenizer (byte-level BPE), as openai/CLIP simple_tokenizer.py does it.
 *
 * Owns: reading a CLIP tokenizer (vocab.json, merges.txt, and the pad token from
 * special_tokens_map.json / tokenizer_config.json), cleaning a prompt the way CLIP does, and turning
 * it into the fixed-length id sequence the text encoder takes. Leaves to others: the text encoder
 * (models/clip.c), prompt length limits (api/), counting usage (api/usage.c reports n_tokens).
 *
 *     ig_bpe *tok = NULL;
 *     int32_t ids[77];
 *     int n = 0;
 *     if (ig_bpe_load_dir(&tok, "model/tokenizer", &err) != IG_OK ||
 *         ig_bpe_encode(tok, prompt, ids, 77, ig_bpe_pad_id(tok), &n, &err) != IG_OK) ...;
 *     ig_bpe_free(tok);
 *
 * What encode does, step by step (simple_tokenizer.py with the golden set's ftfy stand-in):
 *   NFC (for ftfy.fix_text) -> html.unescape twice -> collapse whitespace runs to one space and
 *   strip -> str.lower() -> split with CLIP's pattern (<|startoftext|>, <|endoftext|>, 's 't 're 've
 *   'm 'll 'd, letter runs, single numbers, runs of anything else) -> each piece's UTF-8 bytes
 *   through bytes_to_unicode, "</w>" on the last symbol, BPE merges by rank -> ids.
 *   Output: [bos] + ids[:max_len-2] + [eos], then pad_id up to max_len.
 * The cleanup and the character classes live in bpe_text.c, with tables measured on the Python the
 * reference ran (3.11, unicodedata 14.0.0) and the `regex` module. Where we differ from it:
 *   - NFC leaves CJK compatibility ideographs (U+F900-U+FAFF, U+2F800-U+2FA1F) as they are.
 *   - Named HTML references: the HTML 4 set plus &apos; (259 names, with every legacy
 *     no-semicolon form); HTML5-only names (&check; ...) stay as written. Numeric references
 *     follow Python's html.unescape exactly.
 *   - Code points assigned after Unicode 14 lower-case and normalize as themselves.
 * Everything else (pattern classes, str.lower() with Final_Sigma and U+0130, whitespace, NFC
 * ordering and composition, contractions, special tokens) agrees with the Python reference on
 * 50000 random prompts across scripts, combining marks, entities and control characters.
 * Invalid UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated sequences) is an error.
 */
#ifndef IG_BPE_H
#define IG_BPE_H

#include <stdint.h>

#include "imagine.h"

#define IG_BPE_CONTEXT 77 /* CLIP's context length: bos + 75 tokens + eos */

typedef struct ig_bpe ig_bpe;

/* Loads vocab.json ({"token": id}, ids dense 0..n-1) and merges.txt (an optional "#version" first
 * line, then "left right" per line, rank = line order; at most CLIP's 48894 merges are read, as
 * simple_tokenizer.py and transformers' CLIPTokenizer do). The vocabulary must hold every byte
 * symbol (with and without "</w>"), every merge and its result, "<|startoftext|>" and
 * "<|endoftext|>". The pad id starts as the eos id. Errors name the file (and line or token).
 * Caller frees with ig_bpe_free. */
ig_status ig_bpe_load(ig_bpe **out, const char *vocab_json_path, const char *merges_path, ig_err *err);

/* The same from a diffusers tokenizer/ folder: dir/vocab.json, dir/merges.txt, and the pad token
 * from dir/special_tokens_map.json, else dir/tokenizer_config.json (transformers gives the former
 * precedence); "pad_token" may be a string or {"content": ...}. Neither file, or no pad_token:
 * pad = eos (SD 1.x). SD 2.x tokenizers say "!" (id 0). */
ig_status ig_bpe_load_dir(ig_bpe **out, const char *tokenizer_dir, ig_err *err);

void ig_bpe_free(ig_bpe *b); /* accepts NULL */

int32_t ig_bpe_bos_id(const ig_bpe *b);     /* "<|startoftext|>", 49406 for CLIP */
int32_t ig_bpe_eos_id(const ig_bpe *b);     /* "<|endoftext|>", 49407 for CLIP */
int32_t ig_bpe_pad_id(const ig_bpe *b);     /* see ig_bpe_load_dir */
/* Replaces the pad id, for models whose padding is not in a tokenizer folder (single-file SD 2.x
 * checkpoints: OpenCLIP pads with 0, "!"). Not while another thread encodes. */
ig_status ig_bpe_set_pad_id(ig_bpe *b, int32_t pad_id, ig_err *err);
int32_t ig_bpe_vocab_size(const ig_bpe *b); /* 49408 for CLIP */
/* Makes the one-character vocabulary token `ch` an added special token (as SDXL's tokenizer_2 config
 * makes "!"): each occurrence in a prompt becomes its id, the text between is encoded apart. For
 * tokenizers not read from a folder (single-file SDXL). Not while another thread encodes. */
ig_status ig_bpe_set_split_char(ig_bpe *b, char ch, ig_err *err);
/* The vocabulary string of id (byte-encoded, as in vocab.json), NULL when out of range; lives until
 * ig_bpe_free. */
const char *ig_bpe_token(const ig_bpe *b, int32_t id);

/* Tokenizes the NUL-terminated UTF-8 prompt into ids[0..max_len): bos, at most max_len - 2 BPE
 * tokens (the rest is dropped, as clip.tokenize(truncate=True) does), eos, then pad_id. *n_tokens
 * (may be NULL) gets the count before padding, bos and eos included (2..max_len): the usage figure.
 * max_len >= 2 (77 for every CLIP model); 0 <= pad_id < vocab size. On error ids are left as they
 * were. Reentrant: b is only read, so any number of threads may encode with one tokenizer. Time is
 * linear in the prompt (a 32000-byte prompt: about 1 ms; one 32000-letter word, the worst case:
 * under 10 ms); prompts of 256 MiB or more are refused. BPE stops after max_len - 2 tokens. */
ig_status ig_bpe_encode(const ig_bpe *b, const char *utf8, int32_t *ids, int max_len, int32_t pad_id, int *n_tokens,
                        ig_err *err);

#endif
