/* rq.c — see rq.h: the Redis Streams transport (hiredis, Debian's libhiredis-dev; synchronous contexts,
 * one per thread that talks to Redis: a front's pump per waiting job, a worker's loop and its heartbeat).
 *
 * Owns: the URL, connections and reconnection, the request's JSON form, the front's push and pump,
 * the worker loop (read, claim, retry count, run, reply, ack) and its heartbeat, the shared counters.
 * Leaves to others: validating requests (http.c, api/), running jobs (job.c), the local job (queue.c).
 */
#include "image/image.h"
#include "server/rq.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "server/metrics.h"

#define GROUP "imagine-workers"
#define LIVE_MS 15000     /* imagine:live:<id> expiry; the front renews it every 2 s */
#define WORKER_LIVE_MS 5000

typedef struct ig_rq {
    ig_redis_addr addr;
    char worker_id[96];
    pthread_mutex_t mu;      /* guards cur_* (the worker's running job, for the heartbeat) */
    ig_job *cur_job;
    char cur_stream[192], cur_entry[64], cur_id[40];
    pthread_t hb;
    bool hb_started;
    _Atomic int n_pumps;     /* front: pump threads still running */
} ig_rq;

/* ---- connections ----------------------------------------------------------------------------------- */

ig_status ig__redis_parse_url(const char *url, ig_redis_addr *a, ig_err *err) {
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (strncmp(url, "redis://", 8)) return ig__fail(err, IG_ERR_INVALID, "--queue %s: write redis://HOST:PORT[/DB]", url);
    const char *p = url + 8, *at = strrchr(p, '@');
    const char *env = getenv("IMAGINE_REDIS_PASSWORD");
    if (env) snprintf(a->password, sizeof a->password, "%s", env);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(a->password, sizeof a->password, "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *end = p + strcspn(p, ":/");
    if (end == p || end - p >= (long)sizeof a->host) return ig__fail(err, IG_ERR_INVALID, "--queue %s: no host", url);
    snprintf(a->host, sizeof a->host, "%.*s", (int)(end - p), p);
    if (*end == ':') {
        char *e;
        long v = strtol(end + 1, &e, 10);
        if (v < 1 || v > 65535 || (*e && *e != '/')) return ig__fail(err, IG_ERR_INVALID, "--queue %s: bad port", url);
        a->port = (int)v, end = e;
    }
    if (*end == '/' && end[1]) {
        char *e;
        long v = strtol(end + 1, &e, 10);
        if (v < 0 || v > 1000 || *e) return ig__fail(err, IG_ERR_INVALID, "--queue %s: bad database number", url);
        a->db = (int)v;
    }
    return IG_OK;
}

redisContext *ig__redis_connect(const ig_redis_addr *a) {
    redisContext *c = redisConnectWithTimeout(a->host, a->port, (struct timeval){2, 0});
    if (!c || c->err) goto fail;
    redisSetTimeout(c, (struct timeval){10, 0}); /* longer than any BLOCK we send */
    redisReply *r;
    if (a->password[0]) {
        r = redisCommand(c, "AUTH %s", a->password);
        const bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        if (!ok) goto fail;
    }
    if (a->db) {
        r = redisCommand(c, "SELECT %d", a->db);
        const bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        if (!ok) goto fail;
    }
    return c;
fail:
    if (c) redisFree(c);
    return NULL;
}

/* A command on *c, reconnecting first when *c is NULL; on a connection error *c is freed and NULL. */
static redisReply *cmd(ig_rq *q, redisContext **c, const char *fmt, ...) {
    if (!*c && !(*c = ig__redis_connect(&q->addr))) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(*c, fmt, ap);
    va_end(ap);
    if (!r) redisFree(*c), *c = NULL;
    return r;
}

/* Runs a command whose reply does not matter; false on a connection or command error. */
static bool run(ig_rq *q, redisContext **c, const char *fmt, ...) {
    if (!*c && !(*c = ig__redis_connect(&q->addr))) return false;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(*c, fmt, ap);
    va_end(ap);
    if (!r) {
        redisFree(*c), *c = NULL;
        return false;
    }
    const bool ok = r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    return ok;
}

static long long reply_int(redisReply *r) {
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
    if (r) freeReplyObject(r);
    return v;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void random_id(char out[33]) {
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        const long long t = now_ms() ^ (long long)getpid() << 20;
        memcpy(b, &t, sizeof t);
    }
    for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

/* A field of a stream entry's flat [k, v, k, v...] array, or NULL. */
static const redisReply *field(const redisReply *kv, const char *name) {
    if (!kv || kv->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (kv->element[i]->type == REDIS_REPLY_STRING && !strcmp(kv->element[i]->str, name)) return kv->element[i + 1];
    return NULL;
}

static long long field_ll(const redisReply *kv, const char *name, long long dflt) {
    const redisReply *v = field(kv, name);
    return v && v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : dflt;
}

/* ---- the request as JSON ------------------------------------------------------------------------- */

/* An input image as {"w","h","c","px"}: its rows packed, base64 (jansson strings are text). */
static int set_image(json_t *o, const char *key, const ig_image *im) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t row = (size_t)im->width * im->channels, n = row * im->height;
    char *t = malloc((n + 2) / 3 * 4 + 1);
    if (!t) return -1;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | im->pixels[(i / row) * im->stride + i % row], bits += 8;
        while (bits >= 6) t[k++] = b64[(acc >> (bits - 6)) & 63], bits -= 6;
    }
    if (bits) t[k++] = b64[(acc << (6 - bits)) & 63];
    while (k % 4) t[k++] = '=';
    t[k] = 0;
    json_t *v = json_pack("{s:i,s:i,s:i,s:s}", "w", im->width, "h", im->height, "c", im->channels, "px", t);
    free(t);
    return v ? json_object_set_new(o, key, v) : -1;
}

/* The inverse; NULL when absent or malformed. */
static ig_image *get_image(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    const char *px = json_string_value(json_object_get(v, "px"));
    const int w = (int)json_integer_value(json_object_get(v, "w")), h = (int)json_integer_value(json_object_get(v, "h"));
    const int c = (int)json_integer_value(json_object_get(v, "c"));
    ig_image *im = NULL;
    ig_err err = {0};
    if (!px || (c != 3 && c != 4) || ig_image_new(&im, w, h, c, &err)) return NULL;
    const size_t row = (size_t)w * c, n = row * h;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = px; *p && *p != '=' && k < n; p++) {
        const char *q = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", *p);
        if (!q) break;
        acc = acc << 6 | (uint32_t)(q - "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), bits += 6;
        if (bits >= 8) bits -= 8, im->pixels[(k / row) * im->stride + k % row] = (uint8_t)(acc >> bits), k++;
    }
    if (k != n) {
        ig_image_free(im);
        return NULL;
    }
    return im;
}

static char *req_to_json(const ig_request *r) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "prompt", json_string(r->prompt));
    json_object_set_new(o, "prompt_chars", json_integer(r->prompt_chars));
    json_object_set_new(o, "model", json_string(r->model_id));
    json_object_set_new(o, "model_name", json_string(r->model_name));
    json_object_set_new(o, "family", json_integer(r->family));
    json_object_set_new(o, "n", json_integer(r->n));
    json_object_set_new(o, "size_auto", json_boolean(r->size_auto));
    json_object_set_new(o, "width", json_integer(r->width));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "quality", json_integer(r->quality));
    json_object_set_new(o, "quality_tier", json_integer(r->quality_tier));
    json_object_set_new(o, "style", json_integer(r->style));
    json_object_set_new(o, "background", json_integer(r->background));
    json_object_set_new(o, "output_format", json_integer(r->output_format));
    json_object_set_new(o, "output_compression", json_integer(r->output_compression));
    json_object_set_new(o, "response_format", json_integer(r->response_format));
    json_object_set_new(o, "moderation", json_integer(r->moderation));
    json_object_set_new(o, "stream", json_boolean(r->stream));
    json_object_set_new(o, "partial_images", json_integer(r->partial_images));
    json_object_set_new(o, "user", json_string(r->user));
    /* the extension fields and the edits' inputs (v=1 readers take absent keys as absent fields) */
    json_object_set_new(o, "route", json_integer(r->route));
    if (r->has_seed) json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
    if (r->negative_prompt) json_object_set_new(o, "negative_prompt", json_string(r->negative_prompt));
    if (r->steps) json_object_set_new(o, "steps", json_integer(r->steps));
    if (r->has_guidance) json_object_set_new(o, "guidance_scale", json_real(r->guidance_scale));
    if (r->has_sampler) json_object_set_new(o, "sampler", json_integer(r->sampler));
    json_object_set_new(o, "has_strength", json_boolean(r->has_strength));
    json_object_set_new(o, "strength", json_real(r->strength));
    json_object_set_new(o, "input_fidelity", json_integer(r->input_fidelity));
    json_object_set_new(o, "n_input_images", json_integer(r->n_input_images));
    if (r->image && set_image(o, "image", r->image)) goto nomem;
    if (r->mask && set_image(o, "mask", r->mask)) goto nomem;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
nomem:
    json_decref(o);
    return NULL;
}

static int jint(json_t *o, const char *k, int dflt) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* The request back on a worker: the model by id among this worker's models. */
static ig_status req_from_json(ig_server *s, const char *text, size_t len, ig_request *r, ig_api_error *e) {
    memset(r, 0, sizeof *r);
    json_t *o = json_loadb(text, len, 0, NULL);
    const char *prompt = json_string_value(json_object_get(o, "prompt"));
    const char *model = json_string_value(json_object_get(o, "model"));
    int k = -1;
    for (int i = 0; model && i < s->n_models; i++)
        if (!strcmp(s->models[i].id, model)) k = i;
    if (!o || !prompt || k < 0 || !(r->prompt = strdup(prompt))) {
        ig_api_error_set(e, IG_API_ERR_SERVER, NULL, "bad_job", "A worker could not read the job (model %.100s).",
                         model ? model : "?");
        json_decref(o);
        return IG_ERR_INVALID;
    }
    r->prompt_bytes = strlen(prompt);
    r->prompt_chars = jint(o, "prompt_chars", (int)r->prompt_bytes);
    r->model = (size_t)k, r->model_id = s->models[k].id;
    const char *mn = json_string_value(json_object_get(o, "model_name"));
    snprintf(r->model_name, sizeof r->model_name, "%s", mn ? mn : model);
    r->family = (ig_api_family)jint(o, "family", 0);
    r->n = jint(o, "n", 1);
    if (r->n < 1 || r->n > 10) r->n = 1;
    r->size_auto = jint(o, "size_auto", 0);
    r->width = jint(o, "width", 512), r->height = jint(o, "height", 512);
    r->quality = (ig_quality)jint(o, "quality", 0), r->quality_tier = (ig_quality)jint(o, "quality_tier", 3);
    r->style = (ig_style)jint(o, "style", 0), r->background = (ig_background)jint(o, "background", 0);
    r->output_format = (ig_output_format)jint(o, "output_format", 0);
    r->output_compression = jint(o, "output_compression", 100);
    r->response_format = (ig_response_format)jint(o, "response_format", 0);
    r->moderation = (ig_moderation)jint(o, "moderation", 0);
    r->stream = jint(o, "stream", 0);
    r->partial_images = jint(o, "partial_images", 0);
    const char *u = json_string_value(json_object_get(o, "user"));
    snprintf(r->user, sizeof r->user, "%s", u ? u : "");
    r->route = (ig_api_route)jint(o, "route", IG_API_ROUTE_GENERATIONS);
    json_t *v;
    if ((v = json_object_get(o, "seed")) && json_is_integer(v)) r->has_seed = true, r->seed = (uint64_t)json_integer_value(v);
    const char *neg = json_string_value(json_object_get(o, "negative_prompt"));
    r->steps = jint(o, "steps", 0);
    if ((v = json_object_get(o, "guidance_scale")) && json_is_number(v))
        r->has_guidance = true, r->guidance_scale = (float)json_number_value(v);
    if ((v = json_object_get(o, "sampler")) && json_is_integer(v))
        r->has_sampler = true, r->sampler = (ig_sampler)json_integer_value(v);
    r->has_strength = jint(o, "has_strength", 0);
    r->strength = (float)json_number_value(json_object_get(o, "strength"));
    r->input_fidelity = (ig_input_fidelity)jint(o, "input_fidelity", 0);
    r->n_input_images = jint(o, "n_input_images", 0);
    const bool want_image = json_object_get(o, "image") != NULL, want_mask = json_object_get(o, "mask") != NULL;
    r->image = get_image(o, "image"), r->mask = get_image(o, "mask");
    if ((neg && !(r->negative_prompt = strdup(neg))) || (want_image && !r->image) || (want_mask && !r->mask)) {
        ig_api_error_set(e, IG_API_ERR_SERVER, NULL, "bad_job", "A worker could not read the job's inputs.");
        json_decref(o);
        ig_request_clear(r);
        return IG_ERR_INVALID;
    }
    json_decref(o);
    return IG_OK;
}

/* An error as it travels: the OpenAI body; `type` maps back to errors.c's static strings. */
static void error_from_body(const char *body, size_t len, int status, int retry, ig_api_error *e) {
    static const char *const types[] = {"invalid_request_error", "image_generation_user_error", "requests",
                                        "server_error"};
    memset(e, 0, sizeof *e);
    json_t *o = json_loadb(body, len, 0, NULL), *x = json_object_get(o, "error");
    const char *t = json_string_value(json_object_get(x, "type"));
    e->type = "server_error";
    for (size_t i = 0; t && i < sizeof types / sizeof *types; i++)
        if (!strcmp(t, types[i])) e->type = types[i];
    const char *m = json_string_value(json_object_get(x, "message")), *p = json_string_value(json_object_get(x, "param")),
               *c = json_string_value(json_object_get(x, "code"));
    snprintf(e->message, sizeof e->message, "%s", m ? m : "The job failed on a worker.");
    snprintf(e->param, sizeof e->param, "%s", p ? p : "");
    snprintf(e->code, sizeof e->code, "%s", c ? c : "");
    e->http_status = status >= 400 && status < 600 ? status : 500;
    e->retry_after_s = retry;
    json_decref(o);
}

/* ---- the front: push, then a pump thread per job ----------------------------------------------------- */

typedef struct pump {
    ig_server *s;
    ig_job *j; /* the pump's reference */
    redisContext *c;
    char id[33];
    char out[64], live[64];
    long long deadline_ms;
} pump;

static void finish_with(ig_job *j, const ig_api_error *e, char *body, size_t len) {
    pthread_mutex_lock(&j->mu);
    if (e) j->error = *e;
    else if (body) {
        ig_api_buf_free(&j->body);
        ig_api_buf_sink(&j->body, body, len);
    }
    pthread_mutex_unlock(&j->mu);
    ig_job_finish(j);
}

static void *pump_main(void *arg) {
    pump *p = arg;
    ig_rq *q = p->s->rq;
    ig_job *j = p->j;
    char last[64] = "0";
    int attempt = 0;
    double t_renew = ig__now_s();
    ig_api_error e = {0};
    bool finished = false;
    while (!finished) {
        if (ig_job_is_cancelled(j)) { /* the client went away: let the worker know */
            run(q, &p->c, "DEL %s", p->live);
            finish_with(j, NULL, NULL, 0);
            break;
        }
        if (now_ms() > p->deadline_ms + 5000) {
            ig_api_error_set(&e, IG_API_ERR_TIMEOUT, NULL, NULL,
                             "The generation did not finish within the server's time limit (%d s).", p->s->opt.timeout_s);
            run(q, &p->c, "DEL %s", p->live);
            finish_with(j, &e, NULL, 0);
            break;
        }
        if (ig__now_s() - t_renew > 2) {
            t_renew = ig__now_s();
            /* renewed only while it exists: a Redis that restarted lost the job, and says so below */
            redisReply *r = cmd(q, &p->c, "PEXPIRE %s %d", p->live, LIVE_MS);
            if (r && reply_int(r) == 0) {
                ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, "queue_lost",
                                 "The job queue (Redis) restarted and lost this request; send it again.");
                e.retry_after_s = 2;
                finish_with(j, &e, NULL, 0);
                break;
            }
        }
        redisReply *r = cmd(q, &p->c, "XREAD COUNT 16 BLOCK 250 STREAMS %s %s", p->out, last);
        if (!r) { /* Redis went away: one more try to reach it, then a clear 503 */
            for (int i = 0; i < 10 && !p->c; i++) {
                usleep(300 * 1000);
                p->c = ig__redis_connect(&q->addr);
            }
            if (p->c) {
                t_renew = 0; /* the PEXPIRE above tells whether the job survived */
                continue;
            }
            ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, "queue_unavailable",
                             "The job queue (Redis) went away while this request waited; send it again.");
            e.retry_after_s = 5;
            finish_with(j, &e, NULL, 0);
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements && !finished; i++) {
                const redisReply *en = entries->element[i];
                if (en->type != REDIS_REPLY_ARRAY || en->elements != 2) continue;
                snprintf(last, sizeof last, "%s", en->element[0]->str);
                const redisReply *kv = en->element[1], *t = field(kv, "t"), *d = field(kv, "d");
                const int a = (int)field_ll(kv, "a", 0);
                if (!t || t->type != REDIS_REPLY_STRING || a < attempt) continue; /* an older attempt's */
                attempt = a;
                const char *dd = d && d->type == REDIS_REPLY_STRING ? d->str : "";
                const size_t dl = d && d->type == REDIS_REPLY_STRING ? d->len : 0;
                if (!strcmp(t->str, "frame")) ig_job_push_frame(j, dd, dl);
                else if (!strcmp(t->str, "done")) finish_with(j, NULL, dl ? (char *)dd : NULL, dl), finished = true;
                else if (!strcmp(t->str, "error")) {
                    error_from_body(dd, dl, (int)field_ll(kv, "s", 500), (int)field_ll(kv, "r", 0), &e);
                    finish_with(j, &e, NULL, 0), finished = true;
                }
            }
        }
        freeReplyObject(r);
    }
    if (finished) run(q, &p->c, "DEL %s %s", p->out, p->live);
    if (p->c) redisFree(p->c);
    ig_job_release(j);
    free(p);
    q->n_pumps--;
    return NULL;
}

static ig_status rq_push(ig_server *s, ig_job *j, ig_api_error *err) {
    ig_rq *q = s->rq;
    pump *p = calloc(1, sizeof *p);
    char *json = NULL, key[192];
    if (!p || !(json = req_to_json(&j->req))) {
        ig_api_error_set(err, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory.");
        goto fail;
    }
    p->s = s, p->j = j;
    random_id(p->id);
    snprintf(p->out, sizeof p->out, "imagine:out:%s", p->id);
    snprintf(p->live, sizeof p->live, "imagine:live:%s", p->id);
    p->deadline_ms = now_ms() + (long long)s->opt.timeout_s * 1000;
    const char *model = j->req.model_id;
    redisReply *r = cmd(q, &p->c, "ZCOUNT imagine:workers:%s %lld +inf", model, now_ms() - WORKER_LIVE_MS);
    const long long live = reply_int(r);
    if (!r) goto down;
    if (live <= 0) {
        ig_api_error_set(err, IG_API_ERR_UNAVAILABLE, "model", "no_worker",
                         "No live worker serves the model '%.200s' right now; try again later.", model);
        err->retry_after_s = 5;
        goto fail;
    }
    snprintf(key, sizeof key, "imagine:jobs:%s", model);
    r = cmd(q, &p->c, "XLEN %s", key);
    const long long depth = reply_int(r);
    if (!r) goto down;
    if (depth >= s->opt.max_queue + live) { /* one running per live worker, max_queue waiting */
        ig_api_error_set(err, IG_API_ERR_QUEUE_FULL, NULL, NULL,
                         "The server is busy: %lld generations are queued. Retry after the Retry-After seconds.", depth);
        const double eta = (s->est_job_ms > 0 ? s->est_job_ms / 1000.0 : 1) * (double)depth / (double)live;
        err->retry_after_s = eta < 1 ? 1 : eta > 600 ? 600 : (int)(eta + 0.999);
        goto fail;
    }
    if (!run(q, &p->c, "SET %s 1 PX %d", p->live, LIVE_MS)) goto down;
    r = cmd(q, &p->c, "XADD %s * v 1 id %s req %s base_url %s deadline_ms %lld", key, p->id, json, j->base_url,
            p->deadline_ms);
    const bool added = r && r->type == REDIS_REPLY_STRING;
    if (r) freeReplyObject(r);
    if (!added) goto down;
    pthread_mutex_lock(&j->mu);
    j->refs++; /* the pump's */
    pthread_mutex_unlock(&j->mu);
    q->n_pumps++;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    const int rc = pthread_create(&t, &at, pump_main, p);
    pthread_attr_destroy(&at);
    if (rc) { /* the job is queued but nobody would read its answer: take it back */
        q->n_pumps--;
        ig_job_release(j);
        run(q, &p->c, "DEL %s", p->live);
        ig_api_error_set(err, IG_API_ERR_SERVER, NULL, "out_of_memory", "Cannot start a thread for the request.");
        goto fail;
    }
    free(json);
    return IG_OK;
down:
    ig_api_error_set(err, IG_API_ERR_UNAVAILABLE, NULL, "queue_unavailable",
                     "The job queue (Redis at %s:%d) is unreachable; try again later.", q->addr.host, q->addr.port);
    err->retry_after_s = 5;
fail:
    if (p && p->c) redisFree(p->c);
    free(p), free(json);
    return IG_ERR_INVALID;
}

/* ---- the worker ------------------------------------------------------------------------------------ */

typedef struct sink {
    ig_rq *q;
    redisContext **c;
    const char *out, *live;
    int attempt;
    double t_poll;
} sink;

/* ig_job_is_cancelled on a worker (each step): has the front let go? At most every 200 ms. */
static bool sink_cancelled(void *ud) {
    sink *k = ud;
    if (ig__now_s() - k->t_poll < 0.2) return false;
    k->t_poll = ig__now_s();
    return reply_int(cmd(k->q, k->c, "EXISTS %s", k->live)) == 0;
}

/* ig_job_push_frame on a worker: the frame goes to the front's reply stream. */
static bool sink_frame(void *ud, const void *data, size_t len) {
    sink *k = ud;
    return run(k->q, k->c, "XADD %s * t frame a %d d %b", k->out, k->attempt, data, len);
}

static void set_current(ig_rq *q, ig_job *j, const char *stream, const char *entry, const char *id) {
    pthread_mutex_lock(&q->mu);
    q->cur_job = j;
    snprintf(q->cur_stream, sizeof q->cur_stream, "%s", stream ? stream : "");
    snprintf(q->cur_entry, sizeof q->cur_entry, "%s", entry ? entry : "");
    snprintf(q->cur_id, sizeof q->cur_id, "%s", id ? id : "");
    pthread_mutex_unlock(&q->mu);
}

/* One entry of imagine:jobs:<model>: count the start, run it, reply, then acknowledge. */
static void handle(ig_server *s, redisContext **c, const char *stream, const char *entry, const redisReply *kv) {
    ig_rq *q = s->rq;
    const redisReply *idr = field(kv, "id"), *reqr = field(kv, "req"), *bu = field(kv, "base_url");
    const long long deadline_ms = field_ll(kv, "deadline_ms", 0);
    ig_api_error e = {0};
    ig_job *j = NULL;
    long long tries = 0;
    char out[64], live[64], tries_key[64];
    bool reply = true;
    if (!idr || idr->type != REDIS_REPLY_STRING || idr->len != 32 || !reqr || reqr->type != REDIS_REPLY_STRING) {
        reply = false; /* not ours: drop it */
        goto ack;
    }
    snprintf(out, sizeof out, "imagine:out:%s", idr->str);
    snprintf(live, sizeof live, "imagine:live:%s", idr->str);
    snprintf(tries_key, sizeof tries_key, "imagine:tries:%s", idr->str);
    tries = reply_int(cmd(q, c, "INCR %s", tries_key));
    if (tries < 0) return; /* Redis went away: the entry stays pending, another worker claims it */
    run(q, c, "EXPIRE %s %d", tries_key, s->opt.timeout_s + 120);
    if (tries > IG_RQ_MAX_TRIES) {
        ig_api_error_set(&e, IG_API_ERR_SERVER, NULL, "job_failed",
                         "The job was started %d times on workers that died or stopped holding it for --claim-timeout "
                         "(%d s); it is not retried again.", IG_RQ_MAX_TRIES, s->opt.claim_timeout_s);
        goto ack;
    }
    if (reply_int(cmd(q, c, "EXISTS %s", live)) == 0) { /* its front went away (or Redis lost it) */
        fprintf(stderr, "imagine: job %s: its front let go of it; not started\n", idr->str);
        reply = false;
        goto ack;
    }
    if (now_ms() > deadline_ms) {
        ig_api_error_set(&e, IG_API_ERR_TIMEOUT, NULL, NULL,
                         "The request waited in the queue past the server's time limit (%d s).", s->opt.timeout_s);
        goto ack;
    }
    if (!(j = ig_job_new())) {
        ig_api_error_set(&e, IG_API_ERR_SERVER, NULL, "out_of_memory", "Out of memory on a worker.");
        goto ack;
    }
    if (req_from_json(s, reqr->str, reqr->len, &j->req, &e)) goto ack;
    j->model = &s->models[j->req.model];
    ig_err err = {0};
    if (ig_plan_make(&j->model->card, &j->req, s->opt.revise_prompt, 0, &j->plan, &err) != IG_OK) {
        ig_api_error_from_status(&e, err.status, err.msg);
        goto ack;
    }
    snprintf(j->base_url, sizeof j->base_url, "%s", bu && bu->type == REDIS_REPLY_STRING ? bu->str : "");
    j->enqueued_at = ig__now_s();
    j->deadline = ig__now_s() + (double)(deadline_ms - now_ms()) / 1000.0;
    sink k = {.q = q, .c = c, .out = out, .live = live, .attempt = (int)tries, .t_poll = ig__now_s()};
    j->frame_sink = sink_frame, j->frame_sink_ud = &k, j->cancel_poll = sink_cancelled;
    if (tries > 1) run(q, c, "INCR imagine:stats:retries"); /* started again: not a refusal past the limit */
    run(q, c, "XADD %s * t start a %d", out, (int)tries);
    set_current(q, j, stream, entry, idr->str);
    ig__job_run(s, j);
    set_current(q, NULL, NULL, NULL, NULL);
    pthread_mutex_lock(&j->mu);
    e = j->error;
    pthread_mutex_unlock(&j->mu);
ack:
    if (e.http_status)
        fprintf(stderr, "imagine: job %s (attempt %lld) failed: %d %s\n", idr && idr->type == REDIS_REPLY_STRING ? idr->str : "?",
                tries, e.http_status, e.code[0] ? e.code : e.message);
    if (reply) {
        bool sent;
        if (e.http_status) {
            char body[IG_API_ERROR_JSON_MAX];
            size_t n = ig_api_error_body_json(&e, body, sizeof body);
            if (n >= sizeof body) n = sizeof body - 1;
            sent = run(q, c, "XADD %s * t error a %d s %d r %d d %b", out, (int)(tries < 0 ? 0 : tries), e.http_status,
                       e.retry_after_s, body, n);
        } else
            sent = run(q, c, "XADD %s * t done a %d d %b", out, (int)tries, j->body.data ? j->body.data : "",
                       j->body.len);
        run(q, c, "EXPIRE %s %d", out, s->opt.timeout_s + 60);
        if (!sent) { /* not delivered: leave it pending; it is claimed again (or was lost with Redis) */
            ig_job_release(j);
            return;
        }
    }
    run(q, c, "XACK %s " GROUP " %s", stream, entry);
    run(q, c, "XDEL %s %s", stream, entry);
    if (idr && idr->type == REDIS_REPLY_STRING) run(q, c, "DEL imagine:tries:%s", idr->str);
    ig_job_release(j);
}

/* Heartbeat: announces the worker's models, keeps its running job claimed, cancels it when its front
 * let go. Its own connection, once a second. */
static void *hb_main(void *arg) {
    ig_server *s = arg;
    ig_rq *q = s->rq;
    redisContext *c = NULL;
    while (!s->stopping) {
        const long long t = now_ms();
        for (int i = 0; i < s->n_models; i++) {
            run(q, &c, "ZADD imagine:workers:%s %lld %s", s->models[i].id, t, q->worker_id);
            run(q, &c, "ZREMRANGEBYSCORE imagine:workers:%s -inf %lld", s->models[i].id, t - 60000);
        }
        run(q, &c, "ZADD imagine:workers %lld %s", t, q->worker_id);
        run(q, &c, "ZREMRANGEBYSCORE imagine:workers -inf %lld", t - 60000);
        char stream[192], entry[64], id[40];
        pthread_mutex_lock(&q->mu);
        ig_job *j = q->cur_job;
        if (j) {
            pthread_mutex_lock(&j->mu);
            j->refs++;
            pthread_mutex_unlock(&j->mu);
            memcpy(stream, q->cur_stream, sizeof stream), memcpy(entry, q->cur_entry, sizeof entry);
            memcpy(id, q->cur_id, sizeof id);
        }
        pthread_mutex_unlock(&q->mu);
        if (j) {
            run(q, &c, "XCLAIM %s " GROUP " %s 0 %s JUSTID", stream, q->worker_id, entry);
            if (reply_int(cmd(q, &c, "EXISTS imagine:live:%s", id)) == 0) ig_job_cancel(j, NULL);
            ig_job_release(j);
        }
        for (int i = 0; i < 10 && !s->stopping; i++) usleep(100 * 1000);
    }
    run(q, &c, "ZREM imagine:workers %s", q->worker_id);
    for (int i = 0; i < s->n_models; i++) run(q, &c, "ZREM imagine:workers:%s %s", s->models[i].id, q->worker_id);
    if (c) redisFree(c);
    return NULL;
}

static bool ensure_groups(ig_server *s, redisContext **c) {
    for (int i = 0; i < s->n_models; i++) {
        redisReply *r = cmd(s->rq, c, "XGROUP CREATE imagine:jobs:%s " GROUP " 0 MKSTREAM", s->models[i].id);
        if (!r) return false;
        const bool ok = r->type != REDIS_REPLY_ERROR || strstr(r->str, "BUSYGROUP");
        freeReplyObject(r);
        if (!ok) return false;
    }
    return true;
}

/* The first entry of an XREADGROUP / XAUTOCLAIM entry list: [id, [k, v...]], or NULL. */
static const redisReply *first_entry(const redisReply *list) {
    if (!list || list->type != REDIS_REPLY_ARRAY || !list->elements) return NULL;
    const redisReply *en = list->element[0];
    if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || en->element[0]->type != REDIS_REPLY_STRING) return NULL;
    return en;
}

void *ig__rq_worker_main(void *arg) {
    ig_server *s = arg;
    ig_rq *q = s->rq;
    redisContext *c = NULL;
    const int n = s->n_models;
    /* XREADGROUP GROUP g w COUNT 1 BLOCK 1000 STREAMS k1..kn > .. > */
    const char *head[] = {"XREADGROUP", "GROUP", GROUP, q->worker_id, "COUNT", "1", "BLOCK", "1000", "STREAMS"};
    const char **argv = calloc((size_t)(9 + 2 * n), sizeof *argv);
    char (*keys)[160] = calloc((size_t)n, sizeof *keys);
    if (!argv || !keys) goto done;
    memcpy(argv, head, sizeof head);
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "imagine:jobs:%s", s->models[i].id);
        argv[9 + i] = keys[i], argv[9 + n + i] = ">";
    }
    bool groups = false;
    double t_claim = 0;
    while (!s->stopping) {
        if (!groups && !(groups = ensure_groups(s, &c))) {
            usleep(500 * 1000);
            continue;
        }
        if (ig__now_s() - t_claim >= 1) { /* jobs idle past the claim timeout on a stopped or dead worker */
            t_claim = ig__now_s();
            for (int i = 0; i < n && !s->stopping; i++) {
                redisReply *r = cmd(q, &c, "XAUTOCLAIM %s " GROUP " %s %lld 0-0 COUNT 1", keys[i], q->worker_id,
                                    (long long)s->opt.claim_timeout_s * 1000);
                const redisReply *en = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 ? first_entry(r->element[1])
                                                                                             : NULL;
                if (en) {
                    fprintf(stderr, "imagine: claimed job %s of %s (idle past %d s)\n", en->element[0]->str, keys[i],
                            s->opt.claim_timeout_s);
                    run(q, &c, "INCR imagine:stats:claims");
                    handle(s, &c, keys[i], en->element[0]->str, en->element[1]);
                }
                if (r) freeReplyObject(r);
                if (!c) groups = false;
            }
        }
        if (!c && !(c = ig__redis_connect(&q->addr))) {
            usleep(500 * 1000);
            continue;
        }
        redisReply *r = redisCommandArgv(c, 9 + 2 * n, argv, NULL);
        if (!r) {
            redisFree(c), c = NULL, groups = false;
            usleep(200 * 1000);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (strstr(r->str, "NOGROUP")) groups = false; /* Redis restarted empty */
            else fprintf(stderr, "imagine: redis: %s\n", r->str), usleep(500 * 1000);
        }
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *st = r->element[i];
            if (st->type != REDIS_REPLY_ARRAY || st->elements != 2) continue;
            const redisReply *en = first_entry(st->element[1]);
            if (en) handle(s, &c, st->element[0]->str, en->element[0]->str, en->element[1]);
        }
        freeReplyObject(r);
    }
done:
    if (c) redisFree(c);
    free((void *)argv), free(keys);
    return NULL;
}

/* ---- open, close, and the transport-neutral calls ---------------------------------------------------- */

ig_status ig__rq_open(ig_server *s, ig_err *err) {
    if (!s->opt.queue_url) return IG_OK;
    ig_rq *q = calloc(1, sizeof *q);
    if (!q) return ig__fail(err, IG_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&q->mu, NULL);
    s->rq = q;
    if (ig__redis_parse_url(s->opt.queue_url, &q->addr, err)) return err->status;
    redisContext *c = ig__redis_connect(&q->addr);
    if (!c) return ig__fail(err, IG_ERR_IO, "--queue: cannot reach Redis at %s:%d", q->addr.host, q->addr.port);
    redisFree(c);
    char host[64] = "host", rnd[33];
    gethostname(host, sizeof host - 1);
    random_id(rnd);
    snprintf(q->worker_id, sizeof q->worker_id, "%.40s-%d-%.8s", host, (int)getpid(), rnd);
    if (s->opt.role != IG_ROLE_API) {
        if (pthread_create(&q->hb, NULL, hb_main, s)) return ig__fail(err, IG_ERR_NOMEM, "cannot start a thread");
        q->hb_started = true;
    }
    return IG_OK;
}

void ig__rq_close(ig_server *s) {
    ig_rq *q = s->rq;
    if (!q) return;
    if (q->hb_started) pthread_join(q->hb, NULL);
    for (int i = 0; i < 50 && q->n_pumps > 0; i++) usleep(100 * 1000); /* each sees its job cancelled */
    if (q->n_pumps > 0) return; /* still reading: the process is about to exit anyway */
    pthread_mutex_destroy(&q->mu);
    free(q);
    s->rq = NULL;
}

ig_status ig__jobs_push(ig_server *s, ig_job *j, ig_api_error *err) {
    if (s->opt.role == IG_ROLE_WORKER) {
        ig_api_error_set(err, IG_API_ERR_NOT_FOUND, NULL, NULL,
                         "This process is a worker (--role worker): send generations to a front.");
        return IG_ERR_INVALID;
    }
    if (s->rq) return rq_push(s, j, err);
    return ig_queue_push(s->queue, j, s->est_job_ms / 1000.0, err);
}

/* Sums of the shared state, read when /health or /metrics asks (one short connection). */
typedef struct shared_stats {
    long long depth, workers, claims, retries;
    bool ok;
} shared_stats;

static shared_stats read_stats(ig_server *s) {
    shared_stats st = {0};
    redisContext *c = ig__redis_connect(&s->rq->addr);
    if (!c) return st;
    st.ok = true;
    for (int i = 0; i < s->n_models; i++) {
        const long long d = reply_int(redisCommand(c, "XLEN imagine:jobs:%s", s->models[i].id));
        if (d > 0) st.depth += d;
    }
    st.workers = reply_int(redisCommand(c, "ZCOUNT imagine:workers %lld +inf", now_ms() - WORKER_LIVE_MS));
    redisReply *r = redisCommand(c, "MGET imagine:stats:claims imagine:stats:retries");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        st.claims = r->element[0]->type == REDIS_REPLY_STRING ? atoll(r->element[0]->str) : 0;
        st.retries = r->element[1]->type == REDIS_REPLY_STRING ? atoll(r->element[1]->str) : 0;
    }
    if (r) freeReplyObject(r);
    if (c->err) st.ok = false;
    redisFree(c);
    return st;
}

int ig__jobs_depth(ig_server *s) {
    if (!s->rq) return ig_queue_depth(s->queue);
    return (int)read_stats(s).depth;
}

void ig__jobs_health(ig_server *s, char *out, size_t cap) {
    if (!s->rq) {
        snprintf(out, cap, "%s", "");
        return;
    }
    const shared_stats st = read_stats(s);
    snprintf(out, cap, ",\"queue\":\"redis\",\"redis\":\"%s\",\"role\":\"%s\",\"live_workers\":%lld,\"claims\":%lld,"
             "\"retries\":%lld", st.ok ? "ok" : "unreachable",
             s->opt.role == IG_ROLE_API ? "api" : s->opt.role == IG_ROLE_WORKER ? "worker" : "all", st.workers,
             st.claims, st.retries);
}

ig_status ig__jobs_metrics(ig_server *s, ig_api_buf *buf) {
    if (!s->rq) return IG_OK;
    const shared_stats st = read_stats(s);
    char b[1024];
    const int n = snprintf(b, sizeof b,
                           "# HELP imagine_redis_up Whether Redis answered this scrape.\n# TYPE imagine_redis_up gauge\n"
                           "imagine_redis_up %d\n"
                           "# HELP imagine_shared_queue_depth Jobs waiting or running in the shared queue.\n"
                           "# TYPE imagine_shared_queue_depth gauge\nimagine_shared_queue_depth %lld\n"
                           "# HELP imagine_live_workers Workers that announced themselves in the last 5 s.\n"
                           "# TYPE imagine_live_workers gauge\nimagine_live_workers %lld\n"
                           "# HELP imagine_claims_total Jobs taken over from a stopped or dead worker.\n"
                           "# TYPE imagine_claims_total counter\nimagine_claims_total %lld\n"
                           "# HELP imagine_retries_total Jobs started again after a first attempt.\n"
                           "# TYPE imagine_retries_total counter\nimagine_retries_total %lld\n",
                           st.ok, st.depth, st.workers < 0 ? 0 : st.workers, st.claims, st.retries);
    return ig_api_buf_sink(buf, b, (size_t)n);
}
