/* people.c — the person mask split among the people (see people.h).
 *
 * Two Dijkstra passes over the mask's pixels (8 neighbours).
 *
 * 1. Who is where: fronts from every face at once. A face seeds the pixels of its disc
 *    (radius PEOPLE_SEED_R face widths); a face whose centre lies outside the mask seeds the
 *    mask's border near it at the straight-line distance, so a person standing just past
 *    the edge still claims their shoulder. A step costs its length in face widths (the part
 *    of it toward the face's chin 1 / PEOPLE_BODY of that: bodies hang below faces), times
 *    1 + PEOPLE_WEAK_COST where the mask is 0 (linearly less up to 0.5, nothing above) plus
 *    PEOPLE_EDGE_COST per unit of colour gradient when a guide image is given (people meet
 *    along edges). The front that reaches a pixel first owns it.
 * 2. What is joined to the subject: from the subject's face again, over the subject's
 *    pixels only, freely over the person (mask >= 0.5), down into the weak fringe, and back
 *    up only by PEOPLE_CLIMB above the lowest value met since leaving the person. A strong
 *    region joined to the face only across a valley deeper than 0.5 - PEOPLE_CLIMB is not
 *    reached: an island (a ball in the air, a lamp, a patch of bokeh) is no one's.
 */
#include "people.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEOPLE_SEED_R 0.4f        /* seed disc radius, face widths */
#define PEOPLE_WEAK_COST 4.0f     /* extra cost of a step on mask 0 (weak pixels are dearer) */
#define PEOPLE_EDGE_COST 20.0f    /* extra cost of a step per unit of colour gradient (RGB 0..1, L2);
                                     100 (a strong edge costs a face width) cut into the subjects'
                                     own bodies on the devset */
#define PEOPLE_BODY 2.0f          /* a step toward the face's chin is this much cheaper: bodies hang below faces */
#define PEOPLE_CLIMB 0.15f        /* how far a front climbs back up out of a valley */
#define PEOPLE_STRONG 0.5f        /* mask at and above this: the person */
#define PEOPLE_REACH 2.5f         /* a face outside the mask seeds the border this near, face widths */
#define PEOPLE_SAME 0.25f         /* another seed this near the subject's (face widths): the subject's twin */

typedef struct {
    float d;                      /* distance, face widths */
    int i;                        /* pixel */
} people_item;

typedef struct {
    people_item *a;               /* binary min-heap on d */
    size_t n, cap;
} people_heap;

static int people__push(people_heap *h, float d, int i) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 4096;
        people_item *a = realloc(h->a, cap * sizeof *a);
        if (!a) return -1;
        h->a = a, h->cap = cap;
    }
    size_t k = h->n++;
    while (k > 0 && h->a[(k - 1) / 2].d > d) h->a[k] = h->a[(k - 1) / 2], k = (k - 1) / 2;
    h->a[k] = (people_item){d, i};
    return 0;
}

static people_item people__pop(people_heap *h) {
    people_item top = h->a[0], last = h->a[--h->n];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->a[c + 1].d < h->a[c].d) c++;
        if (h->a[c].d >= last.d) break;
        h->a[k] = h->a[c], k = c;
    }
    if (h->n) h->a[k] = last;
    return top;
}

/* The fronts' state per pixel. */
typedef struct {
    const float *mask;
    const float *guide;           /* w*h*3 colours, or NULL */
    int w, h;
    float aspect;
    float *d;                     /* arrival distance, face widths (INFINITY: not reached) */
    float *low;                   /* lowest mask value since leaving the person (1: on it) */
    float *cost;                  /* cost of a unit step onto each pixel (weak mask, colour edges) */
    int *who;                     /* seed that reached it */
    const int *only;              /* pass 2: enter only pixels whose only[i] == subject */
    int subject;
    people_heap heap;
} people_fronts;

/* Pixel i reached by seed s at distance d, along a path whose lowest weak value is low. */
static int people__reach(people_fronts *f, int i, float d, int s, float low) {
    if (!(d < f->d[i])) return 0;
    f->d[i] = d, f->who[i] = s, f->low[i] = low;
    return people__push(&f->heap, d, i);
}

/* A seed's starting pixels: its disc, or the border near it when its centre is outside. */
static int people__seed(people_fronts *f, const people_seed *sd, int s) {
    float r = PEOPLE_SEED_R * sd->size, a = f->aspect;
    int inside = sd->x >= 0 && sd->x < f->w && sd->y >= 0 && sd->y < f->h;
    int x0 = inside ? (int)floorf(sd->x - r) : 0, x1 = inside ? (int)ceilf(sd->x + r) : f->w - 1;
    int y0 = inside ? (int)floorf(sd->y - r / a) : 0, y1 = inside ? (int)ceilf(sd->y + r / a) : f->h - 1;
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= f->w ? f->w - 1 : x1, y1 = y1 >= f->h ? f->h - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            if (!inside && x > 0 && x < f->w - 1 && y > 0 && y < f->h - 1) x = f->w - 1;   /* border only */
            float dist = hypotf(x + 0.5f - sd->x, (y + 0.5f - sd->y) * a);
            if (inside ? dist > r : dist > PEOPLE_REACH * sd->size) continue;
            if (people__reach(f, y * f->w + x, inside ? 0 : dist / sd->size, s, 1)) return -1;
        }
    return 0;
}

static const int people_dx[8] = {1, -1, 0, 0, 1, 1, -1, -1}, people_dy[8] = {0, 0, 1, -1, 1, -1, 1, -1};

/* The length of each of the 8 steps for a seed, in its face widths: the part of a step
 * toward the chin counts 1 / PEOPLE_BODY. */
static void people__steps(const people_seed *sd, float aspect, float len[8]) {
    for (int k = 0; k < 8; k++) {
        float vx = (float)people_dx[k], vy = people_dy[k] * aspect, along = vx * sd->down[0] + vy * sd->down[1];
        float l2 = vx * vx + vy * vy;
        if (along > 0) l2 += along * along * (1 / (PEOPLE_BODY * PEOPLE_BODY) - 1);
        len[k] = sqrtf(l2) / sd->size;
    }
}

/* The fronts spread (see the top of the file); pass 2 when f->only is set. */
static int people__grow(people_fronts *f, const people_seed *seeds, int n) {
    float *lens = malloc(sizeof(float) * 8 * n);
    if (!lens) return -1;
    for (int s = 0; s < n; s++) people__steps(&seeds[s], f->aspect, lens + 8 * s);
    while (f->heap.n) {
        people_item it = people__pop(&f->heap);
        if (it.d > f->d[it.i]) continue;                 /* a stale entry */
        int x = it.i % f->w, y = it.i / f->w, s = f->who[it.i];
        float low = f->low[it.i];
        const float *len = lens + 8 * s;
        for (int k = 0; k < 8; k++) {
            int nx = x + people_dx[k], ny = y + people_dy[k];
            if (nx < 0 || ny < 0 || nx >= f->w || ny >= f->h) continue;
            int j = ny * f->w + nx;
            float m = f->mask[j];
            if (f->only && (f->only[j] != f->subject || (m > low + PEOPLE_CLIMB && low < 1))) continue;
            if (people__reach(f, j, it.d + len[k] * f->cost[j], s, m >= PEOPLE_STRONG ? 1 : fminf(low, m)))
                return free(lens), -1;
        }
    }
    free(lens);
    return 0;
}

/* Horizontal then vertical running box sum of radius r, in place (tmp: w*h floats). */
static void people__box(float *p, float *tmp, int w, int h, int r) {
    for (int y = 0; y < h; y++) {
        const float *row = p + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float s = 0;
            for (int k = x - r; k <= x + r; k++) s += k >= 0 && k < w ? row[k] : 0;
            tmp[(size_t)y * w + x] = s;
        }
    }
    for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++) {
            float s = 0;
            for (int k = y - r; k <= y + r; k++) s += k >= 0 && k < h ? tmp[(size_t)k * w + x] : 0;
            p[(size_t)y * w + x] = s;
        }
}

/* share = the part of the pixels around each pixel (PEOPLE_FEATHER) that pass 2 reached,
 * so the boundary with the other people and with islands ramps. */
static int people__feather(const people_fronts *f, float *share) {
    size_t n = (size_t)f->w * f->h;
    float *all = malloc(sizeof(float) * n), *tmp = malloc(sizeof(float) * n);
    if (!all || !tmp) return free(all), free(tmp), -1;
    for (size_t i = 0; i < n; i++) share[i] = isfinite(f->d[i]), all[i] = 1;
    people__box(share, tmp, f->w, f->h, PEOPLE_FEATHER);
    people__box(all, tmp, f->w, f->h, PEOPLE_FEATHER);   /* fewer neighbours at the border */
    for (size_t i = 0; i < n; i++) share[i] /= all[i];
    free(all), free(tmp);
    return 0;
}

/* Every seed (pass 1) or the subject's (pass 2) from scratch, then the fronts. */
static int people__pass(people_fronts *f, const people_seed *seeds, int n) {
    size_t np = (size_t)f->w * f->h;
    const people_seed *me = &seeds[f->subject];
    for (size_t i = 0; i < np; i++) f->d[i] = INFINITY, f->who[i] = -1;
    for (int s = 0; s < n; s++) {
        const people_seed *o = &seeds[s];
        int twin = s != f->subject && hypotf(o->x - me->x, (o->y - me->y) * f->aspect) < PEOPLE_SAME * fmaxf(o->size, me->size);
        if ((s == f->subject || !f->only) && o->size > 0 && isfinite(o->x) && isfinite(o->y) && !twin &&
            people__seed(f, o, s))
            return -1;
    }
    return people__grow(f, seeds, n);
}

/* The cost of a unit step onto each pixel: 1, plus PEOPLE_WEAK_COST x how far the mask is
 * below PEOPLE_STRONG, plus PEOPLE_EDGE_COST x the colour gradient (central differences). */
static void people__costs(people_fronts *f) {
    int w = f->w, h = f->h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float m = f->mask[i], c = 1 + (m >= PEOPLE_STRONG ? 0 : PEOPLE_WEAK_COST * (PEOPLE_STRONG - m) / PEOPLE_STRONG);
            if (f->guide) {
                const float *l = f->guide + 3 * (y * w + (x > 0 ? x - 1 : x)), *r = f->guide + 3 * (y * w + (x < w - 1 ? x + 1 : x));
                const float *u = f->guide + 3 * ((y > 0 ? y - 1 : y) * w + x), *d = f->guide + 3 * ((y < h - 1 ? y + 1 : y) * w + x);
                float gx = 0, gy = 0;
                for (int k = 0; k < 3; k++) gx += (r[k] - l[k]) * (r[k] - l[k]), gy += (d[k] - u[k]) * (d[k] - u[k]);
                c += PEOPLE_EDGE_COST * 0.5f * sqrtf(gx + gy);
            }
            f->cost[i] = c;
        }
}

/* Mean mask over a seed's disc (0 when the disc is outside the mask). */
static float people__on_mask(const float *mask, int w, int h, float aspect, const people_seed *sd) {
    float r = PEOPLE_SEED_R * sd->size;
    double sum = 0;
    int cnt = 0;
    for (int y = (int)fmaxf(0, floorf(sd->y - r / aspect)); y < h && y <= sd->y + r / aspect; y++)
        for (int x = (int)fmaxf(0, floorf(sd->x - r)); x < w && x <= sd->x + r; x++)
            if (hypotf(x + 0.5f - sd->x, (y + 0.5f - sd->y) * aspect) <= r) sum += mask[y * w + x], cnt++;
    return cnt ? (float)(sum / cnt) : 0;
}

int people_share(const float *mask, const float *guide, int w, int h, float aspect, const people_seed *seeds, int n,
                 int subject, float *share, char err[PEOPLE_ERR]) {
    if (!mask || !share || !seeds || w < 1 || h < 1 || !(aspect > 0) || subject < 0 || subject >= n)
        return snprintf(err, PEOPLE_ERR, "people: bad arguments"), -1;
    const people_seed *me = &seeds[subject];
    if (!(me->size > 0) || !isfinite(me->x) || !isfinite(me->y))
        return snprintf(err, PEOPLE_ERR, "people: the subject's face has no size or position"), -1;
    size_t np = (size_t)w * h;
    if (people__on_mask(mask, w, h, aspect, me) < PEOPLE_STRONG) {   /* the mask missed the subject: no split */
        for (size_t i = 0; i < np; i++) share[i] = 1;
        return 0;
    }
    people_fronts f = {mask, guide, w, h, aspect, malloc(sizeof(float) * np), malloc(sizeof(float) * np),
                       malloc(sizeof(float) * np), malloc(sizeof(int) * np), NULL, subject, {0}};
    int *who1 = malloc(sizeof(int) * np);
    int ok = f.d && f.low && f.cost && f.who && who1;
    if (ok) people__costs(&f);
    ok = ok && people__pass(&f, seeds, n) == 0;
    if (ok) {
        memcpy(who1, f.who, sizeof(int) * np);
        f.only = who1;
        ok = people__pass(&f, seeds, n) == 0 && people__feather(&f, share) == 0;
    }
    free(f.d), free(f.low), free(f.cost), free(f.who), free(who1), free(f.heap.a);
    return ok ? 0 : (snprintf(err, PEOPLE_ERR, "people: out of memory"), -1);
}
