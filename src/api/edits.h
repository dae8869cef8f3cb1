/* edits.h — POST /v1/images/edits and /v1/images/variations: a multipart/form-data body → a validated
 * ig_request with its input image (and mask) decoded.
 *
 * Owns: which parts are images (image, image[] up to 16; mask on edits), their size limits and
 * decoding, typing the text parts (request.c validates them with the JSON route's rules and messages),
 * duplicate fields, the mask's size, size "auto" from the input, and the default strength.
 * Leaves to others: multipart framing (multipart.c), field rules (request.c), the body limit before
 * reading (server/), generating (the library).
 *
 * Rules (README "Edits and variations" repeats them):
 *   image / image[]     1..16 PNG, JPEG or WebP files of at most 50 MiB each (over: 400 param image,
 *                       code image_too_large); each is checked to be an image of at most
 *                       IG_API_MAX_INPUT_PIXELS; the first is edited, the others are checked and then
 *                       unused (README), never silently: the response says nothing else, the log does.
 *                       "image" and "image[]" are one parameter: both in one body, or "image" twice, is
 *                       a 400 duplicate_parameter.
 *   mask                (edits) one image the size of the first image; alpha 0 (or black, without
 *                       alpha) marks what is repainted. Another size: 400 param mask.
 *   text fields         as request.h, typed from their text: integers ("2"), numbers ("0.5"), booleans
 *                       ("true"/"false"); anything else stays a string (then an invalid_type error). A
 *                       field given twice: 400 duplicate_parameter.
 *   strength            absent: edits without mask 0.7 (input_fidelity low, the default) or 0.4 (high);
 *                       with a mask 1.0 (low) or 0.8 (high) — the masked area is drawn anew, as diffusers'
 *                       inpainting does by default; variations 0.6 with an empty prompt.
 *   size auto           the input's aspect: its own size when both sides are in [64, 2048], else scaled
 *                       to fit, sides rounded to multiples of 8.
 */
#ifndef IG_API_EDITS_H
#define IG_API_EDITS_H

#include "api/request.h"

#define IG_API_MAX_IMAGES 16
#define IG_API_MAX_IMAGE_BYTES ((size_t)50 << 20)
/* What an edits body may hold: 16 images at the limit and the text fields. A longer body is a 413. */
#define IG_API_MAX_EDIT_BODY_BYTES (IG_API_MAX_IMAGES * IG_API_MAX_IMAGE_BYTES + ((size_t)1 << 20))
/* Decoded input pixels (8192x8192): the decompression-bomb bound, far above any model's native size. */
#define IG_API_MAX_INPUT_PIXELS ((int64_t)8192 * 8192)

#define IG_API_STRENGTH_EDIT_LOW 0.7f
#define IG_API_STRENGTH_EDIT_HIGH 0.4f
#define IG_API_STRENGTH_INPAINT_LOW 1.0f
#define IG_API_STRENGTH_INPAINT_HIGH 0.8f
#define IG_API_STRENGTH_VARIATION 0.6f

/* content_type: the request's Content-Type header (NULL: none). route: EDITS or VARIATIONS. limits'
 * max_body_bytes defaults to IG_API_MAX_EDIT_BODY_BYTES here. Errors as ig_api_parse_request. */
ig_status ig_api_parse_edit(ig_api_route route, const char *content_type, const void *body, size_t len,
                            const ig_api_limits *limits, const ig_api_models *models, ig_request *out,
                            ig_api_error *error);

#endif
