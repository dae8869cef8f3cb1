/* multipart.h — multipart/form-data bodies (RFC 7578 over RFC 2046) → named parts, without copying
 *
 * Owns: the boundary parameter of a Content-Type header, the body's framing (delimiter lines, part
 * headers, the close delimiter), each part's Content-Disposition name/filename and Content-Type, and
 * the error for the first malformed byte (sticky, like the JSON scan: the first failure is kept and
 * every later read is a no-op). Leaves to others: what the parts mean (edits.c), decoding images
 * (image/), HTTP framing and body limits (server/).
 *
 *     char boundary[IG_MP_BOUNDARY_MAX + 1];
 *     ig_multipart *mp = calloc(1, sizeof *mp);
 *     if (ig_multipart_boundary(content_type, boundary, &err) == IG_OK &&
 *         ig_multipart_parse(body, len, boundary, mp, &err) == IG_OK)
 *         for (int i = 0; i < mp->n_parts; i++) use(mp->parts[i].name, mp->parts[i].data, mp->parts[i].len);
 *
 * What is accepted: an optional preamble before the first delimiter, CRLF line ends (what curl,
 * undici's FormData and the SDKs write; a bare LF is refused), transport padding (spaces, tabs) after
 * a delimiter, header names in any case, name/filename as quoted strings (backslash escapes) or bare
 * tokens, an epilogue after the close delimiter. Every part needs Content-Disposition: form-data with
 * a name. Errors are 400 invalid_request_error, code invalid_multipart, param the part's name once it
 * is known (so "the image part is truncated" names image).
 */
#ifndef IG_API_MULTIPART_H
#define IG_API_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/errors.h"

#define IG_MP_BOUNDARY_MAX 70 /* RFC 2046 */
#define IG_MP_MAX_PARTS 64    /* 16 images, a mask and every field, with room to spare */
#define IG_MP_NAME_MAX 128
#define IG_MP_FILENAME_MAX 256
#define IG_MP_TYPE_MAX 128
#define IG_MP_HEADERS_MAX 8192 /* bytes of one part's header block */

typedef struct ig_mp_part {
    char name[IG_MP_NAME_MAX];         /* Content-Disposition name, unescaped, NUL-terminated */
    char filename[IG_MP_FILENAME_MAX]; /* "" when absent */
    bool is_file;                      /* a filename parameter was present (even empty) */
    char content_type[IG_MP_TYPE_MAX]; /* the part's Content-Type, "" when absent */
    const uint8_t *data;               /* the content, pointing into the body */
    size_t len;
} ig_mp_part;

typedef struct ig_multipart {
    ig_mp_part parts[IG_MP_MAX_PARTS];
    int n_parts;
} ig_multipart;

/* The boundary of a "multipart/form-data; boundary=..." header (media type and parameter names in any
 * case, the value a token or a quoted string of 1..70 characters) into out[IG_MP_BOUNDARY_MAX + 1].
 * IG_ERR_INVALID (400, code invalid_content_type) for another media type or a missing/bad boundary. */
ig_status ig_multipart_boundary(const char *content_type, char *out, ig_api_error *err);

/* Splits body[0..len) into parts, in order. On failure out->n_parts is 0 and err holds a 400. */
ig_status ig_multipart_parse(const void *body, size_t len, const char *boundary, ig_multipart *out,
                             ig_api_error *err);

#endif
