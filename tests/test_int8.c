/* test_int8.c — the int8 micro-kernels against the C kernel, bit for bit (XNNPACK style): every
 * int8 kernel set this CPU runs, on every tile edge (rows 1..MR, channels 1..NR), tap counts
 * 1 and 3, bytes per tap that are not multiples of the vector (4, 12, 20, 36, 68), the zero
 * point at 0, in between and 255, and each epilogue (linear, ReLU + residual, ReLU6, leaky,
 * PReLU). Also: the quantisers (min/max and u8 conversion) equal the C ones on tails and NaN,
 * and the kernels never write outside their tile. The network-level accuracy of int8 is in
 * test_identity.c. */
#include "test.h"
#include "nn_int8.h"

#include <float.h>
#include <stdint.h>

#define MAX_TAPS 3
#define MAX_KC 68
#define MAX_ROWS 12
#define LDC 40            /* output row stride: more than 32 channels, so overruns show */
#define GUARD -12345.0f   /* what the kernels must leave alone */

static uint32_t seed = 12345;
static uint32_t rnd(void) { return seed = seed * 1664525u + 1013904223u, seed >> 8; }

/* Random inputs: rows of MAX_KC bytes per tap, and two panels of weights. */
static uint8_t in[MAX_ROWS * MAX_TAPS][MAX_KC];
static int8_t w[2 * MAX_TAPS * MAX_KC * 16];
static float wscale[32], bias[32], slope[32], residual[MAX_ROWS * LDC];
static int32_t wsum[32];

static void fill(void) {
    for (int r = 0; r < MAX_ROWS * MAX_TAPS; r++)
        for (int k = 0; k < MAX_KC; k++) in[r][k] = rnd() % 7 == 0 ? 255 : rnd() % 7 == 1 ? 0 : (uint8_t)rnd();
    for (size_t i = 0; i < sizeof w; i++) w[i] = rnd() % 9 == 0 ? -128 : rnd() % 9 == 1 ? 127 : (int8_t)rnd();
    for (int j = 0; j < 32; j++) {
        wscale[j] = (rnd() % 1000 + 1) * 1e-6f, bias[j] = (float)(rnd() % 2001) / 1000 - 1;
        slope[j] = (float)(rnd() % 100) / 100, wsum[j] = (int32_t)(rnd() % 20001) - 10000;
    }
    for (int i = 0; i < MAX_ROWS * LDC; i++) residual[i] = (float)(rnd() % 2001) / 500 - 2;
}

/* The C kernel over nc channels (one panel at a time, as it takes 16). */
static void reference(int mr, int nc, int taps, int kc, const uint8_t *const *a, size_t panel, float *c,
                      const nn_q8_epilogue *e) {
    for (int n0 = 0; n0 < nc; n0 += 16) {
        nn_q8_epilogue p = *e;
        p.wscale += n0, p.wsum += n0, p.bias += n0;
        if (p.e.prelu) p.e.prelu += n0;
        if (p.e.residual) p.e.residual += n0;
        nn_q8_kernels_c.igemm(mr, nc - n0 < 16 ? nc - n0 : 16, taps, kc, a, w + (n0 / 16) * panel, panel, c + n0, LDC, &p);
    }
}

/* One kernel set on every edge tile; returns the number of mismatching tiles. */
static int kernel_cases(const nn_q8_kernel_set *k, int *tiles) {
    static const int kcs[] = {4, 12, 20, 36, 68}, zps[] = {0, 77, 255};
    static float got[MAX_ROWS * LDC], want[MAX_ROWS * LDC];
    const uint8_t *a[MAX_ROWS * MAX_TAPS];
    int bad = 0;
    for (int epi = 0; epi < 5; epi++)
        for (int ti = 0; ti < 2; ti++)
            for (int ki = 0; ki < 5; ki++) {
                int taps = ti ? MAX_TAPS : 1, kc = kcs[ki], zp = zps[(epi + ki) % 3];
                size_t panel = (size_t)taps * kc * 16;
                nn_q8_epilogue e = {0.0137f, zp, wscale, wsum, bias, {-FLT_MAX, FLT_MAX, 0, 0, NULL, NULL}};
                if (epi == 1) e.e.min = 0, e.e.residual = residual;
                if (epi == 2) e.e.min = 0, e.e.max = 6;
                if (epi == 3) e.e.leaky = 1, e.e.leak = 0.2f;
                if (epi == 4) e.e.leaky = 1, e.e.prelu = slope;
                for (int mr = 1; mr <= k->mr; mr++)
                    for (int nc = 1; nc <= k->nr; nc++) {
                        for (int r = 0; r < mr * taps; r++) a[r] = in[(r * 7 + ki) % (MAX_ROWS * MAX_TAPS)];
                        for (int i = 0; i < MAX_ROWS * LDC; i++) got[i] = want[i] = GUARD;
                        k->igemm(mr, nc, taps, kc, a, w, panel, got, LDC, &e);
                        reference(mr, nc, taps, kc, a, panel, want, &e);
                        bad += memcmp(got, want, sizeof got) != 0;
                        ++*tiles;
                    }
            }
    return bad;
}

static void test_kernels(void) {
    const nn_q8_kernel_set *k;
    for (int i = 1; (k = nn_q8_kernels_at(i)); i++) {
        int tiles = 0, bad = kernel_cases(k, &tiles);
        CHECK(bad == 0, "int8 kernel %s (%dx%d): %d of %d edge tiles differ from the C kernel (bit for bit, guards intact)",
              k->name, k->mr, k->nr, bad, tiles);
    }
    /* the C kernel itself against plain arithmetic on one tile: 3 taps, 20 bytes, zp 77 */
    const uint8_t *a[4 * MAX_TAPS];
    for (int r = 0; r < 4 * MAX_TAPS; r++) a[r] = in[r];
    float c[4 * LDC];
    nn_q8_epilogue e = {0.5f, 77, wscale, wsum, bias, {-FLT_MAX, FLT_MAX, 0, 0, NULL, NULL}};
    nn_q8_kernels_c.igemm(4, 16, MAX_TAPS, 20, a, w, (size_t)MAX_TAPS * 20 * 16, c, LDC, &e);
    int bad = 0;
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 16; j++) {
            int32_t s = 0;
            for (int t = 0; t < MAX_TAPS; t++)
                for (int kk = 0; kk < 20; kk++) s += a[r * MAX_TAPS + t][kk] * w[(t * 20 + kk / 4 * 4) * 16 + j * 4 + kk % 4];
            float v = (float)(s - 77 * wsum[j]) * (0.5f * wscale[j]) + bias[j];
            bad += c[r * LDC + j] != v;
        }
    CHECK(bad == 0, "int8 C kernel: equals the sum of u8 x s8 products over the packed layout (%d of 64 differ)", bad);
}

/* min/max and the u8 conversion of every set against C, on lengths with tails and a NaN. */
static void test_quantizers(void) {
    enum { N = 1000 };
    static float x[N];
    static uint8_t q0[N], q1[N];
    for (int i = 0; i < N; i++) x[i] = (float)((int)(rnd() % 20001) - 5000) / 1000;
    x[417] = NAN, x[3] = -5, x[900] = 15;
    const nn_q8_kernel_set *k;
    for (int i = 1; (k = nn_q8_kernels_at(i)); i++) {
        int bad = 0;
        for (int n = 1; n <= N; n += n < 40 ? 1 : 97) {
            float mn0 = 0, mx0 = 0, mn1 = 0, mx1 = 0;
            nn_q8_kernels_c.minmax(x, n, &mn0, &mx0);
            k->minmax(x, n, &mn1, &mx1);
            float inv = 255 / (mx0 - mn0), zph = -mn0 * inv + 0.5f;
            memset(q1, 0xAA, sizeof q1);
            nn_q8_kernels_c.quantize(x, n, inv, zph, q0);
            k->quantize(x, n, inv, zph, q1);
            bad += mn0 != mn1 || mx0 != mx1 || memcmp(q0, q1, n) != 0 || (n < N && q1[n] != 0xAA);
        }
        CHECK(bad == 0, "int8 quantiser %s: min, max and u8 values equal the C ones on 1..1000 values with a NaN (%d lengths differ)",
              k->name, bad);
    }
    float mn = 0, mx = 0;
    nn_q8_kernels_c.minmax(x, N, &mn, &mx);
    nn_q8_kernels_c.quantize(x, N, 255 / (mx - mn), -mn * 255 / (mx - mn) + 0.5f, q0);
    CHECK(mn == -5 && mx == 15 && q0[417] == 0, "int8 quantiser: range [%g, %g] of values in [-5, 15], NaN -> %d", mn, mx, q0[417]);
    float sa;
    int32_t zp;
    float pos[4] = {1, 2, 3, 4};
    nn_q8_params(&nn_q8_kernels_c, pos, 4, &sa, &zp);   /* an all-positive range still holds 0.0, at zp 0 */
    CHECK(zp == 0 && fabsf(sa - 4.0f / 255) < 1e-9f, "int8 params of [1, 4]: scale %g (4/255), zero point %d (0)", sa, zp);
    float zero[4] = {0};
    nn_q8_params(&nn_q8_kernels_c, zero, 4, &sa, &zp);
    CHECK(sa == 1 && zp == 0, "int8 params of zeros: scale %g, zero point %d (1, 0)", sa, zp);
}

int main(void) {
    fill();
    test_kernels();
    test_quantizers();
    return test_done();
}
