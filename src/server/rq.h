/* rq.h — the job transport between fronts and workers: the in-memory queue (queue.c, the default) or a
 * shared queue on Redis Streams (`--queue redis://HOST:PORT[/DB]`, rq.c), so several `imagine serve`
 * processes behind any HTTP balancer share jobs and results.
 *
 * Owns: choosing the transport (ig__jobs_*), the Redis protocol below, the Redis worker loop, the
 * per-job pump that turns a job's reply stream back into the local ig_job the HTTP thread waits on.
 * Leaves to others: HTTP (http.c), running a job (job.c: ig__job_run), the local job object (queue.c).
 *
 * Protocol (all keys under "imagine:"; a job id is 32 hex digits from getrandom):
 *   imagine:jobs:<model>      stream, one per model id; consumer group "imagine-workers"; an entry has
 *                             v=1, id, req (the validated ig_request as JSON: fields rebuilt by name, so
 *                             new request fields and blobs are new keys, absent ones take defaults),
 *                             base_url, deadline_ms (unix ms). XLEN is the model's queue depth.
 *   imagine:out:<id>          stream, worker → front: t=start|frame|done|error, a=attempt, d=bytes
 *                             (frame: one SSE frame; done: the response JSON, "" when streaming;
 *                             error: the error body JSON, with s=HTTP status, r=Retry-After). Expires
 *                             --timeout + 60 s after its last write.
 *   imagine:live:<id>         the front's claim on its job: set with a 15 s expiry, renewed every 2 s
 *                             while the front waits, deleted when the client goes away. A worker that
 *                             finds it gone does not start the job, or cancels it at the next step.
 *   imagine:tries:<id>        counter of starts; a job is started at most IG_RQ_MAX_TRIES (3) times,
 *                             then fails with 500 job_failed naming the cause.
 *   imagine:workers:<model>   sorted set: worker id → last heartbeat (unix ms); live = within 5 s.
 *   imagine:workers           the same over all models, for /health and /metrics.
 *   imagine:stats:claims, imagine:stats:retries   counters (XAUTOCLAIMed jobs, restarted jobs).
 * A worker reads one job at a time (XREADGROUP COUNT 1), keeps it claimed while it runs (XCLAIM JUSTID
 * every second resets its idle time), writes the result to the reply stream and only then XACKs and
 * XDELs it. Every worker XAUTOCLAIMs entries idle longer than --claim-timeout (30 s): a worker that
 * died, or is stopped, holding a job. The front waits on the reply stream (XREAD BLOCK), ignoring
 * entries of older attempts once a newer attempt started; past the deadline + 5 s it answers 504, and
 * when Redis goes away (or restarts and loses the job) 503.
 */
#ifndef IG_SERVER_RQ_H
#define IG_SERVER_RQ_H

#include "api/response.h"
#include "server/queue.h"
#include "server/server.h"

#define IG_RQ_MAX_TRIES 3

typedef struct ig_redis_addr {
    char host[256];
    int port;
    int db;
    char password[256]; /* "" for none */
} ig_redis_addr;

struct redisContext;

/* "redis://[:PASSWORD@]HOST[:PORT][/DB]"; the password defaults to $IMAGINE_REDIS_PASSWORD. */
ig_status ig__redis_parse_url(const char *url, ig_redis_addr *a, ig_err *err);
/* A connected (AUTH, SELECT done) context with a 10 s command timeout, or NULL. */
struct redisContext *ig__redis_connect(const ig_redis_addr *a);

/* Opens the Redis transport when s->opt.queue_url is set (a no-op otherwise): checks Redis answers. */
ig_status ig__rq_open(ig_server *s, ig_err *err);
void ig__rq_close(ig_server *s);
/* The Redis worker loop (role worker or all): runs jobs of the loaded models until s->stopping. */
void *ig__rq_worker_main(void *server);

/* Transport-neutral calls for http.c and server.c. */
ig_status ig__jobs_push(ig_server *s, ig_job *j, ig_api_error *err);
int ig__jobs_depth(ig_server *s);
/* Extra JSON members for /health (",\"queue\":\"redis\",..." or ""). */
void ig__jobs_health(ig_server *s, char *out, size_t cap);
/* Extra Prometheus lines for /metrics (nothing for the in-memory queue). */
ig_status ig__jobs_metrics(ig_server *s, ig_api_buf *buf);

#endif
