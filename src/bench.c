/* bench.c — `headshot bench`: how fast the runtime is on this machine.
 *
 * For every embedded network: input shape, multiply-accumulates, median time over --runs and
 * the arithmetic rate. Then the machine's measured FMA peak and how close a 3x3, 64-channel
 * convolution gets to it. Numbers are medians of repeated runs after a warm-up. */
#include "bench.h"
#include "networks.h"
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    long iters = 20000000;
    double t0 = now_ms();
    for (long k = 0; k < iters; k++) {
        c0 = _mm256_fmadd_ps(c0, m, a), c1 = _mm256_fmadd_ps(c1, m, a), c2 = _mm256_fmadd_ps(c2, m, a);
        c3 = _mm256_fmadd_ps(c3, m, a), c4 = _mm256_fmadd_ps(c4, m, a), c5 = _mm256_fmadd_ps(c5, m, a);
        c6 = _mm256_fmadd_ps(c6, m, a), c7 = _mm256_fmadd_ps(c7, m, a), c8 = _mm256_fmadd_ps(c8, m, a);
        c9 = _mm256_fmadd_ps(c9, m, a);
    }
    double ms = now_ms() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)), _mm256_add_ps(c8, c9)));
    float sink[8];
    _mm256_storeu_ps(sink, s);
    if (sink[0] == 12345.0f) printf(" ");   /* keep the loop alive */
    return iters * 10.0 * 8 * 2 / (ms * 1e6);
}
#endif

typedef struct { nn_layer l; } conv_net;
static int conv_forward(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    out[0] = nn_conv2d(c, x, &((const conv_net *)net)->l, 1, NN_SAME, nn_relu);
    return 1;
}

/* A 3x3, 64 -> 64 channel convolution on 64x64 with random weights. */
static double conv3x3_gflops(int runs, char err[NN_ERR]) {
    conv_net net;
    if (nn_layer_random(&net.l, NN_CONV, 3, 3, 64, 64, 7) != 0) return snprintf(err, NN_ERR, "out of memory"), -1;
    nn_stats st;
    double ms = time_network(conv_forward, &net, 64, 64, 64, runs, &st, err);
    nn_layer_free(&net.l);
    return ms > 0 ? 2.0 * st.macs / (ms * 1e6) : -1;
}

/* ------------------------------------------------------------ the command */

int bench_main(int threads, int runs, int json, const char *weights_dir) {
    char err[NN_ERR];
    nn_set_threads(threads);
    if (json) printf("{\"threads\":%d,\"isa\":\"%s\",\"networks\":[", nn_threads(), nn_isa());
    else printf("headshot bench: %d thread%s, %s kernels, median of %d runs\n\n%-18s %-13s %10s %10s %9s %9s\n",
                nn_threads(), nn_threads() > 1 ? "s" : "", nn_isa(), runs, "network", "input", "MMAC", "median ms",
                "GFLOP/s", "arena MB");
    int first = 1, rc = 0;
    for (int i = 0; hs_networks[i]; i++) {
        const hs_network *n = hs_networks[i];
        void *net = n->load(weights_dir, err);
        nn_stats st = {0};
        double ms = net ? time_network(n->forward, net, n->h, n->w, n->c, runs, &st, err) : -1;
        if (net) n->free(net);
        if (ms < 0) {
            fprintf(stderr, "headshot: bench %s: %s\n", n->name, err);
            rc = 1;
            continue;
        }
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->h, n->w, n->c);
        if (json)
            printf("%s{\"name\":\"%s\",\"input\":[%d,%d,%d],\"macs\":%llu,\"median_ms\":%.3f,\"gflops\":%.2f,\"arena_bytes\":%zu}",
                   first ? "" : ",", n->name, n->h, n->w, n->c, (unsigned long long)st.macs, ms, 2.0 * st.macs / (ms * 1e6),
                   st.arena_bytes);
        else
            printf("%-18s %-13s %10.1f %10.3f %9.1f %9.1f\n", n->name, shape, st.macs / 1e6, ms, 2.0 * st.macs / (ms * 1e6),
                   st.arena_bytes / 1048576.0);
        first = 0;
    }
    double conv = conv3x3_gflops(runs, err), peak = 0;
#if defined(__x86_64__)
    if (!strcmp(nn_isa(), "avx2")) peak = fma_peak_avx2() * nn_threads();
#endif
    if (json) {
        printf("],\"conv3x3x64_gflops\":%.2f", conv);
        if (peak > 0) printf(",\"fma_peak_gflops\":%.2f,\"conv3x3x64_of_peak\":%.3f", peak, conv / peak);
        printf("}\n");
    } else {
        printf("\nconv 3x3, 64->64 ch, 64x64: %.1f GFLOP/s", conv);
        if (peak > 0) printf(" = %.0f%% of the measured FMA peak (%.1f GFLOP/s on %d thread%s)", 100 * conv / peak, peak,
                             nn_threads(), nn_threads() > 1 ? "s" : "");
        printf("\n");
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
        if (nn_model_open(&m, n->weights, weights_dir, err) != 0) {
            fprintf(stderr, "headshot: %s\n", err);
            rc = 1;
            continue;
        }
        size_t bytes = nn_model_bytes(m);
        nn_model_close(m);
        void *net = n->load(weights_dir, err);
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
