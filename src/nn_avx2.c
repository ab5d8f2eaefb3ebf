/* nn_avx2.c — the AVX2+FMA kernel set (x86-64). Compiled with -mavx2 -mfma; nn.c only calls
 * it after checking the CPU and the OS (CPUID + XGETBV), so older CPUs never reach it.
 *
 * nn_igemm_6x16_fma3: 6 output pixels x 16 output channels = 12 ymm accumulators. Each step
 * loads 16 weights (2 ymm), broadcasts one input value per row and issues 12 FMAs; 2 FMA units
 * make that 6 cycles, against 8 loads on 2 load ports: the kernel is FMA-bound, as it should be.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include "nn_kernels.h"
#include "nn_winograd.h"

static inline __m256 nn__epi8(__m256 v, const nn_epilogue *e, const float *slope, __m256 vmin, __m256 vmax) {
    if (e->leaky) {
        __m256 s = slope ? _mm256_loadu_ps(slope) : _mm256_set1_ps(e->leak);
        v = _mm256_blendv_ps(v, _mm256_mul_ps(v, s), v);   /* sign bit set -> scaled */
    }
    return _mm256_min_ps(_mm256_max_ps(v, vmin), vmax);
}

static inline void nn__store16(float *c, __m256 lo, __m256 hi, int nc) {
    if (nc == 16) {
        _mm256_storeu_ps(c, lo);
        _mm256_storeu_ps(c + 8, hi);
        return;
    }
    float tmp[16];
    _mm256_storeu_ps(tmp, lo);
    _mm256_storeu_ps(tmp + 8, hi);
    for (int j = 0; j < nc; j++) c[j] = tmp[j];
}

static void nn_igemm_6x16_fma3(int mr, int nc, int taps, int cin, const float *const *a,
                               const float *w, float *c, size_t ldc, const nn_epilogue *e) {
    __m256 c00 = _mm256_loadu_ps(w), c01 = _mm256_loadu_ps(w + 8);
    __m256 c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01, c40 = c00, c41 = c01,
           c50 = c00, c51 = c01;
    const float *wk = w + 16;
    for (int t = 0; t < taps; t++) {
        /* rows past mr alias row 0: computed, never stored */
        const float *a0 = a[t], *a1 = a[(mr > 1) * taps + t], *a2 = a[(mr > 2) * 2 * taps + t],
                    *a3 = a[(mr > 3) * 3 * taps + t], *a4 = a[(mr > 4) * 4 * taps + t],
                    *a5 = a[(mr > 5) * 5 * taps + t];
        for (int k = 0; k < cin; k++, wk += 16) {
            __m256 b0 = _mm256_loadu_ps(wk), b1 = _mm256_loadu_ps(wk + 8), v;
            v = _mm256_broadcast_ss(a0 + k), c00 = _mm256_fmadd_ps(v, b0, c00), c01 = _mm256_fmadd_ps(v, b1, c01);
            v = _mm256_broadcast_ss(a1 + k), c10 = _mm256_fmadd_ps(v, b0, c10), c11 = _mm256_fmadd_ps(v, b1, c11);
            v = _mm256_broadcast_ss(a2 + k), c20 = _mm256_fmadd_ps(v, b0, c20), c21 = _mm256_fmadd_ps(v, b1, c21);
            v = _mm256_broadcast_ss(a3 + k), c30 = _mm256_fmadd_ps(v, b0, c30), c31 = _mm256_fmadd_ps(v, b1, c31);
            v = _mm256_broadcast_ss(a4 + k), c40 = _mm256_fmadd_ps(v, b0, c40), c41 = _mm256_fmadd_ps(v, b1, c41);
            v = _mm256_broadcast_ss(a5 + k), c50 = _mm256_fmadd_ps(v, b0, c50), c51 = _mm256_fmadd_ps(v, b1, c51);
        }
    }
    __m256 vmin = _mm256_set1_ps(e->min), vmax = _mm256_set1_ps(e->max);
    const float *s0 = e->prelu, *s1 = e->prelu ? e->prelu + 8 : NULL;
    __m256 lo[6] = {c00, c10, c20, c30, c40, c50}, hi[6] = {c01, c11, c21, c31, c41, c51};
    for (int r = 0; r < mr; r++) {
        if (e->residual) {   /* may read up to 15 floats past a row: inside the tensor padding */
            lo[r] = _mm256_add_ps(lo[r], _mm256_loadu_ps(e->residual + r * ldc));
            hi[r] = _mm256_add_ps(hi[r], _mm256_loadu_ps(e->residual + r * ldc + 8));
        }
        nn__store16(c + r * ldc, nn__epi8(lo[r], e, s0, vmin, vmax), nn__epi8(hi[r], e, s1, vmin, vmax), nc);
    }
}

static void nn_dwconv_16_fma3(const nn_dwrow *d, const float *const *rows, const float *w,
                              float *out, const nn_epilogue *e) {
    __m256 vmin = _mm256_set1_ps(e->min), vmax = _mm256_set1_ps(e->max);
    for (int x = 0; x < d->ow; x++, out += d->c)
        for (int c0 = 0; c0 < d->c; c0 += 16) {
            int kx0, kx1, ix0 = nn_dwrow_taps(d, x, &kx0, &kx1);
            __m256 lo = _mm256_loadu_ps(w + c0), hi = _mm256_loadu_ps(w + c0 + 8);
            for (int ky = 0; ky < d->kh; ky++) {
                if (!rows[ky]) continue;
                for (int kx = kx0; kx < kx1; kx++) {
                    const float *in = rows[ky] + (size_t)(ix0 + kx) * d->c + c0, *wt = w + (1 + ky * d->kw + kx) * d->cp + c0;
                    lo = _mm256_fmadd_ps(_mm256_loadu_ps(in), _mm256_loadu_ps(wt), lo);
                    hi = _mm256_fmadd_ps(_mm256_loadu_ps(in + 8), _mm256_loadu_ps(wt + 8), hi);
                }
            }
            const float *s = e->prelu ? e->prelu + c0 : NULL;
            nn__store16(out + c0, nn__epi8(lo, e, s, vmin, vmax), nn__epi8(hi, e, s ? s + 8 : NULL, vmin, vmax),
                        d->c - c0 < 16 ? d->c - c0 : 16);
        }
}

const nn_kernel_set nn_kernels_avx2 = {"avx2", 6, 16, nn_igemm_6x16_fma3, nn_dwconv_16_fma3, nn__wino_input_tile,
                                        nn__wino_output_tile};
#endif
