/* nn_int8_neon.c — the int8 kernel for NEON (aarch64, where NEON is always present), without
 * the optional dot-product extension: bytes widened to int16 and multiply-accumulated into
 * int32 lanes (smlal), exact like every int8 kernel.
 *
 * nn_q8_igemm_4x16_neon: 4 output pixels x 16 channels = 16 q-register accumulators. Per 4
 * input channels: one de-interleaving load (vld4q_s8) turns the panel's 16 channels x 4
 * bytes into 4 registers of 16 channels, one per input channel, widened to 8 registers of
 * int16; each row's 4 inputs, widened, are multiplied in by lane (smlal by element).
 */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>
#include "nn_int8.h"

static inline int16x8_t nn__in4(const uint8_t *p) {   /* 4 bytes -> int16 lanes 0..3 */
    uint32_t v;
    memcpy(&v, p, 4);
    return vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v))));
}

/* Input channel I (0..3) of the group into the 4 accumulators of row R. */
#define NN__MAC(R, I)                                                                          \
    acc[R][0] = vmlal_laneq_s16(acc[R][0], vget_low_s16(wl[I]), x, I),                          \
    acc[R][1] = vmlal_high_laneq_s16(acc[R][1], wl[I], x, I),                                   \
    acc[R][2] = vmlal_laneq_s16(acc[R][2], vget_low_s16(wh[I]), x, I),                          \
    acc[R][3] = vmlal_high_laneq_s16(acc[R][3], wh[I], x, I)
#define NN__ROW(R) x = nn__in4(ar[R] + k), NN__MAC(R, 0), NN__MAC(R, 1), NN__MAC(R, 2), NN__MAC(R, 3)

static void nn_q8_igemm_4x16_neon(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w,
                                  size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e) {
    (void)panel;
    int32x4_t acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    const int8_t *wk = w;
    for (int t = 0; t < taps; t++) {
        const uint8_t *ar[4];
        for (int r = 0; r < 4; r++) ar[r] = a[(r < mr ? r : 0) * taps + t];   /* rows past mr alias row 0 */
        for (int k = 0; k < kc; k += 4, wk += 64) {
            int8x16x4_t wv = vld4q_s8(wk);   /* wv.val[i]: input channel k + i of the 16 output channels */
            int16x8_t wl[4], wh[4], x;
            for (int i = 0; i < 4; i++) wl[i] = vmovl_s8(vget_low_s8(wv.val[i])), wh[i] = vmovl_high_s8(wv.val[i]);
            NN__ROW(0);
            NN__ROW(1);
            NN__ROW(2);
            NN__ROW(3);
        }
    }
    for (int r = 0; r < mr; r++) {
        int32_t s[16];
        for (int q = 0; q < 4; q++) vst1q_s32(s + 4 * q, acc[r][q]);
        for (int j = 0; j < nc; j++)
            c[r * ldc + j] = nn_q8_out(s[j], e, j, e->e.residual ? e->e.residual + r * ldc + j : NULL);
    }
}

const nn_q8_kernel_set nn_q8_kernels_neon = {"neon", 4, 16, nn_q8_igemm_4x16_neon, nn_q8_minmax_c, nn_q8_quantize_c};
#endif
