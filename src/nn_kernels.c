/* nn_kernels.c — the portable kernel set: the packed layouts of nn_kernels.h in plain C.
 *
 * Any C11 compiler builds this; at -O2 with the baseline ISA (SSE2 on x86-64) it vectorises
 * the inner loops over the 16 channels of a panel. It is what a CPU without AVX2 runs.
 */
#include "nn_kernels.h"
#include "nn_winograd.h"

#define MR 4

static inline float nn__epi(float v, const nn_epilogue *e, int j) {
    if (e->leaky && v < 0) v *= e->prelu ? e->prelu[j] : e->leak;
    return v < e->min ? e->min : v > e->max ? e->max : v;
}

static void nn_igemm_4x16_scalar(int mr, int nc, int taps, int cin, const float *const *a,
                                 const float *w, float *c, size_t ldc, const nn_epilogue *e) {
    float acc[MR][NN_NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NN_NR; j++) acc[r][j] = w[j];
    const float *wk = w + NN_NR;
    for (int t = 0; t < taps; t++) {
        const float *ar[MR];
        for (int r = 0; r < MR; r++) ar[r] = a[(r < mr ? r : 0) * taps + t];
        for (int k = 0; k < cin; k++, wk += NN_NR)
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < NN_NR; j++) acc[r][j] += ar[r][k] * wk[j];
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++)
            c[r * ldc + j] = nn__epi(e->residual ? acc[r][j] + e->residual[r * ldc + j] : acc[r][j], e, j);
}

static void nn_dwconv_16_scalar(const nn_dwrow *d, const float *const *rows, const float *w,
                                float *out, const nn_epilogue *e) {
    for (int x = 0; x < d->ow; x++, out += d->c)
        for (int c0 = 0; c0 < d->c; c0 += NN_NR) {
            int kx0, kx1, ix0 = nn_dwrow_taps(d, x, &kx0, &kx1);
            float acc[NN_NR];
            for (int j = 0; j < NN_NR; j++) acc[j] = w[c0 + j];
            for (int ky = 0; ky < d->kh; ky++) {
                if (!rows[ky]) continue;
                for (int kx = kx0; kx < kx1; kx++) {
                    const float *in = rows[ky] + (size_t)(ix0 + kx) * d->c + c0, *wt = w + (1 + ky * d->kw + kx) * d->cp + c0;
                    for (int j = 0; j < NN_NR; j++) acc[j] += in[j] * wt[j];
                }
            }
            int n = d->c - c0 < NN_NR ? d->c - c0 : NN_NR;
            for (int j = 0; j < n; j++) out[c0 + j] = nn__epi(acc[j], e, c0 + j);
        }
}

const nn_kernel_set nn_kernels_portable = {"portable", MR, NN_NR, nn_igemm_4x16_scalar, nn_dwconv_16_scalar,
                                            nn__wino_input_tile, nn__wino_output_tile};
