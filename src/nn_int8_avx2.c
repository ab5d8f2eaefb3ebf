/* nn_int8_avx2.c — the int8 kernels for AVX2 without VNNI (x86-64), compiled with -mavx2
 * -mfma and only used with the avx2 and avx512 float sets (which nn.c checks).
 *
 * Without vpdpbusd the bytes are widened to int16 and multiplied with vpmaddwd (pairs of
 * int16 products summed into int32: exact). vpmaddubsw would take the bytes directly but
 * saturates its int16 sums (255 x 127 x 2 > 32767), so it is not used.
 *
 * nn_q8_igemm_4x16_avx2: 4 output pixels x 16 channels, as two halves of 8 channels. The 4
 * weights of one channel are adjacent (the VNNI layout), so 16 bytes widened are 4 channels
 * x 4 weights, and the row's 4 inputs widened and repeated 4 times meet them in one
 * vpmaddwd: int32 lanes (channel, first pair) and (channel, second pair). Two such
 * accumulators per row and half; at the end vphaddd adds the pairs and a permute puts the
 * channels in order.
 *
 * nn_q8_igemm_6x16_avxvnni (below) is the same tile with AVX-VNNI where the CPU has it.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "nn_int8.h"

#define NN__INLINE static inline __attribute__((always_inline))

NN__INLINE __m256i nn__rep4(const uint8_t *p) {   /* 4 bytes -> 16 x int16: a0 a1 a2 a3 a0 a1 ... */
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_cvtepu8_epi16(_mm_set1_epi32(v));
}

/* Channels 8h..8h+7 of the panel for the tile: int32 sums of rows 0..3 in out[r]. */
NN__INLINE void nn__q8_half(int taps, int kc, const uint8_t *const *p[4], const int8_t *w, __m256i out[4]) {
    __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
    for (int t = 0; t < taps; t++) {
        const uint8_t *a0 = p[0][t], *a1 = p[1][t], *a2 = p[2][t], *a3 = p[3][t];
        const int8_t *wk = w + (size_t)t * kc * 16;
        for (int k = 0; k < kc; k += 4, wk += 64) {
            __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wk));        /* channels +0..3 */
            __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wk + 16))); /* channels +4..7 */
            __m256i v;
            v = nn__rep4(a0 + k), l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(v, wl)), h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(v, wh));
            v = nn__rep4(a1 + k), l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(v, wl)), h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(v, wh));
            v = nn__rep4(a2 + k), l2 = _mm256_add_epi32(l2, _mm256_madd_epi16(v, wl)), h2 = _mm256_add_epi32(h2, _mm256_madd_epi16(v, wh));
            v = nn__rep4(a3 + k), l3 = _mm256_add_epi32(l3, _mm256_madd_epi16(v, wl)), h3 = _mm256_add_epi32(h3, _mm256_madd_epi16(v, wh));
        }
    }
    /* hadd within 128-bit lanes gives channels 0 1 4 5 | 2 3 6 7; 64-bit permute 0 2 1 3 */
    out[0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(l0, h0), 0xd8);
    out[1] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(l1, h1), 0xd8);
    out[2] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(l2, h2), 0xd8);
    out[3] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(l3, h3), 0xd8);
}

/* Channels 8h..8h+7 (n of them) of rows 0..mr-1 from their int32 sums: the affine part in
 * vectors (the C kernel's operations, in its order), residual and activation in its scalar
 * code. The per-channel arrays are padded to 32 channels, so 8 are always readable. */
static void nn__q8_out8(const __m256i *acc, int mr, int h, int n, float *c, size_t ldc, const nn_q8_epilogue *e) {
    __m256 s = _mm256_mul_ps(_mm256_set1_ps(e->sa), _mm256_loadu_ps(e->wscale + 8 * h));
    __m256 bias = _mm256_loadu_ps(e->bias + 8 * h);
    __m256i zs = _mm256_mullo_epi32(_mm256_set1_epi32(e->zp), _mm256_loadu_si256((const __m256i *)(e->wsum + 8 * h)));
    for (int r = 0; r < mr; r++) {
        float tmp[8];
        _mm256_storeu_ps(tmp, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r], zs)), s), bias));
        float *out = c + r * ldc + 8 * h;
        const float *res = e->e.residual ? e->e.residual + r * ldc + 8 * h : NULL;
        for (int j = 0; j < n; j++) {
            float x = tmp[j];
            if (res) x = x + res[j];
            if (e->e.leaky && x < 0) x = x * (e->e.prelu ? e->e.prelu[8 * h + j] : e->e.leak);
            out[j] = x < e->e.min ? e->e.min : x > e->e.max ? e->e.max : x;
        }
    }
}

static void nn_q8_igemm_4x16_avx2(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w,
                                  size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e) {
    (void)panel;
    const uint8_t *const *p[4];
    for (int r = 0; r < 4; r++) p[r] = a + (r < mr ? r : 0) * taps;   /* rows past mr alias row 0 */
    for (int h = 0; h < 2 && 8 * h < nc; h++) {
        __m256i acc[4];
        nn__q8_half(taps, kc, p, w + 32 * h, acc);
        nn__q8_out8(acc, mr, h, nc - 8 * h < 8 ? nc - 8 * h : 8, c, ldc, e);
    }
}

/* --- AVX-VNNI (the VEX-encoded, 256-bit vpdpbusd of CPUs with AVX-VNNI but maybe no
 * AVX-512: Intel since Alder Lake, AMD since Zen 5), as inline assembly like the AVX-512 one.
 * nn_q8_igemm_6x16_avxvnni: 6 pixels x 16 channels, 12 ymm accumulators; per 4 input
 * channels 2 weight loads (8 channels x 4 bytes each), 6 broadcasts, 12 vpdpbusd. */
NN__INLINE void nn__vpdpbusd(__m256i *acc, __m256i a, __m256i w) {
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(*acc) : "x"(a), "x"(w));
}

NN__INLINE __m256i nn__bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

#define NN__DP(r) v = nn__bcast4(a##r + k), nn__vpdpbusd(&c##r##0, v, b0), nn__vpdpbusd(&c##r##1, v, b1)
static void nn_q8_igemm_6x16_avxvnni(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w,
                                     size_t panel, float *c, size_t ldc, const nn_q8_epilogue *e) {
    (void)panel;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
            c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const int8_t *wk = w;
    for (int t = 0; t < taps; t++) {
        /* rows past mr alias row 0: computed, never stored */
        const uint8_t *a0 = a[t], *a1 = a[(mr > 1) * taps + t], *a2 = a[(mr > 2) * 2 * taps + t],
                      *a3 = a[(mr > 3) * 3 * taps + t], *a4 = a[(mr > 4) * 4 * taps + t], *a5 = a[(mr > 5) * 5 * taps + t];
        for (int k = 0; k < kc; k += 4, wk += 64) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)wk), b1 = _mm256_loadu_si256((const __m256i *)(wk + 32)), v;
            NN__DP(0), NN__DP(1), NN__DP(2), NN__DP(3), NN__DP(4), NN__DP(5);
        }
    }
    __m256i lo[6] = {c00, c10, c20, c30, c40, c50}, hi[6] = {c01, c11, c21, c31, c41, c51};
    nn__q8_out8(lo, mr, 0, nc < 8 ? nc : 8, c, ldc, e);
    if (nc > 8) nn__q8_out8(hi, mr, 1, nc - 8, c, ldc, e);
}
#undef NN__DP

static void nn_q8_minmax_avx2(const float *x, size_t n, float *mn, float *mx) {
    __m256 lo = _mm256_set1_ps(*mn), hi = _mm256_set1_ps(*mx);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        lo = _mm256_min_ps(v, lo), hi = _mm256_max_ps(v, hi);   /* NaN in v: the second operand */
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo), _mm256_storeu_ps(h, hi);
    for (int k = 0; k < 8; k++) *mn = l[k] < *mn ? l[k] : *mn, *mx = h[k] > *mx ? h[k] : *mx;
    for (; i < n; i++) *mn = x[i] < *mn ? x[i] : *mn, *mx = x[i] > *mx ? x[i] : *mx;
}

static void nn_q8_quantize_avx2(const float *x, size_t n, float inv, float zph, uint8_t *q) {
    __m256 vi = _mm256_set1_ps(inv), vz = _mm256_set1_ps(zph), top = _mm256_set1_ps(255);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vi), vz);
        __m256i v = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(f, _mm256_setzero_ps()), top));
        __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packus_epi16(w16, w16));
    }
    for (; i < n; i++) {
        float f = x[i] * inv + zph;
        q[i] = (uint8_t)(!(f >= 0) ? 0 : f > 255 ? 255 : (int)f);
    }
}

const nn_q8_kernel_set nn_q8_kernels_avx2 = {"avx2", 4, 16, nn_q8_igemm_4x16_avx2, nn_q8_minmax_avx2,
                                              nn_q8_quantize_avx2};
const nn_q8_kernel_set nn_q8_kernels_avxvnni = {"avxvnni", 6, 16, nn_q8_igemm_6x16_avxvnni, nn_q8_minmax_avx2,
                                                 nn_q8_quantize_avx2};
#endif
