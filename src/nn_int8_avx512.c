/* nn_int8_avx512.c — the int8 kernels for AVX-512 with VNNI (x86-64). Compiled with the
 * AVX-512 flags of the Makefile; vpdpbusd is written as inline assembly, so no -mavx512vnni
 * is needed (and gcc 12 copies every accumulator around _mm512_dpbusd_epi32). nn_int8.c
 * only picks these kernels when CPUID says AVX512_VNNI and nn.c runs the avx512 set (which
 * it only does after checking the CPU and the OS).
 *
 * nn_q8_igemm_12x32_vnni: 12 output pixels x 32 output channels (two 16-channel panels, as
 * the float kernel nn_igemm_12x32_avx512), 24 zmm accumulators of int32. Per 4 input
 * channels: 2 weight loads (16 channels x 4 bytes each), one 4-byte broadcast per row and
 * 24 vpdpbusd, each 64 multiply-adds (u8 x s8, summed in int32: exact, no saturation).
 * The epilogue is nn_int8.c's C one in vector form, the same operations in the same order.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "nn_int8.h"

#define NN__INLINE static inline __attribute__((always_inline))

static inline __mmask16 nn__mask(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

NN__INLINE void nn__dpbusd(__m512i *acc, __m512i a, __m512i w) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(*acc) : "v"(a), "v"(w));
}

NN__INLINE __m512i nn__bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc (16 channels of one row) -> floats: (acc - zp wsum) * (sa wscale) + bias + residual,
 * slope, clamp, masked store. */
NN__INLINE void nn__q8_store(__m512i acc, __m512i zs, __m512 s, __m512 bias, __m512 slope, __m512 vmin, __m512 vmax,
                             const nn_q8_epilogue *e, const float *res, float *c, __mmask16 m) {
    __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, zs)), s), bias);
    if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    if (e->e.leaky) v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, slope);
    _mm512_mask_storeu_ps(c, m, _mm512_min_ps(_mm512_max_ps(v, vmin), vmax));
}

#define NN__DP(r) nn__dpbusd(&c##r, nn__bcast4(a##r + k), b)
#define NN__DP2(r) v = nn__bcast4(a##r + k), nn__dpbusd(&c##r, v, b), nn__dpbusd(&d##r, v, b2)
/* The MR x (16 NP) tile, MR = 4, 8 or 12 and NP = 1 or 2 (constants after inlining). */
NN__INLINE void nn__q8_vnni(const int MR, const int NP, int mr, int nc, int taps, int kc, const uint8_t *const *a,
                            const int8_t *w, size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e) {
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0,
            c9 = c0, c10 = c0, c11 = c0;
    __m512i d0 = c0, d1 = c0, d2 = c0, d3 = c0, d4 = c0, d5 = c0, d6 = c0, d7 = c0, d8 = c0, d9 = c0, d10 = c0,
            d11 = c0;
    /* rows past mr alias row 0: computed, never stored */
    const uint8_t *const *p[12];
    for (int r = 0; r < 12; r++) p[r] = a + (r < mr ? r : 0) * taps;
    const int8_t *wk = w, *wk2 = w + panel;
    for (int t = 0; t < taps; t++) {
        const uint8_t *a0 = p[0][t], *a1 = p[1][t], *a2 = p[2][t], *a3 = p[3][t], *a4 = p[4][t], *a5 = p[5][t],
                      *a6 = p[6][t], *a7 = p[7][t], *a8 = p[8][t], *a9 = p[9][t], *a10 = p[10][t], *a11 = p[11][t];
        if (NP == 1)
            for (int k = 0; k < kc; k += 4, wk += 64) {
                __m512i b = _mm512_loadu_si512(wk);
                NN__DP(0), NN__DP(1), NN__DP(2), NN__DP(3);
                if (MR > 4) NN__DP(4), NN__DP(5), NN__DP(6), NN__DP(7);
                if (MR > 8) NN__DP(8), NN__DP(9), NN__DP(10), NN__DP(11);
            }
        else
            for (int k = 0; k < kc; k += 4, wk += 64, wk2 += 64) {
                __m512i b = _mm512_loadu_si512(wk), b2 = _mm512_loadu_si512(wk2), v;
                NN__DP2(0), NN__DP2(1), NN__DP2(2), NN__DP2(3);
                if (MR > 4) NN__DP2(4), NN__DP2(5), NN__DP2(6), NN__DP2(7);
                if (MR > 8) NN__DP2(8), NN__DP2(9), NN__DP2(10), NN__DP2(11);
            }
    }
    __m512i acc[2][12] = {{c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11},
                          {d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11}};
    __m512 vmin = _mm512_set1_ps(e->e.min), vmax = _mm512_set1_ps(e->e.max), sa = _mm512_set1_ps(e->sa);
    __m512i zp = _mm512_set1_epi32(e->zp);
    for (int h = 0; h < NP; h++) {
        __mmask16 m = nn__mask(nc - 16 * h);
        __m512 s = _mm512_mul_ps(sa, _mm512_maskz_loadu_ps(m, e->wscale + 16 * h));
        __m512 bias = _mm512_maskz_loadu_ps(m, e->bias + 16 * h);
        __m512i zs = _mm512_mullo_epi32(zp, _mm512_maskz_loadu_epi32(m, e->wsum + 16 * h));
        __m512 slope = e->e.prelu ? _mm512_maskz_loadu_ps(m, e->e.prelu + 16 * h) : _mm512_set1_ps(e->e.leak);
        for (int r = 0; r < mr; r++)
            nn__q8_store(acc[h][r], zs, s, bias, slope, vmin, vmax, e, e->e.residual ? e->e.residual + r * ldc + 16 * h : NULL,
                         c + r * ldc + 16 * h, m);
    }
}

static void nn_q8_igemm_12x32_vnni(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w,
                                   size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e) {
#define NN__TILE(MR) (nc > 16 ? nn__q8_vnni(MR, 2, mr, nc, taps, kc, a, w, panel, c, ldc, e) \
                              : nn__q8_vnni(MR, 1, mr, nc, taps, kc, a, w, panel, c, ldc, e))
    if (mr > 8) NN__TILE(12);
    else if (mr > 4) NN__TILE(8);
    else NN__TILE(4);
#undef NN__TILE
}

static void nn_q8_minmax_avx512(const float *x, size_t n, float *mn, float *mx) {
    __m512 lo = _mm512_set1_ps(*mn), hi = _mm512_set1_ps(*mx);
    for (size_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(nn__mask((int)(n - i < 16 ? n - i : 16)), x + i);
        lo = _mm512_min_ps(v, lo), hi = _mm512_max_ps(v, hi);   /* NaN in v: the second operand */
    }
    *mn = _mm512_reduce_min_ps(lo), *mx = _mm512_reduce_max_ps(hi);
}

static void nn_q8_quantize_avx512(const float *x, size_t n, float inv, float zph, uint8_t *q) {
    __m512 vi = _mm512_set1_ps(inv), vz = _mm512_set1_ps(zph), top = _mm512_set1_ps(255);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = nn__mask((int)(n - i < 16 ? n - i : 16));
        __m512 f = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vi), vz);
        f = _mm512_min_ps(_mm512_max_ps(f, _mm512_setzero_ps()), top);   /* NaN -> 0 (max's second operand) */
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(f)));
    }
}

const nn_q8_kernel_set nn_q8_kernels_vnni = {"vnni", 12, 32, nn_q8_igemm_12x32_vnni, nn_q8_minmax_avx512,
                                              nn_q8_quantize_avx512};
#endif
