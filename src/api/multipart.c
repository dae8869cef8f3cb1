/* multipart.c — multipart/form-data framing (rules: multipart.h's top comment).
 *
 * Owns: a byte cursor with a sticky error, the delimiter search (memmem for "\r\n--boundary"), the
 * header block of each part and its Content-Disposition parameters. Leaves to others: what parts mean.
 */
#include "api/multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common.h"

typedef struct cursor {
    const uint8_t *s;
    size_t len, pos;
    ig_api_error *err;
    ig_status st;          /* the first failure; every read after it is a no-op */
    const char *param;     /* the part being read, for the error's param */
} cursor;

static bool fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(cursor *c, const char *fmt, ...) {
    va_list ap;
    if (c->st) return false;
    va_start(ap, fmt);
    c->st = ig_api_error_setv(c->err, IG_API_ERR_INVALID_REQUEST, c->param && *c->param ? c->param : NULL,
                              "invalid_multipart", fmt, ap);
    va_end(ap);
    return false;
}

static bool eat(cursor *c, const char *lit) {
    const size_t n = strlen(lit);
    if (c->st || c->len - c->pos < n || memcmp(c->s + c->pos, lit, n)) return false;
    c->pos += n;
    return true;
}

static void eat_padding(cursor *c) {
    while (!c->st && c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t')) c->pos++;
}

/* ---- the Content-Type header --------------------------------------------------------------------- */

static bool is_tchar(unsigned char ch) { /* RFC 9110 token characters */
    return ch > 0x20 && ch < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

/* RFC 2046 bchars: what a boundary may hold (a space, but not as its last character). */
static bool is_bchar(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || strchr("'()+_,-./:=? ", ch);
}

/* Reads a parameter value (token or quoted string) at *p into out (cap bytes, NUL-terminated);
 * false when it is malformed or too long. */
static bool param_value(const char **p, char *out, size_t cap) {
    const char *s = *p;
    size_t o = 0;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1]) s++;
            if ((unsigned char)*s < 0x20 && *s != '\t') return false;
            if (o + 1 >= cap) return false;
            out[o++] = *s;
        }
        if (*s != '"') return false;
        s++;
    } else {
        for (; is_tchar((unsigned char)*s); s++) {
            if (o + 1 >= cap) return false;
            out[o++] = *s;
        }
        if (!o) return false;
    }
    out[o] = 0;
    *p = s;
    return true;
}

ig_status ig_multipart_boundary(const char *ct, char *out, ig_api_error *err) {
    static const char type[] = "multipart/form-data";
    const char *p = ct;
    char name[32], value[IG_MP_BOUNDARY_MAX + 2];
    out[0] = 0;
    if (!p || strncasecmp(p, type, sizeof type - 1) || (p[sizeof type - 1] && !strchr(" \t;", p[sizeof type - 1])))
        return ig_api_error_set(err, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_content_type",
                                "This endpoint takes a multipart/form-data body (Content-Type: multipart/form-data; "
                                "boundary=...), as the OpenAI SDKs and curl -F send it.");
    p += sizeof type - 1;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (*p++ != ';') goto bad;
        while (*p == ' ' || *p == '\t') p++;
        size_t n = 0;
        while (is_tchar((unsigned char)p[n]) && p[n] != '=') n++;
        if (!n || p[n] != '=' || n >= sizeof name) goto bad;
        memcpy(name, p, n), name[n] = 0;
        p += n + 1;
        if (!param_value(&p, value, sizeof value)) goto bad;
        if (strcasecmp(name, "boundary")) continue;
        if (out[0]) goto bad; /* given twice */
        n = strlen(value);
        if (n < 1 || n > IG_MP_BOUNDARY_MAX || value[n - 1] == ' ') goto bad;
        for (size_t i = 0; i < n; i++)
            if (!is_bchar((unsigned char)value[i])) goto bad;
        memcpy(out, value, n + 1);
    }
    if (out[0]) return IG_OK;
bad:
    out[0] = 0;
    return ig_api_error_set(err, IG_API_ERR_INVALID_REQUEST, NULL, "invalid_content_type",
                            "The Content-Type header has no valid boundary parameter: expected multipart/form-data; "
                            "boundary=... with 1 to %d characters.",
                            IG_MP_BOUNDARY_MAX);
}

/* ---- part headers ------------------------------------------------------------------------------ */

/* Content-Disposition: form-data; name="x"; filename="y" */
static bool disposition(cursor *c, const char *v, ig_mp_part *part, bool *has_name) {
    char pname[32], value[IG_MP_FILENAME_MAX];
    const char *p = v;
    if (strncasecmp(p, "form-data", 9) || (p[9] && !strchr(" \t;", p[9])))
        return fail(c, "A part's Content-Disposition is not form-data.");
    p += 9;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (*p++ != ';') return fail(c, "A part's Content-Disposition is malformed.");
        while (*p == ' ' || *p == '\t') p++;
        size_t n = 0;
        while (is_tchar((unsigned char)p[n]) && p[n] != '=') n++;
        if (!n || p[n] != '=' || n >= sizeof pname) return fail(c, "A part's Content-Disposition is malformed.");
        memcpy(pname, p, n), pname[n] = 0;
        p += n + 1;
        if (!param_value(&p, value, sizeof value))
            return fail(c, "A part's Content-Disposition has a malformed or too long (over %d bytes) parameter.",
                        IG_MP_FILENAME_MAX - 1);
        if (!strcasecmp(pname, "name")) {
            if (*has_name) return fail(c, "A part's Content-Disposition names it twice.");
            if (strlen(value) >= IG_MP_NAME_MAX) return fail(c, "A part's name is longer than %d bytes.", IG_MP_NAME_MAX - 1);
            memcpy(part->name, value, strlen(value) + 1);
            *has_name = true;
            c->param = part->name;
        } else if (!strcasecmp(pname, "filename")) {
            memcpy(part->filename, value, strlen(value) + 1);
            part->is_file = true;
        } /* filename* (RFC 5987) and others: ignored, as RFC 7578 asks of senders */
    }
    return true;
}

/* The header block of one part, up to and including its empty line. */
static bool headers(cursor *c, ig_mp_part *part) {
    char line[IG_MP_HEADERS_MAX];
    size_t total = 0;
    bool has_name = false, has_disposition = false;
    for (;;) {
        if (c->st) return false;
        const uint8_t *start = c->s + c->pos, *nl = memchr(start, '\n', c->len - c->pos);
        if (!nl) return fail(c, "The body ends inside a part's headers.");
        size_t n = (size_t)(nl - start);
        if (!n || start[n - 1] != '\r') return fail(c, "A part's header line does not end with CRLF.");
        n--;
        total += n + 2;
        if (total > IG_MP_HEADERS_MAX || n >= sizeof line)
            return fail(c, "A part's headers are longer than %d bytes.", IG_MP_HEADERS_MAX);
        c->pos += n + 2;
        if (!n) break; /* the empty line */
        memcpy(line, start, n), line[n] = 0;
        if (memchr(line, 0, n)) return fail(c, "A part's header contains a NUL byte.");
        char *colon = strchr(line, ':'), *v;
        if (!colon || colon == line) return fail(c, "A part's header line has no name.");
        *colon = 0;
        for (char *k = line; *k; k++)
            if (!is_tchar((unsigned char)*k)) return fail(c, "A part's header name is malformed.");
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {}
        for (size_t e = strlen(v); e && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--) v[e - 1] = 0;
        if (!strcasecmp(line, "Content-Disposition")) {
            if (has_disposition) return fail(c, "A part has two Content-Disposition headers.");
            has_disposition = true;
            if (!disposition(c, v, part, &has_name)) return false;
        } else if (!strcasecmp(line, "Content-Type")) {
            ig__api_clip(part->content_type, sizeof part->content_type, v);
        }
    }
    if (!has_disposition || !has_name)
        return fail(c, "A part has no Content-Disposition: form-data header with a name.");
    return true;
}

/* ---- the body ---------------------------------------------------------------------------------- */

ig_status ig_multipart_parse(const void *body, size_t len, const char *boundary, ig_multipart *out,
                             ig_api_error *err) {
    cursor c = {.s = body ? body : (const void *)"", .len = body ? len : 0, .err = err};
    char delim[IG_MP_BOUNDARY_MAX + 5]; /* "\r\n--" + boundary */
    const size_t blen = boundary ? strlen(boundary) : 0;
    IG_ASSERT(out);
    out->n_parts = 0;
    if (!blen || blen > IG_MP_BOUNDARY_MAX) {
        fail(&c, "The multipart boundary is empty or longer than %d characters.", IG_MP_BOUNDARY_MAX);
        goto done;
    }
    snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const size_t dlen = blen + 4;

    /* the first delimiter: at the very start, or after a preamble that ends in CRLF */
    if (c.len >= dlen - 2 && !memcmp(c.s, delim + 2, dlen - 2)) c.pos = dlen - 2;
    else {
        const uint8_t *d = memmem(c.s, c.len, delim, dlen);
        if (!d) {
            fail(&c, c.len ? "The body has no line with the multipart boundary given in Content-Type."
                           : "The request body is empty.");
            goto done;
        }
        c.pos = (size_t)(d - c.s) + dlen;
    }
    for (;;) {
        c.param = NULL;
        if (eat(&c, "--")) break; /* the close delimiter; what follows is an epilogue */
        eat_padding(&c);
        if (!eat(&c, "\r\n")) {
            fail(&c, c.pos >= c.len ? "The body ends after a boundary line, without the closing boundary (--%s--)."
                                    : "A boundary line is followed by something other than a line end.",
                 boundary);
            goto done;
        }
        if (out->n_parts == IG_MP_MAX_PARTS) {
            fail(&c, "The body has more than %d parts.", IG_MP_MAX_PARTS);
            goto done;
        }
        ig_mp_part *part = &out->parts[out->n_parts];
        memset(part, 0, sizeof *part);
        if (!headers(&c, part)) goto done;
        const uint8_t *d = memmem(c.s + c.pos, c.len - c.pos, delim, dlen);
        if (!d) {
            fail(&c, "The body ends inside the part '%.60s' (truncated upload, or no closing boundary).", part->name);
            goto done;
        }
        part->data = c.s + c.pos;
        part->len = (size_t)(d - part->data);
        c.pos = (size_t)(d - c.s) + dlen;
        out->n_parts++;
    }
    if (!out->n_parts) fail(&c, "The multipart body has no parts.");
done:
    if (c.st) out->n_parts = 0;
    return c.st;
}
