/* errors.c — error kinds → HTTP status, OpenAI `type` and default `code`; the error body (see errors.h).
 *
 * Owns: the table below, the one JSON string escaper of api/, and writing {"error":{...}} into a caller
 * buffer without allocating (the error path must work when memory is what ran out).
 * Leaves to others: choosing the kind and the message (request.c, server/), the SSE frame (response.c).
 *
 * Types and codes follow what OpenAI answers: invalid_request_error for anything the client got wrong
 * (including 401 and 404, as OpenAI does), "requests" + rate_limit_exceeded for 429, server_error for
 * 5xx, and image_generation_user_error + moderation_blocked for a prompt the safety filter refused.
 */
#include "api/errors.h"

#include <stdio.h>
#include <string.h>

#include "common.h"

static const struct {
    int http_status;
    const char *type;
    const char *code; /* default code; NULL is written as null */
} kinds[IG_API_ERR_COUNT_] = {
    [IG_API_ERR_INVALID_REQUEST] = {400, "invalid_request_error", NULL},
    [IG_API_ERR_MODERATION] = {400, "image_generation_user_error", "moderation_blocked"},
    [IG_API_ERR_AUTH_MISSING] = {401, "invalid_request_error", "missing_api_key"},
    [IG_API_ERR_AUTH_INVALID] = {401, "invalid_request_error", "invalid_api_key"},
    [IG_API_ERR_NOT_FOUND] = {404, "invalid_request_error", NULL},
    [IG_API_ERR_MODEL_NOT_FOUND] = {404, "invalid_request_error", "model_not_found"},
    [IG_API_ERR_METHOD] = {405, "invalid_request_error", "method_not_allowed"},
    [IG_API_ERR_TOO_LARGE] = {413, "invalid_request_error", "request_too_large"},
    [IG_API_ERR_RATE_LIMITED] = {429, "requests", "rate_limit_exceeded"},
    [IG_API_ERR_QUEUE_FULL] = {429, "requests", "queue_full"},
    [IG_API_ERR_SERVER] = {500, "server_error", NULL},
    [IG_API_ERR_UNAVAILABLE] = {503, "server_error", "server_shutting_down"},
    [IG_API_ERR_TIMEOUT] = {504, "server_error", "timeout"},
};

size_t ig__api_utf8_char_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

size_t ig__api_json_escape(const char *src, size_t len, char *dst, size_t dst_cap, size_t *dst_len) {
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;
    while (i < len) {
        char tmp[8];
        const char *piece = tmp;
        size_t piece_len, used = 1;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, piece_len = 2;
        } else if (c < 0x20) {
            static const char short_esc[] = "btn\0fr"; /* \b \t \n and \f \r; 0x0b has no short form */
            if (c >= 8 && c <= 13 && short_esc[c - 8]) tmp[0] = '\\', tmp[1] = short_esc[c - 8], piece_len = 2;
            else piece_len = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else if (c < 0x80) {
            tmp[0] = (char)c, piece_len = 1;
        } else if ((used = ig__api_utf8_char_len(s + i, len - i)) != 0) {
            piece = (const char *)s + i, piece_len = used;
        } else {
            piece = "\xEF\xBF\xBD", piece_len = 3, used = 1; /* U+FFFD for each invalid byte */
        }
        if (o + piece_len > dst_cap) break;
        memcpy(dst + o, piece, piece_len);
        o += piece_len;
        i += used;
    }
    *dst_len = o;
    return i;
}

void ig__api_clip(char *dst, size_t cap, const char *s) {
    size_t n = strlen(s), keep = n;
    if (!cap) return;
    if (n >= cap) {
        keep = cap > 4 ? cap - 4 : cap - 1; /* room for "..." and the NUL */
        while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--;
    }
    memcpy(dst, s, keep);
    if (keep < n && cap > 4) memcpy(dst + keep, "...", 3), keep += 3;
    dst[keep] = 0;
}

ig_status ig_api_error_setv(ig_api_error *e, ig_api_error_kind kind, const char *param, const char *code,
                            const char *fmt, va_list ap) {
    int status;
    if ((unsigned)kind >= IG_API_ERR_COUNT_) kind = IG_API_ERR_SERVER;
    status = kinds[kind].http_status;
    if (e && e->http_status == 0) {
        char msg[IG_API_MESSAGE_MAX * 2];
        vsnprintf(msg, sizeof msg, fmt, ap);
        e->http_status = status;
        e->type = kinds[kind].type;
        ig__api_clip(e->message, sizeof e->message, msg);
        ig__api_clip(e->param, sizeof e->param, param ? param : "");
        ig__api_clip(e->code, sizeof e->code, code ? code : kinds[kind].code ? kinds[kind].code : "");
    }
    return status == 404 ? IG_ERR_NOT_FOUND : status >= 500 ? IG_ERR_BACKEND : IG_ERR_INVALID;
}

ig_status ig_api_error_set(ig_api_error *e, ig_api_error_kind kind, const char *param, const char *code,
                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ig_status st = ig_api_error_setv(e, kind, param, code, fmt, ap);
    va_end(ap);
    return st;
}

ig_status ig_api_error_from_status(ig_api_error *e, ig_status st, const char *msg) {
    if (st == IG_OK) return IG_OK;
    if (!msg || !*msg) msg = "no details";
    if (st == IG_ERR_INVALID || st == IG_ERR_UNSUPPORTED)
        ig_api_error_set(e, IG_API_ERR_INVALID_REQUEST, NULL, st == IG_ERR_UNSUPPORTED ? "unsupported" : NULL, "%s",
                         msg);
    else
        ig_api_error_set(e, IG_API_ERR_SERVER, NULL, st == IG_ERR_NOMEM ? "out_of_memory" : NULL,
                         "The server had an error while processing your request: %s", msg);
    return st;
}

int ig_api_error_kind_status(ig_api_error_kind kind) {
    return (unsigned)kind < IG_API_ERR_COUNT_ ? kinds[kind].http_status : 500;
}

/* snprintf-like appending: out counts the bytes the whole text needs, buf gets what fits. */
typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->len < o->cap) memcpy(o->buf + o->len, s, IG_MIN(n, o->cap - o->len));
    o->len += n;
}

static void put_str(out *o, const char *s) { put(o, s, strlen(s)); }

/* A JSON string, or null for NULL / "" when empty_is_null. Measures what does not fit by escaping
 * into a scratch buffer, so the returned length is exact either way. */
static void put_json_string(out *o, const char *s, int empty_is_null) {
    if (!s || (empty_is_null && !*s)) return put_str(o, "null");
    size_t len = strlen(s), done = 0;
    put(o, "\"", 1);
    while (done < len) {
        char tmp[256];
        size_t n;
        done += ig__api_json_escape(s + done, len - done, tmp, sizeof tmp, &n);
        put(o, tmp, n);
    }
    put(o, "\"", 1);
}

static void put_object(out *o, const ig_api_error *e) {
    int recorded = e && e->http_status;
    put_str(o, "{\"message\":");
    put_json_string(o, recorded ? e->message : "The server had an error while processing your request.", 0);
    put_str(o, ",\"type\":");
    put_json_string(o, recorded && e->type ? e->type : "server_error", 0);
    put_str(o, ",\"param\":");
    put_json_string(o, recorded ? e->param : NULL, 1);
    put_str(o, ",\"code\":");
    put_json_string(o, recorded ? e->code : NULL, 1);
    put_str(o, "}");
}

static size_t finish(out *o) {
    if (o->cap) o->buf[o->len < o->cap ? o->len : o->cap - 1] = 0;
    return o->len;
}

size_t ig_api_error_object_json(const ig_api_error *e, char *buf, size_t cap) {
    out o = {buf, cap, 0};
    put_object(&o, e);
    return finish(&o);
}

size_t ig_api_error_body_json(const ig_api_error *e, char *buf, size_t cap) {
    out o = {buf, cap, 0};
    put_str(&o, "{\"error\":");
    put_object(&o, e);
    put_str(&o, "}");
    return finish(&o);
}
