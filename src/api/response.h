/* response.h — success bodies, usage figures and SSE frames of /v1/images/generations
 *
 * Owns: the JSON of ImagesResponse (key order as the spec's example), OpenAI's output-token table, the
 * `event:` + `data:` frames of a stream (issue 4 item 3, spec/CLIENTS.md), and base64 of the encoded
 * image written straight into the sink (no b64 copy of a multi-megabyte image is ever held).
 * Leaves to others: the images' bytes (image/), url storage (server/), headers and chunking (server/).
 *
 *     ig_api_buf buf = {0};
 *     ig_api_image img = {.bytes = png, .n_bytes = png_len, .revised_prompt = req.prompt};
 *     ig_api_usage u = ig_api_usage_make(clip_tokens, req.quality_tier, req.width, req.height, 1);
 *     ig_api_result res = {.created = time(NULL), .background = IG_BACKGROUND_OPAQUE, .output_format =
 *                          req.output_format, .quality = req.quality_tier, .width = req.width,
 *                          .height = req.height, .images = &img, .n_images = 1, .usage = &u};
 *     if (ig_api_write_response(&res, ig_api_buf_sink, &buf) == IG_OK) send(buf.data, buf.len);
 *     ig_api_buf_free(&buf);
 */
#ifndef IG_API_RESPONSE_H
#define IG_API_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/errors.h"
#include "api/request.h"

/* Where writers put their bytes, in order, a few KB at a time. A status other than IG_OK (a client that
 * went away) stops the writer, which returns that status. */
typedef ig_status (*ig_api_sink)(void *ctx, const void *data, size_t size_bytes);

/* A growable buffer and its sink: data is NUL-terminated after each write (for tests and logs); the
 * caller frees it with ig_api_buf_free, which accepts NULL and zeroed buffers. */
typedef struct ig_api_buf {
    char *data;
    size_t len, cap;
} ig_api_buf;
ig_status ig_api_buf_sink(void *ctx, const void *data, size_t size_bytes); /* ctx: ig_api_buf*; IG_ERR_NOMEM */
void ig_api_buf_free(ig_api_buf *buf);

typedef struct ig_api_usage {
    int64_t input_tokens;       /* = input_text_tokens + input_image_tokens */
    int64_t input_text_tokens;  /* CLIP tokens of the prompt (issue 4) */
    int64_t input_image_tokens; /* 0: generations take no input image */
    int64_t output_tokens;
    int64_t total_tokens;       /* input + output */
} ig_api_usage;

/* OpenAI's gpt-image-1 table, per image: (ceil(W/g) + 1) · ceil(H/g), g = 64, 32, 16 for low, medium,
 * high (1024x1024: 272, 1056, 4160; 1536x1024 medium 1568; 1024x1536 high 6240). The table only lists
 * sizes that g divides; for other WxH a started tile counts as a tile, so tokens never fall as pixels
 * rise. tier must be LOW, MEDIUM or HIGH (use ig_request.quality_tier); anything else counts as high.
 * Returns 0 for non-positive sides. */
int64_t ig_api_output_tokens(ig_quality tier, int width, int height);

/* Usage of a request that made n_images images of one size: output tokens add up per image, the prompt
 * is counted once (it is encoded once for the batch). */
ig_api_usage ig_api_usage_make(int64_t text_tokens, ig_quality tier, int width, int height, int n_images);

typedef struct ig_api_image {
    const void *bytes;          /* the encoded file (png/jpeg/webp), written as b64_json; NULL: none */
    size_t n_bytes;
    const char *url;            /* response_format=url: the absolute URL; NULL: none */
    const char *revised_prompt; /* NULL: the key is left out */
} ig_api_image;

typedef struct ig_api_result {
    int64_t created;                /* Unix seconds */
    ig_background background;       /* what was produced: OPAQUE or TRANSPARENT */
    ig_output_format output_format;
    ig_quality quality;             /* LOW, MEDIUM or HIGH (ig_request.quality_tier) */
    int width, height;              /* the size of every image */
    const ig_api_image *images;
    size_t n_images;
    const ig_api_usage *usage;      /* NULL: the key is left out */
    bool has_seed;                  /* the request's seed extension: "seed" is written after "size" */
    uint64_t seed;
} ig_api_result;

/* {"created":..,"background":..,"data":[{"b64_json":..,"revised_prompt":..,"url":..}],"output_format":..,
 * "quality":..,"size":"WxH"[,"seed":N],"usage":{"input_tokens":..,"input_tokens_details":{"image_tokens":..,
 * "text_tokens":..},"output_tokens":..,"total_tokens":..,"output_tokens_details":{"image_tokens":..,
 * "text_tokens":0}}} — one line, no trailing newline. IG_ERR_INVALID (nothing written) when background is
 * AUTO, quality is not a tier, or a side is not positive. */
ig_status ig_api_write_response(const ig_api_result *res, ig_api_sink sink, void *ctx);

typedef enum ig_api_event_type {
    IG_API_EVENT_PARTIAL_IMAGE, /* image_generation.partial_image */
    IG_API_EVENT_COMPLETED,     /* image_generation.completed */
} ig_api_event_type;

typedef struct ig_api_event {
    ig_api_event_type type;
    const void *bytes; /* the encoded image (preview or final), written as b64_json */
    size_t n_bytes;
    int64_t created_at; /* Unix seconds */
    ig_background background;
    ig_output_format output_format;
    ig_quality quality;
    int width, height;
    int partial_image_index;   /* partial events only: 0, 1, 2 */
    const ig_api_usage *usage; /* completed events only; NULL leaves it out */
    bool edit;                 /* /v1/images/edits: image_edit.partial_image / image_edit.completed */
} ig_api_event;

/* One SSE frame: "event: <type>\ndata: {"type":"<type>","b64_json":..,"background":..,"created_at":..,
 * "output_format":..,"partial_image_index":..,"quality":..,"size":..[,"usage":{..}]}\n\n". Both SDKs
 * dispatch on the data's "type", other SSE clients on "event:", so both carry it (spec/CLIENTS.md).
 * partial_image_index is written on partial events only, usage on completed ones only.
 * IG_ERR_INVALID (nothing written) on the same conditions as ig_api_write_response. */
ig_status ig_api_write_event(const ig_api_event *ev, ig_api_sink sink, void *ctx);

/* "event: error\ndata: {"type":"error","error":{"message":..,"type":..,"param":..,"code":..}}\n\n" for a
 * failure after the stream started; openai 6.x throws on the data's "error" key, 7.x on the event line
 * (spec/CLIENTS.md). An error before the first event is a plain JSON error with its status instead. */
ig_status ig_api_write_error_event(const ig_api_error *err, ig_api_sink sink, void *ctx);

#endif
