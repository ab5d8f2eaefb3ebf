/* bench.c — `headshot bench`: how fast the runtime is on this machine.
 *
 * For every embedded network: input shape, multiply-accumulates, median time over --runs and
 * the arithmetic rate. Then the machine's measured FMA peak and how close a 3x3, 64-channel
 * convolution gets to it. Then the pipeline scenarios of the issues (detection at 12 MP,
 * matting, a whole headshot in process and as a command, its peak memory) against their
 * targets. Numbers are medians of repeated runs after a warm-up. */
#include "bench.h"
#include "networks.h"
#include "nn.h"
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms of RUNS runs of F on NET after 2 warm-ups; fills stats. -1 on error. */
static double time_network(nn_forward_fn f, const void *net, int h, int w, int c, int runs,
                           nn_stats *st, char err[NN_ERR]) {
    nn_ctx *ctx = nn_ctx_new("bench", err);
    if (!ctx) return -1;
    size_t n = (size_t)h * w * c;
    float *in = malloc(n * sizeof *in);
    double *ms = malloc(runs * sizeof *ms), med = -1;
    uint32_t r = 1;
    for (size_t i = 0; in && i < n; i++) r = r * 1664525u + 1013904223u, in[i] = (r >> 8) / 16777216.0f;
    nn_tensor out[NN_MAX_OUTPUTS];
    int ok = in && ms;
    for (int i = 0; ok && i < 2; i++) ok = nn_run(ctx, f, net, in, h, w, c, out, err) >= 0;
    for (int i = 0; ok && i < runs; i++) {
        double t0 = now_ms();
        ok = nn_run(ctx, f, net, in, h, w, c, out, err) >= 0;
        ms[i] = now_ms() - t0;
    }
    if (ok) {
        qsort(ms, runs, sizeof *ms, cmp_double);
        med = ms[runs / 2];
        *st = nn_ctx_stats(ctx);
    }
    free(in), free(ms);
    nn_ctx_free(ctx);
    return med;
}

/* ------------------------------------------------------------ machine peak */

/* GFLOP/s of independent FMA chains in the widest vectors the active kernel set uses. */
#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static double fma_peak_avx2(void) {
    /* 10 independent chains: more than latency (4) x FMA units (2), so the units never wait. */
    __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-3f);
    __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2), c3 = _mm256_set1_ps(3),
           c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5), c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7),
           c8 = _mm256_set1_ps(8), c9 = _mm256_set1_ps(9);
    long iters = 1000000;
    double ms = 1e30;
    for (int trial = 0; trial < 20; trial++) {   /* the fastest of 20 short trials: a busy machine only slows */
        double t0 = now_ms();
        for (long k = 0; k < iters; k++) {
            c0 = _mm256_fmadd_ps(c0, m, a), c1 = _mm256_fmadd_ps(c1, m, a), c2 = _mm256_fmadd_ps(c2, m, a);
            c3 = _mm256_fmadd_ps(c3, m, a), c4 = _mm256_fmadd_ps(c4, m, a), c5 = _mm256_fmadd_ps(c5, m, a);
            c6 = _mm256_fmadd_ps(c6, m, a), c7 = _mm256_fmadd_ps(c7, m, a), c8 = _mm256_fmadd_ps(c8, m, a);
            c9 = _mm256_fmadd_ps(c9, m, a);
        }
        if (now_ms() - t0 < ms) ms = now_ms() - t0;
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)), _mm256_add_ps(c8, c9)));
    float sink[8];
    _mm256_storeu_ps(sink, s);
    if (sink[0] == 12345.0f) printf(" ");   /* keep the loop alive */
    return iters * 10.0 * 8 * 2 / (ms * 1e6);
}

__attribute__((target("avx512f"))) static double fma_peak_avx512(void) {
    /* 12 independent chains of 16 floats: zmm has registers to spare. */
    __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f), c[12], s = _mm512_setzero_ps();
    for (int i = 0; i < 12; i++) c[i] = _mm512_set1_ps((float)i);
    long iters = 500000;
    double ms = 1e30;
    for (int trial = 0; trial < 20; trial++) {
        double t0 = now_ms();
        for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) c[i] = _mm512_fmadd_ps(c[i], m, a);
        if (now_ms() - t0 < ms) ms = now_ms() - t0;
    }
    for (int i = 0; i < 12; i++) s = _mm512_add_ps(s, c[i]);
    if (_mm512_reduce_add_ps(s) == 12345.0f) printf(" ");   /* keep the loop alive */
    return iters * 12.0 * 16 * 2 / (ms * 1e6);
}
#endif

typedef struct { nn_layer l; } conv_net;
static int conv_forward(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    out[0] = nn_conv2d(c, x, &((const conv_net *)net)->l, 1, NN_SAME, nn_relu);
    return 1;
}

/* A 3x3, 64 -> 64 channel convolution on 64x64 with random weights. */
/* GFLOP/s of a 3x3, 64 -> 64 channel convolution on 64x64 (2 x its direct MACs per second):
 * with Winograd (as the networks run it), and direct (the igemm kernel, the layer's Winograd
 * weights dropped), which is the one to hold against the FMA peak. */
static double conv3x3_gflops(int runs, int winograd, char err[NN_ERR]) {
    conv_net net;
    if (nn_layer_random(&net.l, NN_CONV, 3, 3, 64, 64, 7) != 0) return snprintf(err, NN_ERR, "out of memory"), -1;
    if (!winograd) free(net.l.wino), net.l.wino = NULL;
    nn_stats st;
    double ms = time_network(conv_forward, &net, 64, 64, 64, runs, &st, err);
    nn_layer_free(&net.l);
    return ms > 0 ? 2.0 * st.macs / (ms * 1e6) : -1;
}

/* ------------------------------------------------------------ pipeline scenarios */

/* The benchmarks of issues 9 (start-up), 10 (detection), 5 (matting) and 6 (end to end,
 * memory), on inputs made from a photo of the repository: centre-cropped to each aspect and
 * resized, so that a 12 MP phone photo (3000x4000) exists without shipping one. The
 * whole-command scenarios run this very binary as a child process, on JPEGs in a temporary
 * directory (removed after). */
static const char *const bench_photos[] = {"tests/data/d07.jpg", "samples/hopper.jpg", NULL};
static const char *const bench_dogs = "tests/data/d10.jpg";   /* no human face: 4 dogs, 900x916 */
#define BENCH_MAX_RUNS 5          /* pipeline runs per scenario: each takes up to seconds */
#define BENCH_STARTUP_RUNS 20     /* runs of the start-up scenarios (milliseconds each) */

enum { B_HELP, B_LOAD, B_NOFACE, B_NOFACE_DOGS, B_DECODE, B_DETECT, B_MATTE_1K, B_MATTE_5MP, B_RUN_12MP, B_CMD_12MP, B_RUN_VGA, B_CMD_VGA, B_PEAK,
       B_ROWS };
static const struct {
    const char *what;             /* the scenario */
    int sr;                       /* 1: named after the upscaler that ran */
    int w, h;                     /* input size, 0 x 0 = none */
    int mb;                       /* 1: the value is memory in MB, else milliseconds */
    double target;                /* the target (the value passes when <=), 0 = none */
} bench_rows[B_ROWS] = {
    {"start-up: headshot --help, whole command", 0, 0, 0, 0, 20},
    {"load every network (in process, warm)", 0, 0, 0, 0, 20},
    {"a run that finds no face: a grey photo", 0, 64, 64, 0, 30},
    {"a run that finds no face: dogs (d10)", 0, 900, 916, 0, 30},
    {"load the photo (decode, EXIF, SHA-256)", 0, 3000, 4000, 0, 0},
    {"detection + landmarks (decode excluded)", 0, 3000, 4000, 0, 0},
    {"matte + refinement + composite", 0, 1024, 1024, 0, 0},
    {"matte + refinement + composite", 0, 2000, 2500, 0, 0},
    {"headshot 1024x1024, in process (pl_run)", 0, 3000, 4000, 0, 0},
    {"headshot 1024x1024, whole command", 0, 3000, 4000, 0, 500},
    {"in process", 1, 640, 480, 0, 0},
    {"whole command", 1, 640, 480, 0, 1000},
    {"peak memory of the whole command", 0, 3000, 4000, 1, 200},   /* issue 20 (issue 6: 300) */
};

typedef struct {
    int runs;                     /* runs per scenario (median of them, after a warm-up) */
    const char *weights;          /* --weights DIR or NULL, passed to the child too */
    char dir[64];                 /* the temporary directory */
    char err[NN_ERR];             /* the reason of the last failure */
} bench_pipe;

/* The median of n times; *min gets the least. */
static double bench_median(double *ms, int n, double *min) {
    qsort(ms, n, sizeof *ms, cmp_double);
    *min = ms[0];
    return ms[n / 2];
}

/* The centre of src cropped to the aspect w:h, resized to w x h into *out. */
static int bench_synth(const img_rgb *src, int w, int h, img_rgb *out, char err[NN_ERR]) {
    int cw = src->w, ch = (int)((double)src->w * h / w + 0.5);
    if (ch > src->h) ch = src->h, cw = (int)((double)src->h * w / h + 0.5);
    img_rgb crop = {0};
    if (img_new(&crop, cw, ch, 0, err)) return -1;
    int x0 = (src->w - cw) / 2, y0 = (src->h - ch) / 2;
    for (int y = 0; y < ch; y++)
        memcpy(crop.rgb + (size_t)y * cw * 3, src->rgb + ((size_t)(y0 + y) * src->w + x0) * 3, (size_t)cw * 3);
    int rc = img_resize(out, &crop, w, h, err);
    img_free(&crop);
    return rc;
}

/* src synthesised at w x h, written as the JPEG DIR/NAME and decoded again into *im (the
 * pixels the command sees). */
static int bench_jpeg(bench_pipe *b, const img_rgb *src, int w, int h, const char *name, img_rgb *im) {
    unsigned char *bytes = NULL;
    size_t n = 0;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", b->dir, name);
    int rc = bench_synth(src, w, h, im, b->err) || img_encode(im, IMG_JPEG, 92, NULL, 0, &bytes, &n, b->err) ||
             img_write_file(path, bytes, n, b->err);
    img_free(im);
    if (!rc) rc = img_load_file(im, path, NULL, b->err);
    free(bytes);
    return rc ? -1 : 0;
}

/* Median wall ms of RUNS runs of this binary with ARGV as a child process (its stdout, and
 * its stderr when WANT != 0, to /dev/null), after one warm-up (page cache), each ending with
 * exit status WANT; *min gets the least. -1 on failure.
 * fork, not vfork or posix_spawn: the child's ru_maxrss then starts from this process's
 * resident memory at the fork (copied page tables) instead of its lifetime peak, and the
 * caller holds little memory at that moment. */
static double bench_exec(bench_pipe *b, char *const argv[], int runs, int want, double *min) {
    double ms[BENCH_STARTUP_RUNS + 1];
    for (int i = 0; i <= runs; i++) {
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0) return snprintf(b->err, NN_ERR, "fork: %s", strerror(errno)), -1;
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) dup2(fd, STDOUT_FILENO);
            if (fd >= 0 && want) dup2(fd, STDERR_FILENO);   /* the expected failure's message */
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR) return snprintf(b->err, NN_ERR, "waitpid: %s", strerror(errno)), -1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != want)
            return snprintf(b->err, NN_ERR, "headshot %s: %s %d", argv[1], WIFEXITED(st) ? "exit status" : "signal",
                            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st)), -1;
        ms[i] = now_ms() - t0;
    }
    return bench_median(ms + 1, runs, min);
}

/* `headshot -q IN -o DIR/out.jpg` with the same kernels, threads and weights, RUNS times,
 * each ending with exit status WANT; IN is DIR/in, or the path in itself when it has a '/'. */
static double bench_command(bench_pipe *b, const char *in, int runs, int want, double *min) {
    char threads[16], isa[32], precision[8], input[128], output[128];
    snprintf(threads, sizeof threads, "%d", nn_threads());
    snprintf(isa, sizeof isa, "%s", nn_isa());
    snprintf(precision, sizeof precision, "%s", nn_precision());
    if (strchr(in, '/')) snprintf(input, sizeof input, "%s", in);
    else snprintf(input, sizeof input, "%s/%s", b->dir, in);
    snprintf(output, sizeof output, "%s/out.jpg", b->dir);
    char *argv[] = {"headshot", input, "-o", output, "-q", "--threads", threads, "--isa", isa,
                    "--precision", precision, b->weights ? "--weights" : NULL, (char *)b->weights, NULL};
    return bench_exec(b, argv, runs, want, min);
}

/* Median ms of loading every network (hs_networks, the upscalers too), as a run that needs
 * them all does (each is built once). */
static double bench_load(bench_pipe *b, double *min) {
    double ms[BENCH_STARTUP_RUNS];
    void *nets[16];
    int n = 0, ok = 1;
    for (int i = 0; ok && i < BENCH_STARTUP_RUNS; i++) {
        double t0 = now_ms();
        for (n = 0; ok && n < 16 && hs_networks[n]; n++) ok = (nets[n] = hs_networks[n]->load(hs_networks[n], b->weights, b->err)) != NULL;
        ms[i] = now_ms() - t0;
        for (int k = 0; k < n; k++)
            if (nets[k]) hs_networks[k]->free(nets[k]);
    }
    return ok ? bench_median(ms, BENCH_STARTUP_RUNS, min) : -1;
}

/* Median ms of an in-process scenario on im, after a warm-up: B_DECODE (pl_load of the JPEG
 * at PATH, which holds im), B_DETECT (pl_faces), B_MATTE_* (matte, refinement, studio
 * backdrop, composite) or B_RUN_* (pl_run, default options; *sr gets the upscaler that ran).
 * *min gets the least time. -1 on failure. */
static double bench_inproc(bench_pipe *b, pl_models *m, const img_rgb *im, const char *path, int kind, const char **sr,
                           double *min) {
    meta_history *hist = malloc(sizeof *hist);   /* 30 KB: off the stack */
    pl_result res;
    size_t n = (size_t)im->w * im->h;
    int matting = kind == B_MATTE_1K || kind == B_MATTE_5MP;
    pl_face *faces = kind == B_DETECT ? malloc(sizeof *faces * PL_MAX_FACES) : NULL;
    float *alpha = matting ? malloc(sizeof *alpha * n) : NULL, *fg = matting ? malloc(sizeof *fg * n * 3) : NULL,
          *back = matting ? malloc(sizeof *back * n * 3) : NULL;
    compose_bg studio = {COMPOSE_STUDIO, {0, 0, 0}, NULL, NULL};
    pl_opts o;
    pl_opts_default(&o);
    double ms[BENCH_MAX_RUNS + 1];
    int ok = hist && (kind == B_DETECT ? faces != NULL : matting ? alpha && fg && back : 1);
    if (!ok) snprintf(b->err, NN_ERR, "out of memory");
    for (int i = 0; ok && i <= b->runs; i++) {
        double t0 = now_ms();
        if (kind == B_DECODE) {
            img_rgb again = {0};
            meta_init(hist, "headshot bench");
            ok = pl_load(path, 0, &again, &res, hist, b->err) == 0;
            img_free(&again);
        } else if (kind == B_DETECT) {
            int found = pl_faces(m, im, faces, PL_MAX_FACES, NULL, NULL, b->err);
            if (found == 0) snprintf(b->err, NN_ERR, "no face found");
            ok = found > 0;
        } else if (matting) {
            img_rgb out = {0};
            ok = !pl_models_load(m, PL_NET_MATTE, b->err) && !matte_image(m->matte, im->rgb, im->w, im->h, alpha, fg, b->err) &&
                 !compose_backdrop(m->rt->pool, &studio, im->w, im->h, im, alpha, back, b->err) &&
                 !compose_over(m->rt->pool, fg, alpha, back, im->w, im->h, &out, b->err);
            img_free(&out);
        } else {
            meta_init(hist, "headshot bench");
            memset(&res, 0, sizeof res);
            ok = pl_run(m, im, &o, &res, hist, b->err) == 0;
            *sr = res.sr_model;
            pl_result_free(&res);
        }
        ms[i] = now_ms() - t0;
    }
    free(faces), free(alpha), free(fg), free(back), free(hist);
    return ok ? bench_median(ms + 1, b->runs, min) : -1;
}

/* Runs the scenarios on inputs made from photo into v and lo (median and least; -1 where
 * one failed, with the reason in b->err; the peak memory is one number, in both). */
static void bench_scenarios(bench_pipe *b, const img_rgb *photo, double v[B_ROWS], double lo[B_ROWS], const char **sr) {
    img_rgb big = {0}, vga = {0}, im = {0};
    pl_models m;
    struct rusage ru;
    if (bench_jpeg(b, photo, 3000, 4000, "12mp.jpg", &big) || bench_jpeg(b, photo, 640, 480, "vga.jpg", &vga)) goto done;
    /* Whole commands first, and the peak before the other children (ru_maxrss is the maximum
     * over all of them). */
    img_free(&big);
    if ((v[B_CMD_12MP] = bench_command(b, "12mp.jpg", b->runs, 0, &lo[B_CMD_12MP])) >= 0 && getrusage(RUSAGE_CHILDREN, &ru) == 0)
        v[B_PEAK] = lo[B_PEAK] = ru.ru_maxrss / 1024.0;
    v[B_CMD_VGA] = bench_command(b, "vga.jpg", b->runs, 0, &lo[B_CMD_VGA]);
    if (pl_models_open(&m, NULL, b->weights, b->err)) goto done;
    char path[128];
    snprintf(path, sizeof path, "%s/12mp.jpg", b->dir);
    if (img_load_file(&big, path, NULL, b->err) == 0) {
        v[B_DECODE] = bench_inproc(b, &m, &big, path, B_DECODE, NULL, &lo[B_DECODE]);
        v[B_DETECT] = bench_inproc(b, &m, &big, path, B_DETECT, NULL, &lo[B_DETECT]);
        v[B_RUN_12MP] = bench_inproc(b, &m, &big, path, B_RUN_12MP, sr, &lo[B_RUN_12MP]);
    }
    img_free(&big);
    if (bench_synth(photo, 1024, 1024, &im, b->err) == 0) v[B_MATTE_1K] = bench_inproc(b, &m, &im, NULL, B_MATTE_1K, NULL, &lo[B_MATTE_1K]);
    img_free(&im);
    if (bench_synth(photo, 2000, 2500, &im, b->err) == 0) v[B_MATTE_5MP] = bench_inproc(b, &m, &im, NULL, B_MATTE_5MP, NULL, &lo[B_MATTE_5MP]);
    img_free(&im);
    v[B_RUN_VGA] = bench_inproc(b, &m, &vga, NULL, B_RUN_VGA, sr, &lo[B_RUN_VGA]);
    pl_models_close(&m);
done:
    img_free(&big), img_free(&vga), img_free(&im);
}

/* Runs that find no face and stop, exit status 6 (docs/CLI.md): the networks they need built,
 * detection, the turned copies tried, and exit. A grey photo (no candidate at all), and the
 * dogs of tests/data/d10.jpg (candidates that FaceMesh refuses) when it can be read. */
static void bench_noface(bench_pipe *b, double v[B_ROWS], double lo[B_ROWS]) {
    img_rgb grey = {0}, im = {0};
    if (img_new(&grey, 64, 64, 0, b->err) == 0) {
        memset(grey.rgb, 128, (size_t)64 * 64 * 3);
        if (bench_jpeg(b, &grey, 64, 64, "grey.jpg", &im) == 0)
            v[B_NOFACE] = bench_command(b, "grey.jpg", BENCH_STARTUP_RUNS, 6, &lo[B_NOFACE]);
    }
    img_free(&grey), img_free(&im);
    if (access(bench_dogs, R_OK) == 0) v[B_NOFACE_DOGS] = bench_command(b, bench_dogs, BENCH_STARTUP_RUNS, 6, &lo[B_NOFACE_DOGS]);
}

/* Runs the scenarios (the start-up ones only when startup != 0; those that need a photo only
 * when one of bench_photos can be read: from the repository) and prints their table, or the
 * JSON member ,"pipeline":[...]. Returns 0 if all that could run ran. */
static int bench_pipeline(int runs, int json, int startup, const char *weights_dir) {
    bench_pipe b = {runs < BENCH_MAX_RUNS ? runs : BENCH_MAX_RUNS, weights_dir, "", ""};
    const char *source = NULL, *sr = NULL;
    double v[B_ROWS], lo[B_ROWS];
    for (int i = 0; i < B_ROWS; i++) v[i] = lo[i] = -1;
    char *help[] = {"headshot", "--help", NULL};
    v[B_HELP] = bench_exec(&b, help, BENCH_STARTUP_RUNS, 0, &lo[B_HELP]);
    v[B_LOAD] = bench_load(&b, &lo[B_LOAD]);
    img_rgb photo = {0};
    for (int i = 0; !source && bench_photos[i]; i++)
        if (img_load_file(&photo, bench_photos[i], NULL, b.err) == 0) source = bench_photos[i];
    const char *tmp = getenv("TMPDIR");
    snprintf(b.dir, sizeof b.dir, "%s/headshot-bench-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(b.dir)) {
        snprintf(b.err, NN_ERR, "cannot make a temporary directory %s: %s", b.dir, strerror(errno));
    } else {
        bench_noface(&b, v, lo);
        if (source && !startup) bench_scenarios(&b, &photo, v, lo, &sr);
        static const char *const files[] = {"12mp.jpg", "vga.jpg", "grey.jpg", "out.jpg"};
        for (int i = 0; i < 4; i++) {
            char path[128];
            snprintf(path, sizeof path, "%s/%s", b.dir, files[i]);
            remove(path);
        }
        rmdir(b.dir);
    }
    img_free(&photo);

    if (json) printf(",\"pipeline_source\":\"%s\",\"pipeline_runs\":%d,\"pipeline\":[", source ? source : "", b.runs);
    else printf("\n%-46s %-9s %11s %8s %12s\n", "scenario", "input", "median", "min", "target");
    int rc = 0;
    for (int i = 0; i < B_ROWS; i++) {
        double t = bench_rows[i].target;
        const char *unit = bench_rows[i].mb ? "MB" : "ms";
        char what[96], size[24], target[24];
        int skipped = i > B_NOFACE_DOGS ? startup || !source : i == B_NOFACE_DOGS && access(bench_dogs, R_OK) != 0;
        if (bench_rows[i].sr) snprintf(what, sizeof what, "headshot with %s, %s", sr ? sr : "no upscaler", bench_rows[i].what);
        else snprintf(what, sizeof what, "%s", bench_rows[i].what);
        if (bench_rows[i].w) snprintf(size, sizeof size, "%dx%d", bench_rows[i].w, bench_rows[i].h);
        else snprintf(size, sizeof size, "-");
        if (t > 0) snprintf(target, sizeof target, "<= %.0f %s", t, unit);
        else snprintf(target, sizeof target, "-");
        if (json) {
            printf("%s{\"scenario\":\"%s\",\"input\":", i ? "," : "", what);
            if (bench_rows[i].w) printf("[%d,%d]", bench_rows[i].w, bench_rows[i].h);
            else printf("null");
            printf(",\"%s\":", bench_rows[i].mb ? "peak_mb" : "median_ms");
            if (v[i] < 0) printf("null");
            else printf("%.1f", v[i]);
            if (!bench_rows[i].mb && v[i] >= 0) printf(",\"min_ms\":%.1f", lo[i]);
            if (t > 0) printf(",\"target\":%.0f,\"pass\":%s", t, v[i] >= 0 && v[i] <= t ? "true" : "false");
            printf("}");
        } else if (v[i] < 0) {
            printf("%-46s %-9s %11s %8s %12s\n", what, size, skipped ? "skipped" : "failed", "", target);
        } else {
            char least[24];
            if (bench_rows[i].mb) snprintf(least, sizeof least, "-");
            else snprintf(least, sizeof least, "%.1f", lo[i]);
            printf("%-46s %-9s %8.1f %s %8s %12s%s\n", what, size, v[i], unit, least, target,
                   t <= 0 ? "" : v[i] <= t ? "  pass" : "  MISS");
        }
        rc |= v[i] < 0 && !skipped;
    }
    if (json) printf("]");
    else if (startup) printf("(start-up scenarios only: median of %d runs after a warm-up)\n", BENCH_STARTUP_RUNS);
    else if (source) printf("(inputs made from %s; start-up: median of %d runs, the rest of %d, after a warm-up)\n", source,
                            BENCH_STARTUP_RUNS, b.runs);
    else printf("(the photo scenarios need %s: run from the repository)\n", bench_photos[0]);
    if (rc) fprintf(stderr, "headshot: bench: %s\n", b.err);
    return rc;
}

/* ------------------------------------------------------------ the command */

/* Median ms of building network n (n->load) runs times (at most BENCH_STARTUP_RUNS), warm;
 * the last one stays in *net. -1 on failure. */
static double time_load(const hs_network *n, const char *dir, int runs, void **net, char err[NN_ERR]) {
    double ms[BENCH_STARTUP_RUNS], min;
    runs = runs < BENCH_STARTUP_RUNS ? runs : BENCH_STARTUP_RUNS;
    *net = NULL;
    for (int i = 0; i < runs; i++) {
        if (*net) n->free(*net);
        double t0 = now_ms();
        if (!(*net = n->load(n, dir, err))) return -1;
        ms[i] = now_ms() - t0;
    }
    return bench_median(ms, runs, &min);
}

int bench_main(int threads, int runs, int json, int mode, const char *weights_dir) {
    char err[NN_ERR];
    nn_set_threads(threads);
    if (json) printf("{\"threads\":%d,\"isa\":\"%s\",\"precision\":\"%s\",\"networks\":[", nn_threads(), nn_isa(), nn_precision());
    else printf("headshot bench: %d thread%s, %s kernels, %s, median of %d runs\n\n%-18s %-13s %10s %10s %9s %9s %8s\n",
                nn_threads(), nn_threads() > 1 ? "s" : "", nn_isa(), nn_precision(), runs, "network", "input", "MMAC", "median ms",
                "GFLOP/s", "arena MB", "load ms");
    int first = 1, rc = 0;
    for (int i = 0; hs_networks[i]; i++) {
        const hs_network *n = hs_networks[i];
        void *net;
        nn_stats st = {0};
        double load = time_load(n, weights_dir, runs, &net, err), ms = 0;
        if (net && mode != BENCH_STARTUP) ms = time_network(n->forward, net, n->h, n->w, n->c, runs, &st, err);
        if (net) n->free(net);
        if (load < 0 || ms < 0) {
            fprintf(stderr, "headshot: bench %s: %s\n", n->name, err);
            rc = 1;
            continue;
        }
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->h, n->w, n->c);
        if (json && mode == BENCH_STARTUP)
            printf("%s{\"name\":\"%s\",\"load_ms\":%.3f}", first ? "" : ",", n->name, load);
        else if (json)
            printf("%s{\"name\":\"%s\",\"input\":[%d,%d,%d],\"macs\":%llu,\"median_ms\":%.3f,\"gflops\":%.2f,\"arena_bytes\":%zu,"
                   "\"load_ms\":%.3f}", first ? "" : ",", n->name, n->h, n->w, n->c, (unsigned long long)st.macs, ms,
                   2.0 * st.macs / (ms * 1e6), st.arena_bytes, load);
        else if (mode == BENCH_STARTUP)
            printf("%-18s %-13s %10s %10s %9s %9s %8.2f\n", n->name, shape, "-", "-", "-", "-", load);
        else
            printf("%-18s %-13s %10.1f %10.3f %9.1f %9.1f %8.2f\n", n->name, shape, st.macs / 1e6, ms, 2.0 * st.macs / (ms * 1e6),
                   st.arena_bytes / 1048576.0, load);
        first = 0;
    }
    if (json) printf("]");
    if (mode == BENCH_NETWORKS) {     /* the table alone, to compare with ../shared/peer-bench */
        if (json) printf("}\n");
        return rc;
    }
    rc |= bench_pipeline(runs, json, mode == BENCH_STARTUP, weights_dir);
    if (mode == BENCH_STARTUP) {
        if (json) printf("}\n");
        return rc;
    }
    double conv = conv3x3_gflops(runs, 0, err), wino = conv3x3_gflops(runs, 1, err), peak = 0;
#if defined(__x86_64__)
    if (!strcmp(nn_isa(), "avx2")) peak = fma_peak_avx2() * nn_threads();
    if (!strcmp(nn_isa(), "avx512")) peak = fma_peak_avx512() * nn_threads();
#endif
    if (json) {
        printf(",\"conv3x3x64_gflops\":%.2f,\"conv3x3x64_winograd_gflops\":%.2f", conv, wino);
        if (peak > 0) printf(",\"fma_peak_gflops\":%.2f,\"conv3x3x64_of_peak\":%.3f", peak, conv / peak);
        printf("}\n");
    } else {
        printf("\nconv 3x3, 64->64 ch, 64x64, direct: %.1f GFLOP/s", conv);
        if (peak > 0) printf(" = %.0f%% of the measured FMA peak (%.1f GFLOP/s on %d thread%s)", 100 * conv / peak, peak,
                             nn_threads(), nn_threads() > 1 ? "s" : "");
        printf("\nthe same with Winograd F(2x2,3x3), as the networks run it: %.1f GFLOP/s of direct work (%.2fx)\n", wino,
               wino / conv);
    }
    return rc;
}

/* ------------------------------------------------------------ `headshot models` */

int models_main(const char *weights_dir) {
    char err[NN_ERR];
    int rc = 0;
    size_t total = 0;
    printf("%-18s %-34s %-13s %9s %10s  %s\n", "network", "source", "licence", "size KB", "MMAC", "what it does");
    for (int i = 0; hs_networks[i]; i++) {
        const hs_network *n = hs_networks[i];
        nn_model *m;
        if (nn_model_open(&m, n->name, weights_dir, err) != 0) {
            fprintf(stderr, "headshot: %s\n", err);
            rc = 1;
            continue;
        }
        size_t bytes = nn_model_bytes(m);
        nn_model_close(m);
        void *net = n->load(n, weights_dir, err);
        nn_stats st = {0};
        nn_ctx *c = net ? nn_ctx_new(n->name, err) : NULL;
        float *in = c ? calloc((size_t)n->h * n->w * n->c, sizeof *in) : NULL;
        nn_tensor out[NN_MAX_OUTPUTS];
        if (in && nn_run(c, n->forward, net, in, n->h, n->w, n->c, out, err) >= 0) st = nn_ctx_stats(c);
        free(in);
        nn_ctx_free(c);
        if (net) n->free(net);
        printf("%-18s %-34s %-13s %9.0f %10.1f  %s\n", n->name, n->source, n->licence, bytes / 1024.0, st.macs / 1e6, n->what);
        total += bytes;
    }
    printf("\nweights: %.2f MB in all; sources, versions and licences in weights/SOURCES.md\n", total / 1048576.0);
    return rc;
}
