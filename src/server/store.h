/* store.h — the files behind response_format=url: one folder, unguessable names, a time to live.
 *
 * Owns: naming (128 random bits from getrandom, as 32 hex digits, plus the format's extension),
 * writing atomically (a temporary name, then rename: a reader never sees half a file, and a full disk
 * leaves nothing behind), finding a file for GET, deleting expired ones.
 * Leaves to others: the route and the absolute URL (http.c), the bytes (job.c).
 *
 *     ig_store *s; ig_store_open(&s, "/var/lib/imagine", 3600, &err);
 *     char name[IG_STORE_NAME_MAX]; ig_store_put(s, png, n, "png", name, &err);   // "3f…9a.png"
 *     int fd; size_t size; ig_store_get(s, name, &fd, &size, &err);              // for the GET route
 */
#ifndef IG_SERVER_STORE_H
#define IG_SERVER_STORE_H

#include <stddef.h>

#include "imagine.h"

#define IG_STORE_NAME_MAX 48

typedef struct ig_store ig_store;

/* Creates dir (mode 0700) when missing and deletes expired files left from an earlier run.
 * ttl_s > 0 is how long a file is served. */
ig_status ig_store_open(ig_store **out, const char *dir, int ttl_s, ig_err *err);
void ig_store_close(ig_store *s); /* accepts NULL; files stay until they expire */

/* Writes bytes under a new name "<32 hex>.<ext>" (ext: png, jpeg or webp). IG_ERR_IO naming the
 * cause (a full disk, say) with nothing left on disk. Thread-safe. */
ig_status ig_store_put(ig_store *s, const void *bytes, size_t n, const char *ext, char name[IG_STORE_NAME_MAX],
                       ig_err *err);

/* Opens a stored file by name for reading: *fd (caller closes) and *size. IG_ERR_NOT_FOUND for a
 * name not of the store's form, a missing file or one past its time. */
ig_status ig_store_get(ig_store *s, const char *name, int *fd, size_t *size, ig_err *err);

/* Deletes files older than the ttl; returns how many. Cheap enough to call on each request. */
int ig_store_sweep(ig_store *s);

/* The mime type for a stored name's extension, or NULL. */
const char *ig_store_mime(const char *name);

/* --store redis: the same calls with the files in Redis (store_redis.c): each under imagine:file:<name>
 * with the ttl as Redis' expiry; get hands back a memfd. queue_url as for --queue (rq.h). */
ig_status ig_store_open_redis(ig_store **out, const char *queue_url, int ttl_s, ig_err *err);

typedef struct ig_store_redis ig_store_redis;
ig_status ig__store_redis_open(ig_store_redis **out, const char *url, int ttl_s, ig_err *err);
void ig__store_redis_close(ig_store_redis *r);
ig_status ig__store_redis_put(ig_store_redis *r, const char *name, const void *bytes, size_t n, ig_err *err);
ig_status ig__store_redis_get(ig_store_redis *r, const char *name, int *fd, size_t *size, ig_err *err);

#endif
