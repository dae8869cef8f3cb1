/* request.h — POST /v1/images/generations body → a validated ig_request (no JSON past this point)
 *
 * Owns: reading the body (jansson, duplicate keys and deep nesting refused, UTF-8 checked), every
 * field's type, range and default, model-name resolution, and the error for the first bad field.
 * Leaves to others: HTTP and auth (server/), what quality/style/moderation do to a generation
 * (pipeline/), encoding (image/), building responses (response.c).
 *
 *     ig_api_model models[] = {{.id = "sd15", .default_width = 512, .default_height = 512}};
 *     ig_api_alias aliases[] = {{"gpt-image-1", 0}, {"dall-e-3", 0}};
 *     ig_api_models m = {models, 1, aliases, 2, 0};
 *     ig_request req; ig_api_error err = {0};
 *     if (ig_api_parse_request(body, len, NULL, &m, &req, &err) != IG_OK) reply(err);   // see errors.h
 *     else { run(&req); ig_request_clear(&req); }
 *
 * Field rules (spec: ../shared/spec/openai-create-image.txt; issue 4 item 2). JSON null means "use the
 * default" for every optional field, because the Gradient SDK types allow null everywhere and both SDKs
 * forward it as written (spec/CLIENTS.md). Enumerated strings match exactly (case-sensitive), as OpenAI.
 *
 *   prompt              required string, 1..32000 characters counted as Unicode code points (Python's
 *                       len, which is how OpenAI counts; JS's .length would count an emoji twice).
 *                       The 32000 of the GPT image models applies to every model name: the 1000/4000
 *                       of dall-e-2/3 limit OpenAI's models, not ours (CLIP reads 77 tokens anyway).
 *   model               string: a loaded model's id, else an alias; default the server's default model.
 *                       Unknown → 404 model_not_found. The name picks the family (below).
 *   n                   integer 1..10, default 1. Integral floats (2.0, 1e1) count as integers, as
 *                       Python clients send them; 1.5 is an invalid_type. dall-e-3's n=1 rule is
 *                       OpenAI's capacity limit, not a contract a client relies on: we allow 1..10.
 *   size                "auto" (default), or "WxH" with both sides multiples of 8 in [64, 2048]: that
 *                       covers every listed size (256x256 ... 1792x1024). "auto" is the model's
 *                       default size from the table, or 1024x1024 (Gradient's example answer).
 *   quality             auto (default) | low | medium | high | standard | hd, for every model name.
 *                       quality_tier resolves it to low/medium/high, which the response reports and
 *                       usage is billed at: standard → medium, hd → high, auto → high (Gradient's
 *                       example: a default request reports "quality":"high", 4160 output tokens), but
 *                       auto → medium for dall-e-2/3 names, whose auto is "standard".
 *   style               vivid | natural; default none (no preset) except dall-e-3 names: vivid, OpenAI's
 *                       default there. Honoured for every model (a prompt/guidance preset).
 *   background          transparent | opaque | auto (default). transparent with output_format jpeg is a
 *                       400 naming background (the spec: "should be set to either png or webp").
 *   output_format       png (default) | jpeg | webp.
 *   output_compression  integer 0..100, default 100. Also accepted with png (the spec only says it is
 *                       meant for jpeg/webp); what png does with it is image/'s documented choice.
 *   response_format     b64_json | url. Default b64_json (the GPT models' behaviour and issue 4), but url
 *                       for dall-e-2/3 names, which is their spec default, so code written for DALL·E that
 *                       reads data[0].url keeps working. url also with GPT names (a self-hosted server can
 *                       serve files). With limits.url_unavailable: url is a 400, the dall-e default falls
 *                       back to b64_json. url with stream:true is a 400 (events carry b64_json only); a
 *                       url that only came from the dall-e default becomes b64_json when streaming.
 *   moderation          low | auto (default).
 *   stream              boolean, default false. Only JSON true/false; "true" or 1 is an invalid_type.
 *   partial_images      integer 0..3, default 0; accepted without stream and then unused. 0 with stream
 *                       sends only the final image (OpenAI's rule; Gradient's TS doc asks for >0).
 *   user                string ≤ 256 characters (code points), default "".
 *
 * Extension fields (what the SDKs send through extra_body; absent or null: the model's preset), on
 * every route unless noted, validated like the standard ones:
 *   seed                integer 0..2^53-1 (JavaScript's exact integers); the response repeats it, and
 *                       the same request with the same seed gives byte-identical images. Absent: random.
 *   negative_prompt     string ≤ max_prompt_chars; replaces the model's negative prompt ("" for none).
 *   steps               integer 1..150: sampler steps, instead of the quality tier's.
 *   guidance_scale      number 0..30: classifier-free guidance; ≤ 1 turns it off. Instead of the
 *                       model's (and of style's factor).
 *   sampler             euler | euler_a | dpmpp_2m_karras | lcm | turbo (imagine generate's names);
 *                       a sampler the model cannot run is refused where the model is known (server/).
 *   strength            number 0..1 (edits and variations): how far from the input image, 0 keeps
 *                       it, 1 draws anew; instead of the input_fidelity / variations default (edits.h).
 *   anything else       400 unknown_parameter naming it; image/mask/input_fidelity on generations say
 *                       they belong to /v1/images/edits.
 *
 * Routes (ig_api_route): generations take the fields above but strength/input_fidelity; edits
 * (api/edits.h) take prompt, model, n, size, quality, background, output_format, output_compression,
 * response_format, stream, partial_images, user, input_fidelity and the extensions; variations take
 * model, n, size, response_format, user and the extensions. A field of another route is unknown here.
 *
 * Family: the model name the client wrote decides defaults, so OpenAI code behaves as it did there:
 * "dall-e-2", "dall-e-3", any "gpt-image*", else native (the server's own ids and other aliases, which
 * behave like the GPT models). Values are never refused for the family: this server can give dall-e-3
 * n=4 or a gpt-image url, and refusing would only break clients that mix fields.
 */
#ifndef IG_API_REQUEST_H
#define IG_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/errors.h"
#include "imagine.h"

typedef enum ig_quality {
    IG_QUALITY_AUTO,
    IG_QUALITY_LOW,
    IG_QUALITY_MEDIUM,
    IG_QUALITY_HIGH,
    IG_QUALITY_STANDARD,
    IG_QUALITY_HD,
} ig_quality;

typedef enum ig_style { IG_STYLE_NONE, IG_STYLE_VIVID, IG_STYLE_NATURAL } ig_style;
typedef enum ig_background { IG_BACKGROUND_AUTO, IG_BACKGROUND_OPAQUE, IG_BACKGROUND_TRANSPARENT } ig_background;
typedef enum ig_output_format { IG_OUTPUT_FORMAT_PNG, IG_OUTPUT_FORMAT_JPEG, IG_OUTPUT_FORMAT_WEBP } ig_output_format;
typedef enum ig_response_format { IG_RESPONSE_FORMAT_B64_JSON, IG_RESPONSE_FORMAT_URL } ig_response_format;
typedef enum ig_moderation { IG_MODERATION_AUTO, IG_MODERATION_LOW } ig_moderation;

typedef enum ig_api_route { IG_API_ROUTE_GENERATIONS, IG_API_ROUTE_EDITS, IG_API_ROUTE_VARIATIONS } ig_api_route;
typedef enum ig_input_fidelity { IG_INPUT_FIDELITY_LOW, IG_INPUT_FIDELITY_HIGH } ig_input_fidelity;

typedef enum ig_api_family {
    IG_API_FAMILY_NATIVE,    /* the server's own ids and aliases not named like OpenAI's */
    IG_API_FAMILY_GPT_IMAGE, /* gpt-image-1, gpt-image-1-mini, gpt-image-1.5, ... */
    IG_API_FAMILY_DALLE2,
    IG_API_FAMILY_DALLE3,
} ig_api_family;

/* The loaded models as the API sees them; the server builds this once at startup and keeps it alive
 * while requests are parsed (ig_request.model_id points into it). */
typedef struct ig_api_model {
    const char *id;                     /* what GET /v1/models lists, e.g. "sd15" */
    int default_width, default_height;  /* what size "auto" means for it; 0: 1024x1024 */
} ig_api_model;

typedef struct ig_api_alias {
    const char *name; /* e.g. "gpt-image-1"; ids win over aliases of the same name */
    size_t model;     /* index into ig_api_models.models */
} ig_api_alias;

typedef struct ig_api_models {
    const ig_api_model *models;
    size_t n_models;
    const ig_api_alias *aliases;
    size_t n_aliases;
    size_t default_model; /* index used when the body has no model (issue 4: the first model) */
} ig_api_models;

/* Zero in any field means the default in brackets; a NULL limits pointer means all defaults. */
typedef struct ig_api_limits {
    size_t max_body_bytes; /* [IG_API_MAX_BODY_BYTES] a longer body is a 413 */
    int max_depth;         /* [16] JSON nesting; valid bodies need 1 */
    int max_prompt_chars;  /* [32000] */
    int max_n;             /* [10] */
    int min_side;          /* [64] pixels, for WxH sizes */
    int max_side;          /* [2048] pixels */
    int64_t max_pixels;    /* [max_side²] W·H */
    bool url_unavailable;  /* the server cannot store images: response_format "url" is refused */
} ig_api_limits;

/* 32000 characters of prompt can take 384000 bytes as \uXXXX\uXXXX escapes; 1 MiB leaves room. */
#define IG_API_MAX_BODY_BYTES ((size_t)1 << 20)
#define IG_API_USER_MAX_CHARS 256
#define IG_API_MODEL_NAME_MAX 256
#define IG_API_SEED_MAX 9007199254740991LL /* 2^53 - 1 */
#define IG_API_STEPS_MAX 150
#define IG_API_GUIDANCE_MAX 30

typedef struct ig_request {
    char *prompt;            /* NUL-terminated UTF-8 without NUL bytes; freed by ig_request_clear */
    size_t prompt_bytes;
    int prompt_chars;        /* code points */
    size_t model;            /* index into ig_api_models.models */
    const char *model_id;    /* models[model].id, borrowed from the table */
    char model_name[IG_API_MODEL_NAME_MAX]; /* the name the client sent, or model_id when it sent none */
    ig_api_family family;
    int n;
    bool size_auto;          /* width/height came from "auto" */
    int width, height;       /* always set: the pixels the response must have */
    ig_quality quality;      /* as asked */
    ig_quality quality_tier; /* LOW, MEDIUM or HIGH: what the response reports and usage bills */
    ig_style style;
    ig_background background; /* as asked; the response says what was produced (opaque/transparent) */
    ig_output_format output_format;
    int output_compression;
    ig_response_format response_format;
    ig_moderation moderation;
    bool stream;
    int partial_images;
    char user[IG_API_USER_MAX_CHARS * 4 + 1]; /* "" when absent */

    ig_api_route route;
    /* extension fields; has_* false (or NULL, 0) when absent */
    bool has_seed;
    uint64_t seed;
    char *negative_prompt;   /* NULL: the model's; freed by ig_request_clear */
    int steps;               /* 0: the quality tier's */
    bool has_guidance;
    float guidance_scale;
    bool has_sampler;
    ig_sampler sampler;
    bool has_strength;       /* the client sent strength (edits and variations) */
    float strength;          /* edits and variations: the strength used (sent, or the default) */
    ig_input_fidelity input_fidelity;
    /* edits and variations (api/edits.c): the decoded first image and mask, owned, freed by ig_request_clear */
    ig_image *image;
    ig_image *mask;
    int n_input_images;      /* images sent; only the first is edited (README) */
} ig_request;

/* Parses and validates body[0..len) (need not be NUL-terminated). On IG_OK *out is filled and owns
 * out->prompt; on failure *out is zeroed and error holds the first problem (sticky; see errors.h):
 * 400 for a bad body or field, 404 for an unknown model, 413 for a body over max_body_bytes, 500 when
 * memory ran out or the model table is empty. limits may be NULL. Returns IG_ERR_INVALID (400/413),
 * IG_ERR_NOT_FOUND (404), IG_ERR_NOMEM or IG_ERR_BACKEND (500). */
ig_status ig_api_parse_request(const char *body, size_t len, const ig_api_limits *limits,
                               const ig_api_models *models, ig_request *out, ig_api_error *error);

/* For api/edits.c: validates an object of fields (strings, numbers, booleans) as route takes them,
 * with the same rules and messages as a JSON body. out as for ig_api_parse_request. */
struct json_t;
ig_status ig__api_parse_fields(const struct json_t *root, ig_api_route route, const ig_api_limits *limits,
                               const ig_api_models *models, ig_request *out, ig_api_error *error);
/* For api/edits.c: the kind of a field on that route: 's' string, 'i' integer, 'n' number, 'b' boolean;
 * 0 when the route does not take it. */
char ig__api_field_kind(const char *name, ig_api_route route);

/* Frees what ig_api_parse_request allocated in *req and zeroes it. Accepts NULL and zeroed structs. */
void ig_request_clear(ig_request *req);

/* The family a model name belongs to (see the top comment). */
ig_api_family ig_api_model_family(const char *name);

/* auto/standard/hd → low/medium/high for a family, as described for `quality` above. */
ig_quality ig_api_quality_tier(ig_quality q, ig_api_family family);

/* Spec spellings: "auto", "low", ..., "png", "jpeg", "webp"; NULL for a value out of range. */
const char *ig_api_quality_name(ig_quality q);
const char *ig_api_style_name(ig_style s);
const char *ig_api_background_name(ig_background b);
const char *ig_api_output_format_name(ig_output_format f);
const char *ig_api_output_format_mime(ig_output_format f); /* "image/png", ... for url responses */
const char *ig_api_response_format_name(ig_response_format f);
const char *ig_api_moderation_name(ig_moderation m);

#endif
