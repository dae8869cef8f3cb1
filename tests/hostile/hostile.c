/* hostile.c — a hostile-client load test for `imagine serve` (issue 5 items 2, 4, 5).
 *
 * Starts nothing itself: tests/hostile/run.sh starts the server (tiny model, --port 0, an API key,
 * --max-queue 2) and runs
 *
 *     hostile main HOST PORT PID [--key KEY] [--cheap N] [--gens N] [--slow N] [--deadline S]
 *                                [--min-requests N] [--rss-tol F] [--only KIND]
 *     hostile limits HOST PORT PID [--key KEY]             body size, prompt length, n x pixels
 *     hostile connlimit HOST PORT PID N                    N held connections, then one more
 *     hostile ratelimit HOST PORT PID PER_MIN --key A --key2 B   per-key token bucket
 *     hostile gen HOST PORT PID [--key K] [--body JSON] [--expect STATUS]  one request, prints the answer
 *                                                          ("MODEL" in --body is the served model's id)
 * PID is the server's, for /proc/PID/status (VmRSS, VmHWM, Threads) and /proc/PID/fd; 0 skips those.
 * Only loopback addresses are accepted.
 *
 * `main` sends, bounded in count and time (--deadline, default 85 s):
 *   - on 4 threads, --cheap (10600) requests that never reach the worker: malformed and truncated JSON,
 *     wrong types, every enum field with a wrong value, out-of-range values, huge bodies (Content-Length,
 *     chunked, none, Expect: 100-continue, the exact 1 MiB boundary), deep nesting, invalid UTF-8, bad or
 *     missing keys, broken HTTP (bad lengths, versions, header floods, ambiguous framing that could
 *     smuggle a second request), raw garbage, pipelined requests, invalid methods and paths, clients that
 *     leave mid-body, and a few valid GETs. Each case has the answers it may get (e.g. exactly 400 with
 *     an OpenAI error object); anything else counts as unexpected and fails the run;
 *   - on 5 threads, --gens (200) valid generations (64x64, 128x64, 64x128, n 1 or 2, quality low)
 *     against the small queue: each must be a 200 whose JSON holds data[i].b64_json of a complete PNG
 *     (signature, IHDR of the asked size, every CRC, IEND), or a url that serves one, or a complete SSE
 *     stream ending in one completed event; or a 429 with Retry-After and code queue_full. Some streams
 *     are cut after the first bytes and some clients close right after sending (while queued/running);
 *   - on one more thread, --slow (20) slow connections held while the rest runs: headers trickled one
 *     byte a second, bodies trickled, and idle sockets the server must close after its 30 s timeout;
 *     the trickled requests are completed at the end and must get their answers.
 * Afterwards: the server is alive, /health shows queue_depth 0, a valid request gets a correct PNG,
 * and VmRSS, threads and open fds are back where they were.
 * Memory: "before" is VmRSS after a warm-up that (1) sends every generation shape and kind the main
 * phase sends once (n 1 and 2, each size, url, streams), so what the engine keeps per shape (oneDNN
 * primitives, packed weights) exists, and (2) runs the same mix as the main phase at a third of its
 * size, with the same threads, body sizes and slow connections, so that the allocator's per-thread
 * arenas have seen their peak. "after" is VmRSS once the main phase, the final checks and a 1.5 s
 * settle are done; it must be within --rss-tol (0.10) of before.
 * Exit status 0 when every check passed, 1 when one failed, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#define MAX_BODY ((size_t)1 << 20) /* the server's IG_API_MAX_BODY_BYTES */

/* ---- options and global state -------------------------------------------------------------------- */

static const char *g_host = "127.0.0.1";
static int g_port;
static pid_t g_pid;
static const char *g_key;  /* NULL: the server runs without keys */
static const char *g_key2; /* ratelimit: a second key */
static char g_model[128] = "";
static double g_t0;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- small buffers --------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *d;
    size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->d, cap);
    if (!d) {
        fprintf(stderr, "hostile: out of memory\n");
        exit(2);
    }
    b->d = d, b->cap = cap;
}

static void sb_add(sbuf *b, const void *p, size_t n) {
    sb_reserve(b, n);
    memcpy(b->d + b->len, p, n);
    b->len += n;
    b->d[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fill(sbuf *b, char c, size_t n) {
    sb_reserve(b, n);
    memset(b->d + b->len, c, n);
    b->len += n;
    b->d[b->len] = 0;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->d + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_clear(sbuf *b) {
    b->len = 0;
    if (b->d) b->d[0] = 0;
}

/* ---- random numbers (deterministic per task) ------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    r->s = x;
    return x * 2685821657736338717ULL;
}

static int rndi(rng *r, int n) { return n <= 0 ? 0 : (int)(rnd(r) % (uint64_t)n); }

static rng rng_for(uint64_t seed) {
    rng r = {seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL};
    if (!r.s) r.s = 1;
    rnd(&r);
    return r;
}

/* ---- kinds and statistics ----------------------------------------------------------------------- */

enum kind {
    K_MALFORMED,
    K_TRUNCATED,
    K_WRONG_TYPE,
    K_BAD_ENUM,
    K_BAD_VALUE,
    K_HUGE_CL,
    K_HUGE_CHUNKED,
    K_NO_LENGTH,
    K_DEEP,
    K_UTF8,
    K_AUTH,
    K_BAD_HTTP,
    K_GARBAGE,
    K_PIPELINE,
    K_METHOD_PATH,
    K_MID_BODY,
    K_MULTIPART,
    K_GET_OK,
    /* valid generations */
    G_B64,
    G_URL,
    G_STREAM_FULL,
    G_STREAM_CUT,
    G_CUT,
    /* slow connections */
    S_HEADER_TRICKLE,
    S_BODY_TRICKLE,
    S_IDLE,
    N_KINDS
};

static const char *const kind_names[N_KINDS] = {
    "malformed_json", "truncated_json", "wrong_type",  "bad_enum",     "bad_value",    "huge_content_length",
    "huge_chunked",   "body_no_length", "deep_nesting", "invalid_utf8", "auth",         "bad_http",
    "raw_garbage",    "pipelined",      "method_path",  "close_mid_body", "bad_multipart", "valid_get",  "gen_b64",
    "gen_url",        "gen_stream_full", "gen_stream_cut", "gen_close_early", "slow_headers", "slow_body",
    "idle_conn",
};

/* Weights of the cheap kinds (per 100 cheap requests). */
static const int cheap_weight[K_GET_OK + 1] = {
    [K_MALFORMED] = 7,  [K_TRUNCATED] = 7, [K_WRONG_TYPE] = 7, [K_BAD_ENUM] = 8,  [K_BAD_VALUE] = 7,
    [K_HUGE_CL] = 2,    [K_HUGE_CHUNKED] = 1, [K_NO_LENGTH] = 3, [K_DEEP] = 4,     [K_UTF8] = 6,
    [K_AUTH] = 5,       [K_BAD_HTTP] = 5,  [K_GARBAGE] = 6,   [K_PIPELINE] = 6,  [K_METHOD_PATH] = 6,
    [K_MID_BODY] = 5,   [K_MULTIPART] = 10, [K_GET_OK] = 5, /* they add up to 100 */
};

#define MAX_STATUS 600
typedef struct stats {
    atomic_int sent[N_KINDS];       /* HTTP requests written (a pipeline counts each) */
    atomic_int conns[N_KINDS];      /* connections opened */
    atomic_int status[N_KINDS][MAX_STATUS];
    atomic_int closed_no_answer[N_KINDS]; /* the server closed without an answer (allowed for some kinds) */
    atomic_int reset_ok[N_KINDS];   /* reset while sending an oversized body (allowed) */
    atomic_int dropped[N_KINDS];    /* we closed on purpose before an answer */
    atomic_int conn_errors[N_KINDS];/* connect failures, resets and early closes that were not allowed */
    atomic_int timeouts[N_KINDS];   /* no answer within the timeout: a hang */
    atomic_int unexpected[N_KINDS]; /* a wrong status, a malformed answer, a bad image */
    atomic_int ok_images;           /* PNGs checked */
    atomic_int retry_after_ok;      /* 429s with a valid Retry-After */
    atomic_int gen_200, gen_429;
    atomic_llong us[N_KINDS];       /* time spent on the kind's exchanges, all threads together */
} stats;

static stats g_warm, g_main, g_extra;
static pthread_mutex_t g_note_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_notes;

static void inc(atomic_int *a) { atomic_fetch_add(a, 1); }

/* Prints the first 40 problems (the rest are only counted). */
__attribute__((format(printf, 2, 3))) static void note(int kind, const char *fmt, ...) {
    pthread_mutex_lock(&g_note_mu);
    if (g_notes++ < 40) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "hostile: [%s] ", kind_names[kind]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    pthread_mutex_unlock(&g_note_mu);
}

/* ---- sockets ------------------------------------------------------------------------------------- */

static int dial(double timeout_s) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, g_host, &a.sin_addr);
    struct timeval tv = {.tv_sec = (long)timeout_s, .tv_usec = (long)((timeout_s - (long)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (int tries = 0;; tries++) {
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        if (errno == EINTR) continue;
        if ((errno == EAGAIN || errno == EADDRNOTAVAIL) && tries < 50) { /* out of ephemeral ports: wait */
            usleep(20000);
            continue;
        }
        const int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
}

static void set_rst(int fd) { /* close() sends RST instead of FIN */
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* 0, or -1 with errno */
static int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k, n -= (size_t)k;
    }
    return 0;
}

/* ---- reading HTTP responses ------------------------------------------------------------------------ */

typedef struct reader {
    int fd;
    sbuf b;
    size_t off; /* consumed */
    bool eof;
} reader;

/* >0 bytes read, 0 end of stream, -1 error (errno; EAGAIN is a timeout) */
static ssize_t rd_fill(reader *r) {
    if (r->eof) return 0;
    if (r->off && r->off == r->b.len) r->off = r->b.len = 0;
    sb_reserve(&r->b, 65536);
    for (;;) {
        ssize_t k = recv(r->fd, r->b.d + r->b.len, 65536, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) r->eof = true;
        if (k > 0) r->b.len += (size_t)k, r->b.d[r->b.len] = 0;
        return k;
    }
}

typedef struct resp {
    int status;
    char ctype[128];
    int retry_after; /* -1: none */
    bool conn_close;
    sbuf body;
} resp;

enum { RD_OK = 0, RD_CLOSED = 1, RD_TIMEOUT = -1, RD_RESET = -2, RD_BAD = -3 };

static int rd_err(void) { return errno == EAGAIN || errno == EWOULDBLOCK ? RD_TIMEOUT : RD_RESET; }

static bool hdr_is(const char *line, size_t n, const char *name, const char **val) {
    const size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return false;
    const char *v = line + k + 1;
    while (*v == ' ' || *v == '\t') v++;
    *val = v;
    return true;
}

/* Reads one response. head: the request was HEAD (no body). stop_after_body_bytes > 0: return as soon
 * as that much body arrived (streams cut on purpose). */
static int read_resp(reader *r, resp *p, bool head, size_t stop_after_body_bytes) {
    sb_clear(&p->body);
    p->status = 0, p->ctype[0] = 0, p->retry_after = -1, p->conn_close = false;
again:;
    char *end;
    size_t start = r->off;
    while (!(end = memmem(r->b.d ? r->b.d + start : "", r->b.len - start, "\r\n\r\n", 4))) {
        if (r->b.len - start > 256 * 1024) return RD_BAD;
        ssize_t k = rd_fill(r); /* may move the unread bytes to the start */
        start = r->off;
        if (k == 0) return r->b.len == r->off ? RD_CLOSED : RD_BAD;
        if (k < 0) return rd_err();
    }
    char *h = r->b.d + start;
    const size_t hlen = (size_t)(end - h) + 4;
    if (hlen < 12 || strncmp(h, "HTTP/1.", 7) || !isdigit((unsigned char)h[9])) return RD_BAD;
    p->status = atoi(h + 9);
    long clen = -1;
    bool chunked = false;
    for (char *line = strstr(h, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        const size_t n = (size_t)(strstr(line, "\r\n") - line);
        const char *v;
        if (hdr_is(line, n, "Content-Length", &v)) clen = atol(v);
        else if (hdr_is(line, n, "Transfer-Encoding", &v)) chunked = !strncasecmp(v, "chunked", 7);
        else if (hdr_is(line, n, "Content-Type", &v)) snprintf(p->ctype, sizeof p->ctype, "%.*s", (int)(n - (v - line)), v);
        else if (hdr_is(line, n, "Retry-After", &v)) p->retry_after = isdigit((unsigned char)*v) ? atoi(v) : -2;
        else if (hdr_is(line, n, "Connection", &v)) p->conn_close = !strncasecmp(v, "close", 5);
    }
    r->off = start + hlen;
    if (p->status >= 100 && p->status < 200) goto again; /* 100 Continue */
    if (head || p->status == 204 || p->status == 304) return RD_OK;
    if (chunked) {
        for (;;) {
            char *nl;
            while (!(nl = memmem(r->b.d + r->off, r->b.len - r->off, "\r\n", 2))) {
                ssize_t k = rd_fill(r);
                if (k == 0) return RD_BAD;
                if (k < 0) return rd_err();
            }
            const long sz = strtol(r->b.d + r->off, NULL, 16);
            if (sz < 0) return RD_BAD;
            r->off = (size_t)(nl - r->b.d) + 2;
            while (r->b.len - r->off < (size_t)sz + 2) {
                if (stop_after_body_bytes && p->body.len + (r->b.len - r->off) >= stop_after_body_bytes) {
                    sb_add(&p->body, r->b.d + r->off, r->b.len - r->off);
                    r->off = r->b.len;
                    return RD_OK;
                }
                ssize_t k = rd_fill(r);
                if (k == 0) return RD_BAD;
                if (k < 0) return rd_err();
            }
            sb_add(&p->body, r->b.d + r->off, (size_t)sz);
            r->off += (size_t)sz + 2;
            if (sz == 0) { /* trailers: none expected, the final CRLF was taken above */
                return RD_OK;
            }
            if (stop_after_body_bytes && p->body.len >= stop_after_body_bytes) return RD_OK;
        }
    }
    if (clen >= 0) {
        while (r->b.len - r->off < (size_t)clen) { /* (stop_after_body_bytes is for streams only) */
            ssize_t k = rd_fill(r);
            if (k == 0) return RD_BAD;
            if (k < 0) return rd_err();
        }
        size_t take = r->b.len - r->off < (size_t)clen ? r->b.len - r->off : (size_t)clen;
        sb_add(&p->body, r->b.d + r->off, take);
        r->off += take;
        return RD_OK;
    }
    for (;;) { /* until the end of the connection */
        ssize_t k = rd_fill(r);
        if (k == 0) break;
        if (k < 0) return rd_err();
    }
    sb_add(&p->body, r->b.d + r->off, r->b.len - r->off);
    r->off = r->b.len;
    return RD_OK;
}

/* ---- base64 and PNG checks ---------------------------------------------------------------------- */

static int b64v(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict standard base64 (padding required); false on any other byte. */
static bool b64_decode(const char *s, size_t n, sbuf *out) {
    sb_clear(out);
    if (n % 4) return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) v[k] = 0, pad++;
            else if (pad || (v[k] = b64v((unsigned char)s[i + k])) < 0) return false;
        }
        unsigned char o[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4), (unsigned char)(v[1] << 4 | v[2] >> 2),
                              (unsigned char)(v[2] << 6 | v[3])};
        sb_add(out, o, 3 - (size_t)pad);
    }
    return true;
}

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* A complete PNG of w x h: signature, IHDR first, every chunk's CRC, IDAT present, IEND last. */
static bool png_ok(const unsigned char *p, size_t n, int w, int h, char *why, size_t whylen) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 8 + 25 + 12 || memcmp(p, sig, 8)) return snprintf(why, whylen, "not a PNG (%zu bytes)", n), false;
    size_t off = 8;
    bool ihdr = false, idat = false, iend = false;
    while (off + 12 <= n) {
        const uint32_t len = be32(p + off);
        if (len > n - off - 12) return snprintf(why, whylen, "PNG chunk runs past the end"), false;
        const unsigned char *type = p + off + 4;
        if (crc32_of(type, len + 4) != be32(p + off + 8 + len)) return snprintf(why, whylen, "PNG CRC mismatch"), false;
        if (!memcmp(type, "IHDR", 4)) {
            if (off != 8 || len != 13) return snprintf(why, whylen, "bad IHDR"), false;
            const int pw = (int)be32(p + off + 8), ph = (int)be32(p + off + 12);
            if (pw != w || ph != h) return snprintf(why, whylen, "PNG is %dx%d, asked %dx%d", pw, ph, w, h), false;
            ihdr = true;
        } else if (!memcmp(type, "IDAT", 4)) idat = true;
        else if (!memcmp(type, "IEND", 4)) {
            iend = true;
            off += 12 + len;
            break;
        }
        off += 12 + len;
    }
    if (!ihdr || !idat || !iend || off != n) return snprintf(why, whylen, "PNG incomplete"), false;
    return true;
}

/* ---- request building --------------------------------------------------------------------------- */

static void auth_header(sbuf *b) {
    if (g_key) sb_printf(b, "Authorization: Bearer %s\r\n", g_key);
}

/* POST to path with Content-Length; extra: more header lines (each ending in \r\n) or NULL. */
static void post_req(sbuf *b, const char *path, const void *body, size_t n, const char *extra, bool auth) {
    sb_printf(b, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", path, g_host, g_port);
    if (auth) auth_header(b);
    sb_printf(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", n, extra ? extra : "");
    sb_add(b, body, n);
}

static void get_req(sbuf *b, const char *method, const char *path, const char *extra, bool auth) {
    sb_printf(b, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path, g_host, g_port);
    if (auth) auth_header(b);
    sb_printf(b, "%s\r\n", extra ? extra : "");
}

/* What a cheap request may get back. */
#define MAX_ANS 8
typedef struct expect {
    int n_ans;            /* answers to read (pipelines: > 1); 0: none (we drop the connection) */
    int ans[MAX_ANS][6];  /* per answer, the statuses allowed (0-terminated); [0]=0 means any 4xx or 505 */
    bool head[MAX_ANS];   /* that answer is to a HEAD */
    bool close_ok;        /* a close without any answer is fine (garbage, unsupported framing) */
    bool reset_ok;        /* a reset while we send an oversized body is fine */
    bool shut_wr;         /* half-close after sending */
    bool rst;             /* close with RST */
    size_t send_only;     /* > 0: send only this many bytes, then close (client leaves mid-body) */
    bool json_errors;     /* 4xx answers with a JSON type must be OpenAI error objects (always true) */
    bool no_more;         /* after the answers, nothing more may come (a smuggled request must not be answered) */
    const char *what;     /* the case, for notes */
} expect;

static void expect1(expect *e, const char *what, int a, int b) {
    memset(e, 0, sizeof *e);
    e->n_ans = 1, e->ans[0][0] = a, e->ans[0][1] = b, e->what = what, e->json_errors = true;
}

static const char *BASE_FIELDS = "\"size\":\"64x64\",\"quality\":\"low\"";

/* {"prompt":"...", <extra fields>} where the fields make the request invalid. */
static void body_with(sbuf *b, const char *fields) {
    sb_printf(b, "{\"prompt\":\"a red apple on a wooden table\",%s,%s}", BASE_FIELDS, fields);
}

static const char *VALID_FULL =
    "{\"prompt\":\"a red apple on a wooden table\",\"model\":\"%s\",\"n\":1,\"size\":\"64x64\",\"quality\":\"low\","
    "\"output_format\":\"png\",\"response_format\":\"b64_json\",\"background\":\"opaque\",\"moderation\":\"auto\","
    "\"style\":\"vivid\",\"output_compression\":100,\"stream\":false,\"partial_images\":0,\"user\":\"hostile\","
    "\"zz_unknown_field\":1}";

/* ---- the cheap kinds ---------------------------------------------------------------------------------- */

static void build_malformed(rng *r, sbuf *body) {
    sb_printf(body, VALID_FULL, g_model);
    const int m = 1 + rndi(r, 4);
    for (int i = 0; i < m && body->len > 2; i++) {
        const size_t at = (size_t)rndi(r, (int)body->len);
        static const char structural[] = "{}[]:,\"\\ \t\n0-e.tfn";
        switch (rndi(r, 4)) {
        case 0: body->d[at] = (char)rndi(r, 256); break;
        case 1: body->d[at] = structural[rndi(r, (int)sizeof structural - 1)]; break;
        case 2: memmove(body->d + at, body->d + at + 1, body->len - at), body->len--; break;
        default: {
            const char c = structural[rndi(r, (int)sizeof structural - 1)];
            sb_reserve(body, 1);
            memmove(body->d + at + 1, body->d + at, body->len - at + 1);
            body->d[at] = c, body->len++;
        }
        }
    }
    static const char *const fixed[] = {"{", "}", "[]", "{\"prompt\":}", "{\"prompt\" \"x\"}", "{\"prompt\":\"x\",}",
                                        "{'prompt':'x'}", "{prompt:\"x\"}", "{\"prompt\":\"x\"}}", "{\"prompt\":\"x\"} x",
                                        "nul", "{\"prompt\":\"x\\q\"}", "{\"prompt\":\"x\" /* c */}", "{\"prompt\":\"\\u12\"}",
                                        "{\"prompt\":\"x\",\"n\":01}", "{\"prompt\":\"x\",\"n\":+1}", "{\"prompt\":\"x\",\"n\":NaN}",
                                        "{\"prompt\":\"x\",\"n\":Infinity}", "\xef\xbb\xbf{\"prompt\":\"x\"}", "{\"prompt\":\"a\nb\"}"};
    if (rndi(r, 4) == 0) {
        sb_clear(body);
        sb_str(body, fixed[rndi(r, (int)(sizeof fixed / sizeof *fixed))]);
    }
}

/* ---- multipart bodies (the edits and variations routes) -------------------------------------------- */

/* A w x h RGB(A) PNG of some pixels, zlib stored blocks (no compression library needed). */
static void tiny_png(sbuf *b, int w, int h, int channels) {
    static const char sig[] = "\x89PNG\r\n\x1a\n";
    sbuf z = {0};
    unsigned char ihdr[13] = {0};
    const size_t row = 1 + (size_t)w * channels;
    ihdr[0] = (unsigned char)(w >> 24), ihdr[1] = (unsigned char)(w >> 16), ihdr[2] = (unsigned char)(w >> 8);
    ihdr[3] = (unsigned char)w, ihdr[4] = (unsigned char)(h >> 24), ihdr[5] = (unsigned char)(h >> 16);
    ihdr[6] = (unsigned char)(h >> 8), ihdr[7] = (unsigned char)h, ihdr[8] = 8, ihdr[9] = channels == 4 ? 6 : 2;
    sb_add(&z, "\x78\x01", 2);
    uint32_t a = 1, bb = 0;
    for (int y = 0; y < h; y++) {
        unsigned char hd[5] = {(unsigned char)(y == h - 1), (unsigned char)row, (unsigned char)(row >> 8),
                               (unsigned char)~row, (unsigned char)(~row >> 8)};
        sb_add(&z, hd, 5);
        for (size_t i = 0; i < row; i++) {
            const unsigned char v = i == 0 ? 0 : (unsigned char)((y * 37 + (int)i * 11) & 255);
            sb_add(&z, &v, 1);
            a = (a + v) % 65521, bb = (bb + a) % 65521;
        }
    }
    const uint32_t ad = bb << 16 | a;
    const unsigned char adb[4] = {(unsigned char)(ad >> 24), (unsigned char)(ad >> 16), (unsigned char)(ad >> 8),
                                  (unsigned char)ad};
    sb_add(&z, adb, 4);
    sb_add(b, sig, 8);
    const struct { const char *t; const unsigned char *d; size_t n; } ch[3] = {
        {"IHDR", ihdr, 13}, {"IDAT", (const unsigned char *)z.d, z.len}, {"IEND", NULL, 0}};
    for (int k = 0; k < 3; k++) {
        unsigned char len[4] = {(unsigned char)(ch[k].n >> 24), (unsigned char)(ch[k].n >> 16),
                                (unsigned char)(ch[k].n >> 8), (unsigned char)ch[k].n};
        sbuf c = {0};
        sb_add(&c, ch[k].t, 4);
        if (ch[k].n) sb_add(&c, ch[k].d, ch[k].n);
        const uint32_t crc = crc32_of((const unsigned char *)c.d, c.len);
        const unsigned char cb[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16), (unsigned char)(crc >> 8),
                                     (unsigned char)crc};
        sb_add(b, len, 4), sb_add(b, c.d, c.len), sb_add(b, cb, 4);
        sb_clear(&c);
        free(c.d);
    }
    sb_clear(&z);
    free(z.d);
}

static void mp_field(sbuf *b, const char *bd, const char *name, const char *value) {
    sb_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", bd, name, value);
}

static void mp_file(sbuf *b, const char *bd, const char *name, const char *ctype, const void *data, size_t n) {
    sb_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"x.png\"\r\nContent-Type: %s\r\n\r\n",
              bd, name, ctype);
    sb_add(b, data, n);
    sb_str(b, "\r\n");
}

/* A multipart request to an edits or variations route that is wrong in one way chosen by r: every one a
 * 400 naming what is wrong (or 404/413 for the route/size cases), never a generation. */
static void build_multipart(rng *r, sbuf *req, sbuf *body, expect *e) {
    const char *bd = "hostileBoundary7MA4YWxkTrZu0gW";
    const bool edits = rndi(r, 3) != 0;
    const char *path = edits ? (rndi(r, 2) ? "/v1/images/edits" : "/images/edits") : "/v1/images/variations";
    sbuf png = {0}, png2 = {0};
    tiny_png(&png, 64, 64, rndi(r, 2) ? 3 : 4);
    const int c = rndi(r, 12);
    const char *what = "bad multipart";
    char ctype[160];
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", bd);
    if (edits) mp_field(body, bd, "prompt", "a red apple");
    mp_field(body, bd, "size", "64x64");
    switch (c) {
    case 0: /* no boundary parameter */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        snprintf(ctype, sizeof ctype, "multipart/form-data");
        what = "multipart without a boundary";
        break;
    case 1: /* cut short: a strict prefix of the body, no closing delimiter */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        body->len = (size_t)rndi(r, (int)body->len);
        what = "multipart cut short";
        break;
    case 2: /* the image part is not an image */
        mp_file(body, bd, "image", "image/png", "this is not a picture at all", 28);
        what = "an image part that is no image";
        break;
    case 3: /* a truncated PNG */
        mp_file(body, bd, "image", "image/png", png.d, png.len / 2);
        what = "a truncated PNG";
        break;
    case 4: /* a field twice */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        mp_field(body, bd, "size", "128x128");
        what = "a field given twice";
        break;
    case 5: /* 17 images */
        for (int i = 0; i < 17; i++) mp_file(body, bd, "image[]", "image/png", png.d, png.len);
        what = "17 images";
        break;
    case 6: /* a mask of another size (on variations: a field it does not take) */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        tiny_png(&png2, 32, 48, 4);
        mp_file(body, bd, "mask", "image/png", png2.d, png2.len);
        what = "a mask of another size";
        break;
    case 7: /* an unknown field */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        mp_field(body, bd, "zz_unknown", "1");
        what = "an unknown field";
        break;
    case 8: /* a bad value */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        mp_field(body, bd, "n", rndi(r, 2) ? "0" : "eleven");
        what = "a bad n";
        break;
    case 9: /* no image at all */
        mp_field(body, bd, "n", "1");
        what = "no image";
        break;
    case 10: /* a part without a name, or a header line broken */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        sb_printf(body, "--%s\r\nContent-Disposition: form-data\r\n\r\nx\r\n", bd);
        what = "a part without a name";
        break;
    default: /* random bytes flipped inside the headers of the parts */
        mp_file(body, bd, "image", "image/png", png.d, png.len);
        for (int k = 0; k < 3; k++) {
            const size_t at = (size_t)rndi(r, 120);
            if (at < body->len) body->d[at] = (char)(rndi(r, 2) ? '\0' : '"');
        }
        mp_field(body, bd, "zz_also_unknown", "1"); /* stays invalid whatever the flips did */
        what = "flipped header bytes";
        break;
    }
    if (c != 1) sb_printf(body, "--%s--\r\n", bd);
    sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", path, g_host, g_port);
    auth_header(req);
    sb_printf(req, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body->len);
    sb_add(req, body->d, body->len);
    expect1(e, what, 400, 0);
    e->ans[0][1] = 413;
    sb_clear(&png), sb_clear(&png2);
    free(png.d), free(png2.d);
}

static void build_cheap(int kind, uint64_t idx, sbuf *req, sbuf *body, expect *e) {
    rng r = rng_for(idx * 131 + (uint64_t)kind);
    sb_clear(req), sb_clear(body);
    const char *gen = "/v1/images/generations";
    switch (kind) {
    case K_MULTIPART:
        build_multipart(&r, req, body, e);
        break;
    case K_MALFORMED:
        build_malformed(&r, body);
        post_req(req, rndi(&r, 4) ? gen : "/images/generations", body->d, body->len, NULL, true);
        expect1(e, "mutated JSON", 400, 404);
        break;
    case K_TRUNCATED: {
        sb_printf(body, VALID_FULL, g_model);
        body->len = (size_t)rndi(&r, (int)body->len); /* a strict prefix is never a JSON document */
        body->d[body->len] = 0;
        post_req(req, gen, body->d, body->len, NULL, true);
        expect1(e, "truncated JSON", 400, 0);
        break;
    }
    case K_WRONG_TYPE: {
        static const char *const cases[] = {
            "\"prompt\":1",        "\"prompt\":true",        "\"prompt\":[\"a\"]",    "\"prompt\":{\"a\":1}", "\"prompt\":null",
            "\"model\":1",         "\"model\":[]",           "\"model\":true",        "\"n\":\"2\"",          "\"n\":1.5",
            "\"n\":true",          "\"n\":[1]",              "\"n\":{}",              "\"n\":\"one\"",        "\"n\":1e400",
            "\"n\":99999999999999999999999", "\"size\":64",  "\"size\":[64,64]",      "\"size\":{\"w\":64}",  "\"size\":true",
            "\"quality\":1",       "\"quality\":[\"low\"]",  "\"style\":0",           "\"style\":false",      "\"background\":{}",
            "\"background\":1",    "\"output_format\":1",    "\"output_format\":[\"png\"]", "\"output_compression\":\"50\"",
            "\"output_compression\":50.5", "\"output_compression\":true", "\"response_format\":0", "\"response_format\":[]",
            "\"moderation\":{}",   "\"moderation\":false",   "\"stream\":\"true\"",   "\"stream\":1",         "\"stream\":0",
            "\"stream\":[]",       "\"partial_images\":\"1\"", "\"partial_images\":1.5", "\"partial_images\":true",
            "\"user\":5",          "\"user\":[\"u\"]",       "\"user\":{}",           "\"user\":false"};
        const int k = rndi(&r, (int)(sizeof cases / sizeof *cases));
        if (!strncmp(cases[k], "\"prompt\"", 8)) sb_printf(body, "{%s,%s}", cases[k], BASE_FIELDS);
        else body_with(body, cases[k]);
        if (rndi(&r, 10) == 0) { /* or the top level is not an object */
            static const char *const top[] = {"[]", "\"prompt\"", "1", "null", "true", "[{\"prompt\":\"x\"}]", "{}"};
            sb_clear(body);
            sb_str(body, top[rndi(&r, 7)]);
        }
        post_req(req, gen, body->d, body->len, NULL, true);
        expect1(e, body->d, 400, 0);
        break;
    }
    case K_BAD_ENUM: {
        static const char *const cases[] = {
            "\"size\":\"63x64\"",   "\"size\":\"64x63\"",     "\"size\":\"0x0\"",      "\"size\":\"4096x4096\"",
            "\"size\":\"2056x64\"", "\"size\":\"64x2056\"",   "\"size\":\"56x64\"",    "\"size\":\"64x64 \"",
            "\"size\":\" 64x64\"",  "\"size\":\"64X64\"",     "\"size\":\"-64x64\"",   "\"size\":\"auto \"",
            "\"size\":\"AUTO\"",    "\"size\":\"\"",          "\"size\":\"64x\"",      "\"size\":\"x64\"",
            "\"size\":\"64*64\"",   "\"size\":\"64x64x64\"",  "\"size\":\"1e2x64\"",   "\"size\":\"+64x64\"",
            "\"size\":\"99999999999999999999x64\"", "\"size\":\"64x64\\u0000\"", "\"size\":\"\xef\xbc\x96\xef\xbc\x94x64\"",
            "\"size\":\"2048x2056\"", "\"size\":\"64x64\\n\"",
            "\"quality\":\"LOW\"",  "\"quality\":\"ultra\"",  "\"quality\":\"\"",      "\"quality\":\"low \"",
            "\"quality\":\"hd2\"",  "\"style\":\"Vivid\"",    "\"style\":\"none\"",    "\"style\":\"\"",
            "\"style\":\"natural\\n\"", "\"background\":\"none\"", "\"background\":\"Transparent\"",
            "\"background\":\"\"",  "\"background\":\"clear\"", "\"output_format\":\"gif\"", "\"output_format\":\"PNG\"",
            "\"output_format\":\"jpg\"", "\"output_format\":\"png \"", "\"output_format\":\"\"",
            "\"output_format\":\"image/png\"", "\"response_format\":\"URL\"", "\"response_format\":\"base64\"",
            "\"response_format\":\"\"", "\"response_format\":\"b64\"", "\"moderation\":\"high\"",
            "\"moderation\":\"none\"", "\"moderation\":\"AUTO\"", "\"moderation\":\"\""};
        static const char *const models[] = {"\"model\":\"nope\"", "\"model\":\"\"", "\"model\":\"gpt-image-2\"",
                                             "\"model\":\"dall-e-4\"", "\"model\":\"../tiny\""};
        const int nc = (int)(sizeof cases / sizeof *cases);
        const int k = rndi(&r, nc + 5);
        if (k < nc) {
            body_with(body, cases[k]);
            expect1(e, cases[k], 400, 0);
        } else {
            body_with(body, models[k - nc]);
            expect1(e, models[k - nc], 404, 400);
        }
        post_req(req, gen, body->d, body->len, NULL, true);
        break;
    }
    case K_BAD_VALUE: {
        static const char *const cases[] = {
            "\"n\":0", "\"n\":11", "\"n\":-1", "\"n\":1e10", "\"n\":2.5", "\"n\":-0.5", "\"output_compression\":-1",
            "\"output_compression\":101", "\"partial_images\":-1", "\"partial_images\":4",
            "\"background\":\"transparent\",\"output_format\":\"jpeg\"", "\"response_format\":\"url\",\"stream\":true",
            "\"image\":\"abc\"", "\"mask\":\"abc\"", "\"input_fidelity\":\"high\"", "\"foo\":1", "\"Prompt\":\"x\"",
            "\"size\":\"64x64\"", /* a duplicate key */
            "\"prompt\":\"again\"" /* a duplicate prompt */};
        const int nc = (int)(sizeof cases / sizeof *cases), k = rndi(&r, nc + 4);
        if (k < nc) body_with(body, cases[k]);
        else if (k == nc) sb_str(body, "{\"prompt\":\"\",\"size\":\"64x64\"}");
        else if (k == nc + 1) { /* 32001 ASCII characters */
            sb_str(body, "{\"size\":\"64x64\",\"prompt\":\"");
            sb_fill(body, 'a', 32001);
            sb_str(body, "\"}");
        } else if (k == nc + 2) { /* 32001 emoji (4 bytes each) */
            sb_str(body, "{\"size\":\"64x64\",\"prompt\":\"");
            for (int i = 0; i < 32001; i++) sb_str(body, "\xf0\x9f\x8d\x8e");
            sb_str(body, "\"}");
        } else { /* user of 257 characters */
            sb_str(body, "{\"size\":\"64x64\",\"prompt\":\"x\",\"user\":\"");
            sb_fill(body, 'u', 257);
            sb_str(body, "\"}");
        }
        post_req(req, gen, body->d, body->len, NULL, true);
        expect1(e, k < nc ? cases[k] : "prompt/user length", 400, 0);
        break;
    }
    case K_HUGE_CL: {
        const int v = rndi(&r, 6);
        if (v == 0) { /* announced, never sent */
            char h[96];
            snprintf(h, sizeof h, "%llu", rndi(&r, 2) ? (unsigned long long)MAX_BODY + 1 : 1ULL << 40);
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", gen, g_host, g_port);
            auth_header(req);
            sb_printf(req, "Content-Length: %s\r\n\r\n", h);
            expect1(e, "huge Content-Length, no body", 413, 0);
        } else if (v == 1) { /* announced and sent: 2 MiB */
            sb_str(body, "{\"prompt\":\"");
            sb_fill(body, 'a', 2 * MAX_BODY);
            sb_str(body, "\"}");
            post_req(req, gen, body->d, body->len, NULL, true);
            expect1(e, "2 MiB body", 413, 0);
            e->reset_ok = true;
        } else if (v == 2) { /* Expect: 100-continue: refused before the body */
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", gen, g_host, g_port);
            auth_header(req);
            sb_printf(req, "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n", MAX_BODY + 1 + (size_t)rndi(&r, 1000));
            expect1(e, "Expect: 100-continue with 1 MiB + 1", 413, 0);
        } else { /* the boundary: exactly 1 MiB (400: unknown field) and 1 MiB + 1 (413) */
            const size_t want = v == 3 ? MAX_BODY : v == 4 ? MAX_BODY + 1 : MAX_BODY - 1;
            sb_str(body, "{\"prompt\":\"x\",\"zz_pad\":\"");
            sb_fill(body, 'p', want - body->len - 2);
            sb_str(body, "\"}");
            post_req(req, gen, body->d, body->len, NULL, true);
            if (want > MAX_BODY) expect1(e, "1 MiB + 1 body", 413, 0), e->reset_ok = true;
            else expect1(e, "body at the limit", 400, 0);
        }
        break;
    }
    case K_HUGE_CHUNKED: {
        sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", gen, g_host, g_port);
        auth_header(req);
        sb_str(req, "Transfer-Encoding: chunked\r\n\r\n");
        const int v = rndi(&r, 4);
        if (v == 3) { /* a chunk size no one can send */
            sb_str(req, "FFFFFFFFFFFFFFFFFFFF\r\nabc");
            expect1(e, "chunk size overflow", 413, 400);
            e->shut_wr = true;
            break;
        }
        size_t total = MAX_BODY + 1 + (size_t)rndi(&r, (int)MAX_BODY);
        sb_str(req, "a\r\n{\"prompt\":\r\n");
        total -= 10;
        while (total) {
            size_t c = 1 + (size_t)rndi(&r, 200000);
            if (c > total) c = total;
            sb_printf(req, "%zx\r\n", c);
            sb_fill(req, 'x', c);
            sb_str(req, "\r\n");
            total -= c;
        }
        sb_str(req, "0\r\n\r\n");
        expect1(e, "chunked body over 1 MiB", 413, 0);
        e->reset_ok = true;
        break;
    }
    case K_NO_LENGTH: { /* a body without Content-Length or chunking: the request has no body */
        body_with(body, "\"zz\":1");
        sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", gen, g_host, g_port);
        auth_header(req);
        sb_printf(req, "%s\r\n", rndi(&r, 2) ? "Connection: close\r\n" : "");
        sb_add(req, body->d, body->len);
        expect1(e, "body without length", 400, 0);
        break;
    }
    case K_DEEP: {
        const int v = rndi(&r, 10);
        const size_t depth = v < 3 ? 17 : v < 6 ? 100 + (size_t)rndi(&r, 900) : v < 9 ? 1000 + (size_t)rndi(&r, 20000)
                                                                                  : 100000 + (size_t)rndi(&r, 400000);
        const bool obj = rndi(&r, 2);
        sb_str(body, "{\"prompt\":\"x\",\"user\":");
        for (size_t i = 0; i < depth; i++) sb_str(body, obj ? "{\"a\":" : "[");
        sb_str(body, "1");
        if (rndi(&r, 2))
            for (size_t i = 0; i < depth; i++) sb_str(body, obj ? "}" : "]");
        sb_str(body, "}");
        if (body->len > MAX_BODY) body->len = MAX_BODY, body->d[MAX_BODY] = 0;
        post_req(req, gen, body->d, body->len, NULL, true);
        expect1(e, "deep nesting", 400, 0);
        break;
    }
    case K_UTF8: {
        static const char *const bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\x80",
                                          "\xf8\x88\x80\x80\x80", "\xc3", "\\ud800", "\\udc00", "\\ud800\\u0041",
                                          "\\u0000", "\xfe\xff", "\xe0\x80\x80", "a\0b"};
        static const char *const where[] = {"prompt", "user", "model", "key", "size"};
        const int b = rndi(&r, 15), w = rndi(&r, 5);
        const char *bs = bad[b];
        const size_t bl = b == 14 ? 3 : strlen(bs);
        if (w == 3) { /* in a key */
            sb_str(body, "{\"prompt\":\"x\",\"k");
            sb_add(body, bs, bl);
            sb_str(body, "\":1}");
        } else {
            sb_printf(body, "{%s\"%s\":\"abc", w == 0 ? "" : "\"prompt\":\"x\",", where[w]);
            sb_add(body, bs, bl);
            sb_str(body, "def\"}");
        }
        post_req(req, gen, body->d, body->len, NULL, true);
        expect1(e, "invalid UTF-8", 400, 404);
        break;
    }
    case K_AUTH: {
        body_with(body, "\"zz\":1");
        static const char *const hdrs[] = {"", "Authorization: Bearer wrong\r\n", "Authorization: Bearer \r\n",
                                           "Authorization: Basic dXNlcjpwYXNz\r\n", "Authorization: Bearer%s\r\n",
                                           "Authorization: Bearer %sx\r\n", "Authorization: Bearer x%s\r\n",
                                           "Authorization: %s\r\n", "Authorization: Token %s\r\n", "LONG"};
        const int k = rndi(&r, 10);
        char h[256];
        sbuf hb = {0};
        if (k == 9) { /* a 16 KB key */
            sb_str(&hb, "Authorization: Bearer ");
            sb_fill(&hb, 'k', 16384);
            sb_str(&hb, "\r\n");
        } else {
            snprintf(h, sizeof h, hdrs[k], g_key ? g_key : "k");
            sb_str(&hb, h);
        }
        sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Length: %zu\r\n\r\n", rndi(&r, 3) ? gen : "/v1/models",
                  g_host, g_port, hb.d, body->len);
        sb_add(req, body->d, body->len);
        const bool models = strstr(req->d, "POST /v1/models") != NULL;
        free(hb.d);
        if (!g_key) expect1(e, "auth without keys", models ? 405 : 400, 0);
        else if (models) expect1(e, "auth on a POST to /v1/models", 405, 401); /* method first */
        else expect1(e, "bad key", 401, 0);
        break;
    }
    case K_BAD_HTTP: {
        const int k = rndi(&r, 14);
        static const char *const what[] = {"Content-Length -1", "Content-Length abc", "Content-Length 1 2",
                                           "Content-Length 2^75", "HTTP/9.9", "HTTP/0.9", "no colon",
                                           "header over 32 KB", "3000 headers", "bad chunk size", "Transfer-Encoding gzip",
                                           "LF only", "two Content-Lengths (smuggling)", "Content-Length and chunked (smuggling)"};
        switch (k) {
        case 0: case 1: case 2: case 3: {
            static const char *const v[] = {"-1", "abc", "1 2", "99999999999999999999999"};
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: x\r\n", gen);
            auth_header(req);
            sb_printf(req, "Content-Length: %s\r\n\r\n{}", v[k]);
            expect1(e, what[k], k == 3 ? 413 : 400, 0);
            break;
        }
        case 4: sb_str(req, "GET /health HTTP/9.9\r\nHost: x\r\n\r\n"); expect1(e, what[k], 505, 0); break;
        case 5: sb_str(req, "GET /health\r\n\r\n"); expect1(e, what[k], 400, 0); break;
        case 6: sb_str(req, "GET /health HTTP/1.1\r\nHost x\r\n\r\n"); expect1(e, what[k], 400, 0); break;
        case 7:
            sb_str(req, "GET /health HTTP/1.1\r\nHost: x\r\nX-A: ");
            sb_fill(req, 'a', 40000);
            sb_str(req, "\r\n\r\n");
            expect1(e, what[k], 431, 0);
            e->reset_ok = true;
            break;
        case 8:
            sb_str(req, "GET /health HTTP/1.1\r\nHost: x\r\n");
            for (int i = 0; i < 3000; i++) sb_printf(req, "X-%d: a\r\n", i);
            sb_str(req, "\r\n");
            expect1(e, what[k], 431, 0);
            e->reset_ok = true;
            break;
        case 9:
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: x\r\n", gen);
            auth_header(req);
            sb_str(req, "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
            expect1(e, what[k], 400, 0);
            break;
        case 10: /* an encoding nobody can frame: answered or closed, never a hang */
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: x\r\n", gen);
            auth_header(req);
            sb_str(req, "Transfer-Encoding: gzip\r\n\r\nabc");
            expect1(e, what[k], 400, 411);
            e->close_ok = true, e->shut_wr = true;
            break;
        case 11: sb_str(req, "GET /health HTTP/1.1\nHost: x\n\n"); expect1(e, what[k], 200, 400); break;
        default: { /* ambiguous framing: whatever is read as a second request must not be answered */
            static const char smuggled[] = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
            sb_printf(req, "POST %s HTTP/1.1\r\nHost: x\r\n", gen);
            auth_header(req);
            if (k == 12) sb_printf(req, "Content-Length: 2\r\nContent-Length: %zu\r\n\r\n{}%s", 2 + strlen(smuggled), smuggled);
            else sb_printf(req, "Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n%s", smuggled);
            expect1(e, what[k], 400, 0);
            e->no_more = true;
        }
        }
        break;
    }
    case K_GARBAGE: {
        const int v = rndi(&r, 5);
        if (v == 0) { /* a TLS ClientHello on the plain port */
            static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03};
            sb_add(req, hello, sizeof hello);
            for (int i = 0; i < 160; i++) sb_add(req, &(char){(char)rndi(&r, 256)}, 1);
        } else if (v == 1) { /* printable noise with line ends */
            const int n = 1 + rndi(&r, 4000);
            for (int i = 0; i < n; i++) {
                char c = (char)(32 + rndi(&r, 95));
                if (rndi(&r, 40) == 0) c = '\n';
                sb_add(req, &c, 1);
            }
            sb_str(req, "\r\n\r\n");
        } else if (v == 2) { /* binary noise */
            const int n = 1 + rndi(&r, 8192);
            for (int i = 0; i < n; i++) sb_add(req, &(char){(char)rndi(&r, 256)}, 1);
        } else if (v == 3) {
            static const char *const lines[] = {"\r\n\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n",
                                                " / HTTP/1.1\r\n\r\n", "\x00\x00\x00\x00", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                                                "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
                                                "SSH-2.0-OpenSSH_9.0\r\n", "{\"prompt\":\"a red apple\"}\r\n\r\n"};
            const int k = rndi(&r, 9);
            sb_add(req, lines[k], k == 4 ? 4 : strlen(lines[k]));
        } else { /* a request line of random bytes */
            sb_str(req, "POST /v1/images/generations");
            for (int i = 0; i < 50; i++) sb_add(req, &(char){(char)(1 + rndi(&r, 255))}, 1);
            sb_str(req, " HTTP/1.1\r\n\r\n");
        }
        memset(e, 0, sizeof *e);
        e->n_ans = 1, e->close_ok = true, e->shut_wr = true, e->what = "garbage", e->json_errors = true;
        e->ans[0][0] = 0; /* any 4xx or 505 */
        break;
    }
    case K_PIPELINE: {
        memset(e, 0, sizeof *e);
        e->what = "pipeline", e->json_errors = true;
        const int n = 2 + rndi(&r, 5);
        for (int i = 0; i < n; i++) {
            const int s = rndi(&r, 7);
            const bool last = i == n - 1;
            const char *close = last && rndi(&r, 2) ? "Connection: close\r\n" : NULL;
            sbuf b = {0};
            switch (s) {
            case 0: get_req(req, "GET", "/health", close, false); e->ans[i][0] = 200; break;
            case 1: get_req(req, "GET", "/v1/models", close, true); e->ans[i][0] = 200; break;
            case 2: /* an unknown route is answered before the request is read: the connection closes */
                if (last) {
                    get_req(req, "GET", "/nope", close, false);
                    e->ans[i][0] = 404;
                    break;
                }
                /* fall through */
            case 7: get_req(req, "GET", "/health?pipelined=1", close, false); e->ans[i][0] = 200; break;
            case 3: post_req(req, gen, "{]", 2, close, true); e->ans[i][0] = 400; break;
            case 4:
                body_with(&b, "\"quality\":\"ultra\"");
                post_req(req, gen, b.d, b.len, close, true);
                e->ans[i][0] = 400;
                break;
            case 5: get_req(req, "HEAD", "/health", close, false); e->ans[i][0] = 200, e->head[i] = true; break;
            default:
                sb_printf(req, "POST %s HTTP/1.1\r\nHost: x\r\n", gen);
                auth_header(req);
                sb_printf(req, "Transfer-Encoding: chunked\r\n%s\r\n3\r\n{\"p\r\n2\r\n\":\r\n0\r\n\r\n", close ? close : "");
                e->ans[i][0] = 400;
            }
            free(b.d);
        }
        e->n_ans = n;
        break;
    }
    case K_METHOD_PATH: {
        static const struct {
            const char *m, *p;
            int st;
            bool auth;
        } t[] = {
            {"GET", "/v1/images/generations", 405, 1},   {"PUT", "/v1/images/generations", 405, 1},
            {"DELETE", "/v1/images/generations", 405, 1}, {"PATCH", "/images/generations", 405, 1},
            {"OPTIONS", "/v1/images/generations", 405, 1}, {"POST", "/health", 405, 0},
            {"POST", "/v1/models", 405, 1},                {"DELETE", "/v1/models/x", 405, 1},
            {"get", "/health", 405, 0},                    {"FOO", "/health", 405, 0},
            {"GET", "/v1/images/generations/", 404, 1},    {"GET", "/", 200, 0},
            {"GET", "/v1", 404, 0},                        {"GET", "/V1/MODELS", 404, 1},
            {"GET", "/v1/images/files/../../../../etc/passwd", 404, 0},
            {"GET", "/v1/images/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, 0},
            {"GET", "/v1/images/files/00000000000000000000000000000000.png", 404, 0},
            {"GET", "/v1/images/files/", 404, 0},          {"GET", "/v1/images/files/ABCDEF0123456789ABCDEF0123456789.png", 404, 0},
            {"GET", "/v1/images/files/0123456789abcdef0123456789abcdef.png%00.txt", 404, 0},
            {"GET", "/v1/images/files/0123456789abcdef0123456789abcdef.gif", 404, 0},
            {"GET", "/v1/models/nope", 404, 1},            {"GET", "/v1/models/%00", 404, 1},
            {"GET", "/%00", 404, 0},                        {"CONNECT", "localhost:80", 404, 0},
            {"GET", "http://x/health", 404, 0},            {"GET", "/health?x=1&y=%zz", 200, 0},
            {"HEAD", "/health", 200, 0},                   {"GET", "/metrics", 200, 0},
            {"GET", "/v1/models", 200, 1},                 {"GET", "/models", 200, 1},
            {"GET", "LONG", 414, 0},                       {"GET", "//health", 404, 0},
            {"TRACE", "/health", 405, 0}};
        const int n = (int)(sizeof t / sizeof *t), k = rndi(&r, n);
        if (!strcmp(t[k].p, "LONG")) {
            sb_str(req, "GET /");
            sb_fill(req, 'a', 70000);
            sb_printf(req, " HTTP/1.1\r\nHost: x\r\n\r\n");
        } else if (!strcmp(t[k].m, "POST")) post_req(req, t[k].p, "{}", 2, NULL, t[k].auth);
        else get_req(req, t[k].m, t[k].p, NULL, t[k].auth);
        expect1(e, t[k].p, t[k].st, 0);
        e->head[0] = !strcmp(t[k].m, "HEAD");
        if (t[k].st == 414) e->reset_ok = true;
        break;
    }
    case K_MID_BODY: {
        body_with(body, "\"zz\":1");
        const size_t announced = body->len + 1000 + (size_t)rndi(&r, 100000);
        char h[64];
        snprintf(h, sizeof h, "%zu", announced);
        sb_printf(req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n", gen, g_host, g_port);
        auth_header(req);
        sb_printf(req, "Content-Length: %s\r\n\r\n", h);
        const size_t head = req->len;
        sb_add(req, body->d, body->len);
        memset(e, 0, sizeof *e);
        e->what = "close mid-body";
        e->send_only = head + (size_t)rndi(&r, (int)body->len);
        if (e->send_only == 0) e->send_only = 1;
        e->rst = rndi(&r, 2);
        break;
    }
    default: { /* K_GET_OK */
        static const char *const p[] = {"/health", "/v1/models", "/metrics", "MODEL"};
        const int k = rndi(&r, 4);
        char path[200];
        if (k == 3) snprintf(path, sizeof path, "/v1/models/%s", g_model);
        else snprintf(path, sizeof path, "%s", p[k]);
        get_req(req, "GET", path, NULL, true);
        expect1(e, k == 3 ? "/v1/models/MODEL" : p[k], 200, 0); /* (what must outlive this function) */
    }
    }
}

/* Whether a status is in the answer's allowed set. */
static bool allowed(const int *set, int st) {
    if (!set[0]) return (st >= 400 && st < 500) || st == 505;
    for (int i = 0; i < 6 && set[i]; i++)
        if (set[i] == st) return true;
    return false;
}

/* A 4xx/5xx with a JSON type must be an OpenAI error object. */
static bool error_body_ok(const resp *p) {
    if (p->status < 400 || strncmp(p->ctype, "application/json", 16)) return true;
    json_error_t je;
    json_t *j = json_loadb(p->body.d ? p->body.d : "", p->body.len, 0, &je);
    json_t *err = j ? json_object_get(j, "error") : NULL;
    const bool ok = err && json_is_string(json_object_get(err, "message")) && json_is_string(json_object_get(err, "type"));
    json_decref(j);
    return ok;
}

static void run_cheap1(stats *st, int kind, uint64_t idx, sbuf *req, sbuf *body);
static void run_cheap(stats *st, int kind, uint64_t idx, sbuf *req, sbuf *body) {
    const double t0 = now_s();
    run_cheap1(st, kind, idx, req, body);
    atomic_fetch_add(&st->us[kind], (long long)((now_s() - t0) * 1e6));
}

static void run_cheap1(stats *st, int kind, uint64_t idx, sbuf *req, sbuf *body) {
    expect e;
    build_cheap(kind, idx, req, body, &e);
    atomic_fetch_add(&st->sent[kind], e.n_ans > 1 ? e.n_ans : 1);
    inc(&st->conns[kind]);
    int fd = dial(20);
    if (fd < 0) {
        inc(&st->conn_errors[kind]);
        note(kind, "connect: %s", strerror(errno));
        return;
    }
    if (e.rst) set_rst(fd);
    if (e.send_only) {
        send_all(fd, req->d, e.send_only < req->len ? e.send_only : req->len);
        if (kind == K_MID_BODY && (idx & 1)) usleep(2000); /* sometimes let the server start reading */
        close(fd);
        inc(&st->dropped[kind]);
        return;
    }
    bool all_good = false; /* every answer read and allowed */
    const int sent = send_all(fd, req->d, req->len), send_errno = errno;
    if (sent == 0 && e.shut_wr) shutdown(fd, SHUT_WR);
    reader rd = {.fd = fd};
    resp p = {0};
    for (int i = 0; i < e.n_ans; i++) {
        const int k = read_resp(&rd, &p, e.head[i], 0);
        if (k == RD_CLOSED && i == 0 && e.close_ok) {
            inc(&st->closed_no_answer[kind]);
            break;
        }
        if (k != RD_OK) {
            if (i == 0 && e.reset_ok && (sent < 0 || k == RD_RESET)) {
                inc(&st->reset_ok[kind]);
                break;
            }
            if (k == RD_TIMEOUT) inc(&st->timeouts[kind]);
            else inc(&st->conn_errors[kind]);
            note(kind, "%s: answer %d of %d: %s (send: %s)", e.what, i + 1, e.n_ans,
                 k == RD_TIMEOUT ? "timed out" : k == RD_CLOSED ? "closed without an answer" : k == RD_RESET ? "reset" : "malformed",
                 sent < 0 ? strerror(send_errno) : "ok");
            break;
        }
        inc(&st->status[kind][p.status < MAX_STATUS ? p.status : 0]);
        if (p.conn_close && i + 1 < e.n_ans) { /* the server announced it closes: the rest go unanswered */
            note(kind, "%s: answer %d of %d (%d) says Connection: close", e.what, i + 1, e.n_ans, p.status);
            inc(&st->unexpected[kind]);
            break;
        }
        if (!allowed(e.ans[i], p.status)) {
            inc(&st->unexpected[kind]);
            note(kind, "%.120s: answer %d got %d, allowed %d/%d: %.200s", e.what, i + 1, p.status, e.ans[i][0],
                 e.ans[i][1], p.body.d ? p.body.d : "");
        } else if (!error_body_ok(&p)) {
            inc(&st->unexpected[kind]);
            note(kind, "%.120s: %d with a malformed JSON error body: %.200s", e.what, p.status, p.body.d ? p.body.d : "");
        } else if (kind == K_GET_OK && strstr(e.what, "models")) {
            json_t *j = json_loadb(p.body.d, p.body.len, 0, NULL);
            if (!j || !json_is_string(json_object_get(j, "object"))) {
                inc(&st->unexpected[kind]);
                note(kind, "%s: not a model object/list: %.200s", e.what, p.body.d ? p.body.d : "");
            }
            json_decref(j);
        } else if (i == e.n_ans - 1) all_good = true;
    }
    if (e.no_more && all_good) {
        /* the rest of the connection: the server must close it without answering anything else */
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        shutdown(fd, SHUT_WR);
        const size_t before = rd.b.len - rd.off;
        while (rd_fill(&rd) > 0) {}
        if (rd.b.len - rd.off > before || !rd.eof) {
            inc(&st->unexpected[kind]);
            const char *rest = rd.b.d ? rd.b.d + rd.off : "";
            note(kind, "%s: %s: %.*s", e.what, rd.eof ? "a second request was answered" : "the connection stayed open",
                 (int)strcspn(rest, "\r\n"), rest);
        }
    }
    free(p.body.d);
    free(rd.b.d);
    close(fd);
}

/* ---- valid generations ------------------------------------------------------------------------------ */

static bool check_image_b64(stats *st, int kind, const char *b64, int w, int h) {
    sbuf png = {0};
    char why[160] = "";
    bool ok = b64 && b64_decode(b64, strlen(b64), &png);
    if (!ok) snprintf(why, sizeof why, "b64_json is not base64");
    else ok = png_ok((const unsigned char *)png.d, png.len, w, h, why, sizeof why);
    free(png.d);
    if (ok) inc(&st->ok_images);
    else note(kind, "bad image: %s", why);
    return ok;
}

/* A 429 from the queue: Retry-After >= 1 and a JSON error with code queue_full or rate_limit_exceeded. */
static bool check_429(stats *st, int kind, const resp *p) {
    json_t *j = json_loadb(p->body.d ? p->body.d : "", p->body.len, 0, NULL);
    json_t *err = j ? json_object_get(j, "error") : NULL;
    const char *code = err ? json_string_value(json_object_get(err, "code")) : NULL;
    const bool ok = p->retry_after >= 1 && code && (!strcmp(code, "queue_full") || !strcmp(code, "rate_limit_exceeded"));
    if (!ok) note(kind, "429 without Retry-After or code: Retry-After %d, %.200s", p->retry_after, p->body.d ? p->body.d : "");
    else inc(&st->retry_after_ok);
    json_decref(j);
    return ok;
}

/* GET path on a fresh connection; the body in *p. */
static int simple_get(const char *path, resp *p, double timeout_s) {
    sbuf req = {0};
    get_req(&req, "GET", path, "Connection: close\r\n", true);
    int fd = dial(timeout_s);
    if (fd < 0) return free(req.d), RD_RESET;
    int k = send_all(fd, req.d, req.len) ? RD_RESET : RD_OK;
    reader rd = {.fd = fd};
    if (k == RD_OK) k = read_resp(&rd, p, false, 0);
    free(rd.b.d), free(req.d);
    close(fd);
    return k;
}

static bool check_gen_json(stats *st, int kind, const resp *p, int n, int w, int h, bool url) {
    json_error_t je;
    json_t *j = json_loadb(p->body.d, p->body.len, 0, &je);
    json_t *data = j ? json_object_get(j, "data") : NULL;
    bool ok = data && json_is_array(data) && (int)json_array_size(data) == n && json_is_integer(json_object_get(j, "created"));
    if (!ok) note(kind, "200 without data[%d]: %.200s", n, p->body.d ? p->body.d : "");
    for (int i = 0; ok && i < n; i++) {
        json_t *d = json_array_get(data, (size_t)i);
        if (!url) {
            ok = check_image_b64(st, kind, json_string_value(json_object_get(d, "b64_json")), w, h);
            continue;
        }
        const char *u = json_string_value(json_object_get(d, "url"));
        const char *path = u ? strstr(u, "/v1/images/files/") : NULL;
        if (!path) {
            note(kind, "url response without a url: %.200s", p->body.d);
            ok = false;
            break;
        }
        resp f = {0};
        const int k = simple_get(path, &f, 20);
        ok = k == RD_OK && f.status == 200 && !strcmp(f.ctype, "image/png");
        if (!ok) note(kind, "GET %s: %d %d %s", path, k, f.status, f.ctype);
        char why[160];
        if (ok && !(ok = png_ok((const unsigned char *)f.body.d, f.body.len, w, h, why, sizeof why)))
            note(kind, "GET %s: %s", path, why);
        if (ok) inc(&st->ok_images);
        free(f.body.d);
    }
    json_decref(j);
    return ok;
}

/* SSE: every event well-formed; partial events (if any) then one completed event with the image. */
static bool check_stream(stats *st, int kind, const resp *p, int w, int h) {
    int partial = 0, completed = 0;
    bool ok = true;
    char *s = p->body.d ? p->body.d : (char *)"";
    for (char *ev = s; ok && *ev;) {
        char *end = strstr(ev, "\n\n");
        if (!end) {
            ok = false, note(kind, "stream ends inside an event");
            break;
        }
        *end = 0;
        if (ev[0] != ':') { /* not a keep-alive comment */
            char *data = strstr(ev, "data: ");
            char *evl = strncmp(ev, "event: ", 7) ? NULL : ev + 7;
            json_t *j = data ? json_loads(data + 6, 0, NULL) : NULL;
            const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
            if (!type || !evl || strncmp(evl, type, strlen(type))) {
                ok = false;
                note(kind, "bad SSE event: %.200s", ev);
            } else if (!strcmp(type, "image_generation.partial_image")) {
                partial++;
                ok = check_image_b64(st, kind, json_string_value(json_object_get(j, "b64_json")), w, h);
            } else if (!strcmp(type, "image_generation.completed")) {
                completed++;
                ok = check_image_b64(st, kind, json_string_value(json_object_get(j, "b64_json")), w, h) &&
                     json_is_object(json_object_get(j, "usage"));
            } else {
                ok = false;
                note(kind, "unexpected event %s: %.200s", type, data + 6);
            }
            json_decref(j);
        }
        ev = end + 2;
    }
    if (ok && completed != 1) ok = false, note(kind, "stream with %d completed events (%d partial)", completed, partial);
    return ok;
}

static void run_gen1(stats *st, uint64_t idx, int *kind_out);
static void run_gen(stats *st, uint64_t idx) {
    const double t0 = now_s();
    int kind = G_B64;
    run_gen1(st, idx, &kind);
    atomic_fetch_add(&st->us[kind], (long long)((now_s() - t0) * 1e6));
}

static void run_gen1(stats *st, uint64_t idx, int *kind_out) {
    static const int pattern[20] = {G_B64, G_B64, G_B64, G_STREAM_CUT, G_B64, G_URL, G_B64, G_CUT, G_B64, G_STREAM_FULL,
                                    G_B64, G_B64, G_STREAM_CUT, G_B64, G_URL, G_B64, G_B64, G_CUT, G_B64, G_B64};
    const int kind = pattern[idx % 20];
    *kind_out = kind;
    rng r = rng_for(idx + 77);
    const int sz = rndi(&r, 6), w = sz == 4 ? 128 : 64, h = sz == 5 ? 128 : 64;
    const int n = kind == G_B64 && rndi(&r, 8) == 0 ? 2 : 1;
    sbuf body = {0}, req = {0};
    sb_printf(&body, "{\"prompt\":\"hostile %llu: a red apple on a wooden table\",\"model\":\"%s\",\"size\":\"%dx%d\","
                     "\"quality\":\"low\",\"n\":%d,\"user\":\"hostile-%llu\"%s}",
              (unsigned long long)idx, g_model, w, h, n, (unsigned long long)idx,
              kind == G_URL             ? ",\"response_format\":\"url\""
              : kind == G_STREAM_FULL   ? ",\"stream\":true,\"partial_images\":1"
              : kind == G_STREAM_CUT    ? ",\"stream\":true,\"partial_images\":2"
                                        : "");
    post_req(&req, "/v1/images/generations", body.d, body.len, NULL, true);
    inc(&st->sent[kind]);
    inc(&st->conns[kind]);
    int fd = dial(60);
    if (fd < 0) {
        inc(&st->conn_errors[kind]);
        note(kind, "connect: %s", strerror(errno));
        goto out;
    }
    if (send_all(fd, req.d, req.len)) {
        inc(&st->conn_errors[kind]);
        note(kind, "send: %s", strerror(errno));
        close(fd);
        goto out;
    }
    if (kind == G_CUT) { /* the client leaves: while queued or running */
        if (idx % 3) usleep(1000 * (useconds_t)(20 + rndi(&r, 150)));
        if (idx % 2) set_rst(fd);
        close(fd);
        inc(&st->dropped[kind]);
        goto out;
    }
    reader rd = {.fd = fd};
    resp p = {0};
    const int k = read_resp(&rd, &p, false, kind == G_STREAM_CUT ? 1 : 0);
    if (k != RD_OK) {
        if (k == RD_TIMEOUT) inc(&st->timeouts[kind]);
        else inc(&st->conn_errors[kind]);
        note(kind, "no answer: %s", k == RD_TIMEOUT ? "timed out" : k == RD_CLOSED ? "closed" : k == RD_RESET ? "reset" : "malformed");
    } else {
        inc(&st->status[kind][p.status < MAX_STATUS ? p.status : 0]);
        bool ok;
        if (p.status == 429) {
            inc(&st->gen_429);
            ok = check_429(st, kind, &p);
        } else if (p.status != 200) {
            ok = false;
            note(kind, "status %d: %.300s", p.status, p.body.d ? p.body.d : "");
        } else {
            inc(&st->gen_200);
            if (kind == G_STREAM_CUT) {
                ok = !strncmp(p.ctype, "text/event-stream", 17);
                if (idx % 2) set_rst(fd);
                inc(&st->dropped[kind]);
            } else if (kind == G_STREAM_FULL) ok = !strncmp(p.ctype, "text/event-stream", 17) && check_stream(st, kind, &p, w, h);
            else ok = check_gen_json(st, kind, &p, n, w, h, kind == G_URL);
        }
        if (!ok) inc(&st->unexpected[kind]);
        if (p.status == 429) usleep(1000 * (useconds_t)(150 + rndi(&r, 150))); /* a polite client backs off a little */
    }
    free(p.body.d);
    free(rd.b.d);
    close(fd);
out:
    free(body.d), free(req.d);
}

/* ---- slow connections -------------------------------------------------------------------------------- */

typedef struct slow_conn {
    int kind, fd;
    double t_open, t_closed; /* t_closed: when the server closed it (idle ones), 0 while open */
    size_t sent;
    char target_body[300];
    size_t body_len;
} slow_conn;

static atomic_int g_phase_done;

typedef struct slow_args {
    stats *st;
    int n;
    double min_hold_s; /* idle connections: wait for the server's close at most this long from opening */
} slow_args;

static void *slow_main(void *arg) {
    slow_args *a = arg;
    stats *st = a->st;
    slow_conn *c = calloc((size_t)a->n, sizeof *c);
    for (int i = 0; i < a->n; i++) {
        c[i].kind = i % 5 < 2 ? S_HEADER_TRICKLE : i % 5 < 4 ? S_BODY_TRICKLE : S_IDLE;
        c[i].fd = dial(15);
        c[i].t_open = now_s();
        inc(&st->conns[c[i].kind]);
        inc(&st->sent[c[i].kind]);
        if (c[i].fd < 0) {
            inc(&st->conn_errors[c[i].kind]);
            note(c[i].kind, "connect: %s", strerror(errno));
            continue;
        }
        sbuf h = {0};
        if (c[i].kind == S_HEADER_TRICKLE) sb_str(&h, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        else if (c[i].kind == S_BODY_TRICKLE) {
            snprintf(c[i].target_body, sizeof c[i].target_body, "{\"prompt\":\"x\",\"size\":\"64x64\",\"zz_slow\":\"%0200d\"}", i);
            c[i].body_len = strlen(c[i].target_body);
            sb_printf(&h, "POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n");
            auth_header(&h);
            sb_printf(&h, "Content-Length: %zu\r\n\r\n", c[i].body_len);
        }
        if (h.len && send_all(c[i].fd, h.d, h.len)) {
            inc(&st->conn_errors[c[i].kind]);
            note(c[i].kind, "send: %s", strerror(errno));
        }
        free(h.d);
    }
    /* trickle: one byte a second on each, watch the idle ones */
    while (!atomic_load(&g_phase_done)) {
        for (int i = 0; i < a->n; i++) {
            if (c[i].fd < 0 || c[i].t_closed) continue;
            if (c[i].kind == S_IDLE) {
                struct pollfd pf = {.fd = c[i].fd, .events = POLLIN};
                if (poll(&pf, 1, 0) > 0) {
                    char b[256];
                    ssize_t k = recv(c[i].fd, b, sizeof b, MSG_DONTWAIT);
                    if (k <= 0) c[i].t_closed = now_s();
                }
                continue;
            }
            const char byte = c[i].kind == S_HEADER_TRICKLE ? 'a' : c[i].target_body[c[i].sent];
            if (c[i].kind == S_BODY_TRICKLE && c[i].sent + 2 >= c[i].body_len) continue; /* keep the last bytes */
            if (send(c[i].fd, &byte, 1, MSG_NOSIGNAL) != 1) {
                c[i].t_closed = now_s();
                inc(&st->conn_errors[c[i].kind]);
                note(c[i].kind, "the server closed a trickling connection after %.1f s", c[i].t_closed - c[i].t_open);
                continue;
            }
            c[i].sent++;
        }
        for (int t = 0; t < 10 && !atomic_load(&g_phase_done); t++) usleep(100000);
    }
    /* finish the trickled requests: each must get its answer */
    for (int i = 0; i < a->n; i++) {
        if (c[i].fd < 0 || c[i].kind == S_IDLE || c[i].t_closed) continue;
        int rc = 0;
        if (c[i].kind == S_HEADER_TRICKLE) rc = send_all(c[i].fd, "\r\nConnection: close\r\n\r\n", 23);
        else rc = send_all(c[i].fd, c[i].target_body + c[i].sent, c[i].body_len - c[i].sent);
        reader rd = {.fd = c[i].fd};
        resp p = {0};
        const int k = rc ? RD_RESET : read_resp(&rd, &p, false, 0);
        if (k != RD_OK) {
            if (k == RD_TIMEOUT) inc(&st->timeouts[c[i].kind]);
            else inc(&st->conn_errors[c[i].kind]);
            note(c[i].kind, "no answer after %.1f s of trickling (%d)", now_s() - c[i].t_open, k);
        } else {
            inc(&st->status[c[i].kind][p.status < MAX_STATUS ? p.status : 0]);
            const int want = c[i].kind == S_HEADER_TRICKLE ? 200 : 400;
            if (p.status != want || !error_body_ok(&p)) {
                inc(&st->unexpected[c[i].kind]);
                note(c[i].kind, "got %d, want %d: %.200s", p.status, want, p.body.d ? p.body.d : "");
            }
        }
        free(p.body.d), free(rd.b.d);
    }
    /* idle ones: the server closes them after its connection timeout (30 s) */
    for (int i = 0; i < a->n; i++) {
        if (c[i].fd < 0 || c[i].kind != S_IDLE) continue;
        while (!c[i].t_closed && now_s() - c[i].t_open < a->min_hold_s) {
            struct pollfd pf = {.fd = c[i].fd, .events = POLLIN};
            if (poll(&pf, 1, 200) > 0) {
                char b[256];
                ssize_t k = recv(c[i].fd, b, sizeof b, MSG_DONTWAIT);
                if (k <= 0) c[i].t_closed = now_s();
            }
        }
        if (c[i].t_closed) {
            const double held = c[i].t_closed - c[i].t_open;
            fprintf(stderr, "hostile: idle connection %d closed by the server after %.1f s\n", i, held);
            if (held < 25 || held > 45) {
                inc(&st->unexpected[S_IDLE]);
                note(S_IDLE, "closed after %.1f s (the server's timeout is 30 s)", held);
            } else inc(&st->closed_no_answer[S_IDLE]);
        } else if (a->min_hold_s >= 35) {
            inc(&st->unexpected[S_IDLE]);
            note(S_IDLE, "an idle connection still open after %.1f s", now_s() - c[i].t_open);
        } else inc(&st->dropped[S_IDLE]); /* a short phase: we close it ourselves */
    }
    for (int i = 0; i < a->n; i++)
        if (c[i].fd >= 0) close(c[i].fd);
    free(c);
    return NULL;
}

/* ---- phases ------------------------------------------------------------------------------------------- */

typedef struct phase {
    stats *st;
    int n_cheap, n_gens;
    atomic_int next_cheap, next_gen;
    double deadline; /* absolute now_s(): no new request after it */
    uint64_t seed;
    int kind_of[100];
} phase;

static int g_only = -1; /* --only KIND: the cheap requests are all of one kind (to find what costs memory) */

static void *cheap_main(void *arg) {
    phase *ph = arg;
    sbuf req = {0}, body = {0};
    for (;;) {
        const int i = atomic_fetch_add(&ph->next_cheap, 1);
        if (i >= ph->n_cheap || now_s() > ph->deadline) break;
        run_cheap(ph->st, ph->kind_of[(i * 37) % 100], ph->seed + (uint64_t)i, &req, &body);
    }
    free(req.d), free(body.d);
    return NULL;
}

static void *gen_main(void *arg) {
    phase *ph = arg;
    for (;;) {
        const int i = atomic_fetch_add(&ph->next_gen, 1);
        if (i >= ph->n_gens || now_s() > ph->deadline) break;
        run_gen(ph->st, ph->seed + (uint64_t)i);
    }
    return NULL;
}

enum { N_CHEAP_THREADS = 4, N_GEN_THREADS = 5 };

static double run_phase(stats *st, int n_cheap, int n_gens, int n_slow, double slow_hold_s, double budget_s, uint64_t seed) {
    phase ph = {.st = st, .n_cheap = n_cheap, .n_gens = n_gens, .seed = seed};
    int slot = 0;
    for (int k = 0; k <= K_GET_OK; k++)
        for (int w = 0; w < cheap_weight[k] && slot < 100; w++) ph.kind_of[slot++] = k;
    while (slot < 100) ph.kind_of[slot++] = K_MALFORMED;
    if (g_only >= 0)
        for (int k = 0; k < 100; k++) ph.kind_of[k] = g_only;
    const double t0 = now_s();
    ph.deadline = t0 + budget_s;
    atomic_store(&g_phase_done, 0);
    pthread_t tc[N_CHEAP_THREADS], tg[N_GEN_THREADS], ts;
    slow_args sa = {.st = st, .n = n_slow, .min_hold_s = slow_hold_s};
    if (n_slow) pthread_create(&ts, NULL, slow_main, &sa);
    for (int i = 0; i < N_CHEAP_THREADS; i++) pthread_create(&tc[i], NULL, cheap_main, &ph);
    for (int i = 0; i < N_GEN_THREADS; i++) pthread_create(&tg[i], NULL, gen_main, &ph);
    for (int i = 0; i < N_CHEAP_THREADS; i++) pthread_join(tc[i], NULL);
    for (int i = 0; i < N_GEN_THREADS; i++) pthread_join(tg[i], NULL);
    atomic_store(&g_phase_done, 1);
    if (n_slow) pthread_join(ts, NULL);
    return now_s() - t0;
}

/* ---- the server process --------------------------------------------------------------------------- */

typedef struct proc_info {
    long rss_kb, hwm_kb, vm_kb;
    int threads, fds;
} proc_info;

static bool proc_read(proc_info *pi) {
    memset(pi, 0, sizeof *pi);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)g_pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) pi->rss_kb = atol(line + 6);
        else if (!strncmp(line, "VmHWM:", 6)) pi->hwm_kb = atol(line + 6);
        else if (!strncmp(line, "VmSize:", 7)) pi->vm_kb = atol(line + 7);
        else if (!strncmp(line, "Threads:", 8)) pi->threads = atoi(line + 8);
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/fd", (int)g_pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') pi->fds++;
        closedir(d);
    } else pi->fds = -1;
    return true;
}

static bool server_alive(void) { return g_pid <= 0 || kill(g_pid, 0) == 0; }

/* queue_depth from /health, -1 when it cannot be read */
static int queue_depth(void) {
    resp p = {0};
    int d = -1;
    if (simple_get("/health", &p, 10) == RD_OK && p.status == 200) {
        json_t *j = json_loadb(p.body.d, p.body.len, 0, NULL);
        if (j && json_is_integer(json_object_get(j, "queue_depth"))) d = (int)json_integer_value(json_object_get(j, "queue_depth"));
        json_decref(j);
    }
    free(p.body.d);
    return d;
}

static int wait_queue_empty(double max_s) {
    const double t0 = now_s();
    int d;
    while ((d = queue_depth()) != 0 && now_s() - t0 < max_s) usleep(100000);
    return d;
}

/* One valid request (n images of w x h, extra fields), answered 200 with PNGs of w x h. Retries 429s
 * for a while. */
static bool one_valid_n(stats *st, int n, int w, int h, const char *extra, double *ms) {
    for (int attempt = 0; attempt < 50; attempt++) {
        sbuf body = {0}, req = {0};
        sb_printf(&body, "{\"prompt\":\"a final check: a red apple\",\"model\":\"%s\",\"size\":\"%dx%d\",\"quality\":\"low\","
                         "\"n\":%d%s}", g_model, w, h, n, extra);
        post_req(&req, "/v1/images/generations", body.d, body.len, "Connection: close\r\n", true);
        const double t0 = now_s();
        int fd = dial(60), k = RD_RESET;
        reader rd = {.fd = fd};
        resp p = {0};
        if (fd >= 0 && !send_all(fd, req.d, req.len)) k = read_resp(&rd, &p, false, 0);
        if (ms) *ms = (now_s() - t0) * 1000;
        bool ok = false, retry = false;
        if (k == RD_OK && p.status == 200) {
            if (strstr(extra, "\"stream\":true")) ok = check_stream(st, G_STREAM_FULL, &p, w, h);
            else ok = check_gen_json(st, G_B64, &p, n, w, h, strstr(extra, "url") != NULL);
        }
        else if (k == RD_OK && p.status == 429) retry = true;
        else note(G_B64, "final request: %d, status %d: %.200s", k, p.status, p.body.d ? p.body.d : "");
        free(p.body.d), free(rd.b.d), free(body.d), free(req.d);
        if (fd >= 0) close(fd);
        if (!retry) return ok;
        usleep(200000);
    }
    return false;
}

static bool one_valid(stats *st, int w, int h, double *ms) { return one_valid_n(st, 1, w, h, "", ms); }

/* Every shape and kind of generation the main phase sends, once each, so that what the engine keeps per
 * shape (oneDNN primitives, packed weights, arenas) exists before "before" is measured. */
static bool warm_shapes(stats *st) {
    static const int sizes[3][2] = {{64, 64}, {128, 64}, {64, 128}};
    bool ok = true;
    for (int n = 1; n <= 2; n++)
        for (int k = 0; k < 3; k++) ok &= one_valid_n(st, n, sizes[k][0], sizes[k][1], "", NULL);
    ok &= one_valid_n(st, 1, 64, 64, ",\"response_format\":\"url\"", NULL);
    ok &= one_valid_n(st, 1, 64, 64, ",\"stream\":true,\"partial_images\":1", NULL);
    ok &= one_valid_n(st, 1, 128, 64, ",\"stream\":true,\"partial_images\":2", NULL);
    return ok;
}

static bool find_model(void) {
    resp p = {0};
    bool ok = false;
    if (simple_get("/v1/models", &p, 20) == RD_OK && p.status == 200) {
        json_t *j = json_loadb(p.body.d, p.body.len, 0, NULL);
        const char *id = j ? json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")) : NULL;
        if (id) snprintf(g_model, sizeof g_model, "%s", id), ok = true;
        json_decref(j);
    } else fprintf(stderr, "hostile: GET /v1/models: status %d\n", p.status);
    free(p.body.d);
    return ok;
}

/* ---- reporting ------------------------------------------------------------------------------------ */

static int sum(const atomic_int *a, int from, int to) {
    int s = 0;
    for (int k = from; k < to; k++) s += atomic_load(&a[k]);
    return s;
}

static void print_stats(const char *title, stats *st) {
    printf("\n%s\n", title);
    printf("  %-20s %7s %7s  %-44s %6s %6s %6s %6s %6s %8s\n", "kind", "sent", "conns", "answers (status x count)", "closed",
           "reset", "dropd", "errors", "unexp", "ms/conn");
    int tot_sent = 0, hist[MAX_STATUS] = {0};
    for (int k = 0; k < N_KINDS; k++) {
        const int sent = atomic_load(&st->sent[k]);
        if (!sent) continue;
        tot_sent += sent;
        char ans[256] = "";
        size_t n = 0;
        for (int s = 0; s < MAX_STATUS; s++) {
            const int c = atomic_load(&st->status[k][s]);
            if (!c) continue;
            hist[s] += c;
            n += (size_t)snprintf(ans + n, n < sizeof ans ? sizeof ans - n : 0, "%s%dx%d", n ? " " : "", s, c);
        }
        const int conns = atomic_load(&st->conns[k]);
        printf("  %-20s %7d %7d  %-44s %6d %6d %6d %6d %6d %8.1f\n", kind_names[k], sent, conns, ans,
               atomic_load(&st->closed_no_answer[k]), atomic_load(&st->reset_ok[k]), atomic_load(&st->dropped[k]),
               atomic_load(&st->conn_errors[k]) + atomic_load(&st->timeouts[k]), atomic_load(&st->unexpected[k]),
               conns ? atomic_load(&st->us[k]) / 1000.0 / conns : 0.0);
    }
    printf("  total requests sent: %d (cheap %d, generations %d, slow %d)\n", tot_sent, sum(st->sent, 0, G_B64),
           sum(st->sent, G_B64, S_HEADER_TRICKLE), sum(st->sent, S_HEADER_TRICKLE, N_KINDS));
    printf("  answers per status:");
    for (int s = 0; s < MAX_STATUS; s++)
        if (hist[s]) printf(" %d:%d", s, hist[s]);
    printf("\n  generations: %d answered 200, %d answered 429 (all with Retry-After: %s), %d images checked\n",
           atomic_load(&st->gen_200), atomic_load(&st->gen_429),
           atomic_load(&st->retry_after_ok) == atomic_load(&st->gen_429) ? "yes" : "NO", atomic_load(&st->ok_images));
    printf("  connection errors %d, timeouts %d, unexpected answers %d\n", sum(st->conn_errors, 0, N_KINDS),
           sum(st->timeouts, 0, N_KINDS), sum(st->unexpected, 0, N_KINDS));
}

static int g_failures;
__attribute__((format(printf, 2, 3))) static void check(bool ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  %s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) g_failures++;
}

/* ---- main mode -------------------------------------------------------------------------------------- */

static int mode_main(int n_cheap, int n_gens, int n_slow, double deadline_s, int min_requests, double rss_tol) {
    g_t0 = now_s();
    if (!find_model()) return fprintf(stderr, "hostile: cannot list the models\n"), 1;
    proc_info p0, p1, p2;
    proc_read(&p0);
    printf("hostile: server pid %d at %s:%d, model %s; idle VmRSS %ld kB, threads %d, fds %d\n", (int)g_pid, g_host, g_port,
           g_model, p0.rss_kb, p0.threads, p0.fds);

    /* warm-up: each generation shape once, then the same mix at a small scale */
    const bool shapes_ok = warm_shapes(&g_warm);
    const double tw = run_phase(&g_warm, n_cheap / 3, n_gens / 8 + 5, n_slow, 3, 30, 1000000);
    wait_queue_empty(30);
    usleep(1000000);
    proc_read(&p1);
    printf("hostile: warm-up: %d requests in %.1f s; VmRSS %ld kB (this is \"before\"), threads %d, fds %d\n",
           sum(g_warm.sent, 0, N_KINDS), tw, p1.rss_kb, p1.threads, p1.fds);

    /* the main phase */
    const double budget = deadline_s - (now_s() - g_t0) - 12; /* leave time for the slow ones and the checks */
    const double tm = run_phase(&g_main, n_cheap, n_gens, n_slow, 40, budget > 10 ? budget : 10, 1);
    const int main_sent = sum(g_main.sent, 0, N_KINDS);
    printf("hostile: main phase: %d requests in %.1f s (%.0f/s)\n", main_sent, tm, main_sent / tm);

    /* afterwards */
    const bool alive_after = server_alive();
    const int depth = wait_queue_empty(60);
    double ms = 0;
    const bool final_ok = one_valid(&g_extra, 64, 64, &ms);
    const int depth2 = wait_queue_empty(10);
    usleep(1500000); /* let connection threads exit */
    proc_read(&p2);

    print_stats("== warm-up phase", &g_warm);
    print_stats("== main phase", &g_main);
    printf("\n== server\n  VmRSS idle %ld kB, before %ld kB, after %ld kB (%+.1f %%), peak (VmHWM) %ld kB\n", p0.rss_kb,
           p1.rss_kb, p2.rss_kb, p1.rss_kb ? 100.0 * (p2.rss_kb - p1.rss_kb) / p1.rss_kb : 0.0, p2.hwm_kb);
    printf("  threads before %d after %d; open fds before %d after %d; runtime %.1f s\n", p1.threads, p2.threads, p1.fds,
           p2.fds, now_s() - g_t0);
    printf("\n== checks\n");
    stats *m = &g_main;
    check(main_sent >= min_requests, "main phase sent %d requests (at least %d)", main_sent, min_requests);
    check(alive_after && server_alive(), "the server process is alive");
    check(sum(m->timeouts, 0, N_KINDS) == 0, "no request timed out (%d)", sum(m->timeouts, 0, N_KINDS));
    check(sum(m->conn_errors, 0, N_KINDS) == 0, "no connection errors (%d)", sum(m->conn_errors, 0, N_KINDS));
    check(sum(m->unexpected, 0, N_KINDS) == 0, "every answer was one its request may get (%d were not)",
          sum(m->unexpected, 0, N_KINDS));
    check(shapes_ok && sum(g_warm.unexpected, 0, N_KINDS) + sum(g_warm.conn_errors, 0, N_KINDS) + sum(g_warm.timeouts, 0, N_KINDS) == 0,
          "the warm-up phase had no failures either (each generation shape: %s)", shapes_ok ? "ok" : "FAILED");
    check(atomic_load(&m->gen_200) >= 10, "valid generations answered 200: %d (429: %d)", atomic_load(&m->gen_200),
          atomic_load(&m->gen_429));
    check(atomic_load(&m->retry_after_ok) == atomic_load(&m->gen_429), "every 429 had Retry-After and an error code");
    check(final_ok, "a valid request afterwards is answered with a correct 64x64 PNG (%.0f ms)", ms);
    check(depth == 0 && depth2 == 0, "/health reports queue_depth 0 afterwards (%d, then %d)", depth, depth2);
    const double drift = p1.rss_kb ? (double)(p2.rss_kb - p1.rss_kb) / p1.rss_kb : 1;
    if (rss_tol >= 1) printf("  --   VmRSS %ld → %ld kB (not checked: --rss-tol %.0f)\n", p1.rss_kb, p2.rss_kb, rss_tol);
    else check(p1.rss_kb > 0 && drift <= rss_tol && drift >= -rss_tol, "VmRSS after within %.0f %% of before (%ld → %ld kB)",
               rss_tol * 100, p1.rss_kb, p2.rss_kb);
    check(p2.threads <= p1.threads + 2, "no threads left behind (%d → %d)", p1.threads, p2.threads);
    check(p2.fds <= p1.fds + 2, "no file descriptors left behind (%d → %d)", p1.fds, p2.fds);
    printf("\nhostile: %s (%d check%s failed)\n", g_failures ? "FAILED" : "passed", g_failures, g_failures == 1 ? "" : "s");
    return g_failures ? 1 : 0;
}

/* ---- limits (item 4) --------------------------------------------------------------------------------- */

/* Sends body to the generations route; returns the status (0: no answer) and the time in ms. */
static int post_body(const char *body, size_t n, const char *key, double timeout_s, double *ms, resp *out) {
    sbuf req = {0};
    sb_printf(&req, "POST /v1/images/generations HTTP/1.1\r\nHost: %s:%d\r\n", g_host, g_port);
    if (key) sb_printf(&req, "Authorization: Bearer %s\r\n", key);
    sb_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
    sb_add(&req, body, n);
    const double t0 = now_s();
    int fd = dial(timeout_s), st = 0;
    reader rd = {.fd = fd};
    resp p = {0};
    if (fd >= 0) {
        send_all(fd, req.d, req.len);
        if (read_resp(&rd, &p, false, 0) == RD_OK) st = p.status;
        close(fd);
    }
    if (ms) *ms = (now_s() - t0) * 1000;
    free(req.d), free(rd.b.d);
    if (out) *out = p;
    else free(p.body.d);
    return st;
}

static const char *err_code(const resp *p) {
    static __thread char code[64];
    json_t *j = json_loadb(p->body.d ? p->body.d : "", p->body.len, 0, NULL);
    const char *c = j ? json_string_value(json_object_get(json_object_get(j, "error"), "code")) : NULL;
    snprintf(code, sizeof code, "%s", c ? c : "-");
    json_decref(j);
    return code;
}

typedef struct rss_sampler {
    atomic_int stop;
    long peak_kb;
} rss_sampler;

static void *sample_rss(void *arg) {
    rss_sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        proc_info pi;
        if (proc_read(&pi) && pi.rss_kb > s->peak_kb) s->peak_kb = pi.rss_kb;
        usleep(20000);
    }
    return NULL;
}

static int mode_limits(void) {
    if (!find_model()) return 1;
    sbuf b = {0};
    resp p = {0};
    double ms;
    int st;
    printf("== limits on %s:%d, model %s\n", g_host, g_port, g_model);
    /* body size */
    for (int d = -1; d <= 1; d++) {
        sb_clear(&b);
        sb_str(&b, "{\"prompt\":\"x\",\"zz_pad\":\"");
        sb_fill(&b, 'p', MAX_BODY + (size_t)d - b.len - 2);
        sb_str(&b, "\"}");
        st = post_body(b.d, b.len, g_key, 30, &ms, &p);
        printf("  body %zu bytes: %d %s (%.0f ms)\n", b.len, st, err_code(&p), ms);
        check(st == (d <= 0 ? 400 : 413), "body of %zu bytes → %d", b.len, d <= 0 ? 400 : 413);
        free(p.body.d), p = (resp){0};
    }
    /* prompt length in code points: 32000 is served, 32001 is a 400 (ASCII and 4-byte emoji) */
    for (int emoji = 0; emoji < 2; emoji++)
        for (int n = 32000; n <= 32001; n++) {
            sb_clear(&b);
            sb_printf(&b, "{\"model\":\"%s\",\"size\":\"64x64\",\"quality\":\"low\",\"prompt\":\"", g_model);
            for (int i = 0; i < n; i++) sb_str(&b, emoji ? "\xf0\x9f\x8d\x8e" : "a");
            sb_str(&b, "\"}");
            st = post_body(b.d, b.len, g_key, 120, &ms, &p);
            printf("  prompt of %d %s (%zu bytes): %d %s (%.0f ms)\n", n, emoji ? "emoji" : "ASCII characters", b.len, st,
                   err_code(&p), ms);
            check(st == (n <= 32000 ? 200 : 400), "prompt of %d characters → %d", n, n <= 32000 ? 200 : 400);
            free(p.body.d), p = (resp){0};
        }
    /* n x pixels: n=10 at 2048x2048 on the tiny model */
    static const struct {
        int n, w, h;
    } big[] = {{1, 2048, 2048}, {10, 2048, 2048}, {10, 2056, 2048}, {11, 64, 64}};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        proc_info before, after;
        proc_read(&before);
        rss_sampler rs = {.peak_kb = before.rss_kb};
        pthread_t t;
        pthread_create(&t, NULL, sample_rss, &rs);
        sb_clear(&b);
        sb_printf(&b, "{\"model\":\"%s\",\"prompt\":\"a red apple\",\"n\":%d,\"size\":\"%dx%d\",\"quality\":\"low\"}",
                  g_model, big[i].n, big[i].w, big[i].h);
        st = post_body(b.d, b.len, g_key, 590, &ms, &p);
        atomic_store(&rs.stop, 1);
        pthread_join(t, NULL);
        proc_read(&after);
        int images = 0;
        size_t bytes = p.body.len;
        if (st == 200) {
            json_t *j = json_loadb(p.body.d, p.body.len, 0, NULL);
            json_t *data = json_object_get(j, "data");
            for (size_t k = 0; k < json_array_size(data); k++)
                images += check_image_b64(&g_extra, G_B64, json_string_value(json_object_get(json_array_get(data, k), "b64_json")),
                                          big[i].w, big[i].h);
            json_decref(j);
        }
        printf("  n=%d %dx%d: %d %s in %.0f ms, %d valid PNGs, response %.1f MB; VmRSS %ld → peak %ld → %ld kB\n",
               big[i].n, big[i].w, big[i].h, st, st == 200 ? "" : err_code(&p), ms, images, bytes / 1e6, before.rss_kb,
               rs.peak_kb, after.rss_kb);
        const bool valid = big[i].w <= 2048 && big[i].n <= 10;
        check(valid ? st == 200 && images == big[i].n : st == 400, "n=%d %dx%d → %s", big[i].n, big[i].w, big[i].h,
              valid ? "200 with every image" : "400");
        free(p.body.d), p = (resp){0};
    }
    free(b.d);
    check(server_alive(), "the server is alive");
    printf("limits: %s\n", g_failures ? "FAILED" : "passed");
    return g_failures ? 1 : 0;
}

/* --max-connections N: N connections held (headers half sent), then one more must be refused
 * promptly (closed or answered 503), never left hanging; afterwards the server answers again. */
static int mode_connlimit(int n) {
    int *fds = calloc((size_t)n + 1, sizeof *fds);
    int opened = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = dial(10);
        if (fds[i] < 0) break;
        send_all(fds[i], "GET /health HTTP/1.1\r\nHost: x\r\n", 31); /* never finished */
        opened++;
    }
    usleep(300000);
    /* the server may have closed some of the first N: count those still open */
    int still = 0;
    for (int i = 0; i < opened; i++) {
        struct pollfd pf = {.fd = fds[i], .events = POLLIN};
        if (poll(&pf, 1, 0) > 0) {
            char c;
            if (recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) continue;
        }
        still++;
    }
    printf("== connection limit %d: opened %d, %d still open after 0.3 s\n", n, opened, still);
    const double t0 = now_s();
    int fd = dial(3), st = 0, k = RD_RESET;
    resp p = {0};
    reader rd = {.fd = fd};
    if (fd >= 0 && !send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34)) k = read_resp(&rd, &p, false, 0);
    st = k == RD_OK ? p.status : 0;
    const double dt = now_s() - t0;
    if (k == RD_TIMEOUT && opened) { /* queued, not refused: is it served once a slot frees? */
        const double t1 = now_s();
        close(fds[--opened]);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        const int k2 = read_resp(&rd, &p, false, 0);
        printf("  connection %d: no answer within %.1f s while %d are held; after one of them closed: %s %d in %.0f ms\n",
               n + 1, dt, n, k2 == RD_OK ? "answered" : "still nothing,", k2 == RD_OK ? p.status : k2, (now_s() - t1) * 1000);
    }
    if (k != RD_TIMEOUT) printf("  connection %d: %s%s after %.0f ms\n", n + 1,
           k == RD_OK ? "answered" : k == RD_CLOSED ? "closed without an answer" : k == RD_RESET ? "reset" : k == RD_TIMEOUT ? "no answer (timed out)" : "malformed answer",
           "", dt * 1000);
    if (k == RD_OK) printf("  status %d: %.200s\n", st, p.body.d ? p.body.d : "");
    check(k != RD_TIMEOUT && dt < 5, "connection N+1 is refused or answered promptly, not left hanging (%.0f ms)", dt * 1000);
    if (fd >= 0) close(fd);
    free(p.body.d), free(rd.b.d);
    for (int i = 0; i < opened; i++) close(fds[i]);
    free(fds);
    usleep(500000);
    const int d = queue_depth();
    check(d == 0, "after closing them the server answers /health again (queue_depth %d)", d);
    check(server_alive(), "the server is alive");
    return g_failures ? 1 : 0;
}

/* --rate-limit PER_MIN with two keys: key A's burst passes, then 429 rate_limit_exceeded with
 * Retry-After; key B is not affected. Requests are valid generations (the limit is taken after
 * validation, so invalid requests are never limited). */
static int mode_ratelimit(int per_min) {
    if (!find_model()) return 1;
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"a red apple\",\"size\":\"64x64\",\"quality\":\"low\"}", g_model);
    int ok_a = 0, limited = 0, first_limited = 0, retry = -1;
    printf("== rate limit %d/min, key A then key B\n", per_min);
    for (int i = 1; i <= 12; i++) {
        resp p = {0};
        double ms;
        const int st = post_body(body, strlen(body), g_key, 60, &ms, &p);
        printf("  key A request %2d: %d %s Retry-After %d (%.0f ms)\n", i, st, st == 200 ? "" : err_code(&p), p.retry_after, ms);
        if (st == 200) ok_a++;
        else if (st == 429 && !strcmp(err_code(&p), "rate_limit_exceeded")) {
            limited++;
            if (!first_limited) first_limited = i, retry = p.retry_after;
        }
        free(p.body.d);
    }
    resp p = {0};
    const int stb = post_body(body, strlen(body), g_key2, 60, NULL, &p);
    printf("  key B request: %d\n", stb);
    free(p.body.d), p = (resp){0};
    int st_after = 0;
    if (retry >= 1 && retry <= 30) { /* after Retry-After, key A is served again */
        usleep((useconds_t)retry * 1000000 + 200000);
        st_after = post_body(body, strlen(body), g_key, 60, NULL, &p);
        printf("  key A after waiting Retry-After (%d s): %d\n", retry, st_after);
        free(p.body.d);
    }
    const int burst = per_min < 5 ? per_min : 5;
    check(ok_a >= burst && ok_a <= burst + 2 && limited == 12 - ok_a, "key A: %d served, then %d refused (burst %d)", ok_a,
          limited, burst);
    check(retry >= 1 && retry <= 60 * 2 / (per_min ? per_min : 1) + 1, "the first 429 has Retry-After %d s", retry);
    check(!g_key2 || stb == 200, "key B is served while key A is limited (%d)", stb);
    check(st_after == 200, "key A is served again after Retry-After (%d)", st_after);
    check(server_alive(), "the server is alive");
    return g_failures ? 1 : 0;
}

/* one request (faults.sh): prints "STATUS CODE ms" and the error message; exit 0 when it matches */
static int mode_gen(const char *body, int expect_status) {
    if (!g_model[0] && !find_model()) return 1;
    char def[320];
    if (!body) {
        snprintf(def, sizeof def, "{\"model\":\"%s\",\"prompt\":\"a red apple\",\"size\":\"64x64\",\"quality\":\"low\"}", g_model);
        body = def;
    }
    char *b = strdup(body), *m;
    sbuf bb = {0};
    while ((m = strstr(b, "MODEL"))) { /* MODEL in --body is the served model's id */
        *m = 0;
        sb_str(&bb, b);
        sb_str(&bb, g_model);
        memmove(b, m + 5, strlen(m + 5) + 1);
    }
    sb_str(&bb, b);
    free(b);
    resp p = {0};
    double ms;
    const int st = post_body(bb.d, bb.len, g_key, 590, &ms, &p);
    int images = 0, bad = 0;
    if (st == 200) {
        json_t *j = json_loadb(p.body.d, p.body.len, 0, NULL);
        json_t *data = json_object_get(j, "data");
        for (size_t k = 0; k < json_array_size(data); k++) {
            const char *s = json_string_value(json_object_get(json_array_get(data, k), "b64_json"));
            const char *u = json_string_value(json_object_get(json_array_get(data, k), "url"));
            sbuf png = {0};
            if (s && b64_decode(s, strlen(s), &png) && png.len > 8 && !memcmp(png.d, "\x89PNG", 4)) images++;
            else if (u) images++;
            else bad++;
            free(png.d);
        }
        json_decref(j);
    }
    json_t *j = json_loadb(p.body.d ? p.body.d : "", p.body.len, 0, NULL);
    const char *msg = j ? json_string_value(json_object_get(json_object_get(j, "error"), "message")) : NULL;
    printf("%d %s %.0f ms images=%d bad=%d%s%s\n", st, st == 200 ? "-" : err_code(&p), ms, images, bad, msg ? " message=" : "",
           msg ? msg : "");
    json_decref(j);
    free(p.body.d), free(bb.d);
    return expect_status ? (st == expect_status && !bad ? 0 : 1) : 0;
}

/* ---- main ------------------------------------------------------------------------------------------ */

static void usage(void) {
    fprintf(stderr, "usage: hostile main|limits|connlimit|ratelimit|gen HOST PORT PID [N] [--key K] [--key2 K]\n"
                    "       [--cheap N] [--gens N] [--slow N] [--deadline S] [--min-requests N] [--rss-tol F]\n"
                    "       [--body JSON] [--expect STATUS]   (see the top of tests/hostile/hostile.c)\n");
}

int main(int argc, char **argv) {
    if (argc < 5) return usage(), 2;
    const char *mode = argv[1];
    g_host = argv[2];
    g_port = atoi(argv[3]);
    g_pid = (pid_t)atoi(argv[4]);
    int i = 5, n_arg = 0;
    if (argc > 5 && isdigit((unsigned char)argv[5][0])) n_arg = atoi(argv[5]), i = 6;
    int n_cheap = 10600, n_gens = 200, n_slow = 20, min_requests = 10000, expect_status = 0;
    double deadline = 85, rss_tol = 0.10;
    const char *body = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage(), 2;
        i++;
        if (!strcmp(a, "--key")) g_key = *v ? v : NULL;
        else if (!strcmp(a, "--key2")) g_key2 = v;
        else if (!strcmp(a, "--cheap")) n_cheap = atoi(v);
        else if (!strcmp(a, "--gens")) n_gens = atoi(v);
        else if (!strcmp(a, "--slow")) n_slow = atoi(v);
        else if (!strcmp(a, "--deadline")) deadline = atof(v);
        else if (!strcmp(a, "--min-requests")) min_requests = atoi(v);
        else if (!strcmp(a, "--rss-tol")) rss_tol = atof(v);
        else if (!strcmp(a, "--body")) body = v;
        else if (!strcmp(a, "--expect")) expect_status = atoi(v);
        else if (!strcmp(a, "--model")) snprintf(g_model, sizeof g_model, "%s", v);
        else if (!strcmp(a, "--only")) {
            for (int k = 0; k <= K_GET_OK; k++)
                if (!strcmp(v, kind_names[k])) g_only = k;
            if (g_only < 0) return fprintf(stderr, "hostile: --only takes a cheap kind's name\n"), 2;
        }
        else return usage(), 2;
    }
    struct in_addr tmp;
    if (inet_pton(AF_INET, g_host, &tmp) != 1 || (ntohl(tmp.s_addr) >> 24) != 127) {
        fprintf(stderr, "hostile: loopback addresses only (127.x.y.z), not %s\n", g_host);
        return 2;
    }
    if (g_port <= 0 || g_port > 65535) return usage(), 2;
    signal(SIGPIPE, SIG_IGN);
    crc_init();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "main")) return mode_main(n_cheap, n_gens, n_slow, deadline, min_requests, rss_tol);
    if (!strcmp(mode, "limits")) return mode_limits();
    if (!strcmp(mode, "connlimit") && n_arg > 0) return mode_connlimit(n_arg);
    if (!strcmp(mode, "ratelimit") && n_arg > 0) return mode_ratelimit(n_arg);
    if (!strcmp(mode, "gen")) return mode_gen(body, expect_status);
    return usage(), 2;
}
