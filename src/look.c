/* look.c — what light (light.c) and retouch (retouch.c) share (look_parts.h): the face's
 * regions, the skin measured on the cheeks, the light's plan seen on the skin, the tone guard
 * (rules in docs/LOOK.md).
 */
#include "look_parts.h"
#include "colour.h"
#include "landmarks.h"

#include <math.h>
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

static const struct { const int *ix; int n; } regions[LOOK_REGIONS] = {
    {oval_ix, COUNT(oval_ix)},       {reye_ix, COUNT(reye_ix)},         {leye_ix, COUNT(leye_ix)},
    {rbrow_ix, COUNT(rbrow_ix)},     {lbrow_ix, COUNT(lbrow_ix)},       {lips_ix, COUNT(lips_ix)},
    {mouth_ix, COUNT(mouth_ix)},     {nostrils_ix, COUNT(nostrils_ix)}, {rcheek_ix, COUNT(rcheek_ix)},
    {lcheek_ix, COUNT(lcheek_ix)},   {forehead_ix, COUNT(forehead_ix)},
};

/* Outline of r offset by grow pixels along its outward normals (mitred, the mitre limited to
 * twice grow at sharp corners); returns the vertex count. */
int look__outline(const float (*lmk)[3], look_region r, float grow, float *px, float *py) {
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
void look__fill_region(const float (*lmk)[3], look_region r, float grow, look_box b, unsigned char *m,
                        unsigned char value) {
    float px[MAX_OUTLINE], py[MAX_OUTLINE], xs[MAX_OUTLINE];
    int n = look__outline(lmk, r, grow, px, py);
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
    look__fill_region(lmk, r, grow, (look_box){0, 0, w, h}, mask, 1);
}

/* The box around regions rs[0..nr) grown by margin pixels, clipped to the image (may be empty). */
look_box look__region_box(const float (*lmk)[3], const look_region *rs, int nr, float margin, int w, int h) {
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
int look__check_args(const img_rgb *im, const float (*lmk)[3], float strength, float *fw, char err[LOOK_ERR]) {
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
float look__quantile(float *v, int n, float q) {
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
float look__region_y(const img_rgb *im, const float (*lmk)[3], look_region rg, const float gain[3],
                      const float lin[256]) {
    look_box b = look__region_box(lmk, &rg, 1, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np + 1, 1);
    float *v = malloc((np + 1) * sizeof *v), y = NAN;
    int n = 0;
    if (m && v) {
        look__fill_region(lmk, rg, 0, b, m, 1);
        for (size_t i = 0; i < np; i++) {
            if (!m[i]) continue;
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + i / b.w) * im->w + b.x0 + i % b.w);
            float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
            v[n++] = col_luminance(c);
        }
        y = look__quantile(v, n, 0.5f);
    }
    free(m), free(v);
    return y;
}

/* ============================================================ the skin, and the light's plan on it === */

int look__cheeks_load(const img_rgb *im, const float (*lmk)[3], const float lin[256], look_cheeks *k) {
    static const look_region rs[] = {LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK};
    look_box b = look__region_box(lmk, rs, 2, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h, cnt = 0, seen = 0;
    unsigned char *m = calloc(np + 1, 1);
    k->n = 0, k->c = k->xy = NULL;
    if (!m) return -1;
    for (int i = 0; i < 2; i++) look__fill_region(lmk, rs[i], 0, b, m, 1);
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

void look__cheeks_free(look_cheeks *k) { free(k->c), free(k->xy), k->c = k->xy = NULL, k->n = 0; }

#define FILL_RAMP 0.12f           /* sigmoid scale, face widths */
#define FILL_REACH 0.9f           /* Gaussian sigma, face widths */

float look__fill_shape(const look_fill *f, float x, float y) {
    float dx = x - f->cx, dy = y - f->cy, p = (dx * f->ax + dy * f->ay) * f->inv_fw;
    float r2 = (dx * dx + dy * dy) * f->inv_fw * f->inv_fw;
    return expf(-0.5f * r2 / (FILL_REACH * FILL_REACH)) / (1 + expf(-p / FILL_RAMP));
}

const look_plan look__plan_none = {{1, 1, 1}, 0, {0, 0, 1, 0, 1, 0}};

float look__plan_gains(const look_plan *p, float g[3]) {
    for (int c = 0; c < 3; c++) g[c] = p->wb[c] * exp2f(p->ev);
    return fmaxf(g[0], fmaxf(g[1], g[2])) * exp2f(fmaxf(p->fill.stops, 0));   /* the shoulder's zmax */
}

/* The skin of the cheeks k seen through plan p. */
look_skin look__cheeks_skin(const look_cheeks *k, const look_plan *p) {
    look_skin s = {NAN, NAN, NAN, NAN, NAN};
    float *v = malloc((size_t)(3 * k->n + 1) * sizeof *v), g[3], gmax = look__plan_gains(p, g);
    if (!v || !k->n) return free(v), s;
    for (int i = 0; i < k->n; i++) {
        float f = p->fill.stops != 0 ? exp2f(p->fill.stops * look__fill_shape(&p->fill, k->xy[2 * i], k->xy[2 * i + 1])) : 1;
        float c[3], lab[3];
        for (int j = 0; j < 3; j++) c[j] = fminf(look__shoulder(k->c[3 * i + j] * g[j] * f, gmax), 1);
        col_lab(c, lab);
        v[i] = lab[0], v[k->n + i] = lab[1], v[2 * k->n + i] = lab[2];
    }
    s = skin_from(look__quantile(v, k->n, 0.5f), look__quantile(v + k->n, k->n, 0.5f), look__quantile(v + 2 * k->n, k->n, 0.5f));
    free(v);
    return s;
}

/* ============================================================ the tone guard === */

/* An exposure change moves the ITA of the skin by itself (L* and b* do not scale alike): that
 * much is explained, but at most LOOK_GUARD_EXP_ITA degrees of it, so that the skin's total ITA
 * change stays within what a viewer reads as the same person's tone (10 degrees). On nearly
 * grey skin (chroma under GUARD_CHROMA: overexposed, greyscale) a tiny tint turns the hue angle
 * far, and a viewer sees the tint, not the angle: there the shift of (a*, b*) is bounded to what
 * LOOK_GUARD_HUE degrees would be at GUARD_CHROMA, so a grey face is not tinted at all. */
#define GUARD_CHROMA 3.f

typedef struct {
    float hue, ita, exp_ita;      /* hue change, ITA change beyond the exposure's, the exposure's */
} look_move;

/* How far the skin's hue turned from s0 to s, degrees; on nearly grey skin the shift of
 * (a*, b*) in the degrees it would be at GUARD_CHROMA. */
float look__hue_move(look_skin s0, look_skin s) {
    float shift = hypotf(s.a - s0.a, s.b - s0.b), limit = GUARD_CHROMA * sinf(LOOK_GUARD_HUE * (float)M_PI / 180);
    return hypotf(s0.a, s0.b) >= GUARD_CHROMA ? col_angle_diff(s.hue, s0.hue)
         : shift <= limit ? 0 : copysignf(LOOK_GUARD_HUE * shift / limit, col_angle_diff(s.hue, s0.hue));
}

/* 1 when plan p keeps the tone of the skin s0 of the cheeks k (see look.h); *m gets the moves. */
static int tone_kept(const look_cheeks *k, look_skin s0, const look_plan *p, look_move *m) {
    look_skin s = look__cheeks_skin(k, p);
    look_plan e = look__plan_none;
    e.ev = p->ev;
    m->exp_ita = p->ev != 0 ? look__cheeks_skin(k, &e).ita - s0.ita : 0;
    m->ita = s.ita - s0.ita - m->exp_ita;
    m->hue = look__hue_move(s0, s);
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
float look__guard_step(const look_cheeks *k, look_skin s0, look_plan *p, int step, look_report *r) {
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
    if (look__cheeks_load(im, lmk, lin, &k)) return 1;
    look_skin s0 = look__cheeks_skin(&k, &look__plan_none);
    look_plan p = look__plan_none;
    p.ev = log2f(col_luminance(gain));
    for (int c = 0; c < 3; c++) p.wb[c] = gain[c] / exp2f(p.ev);
    float t = look__guard_step(&k, s0, &p, LOOK_STEP_TEAM, &r);
    look__plan_gains(&p, gain);
    look__cheeks_free(&k);
    if (why) snprintf(why, LOOK_GUARD_WHY, "%s", r.guard_why);
    return t;
}

look_skin look_skin_of(const img_rgb *im, const float (*lmk)[3]) {
    look_skin s = {NAN, NAN, NAN, NAN, NAN};
    const float *lin = col_linear_table();
    look_cheeks k;
    if (!im || !im->rgb || !lmk) return s;
    if (look__cheeks_load(im, lmk, lin, &k)) return s;
    s = look__cheeks_skin(&k, &look__plan_none);
    look__cheeks_free(&k);
    return s;
}

float look_ita(const img_rgb *im, const float (*lmk)[3]) { return look_skin_of(im, lmk).ita; }
