/* metrics.h — the counters behind GET /metrics, in Prometheus' text format (version 0.0.4).
 *
 *   imagine_requests_total{route,status}      answers by route and HTTP status
 *   imagine_queue_depth                       jobs waiting or running (read when scraped)
 *   imagine_generation_seconds (histogram)    wall time of each generation job, queue wait excluded
 *   imagine_images_total                      images produced
 *   imagine_steps_total, imagine_step_seconds_total, imagine_steps_per_second (last job)
 *
 * Thread-safe (one mutex; every update is a few additions).
 */
#ifndef IG_SERVER_METRICS_H
#define IG_SERVER_METRICS_H

#include "api/response.h"

typedef struct ig_metrics ig_metrics;

ig_metrics *ig_metrics_new(void); /* NULL when out of memory */
void ig_metrics_free(ig_metrics *m);

/* route: a short fixed label ("generations", "models", "health", "metrics", "files", "other") */
void ig_metrics_request(ig_metrics *m, const char *route, int status);
void ig_metrics_generation(ig_metrics *m, double seconds, int n_images, int steps, double step_seconds);

/* Appends the exposition text to buf. */
ig_status ig_metrics_write(ig_metrics *m, int queue_depth, ig_api_buf *buf);

#endif
