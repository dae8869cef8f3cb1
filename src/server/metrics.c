/* metrics.c — see metrics.h. Request counters live in a small fixed table of (route, status)
 * pairs: routes are a closed set and statuses a handful, so 64 rows never fill in practice; a pair
 * that finds no row is counted under status 0 rather than dropped silently. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 64
static const double buckets[] = {0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600};
#define N_BUCKETS (sizeof buckets / sizeof *buckets)

struct ig_metrics {
    pthread_mutex_t mu;
    struct { const char *route; int status; unsigned long long n; } rows[MAX_ROWS];
    int n_rows;
    unsigned long long gen_bucket[N_BUCKETS], gen_count, images, steps;
    double gen_sum, step_seconds, last_steps_per_s;
};

ig_metrics *ig_metrics_new(void) {
    ig_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void ig_metrics_free(ig_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void ig_metrics_request(ig_metrics *m, const char *route, int status) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    for (; i < m->n_rows; i++)
        if (m->rows[i].status == status && !strcmp(m->rows[i].route, route)) break;
    if (i == m->n_rows) {
        if (m->n_rows < MAX_ROWS) {
            m->rows[i].route = route, m->rows[i].status = status, m->rows[i].n = 0;
            m->n_rows++;
        }
        else i = MAX_ROWS - 1, m->rows[i].status = 0; /* full: the last row absorbs the rest */
    }
    m->rows[i].n++;
    pthread_mutex_unlock(&m->mu);
}

void ig_metrics_generation(ig_metrics *m, double seconds, int n_images, int steps, double step_seconds) {
    pthread_mutex_lock(&m->mu);
    for (size_t b = 0; b < N_BUCKETS; b++)
        if (seconds <= buckets[b]) m->gen_bucket[b]++;
    m->gen_count++;
    m->gen_sum += seconds;
    m->images += (unsigned long long)n_images;
    m->steps += (unsigned long long)steps;
    m->step_seconds += step_seconds;
    if (step_seconds > 0) m->last_steps_per_s = steps / step_seconds;
    pthread_mutex_unlock(&m->mu);
}

static ig_status put(ig_api_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ig_status put(ig_api_buf *buf, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return IG_ERR_INVALID;
    return ig_api_buf_sink(buf, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

ig_status ig_metrics_write(ig_metrics *m, int queue_depth, ig_api_buf *buf) {
    ig_status st = IG_OK;
    pthread_mutex_lock(&m->mu);
    st |= put(buf, "# HELP imagine_requests_total HTTP answers by route and status.\n"
                   "# TYPE imagine_requests_total counter\n");
    for (int i = 0; i < m->n_rows; i++)
        st |= put(buf, "imagine_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->rows[i].route,
                  m->rows[i].status, m->rows[i].n);
    st |= put(buf, "# HELP imagine_queue_depth Generations waiting or running.\n# TYPE imagine_queue_depth gauge\n"
                   "imagine_queue_depth %d\n", queue_depth);
    st |= put(buf, "# HELP imagine_generation_seconds Wall time of generation jobs (queue wait excluded).\n"
                   "# TYPE imagine_generation_seconds histogram\n");
    for (size_t b = 0; b < N_BUCKETS; b++)
        st |= put(buf, "imagine_generation_seconds_bucket{le=\"%g\"} %llu\n", buckets[b], m->gen_bucket[b]);
    st |= put(buf, "imagine_generation_seconds_bucket{le=\"+Inf\"} %llu\nimagine_generation_seconds_sum %.6f\n"
                   "imagine_generation_seconds_count %llu\n", m->gen_count, m->gen_sum, m->gen_count);
    st |= put(buf, "# HELP imagine_images_total Images produced.\n# TYPE imagine_images_total counter\n"
                   "imagine_images_total %llu\n", m->images);
    st |= put(buf, "# HELP imagine_steps_total Sampling steps run.\n# TYPE imagine_steps_total counter\n"
                   "imagine_steps_total %llu\n", m->steps);
    st |= put(buf, "# HELP imagine_step_seconds_total Time spent in sampling steps.\n"
                   "# TYPE imagine_step_seconds_total counter\nimagine_step_seconds_total %.6f\n", m->step_seconds);
    st |= put(buf, "# HELP imagine_steps_per_second Sampling speed of the last generation.\n"
                   "# TYPE imagine_steps_per_second gauge\nimagine_steps_per_second %.4f\n", m->last_steps_per_s);
    pthread_mutex_unlock(&m->mu);
    return st ? IG_ERR_NOMEM : IG_OK;
}
