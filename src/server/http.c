/* http.c — the HTTP face of `imagine serve`, on libmicrohttpd (Debian's libmicrohttpd12: kept,
 * small, HTTP/1.1 with chunked responses, Expect: 100-continue and per-connection threads, which
 * is what a server whose requests wait seconds for a worker wants).
 *
 * Owns: routing, auth (Bearer keys compared in constant time), the per-key rate limit, body limits
 * (413 from Content-Length before the body is read, as spec/CLIENTS.md asks), building a job from a
 * validated request, waiting for it while watching the client's socket (a client that goes away
 * cancels its job at the next step), SSE streaming, the files of response_format=url, /v1/models,
 * /health, /metrics, and access logging.
 * Leaves to others: validation (api/request.c), error bodies (api/errors.c), running jobs (job.c).
 *
 * Routes:
 *   POST /v1/images/generations, /images/generations   the API (Gradient posts to the bare path)
 *   POST /v1/images/edits, /images/edits               multipart/form-data (api/edits.h); bodies up to
 *   POST /v1/images/variations, /images/variations     IG_API_MAX_EDIT_BODY_BYTES (16 x 50 MiB + 1 MiB)
 *   GET  /v1/models, /models, /v1/models/{id}          OpenAI's list / retrieve shapes; {id} adds
 *                                                      "parameters", the extension fields (README)
 *   GET  /v1/images/files/{32 hex}.{png|jpeg|webp}     url images, no key needed (the name is the secret)
 *   GET  /health                                       {"status":"ok"|"loading"|"stopping"}
 *   GET  /metrics                                      Prometheus text
 *   GET  /, /playground, /playground.{js,css}, /favicon.svg   the playground page (page.c), no key
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/edits.h"
#include "common.h"
#include "server/metrics.h"
#include "server/page.h"
#include "server/queue.h"
#include "server/rq.h"
#include "server/server.h"

typedef enum route {
    R_GENERATIONS,
    R_EDITS,
    R_VARIATIONS,
    R_MODELS,
    R_MODEL,
    R_FILES,
    R_HEALTH,
    R_METRICS,
    R_PAGE,
    R_OTHER,
} route;

/* Connections libmicrohttpd accepts past --max-connections, to answer them 503 at once. */
#define HTTP_SPARE_CONNECTIONS 8

static const char *const route_labels[] = {"generations", "edits", "variations", "models", "models", "files",
                                            "health", "metrics", "playground", "other"};

/* Per-request state, kept in *con_cls. */
typedef struct conn {
    ig_server *s;
    route r;
    double t0;
    char *body;
    size_t len, cap;
    bool too_large;  /* the upload ran past the limit: answered 413 when it ends */
    bool too_busy;   /* the server's bodies in memory passed --max-body-memory: answered 503 when it ends */
    int status;      /* what was answered, for the log and metrics */
    ig_job *job;     /* streaming: the job the SSE callback reads */
    ig_frame *frame; /* streaming: the frame being sent, and how much of it went */
    size_t frame_off;
    bool stream_ended;
    double last_send;
    int fd;
    char user[80];
} conn;

/* ---- small helpers ------------------------------------------------------------------------------ */

static bool is_post_route(route r) { return r == R_GENERATIONS || r == R_EDITS || r == R_VARIATIONS; }

/* Bodies past this are a 413 (from Content-Length before reading, else when the upload ends). */
static size_t max_body(route r) { return r == R_GENERATIONS ? IG_API_MAX_BODY_BYTES : IG_API_MAX_EDIT_BODY_BYTES; }

static enum MHD_Result reply(conn *c, struct MHD_Connection *mc, int status, const char *type, const void *data,
                             size_t len, int retry_after_s) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after_s);
        MHD_add_response_header(r, "Retry-After", v);
    }
    enum MHD_Result ok = MHD_queue_response(mc, (unsigned)status, r);
    MHD_destroy_response(r);
    c->status = status;
    return ok;
}

static enum MHD_Result reply_error(conn *c, struct MHD_Connection *mc, const ig_api_error *e) {
    char body[IG_API_ERROR_JSON_MAX];
    size_t n = ig_api_error_body_json(e, body, sizeof body);
    if (n >= sizeof body) n = sizeof body - 1;
    return reply(c, mc, e->http_status ? e->http_status : 500, "application/json", body, n, e->retry_after_s);
}

static enum MHD_Result reply_kind(conn *c, struct MHD_Connection *mc, ig_api_error_kind kind, const char *code,
                                  const char *msg) {
    ig_api_error e = {0};
    ig_api_error_set(&e, kind, NULL, code, "%s", msg);
    return reply_error(c, mc, &e);
}

/* Whether the client is still there: a closed or reset socket shows as POLLRDHUP/POLLHUP/POLLERR
 * (pipelined bytes waiting to be read do not count as gone). */
static bool client_alive(int fd) {
    if (fd < 0) return true;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return true;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return false;
    if (p.revents & POLLIN) {
        char b;
        ssize_t k = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k == 0) return false;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    }
    return true;
}

/* Constant time in the key's content: every byte of the longer length is looked at. */
static bool key_equal(const char *a, size_t na, const char *b) {
    const size_t nb = strlen(b), n = na > nb ? na : nb;
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < n; i++) {
        const unsigned char x = i < na ? (unsigned char)a[i] : 0, y = i < nb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* 0: allowed; else a 401 already queued. *key_out points at the key (for the rate limit). */
static int check_auth(conn *c, struct MHD_Connection *mc, const char **key_out, size_t *key_len) {
    ig_server *s = c->s;
    *key_out = NULL, *key_len = 0;
    if (!s->n_keys) return 0;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7]) {
        reply_kind(c, mc, IG_API_ERR_AUTH_MISSING, NULL,
                   "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.");
        return -1;
    }
    const char *k = h + 7;
    const size_t n = strlen(k);
    bool ok = false;
    for (int i = 0; i < s->n_keys; i++) ok |= key_equal(k, n, s->keys[i]); /* no early exit */
    if (!ok) {
        reply_kind(c, mc, IG_API_ERR_AUTH_INVALID, NULL, "Incorrect API key provided.");
        return -1;
    }
    *key_out = k, *key_len = n;
    return 0;
}

/* ---- per-key rate limit: a token bucket per key (or client address), in a small open table ------- */

#define RATE_SLOTS 1024
struct ig_rate_slot {
    uint64_t hash;
    double tokens, t;
};

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

/* 0 when allowed, else the seconds until a request will be. */
static int rate_take(ig_server *s, uint64_t h) {
    const int per_min = s->opt.rate_limit_per_min;
    if (per_min <= 0) return 0;
    const double now = ig__now_s(), rate = per_min / 60.0, burst = per_min < 5 ? per_min : 5;
    int wait = 0;
    pthread_mutex_lock(&s->rate_mu);
    struct ig_rate_slot *slot = &s->rate_slots[h % RATE_SLOTS];
    /* a different key in the slot (a collision, or an old key): take the slot over */
    if (slot->hash != h) *slot = (struct ig_rate_slot){.hash = h, .tokens = burst, .t = now};
    slot->tokens += (now - slot->t) * rate;
    if (slot->tokens > burst) slot->tokens = burst;
    slot->t = now;
    if (slot->tokens >= 1) slot->tokens -= 1;
    else wait = (int)((1 - slot->tokens) / rate + 0.999);
    pthread_mutex_unlock(&s->rate_mu);
    return wait;
}

static uint64_t client_hash(struct MHD_Connection *mc, const char *key, size_t key_len, const char *user) {
    uint64_t h = 1469598103934665603ULL;
    if (user && *user) h = fnv1a(user, strlen(user), fnv1a("user:", 5, h)); /* --rate-limit-by user */
    if (key) return fnv1a(key, key_len, fnv1a("key:", 4, h));
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) return fnv1a(&((const struct sockaddr_in *)sa)->sin_addr, 4, h);
        if (sa->sa_family == AF_INET6) return fnv1a(&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, h);
    }
    return h;
}

/* ---- GET routes ------------------------------------------------------------------------------------ */

/* ,"parameters":{...}: the extension fields a model takes, their ranges and this model's defaults, as
 * JSON Schema keywords (README "Extension fields"). */
static ig_status model_parameters(const ig_served_model *m, ig_api_buf *b) {
    char line[2048], neg[1100], samplers[256] = "";
    size_t nl = 0;
    int n;
    ig_status st = IG_OK;
    ig__api_json_escape(m->card.negative_prompt, strlen(m->card.negative_prompt), neg, sizeof neg - 1, &nl);
    neg[nl] = 0;
    for (int k = 0; k < IG_SAMPLER_COUNT; k++)
        if (m->info.samplers & (1u << k))
            snprintf(samplers + strlen(samplers), sizeof samplers - strlen(samplers), "%s\"%s\"", samplers[0] ? "," : "",
                     ig_sampler_name((ig_sampler)k));
    n = snprintf(line, sizeof line,
                 ",\"parameters\":{"
                 "\"seed\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":%lld,\"endpoints\":[\"generations\",\"edits\",\"variations\"]},"
                 "\"negative_prompt\":{\"type\":\"string\",\"maxLength\":32000,\"default\":\"%s\",\"endpoints\":[\"generations\",\"edits\",\"variations\"]},"
                 "\"steps\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":%d,\"default\":%d,\"quality_defaults\":{\"low\":%d,\"medium\":%d,\"high\":%d},\"endpoints\":[\"generations\",\"edits\",\"variations\"]},"
                 "\"guidance_scale\":{\"type\":\"number\",\"minimum\":0,\"maximum\":%d,\"default\":%g,\"endpoints\":[\"generations\",\"edits\",\"variations\"]},"
                 "\"sampler\":{\"type\":\"string\",\"enum\":[%s],\"default\":\"%s\",\"endpoints\":[\"generations\",\"edits\",\"variations\"]},"
                 "\"strength\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1,\"default\":%g,\"endpoints\":[\"edits\",\"variations\"]}"
                 "}",
                 IG_API_SEED_MAX, neg, IG_API_STEPS_MAX, m->card.steps[2], m->card.steps[0], m->card.steps[1],
                 m->card.steps[2], IG_API_GUIDANCE_MAX, (double)m->card.guidance, samplers,
                 ig_sampler_name(m->card.sampler), (double)IG_API_STRENGTH_EDIT_LOW);
    if (n > 0 && (size_t)n < sizeof line) st = ig_api_buf_sink(b, line, (size_t)n);
    else st = IG_ERR_NOMEM;
    return st;
}

static enum MHD_Result get_models(conn *c, struct MHD_Connection *mc, const char *one) {
    ig_server *s = c->s;
    ig_api_buf b = {0};
    ig_status st = IG_OK;
    char line[512];
    bool found = false;
    /* ids first, then aliases, each an OpenAI model object */
    const int total = s->n_models + (int)s->table.n_aliases;
    if (!one) st |= ig_api_buf_sink(&b, "{\"object\":\"list\",\"data\":[", 25);
    for (int i = 0; i < total && !st; i++) {
        const char *id = i < s->n_models ? s->models[i].id : s->table.aliases[i - s->n_models].name;
        if (one && strcmp(one, id)) continue;
        char esc[400];
        size_t el = 0;
        ig__api_json_escape(id, strlen(id), esc, sizeof esc - 1, &el);
        esc[el] = 0;
        int n = snprintf(line, sizeof line, "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"imagine\"",
                         !one && i ? "," : "", esc, (long long)s->created);
        st |= ig_api_buf_sink(&b, line, (size_t)n);
        /* what the model is (a front of a Redis queue that loads no model does not know) */
        const ig_served_model *sm = &s->models[i < s->n_models ? i : (int)s->table.aliases[i - s->n_models].model];
        if (sm->info.family != IG_FAMILY_UNKNOWN) {
            n = snprintf(line, sizeof line, ",\"family\":\"%s\",\"native_size\":\"%dx%d\"",
                         ig_family_name(sm->info.family), sm->card.native, sm->card.native);
            st |= ig_api_buf_sink(&b, line, (size_t)n);
        }
        if (one) st |= model_parameters(&s->models[i < s->n_models ? i : (int)s->table.aliases[i - s->n_models].model], &b);
        st |= ig_api_buf_sink(&b, "}", 1);
        found = true;
    }
    if (!one) st |= ig_api_buf_sink(&b, "]}", 2);
    enum MHD_Result r;
    if (st) r = reply_kind(c, mc, IG_API_ERR_SERVER, "out_of_memory", "Out of memory.");
    else if (one && !found) {
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_MODEL_NOT_FOUND, "model", NULL, "The model '%.200s' does not exist.", one);
        r = reply_error(c, mc, &e);
    } else r = reply(c, mc, 200, "application/json", b.data, b.len, 0);
    ig_api_buf_free(&b);
    return r;
}

static enum MHD_Result get_file(conn *c, struct MHD_Connection *mc, const char *name) {
    int fd = -1;
    size_t size = 0;
    ig_err err = {0};
    ig_store_sweep(c->s->store);
    if (ig_store_get(c->s->store, name, &fd, &size, &err) != IG_OK)
        return reply_kind(c, mc, IG_API_ERR_NOT_FOUND, "not_found", err.msg);
    struct MHD_Response *r = MHD_create_response_from_fd(size, fd); /* closes fd */
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ig_store_mime(name));
    MHD_add_response_header(r, "Cache-Control", "private, max-age=3600");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(mc, 200, r);
    MHD_destroy_response(r);
    c->status = 200;
    return ok;
}

/* The playground's files: the same bytes to everyone, so they reveal nothing but the page; the page
 * asks for the key itself, in the browser. */
static enum MHD_Result get_page(conn *c, struct MHD_Connection *mc, const char *url) {
    const ig_page_file *f = ig__page_find(c->s->page, url, NULL);
    if (!f)
        return reply_kind(c, mc, IG_API_ERR_NOT_FOUND, NULL, "The playground page is not installed on this server.");
    const char *inm = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "If-None-Match");
    const bool same = inm && !strcmp(inm, f->etag);
    struct MHD_Response *r = MHD_create_response_from_buffer(same ? 0 : f->len, same ? NULL : f->data,
                                                             MHD_RESPMEM_PERSISTENT); /* lives until stop */
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", f->type);
    MHD_add_response_header(r, "Content-Security-Policy", IG_PAGE_CSP);
    MHD_add_response_header(r, "Cache-Control", "no-cache"); /* revalidate: a new build's page shows at once */
    MHD_add_response_header(r, "ETag", f->etag);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    c->status = same ? 304 : 200;
    enum MHD_Result ok = MHD_queue_response(mc, (unsigned)c->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- generations ------------------------------------------------------------------------------------ */

/* "http://host[:port]" for url responses: --public-url, else the request's Host when it is a plain
 * host name or address (anything else could smuggle text into the URL), else the bound address. */
static void base_url(conn *c, struct MHD_Connection *mc, char *out, size_t cap) {
    ig_server *s = c->s;
    if (s->opt.public_url) {
        snprintf(out, cap, "%s", s->opt.public_url);
        size_t n = strlen(out);
        while (n && out[n - 1] == '/') out[--n] = 0;
        return;
    }
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
    bool ok = h && *h && strlen(h) < 256;
    for (const char *p = h; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-:[]", *p);
    if (ok) snprintf(out, cap, "http://%s", h);
    else snprintf(out, cap, "http://%s:%d", s->opt.host, s->opt.port);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    conn *c = cls;
    ig_job *j = c->job;
    (void)pos;
    while (!c->frame) {
        if (c->stream_ended) return MHD_CONTENT_READER_END_OF_STREAM;
        bool done = false;
        c->frame = ig_job_next_frame(j, 250, &done);
        c->frame_off = 0;
        if (c->frame) break;
        if (done) {
            c->stream_ended = true;
            pthread_mutex_lock(&j->mu);
            const ig_api_error e = j->error;
            pthread_mutex_unlock(&j->mu);
            if (!e.http_status) return MHD_CONTENT_READER_END_OF_STREAM;
            /* an error after the stream started: an `error` event (spec/CLIENTS.md) */
            ig_api_buf b = {0};
            if (ig_api_write_error_event(&e, ig_api_buf_sink, &b) != IG_OK || !b.len) {
                ig_api_buf_free(&b);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            ig_frame *f = malloc(sizeof *f + b.len);
            if (f) f->next = NULL, f->len = b.len, memcpy(f->data, b.data, b.len);
            ig_api_buf_free(&b);
            if (!f) return MHD_CONTENT_READER_END_WITH_ERROR;
            c->frame = f, c->frame_off = 0;
            c->status = e.http_status; /* logged as the failure it was */
            break;
        }
        if (!client_alive(c->fd)) {
            ig_job_cancel(j, NULL);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (ig__now_s() - c->last_send > 15) { /* an SSE comment keeps proxies from timing out */
            static const char ka[] = ": keep-alive\n\n";
            c->last_send = ig__now_s();
            if (max >= sizeof ka - 1) {
                memcpy(buf, ka, sizeof ka - 1);
                return (ssize_t)(sizeof ka - 1);
            }
        }
    }
    size_t n = c->frame->len - c->frame_off;
    if (n > max) n = max;
    memcpy(buf, c->frame->data + c->frame_off, n);
    c->frame_off += n;
    if (c->frame_off == c->frame->len) free(c->frame), c->frame = NULL;
    c->last_send = ig__now_s();
    return (ssize_t)n;
}

static enum MHD_Result post_generations(conn *c, struct MHD_Connection *mc, const char *key, size_t key_len) {
    ig_server *s = c->s;
    ig_api_error e = {0};
    ig_api_limits lim = {.max_body_bytes = max_body(c->r), .url_unavailable = s->store == NULL};
    ig_job *j = ig_job_new();
    enum MHD_Result r;
    if (!j) return reply_kind(c, mc, IG_API_ERR_SERVER, "out_of_memory", "Out of memory.");
    if (c->r == R_GENERATIONS) {
        if (ig_api_parse_request(c->body ? c->body : "", c->len, &lim, &s->table, &j->req, &e) != IG_OK) goto refuse;
    } else if (ig_api_parse_edit(c->r == R_EDITS ? IG_API_ROUTE_EDITS : IG_API_ROUTE_VARIATIONS,
                                 MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type"), c->body, c->len, &lim,
                                 &s->table, &j->req, &e) != IG_OK)
        goto refuse;
    if (j->req.has_sampler && !(s->models[j->req.model].info.samplers & (1u << j->req.sampler))) {
        ig_api_error_set(&e, IG_API_ERR_INVALID_REQUEST, "sampler", "invalid_value",
                         "Invalid value for 'sampler': '%s' cannot run on the model '%s' (GET /v1/models/%s lists its "
                         "samplers).", ig_sampler_name(j->req.sampler), j->req.model_id, j->req.model_id);
        goto refuse;
    }
    ig__api_clip(c->user, sizeof c->user, j->req.user);
    const char *hit = ig_blocklist_match(s->blocklist, j->req.prompt, j->req.moderation);
    if (hit) {
        ig_api_error_set(&e, IG_API_ERR_MODERATION, "prompt", NULL,
                         "Your request was rejected by the safety system: the prompt contains a term this server "
                         "does not generate (moderation=%s).", ig_api_moderation_name(j->req.moderation));
        goto refuse;
    }
    const int wait = rate_take(s, client_hash(mc, key, key_len, s->opt.rate_limit_by_user ? j->req.user : NULL));
    if (wait) {
        ig_api_error_set(&e, IG_API_ERR_RATE_LIMITED, NULL, NULL,
                         "Rate limit reached: %d requests per minute. Retry after the Retry-After seconds.",
                         s->opt.rate_limit_per_min);
        e.retry_after_s = wait;
        goto refuse;
    }
    j->model = &s->models[j->req.model];
    ig_err err = {0};
    if (ig_plan_make(&j->model->card, &j->req, s->opt.revise_prompt, 0, &j->plan, &err) != IG_OK) {
        ig_api_error_from_status(&e, err.status, err.msg);
        goto refuse;
    }
    base_url(c, mc, j->base_url, sizeof j->base_url);
    j->enqueued_at = ig__now_s();
    j->deadline = j->enqueued_at + s->opt.timeout_s;
    if (s->stopping) {
        ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, NULL, "The server is shutting down; try again later.");
        e.retry_after_s = 5;
        goto refuse;
    }
    if (ig__jobs_push(s, j, &e) != IG_OK) goto refuse;

    if (j->req.stream) { /* from here on, failures are `error` events */
        c->job = j, c->last_send = ig__now_s();
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, c, NULL);
        if (!resp) {
            ig_job_cancel(j, NULL);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        r = MHD_queue_response(mc, 200, resp);
        MHD_destroy_response(resp);
        c->status = 200;
        return r; /* c->job is released when the request completes */
    }
    /* not streaming: wait here (this connection's own thread), watching the client */
    while (!ig_job_wait_done(j, 200)) {
        if (!client_alive(c->fd)) {
            ig_job_cancel(j, NULL);
            ig_job_release(j);
            c->status = 499; /* nginx's "client closed request", for the log */
            return MHD_NO;
        }
    }
    pthread_mutex_lock(&j->mu);
    e = j->error;
    pthread_mutex_unlock(&j->mu);
    if (e.http_status) goto refuse;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(j->body.len, j->body.data, MHD_RESPMEM_MUST_FREE); /* takes the buffer */
    if (!resp) {
        ig_job_release(j);
        return MHD_NO;
    }
    j->body = (ig_api_buf){0};
    MHD_add_response_header(resp, "Content-Type", "application/json");
    r = MHD_queue_response(mc, 200, resp);
    MHD_destroy_response(resp);
    c->status = 200;
    ig_job_release(j);
    return r;
refuse:
    ig_job_release(j);
    return reply_error(c, mc, &e);
}

/* ---- the handler ---------------------------------------------------------------------------------- */

static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind, (void)value;
    if (!strcasecmp(key, "Content-Length")) ++*(int *)cls;
    return MHD_YES;
}

static route route_of(const char *url, const char **arg) {
    *arg = NULL;
    if (!strcmp(url, "/v1/images/generations") || !strcmp(url, "/images/generations")) return R_GENERATIONS;
    if (!strcmp(url, "/v1/images/edits") || !strcmp(url, "/images/edits")) return R_EDITS;
    if (!strcmp(url, "/v1/images/variations") || !strcmp(url, "/images/variations")) return R_VARIATIONS;
    if (!strcmp(url, "/v1/models") || !strcmp(url, "/models")) return R_MODELS;
    if (!strncmp(url, "/v1/models/", 11) && url[11]) return *arg = url + 11, R_MODEL;
    if (!strncmp(url, "/v1/images/files/", 17)) return *arg = url + 17, R_FILES;
    if (!strcmp(url, "/health")) return R_HEALTH;
    if (!strcmp(url, "/metrics")) return R_METRICS;
    int page = 0;
    ig__page_find(NULL, url, &page);
    return page ? R_PAGE : R_OTHER;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    ig_server *s = cls;
    conn *c = *con_cls;
    const char *arg = NULL;
    const route r = route_of(url, &arg);
    const bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    (void)version;
    if (!c) { /* first call: headers only */
        if (!(c = calloc(1, sizeof *c))) return MHD_NO;
        c->s = s, c->r = r, c->t0 = ig__now_s(), c->fd = -1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) c->fd = ci->connect_fd;
        *con_cls = c;
        /* past --max-connections (libmicrohttpd's own limit is HTTP_SPARE_CONNECTIONS higher, and beyond
         * it connections wait in the listen backlog): a prompt 503 instead of a wait */
        if (ig__http_connections(s) > s->opt.max_connections) {
            ig_api_error e = {0};
            ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, "too_many_connections",
                             "The server has too many open connections (%d); try again shortly.", s->opt.max_connections);
            e.retry_after_s = 1;
            return reply_error(c, mc, &e);
        }
        if (r == R_OTHER) return reply_kind(c, mc, IG_API_ERR_NOT_FOUND, NULL, "Invalid URL: no such route.");
        if ((is_post_route(r) && !post) || (!is_post_route(r) && !get)) {
            char m[160];
            snprintf(m, sizeof m, "Method %.16s is not allowed here; use %s.", method, is_post_route(r) ? "POST" : "GET");
            return reply_kind(c, mc, IG_API_ERR_METHOD, NULL, m);
        }
        if (is_post_route(r)) {
            const char *key;
            size_t kl;
            if (check_auth(c, mc, &key, &kl)) return MHD_YES;
            /* two Content-Length headers, or one with Transfer-Encoding: the body's end is ambiguous, and a
             * proxy in front may have framed it the other way (request smuggling). libmicrohttpd 0.9.75 takes
             * the first Content-Length, or the chunking, without a word. */
            int n_cl = 0;
            MHD_get_connection_values(mc, MHD_HEADER_KIND, count_content_length, &n_cl);
            if (n_cl > 1 || (n_cl && MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Transfer-Encoding")))
                return reply_kind(c, mc, IG_API_ERR_INVALID_REQUEST, NULL,
                                  "The request's body length is ambiguous: send one Content-Length, or "
                                  "Transfer-Encoding: chunked, not both.");
            /* refuse an announced oversized body before reading it (and before 100-continue) */
            const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Length");
            if (cl) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(cl, &end, 10);
                if (errno || *end || v > max_body(r)) {
                    ig_api_error e = {0};
                    ig_api_error_set(&e, IG_API_ERR_TOO_LARGE, NULL, NULL,
                                     "The request body is larger than the server accepts (%zu bytes).", max_body(r));
                    return reply_error(c, mc, &e);
                }
            }
        }
        return MHD_YES;
    }
    if (c->status) { /* already answered (401/413/...): swallow what is left of the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (c->too_large || c->len + *upload_size > max_body(r)) c->too_large = true;
        else if (!c->too_busy) {
            if (c->len + *upload_size + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + *upload_size + 1) cap *= 2;
                /* every connection's buffered body counts against one budget: 16 uploads of 800 MiB
                 * at once must not take the machine's memory */
                const size_t grow = cap - c->cap;
                if (atomic_fetch_add(&s->body_bytes, grow) + grow > (size_t)s->opt.max_body_memory) {
                    atomic_fetch_sub(&s->body_bytes, grow);
                    c->too_busy = true;
                    free(c->body), c->body = NULL, atomic_fetch_sub(&s->body_bytes, c->cap), c->cap = c->len = 0;
                    *upload_size = 0;
                    return MHD_YES;
                }
                char *b = realloc(c->body, cap);
                if (!b) {
                    atomic_fetch_sub(&s->body_bytes, grow);
                    return MHD_NO;
                }
                c->body = b, c->cap = cap;
            }
            memcpy(c->body + c->len, upload, *upload_size);
            c->len += *upload_size;
            c->body[c->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    /* the whole request is here */
    switch (r) {
    case R_GENERATIONS:
    case R_EDITS:
    case R_VARIATIONS: {
        if (c->too_large) {
            ig_api_error e = {0};
            ig_api_error_set(&e, IG_API_ERR_TOO_LARGE, NULL, NULL,
                             "The request body is larger than the server accepts (%zu bytes).", max_body(r));
            return reply_error(c, mc, &e);
        }
        if (c->too_busy) {
            ig_api_error e = {0};
            ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, "server_busy",
                             "The server is receiving too many large uploads at once (over %lld MiB in memory); "
                             "try again shortly.", (long long)(s->opt.max_body_memory >> 20));
            e.retry_after_s = 2;
            return reply_error(c, mc, &e);
        }
        const char *key;
        size_t kl;
        if (check_auth(c, mc, &key, &kl)) return MHD_YES;
        return post_generations(c, mc, key, kl);
    }
    case R_MODELS:
    case R_MODEL: {
        const char *key;
        size_t kl;
        if (check_auth(c, mc, &key, &kl)) return MHD_YES;
        return get_models(c, mc, r == R_MODEL ? arg : NULL);
    }
    case R_FILES: return get_file(c, mc, arg);
    case R_PAGE: return get_page(c, mc, url);
    case R_HEALTH: {
        const char *st = s->stopping ? "stopping" : s->ready ? "ok" : "loading";
        char b[512], extra[400];
        ig__jobs_health(s, extra, sizeof extra);
        int n = snprintf(b, sizeof b, "{\"status\":\"%s\",\"queue_depth\":%d%s}", st, ig__jobs_depth(s), extra);
        return reply(c, mc, s->stopping ? 503 : 200, "application/json", b, (size_t)n, 0);
    }
    case R_METRICS: {
        ig_api_buf b = {0};
        enum MHD_Result res;
        if (ig_metrics_write(s->metrics, ig__jobs_depth(s), &b) != IG_OK || ig__jobs_metrics(s, &b) != IG_OK)
            res = reply_kind(c, mc, IG_API_ERR_SERVER, "out_of_memory", "Out of memory.");
        else res = reply(c, mc, 200, "text/plain; version=0.0.4", b.data, b.len, 0);
        ig_api_buf_free(&b);
        return res;
    }
    default: return reply_kind(c, mc, IG_API_ERR_NOT_FOUND, NULL, "Invalid URL: no such route.");
    }
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    ig_server *s = cls;
    conn *c = *con_cls;
    (void)mc;
    if (!c) return;
    if (c->job) { /* streaming: a client that left early cancels the job; either way we let go */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) ig_job_cancel(c->job, NULL);
        ig_job_release(c->job);
    }
    free(c->frame);
    const int status = c->status ? c->status : 499;
    ig_metrics_request(s->metrics, route_labels[c->r], status);
    fprintf(stderr, "imagine: %s %d %.0f ms%s%s\n", route_labels[c->r], status, (ig__now_s() - c->t0) * 1000,
            c->user[0] ? " user=" : "", c->user);
    atomic_fetch_sub(&s->body_bytes, c->cap);
    free(c->body);
    free(c);
    *con_cls = NULL;
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* libmicrohttpd's own "%HH" decoding, except that %00 stays as written: a NUL would end the path
 * early, so "/%00" would be read as "/" (the page) and "/health%00x" as "/health". */
static size_t unescape(void *cls, struct MHD_Connection *mc, char *s) {
    char *w = s;
    (void)cls, (void)mc;
    for (const char *r = s; *r;) {
        const int hi = r[0] == '%' ? hex_digit(r[1]) : -1, lo = hi >= 0 ? hex_digit(r[2]) : -1;
        if (lo >= 0 && (hi | lo)) *w++ = (char)(hi * 16 + lo), r += 3;
        else *w++ = *r++;
    }
    *w = 0;
    return (size_t)(w - s);
}

static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("imagine: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

ig_status ig__http_start(ig_server *s, ig_err *err) {
    if (!s->rate_slots && !(s->rate_slots = calloc(RATE_SLOTS, sizeof *s->rate_slots)))
        return ig__fail(err, IG_ERR_NOMEM, "out of memory");
    if (!s->page) s->page = ig__page_load(); /* NULL (logged) without assets/playground: the API still serves */
    struct sockaddr_in a4 = {0};
    struct sockaddr_in6 a6 = {0};
    struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, s->opt.host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET, a4.sin_port = htons((uint16_t)s->opt.port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s->opt.host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6, a6.sin6_port = htons((uint16_t)s->opt.port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else return ig__fail(err, IG_ERR_INVALID, "--host %s: give a numeric IPv4 or IPv6 address", s->opt.host);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->opt.port, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)s->opt.max_connections + HTTP_SPARE_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
    if (!d) return ig__fail(err, IG_ERR_IO, "cannot listen on %s:%d: %s", s->opt.host, s->opt.port, strerror(errno));
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (di && di->port) s->opt.port = di->port;
    s->http = d;
    return IG_OK;
}

void ig__http_quiesce(ig_server *s) {
    if (s->http) MHD_quiesce_daemon(s->http); /* returns the listening socket, which stop closes */
}

int ig__http_connections(ig_server *s) {
    if (!s->http) return 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->http, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? (int)di->num_connections : 0;
}

void ig__http_stop(ig_server *s) {
    if (s->http) MHD_stop_daemon(s->http);
    s->http = NULL;
    free(s->rate_slots);
    s->rate_slots = NULL;
    ig__page_free(s->page);
    s->page = NULL;
}
