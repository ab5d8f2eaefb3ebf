/* nn_avx512.c — the AVX-512 kernel set (x86-64). Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mfma; nn.c only calls it after checking the CPU (CPUID) and that the
 * OS saves the opmask and ZMM registers (XGETBV), so other CPUs never reach it.
 *
 * nn_igemm_12x32_avx512: 12 output pixels x 32 output channels (two adjacent 16-channel
 * panels of the common packed layout, so packing stays ISA-independent): 24 zmm accumulators.
 * Each step loads 2 x 16 weights, broadcasts one input value per pixel and issues 24 FMAs:
 * 14 loads per 24 FMAs, and 24 independent chains, three times the 4-cycle latency x 2
 * full-width FMA units. One panel at a time (12 x 16, 13 loads per 12 FMAs) measured 75% of
 * the FMA peak on a 3x3 64-channel convolution, two panels 85-90%. A lone last panel (cout not a
 * multiple of 32) and the last tile of a convolution run the same code with one panel and
 * 8 or 4 rows, so a small feature map does not pay for 12.
 *
 * nn_dwconv_avx512: 3x3 and 5x5 depthwise keep the panel's 16-channel weights of every tap
 * in registers and sweep the output row under them (one load per tap instead of two); other
 * kernel sizes use the AVX2 kernel, which is as fast for them as a twin would be.
 *
 * Channel remainders use k-masks (masked slope and residual loads, masked stores) instead of
 * scalar tails; nothing reads or writes past channel nc.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include "nn_kernels.h"
#include "nn_winograd.h"

#define NN__INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define NN__UNROLL _Pragma("unroll")   /* loops over taps: fully, so the weights stay in registers */
#else
#define NN__UNROLL _Pragma("GCC unroll 25")
#endif

static inline __mmask16 nn__mask(int n) { return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1); }

/* Slope for x < 0 (leaky / PReLU), then the clamp (ReLU, ReLU6). */
NN__INLINE __m512 nn__epi16(__m512 v, const nn_epilogue *e, __m512 slope, __m512 vmin, __m512 vmax) {
    if (e->leaky) v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, slope);
    return _mm512_min_ps(_mm512_max_ps(v, vmin), vmax);
}

/* The MR x (16 NP) tile, MR = 4, 8 or 12 and NP = 1 or 2 panels (constants after inlining:
 * the unused rows and the second panel vanish). Named accumulators, not an array, so that
 * every compiler keeps them in registers. */
#define NN__FMA(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a##r[k]), b, c##r)
#define NN__FMA2(r) v = _mm512_set1_ps(a##r[k]), c##r = _mm512_fmadd_ps(v, b, c##r), d##r = _mm512_fmadd_ps(v, b2, d##r)
NN__INLINE void nn__igemm_avx512(const int MR, const int NP, int mr, int nc, int taps, int cin, const float *const *a,
                                 const float *w, float *c, size_t ldc, const nn_epilogue *e) {
    size_t panel = 16 + (size_t)taps * cin * 16;
    const float *w2 = w + panel;
    __m512 c0 = _mm512_loadu_ps(w), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0,
           c9 = c0, c10 = c0, c11 = c0;
    __m512 d0 = NP > 1 ? _mm512_loadu_ps(w2) : c0, d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0, d8 = d0,
           d9 = d0, d10 = d0, d11 = d0;
    /* the taps of row r start at p_r; rows past mr alias row 0: computed, never stored */
    const float *const *p0 = a, *const *p1 = a + (mr > 1) * taps, *const *p2 = a + (mr > 2) * 2 * taps,
                       *const *p3 = a + (mr > 3) * 3 * taps, *const *p4 = a + (mr > 4) * 4 * taps,
                       *const *p5 = a + (mr > 5) * 5 * taps, *const *p6 = a + (mr > 6) * 6 * taps,
                       *const *p7 = a + (mr > 7) * 7 * taps, *const *p8 = a + (mr > 8) * 8 * taps,
                       *const *p9 = a + (mr > 9) * 9 * taps, *const *p10 = a + (mr > 10) * 10 * taps,
                       *const *p11 = a + (mr > 11) * 11 * taps;
    const float *wk = w + 16, *wk2 = w2 + 16;
    for (int t = 0; t < taps; t++) {
        const float *a0 = p0[t], *a1 = p1[t], *a2 = p2[t], *a3 = p3[t], *a4 = p4[t], *a5 = p5[t], *a6 = p6[t],
                    *a7 = p7[t], *a8 = p8[t], *a9 = p9[t], *a10 = p10[t], *a11 = p11[t];
        if (NP == 1)
            for (int k = 0; k < cin; k++, wk += 16) {
                __m512 b = _mm512_loadu_ps(wk);
                NN__FMA(0), NN__FMA(1), NN__FMA(2), NN__FMA(3);
                if (MR > 4) NN__FMA(4), NN__FMA(5), NN__FMA(6), NN__FMA(7);
                if (MR > 8) NN__FMA(8), NN__FMA(9), NN__FMA(10), NN__FMA(11);
            }
        else
            for (int k = 0; k < cin; k++, wk += 16, wk2 += 16) {
                __m512 b = _mm512_loadu_ps(wk), b2 = _mm512_loadu_ps(wk2), v;
                NN__FMA2(0), NN__FMA2(1), NN__FMA2(2), NN__FMA2(3);
                if (MR > 4) NN__FMA2(4), NN__FMA2(5), NN__FMA2(6), NN__FMA2(7);
                if (MR > 8) NN__FMA2(8), NN__FMA2(9), NN__FMA2(10), NN__FMA2(11);
            }
    }
    __m512 acc[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    __m512 acc2[12] = {d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11};
    __m512 vmin = _mm512_set1_ps(e->min), vmax = _mm512_set1_ps(e->max);
    for (int h = 0; h < NP; h++) {
        int n = nc - 16 * h;
        __mmask16 m = nn__mask(n);
        __m512 slope = e->prelu ? _mm512_maskz_loadu_ps(m, e->prelu + 16 * h) : _mm512_set1_ps(e->leak);
        for (int r = 0; r < mr; r++) {
            __m512 v = h ? acc2[r] : acc[r];
            if (e->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->residual + r * ldc + 16 * h));
            _mm512_mask_storeu_ps(c + r * ldc + 16 * h, m, nn__epi16(v, e, slope, vmin, vmax));
        }
    }
}

static void nn_igemm_12x32_avx512(int mr, int nc, int taps, int cin, const float *const *a,
                                  const float *w, float *c, size_t ldc, const nn_epilogue *e) {
#define NN__TILE(MR) (nc > 16 ? nn__igemm_avx512(MR, 2, mr, nc, taps, cin, a, w, c, ldc, e) \
                              : nn__igemm_avx512(MR, 1, mr, nc, taps, cin, a, w, c, ldc, e))
    if (mr > 8) NN__TILE(12);
    else if (mr > 4) NN__TILE(8);
    else NN__TILE(4);
#undef NN__TILE
}

/* One output pixel, 16 channels: bias, then the taps row by row (the reference's order).
 * CHECKED: some taps may fall outside the input row and are skipped. */
NN__INLINE __m512 nn__dw_pixel(const int KH, const int KW, const int CHECKED, const float *const *rows, int ix0,
                               int iw, int ch, __mmask16 m, const __m512 *wt, __m512 acc) {
NN__UNROLL
    for (int ky = 0; ky < KH; ky++) {
        if (!rows[ky]) continue;
NN__UNROLL
        for (int kx = 0; kx < KW; kx++) {
            int ix = ix0 + kx;
            if (CHECKED && (ix < 0 || ix >= iw)) continue;
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, rows[ky] + (size_t)ix * ch), wt[ky * KW + kx], acc);
        }
    }
    return acc;
}

/* One output row of a KH x KW depthwise convolution, one 16-channel panel at a time with the
 * panel's weights held in registers. The columns whose taps all fall inside the input row
 * (x0 <= x < x1) run without bounds checks. */
NN__INLINE void nn__dwconv_avx512(const int KH, const int KW, const nn_dwrow *d, const float *const *rows,
                                  const float *w, float *out, const nn_epilogue *e) {
    __m512 vmin = _mm512_set1_ps(e->min), vmax = _mm512_set1_ps(e->max);
    int s = d->stride, pl = d->pl, ch = d->c;
    int x0 = (pl + s - 1) / s, x1 = d->iw - KW + pl >= 0 ? (d->iw - KW + pl) / s + 1 : 0;
    if (x1 > d->ow) x1 = d->ow;
    if (x0 > x1) x0 = x1;
    for (int c0 = 0; c0 < ch; c0 += 16) {
        const float *r[5];
        for (int ky = 0; ky < KH; ky++) r[ky] = rows[ky] ? rows[ky] + c0 : NULL;
        __mmask16 m = nn__mask(ch - c0);
        __m512 bias = _mm512_loadu_ps(w + c0), wt[25];
        __m512 slope = e->prelu ? _mm512_maskz_loadu_ps(m, e->prelu + c0) : _mm512_set1_ps(e->leak);
NN__UNROLL
        for (int t = 0; t < KH * KW; t++) wt[t] = _mm512_loadu_ps(w + (size_t)(1 + t) * d->cp + c0);
        for (int x = 0; x < d->ow;) {
            int checked = x < x0 || x >= x1, end = x < x0 ? x0 : x < x1 ? x1 : d->ow;
            for (; x < end; x++) {
                __m512 v = checked ? nn__dw_pixel(KH, KW, 1, r, x * s - pl, d->iw, ch, m, wt, bias)
                                   : nn__dw_pixel(KH, KW, 0, r, x * s - pl, d->iw, ch, m, wt, bias);
                _mm512_mask_storeu_ps(out + (size_t)x * ch + c0, m, nn__epi16(v, e, slope, vmin, vmax));
            }
        }
    }
}

static void nn_dwconv_avx512(const nn_dwrow *d, const float *const *rows, const float *w, float *out,
                             const nn_epilogue *e) {
    if (d->kh == 3 && d->kw == 3) nn__dwconv_avx512(3, 3, d, rows, w, out, e);
    else if (d->kh == 5 && d->kw == 5) nn__dwconv_avx512(5, 5, d, rows, w, out, e);
    else nn_kernels_avx2.dwconv(d, rows, w, out, e);
}

const nn_kernel_set nn_kernels_avx512 = {"avx512", 12, 32, nn_igemm_12x32_avx512, nn_dwconv_avx512, nn__wino_input_tile,
                                          nn__wino_output_tile};
#endif
