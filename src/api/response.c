/* response.c — ImagesResponse JSON, usage and SSE frames (see response.h).
 *
 * Owns: a small buffered JSON writer over a sink (sticky status: after the sink fails every write is a
 * no-op), base64 straight from the encoded image, and the field order of the spec's examples.
 * Leaves to others: string escaping (errors.c's ig__api_json_escape, the one escaper), error bodies
 * (errors.c), what goes into the structs (server/, pipeline/).
 *
 * The JSON is written by hand rather than built with jansson: a 1536x1024 PNG is several MB, and a
 * json_t would hold its base64 twice (string and dump) before the first byte reached the client.
 */
#include "api/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- the growable buffer sink ----------------------------------------------------------------- */

ig_status ig_api_buf_sink(void *ctx, const void *data, size_t size_bytes) {
    ig_api_buf *b = ctx;
    if (size_bytes >= SIZE_MAX / 2 - b->len) return IG_ERR_NOMEM;
    if (b->len + size_bytes + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + size_bytes + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return IG_ERR_NOMEM;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, size_bytes);
    b->len += size_bytes;
    b->data[b->len] = 0;
    return IG_OK;
}

void ig_api_buf_free(ig_api_buf *buf) {
    if (!buf) return;
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

/* ---- usage ------------------------------------------------------------------------------------ */

int64_t ig_api_output_tokens(ig_quality tier, int width, int height) {
    int64_t g = tier == IG_QUALITY_LOW ? 64 : tier == IG_QUALITY_MEDIUM ? 32 : 16;
    if (width <= 0 || height <= 0) return 0;
    int64_t tiles_w = (width + g - 1) / g, tiles_h = (height + g - 1) / g;
    return (tiles_w + 1) * tiles_h; /* the +1 is on the width: 1536x1024 medium = 49·32 = 1568 */
}

ig_api_usage ig_api_usage_make(int64_t text_tokens, ig_quality tier, int width, int height, int n_images) {
    ig_api_usage u = {0};
    u.input_text_tokens = text_tokens > 0 ? text_tokens : 0;
    u.input_image_tokens = 0;
    u.input_tokens = u.input_text_tokens + u.input_image_tokens;
    u.output_tokens = ig_api_output_tokens(tier, width, height) * (n_images > 0 ? n_images : 0);
    u.total_tokens = u.input_tokens + u.output_tokens;
    return u;
}

/* ---- the writer ------------------------------------------------------------------------------- */

enum { WRITER_BUF = 4096 };

typedef struct writer {
    ig_api_sink sink;
    void *ctx;
    ig_status st;
    size_t len;
    char buf[WRITER_BUF];
} writer;

static void flush(writer *w) {
    if (w->st == IG_OK && w->len) w->st = w->sink(w->ctx, w->buf, w->len);
    w->len = 0;
}

static void put(writer *w, const char *s, size_t n) {
    while (n && w->st == IG_OK) {
        if (w->len == WRITER_BUF) flush(w);
        size_t k = IG_MIN(n, WRITER_BUF - w->len);
        memcpy(w->buf + w->len, s, k);
        w->len += k, s += k, n -= k;
    }
}

static void put_str(writer *w, const char *s) { put(w, s, strlen(s)); }

static void put_int(writer *w, int64_t x) {
    char tmp[24];
    put(w, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)x));
}

/* "key": — keys are ours, plain ASCII. */
static void put_key(writer *w, const char *key, bool first) {
    if (!first) put(w, ",", 1);
    put(w, "\"", 1);
    put_str(w, key);
    put(w, "\":", 2);
}

static void put_json_string(writer *w, const char *s) {
    size_t len = strlen(s), done = 0;
    put(w, "\"", 1);
    while (done < len && w->st == IG_OK) {
        size_t n;
        if (WRITER_BUF - w->len < 8) flush(w); /* any one escape or character fits in 8 */
        done += ig__api_json_escape(s + done, len - done, w->buf + w->len, WRITER_BUF - w->len, &n);
        w->len += n;
    }
    put(w, "\"", 1);
}

static void put_base64(writer *w, const unsigned char *b, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    put(w, "\"", 1);
    for (size_t i = 0; i < n && w->st == IG_OK; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        if (WRITER_BUF - w->len < 4) flush(w);
        char *o = w->buf + w->len;
        o[0] = tab[v >> 18 & 63];
        o[1] = tab[v >> 12 & 63];
        o[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        o[3] = i + 2 < n ? tab[v & 63] : '=';
        w->len += 4;
    }
    put(w, "\"", 1);
}

static void put_size(writer *w, int width, int height) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "\"%dx%d\"", width, height);
    put_str(w, tmp);
}

static void put_usage(writer *w, const ig_api_usage *u) {
    put(w, "{", 1);
    put_key(w, "input_tokens", true);
    put_int(w, u->input_tokens);
    put_key(w, "input_tokens_details", false);
    put_str(w, "{\"image_tokens\":");
    put_int(w, u->input_image_tokens);
    put_str(w, ",\"text_tokens\":");
    put_int(w, u->input_text_tokens);
    put(w, "}", 1);
    put_key(w, "output_tokens", false);
    put_int(w, u->output_tokens);
    put_key(w, "total_tokens", false);
    put_int(w, u->total_tokens);
    /* Optional in the spec; every output token of a generation is an image token. */
    put_key(w, "output_tokens_details", false);
    put_str(w, "{\"image_tokens\":");
    put_int(w, u->output_tokens);
    put_str(w, ",\"text_tokens\":0}");
    put(w, "}", 1);
}

static bool valid_meta(ig_background bg, ig_output_format fmt, ig_quality q, int width, int height) {
    return (bg == IG_BACKGROUND_OPAQUE || bg == IG_BACKGROUND_TRANSPARENT) && ig_api_output_format_name(fmt) &&
           (q == IG_QUALITY_LOW || q == IG_QUALITY_MEDIUM || q == IG_QUALITY_HIGH) && width > 0 && height > 0;
}

static ig_status finish(writer *w) {
    flush(w);
    return w->st;
}

ig_status ig_api_write_response(const ig_api_result *res, ig_api_sink sink, void *ctx) {
    writer wr = {.sink = sink, .ctx = ctx}, *w = &wr;
    if (!res || !sink || !valid_meta(res->background, res->output_format, res->quality, res->width, res->height) ||
        (res->n_images && !res->images))
        return IG_ERR_INVALID;
    put(w, "{", 1);
    put_key(w, "created", true);
    put_int(w, res->created);
    put_key(w, "background", false);
    put_json_string(w, ig_api_background_name(res->background));
    put_key(w, "data", false);
    put(w, "[", 1);
    for (size_t i = 0; i < res->n_images; i++) {
        const ig_api_image *img = &res->images[i];
        bool first = true;
        put_str(w, i ? ",{" : "{");
        if (img->bytes) {
            put_key(w, "b64_json", first);
            put_base64(w, img->bytes, img->n_bytes);
            first = false;
        }
        if (img->revised_prompt) {
            put_key(w, "revised_prompt", first);
            put_json_string(w, img->revised_prompt);
            first = false;
        }
        if (img->url) {
            put_key(w, "url", first);
            put_json_string(w, img->url);
        }
        put(w, "}", 1);
    }
    put(w, "]", 1);
    put_key(w, "output_format", false);
    put_json_string(w, ig_api_output_format_name(res->output_format));
    put_key(w, "quality", false);
    put_json_string(w, ig_api_quality_name(res->quality));
    put_key(w, "size", false);
    put_size(w, res->width, res->height);
    if (res->has_seed) {
        put_key(w, "seed", false);
        put_int(w, (int64_t)res->seed); /* ≤ 2^53 - 1 (request.h) */
    }
    if (res->usage) {
        put_key(w, "usage", false);
        put_usage(w, res->usage);
    }
    put(w, "}", 1);
    return finish(w);
}

ig_status ig_api_write_event(const ig_api_event *ev, ig_api_sink sink, void *ctx) {
    writer wr = {.sink = sink, .ctx = ctx}, *w = &wr;
    const char *type;
    if (!ev || !sink || !valid_meta(ev->background, ev->output_format, ev->quality, ev->width, ev->height) ||
        (ev->type != IG_API_EVENT_PARTIAL_IMAGE && ev->type != IG_API_EVENT_COMPLETED))
        return IG_ERR_INVALID;
    if (ev->edit) type = ev->type == IG_API_EVENT_COMPLETED ? "image_edit.completed" : "image_edit.partial_image";
    else type = ev->type == IG_API_EVENT_COMPLETED ? "image_generation.completed" : "image_generation.partial_image";
    put_str(w, "event: ");
    put_str(w, type);
    put_str(w, "\ndata: {");
    put_key(w, "type", true);
    put_json_string(w, type);
    put_key(w, "b64_json", false);
    put_base64(w, ev->bytes ? ev->bytes : (const void *)"", ev->bytes ? ev->n_bytes : 0);
    put_key(w, "background", false);
    put_json_string(w, ig_api_background_name(ev->background));
    put_key(w, "created_at", false);
    put_int(w, ev->created_at);
    put_key(w, "output_format", false);
    put_json_string(w, ig_api_output_format_name(ev->output_format));
    if (ev->type == IG_API_EVENT_PARTIAL_IMAGE) {
        put_key(w, "partial_image_index", false);
        put_int(w, ev->partial_image_index);
    }
    put_key(w, "quality", false);
    put_json_string(w, ig_api_quality_name(ev->quality));
    put_key(w, "size", false);
    put_size(w, ev->width, ev->height);
    if (ev->type == IG_API_EVENT_COMPLETED && ev->usage) {
        put_key(w, "usage", false);
        put_usage(w, ev->usage);
    }
    put_str(w, "}\n\n");
    return finish(w);
}

ig_status ig_api_write_error_event(const ig_api_error *err, ig_api_sink sink, void *ctx) {
    char obj[IG_API_ERROR_JSON_MAX];
    static const char head[] = "event: error\ndata: {\"type\":\"error\",\"error\":";
    ig_status st = IG_ERR_INVALID;
    size_t n;
    if (!sink) goto done;
    n = ig_api_error_object_json(err, obj, sizeof obj);
    IG_ASSERT(n < sizeof obj); /* IG_API_ERROR_JSON_MAX is sized for the longest escaped fields */
    if ((st = sink(ctx, head, sizeof head - 1)) != IG_OK) goto done;
    if ((st = sink(ctx, obj, n)) != IG_OK) goto done;
    st = sink(ctx, "}\n\n", 3);
done:
    return st;
}
