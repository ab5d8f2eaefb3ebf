/* vnni_gemm.c — int8 arithmetic (AVX-512 VNNI) against the float32 the runtime uses, on one
 * convolution: 3x3, 64 -> 64 channels, 64x64 pixels (the `headshot bench` case), as a GEMM
 * M = 4096 pixels, K = 9 x 64 = 576, N = 64. Not product code: the numbers behind the
 * decision in docs/INFERENCE.md, section "Quantisation".
 *
 *   gcc -O2 -std=c11 -Wall -Wextra -mavx512f -mavx512bw -mavx512vnni -mfma -o /tmp/vnni_gemm bench/vnni_gemm.c -lm
 *   /tmp/vnni_gemm            (needs a CPU with AVX512_VNNI)
 *
 * Both kernels are 12 x 32 register tiles (the runtime's shape) over the same im2col matrix
 * (so neither pays for the indirection the runtime uses) and the same bias + ReLU epilogue:
 *   fp32: acc[r] += broadcast(a[r][k]) * w[k][0..15]             16 MACs per instruction
 *   int8: acc[r] += dot4(u8 a[r][k..k+3], s8 w[k..k+3][0..15])   64 MACs per vpdpbusd
 * int8 needs the activations quantised at run time (asymmetric u8, one scale and zero point
 * per tensor, from the tensor's min/max) and dequantised in the epilogue:
 *   y[j] = (acc - zp * sum_k w[k][j]) * sa * sw[j] + bias[j]
 * The int8 time includes quantising the input tensor (64x64x64 floats, once per layer in a
 * real network); its error is measured against a float64 reference.
 */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define H 64
#define W 64
#define C 64                 /* input and output channels */
#define M (H * W)
#define K (9 * C)
#define N C
#define MP ((M + 11) / 12 * 12)   /* rows padded to whole tiles */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static uint32_t rng = 1;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (rng >> 8) / 16777216.0f - 0.5f; }

/* ------------------------------------------------------------ float32 */

/* The 12 rows of a tile, named (an array would leave gcc shuffling registers). */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* a: MP x K, w: N/16 panels of K x 16, y: MP x N. Tiles of 12 rows x 32 columns (two
 * panels, as the runtime's nn_igemm_12x32_avx512); all panels of a row tile in turn, so the
 * tile's rows of a stay in cache. */
__attribute__((noinline)) static void gemm_f32(const float *a, const float *w, const float *bias, float *y) {
    for (int m0 = 0; m0 < MP; m0 += 12) {
        const float *ar = a + (size_t)m0 * K;
        for (int n0 = 0; n0 < N; n0 += 32) {
            const float *wp = w + (size_t)n0 * K, *wq = wp + (size_t)16 * K;
#define INIT(r) __m512 c##r = _mm512_loadu_ps(bias + n0), d##r = _mm512_loadu_ps(bias + n0 + 16);
#define STEP(r) v = _mm512_set1_ps(ar[(size_t)r * K + k]), c##r = _mm512_fmadd_ps(v, b, c##r), d##r = _mm512_fmadd_ps(v, b2, d##r);
#define STORE(r) _mm512_storeu_ps(y + (size_t)(m0 + r) * N + n0, _mm512_max_ps(c##r, _mm512_setzero_ps())); \
                 _mm512_storeu_ps(y + (size_t)(m0 + r) * N + n0 + 16, _mm512_max_ps(d##r, _mm512_setzero_ps()));
            ROWS(INIT)
            for (int k = 0; k < K; k++) {
                __m512 b = _mm512_loadu_ps(wp + (size_t)k * 16), b2 = _mm512_loadu_ps(wq + (size_t)k * 16), v;
                ROWS(STEP)
            }
            ROWS(STORE)
#undef INIT
#undef STEP
#undef STORE
        }
    }
}

/* ------------------------------------------------------------ int8 (VNNI) */

/* x: n floats -> u8 with scale and zero point from min/max (asymmetric, like TFLite). */
static void quantize_u8(const float *x, size_t n, uint8_t *q, float *scale, int *zp) {
    __m512 lo = _mm512_set1_ps(0), hi = _mm512_set1_ps(0);
    for (size_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        lo = _mm512_min_ps(lo, v), hi = _mm512_max_ps(hi, v);
    }
    float mn = _mm512_reduce_min_ps(lo), mx = _mm512_reduce_max_ps(hi);
    *scale = (mx - mn) / 255.0f;
    *zp = (int)lrintf(-mn / *scale);
    __m512 inv = _mm512_set1_ps(1 / *scale), z = _mm512_set1_ps((float)*zp);
    for (size_t i = 0; i < n; i += 16) {
        __m512i v = _mm512_cvtps_epi32(_mm512_fmadd_ps(_mm512_loadu_ps(x + i), inv, z));
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtusepi32_epi8(_mm512_max_epi32(v, _mm512_setzero_si512())));
    }
}

/* acc += per 32-bit lane, the sum of 4 products u8 a x s8 w. Inline asm: gcc 12 copies every
 * accumulator around _mm512_dpbusd_epi32 (2 register moves per operation). */
static inline void dpbusd(__m512i *acc, __m512i a, __m512i w) { __asm__("vpdpbusd %2, %1, %0" : "+v"(*acc) : "v"(a), "v"(w)); }

/* a: MP x K u8, w: N/16 panels of K/4 x 16 x 4 s8, wsum[j] = sum_k w[k][j] (for the zero
 * point). The same 12 x 32 tiles and loop order as gemm_f32. */
__attribute__((noinline)) static void gemm_i8(const uint8_t *a, const int8_t *w, const int32_t *wsum, const float *sw,
                                              float sa, int zp, const float *bias, float *y) {
    for (int m0 = 0; m0 < MP; m0 += 12) {
        const uint8_t *ar = a + (size_t)m0 * K;
        for (int n0 = 0; n0 < N; n0 += 32) {
            const int8_t *wp = w + (size_t)n0 * K, *wq = wp + (size_t)16 * K;
            __m512 s0 = _mm512_mul_ps(_mm512_loadu_ps(sw + n0), _mm512_set1_ps(sa)), b0 = _mm512_loadu_ps(bias + n0);
            __m512 s1 = _mm512_mul_ps(_mm512_loadu_ps(sw + n0 + 16), _mm512_set1_ps(sa)), b1 = _mm512_loadu_ps(bias + n0 + 16);
            __m512i z0 = _mm512_mullo_epi32(_mm512_loadu_si512(wsum + n0), _mm512_set1_epi32(zp));
            __m512i z1 = _mm512_mullo_epi32(_mm512_loadu_si512(wsum + n0 + 16), _mm512_set1_epi32(zp));
#define INIT(r) __m512i c##r = _mm512_setzero_si512(), d##r = c##r;
#define STEP(r) memcpy(&a4, ar + (size_t)r * K + k, 4), v = _mm512_set1_epi32(a4), dpbusd(&c##r, v, b), dpbusd(&d##r, v, b2);
#define OUT(acc, z, s, bb) _mm512_max_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, z)), s, bb), _mm512_setzero_ps())
#define STORE(r) _mm512_storeu_ps(y + (size_t)(m0 + r) * N + n0, OUT(c##r, z0, s0, b0)); \
                 _mm512_storeu_ps(y + (size_t)(m0 + r) * N + n0 + 16, OUT(d##r, z1, s1, b1));
            ROWS(INIT)
            for (int k = 0; k < K; k += 4) {
                __m512i b = _mm512_loadu_si512(wp + (size_t)k * 16), b2 = _mm512_loadu_si512(wq + (size_t)k * 16), v;
                int32_t a4;
                ROWS(STEP)
            }
            ROWS(STORE)
#undef INIT
#undef STEP
#undef OUT
#undef STORE
        }
    }
}

/* ------------------------------------------------------------ main */

static int cmp(const void *x, const void *y) { double a = *(const double *)x, b = *(const double *)y; return a < b ? -1 : a > b; }

int main(void) {
    if (!__builtin_cpu_supports("avx512vnni")) return fprintf(stderr, "vnni_gemm: this CPU has no AVX512_VNNI\n"), 1;
    float *x = calloc((size_t)H * W * C, 4), *wt = malloc((size_t)N * K * 4), *bias = malloc(N * 4);
    float *a = calloc((size_t)MP * K, 4), *wf = malloc((size_t)N * K * 4), *y32 = malloc((size_t)MP * N * 4),
          *y8 = malloc((size_t)MP * N * 4), *sw = malloc(N * 4);
    uint8_t *xq = malloc((size_t)H * W * C), *aq = calloc((size_t)MP * K, 1);
    int8_t *wq = malloc((size_t)N * K);
    int32_t *wsum = calloc(N, 4);
    for (int i = 0; i < H * W * C; i++) x[i] = fmaxf(frand() + 0.2f, 0);   /* post-ReLU activations */
    for (int i = 0; i < N * K; i++) wt[i] = frand() * 0.1f;                  /* wt[n][k], k = tap * C + c */
    for (int i = 0; i < N; i++) bias[i] = frand();
    /* fp32 panels; s8 panels with one scale per output channel (the stored format) */
    for (int n = 0; n < N; n++) {
        float mx = 0;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, fabsf(wt[n * K + k]));
        sw[n] = mx / 127;
        for (int k = 0; k < K; k++) {
            int q = (int)lrintf(wt[n * K + k] / sw[n]);
            wf[(size_t)(n / 16) * 16 * K + (size_t)k * 16 + n % 16] = wt[n * K + k];
            wq[(size_t)(n / 16) * 16 * K + (size_t)(k / 4) * 64 + (n % 16) * 4 + k % 4] = (int8_t)q;
            wsum[n] += q;
        }
    }
    /* im2col of a SAME 3x3 convolution, float and (after quantising x) u8 */
    int runs = 50;
    double t32[50], t8[50], tq[50];
    float sa = 0;
    int zp = 0;
    for (int rep = 0; rep < runs; rep++) {
        double t0 = now_ms();
        quantize_u8(x, (size_t)H * W * C, xq, &sa, &zp);
        tq[rep] = now_ms() - t0;
        if (rep == 0)
            for (int p = 0; p < M; p++)
                for (int t = 0; t < 9; t++) {
                    int iy = p / W + t / 3 - 1, ix = p % W + t % 3 - 1, in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                    for (int c = 0; c < C; c++) {
                        a[(size_t)p * K + t * C + c] = in ? x[((size_t)iy * W + ix) * C + c] : 0;
                        aq[(size_t)p * K + t * C + c] = in ? xq[((size_t)iy * W + ix) * C + c] : (uint8_t)zp;
                    }
                }
        t0 = now_ms();
        gemm_f32(a, wf, bias, y32);
        t32[rep] = now_ms() - t0;
        t0 = now_ms();
        gemm_i8(aq, wq, wsum, sw, sa, zp, bias, y8);
        t8[rep] = now_ms() - t0;
    }
    qsort(t32, runs, sizeof(double), cmp), qsort(t8, runs, sizeof(double), cmp), qsort(tq, runs, sizeof(double), cmp);
    /* error against a float64 reference of the same convolution */
    double e32 = 0, e8 = 0, ref_max = 0;
    for (int p = 0; p < M; p++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int k = 0; k < K; k++) s += (double)a[(size_t)p * K + k] * wt[n * K + k];
            s = s > 0 ? s : 0;
            ref_max = fmax(ref_max, fabs(s));
            e32 = fmax(e32, fabs(y32[(size_t)p * N + n] - s)), e8 = fmax(e8, fabs(y8[(size_t)p * N + n] - s));
        }
    double gf = 2.0 * M * N * K / 1e6;
    printf("conv 3x3 64->64 at 64x64 as GEMM %dx%dx%d, one thread, median of %d runs\n", M, N, K, runs);
    printf("fp32 FMA    12x32 tile: %6.3f ms  %6.1f GFLOP/s  max error %.2g (of max |y| %.2f)\n", t32[runs / 2],
           gf / t32[runs / 2], e32, ref_max);
    printf("int8 VNNI   12x32 tile: %6.3f ms  %6.1f GOP/s    max error %.2g (%.2f%% of max |y|)\n", t8[runs / 2],
           gf / t8[runs / 2], e8, 100 * e8 / ref_max);
    printf("  + quantising the input tensor: %.3f ms; int8 total %.3f ms = %.2fx the fp32 speed\n", tq[runs / 2],
           t8[runs / 2] + tq[runs / 2], t32[runs / 2] / (t8[runs / 2] + tq[runs / 2]));
    free(x), free(wt), free(bias), free(a), free(wf), free(y32), free(y8), free(sw), free(xq), free(aq), free(wq), free(wsum);
    return 0;
}
