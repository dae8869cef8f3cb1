/* errors.h — the one place that maps a failure to an HTTP status and OpenAI's error body
 *
 *     {"error":{"message":"...","type":"invalid_request_error","param":"n","code":"integer_above_max_value"}}
 *
 * Owns: the error kinds the API can answer with, their HTTP status, `type` and default `code`; the
 * mapping from an ig_status (engine, pipeline, encoder failures) to one of them; writing the body.
 * Leaves to others: sending it (server/), the SSE `event: error` frame around the object (response.c).
 *
 *     ig_api_error e = {0};
 *     ig_api_error_set(&e, IG_API_ERR_INVALID_REQUEST, "n", "integer_above_max_value", "Invalid 'n': ...");
 *     char body[IG_API_ERROR_JSON_MAX];
 *     ig_api_error_body_json(&e, body, sizeof body);   // always fits: no allocation on the error path
 *     respond(e.http_status, body);
 */
#ifndef IG_API_ERRORS_H
#define IG_API_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

#include "imagine.h"

typedef enum ig_api_error_kind {
    IG_API_ERR_INVALID_REQUEST, /* 400 invalid_request_error: a bad body, field or value */
    IG_API_ERR_MODERATION,      /* 400 image_generation_user_error, code moderation_blocked (OpenAI's pair) */
    IG_API_ERR_AUTH_MISSING,    /* 401 invalid_request_error, code missing_api_key: no Bearer header */
    IG_API_ERR_AUTH_INVALID,    /* 401 invalid_request_error, code invalid_api_key */
    IG_API_ERR_NOT_FOUND,       /* 404 invalid_request_error: no such route (OpenAI's "Invalid URL") */
    IG_API_ERR_MODEL_NOT_FOUND, /* 404 invalid_request_error, code model_not_found */
    IG_API_ERR_METHOD,          /* 405 invalid_request_error, code method_not_allowed */
    IG_API_ERR_TOO_LARGE,       /* 413 invalid_request_error, code request_too_large */
    IG_API_ERR_RATE_LIMITED,    /* 429 requests, code rate_limit_exceeded (OpenAI's type for request limits) */
    IG_API_ERR_QUEUE_FULL,      /* 429 requests, code queue_full: send Retry-After (retry_after_s) */
    IG_API_ERR_SERVER,          /* 500 server_error: the engine, pipeline or an encoder failed */
    IG_API_ERR_UNAVAILABLE,     /* 503 server_error, code server_shutting_down: refused during shutdown */
    IG_API_ERR_TIMEOUT,         /* 504 server_error, code timeout: the generation ran past its deadline */
    IG_API_ERR_COUNT_
} ig_api_error_kind;

#define IG_API_MESSAGE_MAX 1024
#define IG_API_PARAM_MAX 128
#define IG_API_CODE_MAX 48

/* A zeroed struct means "no error yet". The first ig_api_error_set wins (sticky, like ig__fail), so a
 * validator can report the first problem it meets and keep going without overwriting it. */
typedef struct ig_api_error {
    int http_status;                 /* 0 while no error is recorded */
    const char *type;                /* static string: "invalid_request_error", "server_error", ... */
    char message[IG_API_MESSAGE_MAX];
    char param[IG_API_PARAM_MAX];    /* "" is written as null */
    char code[IG_API_CODE_MAX];      /* "" is written as null */
    int retry_after_s;               /* >0: the server sends Retry-After with 429/503 */
} ig_api_error;

/* Records the first error: kind decides http_status and type; param (NULL or "" for none) names the
 * body field; code NULL takes the kind's default code. Strings longer than the fields are cut at a
 * UTF-8 character boundary. Returns the ig_status a C caller would return for it: IG_ERR_NOT_FOUND for
 * the 404 kinds, IG_ERR_BACKEND for 5xx, IG_ERR_INVALID for the other 4xx. */
ig_status ig_api_error_set(ig_api_error *e, ig_api_error_kind kind, const char *param, const char *code,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
ig_status ig_api_error_setv(ig_api_error *e, ig_api_error_kind kind, const char *param, const char *code,
                            const char *fmt, va_list ap);

/* For failures after validation (generation, encoding, storing): IG_ERR_INVALID and IG_ERR_UNSUPPORTED
 * become a 400 (the request asked for something this server cannot do), every other status a 500
 * server_error whose message carries msg (code "out_of_memory" for IG_ERR_NOMEM). Sticky like
 * ig_api_error_set. IG_OK records nothing. */
ig_status ig_api_error_from_status(ig_api_error *e, ig_status st, const char *msg);

int ig_api_error_kind_status(ig_api_error_kind kind); /* the HTTP status of a kind */

/* A buffer of this size always holds the bodies below (message, param and code fully escaped). */
#define IG_API_ERROR_JSON_MAX 8192

/* Both write into the caller's buffer with snprintf's contract: at most cap bytes including the
 * terminating NUL, and they return the length the whole text needs (excluding the NUL); nothing is
 * allocated. The object is {"message":...,"type":...,"param":...,"code":...}; the body wraps it as
 * {"error":<object>}. An e with no error recorded is written as a 500 server_error. */
size_t ig_api_error_object_json(const ig_api_error *e, char *buf, size_t cap);
size_t ig_api_error_body_json(const ig_api_error *e, char *buf, size_t cap);

/* Escapes src[0..len) as the inside of a JSON string (no quotes) into dst, writing at most dst_cap
 * bytes and never splitting an escape or a character; returns how many bytes of src it consumed and
 * sets *dst_len. Invalid UTF-8 becomes U+FFFD, so the output is always valid JSON. Shared with
 * response.c's streaming writer, so there is one escaper. */
size_t ig__api_json_escape(const char *src, size_t len, char *dst, size_t dst_cap, size_t *dst_len);

/* Length of the valid UTF-8 character at s[0..n) (n >= 1), or 0 when it is not one: overlong forms,
 * UTF-16 surrogates and code points past U+10FFFF are refused, per RFC 3629. */
size_t ig__api_utf8_char_len(const unsigned char *s, size_t n);

/* Copies at most cap-1 bytes of s (a C string) into dst, cut at a UTF-8 character boundary and
 * NUL-terminated; when s was cut and the room allows, "..." marks it. For echoing a client's value in
 * a message without letting it fill the message. */
void ig__api_clip(char *dst, size_t cap, const char *s);

#endif
