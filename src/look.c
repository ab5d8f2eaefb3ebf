/* look.c — light and retouch of the framed portrait (see look.h; rules in docs/LOOK.md).
 *
 * look_light works in linear light (gains are physical there): one white balance, one
 * exposure and one smooth fill-light field for the whole image, then a highlight shoulder so
 * that gains above 1 never clip hard. look_retouch works on the sRGB values as floats (the
 * perceptual space retouchers separate frequencies in), inside the face's box only.
 */
#include "look.h"
#include "landmarks.h"
#include "matte.h"
#include "nn.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ regions === */

static const int oval_ix[] = {10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288,
                              397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136,
                              172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109};
static const int reye_ix[] = {33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246};
static const int leye_ix[] = {263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466};
static const int rbrow_ix[] = {46, 53, 52, 65, 55, 107, 66, 105, 63, 70};
static const int lbrow_ix[] = {276, 283, 282, 295, 285, 336, 296, 334, 293, 300};
static const int lips_ix[] = {61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185};
static const int mouth_ix[] = {78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191};
/* Checked by eye on the test photos: the alae, the nostrils and the columella under the tip. */
static const int nostrils_ix[] = {48, 64, 98, 97, 2, 326, 327, 294, 278, 439, 438, 457, 274, 1, 44, 237, 218, 219};
static const int rcheek_ix[] = {117, 118, 100, 36, 205, 187, 123};
static const int lcheek_ix[] = {346, 347, 329, 266, 425, 411, 352};
/* Between the inner brow ends and up to the middle of the forehead: below most fringes. */
static const int forehead_ix[] = {108, 151, 337, 336, 9, 107};

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))
#define MAX_OUTLINE 40

static const struct { const int *ix; int n; } regions[LOOK_REGIONS] = {
    {oval_ix, COUNT(oval_ix)},       {reye_ix, COUNT(reye_ix)},         {leye_ix, COUNT(leye_ix)},
    {rbrow_ix, COUNT(rbrow_ix)},     {lbrow_ix, COUNT(lbrow_ix)},       {lips_ix, COUNT(lips_ix)},
    {mouth_ix, COUNT(mouth_ix)},     {nostrils_ix, COUNT(nostrils_ix)}, {rcheek_ix, COUNT(rcheek_ix)},
    {lcheek_ix, COUNT(lcheek_ix)},   {forehead_ix, COUNT(forehead_ix)},
};

const int *look_region_outline(look_region r, int *n) {
    if ((unsigned)r >= LOOK_REGIONS) return *n = 0, NULL;
    return *n = regions[r].n, regions[r].ix;
}

/* A rectangle of the image: masks and planes of the retouch are this size. */
typedef struct {
    int x0, y0, w, h;             /* top-left corner and size, image pixels */
} look_box;

/* Outline of r offset by grow pixels along its outward normals (mitred, the mitre limited to
 * twice grow at sharp corners); returns the vertex count. */
static int outline(const float (*lmk)[3], look_region r, float grow, float *px, float *py) {
    const int *ix = regions[r].ix, n = regions[r].n;
    float area = 0;
    for (int i = 0; i < n; i++) {
        const float *a = lmk[ix[i]], *b = lmk[ix[(i + 1) % n]];
        area += a[0] * b[1] - b[0] * a[1];
    }
    float sign = area > 0 ? 1 : -1;   /* outward normals: (ey, -ex) when the area is positive */
    for (int i = 0; i < n; i++) {
        const float *p = lmk[ix[(i + n - 1) % n]], *c = lmk[ix[i]], *q = lmk[ix[(i + 1) % n]];
        float e0x = c[0] - p[0], e0y = c[1] - p[1], e1x = q[0] - c[0], e1y = q[1] - c[1];
        float l0 = hypotf(e0x, e0y), l1 = hypotf(e1x, e1y);
        float n0x = l0 > 0 ? sign * e0y / l0 : 0, n0y = l0 > 0 ? -sign * e0x / l0 : 0;
        float n1x = l1 > 0 ? sign * e1y / l1 : 0, n1y = l1 > 0 ? -sign * e1x / l1 : 0;
        float mx = n0x + n1x, my = n0y + n1y, ml = hypotf(mx, my);
        float half = ml / 2;   /* cos of half the turn: the mitre is 1 / that long */
        px[i] = c[0], py[i] = c[1];
        if (ml > 1e-6f) {
            float k = grow / fmaxf(half, 0.5f) / ml;
            px[i] += k * mx, py[i] += k * my;
        }
    }
    return n;
}

/* Scanline fill (even-odd, pixel centres) of r grown by grow into the box's mask. */
static void fill_region(const float (*lmk)[3], look_region r, float grow, look_box b, unsigned char *m,
                        unsigned char value) {
    float px[MAX_OUTLINE], py[MAX_OUTLINE], xs[MAX_OUTLINE];
    int n = outline(lmk, r, grow, px, py);
    for (int j = 0; j < b.h; j++) {
        float yc = b.y0 + j + 0.5f;
        int k = 0;
        for (int i = 0; i < n; i++) {
            int i2 = (i + 1) % n;
            if ((py[i] <= yc) != (py[i2] <= yc)) {
                float x = px[i] + (yc - py[i]) * (px[i2] - px[i]) / (py[i2] - py[i]);
                int e = k++;
                for (; e > 0 && xs[e - 1] > x; e--) xs[e] = xs[e - 1];
                xs[e] = x;
            }
        }
        for (int e = 0; e + 1 < k; e += 2) {
            int a = (int)ceilf(fminf(fmaxf(xs[e] - 0.5f - b.x0, 0), (float)b.w));
            int z = (int)ceilf(fminf(fmaxf(xs[e + 1] - 0.5f - b.x0, 0), (float)b.w));
            memset(m + (size_t)j * b.w + a, value, (size_t)(z > a ? z - a : 0));
        }
    }
}

void look_region_mask(const float (*lmk)[3], look_region r, float grow, int w, int h, unsigned char *mask) {
    if (!lmk || !mask || (unsigned)r >= LOOK_REGIONS || w <= 0 || h <= 0) return;
    fill_region(lmk, r, grow, (look_box){0, 0, w, h}, mask, 1);
}

/* The box around regions rs[0..nr) grown by margin pixels, clipped to the image (may be empty). */
static look_box region_box(const float (*lmk)[3], const look_region *rs, int nr, float margin, int w, int h) {
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (int k = 0; k < nr; k++)
        for (int i = 0; i < regions[rs[k]].n; i++) {
            const float *p = lmk[regions[rs[k]].ix[i]];
            x0 = fminf(x0, p[0]), x1 = fmaxf(x1, p[0]), y0 = fminf(y0, p[1]), y1 = fmaxf(y1, p[1]);
        }
    look_box b;
    b.x0 = (int)fmaxf(floorf(x0 - margin), 0), b.y0 = (int)fmaxf(floorf(y0 - margin), 0);
    b.w = (int)fminf(ceilf(x1 + margin), (float)w) - b.x0, b.h = (int)fminf(ceilf(y1 + margin), (float)h) - b.y0;
    if (b.w < 0) b.w = 0;
    if (b.h < 0) b.h = 0;
    return b;
}

/* Face width: the oval's cheek-to-cheek points (234, 454), pixels. */
static float face_width(const float (*lmk)[3]) {
    return hypotf(lmk[454][0] - lmk[234][0], lmk[454][1] - lmk[234][1]);
}

/* Shared input checks of look_light and look_retouch; *fw gets the face width. */
static int check_args(const img_rgb *im, const float (*lmk)[3], float strength, float *fw, char err[LOOK_ERR]) {
    if (!im || !im->rgb || im->w <= 0 || im->h <= 0) return snprintf(err, LOOK_ERR, "look: no image"), -1;
    if (!lmk) return snprintf(err, LOOK_ERR, "look: no landmarks"), -1;
    if (!(strength >= 0 && strength <= 1))
        return snprintf(err, LOOK_ERR, "look: strength %g is not in 0..1", strength), -1;
    for (int i = 0; i < LMK_POINTS; i++)
        if (!isfinite(lmk[i][0]) || !isfinite(lmk[i][1]) || fabsf(lmk[i][0]) > 1e6f || fabsf(lmk[i][1]) > 1e6f)
            return snprintf(err, LOOK_ERR, "look: landmark %d is not a finite position", i), -1;
    *fw = face_width(lmk);
    if (*fw < 16) return snprintf(err, LOOK_ERR, "look: face too small (%.0f px wide, need 16)", *fw), -1;
    return 0;
}

/* ============================================================ colour === */

static void linear_lut(float lut[256]) {
    for (int i = 0; i < 256; i++) lut[i] = matte_srgb_to_linear((unsigned char)i);
}

#define ENC_N 65536   /* linear -> sRGB byte table: steps small enough to round right */

static unsigned char *encode_lut(void) {
    unsigned char *t = malloc(ENC_N);
    for (int i = 0; t && i < ENC_N; i++) {
        double x = (double)i / (ENC_N - 1), y = x <= 0.0031308 ? 12.92 * x : 1.055 * pow(x, 1 / 2.4) - 0.055;
        t[i] = (unsigned char)(y * 255 + 0.5);
    }
    return t;
}

static inline unsigned char encode8(const unsigned char *t, float x) {
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    return t[(int)(x * (ENC_N - 1) + 0.5f)];
}

static inline float luminance(const float c[3]) { return 0.2126f * c[0] + 0.7152f * c[1] + 0.0722f * c[2]; }

static float lab_f(float t) { return t > 216.f / 24389 ? cbrtf(t) : (24389.f / 27 * t + 16) / 116; }
static float y_of_l(float l) {
    float f = (l + 16) / 116;
    return f > 6.f / 29 ? f * f * f : l * 27 / 24389;
}

/* CIELAB L* and b* (D65) of linear sRGB c. */
static void lab_lb(const float c[3], float *l, float *b) {
    float y = luminance(c), z = 0.0193339f * c[0] + 0.1191920f * c[1] + 0.9503041f * c[2];
    float fy = lab_f(y);
    *l = 116 * fy - 16, *b = 200 * (fy - lab_f(z / 1.08883f));
}

/* ============================================================ statistics === */

/* The q-quantile of v[0..n) by quickselect (reorders v); NAN when n is 0. */
static float quantile(float *v, int n, float q) {
    if (n <= 0) return NAN;
    int k = (int)(q * (n - 1) + 0.5f), lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                float t = v[i];
                v[i++] = v[j], v[j--] = t;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

/* Medians over the union of regions rs, pixels seen through linear gains. */
typedef struct {
    float l, b;                   /* median L*, median b* */
    float y;                      /* median linear luminance */
    int n;                        /* pixels (0: none, the medians are NAN) */
} look_stat;

static look_stat region_stat(const img_rgb *im, const float (*lmk)[3], const look_region *rs, int nr,
                             const float gain[3], const float lin[256]) {
    look_stat s = {NAN, NAN, NAN, 0};
    look_box b = region_box(lmk, rs, nr, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np ? np : 1, 1);
    float *v = malloc(3 * (np ? np : 1) * sizeof *v);
    if (!m || !v) goto done;
    for (int k = 0; k < nr; k++) fill_region(lmk, rs[k], 0, b, m, 1);
    for (int j = 0; j < b.h; j++)
        for (int i = 0; i < b.w; i++) {
            if (!m[(size_t)j * b.w + i]) continue;
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
            lab_lb(c, &v[s.n], &v[np + s.n]);
            v[2 * np + s.n] = luminance(c);
            s.n++;
        }
    if (s.n) s.l = quantile(v, s.n, 0.5f), s.b = quantile(v + np, s.n, 0.5f), s.y = quantile(v + 2 * np, s.n, 0.5f);
done:
    free(m), free(v);
    return s;
}

static const look_region skin_regions[] = {LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK, LOOK_FOREHEAD};
static const float unit_gain[3] = {1, 1, 1};

static float ita_of(const img_rgb *im, const float (*lmk)[3], const float lin[256]) {
    look_stat s = region_stat(im, lmk, skin_regions, COUNT(skin_regions), unit_gain, lin);
    return s.n ? atan2f(s.l - 50, s.b) * (float)(180 / M_PI) : NAN;
}

float look_ita(const img_rgb *im, const float (*lmk)[3]) {
    float lin[256];
    if (!im || !im->rgb || !lmk) return NAN;
    linear_lut(lin);
    return ita_of(im, lmk, lin);
}

/* ============================================================ light: scene === */

/* White balance: the illuminant is the chromaticity most of the scene's near-neutral light
 * agrees on. Blocks of the image (face excluded, clipped and dark blocks excluded) vote in a
 * log-chromaticity histogram (u = ln R/G, v = ln B/G) weighted by their luminance (bright
 * surfaces are the likelier whites); the winner is the densest small disc, times a prior for
 * real illuminants: along the warm-cool (tungsten-daylight-shade) axis, wider on the warm
 * side, narrow across it (green-magenta). A big coloured area (a red shirt) forms a dense
 * disc too, but far out where the prior is small; a colour cast moves every neutral surface
 * together, so they still agree.
 * Trust: the winner must hold a fair share of the weight, and agree on the warm-cool axis
 * with the white patch (each channel's 99th percentile: the brightest things), which sees
 * through a scene whose only large surface is coloured (a blue backdrop under warm light
 * looks like a neutral under cool light; the white shirt, even clipped in red, does not).
 * Disagreement means doing less, never more. Finally a dead band: tints under WB_DEAD are
 * left alone (a lavender backdrop is a colour, not a cast), casts above WB_FULL are fully
 * corrected, with a ramp in between. */
#define WB_BINS 129                /* histogram side; bin WB_BINS/2 is u or v = 0 */
#define WB_STEP 0.025f             /* log-chromaticity per bin */
#define WB_SEARCH 40               /* candidate illuminants within +-1.0 of neutral */
#define WB_DISC 2                  /* bins: radius of the agreement disc */
#define WB_MAX 0.9f                /* largest correction, ln units (x2.5 between channels) */
#define WB_DEAD 0.08f              /* tint left alone, ln units */
#define WB_FULL 0.25f              /* tint corrected in full; ramp in between */
#define WB_NEUTRAL_FULL 0.05f      /* neutral share of the scene weight that gives full trust */
#define WB_AGREE_OK 0.15f          /* warm-cool disagreement with the white patch that is ignored */
#define WB_AGREE 0.4f              /* ... and the further disagreement that removes all trust */
#define THUMB 256                  /* statistics image: long side in blocks */

static const float wb_axis[2] = {0.53f, -0.85f};   /* warm direction in (u, v): 6500 K -> 2700 K */

typedef struct {
    float u, v;                   /* illuminant log-chromaticity ln(R/G), ln(B/G) */
    float neutral;                /* share of the voting weight near it */
    float agree;                  /* 0..1 agreement with the white patch */
    float *blk;                   /* thumb blocks: linear mean RGB, n * 3 */
    int n;                        /* blocks */
} look_scene;

static int scene_stats(const img_rgb *im, const float (*lmk)[3], const float *alpha, float fw,
                       const float lin[256], look_scene *sc, char err[LOOK_ERR]) {
    int w = im->w, h = im->h, k = ((w > h ? w : h) + THUMB - 1) / THUMB;
    int sw = (w + k - 1) / k, sh = (h + k - 1) / k;
    look_region oval = LOOK_FACE_OVAL;
    look_box fb = region_box(lmk, &oval, 1, 0.1f * fw + 2, w, h);
    unsigned char *face = calloc((size_t)fb.w * fb.h + 1, 1), *bface = malloc((size_t)sw * sh);
    float *hist = calloc(WB_BINS * WB_BINS, sizeof *hist), *chan = malloc((size_t)sw * sh * sizeof *chan);
    sc->blk = malloc((size_t)sw * sh * 3 * sizeof *sc->blk), sc->n = sw * sh;
    if (!face || !bface || !hist || !chan || !sc->blk) {
        free(face), free(bface), free(hist), free(chan), free(sc->blk), sc->blk = NULL;
        return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    }
    fill_region(lmk, LOOK_FACE_OVAL, 0.08f * fw, fb, face, 1);

    float total = 0;
    int nscene = 0;
    for (int by = 0; by < sh; by++)
        for (int bx = 0; bx < sw; bx++) {
            double s[3] = {0, 0, 0}, a = 0;
            int cnt = 0, clipped = 0, inface = 0;
            for (int y = by * k; y < (by + 1) * k && y < h; y++)
                for (int x = bx * k; x < (bx + 1) * k && x < w; x++) {
                    const unsigned char *p = im->rgb + 3 * ((size_t)y * w + x);
                    s[0] += lin[p[0]], s[1] += lin[p[1]], s[2] += lin[p[2]], cnt++;
                    clipped |= p[0] >= 250 || p[1] >= 250 || p[2] >= 250;
                    if (x >= fb.x0 && y >= fb.y0 && x < fb.x0 + fb.w && y < fb.y0 + fb.h)
                        inface |= face[(size_t)(y - fb.y0) * fb.w + x - fb.x0];
                    if (alpha) a += alpha[(size_t)y * w + x];
                }
            float *c = sc->blk + 3 * ((size_t)by * sw + bx);
            for (int i = 0; i < 3; i++) c[i] = (float)(s[i] / cnt);
            nscene += !inface, bface[by * sw + bx] = (unsigned char)inface;
            float y = luminance(c);
            if (inface || clipped || y < 0.02f || c[0] < 1e-4f || c[1] < 1e-4f || c[2] < 1e-4f) continue;
            int iu = (int)lroundf(logf(c[0] / c[1]) / WB_STEP) + WB_BINS / 2;
            int iv = (int)lroundf(logf(c[2] / c[1]) / WB_STEP) + WB_BINS / 2;
            float wt = y * (alpha ? 0.25f + 0.75f * (float)(a / cnt) : 1);
            total += wt;
            if (iu >= 0 && iv >= 0 && iu < WB_BINS && iv < WB_BINS) hist[iu * WB_BINS + iv] += wt;
        }

    /* Densest disc times the prior: sigma 0.6 toward warm, 0.4 toward cool, 0.15 across. */
    float best = 0;
    int bu = WB_BINS / 2, bv = WB_BINS / 2;
    for (int iu = WB_BINS / 2 - WB_SEARCH; iu <= WB_BINS / 2 + WB_SEARCH; iu++)
        for (int iv = WB_BINS / 2 - WB_SEARCH; iv <= WB_BINS / 2 + WB_SEARCH; iv++) {
            float d = 0;
            for (int du = -WB_DISC; du <= WB_DISC; du++)
                for (int dv = -WB_DISC; dv <= WB_DISC; dv++)
                    if (du * du + dv * dv <= WB_DISC * WB_DISC) d += hist[(iu + du) * WB_BINS + iv + dv];
            float u = (iu - WB_BINS / 2) * WB_STEP, v = (iv - WB_BINS / 2) * WB_STEP;
            float along = u * wb_axis[0] + v * wb_axis[1], across = -u * wb_axis[1] + v * wb_axis[0];
            float sa = along > 0 ? 0.6f : 0.4f;
            d *= expf(-0.5f * (along * along / (sa * sa) + across * across / (0.15f * 0.15f)));
            if (d > best) best = d, bu = iu, bv = iv;
        }
    /* The centre of mass of the cluster around the winner (without the prior, which would
     * pull it in), and its share of all the weight. */
    double su = 0, sv = 0, sm = 0;
    for (int du = -3 * WB_DISC; du <= 3 * WB_DISC; du++)
        for (int dv = -3 * WB_DISC; dv <= 3 * WB_DISC; dv++) {
            if (du * du + dv * dv > 9 * WB_DISC * WB_DISC) continue;
            float m = hist[(bu + du) * WB_BINS + bv + dv];
            su += m * (bu + du - WB_BINS / 2) * WB_STEP, sv += m * (bv + dv - WB_BINS / 2) * WB_STEP, sm += m;
        }
    sc->u = sm > 0 ? (float)(su / sm) : 0, sc->v = sm > 0 ? (float)(sv / sm) : 0;
    sc->neutral = total > 0 ? (float)(sm / total) : 0;

    /* White patch: each channel's 99th percentile over the scene blocks (clipped included). */
    float wp[3];
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < sc->n; i++)
            if (!bface[i]) chan[m++] = sc->blk[3 * i + c];
        wp[c] = m ? fmaxf(quantile(chan, m, 0.99f), 1e-4f) : 1;
    }
    float wa = logf(wp[0] / wp[1]) * wb_axis[0] + logf(wp[2] / wp[1]) * wb_axis[1];
    float va = sc->u * wb_axis[0] + sc->v * wb_axis[1];
    sc->agree = nscene ? fminf(fmaxf(1 - (fabsf(wa - va) - WB_AGREE_OK) / WB_AGREE, 0), 1) : 0;
    free(face), free(bface), free(hist), free(chan);
    return 0;
}

/* ============================================================ light: exposure === */

/* Exposure (see docs/LOOK.md): lift only when nothing in the photo reaches the top of the
 * range (the 99th percentile of the face, which holds eye whites, teeth and specular
 * highlights, and of the whole scene): by that headroom less a dead band, at most until the
 * skin's median reaches L* 70 (the middle of well exposed light skin; darker skin stays
 * below it because the headroom runs out first). Lower only skin whose median is above L* 85
 * (beyond any skin in a good exposure). Dark skin in a well exposed photo has bright things
 * around it, so it is left as it is. */
#define EXP_WHITE_L 90.f          /* where the photo's 99th percentile should sit */
#define EXP_FACE_UP_L 70.f        /* lifting stops when the skin median reaches this */
#define EXP_FACE_DOWN_L 85.f      /* skin median above this is over exposed */
#define EXP_DEADBAND 0.2f         /* stops of headroom that are left alone */
#define EXP_MAX_UP 1.5f
#define EXP_MAX_DOWN 1.0f

static int exposure_ev(const img_rgb *im, const float (*lmk)[3], const look_scene *sc, const float gain[3],
                       float skin_l, const float lin[256], float *ev, char err[LOOK_ERR]) {
    look_region oval = LOOK_FACE_OVAL;
    look_box b = region_box(lmk, &oval, 1, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np + 1, 1);
    float *v = malloc(((np > (size_t)sc->n ? np : (size_t)sc->n) + 1) * sizeof *v);
    if (!m || !v) return free(m), free(v), snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    fill_region(lmk, LOOK_FACE_OVAL, 0, b, m, 1);
    int n = 0;
    for (int j = 0; j < b.h; j++)
        for (int i = 0; i < b.w; i++)
            if (m[(size_t)j * b.w + i]) {
                const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
                float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
                v[n++] = luminance(c);
            }
    float face_hi = quantile(v, n, 0.99f);
    for (int i = 0; i < sc->n; i++) {
        const float *c = sc->blk + 3 * i;
        float g[3] = {c[0] * gain[0], c[1] * gain[1], c[2] * gain[2]};
        v[i] = luminance(g);
    }
    float scene_hi = quantile(v, sc->n, 0.99f), hi = n ? fmaxf(face_hi, scene_hi) : scene_hi;
    free(m), free(v);

    *ev = 0;
    if (!isfinite(skin_l) || !(hi > 0)) return 0;
    float skin_y = y_of_l(skin_l);
    if (skin_l > EXP_FACE_DOWN_L) {
        *ev = fmaxf(log2f(y_of_l(EXP_FACE_DOWN_L) / skin_y), -EXP_MAX_DOWN);
    } else {
        float up = fminf(log2f(y_of_l(EXP_WHITE_L) / hi) - EXP_DEADBAND, log2f(y_of_l(EXP_FACE_UP_L) / skin_y));
        *ev = fminf(fmaxf(up, 0), EXP_MAX_UP);
    }
    return 0;
}

/* ============================================================ light: fill === */

/* Fill light: when one cheek is clearly darker than the other, a smooth gain field lifts the
 * shadow side: a sigmoid across the face (from cheek to cheek) times a broad Gaussian around
 * it, in stops. It is a light, not a mask: everything on that side (skin, eyes, hair) gets the
 * same lift, and it has no edge: its steepest slope is about twice the lift it adds at the
 * shadow-side cheek per face width. */
#define FILL_MIN 0.5f             /* cheek difference, stops, below which nothing happens */
#define FILL_KEEP 0.5f            /* share of the difference left (the light keeps its shape) */
#define FILL_KEEP_MIN 0.35f       /* ... and never less than this, stops */
#define FILL_MAX 1.2f             /* largest lift, stops */
#define FILL_RAMP 0.12f           /* sigmoid scale, face widths */
#define FILL_REACH 0.9f           /* Gaussian sigma, face widths */

typedef struct {
    float cx, cy;                 /* field centre, image pixels */
    float ax, ay;                 /* unit vector toward the shadow side */
    float inv_fw;                 /* 1 / face width */
    float stops;                  /* field amplitude: gain = 2^(stops * shape) */
} look_fill;

static float fill_shape(const look_fill *f, float x, float y) {
    float dx = x - f->cx, dy = y - f->cy, p = (dx * f->ax + dy * f->ay) * f->inv_fw;
    float r2 = (dx * dx + dy * dy) * f->inv_fw * f->inv_fw;
    return expf(-0.5f * r2 / (FILL_REACH * FILL_REACH)) / (1 + expf(-p / FILL_RAMP));
}

static look_fill fill_plan(const img_rgb *im, const float (*lmk)[3], const float gain[3], const float lin[256],
                           float fw, float strength, float *lift) {
    look_fill f = {0, 0, 1, 0, 1 / fw, 0};
    look_region rr = LOOK_RIGHT_CHEEK, lr = LOOK_LEFT_CHEEK;
    look_stat r = region_stat(im, lmk, &rr, 1, gain, lin), l = region_stat(im, lmk, &lr, 1, gain, lin);
    float px[MAX_OUTLINE], py[MAX_OUTLINE], c[2][2] = {{0, 0}, {0, 0}};
    for (int s = 0; s < 2; s++) {
        int n = outline(lmk, s ? LOOK_LEFT_CHEEK : LOOK_RIGHT_CHEEK, 0, px, py);
        for (int i = 0; i < n; i++) c[s][0] += px[i] / n, c[s][1] += py[i] / n;
    }
    *lift = 0;
    if (!r.n || !l.n || !(r.y > 0) || !(l.y > 0)) return f;
    float diff = log2f(l.y / r.y);          /* > 0: the subject's right cheek is the darker */
    int dark = diff > 0 ? 0 : 1;
    diff = fabsf(diff);
    if (diff < FILL_MIN) return f;
    f.cx = (c[0][0] + c[1][0]) / 2, f.cy = (c[0][1] + c[1][1]) / 2;
    float ax = c[dark][0] - c[!dark][0], ay = c[dark][1] - c[!dark][1], an = hypotf(ax, ay);
    if (!(an > 0)) return f;
    f.ax = ax / an, f.ay = ay / an;
    float want = diff - fmaxf(FILL_KEEP_MIN, FILL_KEEP * diff);
    float wd = fill_shape(&f, c[dark][0], c[dark][1]), wb = fill_shape(&f, c[!dark][0], c[!dark][1]);
    f.stops = fminf(want / (wd - wb), FILL_MAX / wd) * strength;
    *lift = f.stops * wd;
    return f;
}

/* ============================================================ light === */

/* Per-channel gain z, then a shoulder above SHOULDER_KNEE that maps the largest possible value
 * (zmax) to 1 with a continuous slope, so lifted highlights roll off instead of clipping. */
#define SHOULDER_KNEE 0.8f

static inline float shoulder(float z, float zmax) {
    if (zmax <= 1 || z <= SHOULDER_KNEE) return z;
    float a = (zmax - SHOULDER_KNEE) / (1 - SHOULDER_KNEE), t = fminf((z - SHOULDER_KNEE) / (zmax - SHOULDER_KNEE), 1);
    return SHOULDER_KNEE + (1 - SHOULDER_KNEE) * (1 - powf(1 - t, a));
}

/* The gains, the fill field and the shoulder applied to rows y0..y1, in parallel. */
typedef struct {
    img_rgb *im;
    const float *lin, *gain;      /* [256] sRGB byte -> linear; [3] white balance x exposure */
    float gmax;                   /* largest gain with the fill: the shoulder's zmax */
    const look_fill *fill;
    const unsigned char *enc;     /* encode_lut() */
} light_job;

static void light_rows(void *arg, int y0, int y1) {
    const light_job *j = arg;
    const look_fill *f = j->fill;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->im->w; x++) {
            unsigned char *p = j->im->rgb + 3 * ((size_t)y * j->im->w + x);
            float g = f->stops != 0 ? exp2f(f->stops * fill_shape(f, x + 0.5f, y + 0.5f)) : 1;
            for (int c = 0; c < 3; c++) p[c] = encode8(j->enc, shoulder(j->lin[p[c]] * j->gain[c] * g, j->gmax));
        }
}

int look_light(img_rgb *im, const float (*lmk)[3], const float *alpha, float strength, look_report *rep,
               char err[LOOK_ERR]) {
    float fw, lin[256];
    look_report r0 = {0}, *r = rep ? rep : &r0;
    if (check_args(im, lmk, strength, &fw, err)) return -1;
    linear_lut(lin);
    look_stat skin = region_stat(im, lmk, skin_regions, COUNT(skin_regions), unit_gain, lin);
    r->ita_before = r->ita_after = skin.n ? atan2f(skin.l - 50, skin.b) * (float)(180 / M_PI) : NAN;
    r->face_l = skin.l;
    r->exposure_ev = 0, r->fill = 0, r->wb_trust = 0;
    r->wb_gain[0] = r->wb_gain[1] = r->wb_gain[2] = 1;
    if (strength == 0) return 0;

    /* White balance: the correction toward the scene's neutral, limited, scaled by the trust
     * in it and by strength; gains keep a neutral's luminance. */
    look_scene sc;
    if (scene_stats(im, lmk, alpha, fw, lin, &sc, err)) return -1;
    float u = sc.u, v = sc.v, len = hypotf(u, v), trust = fminf(sc.neutral / WB_NEUTRAL_FULL, 1) * sc.agree;
    float keep = len <= WB_DEAD ? 0
               : len >= WB_FULL ? fminf(len, WB_MAX) / len
                                : (len - WB_DEAD) / (WB_FULL - WB_DEAD) * WB_FULL / len;
    u *= keep * trust * strength, v *= keep * trust * strength;
    float e[3] = {expf(u), 1, expf(v)}, ey = luminance(e), gain[3];
    for (int c = 0; c < 3; c++) gain[c] = ey / e[c];
    r->wb_trust = trust;

    /* Exposure on the balanced image, then the fill light on the balanced, exposed one. */
    look_stat bal = region_stat(im, lmk, skin_regions, COUNT(skin_regions), gain, lin);
    float ev;
    int rc = exposure_ev(im, lmk, &sc, gain, bal.l, lin, &ev, err);
    free(sc.blk);
    if (rc) return -1;
    ev *= strength;
    for (int c = 0; c < 3; c++) gain[c] *= exp2f(ev), r->wb_gain[c] = gain[c] / exp2f(ev);
    r->exposure_ev = ev;
    look_fill f = fill_plan(im, lmk, gain, lin, fw, strength, &r->fill);

    if (gain[0] == 1 && gain[1] == 1 && gain[2] == 1 && f.stops == 0) return 0;   /* nothing to correct */
    float gmax = fmaxf(gain[0], fmaxf(gain[1], gain[2])) * exp2f(fmaxf(f.stops, 0));
    unsigned char *enc = encode_lut();
    if (!enc) return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    light_job j = {im, lin, gain, gmax, &f, enc};
    nn_parallel_rows(im->h, light_rows, &j);
    free(enc);
    r->ita_after = ita_of(im, lmk, lin);
    return 0;
}

/* ============================================================ retouch: planes === */

/* Frequency separation at the face's scale: high band (pores, fine texture) below SEP_HIGH
 * face widths, kept whole; mid band (blotches, uneven tone) up to SEP_MID, attenuated where
 * its amplitude is small compared with the skin's typical one (soft coring), so that folds,
 * the nose's shading and wrinkles (large amplitudes) keep their shape; low band kept. */
#define SEP_HIGH 0.005f
#define SEP_MID 0.035f
#define SEP_CORE 2.5f             /* amplitudes above ~this many typical ones are kept */

#define BLUR_MAX_R 512
#define BLUR_BOX_SIGMA 2.5f       /* from here on three box passes stand in for the Gaussian */

/* One pass of a separable filter of half-width r, src into dst (not the same plane), edges
 * repeated: a box (k NULL) or the symmetric kernel k[0..r], along rows or columns. Bands of
 * rows (or columns) run in parallel; each value is summed in the same order whatever the
 * split. */
typedef struct {
    float *dst;                   /* h x w */
    const float *src;             /* h x w */
    int w, h, r;                  /* plane size, half-width */
    const float *k;               /* r + 1 kernel taps, or NULL: box */
    atomic_int failed;            /* a band found no memory for its scratch */
} blur_pass;

static void blur_rows(void *arg, int y0, int y1) {
    blur_pass *j = arg;
    int w = j->w, r = j->r;
    float inv = 1.f / (2 * r + 1), *pad = malloc((size_t)(w + 2 * r) * sizeof *pad);
    if (!pad) y1 = y0, atomic_store(&j->failed, 1);
    for (int y = y0; y < y1; y++) {
        const float *a = j->src + (size_t)y * w;
        float *o = j->dst + (size_t)y * w, acc = 0;
        for (int i = 0; i < w + 2 * r; i++) pad[i] = a[i < r ? 0 : i - r >= w ? w - 1 : i - r];
        if (j->k) {
            for (int x = 0; x < w; x++) {
                const float *q = pad + r + x;
                float s = j->k[0] * q[0];
                for (int t = 1; t <= r; t++) s += j->k[t] * (q[t] + q[-t]);
                o[x] = s;
            }
            continue;
        }
        for (int i = 0; i < 2 * r + 1; i++) acc += pad[i];
        for (int x = 0; x < w; x++) o[x] = acc * inv, acc += (x + 1 < w ? pad[x + 2 * r + 1] - pad[x] : 0);
    }
    free(pad);
}

/* Columns x0..x1 of a box pass: running column sums of rows y - r .. y + r. */
static void blur_box_cols(void *arg, int x0, int x1) {
    blur_pass *j = arg;
    int w = j->w, h = j->h, r = j->r, n = x1 - x0;
    float inv = 1.f / (2 * r + 1), *acc = nn_buffer_alloc((size_t)n * sizeof *acc);
    if (!acc) h = 0, atomic_store(&j->failed, 1);
    const float *src = j->src + x0;
    for (int x = 0; x < n && h; x++) acc[x] = 0;
    for (int t = -r; t <= r && h; t++) {
        const float *row = src + (size_t)(t < 0 ? 0 : t >= h ? h - 1 : t) * w;
        for (int x = 0; x < n; x++) acc[x] += row[x];
    }
    for (int y = 0; y < h; y++) {
        float *o = j->dst + (size_t)y * w + x0;
        for (int x = 0; x < n; x++) o[x] = acc[x] * inv;
        if (y + 1 == h) break;
        const float *in = src + (size_t)(y + r + 1 >= h ? h - 1 : y + r + 1) * w;
        const float *out = src + (size_t)(y - r < 0 ? 0 : y - r) * w;
        for (int x = 0; x < n; x++) acc[x] += in[x] - out[x];
    }
    free(acc);
}

/* Output rows y0..y1 of a kernel pass along columns. */
static void blur_kernel_cols(void *arg, int y0, int y1) {
    blur_pass *j = arg;
    int w = j->w, h = j->h;
    for (int y = y0; y < y1; y++) {
        float *o = j->dst + (size_t)y * w;
        const float *c = j->src + (size_t)y * w;
        for (int x = 0; x < w; x++) o[x] = j->k[0] * c[x];
        for (int t = 1; t <= j->r; t++) {
            const float *up = j->src + (size_t)(y - t < 0 ? 0 : y - t) * w;
            const float *dn = j->src + (size_t)(y + t >= h ? h - 1 : y + t) * w;
            for (int x = 0; x < w; x++) o[x] += j->k[t] * (up[x] + dn[x]);
        }
    }
}

static int blur_pass_run(float *dst, const float *src, int w, int h, int r, const float *k, int vertical) {
    blur_pass j = {dst, src, w, h, r, k, 0};
    if (!vertical) nn_parallel_rows(h, blur_rows, &j);
    else if (k) nn_parallel_rows(h, blur_kernel_cols, &j);
    else nn_parallel_rows(w, blur_box_cols, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* Gaussian blur of a w x h plane, edges repeated; dst may be src. Small sigmas convolve with
 * the kernel; from BLUR_BOX_SIGMA on, three box passes of the same variance (within a few
 * percent of the Gaussian, and their cost does not grow with sigma). -1: out of memory. */
static int blur(float *dst, const float *src, int w, int h, float sigma) {
    int r = (int)ceilf(3 * sigma), box = sigma >= BLUR_BOX_SIGMA;
    if (r > BLUR_MAX_R && !box) r = BLUR_MAX_R;
    if (r < 1 || sigma <= 0) {
        if (dst != src) memcpy(dst, src, (size_t)w * h * sizeof *dst);
        return 0;
    }
    float *tmp = nn_buffer_alloc((size_t)w * h * sizeof *tmp);
    int rc = tmp ? 0 : -1;
    if (rc == 0 && box) {
        /* Widths wl (odd) and wl + 2 so that three passes have variance sigma^2. */
        int wl = (int)sqrtf(4 * sigma * sigma + 1);
        wl -= !(wl & 1);
        int m = (int)lroundf((12 * sigma * sigma - 3.f * wl * wl - 12.f * wl - 9) / (-4.f * wl - 4));
        const float *in = src;
        for (int p = 0; p < 6 && rc == 0; p++) {   /* 3 along rows, then 3 along columns; ends in dst */
            float *out = p % 2 ? dst : tmp;
            rc = blur_pass_run(out, in, w, h, (p % 3 < m ? wl : wl + 2) / 2, NULL, p >= 3);
            in = out;
        }
    } else if (rc == 0) {
        float k[BLUR_MAX_R + 1], sum = 0;
        for (int i = 0; i <= r; i++) k[i] = expf(-0.5f * i * i / (sigma * sigma)), sum += i ? 2 * k[i] : k[i];
        for (int i = 0; i <= r; i++) k[i] /= sum;
        rc = blur_pass_run(tmp, src, w, h, r, k, 0);   /* rows into tmp, then columns into dst */
        if (rc == 0) rc = blur_pass_run(dst, tmp, w, h, r, k, 1);
    }
    free(tmp);
    return rc;
}

static inline float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

/* ============================================================ retouch: blemishes === */

/* A blemish is a small round spot, darker or redder than the skin around it. Detection is the
 * textbook blob detector: difference-of-Gaussians of luma (dark) and of redness R - G (red)
 * over a ladder of scales, in units of the skin's robust spread at that scale; spots are the
 * maxima over space and scale above a threshold. A maximum must then be round (principal
 * curvatures of the DoG within SPOT_EDGE of each other: not a wrinkle, a lash or a frame),
 * lie in skin, and stand out from its own ring of pixels by more than the ring's own texture
 * (not part of freckles, stubble or hair). The spot is filled by interpolating its ring
 * inward (inverse-distance weights: no seam) plus the fine texture of a clean skin disc
 * next to it, feathered. */
#define SPOT_R_MAX 0.03f          /* largest spot radius, face widths */
#define SPOT_R_MIN 0.006f         /* smallest, face widths (at least 1 px) */
#define SPOT_SCALES 8             /* most DoG scales (sqrt 2 apart) */
#define SPOT_EDGE 4.0f            /* largest ratio of the DoG's principal curvatures */
#define SPOT_RING 3.0f            /* contrast against the ring, in units of the ring's spread */
#define SPOT_MAX 64               /* spots filled at most (the strongest) */

typedef struct {
    float cx, cy;                 /* centre, box pixels */
    float r;                      /* radius: sqrt 2 x the detecting scale */
    float z;                      /* DoG response, units of the skin's spread */
} look_spot;

static int cmp_spot(const void *a, const void *b) {
    float x = ((const look_spot *)a)->z, y = ((const look_spot *)b)->z;
    return (x < y) - (x > y);
}

typedef struct {
    int w, h;                     /* box size */
    float *img[3];                /* the box's pixels, sRGB / 255 */
    unsigned char *skin;          /* 1: skin by geometry (oval minus grown features) */
    unsigned char *keep;          /* 1: outside every feature outline (may be changed) */
    float fw;                     /* face width, pixels */
} look_face;

/* The pixels of the annulus r0 < d <= r1 around (cx, cy) inside the box: their count, and
 * how many are skin. idx receives their indices (room for (2 r1 + 3)^2). */
static int ring_of(const look_face *f, float cx, float cy, float r0, float r1, int *idx, int *skin) {
    int n = 0;
    *skin = 0;
    for (int y = (int)floorf(cy - r1); y <= (int)ceilf(cy + r1); y++)
        for (int x = (int)floorf(cx - r1); x <= (int)ceilf(cx + r1); x++) {
            float d = hypotf(x - cx, y - cy);
            if (d <= r0 || d > r1 || x < 0 || y < 0 || x >= f->w || y >= f->h) continue;
            idx[n++] = y * f->w + x, *skin += f->skin[y * f->w + x];
        }
    return n;
}

/* Measures candidate s against its ring (annulus 1.6 r + 1 .. + 2) in plane v (luma: dark
 * spots lie below, sign -1; redness: above, sign +1) and returns its contrast in units of the
 * ring's robust spread, 0 when the ring is not skin or is crossed by something as strong as
 * the spot (a frame, a fold). The spot's extent is remeasured: the pixels inside the ring
 * beyond half the contrast give its centre and radius. */
static float spot_measure(const look_face *f, const float *v, float sign, look_spot *s, int *idx, float *tmp) {
    float r0 = 1.6f * s->r + 1, med, spread, c = 0;
    int skin, n = ring_of(f, s->cx, s->cy, r0, r0 + 2, idx, &skin), m = 0, busy = 0;
    if (!n || skin < 0.9f * n) return 0;
    for (int i = 0; i < n; i++) tmp[i] = v[idx[i]];
    med = quantile(tmp, n, 0.5f);
    for (int i = 0; i < n; i++) tmp[i] = fabsf(v[idx[i]] - med);
    spread = fmaxf(1.4826f * quantile(tmp, n, 0.5f), 1.f / 255);
    int x0 = (int)floorf(s->cx - r0), x1 = (int)ceilf(s->cx + r0);
    int y0 = (int)floorf(s->cy - r0), y1 = (int)ceilf(s->cy + r0);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (x >= 0 && y >= 0 && x < f->w && y < f->h && hypotf(x - s->cx, y - s->cy) <= s->r)
                c += v[y * f->w + x], m++;
    c = m ? sign * (c / m - med) : 0;
    for (int i = 0; i < n; i++) busy += sign * (v[idx[i]] - med) > 0.5f * c;
    if (c <= 0 || busy > 0.2f * n) return 0;
    double sx = 0, sy = 0;
    int k = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (x >= 0 && y >= 0 && x < f->w && y < f->h && hypotf(x - s->cx, y - s->cy) <= r0 &&
                sign * (v[y * f->w + x] - med) > 0.5f * c)
                sx += x, sy += y, tmp[2 * k] = (float)x, tmp[2 * k + 1] = (float)y, k++;
    if (k) {
        float cx = (float)(sx / k), cy = (float)(sy / k), r = 0;
        for (int i = 0; i < k; i++) r = fmaxf(r, hypotf(tmp[2 * i] - cx, tmp[2 * i + 1] - cy));
        s->cx = cx, s->cy = cy, s->r = r + 0.5f;
    }
    return c / spread;
}

/* A pixel (x, y) of a spot, interpolated from the ring around it (pixels idx[0..n) of plane
 * v): their mean weighted by inverse square distance. */
static float ring_fill(const float *v, int w, const int *idx, int n, int x, int y) {
    float s = 0, sw = 0;
    for (int i = 0; i < n; i++) {
        float dx = (float)(idx[i] % w - x), dy = (float)(idx[i] / w - y), wt = 1 / (dx * dx + dy * dy + 0.25f);
        s += wt * v[idx[i]], sw += wt;
    }
    return s / sw;
}

/* RMS of the fine band's luma (planes fine) over the annulus r0 < d <= r1 at (cx, cy). */
static float texture_of(const look_face *f, float *const fine[3], float cx, float cy, float r0, float r1) {
    double s2 = 0;
    int m = 0;
    for (int y = (int)floorf(cy - r1); y <= (int)ceilf(cy + r1); y++)
        for (int x = (int)floorf(cx - r1); x <= (int)ceilf(cx + r1); x++) {
            float d = hypotf(x - cx, y - cy);
            if (x < 0 || y < 0 || x >= f->w || y >= f->h || d <= r0 || d > r1) continue;
            size_t i = (size_t)y * f->w + x;
            float l = luma(fine[0][i], fine[1][i], fine[2][i]);
            s2 += (double)l * l, m++;
        }
    return m ? (float)sqrt(s2 / m) : 0;
}

/* The ring a fill interpolates from: the skin of the annulus r .. r + 1.5 around (cx, cy),
 * without the pixels that stand out from it (a frame or a fold crossing it: beyond 2.5 robust
 * spreads in luma or redness, planes lu and rd). Compacts idx to those kept and returns their
 * count, 0 when under 70% of the annulus is skin or under 60% of that is kept; *spread: the
 * skin's luma spread. */
static int fill_ring(const look_face *f, const float *lu, const float *rd, float cx, float cy, float r, int *idx,
                     float *tmp, float *spread) {
    int skin, all = ring_of(f, cx, cy, r, r + 1.5f, idx, &skin), n = 0, k = 0;
    for (int i = 0; i < all; i++)
        if (f->skin[idx[i]]) idx[n++] = idx[i];
    if (n < 0.7f * all) return 0;
    float med[2], sp[2];
    for (int p = 0; p < 2; p++) {
        const float *v = p ? rd : lu;
        for (int i = 0; i < n; i++) tmp[i] = v[idx[i]];
        med[p] = quantile(tmp, n, 0.5f);
        for (int i = 0; i < n; i++) tmp[i] = fabsf(v[idx[i]] - med[p]);
        sp[p] = fmaxf(1.4826f * quantile(tmp, n, 0.5f), 1.f / 255);
    }
    for (int i = 0; i < n; i++)
        if (fabsf(lu[idx[i]] - med[0]) <= 2.5f * sp[0] && fabsf(rd[idx[i]] - med[1]) <= 2.5f * sp[1]) idx[k++] = idx[i];
    *spread = sp[0];
    return n && k >= 0.6f * n ? k : 0;
}

/* Finds blemishes in f->img and fills them into out (3 planes, a copy of img). Returns the
 * count, or -1 when out of memory. */
static int blemishes(const look_face *f, float *const out[3], float strength) {
    int w = f->w, h = f->h, count = 0, ns = 0, cap = 0;
    size_t n = (size_t)w * h;
    float rmax = fmaxf(SPOT_R_MAX * f->fw, 2), rmin = fmaxf(SPOT_R_MIN * f->fw, 1);
    float s0 = rmin / (float)M_SQRT2, thr = fmaxf(4.5f - 3 * strength, 2.5f), opacity = fminf(strength / 0.2f, 1);
    int levels = 1 + (int)ceilf(logf(rmax / rmin) / logf((float)M_SQRT2));
    if (levels > SPOT_SCALES) levels = SPOT_SCALES;
    int ringmax = (int)(2 * (3 * rmax + 8) + 3), *idx = malloc((size_t)ringmax * ringmax * 2 * sizeof *idx);
    float *planes = nn_buffer_alloc(n * (8 + 3 * (size_t)levels) * sizeof *planes);
    float *tmp = malloc((size_t)ringmax * ringmax * sizeof *tmp);
    look_spot *spots = NULL;
    if (!idx || !planes || !tmp) goto oom;
    float *luma_p = planes, *red_p = planes + n, *g0 = planes + 2 * n;
    float *fine[3] = {planes + 3 * n, planes + 4 * n, planes + 5 * n}, *z = planes + 6 * n;
    float *gs = z + 2 * (size_t)levels * n;   /* levels + 2 planes: the Gaussian ladder */
    for (int c = 0; c < 3; c++) {   /* the fine band: the texture a fill borrows */
        if (blur(fine[c], f->img[c], w, h, fmaxf(SEP_HIGH * f->fw, 0.5f))) goto oom;
        for (size_t i = 0; i < n; i++) fine[c][i] = f->img[c][i] - fine[c][i];
    }
    for (size_t i = 0; i < n; i++)
        luma_p[i] = luma(f->img[0][i], f->img[1][i], f->img[2][i]), red_p[i] = f->img[0][i] - f->img[1][i];

    /* DoG planes, each in units of its robust spread over skin: z[(2 k + plane) n]. The
     * Gaussian ladder is built incrementally (G(s sqrt 2) = G(s) blurred by s) and level k's
     * DoG is G(2 s_k) - G(s_k), two rungs apart. */
    for (int p = 0; p < 2; p++) {
        float sg = s0;
        if (blur(gs, p ? red_p : luma_p, w, h, sg)) goto oom;
        for (int k = 1; k < levels + 2; k++, sg *= (float)M_SQRT2)
            if (blur(gs + k * n, gs + (k - 1) * n, w, h, sg)) goto oom;
        for (int k = 0; k < levels; k++) {
            const float *a = gs + k * n, *b = gs + (k + 2) * n;
            float *d = z + (2 * (size_t)k + p) * n;
            int m = 0;
            for (size_t i = 0; i < n; i++) {
                d[i] = p ? a[i] - b[i] : b[i] - a[i];
                if (f->skin[i]) g0[m++] = fabsf(d[i]);
            }
            float spread = fmaxf(1.4826f * quantile(g0, m, 0.5f), 0.25f / 255);
            for (size_t i = 0; i < n; i++) d[i] /= spread;
        }
    }

    /* Maxima over space and scale, round, standing out from their ring. */
    for (int k = 0; k < levels; k++)
        for (int p = 0; p < 2; p++) {
            const float *d = z + (2 * (size_t)k + p) * n;
            const float *below = k > 0 ? d - 2 * n : NULL, *above = k + 1 < levels ? d + 2 * n : NULL;
            for (int y = 1; y < h - 1; y++)
                for (int x = 1; x < w - 1; x++) {
                    size_t i = (size_t)y * w + x;
                    float v = d[i];
                    if (v <= thr || !f->skin[i]) continue;
                    int peak = 1;
                    for (int j = 0; j < 9 && peak; j++)
                        peak = j == 4 || v >= d[(ptrdiff_t)i + (j / 3 - 1) * (ptrdiff_t)w + j % 3 - 1];
                    if ((below && below[i] > v) || (above && above[i] > v)) peak = 0;
                    if (!peak) continue;
                    float dxx = d[i + 1] + d[i - 1] - 2 * v, dyy = d[i + w] + d[i - w] - 2 * v;
                    float dxy = (d[i + w + 1] - d[i + w - 1] - d[i - w + 1] + d[i - w - 1]) / 4;
                    float tr = dxx + dyy, det = dxx * dyy - dxy * dxy;
                    if (det <= 0 || tr * tr / det >= (SPOT_EDGE + 1) * (SPOT_EDGE + 1) / SPOT_EDGE) continue;
                    look_spot s = {(float)x, (float)y, (float)M_SQRT2 * s0 * powf((float)M_SQRT2, (float)k), v};
                    if (s.r > rmax || spot_measure(f, p ? red_p : luma_p, p ? 1 : -1, &s, idx, tmp) < SPOT_RING)
                        continue;
                    if (ns == cap) {
                        look_spot *t = realloc(spots, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *t);
                        if (!t) goto oom;
                        spots = t;
                    }
                    spots[ns++] = s;
                }
        }
    if (ns) qsort(spots, (size_t)ns, sizeof *spots, cmp_spot);

    /* Fill the strongest; weaker detections overlapping one (the same spot at other scales
     * and places) are merged into it: its disc grows to cover them. */
    for (int k = 0; k < ns && count < SPOT_MAX; k++) {
        look_spot *sp = &spots[k];
        if (sp->z == 0) continue;
        for (int j = k + 1; j < ns; j++) {
            float d = hypotf(spots[j].cx - sp->cx, spots[j].cy - sp->cy);
            if (spots[j].z > 0 && d < sp->r + spots[j].r)
                sp->r = fminf(fmaxf(sp->r, d + spots[j].r), 1.5f * rmax), spots[j].z = 0;
        }
        float r_in = sp->r + 1, r_out = r_in + fmaxf(1.5f, 0.5f * sp->r), spread;
        int nr = fill_ring(f, luma_p, red_p, sp->cx, sp->cy, r_out, idx, tmp, &spread);
        if (!nr) continue;
        /* Texture: the fine band of a disc as big beside the spot, all skin and not itself a
         * spot, the one whose fine band is closest in strength to that of the spot's ring
         * (within a factor 2; else none). */
        int ox = 0, oy = 0, skin;
        float want = texture_of(f, fine, sp->cx, sp->cy, r_out, r_out + 1.5f), best = logf(2);
        for (int d = 0; d < 8; d++) {
            float a = d * (float)M_PI / 4, L = 2 * r_out + 2;
            int dx = (int)lroundf(L * cosf(a)), dy = (int)lroundf(L * sinf(a)), clean = 1;
            float ex = sp->cx + dx, ey = sp->cy + dy;
            if (ex - r_out < 0 || ey - r_out < 0 || ex + r_out > w - 1 || ey + r_out > h - 1) continue;
            int all = ring_of(f, ex, ey, -1, r_out, idx + nr, &skin);
            for (int j = 0; j < ns && clean; j++)
                clean = !(spots[j].z > 0 && hypotf(spots[j].cx - ex, spots[j].cy - ey) < spots[j].r + r_out);
            if (skin < all || !clean) continue;
            float e = fabsf(logf((texture_of(f, fine, ex, ey, -1, r_out) + 1e-6f) / (want + 1e-6f)));
            if (e < best) best = e, ox = dx, oy = dy;
        }
        int tex = ox || oy;
        for (int y = (int)floorf(sp->cy - r_out); y <= (int)ceilf(sp->cy + r_out); y++)
            for (int x = (int)floorf(sp->cx - r_out); x <= (int)ceilf(sp->cx + r_out); x++) {
                float d = hypotf(x - sp->cx, y - sp->cy), a;
                if (x < 0 || y < 0 || x >= w || y >= h || d >= r_out || !f->keep[(size_t)y * w + x]) continue;
                a = d <= r_in ? 1 : (r_out - d) / (r_out - r_in);
                a = a * a * (3 - 2 * a) * opacity;
                size_t p = (size_t)y * w + x, q = (size_t)(y + oy) * w + x + ox;
                for (int c = 0; c < 3; c++) {
                    float v = ring_fill(f->img[c], w, idx, nr, x, y) + (tex ? fine[c][q] : 0);
                    out[c][p] += a * (v - out[c][p]);
                }
            }
        count++;
    }
    free(idx), free(planes), free(tmp), free(spots);
    return count;
oom:
    free(idx), free(planes), free(tmp), free(spots);
    return -1;
}

/* ============================================================ retouch === */

#define SKIN_FEATHER 0.02f        /* mask feather sigma, face widths */
#define SKIN_GATE 0.05f           /* chromaticity distance from the cheeks' at which the mask is 0.6 */

int look_retouch(img_rgb *im, const float (*lmk)[3], float strength, look_report *rep, char err[LOOK_ERR]) {
    float fw;
    look_report r0 = {0}, *r = rep ? rep : &r0;
    if (check_args(im, lmk, strength, &fw, err)) return -1;
    r->blemishes_removed = 0, r->smooth = 0;
    if (strength == 0) return 0;

    look_region oval = LOOK_FACE_OVAL;
    look_box b = region_box(lmk, &oval, 1, 0.06f * fw, im->w, im->h);
    int w = b.w, h = b.h;
    size_t n = (size_t)w * h;
    if (!n) return 0;   /* the face is outside the image: nothing to retouch */
    float *ws = nn_buffer_alloc(n * 15 * sizeof *ws);   /* 7 planes here, 8 for the bands */
    unsigned char *u8 = calloc(n, 3);
    if (!ws || !u8) {
        free(ws), free(u8);
        return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    }
    look_face f = {w, h, {ws, ws + n, ws + 2 * n}, u8, u8 + n, fw};
    float *out[3] = {ws + 3 * n, ws + 4 * n, ws + 5 * n}, *mask = ws + 6 * n, *work = ws + 7 * n;
    unsigned char *drop = u8 + 2 * n;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            for (int c = 0; c < 3; c++) f.img[c][(size_t)j * w + i] = out[c][(size_t)j * w + i] = p[c] / 255.f;
        }

    /* Skin by geometry: the oval pulled in from the hairline and jaw, minus the features
     * grown by a margin (lids and lashes, brow hairs, lip line); keep: outside the outlines. */
    static const struct { look_region r; float grow; } features[] = {
        {LOOK_RIGHT_EYE, 0.045f}, {LOOK_LEFT_EYE, 0.045f}, {LOOK_RIGHT_BROW, 0.03f}, {LOOK_LEFT_BROW, 0.03f},
        {LOOK_LIPS, 0.025f},      {LOOK_NOSTRILS, 0.015f},
    };
    fill_region(lmk, LOOK_FACE_OVAL, -0.03f * fw, b, f.skin, 1);
    memset(f.keep, 1, n);
    for (int k = 0; k < COUNT(features); k++) {
        fill_region(lmk, features[k].r, features[k].grow * fw, b, drop, 1);
        fill_region(lmk, features[k].r, 0, b, f.keep, 0);
    }
    for (size_t i = 0; i < n; i++) f.skin[i] &= !drop[i];

    int rc = blemishes(&f, out, strength);
    if (rc < 0) goto oom;
    r->blemishes_removed = rc;

    /* Bands of the cleaned image: high = out - b1, mid = b1 - b2. */
    float *b1[3] = {work, work + n, work + 2 * n}, *b2[3] = {work + 3 * n, work + 4 * n, work + 5 * n};
    float *mag = work + 6 * n, *tmp = work + 7 * n;
    for (int c = 0; c < 3; c++)
        if (blur(b1[c], out[c], w, h, fmaxf(SEP_HIGH * fw, 0.5f)) || blur(b2[c], out[c], w, h, SEP_MID * fw)) goto oom;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        float d0 = b1[0][i] - b2[0][i], d1 = b1[1][i] - b2[1][i], d2 = b1[2][i] - b2[2][i];
        mag[i] = sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
        if (f.skin[i]) tmp[m++] = mag[i];
    }
    float typical = fmaxf(quantile(tmp, m, 0.5f), 0.5f / 255);

    /* The mask: geometry feathered, times a gate on the colour of the low band against the
     * cheeks' (hair and hat inside the oval drop out), zero inside the feature outlines. */
    float ref[3] = {0, 0, 0};
    memset(drop, 0, n);
    fill_region(lmk, LOOK_RIGHT_CHEEK, 0, b, drop, 1);
    fill_region(lmk, LOOK_LEFT_CHEEK, 0, b, drop, 1);
    for (int c = 0; c < 3; c++) {
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (drop[i]) tmp[m++] = b2[c][i];
        ref[c] = quantile(tmp, m, 0.5f);
    }
    for (size_t i = 0; i < n; i++) mask[i] = f.skin[i];
    if (blur(mask, mask, w, h, SKIN_FEATHER * fw)) goto oom;
    float rs = ref[0] + ref[1] + ref[2], ry = luma(ref[0], ref[1], ref[2]);
    double e0 = 0, e1 = 0;
    float k_s = fminf(2 * strength, 0.9f);
    for (size_t i = 0; i < n; i++) {
        if (!f.keep[i]) mask[i] = 0;
        if (mask[i] < 1e-3f) mask[i] = 0;
        if (mask[i] > 0 && rs > 0) {   /* rs NAN (no cheek in the box): no gate */
            float s = b2[0][i] + b2[1][i] + b2[2][i] + 1e-6f, y = luma(b2[0][i], b2[1][i], b2[2][i]);
            float dr = b2[0][i] / s - ref[0] / rs, dg = b2[1][i] / s - ref[1] / rs;
            float dl = log2f(fmaxf(y, 1e-3f) / fmaxf(ry, 1e-3f)) / 1.5f;
            mask[i] *= expf(-0.5f * ((dr * dr + dg * dg) / (SKIN_GATE * SKIN_GATE) + dl * dl));
        }
        float x = mag[i] / (SEP_CORE * typical), a = mask[i] * k_s * expf(-x * x);
        if (f.skin[i]) e0 += (double)mag[i] * mag[i], e1 += (double)mag[i] * mag[i] * (1 - a) * (1 - a);
        for (int c = 0; c < 3; c++) out[c][i] -= a * (b1[c][i] - b2[c][i]);
    }
    r->smooth = e0 > 0 ? (float)(1 - e1 / e0) : 0;

    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            for (int c = 0; c < 3; c++) {
                float v = out[c][(size_t)j * w + i] * 255 + 0.5f;
                p[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
            }
        }
    free(ws), free(u8);
    r->ita_after = look_ita(im, lmk);
    return 0;
oom:
    free(ws), free(u8);
    return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
}
