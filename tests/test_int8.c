/* test_int8.c — the int8 micro-kernels against the C kernel, bit for bit (XNNPACK style): every
 * int8 kernel set this CPU runs, on every tile edge (rows 1..MR, channels 1..NR), tap counts
 * 1 and 3, bytes per tap that are not multiples of the vector (4, 12, 20, 36, 68), the zero
 * point at 0, in between and 255, and each epilogue (linear, ReLU + residual, ReLU6, leaky,
 * PReLU). Also: the quantisers (min/max and u8 conversion) equal the C ones on tails and NaN,
 * and the kernels never write outside their tile. The op: int8 convolutions (strides,
 * paddings, RGB stems, residuals, dense) within the error bound of quantising their input,
 * against the fp32 layer of the same int8 weights, and bit-identical on every kernel set and
 * thread count. The network-level accuracy of int8 is in test_identity.c. */
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

/* ------------------------------------------------------------------ the op --- */

static void put(unsigned char *p, uint64_t v, int n) { for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* A container (docs/WEIGHTS.md) with l.w [cout,kh,kw,cin] as int8 (per-row scales, as the
 * converter stores it) and l.b as f32: a reduced twin of test_nn.c's writer. */
static unsigned char *container(int cout, int kh, int kw, int cin, const float *w, const float *b, size_t *size) {
    size_t row = (size_t)kh * kw * cin, nw = cout * row, poff = 64 + 2 * 96 + 64 - (64 + 2 * 96) % 64;
    size_t wo = 0, so = (nw + 63) / 64 * 64, bo = so + (cout * 4 + 63) / 64 * 64, psize = bo + (cout * 4 + 63) / 64 * 64;
    unsigned char *c = aligned_alloc(64, poff + psize);
    memset(c, 0, poff + psize);
    memcpy(c, "HSNN", 4), put(c + 4, 1, 4), put(c + 8, 2, 4), put(c + 12, 96, 4);
    put(c + 16, 64, 8), put(c + 24, poff, 8), put(c + 32, psize, 8), memcpy(c + 48, "test", 4);
    unsigned char *e = c + 64;
    strcpy((char *)e, "l.w"), e[48] = 2, e[49] = 4;
    int shape[4] = {cout, kh, kw, cin};
    for (int d = 0; d < 4; d++) put(e + 52 + 4 * d, shape[d], 4);
    put(e + 72, wo, 8), put(e + 80, nw, 8), put(e + 88, so, 8);
    for (int o = 0; o < cout; o++) {
        float s = nn_quantize_row(w + o * row, (int)row, (int8_t *)(c + poff + wo) + o * row);
        memcpy(c + poff + so + 4 * o, &s, 4);
    }
    e += 96;
    strcpy((char *)e, "l.b"), e[48] = 0, e[49] = 1;
    put(e + 52, cout, 4), put(e + 56, 1, 4), put(e + 60, 1, 4), put(e + 64, 1, 4), put(e + 72, bo, 8), put(e + 80, cout * 4, 8);
    memcpy(c + poff + bo, b, cout * 4);
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a 64 over the little-endian words after the header */
    for (size_t i = 64; i + 8 <= poff + psize; i += 8) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) v = v << 8 | c[i + k];
        h = (h ^ v) * 0x100000001b3ull;
    }
    put(c + 40, h, 8);
    *size = poff + psize;
    return c;
}

typedef struct { nn_layer l; int stride, dense, residual; nn_padding pad; nn_act act; } op_net;

static int op_forward(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const op_net *o = net;
    if (o->dense) out[0] = nn_dense(c, x, &o->l, o->act);
    else if (!o->residual) out[0] = nn_conv2d(c, x, &o->l, o->stride, o->pad, o->act);
    else {                   /* the residual: the plain convolution's output */
        nn_tensor r = nn_conv2d(c, x, &o->l, o->stride, o->pad, nn_linear);
        out[0] = nn_conv2d_add(c, x, &o->l, o->stride, o->pad, r, o->act);
    }
    return 1;
}

/* Runs net on in with a kernel set and thread count; the output is copied to out. */
static int op_run(op_net *net, const char *isa, int threads, const float *in, int h, int w, int cin, float *out, size_t *n) {
    char err[NN_ERR];
    nn_ctx *c = nn_ctx_new("op", err);
    nn_tensor y[NN_MAX_OUTPUTS];
    nn_set_isa(isa, err), nn_set_threads(threads);
    int rc = c && nn_run(c, op_forward, net, in, h, w, cin, y, err) == 1 ? 0 : -1;
    if (rc == 0) *n = nn_numel(y[0]), memcpy(out, y[0].data, *n * sizeof(float));
    else CHECK(0, "int8 op runs: %s", err);
    nn_ctx_free(c);
    return rc;
}

/* One random case: the fp32 layer (the same int8 weights, dequantised) with the reference
 * loops against the int8 layer on the C kernels, and the int8 layer on every kernel set at 1
 * and 2 threads against that. Bound per output: half an input step times the channel's
 * sum of |w| (x2 with the residual, which carries the same error), plus float rounding. */
static void op_case(int trial, double *worst, int *over, int *differ) {
    int kh = trial % 4 == 0 ? 7 : 1 + 2 * (int)(rnd() % 3), kw = kh, cin = trial % 4 == 0 ? 3 : 1 + (int)(rnd() % 40);
    int h = 1 + (int)(rnd() % 20), w = 1 + (int)(rnd() % 20), cout = 1 + (int)(rnd() % 70);
    op_net net = {.stride = 1 + (int)(rnd() % 2), .dense = trial % 7 == 6, .residual = trial % 3 == 1,
                  .pad = rnd() % 2 ? NN_SAME : NN_VALID, .act = trial % 2 ? nn_relu : nn_leaky(0.25f)};
    if (trial % 10 == 5) h = w = 40 + (int)(rnd() % 8), kh = kw = 3, cin = 32, cout = 64;   /* split across threads */
    if (net.pad == NN_VALID && (h < kh || w < kw)) net.pad = NN_SAME;
    if (net.dense) cin = h * w * cin, h = w = 1, kh = kw = 1, net.residual = 0;
    if (net.residual) net.stride = 1, net.pad = NN_SAME;
    size_t nw = (size_t)cout * kh * kw * cin, nin = (size_t)h * w * cin, nout = (size_t)h * w * cout + 64, n = 0, n8 = 0;
    float *wt = malloc(nw * 4), *b = malloc(cout * 4), *in = malloc(nin * 4), *y32 = malloc(nout * 4), *y8 = malloc(nout * 4),
          *yk = malloc(nout * 4), *absw = calloc(cout, 4);
    for (size_t i = 0; i < nw; i++) wt[i] = (float)((int)(rnd() % 2001) - 1000) / 1000;
    for (int i = 0; i < cout; i++) b[i] = (float)((int)(rnd() % 201) - 100) / 100;
    for (size_t i = 0; i < nin; i++) in[i] = (float)((int)(rnd() % 2001) - 700) / 1000;
    size_t size;
    unsigned char *buf = container(cout, kh, kw, cin, wt, b, &size);
    nn_model *m = NULL;
    char err[NN_ERR];
    if (nn_model_parse(&m, buf, size, "int8 op", err) != 0) {
        CHECK(0, "int8 op: the test container parses: %s", err);
        free(buf);
        return;
    }
    op_net net8 = net;
    nn_runtime fp32, int8;   /* the layer is built by the model's runtime's precision */
    nn_runtime_init(&fp32, "reference", "fp32", err), nn_runtime_init(&int8, "reference", "int8", err);
    nn_model_runtime(m, &fp32), nn_layer_conv_int8(m, &net.l, "l", kh, kw, cin, cout);
    nn_model_runtime(m, &int8), nn_layer_conv_int8(m, &net8.l, "l", kh, kw, cin, cout);
    const nn_wtensor *t = nn_model_find(m, "l.w");
    for (size_t i = 0; i < nw; i++) absw[i / (nw / cout)] += fabsf(((const int8_t *)t->data)[i] * t->scales[i / (nw / cout)]);
    float sa;
    int32_t zp;
    nn_q8_params(&nn_q8_kernels_c, in, nin, &sa, &zp);
    if (net.l.q8 || !net8.l.q8) CHECK(0, "int8 op: precision fp32 loads fp32 (%d), int8 loads int8 (%d)", !net.l.q8, !!net8.l.q8);
    else if (op_run(&net, "reference", 1, in, h, w, cin, y32, &n) == 0 && op_run(&net8, "reference", 1, in, h, w, cin, y8, &n8) == 0) {
        for (size_t i = 0; i < n; i++) {
            double bound = (net.residual ? 2 : 1) * (0.5 * sa * absw[i % cout] * 1.001) + 1e-5 * (1 + fabs(y32[i])), d = fabs(y8[i] - y32[i]);
            *over += d > bound;
            *worst = d / bound > *worst ? d / bound : *worst;
        }
        const char *sets[] = {"portable", "avx2", "avx512", "neon"};
        for (int s = 0; s < 4; s++)
            for (int th = 1; th <= 2; th++)
                if (nn_set_isa(sets[s], err) == 0 && op_run(&net8, sets[s], th, in, h, w, cin, yk, &n8) == 0)
                    *differ += memcmp(yk, y8, n * sizeof(float)) != 0;
    }
    nn_layer_free(&net.l), nn_layer_free(&net8.l);
    nn_model_close(m);
    free(buf), free(wt), free(b), free(in), free(y32), free(y8), free(yk), free(absw);
}

static void test_op(void) {
    char was[8], err[NN_ERR];
    snprintf(was, sizeof was, "%s", nn_isa());
    double worst = 0;
    int over = 0, differ = 0, cases = 60;
    for (int i = 0; i < cases; i++) op_case(i, &worst, &over, &differ);
    nn_set_isa(was, err), nn_set_threads(0);
    nn_runtime rt;
    CHECK(nn_runtime_init(&rt, "reference", "fp16", err) == -1 && strstr(err, "not one of int8, fp32"),
          "int8 op: a runtime with the precision fp16 is refused: %s", err);
    CHECK(over == 0, "int8 op: %d cases (7x7 RGB stems, 1x1-5x5, strides 1-2, SAME/VALID, residual, dense): %d outputs "
          "beyond the input-quantisation bound; worst at %.2f of it", cases, over, worst);
    CHECK(differ == 0, "int8 op: every kernel set this CPU runs, 1 and 2 threads, equals the C kernels bit for bit (%d runs differ)",
          differ);
}

int main(void) {
    fill();
    test_kernels();
    test_quantizers();
    test_op();
    return test_done();
}
