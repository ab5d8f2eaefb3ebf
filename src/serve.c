/* serve.c — `headshot serve`: an HTTP/1.1 server on loopback for the page and its API (serve.h).
 *
 * One thread accepts; each connection gets a detached thread of its own (at most SRV_CONNS;
 * past that the answer is 503). A connection carries one request (Connection: close). Every
 * read and write waits with poll() against a deadline, so a client that stalls or never
 * finishes its request is dropped after --timeout seconds. A job is admitted before its body
 * is read (at most --queue waiting, else 503), so memory stays bounded; jobs then run one at
 * a time on the networks loaded at start (one set of networks, one pool: a pool serves one caller at a time).
 */
#include "serve.h"

#include "job.h"
#include "status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SRV_MAX_BODY (50LL << 20)  /* largest photo accepted: 50 MB */
#define SRV_MAX_HEAD 16384         /* request line and headers */
#define SRV_CONNS 16               /* connections handled at once */
#define SRV_QUEUE 4                /* default --queue: jobs that may wait for the one running */
#define SRV_TIMEOUT 10             /* default --timeout, seconds: headers, a stall, a send */
#define SRV_BODY_S 120             /* whole body, seconds */
#define SRV_WAIT_S 300             /* longest wait for the job ahead, seconds */
#define SRV_TOKEN 32               /* hex digits of the token */

extern const char serve_page[], serve_page_end[];   /* web/index.html, embedded by src/page.S */

static struct {
    pl_models models;
    int port, queue, timeout_ms;
    char token[SRV_TOKEN + 1];
    pthread_mutex_t lock;
    pthread_cond_t turn;
    int admitted;                  /* jobs admitted: reading their body, waiting or running */
    int running;                   /* 1: a job holds the networks */
    int conns;                     /* connection threads */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER, .turn = PTHREAD_COND_INITIALIZER};

typedef struct {
    int fd;
    double t0;                     /* accepted, ms */
    char head[SRV_MAX_HEAD + 1];   /* what was read up to the end of the headers (and past it) */
    size_t got, head_len;          /* bytes in head; length of the headers with their blank line */
    const char *method, *path, *query;
    const char *host;              /* Host header, NULL = none */
    long long length;              /* Content-Length, -1 = none */
    int chunked, expect, json;     /* Transfer-Encoding given; Expect: 100-continue; Accept JSON */
    int status;                    /* the answer's, for the log */
    size_t sent;
} srv_req;

static double srv__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ============================================================ socket I/O with deadlines === */

/* Waits for fd to be ready for ev until the deadline (ms) or a stall of --timeout: 1 ready, 0 not. */
static int srv__wait(int fd, short ev, double deadline) {
    for (;;) {
        double left = deadline - srv__now();
        if (left <= 0) return 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, left < srv.timeout_ms ? (int)left + 1 : srv.timeout_ms);
        if (r > 0) return 1;
        if (r == 0 || errno != EINTR) return 0;
    }
}

/* Up to n bytes: > 0 read, 0 closed, -1 error, -2 timed out. */
static long srv__recv(int fd, void *b, size_t n, double deadline) {
    for (;;) {
        if (!srv__wait(fd, POLLIN, deadline)) return -2;
        ssize_t k = recv(fd, b, n, MSG_DONTWAIT);
        if (k >= 0) return (long)k;
        if (errno != EAGAIN && errno != EINTR) return -1;
    }
}

static int srv__send_all(int fd, const void *b, size_t n, double deadline) {
    const char *p = b;
    while (n) {
        if (!srv__wait(fd, POLLOUT, deadline)) return -1;
        ssize_t k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* Closes after an answer sent before the body was read: stop writing, then read and drop what
 * the client still sends for a moment, so that the close does not reset the connection and
 * take the unread answer with it. */
static void srv__close(int fd, int drain) {
    if (drain) {
        char junk[65536];
        double end = srv__now() + 1000;
        shutdown(fd, SHUT_WR);
        while (srv__recv(fd, junk, sizeof junk, end) > 0) {}
    }
    close(fd);
}

/* ============================================================ answers === */

/* The status line, the common headers (no CORS header, ever), and the body. */
static void srv__answer(srv_req *q, int status, const char *type, const char *extra, const void *body, size_t n) {
    static const struct { int code; const char *text; } reasons[] = {
        {200, "OK"}, {400, "Bad Request"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {408, "Request Timeout"}, {411, "Length Required"}, {413, "Content Too Large"}, {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"}, {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
        {503, "Service Unavailable"},
    };
    const char *text = "Error";
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status) text = reasons[i].text;
    char head[1024];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
                     "X-Frame-Options: DENY\r\n%s\r\n",
                     status, text, type, n, extra ? extra : "");
    double deadline = srv__now() + SRV_BODY_S * 1000.0;
    q->status = status;
    if (srv__send_all(q->fd, head, (size_t)h, deadline) == 0 && srv__send_all(q->fd, body, n, deadline) == 0) q->sent = n;
}

/* {"error": why} with the status. */
static void srv__error(srv_req *q, int status, const char *why) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return srv__answer(q, 500, "application/json", NULL, "{\"error\": \"out of memory\"}\n", 27);
    fputs("{\"error\": ", f), meta_json_string(f, why), fputs("}\n", f);
    fclose(f);
    srv__answer(q, status, "application/json", status == 503 ? "Retry-After: 5\r\n" : NULL, buf, n);
    free(buf);
}

/* The HTTP status of an exit status (docs/CLI.md). */
static int srv__http_of(int hs) {
    switch (hs) {
    case HS_EUSAGE: case HS_EINPUT: return 400;
    case HS_EFORMAT: return 415;
    case HS_ELARGE: return 413;
    case HS_ENOFACE: case HS_EIDENTITY: case HS_EROOM: return 422;
    default: return 500;
    }
}

static void srv__base64(FILE *f, const unsigned char *b, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        char o[4] = {al[v >> 18 & 63], al[v >> 12 & 63], i + 1 < n ? al[v >> 6 & 63] : '=', i + 2 < n ? al[v & 63] : '='};
        fwrite(o, 1, 4, f);
    }
}

/* One result as a JSON object: name, type, size, identity, the image as a data URL, the report. */
static void srv__result_json(FILE *f, const char *name, const job_result *r) {
    const char *type = r->format == IMG_PNG ? "image/png" : "image/jpeg";
    fprintf(f, "{\"name\": \"%s\", \"type\": \"%s\", \"width\": %d, \"height\": %d, \"bytes\": %zu, ", name, type, r->w, r->h,
            r->n);
    if (r->identity == r->identity) fprintf(f, "\"identity\": %.4f, ", r->identity);
    else fputs("\"identity\": null, ", f);
    fprintf(f, "\"verdict\": \"%s\",\n \"report\": %.*s, \"image\": \"data:%s;base64,", meta_identity_verdict(r->identity),
            (int)(r->report_n && r->report[r->report_n - 1] == '\n' ? r->report_n - 1 : r->report_n), r->report, type);
    srv__base64(f, r->bytes, r->n);
    fputs("\"}", f);
}

/* The answer of a job: the image itself, or JSON (variants always). */
static void srv__results(srv_req *q, const job_opts *o, const job_result *r, int n) {
    if (n == 1 && !q->json) {
        char extra[160];
        snprintf(extra, sizeof extra, "X-Identity-Distance: %.4f\r\nContent-Disposition: inline; filename=\"headshot.%s\"\r\n",
                 r->identity, r->format == IMG_PNG ? "png" : "jpg");
        return srv__answer(q, 200, r->format == IMG_PNG ? "image/png" : "image/jpeg", extra, r->bytes, r->n);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return srv__error(q, 500, "out of memory");
    fputs("{\"notes\": [", f);
    for (int i = 0; i < o->n_notes; i++) fputs(i ? ", " : "", f), meta_json_string(f, o->notes[i]);
    fputs("],\n\"looks\": [", f);
    for (int k = 0; k < n; k++) fputs(k ? ",\n" : "", f), srv__result_json(f, n == 1 ? "headshot" : job_looks[k].name, &r[k]);
    fputs("]}\n", f);
    if (fclose(f)) srv__error(q, 500, "out of memory");
    else srv__answer(q, 200, "application/json", NULL, buf, len);
    free(buf);
}

/* ============================================================ requests === */

/* Reads up to the end of the headers: 0, or the HTTP status to refuse with. */
static int srv__read_head(srv_req *q) {
    double deadline = q->t0 + srv.timeout_ms;
    char *end = NULL;
    while (!end) {
        if (q->got == SRV_MAX_HEAD) return 431;
        long k = srv__recv(q->fd, q->head + q->got, SRV_MAX_HEAD - q->got, deadline);
        if (k == -2) return 408;
        if (k <= 0) return -1;
        q->got += (size_t)k;
        end = memmem(q->head, q->got, "\r\n\r\n", 4);
    }
    q->head_len = (size_t)(end - q->head) + 4;
    if (memchr(q->head, '\0', q->head_len)) return 400;
    end[2] = '\0';   /* the headers as one string, each line ending in \r\n */
    return 0;
}

/* Splits the request line and reads the headers that matter: 0, or the status to refuse with. */
static int srv__parse(srv_req *q) {
    char *line = q->head, *next = strstr(line, "\r\n"), *sp1, *sp2;
    *next = '\0';
    if (!(sp1 = strchr(line, ' ')) || !(sp2 = strchr(sp1 + 1, ' ')) || strncmp(sp2 + 1, "HTTP/1.", 7)) return 400;
    *sp1 = *sp2 = '\0';
    q->method = line, q->path = sp1 + 1;
    char *qm = strchr(sp1 + 1, '?');
    q->query = qm ? (*qm = '\0', qm + 1) : "";
    q->length = -1;
    for (line = next + 2; *line; line = next + 2) {
        next = strstr(line, "\r\n");
        *next = '\0';
        char *colon = strchr(line, ':'), *v;
        if (!colon || colon == line) return 400;
        *colon = '\0';
        if (strpbrk(line, " \t")) return 400;   /* a header name has no blanks */
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {}
        for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');) *--e = '\0';
        if (!strcasecmp(line, "Host")) {
            if (q->host) return 400;
            q->host = v;
        } else if (!strcasecmp(line, "Content-Length")) {
            char *e;
            errno = 0;
            long long n = strtoll(v, &e, 10);
            if (q->length >= 0 || e == v || *e || errno || n < 0 || *v == '-' || *v == '+') return 400;
            q->length = n;
        } else if (!strcasecmp(line, "Transfer-Encoding")) {
            q->chunked = 1;
        } else if (!strcasecmp(line, "Expect")) {
            q->expect = !strcasecmp(v, "100-continue");
        } else if (!strcasecmp(line, "Accept")) {
            q->json = strstr(v, "application/json") != NULL;
        }
    }
    return 0;
}

static int srv__hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %XX and + decoded in place. */
static void srv__unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        int hi = *s == '%' ? srv__hex(s[1]) : -1, lo = hi >= 0 ? srv__hex(s[2]) : -1;
        if (lo >= 0) *o++ = (char)(hi << 4 | lo), s += 2;
        else *o++ = *s == '+' ? ' ' : *s;
    }
    *o = '\0';
}

/* Equal strings, in a time that does not depend on where they differ. */
static int srv__same(const char *a, const char *b) {
    size_t n = strlen(a);
    if (n != strlen(b)) return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* The Host header names this server: 127.0.0.1:PORT or localhost:PORT (DNS rebinding). */
static int srv__host_ok(const char *host) {
    char a[32], b[32];
    snprintf(a, sizeof a, "127.0.0.1:%d", srv.port), snprintf(b, sizeof b, "localhost:%d", srv.port);
    return host && (!strcmp(host, a) || !strcasecmp(host, b));
}

/* The query: the token (checked here) and the command line's options (into o). Returns 0 or
 * the status to refuse with, why set. A copy is decoded: q->query stays for the token check. */
static int srv__options(srv_req *q, job_opts *o, int *token_ok, char why[JOB_WHY]) {
    char *copy = strdup(q->query), *save = NULL;
    int rc = copy ? 0 : 500;
    *token_ok = 0;
    if (!copy) snprintf(why, JOB_WHY, "out of memory");
    for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv && !rc; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        if (v) *v++ = '\0';
        srv__unescape(kv);
        if (v) srv__unescape(v);
        if (!strcmp(kv, "token")) *token_ok = v && srv__same(v, srv.token);
        else if (!o) continue;
        else if (!strcmp(kv, "background") && v && !strncmp(v, "image:", 6))
            rc = 400, snprintf(why, JOB_WHY, "--background image:FILE reads a file of the computer; serve does not take it");
        else if (job_option(o, kv, v, why)) rc = 400;
    }
    free(copy);
    return rc;
}

/* Reserves a place in the job queue: 1, or 0 when --queue jobs already wait. */
static int srv__admit(void) {
    pthread_mutex_lock(&srv.lock);
    int ok = srv.admitted < srv.queue + 1;
    if (ok) srv.admitted++;
    pthread_mutex_unlock(&srv.lock);
    return ok;
}

/* Waits for the networks (at most SRV_WAIT_S): 1 held, 0 gave up. */
static int srv__take(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SRV_WAIT_S;
    pthread_mutex_lock(&srv.lock);
    int r = 0;
    while (srv.running && r == 0) r = pthread_cond_timedwait(&srv.turn, &srv.lock, &until);
    int ok = !srv.running;
    if (ok) srv.running = 1;
    pthread_mutex_unlock(&srv.lock);
    return ok;
}

static void srv__leave(int held) {
    pthread_mutex_lock(&srv.lock);
    srv.admitted--;
    if (held) srv.running = 0;
    pthread_cond_broadcast(&srv.turn);
    pthread_mutex_unlock(&srv.lock);
}

/* The body (q->length bytes), part of which may already be in q->head: NULL on a timeout
 * or a closed connection (*status says which). */
static unsigned char *srv__read_body(srv_req *q, int *status) {
    unsigned char *b = malloc(q->length ? (size_t)q->length : 1);
    size_t have = q->got - q->head_len;
    *status = 500;
    if (!b) return NULL;
    if (have > (size_t)q->length) have = (size_t)q->length;
    memcpy(b, q->head + q->head_len, have);
    if (q->expect && srv__send_all(q->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, srv__now() + srv.timeout_ms)) return free(b), NULL;
    double deadline = srv__now() + SRV_BODY_S * 1000.0;
    while (have < (size_t)q->length) {
        long k = srv__recv(q->fd, b + have, (size_t)q->length - have, deadline);
        if (k <= 0) return *status = k == -2 ? 408 : -1, free(b), NULL;
        have += (size_t)k;
    }
    return b;
}

/* POST /api/headshot and /api/variants, token and Host already checked. */
static void srv__job(srv_req *q, int variants) {
    job_opts o;
    char why[JOB_WHY];
    int token_ok, st, rc;
    job_opts_default(&o);
    if (q->chunked || q->length < 0) return srv__error(q, 411, "send the photo with a Content-Length (no chunked upload)");
    if (q->length > SRV_MAX_BODY) return srv__error(q, 413, "the photo is larger than 50 MB");
    if (q->length == 0) return srv__error(q, 400, "no photo: send the JPEG or PNG as the request body");
    if ((st = srv__options(q, &o, &token_ok, why)) || (st = job_finish(&o, why) ? 400 : 0)) return srv__error(q, st, why);
    if (!srv__admit()) return srv__error(q, 503, "busy: too many photos are waiting; try again in a moment");
    unsigned char *body = srv__read_body(q, &st);
    int held = body && srv__take();
    if (!body) {
        if (st > 0) srv__error(q, st, st == 408 ? "the photo did not arrive in time" : "out of memory");
    } else if (!held) {
        srv__error(q, 503, "busy: the photos ahead took too long; try again");
    } else {
        job_result r[JOB_LOOKS];
        rc = variants ? job_run_variants(&srv.models, body, (size_t)q->length, "upload", &o, r, NULL, why)
                      : job_run(&srv.models, body, (size_t)q->length, "upload", &o, r, why);
        srv__leave(1), held = -1;   /* the networks are free while the answer goes out */
        if (rc) srv__error(q, srv__http_of(rc), why);
        else srv__results(q, &o, r, variants ? JOB_LOOKS : 1);
        for (int k = 0; k < (variants ? JOB_LOOKS : 1); k++) job_result_free(&r[k]);
    }
    if (held >= 0) srv__leave(held);
    free(body);
}

/* One request: checks in order Host, token, route; then the page or a job. Returns 1 when
 * the answer went out before the body was read (the close must drain). */
static int srv__route(srv_req *q) {
    int st = srv__read_head(q), token_ok = 0;
    char why[JOB_WHY];
    if (st < 0) return 0;
    if (st == 0) st = srv__parse(q);
    if (st) return srv__error(q, st, st == 408 ? "the request did not arrive in time" : st == 431 ? "request headers too large"
                                                                                                  : "malformed request"), 1;
    if (!srv__host_ok(q->host))
        return srv__error(q, 403, "wrong Host header: this server answers to 127.0.0.1 and localhost on its port only"), 1;
    srv__options(q, NULL, &token_ok, why);
    if (!token_ok) return srv__error(q, 403, "missing or wrong token: open the address that headshot serve printed"), 1;
    int page = !strcmp(q->path, "/"), hs = !strcmp(q->path, "/api/headshot"), var = !strcmp(q->path, "/api/variants");
    if (!page && !hs && !var) return srv__error(q, 404, "no such page"), 1;
    if (page != !strcmp(q->method, "GET") || (!page && strcmp(q->method, "POST")))
        return srv__error(q, 405, page ? "the page is read with GET" : "send the photo with POST"), 1;
    if (page) {
        srv__answer(q, 200, "text/html; charset=utf-8",
                    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "img-src data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'\r\n",
                    serve_page, (size_t)(serve_page_end - serve_page));
        return 1;
    }
    srv__job(q, var);
    return q->status != 200 && q->status != 408;
}

/* A connection's thread: one request, one log line (never the query: it holds the token;
 * never the body). */
static void *srv__conn(void *arg) {
    srv_req *q = arg;
    int drain = srv__route(q);
    if (q->status) {
        char path[81];
        size_t i = 0;
        for (const char *p = q->path ? q->path : "-"; *p && i < sizeof path - 1; p++) path[i++] = *p > ' ' && *p < 127 ? *p : '?';
        path[i] = '\0';
        fprintf(stderr, "headshot serve: %.8s %s %d, %zu bytes, %.0f ms\n", q->method ? q->method : "-", path, q->status, q->sent,
                srv__now() - q->t0);
    }
    srv__close(q->fd, drain);
    free(q);
    pthread_mutex_lock(&srv.lock);
    srv.conns--;
    pthread_mutex_unlock(&srv.lock);
    return NULL;
}

/* ============================================================ the server === */

/* TOKEN: SRV_TOKEN hex digits of the kernel's randomness. */
static int srv__token(char err[JOB_WHY]) {
    unsigned char r[SRV_TOKEN / 2];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return snprintf(err, JOB_WHY, "no random numbers for the token: %s", strerror(errno)), -1;
        got += (size_t)k;
    }
    for (size_t i = 0; i < sizeof r; i++) snprintf(srv.token + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* The listening socket on 127.0.0.1:port (0: a free one, srv.port gets it), or -1 with err. */
static int srv__listen(int port, char err[JOB_WHY]) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    socklen_t n = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fd, 64) || getsockname(fd, (struct sockaddr *)&a, &n)) {
        snprintf(err, JOB_WHY, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    srv.port = ntohs(a.sin_port);
    return fd;
}

/* Hands a new connection to a thread of its own, or answers 503 when SRV_CONNS are open. */
static void srv__accepted(int fd) {
    srv_req *q = calloc(1, sizeof *q);
    pthread_attr_t at;
    pthread_t t;
    pthread_mutex_lock(&srv.lock);
    int room = srv.conns < SRV_CONNS;
    srv.conns += room;
    pthread_mutex_unlock(&srv.lock);
    if (q && room) {
        q->fd = fd, q->t0 = srv__now();
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int started = pthread_create(&t, &at, srv__conn, q) == 0;
        pthread_attr_destroy(&at);
        if (started) return;
        pthread_mutex_lock(&srv.lock);
        srv.conns--;
        pthread_mutex_unlock(&srv.lock);
    }
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 44\r\n"
                               "Connection: close\r\nRetry-After: 5\r\n\r\n{\"error\": \"busy: too many connections open\"}";
    send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
    free(q);
}

static const char srv_usage[] =
    "Usage: headshot serve [--port N] [--queue N] [--timeout SECONDS]\n\n"
    "The same tool as a web page on this computer only: prints the address to open,\n"
    "http://127.0.0.1:PORT/?token=TOKEN, and answers on 127.0.0.1 until Ctrl-C. Nothing\n"
    "leaves the computer and nothing is written to disk.\n\n"
    "  --port N          the port (default 0: a free one)\n"
    "  --queue N         photos that may wait while one is worked on (default 4; more: 503)\n"
    "  --timeout S       seconds a client may take to send its request headers, or stall\n"
    "                    while sending or receiving (default 10)\n\n"
    "The API (docs/CLI.md): POST /api/headshot?token=T&preset=...&background=... with the\n"
    "photo as the body answers the JPEG (or PNG); POST /api/variants answers the six looks.\n";

/* Options into srv: 0, or an exit status after a usage error. */
static int srv__args(int argc, char **argv, int *port) {
    static const char *const names[] = {"--port", "--queue", "--timeout"};
    static const long hi[] = {65535, 64, 3600}, lo[] = {0, 0, 1};
    long v[3] = {0, SRV_QUEUE, SRV_TIMEOUT};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(srv_usage, stdout), -1;
        int k = 0;
        while (k < 3 && strcmp(argv[i], names[k])) k++;
        char *end = NULL;
        if (k < 3 && i + 1 < argc) v[k] = strtol(argv[++i], &end, 10);
        if (k == 3 || !end || end == argv[i] || *end || v[k] < lo[k] || v[k] > hi[k]) {
            fprintf(stderr, "headshot: serve: %s%s%s (see 'headshot serve --help')\n", k == 3 ? "unknown argument '" : "",
                    k == 3 ? argv[i] : names[k], k == 3 ? "'" : " needs a whole number in range");
            return HS_EUSAGE;
        }
    }
    *port = (int)v[0], srv.queue = (int)v[1], srv.timeout_ms = (int)v[2] * 1000;
    return 0;
}

static int srv_wake[2] = {-1, -1};   /* a pipe: SIGINT and SIGTERM write to it, the accept loop reads */

static void srv__on_signal(int sig) {
    (void)sig;
    ssize_t w = write(srv_wake[1], "x", 1);
    (void)w;
}

int serve_main(int argc, char **argv, const char *weights_dir) {
    int port, rc = srv__args(argc, argv, &port);
    if (rc) return rc < 0 ? HS_OK : rc;
    char err[PL_ERR > JOB_WHY ? PL_ERR : JOB_WHY];
    /* SIGINT and SIGTERM may land on any thread (the network pool's too): the handler wakes
     * the accept loop through a pipe, which then stops. */
    struct sigaction sa = {.sa_handler = srv__on_signal, .sa_flags = SA_RESTART};
    if (pipe2(srv_wake, O_CLOEXEC | O_NONBLOCK)) return fprintf(stderr, "headshot: serve: %s\n", strerror(errno)), HS_EINTERNAL;
    sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL);
    if (pl_models_open(&srv.models, NULL, weights_dir, err))
        return fprintf(stderr, "headshot: %s%s%s\n", weights_dir ? weights_dir : "", weights_dir ? ": " : "", err),
               weights_dir ? HS_EWEIGHTS : HS_EINTERNAL;
    int fd = srv__token(err) ? -1 : srv__listen(port, err);
    if (fd < 0) return fprintf(stderr, "headshot: serve: %s\n", err), pl_models_close(&srv.models), HS_EINTERNAL;
    printf("http://127.0.0.1:%d/?token=%s\n", srv.port, srv.token);
    fflush(stdout);
    fprintf(stderr, "headshot serve: open the address above in a browser on this computer; Ctrl-C stops the server\n");
    for (;;) {
        struct pollfd p[2] = {{fd, POLLIN, 0}, {srv_wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        if (p[1].revents) break;   /* SIGINT or SIGTERM */
        int c = p[0].revents ? accept4(fd, NULL, NULL, SOCK_CLOEXEC) : -1;
        if (c >= 0) srv__accepted(c);
        else if (p[0].revents && errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            nanosleep(&(struct timespec){0, 100000000}, NULL);   /* out of descriptors: do not spin */
    }
    close(fd);
    /* The connections still open end within --timeout, unless a job is running: give them
     * that long, then close the networks if none is left (else exit from under them). */
    int left = 1;
    for (int i = 0; i < srv.timeout_ms / 50 + 20 && left; i++) {
        pthread_mutex_lock(&srv.lock);
        left = srv.conns;
        pthread_mutex_unlock(&srv.lock);
        if (left) nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    if (!left) pl_models_close(&srv.models);
    fprintf(stderr, "headshot serve: stopped\n");
    return HS_OK;
}
