/* queue.h — jobs and the bounded queue between HTTP threads and the worker.
 *
 * Owns: a job's lifetime (two references: the HTTP thread's and the queue/worker's; the last
 * release frees it), its state machine QUEUED → RUNNING → DONE, cancellation, the SSE frames a
 * streaming job hands to its HTTP thread, and the queue's bound and shutdown.
 * Leaves to others: what a job computes (job.c), what is sent (http.c).
 *
 *     ig_job *j = ig_job_new();                 // refs = 1 (the HTTP thread)
 *     ... fill j->req, j->model, j->plan ...
 *     if (ig_queue_push(q, j, &err)) reply(err); // queue takes a second reference
 *     ig_job_wait_done(j, poll_client, conn);     // or, streaming: ig_job_next_frame(...)
 *     ig_job_release(j);
 */
#ifndef IG_SERVER_QUEUE_H
#define IG_SERVER_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/response.h"
#include "server/server.h"

typedef enum ig_job_state { IG_JOB_QUEUED, IG_JOB_RUNNING, IG_JOB_DONE } ig_job_state;

typedef struct ig_frame {
    struct ig_frame *next;
    size_t len;
    char data[]; /* one complete SSE frame */
} ig_frame;

typedef struct ig_job {
    /* written by the HTTP thread before ig_queue_push, read-only afterwards */
    ig_request req;
    ig_served_model *model;
    ig_plan plan;
    char base_url[512]; /* "http://host:port", for url responses */
    double deadline;    /* ig__now_s() after which the job is cancelled */
    double enqueued_at;
    /* set by rq.c on a Redis worker: frames go to the front's reply stream instead of j->frames */
    bool (*frame_sink)(void *ud, const void *data, size_t len);
    void *frame_sink_ud;
    bool (*cancel_poll)(void *ud); /* rq.c: true when the job's front let go (checked with the flag) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    ig_job_state state;
    bool cancelled;        /* the client went away, the deadline passed, or the server stops */
    ig_api_error cancel_error; /* why, when cancelled by the server (timeout, shutdown) */
    ig_frame *frames, *frames_tail; /* streaming: frames ready to send, oldest first */
    ig_api_error error;    /* DONE: http_status 0 on success */
    ig_api_buf body;       /* DONE, not streaming: the response JSON */
    int n_images_done;
} ig_job;

ig_job *ig_job_new(void); /* NULL when out of memory; refs = 1 */
void ig_job_release(ig_job *j); /* accepts NULL */

/* Worker side. */
void ig_job_set_running(ig_job *j);
void ig_job_finish(ig_job *j); /* state DONE, wakes the waiter; error/body set before */
/* Appends a frame (copied); false when out of memory. */
bool ig_job_push_frame(ig_job *j, const void *data, size_t len);
bool ig_job_is_cancelled(ig_job *j);

/* HTTP side. Marks the job cancelled (it stops at the next step); err may be NULL. */
void ig_job_cancel(ig_job *j, const ig_api_error *err);
/* Waits up to timeout_ms for DONE (returns true) or until then (false). */
bool ig_job_wait_done(ig_job *j, int timeout_ms);
/* Streaming: waits up to timeout_ms for a frame; returns it (caller frees) or NULL, with *done set
 * when no frame will ever come. */
ig_frame *ig_job_next_frame(ig_job *j, int timeout_ms, bool *done);

typedef struct ig_queue ig_queue;

ig_queue *ig_queue_new(int max_waiting); /* NULL when out of memory */
void ig_queue_free(ig_queue *q);        /* the queue must be closed and drained */
/* Adds j (taking a reference). IG_ERR_INVALID with err 429 queue_full (Retry-After an estimate)
 * when max_waiting jobs wait, 503 when the queue is closed. */
ig_status ig_queue_push(ig_queue *q, ig_job *j, double est_job_s, ig_api_error *err);
/* Worker: the next job (the queue's reference passes to the caller), or NULL once closed and empty. */
ig_job *ig_queue_pop(ig_queue *q);
/* Shutdown: no more pushes; waiting jobs are finished with 503 server_shutting_down. */
void ig_queue_close(ig_queue *q);
int ig_queue_depth(ig_queue *q); /* waiting + running */

#endif
