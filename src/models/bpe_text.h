/* bpe_text.h — CLIP's prompt cleanup and the Unicode classes its pre-tokenizer needs; internal to
 * models/bpe.c (ig__ names).
 *
 * Owns: strict UTF-8 decoding, NFC, HTML unescaping, whitespace collapsing, Python's str.lower(),
 * and the letter/number classes of CLIP's regex, all from tables in bpe_text_data.h (generated
 * from Python 3.11 / unicodedata 14.0.0, what the golden reference ran, and the `regex` module).
 * Leaves to bpe.c: the pattern itself, BPE, ids.
 */
#ifndef IG_BPE_TEXT_H
#define IG_BPE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imagine.h"

/* A growable array of code points; free p with free(). A failed allocation is sticky in oom. */
typedef struct ig__cps {
    uint32_t *p;
    size_t n, cap;
    bool oom;
} ig__cps;

/* simple_tokenizer.py's whitespace_clean(basic_clean(text)).lower() with ftfy.fix_text = NFC:
 * NFC -> html.unescape twice -> str.isspace() runs to one ' ', stripped -> str.lower(). text is
 * NUL-terminated UTF-8; invalid UTF-8 (overlong, surrogate, > U+10FFFF, truncated) is
 * IG_ERR_INVALID with the byte offset. out is overwritten (its buffer reused); tmp is scratch,
 * both owned by the caller. Deviations from Python: see bpe.h. */
ig_status ig__bpe_clean(const char *text, ig__cps *out, ig__cps *tmp, ig_err *err);

/* How CLIP's pattern (compiled with re.IGNORECASE) sees one code point of cleaned text. */
enum { IG__CL_OTHER, IG__CL_LETTER, IG__CL_NUMBER, IG__CL_SKIP /* \s, and U+0345 */ };
int ig__bpe_char_class(uint32_t c);

/* Writes c (<= U+10FFFF) as UTF-8 into o (room for 4), returns the byte count. */
size_t ig__utf8_put(uint8_t *o, uint32_t c);

#endif
