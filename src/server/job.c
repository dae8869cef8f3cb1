/* job.c — the worker: takes jobs from the queue in order and runs each: ig_generate in batches,
 * previews for partial images, then per image background keying, resize to
 * the requested pixels, encoding, and either the url store or the response/events.
 *
 * Owns: the worker loop, batching n images, cancellation at each step (client gone, deadline,
 * shutdown), the warm-up run (which also fits the models' previews). Leaves to others: generating
 * (the library, include/imagine.h), the plan (plan.c), what HTTP sends (http.c), the pixels' codecs
 * (image/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "image/image.h"
#include "lib/lib.h"
#include "server/metrics.h"
#include "server/queue.h"
#include "server/server.h"

typedef struct run_ctx {
    ig_server *s;
    ig_job *job; /* NULL for the warm-up */
    int first_image, n_chunk;
    double t_sampling_start, t_last_step;
    int steps_done;
    ig_status fail; /* a preview that could not be made or sent */
    ig_api_error fail_error;
} run_ctx;

static ig_format format_of(ig_output_format f) {
    return f == IG_OUTPUT_FORMAT_JPEG ? IG_FORMAT_JPEG : f == IG_OUTPUT_FORMAT_WEBP ? IG_FORMAT_WEBP : IG_FORMAT_PNG;
}

/* drawn: the model's 8-bit image (or a preview) → the requested image, encoded. Keys the background
 * at the drawn resolution (where edges are 1-3 px, as alpha.c wants), cuts out the centre of the
 * requested aspect (plan.h: the drawn sides are rounded to what the UNet takes) and resizes it to the
 * requested pixels. */
static ig_status finish_image(const ig_request *req, bool transparent, const ig_image *drawn, ig_bytebuf *out,
                              ig_err *err) {
    ig_image *keyed = NULL, *sized = NULL;
    const ig_image *cur = drawn;
    ig_image view;
    int cx, cy, cw, ch;
    const int sw = drawn->width, sh = drawn->height;
    if (transparent) {
        if (ig_image_new(&keyed, sw, sh, 4, err) || ig_image_key_background(drawn, keyed, NULL, NULL, err)) goto done;
        cur = keyed;
    }
    ig_plan_crop(sw, sh, req->width, req->height, &cx, &cy, &cw, &ch);
    if (cw != sw || ch != sh) {
        view = *cur;
        view.width = cw, view.height = ch;
        view.pixels = cur->pixels + (size_t)cy * cur->stride + (size_t)cx * cur->channels;
        cur = &view;
    }
    if (cw != req->width || ch != req->height) {
        if (ig_image_new(&sized, req->width, req->height, cur->channels, err) ||
            ig_image_resize(cur, sized, IG_FILTER_AUTO, err))
            goto done;
        cur = sized;
    }
    ig_image_encode(cur, format_of(req->output_format), req->output_compression, ig_bytebuf_sink, out, err);
done:
    ig_image_free(sized);
    ig_image_free(keyed);
    return err->status;
}

/* The event's fields common to partial and completed events. */
static ig_api_event event_base(const ig_job *j, ig_api_event_type type, const ig_bytebuf *img) {
    return (ig_api_event){.type = type, .bytes = img->data, .n_bytes = img->len, .created_at = (int64_t)time(NULL),
                          .background = j->plan.transparent ? IG_BACKGROUND_TRANSPARENT : IG_BACKGROUND_OPAQUE,
                          .output_format = j->req.output_format, .quality = j->req.quality_tier,
                          .width = j->req.width, .height = j->req.height,
                          .edit = j->req.route == IG_API_ROUTE_EDITS};
}

static bool push_event(ig_job *j, const ig_api_event *ev) {
    ig_api_buf frame = {0};
    const bool ok = ig_api_write_event(ev, ig_api_buf_sink, &frame) == IG_OK && ig_job_push_frame(j, frame.data, frame.len);
    ig_api_buf_free(&frame);
    return ok;
}

static int on_step(void *ud, const ig_progress *pr) {
    run_ctx *rc = ud;
    const int step = pr->step, n_steps = pr->n_steps;
    ig_job *j = rc->job;
    rc->t_last_step = ig__now_s();
    rc->steps_done++;
    if (!j) return 0;
    if (ig__now_s() > j->deadline) {
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_TIMEOUT, NULL, NULL,
                         "The generation did not finish within the server's time limit (%d s).",
                         rc->s->opt.timeout_s);
        ig_job_cancel(j, &e);
    }
    if (ig_job_is_cancelled(j)) return 1;
    for (int k = 0; k < j->plan.n_partials; k++) {
        if (j->plan.partial_after[k] != step) continue;
        for (int i = 0; i < rc->n_chunk; i++) {
            ig_bytebuf img = {0};
            ig_image *pv = NULL;
            ig_err err = {0};
            if (ig_progress_preview(pr, i, &pv, &err) == IG_OK &&
                finish_image(&j->req, j->plan.transparent, pv, &img, &err) == IG_OK) {
                ig_api_event ev = event_base(j, IG_API_EVENT_PARTIAL_IMAGE, &img);
                ev.partial_image_index = k;
                if (!push_event(j, &ev)) err.status = IG_ERR_NOMEM;
            }
            ig_image_free(pv);
            ig_bytebuf_free(&img);
            if (err.status) { /* a preview that cannot be made fails the job: the client asked for it */
                ig_api_error_from_status(&rc->fail_error, err.status, err.msg);
                rc->fail = err.status;
                return 1;
            }
        }
    }
    (void)n_steps;
    return 0;
}

static uint64_t random_seed(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v || !v) v = (uint64_t)(ig__now_s() * 1e6);
    return v;
}

/* Images drawn in one UNet batch: as many as max_batch_pixels allows, at least one. */
static int batch_size(const ig_server *s, const ig_plan *p, int n) {
    const int64_t px = (int64_t)p->gen_width * p->gen_height;
    int64_t b = s->opt.max_batch_pixels / (px > 0 ? px : 1);
    return b < 1 ? 1 : b > n ? n : (int)b;
}

/* Bytes of address space left under RLIMIT_AS (ulimit -v), or -1 when there is no such limit. */
static long long address_space_left(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%lld", &pages) != 1) pages = 0;
    fclose(f);
    return (long long)rl.rlim_cur - pages * (long long)sysconf(_SC_PAGESIZE);
}

/* The final decoder (README "Fast decoder"): --decoder, else the model's imagine.json "decoder", else
 * TAESD for quality=low on a turbo model that has one, else the VAE. The server refused at start a
 * --decoder fast for a model without a fast decoder. */
static ig_decoder pick_decoder(const ig_server *s, const ig_served_model *m, const ig_request *req) {
    if (s->opt.decoder) return !strcmp(s->opt.decoder, "fast") ? IG_DECODER_FAST : IG_DECODER_FULL;
    if (m->card.decoder != IG_DECODER_DEFAULT) return m->card.decoder;
    if (req->quality_tier == IG_QUALITY_LOW && m->card.preset == IG_PRESET_TURBO && m->info.fast_decoder)
        return IG_DECODER_FAST;
    return IG_DECODER_FULL;
}

static void run_job(ig_server *s, ig_job *j) {
    ig_served_model *m = j->model;
    const ig_request *req = &j->req;
    const ig_plan *p = &j->plan;
    const int n = req->n, f = m->card.factor, C = m->info.latent_channels;
    const int h = p->gen_height / f, w = p->gen_width / f;
    const int B = batch_size(s, p, n);
    ig_image *drawn[16] = {0};
    ig_bytebuf *files = calloc((size_t)n, sizeof *files);
    char (*urls)[600] = calloc((size_t)n, sizeof *urls);
    ig_api_error error = {0};
    int n_tokens = 0;
    const double t0 = ig__now_s();
    double t_gen = 0; /* seconds in ig_generate; the rest is post-processing, encoding, the response */
    run_ctx rc = {.s = s, .job = j};
    if (!files || !urls) {
        ig_api_error_from_status(&error, IG_ERR_NOMEM, "out of memory for the images of this request");
        goto done;
    }
    if (ig__weights_changed()) goto changed; /* do not even start */
    /* Under an address-space limit, refuse what would not fit instead of starting it: oneDNN does not
     * fail but crashes (SIGSEGV in dnnl_primitive_create) when it cannot map memory for a new kernel.
     * The estimate: 64 MiB for new kernels, arenas and stacks, the batch's latents and pixels, and per
     * image the resized copy, its encoding and its share of the response (4 bytes a pixel each). */
    const long long left = address_space_left();
    const long long need = (64LL << 20) + 4LL * B * (C * h * w + 3LL * p->gen_width * p->gen_height) +
                           12LL * n * req->width * req->height;
    if (left >= 0 && left < need) {
        ig_api_error_set(&error, IG_API_ERR_SERVER, NULL, "out_of_memory",
                         "Not enough memory for this request (%d image%s of %dx%d): about %lld MiB are needed, %lld "
                         "MiB are left under the server's address-space limit.",
                         n, n > 1 ? "s" : "", req->width, req->height, need >> 20, left >> 20);
        goto done;
    }
    for (int first = 0; first < n; first += B) {
        const int nb = n - first < B ? n - first : B;
        ig_gen_params gp = IG_GEN_PARAMS_INIT;
        gp.prompt = p->prompt, gp.negative_prompt = p->negative;
        gp.width = p->gen_width, gp.height = p->gen_height, gp.n_images = nb;
        gp.n_steps = p->n_steps, gp.guidance = p->guidance, gp.sampler = p->sampler;
        gp.decoder = pick_decoder(s, m, req);
        gp.seed = p->seed + (uint64_t)(first / B); /* one generator per batch, as diffusers draws a batch */
        if (p->img2img) { /* edits and variations: the library fits the image to gen_width x gen_height */
            gp.init_image = req->image;
            gp.mask = req->mask;
            gp.strength = p->strength;
        }
        gp.progress = on_step, gp.progress_user = &rc;
        rc.first_image = first, rc.n_chunk = nb;
        ig_err err = {0};
        rc.t_sampling_start = ig__now_s();
        ig_gen_info gi = {0};
        const ig_status gst = ig_generate(m->model, &gp, drawn, &gi, &err);
        if (first == 0) n_tokens = gi.n_prompt_tokens;
        t_gen += ig__now_s() - rc.t_sampling_start;
        if (ig__weights_changed()) goto changed; /* a weight file shrank under us: this is not the model */
        if (gst != IG_OK) {
            if (rc.fail) error = rc.fail_error;
            else if (err.status == IG_ERR_CANCELLED) {
                pthread_mutex_lock(&j->mu);
                error = j->cancel_error;
                pthread_mutex_unlock(&j->mu);
                /* no recorded reason: the client went away, and nobody reads this */
                if (!error.http_status) ig_api_error_set(&error, IG_API_ERR_SERVER, NULL, "cancelled", "Cancelled.");
            } else ig_api_error_from_status(&error, err.status, err.msg);
            goto done;
        }
        ig_metrics_generation(s->metrics, ig__now_s() - rc.t_sampling_start, nb, rc.steps_done,
                              rc.t_last_step - rc.t_sampling_start);
        rc.steps_done = 0;
        for (int i = 0; i < nb; i++) {
            const int k = first + i;
            const ig_status fst = finish_image(req, p->transparent, drawn[i], &files[k], &err);
            ig_image_free(drawn[i]), drawn[i] = NULL;
            if (fst != IG_OK) {
                ig_api_error_from_status(&error, err.status, err.msg);
                goto done;
            }
            if (req->response_format == IG_RESPONSE_FORMAT_URL) {
                char name[IG_STORE_NAME_MAX];
                if (ig_store_put(s->store, files[k].data, files[k].len, ig_format_name(format_of(req->output_format)),
                                 name, &err) != IG_OK) {
                    ig_api_error_from_status(&error, err.status, err.msg);
                    goto done;
                }
                snprintf(urls[k], sizeof urls[k], "%s/v1/images/files/%s", j->base_url, name);
            }
            if (req->stream) { /* each image's completed event as soon as it exists */
                const ig_api_usage u = ig_api_usage_make(k == 0 ? n_tokens : 0, req->quality_tier, req->width,
                                                         req->height, 1);
                ig_api_event ev = event_base(j, IG_API_EVENT_COMPLETED, &files[k]);
                ev.usage = &u;
                if (!push_event(j, &ev)) {
                    ig_api_error_from_status(&error, IG_ERR_NOMEM, "out of memory for an event");
                    goto done;
                }
                ig_bytebuf_free(&files[k]); /* sent: free it now, n can be 10 large images */
            }
        }
    }
    if (!req->stream) {
        ig_api_image images[10];
        for (int k = 0; k < n; k++) {
            const bool url = req->response_format == IG_RESPONSE_FORMAT_URL;
            images[k] = (ig_api_image){.bytes = url ? NULL : files[k].data, .n_bytes = url ? 0 : files[k].len,
                                       .url = url ? urls[k] : NULL, .revised_prompt = p->prompt};
        }
        const ig_api_usage u = ig_api_usage_make(n_tokens, req->quality_tier, req->width, req->height, n);
        const ig_api_result res = {.created = (int64_t)time(NULL),
                                   .background = p->transparent ? IG_BACKGROUND_TRANSPARENT : IG_BACKGROUND_OPAQUE,
                                   .output_format = req->output_format, .quality = req->quality_tier,
                                   .width = req->width, .height = req->height, .images = images, .n_images = (size_t)n,
                                   .usage = &u, .has_seed = req->has_seed, .seed = p->seed};
        ig_status st = ig_api_write_response(&res, ig_api_buf_sink, &j->body);
        if (st) ig_api_error_from_status(&error, st, "cannot build the response");
    }
    const long ms = (long)((ig__now_s() - t0) * 1000);
    fprintf(stderr, "imagine: job done in %ld ms: generation %ld ms, images and response %ld ms\n", ms,
            (long)(t_gen * 1000), ms - (long)(t_gen * 1000));
    const long prev = s->est_job_ms;
    s->est_job_ms = prev ? (prev * 3 + ms) / 4 : ms;
    goto done;
changed:
    ig_api_error_set(&error, IG_API_ERR_SERVER, NULL, "model_changed",
                     "A model file was truncated or rewritten while the server ran; its weights can no longer be "
                     "trusted. Restart the server (or run it with --copy-weights).");
done:
    pthread_mutex_lock(&j->mu);
    j->error = error;
    pthread_mutex_unlock(&j->mu);
    if (files)
        for (int k = 0; k < n; k++) ig_bytebuf_free(&files[k]);
    for (int i = 0; i < 16; i++) ig_image_free(drawn[i]);
    free(files), free(urls);
}

void ig__job_run(ig_server *s, ig_job *j) {
    if (ig__now_s() > j->deadline) {
        ig_api_error e = {0};
        ig_api_error_set(&e, IG_API_ERR_TIMEOUT, NULL, NULL,
                         "The request waited in the queue past the server's time limit (%d s).", s->opt.timeout_s);
        ig_job_cancel(j, &e);
    }
    if (ig_job_is_cancelled(j)) { /* gone or timed out while queued: do not start it */
        pthread_mutex_lock(&j->mu);
        j->error = j->cancel_error;
        if (!j->error.http_status) ig_api_error_set(&j->error, IG_API_ERR_SERVER, NULL, "cancelled", "Cancelled.");
        pthread_mutex_unlock(&j->mu);
    } else {
        ig_job_set_running(j);
        if (!j->plan.seed_fixed) j->plan.seed = random_seed();
        fprintf(stderr, "imagine: job model=%s n=%d %dx%d (drawn %dx%d) steps=%d seed=%llu user=%s\n",
                j->model->id, j->req.n, j->req.width, j->req.height, j->plan.gen_width, j->plan.gen_height,
                j->plan.n_steps, (unsigned long long)j->plan.seed, j->req.user[0] ? j->req.user : "-");
        if (j->plan.img2img)
            fprintf(stderr, "imagine: job input %dx%d%s strength=%.2f; %d image%s sent, the first edited\n",
                    j->req.image->width, j->req.image->height, j->req.mask ? " with mask" : "", j->plan.strength,
                    j->req.n_input_images, j->req.n_input_images > 1 ? "s" : "");
        run_job(s, j);
    }
}

void *ig__worker_main(void *arg) {
    ig_server *s = arg;
    ig_job *j;
    while ((j = ig_queue_pop(s->queue))) {
        ig__job_run(s, j);
        ig_job_finish(j);
        ig_job_release(j);
    }
    return NULL;
}

ig_status ig__warmup(ig_server *s, ig_err *err) {
    for (int i = 0; i < s->n_models; i++) {
        ig_served_model *m = &s->models[i];
        const int side = m->card.native;
        ig_image *img = NULL;
        ig_gen_params gp = IG_GEN_PARAMS_INIT;
        gp.prompt = "a photo of a red apple on a wooden table";
        gp.negative_prompt = m->card.negative_prompt[0] ? m->card.negative_prompt : NULL;
        gp.width = gp.height = side;
        gp.n_steps = m->card.steps[0];
        gp.guidance = m->card.guidance, gp.sampler = m->card.sampler, gp.seed = 1;
        const double t0 = ig__now_s();
        const ig_status st = ig_generate(m->model, &gp, &img, NULL, err); /* also fits the model's previews */
        if (st == IG_OK)
            fprintf(stderr, "imagine: warm-up of %s: %dx%d, %d steps in %.2f s\n", m->id, side, side, gp.n_steps,
                    ig__now_s() - t0);
        ig_image_free(img);
        if (st) return st;
    }
    return IG_OK;
}
