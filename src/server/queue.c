/* queue.c — see queue.h. One mutex per job and one for the queue; a job's mutex is never taken
 * while holding the queue's, except in ig_queue_close, which takes them in that order only. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

ig_job *ig_job_new(void) {
    ig_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->refs = 1;
    return j;
}

static void job_free(ig_job *j) {
    for (ig_frame *f = j->frames, *n; f; f = n) n = f->next, free(f);
    ig_request_clear(&j->req);
    ig_plan_clear(&j->plan);
    ig_api_buf_free(&j->body);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void ig_job_release(ig_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    const int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) job_free(j);
}

void ig_job_set_running(ig_job *j) {
    pthread_mutex_lock(&j->mu);
    j->state = IG_JOB_RUNNING;
    pthread_mutex_unlock(&j->mu);
}

void ig_job_finish(ig_job *j) {
    pthread_mutex_lock(&j->mu);
    j->state = IG_JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

bool ig_job_push_frame(ig_job *j, const void *data, size_t len) {
    if (j->frame_sink) return j->frame_sink(j->frame_sink_ud, data, len);
    ig_frame *f = malloc(sizeof *f + len);
    if (!f) return false;
    f->next = NULL, f->len = len;
    memcpy(f->data, data, len);
    pthread_mutex_lock(&j->mu);
    if (j->frames_tail) j->frames_tail->next = f;
    else j->frames = f;
    j->frames_tail = f;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return true;
}

bool ig_job_is_cancelled(ig_job *j) {
    if (j->cancel_poll && j->cancel_poll(j->frame_sink_ud)) ig_job_cancel(j, NULL);
    pthread_mutex_lock(&j->mu);
    const bool c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

void ig_job_cancel(ig_job *j, const ig_api_error *err) {
    pthread_mutex_lock(&j->mu);
    if (!j->cancelled && err) j->cancel_error = *err;
    j->cancelled = true;
    pthread_mutex_unlock(&j->mu);
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

bool ig_job_wait_done(ig_job *j, int timeout_ms) {
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&j->mu);
    while (j->state != IG_JOB_DONE)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT) break;
    const bool done = j->state == IG_JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    return done;
}

ig_frame *ig_job_next_frame(ig_job *j, int timeout_ms, bool *done) {
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&j->mu);
    while (!j->frames && j->state != IG_JOB_DONE)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT) break;
    ig_frame *f = j->frames;
    if (f) {
        j->frames = f->next;
        if (!j->frames) j->frames_tail = NULL;
        f->next = NULL;
    }
    *done = !f && j->state == IG_JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    return f;
}

struct ig_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ig_job **ring;
    int cap, head, count;
    bool running, closed;
};

ig_queue *ig_queue_new(int max_waiting) {
    ig_queue *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->cap = max_waiting < 1 ? 1 : max_waiting;
    if (!(q->ring = calloc((size_t)q->cap, sizeof *q->ring))) return free(q), NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

void ig_queue_free(ig_queue *q) {
    if (!q) return;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
}

ig_status ig_queue_push(ig_queue *q, ig_job *j, double est_job_s, ig_api_error *err) {
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, NULL, "The server is shutting down; try again later.");
        e.retry_after_s = 5;
        *err = e;
        return IG_ERR_INVALID;
    }
    if (q->count >= q->cap) {
        const int waiting = q->count + (q->running ? 1 : 0);
        pthread_mutex_unlock(&q->mu);
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_QUEUE_FULL, NULL, NULL,
                         "The server is busy: %d generations are queued. Retry after the Retry-After seconds.",
                         waiting);
        const double eta = est_job_s > 0 ? est_job_s * waiting : 1;
        e.retry_after_s = eta < 1 ? 1 : eta > 600 ? 600 : (int)(eta + 0.999);
        *err = e;
        return IG_ERR_INVALID;
    }
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    q->ring[(q->head + q->count++) % q->cap] = j;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return IG_OK;
}

ig_job *ig_queue_pop(ig_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->running = false;
    while (!q->count && !q->closed) pthread_cond_wait(&q->cv, &q->mu);
    ig_job *j = NULL;
    if (q->count) {
        j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        q->running = true;
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

void ig_queue_close(ig_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    while (q->count) { /* refuse what waits: the running job finishes */
        ig_job *j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_UNAVAILABLE, NULL, NULL,
                         "The server is shutting down; the request was not started. Try again later.");
        e.retry_after_s = 5;
        pthread_mutex_lock(&j->mu);
        j->error = e;
        pthread_mutex_unlock(&j->mu);
        ig_job_finish(j);
        ig_job_release(j);
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int ig_queue_depth(ig_queue *q) {
    pthread_mutex_lock(&q->mu);
    const int d = q->count + (q->running ? 1 : 0);
    pthread_mutex_unlock(&q->mu);
    return d;
}
