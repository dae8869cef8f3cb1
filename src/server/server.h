/* server.h — `imagine serve`: the pieces of a running server and how they meet.
 *
 *   http.c     libmicrohttpd: routes, auth, limits, bodies, responses, SSE, shutdown
 *   queue.c    the bounded job queue and job lifetime (shared by an HTTP thread and the worker)
 *   job.c      the worker: one job → plan → pipeline → post-processing → response or events
 *   plan.c     request → sampler/steps/guidance/prompt/size on a model (the documented tables)
 *   store.c    files for response_format=url
 *   metrics.c  Prometheus counters
 *   rq.c       with --queue redis://: the job queue shared by several processes on Redis Streams
 *   store_redis.c  with --store redis: url files kept in Redis
 *
 * Threads: libmicrohttpd runs one thread per connection; those threads parse, validate and wait.
 * One worker thread owns the engine and the models and runs jobs one at a time, in order (the engine
 * is one op at a time, and two generations on 2 cores would each run at half speed anyway).
 */
#ifndef IG_SERVER_SERVER_H
#define IG_SERVER_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/errors.h"
#include "api/request.h"
#include "api/response.h"
#include "lib/lib.h"
#include "server/plan.h"
#include "server/store.h"

#define IG_SERVE_MAX_MODELS 16
#define IG_SERVE_MAX_ALIASES 64
#define IG_SERVE_MAX_KEYS 64

/* What a process does with --queue: a front (HTTP, validation, auth, limits, streaming), a worker
 * (loads the models, runs jobs from the shared queue), or both. */
typedef enum ig_role { IG_ROLE_ALL, IG_ROLE_API, IG_ROLE_WORKER } ig_role;

typedef struct ig_serve_options {
    const char *model_paths[IG_SERVE_MAX_MODELS]; /* folders or single files */
    int n_models;
    const char *alias_specs[IG_SERVE_MAX_ALIASES]; /* "NAME=MODEL" */
    int n_aliases;
    const char *host;        /* "127.0.0.1" */
    int port;                /* 8080; 0 picks a free port (printed) */
    const char *api_key;     /* NULL: none */
    const char *api_keys_file;
    const char *data_dir;    /* url store; NULL: $XDG_CACHE_HOME or ~/.cache/imagine/images */
    const char *public_url;  /* base of url responses; NULL: from the request's Host */
    const char *moderation_file;
    const char *vocab_dir;   /* CLIP vocab for single files */
    const char *precision;   /* "auto" | "f32" | "bf16" */
    int max_queue;           /* jobs waiting, beyond the running one */
    int url_ttl_s;           /* how long url images are served */
    int timeout_s;           /* per request, queue wait included */
    int max_connections;
    int64_t max_body_memory; /* bytes of request bodies buffered at once, all connections; past it 503 */
    int rate_limit_per_min;  /* per API key (or client address without keys); 0: off */
    bool rate_limit_by_user; /* the bucket is per key and body `user` (--rate-limit-by user) */
    int64_t max_batch_pixels;/* n x W x H drawn in one UNet batch at most; more runs in several */
    bool revise_prompt;      /* false: --no-revise-prompt */
    bool warmup;             /* run one small generation at start (fills caches, fits previews) */
    bool copy_weights;       /* --copy-weights: weight files read into memory, not mapped (see safetensors.h) */
    const char *fast_decoder;/* --fast-decoder PATH: TAESD weights for every model (else each imagine.json's) */
    const char *decoder;     /* --decoder fast|full for every request; NULL: per model and quality (job.c) */
    const char *port_file;   /* write the bound port here once listening (tests) */
    const char *queue_url;   /* --queue redis://HOST:PORT[/DB]: the shared queue (rq.h); NULL: in memory */
    ig_role role;            /* --role api|worker|all (with --queue) */
    int claim_timeout_s;     /* --claim-timeout: a job idle this long on a worker is taken over */
    bool store_redis;        /* --store redis: url files kept in Redis (store.h) */
} ig_serve_options;

#define IG_SERVE_OPTIONS_INIT                                                                                   \
    {.host = "127.0.0.1", .port = 8080, .precision = "auto", .max_queue = 16, .url_ttl_s = 3600,                \
     .timeout_s = 600, .max_connections = 128, .max_body_memory = (int64_t)2 << 30, .max_batch_pixels = 4 * 512 * 512, \
     .revise_prompt = true, .warmup = true, .claim_timeout_s = 30}

/* One loaded model as the worker drives it. */
typedef struct ig_served_model {
    char id[128];
    char path[1024];
    ig_model *model;     /* its own engine; used by the worker only */
    ig_model_info info;
    ig_model_card card;
} ig_served_model;

typedef struct ig_metrics ig_metrics;
typedef struct ig_queue ig_queue;

typedef struct ig_server {
    ig_serve_options opt;
    ig_served_model models[IG_SERVE_MAX_MODELS];
    int n_models;
    ig_api_model api_models[IG_SERVE_MAX_MODELS];
    ig_api_alias api_aliases[IG_SERVE_MAX_ALIASES];
    char alias_names[IG_SERVE_MAX_ALIASES][128];
    ig_api_models table;
    char *keys[IG_SERVE_MAX_KEYS];
    int n_keys;
    ig_store *store;
    ig_blocklist *blocklist;
    ig_metrics *metrics;
    ig_queue *queue;
    struct ig_rq *rq;        /* the Redis transport, with --queue (rq.c) */
    pthread_t worker;
    bool worker_started;
    int64_t created; /* start time, for /v1/models */
    void *http;              /* struct MHD_Daemon * (http.c) */
    _Atomic int stopping;    /* SIGTERM seen: generations are refused with 503 */
    pthread_mutex_t rate_mu; /* guards rate_slots, http.c's per-key token buckets */
    struct ig_rate_slot *rate_slots;
    _Atomic long est_job_ms; /* moving average of a job's run time, for Retry-After */
    _Atomic int ready;       /* warm-up done */
    _Atomic size_t body_bytes; /* request bodies buffered now, every connection's (--max-body-memory) */
    struct ig_page *page;    /* page.c: the playground's files, read at start; NULL when missing */
} ig_server;

/* cli entry: parses argv (after "serve") and runs until SIGTERM/SIGINT. Exit status. */
int ig_cli_serve(int argc, char **argv);

/* The worker's loop (job.c): runs jobs until the queue is closed and drained. */
void *ig__worker_main(void *server);

/* Runs one job taken from a queue: refuses it when cancelled or past its deadline, else generates and
 * leaves the body or error in it (job.c). The caller finishes and releases it. */
struct ig_job;
void ig__job_run(ig_server *s, struct ig_job *j);

/* Runs one small generation per model (job.c). */
ig_status ig__warmup(ig_server *s, ig_err *err);

/* http.c: starts listening (s->opt.port 0: a free port, written back), stops accepting, counts open
 * connections, stops. */
ig_status ig__http_start(ig_server *s, ig_err *err);
void ig__http_quiesce(ig_server *s);
int ig__http_connections(ig_server *s);
void ig__http_stop(ig_server *s);

#endif
