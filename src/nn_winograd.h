/* nn_winograd.h — the Winograd F(2x2, 3x3) transforms of one tile (private to the runtime).
 *
 * Plain C over 16 channels at a time, included by every kernel-set file (nn_kernels.c,
 * nn_avx2.c, nn_avx512.c, nn_neon.c) so that each compiles it for its own instructions: the
 * compiler turns the 16-lane loops into one AVX-512 register, two AVX2 or four SSE/NEON ones.
 * Only additions and subtractions, in the same order in every copy, so every kernel set
 * gets the same bits. The algorithm is in nn.c (nn__wino_task), the weight transform in
 * nn_weights.c (nn__pack_winograd).
 */
#ifndef NN_WINOGRAD_H
#define NN_WINOGRAD_H
#include <stddef.h>
#include <string.h>
#include "nn_kernels.h"

/* V = B'dB: src[4i + k] points at the cin channels of input pixel (i, k) of the 4x4 tile;
 * V[xi] for xi = 4i + k goes to v + xi * xs (cin floats each). cin is a multiple of 16. */
static void nn__wino_input_tile(const float *const *src, int cin, float *v, size_t xs) {
    for (int c0 = 0; c0 < cin; c0 += NN_NR) {
        float d[16][NN_NR], t[16][NN_NR], w[4][NN_NR];
        for (int p = 0; p < 16; p++) memcpy(d[p], src[p] + c0, sizeof d[p]);
        for (int k = 0; k < 4; k++)              /* B'd: the rows combined, per column k */
            for (int q = 0; q < NN_NR; q++) {
                t[k][q] = d[k][q] - d[8 + k][q], t[4 + k][q] = d[4 + k][q] + d[8 + k][q];
                t[8 + k][q] = d[8 + k][q] - d[4 + k][q], t[12 + k][q] = d[4 + k][q] - d[12 + k][q];
            }
        for (int i = 0; i < 4; i++) {            /* (B'd)B: the columns combined, per row i */
            const float *r0 = t[4 * i], *r1 = t[4 * i + 1], *r2 = t[4 * i + 2], *r3 = t[4 * i + 3];
            for (int q = 0; q < NN_NR; q++)
                w[0][q] = r0[q] - r2[q], w[1][q] = r1[q] + r2[q], w[2][q] = r2[q] - r1[q], w[3][q] = r1[q] - r3[q];
            for (int k = 0; k < 4; k++) memcpy(v + (size_t)(4 * i + k) * xs + c0, w[k], sizeof w[k]);
        }
    }
}

/* Y = A'MA + bias (+ residual), clamped to [lo, hi]: m + xi * xs holds the cout products of
 * M[xi]; out[p] and res[p] point at output pixel p = 2i + k of the 2x2 tile (out[p] NULL: past
 * the image's edge; res NULL: no residual). cout is a multiple of 16. */
static void nn__wino_output_tile(const float *m, size_t xs, int cout, const float *bias, const float *const *res,
                                 float *const *out, float lo, float hi) {
    for (int c0 = 0; c0 < cout; c0 += NN_NR) {
        float t[8][NN_NR], y[4][NN_NR];          /* A'M (2 rows of 4), then (A'M)A (2 x 2) */
        for (int k = 0; k < 4; k++) {
            const float *m0 = m + k * xs + c0, *m1 = m0 + 4 * xs, *m2 = m1 + 4 * xs, *m3 = m2 + 4 * xs;
            for (int q = 0; q < NN_NR; q++) t[k][q] = m0[q] + m1[q] + m2[q], t[4 + k][q] = m1[q] - m2[q] - m3[q];
        }
        const float *b = bias + c0;
        for (int i = 0; i < 2; i++) {
            const float *r0 = t[4 * i], *r1 = t[4 * i + 1], *r2 = t[4 * i + 2], *r3 = t[4 * i + 3];
            for (int q = 0; q < NN_NR; q++)
                y[2 * i][q] = r0[q] + r1[q] + r2[q] + b[q], y[2 * i + 1][q] = r1[q] - r2[q] - r3[q] + b[q];
        }
        for (int p = 0; p < 4; p++) {
            if (!out[p]) continue;
            if (res)
                for (int q = 0; q < NN_NR; q++) y[p][q] += res[p][c0 + q];
            float *o = out[p] + c0;
            for (int q = 0; q < NN_NR; q++) {
                float v = y[p][q] < lo ? lo : y[p][q];
                o[q] = v > hi ? hi : v;
            }
        }
    }
}

#endif
