/* store_redis.c — `--store redis`: the files behind response_format=url kept in Redis, so that any
 * front serves any url link, whichever worker made the image.
 *
 * Owns: one key per file, imagine:file:<name> (the name as store.c makes it: 32 hex digits and the
 * extension), written with SET ... EX <--url-ttl>, so Redis deletes it when its time is up; reading it
 * back into a memfd, so the GET route sends it as it sends a file from disk.
 * Leaves to others: names, extensions and mime types (store.c), the route (http.c), the address (rq.c).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "server/rq.h"
#include "server/store.h"

struct ig_store_redis {
    ig_redis_addr addr;
    int ttl_s;
    pthread_mutex_t mu; /* guards c: HTTP threads read while the worker writes */
    redisContext *c;
};

ig_status ig__store_redis_open(ig_store_redis **out, const char *url, int ttl_s, ig_err *err) {
    *out = NULL;
    ig_store_redis *r = calloc(1, sizeof *r);
    if (!r) return ig__fail(err, IG_ERR_NOMEM, "url store: out of memory");
    if (ig__redis_parse_url(url, &r->addr, err)) return free(r), err->status;
    r->ttl_s = ttl_s;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return IG_OK;
}

void ig__store_redis_close(ig_store_redis *r) {
    if (!r) return;
    if (r->c) redisFree(r->c);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* A command under the lock, reconnecting once when the connection was lost (Redis restarted). */
static redisReply *command(ig_store_redis *r, const char *fmt, const char *name, const void *bytes, size_t n) {
    redisReply *rep = NULL;
    for (int attempt = 0; attempt < 2 && !rep; attempt++) {
        if (!r->c && !(r->c = ig__redis_connect(&r->addr))) break;
        rep = bytes ? redisCommand(r->c, fmt, name, bytes, n, r->ttl_s) : redisCommand(r->c, fmt, name);
        if (!rep) redisFree(r->c), r->c = NULL;
    }
    return rep;
}

ig_status ig__store_redis_put(ig_store_redis *r, const char *name, const void *bytes, size_t n, ig_err *err) {
    pthread_mutex_lock(&r->mu);
    redisReply *rep = command(r, "SET imagine:file:%s %b EX %d", name, bytes, n);
    const bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep) freeReplyObject(rep);
    pthread_mutex_unlock(&r->mu);
    if (!ok) return ig__fail(err, IG_ERR_IO, "url store: cannot store the image in Redis at %s:%d", r->addr.host, r->addr.port);
    return IG_OK;
}

ig_status ig__store_redis_get(ig_store_redis *r, const char *name, int *fd, size_t *size, ig_err *err) {
    *fd = -1, *size = 0;
    pthread_mutex_lock(&r->mu);
    redisReply *rep = command(r, "GET imagine:file:%s", name, NULL, 0);
    pthread_mutex_unlock(&r->mu);
    ig_status st = IG_OK;
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        st = ig__fail(err, IG_ERR_NOT_FOUND, rep ? "no such image (it may have expired)" : "the url store (Redis) is unreachable");
        goto done;
    }
    const int f = memfd_create("imagine-url", MFD_CLOEXEC);
    if (f < 0) {
        st = ig__fail(err, IG_ERR_IO, "url store: memfd_create: %s", strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < rep->len) {
        const ssize_t w = write(f, rep->str + off, rep->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    if (off != rep->len || lseek(f, 0, SEEK_SET) != 0) {
        close(f);
        st = ig__fail(err, IG_ERR_IO, "url store: cannot buffer the image");
        goto done;
    }
    *fd = f, *size = rep->len;
done:
    if (rep) freeReplyObject(rep);
    return st;
}
