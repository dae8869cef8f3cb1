/* server.c — `imagine serve`: options, loading, the worker thread, signals and an orderly stop.
 *
 * Start: keys, engine, models (each with its card and preview fit), aliases, the moderation list,
 * the url store, metrics, queue; a warm-up generation per model (oneDNN builds its kernels and the
 * preview gets its first fit, so the first client does not pay for either); then listen.
 * Stop (SIGTERM or SIGINT): generations are refused with 503, queued ones are answered 503, the
 * running one finishes and is delivered, open responses get up to 10 s to drain, then exit 0.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "server/metrics.h"
#include "server/queue.h"
#include "server/rq.h"
#include "server/server.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: imagine serve [--model [ID=]PATH ...] [--alias NAME=MODEL ...] [--host 127.0.0.1] [--port 8080]\n"
            "       [--api-key KEY | --api-keys-file FILE] [--data-dir DIR] [--public-url URL] [--max-queue N]\n"
            "       [--timeout S] [--url-ttl S] [--max-connections N] [--max-body-memory MIB] [--rate-limit PER_MIN] [--rate-limit-by key|user]\n"
            "       [--max-batch-pixels N] [--moderation-file FILE] [--no-revise-prompt] [--no-warmup] [--precision auto|f32|bf16]\n"
            "       [--vocab DIR] [--port-file FILE] [--copy-weights] [--fast-decoder PATH] [--decoder fast|full]\n"
            "       [--queue redis://HOST:PORT[/DB] [--role all|api|worker] [--claim-timeout S] [--store file|redis]]\n"
            "PATH is a diffusers folder or a single-file .safetensors; without --model the built-in model\n"
            "(assets/imagine-emoji) is served. gpt-image-1, gpt-image-1-mini, gpt-image-1.5, dall-e-2 and dall-e-3\n"
            "are aliases of the first model unless --alias names them. $IMAGINE_API_KEY is read like --api-key.\n"
            "A --host other than loopback needs a key. See README \"Serving\".\n"
            "--copy-weights reads the weight files into memory instead of mapping them: the server then survives\n"
            "them being truncated or rewritten while it runs (a mapped file that shrinks kills it with SIGBUS), at\n"
            "the cost of their size in resident memory.\n"
            "--fast-decoder PATH loads TAESD weights (README \"Fast decoder\") for every model: previews (partial_images)\n"
            "use it, and so do final images with --decoder fast, or quality=low on a turbo model; --decoder full never\n"
            "uses it for final images. Without --decoder, a model's imagine.json \"decoder\" decides.\n"
            "--queue shares jobs between processes through Redis Streams ($IMAGINE_REDIS_PASSWORD or the URL's\n"
            "password): --role api answers HTTP only, --role worker runs jobs only, all (default) both; a job idle\n"
            "--claim-timeout seconds (30) on a worker is taken over by another; --store redis keeps url files in\n"
            "Redis. See README \"Several machines\".\n");
}

static bool is_loopback(const char *host) {
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

static int parse_int(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || !*v || x < lo || x > hi) {
        fprintf(stderr, "imagine serve: %s wants an integer in %ld..%ld, not '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, ig_serve_options *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 1;
        if (!strcmp(a, "--no-revise-prompt")) { o->revise_prompt = false; continue; }
        if (!strcmp(a, "--no-warmup")) { o->warmup = false; continue; }
        if (!strcmp(a, "--copy-weights")) { o->copy_weights = true; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "imagine serve: %s needs a value (or is unknown)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        long x = 0;
        if (!strcmp(a, "--model")) {
            if (o->n_models == IG_SERVE_MAX_MODELS) return fprintf(stderr, "imagine serve: too many --model\n"), -1;
            o->model_paths[o->n_models++] = v;
        } else if (!strcmp(a, "--alias")) {
            if (o->n_aliases == IG_SERVE_MAX_ALIASES) return fprintf(stderr, "imagine serve: too many --alias\n"), -1;
            o->alias_specs[o->n_aliases++] = v;
        } else if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--port")) { if (parse_int(a, v, 0, 65535, &x)) return -1; o->port = (int)x; }
        else if (!strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(a, "--api-keys-file")) o->api_keys_file = v;
        else if (!strcmp(a, "--data-dir")) o->data_dir = v;
        else if (!strcmp(a, "--public-url")) o->public_url = v;
        else if (!strcmp(a, "--moderation-file")) o->moderation_file = v;
        else if (!strcmp(a, "--vocab")) o->vocab_dir = v;
        else if (!strcmp(a, "--fast-decoder")) o->fast_decoder = v;
        else if (!strcmp(a, "--decoder")) {
            if (strcmp(v, "fast") && strcmp(v, "full")) return fprintf(stderr, "imagine serve: --decoder fast|full\n"), -1;
            o->decoder = v;
        }
        else if (!strcmp(a, "--precision")) o->precision = v;
        else if (!strcmp(a, "--port-file")) o->port_file = v;
        else if (!strcmp(a, "--queue")) o->queue_url = v;
        else if (!strcmp(a, "--claim-timeout")) { if (parse_int(a, v, 1, 86400, &x)) return -1; o->claim_timeout_s = (int)x; }
        else if (!strcmp(a, "--role")) {
            if (strcmp(v, "all") && strcmp(v, "api") && strcmp(v, "worker"))
                return fprintf(stderr, "imagine serve: --role all|api|worker\n"), -1;
            o->role = !strcmp(v, "api") ? IG_ROLE_API : !strcmp(v, "worker") ? IG_ROLE_WORKER : IG_ROLE_ALL;
        } else if (!strcmp(a, "--store")) {
            if (strcmp(v, "file") && strcmp(v, "redis")) return fprintf(stderr, "imagine serve: --store file|redis\n"), -1;
            o->store_redis = !strcmp(v, "redis");
        }
        else if (!strcmp(a, "--max-queue")) { if (parse_int(a, v, 1, 100000, &x)) return -1; o->max_queue = (int)x; }
        else if (!strcmp(a, "--timeout")) { if (parse_int(a, v, 1, 86400, &x)) return -1; o->timeout_s = (int)x; }
        else if (!strcmp(a, "--url-ttl")) { if (parse_int(a, v, 1, 30 * 86400, &x)) return -1; o->url_ttl_s = (int)x; }
        else if (!strcmp(a, "--max-connections")) { if (parse_int(a, v, 4, 100000, &x)) return -1; o->max_connections = (int)x; }
        else if (!strcmp(a, "--max-body-memory")) { if (parse_int(a, v, 16, 1 << 20, &x)) return -1; o->max_body_memory = (int64_t)x << 20; }
        else if (!strcmp(a, "--rate-limit")) { if (parse_int(a, v, 0, 1000000, &x)) return -1; o->rate_limit_per_min = (int)x; }
        else if (!strcmp(a, "--rate-limit-by")) {
            if (strcmp(v, "key") && strcmp(v, "user")) return fprintf(stderr, "imagine serve: --rate-limit-by key|user\n"), -1;
            o->rate_limit_by_user = !strcmp(v, "user");
        } else if (!strcmp(a, "--max-batch-pixels")) { if (parse_int(a, v, 1, 1L << 30, &x)) return -1; o->max_batch_pixels = x; }
        else {
            fprintf(stderr, "imagine serve: unknown option %s\n", a);
            return -1;
        }
    }
    if (strcmp(o->precision, "auto") && strcmp(o->precision, "f32") && strcmp(o->precision, "bf16")) {
        fprintf(stderr, "imagine serve: --precision is auto, f32 or bf16\n");
        return -1;
    }
    if (!o->queue_url && (o->role != IG_ROLE_ALL || o->store_redis)) {
        fprintf(stderr, "imagine serve: --role and --store redis need --queue redis://HOST:PORT\n");
        return -1;
    }
    return 0;
}

static ig_status add_key(ig_server *s, const char *k, size_t n, ig_err *err) {
    while (n && (k[n - 1] == '\n' || k[n - 1] == '\r' || k[n - 1] == ' ' || k[n - 1] == '\t')) n--;
    while (n && (*k == ' ' || *k == '\t')) k++, n--;
    if (!n || *k == '#') return IG_OK;
    if (s->n_keys == IG_SERVE_MAX_KEYS) return ig__fail(err, IG_ERR_INVALID, "more than %d API keys", IG_SERVE_MAX_KEYS);
    if (!(s->keys[s->n_keys] = strndup(k, n))) return ig__fail(err, IG_ERR_NOMEM, "out of memory");
    s->n_keys++;
    return IG_OK;
}

static ig_status load_keys(ig_server *s, ig_err *err) {
    const char *env = getenv("IMAGINE_API_KEY");
    if (s->opt.api_key && add_key(s, s->opt.api_key, strlen(s->opt.api_key), err)) return err->status;
    if (env && *env && add_key(s, env, strlen(env), err)) return err->status;
    if (s->opt.api_keys_file) {
        FILE *f = fopen(s->opt.api_keys_file, "r");
        char line[1024];
        if (!f) return ig__fail(err, IG_ERR_IO, "%s: %s", s->opt.api_keys_file, strerror(errno));
        while (fgets(line, sizeof line, f))
            if (add_key(s, line, strlen(line), err)) break;
        fclose(f);
        if (err->status) return err->status;
        if (!s->n_keys) return ig__fail(err, IG_ERR_INVALID, "%s holds no key", s->opt.api_keys_file);
    }
    return IG_OK;
}

/* "ID=PATH" or "PATH" (id: the file or folder name, without .safetensors) */
static void split_model(const char *spec, char *id, size_t id_len, char *path, size_t path_len) {
    const char *eq = strchr(spec, '=');
    struct stat st;
    if (eq && eq != spec && stat(spec, &st) != 0) {
        snprintf(id, id_len, "%.*s", (int)(eq - spec), spec);
        snprintf(path, path_len, "%s", eq + 1);
        return;
    }
    snprintf(path, path_len, "%s", spec);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(id, id_len, "%s", base);
    char *ext = strstr(id, ".safetensors");
    if (ext && !ext[12]) *ext = 0;
}

static ig_status load_models(ig_server *s, ig_err *err) {
    char builtin[PATH_MAX + 32];
    const char *specs[IG_SERVE_MAX_MODELS];
    int n = s->opt.n_models;
    memcpy(specs, s->opt.model_paths, sizeof specs);
    if (!n) {
        char p[PATH_MAX];
        ig__asset_path("imagine-emoji", p, sizeof p);
        snprintf(builtin, sizeof builtin, "imagine-emoji=%s", p);
        struct stat st;
        if (stat(p, &st) != 0)
            return ig__fail(err, IG_ERR_NOT_FOUND, "no --model given and the built-in model is missing (%s)", p);
        specs[n++] = builtin;
    }
    const ig_precision prec = !strcmp(s->opt.precision, "f32")    ? IG_PRECISION_F32
                              : !strcmp(s->opt.precision, "bf16") ? IG_PRECISION_BF16
                                                                   : IG_PRECISION_AUTO;
    ig_open_options o = IG_OPEN_OPTIONS_INIT;
    o.precision = prec, o.vocab_dir = s->opt.vocab_dir, o.copy_weights = s->opt.copy_weights;
    o.fast_decoder = s->opt.fast_decoder;
    for (int i = 0; i < n; i++) {
        ig_served_model *m = &s->models[i];
        split_model(specs[i], m->id, sizeof m->id, m->path, sizeof m->path);
        for (int k = 0; k < i; k++)
            if (!strcmp(s->models[k].id, m->id))
                return ig__fail(err, IG_ERR_INVALID, "two models have the id '%s': name them with --model ID=PATH", m->id);
        struct stat st;
        if (s->opt.role == IG_ROLE_API) { /* a front only names its models: the workers load them */
            m->card.native = 512, m->card.multiple = 64;
            s->api_models[i] = (ig_api_model){.id = m->id, .default_width = 1024, .default_height = 1024};
            s->n_models = i + 1;
            continue;
        }
        if (stat(m->path, &st)) return ig__fail(err, IG_ERR_NOT_FOUND, "--model %s: %s", m->path, strerror(errno));
        if (ig_model_open(&m->model, m->path, &o, err)) return err->status;
        ig_model_describe(m->model, &m->info);
        s->n_models = i + 1;
        if (s->opt.decoder && !strcmp(s->opt.decoder, "fast") && !m->info.fast_decoder)
            return ig__fail(err, IG_ERR_INVALID, "--decoder fast, but model %s has no fast decoder (--fast-decoder PATH, "
                                                 "or \"fast_decoder\" in its imagine.json)", m->id);
        /* the card again, with the id: --model sd-turbo=PATH names a turbo model by its id */
        if (ig_model_card_load(&m->card, m->path, m->id, ig__model_sd(m->model), err)) return err->status;
        s->api_models[i] = (ig_api_model){.id = m->id, .default_width = 1024, .default_height = 1024};
        fprintf(stderr, "imagine: model %s from %s (native %dx%d, %s preset, steps %d/%d/%d)\n", m->id, m->path,
                m->card.native, m->card.native,
                m->card.preset == IG_PRESET_TURBO ? "turbo" : m->card.preset == IG_PRESET_LCM ? "lcm" : "standard",
                m->card.steps[0], m->card.steps[1], m->card.steps[2]);
    }
    return IG_OK;
}

static int model_index(const ig_server *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].id, name)) return i;
    for (size_t i = 0; i < s->table.n_aliases; i++)
        if (!strcmp(s->api_aliases[i].name, name)) return (int)s->api_aliases[i].model;
    return -1;
}

static ig_status load_aliases(ig_server *s, ig_err *err) {
    s->table = (ig_api_models){.models = s->api_models, .n_models = (size_t)s->n_models, .aliases = s->api_aliases};
    for (int i = 0; i < s->opt.n_aliases; i++) {
        const char *spec = s->opt.alias_specs[i], *eq = strchr(spec, '=');
        if (!eq || eq == spec || !eq[1] || eq - spec >= 127)
            return ig__fail(err, IG_ERR_INVALID, "--alias %s: write NAME=MODEL", spec);
        const int k = model_index(s, eq + 1);
        if (k < 0) return ig__fail(err, IG_ERR_NOT_FOUND, "--alias %s: no model '%s'", spec, eq + 1);
        const size_t a = s->table.n_aliases++;
        snprintf(s->alias_names[a], sizeof s->alias_names[a], "%.*s", (int)(eq - spec), spec);
        s->api_aliases[a] = (ig_api_alias){s->alias_names[a], (size_t)k};
    }
    static const char *const openai[] = {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2", "dall-e-3"};
    for (size_t i = 0; i < sizeof openai / sizeof *openai; i++) {
        if (model_index(s, openai[i]) >= 0 || s->table.n_aliases == IG_SERVE_MAX_ALIASES) continue;
        const size_t a = s->table.n_aliases++;
        snprintf(s->alias_names[a], sizeof s->alias_names[a], "%s", openai[i]);
        s->api_aliases[a] = (ig_api_alias){s->alias_names[a], 0};
    }
    return IG_OK;
}

static ig_status open_store(ig_server *s, ig_err *err) {
    char dir[PATH_MAX];
    if (s->opt.data_dir) snprintf(dir, sizeof dir, "%s", s->opt.data_dir);
    else {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        char base[PATH_MAX - 32];
        if (xdg && *xdg) snprintf(base, sizeof base, "%s/imagine", xdg);
        else snprintf(base, sizeof base, "%s/.cache/imagine", home && *home ? home : "/tmp");
        mkdir(base, 0700); /* its parent may be missing too; ig_store_open reports what fails */
        snprintf(dir, sizeof dir, "%s/images", base);
    }
    ig_err e = {0};
    if (s->opt.store_redis) return ig_store_open_redis(&s->store, s->opt.queue_url, s->opt.url_ttl_s, err);
    if (ig_store_open(&s->store, dir, s->opt.url_ttl_s, &e) == IG_OK) return IG_OK;
    if (s->opt.data_dir) return ig__fail(err, e.status, "%s", e.msg); /* asked for: fail */
    fprintf(stderr, "imagine: warning: %s; response_format=url is refused\n", e.msg);
    return IG_OK;
}

static void server_free(ig_server *s) {
    ig_queue_free(s->queue);
    ig_metrics_free(s->metrics);
    ig_store_close(s->store);
    ig_blocklist_free(s->blocklist);
    for (int i = 0; i < s->n_models; i++) ig_model_close(s->models[i].model);
    for (int i = 0; i < s->n_keys; i++) free(s->keys[i]);
    pthread_mutex_destroy(&s->rate_mu);
}

int ig_cli_serve(int argc, char **argv) {
    static ig_server srv; /* large (model tables); one per process */
    ig_server *s = &srv;
    ig_err err = {0};
    int rc = 1;
    s->opt = (ig_serve_options)IG_SERVE_OPTIONS_INIT;
    const int pa = parse_args(argc, argv, &s->opt);
    if (pa) return pa > 0 ? 0 : (usage(stderr), 2);
    pthread_mutex_init(&s->rate_mu, NULL);
    s->created = (int64_t)time(NULL);

    /* SIGTERM/SIGINT are taken by sigwait below: block them before any thread exists */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit makes write() fail instead of killing the server */
    /* A fixed mmap threshold: request bodies (up to 1 MiB, in buffers that double to 2 MiB), responses and
     * images above 128 KiB are mapped and given back on free. glibc's default raises the threshold after
     * the first such free, after which these buffers come from per-thread arenas that keep them: RSS
     * grew by 20-30 % under tests/hostile and did not come back. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    ig__weights_guard_install();

    if (load_keys(s, &err)) goto done;
    if (!is_loopback(s->opt.host) && !s->n_keys) {
        ig__fail(&err, IG_ERR_INVALID,
                 "refusing to listen on %s without an API key: give --api-key, --api-keys-file or $IMAGINE_API_KEY",
                 s->opt.host);
        goto done;
    }
    if (load_models(s, &err) || load_aliases(s, &err)) goto done;
    if (ig_blocklist_load(&s->blocklist, s->opt.moderation_file, &err)) goto done;
    if (open_store(s, &err)) goto done;
    if (!(s->metrics = ig_metrics_new()) || !(s->queue = ig_queue_new(s->opt.max_queue))) {
        ig__fail(&err, IG_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (ig__rq_open(s, &err)) goto done;
    if (s->opt.warmup && s->opt.role != IG_ROLE_API && ig__warmup(s, &err)) goto done;
    s->ready = 1;
    if (s->opt.role != IG_ROLE_API &&
        pthread_create(&s->worker, NULL, s->rq ? ig__rq_worker_main : ig__worker_main, s)) {
        ig__fail(&err, IG_ERR_NOMEM, "cannot start the worker thread");
        goto done;
    }
    s->worker_started = s->opt.role != IG_ROLE_API;
    if (ig__http_start(s, &err)) goto done;
    fprintf(stderr, "imagine: listening on http://%s:%d (%d model%s, %s)\n", s->opt.host, s->opt.port, s->n_models,
            s->n_models > 1 ? "s" : "", s->n_keys ? "API key required" : "no API key");
    if (s->opt.port_file) {
        FILE *f = fopen(s->opt.port_file, "w");
        if (f) fprintf(f, "%d\n", s->opt.port), fclose(f);
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "imagine: %s: finishing the running generation, refusing the queued ones\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;
done:
    s->stopping = 1;
    if (s->queue) ig_queue_close(s->queue);
    if (s->worker_started) pthread_join(s->worker, NULL);
    ig__http_quiesce(s);
    for (int i = 0; i < 100 && ig__http_connections(s) > 0; i++) usleep(100 * 1000); /* let answers drain */
    ig__http_stop(s);
    ig__rq_close(s); /* its heartbeat stops with s->stopping; waiting pumps see their clients gone */
    if (err.status) fprintf(stderr, "imagine serve: %s\n", err.msg);
    server_free(s);
    return err.status ? 1 : rc;
}
