/* batch.c — many photos in one run (see batch.h). Sections: the list, progress, workers, the
 * run, the summary.
 */
#include "batch.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double batch__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ============================================================ the list === */

static int batch__cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* 1 if name ends in .jpg, .jpeg or .png (any case) and is not hidden. */
static int batch__is_photo(const char *name) {
    const char *dot = strrchr(name, '.');
    if (name[0] == '.' || !dot) return 0;
    char ext[6] = "";
    for (int i = 0; i < 5 && dot[1 + i]; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]), ext[i + 1] = 0;
    return !strcmp(ext, "jpg") || !strcmp(ext, "jpeg") || !strcmp(ext, "png");
}

/* Appends a malloc'ed copy of path to the growing list (*v, *n, *cap). -1: out of memory. */
static int batch__push(char ***v, int *n, int *cap, const char *dir, const char *name) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        char **nv = realloc(*v, sizeof(char *) * c);
        if (!nv) return -1;
        *v = nv, *cap = c;
    }
    size_t ld = dir ? strlen(dir) : 0, ln = strlen(name);
    char *p = malloc(ld + ln + 2);
    if (!p) return -1;
    if (dir) memcpy(p, dir, ld), p[ld] = '/', ld += (ld && dir[ld - 1] == '/') ? 0 : 1;
    memcpy(p + ld, name, ln + 1);
    (*v)[(*n)++] = p;
    return 0;
}

/* The photos in directory dir, sorted, appended to the list. */
static int batch__dir(const char *dir, char ***v, int *n, int *cap, char err[BATCH_ERR]) {
    DIR *d = opendir(dir);
    if (!d) return snprintf(err, BATCH_ERR, "%.100s: cannot read the directory: %s", dir, strerror(errno)), -1;
    int first = *n, rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)))
        if (batch__is_photo(e->d_name)) rc = batch__push(v, n, cap, dir, e->d_name);
    closedir(d);
    if (rc) return snprintf(err, BATCH_ERR, "out of memory"), -1;
    qsort(*v + first, (size_t)(*n - first), sizeof(char *), batch__cmp);
    return 0;
}

void batch_free(batch_item *items, int n) {
    for (int i = 0; items && i < n; i++) free(items[i].in), free(items[i].out);
    free(items);
}

int batch_collect(char *const *paths, int np, const char *outdir, const char *ext, batch_item **items,
                  int *n, char err[BATCH_ERR]) {
    char **v = NULL;
    int nv = 0, cap = 0, rc = 0;
    *items = NULL, *n = 0;
    for (int i = 0; i < np && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) rc = batch__dir(paths[i], &v, &nv, &cap, err);
        else if (batch__push(&v, &nv, &cap, NULL, paths[i])) rc = -1, snprintf(err, BATCH_ERR, "out of memory");
    }
    if (rc == 0 && nv == 0) rc = -1, snprintf(err, BATCH_ERR, "no JPEG or PNG photos found in %s", np == 1 ? paths[0] : "the inputs");
    batch_item *it = rc ? NULL : calloc((size_t)nv, sizeof *it);
    struct stat *ins = rc ? NULL : malloc(sizeof *ins * (size_t)nv);   /* the inputs, to never write over one */
    if (rc == 0 && (!it || !ins)) rc = -1, snprintf(err, BATCH_ERR, "out of memory");
    for (int i = 0; rc == 0 && i < nv; i++)
        if (stat(v[i], &ins[i])) ins[i].st_ino = 0, ins[i].st_dev = 0;
    for (int i = 0; rc == 0 && i < nv; i++) {
        batch_item *b = &it[i];
        b->in = v[i], v[i] = NULL, b->rc = BATCH_PENDING;
        const char *slash = strrchr(b->in, '/'), *base = slash ? slash + 1 : b->in;
        const char *dot = strrchr(base, '.');
        int bl = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
        b->name = base;
        size_t len = strlen(outdir) + (size_t)bl + strlen(ext) + 24;
        if (!(b->out = malloc(len))) {
            rc = -1, snprintf(err, BATCH_ERR, "out of memory");
            break;
        }
        const char *sep = outdir[0] && outdir[strlen(outdir) - 1] != '/' ? "/" : "";
        for (int k = 1;; k++) {
            if (k == 1) snprintf(b->out, len, "%s%s%.*s.%s", outdir, sep, bl, base, ext);
            else snprintf(b->out, len, "%s%s%.*s-%d.%s", outdir, sep, bl, base, k, ext);
            int clash = 0;
            struct stat so;
            for (int j = 0; j < i && !clash; j++) clash = !strcmp(it[j].out, b->out);
            int exists = !clash && stat(b->out, &so) == 0;
            for (int j = 0; j < nv && exists && !clash; j++)
                clash = ins[j].st_ino && so.st_dev == ins[j].st_dev && so.st_ino == ins[j].st_ino;
            if (!clash) break;
        }
    }
    for (int i = 0; i < nv; i++) free(v[i]);
    free(v), free(ins);
    if (rc) {
        batch_free(it, nv);
        return -1;
    }
    *items = it, *n = nv;
    return 0;
}

/* ============================================================ progress === */

typedef struct {
    const batch_opts *o;
    int tty;                      /* 1: stderr is a terminal: the bar */
    int total, finished;          /* items of this run, and how many ended */
    double t0;                    /* clock at the start */
    char file[40];                /* the bar's current file and stage */
    char stage[24];
} batch_progress;

#define BATCH_BAR 20              /* bar width, characters */

static void batch__bar(batch_progress *p) {
    if (!p->tty || p->o->quiet) return;
    char bar[BATCH_BAR + 1], eta[24] = "ETA --:--";
    int fill = p->total ? p->finished * BATCH_BAR / p->total : 0;
    for (int i = 0; i < BATCH_BAR; i++) bar[i] = i < fill ? '#' : '-';
    bar[BATCH_BAR] = 0;
    if (p->finished > 0) {
        double left = (batch__now() - p->t0) / p->finished * (p->total - p->finished) / 1000;
        snprintf(eta, sizeof eta, "ETA %d:%02d", (int)(left / 60), (int)left % 60);
    }
    fprintf(stderr, "\r\033[K[%s] %d/%d %s%s%s  %s", bar, p->finished, p->total, p->file, p->stage[0] ? ": " : "",
            p->stage, eta);
    fflush(stderr);
}

static void batch__set(batch_progress *p, const char *file, const char *stage) {
    if (file) snprintf(p->file, sizeof p->file, "%s", file);
    snprintf(p->stage, sizeof p->stage, "%s", stage ? stage : "");
    batch__bar(p);
}

/* The stage callback of a run in this process. */
static void batch__stage_here(void *progress, const char *name) { batch__set(progress, NULL, name); }

/* An item ended: its line (or, on a terminal, only failures and warnings above the bar). */
static void batch__ended(batch_progress *p, const batch_item *it) {
    p->finished++;
    if (p->tty && !p->o->quiet) fprintf(stderr, "\r\033[K");
    if (p->o->quiet) {
        if (it->rc) fprintf(stderr, "headshot: %s: %s\n", it->in, it->why);
    } else if (it->rc) {
        fprintf(stderr, "[%d/%d] %s: failed: %s\n", p->finished, p->total, it->name, it->why);
    } else if (!p->tty) {
        fprintf(stderr, "[%d/%d] %s: %s (%.1f s)\n", p->finished, p->total, it->name, p->o->verb, it->ms / 1000);
    }
    if (!p->o->quiet)
        for (const char *l = it->note; *l;) {
            const char *e = strchr(l, '\n');
            int len = e ? (int)(e - l) : (int)strlen(l);
            fprintf(stderr, "    %s: %.*s\n", it->name, len, l);
            l += len + (e ? 1 : 0);
        }
    batch__bar(p);
}

/* ============================================================ workers === */

/* What a worker process tells the parent; smaller than PIPE_BUF, so one write is atomic. */
enum { BATCH_MSG_OPEN_FAILED, BATCH_MSG_STAGE, BATCH_MSG_DONE };
typedef struct {
    int kind;                     /* BATCH_MSG_* */
    int index;                    /* the item */
    int rc;                       /* DONE: its exit code; OPEN_FAILED: the open's */
    double ms;                    /* DONE: wall time */
    char stage[24];               /* STAGE: its name */
    float data[BATCH_DATA];       /* DONE: the run's numbers */
    char why[BATCH_ERR];          /* DONE: the reason; OPEN_FAILED: the error */
    char note[BATCH_NOTE];        /* DONE: warnings */
} batch_msg;

typedef struct {
    int fd;                       /* the result pipe to the parent */
    int index;                    /* the item running */
} batch_pipe;

/* Writes or reads all n bytes; returns n, or fewer on end of file or error. */
static size_t batch__io(int fd, void *buf, size_t n, int wr) {
    size_t done = 0;
    while (done < n) {
        ssize_t k = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        done += (size_t)k;
    }
    return done;
}

static void batch__stage_pipe(void *progress, const char *name) {
    batch_pipe *bp = progress;
    batch_msg m = {.kind = BATCH_MSG_STAGE, .index = bp->index};
    snprintf(m.stage, sizeof m.stage, "%s", name);
    batch__io(bp->fd, &m, sizeof m, 1);
}

/* A worker process: open, then run the items whose indices arrive on task until it closes. */
static void batch__worker(batch_item *items, const batch_worker *w, int task, int result) {
    batch_msg m = {0};
    int rc = w->open ? w->open(w->ctx, m.why) : 0;
    if (rc) {
        m.kind = BATCH_MSG_OPEN_FAILED, m.rc = rc;
        batch__io(result, &m, sizeof m, 1);
        _exit(0);
    }
    int idx;
    while (batch__io(task, &idx, sizeof idx, 0) == sizeof idx) {
        batch_item *it = &items[idx];
        batch_pipe bp = {result, idx};
        it->why[0] = it->note[0] = 0;
        double t0 = batch__now();
        it->rc = w->run(w->ctx, it, batch__stage_pipe, &bp);
        memset(&m, 0, sizeof m);
        m.kind = BATCH_MSG_DONE, m.index = idx, m.rc = it->rc, m.ms = batch__now() - t0;
        memcpy(m.data, it->data, sizeof m.data);
        snprintf(m.why, sizeof m.why, "%s", it->why);
        snprintf(m.note, sizeof m.note, "%s", it->note);
        if (batch__io(result, &m, sizeof m, 1) != sizeof m) break;
    }
    if (w->close) w->close(w->ctx);
    _exit(0);
}

typedef struct {
    pid_t pid;
    int task, result;             /* parent's ends: write indices, read messages (-1: closed) */
    int busy;                     /* item in flight, -1 = none */
} batch_proc;

/* Gives worker q the next pending item at or after *next, or closes its task pipe. */
static void batch__assign(batch_proc *q, batch_item *items, int n, int *next, int stop) {
    while (*next < n && items[*next].rc != BATCH_PENDING) ++*next;
    q->busy = -1;
    if (!stop && *next < n && q->task >= 0) {
        int idx = (*next)++;
        if (batch__io(q->task, &idx, sizeof idx, 1) == sizeof idx) {
            q->busy = idx;
            return;
        }
        --*next;
    }
    if (q->task >= 0) close(q->task), q->task = -1;
}

/* Up to jobs worker processes into q, each with its task and result pipes; returns how many
 * started. */
static int batch__spawn(batch_item *items, const batch_worker *w, int jobs, batch_proc *q) {
    int started = 0;
    fflush(stdout), fflush(stderr);   /* children must not flush the parent's buffers again */
    for (int j = 0; j < jobs; j++) {
        int t[2], r[2];
        if (pipe(t)) break;
        if (pipe(r)) {
            close(t[0]), close(t[1]);
            break;
        }
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0; k < started; k++) {   /* other workers' pipes: keep their ends closable */
                if (q[k].task >= 0) close(q[k].task);
                close(q[k].result);
            }
            close(t[1]), close(r[0]);
            batch__worker(items, w, t[0], r[1]);
        }
        close(t[0]), close(r[1]);
        if (pid < 0) {
            close(t[1]), close(r[0]);
            break;
        }
        q[started++] = (batch_proc){pid, t[1], r[0], -1};
    }
    return started;
}

static int batch__parallel(batch_item *items, int n, const batch_worker *w, int jobs, batch_progress *p,
                           int *fatal, char err[BATCH_ERR]) {
    batch_proc q[BATCH_MAX_JOBS];
    int started = batch__spawn(items, w, jobs, q), next = 0, stop = 0;
    if (started == 0) return snprintf(err, BATCH_ERR, "cannot start worker processes: %s", strerror(errno)), *fatal = 1, -1;
    for (int j = 0; j < started; j++) batch__assign(&q[j], items, n, &next, 0);

    int alive = started, failed = 0;
    batch_msg m = {0};
    while (alive > 0) {
        struct pollfd fds[BATCH_MAX_JOBS];
        int map[BATCH_MAX_JOBS], nf = 0;
        for (int j = 0; j < started; j++)
            if (q[j].result >= 0) fds[nf] = (struct pollfd){q[j].result, POLLIN, 0}, map[nf++] = j;
        if (poll(fds, (nfds_t)nf, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int f = 0; f < nf; f++) {
            if (!fds[f].revents) continue;
            batch_proc *w1 = &q[map[f]];
            if (batch__io(w1->result, &m, sizeof m, 0) != sizeof m) {   /* the worker ended */
                int status = 0;
                close(w1->result), w1->result = -1, alive--;
                if (w1->task >= 0) close(w1->task), w1->task = -1;
                waitpid(w1->pid, &status, 0);
                if (w1->busy >= 0) {
                    batch_item *it = &items[w1->busy];
                    it->rc = 1, failed++;
                    if (WIFSIGNALED(status)) snprintf(it->why, BATCH_ERR, "internal error: the worker process died (signal %d)", WTERMSIG(status));
                    else snprintf(it->why, BATCH_ERR, "internal error: the worker process ended (status %d)", WEXITSTATUS(status));
                    batch__ended(p, it);
                }
                w1->busy = -1;
                continue;
            }
            if (m.kind == BATCH_MSG_OPEN_FAILED) {
                if (!stop) *fatal = m.rc, snprintf(err, BATCH_ERR, "%s", m.why);
                stop = 1;
                for (int j = 0; j < started; j++)
                    if (q[j].busy < 0 && q[j].task >= 0) close(q[j].task), q[j].task = -1;
            } else if (m.kind == BATCH_MSG_STAGE) {
                batch__set(p, items[m.index].name, m.stage);
            } else if (m.kind == BATCH_MSG_DONE && m.index == w1->busy) {
                batch_item *it = &items[m.index];
                it->rc = m.rc, it->ms = m.ms;
                memcpy(it->data, m.data, sizeof it->data);
                snprintf(it->why, sizeof it->why, "%s", m.why);
                snprintf(it->note, sizeof it->note, "%s", m.note);
                failed += it->rc != 0;
                batch__ended(p, it);
                batch__assign(w1, items, n, &next, stop);
            }
        }
    }
    return stop ? -1 : failed;
}

/* ============================================================ the run === */

int batch_run(batch_item *items, int n, const batch_worker *w, const batch_opts *o, int *fatal,
              char err[BATCH_ERR]) {
    batch_progress p = {o, isatty(STDERR_FILENO), 0, 0, batch__now(), "", ""};
    for (int i = 0; i < n; i++) p.total += items[i].rc == BATCH_PENDING;
    if (p.total == 0) return 0;
    int jobs = o->jobs < 1 ? 1 : o->jobs > BATCH_MAX_JOBS ? BATCH_MAX_JOBS : o->jobs;
    if (jobs > p.total) jobs = p.total;
    batch__bar(&p);
    int failed = 0;
    if (jobs > 1) {
        failed = batch__parallel(items, n, w, jobs, &p, fatal, err);
    } else {
        int rc = w->open ? w->open(w->ctx, err) : 0;
        if (rc) {
            *fatal = rc;
            failed = -1;
        }
        for (int i = 0; i < n && failed >= 0; i++) {
            batch_item *it = &items[i];
            if (it->rc != BATCH_PENDING) continue;
            batch__set(&p, it->name, "");
            it->why[0] = it->note[0] = 0;
            double t0 = batch__now();
            it->rc = w->run(w->ctx, it, batch__stage_here, &p);
            it->ms = batch__now() - t0;
            failed += it->rc != 0;
            batch__ended(&p, it);
        }
        if (rc == 0 && w->close) w->close(w->ctx);
    }
    if (p.tty && !o->quiet) fprintf(stderr, "\r\033[K");
    return failed;
}

/* ============================================================ the summary === */

void batch_summary(const batch_item *items, int n, FILE *f) {
    int done = 0, failed = 0;
    for (int i = 0; i < n; i++) done += items[i].rc == 0, failed += items[i].rc > 0;
    fprintf(f, "headshot: %d done, %d failed", done, failed);
    for (int i = 0, k = 0; i < n; i++)
        if (items[i].rc > 0) fprintf(f, "%s%s (%s)", k++ ? ", " : ": ", items[i].name, items[i].why);
    fprintf(f, "\n");
}
