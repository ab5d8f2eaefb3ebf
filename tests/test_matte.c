/* test_matte.c — the selfie segmentation network against TF.js, the network input resize,
 * and the full-resolution refinement on a synthetic scene with known alpha. */
#include "img.h"
#include "matte.h"
#include "colour.h"
#include "test.h"
#include "golden.h"

#include <stdint.h>

#define S MATTE_SIZE

/* ------------------------------------------------------------------ golden masks --- */

static void test_golden(matte *m, const char *photo) {
    char name[64], path[256], err[NN_ERR];
    snprintf(name, sizeof name, "selfie-%s", photo);
    nn_model *g = NULL;
    if (nn_model_open(&g, name, "tests/golden", err) != 0) {
        CHECK(0, "selfie %s: golden readable: %s", photo, err);
        return;
    }
    static float in[S * S * 3], ref[S * S], mask[S * S];
    int ok = golden_get(g, "input", in, S * S * 3) && golden_get(g, "mask", ref, S * S);
    for (int k = 0; ok && k < 2; k++) {
        if (golden_isa(k, err) != 0 || matte_run(m, in, mask, err) != 0) {
            CHECK(0, "selfie %s (%s): runs: %s", photo, nn_isa(), err);
            continue;
        }
        double mad = 0, worst = 0;
        long agree = 0;
        for (int i = 0; i < S * S; i++) {
            double d = fabs(mask[i] - ref[i]);
            mad += d / (S * S);
            if (d > worst) worst = d;
            agree += (mask[i] > 0.5f) == (ref[i] > 0.5f);
        }
        CHECK(mad <= 0.02, "selfie %s (%s): mask mean abs diff %.5f (tol 0.02), max %.4f, same side of 0.5 %.4f%%",
              photo, nn_isa(), mad, worst, 100.0 * agree / (S * S));
    }
    CHECK(ok, "selfie %s: golden tensors input 256x256x3 and mask 256x256x1 present", photo);

    /* our decoder + matte_input against the stored input, then the whole matte_mask. The
     * PNG decodes identically everywhere, so only the f16 storage of the golden differs
     * (half an ulp is 2.4e-4 below 1); JPEG decoders (stb_image here, jpeg-js in the
     * reference) differ by a level or two, so that input gets 4/255 and 1/255 on average. */
    img_rgb im = {0};
    char ierr[IMG_ERR];
    snprintf(path, sizeof path, TEST_DATA "%s.%s", photo, strcmp(photo, "d03") ? "jpg" : "png");
    if (ok && img_load_file(&im, path, NULL, ierr) == 0) {
        static float mine[S * S * 3];
        double worst = 0, mean = 0, mad = 0;
        int png = !strcmp(photo, "d03");
        int r = matte_input(NULL, im.rgb, im.w, im.h, mine, err);
        for (int i = 0; i < S * S * 3; i++) {
            double d = fabs(mine[i] - in[i]);
            worst = d > worst ? d : worst, mean += d / (S * S * 3);
        }
        double tmax = png ? 2.5e-4 : 4.0 / 255, tmean = png ? 1.5e-4 : 1.0 / 255;
        CHECK(r == 0 && worst <= tmax && mean <= tmean, "matte_input %s: vs reference input max diff %.5f (tol %.5f), mean %.6f (tol %.6f)",
              path, worst, tmax, mean, tmean);
        r = matte_mask(m, im.rgb, im.w, im.h, mask, err);
        for (int i = 0; i < S * S; i++) mad += fabs(mask[i] - ref[i]) / (S * S);
        CHECK(r == 0 && mad <= 0.02, "matte_mask %s end to end: mask mean abs diff %.5f (tol 0.02)", path, mad);
    } else {
        CHECK(0, "selfie %s: %s loads: %s", photo, path, ierr);
    }
    img_free(&im);
    nn_model_close(g);
}

/* ------------------------------------------------------------------ network input --- */

/* Area averaging: a 1-pixel checkerboard shrunk by 2, 3 or 2.5 must come out uniform grey
 * (point or bilinear sampling would alias it to black/white), and any shrink keeps the mean. */
static void test_input(void) {
    static float in[S * S * 3];
    char err[NN_ERR];
    const int sizes[][2] = {{512, 512}, {768, 768}, {640, 640}, {700, 333}};
    for (int k = 0; k < 4; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        unsigned char *rgb = malloc((size_t)w * h * 3);
        uint32_t seed = 1;
        double mean_in = 0, mean_out = 0, lo = 1, hi = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    unsigned char v;
                    if (c == 0) v = (x + y) % 2 ? 255 : 0;                /* checkerboard */
                    else v = (unsigned char)((seed = seed * 1664525u + 1013904223u) >> 24);
                    rgb[((size_t)y * w + x) * 3 + c] = v;
                    if (c == 1) mean_in += v / 255.0 / ((double)w * h);
                }
        int r = matte_input(NULL, rgb, w, h, in, err);
        for (int i = 0; i < S * S; i++) {
            lo = fmin(lo, in[3 * i]), hi = fmax(hi, in[3 * i]);
            mean_out += in[3 * i + 1] / (S * S);
        }
        /* an even number of whole pixels per cell averages to exactly 1/2; otherwise a cell of
         * sx * sy pixels is off by at most about half a pixel's worth: 0.6 / (sx * sy) */
        double tol = w % (2 * S) == 0 && h % (2 * S) == 0 ? 1e-6 : 0.6 * S * S / ((double)w * h);
        CHECK(r == 0 && hi - 0.5 <= tol && 0.5 - lo <= tol && fabs(mean_out - mean_in) < 2e-3,
              "matte_input %dx%d: checkerboard -> [%.4f, %.4f] (tol 0.5 +- %.3g), mean %.5f vs %.5f (tol 2e-3)",
              w, h, lo, hi, tol, mean_out, mean_in);
        free(rgb);
    }
    unsigned char bad[3] = {0};
    CHECK(matte_input(NULL, bad, 0, 5, in, err) == -1 && err[0], "matte_input rejects a 0x5 image: %s", err);
}


/* --------------------------------------------------------------- refinement (synthetic) --- */
/* An n x n scene with exactly known alpha: a dark-haired disc (skin below) on saturated green,
 * with 29 thin straight strands (1 and 2 px wide at n = 512, scaled with n) leaving its upper
 * edge. Each pixel is 4x4 supersampled and mixed in linear light, I = a F + (1 - a) B, as a
 * lens would. The refiner gets what a segmentation network could give: the disc alone (no
 * strands), area-downsampled to 256x256 and blurred (two box blurs of radius 2: sigma 2 mask
 * pixels, softer than the real network's edge). */

typedef struct {
    int n;                   /* side in pixels */
    double cx, cy, r, len;   /* disc centre and radius, strand length beyond the edge */
    unsigned char *rgb;      /* n x n x 3 sRGB */
    float *alpha;            /* n x n true alpha */
    float *disc;             /* n x n coverage of the disc alone */
} scene;

static const int SC_BG[3] = {30, 190, 50}, SC_HAIR[3] = {70, 45, 30}, SC_SKIN[3] = {215, 165, 135},
                 SC_STRAND[3] = {40, 28, 20};
#define SC_STRANDS 29

static float lin8(int v) { return col_linear_table()[v]; }
static int srgb8(float l) {
    double v = l <= 0.0031308 ? 12.92 * l : 1.055 * pow(l, 1 / 2.4) - 0.055;
    return v <= 0 ? 0 : v >= 1 ? 255 : (int)lround(v * 255);
}

static void scene_strand(const scene *sc, int k, double seg[4], double *width) {
    double t = M_PI * (1.1 + 0.8 * k / (SC_STRANDS - 1));          /* along the upper arc */
    double dir = t + 0.35 * (k % 3 - 1), u = sc->n / 512.0;         /* leaning left, out, right */
    seg[0] = sc->cx + (sc->r - 6 * u) * cos(t), seg[1] = sc->cy + (sc->r - 6 * u) * sin(t);
    seg[2] = seg[0] + (sc->len + 6 * u) * cos(dir), seg[3] = seg[1] + (sc->len + 6 * u) * sin(dir);
    *width = (k % 2 ? 1.0 : 2.0) * u;
}

static double seg_dist(double px, double py, const double s[4]) {
    double dx = s[2] - s[0], dy = s[3] - s[1], t = ((px - s[0]) * dx + (py - s[1]) * dy) / (dx * dx + dy * dy);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(px - s[0] - t * dx, py - s[1] - t * dy);
}

static int scene_make(scene *sc, int n) {
    double u = n / 512.0;
    *sc = (scene){n, 256 * u, 330 * u, 150 * u, 16 * u, malloc((size_t)n * n * 3), malloc(sizeof(float) * n * n),
                  malloc(sizeof(float) * n * n)};   /* freed by scene_free even on failure */
    if (!sc->rgb || !sc->alpha || !sc->disc) return -1;
    double seg[SC_STRANDS][4], wd[SC_STRANDS];
    for (int k = 0; k < SC_STRANDS; k++) scene_strand(sc, k, seg[k], &wd[k]);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double d = hypot(x + 0.5 - sc->cx, y + 0.5 - sc->cy) - sc->r;
            int near_strands = y < sc->cy && d > -8 * u && d < sc->len + 4 * u, edge = fabs(d) < 1;
            float F[3] = {0, 0, 0};
            int cover = 0, cover_disc = 0, ss = near_strands || edge ? 4 : 1;
            for (int sy = 0; sy < ss; sy++)
                for (int sx = 0; sx < ss; sx++) {
                    double px = x + (sx + 0.5) / ss, py = y + (sy + 0.5) / ss;
                    const int *col = NULL;
                    if (hypot(px - sc->cx, py - sc->cy) < sc->r) col = py < sc->cy + 40 * u ? SC_HAIR : SC_SKIN, cover_disc++;
                    for (int k = 0; !col && near_strands && k < SC_STRANDS; k++)
                        if (seg_dist(px, py, seg[k]) < wd[k] / 2) col = SC_STRAND;
                    if (!col) continue;
                    cover++;
                    for (int c = 0; c < 3; c++) F[c] += lin8(col[c]);
                }
            size_t i = (size_t)y * n + x;
            float a = (float)cover / (ss * ss);
            sc->alpha[i] = a, sc->disc[i] = (float)cover_disc / (ss * ss);
            for (int c = 0; c < 3; c++)
                sc->rgb[3 * i + c] = (unsigned char)srgb8(F[c] / (ss * ss) + (1 - a) * lin8(SC_BG[c]));
        }
    return 0;
}

static void scene_free(scene *sc) { free(sc->rgb), free(sc->alpha), free(sc->disc); }

static void box_blur(float *m, int n, int r) {            /* plain (2r+1)^2 mean, clipped */
    float *t = malloc(sizeof(float) * n * n);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double sum = 0;
            int cnt = 0;
            for (int dy = -r; dy <= r; dy++)
                for (int dx = -r; dx <= r; dx++)
                    if (y + dy >= 0 && y + dy < n && x + dx >= 0 && x + dx < n) sum += m[(y + dy) * n + x + dx], cnt++;
            t[y * n + x] = (float)(sum / cnt);
        }
    memcpy(m, t, sizeof(float) * n * n);
    free(t);
}

/* Bilinear (half-pixel) upsampling of the 256x256 mask: what compositing without the
 * refiner would use. */
static float mask_at(const float *mask, int n, int x, int y) {
    double sx = (x + 0.5) * S / n - 0.5, sy = (y + 0.5) * S / n - 0.5;
    sx = sx < 0 ? 0 : sx, sy = sy < 0 ? 0 : sy;
    int x0 = (int)sx, y0 = (int)sy, x1 = x0 + 1 < S ? x0 + 1 : S - 1, y1 = y0 + 1 < S ? y0 + 1 : S - 1;
    double fx = sx - x0, fy = sy - y0;
    return (float)((1 - fy) * ((1 - fx) * mask[y0 * S + x0] + fx * mask[y0 * S + x1]) +
                   fy * ((1 - fx) * mask[y1 * S + x0] + fx * mask[y1 * S + x1]));
}

/* Measures the refined matte of scene sc (mask: what the refiner was given). */
static void refine_check(const scene *sc, const float *mask, const float *alpha, const float *fg) {
    int n = sc->n;
    /* the strands within the re-estimated band (6 mask px outside the contour; measured up
     * to 5.5) and the green between them; alpha error where the upsampled mask is soft */
    double u = n / 512.0, st = 0, sa = 0, su = 0, ga = 0, gu = 0, ea = 0, eu = 0;
    long ns = 0, ng = 0, nb = 0;
    /* compositing onto grey over the mixed pixels (0.05 < true alpha < 0.95): excess green
     * max(0, G - max(R, B)) in 8-bit sRGB, ours vs using the photo's own colour as F */
    double spill = 0, spill_naive = 0, cerr = 0;
    long nm = 0;
    float grey = lin8(128);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            size_t i = (size_t)y * n + x;
            double d = hypot(x + 0.5 - sc->cx, y + 0.5 - sc->cy) - sc->r;
            float up = mask_at(mask, n, x, y), a = alpha[i], at = sc->alpha[i];
            if (d > 1 * u && d < 11 * u && y < sc->cy) {
                if (at >= 0.5f) st += at, sa += a, su += up, ns++;
                if (at == 0) ga += a, gu += up, ng++;
            }
            if (up > 0.02f && up < 0.98f) ea += fabs(a - at), eu += fabs(up - at), nb++;
            if (at > 0.05f && at < 0.95f) {
                int o[3], on[3], t[3];
                for (int c = 0; c < 3; c++) {
                    float I = lin8(sc->rgb[3 * i + c]);
                    o[c] = srgb8(a * fg[3 * i + c] + (1 - a) * grey);
                    on[c] = srgb8(a * I + (1 - a) * grey);
                    t[c] = srgb8(I - (1 - at) * lin8(SC_BG[c]) + (1 - at) * grey);   /* the truth */
                    cerr += abs(o[c] - t[c]) / 3.0;
                }
                spill += fmax(0, o[1] - fmax(o[0], o[2])), spill_naive += fmax(0, on[1] - fmax(on[0], on[2]));
                nm++;
            }
        }
    CHECK(sa / ns >= 0.65, "refine %d: strands kept, mean alpha %.3f (tol >= 0.65; true %.3f, upsampled mask %.3f) over %ld px",
          n, sa / ns, st / ns, su / ns, ns);
    CHECK(ga / ng <= 0.05, "refine %d: green between strands, mean alpha %.4f (tol <= 0.05; upsampled mask %.3f)", n,
          ga / ng, gu / ng);
    CHECK(ea / nb <= 0.05 && ea <= 0.5 * eu, "refine %d: alpha mean abs error in the soft band %.4f (tol 0.05 and half the upsampled mask's %.4f)",
          n, ea / nb, eu / nb);
    CHECK(spill / nm <= 2.0 && spill_naive / nm >= 8.0,
          "refine %d: green spill on grey over %ld mixed px: %.2f/255 (tol 2; with the photo's colours %.2f, must be >= 8)",
          n, nm, spill / nm, spill_naive / nm);
    CHECK(cerr / nm <= 6.0, "refine %d: composite vs true composite over mixed px: mean error %.2f/255 per channel (tol 6)",
          n, cerr / nm);
}

static void test_refine(int n) {
    char err[NN_ERR];
    scene sc;
    static float mask[S * S];
    float *alpha = malloc(sizeof(float) * n * n), *fg = malloc(sizeof(float) * n * n * 3);
    if (scene_make(&sc, n) == 0 && alpha && fg) {
        int k = n / S;                                     /* area downsample, then blur */
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double sum = 0;
                for (int dy = 0; dy < k; dy++)
                    for (int dx = 0; dx < k; dx++) sum += sc.disc[(size_t)(y * k + dy) * n + x * k + dx];
                mask[y * S + x] = (float)(sum / (k * k));
            }
        box_blur(mask, S, 2), box_blur(mask, S, 2);
        int r = matte_refine(NULL, sc.rgb, n, n, mask, S, S, alpha, fg, err);
        CHECK(r == 0, "matte_refine %dx%d runs: %s", n, n, r ? err : "ok");
        if (r == 0) refine_check(&sc, mask, alpha, fg);
    } else {
        CHECK(0, "refine %d: out of memory", n);
    }
    scene_free(&sc);
    free(alpha), free(fg);
}

/* Small regions, odd shapes, a grid smaller than the mask; and the argument checks. */
static void test_refine_edges(void) {
    char err[NN_ERR];
    const int sizes[][2] = {{1, 1}, {64, 48}, {1100, 700}};
    static float mask[S * S];
    for (int i = 0; i < S * S; i++) mask[i] = (i / S - S / 2) * (i / S - S / 2) + (i % S - S / 2) * (i % S - S / 2) < 80 * 80;
    for (int k = 0; k < 3; k++) {
        int w = sizes[k][0], h = sizes[k][1], bad = 0;
        unsigned char *rgb = malloc((size_t)w * h * 3);
        float *alpha = malloc(sizeof(float) * w * h), *fg = malloc(sizeof(float) * w * h * 3);
        uint32_t seed = 7;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) rgb[i] = (unsigned char)((seed = seed * 1664525u + 1013904223u) >> 24);
        int r = matte_refine(NULL, rgb, w, h, mask, S, S, alpha, fg, err);
        for (size_t i = 0; r == 0 && i < (size_t)w * h; i++) {
            bad += !(alpha[i] >= 0 && alpha[i] <= 1);
            for (int c = 0; c < 3; c++) bad += !(fg[3 * i + c] >= 0 && fg[3 * i + c] <= 1);
        }
        /* noise has no edges to follow: far inside / outside the disc alpha is exactly 1 / 0 */
        int cx = w / 2 + (h / 2) * w, corner = 0;
        CHECK(r == 0 && bad == 0 && (w < 64 || (alpha[cx] == 1 && alpha[corner] == 0)),
              "matte_refine %dx%d on noise: %d values outside [0,1], centre %.2f, corner %.2f", w, h, bad,
              r ? -1 : alpha[cx], r ? -1 : alpha[corner]);
        free(rgb), free(alpha), free(fg);
    }
    unsigned char px[3] = {0};
    float a;
    CHECK(matte_refine(NULL, px, 1, 1, NULL, S, S, &a, NULL, err) == -1 && err[0], "matte_refine rejects a missing mask: %s", err);
}

int main(void) {
    char err[NN_ERR];
    matte *m = NULL;
    if (matte_open(&m, NULL, NULL, err) != 0) {
        CHECK(0, "selfie network loads: %s", err);
        return test_done();
    }
    test_golden(m, "d01");
    test_golden(m, "d03");
    matte_close(m);
    test_input();
    test_refine(512);
    test_refine(1024);
    test_refine_edges();
    return test_done();
}
