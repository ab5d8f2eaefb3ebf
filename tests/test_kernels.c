/* test_kernels.c — each micro-kernel of each kernel set on its own edge tiles (XNNPACK
 * style): the igemm tile with mr = 1..MR rows and nc = 1..NR channels, input channels that
 * are not a multiple of any vector, 1, 3 and 9 taps, with and without the residual, under
 * every activation the epilogue does; the depthwise row on every channel remainder, kernel
 * size, stride and padding; the Winograd transforms. The expected values are the contracts
 * of nn_kernels.h computed plainly in double here, the definition the reference set's loops
 * follow too; nothing outside a tile may be written. A set this CPU cannot run is counted as
 * skipped (the arm64 pass of `make test` runs NEON under qemu). */
#include "test.h"
#include "nn.h"
#include "nn_kernels.h"
#include <float.h>
#include <stdint.h>

static uint32_t rng = 777;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (rng >> 8) / 8388608.0f - 1.0f; }
static float *rand_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

#define CANARY 12345.0f

/* The epilogues under test: linear, relu, relu6, leaky, prelu. */
#define NACTS 5
static nn_epilogue epilogue(int act, const float *slopes) {
    nn_epilogue e = {-FLT_MAX, FLT_MAX, 0, 0, NULL, NULL};
    if (act == 1) e.min = 0;
    if (act == 2) e.min = 0, e.max = 6;
    if (act == 3) e.leaky = 1, e.leak = 0.1f;
    if (act == 4) e.leaky = 1, e.prelu = slopes;
    return e;
}
static double epi(double v, const nn_epilogue *e, int j) {
    if (e->leaky && v < 0) v *= e->prelu ? e->prelu[j] : e->leak;
    return v < e->min ? e->min : v > e->max ? e->max : v;
}

/* Error of got against want, relative to the magnitude of the terms summed (mag). */
static double rel_err(float got, double want, double mag) { return fabs(got - want) / (mag + 1); }

/* ------------------------------------------------------------ igemm */

typedef struct { double worst; int tiles, wrong, outside; } tally;

/* One tile: mr x nc, taps, cin, residual, activation; checks every value and the canaries. */
static void igemm_tile(const nn_kernel_set *k, int mr, int nc, int taps, int cin, int residual, int act, tally *t) {
    int panels = (nc + NN_NR - 1) / NN_NR;          /* only the panels the tile covers exist */
    size_t panel = NN_NR + (size_t)taps * cin * NN_NR, ldc = (size_t)k->nr + 3;
    float *w = rand_floats(panels * panel), *slopes = rand_floats(2 * NN_NR);
    const float **a = malloc((size_t)mr * taps * sizeof *a);
    float *in = rand_floats((size_t)mr * taps * cin), *res = rand_floats(k->mr * ldc);
    for (int i = 0; i < mr * taps; i++) a[i] = in + (size_t)i * cin;
    float *c = malloc(k->mr * ldc * sizeof *c);
    for (size_t i = 0; i < k->mr * ldc; i++) c[i] = CANARY;
    nn_epilogue e = epilogue(act, slopes);
    e.residual = residual ? res : NULL;
    k->igemm(mr, nc, taps, cin, a, w, c, ldc, &e);
    for (int r = 0; r < k->mr; r++)
        for (size_t j = 0; j < ldc; j++) {
            float got = c[r * ldc + j];
            if (r >= mr || (int)j >= nc) { t->outside += got != CANARY; continue; }
            const float *pw = w + j / NN_NR * panel, *pk = pw + NN_NR;
            double s = pw[j % NN_NR], mag = fabs(s);
            for (int tp = 0; tp < taps; tp++)
                for (int q = 0; q < cin; q++, pk += NN_NR) {
                    double p = (double)a[r * taps + tp][q] * pk[j % NN_NR];
                    s += p, mag += fabs(p);
                }
            if (residual) s += res[r * ldc + j], mag += fabs(res[r * ldc + j]);
            double err = rel_err(got, epi(s, &e, (int)j), mag);
            if (err > t->worst) t->worst = err;
            t->wrong += err > 1e-5;
        }
    t->tiles++;
    free(w), free(slopes), free(a), free(in), free(res), free(c);
}

static const int cins[] = {1, 3, 5, 8, 15, 16, 17, 33};
static const int tapss[] = {1, 3, 9};

static void test_igemm(const nn_kernel_set *k) {
    tally t = {0, 0, 0, 0};
    int n = 0;
    for (size_t ci = 0; ci < sizeof cins / sizeof *cins; ci++)
        for (size_t ti = 0; ti < sizeof tapss / sizeof *tapss; ti++) {
            for (int mr = 1; mr <= k->mr; mr++, n++) igemm_tile(k, mr, k->nr, tapss[ti], cins[ci], n % 2, n % NACTS, &t);
            for (int nc = 1; nc <= k->nr; nc++, n++) igemm_tile(k, k->mr, nc, tapss[ti], cins[ci], n % 2, n % NACTS, &t);
        }
    for (int act = 0; act < NACTS; act++)             /* every activation with and without residual */
        for (int residual = 0; residual < 2; residual++)
            igemm_tile(k, k->mr > 1 ? k->mr - 1 : 1, k->nr - 5, 3, 17, residual, act, &t);
    CHECK(t.wrong == 0 && t.outside == 0,
          "igemm %s (%dx%d): %d edge tiles (mr 1..%d, nc 1..%d, cin 1..33, taps 1/3/9, residual, %d activations) "
          "match the contract, worst error %.2g of the terms' size (tol 1e-5); %d wrong, %d values written outside the tile",
          k->name, k->mr, k->nr, t.tiles, k->mr, k->nr, NACTS, t.worst, t.wrong, t.outside);
}

/* ------------------------------------------------------------ depthwise rows */

static void dw_row(const nn_kernel_set *k, int c, int kh, int kw, int stride, int pl, int iw, int act, tally *t) {
    int cp = (c + NN_NR - 1) / NN_NR * NN_NR, ow = (iw + stride - 1) / stride;
    float *w = rand_floats((size_t)(1 + kh * kw) * cp), *slopes = rand_floats(cp);
    const float *rows[16];
    float *in[16];
    for (int ky = 0; ky < kh; ky++) {             /* every third row in the padding */
        in[ky] = (ky + c) % 3 == 2 ? NULL : rand_floats((size_t)iw * c + NN_NR - 1);   /* the padding of nn_kernels.h */
        rows[ky] = in[ky];
    }
    size_t nout = (size_t)ow * c;
    float *out = malloc((nout + 64) * sizeof *out);
    for (size_t i = 0; i < nout + 64; i++) out[i] = CANARY;
    nn_dwrow d = {ow, iw, c, cp, kh, kw, stride, pl};
    nn_epilogue e = epilogue(act, slopes);
    k->dwconv(&d, rows, w, out, &e);
    for (size_t i = nout; i < nout + 64; i++) t->outside += out[i] != CANARY;
    for (int x = 0; x < ow; x++)
        for (int ch = 0; ch < c; ch++) {
            double s = w[ch], mag = fabs(s);
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw && rows[ky]; kx++) {
                    int ix = x * stride - pl + kx;
                    if (ix < 0 || ix >= iw) continue;
                    double p = (double)rows[ky][(size_t)ix * c + ch] * w[(1 + ky * kw + kx) * cp + ch];
                    s += p, mag += fabs(p);
                }
            double err = rel_err(out[(size_t)x * c + ch], epi(s, &e, ch), mag);
            if (err > t->worst) t->worst = err;
            t->wrong += err > 1e-5;
        }
    t->tiles++;
    for (int ky = 0; ky < kh; ky++) free(in[ky]);
    free(w), free(slopes), free(out);
}

static void test_dwconv(const nn_kernel_set *k) {
    static const int sizes[][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {7, 7}, {3, 1}, {1, 5}};
    tally t = {0, 0, 0, 0};
    int n = 0;
    for (int c = 1; c <= 40; c += c < 18 ? 1 : 7)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int stride = 1; stride <= 2; stride++, n++) {
                int kh = sizes[s][0], kw = sizes[s][1], pl = (kw - 1) / 2 + n % 2 * (kw > 1);
                dw_row(k, c, kh, kw, stride, pl > kw - 1 ? kw - 1 : pl, 1 + n % 19, n % NACTS, &t);
            }
    CHECK(t.wrong == 0 && t.outside == 0,
          "dwconv %s: %d rows (channels 1..40, kernels 1x1..7x7 and 3x1, 1x5, stride 1/2, padding rows and "
          "columns, %d activations) match the contract, worst error %.2g (tol 1e-5); %d wrong, %d written past the row",
          k->name, t.tiles, NACTS, t.worst, t.wrong, t.outside);
}

/* ------------------------------------------------------------ Winograd transforms */

static const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};   /* B' */
static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};                               /* A' */

/* Runs k's input and output transforms on random tiles; *worst gets the largest error against
 * V = B'dB and Y = A'MA + bias (+ residual, clamped); returns the values written outside
 * the output pixels given. vin / yout keep the results (to compare the sets' bits). */
static int wino_case(const nn_kernel_set *k, int cin, int clamp, int residual, float *vin, float *yout, double *worst) {
    size_t xs = (size_t)cin + 16;
    float *d = rand_floats(16 * (size_t)cin), *m = rand_floats(16 * xs), *bias = rand_floats(cin);
    float *res = rand_floats(4 * (size_t)cin);
    const float *src[16], *resp[4];
    float *out[4];
    for (int p = 0; p < 16; p++) src[p] = d + (size_t)p * cin;
    for (size_t i = 0; i < 16 * xs; i++) vin[i] = CANARY;
    k->wino_input(src, cin, vin, xs);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < cin; q++) {
                double s = 0, mag = 0;
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        double v = d[(a * 4 + b) * cin + q];
                        s += BT[i][a] * v * BT[j][b], mag += fabs(v);
                    }
                double err = rel_err(vin[(i * 4 + j) * xs + q], s, mag);
                if (err > *worst) *worst = err;
            }
    int outside = 0;
    for (int i = 0; i < 16; i++)
        for (size_t q = cin; q < xs; q++) outside += vin[i * xs + q] != CANARY;
    for (size_t i = 0; i < 4 * (size_t)cin; i++) yout[i] = CANARY;
    for (int p = 0; p < 4; p++)   /* pixel 3 past the image's edge */
        out[p] = p == 3 ? NULL : yout + (size_t)p * cin, resp[p] = res + (size_t)p * cin;
    float lo = clamp ? 0 : -FLT_MAX, hi = clamp ? 6 : FLT_MAX;
    k->wino_output(m, xs, cin, bias, residual ? resp : NULL, out, lo, hi);
    for (int p = 0; p < 4; p++)
        for (int q = 0; q < cin; q++) {
            float got = yout[(size_t)p * cin + q];
            if (!out[p]) { outside += got != CANARY; continue; }
            double s = bias[q], mag = fabs(s);
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    double v = m[(a * 4 + b) * xs + q];
                    s += AT[p / 2][a] * v * AT[p % 2][b], mag += fabs(v);
                }
            if (residual) s += res[(size_t)p * cin + q], mag += fabs(res[(size_t)p * cin + q]);
            s = s < lo ? lo : s > hi ? hi : s;
            double err = rel_err(got, s, mag);
            if (err > *worst) *worst = err;
        }
    free(d), free(m), free(bias), free(res);
    return outside;
}

/* Against the contract, and bit for bit against the portable set (nn_winograd.h promises the
 * same bits from every set). */
static void test_winograd(const nn_kernel_set *k) {
    double worst = 0;
    int outside = 0, differ = 0, cases = 0;
    for (int cin = 16; cin <= 48; cin += 16)
        for (int v = 0; v < 4; v++, cases++) {
            size_t n = 16 * ((size_t)cin + 16);
            float *a = malloc(n * 4), *b = malloc(n * 4), *ya = malloc(4 * cin * 4), *yb = malloc(4 * cin * 4);
            uint32_t seed = rng;
            outside += wino_case(k, cin, v & 1, v >> 1, a, ya, &worst);
            rng = seed;                                   /* the same tile through the portable set */
            wino_case(&nn_kernels_portable, cin, v & 1, v >> 1, b, yb, &(double){0});
            differ += memcmp(a, b, n * 4) != 0 || memcmp(ya, yb, 4 * cin * 4) != 0;
            free(a), free(b), free(ya), free(yb);
        }
    CHECK(worst <= 1e-6 && outside == 0 && differ == 0,
          "winograd %s: input and output transforms on %d tiles (cin 16/32/48, clamp, residual, a pixel past the "
          "edge) match B'dB and A'MA, worst error %.2g (tol 1e-6); %d written outside; %d differ from portable's bits",
          k->name, cases, worst, outside, differ);
}

int main(void) {
#if defined(__x86_64__)
    const char *sets[] = {"portable", "avx2", "avx512"};
#elif defined(__aarch64__)
    const char *sets[] = {"portable", "neon"};
#else
    const char *sets[] = {"portable"};
#endif
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        nn_runtime rt;
        char err[NN_ERR];
        if (nn_runtime_init(&rt, sets[i], NULL, err) != 0) {
            printf("# skipped: the %s micro-kernels: %s\n", sets[i], err);
            continue;
        }
        test_igemm(rt.kernels);
        test_dwconv(rt.kernels);
        test_winograd(rt.kernels);
    }
    nn_runtime rt = {0};
    char err[NN_ERR] = "";
    int ok = nn_runtime_init(&rt, "reference", NULL, err) == 0;
    CHECK(ok && !strcmp(rt.kernels->name, "reference") && !rt.kernels->igemm,
          "the reference set runs on every CPU and has no micro-kernels (its ops run their loops) %s", err);
    return test_done();
}
