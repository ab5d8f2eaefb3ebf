/* look.c — light and retouch of the framed portrait (see look.h; rules in docs/LOOK.md).
 *
 * look_light works in linear light (gains are physical there): one white balance, one
 * exposure and one smooth fill-light field for the whole image, then a highlight shoulder so
 * that gains above 1 never clip hard. look_retouch works on the sRGB values as floats (the
 * perceptual space retouchers separate frequencies in), inside the face's box only.
 */
#include "look.h"
#include "colour.h"
#include "landmarks.h"
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

static look_skin skin_from(float l, float a, float b) {
    look_skin s = {l, a, b, col_hue(a, b), col_ita(l, b)};
    return s;
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

/* Median linear luminance of region rg seen through linear gains; NAN when it holds no pixel. */
static float region_y(const img_rgb *im, const float (*lmk)[3], look_region rg, const float gain[3],
                      const float lin[256]) {
    look_box b = region_box(lmk, &rg, 1, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np + 1, 1);
    float *v = malloc((np + 1) * sizeof *v), y = NAN;
    int n = 0;
    if (m && v) {
        fill_region(lmk, rg, 0, b, m, 1);
        for (size_t i = 0; i < np; i++) {
            if (!m[i]) continue;
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + i / b.w) * im->w + b.x0 + i % b.w);
            float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
            v[n++] = col_luminance(c);
        }
        y = quantile(v, n, 0.5f);
    }
    free(m), free(v);
    return y;
}

/* ============================================================ light: the skin === */

/* The subject's cheek pixels (linear RGB and position), every step-th one up to CHEEK_MAX:
 * what the skin's tone is measured on, before and after each light step. */
#define CHEEK_MAX 8192

typedef struct {
    float *c;                     /* n x 3 linear RGB */
    float *xy;                    /* n x 2 pixel centres */
    int n;
} look_cheeks;

static int cheeks_load(const img_rgb *im, const float (*lmk)[3], const float lin[256], look_cheeks *k) {
    static const look_region rs[] = {LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK};
    look_box b = region_box(lmk, rs, 2, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h, cnt = 0, seen = 0;
    unsigned char *m = calloc(np + 1, 1);
    k->n = 0, k->c = k->xy = NULL;
    if (!m) return -1;
    for (int i = 0; i < 2; i++) fill_region(lmk, rs[i], 0, b, m, 1);
    for (size_t i = 0; i < np; i++) cnt += m[i];
    size_t step = cnt > CHEEK_MAX ? (cnt + CHEEK_MAX - 1) / CHEEK_MAX : 1;
    k->c = malloc((cnt / step + 1) * 3 * sizeof *k->c), k->xy = malloc((cnt / step + 1) * 2 * sizeof *k->xy);
    if (!k->c || !k->xy) return free(m), free(k->c), free(k->xy), k->c = k->xy = NULL, -1;
    for (size_t i = 0; i < np; i++) {
        if (!m[i] || seen++ % step) continue;
        int x = b.x0 + (int)(i % b.w), y = b.y0 + (int)(i / b.w);
        const unsigned char *p = im->rgb + 3 * ((size_t)y * im->w + x);
        for (int c = 0; c < 3; c++) k->c[3 * k->n + c] = lin[p[c]];
        k->xy[2 * k->n] = x + 0.5f, k->xy[2 * k->n + 1] = y + 0.5f, k->n++;
    }
    free(m);
    return 0;
}

static void cheeks_free(look_cheeks *k) { free(k->c), free(k->xy), k->c = k->xy = NULL, k->n = 0; }

/* Fill light (see "light: fill" below): a smooth gain field 2^(stops * shape). */
typedef struct {
    float cx, cy;                 /* field centre, image pixels */
    float ax, ay;                 /* unit vector toward the shadow side */
    float inv_fw;                 /* 1 / face width */
    float stops;                  /* field amplitude: gain = 2^(stops * shape) */
} look_fill;

#define FILL_RAMP 0.12f           /* sigmoid scale, face widths */
#define FILL_REACH 0.9f           /* Gaussian sigma, face widths */

static float fill_shape(const look_fill *f, float x, float y) {
    float dx = x - f->cx, dy = y - f->cy, p = (dx * f->ax + dy * f->ay) * f->inv_fw;
    float r2 = (dx * dx + dy * dy) * f->inv_fw * f->inv_fw;
    return expf(-0.5f * r2 / (FILL_REACH * FILL_REACH)) / (1 + expf(-p / FILL_RAMP));
}

/* Per-channel gain z, then a shoulder above SHOULDER_KNEE that maps the largest possible value
 * (zmax) to 1 with a continuous slope, so lifted highlights roll off instead of clipping. */
#define SHOULDER_KNEE 0.8f

static inline float shoulder(float z, float zmax) {
    if (zmax <= 1 || z <= SHOULDER_KNEE) return z;
    float a = (zmax - SHOULDER_KNEE) / (1 - SHOULDER_KNEE), t = fminf((z - SHOULDER_KNEE) / (zmax - SHOULDER_KNEE), 1);
    return SHOULDER_KNEE + (1 - SHOULDER_KNEE) * (1 - powf(1 - t, a));
}

/* What the light does: white balance x exposure, the fill field, then the shoulder (the
 * highlights step, which follows from the other three). */
typedef struct {
    float wb[3];                  /* white-balance gains on linear RGB (a neutral keeps its luminance) */
    float ev;                     /* exposure, stops */
    look_fill fill;
} look_plan;

static const look_plan plan_none = {{1, 1, 1}, 0, {0, 0, 1, 0, 1, 0}};

static float plan_gains(const look_plan *p, float g[3]) {
    for (int c = 0; c < 3; c++) g[c] = p->wb[c] * exp2f(p->ev);
    return fmaxf(g[0], fmaxf(g[1], g[2])) * exp2f(fmaxf(p->fill.stops, 0));   /* the shoulder's zmax */
}

/* The skin of the cheeks k seen through plan p. */
static look_skin cheeks_skin(const look_cheeks *k, const look_plan *p) {
    look_skin s = {NAN, NAN, NAN, NAN, NAN};
    float *v = malloc((size_t)(3 * k->n + 1) * sizeof *v), g[3], gmax = plan_gains(p, g);
    if (!v || !k->n) return free(v), s;
    for (int i = 0; i < k->n; i++) {
        float f = p->fill.stops != 0 ? exp2f(p->fill.stops * fill_shape(&p->fill, k->xy[2 * i], k->xy[2 * i + 1])) : 1;
        float c[3], lab[3];
        for (int j = 0; j < 3; j++) c[j] = fminf(shoulder(k->c[3 * i + j] * g[j] * f, gmax), 1);
        col_lab(c, lab);
        v[i] = lab[0], v[k->n + i] = lab[1], v[2 * k->n + i] = lab[2];
    }
    s = skin_from(quantile(v, k->n, 0.5f), quantile(v + k->n, k->n, 0.5f), quantile(v + 2 * k->n, k->n, 0.5f));
    free(v);
    return s;
}

/* ============================================================ light: tone guard === */

/* An exposure change moves the ITA of the skin by itself (L* and b* do not scale alike): that
 * much is explained, but at most LOOK_GUARD_EXP_ITA degrees of it, so that the skin's total ITA
 * change stays within what a viewer reads as the same person's tone (10 degrees). On nearly
 * grey skin (chroma under GUARD_CHROMA: overexposed, greyscale) a tiny tint turns the hue angle
 * far, and a viewer sees the tint, not the angle: there the shift of (a*, b*) is bounded to what
 * LOOK_GUARD_HUE degrees would be at GUARD_CHROMA, so a grey face is not tinted at all. */
#define GUARD_CHROMA 3.f
#define GUARD_STEPS 7             /* bisection steps on a correction's share: 1/128 */

typedef struct {
    float hue, ita, exp_ita;      /* hue change, ITA change beyond the exposure's, the exposure's */
} look_move;

/* How far the skin's hue turned from s0 to s, degrees; on nearly grey skin the shift of
 * (a*, b*) in the degrees it would be at GUARD_CHROMA. */
static float hue_move(look_skin s0, look_skin s) {
    float shift = hypotf(s.a - s0.a, s.b - s0.b), limit = GUARD_CHROMA * sinf(LOOK_GUARD_HUE * (float)M_PI / 180);
    return hypotf(s0.a, s0.b) >= GUARD_CHROMA ? col_angle_diff(s.hue, s0.hue)
         : shift <= limit ? 0 : copysignf(LOOK_GUARD_HUE * shift / limit, col_angle_diff(s.hue, s0.hue));
}

/* 1 when plan p keeps the tone of the skin s0 of the cheeks k (see look.h); *m gets the moves. */
static int tone_kept(const look_cheeks *k, look_skin s0, const look_plan *p, look_move *m) {
    look_skin s = cheeks_skin(k, p);
    look_plan e = plan_none;
    e.ev = p->ev;
    m->exp_ita = p->ev != 0 ? cheeks_skin(k, &e).ita - s0.ita : 0;
    m->ita = s.ita - s0.ita - m->exp_ita;
    m->hue = hue_move(s0, s);
    if (!isfinite(s.ita) || !isfinite(s0.ita)) return *m = (look_move){0, 0, 0}, 1;   /* no skin to watch */
    return fabsf(m->hue) <= LOOK_GUARD_HUE && fabsf(m->ita) <= LOOK_GUARD_ITA && fabsf(m->exp_ita) <= LOOK_GUARD_EXP_ITA;
}

/* Step `step` of full at share t: white balance and team as powers of their gains, exposure
 * and fill as multiples of their stops. */
static look_plan plan_scaled(const look_plan *full, int step, float t) {
    look_plan q = *full;
    if (step == LOOK_STEP_WB || step == LOOK_STEP_TEAM)
        for (int c = 0; c < 3; c++) q.wb[c] = powf(full->wb[c], t);
    if (step == LOOK_STEP_EXPOSURE || step == LOOK_STEP_TEAM) q.ev = full->ev * t;
    if (step == LOOK_STEP_FILL) q.fill.stops = full->fill.stops * t;
    return q;
}

/* The guard after one step: the largest share of the step's correction that keeps the tone
 * (the steps before it have kept it, so share 0 does); the cut and its reason go to r. */
static float guard_step(const look_cheeks *k, look_skin s0, look_plan *p, int step, look_report *r) {
    static const char *const names[LOOK_STEPS] = {"white balance", "exposure", "fill light", "team gain"};
    look_move full, m;
    r->guard[step] = 1;
    if (tone_kept(k, s0, p, &full)) return 1;
    float lo = 0, hi = 1;
    for (int i = 0; i < GUARD_STEPS; i++) {
        float mid = 0.5f * (lo + hi);
        look_plan q = plan_scaled(p, step, mid);
        if (tone_kept(k, s0, &q, &m)) lo = mid;
        else hi = mid;
    }
    *p = plan_scaled(p, step, lo);
    r->guard[step] = lo;
    size_t n = strlen(r->guard_why);
    snprintf(r->guard_why + n, sizeof r->guard_why - n, "%s%s x%.2f (would move hue %+.1f, ITA %+.1f + %+.1f from exposure)",
             n ? "; " : "", names[step], lo, full.hue, full.ita, full.exp_ita);
    return lo;
}

float look_guard_gain(const img_rgb *im, const float (*lmk)[3], float gain[3], char why[LOOK_GUARD_WHY]) {
    const float *lin = col_linear_table();
    look_cheeks k;
    look_report r;
    r.guard_why[0] = 0;
    if (why) why[0] = 0;
    if (!im || !im->rgb || !lmk || !gain || !(gain[0] > 0 && gain[1] > 0 && gain[2] > 0)) return 1;
    if (cheeks_load(im, lmk, lin, &k)) return 1;
    look_skin s0 = cheeks_skin(&k, &plan_none);
    look_plan p = plan_none;
    p.ev = log2f(col_luminance(gain));
    for (int c = 0; c < 3; c++) p.wb[c] = gain[c] / exp2f(p.ev);
    float t = guard_step(&k, s0, &p, LOOK_STEP_TEAM, &r);
    plan_gains(&p, gain);
    cheeks_free(&k);
    if (why) snprintf(why, LOOK_GUARD_WHY, "%s", r.guard_why);
    return t;
}

/* ============================================================ light: scene === */

/* White balance: the illuminant is the chromaticity most of the scene's near-neutral light
 * agrees on. Skin never votes: every pixel whose chromaticity matches the subject's own
 * cheeks (anyone's neck, arms, hands, other faces of a like tone) is left out, and so is every
 * detected face with its hair (a box around it, wider above). Clipped and dark blocks are
 * left out too; the others vote in a log-chromaticity histogram (u = ln R/G, v = ln B/G)
 * weighted by their luminance (bright surfaces are the likelier whites); the winner is the
 * densest small disc, times a prior for real illuminants: along the warm-cool
 * (tungsten-daylight-shade) axis, wider on the warm side, narrow across it (green-magenta).
 * Trust needs strong evidence: the winner must cover a fair part of the picture and of the
 * voting weight, and agree on the warm-cool axis with the white patch (each channel's 99th
 * percentile: the brightest things), which sees through a scene whose only large surface is
 * coloured (a blue backdrop under warm light looks like a neutral under cool light).
 * Disagreement means doing less, never more. Then a dead band: tints under WB_DEAD are left
 * alone (a lavender backdrop is a colour, not a cast), casts above WB_FULL are corrected in
 * full, a ramp in between; of a warm cast only WB_WARM_KEEP is corrected (warm light is
 * often the photographer's choice). The tone guard has the last word. */
#define WB_BINS 129                /* histogram side; bin WB_BINS/2 is u or v = 0 */
#define WB_STEP 0.025f             /* log-chromaticity per bin */
#define WB_SEARCH 40               /* candidate illuminants within +-1.0 of neutral */
#define WB_DISC 2                  /* bins: radius of the agreement disc */
#define WB_MAX 0.9f                /* largest correction, ln units (x2.5 between channels) */
#define WB_DEAD 0.08f              /* tint left alone, ln units */
#define WB_FULL 0.25f              /* tint corrected in full; ramp in between */
#define WB_NEUTRAL_FULL 0.15f      /* neutral share of the voting weight that gives full trust */
#define WB_AREA_FULL 0.08f         /* ... and share of the picture's blocks */
#define WB_AGREE_OK 0.15f          /* warm-cool disagreement with the white patch that is ignored */
#define WB_AGREE 0.4f              /* ... and the further disagreement that removes all trust */
#define WB_WARM_KEEP 0.5f          /* share of a warm cast that is corrected */
#define WB_SKIN_R 0.12f            /* chromaticity radius around the cheeks' that is skin, ln units */
#define WB_SKIN_RMAX 0.2f          /* ... and at most (a wide skin model would take in the scene) */
#define THUMB 256                  /* statistics image: long side in blocks */

static const float wb_axis[2] = {0.53f, -0.85f};   /* warm direction in (u, v): 6500 K -> 2700 K */

typedef struct {
    float u, v;                   /* illuminant log-chromaticity ln(R/G), ln(B/G) */
    float neutral;                /* share of the voting weight near it */
    float area;                   /* share of all blocks voting near it */
    float agree;                  /* 0..1 agreement with the white patch */
    float *blk;                   /* thumb blocks: linear mean RGB, n * 3 */
    int n;                        /* blocks */
} look_scene;

/* The skin's chromaticity: median ln R/G, ln B/G of the cheeks and a radius of three robust
 * spreads, between WB_SKIN_R and WB_SKIN_RMAX. */
static void skin_chroma(const look_cheeks *k, float sk[4]) {
    float *v = malloc((size_t)(k->n + 1) * sizeof *v);
    sk[0] = sk[1] = 1e9f, sk[2] = sk[3] = 0;
    if (!v || k->n < 8) return free(v);
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < k->n; i++) v[i] = logf(fmaxf(k->c[3 * i + 2 * d], 1e-4f) / fmaxf(k->c[3 * i + 1], 1e-4f));
        float med = quantile(v, k->n, 0.5f);
        for (int i = 0; i < k->n; i++) v[i] = fabsf(v[i] - med);
        sk[d] = med, sk[2 + d] = fminf(fmaxf(WB_SKIN_R, 3 * 1.4826f * quantile(v, k->n, 0.5f)), WB_SKIN_RMAX);
    }
    free(v);
}

/* Heads: every face box (and the subject's landmarks' box) grown to take in the hair. */
#define HEAD_MAX 32

static int head_boxes(const float (*lmk)[3], const look_light_opts *o, float hb[HEAD_MAX][4]) {
    float b[4] = {1e30f, 1e30f, -1e30f, -1e30f};
    for (int i = 0; i < LMK_POINTS; i++)
        b[0] = fminf(b[0], lmk[i][0]), b[1] = fminf(b[1], lmk[i][1]), b[2] = fmaxf(b[2], lmk[i][0]), b[3] = fmaxf(b[3], lmk[i][1]);
    int n = 0;
    for (int f = -1; f < (o ? o->n_faces : 0) && n < HEAD_MAX; f++) {
        const float *q = f < 0 ? b : o->faces[f];
        float bw = q[2] - q[0], bh = q[3] - q[1];
        if (!(bw > 0 && bh > 0)) continue;
        hb[n][0] = q[0] - 0.35f * bw, hb[n][2] = q[2] + 0.35f * bw;
        hb[n][1] = q[1] - 0.7f * bh, hb[n][3] = q[3] + 0.15f * bh, n++;
    }
    return n;
}

/* The densest disc of hist times the illuminant prior, then the unweighted centre of mass of
 * its cluster and the cluster's weight and block count. */
static void scene_vote(const float *hist, const int *count, float total, int blocks, look_scene *sc) {
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
    double su = 0, sv = 0, sm = 0;
    long cnt = 0;
    for (int du = -3 * WB_DISC; du <= 3 * WB_DISC; du++)
        for (int dv = -3 * WB_DISC; dv <= 3 * WB_DISC; dv++) {
            if (du * du + dv * dv > 9 * WB_DISC * WB_DISC) continue;
            float m = hist[(bu + du) * WB_BINS + bv + dv];
            su += m * (bu + du - WB_BINS / 2) * WB_STEP, sv += m * (bv + dv - WB_BINS / 2) * WB_STEP, sm += m;
            cnt += count[(bu + du) * WB_BINS + bv + dv];
        }
    sc->u = sm > 0 ? (float)(su / sm) : 0, sc->v = sm > 0 ? (float)(sv / sm) : 0;
    sc->neutral = total > 0 ? (float)(sm / total) : 0;
    sc->area = blocks > 0 ? (float)cnt / blocks : 0;
}

static int scene_stats(const img_rgb *im, const float (*lmk)[3], const look_light_opts *o, const look_cheeks *ck,
                       const float lin[256], look_scene *sc, char err[LOOK_ERR]) {
    int w = im->w, h = im->h, k = ((w > h ? w : h) + THUMB - 1) / THUMB;
    int sw = (w + k - 1) / k, sh = (h + k - 1) / k, nh, nscene = 0;
    float hb[HEAD_MAX][4], sk[4], lnl[256], total = 0, *hist = calloc(WB_BINS * WB_BINS, sizeof *hist);
    int *count = calloc(WB_BINS * WB_BINS, sizeof *count);
    unsigned char *head = malloc((size_t)sw * sh);
    float *chan = malloc((size_t)sw * sh * sizeof *chan);
    sc->blk = malloc((size_t)sw * sh * 3 * sizeof *sc->blk), sc->n = sw * sh;
    if (!hist || !count || !head || !chan || !sc->blk) {
        free(hist), free(count), free(head), free(chan), free(sc->blk), sc->blk = NULL;
        return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    }
    nh = head_boxes(lmk, o, hb), skin_chroma(ck, sk);
    for (int i = 0; i < 256; i++) lnl[i] = logf(fmaxf(lin[i], 1e-4f));
    for (int by = 0; by < sh; by++)
        for (int bx = 0; bx < sw; bx++) {
            double s[3] = {0, 0, 0}, ns[3] = {0, 0, 0}, a = 0;
            int cnt = 0, nonskin = 0, clipped = 0, inhead = 0;
            float cx = (bx + 0.5f) * k, cy = (by + 0.5f) * k;
            for (int i = 0; i < nh; i++) inhead |= cx >= hb[i][0] && cx <= hb[i][2] && cy >= hb[i][1] && cy <= hb[i][3];
            for (int y = by * k; y < (by + 1) * k && y < h; y++)
                for (int x = bx * k; x < (bx + 1) * k && x < w; x++) {
                    const unsigned char *p = im->rgb + 3 * ((size_t)y * w + x);
                    s[0] += lin[p[0]], s[1] += lin[p[1]], s[2] += lin[p[2]], cnt++;
                    clipped |= p[0] >= 250 || p[1] >= 250 || p[2] >= 250;
                    if (fabsf(lnl[p[0]] - lnl[p[1]] - sk[0]) <= sk[2] && fabsf(lnl[p[2]] - lnl[p[1]] - sk[1]) <= sk[3]) continue;
                    ns[0] += lin[p[0]], ns[1] += lin[p[1]], ns[2] += lin[p[2]], nonskin++;
                    if (o && o->alpha) a += o->alpha[(size_t)y * w + x];
                }
            float *c = sc->blk + 3 * ((size_t)by * sw + bx), n[3];
            for (int i = 0; i < 3; i++) c[i] = (float)(s[i] / cnt), n[i] = nonskin ? (float)(ns[i] / nonskin) : 0;
            nscene += !inhead, head[by * sw + bx] = (unsigned char)inhead;
            float y = col_luminance(n);
            if (inhead || clipped || 2 * nonskin < cnt || y < 0.02f || n[0] < 1e-4f || n[1] < 1e-4f || n[2] < 1e-4f) continue;
            int iu = (int)lroundf(logf(n[0] / n[1]) / WB_STEP) + WB_BINS / 2;
            int iv = (int)lroundf(logf(n[2] / n[1]) / WB_STEP) + WB_BINS / 2;
            float wt = y * (o && o->alpha ? 0.25f + 0.75f * (float)(a / nonskin) : 1);
            total += wt;
            if (iu >= 0 && iv >= 0 && iu < WB_BINS && iv < WB_BINS) hist[iu * WB_BINS + iv] += wt, count[iu * WB_BINS + iv]++;
        }
    scene_vote(hist, count, total, sc->n, sc);

    /* White patch: each channel's 99th percentile over the blocks off the heads (clipped included). */
    float wp[3];
    for (int c = 0; c < 3; c++) {
        int m = 0;
        for (int i = 0; i < sc->n; i++)
            if (!head[i]) chan[m++] = sc->blk[3 * i + c];
        wp[c] = m ? fmaxf(quantile(chan, m, 0.99f), 1e-4f) : 1;
    }
    float wa = logf(wp[0] / wp[1]) * wb_axis[0] + logf(wp[2] / wp[1]) * wb_axis[1];
    float va = sc->u * wb_axis[0] + sc->v * wb_axis[1];
    sc->agree = nscene ? fminf(fmaxf(1 - (fabsf(wa - va) - WB_AGREE_OK) / WB_AGREE, 0), 1) : 0;
    free(hist), free(count), free(head), free(chan);
    return 0;
}

/* The white-balance gains from the scene (see above), strength applied; *trust gets the trust. */
static void wb_gains(const look_scene *sc, float strength, float gain[3], float *trust) {
    float u = sc->u, v = sc->v;
    float along = u * wb_axis[0] + v * wb_axis[1];
    if (along > 0) u -= (1 - WB_WARM_KEEP) * along * wb_axis[0], v -= (1 - WB_WARM_KEEP) * along * wb_axis[1];
    float len = hypotf(u, v);
    float keep = len <= WB_DEAD ? 0
               : len >= WB_FULL ? fminf(len, WB_MAX) / len
                                : (len - WB_DEAD) / (WB_FULL - WB_DEAD) * WB_FULL / len;
    *trust = fminf(sc->neutral / WB_NEUTRAL_FULL, 1) * fminf(sc->area / WB_AREA_FULL, 1) * sc->agree;
    u *= keep * *trust * strength, v *= keep * *trust * strength;
    float e[3] = {expf(u), 1, expf(v)}, ey = col_luminance(e);
    for (int c = 0; c < 3; c++) gain[c] = ey / e[c];
}

/* ============================================================ light: exposure === */

/* Exposure from the scene, never toward a skin lightness (see docs/LOOK.md): lift only when
 * nothing in the photo reaches the top of the range (the 99th percentile of the face, which
 * holds eye whites, teeth and specular highlights, and of the whole picture): by that
 * headroom less a dead band. A dark-skinned face in a well exposed photo has bright things
 * around it, so it is left as it is; the tone guard bounds the ITA a lift may move. */
#define EXP_WHITE_L 90.f          /* where the photo's 99th percentile should sit */
#define EXP_DEADBAND 0.2f         /* stops of headroom that are left alone */
#define EXP_MAX_UP 1.5f

static float y_of_l(float l) {
    float f = (l + 16) / 116;
    return f > 6.f / 29 ? f * f * f : l * 27 / 24389;
}

static int exposure_ev(const img_rgb *im, const float (*lmk)[3], const look_scene *sc, const float gain[3],
                       const float lin[256], float *ev, char err[LOOK_ERR]) {
    look_region oval = LOOK_FACE_OVAL;
    look_box b = region_box(lmk, &oval, 1, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np + 1, 1);
    float *v = malloc(((np > (size_t)sc->n ? np : (size_t)sc->n) + 1) * sizeof *v);
    if (!m || !v) return free(m), free(v), snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    fill_region(lmk, LOOK_FACE_OVAL, 0, b, m, 1);
    int n = 0;
    for (size_t i = 0; i < np; i++)
        if (m[i]) {
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + i / b.w) * im->w + b.x0 + i % b.w);
            float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
            v[n++] = col_luminance(c);
        }
    float face_hi = quantile(v, n, 0.99f);
    for (int i = 0; i < sc->n; i++) {
        const float *c = sc->blk + 3 * i;
        float g[3] = {c[0] * gain[0], c[1] * gain[1], c[2] * gain[2]};
        v[i] = col_luminance(g);
    }
    float scene_hi = quantile(v, sc->n, 0.99f), hi = n ? fmaxf(face_hi, scene_hi) : scene_hi;
    free(m), free(v);
    *ev = hi > 0 ? fminf(fmaxf(log2f(y_of_l(EXP_WHITE_L) / hi) - EXP_DEADBAND, 0), EXP_MAX_UP) : 0;
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

static look_fill fill_plan(const img_rgb *im, const float (*lmk)[3], const float gain[3], const float lin[256],
                           float fw, float strength) {
    look_fill f = {0, 0, 1, 0, 1 / fw, 0};
    float ry = region_y(im, lmk, LOOK_RIGHT_CHEEK, gain, lin), ly = region_y(im, lmk, LOOK_LEFT_CHEEK, gain, lin);
    float px[MAX_OUTLINE], py[MAX_OUTLINE], c[2][2] = {{0, 0}, {0, 0}};
    for (int s = 0; s < 2; s++) {
        int n = outline(lmk, s ? LOOK_LEFT_CHEEK : LOOK_RIGHT_CHEEK, 0, px, py);
        for (int i = 0; i < n; i++) c[s][0] += px[i] / n, c[s][1] += py[i] / n;
    }
    if (!(ry > 0) || !(ly > 0)) return f;
    float diff = log2f(ly / ry);          /* > 0: the subject's right cheek is the darker */
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
    return f;
}

/* The lift the fill gives the shadow-side cheek, stops. */
static float fill_lift(const look_fill *f, const float (*lmk)[3]) {
    if (f->stops == 0) return 0;
    float px[MAX_OUTLINE], py[MAX_OUTLINE], best = 0;
    for (int s = 0; s < 2; s++) {
        int n = outline(lmk, s ? LOOK_LEFT_CHEEK : LOOK_RIGHT_CHEEK, 0, px, py);
        float cx = 0, cy = 0;
        for (int i = 0; i < n; i++) cx += px[i] / n, cy += py[i] / n;
        best = fmaxf(best, f->stops * fill_shape(f, cx, cy));
    }
    return best;
}

/* ============================================================ light === */

/* The gains, the fill field and the shoulder applied to rows y0..y1, in parallel. */
typedef struct {
    img_rgb *im;
    const float *lin, *gain;      /* [256] sRGB byte -> linear; [3] white balance x exposure */
    float gmax;                   /* largest gain with the fill: the shoulder's zmax */
    const look_fill *fill;
} light_job;

static void light_rows(void *arg, int y0, int y1) {
    const light_job *j = arg;
    const look_fill *f = j->fill;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->im->w; x++) {
            unsigned char *p = j->im->rgb + 3 * ((size_t)y * j->im->w + x);
            float g = f->stops != 0 ? exp2f(f->stops * fill_shape(f, x + 0.5f, y + 0.5f)) : 1;
            for (int c = 0; c < 3; c++) p[c] = col_srgb(shoulder(j->lin[p[c]] * j->gain[c] * g, j->gmax));
        }
}

look_skin look_skin_of(const img_rgb *im, const float (*lmk)[3]) {
    look_skin s = {NAN, NAN, NAN, NAN, NAN};
    const float *lin = col_linear_table();
    look_cheeks k;
    if (!im || !im->rgb || !lmk) return s;
    if (cheeks_load(im, lmk, lin, &k)) return s;
    s = cheeks_skin(&k, &plan_none);
    cheeks_free(&k);
    return s;
}

float look_ita(const img_rgb *im, const float (*lmk)[3]) { return look_skin_of(im, lmk).ita; }

/* The plan: white balance, exposure on the balanced image, fill on the balanced, exposed one,
 * each under the tone guard. */
static int light_plan(const img_rgb *im, const float (*lmk)[3], const look_light_opts *o, float strength, float fw,
                      const float lin[256], const look_cheeks *k, look_plan *p, look_report *r, char err[LOOK_ERR]) {
    look_scene sc;
    *p = plan_none;
    if (scene_stats(im, lmk, o, k, lin, &sc, err)) return -1;
    if (!o || o->white_balance) wb_gains(&sc, strength, p->wb, &r->wb_trust);
    memcpy(r->wb_scene, p->wb, sizeof p->wb);
    guard_step(k, r->skin_before, p, LOOK_STEP_WB, r);
    int rc = exposure_ev(im, lmk, &sc, p->wb, lin, &p->ev, err);
    free(sc.blk);
    if (rc) return -1;
    p->ev *= strength;
    guard_step(k, r->skin_before, p, LOOK_STEP_EXPOSURE, r);
    float g[3];
    plan_gains(p, g);
    p->fill = fill_plan(im, lmk, g, lin, fw, strength);
    guard_step(k, r->skin_before, p, LOOK_STEP_FILL, r);
    return 0;
}

int look_light(img_rgb *im, const float (*lmk)[3], const look_light_opts *o, float strength, look_report *rep,
               char err[LOOK_ERR]) {
    float fw;
    const float *lin = col_linear_table();
    look_report r0 = {0}, *r = rep ? rep : &r0;
    if (check_args(im, lmk, strength, &fw, err)) return -1;
    look_cheeks k;
    if (cheeks_load(im, lmk, lin, &k)) return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    r->skin_before = r->skin_after = cheeks_skin(&k, &plan_none);
    r->ita_before = r->ita_after = r->skin_before.ita;
    r->face_l = r->skin_before.l;
    r->exposure_ev = 0, r->fill = 0, r->wb_trust = 0, r->guard_why[0] = 0;
    for (int c = 0; c < 3; c++) r->wb_gain[c] = r->wb_scene[c] = 1;
    for (int s = 0; s < LOOK_STEPS; s++) r->guard[s] = 1;
    look_plan p = plan_none;
    if (strength > 0 && light_plan(im, lmk, o, strength, fw, lin, &k, &p, r, err)) return cheeks_free(&k), -1;
    cheeks_free(&k);
    memcpy(r->wb_gain, p.wb, sizeof p.wb);
    r->exposure_ev = p.ev, r->fill = fill_lift(&p.fill, lmk);
    float g[3], gmax = plan_gains(&p, g);
    if (g[0] == 1 && g[1] == 1 && g[2] == 1 && p.fill.stops == 0) return 0;   /* nothing to correct */
    light_job j = {im, lin, g, gmax, &p.fill};
    nn_parallel_rows(im->h, light_rows, &j);
    r->skin_after = look_skin_of(im, lmk);
    r->ita_after = r->skin_after.ita;
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
            float l = col_luma(fine[0][i], fine[1][i], fine[2][i]);
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
        luma_p[i] = col_luma(f->img[0][i], f->img[1][i], f->img[2][i]), red_p[i] = f->img[0][i] - f->img[1][i];

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

/* The box b of im becomes img + t (out - img) (planes of 0..1 values). */
static void retouch_write(img_rgb *im, look_box b, const float *const *img, const float *const *out, float t) {
    for (int j = 0; j < b.h; j++)
        for (int i = 0; i < b.w; i++) {
            unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + j) * im->w + b.x0 + i);
            for (int c = 0; c < 3; c++) {
                size_t k = (size_t)j * b.w + i;
                float v = (img[c][k] + t * (out[c][k] - img[c][k])) * 255 + 0.5f;
                p[c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : (int)v);
            }
        }
}

/* The retouch under the tone guard: evening out blotches moves the cheeks' median colour, and
 * on nearly grey skin that is a visible tint. The largest share of the retouch (bisected) that
 * keeps the skin's hue (hue_move) and ITA within the guard's bounds is written. Returns it. */
static float retouch_guarded(img_rgb *im, const float (*lmk)[3], look_box b, const float *const *img,
                             const float *const *out) {
    retouch_write(im, b, img, out, 0);
    look_skin s0 = look_skin_of(im, lmk);
    if (!isfinite(s0.ita)) return retouch_write(im, b, img, out, 1), 1;   /* no cheek to watch */
    float lo = 0, hi = 1, t = 1;
    for (int i = 0; i <= GUARD_STEPS; i++, t = 0.5f * (lo + hi)) {
        retouch_write(im, b, img, out, t);
        look_skin s = look_skin_of(im, lmk);
        if (!isfinite(s.ita) || (fabsf(hue_move(s0, s)) <= LOOK_GUARD_HUE && fabsf(s.ita - s0.ita) <= LOOK_GUARD_ITA)) {
            if (t == 1) return 1;
            lo = t;
        } else {
            hi = t;
        }
    }
    retouch_write(im, b, img, out, lo);
    return lo;
}

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
    r->retouch_kept = 1;
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
    float rs = ref[0] + ref[1] + ref[2], ry = col_luma(ref[0], ref[1], ref[2]);
    double e0 = 0, e1 = 0;
    float k_s = fminf(2 * strength, 0.9f);
    for (size_t i = 0; i < n; i++) {
        if (!f.keep[i]) mask[i] = 0;
        if (mask[i] < 1e-3f) mask[i] = 0;
        if (mask[i] > 0 && rs > 0) {   /* rs NAN (no cheek in the box): no gate */
            float s = b2[0][i] + b2[1][i] + b2[2][i] + 1e-6f, y = col_luma(b2[0][i], b2[1][i], b2[2][i]);
            float dr = b2[0][i] / s - ref[0] / rs, dg = b2[1][i] / s - ref[1] / rs;
            float dl = log2f(fmaxf(y, 1e-3f) / fmaxf(ry, 1e-3f)) / 1.5f;
            mask[i] *= expf(-0.5f * ((dr * dr + dg * dg) / (SKIN_GATE * SKIN_GATE) + dl * dl));
        }
        float x = mag[i] / (SEP_CORE * typical), a = mask[i] * k_s * expf(-x * x);
        if (f.skin[i]) e0 += (double)mag[i] * mag[i], e1 += (double)mag[i] * mag[i] * (1 - a) * (1 - a);
        for (int c = 0; c < 3; c++) out[c][i] -= a * (b1[c][i] - b2[c][i]);
    }
    r->smooth = e0 > 0 ? (float)(1 - e1 / e0) : 0;

    r->retouch_kept = retouch_guarded(im, lmk, b, (const float *const *)f.img, (const float *const *)out);
    free(ws), free(u8);
    r->skin_after = look_skin_of(im, lmk);
    r->ita_after = r->skin_after.ita;
    return 0;
oom:
    free(ws), free(u8);
    return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
}
