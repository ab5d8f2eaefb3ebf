/* frame.c — framing (see frame.h). Sections: presets, transforms, the face, plans, the warp.
 */
#include "frame.h"
#include "colour.h"
#include "compose.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ presets === */

/* Shares of the output height. The passport ranges are the official ones narrowed by a
 * small safety margin, because the crown is a measurement, not a landmark:
 *   passport-eu 35 x 45 mm at 600 dpi: chin to crown 32-36 mm = 0.711-0.800 of 45 mm; ICAO
 *     9303 puts the eye line 50-70% of the height above the bottom edge (0.30-0.50 from the
 *     top); the whole head must show (crown at least 1.5 mm below the top).
 *   passport-us 2 x 2 in at 600 dpi: head 1 - 1 3/8 in = 0.500-0.688; eyes 1 1/8 - 1 3/8 in
 *     above the bottom = 0.3125-0.4375 from the top. */
static const frame_spec frame__specs[FRAME_PRESETS] = {
    {"linkedin", 1024, 1024, {0.55f, 0.575f, 0.60f}, {0.38f, 0.40f, 0.42f}, 0.04f, 0.04f, 0, 0,
     "square 1024x1024; chin to top of hair 55-60% of the height, eyes 40% from the top"},
    {"portrait", 1600, 2000, {0.38f, 0.42f, 0.46f}, {0.31f, 0.34f, 0.37f}, 0.06f, 0.05f, 0, 0,
     "4:5 1600x2000, head and shoulders; head 38-46% of the height, eyes a third from the top"},
    {"passport-eu", 827, 1063, {0.72f, 0.755f, 0.79f}, {0.31f, 0.42f, 0.49f}, 0.035f, 0, 1, 1,
     "35x45 mm at 600 dpi (827x1063); chin to crown 32-36 mm (71-80%), eyes centred, light grey background"},
    {"passport-us", 1200, 1200, {0.52f, 0.60f, 0.67f}, {0.33f, 0.375f, 0.42f}, 0.03f, 0, 1, 1,
     "2x2 in at 600 dpi (1200x1200); head 1-1 3/8 in (50-69%), eyes 1 1/8-1 3/8 in above the bottom, white background"},
};

const frame_spec *frame_spec_get(frame_preset p) {
    return p >= 0 && p < FRAME_PRESETS ? &frame__specs[p] : NULL;
}

int frame_preset_find(const char *name) {
    for (int i = 0; i < FRAME_PRESETS; i++)
        if (!strcmp(name, frame__specs[i].name)) return i;
    return -1;
}

/* ============================================================ transforms === */

frame_affine frame_inverse(frame_affine t) {
    double det = t.a * t.d - t.b * t.c, i = det != 0 ? 1 / det : 0;
    frame_affine r = {t.d * i, -t.b * i, -t.c * i, t.a * i, 0, 0};
    r.e = -(r.a * t.e + r.b * t.f);
    r.f = -(r.c * t.e + r.d * t.f);
    return r;
}

void frame_map(frame_affine t, float x, float y, float *ox, float *oy) {
    double u = t.a * x + t.b * y + t.e, v = t.c * x + t.d * y + t.f;
    *ox = (float)u, *oy = (float)v;
}

double frame_scale(frame_affine t) { return sqrt(fabs(t.a * t.d - t.b * t.c)); }

frame_affine frame_level(float roll, float s, const float centre[2], const float at[2]) {
    double cs = cos(roll) * s, sn = sin(roll) * s;
    frame_affine t = {cs, sn, -sn, cs, 0, 0};
    t.e = at[0] - (t.a * centre[0] + t.b * centre[1]);
    t.f = at[1] - (t.c * centre[0] + t.d * centre[1]);
    return t;
}

/* ============================================================ the face === */

/* Levelled coordinates: the photo rotated by -roll about the eyes' midpoint, eyes at 0. */
static void frame__lev(const frame_face *f, const float p[2], float q[2]) {
    float dx = p[0] - f->eyes[0], dy = p[1] - f->eyes[1], c = cosf(f->roll), s = sinf(f->roll);
    q[0] = c * dx + s * dy, q[1] = -s * dx + c * dy;
}

static void frame__unlev(const frame_face *f, const float q[2], float p[2]) {
    float c = cosf(f->roll), s = sinf(f->roll);
    p[0] = f->eyes[0] + c * q[0] - s * q[1], p[1] = f->eyes[1] + s * q[0] + c * q[1];
}

/* Forehead-to-chin distance along the levelled vertical. */
static float frame__face_height(const frame_face *f) {
    float qf[2], qc[2];
    frame__lev(f, f->forehead, qf), frame__lev(f, f->chin, qc);
    return qc[1] - qf[1];
}

/* Puts the crown rise x face height above point 10 (levelled) and updates head. */
static void frame__set_crown(frame_face *f, float rise) {
    float qf[2], qc[2], q[2];
    frame__lev(f, f->forehead, qf), frame__lev(f, f->chin, qc);
    q[0] = qf[0], q[1] = qf[1] - rise * (qc[1] - qf[1]);
    frame__unlev(f, q, f->crown);
    f->head = qc[1] - q[1];
}

void frame_face_of(const float (*p)[3], frame_face *f) {
    memset(f, 0, sizeof *f);
    for (int k = 0; k < 2; k++) {
        f->eye_r[k] = 0.5f * (p[33][k] + p[133][k]);
        f->eye_l[k] = 0.5f * (p[263][k] + p[362][k]);
        f->eyes[k] = 0.5f * (f->eye_r[k] + f->eye_l[k]);
        f->chin[k] = p[LMK_CHIN][k];
        f->forehead[k] = p[LMK_FOREHEAD][k];
    }
    f->roll = atan2f(f->eye_l[1] - f->eye_r[1], f->eye_l[0] - f->eye_r[0]);
    float a[2] = {p[234][0], p[234][1]}, b[2] = {p[454][0], p[454][1]}, qa[2], qb[2];
    frame__lev(f, a, qa), frame__lev(f, b, qb);
    f->centre_x = 0.5f * (qa[0] + qb[0]);
    frame__set_crown(f, FRAME_CROWN_K);
}

frame_affine frame_crown_window(const frame_face *f, int n) {
    float side = FRAME_WINDOW * frame__face_height(f), at[2] = {0.5f * n, 0.5f * n};
    return frame_level(f->roll, side > 0 ? n / side : 1, f->forehead, at);
}

/* The crown window's mask is read on the columns over the middle of the head, +-CROWN_BAND
 * face heights around the head centre; on each, from point 10's row upward, to where the
 * person probability falls below one half. The crown is the 20th percentile of those rows
 * (near the top of the curve of the head, robust to a stray strand). A rise outside
 * [CROWN_RISE_MIN, CROWN_RISE_MAX] face heights above point 10 is not a head's outline. */
#define CROWN_BAND 0.18f
#define CROWN_RISE_MIN 0.08f
#define CROWN_RISE_MAX 1.2f

static int frame__cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int frame_crown_from_mask(frame_face *f, const float *mask, int n, int photo_w, int photo_h) {
    float fh = frame__face_height(f);
    if (!(fh > 0) || n < 8) return 0;
    float unit = n / FRAME_WINDOW;                          /* window pixels per face height */
    float qf[2];
    frame__lev(f, f->forehead, qf);
    frame_affine back = frame_inverse(frame_crown_window(f, n));
    int cx = (int)lroundf(0.5f * n + (f->centre_x - qf[0]) * unit / fh), half = (int)ceilf(CROWN_BAND * unit);
    int y0 = n / 2, cols = 0, cut = 0, found = 0;
    float rows[256];
    for (int x = cx - half; x <= cx + half && found < 256; x++) {
        if (x < 0 || x >= n) continue;
        cols++;
        if (mask[(size_t)y0 * n + x] < 0.5f) continue;     /* point 10 not on the person here */
        int y = y0;
        float px, py;
        while (y > 0 && mask[(size_t)(y - 1) * n + x] >= 0.5f) {
            frame_map(back, x + 0.5f, y - 0.5f, &px, &py);
            if (py < 0 || px < 0 || px >= photo_w || py >= photo_h) break;
            y--;
        }
        frame_map(back, x + 0.5f, y - 0.5f, &px, &py);
        if (y == 0 || py < 0 || px < 0 || px >= photo_w) {
            cut++;
            continue;
        }
        /* the crossing between row y - 1 (below one half) and row y, at pixel centres */
        float lo = mask[(size_t)(y - 1) * n + x], hi = mask[(size_t)y * n + x];
        rows[found++] = y + 0.5f - (hi - 0.5f) / (hi - lo > 1e-6f ? hi - lo : 1e-6f);
    }
    f->crown_cut = cut * 2 > cols;
    if (f->crown_cut || found * 2 < cols) return 0;
    qsort(rows, found, sizeof *rows, frame__cmp_float);
    float rise = (0.5f * n - rows[found / 5]) / unit;
    if (rise < CROWN_RISE_MIN || rise > CROWN_RISE_MAX) return 0;
    frame__set_crown(f, rise);
    f->crown_from_mask = 1;
    return 1;
}

int frame_choose(const det_face *faces, int n, int w, int h) {
    int best = -1;
    float best_v = 0, half_diag = 0.5f * hypotf((float)w, (float)h);
    for (int i = 0; i < n; i++) {
        float dx = faces[i].x + 0.5f * faces[i].w - 0.5f * w, dy = faces[i].y + 0.5f * faces[i].h - 0.5f * h;
        float v = faces[i].w * faces[i].h * (1 - 0.5f * fminf(1, hypotf(dx, dy) / half_diag));
        if (best < 0 || v > best_v) best = i, best_v = v;
    }
    return best;
}

/* ============================================================ the photo's edges === */

#define TOUCH_GROW 2               /* mask cells added at each end of a run: the low-resolution
                                     mask's edge is soft, the headshot's matte reaches further */

/* Appends the runs of non-zero bytes among n mask cells, step apart, each grown by TOUCH_GROW
 * cells, as segments of the edge from (x0, y0) along (dx, dy) (photo pixels per cell). */
static void frame__runs(frame_touch *t, const unsigned char *m, int n, int step, float x0, float y0, float dx,
                        float dy, int edge) {
    for (int i = 0; i < n && t->n < FRAME_TOUCH_MAX; i++) {
        if (!m[(size_t)i * step]) continue;
        int j = i;
        while (j + 1 < n && (m[(size_t)(j + 1) * step] || (j + 2 < n && m[(size_t)(j + 2) * step]))) j++;
        int a = i - TOUCH_GROW > 0 ? i - TOUCH_GROW : 0, b = j + TOUCH_GROW < n - 1 ? j + TOUCH_GROW : n - 1;
        float *g = t->seg[t->n];
        g[0] = x0 + dx * a, g[1] = y0 + dy * a, g[2] = x0 + dx * (b + 1), g[3] = y0 + dy * (b + 1);
        t->edge[t->n++] = (unsigned char)edge;
        i = j;
    }
}

void frame_touch_of(const unsigned char *mask, int mw, int mh, int w, int h, frame_touch *t) {
    float sx = (float)w / mw, sy = (float)h / mh;
    t->n = 0;
    frame__runs(t, mask, mw, 1, 0, 0, sx, 0, FRAME_TOP);
    frame__runs(t, mask + (size_t)(mh - 1) * mw, mw, 1, 0, (float)h, sx, 0, FRAME_BOTTOM);
    frame__runs(t, mask, mh, mw, 0, 0, 0, sy, FRAME_LEFT);
    frame__runs(t, mask + mw - 1, mh, mw, (float)w, 0, 0, sy, FRAME_RIGHT);
    frame_affine to = {1 / sx, 0, 0, 1 / sy, 0, 0};
    frame_mask_set(&t->whole, mask, mw, mh, to);
    t->near.w = t->near.h = 0;
}

void frame_mask_set(frame_mask *m, const unsigned char *mask, int mw, int mh, frame_affine to) {
    m->w = mw < FRAME_MASK ? mw : FRAME_MASK, m->h = mh < FRAME_MASK ? mh : FRAME_MASK;
    double kx = (double)m->w / mw, ky = (double)m->h / mh;
    m->to = (frame_affine){to.a * kx, to.b * kx, to.c * ky, to.d * ky, to.e * kx, to.f * ky};
    for (int j = 0; j < m->h; j++)   /* nearest cell */
        for (int i = 0; i < m->w; i++)
            m->m[j * m->w + i] = mask[(size_t)((2 * j + 1) * mh / (2 * m->h)) * mw + (2 * i + 1) * mw / (2 * m->w)] != 0;
}

#define GROUND_COLUMNS 64          /* columns of the output the ground rule samples */

/* The subject at output pixel (x, y) through inv (output -> photo): 0 past the photo (the
 * whole photo's mask ends there), else the near mask where it has the point, else the whole
 * photo's. */
static int frame__subject_at(const frame_touch *t, frame_affine inv, float x, float y) {
    float u, v, cx, cy;
    frame_map(inv, x, y, &u, &v);
    frame_map(t->whole.to, u, v, &cx, &cy);
    int i = (int)floorf(cx), j = (int)floorf(cy);
    if (i < 0 || j < 0 || i >= t->whole.w || j >= t->whole.h) return 0;
    frame_map(t->near.to, u, v, &cx, &cy);
    int ni = (int)floorf(cx), nj = (int)floorf(cy);
    if (ni >= 0 && nj >= 0 && ni < t->near.w && nj < t->near.h) return t->near.m[nj * t->near.w + ni];
    return t->whole.m[j * t->whole.w + i];
}

float frame_ground(const frame_touch *t, frame_affine to_out, int w, int h) {
    if (!t || !t->whole.w) return 0;
    frame_affine inv = frame_inverse(to_out);
    float y9 = floorf(0.9f * h) + 0.5f, yb = h - 0.5f;
    int torso = 0, cut = 0, bottom = 0;
    for (int i = 0; i < GROUND_COLUMNS; i++) {
        float x = (i + 0.5f) * w / GROUND_COLUMNS;
        int a = frame__subject_at(t, inv, x, y9), b = frame__subject_at(t, inv, x, yb);
        torso += a, cut += a && !b, bottom += b;
    }
    return 5 * bottom < GROUND_COLUMNS ? 1 : torso ? (float)cut / torso : 0;
}

/* The depth of a point in a w x h output: its distance to the nearest side, < 0 outside. */
static float frame__depth(float x, float y, int w, int h) { return fminf(fminf(x, w - x), fminf(y, h - y)); }

float frame_touch_depth(const frame_touch *t, frame_affine to_out, int w, int h, int *edge) {
    float worst = -INFINITY;
    for (int i = 0; t && i < t->n; i++) {
        float ax, ay, bx, by;
        frame_map(to_out, t->seg[i][0], t->seg[i][1], &ax, &ay);
        frame_map(to_out, t->seg[i][2], t->seg[i][3], &bx, &by);
        /* the depth along the segment is the least of four linear functions of its parameter:
         * its largest value is at an end or where two of them are equal */
        float f0[4] = {ax, w - ax, ay, h - ay}, f1[4] = {bx, w - bx, by, h - by}, cand[8] = {0, 1};
        int nc = 2;
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++) {
                float den = (f1[a] - f0[a]) - (f1[b] - f0[b]), u = den != 0 ? (f0[b] - f0[a]) / den : -1;
                if (u > 0 && u < 1 && nc < 8) cand[nc++] = u;
            }
        for (int k = 0; k < nc; k++) {
            float d = frame__depth(ax + cand[k] * (bx - ax), ay + cand[k] * (by - ay), w, h);
            if (d > worst) {
                worst = d;
                if (edge) *edge = t->edge[i];
            }
        }
    }
    return t && t->n ? worst : -INFINITY;
}

#define GROUND_NOTCH_MAX 0.4f      /* a notch wider than this share of the width is no hole */
#define GROUND_COVERED 0.9f        /* share of a notch's columns subject at 90% of the height */

/* Carries alpha down column x from row y0 (see frame_ground_fill). */
static void frame__fill_column(float *alpha, float *fg, const unsigned char *rgb, const unsigned char *cover, int w, int h,
                               int x, int y0) {
    const float *lin = col_linear_table();
    for (int y = y0 + 1; y < h; y++) {
        size_t i = (size_t)y * w + x;
        float a = fminf(alpha[i - w], cover[i] / 255.0f), old = alpha[i];
        if (a <= old) continue;
        for (int c = 0; c < 3; c++) fg[3 * i + c] = (old * fg[3 * i + c] + (a - old) * lin[rgb[3 * i + c]]) / a;
        alpha[i] = a;
    }
}

int frame_ground_fill(float *alpha, float *fg, const unsigned char *rgb, const unsigned char *cover, int w, int h) {
    const float *bottom = alpha + (size_t)(h - 1) * w, *torso = alpha + (size_t)(9 * h / 10) * w;
    int filled = 0;
    for (int a = 0; a < w; a++) {
        if (bottom[a] >= 0.5f) continue;
        int b = a, above = 0;
        while (b < w && bottom[b] < 0.5f) above += torso[b++] >= 0.5f;
        if ((a > 0 || b < w) && b - a <= GROUND_NOTCH_MAX * w && above >= GROUND_COVERED * (b - a)) {
            for (int x = a; x < b; x++) frame__fill_column(alpha, fg, rgb, cover, w, h, x, 9 * h / 10);
            filled += b - a;
        }
        a = b;
    }
    return filled;
}

/* ============================================================ plans === */

#define PLAN_STEPS 9              /* candidates per range */
#define PLAN_SHIFTS 5
#define PLAN_GRID 24              /* coverage sampled on a 24 x 24 grid of the output */
#define PLAN_EDGE_COST 40.0f      /* cost of the whole output past the edge (1 = a range's width) */
#define PLAN_ROLLS 7              /* shares of the roll tried: 1, 5/6 ... 0 */
#define PLAN_ROLL_COST 1.0f       /* cost of a degree of roll left unlevelled */
#define PLAN_ZOOMS 28             /* zooms past the head rule tried: ZOOM_STEP^1 .. ^28 */
#define PLAN_ZOOM_STEP 1.04f
#define PLAN_ZOOM_COST 20.0f      /* cost of a zoom of e (per unit of its logarithm) */
#define PLAN_EYES_OUT 8           /* eye lines tried past each end of the rule, when zooming... */
#define PLAN_EYES_STEP 0.04f      /* ...this far apart: a photo cut close above the eyes or below
                                     the chin keeps the subject whole only with the eyes moved */
#define PLAN_FILLS 1.5f           /* a crop inside the photo needs the head this x the preset's
                                     largest: the face fills the photo */
#define PLAN_JAW 0.1f             /* a bottom edge inside the photo at most this many head
                                     heights above the chin (the jaw of a face that fills the
                                     photo), never through the mouth */
#define PLAN_NECK 0.25f           /* a bottom edge inside the photo lies at least this many head
                                     heights below the chin: a tight crop ends on the collar or at
                                     the photo's own edge, never at the jaw */

static float frame__covered(frame_affine to_out, int w, int h, int iw, int ih) {
    frame_affine inv = frame_inverse(to_out);
    int in = 0;
    for (int j = 0; j < PLAN_GRID; j++)
        for (int i = 0; i < PLAN_GRID; i++) {
            float x, y;
            frame_map(inv, (i + 0.5f) * w / PLAN_GRID, (j + 0.5f) * h / PLAN_GRID, &x, &y);
            in += x >= 0 && y >= 0 && x < iw && y < ih;
        }
    return (float)in / (PLAN_GRID * PLAN_GRID);
}

/* What one search of frame_plan_make works with. */
typedef struct {
    const frame_face *f;
    const frame_spec *s;
    const frame_touch *touch;
    int iw, ih;
    float head;                   /* levelled chin to crown, photo pixels */
    float centre[2];              /* photo point put on the vertical line dx of the width */
    int inside;                   /* the rule is: the output lies inside the photo */
    float best, best_rule;        /* cost and breach of the rule of the plan kept */
} frame__search;

/* How far the output's corners lie past the photo's edge, photo pixels (0: inside it). */
static float frame__outside(frame_affine to_out, int w, int h, int iw, int ih) {
    frame_affine inv = frame_inverse(to_out);
    float worst = 0;
    for (int k = 0; k < 4; k++) {
        float u, v;
        frame_map(inv, k & 1 ? (float)w : 0, k & 2 ? (float)h : 0, &u, &v);
        worst = fmaxf(worst, fmaxf(fmaxf(-u, u - iw), fmaxf(-v, v - ih)));
    }
    return worst;
}

/* One candidate: roll share a, head share fh (zoom z past the rule), eye line fe, shift dx.
 * The costs are added cheapest first, and a candidate that cannot win any more is dropped:
 * the search tries some 30 000. */
static void frame__try(frame__search *q, float a, float fh, float z, float fe, float dx, frame_plan *p) {
    const frame_spec *s = q->s;
    float scale = fh * s->h / q->head, at[2] = {s->w * (0.5f + dx), fe * s->h};
    frame_affine t = frame_level(a * q->f->roll, scale, q->centre, at);
    float cx, crown_y;
    frame_map(t, q->f->crown[0], q->f->crown[1], &cx, &crown_y);
    float rh = s->head[2] - s->head[0], re = s->eyes[2] - s->eyes[0];   /* 0: a fixed target (--team) */
    float th = rh > 0 ? (fh / z - s->head[1]) / rh : 0, te = re > 0 ? (fe - s->eyes[1]) / re : 0;
    float bx, by, chin_y;
    frame_map(frame_inverse(t), 0.5f * s->w, (float)s->h, &bx, &by);
    frame_map(t, q->f->chin[0], q->f->chin[1], &cx, &chin_y);
    float neck = by < q->ih - 1 ? fmaxf(0, PLAN_NECK - (s->h - chin_y) / fmaxf(1, chin_y - crown_y)) : 0;
    float cost = th * th + te * te + (s->shift > 0 ? 0.5f * (dx / s->shift) * (dx / s->shift) : 0) +
                 PLAN_EDGE_COST * (fmaxf(0, s->top_min - crown_y / s->h) + neck) +
                 PLAN_ROLL_COST * fabsf((1 - a) * q->f->roll) * 180 / (float)M_PI + PLAN_ZOOM_COST * logf(z);
    if (q->best_rule == 0 && cost >= q->best) return;
    /* the rule first, in output pixels: the edges, the ground, and a bottom edge inside the
     * photo never through the face (the ground rule alone would take a cut through the mouth);
     * or, searching inside the photo, how far the output runs past it */
    int edge = 0;
    float cut = 0, ground = 0, rule;
    if (q->inside) {
        rule = frame__outside(t, s->w, s->h, q->iw, q->ih) * scale;
    } else {
        cut = fmaxf(0, frame_touch_depth(q->touch, t, s->w, s->h, &edge));
        rule = cut + (by < q->ih - 1 ? fmaxf(0, chin_y - s->h - PLAN_JAW * (chin_y - crown_y)) : 0);
        if (rule > q->best_rule) return;
        ground = frame_ground(q->touch, t, s->w, s->h);
        rule += s->h * fmaxf(0, ground - FRAME_GROUND_SLACK);
    }
    if (rule > q->best_rule || (rule == q->best_rule && cost >= q->best)) return;
    float covered = frame__covered(t, s->w, s->h, q->iw, q->ih);
    cost += PLAN_EDGE_COST * (1 - covered);
    if (rule == q->best_rule && cost >= q->best) return;
    q->best = cost, q->best_rule = rule;
    p->to_out = t, p->w = s->w, p->h = s->h, p->scale = scale, p->head = fh, p->eyes = fe;
    p->crown_y = crown_y, p->chin_y = chin_y, p->covered = covered;
    p->roll = a * q->f->roll, p->zoom = z, p->cut = cut, p->cut_edge = edge, p->ground = ground, p->inside = q->inside;
}

/* One search over roll share, head size (zooming past the rule when allowed), eye line and shift. */
static void frame__search_all(frame__search *q, frame_plan *p) {
    const frame_spec *s = q->s;
    const frame_face *f = q->f;
    int shifts = s->shift > 0 ? PLAN_SHIFTS : 1, rolls = q->touch && fabsf(f->roll) > 0.005f ? PLAN_ROLLS : 1;
    int zooms = q->touch && !s->passport ? PLAN_ZOOMS : 0;
    q->best = q->best_rule = INFINITY;
    for (int r = 0; r < rolls; r++)
        for (int i = 0; i < PLAN_STEPS + zooms; i++) {
            float z = i < PLAN_STEPS ? 1 : powf(PLAN_ZOOM_STEP, (float)(i - PLAN_STEPS + 1));
            float fh = i < PLAN_STEPS ? s->head[0] + (s->head[2] - s->head[0]) * i / (PLAN_STEPS - 1) : s->head[2] * z;
            if (z > FRAME_ZOOM_MAX) break;
            for (int j = 0; j < PLAN_STEPS + (zooms && s->eyes[2] > s->eyes[0] ? 2 * PLAN_EYES_OUT : 0); j++)
                for (int k = 0; k < shifts; k++) {
                    float fe = j < PLAN_STEPS ? s->eyes[0] + (s->eyes[2] - s->eyes[0]) * j / (PLAN_STEPS - 1)
                               : j < PLAN_STEPS + PLAN_EYES_OUT ? s->eyes[0] - PLAN_EYES_STEP * (j - PLAN_STEPS + 1)
                                                                : s->eyes[2] + PLAN_EYES_STEP * (j - PLAN_STEPS - PLAN_EYES_OUT + 1);
                    float dx = shifts > 1 ? s->shift * (2.0f * k / (shifts - 1) - 1) : 0;
                    frame__try(q, 1 - (float)r / (PLAN_ROLLS - 1), fh, z, fe, dx, p);
                }
        }
}

void frame_plan_make(const frame_face *f, const frame_spec *s, int img_w, int img_h, const frame_touch *touch,
                     frame_plan *p) {
    float qc[2], qk[2], c[2] = {s->eyes_centred ? 0 : f->centre_x, 0};
    frame__lev(f, f->chin, qc), frame__lev(f, f->crown, qk);
    frame__search q = {f, s, touch && (touch->n || touch->whole.w) ? touch : NULL, img_w, img_h, qc[1] - qk[1], {0, 0}, 0, 0, 0};
    frame__unlev(f, c, q.centre);
    memset(p, 0, sizeof *p);
    frame__search_all(&q, p);
    if ((q.best_rule > 0 || p->zoom > PLAN_FILLS) && q.touch && !s->passport) {
        /* no frame keeps the subject whole, or only one tighter than a crop inside the photo
         * when that crop needs PLAN_FILLS: the face fills the photo, and the photo itself is
         * the honest headshot */
        frame_plan whole = *p;
        float rule = q.best_rule;
        q.inside = 1;
        frame__search_all(&q, p);
        if (rule == 0 && !(q.best_rule == 0 && p->zoom >= PLAN_FILLS && p->zoom < whole.zoom / PLAN_ZOOM_STEP)) *p = whole;
    }
}

/* ============================================================ the warp === */
/* Each output pixel's centre maps to a point of the photo; its footprint there is a square
 * of side k = photo pixels per output pixel (turned by the roll). Shrinking (1 < k <= 8),
 * the output pixel is the exact area average of the photo over an axis-aligned square of
 * side k at that point: every photo pixel weighs its overlap (a turned square of the same
 * area would differ only along its rim at the small rolls of a selfie). Beyond k = 8 (small
 * outputs such as the crown window) an 8 x 8 grid of point taps over the turned footprint.
 * Enlarging, one Catmull-Rom bicubic tap. All in linear light, encoded once. Coverage: the
 * product over the four photo edges of the footprint's share inside that edge,
 * clamp(distance / k + 1/2). */

#define WARP_BOX_MAX 8            /* exact area average up to this k; point taps beyond */

typedef struct {
    const img_rgb *src;
    frame_affine inv;             /* output -> photo */
    img_rgb *out;
    atomic_int failed;            /* a band found no memory for its row */
} frame__job;

static inline int frame__clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

static void frame__box(const img_rgb *s, const float *lin, float u, float v, float k, float acc[3]) {
    float x0 = u - 0.5f * k, x1 = u + 0.5f * k, y0 = v - 0.5f * k, y1 = v + 0.5f * k, wx[WARP_BOX_MAX + 2];
    int ix0 = (int)floorf(x0), nx = (int)ceilf(x1) - ix0, iy0 = (int)floorf(y0), ny = (int)ceilf(y1) - iy0, xs[WARP_BOX_MAX + 2];
    for (int i = 0; i < nx; i++)
        wx[i] = fminf(x1, (float)(ix0 + i + 1)) - fmaxf(x0, (float)(ix0 + i)), xs[i] = 3 * frame__clampi(ix0 + i, s->w - 1);
    for (int j = 0; j < ny; j++) {
        float wy = fminf(y1, (float)(iy0 + j + 1)) - fmaxf(y0, (float)(iy0 + j)), r[3] = {0, 0, 0};
        const unsigned char *row = s->rgb + (size_t)frame__clampi(iy0 + j, s->h - 1) * s->w * 3;
        for (int i = 0; i < nx; i++) {
            const unsigned char *q = row + xs[i];
            r[0] += wx[i] * lin[q[0]], r[1] += wx[i] * lin[q[1]], r[2] += wx[i] * lin[q[2]];
        }
        for (int c = 0; c < 3; c++) acc[c] += wy * r[c];
    }
    for (int c = 0; c < 3; c++) acc[c] /= k * k;
}

static void frame__cubic_weights(float t, float w[4]) {   /* Catmull-Rom */
    float t2 = t * t, t3 = t2 * t;
    w[0] = 0.5f * (-t3 + 2 * t2 - t);
    w[1] = 0.5f * (3 * t3 - 5 * t2 + 2);
    w[2] = 0.5f * (-3 * t3 + 4 * t2 + t);
    w[3] = 0.5f * (t3 - t2);
}

static void frame__bicubic(const img_rgb *s, const float *lin, float x, float y, float acc[3]) {
    float fx = x - 0.5f, fy = y - 0.5f, wx[4], wy[4];
    int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
    frame__cubic_weights(fx - x0, wx), frame__cubic_weights(fy - y0, wy);
    int xs[4];
    for (int i = 0; i < 4; i++) xs[i] = 3 * frame__clampi(x0 - 1 + i, s->w - 1);
    for (int j = 0; j < 4; j++) {
        const unsigned char *r = s->rgb + (size_t)frame__clampi(y0 - 1 + j, s->h - 1) * s->w * 3;
        for (int i = 0; i < 4; i++) {
            float k = wx[i] * wy[j];
            for (int c = 0; c < 3; c++) acc[c] += k * lin[r[xs[i] + c]];
        }
    }
}

/* Output rows y0..y1, a row at a time in linear light, then encoded. */
static void frame__rows(void *arg, int y0, int y1) {
    frame__job *j = arg;
    const img_rgb *s = j->src;
    const float *lin = col_linear_table();
    frame_affine t = j->inv;
    float k = (float)frame_scale(t), ke = k > 1e-6f ? k : 1e-6f, off[WARP_BOX_MAX], *row = malloc(sizeof(float) * 3 * j->out->w);
    if (!row) y1 = y0, atomic_store(&j->failed, 1);
    for (int i = 0; i < WARP_BOX_MAX; i++) off[i] = (i + 0.5f) / WARP_BOX_MAX - 0.5f;
    for (int y = y0; y < y1; y++) {
        for (int x = 0; x < j->out->w; x++) {
            float ox = x + 0.5f, oy = y + 0.5f;
            float u = (float)(t.a * ox + t.b * oy + t.e), v = (float)(t.c * ox + t.d * oy + t.f), acc[3] = {0, 0, 0};
            if (k <= 1) {
                frame__bicubic(s, lin, u, v, acc);
            } else if (k <= WARP_BOX_MAX) {
                frame__box(s, lin, u, v, k, acc);
            } else {
                for (int b = 0; b < WARP_BOX_MAX; b++) {
                    float rx = u + (float)t.b * off[b], ry = v + (float)t.d * off[b];
                    for (int a = 0; a < WARP_BOX_MAX; a++) {
                        int px = frame__clampi((int)floorf(rx + (float)t.a * off[a]), s->w - 1);
                        int py = frame__clampi((int)floorf(ry + (float)t.c * off[a]), s->h - 1);
                        const unsigned char *q = s->rgb + ((size_t)py * s->w + px) * 3;
                        acc[0] += lin[q[0]], acc[1] += lin[q[1]], acc[2] += lin[q[2]];
                    }
                }
                for (int c = 0; c < 3; c++) acc[c] /= (float)(WARP_BOX_MAX * WARP_BOX_MAX);
            }
            memcpy(row + 3 * x, acc, sizeof acc);
            float cov = 1, d[4] = {u, s->w - u, v, s->h - v};
            for (int e = 0; e < 4; e++) {
                float c = d[e] / ke + 0.5f;
                cov *= c < 0 ? 0 : c > 1 ? 1 : c;
            }
            j->out->alpha[(size_t)y * j->out->w + x] = (unsigned char)(cov * 255 + 0.5f);
        }
        col_encode(row, j->out->rgb + (size_t)y * j->out->w * 3, (size_t)j->out->w * 3);
    }
    free(row);
}

int frame_warp(pool *workers, const img_rgb *src, frame_affine to_out, int w, int h, img_rgb *out, char err[FRAME_ERR]) {
    char ierr[IMG_ERR];
    if (!src || !src->rgb || src->w < 1 || src->h < 1) return snprintf(err, FRAME_ERR, "frame: no photo"), -1;
    if (img_new(out, w, h, 1, ierr)) return snprintf(err, FRAME_ERR, "frame: %.140s", ierr), -1;
    frame__job j = {src, frame_inverse(to_out), out, 0};
    pool_rows(workers, h, frame__rows, &j);
    if (atomic_load(&j.failed)) return img_free(out), snprintf(err, FRAME_ERR, "frame: out of memory"), -1;
    return 0;
}
