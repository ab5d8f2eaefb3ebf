/* nn_neon.c — the NEON kernel set (aarch64, where NEON is always present).
 *
 * nn_igemm_6x16_neon: 6 output pixels x 16 channels = 24 q-register accumulators, 4 for the
 * weights and the input values broadcast by lane-indexed FMA: 32 registers, all used.
 */
#if defined(__aarch64__)
#include <arm_neon.h>
#include "nn_kernels.h"
#include "nn_winograd.h"

static inline float32x4_t nn__epi4(float32x4_t v, const nn_epilogue *e, const float *slope, float32x4_t vmin, float32x4_t vmax) {
    if (e->leaky) {
        float32x4_t s = slope ? vld1q_f32(slope) : vdupq_n_f32(e->leak);
        v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0)), vmulq_f32(v, s), v);
    }
    return vminq_f32(vmaxq_f32(v, vmin), vmax);
}

static inline void nn__store16(float *c, const float32x4_t v[4], int nc) {
    if (nc == 16) {
        for (int q = 0; q < 4; q++) vst1q_f32(c + 4 * q, v[q]);
        return;
    }
    float tmp[16];
    for (int q = 0; q < 4; q++) vst1q_f32(tmp + 4 * q, v[q]);
    for (int j = 0; j < nc; j++) c[j] = tmp[j];
}

static void nn_igemm_6x16_neon(int mr, int nc, int taps, int cin, const float *const *a,
                               const float *w, float *c, size_t ldc, const nn_epilogue *e) {
    float32x4_t acc[6][4];
    for (int r = 0; r < 6; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vld1q_f32(w + 4 * q);
    const float *wk = w + 16;
    for (int t = 0; t < taps; t++) {
        const float *ar[6];
        for (int r = 0; r < 6; r++) ar[r] = a[(r < mr ? r : 0) * taps + t];
        for (int k = 0; k < cin; k++, wk += 16) {
            float32x4_t b0 = vld1q_f32(wk), b1 = vld1q_f32(wk + 4), b2 = vld1q_f32(wk + 8), b3 = vld1q_f32(wk + 12);
            for (int r = 0; r < 6; r++) {
                float32x4_t v = vld1q_dup_f32(ar[r] + k);
                acc[r][0] = vfmaq_f32(acc[r][0], v, b0);
                acc[r][1] = vfmaq_f32(acc[r][1], v, b1);
                acc[r][2] = vfmaq_f32(acc[r][2], v, b2);
                acc[r][3] = vfmaq_f32(acc[r][3], v, b3);
            }
        }
    }
    float32x4_t vmin = vdupq_n_f32(e->min), vmax = vdupq_n_f32(e->max);
    for (int r = 0; r < mr; r++) {
        if (e->residual)
            for (int q = 0; q < 4; q++) acc[r][q] = vaddq_f32(acc[r][q], vld1q_f32(e->residual + r * ldc + 4 * q));
        for (int q = 0; q < 4; q++) acc[r][q] = nn__epi4(acc[r][q], e, e->prelu ? e->prelu + 4 * q : NULL, vmin, vmax);
        nn__store16(c + r * ldc, acc[r], nc);
    }
}

static void nn_dwconv_16_neon(const nn_dwrow *d, const float *const *rows, const float *w,
                              float *out, const nn_epilogue *e) {
    float32x4_t vmin = vdupq_n_f32(e->min), vmax = vdupq_n_f32(e->max);
    for (int x = 0; x < d->ow; x++, out += d->c)
        for (int c0 = 0; c0 < d->c; c0 += 16) {
            int kx0, kx1, ix0 = nn_dwrow_taps(d, x, &kx0, &kx1);
            float32x4_t v[4];
            for (int q = 0; q < 4; q++) v[q] = vld1q_f32(w + c0 + 4 * q);
            for (int ky = 0; ky < d->kh; ky++) {
                if (!rows[ky]) continue;
                for (int kx = kx0; kx < kx1; kx++) {
                    const float *in = rows[ky] + (size_t)(ix0 + kx) * d->c + c0, *wt = w + (1 + ky * d->kw + kx) * d->cp + c0;
                    for (int q = 0; q < 4; q++) v[q] = vfmaq_f32(v[q], vld1q_f32(in + 4 * q), vld1q_f32(wt + 4 * q));
                }
            }
            for (int q = 0; q < 4; q++) v[q] = nn__epi4(v[q], e, e->prelu ? e->prelu + c0 + 4 * q : NULL, vmin, vmax);
            nn__store16(out + c0, v, d->c - c0 < 16 ? d->c - c0 : 16);
        }
}

const nn_kernel_set nn_kernels_neon = {"neon", 6, 16, nn_igemm_6x16_neon, nn_dwconv_16_neon, nn__wino_input_tile,
                                        nn__wino_output_tile};
#endif
