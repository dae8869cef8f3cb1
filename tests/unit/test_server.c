/* test_server.c — server/ pieces that need no HTTP: plans (the documented quality/style/size
 * tables, partial-image steps), the prompt filter, the url store (names, expiry, a full disk), the
 * job queue (bound, order, shutdown), metrics text, and the preview fit (recovers a known linear
 * map from fresh random data). HTTP itself is covered by tests/e2e against a running server. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "pipeline/preview.h"
#include "server/metrics.h"
#include "server/plan.h"
#include "server/queue.h"
#include "server/store.h"
#include "test.h"

static ig_request base_request(void) {
    ig_request r = {0};
    r.prompt = "a red apple";
    r.n = 1, r.width = 1024, r.height = 1024, r.quality_tier = IG_QUALITY_HIGH;
    return r;
}

static void test_native_size(void) {
    int w, h;
    int x, y, cw, ch;
    ig_plan_native_size(512, 64, 1024, 1024, &w, &h);
    CHECK(w == 512 && h == 512);
    ig_plan_native_size(512, 64, 1536, 1024, &w, &h); /* area 512², aspect 3:2 → 627x418 → multiples of 64 */
    CHECK(w == 640 && h == 448);
    ig_plan_crop(w, h, 1536, 1024, &x, &y, &cw, &ch); /* the 3:2 centre of 640x448: 640x427 */
    CHECK(cw == 640 && ch == 427 && x == 0 && y == 10);
    ig_plan_native_size(512, 64, 1024, 1536, &w, &h);
    CHECK(w == 448 && h == 640);
    ig_plan_crop(w, h, 1024, 1536, &x, &y, &cw, &ch);
    CHECK(cw == 427 && ch == 640 && x == 10 && y == 0);
    /* SDXL: native 1024 (sample_size 128 x 8), sides multiples of 32 (8 x 2^2): the API's sizes drawn
     * natively, 1536x1024 at SDXL's own 1248x832 bucket area */
    ig_plan_native_size(1024, 32, 1024, 1024, &w, &h);
    CHECK(w == 1024 && h == 1024);
    ig_plan_native_size(1024, 32, 1536, 1024, &w, &h);
    CHECK(w == 1248 && h == 832);
    ig_plan_native_size(1024, 32, 1024, 1536, &w, &h);
    CHECK(w == 832 && h == 1248);
    ig_plan_native_size(64, 16, 256, 256, &w, &h);
    CHECK(w == 64 && h == 64);
    ig_plan_crop(64, 64, 256, 256, &x, &y, &cw, &ch);
    CHECK(x == 0 && y == 0 && cw == 64 && ch == 64);
    ig_plan_native_size(64, 16, 2048, 64, &w, &h); /* extreme aspect: never below one multiple */
    CHECK(w % 16 == 0 && h == 16 && w > 64);
    for (int i = 0; i < 200; i++) { /* random sizes: sides multiples, area near native², crop of the asked aspect */
        const int W = 8 * (8 + (int)(test_uniform() * 248)), H = 8 * (8 + (int)(test_uniform() * 248));
        ig_plan_native_size(512, 64, W, H, &w, &h);
        const double area = (double)w * h, aspect = (double)W / H;
        CHECK(w % 64 == 0 && h % 64 == 0 && w >= 64 && h >= 64);
        if (aspect > 0.25 && aspect < 4) CHECK(fabs(area / (512.0 * 512) - 1) < 0.3);
        ig_plan_crop(w, h, W, H, &x, &y, &cw, &ch);
        CHECK(x >= 0 && y >= 0 && x + cw <= w && y + ch <= h && (cw == w || ch == h));
        CHECK(fabs((double)cw / ch - aspect) <= aspect / ch + 1.0 / ch + 1e-9); /* within a pixel's rounding */
    }
}

static void test_plans(void) {
    ig_model_card card = {0};
    ig_err err = {0};
    card.preset = IG_PRESET_STANDARD, card.sampler = IG_SAMPLER_DPMPP_2M_KARRAS;
    card.steps[0] = 12, card.steps[1] = 20, card.steps[2] = 30, card.guidance = 7.5f;
    card.native = 512, card.factor = 8, card.multiple = 64, card.revise = true;
    snprintf(card.transparent_words, sizeof card.transparent_words, ", on white");
    ig_request r = base_request();
    ig_plan p;
    CHECK(ig_plan_make(&card, &r, true, 7, &p, &err) == IG_OK);
    CHECK(p.n_steps == 30 && p.guidance == 7.5f && p.seed == 7 && p.gen_width == 512 && p.gen_height == 512);
    CHECK(!strcmp(p.prompt, "a red apple, highly detailed, sharp focus"));
    CHECK(p.n_partials == 0 && !p.transparent);
    ig_plan_clear(&p);

    r.quality_tier = IG_QUALITY_LOW, r.style = IG_STYLE_VIVID, r.background = IG_BACKGROUND_TRANSPARENT;
    CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK);
    CHECK(p.n_steps == 12 && fabsf(p.guidance - 7.5f * 1.25f) < 1e-6f && p.transparent);
    CHECK(!strcmp(p.prompt, "a red apple, vivid colors, dramatic lighting, high contrast, on white"));
    ig_plan_clear(&p);

    /* revision off: the prompt as sent, plus only the functional background words */
    r.quality_tier = IG_QUALITY_MEDIUM, r.style = IG_STYLE_NATURAL;
    CHECK(ig_plan_make(&card, &r, false, 1, &p, &err) == IG_OK);
    CHECK(p.n_steps == 20 && fabsf(p.guidance - 6.0f) < 1e-6f);
    CHECK(!strcmp(p.prompt, "a red apple, on white"));
    ig_plan_clear(&p);

    /* guidance off stays off whatever the style */
    card.guidance = 0, card.steps[2] = 4;
    r = base_request(), r.style = IG_STYLE_VIVID;
    CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK);
    CHECK(p.guidance == 0 && p.n_steps == 4);
    ig_plan_clear(&p);

    /* partial images: spread over the steps, never after the last, no duplicates */
    card.steps[2] = 30;
    r = base_request(), r.stream = true;
    for (int k = 0; k <= 3; k++) {
        r.partial_images = k;
        CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK);
        CHECK(p.n_partials == k);
        for (int j = 0; j < p.n_partials; j++) {
            CHECK(p.partial_after[j] >= 1 && p.partial_after[j] < p.n_steps);
            if (j) CHECK(p.partial_after[j] > p.partial_after[j - 1]);
        }
        ig_plan_clear(&p);
    }
    card.steps[2] = 2, r.partial_images = 3; /* 2 steps leave room for one preview */
    CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK);
    CHECK(p.n_partials == 1 && p.partial_after[0] == 1);
    ig_plan_clear(&p);
    card.steps[2] = 1; /* 1 step: none */
    CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK);
    CHECK(p.n_partials == 0);
    ig_plan_clear(&p);
    r.stream = false; /* partial_images without stream: accepted, unused */
    CHECK(ig_plan_make(&card, &r, true, 1, &p, &err) == IG_OK && p.n_partials == 0);
    ig_plan_clear(&p);
}

static void test_blocklist(void) {
    ig_blocklist *b = NULL;
    ig_err err = {0};
    char path[] = "/tmp/ig_test_blockXXXXXX";
    int fd = mkstemp(path);
    const char text[] = "# comment\nlow: Purple   Monkey\nzebra\n\n";
    CHECK(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    CHECK(ig_blocklist_load(&b, path, &err) == IG_OK);
    if (!b) return;
    CHECK(ig_blocklist_match(b, "a red apple", IG_MODERATION_AUTO) == NULL);
    CHECK(ig_blocklist_match(b, "A NAKED mole rat", IG_MODERATION_AUTO) != NULL); /* built-in auto term */
    CHECK(ig_blocklist_match(b, "A NAKED mole rat", IG_MODERATION_LOW) == NULL);  /* not at low */
    CHECK(ig_blocklist_match(b, "sussex countryside", IG_MODERATION_AUTO) == NULL); /* whole words only */
    CHECK(ig_blocklist_match(b, "a purple-monkey dishwasher", IG_MODERATION_LOW) != NULL); /* any separator */
    CHECK(ig_blocklist_match(b, "purplemonkey", IG_MODERATION_LOW) == NULL);
    CHECK(ig_blocklist_match(b, "zebra!", IG_MODERATION_AUTO) != NULL);
    CHECK(ig_blocklist_match(b, "zebra!", IG_MODERATION_LOW) == NULL);
    CHECK(ig_blocklist_match(b, "lolicon", IG_MODERATION_LOW) != NULL); /* built-in low term */
    ig_blocklist_free(b);
    unlink(path);
    CHECK(ig_blocklist_load(&b, "/nonexistent/list", &err) == IG_ERR_IO && b == NULL);
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_store(void) {
    char dir[] = "/tmp/ig_test_storeXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ig_store *s = NULL;
    ig_err err = {0};
    CHECK(ig_store_open(&s, dir, 3600, &err) == IG_OK);
    if (!s) return;
    unsigned char data[3000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(test_uniform() * 256);
    char a[IG_STORE_NAME_MAX], b[IG_STORE_NAME_MAX];
    CHECK(ig_store_put(s, data, sizeof data, "png", a, &err) == IG_OK);
    CHECK(ig_store_put(s, data, 10, "webp", b, &err) == IG_OK);
    CHECK(strlen(a) == 36 && !strcmp(a + 32, ".png") && strcmp(a, b) != 0);
    CHECK(!strcmp(ig_store_mime(b), "image/webp"));
    int fd = -1;
    size_t size = 0;
    CHECK(ig_store_get(s, a, &fd, &size, &err) == IG_OK && size == sizeof data);
    if (fd >= 0) {
        unsigned char back[3000];
        CHECK(read(fd, back, sizeof back) == (ssize_t)sizeof back && !memcmp(back, data, sizeof data));
        close(fd);
    }
    /* names not of the store's form never reach the file system */
    const char *bad[] = {"../x.png", "", "0123456789abcdef0123456789abcdef.gif", "0123456789ABCDEF0123456789abcdef.png",
                         "0123456789abcdef0123456789abcdef.png/..", ".tmp-0123456789abcdef0123456789abcdef.png"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ig_err e = {0};
        CHECK(ig_store_get(s, bad[i], &fd, &size, &e) == IG_ERR_NOT_FOUND && fd == -1);
    }
    /* expiry: a file older than the ttl is not served and is swept */
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, b);
    struct utimbuf old = {.actime = time(NULL) - 7200, .modtime = time(NULL) - 7200};
    CHECK(utime(path, &old) == 0);
    ig_err e2 = {0};
    CHECK(ig_store_get(s, b, &fd, &size, &e2) == IG_ERR_NOT_FOUND);
    ig_store_close(s);
    s = NULL;
    CHECK(ig_store_open(&s, dir, 3600, &err) == IG_OK); /* opening sweeps */
    CHECK(access(path, F_OK) != 0);
    /* a full disk (a file-size limit stands in for it, in a child): an error, nothing left behind */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1000, 1000};
        setrlimit(RLIMIT_FSIZE, &rl);
        char n2[IG_STORE_NAME_MAX];
        ig_err e = {0};
        const ig_status st = ig_store_put(s, data, sizeof data, "jpeg", n2, &e);
        _exit(st == IG_ERR_IO && strstr(e.msg, "cannot write") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(count_files(dir) == 1); /* only a: no .tmp- left, no jpeg */
    ig_store_close(s);
    snprintf(path, sizeof path, "%s/%s", dir, a);
    unlink(path);
    rmdir(dir);
    CHECK(ig_store_open(&s, "/proc/nonexistent/x", 60, &err) == IG_ERR_IO && !s);
}

static void test_queue(void) {
    ig_queue *q = ig_queue_new(2);
    ig_job *j[4];
    ig_api_error e = {0};
    for (int i = 0; i < 4; i++) j[i] = ig_job_new();
    CHECK(ig_queue_push(q, j[0], 2.0, &e) == IG_OK);
    CHECK(ig_queue_push(q, j[1], 2.0, &e) == IG_OK);
    CHECK(ig_queue_push(q, j[2], 2.0, &e) == IG_ERR_INVALID); /* full: 429 with Retry-After */
    CHECK(e.http_status == 429 && !strcmp(e.code, "queue_full") && e.retry_after_s >= 1);
    CHECK(ig_queue_depth(q) == 2);
    ig_job *got = ig_queue_pop(q); /* FIFO */
    CHECK(got == j[0] && ig_queue_depth(q) == 2);
    /* the worker streams two frames, then finishes */
    CHECK(ig_job_push_frame(got, "a", 1) && ig_job_push_frame(got, "bc", 2));
    bool done = false;
    ig_frame *f = ig_job_next_frame(got, 10, &done);
    CHECK(f && f->len == 1 && !done);
    free(f);
    f = ig_job_next_frame(got, 10, &done);
    CHECK(f && f->len == 2 && !memcmp(f->data, "bc", 2));
    free(f);
    CHECK(!ig_job_next_frame(got, 10, &done) && !done); /* nothing yet, not done */
    CHECK(!ig_job_wait_done(got, 10));
    ig_job_finish(got);
    CHECK(ig_job_wait_done(got, 10));
    CHECK(!ig_job_next_frame(got, 10, &done) && done);
    ig_job_release(got); /* the worker's reference */
    ig_job_cancel(j[1], NULL);
    CHECK(ig_job_is_cancelled(j[1]));
    /* shutdown: what waits is answered 503, pushes are refused, pop ends */
    ig_api_error e3 = {0};
    ig_queue_close(q);
    CHECK(ig_job_wait_done(j[1], 10) && j[1]->error.http_status == 503);
    CHECK(ig_queue_push(q, j[3], 1.0, &e3) == IG_ERR_INVALID && e3.http_status == 503);
    CHECK(ig_queue_pop(q) == NULL);
    for (int i = 0; i < 4; i++) ig_job_release(j[i]);
    ig_queue_free(q);
}

static void test_metrics(void) {
    ig_metrics *m = ig_metrics_new();
    ig_api_buf b = {0};
    ig_metrics_request(m, "generations", 200);
    ig_metrics_request(m, "generations", 200);
    ig_metrics_request(m, "generations", 400);
    ig_metrics_generation(m, 1.5, 2, 4, 1.0);
    CHECK(ig_metrics_write(m, 3, &b) == IG_OK);
    CHECK(strstr(b.data, "imagine_requests_total{route=\"generations\",status=\"200\"} 2\n") != NULL);
    CHECK(strstr(b.data, "imagine_requests_total{route=\"generations\",status=\"400\"} 1\n") != NULL);
    CHECK(strstr(b.data, "imagine_queue_depth 3\n") != NULL);
    CHECK(strstr(b.data, "imagine_generation_seconds_bucket{le=\"1\"} 0\n") != NULL);
    CHECK(strstr(b.data, "imagine_generation_seconds_bucket{le=\"2\"} 1\n") != NULL);
    CHECK(strstr(b.data, "imagine_generation_seconds_count 1\n") != NULL);
    CHECK(strstr(b.data, "imagine_images_total 2\n") != NULL);
    CHECK(strstr(b.data, "imagine_steps_per_second 4.0000\n") != NULL);
    ig_api_buf_free(&b);
    ig_metrics_free(m);
}

/* Images made by a known affine map of random latents (plus a little noise) must give that map back. */
static void test_preview(void) {
    enum { C = 4, F = 2, H = 6, W = 5, N = 3 };
    float lat[N * C * H * W], img[N * H * F * W * F * 3], wt[3][C + 1];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i <= C; i++) wt[c][i] = test_randf(-0.3f, 0.3f);
    test_fill(lat, sizeof lat / sizeof *lat, -2, 2);
    for (int b = 0; b < N; b++)
        for (int y = 0; y < H * F; y++)
            for (int x = 0; x < W * F; x++)
                for (int c = 0; c < 3; c++) {
                    double v = wt[c][C];
                    for (int i = 0; i < C; i++) v += wt[c][i] * lat[((b * C + i) * H + y / F) * W + x / F];
                    img[((b * H * F + y) * W * F + x) * 3 + c] = (float)v + test_randf(-1e-3f, 1e-3f);
                }
    ig_preview pv;
    ig_preview_init(&pv, C, F);
    float rgb[H * W * 3], got[3 * (C + 1)];
    double ref[3 * (C + 1)];
    ig_preview_apply(&pv, lat, rgb, H, W); /* unfitted: grey, in range */
    CHECK(rgb[0] == rgb[1] && rgb[1] == rgb[2] && rgb[0] >= 0 && rgb[0] <= 1);
    ig_preview_observe(&pv, lat, img, N, H, W);
    CHECK(pv.fitted);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i <= C; i++) got[c * (C + 1) + i] = pv.weight[c][i], ref[c * (C + 1) + i] = wt[c][i];
    check_close("preview fit recovers the affine map", got, ref, 3 * (C + 1), 5e-3, 0);
    ig_preview_apply(&pv, lat, rgb, H, W);
    for (int i = 0; i < H * W * 3; i++) CHECK(rgb[i] >= 0 && rgb[i] <= 1);
}

int main(void) {
    test_seed();
    test_native_size();
    test_plans();
    test_blocklist();
    test_store();
    test_queue();
    test_metrics();
    test_preview();
    return test_finish("test_server");
}
