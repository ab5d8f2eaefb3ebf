/* light.c — look_light (look.h; rules in docs/LOOK.md): in linear light (gains are physical
 * there) one white balance, one exposure and one smooth fill-light field for the whole image,
 * each under the tone guard (look.c), then a highlight shoulder so that gains above 1 never
 * clip hard.
 */
#include "look_parts.h"
#include "colour.h"
#include "landmarks.h"
#include "pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        float med = look__quantile(v, k->n, 0.5f);
        for (int i = 0; i < k->n; i++) v[i] = fabsf(v[i] - med);
        sk[d] = med, sk[2 + d] = fminf(fmaxf(WB_SKIN_R, 3 * 1.4826f * look__quantile(v, k->n, 0.5f)), WB_SKIN_RMAX);
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
        wp[c] = m ? fmaxf(look__quantile(chan, m, 0.99f), 1e-4f) : 1;
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
    look_box b = look__region_box(lmk, &oval, 1, 1, im->w, im->h);
    size_t np = (size_t)b.w * b.h;
    unsigned char *m = calloc(np + 1, 1);
    float *v = malloc(((np > (size_t)sc->n ? np : (size_t)sc->n) + 1) * sizeof *v);
    if (!m || !v) return free(m), free(v), snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    look__fill_region(lmk, LOOK_FACE_OVAL, 0, b, m, 1);
    int n = 0;
    for (size_t i = 0; i < np; i++)
        if (m[i]) {
            const unsigned char *p = im->rgb + 3 * ((size_t)(b.y0 + i / b.w) * im->w + b.x0 + i % b.w);
            float c[3] = {lin[p[0]] * gain[0], lin[p[1]] * gain[1], lin[p[2]] * gain[2]};
            v[n++] = col_luminance(c);
        }
    float face_hi = look__quantile(v, n, 0.99f);
    for (int i = 0; i < sc->n; i++) {
        const float *c = sc->blk + 3 * i;
        float g[3] = {c[0] * gain[0], c[1] * gain[1], c[2] * gain[2]};
        v[i] = col_luminance(g);
    }
    float scene_hi = look__quantile(v, sc->n, 0.99f), hi = n ? fmaxf(face_hi, scene_hi) : scene_hi;
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
    float ry = look__region_y(im, lmk, LOOK_RIGHT_CHEEK, gain, lin), ly = look__region_y(im, lmk, LOOK_LEFT_CHEEK, gain, lin);
    float px[MAX_OUTLINE], py[MAX_OUTLINE], c[2][2] = {{0, 0}, {0, 0}};
    for (int s = 0; s < 2; s++) {
        int n = look__outline(lmk, s ? LOOK_LEFT_CHEEK : LOOK_RIGHT_CHEEK, 0, px, py);
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
    float wd = look__fill_shape(&f, c[dark][0], c[dark][1]), wb = look__fill_shape(&f, c[!dark][0], c[!dark][1]);
    f.stops = fminf(want / (wd - wb), FILL_MAX / wd) * strength;
    return f;
}

/* The lift the fill gives the shadow-side cheek, stops. */
static float fill_lift(const look_fill *f, const float (*lmk)[3]) {
    if (f->stops == 0) return 0;
    float px[MAX_OUTLINE], py[MAX_OUTLINE], best = 0;
    for (int s = 0; s < 2; s++) {
        int n = look__outline(lmk, s ? LOOK_LEFT_CHEEK : LOOK_RIGHT_CHEEK, 0, px, py);
        float cx = 0, cy = 0;
        for (int i = 0; i < n; i++) cx += px[i] / n, cy += py[i] / n;
        best = fmaxf(best, f->stops * look__fill_shape(f, cx, cy));
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
            float g = f->stops != 0 ? exp2f(f->stops * look__fill_shape(f, x + 0.5f, y + 0.5f)) : 1;
            for (int c = 0; c < 3; c++) p[c] = col_srgb(look__shoulder(j->lin[p[c]] * j->gain[c] * g, j->gmax));
        }
}

/* The plan: white balance, exposure on the balanced image, fill on the balanced, exposed one,
 * each under the tone guard. */
static int light_plan(const img_rgb *im, const float (*lmk)[3], const look_light_opts *o, float strength, float fw,
                      const float lin[256], const look_cheeks *k, look_plan *p, look_report *r, char err[LOOK_ERR]) {
    look_scene sc;
    *p = look__plan_none;
    if (scene_stats(im, lmk, o, k, lin, &sc, err)) return -1;
    if (!o || o->white_balance) wb_gains(&sc, strength, p->wb, &r->wb_trust);
    memcpy(r->wb_scene, p->wb, sizeof p->wb);
    look__guard_step(k, r->skin_before, p, LOOK_STEP_WB, r);
    int rc = exposure_ev(im, lmk, &sc, p->wb, lin, &p->ev, err);
    free(sc.blk);
    if (rc) return -1;
    p->ev *= strength;
    look__guard_step(k, r->skin_before, p, LOOK_STEP_EXPOSURE, r);
    float g[3];
    look__plan_gains(p, g);
    p->fill = fill_plan(im, lmk, g, lin, fw, strength);
    look__guard_step(k, r->skin_before, p, LOOK_STEP_FILL, r);
    return 0;
}

int look_light(pool *workers, img_rgb *im, const float (*lmk)[3], const look_light_opts *o, float strength,
               look_report *rep, char err[LOOK_ERR]) {
    float fw;
    const float *lin = col_linear_table();
    look_report r0 = {0}, *r = rep ? rep : &r0;
    if (look__check_args(im, lmk, strength, &fw, err)) return -1;
    look_cheeks k;
    if (look__cheeks_load(im, lmk, lin, &k)) return snprintf(err, LOOK_ERR, "look: out of memory"), -1;
    r->skin_before = r->skin_after = look__cheeks_skin(&k, &look__plan_none);
    r->ita_before = r->ita_after = r->skin_before.ita;
    r->face_l = r->skin_before.l;
    r->exposure_ev = 0, r->fill = 0, r->wb_trust = 0, r->guard_why[0] = 0;
    for (int c = 0; c < 3; c++) r->wb_gain[c] = r->wb_scene[c] = 1;
    for (int s = 0; s < LOOK_STEPS; s++) r->guard[s] = 1;
    look_plan p = look__plan_none;
    if (strength > 0 && light_plan(im, lmk, o, strength, fw, lin, &k, &p, r, err)) return look__cheeks_free(&k), -1;
    look__cheeks_free(&k);
    memcpy(r->wb_gain, p.wb, sizeof p.wb);
    r->exposure_ev = p.ev, r->fill = fill_lift(&p.fill, lmk);
    float g[3], gmax = look__plan_gains(&p, g);
    if (g[0] == 1 && g[1] == 1 && g[2] == 1 && p.fill.stops == 0) return 0;   /* nothing to correct */
    light_job j = {im, lin, g, gmax, &p.fill};
    pool_rows(workers, im->h, light_rows, &j);
    r->skin_after = look_skin_of(im, lmk);
    r->ita_after = r->skin_after.ita;
    return 0;
}

