/* store.c — see store.h. Expiry is by modification time, so a restart keeps serving what an
 * earlier run stored until its time is up. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

struct ig_store {
    char dir[1024];
    int ttl_s;
    pthread_mutex_t mu; /* guards last_sweep */
    time_t last_sweep;
    ig_store_redis *redis; /* --store redis: the files live there, dir is unused */
};

static const char *const exts[] = {"png", "jpeg", "webp"};
static const char *const mimes[] = {"image/png", "image/jpeg", "image/webp"};

/* The extension's index when name is 32 lower-case hex digits, '.', a known extension; else -1. */
static int check_name(const char *name) {
    for (int i = 0; i < 32; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return -1;
    if (name[32] != '.') return -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(name + 33, exts[k])) return k;
    return -1;
}

const char *ig_store_mime(const char *name) {
    const int k = check_name(name);
    return k < 0 ? NULL : mimes[k];
}

ig_status ig_store_open(ig_store **out, const char *dir, int ttl_s, ig_err *err) {
    *out = NULL;
    if (ttl_s <= 0) return ig__fail(err, IG_ERR_INVALID, "url store: the time to live must be positive");
    if (strlen(dir) >= sizeof((ig_store *)0)->dir - 64)
        return ig__fail(err, IG_ERR_INVALID, "url store: the folder name is too long");
    if (mkdir(dir, 0700) && errno != EEXIST)
        return ig__fail(err, IG_ERR_IO, "url store: cannot create %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return ig__fail(err, IG_ERR_IO, "url store: %s is not a folder", dir);
    if (access(dir, W_OK | X_OK)) return ig__fail(err, IG_ERR_IO, "url store: cannot write to %s", dir);
    ig_store *s = calloc(1, sizeof *s);
    if (!s) return ig__fail(err, IG_ERR_NOMEM, "url store: out of memory");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->ttl_s = ttl_s;
    pthread_mutex_init(&s->mu, NULL);
    ig_store_sweep(s);
    *out = s;
    return IG_OK;
}

ig_status ig_store_open_redis(ig_store **out, const char *queue_url, int ttl_s, ig_err *err) {
    *out = NULL;
    if (ttl_s <= 0) return ig__fail(err, IG_ERR_INVALID, "url store: the time to live must be positive");
    ig_store *s = calloc(1, sizeof *s);
    if (!s) return ig__fail(err, IG_ERR_NOMEM, "url store: out of memory");
    if (ig__store_redis_open(&s->redis, queue_url, ttl_s, err)) return free(s), err->status;
    s->ttl_s = ttl_s;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return IG_OK;
}

void ig_store_close(ig_store *s) {
    if (!s) return;
    ig__store_redis_close(s->redis);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static ig_status random_hex(char *out, ig_err *err) {
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return ig__fail(err, IG_ERR_IO, "url store: no random bytes: %s", strerror(errno));
        got += (size_t)k;
    }
    for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", r[i]);
    return IG_OK;
}

ig_status ig_store_put(ig_store *s, const void *bytes, size_t n, const char *ext, char name[IG_STORE_NAME_MAX],
                       ig_err *err) {
    char hex[33], tmp[1200], path[1200];
    int k = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(ext, exts[i])) k = i;
    if (k < 0) return ig__fail(err, IG_ERR_INVALID, "url store: unknown extension '%s'", ext);
    if (random_hex(hex, err)) return err->status;
    snprintf(name, IG_STORE_NAME_MAX, "%s.%s", hex, exts[k]);
    if (s->redis) return ig__store_redis_put(s->redis, name, bytes, n, err);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", s->dir, name); /* dot files are never served */
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return ig__fail(err, IG_ERR_IO, "url store: cannot create a file in %s: %s", s->dir, strerror(errno));
    const char *p = bytes;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            const int e = w < 0 ? errno : ENOSPC;
            close(fd), unlink(tmp);
            return ig__fail(err, IG_ERR_IO, "url store: cannot write the image to %s: %s", s->dir, strerror(e));
        }
        p += w, left -= (size_t)w;
    }
    if (close(fd) || rename(tmp, path)) {
        const int e = errno;
        unlink(tmp);
        return ig__fail(err, IG_ERR_IO, "url store: cannot store the image in %s: %s", s->dir, strerror(e));
    }
    return IG_OK;
}

ig_status ig_store_get(ig_store *s, const char *name, int *fd, size_t *size, ig_err *err) {
    char path[1200];
    struct stat st;
    *fd = -1, *size = 0;
    if (check_name(name) < 0) return ig__fail(err, IG_ERR_NOT_FOUND, "no such image");
    if (s->redis) return ig__store_redis_get(s->redis, name, fd, size, err);
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    const int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return ig__fail(err, IG_ERR_NOT_FOUND, "no such image (it may have expired)");
    if (fstat(f, &st) || !S_ISREG(st.st_mode) || time(NULL) - st.st_mtime > s->ttl_s) {
        close(f);
        return ig__fail(err, IG_ERR_NOT_FOUND, "no such image (it may have expired)");
    }
    *fd = f, *size = (size_t)st.st_size;
    return IG_OK;
}

int ig_store_sweep(ig_store *s) {
    const time_t now = time(NULL);
    if (s->redis) return 0; /* Redis expires the keys itself */
    pthread_mutex_lock(&s->mu);
    const bool due = now - s->last_sweep >= 10; /* at most every 10 s */
    if (due) s->last_sweep = now;
    pthread_mutex_unlock(&s->mu);
    if (!due) return 0;
    DIR *d = opendir(s->dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    char path[1400];
    while ((e = readdir(d))) {
        const bool ours = check_name(e->d_name) >= 0, tmp = !strncmp(e->d_name, ".tmp-", 5);
        if (!ours && !tmp) continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
        /* a temporary file older than a minute was left by a crash mid-write */
        if (stat(path, &st) == 0 && now - st.st_mtime > (tmp ? 60 : s->ttl_s) && unlink(path) == 0) n++;
    }
    closedir(d);
    return n;
}
