/* team.c — one session for a team (see team.h): face geometry, highlight measurement,
 * shared target, gain. */
#include "team.h"
#include "colour.h"
#include "look.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ geometry === */

/* Eyes-to-chin distance along the levelled vertical (frame.c's levelling: rotate by -roll
 * about the eyes' midpoint). */
static float team__eyes_to_chin(const frame_face *f) {
    float dx = f->chin[0] - f->eyes[0], dy = f->chin[1] - f->eyes[1];
    return -sinf(f->roll) * dx + cosf(f->roll) * dy;
}

float team_head_ratio(const frame_face *f) {
    float ec = team__eyes_to_chin(f);
    return ec > 0 ? f->head / ec : 0;
}

void team_face(frame_face *f, float ratio) {
    float ec = team__eyes_to_chin(f), c = cosf(f->roll), s = sinf(f->roll);
    if (!(ec > 0) || !(ratio > 0)) return;
    /* the crown straight above the eyes' midpoint in the levelled frame, head above the chin */
    float q1 = ec - ratio * ec;
    f->crown[0] = f->eyes[0] - s * q1, f->crown[1] = f->eyes[1] + c * q1;
    f->head = ratio * ec;
}

/* ============================================================ highlights === */

static int team__cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void team_measure_face(const img_rgb *im, const float (*pts)[3], team_measure *m) {
    size_t n = (size_t)im->w * im->h;
    unsigned char *mask = calloc(n, 1);
    float *y = malloc(sizeof(float) * n);
    m->ok = 0, m->y = 0, m->u = m->v = 0;
    if (!mask || !y) {
        free(mask), free(y);
        return;
    }
    const float *lin = col_linear_table();
    look_region_mask(pts, LOOK_FACE_OVAL, 0, im->w, im->h, mask);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = im->rgb + 3 * i;
        if (mask[i] && p[0] < 250 && p[1] < 250 && p[2] < 250)   /* clipped: its colour is lost */
            y[k++] = col_luminance((const float[3]){lin[p[0]], lin[p[1]], lin[p[2]]});
    }
    if (k >= TEAM_MIN_PIXELS) {
        qsort(y, (size_t)k, sizeof(float), team__cmp);
        float lo = y[(int)(TEAM_HI_LO * (k - 1))], hi = y[(int)(TEAM_HI_HI * (k - 1))];
        double s[3] = {0, 0, 0};
        int c = 0;
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = im->rgb + 3 * i;
            if (!mask[i] || p[0] >= 250 || p[1] >= 250 || p[2] >= 250) continue;
            float l = col_luminance((const float[3]){lin[p[0]], lin[p[1]], lin[p[2]]});
            if (l < lo || l > hi) continue;
            s[0] += lin[p[0]], s[1] += lin[p[1]], s[2] += lin[p[2]], c++;
        }
        if (c > 0 && s[0] > 0 && s[1] > 0 && s[2] > 0) {
            m->y = col_luminance((const float[3]){(float)s[0], (float)s[1], (float)s[2]}) / c;
            m->u = (float)log(s[0] / s[1]), m->v = (float)log(s[2] / s[1]);
            m->ok = 1;
        }
    }
    free(mask), free(y);
}

/* ============================================================ the target === */

static float team__median(float *v, int n) {
    qsort(v, (size_t)n, sizeof(float), team__cmp);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

team_measure team_target(const team_measure *m, int n) {
    team_measure t = {0, 1, 0, 0, 0, 0};
    float *v = malloc(sizeof(float) * (n > 0 ? n : 1));
    if (!v) return t;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (m[i].head_ratio > 0) v[k++] = m[i].head_ratio;
    if (k) t.head_ratio = team__median(v, k);
    for (int i = 0; i < n; i++)
        if (m[i].head_ratio > 0 && m[i].zoom > 1) t.head_ratio = fminf(t.head_ratio, m[i].head_ratio / m[i].zoom);
    float *field[3] = {&t.y, &t.u, &t.v};
    for (int f = 0; f < 3; f++) {
        k = 0;
        for (int i = 0; i < n; i++)
            if (m[i].ok) v[k++] = f == 0 ? logf(m[i].y) : f == 1 ? m[i].u : m[i].v;
        if (k) *field[f] = team__median(v, k), t.ok = 1;
    }
    t.y = t.ok ? expf(t.y) : 0;   /* the median of the logs: the middle exposure */
    free(v);
    return t;
}

static float team__clamp(float x, float lim) { return x < -lim ? -lim : x > lim ? lim : x; }

float team_gain(const team_measure *m, const team_measure *target, float gain[3]) {
    gain[0] = gain[1] = gain[2] = 1;
    if (!m->ok || !target->ok || !(m->y > 0) || !(target->y > 0)) return 0;
    float ev = team__clamp(log2f(target->y / m->y), TEAM_EV_MAX);
    float e[3] = {expf(team__clamp(target->u - m->u, TEAM_TINT_MAX)), 1, expf(team__clamp(target->v - m->v, TEAM_TINT_MAX))};
    float ey = col_luminance(e);   /* the tint keeps luminance */
    for (int c = 0; c < 3; c++) gain[c] = e[c] / ey * exp2f(ev);
    return ev;
}

/* ============================================================ applying === */

#define TEAM_KNEE 0.8f            /* linear value above which a lift is rolled off */

void team_apply(img_rgb *im, const float gain[3]) {
    const float *lin = col_linear_table();
    float zmax = fmaxf(gain[0], fmaxf(gain[1], gain[2]));
    float a = (zmax - TEAM_KNEE) / (1 - TEAM_KNEE);
    unsigned char lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 256; i++) {
            /* a lift maps [knee, zmax] onto [knee, 1] with slope 1 at the knee (as look.c does) */
            float x = lin[i] * gain[c];
            if (zmax > 1 && x > TEAM_KNEE)
                x = TEAM_KNEE + (1 - TEAM_KNEE) * (1 - powf(1 - fminf((x - TEAM_KNEE) / (zmax - TEAM_KNEE), 1), a));
            lut[c][i] = col_srgb(x);
        }
    for (size_t i = 0; i < (size_t)im->w * im->h; i++)
        for (int c = 0; c < 3; c++) im->rgb[3 * i + c] = lut[c][im->rgb[3 * i + c]];
}

/* ============================================================ the session === */

int team_session_init(team_session *t, int n) {
    memset(t, 0, sizeof *t);
    t->n = n;
    t->measured = calloc(n > 0 ? (size_t)n : 1, sizeof *t->measured);
    t->ok = calloc(n > 0 ? (size_t)n : 1, 1);
    if (t->measured && t->ok) return 0;
    team_session_free(t);
    return -1;
}

void team_session_free(team_session *t) {
    free(t->measured), free(t->ok);
    t->measured = NULL, t->ok = NULL;
}

void team_session_shot(const team_session *t, int i, team_shot *shot) {
    memset(shot, 0, sizeof *shot);
    if (!t->targeted) {
        shot->measuring = 1;
        return;
    }
    shot->head = t->target.head_ratio;
    team_gain(&t->measured[i], &t->target, shot->gain);
}

void team_session_add(team_session *t, int i, const team_measure *m) { t->measured[i] = *m, t->ok[i] = 1; }

void team_session_target(team_session *t) {
    team_measure *m = malloc(sizeof *m * (t->n > 0 ? (size_t)t->n : 1));
    int k = 0;
    for (int i = 0; m && i < t->n; i++)
        if (t->ok[i]) m[k++] = t->measured[i];
    t->target = team_target(m ? m : t->measured, k);
    t->n_measured = k, t->targeted = 1;
    free(m);
}

void team_measure_pack(const team_measure *m, float d[TEAM_FLOATS]) {
    d[0] = m->head_ratio, d[1] = m->y, d[2] = m->u, d[3] = m->v, d[4] = (float)m->ok, d[5] = m->zoom;
}

team_measure team_measure_unpack(const float d[TEAM_FLOATS]) {
    return (team_measure){d[0], d[5], d[1], d[2], d[3], d[4] > 0};
}
